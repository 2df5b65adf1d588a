//! HTTP plumbing shared by the emulated endpoints: the body type, JSON and Google-shaped error
//! answers, and reading what a request carries.
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use std::convert::Infallible;

pub(crate) type Body = BoxBody<Bytes, Infallible>;

/// Larger request bodies are refused; far above anything a test sends.
const MAX_REQUEST_BODY: usize = 64 * 1024 * 1024;

pub(crate) fn full_body(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// A status a test asked for may be out of range; answer 500 rather than fail.
pub(crate) fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

pub(crate) fn raw_response(
    status: u16,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut response = Response::new(full_body(body));
    *response.status_mut() = status_code(status);
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

pub(crate) fn json_response(status: u16, value: &serde_json::Value) -> Response<Body> {
    raw_response(status, "application/json; charset=UTF-8", value.to_string())
}

/// Google's error shape, which Vertex clients parse.
pub(crate) fn google_error(code: u16, status: &str, message: &str) -> Response<Body> {
    json_response(
        code,
        &serde_json::json!({"error": {"code": code, "message": message, "status": status}}),
    )
}

/// All headers, names lowercase (as `http` stores them), values lossily decoded.
pub(crate) fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

pub(crate) fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// `:authority` for HTTP/2, else the `Host` header.
pub(crate) fn authority<B>(request: &Request<B>) -> String {
    request
        .uri()
        .authority()
        .map(|authority| authority.as_str().to_owned())
        .or_else(|| header_text(request.headers(), "host").map(str::to_owned))
        .unwrap_or_default()
}

/// The host part of an authority, lowercase, without the port.
pub(crate) fn host_of(authority: &str) -> String {
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    };
    host.to_ascii_lowercase()
}

/// The token of an `Authorization: Bearer T` header (the scheme is case-insensitive).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = header_text(headers, "authorization")?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

pub(crate) fn http_version<B>(request: &Request<B>) -> String {
    match request.version() {
        hyper::Version::HTTP_2 => "h2".to_owned(),
        hyper::Version::HTTP_10 => "h1.0".to_owned(),
        _ => "h1".to_owned(),
    }
}

/// The whole request body, or why it could not be read.
pub(crate) async fn read_body(body: Incoming) -> Result<Bytes, String> {
    match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) => Err(format!("could not read the request body: {error}")),
    }
}
