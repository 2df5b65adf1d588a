//! A whole stack for one test: the Google emulators and a real Envoy loading the built filter,
//! configured like a user would, plus the client calls tests make.

use crate::emulator::{Emulator, EmulatorOptions, SERVICE_ACCOUNT_A_JSON, SERVICE_ACCOUNT_B_JSON};
use crate::harness::{Envoy, EnvoyOptions, Upstreams};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The client key tests present; the plugin config holds only its hash.
pub const CLIENT_KEY: &str = "sk-test-client-key-0123456789";
pub const SA_A_EMAIL: &str = "vertex-a@proj-alpha.iam.gserviceaccount.com";
pub const SA_B_EMAIL: &str = "vertex-b@proj-beta.iam.gserviceaccount.com";

pub fn client_key_hash() -> String {
    format!("sha256:{:x}", Sha256::digest(CLIENT_KEY.as_bytes()))
}

/// The plugin config most tests use: project proj-alpha with service account A as `default`,
/// proj-beta with service account B (given through a VM env var), and three aliases.
pub fn plugin_config() -> Value {
    json!({
        "vertex_project": "proj-alpha",
        "vertex_location": "us-central1",
        "credentials": {
            "default": {"type": "service_account", "key": serde_json::from_str::<Value>(SERVICE_ACCOUNT_A_JSON).unwrap_or(Value::Null)},
            "beta": {"type": "service_account", "key_env": "SA_BETA_KEY"},
        },
        "model_list": [
            {"model_name": "flash", "litellm_params": {"model": "vertex_ai/gemini-2.0-flash", "vertex_location": "global"}},
            {"model_name": "beta-pro", "litellm_params": {"model": "vertex_ai/gemini-2.5-pro", "vertex_project": "proj-beta", "vertex_location": "europe-west4", "vertex_credentials": "beta"}},
            {"model_name": "live", "litellm_params": {"model": "gemini-2.0-flash-live-preview-04-09"}},
        ],
        "api_keys": [client_key_hash()],
        "token_fetch_timeout_ms": 1500,
    })
}

pub struct Stack {
    pub emulator: Emulator,
    pub envoy: Envoy,
    pub http: reqwest::Client,
}

pub struct StackOptions {
    pub plugin_config: Value,
    pub concurrency: u32,
    pub vm_env: Vec<(String, String)>,
    pub emulator: EmulatorOptions,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions {
            plugin_config: plugin_config(),
            concurrency: 2,
            vm_env: vec![(
                "SA_BETA_KEY".to_string(),
                SERVICE_ACCOUNT_B_JSON.to_string(),
            )],
            emulator: EmulatorOptions::with_fixtures(),
        }
    }
}

impl Stack {
    pub async fn start() -> Stack {
        Stack::start_with(StackOptions::default()).await
    }

    pub async fn with_config(plugin_config: Value) -> Stack {
        Stack::start_with(StackOptions {
            plugin_config,
            ..StackOptions::default()
        })
        .await
    }

    pub async fn start_with(options: StackOptions) -> Stack {
        Stack::start_with_envoy(options, |_| {}).await
    }

    /// `start_with`, with Envoy's options adjusted by `envoy` (e.g. a config variant).
    pub async fn start_with_envoy(
        options: StackOptions,
        envoy: impl FnOnce(&mut EnvoyOptions),
    ) -> Stack {
        let emulator = Emulator::start(options.emulator)
            .await
            .expect("the Google emulators start");
        let mut envoy_options =
            EnvoyOptions::new(options.plugin_config.to_string(), upstreams(&emulator));
        envoy_options.concurrency = options.concurrency;
        envoy_options.vm_env = options.vm_env;
        envoy(&mut envoy_options);
        let envoy = Envoy::start(envoy_options)
            .await
            .expect("Envoy starts with the filter");
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("an HTTP client");
        Stack {
            emulator,
            envoy,
            http,
        }
    }

