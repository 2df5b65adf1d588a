use super::*;

fn tail_of(chunks: &[&[u8]]) -> Tail {
    let mut tail = Tail::default();
    for chunk in chunks {
        tail.push(chunk);
    }
    tail
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
    assert!(tail.0.len() <= TAIL_LIMIT);
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
    assert_eq!(tail.0.len(), TAIL_LIMIT);
    assert_eq!(tail.usage(), expected(15, 7, 22));
}
