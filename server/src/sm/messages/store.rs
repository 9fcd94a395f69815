//! The one place that writes a message record, its index entries and its queue's
//! counters. Every transition — a message added, changed or removed, a queue emptied —
//! goes through here, so the counters `Approximate*` report always equal what the
//! indexes hold (`invariants.rs` checks exactly that in tests).
//!
//! Indexes (see [`keys`]): `v` lists the messages a receive may take, by when they are
//! visible — every message of a standard queue, but only the head of each message group
//! of a FIFO queue; `w` lists delayed and in-flight messages by when they turn visible;
//! `t` orders messages by sent time for retention; `g` orders a FIFO group's messages;
//! `o` marks each FIFO group that holds messages.
//!
//! A FIFO group's head is its lowest sequence number, so neither a send nor a delete
//! scans a group from its start, where the RocksDB tombstones of every message already
//! deleted from it lie until compaction: a send asks the `o` marker whether the group
//! has a head, and a delete of the head looks for the next member after it.

use super::{MessageRecord, MessageState, QueueCounters};
use crate::codec::{decode, encode};
use crate::sm::keys::{self, GROUP, GROUP_OCCUPIED, RETENTION, VISIBLE, WAITING};
use crate::sm::queue_record::QueueRecord;
use crate::sm::receive_floor;
use crate::sm::txn::{StateRead, Txn};
use std::io;

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

/// Changes a queue's counters with `f`.
fn with_counters(
    txn: &mut Txn<'_>,
    queue_id: u64,
    f: impl FnOnce(&mut QueueCounters),
) -> io::Result<QueueCounters> {
    let mut c = counters(txn, queue_id)?;
    f(&mut c);
    save_counters(txn, queue_id, &c)?;
    Ok(c)
}

/// Writes a queue's counters as they are. Send, change-visibility and housekeeping have
/// always written them, present or not, and older replicas still do: writing them here
/// too keeps every replica's state byte-identical across versions.
pub fn keep_counters(txn: &mut Txn<'_>, queue_id: u64) -> io::Result<()> {
    with_counters(txn, queue_id, |_| {})?;
    Ok(())
}

/// Reads a message record.
pub fn load(state: &impl StateRead, queue_id: u64, seq: u64) -> io::Result<Option<MessageRecord>> {
    state
        .get(&keys::message(queue_id, seq))?
        .map(|b| decode(&b))
        .transpose()
}

fn is_waiting(state: MessageState) -> bool {
    state != MessageState::Visible
}

/// The FIFO group a message is ordered in (none on standard queues).
pub fn fifo_group<'m>(queue: &QueueRecord, m: &'m MessageRecord) -> Option<&'m str> {
    if queue.fifo {
        m.group_id.as_deref()
    } else {
        None
    }
}

/// Whether a message arriving now goes into the receive index: always on a standard
/// queue; on a FIFO queue only when its group has no message yet (it is the head).
fn arrives_listed(txn: &Txn<'_>, queue: &QueueRecord, group: Option<&str>) -> io::Result<bool> {
    match (queue.fifo, group) {
        (true, Some(group)) => Ok(txn.get(&keys::group_occupied(queue.id, group))?.is_none()),
        _ => Ok(true),
    }
}

/// Adds a message under the queue's next sequence number, listed when it arrives as
/// receivable (its `listed` field is decided here), and returns the sequence number.
pub fn add(txn: &mut Txn<'_>, queue: &QueueRecord, mut m: MessageRecord) -> io::Result<u64> {
    let id = queue.id;
    m.listed = arrives_listed(txn, queue, m.group_id.as_deref())?;
    let mut seq = 0;
    with_counters(txn, id, |c| {
        seq = c.next_seq;
        c.next_seq += 1;
        *c.slot(m.state) += 1;
    })?;
    txn.put(keys::message(id, seq), encode(&m)?);
    if m.listed {
        txn.put(keys::timed(VISIBLE, id, m.visible_at_ms, seq), Vec::new());
    }
    if is_waiting(m.state) {
        txn.put(keys::timed(WAITING, id, m.visible_at_ms, seq), Vec::new());
    }
    txn.put(keys::timed(RETENTION, id, m.sent_ms, seq), Vec::new());
    if let Some(group) = fifo_group(queue, &m) {
        txn.put(keys::group_member(id, group, seq), Vec::new());
        if m.listed {
            txn.put(keys::group_occupied(id, group), Vec::new());
        }
    }
    if m.listed && m.state == MessageState::Visible {
        txn.touch(id);
    }
    Ok(seq)
}

