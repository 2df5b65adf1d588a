//! One alias, several deployments, through a real Envoy with two workers: the picks spread over
//! the deployments by weight, a 429 from Vertex cools a deployment down in every worker, and a
//! Live session keeps the deployment it was given at the upgrade.

use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use vertex_passthrough_tests::emulator::{EmulatorOptions, VertexRequest};
use vertex_passthrough_tests::harness::repo_root;
use vertex_passthrough_tests::stack::{
    generate_body, google_error, plugin_config, Stack, StackOptions, SA_A_EMAIL, SA_B_EMAIL,
};
use vertex_passthrough_tests::wait;

const POOL: &str = "/vertex_ai/models/flash-pool:generateContent";
/// A path to a plain alias: picks nothing, pins a connection to a worker.
const PLAIN: &str = "/vertex_ai/models/flash:generateContent";
const ALPHA: (&str, &str) = ("proj-alpha", "us-central1");
const BETA: (&str, &str) = ("proj-beta", "europe-west4");

/// The test stack's config with alias `flash-pool` on two deployments: proj-alpha in
/// us-central1 (service account A) and proj-beta in europe-west4 (service account B), each
/// entry's `litellm_params` extended with `extra`.
fn pooled(extra: [Value; 2], cooldown_s: u64) -> Value {
    let mut config = plugin_config();
    let mut entries = vec![
        json!({"model_name": "flash-pool", "litellm_params": {"model": "vertex_ai/gemini-2.0-flash",
            "vertex_project": "proj-alpha", "vertex_location": "us-central1"}}),
        json!({"model_name": "flash-pool", "litellm_params": {"model": "vertex_ai/gemini-2.0-flash",
            "vertex_project": "proj-beta", "vertex_location": "europe-west4", "vertex_credentials": "beta"}}),
    ];
    for (entry, extra) in entries.iter_mut().zip(extra) {
        if let (Some(params), Value::Object(extra)) =
            (entry["litellm_params"].as_object_mut(), extra)
        {
            params.extend(extra);
        }
    }
    config["model_list"]
        .as_array_mut()
        .expect("the test config lists models")
        .extend(entries);
    config["cooldown_s"] = json!(cooldown_s);
    config
}

fn equal() -> Value {
    pooled([json!({}), json!({})], 30)
}

/// The project and location a Vertex request went to.
fn place(request: &VertexRequest) -> (String, String) {
    let parts: Vec<&str> = request.path.split('/').collect();
    (parts[3].to_string(), parts[5].to_string())
}

fn is(request: &VertexRequest, (project, location): (&str, &str)) -> bool {
    place(request) == (project.to_string(), location.to_string())
}

/// Requests to the pool that reached Vertex, in order.
fn pool_requests(stack: &Stack) -> Vec<VertexRequest> {
    stack
        .emulator
        .vertex_requests()
        .into_iter()
        .filter(|r| is(r, ALPHA) || is(r, BETA))
        .filter(|r| r.path.contains("gemini-2.0-flash:"))
        .collect()
}

#[tokio::test]
async fn requests_to_an_alias_spread_over_its_deployments() {
    let stack = Stack::with_config(equal()).await;
    for _ in 0..40 {
        assert_eq!(stack.post(POOL, generate_body()).await.status(), 200);
    }
    let requests = pool_requests(&stack);
    let alpha = requests.iter().filter(|r| is(r, ALPHA)).count();
    let beta = requests.iter().filter(|r| is(r, BETA)).count();
    println!(
        "40 requests, equal weights: proj-alpha/us-central1 {alpha}, proj-beta/europe-west4 {beta}"
    );
    assert_eq!(alpha + beta, 40);
    assert!(alpha >= 5 && beta >= 5, "alpha {alpha}, beta {beta}");
    for request in &requests {
        let subject = if is(request, ALPHA) {
            SA_A_EMAIL
        } else {
            SA_B_EMAIL
        };
        assert_eq!(
            request.token_subject.as_deref(),
            Some(subject),
            "each deployment's own credential"
        );
    }
    let stats = stack
        .filter_stats_when("40 deployment requests", |s| {
            s.get("deployment.flash-pool.0.requests").unwrap_or(&0)
                + s.get("deployment.flash-pool.1.requests").unwrap_or(&0)
                >= 40
        })
        .await;
    assert_eq!(
        stats.get("deployment.flash-pool.0.requests"),
        Some(&(alpha as u64))
    );
    assert_eq!(
        stats.get("deployment.flash-pool.1.requests"),
        Some(&(beta as u64))
    );
    let prometheus = stack.envoy.prometheus().await.expect("/stats/prometheus");
    for (index, count) in [(0, alpha), (1, beta)] {
        let line = format!("vertex_passthrough_deployment_flash_pool_{index}_requests{{}} {count}");
        assert!(
            prometheus.lines().any(|l| l == line),
            "{line} on /stats/prometheus"
        );
    }
}

