//! Clients that send exactly what a test says, for bad-input and leak tests: raw bytes over TCP
//! (nothing is validated or normalised), and HTTP/1.1 or HTTP/2 with prior knowledge through
//! hyper, which keeps the path as given (reqwest, through the `url` crate, resolves `..` and
//! `%2e%2e` before sending). Every call uses a fresh connection, so Envoy spreads them across
//! its workers.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(10);

/// A response, whoever made it.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Headers and body, as one text to search.
    pub fn everything(&self) -> String {
        let mut all = format!("{}\n", self.status);
        for (name, value) in &self.headers {
            all.push_str(&format!("{name}: {value}\n"));
        }
        all.push_str(&self.text());
        all
    }
}

/// What came back: an answer, or the connection or stream ended without one.
#[derive(Clone, Debug)]
pub enum Outcome {
    Answer(Answer),
    NoAnswer(String),
}

impl Outcome {
    pub fn answer(&self) -> Option<&Answer> {
        match self {
            Outcome::Answer(answer) => Some(answer),
            Outcome::NoAnswer(_) => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        self.answer().map(|a| a.status)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    /// HTTP/2 cleartext with prior knowledge (Envoy's listener detects it: codec AUTO).
    Http2,
}

/// Sends `request` as is on a new connection, then reads until Envoy closes it (or one whole
/// response has arrived).
pub async fn raw(port: u16, request: &[u8]) -> Outcome {
    match tokio::time::timeout(TIMEOUT, raw_exchange(port, request)).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) => Outcome::NoAnswer(format!("raw exchange failed: {e}")),
        Err(_) => Outcome::NoAnswer("no answer within 10 s".to_string()),
    }
}

async fn raw_exchange(port: u16, request: &[u8]) -> std::io::Result<Outcome> {
    let mut socket = TcpStream::connect(("127.0.0.1", port)).await?;
    socket.write_all(request).await?;
    let mut received = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        if let Some(answer) = parse_http1(&received) {
            return Ok(Outcome::Answer(answer));
        }
        match socket.read(&mut buffer).await {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            // A reset after the answer was sent still leaves the answer to read.
            Err(e) if received.is_empty() => {
                return Ok(Outcome::NoAnswer(format!("connection error: {e}")))
            }
            Err(_) => break,
        }
    }
    Ok(match parse_http1_until_eof(&received) {
        Some(answer) => Outcome::Answer(answer),
        None => Outcome::NoAnswer(format!(
            "connection closed after {} bytes: {:?}",
            received.len(),
            String::from_utf8_lossy(&received)
        )),
    })
}

/// One complete HTTP/1.1 response with a content-length (or none and a 1xx/204/304).
fn parse_http1(received: &[u8]) -> Option<Answer> {
    let (status, headers, body_start) = parse_head(received)?;
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.trim().parse().ok())?;
    let body = received.get(body_start..body_start + length)?;
    Some(Answer {
        status,
        headers,
        body: body.to_vec(),
    })
}

/// The response once the connection closed: the body is whatever followed the head (chunked
/// bodies are decoded).
fn parse_http1_until_eof(received: &[u8]) -> Option<Answer> {
    let (status, headers, body_start) = parse_head(received)?;
    let rest = received.get(body_start..).unwrap_or_default();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Some(Answer {
        status,
        headers,
        body,
    })
}

/// Status, lowercase headers, and where the body starts.
type Head = (u16, Vec<(String, String)>, usize);

