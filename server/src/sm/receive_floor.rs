//! A queue's receive floor: a time below which its receive-order index (`v`) holds no
//! entry, so receive scans start there instead of at the queue's first key.
//!
//! Received and deleted messages leave RocksDB tombstones at the head of the index until
//! compaction drops them; a scan from the queue's first key would step over every one of
//! them. Each receive raises the floor to the first entry it finds; the rare listing of an
//! entry below it (a FIFO message that becomes its group's head keeps its send time)
//! lowers it. Entries are otherwise listed at or after the apply clock, which never goes
//! back, so a floor at or below that clock stays true. The floor is ordinary replicated
//! state, written in the same round as the entries it describes.

use super::keys::{self, VISIBLE};
use super::txn::{StateRead, Txn};
use crate::codec::{decode, encode};
use std::io;

/// The queue's floor in ms (0 when none was recorded).
pub fn get(state: &impl StateRead, queue_id: u64) -> io::Result<u64> {
    state
        .get(&keys::receive_floor(queue_id))?
        .map_or(Ok(0), |bytes| decode(&bytes))
}

fn set(txn: &mut Txn<'_>, queue_id: u64, at_ms: u64) -> io::Result<()> {
    txn.put(keys::receive_floor(queue_id), encode(&at_ms)?);
    Ok(())
}

/// Forgets a deleted queue's floor.
pub fn forget(txn: &mut Txn<'_>, queue_id: u64) {
    txn.delete(keys::receive_floor(queue_id));
}

/// The receive-order entries that may be receivable at `now`: the range from the floor up
/// to and including `now`.
pub struct VisibleRange {
    /// The floor the range starts at.
    pub floor: u64,
    /// First key of the range (inclusive).
    pub start: Vec<u8>,
    /// Key just past `now` (exclusive).
    pub end: Vec<u8>,
}

/// The queue's [`VisibleRange`] at `now`.
pub fn visible_range(state: &impl StateRead, queue_id: u64, now: u64) -> io::Result<VisibleRange> {
    let floor = get(state, queue_id)?;
    Ok(VisibleRange {
        floor,
        start: keys::timed(VISIBLE, queue_id, floor, 0),
        end: keys::timed(VISIBLE, queue_id, now.saturating_add(1), 0),
    })
}

/// Makes room for an entry listed at `at_ms`, below the apply clock (a FIFO message that
/// becomes its group's head keeps its send time): lowers the floor if it is above.
pub fn lower_to(txn: &mut Txn<'_>, queue_id: u64, at_ms: u64) -> io::Result<()> {
    if at_ms < get(txn, queue_id)? {
        set(txn, queue_id, at_ms)?;
    }
    Ok(())
}

/// Before a receive at `now` consumes anything, raises the floor of `range` to the first
/// entry its scan found, or to `now` when it found none. Entries the receive then lists
/// below the new floor lower it again through [`lower_to`].
pub fn advance(
    txn: &mut Txn<'_>,
    queue_id: u64,
    now: u64,
    range: &VisibleRange,
    first_scanned: Option<&[u8]>,
) -> io::Result<()> {
    let floor = match first_scanned {
        Some(key) => keys::parse_timed(key).map(|(at, _)| at).ok_or_else(|| {
            io::Error::other(format!("bad receive-order key of queue {queue_id}"))
        })?,
        None => now,
    };
    if floor > range.floor {
        set(txn, queue_id, floor)?;
    }
    Ok(())
}
