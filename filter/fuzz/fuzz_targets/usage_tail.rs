//! `usage::ResponseUsage` (a response's bounded head and tail, and the scan for its usage
//! object) on arbitrary bodies cut into arbitrary pieces: the usage read does not depend on the
//! cuts, its total is at least its prompt and response tokens, and a usage object that ends a
//! body whose start holds no string is read exactly. Never panics.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use vertex_passthrough_core::usage::{ResponseUsage, Usage};

#[derive(Arbitrary, Debug)]
struct Input {
    start: Vec<u8>,
    /// A usage object appended to `start`: prompt, response, total tokens, and the form.
    usage: Option<(u32, u32, u32, bool)>,
    /// Piece lengths the body is delivered in (0 is read as 1); the rest comes in one piece.
    pieces: Vec<u16>,
}

fuzz_target!(|input: Input| {
    let mut body = input.start.clone();
    if let Some((prompt, response, total, openai)) = input.usage {
        let object = if openai {
            format!(
                r#"{{"usage":{{"prompt_tokens":{prompt},"completion_tokens":{response},"total_tokens":{total}}}}}"#
            )
        } else {
            format!(
                r#"{{"usageMetadata":{{"promptTokenCount":{prompt},"candidatesTokenCount":{response},"totalTokenCount":{total}}}}}"#
            )
        };
        body.push(b'\n');
        body.extend_from_slice(object.as_bytes());
    }

    let mut whole = ResponseUsage::default();
    whole.push(&body);
    let mut pieces = ResponseUsage::default();
    let mut at = 0usize;
    for piece in &input.pieces {
        let end = at
            .saturating_add(usize::from(*piece).max(1))
            .min(body.len());
        pieces.push(body.get(at..end).unwrap_or_default());
        at = end;
    }
    pieces.push(body.get(at..).unwrap_or_default());

    let read = whole.usage();
    assert_eq!(read, pieces.usage(), "the usage depends on the cuts");
    if let Some(usage) = read {
        assert!(usage.total_tokens > 0);
        assert!(usage.total_tokens >= usage.prompt_tokens.saturating_add(usage.response_tokens));
    }
    if let Some((prompt, response, total, _)) = input.usage {
        if !input.start.contains(&b'"') {
            let (prompt, response) = (u64::from(prompt), u64::from(response));
            let expected = Usage {
                prompt_tokens: prompt,
                response_tokens: response,
                total_tokens: u64::from(total).max(prompt + response),
            };
            assert_eq!(read, Some(expected).filter(|u| u.total_tokens > 0));
        }
    }
});
