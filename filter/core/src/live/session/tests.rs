//! A Live session's phases: awaiting the setup, streaming, refused, closed.

use super::*;
use crate::live::frame::{parse_header, Opcode};
use crate::live::test_frames::{client, server};
use crate::mock::{MockProxy, T0};
use crate::routing::resolve::live;
use crate::test_config;
use serde_json::json;

fn config() -> Config {
    let c = json!({
        "vertex_project": "proj-alpha",
        "vertex_location": "us-central1",
        "credentials": {"default": {"type": "access_token", "token": "t"}},
        "model_list": [
            {"model_name": "live", "litellm_params": {"model": "gemini-live-2.5-flash"}},
            {"model_name": "far", "litellm_params": {"model": "gemini-live-2.5-flash", "vertex_location": "europe-west4"}},
        ],
        "allow_unauthenticated": true,
    });
    test_config::load(&c)
}

struct Fixture {
    config: Config,
    metrics: Metrics,
    session: LiveSession,
}

/// A session connected with `?model=live`.
fn fixture() -> Fixture {
    fixture_for(crate::client_auth::Client::unrestricted("test"))
}

/// A session connected with `?model=live` by `caller`.
fn fixture_for(caller: crate::client_auth::Client) -> Fixture {
    let config = config();
    let target = live(&config, None, Some("live"), None)
        .unwrap()
        .live
        .unwrap();
    let metrics = Metrics::define(&MockProxy::new().worker(), &["default"]);
    Fixture {
        config,
        metrics,
        session: LiveSession::new(target, std::rc::Rc::new(caller), 42),
    }
}

impl Fixture {
    fn client(&mut self, bytes: &[u8]) -> ClientStep {
        self.session
            .on_client_bytes(bytes, false, &self.config, &self.metrics)
    }
}

fn setup(model: &str) -> Vec<u8> {
    json!({"setup": {"model": model, "generationConfig": {"temperature": 0.5}}})
        .to_string()
        .into_bytes()
}

fn replaced(step: ClientStep) -> Vec<u8> {
    match step {
        ClientStep::Replace(bytes) => bytes,
        ClientStep::Buffer => panic!("buffered"),
        ClientStep::Pass => panic!("passed"),
    }
}

/// The first frame of `bytes`, unmasked: its opcode and payload.
fn first_frame(bytes: &[u8]) -> (Opcode, Vec<u8>) {
    let header = parse_header(bytes).unwrap().unwrap();
    let start = header.header_len;
    let end = start + header.payload_len as usize;
    let mut payload = bytes[start..end].to_vec();
    if let Some(key) = header.mask {
        crate::live::frame::apply_mask(&mut payload, key, 0);
    }
    (header.opcode, payload)
}

fn close_code(frame: &[u8]) -> u16 {
    let (opcode, payload) = first_frame(frame);
    assert_eq!(opcode, Opcode::Close);
    u16::from_be_bytes([payload[0], payload[1]])
}

#[test]
fn a_new_session_awaits_the_setup() {
    assert_eq!(fixture().session.phase(), PhaseName::AwaitingSetup);
}

#[test]
fn part_of_the_first_message_is_buffered() {
    let mut f = fixture();
    let frame = client(Opcode::Text, true, &setup("live"));
    assert!(matches!(f.client(&frame[..10]), ClientStep::Buffer));
    assert_eq!(f.session.phase(), PhaseName::AwaitingSetup);
}

#[test]
fn the_setup_goes_upstream_with_the_full_model_name() {
    let mut f = fixture();
    let out = replaced(f.client(&client(Opcode::Text, true, &setup("live"))));
    let (opcode, payload) = first_frame(&out);
    assert_eq!(opcode, Opcode::Text);
    let message: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        message["setup"]["model"],
        "projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-live-2.5-flash"
    );
    assert_eq!(message["setup"]["generationConfig"]["temperature"], 0.5);
}

