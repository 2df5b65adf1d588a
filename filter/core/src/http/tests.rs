//! One request's callbacks on a simulated worker: the decision carried out with host calls.

use super::*;
use crate::config::Config;
use crate::live::frame::Opcode;
use crate::live::test_frames::client;
use crate::mock::{MockHost, MockProxy};
use crate::request_headers::MARKER_HEADER;
use crate::test_config;
use serde_json::json;

const FLASH: &str = "/vertex_ai/models/flash:generateContent";
const FETCHED: &str = "/vertex_ai/models/meta:generateContent";

fn config() -> Config {
    test_config::with_models(
        json!({
            "default": {"type": "access_token", "token": "t-alpha"},
            "fetched": {"type": "metadata_server"},
        }),
        json!([
            {"model_name": "flash", "litellm_params": {"model": "gemini-2.0-flash"}},
            {"model_name": "meta", "litellm_params": {"model": "gemini-2.0-flash", "vertex_project": "proj-meta", "vertex_credentials": "fetched"}},
            {"model_name": "pooled", "litellm_params": {"model": "gemini-2.0-flash", "vertex_location": "us-central1"}},
            {"model_name": "pooled", "litellm_params": {"model": "gemini-2.0-flash-001", "vertex_location": "europe-west4"}},
            {"model_name": "pooled-meta", "litellm_params": {"model": "gemini-2.0-flash", "vertex_project": "proj-meta", "vertex_location": "us-central1"}},
            {"model_name": "pooled-meta", "litellm_params": {"model": "gemini-2.0-flash", "vertex_project": "proj-meta", "vertex_location": "europe-west4"}},
        ]),
    )
}

fn worker(proxy: &Rc<MockProxy>) -> Rc<WorkerState<MockHost>> {
    Rc::new(WorkerState::new(proxy.worker(), config()))
}

fn host(w: &Rc<WorkerState<MockHost>>) -> &MockHost {
    &w.proxy.host
}

/// A request with `headers` arrives as `context_id`; its headers callback ran.
fn arrive(
    w: &Rc<WorkerState<MockHost>>,
    context_id: u32,
    headers: &[(&str, &str)],
) -> (HttpRequest<MockHost>, Flow) {
    host(w).start_request(context_id, headers);
    let mut request = HttpRequest::new(context_id, Rc::clone(w));
    let flow = request.on_request_headers(false);
    (request, flow)
}

fn post(path: &str) -> Vec<(&str, &str)> {
    vec![
        (":method", "POST"),
        (":path", path),
        (":authority", "proxy.local"),
        ("x-api-key", "sk-test"),
    ]
}

fn upgrade(path: &str) -> Vec<(&str, &str)> {
    vec![
        (":method", "GET"),
        (":path", path),
        ("upgrade", "websocket"),
        ("x-api-key", "sk-test"),
    ]
}

/// The upstream answers `context_id` with `status`; its response-headers callback ran.
fn respond(
    w: &Rc<WorkerState<MockHost>>,
    request: &mut HttpRequest<MockHost>,
    context_id: u32,
    status: u16,
) {
    host(w).set_response_status(context_id, status);
    host(w).enter(context_id);
    request.on_response_headers();
}

/// The token endpoint answers the worker's last callout.
fn token_arrives(w: &Rc<WorkerState<MockHost>>, token: &str) {
    w.tokens.on_tick(&w.proxy);
    let callout = host(w).callouts().last().unwrap().id;
    let body = json!({"access_token": token, "expires_in": 3600});
    w.tokens
        .on_fetch_done(&w.proxy, callout, Some(200), body.to_string().as_bytes());
}

#[test]
fn a_refused_request_is_answered_by_the_filter_and_held() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let (_request, flow) = arrive(&w, 1, &[(":method", "POST"), (":path", FLASH)]);
    assert_eq!(flow, Flow::Pause);
    assert_eq!(host(&w).request(1).sent.unwrap().http_code(), 401);
}

#[test]
fn a_refusal_is_counted_under_its_status() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    arrive(&w, 1, &[(":method", "POST"), (":path", FLASH)]);
    assert_eq!(w.proxy.metrics.rejected_unauthenticated.pending(), 1);
}

