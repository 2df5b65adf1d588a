//! The Live API's WebSocket endpoint: checks the upgrade like Vertex (token, host, WebSocket
//! handshake headers), then runs the session and records it.
use super::http::{full_body, google_error, header_text, host_of, Body};
use super::live_protocol::{ClientFrame, Conversation, Reply};
use super::record::LiveSession;
use super::server::ConnectionInfo;
use super::state::{lock, Shared};
use super::vertex::{finish_record, reserve_record, Arrival};
use super::vertex_auth::authenticate;
use super::vertex_route::location_of_host;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, UPGRADE};
use hyper::upgrade::OnUpgrade;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::borrow::Cow;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// A close reason may hold at most 123 bytes.
const MAX_CLOSE_REASON: usize = 123;
/// How long to wait for the client's half of a closing handshake.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The `Sec-WebSocket-Key` of a well-formed RFC 6455 upgrade request, or why it is not one.
fn websocket_key(request: &Request<Incoming>) -> Result<String, &'static str> {
    let headers = request.headers();
    let has_token = |name: &str, token: &str| {
        header_text(headers, name).is_some_and(|value| {
            value
                .split(',')
                .any(|part| part.trim().eq_ignore_ascii_case(token))
        })
    };
    if request.method() != hyper::Method::GET
        || !has_token("upgrade", "websocket")
        || !has_token("connection", "upgrade")
    {
        return Err("This endpoint requires a WebSocket upgrade (GET with Upgrade: websocket).");
    }
    if header_text(headers, "sec-websocket-version") != Some("13") {
        return Err("Sec-WebSocket-Version must be 13.");
    }
    header_text(headers, "sec-websocket-key")
        .map(str::to_owned)
        .ok_or("Sec-WebSocket-Key is missing.")
}

pub(crate) fn upgrade(
    shared: Arc<Shared>,
    info: &ConnectionInfo,
    mut request: Request<Incoming>,
) -> Response<Body> {
    let arrival = Arrival::of(&shared, &request, info);
    let caller = authenticate(&shared, arrival.bearer.as_deref());
    let index = reserve_record(&shared, arrival.record(&caller, Bytes::new()));
    let host_location = location_of_host(&host_of(&arrival.authority));

    let response = if let Some(refusal) = caller.refusal {
        refusal
    } else if let Some(host_location) = host_location {
        match websocket_key(&request) {
            Err(why) => google_error(400, "INVALID_ARGUMENT", why),
            Ok(key) => {
                let session_index = {
                    let mut records = lock(&shared.records);
                    records.live_sessions.push(LiveSession {
                        authority: arrival.authority.clone(),
                        path: arrival.path.clone(),
                        query: arrival.query.clone(),
                        bearer: arrival.bearer.clone(),
                        token_subject: caller.subject.clone(),
                        setup_model: None,
                        client_messages: Vec::new(),
                        server_messages_sent: 0,
                        close_code: None,
                        close_reason: None,
                        sni: arrival.sni.clone(),
                        headers: arrival.headers.clone(),
                        ended: false,
                        bytes_received: 0,
                    });
                    records.live_sessions.len() - 1
                };
                let subject = caller.subject.clone().unwrap_or_default();
                let project_check = Arc::clone(&shared);
                let conversation = Conversation::new(
                    host_location,
                    Box::new(move |project| project_check.may_use_project(&subject, project)),
                );
                let on_upgrade = hyper::upgrade::on(&mut request);
                let session = Session {
                    shared: Arc::clone(&shared),
                    index: session_index,
                    conversation,
                };
                shared.spawn(session.run(on_upgrade));
                switching_protocols(&key)
            }
        }
    } else {
        google_error(
            400,
            "INVALID_ARGUMENT",
            &format!("{} is not a Vertex AI host.", arrival.authority),
        )
    };
    let status = response.status().as_u16();
    finish_record(&shared, index, status);
    shared.log("vertex", &arrival.method, &arrival.path, status);
    response
}

