//! `live::LiveObserver::observe` in both directions on arbitrary streams cut into arbitrary
//! pieces: the counts do not depend on how the stream was cut, and the increments add up to
//! the totals. Never panics.
#![no_main]

use arbitrary::Arbitrary;
use fuzz_support::Stream;
use libfuzzer_sys::fuzz_target;
use vertex_passthrough_core::live::{Direction, LiveObserver, Totals};

#[derive(Arbitrary, Debug)]
struct Input {
    from_server: bool,
    stream: Stream,
}

fuzz_target!(|input: Input| {
    let direction = if input.from_server {
        Direction::ServerToClient
    } else {
        Direction::ClientToServer
    };
    let bytes = input.stream.bytes();

    let mut whole = LiveObserver::new(direction);
    whole.observe(&bytes);

    let mut pieces = LiveObserver::new(direction);
    let mut summed = Totals::default();
    let mut start = 0;
    for cut in input.stream.cuts(bytes.len()) {
        pieces.observe(bytes.get(start..cut).unwrap_or(&[]));
        start = cut;
        let step = pieces.take_increments();
        summed.messages += step.messages;
        summed.bytes += step.bytes;
        summed.prompt_tokens += step.prompt_tokens;
        summed.response_tokens += step.response_tokens;
        summed.total_tokens += step.total_tokens;
    }
    assert_eq!(
        whole.totals(),
        pieces.totals(),
        "the counts depend on the cuts"
    );
    assert_eq!(summed, pieces.totals(), "increments do not add up");
    assert!(whole.totals().bytes <= bytes.len() as u64);
    if direction == Direction::ClientToServer {
        let t = whole.totals();
        assert_eq!(
            (t.prompt_tokens, t.response_tokens, t.total_tokens),
            (0, 0, 0)
        );
    }
});
