//! Message move tasks (StartMessageMoveTask / ListMessageMoveTasks /
//! CancelMessageMoveTask): moving a dead-letter queue's messages back to their source
//! queues, or to an explicit destination, at a bounded rate.
//!
//! A task is replicated state: housekeeping entries credit it `rate × elapsed apply time`
//! moves and perform them, so its progress survives leader changes and restarts and
//! every replica moves the same messages.

use super::command::{CommandResult, MoveStatus, MoveTaskInfo, Output};
use super::keys;
use super::messages::{self, MessageRecord};
use super::queue_record::{self, QueueRecord};
use super::txn::{StateRead, Txn};
use crate::codec::{decode, encode};
use crate::error::{ErrorCode, SqsError, texts};
use std::io;

/// Moves per second when the task names no rate.
pub const DEFAULT_RATE: u32 = 500;
/// Most tasks ListMessageMoveTasks returns.
pub const MAX_LISTED: u32 = 10;

fn tasks(state: &impl StateRead, queue_id: u64) -> io::Result<Vec<MoveTaskInfo>> {
    let start = keys::queue_start(keys::MOVE_TASK, queue_id);
    let end = keys::queue_start(keys::MOVE_TASK, queue_id + 1);
    state
        .scan(&start, &end, usize::MAX)?
        .into_iter()
        .map(|(_, v)| decode(&v))
        .collect()
}

/// AWS's `ResourceNotFoundException` for an ARN parameter naming no queue.
fn no_such_queue(parameter: &str) -> SqsError {
    SqsError::new(
        ErrorCode::ResourceNotFound,
        texts::resource_missing(parameter),
    )
}

fn save(txn: &mut Txn<'_>, queue_id: u64, task: &MoveTaskInfo) -> io::Result<()> {
    txn.put(keys::move_task(queue_id, task.task_id), encode(task)?);
    Ok(())
}

/// Whether any queue's RedrivePolicy names `dlq`.
fn is_dead_letter_queue(state: &impl StateRead, dlq: &QueueRecord) -> io::Result<bool> {
    Ok(queue_record::all(state)?.iter().any(|q| {
        super::attributes::stored_redrive_policy(&q.attributes)
            .is_some_and(|p| p.target_key(&q.name) == dlq.name)
    }))
}

/// StartMessageMoveTask.
pub fn start(
    txn: &mut Txn<'_>,
    now: u64,
    source: &str,
    destination: Option<&str>,
    rate: Option<u32>,
) -> io::Result<CommandResult> {
    let Some(queue) = queue_record::load(txn, source)? else {
        return Ok(Err(no_such_queue("SourceArn")));
    };
    if !is_dead_letter_queue(txn, &queue)? {
        return Ok(Err(SqsError::invalid_parameter(
            texts::MOVE_SOURCE_NOT_DEAD_LETTER,
        )));
    }
    if let Some(dest) = destination
        && queue_record::load(txn, dest)?.is_none()
    {
        return Ok(Err(no_such_queue("DestinationArn")));
    }
    let existing = tasks(txn, queue.id)?;
    if existing.iter().any(|t| t.status == MoveStatus::Running) {
        return Ok(Err(SqsError::invalid_parameter(texts::MOVE_TASK_ACTIVE)));
    }
    let c = messages::counters(txn, queue.id)?;
    let task = MoveTaskInfo {
        task_id: existing.iter().map(|t| t.task_id + 1).max().unwrap_or(1),
        source: queue.name.clone(),
        destination: destination.map(str::to_string),
        rate,
        status: MoveStatus::Running,
        moved: 0,
        to_move: c.visible + c.in_flight + c.delayed,
        started_ms: now,
        progressed_ms: now,
        failure: None,
    };
    save(txn, queue.id, &task)?;
    Ok(Ok(Output::MoveTask(task)))
}

/// CancelMessageMoveTask: stops a running task; what moved stays moved.
pub fn cancel(txn: &mut Txn<'_>, source: &str, task_id: u64) -> io::Result<CommandResult> {
    let not_found = || {
        Ok(Err(SqsError::new(
            ErrorCode::ResourceNotFound,
            texts::MOVE_TASK_NOT_RUNNING,
        )))
    };
    let Some(queue) = queue_record::load(txn, source)? else {
        return Ok(Err(no_such_queue("SourceArn")));
    };
    let Some(mut task) = txn
        .get(&keys::move_task(queue.id, task_id))?
        .map(|b| decode::<MoveTaskInfo>(&b))
        .transpose()?
    else {
        return not_found();
    };
    if task.status != MoveStatus::Running {
        return not_found();
    }
    task.status = MoveStatus::Cancelled;
    save(txn, queue.id, &task)?;
    Ok(Ok(Output::MoveTask(task)))
}

/// ListMessageMoveTasks: newest first.
pub fn list(state: &impl StateRead, source: &str, max_results: u32) -> io::Result<CommandResult> {
    if !(1..=MAX_LISTED).contains(&max_results) {
        return Ok(Err(SqsError::invalid_parameter(
            texts::MOVE_TASKS_MAX_RESULTS,
        )));
    }
    let Some(queue) = queue_record::load(state, source)? else {
        return Ok(Err(no_such_queue("SourceArn")));
    };
    let mut all = tasks(state, queue.id)?;
    all.reverse();
    all.truncate(max_results as usize);
    Ok(Ok(Output::MoveTasks(all)))
}

/// Housekeeping: advances the queue's running task; returns the work used.
pub fn advance(
    txn: &mut Txn<'_>,
    now: u64,
    queue: &QueueRecord,
    budget: usize,
) -> io::Result<usize> {
    let Some(mut task) = tasks(txn, queue.id)?
        .into_iter()
        .find(|t| t.status == MoveStatus::Running)
    else {
        return Ok(0);
    };
    let rate = u64::from(task.rate.unwrap_or(DEFAULT_RATE));
    let elapsed = now.saturating_sub(task.progressed_ms);
    let allowed = ((rate * elapsed) / 1000).min(budget as u64) as usize;
    if allowed == 0 {
        return Ok(0);
    }
    let batch = messages::visible_messages(txn, queue.id, now, allowed)?;
    if batch.is_empty() {
        task.status = MoveStatus::Completed;
        save(txn, queue.id, &task)?;
        return Ok(1);
    }
    let mut used = 0;
    for (seq, m) in batch {
        match destination(txn, &task, &m)? {
            Ok(to) => {
                messages::move_message(txn, now, queue, seq, &m, &to, None)?;
                task.moved += 1;
                used += 1;
            }
            Err(reason) => {
                task.status = MoveStatus::Failed;
                task.failure = Some(reason);
                break;
            }
        }
    }
    // Credit only the time the moves used, so the rate holds over the task's life.
    task.progressed_ms += (used as u64 * 1000).div_ceil(rate.max(1));
    task.progressed_ms = task.progressed_ms.min(now);
    save(txn, queue.id, &task)?;
    Ok(used)
}

/// Where a message goes: the task's destination, or the queue it was dead-lettered from.
fn destination(
    txn: &Txn<'_>,
    task: &MoveTaskInfo,
    m: &MessageRecord,
) -> io::Result<Result<QueueRecord, String>> {
    let Some(name) = task
        .destination
        .as_deref()
        .or(m.dead_letter_source.as_deref())
    else {
        return Ok(Err(format!(
            "Message {} has no source queue to return to.",
            m.message_id
        )));
    };
    Ok(queue_record::load(txn, name)?.ok_or_else(|| {
        let name = super::queue_key::name(name);
        format!("Destination queue {name} does not exist.")
    }))
}
