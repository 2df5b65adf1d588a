//! The path forms the filter serves, read after the route prefix (docs/design.md "Requests").

use crate::error_response::{ErrorResponse, Status};
use crate::segment::{
    is_valid_location, is_valid_project, is_valid_publisher_or_model, MAX_LOCATION, MAX_SEGMENT,
};

/// A model call, `M:METHOD`, or a model's own resource (`method` is `None`: model info, a GET),
/// with whatever the path said about where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestTarget<'a> {
    pub version: &'a str,
    pub project: Option<&'a str>,
    pub location: Option<&'a str>,
    pub publisher: &'a str,
    pub model: &'a str,
    pub method: Option<&'a str>,
}

/// A call on a resource under `projects/P/locations/L` (a collection's or a location's method),
/// forwarded as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceTarget<'a> {
    pub version: &'a str,
    pub project: Option<&'a str>,
    pub location: Option<&'a str>,
    /// What follows `locations/L`: `/C/…` or `:METHOD`, its segments checked.
    pub tail: String,
    /// A custom method that takes POST only (`endpoints/E:METHOD`, `locations/L:METHOD`).
    pub post_only: bool,
}

/// The two calls of Vertex's OpenAI-compatible endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenAiApi {
    ChatCompletions,
    Embeddings,
}

impl OpenAiApi {
    /// The path under `endpoints/openapi/`.
    pub fn path(self) -> &'static str {
        match self {
            OpenAiApi::ChatCompletions => "chat/completions",
            OpenAiApi::Embeddings => "embeddings",
        }
    }
}