#[tokio::test]
async fn openai_compatible_calls_to_an_alias_spread_over_its_deployments() {
    let stack = Stack::with_config(equal()).await;
    let body = json!({"model": "flash-pool", "messages": [{"role": "user", "content": "hi"}]});
    for _ in 0..40 {
        let response = stack
            .post("/vertex_ai/openai/chat/completions", body.clone())
            .await;
        assert_eq!(response.status(), 200);
    }
    let requests: Vec<VertexRequest> = stack
        .emulator
        .vertex_requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/endpoints/openapi/chat/completions"))
        .collect();
    let alpha = requests.iter().filter(|r| is(r, ALPHA)).count();
    let beta = requests.iter().filter(|r| is(r, BETA)).count();
    println!("40 OpenAI-compatible calls, equal weights: {alpha}:{beta}");
    assert_eq!(alpha + beta, 40);
    assert!(alpha >= 5 && beta >= 5, "alpha {alpha}, beta {beta}");
}

#[tokio::test]
async fn the_heavier_deployment_gets_more() {
    let stack = Stack::with_config(pooled([json!({"weight": 1}), json!({"weight": 9})], 30)).await;
    for _ in 0..60 {
        assert_eq!(stack.post(POOL, generate_body()).await.status(), 200);
    }
    let requests = pool_requests(&stack);
    let light = requests.iter().filter(|r| is(r, ALPHA)).count();
    let heavy = requests.iter().filter(|r| is(r, BETA)).count();
    println!("60 requests, weights 1:9: {light}:{heavy}");
    assert_eq!(light + heavy, 60);
    assert!(
        heavy >= 2 * light,
        "weight 9 got {heavy}, weight 1 got {light}"
    );
}

#[tokio::test]
async fn a_429_cools_the_deployment_down_in_the_other_worker_too() {
    let stack = Stack::with_config(equal()).await;
    let workers = stack.connections_on_two_workers(PLAIN).await;
    let (first, second) = (&workers.first, &workers.second);
    stack.emulator.set_quota_exhausted(BETA.0, BETA.1, true);
    // The first worker's picks reach proj-beta soon; Vertex's 429 reaches the client.
    let mut tries = 0;
    loop {
        tries += 1;
        assert!(tries <= 40, "40 requests and none went to proj-beta");
        let response = stack.post_on(first, POOL).await;
        if response.status() == 429 {
            let (_, status, _) = google_error(response).await;
            assert_eq!(status, "RESOURCE_EXHAUSTED");
            break;
        }
        assert_eq!(response.status(), 200);
    }
    let before = pool_requests(&stack).len();
    for _ in 0..30 {
        assert_eq!(
            stack.post_on(second, POOL).await.status(),
            200,
            "the other worker leaves the cooling deployment out"
        );
    }
    let after = pool_requests(&stack);
    assert!(after[before..].iter().all(|r| is(r, ALPHA)));
    assert_eq!(after[before..].len(), 30);
    workers.assert_still_the_only_connections(&stack).await;
    let stats = stack
        .filter_stats_after("deployment.flash-pool.1.cooldowns", 1)
        .await;
    assert_eq!(stats.get("deployment.flash-pool.1.cooldowns"), Some(&1));
    assert_eq!(stats.get("deployment.flash-pool.0.cooldowns"), Some(&0));
    stack
        .envoy
        .wait_for_log(
            "deployment flash-pool#1 (proj-beta/europe-west4) answered 429: in cooldown for 30 s",
            wait::DEADLINE,
        )
        .await
        .expect("the cooldown is logged");
}

#[tokio::test]
async fn when_every_deployment_cools_down_the_first_to_recover_serves() {
    let stack = Stack::with_config(equal()).await;
    stack.emulator.set_quota_exhausted(ALPHA.0, ALPHA.1, true);
    stack.emulator.set_quota_exhausted(BETA.0, BETA.1, true);
    let both_refused = |stack: &Stack| {
        let requests = pool_requests(stack);
        let refused = |p| requests.iter().any(|r| r.status == 429 && is(r, p));
        refused(ALPHA) && refused(BETA)
    };
    let mut tries = 0;
    while !both_refused(&stack) {
        tries += 1;
        assert!(
            tries <= 40,
            "40 requests and not both deployments answered 429"
        );
        assert_eq!(stack.post(POOL, generate_body()).await.status(), 429);
    }
    let first_cooled = place(&pool_requests(&stack)[0]);
    let before = pool_requests(&stack).len();
    for _ in 0..10 {
        assert_eq!(
            stack.post(POOL, generate_body()).await.status(),
            429,
            "Vertex's answer still reaches the client"
        );
    }
    let after = pool_requests(&stack);
    assert!(
        after[before..].iter().all(|r| place(r) == first_cooled),
        "every request went to {first_cooled:?}, whose cooldown ends first"
    );
    let stats = stack
        .filter_stats_when("two cooldowns", |s| {
            s.get("deployment_cooldowns").copied().unwrap_or(0) >= 2
        })
        .await;
    assert_eq!(
        stats.get("deployment_cooldowns"),
        Some(&2),
        "no cooldown restarted"
    );
}

