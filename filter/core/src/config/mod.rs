//! The plugin configuration: parsed once, validated fully, refused loudly (docs/design.md
//! "Plugin configuration"), from JSON text or a `google.protobuf.Struct` alike. `load` is
//! pure: the environment is passed in.

pub mod api_keys;
pub mod credential;
pub mod error;
pub mod models;
pub mod proto_struct;
pub mod raw;

use crate::client_auth::ClientKeys;
use crate::locations::ServedLocations;
use crate::segment::{is_valid_location, is_valid_project, MAX_LOCATION, MAX_SEGMENT};
pub use credential::{Credential, TokenSource};
use error::shown;
pub use error::ConfigError;
use models::Alias;
use raw::RawConfig;
use std::collections::HashMap;

pub const DEFAULT_LOCATION: &str = "us-central1";
pub const DEFAULT_ROUTE_PREFIXES: [&str; 2] = ["/vertex_ai", "/vertex-ai"];
pub const DEFAULT_METHODS: [&str; 11] = [
    "generateContent",
    "streamGenerateContent",
    "countTokens",
    "computeTokens",
    "predict",
    "rawPredict",
    "streamRawPredict",
    "serverStreamingPredict",
    "embedContent",
    "predictLongRunning",
    "fetchPredictOperation",
];
/// The collections under `projects/P/locations/L/` that are forwarded as they are.
pub const DEFAULT_COLLECTIONS: [&str; 8] = [
    "publishers",
    "endpoints",
    "cachedContents",
    "batchPredictionJobs",
    "tuningJobs",
    "ragCorpora",
    "reasoningEngines",
    "operations",
];
/// The methods on a location itself (`projects/P/locations/L:METHOD`).
pub const DEFAULT_LOCATION_METHODS: [&str; 3] =
    ["retrieveContexts", "augmentPrompt", "corroborateContent"];
const DEFAULT_REFRESH_MARGIN_S: u64 = 300;
const DEFAULT_FETCH_TIMEOUT_MS: u64 = 5000;
const DEFAULT_COOLDOWN_S: u64 = 30;

/// A model alias (one deployment of it) with its credential resolved to an index into
/// `Config::credentials`.
#[derive(Clone)]
pub struct ResolvedAlias {
    pub alias: Alias,
    pub credential: usize,
    /// For an alias with several deployments: which one this is.
    pub deployment: Option<DeploymentId>,
}

/// One deployment of an alias with several: the alias's place in `Config::pools`, and the
/// deployment's among the alias's entries (in `model_list` order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeploymentId {
    pub pool: usize,
    pub index: usize,
}

/// An alias with several deployments: the `model_list` entries that share its `model_name`.
pub struct Pool {
    pub alias: String,
    pub deployments: Vec<ResolvedAlias>,
}

pub struct Config {
    pub default_project: Option<String>,
    pub default_location: String,
    /// Locations a request may name (a location becomes a host Envoy resolves).
    pub locations: ServedLocations,
    /// Each alias's first deployment (its only one, for most).
    pub aliases: HashMap<String, ResolvedAlias>,
    /// Aliases with several deployments, in `model_list` order of their first entry.
    pub pools: Vec<Pool>,
    /// How long a deployment Vertex answered 429 or 503 is left out of the picks.
    pub cooldown_s: u64,
    /// Projects a request may reach, each with the credential it uses.
    pub projects: HashMap<String, usize>,
    pub credentials: Vec<Credential>,
    pub client_keys: ClientKeys,
    pub route_prefixes: Vec<String>,
    pub methods: Vec<String>,
    pub collections: Vec<String>,
    pub location_methods: Vec<String>,
    pub token_refresh_margin_s: u64,
    pub token_fetch_timeout_ms: u64,
}

pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

impl Config {
    /// Parse and validate the plugin configuration. `bytes` is what Envoy hands over: JSON text
    /// (from a `google.protobuf.StringValue`) or a serialized `google.protobuf.Struct` (from YAML),
    /// told apart by how they begin. `env` reads the Wasm VM's environment.
    pub fn load(bytes: &[u8], env: Env) -> Result<Config, ConfigError> {
        build(raw_config(bytes)?, env)
    }