fn parse_head(received: &[u8]) -> Option<Head> {
    let end = received.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&received[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some((status, headers, end + 4))
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&rest[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        let Some(chunk) = rest.get(start..start + size) else {
            body.extend_from_slice(rest.get(start..).unwrap_or_default());
            break;
        };
        body.extend_from_slice(chunk);
        rest = rest.get(start + size + 2..).unwrap_or_default();
    }
    body
}

/// A request through hyper on a new connection. The path goes on the wire as given; header
/// values are bytes (hyper refuses CR, LF and NUL in them, so those cases go through `raw`).
pub async fn send(
    protocol: Protocol,
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> Outcome {
    let client = Client::builder(TokioExecutor::new())
        .http2_only(protocol == Protocol::Http2)
        .pool_max_idle_per_host(0)
        .build_http::<Full<Bytes>>();
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{port}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = match request.body(Full::new(Bytes::copy_from_slice(body))) {
        Ok(request) => request,
        Err(e) => return Outcome::NoAnswer(format!("hyper cannot express this request: {e}")),
    };
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{e:?}"))?
            .to_bytes()
            .to_vec();
        Ok::<_, String>(Answer {
            status,
            headers,
            body,
        })
    };
    match tokio::time::timeout(TIMEOUT, exchange).await {
        Ok(Ok(answer)) => Outcome::Answer(answer),
        Ok(Err(e)) => Outcome::NoAnswer(e),
        Err(_) => Outcome::NoAnswer("no answer within 10 s".to_string()),
    }
}

/// A raw HTTP/1.1 request: `request_line`, then `host` and `connection: close`, then
/// `headers` (each a whole line without CRLF, bytes as given), then `body` with its length.
pub fn http1_request(request_line: &[u8], headers: &[&[u8]], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(request_line);
    out.extend_from_slice(b"\r\nhost: localhost\r\nconnection: close\r\n");
    for header in headers {
        out.extend_from_slice(header);
        out.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() {
        out.extend_from_slice(
            format!(
                "content-type: application/json\r\ncontent-length: {}\r\n",
                body.len()
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// A WebSocket opened by hand on a new connection: frames go out exactly as written, masked or
/// not, well-formed or not.
pub struct RawWebSocket {
    stream: TcpStream,
    received: Vec<u8>,
}

/// A frame as the peer sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CONTINUATION: u8 = 0x0;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;

/// The mask key of every client frame these tests write.
pub const MASK: [u8; 4] = [0x5a, 0x13, 0xc4, 0x7e];

/// One frame as bytes: `mask` as a client must, `None` for an unmasked (invalid) client frame.
pub fn frame(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    frame_claiming(fin, opcode, payload, payload.len() as u64, mask)
}

/// Like `frame`, but the header claims `claimed_len` payload bytes whatever follows.
pub fn frame_claiming(
    fin: bool,
    opcode: u8,
    payload: &[u8],
    claimed_len: u64,
    mask: Option<[u8; 4]>,
) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match claimed_len {
        0..=125 => out.push(mask_bit | claimed_len as u8),
        126..=0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(claimed_len as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&claimed_len.to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

impl RawWebSocket {
    /// Sends the upgrade for `path` with `headers` and returns the socket once Envoy answered
    /// 101, or the answer it gave instead.
    pub async fn open(
        port: u16,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<RawWebSocket, Outcome> {
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nhost: localhost\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        let connect = async {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
            stream.write_all(request.as_bytes()).await?;
            let mut received = Vec::new();
            let mut buffer = [0u8; 4096];
            loop {
                if let Some((status, _, end)) = parse_head(&received) {
                    return Ok::<_, std::io::Error>((stream, received, status, end));
                }
                let n = stream.read(&mut buffer).await?;
                if n == 0 {
                    return Err(std::io::Error::other(format!(
                        "closed before an answer: {:?}",
                        String::from_utf8_lossy(&received)
                    )));
                }
                received.extend_from_slice(&buffer[..n]);
            }
        };
        let (stream, received, status, end) = match tokio::time::timeout(TIMEOUT, connect).await {
            Ok(Ok(parts)) => parts,
            Ok(Err(e)) => return Err(Outcome::NoAnswer(e.to_string())),
            Err(_) => return Err(Outcome::NoAnswer("no answer within 10 s".into())),
        };
        if status != 101 {
            let mut socket = RawWebSocket {
                stream,
                received: Vec::new(),
            };
            let mut all = received;
            let _ = tokio::time::timeout(TIMEOUT, socket.stream.read_to_end(&mut all)).await;
            return Err(
                match parse_http1(&all).or_else(|| parse_http1_until_eof(&all)) {
                    Some(answer) => Outcome::Answer(answer),
                    None => Outcome::NoAnswer(format!("status {status}")),
                },
            );
        }
        Ok(RawWebSocket {
            stream,
            received: received[end..].to_vec(),
        })
    }

    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// The next frame from the server; `None` when the connection ended or `wait` passed first.
    pub async fn next_frame(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut buffer = [0u8; 16 * 1024];
        loop {
            if let Some((frame, used)) = parse_server_frame(&self.received) {
                self.received.drain(..used);
                return Some(frame);
            }
            let read = tokio::time::timeout_at(deadline, self.stream.read(&mut buffer)).await;
            match read {
                Ok(Ok(n)) if n > 0 => self.received.extend_from_slice(&buffer[..n]),
                _ => return None,
            }
        }
    }

    /// Reads until the server's close frame: its code and reason. `None` if the connection ended
    /// (or 10 s passed) without one.
    pub async fn close_code(&mut self) -> Option<(u16, String)> {
        loop {
            let frame = self.next_frame(TIMEOUT).await?;
            if frame.opcode == CLOSE {
                let code = frame
                    .payload
                    .get(..2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))?;
                let reason = String::from_utf8_lossy(&frame.payload[2..]).into_owned();
                return Some((code, reason));
            }
        }
    }

    /// Ends the TCP connection without a closing handshake.
    pub async fn drop_connection(mut self) {
        let _ = self.stream.shutdown().await;
    }
}

/// One unmasked server frame at the start of `bytes`, with the bytes it used.
fn parse_server_frame(bytes: &[u8]) -> Option<(Frame, usize)> {
    let (&b0, rest) = bytes.split_first()?;
    let (&b1, rest) = rest.split_first()?;
    let (len, header) = match b1 & 0x7f {
        126 => (
            u64::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?)),
            4,
        ),
        127 => (u64::from_be_bytes(rest.get(..8)?.try_into().ok()?), 10),
        n => (u64::from(n), 2),
    };
    let mask = if b1 & 0x80 != 0 { 4 } else { 0 };
    let start = header + mask;
    let end = start + usize::try_from(len).ok()?;
    let mut payload = bytes.get(start..end)?.to_vec();
    if mask == 4 {
        let key = &bytes[header..start];
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    Some((
        Frame {
            fin: b0 & 0x80 != 0,
            opcode: b0 & 0x0f,
            payload,
        },
        end,
    ))
}
