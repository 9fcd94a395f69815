//! Builds a typed [`Request`] from either wire protocol.
//!
//! Both protocols expose their members through [`Input`]; the per-action code below is
//! written once. List and map members have different names in the two protocols
//! (JSON `Attributes` is Query `Attribute.N.Name/Value`), so those accessors take both.

use crate::api::model::*;
use crate::error::{SqsError, SqsResult};
use std::collections::BTreeMap;

/// Typed access to the members of one structure of a request.
pub(crate) trait Input: Sized {
    /// A string member; `None` when absent (or JSON `null`).
    fn string(&self, name: &str) -> SqsResult<Option<String>>;
    /// An integer member (the model's `Integer`: 32-bit signed).
    fn int(&self, name: &str) -> SqsResult<Option<i32>>;
    /// A list of strings: JSON `json: [..]`, Query `query.N`.
    fn string_list(&self, json: &str, query: &str) -> SqsResult<Option<Vec<String>>>;
    /// A string-to-string map: JSON `json: {..}`, Query `query.N.<key>` / `query.N.<value>`.
    fn string_map(
        &self,
        json: &str,
        query: &str,
        key: &str,
        value: &str,
    ) -> SqsResult<Option<BTreeMap<String, String>>>;
    /// A map of message attribute values: JSON `json: {name: {..}}`, Query
    /// `query.N.Name` / `query.N.Value.*`.
    fn attribute_map(&self, json: &str, query: &str) -> SqsResult<Option<MessageAttributes>>;
    /// A list of batch entries: JSON `json: [{..}]`, Query `query.N.*`. More than a
    /// batch may hold is `TooManyEntriesInBatchRequest` before any entry is built
    /// ([`crate::api::validate::batch_size`]).
    fn structs(&self, json: &str, query: &str) -> SqsResult<Option<Vec<Self>>>;
    /// How this protocol names a member in error messages.
    fn path(&self, name: &str) -> String;
}

fn required<T, I: Input>(input: &I, name: &str, value: Option<T>) -> SqsResult<T> {
    value.ok_or_else(|| SqsError::missing_parameter(&input.path(name)))
}

fn req_string<I: Input>(input: &I, name: &str) -> SqsResult<String> {
    required(input, name, input.string(name)?)
}

