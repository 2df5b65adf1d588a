//! Through a real Envoy with two workers and envoy/envoy.yaml's `stats_tags`: the tokens Vertex
//! reports, counted per named key and model in every response form, on `/stats/prometheus` with
//! `client` and `model` labels; spent against a key's `tpm`; and the Grafana dashboard's
//! metrics found there.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use vertex_passthrough_tests::emulator::{
    live_prompt_tokens, prompt_tokens, LIVE_RESPONSE_TOKENS, RESPONSE_TOKENS,
};
use vertex_passthrough_tests::harness::repo_root;
use vertex_passthrough_tests::stack::{
    client_key_hash, generate_body, plugin_config, Stack, LIVE_TURN_BYTES,
};
use vertex_passthrough_tests::wait::DEADLINE;

const TEAM_A_KEY: &str = "sk-team-a-0123456789";
const TEAM_B_KEY: &str = "sk-team-b-0123456789";
const TEAM_C_KEY: &str = "sk-team-c-0123456789";
const FLASH: &str = "/vertex_ai/models/flash:generateContent";
const FLASH_SSE: &str = "/vertex_ai/models/flash:streamGenerateContent?alt=sse";
const FLASH_ARRAY: &str = "/vertex_ai/models/flash:streamGenerateContent";
const CLAUDE: &str =
    "/vertex_ai/v1/projects/proj-alpha/locations/us-east5/publishers/anthropic/models/claude";

/// The usual config and its unnamed key, an Anthropic alias, and three teams: team-c may spend
/// 10 tokens a minute.
fn teams() -> Value {
    let mut config = plugin_config();
    config["model_list"]
        .as_array_mut()
        .expect("a model_list")
        .push(json!({"model_name": "claude", "litellm_params": {"model": "anthropic/claude-3-5-sonnet-v2@20241022", "vertex_location": "us-east5"}}));
    config["api_keys"] = json!([
        client_key_hash(),
        {"name": "team-a", "key": TEAM_A_KEY},
        {"name": "team-b", "key": TEAM_B_KEY},
        {"name": "team-c", "key": TEAM_C_KEY, "tpm": 10},
    ]);
    config
}

/// Tokens the emulator reports for `generate_body()`.
fn generate_tokens() -> (u64, u64) {
    let body = serde_json::to_vec(&generate_body()).expect("JSON");
    (prompt_tokens(&body), RESPONSE_TOKENS)
}

/// Calls `path` as `key` and reads the whole response; the status.
async fn call(stack: &Stack, key: &str, path: &str, body: Value) -> u16 {
    let response = stack.post_with(path, &[("x-api-key", key)], body).await;
    let status = response.status().as_u16();
    response.bytes().await.expect("the whole response");
    status
}

/// The value of the Prometheus sample `name{labels}`, once `/stats/prometheus` shows it at
/// `value` (workers hand their counters to Envoy on their tick).
async fn sample_reaches(stack: &Stack, name: &str, labels: &str, value: u64) {
    let line = format!("{name}{{{labels}}} {value}");
    let deadline = Instant::now() + DEADLINE;
    loop {
        let text = stack.envoy.prometheus().await.expect("admin prometheus");
        if text.lines().any(|l| l == line) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/stats/prometheus never showed `{line}`:\n{}",
            usage_lines(&text).join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn usage_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("vertex_passthrough_usage_"))
        .collect()
}

