//! `api_keys`: the client keys the proxy accepts, plain or named with their rights
//! (docs/design.md "Named client keys").

use super::credential::one_of;
use super::error::{shown, shown_key};
use super::raw::RawApiKey;
use super::{ConfigError, Env};
use crate::client_auth::{parse_configured_key, Client, ClientKeys};
use crate::segment::is_valid_publisher_or_model;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::rc::Rc;

/// The longest client name.
pub const MAX_NAME_LEN: usize = 64;

/// The client an unauthenticated proxy serves.
pub const ANONYMOUS: &str = "anonymous";

pub fn build(
    entries: Vec<RawApiKey>,
    allow_unauthenticated: bool,
    served_projects: &HashMap<String, usize>,
    env: Env,
) -> Result<ClientKeys, ConfigError> {
    if allow_unauthenticated {
        return if entries.is_empty() {
            Ok(ClientKeys::Unauthenticated(Rc::new(Client::unrestricted(
                ANONYMOUS,
            ))))
        } else {
            Err(ConfigError::new(
                "allow_unauthenticated",
                "is true but api_keys are listed too; remove one of them",
            ))
        };
    }
    if entries.is_empty() {
        return Err(ConfigError::new(
            "api_keys",
            "no client keys configured: list at least one (\"sha256:<64 hex>\" or the plain key), or set allow_unauthenticated: true to run without client authentication",
        ));
    }
    let mut digests: Vec<[u8; 32]> = Vec::with_capacity(entries.len());
    let mut clients: Vec<Rc<Client>> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let field = format!("api_keys[{index}]");
        let (digest, client) = match entry {
            Value::String(key) => {
                let digest = digest_of(&field, &key)?;
                (digest, Client::unnamed(&digest))
            }
            Value::Object(fields) => {
                named_key(&field, read_named(&field, fields)?, served_projects, env)?
            }
            _ => {
                return Err(ConfigError::new(
                    field,
                    "must be a key string or an object with `name` and `key` or `key_env`",
                ))
            }
        };
        if let Some(first) = digests.iter().position(|d| *d == digest) {
            return Err(ConfigError::new(
                field,
                format!("is the same key as api_keys[{first}]; give each key once"),
            ));
        }
        if let Some(first) = clients.iter().position(|c| c.name == client.name) {
            return Err(ConfigError::new(
                format!("{field}.name"),
                format!(
                    "{} is already the name of api_keys[{first}]; names must be unique",
                    shown(&client.name)
                ),
            ));
        }
        digests.push(digest);
        clients.push(Rc::new(client));
    }
    Ok(ClientKeys::Required { digests, clients })
}

fn digest_of(field: &str, key: &str) -> Result<[u8; 32], ConfigError> {
    parse_configured_key(key).ok_or_else(|| {
        ConfigError::new(
            field,
            "must be \"sha256:\" followed by 64 hex digits, or a plain key without spaces (at most 512 bytes)",
        )
    })
}

/// A named key's fields, as written.
struct RawNamedKey {
    name: String,
    key: Option<String>,
    key_env: Option<String>,
    models: Option<Vec<String>>,
    projects: Option<Vec<String>>,
    rpm: Option<u64>,
    tpm: Option<u64>,
}

fn read_named(field: &str, fields: Map<String, Value>) -> Result<RawNamedKey, ConfigError> {
    let mut named = RawNamedKey {
        name: String::new(),
        key: None,
        key_env: None,
        models: None,
        projects: None,
        rpm: None,
        tpm: None,
    };
    let mut has_name = false;
    for (key, value) in fields {
        let at = format!("{field}.{key}");
        match key.as_str() {
            "name" => {
                named.name = text(&at, value)?;
                has_name = true;
            }
            "key" => named.key = Some(text(&at, value)?),
            "key_env" => named.key_env = Some(text(&at, value)?),
            "models" => named.models = Some(texts(&at, value)?),
            "projects" => named.projects = Some(texts(&at, value)?),
            "rpm" => named.rpm = Some(count(&at, &value)?),
            "tpm" => named.tpm = Some(count(&at, &value)?),
            _ => return Err(ConfigError::new(
                format!("{field}.{}", shown_key(&key)),
                "unknown field; a named key has name, key or key_env, models, projects, rpm, tpm",
            )),
        }
    }
    if !has_name {
        return Err(ConfigError::new(
            format!("{field}.name"),
            "is required in a key given as an object",
        ));
    }
    Ok(named)
}

