//! Read-only queries over the state (served after the leader confirmed its leadership).

use super::attributes;
use super::catalog::{self, QueueRecord};
use super::command::{CommandResult, Output, ReadOp};
use super::keys;
use super::messages::{self, QueueCounters};
use super::txn::StateRead;
use crate::error::SqsError;
use std::collections::BTreeMap;
use std::io;

/// Most queues ListQueues returns in one page.
pub const MAX_LIST_RESULTS: u32 = 1000;

/// Context a read needs beyond the state.
pub struct ReadContext<'a> {
    pub region: &'a str,
    pub account_id: &'a str,
}

/// Executes a read.
pub fn execute(
    state: &impl StateRead,
    ctx: &ReadContext<'_>,
    op: &ReadOp,
) -> io::Result<CommandResult> {
    Ok(match op {
        ReadOp::GetQueueUrl { name } => {
            catalog::require(state, name)?.map(|q| Output::Queue { name: q.name })
        }
        ReadOp::GetQueueAttributes { name, names } => match catalog::require(state, name)? {
            Ok(q) => {
                let counts = messages::counters(state, q.id)?;
                queue_attributes(ctx, &q, &counts, names).map(Output::Attributes)
            }
            Err(e) => Err(e),
        },
        ReadOp::ListQueueTags { name } => {
            catalog::require(state, name)?.map(|q| Output::Tags(q.tags))
        }
        ReadOp::ListMoveTasks {
            source,
            max_results,
        } => super::move_tasks::list(state, source, *max_results)?,
        ReadOp::ListDeadLetterSourceQueues {
            name,
            max_results,
            next_token,
        } => match catalog::require(state, name)? {
            Ok(target) => {
                dead_letter_sources(state, ctx, &target, *max_results, next_token.as_deref())?
            }
            Err(e) => Err(e),
        },
        ReadOp::ListQueues {
            prefix,
            max_results,
            next_token,
        } => list_queues(
            state,
            prefix.as_deref(),
            *max_results,
            next_token.as_deref(),
        )?,
    })
}

/// The queue's ARN.
pub fn queue_arn(ctx: &ReadContext<'_>, name: &str) -> String {
    format!("arn:aws:sqs:{}:{}:{}", ctx.region, ctx.account_id, name)
}

fn queue_attributes(
    ctx: &ReadContext<'_>,
    queue: &QueueRecord,
    counts: &QueueCounters,
    names: &[String],
) -> Result<BTreeMap<String, String>, SqsError> {
    attributes::check_names(names, queue.fifo)?;
    let all = names.iter().any(|n| n == "All");
    let wanted = |n: &str| all || names.iter().any(|w| w == n);
    let mut out: BTreeMap<String, String> = queue
        .attributes
        .iter()
        .filter(|(k, _)| wanted(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let computed = [
        ("ApproximateNumberOfMessages", counts.visible.to_string()),
        (
            "ApproximateNumberOfMessagesNotVisible",
            counts.in_flight.to_string(),
        ),
        (
            "ApproximateNumberOfMessagesDelayed",
            counts.delayed.to_string(),
        ),
        ("CreatedTimestamp", queue.created_s.to_string()),
        ("LastModifiedTimestamp", queue.modified_s.to_string()),
        ("QueueArn", queue_arn(ctx, &queue.name)),
    ];
    for (name, value) in computed {
        if wanted(name) {
            out.insert(name.to_string(), value);
        }
    }
    Ok(out)
}

fn list_queues(
    state: &impl StateRead,
    prefix: Option<&str>,
    max_results: Option<u32>,
    next_token: Option<&str>,
) -> io::Result<CommandResult> {
    if let Some(max) = max_results
        && !(1..=MAX_LIST_RESULTS).contains(&max)
    {
        return Ok(Err(SqsError::invalid_parameter(
            "Value for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.",
        )));
    }
    if next_token.is_some() && max_results.is_none() {
        return Ok(Err(SqsError::invalid_parameter(
            "MaxResults is a mandatory parameter when you provide a value for NextToken.",
        )));
    }
    let prefix_key = keys::queue(prefix.unwrap_or(""));
    let end = keys::prefix_end(&prefix_key);
    let start = match next_token {
        Some(token) => match decode_token(token) {
            Some(after) if after.starts_with(prefix.unwrap_or("")) => {
                let mut k = keys::queue(&after);
                k.push(0);
                k
            }
            _ => return Ok(Err(SqsError::invalid_parameter("Invalid NextToken value."))),
        },
        None => prefix_key,
    };
    let limit = max_results.unwrap_or(MAX_LIST_RESULTS) as usize;
    let page = state.scan(&start, &end, limit + 1)?;
    let mut names = Vec::with_capacity(page.len().min(limit));
    for (key, _) in page.iter().take(limit) {
        names.push(String::from_utf8_lossy(&key[1..]).into_owned());
    }
    let next_token = (max_results.is_some() && page.len() > limit)
        .then(|| encode_token(names.last().expect("page")));
    Ok(Ok(Output::QueueList { names, next_token }))
}

/// Queues whose RedrivePolicy names `target`'s ARN, in name order, paged like ListQueues.
fn dead_letter_sources(
    state: &impl StateRead,
    ctx: &ReadContext<'_>,
    target: &QueueRecord,
    max_results: Option<u32>,
    next_token: Option<&str>,
) -> io::Result<CommandResult> {
    if let Some(max) = max_results
        && !(1..=MAX_LIST_RESULTS).contains(&max)
    {
        return Ok(Err(SqsError::invalid_parameter(
            "Value for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.",
        )));
    }
    let after = match next_token {
        Some(token) => match decode_token(token) {
            Some(after) => Some(after),
            None => return Ok(Err(SqsError::invalid_parameter("Invalid NextToken value."))),
        },
        None => None,
    };
    let arn = queue_arn(ctx, &target.name);
    let limit = max_results.unwrap_or(MAX_LIST_RESULTS) as usize;
    let mut names = Vec::new();
    let mut more = false;
    for queue in catalog::all(state)? {
        if after.as_deref().is_some_and(|a| queue.name.as_str() <= a) {
            continue;
        }
        let targets_it = queue
            .attributes
            .get("RedrivePolicy")
            .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
            .and_then(|p| {
                p.get("deadLetterTargetArn")
                    .and_then(|v| v.as_str())
                    .map(|a| a == arn)
            })
            .unwrap_or(false);
        if targets_it {
            if names.len() == limit {
                more = true;
                break;
            }
            names.push(queue.name);
        }
    }
    let next_token =
        (more && max_results.is_some()).then(|| encode_token(names.last().expect("page")));
    Ok(Ok(Output::QueueList { names, next_token }))
}

fn encode_token(last_name: &str) -> String {
    hex::encode(last_name.as_bytes())
}

fn decode_token(token: &str) -> Option<String> {
    String::from_utf8(hex::decode(token).ok()?).ok()
}
