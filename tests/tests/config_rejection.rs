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
    // Named keys.
    let named: [(&str, Value); 10] = [
        ("named key without a name", json!({"key": "sk-team-a"})),
        (
            "named key with a bad name",
            json!({"name": "Team A", "key": "sk-team-a"}),
        ),
        (
            "named key with an unknown field",
            json!({"name": "team-a", "key": "sk-team-a", "budget": 10}),
        ),
        (
            "named key with key and key_env",
            json!({"name": "team-a", "key": "sk-team-a", "key_env": "TEAM_A_KEY"}),
        ),
        (
            "named key with neither key nor key_env",
            json!({"name": "team-a"}),
        ),
        (
            "named key whose key_env is not set",
            json!({"name": "team-a", "key_env": "NOT_IN_THE_VM"}),
        ),
        (
            "named key with rpm 0",
            json!({"name": "team-a", "key": "sk-team-a", "rpm": 0}),
        ),
        (
            "named key with tpm not a number",
            json!({"name": "team-a", "key": "sk-team-a", "tpm": "lots"}),
        ),
        (
            "named key with no models",
            json!({"name": "team-a", "key": "sk-team-a", "models": []}),
        ),
        (
            "named key with a project not served",
            json!({"name": "team-a", "key": "sk-team-a", "projects": ["someone-elses"]}),
        ),
    ];
    for (case, key) in named {
        let mut config = plugin_config();
        config["api_keys"] = json!([config["api_keys"][0].clone(), key]);
        table.push((case, config));
    }
    let mut config = plugin_config();
    config["api_keys"] = json!([
        {"name": "team-a", "key": "sk-team-a"},
        {"name": "team-a", "key": "sk-team-b"},
    ]);
    table.push(("two named keys with one name", config));

    let vm_env = |name: &str| (name == "SA_BETA_KEY").then(|| SERVICE_ACCOUNT_B_JSON.to_string());
    for (case, config) in table {
        let error = vp_config::check(&config.to_string(), &vm_env)
            .err()
            .unwrap_or_else(|| panic!("{case}: check accepts it"));
        let log = rejection_log(config).await;
        let line = config_error_line(&log);
        assert!(
            line.contains(&error.to_string()),
            "{case}: check says\n  {error}\nEnvoy says\n  {line}"
        );
    }
}

#[tokio::test]
async fn a_named_key_with_a_bad_model_is_named() {
    let mut config = plugin_config();
    config["api_keys"] = json!([
        config["api_keys"][0].clone(),
        {"name": "team-a", "key": "sk-team-a-secret", "models": ["flash", "../etc"]},
    ]);
    let log = rejection_log(config).await;
    let line = config_error_line(&log);
    assert!(line.contains("api_keys[1].models[1]"), "{line}");
    assert!(!log.contains("sk-team-a-secret"));
}

#[tokio::test]
async fn a_named_key_with_a_bad_name_is_named() {
    let mut config = plugin_config();
    config["api_keys"] = json!([{"name": "Team A", "key": "sk-team-a-secret"}]);
    let log = rejection_log(config).await;
    let line = config_error_line(&log);
    assert!(line.contains("api_keys[0].name"), "{line}");
    assert!(!log.contains("sk-team-a-secret"));
}

#[tokio::test]
async fn a_named_key_with_a_project_not_served_is_named() {
    let mut config = plugin_config();
    config["api_keys"] =
        json!([{"name": "team-a", "key": "sk-team-a-secret", "projects": ["someone-elses"]}]);
    let log = rejection_log(config).await;
    assert!(config_error_line(&log).contains("api_keys[0].projects[0]"));
}