/// An OpenAI-compatible call: where it goes depends on its body's `model` as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenAiTarget<'a> {
    pub version: &'a str,
    pub project: Option<&'a str>,
    pub location: Option<&'a str>,
    pub api: OpenAiApi,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathForm<'a> {
    Rest(RestTarget<'a>),
    Resource(ResourceTarget<'a>),
    OpenAi(OpenAiTarget<'a>),
    /// Vertex AI Search (Discovery Engine): `project` and `location` always given.
    Discovery(ResourceTarget<'a>),
    /// A Live (BidiGenerateContent) session; `version` when the client named one.
    Live {
        version: Option<&'a str>,
    },
}

/// What `parse` needs from the configuration.
#[derive(Clone, Copy)]
pub struct Served<'a> {
    pub methods: &'a [String],
    pub collections: &'a [String],
    pub location_methods: &'a [String],
}

const DEFAULT_VERSION: &str = "v1";
const OPENAI_VERSION: &str = "v1beta1";
const DEFAULT_PUBLISHER: &str = "google";
const LIVE_SERVICE_V1: &str = "google.cloud.aiplatform.v1.LlmBidiService";
const LIVE_SERVICE_V1BETA1: &str = "google.cloud.aiplatform.v1beta1.LlmBidiService";
const EXPECTED_FORM: &str = "expected /v1/projects/PROJECT/locations/LOCATION/publishers/google/models/MODEL:METHOD (or /models/MODEL:METHOD)";
/// Segments read; a path with more is refused (no Vertex resource name is that deep).
const MAX_SEGMENTS: usize = 24;

/// `path` is what follows the route prefix, without the query string.
pub fn parse<'a>(path: &'a str, served: Served) -> Result<PathForm<'a>, ErrorResponse> {
    reject_unsafe(path)?;
    // No allocation for the model forms: this runs on every request.
    let mut segments = [""; MAX_SEGMENTS];
    let mut count = 0;
    let mut dot_segment = false;
    for segment in non_empty_segments(path) {
        dot_segment |= segment == "." || segment == "..";
        if let Some(slot) = segments.get_mut(count) {
            *slot = segment;
        }
        count += 1;
    }
    if dot_segment {
        return Err(malformed("dot segments are not allowed"));
    }
    if count > MAX_SEGMENTS {
        return Err(not_found(format!(
            "the path has more than {MAX_SEGMENTS} segments; {EXPECTED_FORM}"
        )));
    }
    let methods = served.methods;
    match segments.get(..count).unwrap_or_default() {
        ["ws", LIVE_SERVICE_V1, "BidiGenerateContent"] => Ok(PathForm::Live {
            version: Some("v1"),
        }),
        ["ws", LIVE_SERVICE_V1BETA1, "BidiGenerateContent"] => Ok(PathForm::Live {
            version: Some("v1beta1"),
        }),
        ["live"] | ["live", "stream"] | ["realtime", "connect"] => {
            Ok(PathForm::Live { version: None })
        }
        [version, "projects", project, "locations", location, "publishers", publisher, "models", call] =>
        {
            let (version, project, location) = where_to(version, project, location)?;
            rest(
                version,
                Some(project),
                Some(location),
                publisher,
                call,
                methods,
            )
        }
        [version, "publishers", publisher, "models", call] => {
            rest(api_version(version)?, None, None, publisher, call, methods)
        }
        ["publishers", publisher, "models", call] => {
            rest(DEFAULT_VERSION, None, None, publisher, call, methods)
        }
        [version, "models", call] => rest(
            api_version(version)?,
            None,
            None,
            DEFAULT_PUBLISHER,
            call,
            methods,
        ),
        ["models", call] => rest(
            DEFAULT_VERSION,
            None,
            None,
            DEFAULT_PUBLISHER,
            call,
            methods,
        ),
        ["openai", api @ ..] => openai(OPENAI_VERSION, None, None, api),
        [version, "endpoints", "openapi", api @ ..] => {
            openai(api_version(version)?, None, None, api)
        }
        [version, "projects", project, "locations", location, "endpoints", "openapi", api @ ..] => {
            let (version, project, location) = where_to(version, project, location)?;
            openai(version, Some(project), Some(location), api)
        }
        ["discovery", version, "projects", project, "locations", location, tail @ ..]
            if !tail.is_empty() =>
        {
            let version = match *version {
                "v1" | "v1beta" | "v1alpha" => *version,
                _ => {
                    return Err(not_found(format!(
                    "Vertex AI Search API version {:?} is not served; use v1, v1beta or v1alpha",
                    shown(version)
                )))
                }
            };
            let (_, project, location) = where_to("v1", project, location)?;
            Ok(PathForm::Discovery(ResourceTarget {
                version,
                project: Some(project),
                location: Some(location),
                tail: joined(tail)?,
                post_only: false,
            }))
        }
        [version, "projects", project, "locations", location_and_method] => {
            let (location, method) = location_and_method.split_once(':').ok_or_else(|| {
                not_found(format!("no Vertex AI route for this path; {EXPECTED_FORM}"))
            })?;
            let (version, project, location) = where_to(version, project, location)?;
            if !served.location_methods.iter().any(|m| m == method) {
                return Err(not_found(format!(
                    "location method {method:?} is not served by this proxy; served: {}",
                    served.location_methods.join(", ")
                )));
            }
            Ok(PathForm::Resource(ResourceTarget {
                version,
                project: Some(project),
                location: Some(location),
                tail: [":", method].concat(),
                post_only: true,
            }))
        }
        [version, "projects", project, "locations", location, tail @ ..] if !tail.is_empty() => {
            let (version, project, location) = where_to(version, project, location)?;
            resource(version, Some(project), Some(location), tail, served)
        }
        [version, tail @ ..] if !tail.is_empty() && *version != "projects" => {
            let version = api_version(version)?;
            resource(version, None, None, tail, served)
        }
        _ => Err(not_found(format!(
            "no Vertex AI route for this path; {EXPECTED_FORM}"
        ))),
    }
}

/// The version, project and location of a full path, checked.
fn where_to<'a>(
    version: &'a str,
    project: &'a str,
    location: &'a str,
) -> Result<(&'a str, &'a str, &'a str), ErrorResponse> {
    Ok((
        api_version(version)?,
        checked(project, "project", is_valid_project)?,
        checked(location, "location", is_valid_location)?,
    ))
}

fn openai<'a>(
    version: &'a str,
    project: Option<&'a str>,
    location: Option<&'a str>,
    api: &[&str],
) -> Result<PathForm<'a>, ErrorResponse> {
    let api = match api {
        ["chat", "completions"] => OpenAiApi::ChatCompletions,
        ["embeddings"] => OpenAiApi::Embeddings,
        _ => {
            return Err(not_found(
                "the OpenAI-compatible endpoint serves chat/completions and embeddings".to_string(),
            ))
        }
    };
    Ok(PathForm::OpenAi(OpenAiTarget {
        version,
        project,
        location,
        api,
    }))
}

