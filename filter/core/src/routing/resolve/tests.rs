use super::super::{route, strip_prefix, Routed};
use super::*;
use crate::config::Config;
use crate::test_config;
use serde_json::json;

fn config() -> Config {
    test_config::with_models(
        json!({
            "default": {"type": "access_token", "token": "t-alpha"},
            "beta": {"type": "access_token", "token": "t-beta"},
        }),
        json!([
            {"model_name": "flash", "litellm_params": {"model": "vertex_ai/gemini-2.0-flash", "vertex_location": "global"}},
            {"model_name": "beta-live", "litellm_params": {"model": "gemini-2.0-flash-live-preview-04-09", "vertex_project": "proj-beta", "vertex_location": "europe-west4", "vertex_credentials": "beta"}},
            {"model_name": "claude", "litellm_params": {"model": "publishers/anthropic/models/claude-3-5-sonnet@20240620", "vertex_location": "us-east5"}},
        ]),
    )
}

fn forwarded(routed: Routed) -> Destination {
    match routed {
        Routed::Forward(destination) => Destination::clone(&destination),
        other => panic!("not forwarded at once: {other:?}"),
    }
}

fn destination(path: &str) -> Destination {
    let config = config();
    let (prefix, rest) = strip_prefix(&config, path).unwrap();
    forwarded(route(&config, prefix, rest, false).unwrap())
}

fn destination_live(path: &str) -> Result<Destination, ErrorResponse> {
    let config = config();
    let (prefix, rest) = strip_prefix(&config, path).unwrap();
    route(&config, prefix, rest, true).map(forwarded)
}

fn openai_call(path: &str) -> OpenAiCall {
    let config = config();
    let (prefix, rest) = strip_prefix(&config, path).unwrap();
    match route(&config, prefix, rest, false).unwrap() {
        Routed::ReadBody(call) => OpenAiCall::clone(&call),
        other => panic!("not an OpenAI-compatible call: {other:?}"),
    }
}

#[test]
fn resources_go_to_their_locations_host_with_the_query() {
    let f = destination("/vertex_ai/v1beta1/projects/proj-beta/locations/europe-west4/cachedContents/42?pageSize=2&key=sk");
    assert_eq!(
        f.path,
        "/v1beta1/projects/proj-beta/locations/europe-west4/cachedContents/42?pageSize=2"
    );
    assert_eq!(f.authority, "europe-west4-aiplatform.googleapis.com");
    assert_eq!(credential_name(&f), "beta");
    assert_eq!(f.methods, HttpMethods::Resource);
}

#[test]
fn the_short_resource_form_gets_the_default_project_and_location() {
    let f = destination("/vertex_ai/v1/batchPredictionJobs");
    assert_eq!(
        f.path,
        "/v1/projects/proj-alpha/locations/us-central1/batchPredictionJobs"
    );
    assert_eq!(f.authority, "us-central1-aiplatform.googleapis.com");
}

#[test]
fn resources_of_a_project_not_served_are_forbidden() {
    for path in [
        "/vertex_ai/v1/projects/proj-other/locations/us-central1/cachedContents",
        "/vertex_ai/v1/projects/proj-other/locations/us-central1:retrieveContexts",
        "/vertex_ai/v1/projects/proj-other/locations/global/endpoints/1:generateContent",
        "/vertex_ai/discovery/v1/projects/proj-other/locations/global/dataStores",
        "/vertex_ai/v1/projects/proj-other/locations/global/endpoints/openapi/chat/completions",
    ] {
        let config = config();
        let (prefix, rest) = strip_prefix(&config, path).unwrap();
        let e = route(&config, prefix, rest, false).unwrap_err();
        assert_eq!(e.status, Status::PermissionDenied, "{path}");
    }
}

