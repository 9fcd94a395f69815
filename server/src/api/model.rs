//! The typed SQS model (API version 2012-11-05): one request and one result struct per
//! action, named and shaped as in the AWS JSON 1.0 model.
//!
//! The serde names are the AWS JSON member names, so serializing a result struct with
//! `serde_json` yields AWS's JSON body. Decoding wire requests goes through
//! [`crate::api::json`] and [`crate::api::query`], which report errors as AWS does.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Binary values travel as base64 strings in JSON.
mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => s.serialize_str(&STANDARD.encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| STANDARD.decode(s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Lists of binary values as lists of base64 strings.
mod base64_list {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for bytes in v {
            seq.serialize_element(&STANDARD.encode(bytes))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Vec::<String>::deserialize(d)?
            .into_iter()
            .map(|s| STANDARD.decode(s).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// The value of a message attribute or message system attribute.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageAttributeValue {
    #[serde(
        rename = "StringValue",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub string_value: Option<String>,
    #[serde(
        rename = "BinaryValue",
        default,
        with = "base64_bytes",
        skip_serializing_if = "Option::is_none"
    )]
    pub binary_value: Option<Vec<u8>>,
    #[serde(
        rename = "StringListValues",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub string_list_values: Vec<String>,
    #[serde(
        rename = "BinaryListValues",
        default,
        with = "base64_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub binary_list_values: Vec<Vec<u8>>,
    #[serde(rename = "DataType")]
    pub data_type: String,
}

impl MessageAttributeValue {
    /// A `String` attribute.
    pub fn string(value: impl Into<String>) -> Self {
        MessageAttributeValue {
            string_value: Some(value.into()),
            data_type: "String".into(),
            ..Default::default()
        }
    }

    /// A `Number` attribute (the value is kept as the client wrote it).
    pub fn number(value: impl Into<String>) -> Self {
        MessageAttributeValue {
            string_value: Some(value.into()),
            data_type: "Number".into(),
            ..Default::default()
        }
    }

    /// A `Binary` attribute.
    pub fn binary(value: impl Into<Vec<u8>>) -> Self {
        MessageAttributeValue {
            binary_value: Some(value.into()),
            data_type: "Binary".into(),
            ..Default::default()
        }
    }
}

/// Message attributes by name (sorted, as AWS's MD5 needs them).
pub type MessageAttributes = BTreeMap<String, MessageAttributeValue>;

// ---------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------

/// Input of CreateQueue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateQueueRequest {
    #[serde(rename = "QueueName")]
    pub queue_name: String,
    #[serde(
        rename = "Attributes",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub attributes: BTreeMap<String, String>,
    /// Lower-case `tags`, as in the AWS model.
    #[serde(rename = "tags", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// Input of DeleteQueue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteQueueRequest {
    #[serde(rename = "QueueUrl")]
    pub queue_url: String,
}

/// Input of ListQueues.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListQueuesRequest {
    #[serde(
        rename = "QueueNamePrefix",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub queue_name_prefix: Option<String>,
    #[serde(rename = "NextToken", default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    #[serde(
        rename = "MaxResults",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_results: Option<i32>,
}

/// Input of GetQueueUrl.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetQueueUrlRequest {
    #[serde(rename = "QueueName")]
    pub queue_name: String,
    #[serde(
        rename = "QueueOwnerAWSAccountId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub queue_owner_aws_account_id: Option<String>,
}

/// Input of GetQueueAttributes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetQueueAttributesRequest {
    #[serde(rename = "QueueUrl")]
    pub queue_url: String,
    #[serde(
        rename = "AttributeNames",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub attribute_names: Vec<String>,
}

/// Input of SetQueueAttributes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetQueueAttributesRequest {
    #[serde(rename = "QueueUrl")]
    pub queue_url: String,
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// Input of SendMessage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendMessageRequest {
    #[serde(rename = "QueueUrl")]
    pub queue_url: String,
    #[serde(rename = "MessageBody")]
    pub message_body: String,
    #[serde(
        rename = "DelaySeconds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub delay_seconds: Option<i32>,
    #[serde(
        rename = "MessageAttributes",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub message_attributes: MessageAttributes,
    #[serde(
        rename = "MessageSystemAttributes",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub message_system_attributes: MessageAttributes,
    #[serde(
        rename = "MessageDeduplicationId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub message_deduplication_id: Option<String>,
    #[serde(
        rename = "MessageGroupId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub message_group_id: Option<String>,
}

