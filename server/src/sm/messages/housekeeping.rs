//! Housekeeping for one queue, inside a leader-proposed `Housekeeping` entry: expires
//! messages past retention and FIFO deduplication records, and returns delayed and
//! in-flight messages whose time has come to visible. Work is bounded by a budget.

use super::{MessageRecord, MessageState, fifo_dedup, retention_ms, store};
use crate::sm::keys::{self, RETENTION, WAITING};
use crate::sm::queue_record::QueueRecord;
use crate::sm::txn::{StateRead, Txn};
use std::io;

/// Housekeeping for one queue. Does at most `budget` units of work; returns how many it
/// used.
pub fn housekeep(
    txn: &mut Txn<'_>,
    now: u64,
    queue: &QueueRecord,
    budget: usize,
) -> io::Result<usize> {
    let mut used = expire_retention(txn, now, queue, budget)?;
    used += fifo_dedup::expire(txn, queue.id, now, budget.saturating_sub(used))?;
    used += return_due(txn, now, queue, budget.saturating_sub(used))?;
    store::keep_counters(txn, queue.id)?;
    Ok(used)
}

/// Removes up to `budget` messages sent longer ago than the queue's retention period.
fn expire_retention(
    txn: &mut Txn<'_>,
    now: u64,
    queue: &QueueRecord,
    budget: usize,
) -> io::Result<usize> {
    let retention = retention_ms(queue);
    if now < retention {
        return Ok(0);
    }
    let start = keys::queue_start(RETENTION, queue.id);
    let end = keys::timed(RETENTION, queue.id, now - retention + 1, 0);
    let expired = txn.scan(&start, &end, budget)?;
    let used = expired.len();
    for (key, _) in expired {
        let Some((_, seq)) = keys::parse_timed(&key) else {
            continue;
        };
        if let Some(m) = store::load(txn, queue.id, seq)? {
            store::remove(txn, queue, seq, &m)?;
        }
    }
    Ok(used)
}

/// Makes up to `budget` delayed or in-flight messages whose time has come visible.
fn return_due(
    txn: &mut Txn<'_>,
    now: u64,
    queue: &QueueRecord,
    budget: usize,
) -> io::Result<usize> {
    let start = keys::queue_start(WAITING, queue.id);
    let end = keys::timed(WAITING, queue.id, now.saturating_add(1), 0);
    let due = txn.scan(&start, &end, budget)?;
    let used = due.len();
    for (key, _) in due {
        let Some((_, seq)) = keys::parse_timed(&key) else {
            continue;
        };
        if let Some(old) = store::load(txn, queue.id, seq)? {
            let new = MessageRecord {
                state: MessageState::Visible,
                ..old.clone()
            };
            store::update(txn, queue.id, seq, &old, &new)?;
        }
    }
    Ok(used)
}
