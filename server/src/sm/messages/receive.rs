//! ReceiveMessage inside apply: one bounded scan of the receive index from the queue's
//! receive floor (on a standard queue, what it met is taken in send order); each message
//! taken goes in flight under the next edge-minted receipt token. FIFO queues return a group's messages in order and never a group with a
//! message in flight. Messages past retention are dropped and those over
//! `maxReceiveCount` dead-lettered as the scan meets them.

use super::dead_letter::{self, Redrive};
use super::{
    MAX_IN_FLIGHT, MAX_IN_FLIGHT_FIFO, MessageRecord, MessageState, attr_u64, retention_ms, store,
};
use crate::error::{ErrorCode, SqsError, texts};
use crate::sm::command::{AttributeValue, CommandResult, Output, ReceiptHandle, ReceivedMessage};
use crate::sm::keys;
use crate::sm::queue_record::QueueRecord;
use crate::sm::receive_floor;
use crate::sm::txn::{StateRead, Txn};
use std::io;

/// What one receive works with, decided before the scan.
struct Receive<'a> {
    now: u64,
    queue: &'a QueueRecord,
    timeout_ms: u64,
    retention_ms: u64,
    redrive: Option<Redrive>,
    in_flight_limit: u64,
    tokens: &'a [u64],
    wanted: usize,
}

/// What became of one message the scan met.
enum Met {
    /// Taken (in flight now); a FIFO group may bring its next message along.
    Taken,
    /// Gone, not yet visible, expired or dead-lettered: go on with the next head.
    Skipped,
    /// The queue holds as many messages in flight as it may.
    OverLimit,
}

/// ReceiveMessage: makes up to `max` visible messages in flight under new receipt tokens.
/// FIFO queues return messages of a group in order and never a group with a message in
/// flight; one receive may take several messages of one group.
pub fn receive(
    txn: &mut Txn<'_>,
    now: u64,
    queue: &QueueRecord,
    max: u32,
    visibility_timeout: Option<u32>,
    tokens: &[u64],
) -> io::Result<CommandResult> {
    let default_timeout = attr_u64(queue, "VisibilityTimeout", 30) as u32;
    let r = Receive {
        now,
        queue,
        timeout_ms: u64::from(visibility_timeout.unwrap_or(default_timeout)) * 1000,
        retention_ms: retention_ms(queue),
        redrive: dead_letter::redrive(txn, queue)?,
        in_flight_limit: if queue.fifo {
            MAX_IN_FLIGHT_FIFO
        } else {
            MAX_IN_FLIGHT
        },
        tokens,
        wanted: (max as usize).min(tokens.len()),
    };
    let range = receive_floor::visible_range(txn, queue.id, now)?;
    let mut heads = txn.scan(&range.start, &range.end, r.wanted + 64)?;
    let first = heads.first().map(|(k, _)| k.as_slice());
    receive_floor::advance(txn, queue.id, now, &range, first)?;
    if !queue.fifo {
        // Best-effort send order, as AWS: among the messages the scan met, the earliest
        // sent first, so one back from its visibility timeout precedes later sends.
        heads.sort_by_key(|(key, _)| keys::parse_timed(key).map(|(_, seq)| seq));
    }
    let mut received = Vec::new();
    let mut over_limit = false;
    for (key, _) in heads {
        let Some((_, head_seq)) = keys::parse_timed(&key) else {
            continue;
        };
        if received.len() >= r.wanted {
            break;
        }
        if let Met::OverLimit = take_group(txn, &r, head_seq, &mut received)? {
            over_limit = true;
            break;
        }
    }
    if over_limit && received.is_empty() {
        return Ok(Err(SqsError::new(
            ErrorCode::OverLimit,
            texts::TOO_MANY_IN_FLIGHT,
        )));
    }
    Ok(Ok(Output::Received(received)))
}

