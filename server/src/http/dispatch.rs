//! From a decoded SQS request to node operations and back to a typed response.
//!
//! Everything decided at the edge is decided here, once: message ids, receipt tokens,
//! MD5 digests, the request id that makes retries idempotent. Checks that depend on
//! state are left to apply.

use crate::api::md5::{md5_of_attributes, md5_of_body};
use crate::api::model::{self as m, MessageAttributeValue, MessageAttributes, Request, Response};
use crate::api::validate;
use crate::auth::Principal;
use crate::error::{ErrorCode, SqsError, SqsResult, texts};
use crate::http::task_handle;
use crate::node::{Node, now_ms};
use crate::sm::command::MoveStatus;
use crate::sm::command::{
    AttributeValue, BatchFailure, Command, HandleEntry, Op, Output, ReadOp, ReceivedMessage,
    SendEntry, VisibilityEntry,
};
use crate::sm::messages::dead_letter;
use crate::sm::txn::DbRead;
use crate::sm::{queue_key, queue_record, receipt};
use crate::wire::ReceiveCall;
use std::collections::BTreeMap;

/// The message system attribute that carries an X-Ray trace header.
const TRACE_HEADER: &str = "AWSTraceHeader";

/// What the edge knows about the request besides its body.
pub struct Context<'a> {
    pub principal: &'a Principal,
    /// `<scheme>://<host>/<account id>`: queue URLs are this plus `/<name>`.
    pub url_base: &'a str,
    /// Identifies the request across retries (see [`Command::request_id`]).
    pub request_id: &'a str,
    /// The `X-Amzn-Trace-Id` header: sends store it as `AWSTraceHeader` unless the
    /// request gives that system attribute itself.
    pub trace_header: Option<&'a str>,
}

impl Context<'_> {
    /// The catalog key of queue `name` in the region the request was signed for.
    fn queue_key(&self, node: &Node, name: &str) -> String {
        queue_key::key(&node.config.region, &self.principal.region, name)
    }

    /// The catalog key of the queue a QueueUrl denotes (see [`name_of`]).
    fn queue_of(&self, node: &Node, url: &str) -> SqsResult<String> {
        Ok(self.queue_key(node, &name_of(url)?))
    }
}