#[test]
fn a_forwarded_request_goes_on_with_vertexs_headers() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let (_request, flow) = arrive(&w, 1, &post(FLASH));
    assert_eq!(flow, Flow::Continue);
    let sent = host(&w).request(1);
    assert_eq!(
        sent.header(":authority"),
        Some("us-central1-aiplatform.googleapis.com")
    );
    assert_eq!(sent.header("authorization"), Some("Bearer t-alpha"));
    assert_eq!(sent.header("x-api-key"), None);
    assert_eq!(w.proxy.metrics.requests_forwarded.pending(), 1);
}

#[test]
fn a_request_not_ours_goes_on_untouched() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let headers = [
        (":method", "GET"),
        (":path", "/healthz"),
        ("x-api-key", "k"),
    ];
    let (_request, flow) = arrive(&w, 1, &headers);
    assert_eq!(flow, Flow::Continue);
    assert_eq!(host(&w).request(1).headers.len(), 3);
}

#[test]
fn a_clients_marker_is_removed_from_a_request_not_ours() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let (_request, _) = arrive(&w, 1, &[(":path", "/other"), (MARKER_HEADER, "1")]);
    assert_eq!(host(&w).request(1).header(MARKER_HEADER), None);
}

#[test]
fn a_clients_identity_headers_are_removed_from_a_request_not_ours() {
    use crate::request_headers::{CLIENT_HEADER, MODEL_HEADER};
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let forged = [
        (":path", "/other"),
        (CLIENT_HEADER, "team-a"),
        (MODEL_HEADER, "flash"),
    ];
    let (_request, _) = arrive(&w, 1, &forged);
    assert_eq!(host(&w).request(1).header(CLIENT_HEADER), None);
    assert_eq!(host(&w).request(1).header(MODEL_HEADER), None);
}

#[test]
fn a_request_waiting_for_its_token_is_held_then_resumed_with_it() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let (_request, flow) = arrive(&w, 1, &post(FETCHED));
    assert_eq!(flow, Flow::Pause);
    assert_eq!(host(&w).request(1).header("authorization"), None);
    token_arrives(&w, "ya29.one");
    let sent = host(&w).request(1);
    assert!(sent.resumed);
    assert_eq!(sent.header("authorization"), Some("Bearer ya29.one"));
}

#[test]
fn a_401_to_a_request_carrying_a_fetched_token_stales_it() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let (_first, _) = arrive(&w, 1, &post(FETCHED));
    token_arrives(&w, "ya29.one");
    let (mut second, flow) = arrive(&w, 2, &post(FETCHED));
    assert_eq!(flow, Flow::Continue);
    respond(&w, &mut second, 2, 401);
    let (_third, flow) = arrive(&w, 3, &post(FETCHED));
    assert_eq!(flow, Flow::Pause);
}

#[test]
fn a_401_to_a_resumed_request_stales_the_token_it_was_given() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let (mut first, _) = arrive(&w, 1, &post(FETCHED));
    token_arrives(&w, "ya29.one");
    respond(&w, &mut first, 1, 401);
    assert_eq!(proxy.metric("upstream_unauthorized"), 1);
    let (_second, flow) = arrive(&w, 2, &post(FETCHED));
    assert_eq!(flow, Flow::Pause);
}

#[test]
fn a_200_leaves_the_token_in_use() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let (mut first, _) = arrive(&w, 1, &post(FETCHED));
    token_arrives(&w, "ya29.one");
    respond(&w, &mut first, 1, 200);
    let (_second, flow) = arrive(&w, 2, &post(FETCHED));
    assert_eq!(flow, Flow::Continue);
}

#[test]
fn the_response_status_is_not_read_for_a_static_token() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let (mut request, _) = arrive(&w, 1, &post(FLASH));
    respond(&w, &mut request, 1, 401);
    assert_eq!(host(&w).status_reads(), 0);
}

#[test]
fn a_request_that_ends_while_waiting_is_forgotten() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let (request, _) = arrive(&w, 1, &post(FETCHED));
    assert_eq!(w.tokens.waiting(), 1);
    drop(request);
    assert_eq!(w.tokens.waiting(), 0);
}

#[test]
fn a_body_arriving_while_the_request_waits_for_its_token_is_held() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let (mut request, _) = arrive(&w, 1, &post(FETCHED));
    host(&w).set_body(1, Body::Request, b"{}");
    assert_eq!(request.on_request_body(2, true), Flow::Pause);
}

#[test]
fn a_body_arriving_once_the_token_is_set_goes_on() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let (mut request, _) = arrive(&w, 1, &post(FETCHED));
    host(&w).set_body(1, Body::Request, b"{}");
    request.on_request_body(2, false);
    token_arrives(&w, "ya29.one");
    host(&w).enter(1);
    assert_eq!(request.on_request_body(2, true), Flow::Continue);
}