#[test]
fn the_rewritten_setup_is_masked_as_a_client_frame_must_be() {
    let mut f = fixture();
    let out = replaced(f.client(&client(Opcode::Text, true, &setup("live"))));
    assert!(parse_header(&out).unwrap().unwrap().mask.is_some());
}

#[test]
fn after_the_setup_the_session_streams() {
    let mut f = fixture();
    f.client(&client(Opcode::Text, true, &setup("live")));
    assert_eq!(f.session.phase(), PhaseName::Streaming);
    assert_eq!(
        f.session.model(),
        Some("projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-live-2.5-flash")
    );
    let next = client(Opcode::Binary, true, b"audio");
    assert!(matches!(f.client(&next), ClientStep::Pass));
}

#[test]
fn bytes_after_the_setup_in_the_same_chunk_are_kept() {
    let mut f = fixture();
    let mut chunk = client(Opcode::Text, true, &setup("live"));
    let next = client(Opcode::Binary, true, b"audio");
    chunk.extend(&next);
    let out = replaced(f.client(&chunk));
    assert!(out.ends_with(&next));
}

#[test]
fn a_setup_for_another_location_is_refused_with_1008() {
    let mut f = fixture();
    let out = replaced(f.client(&client(Opcode::Text, true, &setup("far"))));
    assert_eq!(close_code(&out), 1008);
    assert_eq!(f.session.phase(), PhaseName::Refused);
    assert_eq!(f.metrics.live.setups_refused.pending(), 1);
}

#[test]
fn a_setup_for_a_model_outside_the_keys_models_is_refused_with_1008_naming_it() {
    let mut caller = crate::client_auth::Client::unrestricted("team-a");
    caller.models = Some(vec!["live".to_string()]);
    let mut f = fixture_for(caller);
    let out = replaced(f.client(&client(Opcode::Text, true, &setup("gemini-live-2.5-flash"))));
    assert_eq!(close_code(&out), 1008);
    let (_, payload) = first_frame(&out);
    assert!(String::from_utf8_lossy(&payload).contains("gemini-live-2.5-flash"));
    assert_eq!(f.session.phase(), PhaseName::Refused);
}

#[test]
fn a_setup_for_a_model_the_key_lists_goes_upstream() {
    let mut caller = crate::client_auth::Client::unrestricted("team-a");
    caller.models = Some(vec!["live".to_string()]);
    let mut f = fixture_for(caller);
    replaced(f.client(&client(Opcode::Text, true, &setup("live"))));
    assert_eq!(f.session.phase(), PhaseName::Streaming);
}

#[test]
fn a_first_message_that_is_not_a_setup_is_refused_with_1007() {
    let mut f = fixture();
    let out = replaced(f.client(&client(Opcode::Text, true, b"{\"hello\":1}")));
    assert_eq!(close_code(&out), 1007);
}

#[test]
fn a_first_message_over_64_kib_is_refused_with_1009() {
    let mut f = fixture();
    let big = vec![b' '; 64 * 1024 + 1];
    let out = replaced(f.client(&client(Opcode::Text, true, &big)));
    assert_eq!(close_code(&out), 1009);
}

#[test]
fn a_malformed_first_frame_is_refused_with_1002() {
    let mut f = fixture();
    // An unmasked client frame breaks RFC 6455.
    let out = replaced(f.client(&server(Opcode::Text, true, &setup("live"))));
    assert_eq!(close_code(&out), 1002);
}

#[test]
fn the_upstream_close_of_a_refusal_is_masked_and_the_clients_is_not() {
    let mut f = fixture();
    let out = replaced(f.client(&client(Opcode::Text, true, &setup("far"))));
    assert!(parse_header(&out).unwrap().unwrap().mask.is_some());
    let to_client = f.session.on_server_bytes(b"x", &f.metrics).unwrap();
    assert!(parse_header(&to_client).unwrap().unwrap().mask.is_none());
}

#[test]
fn after_a_refusal_the_clients_bytes_are_dropped() {
    let mut f = fixture();
    f.client(&client(Opcode::Text, true, &setup("far")));
    let more = client(Opcode::Binary, true, b"audio");
    assert_eq!(replaced(f.client(&more)), Vec::<u8>::new());
}

