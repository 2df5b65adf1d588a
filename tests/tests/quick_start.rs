//! The README's quick start, end to end, as a newcomer runs it: `make run` (emulator mode) in the
//! background, then every command it prints (REST, SSE, the Live WebSocket session, REST over the
//! TLS listener, the metrics), then the example clients in examples/ (the google-genai SDK with
//! REST streaming and a Live session over wss://, and a raw WebSocket), then Ctrl-C, after which
//! nothing it started may be left. The README must show those same commands, and docs/clients.md the examples.
//!
//! Differences from a newcomer's run, each for a reason: the ports are free ones picked here and
//! the run directory is a temp dir (VP_* settings; other `make run`s may be up on this machine),
//! and VP_BIN_DIR points at the google-emulator and live-client cargo built for this test run (the
//! same target/debug binaries `make run` builds, unless this run uses another target dir).
//! `make build` still runs.
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use vertex_passthrough_tests::harness::{bin_dir, repo_root, without_proxy_env};

/// `make build` may have to compile the filter first; the rest takes seconds.
const START_TIMEOUT: Duration = Duration::from_secs(240);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

const DEFAULT_PORTS: [(&str, u16); 6] = [
    ("VP_PORT", 4000),
    ("VP_TLS_PORT", 4443),
    ("VP_ADMIN_PORT", 9901),
    ("VP_OAUTH_PORT", 8081),
    ("VP_METADATA_PORT", 8082),
    ("VP_VERTEX_PORT", 8443),
];

/// Distinct free loopback ports (bound together, then released).
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// Runs `program args` from the repository root; kills it after COMMAND_TIMEOUT.
fn run(program: &str, args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(program);
    without_proxy_env(&mut cmd);
    cmd.args(args)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{program}: {e}"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        stdout.read_to_end(&mut buf).ok();
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        stderr.read_to_end(&mut buf).ok();
        buf
    });
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn show(out: &Output) -> String {
    format!(
        "exit {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `make run` in its own process group, as a terminal runs a foreground job; Ctrl-C is SIGINT
/// to that group. Dropping it (a failing test) kills the whole group.
struct MakeRun {
    child: Child,
    pgid: i32,
    stdout: Arc<Mutex<String>>,
    stderr_path: PathBuf,
}

fn signal_group(pgid: i32, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}

/// Processes still in the process group.
fn group_members(pgid: i32) -> Vec<String> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its ')'.
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid) && fields[0] != "Z" {
            members.push(head.to_string() + ")");
        }
    }
    members
}