fn text(field: &str, value: Value) -> Result<String, ConfigError> {
    match value {
        Value::String(text) => Ok(text),
        _ => Err(ConfigError::new(field, "must be a string")),
    }
}

fn texts(field: &str, value: Value) -> Result<Vec<String>, ConfigError> {
    let Value::Array(items) = value else {
        return Err(ConfigError::new(field, "must be a list of strings"));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| text(&format!("{field}[{index}]"), item))
        .collect()
}

fn count(field: &str, value: &Value) -> Result<u64, ConfigError> {
    value
        .as_u64()
        .ok_or_else(|| ConfigError::new(field, "must be a whole number"))
}

fn named_key(
    field: &str,
    named: RawNamedKey,
    served_projects: &HashMap<String, usize>,
    env: Env,
) -> Result<([u8; 32], Client), ConfigError> {
    let RawNamedKey {
        name,
        key,
        key_env,
        models,
        projects,
        rpm,
        tpm,
    } = named;
    if !is_valid_name(&name) {
        return Err(ConfigError::new(
            format!("{field}.name"),
            format!(
                "{} is not a client name: use lowercase letters, digits, '_' and '-' (1 to {MAX_NAME_LEN})",
                shown(&name)
            ),
        ));
    }
    let from_env = key_env.is_some();
    let key = one_of(field, "key", key, "key_env", key_env, env)?;
    let digest = if from_env {
        // The environment holds the plain key.
        digest_of(&format!("{field}.key_env"), &key).and_then(|d| {
            (!key.starts_with("sha256:")).then_some(d).ok_or_else(|| {
                ConfigError::new(
                    format!("{field}.key_env"),
                    "the environment variable must hold the plain key, not its sha256: digest",
                )
            })
        })?
    } else {
        digest_of(&format!("{field}.key"), &key)?
    };
    if let Some(models) = &models {
        listed(field, "models", models, |model| {
            is_valid_publisher_or_model(model)
                .then_some(())
                .ok_or_else(|| {
                    format!(
                        "{} is not an alias or model id (letters, digits, '.', '_', '@', '-')",
                        shown(model)
                    )
                })
        })?;
    }
    if let Some(projects) = &projects {
        listed(field, "projects", projects, |project| {
            served_projects.contains_key(project).then_some(()).ok_or_else(|| {
                format!(
                    "{} is not a project this proxy serves (vertex_project or a model_list entry's)",
                    shown(project)
                )
            })
        })?;
    }
    for (limit, value) in [("rpm", rpm), ("tpm", tpm)] {
        if value == Some(0) {
            return Err(ConfigError::new(
                format!("{field}.{limit}"),
                "must be at least 1; leave it out for no limit",
            ));
        }
    }
    Ok((
        digest,
        Client {
            name: name.as_str().into(),
            models,
            projects,
            rpm,
            tpm,
            counts_usage: true,
        },
    ))
}

/// Checks each item of a list that must not be empty.
fn listed(
    field: &str,
    list: &str,
    items: &[String],
    check: impl Fn(&str) -> Result<(), String>,
) -> Result<(), ConfigError> {
    if items.is_empty() {
        return Err(ConfigError::new(
            format!("{field}.{list}"),
            "is empty, so the key could call nothing: list at least one, or leave it out for all",
        ));
    }
    for (index, item) in items.iter().enumerate() {
        check(item)
            .map_err(|reason| ConfigError::new(format!("{field}.{list}[{index}]"), reason))?;
    }
    Ok(())
}

fn is_valid_name(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests;
