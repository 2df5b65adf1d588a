//! Finds the usage objects (`"usageMetadata": {…}` or `"usage": {…}`) in a piece of JSON that may
//! start or end anywhere, and reads their integer counts. A small hand-written scan: it only
//! tracks strings and nesting, so it never parses, allocates or keeps the rest of the body.

use super::Usage;

const KEYS: [&[u8]; 2] = [b"\"usageMetadata\"", b"\"usage\""];

/// The counts read, by name (Vertex, Vertex Live, OpenAI, Anthropic), and their slot: prompt,
/// response or total tokens.
const FIELDS: [(&[u8], usize); 9] = [
    (b"promptTokenCount", 0),
    (b"prompt_tokens", 0),
    (b"input_tokens", 0),
    (b"candidatesTokenCount", 1),
    (b"responseTokenCount", 1),
    (b"completion_tokens", 1),
    (b"output_tokens", 1),
    (b"totalTokenCount", 2),
    (b"total_tokens", 2),
];

/// The first and the last complete usage object in `bytes`.
pub fn first_and_last(bytes: &[u8]) -> (Option<Usage>, Option<Usage>) {
    let (mut first, mut last) = (None, None);
    for (at, &byte) in bytes.iter().enumerate() {
        if byte != b'"' {
            continue;
        }
        if let Some(usage) = usage_at(bytes, at) {
            first = first.or(Some(usage));
            last = Some(usage);
        }
    }
    (first, last)
}

/// The usage object whose key's opening quote is at `at`: a quote not escaped, starting one of
/// `KEYS`, then `:` and a complete object.
pub fn usage_at(bytes: &[u8], at: usize) -> Option<Usage> {
    if at > 0 && bytes.get(at - 1) == Some(&b'\\') {
        return None;
    }
    let rest = bytes.get(at..)?;
    let key = KEYS.iter().find(|key| rest.starts_with(key))?;
    let colon = skip_whitespace(rest, key.len());
    if rest.get(colon) != Some(&b':') {
        return None;
    }
    read_usage(rest.get(skip_whitespace(rest, colon + 1)..)?)
}

/// The counts of the usage object that starts `bytes`, read from the keys at its top level
/// whose values are non-negative integers. `None` when `bytes` does not start with an object
/// or it does not end within `bytes`.
pub fn read_usage(bytes: &[u8]) -> Option<Usage> {
    if bytes.first() != Some(&b'{') {
        return None;
    }
    // Prompt, response and total tokens.
    let mut counts = [0u64; 3];
    let mut depth = 0usize;
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        at += 1;
        match byte {
            b'"' => {
                let start = at;
                while let Some(&b) = bytes.get(at) {
                    if b == b'"' {
                        break;
                    }
                    at += if b == b'\\' { 2 } else { 1 };
                }
                let name = bytes.get(start..at)?;
                at += 1;
                let colon = skip_whitespace(bytes, at);
                if depth != 1 || bytes.get(colon) != Some(&b':') {
                    continue;
                }
                at = skip_whitespace(bytes, colon + 1);
                let mut value: Option<u64> = None;
                while let Some(digit) = bytes.get(at).filter(|b| b.is_ascii_digit()) {
                    let next = value.unwrap_or(0).saturating_mul(10);
                    value = Some(next.saturating_add(u64::from(digit - b'0')));
                    at += 1;
                }
                if let (Some(value), Some((_, slot))) =
                    (value, FIELDS.iter().find(|(field, _)| *field == name))
                {
                    if let Some(count) = counts.get_mut(*slot) {
                        *count = value;
                    }
                }
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    let [prompt_tokens, response_tokens, total] = counts;
                    return Some(Usage {
                        prompt_tokens,
                        response_tokens,
                        total_tokens: total.max(prompt_tokens.saturating_add(response_tokens)),
                    });
                }
            }
            _ => {}
        }
    }
    None
}

fn skip_whitespace(bytes: &[u8], from: usize) -> usize {
    let mut at = from;
    while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}
