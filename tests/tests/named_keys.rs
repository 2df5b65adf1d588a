//! Through a real Envoy with two workers: named client keys with the models and projects each
//! may use, in every form a call names them, their limits, and the client's name and model
//! handed to Envoy (access log), never to Google.

use futures_util::SinkExt;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use vertex_passthrough_tests::stack::{
    client_key_hash, generate_body, google_error, live_close, plugin_config, Stack,
};
use vertex_passthrough_tests::wait;

const TEAM_A_KEY: &str = "sk-team-a-0123456789";
const TEAM_B_KEY: &str = "sk-team-b-0123456789";
const FLASH: &str = "/vertex_ai/models/flash:generateContent";
const BETA_PRO: &str = "/vertex_ai/models/beta-pro:generateContent";

/// The usual config with the usual unnamed key and two teams: team-a may use `flash`, `live`
/// and gemini-2.0-flash in proj-alpha, team-b only `beta-pro`.
fn two_teams() -> Value {
    let mut config = plugin_config();
    config["api_keys"] = json!([
        client_key_hash(),
        {"name": "team-a", "key": TEAM_A_KEY, "models": ["flash", "live", "gemini-2.0-flash"], "projects": ["proj-alpha"]},
        {"name": "team-b", "key": TEAM_B_KEY, "models": ["beta-pro"]},
    ]);
    config
}

/// `method path` with `key` in `x-api-key` and `body` as JSON.
async fn call_as(
    stack: &Stack,
    key: &str,
    method: Method,
    path: &str,
    body: Value,
) -> reqwest::Response {
    stack
        .http
        .request(method, stack.envoy.url(path))
        .header("x-api-key", key)
        .json(&body)
        .send()
        .await
        .expect("Envoy answers")
}

async fn post_as(stack: &Stack, key: &str, path: &str) -> reqwest::Response {
    call_as(stack, key, Method::POST, path, generate_body()).await
}

/// `method path` with `body`, as `key` on a stack with the two teams, is refused with
/// `403 PERMISSION_DENIED` naming `named`, and nothing reaches Vertex.
async fn assert_forbidden(key: &str, method: Method, path: &str, body: Value, named: &str) {
    let stack = Stack::with_config(two_teams()).await;
    let response = call_as(&stack, key, method, path, body).await;
    let (code, status, message) = google_error(response).await;
    assert_eq!(
        (code, status.as_str()),
        (403, "PERMISSION_DENIED"),
        "{message}"
    );
    assert!(message.contains(named), "{message}");
    assert!(stack.emulator.vertex_requests().is_empty());
}

/// An OpenAI-compatible chat completion whose body names `model`.
fn openai_chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello"}]})
}

const OPENAI_CHAT: &str = "/vertex_ai/openai/chat/completions";

#[tokio::test]
async fn a_team_calls_the_models_its_key_lists() {
    let stack = Stack::with_config(two_teams()).await;
    assert_eq!(post_as(&stack, TEAM_A_KEY, FLASH).await.status(), 200);
    assert_eq!(post_as(&stack, TEAM_B_KEY, BETA_PRO).await.status(), 200);
    assert_eq!(stack.emulator.vertex_requests().len(), 2);
}

#[tokio::test]
async fn a_model_outside_the_keys_models_in_the_short_path_is_403_naming_it() {
    assert_forbidden(TEAM_B_KEY, Method::POST, FLASH, generate_body(), "flash").await;
}

#[tokio::test]
async fn a_model_outside_the_keys_models_in_the_full_path_is_403_naming_it() {
    assert_forbidden(TEAM_A_KEY, Method::POST, "/vertex_ai/v1/projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent", generate_body(), "gemini-2.5-pro").await;
}

#[tokio::test]
async fn a_model_outside_the_keys_models_in_the_publishers_path_is_403_naming_it() {
    assert_forbidden(
        TEAM_B_KEY,
        Method::POST,
        "/vertex_ai/publishers/google/models/flash:streamGenerateContent?alt=sse",
        generate_body(),
        "flash",
    )
    .await;
}

#[tokio::test]
async fn an_openai_body_naming_an_alias_outside_the_keys_models_is_403_naming_it() {
    assert_forbidden(
        TEAM_B_KEY,
        Method::POST,
        OPENAI_CHAT,
        openai_chat("flash"),
        "flash",
    )
    .await;
}

#[tokio::test]
async fn an_openai_body_naming_a_google_model_outside_the_keys_models_is_403_naming_it() {
    assert_forbidden(
        TEAM_A_KEY,
        Method::POST,
        OPENAI_CHAT,
        openai_chat("google/gemini-2.5-pro"),
        "gemini-2.5-pro",
    )
    .await;
}

