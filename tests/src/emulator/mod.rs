//! Local emulators of the Google endpoints the filter talks to: the OAuth token endpoint, the
//! GCE metadata server and Vertex AI (REST, SSE and the Live WebSocket). They check what Google
//! checks, so a test that passes here fails for the same reasons it would against Google, and
//! they record what they saw so tests can assert on it.
mod credentials;
mod http;
mod jwt;
mod live;
mod live_protocol;
mod metadata;
mod oauth;
mod record;
mod server;
mod sse;
mod state;
mod tls;
mod token_reply;
mod tokens;
mod vertex;
mod vertex_answers;
mod vertex_auth;
mod vertex_resources;
mod vertex_route;

pub use credentials::{
    fixtures_dir, AuthorizedUser, ServiceAccountKey, AUTHORIZED_USER_JSON, SERVICE_ACCOUNT_A_JSON,
    SERVICE_ACCOUNT_B_JSON,
};
pub use jwt::CLOUD_PLATFORM_SCOPE;
pub use live_protocol::{live_echo, live_prompt_tokens, LIVE_RESPONSE_TOKENS};
pub use metadata::{METADATA_SUBJECT, METADATA_TOKEN_PATH};
pub use oauth::JWT_BEARER_GRANT;
pub use record::{
    IssuedToken, LiveSession, StreamEvent, TokenEndpoint, TokenOutcome, TokenRequest, VertexRequest,
};
pub use tls::SERVER_NAMES;
pub use tokens::TokenBehaviour;
pub use vertex_answers::{prompt_tokens, RESPONSE_TOKENS};
pub use vertex_resources::discovery_host;
pub use vertex_route::{location_of_host, vertex_host, LIVE_PATHS};

use anyhow::Context;
use credentials::KnownAccount;
use server::{bind_loopback, spawn_listener, Endpoint};
use state::{lock, Shared, SharedConfig};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio_rustls::TlsAcceptor;

#[derive(Clone, Debug)]
pub struct EmulatorOptions {
    /// The emulator derives each public key from the private key.
    pub service_accounts: Vec<ServiceAccountKey>,
    pub authorized_users: Vec<AuthorizedUser>,
    pub token_lifetime_s: u64,
    pub sse_chunks: usize,
    pub sse_interval: Duration,
    /// 0 = an ephemeral port.
    pub oauth_port: u16,
    pub metadata_port: u16,
    pub vertex_port: u16,
    /// The loopback addresses the OAuth and Vertex endpoints listen on (127.0.0.1 unless a test
    /// resolves Google's names to addresses of its own).
    pub oauth_ip: Ipv4Addr,
    pub vertex_ip: Ipv4Addr,
    /// The OAuth endpoint speaks TLS with the Vertex certificate (valid for `*.googleapis.com`,
    /// signed by the same test CA), as oauth2.googleapis.com does; plain HTTP otherwise.
    pub oauth_tls: bool,
    /// One stderr line per request (method, path, status); the binary turns it on.
    pub log_requests: bool,
    /// A service account whose key file names a `project_id` may use only that project at
    /// Vertex (403 otherwise), as IAM would have it; so may an authorized user with a
    /// `quota_project_id`, and the metadata server's identity with `metadata_project`. On by
    /// default.
    pub check_project_access: bool,
    /// The project of the instance the metadata server belongs to; None: any project.
    pub metadata_project: Option<String>,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            service_accounts: Vec::new(),
            authorized_users: Vec::new(),
            token_lifetime_s: 3600,
            sse_chunks: 4,
            sse_interval: Duration::from_millis(300),
            oauth_port: 0,
            metadata_port: 0,
            vertex_port: 0,
            oauth_ip: Ipv4Addr::LOCALHOST,
            vertex_ip: Ipv4Addr::LOCALHOST,
            oauth_tls: false,
            log_requests: false,
            check_project_access: true,
            metadata_project: None,
        }
    }
}

impl EmulatorOptions {
    /// Both fixture service accounts and the fixture authorized user, and a metadata server on
    /// an instance in proj-alpha.
    pub fn with_fixtures() -> Self {
        let service_accounts = [SERVICE_ACCOUNT_A_JSON, SERVICE_ACCOUNT_B_JSON]
            .iter()
            .map(|text| ServiceAccountKey::from_json(text))
            .collect::<anyhow::Result<Vec<_>>>()
            .expect("the fixture service-account keys in tests/fixtures parse");
        let authorized_user = AuthorizedUser::from_json(AUTHORIZED_USER_JSON)
            .expect("tests/fixtures/authorized_user.json parses");
        EmulatorOptions {
            service_accounts,
            authorized_users: vec![authorized_user],
            metadata_project: Some("proj-alpha".to_owned()),
            ..EmulatorOptions::default()
        }
    }
}

