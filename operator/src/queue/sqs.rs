//! The SQS calls the Queue reconciler makes, typed, over the shared signed JSON client
//! ([`sqsraft_server::sqs_client`]).

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sqsraft_server::sqs_client::JsonClient;
pub use sqsraft_server::sqs_client::{AccessKey, SqsError};

/// A client of one cluster's SQS endpoint.
#[derive(Clone)]
pub struct SqsClient {
    json: JsonClient,
}

impl SqsClient {
    /// A client for `endpoint` (e.g. `http://orders.default.svc:9324`) signing for `region`.
    pub fn new(endpoint: &str, region: &str, key: AccessKey) -> Result<Self, SqsError> {
        Ok(Self {
            json: JsonClient::new(endpoint, region, &key)?,
        })
    }

    async fn call(&self, action: &str, body: Value) -> Result<Value, SqsError> {
        self.json.call(action, &body).await
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