/// Rewrites a message whose visibility, state or listing changed from `old` (its id,
/// sent time and group never change).
pub fn update(
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
    if old.state != new.state {
        with_counters(txn, queue_id, |c| {
            c.forget(old.state);
            *c.slot(new.state) += 1;
        })?;
    }
    let receivable = |m: &MessageRecord| m.listed && m.state == MessageState::Visible;
    if receivable(new) && !receivable(old) {
        txn.touch(queue_id);
    }
    Ok(())
}

/// Deletes a message and its index entries; on a FIFO queue the next message of its
/// group becomes the group's head (an unlisted message is never the head).
pub fn remove(
    txn: &mut Txn<'_>,
    queue: &QueueRecord,
    seq: u64,
    m: &MessageRecord,
) -> io::Result<()> {
    let id = queue.id;
    with_counters(txn, id, |c| c.forget(m.state))?;
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
            promote_after(txn, queue, group, seq)?;
        }
    }
    Ok(())
}

/// The sequence number after `seq` in a FIFO group.
pub fn next_in_group(
    txn: &Txn<'_>,
    queue_id: u64,
    group: &str,
    seq: u64,
) -> io::Result<Option<u64>> {
    let start = keys::group_member(queue_id, group, seq.saturating_add(1));
    let end = keys::prefix_end(&keys::group_start(queue_id, group));
    Ok(txn
        .scan(&start, &end, 1)?
        .first()
        .and_then(|(k, _)| keys::parse_group_seq(k)))
}

/// After the head `removed` of a FIFO group is deleted: lists the group's next message
/// in the receive index, or, when the group has none left, drops its `o` marker.
fn promote_after(
    txn: &mut Txn<'_>,
    queue: &QueueRecord,
    group: &str,
    removed: u64,
) -> io::Result<()> {
    let Some(seq) = next_in_group(txn, queue.id, group, removed)? else {
        txn.delete(keys::group_occupied(queue.id, group));
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
    }
    Ok(())
}

/// Deletes every message of a queue with its index entries and zeroes its message
/// counts (the sequence number and the last purge stay).
pub fn clear(txn: &mut Txn<'_>, queue_id: u64) -> io::Result<()> {
    delete_ranges(txn, queue_id);
    with_counters(txn, queue_id, |c| {
        c.visible = 0;
        c.in_flight = 0;
        c.delayed = 0;
    })?;
    Ok(())
}

/// Records when the queue was last purged.
pub fn set_last_purge(txn: &mut Txn<'_>, queue_id: u64, now: u64) -> io::Result<()> {
    with_counters(txn, queue_id, |c| c.last_purge_ms = Some(now))?;
    Ok(())
}

/// Removes every message, index entry and the counters of a deleted queue.
pub fn drop_all(txn: &mut Txn<'_>, queue_id: u64) {
    delete_ranges(txn, queue_id);
    txn.delete(keys::counters(queue_id));
}

fn delete_ranges(txn: &mut Txn<'_>, queue_id: u64) {
    for prefix in [
        keys::MESSAGE,
        VISIBLE,
        WAITING,
        RETENTION,
        GROUP,
        GROUP_OCCUPIED,
    ] {
        let start = keys::queue_start(prefix, queue_id);
        let end = keys::queue_start(prefix, queue_id + 1);
        txn.delete_range(&start, &end);
    }
}
