//! The setup rewrite: only `setup.model` changes; every other field is kept (key order may
//! not be). Vertex closes with 1007 for a message it cannot accept and 1008 for one it will
//! not serve; the filter answers the same way.

use super::frame::{encode_frame, Opcode};
use serde_json::Value;

pub const CLOSE_INVALID_PAYLOAD: u16 = 1007;
pub const CLOSE_POLICY_VIOLATION: u16 = 1008;

const NOT_A_SETUP: &str = "the first message must be {\"setup\": {\"model\": ...}}";
const NO_MODEL: &str = "setup.model must name a model: an alias or a Vertex model name";

/// Close the session with `code` and `reason` instead of forwarding the setup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseDecision {
    pub code: u16,
    pub reason: String,
}

impl CloseDecision {
    fn new(code: u16, reason: impl Into<String>) -> Self {
        CloseDecision {
            code,
            reason: reason.into(),
        }
    }
}

/// The setup `payload` with `setup.model` replaced by what `resolve` makes of it.
pub fn rewrite_setup(
    payload: &[u8],
    resolve: impl FnOnce(&str) -> Result<String, String>,
) -> Result<Vec<u8>, CloseDecision> {
    rewrite_checked_setup(payload, resolve, |_| true)
}

/// `rewrite_setup`, and every string in the setup that names a resource `projects/X/…` (RAG
/// corpora, Search datastores, cached content) must name a project `serves` accepts.
pub fn rewrite_checked_setup(
    payload: &[u8],
    resolve: impl FnOnce(&str) -> Result<String, String>,
    serves: impl Fn(&str) -> bool,
) -> Result<Vec<u8>, CloseDecision> {
    let not_a_setup = || CloseDecision::new(CLOSE_INVALID_PAYLOAD, NOT_A_SETUP);
    let mut message: Value = serde_json::from_slice(payload).map_err(|_| not_a_setup())?;
    let setup = message
        .get_mut("setup")
        .and_then(Value::as_object_mut)
        .ok_or_else(not_a_setup)?;
    let Some(Value::String(model)) = setup.get_mut("model") else {
        return Err(CloseDecision::new(CLOSE_POLICY_VIOLATION, NO_MODEL));
    };
    *model = resolve(model).map_err(|reason| CloseDecision::new(CLOSE_POLICY_VIOLATION, reason))?;
    if let Some(project) = message
        .get("setup")
        .and_then(|s| foreign_project(s, &serves))
    {
        return Err(CloseDecision::new(
            CLOSE_POLICY_VIOLATION,
            format!(
                "setup names project {} which this proxy does not serve",
                shown_project(&project)
            ),
        ));
    }
    serde_json::to_vec(&message).map_err(|_| not_a_setup())
}

/// Whether a client message other than the first may carry a `setup`: a cheap look at the
/// bytes first (no `setup` and no escape means no such key), then the top-level keys.
pub fn carries_setup(payload: &[u8]) -> bool {
    let maybe = super::accounting::contains(payload, b"setup") || payload.contains(&b'\\');
    maybe
        && serde_json::from_slice::<TopLevel>(payload).is_ok_and(|message| message.setup.is_some())
}

#[derive(serde::Deserialize)]
struct TopLevel {
    setup: Option<serde::de::IgnoredAny>,
}

/// The first project named by a `projects/X` in any string of `value` that `serves` refuses.
/// `projects/` counts at the start of a string or after a `/` (full resource URLs).
fn foreign_project(value: &Value, serves: &impl Fn(&str) -> bool) -> Option<String> {
    match value {
        Value::String(text) => named_projects(text)
            .find(|project| !serves(project))
            .map(str::to_string),
        Value::Array(items) => items.iter().find_map(|v| foreign_project(v, serves)),
        Value::Object(fields) => fields.values().find_map(|v| foreign_project(v, serves)),
        _ => None,
    }
}

fn named_projects(text: &str) -> impl Iterator<Item = &str> {
    const PROJECTS: &str = "projects/";
    text.match_indices(PROJECTS)
        .filter(|(at, _)| *at == 0 || text.as_bytes().get(at - 1) == Some(&b'/'))
        .filter_map(|(at, _)| text.get(at + PROJECTS.len()..))
        .map(|rest| rest.split(['/', ':', '?', '#']).next().unwrap_or_default())
}

/// A project name as a close reason shows it: printable ASCII, at most 40 characters.
pub(crate) fn shown_project(project: &str) -> String {
    let mut shown: String = project
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(40)
        .collect();
    if shown.is_empty() {
        shown.push_str("\"\"");
    }
    shown
}

/// The rewritten setup as one masked frame of the client's opcode, ready for upstream.
pub fn encode(payload: &[u8], opcode: Opcode, mask: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, true, opcode, payload, Some(mask));
    out
}

#[cfg(test)]
mod tests;
