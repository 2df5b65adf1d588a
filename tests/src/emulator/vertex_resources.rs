//! The rest of the Vertex AI surface as Vertex answers it: context caches, batch prediction and
//! tuning jobs, long-running operations (Veo's `predictLongRunning` and
//! `fetchPredictOperation`), model info, tuned-model endpoints, the OpenAI-compatible endpoint,
//! RAG's location methods, and Vertex AI Search on the Discovery Engine hosts. Resources live in
//! memory, per project and location: one project never sees another's.
use super::http::{google_error, json_response, Body};
use super::state::{lock, Shared};
use super::vertex_answers::{prompt_tokens, reply_text, RESPONSE_TOKENS};
use bytes::Bytes;
use hyper::Response;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the emulator holds: resources by full name, and how often each Veo operation was polled.
#[derive(Default)]
pub(crate) struct Resources {
    by_name: BTreeMap<String, Value>,
    polls: BTreeMap<String, u32>,
    next_id: AtomicU64,
}

impl Resources {
    fn new_id(&self) -> u64 {
        1000 + self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// `/{V}/projects/P/locations/L` and what follows it (`/C/…` or `:METHOD`).
#[derive(Debug, PartialEq, Eq)]
pub struct ResourcePath {
    pub version: String,
    pub project: String,
    pub location: String,
    pub tail: String,
}

fn is_location_or_project(segment: &str) -> bool {
    !segment.is_empty()
        && segment.len() <= 128
        && segment
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Reads `/{V}/projects/P/locations/L…`; `versions` are the API versions the host serves.
pub fn parse_resource_path(path: &str, versions: &[&str]) -> Option<ResourcePath> {
    let rest = path.strip_prefix('/')?;
    let (version, rest) = rest.split_once('/')?;
    let rest = rest.strip_prefix("projects/")?;
    let (project, rest) = rest.split_once('/')?;
    let rest = rest.strip_prefix("locations/")?;
    let end = rest.find(['/', ':']).unwrap_or(rest.len());
    let (location, tail) = rest.split_at(end);
    let valid = versions.contains(&version)
        && is_location_or_project(project)
        && is_location_or_project(location)
        && !tail.split('/').any(|s| s == ".." || s == ".");
    valid.then(|| ResourcePath {
        version: version.to_owned(),
        project: project.to_owned(),
        location: location.to_owned(),
        tail: tail.to_owned(),
    })
}

fn not_found(what: &str) -> Response<Body> {
    google_error(404, "NOT_FOUND", &format!("{what} not found."))
}

fn invalid(message: &str) -> Response<Body> {
    google_error(400, "INVALID_ARGUMENT", message)
}

fn now_rfc3339() -> String {
    "2026-12-01T00:00:00.000000Z".to_owned()
}

/// A REST call on a resource under `projects/P/locations/L` on the right host for a caller
/// allowed into P (the caller checks both). `json` is the body, `Value::Null` when empty.
pub(crate) fn answer(
    shared: &Shared,
    method: &str,
    at: &ResourcePath,
    json: &Value,
    body: &[u8],
) -> Response<Body> {
    let parent = format!("projects/{}/locations/{}", at.project, at.location);
    let segments: Vec<&str> = at.tail.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("POST", [collection @ ("cachedContents" | "batchPredictionJobs" | "tuningJobs")]) => {
            create(shared, &parent, collection, json)
        }
        ("GET", [collection @ ("cachedContents" | "batchPredictionJobs" | "tuningJobs")]) => {
            list(shared, &parent, collection)
        }
        ("GET", [collection, id]) if is_stored(collection) => {
            get(shared, &format!("{parent}/{collection}/{id}"))
        }
        ("PATCH", ["cachedContents", id]) => {
            update_cache(shared, &format!("{parent}/cachedContents/{id}"), json)
        }
        ("DELETE", [collection, id]) if is_stored(collection) => {
            delete(shared, &format!("{parent}/{collection}/{id}"))
        }
        ("POST", [collection, call]) if is_stored(collection) && call.ends_with(":cancel") => {
            let id = call.trim_end_matches(":cancel");
            cancel(shared, &format!("{parent}/{collection}/{id}"))
        }
        ("GET", ["operations", id]) => json_response(
            200,
            &json!({"name": format!("{parent}/operations/{id}"), "done": true}),
        ),
        ("GET", ["publishers", publisher, "models", model]) => json_response(
            200,
            &json!({
                "name": format!("publishers/{publisher}/models/{model}"),
                "versionId": "001",
                "openSourceCategory": "PROPRIETARY",
                "launchStage": "GA",
            }),
        ),
        ("POST", ["endpoints", "openapi", "chat", "completions"]) => {
            openai_chat(shared, json, body)
        }
        ("POST", ["endpoints", "openapi", "embeddings"]) => openai_embeddings(json),
        ("POST", ["endpoints", call]) => match call.split_once(':') {
            Some((endpoint, "generateContent")) => json_response(
                200,
                &super::vertex_answers::generate_content(&format!("endpoint-{endpoint}"), body),
            ),
            _ => not_found(&format!("Endpoint method {call}")),
        },
        ("POST", [""]) if at.tail == ":retrieveContexts" => json_response(
            200,
            &json!({"contexts": {"contexts": [{
                "sourceUri": "gs://emulator/doc.txt",
                "text": "a retrieved passage",
                "score": 0.5,
            }]}}),
        ),
        _ => not_found(&format!("{method} {}/{parent}{}", at.version, at.tail)),
    }
}

fn is_stored(collection: &str) -> bool {
    matches!(
        collection,
        "cachedContents" | "batchPredictionJobs" | "tuningJobs"
    )
}

/// A model named in a body is in the caller's project and location (Vertex refuses others).
fn model_in(parent: &str, model: &str) -> bool {
    !model.starts_with("projects/") || model.starts_with(&format!("{parent}/"))
}

fn create(shared: &Shared, parent: &str, collection: &str, json: &Value) -> Response<Body> {
    let text = |key: &str| json.get(key).and_then(Value::as_str);
    let required: &[&str] = match collection {
        "cachedContents" => &["model"],
        "batchPredictionJobs" => &["model", "inputConfig", "outputConfig"],
        _ => &["baseModel"],
    };
    if let Some(missing) = required.iter().find(|key| json.get(**key).is_none()) {
        return invalid(&format!("{collection}: the field {missing} is required."));
    }
    let model = text("model").or(text("baseModel")).unwrap_or_default();
    if !model_in(parent, model) {
        return invalid(&format!(
            "The model {model} is not in {parent}; use a model of the same project and location."
        ));
    }
    let resources = &shared.resources;
    let mut held = lock(resources);
    let name = format!("{parent}/{collection}/{}", held.new_id());
    let mut resource = json.clone();
    resource["name"] = json!(name);
    resource["createTime"] = json!(now_rfc3339());
    resource["updateTime"] = json!(now_rfc3339());
    match collection {
        "cachedContents" => {
            resource["expireTime"] = json!("2026-12-01T01:00:00.000000Z");
            resource["usageMetadata"] =
                json!({"totalTokenCount": prompt_tokens(json.to_string().as_bytes())});
            resource.as_object_mut().map(|o| o.remove("contents"));
        }
        _ => resource["state"] = json!("JOB_STATE_PENDING"),
    }
    held.by_name.insert(name, resource.clone());
    json_response(200, &resource)
}

fn list(shared: &Shared, parent: &str, collection: &str) -> Response<Body> {
    let prefix = format!("{parent}/{collection}/");
    let items: Vec<Value> = lock(&shared.resources)
        .by_name
        .iter()
        .filter(|(name, _)| name.starts_with(&prefix))
        .map(|(_, resource)| resource.clone())
        .collect();
    json_response(200, &json!({ collection: items }))
}

fn get(shared: &Shared, name: &str) -> Response<Body> {
    match lock(&shared.resources).by_name.get(name) {
        Some(resource) => json_response(200, resource),
        None => not_found(name),
    }
}

fn update_cache(shared: &Shared, name: &str, json: &Value) -> Response<Body> {
    let mut held = lock(&shared.resources);
    let Some(resource) = held.by_name.get_mut(name) else {
        return not_found(name);
    };
    for key in ["ttl", "expireTime", "displayName"] {
        if let Some(value) = json.get(key) {
            resource[key] = value.clone();
        }
    }
    resource["updateTime"] = json!(now_rfc3339());
    json_response(200, resource)
}

fn delete(shared: &Shared, name: &str) -> Response<Body> {
    match lock(&shared.resources).by_name.remove(name) {
        Some(_) if name.contains("/cachedContents/") => json_response(200, &json!({})),
        Some(_) => json_response(
            200,
            &json!({"name": format!("{name}/operations/1"), "done": true}),
        ),
        None => not_found(name),
    }
}

fn cancel(shared: &Shared, name: &str) -> Response<Body> {
    let mut held = lock(&shared.resources);
    let Some(resource) = held.by_name.get_mut(name) else {
        return not_found(name);
    };
    resource["state"] = json!("JOB_STATE_CANCELLED");
    json_response(200, &json!({}))
}

/// Veo: `predictLongRunning` starts an operation under the model.
pub(crate) fn predict_long_running(
    shared: &Shared,
    model_name: &str,
    json: &Value,
) -> Response<Body> {
    let has_prompt = json
        .pointer("/instances/0/prompt")
        .and_then(Value::as_str)
        .is_some_and(|p| !p.is_empty());
    if !has_prompt {
        return invalid("instances[0].prompt is required.");
    }
    let mut held = lock(&shared.resources);
    let name = format!("{model_name}/operations/{}", held.new_id());
    held.polls.insert(name.clone(), 0);
    json_response(200, &json!({ "name": name }))
}

/// Veo: `fetchPredictOperation` on the model that started it; done on the second poll.
pub(crate) fn fetch_predict_operation(
    shared: &Shared,
    model_name: &str,
    json: &Value,
) -> Response<Body> {
    let Some(operation) = json.get("operationName").and_then(Value::as_str) else {
        return invalid("operationName is required.");
    };
    if !operation.starts_with(&format!("{model_name}/operations/")) {
        return invalid(&format!(
            "The operation {operation} is not of {model_name}."
        ));
    }
    let mut held = lock(&shared.resources);
    let Some(polls) = held.polls.get_mut(operation) else {
        return not_found(operation);
    };
    *polls += 1;
    if *polls < 2 {
        return json_response(200, &json!({"name": operation, "done": false}));
    }
    json_response(
        200,
        &json!({
            "name": operation,
            "done": true,
            "response": {
                "@type": "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse",
                "raiMediaFilteredCount": 0,
                "videos": [{"gcsUri": "gs://emulator/videos/sample_0.mp4", "mimeType": "video/mp4"}],
            },
        }),
    )
}

/// The OpenAI-compatible endpoint takes models as `publisher/model`.
fn openai_model(json: &Value) -> Result<&str, String> {
    let model = json
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match model.split_once('/') {
        Some((publisher, id)) if !publisher.is_empty() && !id.is_empty() => Ok(model),
        _ => Err(format!(
            "Invalid model {model:?}: use publisher/model, e.g. google/gemini-2.0-flash."
        )),
    }
}

fn openai_usage(body: &[u8]) -> Value {
    let prompt = prompt_tokens(body);
    json!({"prompt_tokens": prompt, "completion_tokens": RESPONSE_TOKENS, "total_tokens": prompt + RESPONSE_TOKENS})
}

fn openai_chat(shared: &Shared, json: &Value, body: &[u8]) -> Response<Body> {
    let model = match openai_model(json) {
        Ok(model) => model,
        Err(why) => return invalid(&why),
    };
    let has_messages = json
        .get("messages")
        .and_then(Value::as_array)
        .is_some_and(|m| !m.is_empty());
    if !has_messages {
        return invalid("messages must not be empty.");
    }
    let _ = shared;
    json_response(
        200,
        &json!({
            "id": "chatcmpl-emulated",
            "object": "chat.completion",
            "created": 1_796_083_200u64,
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": reply_text(model)},
                "finish_reason": "stop",
            }],
            "usage": openai_usage(body),
        }),
    )
}

