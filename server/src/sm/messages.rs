//! Messages inside apply: send, receive, delete, change visibility, purge, retention,
//! the return of delayed and in-flight messages to visible, FIFO ordering and
//! deduplication, and dead-letter moves.
//!
//! Indexes (see [`keys`]): `v` lists the messages a receive may take, by when they are
//! visible — every message of a standard queue, but only the head of each message group
//! of a FIFO queue, so a group with a message in flight is skipped without scanning it;
//! `w` lists delayed and in-flight messages by when they turn visible, so housekeeping
//! touches exactly the messages whose state changes; `t` orders messages by sent time for
//! retention; `g` orders a FIFO group's messages. Per-queue counters are maintained by
//! every transition, so the `Approximate*` attributes never scan.

use super::catalog::{self, QueueRecord};
use super::command::{
    BatchFailure, CommandResult, HandleEntry, Output, ReceiptHandle, ReceivedMessage, SendEntry,
    SentMessage, VisibilityEntry,
};
use super::keys::{self, GROUP, RETENTION, VISIBLE, WAITING};
use super::receive_floor;
use super::txn::{StateRead, Txn};
use crate::codec::{decode, encode};
use crate::error::{ErrorCode, SqsError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io;

pub use super::command::AttributeValue;

/// Most in-flight messages a standard queue may hold.
pub const MAX_IN_FLIGHT: u64 = 120_000;
/// Most in-flight messages a FIFO queue may hold.
pub const MAX_IN_FLIGHT_FIFO: u64 = 120_000;
/// Longest visibility timeout, seconds.
pub const MAX_VISIBILITY_TIMEOUT: u32 = 43_200;
/// Minimum time between two purges of one queue.
pub const PURGE_INTERVAL_MS: u64 = 60_000;
/// FIFO deduplication (and ReceiveRequestAttemptId) window.
pub const FIFO_DEDUP_WINDOW_MS: u64 = 5 * 60 * 1000;

/// Per-queue message counts by state, and the next sequence number.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueCounters {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
    pub next_seq: u64,
    pub last_purge_ms: Option<u64>,
}

/// The state a message is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageState {
    Visible,
    Delayed,
    InFlight,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub message_id: String,
    pub body: String,
    pub attributes: BTreeMap<String, AttributeValue>,
    pub system_attributes: BTreeMap<String, AttributeValue>,
    pub md5_body: String,
    pub md5_attributes: Option<String>,
    pub md5_system_attributes: Option<String>,
    pub sender_id: String,
    pub sent_ms: u64,
    pub visible_at_ms: u64,
    pub state: MessageState,
    pub receive_count: u32,
    pub first_receive_ms: u64,
    /// Token of the current receipt handle (0: never received).
    pub token: u64,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
    /// Whether the message is in the receive index `v` (always on standard queues; the
    /// group head on FIFO queues).
    pub listed: bool,
    /// The queue it was dead-lettered from (where a move task returns it).
    pub dead_letter_source: Option<String>,
}

/// A FIFO deduplication record: the answer a duplicate send gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FifoDedup {
    message_id: String,
    seq: u64,
    expires_ms: u64,
}

impl QueueCounters {
    fn slot(&mut self, state: MessageState) -> &mut u64 {
        match state {
            MessageState::Visible => &mut self.visible,
            MessageState::Delayed => &mut self.delayed,
            MessageState::InFlight => &mut self.in_flight,
        }
    }

    fn forget(&mut self, state: MessageState) {
        let slot = self.slot(state);
        *slot = slot.saturating_sub(1);
    }

    fn moved(&mut self, from: MessageState, to: MessageState) {
        self.forget(from);
        *self.slot(to) += 1;
    }
}

/// Reads a queue's counters.
pub fn counters(state: &impl StateRead, queue_id: u64) -> io::Result<QueueCounters> {
    Ok(match state.get(&keys::counters(queue_id))? {
        Some(b) => decode(&b)?,
        None => QueueCounters::default(),
    })
}

fn save_counters(txn: &mut Txn<'_>, queue_id: u64, c: &QueueCounters) -> io::Result<()> {
    txn.put(keys::counters(queue_id), encode(c)?);
    Ok(())
}

fn load(txn: &Txn<'_>, queue_id: u64, seq: u64) -> io::Result<Option<MessageRecord>> {
    txn.get(&keys::message(queue_id, seq))?
        .map(|b| decode(&b))
        .transpose()
}

fn is_waiting(state: MessageState) -> bool {
    state != MessageState::Visible
}

/// The FIFO group a message is ordered in (none on standard queues).
fn fifo_group<'m>(queue: &QueueRecord, m: &'m MessageRecord) -> Option<&'m str> {
    if queue.fifo {
        m.group_id.as_deref()
    } else {
        None
    }
}

/// Writes a new message with all its index entries.
fn insert(txn: &mut Txn<'_>, queue: &QueueRecord, seq: u64, m: &MessageRecord) -> io::Result<()> {
    let id = queue.id;
    txn.put(keys::message(id, seq), encode(m)?);
    if m.listed {
        txn.put(keys::timed(VISIBLE, id, m.visible_at_ms, seq), Vec::new());
    }
    if is_waiting(m.state) {
        txn.put(keys::timed(WAITING, id, m.visible_at_ms, seq), Vec::new());
    }
    txn.put(keys::timed(RETENTION, id, m.sent_ms, seq), Vec::new());
    if let Some(group) = fifo_group(queue, m) {
        txn.put(keys::group_member(id, group, seq), Vec::new());
    }
    Ok(())
}

/// Rewrites a message whose visibility, state or listing changed from `old`.
fn update(
    txn: &mut Txn<'_>,
    queue_id: u64,
    seq: u64,
    old: &MessageRecord,
    new: &MessageRecord,
) -> io::Result<()> {
    let moved = old.visible_at_ms != new.visible_at_ms;
    if old.listed && (!new.listed || moved) {
        txn.delete(keys::timed(VISIBLE, queue_id, old.visible_at_ms, seq));
    }
    if new.listed && (!old.listed || moved) {
        txn.put(
            keys::timed(VISIBLE, queue_id, new.visible_at_ms, seq),
            Vec::new(),
        );
    }
    if is_waiting(old.state) && (!is_waiting(new.state) || moved) {
        txn.delete(keys::timed(WAITING, queue_id, old.visible_at_ms, seq));
    }
    if is_waiting(new.state) && (!is_waiting(old.state) || moved) {
        txn.put(
            keys::timed(WAITING, queue_id, new.visible_at_ms, seq),
            Vec::new(),
        );
    }
    txn.put(keys::message(queue_id, seq), encode(new)?);
    Ok(())
}

