//! Through a real Envoy: REST requests are routed, rewritten, authenticated and carry a
//! minted Google token; everything else gets a Google-shaped error and never reaches Vertex.

use serde_json::json;
use std::time::{Duration, Instant};
use vertex_passthrough_tests::emulator::{TokenOutcome, VertexRequest};
use vertex_passthrough_tests::stack::{
    generate_body, google_error, Stack, CLIENT_KEY, SA_A_EMAIL, SA_B_EMAIL,
};

fn header<'a>(request: &'a VertexRequest, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn only_vertex_request(stack: &Stack) -> VertexRequest {
    let requests = stack.emulator.vertex_requests();
    assert_eq!(
        requests.len(),
        1,
        "exactly one request reached Vertex: {requests:#?}"
    );
    requests.into_iter().next().unwrap()
}

fn assert_nothing_reached_vertex(stack: &Stack) {
    assert!(
        stack.emulator.vertex_requests().is_empty(),
        "Vertex saw {:#?}",
        stack.emulator.vertex_requests()
    );
}

#[tokio::test]
async fn every_rest_path_form_reaches_vertex_rewritten() {
    let stack = Stack::start().await;
    let full = "/v1/projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent";
    let cases = [
        ("/vertex_ai/v1/projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent", full.to_string()),
        ("/vertex-ai/v1beta1/projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent", full.replace("/v1/", "/v1beta1/")),
        ("/vertex_ai/v1/publishers/google/models/gemini-2.0-flash:generateContent", full.to_string()),
        ("/vertex_ai/publishers/google/models/gemini-2.0-flash:generateContent", full.to_string()),
        ("/vertex_ai/models/gemini-2.0-flash:generateContent", full.to_string()),
        ("/vertex_ai//v1//models/gemini-2.0-flash:generateContent", full.to_string()),
    ];
    for (index, (client_path, upstream_path)) in cases.iter().enumerate() {
        let response = stack
            .post_with(
                client_path,
                &[
                    ("x-api-key", CLIENT_KEY),
                    ("authorization", "Bearer placeholder-sdk-credentials"),
                ],
                generate_body(),
            )
            .await;
        assert_eq!(
            response.status(),
            200,
            "{client_path}: {}",
            response.text().await.unwrap_or_default()
        );
        let seen = stack.emulator.vertex_requests();
        let request = &seen[index];
        assert_eq!(&request.path, upstream_path, "{client_path}");
        assert_eq!(request.authority, "us-central1-aiplatform.googleapis.com");
        assert_eq!(
            request.token_subject.as_deref(),
            Some(SA_A_EMAIL),
            "our Google token, not the client's"
        );
        assert!(
            header(request, "x-api-key").is_none(),
            "client key forwarded"
        );
        assert!(
            header(request, "x-vertex-passthrough").is_none(),
            "marker forwarded"
        );
    }
}

#[tokio::test]
async fn query_is_kept_but_key_and_model_are_removed() {
    let stack = Stack::start().await;
    let response = stack
        .post("/vertex_ai/models/gemini-2.0-flash:streamGenerateContent?alt=sse&key=sk-leaked&model=x", generate_body())
        .await;
    assert_eq!(response.status(), 200);
    let _ = response.text().await;
    assert_eq!(
        only_vertex_request(&stack).query.as_deref(),
        Some("alt=sse")
    );
}

#[tokio::test]
async fn locations_select_their_hosts() {
    let stack = Stack::start().await;
    for (location, host) in [
        ("global", "aiplatform.googleapis.com"),
        ("us-central1", "us-central1-aiplatform.googleapis.com"),
        ("europe-west4", "europe-west4-aiplatform.googleapis.com"),
        ("us", "aiplatform.us.rep.googleapis.com"),
        ("eu", "aiplatform.eu.rep.googleapis.com"),
    ] {
        let path = format!("/vertex_ai/v1/projects/proj-alpha/locations/{location}/publishers/google/models/m:generateContent");
        let response = stack.post(&path, generate_body()).await;
        assert_eq!(
            response.status(),
            200,
            "{location}: {}",
            response.text().await.unwrap_or_default()
        );
        let last = stack.emulator.vertex_requests().pop().unwrap();
        assert_eq!(last.authority, host);
        assert_eq!(last.sni.as_deref(), Some(host), "TLS SNI follows the host");
    }
}

