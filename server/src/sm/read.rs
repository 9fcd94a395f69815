//! Read-only queries over the state (served after the leader confirmed its leadership).

use super::attributes;
use super::command::{CommandResult, Output, ReadOp};
use super::keys;
use super::messages::{self, QueueCounters};
use super::queue_key;
use super::queue_record::{self, QueueRecord};
use super::txn::StateRead;
use crate::error::{SqsError, texts};
use std::collections::BTreeMap;
use std::io;

/// Most queues ListQueues returns in one page.
pub const MAX_LIST_RESULTS: u32 = 1000;

/// Context a read needs beyond the state.
pub struct ReadContext<'a> {
    /// The home region: the region of queues keyed by a bare name ([`queue_key`]).
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
            queue_record::require(state, name)?.map(|q| Output::Queue { name: q.name })
        }
        ReadOp::GetQueueAttributes { name, names } => match queue_record::require(state, name)? {
            Ok(q) => {
                let counts = messages::counters(state, q.id)?;
                queue_attributes(ctx, &q, &counts, names).map(Output::Attributes)
            }
            Err(e) => Err(e),
        },
        ReadOp::ListQueueTags { name } => {
            queue_record::require(state, name)?.map(|q| Output::Tags(q.tags))
        }
        ReadOp::ListMoveTasks {
            source,
            max_results,
        } => super::move_tasks::list(state, source, *max_results)?,
        ReadOp::ListDeadLetterSourceQueues {
            name,
            max_results,
            next_token,
        } => match queue_record::require(state, name)? {
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

/// The ARN of the queue keyed `key`.
pub fn queue_arn(ctx: &ReadContext<'_>, key: &str) -> String {
    queue_key::arn(key, ctx.region, ctx.account_id)
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
        return Ok(Err(SqsError::invalid_parameter(texts::MAX_RESULTS)));
    }
    if next_token.is_some() && max_results.is_none() {
        return Ok(Err(SqsError::invalid_parameter(
            texts::NEXT_TOKEN_WITHOUT_MAX_RESULTS,
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
            _ => return Ok(Err(SqsError::invalid_parameter(texts::INVALID_NEXT_TOKEN))),
        },
        None => prefix_key,
    };
    let limit = max_results.unwrap_or(MAX_LIST_RESULTS) as usize;
    // Other regions' keys may sit between the home region's: scan on past them.
    let mut names = Vec::with_capacity(limit.min(64));
    let (mut from, mut more) = (start, false);
    'scan: loop {
        let page = state.scan(&from, &end, limit + 1)?;
        for (key, _) in &page {
            let name = String::from_utf8_lossy(&key[1..]).into_owned();
            if !queue_key::listed_under(&name, prefix.unwrap_or("")) {
                continue;
            }
            if names.len() == limit {
                more = true;
                break 'scan;
            }
            names.push(name);
        }
        match page.last() {
            Some((last, _)) if page.len() > limit => {
                from = last.to_vec();
                from.push(0);
            }
            _ => break,
        }
    }
    let next_token = names
        .last()
        .filter(|_| max_results.is_some() && more)
        .map(|last| encode_token(last));
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
        return Ok(Err(SqsError::invalid_parameter(texts::MAX_RESULTS)));
    }
    let after = match next_token {
        Some(token) => match decode_token(token) {
            Some(after) => Some(after),
            None => return Ok(Err(SqsError::invalid_parameter(texts::INVALID_NEXT_TOKEN))),
        },
        None => None,
    };
    let arn = queue_arn(ctx, &target.name);
    let limit = max_results.unwrap_or(MAX_LIST_RESULTS) as usize;
    let mut names = Vec::new();
    let mut more = false;
    for queue in queue_record::all(state)? {
        if after.as_deref().is_some_and(|a| queue.name.as_str() <= a) {
            continue;
        }
        let targets_it = attributes::stored_redrive_policy(&queue.attributes)
            .is_some_and(|p| p.target_arn == arn);
        if targets_it {
            if names.len() == limit {
                more = true;
                break;
            }
            names.push(queue.name);
        }
    }
    let next_token = names
        .last()
        .filter(|_| more && max_results.is_some())
        .map(|last| encode_token(last));
    Ok(Ok(Output::QueueList { names, next_token }))
}

fn encode_token(last_name: &str) -> String {
    hex::encode(last_name.as_bytes())
}

fn decode_token(token: &str) -> Option<String> {
    String::from_utf8(hex::decode(token).ok()?).ok()
}
