//! Through a real Envoy: Gemini Live sessions over WebSocket, with the setup rewritten
//! for the session's alias, refused sessions closed with 1008, and session accounting.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use vertex_passthrough_tests::emulator::{
    live_echo, live_prompt_tokens, EmulatorOptions, LiveSession, LIVE_RESPONSE_TOKENS,
};
use vertex_passthrough_tests::stack::{
    generate_body, live_close, send_setup, LiveSocket, Stack, StackOptions,
};

const LIVE_MODEL: &str = "gemini-2.0-flash-live-preview-04-09";
const V1BETA1_PATH: &str = "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent";

fn full_name(project: &str, location: &str, model: &str) -> String {
    format!("projects/{project}/locations/{location}/publishers/google/models/{model}")
}

async fn setup(socket: &mut LiveSocket, model: &str) -> Value {
    let setup =
        json!({"setup": {"model": model, "generationConfig": {"responseModalities": ["AUDIO"]}}});
    send_setup(socket, &setup).await
}

fn only_session(stack: &Stack) -> LiveSession {
    let sessions = stack.emulator.live_sessions();
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    sessions.into_iter().next().unwrap()
}

#[tokio::test]
async fn every_live_path_and_prefix_upgrades_to_bidi_generate_content() {
    let stack = Stack::start().await;
    let paths = [
        "/vertex_ai/live?model=live",
        "/vertex_ai/live/stream?model=live",
        "/vertex-ai/realtime/connect?model=live",
        "/vertex_ai/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent?model=live",
        "/vertex-ai//ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent",
    ];
    for (index, path) in paths.iter().enumerate() {
        let mut socket = stack
            .live_connect(path)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let answer = setup(&mut socket, "live").await;
        assert!(answer.get("setupComplete").is_some(), "{path}: {answer}");
        socket.close(None).await.ok();
        let session = &stack.emulator.live_sessions()[index];
        assert_eq!(session.path, V1BETA1_PATH, "{path}");
        assert_eq!(session.authority, "us-central1-aiplatform.googleapis.com");
        assert_eq!(
            session.setup_model.as_deref(),
            Some(full_name("proj-alpha", "us-central1", LIVE_MODEL).as_str())
        );
        assert!(
            session
                .query
                .as_deref()
                .is_none_or(|q| !q.contains("model=")),
            "model= forwarded: {:?}",
            session.query
        );
        assert!(
            !session
                .headers
                .iter()
                .any(|(k, _)| k == "x-api-key" || k == "sec-websocket-extensions"),
            "{:?}",
            session.headers
        );
    }
}

#[tokio::test]
async fn v1_path_keeps_its_version() {
    let stack = Stack::start().await;
    let mut socket = stack.live_connect("/vertex_ai/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent?model=live").await.unwrap();
    assert!(setup(&mut socket, "live")
        .await
        .get("setupComplete")
        .is_some());
    assert_eq!(
        only_session(&stack).path,
        "/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent"
    );
}

#[tokio::test]
async fn setup_model_forms_are_completed_for_the_session() {
    let stack = Stack::start().await;
    let cases = [
        ("live", full_name("proj-alpha", "us-central1", LIVE_MODEL)),
        (LIVE_MODEL, full_name("proj-alpha", "us-central1", LIVE_MODEL)),
        ("publishers/google/models/gemini-2.0-flash-live-001", full_name("proj-alpha", "us-central1", "gemini-2.0-flash-live-001")),
        ("projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-live-2.5-flash", full_name("proj-alpha", "us-central1", "gemini-live-2.5-flash")),
        ("projects/proj-alpha/locations/us-central1/publishers/google/models/live", full_name("proj-alpha", "us-central1", LIVE_MODEL)),
    ];
    for (index, (model, expected)) in cases.iter().enumerate() {
        let mut socket = stack.live_connect("/vertex_ai/live").await.unwrap();
        let answer = setup(&mut socket, model).await;
        assert!(answer.get("setupComplete").is_some(), "{model}: {answer}");
        socket.close(None).await.ok();
        assert_eq!(
            stack.emulator.live_sessions()[index].setup_model.as_deref(),
            Some(expected.as_str()),
            "{model}"
        );
    }
}

#[tokio::test]
async fn session_routed_by_alias_reaches_its_project_location_and_credential() {
    let mut config = vertex_passthrough_tests::stack::plugin_config();
    config["model_list"].as_array_mut().unwrap().push(json!(
        {"model_name": "beta-live", "litellm_params": {"model": LIVE_MODEL, "vertex_project": "proj-beta", "vertex_location": "europe-west4", "vertex_credentials": "beta"}}
    ));
    let stack = Stack::with_config(config).await;
    let mut socket = stack
        .live_connect("/vertex_ai/live?model=beta-live")
        .await
        .unwrap();
    assert!(setup(&mut socket, "beta-live")
        .await
        .get("setupComplete")
        .is_some());
    let session = only_session(&stack);
    assert_eq!(session.authority, "europe-west4-aiplatform.googleapis.com");
    assert_eq!(
        session.setup_model.as_deref(),
        Some(full_name("proj-beta", "europe-west4", LIVE_MODEL).as_str())
    );
    assert_eq!(
        session.token_subject.as_deref(),
        Some(vertex_passthrough_tests::stack::SA_B_EMAIL)
    );
}