#[tokio::test]
async fn an_openai_body_naming_a_listed_alias_with_the_google_prefix_is_forwarded() {
    let stack = Stack::with_config(two_teams()).await;
    let response = call_as(
        &stack,
        TEAM_A_KEY,
        Method::POST,
        OPENAI_CHAT,
        openai_chat("google/flash"),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(stack.emulator.vertex_requests().len(), 1);
}

/// The Anthropic SDK's `:rawPredict` names its model in the path like any model method.
#[tokio::test]
async fn an_anthropic_model_outside_the_keys_models_is_403_naming_it() {
    let path = "/vertex_ai/v1/projects/proj-alpha/locations/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict";
    let body = json!({"anthropic_version": "vertex-2023-10-16", "max_tokens": 16, "messages": [{"role": "user", "content": "hello"}]});
    assert_forbidden(
        TEAM_A_KEY,
        Method::POST,
        path,
        body,
        "claude-sonnet-4@20250514",
    )
    .await;
}

/// `?model=` fixes the session's model at the upgrade: one the key may not use is refused
/// there, before a WebSocket is opened.
#[tokio::test]
async fn a_live_upgrade_for_a_model_outside_the_keys_models_is_403_naming_it() {
    let stack = Stack::with_config(two_teams()).await;
    let refused = stack
        .live_connect_with_key("/vertex_ai/live?model=live", TEAM_B_KEY)
        .await
        .expect_err("the upgrade is refused");
    let tungstenite::Error::Http(response) = refused else {
        panic!("not an HTTP refusal: {refused}");
    };
    assert_eq!(response.status(), 403);
    let body: Value = serde_json::from_slice(response.body().as_deref().unwrap_or_default())
        .expect("a JSON error body");
    assert_eq!(body["error"]["status"], "PERMISSION_DENIED");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("live"), "{message}");
    assert!(stack.emulator.live_sessions().is_empty());
}

#[tokio::test]
async fn a_live_setup_for_a_model_outside_the_keys_models_closes_with_1008() {
    let stack = Stack::with_config(two_teams()).await;
    let mut socket = stack
        .live_connect_with_key("/vertex_ai/live", TEAM_A_KEY)
        .await
        .expect("the upgrade goes through");
    let setup = json!({"setup": {"model": "gemini-2.5-pro"}});
    socket
        .send(Message::Text(setup.to_string()))
        .await
        .expect("the setup is sent");
    let (code, reason) = live_close(&mut socket).await;
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.contains("gemini-2.5-pro"), "{reason}");
}

#[tokio::test]
async fn a_project_outside_the_keys_projects_is_403() {
    assert_forbidden(TEAM_A_KEY, Method::POST, "/vertex_ai/v1/projects/proj-beta/locations/europe-west4/publishers/google/models/gemini-2.0-flash:generateContent", generate_body(), "proj-beta").await;
}

/// A call that names no model (caches, batch jobs) is governed by `projects` alone.
#[tokio::test]
async fn a_resource_call_in_a_project_outside_the_keys_projects_is_403() {
    assert_forbidden(
        TEAM_A_KEY,
        Method::GET,
        "/vertex_ai/v1/projects/proj-beta/locations/europe-west4/batchPredictionJobs",
        json!({}),
        "proj-beta",
    )
    .await;
}

#[tokio::test]
async fn a_resource_call_in_the_keys_project_is_forwarded_whatever_its_models() {
    let stack = Stack::with_config(two_teams()).await;
    let cache = json!({"model": "projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-2.0-flash"});
    let response = call_as(
        &stack,
        TEAM_A_KEY,
        Method::POST,
        "/vertex_ai/v1/projects/proj-alpha/locations/us-central1/cachedContents",
        cache,
    )
    .await;
    assert_eq!(response.status(), 200);
    let response = call_as(
        &stack,
        TEAM_B_KEY,
        Method::GET,
        "/vertex_ai/v1/batchPredictionJobs",
        json!({}),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(stack.emulator.vertex_requests().len(), 2);
}

#[tokio::test]
async fn the_unnamed_key_still_calls_every_model() {
    let stack = Stack::with_config(two_teams()).await;
    assert_eq!(stack.post(FLASH, generate_body()).await.status(), 200);
    assert_eq!(stack.post(BETA_PRO, generate_body()).await.status(), 200);
}

#[tokio::test]
async fn the_access_log_names_the_client_and_the_model() {
    let stack = Stack::with_config(two_teams()).await;
    assert_eq!(post_as(&stack, TEAM_A_KEY, FLASH).await.status(), 200);
    stack
        .envoy
        .wait_for_log(
            "client=team-a model=flash status=200",
            Duration::from_secs(10),
        )
        .await
        .expect("an access log line for team-a's call");
}

#[tokio::test]
async fn identity_headers_a_client_forges_name_nobody_and_never_reach_google() {
    let stack = Stack::with_config(two_teams()).await;
    let response = stack
        .post_with(
            FLASH,
            &[
                ("x-api-key", TEAM_A_KEY),
                ("x-vertex-passthrough-client", "team-b"),
                ("x-vertex-passthrough-model", "beta-pro"),
            ],
            generate_body(),
        )
        .await;
    assert_eq!(response.status(), 200);
    stack
        .envoy
        .wait_for_log(
            "client=team-a model=flash status=200",
            Duration::from_secs(10),
        )
        .await
        .expect("the access log names the key's client, not the forged one");
    assert!(!stack.envoy.log().contains("client=team-b"));
    let seen = stack.emulator.vertex_requests();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0]
            .headers
            .iter()
            .all(|(name, _)| !name.starts_with("x-vertex-passthrough")),
        "{:?}",
        seen[0].headers
    );
}

