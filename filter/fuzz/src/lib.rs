//! What the fuzz targets share: a fixed plugin configuration like a user's, the secrets it
//! holds (which no error may repeat), and structured WebSocket input.

use arbitrary::Arbitrary;
use std::collections::HashSet;
use vertex_passthrough_core::config::Config;
use vertex_passthrough_core::live::{encode_frame, Opcode};

/// A configuration with every kind of alias: another project and credential, another
/// location, another publisher, and one that takes the defaults. Static tokens, so no RSA key
/// has to be parsed for every input.
pub const CONFIG: &str = r#"{
  "vertex_project": "proj-alpha",
  "vertex_location": "us-central1",
  "credentials": {
    "default": {"type": "access_token", "token": "ya29.fuzz-default"},
    "beta": {"type": "access_token", "token_env": "BETA_TOKEN"}
  },
  "model_list": [
    {"model_name": "flash", "litellm_params": {"model": "vertex_ai/gemini-2.0-flash", "vertex_location": "global"}},
    {"model_name": "beta-pro", "litellm_params": {"model": "gemini-2.5-pro", "vertex_project": "proj-beta", "vertex_location": "europe-west4", "vertex_credentials": "beta"}},
    {"model_name": "claude", "litellm_params": {"model": "anthropic/claude-3-5-sonnet@20240620", "vertex_location": "us-east5"}},
    {"model_name": "live", "litellm_params": {"model": "gemini-2.0-flash-live-preview-04-09"}}
  ],
  "api_keys": ["sk-fuzz"]
}"#;

/// Secrets the fuzzed configs may reach through the VM environment.
pub const SECRET_TOKEN: &str = "ya29.secret-token-from-the-environment";
/// A 512-bit key made for fuzzing only: parsing it under the sanitizers is quick, so the
/// service-account path sees many more inputs than with the 2048-bit test fixtures.
pub const SERVICE_ACCOUNT: &str = include_str!("../fixtures/service_account.json");
pub const AUTHORIZED_USER: &str = include_str!("../../../tests/fixtures/authorized_user.json");

/// The Wasm VM's environment as the fuzzed configs see it.
pub fn env(name: &str) -> Option<String> {
    match name {
        "BETA_TOKEN" | "TOKEN" => Some(SECRET_TOKEN.to_string()),
        "SA_KEY" | "GOOGLE_APPLICATION_CREDENTIALS_JSON" => Some(SERVICE_ACCOUNT.to_string()),
        "AU_KEY" => Some(AUTHORIZED_USER.to_string()),
        "VERTEXAI_PROJECT" => Some("proj-env".to_string()),
        "VERTEXAI_LOCATION" => Some("asia-east1".to_string()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

pub fn config() -> Config {
    match Config::load(CONFIG.as_bytes(), &env) {
        Ok(config) => config,
        Err(e) => panic!("the fuzz fixture config does not load: {e}"),
    }
}

/// Strings that must never appear in an error or a log line.
pub fn secrets() -> Vec<String> {
    let mut secrets = vec![SECRET_TOKEN.to_string()];
    for (file, fields) in [
        (SERVICE_ACCOUNT, &["private_key"][..]),
        (AUTHORIZED_USER, &["client_secret", "refresh_token"][..]),
    ] {
        let json: serde_json::Value = serde_json::from_str(file).unwrap_or_default();
        for field in fields {
            if let Some(value) = json[field].as_str() {
                secrets.push(value.to_string());
            }
        }
    }
    secrets
}

/// Every 16-byte window of the secrets (of the base64 body, for a PEM key): a text holding any
/// of them repeats a secret.
pub struct SecretWindows(HashSet<Vec<u8>>);

pub const WINDOW: usize = 16;

impl SecretWindows {
    pub fn new() -> Self {
        let mut windows = HashSet::new();
        for secret in secrets() {
            let body: String = secret.lines().filter(|l| !l.starts_with("-----")).collect();
            for window in body.as_bytes().windows(WINDOW) {
                windows.insert(window.to_vec());
            }
        }
        SecretWindows(windows)
    }

    pub fn found_in(&self, text: &[u8]) -> bool {
        text.windows(WINDOW).any(|w| self.0.contains(w))
    }
}

impl Default for SecretWindows {
    fn default() -> Self {
        Self::new()
    }
}

/// One WebSocket frame, as a peer could write it, or malformed.
#[derive(Arbitrary, Debug)]
pub struct FrameSpec {
    pub fin: bool,
    /// The low 4 bits become the opcode (unknown ones included) unless `known` is set.
    pub opcode: u8,
    pub known: bool,
    /// Set RSV bits (always a protocol error here).
    pub rsv: bool,
    pub mask: Option<[u8; 4]>,
    pub payload: Vec<u8>,
    /// Claim a payload length other than the real one (truncated or overlong frames).
    pub claimed_len: Option<u64>,
}

impl FrameSpec {
    pub fn encode(&self, out: &mut Vec<u8>) {
        let opcode = [
            Opcode::Continuation,
            Opcode::Text,
            Opcode::Binary,
            Opcode::Close,
            Opcode::Ping,
            Opcode::Pong,
        ];
        let known = opcode
            .get(usize::from(self.opcode) % opcode.len())
            .copied()
            .unwrap_or(Opcode::Text);
        let start = out.len();
        match self.claimed_len {
            None => {
                let payload = if known.is_control() && self.known {
                    self.payload.get(..125).unwrap_or(&self.payload)
                } else {
                    &self.payload
                };
                encode_frame(out, self.fin, known, payload, self.mask);
            }
            Some(len) => {
                // A header of our own: whatever length it claims, then the bytes we have.
                out.push(u8::from(self.fin) << 7 | known.bits());
                let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
                match len {
                    0..=125 => out.push(mask_bit | len as u8),
                    126..=0xFFFF => {
                        out.push(mask_bit | 126);
                        out.extend_from_slice(&(len as u16).to_be_bytes());
                    }
                    _ => {
                        out.push(mask_bit | 127);
                        out.extend_from_slice(&len.to_be_bytes());
                    }
                }
                if let Some(key) = self.mask {
                    out.extend_from_slice(&key);
                }
                out.extend_from_slice(&self.payload);
            }
        }
        if let Some(first) = out.get_mut(start) {
            if !self.known {
                *first = (*first & 0xF0) | (self.opcode & 0x0F);
            }
            if self.rsv {
                *first |= 0x40;
            }
        }
    }
}

/// A byte stream made of frames and then raw bytes, delivered in pieces.
#[derive(Arbitrary, Debug)]
pub struct Stream {
    pub frames: Vec<FrameSpec>,
    pub tail: Vec<u8>,
    /// Piece lengths the stream is delivered in (0 is read as 1); the rest comes in one piece.
    pub pieces: Vec<u16>,
}

impl Stream {
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for frame in &self.frames {
            frame.encode(&mut out);
        }
        out.extend_from_slice(&self.tail);
        out
    }

    /// The end offsets of the pieces, the last one being `len`.
    pub fn cuts(&self, len: usize) -> Vec<usize> {
        let mut cuts = Vec::new();
        let mut at = 0usize;
        for piece in &self.pieces {
            at = at.saturating_add(usize::from(*piece).max(1));
            if at >= len {
                break;
            }
            cuts.push(at);
        }
        cuts.push(len);
        cuts
    }
}