#[test]
fn after_a_refusal_the_client_gets_the_reason_once_in_place_of_upstreams_answer() {
    let mut f = fixture();
    f.client(&client(Opcode::Text, true, &setup("far")));
    let upstream_close = server(Opcode::Close, true, &[0x03, 0xe8]);
    let first = f
        .session
        .on_server_bytes(&upstream_close, &f.metrics)
        .unwrap();
    assert_eq!(close_code(&first), 1008);
    let (_, payload) = first_frame(&first);
    assert!(String::from_utf8_lossy(&payload).contains("europe-west4"));
    assert_eq!(
        f.session.on_server_bytes(&upstream_close, &f.metrics),
        Some(Vec::new())
    );
}

#[test]
fn a_client_that_ends_before_a_whole_first_message_leaves_the_setup_phase() {
    let mut f = fixture();
    let frame = client(Opcode::Text, true, &setup("live"));
    f.session
        .on_client_bytes(&frame[..10], true, &f.config, &f.metrics);
    assert_eq!(f.session.phase(), PhaseName::Streaming);
}

#[test]
fn a_close_before_any_setup_streams_on() {
    let mut f = fixture();
    let close = client(Opcode::Close, true, &[0x03, 0xe8]);
    assert!(matches!(f.client(&close), ClientStep::Pass));
    assert_eq!(f.session.phase(), PhaseName::Streaming);
}

#[test]
fn streamed_client_messages_are_counted() {
    let mut f = fixture();
    f.client(&client(Opcode::Text, true, &setup("live")));
    f.client(&client(Opcode::Binary, true, b"audio"));
    assert_eq!(f.metrics.live.client_messages.pending(), 2);
}

#[test]
fn server_usage_is_counted_and_passed_on_untouched() {
    let mut f = fixture();
    f.client(&client(Opcode::Text, true, &setup("live")));
    let usage = json!({"usageMetadata": {"promptTokenCount": 3, "responseTokenCount": 4, "totalTokenCount": 7}});
    let frame = server(Opcode::Text, true, usage.to_string().as_bytes());
    assert_eq!(f.session.on_server_bytes(&frame, &f.metrics), None);
    assert_eq!(f.metrics.live.server_messages.pending(), 1);
    assert_eq!(f.metrics.live.total_tokens.pending(), 7);
}

#[test]
fn an_opened_session_is_counted() {
    let mut f = fixture();
    f.session.opened(T0, &f.metrics);
    assert_eq!(f.metrics.live.sessions_opened.pending(), 1);
}

#[test]
fn an_opened_session_that_ends_is_counted_once_and_closed() {
    let mut f = fixture();
    f.session.opened(T0, &f.metrics);
    f.session.closed(T0 + 1_000, &f.metrics);
    f.session.closed(T0 + 2_000, &f.metrics);
    assert_eq!(f.metrics.live.sessions_closed.pending(), 1);
    assert_eq!(f.session.phase(), PhaseName::Closed);
}

#[test]
fn a_session_never_opened_is_not_counted_as_closed() {
    let mut f = fixture();
    f.session.closed(T0, &f.metrics);
    assert_eq!(f.metrics.live.sessions_closed.pending(), 0);
}

#[test]
fn a_closed_session_passes_nothing_more() {
    let mut f = fixture();
    f.session.closed(T0, &f.metrics);
    let more = client(Opcode::Binary, true, b"audio");
    assert_eq!(replaced(f.client(&more)), Vec::<u8>::new());
    assert_eq!(
        f.session.on_server_bytes(b"x", &f.metrics),
        Some(Vec::new())
    );
}

#[test]
fn every_frame_the_filter_writes_gets_a_fresh_mask() {
    let mut seed = 42;
    let a = next_mask(&mut seed);
    let b = next_mask(&mut seed);
    assert_ne!(a, b);
}
