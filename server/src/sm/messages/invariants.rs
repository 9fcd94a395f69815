//! The state machine's message invariants, checked after every apply in tests: each
//! queue's counters equal what its records hold, every record has exactly the index
//! entries its state calls for, every index entry points at a live message that calls for
//! it, each FIFO group that holds messages (and no other) has its `o` marker, and nothing
//! is left of a deleted queue.

use super::{MessageRecord, MessageState, store};
use crate::sm::keys::{self, GROUP, GROUP_OCCUPIED, RETENTION, VISIBLE, WAITING};
use crate::sm::queue_record::{self, QueueRecord};
use crate::sm::txn::StateRead;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub queue: String,
    pub what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "queue {}: {}", self.queue, self.what)
    }
}

/// Every broken invariant of `state` (empty when all hold).
pub fn violations(state: &impl StateRead) -> io::Result<Vec<Violation>> {
    let queues = queue_record::all(state)?;
    let mut out = Vec::new();
    for queue in &queues {
        check_queue(state, queue, &mut out)?;
    }
    let live: BTreeSet<u64> = queues.iter().map(|q| q.id).collect();
    for prefix in [
        keys::MESSAGE,
        keys::COUNTERS,
        VISIBLE,
        WAITING,
        RETENTION,
        GROUP,
        GROUP_OCCUPIED,
        keys::FIFO_DEDUP,
        keys::FIFO_DEDUP_EXPIRY,
        keys::RECEIVE_FLOOR,
    ] {
        for (key, _) in scan_prefix(state, &[prefix])? {
            let Some(id) = key.get(1..9).and_then(|b| b.try_into().ok()) else {
                continue;
            };
            let id = u64::from_be_bytes(id);
            if !live.contains(&id) {
                out.push(Violation {
                    queue: format!("#{id}"),
                    what: format!("a `{}` key outlives its queue", prefix as char),
                });
            }
        }
    }
    Ok(out)
}

/// Panics with every violation, naming `after` (the command just applied).
pub fn assert_hold(state: &impl StateRead, after: &dyn fmt::Display) {
    let found = violations(state).expect("reading the state for the invariant check");
    let listed: Vec<String> = found.iter().map(Violation::to_string).collect();
    assert!(
        found.is_empty(),
        "invariants broken after {after}:\n{}",
        listed.join("\n")
    );
}

fn scan_prefix(state: &impl StateRead, start: &[u8]) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    state.scan(start, &keys::prefix_end(start), usize::MAX)
}

/// The index keys one message calls for.
fn expected_index(queue: &QueueRecord, seq: u64, m: &MessageRecord) -> Vec<Vec<u8>> {
    let id = queue.id;
    let mut keys = vec![keys::timed(RETENTION, id, m.sent_ms, seq)];
    if m.listed {
        keys.push(keys::timed(VISIBLE, id, m.visible_at_ms, seq));
    }
    if m.state != MessageState::Visible {
        keys.push(keys::timed(WAITING, id, m.visible_at_ms, seq));
    }
    if let Some(group) = store::fifo_group(queue, m) {
        keys.push(keys::group_member(id, group, seq));
    }
    keys
}

