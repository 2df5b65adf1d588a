//! The service-mesh manifests under envoy/ (Istio, Envoy Gateway) and the OCI image's Dockerfile:
//! no cluster here to apply them to, so each is read as the control plane would read it, its
//! plugin config is run through the filter's own config validation (what `on_configure` does),
//! and the names that must agree across manifests (clusters, env vars, selectors, hosts) do.
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

use vertex_passthrough_core::config::{Config, TokenSource};
use vertex_passthrough_core::routing::host::vertex_host;
use vertex_passthrough_tests::harness::{repo_root, validate_config};

/// Every YAML document of `envoy/<path>`, as JSON values.
fn documents(path: &str) -> Vec<Value> {
    let full = repo_root().join("envoy").join(path);
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()));
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| {
            let value = serde_yaml::Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", full.display()));
            serde_json::to_value(value).unwrap()
        })
        .filter(|v| !v.is_null())
        .collect()
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found = of_kind(docs, kind);
    assert_eq!(found.len(), 1, "exactly one {kind}: {found:?}");
    found[0]
}

/// The VM env the manifests hand the filter: VERTEX_SA_KEY holds a service-account key.
fn key_env(name: &str) -> Option<String> {
    let fixture = repo_root().join("tests/fixtures/service_account_a.json");
    (name == "VERTEX_SA_KEY").then(|| std::fs::read_to_string(fixture).unwrap())
}

/// The plugin config as the control plane hands it over (JSON text), through the filter's own
/// loader; a refusal fails the test with the filter's message (field and reason).
fn load_plugin_config(config: &Value, manifest: &str) -> Config {
    assert!(config.is_object(), "{manifest}: no plugin config");
    let json = serde_json::to_vec(config).unwrap();
    let env = |name: &str| key_env(name);
    match Config::load(&json, &env) {
        Ok(config) => config,
        Err(e) => panic!("{manifest}: the filter refuses its plugin config: {e}"),
    }
}

fn token_cluster(config: &Config) -> String {
    let credential = config.credential(0).expect("a credential");
    match &credential.source {
        TokenSource::ServiceAccount(sa) => sa.endpoint.cluster.clone(),
        _ => panic!("the mesh examples use a service_account credential"),
    }
}

/// Every location the config can send a request to: the default and each alias's.
fn locations(config: &Config) -> BTreeSet<String> {
    let mut all: BTreeSet<String> = config
        .aliases
        .values()
        .map(|a| a.alias.location.clone())
        .collect();
    all.insert(config.default_location.clone());
    all
}

#[test]
fn istio_wasm_plugin_is_an_authn_oci_plugin_whose_config_the_filter_accepts() {
    let docs = documents("istio/wasm-plugin.yaml");
    let plugin = one(&docs, "WasmPlugin");
    let spec = &plugin["spec"];
    assert_eq!(plugin["apiVersion"], "extensions.istio.io/v1alpha1");
    assert!(
        spec["url"].as_str().unwrap().starts_with("oci://"),
        "{}",
        spec["url"]
    );
    assert_eq!(spec["phase"], "AUTHN");
    assert_eq!(spec["type"], "HTTP");
    assert_eq!(spec["failStrategy"], "FAIL_CLOSE");
    assert_eq!(spec["pluginName"], "vertex_passthrough");
    let env = spec["vmConfig"]["env"].as_array().unwrap();
    assert!(
        env.iter()
            .any(|e| e["name"] == "VERTEX_SA_KEY" && e["valueFrom"] == "HOST"),
        "{env:?}"
    );

    let config = load_plugin_config(&spec["pluginConfig"], "istio/wasm-plugin.yaml");
    assert_eq!(
        token_cluster(&config),
        "outbound|443||oauth2.googleapis.com"
    );
}