/// `tail` starts with a collection: served ones are forwarded as they are, except that a
/// model or endpoint method must be a served method.
fn resource<'a>(
    version: &'a str,
    project: Option<&'a str>,
    location: Option<&'a str>,
    tail: &[&'a str],
    served: Served,
) -> Result<PathForm<'a>, ErrorResponse> {
    let first = tail.first().copied().unwrap_or_default();
    let collection = first.split_once(':').map_or(first, |(c, _)| c);
    if !served.collections.iter().any(|c| c == collection) {
        return Err(not_found(format!(
            "collection {:?} is not served by this proxy; served: {}",
            shown(collection),
            served.collections.join(", ")
        )));
    }
    let model_or_endpoint_method = match tail {
        ["endpoints", call] => call.split_once(':').map(|(_, m)| m),
        ["publishers", _, "models", call] => call.split_once(':').map(|(_, m)| m),
        _ => None,
    };
    if let Some(method) = model_or_endpoint_method {
        if !served.methods.iter().any(|m| m == method) {
            return Err(method_not_served(method, served.methods));
        }
    }
    Ok(PathForm::Resource(ResourceTarget {
        version,
        project,
        location,
        tail: joined(tail)?,
        post_only: model_or_endpoint_method.is_some(),
    }))
}

/// `/a/b/c` from checked segments.
fn joined(tail: &[&str]) -> Result<String, ErrorResponse> {
    let mut path = String::with_capacity(tail.iter().map(|s| s.len() + 1).sum());
    for segment in tail {
        if !is_valid_resource_segment(segment) {
            return Err(ErrorResponse::new(
                Status::InvalidArgument,
                format!("a resource segment in the path is not valid: use letters, digits and . _ @ : -, at most {MAX_SEGMENT} characters"),
            ));
        }
        path.push('/');
        path.push_str(segment);
    }
    Ok(path)
}

/// Resource ids and custom methods: `[A-Za-z0-9._@:-]`.
fn is_valid_resource_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment.len() <= MAX_SEGMENT
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b':' | b'-'))
}

/// At most 64 printable characters of something the client sent, for an error message.
fn shown(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect()
}

fn method_not_served(method: &str, methods: &[String]) -> ErrorResponse {
    not_found(format!(
        "method {:?} is not served by this proxy; supported: {}",
        shown(method),
        methods.join(", ")
    ))
}

fn rest<'a>(
    version: &'a str,
    project: Option<&'a str>,
    location: Option<&'a str>,
    publisher: &'a str,
    call: &'a str,
    methods: &[String],
) -> Result<PathForm<'a>, ErrorResponse> {
    let publisher = checked(publisher, "publisher", is_valid_publisher_or_model)?;
    let (model, method) = match call.rsplit_once(':') {
        Some((model, method)) => (model, Some(method)),
        None => (call, None),
    };
    let model = checked(model, "model", is_valid_publisher_or_model)?;
    if let Some(method) = method {
        if !methods.iter().any(|m| m == method) {
            return Err(method_not_served(method, methods));
        }
    }
    Ok(PathForm::Rest(RestTarget {
        version,
        project,
        location,
        publisher,
        model,
        method,
    }))
}

fn api_version(version: &str) -> Result<&str, ErrorResponse> {
    match version {
        "v1" | "v1beta1" => Ok(version),
        _ => Err(not_found(format!(
            "API version {version:?} is not served; use v1 or v1beta1"
        ))),
    }
}

fn checked<'a>(
    segment: &'a str,
    what: &str,
    valid: fn(&str) -> bool,
) -> Result<&'a str, ErrorResponse> {
    if valid(segment) {
        Ok(segment)
    } else {
        let (allowed, most) = match what {
            "project" => ("lowercase letters, digits and '-'", MAX_SEGMENT),
            "location" => ("lowercase letters, digits and '-'", MAX_LOCATION),
            _ => ("letters, digits and . _ @ -", MAX_SEGMENT),
        };
        Err(ErrorResponse::new(
            Status::InvalidArgument,
            format!(
                "the {what} in the path is not valid: use {allowed}, at most {most} characters"
            ),
        ))
    }
}