    pub fn credential(&self, index: usize) -> Option<&Credential> {
        self.credentials.get(index)
    }

    /// Deployment `deployment` of alias `name` (its first when the alias has only one).
    pub fn alias(&self, name: &str, deployment: usize) -> Option<&ResolvedAlias> {
        let first = self.aliases.get(name)?;
        let Some(id) = first.deployment else {
            return Some(first);
        };
        self.pools
            .get(id.pool)
            .and_then(|pool| pool.deployments.get(deployment))
            .or(Some(first))
    }

    /// The deployments of alias `name` when it has several.
    pub fn pool(&self, id: DeploymentId) -> Option<&Pool> {
        self.pools.get(id.pool)
    }
}

/// The configuration's shape, from whichever form it came in. A serialized Struct begins with
/// its first entry's tag, 0x0a (field 1, length-delimited), then that entry's length, which may
/// be `{` (123) or whitespace; JSON text begins with `{` after whitespace, a newline (0x0a)
/// included. So bytes that begin with 0x0a are read as a Struct first; they are JSON only when
/// that fails (an entry needs its value, field 2, whose tag 0x12 is a control character that JSON
/// text cannot hold). An empty Struct serializes to nothing.
fn raw_config(bytes: &[u8]) -> Result<RawConfig, ConfigError> {
    let json = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if bytes.first() == Some(&0x0a) {
        match proto_struct::decode(bytes) {
            // Through the JSON text it stands for: one deserializer for both forms (a second
            // would double the derived code in the .wasm), and errors alike by construction.
            Ok(value) => return raw_from_json(value.to_string().as_bytes()),
            Err(error) if !json => return Err(error),
            Err(_) => {}
        }
    }
    if json {
        return raw_from_json(bytes);
    }
    Err(ConfigError::new(
        "(top level)",
        if bytes.is_empty() {
            "the plugin configuration is empty: give the filter's `configuration` as a google.protobuf.Struct (YAML) or as JSON in a google.protobuf.StringValue"
        } else {
            "the plugin configuration must be a JSON object (given to Envoy as a google.protobuf.StringValue) or a google.protobuf.Struct (YAML); this begins like neither"
        },
    ))
}

fn raw_from_json(json: &[u8]) -> Result<RawConfig, ConfigError> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let raw = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| ConfigError::from_serde(e.path(), e.inner()))?;
    de.end().map_err(|_| {
        ConfigError::new("(top level)", "trailing characters after the JSON object")
    })?;
    Ok(raw)
}

