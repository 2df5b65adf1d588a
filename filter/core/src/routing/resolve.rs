//! From a parsed path to the upstream request: alias resolution, the project allow-list,
//! the credential, and the rewritten `:path` and `:authority`.

use super::host::{discovery_host, vertex_host};
use super::path::{OpenAiApi, OpenAiTarget, ResourceTarget, RestTarget};
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
    /// The project the request reaches.
    pub project: Box<str>,
    /// The model as the client named it: the alias if it used one, else the model id; `None`
    /// for a call that names no model.
    pub model: Option<Box<str>>,
    /// For a Live session only: REST calls need nothing past the upgrade, and building it
    /// would cost every request a few allocations.
    pub live: Option<LiveTarget>,
    /// The deployment, when an alias with several was resolved.
    pub deployment: Option<DeploymentId>,
    /// The HTTP methods the call may use.
    pub methods: HttpMethods,
}

/// Which HTTP methods a path form takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpMethods {
    /// Model and custom methods.
    Post,
    /// Model info.
    Get,
    /// Resources: list, get, create, patch, delete, and their custom methods.
    Resource,
    /// A Live session: a GET upgrade (or an HTTP/2 WebSocket `CONNECT`).
    Upgrade,
}

/// An OpenAI-compatible call, resolved once its body's `model` is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAiCall {
    pub version: &'static str,
    pub project: Option<String>,
    pub location: Option<String>,
    pub api: OpenAiApi,
    pub query: Option<String>,
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
    let (colon, method) = match target.method {
        Some(method) => (":", method),
        None => ("", ""),
    };
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
        colon,
        method,
    ] {
        path.push_str(part);
    }
    append_query(&mut path, query);
    Ok(Destination {
        path,
        authority: vertex_host(location),
        credential,
        project: project.into(),
        model: Some(target.model.into()),
        live: None,
        methods: if target.method.is_some() {
            HttpMethods::Post
        } else {
            HttpMethods::Get
        },
        deployment: entry.and_then(|e| e.deployment),
    })
}

/// A resource under `projects/P/locations/L`, the defaults filling what the path left out.
pub fn resource(
    config: &Config,
    target: &ResourceTarget,
    query: Option<&str>,
) -> Result<Destination, ErrorResponse> {
    let project = match target.project {
        Some(p) => p,
        None => default_project(config)?,
    };
    let location = served_location(config, target.location)?;
    let credential = served_project(config, project)?;
    Ok(Destination {
        path: resource_path(target.version, project, location, &target.tail, query),
        authority: vertex_host(location),
        credential,
        project: project.into(),
        model: None,
        live: None,
        methods: if target.post_only {
            HttpMethods::Post
        } else {
            HttpMethods::Resource
        },
        deployment: None,
    })
}

/// Vertex AI Search: the same path on Discovery Engine's host for the location.
pub fn discovery(
    config: &Config,
    target: &ResourceTarget,
    query: Option<&str>,
) -> Result<Destination, ErrorResponse> {
    let (Some(project), Some(location)) = (target.project, target.location) else {
        return Err(project_required());
    };
    let authority = discovery_host(location).ok_or_else(|| {
        ErrorResponse::new(
            Status::NotFound,
            "Vertex AI Search locations are global, us and eu",
        )
    })?;
    let credential = served_project(config, project)?;
    Ok(Destination {
        path: resource_path(target.version, project, location, &target.tail, query),
        authority,
        credential,
        project: project.into(),
        model: None,
        live: None,
        methods: HttpMethods::Resource,
        deployment: None,
    })
}

fn resource_path(
    version: &str,
    project: &str,
    location: &str,
    tail: &str,
    query: Option<&str>,
) -> String {
    let mut path = [
        "/",
        version,
        "/projects/",
        project,
        "/locations/",
        location,
        tail,
    ]
    .concat();
    append_query(&mut path, query);
    path
}

/// An OpenAI-compatible call, before its body is read. The path's project, if any, must be
/// served (a body cannot make an unserved path acceptable).
pub fn openai_call(
    config: &Config,
    target: &OpenAiTarget,
    query: Option<&str>,
) -> Result<OpenAiCall, ErrorResponse> {
    if let Some(project) = target.project {
        served_project(config, project)?;
    }
    Ok(OpenAiCall {
        version: if target.version == "v1" {
            "v1"
        } else {
            "v1beta1"
        },
        project: target.project.map(str::to_string),
        location: target.location.map(str::to_string),
        api: target.api,
        query: query.map(str::to_string),
    })
}

/// Where an OpenAI-compatible call goes once its body's model is known: an alias's entry
/// decides (`alias`), else the path, else the defaults. `model`: the body's model, as the
/// client named it (`google/` removed).
pub fn openai(
    config: &Config,
    call: &OpenAiCall,
    model: Option<&str>,
    alias: Option<&ResolvedAlias>,
) -> Result<Destination, ErrorResponse> {
    let (project, location, credential) = match alias {
        Some(entry) => (
            alias_project(entry)?,
            entry.alias.location.as_str(),
            entry.credential,
        ),
        None => {
            let project = match &call.project {
                Some(p) => p.as_str(),
                None => default_project(config)?,
            };
            let location = served_location(config, call.location.as_deref())?;
            (project, location, served_project(config, project)?)
        }
    };
    let tail = ["/endpoints/openapi/", call.api.path()].concat();
    Ok(Destination {
        path: resource_path(
            call.version,
            project,
            location,
            &tail,
            call.query.as_deref(),
        ),
        authority: vertex_host(location),
        credential,
        project: project.into(),
        model: model.map(Into::into),
        live: None,
        methods: HttpMethods::Post,
        deployment: alias.and_then(|e| e.deployment),
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
    // As for a REST path: the alias or model id `?model=` named.
    let named = model
        .filter(|m| !m.is_empty())
        .map(|m| model_name::parse(m).map_or(m, |named| named.model));
    Ok(Destination {
        path,
        authority: vertex_host(&target.location),
        credential: target.credential,
        project: target.project.as_str().into(),
        model: named.map(Into::into),
        deployment: target.deployment,
        live: Some(target),
        methods: HttpMethods::Upgrade,
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

pub fn served_project(config: &Config, project: &str) -> Result<usize, ErrorResponse> {
    config.projects.get(project).copied().ok_or_else(|| {
        ErrorResponse::new(
            Status::PermissionDenied,
            format!("project {project:?} is not served by this proxy"),
        )
    })
}

#[cfg(test)]
mod tests;
