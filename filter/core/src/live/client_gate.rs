//! The client's stream after its first message: each data message is let through once it is
//! complete, so one that carries a `setup` is checked before any of it leaves; after the
//! client's Close frame nothing more is let through.
//!
//! Frames pass as the client wrote them. Bytes of a message not yet complete are held here (not
//! in Envoy's buffer, so the complete frames before them can go on at once), up to a limit.

use super::frame::{apply_mask, parse_header, Opcode};
use super::setup::CloseDecision;

/// Close code for a message over the limit.
pub const CLOSE_TOO_BIG: u16 = 1009;

/// The payload buffer is kept between messages up to this capacity.
const KEPT_PAYLOAD: usize = 64 * 1024;

/// What to do with a message: keep it, replace its payload (same opcode), or close.
pub type Check<'c> = dyn FnMut(&[u8]) -> Result<Option<Vec<u8>>, CloseDecision> + 'c;

/// What the caller forwards for the chunk it fed in.
#[derive(Debug, PartialEq, Eq)]
pub enum GateStep {
    /// The chunk as it is.
    Pass,
    /// These bytes instead (possibly none).
    Replace(Vec<u8>),
    /// These bytes, then the session is refused with the decision (the caller writes the close).
    Refuse(Vec<u8>, CloseDecision),
}

pub struct ClientGate {
    limit: usize,
    /// Bytes fed but not yet let through; they start at a frame boundary.
    held: Vec<u8>,
    closed: bool,
    /// The unmasked payload of the message being checked, kept between messages so a message
    /// costs no allocation.
    payload: Vec<u8>,
}

/// Where the scan of the bytes stopped.
enum Scan {
    /// Everything up to `forward_end` may go (with `edits`); the rest is held.
    Partial,
    /// A Close frame ends at `forward_end`: nothing after it goes.
    Closed,
    Refused(CloseDecision),
}

/// A message whose payload the check replaced: bytes `start..end` become `frame`.
struct Edit {
    start: usize,
    end: usize,
    frame: Vec<u8>,
}

impl ClientGate {
    /// `limit` bounds the bytes held for one incomplete message.
    pub fn new(limit: usize) -> ClientGate {
        ClientGate {
            limit,
            held: Vec::new(),
            closed: false,
            payload: Vec::new(),
        }
    }

    /// The next client bytes, in order. `mask` gives a masking key for a frame the check
    /// rewrote.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        check: &mut Check<'_>,
        mask: &mut dyn FnMut() -> [u8; 4],
    ) -> GateStep {
        if self.closed {
            return GateStep::Replace(Vec::new());
        }
        let held = std::mem::take(&mut self.held);
        let joined;
        let bytes: &[u8] = if held.is_empty() {
            chunk
        } else {
            joined = [held.as_slice(), chunk].concat();
            &joined
        };
        let mut edits = Vec::new();
        let (scan, forward_end) = scan(bytes, check, mask, &mut edits, &mut self.payload);
        let forwarded = || apply_edits(bytes.get(..forward_end).unwrap_or_default(), &edits);
        match scan {
            Scan::Refused(decision) => {
                self.closed = true;
                GateStep::Refuse(forwarded(), decision)
            }
            Scan::Closed => {
                self.closed = true;
                if forward_end == bytes.len() && edits.is_empty() && held.is_empty() {
                    GateStep::Pass
                } else {
                    GateStep::Replace(forwarded())
                }
            }
            Scan::Partial => {
                let rest = bytes.get(forward_end..).unwrap_or_default();
                if rest.len() > self.limit {
                    self.closed = true;
                    return GateStep::Refuse(
                        forwarded(),
                        CloseDecision {
                            code: CLOSE_TOO_BIG,
                            reason: format!(
                                "a client message must be at most {} MiB",
                                self.limit / (1024 * 1024)
                            ),
                        },
                    );
                }
                self.held = rest.to_vec();
                if self.held.is_empty() && edits.is_empty() && held.is_empty() {
                    GateStep::Pass
                } else {
                    GateStep::Replace(forwarded())
                }
            }
        }
    }
}