/// Deletes a message and its index entries; on a FIFO queue the next message of its
/// group becomes the group's head.
fn remove(txn: &mut Txn<'_>, queue: &QueueRecord, seq: u64, m: &MessageRecord) -> io::Result<()> {
    let id = queue.id;
    txn.delete(keys::message(id, seq));
    if m.listed {
        txn.delete(keys::timed(VISIBLE, id, m.visible_at_ms, seq));
    }
    if is_waiting(m.state) {
        txn.delete(keys::timed(WAITING, id, m.visible_at_ms, seq));
    }
    txn.delete(keys::timed(RETENTION, id, m.sent_ms, seq));
    if let Some(group) = fifo_group(queue, m) {
        txn.delete(keys::group_member(id, group, seq));
        if m.listed {
            promote_head(txn, queue, group)?;
        }
    }
    Ok(())
}

/// Whether a message arriving now goes into the receive index: always on a standard
/// queue; on a FIFO queue only when its group has no message yet (it is the head).
fn arrives_listed(txn: &Txn<'_>, queue: &QueueRecord, group: Option<&str>) -> io::Result<bool> {
    match (queue.fifo, group) {
        (true, Some(group)) => {
            let start = keys::group_start(queue.id, group);
            Ok(txn.scan(&start, &keys::prefix_end(&start), 1)?.is_empty())
        }
        _ => Ok(true),
    }
}

/// Lists the first message of a FIFO group in the receive index.
fn promote_head(txn: &mut Txn<'_>, queue: &QueueRecord, group: &str) -> io::Result<()> {
    let start = keys::group_start(queue.id, group);
    let end = keys::prefix_end(&start);
    let Some((key, _)) = txn.scan(&start, &end, 1)?.into_iter().next() else {
        return Ok(());
    };
    let Some(seq) = keys::parse_group_seq(&key) else {
        return Ok(());
    };
    if let Some(old) = load(txn, queue.id, seq)?
        && !old.listed
    {
        let new = MessageRecord {
            listed: true,
            ..old.clone()
        };
        update(txn, queue.id, seq, &old, &new)?;
        // Listed at its send time, which may sort below the receive floor.
        receive_floor::lower_to(txn, queue.id, new.visible_at_ms)?;
        if !is_waiting(new.state) {
            txn.touch(queue.id);
        }
    }
    Ok(())
}