#[tokio::test]
async fn alias_resolves_to_its_model_project_location_and_credential() {
    let stack = Stack::start().await;
    let response = stack
        .post("/vertex_ai/v1beta1/projects/anything/locations/us/publishers/google/models/beta-pro:generateContent", generate_body())
        .await;
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );
    let request = only_vertex_request(&stack);
    assert_eq!(request.path, "/v1beta1/projects/proj-beta/locations/europe-west4/publishers/google/models/gemini-2.5-pro:generateContent");
    assert_eq!(request.authority, "europe-west4-aiplatform.googleapis.com");
    assert_eq!(request.token_subject.as_deref(), Some(SA_B_EMAIL));
}

#[tokio::test]
async fn two_credentials_each_get_their_own_token() {
    let stack = Stack::start().await;
    for path in [
        "/vertex_ai/models/flash:generateContent",
        "/vertex_ai/models/beta-pro:generateContent",
        "/vertex_ai/models/flash:countTokens",
    ] {
        let response = stack.post(path, generate_body()).await;
        assert_eq!(response.status(), 200, "{path}");
    }
    let subjects: Vec<Option<String>> = stack
        .emulator
        .vertex_requests()
        .into_iter()
        .map(|r| r.token_subject)
        .collect();
    assert_eq!(
        subjects,
        [
            Some(SA_A_EMAIL.to_string()),
            Some(SA_B_EMAIL.to_string()),
            Some(SA_A_EMAIL.to_string())
        ]
    );
    let mut token_subjects: Vec<String> = stack
        .emulator
        .token_requests()
        .into_iter()
        .filter_map(|t| t.subject)
        .collect();
    token_subjects.sort();
    assert_eq!(
        token_subjects,
        [SA_A_EMAIL, SA_B_EMAIL],
        "one token request per credential"
    );
}

#[tokio::test]
async fn project_not_in_the_config_is_forbidden() {
    let stack = Stack::start().await;
    let response = stack
        .post("/vertex_ai/v1/projects/someone-elses/locations/us-central1/publishers/google/models/m:generateContent", generate_body())
        .await;
    let (code, status, message) = google_error(response).await;
    assert_eq!((code, status.as_str()), (403, "PERMISSION_DENIED"));
    assert!(message.contains("someone-elses"));
    assert_nothing_reached_vertex(&stack);
}

#[tokio::test]
async fn missing_or_wrong_client_key_is_unauthenticated() {
    let stack = Stack::start().await;
    let path = "/vertex_ai/models/flash:generateContent";
    for headers in [
        vec![],
        vec![("x-api-key", "sk-wrong")],
        vec![("authorization", "Bearer sk-wrong")],
    ] {
        let response = stack.post_with(path, &headers, generate_body()).await;
        let (code, status, _) = google_error(response).await;
        assert_eq!(
            (code, status.as_str()),
            (401, "UNAUTHENTICATED"),
            "{headers:?}"
        );
    }
    let response = stack
        .post_with(&format!("{path}?key={CLIENT_KEY}"), &[], generate_body())
        .await;
    assert_eq!(
        response.status(),
        401,
        "a key in the query string is not accepted"
    );
    assert_nothing_reached_vertex(&stack);
}

#[tokio::test]
async fn every_client_key_header_form_authenticates() {
    let stack = Stack::start().await;
    let bearer = format!("Bearer {CLIENT_KEY}");
    for (name, value) in [
        ("authorization", bearer.as_str()),
        ("x-litellm-api-key", CLIENT_KEY),
        ("x-litellm-api-key", bearer.as_str()),
        ("x-api-key", CLIENT_KEY),
        ("api-key", CLIENT_KEY),
    ] {
        let response = stack
            .post_with(
                "/vertex_ai/models/flash:generateContent",
                &[(name, value)],
                generate_body(),
            )
            .await;
        assert_eq!(response.status(), 200, "{name}: {value}");
        let request = stack.emulator.vertex_requests().pop().unwrap();
        assert!(
            !request.headers.iter().any(|(_, v)| v.contains(CLIENT_KEY)),
            "the client key reached Vertex via {name}"
        );
    }
}

