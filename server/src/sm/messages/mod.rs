//! Messages inside apply: send, receive, delete, change visibility, purge, retention,
//! the return of delayed and in-flight messages to visible, FIFO ordering and
//! deduplication, and dead-letter moves.
//!
//! [`store`] alone writes message records, their index entries and the per-queue
//! counters; the operations are small modules over it: [`send`], [`receive`],
//! [`visibility`] (delete and change visibility), [`dead_letter`] (moves between
//! queues), [`purge`] (purge and a deleted queue's state), [`housekeeping`] (retention,
//! returns to visible) and [`fifo_dedup`]. The counters are kept by every transition, so
//! the `Approximate*` attributes never scan.

pub mod dead_letter;
pub mod fifo_dedup;
pub mod housekeeping;
#[cfg(test)]
pub mod invariants;
pub mod purge;
pub mod receive;
pub mod send;
pub mod store;
pub mod visibility;

use super::command::{AttributeValue, BatchFailure};
use super::keys::{self, WAITING};
use super::queue_record::QueueRecord;
use super::receive_floor;
use super::txn::{StateRead, Txn};
use crate::error::SqsError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;

pub use dead_letter::move_message;
pub use housekeeping::housekeep;
pub use purge::{drop_queue, purge};
pub use receive::{receive, still_held};
pub use send::send;
pub use store::counters;
pub use visibility::{change_visibility, delete};

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
            && let Some(m) = store::load(txn, queue_id, seq)?
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
mod tests;
