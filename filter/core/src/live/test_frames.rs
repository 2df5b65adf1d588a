//! Frames as a client or Vertex would send them, and ways to cut a stream into pieces.

use super::frame::{encode_frame, Opcode};

pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// One masked client frame.
pub fn client(opcode: Opcode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, fin, opcode, payload, Some(KEY));
    out
}

/// One unmasked server frame.
pub fn server(opcode: Opcode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, fin, opcode, payload, None);
    out
}

/// `bytes` cut at `at`: every split offset 1..len is tried by the callers.
pub fn split_at(bytes: &[u8], at: usize) -> [&[u8]; 2] {
    let (a, b) = bytes.split_at(at);
    [a, b]
}

/// Bytes that are not all the same, so a masking mistake shows.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}