/// Whether a chat call asks for a stream (the caller sends it as SSE).
pub(crate) fn openai_stream_requested(json: &Value) -> bool {
    json.get("stream").and_then(Value::as_bool) == Some(true)
}

/// The streamed chat answer: `chunks` deltas, the last with `finish_reason` and `usage`, then
/// `[DONE]`.
pub(crate) fn openai_chat_events(
    json: &Value,
    body: &[u8],
    chunks: usize,
) -> Result<Vec<Bytes>, String> {
    let model = openai_model(json)?;
    let chunks = chunks.max(1);
    let mut events: Vec<Bytes> = (0..chunks)
        .map(|index| {
            let last = index + 1 == chunks;
            let mut chunk = json!({
                "id": "chatcmpl-emulated",
                "object": "chat.completion.chunk",
                "created": 1_796_083_200u64,
                "model": model,
                "choices": [{
                    "index": 0,
                    "delta": {"role": "assistant", "content": format!("chunk {index} of {model}. ")},
                    "finish_reason": if last { json!("stop") } else { Value::Null },
                }],
            });
            if last {
                chunk["usage"] = openai_usage(body);
            }
            Bytes::from(format!("data: {chunk}\n\n"))
        })
        .collect();
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    Ok(events)
}

fn openai_embeddings(json: &Value) -> Response<Body> {
    let model = match openai_model(json) {
        Ok(model) => model,
        Err(why) => return invalid(&why),
    };
    let inputs: Vec<String> = match json.get("input") {
        Some(Value::String(text)) => vec![text.clone()],
        Some(Value::Array(items)) => items.iter().map(|i| i.to_string()).collect(),
        _ => return invalid("input is required."),
    };
    let tokens: u64 = inputs.iter().map(|i| i.len() as u64 / 4 + 1).sum();
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, _)| json!({"object": "embedding", "index": index, "embedding": [0.125, -0.25, 0.5, 0.0625]}))
        .collect();
    json_response(
        200,
        &json!({
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }),
    )
}

