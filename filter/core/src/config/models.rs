//! `model_list`: aliases clients use, in LiteLLM's shape, resolved to a real model, project,
//! location and credential.

use super::error::{shown, ConfigError};
use super::raw::RawModelEntry;
use crate::segment::is_valid_publisher_or_model;

/// What one alias stands for. `project` is `None` only when neither the entry nor the defaults
/// name one: such an alias answers "Vertex AI project ID is required".
#[derive(Debug, Clone, PartialEq)]
pub struct Alias {
    pub name: String,
    pub publisher: Option<String>,
    pub model: String,
    pub project: Option<String>,
    pub location: String,
    /// The credential's name as written (`vertex_credentials`), resolved by the caller.
    pub credential: Option<String>,
    pub weights: Weights,
}

/// How often a deployment of an alias with several is picked, as LiteLLM's simple shuffle reads
/// `litellm_params`: by `weight`, else `rpm`, else `tpm`, else equally (see `deployments::pick`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Weights {
    pub weight: Option<f64>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
}

pub fn parse_entry(
    index: usize,
    entry: RawModelEntry,
    default_project: Option<&str>,
    default_location: &str,
) -> Result<Alias, ConfigError> {
    let field = format!("model_list[{index}]");
    if !is_valid_publisher_or_model(&entry.model_name) {
        return Err(ConfigError::new(
            format!("{field}.model_name"),
            format!(
                "{} cannot be used in a request path: use letters, digits and . _ @ - (at most 128)",
                shown(&entry.model_name)
            ),
        ));
    }
    let params = entry.litellm_params;
    let (publisher, model) = split_model(&params.model).ok_or_else(|| {
        ConfigError::new(
            format!("{field}.litellm_params.model"),
            format!(
                "{} is not a Vertex model: write MODEL, vertex_ai/MODEL, PUBLISHER/MODEL or publishers/PUBLISHER/models/MODEL",
                shown(&params.model)
            ),
        )
    })?;
    let project = match params.vertex_project {
        Some(p) => Some(valid_segment(&field, "vertex_project", p)?),
        None => default_project.map(str::to_string),
    };
    let location = match params.vertex_location {
        Some(l) => valid_segment(&field, "vertex_location", l)?,
        None => default_location.to_string(),
    };
    if let Some(weight) = params.weight.filter(|w| !(w.is_finite() && *w >= 0.0)) {
        return Err(ConfigError::new(
            format!("{field}.litellm_params.weight"),
            format!("{weight} is not a weight: use a number of 0 or more"),
        ));
    }
    Ok(Alias {
        name: entry.model_name,
        publisher,
        model,
        project,
        location,
        credential: params.vertex_credentials,
        weights: Weights {
            weight: params.weight,
            rpm: params.rpm,
            tpm: params.tpm,
        },
    })
}

fn valid_segment(field: &str, name: &str, value: String) -> Result<String, ConfigError> {
    if super::segment_is_valid(name, &value) {
        Ok(value)
    } else {
        Err(ConfigError::new(
            format!("{field}.litellm_params.{name}"),
            format!(
                "{} is not valid: use lowercase letters, digits and '-' (at most {})",
                shown(&value),
                super::segment_max_len(name)
            ),
        ))
    }
}

/// `vertex_ai/` is LiteLLM's provider prefix; what follows is `M`, `PUB/M` or
/// `publishers/PUB/models/M`.
fn split_model(model: &str) -> Option<(Option<String>, String)> {
    let model = model.strip_prefix("vertex_ai/").unwrap_or(model);
    let parts: Vec<&str> = model.split('/').collect();
    let (publisher, id) = match parts.as_slice() {
        [id] => (None, *id),
        [publisher, id] => (Some(*publisher), *id),
        ["publishers", publisher, "models", id] => (Some(*publisher), *id),
        _ => return None,
    };
    if !is_valid_publisher_or_model(id) || !publisher.is_none_or(is_valid_publisher_or_model) {
        return None;
    }
    Some((publisher.map(str::to_string), id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(json: serde_json::Value) -> RawModelEntry {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn litellm_entry_resolves_model_project_location_and_credential() {
        let alias = parse_entry(
            0,
            entry(serde_json::json!({"model_name": "gemini-live-preview", "litellm_params": {
                "model": "vertex_ai/gemini-2.0-flash-live-preview", "vertex_project": "your-project-id",
                "vertex_location": "global", "vertex_credentials": "default"}})),
            None,
            "us-central1",
        )
        .unwrap();
        assert_eq!(alias.model, "gemini-2.0-flash-live-preview");
        assert_eq!(alias.publisher, None);
        assert_eq!(alias.project.as_deref(), Some("your-project-id"));
        assert_eq!(alias.location, "global");
        assert_eq!(alias.credential.as_deref(), Some("default"));
    }

    #[test]
    fn entry_without_project_or_location_takes_the_defaults() {
        let alias = parse_entry(0, entry(serde_json::json!({"model_name": "flash", "litellm_params": {"model": "gemini-2.0-flash"}})), Some("p"), "europe-west4").unwrap();
        assert_eq!(alias.project.as_deref(), Some("p"));
        assert_eq!(alias.location, "europe-west4");
    }

    #[test]
    fn publisher_forms_are_understood() {
        for model in [
            "vertex_ai/meta/llama-3.1-405b-instruct-maas",
            "publishers/meta/models/llama-3.1-405b-instruct-maas",
        ] {
            let alias = parse_entry(
                0,
                entry(
                    serde_json::json!({"model_name": "llama", "litellm_params": {"model": model}}),
                ),
                Some("p"),
                "us-central1",
            )
            .unwrap();
            assert_eq!(alias.publisher.as_deref(), Some("meta"));
            assert_eq!(alias.model, "llama-3.1-405b-instruct-maas");
        }
    }

    #[test]
    fn bad_location_names_the_field() {
        let e = parse_entry(3, entry(serde_json::json!({"model_name": "x", "litellm_params": {"model": "m", "vertex_location": "US Central"}})), Some("p"), "us-central1").unwrap_err();
        assert_eq!(e.field, "model_list[3].litellm_params.vertex_location");
    }

    #[test]
    fn unroutable_alias_names_are_refused() {
        let e = parse_entry(
            0,
            entry(serde_json::json!({"model_name": "a/b", "litellm_params": {"model": "m"}})),
            Some("p"),
            "us-central1",
        )
        .unwrap_err();
        assert_eq!(e.field, "model_list[0].model_name");
    }

    #[test]
    fn model_with_traversal_is_refused() {
        let e = parse_entry(0, entry(serde_json::json!({"model_name": "x", "litellm_params": {"model": "vertex_ai/../x"}})), Some("p"), "us-central1").unwrap_err();
        assert_eq!(e.field, "model_list[0].litellm_params.model");
    }
}