/// Reads whole frames from the start of `bytes` and returns how far they may be let through.
fn scan(
    bytes: &[u8],
    check: &mut Check<'_>,
    mask: &mut dyn FnMut() -> [u8; 4],
    edits: &mut Vec<Edit>,
    payload: &mut Vec<u8>,
) -> (Scan, usize) {
    let mut at = 0;
    // Where the message being read began: nothing from here on goes before it is complete.
    let mut message_start: Option<usize> = None;
    let mut opcode = Opcode::Text;
    loop {
        let ready = message_start.unwrap_or(at);
        let Some(rest) = bytes.get(at..) else {
            return (Scan::Partial, ready);
        };
        let header = match parse_header(rest) {
            Ok(Some(header)) => header,
            Ok(None) => return (Scan::Partial, ready),
            Err(e) => return (Scan::Refused(protocol_error(e.reason())), ready),
        };
        let end =
            usize::try_from((at as u64).saturating_add(header.frame_len())).unwrap_or(usize::MAX);
        if bytes.len() < end {
            return (Scan::Partial, ready);
        }
        let frame_start = at;
        at = end;
        match header.opcode {
            Opcode::Close => return (Scan::Closed, end),
            Opcode::Ping | Opcode::Pong => continue,
            Opcode::Text | Opcode::Binary if message_start.is_some() => {
                return (
                    Scan::Refused(protocol_error(
                        "a new message began before the previous one ended",
                    )),
                    ready,
                )
            }
            Opcode::Text | Opcode::Binary => {
                message_start = Some(frame_start);
                opcode = header.opcode;
            }
            Opcode::Continuation if message_start.is_none() => {
                return (
                    Scan::Refused(protocol_error(
                        "a continuation frame came before any message",
                    )),
                    ready,
                )
            }
            Opcode::Continuation => {}
        }
        if !header.fin {
            continue;
        }
        let start = message_start.take().unwrap_or(frame_start);
        let range = bytes.get(start..end).unwrap_or_default();
        payload_of(range, payload);
        let checked = check(payload);
        if payload.capacity() > KEPT_PAYLOAD {
            // A large message's buffer is not kept for the rest of the session.
            *payload = Vec::new();
        }
        match checked {
            Ok(None) => {}
            Ok(Some(payload)) => {
                let mut frame = Vec::new();
                super::frame::encode_frame(&mut frame, true, opcode, &payload, Some(mask()));
                edits.push(Edit { start, end, frame });
            }
            Err(decision) => return (Scan::Refused(decision), start),
        }
    }
}

/// The unmasked payload of the data frames in `frames` (one whole message, with any control
/// frames between its fragments), written over `payload`.
fn payload_of(frames: &[u8], payload: &mut Vec<u8>) {
    payload.clear();
    let mut rest = frames;
    while let Ok(Some(header)) = parse_header(rest) {
        let len = usize::try_from(header.frame_len()).unwrap_or(usize::MAX);
        let Some(frame) = rest.get(..len) else {
            break;
        };
        if !header.opcode.is_control() {
            let start = payload.len();
            payload.extend_from_slice(frame.get(header.header_len..).unwrap_or_default());
            if let (Some(key), Some(added)) = (header.mask, payload.get_mut(start..)) {
                apply_mask(added, key, 0);
            }
        }
        rest = rest.get(len..).unwrap_or_default();
    }
}

fn apply_edits(bytes: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    for edit in edits {
        out.extend_from_slice(bytes.get(at..edit.start).unwrap_or_default());
        out.extend_from_slice(&edit.frame);
        at = edit.end;
    }
    out.extend_from_slice(bytes.get(at..).unwrap_or_default());
    out
}

fn protocol_error(reason: &str) -> CloseDecision {
    CloseDecision {
        code: 1002,
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests;