/// Runs a request through the node.
pub async fn execute(node: &Node, ctx: &Context<'_>, request: Request) -> SqsResult<Response> {
    let write = |op: Op| Command {
        request_id: ctx.request_id.to_string(),
        time_ms: now_ms(),
        op,
    };
    let url = |key: &str| format!("{}/{}", ctx.url_base, queue_key::name(key));
    let arn = |key: &str| queue_key::arn(key, &node.config.region, &node.config.account_id);
    Ok(match request {
        Request::CreateQueue(r) => {
            let out = node
                .write(write(Op::CreateQueue {
                    name: ctx.queue_key(node, &r.queue_name),
                    attributes: r.attributes,
                    tags: r.tags,
                }))
                .await?;
            Response::CreateQueue(m::CreateQueueResult {
                queue_url: url(&queue_name(&out)?),
            })
        }
        Request::DeleteQueue(r) => {
            node.write(write(Op::DeleteQueue {
                name: ctx.queue_of(node, &r.queue_url)?,
            }))
            .await?;
            Response::DeleteQueue
        }
        Request::SetQueueAttributes(r) => {
            node.write(write(Op::SetQueueAttributes {
                name: ctx.queue_of(node, &r.queue_url)?,
                attributes: r.attributes,
            }))
            .await?;
            Response::SetQueueAttributes
        }
        Request::TagQueue(r) => {
            node.write(write(Op::TagQueue {
                name: ctx.queue_of(node, &r.queue_url)?,
                tags: r.tags,
            }))
            .await?;
            Response::TagQueue
        }
        Request::UntagQueue(r) => {
            node.write(write(Op::UntagQueue {
                name: ctx.queue_of(node, &r.queue_url)?,
                keys: r.tag_keys,
            }))
            .await?;
            Response::UntagQueue
        }
        Request::PurgeQueue(r) => {
            node.write(write(Op::PurgeQueue {
                queue: ctx.queue_of(node, &r.queue_url)?,
            }))
            .await?;
            Response::PurgeQueue
        }
        Request::AddPermission(r) => {
            let queue = ctx.queue_of(node, &r.queue_url)?;
            let resource = arn(&queue);
            node.write(write(Op::AddPermission {
                queue,
                label: r.label,
                account_ids: r.aws_account_ids,
                actions: r.actions,
                resource,
            }))
            .await?;
            Response::AddPermission
        }
        Request::RemovePermission(r) => {
            node.write(write(Op::RemovePermission {
                queue: ctx.queue_of(node, &r.queue_url)?,
                label: r.label,
            }))
            .await?;
            Response::RemovePermission
        }
        Request::GetQueueUrl(r) => {
            let out = node
                .read(ReadOp::GetQueueUrl {
                    name: ctx.queue_key(node, &r.queue_name),
                })
                .await?;
            Response::GetQueueUrl(m::GetQueueUrlResult {
                queue_url: url(&queue_name(&out)?),
            })
        }
        Request::GetQueueAttributes(r) => {
            // No AttributeNames: no attributes (the queue must still exist), as on AWS.
            let out = node
                .read(ReadOp::GetQueueAttributes {
                    name: ctx.queue_of(node, &r.queue_url)?,
                    names: r.attribute_names,
                })
                .await?;
            let Output::Attributes(attributes) = out else {
                return Err(unexpected(&out));
            };
            Response::GetQueueAttributes(m::GetQueueAttributesResult { attributes })
        }
        Request::ListQueues(r) => {
            let max_results = r
                .max_results
                .map(|n| u32::try_from(n).map_err(|_| max_results_error()))
                .transpose()?;
            let out = node
                .read(ReadOp::ListQueues {
                    prefix: Some(ctx.queue_key(node, r.queue_name_prefix.as_deref().unwrap_or("")))
                        .filter(|p| !p.is_empty()),
                    max_results,
                    next_token: r.next_token,
                })
                .await?;
            let Output::QueueList { names, next_token } = out else {
                return Err(unexpected(&out));
            };
            Response::ListQueues(m::ListQueuesResult {
                queue_urls: names.iter().map(|n| url(n)).collect(),
                next_token,
            })
        }
        Request::ListQueueTags(r) => {
            let out = node
                .read(ReadOp::ListQueueTags {
                    name: ctx.queue_of(node, &r.queue_url)?,
                })
                .await?;
            let Output::Tags(tags) = out else {
                return Err(unexpected(&out));
            };
            Response::ListQueueTags(m::ListQueueTagsResult { tags })
        }
        Request::ListDeadLetterSourceQueues(r) => {
            let max_results = r
                .max_results
                .map(|n| u32::try_from(n).map_err(|_| max_results_error()))
                .transpose()?;
            let out = node
                .read(ReadOp::ListDeadLetterSourceQueues {
                    name: ctx.queue_of(node, &r.queue_url)?,
                    max_results,
                    next_token: r.next_token,
                })
                .await?;
            let Output::QueueList { names, next_token } = out else {
                return Err(unexpected(&out));
            };
            Response::ListDeadLetterSourceQueues(m::ListDeadLetterSourceQueuesResult {
                queue_urls: names.iter().map(|n| url(n)).collect(),
                next_token,
            })
        }
        Request::SendMessage(r) => {
            let entry = send_entry(
                ctx,
                "0",
                r.message_body,
                r.delay_seconds,
                r.message_attributes,
                r.message_system_attributes,
                r.message_group_id,
                r.message_deduplication_id,
            );
            let out = node
                .write(write(Op::SendMessages {
                    queue: ctx.queue_of(node, &r.queue_url)?,
                    entries: vec![entry],
                }))
                .await?;
            let Output::Sent { successful, failed } = out else {
                return Err(unexpected(&out));
            };
            if let Some(f) = failed.into_iter().next() {
                return Err(f.error);
            }
            let s = successful
                .into_iter()
                .next()
                .ok_or_else(|| SqsError::internal("send stored nothing"))?;
            Response::SendMessage(m::SendMessageResult {
                md5_of_message_body: s.md5_body,
                md5_of_message_attributes: s.md5_attributes,
                md5_of_message_system_attributes: s.md5_system_attributes,
                message_id: s.message_id,
                sequence_number: s.sequence_number.map(sequence_string),
            })
        }
        Request::SendMessageBatch(r) => {
            // Entries that fail the syntax checks are reported in Failed; the rest go on.
            let mut invalid = Vec::new();
            let mut entries = Vec::new();
            for e in r.entries {
                if let Err(error) = validate::send_batch_entry(&e) {
                    invalid.push(BatchFailure { id: e.id, error });
                    continue;
                }
                entries.push(send_entry(
                    ctx,
                    &e.id,
                    e.message_body,
                    e.delay_seconds,
                    e.message_attributes,
                    e.message_system_attributes,
                    e.message_group_id,
                    e.message_deduplication_id,
                ));
            }
            let out = if entries.is_empty() {
                Output::Sent {
                    successful: Vec::new(),
                    failed: Vec::new(),
                }
            } else {
                node.write(write(Op::SendMessages {
                    queue: ctx.queue_of(node, &r.queue_url)?,
                    entries,
                }))
                .await
                .map_err(whole_batch_error)?
            };
            let Output::Sent {
                successful,
                mut failed,
            } = out
            else {
                return Err(unexpected(&out));
            };
            failed.extend(invalid);
            Response::SendMessageBatch(m::SendMessageBatchResult {
                successful: successful
                    .into_iter()
                    .map(|s| m::SendMessageBatchResultEntry {
                        id: s.id,
                        message_id: s.message_id,
                        md5_of_message_body: s.md5_body,
                        md5_of_message_attributes: s.md5_attributes,
                        md5_of_message_system_attributes: s.md5_system_attributes,
                        sequence_number: s.sequence_number.map(sequence_string),
                    })
                    .collect(),
                failed: failures(failed),
            })
        }
        Request::ReceiveMessage(r) => receive(node, ctx, r).await?,
        Request::DeleteMessage(r) => {
            let entries = vec![HandleEntry {
                id: "0".into(),
                handle: receipt::decode(&r.receipt_handle)?,
            }];
            let out = node
                .write(write(Op::DeleteMessages {
                    queue: ctx.queue_of(node, &r.queue_url)?,
                    entries,
                }))
                .await?;
            single_batch_result(out)?;
            Response::DeleteMessage
        }
        Request::DeleteMessageBatch(r) => {
            let mut failed = Vec::new();
            let mut entries = Vec::new();
            for e in r.entries {
                match receipt::decode(&e.receipt_handle) {
                    Ok(handle) => entries.push(HandleEntry { id: e.id, handle }),
                    Err(error) => failed.push(BatchFailure { id: e.id, error }),
                }
            }
            let (successful, more) = batch(
                node,
                write(Op::DeleteMessages {
                    queue: ctx.queue_of(node, &r.queue_url)?,
                    entries,
                }),
            )
            .await?;
            failed.extend(more);
            Response::DeleteMessageBatch(m::DeleteMessageBatchResult {
                successful,
                failed: failures(failed),
            })
        }
        Request::ChangeMessageVisibility(r) => {
            let entries = vec![VisibilityEntry {
                id: "0".into(),
                handle: receipt::decode(&r.receipt_handle)?,
                timeout_seconds: visibility(r.visibility_timeout)?,
            }];
            let out = node
                .write(write(Op::ChangeVisibility {
                    queue: ctx.queue_of(node, &r.queue_url)?,
                    entries,
                }))
                .await?;
            single_batch_result(out)?;
            Response::ChangeMessageVisibility
        }
        Request::ChangeMessageVisibilityBatch(r) => {
            let mut failed = Vec::new();
            let mut entries = Vec::new();
            for e in r.entries {
                let parsed = validate::visibility_entry(&e)
                    .and_then(|()| receipt::decode(&e.receipt_handle))
                    .and_then(|handle| {
                        Ok((handle, visibility(e.visibility_timeout.unwrap_or(0))?))
                    });
                match parsed {
                    Ok((handle, timeout_seconds)) => entries.push(VisibilityEntry {
                        id: e.id,
                        handle,
                        timeout_seconds,
                    }),
                    Err(error) => failed.push(BatchFailure { id: e.id, error }),
                }
            }
            let (successful, more) = batch(
                node,
                write(Op::ChangeVisibility {
                    queue: ctx.queue_of(node, &r.queue_url)?,
                    entries,
                }),
            )
            .await?;
            failed.extend(more);
            Response::ChangeMessageVisibilityBatch(m::ChangeMessageVisibilityBatchResult {
                successful,
                failed: failures(failed),
            })
        }
        Request::StartMessageMoveTask(r) => {
            let source = key_from_arn(node, &r.source_arn)?;
            let destination = r
                .destination_arn
                .as_deref()
                .map(|a| key_from_arn(node, a))
                .transpose()?;
            let out = node
                .write(write(Op::StartMoveTask {
                    source,
                    destination,
                    rate: r
                        .max_number_of_messages_per_second
                        .and_then(|n| u32::try_from(n).ok()),
                }))
                .await?;
            let Output::MoveTask(task) = out else {
                return Err(unexpected(&out));
            };
            Response::StartMessageMoveTask(m::StartMessageMoveTaskResult {
                task_handle: task_handle::encode(&task.source, task.task_id),
            })
        }
        Request::CancelMessageMoveTask(r) => {
            let (source, task_id) = task_handle::decode(&r.task_handle)?;
            let out = node
                .write(write(Op::CancelMoveTask { source, task_id }))
                .await?;
            let Output::MoveTask(task) = out else {
                return Err(unexpected(&out));
            };
            Response::CancelMessageMoveTask(m::CancelMessageMoveTaskResult {
                approximate_number_of_messages_moved: i64::try_from(task.moved).unwrap_or(i64::MAX),
            })
        }
        Request::ListMessageMoveTasks(r) => {
            let out = node
                .read(ReadOp::ListMoveTasks {
                    source: key_from_arn(node, &r.source_arn)?,
                    max_results: r.max_results.map_or(1, |n| u32::try_from(n).unwrap_or(0)),
                })
                .await?;
            let Output::MoveTasks(tasks) = out else {
                return Err(unexpected(&out));
            };
            Response::ListMessageMoveTasks(m::ListMessageMoveTasksResult {
                results: tasks
                    .into_iter()
                    .map(|t| m::ListMessageMoveTasksResultEntry {
                        task_handle: (t.status == MoveStatus::Running)
                            .then(|| task_handle::encode(&t.source, t.task_id)),
                        status: t.status.as_str().to_string(),
                        source_arn: arn(&t.source),
                        destination_arn: t.destination.as_deref().map(arn),
                        max_number_of_messages_per_second: t
                            .rate
                            .and_then(|r| i32::try_from(r).ok()),
                        approximate_number_of_messages_moved: i64::try_from(t.moved)
                            .unwrap_or(i64::MAX),
                        approximate_number_of_messages_to_move: i64::try_from(t.to_move).ok(),
                        failure_reason: t.failure,
                        started_timestamp: i64::try_from(t.started_ms).unwrap_or(i64::MAX),
                    })
                    .collect(),
            })
        }
    })
}

