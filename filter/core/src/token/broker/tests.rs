//! The broker on simulated workers: each a `WorkerState` over its own `MockHost`, all on one
//! `MockProxy` (one shared store, one clock, process-wide metrics).

use super::*;
use crate::mock::{MockHost, MockProxy};
use crate::test_config;
use crate::worker::WorkerState;
use serde_json::json;

const MARGIN_MS: u64 = 300_000;
const TIMEOUT_MS: u64 = 5_000;
/// `cache::LEASE_GRACE_MS`: a lease outlives the fetch timeout by this much.
const LEASE_GRACE_MS: u64 = 1_000;

/// A metadata-server credential (fetched) and a static one.
fn config() -> Config {
    let c = json!({
        "vertex_project": "proj-alpha",
        "credentials": {
            "default": {"type": "metadata_server"},
            "fixed": {"type": "access_token", "token": "t-fixed"},
        },
        "token_refresh_margin_s": MARGIN_MS / 1000,
        "token_fetch_timeout_ms": TIMEOUT_MS,
        "allow_unauthenticated": true,
    });
    test_config::load(&c)
}

fn worker(proxy: &Rc<MockProxy>) -> WorkerState<MockHost> {
    WorkerState::new(proxy.worker(), config())
}

fn credential(w: &WorkerState<MockHost>, name: &str) -> usize {
    w.proxy
        .config
        .credentials
        .iter()
        .position(|c| c.name == name)
        .unwrap()
}

fn fetched(w: &WorkerState<MockHost>) -> usize {
    credential(w, "default")
}

fn ask(w: &WorkerState<MockHost>, context_id: u32) -> TokenStep {
    w.proxy.host.start_request(context_id, &[]);
    w.tokens.token_for(&w.proxy, context_id, fetched(w))
}

fn tick(w: &WorkerState<MockHost>) {
    w.tokens.on_tick(&w.proxy);
}

/// The token endpoint answers the worker's last callout.
fn answer(w: &WorkerState<MockHost>, token: &str, expires_in_s: u64) {
    let callout = w.proxy.host.callouts().last().unwrap().id;
    let body = json!({"access_token": token, "expires_in": expires_in_s, "token_type": "Bearer"});
    w.tokens
        .on_fetch_done(&w.proxy, callout, Some(200), body.to_string().as_bytes());
}

fn fail_fetch(w: &WorkerState<MockHost>, status: u16) {
    let callout = w.proxy.host.callouts().last().unwrap().id;
    w.tokens
        .on_fetch_done(&w.proxy, callout, Some(status), b"{\"error\":\"x\"}");
}

fn authorization(step: &TokenStep) -> Option<&str> {
    match step {
        TokenStep::Use { authorization, .. } => Some(authorization),
        _ => None,
    }
}

/// A worker holding token `token` (generation 1) from its own fetch.
fn worker_with_token(proxy: &Rc<MockProxy>, token: &str) -> WorkerState<MockHost> {
    let w = worker(proxy);
    assert_eq!(ask(&w, 1), TokenStep::Pause);
    tick(&w);
    answer(&w, token, 3600);
    w
}

#[test]
fn a_static_token_is_used_as_configured() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let step = w.tokens.token_for(&w.proxy, 1, credential(&w, "fixed"));
    assert_eq!(
        step,
        TokenStep::Use {
            authorization: "Bearer t-fixed".into(),
            token: None
        }
    );
}

#[test]
fn a_static_token_reads_neither_clock_nor_shared_data() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    let reads = w.proxy.host.shared_reads();
    w.tokens.token_for(&w.proxy, 1, credential(&w, "fixed"));
    assert_eq!(w.proxy.host.shared_reads(), reads);
}

#[test]
fn every_credential_has_a_shared_entry_once_a_worker_starts() {
    let proxy = MockProxy::new();
    let _w = worker(&proxy);
    assert_eq!(proxy.shared_keys(), 2);
}

#[test]
fn the_first_request_waits_and_the_next_tick_dispatches_one_fetch() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    assert_eq!(ask(&w, 1), TokenStep::Pause);
    assert!(w.proxy.host.callouts().is_empty());
    tick(&w);
    let callouts = w.proxy.host.callouts();
    assert_eq!(callouts.len(), 1);
    assert_eq!(callouts[0].cluster, "gce_metadata");
}

