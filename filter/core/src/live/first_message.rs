//! The client's first data message (the Live `setup`), read from the bytes buffered so far.
//!
//! The stream is held back until this message is complete, so it arrives in arbitrary pieces:
//! fragmented into text/binary + continuation frames, cut at any byte between reads, and
//! preceded (or interleaved) by pings and pongs, which are kept byte for byte to be passed on
//! before the rewritten message.

use super::frame::{apply_mask, parse_header, FrameHeader, Opcode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstMessage {
    /// The message is not complete yet: buffer more and read again.
    NeedMore,
    Complete {
        /// Raw bytes of the control frames seen before the message ended, in order.
        leading_control: Vec<u8>,
        /// Unmasked and defragmented.
        payload: Vec<u8>,
        /// `Text` or `Binary`.
        opcode: Opcode,
        /// Bytes of the buffer used up; the rest must be passed on untouched.
        consumed: usize,
    },
    /// The message (with the frames before it) would take more than the limit.
    TooLarge,
    /// A protocol error: the reason fits a close frame.
    Invalid(&'static str),
    /// The client sent a close frame before finishing its first message.
    Closed,
}

/// Reads the first message incrementally: each call is given the whole buffer so far (the same
/// bytes as before, with more appended) and resumes after the last complete frame, so a
/// message trickling in byte by byte costs no rescans. Spent after any result but `NeedMore`.
pub struct FirstMessageReader {
    limit: usize,
    /// Where the next unread frame starts.
    next_frame: usize,
    leading_control: Vec<u8>,
    payload: Vec<u8>,
    /// The message's opcode, once its first frame has been read.
    opcode: Option<Opcode>,
    spent: bool,
}

/// Read the first message from `buffered` in one go.
pub fn read_first_message(buffered: &[u8], limit: usize) -> FirstMessage {
    FirstMessageReader::new(limit).read(buffered)
}

impl FirstMessageReader {
    /// `limit` bounds the bytes the frames up to the end of the first message may take.
    pub fn new(limit: usize) -> Self {
        FirstMessageReader {
            limit,
            next_frame: 0,
            leading_control: Vec::new(),
            payload: Vec::new(),
            opcode: None,
            spent: false,
        }
    }

    pub fn read(&mut self, buffered: &[u8]) -> FirstMessage {
        if self.spent {
            return FirstMessage::Invalid("the first message was already read");
        }
        let result = self.read_frames(buffered);
        self.spent = result != FirstMessage::NeedMore;
        result
    }

    fn read_frames(&mut self, buffered: &[u8]) -> FirstMessage {
        loop {
            let Some(rest) = buffered.get(self.next_frame..) else {
                return FirstMessage::Invalid("the buffer lost bytes already read");
            };
            let header = match parse_header(rest) {
                Ok(Some(header)) => header,
                Ok(None) if buffered.len() > self.limit => return FirstMessage::TooLarge,
                Ok(None) => return FirstMessage::NeedMore,
                Err(e) => return FirstMessage::Invalid(e.reason()),
            };
            let Some(key) = header.mask else {
                return FirstMessage::Invalid("client frames must be masked");
            };
            // Refused on the header alone: no need to wait for a payload we will not take.
            let end = (self.next_frame as u64).saturating_add(header.frame_len());
            let end = match usize::try_from(end) {
                Ok(end) if end <= self.limit => end,
                _ => return FirstMessage::TooLarge,
            };
            let Some(frame) = buffered.get(self.next_frame..end) else {
                return FirstMessage::NeedMore;
            };
            if let Some(result) = self.take_frame(&header, frame, key) {
                return result;
            }
            self.next_frame = end;
            if header.fin && !header.opcode.is_control() {
                return self.complete(end);
            }
        }
    }

    /// Take in one complete frame; `Some` ends the read.
    fn take_frame(
        &mut self,
        header: &FrameHeader,
        frame: &[u8],
        key: [u8; 4],
    ) -> Option<FirstMessage> {
        match (header.opcode, self.opcode) {
            (Opcode::Close, _) => return Some(FirstMessage::Closed),
            (Opcode::Ping | Opcode::Pong, _) => self.leading_control.extend_from_slice(frame),
            (Opcode::Text | Opcode::Binary, None) => self.opcode = Some(header.opcode),
            (Opcode::Text | Opcode::Binary, Some(_)) => {
                return Some(FirstMessage::Invalid(
                    "a new message began before the previous one ended",
                ))
            }
            (Opcode::Continuation, None) => {
                return Some(FirstMessage::Invalid(
                    "a continuation frame came before any message",
                ))
            }
            (Opcode::Continuation, Some(_)) => {}
        }
        if !header.opcode.is_control() {
            let start = self.payload.len();
            self.payload
                .extend_from_slice(frame.get(header.header_len..).unwrap_or(&[]));
            if let Some(appended) = self.payload.get_mut(start..) {
                apply_mask(appended, key, 0);
            }
        }
        None
    }

    fn complete(&mut self, consumed: usize) -> FirstMessage {
        match self.opcode {
            Some(opcode) => FirstMessage::Complete {
                leading_control: std::mem::take(&mut self.leading_control),
                payload: std::mem::take(&mut self.payload),
                opcode,
                consumed,
            },
            None => FirstMessage::Invalid("a continuation frame came before any message"),
        }
    }
}

#[cfg(test)]
mod tests;