#[test]
fn model_info_is_a_get_and_resolves_aliases() {
    let f = destination("/vertex_ai/v1/publishers/google/models/flash");
    assert_eq!(
        f.path,
        "/v1/projects/proj-alpha/locations/global/publishers/google/models/gemini-2.0-flash"
    );
    assert_eq!(f.methods, HttpMethods::Get);
    let f = destination("/vertex_ai/models/flash:generateContent");
    assert_eq!(f.methods, HttpMethods::Post);
}

#[test]
fn custom_methods_are_posts() {
    let f = destination("/vertex_ai/v1/projects/proj-alpha/locations/us:retrieveContexts");
    assert_eq!(f.authority, "aiplatform.us.rep.googleapis.com");
    assert_eq!(f.methods, HttpMethods::Post);
    let f = destination(
        "/vertex_ai/v1/projects/proj-alpha/locations/us-central1/endpoints/77:generateContent",
    );
    assert_eq!(
        f.path,
        "/v1/projects/proj-alpha/locations/us-central1/endpoints/77:generateContent"
    );
    assert_eq!(f.methods, HttpMethods::Post);
}

#[test]
fn search_goes_to_discovery_engine() {
    let f =
        destination("/vertex_ai/discovery/v1alpha/projects/proj-alpha/locations/global/dataStores")
            .path;
    assert_eq!(
        f,
        "/v1alpha/projects/proj-alpha/locations/global/dataStores"
    );
    let f = destination("/vertex_ai/discovery/v1/projects/proj-alpha/locations/eu/collections/default_collection/dataStores/d/servingConfigs/s:search");
    assert_eq!(f.authority, "eu-discoveryengine.googleapis.com");
    assert_eq!(
        f.path,
        "/v1/projects/proj-alpha/locations/eu/collections/default_collection/dataStores/d/servingConfigs/s:search"
    );
    let f = destination("/vertex_ai/discovery/v1/projects/proj-alpha/locations/global/dataStores");
    assert_eq!(f.authority, "discoveryengine.googleapis.com");
    let e = refusal("/vertex_ai/discovery/v1/projects/proj-alpha/locations/us-central1/dataStores");
    assert_eq!(e.status, Status::NotFound);
}

#[test]
fn openai_calls_wait_for_their_body_with_the_paths_place() {
    let call = openai_call("/vertex_ai/openai/chat/completions");
    assert_eq!((call.project, call.location), (None, None));
    let call = openai_call(
        "/vertex_ai/v1/projects/proj-beta/locations/europe-west4/endpoints/openapi/embeddings?x=1",
    );
    assert_eq!(call.project.as_deref(), Some("proj-beta"));
    assert_eq!(call.query.as_deref(), Some("x=1"));
}

fn live_target(f: &Destination) -> &LiveTarget {
    f.live.as_ref().expect("a Live upgrade resolves a route")
}

fn refusal(path: &str) -> ErrorResponse {
    let config = config();
    let (prefix, rest) = strip_prefix(&config, path).unwrap();
    route(&config, prefix, rest, false).unwrap_err()
}

fn credential_name(f: &Destination) -> String {
    config().credentials[f.credential].name.clone()
}

#[test]
fn full_form_is_forwarded_unchanged_to_the_locations_host() {
    let f = destination("/vertex_ai/v1/projects/proj-alpha/locations/europe-west4/publishers/google/models/gemini-2.0-flash:generateContent");
    assert_eq!(f.path, "/v1/projects/proj-alpha/locations/europe-west4/publishers/google/models/gemini-2.0-flash:generateContent");
    assert_eq!(f.authority, "europe-west4-aiplatform.googleapis.com");
    assert_eq!(credential_name(&f), "default");
}

#[test]
fn short_form_is_expanded_with_the_defaults() {
    let f = destination("/vertex-ai/models/gemini-2.0-flash:countTokens");
    assert_eq!(f.path, "/v1/projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-2.0-flash:countTokens");
    assert_eq!(f.authority, "us-central1-aiplatform.googleapis.com");
}

