//! A plugin config that does not validate makes Envoy refuse the filter, and Envoy's log names
//! the field and the reason — without echoing secrets.

use serde_json::{json, Value};
use vertex_passthrough_tests::emulator::{Emulator, EmulatorOptions, SERVICE_ACCOUNT_B_JSON};
use vertex_passthrough_tests::harness::{Envoy, EnvoyOptions};
use vertex_passthrough_tests::stack::{plugin_config, upstreams};

async fn rejection_log(config: Value) -> String {
    let emulator = Emulator::start(EmulatorOptions::with_fixtures())
        .await
        .unwrap();
    let options = EnvoyOptions::new(config.to_string(), upstreams(&emulator))
        .vm_env("SA_BETA_KEY", SERVICE_ACCOUNT_B_JSON);
    Envoy::start_expecting_rejection(options)
        .await
        .expect("Envoy refuses the config")
}

fn config_error_line(log: &str) -> &str {
    log.lines()
        .find(|l| l.contains("invalid plugin configuration"))
        .unwrap_or_else(|| panic!("no config error in Envoy's log:\n{log}"))
}

#[tokio::test]
async fn unknown_key_is_named() {
    let mut config = plugin_config();
    config["vertex_regoin"] = json!("us-central1");
    let log = rejection_log(config).await;
    assert!(config_error_line(&log).contains("vertex_regoin"));
}

#[tokio::test]
async fn bad_location_is_named() {
    let mut config = plugin_config();
    config["model_list"][0]["litellm_params"]["vertex_location"] = json!("Europe West");
    let log = rejection_log(config).await;
    assert!(config_error_line(&log).contains("model_list[0].litellm_params.vertex_location"));
}

#[tokio::test]
async fn service_account_key_without_its_private_key_is_named() {
    let mut config = plugin_config();
    config["credentials"]["default"]["key"] =
        json!({"type": "service_account", "client_email": "x@proj-alpha.iam.gserviceaccount.com"});
    let log = rejection_log(config).await;
    let line = config_error_line(&log);
    assert!(
        line.contains("credentials.default.key") && line.contains("private_key"),
        "{line}"
    );
}

#[tokio::test]
async fn no_api_keys_without_allow_unauthenticated_is_named() {
    let mut config = plugin_config();
    config.as_object_mut().unwrap().remove("api_keys");
    let log = rejection_log(config).await;
    let line = config_error_line(&log);
    assert!(
        line.contains("api_keys") && line.contains("allow_unauthenticated"),
        "{line}"
    );
}

#[tokio::test]
async fn misplaced_secret_is_not_logged() {
    let mut config = plugin_config();
    config["api_keys"] = json!("sk-this-must-not-be-logged");
    let log = rejection_log(config).await;
    assert!(config_error_line(&log).contains("api_keys"));
    assert!(!log.contains("sk-this-must-not-be-logged"));
}

/// `vp-config check` names the same field and reason as Envoy's refusal, for a table of bad
/// configs; the VM env is the process env `check` reads.
#[tokio::test]
async fn check_reports_what_envoy_refuses_with() {
    let mut table: Vec<(&str, Value)> = Vec::new();
    let mut config = plugin_config();
    config["vertex_regoin"] = json!("us-central1");
    table.push(("unknown key", config));
    let mut config = plugin_config();
    config["model_list"][1]["litellm_params"]["vertex_location"] = json!("Europe West");
    table.push(("bad location", config));
    let mut config = plugin_config();
    config["credentials"]["default"]["key"] = json!({"type": "service_account"});
    table.push(("key without private_key", config));
    let mut config = plugin_config();
    config.as_object_mut().unwrap().remove("api_keys");
    table.push(("no api_keys", config));
    let mut config = plugin_config();
    config["credentials"]["beta"]["key_env"] = json!("NOT_IN_THE_VM");
    table.push(("key_env not set", config));
    let mut config = plugin_config();
    config["token_fetch_timeout_ms"] = json!("fast");
    table.push(("wrong type", config));
    let mut config = plugin_config();
    config["model_list"][2]["litellm_params"]["vertex_credentials"] = json!("gamma");
    table.push(("unknown credential", config));
    for (case, config) in table {
        refused_as_check_says(case, config).await;
    }
}

/// Envoy's log once it refused `config`, its config error line checked to say what
/// `vp-config check` says (the VM env is the process env `check` reads).
async fn refused_as_check_says(case: &str, config: Value) -> String {
    let vm_env = |name: &str| (name == "SA_BETA_KEY").then(|| SERVICE_ACCOUNT_B_JSON.to_string());
    let error = vp_config::check(&config.to_string(), &vm_env)
        .err()
        .unwrap_or_else(|| panic!("{case}: check accepts it"));
    let log = rejection_log(config).await;
    let line = config_error_line(&log);
    assert!(
        line.contains(&error.to_string()),
        "{case}: check says\n  {error}\nEnvoy says\n  {line}"
    );
    log
}

