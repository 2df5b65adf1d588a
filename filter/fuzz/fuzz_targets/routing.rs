//! `routing::strip_prefix` and `routing::route` on arbitrary paths, with and without a
//! WebSocket upgrade: whatever is forwarded is a clean Vertex path on a Vertex host for a
//! served project, with no client credential in the query; whatever is refused gets a
//! Google-shaped error. A worker's route memo, kept across inputs, answers as routing does.
//! An OpenAI-compatible call is decided on the same bytes as its body: a rewritten body is JSON
//! whose model is `publisher/model`. Never panics.
#![no_main]

use fuzz_support::config;
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;
use vertex_passthrough_core::config::Config;
use vertex_passthrough_core::error_response::ErrorResponse;
use vertex_passthrough_core::routing::memo::RouteMemo;
use vertex_passthrough_core::routing::openai_body;
use vertex_passthrough_core::routing::{self, Routed};

/// The config, built once per thread (it holds `Rc`s, so it is no `static`) and kept.
fn fixture() -> &'static Config {
    thread_local! {
        static CONFIG: &'static Config = Box::leak(Box::new(config()));
    }
    CONFIG.with(|config| *config)
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, path)) = data.split_first() else {
        return;
    };
    let upgrade = flags & 1 == 1;
    let path = String::from_utf8_lossy(path);
    let config = fixture();
    if let Some((prefix, rest)) = routing::strip_prefix(config, &path) {
        assert!(config.route_prefixes.iter().any(|p| p == prefix));
        check_routed(config, routing::route(config, prefix, rest, upgrade), data);
    }
    // The rest as if it followed the prefix, to reach the router with every input.
    let routed = routing::route(config, "/vertex_ai", &path, upgrade);
    let remembered = MEMO.with(|memo| {
        memo.borrow_mut()
            .route(config, "/vertex_ai", &path, upgrade, 0)
    });
    assert_eq!(remembered, routed);
    check_routed(config, routed, data);
    // The input as the body of an OpenAI-compatible call.
    if let Ok(Routed::ReadBody(call)) =
        routing::route(config, "/vertex_ai", "/openai/chat/completions", false)
    {
        check_openai(config, &call, data);
    }
});

fn check_routed(config: &Config, routed: Result<Routed, ErrorResponse>, body: &[u8]) {
    match routed {
        Ok(Routed::Forward(destination)) => check(config, Ok((*destination).clone())),
        Ok(Routed::ReadBody(call)) => check_openai(config, &call, body),
        Err(error) => check(config, Err(error)),
    }
}

fn check_openai(config: &Config, call: &routing::OpenAiCall, body: &[u8]) {
    match openai_body::decide(config, call, body, |_| 0) {
        Ok(request) => {
            if let Some(rewritten) = &request.body {
                let json: serde_json::Value =
                    serde_json::from_slice(rewritten).expect("a rewritten body is JSON");
                let model = json["model"].as_str().expect("a string model");
                assert!(model.contains('/'), "rewritten model {model:?}");
            }
            check(config, Ok(request.destination));
        }
        Err(error) if error.http_code() == 413 => assert!(body.len() > openai_body::MAX_BODY),
        Err(error) => check(config, Err(error)),
    }
}

thread_local! {
    static MEMO: RefCell<RouteMemo> = RefCell::default();
}

fn percent_decoded(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn check(config: &Config, result: Result<routing::Destination, ErrorResponse>) {
    let destination = match result {
        Ok(destination) => destination,
        Err(error) => {
            assert!(
                matches!(error.http_code(), 400 | 403 | 404 | 426),
                "{error:?}"
            );
            let body: serde_json::Value =
                serde_json::from_str(&error.body()).expect("the error body is JSON");
            assert_eq!(
                body["error"]["code"].as_u64(),
                Some(u64::from(error.http_code()))
            );
            return;
        }
    };
    let (path, query) = destination
        .path
        .split_once('?')
        .unwrap_or((destination.path.as_str(), ""));
    assert!(
        ["/v1/", "/v1beta1/", "/v1beta/", "/v1alpha/"]
            .iter()
            .any(|v| path
                .strip_prefix(v)
                .is_some_and(|p| p.starts_with("projects/")))
            || path.starts_with("/ws/google.cloud.aiplatform."),
        "forwarded to {path}"
    );
    assert!(
        path.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._@:-".contains(&b)),
        "unexpected characters forwarded: {path:?}"
    );
    assert!(
        !path.contains("//") && path.split('/').all(|s| s != ".." && s != "."),
        "a path that could turn into another one upstream: {path:?}"
    );
    // The model becomes a header Envoy logs and rate-limits on.
    assert!(
        destination.model.as_deref().is_none_or(|model| model
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._@-".contains(&b))),
        "model header {:?}",
        destination.model
    );
    for pair in query.split('&') {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        // As a server reads the name: percent-decoded, stray question marks ignored.
        let name = percent_decoded(key.trim_start_matches('?'));
        assert!(
            name != b"key" && name != b"model",
            "{key} forwarded in {query:?}"
        );
    }
    assert!(
        destination.authority.ends_with(".googleapis.com")
            && destination
                .authority
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'),
        "authority {:?}",
        destination.authority
    );
    assert!(destination.credential < config.credentials.len());
    // A REST call names its project in the upstream path: /VERSION/projects/P/...
    let project = match &destination.live {
        Some(route) => route.project.as_str(),
        None => destination.path.split('/').nth(3).unwrap_or_default(),
    };
    assert!(
        config.projects.contains_key(project),
        "project {project} is not served"
    );
}
