//! Requests: which path forms are served, where they go, and what is refused.

pub mod host;
pub mod memo;
pub mod openai_body;
pub mod path;
pub mod query;
pub mod resolve;

use crate::config::Config;
use crate::error_response::{ErrorResponse, Status};
use path::{PathForm, Served};
pub use resolve::{Destination, HttpMethods, LiveTarget, OpenAiCall};
use std::rc::Rc;

/// What routing makes of a request's path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Routed {
    /// Forwarded here.
    Forward(Rc<Destination>),
    /// An OpenAI-compatible call: where it goes is decided once its whole body is read.
    ReadBody(Rc<OpenAiCall>),
}

impl Routed {
    pub fn methods(&self) -> HttpMethods {
        match self {
            Routed::Forward(destination) => destination.methods,
            Routed::ReadBody(_) => HttpMethods::Post,
        }
    }
}

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
) -> Result<Routed, ErrorResponse> {
    route_to(config, prefix, rest, upgrade, 0)
}

/// `route`, with an alias of several deployments resolved to its deployment `deployment`.
pub fn route_to(
    config: &Config,
    prefix: &str,
    rest: &str,
    upgrade: bool,
    deployment: usize,
) -> Result<Routed, ErrorResponse> {
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let forwarded_query = query::forwarded(query);
    let query_kept = forwarded_query.as_deref();
    let served = Served {
        methods: &config.methods,
        collections: &config.collections,
        location_methods: &config.location_methods,
    };
    let form = path::parse(path, served)?;
    if upgrade && !matches!(form, PathForm::Live { .. }) {
        return Err(ErrorResponse::new(
            Status::InvalidArgument,
            format!("this Vertex AI call is plain HTTP, not a WebSocket: send it without an upgrade (the Live API is at {prefix}/live)"),
        ));
    }
    let forward = |destination: Destination| Routed::Forward(Rc::new(destination));
    match form {
        PathForm::Rest(target) => {
            resolve::rest(config, &target, query_kept, deployment).map(forward)
        }
        PathForm::Resource(target) => resolve::resource(config, &target, query_kept).map(forward),
        PathForm::Discovery(target) => {
            resolve::discovery(config, &target, query_kept).map(forward)
        }
        PathForm::OpenAi(target) => resolve::openai_call(config, &target, query_kept)
            .map(|call| Routed::ReadBody(Rc::new(call))),
        PathForm::Live { version } if upgrade => {
            let model = query::param(query, "model");
            resolve::live_to(config, version, model.as_deref(), query_kept, deployment)
                .map(forward)
        }
        PathForm::Live { .. } => Err(ErrorResponse::new(
            Status::FailedPrecondition,
            format!("this is the Gemini Live API: connect with a WebSocket upgrade, e.g. ws://HOST{prefix}/live?model=ALIAS"),
        )),
    }
}

/// Whether `method` is one the routed call takes: model methods are POSTs, model info a GET,
/// resources any of GET, POST, PATCH, DELETE, and a Live session starts with a GET upgrade
/// (Envoy presents an HTTP/2 WebSocket `CONNECT` to filters the same way). Anything else would
/// only reach Vertex to be refused there. Checked once `route` has accepted the request, so a
/// Live path without an upgrade still gets `route`'s 426 that says how to connect.
pub fn check_http_method(method: &str, allowed: HttpMethods) -> Result<(), ErrorResponse> {
    let ok = match allowed {
        HttpMethods::Post => method == "POST",
        HttpMethods::Get => method == "GET",
        HttpMethods::Resource => matches!(method, "GET" | "POST" | "PATCH" | "DELETE"),
        HttpMethods::Upgrade => matches!(method, "GET" | "CONNECT"),
    };
    if ok {
        return Ok(());
    }
    let shown: String = method
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(32)
        .collect();
    let advice = match allowed {
        HttpMethods::Upgrade => "the Live API opens its WebSocket with a GET upgrade",
        HttpMethods::Post => "Vertex AI model methods take POST",
        HttpMethods::Get => "a model's description is read with GET",
        HttpMethods::Resource => "resources take GET, POST, PATCH or DELETE",
    };
    Err(ErrorResponse::new(
        Status::NotFound,
        format!("{shown} is not supported here: {advice}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_form_takes_its_http_methods() {
        use HttpMethods::*;
        for (method, allowed) in [
            ("POST", Post),
            ("GET", Get),
            ("GET", Resource),
            ("POST", Resource),
            ("PATCH", Resource),
            ("DELETE", Resource),
            ("GET", Upgrade),
            ("CONNECT", Upgrade),
        ] {
            assert_eq!(check_http_method(method, allowed), Ok(()), "{method}");
        }
        for (method, allowed) in [
            ("GET", Post),
            ("DELETE", Post),
            ("POST", Get),
            ("PUT", Resource),
            ("OPTIONS", Resource),
            ("delete", Resource),
            ("CONNECT", Resource),
            ("post", Post),
            ("POST", Upgrade),
            ("CONNECT", Post),
        ] {
            let error = check_http_method(method, allowed).unwrap_err();
            assert_eq!(error.status, Status::NotFound, "{method} {allowed:?}");
        }
    }

    #[test]
    fn an_absurd_method_is_not_repeated_whole() {
        let error = check_http_method(&"X\u{7}".repeat(100), HttpMethods::Post).unwrap_err();
        assert!(error.message.len() < 100, "{}", error.message);
        assert!(!error.message.contains('\u{7}'));
    }
}
