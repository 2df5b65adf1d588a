//! No secret leaks. A full suite of requests — every credential type, every client-key
//! header, REST, SSE and Live, the filter's own errors, Vertex's errors passed through, token
//! endpoint failures — runs against Envoy with its Wasm log at trace level, and configurations
//! Envoy must refuse are tried too. Then Envoy's logs and everything the client received
//! (status, headers, bodies, Live frames) are searched for the secrets: any 16-character piece
//! of either fixture private key, every access token the emulator issued, the authorized user's
//! refresh token and client secret, and the client key. None may be found. The client key must
//! not reach Google either (Vertex, Live or the token endpoints).

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use vertex_passthrough_tests::emulator::{
    Emulator, EmulatorOptions, TokenBehaviour, AUTHORIZED_USER_JSON, SERVICE_ACCOUNT_A_JSON,
    SERVICE_ACCOUNT_B_JSON,
};
use vertex_passthrough_tests::harness::{Envoy, EnvoyOptions};
use vertex_passthrough_tests::stack::{
    client_key_hash, generate_body, upstreams, Stack, CLIENT_KEY,
};

const WINDOW: usize = 16;

/// Every secret, as the strings to look for.
struct Secrets {
    /// 16-byte pieces of the private keys' base64 bodies.
    key_windows: HashSet<Vec<u8>>,
    /// Whole secrets: tokens, the refresh token, the client secret, the client key.
    whole: Vec<(String, String)>,
}

impl Secrets {
    fn new(emulator: &Emulator, extra_tokens: &[String]) -> Secrets {
        let mut key_windows = HashSet::new();
        for file in [SERVICE_ACCOUNT_A_JSON, SERVICE_ACCOUNT_B_JSON] {
            let key: Value = serde_json::from_str(file).unwrap();
            let body: String = key["private_key"]
                .as_str()
                .unwrap()
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect();
            for window in body.as_bytes().windows(WINDOW) {
                key_windows.insert(window.to_vec());
            }
        }
        let user: Value = serde_json::from_str(AUTHORIZED_USER_JSON).unwrap();
        let mut whole = vec![
            (
                "the refresh token".to_string(),
                user["refresh_token"].as_str().unwrap().to_string(),
            ),
            (
                "the client secret".to_string(),
                user["client_secret"].as_str().unwrap().to_string(),
            ),
            ("the client key".to_string(), CLIENT_KEY.to_string()),
        ];
        let issued = emulator.issued_tokens();
        assert!(!issued.is_empty(), "the suite got no token issued");
        for token in issued {
            whole.push((format!("a token issued to {}", token.subject), token.token));
        }
        for token in extra_tokens {
            whole.push(("the static access token".to_string(), token.clone()));
        }
        let secrets = Secrets { key_windows, whole };
        // The search finds what it looks for.
        for (what, secret) in &secrets.whole {
            assert!(!secrets.found_in(secret).is_empty(), "{what} is not found");
        }
        assert!(!secrets.found_in(SERVICE_ACCOUNT_B_JSON).is_empty());
        secrets
    }

    /// What of the secrets `text` holds, described (never the secret itself).
    fn found_in(&self, text: &str) -> Vec<String> {
        let mut found: Vec<String> = self
            .whole
            .iter()
            .filter(|(_, secret)| text.contains(secret.as_str()))
            .map(|(what, _)| what.clone())
            .collect();
        if let Some(at) = text
            .as_bytes()
            .windows(WINDOW)
            .position(|w| self.key_windows.contains(w))
        {
            found.push(format!("a piece of a private key at byte {at}"));
        }
        found
    }
}

/// Everything the client saw.
#[derive(Default)]
struct Seen(Vec<(String, String)>);