#[test]
fn requests_waiting_on_one_worker_share_one_fetch() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    for context_id in 1..=5 {
        assert_eq!(ask(&w, context_id), TokenStep::Pause);
    }
    tick(&w);
    tick(&w);
    assert_eq!(w.proxy.host.callouts().len(), 1);
    assert_eq!(w.tokens.waiting(), 5);
}

#[test]
fn a_second_worker_waits_for_the_first_workers_fetch() {
    let proxy = MockProxy::new();
    let (a, b) = (worker(&proxy), worker(&proxy));
    assert_eq!(ask(&a, 1), TokenStep::Pause);
    assert_eq!(ask(&b, 2), TokenStep::Pause);
    tick(&a);
    tick(&b);
    assert_eq!(a.proxy.host.callouts().len(), 1);
    assert!(b.proxy.host.callouts().is_empty());
}

#[test]
fn a_fetched_token_resumes_every_waiter_with_its_bearer() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    ask(&w, 1);
    ask(&w, 2);
    tick(&w);
    answer(&w, "ya29.one", 3600);
    for context_id in [1, 2] {
        let request = w.proxy.host.request(context_id);
        assert!(request.resumed, "{context_id}");
        assert_eq!(request.header("authorization"), Some("Bearer ya29.one"));
    }
    assert_eq!(w.tokens.waiting(), 0);
}

#[test]
fn a_resumed_request_is_told_which_token_it_carries() {
    let proxy = MockProxy::new();
    let w = worker_with_token(&proxy, "ya29.one");
    assert_eq!(
        w.tokens.token_handed_to(1),
        Some(TokenId {
            credential: fetched(&w),
            generation: 1
        })
    );
}

#[test]
fn a_token_fetched_by_one_worker_resumes_the_other_workers_waiters_on_its_tick() {
    let proxy = MockProxy::new();
    let (a, b) = (worker(&proxy), worker(&proxy));
    ask(&a, 1);
    ask(&b, 2);
    tick(&a);
    answer(&a, "ya29.one", 3600);
    assert!(!b.proxy.host.request(2).resumed);
    tick(&b);
    let request = b.proxy.host.request(2);
    assert!(request.resumed);
    assert_eq!(request.header("authorization"), Some("Bearer ya29.one"));
}

#[test]
fn after_the_fetch_the_next_request_uses_the_token_at_once() {
    let proxy = MockProxy::new();
    let w = worker_with_token(&proxy, "ya29.one");
    let step = ask(&w, 2);
    assert_eq!(authorization(&step), Some("Bearer ya29.one"));
}

#[test]
fn another_worker_takes_the_shared_token_without_fetching() {
    let proxy = MockProxy::new();
    let a = worker_with_token(&proxy, "ya29.one");
    let b = worker(&proxy);
    assert_eq!(authorization(&ask(&b, 2)), Some("Bearer ya29.one"));
    tick(&b);
    assert!(b.proxy.host.callouts().is_empty());
    assert_eq!(a.proxy.host.callouts().len(), 1);
}

#[test]
fn a_worker_copy_serves_later_requests_without_reading_shared_data() {
    let proxy = MockProxy::new();
    let w = worker_with_token(&proxy, "ya29.one");
    ask(&w, 2);
    let reads = w.proxy.host.shared_reads();
    for context_id in 3..10 {
        assert_eq!(authorization(&ask(&w, context_id)), Some("Bearer ya29.one"));
    }
    assert_eq!(w.proxy.host.shared_reads(), reads);
}

#[test]
fn a_dead_workers_lease_is_taken_over_by_a_waiter_once_it_lapses() {
    let proxy = MockProxy::new();
    let (dead, b) = (worker(&proxy), worker(&proxy));
    // The dead worker takes the lease and never fetches.
    ask(&dead, 1);
    proxy.advance(TIMEOUT_MS / 2);
    ask(&b, 2);
    tick(&b);
    assert!(b.proxy.host.callouts().is_empty());
    proxy.advance(TIMEOUT_MS / 2 + LEASE_GRACE_MS + 1);
    tick(&b);
    assert_eq!(b.proxy.host.callouts().len(), 1);
    answer(&b, "ya29.two", 3600);
    assert!(b.proxy.host.request(2).resumed);
}