/// Takes the message at `head_seq` and, on a FIFO queue, the visible messages after it
/// in its group, while the receive wants more.
fn take_group(
    txn: &mut Txn<'_>,
    r: &Receive<'_>,
    head_seq: u64,
    received: &mut Vec<ReceivedMessage>,
) -> io::Result<Met> {
    let mut seq = head_seq;
    loop {
        let met = take_one(txn, r, seq, seq == head_seq, received)?;
        let Met::Taken = met else {
            return Ok(met);
        };
        if received.len() >= r.wanted {
            return Ok(Met::Taken);
        }
        let group = received.last().and_then(|m| m.group_id.as_deref());
        let next = match group.filter(|_| r.queue.fifo) {
            Some(group) => store::next_in_group(txn, r.queue.id, group, seq)?,
            None => None,
        };
        match next {
            Some(next) => seq = next,
            None => return Ok(Met::Taken),
        }
    }
}

/// Takes one message, unless it is gone, not yet visible (a group's follower), past
/// retention (dropped), over its receive count (dead-lettered) or the queue is at its
/// in-flight limit.
fn take_one(
    txn: &mut Txn<'_>,
    r: &Receive<'_>,
    seq: u64,
    is_head: bool,
    received: &mut Vec<ReceivedMessage>,
) -> io::Result<Met> {
    let (now, queue) = (r.now, r.queue);
    let Some(old) = store::load(txn, queue.id, seq)? else {
        return Ok(Met::Skipped);
    };
    if !is_head && old.visible_at_ms > now {
        return Ok(Met::Skipped);
    }
    if old.sent_ms.saturating_add(r.retention_ms) <= now {
        store::remove(txn, queue, seq, &old)?;
        return Ok(Met::Skipped);
    }
    if let Some(redrive) = &r.redrive
        && old.receive_count >= redrive.max_receive_count
    {
        let source = Some(queue.name.clone());
        dead_letter::move_message(txn, now, queue, seq, &old, &redrive.target, source)?;
        return Ok(Met::Skipped);
    }
    let in_flight = store::counters(txn, queue.id)?.in_flight;
    if in_flight >= r.in_flight_limit && old.state != MessageState::InFlight {
        return Ok(Met::OverLimit);
    }
    let token = r.tokens[received.len()];
    let new = MessageRecord {
        state: if r.timeout_ms > 0 {
            MessageState::InFlight
        } else {
            MessageState::Visible
        },
        visible_at_ms: now + r.timeout_ms,
        receive_count: old.receive_count + 1,
        first_receive_ms: if old.first_receive_ms == 0 {
            now
        } else {
            old.first_receive_ms
        },
        token,
        ..old.clone()
    };
    store::update(txn, queue.id, seq, &old, &new)?;
    let mut system_attributes = new.system_attributes;
    if let Some(source) = new.dead_letter_source {
        system_attributes.insert(
            dead_letter::SOURCE_ATTRIBUTE.to_string(),
            AttributeValue {
                data_type: "String".into(),
                string_value: Some(source),
                binary_value: None,
                string_list_values: Vec::new(),
                binary_list_values: Vec::new(),
            },
        );
    }
    received.push(ReceivedMessage {
        message_id: new.message_id,
        handle: ReceiptHandle {
            queue_id: queue.id,
            seq,
            token,
        },
        body: new.body,
        md5_body: new.md5_body,
        attributes: new.attributes,
        system_attributes,
        sent_ms: new.sent_ms,
        sender_id: new.sender_id,
        receive_count: new.receive_count,
        first_receive_ms: new.first_receive_ms,
        group_id: new.group_id,
        dedup_id: new.dedup_id,
        sequence_number: queue.fifo.then_some(seq),
    });
    Ok(Met::Taken)
}

/// A replayed receive answer (a retried request or ReceiveRequestAttemptId): keeps only
/// the messages still in flight under the handle the answer carries. A message deleted,
/// released, timed out or received again since must not come back under its old handle:
/// the caller would hold a handle that no longer works while taking the current one for
/// stale.
pub fn still_held(txn: &Txn<'_>, now: u64, answer: CommandResult) -> io::Result<CommandResult> {
    let Ok(Output::Received(messages)) = answer else {
        return Ok(answer);
    };
    let mut held = Vec::with_capacity(messages.len());
    for m in messages {
        let current = store::load(txn, m.handle.queue_id, m.handle.seq)?;
        if current.is_some_and(|c| c.token == m.handle.token && c.visible_at_ms > now) {
            held.push(m);
        }
    }
    Ok(Ok(Output::Received(held)))
}
