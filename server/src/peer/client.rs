//! Client for the internal port: one pooled HTTP/2 connection per peer (over mutual TLS,
//! or cleartext when the internal port runs insecure), so Raft RPCs and forwarded requests
//! are multiplexed without connection churn.

use bytes::Bytes;
use futures::Stream;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Request body type of the internal client.
pub type Body = BoxBody<Bytes, io::Error>;

/// Why an internal call failed before a response arrived.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The peer could not be reached or the connection broke: the request may or may not
    /// have been processed.
    #[error("peer {addr} unreachable: {reason}")]
    Unreachable { addr: String, reason: String },
    #[error("peer {addr} did not answer within {timeout:?}")]
    Timeout { addr: String, timeout: Duration },
}

/// A cheap-to-clone client of peers' internal ports.
#[derive(Clone)]
pub struct InternalClient {
    client: Client<HttpsConnector<HttpConnector>, Body>,
    /// `https` with mutual TLS, `http` on an insecure internal port.
    scheme: &'static str,
}

impl InternalClient {
    /// A client presenting this member's certificate (`Some`), or speaking cleartext to an
    /// insecure internal port (`None`).
    pub fn new(tls: Option<&Arc<super::tls::InternalTls>>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        connector.enforce_http(false);
        let (tls_config, scheme) = match tls {
            Some(tls) => (tls.client_config(), "https"),
            // Never used for a handshake: the client only dials http:// then.
            None => (
                rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_protocol_versions(&[&rustls::version::TLS13])
                .expect("the ring provider supports TLS 1.3")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
                "http",
            ),
        };
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls_config)
            .https_or_http()
            .enable_http2()
            .wrap_connector(connector);
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .http2_only(true)
            .http2_initial_stream_window_size(4 << 20)
            .http2_initial_connection_window_size(8 << 20)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .http2_keep_alive_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        InternalClient { client, scheme }
    }

    /// POSTs `body` to `{scheme}://{addr}{path}` and returns status and the whole response body.
    pub async fn post(
        &self,
        addr: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
        timeout: Duration,
    ) -> Result<(StatusCode, Bytes), CallError> {
        let body = Full::new(body).map_err(|never| match never {}).boxed();
        self.send(addr, path, headers, body, timeout).await
    }

    /// POSTs a streamed body (used for snapshots).
    pub async fn post_stream<S>(
        &self,
        addr: &str,
        path: &str,
        stream: S,
        timeout: Duration,
    ) -> Result<(StatusCode, Bytes), CallError>
    where
        S: Stream<Item = io::Result<Bytes>> + Send + Sync + 'static,
    {
        use futures::TryStreamExt;
        let body = BodyExt::boxed(StreamBody::new(stream.map_ok(Frame::data)));
        self.send(addr, path, &[], body, timeout).await
    }

    async fn send(
        &self,
        addr: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Body,
        timeout: Duration,
    ) -> Result<(StatusCode, Bytes), CallError> {
        let mut builder = Request::post(format!("{}://{addr}{path}", self.scheme));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(body).map_err(|e| CallError::Unreachable {
            addr: addr.to_string(),
            reason: format!("bad request: {e}"),
        })?;
        let call = async {
            let response =
                self.client
                    .request(request)
                    .await
                    .map_err(|e| CallError::Unreachable {
                        addr: addr.to_string(),
                        reason: e.to_string(),
                    })?;
            let status = response.status();
            let body =
                response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| CallError::Unreachable {
                        addr: addr.to_string(),
                        reason: format!("reading response: {e}"),
                    })?;
            Ok((status, body.to_bytes()))
        };
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| CallError::Timeout {
                addr: addr.to_string(),
                timeout,
            })?
    }
}
