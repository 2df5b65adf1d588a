use super::*;
use crate::live::frame::MAX_CLOSE_REASON;
use crate::routing::resolve::live;
use crate::test_config;
use serde_json::json;

fn config() -> Config {
    test_config::with_models(
        json!({
            "default": {"type": "access_token", "token": "t-alpha"},
            "beta": {"type": "access_token", "token": "t-beta"},
        }),
        json!([
            {"model_name": "live", "litellm_params": {"model": "vertex_ai/gemini-2.0-flash-live-preview-04-09"}},
            {"model_name": "flash", "litellm_params": {"model": "gemini-2.0-flash", "vertex_location": "global"}},
            {"model_name": "beta-live", "litellm_params": {"model": "gemini-live-2.5-flash", "vertex_project": "proj-beta", "vertex_location": "europe-west4", "vertex_credentials": "beta"}},
            {"model_name": "gamma", "litellm_params": {"model": "gemini-live-2.5-flash", "vertex_project": "proj-gamma", "vertex_location": "us-central1", "vertex_credentials": "beta"}},
            {"model_name": "claude", "litellm_params": {"model": "publishers/anthropic/models/claude-3-5-sonnet@20240620", "vertex_location": "us-east5"}},
        ]),
    )
}

/// The session as the upgrade fixed it for `?model=`.
fn session(config: &Config, model: Option<&str>) -> LiveTarget {
    live(config, None, model, None).unwrap().live.unwrap()
}

fn resolve(session_model: Option<&str>, setup_model: &str) -> Result<String, String> {
    let config = config();
    let session = session(&config, session_model);
    resolve_setup_model(&config, &session, setup_model)
}

#[test]
fn alias_becomes_its_entrys_full_name() {
    assert_eq!(
        resolve(None, "live").unwrap(),
        "projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-2.0-flash-live-preview-04-09"
    );
}

#[test]
fn bare_model_id_is_completed_with_the_sessions_project_and_location() {
    assert_eq!(
        resolve(Some("beta-live"), "gemini-live-2.5-flash").unwrap(),
        "projects/proj-beta/locations/europe-west4/publishers/google/models/gemini-live-2.5-flash"
    );
}

#[test]
fn models_prefix_is_understood() {
    assert_eq!(
        resolve(None, "models/gemini-live-2.5-flash").unwrap(),
        "projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-live-2.5-flash"
    );
}

#[test]
fn publisher_form_keeps_its_publisher() {
    assert_eq!(
        resolve(None, "publishers/acme/models/m-1").unwrap(),
        "projects/proj-alpha/locations/us-central1/publishers/acme/models/m-1"
    );
}

#[test]
fn full_name_in_a_served_project_and_the_sessions_location_is_kept() {
    let full =
        "projects/proj-beta/locations/europe-west4/publishers/google/models/gemini-live-2.5-flash";
    assert_eq!(resolve(Some("beta-live"), full).unwrap(), full);
}

#[test]
fn alias_in_the_model_position_of_a_full_name_is_resolved_as_an_alias() {
    assert_eq!(
        resolve(
            Some("beta-live"),
            "projects/sdk-project/locations/us-central1/publishers/google/models/beta-live"
        )
        .unwrap(),
        "projects/proj-beta/locations/europe-west4/publishers/google/models/gemini-live-2.5-flash"
    );
}

#[test]
fn alias_publisher_wins_over_the_setups() {
    assert_eq!(
        resolve(Some("claude"), "publishers/google/models/claude").unwrap(),
        "projects/proj-alpha/locations/us-east5/publishers/anthropic/models/claude-3-5-sonnet@20240620"
    );
}

#[test]
fn project_not_served_is_refused() {
    let reason = resolve(
        None,
        "projects/someone-else/locations/us-central1/publishers/google/models/m",
    )
    .unwrap_err();
    assert_eq!(reason, "project someone-else is not served by this proxy");
}

#[test]
fn alias_in_another_location_says_how_to_connect() {
    assert_eq!(
        resolve(None, "beta-live").unwrap_err(),
        "model beta-live is served in europe-west4 but this session is connected to us-central1; connect with ?model=beta-live"
    );
}

#[test]
fn full_name_in_another_location_is_refused() {
    let reason = resolve(
        None,
        "projects/proj-alpha/locations/europe-west4/publishers/google/models/m",
    )
    .unwrap_err();
    assert!(reason.contains("europe-west4"), "{reason}");
    assert!(reason.contains("?model="), "{reason}");
}

#[test]
fn model_needing_another_credential_is_refused() {
    assert_eq!(
        resolve(None, "gamma").unwrap_err(),
        "model gamma needs another credential than this session; connect with ?model=gamma"
    );
}

#[test]
fn invalid_segments_are_refused() {
    for model in [
        "",
        "..",
        "gemini%2fx",
        "publishers/../models/m",
        "projects/Proj/locations/us-central1/publishers/google/models/m",
        "projects/p/locations/us_central1/publishers/google/models/m",
    ] {
        assert_eq!(
            resolve(None, model).unwrap_err(),
            INVALID_SEGMENT,
            "{model}"
        );
    }
}

#[test]
fn unknown_forms_are_refused() {
    for model in [
        "a/b",
        "publishers/google/m",
        "projects/p/locations/l/models/m",
        "/live",
    ] {
        assert_eq!(resolve(None, model).unwrap_err(), UNKNOWN_FORM, "{model}");
    }
}

#[test]
fn reasons_fit_a_close_frame() {
    let refusals = [
        resolve(None, "a/b"),
        resolve(None, ".."),
        resolve(None, "beta-live"),
        resolve(None, "gamma"),
        resolve(
            None,
            "projects/proj-alpha/locations/europe-west4/publishers/google/models/m",
        ),
        resolve(
            None,
            "projects/someone-else/locations/us-central1/publishers/google/models/m",
        ),
    ];
    for reason in refusals {
        let reason = reason.unwrap_err();
        assert!(
            reason.len() <= MAX_CLOSE_REASON,
            "{} bytes: {reason}",
            reason.len()
        );
    }
}