/// The segments between slashes, repeated slashes merged (the google-genai SDK sends `//ws/`).
/// A plain byte scan: `str::split` costs several times more, on every request.
fn non_empty_segments(path: &str) -> impl Iterator<Item = &str> {
    let mut rest = path;
    std::iter::from_fn(move || {
        let start = rest.bytes().position(|b| b != b'/')?;
        let tail = rest.get(start..)?;
        let end = tail.bytes().position(|b| b == b'/').unwrap_or(tail.len());
        let (segment, after) = tail.split_at_checked(end)?;
        rest = after;
        Some(segment)
    })
}

/// Refused before looking at the shape: nothing here may be turned into another path upstream.
/// One pass over the bytes; dot segments are refused as the segments are read.
fn reject_unsafe(path: &str) -> Result<(), ErrorResponse> {
    let mut escaped_separator = false;
    let mut escaped_dot = false;
    let bytes = path.as_bytes();
    for (at, &b) in bytes.iter().enumerate() {
        match b {
            0..=0x1f | 0x7f => return Err(malformed("control characters are not allowed")),
            b'\\' => escaped_separator = true,
            b'%' => {
                let digits = bytes.get(at + 1..at + 3).unwrap_or_default();
                escaped_separator |=
                    digits.eq_ignore_ascii_case(b"2f") || digits.eq_ignore_ascii_case(b"5c");
                escaped_dot |= digits.eq_ignore_ascii_case(b"2e");
            }
            _ => {}
        }
    }
    if escaped_separator {
        return Err(malformed("encoded slashes and backslashes are not allowed"));
    }
    if escaped_dot {
        return Err(malformed("dot segments are not allowed"));
    }
    Ok(())
}

fn malformed(why: &str) -> ErrorResponse {
    ErrorResponse::new(Status::InvalidArgument, format!("malformed path: {why}"))
}

