//! The messages of SQS errors, worded as AWS words them: the one table every call site
//! takes its error text from (the error code stays at the call site).
//!
//! Texts with a value in them are functions; where the Query protocol words a message
//! differently from JSON, [`for_query`] gives the Query form.

use super::{ErrorCode, SqsError};

/// `QueueDoesNotExist` over JSON.
pub const QUEUE_DOES_NOT_EXIST: &str = "The specified queue does not exist.";
/// `QueueDoesNotExist` over Query (`AWS.SimpleQueueService.NonExistentQueue`).
const QUEUE_DOES_NOT_EXIST_QUERY: &str =
    "The specified queue does not exist for this wsdl version.";
/// `QueueNameExists` (`QueueAlreadyExists` over Query).
pub const QUEUE_NAME_EXISTS: &str =
    "A queue already exists with the same name and a different value for attribute(s).";
/// `MessageNotInflight`.
pub const MESSAGE_NOT_INFLIGHT: &str = "The message is not in flight.";
/// A NextToken this server did not issue.
pub const INVALID_NEXT_TOKEN: &str = "Invalid NextToken value.";
/// MaxResults of ListQueues / ListDeadLetterSourceQueues out of range.
pub const MAX_RESULTS: &str = "Value for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.";
/// A Query request without `Action`.
pub const MISSING_ACTION: &str = "The request must contain the parameter Action.";

/// `MissingParameter`: a required parameter is absent.
pub fn missing_parameter(name: &str) -> String {
    format!("The request must contain the parameter {name}.")
}

/// `InvalidParameterValue`: an optional number outside its range.
pub fn out_of_range(name: &str, value: i64, min: i64, max: i64) -> String {
    format!(
        "Value {value} for parameter {name} is invalid. Reason: Must be between {min} and {max}, if provided."
    )
}

/// `InvalidAttributeValue`: a queue attribute's value is not one it may take.
pub fn invalid_attribute_value(name: &str) -> String {
    format!("Invalid value for the parameter {name}.")
}

/// `InvalidAttributeName`: no such queue attribute.
pub fn unknown_attribute(name: &str) -> String {
    format!("Unknown Attribute {name}.")
}

/// `InvalidAction`: an action this endpoint does not serve.
pub fn invalid_action(action: &str) -> String {
    format!("The action {action} is not valid for this endpoint.")
}

/// `ReceiptHandleIsInvalid`: `handle` (as sent) is not a receipt handle.
pub fn receipt_handle_invalid(handle: &str) -> String {
    format!("The input receipt handle \"{handle}\" is not a valid receipt handle.")
}

/// `InvalidParameterValue`: ChangeMessageVisibility with the handle (as sent) of a message
/// that is gone or was received again.
pub fn not_available_for_visibility_change(handle: &str) -> String {
    format!(
        "Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change."
    )
}

/// `InvalidParameterValue`: RemovePermission of a label the policy does not have.
pub fn label_not_found(label: &str) -> String {
    format!("Value {label} for parameter Label is invalid. Reason: can't find label.")
}

/// `InvalidParameterValue`: AddPermission of a label the policy already has.
pub fn label_exists(label: &str) -> String {
    format!("Value {label} for parameter Label is invalid. Reason: Already exists.")
}

// Queues and their attributes.

/// A standard queue name that is not 1–80 characters of `[A-Za-z0-9_-]`.
pub const QUEUE_NAME_INVALID: &str =
    "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length";
/// A FIFO queue name (or FifoQueue=true) that breaks the FIFO naming rule.
pub const FIFO_QUEUE_NAME_INVALID: &str = "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.";
/// ListQueues / ListDeadLetterSourceQueues with NextToken but no MaxResults.
pub const NEXT_TOKEN_WITHOUT_MAX_RESULTS: &str =
    "MaxResults is a mandatory parameter when you provide a value for NextToken.";
