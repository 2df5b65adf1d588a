//! One wrk run: POST of a small JSON body with the client key, at a fixed thread and connection
//! count, for a fixed time; a Lua `done` hook prints exact numbers (microseconds) on one line.

use crate::variant::{CLIENT_KEY, REST_BODY};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

#[derive(Clone, Debug, Default)]
pub struct WrkResult {
    pub requests: u64,
    pub seconds: f64,
    /// connect + read + write + timeout errors.
    pub socket_errors: u64,
    /// Responses that were not 2xx/3xx.
    pub bad_status: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    /// CPU seconds the Envoy under test used during the run.
    pub envoy_cpu_s: f64,
}

impl WrkResult {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds.max(1e-9)
    }

    /// Envoy CPU time per request, in microseconds.
    pub fn envoy_cpu_us_per_request(&self) -> f64 {
        self.envoy_cpu_s * 1e6 / (self.requests.max(1) as f64)
    }
}

const SCRIPT: &str = r#"-- written by vp-bench (make bench)
wrk.method = "POST"
wrk.body = '__BODY__'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-key"] = "__KEY__"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "VPBENCH requests=%d duration_us=%d socket_errors=%d bad_status=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"#;

/// Writes the Lua script wrk runs into `dir`.
pub fn write_script(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("post.lua");
    std::fs::write(
        &path,
        SCRIPT
            .replace("__BODY__", REST_BODY)
            .replace("__KEY__", CLIENT_KEY),
    )?;
    Ok(path)
}

/// Runs wrk against `url`; killed if it overstays its duration by 20 s.
pub async fn run(
    script: &Path,
    url: &str,
    threads: u32,
    connections: u32,
    seconds: u64,
) -> anyhow::Result<WrkResult> {
    let mut cmd = tokio::process::Command::new("wrk");
    cmd.arg(format!("-t{threads}"))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"))
        .arg("--timeout")
        .arg("5s")
        .arg("-s")
        .arg(script)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .context("starting wrk (run scripts/bench-setup.sh)")?;
    let out = tokio::time::timeout(Duration::from_secs(seconds + 20), child.wait_with_output())
        .await
        .context("wrk overstayed its duration")??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let Some(line) = stdout.lines().find(|l| l.starts_with("VPBENCH ")) else {
        bail!(
            "wrk printed no result ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    };
    parse(line)
}

fn parse(line: &str) -> anyhow::Result<WrkResult> {
    let value = |key: &str| -> anyhow::Result<f64> {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
            .with_context(|| format!("no {key} in wrk's line: {line}"))
    };
    Ok(WrkResult {
        requests: value("requests")? as u64,
        seconds: value("duration_us")? / 1e6,
        socket_errors: value("socket_errors")? as u64,
        bad_status: value("bad_status")? as u64,
        p50_us: value("p50_us")?,
        p99_us: value("p99_us")?,
        envoy_cpu_s: 0.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_done_line() {
        let r = parse("VPBENCH requests=300000 duration_us=10000000 socket_errors=0 bad_status=2 p50_us=850 p99_us=3700").unwrap();
        assert_eq!(r.requests, 300_000);
        assert!((r.rps() - 30_000.0).abs() < 1e-6);
        assert_eq!(r.bad_status, 2);
        assert_eq!(r.p99_us, 3700.0);
    }
}