/// Decodes the members of `action`'s input structure.
pub(crate) fn decode<I: Input>(action: Action, i: &I) -> SqsResult<Request> {
    Ok(match action {
        Action::CreateQueue => Request::CreateQueue(CreateQueueRequest {
            queue_name: req_string(i, "QueueName")?,
            attributes: i
                .string_map("Attributes", "Attribute", "Name", "Value")?
                .unwrap_or_default(),
            tags: i
                .string_map("tags", "Tag", "Key", "Value")?
                .unwrap_or_default(),
        }),
        Action::DeleteQueue => Request::DeleteQueue(DeleteQueueRequest {
            queue_url: req_string(i, "QueueUrl")?,
        }),
        Action::ListQueues => Request::ListQueues(ListQueuesRequest {
            queue_name_prefix: i.string("QueueNamePrefix")?,
            next_token: i.string("NextToken")?,
            max_results: i.int("MaxResults")?,
        }),
        Action::GetQueueUrl => Request::GetQueueUrl(GetQueueUrlRequest {
            queue_name: req_string(i, "QueueName")?,
            queue_owner_aws_account_id: i.string("QueueOwnerAWSAccountId")?,
        }),
        Action::GetQueueAttributes => Request::GetQueueAttributes(GetQueueAttributesRequest {
            queue_url: req_string(i, "QueueUrl")?,
            attribute_names: i
                .string_list("AttributeNames", "AttributeName")?
                .unwrap_or_default(),
        }),
        Action::SetQueueAttributes => Request::SetQueueAttributes(SetQueueAttributesRequest {
            queue_url: req_string(i, "QueueUrl")?,
            attributes: required(
                i,
                "Attributes",
                i.string_map("Attributes", "Attribute", "Name", "Value")?,
            )?,
        }),
        Action::SendMessage => Request::SendMessage(SendMessageRequest {
            queue_url: req_string(i, "QueueUrl")?,
            message_body: req_string(i, "MessageBody")?,
            delay_seconds: i.int("DelaySeconds")?,
            message_attributes: i
                .attribute_map("MessageAttributes", "MessageAttribute")?
                .unwrap_or_default(),
            message_system_attributes: i
                .attribute_map("MessageSystemAttributes", "MessageSystemAttribute")?
                .unwrap_or_default(),
            message_deduplication_id: i.string("MessageDeduplicationId")?,
            message_group_id: i.string("MessageGroupId")?,
        }),
        Action::SendMessageBatch => Request::SendMessageBatch(SendMessageBatchRequest {
            queue_url: req_string(i, "QueueUrl")?,
            entries: i
                .structs("Entries", "SendMessageBatchRequestEntry")?
                .unwrap_or_default()
                .iter()
                .map(|e| {
                    Ok(SendMessageBatchRequestEntry {
                        id: req_string(e, "Id")?,
                        message_body: req_string(e, "MessageBody")?,
                        delay_seconds: e.int("DelaySeconds")?,
                        message_attributes: e
                            .attribute_map("MessageAttributes", "MessageAttribute")?
                            .unwrap_or_default(),
                        message_system_attributes: e
                            .attribute_map("MessageSystemAttributes", "MessageSystemAttribute")?
                            .unwrap_or_default(),
                        message_deduplication_id: e.string("MessageDeduplicationId")?,
                        message_group_id: e.string("MessageGroupId")?,
                    })
                })
                .collect::<SqsResult<_>>()?,
        }),
        Action::ReceiveMessage => Request::ReceiveMessage(ReceiveMessageRequest {
            queue_url: req_string(i, "QueueUrl")?,
            attribute_names: i
                .string_list("AttributeNames", "AttributeName")?
                .unwrap_or_default(),
            message_system_attribute_names: i
                .string_list("MessageSystemAttributeNames", "MessageSystemAttributeName")?
                .unwrap_or_default(),
            message_attribute_names: i
                .string_list("MessageAttributeNames", "MessageAttributeName")?
                .unwrap_or_default(),
            max_number_of_messages: i.int("MaxNumberOfMessages")?,
            visibility_timeout: i.int("VisibilityTimeout")?,
            wait_time_seconds: i.int("WaitTimeSeconds")?,
            receive_request_attempt_id: i.string("ReceiveRequestAttemptId")?,
        }),
        Action::DeleteMessage => Request::DeleteMessage(DeleteMessageRequest {
            queue_url: req_string(i, "QueueUrl")?,
            receipt_handle: req_string(i, "ReceiptHandle")?,
        }),
        Action::DeleteMessageBatch => Request::DeleteMessageBatch(DeleteMessageBatchRequest {
            queue_url: req_string(i, "QueueUrl")?,
            entries: i
                .structs("Entries", "DeleteMessageBatchRequestEntry")?
                .unwrap_or_default()
                .iter()
                .map(|e| {
                    Ok(DeleteMessageBatchRequestEntry {
                        id: req_string(e, "Id")?,
                        receipt_handle: req_string(e, "ReceiptHandle")?,
                    })
                })
                .collect::<SqsResult<_>>()?,
        }),
        Action::ChangeMessageVisibility => {
            Request::ChangeMessageVisibility(ChangeMessageVisibilityRequest {
                queue_url: req_string(i, "QueueUrl")?,
                receipt_handle: req_string(i, "ReceiptHandle")?,
                visibility_timeout: required(i, "VisibilityTimeout", i.int("VisibilityTimeout")?)?,
            })
        }
        Action::ChangeMessageVisibilityBatch => {
            Request::ChangeMessageVisibilityBatch(ChangeMessageVisibilityBatchRequest {
                queue_url: req_string(i, "QueueUrl")?,
                entries: i
                    .structs("Entries", "ChangeMessageVisibilityBatchRequestEntry")?
                    .unwrap_or_default()
                    .iter()
                    .map(|e| {
                        Ok(ChangeMessageVisibilityBatchRequestEntry {
                            id: req_string(e, "Id")?,
                            receipt_handle: req_string(e, "ReceiptHandle")?,
                            visibility_timeout: e.int("VisibilityTimeout")?,
                        })
                    })
                    .collect::<SqsResult<_>>()?,
            })
        }
        Action::PurgeQueue => Request::PurgeQueue(PurgeQueueRequest {
            queue_url: req_string(i, "QueueUrl")?,
        }),
        Action::TagQueue => Request::TagQueue(TagQueueRequest {
            queue_url: req_string(i, "QueueUrl")?,
            tags: required(i, "Tags", i.string_map("Tags", "Tag", "Key", "Value")?)?,
        }),
        Action::UntagQueue => Request::UntagQueue(UntagQueueRequest {
            queue_url: req_string(i, "QueueUrl")?,
            tag_keys: required(i, "TagKeys", i.string_list("TagKeys", "TagKey")?)?,
        }),
        Action::ListQueueTags => Request::ListQueueTags(ListQueueTagsRequest {
            queue_url: req_string(i, "QueueUrl")?,
        }),
        Action::AddPermission => Request::AddPermission(AddPermissionRequest {
            queue_url: req_string(i, "QueueUrl")?,
            label: req_string(i, "Label")?,
            aws_account_ids: required(
                i,
                "AWSAccountIds",
                i.string_list("AWSAccountIds", "AWSAccountId")?,
            )?,
            actions: required(i, "Actions", i.string_list("Actions", "ActionName")?)?,
        }),
        Action::RemovePermission => Request::RemovePermission(RemovePermissionRequest {
            queue_url: req_string(i, "QueueUrl")?,
            label: req_string(i, "Label")?,
        }),
        Action::ListDeadLetterSourceQueues => {
            Request::ListDeadLetterSourceQueues(ListDeadLetterSourceQueuesRequest {
                queue_url: req_string(i, "QueueUrl")?,
                next_token: i.string("NextToken")?,
                max_results: i.int("MaxResults")?,
            })
        }
        Action::StartMessageMoveTask => {
            Request::StartMessageMoveTask(StartMessageMoveTaskRequest {
                source_arn: req_string(i, "SourceArn")?,
                destination_arn: i.string("DestinationArn")?,
                max_number_of_messages_per_second: i.int("MaxNumberOfMessagesPerSecond")?,
            })
        }
        Action::ListMessageMoveTasks => {
            Request::ListMessageMoveTasks(ListMessageMoveTasksRequest {
                source_arn: req_string(i, "SourceArn")?,
                max_results: i.int("MaxResults")?,
            })
        }
        Action::CancelMessageMoveTask => {
            Request::CancelMessageMoveTask(CancelMessageMoveTaskRequest {
                task_handle: req_string(i, "TaskHandle")?,
            })
        }
    })
}
