//! RFC 6455 frames: header parsing, masking, and the frames the filter writes itself.
//! Extensions are stripped at the upgrade (`sec-websocket-extensions`), so a set RSV bit is
//! always a protocol error here.

use std::fmt;

/// The longest header: 2 bytes, an 8-byte extended length and a 4-byte mask key.
pub const MAX_HEADER_LEN: usize = 14;
/// Control frames carry at most 125 bytes (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// A close reason fits what is left of a control frame after the 2-byte code.
pub const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    pub fn from_bits(bits: u8) -> Option<Opcode> {
        match bits {
            0x0 => Some(Opcode::Continuation),
            0x1 => Some(Opcode::Text),
            0x2 => Some(Opcode::Binary),
            0x8 => Some(Opcode::Close),
            0x9 => Some(Opcode::Ping),
            0xA => Some(Opcode::Pong),
            _ => None,
        }
    }

    pub fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    pub opcode: Opcode,
    /// The mask key, when the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    pub payload_len: u64,
    /// Bytes the header itself takes: 2 to 14.
    pub header_len: usize,
}

impl FrameHeader {
    /// Header and payload. Cannot overflow: `payload_len` is below 2^63.
    pub fn frame_len(&self) -> u64 {
        self.payload_len.saturating_add(self.header_len as u64)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    ReservedBits,
    UnknownOpcode,
    ControlTooLong,
    ControlFragmented,
    LengthTooLarge,
}

impl FrameError {
    /// Short enough for a close frame's reason.
    pub fn reason(self) -> &'static str {
        match self {
            FrameError::ReservedBits => "reserved bits set: no WebSocket extension is negotiated",
            FrameError::UnknownOpcode => "unknown frame opcode",
            FrameError::ControlTooLong => "control frame longer than 125 bytes",
            FrameError::ControlFragmented => "fragmented control frame",
            FrameError::LengthTooLarge => "frame length has its most significant bit set",
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// Parse the frame header at the start of `buf`. `Ok(None)`: more bytes are needed. What the
/// first two bytes say is checked before waiting for the rest, so a bad frame fails early.
pub fn parse_header(buf: &[u8]) -> Result<Option<FrameHeader>, FrameError> {
    let [b0, b1, rest @ ..] = buf else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(FrameError::ReservedBits);
    }
    let opcode = Opcode::from_bits(b0 & 0x0F).ok_or(FrameError::UnknownOpcode)?;
    let fin = b0 & 0x80 != 0;
    let masked = b1 & 0x80 != 0;
    let short_len = b1 & 0x7F;
    if opcode.is_control() {
        if !fin {
            return Err(FrameError::ControlFragmented);
        }
        if usize::from(short_len) > MAX_CONTROL_PAYLOAD {
            return Err(FrameError::ControlTooLong);
        }
    }
    let (payload_len, rest, extended) = match short_len {
        126 => {
            let Some((len, rest)) = rest.split_first_chunk::<2>() else {
                return Ok(None);
            };
            (u64::from(u16::from_be_bytes(*len)), rest, 2)
        }
        127 => {
            let Some((len, rest)) = rest.split_first_chunk::<8>() else {
                return Ok(None);
            };
            let len = u64::from_be_bytes(*len);
            if len >> 63 != 0 {
                return Err(FrameError::LengthTooLarge);
            }
            (len, rest, 8)
        }
        len => (u64::from(len), rest, 0),
    };
    let mask = if masked {
        let Some((key, _)) = rest.split_first_chunk::<4>() else {
            return Ok(None);
        };
        Some(*key)
    } else {
        None
    };
    Ok(Some(FrameHeader {
        fin,
        opcode,
        mask,
        payload_len,
        header_len: 2 + extended + if masked { 4 } else { 0 },
    }))
}

/// Mask or unmask (the same XOR) `data`, which starts `offset` bytes into its frame's payload,
/// so a payload can be processed in pieces.
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: u64) {
    let mut key = key;
    key.rotate_left((offset % 4) as usize);
    let word = u32::from_ne_bytes(key);
    let mut words = data.chunks_exact_mut(4);
    for chunk in &mut words {
        if let Ok(bytes) = <&mut [u8; 4]>::try_from(chunk) {
            *bytes = (u32::from_ne_bytes(*bytes) ^ word).to_ne_bytes();
        }
    }
    for (byte, k) in words.into_remainder().iter_mut().zip(key) {
        *byte ^= k;
    }
}

/// Append one frame to `out`, masked with `mask` when given (client → server frames must be).
/// Control frames must be given at most 125 bytes of payload.
pub fn encode_frame(
    out: &mut Vec<u8>,
    fin: bool,
    opcode: Opcode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    out.reserve(MAX_HEADER_LEN + payload.len());
    out.push(if fin { 0x80 } else { 0 } | opcode.bits());
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        len @ 0..=125 => out.push(mask_bit | len as u8),
        len @ 126..=0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    let start = out.len();
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
    out.extend_from_slice(payload);
    if let (Some(key), Some(body)) = (mask, out.get_mut(start + 4..)) {
        apply_mask(body, key, 0);
    }
}

/// The longest prefix of `reason` that fits a close frame, cut at a character boundary.
pub fn truncate_close_reason(reason: &str) -> &str {
    let mut end = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason.get(..end).unwrap_or("")
}

/// A close frame with `code` and `reason` (truncated to 123 bytes); masked when sent upstream.
pub fn close_frame(code: u16, reason: &str, mask: Option<[u8; 4]>) -> Vec<u8> {
    let reason = truncate_close_reason(reason).as_bytes();
    let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
    let body = code.to_be_bytes().into_iter().chain(reason.iter().copied());
    for (slot, byte) in payload.iter_mut().zip(body) {
        *slot = byte;
    }
    let len = 2 + reason.len();
    let mut out = Vec::with_capacity(6 + len);
    encode_frame(
        &mut out,
        true,
        Opcode::Close,
        payload.get(..len).unwrap_or(&[]),
        mask,
    );
    out
}

#[cfg(test)]
mod tests;
