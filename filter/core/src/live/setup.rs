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
    serde_json::to_vec(&message).map_err(|_| not_a_setup())
}

/// The rewritten setup as one masked frame of the client's opcode, ready for upstream.
pub fn encode(payload: &[u8], opcode: Opcode, mask: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, true, opcode, payload, Some(mask));
    out
}

#[cfg(test)]
mod tests;
