use super::*;
use crate::routing::path::OpenAiApi;
use crate::test_config;
use serde_json::{json, Value};

fn config() -> Config {
    test_config::with_models(
        json!({
            "default": {"type": "access_token", "token": "t-alpha"},
            "beta": {"type": "access_token", "token": "t-beta"},
        }),
        json!([
            {"model_name": "flash", "litellm_params": {"model": "gemini-2.0-flash", "vertex_location": "global"}},
            {"model_name": "beta-flash", "litellm_params": {"model": "gemini-2.5-flash", "vertex_project": "proj-beta", "vertex_location": "europe-west4", "vertex_credentials": "beta"}},
        ]),
    )
}

fn call(project: Option<&str>, location: Option<&str>) -> OpenAiCall {
    OpenAiCall {
        version: "v1beta1",
        project: project.map(str::to_string),
        location: location.map(str::to_string),
        api: OpenAiApi::ChatCompletions,
        query: None,
    }
}

/// The pick of a worker whose draw always lands on a pool's first deployment.
fn first(_pool: usize) -> usize {
    0
}

fn decided(call: &OpenAiCall, body: &[u8]) -> OpenAiRequest {
    decide(&config(), call, body, first).unwrap()
}

#[test]
fn an_alias_becomes_its_model_and_picks_project_location_and_credential() {
    let body = br#"{"model": "beta-flash", "messages": [{"role": "user", "content": "hi \"model\""}], "stream": true}"#;
    let r = decided(&call(None, None), body);
    assert_eq!(
        r.destination.path,
        "/v1beta1/projects/proj-beta/locations/europe-west4/endpoints/openapi/chat/completions"
    );
    assert_eq!(
        r.destination.authority,
        "europe-west4-aiplatform.googleapis.com"
    );
    assert_eq!(config().credentials[r.destination.credential].name, "beta");
    let rewritten = r.body.unwrap();
    assert_eq!(
        String::from_utf8(rewritten).unwrap(),
        r#"{"model": "google/gemini-2.5-flash", "messages": [{"role": "user", "content": "hi \"model\""}], "stream": true}"#
    );
}

