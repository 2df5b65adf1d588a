//! The GCE/GKE metadata server's token path, with the header checks the real one makes.
use super::http::{authority, header_pairs, header_text, host_of, Body};
use super::record::{TokenEndpoint, TokenRequest};
use super::state::{lock, Shared};
use super::token_reply::{answer_verified, plain_refusal, TokenAnswer};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{HeaderMap, Method, Request, Response};
use std::sync::Arc;
use std::time::SystemTime;

pub const METADATA_TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";
/// The subject recorded for tokens the metadata server issues.
pub const METADATA_SUBJECT: &str = "metadata";
/// The names the metadata server answers to on a GCE or GKE node.
const METADATA_HOSTS: [&str; 3] = ["metadata.google.internal", "metadata", "169.254.169.254"];

pub(crate) async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Response<Body> {
    let arrival = shared.next_arrival();
    let at = SystemTime::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let authority = authority(&request);
    let answer = if METADATA_HOSTS.contains(&host_of(&authority).as_str()) {
        decide(&shared, &method, &path, request.headers())
    } else {
        plain_refusal(404, "wrong_host", "Not Found")
    };
    shared.log("metadata", method.as_str(), &path, answer.status());
    lock(&shared.records).token_requests.push(TokenRequest {
        arrival,
        at,
        endpoint: TokenEndpoint::Metadata,
        grant_type: None,
        subject: Some(METADATA_SUBJECT.to_owned()),
        outcome: answer.outcome.clone(),
        headers: header_pairs(request.headers()),
        authority,
        method: method.to_string(),
        path,
    });
    match answer.response {
        Some(mut response) => {
            response
                .headers_mut()
                .insert("metadata-flavor", HeaderValue::from_static("Google"));
            response
        }
        None => std::future::pending().await,
    }
}

fn decide(shared: &Shared, method: &Method, path: &str, headers: &HeaderMap) -> TokenAnswer {
    if path != METADATA_TOKEN_PATH {
        return plain_refusal(404, "not_found", "Not Found");
    }
    if header_text(headers, "metadata-flavor") != Some("Google") {
        return plain_refusal(
            403,
            "missing_metadata_flavor",
            "Missing Metadata-Flavor:Google header.",
        );
    }
    // The metadata server refuses anything that looks proxied.
    if headers.contains_key("x-forwarded-for") {
        return plain_refusal(
            403,
            "x_forwarded_for",
            "Request had an X-Forwarded-For header and was refused.",
        );
    }
    if method != Method::GET {
        return plain_refusal(405, "method_not_allowed", "Method Not Allowed");
    }
    answer_verified(shared, METADATA_SUBJECT)
}