/// The stored Policy attribute cannot be read.
pub const POLICY_NOT_JSON: &str = "The queue's Policy attribute is not valid JSON.";
/// RedrivePolicy naming a queue that does not exist.
pub const DEAD_LETTER_TARGET_MISSING: &str = "Dead letter target does not exist.";
/// RedrivePolicy naming the queue itself.
pub const DEAD_LETTER_TARGET_SELF: &str = "A queue cannot be its own dead-letter queue.";
/// RedrivePolicy naming a queue of the other type.
pub const DEAD_LETTER_TARGET_TYPE: &str =
    "Dead-letter queue must be the same type of queue as the source.";

/// `InvalidAttributeName`: an attribute only CreateQueue may set.
pub fn set_only_at_creation(attribute: &str) -> String {
    format!("Attribute {attribute} can only be set when the queue is created.")
}

/// SetQueueAttributes FifoQueue=false on a FIFO queue.
pub const QUEUE_TYPE_IMMUTABLE: &str = "Modifying queue type is not supported.";

/// `InvalidParameterValue`: a RedrivePolicy refused for `reason`.
pub fn redrive_policy_invalid(policy: &str, reason: &str) -> String {
    format!("Value {policy} for parameter RedrivePolicy is invalid. Reason: {reason}")
}

/// `PurgeQueueInProgress`.
pub fn purge_in_progress(queue: &str) -> String {
    format!("Only one PurgeQueue operation on {queue} is allowed every 60 seconds.")
}

/// TagQueue beyond the most tags a queue may have.
pub fn too_many_tags(max: usize) -> String {
    format!("Too many tags added for queue; a queue can have at most {max} tags.")
}

/// A tag key of the wrong length.
pub fn tag_key_length(key: &str) -> String {
    format!("Tag key {key:?} must be 1 to 128 characters.")
}

/// A tag key in AWS's reserved namespace.
pub const TAG_KEY_RESERVED: &str = "Tag keys must not start with the reserved prefix aws:.";

/// A tag value over 256 characters.
pub fn tag_value_too_long(key: &str) -> String {
    format!("Tag value for {key:?} exceeds 256 characters.")
}

/// `OverLimit`: AddPermission beyond the most statements a policy may hold.
pub fn too_many_permissions(max: usize) -> String {
    format!("{max} Actions were found, maximum allowed is {max}.")
}

// Batches.

/// `InvalidBatchEntryId`.
pub const BATCH_ENTRY_ID_INVALID: &str = "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.";

/// `EmptyBatchRequest`; `entry` names the entry type.
pub fn empty_batch(entry: &str) -> String {
    format!("There should be at least one {entry} in the request.")
}

/// `TooManyEntriesInBatchRequest`.
pub fn too_many_entries(max: usize, sent: usize) -> String {
    format!("Maximum number of entries per request are {max}. You have sent {sent}.")
}

/// `BatchEntryIdsNotDistinct`.
pub fn id_repeated(id: &str) -> String {
    format!("Id {id} repeated.")
}

/// `BatchRequestTooLong`.
pub fn batch_too_long(max: usize, sent: usize) -> String {
    format!("Batch requests cannot be longer than {max} bytes. You have sent {sent} bytes.")
}

// Messages.

/// The characters SQS allows in bodies and string attribute values.
const ALLOWED_CHARACTERS: &str =
    "#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF";

/// `InvalidMessageContents`: a body character outside [`ALLOWED_CHARACTERS`].
pub fn body_character_invalid(c: char) -> String {
    format!(
        "Invalid binary character '#x{:X}' was found in the message body, the set of allowed characters is {ALLOWED_CHARACTERS}",
        u32::from(c)
    )
}

/// A message attribute value character outside [`ALLOWED_CHARACTERS`].
pub fn attribute_character_invalid(name: &str, c: char) -> String {
    format!(
        "Invalid binary character '#x{:X}' was found in the value of message attribute '{name}', the set of allowed characters is {ALLOWED_CHARACTERS}",
        u32::from(c)
    )
}

