use super::*;

fn map(pairs: &[(&str, &str)]) -> Vec<u8> {
    serialize(pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
}

fn pairs(bytes: &[u8]) -> Vec<(String, String)> {
    let headers = RequestHeaders::parse(bytes).unwrap();
    headers
        .pairs
        .iter()
        .map(|(n, v)| {
            (
                String::from_utf8(n.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            )
        })
        .collect()
}

fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

const CLIENT: [(&str, &str); 9] = [
    (":authority", "envoy:4000"),
    (":path", "/vertex_ai/v1/models/gemini:generateContent"),
    (":method", "POST"),
    (":scheme", "http"),
    ("content-type", "application/json"),
    ("authorization", "Bearer placeholder"),
    ("x-api-key", "sk-client"),
    ("x-goog-api-key", "AIza-client"),
    ("x-request-id", "abc"),
];

fn forward(authorization: Option<&str>, upgrade: bool) -> Upstream<'_> {
    Upstream {
        path:
            "/v1/projects/p/locations/us-central1/publishers/google/models/gemini:generateContent",
        authority: "us-central1-aiplatform.googleapis.com",
        authorization,
        upgrade,
    }
}

#[test]
fn parse_reads_what_serialize_writes() {
    assert_eq!(pairs(&map(&CLIENT)), owned(&CLIENT));
}

#[test]
fn an_empty_buffer_is_an_empty_map() {
    let headers = RequestHeaders::parse(&[]).unwrap();
    assert_eq!(headers.get(":path"), None);
}

#[test]
fn a_malformed_map_is_refused() {
    let good = map(&CLIENT);
    for cut in [1, 3, 4, 20, good.len() - 1] {
        assert!(
            RequestHeaders::parse(&good[..cut]).is_none(),
            "cut at {cut}"
        );
    }
    let mut no_nul = good.clone();
    *no_nul.last_mut().unwrap() = b'x';
    assert!(RequestHeaders::parse(&no_nul).is_none());
    let mut huge_count = good.clone();
    huge_count[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(RequestHeaders::parse(&huge_count).is_none());
    let mut huge_size = good;
    huge_size[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(RequestHeaders::parse(&huge_size).is_none());
}

#[test]
fn a_header_is_found_by_its_name() {
    let bytes = map(&CLIENT);
    let headers = RequestHeaders::parse(&bytes).unwrap();
    assert_eq!(headers.get(":method").as_deref(), Some("POST"));
    assert_eq!(headers.get("x-api-key").as_deref(), Some("sk-client"));
    assert!(!headers.has("upgrade"));
}

#[test]
fn bytes_that_are_not_utf8_are_replaced() {
    let bytes = serialize([(&b"x-api-key"[..], &b"sk-\xff"[..])].into_iter());
    let headers = RequestHeaders::parse(&bytes).unwrap();
    assert_eq!(headers.get("x-api-key").as_deref(), Some("sk-\u{fffd}"));
}

#[test]
fn the_first_value_of_each_key_header_is_presented() {
    let bytes = map(&[
        ("x-api-key", "first"),
        ("authorization", "Bearer placeholder"),
        ("x-api-key", "second"),
        ("x-goog-api-key", "not a proxy key header"),
    ]);
    let headers = RequestHeaders::parse(&bytes).unwrap();
    let presented: Vec<_> = headers.presented_keys().collect();
    assert_eq!(presented, ["Bearer placeholder", "first"]);
}

#[test]
fn upstream_drops_client_credentials_and_rewrites_path_and_authority_in_place() {
    let bytes = map(&CLIENT);
    let headers = RequestHeaders::parse(&bytes).unwrap();
    let upstream = headers.upstream(&forward(Some("Bearer ya29.google"), false));
    assert_eq!(
        pairs(&upstream),
        owned(&[
            (":authority", "us-central1-aiplatform.googleapis.com"),
            (
                ":path",
                "/v1/projects/p/locations/us-central1/publishers/google/models/gemini:generateContent"
            ),
            (":method", "POST"),
            (":scheme", "http"),
            ("content-type", "application/json"),
            ("x-request-id", "abc"),
            ("authorization", "Bearer ya29.google"),
            (MARKER_HEADER, "1"),
        ])
    );
}

#[test]
fn a_clients_own_marker_is_replaced_by_one_marker() {
    let bytes = map(&[(":path", "/vertex_ai/live"), (MARKER_HEADER, "forged")]);
    let headers = RequestHeaders::parse(&bytes).unwrap();
    let upstream = pairs(&headers.upstream(&forward(None, false)));
    let markers: Vec<_> = upstream
        .iter()
        .filter(|(n, _)| n == MARKER_HEADER)
        .collect();
    assert_eq!(markers, [&(MARKER_HEADER.to_string(), "1".to_string())]);
}

#[test]
fn while_the_token_is_fetched_no_authorization_goes_upstream() {
    let bytes = map(&CLIENT);
    let headers = RequestHeaders::parse(&bytes).unwrap();
    let upstream = pairs(&headers.upstream(&forward(None, false)));
    assert!(upstream.iter().all(|(n, _)| n != "authorization"));
}

#[test]
fn an_upgrade_loses_its_compression_offer() {
    let bytes = map(&[
        (":path", "/vertex_ai/live"),
        ("upgrade", "websocket"),
        ("sec-websocket-extensions", "permessage-deflate"),
    ]);
    let headers = RequestHeaders::parse(&bytes).unwrap();
    let upgraded = pairs(&headers.upstream(&forward(None, true)));
    assert!(upgraded
        .iter()
        .all(|(n, _)| n != "sec-websocket-extensions"));
    assert!(upgraded.contains(&("upgrade".to_string(), "websocket".to_string())));
    let plain = pairs(&headers.upstream(&forward(None, false)));
    assert!(plain.iter().any(|(n, _)| n == "sec-websocket-extensions"));
}

#[test]
fn a_request_without_a_host_gets_the_vertex_authority() {
    let bytes = map(&[(":path", "/vertex_ai/v1/models/m:generateContent")]);
    let headers = RequestHeaders::parse(&bytes).unwrap();
    let upstream = pairs(&headers.upstream(&forward(None, false)));
    assert!(upstream.contains(&(
        ":authority".to_string(),
        "us-central1-aiplatform.googleapis.com".to_string()
    )));
}