#[test]
fn a_rest_body_is_neither_read_nor_held() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let (mut request, _) = arrive(&w, 1, &post(FLASH));
    host(&w).set_body(1, Body::Request, b"{\"contents\":[]}");
    assert_eq!(request.on_request_body(15, true), Flow::Continue);
    assert_eq!(host(&w).request(1).request_body, b"{\"contents\":[]}");
}

#[test]
fn an_upgrade_answered_101_opens_the_live_session() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let (mut request, _) = arrive(&w, 1, &upgrade("/vertex_ai/live?model=flash"));
    respond(&w, &mut request, 1, 101);
    assert!(request.live().is_some());
    assert_eq!(w.proxy.metrics.live.sessions_opened.pending(), 1);
}

#[test]
fn an_upgrade_answered_without_101_is_plain_http() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let (mut request, _) = arrive(&w, 1, &upgrade("/vertex_ai/live?model=flash"));
    respond(&w, &mut request, 1, 403);
    assert!(request.live().is_none());
}

#[test]
fn the_live_setup_reaches_upstream_rewritten() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let (mut request, _) = arrive(&w, 1, &upgrade("/vertex_ai/live?model=flash"));
    assert_eq!(
        setup_sent(&w, &mut request, 1, "flash"),
        "projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-2.0-flash"
    );
}

/// The client's setup naming `model` goes through `request`'s body callback: the model upstream
/// got in its place.
fn setup_sent(
    w: &Rc<WorkerState<MockHost>>,
    request: &mut HttpRequest<MockHost>,
    context_id: u32,
    model: &str,
) -> String {
    let payload = serde_json::json!({"setup": {"model": model}}).to_string();
    let setup = client(Opcode::Text, true, payload.as_bytes());
    host(w).set_body(context_id, Body::Request, &setup);
    host(w).enter(context_id);
    assert_eq!(request.on_request_body(setup.len(), false), Flow::Continue);
    let sent = host(w).request(context_id).request_body;
    assert_ne!(sent, setup);
    let parsed = crate::live::read_first_message(&sent, 1 << 16);
    let crate::live::FirstMessage::Complete { payload, .. } = parsed else {
        panic!("not a whole message: {parsed:?}");
    };
    let message: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    message["setup"]["model"].as_str().unwrap().to_string()
}

const POOLED: &str = "/vertex_ai/models/pooled:generateContent";
const US: &str = "us-central1-aiplatform.googleapis.com";
const EU: &str = "europe-west4-aiplatform.googleapis.com";

/// Requests `ids` to `pooled`, each with the `:authority` it was sent to.
fn pooled_authorities(
    w: &Rc<WorkerState<MockHost>>,
    ids: std::ops::RangeInclusive<u32>,
) -> Vec<String> {
    ids.map(|id| {
        arrive(w, id, &post(POOLED));
        host(w)
            .request(id)
            .header(":authority")
            .unwrap()
            .to_string()
    })
    .collect()
}

#[test]
fn requests_to_an_alias_with_several_deployments_go_to_each() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let authorities = pooled_authorities(&w, 1..=40);
    let us = authorities.iter().filter(|a| *a == US).count();
    let eu = authorities.iter().filter(|a| *a == EU).count();
    assert_eq!(us + eu, 40);
    assert!(us > 5 && eu > 5, "us {us}, eu {eu}");
    let path = host(&w).request(1).header(":path").unwrap().to_string();
    let model = if authorities[0] == US {
        "gemini-2.0-flash:"
    } else {
        "gemini-2.0-flash-001:"
    };
    assert!(path.contains(model), "{path}");
    w.proxy.metrics.flush(&w.proxy.host);
    assert_eq!(proxy.metric("deployment.pooled.0.requests"), us as u64);
    assert_eq!(proxy.metric("deployment.pooled.1.requests"), eu as u64);
}

#[test]
fn a_429_to_an_alias_with_several_deployments_cools_its_deployment_down() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let mut id = 0;
    let mut eu = loop {
        id += 1;
        let (request, _) = arrive(&w, id, &post(POOLED));
        if host(&w).request(id).header(":authority") == Some(EU) {
            break request;
        }
    };
    respond(&w, &mut eu, id, 429);
    assert_eq!(host(&w).status_reads(), 1);
    for next in id + 1..id + 31 {
        arrive(&w, next, &post(POOLED));
        assert_eq!(host(&w).request(next).header(":authority"), Some(US));
    }
    proxy.advance(30_000);
    let back = (id + 31..id + 71).any(|next| {
        arrive(&w, next, &post(POOLED));
        host(&w).request(next).header(":authority") == Some(EU)
    });
    assert!(back, "the deployment serves again once its cooldown ended");
}

