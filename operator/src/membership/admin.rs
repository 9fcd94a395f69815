//! The client of the server's admin API (internal port, bearer token), behind the
//! [`AdminApi`] trait so the planner loop runs against Kubernetes pods, a local
//! multi-process cluster, or a fake.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::admin_types::{
    AddLearnerRequest, AdminError, ChangeVotersRequest, ClusterStatus, InitRequest,
    RemoveNodeRequest, TransferLeaderRequest,
};
use crate::build::{Cluster, Names};

/// Maps StatefulSet ordinals to addresses.
pub trait PodResolver: Send + Sync {
    /// `host:port` where the operator reaches the pod's internal (admin) port.
    fn admin_addr(&self, ordinal: u32) -> String;
    /// `host:port` peers dial: the address recorded in the Raft membership.
    fn peer_addr(&self, ordinal: u32) -> String;
}

/// Pods of a StatefulSet, by their stable DNS names through the headless Service.
#[derive(Debug, Clone)]
pub struct PodDnsResolver {
    names: Names,
}

impl PodDnsResolver {
    pub fn new(c: &Cluster<'_>) -> Self {
        Self {
            names: c.names.clone(),
        }
    }
}

impl PodResolver for PodDnsResolver {
    fn admin_addr(&self, ordinal: u32) -> String {
        self.peer_addr(ordinal)
    }

    fn peer_addr(&self, ordinal: u32) -> String {
        self.names.peer_addr(ordinal)
    }
}

/// Local processes: ordinal `o` listens on `127.0.0.1:<internal_ports[o]>`.
#[derive(Debug, Clone)]
pub struct LoopbackResolver {
    pub internal_ports: Vec<u16>,
}

impl PodResolver for LoopbackResolver {
    fn admin_addr(&self, ordinal: u32) -> String {
        self.peer_addr(ordinal)
    }

    fn peer_addr(&self, ordinal: u32) -> String {
        // An ordinal without a port maps to port 0, which no connection reaches.
        let port = self
            .internal_ports
            .get(ordinal as usize)
            .copied()
            .unwrap_or(0);
        format!("127.0.0.1:{port}")
    }
}

/// One admin API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCall {
    Status,
    Init(InitRequest),
    AddLearner(AddLearnerRequest),
    ChangeVoters(ChangeVotersRequest),
    Remove(RemoveNodeRequest),
    TransferLeader(TransferLeaderRequest),
}

impl AdminCall {
    pub fn method(&self) -> http::Method {
        match self {
            AdminCall::Status => http::Method::GET,
            _ => http::Method::POST,
        }
    }

    pub fn path(&self) -> &'static str {
        match self {
            AdminCall::Status => "/admin/status",
            AdminCall::Init(_) => "/admin/init",
            AdminCall::AddLearner(_) => "/admin/learners",
            AdminCall::ChangeVoters(_) => "/admin/voters",
            AdminCall::Remove(_) => "/admin/remove",
            AdminCall::TransferLeader(_) => "/admin/transfer-leader",
        }
    }

    fn body(&self) -> Result<Bytes, serde_json::Error> {
        let v = match self {
            AdminCall::Status => return Ok(Bytes::new()),
            AdminCall::Init(r) => serde_json::to_vec(r)?,
            AdminCall::AddLearner(r) => serde_json::to_vec(r)?,
            AdminCall::ChangeVoters(r) => serde_json::to_vec(r)?,
            AdminCall::Remove(r) => serde_json::to_vec(r)?,
            AdminCall::TransferLeader(r) => serde_json::to_vec(r)?,
        };
        Ok(Bytes::from(v))
    }

    /// How long the call may take.
    pub fn timeout(&self) -> Duration {
        match self {
            AdminCall::Status => Duration::from_secs(3),
            AdminCall::AddLearner(req) if req.blocking => Duration::from_secs(300),
            _ => Duration::from_secs(30),
        }
    }
}

/// Why an admin call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminCallError {
    /// Could not connect, or no answer in time: the pod may be down.
    #[error("{addr}: {message}")]
    Unreachable { addr: String, message: String },
    /// The server answered with an error.
    #[error("{addr}: HTTP {status} {}: {}", .error.code, .error.message)]
    Api {
        addr: String,
        status: u16,
        error: AdminError,
    },
    /// The answer was not the expected JSON.
    #[error("{addr}: unreadable answer: {message}")]
    Protocol { addr: String, message: String },
}

