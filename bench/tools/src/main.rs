//! `vp-bench`: what `make bench` runs. Envoy with vertex-passthrough against bare Envoy and a
//! trivial Wasm filter (the floor), side by side under the same load; writes bench/RESULTS.md.
//!
//!   vp-bench [--out FILE]   the whole bench (expects wrk, nginx, the built .wasm files)
//!   vp-bench upstream       the SSE / WebSocket upstream (started by the bench itself)

mod cold;
mod envoy;
mod envoy_config;
mod instructions;
mod machine;
mod report;
mod rest;
mod settings;
mod sse;
mod stats;
mod summary;
mod upstream_server;
mod upstreams;
mod variant;
mod wrk;
mod ws;

use anyhow::{bail, Context};
use envoy::Envoy;
use envoy_config::{Upstreams, Wasm};
use settings::Settings;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use variant::{Call, Variant, REST_PATH};
use vertex_passthrough_tests::emulator::{Emulator, EmulatorOptions};
use vertex_passthrough_tests::harness::{envoy_binary, repo_root};

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("upstream") => upstream_server::run(),
        _ => run_bench(&args),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vp-bench: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_bench(args: &[String]) -> anyhow::Result<()> {
    let repo = repo_root();
    let mut out = repo.join("bench/RESULTS.md");
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--out" => out = PathBuf::from(iter.next().context("--out needs a file")?),
            "run" => {}
            other => bail!(
                "unknown argument {other:?}; usage: vp-bench [--out FILE] | vp-bench upstream"
            ),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(bench(&repo, &out))
}

/// Where cargo leaves the `.wasm` files: `$CARGO_TARGET_DIR`, else `<repo>/target`.
fn wasm_file(repo: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| repo.join("target"), PathBuf::from);
    let path = target.join("wasm32-wasip1/release").join(name);
    anyhow::ensure!(
        path.is_file(),
        "{} missing: `make bench` builds it",
        path.display()
    );
    Ok(path)
}

