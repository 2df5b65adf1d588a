//! The Envoy configs the bench runs: `bench/envoy.bench.yaml` filled here by the harness's
//! renderer, so the variants provably differ only where they must: the Wasm filter (none, the floor, ours) and how the routes recognise a request for the
//! upstream (bare: every request, and the route adds `authorization`; with a filter: the marker
//! header, removed before forwarding, as in envoy/envoy.yaml). Routes and clusters keep
//! production's per-route settings (no timeout, idle timeout, retry policy, WebSocket upgrades)
//! but reach plain-HTTP local upstreams; there is no access log, and no dynamic forward proxy.
//! The rendered files are left in the run directory for inspection.

use crate::variant::{Variant, CLIENT_KEY, STATIC_TOKEN};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::Path;
use vertex_passthrough_tests::harness::{render_file, repo_root};

pub const LISTENER: &str = "bench";
/// The bootstrap every variant fills.
const TEMPLATE: &str = "bench/envoy.bench.yaml";
const MARKER: &str = "x-vertex-passthrough";

/// Where the upstreams listen, all on 127.0.0.1.
#[derive(Clone, Copy, Debug)]
pub struct Upstreams {
    /// nginx: answers every REST call.
    pub rest: u16,
    /// The bench upstream's SSE port.
    pub sse: u16,
    /// The bench upstream's WebSocket port.
    pub ws: u16,
    /// The emulator's OAuth endpoint (for the `service_account` credential).
    pub oauth: u16,
}

pub struct Wasm<'a> {
    pub ours: &'a Path,
    pub floor: &'a Path,
    pub candidate: Option<&'a Path>,
}

/// The whole bootstrap for `variant`: `TEMPLATE` filled; listener and admin on port 0 (read
/// back from the admin).
pub fn bootstrap(variant: Variant, upstreams: Upstreams, wasm: &Wasm) -> anyhow::Result<Value> {
    let static_token = || {
        plugin_config(
            json!({"type": "access_token", "token": STATIC_TOKEN}),
            variant,
        )
    };
    let service_account = || {
        plugin_config(
            json!({
                "type": "service_account",
                "key": serde_json::from_str::<Value>(
                    vertex_passthrough_tests::emulator::SERVICE_ACCOUNT_A_JSON
                ).unwrap_or(Value::Null),
            }),
            variant,
        )
    };
    let candidate = wasm.candidate.unwrap_or(wasm.ours);
    let mut http_filters = Vec::new();
    match variant {
        Variant::Bare => {}
        Variant::Floor => http_filters.push(wasm_filter("floor", wasm.floor, None)),
        Variant::Ours
        | Variant::OursPool
        | Variant::OursResource
        | Variant::OursOpenai
        | Variant::OursNamed
        | Variant::OursNamedSse => http_filters.push(wasm_filter(
            "vertex_passthrough",
            wasm.ours,
            Some(static_token()),
        )),
        Variant::OursSa | Variant::OursPoolSa => http_filters.push(wasm_filter(
            "vertex_passthrough",
            wasm.ours,
            Some(service_account()),
        )),
        Variant::Candidate => http_filters.push(wasm_filter(
            "vertex_passthrough",
            candidate,
            Some(static_token()),
        )),
        Variant::CandidateSa => http_filters.push(wasm_filter(
            "vertex_passthrough",
            candidate,
            Some(service_account()),
        )),
    }
    if variant.reads_body_first() {
        for filter in &mut http_filters {
            filter["typed_config"]["config"]["allow_on_headers_stop_iteration"] = true.into();
        }
    }
    http_filters.push(json!({
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}
    }));

    let mut clusters = vec![
        cluster("rest_upstream", upstreams.rest),
        cluster("sse_upstream", upstreams.sse),
        cluster("ws_upstream", upstreams.ws),
    ];
    if variant.service_account() {
        clusters.push(cluster("google_oauth", upstreams.oauth));
    }

    render_file(
        &repo_root().join(TEMPLATE),
        &[
            ("LISTENER", LISTENER.into()),
            ("HTTP_FILTERS", Value::Array(http_filters)),
            ("ROUTES", routes(variant)),
            ("CLUSTERS", Value::Array(clusters)),
        ],
    )
}

