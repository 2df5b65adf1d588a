//! Through a real Envoy with two workers: named client keys with the models and projects each
//! may use, and the client's name and model handed to Envoy (access log), never to Google.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use vertex_passthrough_tests::stack::{
    client_key_hash, generate_body, google_error, plugin_config, Stack,
};
use vertex_passthrough_tests::wait;

const TEAM_A_KEY: &str = "sk-team-a-0123456789";
const TEAM_B_KEY: &str = "sk-team-b-0123456789";
const FLASH: &str = "/vertex_ai/models/flash:generateContent";

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

async fn post_as(stack: &Stack, key: &str, path: &str) -> reqwest::Response {
    stack
        .post_with(path, &[("x-api-key", key)], generate_body())
        .await
}

#[tokio::test]
async fn a_team_calls_the_models_its_key_lists() {
    let stack = Stack::with_config(two_teams()).await;
    assert_eq!(post_as(&stack, TEAM_A_KEY, FLASH).await.status(), 200);
    let beta = "/vertex_ai/models/beta-pro:generateContent";
    assert_eq!(post_as(&stack, TEAM_B_KEY, beta).await.status(), 200);
    assert_eq!(stack.emulator.vertex_requests().len(), 2);
}

#[tokio::test]
async fn a_model_outside_the_keys_models_is_403_naming_it_and_nothing_is_forwarded() {
    let stack = Stack::with_config(two_teams()).await;
    let response = post_as(&stack, TEAM_B_KEY, FLASH).await;
    let (code, status, message) = google_error(response).await;
    assert_eq!((code, status.as_str()), (403, "PERMISSION_DENIED"));
    assert!(message.contains("flash"), "{message}");
    assert!(stack.emulator.vertex_requests().is_empty());
}

#[tokio::test]
async fn a_project_outside_the_keys_projects_is_403() {
    let stack = Stack::with_config(two_teams()).await;
    let path = "/vertex_ai/v1/projects/proj-beta/locations/europe-west4/publishers/google/models/gemini-2.0-flash:generateContent";
    let (code, status, message) = google_error(post_as(&stack, TEAM_A_KEY, path).await).await;
    assert_eq!((code, status.as_str()), (403, "PERMISSION_DENIED"));
    assert!(message.contains("proj-beta"), "{message}");
    assert!(stack.emulator.vertex_requests().is_empty());
}

#[tokio::test]
async fn the_unnamed_key_still_calls_every_model() {
    let stack = Stack::with_config(two_teams()).await;
    assert_eq!(stack.post(FLASH, generate_body()).await.status(), 200);
    let beta = "/vertex_ai/models/beta-pro:generateContent";
    assert_eq!(stack.post(beta, generate_body()).await.status(), 200);
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
    let (code, reason) = loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("the session closes within 10 s")
        {
            Some(Ok(Message::Close(Some(frame)))) => break (frame.code, frame.reason.to_string()),
            Some(Ok(Message::Close(None))) => panic!("closed without a code"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("the session broke instead of closing: {e}"),
            None => panic!("the connection ended without a close frame"),
        }
    };
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.contains("gemini-2.5-pro"), "{reason}");
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

#[tokio::test]
async fn the_request_past_a_keys_rpm_is_429_with_retry_after_across_workers() {
    let mut config = two_teams();
    config["api_keys"][1]["rpm"] = json!(3);
    let stack = Stack::with_config(config).await;
    early_in_a_minute().await;
    for _ in 0..3 {
        assert_eq!(post_as(&stack, TEAM_A_KEY, FLASH).await.status(), 200);
    }
    let refused = post_as(&stack, TEAM_A_KEY, FLASH).await;
    let retry_after: u64 = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a retry-after header in seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let (code, status, _) = google_error(refused).await;
    assert_eq!((code, status.as_str()), (429, "RESOURCE_EXHAUSTED"));
    assert_eq!(stack.emulator.vertex_requests().len(), 3);
    // Another key is not held back by team-a's limit.
    assert_eq!(
        post_as(
            &stack,
            TEAM_B_KEY,
            "/vertex_ai/models/beta-pro:generateContent"
        )
        .await
        .status(),
        200
    );
}
