//! A named key's usage: the response read as it passes, counted once when it ends.

use super::*;

/// Team `team-a` (counted, with a `tpm`) and a plain key `sk-plain`.
fn counting_worker(proxy: &Rc<MockProxy>, tpm: u64) -> Rc<WorkerState<MockHost>> {
    let c = json!({
        "vertex_project": "proj-alpha",
        "credentials": {"default": {"type": "access_token", "token": "t-alpha"}},
        "model_list": [{"model_name": "flash", "litellm_params": {"model": "gemini-2.0-flash"}}],
        "api_keys": ["sk-plain", {"name": "team-a", "key": "sk-test", "tpm": tpm}],
    });
    Rc::new(WorkerState::new(proxy.worker(), test_config::load(&c)))
}

const ANSWER: &[u8] = br#"{"candidates":[{"content":{"parts":[{"text":"Hi"}]}}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":7,"totalTokenCount":12}}"#;

/// The response body arrives in two chunks, the last one ending the stream when `ends`.
fn answered(
    w: &Rc<WorkerState<MockHost>>,
    request: &mut HttpRequest<MockHost>,
    context_id: u32,
    ends: bool,
) {
    respond(w, request, context_id, 200);
    let (a, b) = ANSWER.split_at(70);
    host(w).set_body(context_id, Body::Response, a);
    request.on_response_body(a.len(), false);
    host(w).set_body(context_id, Body::Response, b);
    request.on_response_body(b.len(), ends);
}

/// Team-a's call to `flash` (request 1) on a fresh worker, answered `ANSWER`.
fn team_a_answered(
    tpm: u64,
    ends: bool,
) -> (
    Rc<MockProxy>,
    Rc<WorkerState<MockHost>>,
    HttpRequest<MockHost>,
) {
    let proxy = MockProxy::new();
    let w = counting_worker(&proxy, tpm);
    let (mut request, _) = arrive(&w, 1, &post(FLASH));
    answered(&w, &mut request, 1, ends);
    (proxy, w, request)
}

fn flash_metric(proxy: &MockProxy, what: &str) -> u64 {
    proxy.metric(&format!("usage.client.team-a.model.flash.{what}"))
}

/// Team-a's `flash` counters: requests, prompt, response and total tokens, errors.
fn flash_counts(proxy: &MockProxy) -> [u64; 5] {
    [
        "requests",
        "prompt_tokens",
        "response_tokens",
        "total_tokens",
        "errors",
    ]
    .map(|what| flash_metric(proxy, what))
}

#[test]
fn a_named_keys_response_counts_its_tokens_under_its_client_and_model() {
    let (proxy, w, mut request) = team_a_answered(1000, true);
    request.on_log();
    w.on_tick();
    assert_eq!(flash_counts(&proxy), [1, 5, 7, 12, 0]);
    assert_eq!(
        host(&w).request(1).properties.get(TOKENS_PROPERTY),
        Some(&b"12".to_vec())
    );
}

#[test]
fn a_response_that_never_ends_is_counted_when_the_stream_is_logged() {
    let (proxy, w, mut request) = team_a_answered(1000, false);
    w.on_tick();
    assert_eq!(flash_metric(&proxy, "requests"), 0);
    request.on_log();
    w.on_tick();
    assert_eq!(flash_metric(&proxy, "total_tokens"), 12);
}

#[test]
fn an_error_from_vertex_counts_as_an_error_of_the_pair() {
    let proxy = MockProxy::new();
    let w = counting_worker(&proxy, 1000);
    let (mut request, _) = arrive(&w, 1, &post(FLASH));
    respond(&w, &mut request, 1, 429);
    request.on_response_body(0, true);
    w.on_tick();
    assert_eq!(
        [
            flash_metric(&proxy, "requests"),
            flash_metric(&proxy, "errors")
        ],
        [1, 1]
    );
}

#[test]
fn a_response_that_reports_usage_is_counted_without_reading_its_status() {
    let (proxy, w, mut request) = team_a_answered(1000, true);
    request.on_log();
    w.on_tick();
    assert_eq!(flash_metric(&proxy, "errors"), 0);
    assert_eq!(host(&w).status_reads(), 0);
}

#[test]
fn a_named_keys_response_tokens_spend_its_tpm() {
    let (_proxy, w, _request) = team_a_answered(10, true);
    let (_refused, flow) = arrive(&w, 2, &post(FLASH));
    assert_eq!(flow, Flow::Pause);
    let sent = host(&w).request(2).sent.expect("answered by the filter");
    assert_eq!(sent.http_code(), 429);
}

#[test]
fn a_plain_keys_response_is_neither_read_nor_counted() {
    let proxy = MockProxy::new();
    let w = counting_worker(&proxy, 1000);
    let mut headers = post(FLASH);
    headers[3] = ("x-api-key", "sk-plain");
    let (mut request, _) = arrive(&w, 1, &headers);
    let status_reads = host(&w).status_reads();
    answered(&w, &mut request, 1, true);
    request.on_log();
    w.on_tick();
    assert_eq!(host(&w).body_reads(), 0);
    assert_eq!(host(&w).status_reads(), status_reads);
    assert!(host(&w).request(1).properties.is_empty());
}

#[test]
fn a_named_keys_live_session_counts_under_its_alias() {
    let proxy = MockProxy::new();
    let w = counting_worker(&proxy, 1000);
    let (mut session, _) = arrive(&w, 1, &upgrade("/vertex_ai/live?model=flash"));
    respond(&w, &mut session, 1, 101);
    live_session_reports_12_tokens_and_ends(&w, &mut session);
    w.on_tick();
    assert_eq!(flash_counts(&proxy), [1, 4, 8, 12, 0]);
}
