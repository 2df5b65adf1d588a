//! vp-config's work, apart from its command line: checking a plugin config with the filter's own
//! code, the `sha256:` form of a client key, and a LiteLLM `config.yaml` converted to a plugin
//! config.

use serde_json::Value as Json;
use serde_yaml::{Mapping, Value as Yaml};
use std::path::Path;
use vertex_passthrough_core::client_auth::parse_configured_key;
use vertex_passthrough_core::config::{proto_struct, Config, ConfigError};

pub mod litellm;

/// Reads one environment variable (the process's, or a test's).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Validate a plugin config as Envoy would hand it to the filter: JSON text as a
/// `google.protobuf.StringValue` carries it, YAML as the `google.protobuf.Struct` Envoy makes of it.
pub fn check(text: &str, env: Env) -> Result<Config, ConfigError> {
    let bytes = plugin_bytes(text)?;
    Config::load(&bytes, env)
}

/// The bytes Envoy hands the filter for this config text.
pub fn plugin_bytes(text: &str) -> Result<Vec<u8>, ConfigError> {
    if text.trim_start().starts_with('{') {
        return Ok(text.as_bytes().to_vec());
    }
    let value: Json = serde_yaml::from_str(text)
        .map_err(|e| ConfigError::new("(top level)", format!("not valid YAML: {e}")))?;
    match value {
        Json::Object(object) => Ok(proto_struct::encode(&object)),
        _ => Err(ConfigError::new(
            "(top level)",
            "the plugin configuration must be a mapping (YAML) or a JSON object",
        )),
    }
}

/// `sha256:<hex>` of a client key, for `api_keys`; `None` for a key the filter would refuse.
pub fn hash_key(key: &str) -> Option<String> {
    if key.starts_with("sha256:") {
        return None;
    }
    let digest = parse_configured_key(key)?;
    Some(format!("sha256:{}", hex(&digest)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A plugin config as YAML text.
pub fn to_yaml(config: &Mapping) -> String {
    serde_yaml::to_string(&Yaml::Mapping(config.clone())).unwrap_or_default()
}

/// Whether a path names a readable file.
pub fn readable(path: &Path) -> bool {
    std::fs::File::open(path).is_ok()
}
