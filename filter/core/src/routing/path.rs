//! The path forms the filter serves, read after the route prefix (docs/design.md "Requests").

use crate::error_response::{ErrorResponse, Status};
use crate::segment::{
    is_valid_location, is_valid_project, is_valid_publisher_or_model, MAX_LOCATION, MAX_SEGMENT,
};

/// A REST call: `M:METHOD` with whatever the path said about where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestTarget<'a> {
    pub version: &'a str,
    pub project: Option<&'a str>,
    pub location: Option<&'a str>,
    pub publisher: &'a str,
    pub model: &'a str,
    pub method: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathForm<'a> {
    Rest(RestTarget<'a>),
    /// A Live (BidiGenerateContent) session; `version` when the client named one.
    Live {
        version: Option<&'a str>,
    },
}

const DEFAULT_VERSION: &str = "v1";
const DEFAULT_PUBLISHER: &str = "google";
const LIVE_SERVICE_V1: &str = "google.cloud.aiplatform.v1.LlmBidiService";
const LIVE_SERVICE_V1BETA1: &str = "google.cloud.aiplatform.v1beta1.LlmBidiService";
const EXPECTED_FORM: &str = "expected /v1/projects/PROJECT/locations/LOCATION/publishers/google/models/MODEL:METHOD (or /models/MODEL:METHOD)";

/// `path` is what follows the route prefix, without the query string.
pub fn parse<'a>(path: &'a str, methods: &[String]) -> Result<PathForm<'a>, ErrorResponse> {
    reject_unsafe(path)?;
    // The longest form has 9 segments; a 10th means no form matches. No allocation: this runs
    // on every request.
    let mut segments = [""; 10];
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
            let version = api_version(version)?;
            let project = checked(project, "project", is_valid_project)?;
            let location = checked(location, "location", is_valid_location)?;
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
        _ => Err(not_found(format!(
            "no Vertex AI route for this path; {EXPECTED_FORM}"
        ))),
    }
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
    let (model, method) = call
        .rsplit_once(':')
        .ok_or_else(|| not_found(format!("the path names no method: {EXPECTED_FORM}")))?;
    let model = checked(model, "model", is_valid_publisher_or_model)?;
    if !methods.iter().any(|m| m == method) {
        return Err(not_found(format!(
            "method {method:?} is not served by this proxy; supported: {}",
            methods.join(", ")
        )));
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
    use crate::config::DEFAULT_METHODS;

    fn methods() -> Vec<String> {
        DEFAULT_METHODS.iter().map(|m| m.to_string()).collect()
    }

    fn rest_target(path: &str) -> RestTarget<'_> {
        let methods = methods();
        match parse(path, &methods) {
            Ok(PathForm::Rest(t)) => RestTarget { ..t },
            other => panic!("{path}: {other:?}"),
        }
    }

    fn status(path: &str) -> Status {
        match parse(path, &methods()) {
            Err(e) => e.status,
            Ok(t) => panic!("{path} was accepted as {t:?}"),
        }
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
                method: "streamGenerateContent"
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
        let m = methods();
        assert_eq!(
            parse(
                "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent",
                &m
            ),
            Ok(PathForm::Live {
                version: Some("v1beta1")
            })
        );
        assert_eq!(
            parse(
                "//ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent",
                &m
            ),
            Ok(PathForm::Live {
                version: Some("v1")
            })
        );
        for path in ["/live", "/live/stream", "/realtime/connect"] {
            assert_eq!(parse(path, &m), Ok(PathForm::Live { version: None }));
        }
    }

    #[test]
    fn unknown_method_is_not_found() {
        assert_eq!(status("/models/m:deleteEverything"), Status::NotFound);
        assert_eq!(status("/models/m"), Status::NotFound);
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
