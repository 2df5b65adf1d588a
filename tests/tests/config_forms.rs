//! The plugin config as YAML (a google.protobuf.Struct, which Envoy hands to the filter as
//! serialized protobuf; envoy/envoy.yaml's form) and as JSON text (a StringValue, the meshes'
//! form) behave the same through a real Envoy: requests are routed alike, and a bad config is
//! refused with the same field and reason.

use serde_json::{json, Value};
use vertex_passthrough_tests::emulator::{Emulator, EmulatorOptions, SERVICE_ACCOUNT_B_JSON};
use vertex_passthrough_tests::harness::{Envoy, EnvoyOptions, PluginConfigForm};
use vertex_passthrough_tests::stack::{
    generate_body, plugin_config, upstreams, Stack, StackOptions, SA_B_EMAIL,
};

/// For each request (two aliases, and a project no credential serves): the status, and where
/// it went with whose token.
async fn routing(form: PluginConfigForm) -> Vec<(u16, Option<(String, String, String)>)> {
    let stack = Stack::start_with_envoy(StackOptions::default(), |envoy| {
        envoy.plugin_config_form = form;
    })
    .await;
    let mut seen = Vec::new();
    for path in [
        "/vertex_ai/v1/models/flash:generateContent",
        "/vertex_ai/v1/models/beta-pro:generateContent",
        "/vertex_ai/v1/projects/proj-gamma/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent",
    ] {
        let before = stack.emulator.vertex_requests().len();
        let status = stack.post(path, generate_body()).await.status().as_u16();
        let upstream = stack.emulator.vertex_requests().get(before).map(|r| {
            let subject = r.token_subject.clone().unwrap_or_default();
            (r.authority.clone(), r.path.clone(), subject)
        });
        seen.push((status, upstream));
    }
    seen
}

#[tokio::test]
async fn a_struct_config_routes_requests_as_the_same_json_text_does() {
    let from_json = routing(PluginConfigForm::StringValue).await;
    let from_struct = routing(PluginConfigForm::Struct).await;
    assert_eq!(from_struct, from_json);
    // And the config took effect: another project, location and credential for beta-pro, and
    // an unserved project refused.
    assert_eq!(
        from_struct[1],
        (
            200,
            Some((
                "europe-west4-aiplatform.googleapis.com".to_string(),
                "/v1/projects/proj-beta/locations/europe-west4/publishers/google/models/gemini-2.5-pro:generateContent".to_string(),
                SA_B_EMAIL.to_string(),
            ))
        )
    );
    assert_eq!(from_struct[2], (403, None));
}

/// The field Envoy's log names for a refused config, and the reason given.
async fn refusal(config: &Value, form: PluginConfigForm) -> (String, String) {
    let emulator = Emulator::start(EmulatorOptions::with_fixtures())
        .await
        .unwrap();
    let mut options = EnvoyOptions::new(config.to_string(), upstreams(&emulator))
        .vm_env("SA_BETA_KEY", SERVICE_ACCOUNT_B_JSON);
    options.plugin_config_form = form;
    let log = Envoy::start_expecting_rejection(options)
        .await
        .expect("Envoy refuses the config");
    let line = log
        .lines()
        .find_map(|l| l.split_once("invalid plugin configuration: `"))
        .and_then(|(_, rest)| rest.split_once("`: "))
        .unwrap_or_else(|| panic!("no config error in Envoy's log ({form:?}):\n{log}"));
    (line.0.to_string(), line.1.to_string())
}

#[tokio::test]
async fn a_bad_struct_config_is_refused_naming_the_field_the_json_text_names() {
    let mut bad_location = plugin_config();
    bad_location["model_list"][1]["litellm_params"]["vertex_location"] = json!("Europe West");
    let (field, reason) = refusal(&bad_location, PluginConfigForm::StringValue).await;
    assert_eq!(field, "model_list[1].litellm_params.vertex_location");
    assert_eq!(
        refusal(&bad_location, PluginConfigForm::Struct).await,
        (field, reason)
    );

    // Envoy's YAML loader hands a fractional number over as a string; the field is the same.
    let mut fractional = plugin_config();
    fractional["token_fetch_timeout_ms"] = json!(1500.5);
    let (field, reason) = refusal(&fractional, PluginConfigForm::StringValue).await;
    assert_eq!(field, "token_fetch_timeout_ms");
    assert!(
        reason.starts_with("invalid type: floating point given"),
        "{reason}"
    );
    let (field, reason) = refusal(&fractional, PluginConfigForm::Struct).await;
    assert_eq!(field, "token_fetch_timeout_ms");
    assert!(reason.starts_with("invalid type: string given"), "{reason}");
}
