//! Listeners and connections: plain HTTP for the token endpoints, TLS with ALPN (h2, HTTP/1.1)
//! for Vertex. Every task is owned by the emulator so dropping it stops them all.
use super::http::Body;
use super::state::Shared;
use super::{metadata, oauth, vertex};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

#[derive(Clone, Copy, Debug)]
pub(crate) enum Endpoint {
    OAuth,
    Metadata,
    Vertex,
}

/// What a handler may need to know about the connection a request came on.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConnectionInfo {
    pub sni: Option<String>,
}

/// Runs hyper's HTTP/2 stream tasks inside the emulator's task set.
#[derive(Clone)]
struct OwnedExecutor(Arc<Shared>);

impl<F> hyper::rt::Executor<F> for OwnedExecutor
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, future: F) {
        self.0.spawn(future);
    }
}

pub(crate) async fn bind_loopback(
    ip: Ipv4Addr,
    port: u16,
) -> anyhow::Result<(TcpListener, SocketAddr)> {
    anyhow::ensure!(ip.is_loopback(), "{ip} is not a loopback address");
    let listener = TcpListener::bind((ip, port))
        .await
        .map_err(|error| anyhow::anyhow!("binding {ip}:{port}: {error}"))?;
    let address = listener.local_addr()?;
    Ok((listener, address))
}

pub(crate) fn spawn_listener(
    shared: &Arc<Shared>,
    listener: TcpListener,
    endpoint: Endpoint,
    tls: Option<TlsAcceptor>,
) {
    let owner = Arc::clone(shared);
    shared.spawn(accept_loop(owner, listener, endpoint, tls));
}

async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    endpoint: Endpoint,
    tls: Option<TlsAcceptor>,
) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of descriptors or similar: wait rather than spin.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let owner = Arc::clone(&shared);
        shared.spawn(serve_connection(owner, stream, endpoint, tls.clone()));
    }
}

async fn serve_connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    endpoint: Endpoint,
    tls: Option<TlsAcceptor>,
) {
    match tls {
        None => serve_http(shared, stream, endpoint, ConnectionInfo::default()).await,
        Some(acceptor) => {
            // A failed handshake is the client's problem (for example an untrusted CA).
            let Ok(tls_stream) = acceptor.accept(stream).await else {
                return;
            };
            let info = ConnectionInfo {
                sni: tls_stream.get_ref().1.server_name().map(str::to_owned),
            };
            serve_http(shared, tls_stream, endpoint, info).await;
        }
    }
}

async fn serve_http<S>(shared: Arc<Shared>, stream: S, endpoint: Endpoint, info: ConnectionInfo)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let executor = OwnedExecutor(Arc::clone(&shared));
    let info = Arc::new(info);
    let service = service_fn(move |request: Request<Incoming>| {
        let shared = Arc::clone(&shared);
        let info = Arc::clone(&info);
        async move { Ok::<Response<Body>, Infallible>(route(shared, endpoint, &info, request).await) }
    });
    // Errors here are the client hanging up or speaking bad HTTP; nothing to do but stop.
    let _ = auto::Builder::new(executor)
        .serve_connection_with_upgrades(TokioIo::new(stream), service)
        .await;
}

async fn route(
    shared: Arc<Shared>,
    endpoint: Endpoint,
    info: &ConnectionInfo,
    request: Request<Incoming>,
) -> Response<Body> {
    match endpoint {
        Endpoint::OAuth => oauth::handle(shared, request).await,
        Endpoint::Metadata => metadata::handle(shared, request).await,
        Endpoint::Vertex => vertex::handle(shared, info, request).await,
    }
}
