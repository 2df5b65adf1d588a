//! A corpus of bad REST input through a real Envoy with two workers. Every case gets a
//! clean 4xx — the filter's Google-shaped JSON error where the filter answers, or Envoy's own
//! 4xx where Envoy refuses the bytes before any filter runs — and nothing reaches the Vertex
//! emulator unless the request is valid. A few odd-looking but valid requests are in the
//! corpus too: they reach Vertex, without the client's key. After each table, valid requests
//! on fresh connections succeed on every worker (no Wasm VM died), Envoy logged nothing at
//! critical, and `requests_forwarded` counts exactly the valid requests.
//!
//! Cases that must not be normalised by a client library are sent as raw bytes over TCP; the
//! rest go through hyper as HTTP/1.1 and as HTTP/2 (prior knowledge).

use serde_json::Value;
use vertex_passthrough_tests::emulator::VertexRequest;
use vertex_passthrough_tests::probe::{self, http1_request, Outcome, Protocol};
use vertex_passthrough_tests::stack::{generate_body, Stack, CLIENT_KEY};

const FLASH: &str = "/vertex_ai/models/flash:generateContent";
const FULL: &str = "/vertex_ai/v1/projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent";

/// How a case is sent.
enum Send {
    /// Bytes on a new TCP connection, exactly as given.
    Raw(Vec<u8>),
    /// Through hyper, once over HTTP/1.1 and once over HTTP/2.
    Both {
        method: &'static str,
        path: String,
        headers: Vec<(&'static str, Vec<u8>)>,
    },
}

/// What the case must get.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// The filter's own error: this code and status, Google's JSON shape.
    Filter(u16, &'static str),
    /// A 4xx from Envoy or the filter (Envoy refuses some bytes before the filter runs).
    Refused,
    /// Like `Refused`, but an HTTP/2 stream reset is also a clean refusal.
    RefusedOrReset,
    /// Odd but valid: forwarded to Vertex (200), without any client credential.
    Forwarded,
    /// Envoy decides whether the bytes are acceptable: a 4xx, or forwarded with no header named
    /// `x-injected` (nothing the client smuggled became a header).
    RefusedOrForwardedUninjected,
}

struct Case {
    name: &'static str,
    send: Send,
    expect: Expect,
}

fn key_header() -> (&'static str, Vec<u8>) {
    ("x-api-key", CLIENT_KEY.as_bytes().to_vec())
}

/// POST `path` with a valid key, over both protocols.
fn post(name: &'static str, path: impl Into<String>, expect: Expect) -> Case {
    post_with(name, path, vec![key_header()], expect)
}

fn post_with(
    name: &'static str,
    path: impl Into<String>,
    headers: Vec<(&'static str, Vec<u8>)>,
    expect: Expect,
) -> Case {
    Case {
        name,
        send: Send::Both {
            method: "POST",
            path: path.into(),
            headers,
        },
        expect,
    }
}

/// A raw HTTP/1.1 POST of `target` (bytes as given) with a valid key and `headers`.
fn raw_post(name: &'static str, target: &[u8], headers: &[&[u8]], expect: Expect) -> Case {
    let mut line = b"POST ".to_vec();
    line.extend_from_slice(target);
    line.extend_from_slice(b" HTTP/1.1");
    let key = format!("x-api-key: {CLIENT_KEY}");
    let mut all: Vec<&[u8]> = vec![key.as_bytes()];
    all.extend_from_slice(headers);
    let body = generate_body().to_string();
    Case {
        name,
        send: Send::Raw(http1_request(&line, &all, body.as_bytes())),
        expect,
    }
}

fn raw_bytes(name: &'static str, request: Vec<u8>, expect: Expect) -> Case {
    Case {
        name,
        send: Send::Raw(request),
        expect,
    }
}

/// Runs every case, asserts each outcome, and returns how many were forwarded.
async fn run(stack: &Stack, cases: Vec<Case>) -> usize {
    let body = generate_body().to_string();
    let mut forwarded = 0;
    for case in cases {
        let attempts: Vec<Option<Protocol>> = match &case.send {
            Send::Raw(_) => vec![None],
            Send::Both { .. } => vec![Some(Protocol::Http1), Some(Protocol::Http2)],
        };
        for protocol in attempts {
            let before = stack.emulator.vertex_requests().len();
            let outcome = match (&case.send, protocol) {
                (Send::Raw(bytes), _) => probe::raw(stack.envoy.port, bytes).await,
                (
                    Send::Both {
                        method,
                        path,
                        headers,
                    },
                    Some(protocol),
                ) => hyper_send(stack, protocol, method, path, headers, &body).await,
                (_, None) => unreachable!(),
            };
            let how = protocol.map_or("raw HTTP/1.1".to_string(), |p| format!("{p:?}"));
            let label = format!("case {:?} over {how}", case.name);
            check(stack, &label, case.expect, &outcome, before);
            let before_is_after = stack.emulator.vertex_requests().len() == before;
            if !before_is_after {
                forwarded += 1;
            }
        }
    }
    forwarded
}

async fn hyper_send(
    stack: &Stack,
    protocol: Protocol,
    method: &str,
    path: &str,
    headers: &[(&'static str, Vec<u8>)],
    body: &str,
) -> Outcome {
    let headers: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_slice())).collect();
    let mut all = vec![("content-type", &b"application/json"[..])];
    all.extend(headers);
    probe::send(
        protocol,
        stack.envoy.port,
        method,
        path,
        &all,
        body.as_bytes(),
    )
    .await
}

fn check(stack: &Stack, label: &str, expect: Expect, outcome: &Outcome, before: usize) {
    let seen = stack.emulator.vertex_requests();
    if let Expect::RefusedOrForwardedUninjected = expect {
        let forwarded = seen.len() > before;
        let expect = if forwarded {
            Expect::Forwarded
        } else {
            Expect::Refused
        };
        return check(stack, label, expect, outcome, before);
    }
    match expect {
        Expect::RefusedOrForwardedUninjected => unreachable!(),
        Expect::Forwarded => {
            let answer = outcome
                .answer()
                .unwrap_or_else(|| panic!("{label}: no answer: {outcome:?}"));
            assert_eq!(answer.status, 200, "{label}: {}", answer.text());
            assert_eq!(
                seen.len(),
                before + 1,
                "{label}: one request reached Vertex"
            );
            let request = &seen[before];
            assert!(
                request.authority.ends_with("aiplatform.googleapis.com"),
                "{label}: sent to {}",
                request.authority
            );
            assert_no_client_credentials(label, request);
        }
        Expect::Filter(code, status) => {
            let answer = outcome
                .answer()
                .unwrap_or_else(|| panic!("{label}: no answer: {outcome:?}"));
            assert_eq!(
                (answer.status, google_status(label, answer).as_str()),
                (code, status),
                "{label}: {}",
                answer.text()
            );
            assert_unforwarded(label, &seen, before);
        }
        Expect::Refused | Expect::RefusedOrReset => {
            match outcome {
                Outcome::Answer(answer) => {
                    assert!(
                        (400..500).contains(&answer.status),
                        "{label}: {} {}",
                        answer.status,
                        answer.text()
                    );
                    // Whoever answered: a JSON body is in Google's shape.
                    if answer.json().is_some() {
                        google_status(label, answer);
                    }
                }
                Outcome::NoAnswer(why) => assert!(
                    matches!(expect, Expect::RefusedOrReset),
                    "{label}: no answer: {why}"
                ),
            }
            assert_unforwarded(label, &seen, before);
        }
    }
}

/// The `status` of a Google error body, after checking its shape.
fn google_status(label: &str, answer: &probe::Answer) -> String {
    let content_type = answer.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{label}: content-type {content_type:?}: {}",
        answer.text()
    );
    let body: Value = answer
        .json()
        .unwrap_or_else(|| panic!("{label}: not JSON: {}", answer.text()));
    let error = &body["error"];
    assert_eq!(
        error["code"].as_u64(),
        Some(u64::from(answer.status)),
        "{label}: {body}"
    );
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{label}: {body}"
    );
    error["status"].as_str().unwrap_or_default().to_string()
}