/// Vertex AI Search (Discovery Engine): its hosts, and a search answer.
pub fn discovery_host(location: &str) -> Option<String> {
    match location {
        "global" => Some("discoveryengine.googleapis.com".to_owned()),
        "us" | "eu" => Some(format!("{location}-discoveryengine.googleapis.com")),
        _ => None,
    }
}

pub(crate) fn discovery_answer(method: &str, at: &ResourcePath) -> Response<Body> {
    if method == "POST" && at.tail.ends_with(":search") {
        return json_response(
            200,
            &json!({
                "results": [{"id": "doc-1", "document": {
                    "name": format!("projects/{}/locations/{}/collections/default_collection/dataStores/ds/branches/0/documents/doc-1", at.project, at.location),
                    "id": "doc-1",
                }}],
                "totalSize": 1,
                "attributionToken": "emulated",
            }),
        );
    }
    if method == "GET" && at.tail.ends_with("/dataStores") {
        return json_response(200, &json!({"dataStores": []}));
    }
    not_found(&format!("{method} {}", at.tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_paths_parse_and_odd_ones_do_not() {
        let p =
            parse_resource_path("/v1/projects/p/locations/us:retrieveContexts", &["v1"]).unwrap();
        assert_eq!(
            (p.location.as_str(), p.tail.as_str()),
            ("us", ":retrieveContexts")
        );
        let p = parse_resource_path(
            "/v1beta1/projects/p/locations/l/cachedContents/1",
            &["v1beta1"],
        )
        .unwrap();
        assert_eq!(p.tail, "/cachedContents/1");
        assert!(parse_resource_path("/v2/projects/p/locations/l/x", &["v1"]).is_none());
        assert!(parse_resource_path("/v1/projects/P/locations/l/x", &["v1"]).is_none());
        assert!(parse_resource_path("/v1/projects/p/locations/l/x/../y", &["v1"]).is_none());
    }
}
