//! Google tokens through a real Envoy with four workers: one token fetch per credential per process,
//! refresh ahead of expiry, surviving token-endpoint outages, every credential type.

use futures_util::future::join_all;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use vertex_passthrough_tests::emulator::{
    EmulatorOptions, TokenBehaviour, TokenEndpoint, TokenOutcome, AUTHORIZED_USER_JSON,
    SERVICE_ACCOUNT_A_JSON,
};
use vertex_passthrough_tests::probe::{self, http1_request};
use vertex_passthrough_tests::stack::{
    client_key_hash, generate_body, google_error, plugin_config, Stack, StackOptions, CLIENT_KEY,
    SA_A_EMAIL, SA_B_EMAIL,
};

const FLASH: &str = "/vertex_ai/models/flash:generateContent";

async fn four_workers(
    plugin_config: Value,
    emulator: EmulatorOptions,
    vm_env: Vec<(String, String)>,
) -> Stack {
    let mut options = StackOptions {
        plugin_config,
        concurrency: 4,
        emulator,
        ..StackOptions::default()
    };
    options.vm_env.extend(vm_env);
    Stack::start_with(options).await
}

fn short_lived(lifetime_s: u64) -> EmulatorOptions {
    EmulatorOptions {
        token_lifetime_s: lifetime_s,
        ..EmulatorOptions::with_fixtures()
    }
}

fn with_margin(margin_s: u64) -> Value {
    let mut config = plugin_config();
    config["token_refresh_margin_s"] = json!(margin_s);
    config
}

