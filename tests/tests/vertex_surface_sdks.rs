//! The rest of the Vertex AI API through Envoy with the real SDKs, as users call it: the
//! google-genai SDK's caches, batches, tunings and generate_videos (a long-running call), the
//! OpenAI SDK on Vertex's OpenAI-compatible endpoint, and the Anthropic SDK on Vertex. Each runs
//! tests/python/sdk_calls.py (the SDKs `make setup` pins into .tools/python) against a stack;
//! the emulator checks what Vertex would check and records what it was sent.
use serde_json::{json, Value};
use std::process::Command;
use vertex_passthrough_tests::harness::{repo_root, without_proxy_env};
use vertex_passthrough_tests::stack::{plugin_config, Stack, CLIENT_KEY};

/// The stack's config plus an embedding alias for the OpenAI SDK.
fn config() -> Value {
    let mut config = plugin_config();
    config["model_list"].as_array_mut().unwrap().push(json!(
        {"model_name": "embed", "litellm_params": {"model": "text-embedding-005"}}
    ));
    config
}

/// Runs `scenario` of sdk_calls.py against `stack` as project `project` in `location`, and
/// returns what it printed.
async fn sdk(stack: &Stack, scenario: &str, project: &str, location: &str) -> Value {
    let mut command = Command::new("python3");
    command
        .arg("tests/python/sdk_calls.py")
        .arg(scenario)
        .current_dir(repo_root())
        .env("PYTHONPATH", repo_root().join(".tools/python"))
        .env("PROXY_URL", stack.envoy.url("/vertex_ai"))
        .env("PROXY_KEY", CLIENT_KEY)
        .env("VERTEXAI_PROJECT", project)
        .env("VERTEXAI_LOCATION", location);
    without_proxy_env(&mut command);
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sdk_calls.py {scenario}: {}\n--- stdout\n{stdout}\n--- stderr\n{}\n--- envoy\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        vertex_passthrough_tests::harness::tail(&stack.envoy.log(), 30),
    );
    serde_json::from_str(stdout.trim()).expect("one JSON object")
}

/// (method, authority, path) of every request Vertex saw.
fn seen(stack: &Stack) -> Vec<(String, String, String)> {
    stack
        .emulator
        .vertex_requests()
        .into_iter()
        .map(|r| (r.method, r.authority, r.path))
        .collect()
}

#[tokio::test]
async fn genai_caches_are_created_read_and_deleted_in_the_clients_project() {
    let stack = Stack::with_config(config()).await;
    let out = sdk(&stack, "genai_caches", "proj-beta", "europe-west4").await;
    let name = out["created"].as_str().unwrap();
    assert!(
        name.starts_with("projects/proj-beta/locations/europe-west4/cachedContents/"),
        "{out}"
    );
    assert_eq!(out["got"], out["created"]);
    let host = "europe-west4-aiplatform.googleapis.com".to_string();
    let methods: Vec<(String, String)> = seen(&stack)
        .into_iter()
        .map(|(method, authority, path)| {
            assert_eq!(authority, host);
            (method, path)
        })
        .collect();
    assert_eq!(
        methods,
        [
            (
                "POST".to_string(),
                "/v1beta1/projects/proj-beta/locations/europe-west4/cachedContents".to_string()
            ),
            ("GET".to_string(), format!("/v1beta1/{name}")),
            ("DELETE".to_string(), format!("/v1beta1/{name}")),
        ]
    );
}

#[tokio::test]
async fn genai_batches_are_created_read_and_listed() {
    let stack = Stack::with_config(config()).await;
    let out = sdk(&stack, "genai_batches", "proj-alpha", "us-central1").await;
    let name = out["created"].as_str().unwrap();
    assert!(
        name.starts_with("projects/proj-alpha/locations/us-central1/batchPredictionJobs/"),
        "{out}"
    );
    assert_eq!(out["got"], out["created"]);
    assert_eq!(out["listed"], json!([name]));
    let list = seen(&stack)
        .into_iter()
        .find(|(m, _, p)| m == "GET" && p.ends_with("/batchPredictionJobs"));
    assert!(list.is_some(), "{:?}", seen(&stack));
}

#[tokio::test]
async fn genai_tuning_jobs_are_created_and_read() {
    let stack = Stack::with_config(config()).await;
    let out = sdk(&stack, "genai_tunings", "proj-alpha", "us-central1").await;
    let name = out["created"].as_str().unwrap();
    assert!(
        name.starts_with("projects/proj-alpha/locations/us-central1/tuningJobs/"),
        "{out}"
    );
    assert_eq!(out["got"], out["created"]);
    assert_eq!(out["base_model"], "gemini-2.0-flash-001");
}

