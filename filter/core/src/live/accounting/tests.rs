use super::*;
use crate::live::test_frames::{client, pattern, server, split_at};
use serde_json::json;

fn usage(prompt: u64, response: u64) -> Vec<u8> {
    json!({"usageMetadata": {
        "promptTokenCount": prompt,
        "responseTokenCount": response,
        "totalTokenCount": prompt + response,
    }})
    .to_string()
    .into_bytes()
}

fn observed(direction: Direction, pieces: &[&[u8]]) -> Totals {
    let mut observer = LiveObserver::new(direction);
    for piece in pieces {
        observer.observe(piece);
    }
    observer.totals()
}

fn server_totals(stream: &[u8]) -> Totals {
    observed(Direction::ServerToClient, &[stream])
}

/// A session's server side: setupComplete, an audio message, a ping, a usage message in two
/// fragments with a pong between them, and a binary usage message.
fn session() -> (Vec<u8>, Totals) {
    let setup_complete = br#"{"setupComplete":{}}"#;
    let audio = pattern(300);
    let first_usage = usage(12, 7);
    let (a, b) = first_usage.split_at(9);
    let second_usage = usage(3, 4);
    let stream = [
        server(Opcode::Text, true, setup_complete),
        server(Opcode::Binary, true, &audio),
        server(Opcode::Ping, true, b"hb"),
        server(Opcode::Text, false, a),
        server(Opcode::Pong, true, b""),
        server(Opcode::Continuation, true, b),
        server(Opcode::Binary, true, &second_usage),
    ]
    .concat();
    let totals = Totals {
        messages: 4,
        bytes: (setup_complete.len() + audio.len() + first_usage.len() + second_usage.len()) as u64,
        prompt_tokens: 15,
        response_tokens: 11,
        total_tokens: 26,
    };
    (stream, totals)
}

#[test]
fn nothing_observed_counts_nothing() {
    assert!(server_totals(&[]).is_zero());
}

#[test]
fn server_message_and_its_bytes_are_counted() {
    let totals = server_totals(&server(Opcode::Text, true, b"{\"setupComplete\":{}}"));
    assert_eq!(totals.messages, 1);
    assert_eq!(totals.bytes, 20);
}

#[test]
fn usage_metadata_is_summed() {
    let stream = [
        server(Opcode::Text, true, &usage(10, 5)),
        server(Opcode::Text, true, &usage(1, 2)),
    ]
    .concat();
    let totals = server_totals(&stream);
    assert_eq!(
        (
            totals.prompt_tokens,
            totals.response_tokens,
            totals.total_tokens
        ),
        (11, 7, 18)
    );
}

#[test]
fn candidates_token_count_counts_as_response() {
    let message = br#"{"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":6,"totalTokenCount":10}}"#;
    assert_eq!(
        server_totals(&server(Opcode::Binary, true, message)).response_tokens,
        6
    );
}

#[test]
fn response_and_candidates_counts_are_not_added_together() {
    let message = br#"{"usageMetadata":{"responseTokenCount":6,"candidatesTokenCount":6}}"#;
    assert_eq!(
        server_totals(&server(Opcode::Text, true, message)).response_tokens,
        6
    );
}

#[test]
fn usage_beside_server_content_is_counted() {
    let message =
        json!({"serverContent": {"turnComplete": true}, "usageMetadata": {"promptTokenCount": 2}});
    let totals = server_totals(&server(Opcode::Text, true, message.to_string().as_bytes()));
    assert_eq!(totals.prompt_tokens, 2);
}

#[test]
fn usage_named_inside_model_text_is_not_counted() {
    let message = json!({"serverContent": {"modelTurn": {"parts": [
        {"text": "\"usageMetadata\": {\"promptTokenCount\": 999}"}
    ]}}});
    let totals = server_totals(&server(Opcode::Text, true, message.to_string().as_bytes()));
    assert_eq!(totals.prompt_tokens, 0);
    assert_eq!(totals.messages, 1);
}

