//! `RequestHeaders::parse` on arbitrary header-map buffers, and what `upstream` makes of any map
//! it accepts: a well-formed map with no client credential, one marker, and the rewritten
//! `:path` and `:authority`. Never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vertex_passthrough::client_auth::CLIENT_CREDENTIAL_HEADERS;
use vertex_passthrough::request_headers::{RequestHeaders, Upstream, MARKER_HEADER};

fuzz_target!(|data: &[u8]| {
    let Some(headers) = RequestHeaders::parse(data) else {
        return;
    };
    let upgrade = data.len() % 2 == 0;
    let map = headers.upstream(&Upstream {
        path: "/v1/projects/p/locations/l/publishers/google/models/m:generateContent",
        authority: "l-aiplatform.googleapis.com",
        authorization: Some("Bearer ya29.fuzz"),
        upgrade,
    });
    let sent = RequestHeaders::parse(&map).expect("upstream writes a well-formed map");
    for name in CLIENT_CREDENTIAL_HEADERS.iter().filter(|h| **h != "authorization") {
        assert!(!sent.has(name), "{name} went upstream");
    }
    assert_eq!(sent.get("authorization").as_deref(), Some("Bearer ya29.fuzz"));
    assert_eq!(sent.get(MARKER_HEADER).as_deref(), Some("1"));
    assert!(!upgrade || !sent.has("sec-websocket-extensions"));
    assert_eq!(
        sent.get(":authority").as_deref(),
        Some("l-aiplatform.googleapis.com")
    );
    if headers.has(":path") {
        assert_eq!(
            sent.get(":path").as_deref(),
            Some("/v1/projects/p/locations/l/publishers/google/models/m:generateContent")
        );
    }
});
