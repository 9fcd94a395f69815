//! PurgeQueue, and what a deleted queue leaves behind.

use super::{PURGE_INTERVAL_MS, fifo_dedup, store};
use crate::error::{ErrorCode, SqsError, texts};
use crate::sm::command::{CommandResult, Output};
use crate::sm::queue_record::QueueRecord;
use crate::sm::receive_floor;
use crate::sm::txn::Txn;
use std::io;

/// PurgeQueue: deletes every message and the FIFO deduplication records, at most once
/// per [`PURGE_INTERVAL_MS`]. After a purge AWS takes a resend with the same
/// deduplication id as a new message.
pub fn purge(txn: &mut Txn<'_>, now: u64, queue: &QueueRecord) -> io::Result<CommandResult> {
    if let Some(last) = store::counters(txn, queue.id)?.last_purge_ms
        && now < last + PURGE_INTERVAL_MS
    {
        return Ok(Err(SqsError::new(
            ErrorCode::PurgeQueueInProgress,
            texts::purge_in_progress(crate::sm::queue_key::name(&queue.name)),
        )));
    }
    store::clear(txn, queue.id)?;
    fifo_dedup::drop_all(txn, queue.id);
    store::set_last_purge(txn, queue.id, now)?;
    Ok(Ok(Output::Empty))
}

/// Removes all of a deleted queue's message state.
pub fn drop_queue(txn: &mut Txn<'_>, queue_id: u64) {
    store::drop_all(txn, queue_id);
    fifo_dedup::drop_all(txn, queue_id);
    receive_floor::forget(txn, queue_id);
}
