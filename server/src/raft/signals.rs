//! Wake-ups for long polls: applying a round that makes messages receivable in a queue
//! notifies the receives waiting on that queue on this node — long polling is event
//! driven, never a sleep-and-rescan loop.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// One `Notify` per queue id that has (or had) a waiter on this node.
#[derive(Default)]
pub struct QueueSignals {
    by_queue: Mutex<HashMap<u64, Arc<Notify>>>,
}

impl QueueSignals {
    /// The notifier of a queue. Create the `notified()` future (and `enable` it) before
    /// checking the state, so a wake-up between the check and the wait is not lost.
    pub fn subscribe(&self, queue_id: u64) -> Arc<Notify> {
        let mut map = self.by_queue.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(queue_id).or_default().clone()
    }

    /// Wakes every waiter of the given queues.
    pub fn wake(&self, queues: &BTreeSet<u64>) {
        if queues.is_empty() {
            return;
        }
        let map = self.by_queue.lock().unwrap_or_else(|p| p.into_inner());
        for q in queues {
            if let Some(n) = map.get(q) {
                n.notify_waiters();
            }
        }
    }
}
