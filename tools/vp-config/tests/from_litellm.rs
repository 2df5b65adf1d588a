//! `vp-config from-litellm`: LiteLLM config.yaml files converted, and the result loads in the
//! filter's own config code.

use serde_yaml::Value;
use std::path::Path;
use vertex_passthrough_core::client_auth::VerifiedKeys;
use vp_config::litellm::{convert, Conversion, EnvNeed, MASTER_KEY_NAME};
use vp_config::{check, hash_key, to_yaml};

const EXAMPLE: &str = include_str!("../../../examples/litellm/config.yaml");
const SERVICE_ACCOUNT: &str = include_str!("../../../tests/fixtures/service_account_a.json");
const AUTHORIZED_USER: &str = include_str!("../../../tests/fixtures/authorized_user.json");

fn no_env(_: &str) -> Option<String> {
    None
}

fn no_files(_: &Path) -> Option<String> {
    None
}

fn converted(text: &str) -> Conversion {
    convert(text, &no_env, &no_files).unwrap()
}

fn field<'a>(config: &'a Value, path: &[&str]) -> &'a Value {
    path.iter()
        .fold(config, |value, key| match key.parse::<usize>() {
            Ok(index) => &value[index],
            Err(_) => &value[*key],
        })
}

#[test]
fn example_config_loads_in_the_filter_with_its_credential_in_the_env() {
    let conversion = converted(EXAMPLE);
    let yaml = to_yaml(&conversion.config);
    let env = |name: &str| (name == "VERTEX_CREDENTIALS").then(|| SERVICE_ACCOUNT.to_string());
    let config = check(&yaml, &env).unwrap();
    assert_eq!(config.default_project.as_deref(), Some("my-vertex-project"));
    assert_eq!(config.aliases.len(), 3);
    assert!(config.aliases.contains_key("gemini-2.5-pro"));
    assert_eq!(
        conversion.env,
        vec![EnvNeed {
            name: "VERTEX_CREDENTIALS".to_string(),
            file: None
        }]
    );
}

#[test]
fn one_credential_for_every_use_of_the_same_source() {
    let conversion = converted(EXAMPLE);
    let config = Value::Mapping(conversion.config);
    let credentials = field(&config, &["credentials"]).as_mapping().unwrap();
    assert_eq!(credentials.len(), 1);
    assert_eq!(
        field(&config, &["credentials", "default", "key_env"]),
        "VERTEX_CREDENTIALS"
    );
    assert_eq!(
        field(
            &config,
            &["model_list", "0", "litellm_params", "vertex_credentials"]
        ),
        "default"
    );
}

#[test]
fn master_key_becomes_a_named_key_holding_its_hash() {
    let conversion = converted(EXAMPLE);
    let yaml = to_yaml(&conversion.config);
    let config = Value::Mapping(conversion.config);
    let expected = hash_key("sk-litellm-master-1234").unwrap();
    assert_eq!(field(&config, &["api_keys", "0", "name"]), MASTER_KEY_NAME);
    assert_eq!(field(&config, &["api_keys", "0", "key"]), expected.as_str());
    assert!(!yaml.contains("sk-litellm-master-1234"));
    // The filter reads it as the client `master`, with every model and project.
    let env = |name: &str| (name == "VERTEX_CREDENTIALS").then(|| SERVICE_ACCOUNT.to_string());
    let loaded = check(&yaml, &env).unwrap();
    let client = loaded
        .client_keys
        .authenticate(
            ["sk-litellm-master-1234"].iter(),
            &mut VerifiedKeys::default(),
        )
        .expect("the master key is accepted");
    assert_eq!(&*client.name, MASTER_KEY_NAME);
    assert!(client.models.is_none() && client.projects.is_none());
    assert!(client.rpm.is_none() && client.tpm.is_none());
}

#[test]
fn litellm_virtual_keys_are_listed_as_kept_in_its_database() {
    let text = "general_settings:\n  master_key: sk-1234\n  database_url: postgresql://db/litellm\nlitellm_settings:\n  default_key_generate_params:\n    max_budget: 10\n  upperbound_key_generate_params:\n    rpm_limit: 100\n  drop_params: true\n";
    let dropped = converted(text).dropped;
    for setting in [
        "general_settings.database_url",
        "litellm_settings.default_key_generate_params",
        "litellm_settings.upperbound_key_generate_params",
    ] {
        let line = dropped
            .iter()
            .find(|line| line.starts_with(&format!("{setting}: dropped: ")))
            .unwrap_or_else(|| panic!("{setting} not listed in {dropped:#?}"));
        assert!(
            line.contains("virtual keys")
                && line.contains("database")
                && line.contains("docs/teams.md"),
            "{line}"
        );
    }
    let sdk = dropped
        .iter()
        .find(|line| line.starts_with("litellm_settings.drop_params: dropped: "))
        .unwrap();
    assert!(!sdk.contains("virtual keys"), "{sdk}");
}

#[test]
fn master_key_from_the_environment_is_read_and_hashed() {
    let text = "general_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n";
    let env = |name: &str| (name == "LITELLM_MASTER_KEY").then(|| "sk-from-env".to_string());
    let config = Value::Mapping(convert(text, &env, &no_files).unwrap().config);
    assert_eq!(
        field(&config, &["api_keys", "0", "key"]),
        hash_key("sk-from-env").unwrap().as_str()
    );
}

#[test]
fn master_key_from_an_unset_variable_is_an_error_naming_it() {
    let text = "general_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n";
    let error = convert(text, &no_env, &no_files).err().unwrap();
    assert!(
        error.contains("general_settings.master_key") && error.contains("LITELLM_MASTER_KEY"),
        "{error}"
    );
}

