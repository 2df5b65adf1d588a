//! What the emulated Live API answers to each client message: the setup handshake, model turns
//! with usage, the `goAway` test hook, and the close codes Vertex uses for bad input.
use super::vertex_route::parse_model_name;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
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

/// How the model answers, from the setup's `generationConfig.responseModalities` and
/// `outputAudioTranscription`.
#[derive(Clone, Copy, Default)]
struct Answers {
    audio: bool,
    transcribed: bool,
}

/// A setup field by its lowerCamel or its proto name (Vertex reads proto3 JSON).
fn field<'v>(object: &'v Value, camel: &str, proto: &str) -> Option<&'v Value> {
    object.get(camel).or_else(|| object.get(proto))
}

impl Answers {
    /// An error: the model cannot answer in the modalities asked for.
    fn of(setup: &Value, model: &str) -> Result<Answers, String> {
        let modalities: Vec<&str> = field(setup, "generationConfig", "generation_config")
            .and_then(|config| field(config, "responseModalities", "response_modalities"))
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let native_audio = model.contains("native-audio");
        if native_audio && modalities.iter().any(|m| m.eq_ignore_ascii_case("TEXT")) {
            return Err(format!(
                "{model} answers in AUDIO only; for text, ask for outputAudioTranscription."
            ));
        }
        Ok(Answers {
            audio: native_audio || modalities.iter().any(|m| m.eq_ignore_ascii_case("AUDIO")),
            transcribed: field(
                setup,
                "outputAudioTranscription",
                "output_audio_transcription",
            )
            .is_some(),
        })
    }
}

/// One session's state: before setup, or serving a model.
pub(crate) struct Conversation {
    host_location: String,
    project_allowed: Box<dyn Fn(&str) -> bool + Send + Sync>,
    model: Option<String>,
    answers: Answers,
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
            answers: Answers::default(),
            setup_model: None,
        }
    }

    pub fn on_message(&mut self, frame: ClientFrame<'_>) -> Vec<Reply> {
        match (&self.model, frame) {
            (None, ClientFrame::Text(text)) => self.on_setup(text.as_bytes()),
            (None, ClientFrame::Binary(bytes)) => self.on_setup(bytes),
            (Some(model), ClientFrame::Text(text)) => on_text(model, self.answers, text),
            (Some(_), ClientFrame::Binary(bytes)) => vec![
                Reply::Binary(live_echo(bytes)),
                Reply::Text(usage_metadata(bytes.len())),
            ],
        }
    }

    fn on_setup(&mut self, payload: &[u8]) -> Vec<Reply> {
        let setup = serde_json::from_slice::<Value>(payload)
            .ok()
            .and_then(|mut message| message.get_mut("setup").map(Value::take));
        let model = setup
            .as_ref()
            .and_then(|setup| setup.get("model")?.as_str().map(str::to_owned));
        let (Some(setup), Some(model)) = (setup, model) else {
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
        match Answers::of(&setup, &name.model) {
            Ok(answers) => self.answers = answers,
            Err(reason) => return close(CLOSE_INVALID_PAYLOAD, reason),
        }
        self.model = Some(name.model);
        vec![Reply::Text(json!({"setupComplete": {}}).to_string())]
    }
}

fn on_text(model: &str, answers: Answers, text: &str) -> Vec<Reply> {
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
    let said = format!("Emulated {model} heard {} bytes.", text.len());
    let mut replies = Vec::new();
    let part = if answers.audio {
        if answers.transcribed {
            let transcript = json!({"serverContent": {"outputTranscription": {"text": said}}});
            replies.push(Reply::Text(transcript.to_string()));
        }
        // 24 kHz 16-bit PCM, as Vertex sends it: a few samples of silence stand for the speech.
        json!({"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": BASE64.encode([0u8; 48])}})
    } else {
        json!({"text": said})
    };
    let turn = json!({"serverContent": {"modelTurn": {"parts": [part]}, "turnComplete": true}});
    replies.push(Reply::Text(turn.to_string()));
    replies.push(Reply::Text(usage_metadata(text.len())));
    replies
}
