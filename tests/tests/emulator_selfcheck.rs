//! The emulators, exercised directly (no Envoy): they accept what Google accepts and refuse what
//! Google refuses. The JWTs here are signed with `rsa` directly, independent of the verifier.
use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use vertex_passthrough_tests::emulator::{
    fixtures_dir, live_echo, AuthorizedUser, Emulator, EmulatorOptions, ServiceAccountKey,
    TokenBehaviour, TokenOutcome, CLOUD_PLATFORM_SCOPE, JWT_BEARER_GRANT, METADATA_TOKEN_PATH,
};
use vertex_passthrough_tests::wait;

const REGIONAL_HOST: &str = "us-central1-aiplatform.googleapis.com";
const GLOBAL_HOST: &str = "aiplatform.googleapis.com";
const SEARCH_HOST: &str = "discoveryengine.googleapis.com";
const US_SEARCH_HOST: &str = "us-discoveryengine.googleapis.com";
const GENERATE_PATH: &str =
    "/v1/projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent";
const STREAM_PATH: &str = "/v1/projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-2.0-flash:streamGenerateContent?alt=sse";
const LIVE_PATH: &str = "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent";
const LIVE_MODEL: &str =
    "projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-2.0-flash-live-preview-04-09";

fn key_a() -> ServiceAccountKey {
    ServiceAccountKey::from_file(&fixtures_dir().join("service_account_a.json")).unwrap()
}

fn key_b() -> ServiceAccountKey {
    ServiceAccountKey::from_file(&fixtures_dir().join("service_account_b.json")).unwrap()
}

fn fixture_user() -> AuthorizedUser {
    AuthorizedUser::from_file(&fixtures_dir().join("authorized_user.json")).unwrap()
}

async fn start() -> Emulator {
    Emulator::start(EmulatorOptions::with_fixtures())
        .await
        .unwrap()
}

async fn start_streaming(chunks: usize, interval_ms: u64) -> Emulator {
    Emulator::start(EmulatorOptions {
        sse_chunks: chunks,
        sse_interval: Duration::from_millis(interval_ms),
        ..EmulatorOptions::with_fixtures()
    })
    .await
    .unwrap()
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The claims Google documents for a service-account JWT-bearer grant.
fn good_claims(key: &ServiceAccountKey) -> Value {
    let iat = now_s();
    json!({
        "iss": key.client_email,
        "scope": CLOUD_PLATFORM_SCOPE,
        "aud": key.token_uri,
        "iat": iat,
        "exp": iat + 3600,
    })
}

/// An RS256 JWT over `claims`, with header `kid`, signed by `signer`'s private key.
fn sign_jwt(signer: &ServiceAccountKey, kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    let signed_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let private_key = RsaPrivateKey::from_pkcs8_pem(&signer.private_key_pem).unwrap();
    let signature = private_key
        .sign(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(signed_input.as_bytes()),
        )
        .unwrap();
    format!("{signed_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

async fn post_form(emulator: &Emulator, form: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("http://{}/token", emulator.oauth_addr))
        .header("host", "oauth2.googleapis.com")
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post_assertion(emulator: &Emulator, assertion: &str) -> (u16, Value) {
    post_form(
        emulator,
        &[("grant_type", JWT_BEARER_GRANT), ("assertion", assertion)],
    )
    .await
}

async fn refresh_token_grant(emulator: &Emulator, secret: &str) -> (u16, Value) {
    let user = fixture_user();
    post_form(
        emulator,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &user.client_id),
            ("client_secret", secret),
            ("refresh_token", &user.refresh_token),
        ],
    )
    .await
}

/// A token for service account A, obtained the way the filter obtains it.
async fn token_for_a(emulator: &Emulator) -> String {
    let key = key_a();
    let (status, body) = post_assertion(
        emulator,
        &sign_jwt(&key, &key.private_key_id, &good_claims(&key)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

fn vertex_client(emulator: &Emulator, http1_only: bool) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(emulator.ca_pem().as_bytes()).unwrap();
    let mut builder = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca);
    for host in [REGIONAL_HOST, GLOBAL_HOST, SEARCH_HOST, US_SEARCH_HOST] {
        builder = builder.resolve(host, emulator.vertex_addr);
    }
    if http1_only {
        builder = builder.http1_only();
    }
    builder.build().unwrap()
}

fn vertex_url(emulator: &Emulator, host: &str, path: &str) -> String {
    format!("https://{host}:{}{path}", emulator.vertex_addr.port())
}

fn generate_body() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "Say hello"}]}]})
}

