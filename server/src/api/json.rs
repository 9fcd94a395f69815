//! AWS JSON 1.0: `POST /` with `X-Amz-Target: AmazonSQS.<Action>` and a JSON body.
//!
//! Decoding follows the AWS model's types strictly: a member of the wrong JSON type, a
//! malformed body or bad base64 is a `SerializationException`; `null` counts as absent;
//! unknown members are ignored. Errors render as
//! `{"__type":"<namespace>#<JSON name>","message":…}` with the
//! `x-amzn-query-error: <query code>;Sender|Receiver` header the SDKs use to recover the
//! legacy Query error codes.

use crate::api::decode::{Input, decode};
use crate::api::model::{Action, MessageAttributeValue, MessageAttributes, Request, Response};
use crate::api::validate;
use crate::error::{ErrorCode, SqsError, SqsResult};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The content type of requests and responses.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// The `X-Amz-Target` prefix of SQS actions.
pub const TARGET_PREFIX: &str = "AmazonSQS.";

fn serialization(message: impl Into<String>) -> SqsError {
    SqsError::new(ErrorCode::SerializationException, message)
}

/// The action an `X-Amz-Target` header names; `UnknownOperationException` otherwise
/// (also for a missing header).
pub fn action_from_target(target: Option<&str>) -> SqsResult<Action> {
    target
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .and_then(Action::from_name)
        .ok_or_else(|| SqsError::new(ErrorCode::UnknownOperation, ""))
}

/// Decodes a JSON request body for `action`. An empty body counts as `{}`.
///
/// `path_queue_url` (see [`crate::api::queue_url_from_path`]) stands in for an absent
/// `QueueUrl` member.
pub fn decode_body(
    action: Action,
    body: &[u8],
    path_queue_url: Option<&str>,
) -> SqsResult<Request> {
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body).map_err(|e| serialization(json_error_message(&e)))?
    };
    match value {
        Value::Object(mut map) => {
            if let Some(url) = path_queue_url
                && map.get("QueueUrl").is_none_or(Value::is_null)
            {
                map.insert("QueueUrl".into(), Value::String(url.to_string()));
            }
            decode(
                action,
                &JsonInput {
                    obj: &map,
                    path: String::new(),
                },
            )
        }
        other => Err(serialization(format!(
            "Expected a JSON object as the request body, found {}.",
            kind(&other)
        ))),
    }
}

fn json_error_message(e: &serde_json::Error) -> String {
    format!("The request body is not valid JSON: {e}")
}

/// The JSON body of a successful response.
pub fn encode_response(response: &Response) -> Vec<u8> {
    fn to<T: serde::Serialize>(v: &T) -> Vec<u8> {
        // Serializing plain structs of strings, numbers and maps cannot fail.
        serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec())
    }
    match response {
        Response::CreateQueue(r) => to(r),
        Response::ListQueues(r) => to(r),
        Response::GetQueueUrl(r) => to(r),
        Response::GetQueueAttributes(r) => to(r),
        Response::SendMessage(r) => to(r),
        Response::SendMessageBatch(r) => to(r),
        Response::ReceiveMessage(r) => to(r),
        Response::DeleteMessageBatch(r) => to(r),
        Response::ChangeMessageVisibilityBatch(r) => to(r),
        Response::ListQueueTags(r) => to(r),
        Response::ListDeadLetterSourceQueues(r) => to(r),
        Response::StartMessageMoveTask(r) => to(r),
        Response::ListMessageMoveTasks(r) => to(r),
        Response::CancelMessageMoveTask(r) => to(r),
        Response::DeleteQueue
        | Response::SetQueueAttributes
        | Response::DeleteMessage
        | Response::ChangeMessageVisibility
        | Response::PurgeQueue
        | Response::TagQueue
        | Response::UntagQueue
        | Response::AddPermission
        | Response::RemovePermission => b"{}".to_vec(),
    }
}

/// The JSON body of an error response.
pub fn encode_error(error: &SqsError) -> Vec<u8> {
    let mut body = Map::new();
    body.insert("__type".into(), Value::String(error.code.json_type()));
    if !error.message.is_empty() {
        body.insert("message".into(), Value::String(error.message.clone()));
    }
    serde_json::to_vec(&Value::Object(body)).unwrap_or_default()
}

/// The `x-amzn-query-error` header value for an error: `<query code>;Sender|Receiver`.
pub fn query_error_header(error: &SqsError) -> String {
    let fault = if error.code.sender_fault() {
        "Sender"
    } else {
        "Receiver"
    };
    format!("{};{fault}", error.code.query_code())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a structure",
    }
}

/// One JSON structure of a request.
pub(crate) struct JsonInput<'a> {
    obj: &'a Map<String, Value>,
    /// Where this structure sits, e.g. `Entries.2.` (empty at the top).
    path: String,
}

