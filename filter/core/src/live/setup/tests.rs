use super::*;
use crate::live::first_message::{read_first_message, FirstMessage};
use crate::live::frame::{apply_mask, parse_header};
use crate::live::test_frames::KEY;
use serde_json::json;

const FULL: &str = "projects/p/locations/us-central1/publishers/google/models/gemini-live";

fn to_full(model: &str) -> Result<String, String> {
    match model {
        "refused" => Err("model refused is not served here".to_string()),
        _ => Ok(FULL.to_string()),
    }
}

fn rewritten(message: serde_json::Value) -> serde_json::Value {
    let out = rewrite_setup(message.to_string().as_bytes(), to_full).unwrap();
    serde_json::from_slice(&out).unwrap()
}

fn refusal(payload: &[u8]) -> CloseDecision {
    rewrite_setup(payload, to_full).unwrap_err()
}

#[test]
fn only_the_model_is_replaced() {
    let setup = json!({"setup": {
        "model": "live",
        "generationConfig": {"responseModalities": ["AUDIO"], "temperature": 0.25},
        "systemInstruction": {"parts": [{"text": "be brief \u{e9}\"\\"}]},
        "tools": [],
    }});
    let mut expected = setup.clone();
    expected["setup"]["model"] = json!(FULL);
    assert_eq!(rewritten(setup), expected);
}

#[test]
fn fields_beside_setup_are_kept() {
    let setup = json!({"setup": {"model": "live"}, "extra": [1, null, true]});
    assert_eq!(
        rewritten(setup),
        json!({"setup": {"model": FULL}, "extra": [1, null, true]})
    );
}

#[test]
fn resolver_sees_the_model_as_sent() {
    let mut seen = String::new();
    rewrite_setup(br#"{"setup":{"model":"models/x"}}"#, |m| {
        seen = m.to_string();
        Ok(FULL.to_string())
    })
    .unwrap();
    assert_eq!(seen, "models/x");
}

#[test]
fn bad_json_closes_with_1007() {
    let close = refusal(b"{\"setup\": {\"model\": ");
    assert_eq!(close.code, CLOSE_INVALID_PAYLOAD);
    assert_eq!(close.reason, NOT_A_SETUP);
}

#[test]
fn invalid_utf8_closes_with_1007() {
    assert_eq!(
        refusal(b"{\"setup\": {\"model\": \"\xff\"}}").code,
        CLOSE_INVALID_PAYLOAD
    );
}

#[test]
fn message_without_a_setup_object_closes_with_1007() {
    for payload in [
        &br#"[{"setup": {"model": "x"}}]"#[..],
        br#"{"clientContent": {}}"#,
        br#"{"setup": "live"}"#,
        br#"{"setup": null}"#,
        b"\"setup\"",
        b"",
    ] {
        assert_eq!(
            refusal(payload).code,
            CLOSE_INVALID_PAYLOAD,
            "{}",
            String::from_utf8_lossy(payload)
        );
    }
}

#[test]
fn setup_without_a_model_string_closes_with_1008() {
    for payload in [
        &br#"{"setup": {}}"#[..],
        br#"{"setup": {"model": 7}}"#,
        br#"{"setup": {"model": null}}"#,
    ] {
        assert_eq!(refusal(payload), CloseDecision::new(1008, NO_MODEL));
    }
}

#[test]
fn resolver_refusal_closes_with_1008_and_its_reason() {
    assert_eq!(
        refusal(br#"{"setup": {"model": "refused"}}"#),
        CloseDecision::new(1008, "model refused is not served here")
    );
}

#[test]
fn encoded_setup_is_one_masked_frame_of_the_same_opcode() {
    let payload = br#"{"setup":{"model":"x"}}"#;
    let frame = encode(payload, Opcode::Binary, KEY);
    let h = parse_header(&frame).unwrap().unwrap();
    assert!(h.fin);
    assert_eq!(h.opcode, Opcode::Binary);
    assert_eq!(h.mask, Some(KEY));
    let mut body = frame[h.header_len..].to_vec();
    apply_mask(&mut body, KEY, 0);
    assert_eq!(body, payload);
}

#[test]
fn rewritten_setup_round_trips_through_the_first_message_reader() {
    let payload = rewrite_setup(br#"{"setup":{"model":"live","tools":[]}}"#, to_full).unwrap();
    let frame = encode(&payload, Opcode::Text, [1, 2, 3, 4]);
    assert_eq!(
        read_first_message(&frame, 1 << 16),
        FirstMessage::Complete {
            leading_control: Vec::new(),
            payload,
            opcode: Opcode::Text,
            consumed: frame.len(),
        }
    );
}

#[test]
fn large_setup_round_trips_with_a_16_bit_length() {
    let text = "x".repeat(60_000);
    let payload = rewrite_setup(
        json!({"setup": {"model": "live", "systemInstruction": text}})
            .to_string()
            .as_bytes(),
        to_full,
    )
    .unwrap();
    let frame = encode(&payload, Opcode::Text, KEY);
    let FirstMessage::Complete { payload: read, .. } = read_first_message(&frame, 1 << 17) else {
        panic!("not complete");
    };
    assert_eq!(read, payload);
}

fn checked(message: serde_json::Value) -> Result<Vec<u8>, CloseDecision> {
    rewrite_checked_setup(message.to_string().as_bytes(), to_full, |p| p == "p")
}

#[test]
fn a_resource_in_another_project_anywhere_in_the_setup_closes_1008() {
    for resource in [
        "projects/other/locations/us-central1/ragCorpora/1",
        "//aiplatform.googleapis.com/projects/other/locations/global/cachedContents/2",
        "projects/other",
    ] {
        let setup = json!({"setup": {"model": "live", "tools": [
            {"retrieval": {"vertexRagStore": {"ragResources": [{"ragCorpus": resource}]}}}
        ]}});
        let refusal = checked(setup).unwrap_err();
        assert_eq!(refusal.code, CLOSE_POLICY_VIOLATION, "{resource}");
        assert!(refusal.reason.contains("other"), "{}", refusal.reason);
    }
}

#[test]
fn resources_in_a_served_project_and_other_text_pass() {
    let setup = json!({"setup": {"model": "live", "tools": [
        {"retrieval": {"vertexAiSearch": {"datastore": "projects/p/locations/global/collections/c/dataStores/d"}}}
    ], "systemInstruction": {"parts": [{"text": "my projects/ are fine; subprojects/x too"}]}}});
    assert!(checked(setup).is_ok());
}

#[test]
fn a_setup_is_recognised_only_as_a_top_level_key() {
    assert!(carries_setup(br#"{"setup": {"model": "m"}}"#));
    assert!(carries_setup(br#"{"\u0073etup": {}}"#));
    assert!(!carries_setup(br#"{"realtimeInput": {"text": "setup"}}"#));
    assert!(!carries_setup(br#"{"clientContent": {}}"#));
    assert!(!carries_setup(b"not json, setup"));
}