async fn post_vertex(
    emulator: &Emulator,
    host: &str,
    path: &str,
    token: Option<&str>,
) -> (u16, Value) {
    let mut request = vertex_client(emulator, false)
        .post(vertex_url(emulator, host, path))
        .json(&generate_body());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

type LiveSocket =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// A WebSocket to the Live endpoint over TLS, by name, trusting only the emulator's CA.
async fn connect_live(emulator: &Emulator, token: &str) -> anyhow::Result<(LiveSocket, u16)> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from(
        emulator.ca_der().to_vec(),
    ))?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(emulator.vertex_addr).await?;
    let server_name = rustls::pki_types::ServerName::try_from(REGIONAL_HOST)?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await?;
    let mut request = format!("wss://{REGIONAL_HOST}{LIVE_PATH}").into_client_request()?;
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    let (socket, response) = tokio_tungstenite::client_async(request, tls)
        .await
        .context("WebSocket handshake")?;
    Ok((socket, response.status().as_u16()))
}

async fn next_message(socket: &mut LiveSocket) -> Message {
    tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("a message within 5 s")
        .expect("the session is still open")
        .expect("a well-formed message")
}

async fn next_json(socket: &mut LiveSocket) -> Value {
    serde_json::from_str(next_message(socket).await.to_text().unwrap()).unwrap()
}

/// A Live session with service account A's token, `setup` sent.
async fn session_after(setup: Message) -> (Emulator, LiveSocket) {
    let emulator = start().await;
    let token = token_for_a(&emulator).await;
    let (mut socket, status) = connect_live(&emulator, &token).await.unwrap();
    assert_eq!(status, 101);
    socket.send(setup).await.unwrap();
    (emulator, socket)
}

async fn send_user_turn(socket: &mut LiveSocket) {
    let turn = json!({"clientContent": {"turns": [{"role": "user", "parts": [{"text": "hi"}]}], "turnComplete": true}});
    socket.send(Message::Text(turn.to_string())).await.unwrap();
}

fn setup_message(model: &str) -> Message {
    Message::Text(json!({"setup": {"model": model}}).to_string())
}

const NATIVE_AUDIO_MODEL: &str =
    "projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-live-2.5-flash-native-audio";

fn refused_with(body: &Value, error: &str) -> bool {
    body["error"] == error && body.get("access_token").is_none()
}

// ---- OAuth: JWT-bearer grant ----

#[tokio::test]
async fn correctly_signed_jwt_gets_a_token() {
    let emulator = start().await;
    let key = key_a();
    let (status, body) = post_assertion(
        &emulator,
        &sign_jwt(&key, &key.private_key_id, &good_claims(&key)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    assert!(
        token.starts_with("ya29.emu-") && token.len() >= 49,
        "{token}"
    );
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["token_type"], "Bearer");
    let issued = emulator.issued_tokens();
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].subject, key.client_email);
    let requests = emulator.token_requests();
    assert_eq!(
        requests[0].subject.as_deref(),
        Some(key.client_email.as_str())
    );
    assert_eq!(requests[0].authority, "oauth2.googleapis.com");
}

/// One way an assertion can be wrong: who signs it, the `kid` in its header, and its claims.
struct BadAssertion {
    name: &'static str,
    signer: fn() -> ServiceAccountKey,
    kid: fn() -> String,
    claims: fn(Value) -> Value,
}

