//! envoy/envoy.yaml itself, run: the dynamic forward proxy resolves the Vertex hosts through DNS,
//! the token cluster resolves oauth2.googleapis.com, and both connect over TLS on port 443 with
//! SNI and certificate checks. A DNS server on loopback answers Google's names with the
//! emulators' addresses (each test picks its own 127.x.y.z, so tests running at once do not
//! collide on port 443), and the config gets only the edits `production_config` lists.
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures_util::StreamExt;
use rand::Rng;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use vertex_passthrough_tests::dns::{DnsServer, Zone};
use vertex_passthrough_tests::emulator::{
    Emulator, EmulatorOptions, TokenEndpoint, SERVICE_ACCOUNT_A_JSON,
};
use vertex_passthrough_tests::harness::{
    apply_edits, json_diff, load_yaml, plugin_config_of, production_config, production_edit_paths,
    repo_root, Edit, Envoy, EnvoyOptions, ProductionEdits, PRODUCTION,
};
use vertex_passthrough_tests::stack::{google_error, send_setup};

/// envoy/envoy.yaml's one client key: its api_keys entry is sha256("replace-me").
const SHIPPED_KEY: &str = "replace-me";
/// The project of service account A (its key file's project_id), given as VERTEXAI_PROJECT.
const PROJECT: &str = "proj-alpha";
const SSE_CHUNKS: usize = 4;

struct Production {
    emulator: Emulator,
    dns: DnsServer,
    envoy: Envoy,
    http: reqwest::Client,
}

/// A loopback address other than 127.0.0.1, at random.
fn random_loopback() -> Ipv4Addr {
    let mut rng = rand::thread_rng();
    Ipv4Addr::new(
        127,
        rng.gen_range(1..=254),
        rng.gen(),
        rng.gen_range(1..=254),
    )
}

/// The emulators on port 443 of two addresses of their own: Vertex, and OAuth over TLS.
async fn emulator_on_port_443() -> Emulator {
    let mut last_error = None;
    for _ in 0..20 {
        let options = EmulatorOptions {
            vertex_ip: random_loopback(),
            vertex_port: 443,
            oauth_ip: random_loopback(),
            oauth_port: 443,
            oauth_tls: true,
            sse_chunks: SSE_CHUNKS,
            sse_interval: Duration::from_millis(50),
            ..EmulatorOptions::with_fixtures()
        };
        match Emulator::start(options).await {
            Ok(emulator) => return emulator,
            // Another test holds that address's port 443: pick another.
            Err(e) => last_error = Some(e),
        }
    }
    panic!("no free loopback address for port 443 (tests run as root): {last_error:?}");
}

impl Production {
    /// envoy/envoy.yaml with the VM env of a deployment: the key, the project and, if given,
    /// VERTEXAI_LOCATION.
    async fn start(location: Option<&str>) -> Production {
        Production::start_with(location, |_| {}).await
    }

    /// `start`, with the shipped plugin config changed by `plugin` (keys or aliases a test
    /// needs); the rest of envoy/envoy.yaml as shipped.
    async fn start_with(location: Option<&str>, plugin: impl FnOnce(&mut Value)) -> Production {
        let emulator = emulator_on_port_443().await;
        let ip = |addr: SocketAddr| match addr {
            SocketAddr::V4(v4) => *v4.ip(),
            SocketAddr::V6(_) => unreachable!("the emulator listens on IPv4"),
        };
        let zone = Zone::new(&[
            ("oauth2.googleapis.com", ip(emulator.oauth_addr)),
            ("aiplatform.googleapis.com", ip(emulator.vertex_addr)),
            ("*-aiplatform.googleapis.com", ip(emulator.vertex_addr)),
            ("discoveryengine.googleapis.com", ip(emulator.vertex_addr)),
            ("*-discoveryengine.googleapis.com", ip(emulator.vertex_addr)),
        ]);
        let dns = DnsServer::start(zone).await.expect("the DNS server starts");
        let mut config = production_config(&ProductionEdits {
            ca: emulator.ca_pem_path.clone(),
            dns: dns.addr,
        })
        .expect("envoy/envoy.yaml renders");
        let mut plugin_config = plugin_config_of(&config).expect("the shipped plugin config");
        plugin(&mut plugin_config);
        apply_edits(&mut config, &[Edit::PluginConfig(plugin_config)])
            .expect("the plugin config is replaced");
        let mut env = vec![
            ("VERTEX_SA_KEY", SERVICE_ACCOUNT_A_JSON),
            ("VERTEXAI_PROJECT", PROJECT),
        ];
        if let Some(location) = location {
            env.push(("VERTEXAI_LOCATION", location));
        }
        let envoy = Envoy::start(EnvoyOptions::rendered(config.to_string(), &env))
            .await
            .expect("Envoy starts on envoy/envoy.yaml");
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("an HTTP client");
        Production {
            emulator,
            dns,
            envoy,
            http,
        }
    }

