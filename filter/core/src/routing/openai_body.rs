//! The OpenAI-compatible endpoint's request body: its `model` picks where the call goes, and an
//! alias is rewritten to the model it stands for (`google/<model>`). The one request body the
//! filter reads whole; everything but the `model` value is passed on byte for byte.

use super::resolve::{self, Destination, OpenAiCall};
use crate::config::{Config, ResolvedAlias};
use crate::error_response::{ErrorResponse, Status};
use crate::segment::is_valid_publisher_or_model;
use serde_json::Value;

/// The largest body read; a larger one is refused with `413`.
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// Where the call goes, and the body to send instead of the client's (`None`: unchanged).
#[derive(Debug, PartialEq, Eq)]
pub struct OpenAiRequest {
    pub destination: Destination,
    pub body: Option<Vec<u8>>,
}

pub fn too_large() -> ErrorResponse {
    ErrorResponse::new(
        Status::PayloadTooLarge,
        "the request body is larger than 8 MiB",
    )
}

fn invalid(why: &str) -> ErrorResponse {
    ErrorResponse::new(
        Status::InvalidArgument,
        format!("invalid request body: {why}"),
    )
}

/// Decide an OpenAI-compatible call from its whole body. `pick` chooses the deployment of an
/// alias with several (given the pool's index, it returns the deployment's).
pub fn decide(
    config: &Config,
    call: &OpenAiCall,
    body: &[u8],
    pick: impl FnOnce(usize) -> usize,
) -> Result<OpenAiRequest, ErrorResponse> {
    if body.len() > MAX_BODY {
        return Err(too_large());
    }
    let shape = || invalid("expected a JSON object with one string \"model\"");
    let top: Value = serde_json::from_slice(body).map_err(|_| shape())?;
    let span = match top.as_object().map(|o| o.get("model")) {
        Some(Some(Value::String(_))) => Some(model_span(body).ok_or_else(shape)?),
        Some(None | Some(Value::Null)) => None,
        _ => return Err(shape()),
    };
    let Some(model) = top.get("model").and_then(Value::as_str) else {
        return Ok(OpenAiRequest {
            destination: resolve::openai(config, call, None, None)?,
            body: None,
        });
    };
    // The model names the call in Envoy's headers and access log: nothing but segments.
    if !is_valid_model_name(model) {
        return Err(invalid(
            "\"model\" must be an alias or a model id: letters, digits, '.', '_', '@' and '-', in segments separated by '/'",
        ));
    }
    let name = model.strip_prefix("google/").unwrap_or(model);
    let deployment = |first: &ResolvedAlias| first.deployment.map_or(0, |id| pick(id.pool));
    if let Some(entry) = config
        .aliases
        .get(name)
        .and_then(|first| config.alias(name, deployment(first)))
    {
        let publisher = entry.alias.publisher.as_deref().unwrap_or("google");
        let value = Value::String([publisher, "/", &entry.alias.model].concat()).to_string();
        let rewritten = span
            .and_then(|(start, end)| Some((body.get(..start)?, body.get(end..)?)))
            .map(|(before, after)| [before, value.as_bytes(), after].concat())
            .ok_or_else(|| invalid("\"model\" could not be rewritten"))?;
        return Ok(OpenAiRequest {
            destination: resolve::openai(config, call, Some(name), Some(entry))?,
            body: Some(rewritten),
        });
    }
    if let Some(project) = named_project(model) {
        resolve::served_project(config, project)?;
    }
    Ok(OpenAiRequest {
        destination: resolve::openai(config, call, Some(name), None)?,
        body: None,
    })
}

/// Where the top-level `"model"` string value lies in `body`, quotes included: a scan of a
/// JSON object serde has already accepted, so only strings and nesting need following. `None`
/// when the object names `model` twice (parsers differ on which one counts).
fn model_span(body: &[u8]) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let mut at = 0;
    let mut expect_key = false;
    let mut after_model_key = false;
    let mut span = None;
    while let Some(&byte) = body.get(at) {
        match byte {
            b'"' => {
                let end = string_end(body, at)?;
                if depth == 1 && expect_key {
                    after_model_key = is_model_key(body.get(at..end)?);
                    expect_key = false;
                } else if depth == 1 && after_model_key {
                    if span.is_some() {
                        return None;
                    }
                    span = Some((at, end));
                    after_model_key = false;
                }
                at = end;
                continue;
            }
            b'{' | b'[' => {
                depth += 1;
                expect_key = depth == 1 && byte == b'{';
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' if depth == 1 => {
                expect_key = true;
                after_model_key = false;
            }
            _ => {}
        }
        at += 1;
    }
    span
}

/// The index just past the string that opens at `start`.
fn string_end(body: &[u8], start: usize) -> Option<usize> {
    let mut at = start + 1;
    loop {
        match body.get(at)? {
            b'\\' => at += 2,
            b'"' => return Some(at + 1),
            _ => at += 1,
        }
    }
}

/// A key, quotes included, that reads `model` (escapes decoded).
fn is_model_key(raw: &[u8]) -> bool {
    raw == b"\"model\""
        || (raw.contains(&b'\\')
            && serde_json::from_slice::<Value>(raw).is_ok_and(|key| key == "model"))
}

/// An alias, a model id (`google/gemini-2.5-flash`, `meta/llama-…`) or an endpoint's name
/// (`projects/P/locations/L/endpoints/E`): `/`-separated segments of a model's characters.
fn is_valid_model_name(model: &str) -> bool {
    model.split('/').all(is_valid_publisher_or_model)
}

/// The project a model name like `projects/P/locations/L/endpoints/E` names.
fn named_project(model: &str) -> Option<&str> {
    let (_, after) = model.split_once("projects/")?;
    Some(after.split('/').next().unwrap_or(after))
}

#[cfg(test)]
mod tests;
