//! Syntax checks that need no state: names, ids, character sets, ranges and batch shape.
//!
//! Everything that depends on a queue (its existence, FIFO-ness, `MaximumMessageSize`,
//! receipt handles, …) is checked in apply, never here.

use crate::api::model::*;
use crate::error::{ErrorCode, SqsError, SqsResult, texts};
use std::collections::HashSet;

/// Most entries a batch request may carry.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// Most bytes (bodies and attributes) one SendMessageBatch may carry.
pub const MAX_BATCH_BYTES: usize = 1_048_576;
/// Most message attributes one message may carry.
pub const MAX_MESSAGE_ATTRIBUTES: usize = 10;
/// Longest queue name, `.fifo` included.
pub const MAX_QUEUE_NAME_LEN: usize = 80;
/// Longest batch entry id.
pub const MAX_BATCH_ID_LEN: usize = 80;
/// Longest message attribute name and data type.
pub const MAX_ATTRIBUTE_NAME_LEN: usize = 256;
/// Largest `VisibilityTimeout` in seconds (12 hours).
pub const MAX_VISIBILITY_TIMEOUT: i32 = 43_200;
/// Largest `DelaySeconds` (15 minutes).
pub const MAX_DELAY_SECONDS: i32 = 900;
/// Largest `WaitTimeSeconds`.
pub const MAX_WAIT_TIME_SECONDS: i32 = 20;
/// Largest `MaxNumberOfMessages`.
pub const MAX_RECEIVE_MESSAGES: i32 = 10;
/// Longest `MessageGroupId`, `MessageDeduplicationId` and `ReceiveRequestAttemptId`.
pub const MAX_FIFO_TOKEN_LEN: usize = 128;

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Checks a queue name: 1–80 characters of `[A-Za-z0-9_-]`, where a FIFO queue's name
/// ends in `.fifo` (counted in the 80). Returns whether the name is a FIFO name.
pub fn queue_name(name: &str) -> SqsResult<bool> {
    let (stem, fifo) = match name.strip_suffix(".fifo") {
        Some(stem) => (stem, true),
        None => (name, false),
    };
    if stem.is_empty() || name.len() > MAX_QUEUE_NAME_LEN || !stem.bytes().all(is_name_byte) {
        return Err(SqsError::invalid_parameter(texts::QUEUE_NAME_INVALID));
    }
    Ok(fifo)
}

/// Checks a batch entry id: 1–80 characters of `[A-Za-z0-9_-]`.
pub fn batch_entry_id(id: &str) -> SqsResult<()> {
    if id.is_empty() || id.len() > MAX_BATCH_ID_LEN || !id.bytes().all(is_name_byte) {
        return Err(SqsError::new(
            ErrorCode::InvalidBatchEntryId,
            texts::BATCH_ENTRY_ID_INVALID,
        ));
    }
    Ok(())
}

/// `TooManyEntriesInBatchRequest` when a batch has more than ten entries. The decoders
/// call it with the count of entries sent before they build any, so a batch of 100,000
/// entries costs no more than its body.
pub fn batch_size(sent: usize) -> SqsResult<()> {
    if sent > MAX_BATCH_ENTRIES {
        return Err(SqsError::new(
            ErrorCode::TooManyEntriesInBatchRequest,
            texts::too_many_entries(MAX_BATCH_ENTRIES, sent),
        ));
    }
    Ok(())
}

/// Checks a batch's entry ids as a whole: at least one entry, at most ten, every id
/// well-formed and distinct. `entry` names the entry type for the messages.
pub fn batch_ids<'a>(entry: &str, ids: impl IntoIterator<Item = &'a str>) -> SqsResult<()> {
    let ids: Vec<&str> = ids.into_iter().collect();
    if ids.is_empty() {
        return Err(SqsError::new(
            ErrorCode::EmptyBatchRequest,
            texts::empty_batch(entry),
        ));
    }
    batch_size(ids.len())?;
    let mut seen = HashSet::new();
    for id in ids {
        batch_entry_id(id)?;
        if !seen.insert(id) {
            return Err(SqsError::new(
                ErrorCode::BatchEntryIdsNotDistinct,
                texts::id_repeated(id),
            ));
        }
    }
    Ok(())
}

/// Whether SQS accepts this character in a message body or string attribute value:
/// `#x9 | #xA | #xD | #x20–#xD7FF | #xE000–#xFFFD | #x10000–#x10FFFF`.
pub fn is_allowed_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

fn first_disallowed(s: &str) -> Option<char> {
    s.chars().find(|&c| !is_allowed_char(c))
}

