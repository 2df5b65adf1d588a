//! The model a Live setup names, resolved to the full Vertex name this session may serve
//! (DESIGN.md "Requests" → Live setup). The session's host and token were fixed at the upgrade,
//! so a model that needs another location or credential is refused with a reason that says how
//! to connect instead. Reasons end up in a close frame: they are kept under 123 bytes.

use crate::config::{Config, ResolvedAlias};
use crate::routing::segment::{is_valid_location, is_valid_project, is_valid_publisher_or_model};
use crate::routing::Route;

const DEFAULT_PUBLISHER: &str = "google";
const UNKNOWN_FORM: &str = "setup.model must be an alias, a model id, publishers/PUB/models/M or projects/P/locations/L/publishers/PUB/models/M";
const INVALID_SEGMENT: &str = "setup.model is not valid: projects and locations use [a-z0-9-], publishers and models [A-Za-z0-9._@-]";

/// What the setup's `model` names, before aliases and the session fill in the rest.
struct Named<'a> {
    project: Option<&'a str>,
    location: Option<&'a str>,
    publisher: Option<&'a str>,
    model: &'a str,
}

/// Where the setup goes, and with which credential.
struct Target<'a> {
    alias: Option<&'a str>,
    project: &'a str,
    location: &'a str,
    publisher: &'a str,
    model: &'a str,
    credential: usize,
}

/// `projects/P/locations/L/publishers/PUB/models/M` for `model`, or why the session must close.
pub fn resolve_setup_model(
    config: &Config,
    session: &Route,
    model: &str,
) -> Result<String, String> {
    let named = parse(model)?;
    // An alias anywhere wins, even in the M position of a full name: the SDK sends that form.
    let target = match config.aliases.get(named.model) {
        Some(entry) => from_alias(entry, named.publisher)?,
        None => from_name(config, session, &named)?,
    };
    if target.location != session.location {
        return Err(match target.alias {
            Some(alias) => format!(
                "model {alias} is served in {} but this session is connected to {}; connect with ?model={alias}",
                target.location, session.location
            ),
            None => format!(
                "model location {} is not this session's ({}); connect with ?model=ALIAS for {}",
                target.location, session.location, target.location
            ),
        });
    }
    if session_credential(config, session) != Some(target.credential) {
        return Err(format!(
            "model {} needs another credential than this session; connect with ?model={}",
            target.alias.unwrap_or(target.model),
            target.alias.unwrap_or("ALIAS")
        ));
    }
    let mut full = String::with_capacity(
        40 + target.project.len()
            + target.location.len()
            + target.publisher.len()
            + target.model.len(),
    );
    for part in [
        "projects/",
        target.project,
        "/locations/",
        target.location,
        "/publishers/",
        target.publisher,
        "/models/",
        target.model,
    ] {
        full.push_str(part);
    }
    Ok(full)
}

fn parse(model: &str) -> Result<Named<'_>, String> {
    let parts: Vec<&str> = model.split('/').collect();
    let named = match parts.as_slice() {
        [model] | ["models", model] => Named {
            project: None,
            location: None,
            publisher: None,
            model,
        },
        ["publishers", publisher, "models", model] => Named {
            project: None,
            location: None,
            publisher: Some(publisher),
            model,
        },
        ["projects", project, "locations", location, "publishers", publisher, "models", model] => {
            Named {
                project: Some(project),
                location: Some(location),
                publisher: Some(publisher),
                model,
            }
        }
        _ => return Err(UNKNOWN_FORM.to_string()),
    };
    let valid = is_valid_publisher_or_model(named.model)
        && named.publisher.is_none_or(is_valid_publisher_or_model)
        && named.project.is_none_or(is_valid_project)
        && named.location.is_none_or(is_valid_location);
    if valid {
        Ok(named)
    } else {
        Err(INVALID_SEGMENT.to_string())
    }
}

/// The alias entry supplies model, project, location and credential; its publisher wins over
/// one the setup gave.
fn from_alias<'a>(
    entry: &'a ResolvedAlias,
    publisher: Option<&'a str>,
) -> Result<Target<'a>, String> {
    let alias = &entry.alias;
    let project = alias.project.as_deref().ok_or_else(|| {
        format!(
            "alias {} has no project: set vertex_project in the plugin config",
            alias.name
        )
    })?;
    Ok(Target {
        alias: Some(&alias.name),
        project,
        location: &alias.location,
        publisher: alias
            .publisher
            .as_deref()
            .or(publisher)
            .unwrap_or(DEFAULT_PUBLISHER),
        model: &alias.model,
        credential: entry.credential,
    })
}

/// A model that is not an alias: completed with the session's project and location, and
/// allowed only in a project this proxy serves.
fn from_name<'a>(
    config: &'a Config,
    session: &'a Route,
    named: &Named<'a>,
) -> Result<Target<'a>, String> {
    let project = named.project.unwrap_or(&session.project);
    let credential = config
        .projects
        .get(project)
        .copied()
        .ok_or_else(|| format!("project {project} is not served by this proxy"))?;
    Ok(Target {
        alias: None,
        project,
        location: named.location.unwrap_or(&session.location),
        publisher: named.publisher.unwrap_or(DEFAULT_PUBLISHER),
        model: named.model,
        credential,
    })
}

/// The credential the upgrade chose (`routing::resolve::live`): the alias's, else the project's.
fn session_credential(config: &Config, session: &Route) -> Option<usize> {
    match session.alias.as_deref().and_then(|a| config.aliases.get(a)) {
        Some(entry) => Some(entry.credential),
        None => config.projects.get(&session.project).copied(),
    }
}

#[cfg(test)]
mod tests;
