use super::*;
use crate::live::frame::close_frame;
use crate::live::test_frames::{client, pattern};

const LIMIT: usize = 1024 * 1024;

/// Keeps every message; records the payloads it was shown.
fn feed_all(gate: &mut ClientGate, chunks: &[&[u8]], seen: &mut Vec<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in chunks {
        let mut check = |payload: &[u8]| {
            seen.push(payload.to_vec());
            Ok(None)
        };
        match gate.feed(chunk, &mut check, &mut || [1, 2, 3, 4]) {
            GateStep::Pass => out.extend_from_slice(chunk),
            GateStep::Replace(bytes) => out.extend(bytes),
            GateStep::Refuse(..) => panic!("refused"),
        }
    }
    out
}

#[test]
fn whole_messages_pass_untouched_without_a_copy() {
    let mut gate = ClientGate::new(LIMIT);
    let stream = [
        client(Opcode::Text, true, b"{\"a\":1}"),
        client(Opcode::Ping, true, b""),
    ]
    .concat();
    let step = gate.feed(&stream, &mut |_: &[u8]| Ok(None), &mut || [0; 4]);
    assert_eq!(step, GateStep::Pass);
}

#[test]
fn a_message_cut_anywhere_is_let_through_once_complete_and_checked_whole() {
    let message = client(Opcode::Binary, true, &pattern(300));
    let after = client(Opcode::Text, true, b"{}");
    let stream = [message.clone(), after].concat();
    for at in 1..stream.len() {
        let mut gate = ClientGate::new(LIMIT);
        let mut seen = Vec::new();
        let (a, b) = stream.split_at(at);
        let out = feed_all(&mut gate, &[a, b], &mut seen);
        assert_eq!(out, stream, "cut at {at}");
        assert_eq!(seen.first(), Some(&pattern(300)), "cut at {at}");
    }
}

#[test]
fn a_fragmented_message_is_checked_as_one_payload() {
    let stream = [
        client(Opcode::Text, false, b"{\"set"),
        client(Opcode::Ping, true, b"p"),
        client(Opcode::Continuation, true, b"up\":{}}"),
    ]
    .concat();
    let mut gate = ClientGate::new(LIMIT);
    let mut seen = Vec::new();
    let first = client(Opcode::Text, false, b"{\"set");
    let out = feed_all(&mut gate, &[&first, &stream[first.len()..]], &mut seen);
    assert_eq!(out, stream);
    assert_eq!(seen, [b"{\"setup\":{}}".to_vec()]);
}

#[test]
fn nothing_after_the_clients_close_frame_is_let_through() {
    let close = close_frame(1000, "bye", Some([9, 9, 9, 9]));
    let before = client(Opcode::Text, true, b"{}");
    let late = client(Opcode::Text, true, b"{\"setup\":{\"model\":\"x\"}}");
    let stream = [before.clone(), close.clone(), late.clone()].concat();
    let mut gate = ClientGate::new(LIMIT);
    let mut seen = Vec::new();
    let out = feed_all(&mut gate, &[&stream, &late], &mut seen);
    assert_eq!(out, [before, close].concat());
    assert_eq!(seen.len(), 1);
}

#[test]
fn a_refused_message_stops_the_stream_before_it() {
    let good = client(Opcode::Text, true, b"{}");
    let bad = client(Opcode::Text, true, b"{\"setup\":{}}");
    let stream = [good.clone(), bad, good.clone()].concat();
    let mut gate = ClientGate::new(LIMIT);
    let mut check = |payload: &[u8]| {
        if payload == b"{}" {
            Ok(None)
        } else {
            Err(CloseDecision {
                code: 1008,
                reason: "no".into(),
            })
        }
    };
    let step = gate.feed(&stream, &mut check, &mut || [0; 4]);
    assert_eq!(
        step,
        GateStep::Refuse(
            good,
            CloseDecision {
                code: 1008,
                reason: "no".into()
            }
        )
    );
    assert_eq!(
        gate.feed(&stream, &mut check, &mut || [0; 4]),
        GateStep::Replace(Vec::new())
    );
}

#[test]
fn a_rewritten_message_goes_as_one_frame_in_its_place() {
    let first = client(Opcode::Text, true, b"{}");
    let setup = client(Opcode::Text, true, b"{\"setup\":{\"model\":\"alias\"}}");
    let stream = [first.clone(), setup, first.clone()].concat();
    let mut gate = ClientGate::new(LIMIT);
    let mut check = |payload: &[u8]| {
        Ok((payload != b"{}").then(|| b"{\"setup\":{\"model\":\"full\"}}".to_vec()))
    };
    let GateStep::Replace(out) = gate.feed(&stream, &mut check, &mut || [5, 6, 7, 8]) else {
        panic!("not replaced");
    };
    let mut expected_setup = Vec::new();
    crate::live::frame::encode_frame(
        &mut expected_setup,
        true,
        Opcode::Text,
        b"{\"setup\":{\"model\":\"full\"}}",
        Some([5, 6, 7, 8]),
    );
    assert_eq!(out, [first.clone(), expected_setup, first].concat());
}

#[test]
fn a_message_over_the_limit_closes_with_1009() {
    let mut gate = ClientGate::new(100);
    let big = client(Opcode::Binary, true, &pattern(200));
    let step = gate.feed(&big[..150], &mut |_: &[u8]| Ok(None), &mut || [0; 4]);
    assert!(
        matches!(step, GateStep::Refuse(ref out, ref d) if out.is_empty() && d.code == CLOSE_TOO_BIG),
        "{step:?}"
    );
}

#[test]
fn a_continuation_without_a_message_is_a_protocol_error() {
    let mut gate = ClientGate::new(LIMIT);
    let stray = client(Opcode::Continuation, true, b"x");
    let step = gate.feed(&stray, &mut |_: &[u8]| Ok(None), &mut || [0; 4]);
    assert!(
        matches!(step, GateStep::Refuse(_, ref d) if d.code == 1002),
        "{step:?}"
    );
}
