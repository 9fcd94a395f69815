//! Accept loop shared by both listeners: HTTP/1.1 and HTTP/2 on one port, in cleartext or
//! behind a TLS handshake (the internal port's mutual TLS, the SQS port's HTTPS) that must
//! succeed before a byte of HTTP is read. Each connection, handshake included, runs in its
//! own task: a failed or stalled handshake closes that connection only.

use crate::http::idle::{Activity, Busy};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

/// A connection that has not finished its TLS handshake by then is closed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTP/1 request head (request line and headers) must arrive whole within this time
/// of the server starting to wait for it, or the connection is closed without an answer:
/// a client trickling header bytes (slowloris) holds a connection this long at most.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest HTTP/1 request head, and largest HTTP/2 header list: a bigger one is answered
/// `431 Request Header Fields Too Large` and the connection closed. SigV4 requests carry
/// well under 4 KiB of headers; Query GETs carry their parameters here too.
pub const MAX_HEAD_BYTES: usize = 64 << 10;

/// Serves `handler` on `listener` until the process ends; with `tls`, every connection
/// first completes a handshake under that configuration or is closed.
pub async fn serve<H, Fut>(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    handler: Arc<H>,
) where
    H: Fn(Request<Incoming>, std::net::SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let acceptor = tls.clone().map(TlsAcceptor::from);
        tokio::spawn(async move {
            let Some(acceptor) = acceptor else {
                return serve_connection(stream, peer, handler).await;
            };
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => serve_connection(stream, peer, handler).await,
                Ok(Err(e)) => tracing::warn!(%peer, error = %e, "TLS handshake refused"),
                Err(_) => tracing::warn!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

async fn serve_connection<I, H, Fut>(io: I, peer: std::net::SocketAddr, handler: Arc<H>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>, std::net::SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let service = {
        let activity = activity.clone();
        service_fn(move |req| {
            let handler = handler.clone();
            let busy = Busy::start(activity.clone());
            async move {
                let response = handler(req, peer).await;
                drop(busy);
                Ok::<_, Infallible>(response)
            }
        })
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES);
    builder
        .http2()
        .max_header_list_size(MAX_HEAD_BYTES as u32)
        .initial_stream_window_size(4 << 20)
        .initial_connection_window_size(8 << 20)
        .max_concurrent_streams(1024);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let result = loop {
        tokio::select! {
            result = conn.as_mut() => break result,
            // Idle: no request in flight since `IDLE_TIMEOUT` (`idle.rs`).
            () = tokio::time::sleep_until(activity.idle_deadline()) => {
                if activity.idle_deadline() <= Instant::now() {
                    conn.as_mut().graceful_shutdown();
                    break conn.await;
                }
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with error");
    }
}

/// A response with a body and content type.
pub fn respond(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// A JSON response.
pub fn json<T: serde::Serialize>(status: u16, value: &T) -> Response<Full<Bytes>> {
    match serde_json::to_vec_pretty(value) {
        Ok(body) => respond(status, "application/json", body),
        Err(e) => respond(500, "text/plain", format!("encoding failed: {e}")),
    }
}