#[test]
fn a_429_envoy_made_itself_cools_no_deployment_down() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    for id in 1..=20 {
        let (mut request, _) = arrive(&w, id, &post(POOLED));
        host(&w).set_local_reply(id);
        respond(&w, &mut request, id, 429);
    }
    assert_eq!(proxy.metric("shared_changes"), 0);
    let authorities = pooled_authorities(&w, 21..=60);
    assert!(authorities.iter().any(|a| a == US) && authorities.iter().any(|a| a == EU));
}

#[test]
fn where_an_answer_came_from_is_read_only_for_a_429_or_503_to_a_deployment() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let (mut plain, _) = arrive(&w, 1, &post(FLASH));
    respond(&w, &mut plain, 1, 429);
    let (mut pooled, _) = arrive(&w, 2, &post(POOLED));
    respond(&w, &mut pooled, 2, 200);
    assert_eq!(host(&w).origin_reads(), 0);
    let (mut refused, _) = arrive(&w, 3, &post(POOLED));
    respond(&w, &mut refused, 3, 503);
    assert_eq!(host(&w).origin_reads(), 1);
}

#[test]
fn the_filters_own_503_for_a_token_it_could_not_get_cools_no_deployment_down() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let (mut request, flow) = arrive(
        &w,
        1,
        &post("/vertex_ai/models/pooled-meta:generateContent"),
    );
    assert_eq!(flow, Flow::Pause);
    w.tokens.on_tick(&w.proxy);
    let callout = host(&w).callouts().last().unwrap().id;
    w.tokens.on_fetch_done(&w.proxy, callout, Some(500), b"{}");
    assert_eq!(host(&w).request(1).sent.unwrap().http_code(), 503);
    respond(&w, &mut request, 1, 503);
    assert_eq!(proxy.metric("shared_changes"), 0);
}

#[test]
fn a_429_to_a_request_resumed_with_its_token_cools_its_deployment_down() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let (mut request, _) = arrive(
        &w,
        1,
        &post("/vertex_ai/models/pooled-meta:generateContent"),
    );
    token_arrives(&w, "ya29.one");
    respond(&w, &mut request, 1, 429);
    assert_eq!(proxy.metric("shared_changes"), 1);
}

#[test]
fn a_pick_and_the_token_share_one_read_of_the_count_of_shared_changes() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let pooled = "/vertex_ai/models/pooled-meta:generateContent";
    let (mut first, _) = arrive(&w, 1, &post(pooled));
    token_arrives(&w, "ya29.one");
    respond(&w, &mut first, 1, 200);
    let reads = host(&w).metric_reads();
    let (_, flow) = arrive(&w, 2, &post(pooled));
    assert_eq!(flow, Flow::Continue);
    assert_eq!(host(&w).metric_reads(), reads + 1);
}

#[test]
fn a_live_setup_naming_an_alias_with_several_deployments_gets_the_sessions_deployment() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let mut seen = std::collections::BTreeSet::new();
    for id in 1..=30 {
        let (mut request, _) = arrive(&w, id, &upgrade("/vertex_ai/live?model=pooled"));
        let authority = host(&w)
            .request(id)
            .header(":authority")
            .unwrap()
            .to_string();
        let model = setup_sent(&w, &mut request, id, "pooled");
        let expected = if authority == US {
            "projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-2.0-flash"
        } else {
            "projects/proj-alpha/locations/europe-west4/publishers/google/models/gemini-2.0-flash-001"
        };
        assert_eq!(model, expected);
        seen.insert(authority);
    }
    assert_eq!(seen.len(), 2, "sessions went to both deployments");
}

#[test]
fn a_partial_live_setup_is_held_until_it_is_whole() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let (mut request, _) = arrive(&w, 1, &upgrade("/vertex_ai/live?model=flash"));
    let setup = client(Opcode::Text, true, br#"{"setup":{"model":"flash"}}"#);
    host(&w).set_body(1, Body::Request, &setup[..8]);
    assert_eq!(request.on_request_body(8, false), Flow::Pause);
}

