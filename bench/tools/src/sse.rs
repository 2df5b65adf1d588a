//! SSE time to first byte: sequential `streamGenerateContent?alt=sse` calls, one at a time,
//! interleaved across variants, each on its own kept-alive connection.

use crate::envoy::Envoy;
use crate::variant::{Call, Variant, SSE_PATH};
use anyhow::Context;
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Default, Clone)]
pub struct SseResult {
    /// Microseconds from sending the request to the first body bytes.
    pub ttfb_us: Vec<f64>,
    /// Microseconds to the end of the stream.
    pub total_us: Vec<f64>,
}

pub async fn run(
    envoys: &HashMap<Variant, Envoy>,
    requests: usize,
) -> anyhow::Result<HashMap<Variant, SseResult>> {
    let clients: HashMap<Variant, reqwest::Client> = Variant::all()
        .iter()
        .map(|v| {
            let client = reqwest::Client::builder()
                .no_proxy()
                .tcp_nodelay(true)
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default();
            (*v, client)
        })
        .collect();
    // Warm-up: connections open, nothing recorded.
    for &variant in Variant::all() {
        for _ in 0..10 {
            one(&clients[&variant], &envoys[&variant]).await?;
        }
    }
    let mut results: HashMap<Variant, SseResult> = HashMap::new();
    for i in 0..requests {
        for variant in Variant::rotated(i) {
            let (ttfb, total) = one(&clients[&variant], &envoys[&variant]).await?;
            let r = results.entry(variant).or_default();
            r.ttfb_us.push(ttfb.as_secs_f64() * 1e6);
            r.total_us.push(total.as_secs_f64() * 1e6);
        }
    }
    Ok(results)
}

async fn one(client: &reqwest::Client, envoy: &Envoy) -> anyhow::Result<(Duration, Duration)> {
    let start = Instant::now();
    let mut resp = Call::model(SSE_PATH)
        .request(client, &envoy.url(""))
        .send()
        .await
        .with_context(|| format!("SSE request through {}", envoy.name))?;
    anyhow::ensure!(
        resp.status() == 200,
        "SSE through {}: status {}",
        envoy.name,
        resp.status()
    );
    let first = resp.chunk().await?;
    let ttfb = start.elapsed();
    anyhow::ensure!(first.is_some(), "SSE through {}: empty stream", envoy.name);
    while resp.chunk().await?.is_some() {}
    Ok((ttfb, start.elapsed()))
}