#[tokio::test]
async fn malformed_paths_and_unknown_methods_never_reach_vertex() {
    let stack = Stack::start().await;
    let cases = [
        ("/vertex_ai/models/flash:deleteModel", 404, "NOT_FOUND"),
        ("/vertex_ai/v2/models/flash:generateContent", 404, "NOT_FOUND"),
        ("/vertex_ai/admin/settings", 404, "NOT_FOUND"),
        ("/vertex_ai", 404, "NOT_FOUND"),
        ("/vertex_ai/models/a%2F..%2Fb:generateContent", 400, "INVALID_ARGUMENT"),
        ("/vertex_ai/models/%2e%2e:generateContent", 400, "INVALID_ARGUMENT"),
        ("/vertex_ai/v1/projects/UPPER/locations/us-central1/publishers/google/models/m:generateContent", 400, "INVALID_ARGUMENT"),
        ("/vertex_ai/v1/projects/proj-alpha/locations/us-central1/publishers/google/models/m@x!:generateContent", 400, "INVALID_ARGUMENT"),
    ];
    for (path, code, status) in cases {
        let response = stack.post(path, generate_body()).await;
        let got = google_error(response).await;
        assert_eq!((got.0, got.1.as_str()), (code, status), "{path}: {}", got.2);
    }
    assert_nothing_reached_vertex(&stack);
}

#[tokio::test]
async fn dot_segments_are_refused_before_routing() {
    let stack = Stack::start().await;
    // Sent raw so no client library normalises the path first.
    let (status, answer) = raw_request(
        &stack,
        "GET /vertex_ai/../vertex_ai/models/flash:generateContent HTTP/1.1",
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    let body: serde_json::Value = answer
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| serde_json::from_str(body).ok())
        .unwrap_or_else(|| panic!("a JSON error body: {answer}"));
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("dot segments")),
        "{body}"
    );
    // The filter counts what it refuses; Envoy's catch-all route would not.
    let stats = stack
        .filter_stats_after("rejected.invalid_argument", 1)
        .await;
    assert_eq!(stats.get("rejected.invalid_argument"), Some(&1));
    assert_nothing_reached_vertex(&stack);
}