/// The queue name a QueueUrl denotes: the last path segment of a URL with any host, or
/// the value itself when it is a bare queue name (AWS accepts `QueueUrl=orders`).
pub fn name_of(url: &str) -> SqsResult<String> {
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map_or("", |(_, path)| path),
        None if !url.contains('/') && !url.is_empty() => return Ok(url.to_string()),
        None => url.trim_start_matches('/'),
    };
    let path = path.trim_end_matches('/');
    match path.rsplit_once('/') {
        Some((_, name)) if !name.is_empty() => Ok(name.to_string()),
        _ => Err(SqsError::queue_does_not_exist()),
    }
}

/// The catalog key of the queue an SQS ARN names (`arn:aws:sqs:<region>:<account>:<name>`).
fn key_from_arn(node: &Node, arn: &str) -> SqsResult<String> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "sqs", region, _, name] if !name.is_empty() => {
            Ok(queue_key::key(&node.config.region, region, name))
        }
        _ => Err(SqsError::invalid_parameter(texts::queue_arn_invalid(arn))),
    }
}

fn unexpected(out: &Output) -> SqsError {
    SqsError::internal(format!("unexpected result {out:?}"))
}

fn max_results_error() -> SqsError {
    SqsError::invalid_parameter(texts::MAX_RESULTS)
}

