//! Requests: which path forms are served, where they go, and what is refused.

pub mod host;
pub mod memo;
pub mod path;
pub mod query;
pub mod resolve;

use crate::config::Config;
use crate::error_response::{ErrorResponse, Status};
pub use resolve::{Destination, LiveTarget};

/// The part of `:path` after a configured route prefix, with the prefix that matched;
/// `None` when the request is not for this filter.
pub fn strip_prefix<'a, 'c>(config: &'c Config, path: &'a str) -> Option<(&'c str, &'a str)> {
    config.route_prefixes.iter().find_map(|prefix| {
        let rest = path.strip_prefix(prefix.as_str())?;
        matches!(rest.bytes().next(), None | Some(b'/') | Some(b'?'))
            .then_some((prefix.as_str(), rest))
    })
}

/// Decide where a request under the prefix goes. `rest` is the path after the prefix, query
/// included; `upgrade` is true for a WebSocket upgrade. An alias with several deployments
/// resolves to its first (`route_to` names another).
pub fn route(
    config: &Config,
    prefix: &str,
    rest: &str,
    upgrade: bool,
) -> Result<Destination, ErrorResponse> {
    route_to(config, prefix, rest, upgrade, 0)
}

/// `route`, with an alias of several deployments resolved to its deployment `deployment`.
pub fn route_to(
    config: &Config,
    prefix: &str,
    rest: &str,
    upgrade: bool,
    deployment: usize,
) -> Result<Destination, ErrorResponse> {
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let forwarded_query = query::forwarded(query);
    match path::parse(path, &config.methods)? {
        path::PathForm::Rest(_) if upgrade => Err(ErrorResponse::new(
            Status::InvalidArgument,
            format!("this Vertex AI method is a plain POST, not a WebSocket: send it without an upgrade (the Live API is at {prefix}/live)"),
        )),
        path::PathForm::Rest(target) => {
            resolve::rest(config, &target, forwarded_query.as_deref(), deployment)
        }
        path::PathForm::Live { version } if upgrade => {
            let model = query::param(query, "model");
            let query = forwarded_query.as_deref();
            resolve::live_to(config, version, model.as_deref(), query, deployment)
        }
        path::PathForm::Live { .. } => Err(ErrorResponse::new(
            Status::FailedPrecondition,
            format!("this is the Gemini Live API: connect with a WebSocket upgrade, e.g. ws://HOST{prefix}/live?model=ALIAS"),
        )),
    }
}

/// The HTTP method a request under the prefix may use: Vertex AI's model methods are POSTs,
/// and a Live session starts with a GET upgrade (Envoy presents an HTTP/2 WebSocket `CONNECT`
/// to filters the same way). Anything else would only reach Vertex to be refused there.
/// Check it once `route` has accepted the request, so a Live path without an upgrade still
/// gets `route`'s 426 that says how to connect.
pub fn check_http_method(method: &str, upgrade: bool) -> Result<(), ErrorResponse> {
    let expected = if upgrade { "GET" } else { "POST" };
    if method == expected || (upgrade && method == "CONNECT") {
        return Ok(());
    }
    let shown: String = method
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(32)
        .collect();
    Err(ErrorResponse::new(
        Status::NotFound,
        if upgrade {
            format!(
                "{shown} is not supported for the Live API: open the WebSocket with a GET upgrade"
            )
        } else {
            format!("{shown} is not supported here: Vertex AI model methods take POST")
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_methods_take_post_and_live_takes_a_get_upgrade() {
        assert_eq!(check_http_method("POST", false), Ok(()));
        assert_eq!(check_http_method("GET", true), Ok(()));
        assert_eq!(check_http_method("CONNECT", true), Ok(()));
        for (method, upgrade) in [
            ("GET", false),
            ("DELETE", false),
            ("PUT", false),
            ("OPTIONS", false),
            ("post", false),
            ("POST", true),
            ("CONNECT", false),
        ] {
            let error = check_http_method(method, upgrade).unwrap_err();
            assert_eq!(error.status, Status::NotFound, "{method} {upgrade}");
        }
    }

    #[test]
    fn an_absurd_method_is_not_repeated_whole() {
        let error = check_http_method(&"X\u{7}".repeat(100), false).unwrap_err();
        assert!(error.message.len() < 100, "{}", error.message);
        assert!(!error.message.contains('\u{7}'));
    }
}