/// The running emulators. Everything stops when this is dropped.
pub struct Emulator {
    pub oauth_addr: SocketAddr,
    pub metadata_addr: SocketAddr,
    pub vertex_addr: SocketAddr,
    /// The test CA that signed the Vertex certificate, for Envoy (or a client) to trust.
    pub ca_pem_path: PathBuf,
    ca_pem: String,
    ca_der: Vec<u8>,
    shared: Arc<Shared>,
    // Holds the CA file's directory until the emulator is dropped.
    _ca_dir: tempfile::TempDir,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("oauth_addr", &self.oauth_addr)
            .field("metadata_addr", &self.metadata_addr)
            .field("vertex_addr", &self.vertex_addr)
            .field("ca_pem_path", &self.ca_pem_path)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Starts all three endpoints on loopback. Must be called inside a Tokio runtime.
    pub async fn start(opts: EmulatorOptions) -> anyhow::Result<Emulator> {
        let accounts = opts
            .service_accounts
            .into_iter()
            .map(KnownAccount::new)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let pki = tls::generate()?;
        let ca_dir = tempfile::Builder::new()
            .prefix("google-emulator-")
            .tempdir()
            .context("creating a directory for the test CA")?;
        let ca_pem_path = ca_dir.path().join("emulator-ca.pem");
        std::fs::write(&ca_pem_path, &pki.ca_pem).context("writing the test CA")?;

        let (oauth_listener, oauth_addr) = bind_loopback(opts.oauth_ip, opts.oauth_port).await?;
        let (metadata_listener, metadata_addr) =
            bind_loopback(Ipv4Addr::LOCALHOST, opts.metadata_port).await?;
        let (vertex_listener, vertex_addr) =
            bind_loopback(opts.vertex_ip, opts.vertex_port).await?;

        let shared = Arc::new(Shared::new(SharedConfig {
            accounts,
            authorized_users: opts.authorized_users,
            sse_chunks: opts.sse_chunks,
            sse_interval: opts.sse_interval,
            log_requests: opts.log_requests,
            check_project_access: opts.check_project_access,
            metadata_project: opts.metadata_project,
            token_lifetime_s: opts.token_lifetime_s,
        }));
        let acceptor = TlsAcceptor::from(pki.server_config);
        let oauth_tls = opts.oauth_tls.then(|| acceptor.clone());
        spawn_listener(&shared, oauth_listener, Endpoint::OAuth, oauth_tls);
        spawn_listener(&shared, metadata_listener, Endpoint::Metadata, None);
        spawn_listener(&shared, vertex_listener, Endpoint::Vertex, Some(acceptor));

        Ok(Emulator {
            oauth_addr,
            metadata_addr,
            vertex_addr,
            ca_pem_path,
            ca_pem: pki.ca_pem,
            ca_der: pki.ca_der,
            shared,
            _ca_dir: ca_dir,
        })
    }

    /// The test CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The test CA certificate, DER.
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// Copies the test CA to `path` (for a process that reads it from a fixed place).
    pub fn write_ca_pem(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, &self.ca_pem).with_context(|| format!("writing {}", path.display()))
    }

    pub fn token_requests(&self) -> Vec<TokenRequest> {
        lock(&self.shared.records).token_requests.clone()
    }

    pub fn issued_tokens(&self) -> Vec<IssuedToken> {
        lock(&self.shared.tokens).issued()
    }

    pub fn vertex_requests(&self) -> Vec<VertexRequest> {
        lock(&self.shared.records).vertex_requests.clone()
    }

    /// Every streamed chunk handed to a connection, in order.
    pub fn stream_events(&self) -> Vec<StreamEvent> {
        lock(&self.shared.records).stream_events.clone()
    }

    /// Streams whose client went away before the last chunk was sent.
    pub fn cancelled_streams(&self) -> usize {
        lock(&self.shared.records).cancelled_streams
    }

    pub fn live_sessions(&self) -> Vec<LiveSession> {
        lock(&self.shared.records).live_sessions.clone()
    }

    /// Applies to the OAuth and the metadata endpoints.
    pub fn set_token_behaviour(&self, behaviour: TokenBehaviour) {
        lock(&self.shared.controls).token_behaviour = behaviour;
    }

    /// Holds the OAuth endpoint's answers (true) until released (false): a token endpoint that
    /// is slow to answer, for exactly as long as a test needs.
    pub fn hold_token_answers(&self, held: bool) {
        self.shared.token_answers_held.send_replace(held);
    }

    /// The lifetime of tokens issued from now on.
    pub fn set_token_lifetime(&self, secs: u64) {
        lock(&self.shared.controls).token_lifetime_s = secs;
    }

    /// Whether `expires_in` is sent as a JSON string (some Google endpoints do) or a number.
    pub fn set_expires_in_as_string(&self, yes: bool) {
        lock(&self.shared.controls).expires_in_as_string = yes;
    }

    /// Queues a canned answer: the next Vertex REST request that passes every check gets it
    /// instead of the model's answer.
    pub fn respond_next_vertex(&self, status: u16, body: serde_json::Value) {
        lock(&self.shared.controls)
            .vertex_overrides
            .push_back((status, body));
    }

    /// Model calls in `project` at `location` get 429 RESOURCE_EXHAUSTED from now on (`true`),
    /// or are served again (`false`), as Vertex answers a project's spent regional quota.
    pub fn set_quota_exhausted(&self, project: &str, location: &str, exhausted: bool) {
        let place = (project.to_owned(), location.to_owned());
        let mut controls = lock(&self.shared.controls);
        controls.exhausted.retain(|p| *p != place);
        if exhausted {
            controls.exhausted.push(place);
        }
    }

    /// Tokens issued so far get 401 at Vertex from now on; new ones are valid.
    pub fn revoke_all_tokens(&self) {
        lock(&self.shared.tokens).revoke_all();
    }

    /// A valid token for `subject` without going through a token endpoint (for a config with a
    /// fixed `access_token` credential). Recorded in `issued_tokens`, not in `token_requests`.
    pub fn mint_token(&self, subject: &str) -> String {
        let lifetime_s = lock(&self.shared.controls).token_lifetime_s;
        lock(&self.shared.tokens)
            .issue(subject, lifetime_s, SystemTime::now())
            .token
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.shared.abort_all();
    }
}