fn attr_u64(queue: &QueueRecord, name: &str, default: u64) -> u64 {
    queue
        .attributes
        .get(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn retention_ms(queue: &QueueRecord) -> u64 {
    attr_u64(queue, "MessageRetentionPeriod", 345_600) * 1000
}

fn fail(id: &str, error: SqsError) -> BatchFailure {
    BatchFailure {
        id: id.to_string(),
        error,
    }
}

/// The FIFO deduplication key of an entry (scope per DeduplicationScope), or the error
/// when the queue has no way to deduplicate it.
fn fifo_dedup_key(queue: &QueueRecord, e: &SendEntry) -> Result<(String, Vec<u8>), SqsError> {
    let dedup_id = match &e.dedup_id {
        Some(id) => id.clone(),
        None if queue
            .attributes
            .get("ContentBasedDeduplication")
            .map(String::as_str)
            == Some("true") =>
        {
            hex::encode(Sha256::digest(e.body.as_bytes()))
        }
        None => {
            return Err(SqsError::invalid_parameter(
                "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
            ));
        }
    };
    let group = e.group_id.as_deref().unwrap_or("");
    let scope = match queue
        .attributes
        .get("DeduplicationScope")
        .map(String::as_str)
    {
        Some("messageGroup") => format!("{group}\0{dedup_id}"),
        _ => dedup_id.clone(),
    };
    Ok((dedup_id, keys::fifo_dedup(queue.id, &scope)))
}

/// SendMessage(Batch): stores each entry that fits the queue's rules.
pub fn send(
    txn: &mut Txn<'_>,
    now: u64,
    queue: &QueueRecord,
    entries: &[SendEntry],
) -> io::Result<CommandResult> {
    let max_size = attr_u64(queue, "MaximumMessageSize", 1_048_576);
    let queue_delay_ms = attr_u64(queue, "DelaySeconds", 0) * 1000;
    let mut c = counters(txn, queue.id)?;
    let mut successful = Vec::new();
    let mut failed = Vec::new();
    for e in entries {
        if e.size > max_size {
            failed.push(fail(
                &e.id,
                SqsError::invalid_parameter(format!(
                    "One or more parameters are invalid. Reason: Message must be shorter than {max_size} bytes."
                )),
            ));
            continue;
        }
        let mut dedup = None;
        if queue.fifo {
            if e.group_id.is_none() {
                failed.push(fail(&e.id, SqsError::missing_parameter("MessageGroupId")));
                continue;
            }
            if e.delay_seconds.is_some() {
                failed.push(fail(
                    &e.id,
                    SqsError::invalid_parameter(
                        "Value for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.",
                    ),
                ));
                continue;
            }
            let (dedup_id, key) = match fifo_dedup_key(queue, e) {
                Ok(k) => k,
                Err(error) => {
                    failed.push(fail(&e.id, error));
                    continue;
                }
            };
            if let Some(bytes) = txn.get(&key)? {
                let seen: FifoDedup = decode(&bytes)?;
                if seen.expires_ms > now {
                    // A duplicate inside the window: the original's answer, nothing stored.
                    successful.push(SentMessage {
                        id: e.id.clone(),
                        message_id: seen.message_id,
                        md5_body: e.md5_body.clone(),
                        md5_attributes: e.md5_attributes.clone(),
                        md5_system_attributes: e.md5_system_attributes.clone(),
                        sequence_number: Some(seen.seq),
                    });
                    continue;
                }
            }
            dedup = Some((dedup_id, key));
        } else if e.dedup_id.is_some() {
            failed.push(fail(
                &e.id,
                SqsError::invalid_parameter(
                    "Value for parameter MessageDeduplicationId is invalid. Reason: The request includes a parameter that is not valid for this queue type.",
                ),
            ));
            continue;
        }
        let delay_ms = e
            .delay_seconds
            .map_or(queue_delay_ms, |d| u64::from(d) * 1000);
        let state = if delay_ms > 0 {
            MessageState::Delayed
        } else {
            MessageState::Visible
        };
        let seq = c.next_seq;
        c.next_seq += 1;
        *c.slot(state) += 1;
        let listed = arrives_listed(txn, queue, e.group_id.as_deref())?;
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
            state,
            receive_count: 0,
            first_receive_ms: 0,
            token: 0,
            group_id: e.group_id.clone(),
            dedup_id: dedup.as_ref().map(|(id, _)| id.clone()),
            listed,
            dead_letter_source: None,
        };
        insert(txn, queue, seq, &record)?;
        if let Some((_, key)) = dedup {
            let expires_ms = now + FIFO_DEDUP_WINDOW_MS;
            let entry = FifoDedup {
                message_id: e.message_id.clone(),
                seq,
                expires_ms,
            };
            txn.put(
                keys::fifo_dedup_expiry(queue.id, expires_ms, &key),
                Vec::new(),
            );
            txn.put(key, encode(&entry)?);
        }
        if state == MessageState::Visible && listed {
            txn.touch(queue.id);
        }
        successful.push(SentMessage {
            id: e.id.clone(),
            message_id: e.message_id.clone(),
            md5_body: e.md5_body.clone(),
            md5_attributes: e.md5_attributes.clone(),
            md5_system_attributes: e.md5_system_attributes.clone(),
            sequence_number: queue.fifo.then_some(seq),
        });
    }
    save_counters(txn, queue.id, &c)?;
    Ok(Ok(Output::Sent { successful, failed }))
}

/// Where a message goes when its receive count would exceed the redrive policy.
struct Redrive {
    target: QueueRecord,
    max_receive_count: u32,
}

fn redrive(txn: &Txn<'_>, queue: &QueueRecord) -> io::Result<Option<Redrive>> {
    let Some(policy) = queue
        .attributes
        .get("RedrivePolicy")
        .and_then(|p| super::attributes::redrive_policy(p))
    else {
        return Ok(None);
    };
    Ok(catalog::load(txn, policy.target_name())?
        .filter(|t| t.id != queue.id)
        .map(|target| Redrive {
            target,
            max_receive_count: u32::try_from(policy.max_receive_count).unwrap_or(u32::MAX),
        }))
}

/// Moves a message to a dead-letter queue: same id, body and attributes, visible now.
/// Moves a message to another queue: same id, body and attributes, visible now, receive
/// count reset. `source` is recorded as its dead-letter source (None clears it).
pub fn move_message(
    txn: &mut Txn<'_>,
    now: u64,
    from: &QueueRecord,
    seq: u64,
    m: &MessageRecord,
    to: &QueueRecord,
    source: Option<String>,
) -> io::Result<()> {
    let mut c = counters(txn, from.id)?;
    c.forget(m.state);
    save_counters(txn, from.id, &c)?;
    remove(txn, from, seq, m)?;
    let mut dc = counters(txn, to.id)?;
    let new_seq = dc.next_seq;
    dc.next_seq += 1;
    dc.visible += 1;
    let listed = arrives_listed(txn, to, m.group_id.as_deref())?;
    let moved = MessageRecord {
        visible_at_ms: now,
        state: MessageState::Visible,
        receive_count: 0,
        first_receive_ms: 0,
        token: 0,
        listed,
        dead_letter_source: source,
        ..m.clone()
    };
    insert(txn, to, new_seq, &moved)?;
    save_counters(txn, to.id, &dc)?;
    if listed {
        txn.touch(to.id);
    }
    Ok(())
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
    let timeout_ms =
        u64::from(visibility_timeout.unwrap_or(attr_u64(queue, "VisibilityTimeout", 30) as u32))
            * 1000;
    let retention = retention_ms(queue);
    let redrive = redrive(txn, queue)?;
    let limit = if queue.fifo {
        MAX_IN_FLIGHT_FIFO
    } else {
        MAX_IN_FLIGHT
    };
    let wanted = (max as usize).min(tokens.len());
    let range = receive_floor::visible_range(txn, queue.id, now)?;
    let heads = txn.scan(&range.start, &range.end, wanted + 64)?;
    let first = heads.first().map(|(k, _)| k.as_slice());
    receive_floor::advance(txn, queue.id, now, &range, first)?;
    let mut received: Vec<ReceivedMessage> = Vec::new();
    let mut over_limit = false;
    'heads: for (key, _) in heads {
        let Some((_, head_seq)) = keys::parse_timed(&key) else {
            continue;
        };
        // A FIFO head may bring the following messages of its group along.
        let mut seq = head_seq;
        loop {
            if received.len() >= wanted {
                break 'heads;
            }
            let Some(old) = load(txn, queue.id, seq)? else {
                continue 'heads;
            };
            if seq != head_seq && old.visible_at_ms > now {
                continue 'heads;
            }
            if old.sent_ms.saturating_add(retention) <= now {
                let mut c = counters(txn, queue.id)?;
                c.forget(old.state);
                save_counters(txn, queue.id, &c)?;
                remove(txn, queue, seq, &old)?;
                continue 'heads;
            }
            if let Some(r) = &redrive
                && old.receive_count >= r.max_receive_count
            {
                move_message(
                    txn,
                    now,
                    queue,
                    seq,
                    &old,
                    &r.target,
                    Some(queue.name.clone()),
                )?;
                continue 'heads;
            }
            let mut c = counters(txn, queue.id)?;
            if c.in_flight >= limit && old.state != MessageState::InFlight {
                over_limit = true;
                break 'heads;
            }
            let token = tokens[received.len()];
            let new = MessageRecord {
                state: if timeout_ms > 0 {
                    MessageState::InFlight
                } else {
                    MessageState::Visible
                },
                visible_at_ms: now + timeout_ms,
                receive_count: old.receive_count + 1,
                first_receive_ms: if old.first_receive_ms == 0 {
                    now
                } else {
                    old.first_receive_ms
                },
                token,
                ..old.clone()
            };
            c.moved(old.state, new.state);
            save_counters(txn, queue.id, &c)?;
            update(txn, queue.id, seq, &old, &new)?;
            received.push(ReceivedMessage {
                message_id: new.message_id.clone(),
                handle: ReceiptHandle {
                    queue_id: queue.id,
                    seq,
                    token,
                },
                body: new.body.clone(),
                md5_body: new.md5_body.clone(),
                attributes: new.attributes.clone(),
                system_attributes: new.system_attributes.clone(),
                sent_ms: new.sent_ms,
                sender_id: new.sender_id.clone(),
                receive_count: new.receive_count,
                first_receive_ms: new.first_receive_ms,
                group_id: new.group_id.clone(),
                dedup_id: new.dedup_id.clone(),
                sequence_number: queue.fifo.then_some(seq),
            });
            let Some(group) = fifo_group(queue, &new) else {
                continue 'heads;
            };
            match next_in_group(txn, queue.id, group, seq)? {
                Some(next) => seq = next,
                None => continue 'heads,
            }
        }
    }
    if over_limit && received.is_empty() {
        return Ok(Err(SqsError::new(
            ErrorCode::OverLimit,
            "The maximum number of in flight messages is reached.",
        )));
    }
    Ok(Ok(Output::Received(received)))
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
        let current = load(txn, m.handle.queue_id, m.handle.seq)?;
        if current.is_some_and(|c| c.token == m.handle.token && c.visible_at_ms > now) {
            held.push(m);
        }
    }
    Ok(Ok(Output::Received(held)))
}

