//! The Vertex AI REST surface: authentication, the host-for-location rule, the model methods,
//! and the canned answers a test queues. Live upgrades are handed to `live`.
use super::http::{
    authority, bearer_token, google_error, header_pairs, host_of, http_version, json_response,
    read_body, Body,
};
use super::live;
use super::record::VertexRequest;
use super::server::ConnectionInfo;
use super::sse::PacedEvents;
use super::state::{lock, Shared};
use super::vertex_answers as answers;
use super::vertex_auth::{authenticate, Caller};
use super::vertex_resources as resources;
use super::vertex_route::{parse_model_call, vertex_host, ModelCall, LIVE_PATHS};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response};
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;

/// What a Vertex request carried, read before its body.
pub(crate) struct Arrival {
    pub order: u64,
    pub authority: String,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub bearer: Option<String>,
    pub sni: Option<String>,
    pub http_version: String,
    pub received_at: Instant,
}

impl Arrival {
    pub fn of<B>(shared: &Shared, request: &Request<B>, info: &ConnectionInfo) -> Arrival {
        Arrival {
            order: shared.next_arrival(),
            authority: authority(request),
            method: request.method().to_string(),
            path: request.uri().path().to_owned(),
            query: request.uri().query().map(str::to_owned),
            headers: header_pairs(request.headers()),
            bearer: bearer_token(request.headers()),
            sni: info.sni.clone(),
            http_version: http_version(request),
            received_at: Instant::now(),
        }
    }

    pub fn record(&self, caller: &Caller, body: Bytes) -> VertexRequest {
        VertexRequest {
            arrival: self.order,
            authority: self.authority.clone(),
            method: self.method.clone(),
            path: self.path.clone(),
            query: self.query.clone(),
            headers: self.headers.clone(),
            body,
            bearer: self.bearer.clone(),
            token_subject: caller.subject.clone(),
            token_expired: caller.expired,
            status: 0,
            received_at: self.received_at,
            sni: self.sni.clone(),
            http_version: self.http_version.clone(),
        }
    }

    fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }
}

/// Records a request (status still 0) and returns its index, so streamed chunks can refer to it.
pub(crate) fn reserve_record(shared: &Shared, record: VertexRequest) -> usize {
    let mut records = lock(&shared.records);
    records.vertex_requests.push(record);
    records.vertex_requests.len() - 1
}

pub(crate) fn finish_record(shared: &Shared, index: usize, status: u16) {
    if let Some(record) = lock(&shared.records).vertex_requests.get_mut(index) {
        record.status = status;
    }
}

pub(crate) async fn handle(
    shared: Arc<Shared>,
    info: &ConnectionInfo,
    request: Request<Incoming>,
) -> Response<Body> {
    if LIVE_PATHS.contains(&request.uri().path()) {
        return live::upgrade(shared, info, request);
    }
    let arrival = Arrival::of(&shared, &request, info);
    let has_api_key =
        request.headers().contains_key("x-goog-api-key") || arrival.query_param("key").is_some();
    let body = read_body(request.into_body()).await;
    let caller = authenticate(&shared, arrival.bearer.as_deref());
    let recorded_body = body.clone().unwrap_or_default();
    let index = reserve_record(&shared, arrival.record(&caller, recorded_body));

    let response = answer(&shared, index, &arrival, caller, has_api_key, body);
    let status = response.status().as_u16();
    finish_record(&shared, index, status);
    shared.log("vertex", &arrival.method, &arrival.path, status);
    response
}

