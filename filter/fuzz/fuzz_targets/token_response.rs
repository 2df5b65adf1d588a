//! `token::response::parse` on arbitrary answers: a usable token, or a short code that is safe
//! to put in a 503 and a log line. Never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vertex_passthrough_core::token::response::parse;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    // Mostly 200s (the interesting parser), sometimes no answer, sometimes any status.
    let (status, body) = match selector {
        0 => (None, rest),
        1..=199 => (Some(200), rest),
        _ => match rest {
            [hi, lo, body @ ..] => (Some(u16::from_be_bytes([*hi, *lo])), body),
            _ => (Some(u16::from(selector)), rest),
        },
    };
    match parse(status, body) {
        Ok(token) => {
            assert_eq!(status, Some(200));
            assert!(!token.access_token.is_empty() && token.access_token.len() <= 4096);
            assert!(token.access_token.bytes().all(|b| b.is_ascii_graphic()));
            assert!(token.expires_in_s > 0);
        }
        Err(error) => {
            let code = error.0;
            assert!(!code.is_empty() && code.len() <= 64, "{code:?}");
            assert!(
                code.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "unsafe code {code:?}"
            );
        }
    }
});