/// The sequence number after `seq` in a FIFO group.
fn next_in_group(txn: &Txn<'_>, queue_id: u64, group: &str, seq: u64) -> io::Result<Option<u64>> {
    let start = keys::group_member(queue_id, group, seq.saturating_add(1));
    let end = keys::prefix_end(&keys::group_start(queue_id, group));
    Ok(txn
        .scan(&start, &end, 1)?
        .first()
        .and_then(|(k, _)| keys::parse_group_seq(k)))
}

fn invalid_handle(id: &str) -> BatchFailure {
    fail(
        id,
        SqsError::new(
            ErrorCode::ReceiptHandleIsInvalid,
            "The input receipt handle is invalid.",
        ),
    )
}

/// DeleteMessage(Batch): deletes each message whose handle is its current one. A stale
/// handle of an existing message, or a handle of a message already gone, succeeds
/// without deleting anything (AWS semantics).
pub fn delete(
    txn: &mut Txn<'_>,
    queue: &QueueRecord,
    entries: &[HandleEntry],
) -> io::Result<CommandResult> {
    let mut successful = Vec::new();
    let mut failed = Vec::new();
    for e in entries {
        if e.handle.queue_id != queue.id {
            failed.push(invalid_handle(&e.id));
            continue;
        }
        if let Some(m) = load(txn, queue.id, e.handle.seq)?
            && m.token == e.handle.token
            && m.token != 0
        {
            let mut c = counters(txn, queue.id)?;
            c.forget(m.state);
            save_counters(txn, queue.id, &c)?;
            remove(txn, queue, e.handle.seq, &m)?;
        }
        successful.push(e.id.clone());
    }
    Ok(Ok(Output::Batch { successful, failed }))
}

/// ChangeMessageVisibility(Batch): a message in flight under this handle gets a new
/// timeout counted from now (0 makes it visible at once).
pub fn change_visibility(
    txn: &mut Txn<'_>,
    now: u64,
    queue: &QueueRecord,
    entries: &[VisibilityEntry],
) -> io::Result<CommandResult> {
    let mut c = counters(txn, queue.id)?;
    let mut successful = Vec::new();
    let mut failed = Vec::new();
    for e in entries {
        if e.handle.queue_id != queue.id {
            failed.push(invalid_handle(&e.id));
            continue;
        }
        let current = load(txn, queue.id, e.handle.seq)?
            .filter(|m| m.token == e.handle.token && m.token != 0);
        let Some(old) = current else {
            failed.push(fail(
                &e.id,
                SqsError::invalid_parameter(format!(
                    "Value {} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.",
                    e.id
                )),
            ));
            continue;
        };
        if old.visible_at_ms <= now || old.state != MessageState::InFlight {
            failed.push(fail(
                &e.id,
                SqsError::new(
                    ErrorCode::MessageNotInflight,
                    "The message is not in flight.",
                ),
            ));
            continue;
        }
        let mut new = old.clone();
        new.visible_at_ms = now + u64::from(e.timeout_seconds) * 1000;
        if e.timeout_seconds == 0 {
            new.state = MessageState::Visible;
            txn.touch(queue.id);
        }
        c.moved(old.state, new.state);
        update(txn, queue.id, e.handle.seq, &old, &new)?;
        successful.push(e.id.clone());
    }
    save_counters(txn, queue.id, &c)?;
    Ok(Ok(Output::Batch { successful, failed }))
}

/// PurgeQueue: deletes every message, at most once per [`PURGE_INTERVAL_MS`].
pub fn purge(txn: &mut Txn<'_>, now: u64, queue: &QueueRecord) -> io::Result<CommandResult> {
    let mut c = counters(txn, queue.id)?;
    if let Some(last) = c.last_purge_ms
        && now < last + PURGE_INTERVAL_MS
    {
        return Ok(Err(SqsError::new(
            ErrorCode::PurgeQueueInProgress,
            format!(
                "Only one PurgeQueue operation on {} is allowed every 60 seconds.",
                queue.name
            ),
        )));
    }
    delete_messages(txn, queue.id);
    c.visible = 0;
    c.in_flight = 0;
    c.delayed = 0;
    c.last_purge_ms = Some(now);
    save_counters(txn, queue.id, &c)?;
    Ok(Ok(Output::Empty))
}

/// Deletes every message of a queue (purge, or the queue itself being deleted).
/// FIFO deduplication records survive a purge, as on AWS.
pub fn delete_messages(txn: &mut Txn<'_>, queue_id: u64) {
    for prefix in [keys::MESSAGE, VISIBLE, WAITING, RETENTION, GROUP] {
        let start = keys::queue_start(prefix, queue_id);
        let end = keys::queue_start(prefix, queue_id + 1);
        txn.delete_range(&start, &end);
    }
}

/// Removes all of a deleted queue's message state.
pub fn drop_queue(txn: &mut Txn<'_>, queue_id: u64) {
    delete_messages(txn, queue_id);
    for prefix in [keys::FIFO_DEDUP, keys::FIFO_DEDUP_EXPIRY] {
        let start = keys::queue_start(prefix, queue_id);
        let end = keys::queue_start(prefix, queue_id + 1);
        txn.delete_range(&start, &end);
    }
    txn.delete(keys::counters(queue_id));
    txn.delete(keys::receive_floor(queue_id));
}

/// Housekeeping for one queue: expires messages past retention and FIFO dedup records,
/// and moves delayed and in-flight messages whose time has come back to visible. Does
/// at most `budget` units of work; returns how many it used.
pub fn housekeep(
    txn: &mut Txn<'_>,
    now: u64,
    queue: &QueueRecord,
    budget: usize,
) -> io::Result<usize> {
    let mut used = 0;
    let retention = retention_ms(queue);
    if now >= retention {
        let start = keys::queue_start(RETENTION, queue.id);
        let end = keys::timed(RETENTION, queue.id, now - retention + 1, 0);
        for (key, _) in txn.scan(&start, &end, budget)? {
            let Some((_, seq)) = keys::parse_timed(&key) else {
                continue;
            };
            if let Some(m) = load(txn, queue.id, seq)? {
                let mut c = counters(txn, queue.id)?;
                c.forget(m.state);
                save_counters(txn, queue.id, &c)?;
                remove(txn, queue, seq, &m)?;
            }
            used += 1;
        }
    }
    let start = keys::queue_start(keys::FIFO_DEDUP_EXPIRY, queue.id);
    let end = keys::fifo_dedup_expiry(queue.id, now + 1, &[]);
    for (key, _) in txn.scan(&start, &end, budget.saturating_sub(used))? {
        if let Some(dedup_key) = keys::parse_fifo_dedup_expiry(&key) {
            txn.delete(dedup_key);
        }
        txn.delete(key);
        used += 1;
    }
    let start = keys::queue_start(WAITING, queue.id);
    let end = keys::timed(WAITING, queue.id, now.saturating_add(1), 0);
    let due = txn.scan(&start, &end, budget.saturating_sub(used))?;
    let mut c = counters(txn, queue.id)?;
    for (key, _) in due {
        let Some((_, seq)) = keys::parse_timed(&key) else {
            continue;
        };
        if let Some(old) = load(txn, queue.id, seq)? {
            let new = MessageRecord {
                state: MessageState::Visible,
                ..old.clone()
            };
            c.moved(old.state, new.state);
            update(txn, queue.id, seq, &old, &new)?;
            if new.listed {
                txn.touch(queue.id);
            }
        }
        used += 1;
    }
    save_counters(txn, queue.id, &c)?;
    Ok(used)
}