fn queue_name(out: &Output) -> SqsResult<String> {
    match out {
        Output::Queue { name } => Ok(name.clone()),
        other => Err(unexpected(other)),
    }
}

/// SQS sequence numbers are 20-digit decimal strings.
fn sequence_string(seq: u64) -> String {
    format!("{:020}", seq + 1)
}

fn visibility(seconds: i32) -> SqsResult<u32> {
    u32::try_from(seconds)
        .ok()
        .filter(|s| *s <= crate::sm::messages::MAX_VISIBILITY_TIMEOUT)
        .ok_or_else(|| {
            SqsError::invalid_parameter(texts::out_of_range(
                "VisibilityTimeout",
                seconds.into(),
                0,
                43_200,
            ))
        })
}

fn failures(failed: Vec<BatchFailure>) -> Vec<m::BatchResultErrorEntry> {
    failed
        .iter()
        .map(|f| m::BatchResultErrorEntry::from_error(f.id.clone(), &f.error))
        .collect()
}

/// Runs a delete or visibility batch; returns successful ids and failures.
async fn batch(
    node: &Node,
    command: Command,
) -> SqsResult<(Vec<m::BatchResultEntry>, Vec<BatchFailure>)> {
    let has_entries = match &command.op {
        Op::DeleteMessages { entries, .. } => !entries.is_empty(),
        Op::ChangeVisibility { entries, .. } => !entries.is_empty(),
        _ => true,
    };
    if !has_entries {
        return Ok((Vec::new(), Vec::new()));
    }
    match node.write(command).await? {
        Output::Batch { successful, failed } => Ok((
            successful
                .into_iter()
                .map(|id| m::BatchResultEntry { id })
                .collect(),
            failed,
        )),
        other => Err(unexpected(&other)),
    }
}

