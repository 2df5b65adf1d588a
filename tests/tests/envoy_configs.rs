//! The Envoy side: every config the project ships is one Envoy accepts, and the harness that the
//! integration tests stand on starts, routes, reports and stops Envoy as it claims to.
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use vertex_passthrough_tests::harness::{
    json_diff, load_yaml, render_test_config, repo_root, validate_config_with, wasm_path, Envoy,
    EnvoyOptions, Upstreams, PRODUCTION,
};

fn fixture(name: &str) -> String {
    let path = repo_root().join("tests/fixtures").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A self-signed CA certificate, standing in for the emulator's CA where nothing is dialled.
fn write_ca(path: &Path) {
    let ca = rcgen::generate_simple_self_signed(vec!["test-ca".to_string()]).unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, ca.cert.pem()).unwrap();
}

/// Emulator addresses for tests that send nothing upstream (nothing listens there).
fn idle_upstreams(ca: PathBuf) -> Upstreams {
    Upstreams {
        oauth: "127.0.0.1:9".parse().unwrap(),
        metadata: "127.0.0.1:9".parse().unwrap(),
        vertex: "127.0.0.1:9".parse().unwrap(),
        vertex_ca: ca,
    }
}

/// A plugin config the filter accepts without needing any upstream.
const STATIC_TOKEN_CONFIG: &str = r#"{
  "vertex_project": "proj-alpha",
  "credentials": { "default": { "type": "access_token", "token": "ya29.harness-self-test" } },
  "api_keys": ["sk-harness"]
}"#;

/// The VM env the shipped configs' plugin configs read (`key_env: VERTEX_SA_KEY`).
fn shipped_env() -> Vec<(&'static str, String)> {
    vec![
        ("VERTEX_SA_KEY", fixture("service_account_a.json")),
        ("VERTEXAI_PROJECT", "proj-alpha".to_string()),
        ("VERTEXAI_LOCATION", "us-central1".to_string()),
    ]
}

/// Every `envoy/envoy*.yaml` (other files there, such as mesh manifests, are not Envoy bootstraps).
///
/// `envoy --mode validate` loads the Wasm module and runs the plugin's `on_configure`, so each
/// config is validated as it would run: from a scratch directory laid out like the repository
/// (the local config's relative wasm, CA and certificate paths resolve there), with the production path
/// `/etc/envoy/vertex_passthrough.wasm` pointed at the built filter in a copy of the file, and
/// with the env var the plugin configs read its service-account key from.
#[test]
fn every_shipped_envoy_config_validates() {
    const PRODUCTION_WASM: &str = "/etc/envoy/vertex_passthrough.wasm";
    let wasm = wasm_path();
    let work = tempfile::tempdir().unwrap();
    let release = work.path().join("target/wasm32-wasip1/release");
    std::fs::create_dir_all(&release).unwrap();
    std::os::unix::fs::symlink(&wasm, release.join("vertex_passthrough.wasm")).unwrap();
    write_ca(&work.path().join(".run/emulator-ca.pem"));
    // The local config's TLS listener: the certificate `make run` has the emulator write.
    vertex_passthrough_tests::local_tls::ensure(&work.path().join(".run/tls")).unwrap();
    let env = shipped_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let mut configs: Vec<PathBuf> = std::fs::read_dir(repo_root().join("envoy"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("envoy") && name.ends_with(".yaml")
        })
        .collect();
    configs.sort();
    let names: Vec<String> = configs
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"envoy.yaml".to_string()), "{names:?}");
    assert!(names.contains(&"envoy.local.yaml".to_string()), "{names:?}");

    for config in &configs {
        let text = std::fs::read_to_string(config).unwrap();
        if config.ends_with("envoy.yaml") {
            assert!(
                text.contains(PRODUCTION_WASM),
                "envoy.yaml should load the filter from {PRODUCTION_WASM}"
            );
        }
        let copy = work.path().join(config.file_name().unwrap());
        std::fs::write(
            &copy,
            text.replace(PRODUCTION_WASM, &wasm.display().to_string()),
        )
        .unwrap();
        if let Err(e) = validate_config_with(&copy, Some(work.path()), &env) {
            panic!("{} does not validate: {e:#}", config.display());
        }
    }
}

