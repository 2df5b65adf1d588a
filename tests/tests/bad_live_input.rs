//! The WebSocket half of the bad-input corpus: Live sessions whose first message is not
//! a usable setup. The upgrade goes through before any frame (docs/design.md), so each bad first
//! message is answered in the session: the client gets a close frame with the filter's code and
//! a reason — 1007 for a message that is not a setup, 1008 for a setup the proxy will not
//! serve, 1009 for one that is too large, 1002 for frames that break RFC 6455 — and Vertex sees
//! no setup at all. A setup that never comes never reaches Vertex either. Odd but valid first
//! messages (fragmented, after pings, binary) are served. Afterwards, sessions on fresh
//! connections work on every worker and Envoy logged nothing at critical.
//!
//! Frames are written by hand on a raw socket, so malformed ones go out as they are.

use serde_json::json;
use std::time::Duration;
use vertex_passthrough_tests::emulator::LiveSession;
use vertex_passthrough_tests::probe::{
    frame, frame_claiming, RawWebSocket, BINARY, CLOSE, CONTINUATION, MASK, PING, TEXT,
};
use vertex_passthrough_tests::stack::{Stack, CLIENT_KEY};

const SESSION: &str = "/vertex_ai/live?model=live";

fn text(payload: &[u8]) -> Vec<u8> {
    frame(true, TEXT, payload, Some(MASK))
}

fn setup_json(model: &str) -> Vec<u8> {
    json!({"setup": {"model": model, "generationConfig": {"responseModalities": ["TEXT"]}}})
        .to_string()
        .into_bytes()
}

async fn open(stack: &Stack) -> RawWebSocket {
    RawWebSocket::open(stack.envoy.port, SESSION, &[("x-api-key", CLIENT_KEY)])
        .await
        .unwrap_or_else(|answer| panic!("the upgrade was refused: {answer:?}"))
}

/// What the session must end with.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// The client gets a close frame with this code and a reason; Vertex sees no message.
    Closed(u16),
    /// The setup is served (setupComplete), and Vertex saw it rewritten for the alias.
    Served,
    /// The first setup is served, then the client gets a close frame with this code and a
    /// reason; Vertex saw the first setup and nothing after it.
    ClosedAfterServing(u16),
    /// The client closes after its setup (and sends more): Vertex saw the setup, the Close, and
    /// no frame after it.
    NothingAfterTheClientsClose,
}

struct Case {
    name: &'static str,
    /// Written in this order, each piece in its own write.
    pieces: Vec<Vec<u8>>,
    expect: Expect,
}

fn case(name: &'static str, pieces: Vec<Vec<u8>>, expect: Expect) -> Case {
    Case {
        name,
        pieces,
        expect,
    }
}

