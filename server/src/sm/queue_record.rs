//! The queue record: one per queue in the catalog, keyed by name. The catalog
//! (`catalog.rs`) writes it; every other part of the state machine reads it from here.

use super::keys;
use super::txn::{StateRead, Txn};
use crate::codec::{decode, encode};
use crate::error::{SqsError, SqsResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;

/// A queue as stored in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueRecord {
    /// Unique for the lifetime of the cluster: a queue deleted and created again under the
    /// same name gets a new id, so it never sees the old queue's messages.
    pub id: u64,
    pub name: String,
    pub fifo: bool,
    /// Stored attributes, canonical, defaults filled in.
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// Unix seconds.
    pub created_s: u64,
    /// Unix seconds.
    pub modified_s: u64,
}

/// Reads a queue record.
pub fn load(state: &impl StateRead, name: &str) -> io::Result<Option<QueueRecord>> {
    state
        .get(&keys::queue(name))?
        .map(|b| decode(&b))
        .transpose()
}

/// Reads a queue record that must exist.
pub fn require(state: &impl StateRead, name: &str) -> io::Result<SqsResult<QueueRecord>> {
    Ok(load(state, name)?.ok_or_else(SqsError::queue_does_not_exist))
}

/// Every queue, in name order.
pub fn all(state: &impl StateRead) -> io::Result<Vec<QueueRecord>> {
    let start = [keys::QUEUE];
    let end = keys::prefix_end(&start);
    state
        .scan(&start, &end, usize::MAX)?
        .into_iter()
        .map(|(_, v)| decode(&v))
        .collect()
}

/// Stores a queue record under its name.
pub fn save(txn: &mut Txn<'_>, queue: &QueueRecord) -> io::Result<()> {
    txn.put(keys::queue(&queue.name), encode(queue)?);
    Ok(())
}