    /// POST a JSON body with the client key in `x-api-key`.
    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.post_with(path, &[("x-api-key", CLIENT_KEY)], body)
            .await
    }

    pub async fn post_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: Value,
    ) -> reqwest::Response {
        let mut request = self.http.post(self.envoy.url(path)).json(&body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("Envoy answers")
    }

    /// Envoy's counters and gauges under `vertex_passthrough.`, without Envoy's `wasmcustom.`,
    /// as they stand now.
    pub async fn filter_stats_now(&self) -> BTreeMap<String, u64> {
        self.envoy
            .stats()
            .await
            .expect("admin stats")
            .into_iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("wasmcustom.vertex_passthrough.")
                    .map(|k| (k.to_string(), v))
            })
            .collect()
    }

    /// The filter's counters once `ready` holds for them. Each worker hands its counters to
    /// Envoy on its once-a-second tick, so they are polled until a deadline.
    pub async fn filter_stats_when(
        &self,
        what: &str,
        ready: impl Fn(&BTreeMap<String, u64>) -> bool,
    ) -> BTreeMap<String, u64> {
        let deadline = Instant::now() + crate::wait::DEADLINE;
        loop {
            let stats = self.filter_stats_now().await;
            if ready(&stats) {
                return stats;
            }
            assert!(
                Instant::now() < deadline,
                "the filter's counters never showed {what}: {stats:#?}"
            );
            tokio::time::sleep(STATS_POLL).await;
        }
    }

    /// The filter's counters once `marker` has reached `count`. A worker hands all its counters
    /// to Envoy at once, so every counter a worker changed before its last change to `marker`
    /// is then as current as `marker`: exact comparisons on them hold or fail for good.
    pub async fn filter_stats_after(&self, marker: &str, count: u64) -> BTreeMap<String, u64> {
        self.filter_stats_when(&format!("{marker} >= {count}"), |stats| {
            stats.get(marker).copied().unwrap_or(0) >= count
        })
        .await
    }
}

impl Stack {
    /// POST a generateContent body to `path` over `client`'s connection.
    pub async fn post_on(&self, client: &reqwest::Client, path: &str) -> reqwest::Response {
        client
            .post(self.envoy.url(path))
            .header("x-api-key", CLIENT_KEY)
            .json(&generate_body())
            .send()
            .await
            .expect("Envoy answers")
    }

    /// A kept-alive connection that Envoy gave to a worker other than `taken`, and that worker;
    /// all requests over it reach that worker. The kernel spreads connections over the workers
    /// by their ports, so a few tries find one; each try is one request to `path`, answered 200.
    pub async fn connection_on_a_new_worker(
        &self,
        taken: Option<&str>,
        path: &str,
    ) -> (reqwest::Client, String) {
        for _ in 0..20 {
            let before = self
                .envoy
                .connections_per_worker()
                .await
                .expect("admin stats");
            let client = one_connection();
            assert_eq!(self.post_on(&client, path).await.status(), 200);
            let after = self
                .envoy
                .connections_per_worker()
                .await
                .expect("admin stats");
            let worker = after
                .into_iter()
                .find(|(worker, count)| *count > before.get(worker).copied().unwrap_or(0))
                .map(|(worker, _)| worker)
                .expect("one worker accepted the connection");
            if taken != Some(worker.as_str()) {
                return (client, worker);
            }
        }
        panic!("20 connections in a row reached the same worker");
    }

    /// Two kept-alive connections on different workers, each opened with a request to `path`.
    pub async fn connections_on_two_workers(&self, path: &str) -> TwoWorkers {
        let (first, worker) = self.connection_on_a_new_worker(None, path).await;
        let (second, _) = self.connection_on_a_new_worker(Some(&worker), path).await;
        let connections = self
            .envoy
            .connections_per_worker()
            .await
            .expect("admin stats");
        TwoWorkers {
            first,
            second,
            connections,
        }
    }
}

/// Two connections that reach two different Envoy workers.
pub struct TwoWorkers {
    pub first: reqwest::Client,
    pub second: reqwest::Client,
    /// Connections each worker had accepted once both were open.
    connections: BTreeMap<String, u64>,
}

impl TwoWorkers {
    /// No worker accepted a connection since both were open: the requests sent over `first`
    /// and `second` reached their two workers.
    pub async fn assert_still_the_only_connections(&self, stack: &Stack) {
        assert_eq!(
            stack
                .envoy
                .connections_per_worker()
                .await
                .expect("admin stats"),
            self.connections,
            "the requests went over the connections already open, so to the two workers"
        );
    }
}

/// A client that keeps its one connection open, so all its requests reach one Envoy worker.
pub fn one_connection() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .expect("an HTTP client")
}

const STATS_POLL: Duration = Duration::from_millis(100);

pub fn upstreams(emulator: &Emulator) -> Upstreams {
    Upstreams {
        oauth: emulator.oauth_addr,
        metadata: emulator.metadata_addr,
        vertex: emulator.vertex_addr,
        vertex_ca: emulator.ca_pem_path.clone(),
    }
}

