//! The plugin configuration exactly as users write it (docs/design.md "Plugin configuration").
//! Only shapes live here; meaning and validation are in the sibling modules.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub vertex_project: Option<String>,
    pub vertex_location: Option<String>,
    /// Locations served beyond Google Cloud's regions as this proxy knows them.
    pub locations: Option<Vec<String>>,
    #[serde(default)]
    pub credentials: BTreeMap<String, RawCredential>,
    #[serde(default)]
    pub model_list: Vec<RawModelEntry>,
    #[serde(default)]
    pub api_keys: Vec<RawApiKey>,
    #[serde(default)]
    pub allow_unauthenticated: bool,
    pub route_prefixes: Option<Vec<String>>,
    pub methods: Option<Vec<String>>,
    pub collections: Option<Vec<String>>,
    pub location_methods: Option<Vec<String>>,
    pub token_refresh_margin_s: Option<u64>,
    pub token_fetch_timeout_ms: Option<u64>,
    pub cooldown_s: Option<u64>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawCredential {
    ServiceAccount {
        key: Option<KeyFile>,
        key_env: Option<String>,
        cluster: Option<String>,
    },
    AuthorizedUser {
        key: Option<KeyFile>,
        key_env: Option<String>,
        cluster: Option<String>,
    },
    MetadataServer {
        cluster: Option<String>,
    },
    AccessToken {
        token: Option<String>,
        token_env: Option<String>,
    },
}

/// A Google key file given inline: as the JSON object itself, or as a string holding it.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum KeyFile {
    Object(serde_json::Map<String, serde_json::Value>),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModelEntry {
    pub model_name: String,
    pub litellm_params: RawLitellmParams,
    /// LiteLLM's descriptive block; accepted so a LiteLLM `model_list` pastes as is, and ignored.
    #[serde(default)]
    pub model_info: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLitellmParams {
    pub model: String,
    pub vertex_project: Option<String>,
    pub vertex_location: Option<String>,
    pub vertex_credentials: Option<String>,
    /// LiteLLM's pass-through switch (its examples set it); every entry here is passed through.
    #[serde(default)]
    pub use_in_pass_through: Option<bool>,
    /// LiteLLM's weights for picking among an alias's deployments (see `config::models::Weights`).
    pub weight: Option<f64>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
}

/// The fields of a Google key file this filter reads; the rest (auth_uri, client_id of a service
/// account, …) are ignored like Google's own libraries ignore them.
#[derive(Deserialize)]
pub struct ServiceAccountKeyFile {
    pub client_email: String,
    pub private_key: String,
    pub private_key_id: Option<String>,
    pub token_uri: Option<String>,
}

#[derive(Deserialize)]
pub struct AuthorizedUserKeyFile {
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    pub token_uri: Option<String>,
}

/// An `api_keys` entry: a key string (`sha256:<64 hex>` or plain), or an object naming the key
/// and its rights, read field by field in `api_keys` (a derived deserializer for it would add
/// more to the .wasm than the fields are worth).
pub type RawApiKey = serde_json::Value;
