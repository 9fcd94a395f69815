//! The SQS calls the benchmark makes, through either client it can drive an endpoint
//! with: the Rust `aws-sdk-sqs`, or the raw signed JSON client
//! ([`sqsraft_server::sqs_client`]: hyper, `aws-sigv4`, `serde_json`), which costs the
//! benchmark process several times less CPU per call. Both speak AWS JSON 1.0.

use crate::sdk;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::retry::RetryConfig;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    BatchResultErrorEntry, DeleteMessageBatchRequestEntry, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use serde::Serialize;
use serde_json::{Value, json};
use sqsraft_server::sqs_client::{AccessKey, JsonClient, SqsError};
use std::time::Duration;

/// Region both clients sign for.
const REGION: &str = "us-east-1";

/// Time limit of one raw call: above the longest long poll (20 s).
const RAW_TIMEOUT: Duration = Duration::from_secs(30);

/// Which client drives the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientKind {
    /// hyper + aws-sigv4 + serde_json: the cheaper client, so the default.
    Raw,
    /// The Rust AWS SDK (`aws-sdk-sqs`), retries disabled.
    Sdk,
}

impl ClientKind {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            ClientKind::Raw => "raw",
            ClientKind::Sdk => "sdk",
        }
    }
}

/// A failed call: its AWS error code, or the kind of transport failure.
pub type CallResult<T> = Result<T, String>;

/// What a batch call did with its entries.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// Entries that succeeded.
    pub successful: usize,
    /// The error code of each failed entry.
    pub failed: Vec<String>,
}

/// A FIFO message's group id and deduplication id.
pub type FifoIds = (String, String);

/// A client of one endpoint (cheap to clone: both kinds share their connection pool).
#[derive(Clone)]
pub enum SqsApi {
    /// Through the AWS SDK.
    Sdk(Client),
    /// Through the raw signed JSON client (boxed: it is much larger than the SDK handle).
    Raw(Box<JsonClient>),
}

impl SqsApi {
    /// A client of `endpoint` signing with the given key pair. The SDK client has retries
    /// disabled, so that every failure is seen and counted instead of hidden by a retry.
    pub fn new(
        kind: ClientKind,
        endpoint: &str,
        access_key: &str,
        secret_key: &str,
    ) -> anyhow::Result<SqsApi> {
        Ok(match kind {
            ClientKind::Sdk => {
                let base = sdk::client(endpoint, access_key, secret_key);
                let config = base
                    .config()
                    .to_builder()
                    .retry_config(RetryConfig::disabled())
                    .build();
                SqsApi::Sdk(Client::from_conf(config))
            }
            ClientKind::Raw => {
                let key = AccessKey {
                    access_key_id: access_key.to_string(),
                    secret_access_key: secret_key.to_string(),
                };
                SqsApi::Raw(Box::new(
                    JsonClient::new(endpoint, REGION, &key)?.with_timeout(RAW_TIMEOUT),
                ))
            }
        })
    }

    /// CreateQueue (a FIFO queue when `fifo`); returns the queue URL.
    pub async fn create_queue(&self, name: &str, fifo: bool) -> CallResult<String> {
        match self {
            SqsApi::Sdk(c) => {
                let mut request = c.create_queue().queue_name(name);
                if fifo {
                    request = request.attributes(QueueAttributeName::FifoQueue, "true");
                }
                let out = request.send().await.map_err(|e| sdk_code(&e))?;
                out.queue_url.ok_or_else(|| "NoQueueUrl".to_string())
            }
            SqsApi::Raw(c) => {
                let mut body = json!({ "QueueName": name });
                if fifo {
                    body["Attributes"] = json!({ "FifoQueue": "true" });
                }
                let out = raw(c, "CreateQueue", body).await?;
                out["QueueUrl"]
                    .as_str()
                    .map(String::from)
                    .ok_or_else(|| "NoQueueUrl".to_string())
            }
        }
    }

    /// DeleteQueue.
    pub async fn delete_queue(&self, url: &str) -> CallResult<()> {
        match self {
            SqsApi::Sdk(c) => c
                .delete_queue()
                .queue_url(url)
                .send()
                .await
                .map(drop)
                .map_err(|e| sdk_code(&e)),
            SqsApi::Raw(c) => raw(c, "DeleteQueue", json!({ "QueueUrl": url }))
                .await
                .map(drop),
        }
    }

    /// SendMessage.
    pub async fn send_message(
        &self,
        url: &str,
        body: &str,
        fifo: Option<FifoIds>,
    ) -> CallResult<()> {
        match self {
            SqsApi::Sdk(c) => {
                let mut request = c.send_message().queue_url(url).message_body(body);
                if let Some((group, dedup)) = fifo {
                    request = request
                        .message_group_id(group)
                        .message_deduplication_id(dedup);
                }
                request.send().await.map(drop).map_err(|e| sdk_code(&e))
            }
            SqsApi::Raw(c) => {
                let mut request = json!({ "QueueUrl": url, "MessageBody": body });
                if let Some((group, dedup)) = fifo {
                    request["MessageGroupId"] = json!(group);
                    request["MessageDeduplicationId"] = json!(dedup);
                }
                raw(c, "SendMessage", request).await.map(drop)
            }
        }
    }

