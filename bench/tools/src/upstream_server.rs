//! `vp-bench upstream`: the SSE and Live WebSocket upstream, a separate process so its CPU is
//! not the load generator's. Prints `vp-bench-upstream ready sse=PORT ws=PORT` once it listens.
//!
//! - SSE: any request with a bearer token gets `text/event-stream`, the first event at once,
//!   then `SSE_EVENTS - 1` more `SSE_GAP` apart (a proxy that buffered the stream would show a
//!   time to first byte near the whole stream's length).
//! - WebSocket: a bearer token is required at the upgrade; the first message must be a Live
//!   `setup` (answered `setupComplete`), every later one gets one `serverContent` message with
//!   `usageMetadata`, as a model turn would.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io::Write;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{
    ErrorResponse, Request as WsRequest, Response as WsResponse,
};
use tokio_tungstenite::tungstenite::Message;

pub const SSE_EVENTS: u32 = 3;
pub const SSE_GAP: Duration = Duration::from_millis(10);
const SSE_EVENT: &str = "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"chunk\"}]}}],\"usageMetadata\":{\"promptTokenCount\":1,\"candidatesTokenCount\":2,\"totalTokenCount\":3}}\r\n\r\n";
const SETUP_COMPLETE: &str = r#"{"setupComplete":{}}"#;
const TURN: &str = r#"{"serverContent":{"modelTurn":{"parts":[{"text":"pong"}]},"turnComplete":true},"usageMetadata":{"promptTokenCount":1,"responseTokenCount":7,"totalTokenCount":8}}"#;

pub fn run() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let sse = TcpListener::bind("127.0.0.1:0").await?;
        let ws = TcpListener::bind("127.0.0.1:0").await?;
        let mut stdout = std::io::stdout();
        writeln!(
            stdout,
            "vp-bench-upstream ready sse={} ws={}",
            sse.local_addr()?.port(),
            ws.local_addr()?.port()
        )?;
        stdout.flush()?;
        tokio::spawn(serve_sse(sse));
        serve_ws(ws).await;
        Ok(())
    })
}

async fn serve_sse(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(sse_answer);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

type Body = BoxBody<Bytes, Infallible>;

async fn sse_answer(request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let bearer = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "));
    // Read the request body before answering, as Vertex does.
    let _ = request.into_body().collect().await;
    if !bearer {
        let mut resp = Response::new(Full::new(Bytes::from_static(b"no bearer token")).boxed());
        *resp.status_mut() = hyper::StatusCode::UNAUTHORIZED;
        return Ok(resp);
    }
    let events = futures_util::stream::unfold(0u32, |i| async move {
        if i >= SSE_EVENTS {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(SSE_GAP).await;
        }
        Some((
            Ok::<_, Infallible>(Frame::data(Bytes::from_static(SSE_EVENT.as_bytes()))),
            i + 1,
        ))
    });
    let mut resp = Response::new(BodyExt::boxed(StreamBody::new(events)));
    resp.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("text/event-stream"),
    );
    Ok(resp)
}

async fn serve_ws(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(live_session(stream));
    }
}

async fn live_session(stream: TcpStream) {
    // The handshake callback's signature is tungstenite's.
    #[allow(clippy::result_large_err)]
    let check = |request: &WsRequest, response: WsResponse| -> Result<WsResponse, ErrorResponse> {
        let bearer = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Bearer "));
        if bearer {
            Ok(response)
        } else {
            let mut refusal = ErrorResponse::new(Some("no bearer token".into()));
            *refusal.status_mut() = hyper::StatusCode::UNAUTHORIZED;
            Err(refusal)
        }
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, check).await else {
        return;
    };
    let mut set_up = false;
    while let Some(Ok(message)) = ws.next().await {
        let reply = match message {
            Message::Text(text) if !set_up => {
                let is_setup = serde_json::from_str::<serde_json::Value>(&text)
                    .is_ok_and(|v| v["setup"]["model"].is_string());
                if !is_setup {
                    let _ = ws.close(None).await;
                    return;
                }
                set_up = true;
                SETUP_COMPLETE
            }
            Message::Text(_) | Message::Binary(_) => TURN,
            Message::Close(_) => break,
            _ => continue,
        };
        if ws.send(Message::text(reply)).await.is_err() {
            return;
        }
    }
}