#[tokio::test]
async fn unserved_project_closes_with_1008_and_no_setup_reaches_vertex() {
    let stack = Stack::start().await;
    let setup = json!({"setup": {"model": full_name("someone-elses", "us-central1", LIVE_MODEL)}});
    let (code, reason) =
        close_after_first_message(&stack, "/vertex_ai/live", setup.to_string()).await;
    assert_eq!(code, CloseCode::Policy);
    assert!(
        reason.contains("someone-elses") || reason.contains("project"),
        "{reason}"
    );
    assert_no_message_reached_vertex(&stack).await;
    assert_eq!(
        stack
            .filter_stats_after("live.setups_refused", 1)
            .await
            .get("live.setups_refused"),
        Some(&1)
    );
}

/// A session on `path` whose first message is `first`: the close that answers it.
async fn close_after_first_message(
    stack: &Stack,
    path: &str,
    first: String,
) -> (CloseCode, String) {
    let mut socket = stack.live_connect(path).await.unwrap();
    socket.send(Message::Text(first)).await.unwrap();
    live_close(&mut socket).await
}

/// The emulated Vertex refuses these setups too; what matters is that the filter sent none.
async fn assert_no_message_reached_vertex(stack: &Stack) {
    for session in stack.ended_live_sessions(0).await {
        assert!(
            session.setup_model.is_none() && session.client_messages.is_empty(),
            "Vertex saw {session:#?}"
        );
    }
}

#[tokio::test]
async fn setup_for_another_location_closes_with_advice() {
    let stack = Stack::start().await;
    let setup = json!({"setup": {"model": full_name("proj-alpha", "europe-west4", LIVE_MODEL)}});
    let (code, reason) =
        close_after_first_message(&stack, "/vertex_ai/live", setup.to_string()).await;
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.contains("?model="), "{reason}");
    assert_no_message_reached_vertex(&stack).await;
}

#[tokio::test]
async fn setup_that_is_not_json_closes_with_1007() {
    let stack = Stack::start().await;
    let first = "hello, is this the model?".to_string();
    let (code, _) = close_after_first_message(&stack, "/vertex_ai/live?model=live", first).await;
    assert_eq!(code, CloseCode::Invalid);
    assert_no_message_reached_vertex(&stack).await;
}

#[tokio::test]
async fn thirty_turns_of_64_kib_binary_frames_arrive_byte_exact() {
    let stack = Stack::start().await;
    let mut socket = stack
        .live_connect("/vertex_ai/live?model=live")
        .await
        .unwrap();
    assert!(setup(&mut socket, "live")
        .await
        .get("setupComplete")
        .is_some());
    let mut sent = Vec::new();
    for turn in 0..30u32 {
        let payload: Vec<u8> = (0..65_536u32 + turn)
            .map(|i| (i.wrapping_mul(31) ^ turn) as u8)
            .collect();
        socket.send(Message::Binary(payload.clone())).await.unwrap();
        let answer = loop {
            match socket.next().await.unwrap().unwrap() {
                Message::Binary(bytes) if serde_json::from_slice::<Value>(&bytes).is_err() => {
                    break bytes
                }
                Message::Binary(_) | Message::Text(_) => continue,
                other => panic!("unexpected {other:?}"),
            }
        };
        assert_eq!(
            answer,
            live_echo(&payload),
            "turn {turn}: the answer is not byte-exact"
        );
        sent.push(payload);
    }
    socket.close(None).await.ok();
    let sessions = stack.ended_live_sessions(0).await;
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    let session = &sessions[0];
    let received: Vec<&Vec<u8>> = session.client_messages.iter().skip(1).collect();
    assert_eq!(received.len(), 30);
    for (turn, (got, want)) in received.iter().zip(&sent).enumerate() {
        assert!(*got == want, "turn {turn}: Vertex received different bytes");
    }
}