#[test]
fn istio_manifests_agree_on_clusters_hosts_selectors_and_the_key() {
    let plugin_docs = documents("istio/wasm-plugin.yaml");
    let apis = documents("istio/google-apis.yaml");
    let gateway = documents("istio/gateway.yaml");
    let plugin = one(&plugin_docs, "WasmPlugin");
    let config = load_plugin_config(&plugin["spec"]["pluginConfig"], "istio/wasm-plugin.yaml");

    // The token cluster is the one Istio makes from the ServiceEntry: outbound|PORT||HOST.
    let entry = one(&apis, "ServiceEntry");
    let hosts: BTreeSet<&str> = entry["spec"]["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    let ports: Vec<u64> = entry["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["number"].as_u64().unwrap())
        .collect();
    let cluster = token_cluster(&config);
    let (port, host) = cluster
        .strip_prefix("outbound|")
        .and_then(|rest| rest.split_once("||"))
        .unwrap_or_else(|| panic!("{cluster} is not an Istio outbound cluster name"));
    assert!(hosts.contains(host), "{host} not in the ServiceEntry");
    assert!(ports.contains(&port.parse().unwrap()), "port {port}");

    // Every Vertex host the config can route to is declared, has TLS origination from the
    // gateway and a route that takes the filter's marked requests and drops the marker.
    let selector = &plugin["spec"]["selector"]["matchLabels"];
    let rules = of_kind(&apis, "DestinationRule");
    let services = of_kind(&apis, "VirtualService");
    let istio_gateway = one(&gateway, "Gateway");
    for location in locations(&config) {
        let vertex = vertex_host(&location);
        assert!(
            hosts.contains(vertex.as_str()),
            "{vertex} (location {location}) missing from the ServiceEntry"
        );
        let rule = rules
            .iter()
            .find(|r| r["spec"]["host"] == vertex.as_str())
            .unwrap_or_else(|| panic!("no DestinationRule for {vertex}"));
        let tls = &rule["spec"]["trafficPolicy"]["tls"];
        assert_eq!(tls["mode"], "SIMPLE");
        // The server's certificate must be for the host, as envoy.yaml's auto_san_validation.
        assert_eq!(tls["sni"], vertex.as_str());
        assert_eq!(
            tls["subjectAltNames"],
            serde_json::json!([vertex]),
            "{rule}"
        );
        assert_eq!(&rule["spec"]["workloadSelector"]["matchLabels"], selector);
        let service = services
            .iter()
            .find(|v| v["spec"]["hosts"][0] == vertex.as_str())
            .unwrap_or_else(|| panic!("no VirtualService for {vertex}"));
        let route = &service["spec"]["http"][0];
        assert_eq!(
            route["match"][0]["headers"]["x-vertex-passthrough"]["exact"],
            "1"
        );
        assert_eq!(
            route["headers"]["request"]["remove"][0],
            "x-vertex-passthrough"
        );
        assert_eq!(route["route"][0]["destination"]["host"], vertex.as_str());
        assert_eq!(
            service["spec"]["gateways"][0],
            istio_gateway["metadata"]["name"]
        );
    }
    let oauth_rule = rules
        .iter()
        .find(|r| r["spec"]["host"] == host)
        .expect("a DestinationRule for the token endpoint");
    assert_eq!(oauth_rule["spec"]["trafficPolicy"]["tls"]["mode"], "SIMPLE");
    assert_eq!(
        oauth_rule["spec"]["trafficPolicy"]["tls"]["subjectAltNames"],
        serde_json::json!([host])
    );
    // Every DestinationRule checks the name, the ones for hosts added later included.
    for rule in &rules {
        let tls = &rule["spec"]["trafficPolicy"]["tls"];
        assert_eq!(
            tls["subjectAltNames"],
            serde_json::json!([rule["spec"]["host"]]),
            "{rule}"
        );
    }

    // The gateway the plugin selects hands Envoy the key from a Secret.
    assert_eq!(&istio_gateway["spec"]["selector"], selector);
    let deployment = one(&gateway, "Deployment");
    let pod = &deployment["spec"]["template"];
    assert_eq!(&pod["metadata"]["labels"]["istio"], &selector["istio"]);
    let proxy = pod["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "istio-proxy")
        .expect("the istio-proxy container");
    let key = proxy["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "VERTEX_SA_KEY")
        .expect("VERTEX_SA_KEY in the proxy's env");
    assert!(key["valueFrom"]["secretKeyRef"]["name"].is_string());
}

#[test]
fn envoy_gateway_policy_config_is_accepted_and_its_token_cluster_exists() {
    let policy_docs = documents("envoy-gateway/extension-policy.yaml");
    let gateway = documents("envoy-gateway/gateway.yaml");
    let policy = one(&policy_docs, "EnvoyExtensionPolicy");
    let wasm = &policy["spec"]["wasm"][0];
    assert_eq!(wasm["code"]["type"], "Image");
    assert!(wasm["code"]["image"]["url"].is_string());
    assert_eq!(wasm["failOpen"], false);
    assert_eq!(wasm["env"]["hostKeys"][0], "VERTEX_SA_KEY");
    let config = load_plugin_config(&wasm["config"], "envoy-gateway/extension-policy.yaml");

    // The policy targets the Gateway, whose EnvoyProxy hands Envoy the key from a Secret.
    let gw = one(&gateway, "Gateway");
    assert_eq!(policy["spec"]["targetRefs"][0]["kind"], "Gateway");
    assert_eq!(
        policy["spec"]["targetRefs"][0]["name"],
        gw["metadata"]["name"]
    );
    let proxy = one(&gateway, "EnvoyProxy");
    assert_eq!(
        gw["spec"]["infrastructure"]["parametersRef"]["name"],
        proxy["metadata"]["name"]
    );
    let env = &proxy["spec"]["provider"]["kubernetes"]["envoyDeployment"]["container"]["env"];
    assert!(
        env.as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "VERTEX_SA_KEY" && e["valueFrom"]["secretKeyRef"].is_object()),
        "{env}"
    );

    // The marked requests have a route that drops the marker.
    let upstream = of_kind(&gateway, "HTTPRoute")
        .into_iter()
        .find(|r| {
            r["spec"]["rules"][0]["matches"][0]["headers"][0]["name"] == "x-vertex-passthrough"
        })
        .expect("a route for the requests the filter marks");
    assert_eq!(
        upstream["spec"]["rules"][0]["filters"][0]["requestHeaderModifier"]["remove"][0],
        "x-vertex-passthrough"
    );

    // The token cluster the filter dispatches to is the one the patch policy adds, and Envoy
    // accepts that cluster as written.
    let patch = one(&gateway, "EnvoyPatchPolicy");
    let added = &patch["spec"]["jsonPatches"][0];
    assert_eq!(
        added["type"],
        "type.googleapis.com/envoy.config.cluster.v3.Cluster"
    );
    let cluster = &added["operation"]["value"];
    assert_eq!(cluster["name"], token_cluster(&config).as_str());
    let work = tempfile::tempdir().unwrap();
    let bootstrap = work.path().join("cluster.yaml");
    let doc = serde_json::json!({"static_resources": {"clusters": [cluster]}});
    std::fs::write(&bootstrap, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    if Path::new("/etc/ssl/certs/ca-certificates.crt").exists() {
        validate_config(&bootstrap).unwrap_or_else(|e| panic!("the patched cluster: {e:#}"));
    }
}

/// `REPO@sha256:<64 hex digits>`, with or without `oci://`.
fn pinned_by_digest(url: &str) -> bool {
    url.rsplit_once("@sha256:").is_some_and(|(repo, digest)| {
        !repo.is_empty()
            && !repo.contains(':')
            && digest.len() == 64
            && digest.chars().all(|c| c.is_ascii_hexdigit())
    }) || url.strip_prefix("oci://").is_some_and(pinned_by_digest)
}

#[test]
fn mesh_examples_pin_the_filter_image_by_digest() {
    let istio = documents("istio/wasm-plugin.yaml");
    let url = one(&istio, "WasmPlugin")["spec"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(pinned_by_digest(&url), "istio: {url}");
    let eg = documents("envoy-gateway/extension-policy.yaml");
    let url = one(&eg, "EnvoyExtensionPolicy")["spec"]["wasm"][0]["code"]["image"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(pinned_by_digest(&url), "envoy gateway: {url}");
    assert!(!pinned_by_digest(
        "registry.example.com/vertex-passthrough:0.1.0"
    ));
}

/// envoy/envoy.yaml's client listener, as JSON.
fn shipped_connection_manager() -> Value {
    let path = repo_root().join("envoy/envoy.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let config = serde_json::to_value(yaml).unwrap();
    config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        .clone()
}

/// Seconds in a duration written like `600s`.
fn seconds(duration: &Value) -> u64 {
    let text = duration
        .as_str()
        .unwrap_or_else(|| panic!("not a duration: {duration}"));
    text.strip_suffix('s')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a duration in seconds: {text}"))
}

#[test]
fn envoy_gateway_client_policy_keeps_quiet_live_sessions_as_long_as_envoy_yaml() {
    let gateway = documents("envoy-gateway/gateway.yaml");
    let policy = one(&gateway, "ClientTrafficPolicy");
    let gw = one(&gateway, "Gateway");
    assert_eq!(policy["spec"]["targetRefs"][0]["kind"], "Gateway");
    assert_eq!(
        policy["spec"]["targetRefs"][0]["name"],
        gw["metadata"]["name"]
    );

    // envoy.yaml: the Vertex routes' idle timeout is how long a quiet stream (a Live session
    // nobody speaks in, an SSE stream between chunks) lives.
    let hcm = shipped_connection_manager();
    let routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
        .as_array()
        .unwrap();
    let vertex_idle: BTreeSet<u64> = routes
        .iter()
        .filter(|r| r["route"]["cluster"].is_string())
        .map(|r| seconds(&r["route"]["idle_timeout"]))
        .collect();
    assert_eq!(vertex_idle.len(), 1, "{vertex_idle:?}");
    let stream_idle = seconds(&policy["spec"]["timeout"]["http"]["streamIdleTimeout"]);
    assert_eq!(Some(&stream_idle), vertex_idle.first());

    // And the edge settings envoy.yaml has.
    assert_eq!(
        policy["spec"]["headers"]["withUnderscoresAction"],
        "RejectRequest"
    );
    assert_eq!(
        hcm["common_http_protocol_options"]["headers_with_underscores_action"],
        "REJECT_REQUEST"
    );
    assert_eq!(
        policy["spec"]["http2"]["maxConcurrentStreams"],
        hcm["http2_protocol_options"]["max_concurrent_streams"]
    );
    assert_eq!(policy["spec"]["healthCheck"]["path"], "/healthz");
}

#[test]
fn envoy_gateway_answers_what_the_filter_did_not_forward_itself() {
    let gateway = documents("envoy-gateway/gateway.yaml");
    let routes = of_kind(&gateway, "HTTPRoute");
    let clients = routes
        .iter()
        .find(|r| r["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/vertex_ai")
        .expect("the route for client paths");
    let rule = &clients["spec"]["rules"][0];
    // No backend: the dynamic resolver would connect to whatever host the client named.
    assert!(rule.get("backendRefs").is_none(), "{rule}");
    let reference = &rule["filters"][0]["extensionRef"];
    assert_eq!(reference["kind"], "HTTPRouteFilter");
    let filter = of_kind(&gateway, "HTTPRouteFilter")
        .into_iter()
        .find(|f| f["metadata"]["name"] == reference["name"])
        .expect("the HTTPRouteFilter the client route names");
    let answer = &filter["spec"]["directResponse"];

    // The same answer as envoy.yaml's catch-all route.
    let hcm = shipped_connection_manager();
    let catch_all = hcm["route_config"]["virtual_hosts"][0]["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["match"]["prefix"] == "/" && r["match"].get("headers").is_none())
        .expect("envoy.yaml's catch-all route")
        .clone();
    assert_eq!(answer["statusCode"], catch_all["direct_response"]["status"]);
    assert_eq!(
        answer["body"]["inline"],
        catch_all["direct_response"]["body"]["inline_string"]
    );
    assert_eq!(answer["contentType"], "application/json");

    // Only the route for the requests the filter marked reaches the dynamic resolver.
    let to_resolver: Vec<&&Value> = routes
        .iter()
        .filter(|r| r.to_string().contains("\"kind\":\"Backend\""))
        .collect();
    assert_eq!(to_resolver.len(), 1, "{to_resolver:#?}");
    assert_eq!(
        to_resolver[0]["spec"]["rules"][0]["matches"][0]["headers"][0]["name"],
        "x-vertex-passthrough"
    );
}

#[test]
fn the_oci_image_is_one_layer_from_scratch_with_plugin_wasm() {
    let path = repo_root().join("envoy/Dockerfile");
    let text = std::fs::read_to_string(&path).unwrap();
    let instructions: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(
        instructions,
        ["FROM scratch", "COPY vertex_passthrough.wasm /plugin.wasm"],
        "Istio and Envoy Gateway take a single-layer image holding /plugin.wasm"
    );
    // Its build context is where `make build` leaves the filter.
    assert!(text.contains("target/wasm32-wasip1/release"), "{text}");
}
