//! Per-direction accounting of a Live session: complete data messages, their payload bytes,
//! and, from the server, the `usageMetadata` token counts. Fed every chunk as it passes; it
//! never holds the stream back, copes with frames cut at any byte, and stops counting (without
//! complaint) if the stream stops making sense: the peers will close it themselves.

use super::frame::{apply_mask, parse_header, FrameHeader, Opcode, MAX_HEADER_LEN};
use crate::usage::{scan, Usage};

/// The largest server message kept to look for `usageMetadata`; larger ones (audio) are not.
pub const USAGE_MESSAGE_CAP: usize = 64 * 1024;
const USAGE_KEY: &[u8] = b"usageMetadata";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Masked frames; only messages and bytes are counted.
    ClientToServer,
    /// Unmasked frames; `usageMetadata` is summed too.
    ServerToClient,
}

/// Counters for one direction. Bytes are data-message payload bytes (no headers, no control
/// frames), counted as they pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub messages: u64,
    pub bytes: u64,
    pub prompt_tokens: u64,
    pub response_tokens: u64,
    pub total_tokens: u64,
}

impl Totals {
    pub fn is_zero(&self) -> bool {
        *self == Totals::default()
    }

    fn since(&self, earlier: &Totals) -> Totals {
        Totals {
            messages: self.messages.saturating_sub(earlier.messages),
            bytes: self.bytes.saturating_sub(earlier.bytes),
            prompt_tokens: self.prompt_tokens.saturating_sub(earlier.prompt_tokens),
            response_tokens: self.response_tokens.saturating_sub(earlier.response_tokens),
            total_tokens: self.total_tokens.saturating_sub(earlier.total_tokens),
        }
    }
}

/// The frame whose payload is passing.
#[derive(Clone, Copy)]
struct Payload {
    remaining: u64,
    /// Bytes of this frame's payload already seen, for unmasking in pieces.
    seen: u64,
    mask: Option<[u8; 4]>,
    data: bool,
    /// A data frame that ends its message.
    last: bool,
    /// A whole message in one frame (not a continuation): it may be read in place.
    whole_message: bool,
}

pub struct LiveObserver {
    read_usage: bool,
    header: [u8; MAX_HEADER_LEN],
    header_len: usize,
    payload: Option<Payload>,
    in_message: bool,
    /// The current server message, while it fits `USAGE_MESSAGE_CAP`.
    message: Vec<u8>,
    message_too_large: bool,
    stopped: bool,
    totals: Totals,
    reported: Totals,
}

impl LiveObserver {
    /// Start at a frame boundary: right after the upgrade, or after the rewritten setup.
    pub fn new(direction: Direction) -> Self {
        LiveObserver {
            read_usage: direction == Direction::ServerToClient,
            header: [0; MAX_HEADER_LEN],
            header_len: 0,
            payload: None,
            in_message: false,
            message: Vec::new(),
            message_too_large: false,
            stopped: false,
            totals: Totals::default(),
            reported: Totals::default(),
        }
    }

    /// Everything counted so far.
    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// What was counted since the last call, for the adapter to add to Envoy's counters.
    pub fn take_increments(&mut self) -> Totals {
        let increments = self.totals.since(&self.reported);
        self.reported = self.totals;
        increments
    }

    /// The next bytes of the stream, in order.
    pub fn observe(&mut self, chunk: &[u8]) {
        let mut rest = chunk;
        while !rest.is_empty() && !self.stopped {
            rest = match self.payload {
                None => self.read_header(rest),
                Some(payload) => self.read_payload(payload, rest),
            };
        }
    }

