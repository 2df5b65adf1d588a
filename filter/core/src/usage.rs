//! The token counts Vertex reports at the end of a response, read from a bounded tail of its
//! body so that no response is ever buffered: `usageMetadata` (REST JSON, the last SSE event,
//! a `streamGenerateContent` JSON array) and `usage` (OpenAI-compatible and Anthropic responses).

use serde::Deserialize;

/// How much of a response's end is kept: a usage object and what follows it fit many times.
pub const TAIL_LIMIT: usize = 8 * 1024;

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
        if chunk.len() >= TAIL_LIMIT {
            self.0.clear();
            self.0
                .extend_from_slice(chunk.get(chunk.len() - TAIL_LIMIT..).unwrap_or(chunk));
            return;
        }
        let overflow = (self.0.len() + chunk.len()).saturating_sub(TAIL_LIMIT);
        self.0.drain(..overflow.min(self.0.len()));
        self.0.extend_from_slice(chunk);
    }

    /// The usage the tail's last usage object reports; `None` when it holds none.
    pub fn usage(&self) -> Option<Usage> {
        last_object_after(&self.0, b"\"usageMetadata\"")
            .and_then(|object| serde_json::from_slice::<UsageMetadata>(object).ok())
            .map(Usage::from)
            .or_else(|| {
                last_object_after(&self.0, b"\"usage\"")
                    .and_then(|object| serde_json::from_slice::<OpenAiUsage>(object).ok())
                    .map(Usage::from)
            })
            .filter(|usage| usage.total_tokens > 0)
    }
}

/// The JSON object that follows the last `"key"` and its colon, exactly.
fn last_object_after<'b>(bytes: &'b [u8], key: &[u8]) -> Option<&'b [u8]> {
    let at = bytes.windows(key.len()).rposition(|w| w == key)?;
    let rest = bytes.get(at + key.len()..)?;
    let rest = skip_whitespace(rest).strip_prefix(b":")?;
    let rest = skip_whitespace(rest);
    if rest.first() != Some(&b'{') {
        return None;
    }
    let mut values =
        serde_json::Deserializer::from_slice(rest).into_iter::<serde::de::IgnoredAny>();
    values.next()?.ok()?;
    rest.get(..values.byte_offset())
}

fn skip_whitespace(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// Vertex's `usageMetadata`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    #[serde(default)]
    total_token_count: u64,
}

impl From<UsageMetadata> for Usage {
    fn from(u: UsageMetadata) -> Usage {
        Usage {
            prompt_tokens: u.prompt_token_count,
            response_tokens: u.candidates_token_count,
            total_tokens: u.total_token_count.max(
                u.prompt_token_count
                    .saturating_add(u.candidates_token_count),
            ),
        }
    }
}

/// OpenAI's `usage` (`prompt_tokens`, `completion_tokens`) or Anthropic's (`input_tokens`,
/// `output_tokens`).
#[derive(Deserialize)]
struct OpenAiUsage {
    #[serde(default, alias = "input_tokens")]
    prompt_tokens: u64,
    #[serde(default, alias = "output_tokens")]
    completion_tokens: u64,
    #[serde(default)]
    total_tokens: u64,
}

impl From<OpenAiUsage> for Usage {
    fn from(u: OpenAiUsage) -> Usage {
        Usage {
            prompt_tokens: u.prompt_tokens,
            response_tokens: u.completion_tokens,
            total_tokens: u
                .total_tokens
                .max(u.prompt_tokens.saturating_add(u.completion_tokens)),
        }
    }
}

#[cfg(test)]
mod tests;