#[tokio::test]
async fn a_deployment_serves_again_once_its_cooldown_ends() {
    let stack = Stack::with_config(pooled([json!({}), json!({})], 1)).await;
    stack.emulator.set_quota_exhausted(BETA.0, BETA.1, true);
    let mut tries = 0;
    while stack.post(POOL, generate_body()).await.status() != 429 {
        tries += 1;
        assert!(tries <= 40, "40 requests and none went to proj-beta");
    }
    stack.emulator.set_quota_exhausted(BETA.0, BETA.1, false);
    stack
        .envoy
        .wait_for_log(
            "deployment flash-pool#1 (proj-beta/europe-west4) left cooldown and serves again",
            wait::DEADLINE,
        )
        .await
        .expect("the end of the cooldown is logged");
    let mut tries = 0;
    loop {
        assert_eq!(stack.post(POOL, generate_body()).await.status(), 200);
        if pool_requests(&stack).last().is_some_and(|r| is(r, BETA)) {
            break;
        }
        tries += 1;
        assert!(tries <= 40, "proj-beta never served again");
    }
}

#[tokio::test]
async fn a_live_setup_naming_the_alias_gets_the_sessions_deployment() {
    let stack = Stack::with_config(equal()).await;
    let mut places = std::collections::BTreeSet::new();
    for session in 0..40 {
        if places.len() == 2 {
            break;
        }
        let mut socket = stack
            .live_connect("/vertex_ai/live?model=flash-pool")
            .await
            .expect("the upgrade succeeds");
        socket
            .send(Message::Text(
                json!({"setup": {"model": "flash-pool"}}).to_string(),
            ))
            .await
            .expect("the setup is sent");
        let recorded = wait::until_some("the session's setup at Vertex", || {
            stack
                .emulator
                .live_sessions()
                .get(session)
                .and_then(|s| Some((s.authority.clone(), s.setup_model.clone()?)))
        })
        .await;
        let (authority, model) = recorded;
        let expected = if authority.starts_with("us-central1-") {
            "projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-2.0-flash"
        } else {
            assert!(authority.starts_with("europe-west4-"), "{authority}");
            "projects/proj-beta/locations/europe-west4/publishers/google/models/gemini-2.0-flash"
        };
        assert_eq!(model, expected);
        places.insert(authority);
        socket.close(None).await.ok();
    }
    assert_eq!(
        places.len(),
        2,
        "sessions went to both deployments: {places:?}"
    );
}

/// The LiteLLM router config docs/load-balancing.md shows, as YAML.
fn documented_router_config() -> Value {
    let page = std::fs::read_to_string(repo_root().join("docs/load-balancing.md"))
        .expect("docs/load-balancing.md");
    let yaml = page
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a YAML block in it");
    serde_yaml::from_str(yaml).expect("the page's YAML parses")
}

#[tokio::test]
async fn the_documented_litellm_router_config_loads_and_spreads_by_rpm() {
    let mut config = plugin_config();
    config["model_list"] = documented_router_config()["model_list"].clone();
    // The page's projects, served by the emulator to service account A.
    let stack = Stack::start_with(StackOptions {
        plugin_config: config,
        emulator: EmulatorOptions {
            check_project_access: false,
            ..EmulatorOptions::with_fixtures()
        },
        ..StackOptions::default()
    })
    .await;
    for _ in 0..100 {
        let response = stack
            .post(
                "/vertex_ai/models/gemini-flash:generateContent",
                generate_body(),
            )
            .await;
        assert_eq!(response.status(), 200);
    }
    let requests = stack.emulator.vertex_requests();
    let count = |p: (&str, &str)| requests.iter().filter(|r| is(r, p)).count();
    let us = count(("acme-prod", "us-central1"));
    let eu = count(("acme-prod", "europe-west4"));
    let overflow = count(("acme-overflow", "us-east5"));
    println!("100 requests, rpm 600/300/100: {us}/{eu}/{overflow}");
    assert_eq!(us + eu + overflow, 100);
    assert!(
        overflow >= 1 && eu > overflow && us > eu,
        "{us}/{eu}/{overflow}"
    );
}