/// Checks a message body: non-empty, and only characters SQS allows.
pub fn message_body(body: &str) -> SqsResult<()> {
    if body.is_empty() {
        return Err(SqsError::missing_parameter("MessageBody"));
    }
    if let Some(c) = first_disallowed(body) {
        return Err(SqsError::new(
            ErrorCode::InvalidMessageContents,
            texts::body_character_invalid(c),
        ));
    }
    Ok(())
}

/// Checks a message attribute name: 1–256 characters, each a letter or digit (any
/// script: AWS accepts e.g. `attr.1øßä`), `_`, `-` or `.`; no leading, trailing or doubled
/// `.`, and not starting with `AWS.` or `Amazon.` (any case).
pub fn message_attribute_name(name: &str) -> SqsResult<()> {
    let invalid = |reason: &str| {
        Err(SqsError::invalid_parameter(texts::attribute_name_invalid(
            name, reason,
        )))
    };
    if name.is_empty() {
        return Err(SqsError::invalid_parameter(texts::ATTRIBUTE_NAME_EMPTY));
    }
    if name.chars().count() > MAX_ATTRIBUTE_NAME_LEN {
        return invalid(texts::ATTRIBUTE_NAME_TOO_LONG);
    }
    if !name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return invalid(texts::ATTRIBUTE_NAME_CHARACTERS);
    }
    if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        return invalid(texts::ATTRIBUTE_NAME_PERIODS);
    }
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("aws.") || lower.starts_with("amazon.") {
        return invalid(texts::ATTRIBUTE_NAME_RESERVED);
    }
    Ok(())
}

/// The base type of a message attribute data type (`String`, `Number` or `Binary`,
/// optionally followed by `.<custom label>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseType {
    String,
    Number,
    Binary,
}

/// Checks a message attribute data type and returns its base type.
pub fn data_type(name: &str, data_type: &str) -> SqsResult<BaseType> {
    if data_type.is_empty() {
        return Err(SqsError::invalid_parameter(texts::attribute_type_missing(
            name,
        )));
    }
    let (base, custom) = match data_type.split_once('.') {
        Some((base, custom)) => (base, Some(custom)),
        None => (data_type, None),
    };
    let base = match base {
        "String" => Some(BaseType::String),
        "Number" => Some(BaseType::Number),
        "Binary" => Some(BaseType::Binary),
        _ => None,
    };
    let custom_ok =
        custom.is_none_or(|c| !c.is_empty() && c.bytes().all(|b| is_name_byte(b) || b == b'.'));
    match base {
        Some(base) if custom_ok && data_type.len() <= MAX_ATTRIBUTE_NAME_LEN => Ok(base),
        _ => Err(SqsError::invalid_parameter(texts::attribute_type_invalid(
            name,
        ))),
    }
}

/// Whether `s` is a decimal number as SQS's `Number` type accepts it: optional sign,
/// digits with an optional fraction, optional exponent, at most 38 significant digits.
pub fn is_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let mut digits = 0usize;
    let mut significant = 0usize;
    let mut leading = true;
    let mut dot = false;
    while i < b.len() && (b[i].is_ascii_digit() || (b[i] == b'.' && !dot)) {
        if b[i] == b'.' {
            dot = true;
        } else {
            digits += 1;
            if b[i] != b'0' {
                leading = false;
            }
            if !leading {
                significant += 1;
            }
        }
        i += 1;
    }
    if digits == 0 || significant > 38 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || i - start > 3 {
            return false;
        }
    }
    i == b.len()
}

/// Checks one message attribute: name, data type, and exactly the value member its
/// type calls for, with allowed characters only.
pub fn message_attribute(name: &str, value: &MessageAttributeValue) -> SqsResult<()> {
    message_attribute_name(name)?;
    let base = data_type(name, &value.data_type)?;
    let has_list = !value.string_list_values.is_empty() || !value.binary_list_values.is_empty();
    if has_list {
        return Err(SqsError::invalid_parameter(
            texts::attribute_lists_unsupported(name),
        ));
    }
    match (base, &value.string_value, &value.binary_value) {
        (BaseType::String | BaseType::Number, Some(s), None) => {
            if s.is_empty() {
                return Err(SqsError::invalid_parameter(texts::attribute_value_empty(
                    name,
                    &value.data_type,
                )));
            }
            if let Some(c) = first_disallowed(s) {
                // AWS reports this as InvalidParameterValue (InvalidMessageContents is
                // for the body only).
                return Err(SqsError::invalid_parameter(
                    texts::attribute_character_invalid(name, c),
                ));
            }
            if base == BaseType::Number && !is_number(s) {
                return Err(SqsError::invalid_parameter(texts::attribute_not_a_number(
                    name,
                )));
            }
            Ok(())
        }
        (BaseType::Binary, None, Some(b)) if !b.is_empty() => Ok(()),
        (BaseType::Binary, None, Some(_)) => Err(SqsError::invalid_parameter(
            texts::attribute_value_empty(name, "Binary"),
        )),
        (base, _, _) => {
            let field = if base == BaseType::Binary {
                "Binary"
            } else {
                "String"
            };
            Err(SqsError::invalid_parameter(
                texts::attribute_field_mismatch(name, &value.data_type, field),
            ))
        }
    }
}