/// Runs each case on its own session and checks what the client and Vertex saw.
async fn run(stack: &Stack, cases: Vec<Case>) {
    for case in cases {
        let name = case.name;
        let sessions_before = stack.emulator.live_sessions().len();
        let mut socket = open(stack).await;
        for piece in &case.pieces {
            // The filter may close while a large message is still being written.
            if socket.send(piece).await.is_err() {
                break;
            }
        }
        match case.expect {
            Expect::Closed(code) => {
                let (got, reason) = socket
                    .close_code()
                    .await
                    .unwrap_or_else(|| panic!("{name}: no close frame"));
                assert_eq!(got, code, "{name}: closed with {got} {reason:?}");
                assert!(
                    !reason.is_empty() && reason.len() <= 123,
                    "{name}: reason {reason:?}"
                );
                for session in &stack.ended_live_sessions(sessions_before).await {
                    assert!(
                        session.client_messages.is_empty() && session.setup_model.is_none(),
                        "{name}: Vertex saw {:?}",
                        session
                            .client_messages
                            .iter()
                            .map(|m| String::from_utf8_lossy(m).into_owned())
                            .collect::<Vec<_>>()
                    );
                }
            }
            Expect::ClosedAfterServing(code) => {
                let (got, reason) = socket
                    .close_code()
                    .await
                    .unwrap_or_else(|| panic!("{name}: no close frame"));
                assert_eq!(got, code, "{name}: closed with {got} {reason:?}");
                assert!(
                    !reason.is_empty() && reason.len() <= 123,
                    "{name}: reason {reason:?}"
                );
                let session =
                    vertex_session(stack, sessions_before, |s| s.close_code.is_some()).await;
                assert_eq!(
                    session.client_messages.len(),
                    1,
                    "{name}: Vertex saw {:?}",
                    session
                        .client_messages
                        .iter()
                        .map(|m| String::from_utf8_lossy(m).into_owned())
                        .collect::<Vec<_>>()
                );
            }
            Expect::NothingAfterTheClientsClose => {
                // Vertex answers the client's Close; then the client goes.
                let _ = socket.close_code().await;
                socket.drop_connection().await;
                let session = vertex_session(stack, sessions_before, |s| s.ended).await;
                assert_eq!(session.close_code, Some(1000), "{name}");
                assert_eq!(session.client_messages.len(), 1, "{name}");
                // The setup's frame and the Close (a code, no reason), and not a byte more.
                let setup = session.client_messages[0].len();
                let setup_frame = 2 + 4 + if setup < 126 { 0 } else { 2 };
                assert_eq!(
                    session.bytes_received,
                    setup_frame + setup + 2 + 4 + 2,
                    "{name}: Vertex got bytes after the client's Close"
                );
            }
            Expect::Served => {
                let answer = loop {
                    let frame = socket
                        .next_frame(Duration::from_secs(10))
                        .await
                        .unwrap_or_else(|| panic!("{name}: no answer to the setup"));
                    if frame.opcode == TEXT || frame.opcode == BINARY {
                        break frame;
                    }
                    assert_ne!(frame.opcode, CLOSE, "{name}: closed: {frame:?}");
                };
                let answer: serde_json::Value = serde_json::from_slice(&answer.payload)
                    .unwrap_or_else(|_| panic!("{name}: {answer:?}"));
                assert!(answer.get("setupComplete").is_some(), "{name}: {answer}");
                let session = stack.emulator.live_sessions()[sessions_before].clone();
                assert_eq!(
                    session.setup_model.as_deref(),
                    Some("projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-2.0-flash-live-preview-04-09"),
                    "{name}"
                );
                let _ = socket
                    .send(&frame(true, CLOSE, &1000u16.to_be_bytes(), Some(MASK)))
                    .await;
            }
        }
    }
}

