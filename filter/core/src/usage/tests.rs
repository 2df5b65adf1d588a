use super::*;

/// A response body fed in `chunks`.
fn tail_of(chunks: &[&[u8]]) -> ResponseUsage {
    let mut response = ResponseUsage::default();
    for chunk in chunks {
        response.push(chunk);
    }
    response
}

const REST: &[u8] = br#"{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"}}],"usageMetadata":{"promptTokenCount":15,"candidatesTokenCount":7,"totalTokenCount":22},"modelVersion":"gemini-2.0-flash"}"#;

fn expected(prompt: u64, response: u64, total: u64) -> Option<Usage> {
    Some(Usage {
        prompt_tokens: prompt,
        response_tokens: response,
        total_tokens: total,
    })
}

#[test]
fn a_rest_json_response_reports_its_usage_metadata() {
    assert_eq!(tail_of(&[REST]).usage(), expected(15, 7, 22));
}

#[test]
fn an_sse_event_split_across_chunks_is_read_whole() {
    let last = br#"data: {"candidates":[],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":30,"totalTokenCount":34}}

"#;
    let (a, b) = last.split_at(60);
    let first =
        br#"data: {"candidates":[],"usageMetadata":{"promptTokenCount":4,"totalTokenCount":4}}

"#;
    assert_eq!(tail_of(&[first, a, b]).usage(), expected(4, 30, 34));
}

#[test]
fn usage_in_the_last_of_many_chunks_is_found_past_the_tail_limit() {
    let filler = vec![b'x'; 1000];
    let mut chunks: Vec<&[u8]> = vec![&filler; 50];
    let array_end = br#",{"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":2,"totalTokenCount":3}}]"#;
    chunks.push(array_end);
    let tail = tail_of(&chunks);
    assert!(tail.tail.0.len() <= TAIL_LIMIT);
    assert_eq!(tail.usage(), expected(1, 2, 3));
}

#[test]
fn a_body_without_usage_reports_none() {
    assert_eq!(tail_of(&[br#"{"candidates":[]}"#]).usage(), None);
    assert_eq!(tail_of(&[b"not json at all"]).usage(), None);
    assert_eq!(tail_of(&[]).usage(), None);
}

#[test]
fn a_usage_object_cut_off_by_the_end_of_the_body_reports_none() {
    assert_eq!(tail_of(&[&REST[..120]]).usage(), None);
}

#[test]
fn openai_and_anthropic_usage_are_read() {
    let openai =
        br#"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}}"#;
    assert_eq!(tail_of(&[openai]).usage(), expected(9, 12, 21));
    let anthropic = br#"{"content":[],"usage":{"input_tokens":5,"output_tokens":6}}"#;
    assert_eq!(tail_of(&[anthropic]).usage(), expected(5, 6, 11));
}

#[test]
fn a_chunk_larger_than_the_limit_keeps_only_its_end() {
    let mut big = vec![b' '; TAIL_LIMIT * 2];
    big.extend_from_slice(REST);
    let tail = tail_of(&[b"head", &big]);
    assert_eq!(tail.tail.0.len(), TAIL_LIMIT);
    assert_eq!(tail.usage(), expected(15, 7, 22));
}

#[test]
fn a_stream_generate_content_array_reports_its_last_usage_metadata() {
    let array = br#"[{"candidates":[{"content":{"parts":[{"text":"a"}]}}],"usageMetadata":{"promptTokenCount":3,"totalTokenCount":3}}
,{"candidates":[{"content":{"parts":[{"text":"b"}]}}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":8,"totalTokenCount":11}}
]"#;
    let (a, b) = array.split_at(150);
    assert_eq!(tail_of(&[a, b]).usage(), expected(3, 8, 11));
}

#[test]
fn an_openai_stream_reports_the_usage_of_its_last_chunk_before_done() {
    let stream = b"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n\
data: {\"choices\":[],\"usage\":{\"prompt_tokens\":6,\"completion_tokens\":9,\"total_tokens\":15}}\n\n\
data: [DONE]\n\n";
    assert_eq!(tail_of(&[stream]).usage(), expected(6, 9, 15));
}

#[test]
fn an_anthropic_stream_takes_input_tokens_from_its_head_and_output_tokens_from_its_tail() {
    let start = br#"event: message_start
data: {"type":"message_start","message":{"id":"msg_1","content":[],"usage":{"input_tokens":25,"output_tokens":1}}}

"#;
    let delta = br#"event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}

"#;
    let end = br#"event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":40}}

event: message_stop
data: {"type":"message_stop"}

"#;
    let mut chunks: Vec<&[u8]> = vec![start];
    chunks.extend(std::iter::repeat_n(&delta[..], 100));
    chunks.push(end);
    assert_eq!(tail_of(&chunks).usage(), expected(25, 40, 65));
}

#[test]
fn a_response_whose_tail_has_its_whole_usage_ignores_the_head() {
    assert_eq!(tail_of(&[REST]).usage(), expected(15, 7, 22));
    assert_eq!(tail_of(&[b"{}"]).usage(), None);
}

#[test]
fn a_usage_key_inside_generated_text_is_not_taken_for_the_usage() {
    let text = br#"{"candidates":[{"content":{"parts":[{"text":"say \"usage\": {\"prompt_tokens\": 999}"}]}}],"usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":3,"totalTokenCount":5}}"#;
    assert_eq!(tail_of(&[text]).usage(), expected(2, 3, 5));
    let text_last = br#"{"usageMetadata":{"promptTokenCount":2,"totalTokenCount":2},"candidates":[{"content":{"parts":[{"text":"\"usage\": {\"prompt_tokens\": 999}"}]}}]}"#;
    assert_eq!(tail_of(&[text_last]).usage(), expected(2, 0, 2));
}

#[test]
fn counts_in_nested_details_are_not_taken_for_the_top_level_ones() {
    let body = br#"{"usageMetadata":{"promptTokensDetails":[{"modality":"TEXT","promptTokenCount":100}],"promptTokenCount":4,"candidatesTokenCount":5,"thoughtsTokenCount":6,"totalTokenCount":15}}"#;
    assert_eq!(tail_of(&[body]).usage(), expected(4, 5, 15));
}