/// A message over the queue's MaximumMessageSize.
pub fn message_too_long(max: u64) -> String {
    format!("One or more parameters are invalid. Reason: Message must be shorter than {max} bytes.")
}

/// A deduplication or group id that is not 1–128 printable ASCII characters.
pub fn token_invalid(name: &str, value: &str) -> String {
    format!(
        "Value {value} for parameter {name} is invalid. Reason: It must be 1 to 128 characters of alphanumeric and punctuation characters."
    )
}

/// A FIFO send without a deduplication id to a queue without content-based deduplication.
pub const DEDUPLICATION_ID_REQUIRED: &str = "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly";
/// A per-message DelaySeconds on a FIFO queue.
pub const DELAY_NOT_FOR_FIFO: &str = "Value for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.";
/// A MessageDeduplicationId on a standard queue.
pub const DEDUPLICATION_ID_NOT_FOR_STANDARD: &str = "Value for parameter MessageDeduplicationId is invalid. Reason: The request includes a parameter that is not valid for this queue type.";
/// `ReceiptHandleIsInvalid` for a handle of another queue.
pub const RECEIPT_HANDLE_OF_ANOTHER_QUEUE: &str = "The input receipt handle is invalid.";
/// `OverLimit`: the queue's in-flight limit is reached.
pub const TOO_MANY_IN_FLIGHT: &str = "The maximum number of in flight messages is reached.";

// Message attributes.

/// A message attribute name refused for `reason`.
pub fn attribute_name_invalid(name: &str, reason: &str) -> String {
    format!("Message attribute name '{name}' is invalid. {reason}")
}

/// An empty message attribute name.
pub const ATTRIBUTE_NAME_EMPTY: &str = "Message attribute name must not be empty.";
/// Reasons for [`attribute_name_invalid`].
pub const ATTRIBUTE_NAME_TOO_LONG: &str = "The name must be at most 256 characters long.";
pub const ATTRIBUTE_NAME_CHARACTERS: &str =
    "The name can only contain alphanumeric characters, hyphens, underscores and periods.";
pub const ATTRIBUTE_NAME_PERIODS: &str =
    "The name must not start or end with a period, nor contain two successive periods.";
pub const ATTRIBUTE_NAME_RESERVED: &str = "The prefixes AWS. and Amazon. are reserved.";

/// A message attribute without a data type.
pub fn attribute_type_missing(name: &str) -> String {
    format!("The message attribute '{name}' must contain non-empty message attribute type.")
}

/// A message attribute data type that is not `String`, `Number` or `Binary` (+ label).
pub fn attribute_type_invalid(name: &str) -> String {
    format!(
        "The type of message attribute '{name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String."
    )
}

/// A message attribute with list values.
pub fn attribute_lists_unsupported(name: &str) -> String {
    format!("Message attribute '{name}': StringListValues and BinaryListValues are not supported.")
}

/// A message attribute whose value of its type is empty.
pub fn attribute_value_empty(name: &str, data_type: &str) -> String {
    format!(
        "Message attribute '{name}' must contain a non-empty value of message attribute type '{data_type}'."
    )
}

/// A `Number` attribute whose value is not a number.
pub fn attribute_not_a_number(name: &str) -> String {
    format!("Can't cast the value of message (user) attribute '{name}' to a number.")
}

/// A message attribute whose value is in the other type's field.
pub fn attribute_field_mismatch(name: &str, data_type: &str, field: &str) -> String {
    format!("Message attribute '{name}' with type '{data_type}' must use field '{field}'.")
}

/// More message attributes than a message may carry.
pub fn too_many_attributes(count: usize, max: usize) -> String {
    format!("Number of message attributes [{count}] exceeds the allowed maximum [{max}].")
}

/// A message system attribute other than AWSTraceHeader.
pub fn system_attribute_name_invalid(name: &str) -> String {
    format!("Message system attribute name '{name}' is invalid.")
}

/// A message system attribute that is not a non-empty String.
pub fn system_attribute_value_invalid(name: &str) -> String {
    format!(
        "Message system attribute '{name}' must have DataType 'String' and a non-empty StringValue."
    )
}

