//! `make run`'s two modes and docker-compose, short of starting them (tests/tests/quick_start.rs
//! starts the emulator mode end to end): the configs they would start, that docker-compose runs
//! the same steps (scripts/local-stack.sh) with the same files and, given VP_CONFIG, prepares the
//! same stack as `make run` (its services run here as Docker would run them), and the messages for a wrong environment, a busy port and a
//! missing tool.
//!
//! The vertex mode cannot be tried against Google here. What can be checked is checked: the
//! config it would start is envoy/envoy.yaml with only the documented edits, and Envoy accepts it
//! (`envoy --mode validate` loads the filter, which validates the plugin config with the key in
//! its VM env).
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use vertex_passthrough_tests::harness::{
    self, bin_dir, json_diff, load_yaml, repo_root, PRODUCTION,
};

const FIXTURE_KEY: &str = "tests/fixtures/service_account_a.json";

/// `scripts/run.sh ARGS` from the repository root, with the Google variables of the caller's
/// environment removed and `env` added.
fn run_script(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("scripts/run.sh");
    cmd.args(args)
        .current_dir(repo_root())
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env_remove("VERTEXAI_PROJECT")
        .env_remove("VERTEXAI_LOCATION")
        .env_remove("VP_RUN_DIR")
        .env("VP_BIN_DIR", bin_dir())
        // The filter is built before the integration tests run; a rebuild here would only
        // compete with the other tests for the CPU (tests/tests/quick_start.rs builds, as
        // `make run` does).
        .env("VP_SKIP_BUILD", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("scripts/run.sh runs")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The value after `label:` in `--check`'s report.
fn report_field(stdout: &str, label: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{label}:")))
        .unwrap_or_else(|| panic!("no {label}: in\n{stdout}"))
        .trim()
        .to_string()
}

fn yaml_file(path: &str) -> Value {
    let text = std::fs::read_to_string(repo_root().join(path)).unwrap();
    let value: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    serde_json::to_value(value).unwrap()
}

/// The Envoy version `make setup` installs (scripts/setup.sh ENVOY_VERSION=...).
fn pinned_envoy_version() -> String {
    let setup = std::fs::read_to_string(repo_root().join("scripts/setup.sh")).unwrap();
    setup
        .lines()
        .find_map(|l| l.strip_prefix("ENVOY_VERSION="))
        .expect("ENVOY_VERSION in scripts/setup.sh")
        .trim()
        .to_string()
}

/// The plugin config inside an Envoy bootstrap: the Wasm filter's Struct, a YAML mapping.
fn plugin_config_of(envoy_yaml: &str) -> Value {
    fn find(v: &Value) -> Option<&Value> {
        if v["@type"] == "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm" {
            return Some(&v["config"]["configuration"]);
        }
        match v {
            Value::Object(map) => map.values().find_map(find),
            Value::Array(items) => items.iter().find_map(find),
            _ => None,
        }
    }
    let value = yaml_file(envoy_yaml);
    let configuration =
        find(&value).unwrap_or_else(|| panic!("no Wasm plugin config in {envoy_yaml}"));
    assert_eq!(
        configuration["@type"], "type.googleapis.com/google.protobuf.Struct",
        "{envoy_yaml}"
    );
    assert!(configuration["value"].is_object(), "{envoy_yaml}");
    configuration["value"].clone()
}

/// `source:target[:ro]` bind mounts of a compose service, short or long syntax.
fn mounts(service: &Value) -> Vec<(String, String)> {
    service["volumes"]
        .as_array()
        .map(|volumes| {
            volumes
                .iter()
                .map(|v| match v {
                    Value::String(s) => {
                        let mut parts = s.split(':');
                        (
                            parts.next().unwrap().to_string(),
                            parts.next().unwrap_or_default().to_string(),
                        )
                    }
                    _ => (
                        v["source"].as_str().unwrap().to_string(),
                        v["target"].as_str().unwrap().to_string(),
                    ),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A compose service's command, entrypoint included, as one string.
fn command_line(service: &Value) -> String {
    let words = |v: &Value| match v {
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().unwrap().to_string())
            .collect::<Vec<_>>()
            .join(" "),
        Value::String(s) => s.clone(),
        _ => String::new(),
    };
    format!(
        "{} {}",
        words(&service["entrypoint"]),
        words(&service["command"])
    )
}

/// The service's environment as compose sets it, `${NAME:+X}`, `${NAME:-X}` and `${NAME}`
/// interpolated from `host` (compose's own environment).
fn compose_environment(service: &Value, host: &[(&str, &str)]) -> Vec<(String, String)> {
    service["environment"]
        .as_object()
        .map(|env| {
            env.iter()
                .map(|(name, value)| (name.clone(), interpolate(value.as_str().unwrap(), host)))
                .collect()
        })
        .unwrap_or_default()
}

fn interpolate(text: &str, host: &[(&str, &str)]) -> String {
    let Some(start) = text.find("${") else {
        return text.to_string();
    };
    let end = start + text[start..].find('}').unwrap();
    let expr = &text[start + 2..end];
    let value = |name: &str| {
        host.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
            .filter(|v| !v.is_empty())
    };
    let replaced = if let Some((name, alt)) = expr.split_once(":+") {
        value(name).map(|_| alt.to_string()).unwrap_or_default()
    } else if let Some((name, default)) = expr.split_once(":-") {
        value(name).unwrap_or_else(|| default.to_string())
    } else {
        value(expr).unwrap_or_default()
    };
    format!(
        "{}{replaced}{}",
        &text[..start],
        interpolate(&text[end + 1..], host)
    )
}

/// A compose service run on this machine as Docker would run it: a directory standing for the
/// container's working directory /vp, holding each bind mount (a symlink to its source; `./.run`
/// is `run`, standing for the host's .run); the image's paths in its environment become this
/// machine's: /vp/ that directory, /usr/local/bin (the tools image) `bins`, `envoy` (the Envoy
/// image's) .tools/bin/envoy.
struct Container {
    root: tempfile::TempDir,
    env: Vec<(String, String)>,
    command: Vec<String>,
}

impl Container {
    fn new(service: &Value, host: &[(&str, &str)], run: &Path, bins: &Path) -> Container {
        assert_eq!(service["working_dir"], "/vp");
        let root = tempfile::tempdir().unwrap();
        for volume in service["volumes"].as_array().unwrap() {
            let volume = interpolate(volume.as_str().unwrap(), host);
            let mut parts = volume.split(':');
            let (source, target) = (parts.next().unwrap(), parts.next().unwrap());
            let source = match source {
                "./.run" => run.to_path_buf(),
                s if s.starts_with("./") => repo_root().join(&s[2..]),
                s => std::path::PathBuf::from(s),
            };
            let at = root.path().join(target.strip_prefix("/vp/").unwrap());
            std::fs::create_dir_all(at.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(&source, &at).unwrap();
        }
        let to_host = |value: &str| {
            if let Some(rest) = value.strip_prefix("/vp/") {
                root.path().join(rest).display().to_string()
            } else if value == "/usr/local/bin" {
                bins.display().to_string()
            } else if value == "envoy" {
                repo_root().join(".tools/bin/envoy").display().to_string()
            } else {
                value.to_string()
            }
        };
        let env = compose_environment(service, host)
            .into_iter()
            .map(|(name, value)| {
                let value = to_host(&value);
                (name, value)
            })
            .collect();
        let words = |v: &Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_str().unwrap().to_string())
                .collect()
        };
        let mut command = words(&service["entrypoint"]);
        command.extend(words(&service["command"]));
        Container { root, env, command }
    }

    /// Its command, with `extra` arguments after it.
    fn run(&self, extra: &[&str]) -> Output {
        let mut cmd = Command::new(self.root.path().join(&self.command[0]));
        cmd.args(&self.command[1..])
            .args(extra)
            .current_dir(self.root.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap());
        for (name, value) in &self.env {
            cmd.env(name, value);
        }
        cmd.output().unwrap()
    }
}

fn build_vp_config() {
    // vp-config next to this package's binaries (VP_BIN_DIR), as `make run` builds it.
    let built = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "vp-config"])
        .current_dir(repo_root())
        .status()
        .unwrap();
    assert!(built.success());
}

/// docker-compose.yaml's services run scripts/local-stack.sh's steps as `make run` does, with the
/// same files where the steps read them.
#[test]
fn docker_compose_runs_the_steps_make_run_runs() {
    let out = run_script(&["--check"], &[]);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "run.sh --check failed:\n{stdout}\n{stderr}"
    );
    assert_eq!(report_field(&stdout, "make run --check"), "emulator mode");
    assert_eq!(report_field(&stdout, "config"), "envoy/envoy.local.yaml");
    assert!(report_field(&stdout, "source").ends_with("(as shipped)"));
    assert_eq!(
        report_field(&stdout, "stack"),
        ".run/stack (scripts/local-stack.sh config emulator)"
    );
    let started: Vec<String> = report_field(&stdout, "start")
        .split("; ")
        .map(str::to_string)
        .collect();

    let compose = yaml_file("docker-compose.yaml");
    let services = &compose["services"];
    let (config, emulator, envoy) = (
        &services["config"],
        &services["google-emulator"],
        &services["envoy"],
    );
    assert_eq!(
        envoy["image"],
        format!("envoyproxy/envoy:v{}", pinned_envoy_version()),
        "the official Envoy image at the version make setup pins"
    );
    assert_eq!(
        command_line(config).trim(),
        "scripts/local-stack.sh config emulator envoy/envoy.local.yaml"
    );
    assert_eq!(
        vec![
            command_line(emulator).trim().to_string(),
            command_line(envoy).trim().to_string()
        ],
        started,
        "compose starts what make run starts"
    );
    let run_sh = std::fs::read_to_string(repo_root().join("scripts/run.sh")).unwrap();
    assert!(run_sh.contains(r#"stack config "$mode" "$config""#));
    for service in [config, emulator, envoy] {
        // The same loopback addresses mean the same thing only on the host's network.
        assert_eq!(service["network_mode"], "host");
        assert_eq!(service["working_dir"], "/vp");
        // The steps' settings: the defaults run.sh uses (ports, .run), only the image's paths set.
        for (name, _) in compose_environment(service, &[]) {
            assert!(
                ["VP_BIN_DIR", "VP_CONFIG", "VP_ENVOY", "LITELLM_MASTER_KEY"]
                    .contains(&name.as_str()),
                "{name}"
            );
        }
        assert!(mounts(service).contains(&("./scripts".to_string(), "/vp/scripts".to_string())));
        assert!(mounts(service).contains(&("./.run".to_string(), "/vp/.run".to_string())));
    }
    for (source, target) in [
        ("./envoy", "/vp/envoy"),
        ("./tests/fixtures", "/vp/tests/fixtures"),
        (
            "./target/wasm32-wasip1/release/vertex_passthrough.wasm",
            "/vp/target/wasm32-wasip1/release/vertex_passthrough.wasm",
        ),
    ] {
        assert!(
            mounts(envoy).contains(&(source.to_string(), target.to_string())),
            "{source}"
        );
    }
    assert!(emulator["healthcheck"]["test"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w == "/vp/.run/emulator.ready"));
    assert_eq!(
        envoy["depends_on"]["google-emulator"]["condition"],
        "service_healthy"
    );
    for service in [emulator, envoy] {
        assert_eq!(
            service["depends_on"]["config"]["condition"],
            "service_completed_successfully"
        );
    }
    // The tools image holds what VP_BIN_DIR names.
    let dockerfile =
        std::fs::read_to_string(repo_root().join(config["build"]["dockerfile"].as_str().unwrap()))
            .unwrap();
    for tool in ["google-emulator", "render-envoy-config", "vp-config"] {
        assert!(
            dockerfile.contains(&format!("/src/target/release/{tool}")),
            "{tool}"
        );
    }
    assert!(dockerfile.contains("/usr/local/bin/"));
}

/// `VP_CONFIG=./config.yaml docker compose up`, each service run here as Docker would run it:
/// the LiteLLM config is converted into the same stack as `VP_CONFIG=… make run` prepares, the
/// emulator is started to answer for every project, and Envoy (validating) loads the filter with
/// that config and every credential it names served by a fixture key.
#[test]
fn docker_compose_with_a_litellm_config_prepares_what_make_run_prepares() {
    build_vp_config();
    let litellm = "./examples/litellm/config.yaml";
    let host = [("VP_CONFIG", litellm)];
    let compose = yaml_file("docker-compose.yaml");
    let services = &compose["services"];
    let run = tempfile::tempdir().unwrap();
    let bins = bin_dir();

    let config = Container::new(&services["config"], &host, run.path(), &bins);
    let out = config.run(&[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "config:\n{stdout}\n{stderr}");
    assert!(
        stderr.contains("general_settings.database_url: dropped: "),
        "{stderr}"
    );
    let stack = std::fs::read_to_string(run.path().join("stack")).unwrap();

    // What `VP_CONFIG=… make run` prepares (its --check stops after preparing and validating).
    let make_run = tempfile::tempdir().unwrap();
    let out = run_script(
        &["--check"],
        &[
            ("VP_CONFIG", litellm),
            ("VP_RUN_DIR", make_run.path().to_str().unwrap()),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "run.sh --check:\n{stdout}\n{stderr}");
    let make_run_stack = std::fs::read_to_string(make_run.path().join("stack")).unwrap();
    let relative = |text: &str, dir: &Path| text.replace(&dir.display().to_string(), ".run");
    assert_eq!(stack, relative(&make_run_stack, make_run.path()));
    assert_eq!(
        stack.lines().collect::<Vec<_>>(),
        [
            "config .run/envoy.user.yaml",
            "env VERTEX_SA_KEY file tests/fixtures/service_account_a.json",
            "env VERTEX_CREDENTIALS file tests/fixtures/service_account_a.json",
        ]
    );
    let plugin = |dir: &Path| {
        let rendered = load_yaml(&dir.join("envoy.user.yaml")).unwrap();
        harness::plugin_config_of(&rendered).unwrap()
    };
    let converted = plugin(run.path());
    assert_eq!(converted, plugin(make_run.path()));
    assert_eq!(converted["api_keys"][0]["name"], "master");
    assert_eq!(
        converted["api_keys"][0]["key"],
        vp_config::hash_key("sk-litellm-master-1234").unwrap()
    );

    // The emulator step, with a stand-in emulator that records its arguments.
    let fake_bins = tempfile::tempdir().unwrap();
    let args_file = fake_bins.path().join("args");
    let fake = fake_bins.path().join("google-emulator");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\necho \"$@\" >{}\n", args_file.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (host, any_project) in [(&host[..], true), (&[][..], false)] {
        let emulator = Container::new(
            &services["google-emulator"],
            host,
            run.path(),
            fake_bins.path(),
        );
        let out = emulator.run(&[]);
        assert!(out.status.success(), "{:?}", text(&out));
        let args = std::fs::read_to_string(&args_file).unwrap();
        assert_eq!(args.contains("--any-project"), any_project, "{args}");
        assert!(
            args.contains("--oauth-port 8081 --metadata-port 8082 --vertex-port 8443 --ca-out .run/emulator-ca.pem --local-tls-dir .run/tls --ready-file .run/emulator.ready"),
            "{args}"
        );
    }

    // The envoy step, validating: the emulator's certificates where the config reads them.
    let tls = Command::new(bins.join("google-emulator"))
        .args(["--tls-only", "--local-tls-dir"])
        .arg(run.path().join("tls"))
        .output()
        .unwrap();
    assert!(tls.status.success());
    std::fs::copy(
        run.path().join("tls/ca.pem"),
        run.path().join("emulator-ca.pem"),
    )
    .unwrap();
    let envoy = Container::new(&services["envoy"], &host, run.path(), &bins);
    let out = envoy.run(&["--mode", "validate"]);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "envoy --mode validate:\n{stdout}\n{}",
        stderr.lines().rev().take(20).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn docker_compose_for_vertex_uses_envoy_yaml_as_shipped() {
    let compose = yaml_file("docker-compose.vertex.yaml");
    let envoy = &compose["services"]["envoy-vertex"];
    assert_eq!(
        envoy["image"],
        format!("envoyproxy/envoy:v{}", pinned_envoy_version())
    );
    let mounts = mounts(envoy);
    let production = std::fs::read_to_string(repo_root().join("envoy/envoy.yaml")).unwrap();
    assert!(mounts.contains(&(
        "./envoy/envoy.yaml".to_string(),
        "/etc/envoy/envoy.yaml".to_string()
    )));
    // Where envoy/envoy.yaml loads the filter from.
    assert!(production.contains("filename: /etc/envoy/vertex_passthrough.wasm"));
    assert!(mounts.contains(&(
        "./target/wasm32-wasip1/release/vertex_passthrough.wasm".to_string(),
        "/etc/envoy/vertex_passthrough.wasm".to_string()
    )));
    let key_mount = mounts
        .iter()
        .find(|(_, target)| target == "/etc/envoy/key.json")
        .expect("the key file is mounted");
    assert!(key_mount.0.contains("GOOGLE_APPLICATION_CREDENTIALS"));
    let command = command_line(envoy);
    assert!(
        command.contains("VERTEX_SA_KEY=\"$$(cat /etc/envoy/key.json)\""),
        "{command}"
    );
    assert!(command.contains("-c /etc/envoy/envoy.yaml"), "{command}");
    assert!(envoy["environment"]["VERTEXAI_PROJECT"]
        .as_str()
        .unwrap()
        .contains("VERTEXAI_PROJECT"));
    // The env vars the plugin config may read are the ones envoy.yaml lets into the VM.
    for var in ["VERTEX_SA_KEY", "VERTEXAI_PROJECT", "VERTEXAI_LOCATION"] {
        assert!(production.contains(var), "{var}");
    }
}

#[test]
fn vertex_mode_starts_envoy_yaml_with_the_key_in_the_vm_env() {
    let run = tempfile::tempdir().unwrap();
    let run_dir = run.path().to_str().unwrap();
    let out = run_script(
        &["--check"],
        &[
            ("GOOGLE_APPLICATION_CREDENTIALS", FIXTURE_KEY),
            ("VERTEXAI_PROJECT", "proj-alpha"),
            ("VP_RUN_DIR", run_dir),
            ("VP_PORT", "4100"),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "run.sh --check failed:\n{stdout}\n{stderr}"
    );
    assert_eq!(report_field(&stdout, "make run --check"), "vertex mode");
    assert_eq!(report_field(&stdout, "source"), "envoy/envoy.yaml");
    assert_eq!(
        report_field(&stdout, "key"),
        format!("VERTEX_SA_KEY <- {FIXTURE_KEY}")
    );
    let config = report_field(&stdout, "config");
    assert_eq!(config, format!("{run_dir}/envoy.yaml"));

    // envoy/envoy.yaml with only the documented edits: the built filter, the listener on
    // loopback at the chosen port, and this system's CA bundle where it names one.
    let source = load_yaml(&repo_root().join(PRODUCTION)).unwrap();
    let rendered = load_yaml(Path::new(&config)).unwrap();
    let wasm = repo_root().join("target/wasm32-wasip1/release/vertex_passthrough.wasm");
    let listener = "static_resources.listeners[0].address.socket_address";
    let filename = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.config.vm_config.code.local.filename";
    let changed: BTreeSet<String> = json_diff(&source, &rendered)
        .into_iter()
        .filter(|place| {
            !place.ends_with("trusted_ca.filename")
                || at(&source, place) != "/etc/ssl/certs/ca-certificates.crt"
        })
        .collect();
    let expected: BTreeSet<String> = [
        format!("{listener}.address"),
        format!("{listener}.port_value"),
        filename.to_string(),
    ]
    .into();
    assert_eq!(changed, expected);
    assert_eq!(at(&rendered, &format!("{listener}.address")), "127.0.0.1");
    assert_eq!(at(&rendered, &format!("{listener}.port_value")), 4100);
    assert_eq!(
        at(&rendered, filename),
        &Value::from(wasm.display().to_string())
    );

    // gcloud's application-default credentials: the same config with the credential type that
    // reads them; Envoy and the filter accept it.
    let out = run_script(
        &["--check"],
        &[
            (
                "GOOGLE_APPLICATION_CREDENTIALS",
                "tests/fixtures/authorized_user.json",
            ),
            ("VERTEXAI_PROJECT", "proj-alpha"),
            ("VP_RUN_DIR", run_dir),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "authorized_user:\n{stdout}\n{stderr}");
    let rendered = load_yaml(Path::new(&config)).unwrap();
    let shipped = harness::plugin_config_of(&source).unwrap();
    let mut plugin = harness::plugin_config_of(&rendered).unwrap();
    assert_eq!(plugin["credentials"]["default"]["type"], "authorized_user");
    plugin["credentials"]["default"]["type"] = "service_account".into();
    assert_eq!(plugin, shipped, "only the credential's type differs");
}

/// The value at a place `json_diff` names (`a.b[0].c`).
fn at<'a>(config: &'a Value, place: &str) -> &'a Value {
    let mut value = config;
    for part in place.split('.') {
        let (key, indexes) = part.split_once('[').unwrap_or((part, ""));
        value = &value[key];
        for index in indexes.split('[').filter(|i| !i.is_empty()) {
            value = &value[index.trim_end_matches(']').parse::<usize>().unwrap()];
        }
    }
    value
}

#[test]
fn a_wrong_google_environment_is_a_clear_message() {
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[("GOOGLE_APPLICATION_CREDENTIALS", FIXTURE_KEY)],
            "GOOGLE_APPLICATION_CREDENTIALS is set but VERTEXAI_PROJECT is not",
        ),
        (
            &[("VERTEXAI_PROJECT", "proj-alpha")],
            "VERTEXAI_PROJECT is set but GOOGLE_APPLICATION_CREDENTIALS is not",
        ),
        (
            &[
                ("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json"),
                ("VERTEXAI_PROJECT", "proj-alpha"),
            ],
            "GOOGLE_APPLICATION_CREDENTIALS=/nonexistent/key.json: no such readable file",
        ),
        (
            &[
                (
                    "GOOGLE_APPLICATION_CREDENTIALS",
                    "tests/fixtures/sa_a.pub.pem",
                ),
                ("VERTEXAI_PROJECT", "proj-alpha"),
            ],
            "is not a JSON key file",
        ),
    ];
    for (env, message) in cases {
        let out = run_script(&["--check"], env);
        let (stdout, stderr) = text(&out);
        assert!(!out.status.success(), "{env:?} was accepted:\n{stdout}");
        assert!(stderr.contains(message), "{env:?}: {stderr}");
    }
}

#[test]
fn a_busy_port_is_a_clear_message() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    // Every other port free (bound and released), so only the busy one can be reported.
    let free: Vec<String> = (0..5)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect::<Vec<_>>()
        .iter()
        .map(|l| l.local_addr().unwrap().port().to_string())
        .collect();
    let out = run_script(
        &[],
        &[
            ("VP_PORT", &free[0]),
            ("VP_TLS_PORT", &free[1]),
            ("VP_ADMIN_PORT", &free[2]),
            ("VP_OAUTH_PORT", &free[3]),
            ("VP_METADATA_PORT", &free[4]),
            ("VP_VERTEX_PORT", &port),
        ],
    );
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("port {port} is already in use")),
        "{stderr}"
    );
}

#[test]
fn a_missing_tool_is_a_clear_message() {
    // A PATH with only what the script needs before its tool check.
    let bin = tempfile::tempdir().unwrap();
    for tool in ["dirname", "sort", "wc"] {
        let real = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.exists())
            .unwrap();
        std::os::unix::fs::symlink(real, bin.path().join(tool)).unwrap();
    }
    let out = Command::new("/bin/bash")
        .arg("scripts/run.sh")
        .current_dir(repo_root())
        .env("PATH", bin.path())
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("make run: 'cargo' not found: install Rust with rustup"),
        "{stderr}"
    );
}