fn check_queue(
    state: &impl StateRead,
    queue: &QueueRecord,
    out: &mut Vec<Violation>,
) -> io::Result<()> {
    let mut report = |what: String| {
        out.push(Violation {
            queue: queue.name.clone(),
            what,
        })
    };
    let mut by_state: BTreeMap<&str, u64> = BTreeMap::new();
    let mut expected = BTreeSet::new();
    let mut max_seq = None;
    let mut heads: BTreeMap<String, Vec<(u64, bool)>> = BTreeMap::new();
    for (key, value) in scan_prefix(state, &keys::queue_start(keys::MESSAGE, queue.id))? {
        let seq = u64::from_be_bytes(key[9..17].try_into().expect("message key layout"));
        let m: MessageRecord = crate::codec::decode(&value)?;
        *by_state.entry(state_name(m.state)).or_default() += 1;
        max_seq = max_seq.max(Some(seq));
        expected.extend(expected_index(queue, seq, &m));
        match store::fifo_group(queue, &m) {
            Some(group) => heads
                .entry(group.to_string())
                .or_default()
                .push((seq, m.listed)),
            None if !m.listed => report(format!("message {seq} of a standard queue is unlisted")),
            None => {}
        }
    }
    for (group, members) in heads {
        expected.insert(keys::group_occupied(queue.id, &group));
        let listed: Vec<u64> = members.iter().filter(|m| m.1).map(|m| m.0).collect();
        if listed != [members[0].0] {
            report(format!(
                "group {group:?}: listed {listed:?}, but only its first message {} should be",
                members[0].0
            ));
        }
    }
    let c = store::counters(state, queue.id)?;
    let count = |s: MessageState| by_state.get(state_name(s)).copied().unwrap_or(0);
    let counted = (c.visible, c.in_flight, c.delayed);
    let held = (
        count(MessageState::Visible),
        count(MessageState::InFlight),
        count(MessageState::Delayed),
    );
    if counted != held {
        report(format!(
            "counters (visible, in flight, delayed) {counted:?}, records {held:?}"
        ));
    }
    if let Some(max) = max_seq
        && c.next_seq <= max
    {
        report(format!("next_seq {} not above message {max}", c.next_seq));
    }
    let mut present = BTreeSet::new();
    for prefix in [VISIBLE, WAITING, RETENTION, GROUP, GROUP_OCCUPIED] {
        for (key, _) in scan_prefix(state, &keys::queue_start(prefix, queue.id))? {
            present.insert(key);
        }
    }
    for stray in present.difference(&expected) {
        report(format!(
            "index entry `{}` {} points at no message that calls for it",
            stray[0] as char,
            hex::encode(&stray[1..])
        ));
    }
    for missing in expected.difference(&present) {
        report(format!(
            "index entry `{}` {} is missing",
            missing[0] as char,
            hex::encode(&missing[1..])
        ));
    }
    Ok(())
}

fn state_name(state: MessageState) -> &'static str {
    match state {
        MessageState::Visible => "visible",
        MessageState::Delayed => "delayed",
        MessageState::InFlight => "in flight",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::encode;
    use crate::sm::apply::apply_command;
    use crate::sm::command::{Command, Op, SendEntry};
    use crate::sm::messages::QueueCounters;
    use crate::sm::txn::Txn;
    use std::collections::BTreeMap;

    fn apply(txn: &mut Txn<'_>, op: Op) {
        let command = Command {
            request_id: format!("{}", rand::random::<u64>()),
            time_ms: 1_000,
            op,
        };
        apply_command(txn, 1_000, &command).unwrap().unwrap();
    }

    #[test]
    fn a_drifted_counter_a_lost_index_entry_and_a_leftover_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        let db = rocksdb::DB::open(&opts, dir.path()).unwrap();
        let mut txn = Txn::new(&db);
        for name in ["q", "gone"] {
            apply(
                &mut txn,
                Op::CreateQueue {
                    name: name.into(),
                    attributes: BTreeMap::new(),
                    tags: BTreeMap::new(),
                },
            );
        }
        let send = SendEntry {
            id: "0".into(),
            message_id: "m".into(),
            body: "b".into(),
            delay_seconds: None,
            attributes: BTreeMap::new(),
            system_attributes: BTreeMap::new(),
            md5_body: String::new(),
            md5_attributes: None,
            md5_system_attributes: None,
            size: 1,
            sender_id: "s".into(),
            group_id: None,
            dedup_id: None,
        };
        apply(
            &mut txn,
            Op::SendMessages {
                queue: "q".into(),
                entries: vec![send],
            },
        );
        assert_eq!(violations(&txn).unwrap(), Vec::new());

        let q = queue_record::load(&txn, "q").unwrap().unwrap();
        let gone = queue_record::load(&txn, "gone").unwrap().unwrap();
        let drifted = QueueCounters {
            visible: 2,
            next_seq: 1,
            ..QueueCounters::default()
        };
        txn.put(keys::counters(q.id), encode(&drifted).unwrap());
        txn.delete(keys::timed(RETENTION, q.id, 1_000, 0));
        txn.put(keys::group_occupied(q.id, "no such group"), Vec::new());
        txn.delete(keys::queue(&gone.name));
        txn.put(
            keys::counters(gone.id),
            encode(&QueueCounters::default()).unwrap(),
        );
        let found: Vec<String> = violations(&txn)
            .unwrap()
            .iter()
            .map(Violation::to_string)
            .collect();
        assert_eq!(found.len(), 4, "{found:#?}");
        assert!(
            found[0]
                .contains("counters (visible, in flight, delayed) (2, 0, 0), records (1, 0, 0)"),
            "{found:#?}"
        );
        assert!(
            found[1].contains("`o`") && found[1].contains("points at no message"),
            "{found:#?}"
        );
        assert!(
            found[2].contains("`t`") && found[2].contains("missing"),
            "{found:#?}"
        );
        assert!(found[3].contains("outlives its queue"), "{found:#?}");
    }
}