#[test]
fn alias_supplies_model_project_location_and_credential() {
    let f = destination("/vertex_ai/v1beta1/projects/whatever/locations/us/publishers/google/models/beta-live:generateContent");
    assert_eq!(f.path, "/v1beta1/projects/proj-beta/locations/europe-west4/publishers/google/models/gemini-2.0-flash-live-preview-04-09:generateContent");
    assert_eq!(f.authority, "europe-west4-aiplatform.googleapis.com");
    assert_eq!(credential_name(&f), "beta");
    assert_eq!(f.live, None);
}

#[test]
fn alias_to_global_uses_the_global_host() {
    let f = destination("/vertex_ai/models/flash:streamGenerateContent?alt=sse");
    assert_eq!(f.path, "/v1/projects/proj-alpha/locations/global/publishers/google/models/gemini-2.0-flash:streamGenerateContent?alt=sse");
    assert_eq!(f.authority, "aiplatform.googleapis.com");
}

#[test]
fn alias_publisher_wins_over_the_default() {
    let f = destination("/vertex_ai/models/claude:streamRawPredict");
    assert_eq!(f.path, "/v1/projects/proj-alpha/locations/us-east5/publishers/anthropic/models/claude-3-5-sonnet@20240620:streamRawPredict");
}

#[test]
fn query_is_kept_minus_key_and_model() {
    let f = destination("/vertex_ai/models/m:streamGenerateContent?key=sk-test&alt=sse&model=x");
    assert!(
        f.path.ends_with(":streamGenerateContent?alt=sse"),
        "{}",
        f.path
    );
}

#[test]
fn project_not_in_the_config_is_forbidden() {
    let e = refusal("/vertex_ai/v1/projects/someone-else/locations/us-central1/publishers/google/models/m:generateContent");
    assert_eq!(e.status, Status::PermissionDenied);
}

#[test]
fn live_path_without_upgrade_asks_for_a_websocket() {
    let e = refusal("/vertex_ai/live?model=flash");
    assert_eq!(e.status, Status::FailedPrecondition);
    assert!(e.message.contains("ws://HOST/vertex_ai/live?model=ALIAS"));
}

#[test]
fn live_upgrade_uses_the_alias_location_and_drops_the_model_parameter() {
    let f = destination_live("/vertex_ai/live?model=beta-live&foo=1").unwrap();
    assert_eq!(
        f.path,
        "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent?foo=1"
    );
    assert_eq!(f.authority, "europe-west4-aiplatform.googleapis.com");
    assert_eq!(credential_name(&f), "beta");
    assert_eq!(live_target(&f).project, "proj-beta");
}

#[test]
fn live_upgrade_keeps_the_version_the_client_named() {
    let f = destination_live(
        "/vertex_ai//ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent",
    )
    .unwrap();
    assert_eq!(
        f.path,
        "/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent"
    );
    assert_eq!(f.authority, "us-central1-aiplatform.googleapis.com");
    assert_eq!(live_target(&f).model, None);
}

#[test]
fn live_upgrade_with_a_full_model_name_checks_the_project() {
    let f = destination_live("/vertex_ai/live?model=projects%2Fproj-beta%2Flocations%2Fus%2Fpublishers%2Fgoogle%2Fmodels%2Fm").unwrap();
    assert_eq!(f.authority, "aiplatform.us.rep.googleapis.com");
    assert_eq!(credential_name(&f), "beta");
    let e = destination_live(
        "/vertex_ai/live?model=projects/other/locations/us/publishers/google/models/m",
    )
    .unwrap_err();
    assert_eq!(e.status, Status::PermissionDenied);
}

#[test]
fn live_upgrade_with_a_path_like_model_is_refused() {
    let e = destination_live("/vertex_ai/live?model=..%2F..%2Fadmin").unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);
}

#[test]
fn prefix_must_end_at_a_segment_boundary() {
    let config = config();
    assert!(strip_prefix(&config, "/vertex_aix/models/m:generateContent").is_none());
    assert!(strip_prefix(&config, "/other").is_none());
    assert_eq!(
        strip_prefix(&config, "/vertex_ai?x").map(|(_, r)| r),
        Some("?x")
    );
}