#[test]
fn malformed_usage_is_ignored() {
    for message in [
        &br#"{"usageMetadata": {"promptTokenCount": "x"}}"#[..],
        br#"{"usageMetadata": {"promptTokenCount": -1}}"#,
        br#"usageMetadata"#,
        br#"{"usageMetadata": 5"#,
    ] {
        let totals = server_totals(&server(Opcode::Text, true, message));
        assert_eq!(totals.prompt_tokens, 0);
        assert_eq!(totals.messages, 1);
    }
}

#[test]
fn client_messages_are_counted_but_never_read_for_usage() {
    let stream = [
        client(Opcode::Text, true, &usage(50, 50)),
        client(Opcode::Binary, true, &pattern(10)),
    ]
    .concat();
    let totals = observed(Direction::ClientToServer, &[&stream]);
    assert_eq!(totals.messages, 2);
    assert_eq!(totals.bytes, usage(50, 50).len() as u64 + 10);
    assert_eq!(totals.prompt_tokens, 0);
}

#[test]
fn masked_server_frames_are_unmasked_to_read_usage() {
    let totals = server_totals(&client(Opcode::Text, true, &usage(8, 1)));
    assert_eq!(totals.prompt_tokens, 8);
}

#[test]
fn control_frames_are_not_messages() {
    let stream = [
        server(Opcode::Ping, true, b"12345"),
        server(Opcode::Pong, true, b""),
        server(Opcode::Close, true, b"\x03\xe8"),
    ]
    .concat();
    assert!(server_totals(&stream).is_zero());
}

#[test]
fn empty_message_is_counted_when_its_header_arrives() {
    assert_eq!(server_totals(&server(Opcode::Text, true, b"")).messages, 1);
}

#[test]
fn fragmented_message_is_counted_once() {
    let stream = [
        server(Opcode::Binary, false, b"ab"),
        server(Opcode::Continuation, false, b""),
        server(Opcode::Continuation, true, b"cd"),
    ]
    .concat();
    let totals = server_totals(&stream);
    assert_eq!((totals.messages, totals.bytes), (1, 4));
}

#[test]
fn session_split_at_every_offset_counts_the_same() {
    let (stream, expected) = session();
    for at in 1..stream.len() {
        assert_eq!(
            observed(Direction::ServerToClient, &split_at(&stream, at)),
            expected,
            "split at {at}"
        );
    }
}

#[test]
fn session_in_one_byte_pieces_counts_the_same() {
    let (stream, expected) = session();
    let pieces: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(observed(Direction::ServerToClient, &pieces), expected);
}

#[test]
fn client_session_split_at_every_offset_counts_the_same() {
    let stream = [
        client(Opcode::Ping, true, b""),
        client(Opcode::Text, false, b"{\"clientContent\":"),
        client(Opcode::Continuation, true, b"{}}"),
        client(Opcode::Binary, true, &pattern(200)),
    ]
    .concat();
    let whole = observed(Direction::ClientToServer, &[&stream]);
    assert_eq!((whole.messages, whole.bytes), (2, 220));
    for at in 1..stream.len() {
        assert_eq!(
            observed(Direction::ClientToServer, &split_at(&stream, at)),
            whole,
            "split at {at}"
        );
    }
}

#[test]
fn sixty_four_kib_binary_messages_with_64_bit_lengths_are_counted() {
    let audio = server(Opcode::Binary, true, &pattern(64 * 1024));
    assert_eq!(audio[1], 127);
    let stream = [
        audio.clone(),
        server(Opcode::Text, true, &usage(1, 1)),
        audio,
    ]
    .concat();
    let expected = Totals {
        messages: 3,
        bytes: 2 * 64 * 1024 + usage(1, 1).len() as u64,
        prompt_tokens: 1,
        response_tokens: 1,
        total_tokens: 2,
    };
    for at in (1..stream.len()).step_by(997).chain(1..20) {
        assert_eq!(
            observed(Direction::ServerToClient, &split_at(&stream, at)),
            expected,
            "split at {at}"
        );
    }
    let pieces: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(observed(Direction::ServerToClient, &pieces), expected);
}