fn assert_unforwarded(label: &str, seen: &[VertexRequest], before: usize) {
    assert!(
        seen.len() <= before,
        "{label}: reached Vertex: {:#?}",
        &seen[before..]
    );
}

fn assert_no_client_credentials(label: &str, request: &VertexRequest) {
    let body = String::from_utf8_lossy(&request.body);
    for (name, value) in &request.headers {
        assert!(
            !value.contains(CLIENT_KEY),
            "{label}: the client key reached Vertex in {name}"
        );
        assert!(
            !name.starts_with("x-injected"),
            "{label}: a smuggled header reached Vertex: {name}: {value}"
        );
        assert!(
            !matches!(
                name.as_str(),
                "x-api-key"
                    | "api-key"
                    | "x-litellm-api-key"
                    | "x-goog-api-key"
                    | "x-vertex-passthrough"
                    | "x-vertex-passthrough-client"
                    | "x-vertex-passthrough-model"
            ),
            "{label}: {name} reached Vertex"
        );
    }
    assert!(
        !request
            .query
            .as_deref()
            .unwrap_or_default()
            .contains(CLIENT_KEY)
            && !body.contains(CLIENT_KEY),
        "{label}: the client key reached Vertex"
    );
    assert!(
        request.token_subject.is_some(),
        "{label}: Vertex got no token of ours"
    );
    // Another project's quota must not be billed.
    assert!(
        !request
            .query
            .as_deref()
            .unwrap_or_default()
            .contains("someone-else")
            && request
                .headers
                .iter()
                .all(|(name, _)| name != "x-goog-user-project"),
        "{label}: a user project reached Vertex: {:?} {:?}",
        request.query,
        request.headers
    );
}

/// After a corpus: valid requests on fresh connections succeed on every worker, nothing was
/// logged at critical (the SDK's panic hook logs there), and the filter counted exactly the
/// valid requests as forwarded.
async fn assert_every_worker_still_serves(stack: &Stack, forwarded_in_corpus: usize) {
    const VALID: usize = 40;
    let valid = async {
        for i in 0..VALID {
            let protocol = if i % 2 == 0 {
                Protocol::Http1
            } else {
                Protocol::Http2
            };
            let outcome = hyper_send(
                stack,
                protocol,
                "POST",
                FLASH,
                &[key_header()],
                &generate_body().to_string(),
            )
            .await;
            assert_eq!(
                outcome.status(),
                Some(200),
                "valid request {i} after the corpus: {outcome:?}"
            );
        }
    };
    stack
        .envoy
        .assert_every_worker_took_part(2, &format!("{VALID} fresh connections"), valid)
        .await;
    stack.envoy.assert_nothing_critical_logged();
    let total = (forwarded_in_corpus + VALID) as u64;
    let stats = stack.filter_stats_after("requests_forwarded", total).await;
    assert_eq!(
        stats.get("requests_forwarded"),
        Some(&total),
        "forwarded: {forwarded_in_corpus} in the corpus + {VALID} valid"
    );
    assert_eq!(stack.emulator.vertex_requests().len() as u64, total);
}

