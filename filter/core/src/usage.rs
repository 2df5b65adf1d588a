//! The token counts Vertex reports for a response, read as the body passes so that no response
//! is ever buffered: `usageMetadata` (REST JSON, the last SSE event, a `streamGenerateContent`
//! JSON array) and `usage` (OpenAI-compatible and Anthropic responses), from a bounded tail of
//! the body. Anthropic's stream gives its input tokens in its first event only, so a bounded
//! head is kept too.
//!
//! - `scan`: the usage object and its counts, found in a piece of JSON without parsing the rest.
//! - `counters`: the counters per client and model, with their bound across workers.

pub mod counters;
pub mod scan;

/// How much of a response's end is kept: a usage object and what follows it fit many times.
pub const TAIL_LIMIT: usize = 8 * 1024;
/// How much of a response's start is kept: Anthropic's `message_start` event fits.
pub const HEAD_LIMIT: usize = 2 * 1024;

/// Tokens one response used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub response_tokens: u64,
    pub total_tokens: u64,
}

/// The last `TAIL_LIMIT` bytes of a body, fed chunk by chunk.
#[derive(Default)]
pub struct Tail(Vec<u8>);

impl Tail {
    pub fn push(&mut self, chunk: &[u8]) {
        let end = chunk
            .get(chunk.len().saturating_sub(TAIL_LIMIT)..)
            .unwrap_or(chunk);
        self.0.extend_from_slice(end);
        let overflow = self.0.len().saturating_sub(TAIL_LIMIT);
        self.0.drain(..overflow);
    }
}

/// What a response body shows of its usage: its first `HEAD_LIMIT` bytes and its tail.
#[derive(Default)]
pub struct ResponseUsage {
    head: Vec<u8>,
    tail: Tail,
}

impl ResponseUsage {
    pub fn push(&mut self, chunk: &[u8]) {
        let room = HEAD_LIMIT.saturating_sub(self.head.len());
        if room > 0 {
            self.head
                .extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
        }
        self.tail.push(chunk);
    }

    /// The tail's usage, its prompt tokens taken from the head when the tail's last usage
    /// object has none (Anthropic's `message_delta`); `None` when neither holds a usage.
    pub fn usage(&self) -> Option<Usage> {
        let last = scan::first_and_last(&self.tail.0).1;
        let prompt_tokens = match last {
            Some(usage) if usage.prompt_tokens > 0 => usage.prompt_tokens,
            _ => scan::first_and_last(&self.head)
                .0
                .map_or(0, |first| first.prompt_tokens),
        };
        let last = last.unwrap_or_default();
        let usage = Usage {
            prompt_tokens,
            response_tokens: last.response_tokens,
            total_tokens: last
                .total_tokens
                .max(prompt_tokens.saturating_add(last.response_tokens)),
        };
        (usage.total_tokens > 0).then_some(usage)
    }
}

#[cfg(test)]
mod tests;