#[test]
fn run_sh_help_names_every_setting() {
    let out = run_script(&["--help"], &[]);
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    let script = std::fs::read_to_string(repo_root().join("scripts/run.sh")).unwrap();
    let settings: BTreeSet<&str> = script
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("VP_") && w.len() > 3)
        .collect();
    for setting in settings {
        assert!(
            stdout.contains(setting),
            "--help does not mention {setting}"
        );
    }
}

/// Vertex mode with `VP_CONFIG` naming a LiteLLM config whose credential is a key file: the
/// rendered envoy.yaml carries the converted plugin config, the VM env var holds the file's
/// contents, and Envoy's validation (which runs the filter's config check) accepts it.
#[test]
fn vertex_mode_with_a_litellm_config_reads_its_key_file_into_the_vm_env() {
    build_vp_config();
    let run = tempfile::tempdir().unwrap();
    let run_dir = run.path().to_str().unwrap();
    let config = run.path().join("litellm.yaml");
    let key_file = repo_root().join("tests/fixtures/service_account_b.json");
    std::fs::write(
        &config,
        format!(
            "model_list:\n  - model_name: pro\n    litellm_params:\n      model: vertex_ai/gemini-2.5-pro\n      vertex_project: proj-beta\n      vertex_credentials: {}\ngeneral_settings:\n  master_key: sk-vertex-mode\n",
            key_file.display()
        ),
    )
    .unwrap();
    let out = run_script(
        &["--check"],
        &[
            ("GOOGLE_APPLICATION_CREDENTIALS", FIXTURE_KEY),
            ("VERTEXAI_PROJECT", "proj-alpha"),
            ("VP_RUN_DIR", run_dir),
            ("VP_CONFIG", config.to_str().unwrap()),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "run.sh --check failed:\n{stdout}\n{stderr}"
    );
    let rendered_path = report_field(&stdout, "config");
    assert_eq!(rendered_path, format!("{run_dir}/envoy.user.yaml"));
    let rendered = std::fs::read_to_string(&rendered_path).unwrap();
    let plugin = plugin_config_of(&rendered_path);
    assert_eq!(
        plugin["credentials"]["service_account_b"]["key_env"],
        "VP_KEY_SERVICE_ACCOUNT_B"
    );
    assert_eq!(
        plugin["api_keys"][0]["key"],
        vp_config::hash_key("sk-vertex-mode").unwrap()
    );
    // host_env_keys keeps its own entries and gains the config's (a YAML list, one a line).
    for key in ["VERTEX_SA_KEY", "VP_KEY_SERVICE_ACCOUNT_B"] {
        assert!(
            rendered.contains(&format!("- {key}\n")),
            "{key}:\n{rendered}"
        );
    }
}