/// One entry of SendMessageBatch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendMessageBatchRequestEntry {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "MessageBody")]
    pub message_body: String,
    #[serde(
        rename = "DelaySeconds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub delay_seconds: Option<i32>,
    #[serde(
        rename = "MessageAttributes",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub message_attributes: MessageAttributes,
    #[serde(
        rename = "MessageSystemAttributes",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub message_system_attributes: MessageAttributes,
    #[serde(
        rename = "MessageDeduplicationId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub message_deduplication_id: Option<String>,
    #[serde(
        rename = "MessageGroupId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub message_group_id: Option<String>,
}

/// Input of SendMessageBatch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendMessageBatchRequest {
    #[serde(rename = "QueueUrl")]
    pub queue_url: String,
    #[serde(rename = "Entries")]
    pub entries: Vec<SendMessageBatchRequestEntry>,
}

/// Input of ReceiveMessage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiveMessageRequest {
    #[serde(rename = "QueueUrl")]
    pub queue_url: String,
    /// Deprecated by AWS in favour of `MessageSystemAttributeNames`; still accepted.
    #[serde(
        rename = "AttributeNames",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub attribute_names: Vec<String>,
    #[serde(
        rename = "MessageSystemAttributeNames",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub message_system_attribute_names: Vec<String>,
    #[serde(
        rename = "MessageAttributeNames",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub message_attribute_names: Vec<String>,
    #[serde(
        rename = "MaxNumberOfMessages",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_number_of_messages: Option<i32>,
    #[serde(
        rename = "VisibilityTimeout",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub visibility_timeout: Option<i32>,
    #[serde(
        rename = "WaitTimeSeconds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub wait_time_seconds: Option<i32>,
    #[serde(
        rename = "ReceiveRequestAttemptId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub receive_request_attempt_id: Option<String>,
}

impl ReceiveMessageRequest {
    /// The system attribute names asked for through either member, without duplicates,
    /// in the order first asked for (linear in the names sent, however many).
    pub fn system_attribute_names(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        self.attribute_names
            .iter()
            .chain(&self.message_system_attribute_names)
            .map(String::as_str)
            .filter(|name| seen.insert(*name))
            .collect()
    }
}

/// Input of DeleteMessage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteMessageRequest {
    #[serde(rename = "QueueUrl")]
    pub queue_url: String,
    #[serde(rename = "ReceiptHandle")]
    pub receipt_handle: String,
}

/// One entry of DeleteMessageBatch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteMessageBatchRequestEntry {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "ReceiptHandle")]
    pub receipt_handle: String,
}

/// Input of DeleteMessageBatch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteMessageBatchRequest {
    #[serde(rename = "QueueUrl")]
    pub queue_url: String,
    #[serde(rename = "Entries")]
    pub entries: Vec<DeleteMessageBatchRequestEntry>,
}

/// Input of ChangeMessageVisibility.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeMessageVisibilityRequest {
    #[serde(rename = "QueueUrl")]
    pub queue_url: String,
    #[serde(rename = "ReceiptHandle")]
    pub receipt_handle: String,
    #[serde(rename = "VisibilityTimeout")]
    pub visibility_timeout: i32,
}

/// One entry of ChangeMessageVisibilityBatch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeMessageVisibilityBatchRequestEntry {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "ReceiptHandle")]
    pub receipt_handle: String,
    /// Optional in the model; SQS treats a missing value as 0.
    #[serde(
        rename = "VisibilityTimeout",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub visibility_timeout: Option<i32>,
}

/// Input of ChangeMessageVisibilityBatch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeMessageVisibilityBatchRequest {
    #[serde(rename = "QueueUrl")]
    pub queue_url: String,
    #[serde(rename = "Entries")]
    pub entries: Vec<ChangeMessageVisibilityBatchRequestEntry>,
}

/// Input of PurgeQueue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeQueueRequest {
    #[serde(rename = "QueueUrl")]
    pub queue_url: String,
}

/// Input of TagQueue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagQueueRequest {
    #[serde(rename = "QueueUrl")]
    pub queue_url: String,
    #[serde(rename = "Tags")]
    pub tags: BTreeMap<String, String>,
}

/// Input of UntagQueue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UntagQueueRequest {
    #[serde(rename = "QueueUrl")]
    pub queue_url: String,
    #[serde(rename = "TagKeys")]
    pub tag_keys: Vec<String>,
}

