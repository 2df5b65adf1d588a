//! What the emulated Live API answers to each client message: the setup handshake, model turns
//! with usage, the `goAway` test hook, and the close codes Vertex uses for bad input.
use super::vertex_route::parse_model_name;
use serde_json::{json, Value};

/// The Live API closes with 1007 for a message it cannot accept, 1008 for one it will not serve.
pub const CLOSE_INVALID_PAYLOAD: u16 = 1007;
pub const CLOSE_POLICY_VIOLATION: u16 = 1008;
pub const CLOSE_NORMAL: u16 = 1000;

/// Output tokens reported for every turn.
pub const LIVE_RESPONSE_TOKENS: u64 = 7;

/// The bytes answered to a binary client message: same length, reversed and XOR 0x5A, so a test
/// can check byte-exact delivery in both directions.
pub fn live_echo(payload: &[u8]) -> Vec<u8> {
    payload.iter().rev().map(|byte| byte ^ 0x5A).collect()
}

/// Prompt tokens reported for a client message of `payload_len` bytes.
pub fn live_prompt_tokens(payload_len: usize) -> u64 {
    payload_len as u64 / 100 + 1
}

fn usage_metadata(payload_len: usize) -> String {
    let prompt = live_prompt_tokens(payload_len);
    json!({"usageMetadata": {
        "promptTokenCount": prompt,
        "responseTokenCount": LIVE_RESPONSE_TOKENS,
        "totalTokenCount": prompt + LIVE_RESPONSE_TOKENS,
    }})
    .to_string()
}

pub(crate) enum ClientFrame<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    Text(String),
    Binary(Vec<u8>),
    Close { code: u16, reason: String },
}

/// One session's state: before setup, or serving a model.
pub(crate) struct Conversation {
    host_location: String,
    project_allowed: Box<dyn Fn(&str) -> bool + Send + Sync>,
    model: Option<String>,
    /// The model the setup named, accepted or not.
    pub setup_model: Option<String>,
}

fn close(code: u16, reason: impl Into<String>) -> Vec<Reply> {
    vec![Reply::Close {
        code,
        reason: reason.into(),
    }]
}

impl Conversation {
    pub fn new(
        host_location: String,
        project_allowed: Box<dyn Fn(&str) -> bool + Send + Sync>,
    ) -> Self {
        Conversation {
            host_location,
            project_allowed,
            model: None,
            setup_model: None,
        }
    }

    pub fn on_message(&mut self, frame: ClientFrame<'_>) -> Vec<Reply> {
        match (&self.model, frame) {
            (None, ClientFrame::Text(text)) => self.on_setup(text.as_bytes()),
            (None, ClientFrame::Binary(bytes)) => self.on_setup(bytes),
            (Some(model), ClientFrame::Text(text)) => on_text(model, text),
            (Some(_), ClientFrame::Binary(bytes)) => vec![
                Reply::Binary(live_echo(bytes)),
                Reply::Text(usage_metadata(bytes.len())),
            ],
        }
    }

    fn on_setup(&mut self, payload: &[u8]) -> Vec<Reply> {
        let model = serde_json::from_slice::<Value>(payload)
            .ok()
            .and_then(|message| {
                message
                    .get("setup")?
                    .get("model")?
                    .as_str()
                    .map(str::to_owned)
            });
        let Some(model) = model else {
            return close(
                CLOSE_INVALID_PAYLOAD,
                "The first message must be {\"setup\": {\"model\": ...}}.",
            );
        };
        self.setup_model = Some(model.clone());
        let Some(name) = parse_model_name(&model) else {
            return close(
                CLOSE_INVALID_PAYLOAD,
                "setup.model must be projects/P/locations/L/publishers/PUB/models/M.",
            );
        };
        if name.location != self.host_location {
            return close(
                CLOSE_POLICY_VIOLATION,
                format!(
                    "Model location {} does not match this endpoint's location {}.",
                    name.location, self.host_location
                ),
            );
        }
        if !(self.project_allowed)(&name.project) {
            return close(
                CLOSE_POLICY_VIOLATION,
                format!("Permission denied on project {}.", name.project),
            );
        }
        self.model = Some(name.model);
        vec![Reply::Text(json!({"setupComplete": {}}).to_string())]
    }
}

fn on_text(model: &str, text: &str) -> Vec<Reply> {
    let Ok(Value::Object(message)) = serde_json::from_str::<Value>(text) else {
        return close(CLOSE_INVALID_PAYLOAD, "Invalid JSON payload received.");
    };
    if message.contains_key("goAway") {
        return vec![
            Reply::Text(json!({"goAway": {"timeLeft": "1s"}}).to_string()),
            Reply::Close {
                code: CLOSE_NORMAL,
                reason: "goAway".to_owned(),
            },
        ];
    }
    if message.contains_key("setup") {
        return close(CLOSE_INVALID_PAYLOAD, "setup may only be sent once.");
    }
    // Vertex parses messages as proto3 JSON, which takes a field by its lowerCamel or its proto
    // name; the google-genai SDK sends the latter (`client_content`, `realtime_input`, ...).
    let is_turn = [
        "clientContent",
        "realtimeInput",
        "toolResponse",
        "client_content",
        "realtime_input",
        "tool_response",
    ]
    .iter()
    .any(|kind| message.contains_key(*kind));
    if !is_turn {
        return close(
            CLOSE_INVALID_PAYLOAD,
            "Expected clientContent, realtimeInput or toolResponse.",
        );
    }
    let turn = json!({"serverContent": {
        "modelTurn": {"parts": [{"text": format!("Emulated {model} heard {} bytes.", text.len())}]},
        "turnComplete": true,
    }});
    vec![
        Reply::Text(turn.to_string()),
        Reply::Text(usage_metadata(text.len())),
    ]
}