#[test]
fn usage_in_a_message_over_the_cap_is_not_counted_however_it_arrives() {
    let padding = "a".repeat(USAGE_MESSAGE_CAP);
    let message =
        json!({"serverContent": padding, "usageMetadata": {"promptTokenCount": 5}}).to_string();
    let frame = server(Opcode::Text, true, message.as_bytes());
    for pieces in [vec![&frame[..]], split_at(&frame, 100).to_vec()] {
        let totals = observed(Direction::ServerToClient, &pieces);
        assert_eq!(totals.messages, 1);
        assert_eq!(totals.prompt_tokens, 0);
    }
}

#[test]
fn large_audio_message_does_not_stop_usage_counting_after_it() {
    let stream = [
        server(Opcode::Binary, false, &pattern(USAGE_MESSAGE_CAP)),
        server(Opcode::Continuation, true, &pattern(10)),
        server(Opcode::Text, true, &usage(2, 3)),
    ]
    .concat();
    let totals = observed(Direction::ServerToClient, &split_at(&stream, 7));
    assert_eq!((totals.messages, totals.prompt_tokens), (2, 2));
}

#[test]
fn increments_are_what_was_counted_since_the_last_take() {
    let mut observer = LiveObserver::new(Direction::ServerToClient);
    observer.observe(&server(Opcode::Text, true, &usage(4, 1)));
    let first = observer.take_increments();
    assert_eq!((first.messages, first.prompt_tokens), (1, 4));
    assert!(observer.take_increments().is_zero());
    observer.observe(&server(Opcode::Text, true, &usage(2, 1)));
    let second = observer.take_increments();
    assert_eq!((second.messages, second.prompt_tokens), (1, 2));
    assert_eq!(observer.totals().prompt_tokens, 6);
}

#[test]
fn bytes_are_counted_as_they_pass_before_the_message_ends() {
    let frame = server(Opcode::Binary, true, &pattern(1000));
    let mut observer = LiveObserver::new(Direction::ServerToClient);
    observer.observe(&frame[..504]);
    let partial = observer.take_increments();
    assert_eq!((partial.messages, partial.bytes), (0, 500));
}

#[test]
fn protocol_error_stops_counting() {
    let mut bad = server(Opcode::Text, true, b"x");
    bad[0] |= 0x40;
    let stream = [bad, server(Opcode::Text, true, &usage(1, 1))].concat();
    assert!(server_totals(&stream).is_zero());
}

#[test]
fn continuation_without_a_message_stops_counting() {
    let stream = [
        server(Opcode::Continuation, true, b"x"),
        server(Opcode::Text, true, b"y"),
    ]
    .concat();
    assert!(server_totals(&stream).is_zero());
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..2000 {
        let bytes: Vec<u8> = (0..(seed % 64) as usize)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        for direction in [Direction::ClientToServer, Direction::ServerToClient] {
            let mut observer = LiveObserver::new(direction);
            for piece in bytes.chunks(3) {
                observer.observe(piece);
            }
        }
    }
}

#[test]
fn contains_finds_a_needle_anywhere_and_only_whole() {
    let key = b"usageMetadata";
    for (haystack, found) in [
        (&b"usageMetadata"[..], true),
        (b"{\"usageMetadata\":1}", true),
        (b"uusageMetadata", true),
        (b"xxusageMetadat", false),
        (b"usageMetadatu usage", false),
        (b"", false),
        (b"u", false),
    ] {
        assert_eq!(
            contains(haystack, key),
            found,
            "{:?}",
            String::from_utf8_lossy(haystack)
        );
        let naive = haystack.windows(key.len()).any(|w| w == key);
        assert_eq!(contains(haystack, key), naive);
    }
    assert!(contains(b"abc", b""));
}