/// Input of ListQueueTags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListQueueTagsRequest {
    #[serde(rename = "QueueUrl")]
    pub queue_url: String,
}

/// Input of AddPermission.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddPermissionRequest {
    #[serde(rename = "QueueUrl")]
    pub queue_url: String,
    #[serde(rename = "Label")]
    pub label: String,
    #[serde(rename = "AWSAccountIds")]
    pub aws_account_ids: Vec<String>,
    #[serde(rename = "Actions")]
    pub actions: Vec<String>,
}

/// Input of RemovePermission.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovePermissionRequest {
    #[serde(rename = "QueueUrl")]
    pub queue_url: String,
    #[serde(rename = "Label")]
    pub label: String,
}

/// Input of ListDeadLetterSourceQueues.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListDeadLetterSourceQueuesRequest {
    #[serde(rename = "QueueUrl")]
    pub queue_url: String,
    #[serde(rename = "NextToken", default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    #[serde(
        rename = "MaxResults",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_results: Option<i32>,
}

/// Input of StartMessageMoveTask.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartMessageMoveTaskRequest {
    #[serde(rename = "SourceArn")]
    pub source_arn: String,
    #[serde(
        rename = "DestinationArn",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub destination_arn: Option<String>,
    #[serde(
        rename = "MaxNumberOfMessagesPerSecond",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_number_of_messages_per_second: Option<i32>,
}

/// Input of ListMessageMoveTasks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListMessageMoveTasksRequest {
    #[serde(rename = "SourceArn")]
    pub source_arn: String,
    #[serde(
        rename = "MaxResults",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_results: Option<i32>,
}

/// Input of CancelMessageMoveTask.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelMessageMoveTaskRequest {
    #[serde(rename = "TaskHandle")]
    pub task_handle: String,
}

// ---------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------

/// Output of CreateQueue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateQueueResult {
    #[serde(rename = "QueueUrl")]
    pub queue_url: String,
}

/// Output of GetQueueUrl.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetQueueUrlResult {
    #[serde(rename = "QueueUrl")]
    pub queue_url: String,
}

/// Output of ListQueues.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListQueuesResult {
    /// Omitted from the output when empty, as AWS does.
    #[serde(rename = "QueueUrls", default, skip_serializing_if = "Vec::is_empty")]
    pub queue_urls: Vec<String>,
    #[serde(rename = "NextToken", default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Output of GetQueueAttributes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetQueueAttributesResult {
    #[serde(
        rename = "Attributes",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub attributes: BTreeMap<String, String>,
}

/// Output of SendMessage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendMessageResult {
    #[serde(rename = "MD5OfMessageBody")]
    pub md5_of_message_body: String,
    #[serde(
        rename = "MD5OfMessageAttributes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub md5_of_message_attributes: Option<String>,
    #[serde(
        rename = "MD5OfMessageSystemAttributes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub md5_of_message_system_attributes: Option<String>,
    #[serde(rename = "MessageId")]
    pub message_id: String,
    /// FIFO queues only.
    #[serde(
        rename = "SequenceNumber",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sequence_number: Option<String>,
}

/// One entry of SendMessageBatch's output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendMessageBatchResultEntry {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "MessageId")]
    pub message_id: String,
    #[serde(rename = "MD5OfMessageBody")]
    pub md5_of_message_body: String,
    #[serde(
        rename = "MD5OfMessageAttributes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub md5_of_message_attributes: Option<String>,
    #[serde(
        rename = "MD5OfMessageSystemAttributes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub md5_of_message_system_attributes: Option<String>,
    #[serde(
        rename = "SequenceNumber",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sequence_number: Option<String>,
}

/// A failed batch entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResultErrorEntry {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "SenderFault")]
    pub sender_fault: bool,
    #[serde(rename = "Code")]
    pub code: String,
    #[serde(rename = "Message", default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl BatchResultErrorEntry {
    /// The failed entry for `id` reporting `error` (code and fault as AWS reports them in
    /// batch results: the plain error code, not the legacy Query name).
    pub fn from_error(id: impl Into<String>, error: &crate::error::SqsError) -> Self {
        BatchResultErrorEntry {
            id: id.into(),
            sender_fault: error.code.sender_fault(),
            code: error.code.as_str().to_string(),
            message: Some(error.message.clone()),
        }
    }
}

