//! A LiteLLM proxy `config.yaml` as this filter's plugin config. What maps is mapped; every
//! LiteLLM-only setting is dropped with a note that says why; where a credential must reach
//! Envoy's Wasm VM through an environment variable, a note says which variable holds which file.

use super::{hash_key, Env};
use serde_yaml::{Mapping, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The converted config and what the user must know about it, one line each.
pub struct Conversion {
    pub config: Mapping,
    /// Settings dropped, each with why.
    pub dropped: Vec<String>,
    /// Environment variables Envoy's Wasm VM must hold, each with what.
    pub env: Vec<EnvNeed>,
}

/// An environment variable the converted config reads in the Wasm VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvNeed {
    pub name: String,
    /// The key file whose contents it must hold, when the LiteLLM config named a file.
    pub file: Option<String>,
}

impl EnvNeed {
    pub fn describe(&self) -> String {
        match &self.file {
            Some(file) => format!(
                "env {}: must hold the contents of {file} (a Google key file) in Envoy's environment",
                self.name
            ),
            None => format!(
                "env {}: must hold a Google key file's contents (not its path) in Envoy's environment",
                self.name
            ),
        }
    }
}

/// How a file's Google key type is found: its `type` field, when the file can be read.
pub type ReadFile<'a> = &'a dyn Fn(&Path) -> Option<String>;

const ENV_PREFIX: &str = "os.environ/";

/// The client name `general_settings.master_key` gets in `api_keys`.
pub const MASTER_KEY_NAME: &str = "master";

/// Why LiteLLM's key database and the settings about its virtual keys are dropped.
pub const VIRTUAL_KEYS: &str = "LiteLLM's virtual keys, teams and budgets live in its database, not in config.yaml, so none are converted; give each key a named api_keys entry (name, key, models, projects, rpm, tpm: docs/teams.md)";

/// `litellm_settings` about virtual keys, teams and budgets.
const KEY_SETTINGS: [&str; 8] = [
    "default_key_generate_params",
    "upperbound_key_generate_params",
    "key_generation_settings",
    "default_team_settings",
    "default_internal_user_params",
    "max_budget",
    "budget_duration",
    "max_end_user_budget",
];

pub fn convert(text: &str, env: Env, read_file: ReadFile) -> Result<Conversion, String> {
    let root: Value =
        serde_yaml::from_str(text).map_err(|e| format!("not a LiteLLM config.yaml: {e}"))?;
    let Value::Mapping(root) = root else {
        return Err("not a LiteLLM config.yaml: the top level is not a mapping".to_string());
    };
    let mut out = Converter {
        env,
        read_file,
        dropped: Vec::new(),
        env_needs: Vec::new(),
        credentials: BTreeMap::new(),
        sources: BTreeMap::new(),
    };
    let mut config = Mapping::new();

    if let Some(defaults) = root.get("default_vertex_config") {
        out.default_vertex_config(defaults, &mut config)?;
    }
    let mut api_keys = Vec::new();
    for (key, value) in &root {
        let key = key.as_str().unwrap_or_default();
        match key {
            "model_list" | "default_vertex_config" => {}
            "general_settings" => out.general_settings(value, &mut api_keys)?,
            "litellm_settings" => out.litellm_settings(value),
            "router_settings" => out.router_settings(value, &mut config)?,
            "environment_variables" => out.drop_all(
                key,
                value,
                "set environment variables in Envoy's environment instead",
            ),
            _ => out.drop(key, "not a setting this filter has"),
        }
    }
    let models = match root.get("model_list") {
        Some(Value::Sequence(entries)) => out.model_list(entries)?,
        Some(_) => return Err("model_list: must be a list".to_string()),
        None => Vec::new(),
    };
    if !out.credentials.is_empty() {
        let credentials: Mapping = std::mem::take(&mut out.credentials)
            .into_iter()
            .map(|(name, credential)| (Value::from(name), credential))
            .collect();
        config.insert("credentials".into(), Value::Mapping(credentials));
    }
    if !models.is_empty() {
        config.insert("model_list".into(), Value::Sequence(models));
    }
    if api_keys.is_empty() {
        out.dropped.push(
            "general_settings.master_key: none, so clients need no key (allow_unauthenticated: true), as with LiteLLM without a master key".to_string(),
        );
        config.insert("allow_unauthenticated".into(), Value::Bool(true));
    } else {
        config.insert("api_keys".into(), Value::Sequence(api_keys));
    }
    Ok(Conversion {
        config,
        dropped: out.dropped,
        env: out.env_needs,
    })
}