/// A minimal valid generateContent body (the emulator insists on `contents`).
pub fn generate_body() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "hello"}]}]})
}

/// A Google error body's parts: (code, status, message).
pub async fn google_error(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body: Value = response.json().await.expect("a JSON error body");
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type}"
    );
    let error = &body["error"];
    assert_eq!(
        error["code"].as_u64(),
        Some(u64::from(status)),
        "code matches the HTTP status: {body}"
    );
    (
        status,
        error["status"].as_str().unwrap_or_default().to_string(),
        error["message"].as_str().unwrap_or_default().to_string(),
    )
}

/// The size of the audio turn `Stack::live_turn_reporting_usage` sends.
pub const LIVE_TURN_BYTES: usize = 1_000;

/// A WebSocket to the proxy, as a Live client opens it.
pub type LiveSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The code and reason of the Close frame that ends a Live session, within 10 s; other
/// messages skipped. Panics if the session ends any other way.
pub async fn live_close(
    socket: &mut LiveSocket,
) -> (
    tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode,
    String,
) {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .expect("the session closes within 10 s")
        {
            Some(Ok(Message::Close(Some(frame)))) => return (frame.code, frame.reason.to_string()),
            Some(Ok(Message::Close(None))) => panic!("closed without a code"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("the session broke instead of closing: {e}"),
            None => panic!("the connection ended without a close frame"),
        }
    }
}

/// The next JSON message the server sends on a Live session (text or binary frame), within
/// 10 s; pings and pongs skipped. Panics on anything else, a close included.
pub async fn next_live_json(socket: &mut LiveSocket) -> Value {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let message = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .expect("a server message within 10 s")
            .expect("the session is open")
            .expect("a valid frame");
        match message {
            Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
            Message::Binary(bytes) => return serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a JSON message, got {other:?}"),
        }
    }
}

/// Sends `setup` (the whole first message, `{"setup": ...}`) and returns the server's first JSON
/// answer.
pub async fn send_setup(socket: &mut LiveSocket, setup: &Value) -> Value {
    use futures_util::SinkExt;
    socket
        .send(tokio_tungstenite::tungstenite::Message::Text(
            setup.to_string(),
        ))
        .await
        .expect("the setup is sent");
    next_live_json(socket).await
}

impl Stack {
    /// Open a Live WebSocket through Envoy with the client key; Err carries the HTTP refusal.
    pub async fn live_connect(
        &self,
        path: &str,
    ) -> Result<LiveSocket, tokio_tungstenite::tungstenite::Error> {
        self.live_connect_with_key(path, CLIENT_KEY).await
    }

    /// The Live sessions Vertex saw from the `since`-th on, once each has ended: by then the
    /// emulator has recorded every message the filter forwarded on them.
    pub async fn ended_live_sessions(&self, since: usize) -> Vec<crate::emulator::LiveSession> {
        crate::wait::until_some("the Vertex side of each Live session to end", || {
            let sessions = self.emulator.live_sessions();
            let later = sessions.get(since..).unwrap_or_default();
            later.iter().all(|s| s.ended).then(|| later.to_vec())
        })
        .await
    }

    pub async fn live_connect_with_key(
        &self,
        path: &str,
        key: &str,
    ) -> Result<LiveSocket, tokio_tungstenite::tungstenite::Error> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = self.envoy.ws_url(path).into_client_request()?;
        request
            .headers_mut()
            .insert("x-api-key", key.parse().expect("a header value"));
        let (socket, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(socket)
    }

    /// A whole Live session with `key` on the alias `model` (`?model=` and the setup): one
    /// audio turn of `LIVE_TURN_BYTES`, its answer read up to the message that reports
    /// `usageMetadata`, then closed.
    pub async fn live_turn_reporting_usage(&self, key: &str, model: &str) {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        let path = format!("/vertex_ai/live?model={model}");
        let mut socket = self
            .live_connect_with_key(&path, key)
            .await
            .expect("the upgrade goes through");
        let answer = send_setup(&mut socket, &json!({"setup": {"model": model}})).await;
        assert!(answer.get("setupComplete").is_some(), "{answer}");
        socket
            .send(Message::Binary(vec![7u8; LIVE_TURN_BYTES]))
            .await
            .expect("a turn is sent");
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
                .await
                .expect("an answer within 10 s")
                .expect("the session is open")
                .expect("a valid frame");
            if String::from_utf8_lossy(&message.into_data()).contains("usageMetadata") {
                break;
            }
        }
        socket.close(None).await.ok();
    }
}
