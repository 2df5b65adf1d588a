//! The decision a request's headers get, on one simulated worker.

use super::*;
use crate::mock::{MockHost, MockProxy};
use crate::request_headers::{CLIENT_HEADER, MARKER_HEADER, MODEL_HEADER};
use crate::test_config;
use serde_json::json;

const FLASH: &str = "/vertex_ai/v1/projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent";

fn config() -> Config {
    test_config::with_models(
        json!({
            "default": {"type": "access_token", "token": "t-alpha"},
            "fetched": {"type": "metadata_server"},
        }),
        json!([
            {"model_name": "flash", "litellm_params": {"model": "gemini-2.0-flash", "vertex_location": "global"}},
            {"model_name": "meta", "litellm_params": {"model": "gemini-2.0-flash", "vertex_project": "proj-meta", "vertex_credentials": "fetched"}},
        ]),
    )
}

fn worker() -> WorkerState<MockHost> {
    WorkerState::new(MockProxy::new().worker(), config())
}

/// The decision for a request with these headers, on `w`.
fn decide_on(w: &WorkerState<MockHost>, headers: &[(&str, &str)]) -> Decision {
    let map = crate::request_headers::tests::serialize(
        headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
    );
    let parsed = RequestHeaders::parse(&map).unwrap();
    w.decide(1, Some(&parsed))
}

fn decide(headers: &[(&str, &str)]) -> Decision {
    decide_on(&worker(), headers)
}

fn post(path: &str) -> Vec<(&str, &str)> {
    vec![
        (":method", "POST"),
        (":path", path),
        (":authority", "proxy.local"),
        ("x-api-key", "sk-test"),
    ]
}

fn refusal(decision: Decision) -> ErrorResponse {
    match decision {
        Decision::Reject(error) => error,
        other => panic!("not a refusal: {other:?}"),
    }
}

fn forwarding(decision: Decision) -> Forwarding {
    match decision {
        Decision::Forward(forwarding) => forwarding,
        other => panic!("not forwarded: {other:?}"),
    }
}