/// A SendMessageBatch that fails as a whole (a FIFO entry without its group) reports
/// a missing parameter as `InvalidParameterValue`, as AWS does for the batch form.
fn whole_batch_error(error: SqsError) -> SqsError {
    match error.code {
        ErrorCode::MissingParameter => SqsError::invalid_parameter(error.message),
        _ => error,
    }
}

/// A single (non-batch) delete or visibility change: its one failure is the error.
fn single_batch_result(out: Output) -> SqsResult<()> {
    match out {
        Output::Batch { mut failed, .. } if !failed.is_empty() => Err(failed.remove(0).error),
        Output::Batch { .. } => Ok(()),
        other => Err(unexpected(&other)),
    }
}

fn to_stored(attributes: MessageAttributes) -> BTreeMap<String, AttributeValue> {
    attributes
        .into_iter()
        .map(|(name, v)| {
            (
                name,
                AttributeValue {
                    data_type: v.data_type,
                    string_value: v.string_value,
                    binary_value: v.binary_value,
                    string_list_values: v.string_list_values,
                    binary_list_values: v.binary_list_values,
                },
            )
        })
        .collect()
}

fn to_model(attributes: &BTreeMap<String, AttributeValue>) -> MessageAttributes {
    attributes
        .iter()
        .map(|(name, v)| {
            (
                name.clone(),
                MessageAttributeValue {
                    data_type: v.data_type.clone(),
                    string_value: v.string_value.clone(),
                    binary_value: v.binary_value.clone(),
                    string_list_values: v.string_list_values.clone(),
                    binary_list_values: v.binary_list_values.clone(),
                },
            )
        })
        .collect()
}