#[tokio::test]
async fn rest_sse_array_and_live_calls_of_two_teams_count_under_each_teams_model() {
    let stack = Stack::with_config(teams()).await;
    let (prompt, response) = generate_tokens();
    stack
        .envoy
        .assert_every_worker_took_part(2, "team-a's calls", async {
            for path in [FLASH, FLASH_SSE, FLASH_ARRAY, FLASH, FLASH_SSE, FLASH_ARRAY] {
                assert_eq!(call(&stack, TEAM_A_KEY, path, generate_body()).await, 200);
            }
        })
        .await;
    let beta = "/vertex_ai/models/beta-pro:generateContent";
    assert_eq!(call(&stack, TEAM_B_KEY, beta, generate_body()).await, 200);
    stack.live_turn_reporting_usage(TEAM_B_KEY, "live").await;

    let team_a = r#"client="team-a",model="flash""#;
    let team_b = r#"client="team-b",model="beta-pro""#;
    let live = r#"client="team-b",model="live""#;
    let name = |what: &str| format!("vertex_passthrough_usage_{what}");
    sample_reaches(
        &stack,
        &name("total_tokens"),
        team_a,
        6 * (prompt + response),
    )
    .await;
    sample_reaches(&stack, &name("requests"), team_a, 6).await;
    sample_reaches(&stack, &name("prompt_tokens"), team_a, 6 * prompt).await;
    sample_reaches(&stack, &name("response_tokens"), team_a, 6 * response).await;
    sample_reaches(&stack, &name("total_tokens"), team_b, prompt + response).await;
    let live_tokens = live_prompt_tokens(LIVE_TURN_BYTES) + LIVE_RESPONSE_TOKENS;
    sample_reaches(&stack, &name("total_tokens"), live, live_tokens).await;
    sample_reaches(&stack, &name("requests"), live, 1).await;
}

#[tokio::test]
async fn openai_and_anthropic_responses_count_their_usage_streamed_or_not() {
    let stack = Stack::with_config(teams()).await;
    let chat = "/vertex_ai/openai/chat/completions";
    let messages = json!([{"role": "user", "content": "Hi"}]);
    for stream in [false, true] {
        let body = json!({"model": "flash", "messages": messages, "stream": stream,
                          "stream_options": {"include_usage": true}});
        assert_eq!(call(&stack, TEAM_A_KEY, chat, body).await, 200);
    }
    let anthropic =
        json!({"anthropic_version": "vertex-2023-10-16", "max_tokens": 64, "messages": messages});
    let claude_body = serde_json::to_vec(&anthropic).expect("JSON");
    for method in ["rawPredict", "streamRawPredict"] {
        let path = format!("{CLAUDE}:{method}");
        assert_eq!(
            call(&stack, TEAM_A_KEY, &path, anthropic.clone()).await,
            200
        );
    }
    let stats = stack
        .filter_stats_after("usage.client.team-a.model.claude.requests", 2)
        .await;
    let flash = |what: &str| stats[&format!("usage.client.team-a.model.flash.{what}")];
    assert_eq!(flash("requests"), 2);
    assert_eq!(flash("response_tokens"), 2 * RESPONSE_TOKENS);
    assert!(flash("prompt_tokens") >= 2, "{stats:#?}");
    assert_eq!(
        flash("total_tokens"),
        flash("prompt_tokens") + 2 * RESPONSE_TOKENS
    );
    let claude = |what: &str| stats[&format!("usage.client.team-a.model.claude.{what}")];
    // The stream's input tokens come from its first event, its output tokens from its last.
    assert_eq!(claude("prompt_tokens"), 2 * prompt_tokens(&claude_body));
    assert_eq!(claude("response_tokens"), 2 * RESPONSE_TOKENS);
}

#[tokio::test]
async fn a_plain_keys_calls_add_no_usage_counters_and_no_tokens_to_the_access_log() {
    let stack = Stack::with_config(teams()).await;
    for path in [FLASH, FLASH_SSE] {
        assert_eq!(stack.post(path, generate_body()).await.status(), 200);
    }
    stack.filter_stats_after("requests_forwarded", 2).await;
    stack
        .envoy
        .wait_for_log("model=flash status=200 tokens=- ", Duration::from_secs(10))
        .await
        .expect("an access log line for the plain key's call");
    let text = stack.envoy.prometheus().await.expect("admin prometheus");
    assert_eq!(usage_lines(&text), Vec::<&str>::new());
}

