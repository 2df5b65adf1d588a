//! The local upstreams, as child processes: nginx for REST (plain HTTP), and `vp-bench upstream` for SSE and the Live WebSocket.

use anyhow::{bail, Context};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The body nginx answers every REST call with: a small generateContent response.
const REST_ANSWER: &str = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Hello from the bench upstream"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":6,"totalTokenCount":7}}"#;

/// The body nginx answers an OpenAI-compatible chat call with.
const OPENAI_ANSWER: &str = r#"{"id":"bench","object":"chat.completion","created":1,"model":"google/gemini-2.0-flash","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the bench upstream"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":6,"total_tokens":7}}"#;
/// The body nginx answers a cached content read with.
const CACHED_CONTENT_ANSWER: &str = r#"{"name":"projects/proj-alpha/locations/us-central1/cachedContents/bench-cache-1","model":"projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-2.0-flash","expireTime":"2030-01-01T00:00:00Z"}"#;

/// A child process killed (and reaped) when dropped.
pub struct ChildGuard {
    pub name: &'static str,
    child: Child,
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port on 127.0.0.1 for a server that cannot take port 0 (nginx).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub fn nginx_binary() -> String {
    std::env::var("NGINX_BIN").unwrap_or_else(|_| "/usr/sbin/nginx".to_string())
}

/// nginx in the foreground, one process (no master: killing it leaves nothing behind), on
/// 127.0.0.1:`port`. It answers 200 with a small JSON body (an OpenAI chat completion under
/// `/endpoints/openapi/`, a cached content under `/cachedContents/`, else a generateContent
/// response) if a bearer token arrived and the marker header did not, else 401 / 400 (so a
/// misrouted variant shows as errors in wrk).
pub async fn start_nginx(dir: &Path, port: u16) -> anyhow::Result<ChildGuard> {
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(&prefix)?;
    let p = |name: &str| prefix.join(name).display().to_string();
    let conf = format!(
        r#"worker_processes 1;
pid {pid};
error_log {error} warn;
worker_rlimit_nofile 20000;
events {{ worker_connections 10000; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 600s;
    default_type application/json;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        if ($http_authorization !~ "^Bearer ") {{ return 401 '{{"error":"no bearer token reached the upstream"}}'; }}
        if ($http_x_vertex_passthrough) {{ return 400 '{{"error":"the marker header reached the upstream"}}'; }}
        location ~ /endpoints/openapi/ {{ return 200 '{OPENAI_ANSWER}'; }}
        location ~ /cachedContents/ {{ return 200 '{CACHED_CONTENT_ANSWER}'; }}
        location / {{ return 200 '{REST_ANSWER}'; }}
    }}
}}
"#,
        pid = p("nginx.pid"),
        error = p("error.log"),
        tmp = prefix.display(),
    );
    let conf_path = prefix.join("nginx.conf");
    std::fs::write(&conf_path, conf)?;
    let log = File::create(prefix.join("stderr.log"))?;
    let child = Command::new(nginx_binary())
        .arg("-p")
        .arg(&prefix)
        .arg("-e")
        .arg(p("error.log"))
        .arg("-c")
        .arg(&conf_path)
        .args(["-g", "daemon off; master_process off;"])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {} (run scripts/bench-setup.sh)", nginx_binary()))?;
    let mut guard = ChildGuard {
        name: "nginx",
        child,
    };
    wait_for_port(&mut guard, port, &prefix.join("error.log")).await?;
    Ok(guard)
}

/// `vp-bench upstream` (this same binary), which prints its ports once it listens.
pub async fn start_bench_upstream(dir: &Path) -> anyhow::Result<(ChildGuard, u16, u16)> {
    let out_path: PathBuf = dir.join("upstream.out");
    let out = File::create(&out_path)?;
    let child = Command::new(std::env::current_exe()?)
        .arg("upstream")
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .context("starting `vp-bench upstream`")?;
    let mut guard = ChildGuard {
        name: "bench upstream",
        child,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&out_path).unwrap_or_default();
        if let Some(line) = text
            .lines()
            .find(|l| l.starts_with("vp-bench-upstream ready"))
        {
            let port = |key: &str| -> Option<u16> {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix(key)?.parse().ok())
            };
            if let (Some(sse), Some(ws)) = (port("sse="), port("ws=")) {
                return Ok((guard, sse, ws));
            }
            bail!("unexpected line from `vp-bench upstream`: {line}");
        }
        if let Some(status) = guard.child.try_wait()? {
            bail!("`vp-bench upstream` exited with {status}: {text}");
        }
        if Instant::now() > deadline {
            bail!("`vp-bench upstream` not ready after 10 s: {text}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_for_port(guard: &mut ChildGuard, port: u16, log: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        if let Some(status) = guard.child.try_wait()? {
            bail!(
                "{} exited with {status}: {}",
                guard.name,
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        if Instant::now() > deadline {
            bail!("{} not listening on {port} after 10 s", guard.name);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