async fn raw_request(stack: &Stack, request_line: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", stack.envoy.port))
        .await
        .unwrap();
    let request = format!(
        "{request_line}\r\nhost: localhost\r\nx-api-key: {CLIENT_KEY}\r\nconnection: close\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).await.unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

#[tokio::test]
async fn live_path_without_upgrade_asks_for_a_websocket() {
    let stack = Stack::start().await;
    let response = stack
        .http
        .get(stack.envoy.url("/vertex_ai/live?model=live"))
        .header("x-api-key", CLIENT_KEY)
        .send()
        .await
        .unwrap();
    let (code, status, message) = google_error(response).await;
    assert_eq!((code, status.as_str()), (426, "FAILED_PRECONDITION"));
    assert!(message.contains("ws://"), "{message}");
    assert_nothing_reached_vertex(&stack);
}

#[tokio::test]
async fn sequential_requests_share_one_token() {
    let stack = Stack::start().await;
    for _ in 0..30 {
        let response = stack
            .post("/vertex_ai/models/flash:generateContent", generate_body())
            .await;
        assert_eq!(response.status(), 200);
    }
    assert_eq!(
        stack.emulator.token_requests().len(),
        1,
        "{:#?}",
        stack.emulator.token_requests()
    );
    let stats = stack.filter_stats_after("requests_forwarded", 30).await;
    assert_eq!(stats.get("token.fetches"), Some(&1));
    assert_eq!(stats.get("requests_forwarded"), Some(&30));
}

#[tokio::test]
async fn vertex_errors_reach_the_client_unchanged() {
    let stack = Stack::start().await;
    for (status, body) in [
        (
            429,
            json!({"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}}),
        ),
        (
            500,
            json!({"error": {"code": 500, "message": "Internal error", "status": "INTERNAL"}}),
        ),
        (
            400,
            json!({"error": {"code": 400, "message": "bad contents", "status": "INVALID_ARGUMENT"}}),
        ),
    ] {
        stack.emulator.respond_next_vertex(status, body.clone());
        let response = stack
            .post("/vertex_ai/models/flash:generateContent", generate_body())
            .await;
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(response.json::<serde_json::Value>().await.unwrap(), body);
    }
}

#[tokio::test]
async fn sse_chunks_reach_the_client_before_the_stream_ends() {
    let stack = Stack::start().await;
    let mut response = stack
        .post(
            "/vertex_ai/models/flash:streamGenerateContent?alt=sse",
            generate_body(),
        )
        .await;
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().expect("a first chunk");
    let first_at = Instant::now();
    assert!(
        String::from_utf8_lossy(&first).starts_with("data: "),
        "{first:?}"
    );
    let mut rest = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        rest.extend_from_slice(&chunk);
    }
    let events = stack.emulator.stream_events();
    let last = events
        .iter()
        .find(|e| e.last)
        .expect("the emulator sent its last chunk");
    assert!(
        first_at < last.sent_at,
        "the first chunk arrived only after the last was sent: buffered"
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&first),
        String::from_utf8_lossy(&rest)
    );
    assert_eq!(all.matches("data: ").count(), events.len());
}

#[tokio::test]
async fn stream_raw_predict_passes_through() {
    let stack = Stack::start().await;
    let response = stack
        .post("/vertex_ai/publishers/anthropic/models/claude-3-5-sonnet@20240620:streamRawPredict", json!({"anthropic_version": "vertex-2023-10-16", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}))
        .await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains("message_stop"), "{text}");
    assert_eq!(only_vertex_request(&stack).path, "/v1/projects/proj-alpha/locations/us-central1/publishers/anthropic/models/claude-3-5-sonnet@20240620:streamRawPredict");
}

mod token_endpoint_failures {
    use super::*;
    use vertex_passthrough_tests::emulator::TokenBehaviour;

    async fn assert_503_then_recovery(behaviour: TokenBehaviour, expected_code: &str) {
        let stack = Stack::start().await;
        stack.emulator.set_token_behaviour(behaviour);
        let response = stack
            .post("/vertex_ai/models/flash:generateContent", generate_body())
            .await;
        let (code, status, message) = google_error(response).await;
        assert_eq!((code, status.as_str()), (503, "UNAVAILABLE"));
        assert!(
            expected_code.split('|').any(|code| message.contains(code)),
            "{message}"
        );
        let token_requests = stack.emulator.token_requests();
        assert!(
            !token_requests.is_empty()
                && token_requests
                    .iter()
                    .all(|t| !matches!(t.outcome, TokenOutcome::Issued { .. })),
            "the 503 follows a fetch the endpoint did not answer with a token: {token_requests:#?}"
        );
        assert_nothing_reached_vertex(&stack);

        stack.emulator.set_token_behaviour(TokenBehaviour::Issue);
        let deadline = Instant::now() + vertex_passthrough_tests::wait::DEADLINE;
        loop {
            let response = stack
                .post("/vertex_ai/models/flash:generateContent", generate_body())
                .await;
            if response.status() == 200 {
                break;
            }
            assert_eq!(response.status(), 503);
            assert!(
                Instant::now() < deadline,
                "never recovered after the token endpoint came back"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(stack
            .emulator
            .token_requests()
            .iter()
            .any(|t| matches!(t.outcome, TokenOutcome::Issued { .. })));
    }

    #[tokio::test]
    async fn invalid_grant_gives_503_with_the_oauth_code() {
        assert_503_then_recovery(
            TokenBehaviour::OAuthError {
                status: 400,
                error: "invalid_grant".into(),
            },
            "invalid_grant",
        )
        .await;
    }

    #[tokio::test]
    async fn server_error_gives_503() {
        assert_503_then_recovery(TokenBehaviour::ServerError, "http_500").await;
    }

    #[tokio::test]
    async fn garbage_gives_503() {
        assert_503_then_recovery(TokenBehaviour::Garbage, "malformed_token_response").await;
    }

    #[tokio::test]
    async fn hanging_endpoint_gives_503_when_the_fetch_times_out() {
        assert_503_then_recovery(TokenBehaviour::Hang, "timeout|no_response").await;
    }
}