/// Output of SendMessageBatch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendMessageBatchResult {
    /// Omitted from JSON when empty, as AWS does (so is `Failed`).
    #[serde(rename = "Successful", default, skip_serializing_if = "Vec::is_empty")]
    pub successful: Vec<SendMessageBatchResultEntry>,
    #[serde(rename = "Failed", default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<BatchResultErrorEntry>,
}

/// A received message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    #[serde(rename = "MessageId")]
    pub message_id: String,
    #[serde(rename = "ReceiptHandle")]
    pub receipt_handle: String,
    #[serde(rename = "MD5OfBody")]
    pub md5_of_body: String,
    #[serde(rename = "Body")]
    pub body: String,
    /// System attributes (`SentTimestamp`, `ApproximateReceiveCount`, …).
    #[serde(
        rename = "Attributes",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub attributes: BTreeMap<String, String>,
    #[serde(
        rename = "MD5OfMessageAttributes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub md5_of_message_attributes: Option<String>,
    #[serde(
        rename = "MessageAttributes",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub message_attributes: MessageAttributes,
}

/// Output of ReceiveMessage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiveMessageResult {
    /// Omitted from the output when empty, as AWS does.
    #[serde(rename = "Messages", default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<Message>,
}

/// A successful entry of DeleteMessageBatch or ChangeMessageVisibilityBatch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResultEntry {
    #[serde(rename = "Id")]
    pub id: String,
}

/// Output of DeleteMessageBatch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteMessageBatchResult {
    /// Omitted from JSON when empty, as AWS does (so is `Failed`).
    #[serde(rename = "Successful", default, skip_serializing_if = "Vec::is_empty")]
    pub successful: Vec<BatchResultEntry>,
    #[serde(rename = "Failed", default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<BatchResultErrorEntry>,
}

/// Output of ChangeMessageVisibilityBatch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeMessageVisibilityBatchResult {
    /// Omitted from JSON when empty, as AWS does (so is `Failed`).
    #[serde(rename = "Successful", default, skip_serializing_if = "Vec::is_empty")]
    pub successful: Vec<BatchResultEntry>,
    #[serde(rename = "Failed", default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<BatchResultErrorEntry>,
}

/// Output of ListQueueTags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListQueueTagsResult {
    #[serde(rename = "Tags", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// Output of ListDeadLetterSourceQueues.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListDeadLetterSourceQueuesResult {
    /// Lower-case `queueUrls`, as in the AWS model; always present.
    #[serde(rename = "queueUrls")]
    pub queue_urls: Vec<String>,
    #[serde(rename = "NextToken", default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Output of StartMessageMoveTask.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartMessageMoveTaskResult {
    #[serde(rename = "TaskHandle")]
    pub task_handle: String,
}

/// One entry of ListMessageMoveTasks's output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListMessageMoveTasksResultEntry {
    #[serde(
        rename = "TaskHandle",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub task_handle: Option<String>,
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "SourceArn")]
    pub source_arn: String,
    #[serde(
        rename = "DestinationArn",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub destination_arn: Option<String>,
    #[serde(
        rename = "MaxNumberOfMessagesPerSecond",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_number_of_messages_per_second: Option<i32>,
    #[serde(rename = "ApproximateNumberOfMessagesMoved")]
    pub approximate_number_of_messages_moved: i64,
    #[serde(
        rename = "ApproximateNumberOfMessagesToMove",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub approximate_number_of_messages_to_move: Option<i64>,
    #[serde(
        rename = "FailureReason",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub failure_reason: Option<String>,
    /// Unix milliseconds.
    #[serde(rename = "StartedTimestamp")]
    pub started_timestamp: i64,
}

/// Output of ListMessageMoveTasks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListMessageMoveTasksResult {
    #[serde(rename = "Results", default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<ListMessageMoveTasksResultEntry>,
}

/// Output of CancelMessageMoveTask.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelMessageMoveTaskResult {
    #[serde(rename = "ApproximateNumberOfMessagesMoved")]
    pub approximate_number_of_messages_moved: i64,
}

// ---------------------------------------------------------------------------------------
// Actions, requests and responses as enums
// ---------------------------------------------------------------------------------------