#[test]
fn test_template_renders_to_a_valid_config() {
    let work = tempfile::tempdir().unwrap();
    let ca = work.path().join("ca.pem");
    write_ca(&ca);
    let plugin = serde_json::json!({
        "vertex_project": "proj-alpha",
        "credentials": { "default": { "type": "service_account", "key_env": "VERTEX_SA_KEY" } },
        "api_keys": ["sk-harness"],
    });
    let opts = EnvoyOptions::new(plugin.to_string(), idle_upstreams(ca))
        .vm_env("VERTEX_SA_KEY", fixture("service_account_a.json"));
    let rendered = render_test_config(&opts).unwrap();
    assert!(!rendered.contains("{{"), "placeholder left in:\n{rendered}");
    let path = work.path().join("envoy.yaml");
    std::fs::write(&path, rendered).unwrap();
    validate_config_with(&path, None, &[]).unwrap();
}

/// The client listener's HTTP connection manager (routes, filters and its settings).
fn connection_manager(config: &Value) -> Value {
    let listener = config["static_resources"]["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "vertex_passthrough")
        .expect("the listener vertex_passthrough");
    let filter = &listener["filter_chains"][0]["filters"][0];
    assert_eq!(
        filter["name"],
        "envoy.filters.network.http_connection_manager"
    );
    filter["typed_config"].clone()
}

/// What the test template may do differently in its connection manager, each for a reason given
/// in the template: where the filter's code, VM env and plugin config come from, and no access
/// log. Everything else (routes, filter order and settings, timeouts, limits) must be
/// envoy/envoy.yaml's.
fn without_harness_differences(mut hcm: Value) -> Value {
    hcm.as_object_mut().unwrap().remove("access_log");
    for filter in hcm["http_filters"].as_array_mut().unwrap() {
        if filter["name"] == "envoy.filters.http.wasm" {
            let config = &mut filter["typed_config"]["config"];
            config.as_object_mut().unwrap().remove("configuration");
            let vm = config["vm_config"].as_object_mut().unwrap();
            vm.remove("code");
            vm.remove("environment_variables");
        }
    }
    hcm
}

/// The test template is envoy/envoy.yaml's client side: the integration tests exercise the
/// routes and filter chain that ship, not a look-alike.
#[test]
fn test_template_routes_and_filters_are_envoy_yamls() {
    let work = tempfile::tempdir().unwrap();
    let ca = work.path().join("ca.pem");
    write_ca(&ca);
    let rendered =
        render_test_config(&EnvoyOptions::new(STATIC_TOKEN_CONFIG, idle_upstreams(ca))).unwrap();
    let template: serde_yaml::Value = serde_yaml::from_str(&rendered).unwrap();
    let template = serde_json::to_value(template).unwrap();
    let production = load_yaml(&repo_root().join(PRODUCTION)).unwrap();

    let ours = without_harness_differences(connection_manager(&template));
    let shipped = without_harness_differences(connection_manager(&production));
    let differences = json_diff(&shipped, &ours);
    assert!(
        differences.is_empty(),
        "the test template's connection manager differs from envoy/envoy.yaml's at: {differences:#?}"
    );
    // The listener's own limit too.
    let limit = |config: &Value| {
        config["static_resources"]["listeners"][0]["per_connection_buffer_limit_bytes"].clone()
    };
    assert_eq!(limit(&template), limit(&production));
}

/// Seconds in a duration written like `600s`.
fn seconds(duration: &Value) -> u64 {
    duration
        .as_str()
        .and_then(|d| d.strip_suffix('s'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a duration in seconds: {duration}"))
}

/// SSE streams and Live sessions last as long as they are not idle: in envoy/envoy.yaml nothing
/// bounds a stream's whole length, and the Vertex routes allow streams to be idle longer than
/// the listener's default.
#[test]
fn envoy_yaml_bounds_vertex_streams_by_idleness_only() {
    let production = load_yaml(&repo_root().join(PRODUCTION)).unwrap();
    let hcm = connection_manager(&production);
    for unbounded in ["request_timeout", "max_stream_duration"] {
        assert!(
            hcm.get(unbounded).is_none(),
            "{unbounded}: {}",
            hcm[unbounded]
        );
    }
    assert!(hcm["common_http_protocol_options"]
        .get("max_stream_duration")
        .is_none());
    assert!(hcm["common_http_protocol_options"]
        .get("max_connection_duration")
        .is_none());
    let listener_idle = seconds(&hcm["stream_idle_timeout"]);
    let routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
        .as_array()
        .unwrap();
    let vertex: Vec<&Value> = routes
        .iter()
        .filter(|r| r["route"]["cluster"].is_string())
        .collect();
    assert_eq!(vertex.len(), 2, "the REST and the WebSocket route");
    for route in vertex {
        let action = &route["route"];
        assert_eq!(action["timeout"], "0s", "{route}");
        assert!(action.get("max_stream_duration").is_none(), "{route}");
        assert!(seconds(&action["idle_timeout"]) > listener_idle, "{route}");
    }
}

/// The harness itself: Envoy comes up on its own ports with the built filter, serves the
/// routes of the shipped shape, reports stats, logs to the captured file and shuts down cleanly.
#[tokio::test]
async fn envoy_starts_serves_and_stops_cleanly() {
    let work = tempfile::tempdir().unwrap();
    let ca = work.path().join("ca.pem");
    write_ca(&ca);
    let envoy = Envoy::start(EnvoyOptions::new(STATIC_TOKEN_CONFIG, idle_upstreams(ca)))
        .await
        .unwrap();
    assert_ne!(envoy.port, envoy.admin_port);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();

    // Outside the filter's prefix: Envoy's own 404, in Google's error shape.
    let resp = http
        .get(envoy.url("/v1/projects/p/locations/l"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], 404);
    assert_eq!(body["error"]["status"], "NOT_FOUND");

    // The Vertex route is chosen by the marker header, which the filter strips from clients:
    // a client that sets it itself still gets the 404, nothing goes upstream.
    let resp = http
        .get(envoy.url("/v1/projects/proj-alpha/locations/us-central1/publishers/google/models/m:generateContent"))
        .header("x-vertex-passthrough", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    let stats = envoy.stats().await.unwrap();
    assert_eq!(
        stats.get("server.live"),
        Some(&1),
        "admin /stats: {stats:?}"
    );
    assert!(
        envoy
            .stats_with_prefix("http.vertex_passthrough.")
            .await
            .unwrap()["http.vertex_passthrough.downstream_rq_4xx"]
            >= 2
    );
    assert!(envoy
        .prometheus()
        .await
        .unwrap()
        .contains("envoy_server_live"));

    envoy
        .wait_for_log("starting main dispatch loop", Duration::from_secs(5))
        .await
        .unwrap();
    let log_path = envoy.log_path().to_path_buf();
    let status = envoy.stop().await.unwrap();
    assert!(status.success(), "Envoy exited with {status}");
    assert!(!log_path.exists(), "the harness's temp dir outlives Envoy");
}

#[tokio::test]
async fn a_refused_plugin_config_is_reported_with_envoys_log() {
    let work = tempfile::tempdir().unwrap();
    let ca = work.path().join("ca.pem");
    write_ca(&ca);
    let config = r#"{"vertex_projct": "proj-alpha", "allow_unauthenticated": true}"#;
    let log = Envoy::start_expecting_rejection(EnvoyOptions::new(config, idle_upstreams(ca)))
        .await
        .unwrap();
    assert!(
        log.contains("Unable to create Wasm plugin vertex_passthrough"),
        "{log}"
    );
    assert!(
        log.contains("vertex_projct"),
        "the filter should name the unknown field:\n{log}"
    );

    // And the opposite: a config Envoy accepts is not mistaken for a refusal.
    let work = tempfile::tempdir().unwrap();
    let ca = work.path().join("ca.pem");
    write_ca(&ca);
    let err = Envoy::start_expecting_rejection(EnvoyOptions::new(
        STATIC_TOKEN_CONFIG,
        idle_upstreams(ca),
    ))
    .await
    .unwrap_err();
    assert!(err.to_string().contains("became ready"), "{err:#}");
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn envoy_is_killed_when_dropped_even_by_a_panicking_test() {
    let work = tempfile::tempdir().unwrap();
    let ca = work.path().join("ca.pem");
    write_ca(&ca);
    let (tx, rx) = std::sync::mpsc::channel();
    let upstreams = idle_upstreams(ca);
    let failing_test = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let envoy = Envoy::start(EnvoyOptions::new(STATIC_TOKEN_CONFIG, upstreams))
                .await
                .unwrap();
            tx.send(envoy.pid()).unwrap();
            panic!("a failing test (expected: Envoy's log is printed below)");
        })
    });
    assert!(failing_test.join().is_err());
    let pid = rx.recv().unwrap();
    assert!(
        !process_exists(pid),
        "Envoy {pid} outlived the panicking test"
    );
}
