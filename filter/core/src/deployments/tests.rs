//! Picks and cooldowns on simulated workers of one proxy: a shared store, a mock clock.

use super::*;
use crate::config::Config;
use crate::mock::{MockHost, MockProxy};
use crate::test_config;
use crate::worker::WorkerState;
use serde_json::json;
use std::rc::Rc;

fn config(weights: [u64; 2]) -> Config {
    let c = json!({
        "vertex_project": "proj-alpha",
        "credentials": {"default": {"type": "access_token", "token": "t"}},
        "model_list": [
            {"model_name": "flash", "litellm_params": {"model": "gemini-2.0-flash", "vertex_location": "us-central1", "weight": weights[0]}},
            {"model_name": "flash", "litellm_params": {"model": "gemini-2.0-flash", "vertex_location": "europe-west4", "weight": weights[1]}},
        ],
        "cooldown_s": 30,
        "allow_unauthenticated": true,
    });
    test_config::load(&c)
}

fn workers(proxy: &Rc<MockProxy>, n: usize) -> Vec<WorkerState<MockHost>> {
    (0..n)
        .map(|_| WorkerState::new(proxy.worker(), config([1, 1])))
        .collect()
}

/// How often each deployment is picked in `n` picks on `w`.
fn picks(w: &WorkerState<MockHost>, n: usize) -> [usize; 2] {
    let mut counts = [0; 2];
    for _ in 0..n {
        let moment = crate::moment::Moment::new(&w.proxy);
        counts[w.deployments.pick(&w.proxy, 0, &moment)] += 1;
    }
    counts
}

const FIRST: DeploymentId = DeploymentId { pool: 0, index: 0 };
const SECOND: DeploymentId = DeploymentId { pool: 0, index: 1 };

#[test]
fn both_deployments_serve_and_workers_pick_differently() {
    let proxy = MockProxy::new();
    let w = workers(&proxy, 2);
    let a = picks(&w[0], 200);
    let b = picks(&w[1], 200);
    assert!(a[0] > 60 && a[1] > 60, "{a:?}");
    assert!(b[0] > 60 && b[1] > 60, "{b:?}");
    assert_ne!(a, b, "each worker has a sequence of its own");
}

#[test]
fn a_one_to_nine_pair_ends_near_one_to_nine_on_a_worker() {
    let proxy = MockProxy::new();
    let w = WorkerState::new(proxy.worker(), config([1, 9]));
    let counts = picks(&w, 400);
    assert!((20..=60).contains(&counts[0]), "{counts:?}");
}

#[test]
fn a_429_on_one_worker_cools_the_deployment_down_on_the_other() {
    let proxy = MockProxy::new();
    let w = workers(&proxy, 2);
    picks(&w[1], 10);
    w[0].deployments.answered(&w[0].proxy, FIRST, 429);
    assert_eq!(picks(&w[1], 50), [0, 50]);
    proxy.advance(29_999);
    assert_eq!(picks(&w[1], 50), [0, 50]);
    proxy.advance(1);
    let after = picks(&w[1], 50);
    assert!(after[0] > 10, "the cooldown ended: {after:?}");
    assert_eq!(
        proxy.metric("deployment.flash.0.cooldowns"),
        0,
        "not flushed yet"
    );
    w[0].proxy.metrics.flush(&w[0].proxy.host);
    assert_eq!(proxy.metric("deployment.flash.0.cooldowns"), 1);
}

#[test]
fn a_503_cools_down_and_other_answers_do_not() {
    let proxy = MockProxy::new();
    let w = workers(&proxy, 1);
    for status in [200, 400, 401, 404, 500, 504] {
        w[0].deployments.answered(&w[0].proxy, FIRST, status);
    }
    assert!(picks(&w[0], 50)[0] > 10);
    w[0].deployments.answered(&w[0].proxy, SECOND, 503);
    assert_eq!(picks(&w[0], 50), [50, 0]);
}

#[test]
fn when_all_cool_down_the_one_whose_cooldown_ends_first_serves() {
    let proxy = MockProxy::new();
    let w = workers(&proxy, 2);
    w[0].deployments.answered(&w[0].proxy, SECOND, 429);
    proxy.advance(5_000);
    w[1].deployments.answered(&w[1].proxy, FIRST, 429);
    assert_eq!(picks(&w[0], 20), [0, 20]);
    assert_eq!(picks(&w[1], 20), [0, 20]);
}

#[test]
fn a_deployment_already_cooling_down_is_not_cooled_again() {
    let proxy = MockProxy::new();
    let w = workers(&proxy, 2);
    w[0].deployments.answered(&w[0].proxy, FIRST, 429);
    proxy.advance(10_000);
    w[1].deployments.answered(&w[1].proxy, FIRST, 429);
    assert_eq!(proxy.metric("shared_changes"), 1);
    // The cooldown still ends 30 s after the first 429.
    proxy.advance(20_000);
    assert!(picks(&w[1], 50)[0] > 10);
}

#[test]
fn picks_read_shared_data_only_after_a_cooldown_was_written() {
    let proxy = MockProxy::new();
    let w = workers(&proxy, 2);
    picks(&w[1], 1);
    let reads = w[1].proxy.host.shared_reads();
    picks(&w[1], 100);
    assert_eq!(w[1].proxy.host.shared_reads(), reads, "nothing changed");
    w[0].deployments.answered(&w[0].proxy, FIRST, 429);
    picks(&w[1], 100);
    assert_eq!(w[1].proxy.host.shared_reads(), reads + 1, "one read");
}

#[test]
fn the_tick_clears_an_ended_cooldown_once_for_the_process() {
    let proxy = MockProxy::new();
    let w = workers(&proxy, 2);
    w[0].deployments.answered(&w[0].proxy, FIRST, 429);
    picks(&w[1], 1);
    let key = "vertex_passthrough.cooldown.flash";
    let entry = |host: &MockHost| cooldown::decode(host.shared_get(key).0.as_deref(), 2);
    w[0].deployments.on_tick(&w[0].proxy, proxy.now() + 29_000);
    assert_ne!(entry(&w[0].proxy.host)[0], 0, "not over yet");
    proxy.advance(30_000);
    w[1].deployments.on_tick(&w[1].proxy, proxy.now());
    assert_eq!(entry(&w[1].proxy.host), [0, 0]);
    // The other worker finds it cleared already: nothing to write, its copy now says so.
    let reads = w[0].proxy.host.shared_reads();
    w[0].deployments.on_tick(&w[0].proxy, proxy.now());
    assert_eq!(w[0].proxy.host.shared_reads(), reads + 1);
    w[0].deployments.on_tick(&w[0].proxy, proxy.now());
    assert_eq!(
        w[0].proxy.host.shared_reads(),
        reads + 1,
        "nothing left to clear"
    );
}

#[test]
fn a_cooldown_written_after_a_tick_cleared_the_last_one_counts() {
    let proxy = MockProxy::new();
    let w = workers(&proxy, 2);
    w[0].deployments.answered(&w[0].proxy, FIRST, 429);
    proxy.advance(30_000);
    w[0].deployments.on_tick(&w[0].proxy, proxy.now());
    w[1].deployments.answered(&w[1].proxy, FIRST, 429);
    assert_eq!(proxy.metric("shared_changes"), 2);
    assert_eq!(picks(&w[0], 30), [0, 30]);
}
