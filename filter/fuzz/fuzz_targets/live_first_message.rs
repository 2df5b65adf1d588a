//! `live::read_first_message` and `FirstMessageReader` on arbitrary frame streams cut into
//! arbitrary pieces: reading as the bytes trickle in gives what one read of the same bytes
//! gives, a complete message stays within the limit and the buffer. Never panics.
#![no_main]

use arbitrary::Arbitrary;
use fuzz_support::Stream;
use libfuzzer_sys::fuzz_target;
use vertex_passthrough_core::live::{read_first_message, FirstMessage, FirstMessageReader, Opcode};

#[derive(Arbitrary, Debug)]
struct Input {
    limit: u16,
    stream: Stream,
}

fuzz_target!(|input: Input| {
    let bytes = input.stream.bytes();
    let limit = usize::from(input.limit);
    let whole = read_first_message(&bytes, limit);
    check(&whole, &bytes, limit);

    let mut reader = FirstMessageReader::new(limit);
    let mut incremental = FirstMessage::NeedMore;
    let mut seen = 0;
    for cut in input.stream.cuts(bytes.len()) {
        let buffered = bytes.get(..cut).unwrap_or(&bytes);
        incremental = reader.read(buffered);
        seen = cut;
        if incremental != FirstMessage::NeedMore {
            break;
        }
    }
    // Stopping early is fine; what was decided must be what one read of those bytes decides.
    let prefix = bytes.get(..seen).unwrap_or(&bytes);
    assert_eq!(incremental, read_first_message(prefix, limit));
    if matches!(whole, FirstMessage::Complete { .. }) {
        assert_eq!(incremental, whole);
    }
    if incremental == FirstMessage::NeedMore {
        assert_eq!(whole, FirstMessage::NeedMore);
    }
    // A spent reader refuses to read again.
    if incremental != FirstMessage::NeedMore {
        assert!(matches!(reader.read(&bytes), FirstMessage::Invalid(_)));
    }
});

fn check(result: &FirstMessage, bytes: &[u8], limit: usize) {
    match result {
        FirstMessage::Complete {
            leading_control,
            payload,
            opcode,
            consumed,
        } => {
            assert!(*consumed <= bytes.len() && *consumed <= limit);
            assert!(payload.len() + leading_control.len() <= *consumed);
            assert!(matches!(opcode, Opcode::Text | Opcode::Binary));
        }
        FirstMessage::Invalid(reason) => {
            assert!(!reason.is_empty() && reason.len() <= 123, "{reason}");
        }
        FirstMessage::NeedMore | FirstMessage::TooLarge | FirstMessage::Closed => {}
    }
}