async fn corpus(cases: Vec<Case>) {
    let stack = Stack::start().await;
    let count = cases.len();
    let forwarded = run(&stack, cases).await;
    eprintln!("bad-input corpus: {count} cases, {forwarded} of their requests valid and forwarded");
    assert_every_worker_still_serves(&stack, forwarded).await;
}

const INVALID: Expect = Expect::Filter(400, "INVALID_ARGUMENT");
const NOT_FOUND: Expect = Expect::Filter(404, "NOT_FOUND");
const UNAUTHENTICATED: Expect = Expect::Filter(401, "UNAUTHENTICATED");
const FORBIDDEN: Expect = Expect::Filter(403, "PERMISSION_DENIED");

#[tokio::test]
async fn path_traversal_and_encoded_separators_never_reach_vertex() {
    corpus(vec![
        raw_post("dot-dot out of the prefix", b"/vertex_ai/../x", &[], INVALID),
        raw_post("dot-dot back into the prefix", b"/vertex_ai/../vertex_ai/models/flash:generateContent", &[], INVALID),
        raw_post("dot-dot over the model", b"/vertex_ai/models/../../admin:generateContent", &[], INVALID),
        raw_post("dot-dot after the method", b"/vertex_ai/models/flash:generateContent/..", &[], INVALID),
        raw_post("single dot segment", b"/vertex_ai/./models/flash:generateContent", &[], INVALID),
        raw_post("encoded dot-dot segment", b"/vertex_ai/%2e%2e/models/flash:generateContent", &[], INVALID),
        raw_post("upper-case encoded dot-dot as the model", b"/vertex_ai/models/%2E%2E:generateContent", &[], INVALID),
        raw_post("half-encoded dot-dot", b"/vertex_ai/models/.%2e:generateContent", &[], INVALID),
        raw_post("encoded single dot", b"/vertex_ai/%2e/models/flash:generateContent", &[], INVALID),
        raw_post("encoded slash inside the model", b"/vertex_ai/v1/projects/proj-alpha/locations/us-central1/publishers/google/models/a%2Fb:generateContent", &[], INVALID),
        raw_post("encoded slashes walking out of the project", b"/vertex_ai/v1/projects/proj-alpha%2F..%2Fother/locations/us-central1/publishers/google/models/m:generateContent", &[], INVALID),
        raw_post("lower-case encoded slash and dot-dot in the model", b"/vertex_ai/models/flash%2f..%2f..:generateContent", &[], INVALID),
        raw_post("encoded backslash", b"/vertex_ai/models/flash%5c..:generateContent", &[], INVALID),
        raw_post("raw backslashes", b"/vertex_ai/models\\..\\flash:generateContent", &[], Expect::Refused),
        raw_post("double-encoded dot-dot", b"/vertex_ai/models/%252e%252e:generateContent", &[], INVALID),
        post("traversal that hyper keeps, over both protocols", "/vertex_ai/v1/projects/../locations/l/publishers/google/models/m:generateContent", INVALID),
        post("encoded slash over both protocols", "/vertex_ai/models/a%2F..%2Fb:generateContent", INVALID),
        raw_post("absolute-form target naming another host", b"http://evil.example/vertex_ai/models/flash:generateContent", &[], Expect::Forwarded),
    ])
    .await;
}

#[tokio::test]
async fn overlong_segments_and_paths_are_refused() {
    let long = |n: usize| "m".repeat(n);
    corpus(vec![
        post("model of 129 characters", format!("/vertex_ai/models/{}:generateContent", long(129)), INVALID),
        post("project of 129 characters", format!("/vertex_ai/v1/projects/{}/locations/us-central1/publishers/google/models/m:generateContent", "p".repeat(129)), INVALID),
        post("location of 129 characters", format!("/vertex_ai/v1/projects/proj-alpha/locations/{}/publishers/google/models/m:generateContent", "l".repeat(129)), INVALID),
        post("publisher of 129 characters", format!("/vertex_ai/publishers/{}/models/m:generateContent", long(129)), INVALID),
        post("model of 8000 characters", format!("/vertex_ai/models/{}:generateContent", long(8000)), INVALID),
        post("two hundred segments", format!("/vertex_ai{}", "/a".repeat(200)), NOT_FOUND),
        post("method of 4000 characters", format!("/vertex_ai/models/flash:{}", "generateContent".repeat(266)), NOT_FOUND),
        post("query of 4 KB on a valid path", format!("{FLASH}?pad={}", "q".repeat(4 * 1024)), Expect::Forwarded),
        post("query of 70 KB, beyond Envoy's header limit", format!("{FLASH}?pad={}", "q".repeat(70 * 1024)), Expect::RefusedOrReset),
        post("path beyond Envoy's header limit (70 KB)", format!("/vertex_ai/models/{}:generateContent", long(70 * 1024)), Expect::RefusedOrReset),
        post("model of exactly 128 characters is not refused for its length", format!("/vertex_ai/models/{}:generateContent", long(128)), Expect::Forwarded),
        post("location of 64 characters (more than a DNS label)", format!("/vertex_ai/v1/projects/proj-alpha/locations/{}/publishers/google/models/m:generateContent", "l".repeat(64)), INVALID),
        post("a location that is no Google Cloud region", "/vertex_ai/v1/projects/proj-alpha/locations/zz-invented-1/publishers/google/models/m:generateContent", INVALID),
    ])
    .await;
}

