use super::*;
use crate::live::test_frames::{client, pattern, server};

const LIMIT: usize = 64 * 1024;
const SETUP: &[u8] = br#"{"setup":{"model":"gemini-live"}}"#;

fn complete(payload: &[u8], opcode: Opcode, control: &[u8], consumed: usize) -> FirstMessage {
    FirstMessage::Complete {
        leading_control: control.to_vec(),
        payload: payload.to_vec(),
        opcode,
        consumed,
    }
}

/// A setup fragmented in three frames with a ping between the first two, then a pong.
fn fragmented_with_control() -> (Vec<u8>, Vec<u8>) {
    let ping = client(Opcode::Ping, true, b"p1");
    let pong = client(Opcode::Pong, true, b"");
    let (a, rest) = SETUP.split_at(5);
    let (b, c) = rest.split_at(10);
    let mut stream = client(Opcode::Text, false, a);
    stream.extend(&ping);
    stream.extend(client(Opcode::Continuation, false, b));
    stream.extend(&pong);
    stream.extend(client(Opcode::Continuation, true, c));
    (stream, [ping, pong].concat())
}

#[test]
fn empty_buffer_needs_more() {
    assert_eq!(read_first_message(&[], LIMIT), FirstMessage::NeedMore);
}

#[test]
fn single_masked_text_frame_is_unmasked() {
    let frame = client(Opcode::Text, true, SETUP);
    assert_eq!(
        read_first_message(&frame, LIMIT),
        complete(SETUP, Opcode::Text, b"", frame.len())
    );
}

#[test]
fn binary_setup_keeps_its_opcode() {
    let frame = client(Opcode::Binary, true, SETUP);
    let FirstMessage::Complete { opcode, .. } = read_first_message(&frame, LIMIT) else {
        panic!("not complete");
    };
    assert_eq!(opcode, Opcode::Binary);
}

#[test]
fn bytes_after_the_message_are_not_consumed() {
    let first = client(Opcode::Text, true, SETUP);
    let mut stream = first.clone();
    stream.extend(client(Opcode::Text, true, b"next"));
    stream.extend([0x81]);
    assert_eq!(
        read_first_message(&stream, LIMIT),
        complete(SETUP, Opcode::Text, b"", first.len())
    );
}

#[test]
fn every_prefix_of_a_message_needs_more() {
    let frame = client(Opcode::Text, true, SETUP);
    for len in 0..frame.len() {
        assert_eq!(
            read_first_message(&frame[..len], LIMIT),
            FirstMessage::NeedMore,
            "prefix of {len}"
        );
    }
}

#[test]
fn message_split_at_every_offset_completes_on_the_last_piece() {
    let (stream, control) = fragmented_with_control();
    for at in 1..stream.len() {
        let mut reader = FirstMessageReader::new(LIMIT);
        assert_eq!(
            reader.read(&stream[..at]),
            FirstMessage::NeedMore,
            "at {at}"
        );
        assert_eq!(
            reader.read(&stream),
            complete(SETUP, Opcode::Text, &control, stream.len()),
            "at {at}"
        );
    }
}

#[test]
fn message_arriving_one_byte_at_a_time_completes_on_the_last_byte() {
    let (stream, control) = fragmented_with_control();
    let mut reader = FirstMessageReader::new(LIMIT);
    for len in 1..stream.len() {
        assert_eq!(reader.read(&stream[..len]), FirstMessage::NeedMore);
    }
    assert_eq!(
        reader.read(&stream),
        complete(SETUP, Opcode::Text, &control, stream.len())
    );
}

#[test]
fn fragmented_message_is_joined() {
    let mut stream = client(Opcode::Binary, false, b"{\"setup\":");
    stream.extend(client(Opcode::Continuation, false, b""));
    stream.extend(client(Opcode::Continuation, true, b"{}}"));
    assert_eq!(
        read_first_message(&stream, LIMIT),
        complete(b"{\"setup\":{}}", Opcode::Binary, b"", stream.len())
    );
}

#[test]
fn pings_before_the_setup_are_kept_raw() {
    let ping = client(Opcode::Ping, true, b"are you there");
    let pong = client(Opcode::Pong, true, b"yes");
    let mut stream = [ping.clone(), pong.clone()].concat();
    stream.extend(client(Opcode::Text, true, SETUP));
    assert_eq!(
        read_first_message(&stream, LIMIT),
        complete(SETUP, Opcode::Text, &[ping, pong].concat(), stream.len())
    );
}