/// Checks a message's attributes: at most ten, each valid.
pub fn message_attributes(attributes: &MessageAttributes) -> SqsResult<()> {
    if attributes.len() > MAX_MESSAGE_ATTRIBUTES {
        return Err(SqsError::invalid_parameter(texts::too_many_attributes(
            attributes.len(),
            MAX_MESSAGE_ATTRIBUTES,
        )));
    }
    for (name, value) in attributes {
        message_attribute(name, value)?;
    }
    Ok(())
}

/// Checks message system attributes: only `AWSTraceHeader`, a `String`.
pub fn message_system_attributes(attributes: &MessageAttributes) -> SqsResult<()> {
    for (name, value) in attributes {
        if name != "AWSTraceHeader" {
            return Err(SqsError::invalid_parameter(
                texts::system_attribute_name_invalid(name),
            ));
        }
        if value.data_type != "String" || value.string_value.as_deref().is_none_or(str::is_empty) {
            return Err(SqsError::invalid_parameter(
                texts::system_attribute_value_invalid(name),
            ));
        }
    }
    Ok(())
}

/// The size SQS counts against `MaximumMessageSize`: the body's UTF-8 bytes plus, per
/// attribute, the name, data type and value bytes.
pub fn message_size(body: &str, attributes: &MessageAttributes) -> usize {
    body.len()
        + attributes
            .iter()
            .map(|(name, v)| {
                name.len()
                    + v.data_type.len()
                    + v.string_value.as_ref().map_or(0, String::len)
                    + v.binary_value.as_ref().map_or(0, Vec::len)
                    + v.string_list_values.iter().map(String::len).sum::<usize>()
                    + v.binary_list_values.iter().map(Vec::len).sum::<usize>()
            })
            .sum::<usize>()
}

fn range(name: &str, value: Option<i32>, min: i32, max: i32) -> SqsResult<()> {
    match value {
        Some(v) if v < min || v > max => Err(SqsError::invalid_parameter(texts::out_of_range(
            name,
            v.into(),
            min.into(),
            max.into(),
        ))),
        _ => Ok(()),
    }
}

fn token(name: &str, value: Option<&str>) -> SqsResult<()> {
    match value {
        Some(v)
            if v.is_empty()
                || v.len() > MAX_FIFO_TOKEN_LEN
                || !v.bytes().all(|b| (0x21..=0x7e).contains(&b)) =>
        {
            Err(SqsError::invalid_parameter(texts::token_invalid(name, v)))
        }
        _ => Ok(()),
    }
}

/// The checks of one message to send (SendMessage, or one SendMessageBatch entry):
/// body characters, delay range, attributes, and the FIFO tokens' syntax.
pub fn send_entry(
    body: &str,
    delay_seconds: Option<i32>,
    attributes: &MessageAttributes,
    system_attributes: &MessageAttributes,
    group_id: Option<&str>,
    dedup_id: Option<&str>,
) -> SqsResult<()> {
    message_body(body)?;
    range("DelaySeconds", delay_seconds, 0, MAX_DELAY_SECONDS)?;
    message_attributes(attributes)?;
    message_system_attributes(system_attributes)?;
    token("MessageGroupId", group_id)?;
    token("MessageDeduplicationId", dedup_id)
}

/// Checks one SendMessageBatch entry (its failure goes to the batch's `Failed` list).
pub fn send_batch_entry(e: &SendMessageBatchRequestEntry) -> SqsResult<()> {
    send_entry(
        &e.message_body,
        e.delay_seconds,
        &e.message_attributes,
        &e.message_system_attributes,
        e.message_group_id.as_deref(),
        e.message_deduplication_id.as_deref(),
    )
}

/// Checks one ChangeMessageVisibilityBatch entry's timeout (0 to 43200 seconds).
pub fn visibility_entry(e: &ChangeMessageVisibilityBatchRequestEntry) -> SqsResult<()> {
    range(
        "VisibilityTimeout",
        e.visibility_timeout,
        0,
        MAX_VISIBILITY_TIMEOUT,
    )
}