impl<'a> JsonInput<'a> {
    fn get(&self, name: &str) -> Option<&'a Value> {
        match self.obj.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    fn wrong(&self, name: &str, expected: &str, found: &Value) -> SqsError {
        serialization(format!(
            "Expected {expected} for member {}, found {}.",
            self.path(name),
            kind(found)
        ))
    }

    fn str_of(&self, name: &str, v: &'a Value) -> SqsResult<&'a str> {
        v.as_str().ok_or_else(|| self.wrong(name, "a string", v))
    }

    fn blob_of(&self, name: &str, v: &'a Value) -> SqsResult<Vec<u8>> {
        let s = v.as_str().ok_or_else(|| self.wrong(name, "a string", v))?;
        STANDARD.decode(s).map_err(|_| {
            serialization(format!(
                "Member {} is not valid base64-encoded binary data.",
                self.path(name)
            ))
        })
    }

    fn array_of(&self, name: &str, v: &'a Value) -> SqsResult<&'a Vec<Value>> {
        v.as_array().ok_or_else(|| self.wrong(name, "a list", v))
    }

    fn object_of(&self, name: &str, v: &'a Value) -> SqsResult<&'a Map<String, Value>> {
        v.as_object()
            .ok_or_else(|| self.wrong(name, "a structure", v))
    }

    fn child(&self, obj: &'a Map<String, Value>, path: String) -> JsonInput<'a> {
        JsonInput { obj, path }
    }

    fn attribute_value(&self, name: &str, v: &'a Value) -> SqsResult<MessageAttributeValue> {
        let obj = self.object_of(name, v)?;
        let c = self.child(obj, format!("{}{name}.", self.path));
        Ok(MessageAttributeValue {
            string_value: c.string("StringValue")?,
            binary_value: c
                .get("BinaryValue")
                .map(|v| c.blob_of("BinaryValue", v))
                .transpose()?,
            string_list_values: match c.get("StringListValues") {
                None => Vec::new(),
                Some(v) => c
                    .array_of("StringListValues", v)?
                    .iter()
                    .map(|s| c.str_of("StringListValues", s).map(str::to_string))
                    .collect::<SqsResult<_>>()?,
            },
            binary_list_values: match c.get("BinaryListValues") {
                None => Vec::new(),
                Some(v) => c
                    .array_of("BinaryListValues", v)?
                    .iter()
                    .map(|b| c.blob_of("BinaryListValues", b))
                    .collect::<SqsResult<_>>()?,
            },
            data_type: c.string("DataType")?.unwrap_or_default(),
        })
    }
}

impl Input for JsonInput<'_> {
    fn string(&self, name: &str) -> SqsResult<Option<String>> {
        self.get(name)
            .map(|v| self.str_of(name, v).map(str::to_string))
            .transpose()
    }

    fn int(&self, name: &str) -> SqsResult<Option<i32>> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        match v {
            Value::Number(n) => n
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| {
                    serialization(format!(
                        "Member {} must be an integer between -2147483648 and 2147483647.",
                        self.path(name)
                    ))
                }),
            other => Err(self.wrong(name, "an integer", other)),
        }
    }

    fn string_list(&self, json: &str, _query: &str) -> SqsResult<Option<Vec<String>>> {
        let Some(v) = self.get(json) else {
            return Ok(None);
        };
        self.array_of(json, v)?
            .iter()
            .map(|s| self.str_of(json, s).map(str::to_string))
            .collect::<SqsResult<_>>()
            .map(Some)
    }

    fn string_map(
        &self,
        json: &str,
        _query: &str,
        _key: &str,
        _value: &str,
    ) -> SqsResult<Option<BTreeMap<String, String>>> {
        let Some(v) = self.get(json) else {
            return Ok(None);
        };
        self.object_of(json, v)?
            .iter()
            .map(|(k, v)| Ok((k.clone(), self.str_of(json, v)?.to_string())))
            .collect::<SqsResult<_>>()
            .map(Some)
    }

    fn attribute_map(&self, json: &str, _query: &str) -> SqsResult<Option<MessageAttributes>> {
        let Some(v) = self.get(json) else {
            return Ok(None);
        };
        self.object_of(json, v)?
            .iter()
            .map(|(k, v)| Ok((k.clone(), self.attribute_value(json, v)?)))
            .collect::<SqsResult<_>>()
            .map(Some)
    }

    fn structs(&self, json: &str, _query: &str) -> SqsResult<Option<Vec<Self>>> {
        let Some(v) = self.get(json) else {
            return Ok(None);
        };
        let items = self.array_of(json, v)?;
        validate::batch_size(items.len())?;
        items
            .iter()
            .enumerate()
            .map(|(n, item)| {
                let obj = self.object_of(json, item)?;
                Ok(self.child(obj, format!("{}{json}.{}.", self.path, n + 1)))
            })
            .collect::<SqsResult<_>>()
            .map(Some)
    }

    fn path(&self, name: &str) -> String {
        format!("{}{name}", self.path)
    }
}