#[test]
fn a_new_request_takes_over_a_lapsed_lease() {
    let proxy = MockProxy::new();
    let (dead, b) = (worker(&proxy), worker(&proxy));
    ask(&dead, 1);
    proxy.advance(TIMEOUT_MS + LEASE_GRACE_MS + 1);
    assert_eq!(ask(&b, 2), TokenStep::Pause);
    tick(&b);
    assert_eq!(b.proxy.host.callouts().len(), 1);
}

#[test]
fn a_waiter_fails_with_503_at_its_deadline() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    ask(&w, 1);
    tick(&w);
    proxy.advance(TIMEOUT_MS);
    tick(&w);
    let sent = w.proxy.host.request(1).sent.unwrap();
    assert_eq!(sent.http_code(), 503);
    assert!(sent.message.contains("timeout"), "{}", sent.message);
    assert_eq!(w.tokens.waiting(), 0);
}

#[test]
fn a_waiter_is_not_failed_before_its_deadline() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    ask(&w, 1);
    tick(&w);
    proxy.advance(TIMEOUT_MS - 1);
    tick(&w);
    assert!(w.proxy.host.request(1).sent.is_none());
    assert_eq!(w.tokens.waiting(), 1);
}

#[test]
fn a_failed_fetch_fails_the_waiters_with_its_code() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    ask(&w, 1);
    tick(&w);
    fail_fetch(&w, 500);
    let sent = w.proxy.host.request(1).sent.unwrap();
    assert_eq!(sent.http_code(), 503);
    assert!(sent.message.contains("could not get a Google access token"));
    assert_eq!(proxy.metric("rejected.token_unavailable"), 0);
    assert_eq!(w.proxy.metrics.rejected_no_token.pending(), 1);
}

#[test]
fn a_request_soon_after_a_failed_fetch_fails_at_once() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    ask(&w, 1);
    tick(&w);
    fail_fetch(&w, 500);
    assert!(matches!(ask(&w, 2), TokenStep::Fail(e) if e.http_code() == 503));
}

#[test]
fn a_request_a_second_after_a_failed_fetch_fetches_again() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    ask(&w, 1);
    tick(&w);
    fail_fetch(&w, 500);
    proxy.advance(1_000);
    assert_eq!(ask(&w, 2), TokenStep::Pause);
    tick(&w);
    assert_eq!(w.proxy.host.callouts().len(), 2);
}

#[test]
fn a_refused_dispatch_fails_the_waiters_as_cluster_unavailable() {
    let proxy = MockProxy::new();
    let w = WorkerState::new(proxy.worker().with_dispatch_refused(), config());
    ask(&w, 1);
    tick(&w);
    let sent = w.proxy.host.request(1).sent.unwrap();
    assert!(
        sent.message.contains("token_cluster_unavailable"),
        "{}",
        sent.message
    );
}

#[test]
fn a_token_is_refreshed_ahead_of_its_expiry_while_requests_keep_using_it() {
    let proxy = MockProxy::new();
    let w = worker_with_token(&proxy, "ya29.one");
    proxy.advance(3_600_000 - MARGIN_MS);
    tick(&w);
    assert_eq!(w.proxy.host.callouts().len(), 2);
    assert_eq!(authorization(&ask(&w, 2)), Some("Bearer ya29.one"));
    answer(&w, "ya29.two", 3600);
    proxy.advance(MARGIN_MS);
    assert_eq!(authorization(&ask(&w, 3)), Some("Bearer ya29.two"));
}

#[test]
fn a_token_is_not_refreshed_before_its_margin() {
    let proxy = MockProxy::new();
    let w = worker_with_token(&proxy, "ya29.one");
    proxy.advance(3_600_000 - MARGIN_MS - 1);
    tick(&w);
    assert_eq!(w.proxy.host.callouts().len(), 1);
}

#[test]
fn a_refresh_is_taken_by_one_worker_only() {
    let proxy = MockProxy::new();
    let a = worker_with_token(&proxy, "ya29.one");
    let b = worker(&proxy);
    proxy.advance(3_600_000 - MARGIN_MS);
    tick(&a);
    tick(&b);
    assert_eq!(a.proxy.host.callouts().len(), 2);
    assert!(b.proxy.host.callouts().is_empty());
}

#[test]
fn a_credential_never_used_is_not_refreshed() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    tick(&w);
    assert!(w.proxy.host.callouts().is_empty());
}