fn answer(
    shared: &Arc<Shared>,
    index: usize,
    arrival: &Arrival,
    caller: Caller,
    has_api_key: bool,
    body: Result<Bytes, String>,
) -> Response<Body> {
    if let Some(refusal) = caller.refusal {
        return refusal;
    }
    // This emulator hands out no API keys, so any key is one Google would not know.
    if has_api_key {
        return google_error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
        );
    }
    let body = match body {
        Ok(body) => body,
        Err(why) => return google_error(400, "INVALID_ARGUMENT", &why),
    };
    let subject = caller.subject.clone().unwrap_or_default();
    if host_of(&arrival.authority).ends_with("discoveryengine.googleapis.com") {
        return discovery(shared, arrival, &subject);
    }
    let Some(call) = parse_model_call(&arrival.path) else {
        return resource(shared, index, arrival, &subject, &body);
    };
    if let Some(refusal) =
        refusal_of_host(arrival, &call.location, Some(vertex_host(&call.location)))
    {
        return refusal;
    }
    if !shared.may_use_project(&subject, &call.project) {
        return google_error(
            403,
            "PERMISSION_DENIED",
            &format!(
                "Permission 'aiplatform.endpoints.predict' denied on resource \
                 '//aiplatform.googleapis.com/projects/{}/locations/{}/publishers/{}/models/{}' \
                 (or it may not exist).",
                call.project, call.location, call.publisher, call.model
            ),
        );
    }
    if arrival.method != Method::POST.as_str() {
        return google_error(
            404,
            "NOT_FOUND",
            &format!("{} is not supported on {}.", arrival.method, arrival.path),
        );
    }
    let Ok(json) = serde_json::from_slice::<Value>(&body) else {
        return google_error(
            400,
            "INVALID_ARGUMENT",
            "Invalid JSON payload received. The request body is not valid JSON.",
        );
    };
    model_method(shared, index, arrival, &call, &json, &body)
}

fn not_found_url(path: &str) -> Response<Body> {
    google_error(
        404,
        "NOT_FOUND",
        &format!("The requested URL {path} was not found on this server."),
    )
}

/// A JSON body, or `Null` for none (GET and DELETE have none); `None` when it is not JSON.
fn json_body(body: &[u8]) -> Option<Value> {
    if body.is_empty() {
        return Some(Value::Null);
    }
    serde_json::from_slice(body).ok()
}

fn permission_denied(resource: &str) -> Response<Body> {
    google_error(
        403,
        "PERMISSION_DENIED",
        &format!("Permission denied on resource '{resource}' (or it may not exist)."),
    )
}

/// A call on a resource under `projects/P/locations/L`: on the location's host, for a caller
/// allowed into P.
fn resource(
    shared: &Arc<Shared>,
    index: usize,
    arrival: &Arrival,
    subject: &str,
    body: &[u8],
) -> Response<Body> {
    let Some(at) = resources::parse_resource_path(&arrival.path, &["v1", "v1beta1"]) else {
        return not_found_url(&arrival.path);
    };
    if let Some(refusal) = refusal_of_place(
        shared,
        arrival,
        subject,
        &at,
        Some(vertex_host(&at.location)),
    ) {
        return refusal;
    }
    let Some(json) = json_body(body) else {
        return google_error(
            400,
            "INVALID_ARGUMENT",
            "Invalid JSON payload received. The request body is not valid JSON.",
        );
    };
    let chat = at.tail == "/endpoints/openapi/chat/completions";
    if chat && arrival.method == "POST" && resources::openai_stream_requested(&json) {
        return match resources::openai_chat_events(&json, body, shared.sse_chunks) {
            Ok(events) => event_stream(shared, index, events),
            Err(why) => google_error(400, "INVALID_ARGUMENT", &why),
        };
    }
    resources::answer(shared, &arrival.method, &at, &json, body)
}

/// Google's refusal of a call for `location` that did not reach the host serving it
/// (`serving_host`; `None` where no host serves it).
fn refusal_of_host(
    arrival: &Arrival,
    location: &str,
    serving_host: Option<String>,
) -> Option<Response<Body>> {
    if serving_host.as_deref() == Some(host_of(&arrival.authority).as_str()) {
        return None;
    }
    let served_by = serving_host.unwrap_or_else(|| "no host".to_string());
    Some(google_error(
        400,
        "INVALID_ARGUMENT",
        &format!(
            "Location {location} is served by {served_by}, but the request was sent to {}.",
            arrival.authority
        ),
    ))
}

