//! A small SQS client: AWS JSON 1.0 over plain HTTP, SigV4-signed with `aws-sigv4`.
//!
//! One generic call, `AmazonSQS.<action>` with a JSON body, shared by the operator's Queue
//! reconciler and the benchmark's raw client. `aws-sigv4` rather than `aws-sdk-sqs`: both
//! already have a hyper client, and the SDK's runtime (smithy orchestrator, retry and
//! endpoint machinery) costs more CPU per call than the call itself on a loaded machine.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Default time limit of one call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// A failed SQS call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SqsError {
    /// No answer: connection refused, timeout, or a server-side (5xx) failure.
    #[error("cluster unreachable: {0}")]
    Unreachable(String),
    /// The server answered with an SQS error (`QueueDoesNotExist`, …).
    #[error("{code}: {message}")]
    Api { code: String, message: String },
    /// The request could not be built or signed.
    #[error("cannot sign the request: {0}")]
    Signing(String),
}

impl SqsError {
    /// Whether this is the SQS error `code`.
    pub fn is(&self, code: &str) -> bool {
        matches!(self, SqsError::Api { code: c, .. } if c == code)
    }
}

/// A SigV4 key pair.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// A client of one SQS endpoint, with a pool of kept-alive connections.
#[derive(Clone)]
pub struct JsonClient {
    uri: String,
    host: http::HeaderValue,
    region: String,
    identity: aws_smithy_runtime_api::client::identity::Identity,
    timeout: Duration,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl JsonClient {
    /// A client for `endpoint` (e.g. `http://127.0.0.1:9324`) signing for `region`.
    pub fn new(endpoint: &str, region: &str, key: &AccessKey) -> Result<Self, SqsError> {
        let uri = format!("{}/", endpoint.trim_end_matches('/'));
        let parsed: http::Uri = uri
            .parse()
            .map_err(|e| SqsError::Signing(format!("endpoint {endpoint:?}: {e}")))?;
        let host = parsed
            .authority()
            .ok_or_else(|| SqsError::Signing(format!("endpoint {endpoint:?} has no host")))?
            .as_str()
            .parse()
            .map_err(|e| SqsError::Signing(format!("endpoint {endpoint:?}: {e}")))?;
        let identity = Credentials::new(
            &key.access_key_id,
            &key.secret_access_key,
            None,
            None,
            "sqsraft-json-client",
        )
        .into();
        Ok(Self {
            uri,
            host,
            region: region.to_string(),
            identity,
            timeout: DEFAULT_TIMEOUT,
            http: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// The same client with another time limit per call (request and response body each).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Calls `AmazonSQS.<action>` with a JSON body; returns the JSON reply.
    pub async fn call(&self, action: &str, body: &Value) -> Result<Value, SqsError> {
        let body = Bytes::from(body.to_string());
        let mut request = http::Request::post(&self.uri)
            .header(http::header::HOST, self.host.clone())
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", format!("AmazonSQS.{action}"))
            .body(Full::new(body.clone()))
            .map_err(|e| SqsError::Signing(e.to_string()))?;
        self.sign(&mut request, &body)?;
        let timeout = self.timeout;
        let response = tokio::time::timeout(timeout, self.http.request(request))
            .await
            .map_err(|_| SqsError::Unreachable(format!("{action}: no answer within {timeout:?}")))?
            .map_err(|e| SqsError::Unreachable(format!("{action}: {e}")))?;
        let status = response.status();
        let bytes = tokio::time::timeout(timeout, response.into_body().collect())
            .await
            .map_err(|_| SqsError::Unreachable(format!("{action}: body timed out")))?
            .map_err(|e| SqsError::Unreachable(format!("{action}: {e}")))?
            .to_bytes();
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        let code = value["__type"]
            .as_str()
            .map(|t| t.rsplit('#').next().unwrap_or(t).to_string());
        match code {
            Some(code) if !status.is_server_error() => Err(SqsError::Api {
                code,
                message: value["message"].as_str().unwrap_or_default().to_string(),
            }),
            _ => Err(SqsError::Unreachable(format!(
                "{action}: HTTP {status}: {}",
                String::from_utf8_lossy(&bytes)
            ))),
        }
    }

    fn sign(&self, request: &mut http::Request<Full<Bytes>>, body: &[u8]) -> Result<(), SqsError> {
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("sqs")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| SqsError::Signing(e.to_string()))?
            .into();
        let headers: Vec<(&str, &str)> = request
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
            .collect();
        let signable = SignableRequest::new(
            request.method().as_str(),
            &self.uri,
            headers.into_iter(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| SqsError::Signing(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| SqsError::Signing(e.to_string()))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}
