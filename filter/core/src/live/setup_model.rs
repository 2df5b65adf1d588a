//! The model a Live setup names, resolved to the full Vertex name this session may serve
//! (docs/design.md "Requests" → Live setup). The session's host and token were fixed at the upgrade,
//! so a model that needs another location or credential is refused with a reason that says how
//! to connect instead. Reasons end up in a close frame: they are kept under 123 bytes.

use super::model_name::{self, ModelName, ModelNameError};
use crate::config::{Config, ResolvedAlias};
use crate::routing::LiveTarget;

const DEFAULT_PUBLISHER: &str = "google";
const UNKNOWN_FORM: &str = "setup.model must be an alias, a model id, publishers/PUB/models/M or projects/P/locations/L/publishers/PUB/models/M";
const INVALID_SEGMENT: &str = "setup.model is not valid: projects and locations use [a-z0-9-], publishers and models [A-Za-z0-9._@-]";

/// Where the setup goes, and with which credential.
struct SetupTarget<'a> {
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
    session: &LiveTarget,
    model: &str,
) -> Result<String, String> {
    let named = model_name::parse(model).map_err(|error| {
        match error {
            ModelNameError::UnknownForm => UNKNOWN_FORM,
            ModelNameError::InvalidSegment => INVALID_SEGMENT,
        }
        .to_string()
    })?;
    // An alias anywhere wins, even in the M position of a full name: the SDK sends that form.
    // The session's own alias is the deployment it was given at the upgrade.
    let deployment = match (&session.alias, session.deployment) {
        (Some(alias), Some(id)) if alias == named.model => id.index,
        _ => 0,
    };
    let target = match config.alias(named.model, deployment) {
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
    if session.credential != target.credential {
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

/// The alias entry supplies model, project, location and credential; its publisher wins over
/// one the setup gave.
fn from_alias<'a>(
    entry: &'a ResolvedAlias,
    publisher: Option<&'a str>,
) -> Result<SetupTarget<'a>, String> {
    let alias = &entry.alias;
    let project = alias.project.as_deref().ok_or_else(|| {
        format!(
            "alias {} has no project: set vertex_project in the plugin config",
            alias.name
        )
    })?;
    Ok(SetupTarget {
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
    session: &'a LiveTarget,
    named: &ModelName<'a>,
) -> Result<SetupTarget<'a>, String> {
    let project = named.project.unwrap_or(&session.project);
    let credential = config
        .projects
        .get(project)
        .copied()
        .ok_or_else(|| format!("project {project} is not served by this proxy"))?;
    Ok(SetupTarget {
        alias: None,
        project,
        location: named.location.unwrap_or(&session.location),
        publisher: named.publisher.unwrap_or(DEFAULT_PUBLISHER),
        model: named.model,
        credential,
    })
}

#[cfg(test)]
mod tests;
