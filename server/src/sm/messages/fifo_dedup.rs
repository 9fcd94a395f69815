//! FIFO deduplication: a send whose deduplication id (given, or the body's SHA-256 under
//! ContentBasedDeduplication) was seen within five minutes gets the original message's
//! answer and stores nothing. Records expire by housekeeping; a purge drops them, as on
//! AWS (a resend after a purge is a new message).

use super::FIFO_DEDUP_WINDOW_MS;
use crate::codec::{decode, encode};
use crate::error::{SqsError, texts};
use crate::sm::command::SendEntry;
use crate::sm::keys;
use crate::sm::queue_record::QueueRecord;
use crate::sm::txn::{StateRead, Txn};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io;

/// A FIFO deduplication record: the answer a duplicate send gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FifoDedup {
    pub message_id: String,
    pub seq: u64,
    pub expires_ms: u64,
}

/// The FIFO deduplication id and record key of an entry (scope per DeduplicationScope),
/// or the error when the queue has no way to deduplicate it.
pub fn key(queue: &QueueRecord, e: &SendEntry) -> Result<(String, Vec<u8>), SqsError> {
    require_source(queue, e)?;
    let dedup_id = match &e.dedup_id {
        Some(id) => id.clone(),
        None => hex::encode(Sha256::digest(e.body.as_bytes())),
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

/// Whether an entry can be deduplicated: it names a deduplication id, or the queue
/// derives one from the body (ContentBasedDeduplication).
pub fn require_source(queue: &QueueRecord, e: &SendEntry) -> Result<(), SqsError> {
    let content_based = queue
        .attributes
        .get("ContentBasedDeduplication")
        .map(String::as_str)
        == Some("true");
    if e.dedup_id.is_some() || content_based {
        return Ok(());
    }
    Err(SqsError::invalid_parameter(
        texts::DEDUPLICATION_ID_REQUIRED,
    ))
}

/// The live record under `key`, if a send with it was seen before `now`'s window ended.
pub fn seen(state: &impl StateRead, key: &[u8], now: u64) -> io::Result<Option<FifoDedup>> {
    let Some(bytes) = state.get(key)? else {
        return Ok(None);
    };
    let seen: FifoDedup = decode(&bytes)?;
    Ok((seen.expires_ms > now).then_some(seen))
}

/// Records that `message_id` was stored as `seq` under `key`, for the window.
pub fn record(
    txn: &mut Txn<'_>,
    queue_id: u64,
    key: Vec<u8>,
    message_id: &str,
    seq: u64,
    now: u64,
) -> io::Result<()> {
    let expires_ms = now + FIFO_DEDUP_WINDOW_MS;
    let entry = FifoDedup {
        message_id: message_id.to_string(),
        seq,
        expires_ms,
    };
    txn.put(
        keys::fifo_dedup_expiry(queue_id, expires_ms, &key),
        Vec::new(),
    );
    txn.put(key, encode(&entry)?);
    Ok(())
}

/// Deletes up to `budget` records expired by `now`; returns how many.
pub fn expire(txn: &mut Txn<'_>, queue_id: u64, now: u64, budget: usize) -> io::Result<usize> {
    let start = keys::queue_start(keys::FIFO_DEDUP_EXPIRY, queue_id);
    let end = keys::fifo_dedup_expiry(queue_id, now + 1, &[]);
    let expired = txn.scan(&start, &end, budget)?;
    let used = expired.len();
    for (key, _) in expired {
        if let Some(dedup_key) = keys::parse_fifo_dedup_expiry(&key) {
            txn.delete(dedup_key);
        }
        txn.delete(key);
    }
    Ok(used)
}

/// Removes every record of a deleted queue.
pub fn drop_all(txn: &mut Txn<'_>, queue_id: u64) {
    for prefix in [keys::FIFO_DEDUP, keys::FIFO_DEDUP_EXPIRY] {
        let start = keys::queue_start(prefix, queue_id);
        let end = keys::queue_start(prefix, queue_id + 1);
        txn.delete_range(&start, &end);
    }
}