#[test]
fn a_live_sessions_end_is_counted() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let (mut request, _) = arrive(&w, 1, &upgrade("/vertex_ai/live?model=flash"));
    respond(&w, &mut request, 1, 101);
    request.on_log();
    assert_eq!(w.proxy.metrics.live.sessions_closed.pending(), 1);
}

const OPENAI_CHAT: &str = "/vertex_ai/openai/chat/completions";

/// The request's body arrives in `chunks`; the body callback ran for each, with the body held
/// so far. Returns the last callback's flow.
fn body_arrives(
    w: &Rc<WorkerState<MockHost>>,
    request: &mut HttpRequest<MockHost>,
    context_id: u32,
    chunks: &[&[u8]],
) -> Flow {
    let mut held = Vec::new();
    let mut flow = Flow::Continue;
    for (n, chunk) in chunks.iter().enumerate() {
        held.extend_from_slice(chunk);
        host(w).set_body(context_id, Body::Request, &held);
        host(w).enter(context_id);
        flow = request.on_request_body(held.len(), n + 1 == chunks.len());
    }
    flow
}

fn with_length<'a>(headers: &[(&'a str, &'a str)], length: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut headers = headers.to_vec();
    headers.push(("content-length", length));
    headers
}

#[test]
fn an_openai_call_is_held_until_its_body_is_whole_then_rewritten() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let body = br#"{"model":"flash","messages":[]}"#;
    let length = body.len().to_string();
    let (mut request, flow) = arrive(&w, 1, &with_length(&post(OPENAI_CHAT), &length));
    assert_eq!(flow, Flow::Pause);
    assert_eq!(
        host(&w).request(1).header(":authority"),
        Some("proxy.local")
    );
    let first = body_arrives(&w, &mut request, 1, &[&body[..10]]);
    assert_eq!(first, Flow::Pause);
    let (mut request, _) = arrive(&w, 2, &with_length(&post(OPENAI_CHAT), &length));
    let flow = body_arrives(&w, &mut request, 2, &[&body[..10], &body[10..]]);
    assert_eq!(flow, Flow::Continue);
    let sent = host(&w).request(2);
    let expected = br#"{"model":"google/gemini-2.0-flash","messages":[]}"#;
    assert_eq!(sent.request_body, expected);
    assert_eq!(
        sent.header("content-length"),
        Some(expected.len().to_string().as_str())
    );
    assert_eq!(
        sent.header(":path"),
        Some(
            "/v1beta1/projects/proj-alpha/locations/us-central1/endpoints/openapi/chat/completions"
        )
    );
    assert_eq!(sent.header("authorization"), Some("Bearer t-alpha"));
    assert_eq!(sent.header("x-api-key"), None);
}

#[test]
fn an_openai_alias_with_a_fetched_token_waits_for_it_after_the_body() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let (mut request, _) = arrive(&w, 1, &post(OPENAI_CHAT));
    let flow = body_arrives(&w, &mut request, 1, &[br#"{"model":"meta"}"#]);
    assert_eq!(flow, Flow::Pause);
    let sent = host(&w).request(1);
    assert_eq!(sent.request_body, br#"{"model":"google/gemini-2.0-flash"}"#);
    assert_eq!(sent.header("authorization"), None);
    token_arrives(&w, "ya29.meta");
    let sent = host(&w).request(1);
    assert!(sent.resumed);
    assert_eq!(sent.header("authorization"), Some("Bearer ya29.meta"));
}

#[test]
fn an_openai_body_over_the_bound_is_refused_before_it_is_whole() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let (mut request, _) = arrive(&w, 1, &post(OPENAI_CHAT));
    let big = vec![b' '; crate::routing::openai_body::MAX_BODY + 1];
    host(&w).set_body(1, Body::Request, &big);
    host(&w).enter(1);
    assert_eq!(request.on_request_body(big.len(), false), Flow::Pause);
    assert_eq!(host(&w).request(1).sent.unwrap().http_code(), 413);
}

#[test]
fn an_openai_call_without_a_body_is_decided_on_its_headers() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    host(&w).start_request(1, &post(OPENAI_CHAT));
    let mut request = HttpRequest::new(1, Rc::clone(&w));
    assert_eq!(request.on_request_headers(true), Flow::Pause);
    assert_eq!(host(&w).request(1).sent.unwrap().http_code(), 400);
}

