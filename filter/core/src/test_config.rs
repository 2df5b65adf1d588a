//! Plugin configs for the unit tests: the settings most of them share, and a loader.

use crate::config::Config;
use serde_json::{json, Value};

/// `settings` loaded as the plugin config, with no VM env vars; panics when it is invalid.
pub fn load(settings: &Value) -> Config {
    Config::load(settings.to_string().as_bytes(), &|_| None).unwrap()
}

/// Project `proj-alpha` in `us-central1`, the client key `sk-test`, and these `credentials`
/// and `model_list`.
pub fn with_models(credentials: Value, model_list: Value) -> Config {
    load(&json!({
        "vertex_project": "proj-alpha",
        "vertex_location": "us-central1",
        "credentials": credentials,
        "model_list": model_list,
        "api_keys": ["sk-test"],
    }))
}
