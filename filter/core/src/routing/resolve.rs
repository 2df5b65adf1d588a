//! From a parsed path to the upstream request: alias resolution, the project allow-list,
//! the credential, and the rewritten `:path` and `:authority`.

use super::host::vertex_host;
use super::path::RestTarget;
use crate::config::{Config, DeploymentId, ResolvedAlias};
use crate::error_response::{ErrorResponse, Status};
use crate::live::model_name;

/// Where a request is forwarded, and with which credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The upstream `:path`, query included.
    pub path: String,
    pub authority: String,
    /// Index into `Config::credentials`.
    pub credential: usize,
    /// For a Live session only: REST calls need nothing past the upgrade, and building it
    /// would cost every request a few allocations.
    pub live: Option<LiveTarget>,
    /// The deployment, when an alias with several was resolved.
    pub deployment: Option<DeploymentId>,
}

/// What a Live session was resolved to, for its setup rewrite and its log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTarget {
    pub alias: Option<String>,
    pub project: String,
    pub location: String,
    /// `publishers/PUB/models/M` when known.
    pub model: Option<String>,
    /// Index into `Config::credentials`: the session's token, fixed at the upgrade.
    pub credential: usize,
    /// The alias's deployment the session was given, when it has several.
    pub deployment: Option<DeploymentId>,
}

pub fn rest(
    config: &Config,
    target: &RestTarget,
    query: Option<&str>,
    deployment: usize,
) -> Result<Destination, ErrorResponse> {
    let entry = config.alias(target.model, deployment);
    let (project, location, publisher, model, credential) = match entry {
        Some(entry) => {
            let a = &entry.alias;
            let project = alias_project(entry)?;
            let publisher = a.publisher.as_deref().unwrap_or(target.publisher);
            (
                project,
                a.location.as_str(),
                publisher,
                a.model.as_str(),
                entry.credential,
            )
        }
        None => {
            let project = match target.project {
                Some(p) => p,
                None => default_project(config)?,
            };
            let location = served_location(config, target.location)?;
            let credential = served_project(config, project)?;
            (
                project,
                location,
                target.publisher,
                target.model,
                credential,
            )
        }
    };
    let mut path = String::with_capacity(96 + model.len() + query.map_or(0, str::len));
    for part in [
        "/",
        target.version,
        "/projects/",
        project,
        "/locations/",
        location,
        "/publishers/",
        publisher,
        "/models/",
        model,
        ":",
        target.method,
    ] {
        path.push_str(part);
    }
    append_query(&mut path, query);
    Ok(Destination {
        path,
        authority: vertex_host(location),
        credential,
        live: None,
        deployment: entry.and_then(|e| e.deployment),
    })
}

/// A Live upgrade: the session's host and credential are fixed now, from `?model=` or the
/// defaults.
pub fn live(
    config: &Config,
    version: Option<&str>,
    model: Option<&str>,
    query: Option<&str>,
) -> Result<Destination, ErrorResponse> {
    live_to(config, version, model, query, 0)
}

/// `live`, with an alias of several deployments resolved to its deployment `deployment`.
pub fn live_to(
    config: &Config,
    version: Option<&str>,
    model: Option<&str>,
    query: Option<&str>,
    deployment: usize,
) -> Result<Destination, ErrorResponse> {
    let target = live_target(config, model, deployment)?;
    let mut path = format!(
        "/ws/google.cloud.aiplatform.{}.LlmBidiService/BidiGenerateContent",
        version.unwrap_or("v1beta1")
    );
    append_query(&mut path, query);
    Ok(Destination {
        path,
        authority: vertex_host(&target.location),
        credential: target.credential,
        deployment: target.deployment,
        live: Some(target),
    })
}

/// `?model=` may be an alias or any form `model_name` reads.
fn live_target(
    config: &Config,
    model: Option<&str>,
    deployment: usize,
) -> Result<LiveTarget, ErrorResponse> {
    let Some(model) = model.filter(|m| !m.is_empty()) else {
        return default_target(config, None);
    };
    if let Some(entry) = config.alias(model, deployment) {
        let a = &entry.alias;
        return Ok(LiveTarget {
            alias: Some(a.name.clone()),
            project: alias_project(entry)?.to_string(),
            location: a.location.clone(),
            model: Some(format!(
                "publishers/{}/models/{}",
                a.publisher.as_deref().unwrap_or("google"),
                a.model
            )),
            credential: entry.credential,
            deployment: entry.deployment,
        });
    }
    let named = model_name::parse(model).map_err(|_| {
        ErrorResponse::new(
            Status::InvalidArgument,
            "the model parameter is not valid: use an alias, a model id, publishers/PUB/models/M or projects/P/locations/L/publishers/PUB/models/M",
        )
    })?;
    let model = format!(
        "publishers/{}/models/{}",
        named.publisher.unwrap_or("google"),
        named.model
    );
    match (named.project, named.location) {
        (Some(project), Some(location)) => Ok(LiveTarget {
            alias: None,
            project: project.to_string(),
            location: served_location(config, Some(location))?.to_string(),
            model: Some(model),
            credential: served_project(config, project)?,
            deployment: None,
        }),
        _ => default_target(config, Some(model)),
    }
}

/// A session in the default project and location.
fn default_target(config: &Config, model: Option<String>) -> Result<LiveTarget, ErrorResponse> {
    let project = default_project(config)?;
    Ok(LiveTarget {
        alias: None,
        project: project.to_string(),
        location: config.default_location.clone(),
        model,
        credential: served_project(config, project)?,
        deployment: None,
    })
}

fn append_query(path: &mut String, query: Option<&str>) {
    if let Some(query) = query {
        path.push('?');
        path.push_str(query);
    }
}

fn alias_project(entry: &ResolvedAlias) -> Result<&str, ErrorResponse> {
    entry.alias.project.as_deref().ok_or_else(project_required)
}

fn default_project(config: &Config) -> Result<&str, ErrorResponse> {
    config
        .default_project
        .as_deref()
        .ok_or_else(project_required)
}

fn project_required() -> ErrorResponse {
    ErrorResponse::new(
        Status::InvalidArgument,
        "Vertex AI project ID is required: use the full path /v1/projects/PROJECT/locations/LOCATION/..., a model alias, or set vertex_project in the plugin config",
    )
}

/// The credential for a project this proxy serves; any other project is refused.
/// The location a request named, if this proxy serves it; else the default location.
fn served_location<'c>(
    config: &'c Config,
    named: Option<&'c str>,
) -> Result<&'c str, ErrorResponse> {
    match named {
        None => Ok(&config.default_location),
        Some(location) if config.locations.contains(location) => Ok(location),
        Some(location) => Err(ErrorResponse::new(
            Status::InvalidArgument,
            format!("location {location:?} is not a Google Cloud region this proxy serves: use a region such as us-central1, or global, us or eu; a region opened since this proxy was built can be added to `locations` in the plugin config"),
        )),
    }
}

fn served_project(config: &Config, project: &str) -> Result<usize, ErrorResponse> {
    config.projects.get(project).copied().ok_or_else(|| {
        ErrorResponse::new(
            Status::PermissionDenied,
            format!("project {project:?} is not served by this proxy"),
        )
    })
}

#[cfg(test)]
mod tests;