fn switching_protocols(key: &str) -> Response<Body> {
    let mut response = Response::new(full_body(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

fn truncate_reason(reason: &str) -> String {
    let mut end = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

/// How long a session's connection may stay quiet after its last message before the count of
/// bytes received is final.
const DRAIN_QUIET: Duration = Duration::from_millis(200);

type Socket = WebSocketStream<Counted<TokioIo<hyper::upgrade::Upgraded>>>;

/// The upgraded connection, counting the bytes the client sent on it.
struct Counted<T> {
    inner: T,
    read: usize,
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.read += buf.filled().len() - before;
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

struct Session {
    shared: Arc<Shared>,
    index: usize,
    conversation: Conversation,
}

impl Session {
    fn update(&self, change: impl FnOnce(&mut LiveSession)) {
        if let Some(session) = lock(&self.shared.records).live_sessions.get_mut(self.index) {
            change(session);
        }
    }

    async fn run(mut self, on_upgrade: OnUpgrade) {
        if let Ok(upgraded) = on_upgrade.await {
            let counted = Counted {
                inner: TokioIo::new(upgraded),
                read: 0,
            };
            let mut socket = WebSocketStream::from_raw_socket(counted, Role::Server, None).await;
            self.converse(&mut socket).await;
            // Whatever the client still sends is read and counted, until the connection ends
            // or stays quiet for a moment (a client may keep it open after the close handshake).
            let mut rest = [0u8; 4096];
            while let Ok(Ok(read)) =
                tokio::time::timeout(DRAIN_QUIET, socket.get_mut().read(&mut rest)).await
            {
                if read == 0 {
                    break;
                }
            }
            let received = socket.get_ref().read;
            self.update(|session| session.bytes_received = received);
        }
        self.update(|session| session.ended = true);
    }

    async fn converse(&mut self, socket: &mut Socket) {
        while let Some(Ok(message)) = socket.next().await {
            let replies = match &message {
                Message::Text(text) => {
                    self.update(|session| session.client_messages.push(text.as_bytes().to_vec()));
                    self.conversation.on_message(ClientFrame::Text(text))
                }
                Message::Binary(bytes) => {
                    self.update(|session| session.client_messages.push(bytes.clone()));
                    self.conversation.on_message(ClientFrame::Binary(bytes))
                }
                Message::Close(frame) => {
                    let (code, reason) = frame
                        .as_ref()
                        .map(|frame| (u16::from(frame.code), frame.reason.to_string()))
                        .unzip();
                    self.update(|session| {
                        if session.close_code.is_none() {
                            session.close_code = code;
                            session.close_reason = reason;
                        }
                    });
                    // tungstenite answers the close; the stream then ends.
                    continue;
                }
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            let setup_model = self.conversation.setup_model.clone();
            self.update(|session| session.setup_model = setup_model);
            if !self.send_all(socket, replies).await {
                return;
            }
        }
    }

    /// Sends the replies in order; false once the session is over.
    async fn send_all(&self, socket: &mut Socket, replies: Vec<Reply>) -> bool {
        for reply in replies {
            let message = match reply {
                Reply::Text(text) => Message::Text(text),
                Reply::Binary(bytes) => Message::Binary(bytes),
                Reply::Close { code, reason } => {
                    self.close(socket, code, &reason).await;
                    return false;
                }
            };
            if socket.send(message).await.is_err() {
                return false;
            }
            self.update(|session| session.server_messages_sent += 1);
        }
        true
    }

    async fn close(&self, socket: &mut Socket, code: u16, reason: &str) {
        let reason = truncate_reason(reason);
        self.update(|session| {
            session.close_code = Some(code);
            session.close_reason = Some(reason.clone());
        });
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: Cow::Owned(reason),
        };
        if socket.close(Some(frame)).await.is_err() {
            return;
        }
        // Let the client complete the closing handshake, but do not wait on it forever.
        let drain = async { while let Some(Ok(_)) = socket.next().await {} };
        let _ = tokio::time::timeout(CLOSE_GRACE, drain).await;
    }
}