fn single_credential(credential: Value) -> Value {
    json!({
        "vertex_project": "proj-alpha",
        "credentials": {"default": credential},
        "model_list": [{"model_name": "flash", "litellm_params": {"model": "gemini-2.0-flash"}}],
        "api_keys": [client_key_hash()],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cold_start_burst_fetches_one_token_per_credential() {
    let stack = four_workers(plugin_config(), EmulatorOptions::with_fixtures(), vec![]).await;
    let requests = (0..500).map(|i| {
        let path = if i % 2 == 0 {
            FLASH
        } else {
            "/vertex_ai/models/beta-pro:generateContent"
        };
        stack.post(path, generate_body())
    });
    let statuses: Vec<u16> = stack
        .envoy
        .assert_every_worker_took_part(4, "the burst", join_all(requests))
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert!(
        statuses.iter().all(|s| *s == 200),
        "statuses: {:?}",
        statuses.iter().filter(|s| **s != 200).collect::<Vec<_>>()
    );
    let subjects: Vec<String> = stack
        .emulator
        .token_requests()
        .into_iter()
        .filter_map(|t| t.subject)
        .collect();
    assert_eq!(
        subjects.iter().filter(|s| *s == SA_A_EMAIL).count(),
        1,
        "{subjects:?}"
    );
    assert_eq!(
        subjects.iter().filter(|s| *s == SA_B_EMAIL).count(),
        1,
        "{subjects:?}"
    );
    let stats = stack.filter_stats_after("requests_forwarded", 500).await;
    assert_eq!(stats.get("token.fetches"), Some(&2));
    assert_eq!(stats.get("requests_forwarded"), Some(&500));
    assert!(
        stats.get("token.waits").copied().unwrap_or(0) >= 2,
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn short_lived_tokens_are_refreshed_before_they_expire() {
    let stack = four_workers(with_margin(5), short_lived(8), vec![]).await;
    // The cold start: the one request that has to wait for a token.
    assert_eq!(stack.post(FLASH, generate_body()).await.status(), 200);
    let mut sent = 1;
    let cold = stack.filter_stats_after("requests_forwarded", 1).await;
    assert_eq!(cold.get("token.waits"), Some(&1), "{cold:?}");
    let until = Instant::now() + Duration::from_secs(120);
    while stack.emulator.issued_tokens().len() < 5 {
        assert!(
            Instant::now() < until,
            "8 s tokens were not refreshed: {:#?}",
            stack.emulator.issued_tokens()
        );
        let batch = (0..4).map(|_| stack.post(FLASH, generate_body()));
        for response in join_all(batch).await {
            assert_eq!(
                response.status(),
                200,
                "{}",
                response.text().await.unwrap_or_default()
            );
            sent += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let vertex = stack.emulator.vertex_requests();
    assert_eq!(vertex.len(), sent);
    assert!(
        vertex.iter().all(|r| !r.token_expired && r.status == 200),
        "a request reached Vertex with an expired token"
    );
    let stats = stack
        .filter_stats_after("requests_forwarded", sent as u64)
        .await;
    assert_eq!(
        stats.get("token.waits"),
        Some(&1),
        "after the cold start, a request waited for a token: {stats:?}"
    );
    let issued = stack.emulator.issued_tokens();
    for pair in issued.windows(2) {
        assert!(
            pair[1].issued_at < pair[0].expires_at,
            "a token was fetched only after the previous one expired"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_failures_keep_the_valid_token_serving() {
    // Refresh is due 5 s into a 60 s token: ample time to see it fail while the token serves.
    let stack = four_workers(with_margin(55), short_lived(60), vec![]).await;
    assert_eq!(stack.post(FLASH, generate_body()).await.status(), 200);
    stack
        .emulator
        .set_token_behaviour(TokenBehaviour::ServerError);
    let until = Instant::now() + Duration::from_secs(45);
    while refused_fetches(&stack) == 0 {
        assert!(Instant::now() < until, "no refresh was attempted");
        assert_eq!(stack.post(FLASH, generate_body()).await.status(), 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stack
        .filter_stats_when("token.fetch_failures >= 1", |stats| {
            stats.get("token.fetch_failures").copied().unwrap_or(0) >= 1
        })
        .await;
    assert_eq!(
        stack.post(FLASH, generate_body()).await.status(),
        200,
        "the token still serves after the failed refresh"
    );
    let bearers: std::collections::BTreeSet<Option<String>> = stack
        .emulator
        .vertex_requests()
        .into_iter()
        .map(|r| r.bearer)
        .collect();
    assert_eq!(bearers.len(), 1, "every request carried the one token");
}

fn refused_fetches(stack: &Stack) -> usize {
    stack
        .emulator
        .token_requests()
        .iter()
        .filter(|t| matches!(t.outcome, TokenOutcome::Refused { .. }))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_refreshes_are_retried_with_growing_backoff() {
    let stack = four_workers(with_margin(55), short_lived(60), vec![]).await;
    assert_eq!(stack.post(FLASH, generate_body()).await.status(), 200);
    stack
        .emulator
        .set_token_behaviour(TokenBehaviour::ServerError);
    // Requests at a steady pace are the clock: backoff shows as more of them served between
    // one refused retry and the next. The backoff doubles, so the fourth wait is several times
    // the first two; a constant one would leave them alike.
    let until = Instant::now() + Duration::from_secs(50);
    while refused_fetches(&stack) < 5 {
        assert!(
            Instant::now() < until,
            "refused retries: {}",
            refused_fetches(&stack)
        );
        assert_eq!(stack.post(FLASH, generate_body()).await.status(), 200);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let token_requests = stack.emulator.token_requests();
    let vertex = stack.emulator.vertex_requests();
    let refused: Vec<u64> = token_requests
        .iter()
        .filter(|t| matches!(t.outcome, TokenOutcome::Refused { .. }))
        .map(|t| t.arrival)
        .collect();
    let served_between: Vec<usize> = refused
        .windows(2)
        .map(|pair| {
            vertex
                .iter()
                .filter(|r| pair[0] < r.arrival && r.arrival < pair[1])
                .count()
        })
        .collect();
    assert!(
        served_between.iter().all(|&n| n > 0),
        "retries came back to back: {served_between:?}"
    );
    assert!(
        served_between[3] > 2 * served_between[0].max(served_between[1]),
        "the fourth wait is not much longer than the first two: {served_between:?}"
    );
    assert!(
        vertex.iter().all(|r| r.status == 200),
        "the valid token kept serving"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_a_valid_token_requests_fail_fast_and_recover_without_restart() {
    let stack = four_workers(plugin_config(), EmulatorOptions::with_fixtures(), vec![]).await;
    stack
        .emulator
        .set_token_behaviour(TokenBehaviour::ServerError);
    for _ in 0..5 {
        let (code, status, message) = google_error(stack.post(FLASH, generate_body()).await).await;
        assert_eq!((code, status.as_str()), (503, "UNAVAILABLE"));
        assert!(message.contains("http_500"), "{message}");
    }
    // Fast: a request that finds a recent failure gets it at once, without waiting for a
    // fetch of its own, so five requests cause fewer waits and fetches than five.
    let stats = stack
        .filter_stats_after("rejected.token_unavailable", 5)
        .await;
    let waits = stats.get("token.waits").copied().unwrap_or(0);
    assert!((1..5).contains(&waits), "requests that waited: {stats:?}");
    let fetches = stack.emulator.token_requests().len();
    assert!((1..5).contains(&fetches), "token requests: {fetches}");
    assert!(stack.emulator.vertex_requests().is_empty());

    stack.emulator.set_token_behaviour(TokenBehaviour::Issue);
    // Requests that arrive within a second of a failure get that failure; then they retry.
    let until = Instant::now() + vertex_passthrough_tests::wait::DEADLINE;
    loop {
        let response = stack.post(FLASH, generate_body()).await;
        if response.status() == 200 {
            break;
        }
        assert_eq!(response.status(), 503);
        assert!(Instant::now() < until, "never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stack
        .emulator
        .vertex_requests()
        .iter()
        .all(|r| r.status == 200));
}

#[tokio::test]
async fn vertex_401_makes_the_next_request_fetch_a_new_token() {
    let stack = Stack::start().await;
    assert_eq!(stack.post(FLASH, generate_body()).await.status(), 200);
    stack.emulator.revoke_all_tokens();
    let (code, _, _) = google_error(stack.post(FLASH, generate_body()).await).await;
    assert_eq!(code, 401, "Vertex's refusal passes through");
    assert_eq!(stack.post(FLASH, generate_body()).await.status(), 200);
    let bearers: Vec<Option<String>> = stack
        .emulator
        .vertex_requests()
        .into_iter()
        .map(|r| r.bearer)
        .collect();
    assert_eq!(bearers[0], bearers[1]);
    assert_ne!(
        bearers[1], bearers[2],
        "the third request carries a newly fetched token"
    );
    assert_eq!(stack.emulator.token_requests().len(), 2);
    assert_eq!(
        stack
            .filter_stats_after("requests_forwarded", 3)
            .await
            .get("upstream_unauthorized"),
        Some(&1)
    );
}

fn last_bearer(stack: &Stack) -> Option<String> {
    stack
        .emulator
        .vertex_requests()
        .pop()
        .and_then(|r| r.bearer)
}

// Each worker keeps its own copy of the token; Vertex refusing it on one worker must still
// reach the other.
#[tokio::test]
async fn vertex_401_on_one_worker_makes_the_other_worker_fetch_a_new_token() {
    let stack = Stack::start().await;
    let workers = stack.connections_on_two_workers(FLASH).await;
    let (first, second) = (&workers.first, &workers.second);
    let refused = last_bearer(&stack);
    stack.emulator.revoke_all_tokens();
    let (code, _, _) = google_error(stack.post_on(first, FLASH).await).await;
    assert_eq!(code, 401, "Vertex's refusal passes through");
    assert_eq!(last_bearer(&stack), refused);
    assert_eq!(
        stack.post_on(second, FLASH).await.status(),
        200,
        "the other worker sets its copy of the refused token aside"
    );
    assert_ne!(last_bearer(&stack), refused);
    assert_eq!(stack.emulator.token_requests().len(), 2);
    workers.assert_still_the_only_connections(&stack).await;
}

#[tokio::test]
async fn expires_in_as_a_string_is_understood() {
    let stack = Stack::start().await;
    stack.emulator.set_expires_in_as_string(true);
    for _ in 0..3 {
        assert_eq!(stack.post(FLASH, generate_body()).await.status(), 200);
    }
    assert_eq!(stack.emulator.token_requests().len(), 1);
}

#[tokio::test]
async fn token_response_without_a_token_is_a_clear_503() {
    let stack = Stack::start().await;
    stack
        .emulator
        .set_token_behaviour(TokenBehaviour::MissingToken);
    let (code, _, message) = google_error(stack.post(FLASH, generate_body()).await).await;
    assert_eq!(code, 503);
    assert!(message.contains("malformed_token_response"), "{message}");
}

#[tokio::test]
async fn authorized_user_uses_the_refresh_token_grant() {
    let key: Value = serde_json::from_str(AUTHORIZED_USER_JSON).unwrap();
    let stack = Stack::with_config(single_credential(
        json!({"type": "authorized_user", "key": key}),
    ))
    .await;
    assert_eq!(stack.post(FLASH, generate_body()).await.status(), 200);
    let token_requests = stack.emulator.token_requests();
    assert_eq!(token_requests.len(), 1);
    assert_eq!(
        token_requests[0].grant_type.as_deref(),
        Some("refresh_token")
    );
    assert_eq!(
        token_requests[0].subject.as_deref(),
        key["client_id"].as_str()
    );
    assert!(matches!(
        token_requests[0].outcome,
        TokenOutcome::Issued { .. }
    ));
}

#[tokio::test]
async fn metadata_server_is_asked_with_the_flavor_header() {
    let stack = Stack::with_config(single_credential(json!({"type": "metadata_server"}))).await;
    assert_eq!(stack.post(FLASH, generate_body()).await.status(), 200);
    let token_requests = stack.emulator.token_requests();
    assert_eq!(token_requests.len(), 1);
    assert_eq!(token_requests[0].endpoint, TokenEndpoint::Metadata);
    assert!(token_requests[0]
        .headers
        .iter()
        .any(|(k, v)| k == "metadata-flavor" && v == "Google"));
}

fn without_credentials() -> Value {
    let mut config = single_credential(Value::Null);
    config.as_object_mut().unwrap().remove("credentials");
    config
}

#[tokio::test]
async fn application_default_reads_the_key_from_the_environment() {
    let options = StackOptions {
        plugin_config: without_credentials(),
        vm_env: vec![(
            "GOOGLE_APPLICATION_CREDENTIALS_JSON".into(),
            SERVICE_ACCOUNT_A_JSON.into(),
        )],
        ..StackOptions::default()
    };
    let stack = Stack::start_with(options).await;
    assert_eq!(stack.post(FLASH, generate_body()).await.status(), 200);
    let token_requests = stack.emulator.token_requests();
    assert_eq!(token_requests.len(), 1);
    assert_eq!(token_requests[0].subject.as_deref(), Some(SA_A_EMAIL));
}

#[tokio::test]
async fn application_default_falls_back_to_the_metadata_server() {
    let stack = Stack::with_config(without_credentials()).await;
    assert_eq!(stack.post(FLASH, generate_body()).await.status(), 200);
    let token_requests = stack.emulator.token_requests();
    assert_eq!(token_requests.len(), 1);
    assert_eq!(token_requests[0].endpoint, TokenEndpoint::Metadata);
}

#[tokio::test]
async fn metrics_count_fetches_hits_waits_and_remaining_lifetime() {
    let stack = Stack::start().await;
    for _ in 0..5 {
        assert_eq!(stack.post(FLASH, generate_body()).await.status(), 200);
    }
    // The gauge is set on the once-a-second tick, after the counters are handed over.
    let stats = stack
        .filter_stats_when("5 requests forwarded and the remaining lifetime", |stats| {
            stats.get("requests_forwarded") >= Some(&5)
                && stats.get("credential.default.token_remaining_seconds") > Some(&0)
        })
        .await;
    assert_eq!(stats.get("token.fetches"), Some(&1), "{stats:?}");
    assert_eq!(stats.get("token.waits"), Some(&1));
    assert_eq!(stats.get("token.cache_hits"), Some(&4));
    assert_eq!(stats.get("token.fetch_failures"), Some(&0));
    let remaining = stats
        .get("credential.default.token_remaining_seconds")
        .copied()
        .unwrap_or(0);
    assert!(
        (3500..=3600).contains(&remaining),
        "remaining lifetime {remaining}"
    );
    let prometheus = stack.envoy.prometheus().await.unwrap();
    assert!(
        prometheus.contains("vertex_passthrough_token_fetches"),
        "{prometheus}"
    );
}

#[tokio::test]
async fn a_body_arriving_while_the_token_is_fetched_waits_for_the_token() {
    let options = StackOptions {
        plugin_config: {
            let mut config = plugin_config();
            config["token_fetch_timeout_ms"] = json!(10_000);
            config
        },
        ..StackOptions::default()
    };
    // Envoy then hands the filter request body while the filter holds the headers.
    let stack = Stack::start_with_envoy(options, |envoy| {
        envoy.allow_on_headers_stop_iteration = true
    })
    .await;
    stack.emulator.hold_token_answers(true);
    let body = generate_body().to_string().into_bytes();
    let request = http1_request(
        format!("POST {FLASH} HTTP/1.1").as_bytes(),
        &[format!("x-api-key: {CLIENT_KEY}").as_bytes()],
        &body,
    );
    let port = stack.envoy.port;
    let sent = request.clone();
    let exchange = tokio::spawn(async move { probe::raw(port, &sent).await });
    // Envoy has read the whole request, body included, while the token answer is held.
    let rx_bytes = "http.vertex_passthrough.downstream_cx_rx_bytes_total";
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stats = stack.envoy.stats().await.expect("admin stats");
        let read = stats.get(rx_bytes).copied().unwrap_or(0);
        if read >= request.len() as u64 && !stack.emulator.token_requests().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Envoy read {read} of {} bytes; token requests: {}",
            request.len(),
            stack.emulator.token_requests().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stack.emulator.hold_token_answers(false);
    let outcome = exchange.await.expect("the exchange ran");
    let answer = outcome
        .answer()
        .unwrap_or_else(|| panic!("no answer: {outcome:?}"));
    assert_eq!(answer.status, 200, "{}", answer.text());
    let seen = stack.emulator.vertex_requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].token_subject.as_deref(), Some(SA_A_EMAIL));
    assert_eq!(&seen[0].body[..], &body[..], "the whole body went on");
}

#[tokio::test]
async fn a_token_fetched_inside_the_refresh_margin_is_not_fetched_again_every_tick() {
    // The metadata server hands out a token with 60 s left; the margin is 300 s.
    let options = StackOptions {
        plugin_config: single_credential(json!({"type": "metadata_server"})),
        emulator: short_lived(60),
        ..StackOptions::default()
    };
    let stack = Stack::start_with(options).await;
    assert_eq!(stack.post(FLASH, generate_body()).await.status(), 200);
    // The remaining-lifetime gauge is the clock: once it shows four seconds gone, the filter's
    // once-a-second tick has looked at the token at least three times.
    let gauge = "wasmcustom.vertex_passthrough.credential.default.token_remaining_seconds";
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stats = stack.envoy.stats().await.expect("admin stats");
        if stats.get(gauge).is_some_and(|&left| left > 0 && left <= 56) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the token's remaining life never ran down: {} token requests, {gauge} = {:?}",
            stack.emulator.token_requests().len(),
            stats.get(gauge)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stack.emulator.token_requests().len(), 1);
}
