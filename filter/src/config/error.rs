//! Configuration errors: one line that names the field and says what is wrong with it,
//! and never repeats a value that could be a secret.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path of the offending field, e.g. `model_list[2].litellm_params.vertex_location`.
    pub field: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// From a serde error located by `serde_path_to_error`.
    pub fn from_serde(path: &serde_path_to_error::Path, err: &serde_json::Error) -> Self {
        let field = path.to_string();
        let field = if field == "." {
            "(top level)".to_string()
        } else {
            field
        };
        ConfigError::new(field, redact_serde_message(&err.to_string()))
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid plugin configuration: `{}`: {}",
            self.field, self.reason
        )
    }
}

/// serde quotes the offending value ("invalid type: string \"sk-…\", expected a sequence"),
/// and a misplaced value may be a key or token. Keep what kind of value it was and what was
/// expected; drop the value and serde_json's line/column (the field path is more useful).
fn redact_serde_message(message: &str) -> String {
    let message = match message.rfind(" at line ") {
        Some(at) => message.get(..at).unwrap_or(message),
        None => message,
    };
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let kind = rest
                .split([' ', ','])
                .next()
                .filter(|k| !k.is_empty())
                .unwrap_or("value");
            let expected = rest
                .rfind(", expected ")
                .and_then(|at| rest.get(at + ", expected ".len()..))
                .unwrap_or("another type");
            return format!("{}{kind} given, expected {expected}", prefix);
        }
    }
    message.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_drops_the_value_but_keeps_the_expectation() {
        let m = redact_serde_message(
            "invalid type: string \"sk-secret-value\", expected a sequence at line 1 column 30",
        );
        assert_eq!(m, "invalid type: string given, expected a sequence");
        assert!(!m.contains("sk-secret"));
    }

    #[test]
    fn unknown_field_messages_are_kept() {
        let m = redact_serde_message(
            "unknown field `vertex_projct`, expected one of `vertex_project` at line 1 column 16",
        );
        assert_eq!(
            m,
            "unknown field `vertex_projct`, expected one of `vertex_project`"
        );
    }
}