/// An OpenAI-compatible body's `model` becomes the model header Envoy logs: a line break in it
/// is refused, so it cannot write a line of its own into the access log.
#[tokio::test]
async fn an_openai_model_with_a_line_break_is_400_and_forges_no_access_log_line() {
    let stack = Stack::with_config(two_teams()).await;
    let forged = "flash\n[2026-01-01T00:00:00.000Z] \"POST /x HTTP/1.1\" 200 - client=team-b";
    let response = call_as(
        &stack,
        TEAM_A_KEY,
        Method::POST,
        OPENAI_CHAT,
        openai_chat(forged),
    )
    .await;
    let (code, status, _) = google_error(response).await;
    assert_eq!((code, status.as_str()), (400, "INVALID_ARGUMENT"));
    assert!(stack.emulator.vertex_requests().is_empty());
    stack
        .envoy
        .wait_for_log("status=400", Duration::from_secs(10))
        .await
        .expect("the refusal's access log line");
    assert!(!stack.envoy.log().contains("client=team-b"));
}

/// Waits until the wall clock is not in the last 15 s of a minute, so that a few requests all
/// fall in the same minute window.
async fn early_in_a_minute() {
    wait::until("a moment early in a minute", || {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        now.as_secs() % 60 < 45
    })
    .await;
}

/// The response is `429 RESOURCE_EXHAUSTED` with a `retry-after` of 1 to 60 seconds.
async fn assert_exhausted_with_retry_after(refused: reqwest::Response) {
    let retry_after: u64 = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a retry-after header in seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let (code, status, _) = google_error(refused).await;
    assert_eq!((code, status.as_str()), (429, "RESOURCE_EXHAUSTED"));
}

/// POST a generateContent body to `FLASH` as team-a, over `connection`.
async fn post_flash_as_team_a(stack: &Stack, connection: &reqwest::Client) -> reqwest::Response {
    connection
        .post(stack.envoy.url(FLASH))
        .header("x-api-key", TEAM_A_KEY)
        .json(&generate_body())
        .send()
        .await
        .expect("Envoy answers")
}

#[tokio::test]
async fn the_request_past_a_keys_rpm_is_429_with_retry_after_across_workers() {
    let mut config = two_teams();
    config["api_keys"][1]["rpm"] = json!(3);
    let stack = Stack::with_config(config).await;
    early_in_a_minute().await;
    // Opened with the unnamed key's requests, which team-a's limit does not count.
    let workers = stack.connections_on_two_workers(FLASH).await;
    for connection in [&workers.first, &workers.second, &workers.first] {
        let response = post_flash_as_team_a(&stack, connection).await;
        assert_eq!(response.status(), 200);
    }
    let refused = post_flash_as_team_a(&stack, &workers.second).await;
    workers.assert_still_the_only_connections(&stack).await;
    assert_exhausted_with_retry_after(refused).await;
    // Another key is not held back by team-a's limit.
    assert_eq!(post_as(&stack, TEAM_B_KEY, BETA_PRO).await.status(), 200);
}

/// The tokens Vertex reports for a key's Live session count against its `tpm` when the session
/// ends; once they are spent, the key's next request is refused until the minute is over.
#[tokio::test]
async fn a_key_whose_tpm_a_live_session_spent_gets_429_with_retry_after() {
    let mut config = two_teams();
    config["api_keys"][1]["tpm"] = json!(1);
    let stack = Stack::with_config(config).await;
    early_in_a_minute().await;
    stack.live_turn_reporting_usage(TEAM_A_KEY, "live").await;
    // The worker counts the closed session and spends its tokens at once, before it hands
    // its counters to Envoy.
    stack.filter_stats_after("live.sessions_closed", 1).await;
    assert_exhausted_with_retry_after(post_as(&stack, TEAM_A_KEY, FLASH).await).await;
}