/// The request's headers after the forwarding's edits.
fn edited(headers: &[(&str, &str)], forwarding: &Forwarding) -> Vec<(String, String)> {
    let map = crate::request_headers::tests::serialize(
        headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
    );
    let parsed = RequestHeaders::parse(&map).unwrap();
    let mut out: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    for (name, value) in forwarding.edits(&parsed) {
        out.retain(|(n, _)| n != name);
        if let Some(value) = value {
            out.push((name.to_string(), value.to_string()));
        }
    }
    out
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn a_path_outside_the_route_prefixes_is_not_ours() {
    assert_eq!(
        decide(&[(":method", "GET"), (":path", "/healthz")]),
        Decision::NotOurs {
            remove_marker: false
        }
    );
}

#[test]
fn a_clients_marker_on_a_request_not_ours_is_removed() {
    assert_eq!(
        decide(&[(":path", "/other"), (MARKER_HEADER, "1")]),
        Decision::NotOurs {
            remove_marker: true
        }
    );
}

#[test]
fn a_header_map_that_cannot_be_read_is_not_ours_and_loses_any_marker() {
    assert_eq!(
        worker().decide(1, None),
        Decision::NotOurs {
            remove_marker: true
        }
    );
}

#[test]
fn a_prefix_that_only_starts_a_longer_segment_is_not_ours() {
    assert!(matches!(
        decide(&post("/vertex_aix/models/flash:generateContent")),
        Decision::NotOurs { .. }
    ));
}

#[test]
fn a_request_without_a_key_is_refused_401() {
    let headers = [(":method", "POST"), (":path", FLASH)];
    assert_eq!(refusal(decide(&headers)).http_code(), 401);
}

#[test]
fn a_request_with_a_wrong_key_is_refused_401() {
    let mut headers = post(FLASH);
    headers[3] = ("x-api-key", "sk-wrong");
    assert_eq!(refusal(decide(&headers)).http_code(), 401);
}

#[test]
fn the_key_is_checked_before_the_path_is_routed() {
    let headers = [
        (":method", "POST"),
        (":path", "/vertex_ai/v1/projects/unserved/locations/x/publishers/google/models/m:generateContent"),
    ];
    assert_eq!(refusal(decide(&headers)).http_code(), 401);
}

#[test]
fn a_project_this_proxy_does_not_serve_is_refused_403() {
    let headers = post("/vertex_ai/v1/projects/unserved/locations/us-central1/publishers/google/models/m:generateContent");
    assert_eq!(refusal(decide(&headers)).http_code(), 403);
}

#[test]
fn a_rest_method_other_than_post_is_refused_404() {
    let mut headers = post(FLASH);
    headers[0] = (":method", "GET");
    assert_eq!(refusal(decide(&headers)).http_code(), 404);
}

#[test]
fn a_live_path_without_an_upgrade_gets_426_whatever_its_method() {
    let mut headers = post("/vertex_ai/live?model=flash");
    headers[0] = (":method", "GET");
    assert_eq!(refusal(decide(&headers)).http_code(), 426);
}

#[test]
fn a_rest_request_with_a_static_token_is_forwarded_at_once() {
    let forwarding = forwarding(decide(&post(FLASH)));
    assert!(!forwarding.waits_for_token());
    assert_eq!(forwarding.authorization.as_deref(), Some("Bearer t-alpha"));
    assert_eq!(forwarding.token, None);
    assert!(forwarding.live().is_none());
}

#[test]
fn a_key_without_limits_and_a_static_token_leave_the_clock_unread() {
    let w = worker();
    forwarding(decide_on(&w, &post(FLASH)));
    assert_eq!(w.proxy.host.clock_reads(), 0);
}

#[test]
fn the_edits_point_the_request_at_vertex_with_the_google_token() {
    let headers = post("/vertex_ai/models/flash:generateContent");
    let forwarding = forwarding(decide(&headers));
    let sent = edited(&headers, &forwarding);
    assert_eq!(
        header(&sent, ":path"),
        Some("/v1/projects/proj-alpha/locations/global/publishers/google/models/gemini-2.0-flash:generateContent")
    );
    assert_eq!(
        header(&sent, ":authority"),
        Some("aiplatform.googleapis.com")
    );
    assert_eq!(header(&sent, "authorization"), Some("Bearer t-alpha"));
    assert_eq!(header(&sent, MARKER_HEADER), Some("1"));
    assert_eq!(header(&sent, "x-api-key"), None);
}

#[test]
fn a_request_whose_token_is_being_fetched_waits_without_the_clients_authorization() {
    let mut headers = post("/vertex_ai/models/meta:generateContent");
    headers.push(("authorization", "Bearer placeholder"));
    let forwarding = forwarding(decide(&headers));
    assert!(forwarding.waits_for_token());
    let sent = edited(&headers, &forwarding);
    assert_eq!(header(&sent, "authorization"), None);
    assert_eq!(header(&sent, MARKER_HEADER), Some("1"));
}

#[test]
fn a_request_that_waits_for_a_token_joins_the_brokers_waiters() {
    let w = worker();
    decide_on(&w, &post("/vertex_ai/models/meta:generateContent"));
    assert_eq!(w.tokens.waiting(), 1);
}

#[test]
fn a_refused_request_does_not_wait_for_a_token() {
    let w = worker();
    let mut headers = post("/vertex_ai/models/meta:generateContent");
    headers[0] = (":method", "PUT");
    refusal(decide_on(&w, &headers));
    assert_eq!(w.tokens.waiting(), 0);
}

#[test]
fn a_websocket_upgrade_to_live_opens_a_session_for_its_target() {
    let headers = [
        (":method", "GET"),
        (":path", "/vertex_ai/live?model=flash"),
        ("upgrade", "websocket"),
        ("x-api-key", "sk-test"),
        ("sec-websocket-extensions", "permessage-deflate"),
    ];
    let forwarding = forwarding(decide(&headers));
    let target = forwarding.live().unwrap();
    assert_eq!(target.alias.as_deref(), Some("flash"));
    assert_eq!(target.location, "global");
    let sent = edited(&headers, &forwarding);
    assert_eq!(header(&sent, "sec-websocket-extensions"), None);
}

#[test]
fn the_upgrade_header_is_matched_in_any_case() {
    let headers = [
        (":method", "GET"),
        (":path", "/vertex_ai/live"),
        ("upgrade", "WebSocket"),
        ("x-api-key", "sk-test"),
    ];
    assert!(forwarding(decide(&headers)).upgrade);
}

#[test]
fn a_rest_path_is_routed_once_per_worker() {
    let w = worker();
    let first = forwarding(decide_on(&w, &post(FLASH)));
    let second = forwarding(decide_on(&w, &post(FLASH)));
    assert!(Rc::ptr_eq(&first.destination, &second.destination));
}

fn team_worker() -> WorkerState<MockHost> {
    let c = json!({
        "vertex_project": "proj-alpha",
        "credentials": {"default": {"type": "access_token", "token": "t-alpha"}},
        "model_list": [
            {"model_name": "flash", "litellm_params": {"model": "gemini-2.0-flash", "vertex_location": "global"}},
            {"model_name": "beta", "litellm_params": {"model": "gemini-2.0-flash", "vertex_project": "proj-beta"}},
        ],
        "api_keys": [
            "sk-test",
            {"name": "team-a", "key": "sk-a", "models": ["flash", "gemini-2.0-flash"], "projects": ["proj-alpha"]},
        ],
    });
    let config = test_config::load(&c);
    WorkerState::new(MockProxy::new().worker(), config)
}

fn with_key<'a>(mut headers: Vec<(&'a str, &'a str)>, key: &'a str) -> Vec<(&'a str, &'a str)> {
    headers.retain(|(n, _)| *n != "x-api-key");
    headers.push(("x-api-key", key));
    headers
}

