//! One Envoy process for one test: started on free loopback ports, killed when dropped.
use std::collections::BTreeMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::admin;
use super::paths::envoy_binary;
use super::render::render_test_config;
use super::variants;

/// Where the Google emulators listen (all on 127.0.0.1), and the CA that signs the Vertex
/// emulator's certificate.
#[derive(Clone, Debug)]
pub struct Upstreams {
    pub oauth: SocketAddr,
    pub metadata: SocketAddr,
    pub vertex: SocketAddr,
    pub vertex_ca: PathBuf,
}

/// How the rendered config hands the plugin config to Envoy (`configuration`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PluginConfigForm {
    /// JSON text in a `google.protobuf.StringValue`, as Istio and Envoy Gateway send it; the
    /// filter gets the text verbatim.
    #[default]
    StringValue,
    /// A `google.protobuf.Struct` written as a YAML mapping, as envoy/envoy.yaml has it; the
    /// filter gets it serialized. The plugin config must then be a JSON object.
    Struct,
}

#[derive(Clone, Debug)]
pub struct EnvoyOptions {
    /// The plugin config, JSON text.
    pub plugin_config: String,
    pub plugin_config_form: PluginConfigForm,
    /// Envoy worker threads (`--concurrency`).
    pub concurrency: u32,
    /// The Wasm VM's environment (`vm_config.environment_variables.key_values`).
    pub vm_env: Vec<(String, String)>,
    pub upstreams: Upstreams,
    /// `--component-log-level`; empty for Envoy's default.
    pub component_log_level: String,
    /// A config to run instead of the rendered test template (e.g. `render_production_config`);
    /// `plugin_config`, its form, `vm_env` and `upstreams` are then unused.
    pub config: Option<String>,
    /// Env vars of the Envoy process, which `host_env_keys` hands to the VM. Envoy never inherits
    /// the Google variables (VERTEX_SA_KEY, VERTEXAI_PROJECT, VERTEXAI_LOCATION) of the test's env.
    pub process_env: Vec<(String, String)>,
    /// Callers on 127.0.0.0/8 count as internal (`internal_address_config`, with
    /// `use_remote_address`): Envoy's router obeys their `x-envoy-*` headers.
    pub trust_loopback_callers: bool,
    /// The Wasm plugin's `allow_on_headers_stop_iteration`: Envoy hands the filter request body
    /// while the filter holds the headers.
    pub allow_on_headers_stop_iteration: bool,
}

impl EnvoyOptions {
    pub fn new(plugin_config: impl Into<String>, upstreams: Upstreams) -> Self {
        EnvoyOptions {
            plugin_config: plugin_config.into(),
            plugin_config_form: PluginConfigForm::default(),
            concurrency: 2,
            vm_env: Vec::new(),
            upstreams,
            component_log_level: "wasm:debug".to_string(),
            config: None,
            process_env: Vec::new(),
            trust_loopback_callers: false,
            allow_on_headers_stop_iteration: false,
        }
    }

    /// Options that run `config` as it is, with `process_env` in Envoy's environment.
    pub fn rendered(config: String, process_env: &[(&str, &str)]) -> Self {
        let nowhere = SocketAddr::from(([127, 0, 0, 1], 9));
        let mut opts = EnvoyOptions::new(
            String::new(),
            Upstreams {
                oauth: nowhere,
                metadata: nowhere,
                vertex: nowhere,
                vertex_ca: PathBuf::new(),
            },
        );
        opts.config = Some(config);
        opts.process_env = process_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        opts
    }

    /// Adds one VM env var (builder style).
    pub fn vm_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.vm_env.push((key.into(), value.into()));
        self
    }
}

/// How long Envoy gets to become ready (compiling the Wasm module takes a moment on 2 cores).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a config Envoy should refuse gets before the harness calls it accepted-but-stuck.
const REJECTION_TIMEOUT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(50);
const LISTENER: &str = "vertex_passthrough";
/// The variables the shipped configs let into the VM (`host_env_keys`).
const GOOGLE_ENV: [&str; 3] = ["VERTEX_SA_KEY", "VERTEXAI_PROJECT", "VERTEXAI_LOCATION"];

pub struct Envoy {
    /// The plaintext listener (the one clients use).
    pub port: u16,
    pub admin_port: u16,
    process: Process,
}