#[test]
fn a_resource_call_takes_its_http_method_and_needs_no_body() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let mut headers = post("/vertex_ai/v1/cachedContents/12?pageSize=1");
    headers[0] = (":method", "DELETE");
    let (_request, flow) = arrive(&w, 1, &headers);
    assert_eq!(flow, Flow::Continue);
    assert_eq!(
        host(&w).request(1).header(":path"),
        Some("/v1/projects/proj-alpha/locations/us-central1/cachedContents/12?pageSize=1")
    );
    headers[0] = (":method", "PUT");
    let (_request, _) = arrive(&w, 2, &headers);
    assert_eq!(host(&w).request(2).sent.unwrap().http_code(), 404);
}

/// Vertex reports 4 prompt and 8 response tokens on the Live session of request 1, which then
/// ends.
fn live_session_reports_12_tokens_and_ends(
    w: &Rc<WorkerState<MockHost>>,
    session: &mut HttpRequest<MockHost>,
) {
    let usage = crate::live::test_frames::server(
        Opcode::Text,
        true,
        br#"{"usageMetadata":{"promptTokenCount":4,"responseTokenCount":8,"totalTokenCount":12}}"#,
    );
    host(w).set_body(1, Body::Response, &usage);
    session.on_response_body(usage.len(), false);
    session.on_log();
}

#[test]
fn the_tokens_of_a_live_session_count_against_its_keys_tpm() {
    let c = json!({
        "vertex_project": "proj-alpha",
        "credentials": {"default": {"type": "access_token", "token": "t-alpha"}},
        "model_list": [{"model_name": "flash", "litellm_params": {"model": "gemini-2.0-flash"}}],
        "api_keys": [{"name": "team-a", "key": "sk-a", "tpm": 10}],
    });
    let proxy = MockProxy::new();
    let config = test_config::load(&c);
    let w = Rc::new(WorkerState::new(proxy.worker(), config));
    let mut headers = upgrade("/vertex_ai/live?model=flash");
    headers[3] = ("x-api-key", "sk-a");
    let (mut session, flow) = arrive(&w, 1, &headers);
    assert_eq!(flow, Flow::Continue);
    respond(&w, &mut session, 1, 101);
    live_session_reports_12_tokens_and_ends(&w, &mut session);
    let mut rest = post(FLASH);
    rest[3] = ("x-api-key", "sk-a");
    let (_refused, flow) = arrive(&w, 2, &rest);
    assert_eq!(flow, Flow::Pause);
    let sent = host(&w).request(2).sent.expect("answered by the filter");
    assert_eq!(
        (sent.http_code(), sent.retry_after_s.is_some()),
        (429, true)
    );
}

/// A worker whose only key is `team-a`'s, limited to the alias `flash`.
fn team_a_worker(proxy: &Rc<MockProxy>) -> Rc<WorkerState<MockHost>> {
    let c = json!({
        "vertex_project": "proj-alpha",
        "credentials": {"default": {"type": "access_token", "token": "t-alpha"}},
        "model_list": [
            {"model_name": "flash", "litellm_params": {"model": "gemini-2.0-flash"}},
            {"model_name": "pro", "litellm_params": {"model": "gemini-2.5-pro"}},
        ],
        "api_keys": [{"name": "team-a", "key": "sk-test", "models": ["flash"]}],
    });
    let config = test_config::load(&c);
    Rc::new(WorkerState::new(proxy.worker(), config))
}

#[test]
fn an_openai_call_for_a_model_outside_the_keys_models_is_refused_after_the_body() {
    let proxy = MockProxy::new();
    let w = team_a_worker(&proxy);
    let (mut request, _) = arrive(&w, 1, &post(OPENAI_CHAT));
    body_arrives(&w, &mut request, 1, &[br#"{"model":"google/pro"}"#]);
    let sent = host(&w).request(1).sent.expect("answered by the filter");
    assert_eq!(sent.http_code(), 403);
    assert!(sent.message.ends_with("model pro"), "{}", sent.message);
}

#[test]
fn an_openai_call_for_a_model_in_the_keys_models_carries_its_client_and_model() {
    let proxy = MockProxy::new();
    let w = team_a_worker(&proxy);
    let (mut request, _) = arrive(&w, 1, &post(OPENAI_CHAT));
    let flow = body_arrives(&w, &mut request, 1, &[br#"{"model":"flash"}"#]);
    assert_eq!(flow, Flow::Continue);
    let sent = host(&w).request(1);
    assert_eq!(sent.header("x-vertex-passthrough-client"), Some("team-a"));
    assert_eq!(sent.header("x-vertex-passthrough-model"), Some("flash"));
}

mod usage;
