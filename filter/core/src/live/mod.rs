//! The Gemini Live API's WebSocket stream, once the upgrade has gone through.
//!
//! - `session`: one session's phases, from the first message to the close.
//! - `frame`: RFC 6455 frame headers, masking, and the frames the filter writes itself.
//! - `first_message`: the client's first data message, read from the bytes buffered so far.
//! - `model_name`: the forms a Live model name takes, in `?model=` and in the setup.
//! - `setup` and `setup_model`: the setup rewrite (docs/design.md "Requests" → Live setup).
//! - `client_gate`: the client's later messages: setups checked, nothing after its Close.
//! - `accounting`: per-direction message, byte and `usageMetadata` counters.

pub mod accounting;
pub mod client_gate;
pub mod first_message;
pub mod frame;
pub mod model_name;
pub mod session;
pub mod setup;
pub mod setup_model;

#[cfg(test)]
pub(crate) mod test_frames;

pub use accounting::{Direction, LiveObserver, Totals};
pub use client_gate::{ClientGate, GateStep};
pub use first_message::{read_first_message, FirstMessage, FirstMessageReader};
pub use frame::{close_frame, encode_frame, parse_header, FrameError, FrameHeader, Opcode};
pub use setup::{carries_setup, rewrite_checked_setup, rewrite_setup, CloseDecision};
pub use setup_model::resolve_setup_model;