    fn read_header<'a>(&mut self, chunk: &'a [u8]) -> &'a [u8] {
        let had = self.header_len;
        let take = (MAX_HEADER_LEN - had).min(chunk.len());
        let (head, _) = chunk.split_at_checked(take).unwrap_or((chunk, &[]));
        if let Some(slot) = self.header.get_mut(had..had + head.len()) {
            slot.copy_from_slice(head);
        }
        let buffered = self.header.get(..had + head.len()).unwrap_or(&[]);
        match parse_header(buffered) {
            Ok(Some(header)) => {
                self.header_len = 0;
                self.start_frame(&header);
                chunk
                    .get(header.header_len.saturating_sub(had)..)
                    .unwrap_or(&[])
            }
            Ok(None) => {
                self.header_len += head.len();
                chunk.get(head.len()..).unwrap_or(&[])
            }
            Err(_) => {
                self.stopped = true;
                &[]
            }
        }
    }

    fn start_frame(&mut self, header: &FrameHeader) {
        let data = !header.opcode.is_control();
        let starts_message = matches!(header.opcode, Opcode::Text | Opcode::Binary);
        if data {
            if starts_message == self.in_message {
                // A continuation with nothing to continue, or a message inside a message.
                self.stopped = true;
                return;
            }
            if starts_message {
                self.in_message = true;
                self.message.clear();
                self.message_too_large = false;
            }
        }
        let payload = Payload {
            remaining: header.payload_len,
            seen: 0,
            mask: header.mask,
            data,
            last: data && header.fin,
            whole_message: starts_message && header.fin,
        };
        if payload.remaining == 0 {
            self.end_frame(payload, None);
        } else {
            self.payload = Some(payload);
        }
    }

    fn read_payload<'a>(&mut self, mut payload: Payload, chunk: &'a [u8]) -> &'a [u8] {
        let take = usize::try_from(payload.remaining).map_or(chunk.len(), |r| r.min(chunk.len()));
        let (part, rest) = chunk.split_at_checked(take).unwrap_or((chunk, &[]));
        let whole =
            payload.whole_message && payload.seen == 0 && part.len() as u64 == payload.remaining;
        if payload.data {
            self.totals.bytes = self.totals.bytes.saturating_add(part.len() as u64);
        }
        // A whole unmasked message in this chunk is read where it lies; anything else is copied.
        let in_place = whole && payload.mask.is_none();
        if self.read_usage && payload.data && !in_place {
            self.keep(part, payload.mask, payload.seen);
        }
        payload.remaining -= part.len() as u64;
        payload.seen += part.len() as u64;
        if payload.remaining == 0 {
            self.end_frame(payload, in_place.then_some(part));
        } else {
            self.payload = Some(payload);
        }
        rest
    }

    fn keep(&mut self, part: &[u8], mask: Option<[u8; 4]>, seen: u64) {
        if self.message_too_large {
            return;
        }
        if self.message.len() + part.len() > USAGE_MESSAGE_CAP {
            self.message_too_large = true;
            self.message.clear();
            return;
        }
        let start = self.message.len();
        self.message.extend_from_slice(part);
        if let (Some(key), Some(kept)) = (mask, self.message.get_mut(start..)) {
            apply_mask(kept, key, seen);
        }
    }

    /// `in_place`: the whole message, when it was not copied.
    fn end_frame(&mut self, payload: Payload, in_place: Option<&[u8]>) {
        self.payload = None;
        if !payload.last {
            return;
        }
        self.in_message = false;
        self.totals.messages = self.totals.messages.saturating_add(1);
        if !self.read_usage {
            return;
        }
        let message = match in_place {
            Some(message) => Some(message),
            None if self.message_too_large => None,
            None => Some(self.message.as_slice()),
        };
        if let Some(usage) = message.and_then(usage_in) {
            let totals = &mut self.totals;
            totals.prompt_tokens = totals.prompt_tokens.saturating_add(usage.prompt_tokens);
            totals.response_tokens = totals.response_tokens.saturating_add(usage.response_tokens);
            totals.total_tokens = totals.total_tokens.saturating_add(usage.total_tokens);
        }
        self.message.clear();
    }
}

/// The message's `usageMetadata`, read where its name appears, when the message fits the cap
/// (`usage::scan`: Vertex Live names the output tokens `responseTokenCount`, the Gemini API
/// `candidatesTokenCount`).
fn usage_in(message: &[u8]) -> Option<Usage> {
    if message.len() > USAGE_MESSAGE_CAP {
        return None;
    }
    let mut from = 0;
    while let Some(at) = find(message, USAGE_KEY, from) {
        // The key's opening quote.
        if let Some(usage) = at
            .checked_sub(1)
            .and_then(|quote| scan::usage_at(message, quote))
        {
            return Some(usage);
        }
        from = at + 1;
    }
    None
}

/// Whether `needle` occurs in `haystack`.
pub(super) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle, 0).is_some()
}

/// Where `needle` first occurs in `haystack` at or after `from`: candidates are found by their
/// first byte, so most bytes cost one comparison.
fn find(haystack: &[u8], needle: &[u8], mut from: usize) -> Option<usize> {
    let Some((&first, rest)) = needle.split_first() else {
        return Some(from);
    };
    while let Some(offset) = haystack
        .get(from..)
        .and_then(|tail| tail.iter().position(|&b| b == first))
    {
        let start = from + offset + 1;
        if haystack.get(start..start + rest.len()) == Some(rest) {
            return Some(start - 1);
        }
        from = start;
    }
    None
}

#[cfg(test)]
mod tests;
