//! What the emulators saw and did, kept so tests can assert on it.
use bytes::Bytes;
use std::time::{Instant, SystemTime};

/// Which token endpoint a request reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenEndpoint {
    OAuth,
    Metadata,
}

/// How a token request was answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenOutcome {
    Issued {
        token: String,
    },
    Refused {
        status: u16,
        error: String,
    },
    /// `TokenBehaviour::Hang`: the request was accepted and never answered.
    Unanswered,
}

#[derive(Clone, Debug)]
pub struct TokenRequest {
    /// Arrival order across every endpoint of this emulator (see `Shared::next_arrival`).
    pub arrival: u64,
    pub at: SystemTime,
    pub endpoint: TokenEndpoint,
    pub grant_type: Option<String>,
    /// `client_email` (JWT `iss`, even when the JWT is refused), `client_id`, or `"metadata"`.
    pub subject: Option<String>,
    pub outcome: TokenOutcome,
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
    pub authority: String,
    pub method: String,
    pub path: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedToken {
    pub token: String,
    pub subject: String,
    pub issued_at: SystemTime,
    pub expires_at: SystemTime,
}

/// One HTTP request to the Vertex port, REST or a Live upgrade (answered `101` when accepted).
#[derive(Clone, Debug)]
pub struct VertexRequest {
    /// Arrival order across every endpoint of this emulator.
    pub arrival: u64,
    pub authority: String,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub bearer: Option<String>,
    /// Who the bearer token was issued to, when this emulator issued it (valid or not).
    pub token_subject: Option<String>,
    pub token_expired: bool,
    /// The status answered; 0 while the answer is still being made.
    pub status: u16,
    pub received_at: Instant,
    /// The TLS server name the client sent.
    pub sni: Option<String>,
    /// `"h1"` or `"h2"`.
    pub http_version: String,
}

/// One chunk of a streamed answer, as handed to the connection.
#[derive(Clone, Debug)]
pub struct StreamEvent {
    /// Index into `Emulator::vertex_requests()`.
    pub request_index: usize,
    pub chunk_index: usize,
    pub last: bool,
    pub sent_at: Instant,
}

/// One accepted Live WebSocket session; updated while it runs.
#[derive(Clone, Debug)]
pub struct LiveSession {
    pub authority: String,
    pub path: String,
    pub query: Option<String>,
    pub bearer: Option<String>,
    pub token_subject: Option<String>,
    pub setup_model: Option<String>,
    /// Payload of every client message, text or binary, the setup included.
    pub client_messages: Vec<Vec<u8>>,
    pub server_messages_sent: usize,
    /// The code of whichever side closed first (None if the connection just dropped).
    pub close_code: Option<u16>,
    pub close_reason: Option<String>,
    pub sni: Option<String>,
    /// Lowercase names, from the upgrade request.
    pub headers: Vec<(String, String)>,
    pub ended: bool,
    /// Bytes the client sent on the upgraded connection, counted when it ended.
    pub bytes_received: usize,
}

/// Everything recorded, behind one lock.
#[derive(Default)]
pub(crate) struct Records {
    pub token_requests: Vec<TokenRequest>,
    pub vertex_requests: Vec<VertexRequest>,
    pub stream_events: Vec<StreamEvent>,
    pub cancelled_streams: usize,
    pub live_sessions: Vec<LiveSession>,
}