    async fn post(&self, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> reqwest::Response {
        let mut request = self
            .http
            .post(self.envoy.url(path))
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("Envoy answers")
    }

    fn asked(&self, name: &str) -> bool {
        self.dns.questions().iter().any(|q| q.name == name)
    }

    /// Opens a Live session for the alias `gemini-live` with the shipped key, sends `setup`
    /// and returns the first JSON message the server answers with.
    async fn live_setup(&self, setup: Value) -> Value {
        let mut request = self
            .envoy
            .ws_url("/vertex_ai/live?model=gemini-live")
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("x-api-key", SHIPPED_KEY.parse().unwrap());
        let (mut socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("the upgrade succeeds");
        let answer = send_setup(&mut socket, &setup).await;
        socket.close(None).await.ok();
        answer
    }
}

fn generate_body() -> Vec<u8> {
    json!({"contents": [{"role": "user", "parts": [{"text": "hello"}]}]})
        .to_string()
        .into_bytes()
}

fn alias_path(location: &str, alias: &str, method: &str) -> String {
    format!("/vertex_ai/v1/projects/{PROJECT}/locations/{location}/publishers/google/models/{alias}:{method}")
}

#[test]
fn the_production_config_is_run_with_only_the_listed_edits() {
    let source = load_yaml(&repo_root().join(PRODUCTION)).unwrap();
    let rendered = production_config(&ProductionEdits {
        ca: "/tmp/test-ca.pem".into(),
        dns: "127.0.0.1:5353".parse().unwrap(),
    })
    .unwrap();
    assert_eq!(
        json_diff(&source, &rendered),
        production_edit_paths(&source)
    );
}

#[tokio::test]
async fn rest_goes_through_dns_and_tls_to_the_regional_host_with_a_token_from_google_oauth() {
    let prod = Production::start(None).await;
    let response = prod
        .post(
            &alias_path("us-central1", "gemini-flash", "generateContent"),
            &[("x-api-key", SHIPPED_KEY)],
            generate_body(),
        )
        .await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{text}");

    let requests = prod.emulator.vertex_requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let request = &requests[0];
    assert_eq!(request.authority, "us-central1-aiplatform.googleapis.com");
    assert_eq!(
        request.sni.as_deref(),
        Some("us-central1-aiplatform.googleapis.com")
    );
    assert_eq!(
        request.path,
        format!("/v1/projects/{PROJECT}/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent")
    );
    assert_eq!(request.http_version, "h2", "REST is HTTP/2 by ALPN");
    assert!(request.token_subject.is_some(), "{request:#?}");

    let tokens = prod.emulator.token_requests();
    assert_eq!(tokens.len(), 1, "{tokens:#?}");
    assert!(matches!(tokens[0].endpoint, TokenEndpoint::OAuth));
    assert_eq!(tokens[0].authority, "oauth2.googleapis.com");
    assert!(prod.asked("us-central1-aiplatform.googleapis.com"));
    assert!(prod.asked("oauth2.googleapis.com"));
}

#[tokio::test]
async fn sse_streams_every_chunk_through_the_production_config() {
    let prod = Production::start(None).await;
    let response = prod
        .post(
            &(alias_path("us-central1", "gemini-flash", "streamGenerateContent") + "?alt=sse"),
            &[("x-api-key", SHIPPED_KEY)],
            generate_body(),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut events = 0;
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        text.push_str(&String::from_utf8_lossy(
            &chunk.expect("the stream completes"),
        ));
    }
    for line in text.lines() {
        if line.starts_with("data:") {
            events += 1;
        }
    }
    assert_eq!(events, SSE_CHUNKS, "{text}");
}

#[tokio::test]
async fn a_live_session_opens_through_the_production_config() {
    let prod = Production::start(None).await;
    let answer = prod
        .live_setup(json!({"setup": {"model": "gemini-live"}}))
        .await;
    assert!(answer.get("setupComplete").is_some(), "{answer}");

    let sessions = prod.emulator.live_sessions();
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    assert_eq!(
        sessions[0].authority,
        "us-central1-aiplatform.googleapis.com"
    );
    assert_eq!(
        sessions[0].sni.as_deref(),
        Some("us-central1-aiplatform.googleapis.com")
    );
    assert_eq!(
        sessions[0].setup_model.as_deref(),
        Some(format!("projects/{PROJECT}/locations/us-central1/publishers/google/models/gemini-live-2.5-flash-native-audio").as_str())
    );
}

/// The README: VERTEXAI_LOCATION is the default location. The shipped aliases name none, so the
/// variable decides which regional host they go to.
#[tokio::test]
async fn vertexai_location_sends_the_shipped_aliases_to_that_region() {
    let prod = Production::start(Some("europe-west4")).await;
    let response = prod
        .post(
            "/vertex_ai/v1/publishers/google/models/gemini-flash:generateContent",
            &[("x-api-key", SHIPPED_KEY)],
            generate_body(),
        )
        .await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    let requests = prod.emulator.vertex_requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_eq!(
        requests[0].authority,
        "europe-west4-aiplatform.googleapis.com"
    );
    assert_eq!(
        requests[0].path,
        format!("/v1/projects/{PROJECT}/locations/europe-west4/publishers/google/models/gemini-2.5-flash:generateContent")
    );
    assert!(prod.asked("europe-west4-aiplatform.googleapis.com"));
}

#[tokio::test]
async fn healthz_is_answered_by_envoy_without_a_key() {
    let prod = Production::start(None).await;
    let response = prod
        .http
        .get(prod.envoy.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");
    // Answered by Envoy's route, not passed anywhere: a path next to it is the catch-all's 404.
    let response = prod
        .http
        .get(prod.envoy.url("/healthz/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert!(prod.emulator.vertex_requests().is_empty());
}

#[tokio::test]
async fn a_header_with_an_underscore_is_refused_before_anything_is_forwarded() {
    let prod = Production::start(None).await;
    let response = prod
        .post(
            &alias_path("us-central1", "gemini-flash", "generateContent"),
            &[
                ("x-api-key", SHIPPED_KEY),
                ("x_goog_user_project", "proj-other"),
            ],
            generate_body(),
        )
        .await;
    assert_eq!(response.status(), 400);
    assert!(prod.emulator.vertex_requests().is_empty());
    assert!(prod.emulator.token_requests().is_empty());
}

/// use_remote_address: Envoy counts the client as external and appends the address it saw to
/// x-forwarded-for (for a loopback client, Envoy's own address), so what reaches Google does not
/// end with whatever the client wrote there.
#[tokio::test]
async fn envoy_appends_the_address_it_saw_to_x_forwarded_for() {
    let prod = Production::start(None).await;
    let response = prod
        .post(
            &alias_path("us-central1", "gemini-flash", "generateContent"),
            &[
                ("x-api-key", SHIPPED_KEY),
                ("x-forwarded-for", "203.0.113.7"),
            ],
            generate_body(),
        )
        .await;
    assert_eq!(response.status(), 200);
    let requests = prod.emulator.vertex_requests();
    let forwarded_for: Vec<&str> = requests[0]
        .headers
        .iter()
        .filter(|(k, _)| k == "x-forwarded-for")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .collect();
    assert_eq!(forwarded_for.len(), 2, "{:?}", requests[0].headers);
    assert_eq!(forwarded_for[0], "203.0.113.7");
    assert!(
        forwarded_for[1].parse::<std::net::IpAddr>().is_ok(),
        "{forwarded_for:?}"
    );
}

/// The listener's per-connection buffer limit is a read-ahead bound, not a body limit: a body
/// many times its size reaches Vertex whole, also while the request waits for its first token.
#[tokio::test]
async fn a_body_larger_than_the_connection_buffer_limit_reaches_vertex_whole() {
    let prod = Production::start(None).await;
    let text = "x".repeat(1024 * 1024);
    let body = json!({"contents": [{"role": "user", "parts": [{"text": text}]}]})
        .to_string()
        .into_bytes();
    let response = prod
        .post(
            &alias_path("us-central1", "gemini-flash", "generateContent"),
            &[("x-api-key", SHIPPED_KEY)],
            body.clone(),
        )
        .await;
    let status = response.status();
    let answer = response.text().await.unwrap();
    assert_eq!(status, 200, "{answer}");
    let requests = prod.emulator.vertex_requests();
    assert_eq!(requests[0].body.len(), body.len());
}

/// The filter holds the first Live message until it is whole (up to 64 KiB); the listener's
/// buffer limit leaves room for that.
#[tokio::test]
async fn a_live_setup_just_under_the_filters_limit_opens_the_session() {
    let prod = Production::start(None).await;
    let instruction = "y".repeat(60 * 1024);
    let answer = prod
        .live_setup(json!({"setup": {"model": "gemini-live", "systemInstruction": {"parts": [{"text": instruction}]}}}))
        .await;
    assert!(answer.get("setupComplete").is_some(), "{answer}");
}

/// Invented locations never become hosts: the filter refuses them before Envoy's DNS cache sees
/// them, so they cannot fill it (envoy.yaml bounds it by max_hosts, room for every real region)
/// and a real region called afterwards is still resolved and served.
#[tokio::test]
async fn invented_locations_never_reach_the_dns_cache() {
    let prod = Production::start(None).await;
    let source = load_yaml(&repo_root().join(PRODUCTION)).unwrap();
    let max_hosts = source["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        ["typed_config"]["http_filters"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|f| f["typed_config"]["dns_cache_config"]["max_hosts"].as_u64())
        .expect("envoy.yaml's DNS cache has max_hosts");
    let call = |location: String| {
        let prod = &prod;
        async move {
            prod.post(
                &alias_path(&location, "gemini-2.5-flash", "generateContent"),
                &[("x-api-key", SHIPPED_KEY)],
                generate_body(),
            )
            .await
            .status()
        }
    };
    for n in 0..=max_hosts {
        assert_eq!(call(format!("zz-invented-{n}")).await, 400, "location {n}");
    }
    assert!(prod.emulator.vertex_requests().is_empty());
    for n in [0, max_hosts] {
        let host = format!("zz-invented-{n}-aiplatform.googleapis.com");
        assert!(!prod.asked(&host), "{host} was resolved");
    }
    assert_eq!(call("europe-west4".to_string()).await, 200);
    assert!(prod.asked("europe-west4-aiplatform.googleapis.com"));
}

/// HTTP/2 clients get envoy.yaml's limits in Envoy's SETTINGS: 100 concurrent streams, a 64 KiB
/// stream window and (by a WINDOW_UPDATE on the connection) a 1 MiB connection window.
#[tokio::test]
async fn http2_clients_get_the_stream_and_window_limits() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const SETTINGS: u8 = 0x4;
    const WINDOW_UPDATE: u8 = 0x8;
    const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    const INITIAL_WINDOW_SIZE: u16 = 0x4;
    /// The connection window every HTTP/2 connection starts with (RFC 9113).
    const DEFAULT_WINDOW: u32 = 65_535;

    let prod = Production::start(None).await;
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", prod.envoy.port))
        .await
        .unwrap();
    // Prior knowledge (the listener's codec is AUTO), then an empty SETTINGS frame.
    socket
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let mut received = Vec::new();
    let mut settings: Option<Vec<(u16, u32)>> = None;
    let mut connection_increment: Option<u32> = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while settings.is_none() || connection_increment.is_none() {
        let mut buffer = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline, socket.read(&mut buffer))
            .await
            .expect("Envoy's SETTINGS and WINDOW_UPDATE within 10 s")
            .unwrap();
        assert!(n > 0, "Envoy closed the connection: {received:?}");
        received.extend_from_slice(&buffer[..n]);
        // Every whole frame so far: 9-byte header (length, type, flags, stream), then payload.
        let mut at = 0;
        while let Some(header) = received.get(at..at + 9) {
            let length =
                usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
            let (kind, flags) = (header[3], header[4]);
            let stream =
                u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff;
            let Some(payload) = received.get(at + 9..at + 9 + length) else {
                break;
            };
            if kind == SETTINGS && flags & 0x1 == 0 {
                settings = Some(
                    payload
                        .chunks(6)
                        .map(|e| {
                            (
                                u16::from_be_bytes([e[0], e[1]]),
                                u32::from_be_bytes([e[2], e[3], e[4], e[5]]),
                            )
                        })
                        .collect(),
                );
            }
            if kind == WINDOW_UPDATE && stream == 0 {
                connection_increment = Some(
                    u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]])
                        & 0x7fff_ffff,
                );
            }
            at += 9 + length;
        }
    }
    let settings = settings.unwrap();
    let value = |id: u16| settings.iter().find(|(k, _)| *k == id).map(|(_, v)| *v);
    assert_eq!(value(MAX_CONCURRENT_STREAMS), Some(100), "{settings:?}");
    assert_eq!(value(INITIAL_WINDOW_SIZE), Some(65_536), "{settings:?}");
    assert_eq!(
        DEFAULT_WINDOW + connection_increment.unwrap(),
        1_048_576,
        "the connection window"
    );
}

/// A client that starts a request and never finishes its headers is answered 408 and
/// disconnected (request_headers_timeout) instead of holding the connection until it goes idle.
#[tokio::test]
async fn a_request_whose_headers_never_end_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let prod = Production::start(None).await;
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", prod.envoy.port))
        .await
        .unwrap();
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: envoy\r\nx-slow: ")
        .await
        .unwrap();
    // Envoy's stream idle timeout (minutes) is far past this deadline; the header timeout is not.
    let mut received = Vec::new();
    let ended =
        tokio::time::timeout(Duration::from_secs(40), socket.read_to_end(&mut received)).await;
    assert!(ended.is_ok(), "the connection is still open after 40 s");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
}