fn build(raw: RawConfig, env: Env) -> Result<Config, ConfigError> {
    let default_project = project_or_location(
        raw.vertex_project,
        "vertex_project",
        "VERTEXAI_PROJECT",
        env,
    )?;
    let default_location = project_or_location(
        raw.vertex_location,
        "vertex_location",
        "VERTEXAI_LOCATION",
        env,
    )?
    .unwrap_or_else(|| DEFAULT_LOCATION.to_string());

    let mut credentials = Vec::new();
    let mut by_name = HashMap::new();
    let no_credentials = raw.credentials.is_empty();
    for (name, raw_credential) in raw.credentials {
        by_name.insert(name.clone(), credentials.len());
        credentials.push(credential::build(&name, raw_credential, env)?);
    }
    if no_credentials {
        by_name.insert("default".to_string(), 0);
        credentials.push(credential::application_default(env)?);
    }
    // With a single credential there is no doubt which one is meant.
    let default_credential = by_name
        .get("default")
        .copied()
        .or_else(|| (credentials.len() == 1).then_some(0));

    let mut entries = Vec::new();
    for (index, entry) in raw.model_list.into_iter().enumerate() {
        entries.push(models::parse_entry(
            index,
            entry,
            default_project.as_deref(),
            &default_location,
        )?);
    }

    // Projects: those with an explicit credential first, so an entry without one borrows it.
    let mut projects: HashMap<String, usize> = HashMap::new();
    for (index, alias) in entries.iter().enumerate() {
        if let (Some(project), Some(name)) = (&alias.project, &alias.credential) {
            let credential = named_credential(&by_name, index, name)?;
            projects.entry(project.clone()).or_insert(credential);
        }
    }
    let mut resolved = Vec::new();
    for (index, alias) in entries.into_iter().enumerate() {
        let credential = match (&alias.credential, &alias.project) {
            (Some(name), _) => named_credential(&by_name, index, name)?,
            (None, Some(project)) => match projects.get(project).copied().or(default_credential) {
                Some(c) => c,
                None => {
                    return Err(no_default(format!(
                        "model_list[{index}].litellm_params.vertex_credentials"
                    )))
                }
            },
            (None, None) => default_credential.unwrap_or(0),
        };
        if let Some(project) = &alias.project {
            projects.entry(project.clone()).or_insert(credential);
        }
        resolved.push(ResolvedAlias {
            alias,
            credential,
            deployment: None,
        });
    }
    let (aliases, pools) = group_deployments(resolved);
    if let Some(project) = &default_project {
        if !projects.contains_key(project) {
            let credential =
                default_credential.ok_or_else(|| no_default("vertex_project".to_string()))?;
            projects.insert(project.clone(), credential);
        }
    }

    let locations = served_locations(
        raw.locations,
        &default_location,
        aliases
            .values()
            .chain(pools.iter().flat_map(|p| &p.deployments))
            .map(|a| a.alias.location.as_str()),
    )?;

    let client_keys = api_keys::build(raw.api_keys, raw.allow_unauthenticated, &projects, env)?;
    Ok(Config {
        default_project,
        default_location,
        locations,
        aliases,
        pools,
        projects,
        credentials,
        client_keys,
        route_prefixes: route_prefixes(raw.route_prefixes)?,
        methods: names("methods", raw.methods, &DEFAULT_METHODS)?,
        collections: names("collections", raw.collections, &DEFAULT_COLLECTIONS)?,
        location_methods: names(
            "location_methods",
            raw.location_methods,
            &DEFAULT_LOCATION_METHODS,
        )?,
        token_refresh_margin_s: bounded(
            "token_refresh_margin_s",
            raw.token_refresh_margin_s,
            DEFAULT_REFRESH_MARGIN_S,
            0,
            3000,
        )?,
        token_fetch_timeout_ms: bounded(
            "token_fetch_timeout_ms",
            raw.token_fetch_timeout_ms,
            DEFAULT_FETCH_TIMEOUT_MS,
            100,
            60_000,
        )?,
        cooldown_s: bounded("cooldown_s", raw.cooldown_s, DEFAULT_COOLDOWN_S, 1, 3600)?,
    })
}

/// Entries that share a `model_name` are that alias's deployments (as LiteLLM's router reads
/// them): the first goes in `aliases`, all of them in a pool.
fn group_deployments(entries: Vec<ResolvedAlias>) -> (HashMap<String, ResolvedAlias>, Vec<Pool>) {
    let mut by_name: Vec<(String, Vec<ResolvedAlias>)> = Vec::new();
    for entry in entries {
        match by_name
            .iter_mut()
            .find(|(name, _)| *name == entry.alias.name)
        {
            Some((_, group)) => group.push(entry),
            None => by_name.push((entry.alias.name.clone(), vec![entry])),
        }
    }
    let mut aliases = HashMap::new();
    let mut pools = Vec::new();
    for (name, mut group) in by_name {
        if group.len() > 1 {
            let pool = pools.len();
            for (index, entry) in group.iter_mut().enumerate() {
                entry.deployment = Some(DeploymentId { pool, index });
            }
            if let Some(first) = group.first() {
                aliases.insert(name.clone(), first.clone());
            }
            pools.push(Pool {
                alias: name,
                deployments: group,
            });
        } else if let Some(only) = group.pop() {
            aliases.insert(name, only);
        }
    }
    (aliases, pools)
}

fn no_default(field: String) -> ConfigError {
    ConfigError::new(
        field,
        "names no credential and there is no credential called \"default\": name one `default`, or set vertex_credentials",
    )
}

fn named_credential(
    by_name: &HashMap<String, usize>,
    index: usize,
    name: &str,
) -> Result<usize, ConfigError> {
    by_name.get(name).copied().ok_or_else(|| {
        let mut known: Vec<&str> = by_name.keys().map(String::as_str).collect();
        known.sort_unstable();
        ConfigError::new(
            format!("model_list[{index}].litellm_params.vertex_credentials"),
            format!(
                "{} is not a credential name from `credentials` (known: {}); LiteLLM key-file paths are not read here, put the key under `credentials`",
                shown(name),
                known.join(", ")
            ),
        )
    })
}