#[tokio::test]
async fn the_access_log_line_of_a_named_keys_call_carries_its_tokens() {
    let stack = Stack::with_config(teams()).await;
    let (prompt, response) = generate_tokens();
    assert_eq!(
        call(&stack, TEAM_A_KEY, FLASH_SSE, generate_body()).await,
        200
    );
    let needle = format!(
        "client=team-a model=flash status=200 tokens={} ",
        prompt + response
    );
    stack
        .envoy
        .wait_for_log(&needle, Duration::from_secs(10))
        .await
        .expect("the access log line carries the tokens");
}

#[tokio::test]
async fn an_error_from_vertex_counts_as_an_error_of_the_pair() {
    let stack = Stack::with_config(teams()).await;
    stack
        .emulator
        .set_quota_exhausted("proj-alpha", "global", true);
    assert_eq!(call(&stack, TEAM_A_KEY, FLASH, generate_body()).await, 429);
    let team_a = r#"client="team-a",model="flash""#;
    sample_reaches(&stack, "vertex_passthrough_usage_errors", team_a, 1).await;
    sample_reaches(&stack, "vertex_passthrough_usage_requests", team_a, 1).await;
}

#[tokio::test]
async fn rest_tokens_spend_a_small_tpm_and_the_next_call_is_429() {
    let stack = Stack::with_config(teams()).await;
    // Two tries: the first call may land at the very end of a minute.
    let mut refused = None;
    for _ in 0..2 {
        assert_eq!(
            call(&stack, TEAM_C_KEY, FLASH_SSE, generate_body()).await,
            200
        );
        let response = stack
            .post_with(FLASH, &[("x-api-key", TEAM_C_KEY)], generate_body())
            .await;
        if response.status() == 429 {
            refused = Some(response);
            break;
        }
    }
    let response = refused.expect("a 429 once the tokens are spent");
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.expect("a JSON error");
    assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
}

/// Each panel's metrics and the labels its queries group by, from the dashboard's PromQL.
fn dashboard_queries() -> Vec<(String, Vec<String>)> {
    let path = repo_root().join("docs/grafana/vertex-passthrough.json");
    let text = std::fs::read_to_string(&path).expect("the dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        let targets = panel["targets"].as_array().expect("each panel has targets");
        assert!(!targets.is_empty(), "{}", panel["title"]);
        for target in targets {
            let expr = target["expr"].as_str().expect("a PromQL expr");
            let labels: Vec<String> = expr
                .split("by (")
                .skip(1)
                .filter_map(|rest| rest.split_once(')'))
                .flat_map(|(list, _)| list.split(',').map(|l| l.trim().to_string()))
                .collect();
            let names: Vec<String> = expr
                .split("vertex_passthrough_")
                .skip(1)
                .map(|rest| {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                        .collect();
                    format!("vertex_passthrough_{name}")
                })
                .collect();
            assert!(!names.is_empty(), "no metric in {expr}");
            for name in names {
                queries.push((name, labels.clone()));
            }
        }
    }
    queries
}

#[tokio::test]
async fn each_grafana_panels_metric_and_labels_show_on_stats_prometheus_after_traffic() {
    let stack = Stack::with_config(teams()).await;
    assert_eq!(call(&stack, TEAM_A_KEY, FLASH, generate_body()).await, 200);
    let (prompt, response) = generate_tokens();
    let team_a = r#"client="team-a",model="flash""#;
    sample_reaches(
        &stack,
        "vertex_passthrough_usage_total_tokens",
        team_a,
        prompt + response,
    )
    .await;
    let text = stack.envoy.prometheus().await.expect("admin prometheus");
    for (name, labels) in dashboard_queries() {
        let found = text.lines().any(|line| {
            line.strip_prefix(&name)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
                && labels
                    .iter()
                    .all(|label| line.contains(&format!("{label}=\"")))
        });
        assert!(
            found,
            "no sample of {name} with labels {labels:?}:\n{}",
            usage_lines(&text).join("\n")
        );
    }
}