/// When the earliest waiting message of a queue turns visible (for long-poll wake-ups).
pub fn next_due_ms(state: &impl StateRead, queue_id: u64) -> io::Result<Option<u64>> {
    let c = counters(state, queue_id)?;
    if c.in_flight == 0 && c.delayed == 0 {
        // Nothing waits: skip the scan over tombstones of deleted in-flight messages.
        return Ok(None);
    }
    let start = keys::queue_start(WAITING, queue_id);
    let end = keys::queue_start(WAITING, queue_id + 1);
    Ok(state
        .scan(&start, &end, 1)?
        .first()
        .and_then(|(k, _)| keys::parse_timed(k))
        .map(|(at, _)| at))
}

/// Up to `limit` messages receivable at `now`, in receive order, as (seq, record).
pub fn visible_messages(
    txn: &Txn<'_>,
    queue_id: u64,
    now: u64,
    limit: usize,
) -> io::Result<Vec<(u64, MessageRecord)>> {
    let range = receive_floor::visible_range(txn, queue_id, now)?;
    let mut out = Vec::new();
    for (key, _) in txn.scan(&range.start, &range.end, limit)? {
        if let Some((_, seq)) = keys::parse_timed(&key)
            && let Some(m) = load(txn, queue_id, seq)?
        {
            out.push((seq, m));
        }
    }
    Ok(out)
}