macro_rules! actions {
    ($($name:ident),* $(,)?) => {
        /// Every SQS action of API version 2012-11-05.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Action {
            $($name),*
        }

        impl Action {
            /// Every action, in declaration order.
            pub const ALL: &'static [Action] = &[$(Action::$name),*];

            /// The action's name, as in `X-Amz-Target: AmazonSQS.<name>` and `Action=<name>`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Action::$name => stringify!($name)),*
                }
            }

            /// The action with this exact (case-sensitive) name.
            pub fn from_name(name: &str) -> Option<Action> {
                match name {
                    $(stringify!($name) => Some(Action::$name),)*
                    _ => None,
                }
            }
        }
    };
}

actions!(
    CreateQueue,
    DeleteQueue,
    ListQueues,
    GetQueueUrl,
    GetQueueAttributes,
    SetQueueAttributes,
    SendMessage,
    SendMessageBatch,
    ReceiveMessage,
    DeleteMessage,
    DeleteMessageBatch,
    ChangeMessageVisibility,
    ChangeMessageVisibilityBatch,
    PurgeQueue,
    TagQueue,
    UntagQueue,
    ListQueueTags,
    AddPermission,
    RemovePermission,
    ListDeadLetterSourceQueues,
    StartMessageMoveTask,
    ListMessageMoveTasks,
    CancelMessageMoveTask,
);

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decoded SQS request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    CreateQueue(CreateQueueRequest),
    DeleteQueue(DeleteQueueRequest),
    ListQueues(ListQueuesRequest),
    GetQueueUrl(GetQueueUrlRequest),
    GetQueueAttributes(GetQueueAttributesRequest),
    SetQueueAttributes(SetQueueAttributesRequest),
    SendMessage(SendMessageRequest),
    SendMessageBatch(SendMessageBatchRequest),
    ReceiveMessage(ReceiveMessageRequest),
    DeleteMessage(DeleteMessageRequest),
    DeleteMessageBatch(DeleteMessageBatchRequest),
    ChangeMessageVisibility(ChangeMessageVisibilityRequest),
    ChangeMessageVisibilityBatch(ChangeMessageVisibilityBatchRequest),
    PurgeQueue(PurgeQueueRequest),
    TagQueue(TagQueueRequest),
    UntagQueue(UntagQueueRequest),
    ListQueueTags(ListQueueTagsRequest),
    AddPermission(AddPermissionRequest),
    RemovePermission(RemovePermissionRequest),
    ListDeadLetterSourceQueues(ListDeadLetterSourceQueuesRequest),
    StartMessageMoveTask(StartMessageMoveTaskRequest),
    ListMessageMoveTasks(ListMessageMoveTasksRequest),
    CancelMessageMoveTask(CancelMessageMoveTaskRequest),
}

impl Request {
    /// The request's action.
    pub fn action(&self) -> Action {
        match self {
            Request::CreateQueue(_) => Action::CreateQueue,
            Request::DeleteQueue(_) => Action::DeleteQueue,
            Request::ListQueues(_) => Action::ListQueues,
            Request::GetQueueUrl(_) => Action::GetQueueUrl,
            Request::GetQueueAttributes(_) => Action::GetQueueAttributes,
            Request::SetQueueAttributes(_) => Action::SetQueueAttributes,
            Request::SendMessage(_) => Action::SendMessage,
            Request::SendMessageBatch(_) => Action::SendMessageBatch,
            Request::ReceiveMessage(_) => Action::ReceiveMessage,
            Request::DeleteMessage(_) => Action::DeleteMessage,
            Request::DeleteMessageBatch(_) => Action::DeleteMessageBatch,
            Request::ChangeMessageVisibility(_) => Action::ChangeMessageVisibility,
            Request::ChangeMessageVisibilityBatch(_) => Action::ChangeMessageVisibilityBatch,
            Request::PurgeQueue(_) => Action::PurgeQueue,
            Request::TagQueue(_) => Action::TagQueue,
            Request::UntagQueue(_) => Action::UntagQueue,
            Request::ListQueueTags(_) => Action::ListQueueTags,
            Request::AddPermission(_) => Action::AddPermission,
            Request::RemovePermission(_) => Action::RemovePermission,
            Request::ListDeadLetterSourceQueues(_) => Action::ListDeadLetterSourceQueues,
            Request::StartMessageMoveTask(_) => Action::StartMessageMoveTask,
            Request::ListMessageMoveTasks(_) => Action::ListMessageMoveTasks,
            Request::CancelMessageMoveTask(_) => Action::CancelMessageMoveTask,
        }
    }

