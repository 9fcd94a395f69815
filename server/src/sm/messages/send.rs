//! SendMessage(Batch) inside apply: on a FIFO queue every entry must first name its
//! group and have a deduplication id (given or content-based), or the whole call fails
//! and nothing is stored, as on AWS. Then each entry is checked against the queue's
//! rules (size, per-message delay) and stored under the queue's next sequence number; a
//! failing entry goes to `Failed` without stopping the others.

use super::{MessageRecord, MessageState, attr_u64, fail, fifo_dedup, store};
use crate::error::{SqsError, texts};
use crate::sm::command::{CommandResult, Output, SendEntry, SentMessage};
use crate::sm::queue_record::QueueRecord;
use crate::sm::txn::Txn;
use std::io;

/// SendMessage(Batch): stores each entry that fits the queue's rules, or fails the whole
/// call when a FIFO entry lacks its group or deduplication id.
pub fn send(
    txn: &mut Txn<'_>,
    now: u64,
    queue: &QueueRecord,
    entries: &[SendEntry],
) -> io::Result<CommandResult> {
    if queue.fifo
        && let Some(error) = entries.iter().find_map(|e| fifo_ids(queue, e).err())
    {
        return Ok(Err(error));
    }
    let mut successful = Vec::new();
    let mut failed = Vec::new();
    for e in entries {
        match send_one(txn, now, queue, e)? {
            Ok(sent) => successful.push(sent),
            Err(error) => failed.push(fail(&e.id, error)),
        }
    }
    store::keep_counters(txn, queue.id)?;
    Ok(Ok(Output::Sent { successful, failed }))
}

/// Stores one entry, or answers a FIFO duplicate with the original, or says why not.
fn send_one(
    txn: &mut Txn<'_>,
    now: u64,
    queue: &QueueRecord,
    e: &SendEntry,
) -> io::Result<Result<SentMessage, SqsError>> {
    if let Err(error) = check(queue, e) {
        return Ok(Err(error));
    }
    let mut dedup = None;
    if queue.fifo {
        let (dedup_id, key) = match fifo_dedup::key(queue, e) {
            Ok(k) => k,
            Err(error) => return Ok(Err(error)),
        };
        if let Some(seen) = fifo_dedup::seen(txn, &key, now)? {
            // A duplicate inside the window: the original's answer, nothing stored.
            return Ok(Ok(sent(e, seen.message_id, Some(seen.seq))));
        }
        dedup = Some((dedup_id, key));
    }
    let delay_ms = per_message_delay(queue, e)
        .map_or(attr_u64(queue, "DelaySeconds", 0) * 1000, |d| {
            u64::from(d) * 1000
        });
    let record = MessageRecord {
        message_id: e.message_id.clone(),
        body: e.body.clone(),
        attributes: e.attributes.clone(),
        system_attributes: e.system_attributes.clone(),
        md5_body: e.md5_body.clone(),
        md5_attributes: e.md5_attributes.clone(),
        md5_system_attributes: e.md5_system_attributes.clone(),
        sender_id: e.sender_id.clone(),
        sent_ms: now,
        visible_at_ms: now + delay_ms,
        state: if delay_ms > 0 {
            MessageState::Delayed
        } else {
            MessageState::Visible
        },
        receive_count: 0,
        first_receive_ms: 0,
        token: 0,
        group_id: e.group_id.clone(),
        dedup_id: dedup.as_ref().map(|(id, _)| id.clone()),
        listed: false,
        dead_letter_source: None,
    };
    let seq = store::add(txn, queue, record)?;
    if let Some((_, key)) = dedup {
        fifo_dedup::record(txn, queue.id, key, &e.message_id, seq, now)?;
    }
    Ok(Ok(sent(e, e.message_id.clone(), queue.fifo.then_some(seq))))
}

/// The queue's rules an entry must meet before anything is looked up.
fn check(queue: &QueueRecord, e: &SendEntry) -> Result<(), SqsError> {
    let max_size = attr_u64(queue, "MaximumMessageSize", 1_048_576);
    if e.size > max_size {
        return Err(SqsError::invalid_parameter(texts::message_too_long(
            max_size,
        )));
    }
    if queue.fifo {
        if per_message_delay(queue, e).is_some() {
            return Err(SqsError::invalid_parameter(texts::DELAY_NOT_FOR_FIFO));
        }
    } else if e.dedup_id.is_some() {
        return Err(SqsError::invalid_parameter(
            texts::DEDUPLICATION_ID_NOT_FOR_STANDARD,
        ));
    }
    Ok(())
}

/// The ids a FIFO entry must carry: its group, and a deduplication id unless the queue
/// deduplicates by content. A missing one fails the whole call.
fn fifo_ids(queue: &QueueRecord, e: &SendEntry) -> Result<(), SqsError> {
    if e.group_id.is_none() {
        return Err(SqsError::missing_parameter("MessageGroupId"));
    }
    fifo_dedup::require_source(queue, e)
}

/// The entry's own delay. On a FIFO queue an explicit 0 is no per-message delay (the
/// queue's DelaySeconds applies), as AWS accepts it there; any other value is refused.
fn per_message_delay(queue: &QueueRecord, e: &SendEntry) -> Option<u32> {
    e.delay_seconds.filter(|d| !(queue.fifo && *d == 0))
}

fn sent(e: &SendEntry, message_id: String, sequence_number: Option<u64>) -> SentMessage {
    SentMessage {
        id: e.id.clone(),
        message_id,
        md5_body: e.md5_body.clone(),
        md5_attributes: e.md5_attributes.clone(),
        md5_system_attributes: e.md5_system_attributes.clone(),
        sequence_number,
    }
}