#[tokio::test]
async fn control_characters_and_crlf_injection_are_refused() {
    let key = format!("x-api-key: {CLIENT_KEY}");
    let body = generate_body().to_string();
    corpus(vec![
        raw_post("encoded NUL in the model", b"/vertex_ai/models/flash%00:generateContent", &[], INVALID),
        raw_post("encoded CRLF in the path", b"/vertex_ai/models/flash:generateContent%0d%0ax-injected:%201", &[], INVALID),
        raw_post("raw NUL in the path", b"/vertex_ai/models/fl\x00ash:generateContent", &[], Expect::Refused),
        raw_post("raw tab in the path", b"/vertex_ai/models/fl\tash:generateContent", &[], Expect::Refused),
        raw_post("raw DEL in the path", b"/vertex_ai/models/fl\x7fash:generateContent", &[], Expect::Refused),
        raw_post("raw escape sequence in the path", b"/vertex_ai/models/\x1b[31mflash:generateContent", &[], Expect::Refused),
        raw_bytes("CR LF in the request line smuggling the marker header",
            http1_request(b"POST /vertex_ai/models/flash:generateContent\r\nx-vertex-passthrough: 1 HTTP/1.1", &[key.as_bytes()], body.as_bytes()), Expect::Refused),
        raw_bytes("bare LF inside the request line",
            http1_request(b"POST /vertex_ai/models/flash:gener\nateContent HTTP/1.1", &[key.as_bytes()], body.as_bytes()), Expect::Refused),
        raw_bytes("bare CR in a header value that could start an injected header",
            http1_request(b"POST /vertex_ai/models/flash:generateContent HTTP/1.1", &[key.as_bytes(), b"x-note: a\rx-injected: 1"], body.as_bytes()), Expect::RefusedOrForwardedUninjected),
        raw_bytes("NUL inside the key header",
            http1_request(b"POST /vertex_ai/models/flash:generateContent HTTP/1.1", &[format!("x-api-key: {CLIENT_KEY}\0").as_bytes()], body.as_bytes()), Expect::Refused),
        raw_bytes("obsolete line folding continuing the key header",
            http1_request(b"POST /vertex_ai/models/flash:generateContent HTTP/1.1", &[b"x-api-key: sk-wrong", format!(" {CLIENT_KEY}").as_bytes()], body.as_bytes()), Expect::Refused),
        raw_bytes("space before the colon of a header",
            http1_request(b"POST /vertex_ai/models/flash:generateContent HTTP/1.1", &[format!("x-api-key : {CLIENT_KEY}").as_bytes()], body.as_bytes()), Expect::Refused),
        raw_bytes("request line without a version",
            b"POST /vertex_ai/models/flash:generateContent\r\n\r\n".to_vec(), Expect::Refused),
        raw_bytes("HTTP/0.9-style request", b"GET /vertex_ai/models/flash:generateContent\r\n".to_vec(), Expect::Refused),
        raw_bytes("unsupported HTTP version", http1_request(b"POST /vertex_ai/models/flash:generateContent HTTP/3.7", &[key.as_bytes()], body.as_bytes()), Expect::Refused),
        raw_bytes("conflicting content-length and transfer-encoding",
            format!("POST {FLASH} HTTP/1.1\r\nhost: x\r\n{key}\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n0\r\n\r\n").into_bytes(), Expect::Refused),
        raw_bytes("two different content-lengths",
            format!("POST {FLASH} HTTP/1.1\r\nhost: x\r\n{key}\r\ncontent-length: 2\r\ncontent-length: 3\r\nconnection: close\r\n\r\n{{}}").into_bytes(), Expect::Refused),
    ])
    .await;
}

#[tokio::test]
async fn unicode_lookalikes_are_refused() {
    corpus(vec![
        post("fi ligature in the model (percent-encoded)", "/vertex_ai/models/%EF%AC%81ash:generateContent", INVALID),
        post("fullwidth solidus between segments", "/vertex_ai/models%EF%BC%8Fflash:generateContent", NOT_FOUND),
        post("one-dot leaders as a dot-dot lookalike", "/vertex_ai/models/%E2%80%A4%E2%80%A4:generateContent", INVALID),
        post("fullwidth colon before the method", "/vertex_ai/models/flash%EF%BC%9AgenerateContent", INVALID),
        post("unicode hyphen in the model", "/vertex_ai/models/gemini%E2%80%902.0:generateContent", INVALID),
        post("cyrillic a in the project", "/vertex_ai/v1/projects/proj-%D0%B0lpha/locations/us-central1/publishers/google/models/m:generateContent", INVALID),
        post("cyrillic a in the prefix is not our prefix", "/vertex_%D0%B0i/models/flash:generateContent", NOT_FOUND),
        raw_post("raw UTF-8 lookalike in the model", "/vertex_ai/models/ﬂash:generateContent".as_bytes(), &[], Expect::Refused),
        raw_post("raw UTF-8 one-dot leaders", "/vertex_ai/models/․․/x:generateContent".as_bytes(), &[], Expect::Refused),
        post_with("cyrillic e in the client key", FLASH, vec![("x-api-key", CLIENT_KEY.replacen('e', "е", 1).into_bytes())], UNAUTHENTICATED),
    ])
    .await;
}

