//! One Envoy process under load: started from a rendered bootstrap, on ports Envoy picks, with
//! its admin API for readiness, `/memory` and stats, and `/proc` for its CPU time.

use crate::envoy_config::LISTENER;
use anyhow::{bail, Context};
use serde_json::Value;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Envoy {
    pub name: String,
    pub port: u16,
    pub admin_port: u16,
    child: Child,
    log_path: PathBuf,
}

/// Admin `/memory`, in bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    pub allocated: u64,
    pub heap_size: u64,
}

impl Envoy {
    /// Writes `bootstrap` to `<dir>/envoy-<name>.json` and starts Envoy on it with
    /// `--concurrency`; returns once admin says LIVE and the listener accepts.
    pub async fn start(
        envoy_bin: &Path,
        name: &str,
        bootstrap: &Value,
        dir: &Path,
        concurrency: u32,
    ) -> anyhow::Result<Envoy> {
        Self::start_under(
            &[],
            START_TIMEOUT,
            envoy_bin,
            name,
            bootstrap,
            dir,
            concurrency,
        )
        .await
    }

    /// Like `start`, with Envoy run by `wrapper` (e.g. valgrind and its options), which may
    /// need longer than `START_TIMEOUT` to get Envoy ready.
    pub async fn start_under(
        wrapper: &[String],
        start_timeout: Duration,
        envoy_bin: &Path,
        name: &str,
        bootstrap: &Value,
        dir: &Path,
        concurrency: u32,
    ) -> anyhow::Result<Envoy> {
        let config_path = dir.join(format!("envoy-{name}.json"));
        std::fs::write(&config_path, serde_json::to_string_pretty(bootstrap)?)?;
        let admin_path = dir.join(format!("envoy-{name}.admin"));
        let _ = std::fs::remove_file(&admin_path);
        let log_path = dir.join(format!("envoy-{name}.log"));
        let log = File::create(&log_path)?;
        let mut command = match wrapper.split_first() {
            Some((program, options)) => {
                let mut command = Command::new(program);
                command.args(options).arg(envoy_bin);
                command
            }
            None => Command::new(envoy_bin),
        };
        let child = command
            .arg("-c")
            .arg(&config_path)
            .args(["--concurrency", &concurrency.to_string()])
            .arg("--disable-hot-restart")
            .arg("--admin-address-path")
            .arg(&admin_path)
            .args(["--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {} {wrapper:?}", envoy_bin.display()))?;
        let mut envoy = Envoy {
            name: name.to_string(),
            port: 0,
            admin_port: 0,
            child,
            log_path,
        };
        let deadline = Instant::now() + start_timeout;
        loop {
            if let Some(status) = envoy.child.try_wait()? {
                bail!(
                    "Envoy ({name}) exited with {status} before it was ready; see {}:\n{}",
                    envoy.log_path.display(),
                    envoy.log_tail(30)
                );
            }
            if let Some((admin_port, port)) = ready(&admin_path).await {
                envoy.admin_port = admin_port;
                envoy.port = port;
                return Ok(envoy);
            }
            if Instant::now() > deadline {
                bail!(
                    "Envoy ({name}) not ready after {start_timeout:?}; see {}",
                    envoy.log_path.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// User + system CPU time Envoy has used so far, in seconds.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        crate::machine::process_cpu_seconds(self.pid())
    }

    pub async fn memory(&self) -> anyhow::Result<Memory> {
        let body = admin_get(self.admin_port, "/memory").await?;
        let json: Value = serde_json::from_str(&body).context("admin /memory is not JSON")?;
        let field = |name: &str| -> u64 {
            match &json[name] {
                Value::String(s) => s.parse().unwrap_or(0),
                Value::Number(n) => n.as_u64().unwrap_or(0),
                _ => 0,
            }
        };
        Ok(Memory {
            allocated: field("allocated"),
            heap_size: field("heap_size"),
        })
    }

    /// A counter or gauge from admin `/stats`, 0 when absent.
    pub async fn stat(&self, name: &str) -> anyhow::Result<u64> {
        let body = admin_get(self.admin_port, &format!("/stats?filter=^{name}$")).await?;
        Ok(body
            .lines()
            .find_map(|line| {
                line.strip_prefix(name)?
                    .strip_prefix(": ")?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0))
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn admin_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default()
}

async fn admin_get(admin_port: u16, path: &str) -> anyhow::Result<String> {
    let url = format!("http://127.0.0.1:{admin_port}{path}");
    let resp = admin_client()
        .get(&url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    let body = resp.text().await?;
    anyhow::ensure!(status.is_success(), "GET {url}: {status}: {body}");
    Ok(body)
}

/// `(admin_port, listener_port)` once admin says LIVE and the listener accepts.
async fn ready(admin_path: &Path) -> Option<(u16, u16)> {
    let address = std::fs::read_to_string(admin_path).ok()?;
    let admin_port = address.trim().parse::<SocketAddr>().ok()?.port();
    if admin_get(admin_port, "/ready").await.ok()?.trim() != "LIVE" {
        return None;
    }
    let body = admin_get(admin_port, "/listeners?format=json").await.ok()?;
    let json: Value = serde_json::from_str(&body).ok()?;
    let port = json["listener_statuses"]
        .as_array()?
        .iter()
        .find(|l| l["name"] == LISTENER)?["local_address"]["socket_address"]["port_value"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())?;
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    Some((admin_port, port))
}