    /// The `QueueUrl` member, for the actions that have one.
    pub fn queue_url(&self) -> Option<&str> {
        match self {
            Request::DeleteQueue(r) => Some(&r.queue_url),
            Request::GetQueueAttributes(r) => Some(&r.queue_url),
            Request::SetQueueAttributes(r) => Some(&r.queue_url),
            Request::SendMessage(r) => Some(&r.queue_url),
            Request::SendMessageBatch(r) => Some(&r.queue_url),
            Request::ReceiveMessage(r) => Some(&r.queue_url),
            Request::DeleteMessage(r) => Some(&r.queue_url),
            Request::DeleteMessageBatch(r) => Some(&r.queue_url),
            Request::ChangeMessageVisibility(r) => Some(&r.queue_url),
            Request::ChangeMessageVisibilityBatch(r) => Some(&r.queue_url),
            Request::PurgeQueue(r) => Some(&r.queue_url),
            Request::TagQueue(r) => Some(&r.queue_url),
            Request::UntagQueue(r) => Some(&r.queue_url),
            Request::ListQueueTags(r) => Some(&r.queue_url),
            Request::AddPermission(r) => Some(&r.queue_url),
            Request::RemovePermission(r) => Some(&r.queue_url),
            Request::ListDeadLetterSourceQueues(r) => Some(&r.queue_url),
            Request::CreateQueue(_)
            | Request::ListQueues(_)
            | Request::GetQueueUrl(_)
            | Request::StartMessageMoveTask(_)
            | Request::ListMessageMoveTasks(_)
            | Request::CancelMessageMoveTask(_) => None,
        }
    }
}

/// The successful outcome of a request. Actions without output members are unit variants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    CreateQueue(CreateQueueResult),
    DeleteQueue,
    ListQueues(ListQueuesResult),
    GetQueueUrl(GetQueueUrlResult),
    GetQueueAttributes(GetQueueAttributesResult),
    SetQueueAttributes,
    SendMessage(SendMessageResult),
    SendMessageBatch(SendMessageBatchResult),
    ReceiveMessage(ReceiveMessageResult),
    DeleteMessage,
    DeleteMessageBatch(DeleteMessageBatchResult),
    ChangeMessageVisibility,
    ChangeMessageVisibilityBatch(ChangeMessageVisibilityBatchResult),
    PurgeQueue,
    TagQueue,
    UntagQueue,
    ListQueueTags(ListQueueTagsResult),
    AddPermission,
    RemovePermission,
    ListDeadLetterSourceQueues(ListDeadLetterSourceQueuesResult),
    StartMessageMoveTask(StartMessageMoveTaskResult),
    ListMessageMoveTasks(ListMessageMoveTasksResult),
    CancelMessageMoveTask(CancelMessageMoveTaskResult),
}

impl Response {
    /// The action this response answers.
    pub fn action(&self) -> Action {
        match self {
            Response::CreateQueue(_) => Action::CreateQueue,
            Response::DeleteQueue => Action::DeleteQueue,
            Response::ListQueues(_) => Action::ListQueues,
            Response::GetQueueUrl(_) => Action::GetQueueUrl,
            Response::GetQueueAttributes(_) => Action::GetQueueAttributes,
            Response::SetQueueAttributes => Action::SetQueueAttributes,
            Response::SendMessage(_) => Action::SendMessage,
            Response::SendMessageBatch(_) => Action::SendMessageBatch,
            Response::ReceiveMessage(_) => Action::ReceiveMessage,
            Response::DeleteMessage => Action::DeleteMessage,
            Response::DeleteMessageBatch(_) => Action::DeleteMessageBatch,
            Response::ChangeMessageVisibility => Action::ChangeMessageVisibility,
            Response::ChangeMessageVisibilityBatch(_) => Action::ChangeMessageVisibilityBatch,
            Response::PurgeQueue => Action::PurgeQueue,
            Response::TagQueue => Action::TagQueue,
            Response::UntagQueue => Action::UntagQueue,
            Response::ListQueueTags(_) => Action::ListQueueTags,
            Response::AddPermission => Action::AddPermission,
            Response::RemovePermission => Action::RemovePermission,
            Response::ListDeadLetterSourceQueues(_) => Action::ListDeadLetterSourceQueues,
            Response::StartMessageMoveTask(_) => Action::StartMessageMoveTask,
            Response::ListMessageMoveTasks(_) => Action::ListMessageMoveTasks,
            Response::CancelMessageMoveTask(_) => Action::CancelMessageMoveTask,
        }
    }
}