/// Actions AddPermission may grant to other accounts (`*`: all of them).
const GRANTABLE_ACTIONS: &[&str] = &[
    "*",
    "ChangeMessageVisibility",
    "DeleteMessage",
    "GetQueueAttributes",
    "GetQueueUrl",
    "ListDeadLetterSourceQueues",
    "PurgeQueue",
    "ReceiveMessage",
    "SendMessage",
];

/// Checks AddPermission's lists: accounts and actions given, each action one that may
/// be granted (the rest of the API is the owner's alone).
fn add_permission(r: &AddPermissionRequest) -> SqsResult<()> {
    if r.aws_account_ids.is_empty() {
        return Err(SqsError::invalid_parameter(
            "Value [] for parameter PrincipalId is invalid. Reason: Unable to verify.",
        ));
    }
    if r.actions.is_empty() {
        return Err(SqsError::missing_parameter("Actions"));
    }
    for action in &r.actions {
        if GRANTABLE_ACTIONS.contains(&action.as_str()) {
            continue;
        }
        let reason = if Action::from_name(action).is_some() {
            "Only the queue owner is allowed to invoke this action."
        } else {
            "Please refer to the appropriate WSDL for a list of valid actions."
        };
        return Err(SqsError::invalid_parameter(format!(
            "Value SQS:{action} for parameter ActionName is invalid. Reason: {reason}"
        )));
    }
    Ok(())
}

/// The request-level syntax checks of a decoded request: whatever fails the whole
/// request regardless of state. Per-entry checks of batches ([`send_batch_entry`],
/// [`visibility_entry`]) are left to the caller, since their failures are reported per
/// entry in `Failed`.
pub fn request(request: &Request) -> SqsResult<()> {
    match request {
        Request::CreateQueue(r) => queue_name(&r.queue_name).map(drop),
        Request::SendMessage(r) => send_entry(
            &r.message_body,
            r.delay_seconds,
            &r.message_attributes,
            &r.message_system_attributes,
            r.message_group_id.as_deref(),
            r.message_deduplication_id.as_deref(),
        ),
        Request::SendMessageBatch(r) => {
            batch_ids(
                "SendMessageBatchRequestEntry",
                r.entries.iter().map(|e| e.id.as_str()),
            )?;
            let total: usize = r
                .entries
                .iter()
                .map(|e| message_size(&e.message_body, &e.message_attributes))
                .sum();
            if total > MAX_BATCH_BYTES {
                return Err(SqsError::new(
                    ErrorCode::BatchRequestTooLong,
                    texts::batch_too_long(MAX_BATCH_BYTES, total),
                ));
            }
            Ok(())
        }
        Request::DeleteMessageBatch(r) => batch_ids(
            "DeleteMessageBatchRequestEntry",
            r.entries.iter().map(|e| e.id.as_str()),
        ),
        Request::ChangeMessageVisibilityBatch(r) => batch_ids(
            "ChangeMessageVisibilityBatchRequestEntry",
            r.entries.iter().map(|e| e.id.as_str()),
        ),
        Request::ReceiveMessage(r) => {
            range(
                "MaxNumberOfMessages",
                r.max_number_of_messages,
                1,
                MAX_RECEIVE_MESSAGES,
            )?;
            range(
                "VisibilityTimeout",
                r.visibility_timeout,
                0,
                MAX_VISIBILITY_TIMEOUT,
            )?;
            range(
                "WaitTimeSeconds",
                r.wait_time_seconds,
                0,
                MAX_WAIT_TIME_SECONDS,
            )?;
            token(
                "ReceiveRequestAttemptId",
                r.receive_request_attempt_id.as_deref(),
            )
        }
        Request::ChangeMessageVisibility(r) => range(
            "VisibilityTimeout",
            Some(r.visibility_timeout),
            0,
            MAX_VISIBILITY_TIMEOUT,
        ),
        Request::AddPermission(r) => add_permission(r),
        Request::TagQueue(r) if r.tags.is_empty() => Err(SqsError::missing_parameter("Tags")),
        Request::UntagQueue(r) if r.tag_keys.is_empty() => {
            Err(SqsError::missing_parameter("TagKeys"))
        }
        Request::ListQueues(r) => range("MaxResults", r.max_results, 1, 1000),
        Request::ListDeadLetterSourceQueues(r) => range("MaxResults", r.max_results, 1, 1000),
        Request::ListMessageMoveTasks(r) => range("MaxResults", r.max_results, 1, 10),
        Request::StartMessageMoveTask(r) => range(
            "MaxNumberOfMessagesPerSecond",
            r.max_number_of_messages_per_second,
            1,
            500,
        ),
        _ => Ok(()),
    }
}
