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
        let field = field_of(path);
        if err.is_syntax() || err.is_eof() {
            // Not JSON: where it breaks is what helps, and a position repeats no value.
            return ConfigError::new(
                field,
                format!(
                    "not valid JSON: {} (line {}, column {})",
                    redact_serde_message(&err.to_string()),
                    err.line(),
                    err.column()
                ),
            );
        }
        ConfigError::new(field, redact_serde_message(&err.to_string()))
    }
}

/// A value the user wrote, quoted for an error message when it is short and on one line;
/// otherwise only its length. Whatever is misplaced into a field may be a key or a token, and a
/// pasted key file is long and spans lines.
pub fn shown(value: &str) -> String {
    let length = value.chars().count();
    if length <= MAX_SHOWN && !value.chars().any(char::is_control) {
        format!("{value:?}")
    } else {
        format!("(a value of {length} characters, not shown)")
    }
}

const MAX_SHOWN: usize = 64;

fn is_name_like(key: &str) -> bool {
    key.len() <= MAX_SHOWN
        && !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// A map key as part of a field name: as written when it looks like a name, else its length.
pub(super) fn shown_key(key: &str) -> String {
    if is_name_like(key) {
        key.to_string()
    } else {
        format!("(a key of {} characters)", key.chars().count())
    }
}

/// The path as a field name, like `serde_path_to_error` writes it (`model_list[2].model_name`),
/// but `(top level)` for the root, without its `?` for a position it could not name (inside a
/// malformed key), and with keys that do not look like names replaced by their length.
fn field_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut field = String::new();
    for segment in path.iter() {
        let name = match segment {
            Segment::Seq { index } => {
                field.push_str(&format!("[{index}]"));
                continue;
            }
            Segment::Map { key } => shown_key(key),
            Segment::Enum { variant } => shown_key(variant),
            Segment::Unknown => break,
        };
        if !field.is_empty() {
            field.push('.');
        }
        field.push_str(&name);
    }
    if field.is_empty() {
        "(top level)".to_string()
    } else {
        field
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
    // "unknown field `NAME`, expected one of `a`, `b`": the name is the user's; the list is ours.
    for prefix in ["unknown field `", "unknown variant `"] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let end = rest
                .rfind("`, expected")
                .or_else(|| rest.rfind("`, there are no"));
            if let Some((name, tail)) = end.and_then(|at| Some((rest.get(..at)?, rest.get(at..)?)))
            {
                let name = if is_name_like(name) {
                    format!("`{name}`")
                } else {
                    format!("(a name of {} characters, not shown)", name.chars().count())
                };
                return format!(
                    "{}{name}{}",
                    prefix.trim_end_matches('`'),
                    tail.trim_start_matches('`')
                );
            }
        }
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let kind = if rest.starts_with("floating point") {
                "floating point"
            } else {
                rest.split([' ', ','])
                    .next()
                    .filter(|k| !k.is_empty())
                    .unwrap_or("value")
            };
            let expected = match rest
                .rfind(", expected ")
                .and_then(|at| rest.get(at + ", expected ".len()..))
            {
                Some("u64") => "a whole number, 0 or more",
                Some(expected) => expected,
                None => "another type",
            };
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

    fn load_error(json: &str) -> ConfigError {
        match crate::config::Config::load(json.as_bytes(), &|_| None) {
            Ok(_) => panic!("{json} loaded"),
            Err(e) => e,
        }
    }

    // Found by the config property tests: a syntax error inside an object was reported for the
    // field `?`, which names nothing.
    #[test]
    fn malformed_json_names_a_real_field_and_the_position() {
        let e = load_error(r#"{"api_keys": ["k"], 2}"#);
        assert_eq!(e.field, "(top level)");
        assert!(
            e.reason.starts_with("not valid JSON: key must be a string")
                && e.reason.contains("column"),
            "{e}"
        );
        let e = load_error(r#"{"model_list": [{"model_name": "a", 7: 1}]}"#);
        assert_eq!(e.field, "model_list[0]", "{e}");
        let e = load_error(r#"{"api_keys": ["sk-secret-value"#);
        assert_eq!(e.field, "api_keys[0]", "{e}");
        assert!(!e.reason.contains("sk-secret"), "{e}");
    }

    // Found by the config property tests: a key file pasted where a name goes (as an unknown
    // key, or as a credential's `type`) was repeated whole in the error, private key included.
    #[test]
    fn a_misplaced_key_file_is_not_repeated() {
        let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n";
        let key_file = serde_json::json!({"private_key": pem}).to_string();
        for config in [
            serde_json::json!({ key_file.clone(): 1 }),
            serde_json::json!({"credentials": {"default": {"type": key_file.clone()}}}),
            serde_json::json!({"credentials": {"default": {"type": "access_token", key_file.clone(): 1}}}),
            serde_json::json!({"model_list": [{"model_name": "a", "litellm_params": {"model": "m"}, key_file.clone(): 1}]}),
        ] {
            let e = load_error(&config.to_string());
            assert!(!e.to_string().contains("MIIEvQIBADAN"), "{e}");
            assert!(e.to_string().contains("characters"), "{e}");
        }
    }

    // The first crash `make fuzz` found (target `config`): a key file whose own `type` held
    // key material was quoted whole in "the key file is of type …".
    #[test]
    fn a_key_files_type_is_not_quoted_when_it_is_not_a_name() {
        let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n";
        let config = serde_json::json!({"credentials": {"default": {"type": "service_account",
            "key": {"type": format!("service{pem}"), "client_email": "a@b", "private_key": pem}}}});
        let e = load_error(&config.to_string());
        assert_eq!(e.field, "credentials.default.key.type", "{e}");
        assert!(!e.to_string().contains("MIIEvQIBADAN"), "{e}");
        let config = serde_json::json!({"credentials": {"default": {"type": "service_account",
            "key": {"type": "authorized_user"}}}});
        assert!(load_error(&config.to_string())
            .reason
            .contains("\"authorized_user\""));
    }

    #[test]
    fn unknown_names_that_look_like_names_are_still_shown() {
        let e = load_error(r#"{"credentials": {"default": {"type": "servce_account"}}}"#);
        assert_eq!(e.field, "credentials.default.type", "{e}");
        assert!(
            e.reason
                .starts_with("unknown variant `servce_account`, expected one of `service_account`"),
            "{e}"
        );
        let e = load_error(r#"{"vertex_regoin": "x"}"#);
        assert!(
            e.reason
                .starts_with("unknown field `vertex_regoin`, expected one of"),
            "{e}"
        );
    }

    #[test]
    fn short_single_line_values_are_quoted_and_others_only_counted() {
        assert_eq!(shown("Europe West"), "\"Europe West\"");
        assert_eq!(
            shown(&"x".repeat(65)),
            "(a value of 65 characters, not shown)"
        );
        assert_eq!(shown("a\nb"), "(a value of 3 characters, not shown)");
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