#[test]
fn no_master_key_means_no_client_keys() {
    let text = "model_list:\n  - model_name: flash\n    litellm_params:\n      model: vertex_ai/gemini-2.5-flash\n      vertex_project: p1\n";
    let conversion = converted(text);
    let config = Value::Mapping(conversion.config);
    assert_eq!(
        field(&config, &["allow_unauthenticated"]).as_bool(),
        Some(true)
    );
    assert!(conversion
        .dropped
        .iter()
        .any(|line| line.starts_with("general_settings.master_key")));
}

#[test]
fn key_file_path_becomes_a_key_env_credential_of_the_files_type() {
    let text = "model_list:\n  - model_name: flash\n    litellm_params:\n      model: vertex_ai/gemini-2.5-flash\n      vertex_project: p1\n      vertex_credentials: /secrets/adc.json\n";
    let read =
        |path: &Path| (path == Path::new("/secrets/adc.json")).then(|| AUTHORIZED_USER.to_string());
    let conversion = convert(text, &no_env, &read).unwrap();
    let config = Value::Mapping(conversion.config);
    assert_eq!(
        field(&config, &["credentials", "adc", "type"]),
        "authorized_user"
    );
    assert_eq!(
        field(&config, &["credentials", "adc", "key_env"]),
        "VP_KEY_ADC"
    );
    assert_eq!(
        field(
            &config,
            &["model_list", "0", "litellm_params", "vertex_credentials"]
        ),
        "adc"
    );
    assert_eq!(
        conversion.env,
        vec![EnvNeed {
            name: "VP_KEY_ADC".to_string(),
            file: Some("/secrets/adc.json".to_string())
        }]
    );
    assert!(conversion.env[0].describe().contains("/secrets/adc.json"));
}

#[test]
fn default_vertex_config_gives_the_defaults_and_the_default_credential() {
    let text = "default_vertex_config:\n  vertex_project: p1\n  vertex_location: europe-west4\n  vertex_credentials: /k/sa.json\n";
    let config = Value::Mapping(converted(text).config);
    assert_eq!(field(&config, &["vertex_project"]), "p1");
    assert_eq!(field(&config, &["vertex_location"]), "europe-west4");
    assert_eq!(
        field(&config, &["credentials", "default", "type"]),
        "service_account"
    );
    assert_eq!(
        field(&config, &["credentials", "default", "key_env"]),
        "VP_KEY_SA"
    );
}

#[test]
fn every_litellm_only_setting_is_listed_with_why() {
    let dropped = converted(EXAMPLE).dropped;
    for setting in [
        "litellm_settings.drop_params",
        "litellm_settings.num_retries",
        "router_settings.routing_strategy",
        "general_settings.database_url",
        "model_list[0].litellm_params.use_in_pass_through",
        "model_list[1].model_info",
        "model_list[3]",
    ] {
        let line = dropped
            .iter()
            .find(|line| line.starts_with(&format!("{setting}: dropped: ")))
            .unwrap_or_else(|| panic!("{setting} not listed in {dropped:#?}"));
        assert!(line.len() > setting.len() + 20, "no reason: {line}");
    }
}

#[test]
fn a_model_of_another_provider_is_dropped() {
    let config = Value::Mapping(converted(EXAMPLE).config);
    let names: Vec<&str> = field(&config, &["model_list"])
        .as_sequence()
        .unwrap()
        .iter()
        .map(|entry| entry["model_name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"gpt-4o"), "{names:?}");
}

#[test]
fn os_environ_project_is_read_from_the_environment() {
    let text = "default_vertex_config:\n  vertex_project: os.environ/VERTEXAI_PROJECT\n";
    let env = |name: &str| (name == "VERTEXAI_PROJECT").then(|| "proj-env".to_string());
    let config = Value::Mapping(convert(text, &env, &no_files).unwrap().config);
    assert_eq!(field(&config, &["vertex_project"]), "proj-env");
}

#[test]
fn not_a_mapping_is_an_error() {
    assert!(convert("- a\n- b\n", &no_env, &no_files).is_err());
}

#[test]
fn hash_is_sha256_hex_and_refuses_what_the_filter_refuses() {
    assert_eq!(
        hash_key("sk-1234").as_deref(),
        Some("sha256:88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b")
    );
    assert_eq!(hash_key("two words"), None);
    assert_eq!(hash_key(""), None);
}

#[test]
fn repeated_model_name_becomes_deployments_with_their_weights() {
    let text = "model_list:\n  - model_name: flash\n    litellm_params:\n      model: vertex_ai/gemini-2.5-flash\n      vertex_project: p1\n      vertex_location: us-east5\n      rpm: 100\n  - model_name: flash\n    litellm_params:\n      model: vertex_ai/gemini-2.5-flash\n      vertex_project: p2\n      weight: 2\nrouter_settings:\n  cooldown_time: 30\n  routing_strategy: simple-shuffle\n";
    let conversion = converted(text);
    let yaml = to_yaml(&conversion.config);
    let config = Value::Mapping(conversion.config);
    assert_eq!(
        field(&config, &["model_list"]).as_sequence().unwrap().len(),
        2
    );
    assert_eq!(
        field(&config, &["model_list", "0", "litellm_params", "rpm"]).as_u64(),
        Some(100)
    );
    assert_eq!(
        field(&config, &["model_list", "1", "litellm_params", "weight"]).as_u64(),
        Some(2)
    );
    assert_eq!(field(&config, &["cooldown_s"]).as_u64(), Some(30));
    assert!(conversion
        .dropped
        .iter()
        .any(|line| line.starts_with("router_settings.routing_strategy: dropped: ")));
    let loaded = check(&yaml, &no_env).unwrap();
    assert_eq!(loaded.aliases.len(), 1);
}