impl Envoy {
    /// Renders the test config into a temp dir and starts Envoy on it; returns once the admin
    /// `/ready` says LIVE and the listener accepts connections. If Envoy exits (or hangs) first,
    /// the error carries the end of its log.
    pub async fn start(opts: EnvoyOptions) -> anyhow::Result<Envoy> {
        let mut process = Process::spawn(&opts)?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = process.exited()? {
                bail!(
                    "Envoy exited ({status}) before it was ready; last lines of {}:\n{}",
                    process.log_path.display(),
                    tail(&process.log(), 60)
                );
            }
            if let Some((admin_port, port)) = process.ready().await {
                return Ok(Envoy {
                    port,
                    admin_port,
                    process,
                });
            }
            if Instant::now() > deadline {
                bail!(
                    "Envoy not ready after {START_TIMEOUT:?}; last lines of {}:\n{}",
                    process.log_path.display(),
                    tail(&process.log(), 60)
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Starts Envoy on a config it must refuse: it has to exit non-zero, or still not be ready
    /// after 15 s (then it is killed). Returns Envoy's whole log; an Err if Envoy became ready.
    pub async fn start_expecting_rejection(opts: EnvoyOptions) -> anyhow::Result<String> {
        let mut process = Process::spawn(&opts)?;
        let deadline = Instant::now() + REJECTION_TIMEOUT;
        loop {
            if let Some(status) = process.exited()? {
                if status.success() {
                    bail!(
                        "Envoy exited 0 instead of refusing the config:\n{}",
                        tail(&process.log(), 60)
                    );
                }
                return Ok(process.log());
            }
            if process.ready().await.is_some() {
                bail!(
                    "Envoy accepted the config and became ready:\n{}",
                    tail(&process.log(), 60)
                );
            }
            if Instant::now() > deadline {
                process.kill();
                return Ok(process.log());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Envoy's process id.
    pub fn pid(&self) -> u32 {
        self.process.child.id()
    }

    /// `http://127.0.0.1:{port}{path_and_query}`
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path_and_query)
    }

    /// `ws://127.0.0.1:{port}{path_and_query}`
    pub fn ws_url(&self, path_and_query: &str) -> String {
        format!("ws://127.0.0.1:{}{}", self.port, path_and_query)
    }

    /// Everything Envoy has logged so far (application log, stdout and stderr; written unbuffered).
    pub fn log(&self) -> String {
        self.process.log()
    }

    pub fn log_path(&self) -> &Path {
        &self.process.log_path
    }

    /// The rendered config Envoy runs on.
    pub fn config_path(&self) -> &Path {
        &self.process.config_path
    }

    /// Waits until the log contains `needle` (log lines can trail the response that caused them).
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while !self.log().contains(needle) {
            if Instant::now() > deadline {
                bail!(
                    "{needle:?} not in Envoy's log after {timeout:?}:\n{}",
                    tail(&self.log(), 60)
                );
            }
            tokio::time::sleep(POLL).await;
        }
        Ok(())
    }

    /// Counters and gauges from admin `/stats`, by full name. Metrics the filter defines show
    /// here as `wasmcustom.<name>` (e.g. `wasmcustom.vertex_passthrough.requests`), and on
    /// `/stats/prometheus` as `<name>` with dots made underscores, without an `envoy_` prefix.
    pub async fn stats(&self) -> anyhow::Result<BTreeMap<String, u64>> {
        admin::parse_stats(&admin::get(self.admin_port, "/stats?format=json").await?)
    }

    /// Connections each worker has accepted on the client listener so far, by the worker's
    /// stat name (`listener.127.0.0.1_0.worker_N.downstream_cx_total`).
    pub async fn connections_per_worker(&self) -> anyhow::Result<BTreeMap<String, u64>> {
        let mut stats = self.stats().await?;
        stats.retain(|name, _| {
            name.starts_with("listener.127.0.0.1_")
                && name.contains(".worker_")
                && name.ends_with(".downstream_cx_total")
        });
        Ok(stats)
    }

    /// Runs `load`, then checks that each of Envoy's `workers` workers accepted at least one new
    /// client connection during it (`what` names the load in the failure); returns `load`'s
    /// output. The kernel spreads connections over the workers, so a load of fresh connections
    /// reaches each of them.
    pub async fn assert_every_worker_took_part<T>(
        &self,
        workers: usize,
        what: &str,
        load: impl std::future::Future<Output = T>,
    ) -> T {
        let before = self.connections_per_worker().await.expect("admin stats");
        let output = load.await;
        let after = self.connections_per_worker().await.expect("admin stats");
        assert_eq!(
            after.len(),
            workers,
            "{workers} workers' listener stats: {after:?}"
        );
        for (worker, count) in &after {
            assert!(
                count > before.get(worker).unwrap_or(&0),
                "{worker} took none of {what}: {before:?} → {after:?}"
            );
        }
        output
    }

    /// Checks that Envoy logged nothing at critical and no panic (the SDK's panic hook logs at
    /// critical).
    pub fn assert_nothing_critical_logged(&self) {
        for line in self.log().lines() {
            assert!(
                !line.contains("[critical]") && !line.contains("panicked"),
                "Envoy logged: {line}"
            );
        }
    }

    /// Counters and gauges whose name starts with `prefix`.
    pub async fn stats_with_prefix(&self, prefix: &str) -> anyhow::Result<BTreeMap<String, u64>> {
        let mut stats = self.stats().await?;
        stats.retain(|name, _| name.starts_with(prefix));
        Ok(stats)
    }

    /// Admin `/stats/prometheus`, as text.
    pub async fn prometheus(&self) -> anyhow::Result<String> {
        admin::get(self.admin_port, "/stats/prometheus").await
    }

    /// Asks Envoy to shut down (admin `/quitquitquit`) and waits for it to exit.
    pub async fn stop(mut self) -> anyhow::Result<ExitStatus> {
        let url = format!("http://127.0.0.1:{}/quitquitquit", self.admin_port);
        admin::client()
            .post(&url)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.process.exited()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!(
                    "Envoy still running 10 s after /quitquitquit:\n{}",
                    tail(&self.log(), 60)
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        self.process.kill();
        if std::thread::panicking() {
            eprintln!(
                "---- last lines of Envoy's log ({}) ----\n{}\n---- end of Envoy's log ----",
                self.process.log_path.display(),
                tail(&self.process.log(), 200)
            );
        }
    }
}

/// The Envoy child process and its files. Killed (and reaped) on drop, panicking test or not.
struct Process {
    child: Child,
    exit: Option<ExitStatus>,
    log_path: PathBuf,
    config_path: PathBuf,
    admin_address_path: PathBuf,
    // Last field: the directory goes after the process is dead (fields drop in order).
    _dir: tempfile::TempDir,
}

impl Process {
    fn spawn(opts: &EnvoyOptions) -> anyhow::Result<Process> {
        let config = match &opts.config {
            Some(config) => config.clone(),
            None => variants::apply(render_test_config(opts)?, opts)?,
        };
        let dir = tempfile::Builder::new()
            .prefix("vertex-passthrough-envoy-")
            .tempdir()?;
        let config_path = dir.path().join("envoy.yaml");
        let log_path = dir.path().join("envoy.log");
        let admin_address_path = dir.path().join("admin-address");
        std::fs::write(&config_path, config)?;

        let mut cmd = Command::new(envoy_binary());
        cmd.arg("-c")
            .arg(&config_path)
            .arg("--concurrency")
            .arg(opts.concurrency.to_string())
            // Several Envoys run at once. Without hot restart an Envoy takes no base id, shared
            // memory or domain socket, so instances never collide (and nothing is left in
            // /dev/shm, which --use-dynamic-base-id does leave behind on every exit).
            .arg("--disable-hot-restart")
            // Admin and listener are on port 0; Envoy writes the admin address here.
            .arg("--admin-address-path")
            .arg(&admin_address_path);
        if !opts.component_log_level.is_empty() {
            cmd.arg("--component-log-level")
                .arg(&opts.component_log_level);
        }
        // The application log goes to stderr, which is written line by line; `--log-path` is
        // flushed only every 10 s by default and loses its buffer when Envoy is killed.
        // stdout (access logs) and stderr share one file, in order.
        for var in GOOGLE_ENV {
            cmd.env_remove(var);
        }
        cmd.envs(opts.process_env.iter().map(|(k, v)| (k, v)));
        let log = File::create(&log_path)?;
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", envoy_binary().display()))?;
        Ok(Process {
            child,
            exit: None,
            log_path,
            config_path,
            admin_address_path,
            _dir: dir,
        })
    }

    fn exited(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().context("waiting for Envoy")?;
        }
        Ok(self.exit)
    }

    /// `(admin_port, listener_port)` once admin says LIVE and the listener accepts.
    async fn ready(&self) -> Option<(u16, u16)> {
        let address = std::fs::read_to_string(&self.admin_address_path).ok()?;
        let admin_port = address.trim().parse::<SocketAddr>().ok()?.port();
        let state = admin::get(admin_port, "/ready").await.ok()?;
        if state.trim() != "LIVE" {
            return None;
        }
        let port = admin::listener_port(admin_port, LISTENER).await.ok()?;
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        Some((admin_port, port))
    }

    fn kill(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            self.exit = self.child.wait().ok();
        }
    }

    fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
