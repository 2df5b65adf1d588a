//! `live-client`: one Gemini Live API turn over a WebSocket, printed as it happens: the command
//! `make run` prints for trying the Live API, and a small `websocat` for the Live protocol.
//!
//! live-client URL [--key KEY] [--header 'NAME: VALUE']... [--model MODEL] [--text TEXT]
//!             [--ca FILE] [--timeout SECONDS]
//!
//! Sends `{"setup": {"model": MODEL, "outputAudioTranscription": {}}}` (MODEL defaults to the
//! URL's `?model=`; a model that speaks sends what it says as text too), waits for
//! `setupComplete`, sends TEXT as one user turn, prints every server message (`< ...`) until the
//! turn is complete and its usage is reported, then closes normally. Exits 1 with the reason
//! when the upgrade is refused or the session is closed early.
use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

const USAGE: &str = "usage: live-client URL [--key KEY] [--header 'NAME: VALUE']... \
[--model MODEL] [--text TEXT] [--ca FILE] [--timeout SECONDS]
  URL      ws://HOST:PORT/vertex_ai/live?model=ALIAS, or wss://... with --ca
  --key    the proxy's client key, sent as x-api-key
  --model  the model in the setup message (default: the URL's ?model=)
  --text   the user turn (default: Hello)
  --ca     a PEM CA certificate to trust for wss:// (the local stack's: .run/tls/ca.pem)";

struct Args {
    url: String,
    headers: Vec<(String, String)>,
    model: Option<String>,
    text: String,
    ca: Option<std::path::PathBuf>,
    timeout: Duration,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Args> {
    let mut url = None;
    let mut parsed = Args {
        url: String::new(),
        headers: Vec::new(),
        model: None,
        text: "Hello".to_string(),
        ca: None,
        timeout: Duration::from_secs(15),
    };
    while let Some(arg) = args.next() {
        if arg == "--help" || arg == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        if !arg.starts_with("--") {
            if url.replace(arg).is_some() {
                bail!("one URL only\n{USAGE}");
            }
            continue;
        }
        let value = args
            .next()
            .with_context(|| format!("{arg} needs a value\n{USAGE}"))?;
        match arg.as_str() {
            "--key" => parsed.headers.push(("x-api-key".to_string(), value)),
            "--header" => {
                let (name, val) = value
                    .split_once(':')
                    .with_context(|| format!("--header wants 'NAME: VALUE', got {value:?}"))?;
                parsed
                    .headers
                    .push((name.trim().to_string(), val.trim().to_string()));
            }
            "--model" => parsed.model = Some(value),
            "--text" => parsed.text = value,
            "--ca" => parsed.ca = Some(value.into()),
            "--timeout" => {
                let secs: u64 = value
                    .parse()
                    .with_context(|| format!("--timeout expects seconds, got {value:?}"))?;
                parsed.timeout = Duration::from_secs(secs);
            }
            other => bail!("unknown option {other}\n{USAGE}"),
        }
    }
    parsed.url = url.with_context(|| format!("no URL given\n{USAGE}"))?;
    Ok(parsed)
}

/// `?model=` of the URL, for the setup message.
fn model_from_url(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "model")
        .map(|(_, v)| v.into_owned())
}

fn tls_connector(ca: &std::path::Path) -> anyhow::Result<tokio_rustls::TlsConnector> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca)
        .with_context(|| format!("reading the CA certificate {}", ca.display()))?
    {
        roots.add(cert.with_context(|| format!("parsing {}", ca.display()))?)?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

async fn run() -> anyhow::Result<()> {
    let args = parse_args(std::env::args().skip(1))?;
    let model = args
        .model
        .clone()
        .or_else(|| model_from_url(&args.url))
        .context("no model: give --model, or ?model=ALIAS in the URL")?;

    let mut request = args.url.as_str().into_client_request()?;
    for (name, value) in &args.headers {
        request.headers_mut().insert(
            HeaderName::from_bytes(name.as_bytes())
                .with_context(|| format!("header name {name:?}"))?,
            HeaderValue::from_str(value).with_context(|| format!("header {name} value"))?,
        );
    }
    let uri = request.uri().clone();
    let host = uri.host().context("the URL has no host")?.to_string();
    let secure = match uri.scheme_str() {
        Some("ws") => false,
        Some("wss") => true,
        _ => bail!("the URL must start with ws:// or wss://"),
    };
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let tcp = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .with_context(|| format!("connecting to {host}:{port} (is `make run` running?)"))?;
    eprintln!("* connected to {host}:{port}");
    let timeout = args.timeout;
    let session = async {
        if secure {
            let ca = args.ca.as_deref().context(
                "wss:// needs --ca FILE, the CA to trust (the local stack's: .run/tls/ca.pem)",
            )?;
            let name = rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']))
                .context("server name")?
                .to_owned();
            let tls = tls_connector(ca)?
                .connect(name, tcp)
                .await
                .context("TLS handshake")?;
            converse(request, tls, &model, &args.text).await
        } else {
            converse(request, tcp, &model, &args.text).await
        }
    };
    tokio::time::timeout(timeout, session)
        .await
        .with_context(|| format!("no complete turn within {timeout:?}"))?
}

async fn converse<S>(
    request: tokio_tungstenite::tungstenite::handshake::client::Request,
    stream: S,
    model: &str,
    text: &str,
) -> anyhow::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut socket, response) = match tokio_tungstenite::client_async(request, stream).await {
        Ok(ok) => ok,
        Err(WsError::Http(response)) => {
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            bail!(
                "the upgrade was refused: HTTP {}\n{}",
                response.status(),
                body.trim()
            );
        }
        Err(e) => return Err(e).context("WebSocket handshake"),
    };
    eprintln!("* upgraded: HTTP {}", response.status().as_u16());

    let setup = json!({"setup": {"model": model, "outputAudioTranscription": {}}}).to_string();
    eprintln!("> {setup}");
    socket.send(Message::Text(setup)).await?;
    expect(
        &mut socket,
        |m| m.get("setupComplete").is_some(),
        "setupComplete",
    )
    .await?;

    let turn = json!({"clientContent": {
        "turns": [{"role": "user", "parts": [{"text": text}]}],
        "turnComplete": true,
    }})
    .to_string();
    eprintln!("> {turn}");
    socket.send(Message::Text(turn)).await?;
    expect(
        &mut socket,
        |m| m["serverContent"]["turnComplete"] == Value::Bool(true),
        "a complete turn",
    )
    .await?;
    // The usage of the turn follows it; wait a moment for it, without insisting.
    let usage = tokio::time::timeout(
        Duration::from_secs(2),
        expect(&mut socket, |m| m.get("usageMetadata").is_some(), "usage"),
    )
    .await;
    if !matches!(usage, Ok(Ok(()))) {
        eprintln!("* (no usageMetadata after the turn)");
    }
    socket
        .close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "done".into(),
        }))
        .await
        .ok();
    eprintln!("* closed");
    Ok(())
}

/// Prints server messages until one satisfies `done`; an error if the session ends first.
async fn expect<S>(
    socket: &mut WebSocketStream<S>,
    done: impl Fn(&Value) -> bool,
    what: &str,
) -> anyhow::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(message) = socket.next().await {
        match message.context("reading from the WebSocket")? {
            Message::Text(text) => {
                println!("< {text}");
                if serde_json::from_str::<Value>(&text).is_ok_and(|m| done(&m)) {
                    return Ok(());
                }
            }
            Message::Binary(bytes) => {
                // The Live API sends its JSON messages as binary frames too.
                match std::str::from_utf8(&bytes) {
                    Ok(text) => {
                        println!("< {text}");
                        if serde_json::from_str::<Value>(text).is_ok_and(|m| done(&m)) {
                            return Ok(());
                        }
                    }
                    Err(_) => println!("< ({} bytes of binary data)", bytes.len()),
                }
            }
            Message::Close(frame) => {
                let (code, reason) = frame
                    .map(|f| (u16::from(f.code), f.reason.into_owned()))
                    .unwrap_or((1005, String::new()));
                bail!("the session was closed before {what}: {code} {reason}");
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }
    bail!("the connection ended before {what}")
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("live-client: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