#[test]
fn without_a_default_project_short_forms_need_one() {
    let c = json!({"credentials": {"default": {"type": "access_token", "token": "t"}}, "allow_unauthenticated": true});
    let config = test_config::load(&c);
    let (prefix, rest) = strip_prefix(&config, "/vertex_ai/models/m:generateContent").unwrap();
    let e = route(&config, prefix, rest, false).unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);
    assert!(e.message.starts_with("Vertex AI project ID is required"));
    let (prefix, rest) = strip_prefix(&config, "/vertex_ai/v1/cachedContents").unwrap();
    let e = route(&config, prefix, rest, false).unwrap_err();
    assert!(e.message.starts_with("Vertex AI project ID is required"));
}

// Found by the bad-input corpus: a WebSocket upgrade on a REST path went to Vertex (which
// answered 404 for a GET on generateContent).
#[test]
fn a_websocket_upgrade_on_a_rest_path_is_refused() {
    let e = destination_live("/vertex_ai/models/flash:generateContent").unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);
    assert!(e.message.contains("/vertex_ai/live"), "{}", e.message);
}

// Found by the bad-input corpus: `??key=` kept the client's key in the forwarded query.
#[test]
fn disguised_key_parameters_are_not_forwarded() {
    for query in [
        "??key=sk-1&alt=sse",
        "%6Bey=sk-1&alt=sse",
        "alt=sse&%6b%65%79=sk-1",
    ] {
        let f = destination(&format!("/vertex_ai/models/flash:generateContent?{query}"));
        assert!(
            f.path.ends_with(":generateContent?alt=sse"),
            "{query}: {}",
            f.path
        );
    }
}

#[test]
fn a_live_model_parameter_that_is_not_utf8_is_refused_not_defaulted() {
    let e = destination_live("/vertex_ai/live?model=%FF%FE").unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);
}

#[test]
fn an_invented_location_is_refused_before_it_becomes_a_host() {
    let refused = refusal("/vertex_ai/v1/projects/proj-alpha/locations/zz-invented-1/publishers/google/models/gemini-2.0-flash:generateContent");
    assert_eq!(refused.http_code(), 400);
    assert!(
        refused.body().contains("zz-invented-1"),
        "{}",
        refused.body()
    );
    assert!(refused.body().contains("`locations`"), "{}", refused.body());
}

#[test]
fn a_live_model_naming_an_invented_location_is_refused_at_the_upgrade() {
    let refused = destination_live(
        "/vertex_ai/live?model=projects/proj-alpha/locations/zz-invented-1/publishers/google/models/m",
    )
    .unwrap_err();
    assert_eq!(refused.http_code(), 400);
}

#[test]
fn a_location_listed_in_the_config_is_served() {
    let mut c: serde_json::Value = json!({
        "vertex_project": "proj-alpha",
        "credentials": {"default": {"type": "access_token", "token": "t"}},
        "locations": ["mars-north1"],
        "api_keys": ["sk-test"],
    });
    let config = test_config::load(&c);
    let path = "/vertex_ai/v1/projects/proj-alpha/locations/mars-north1/publishers/google/models/m:generateContent";
    let (prefix, rest) = strip_prefix(&config, path).unwrap();
    let f = forwarded(route(&config, prefix, rest, false).unwrap());
    assert_eq!(f.authority, "mars-north1-aiplatform.googleapis.com");
    c["locations"] = json!([]);
    let config = test_config::load(&c);
    assert!(route(&config, prefix, rest, false).is_err());
}

#[test]
fn resources_and_openai_calls_go_only_to_served_locations() {
    let e = refusal("/vertex_ai/v1/projects/proj-alpha/locations/evil-example-com/cachedContents");
    assert_eq!(e.status, Status::InvalidArgument);
    let call = openai_call(
        "/vertex_ai/v1beta1/projects/proj-alpha/locations/evil-example-com/endpoints/openapi/chat/completions",
    );
    assert!(openai(&config(), &call, None, None).is_err());
}
