use crate::client_auth::{ClientKeys, VerifiedKeys};
use crate::config::{Config, ConfigError};
use crate::test_config;
use serde_json::{json, Value};

fn load(keys: Value) -> Result<Config, ConfigError> {
    load_with_env(keys, &|_| None)
}

fn load_with_env(keys: Value, env: crate::config::Env) -> Result<Config, ConfigError> {
    let c = json!({
        "vertex_project": "proj-a",
        "credentials": {"default": {"type": "access_token", "token": "t"}},
        "model_list": [
            {"model_name": "flash", "litellm_params": {"model": "gemini-2.0-flash", "vertex_project": "proj-b"}},
        ],
        "api_keys": keys,
    });
    Config::load(c.to_string().as_bytes(), env)
}

fn error(keys: Value) -> ConfigError {
    match load(keys) {
        Ok(_) => panic!("expected refusal"),
        Err(e) => e,
    }
}

fn client(config: &Config, key: &str) -> Option<String> {
    config
        .client_keys
        .authenticate([key].iter(), &mut VerifiedKeys::default())
        .map(|c| c.name.to_string())
}

#[test]
fn plain_and_named_keys_load_side_by_side() {
    let c = load(json!([
        "sk-plain",
        {"name": "team-a", "key": "sk-a", "models": ["flash"], "projects": ["proj-b"], "rpm": 10, "tpm": 1000},
    ]))
    .unwrap();
    assert_eq!(client(&c, "sk-a").as_deref(), Some("team-a"));
    assert!(client(&c, "sk-plain").unwrap().starts_with("key-"));
    let ClientKeys::Required { clients, .. } = &c.client_keys else {
        panic!("keys required")
    };
    let team = &clients[1];
    assert_eq!(team.models.as_deref(), Some(&["flash".to_string()][..]));
    assert_eq!((team.rpm, team.tpm), (Some(10), Some(1000)));
}

#[test]
fn a_named_key_may_come_from_the_vm_environment() {
    let env = |name: &str| (name == "TEAM_A_KEY").then(|| "sk-from-env".to_string());
    let c = load_with_env(json!([{"name": "team-a", "key_env": "TEAM_A_KEY"}]), &env).unwrap();
    assert_eq!(client(&c, "sk-from-env").as_deref(), Some("team-a"));
}

#[test]
fn a_missing_key_env_variable_names_the_field() {
    let e = error(json!(["sk-plain", {"name": "team-a", "key_env": "NOPE"}]));
    assert_eq!(e.field, "api_keys[1].key_env");
}

#[test]
fn bad_fields_of_a_named_key_are_named() {
    let cases = [
        (json!({"name": "Team A", "key": "sk-a"}), "api_keys[1].name"),
        (json!({"name": "", "key": "sk-a"}), "api_keys[1].name"),
        (
            json!({"name": "a".repeat(65), "key": "sk-a"}),
            "api_keys[1].name",
        ),
        (json!({"name": "team-a"}), "api_keys[1]"),
        (
            json!({"name": "team-a", "key": "sk-a", "key_env": "K"}),
            "api_keys[1]",
        ),
        (
            json!({"name": "team-a", "key": "has space"}),
            "api_keys[1].key",
        ),
        (
            json!({"name": "team-a", "key": "sk-a", "models": [7]}),
            "api_keys[1].models[0]",
        ),
        (
            json!({"name": "team-a", "key": "sk-a", "models": ["a/b"]}),
            "api_keys[1].models[0]",
        ),
        (
            json!({"name": "team-a", "key": "sk-a", "models": []}),
            "api_keys[1].models",
        ),
        (
            json!({"name": "team-a", "key": "sk-a", "projects": ["proj-z"]}),
            "api_keys[1].projects[0]",
        ),
        (
            json!({"name": "team-a", "key": "sk-a", "rpm": 0}),
            "api_keys[1].rpm",
        ),
        (
            json!({"name": "team-a", "key": "sk-a", "tpm": -1}),
            "api_keys[1].tpm",
        ),
        (
            json!({"name": "team-a", "key": "sk-a", "budget": 5}),
            "api_keys[1].budget",
        ),
        (json!(5), "api_keys[1]"),
    ];
    for (entry, field) in cases {
        let e = error(json!(["sk-plain", entry.clone()]));
        assert_eq!(e.field, field, "{entry}: {e}");
    }
}

#[test]
fn a_key_given_twice_is_refused() {
    assert_eq!(
        error(json!(["sk-a", {"name": "team-a", "key": "sk-a"}])).field,
        "api_keys[1]"
    );
}

#[test]
fn a_name_given_twice_is_refused() {
    let e = error(json!([{"name": "team", "key": "sk-a"}, {"name": "team", "key": "sk-b"}]));
    assert_eq!(e.field, "api_keys[1].name");
}

#[test]
fn errors_do_not_show_the_key() {
    let e = error(json!([{"name": "Bad Name", "key": "sk-secret-value"}]));
    assert!(!e.to_string().contains("sk-secret-value"));
}

#[test]
fn allow_unauthenticated_serves_the_client_anonymous() {
    let c = json!({
        "vertex_project": "proj-a",
        "credentials": {"default": {"type": "access_token", "token": "t"}},
        "allow_unauthenticated": true,
    });
    let c = test_config::load(&c);
    assert_eq!(client(&c, "").as_deref(), Some("anonymous"));
}