    /// SendMessageBatch: one entry per item of `entries`, with ids `0`, `1`, ….
    pub async fn send_message_batch(
        &self,
        url: &str,
        body: &str,
        entries: Vec<Option<FifoIds>>,
    ) -> CallResult<BatchOutcome> {
        match self {
            SqsApi::Sdk(c) => {
                let entries = entries
                    .into_iter()
                    .enumerate()
                    .map(|(i, fifo)| {
                        let mut entry = SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(body);
                        if let Some((group, dedup)) = fifo {
                            entry = entry
                                .message_group_id(group)
                                .message_deduplication_id(dedup);
                        }
                        entry.build().expect("id and body are set")
                    })
                    .collect();
                let out = c
                    .send_message_batch()
                    .queue_url(url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| sdk_code(&e))?;
                Ok(sdk_outcome(out.successful().len(), out.failed()))
            }
            SqsApi::Raw(c) => {
                let entries: Vec<Value> = entries
                    .into_iter()
                    .enumerate()
                    .map(|(i, fifo)| {
                        let mut entry = json!({ "Id": i.to_string(), "MessageBody": body });
                        if let Some((group, dedup)) = fifo {
                            entry["MessageGroupId"] = json!(group);
                            entry["MessageDeduplicationId"] = json!(dedup);
                        }
                        entry
                    })
                    .collect();
                let out = raw(
                    c,
                    "SendMessageBatch",
                    json!({ "QueueUrl": url, "Entries": entries }),
                )
                .await?;
                Ok(raw_batch_outcome(&out))
            }
        }
    }

    /// ReceiveMessage; returns the receipt handles of the messages received.
    pub async fn receive_message(
        &self,
        url: &str,
        max_messages: usize,
        wait_seconds: u32,
    ) -> CallResult<Vec<String>> {
        match self {
            SqsApi::Sdk(c) => {
                let out = c
                    .receive_message()
                    .queue_url(url)
                    .max_number_of_messages(max_messages as i32)
                    .wait_time_seconds(wait_seconds as i32)
                    .send()
                    .await
                    .map_err(|e| sdk_code(&e))?;
                Ok(out
                    .messages()
                    .iter()
                    .map(|m| m.receipt_handle().unwrap_or_default().to_string())
                    .collect())
            }
            SqsApi::Raw(c) => {
                let out = raw(
                    c,
                    "ReceiveMessage",
                    json!({
                        "QueueUrl": url,
                        "MaxNumberOfMessages": max_messages,
                        "WaitTimeSeconds": wait_seconds,
                    }),
                )
                .await?;
                Ok(out["Messages"]
                    .as_array()
                    .map(|messages| {
                        messages
                            .iter()
                            .map(|m| m["ReceiptHandle"].as_str().unwrap_or_default().to_string())
                            .collect()
                    })
                    .unwrap_or_default())
            }
        }
    }

    /// DeleteMessage.
    pub async fn delete_message(&self, url: &str, handle: &str) -> CallResult<()> {
        match self {
            SqsApi::Sdk(c) => c
                .delete_message()
                .queue_url(url)
                .receipt_handle(handle)
                .send()
                .await
                .map(drop)
                .map_err(|e| sdk_code(&e)),
            SqsApi::Raw(c) => raw(
                c,
                "DeleteMessage",
                json!({ "QueueUrl": url, "ReceiptHandle": handle }),
            )
            .await
            .map(drop),
        }
    }

    /// DeleteMessageBatch with ids `0`, `1`, ….
    pub async fn delete_message_batch(
        &self,
        url: &str,
        handles: &[String],
    ) -> CallResult<BatchOutcome> {
        match self {
            SqsApi::Sdk(c) => {
                let entries = handles
                    .iter()
                    .enumerate()
                    .map(|(i, h)| {
                        DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(h)
                            .build()
                            .expect("id and handle are set")
                    })
                    .collect();
                let out = c
                    .delete_message_batch()
                    .queue_url(url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| sdk_code(&e))?;
                Ok(sdk_outcome(out.successful().len(), out.failed()))
            }
            SqsApi::Raw(c) => {
                let entries: Vec<Value> = handles
                    .iter()
                    .enumerate()
                    .map(|(i, h)| json!({ "Id": i.to_string(), "ReceiptHandle": h }))
                    .collect();
                let out = raw(
                    c,
                    "DeleteMessageBatch",
                    json!({ "QueueUrl": url, "Entries": entries }),
                )
                .await?;
                Ok(raw_batch_outcome(&out))
            }
        }
    }
}

/// A raw call, its failure reduced to a code.
async fn raw(client: &JsonClient, action: &str, body: Value) -> CallResult<Value> {
    client.call(action, &body).await.map_err(|e| match e {
        SqsError::Api { code, .. } => code,
        SqsError::Unreachable(_) => "Unreachable".to_string(),
        SqsError::Signing(_) => "ConstructionFailure".to_string(),
    })
}

/// The `Successful` and `Failed` lists of a batch reply.
fn raw_batch_outcome(reply: &Value) -> BatchOutcome {
    let list = |name: &str| reply[name].as_array().cloned().unwrap_or_default();
    BatchOutcome {
        successful: list("Successful").len(),
        failed: list("Failed")
            .iter()
            .map(|f| f["Code"].as_str().unwrap_or("UnknownError").to_string())
            .collect(),
    }
}

/// An SDK batch reply as counts and codes.
fn sdk_outcome(successful: usize, failed: &[BatchResultErrorEntry]) -> BatchOutcome {
    BatchOutcome {
        successful,
        failed: failed.iter().map(|f| f.code().to_string()).collect(),
    }
}

/// The AWS error code of a failed SDK call, or the kind of transport failure.
fn sdk_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> String {
    match err {
        SdkError::ServiceError(service) => service
            .err()
            .code()
            .unwrap_or("UnknownServiceError")
            .to_string(),
        SdkError::TimeoutError(_) => "Timeout".to_string(),
        SdkError::DispatchFailure(_) => "DispatchFailure".to_string(),
        SdkError::ResponseError(_) => "ResponseError".to_string(),
        SdkError::ConstructionFailure(_) => "ConstructionFailure".to_string(),
        _ => "UnknownError".to_string(),
    }
}
