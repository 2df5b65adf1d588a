//! Vertex-shaped answers for each model method, deterministic so tests can check them.
use bytes::Bytes;
use serde_json::{json, Value};

/// A made-up but stable token count for a request body.
pub fn prompt_tokens(body: &[u8]) -> u64 {
    body.len() as u64 / 4 + 1
}

/// Output tokens of every emulated answer.
pub const RESPONSE_TOKENS: u64 = 7;

pub fn reply_text(model: &str) -> String {
    format!("Hello from the emulated {model}.")
}

fn usage(prompt: u64, candidates: u64) -> Value {
    json!({
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates,
    })
}

pub fn generate_content(model: &str, body: &[u8]) -> Value {
    json!({
        "candidates": [{
            "content": {"role": "model", "parts": [{"text": reply_text(model)}]},
            "finishReason": "STOP",
        }],
        "usageMetadata": usage(prompt_tokens(body), RESPONSE_TOKENS),
        "modelVersion": model,
        "responseId": "emulated-response",
    })
}

/// The pieces of a streamed `generateContent`; the last carries `finishReason` and the usage.
pub fn generate_content_chunks(model: &str, body: &[u8], chunks: usize) -> Vec<Value> {
    let chunks = chunks.max(1);
    (0..chunks)
        .map(|index| {
            let mut candidate = json!({
                "content": {"role": "model", "parts": [{"text": format!("chunk {index} of {model}. ")}]},
            });
            let mut chunk = json!({"modelVersion": model, "responseId": "emulated-response"});
            if index + 1 == chunks {
                candidate["finishReason"] = json!("STOP");
                chunk["usageMetadata"] = usage(prompt_tokens(body), RESPONSE_TOKENS);
            }
            chunk["candidates"] = json!([candidate]);
            chunk
        })
        .collect()
}

/// Gemini SSE framing: one `data:` line per chunk, CRLF-terminated as Vertex sends it.
pub fn gemini_sse_events(chunks: &[Value]) -> Vec<Bytes> {
    chunks
        .iter()
        .map(|chunk| Bytes::from(format!("data: {chunk}\r\n\r\n")))
        .collect()
}

pub fn count_tokens(body: &[u8]) -> Value {
    let tokens = prompt_tokens(body);
    json!({"totalTokens": tokens, "totalBillableCharacters": tokens * 4})
}

pub fn compute_tokens(body: &[u8]) -> Value {
    let tokens = prompt_tokens(body);
    json!({"tokensInfo": [{
        "tokenIds": (0..tokens).map(|i| i.to_string()).collect::<Vec<_>>(),
        "tokens": (0..tokens).map(|_| "ZW11").collect::<Vec<_>>(),
        "role": "user",
    }]})
}

pub fn embed_content() -> Value {
    json!({"embedding": {"values": [0.125, -0.25, 0.5, 0.0625]}})
}

pub fn predict(model: &str) -> Value {
    json!({"predictions": [{"content": reply_text(model)}], "deployedModelId": "emulated", "model": model})
}

/// An Anthropic Messages answer, as `rawPredict` on an Anthropic model returns it.
pub fn anthropic_message(model: &str, body: &[u8]) -> Value {
    json!({
        "id": "msg_emulated",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": reply_text(model)}],
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": {"input_tokens": prompt_tokens(body), "output_tokens": RESPONSE_TOKENS},
    })
}

fn anthropic_event(name: &str, data: Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// Anthropic's event stream (`message_start` … `message_stop`) grouped into `chunks` sends: the
/// first opens the message, each carries one text delta, the last closes the message.
pub fn anthropic_sse_events(model: &str, body: &[u8], chunks: usize) -> Vec<Bytes> {
    let chunks = chunks.max(1);
    (0..chunks)
        .map(|index| {
            let mut text = String::new();
            if index == 0 {
                text += &anthropic_event(
                    "message_start",
                    json!({"type": "message_start", "message": {
                        "id": "msg_emulated", "type": "message", "role": "assistant", "model": model,
                        "content": [], "stop_reason": null, "stop_sequence": null,
                        "usage": {"input_tokens": prompt_tokens(body), "output_tokens": 1},
                    }}),
                );
                text += &anthropic_event(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": 0,
                           "content_block": {"type": "text", "text": ""}}),
                );
            }
            text += &anthropic_event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0,
                       "delta": {"type": "text_delta", "text": format!("chunk {index} of {model}. ")}}),
            );
            if index + 1 == chunks {
                text += &anthropic_event(
                    "content_block_stop",
                    json!({"type": "content_block_stop", "index": 0}),
                );
                text += &anthropic_event(
                    "message_delta",
                    json!({"type": "message_delta",
                           "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                           "usage": {"output_tokens": RESPONSE_TOKENS}}),
                );
                text += &anthropic_event("message_stop", json!({"type": "message_stop"}));
            }
            Bytes::from(text)
        })
        .collect()
}