impl MakeRun {
    fn start(env: &[(&str, String)], stderr_path: PathBuf) -> MakeRun {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new("make");
        cmd.arg("run")
            .current_dir(repo_root())
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            // Emulator mode: no Google credentials in the environment.
            .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
            .env_remove("VERTEXAI_PROJECT")
            .env_remove("VERTEXAI_LOCATION");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("make run starts");
        let pgid = child.id() as i32;
        let stdout = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stdout);
        let pipe = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        MakeRun {
            child,
            pgid,
            stdout,
            stderr_path,
        }
    }

    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Waits until what `make run` printed (Envoy's access log among it) contains `needle`.
    fn wait_for_output(&self, needle: &str) {
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            let printed = format!("{}{}", self.stdout(), self.stderr());
            if printed.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "make run never printed {needle:?}:\n{printed}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for the "Ctrl-C stops everything." that ends the printed instructions.
    fn wait_until_ready(&mut self) -> String {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let out = self.stdout();
            if out.contains("Ctrl-C stops everything.") {
                return out;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "make run exited ({status}) before it was ready\n--- stdout\n{out}\n--- stderr\n{}",
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "make run not ready after {START_TIMEOUT:?}\n--- stdout\n{out}\n--- stderr\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Ctrl-C: SIGINT to the group; returns once make has exited and nothing of the group is left.
    fn interrupt(&mut self) {
        signal_group(self.pgid, "-INT");
        let deadline = Instant::now() + STOP_TIMEOUT;
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "make run still running {STOP_TIMEOUT:?} after Ctrl-C\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        loop {
            let left = group_members(self.pgid);
            if left.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "left running after Ctrl-C: {left:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for MakeRun {
    fn drop(&mut self) {
        if !group_members(self.pgid).is_empty() {
            signal_group(self.pgid, "-TERM");
            std::thread::sleep(Duration::from_millis(500));
            signal_group(self.pgid, "-KILL");
        }
        let _ = self.child.wait();
    }
}

/// The printed "Try it" block: (title, command) for each `# title` and the command under it
/// (continuation lines joined as the shell would read them: kept, with their backslashes).
fn printed_commands(out: &str) -> Vec<(String, String)> {
    let start = out.find("Try it").expect("a 'Try it' block");
    let end = out.find("Ctrl-C stops everything.").unwrap();
    let mut commands = Vec::new();
    let mut title = String::new();
    let mut current = String::new();
    for line in out[start..end].lines().skip(1) {
        if let Some(t) = line.strip_prefix("# ") {
            title = t.to_string();
        } else if !line.trim().is_empty() {
            current.push_str(line);
            current.push('\n');
            if !line.ends_with('\\') {
                commands.push((title.clone(), current.trim_end().to_string()));
                current.clear();
            }
        }
    }
    commands
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", show(out)))
}

fn candidate_text(response: &Value) -> String {
    response["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no candidate text in {response}"))
        .to_string()
}

#[test]
fn readme_quick_start_runs_end_to_end_and_stops_cleanly() {
    let run_dir = tempfile::tempdir().unwrap();
    let run_path = run_dir.path().to_str().unwrap().to_string();
    let ports = free_ports(DEFAULT_PORTS.len());
    let mut env: Vec<(&str, String)> = DEFAULT_PORTS
        .iter()
        .zip(&ports)
        .map(|((name, _), port)| (*name, port.to_string()))
        .collect();
    env.push(("VP_RUN_DIR", run_path.clone()));
    let bins = bin_dir().to_str().unwrap().to_string();
    env.push(("VP_BIN_DIR", bins.clone()));
    let port = |name: &str| {
        env.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| p.clone())
            .unwrap()
    };
    let (listen, tls, admin) = (port("VP_PORT"), port("VP_TLS_PORT"), port("VP_ADMIN_PORT"));

    let mut stack = MakeRun::start(&env, run_dir.path().join("make-run.stderr"));
    let printed = stack.wait_until_ready();
    assert!(
        printed.contains("EMULATOR"),
        "make run says plainly that it is an emulator:\n{printed}"
    );
    for url in [
        format!("http://127.0.0.1:{listen}/vertex_ai"),
        format!("https://localhost:{tls}/vertex_ai"),
        format!("http://127.0.0.1:{admin}/stats/prometheus"),
    ] {
        assert!(printed.contains(&url), "{url} not printed:\n{printed}");
    }

    // Every printed command, run as printed.
    let commands = printed_commands(&printed);
    let titles: Vec<&str> = commands.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        titles,
        [
            "REST",
            "Streaming (SSE)",
            "Live API (WebSocket)",
            "REST over TLS, as the google-genai SDK connects (it needs wss:// for Live)",
            "The filter's metrics",
        ]
    );
    for (title, command) in &commands {
        let out = run("bash", &["-c", command], &[]);
        assert!(out.status.success(), "{title}: {command}\n{}", show(&out));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        match title.as_str() {
            // The alias gemini-flash reached Vertex as the model it stands for.
            "REST" => assert!(
                candidate_text(&stdout_json(&out)).contains("gemini-2.5-flash"),
                "{stdout}"
            ),
            "Streaming (SSE)" => {
                let events: Vec<Value> = stdout
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .map(|d| serde_json::from_str(d).unwrap())
                    .collect();
                assert!(events.len() >= 2, "{stdout}");
                assert_eq!(
                    events.last().unwrap()["candidates"][0]["finishReason"],
                    "STOP"
                );
            }
            // LIVE: relies on the filter's Live support (upgrade routing, and the setup rewrite
            // that turns the alias `gemini-live` into the full model resource; until that is in
            // the built filter the emulator closes the session with 1007 and this fails).
            "Live API (WebSocket)" => {
                assert!(stdout.contains(r#""setupComplete""#), "{}", show(&out));
                assert!(stdout.contains(r#""turnComplete":true"#), "{}", show(&out));
                assert!(
                    stdout.contains("gemini-live-2.5-flash-native-audio"),
                    "the alias reached Vertex as its model:\n{}",
                    show(&out)
                );
            }
            "The filter's metrics" => assert!(
                stdout.contains("vertex_passthrough_requests")
                    || stdout.contains("vertex_passthrough_"),
                "{stdout}"
            ),
            _ => assert!(
                candidate_text(&stdout_json(&out)).contains("gemini-2.5-flash"),
                "{stdout}"
            ),
        }
    }

    // The example clients, as their headers say to run them (with this run's ports and CA).
    let python_env = |extra: Vec<(&'static str, String)>| {
        let mut all = vec![(
            "PYTHONPATH",
            repo_root().join(".tools/python").display().to_string(),
        )];
        all.extend(extra);
        all
    };
    let sdk = run(
        "python3",
        &["examples/genai_sdk.py"],
        &python_env(vec![
            ("SSL_CERT_FILE", format!("{run_path}/tls/ca.pem")),
            ("PROXY_URL", format!("https://localhost:{tls}/vertex_ai")),
        ]),
    );
    assert!(
        sdk.status.success(),
        "examples/genai_sdk.py\n{}",
        show(&sdk)
    );
    let sdk_out = String::from_utf8_lossy(&sdk.stdout);
    // REST streamed through the SDK (v1beta1 paths, SSE) ...
    assert!(
        sdk_out.contains("chunk 3 of gemini-2.5-flash"),
        "{}",
        show(&sdk)
    );
    // ... and its Live session over wss://, the alias in the full resource name it sends (LIVE).
    assert!(
        sdk_out.contains("Emulated gemini-live-2.5-flash-native-audio heard"),
        "{}",
        show(&sdk)
    );
    // LIVE: the bare alias in the setup message, as the raw WebSocket example sends it.
    let raw = run(
        "python3",
        &["examples/live_websocket.py"],
        &python_env(vec![(
            "PROXY_WS_URL",
            format!("ws://127.0.0.1:{listen}/vertex_ai/live?model=gemini-live"),
        )]),
    );
    assert!(
        raw.status.success(),
        "examples/live_websocket.py\n{}",
        show(&raw)
    );
    let raw_out = String::from_utf8_lossy(&raw.stdout);
    assert!(raw_out.contains("setupComplete"), "{}", show(&raw));
    assert!(
        raw_out.contains("Emulated gemini-live-2.5-flash-native-audio heard"),
        "{}",
        show(&raw)
    );

    // The README shows exactly these commands (with the default ports and paths).
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    for (title, command) in &commands {
        let mut as_documented = command
            .replace(&run_path, ".run")
            .replace(&bins, "target/debug");
        for ((_, default), actual) in DEFAULT_PORTS.iter().zip(&ports) {
            as_documented = as_documented.replace(&format!(":{actual}"), &format!(":{default}"));
        }
        assert!(
            readme.contains(&as_documented),
            "README.md does not show the {title} command as make run prints it:\n{as_documented}"
        );
    }
    // The client guide shows the examples whole, exactly as they are run above.
    let clients = std::fs::read_to_string(repo_root().join("docs/clients.md")).unwrap();
    for example in ["examples/genai_sdk.py", "examples/live_websocket.py"] {
        let code = std::fs::read_to_string(repo_root().join(example)).unwrap();
        assert!(
            clients.contains(code.trim_end()),
            "docs/clients.md does not show {example} as it is"
        );
        assert!(
            readme.contains(example),
            "README.md does not name {example}"
        );
    }

    // Ctrl-C: everything stops, and the ports are free again.
    stack.interrupt();
    assert!(
        stack.stderr().contains("make run: stopped"),
        "{}",
        stack.stderr()
    );
    for port in &ports {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", *port)).is_err(),
            "port {port} still open after Ctrl-C"
        );
    }
}

/// `VP_CONFIG=FILE make run` on free ports and a temp run directory, building what it needs as a
/// newcomer's run does; `extra` adds to its environment.
fn make_run_with_config(
    file: &Path,
    extra: &[(&'static str, String)],
) -> (MakeRun, String, tempfile::TempDir) {
    let run_dir = tempfile::tempdir().unwrap();
    let ports = free_ports(DEFAULT_PORTS.len());
    let mut env: Vec<(&str, String)> = DEFAULT_PORTS
        .iter()
        .zip(&ports)
        .map(|((name, _), port)| (*name, port.to_string()))
        .collect();
    env.push(("VP_RUN_DIR", run_dir.path().to_str().unwrap().to_string()));
    env.push(("VP_CONFIG", file.to_str().unwrap().to_string()));
    env.extend(extra.iter().cloned());
    let mut stack = MakeRun::start(&env, run_dir.path().join("make-run.stderr"));
    stack.wait_until_ready();
    (stack, ports[0].to_string(), run_dir)
}

/// generateContent through the stack's plaintext listener with `key`; the JSON answer.
fn generate(listen: &str, project: &str, location: &str, alias: &str, key: &str) -> Value {
    let url = format!("http://127.0.0.1:{listen}/vertex_ai/v1/projects/{project}/locations/{location}/publishers/google/models/{alias}:generateContent");
    let out = run(
        "curl",
        &[
            "-s",
            &url,
            "-H",
            &format!("x-api-key: {key}"),
            "-H",
            "content-type: application/json",
            "-d",
            r#"{"contents":[{"role":"user","parts":[{"text":"Hello"}]}]}"#,
        ],
        &[],
    );
    stdout_json(&out)
}

#[test]
fn litellm_config_runs_and_serves_its_master_key() {
    let config = repo_root().join("examples/litellm/config.yaml");
    let (mut stack, listen, _run_dir) = make_run_with_config(&config, &[]);
    // What it prints names the config's aliases and key, not the shipped ones.
    let printed = stack.stdout();
    assert!(
        printed.contains("model aliases: gemini-2.5-flash, gemini-2.5-pro, text-embedding")
            && !printed.contains("sk-local-demo")
            && !printed.contains("model=gemini-live"),
        "{printed}"
    );
    let stderr = stack.stderr();
    assert!(
        stderr.contains("router_settings.routing_strategy: dropped: "),
        "the dropped settings are listed:\n{stderr}"
    );
    let answer = generate(
        &listen,
        "my-vertex-project",
        "europe-west4",
        "gemini-2.5-pro",
        "sk-litellm-master-1234",
    );
    assert!(!candidate_text(&answer).is_empty(), "{answer}");
    let refused = generate(
        &listen,
        "my-vertex-project",
        "europe-west4",
        "gemini-2.5-pro",
        "sk-not-the-master-key",
    );
    assert_eq!(refused["error"]["code"], 401, "{refused}");
    // The master key became the named key `master`: the access log names it, and its tokens.
    stack.wait_for_output("client=master model=gemini-2.5-pro status=200 tokens=");
    stack.interrupt();
}

#[test]
fn litellm_router_config_with_env_master_key_and_key_file_runs() {
    let dir = tempfile::tempdir().unwrap();
    // A key file path, as LiteLLM configs name them; the emulator mode serves it with a fixture.
    let key_file = dir.path().join("router-sa.json");
    std::fs::write(&key_file, "{\"type\": \"service_account\"}").unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "model_list:
  - model_name: flash
    litellm_params:
      model: vertex_ai/gemini-2.5-flash
      vertex_project: router-project
      vertex_location: us-east5
      vertex_credentials: {key}
      rpm: 100
  - model_name: flash
    litellm_params:
      model: vertex_ai/gemini-2.5-flash
      vertex_project: router-project
      vertex_location: us-central1
      vertex_credentials: {key}
      rpm: 100
router_settings:
  routing_strategy: usage-based-routing-v2
  num_retries: 3
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
",
            key = key_file.display()
        ),
    )
    .unwrap();
    let (mut stack, listen, _run_dir) = make_run_with_config(
        &config,
        &[("LITELLM_MASTER_KEY", "sk-router-master".to_string())],
    );
    let answer = generate(
        &listen,
        "router-project",
        "us-east5",
        "flash",
        "sk-router-master",
    );
    assert!(!candidate_text(&answer).is_empty(), "{answer}");
    stack.interrupt();
}