#[tokio::test]
async fn duplicate_and_conflicting_key_headers_authenticate_only_a_valid_key() {
    let key = format!("x-api-key: {CLIENT_KEY}");
    let wrong = "x-api-key: sk-wrong";
    let body = generate_body().to_string();
    let raw = |headers: &[&[u8]]| {
        http1_request(
            b"POST /vertex_ai/models/flash:generateContent HTTP/1.1",
            headers,
            body.as_bytes(),
        )
    };
    let bearer = format!("Bearer {CLIENT_KEY}").into_bytes();
    corpus(vec![
        raw_bytes(
            "the same wrong key header twice",
            raw(&[wrong.as_bytes(), wrong.as_bytes()]),
            UNAUTHENTICATED,
        ),
        raw_bytes(
            "a wrong x-api-key, then the valid one",
            raw(&[wrong.as_bytes(), key.as_bytes()]),
            UNAUTHENTICATED,
        ),
        raw_bytes(
            "the valid x-api-key, then a wrong one",
            raw(&[key.as_bytes(), wrong.as_bytes()]),
            Expect::Forwarded,
        ),
        post_with(
            "two keys joined by a comma",
            FLASH,
            vec![(
                "x-api-key",
                format!("{CLIENT_KEY},{CLIENT_KEY}").into_bytes(),
            )],
            UNAUTHENTICATED,
        ),
        post_with(
            "empty key header",
            FLASH,
            vec![("x-api-key", Vec::new())],
            UNAUTHENTICATED,
        ),
        post_with(
            "Bearer with no key",
            FLASH,
            vec![("authorization", b"Bearer".to_vec())],
            UNAUTHENTICATED,
        ),
        post_with(
            "Bearer with only spaces",
            FLASH,
            vec![("authorization", b"Bearer    ".to_vec())],
            UNAUTHENTICATED,
        ),
        post_with(
            "the key as Basic credentials",
            FLASH,
            vec![("authorization", format!("Basic {CLIENT_KEY}").into_bytes())],
            UNAUTHENTICATED,
        ),
        post_with(
            "the key in x-goog-api-key, which is not a client-key header",
            FLASH,
            vec![("x-goog-api-key", CLIENT_KEY.as_bytes().to_vec())],
            UNAUTHENTICATED,
        ),
        post_with(
            "the key with a suffix",
            FLASH,
            vec![("x-api-key", format!("{CLIENT_KEY}x").into_bytes())],
            UNAUTHENTICATED,
        ),
        post_with(
            "a prefix of the key",
            FLASH,
            vec![(
                "x-api-key",
                CLIENT_KEY.as_bytes()[..CLIENT_KEY.len() - 1].to_vec(),
            )],
            UNAUTHENTICATED,
        ),
        post_with(
            "the key's SHA-256 instead of the key",
            FLASH,
            vec![(
                "x-api-key",
                vertex_passthrough_tests::stack::client_key_hash().into_bytes(),
            )],
            UNAUTHENTICATED,
        ),
        post_with(
            "every key header wrong",
            FLASH,
            vec![
                ("authorization", b"Bearer sk-a".to_vec()),
                ("x-api-key", b"sk-b".to_vec()),
                ("api-key", b"sk-c".to_vec()),
                ("x-litellm-api-key", b"sk-d".to_vec()),
            ],
            UNAUTHENTICATED,
        ),
        post_with(
            "SDK placeholder bearer beside the valid key",
            FLASH,
            vec![
                ("authorization", b"Bearer ya29.placeholder".to_vec()),
                ("x-api-key", CLIENT_KEY.as_bytes().to_vec()),
            ],
            Expect::Forwarded,
        ),
        post_with(
            "valid bearer beside a wrong x-api-key",
            FLASH,
            vec![
                ("authorization", bearer.clone()),
                ("x-api-key", b"sk-wrong".to_vec()),
            ],
            Expect::Forwarded,
        ),
        post_with(
            "valid key in api-key and a Google key in x-goog-api-key",
            FLASH,
            vec![
                ("api-key", CLIENT_KEY.as_bytes().to_vec()),
                ("x-goog-api-key", b"AIzaNotForwarded".to_vec()),
            ],
            Expect::Forwarded,
        ),
        raw_bytes(
            "upper-case header name",
            raw(&[format!("X-API-KEY: {CLIENT_KEY}").as_bytes()]),
            Expect::Forwarded,
        ),
    ])
    .await;
}