/// Whether a queue has a message receivable at `now` (a cheap local pre-check).
pub fn has_visible(state: &impl StateRead, queue_id: u64, now: u64) -> io::Result<bool> {
    let range = receive_floor::visible_range(state, queue_id, now)?;
    Ok(!state.scan(&range.start, &range.end, 1)?.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sm::apply::apply_command;
    use crate::sm::command::{Command, Op, ReadOp, ReceiptHandle, VisibilityEntry};
    use crate::sm::read::{ReadContext, execute};
    use crate::sm::txn::DbRead;
    use rocksdb::DB;

    struct Fixture {
        _dir: tempfile::TempDir,
        db: DB,
        next: u64,
    }

    impl Fixture {
        fn new(attributes: &[(&str, &str)]) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let mut opts = rocksdb::Options::default();
            opts.create_if_missing(true);
            let db = DB::open(&opts, dir.path()).unwrap();
            let mut f = Fixture {
                _dir: dir,
                db,
                next: 0,
            };
            let attributes = attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            f.run(
                0,
                Op::CreateQueue {
                    name: "q".into(),
                    attributes,
                    tags: Default::default(),
                },
            )
            .unwrap();
            f
        }

        fn run(&mut self, now: u64, op: Op) -> CommandResult {
            self.next += 1;
            let request_id = format!("r{}", self.next);
            self.run_as(&request_id, now, op)
        }

        /// Applies `op` under a chosen request id (a retry reuses one).
        fn run_as(&mut self, request_id: &str, now: u64, op: Op) -> CommandResult {
            let command = Command {
                request_id: request_id.into(),
                time_ms: now,
                op,
            };
            let mut txn = Txn::new(&self.db);
            let result = apply_command(&mut txn, now, &command).unwrap();
            self.db.write(txn.into_batch()).unwrap();
            result
        }

        fn send(&mut self, now: u64, body: &str, delay: Option<u32>) -> CommandResult {
            self.run(
                now,
                Op::SendMessages {
                    queue: "q".into(),
                    entries: vec![entry(body, delay)],
                },
            )
        }

        fn receive(&mut self, now: u64, max: u32, vt: Option<u32>) -> Vec<ReceivedMessage> {
            let tokens = (0..max)
                .map(|i| 1000 * self.next + u64::from(i) + 1)
                .collect();
            match self.run(
                now,
                Op::ReceiveMessages {
                    queue: "q".into(),
                    max,
                    visibility_timeout: vt,
                    attempt_id: None,
                    tokens,
                },
            ) {
                Ok(Output::Received(m)) => m,
                other => panic!("receive: {other:?}"),
            }
        }

        fn counts(&self) -> (String, String, String) {
            let ctx = ReadContext {
                region: "r",
                account_id: "1",
            };
            let op = ReadOp::GetQueueAttributes {
                name: "q".into(),
                names: vec!["All".into()],
            };
            let Ok(Output::Attributes(a)) = execute(&DbRead(&self.db), &ctx, &op).unwrap() else {
                panic!("attributes")
            };
            (
                a["ApproximateNumberOfMessages"].clone(),
                a["ApproximateNumberOfMessagesNotVisible"].clone(),
                a["ApproximateNumberOfMessagesDelayed"].clone(),
            )
        }
    }

    fn entry(body: &str, delay: Option<u32>) -> SendEntry {
        SendEntry {
            id: "0".into(),
            message_id: format!("id-{body}"),
            body: body.into(),
            delay_seconds: delay,
            attributes: Default::default(),
            system_attributes: Default::default(),
            md5_body: String::new(),
            md5_attributes: None,
            md5_system_attributes: None,
            size: body.len() as u64,
            sender_id: "AKID".into(),
            group_id: None,
            dedup_id: None,
        }
    }

    fn counts(v: u64, nv: u64, d: u64) -> (String, String, String) {
        (v.to_string(), nv.to_string(), d.to_string())
    }

    #[test]
    fn a_replayed_receive_returns_only_messages_still_held_under_its_handles() {
        let mut f = Fixture::new(&[]);
        f.send(1_000, "a", None).unwrap();
        f.send(1_000, "b", None).unwrap();
        let receive = |f: &mut Fixture, now| {
            let op = Op::ReceiveMessages {
                queue: "q".into(),
                max: 10,
                visibility_timeout: Some(1),
                attempt_id: None,
                tokens: vec![11, 13],
            };
            match f.run_as("retried", now, op) {
                Ok(Output::Received(m)) => m,
                other => panic!("receive: {other:?}"),
            }
        };
        let first = receive(&mut f, 1_000);
        assert_eq!(first.len(), 2);
        assert_eq!(receive(&mut f, 1_100), first, "a retry replays the answer");
        f.run(
            1_200,
            Op::DeleteMessages {
                queue: "q".into(),
                entries: vec![HandleEntry {
                    id: "x".into(),
                    handle: first[0].handle,
                }],
            },
        )
        .unwrap();
        assert_eq!(
            receive(&mut f, 1_300),
            first[1..],
            "a deleted message is left out"
        );
        // Once the visibility timeout ran out and another receive took the message, the
        // old handle must not come back: its holder would take the new one for stale.
        let again = f.receive(2_001, 10, Some(30));
        assert_eq!(again.len(), 1);
        assert_ne!(again[0].handle, first[1].handle);
        assert!(receive(&mut f, 2_100).is_empty());
        assert_eq!(f.counts(), counts(0, 1, 0));
    }

    #[test]
    fn receive_rotates_handles_and_only_the_current_one_deletes() {
        let mut f = Fixture::new(&[]);
        f.send(1_000, "a", None).unwrap();
        assert_eq!(f.counts(), counts(1, 0, 0));
        let first = f.receive(1_000, 10, Some(1)).remove(0);
        assert_eq!(first.receive_count, 1);
        assert_eq!(f.counts(), counts(0, 1, 0));
        assert!(
            f.receive(1_500, 10, None).is_empty(),
            "in flight: not receivable"
        );
        // After the visibility timeout it is received again under a new handle.
        let second = f.receive(2_001, 10, Some(30)).remove(0);
        assert_eq!(second.receive_count, 2);
        assert_eq!(second.first_receive_ms, 1_000);
        assert_ne!(first.handle, second.handle);
        // The stale handle "succeeds" without deleting.
        let stale = f.run(
            2_100,
            Op::DeleteMessages {
                queue: "q".into(),
                entries: vec![HandleEntry {
                    id: "x".into(),
                    handle: first.handle,
                }],
            },
        );
        assert!(matches!(stale, Ok(Output::Batch { ref failed, .. }) if failed.is_empty()));
        assert_eq!(f.counts(), counts(0, 1, 0));
        f.run(
            2_200,
            Op::DeleteMessages {
                queue: "q".into(),
                entries: vec![HandleEntry {
                    id: "x".into(),
                    handle: second.handle,
                }],
            },
        )
        .unwrap();
        assert_eq!(f.counts(), counts(0, 0, 0));
        assert!(f.receive(99_000, 10, None).is_empty());
    }

    #[test]
    fn delays_and_visibility_changes_move_counters_and_housekeeping_returns_messages() {
        let mut f = Fixture::new(&[("DelaySeconds", "5")]);
        f.send(0, "queue-delay", None).unwrap();
        f.send(0, "no-delay", Some(0)).unwrap();
        assert_eq!(f.counts(), counts(1, 0, 1));
        let got = f.receive(100, 10, Some(10));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body, "no-delay");
        assert_eq!(f.counts(), counts(0, 1, 1));
        // Housekeeping at 5 s: the delayed message turns visible.
        f.run(5_000, Op::Housekeeping).unwrap();
        assert_eq!(f.counts(), counts(1, 1, 0));
        // ChangeMessageVisibility to 0 makes the in-flight one visible at once.
        let changed = f.run(
            5_100,
            Op::ChangeVisibility {
                queue: "q".into(),
                entries: vec![VisibilityEntry {
                    id: "c".into(),
                    handle: got[0].handle,
                    timeout_seconds: 0,
                }],
            },
        );
        assert!(
            matches!(changed, Ok(Output::Batch { ref successful, .. }) if successful.len() == 1)
        );
        assert_eq!(f.counts(), counts(2, 0, 0));
        // Changing a message that is not in flight: MessageNotInflight.
        let again = f.run(
            5_200,
            Op::ChangeVisibility {
                queue: "q".into(),
                entries: vec![VisibilityEntry {
                    id: "c".into(),
                    handle: got[0].handle,
                    timeout_seconds: 5,
                }],
            },
        );
        let Ok(Output::Batch { failed, .. }) = again else {
            panic!("{again:?}")
        };
        assert_eq!(failed[0].error.code, ErrorCode::MessageNotInflight);
        // A handle of another queue id is invalid.
        let foreign = ReceiptHandle {
            queue_id: 999,
            seq: 0,
            token: 1,
        };
        let bad = f.run(
            5_300,
            Op::DeleteMessages {
                queue: "q".into(),
                entries: vec![HandleEntry {
                    id: "d".into(),
                    handle: foreign,
                }],
            },
        );
        let Ok(Output::Batch { failed, .. }) = bad else {
            panic!("{bad:?}")
        };
        assert_eq!(failed[0].error.code, ErrorCode::ReceiptHandleIsInvalid);
    }

    #[test]
    fn retention_size_limit_and_purge_interval_are_enforced() {
        let mut f = Fixture::new(&[
            ("MessageRetentionPeriod", "60"),
            ("MaximumMessageSize", "1024"),
        ]);
        f.send(0, "old", None).unwrap();
        let big = "x".repeat(1025);
        let Ok(Output::Sent { successful, failed }) = f.send(0, &big, None) else {
            panic!()
        };
        assert!(successful.is_empty());
        assert_eq!(failed[0].error.code, ErrorCode::InvalidParameterValue);
        // Past retention the message is never delivered, and housekeeping removes it.
        assert!(f.receive(60_000, 10, None).is_empty());
        f.send(61_000, "new", None).unwrap();
        f.run(61_000, Op::Housekeeping).unwrap();
        assert_eq!(f.counts(), counts(1, 0, 0));

        f.run(62_000, Op::PurgeQueue { queue: "q".into() }).unwrap();
        assert_eq!(f.counts(), counts(0, 0, 0));
        f.send(62_500, "after-purge", None).unwrap();
        let again = f.run(100_000, Op::PurgeQueue { queue: "q".into() });
        assert_eq!(again.unwrap_err().code, ErrorCode::PurgeQueueInProgress);
        f.run(122_000, Op::PurgeQueue { queue: "q".into() })
            .unwrap();
        assert!(f.receive(122_001, 10, None).is_empty());
    }

    #[test]
    fn in_flight_limit_answers_over_limit() {
        let mut f = Fixture::new(&[]);
        // Apply has no batch-size limit (the edge enforces 10), so large batches keep the
        // test fast.
        let entries: Vec<SendEntry> = (0..1000).map(|i| entry(&i.to_string(), None)).collect();
        for _ in 0..(MAX_IN_FLIGHT / 1000) + 1 {
            f.run(
                0,
                Op::SendMessages {
                    queue: "q".into(),
                    entries: entries.clone(),
                },
            )
            .unwrap();
        }
        let mut received = 0;
        loop {
            let tokens = (1..=1000).map(|i| f.next * 10_000 + i).collect();
            match f.run(
                1,
                Op::ReceiveMessages {
                    queue: "q".into(),
                    max: 1000,
                    visibility_timeout: Some(600),
                    attempt_id: None,
                    tokens,
                },
            ) {
                Ok(Output::Received(m)) => received += m.len() as u64,
                Err(e) => {
                    assert_eq!(e.code, ErrorCode::OverLimit);
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(received, MAX_IN_FLIGHT);
    }

    #[test]
    fn deleting_a_queue_drops_its_messages_and_a_new_queue_starts_empty() {
        let mut f = Fixture::new(&[]);
        f.send(0, "a", None).unwrap();
        f.run(1, Op::DeleteQueue { name: "q".into() }).unwrap();
        f.run(
            2,
            Op::CreateQueue {
                name: "q".into(),
                attributes: Default::default(),
                tags: Default::default(),
            },
        )
        .unwrap();
        assert!(f.receive(3, 10, None).is_empty());
        assert_eq!(f.counts(), counts(0, 0, 0));
    }

    fn floor_of(f: &Fixture, queue: &str) -> u64 {
        let db = DbRead(&f.db);
        let id = catalog::load(&db, queue).unwrap().unwrap().id;
        receive_floor::get(&db, id).unwrap()
    }

    #[test]
    fn receive_floor_follows_the_head_and_never_hides_a_receivable_message() {
        let mut f = Fixture::new(&[]);
        assert_eq!(floor_of(&f, "q"), 0);
        f.send(1_000, "a", None).unwrap();
        f.send(1_000, "b", None).unwrap();
        let a = f.receive(2_000, 1, Some(30)).remove(0);
        assert_eq!((a.body.as_str(), floor_of(&f, "q")), ("a", 1_000));
        assert_eq!(f.receive(3_000, 10, Some(30))[0].body, "b");
        // Nothing receivable up to 4 s: the floor moves to the receive time.
        assert!(f.receive(4_000, 10, None).is_empty());
        assert_eq!(floor_of(&f, "q"), 4_000);
        // Entries listed later sort at or above it: a message made visible again, a new one.
        f.run(
            5_000,
            Op::ChangeVisibility {
                queue: "q".into(),
                entries: vec![VisibilityEntry {
                    id: "v".into(),
                    handle: a.handle,
                    timeout_seconds: 0,
                }],
            },
        )
        .unwrap();
        f.send(5_000, "c", None).unwrap();
        let bodies: Vec<String> = f
            .receive(5_000, 10, None)
            .into_iter()
            .map(|m| m.body)
            .collect();
        assert_eq!(bodies, ["a", "c"]);
        assert_eq!(floor_of(&f, "q"), 5_000);
    }

    #[test]
    fn fifo_head_listed_below_the_receive_floor_lowers_it() {
        let mut f = fifo_fixture(&[]);
        fifo_send(
            &mut f,
            1,
            vec![fifo("a", "a1", Some("1")), fifo("a", "a2", Some("2"))],
        );
        fifo_send(&mut f, 5, vec![fifo("b", "b1", Some("3"))]);
        assert_eq!(fifo_receive(&mut f, 6, 1, None)[0].body, "a1");
        assert_eq!(fifo_receive(&mut f, 7, 1, None)[0].body, "b1");
        assert!(fifo_receive(&mut f, 8, 10, None).is_empty());
        assert_eq!(floor_of(&f, "f.fifo"), 8);
        // Deleting a1 makes a2, sent at 1 ms, its group's head: listed below the floor.
        let handle = got_handle(&f, "a1");
        f.run(
            9,
            Op::DeleteMessages {
                queue: "f.fifo".into(),
                entries: vec![HandleEntry {
                    id: "d".into(),
                    handle,
                }],
            },
        )
        .unwrap();
        assert_eq!(floor_of(&f, "f.fifo"), 1);
        assert_eq!(fifo_receive(&mut f, 10, 10, None)[0].body, "a2");
    }

    fn fifo(group: &str, body: &str, dedup: Option<&str>) -> SendEntry {
        SendEntry {
            group_id: Some(group.into()),
            dedup_id: dedup.map(str::to_string),
            ..entry(body, None)
        }
    }

    fn fifo_fixture(attributes: &[(&str, &str)]) -> Fixture {
        let mut f = Fixture::new(&[]);
        let mut attrs: BTreeMap<String, String> = attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        attrs.insert("FifoQueue".into(), "true".into());
        f.run(
            0,
            Op::CreateQueue {
                name: "f.fifo".into(),
                attributes: attrs,
                tags: Default::default(),
            },
        )
        .unwrap();
        f
    }

    fn fifo_send(
        f: &mut Fixture,
        now: u64,
        entries: Vec<SendEntry>,
    ) -> (Vec<SentMessage>, Vec<BatchFailure>) {
        match f.run(
            now,
            Op::SendMessages {
                queue: "f.fifo".into(),
                entries,
            },
        ) {
            Ok(Output::Sent { successful, failed }) => (successful, failed),
            other => panic!("{other:?}"),
        }
    }

    fn fifo_receive(
        f: &mut Fixture,
        now: u64,
        max: u32,
        attempt: Option<&str>,
    ) -> Vec<ReceivedMessage> {
        let tokens = (0..max).map(|i| 1000 * f.next + u64::from(i) + 1).collect();
        match f.run(
            now,
            Op::ReceiveMessages {
                queue: "f.fifo".into(),
                max,
                visibility_timeout: Some(30),
                attempt_id: attempt.map(str::to_string),
                tokens,
            },
        ) {
            Ok(Output::Received(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fifo_groups_are_ordered_and_locked_while_in_flight() {
        let mut f = fifo_fixture(&[]);
        let (sent, _) = fifo_send(
            &mut f,
            1,
            vec![
                fifo("a", "a1", Some("1")),
                fifo("a", "a2", Some("2")),
                fifo("b", "b1", Some("3")),
            ],
        );
        let seqs: Vec<u64> = sent.iter().map(|s| s.sequence_number.unwrap()).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "sequence numbers increase: {seqs:?}"
        );
        // One receive may take several messages of a group, in order.
        let got = fifo_receive(&mut f, 2, 10, None);
        let bodies: Vec<&str> = got.iter().map(|m| m.body.as_str()).collect();
        assert_eq!(bodies, ["a1", "a2", "b1"]);
        // Everything in flight: nothing more.
        assert!(fifo_receive(&mut f, 3, 10, None).is_empty());
        // New message of group a waits behind a's in-flight messages; b stays blocked too.
        fifo_send(
            &mut f,
            4,
            vec![fifo("a", "a3", Some("4")), fifo("c", "c1", Some("5"))],
        );
        let got = fifo_receive(&mut f, 5, 10, None);
        assert_eq!(
            got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
            ["c1"]
        );
        // Deleting a1 leaves a2 (in flight) as head: a3 still waits.
        let a1_handle = got_handle(&f, "a1");
        let a1 = f.run(
            6,
            Op::DeleteMessages {
                queue: "f.fifo".into(),
                entries: vec![HandleEntry {
                    id: "d".into(),
                    handle: a1_handle,
                }],
            },
        );
        assert!(a1.is_ok());
        assert!(fifo_receive(&mut f, 7, 10, None).is_empty());
        // After the visibility timeout a2 comes back first, then a3.
        let got = fifo_receive(&mut f, 40_000, 1, None);
        assert_eq!(got[0].body, "a2");
    }

    /// The handle under which `body` is currently held (tests only know bodies).
    fn got_handle(f: &Fixture, body: &str) -> ReceiptHandle {
        let start = keys::queue_start(keys::MESSAGE, 0);
        let end = keys::prefix_end(&[keys::MESSAGE]);
        for (key, value) in DbRead(&f.db).scan(&start, &end, usize::MAX).unwrap() {
            let m: MessageRecord = decode(&value).unwrap();
            if m.body == body {
                let queue_id = u64::from_be_bytes(key[1..9].try_into().unwrap());
                let seq = u64::from_be_bytes(key[9..17].try_into().unwrap());
                return ReceiptHandle {
                    queue_id,
                    seq,
                    token: m.token,
                };
            }
        }
        panic!("no message {body}")
    }

    #[test]
    fn fifo_deduplication_answers_with_the_original_within_five_minutes() {
        let mut f = fifo_fixture(&[("ContentBasedDeduplication", "true")]);
        let (first, _) = fifo_send(&mut f, 1_000, vec![fifo("g", "same body", None)]);
        let (dup, _) = fifo_send(
            &mut f,
            2_000,
            vec![SendEntry {
                message_id: "other".into(),
                ..fifo("g", "same body", None)
            }],
        );
        assert_eq!(dup[0].message_id, first[0].message_id);
        assert_eq!(dup[0].sequence_number, first[0].sequence_number);
        // Even after the original was received and deleted.
        let got = fifo_receive(&mut f, 3_000, 10, None);
        assert_eq!(got.len(), 1);
        f.run(
            3_500,
            Op::DeleteMessages {
                queue: "f.fifo".into(),
                entries: vec![HandleEntry {
                    id: "d".into(),
                    handle: got[0].handle,
                }],
            },
        )
        .unwrap();
        let (dup, _) = fifo_send(&mut f, 4_000, vec![fifo("g", "same body", None)]);
        assert_eq!(dup[0].message_id, first[0].message_id);
        assert!(
            fifo_receive(&mut f, 5_000, 10, None).is_empty(),
            "a duplicate is never stored"
        );
        // After the window (and housekeeping) the same content is a new message.
        f.run(1_000 + FIFO_DEDUP_WINDOW_MS + 1, Op::Housekeeping)
            .unwrap();
        let (fresh, _) = fifo_send(
            &mut f,
            1_000 + FIFO_DEDUP_WINDOW_MS + 2,
            vec![SendEntry {
                message_id: "new".into(),
                ..fifo("g", "same body", None)
            }],
        );
        assert_eq!(fresh[0].message_id, "new");
    }

    #[test]
    fn fifo_rules_missing_group_per_message_delay_and_dedup_source() {
        let mut f = fifo_fixture(&[]);
        let (_, failed) = fifo_send(
            &mut f,
            1,
            vec![SendEntry {
                group_id: None,
                ..fifo("g", "x", Some("1"))
            }],
        );
        assert_eq!(failed[0].error.code, ErrorCode::MissingParameter);
        let (_, failed) = fifo_send(
            &mut f,
            1,
            vec![SendEntry {
                delay_seconds: Some(1),
                ..fifo("g", "x", Some("1"))
            }],
        );
        assert_eq!(failed[0].error.code, ErrorCode::InvalidParameterValue);
        let (_, failed) = fifo_send(&mut f, 1, vec![fifo("g", "x", None)]);
        assert_eq!(failed[0].error.code, ErrorCode::InvalidParameterValue);
        let standard = f.send(1, "s", None);
        assert!(standard.is_ok());
    }

    #[test]
    fn receive_attempt_id_replays_the_same_messages_and_handles() {
        let mut f = fifo_fixture(&[]);
        fifo_send(&mut f, 1, vec![fifo("g", "m1", Some("1"))]);
        let first = fifo_receive(&mut f, 2, 10, Some("attempt-1"));
        let retry = fifo_receive(&mut f, 3, 10, Some("attempt-1"));
        assert_eq!(first.len(), 1);
        assert_eq!(first, retry);
        assert!(fifo_receive(&mut f, 4, 10, Some("attempt-2")).is_empty());
        f.run(
            5,
            Op::DeleteMessages {
                queue: "f.fifo".into(),
                entries: vec![HandleEntry {
                    id: "x".into(),
                    handle: first[0].handle,
                }],
            },
        )
        .unwrap();
        assert!(
            fifo_receive(&mut f, 6, 10, Some("attempt-1")).is_empty(),
            "a deleted message is not replayed"
        );
    }

    #[test]
    fn messages_over_max_receive_count_move_to_the_dead_letter_queue() {
        let mut f = Fixture::new(&[]);
        f.run(
            0,
            Op::CreateQueue {
                name: "dlq".into(),
                attributes: Default::default(),
                tags: Default::default(),
            },
        )
        .unwrap();
        f.run(
            0,
            Op::SetQueueAttributes {
                name: "q".into(),
                attributes: BTreeMap::from([(
                    "RedrivePolicy".to_string(),
                    r#"{"deadLetterTargetArn":"arn:aws:sqs:r:1:dlq","maxReceiveCount":2}"#
                        .to_string(),
                )]),
            },
        )
        .unwrap();
        f.send(1, "poison", None).unwrap();
        assert_eq!(f.receive(10, 1, Some(1)).len(), 1);
        assert_eq!(f.receive(2_000, 1, Some(1)).len(), 1);
        // The third receive would exceed maxReceiveCount: the message moves instead.
        assert!(f.receive(4_000, 1, Some(1)).is_empty());
        assert_eq!(f.counts(), counts(0, 0, 0));
        let moved = match f.run(
            4_001,
            Op::ReceiveMessages {
                queue: "dlq".into(),
                max: 1,
                visibility_timeout: None,
                attempt_id: None,
                tokens: vec![7],
            },
        ) {
            Ok(Output::Received(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(moved[0].body, "poison");
        assert_eq!(moved[0].message_id, "id-poison");
    }
}