impl AdminCallError {
    /// The server's error code, when it answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            AdminCallError::Api { error, .. } => Some(&error.code),
            _ => None,
        }
    }
}

/// The admin API of one cluster, addressed by pod ordinal.
pub trait AdminApi: Send + Sync {
    /// Sends `call` to pod `ordinal`. Membership calls answered with `NotLeader` are
    /// retried once at the leader the server names.
    fn call(
        &self,
        ordinal: u32,
        call: AdminCall,
    ) -> impl Future<Output = Result<ClusterStatus, AdminCallError>> + Send;
}

/// A rustls client configuration for the internal port: TLS 1.3, the certificates of
/// `bundle_pem` trusted (the server's name checked against the address dialled), and the
/// certificate chain `cert_pem` with its key `key_pem` presented.
pub fn mutual_tls_config(
    bundle_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(bundle_pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("CA bundle: {e}"))?;
        roots.add(cert).map_err(|e| format!("CA bundle: {e}"))?;
    }
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("client certificate: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| format!("client key: {e}"))?;
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .map_err(|e| format!("client certificate: {e}"))
}

/// [`AdminApi`] over HTTP/2: with mutual TLS, or in cleartext to a server whose internal
/// port runs with `--internal-insecure`.
#[derive(Clone)]
pub struct HttpAdminClient<R> {
    resolver: R,
    token: String,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// `https`, or `http` without TLS.
    scheme: &'static str,
}

impl<R: PodResolver> HttpAdminClient<R> {
    /// A client presenting the identity of `tls` (`None`: cleartext).
    pub fn new(
        resolver: R,
        token: impl Into<String>,
        tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    ) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        connector.set_nodelay(true);
        connector.enforce_http(false);
        let scheme = if tls.is_some() { "https" } else { "http" };
        // Without TLS the configuration is never used: the client only dials http://.
        let config = tls.map_or_else(
            || {
                rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_protocol_versions(&[&rustls::version::TLS13])
                .expect("the ring provider supports TLS 1.3")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
            },
            |c| (*c).clone(),
        );
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http2()
            .wrap_connector(connector);
        Self {
            resolver,
            token: token.into().trim().to_string(),
            client: Client::builder(TokioExecutor::new())
                .http2_only(true)
                .build(connector),
            scheme,
        }
    }

    pub fn resolver(&self) -> &R {
        &self.resolver
    }

    async fn send(&self, addr: &str, call: &AdminCall) -> Result<ClusterStatus, AdminCallError> {
        let unreachable = |message: String| AdminCallError::Unreachable {
            addr: addr.to_string(),
            message,
        };
        let protocol = |message: String| AdminCallError::Protocol {
            addr: addr.to_string(),
            message,
        };
        let body = call.body().map_err(|e| protocol(e.to_string()))?;
        let request = http::Request::builder()
            .method(call.method())
            .uri(format!("{}://{addr}{}", self.scheme, call.path()))
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", self.token),
            )
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| protocol(e.to_string()))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| unreachable(error_chain(&e)))?;
            let status = response.status().as_u16();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| unreachable(e.to_string()))?
                .to_bytes();
            Ok::<_, AdminCallError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(call.timeout(), exchange)
            .await
            .map_err(|_| unreachable(format!("no answer within {:?}", call.timeout())))??;
        if status == 200 {
            return serde_json::from_slice(&bytes).map_err(|e| protocol(e.to_string()));
        }
        match serde_json::from_slice::<AdminError>(&bytes) {
            Ok(error) => Err(AdminCallError::Api {
                addr: addr.to_string(),
                status,
                error,
            }),
            Err(_) => Err(protocol(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            ))),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

impl<R: PodResolver> AdminApi for HttpAdminClient<R> {
    async fn call(&self, ordinal: u32, call: AdminCall) -> Result<ClusterStatus, AdminCallError> {
        let addr = self.resolver.admin_addr(ordinal);
        match self.send(&addr, &call).await {
            Err(AdminCallError::Api { error, .. })
                if error.code == "NotLeader"
                    && call != AdminCall::Status
                    && error.leader.as_ref().is_some_and(|l| l.addr != addr) =>
            {
                let leader = error.leader.map(|l| l.addr).unwrap_or_default();
                tracing::debug!(%addr, %leader, path = call.path(), "redirecting admin call to the leader");
                self.send(&leader, &call).await
            }
            other => other,
        }
    }
}
