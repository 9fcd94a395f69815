//! The SQS edge: authenticate, decode, turn the request into a command or read, run it
//! through the node, and answer in AWS JSON 1.0.
//!
//! The edge checks syntax only; every check that depends on state happens in apply.

use crate::auth::SignedRequest;
use crate::error::{ErrorCode, SqsError, SqsResult};
use crate::http::serve::respond;
use crate::node::{Node, now_ms};
use crate::sm::command::{Command, Op, Output, ReadOp};
use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// Largest request body read (a 1 MiB message JSON-escaped fits comfortably).
const MAX_BODY: usize = 8 << 20;

const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// Handles one SQS API request.
pub async fn handle(
    node: Arc<Node>,
    req: Request<Incoming>,
    _peer: SocketAddr,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let request_id = mint_id();
    let (parts, body) = req.into_parts();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let action = target.strip_prefix("AmazonSQS.").unwrap_or("").to_string();
    let result = match Limited::new(body, MAX_BODY).collect().await {
        Ok(body) => serve_json(&node, &parts, &action, &body.to_bytes()).await,
        Err(_) => Err(SqsError::invalid_parameter(
            "The request body is too large.",
        )),
    };
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) => e.code.as_str(),
    };
    node.metrics.observe(
        if action.is_empty() {
            "unknown"
        } else {
            &action
        },
        outcome,
        started.elapsed(),
    );
    match result {
        Ok(value) => {
            let mut response = respond(200, JSON_CONTENT_TYPE, value.to_string());
            set_request_id(response.headers_mut(), &request_id);
            response
        }
        Err(e) => render_error(&e, &request_id),
    }
}

/// Renders an error the way AWS JSON 1.0 does for SQS.
pub fn render_error(e: &SqsError, request_id: &str) -> Response<Full<Bytes>> {
    let body =
        json!({"__type": format!("com.amazonaws.sqs#{}", e.code.as_str()), "message": e.message});
    let mut response = respond(e.status(), JSON_CONTENT_TYPE, body.to_string());
    let fault = if e.code.sender_fault() {
        "Sender"
    } else {
        "Receiver"
    };
    if let Ok(v) = format!("{};{fault}", e.code.query_code()).parse() {
        response.headers_mut().insert("x-amzn-query-error", v);
    }
    set_request_id(response.headers_mut(), request_id);
    response
}

fn set_request_id(headers: &mut HeaderMap, id: &str) {
    if let Ok(v) = id.parse() {
        headers.insert("x-amzn-requestid", v);
    }
}

fn mint_id() -> String {
    let bytes: [u8; 16] = rand::random();
    let h = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

async fn serve_json(
    node: &Node,
    parts: &http::request::Parts,
    action: &str,
    body: &[u8],
) -> SqsResult<Value> {
    let path = parts.uri.path();
    let query = parts.uri.query();
    let authority = parts.uri.authority().map(|a| a.as_str());
    let principal = node.verifier.verify(
        &SignedRequest {
            method: parts.method.as_str(),
            path,
            query,
            headers: &parts.headers,
            authority,
            body,
        },
        SystemTime::now(),
    )?;
    if parts.method != http::Method::POST || !parts.headers.contains_key("x-amz-target") {
        return Err(SqsError::new(
            ErrorCode::InvalidAction,
            "Only the AWS JSON 1.0 protocol (POST with X-Amz-Target) is supported on this endpoint.",
        ));
    }
    let input: Map<String, Value> =
        match serde_json::from_slice::<Value>(if body.is_empty() { b"{}" } else { body }) {
            Ok(Value::Object(map)) => map,
            _ => {
                return Err(SqsError::new(
                    ErrorCode::SerializationException,
                    "The request body is not a JSON object.",
                ));
            }
        };
    let base = queue_url_base(&parts.headers, authority, &node.config.account_id);
    let request_id = match parts
        .headers
        .get("amz-sdk-invocation-id")
        .and_then(|v| v.to_str().ok())
    {
        Some(id) if !id.is_empty() && id.len() <= 128 => {
            format!("{}:{id}", principal.access_key_id)
        }
        _ => format!("edge:{}", mint_id()),
    };
    let input = Input(&input);
    let write = |op: Op| Command {
        request_id: request_id.clone(),
        time_ms: now_ms(),
        op,
    };
    let output = match action {
        "CreateQueue" => {
            let name = input.string("QueueName")?;
            validate_queue_name(&name)?;
            node.write(write(Op::CreateQueue {
                name,
                attributes: input.string_map("Attributes")?,
                tags: input.string_map("tags")?,
            }))
            .await?
        }
        "DeleteQueue" => {
            node.write(write(Op::DeleteQueue {
                name: input.queue()?,
            }))
            .await?
        }
        "SetQueueAttributes" => {
            node.write(write(Op::SetQueueAttributes {
                name: input.queue()?,
                attributes: input.string_map("Attributes")?,
            }))
            .await?
        }
        "TagQueue" => {
            node.write(write(Op::TagQueue {
                name: input.queue()?,
                tags: input.string_map("Tags")?,
            }))
            .await?
        }
        "UntagQueue" => {
            node.write(write(Op::UntagQueue {
                name: input.queue()?,
                keys: input.string_list("TagKeys")?,
            }))
            .await?
        }
        "GetQueueUrl" => {
            node.read(ReadOp::GetQueueUrl {
                name: input.string("QueueName")?,
            })
            .await?
        }
        "GetQueueAttributes" => {
            let mut names = input.string_list("AttributeNames")?;
            if names.is_empty() {
                names.push("All".into());
            }
            node.read(ReadOp::GetQueueAttributes {
                name: input.queue()?,
                names,
            })
            .await?
        }
        "ListQueues" => {
            node.read(ReadOp::ListQueues {
                prefix: input.optional_string("QueueNamePrefix")?,
                max_results: input.optional_u32("MaxResults")?,
                next_token: input.optional_string("NextToken")?,
            })
            .await?
        }
        "ListQueueTags" => {
            node.read(ReadOp::ListQueueTags {
                name: input.queue()?,
            })
            .await?
        }
        "" => {
            return Err(SqsError::new(
                ErrorCode::InvalidAction,
                "The X-Amz-Target header must name an AmazonSQS action.",
            ));
        }
        other => {
            return Err(SqsError::new(
                ErrorCode::InvalidAction,
                format!("The action {other} is not valid for this endpoint."),
            ));
        }
    };
    Ok(render_output(action, output, &base))
}

fn render_output(action: &str, output: Output, base: &str) -> Value {
    match (action, output) {
        ("ListQueueTags", Output::Tags(tags)) => json!({ "Tags": tags }),
        ("GetQueueAttributes", Output::Attributes(attrs)) => json!({ "Attributes": attrs }),
        (_, Output::Queue { name }) => json!({ "QueueUrl": format!("{base}/{name}") }),
        (_, Output::QueueList { names, next_token }) => {
            let urls: Vec<String> = names.iter().map(|n| format!("{base}/{n}")).collect();
            let mut out = json!({ "QueueUrls": urls });
            if let Some(token) = next_token {
                out["NextToken"] = Value::String(token);
            }
            out
        }
        _ => json!({}),
    }
}

/// `<scheme>://<request host>/<account id>`.
fn queue_url_base(headers: &HeaderMap, authority: Option<&str>, account_id: &str) -> String {
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .or(authority)
        .unwrap_or("localhost");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}/{account_id}")
}