fn not_found(message: String) -> ErrorResponse {
    ErrorResponse::new(Status::NotFound, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEFAULT_COLLECTIONS, DEFAULT_LOCATION_METHODS, DEFAULT_METHODS};
    use std::sync::LazyLock;

    fn owned(names: &[&str]) -> Vec<String> {
        names.iter().map(|m| m.to_string()).collect()
    }

    static METHODS: LazyLock<Vec<String>> = LazyLock::new(|| owned(&DEFAULT_METHODS));
    static COLLECTIONS: LazyLock<Vec<String>> = LazyLock::new(|| owned(&DEFAULT_COLLECTIONS));
    static LOCATION_METHODS: LazyLock<Vec<String>> =
        LazyLock::new(|| owned(&DEFAULT_LOCATION_METHODS));

    fn served() -> Served<'static> {
        Served {
            methods: &METHODS,
            collections: &COLLECTIONS,
            location_methods: &LOCATION_METHODS,
        }
    }

    fn rest_target(path: &str) -> RestTarget<'_> {
        match parse(path, served()) {
            Ok(PathForm::Rest(t)) => t,
            other => panic!("{path}: {other:?}"),
        }
    }

    fn resource_target(path: &str) -> ResourceTarget<'_> {
        match parse(path, served()) {
            Ok(PathForm::Resource(t)) => t,
            other => panic!("{path}: {other:?}"),
        }
    }

    fn refusal(path: &str) -> ErrorResponse {
        match parse(path, served()) {
            Err(e) => e,
            Ok(t) => panic!("{path} was accepted as {t:?}"),
        }
    }

    fn status(path: &str) -> Status {
        refusal(path).status
    }

    #[test]
    fn collections_under_a_location_are_resources() {
        let t = resource_target("/v1beta1/projects/p-1/locations/us-central1/cachedContents/123");
        assert_eq!(
            t,
            ResourceTarget {
                version: "v1beta1",
                project: Some("p-1"),
                location: Some("us-central1"),
                tail: "/cachedContents/123".to_string(),
                post_only: false,
            }
        );
        let t = resource_target("/v1/projects/p/locations/l/batchPredictionJobs");
        assert_eq!(t.tail, "/batchPredictionJobs");
        let t = resource_target("/v1/projects/p/locations/l/tuningJobs/9:cancel");
        assert_eq!(
            (t.tail.as_str(), t.post_only),
            ("/tuningJobs/9:cancel", false)
        );
        let t = resource_target("/v1/projects/p/locations/l/ragCorpora/1/ragFiles:import");
        assert_eq!(t.tail, "/ragCorpora/1/ragFiles:import");
        let t = resource_target(
            "/v1/projects/p/locations/l/publishers/google/models/veo/operations/abc",
        );
        assert_eq!(t.tail, "/publishers/google/models/veo/operations/abc");
    }

    #[test]
    fn the_short_resource_form_leaves_project_and_location_open() {
        let t = resource_target("/v1/cachedContents/7");
        assert_eq!(
            (t.project, t.location, t.tail.as_str()),
            (None, None, "/cachedContents/7")
        );
    }

    #[test]
    fn a_collection_not_served_is_not_found_and_the_served_ones_are_named() {
        let e = refusal("/v1/projects/p/locations/l/featureStores/1");
        assert_eq!(e.status, Status::NotFound);
        assert!(e.message.contains("featureStores"), "{}", e.message);
        assert!(
            e.message.contains("cachedContents, batchPredictionJobs"),
            "{}",
            e.message
        );
        assert_eq!(status("/v1/datasets"), Status::NotFound);
        assert_eq!(
            status("/v1/projects/p/models/m:generateContent"),
            Status::NotFound
        );
    }

    #[test]
    fn location_methods_are_served_when_listed() {
        let t = resource_target("/v1beta1/projects/p/locations/us-central1:retrieveContexts");
        assert_eq!((t.tail.as_str(), t.post_only), (":retrieveContexts", true));
        assert_eq!(
            status("/v1/projects/p/locations/us-central1:deleteAll"),
            Status::NotFound
        );
        assert_eq!(
            status("/v1/projects/p/locations/us-central1"),
            Status::NotFound
        );
    }

    #[test]
    fn endpoint_methods_must_be_served_methods() {
        let t = resource_target("/v1/projects/p/locations/l/endpoints/123:generateContent");
        assert_eq!(
            (t.tail.as_str(), t.post_only),
            ("/endpoints/123:generateContent", true)
        );
        let t = resource_target("/v1/projects/p/locations/l/endpoints/123");
        assert!(!t.post_only);
        assert_eq!(
            status("/v1/projects/p/locations/l/endpoints/123:undeployModel"),
            Status::NotFound
        );
    }

    #[test]
    fn veo_methods_are_served_by_default() {
        for method in ["predictLongRunning", "fetchPredictOperation"] {
            let path =
                format!("/v1/projects/p/locations/l/publishers/google/models/veo-3:{method}");
            assert_eq!(rest_target(&path).method, Some(method));
        }
    }

    #[test]
    fn a_model_without_a_method_is_its_description() {
        let t = rest_target("/v1/projects/p/locations/l/publishers/google/models/gemini-2.0-flash");
        assert_eq!((t.model, t.method), ("gemini-2.0-flash", None));
    }

    #[test]
    fn resource_ids_are_checked_segment_by_segment() {
        for path in [
            "/v1/projects/p/locations/l/cachedContents/a%20b",
            "/v1/projects/p/locations/l/cachedContents/a b",
            "/v1/projects/p/locations/l/cachedContents/a~b",
            "/v1/cachedContents/é",
        ] {
            assert_eq!(status(path), Status::InvalidArgument, "{path}");
        }
        for path in [
            "/v1/projects/p/locations/l/cachedContents/../../../x",
            "/v1/projects/p/locations/l/cachedContents/%2e%2e",
            "/v1/projects/p/locations/l/cachedContents/a%2Fb",
            "/v1/cachedContents/..",
            "/discovery/v1/projects/p/locations/global/collections/../x",
            "/v1/projects/p/locations/l/cachedContents/a\u{1}b",
        ] {
            assert_eq!(status(path), Status::InvalidArgument, "{path}");
        }
        let deep = format!("/v1/cachedContents{}", "/a".repeat(MAX_SEGMENTS));
        assert_eq!(status(&deep), Status::NotFound);
    }

    #[test]
    fn openai_paths_are_recognised_in_both_forms() {
        assert_eq!(
            parse("/openai/chat/completions", served()),
            Ok(PathForm::OpenAi(OpenAiTarget {
                version: "v1beta1",
                project: None,
                location: None,
                api: OpenAiApi::ChatCompletions,
            }))
        );
        assert_eq!(
            parse(
                "/v1/projects/p/locations/global/endpoints/openapi/embeddings",
                served()
            ),
            Ok(PathForm::OpenAi(OpenAiTarget {
                version: "v1",
                project: Some("p"),
                location: Some("global"),
                api: OpenAiApi::Embeddings,
            }))
        );
        assert_eq!(status("/openai/completions"), Status::NotFound);
        assert_eq!(
            status("/v1/projects/p/locations/l/endpoints/openapi/models"),
            Status::NotFound
        );
    }

    #[test]
    fn search_paths_keep_their_tail() {
        match parse(
            "/discovery/v1/projects/p/locations/global/collections/default_collection/engines/e/servingConfigs/default_search:search",
            served(),
        ) {
            Ok(PathForm::Discovery(t)) => assert_eq!(
                (t.project, t.location, t.tail.as_str()),
                (
                    Some("p"),
                    Some("global"),
                    "/collections/default_collection/engines/e/servingConfigs/default_search:search"
                )
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            status("/discovery/v1/projects/p/locations/global"),
            Status::NotFound
        );
        assert_eq!(
            status("/discovery/v1/projects/P/locations/global/dataStores"),
            Status::InvalidArgument
        );
    }

    #[test]
    fn full_form_keeps_every_part() {
        let t = rest_target("/v1beta1/projects/p-1/locations/us-central1/publishers/google/models/gemini-2.0-flash:streamGenerateContent");
        assert_eq!(
            t,
            RestTarget {
                version: "v1beta1",
                project: Some("p-1"),
                location: Some("us-central1"),
                publisher: "google",
                model: "gemini-2.0-flash",
                method: Some("streamGenerateContent")
            }
        );
    }

    #[test]
    fn short_forms_default_version_and_publisher() {
        let t = rest_target("/models/gemini-2.0-flash:generateContent");
        assert_eq!(
            (t.version, t.publisher, t.project, t.location),
            ("v1", "google", None, None)
        );
        let t = rest_target("/publishers/anthropic/models/claude-3-5-sonnet@20240620:rawPredict");
        assert_eq!(
            (t.version, t.publisher, t.model),
            ("v1", "anthropic", "claude-3-5-sonnet@20240620")
        );
        let t = rest_target("/v1beta1/publishers/google/models/m:countTokens");
        assert_eq!(t.version, "v1beta1");
    }

    #[test]
    fn repeated_slashes_are_merged() {
        let t = rest_target("//v1//models///m:generateContent");
        assert_eq!(t.model, "m");
    }

    #[test]
    fn live_paths_are_recognised_with_their_version() {
        let m = served();
        assert_eq!(
            parse(
                "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent",
                m
            ),
            Ok(PathForm::Live {
                version: Some("v1beta1")
            })
        );
        assert_eq!(
            parse(
                "//ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent",
                m
            ),
            Ok(PathForm::Live {
                version: Some("v1")
            })
        );
        for path in ["/live", "/live/stream", "/realtime/connect"] {
            assert_eq!(parse(path, m), Ok(PathForm::Live { version: None }));
        }
    }

    #[test]
    fn unknown_method_is_not_found() {
        assert_eq!(status("/models/m:deleteEverything"), Status::NotFound);
        assert_eq!(status("/models/m:"), Status::NotFound);
    }

    #[test]
    fn unknown_shapes_and_versions_are_not_found() {
        for path in [
            "",
            "/",
            "/v2/models/m:generateContent",
            "/v1/projects/p/models/m:generateContent",
            "/admin",
        ] {
            assert_eq!(status(path), Status::NotFound, "{path}");
        }
    }

    #[test]
    fn traversal_and_encoded_separators_are_invalid() {
        for path in [
            "/v1/projects/../locations/l/publishers/google/models/m:generateContent",
            "/models/..:generateContent",
            "/models/a%2Fb:generateContent",
            "/models/a%2fb:generateContent",
            "/models/%2e%2e:generateContent",
            "/models/a\\b:generateContent",
            "/models/a\r\nb:generateContent",
        ] {
            assert_eq!(status(path), Status::InvalidArgument, "{path:?}");
        }
    }

    #[test]
    fn bad_segments_are_invalid() {
        assert_eq!(status("/v1/projects/My_Project/locations/us-central1/publishers/google/models/m:generateContent"), Status::InvalidArgument);
        assert_eq!(
            status(&format!("/models/{}:generateContent", "m".repeat(129))),
            Status::InvalidArgument
        );
        assert_eq!(
            status("/models/gém:generateContent"),
            Status::InvalidArgument
        );
    }
}
