//! REST throughput and latency: every variant under the same wrk load, alternating, with the
//! Envoy's own CPU time per request measured around each run.

use crate::envoy::Envoy;
use crate::settings::Settings;
use crate::variant::{Variant, REST_PATH};
use crate::wrk::{self, WrkResult};
use std::collections::HashMap;
use std::path::Path;

#[derive(Default)]
pub struct RestResults {
    /// At `settings.connections` connections, one entry per round.
    pub loaded: HashMap<Variant, Vec<WrkResult>>,
    /// At one connection (latency without queueing).
    pub single: HashMap<Variant, Vec<WrkResult>>,
}

pub async fn run(
    envoys: &HashMap<Variant, Envoy>,
    settings: &Settings,
    script: &Path,
) -> anyhow::Result<RestResults> {
    let mut results = RestResults::default();
    eprintln!("rest: warm-up, {} s per variant", settings.warmup_seconds);
    for &variant in Variant::all() {
        let envoy = &envoys[&variant];
        wrk::run(
            script,
            &envoy.url(REST_PATH),
            settings.threads,
            settings.connections,
            settings.warmup_seconds,
        )
        .await?;
    }
    for round in 0..settings.runs {
        for variant in Variant::rotated(round) {
            let result = measured(
                &envoys[&variant],
                script,
                settings.threads,
                settings.connections,
                settings.seconds,
            )
            .await?;
            report_line("rest", round, settings.runs, variant, &result);
            results.loaded.entry(variant).or_default().push(result);
        }
    }
    for round in 0..settings.single_runs {
        for variant in Variant::rotated(round) {
            let result = measured(&envoys[&variant], script, 1, 1, settings.single_seconds).await?;
            report_line("rest 1 conn", round, settings.single_runs, variant, &result);
            results.single.entry(variant).or_default().push(result);
        }
    }
    Ok(results)
}

async fn measured(
    envoy: &Envoy,
    script: &Path,
    threads: u32,
    connections: u32,
    seconds: u64,
) -> anyhow::Result<WrkResult> {
    let cpu_before = envoy.cpu_seconds()?;
    let mut result = wrk::run(script, &envoy.url(REST_PATH), threads, connections, seconds).await?;
    result.envoy_cpu_s = envoy.cpu_seconds()? - cpu_before;
    let failed = result.bad_status + result.socket_errors;
    anyhow::ensure!(
        failed * 100 <= result.requests.max(1),
        "{}: {failed} of {} requests failed (non-2xx or socket errors): the variant is misconfigured; see .run/bench/envoy-{}.log",
        envoy.name,
        result.requests,
        envoy.name
    );
    Ok(result)
}

fn report_line(phase: &str, round: usize, rounds: usize, variant: Variant, r: &WrkResult) {
    eprintln!(
        "{phase} {}/{rounds} {:<8} {:>9.0} req/s  p50 {:>6.3} ms  p99 {:>6.3} ms  Envoy CPU {:>5.1} µs/req{}",
        round + 1,
        variant.key(),
        r.rps(),
        r.p50_us / 1000.0,
        r.p99_us / 1000.0,
        r.envoy_cpu_us_per_request(),
        if r.bad_status + r.socket_errors > 0 {
            format!("  ({} bad status, {} socket errors)", r.bad_status, r.socket_errors)
        } else {
            String::new()
        }
    );
}