#[test]
fn a_401_on_one_worker_makes_the_other_worker_fetch_anew() {
    let proxy = MockProxy::new();
    let a = worker_with_token(&proxy, "ya29.one");
    let b = worker(&proxy);
    // Both workers hold a copy of generation 1.
    assert_eq!(authorization(&ask(&a, 2)), Some("Bearer ya29.one"));
    assert_eq!(authorization(&ask(&b, 3)), Some("Bearer ya29.one"));
    a.tokens.token_refused(
        &a.proxy,
        TokenId {
            credential: fetched(&a),
            generation: 1,
        },
    );
    assert_eq!(ask(&b, 4), TokenStep::Pause);
    tick(&b);
    assert_eq!(b.proxy.host.callouts().len(), 1);
}

#[test]
fn a_401_for_an_older_generation_leaves_the_newer_token_in_use() {
    let proxy = MockProxy::new();
    let w = worker_with_token(&proxy, "ya29.one");
    proxy.advance(3_600_000 - MARGIN_MS);
    tick(&w);
    answer(&w, "ya29.two", 3600);
    w.tokens.token_refused(
        &w.proxy,
        TokenId {
            credential: fetched(&w),
            generation: 1,
        },
    );
    assert_eq!(authorization(&ask(&w, 2)), Some("Bearer ya29.two"));
}

#[test]
fn a_401_is_counted_for_the_whole_proxy_at_once() {
    let proxy = MockProxy::new();
    let w = worker_with_token(&proxy, "ya29.one");
    let token = w.tokens.token_handed_to(1).unwrap();
    w.tokens.token_refused(&w.proxy, token);
    assert_eq!(proxy.metric("upstream_unauthorized"), 1);
}

#[test]
fn a_waiter_that_went_away_is_not_resumed() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    ask(&w, 1);
    ask(&w, 2);
    w.proxy.host.end(1);
    tick(&w);
    answer(&w, "ya29.one", 3600);
    assert!(!w.proxy.host.request(1).resumed);
    assert!(w.proxy.host.request(2).resumed);
}

#[test]
fn a_forgotten_request_is_no_longer_waited_for() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    ask(&w, 1);
    w.tokens.forget(1);
    assert_eq!(w.tokens.waiting(), 0);
    tick(&w);
    answer(&w, "ya29.one", 3600);
    assert!(!w.proxy.host.request(1).resumed);
}

#[test]
fn a_forgotten_request_no_longer_has_a_token_handed_to_it() {
    let proxy = MockProxy::new();
    let w = worker_with_token(&proxy, "ya29.one");
    w.tokens.forget(1);
    assert_eq!(w.tokens.token_handed_to(1), None);
}

#[test]
fn the_tick_is_short_while_requests_wait_and_long_once_they_are_served() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    ask(&w, 1);
    assert_eq!(w.proxy.host.tick_period(), Some(WAITING_TICK));
    tick(&w);
    answer(&w, "ya29.one", 3600);
    assert_eq!(w.proxy.host.tick_period(), Some(IDLE_TICK));
}

#[test]
fn an_answer_to_an_unknown_callout_is_ignored() {
    let proxy = MockProxy::new();
    let w = worker(&proxy);
    ask(&w, 1);
    tick(&w);
    let body = json!({"access_token": "ya29.x", "expires_in": 3600});
    w.tokens
        .on_fetch_done(&w.proxy, 999, Some(200), body.to_string().as_bytes());
    assert!(!w.proxy.host.request(1).resumed);
    assert_eq!(w.tokens.waiting(), 1);
}

#[test]
fn the_tick_records_the_tokens_remaining_seconds() {
    let proxy = MockProxy::new();
    let w = worker_with_token(&proxy, "ya29.one");
    proxy.advance(600_000);
    tick(&w);
    assert_eq!(
        proxy.metric("credential.default.token_remaining_seconds"),
        3000
    );
}

#[test]
fn the_tick_flushes_the_counters_to_the_proxy() {
    let proxy = MockProxy::new();
    let w = worker_with_token(&proxy, "ya29.one");
    assert_eq!(proxy.metric("token.fetches"), 0);
    tick(&w);
    assert_eq!(proxy.metric("token.fetches"), 1);
    assert_eq!(proxy.metric("token.waits"), 1);
    assert_eq!(proxy.metric("requests_forwarded"), 1);
}