/// Vertex AI Search goes to Discovery Engine's hosts through the same dynamic forward proxy,
/// resolved through DNS, with SNI and the certificate checked for that host.
#[tokio::test]
async fn search_reaches_discovery_engine_hosts_through_dns_and_tls() {
    let prod = Production::start(None).await;
    for (location, host) in [
        ("global", "discoveryengine.googleapis.com"),
        ("eu", "eu-discoveryengine.googleapis.com"),
    ] {
        let path = format!("/vertex_ai/discovery/v1/projects/{PROJECT}/locations/{location}/collections/default_collection/engines/e/servingConfigs/default_search:search");
        let response = prod
            .post(
                &path,
                &[("x-api-key", SHIPPED_KEY)],
                br#"{"query": "hello"}"#.to_vec(),
            )
            .await;
        let status = response.status();
        assert_eq!(status, 200, "{}", response.text().await.unwrap());
        assert!(prod.asked(host), "no DNS question for {host}");
        let requests = prod.emulator.vertex_requests();
        let last = requests.last().unwrap();
        assert_eq!(last.sni.as_deref(), Some(host));
        assert_eq!(last.authority, host);
    }
}

#[tokio::test]
async fn a_key_sent_in_the_query_string_stays_out_of_the_access_log() {
    let prod = Production::start(None).await;
    let path = "/vertex_ai/models/gemini-flash:generateContent";
    let refused = prod
        .post(&format!("{path}?key=query-only-key"), &[], generate_body())
        .await;
    assert_eq!(refused.status(), 401);
    let served = prod
        .post(
            &format!("{path}?key={SHIPPED_KEY}"),
            &[("x-api-key", SHIPPED_KEY)],
            generate_body(),
        )
        .await;
    assert_eq!(served.status(), 200);
    let logged = |log: &str| {
        log.lines()
            .filter(|line| line.contains(":generateContent") && line.contains(" client="))
            .count()
    };
    vertex_passthrough_tests::wait::until("both requests in the access log", || {
        logged(&prod.envoy.log()) == 2
    })
    .await;
    let log = prod.envoy.log();
    assert!(!log.contains("query-only-key"), "a refused key was logged");
    assert!(!log.contains(SHIPPED_KEY), "the client key was logged");
}