/// From the config, else from the VM's environment; validated either way.
fn project_or_location(
    value: Option<String>,
    field: &str,
    env_var: &str,
    env: Env,
) -> Result<Option<String>, ConfigError> {
    let (value, source) = match value {
        Some(v) => (Some(v), field.to_string()),
        None => (
            env(env_var).filter(|v| !v.is_empty()),
            format!("{env_var} (environment)"),
        ),
    };
    match value {
        Some(v) if !segment_is_valid(field, &v) => Err(ConfigError::new(
            source,
            format!(
                "{} is not valid: use lowercase letters, digits and '-' (at most {})",
                shown(&v),
                segment_max_len(field)
            ),
        )),
        other => Ok(other),
    }
}

fn route_prefixes(prefixes: Option<Vec<String>>) -> Result<Vec<String>, ConfigError> {
    let Some(prefixes) = prefixes else {
        return Ok(DEFAULT_ROUTE_PREFIXES
            .iter()
            .map(|p| p.to_string())
            .collect());
    };
    if prefixes.is_empty() {
        return Err(ConfigError::new(
            "route_prefixes",
            "must list at least one prefix",
        ));
    }
    for (index, prefix) in prefixes.iter().enumerate() {
        let rest = prefix.strip_prefix('/').unwrap_or("");
        let valid = !rest.is_empty()
            && !rest.ends_with('/')
            && !rest.contains("//")
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'));
        if !valid {
            return Err(ConfigError::new(
                format!("route_prefixes[{index}]"),
                format!(
                    "{} must look like \"/vertex_ai\": a leading '/', no trailing '/'",
                    shown(prefix)
                ),
            ));
        }
    }
    Ok(prefixes)
}

/// A list of API names (`methods`, `collections`, `location_methods`): ASCII letters only.
fn names(
    field: &str,
    given: Option<Vec<String>>,
    default: &[&str],
) -> Result<Vec<String>, ConfigError> {
    let Some(given) = given else {
        return Ok(default.iter().map(|m| m.to_string()).collect());
    };
    if given.is_empty() {
        return Err(ConfigError::new(field, "must list at least one name"));
    }
    for (index, name) in given.iter().enumerate() {
        if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphabetic()) {
            let example = default.first().copied().unwrap_or_default();
            return Err(ConfigError::new(
                format!("{field}[{index}]"),
                format!("{} is not a name such as {example}", shown(name)),
            ));
        }
    }
    Ok(given)
}

fn bounded(
    field: &str,
    value: Option<u64>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let value = value.unwrap_or(default);
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::new(
            field,
            format!("{value} is out of range: use {min} to {max}"),
        ))
    }
}

/// Every location the config names is served, with Google Cloud's regions; `locations` adds
/// regions opened after this list was written.
fn served_locations<'a>(
    listed: Option<Vec<String>>,
    default_location: &'a str,
    alias_locations: impl Iterator<Item = &'a str>,
) -> Result<ServedLocations, ConfigError> {
    let listed = listed.unwrap_or_default();
    for (index, location) in listed.iter().enumerate() {
        if !is_valid_location(location) {
            return Err(ConfigError::new(
                format!("locations[{index}]"),
                format!(
                    "{} is not valid: use lowercase letters, digits and '-' (at most {MAX_LOCATION})",
                    shown(location)
                ),
            ));
        }
    }
    let mut named: Vec<&str> = listed.iter().map(String::as_str).collect();
    named.push(default_location);
    for location in alias_locations {
        named.push(location);
    }
    Ok(ServedLocations::new(named))
}

/// `vertex_location` fields hold a location (one DNS label); the others a project.
pub(crate) fn segment_is_valid(field: &str, value: &str) -> bool {
    if field.ends_with("vertex_location") {
        is_valid_location(value)
    } else {
        is_valid_project(value)
    }
}

pub(crate) fn segment_max_len(field: &str) -> usize {
    if field.ends_with("vertex_location") {
        MAX_LOCATION
    } else {
        MAX_SEGMENT
    }
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
