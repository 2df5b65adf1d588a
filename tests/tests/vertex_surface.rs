//! The rest of the Vertex AI API through Envoy, over plain HTTP as curl would send it: resource
//! calls keep their HTTP method and query, model info is a GET, Search reaches the Discovery
//! Engine host, and the OpenAI-compatible endpoint's body is bounded.
use serde_json::{json, Value};
use vertex_passthrough_tests::stack::{Stack, CLIENT_KEY};

#[tokio::test]
async fn a_resource_call_keeps_its_http_method_and_query_and_gets_the_defaults() {
    let stack = Stack::start().await;
    let created: Value = stack
        .post(
            "/vertex_ai/v1/cachedContents",
            json!({"model": "projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-2.0-flash"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let name = created["name"].as_str().expect("a cache name").to_string();
    let id = name.rsplit('/').next().unwrap();
    let url = stack.envoy.url(&format!(
        "/vertex_ai/v1/cachedContents/{id}?view=FULL&key=sk-not-passed-on"
    ));
    let got = stack
        .http
        .get(url.clone())
        .header("x-api-key", CLIENT_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    let deleted = stack
        .http
        .delete(url)
        .header("x-api-key", CLIENT_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let seen = stack.emulator.vertex_requests();
    let get = &seen[1];
    assert_eq!(
        (get.method.as_str(), get.path.as_str(), get.query.as_deref()),
        ("GET", format!("/v1/{name}").as_str(), Some("view=FULL"))
    );
    assert_eq!(get.authority, "us-central1-aiplatform.googleapis.com");
    assert_eq!(seen[2].method, "DELETE");
}

#[tokio::test]
async fn model_info_is_read_with_get_through_an_alias() {
    let stack = Stack::start().await;
    let answer = stack
        .http
        .get(
            stack
                .envoy
                .url("/vertex_ai/v1/publishers/google/models/flash"),
        )
        .header("x-api-key", CLIENT_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let seen = stack.emulator.vertex_requests();
    assert_eq!(
        seen[0].path,
        "/v1/projects/proj-alpha/locations/global/publishers/google/models/gemini-2.0-flash"
    );
}

#[tokio::test]
async fn search_reaches_the_discovery_engine_host_of_its_location() {
    let stack = Stack::start().await;
    let answer = stack
        .post(
            "/vertex_ai/discovery/v1/projects/proj-alpha/locations/eu/collections/default_collection/engines/e/servingConfigs/default_search:search",
            json!({"query": "hello"}),
        )
        .await;
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["totalSize"], 1);
    let seen = stack.emulator.vertex_requests();
    assert_eq!(seen[0].authority, "eu-discoveryengine.googleapis.com");
    assert_eq!(
        seen[0].path,
        "/v1/projects/proj-alpha/locations/eu/collections/default_collection/engines/e/servingConfigs/default_search:search"
    );
}

/// The filter holds an OpenAI-compatible body until it is whole, up to 8 MiB (its 413 is in
/// Google's shape, tested natively); the listener's buffer, a little larger, may answer 413
/// first when one read takes the body past both.
#[tokio::test]
async fn an_openai_body_over_8_mib_is_refused_with_413_and_never_forwarded() {
    let stack = Stack::start().await;
    let body = json!({"model": "flash", "messages": [{"role": "user", "content": "x".repeat(9 * 1024 * 1024)}]});
    let answer = stack
        .http
        .post(stack.envoy.url("/vertex_ai/openai/chat/completions"))
        .header("x-api-key", CLIENT_KEY)
        .json(&body)
        .send()
        .await
        .expect("an answer");
    assert_eq!(answer.status(), 413);
    assert!(stack.emulator.vertex_requests().is_empty());
}