#[test]
fn a_named_key_calls_a_model_it_lists_and_is_named_upstream() {
    let headers = with_key(post("/vertex_ai/models/flash:generateContent"), "sk-a");
    let forwarding = forwarding(decide_on(&team_worker(), &headers));
    let sent = edited(&headers, &forwarding);
    assert_eq!(header(&sent, CLIENT_HEADER), Some("team-a"));
    assert_eq!(header(&sent, MODEL_HEADER), Some("flash"));
}

#[test]
fn a_model_outside_the_keys_models_is_refused_403_naming_it() {
    let headers = with_key(
        post("/vertex_ai/models/gemini-2.5-pro:generateContent"),
        "sk-a",
    );
    let error = refusal(decide_on(&team_worker(), &headers));
    assert_eq!(error.http_code(), 403);
    assert!(error.message.contains("gemini-2.5-pro"), "{error:?}");
}

#[test]
fn a_project_outside_the_keys_projects_is_refused_403() {
    let path = "/vertex_ai/v1/projects/proj-beta/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent";
    let error = refusal(decide_on(&team_worker(), &with_key(post(path), "sk-a")));
    assert_eq!(error.http_code(), 403);
    assert!(error.message.contains("proj-beta"), "{error:?}");
}

#[test]
fn an_unnamed_key_may_call_any_model_and_is_named_for_its_digest() {
    let headers = post("/vertex_ai/models/gemini-2.5-pro:generateContent");
    let forwarding = forwarding(decide_on(&team_worker(), &headers));
    let sent = edited(&headers, &forwarding);
    let name = header(&sent, CLIENT_HEADER).unwrap();
    assert!(name.starts_with("key-") && name.len() == 12, "{name}");
    assert_eq!(header(&sent, MODEL_HEADER), Some("gemini-2.5-pro"));
}

#[test]
fn a_live_upgrade_for_a_model_outside_the_keys_models_is_refused_403() {
    let headers = vec![
        (":method", "GET"),
        (":path", "/vertex_ai/live?model=beta"),
        ("upgrade", "websocket"),
        ("x-api-key", "sk-a"),
    ];
    assert_eq!(
        refusal(decide_on(&team_worker(), &headers)).http_code(),
        403
    );
}

#[test]
fn the_key_remembered_by_a_worker_still_names_its_client() {
    let w = team_worker();
    for _ in 0..2 {
        let headers = with_key(post("/vertex_ai/models/flash:generateContent"), "sk-a");
        assert_eq!(&*forwarding(decide_on(&w, &headers)).client.name, "team-a");
    }
    let headers = post("/vertex_ai/models/flash:generateContent");
    assert!(forwarding(decide_on(&w, &headers))
        .client
        .name
        .starts_with("key-"));
}
