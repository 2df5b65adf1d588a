use super::*;
use crate::live::test_frames::{client, pattern, server, KEY};

#[test]
fn short_unmasked_header_is_parsed() {
    let h = parse_header(&[0x81, 0x05, b'h']).unwrap().unwrap();
    assert_eq!(
        h,
        FrameHeader {
            fin: true,
            opcode: Opcode::Text,
            mask: None,
            payload_len: 5,
            header_len: 2
        }
    );
}

#[test]
fn masked_header_carries_its_key() {
    let h = parse_header(&[0x82, 0x80 | 3, 1, 2, 3, 4])
        .unwrap()
        .unwrap();
    assert_eq!(h.mask, Some([1, 2, 3, 4]));
    assert_eq!(h.header_len, 6);
    assert_eq!(h.opcode, Opcode::Binary);
}

#[test]
fn sixteen_bit_length_is_read_big_endian() {
    let h = parse_header(&[0x02, 126, 0x01, 0x02]).unwrap().unwrap();
    assert_eq!(h.payload_len, 0x0102);
    assert_eq!(h.header_len, 4);
    assert!(!h.fin);
}

#[test]
fn sixty_four_bit_length_is_read_big_endian() {
    let mut bytes = vec![0x82, 0x80 | 127];
    bytes.extend_from_slice(&65_536u64.to_be_bytes());
    bytes.extend_from_slice(&KEY);
    let h = parse_header(&bytes).unwrap().unwrap();
    assert_eq!(h.payload_len, 65_536);
    assert_eq!(h.header_len, 14);
    assert_eq!(h.frame_len(), 65_550);
}

#[test]
fn every_prefix_of_a_header_needs_more() {
    let mut bytes = vec![0x82, 0x80 | 127];
    bytes.extend_from_slice(&70_000u64.to_be_bytes());
    bytes.extend_from_slice(&KEY);
    for len in 0..bytes.len() {
        assert_eq!(parse_header(&bytes[..len]), Ok(None), "prefix of {len}");
    }
}

#[test]
fn reserved_bits_are_refused() {
    for rsv in [0x40, 0x20, 0x10] {
        assert_eq!(
            parse_header(&[0x80 | rsv | 0x1, 0]),
            Err(FrameError::ReservedBits)
        );
    }
}

#[test]
fn unknown_opcodes_are_refused() {
    for op in [0x3, 0x7, 0xB, 0xF] {
        assert_eq!(
            parse_header(&[0x80 | op, 0]),
            Err(FrameError::UnknownOpcode)
        );
    }
}

#[test]
fn control_frame_over_125_bytes_is_refused() {
    assert_eq!(
        parse_header(&[0x89, 126, 0, 126]),
        Err(FrameError::ControlTooLong)
    );
    assert_eq!(parse_header(&[0x8A, 127]), Err(FrameError::ControlTooLong));
}

#[test]
fn fragmented_control_frame_is_refused() {
    assert_eq!(parse_header(&[0x09, 0]), Err(FrameError::ControlFragmented));
}

#[test]
fn sixty_four_bit_length_with_top_bit_is_refused() {
    let mut bytes = vec![0x82, 127];
    bytes.extend_from_slice(&(1u64 << 63).to_be_bytes());
    assert_eq!(parse_header(&bytes), Err(FrameError::LengthTooLarge));
}

#[test]
fn errors_are_reported_before_the_rest_of_the_header_arrives() {
    assert_eq!(parse_header(&[0xC1, 0xFF]), Err(FrameError::ReservedBits));
}

#[test]
fn masking_twice_restores_the_payload() {
    let original = pattern(1000);
    let mut data = original.clone();
    apply_mask(&mut data, KEY, 0);
    assert_ne!(data, original);
    apply_mask(&mut data, KEY, 0);
    assert_eq!(data, original);
}

#[test]
fn masking_in_pieces_equals_masking_at_once() {
    let original = pattern(103);
    let mut whole = original.clone();
    apply_mask(&mut whole, KEY, 0);
    for at in 0..=original.len() {
        let mut pieces = original.clone();
        let (a, b) = pieces.split_at_mut(at);
        apply_mask(a, KEY, 0);
        apply_mask(b, KEY, at as u64);
        assert_eq!(pieces, whole, "split at {at}");
    }
}

#[test]
fn encoded_frames_parse_back_for_each_length_form() {
    for len in [0, 1, 125, 126, 65_535, 65_536, 70_000] {
        for mask in [None, Some(KEY)] {
            let payload = pattern(len);
            let mut out = Vec::new();
            encode_frame(&mut out, true, Opcode::Binary, &payload, mask);
            let h = parse_header(&out).unwrap().unwrap();
            assert_eq!(h.payload_len, len as u64);
            assert_eq!(h.mask, mask);
            assert_eq!(out.len() as u64, h.frame_len());
            let mut body = out[h.header_len..].to_vec();
            if let Some(key) = mask {
                apply_mask(&mut body, key, 0);
            }
            assert_eq!(body, payload, "len {len} mask {mask:?}");
        }
    }
}

#[test]
fn encoding_uses_the_shortest_length_form() {
    assert_eq!(server(Opcode::Text, true, &pattern(125)).len(), 2 + 125);
    assert_eq!(server(Opcode::Text, true, &pattern(126)).len(), 4 + 126);
    assert_eq!(
        client(Opcode::Text, true, &pattern(65_536)).len(),
        14 + 65_536
    );
}

#[test]
fn encoding_appends_to_what_is_there() {
    let mut out = vec![9, 9];
    encode_frame(&mut out, false, Opcode::Text, b"hi", Some(KEY));
    assert_eq!(&out[..2], &[9, 9]);
    assert_eq!(out[2], 0x01);
    assert_eq!(&out[2..], client(Opcode::Text, false, b"hi").as_slice());
}

#[test]
fn close_frame_carries_code_and_reason() {
    let frame = close_frame(1008, "no", None);
    assert_eq!(frame, vec![0x88, 4, 0x03, 0xF0, b'n', b'o']);
}

#[test]
fn masked_close_frame_unmasks_to_code_and_reason() {
    let frame = close_frame(1007, "bad", Some(KEY));
    let h = parse_header(&frame).unwrap().unwrap();
    assert_eq!(h.opcode, Opcode::Close);
    let mut body = frame[h.header_len..].to_vec();
    apply_mask(&mut body, KEY, 0);
    assert_eq!(body, b"\x03\xEFbad");
}

#[test]
fn long_close_reason_is_cut_to_123_bytes() {
    let frame = close_frame(1008, &"x".repeat(300), None);
    assert_eq!(frame.len(), 2 + 125);
    assert!(parse_header(&frame).unwrap().is_some());
}

#[test]
fn close_reason_is_cut_at_a_character_boundary() {
    // 61 two-byte characters make 122 bytes; one more would not fit.
    let reason = "é".repeat(70);
    let cut = truncate_close_reason(&reason);
    assert_eq!(cut.len(), 122);
    assert_eq!(cut, "é".repeat(61));
}