async fn bench(repo: &Path, out: &Path) -> anyhow::Result<()> {
    let began = Instant::now();
    let settings = Settings::from_env();
    let envoy_bin = envoy_binary();
    let ours = wasm_file(repo, "vertex_passthrough.wasm")?;
    let floor = wasm_file(repo, "floor_filter.wasm")?;
    let candidate = std::env::var_os("BENCH_CANDIDATE_WASM")
        .filter(|f| !f.is_empty())
        .map(PathBuf::from);
    if let Some(file) = &candidate {
        anyhow::ensure!(
            file.is_file(),
            "BENCH_CANDIDATE_WASM: {} is not a file",
            file.display()
        );
    }
    Variant::include_candidate(candidate.is_some());
    let wasm = Wasm {
        ours: &ours,
        floor: &floor,
        candidate: candidate.as_deref(),
    };
    let dir = repo.join(".run/bench");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let machine = machine::summary(&envoy_bin, &upstreams::nginx_binary());

    eprintln!("vp-bench: measuring what else the machine is doing (3 s)");
    let background_before = machine::background(Duration::from_secs(3)).await;

    let emulator = Emulator::start(EmulatorOptions::with_fixtures()).await?;
    let nginx_port = upstreams::free_port()?;
    let _nginx = upstreams::start_nginx(&dir, nginx_port).await?;
    let (_bench_upstream, sse_port, ws_port) = upstreams::start_bench_upstream(&dir).await?;
    let ports = Upstreams {
        rest: nginx_port,
        sse: sse_port,
        ws: ws_port,
        oauth: emulator.oauth_addr.port(),
    };

    let mut envoys: HashMap<Variant, Envoy> = HashMap::new();
    for &variant in Variant::all() {
        eprintln!("vp-bench: starting Envoy ({})", variant.key());
        let bootstrap = envoy_config::bootstrap(variant, ports, &wasm)?;
        let envoy = Envoy::start(
            &envoy_bin,
            variant.key(),
            &bootstrap,
            &dir,
            settings.concurrency,
        )
        .await?;
        envoys.insert(variant, envoy);
    }
    for &variant in Variant::all() {
        check_forwards(&envoys[&variant]).await?;
    }
    let mut memory_start = HashMap::new();
    for &variant in Variant::all() {
        memory_start.insert(variant, envoys[&variant].memory().await?);
    }

    let script = wrk::write_script(&dir)?;
    let rest = if settings.runs_phase("rest") {
        rest::run(&envoys, &settings, &script).await?
    } else {
        rest::RestResults::default()
    };

    let sse = if settings.runs_phase("sse") {
        eprintln!("sse: {} requests per variant", settings.sse_requests);
        sse::run(&envoys, settings.sse_requests).await?
    } else {
        HashMap::new()
    };

    let mut ws: HashMap<Variant, Vec<ws::WsResult>> = HashMap::new();
    let ws_rounds = if settings.runs_phase("ws") {
        settings.ws_rounds
    } else {
        0
    };
    for round in 0..ws_rounds {
        for variant in Variant::rotated(round) {
            let result =
                ws::run_once(&envoys[&variant], settings.ws_sessions, settings.ws_seconds).await?;
            eprintln!(
                "ws {}/{} {:<8} {:>8.0} round trips/s  p99 {:.2} ms  sessions ok {}/{}{}",
                round + 1,
                settings.ws_rounds,
                variant.key(),
                result.round_trips_per_s(),
                stats::percentile_sorted(&result.rtt_us, 99.0) / 1000.0,
                result.sessions_ok,
                result.sessions,
                result
                    .failures
                    .first()
                    .map(|f| format!("  first failure: {f}"))
                    .unwrap_or_default()
            );
            ws.entry(variant).or_default().push(result);
        }
    }

    let mut memory_after = HashMap::new();
    for &variant in Variant::all() {
        memory_after.insert(variant, envoys[&variant].memory().await?);
    }
    drop(envoys);

    let cold = if settings.runs_phase("cold") {
        eprintln!(
            "cold start: {} concurrent requests on a fresh Envoy",
            settings.cold_requests
        );
        cold::run(
            &envoy_bin,
            &dir,
            ports,
            &wasm,
            settings.concurrency,
            settings.cold_requests,
        )
        .await?
    } else {
        cold::ColdResult::default()
    };
    eprintln!(
        "cold start: {} token request(s), all done after {:.0} ms, statuses {:?}",
        cold.token_requests, cold.all_done_ms, cold.statuses
    );

    let instructions = if settings.runs_phase("instructions") {
        eprintln!(
            "instructions: {} requests per variant under callgrind (one worker)",
            settings.callgrind_requests
        );
        instructions::run(
            &envoy_bin,
            &dir,
            ports,
            &wasm,
            settings.callgrind_requests,
            |v| settings.counts_variant(v.key()),
        )
        .await?
    } else {
        instructions::Counts::default()
    };

    eprintln!("vp-bench: measuring what else the machine is doing (3 s)");
    let background_after = machine::background(Duration::from_secs(3)).await;

    let results = report::Results {
        date,
        machine,
        background_before,
        background_after,
        settings: &settings,
        rest,
        sse,
        ws,
        cold,
        instructions: instructions.rest,
        live_instructions: instructions.live,
        wasm_ours: std::fs::metadata(&ours)?.len(),
        wasm_floor: std::fs::metadata(&floor)?.len(),
        wasm_candidate: candidate
            .as_ref()
            .and_then(|f| std::fs::metadata(f).ok())
            .map(|m| m.len()),
        memory_start,
        memory_after,
        minutes: began.elapsed().as_secs_f64() / 60.0,
    };
    std::fs::write(out, results.markdown())
        .with_context(|| format!("writing {}", out.display()))?;
    print!("{}", results.summary());
    println!("  written: {}", out.display());
    Ok(())
}

/// One request through `envoy` must reach the upstream and come back 200: the variant is wired
/// as intended before any load is measured.
async fn check_forwards(envoy: &Envoy) -> anyhow::Result<()> {
    let resp = Call::model(REST_PATH)
        .request(&envoy::admin_client(), &envoy.url(""))
        .send()
        .await
        .with_context(|| format!("first request through Envoy ({})", envoy.name))?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    anyhow::ensure!(
        status == 200 && body.contains("candidates"),
        "Envoy ({}) answered {status}: {body}\n{}",
        envoy.name,
        envoy.log_tail(20)
    );
    Ok(())
}