#[test]
fn an_alias_with_the_google_prefix_is_an_alias_too() {
    let r = decided(
        &call(None, None),
        br#"{"messages":[],"model":"google/flash"}"#,
    );
    assert_eq!(
        r.body.as_deref(),
        Some(&br#"{"messages":[],"model":"google/gemini-2.0-flash"}"#[..])
    );
    assert_eq!(r.destination.authority, "aiplatform.googleapis.com");
}

#[test]
fn an_alias_overrides_the_paths_project_and_location() {
    let r = decided(
        &call(Some("proj-alpha"), Some("us-east1")),
        br#"{"model":"beta-flash"}"#,
    );
    assert!(r
        .destination
        .path
        .starts_with("/v1beta1/projects/proj-beta/locations/europe-west4/"));
}

#[test]
fn an_escaped_alias_is_read_as_its_text() {
    let r = decided(&call(None, None), br#"{"model":"fl\u0061sh"}"#);
    assert_eq!(
        r.body.as_deref(),
        Some(&br#"{"model":"google/gemini-2.0-flash"}"#[..])
    );
}

#[test]
fn a_model_that_is_not_an_alias_goes_unchanged_to_the_path_or_the_defaults() {
    let body = br#"{"model":"google/gemini-2.5-pro","messages":[]}"#;
    let r = decided(&call(None, None), body);
    assert_eq!(r.body, None);
    assert_eq!(
        r.destination.path,
        "/v1beta1/projects/proj-alpha/locations/us-central1/endpoints/openapi/chat/completions"
    );
    let r = decided(&call(Some("proj-beta"), Some("us")), body);
    assert_eq!(r.body, None);
    assert_eq!(r.destination.authority, "aiplatform.us.rep.googleapis.com");
    assert_eq!(config().credentials[r.destination.credential].name, "beta");
    let r = decided(&call(None, None), b"{}");
    assert_eq!(r.body, None);
}

#[test]
fn a_model_naming_a_project_not_served_is_forbidden() {
    let e = decide(
        &config(),
        &call(None, None),
        br#"{"model":"projects/proj-other/locations/us-central1/endpoints/1"}"#,
        first,
    )
    .unwrap_err();
    assert_eq!(e.status, Status::PermissionDenied);
    let ok = decide(
        &config(),
        &call(None, None),
        br#"{"model":"projects/proj-beta/locations/us-central1/endpoints/1"}"#,
        first,
    );
    assert!(ok.is_ok());
}

#[test]
fn bodies_that_are_not_one_json_object_with_a_string_model_are_invalid() {
    for body in [
        &b""[..],
        b"[]",
        b"{\"model\": 3}",
        b"{\"model\": \"flash\"",
        b"{\"model\": \"flash\", \"model\": \"beta-flash\"}",
        b"{\"model\": \"flash\"} {}",
        b"\xff",
    ] {
        let e = decide(&config(), &call(None, None), body, first).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument, "{body:?}");
    }
}

#[test]
fn a_model_with_a_control_character_or_outside_the_segment_rules_is_invalid() {
    for model in [
        "flash\n[2026] \"POST /x\" 200 client=team-b",
        "gemini\r\nx-forged: 1",
        "gemini\t2.5",
        "gemini\u{0}",
        "google/gemini 2.5",
        "google//gemini",
        "google/../gemini",
        "",
    ] {
        let body = json!({"model": model}).to_string();
        let e = decide(&config(), &call(None, None), body.as_bytes(), first).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument, "{model:?}");
        assert!(!e.message.contains('\n'), "{}", e.message);
    }
}

#[test]
fn a_body_over_the_bound_is_too_large() {
    let mut body = br#"{"model":"flash","x":""#.to_vec();
    body.resize(MAX_BODY + 1, b'a');
    let e = decide(&config(), &call(None, None), &body, first).unwrap_err();
    assert_eq!(e.http_code(), 413);
    let json: Value = serde_json::from_str(&e.body()).unwrap();
    assert_eq!(json["error"]["code"], 413);
}

#[test]
fn only_the_top_level_model_is_rewritten() {
    let body = br#"{"tools":[{"model":"flash","x":{"model":"flash"}}],"m\u006fdel" : "flash","n":"model"}"#;
    let r = decided(&call(None, None), body);
    assert_eq!(
        String::from_utf8(r.body.unwrap()).unwrap(),
        r#"{"tools":[{"model":"flash","x":{"model":"flash"}}],"m\u006fdel" : "google/gemini-2.0-flash","n":"model"}"#
    );
}

#[test]
fn an_alias_with_several_deployments_goes_to_the_one_picked() {
    let c = json!({
        "vertex_project": "proj-alpha",
        "credentials": {"default": {"type": "access_token", "token": "t-alpha"}},
        "model_list": [
            {"model_name": "pool", "litellm_params": {"model": "gemini-2.0-flash", "vertex_location": "us-central1"}},
            {"model_name": "pool", "litellm_params": {"model": "gemini-2.0-flash-001", "vertex_location": "europe-west4"}},
        ],
        "api_keys": ["sk-test"],
    });
    let config = test_config::load(&c);
    let r = decide(&config, &call(None, None), br#"{"model":"pool"}"#, |pool| {
        assert_eq!(pool, 0);
        1
    })
    .unwrap();
    assert_eq!(
        r.destination.authority,
        "europe-west4-aiplatform.googleapis.com"
    );
    assert_eq!(
        r.body.as_deref(),
        Some(&br#"{"model":"google/gemini-2.0-flash-001"}"#[..])
    );
    assert_eq!(r.destination.deployment.map(|id| id.index), Some(1));
}
