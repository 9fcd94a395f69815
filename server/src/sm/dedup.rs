//! The request-dedup table: a retried request (same request id) gets the recorded result
//! of its first apply and changes nothing, so internal retries are exactly-once.
//!
//! A command's result is recorded under its action and request id in the same write
//! batch as its effect. Applying the same request id again returns the recorded result
//! and changes nothing. Records expire [`WINDOW_MS`] after they were written; expiry is
//! done by leader-proposed housekeeping entries, so every replica agrees on it.

use super::command::CommandResult;
use super::keys;
use super::txn::{StateRead, Txn};
use crate::codec::{decode, encode};
use serde::{Deserialize, Serialize};
use std::io;

/// How long a request id is remembered: far longer than any internal retry (bounded by
/// the forward deadline) or SDK retry sequence.
pub const WINDOW_MS: u64 = 15 * 60 * 1000;

/// Most records one housekeeping entry expires, bounding its cost.
pub const EXPIRE_BATCH: usize = 10_000;

/// A recorded result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DedupRecord {
    pub expires_ms: u64,
    pub result: CommandResult,
}

/// The recorded result of an earlier apply of this request, if it has not expired.
pub fn lookup(
    state: &impl StateRead,
    action: &str,
    request_id: &str,
    now_ms: u64,
) -> io::Result<Option<CommandResult>> {
    let Some(bytes) = state.get(&keys::dedup(action, request_id))? else {
        return Ok(None);
    };
    let record: DedupRecord = decode(&bytes)?;
    Ok((record.expires_ms > now_ms).then_some(record.result))
}

/// Records a result for `window_ms`; a record already present is replaced (it had
/// expired).
pub fn record(
    txn: &mut Txn<'_>,
    action: &str,
    request_id: &str,
    now_ms: u64,
    window_ms: u64,
    result: &CommandResult,
) -> io::Result<()> {
    let key = keys::dedup(action, request_id);
    if let Some(old) = txn.get(&key)? {
        let old: DedupRecord = decode(&old)?;
        txn.delete(keys::dedup_expiry(old.expires_ms, action, request_id));
    }
    let expires_ms = now_ms.saturating_add(window_ms);
    let record = DedupRecord {
        expires_ms,
        result: result.clone(),
    };
    txn.put(key, encode(&record)?);
    txn.put(
        keys::dedup_expiry(expires_ms, action, request_id),
        Vec::new(),
    );
    Ok(())
}

/// Deletes up to [`EXPIRE_BATCH`] records that expired at or before `now_ms`; returns how
/// many were deleted.
pub fn expire(txn: &mut Txn<'_>, now_ms: u64) -> io::Result<usize> {
    let start = [keys::DEDUP_EXPIRY];
    let end = keys::dedup_expiry(now_ms.saturating_add(1), "", "");
    let due = txn.scan(&start, &end, EXPIRE_BATCH)?;
    for (index_key, _) in &due {
        if let Some((_, record_key)) = keys::parse_dedup_expiry(index_key) {
            txn.delete(record_key);
        }
        txn.delete(index_key.clone());
    }
    Ok(due.len())
}