#[tokio::test]
async fn a_wrong_jwt_is_refused_and_gets_no_token() {
    let cases = [
        BadAssertion {
            // Claims of A, A's kid, but B's private key.
            name: "signed by the other key",
            signer: key_b,
            kid: || key_a().private_key_id,
            claims: |claims| claims,
        },
        BadAssertion {
            name: "wrong audience",
            signer: key_a,
            kid: || key_a().private_key_id,
            claims: |mut claims| {
                claims["aud"] = json!("https://www.googleapis.com/oauth2/v4/tokenx");
                claims
            },
        },
        BadAssertion {
            name: "without the cloud-platform scope",
            signer: key_a,
            kid: || key_a().private_key_id,
            claims: |mut claims| {
                claims["scope"] = json!("https://www.googleapis.com/auth/devstorage.read_only");
                claims
            },
        },
        BadAssertion {
            name: "expired",
            signer: key_a,
            kid: || key_a().private_key_id,
            claims: |mut claims| {
                let iat = now_s() - 7200;
                claims["iat"] = json!(iat);
                claims["exp"] = json!(iat + 3600);
                claims
            },
        },
        BadAssertion {
            name: "valid for more than an hour",
            signer: key_a,
            kid: || key_a().private_key_id,
            claims: |mut claims| {
                claims["exp"] = json!(now_s() + 7200);
                claims
            },
        },
        BadAssertion {
            name: "the other key's kid",
            signer: key_a,
            kid: || key_b().private_key_id,
            claims: |claims| claims,
        },
        BadAssertion {
            name: "from an unknown account",
            signer: key_a,
            kid: || key_a().private_key_id,
            claims: |mut claims| {
                claims["iss"] = json!("stranger@proj-alpha.iam.gserviceaccount.com");
                claims
            },
        },
    ];
    let emulator = start().await;
    for case in cases {
        let claims = (case.claims)(good_claims(&key_a()));
        let assertion = sign_jwt(&(case.signer)(), &(case.kid)(), &claims);
        let (status, body) = post_assertion(&emulator, &assertion).await;
        assert_eq!(status, 400, "{}: {body}", case.name);
        assert!(
            refused_with(&body, "invalid_grant"),
            "{}: {body}",
            case.name
        );
        assert!(emulator.issued_tokens().is_empty(), "{}", case.name);
    }
}

#[tokio::test]
async fn unknown_grant_type_is_unsupported() {
    let emulator = start().await;
    let (status, body) = post_form(&emulator, &[("grant_type", "password")]).await;
    assert_eq!(status, 400);
    assert!(refused_with(&body, "unsupported_grant_type"), "{body}");
}

#[tokio::test]
async fn missing_assertion_is_an_invalid_request() {
    let emulator = start().await;
    let (status, body) = post_form(&emulator, &[("grant_type", JWT_BEARER_GRANT)]).await;
    assert_eq!(status, 400);
    assert!(refused_with(&body, "invalid_request"), "{body}");
}

// ---- OAuth: refresh-token grant ----

#[tokio::test]
async fn refresh_token_grant_for_fixture_user_gets_a_token() {
    let emulator = start().await;
    let (status, body) = refresh_token_grant(&emulator, &fixture_user().client_secret).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"]
        .as_str()
        .unwrap()
        .starts_with("ya29.emu-"));
    assert_eq!(
        emulator.issued_tokens()[0].subject,
        fixture_user().client_id
    );
}

#[tokio::test]
async fn refresh_token_grant_with_wrong_secret_is_refused() {
    let emulator = start().await;
    let (status, body) = refresh_token_grant(&emulator, "not-the-secret").await;
    assert_eq!(status, 401);
    assert!(refused_with(&body, "invalid_client"), "{body}");
    assert!(emulator.issued_tokens().is_empty());
}

// ---- OAuth: behaviours a test can switch on ----

#[tokio::test]
async fn configured_oauth_error_is_answered_instead_of_a_token() {
    let emulator = start().await;
    emulator.set_token_behaviour(TokenBehaviour::OAuthError {
        status: 429,
        error: "rate_limit_exceeded".to_owned(),
    });
    let key = key_a();
    let (status, body) = post_assertion(
        &emulator,
        &sign_jwt(&key, &key.private_key_id, &good_claims(&key)),
    )
    .await;
    assert_eq!(status, 429);
    assert!(refused_with(&body, "rate_limit_exceeded"), "{body}");
    assert!(matches!(
        emulator.token_requests()[0].outcome,
        TokenOutcome::Refused { status: 429, .. }
    ));
}