/// Google's refusal of a call on `projects/P/locations/L/…`, if it has one: the call must reach
/// the host serving L, for a caller allowed into P.
fn refusal_of_place(
    shared: &Shared,
    arrival: &Arrival,
    subject: &str,
    at: &resources::ResourcePath,
    serving_host: Option<String>,
) -> Option<Response<Body>> {
    refusal_of_host(arrival, &at.location, serving_host).or_else(|| {
        (!shared.may_use_project(subject, &at.project)).then(|| {
            permission_denied(&format!(
                "projects/{}/locations/{}",
                at.project, at.location
            ))
        })
    })
}

/// Vertex AI Search on a Discovery Engine host.
fn discovery(shared: &Arc<Shared>, arrival: &Arrival, subject: &str) -> Response<Body> {
    let Some(at) = resources::parse_resource_path(&arrival.path, &["v1", "v1beta", "v1alpha"])
    else {
        return not_found_url(&arrival.path);
    };
    if let Some(refusal) = refusal_of_place(
        shared,
        arrival,
        subject,
        &at,
        resources::discovery_host(&at.location),
    ) {
        return refusal;
    }
    resources::discovery_answer(&arrival.method, &at)
}

fn has_contents(json: &Value) -> bool {
    json.get("contents")
        .and_then(Value::as_array)
        .is_some_and(|contents| !contents.is_empty())
}

fn model_method(
    shared: &Arc<Shared>,
    index: usize,
    arrival: &Arrival,
    call: &ModelCall,
    json: &Value,
    body: &[u8],
) -> Response<Body> {
    let model = call.model.as_str();
    let needs_contents = matches!(
        call.method.as_str(),
        "generateContent" | "streamGenerateContent"
    );
    if needs_contents && !has_contents(json) {
        return google_error(
            400,
            "INVALID_ARGUMENT",
            "Unable to submit request because it must have at least one contents field.",
        );
    }
    let place = (call.project.clone(), call.location.clone());
    if lock(&shared.controls).exhausted.contains(&place) {
        return google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Resource exhausted. Please try again later. Please refer to \
             https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.",
        );
    }
    // A queued answer replaces the model's, for a request that passed every check.
    let queued = lock(&shared.controls).vertex_overrides.pop_front();
    if let Some((status, value)) = queued {
        return json_response(status, &value);
    }
    match call.method.as_str() {
        "generateContent" => json_response(200, &answers::generate_content(model, body)),
        "streamGenerateContent" => {
            let chunks = answers::generate_content_chunks(model, body, shared.sse_chunks);
            if arrival.query_param("alt").as_deref() == Some("sse") {
                event_stream(shared, index, answers::gemini_sse_events(&chunks))
            } else {
                json_response(200, &Value::Array(chunks))
            }
        }
        "countTokens" => json_response(200, &answers::count_tokens(body)),
        "computeTokens" => json_response(200, &answers::compute_tokens(body)),
        "embedContent" => json_response(200, &answers::embed_content()),
        "predict" => json_response(200, &answers::predict(model)),
        "serverStreamingPredict" => {
            json_response(200, &Value::Array(vec![answers::predict(model)]))
        }
        "rawPredict" | "streamRawPredict"
            if call.publisher == "anthropic" && json.get("anthropic_version").is_none() =>
        {
            google_error(
                400,
                "INVALID_ARGUMENT",
                "anthropic_version: field required (use vertex-2023-10-16).",
            )
        }
        "predictLongRunning" => resources::predict_long_running(shared, &call.name(), json),
        "fetchPredictOperation" => resources::fetch_predict_operation(shared, &call.name(), json),
        "rawPredict" if call.publisher == "anthropic" => {
            json_response(200, &answers::anthropic_message(model, body))
        }
        "rawPredict" => json_response(200, &answers::predict(model)),
        "streamRawPredict" => event_stream(
            shared,
            index,
            answers::anthropic_sse_events(model, body, shared.sse_chunks),
        ),
        other => google_error(
            404,
            "NOT_FOUND",
            &format!("Method {other} is not found for model {model}."),
        ),
    }
}

fn event_stream(shared: &Arc<Shared>, index: usize, chunks: Vec<Bytes>) -> Response<Body> {
    let body = PacedEvents::new(Arc::clone(shared), index, chunks).boxed();
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