struct Converter<'a> {
    env: Env<'a>,
    read_file: ReadFile<'a>,
    dropped: Vec<String>,
    env_needs: Vec<EnvNeed>,
    credentials: BTreeMap<String, Value>,
    /// Each `vertex_credentials` value already converted, with its credential's name.
    sources: BTreeMap<String, String>,
}

impl Converter<'_> {
    fn drop(&mut self, field: &str, why: &str) {
        self.dropped.push(format!("{field}: dropped: {why}"));
    }

    fn drop_all(&mut self, field: &str, value: &Value, why: &str) {
        match value {
            Value::Mapping(map) if !map.is_empty() => {
                for key in map.keys() {
                    let name = key.as_str().unwrap_or("?");
                    self.drop(&format!("{field}.{name}"), why);
                }
            }
            _ => self.drop(field, why),
        }
    }

    /// A string setting, with `os.environ/NAME` read from the environment now.
    fn string(&self, field: &str, value: &Value) -> Result<String, String> {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(format!("{field}: must be a string")),
        };
        match text.strip_prefix(ENV_PREFIX) {
            Some(name) => (self.env)(name).filter(|v| !v.is_empty()).ok_or_else(|| {
                format!("{field}: {text}, but {name} is not set in this environment")
            }),
            None => Ok(text),
        }
    }

    fn default_vertex_config(&mut self, value: &Value, config: &mut Mapping) -> Result<(), String> {
        let Value::Mapping(defaults) = value else {
            return Err("default_vertex_config: must be a mapping".to_string());
        };
        for (key, value) in defaults {
            let key = key.as_str().unwrap_or_default();
            let field = format!("default_vertex_config.{key}");
            match key {
                "vertex_project" | "vertex_location" => {
                    config.insert(key.into(), Value::from(self.string(&field, value)?));
                }
                "vertex_credentials" => {
                    let raw = self.raw_string(&field, value)?;
                    self.credential(&raw, Some("default"))?;
                }
                _ => self.drop(&field, "not a setting this filter has"),
            }
        }
        Ok(())
    }

    fn raw_string(&self, field: &str, value: &Value) -> Result<String, String> {
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("{field}: must be a string"))
    }

    /// A `vertex_credentials` value as a named credential; returns its name.
    fn credential(&mut self, raw: &str, name: Option<&str>) -> Result<String, String> {
        let raw = raw.trim();
        if let Some(existing) = self.sources.get(raw) {
            return Ok(existing.clone());
        }
        let (derived, key_env, file, inline) = if let Some(var) = raw.strip_prefix(ENV_PREFIX) {
            (var.to_string(), var.to_string(), None, None)
        } else if raw.starts_with('{') {
            let name = name.unwrap_or("inline").to_string();
            (name, String::new(), None, Some(raw.to_string()))
        } else {
            let stem = Path::new(raw)
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("key");
            let name = sanitize(stem);
            let var = format!("VP_KEY_{}", name.to_ascii_uppercase().replace('-', "_"));
            (name, var, Some(raw.to_string()), None)
        };
        let name = name.map(str::to_string).unwrap_or(derived);
        if self.credentials.contains_key(&name) {
            return Ok(name);
        }
        // The key's type: from the file (or the variable's contents) when it can be read.
        let contents = match (&inline, &file) {
            (Some(text), _) => Some(text.clone()),
            (None, Some(path)) => (self.read_file)(Path::new(path)),
            (None, None) => (self.env)(&key_env).filter(|v| v.trim_start().starts_with('{')),
        };
        let kind = contents
            .as_deref()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
            .and_then(|json| json.get("type")?.as_str().map(str::to_string))
            .filter(|t| t == "authorized_user")
            .unwrap_or_else(|| "service_account".to_string());
        let mut credential = Mapping::new();
        credential.insert("type".into(), Value::from(kind));
        match inline {
            Some(text) => {
                credential.insert("key".into(), Value::from(text));
            }
            None => {
                credential.insert("key_env".into(), Value::from(key_env.clone()));
                let need = EnvNeed {
                    name: key_env,
                    file,
                };
                if !self.env_needs.contains(&need) {
                    self.env_needs.push(need);
                }
            }
        }
        self.credentials
            .insert(name.clone(), Value::Mapping(credential));
        self.sources.insert(raw.to_string(), name.clone());
        Ok(name)
    }

    /// `cooldown_time` becomes `cooldown_s`; the rest of LiteLLM's router is dropped.
    fn router_settings(&mut self, value: &Value, config: &mut Mapping) -> Result<(), String> {
        let Value::Mapping(settings) = value else {
            self.drop("router_settings", "not a mapping");
            return Ok(());
        };
        for (key, value) in settings {
            let key = key.as_str().unwrap_or_default();
            let field = format!("router_settings.{key}");
            if key == "cooldown_time" {
                let seconds = value
                    .as_f64()
                    .filter(|s| *s >= 0.0)
                    .ok_or_else(|| format!("{field}: must be a number of seconds"))?;
                config.insert("cooldown_s".into(), Value::from(seconds.ceil() as u64));
            } else {
                self.drop(
                    &field,
                    "LiteLLM's router (strategy, retries, fallbacks, Redis); this filter picks an alias's deployment by weight and cools one down on 429/503",
                );
            }
        }
        Ok(())
    }

    fn general_settings(&mut self, value: &Value, api_keys: &mut Vec<Value>) -> Result<(), String> {
        let Value::Mapping(settings) = value else {
            return Err("general_settings: must be a mapping".to_string());
        };
        for (key, value) in settings {
            let key = key.as_str().unwrap_or_default();
            let field = format!("general_settings.{key}");
            match key {
                "master_key" => {
                    let master = self.string(&field, value)?;
                    let hashed = hash_key(&master).ok_or_else(|| {
                        format!("{field}: not a key this filter accepts (printable ASCII without spaces, at most 256 characters)")
                    })?;
                    // Named, so the access log and the usage counters show `master`.
                    let mut named = Mapping::new();
                    named.insert("name".into(), Value::from(MASTER_KEY_NAME));
                    named.insert("key".into(), Value::from(hashed));
                    api_keys.push(Value::Mapping(named));
                }
                "database_url" | "store_model_in_db" => self.drop(&field, VIRTUAL_KEYS),
                _ => self.drop(
                    &field,
                    "LiteLLM's proxy server (UI, spend tracking, its own auth); this filter checks client keys from api_keys",
                ),
            }
        }
        Ok(())
    }

    /// LiteLLM's SDK settings are dropped; those about its virtual keys and teams say where such
    /// keys go here.
    fn litellm_settings(&mut self, value: &Value) {
        const SDK: &str = "LiteLLM's SDK behaviour (callbacks, caching, parameter handling); this filter passes requests through unchanged";
        let Value::Mapping(settings) = value else {
            self.drop("litellm_settings", SDK);
            return;
        };
        for key in settings.keys() {
            let name = key.as_str().unwrap_or("?");
            let field = format!("litellm_settings.{name}");
            if KEY_SETTINGS.contains(&name) {
                self.drop(&field, VIRTUAL_KEYS);
            } else {
                self.drop(&field, SDK);
            }
        }
    }

    fn model_list(&mut self, entries: &[Value]) -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let field = format!("model_list[{index}]");
            let Value::Mapping(entry) = entry else {
                return Err(format!("{field}: must be a mapping"));
            };
            let name = match entry.get("model_name") {
                Some(v) => self.string(&format!("{field}.model_name"), v)?,
                None => return Err(format!("{field}.model_name: missing")),
            };
            let Some(Value::Mapping(params)) = entry.get("litellm_params") else {
                return Err(format!("{field}.litellm_params: missing or not a mapping"));
            };
            let model = match params.get("model") {
                Some(v) => self.string(&format!("{field}.litellm_params.model"), v)?,
                None => return Err(format!("{field}.litellm_params.model: missing")),
            };
            if let Some(provider) = other_provider(&model) {
                self.drop(
                    &field,
                    &format!("{name:?} is served by LiteLLM's provider {provider}, not Vertex AI; this filter serves Vertex AI only"),
                );
                continue;
            }
            for key in entry.keys().filter_map(Value::as_str) {
                if !matches!(key, "model_name" | "litellm_params") {
                    self.drop(
                        &format!("{field}.{key}"),
                        "LiteLLM's descriptive or per-deployment setting; not used by this filter",
                    );
                }
            }
            let mut mapped = Mapping::new();
            mapped.insert("model".into(), Value::from(model));
            for (key, value) in params {
                let key = key.as_str().unwrap_or_default();
                let param = format!("{field}.litellm_params.{key}");
                match key {
                    "model" => {}
                    "vertex_project" | "vertex_location" => {
                        mapped.insert(key.into(), Value::from(self.string(&param, value)?));
                    }
                    "vertex_credentials" => {
                        let raw = self.raw_string(&param, value)?;
                        let credential = self.credential(&raw, None)?;
                        mapped.insert(key.into(), Value::from(credential));
                    }
                    // Deployments of one alias: picked by weight (rpm, tpm as LiteLLM weighs them).
                    "rpm" | "tpm" | "weight" => {
                        mapped.insert(key.into(), value.clone());
                    }
                    "use_in_pass_through" => {
                        self.drop(&param, "every model_list entry is passed through here")
                    }
                    _ => self.drop(
                        &param,
                        "a LiteLLM call parameter; this filter passes requests through unchanged",
                    ),
                }
            }
            let mut converted = Mapping::new();
            converted.insert("model_name".into(), Value::from(name));
            converted.insert("litellm_params".into(), Value::Mapping(mapped));
            out.push(Value::Mapping(converted));
        }
        Ok(out)
    }
}

/// The LiteLLM provider of a model other than Vertex AI, from its `provider/` prefix.
fn other_provider(model: &str) -> Option<&str> {
    let (provider, _) = model.split_once('/')?;
    const VERTEX: [&str; 3] = ["vertex_ai", "vertex_ai_beta", "publishers"];
    // `PUBLISHER/MODEL` is a Vertex AI model of that publisher in this filter's config; LiteLLM
    // writes Vertex models as vertex_ai/…, so only its own provider names are other providers.
    const PROVIDERS: [&str; 16] = [
        "openai",
        "azure",
        "azure_ai",
        "anthropic",
        "bedrock",
        "gemini",
        "cohere",
        "mistral",
        "groq",
        "ollama",
        "huggingface",
        "together_ai",
        "openrouter",
        "deepseek",
        "xai",
        "sagemaker",
    ];
    (!VERTEX.contains(&provider) && PROVIDERS.contains(&provider)).then_some(provider)
}

/// A credential name from a file name: letters, digits, '_' and '-'.
fn sanitize(stem: &str) -> String {
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() {
        "key".to_string()
    } else {
        name
    }
}