#[test]
fn sixty_four_kib_binary_message_with_64_bit_length_is_read() {
    let payload = pattern(64 * 1024);
    let frame = client(Opcode::Binary, true, &payload);
    assert_eq!(frame[1], 0x80 | 127);
    assert_eq!(
        read_first_message(&frame, 2 * LIMIT),
        complete(&payload, Opcode::Binary, b"", frame.len())
    );
}

#[test]
fn huge_first_message_is_refused_from_its_header_alone() {
    let frame = client(Opcode::Text, true, &pattern(LIMIT));
    assert_eq!(
        read_first_message(&frame[..14], LIMIT),
        FirstMessage::TooLarge
    );
}

#[test]
fn fragments_adding_up_over_the_limit_are_refused() {
    let mut stream = client(Opcode::Text, false, &pattern(LIMIT / 2));
    stream.extend(client(Opcode::Continuation, false, &pattern(LIMIT / 2)));
    assert_eq!(read_first_message(&stream, LIMIT), FirstMessage::TooLarge);
}

#[test]
fn ping_flood_over_the_limit_is_refused() {
    let ping = client(Opcode::Ping, true, &pattern(125));
    let stream = ping.repeat(LIMIT / ping.len() + 1);
    assert_eq!(read_first_message(&stream, LIMIT), FirstMessage::TooLarge);
}

#[test]
fn message_exactly_at_the_limit_is_read() {
    let frame = client(Opcode::Text, true, SETUP);
    let FirstMessage::Complete { consumed, .. } = read_first_message(&frame, frame.len()) else {
        panic!("not complete");
    };
    assert_eq!(consumed, frame.len());
    assert_eq!(
        read_first_message(&frame, frame.len() - 1),
        FirstMessage::TooLarge
    );
}

#[test]
fn close_before_the_setup_is_reported() {
    let mut stream = client(Opcode::Close, true, b"\x03\xe8");
    stream.extend(client(Opcode::Text, true, SETUP));
    assert_eq!(read_first_message(&stream, LIMIT), FirstMessage::Closed);
}

#[test]
fn close_between_fragments_is_reported() {
    let mut stream = client(Opcode::Text, false, b"{");
    stream.extend(client(Opcode::Close, true, b""));
    assert_eq!(read_first_message(&stream, LIMIT), FirstMessage::Closed);
}

#[test]
fn unmasked_client_frame_is_invalid() {
    let frame = server(Opcode::Text, true, SETUP);
    assert_eq!(
        read_first_message(&frame, LIMIT),
        FirstMessage::Invalid("client frames must be masked")
    );
}

#[test]
fn reserved_bits_are_invalid() {
    let mut frame = client(Opcode::Text, true, SETUP);
    frame[0] |= 0x40;
    assert!(matches!(
        read_first_message(&frame, LIMIT),
        FirstMessage::Invalid(_)
    ));
}

#[test]
fn continuation_without_a_message_is_invalid() {
    let frame = client(Opcode::Continuation, true, SETUP);
    assert!(matches!(
        read_first_message(&frame, LIMIT),
        FirstMessage::Invalid(_)
    ));
}

#[test]
fn new_message_inside_a_fragmented_one_is_invalid() {
    let mut stream = client(Opcode::Text, false, b"{");
    stream.extend(client(Opcode::Text, true, b"}"));
    assert!(matches!(
        read_first_message(&stream, LIMIT),
        FirstMessage::Invalid(_)
    ));
}

#[test]
fn reader_is_spent_after_a_result() {
    let frame = client(Opcode::Text, true, SETUP);
    let mut reader = FirstMessageReader::new(LIMIT);
    assert!(matches!(reader.read(&frame), FirstMessage::Complete { .. }));
    assert!(matches!(reader.read(&frame), FirstMessage::Invalid(_)));
}

#[test]
fn shrunken_buffer_is_invalid_not_a_panic() {
    let ping = client(Opcode::Ping, true, b"");
    let mut reader = FirstMessageReader::new(LIMIT);
    assert_eq!(reader.read(&ping.repeat(3)), FirstMessage::NeedMore);
    assert!(matches!(reader.read(&ping), FirstMessage::Invalid(_)));
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..2000 {
        let len = (seed % 40) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        let _ = read_first_message(&bytes, 64);
    }
}