/// A Query map key given twice.
pub fn map_key_repeated(parameter: &str, key: &str) -> String {
    format!("{parameter} {key} appears more than once in the request.")
}

/// A Query message attribute name given twice.
pub fn attribute_name_repeated(name: &str) -> String {
    format!("Message attribute name '{name}' is specified more than once.")
}

// Message move tasks.

/// `ResourceNotFoundException`: the queue a move task's SourceArn or DestinationArn names
/// does not exist.
pub fn resource_missing(parameter: &str) -> String {
    format!("The resource that you specified for the {parameter} parameter doesn't exist.")
}
/// A move task from a queue that is no queue's dead-letter queue.
pub const MOVE_SOURCE_NOT_DEAD_LETTER: &str =
    "Source queue must be configured as a Dead Letter Queue.";
/// A second active move task on one source.
pub const MOVE_TASK_ACTIVE: &str = "There is already a task running. Only one active task is allowed for a source queue arn at a given time.";
/// CancelMessageMoveTask of a task that is not running.
pub const MOVE_TASK_NOT_RUNNING: &str = "Task does not exist.";
/// A TaskHandle this server did not issue.
pub const TASK_HANDLE_INVALID: &str = "Value for parameter TaskHandle is invalid.";
/// ListMessageMoveTasks MaxResults out of range.
pub const MOVE_TASKS_MAX_RESULTS: &str = "MaxResults must be between 1 and 10.";

// Protocol.

/// A Query parameter that is not UTF-8.
pub const QUERY_NOT_UTF8: &str = "The request contains a parameter that is not valid UTF-8.";
/// A request body over the size limit (`413`, plain text, as AWS's front end words it).
pub fn content_length_exceeded(max: usize) -> String {
    format!("HTTP content length exceeded {max} bytes.")
}
/// A request body that did not arrive whole in time (`408`, plain text).
pub const BODY_TIMED_OUT: &str = "The request body did not arrive in time.";
/// A request body cut off by the client (`400`, plain text).
pub const BODY_BROKEN: &str = "The request body ended before its announced length.";

/// A Query binary parameter that is not base64.
pub fn not_base64(parameter: &str) -> String {
    format!("Value for parameter {parameter} is invalid. Reason: not valid base64-encoded data.")
}

/// A Query integer parameter that is not an integer.
pub fn not_an_integer(parameter: &str, value: &str) -> String {
    format!("Value {value} for parameter {parameter} is invalid. Reason: must be an integer.")
}

/// An ARN parameter that is not an SQS queue ARN.
pub fn queue_arn_invalid(arn: &str) -> String {
    format!("{arn} is not a valid queue ARN.")
}

/// The message of `error` as the Query protocol words it.
pub fn for_query(error: &SqsError) -> &str {
    match error.code {
        ErrorCode::QueueDoesNotExist if error.message == QUEUE_DOES_NOT_EXIST => {
            QUEUE_DOES_NOT_EXIST_QUERY
        }
        _ => &error.message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_read_as_aws_writes_them() {
        assert_eq!(
            out_of_range("MaxNumberOfMessages", 11, 1, 10),
            "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."
        );
        assert_eq!(
            invalid_action("FooBar"),
            "The action FooBar is not valid for this endpoint."
        );
        assert_eq!(
            receipt_handle_invalid("X"),
            "The input receipt handle \"X\" is not a valid receipt handle."
        );
        assert!(label_not_found("l").ends_with("Reason: can't find label."));
    }

    #[test]
    fn the_query_protocol_words_a_missing_queue_for_its_wsdl_version() {
        let missing = SqsError::queue_does_not_exist();
        assert_eq!(missing.message, QUEUE_DOES_NOT_EXIST);
        assert_eq!(for_query(&missing), QUEUE_DOES_NOT_EXIST_QUERY);
        let other = SqsError::invalid_parameter("x");
        assert_eq!(for_query(&other), "x");
    }
}