/// A second client key, beside the shipped one.
const TEAM_KEY: &str = "sk-team-b-0123456789";

fn with_a_second_client(plugin: &mut Value) {
    plugin["api_keys"]
        .as_array_mut()
        .expect("the shipped api_keys")
        .push(json!({"name": "team-b", "key": TEAM_KEY}));
}

/// Posts to `path` as `key`, a batch at a time, until Envoy's rate limit answers: returns
/// that answer. The shipped bucket is generous, and refills while the batches go.
async fn until_rate_limited(prod: &Production, key: &str, path: &str) -> reqwest::Response {
    const BATCH: usize = 25;
    let headers = [("x-api-key", key)];
    for _ in 0..100 {
        let batch = (0..BATCH).map(|_| prod.post(path, &headers, generate_body()));
        for response in futures_util::future::join_all(batch).await {
            match response.status().as_u16() {
                200 => {}
                429 => return response,
                other => panic!("{other}: {}", response.text().await.unwrap_or_default()),
            }
        }
    }
    panic!(
        "{} requests and no 429 from Envoy's rate limit",
        100 * BATCH
    );
}

/// envoy.yaml's rate limit keeps a bucket per client and model: once one is empty, its calls
/// get Google's error shape, and another client, or the same client with another model, is
/// still served.
#[tokio::test]
async fn envoys_rate_limit_refuses_one_client_and_model_in_googles_shape() {
    let prod = Production::start_with(None, with_a_second_client).await;
    let flash = "/vertex_ai/models/gemini-flash:generateContent";
    let refused = until_rate_limited(&prod, SHIPPED_KEY, flash).await;
    let (code, status, message) = google_error(refused).await;
    assert_eq!(
        (code, status.as_str()),
        (429, "RESOURCE_EXHAUSTED"),
        "{message}"
    );
    let served = |key: &'static str, path: &'static str| {
        let prod = &prod;
        async move {
            prod.post(path, &[("x-api-key", key)], generate_body())
                .await
                .status()
        }
    };
    assert_eq!(served(TEAM_KEY, flash).await, 200, "another client");
    let other_model = "/vertex_ai/models/gemini-2.5-pro:generateContent";
    assert_eq!(served(SHIPPED_KEY, other_model).await, 200, "another model");
}

