//! From a parsed path to the upstream request: alias resolution, the project allow-list,
//! the credential, and the rewritten `:path` and `:authority`.

use super::host::vertex_host;
use super::path::RestTarget;
use super::segment::{is_valid_location, is_valid_project, is_valid_publisher_or_model};
use crate::config::{Config, ResolvedAlias};
use crate::error_response::{ErrorResponse, Status};

/// Where a request is forwarded, and with which credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// The upstream `:path`, query included.
    pub path: String,
    pub authority: String,
    /// Index into `Config::credentials`.
    pub credential: usize,
    /// For a Live session only: REST calls need nothing past the upgrade, and building it
    /// would cost every request a few allocations.
    pub live: Option<Route>,
}

/// What a Live session was resolved to, for its setup rewrite and its log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub alias: Option<String>,
    pub project: String,
    pub location: String,
    /// `publishers/PUB/models/M` when known.
    pub model: Option<String>,
}

pub fn rest(
    config: &Config,
    target: &RestTarget,
    query: Option<&str>,
) -> Result<Forward, ErrorResponse> {
    let (project, location, publisher, model, credential) = match config.aliases.get(target.model) {
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
            let location = target.location.unwrap_or(&config.default_location);
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
    Ok(Forward {
        path,
        authority: vertex_host(location),
        credential,
        live: None,
    })
}

/// A Live upgrade: the session's host is fixed now, from `?model=` or the defaults.
pub fn live(
    config: &Config,
    version: Option<&str>,
    model: Option<&str>,
    query: Option<&str>,
) -> Result<Forward, ErrorResponse> {
    let route = live_route(config, model)?;
    let credential = match route.alias.as_deref().and_then(|a| config.aliases.get(a)) {
        Some(entry) => entry.credential,
        None => served_project(config, &route.project)?,
    };
    let mut path = format!(
        "/ws/google.cloud.aiplatform.{}.LlmBidiService/BidiGenerateContent",
        version.unwrap_or("v1beta1")
    );
    append_query(&mut path, query);
    Ok(Forward {
        path,
        authority: vertex_host(&route.location),
        credential,
        live: Some(route),
    })
}

/// `?model=` may be an alias, a bare model id, `publishers/PUB/models/M`, or the full
/// `projects/P/locations/L/publishers/PUB/models/M`.
fn live_route(config: &Config, model: Option<&str>) -> Result<Route, ErrorResponse> {
    let defaults = |model: Option<String>| -> Result<Route, ErrorResponse> {
        Ok(Route {
            alias: None,
            project: default_project(config)?.to_string(),
            location: config.default_location.clone(),
            model,
        })
    };
    let Some(model) = model.filter(|m| !m.is_empty()) else {
        return defaults(None);
    };
    if let Some(entry) = config.aliases.get(model) {
        let a = &entry.alias;
        return Ok(Route {
            alias: Some(a.name.clone()),
            project: alias_project(entry)?.to_string(),
            location: a.location.clone(),
            model: Some(format!(
                "publishers/{}/models/{}",
                a.publisher.as_deref().unwrap_or("google"),
                a.model
            )),
        });
    }
    let parts: Vec<&str> = model.split('/').collect();
    let invalid = || {
        ErrorResponse::new(
            Status::InvalidArgument,
            "the model parameter is not valid: use an alias, a model id, publishers/PUB/models/M or projects/P/locations/L/publishers/PUB/models/M",
        )
    };
    match parts.as_slice() {
        [id] if is_valid_publisher_or_model(id) => {
            defaults(Some(format!("publishers/google/models/{id}")))
        }
        ["publishers", publisher, "models", id]
            if is_valid_publisher_or_model(publisher) && is_valid_publisher_or_model(id) =>
        {
            defaults(Some(model.to_string()))
        }
        ["projects", project, "locations", location, "publishers", publisher, "models", id]
            if is_valid_project(project)
                && is_valid_location(location)
                && is_valid_publisher_or_model(publisher)
                && is_valid_publisher_or_model(id) =>
        {
            Ok(Route {
                alias: None,
                project: project.to_string(),
                location: location.to_string(),
                model: Some(format!("publishers/{publisher}/models/{id}")),
            })
        }
        _ => Err(invalid()),
    }
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
