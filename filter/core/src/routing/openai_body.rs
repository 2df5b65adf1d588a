//! The OpenAI-compatible endpoint's request body: its `model` picks where the call goes, and an
//! alias is rewritten to the model it stands for (`google/<model>`). The one request body the
//! filter reads whole; everything but the `model` value is passed on byte for byte.

use super::resolve::{self, Destination, OpenAiCall};
use crate::config::Config;
use crate::error_response::{ErrorResponse, Status};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The largest body read; a larger one is refused with `413`.
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// Where the call goes, and the body to send instead of the client's (`None`: unchanged).
#[derive(Debug, PartialEq, Eq)]
pub struct OpenAiRequest {
    pub destination: Destination,
    pub body: Option<Vec<u8>>,
}

#[derive(Deserialize)]
struct Top<'a> {
    #[serde(borrow)]
    model: Option<&'a RawValue>,
}

pub fn too_large() -> ErrorResponse {
    ErrorResponse::new(
        Status::PayloadTooLarge,
        format!(
            "the request body is larger than {} MiB",
            MAX_BODY / (1024 * 1024)
        ),
    )
}

fn invalid(why: &str) -> ErrorResponse {
    ErrorResponse::new(
        Status::InvalidArgument,
        format!("invalid request body: {why}"),
    )
}

/// Decide an OpenAI-compatible call from its whole body.
pub fn decide(
    config: &Config,
    call: &OpenAiCall,
    body: &[u8],
) -> Result<OpenAiRequest, ErrorResponse> {
    if body.len() > MAX_BODY {
        return Err(too_large());
    }
    let top: Top = serde_json::from_slice(body)
        .map_err(|_| invalid("expected a JSON object with one \"model\""))?;
    let Some(raw) = top.model else {
        return Ok(OpenAiRequest {
            destination: resolve::openai(config, call, None)?,
            body: None,
        });
    };
    let model: String =
        serde_json::from_str(raw.get()).map_err(|_| invalid("\"model\" must be a string"))?;
    let model = model.as_str();
    let name = model.strip_prefix("google/").unwrap_or(model);
    if let Some(entry) = config.aliases.get(name) {
        let publisher = entry.alias.publisher.as_deref().unwrap_or("google");
        let value = serde_json::to_string(&[publisher, "/", &entry.alias.model].concat())
            .map_err(|_| invalid("\"model\" could not be rewritten"))?;
        let start = (raw.get().as_ptr() as usize).wrapping_sub(body.as_ptr() as usize);
        let end = start.saturating_add(raw.get().len());
        let (Some(before), Some(after)) = (body.get(..start), body.get(end..)) else {
            return Err(invalid("\"model\" could not be rewritten"));
        };
        let mut rewritten = Vec::with_capacity(body.len() + value.len());
        rewritten.extend_from_slice(before);
        rewritten.extend_from_slice(value.as_bytes());
        rewritten.extend_from_slice(after);
        return Ok(OpenAiRequest {
            destination: resolve::openai(config, call, Some(entry))?,
            body: Some(rewritten),
        });
    }
    if let Some(project) = named_project(model) {
        resolve::served_project(config, project)?;
    }
    Ok(OpenAiRequest {
        destination: resolve::openai(config, call, None)?,
        body: None,
    })
}

/// The project a model name like `projects/P/locations/L/endpoints/E` names.
fn named_project(model: &str) -> Option<&str> {
    let (_, after) = model.split_once("projects/")?;
    Some(after.split('/').next().unwrap_or(after))
}

#[cfg(test)]
mod tests;