/// Envoy's own 429 says nothing about Vertex: a deployment whose calls Envoy's rate limit
/// refused is not put in cooldown, and keeps its share of the alias's calls.
#[tokio::test]
async fn envoys_rate_limit_leaves_every_deployment_serving() {
    let prod = Production::start_with(None, |plugin| {
        with_a_second_client(plugin);
        let pool = |location: &str| {
            json!({"model_name": "gemini-pool", "litellm_params": {"model": "gemini-2.5-flash", "vertex_location": location}})
        };
        let models = plugin["model_list"].as_array_mut().expect("a model_list");
        models.push(pool("us-central1"));
        models.push(pool("europe-west4"));
    })
    .await;
    let path = "/vertex_ai/models/gemini-pool:generateContent";
    until_rate_limited(&prod, SHIPPED_KEY, path).await;
    let before = prod.emulator.vertex_requests().len();
    for _ in 0..30 {
        let response = prod
            .post(path, &[("x-api-key", TEAM_KEY)], generate_body())
            .await;
        assert_eq!(response.status(), 200);
    }
    let hosts: std::collections::BTreeSet<String> = prod.emulator.vertex_requests()[before..]
        .iter()
        .map(|r| r.authority.clone())
        .collect();
    assert_eq!(
        hosts.into_iter().collect::<Vec<_>>(),
        [
            "europe-west4-aiplatform.googleapis.com",
            "us-central1-aiplatform.googleapis.com"
        ]
    );
}
