//! Instructions per request, counted by callgrind. Each variant's Envoy runs with one worker
//! under valgrind; after a warm-up (so V8 has compiled the hot Wasm code), counting is switched
//! on for exactly N sequential requests on one connection, then dumped. Unlike requests/s, the
//! count does not move with what else the shared machine is doing: it repeats far more closely
//! than requests/s (the spreads are in bench/RESULTS.md).

use crate::envoy::Envoy;
use crate::envoy_config::{self, Upstreams, Wasm};
use crate::variant::Variant;
use crate::ws;
use anyhow::Context;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

pub const WARMUP_REQUESTS: usize = 300;
/// Envoy starts far slower under valgrind.
const START_TIMEOUT: Duration = Duration::from_secs(300);

/// What the phase counted, per variant.
#[derive(Default)]
pub struct Counts {
    /// Instructions per REST request: every variant, `Variant::all()` then `Variant::PICKS`.
    pub rest: HashMap<Variant, f64>,
    /// Instructions per Live round trip (one client turn, one server answer with
    /// `usageMetadata`) on one session: the variants of `Variant::all()`.
    pub live: HashMap<Variant, f64>,
}

/// Instructions per request for every variant, in `Variant::all()` order, then `Variant::PICKS`;
/// then, in the same Envoy, per Live round trip.
pub async fn run(
    envoy_bin: &Path,
    dir: &Path,
    upstreams: Upstreams,
    wasm: &Wasm<'_>,
    requests: usize,
    counted: impl Fn(Variant) -> bool,
) -> anyhow::Result<Counts> {
    let mut counts = Counts::default();
    for &variant in Variant::all().iter().chain(&Variant::PICKS) {
        if !counted(variant) {
            continue;
        }
        let out = dir.join(format!("callgrind-{}.out", variant.key()));
        let dump = dir.join(format!("callgrind-{}.out.1", variant.key()));
        let _ = std::fs::remove_file(&dump);
        let wrapper = [
            "valgrind".to_string(),
            "--tool=callgrind".to_string(),
            // V8 writes the code it compiles: valgrind must see those writes.
            "--smc-check=all-non-file".to_string(),
            "--instr-atstart=no".to_string(),
            format!("--callgrind-out-file={}", out.display()),
        ];
        let name = format!("{}-callgrind", variant.key());
        let bootstrap = envoy_config::bootstrap(variant, upstreams, wasm)?;
        let envoy = Envoy::start_under(
            &wrapper,
            START_TIMEOUT,
            envoy_bin,
            &name,
            &bootstrap,
            dir,
            1,
        )
        .await?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(120))
            .build()?;
        send(&client, &envoy, variant, WARMUP_REQUESTS).await?;
        callgrind_control(&["-i", "on"], envoy.pid())?;
        send(&client, &envoy, variant, requests).await?;
        callgrind_control(&["-d"], envoy.pid())?;
        callgrind_control(&["-i", "off"], envoy.pid())?;
        let total = summary_instructions(&dump)?;
        let value = total as f64 / requests as f64;
        eprintln!(
            "instructions {:<8} {value:>9.0} per request (callgrind, {requests} requests)",
            variant.key()
        );
        counts.rest.insert(variant, value);
        if Variant::all().contains(&variant) {
            let live_dump = dir.join(format!("callgrind-{}.out.2", variant.key()));
            let _ = std::fs::remove_file(&live_dump);
            let mut session = ws::Session::open(&envoy).await?;
            session.round_trips(WARMUP_REQUESTS).await?;
            callgrind_control(&["-i", "on"], envoy.pid())?;
            session.round_trips(requests).await?;
            callgrind_control(&["-d"], envoy.pid())?;
            callgrind_control(&["-i", "off"], envoy.pid())?;
            session.close().await;
            let value = summary_instructions(&live_dump)? as f64 / requests as f64;
            eprintln!(
                "instructions {:<8} {value:>9.0} per Live round trip (callgrind, {requests} round trips)",
                variant.key()
            );
            counts.live.insert(variant, value);
        }
        drop(envoy);
    }
    Ok(counts)
}

async fn send(
    client: &reqwest::Client,
    envoy: &Envoy,
    variant: Variant,
    requests: usize,
) -> anyhow::Result<()> {
    let call = variant.call();
    let base = envoy.url("");
    for _ in 0..requests {
        let resp =
            call.request(client, &base).send().await.with_context(|| {
                format!("request through Envoy ({}) under callgrind", envoy.name)
            })?;
        let status = resp.status();
        resp.bytes().await?;
        anyhow::ensure!(status == 200, "Envoy ({}) answered {status}", envoy.name);
    }
    Ok(())
}

fn callgrind_control(args: &[&str], pid: u32) -> anyhow::Result<()> {
    let output = Command::new("callgrind_control")
        .args(args)
        .arg(pid.to_string())
        .output()
        .context("running callgrind_control (Debian package valgrind)")?;
    anyhow::ensure!(
        output.status.success(),
        "callgrind_control {args:?} {pid}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// The `summary:` line of a callgrind dump: the instructions counted in its window.
fn summary_instructions(dump: &Path) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(dump)
        .with_context(|| format!("reading the callgrind dump {}", dump.display()))?;
    text.lines()
        .find_map(|line| line.strip_prefix("totals:")?.trim().parse().ok())
        .with_context(|| format!("no summary line in {}", dump.display()))
}