/// The plain key every bad named key below holds: it must never reach Envoy's log.
const SECRET_KEY: &str = "sk-team-a-must-not-be-logged";

/// Named keys that do not validate, each after the usual unnamed key (so at `api_keys[1]`), and
/// the field the refusal must name.
fn bad_named_keys() -> Vec<(&'static str, Value, &'static str)> {
    let key = SECRET_KEY;
    let long_name = "a".repeat(65);
    vec![
        (
            "unknown field",
            json!([{"name": "team-a", "key": key, "budget": 10}]),
            "api_keys[1].budget",
        ),
        ("no name", json!([{"key": key}]), "api_keys[1].name"),
        (
            "empty name",
            json!([{"name": "", "key": key}]),
            "api_keys[1].name",
        ),
        (
            "name too long",
            json!([{"name": long_name, "key": key}]),
            "api_keys[1].name",
        ),
        (
            "name with capitals and a space",
            json!([{"name": "Team A", "key": key}]),
            "api_keys[1].name",
        ),
        (
            "name not a string",
            json!([{"name": 7, "key": key}]),
            "api_keys[1].name",
        ),
        (
            "two keys with one name",
            json!([{"name": "team-a", "key": key}, {"name": "team-a", "key": "sk-team-b-other"}]),
            "api_keys[2].name",
        ),
        (
            "one key under two names",
            json!([{"name": "team-a", "key": key}, {"name": "team-b", "key": key}]),
            "api_keys[2]",
        ),
        (
            "key and key_env",
            json!([{"name": "team-a", "key": key, "key_env": "TEAM_A_KEY"}]),
            "api_keys[1]",
        ),
        (
            "neither key nor key_env",
            json!([{"name": "team-a"}]),
            "api_keys[1]",
        ),
        (
            "key_env not set in the VM",
            json!([{"name": "team-a", "key_env": "NOT_IN_THE_VM"}]),
            "api_keys[1].key_env",
        ),
        (
            "key with a space",
            json!([{"name": "team-a", "key": format!("{key} x")}]),
            "api_keys[1].key",
        ),
        (
            "models not a list",
            json!([{"name": "team-a", "key": key, "models": "flash"}]),
            "api_keys[1].models",
        ),
        (
            "models empty",
            json!([{"name": "team-a", "key": key, "models": []}]),
            "api_keys[1].models",
        ),
        (
            "an empty models entry",
            json!([{"name": "team-a", "key": key, "models": ["flash", ""]}]),
            "api_keys[1].models[1]",
        ),
        (
            "a model that is no alias or model id",
            json!([{"name": "team-a", "key": key, "models": ["flash", "../etc"]}]),
            "api_keys[1].models[1]",
        ),
        (
            "rpm 0",
            json!([{"name": "team-a", "key": key, "rpm": 0}]),
            "api_keys[1].rpm",
        ),
        (
            "rpm negative",
            json!([{"name": "team-a", "key": key, "rpm": -5}]),
            "api_keys[1].rpm",
        ),
        (
            "rpm a string",
            json!([{"name": "team-a", "key": key, "rpm": "600"}]),
            "api_keys[1].rpm",
        ),
        (
            "tpm a fraction",
            json!([{"name": "team-a", "key": key, "tpm": 1.5}]),
            "api_keys[1].tpm",
        ),
        (
            "tpm a string",
            json!([{"name": "team-a", "key": key, "tpm": "lots"}]),
            "api_keys[1].tpm",
        ),
        (
            "projects with an invalid project",
            json!([{"name": "team-a", "key": key, "projects": ["Proj_A"]}]),
            "api_keys[1].projects[0]",
        ),
        (
            "projects with a project not served",
            json!([{"name": "team-a", "key": key, "projects": ["someone-elses"]}]),
            "api_keys[1].projects[0]",
        ),
        (
            "an entry neither a key nor an object",
            json!([42]),
            "api_keys[1]",
        ),
    ]
}

/// Each bad named key makes Envoy refuse the config with a line that names its field (as
/// `vp-config check` does), and the plain key appears nowhere in Envoy's log.
#[tokio::test]
async fn every_bad_named_key_is_refused_naming_its_field_and_never_its_key() {
    for (case, keys, field) in bad_named_keys() {
        let mut config = plugin_config();
        let mut api_keys = vec![config["api_keys"][0].clone()];
        api_keys.extend(keys.as_array().cloned().unwrap_or_default());
        config["api_keys"] = Value::Array(api_keys);
        let log = refused_as_check_says(case, config).await;
        let line = config_error_line(&log);
        assert!(line.contains(&format!("`{field}`:")), "{case}: {line}");
        assert!(
            !log.contains(SECRET_KEY),
            "{case}: the key is in Envoy's log"
        );
    }
}
