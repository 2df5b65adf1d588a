//! Cold start: a fresh Envoy with our filter and a `service_account` credential, a fresh token
//! endpoint (the emulator's, which verifies the JWT like Google), and N requests sent at once.
//! Every request needs the token no worker has yet: they must share one fetch.

use crate::envoy::Envoy;
use crate::envoy_config::{self, Upstreams, Wasm};
use crate::stats;
use crate::variant::{Call, Variant, REST_PATH};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use vertex_passthrough_tests::emulator::{Emulator, EmulatorOptions};

#[derive(Clone, Debug, Default)]
pub struct ColdResult {
    pub requests: usize,
    pub statuses: BTreeMap<u16, usize>,
    pub errors: usize,
    /// Token requests the token endpoint saw.
    pub token_requests: usize,
    /// The filter's own `token.fetches` counter.
    pub token_fetches: u64,
    pub all_done_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

pub async fn run(
    envoy_bin: &Path,
    dir: &Path,
    upstreams: Upstreams,
    wasm: &Wasm<'_>,
    concurrency: u32,
    requests: usize,
) -> anyhow::Result<ColdResult> {
    let emulator = Emulator::start(EmulatorOptions::with_fixtures()).await?;
    let upstreams = Upstreams {
        oauth: emulator.oauth_addr.port(),
        ..upstreams
    };
    let bootstrap = envoy_config::bootstrap(Variant::OursSa, upstreams, wasm)?;
    let envoy = Envoy::start(envoy_bin, "cold", &bootstrap, dir, concurrency).await?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?;
    let base = envoy.url("");
    let started = Instant::now();
    let calls = (0..requests).map(|_| {
        let client = client.clone();
        let base = base.clone();
        tokio::spawn(async move {
            let sent = Instant::now();
            let status = Call::model(REST_PATH)
                .request(&client, &base)
                .send()
                .await
                .map(|r| r.status().as_u16());
            (status, sent.elapsed())
        })
    });
    let outcomes = futures_util::future::join_all(calls.collect::<Vec<_>>()).await;
    let all_done = started.elapsed();
    let mut result = ColdResult {
        requests,
        all_done_ms: all_done.as_secs_f64() * 1e3,
        ..ColdResult::default()
    };
    let mut latencies = Vec::new();
    for outcome in outcomes {
        match outcome {
            Ok((Ok(status), took)) => {
                *result.statuses.entry(status).or_default() += 1;
                latencies.push(took.as_secs_f64() * 1e3);
            }
            _ => result.errors += 1,
        }
    }
    result.p50_ms = stats::percentile(&latencies, 50.0);
    result.p99_ms = stats::percentile(&latencies, 99.0);
    result.token_requests = emulator.token_requests().len();
    // The filter hands its counters to Envoy on its once-a-second tick.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    result.token_fetches = envoy
        .stat("wasmcustom.vertex_passthrough.token.fetches")
        .await
        .unwrap_or(0);
    Ok(result)
}
