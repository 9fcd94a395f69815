//! A small SQS client: AWS JSON 1.0 over plain HTTP, SigV4-signed with `aws-sigv4`.
//!
//! Only the calls the Queue reconciler makes. `aws-sigv4` rather than `aws-sdk-sqs`:
//! the operator already has a hyper client, and the SDK would add its whole runtime
//! (smithy orchestrator, retry and endpoint machinery) for eight JSON calls.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

/// Time limit of one call.
const TIMEOUT: Duration = Duration::from_secs(15);

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

/// The SigV4 key pair the reconciler signs with.
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

/// A client of one cluster's SQS endpoint.
#[derive(Clone)]
pub struct SqsClient {
    endpoint: String,
    region: String,
    key: AccessKey,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl SqsClient {
    /// A client for `endpoint` (e.g. `http://orders.default.svc:9324`) signing for `region`.
    pub fn new(endpoint: &str, region: &str, key: AccessKey) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            region: region.to_string(),
            key,
            http: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Calls `AmazonSQS.<action>` with a JSON body; returns the JSON reply.
    async fn call(&self, action: &str, body: Value) -> Result<Value, SqsError> {
        let body = Bytes::from(body.to_string());
        let uri = format!("{}/", self.endpoint);
        let target = format!("AmazonSQS.{action}");
        let mut request = http::Request::post(&uri)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", &target)
            .body(Full::new(body.clone()))
            .map_err(|e| SqsError::Signing(e.to_string()))?;
        let host = request
            .uri()
            .authority()
            .map(|a| a.to_string())
            .ok_or_else(|| SqsError::Signing(format!("endpoint {uri:?} has no host")))?;
        request.headers_mut().insert(
            http::header::HOST,
            host.parse()
                .map_err(|e: http::header::InvalidHeaderValue| SqsError::Signing(e.to_string()))?,
        );
        self.sign(&mut request, &body)?;
        let response = tokio::time::timeout(TIMEOUT, self.http.request(request))
            .await
            .map_err(|_| SqsError::Unreachable(format!("{action}: no answer within {TIMEOUT:?}")))?
            .map_err(|e| SqsError::Unreachable(format!("{action}: {e}")))?;
        let status = response.status();
        let bytes = tokio::time::timeout(TIMEOUT, response.into_body().collect())
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
        let identity = Credentials::new(
            &self.key.access_key_id,
            &self.key.secret_access_key,
            None,
            None,
            "sqsraft-operator",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
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
            request.uri().to_string(),
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

    /// The URL of queue `name`, or `None` when it does not exist.
    pub async fn get_queue_url(&self, name: &str) -> Result<Option<String>, SqsError> {
        match self.call("GetQueueUrl", json!({"QueueName": name})).await {
            Ok(v) => Ok(v["QueueUrl"].as_str().map(String::from)),
            Err(e) if e.is("QueueDoesNotExist") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// CreateQueue with attributes and tags; returns the queue URL.
    pub async fn create_queue(
        &self,
        name: &str,
        attributes: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
    ) -> Result<String, SqsError> {
        let mut body = json!({"QueueName": name, "Attributes": attributes});
        if !tags.is_empty() {
            body["tags"] = json!(tags);
        }
        let v = self.call("CreateQueue", body).await?;
        v["QueueUrl"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| SqsError::Unreachable("CreateQueue: reply without QueueUrl".into()))
    }

    /// Every attribute of the queue at `url`.
    pub async fn get_queue_attributes(
        &self,
        url: &str,
    ) -> Result<BTreeMap<String, String>, SqsError> {
        let v = self
            .call(
                "GetQueueAttributes",
                json!({"QueueUrl": url, "AttributeNames": ["All"]}),
            )
            .await?;
        Ok(string_map(&v["Attributes"]))
    }

    /// SetQueueAttributes.
    pub async fn set_queue_attributes(
        &self,
        url: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<(), SqsError> {
        self.call(
            "SetQueueAttributes",
            json!({"QueueUrl": url, "Attributes": attributes}),
        )
        .await
        .map(drop)
    }

    /// The queue's tags.
    pub async fn list_queue_tags(&self, url: &str) -> Result<BTreeMap<String, String>, SqsError> {
        let v = self.call("ListQueueTags", json!({"QueueUrl": url})).await?;
        Ok(string_map(&v["Tags"]))
    }

    /// Sets (adds or overwrites) tags.
    pub async fn tag_queue(
        &self,
        url: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), SqsError> {
        self.call("TagQueue", json!({"QueueUrl": url, "Tags": tags}))
            .await
            .map(drop)
    }

    /// Removes tags.
    pub async fn untag_queue(&self, url: &str, keys: &[String]) -> Result<(), SqsError> {
        self.call("UntagQueue", json!({"QueueUrl": url, "TagKeys": keys}))
            .await
            .map(drop)
    }

    /// DeleteQueue; a queue that no longer exists counts as deleted.
    pub async fn delete_queue(&self, url: &str) -> Result<(), SqsError> {
        match self.call("DeleteQueue", json!({"QueueUrl": url})).await {
            Ok(_) => Ok(()),
            Err(e) if e.is("QueueDoesNotExist") => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}
