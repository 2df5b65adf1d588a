use super::*;
use serde_json::json;

fn no_env(_: &str) -> Option<String> {
    None
}

fn fixture(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(format!(
        "{}/../../tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn base() -> serde_json::Value {
    json!({
        "vertex_project": "proj-alpha",
        "credentials": {"default": {"type": "service_account", "key": fixture("service_account_a.json")}},
        "api_keys": ["sk-test"],
    })
}

fn load(config: serde_json::Value) -> Result<Config, ConfigError> {
    Config::load(config.to_string().as_bytes(), &no_env)
}

fn error(config: serde_json::Value) -> ConfigError {
    match load(config) {
        Ok(_) => panic!("expected the config to be refused"),
        Err(e) => e,
    }
}

#[test]
fn minimal_config_uses_the_documented_defaults() {
    let c = load(base()).unwrap();
    assert_eq!(c.default_location, "us-central1");
    assert_eq!(c.route_prefixes, ["/vertex_ai", "/vertex-ai"]);
    assert_eq!(c.token_refresh_margin_s, 300);
    assert_eq!(c.token_fetch_timeout_ms, 5000);
    assert_eq!(c.projects.get("proj-alpha"), Some(&0));
}

#[test]
fn unknown_top_level_key_is_named() {
    let mut c = base();
    c["vertex_projct"] = json!("x");
    let e = error(c);
    assert!(e.reason.contains("vertex_projct"), "{e}");
}

#[test]
fn unknown_key_inside_a_model_entry_names_its_path() {
    let mut c = base();
    c["model_list"] =
        json!([{"model_name": "a", "litellm_params": {"model": "m", "vertex_region": "x"}}]);
    let e = error(c);
    assert_eq!(e.field, "model_list[0].litellm_params.vertex_region");
    assert!(e.reason.contains("vertex_region"));
}

#[test]
fn unknown_credential_type_is_named() {
    let mut c = base();
    c["credentials"]["default"] = json!({"type": "api_key", "key": "x"});
    let e = error(c);
    assert_eq!(e.field, "credentials.default.type");
    assert!(e.reason.contains("api_key"));
}

#[test]
fn misplaced_secret_is_not_echoed() {
    let mut c = base();
    c["api_keys"] = json!("sk-very-secret-key");
    let e = error(c);
    assert_eq!(e.field, "api_keys");
    assert!(!e.to_string().contains("sk-very-secret-key"));
}

#[test]
fn bad_default_location_is_named() {
    let mut c = base();
    c["vertex_location"] = json!("US_EAST");
    assert_eq!(error(c).field, "vertex_location");
}

#[test]
fn a_location_longer_than_a_dns_label_is_named_and_a_long_project_is_not() {
    let mut c = base();
    c["vertex_location"] = json!("l".repeat(64));
    let e = error(c);
    assert_eq!(e.field, "vertex_location");
    assert!(e.to_string().contains("at most 63"), "{e}");
    let mut c = base();
    c["model_list"] = json!([{"model_name": "m", "litellm_params": {"model": "gemini", "vertex_location": "l".repeat(64)}}]);
    assert!(error(c).field.ends_with("litellm_params.vertex_location"));
    let mut c = base();
    c["vertex_project"] = json!("p".repeat(100));
    c["vertex_location"] = json!("l".repeat(63));
    assert!(load(c).is_ok());
}

#[test]
fn project_and_location_fall_back_to_the_environment() {
    let mut c = base();
    c.as_object_mut().unwrap().remove("vertex_project");
    let env = |name: &str| match name {
        "VERTEXAI_PROJECT" => Some("env-project".to_string()),
        "VERTEXAI_LOCATION" => Some("europe-west4".to_string()),
        _ => None,
    };
    let config = Config::load(c.to_string().as_bytes(), &env).unwrap();
    assert_eq!(config.default_project.as_deref(), Some("env-project"));
    assert_eq!(config.default_location, "europe-west4");
}

#[test]
fn bad_project_from_the_environment_names_the_variable() {
    let mut c = base();
    c.as_object_mut().unwrap().remove("vertex_project");
    let env = |name: &str| (name == "VERTEXAI_PROJECT").then(|| "Bad Project".to_string());
    let e = match Config::load(c.to_string().as_bytes(), &env) {
        Ok(_) => panic!("expected refusal"),
        Err(e) => e,
    };
    assert_eq!(e.field, "VERTEXAI_PROJECT (environment)");
}

#[test]
fn no_api_keys_needs_allow_unauthenticated() {
    let mut c = base();
    c["api_keys"] = json!([]);
    assert_eq!(error(c.clone()).field, "api_keys");
    c["allow_unauthenticated"] = json!(true);
    assert!(matches!(
        load(c).unwrap().client_keys,
        ClientKeys::Unauthenticated(_)
    ));
}

#[test]
fn api_keys_and_allow_unauthenticated_together_are_refused() {
    let mut c = base();
    c["allow_unauthenticated"] = json!(true);
    assert_eq!(error(c).field, "allow_unauthenticated");
}

#[test]
fn malformed_api_key_hash_is_named_by_index() {
    let mut c = base();
    c["api_keys"] = json!(["sk-ok", "sha256:123"]);
    assert_eq!(error(c).field, "api_keys[1]");
}

#[test]
fn alias_credential_and_project_credential_are_resolved() {
    let mut c = base();
    c["credentials"]["beta"] =
        json!({"type": "service_account", "key": fixture("service_account_b.json")});
    c["model_list"] = json!([
        {"model_name": "beta-flash", "litellm_params": {"model": "gemini-2.0-flash", "vertex_project": "proj-beta", "vertex_credentials": "beta"}},
        {"model_name": "beta-pro", "litellm_params": {"model": "gemini-2.5-pro", "vertex_project": "proj-beta"}},
        {"model_name": "alpha-flash", "litellm_params": {"model": "gemini-2.0-flash"}},
    ]);
    let config = load(c).unwrap();
    let beta = config
        .credentials
        .iter()
        .position(|c| c.name == "beta")
        .unwrap();
    let default = config
        .credentials
        .iter()
        .position(|c| c.name == "default")
        .unwrap();
    assert_eq!(config.aliases["beta-flash"].credential, beta);
    assert_eq!(
        config.aliases["beta-pro"].credential, beta,
        "an entry on the same project borrows its credential"
    );
    assert_eq!(config.aliases["alpha-flash"].credential, default);
    assert_eq!(config.projects["proj-beta"], beta);
    assert_eq!(config.projects["proj-alpha"], default);
}

#[test]
fn unknown_credential_name_lists_the_known_ones() {
    let mut c = base();
    c["model_list"] = json!([{"model_name": "x", "litellm_params": {"model": "m", "vertex_credentials": "/path/key.json"}}]);
    let e = error(c);
    assert_eq!(e.field, "model_list[0].litellm_params.vertex_credentials");
    assert!(e.reason.contains("default"));
}

#[test]
fn entries_sharing_a_model_name_are_one_alias_with_several_deployments() {
    let mut c = base();
    c["credentials"]["beta"] =
        json!({"type": "service_account", "key": fixture("service_account_b.json")});
    c["model_list"] = json!([
        {"model_name": "flash", "litellm_params": {"model": "gemini-2.0-flash", "vertex_location": "us-central1", "rpm": 600}},
        {"model_name": "other", "litellm_params": {"model": "gemini-2.5-pro"}},
        {"model_name": "flash", "litellm_params": {"model": "vertex_ai/gemini-2.0-flash", "vertex_project": "proj-beta",
            "vertex_location": "europe-west4", "vertex_credentials": "beta", "rpm": 300, "tpm": 100000, "weight": 0.5}},
    ]);
    let config = load(c).unwrap();
    assert_eq!(config.pools.len(), 1);
    let pool = &config.pools[0];
    assert_eq!(pool.alias, "flash");
    let places: Vec<(Option<&str>, &str, &str)> = pool
        .deployments
        .iter()
        .map(|d| {
            let name = &config.credentials[d.credential].name;
            (
                d.alias.project.as_deref(),
                d.alias.location.as_str(),
                name.as_str(),
            )
        })
        .collect();
    assert_eq!(
        places,
        [
            (Some("proj-alpha"), "us-central1", "default"),
            (Some("proj-beta"), "europe-west4", "beta")
        ]
    );
    assert_eq!(pool.deployments[0].alias.weights.rpm, Some(600));
    assert_eq!(pool.deployments[1].alias.weights.weight, Some(0.5));
    assert_eq!(pool.deployments[1].alias.weights.tpm, Some(100000));
    assert_eq!(
        config.alias("flash", 1).unwrap().alias.location,
        "europe-west4"
    );
    assert_eq!(
        config.alias("flash", 0).unwrap().alias.location,
        "us-central1"
    );
    assert_eq!(config.alias("other", 1).unwrap().deployment, None);
    assert_eq!(config.projects["proj-beta"], pool.deployments[1].credential);
    assert_eq!(config.cooldown_s, 30);
}

#[test]
fn every_deployments_location_is_served() {
    let mut c = base();
    c["model_list"] = json!([
        {"model_name": "x", "litellm_params": {"model": "a", "vertex_location": "us-central1"}},
        {"model_name": "x", "litellm_params": {"model": "a", "vertex_location": "xx-newregion1"}},
    ]);
    assert!(load(c).unwrap().locations.contains("xx-newregion1"));
}

#[test]
fn a_negative_weight_is_refused_naming_the_field() {
    let mut c = base();
    c["model_list"] = json!([
        {"model_name": "x", "litellm_params": {"model": "a"}},
        {"model_name": "x", "litellm_params": {"model": "b", "weight": -1}},
    ]);
    let e = error(c);
    assert_eq!(e.field, "model_list[1].litellm_params.weight");
    assert!(e.reason.contains("0 or more"), "{e}");
}

#[test]
fn weights_that_are_not_numbers_are_refused_naming_the_field() {
    for (key, value) in [
        ("weight", json!("heavy")),
        ("rpm", json!(-5)),
        ("tpm", json!("1000")),
    ] {
        let mut c = base();
        c["model_list"] =
            json!([{"model_name": "x", "litellm_params": {"model": "a", key: value}}]);
        let e = error(c);
        assert_eq!(
            e.field,
            format!("model_list[0].litellm_params.{key}"),
            "{e}"
        );
    }
}

#[test]
fn cooldown_s_out_of_range_is_named() {
    let mut c = base();
    c["cooldown_s"] = json!(0);
    assert_eq!(error(c).field, "cooldown_s");
}

#[test]
fn no_credentials_uses_the_metadata_server() {
    let mut c = base();
    c.as_object_mut().unwrap().remove("credentials");
    let config = load(c).unwrap();
    assert_eq!(config.credentials.len(), 1);
    assert_eq!(config.credentials[0].kind(), "metadata_server");
}

#[test]
fn several_credentials_without_default_need_one_for_the_default_project() {
    let mut c = base();
    c["credentials"] = json!({
        "a": {"type": "access_token", "token": "t1"},
        "b": {"type": "access_token", "token": "t2"},
    });
    assert_eq!(error(c).field, "vertex_project");
}

#[test]
fn out_of_range_timeout_is_named() {
    let mut c = base();
    c["token_fetch_timeout_ms"] = json!(10);
    assert_eq!(error(c).field, "token_fetch_timeout_ms");
}

#[test]
fn route_prefix_with_trailing_slash_is_refused() {
    let mut c = base();
    c["route_prefixes"] = json!(["/vertex_ai/"]);
    assert_eq!(error(c).field, "route_prefixes[0]");
}

#[test]
fn json_that_is_not_an_object_is_refused() {
    let e = match Config::load(b"[1,2]", &no_env) {
        Ok(_) => panic!("expected refusal"),
        Err(e) => e,
    };
    assert_eq!(e.field, "(top level)");
}

#[test]
fn litellm_model_info_is_accepted_and_ignored() {
    let mut c = base();
    c["model_list"] = json!([{"model_name": "x", "litellm_params": {"model": "m"}, "model_info": {"mode": "chat"}}]);
    assert!(load(c).is_ok());
}

#[test]
fn litellm_pass_through_switch_is_accepted() {
    let mut c = base();
    c["model_list"] =
        json!([{"model_name": "x", "litellm_params": {"model": "m", "use_in_pass_through": true}}]);
    assert!(load(c).is_ok());
}

#[test]
fn a_listed_location_that_is_not_a_dns_label_names_its_field() {
    let mut c = base();
    c["locations"] = json!(["mars-north1", "Mars_North"]);
    assert_eq!(error(c).field, "locations[1]");
}