/// A new message id in the canonical UUID form.
fn message_id() -> String {
    let b: [u8; 16] = rand::random();
    let mut b = b;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[allow(clippy::too_many_arguments)]
fn send_entry(
    ctx: &Context<'_>,
    id: &str,
    body: String,
    delay_seconds: Option<i32>,
    attributes: MessageAttributes,
    system_attributes: MessageAttributes,
    group_id: Option<String>,
    dedup_id: Option<String>,
) -> SendEntry {
    let size = validate::message_size(&body, &attributes) as u64;
    // The digest covers the system attributes the client sent, which it can check.
    let md5_system_attributes = md5_of_attributes(&system_attributes);
    let mut system_attributes = system_attributes;
    if let Some(trace) = ctx.trace_header
        && !system_attributes.contains_key(TRACE_HEADER)
    {
        let value = MessageAttributeValue {
            data_type: "String".into(),
            string_value: Some(trace.to_string()),
            ..Default::default()
        };
        system_attributes.insert(TRACE_HEADER.to_string(), value);
    }
    SendEntry {
        id: id.to_string(),
        message_id: message_id(),
        md5_body: md5_of_body(&body),
        md5_attributes: md5_of_attributes(&attributes),
        md5_system_attributes,
        body,
        // Validated to 0–900 at decode time.
        delay_seconds: delay_seconds.and_then(|d| u32::try_from(d).ok()),
        attributes: to_stored(attributes),
        system_attributes: to_stored(system_attributes),
        size,
        sender_id: ctx.principal.access_key_id.clone(),
        group_id,
        dedup_id,
    }
}

/// ReceiveMessage: long polls per WaitTimeSeconds (or the queue's default) and filters
/// the returned attributes to those asked for.
async fn receive(
    node: &Node,
    ctx: &Context<'_>,
    r: m::ReceiveMessageRequest,
) -> SqsResult<Response> {
    let queue = ctx.queue_of(node, &r.queue_url)?;
    let wait_seconds = match r.wait_time_seconds {
        Some(w) => u64::try_from(w).unwrap_or(0),
        None => {
            // The queue's default, as this node knows it (only decides how long to wait).
            let db = node.sm.state_db().get();
            queue_record::load(&DbRead(&db), &queue)
                .ok()
                .flatten()
                .and_then(|q| {
                    q.attributes
                        .get("ReceiveMessageWaitTimeSeconds")
                        .and_then(|v| v.parse().ok())
                })
                .unwrap_or(0)
        }
    };
    let max = r
        .max_number_of_messages
        .map_or(1, |n| u32::try_from(n).unwrap_or(1));
    let visibility_timeout = r.visibility_timeout.map(visibility).transpose()?;
    let call = ReceiveCall {
        request_id: ctx.request_id.to_string(),
        queue,
        max,
        visibility_timeout,
        attempt_id: r.receive_request_attempt_id.clone(),
        wait_ms: wait_seconds * 1000,
    };
    let out = node.receive(&call).await?;
    let Output::Received(messages) = out else {
        return Err(unexpected(&out));
    };
    let system_names = r
        .system_attribute_names()
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
    let arn = |name: &str| {
        format!(
            "arn:aws:sqs:{}:{}:{name}",
            node.config.region, node.config.account_id
        )
    };
    Ok(Response::ReceiveMessage(m::ReceiveMessageResult {
        messages: messages
            .into_iter()
            .map(|msg| render_message(msg, &system_names, &r.message_attribute_names, &arn))
            .collect(),
    }))
}

fn render_message(
    msg: ReceivedMessage,
    system_names: &[String],
    attribute_names: &[String],
    queue_arn: &dyn Fn(&str) -> String,
) -> m::Message {
    let all_system = system_names.iter().any(|n| n == "All");
    let want = |n: &str| all_system || system_names.iter().any(|s| s == n);
    let mut attributes = BTreeMap::new();
    let mut put = |name: &str, value: Option<String>| {
        if let Some(v) = value
            && want(name)
        {
            attributes.insert(name.to_string(), v);
        }
    };
    put("SenderId", Some(msg.sender_id.clone()));
    put("SentTimestamp", Some(msg.sent_ms.to_string()));
    put(
        "ApproximateReceiveCount",
        Some(msg.receive_count.to_string()),
    );
    put(
        "ApproximateFirstReceiveTimestamp",
        Some(msg.first_receive_ms.to_string()),
    );
    let system = |name: &str| {
        msg.system_attributes
            .get(name)
            .and_then(|v| v.string_value.clone())
    };
    put(TRACE_HEADER, system(TRACE_HEADER));
    put(
        "DeadLetterQueueSourceArn",
        system(dead_letter::SOURCE_ATTRIBUTE).map(|name| queue_arn(&name)),
    );
    put("MessageGroupId", msg.group_id.clone());
    put("MessageDeduplicationId", msg.dedup_id.clone());
    put("SequenceNumber", msg.sequence_number.map(sequence_string));
    let message_attributes: MessageAttributes = to_model(&msg.attributes)
        .into_iter()
        .filter(|(name, _)| attribute_selected(name, attribute_names))
        .collect();
    m::Message {
        message_id: msg.message_id,
        receipt_handle: receipt::encode(&msg.handle),
        md5_of_body: msg.md5_body,
        body: msg.body,
        attributes,
        md5_of_message_attributes: md5_of_attributes(&message_attributes),
        message_attributes,
    }
}

/// MessageAttributeNames selection: `All`, `*` or `.*` select every attribute,
/// `<prefix>.*` those whose name starts with `<prefix>` (as AWS does: `Hel.*` selects
/// `Hello` and `Help.Me`), anything else the attribute of exactly that name.
fn attribute_selected(name: &str, selectors: &[String]) -> bool {
    selectors.iter().any(|s| {
        matches!(s.as_str(), "All" | "*" | ".*")
            || s == name
            || s.strip_suffix(".*")
                .is_some_and(|prefix| name.starts_with(prefix))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls_with_any_host_resolve_to_the_name() {
        assert_eq!(name_of("http://h:9324/000000000000/q1").unwrap(), "q1");
        assert_eq!(
            name_of("https://sqs.us-east-1.amazonaws.com/1/q.fifo/").unwrap(),
            "q.fifo"
        );
        assert_eq!(name_of("/000000000000/q2").unwrap(), "q2");
        assert_eq!(name_of("orders").unwrap(), "orders");
        assert!(name_of("").is_err());
        assert!(name_of("http://h/").is_err());
    }

    #[test]
    fn message_attribute_selectors_follow_aws() {
        let sel = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(attribute_selected("a.b", &sel(&["All"])));
        assert!(attribute_selected("a.b", &sel(&[".*"])));
        assert!(attribute_selected("a.b", &sel(&["*"])));
        assert!(attribute_selected("a.b", &sel(&["a.*"])));
        assert!(attribute_selected("Hello", &sel(&["Hel.*"])));
        assert!(attribute_selected("Help.Me", &sel(&["Hel.*"])));
        assert!(attribute_selected("Custom1", &sel(&["Custom.*"])));
        assert!(!attribute_selected("Hi", &sel(&["Hel.*"])));
        assert!(attribute_selected("x", &sel(&["x"])));
        assert!(!attribute_selected("x", &sel(&[])));
    }

    #[test]
    fn message_ids_are_version_4_uuids() {
        let id = message_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
    }
}
