//! Messages of standard queues inside apply: send, receive, delete, change visibility,
//! purge, retention and the return of delayed and in-flight messages to visible.
//!
//! Every message is indexed by when it is (or turns) visible (`v`); delayed and in-flight
//! ones also by when they turn visible (`w`), so housekeeping finds exactly the messages
//! whose state changes; and by sent time (`t`) for retention. Per-queue counters are
//! maintained by every transition, so the `Approximate*` attributes never scan.

use super::catalog::QueueRecord;
use super::command::{
    AttributeValue, BatchFailure, CommandResult, HandleEntry, Output, ReceivedMessage, SendEntry,
    SentMessage, VisibilityEntry,
};
use super::keys::{self, RETENTION, VISIBLE, WAITING};
use super::txn::{StateRead, Txn};
use crate::codec::{decode, encode};
use crate::error::{ErrorCode, SqsError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;

/// Most in-flight messages a standard queue may hold.
pub const MAX_IN_FLIGHT: u64 = 120_000;
/// Longest visibility timeout, seconds.
pub const MAX_VISIBILITY_TIMEOUT: u32 = 43_200;
/// Minimum time between two purges of one queue.
pub const PURGE_INTERVAL_MS: u64 = 60_000;

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

/// Writes a new message with all its index entries.
fn insert(txn: &mut Txn<'_>, queue_id: u64, seq: u64, m: &MessageRecord) -> io::Result<()> {
    txn.put(keys::message(queue_id, seq), encode(m)?);
    txn.put(
        keys::timed(VISIBLE, queue_id, m.visible_at_ms, seq),
        Vec::new(),
    );
    if is_waiting(m.state) {
        txn.put(
            keys::timed(WAITING, queue_id, m.visible_at_ms, seq),
            Vec::new(),
        );
    }
    txn.put(keys::timed(RETENTION, queue_id, m.sent_ms, seq), Vec::new());
    Ok(())
}

/// Rewrites a message whose visibility or state changed from `old`.
fn update(
    txn: &mut Txn<'_>,
    queue_id: u64,
    seq: u64,
    old: &MessageRecord,
    new: &MessageRecord,
) -> io::Result<()> {
    if old.visible_at_ms != new.visible_at_ms {
        txn.delete(keys::timed(VISIBLE, queue_id, old.visible_at_ms, seq));
        txn.put(
            keys::timed(VISIBLE, queue_id, new.visible_at_ms, seq),
            Vec::new(),
        );
    }
    if is_waiting(old.state) && (!is_waiting(new.state) || old.visible_at_ms != new.visible_at_ms) {
        txn.delete(keys::timed(WAITING, queue_id, old.visible_at_ms, seq));
    }
    if is_waiting(new.state) {
        txn.put(
            keys::timed(WAITING, queue_id, new.visible_at_ms, seq),
            Vec::new(),
        );
    }
    txn.put(keys::message(queue_id, seq), encode(new)?);
    Ok(())
}

/// Deletes a message and its index entries.
fn remove(txn: &mut Txn<'_>, queue_id: u64, seq: u64, m: &MessageRecord) {
    txn.delete(keys::message(queue_id, seq));
    txn.delete(keys::timed(VISIBLE, queue_id, m.visible_at_ms, seq));
    if is_waiting(m.state) {
        txn.delete(keys::timed(WAITING, queue_id, m.visible_at_ms, seq));
    }
    txn.delete(keys::timed(RETENTION, queue_id, m.sent_ms, seq));
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

/// SendMessage(Batch): stores each entry that fits the queue's limits.
pub fn send(
    txn: &mut Txn<'_>,
    now: u64,
    queue: &QueueRecord,
    entries: &[SendEntry],
) -> io::Result<CommandResult> {
    let max_size = attr_u64(queue, "MaximumMessageSize", 1_048_576);
    let queue_delay = attr_u64(queue, "DelaySeconds", 0);
    let mut c = counters(txn, queue.id)?;
    let mut successful = Vec::new();
    let mut failed = Vec::new();
    for e in entries {
        if e.size > max_size {
            failed.push(BatchFailure {
                id: e.id.clone(),
                error: SqsError::invalid_parameter(format!(
                    "One or more parameters are invalid. Reason: Message must be shorter than {max_size} bytes."
                )),
            });
            continue;
        }
        let delay_ms = u64::from(e.delay_seconds.map_or(queue_delay as u32, |d| d)) * 1000;
        let state = if delay_ms > 0 {
            MessageState::Delayed
        } else {
            MessageState::Visible
        };
        let seq = c.next_seq;
        c.next_seq += 1;
        *c.slot(state) += 1;
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
        };
        insert(txn, queue.id, seq, &record)?;
        if state == MessageState::Visible {
            txn.touch(queue.id);
        }
        successful.push(SentMessage {
            id: e.id.clone(),
            message_id: e.message_id.clone(),
            md5_body: e.md5_body.clone(),
            md5_attributes: e.md5_attributes.clone(),
            md5_system_attributes: e.md5_system_attributes.clone(),
        });
    }
    save_counters(txn, queue.id, &c)?;
    Ok(Ok(Output::Sent { successful, failed }))
}

/// ReceiveMessage: makes up to `max` visible messages in flight under new receipt tokens.
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
    let mut c = counters(txn, queue.id)?;
    let wanted = (max as usize).min(tokens.len());
    let start = keys::queue_start(VISIBLE, queue.id);
    let end = keys::timed(VISIBLE, queue.id, now.saturating_add(1), 0);
    let mut received = Vec::new();
    let candidates = txn.scan(&start, &end, wanted + 64)?;
    for (key, _) in candidates {
        if received.len() >= wanted {
            break;
        }
        let Some((_, seq)) = keys::parse_timed(&key) else {
            continue;
        };
        let Some(old) = load(txn, queue.id, seq)? else {
            continue;
        };
        if old.sent_ms.saturating_add(retention) <= now {
            c.forget(old.state);
            remove(txn, queue.id, seq, &old);
            continue;
        }
        if c.in_flight >= MAX_IN_FLIGHT {
            if received.is_empty() {
                save_counters(txn, queue.id, &c)?;
                return Ok(Err(SqsError::new(
                    ErrorCode::OverLimit,
                    "The maximum number of in flight messages is reached.",
                )));
            }
            break;
        }
        let token = tokens[received.len()];
        let mut new = old.clone();
        new.state = if timeout_ms > 0 {
            MessageState::InFlight
        } else {
            MessageState::Visible
        };
        new.visible_at_ms = now + timeout_ms;
        new.receive_count += 1;
        if new.first_receive_ms == 0 {
            new.first_receive_ms = now;
        }
        new.token = token;
        c.moved(old.state, new.state);
        update(txn, queue.id, seq, &old, &new)?;
        received.push(ReceivedMessage {
            message_id: new.message_id.clone(),
            handle: super::command::ReceiptHandle {
                queue_id: queue.id,
                seq,
                token,
            },
            body: new.body,
            md5_body: new.md5_body,
            attributes: new.attributes,
            system_attributes: new.system_attributes,
            sent_ms: new.sent_ms,
            sender_id: new.sender_id,
            receive_count: new.receive_count,
            first_receive_ms: new.first_receive_ms,
        });
    }
    save_counters(txn, queue.id, &c)?;
    Ok(Ok(Output::Received(received)))
}

