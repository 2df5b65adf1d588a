//! vp-config's work, apart from its command line: checking a plugin config with the filter's own
//! code, the `sha256:` form of a client key, a LiteLLM `config.yaml` converted to a plugin
//! config, and the copies of `envoy/plugin-config.yaml` kept in step.

use serde_json::Value as Json;
use serde_yaml::{Mapping, Value as Yaml};
use std::path::Path;
use vertex_passthrough_core::client_auth::parse_configured_key;
use vertex_passthrough_core::config::{proto_struct, Config, ConfigError};

pub mod embedded;
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

/// A config file as the plugin config `make run` loads: a LiteLLM `config.yaml` converted, this
/// filter's own config (YAML or JSON) as it is. A plugin config names `api_keys`,
/// `allow_unauthenticated` or `credentials`; a LiteLLM config names none of them.
pub struct Plugin {
    pub config: Json,
    /// What the conversion dropped and which env vars it reads, one line each; empty for a
    /// plugin config.
    pub notes: Vec<String>,
    /// Each environment variable the config reads in the Wasm VM: name, the credential's type
    /// (`client_key` for a named client key's `key_env`), and the key file it stands for when
    /// the LiteLLM config named one.
    pub env: Vec<(String, String, Option<String>)>,
}

/// The kind `plugin` gives an environment variable that holds a client key (a named key's
/// `key_env`) rather than a Google credential.
pub const CLIENT_KEY: &str = "client_key";

pub fn plugin(text: &str, env: Env, read_file: litellm::ReadFile) -> Result<Plugin, String> {
    let value: Json = serde_yaml::from_str(text).map_err(|e| format!("not YAML or JSON: {e}"))?;
    let own = ["api_keys", "allow_unauthenticated", "credentials"]
        .iter()
        .any(|key| value.get(key).is_some());
    let (config, notes, files) = if own {
        (value, Vec::new(), Vec::new())
    } else {
        let conversion = litellm::convert(text, env, read_file)?;
        let config = serde_json::to_value(Yaml::Mapping(conversion.config))
            .map_err(|e| format!("the converted config is not JSON: {e}"))?;
        let mut notes = conversion.dropped;
        notes.extend(conversion.env.iter().map(litellm::EnvNeed::describe));
        let files = conversion
            .env
            .into_iter()
            .filter_map(|need| Some((need.name, need.file?)))
            .collect();
        (config, notes, files)
    };
    let mut vars = Vec::new();
    if let Some(Json::Object(credentials)) = config.get("credentials") {
        for credential in credentials.values() {
            let kind = credential.get("type").and_then(Json::as_str).unwrap_or("");
            for field in ["key_env", "token_env"] {
                if let Some(name) = credential.get(field).and_then(Json::as_str) {
                    let file = files
                        .iter()
                        .find(|(var, _)| var == name)
                        .map(|(_, file): &(String, String)| file.clone());
                    let entry = (name.to_string(), kind.to_string(), file);
                    if !vars.contains(&entry) {
                        vars.push(entry);
                    }
                }
            }
        }
    }
    // A named client key's key_env holds the plain client key.
    if let Some(Json::Array(keys)) = config.get("api_keys") {
        for name in keys
            .iter()
            .filter_map(|key| key.get("key_env").and_then(Json::as_str))
        {
            let entry = (name.to_string(), CLIENT_KEY.to_string(), None);
            if !vars.contains(&entry) {
                vars.push(entry);
            }
        }
    }
    Ok(Plugin {
        config,
        notes,
        env: vars,
    })
}