#[tokio::test]
async fn usage_metadata_is_summed_in_the_metrics() {
    let stack = Stack::start().await;
    let mut socket = stack
        .live_connect("/vertex_ai/live?model=live")
        .await
        .unwrap();
    assert!(setup(&mut socket, "live")
        .await
        .get("setupComplete")
        .is_some());
    let sizes = [1_000usize, 20_000, 300];
    for size in sizes {
        socket.send(Message::Binary(vec![7u8; size])).await.unwrap();
        // The echo, then usageMetadata.
        loop {
            let message = socket.next().await.unwrap().unwrap();
            if String::from_utf8_lossy(&message.into_data()).contains("usageMetadata") {
                break;
            }
        }
    }
    socket.close(None).await.ok();
    let expected_prompt: u64 = sizes.iter().map(|s| live_prompt_tokens(*s)).sum();
    let expected_response = LIVE_RESPONSE_TOKENS * sizes.len() as u64;
    let stats = stack.filter_stats_after("live.sessions_closed", 1).await;
    assert_eq!(stats.get("live.sessions_opened"), Some(&1), "{stats:#?}");
    assert_eq!(stats.get("live.sessions_closed"), Some(&1));
    assert_eq!(stats.get("live.prompt_tokens"), Some(&expected_prompt));
    assert_eq!(stats.get("live.response_tokens"), Some(&expected_response));
    assert_eq!(
        stats.get("live.total_tokens"),
        Some(&(expected_prompt + expected_response))
    );
    assert_eq!(
        stats.get("live.client_messages"),
        Some(&4),
        "setup + three turns"
    );
    let log = stack.envoy.log();
    let line = log
        .lines()
        .find(|l| l.contains("Live session closed"))
        .expect("a session log line");
    assert!(
        line.contains("alias=live")
            && line.contains("project=proj-alpha")
            && line.contains(&format!(
                "total_tokens={}",
                expected_prompt + expected_response
            )),
        "{line}"
    );
}

#[tokio::test]
async fn session_outlives_its_token_and_new_sessions_get_a_fresh_one() {
    let mut config = vertex_passthrough_tests::stack::plugin_config();
    config["token_refresh_margin_s"] = json!(5);
    let options = StackOptions {
        plugin_config: config,
        emulator: EmulatorOptions {
            token_lifetime_s: 8,
            ..EmulatorOptions::with_fixtures()
        },
        ..StackOptions::default()
    };
    let stack = Stack::start_with(options).await;
    let mut socket = stack
        .live_connect("/vertex_ai/live?model=live")
        .await
        .unwrap();
    assert!(setup(&mut socket, "live")
        .await
        .get("setupComplete")
        .is_some());
    let first_bearer = only_session(&stack).bearer;
    let first_expiry = stack
        .emulator
        .issued_tokens()
        .into_iter()
        .find(|t| Some(&t.token) == first_bearer.as_ref())
        .expect("the session's token was issued here")
        .expires_at;
    let until = Instant::now() + Duration::from_secs(60);
    // Turns until the session's token has expired, and one after.
    let mut after_expiry = 0;
    while after_expiry < 2 {
        if std::time::SystemTime::now() > first_expiry {
            after_expiry += 1;
        }
        assert!(Instant::now() < until, "the token never expired");
        socket.send(Message::Binary(vec![1, 2, 3])).await.unwrap();
        let answer = socket.next().await.unwrap().unwrap();
        assert!(
            matches!(answer, Message::Binary(_) | Message::Text(_)),
            "{answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut second = stack
        .live_connect("/vertex_ai/live?model=live")
        .await
        .unwrap();
    assert!(setup(&mut second, "live")
        .await
        .get("setupComplete")
        .is_some());
    let sessions = stack.emulator.live_sessions();
    assert_eq!(sessions.len(), 2);
    assert_ne!(
        sessions[0].bearer, sessions[1].bearer,
        "the new session carries the refreshed token"
    );
    let first_token = stack
        .emulator
        .issued_tokens()
        .into_iter()
        .find(|t| Some(&t.token) == sessions[0].bearer.as_ref())
        .unwrap();
    assert!(
        first_token.expires_at < std::time::SystemTime::now(),
        "the first session's token has expired meanwhile"
    );
    assert!(!sessions[0].ended, "the first session is still open");
}

#[tokio::test]
async fn wrong_client_key_is_refused_before_the_upgrade() {
    let stack = Stack::start().await;
    match stack
        .live_connect_with_key("/vertex_ai/live?model=live", "sk-wrong")
        .await
    {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401);
            let body: Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
            assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
        }
        Ok(_) => panic!("upgraded with a wrong key"),
        Err(e) => panic!("expected a 401, got {e}"),
    }
    assert!(stack.emulator.live_sessions().is_empty());
}

#[tokio::test]
async fn client_that_disconnects_mid_stream_cancels_the_upstream_request() {
    let stack = Stack::start().await;
    let mut response = stack
        .post(
            "/vertex_ai/models/flash:streamGenerateContent?alt=sse",
            generate_body(),
        )
        .await;
    assert_eq!(response.status(), 200);
    response.chunk().await.unwrap().expect("a first chunk");
    drop(response);
    vertex_passthrough_tests::wait::until("the upstream stream to be cancelled", || {
        stack.emulator.cancelled_streams() > 0
    })
    .await;
    assert!(
        !stack.emulator.stream_events().iter().any(|e| e.last),
        "the stream ran to its end"
    );
}