/// Queue names: 1–80 characters of `[A-Za-z0-9_-]`, a FIFO queue's including `.fifo`.
pub fn validate_queue_name(name: &str) -> SqsResult<()> {
    let stem = name.strip_suffix(".fifo").unwrap_or(name);
    let ok = !stem.is_empty()
        && name.len() <= 80
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(SqsError::invalid_parameter(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        ))
    }
}

/// The queue name a QueueUrl denotes (any host is accepted: the last path segment).
pub fn queue_name_from_url(url: &str) -> SqsResult<String> {
    // With a scheme, drop `scheme://host`; the rest is the path.
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map_or("", |(_, path)| path),
        None => url.trim_start_matches('/'),
    };
    let path = path.trim_end_matches('/');
    match path.rsplit_once('/') {
        Some((_, name)) if !name.is_empty() => Ok(name.to_string()),
        _ => Err(SqsError::queue_does_not_exist()),
    }
}

/// Typed access to a JSON request's members.
struct Input<'a>(&'a Map<String, Value>);

fn wrong_type(name: &str, expected: &str) -> SqsError {
    SqsError::new(
        ErrorCode::SerializationException,
        format!("Member {name} must be {expected}."),
    )
}

impl Input<'_> {
    fn optional_string(&self, name: &str) -> SqsResult<Option<String>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(wrong_type(name, "a string")),
        }
    }

    fn string(&self, name: &str) -> SqsResult<String> {
        self.optional_string(name)?
            .ok_or_else(|| SqsError::missing_parameter(name))
    }

    fn queue(&self) -> SqsResult<String> {
        queue_name_from_url(&self.string("QueueUrl")?)
    }

    fn optional_u32(&self, name: &str) -> SqsResult<Option<u32>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| {
                    SqsError::invalid_parameter(format!("Value for parameter {name} is invalid."))
                }),
            Some(_) => Err(wrong_type(name, "an integer")),
        }
    }

    fn string_map(&self, name: &str) -> SqsResult<BTreeMap<String, String>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(BTreeMap::new()),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(wrong_type(name, "a map of strings")),
                })
                .collect(),
            Some(_) => Err(wrong_type(name, "a map of strings")),
        }
    }

    fn string_list(&self, name: &str) -> SqsResult<Vec<String>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| wrong_type(name, "a list of strings"))
                })
                .collect(),
            Some(_) => Err(wrong_type(name, "a list of strings")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_follow_aws_rules() {
        for ok in [
            "a",
            "Queue_1-x",
            "q.fifo",
            &"x".repeat(80),
            &format!("{}.fifo", "x".repeat(75)),
        ] {
            assert!(validate_queue_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".fifo",
            "a.b",
            "spa ce",
            "ü",
            &"x".repeat(81),
            &format!("{}.fifo", "x".repeat(76)),
        ] {
            assert_eq!(
                validate_queue_name(bad).unwrap_err().code,
                ErrorCode::InvalidParameterValue,
                "{bad}"
            );
        }
    }

    #[test]
    fn queue_urls_with_any_host_resolve_to_the_name() {
        assert_eq!(
            queue_name_from_url("http://h:9324/000000000000/q1").unwrap(),
            "q1"
        );
        assert_eq!(
            queue_name_from_url("https://sqs.us-east-1.amazonaws.com/1/q.fifo/").unwrap(),
            "q.fifo"
        );
        assert_eq!(queue_name_from_url("/000000000000/q2").unwrap(), "q2");
        assert!(queue_name_from_url("not-a-url").is_err());
        assert!(queue_name_from_url("http://h/").is_err());
    }
}
