use super::*;

/// The wire format, as Envoy writes it.
pub(crate) fn serialize<'p>(pairs: impl Iterator<Item = (&'p [u8], &'p [u8])> + Clone) -> Vec<u8> {
    let len = |n: usize| u32::try_from(n).unwrap().to_le_bytes();
    let mut out = len(pairs.clone().count()).to_vec();
    for (name, value) in pairs.clone() {
        out.extend(len(name.len()));
        out.extend(len(value.len()));
    }
    for (name, value) in pairs {
        for text in [name, value] {
            out.extend(text);
            out.push(0);
        }
    }
    out
}

fn map(pairs: &[(&str, &str)]) -> Vec<u8> {
    serialize(pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
}

/// The headers Vertex gets: the edits applied as Envoy applies them (a removal takes every
/// value of the name; a set replaces the name's values, or adds it at the end).
fn upstream_of(client: &[(&str, &str)], upstream: &Upstream) -> Vec<(String, String)> {
    let bytes = map(client);
    let headers = RequestHeaders::parse(&bytes).unwrap();
    let mut sent = owned(client);
    for (name, value) in headers.upstream_edits(*upstream) {
        let at = sent.iter().position(|(n, _)| n == name);
        sent.retain(|(n, _)| n != name);
        if let Some(value) = value {
            let pair = (name.to_string(), value.to_string());
            match at {
                Some(at) => sent.insert(at, pair),
                None => sent.push(pair),
            }
        }
    }
    sent
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

fn upstream_for(authorization: Option<&str>, upgrade: bool) -> Upstream<'_> {
    Upstream {
        path:
            "/v1/projects/p/locations/us-central1/publishers/google/models/gemini:generateContent",
        authority: "us-central1-aiplatform.googleapis.com",
        authorization,
        upgrade,
        client: "team-a",
        model: Some("flash"),
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
fn upstream_drops_client_credentials_and_rewrites_path_and_authority() {
    let sent = upstream_of(&CLIENT, &upstream_for(Some("Bearer ya29.google"), false));
    assert_eq!(
        sent,
        owned(&[
            (":authority", "us-central1-aiplatform.googleapis.com"),
            (
                ":path",
                "/v1/projects/p/locations/us-central1/publishers/google/models/gemini:generateContent"
            ),
            (":method", "POST"),
            (":scheme", "http"),
            ("content-type", "application/json"),
            ("authorization", "Bearer ya29.google"),
            ("x-request-id", "abc"),
            (MARKER_HEADER, "1"),
            (CLIENT_HEADER, "team-a"),
            (MODEL_HEADER, "flash"),
        ])
    );
}

#[test]
fn only_headers_the_request_has_are_removed() {
    let bytes = map(&[
        (":path", "/vertex_ai/models/m:generateContent"),
        ("x-api-key", "k"),
    ]);
    let headers = RequestHeaders::parse(&bytes).unwrap();
    let upstream = upstream_for(Some("Bearer ya29.google"), true);
    let removed: Vec<_> = headers
        .upstream_edits(upstream)
        .filter(|(_, value)| value.is_none())
        .map(|(name, _)| name)
        .collect();
    assert_eq!(removed, ["x-api-key"]);
}

#[test]
fn a_clients_own_marker_is_replaced_by_one_marker() {
    let sent = upstream_of(
        &[
            (":path", "/vertex_ai/live"),
            (MARKER_HEADER, "forged"),
            (MARKER_HEADER, "again"),
        ],
        &upstream_for(None, false),
    );
    let markers: Vec<_> = sent.iter().filter(|(n, _)| n == MARKER_HEADER).collect();
    assert_eq!(markers, [&(MARKER_HEADER.to_string(), "1".to_string())]);
}

#[test]
fn while_the_token_is_fetched_the_clients_authorization_is_removed() {
    let sent = upstream_of(&CLIENT, &upstream_for(None, false));
    assert!(sent.iter().all(|(n, _)| n != "authorization"));
}

#[test]
fn an_upgrade_loses_its_compression_offer() {
    let client = [
        (":path", "/vertex_ai/live"),
        ("upgrade", "websocket"),
        ("sec-websocket-extensions", "permessage-deflate"),
    ];
    let upgraded = upstream_of(&client, &upstream_for(None, true));
    assert!(upgraded
        .iter()
        .all(|(n, _)| n != "sec-websocket-extensions"));
    assert!(upgraded.contains(&("upgrade".to_string(), "websocket".to_string())));
    let plain = upstream_of(&client, &upstream_for(None, false));
    assert!(plain.iter().any(|(n, _)| n == "sec-websocket-extensions"));
}

#[test]
fn a_request_without_a_host_gets_the_vertex_authority() {
    let sent = upstream_of(
        &[(":path", "/vertex_ai/v1/models/m:generateContent")],
        &upstream_for(None, false),
    );
    assert!(sent.contains(&(
        ":authority".to_string(),
        "us-central1-aiplatform.googleapis.com".to_string()
    )));
}

#[test]
fn a_clients_user_project_and_envoy_headers_are_removed() {
    let sent = upstream_of(
        &[
            (":path", "/vertex_ai/v1/models/m:generateContent"),
            ("x-goog-user-project", "someone-elses-project"),
            ("x-envoy-retry-on", "5xx"),
            ("x-envoy-upstream-rq-timeout-ms", "50"),
            ("x-envoy-retry-on", "reset"),
            ("x-envoyish", "kept"),
            ("x-request-id", "abc"),
        ],
        &upstream_for(Some("Bearer ya29.google"), false),
    );
    let names: Vec<_> = sent.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            ":path",
            "x-envoyish",
            "x-request-id",
            ":authority",
            "authorization",
            MARKER_HEADER,
            CLIENT_HEADER,
            MODEL_HEADER
        ]
    );
}

#[test]
fn a_clients_own_identity_headers_are_replaced_or_removed() {
    let forged = [
        (":path", "/vertex_ai/v1/models/m:generateContent"),
        (CLIENT_HEADER, "someone-else"),
        (MODEL_HEADER, "gemini-ultra"),
    ];
    let sent = upstream_of(&forged, &upstream_for(Some("Bearer ya29.google"), false));
    assert_eq!(header_values(&sent, CLIENT_HEADER), ["team-a"]);
    assert_eq!(header_values(&sent, MODEL_HEADER), ["flash"]);
    let no_model = Upstream {
        model: None,
        ..upstream_for(Some("Bearer ya29.google"), false)
    };
    let sent = upstream_of(&forged, &no_model);
    assert_eq!(header_values(&sent, MODEL_HEADER), Vec::<&str>::new());
}

fn header_values<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn a_repeated_envoy_header_is_removed_once() {
    let bytes = map(&[
        ("x-envoy-retry-on", "5xx"),
        ("x-envoy-retry-on", "reset"),
        ("x-envoy-max-retries", "9"),
    ]);
    let headers = RequestHeaders::parse(&bytes).unwrap();
    let upstream = upstream_for(Some("Bearer ya29.google"), false);
    let removed: Vec<_> = headers
        .upstream_edits(upstream)
        .filter(|(_, value)| value.is_none())
        .map(|(name, _)| name)
        .collect();
    assert_eq!(removed, ["x-envoy-retry-on", "x-envoy-max-retries"]);
}

#[test]
fn every_known_header_is_found_by_its_name_alone() {
    for (at, name) in KNOWN.iter().enumerate() {
        let header = known(name.as_bytes()).unwrap();
        assert_eq!(header as usize, at, "{name}");
        assert_eq!(header.name(), *name);
    }
    for other in [
        ":scheme",
        ":authority",
        "accept",
        "x-api-kez",
        "api-kez",
        "content-type",
    ] {
        assert_eq!(known(other.as_bytes()), None, "{other}");
    }
}

#[test]
fn the_known_key_and_credential_lists_are_client_auth_s() {
    use crate::client_auth::{CLIENT_CREDENTIAL_HEADERS, KEY_HEADERS};
    assert_eq!(KEYS.map(Known::name), KEY_HEADERS);
    let credentials = CLIENT_CREDENTIAL_HEADERS.len();
    assert_eq!(
        NEVER_UPSTREAM[..credentials]
            .iter()
            .map(|h| h.name())
            .collect::<Vec<_>>(),
        CLIENT_CREDENTIAL_HEADERS
    );
    assert_eq!(
        NEVER_UPSTREAM[credentials..]
            .iter()
            .map(|h| h.name())
            .collect::<Vec<_>>(),
        ["x-goog-user-project"]
    );
    for name in FILTER_HEADERS {
        assert!(known(name.as_bytes()).is_some(), "{name}");
    }
}

#[test]
fn a_known_header_repeated_is_read_at_its_first_value() {
    let bytes = map(&[
        ("x-api-key", "first"),
        (":path", "/p"),
        ("x-api-key", "second"),
    ]);
    let headers = RequestHeaders::parse(&bytes).unwrap();
    assert_eq!(headers.value(Known::XApiKey).as_deref(), Some("first"));
    assert_eq!(headers.get("x-api-key").as_deref(), Some("first"));
    assert_eq!(headers.value(Known::Path).as_deref(), Some("/p"));
    assert!(!headers.carries(Known::Method));
}