fn invalid_handle(id: &str) -> BatchFailure {
    BatchFailure {
        id: id.to_string(),
        error: SqsError::new(
            ErrorCode::ReceiptHandleIsInvalid,
            "The input receipt handle is invalid.",
        ),
    }
}

/// DeleteMessage(Batch): deletes each message whose handle is its current one. A stale
/// handle of an existing message, or a handle of a message already gone, succeeds
/// without deleting anything (AWS semantics).
pub fn delete(
    txn: &mut Txn<'_>,
    queue: &QueueRecord,
    entries: &[HandleEntry],
) -> io::Result<CommandResult> {
    let mut c = counters(txn, queue.id)?;
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
            c.forget(m.state);
            remove(txn, queue.id, e.handle.seq, &m);
        }
        successful.push(e.id.clone());
    }
    save_counters(txn, queue.id, &c)?;
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
            failed.push(BatchFailure {
                id: e.id.clone(),
                error: SqsError::invalid_parameter(format!(
                    "Value {} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.",
                    e.id
                )),
            });
            continue;
        };
        if old.visible_at_ms <= now || old.state != MessageState::InFlight {
            failed.push(BatchFailure {
                id: e.id.clone(),
                error: SqsError::new(
                    ErrorCode::MessageNotInflight,
                    "The message is not in flight.",
                ),
            });
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
pub fn delete_messages(txn: &mut Txn<'_>, queue_id: u64) {
    for prefix in [keys::MESSAGE, VISIBLE, WAITING, RETENTION] {
        let start = keys::queue_start(prefix, queue_id);
        let end = keys::queue_start(prefix, queue_id + 1);
        txn.delete_range(&start, &end);
    }
}

/// Removes all of a deleted queue's message state.
pub fn drop_queue(txn: &mut Txn<'_>, queue_id: u64) {
    delete_messages(txn, queue_id);
    txn.delete(keys::counters(queue_id));
}

/// Housekeeping for one queue: expires messages past retention and moves delayed and
/// in-flight messages whose time has come back to visible. Does at most `budget` units
/// of work; returns how many it used.
pub fn housekeep(
    txn: &mut Txn<'_>,
    now: u64,
    queue: &QueueRecord,
    budget: usize,
) -> io::Result<usize> {
    let mut used = 0;
    let mut c = counters(txn, queue.id)?;
    let retention = retention_ms(queue);
    let start = keys::queue_start(RETENTION, queue.id);
    let end = keys::timed(
        RETENTION,
        queue.id,
        now.saturating_sub(retention).saturating_add(1),
        0,
    );
    if now >= retention {
        for (key, _) in txn.scan(&start, &end, budget)? {
            let Some((_, seq)) = keys::parse_timed(&key) else {
                continue;
            };
            if let Some(m) = load(txn, queue.id, seq)? {
                c.forget(m.state);
                remove(txn, queue.id, seq, &m);
            }
            used += 1;
        }
    }
    let start = keys::queue_start(WAITING, queue.id);
    let end = keys::timed(WAITING, queue.id, now.saturating_add(1), 0);
    let due = txn.scan(&start, &end, budget.saturating_sub(used))?;
    if !due.is_empty() {
        txn.touch(queue.id);
    }
    for (key, _) in due {
        let Some((_, seq)) = keys::parse_timed(&key) else {
            continue;
        };
        if let Some(old) = load(txn, queue.id, seq)? {
            let mut new = old.clone();
            new.state = MessageState::Visible;
            c.moved(old.state, new.state);
            update(txn, queue.id, seq, &old, &new)?;
        }
        used += 1;
    }
    save_counters(txn, queue.id, &c)?;
    Ok(used)
}

/// When the earliest waiting message of a queue turns visible (for long-poll wake-ups).
pub fn next_due_ms(state: &impl StateRead, queue_id: u64) -> io::Result<Option<u64>> {
    let start = keys::queue_start(WAITING, queue_id);
    let end = keys::queue_start(WAITING, queue_id + 1);
    Ok(state
        .scan(&start, &end, 1)?
        .first()
        .and_then(|(k, _)| keys::parse_timed(k))
        .map(|(at, _)| at))
}

/// Whether a queue has a message receivable at `now` (a cheap local pre-check).
pub fn has_visible(state: &impl StateRead, queue_id: u64, now: u64) -> io::Result<bool> {
    let start = keys::queue_start(VISIBLE, queue_id);
    let end = keys::timed(VISIBLE, queue_id, now.saturating_add(1), 0);
    Ok(!state.scan(&start, &end, 1)?.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sm::apply::apply_command;
    use crate::sm::command::{Command, Op, ReadOp, ReceiptHandle};
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
            let command = Command {
                request_id: format!("r{}", self.next),
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
        }
    }

    fn counts(v: u64, nv: u64, d: u64) -> (String, String, String) {
        (v.to_string(), nv.to_string(), d.to_string())
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
}
