//! What a client puts in its headers that must not steer Envoy or reach Google: its `x-envoy-*`
//! headers (Envoy's router obeys them from callers it counts as internal, so these tests run an
//! Envoy that trusts loopback callers, as meshes and older defaults do), its
//! `x-goog-user-project`, and key header values too long to be a key.

use serde_json::{json, Value};
use vertex_passthrough_tests::stack::{
    generate_body, google_error, plugin_config, Stack, StackOptions, CLIENT_KEY,
};

const FLASH: &str = "/vertex_ai/models/flash:generateContent";

/// The usual stack, with Envoy counting callers on 127.0.0.0/8 as internal.
async fn stack_trusting_loopback(plugin_config: Value) -> Stack {
    let options = StackOptions {
        plugin_config,
        ..StackOptions::default()
    };
    Stack::start_with_envoy(options, |envoy| envoy.trust_loopback_callers = true).await
}

#[tokio::test]
async fn a_clients_x_envoy_retry_on_does_not_make_envoy_retry_a_generation() {
    let stack = stack_trusting_loopback(plugin_config()).await;
    stack.emulator.respond_next_vertex(
        503,
        json!({"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}),
    );
    let response = stack
        .post_with(
            FLASH,
            &[
                ("x-api-key", CLIENT_KEY),
                ("x-envoy-retry-on", "5xx"),
                ("x-envoy-max-retries", "3"),
            ],
            generate_body(),
        )
        .await;
    // Envoy answers only after any retries, so the count is final here.
    assert_eq!(response.status(), 503, "Vertex's answer reaches the client");
    let seen = stack.emulator.vertex_requests();
    assert_eq!(seen.len(), 1, "the generation was sent (and billed) once");
    assert!(seen[0]
        .headers
        .iter()
        .all(|(n, _)| !n.starts_with("x-envoy-retry")));
}

#[tokio::test]
async fn a_clients_x_envoy_upstream_rq_timeout_does_not_cut_a_stream() {
    let stack = stack_trusting_loopback(plugin_config()).await;
    let response = stack
        .post_with(
            "/vertex_ai/models/flash:streamGenerateContent?alt=sse",
            &[
                ("x-api-key", CLIENT_KEY),
                ("x-envoy-upstream-rq-timeout-ms", "50"),
            ],
            generate_body(),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.expect("the whole stream");
    let events = stack.emulator.stream_events();
    let sent = events.len();
    assert!(
        events.iter().any(|e| e.last),
        "the emulator finished its stream"
    );
    assert_eq!(
        body.matches("data: ").count(),
        sent,
        "every event reached the client: {body}"
    );
}

#[tokio::test]
async fn a_clients_user_project_header_does_not_reach_google() {
    let stack = stack_trusting_loopback(plugin_config()).await;
    let response = stack
        .post_with(
            FLASH,
            &[
                ("x-api-key", CLIENT_KEY),
                ("x-goog-user-project", "someone-elses-project"),
                ("x-envoy-original-path", "/from-the-client"),
            ],
            generate_body(),
        )
        .await;
    assert_eq!(response.status(), 200);
    let seen = stack.emulator.vertex_requests();
    let headers = &seen.last().expect("a Vertex request").headers;
    for (name, value) in headers {
        assert_ne!(name, "x-goog-user-project", "reached Vertex: {value}");
        assert!(
            !value.contains("someone-elses-project") && !value.contains("/from-the-client"),
            "{name}: {value} reached Vertex"
        );
    }
}

#[tokio::test]
async fn a_key_longer_than_512_bytes_is_refused_even_when_its_hash_is_configured() {
    use sha2::{Digest, Sha256};
    let long_key = "k".repeat(513);
    let mut config = plugin_config();
    config["api_keys"] = json!([format!("sha256:{:x}", Sha256::digest(long_key.as_bytes()))]);
    let stack = Stack::with_config(config).await;
    let response = stack
        .post_with(FLASH, &[("x-api-key", &long_key)], generate_body())
        .await;
    let (status, google_status, _) = google_error(response).await;
    assert_eq!((status, google_status.as_str()), (401, "UNAUTHENTICATED"));
    assert!(stack.emulator.vertex_requests().is_empty());
}