/// The client key's hash, as an operator would write it in `api_keys`.
fn client_key_hash() -> String {
    let digest = Sha256::digest(CLIENT_KEY.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// For the pool variants, also the alias `gemini-pool` on two deployments (two regions, equal
/// weight); for the named-key ones, the client key is `bench-team`'s, limited to two models.
fn plugin_config(credential: Value, variant: Variant) -> String {
    let pool = matches!(variant, Variant::OursPool | Variant::OursPoolSa);
    let mut model_list = vec![
        json!({"model_name": "gemini-flash", "litellm_params": {"model": "vertex_ai/gemini-2.0-flash"}}),
        json!({"model_name": "gemini-live", "litellm_params": {"model": "gemini-2.0-flash-live-preview-04-09"}}),
    ];
    if pool {
        for location in ["us-central1", "us-east5"] {
            model_list.push(json!({"model_name": "gemini-pool", "litellm_params": {
                "model": "vertex_ai/gemini-2.0-flash", "vertex_location": location}}));
        }
    }
    let key = if variant.named_key() {
        json!({"name": "bench-team", "key": client_key_hash(), "models": ["gemini-2.0-flash", "gemini-flash"]})
    } else {
        client_key_hash().into()
    };
    json!({
        "vertex_project": "proj-alpha",
        "vertex_location": "us-central1",
        "credentials": {"default": credential},
        "model_list": model_list,
        "api_keys": [key],
    })
    .to_string()
}

fn wasm_filter(name: &str, file: &Path, configuration: Option<String>) -> Value {
    let mut config = json!({
        "name": name,
        "root_id": name,
        "vm_config": {
            "vm_id": name,
            "runtime": "envoy.wasm.runtime.v8",
            "code": {"local": {"filename": file.display().to_string()}}
        }
    });
    if let Some(value) = configuration {
        config["configuration"] = json!({
            "@type": "type.googleapis.com/google.protobuf.StringValue",
            "value": value
        });
    }
    json!({
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": config
        }
    })
}

/// WebSocket upgrades, then SSE (`alt=sse` in the path), then every other call; with a filter,
/// each needs the marker, and anything unmarked gets a 404 as in production.
fn routes(variant: Variant) -> Value {
    let upgrade =
        json!({"name": "upgrade", "string_match": {"exact": "websocket", "ignore_case": true}});
    let sse = json!({"name": ":path", "string_match": {"contains": "alt=sse"}});
    let mut routes = vec![
        route(variant, Some(upgrade), "ws_upstream", true),
        route(variant, Some(sse), "sse_upstream", false),
        route(variant, None, "rest_upstream", false),
    ];
    if variant.marks() {
        routes.push(json!({
            "match": {"prefix": "/"},
            "direct_response": {"status": 404, "body": {"inline_string": "{\"error\":{\"code\":404,\"message\":\"not marked\",\"status\":\"NOT_FOUND\"}}"}}
        }));
    }
    Value::Array(routes)
}

fn route(variant: Variant, header: Option<Value>, cluster: &str, websocket: bool) -> Value {
    let mut headers = Vec::new();
    if variant.marks() {
        headers.push(json!({"name": MARKER, "present_match": true}));
    }
    headers.extend(header);
    let mut action = json!({
        "cluster": cluster,
        "timeout": "0s",
        "idle_timeout": "600s",
        "retry_policy": {"retry_on": "connect-failure,refused-stream,reset-before-request", "num_retries": 2}
    });
    if websocket {
        action["upgrade_configs"] = json!([{"upgrade_type": "websocket", "enabled": true}]);
    }
    let mut route = json!({"match": {"prefix": "/", "headers": headers}, "route": action});
    if variant.marks() {
        route["request_headers_to_remove"] = json!([MARKER]);
    } else {
        route["request_headers_to_add"] = json!([{
            "header": {"key": "authorization", "value": format!("Bearer {STATIC_TOKEN}")},
            "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"
        }]);
    }
    route
}

/// A plain-HTTP/1.1 cluster on 127.0.0.1 whose circuit breakers do not cut a 1000-request burst.
fn cluster(name: &str, port: u16) -> Value {
    json!({
        "name": name,
        "type": "STATIC",
        "connect_timeout": "2s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]
        },
        "circuit_breakers": {"thresholds": [{
            "max_connections": 100000, "max_pending_requests": 100000,
            "max_requests": 100000, "max_retries": 100
        }]}
    })
}