/// The Vertex session at `index` once `done` holds for it (polled, with a deadline).
async fn vertex_session(
    stack: &Stack,
    index: usize,
    done: impl Fn(&LiveSession) -> bool,
) -> LiveSession {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(session) = stack.emulator.live_sessions().get(index) {
            if done(session) {
                return session.clone();
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Vertex session {index} not there or not done: {:?}",
            stack.emulator.live_sessions().get(index)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// After the corpus: Live sessions on fresh connections are served on every worker, and
/// nothing was logged at critical (where the SDK's panic hook logs).
async fn assert_every_worker_still_serves(stack: &Stack) {
    const SESSIONS: usize = 24;
    let valid = (0..SESSIONS)
        .map(|_| {
            case(
                "a valid session after the corpus",
                vec![text(&setup_json("live"))],
                Expect::Served,
            )
        })
        .collect();
    stack
        .envoy
        .assert_every_worker_took_part(2, &format!("{SESSIONS} sessions"), run(stack, valid))
        .await;
    stack.envoy.assert_nothing_critical_logged();
}

async fn corpus(cases: Vec<Case>) {
    let stack = Stack::start().await;
    run(&stack, cases).await;
    assert_every_worker_still_serves(&stack).await;
}

#[tokio::test]
async fn a_first_message_that_is_not_a_setup_closes_with_1007_and_vertex_sees_nothing() {
    let nested = format!(
        "{{\"setup\": {{\"model\": \"live\", \"x\": {}{}}}}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    corpus(vec![
        case("plain text", vec![text(b"hello")], Expect::Closed(1007)),
        case(
            "an empty text message",
            vec![text(b"")],
            Expect::Closed(1007),
        ),
        case(
            "binary garbage",
            vec![frame(
                true,
                BINARY,
                &[0xff, 0x00, 0x13, 0x37, 0x80],
                Some(MASK),
            )],
            Expect::Closed(1007),
        ),
        case(
            "truncated JSON",
            vec![text(br#"{"setup": {"model": "#)],
            Expect::Closed(1007),
        ),
        case(
            "a JSON array",
            vec![text(b"[1, 2, 3]")],
            Expect::Closed(1007),
        ),
        case(
            "a JSON string",
            vec![text(br#""setup""#)],
            Expect::Closed(1007),
        ),
        case(
            "setup that is a string",
            vec![text(br#"{"setup": "live"}"#)],
            Expect::Closed(1007),
        ),
        case(
            "a client turn before any setup",
            vec![text(
                br#"{"clientContent": {"turns": [], "turnComplete": true}}"#,
            )],
            Expect::Closed(1007),
        ),
        case(
            "text that is not UTF-8",
            vec![text(b"{\"setup\": {\"model\": \"\xff\xfe\"}}")],
            Expect::Closed(1007),
        ),
        case(
            "JSON nested 5000 levels deep",
            vec![text(nested.as_bytes())],
            Expect::Closed(1007),
        ),
        case(
            "two JSON objects in one message",
            vec![text(br#"{"setup": {"model": "live"}}{"setup": {}}"#)],
            Expect::Closed(1007),
        ),
    ])
    .await;
}

#[tokio::test]
async fn a_setup_without_a_servable_model_closes_with_1008_and_vertex_sees_nothing() {
    corpus(vec![
        case(
            "setup without a model",
            vec![text(br#"{"setup": {}}"#)],
            Expect::Closed(1008),
        ),
        case(
            "a model that is a number",
            vec![text(br#"{"setup": {"model": 42}}"#)],
            Expect::Closed(1008),
        ),
        case(
            "a model that is null",
            vec![text(br#"{"setup": {"model": null}}"#)],
            Expect::Closed(1008),
        ),
        case(
            "a model with dot-dot segments",
            vec![text(&setup_json("projects/../../x"))],
            Expect::Closed(1008),
        ),
        case(
            "a model with an encoded slash",
            vec![text(&setup_json("models/a%2Fb"))],
            Expect::Closed(1008),
        ),
        case(
            "a model in a project not served",
            vec![text(&setup_json(
                "projects/someone-else/locations/us-central1/publishers/google/models/m",
            ))],
            Expect::Closed(1008),
        ),
        case(
            "a model in another location",
            vec![text(&setup_json(
                "projects/proj-alpha/locations/europe-west4/publishers/google/models/m",
            ))],
            Expect::Closed(1008),
        ),
        case(
            "a model name of 10 KB",
            vec![text(&setup_json(&"m".repeat(10 * 1024)))],
            Expect::Closed(1008),
        ),
        case(
            "a model with a control character",
            vec![text(&setup_json("gemini\u{7}live"))],
            Expect::Closed(1008),
        ),
        case(
            "a unicode lookalike model",
            vec![text(&setup_json("gemini\u{2010}live"))],
            Expect::Closed(1008),
        ),
    ])
    .await;
}

#[tokio::test]
async fn a_huge_first_message_closes_with_1009_and_vertex_sees_nothing() {
    let big = {
        let mut setup = setup_json("live");
        let padding = format!(r#","pad":"{}"}}"#, "p".repeat(100 * 1024));
        setup.truncate(setup.len() - 1);
        setup.extend_from_slice(padding.as_bytes());
        setup
    };
    let fragmented: Vec<Vec<u8>> = big
        .chunks(4096)
        .enumerate()
        .map(|(i, chunk)| {
            let opcode = if i == 0 { TEXT } else { CONTINUATION };
            let last = (i + 1) * 4096 >= big.len();
            frame(last, opcode, chunk, Some(MASK))
        })
        .collect();
    let pings: Vec<Vec<u8>> = (0..600)
        .map(|_| frame(true, PING, &[b'p'; 125], Some(MASK)))
        .collect();
    corpus(vec![
        case(
            "a setup of 100 KB in one frame",
            vec![text(&big)],
            Expect::Closed(1009),
        ),
        case(
            "a setup of 100 KB in 4 KB fragments",
            fragmented,
            Expect::Closed(1009),
        ),
        case(
            "a frame header claiming 2^62 bytes",
            vec![frame_claiming(true, TEXT, b"{", 1 << 62, Some(MASK))],
            Expect::Closed(1009),
        ),
        case(
            "75 KB of pings before any setup",
            pings,
            Expect::Closed(1009),
        ),
    ])
    .await;
}

#[tokio::test]
async fn frames_that_break_rfc_6455_close_with_1002_and_vertex_sees_nothing() {
    let with_rsv = {
        let mut bytes = text(&setup_json("live"));
        bytes[0] |= 0x40;
        bytes
    };
    corpus(vec![
        case(
            "an unmasked client frame",
            vec![frame(true, TEXT, &setup_json("live"), None)],
            Expect::Closed(1002),
        ),
        case("a reserved bit set", vec![with_rsv], Expect::Closed(1002)),
        case(
            "a continuation before any message",
            vec![frame(true, CONTINUATION, &setup_json("live"), Some(MASK))],
            Expect::Closed(1002),
        ),
        case(
            "an unknown opcode",
            vec![frame(true, 0x3, &setup_json("live"), Some(MASK))],
            Expect::Closed(1002),
        ),
        case(
            "a fragmented ping",
            vec![frame(false, PING, b"x", Some(MASK))],
            Expect::Closed(1002),
        ),
        case(
            "a ping of 126 bytes",
            vec![frame(true, PING, &[0; 126], Some(MASK))],
            Expect::Closed(1002),
        ),
        case(
            "a new message inside a fragmented one",
            vec![frame(false, TEXT, b"{\"setup\":", Some(MASK)), text(b"{}")],
            Expect::Closed(1002),
        ),
        case(
            "a length with its top bit set",
            vec![frame_claiming(true, TEXT, b"", 1 << 63, Some(MASK))],
            Expect::Closed(1002),
        ),
    ])
    .await;
}

#[tokio::test]
async fn a_setup_that_never_comes_never_reaches_vertex() {
    let stack = Stack::start().await;

    // Nothing at all, then a closing handshake: the first frame back answers the close.
    let mut silent = open(&stack).await;
    silent
        .send(&frame(true, CLOSE, &1000u16.to_be_bytes(), Some(MASK)))
        .await
        .unwrap();
    let first = silent.next_frame(Duration::from_secs(10)).await;
    assert!(
        first.as_ref().is_none_or(|f| f.opcode == CLOSE),
        "the proxy answered a client that sent nothing: {first:?}"
    );

    // Pings only, then the connection just ends.
    let mut pinging = open(&stack).await;
    for _ in 0..3 {
        pinging
            .send(&frame(true, PING, b"are you there", Some(MASK)))
            .await
            .unwrap();
    }
    pinging.drop_connection().await;

    // Half a setup frame, then the connection ends.
    let mut half = open(&stack).await;
    let setup = text(&setup_json("live"));
    half.send(&setup[..setup.len() / 2]).await.unwrap();
    half.drop_connection().await;

    let sessions = stack.ended_live_sessions(0).await;
    assert_eq!(sessions.len(), 3, "one Vertex session a connection");
    assert!(
        sessions
            .iter()
            .all(|s| s.client_messages.is_empty() && s.setup_model.is_none()),
        "Vertex saw a message: {sessions:#?}"
    );
    assert_every_worker_still_serves(&stack).await;
}

#[tokio::test]
async fn odd_but_valid_first_messages_are_served() {
    let setup = setup_json("live");
    let byte_by_byte: Vec<Vec<u8>> = setup
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let opcode = if i == 0 { TEXT } else { CONTINUATION };
            frame(i + 1 == setup.len(), opcode, &[*b], Some(MASK))
        })
        .collect();
    let whole = text(&setup);
    let trickled: Vec<Vec<u8>> = whole.iter().map(|b| vec![*b]).collect();
    corpus(vec![
        case(
            "a setup in one fragment per byte",
            byte_by_byte,
            Expect::Served,
        ),
        case(
            "a setup written one byte per write",
            trickled,
            Expect::Served,
        ),
        case(
            "a setup after three pings",
            vec![
                frame(true, PING, b"1", Some(MASK)),
                frame(true, PING, b"2", Some(MASK)),
                frame(true, PING, b"3", Some(MASK)),
                whole.clone(),
            ],
            Expect::Served,
        ),
        case(
            "a setup as a binary frame",
            vec![frame(true, BINARY, &setup, Some(MASK))],
            Expect::Served,
        ),
        case(
            "a setup naming the alias in the full form",
            vec![text(&setup_json(
                "projects/proj-alpha/locations/us-central1/publishers/google/models/live",
            ))],
            Expect::Served,
        ),
    ])
    .await;
}

fn setup_with_rag_corpus(model: &str, corpus: &str) -> Vec<u8> {
    json!({"setup": {"model": model, "tools": [{"retrieval": {"vertexRagStore": {
        "ragResources": [{"ragCorpus": corpus}]
    }}}]}})
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn a_setup_naming_a_resource_in_a_project_not_served_closes_with_1008() {
    corpus(vec![
        case(
            "a RAG corpus in another project",
            vec![text(&setup_with_rag_corpus(
                "live",
                "projects/someone-else/locations/us-central1/ragCorpora/1",
            ))],
            Expect::Closed(1008),
        ),
        case(
            "cached content in another project, as a full resource URL",
            vec![text(
                &json!({"setup": {"model": "live", "cachedContent":
                    "//aiplatform.googleapis.com/projects/someone-else/locations/us-central1/cachedContents/2"}})
                .to_string()
                .into_bytes(),
            )],
            Expect::Closed(1008),
        ),
        case(
            "a RAG corpus in a served project",
            vec![text(&setup_with_rag_corpus(
                "live",
                "projects/proj-alpha/locations/us-central1/ragCorpora/1",
            ))],
            Expect::Served,
        ),
    ])
    .await;
}

#[tokio::test]
async fn a_second_setup_is_checked_like_the_first() {
    let foreign_model =
        setup_json("projects/someone-else/locations/us-central1/publishers/google/models/m");
    corpus(vec![
        case(
            "a second setup naming a project not served",
            vec![text(&setup_json("live")), text(&foreign_model)],
            Expect::ClosedAfterServing(1008),
        ),
        case(
            "a second setup in the same write as the first",
            vec![[text(&setup_json("live")), text(&foreign_model)].concat()],
            Expect::ClosedAfterServing(1008),
        ),
        case(
            "a second setup with a RAG corpus in another project, fragmented",
            {
                let second = setup_with_rag_corpus(
                    "live",
                    "projects/someone-else/locations/us-central1/ragCorpora/1",
                );
                let (a, b) = second.split_at(10);
                vec![
                    text(&setup_json("live")),
                    frame(false, TEXT, a, Some(MASK)),
                    frame(true, CONTINUATION, b, Some(MASK)),
                ]
            },
            Expect::ClosedAfterServing(1008),
        ),
    ])
    .await;
}

#[tokio::test]
async fn nothing_the_client_sends_after_its_close_frame_reaches_vertex() {
    let close = frame(true, CLOSE, &1000u16.to_be_bytes(), Some(MASK));
    let late = text(br#"{"clientContent": {"turns": [{"role": "user", "parts": [{"text": "late"}]}], "turnComplete": true}}"#);
    corpus(vec![
        case(
            "a message after the Close, in its own write",
            vec![text(&setup_json("live")), close.clone(), late.clone()],
            Expect::NothingAfterTheClientsClose,
        ),
        case(
            "a message after the Close, in the same write",
            vec![text(&setup_json("live")), [close, late].concat()],
            Expect::NothingAfterTheClientsClose,
        ),
    ])
    .await;
}

#[tokio::test]
async fn a_model_query_naming_a_location_longer_than_a_dns_label_is_refused_at_the_upgrade() {
    let stack = Stack::start().await;
    let path = format!(
        "/vertex_ai/live?model=projects/proj-alpha/locations/{}/publishers/google/models/m",
        "l".repeat(64)
    );
    let Err(refused) =
        RawWebSocket::open(stack.envoy.port, &path, &[("x-api-key", CLIENT_KEY)]).await
    else {
        panic!("the upgrade went through");
    };
    let answer = refused
        .answer()
        .unwrap_or_else(|| panic!("no answer: {refused:?}"));
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert!(
        answer.text().contains("INVALID_ARGUMENT"),
        "{}",
        answer.text()
    );
    assert!(stack.emulator.live_sessions().is_empty());
}
