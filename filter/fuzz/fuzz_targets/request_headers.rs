//! `RequestHeaders::parse` on arbitrary header-map buffers, and the edits `upstream_edits` makes
//! of any map it accepts: every client credential present is removed or (authorization)
//! replaced by the Google token, and only `:path`, `:authority`, `authorization` and the marker
//! are set. Never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vertex_passthrough_core::client_auth::CLIENT_CREDENTIAL_HEADERS;
use vertex_passthrough_core::request_headers::{RequestHeaders, Upstream, MARKER_HEADER};

const PATH: &str = "/v1/projects/p/locations/l/publishers/google/models/m:generateContent";
const AUTHORITY: &str = "l-aiplatform.googleapis.com";

fuzz_target!(|data: &[u8]| {
    let Some(headers) = RequestHeaders::parse(data) else {
        return;
    };
    let upgrade = data.len() % 2 == 0;
    let authorization = (data.len() % 3 != 0).then_some("Bearer ya29.fuzz");
    let upstream = Upstream {
        path: PATH,
        authority: AUTHORITY,
        authorization,
        upgrade,
        client: "fuzz",
        model: (data.len() % 5 != 0).then_some("fuzz-model"),
    };
    let edits: Vec<_> = headers.upstream_edits(upstream).collect();
    let removed = |name: &str| edits.contains(&(name, None));
    for name in CLIENT_CREDENTIAL_HEADERS {
        let replaced = name == "authorization" && authorization.is_some();
        assert!(
            !headers.has(name) || removed(name) || replaced,
            "{name} kept"
        );
    }
    assert!(
        !upgrade || !headers.has("sec-websocket-extensions") || removed("sec-websocket-extensions")
    );
    let set: Vec<_> = edits
        .iter()
        .filter_map(|(n, v)| Some((*n, (*v)?)))
        .collect();
    let mut expected = vec![(":path", PATH), (":authority", AUTHORITY)];
    expected.extend(authorization.map(|a| ("authorization", a)));
    expected.push((MARKER_HEADER, "1"));
    assert_eq!(set, expected);
});
