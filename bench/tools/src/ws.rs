//! Live WebSocket sessions: N sessions connect, send the setup, wait for `setupComplete`, then
//! all at once exchange messages in a closed loop (send one, wait for the answer) for a fixed
//! time. A round trip is one client message and the server message it caused.

use crate::envoy::Envoy;
use crate::variant::{CLIENT_KEY, LIVE_PATH, LIVE_SETUP};
use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Barrier;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const TURN: &str = r#"{"clientContent":{"turns":[{"role":"user","parts":[{"text":"ping"}]}],"turnComplete":true}}"#;
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, Default)]
pub struct WsResult {
    pub sessions: usize,
    pub sessions_ok: usize,
    pub round_trips: u64,
    pub seconds: f64,
    pub rtt_us: Vec<f64>,
    pub failures: Vec<String>,
    pub envoy_cpu_s: f64,
}

impl WsResult {
    pub fn round_trips_per_s(&self) -> f64 {
        self.round_trips as f64 / self.seconds.max(1e-9)
    }
}

pub async fn run_once(envoy: &Envoy, sessions: usize, seconds: u64) -> anyhow::Result<WsResult> {
    let barrier = Arc::new(Barrier::new(sessions + 1));
    let url = envoy.ws_url(LIVE_PATH);
    let mut tasks = Vec::new();
    for _ in 0..sessions {
        let barrier = barrier.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let connected = tokio::time::timeout(STEP_TIMEOUT, open(&url)).await;
            barrier.wait().await;
            let mut ws = match connected {
                Ok(Ok(ws)) => ws,
                Ok(Err(e)) => return Err(e),
                Err(_) => bail!("connect + setup timed out"),
            };
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let mut rtts = Vec::new();
            while Instant::now() < deadline {
                let sent = Instant::now();
                ws.send(Message::text(TURN)).await?;
                match tokio::time::timeout(STEP_TIMEOUT, ws.next()).await {
                    Ok(Some(Ok(Message::Text(_)))) => {}
                    other => bail!("no answer to a turn: {other:?}"),
                }
                rtts.push(sent.elapsed().as_secs_f64() * 1e6);
            }
            let _ = ws.close(None).await;
            Ok(rtts)
        }));
    }
    barrier.wait().await;
    let started = Instant::now();
    let cpu_before = envoy.cpu_seconds()?;
    let mut result = WsResult {
        sessions,
        ..WsResult::default()
    };
    for task in tasks {
        match task.await {
            Ok(Ok(rtts)) => {
                result.sessions_ok += 1;
                result.round_trips += rtts.len() as u64;
                result.rtt_us.extend(rtts);
            }
            Ok(Err(e)) => result.failures.push(format!("{e:#}")),
            Err(e) => result.failures.push(e.to_string()),
        }
    }
    result.seconds = started.elapsed().as_secs_f64();
    result.envoy_cpu_s = envoy.cpu_seconds()? - cpu_before;
    result.rtt_us.sort_by(f64::total_cmp);
    Ok(result)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Upgrade, send the setup, wait for `setupComplete`.
async fn open(url: &str) -> anyhow::Result<Ws> {
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("x-api-key", CLIENT_KEY.parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
        .await
        .with_context(|| format!("WebSocket upgrade at {url}"))?;
    ws.send(Message::text(LIVE_SETUP)).await?;
    match ws.next().await {
        Some(Ok(Message::Text(text))) if text.contains("setupComplete") => Ok(ws),
        other => bail!("no setupComplete: {other:?}"),
    }
}

/// One Live session, its round trips one after another: for the callgrind phase.
pub struct Session(Ws);

impl Session {
    /// Upgraded, and the setup answered.
    pub async fn open(envoy: &Envoy) -> anyhow::Result<Session> {
        Ok(Session(open(&envoy.ws_url(LIVE_PATH)).await?))
    }

    /// `n` turns, each answered before the next.
    pub async fn round_trips(&mut self, n: usize) -> anyhow::Result<()> {
        for _ in 0..n {
            self.0.send(Message::text(TURN)).await?;
            match tokio::time::timeout(STEP_TIMEOUT * 6, self.0.next()).await {
                Ok(Some(Ok(Message::Text(_)))) => {}
                other => bail!("no answer to a turn: {other:?}"),
            }
        }
        Ok(())
    }

    pub async fn close(mut self) {
        let _ = self.0.close(None).await;
    }
}
