//! `make run`'s two modes and docker-compose, short of starting them (tests/tests/quick_start.rs
//! starts the emulator mode end to end): the configs they would start, that docker-compose starts
//! the same stack as `make run`, and the messages for a wrong environment, a busy port and a
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

use vertex_passthrough_core::config::{proto_struct, Config};
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

#[test]
fn docker_compose_starts_the_same_stack_as_make_run() {
    // What `make run` starts with no Google credentials and default settings.
    let out = run_script(&["--check"], &[]);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "run.sh --check failed:\n{stdout}\n{stderr}"
    );
    assert_eq!(report_field(&stdout, "make run --check"), "emulator mode");
    let config = report_field(&stdout, "config");
    assert_eq!(config, "envoy/envoy.local.yaml");
    assert!(report_field(&stdout, "source").ends_with("(as shipped)"));
    assert_eq!(
        report_field(&stdout, "key"),
        format!("VERTEX_SA_KEY <- {FIXTURE_KEY}")
    );
    let make_run_envoy = report_field(&stdout, "envoy");

    let compose = yaml_file("docker-compose.yaml");
    let services = &compose["services"];
    let envoy = &services["envoy"];
    let emulator = &services["google-emulator"];
    assert_eq!(
        envoy["image"],
        format!("envoyproxy/envoy:v{}", pinned_envoy_version()),
        "the official Envoy image at the version make setup pins"
    );
    // The same loopback addresses mean the same thing only on the host's network.
    assert_eq!(envoy["network_mode"], "host");
    assert_eq!(emulator["network_mode"], "host");

    // The same Envoy config file (and so the same plugin config), the same filter build, the same
    // key in the same env var, mounted where the config's relative paths expect them.
    let workdir = envoy["working_dir"].as_str().unwrap();
    let envoy_mounts = mounts(envoy);
    let mounted = |source: &str| {
        envoy_mounts
            .iter()
            .find(|(s, _)| s == &format!("./{source}"))
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| panic!("docker-compose's envoy does not mount ./{source}"))
    };
    assert_eq!(mounted(&config), format!("{workdir}/{config}"));
    let wasm = "target/wasm32-wasip1/release/vertex_passthrough.wasm";
    assert_eq!(mounted(wasm), format!("{workdir}/{wasm}"));
    assert_eq!(mounted(FIXTURE_KEY), format!("{workdir}/{FIXTURE_KEY}"));
    assert_eq!(mounted(".run"), format!("{workdir}/.run"));
    let command = command_line(envoy);
    assert!(
        // `$$` is compose's escape for a `$` that the shell, not compose, expands.
        command.contains(&format!("VERTEX_SA_KEY=\"$$(cat {FIXTURE_KEY})\"")),
        "{command}"
    );
    // Envoy's arguments: those of `make run`, whose binary is .tools/bin/envoy.
    let make_run_args = make_run_envoy
        .split_once(" -c ")
        .map(|(_, args)| format!("-c {args}"))
        .unwrap();
    assert!(
        command.contains(&format!("exec envoy {make_run_args}")),
        "compose: {command}\nmake run: {make_run_envoy}"
    );

    // The emulator: default ports (the ones the config names), its CA and the local TLS
    // certificate where the config reads them, and a ready file the healthcheck waits for.
    let emulator_command = command_line(emulator);
    assert!(!emulator_command.contains("-port"), "{emulator_command}");
    let local = std::fs::read_to_string(repo_root().join(&config)).unwrap();
    for port in [8081, 8082, 8443] {
        assert!(local.contains(&format!("port_value: {port} ")), "{port}");
    }
    assert!(emulator_command.contains("--ca-out .run/emulator-ca.pem"));
    assert!(local.contains("trusted_ca: { filename: .run/emulator-ca.pem }"));
    assert!(emulator_command.contains("--local-tls-dir .run/tls"));
    assert!(local.contains("certificate_chain: { filename: .run/tls/localhost.pem }"));
    assert_eq!(emulator["working_dir"].as_str().unwrap(), workdir);
    assert!(mounts(emulator).contains(&("./.run".to_string(), format!("{workdir}/.run"))));
    assert!(emulator_command.contains("--ready-file .run/emulator.ready"));
    assert!(emulator["healthcheck"]["test"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w == "/vp/.run/emulator.ready"));
    assert_eq!(
        envoy["depends_on"]["google-emulator"]["condition"],
        "service_healthy"
    );

    // And that plugin config is one the filter accepts with that key, serialized as Envoy
    // hands a Struct over.
    let plugin = proto_struct::encode(plugin_config_of(&config).as_object().unwrap());
    let key = std::fs::read_to_string(repo_root().join(FIXTURE_KEY)).unwrap();
    let env = move |name: &str| (name == "VERTEX_SA_KEY").then(|| key.clone());
    if let Err(e) = Config::load(&plugin, &env) {
        panic!("{config}'s plugin config: {e}");
    }
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
    // vp-config next to this package's binaries (VP_BIN_DIR), as `make run` builds it.
    let built = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "vp-config"])
        .current_dir(repo_root())
        .status()
        .unwrap();
    assert!(built.success());
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
        plugin["api_keys"][0],
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