#[tokio::test]
async fn expires_in_can_be_sent_as_a_string() {
    let emulator = start().await;
    emulator.set_expires_in_as_string(true);
    emulator.set_token_lifetime(120);
    let (status, body) = refresh_token_grant(&emulator, &fixture_user().client_secret).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], "120");
}

#[tokio::test]
async fn hanging_token_endpoint_never_answers() {
    let emulator = start().await;
    emulator.set_token_behaviour(TokenBehaviour::Hang);
    let secret = fixture_user().client_secret;
    let request = refresh_token_grant(&emulator, &secret);
    tokio::pin!(request);
    // The emulator records a request once it has decided the answer: here, none.
    let recorded = async {
        wait::until("the token request to be recorded", || {
            !emulator.token_requests().is_empty()
        })
        .await
    };
    tokio::select! {
        answer = &mut request => panic!("the request was answered: {answer:?}"),
        () = recorded => {}
    }
    assert_eq!(
        emulator.token_requests()[0].outcome,
        TokenOutcome::Unanswered
    );
}

#[tokio::test]
async fn token_request_to_another_host_is_not_found() {
    let emulator = start().await;
    let key = key_a();
    let response = reqwest::Client::new()
        .post(format!("http://{}/token", emulator.oauth_addr))
        .header("host", "accounts.google.com")
        .form(&[
            ("grant_type", JWT_BEARER_GRANT),
            (
                "assertion",
                &sign_jwt(&key, &key.private_key_id, &good_claims(&key)),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    assert!(emulator.issued_tokens().is_empty());
    assert_eq!(
        emulator.token_requests()[0].authority,
        "accounts.google.com"
    );
}

#[tokio::test]
async fn configured_failure_is_answered_only_to_a_request_that_passes_the_checks() {
    let emulator = start().await;
    emulator.set_token_behaviour(TokenBehaviour::ServerError);
    let (key, other) = (key_a(), key_b());
    // Signed with B's key under A's name: Google refuses it whatever state it is in.
    let forged = sign_jwt(&other, &key.private_key_id, &good_claims(&key));
    let (status, body) = post_assertion(&emulator, &forged).await;
    assert_eq!(status, 400);
    assert!(refused_with(&body, "invalid_grant"), "{body}");
    let (status, _) = post_assertion(
        &emulator,
        &sign_jwt(&key, &key.private_key_id, &good_claims(&key)),
    )
    .await;
    assert_eq!(status, 500, "the configured failure, for a valid request");
}

#[tokio::test]
async fn authorized_user_may_use_only_its_quota_project() {
    let emulator = start().await;
    let (status, body) = refresh_token_grant(&emulator, &fixture_user().client_secret).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let (status, _) = post_vertex(&emulator, REGIONAL_HOST, GENERATE_PATH, Some(token)).await;
    assert_eq!(status, 200);
    let path = GENERATE_PATH.replace("proj-alpha", "proj-beta");
    let (status, body) = post_vertex(&emulator, REGIONAL_HOST, &path, Some(token)).await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test]
async fn a_spent_quota_answers_429_for_its_project_and_location_only() {
    let emulator = start().await;
    let token = token_for_a(&emulator).await;
    emulator.set_quota_exhausted("proj-alpha", "us-central1", true);
    let (status, body) = post_vertex(&emulator, REGIONAL_HOST, GENERATE_PATH, Some(&token)).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
    let global = GENERATE_PATH.replace("us-central1", "global");
    let (status, body) = post_vertex(&emulator, GLOBAL_HOST, &global, Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    emulator.set_quota_exhausted("proj-alpha", "us-central1", false);
    let (status, body) = post_vertex(&emulator, REGIONAL_HOST, GENERATE_PATH, Some(&token)).await;
    assert_eq!(status, 200, "{body}");
}

// ---- Metadata server ----

fn metadata_get(emulator: &Emulator) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .get(format!(
            "http://{}{METADATA_TOKEN_PATH}",
            emulator.metadata_addr
        ))
        .header("host", "metadata.google.internal")
}

#[tokio::test]
async fn metadata_without_flavor_header_is_forbidden() {
    let emulator = start().await;
    let response = metadata_get(&emulator).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert!(emulator.issued_tokens().is_empty());
}

#[tokio::test]
async fn metadata_with_flavor_header_gets_a_token() {
    let emulator = start().await;
    let response = metadata_get(&emulator)
        .header("Metadata-Flavor", "Google")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["access_token"]
        .as_str()
        .unwrap()
        .starts_with("ya29.emu-"));
    assert_eq!(emulator.issued_tokens()[0].subject, "metadata");
}

#[tokio::test]
async fn metadata_token_may_use_only_the_instance_project() {
    let emulator = start().await;
    let response = metadata_get(&emulator)
        .header("Metadata-Flavor", "Google")
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    let (status, _) = post_vertex(&emulator, REGIONAL_HOST, GENERATE_PATH, Some(token)).await;
    assert_eq!(status, 200);
    let path = GENERATE_PATH.replace("proj-alpha", "proj-beta");
    let (status, body) = post_vertex(&emulator, REGIONAL_HOST, &path, Some(token)).await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test]
async fn metadata_request_to_another_host_is_not_found() {
    let emulator = start().await;
    let response = reqwest::Client::new()
        .get(format!(
            "http://{}{METADATA_TOKEN_PATH}",
            emulator.metadata_addr
        ))
        .header("Metadata-Flavor", "Google")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    assert!(emulator.issued_tokens().is_empty());
}

// ---- Vertex REST ----

#[tokio::test]
async fn vertex_without_token_is_unauthenticated() {
    let emulator = start().await;
    let (status, body) = post_vertex(&emulator, REGIONAL_HOST, GENERATE_PATH, None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
    assert_eq!(emulator.vertex_requests()[0].status, 401);
}

#[tokio::test]
async fn vertex_with_unknown_token_is_unauthenticated() {
    let emulator = start().await;
    let (status, body) = post_vertex(
        &emulator,
        REGIONAL_HOST,
        GENERATE_PATH,
        Some("ya29.made-up"),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn vertex_generate_content_with_issued_token_succeeds() {
    let emulator = start().await;
    let token = token_for_a(&emulator).await;
    let (status, body) = post_vertex(&emulator, REGIONAL_HOST, GENERATE_PATH, Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    let text = body["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .unwrap();
    assert!(text.contains("gemini-2.0-flash"), "{text}");
    assert!(body["usageMetadata"]["totalTokenCount"].as_u64().unwrap() > 0);
    let recorded = &emulator.vertex_requests()[0];
    assert_eq!(
        recorded.token_subject.as_deref(),
        Some(key_a().client_email.as_str())
    );
    assert_eq!(recorded.sni.as_deref(), Some(REGIONAL_HOST));
    assert_eq!(recorded.status, 200);
}

#[tokio::test]
async fn revoked_token_is_unauthenticated() {
    let emulator = start().await;
    let token = token_for_a(&emulator).await;
    emulator.revoke_all_tokens();
    let (status, _) = post_vertex(&emulator, REGIONAL_HOST, GENERATE_PATH, Some(&token)).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn expired_token_is_unauthenticated_and_recorded_as_expired() {
    let emulator = start().await;
    emulator.set_token_lifetime(1);
    let token = token_for_a(&emulator).await;
    let expires_at = emulator.issued_tokens()[0].expires_at;
    wait::until("the token's expiry", || SystemTime::now() > expires_at).await;
    let (status, _) = post_vertex(&emulator, REGIONAL_HOST, GENERATE_PATH, Some(&token)).await;
    assert_eq!(status, 401);
    assert!(emulator.vertex_requests()[0].token_expired);
}

#[tokio::test]
async fn wrong_host_for_the_location_is_rejected() {
    let emulator = start().await;
    let token = token_for_a(&emulator).await;
    let (status, body) = post_vertex(&emulator, GLOBAL_HOST, GENERATE_PATH, Some(&token)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
}

#[tokio::test]
async fn resource_and_search_calls_on_the_wrong_host_or_in_another_project_are_refused() {
    let emulator = start().await;
    let token = token_for_a(&emulator).await;
    let caches = "/v1/projects/proj-alpha/locations/us-central1/cachedContents";
    let search = "/v1/projects/proj-alpha/locations/us/collections/default_collection/engines/e/servingConfigs/default_search:search";
    let other_project = |path: &str| path.replace("proj-alpha", "proj-beta");
    for (host, path, refusal) in [
        (GLOBAL_HOST, caches.to_string(), "INVALID_ARGUMENT"),
        (REGIONAL_HOST, other_project(caches), "PERMISSION_DENIED"),
        (
            "discoveryengine.googleapis.com",
            search.to_string(),
            "INVALID_ARGUMENT",
        ),
        (
            "us-discoveryengine.googleapis.com",
            other_project(search),
            "PERMISSION_DENIED",
        ),
    ] {
        let (_, body) = post_vertex(&emulator, host, &path, Some(&token)).await;
        assert_eq!(body["error"]["status"], refusal, "{host}{path}: {body}");
    }
    let (status, body) = post_vertex(
        &emulator,
        "us-discoveryengine.googleapis.com",
        search,
        Some(&token),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn unknown_path_is_not_found() {
    let emulator = start().await;
    let token = token_for_a(&emulator).await;
    let (status, body) = post_vertex(
        &emulator,
        REGIONAL_HOST,
        "/v1/projects/proj-alpha/models",
        Some(&token),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["status"], "NOT_FOUND");
}

#[tokio::test]
async fn service_account_cannot_use_another_project() {
    let emulator = start().await;
    let token = token_for_a(&emulator).await;
    let path = GENERATE_PATH.replace("proj-alpha", "proj-beta");
    let (status, body) = post_vertex(&emulator, REGIONAL_HOST, &path, Some(&token)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["status"], "PERMISSION_DENIED");
}

#[tokio::test]
async fn queued_answer_replaces_the_next_valid_vertex_answer_only() {
    let emulator = start().await;
    let token = token_for_a(&emulator).await;
    emulator.respond_next_vertex(
        429,
        json!({"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}),
    );
    // A request Vertex refuses gets its refusal; the queued answer waits for a valid one.
    let (refused, _) = post_vertex(&emulator, GLOBAL_HOST, GENERATE_PATH, Some(&token)).await;
    let (first, body) = post_vertex(&emulator, REGIONAL_HOST, GENERATE_PATH, Some(&token)).await;
    let (second, _) = post_vertex(&emulator, REGIONAL_HOST, GENERATE_PATH, Some(&token)).await;
    assert_eq!((refused, first, second), (400, 429, 200));
    assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
}

#[tokio::test]
async fn count_tokens_answers_totals() {
    let emulator = start().await;
    let token = token_for_a(&emulator).await;
    let path = GENERATE_PATH.replace(":generateContent", ":countTokens");
    let (status, body) = post_vertex(&emulator, REGIONAL_HOST, &path, Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["totalTokens"].as_u64().unwrap() > 0);
}

// ---- Streaming ----

#[tokio::test]
async fn sse_stream_sends_its_chunks_spaced_in_time() {
    let emulator = start_streaming(4, 150).await;
    let token = token_for_a(&emulator).await;
    let mut response = vertex_client(&emulator, false)
        .post(vertex_url(&emulator, REGIONAL_HOST, STREAM_PATH))
        .bearer_auth(&token)
        .json(&generate_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut text = String::new();
    let first = response.chunk().await.unwrap().expect("a first chunk");
    let first_at = Instant::now();
    text.push_str(std::str::from_utf8(&first).unwrap());
    while let Some(chunk) = response.chunk().await.unwrap() {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let events: Vec<&str> = text.split("\r\n\r\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.len(), 4, "{text}");
    assert!(events.iter().all(|event| event.starts_with("data: {")));
    let sent = emulator.stream_events();
    assert_eq!(sent.len(), 4);
    assert!(sent[3].last && !sent[2].last);
    assert!(
        first_at < sent[3].sent_at,
        "the client had the first chunk only after the last was sent: not spaced"
    );
    assert_eq!(emulator.cancelled_streams(), 0);
}

async fn leave_after_first_chunk(http1_only: bool) -> Emulator {
    let emulator = start_streaming(6, 150).await;
    let token = token_for_a(&emulator).await;
    let mut response = vertex_client(&emulator, http1_only)
        .post(vertex_url(&emulator, REGIONAL_HOST, STREAM_PATH))
        .bearer_auth(&token)
        .json(&generate_body())
        .send()
        .await
        .unwrap();
    assert!(response.chunk().await.unwrap().is_some());
    drop(response);
    emulator
}

#[tokio::test]
async fn http2_client_leaving_mid_stream_is_counted_as_cancelled() {
    let emulator = leave_after_first_chunk(false).await;
    wait::until("the stream to count as cancelled", || {
        emulator.cancelled_streams() == 1
    })
    .await;
    assert!(
        emulator.stream_events().len() <= 2,
        "noticed only by a failed write"
    );
}

#[tokio::test]
async fn http1_client_leaving_mid_stream_is_counted_as_cancelled() {
    let emulator = leave_after_first_chunk(true).await;
    wait::until("the stream to count as cancelled", || {
        emulator.cancelled_streams() == 1
    })
    .await;
    assert!(
        emulator.stream_events().len() <= 2,
        "noticed only by a failed write"
    );
}

#[tokio::test]
async fn stream_raw_predict_sends_anthropic_events() {
    let emulator = start_streaming(3, 10).await;
    let token = token_for_a(&emulator).await;
    let path = "/v1/projects/proj-alpha/locations/us-central1/publishers/anthropic/models/claude-3-5-sonnet-v2@20241022:streamRawPredict";
    let text = vertex_client(&emulator, false)
        .post(vertex_url(&emulator, REGIONAL_HOST, path))
        .bearer_auth(&token)
        .json(&json!({"anthropic_version": "vertex-2023-10-16", "messages": [], "max_tokens": 8}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.starts_with("event: message_start\n"), "{text}");
    assert!(
        text.trim_end()
            .ends_with("data: {\"type\":\"message_stop\"}"),
        "{text}"
    );
    assert_eq!(emulator.stream_events().len(), 3);
}

// ---- Live WebSocket ----

#[tokio::test]
async fn live_session_completes_setup_and_echoes_binary() {
    let (emulator, mut socket) = session_after(setup_message(LIVE_MODEL)).await;
    assert_eq!(next_json(&mut socket).await, json!({"setupComplete": {}}));

    let audio: Vec<u8> = (0..3200u32).map(|i| (i % 251) as u8).collect();
    socket.send(Message::Binary(audio.clone())).await.unwrap();
    let Message::Binary(echo) = next_message(&mut socket).await else {
        panic!("expected a binary reply");
    };
    assert_eq!(echo, live_echo(&audio));
    let usage = next_json(&mut socket).await;
    assert_eq!(usage["usageMetadata"]["promptTokenCount"], 33);

    socket.close(None).await.unwrap();
    wait::until("the session to end", || emulator.live_sessions()[0].ended).await;
    let session = &emulator.live_sessions()[0];
    assert_eq!(session.setup_model.as_deref(), Some(LIVE_MODEL));
    assert_eq!(session.client_messages.len(), 2);
    assert_eq!(session.client_messages[1], audio);
    assert_eq!(session.server_messages_sent, 3);
    assert_eq!(
        session.token_subject.as_deref(),
        Some(key_a().client_email.as_str())
    );
}

#[tokio::test]
async fn live_text_turn_gets_server_content_then_usage() {
    let (_emulator, mut socket) = session_after(setup_message(LIVE_MODEL)).await;
    next_message(&mut socket).await;
    send_user_turn(&mut socket).await;
    let content = next_json(&mut socket).await;
    assert_eq!(content["serverContent"]["turnComplete"], true);
    let usage = next_json(&mut socket).await;
    assert_eq!(usage["usageMetadata"]["responseTokenCount"], 7);
}

async fn close_after_setup(model: &str) -> (u16, String) {
    close_after(setup_message(model)).await
}

async fn close_after(setup: Message) -> (u16, String) {
    let (_emulator, mut socket) = session_after(setup).await;
    let Message::Close(Some(frame)) = next_message(&mut socket).await else {
        panic!("expected a close frame");
    };
    (u16::from(frame.code), frame.reason.to_string())
}

#[tokio::test]
async fn live_setup_with_a_bare_model_closes_1007() {
    let (code, reason) = close_after_setup("gemini-2.0-flash-live-preview-04-09").await;
    assert_eq!(code, 1007);
    assert!(reason.contains("projects/P/locations/L"), "{reason}");
}

#[tokio::test]
async fn live_native_audio_model_asked_for_text_closes_1007() {
    let setup = json!({"setup": {"model": NATIVE_AUDIO_MODEL,
        "generationConfig": {"responseModalities": ["TEXT"]}}});
    let (code, reason) = close_after(Message::Text(setup.to_string())).await;
    assert_eq!(code, 1007);
    assert!(reason.contains("AUDIO"), "{reason}");
}

#[tokio::test]
async fn live_native_audio_model_speaks_and_sends_the_transcription_asked_for() {
    let setup = json!({"setup": {"model": NATIVE_AUDIO_MODEL, "outputAudioTranscription": {}}});
    let (_emulator, mut socket) = session_after(Message::Text(setup.to_string())).await;
    next_message(&mut socket).await;
    send_user_turn(&mut socket).await;
    let transcript = next_json(&mut socket).await;
    assert!(transcript["serverContent"]["outputTranscription"]["text"]
        .as_str()
        .is_some_and(|t| t.contains("gemini-live-2.5-flash-native-audio")));
    let speech = next_json(&mut socket).await;
    let part = &speech["serverContent"]["modelTurn"]["parts"][0];
    assert_eq!(part["inlineData"]["mimeType"], "audio/pcm;rate=24000");
    assert!(part.get("text").is_none(), "{part}");
}

#[tokio::test]
async fn live_setup_in_another_location_closes_1008() {
    let (code, reason) =
        close_after_setup(&LIVE_MODEL.replace("us-central1", "europe-west4")).await;
    assert_eq!(code, 1008);
    assert!(reason.contains("europe-west4"), "{reason}");
}

#[tokio::test]
async fn live_go_away_hook_sends_go_away_and_closes_normally() {
    let (_emulator, mut socket) = session_after(setup_message(LIVE_MODEL)).await;
    next_message(&mut socket).await;
    socket
        .send(Message::Text(json!({"goAway": true}).to_string()))
        .await
        .unwrap();
    let go_away = next_json(&mut socket).await;
    assert_eq!(go_away["goAway"]["timeLeft"], "1s");
    let Message::Close(Some(frame)) = next_message(&mut socket).await else {
        panic!("expected a close frame");
    };
    assert_eq!(u16::from(frame.code), 1000);
}

#[tokio::test]
async fn live_upgrade_without_valid_token_is_refused_with_401() {
    let emulator = start().await;
    let error = connect_live(&emulator, "ya29.made-up").await.unwrap_err();
    let Some(tokio_tungstenite::tungstenite::Error::Http(response)) =
        error.downcast_ref::<tokio_tungstenite::tungstenite::Error>()
    else {
        panic!("expected an HTTP refusal, got {error:#}");
    };
    assert_eq!(response.status().as_u16(), 401);
    assert!(emulator.live_sessions().is_empty());
}

// ---- Keys ----

#[test]
fn derived_public_keys_match_the_fixture_public_keys() {
    for (key, pem_file) in [(key_a(), "sa_a.pub.pem"), (key_b(), "sa_b.pub.pem")] {
        let pem = std::fs::read_to_string(fixtures_dir().join(pem_file)).unwrap();
        let expected = RsaPublicKey::from_public_key_pem(&pem).unwrap();
        assert_eq!(key.public_key().unwrap(), expected, "{pem_file}");
    }
}