#[tokio::test]
async fn oversized_headers_are_refused_by_envoy_or_the_filter() {
    let many: Vec<(&'static str, Vec<u8>)> = std::iter::once(key_header())
        .chain((0..120).map(|_| ("x-filler", b"f".repeat(32))))
        .collect();
    corpus(vec![
        post_with(
            "key header of 70 KB",
            FLASH,
            vec![("x-api-key", b"k".repeat(70 * 1024))],
            Expect::RefusedOrReset,
        ),
        post_with(
            "authorization of 40 KB",
            FLASH,
            vec![(
                "authorization",
                format!("Bearer {}", "k".repeat(40 * 1024)).into_bytes(),
            )],
            UNAUTHENTICATED,
        ),
        post_with("121 request headers", FLASH, many, Expect::RefusedOrReset),
        post_with(
            "x-goog-api-key of 40 KB beside no client key",
            FLASH,
            vec![("x-goog-api-key", b"g".repeat(40 * 1024))],
            UNAUTHENTICATED,
        ),
        post_with(
            "an unrelated 70 KB header on a valid request, beyond Envoy's header limit",
            FLASH,
            vec![key_header(), ("x-long", b"u".repeat(70 * 1024))],
            Expect::RefusedOrReset,
        ),
    ])
    .await;
}

#[tokio::test]
async fn query_tricks_neither_authenticate_nor_smuggle() {
    corpus(vec![
        post_with(
            "the key in ?key= only",
            format!("{FLASH}?key={CLIENT_KEY}"),
            vec![],
            UNAUTHENTICATED,
        ),
        post_with(
            "the key in ?api_key= only",
            format!("{FLASH}?api_key={CLIENT_KEY}"),
            vec![],
            UNAUTHENTICATED,
        ),
        post(
            "empty key= is dropped",
            format!("{FLASH}?key="),
            Expect::Forwarded,
        ),
        post(
            "key= repeated among other parameters is dropped",
            format!("{FLASH}?key=a&alt=sse&key=b"),
            Expect::Forwarded,
        ),
        post(
            "repeated alt is passed on as sent",
            format!("{FLASH}?alt=sse&alt=json"),
            Expect::Forwarded,
        ),
        post(
            "model= with path characters on a REST path is dropped",
            format!("{FLASH}?model=..%2F..%2Fprojects%2Fother"),
            Expect::Forwarded,
        ),
        post(
            "encoded CRLF in the query stays encoded",
            format!("{FLASH}?x=%0d%0ax-injected:%201"),
            Expect::Forwarded,
        ),
        post(
            "the key behind a second question mark is dropped",
            format!("{FLASH}??key={CLIENT_KEY}&alt=sse"),
            Expect::Forwarded,
        ),
        post(
            "the key under a percent-encoded name is dropped",
            format!("{FLASH}?%6Bey={CLIENT_KEY}&alt=sse"),
            Expect::Forwarded,
        ),
        post(
            "the key as $key is dropped",
            format!("{FLASH}?$key={CLIENT_KEY}&alt=sse"),
            Expect::Forwarded,
        ),
        post(
            "the key as %24key is dropped",
            format!("{FLASH}?%24key={CLIENT_KEY}&alt=sse"),
            Expect::Forwarded,
        ),
        post_with(
            "the key as $key does not authenticate",
            format!("{FLASH}?$key={CLIENT_KEY}"),
            vec![],
            UNAUTHENTICATED,
        ),
        post(
            "userProject naming another project is dropped",
            format!("{FLASH}?userProject=someone-else&alt=sse"),
            Expect::Forwarded,
        ),
        post(
            "$userProject naming another project is dropped",
            format!("{FLASH}?%24userProject=someone-else&$userProject=someone-else"),
            Expect::Forwarded,
        ),
        post_with(
            "x-goog-user-project naming another project is dropped",
            FLASH,
            vec![
                key_header(),
                ("x-goog-user-project", b"someone-else".to_vec()),
            ],
            Expect::Forwarded,
        ),
        post_with(
            "the key under a percent-encoded name does not authenticate",
            format!("{FLASH}?%6Bey={CLIENT_KEY}"),
            vec![],
            UNAUTHENTICATED,
        ),
        post(
            "the method after the query",
            "/vertex_ai/models/flash?:generateContent",
            NOT_FOUND,
        ),
        post(
            "the model in the query and not in the path",
            "/vertex_ai/models/:generateContent?model=flash",
            INVALID,
        ),
        post(
            "query-only request under the prefix",
            "/vertex_ai?model=flash",
            NOT_FOUND,
        ),
        post(
            "traversal in the query of a Live path without upgrade",
            "/vertex_ai/live?model=..%2F..%2Fx",
            Expect::Filter(426, "FAILED_PRECONDITION"),
        ),
    ])
    .await;
}

#[tokio::test]
async fn absurd_http_and_vertex_methods_are_refused() {
    let verb = |name: &'static str, method: &'static str| Case {
        name,
        send: Send::Both {
            method,
            path: FLASH.to_string(),
            headers: vec![],
        },
        expect: UNAUTHENTICATED,
    };
    corpus(vec![
        verb("DELETE without a key", "DELETE"),
        verb("PUT without a key", "PUT"),
        verb("PATCH without a key", "PATCH"),
        verb("OPTIONS without a key", "OPTIONS"),
        verb("PROPFIND without a key", "PROPFIND"),
        Case {
            expect: Expect::Refused,
            ..verb("a made-up verb without a key (Envoy refuses it over HTTP/1.1)", "GENERATECONTENT")
        },
        raw_bytes("TRACE without a key", http1_request(b"TRACE /vertex_ai/models/flash:generateContent HTTP/1.1", &[], b""), UNAUTHENTICATED),
        raw_bytes("CONNECT to a Vertex host", http1_request(b"CONNECT us-central1-aiplatform.googleapis.com:443 HTTP/1.1", &[format!("x-api-key: {CLIENT_KEY}").as_bytes()], b""), Expect::Refused),
        raw_bytes("a method with a control character", b"PO\x01ST /vertex_ai/models/flash:generateContent HTTP/1.1\r\nhost: x\r\n\r\n".to_vec(), Expect::Refused),
        post("deleteModel is not a served method", "/vertex_ai/models/flash:deleteModel", NOT_FOUND),
        post("undeploy on an endpoint path", "/vertex_ai/v1/projects/proj-alpha/locations/us-central1/endpoints/e:undeployModel", NOT_FOUND),
        post("method name in another case", "/vertex_ai/models/flash:GENERATECONTENT", NOT_FOUND),
        post("method with a suffix", "/vertex_ai/models/flash:generateContent:stream", INVALID),
        post("empty method", "/vertex_ai/models/flash:", NOT_FOUND),
        post("empty model", "/vertex_ai/models/:generateContent", INVALID),
        post("double colon", "/vertex_ai/models/flash::generateContent", INVALID),
        post("API version v2", "/vertex_ai/v2/models/flash:generateContent", NOT_FOUND),
        post("a collection not served", "/vertex_ai/v1/projects/proj-alpha/locations/us-central1/featureGroups", NOT_FOUND),
        post("project not served by this proxy", "/vertex_ai/v1/projects/someone-else/locations/us-central1/publishers/google/models/m:generateContent", FORBIDDEN),
        post("valid full path for comparison", FULL, Expect::Forwarded),
    ])
    .await;
}

#[tokio::test]
async fn a_client_set_marker_header_never_routes_to_vertex() {
    let marker = ("x-vertex-passthrough", b"1".to_vec());
    corpus(vec![
        post_with("marker on a path outside the prefix", "/v1/projects/proj-alpha/locations/us-central1/publishers/google/models/m:generateContent", vec![marker.clone(), key_header()], NOT_FOUND),
        post_with("marker and a Google bearer outside the prefix", "/anything", vec![marker.clone(), ("authorization", b"Bearer ya29.client-owned".to_vec())], NOT_FOUND),
        post_with("marker under the prefix without a key", FLASH, vec![marker.clone()], UNAUTHENTICATED),
        post_with("marker with a WebSocket upgrade outside the prefix", "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent", vec![marker.clone(), ("upgrade", b"websocket".to_vec())], Expect::RefusedOrReset),
        post_with("marker under the prefix with a valid key is dropped", FLASH, vec![marker, key_header()], Expect::Forwarded),
    ])
    .await;
}

#[tokio::test]
async fn identity_headers_a_client_sets_never_reach_vertex() {
    let client = ("x-vertex-passthrough-client", b"team-admin".to_vec());
    let model = ("x-vertex-passthrough-model", b"gemini-ultra".to_vec());
    corpus(vec![
        post_with("forged client and model with a valid key are replaced", FLASH, vec![client.clone(), model.clone(), key_header()], Expect::Forwarded),
        post_with("forged client without a key", FLASH, vec![client.clone()], UNAUTHENTICATED),
        post_with("forged client outside the prefix", "/anything", vec![client.clone(), key_header()], NOT_FOUND),
        post_with("forged client with the marker outside the prefix", "/v1/projects/proj-alpha/locations/us-central1/publishers/google/models/m:generateContent", vec![client.clone(), ("x-vertex-passthrough", b"1".to_vec()), key_header()], NOT_FOUND),
        post_with("empty forged model", FLASH, vec![("x-vertex-passthrough-model", Vec::new()), key_header()], Expect::Forwarded),
    ])
    .await;
}

/// A WebSocket upgrade as a client sends it, raw.
fn upgrade(name: &'static str, target: &str, key: bool, expect: Expect) -> Case {
    let line = format!("GET {target} HTTP/1.1");
    let api_key = format!("x-api-key: {CLIENT_KEY}");
    let mut headers: Vec<&[u8]> = vec![
        b"upgrade: websocket",
        b"sec-websocket-version: 13",
        b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==",
    ];
    if key {
        headers.push(api_key.as_bytes());
    }
    let mut request = http1_request(line.as_bytes(), &headers, b"");
    // `connection: close` from http1_request would cancel the upgrade: ask for both.
    let text = String::from_utf8_lossy(&request)
        .replace("connection: close", "connection: upgrade, close");
    request = text.into_bytes();
    Case {
        name,
        send: Send::Raw(request),
        expect,
    }
}

#[tokio::test]
async fn websocket_upgrades_with_a_bad_model_parameter_are_refused_before_any_frame() {
    corpus(vec![
        upgrade("upgrade without a key", "/vertex_ai/live?model=live", false, UNAUTHENTICATED),
        upgrade("model parameter with encoded traversal", "/vertex_ai/live?model=..%2F..%2Fx", true, INVALID),
        upgrade("model parameter naming a path with dot-dot", "/vertex_ai/live?model=publishers%2F..%2Fmodels%2Fm", true, INVALID),
        upgrade("model parameter in a project not served", "/vertex_ai/live?model=projects%2Fother%2Flocations%2Fus%2Fpublishers%2Fgoogle%2Fmodels%2Fm", true, FORBIDDEN),
        upgrade("model parameter with a control character", "/vertex_ai/live?model=m%0d%0ax", true, INVALID),
        upgrade("model parameter with unicode", "/vertex_ai/live?model=gemini%E2%80%90live", true, INVALID),
        upgrade("model parameter of 200 characters", &format!("/vertex_ai/live?model={}", "m".repeat(200)), true, INVALID),
        upgrade("upgrade on a REST path", FLASH, true, INVALID),
    ])
    .await;
}

#[tokio::test]
async fn http_verbs_other_than_post_with_a_valid_key_never_reach_vertex() {
    let verb = |name: &'static str, method: &'static str| Case {
        name,
        send: Send::Both {
            method,
            path: FLASH.to_string(),
            headers: vec![key_header()],
        },
        expect: NOT_FOUND,
    };
    corpus(vec![
        verb("GET on generateContent", "GET"),
        verb("DELETE on generateContent", "DELETE"),
        verb("PUT on generateContent", "PUT"),
        verb("PATCH on generateContent", "PATCH"),
        verb("OPTIONS on generateContent", "OPTIONS"),
        raw_bytes(
            "TRACE on generateContent",
            http1_request(
                b"TRACE /vertex_ai/models/flash:generateContent HTTP/1.1",
                &[format!("x-api-key: {CLIENT_KEY}").as_bytes()],
                b"",
            ),
            NOT_FOUND,
        ),
        raw_bytes(
            "a made-up verb on generateContent",
            http1_request(
                b"GENERATECONTENT /vertex_ai/models/flash:generateContent HTTP/1.1",
                &[format!("x-api-key: {CLIENT_KEY}").as_bytes()],
                b"",
            ),
            Expect::Refused,
        ),
        Case {
            expect: Expect::Refused,
            ..verb(
                "HEAD on generateContent (no body to hold the error)",
                "HEAD",
            )
        },
        raw_bytes(
            "a lower-case post",
            http1_request(
                b"post /vertex_ai/models/flash:generateContent HTTP/1.1",
                &[format!("x-api-key: {CLIENT_KEY}").as_bytes()],
                generate_body().to_string().as_bytes(),
            ),
            Expect::Refused,
        ),
    ])
    .await;
}

/// The SDK's `get_map_value` unwraps the header value as UTF-8: a header the filter reads that
/// is not UTF-8 would panic the Wasm VM, and every later request on that worker would fail.
#[tokio::test]
async fn bytes_that_are_not_utf8_in_a_key_header_or_the_path_do_not_kill_a_worker() {
    let body = generate_body().to_string();
    let line = b"POST /vertex_ai/models/flash:generateContent HTTP/1.1";
    corpus(vec![
        post_with(
            "x-api-key in Latin-1 bytes",
            FLASH,
            vec![("x-api-key", b"sk-\xe9\xff".to_vec())],
            UNAUTHENTICATED,
        ),
        post_with(
            "authorization with a byte that is not UTF-8",
            FLASH,
            vec![("authorization", b"Bearer \xc3\x28".to_vec())],
            UNAUTHENTICATED,
        ),
        raw_bytes(
            "an upgrade header that is not UTF-8 is no upgrade",
            http1_request(
                line,
                &[
                    format!("x-api-key: {CLIENT_KEY}").as_bytes(),
                    b"upgrade: websock\xe9t",
                ],
                body.as_bytes(),
            ),
            Expect::Forwarded,
        ),
        raw_bytes(
            "api-key with a byte that is not UTF-8, raw",
            http1_request(line, &[b"api-key: \xff\xfe"], body.as_bytes()),
            UNAUTHENTICATED,
        ),
        raw_post(
            "a path byte that is not UTF-8",
            b"/vertex_ai/models/fl\xffash:generateContent",
            &[],
            Expect::Refused,
        ),
    ])
    .await;
}

/// A raw HTTP/1.1 POST of `path` with a valid key and `body`.
fn raw_post_body(name: &'static str, path: &str, body: &[u8], expect: Expect) -> Case {
    let key = format!("x-api-key: {CLIENT_KEY}");
    raw_bytes(
        name,
        http1_request(
            format!("POST {path} HTTP/1.1").as_bytes(),
            &[key.as_bytes()],
            body,
        ),
        expect,
    )
}

fn chat_body(model: &str, padding: usize) -> Vec<u8> {
    serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": "x".repeat(padding)}],
    })
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn resources_search_and_openai_paths_refuse_what_this_proxy_does_not_serve() {
    const CHAT: &str = "/vertex_ai/openai/chat/completions";
    let resource_verb = |name: &'static str, method: &'static str| Case {
        name,
        send: Send::Both {
            method,
            path: "/vertex_ai/v1/cachedContents/1".to_string(),
            headers: vec![key_header()],
        },
        expect: NOT_FOUND,
    };
    corpus(vec![
        post("a cache in a project not served", "/vertex_ai/v1/projects/proj-other/locations/us-central1/cachedContents", FORBIDDEN),
        post("a job in a project not served", "/vertex_ai/v1beta1/projects/proj-other/locations/global/batchPredictionJobs/1:cancel", FORBIDDEN),
        post("a location method in a project not served", "/vertex_ai/v1/projects/proj-other/locations/us-central1:retrieveContexts", FORBIDDEN),
        post("a collection not served", "/vertex_ai/v1/projects/proj-alpha/locations/us-central1/featureOnlineStores/1", NOT_FOUND),
        post("a collection not served, short form", "/vertex_ai/v1/datasets", NOT_FOUND),
        post("a location method not served", "/vertex_ai/v1/projects/proj-alpha/locations/us-central1:evaluateInstances", NOT_FOUND),
        post("an endpoint method not served", "/vertex_ai/v1/projects/proj-alpha/locations/us-central1/endpoints/1:undeployModel", NOT_FOUND),
        raw_post("dot-dot in a resource id", b"/vertex_ai/v1/projects/proj-alpha/locations/us-central1/cachedContents/../../../../proj-other/locations/l/cachedContents", &[], INVALID),
        raw_post("encoded dot-dot in a resource id", b"/vertex_ai/v1/cachedContents/%2e%2e", &[], INVALID),
        raw_post("encoded slash in a resource id", b"/vertex_ai/v1/cachedContents/1%2F..%2F2", &[], INVALID),
        raw_post("a space in a resource id", b"/vertex_ai/v1/cachedContents/a%20b", &[], INVALID),
        resource_verb("PUT on a cache", "PUT"),
        resource_verb("OPTIONS on a cache", "OPTIONS"),
        post("Search in a project not served", "/vertex_ai/discovery/v1/projects/proj-other/locations/global/dataStores", FORBIDDEN),
        post("Search in a location it does not have", "/vertex_ai/discovery/v1/projects/proj-alpha/locations/us-central1/dataStores", NOT_FOUND),
        raw_post("dot-dot in a Search path", b"/vertex_ai/discovery/v1/projects/proj-alpha/locations/global/../../proj-other/x", &[], INVALID),
        post("OpenAI-compatible path of a project not served", "/vertex_ai/v1beta1/projects/proj-other/locations/global/endpoints/openapi/chat/completions", FORBIDDEN),
        post("OpenAI-compatible call the endpoint does not have", "/vertex_ai/openai/completions", NOT_FOUND),
        raw_post_body("OpenAI body whose model names a project not served", CHAT, &chat_body("projects/proj-other/locations/us-central1/endpoints/1", 1), FORBIDDEN),
        raw_post_body("OpenAI body that is not JSON", CHAT, b"model=flash", INVALID),
        raw_post_body("OpenAI body with two models", CHAT, br#"{"model":"flash","model":"google/x","messages":[]}"#, INVALID),
        // Answered before the client has sent it all: HTTP/1.1 may see the reset first
        // (vertex_surface.rs reads the filter's 413 over HTTP/2).
        raw_post_body("OpenAI body over 8 MiB", CHAT, &chat_body("flash", 9 * 1024 * 1024), Expect::RefusedOrReset),
        raw_post_body("OpenAI body of 1 MiB", CHAT, &chat_body("flash", 1024 * 1024), Expect::Forwarded),
    ])
    .await;
}