impl Seen {
    async fn response(&mut self, what: &str, response: reqwest::Response) -> (u16, String) {
        let status = response.status().as_u16();
        let mut all = format!("{status}\n");
        for (name, value) in response.headers() {
            all.push_str(&format!(
                "{name}: {}\n",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        let body = response.text().await.unwrap_or_default();
        all.push_str(&body);
        self.0.push((what.to_string(), all));
        (status, body)
    }
}

fn key(file: &str) -> Value {
    serde_json::from_str(file).unwrap()
}

/// Every credential type, each behind its own alias and project.
fn plugin_config(static_token: &str) -> Value {
    json!({
        "vertex_project": "proj-alpha",
        "vertex_location": "us-central1",
        "credentials": {
            "default": {"type": "service_account", "key": key(SERVICE_ACCOUNT_A_JSON)},
            "beta": {"type": "service_account", "key_env": "SA_BETA_KEY"},
            "user": {"type": "authorized_user", "key": key(AUTHORIZED_USER_JSON)},
            "metadata": {"type": "metadata_server"},
            "fixed": {"type": "access_token", "token": static_token},
        },
        "model_list": [
            {"model_name": "flash", "litellm_params": {"model": "gemini-2.0-flash"}},
            {"model_name": "beta-pro", "litellm_params": {"model": "gemini-2.5-pro", "vertex_project": "proj-beta", "vertex_credentials": "beta"}},
            {"model_name": "user-model", "litellm_params": {"model": "gemini-2.0-flash", "vertex_project": "proj-gamma", "vertex_credentials": "user"}},
            {"model_name": "md-model", "litellm_params": {"model": "gemini-2.0-flash", "vertex_project": "proj-delta", "vertex_credentials": "metadata"}},
            {"model_name": "fixed-model", "litellm_params": {"model": "gemini-2.0-flash", "vertex_project": "proj-epsilon", "vertex_credentials": "fixed"}},
            {"model_name": "live", "litellm_params": {"model": "gemini-2.0-flash-live-preview-04-09"}},
        ],
        "api_keys": [client_key_hash()],
        "token_fetch_timeout_ms": 1000,
    })
}

fn trace_options(config: &Value, emulator: &Emulator) -> EnvoyOptions {
    let mut options = EnvoyOptions::new(config.to_string(), upstreams(emulator))
        .vm_env("SA_BETA_KEY", SERVICE_ACCOUNT_B_JSON);
    options.component_log_level = "wasm:trace".to_string();
    options
}

async fn start_traced() -> (Stack, String) {
    // The user and the metadata server's instance may use the projects their aliases name.
    let mut options = EmulatorOptions::with_fixtures();
    for user in &mut options.authorized_users {
        user.quota_project_id = Some("proj-gamma".to_owned());
    }
    options.metadata_project = Some("proj-delta".to_owned());
    let emulator = Emulator::start(options)
        .await
        .expect("the Google emulators start");
    let static_token = emulator.mint_token("fixed-token@proj-epsilon.example");
    let envoy = Envoy::start(trace_options(&plugin_config(&static_token), &emulator))
        .await
        .expect("Envoy starts with the filter");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    (
        Stack {
            emulator,
            envoy,
            http,
        },
        static_token,
    )
}

const FLASH: &str = "/vertex_ai/models/flash:generateContent";

async fn post(
    stack: &Stack,
    seen: &mut Seen,
    what: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> u16 {
    let mut request = stack
        .http
        .post(stack.envoy.url(path))
        .json(&generate_body());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("Envoy answers");
    seen.response(what, response).await.0
}

/// REST through every credential and every client-key header, with the key also in the query.
async fn rest_suite(stack: &Stack, seen: &mut Seen) {
    let bearer = format!("Bearer {CLIENT_KEY}");
    let key_headers: [(&str, &str); 4] = [
        ("x-api-key", CLIENT_KEY),
        ("authorization", &bearer),
        ("api-key", CLIENT_KEY),
        ("x-litellm-api-key", &bearer),
    ];
    for (index, alias) in ["flash", "beta-pro", "user-model", "md-model", "fixed-model"]
        .iter()
        .enumerate()
    {
        let header = key_headers[index % key_headers.len()];
        for method in ["generateContent", "countTokens"] {
            let path = format!("/vertex_ai/models/{alias}:{method}?key={CLIENT_KEY}&alt=json");
            let status = post(stack, seen, &format!("{alias}:{method}"), &path, &[header]).await;
            assert_eq!(status, 200, "{alias}:{method}");
        }
    }
    // SSE, read to the end.
    let response = stack
        .http
        .post(stack.envoy.url(
            "/vertex_ai/v1beta1/projects/proj-alpha/locations/us-central1/publishers/google/models/flash:streamGenerateContent?alt=sse",
        ))
        .header("x-api-key", CLIENT_KEY)
        .header("authorization", "Bearer ya29.sdk-placeholder")
        .json(&generate_body())
        .send()
        .await
        .unwrap();
    let (status, body) = seen.response("SSE", response).await;
    assert_eq!(status, 200);
    assert!(body.contains("data: "), "{body}");
}

/// The filter's own errors, and Vertex's passed through (a 401 included, which makes the
/// filter fetch a new token).
async fn error_suite(stack: &Stack, seen: &mut Seen) {
    let wrong = [("x-api-key", "sk-wrong")];
    let key = [("x-api-key", CLIENT_KEY)];
    for (what, path, headers, code) in [
        ("401", FLASH, &wrong[..], 401),
        ("401 with the key only in the query", &*format!("{FLASH}?key={CLIENT_KEY}"), &[][..], 401),
        ("403", "/vertex_ai/v1/projects/not-served/locations/us-central1/publishers/google/models/m:generateContent", &key[..], 403),
        ("404", "/vertex_ai/models/flash:deleteModel", &key[..], 404),
        ("400", "/vertex_ai/models/a%2Fb:generateContent", &key[..], 400),
        ("426", "/vertex_ai/live?model=live", &key[..], 426),
    ] {
        assert_eq!(post(stack, seen, what, path, headers).await, code, "{what}");
    }
    stack.emulator.respond_next_vertex(
        429,
        json!({"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}}),
    );
    assert_eq!(post(stack, seen, "Vertex 429", FLASH, &key).await, 429);
    stack.emulator.revoke_all_tokens();
    assert_eq!(post(stack, seen, "Vertex 401", FLASH, &key).await, 401);
    assert_eq!(
        post(stack, seen, "after a Vertex 401", FLASH, &key).await,
        200
    );
}

/// Posts until a request is served: requests within a second of a failed token fetch get that
/// failure (503), later ones fetch again.
async fn post_until_served(stack: &Stack, seen: &mut Seen, what: &str) {
    let key = [("x-api-key", CLIENT_KEY)];
    let deadline = Instant::now() + vertex_passthrough_tests::wait::DEADLINE;
    loop {
        match post(stack, seen, what, FLASH, &key).await {
            200 => return,
            503 => assert!(Instant::now() < deadline, "{what}: never served"),
            other => panic!("{what}: {other}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every way a token fetch fails, each while a request waits for it.
async fn token_failure_suite(stack: &Stack, seen: &mut Seen) {
    let key = [("x-api-key", CLIENT_KEY)];
    for behaviour in [
        TokenBehaviour::OAuthError {
            status: 400,
            error: "invalid_grant".into(),
        },
        TokenBehaviour::ServerError,
        TokenBehaviour::Garbage,
        TokenBehaviour::MissingToken,
        TokenBehaviour::Hang,
    ] {
        // A valid token, then the token endpoint fails and Vertex refuses that token: the
        // cached token is stale, and neither the background refresh nor the next request can
        // get another.
        stack.emulator.set_token_behaviour(TokenBehaviour::Issue);
        post_until_served(stack, seen, "a fresh token").await;
        stack.emulator.set_token_behaviour(behaviour.clone());
        stack.emulator.revoke_all_tokens();
        assert_eq!(post(stack, seen, "a revoked token", FLASH, &key).await, 401);
        let status = post(stack, seen, &format!("token {behaviour:?}"), FLASH, &key).await;
        assert_eq!(status, 503, "{behaviour:?}");
    }
    stack.emulator.set_token_behaviour(TokenBehaviour::Issue);
    post_until_served(stack, seen, "recovered").await;
}

/// A Live session: setup, one turn, close; and one refused setup.
async fn live_suite(stack: &Stack, seen: &mut Seen) {
    let mut socket = stack
        .live_connect(&format!("/vertex_ai/live?model=live&key={CLIENT_KEY}"))
        .await
        .expect("the Live upgrade");
    socket
        .send(Message::Text(
            json!({"setup": {"model": "live"}}).to_string(),
        ))
        .await
        .unwrap();
    socket
        .send(Message::Text(
            json!({"clientContent": {"turns": [{"role": "user", "parts": [{"text": "hi"}]}], "turnComplete": true}}).to_string(),
        ))
        .await
        .unwrap();
    let mut frames = String::new();
    while let Ok(Some(Ok(message))) =
        tokio::time::timeout(Duration::from_secs(2), socket.next()).await
    {
        frames.push_str(&format!("{message:?}\n"));
        if frames.contains("turnComplete") && frames.contains("usageMetadata") {
            break;
        }
    }
    assert!(frames.contains("setupComplete"), "{frames}");
    socket.close(None).await.ok();
    seen.0.push(("Live session".into(), frames));

    let mut refused = stack
        .live_connect("/vertex_ai/live?model=live")
        .await
        .unwrap();
    refused
        .send(Message::Text(
            json!({"setup": {"model": "projects/not-served/locations/us-central1/publishers/google/models/m"}}).to_string(),
        ))
        .await
        .unwrap();
    let mut frames = String::new();
    while let Ok(Some(Ok(message))) =
        tokio::time::timeout(Duration::from_secs(5), refused.next()).await
    {
        frames.push_str(&format!("{message:?}\n"));
    }
    assert!(frames.contains("Close"), "{frames}");
    seen.0.push(("refused Live setup".into(), frames));
}

/// Where the client key may have travelled on towards Google.
fn assert_client_key_stayed_here(stack: &Stack) {
    for request in stack.emulator.vertex_requests() {
        let body = String::from_utf8_lossy(&request.body);
        let mut everything = format!("{} {:?} {body}", request.path, request.query);
        for (name, value) in &request.headers {
            everything.push_str(&format!("\n{name}: {value}"));
        }
        assert!(
            !everything.contains(CLIENT_KEY),
            "the client key reached Vertex: {} {:?}",
            request.path,
            request.query
        );
    }
    for session in stack.emulator.live_sessions() {
        let mut everything = format!("{} {:?}", session.path, session.query);
        for (name, value) in &session.headers {
            everything.push_str(&format!("\n{name}: {value}"));
        }
        for message in &session.client_messages {
            everything.push_str(&String::from_utf8_lossy(message));
        }
        assert!(
            !everything.contains(CLIENT_KEY),
            "the client key reached the Live API: {} {:?}",
            session.path,
            session.query
        );
    }
    for request in stack.emulator.token_requests() {
        let mut everything = format!("{} {}", request.authority, request.path);
        for (name, value) in &request.headers {
            everything.push_str(&format!("\n{name}: {value}"));
        }
        assert!(
            !everything.contains(CLIENT_KEY),
            "the client key reached the token endpoint"
        );
    }
}

#[tokio::test]
async fn no_secret_reaches_envoys_trace_log_or_the_client_and_the_client_key_stays_here() {
    let (stack, static_token) = start_traced().await;
    let mut seen = Seen::default();
    rest_suite(&stack, &mut seen).await;
    error_suite(&stack, &mut seen).await;
    token_failure_suite(&stack, &mut seen).await;
    live_suite(&stack, &mut seen).await;
    // The session log line comes when the stream ends, before its close is counted.
    stack
        .filter_stats_when("every Live session opened is closed", |stats| {
            stats.get("live.sessions_opened") >= Some(&1)
                && stats.get("live.sessions_closed") == stats.get("live.sessions_opened")
        })
        .await;

    let secrets = Secrets::new(&stack.emulator, &[static_token]);
    let log = stack.envoy.log();
    assert!(
        log.contains("[trace][wasm]") || log.contains("[debug][wasm]"),
        "the Wasm log is not at trace level"
    );
    for (number, line) in log.lines().enumerate() {
        let found = secrets.found_in(line);
        assert!(
            found.is_empty(),
            "Envoy's log line {} holds {found:?}",
            number + 1
        );
    }
    assert!(seen.0.len() >= 30, "only {} responses seen", seen.0.len());
    for (what, text) in &seen.0 {
        let found = secrets.found_in(text);
        assert!(found.is_empty(), "the client saw {found:?} in {what}");
    }
    assert_client_key_stayed_here(&stack);
}

#[tokio::test]
async fn a_refused_configuration_logs_no_secret() {
    let emulator = Emulator::start(EmulatorOptions::with_fixtures())
        .await
        .unwrap();
    let user = key(AUTHORIZED_USER_JSON);
    let account = key(SERVICE_ACCOUNT_A_JSON);
    let mut broken_pem = account.clone();
    broken_pem["private_key"] = json!(account["private_key"]
        .as_str()
        .unwrap()
        .replacen("MII", "MIX", 1));
    let with = |change: &dyn Fn(&mut Value)| {
        let mut config = plugin_config("ya29.fixed-token-in-a-refused-config");
        change(&mut config);
        config
    };
    let configs = [
        // An authorized_user file under a service_account credential.
        with(&|c| {
            c["credentials"]["default"] = json!({"type": "service_account", "key": user.clone()})
        }),
        // A private key that does not parse.
        with(&|c| c["credentials"]["default"]["key"] = broken_pem.clone()),
        // The key file pasted as the credential's type, and as a credential name.
        with(&|c| c["credentials"]["default"]["type"] = json!(SERVICE_ACCOUNT_A_JSON)),
        with(&|c| c["credentials"][AUTHORIZED_USER_JSON] = json!({"type": "metadata_server"})),
        // A plain client key with the newline a YAML block scalar leaves, refused as a key.
        with(&|c| c["api_keys"] = json!([format!("{CLIENT_KEY}\n")])),
        // The private key as an unknown top-level key.
        with(&|c| c[account["private_key"].as_str().unwrap()] = json!(1)),
    ];
    // Two at a time: each Envoy compiles the module, and a refusal must not be a timeout.
    let mut logs = Vec::new();
    for pair in configs.chunks(2) {
        let runs = pair.iter().map(|config| {
            let mut options = trace_options(config, &emulator);
            options.concurrency = 1;
            Envoy::start_expecting_rejection(options)
        });
        logs.extend(futures_util::future::join_all(runs).await);
    }
    let secrets = Secrets::new(
        &{
            // No token is issued here; use a token store that has one so `Secrets` is complete.
            let _ = emulator.mint_token("nobody");
            emulator
        },
        &["ya29.fixed-token-in-a-refused-config".to_string()],
    );
    for (index, log) in logs.into_iter().enumerate() {
        let log = log.expect("Envoy refuses the config");
        assert!(
            log.contains("invalid plugin configuration"),
            "config {index}: no config error in the log:\n{}",
            vertex_passthrough_tests::harness::tail(&log, 30)
        );
        for line in log.lines() {
            let found = secrets.found_in(line);
            assert!(found.is_empty(), "config {index}: Envoy logged {found:?}");
        }
    }
}
