//! What the workload did and saw, recorded as it happens for the checker.
//!
//! Times are client-side `Instant`s. A server-side action lies between the moment its
//! request was sent and the moment its answer was recorded, so the checker only calls a
//! violation when those intervals prove the order.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// The two queues of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueKind {
    Standard,
    Fifo,
}

/// A message body: a unique id plus, on the FIFO queue, its group and per-group counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    pub uid: String,
    pub group: Option<u32>,
    pub counter: Option<u64>,
}

impl Body {
    /// The wire form: `uid=<uid>;group=<g>;counter=<n>` (group and counter only on FIFO).
    pub fn encode(&self) -> String {
        match (self.group, self.counter) {
            (Some(g), Some(c)) => format!("uid={};group={g};counter={c}", self.uid),
            _ => format!("uid={}", self.uid),
        }
    }

    /// Parses [`Body::encode`]'s form; `None` for anything else.
    pub fn decode(text: &str) -> Option<Body> {
        let mut body = Body {
            uid: String::new(),
            group: None,
            counter: None,
        };
        for field in text.split(';') {
            match field.split_once('=')? {
                ("uid", v) => body.uid = v.to_string(),
                ("group", v) => body.group = Some(v.parse().ok()?),
                ("counter", v) => body.counter = Some(v.parse().ok()?),
                _ => return None,
            }
        }
        (!body.uid.is_empty()).then_some(body)
    }
}

/// One send attempt of one message (a batch records one per entry).
#[derive(Debug, Clone)]
pub struct Send {
    pub queue: QueueKind,
    pub body: Body,
    /// The MessageId of a successful answer; `None` if the send failed or its outcome is
    /// unknown.
    pub acked_id: Option<String>,
    /// The FIFO SequenceNumber of a successful answer.
    pub sequence: Option<u128>,
}

/// One message in one ReceiveMessage answer.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub queue: QueueKind,
    pub body: Body,
    pub message_id: String,
    pub receipt_handle: String,
    /// When the ReceiveMessage request was sent.
    pub requested: Instant,
    /// When its answer arrived.
    pub recorded: Instant,
    /// Identifies the ReceiveMessage call (messages of one answer share it).
    pub receive: u64,
    /// Position within that answer.
    pub position: usize,
}

/// A DeleteMessage acknowledged while the handle was certainly still the current one
/// (before the visibility timeout of its receive could have run out).
#[derive(Debug, Clone)]
pub struct Deleted {
    pub queue: QueueKind,
    pub uid: String,
    pub acknowledged: Instant,
}

/// A DeleteMessage tried with a receipt handle from before a rotation.
#[derive(Debug, Clone)]
pub struct StaleProbe {
    pub queue: QueueKind,
    pub uid: String,
    /// When the stale delete's answer arrived (success or error).
    pub answered: Instant,
}

/// Everything recorded during a run.
#[derive(Debug, Default)]
pub struct Records {
    pub sends: Vec<Send>,
    pub deliveries: Vec<Delivery>,
    pub deleted: Vec<Deleted>,
    pub stale_probes: Vec<StaleProbe>,
}

/// A thread-safe recorder shared by every worker.
#[derive(Default)]
pub struct History {
    records: Mutex<Records>,
    receives: std::sync::atomic::AtomicU64,
    /// Handles of messages released with visibility 0: (queue, uid) → the old handle,
    /// waiting for a later delivery to try it as a stale handle.
    released: Mutex<HashMap<(QueueKind, String), String>>,
}

impl History {
    fn with<T>(&self, f: impl FnOnce(&mut Records) -> T) -> T {
        f(&mut self.records.lock().expect("history lock"))
    }

    /// Records send attempts.
    pub fn sent(&self, sends: impl IntoIterator<Item = Send>) {
        self.with(|r| r.sends.extend(sends));
    }

    /// A fresh id for one ReceiveMessage call.
    pub fn next_receive(&self) -> u64 {
        self.receives
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Records the messages of one ReceiveMessage answer.
    pub fn delivered(&self, deliveries: impl IntoIterator<Item = Delivery>) {
        self.with(|r| r.deliveries.extend(deliveries));
    }

    /// Records a delete that certainly removed the message.
    pub fn deleted(&self, deleted: Deleted) {
        self.with(|r| r.deleted.push(deleted));
    }

    /// Records the answer to a delete with a stale handle.
    pub fn stale_probe(&self, probe: StaleProbe) {
        self.with(|r| r.stale_probes.push(probe));
    }

    /// Remembers the handle of a message released for redelivery.
    pub fn released(&self, queue: QueueKind, uid: &str, handle: &str) {
        self.released
            .lock()
            .expect("released lock")
            .entry((queue, uid.to_string()))
            .or_insert_with(|| handle.to_string());
    }

    /// If `uid` was released under a handle other than `current`, takes that stale handle.
    pub fn take_stale_handle(&self, queue: QueueKind, uid: &str, current: &str) -> Option<String> {
        let mut released = self.released.lock().expect("released lock");
        let key = (queue, uid.to_string());
        match released.get(&key) {
            Some(old) if old != current => released.remove(&key),
            _ => None,
        }
    }

    /// The highest SequenceNumber acknowledged on `queue` so far.
    pub fn max_sequence(&self, queue: QueueKind) -> Option<u128> {
        self.with(|r| {
            r.sends
                .iter()
                .filter(|s| s.queue == queue)
                .filter_map(|s| s.sequence)
                .max()
        })
    }

    /// Takes the records out for checking.
    pub fn into_records(self) -> Records {
        self.records.into_inner().expect("history lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip() {
        for body in [
            Body {
                uid: "s-1-42".into(),
                group: None,
                counter: None,
            },
            Body {
                uid: "f-3-7".into(),
                group: Some(3),
                counter: Some(7),
            },
        ] {
            assert_eq!(Body::decode(&body.encode()), Some(body));
        }
        assert_eq!(Body::decode("hello"), None);
        assert_eq!(Body::decode("uid=x;group=nope"), None);
    }
}