#[tokio::test]
async fn genai_generate_videos_polls_its_long_running_operation_to_the_end() {
    let stack = Stack::with_config(config()).await;
    let out = sdk(&stack, "genai_videos", "proj-alpha", "us-central1").await;
    assert_eq!(
        out["videos"],
        json!(["gs://emulator/videos/sample_0.mp4"]),
        "{out}"
    );
    assert_eq!(out["polls"], 2);
    let calls: Vec<String> = seen(&stack).into_iter().map(|(_, _, p)| p).collect();
    let model = "/v1beta1/projects/proj-alpha/locations/us-central1/publishers/google/models/veo-3.0-generate-001";
    assert_eq!(
        calls,
        [
            format!("{model}:predictLongRunning"),
            format!("{model}:fetchPredictOperation"),
            format!("{model}:fetchPredictOperation"),
        ]
    );
}

/// The one OpenAI-compatible request Vertex saw: its path, host and body.
fn openai_request(stack: &Stack) -> (String, String, Value) {
    let requests = stack.emulator.vertex_requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = &requests[0];
    (
        request.path.clone(),
        request.authority.clone(),
        serde_json::from_slice(&request.body).unwrap(),
    )
}

#[tokio::test]
async fn openai_sdk_chat_with_an_alias_reaches_the_aliases_model() {
    let stack = Stack::with_config(config()).await;
    let out = sdk(&stack, "openai_chat", "unused", "unused").await;
    assert_eq!(out["model"], "google/gemini-2.0-flash", "{out}");
    assert!(out["total_tokens"].as_u64().unwrap() > 0);
    let (path, authority, body) = openai_request(&stack);
    assert_eq!(
        path,
        "/v1beta1/projects/proj-alpha/locations/global/endpoints/openapi/chat/completions"
    );
    assert_eq!(authority, "aiplatform.googleapis.com");
    assert_eq!(body["model"], "google/gemini-2.0-flash");
    assert_eq!(body["messages"][0]["content"], "Hello");
}

#[tokio::test]
async fn openai_sdk_chat_on_the_full_base_url_keeps_a_model_that_is_no_alias() {
    let stack = Stack::with_config(config()).await;
    let out = sdk(&stack, "openai_chat_full_base", "proj-beta", "europe-west4").await;
    assert_eq!(out["model"], "google/gemini-2.0-flash-001", "{out}");
    let (path, authority, body) = openai_request(&stack);
    assert_eq!(
        path,
        "/v1beta1/projects/proj-beta/locations/europe-west4/endpoints/openapi/chat/completions"
    );
    assert_eq!(authority, "europe-west4-aiplatform.googleapis.com");
    assert_eq!(body["model"], "google/gemini-2.0-flash-001");
}

#[tokio::test]
async fn openai_sdk_streams_a_chat_with_its_usage() {
    let stack = Stack::with_config(config()).await;
    let out = sdk(&stack, "openai_stream", "unused", "unused").await;
    assert_eq!(out["chunks"], 4, "{out}");
    assert!(out["text"]
        .as_str()
        .unwrap()
        .starts_with("chunk 0 of google/gemini-2.0-flash"));
    assert!(out["total_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn openai_sdk_embeddings_with_an_alias() {
    let stack = Stack::with_config(config()).await;
    let out = sdk(&stack, "openai_embeddings", "unused", "unused").await;
    assert_eq!(out["vectors"], 2, "{out}");
    assert_eq!(out["model"], "google/text-embedding-005");
    let (path, _, body) = openai_request(&stack);
    assert_eq!(
        path,
        "/v1beta1/projects/proj-alpha/locations/us-central1/endpoints/openapi/embeddings"
    );
    assert_eq!(body["input"], json!(["one", "two"]));
}

#[tokio::test]
async fn anthropic_vertex_sdk_creates_a_message() {
    let stack = Stack::with_config(config()).await;
    let out = sdk(&stack, "anthropic_create", "proj-alpha", "us-east5").await;
    assert_eq!(
        out["text"], "Hello from the emulated claude-sonnet-4@20250514.",
        "{out}"
    );
    let requests = stack.emulator.vertex_requests();
    assert_eq!(
        requests[0].path,
        "/v1/projects/proj-alpha/locations/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict"
    );
    assert_eq!(requests[0].authority, "us-east5-aiplatform.googleapis.com");
}

#[tokio::test]
async fn anthropic_vertex_sdk_streams_a_message() {
    let stack = Stack::with_config(config()).await;
    let out = sdk(&stack, "anthropic_stream", "proj-alpha", "us-east5").await;
    assert_eq!(out["pieces"], 4, "{out}");
    assert_eq!(out["stop_reason"], "end_turn");
    let requests = stack.emulator.vertex_requests();
    assert!(
        requests[0].path.ends_with(":streamRawPredict"),
        "{}",
        requests[0].path
    );
}
