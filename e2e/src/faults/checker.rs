//! Checks a run's [`Records`] against the queue's guarantees and counts violations.
//!
//! Invariants (each counted, each must be zero):
//! - **lost**: an acknowledged send whose unique id was never delivered;
//! - **duplicated**: a unique id delivered under two MessageIds, or under a MessageId
//!   other than the one its send acknowledged (a retried send stored twice);
//! - **reordered**: on the FIFO queue, within one group, a message first delivered by a
//!   receive sent after a later message of the group had been delivered; a receive
//!   answer listing a group's messages out of counter order; acknowledged sequence
//!   numbers not increasing with the group's counter;
//! - **resurrected**: a message delivered by a receive sent after a delete of it was
//!   acknowledged while its handle was certainly current;
//! - **stale-handle deletions**: a message never delivered again after a delete with a
//!   receipt handle from before a rotation.

use super::history::{QueueKind, Records};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::time::Instant;

/// How many violation descriptions a verdict keeps.
const DETAIL_LIMIT: usize = 20;

/// The counts of a checked run.
#[derive(Debug, Default, Clone)]
pub struct Verdict {
    pub sent: usize,
    pub acknowledged: usize,
    /// Distinct unique ids delivered at least once.
    pub received: usize,
    /// Messages in all ReceiveMessage answers, redeliveries included.
    pub deliveries: usize,
    pub lost: usize,
    pub duplicated: usize,
    pub reordered: usize,
    pub resurrected: usize,
    pub stale_probes: usize,
    pub stale_handle_deletions: usize,
    /// The first violations, described.
    pub details: Vec<String>,
}

impl Verdict {
    /// True when no invariant was violated.
    pub fn ok(&self) -> bool {
        self.lost == 0
            && self.duplicated == 0
            && self.reordered == 0
            && self.resurrected == 0
            && self.stale_handle_deletions == 0
    }

    fn violation(&mut self, detail: String) {
        if self.details.len() < DETAIL_LIMIT {
            self.details.push(detail);
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent {} acknowledged {} received {} (deliveries {}) lost {} duplicated {} \
             reordered {} resurrected {} stale-handle probes {} stale-handle deletions {}",
            self.sent,
            self.acknowledged,
            self.received,
            self.deliveries,
            self.lost,
            self.duplicated,
            self.reordered,
            self.resurrected,
            self.stale_probes,
            self.stale_handle_deletions
        )
    }
}

type Key = (QueueKind, String);

/// Checks every invariant over `records`.
pub fn check(records: &Records) -> Verdict {
    let mut v = Verdict {
        sent: records.sends.len(),
        acknowledged: records
            .sends
            .iter()
            .filter(|s| s.acked_id.is_some())
            .count(),
        deliveries: records.deliveries.len(),
        stale_probes: records.stale_probes.len(),
        ..Verdict::default()
    };
    let mut delivered_ids: HashMap<Key, HashSet<&str>> = HashMap::new();
    for d in &records.deliveries {
        delivered_ids
            .entry((d.queue, d.body.uid.clone()))
            .or_default()
            .insert(&d.message_id);
    }
    v.received = delivered_ids.len();
    check_lost_and_duplicated(records, &delivered_ids, &mut v);
    check_fifo_order(records, &mut v);
    check_resurrections(records, &mut v);
    check_stale_probes(records, &mut v);
    v
}

fn check_lost_and_duplicated(
    records: &Records,
    delivered: &HashMap<Key, HashSet<&str>>,
    v: &mut Verdict,
) {
    let mut acked: HashMap<Key, &str> = HashMap::new();
    for s in &records.sends {
        if let Some(id) = &s.acked_id {
            acked.insert((s.queue, s.body.uid.clone()), id);
        }
    }
    for (key, id) in &acked {
        if !delivered.contains_key(key) {
            v.lost += 1;
            v.violation(format!(
                "lost: {key:?} acknowledged as {id}, never delivered"
            ));
        }
    }
    for (key, ids) in delivered {
        let foreign = acked.get(key).is_some_and(|id| !ids.contains(id));
        if ids.len() > 1 || foreign {
            v.duplicated += 1;
            v.violation(format!(
                "duplicated: {key:?} delivered as {ids:?}, acknowledged as {:?}",
                acked.get(key)
            ));
        }
    }
}

fn check_fifo_order(records: &Records, v: &mut Verdict) {
    // group → counter → (earliest request of a delivery, earliest record of a delivery)
    let mut groups: BTreeMap<u32, BTreeMap<u64, (Instant, Instant)>> = BTreeMap::new();
    let mut answers: HashMap<u64, Vec<(usize, u32, u64)>> = HashMap::new();
    for d in records
        .deliveries
        .iter()
        .filter(|d| d.queue == QueueKind::Fifo)
    {
        let (Some(g), Some(c)) = (d.body.group, d.body.counter) else {
            continue;
        };
        let slot = groups
            .entry(g)
            .or_default()
            .entry(c)
            .or_insert((d.requested, d.recorded));
        slot.0 = slot.0.min(d.requested);
        slot.1 = slot.1.min(d.recorded);
        answers
            .entry(d.receive)
            .or_default()
            .push((d.position, g, c));
    }
    for (group, counters) in &groups {
        // Walk from the highest counter down, tracking the earliest moment any later
        // message of the group had been seen by a client.
        let mut later_seen: Option<(u64, Instant)> = None;
        for (&counter, &(first_requested, first_recorded)) in counters.iter().rev() {
            if let Some((later, seen)) = later_seen
                && first_requested > seen
            {
                v.reordered += 1;
                v.violation(format!(
                    "reordered: group {group} counter {counter} first delivered by a receive \
                     sent after counter {later} had been delivered"
                ));
            }
            if later_seen.is_none_or(|(_, seen)| first_recorded < seen) {
                later_seen = Some((counter, first_recorded));
            }
        }
    }
    for mut answer in answers.into_values() {
        answer.sort();
        let mut last: HashMap<u32, u64> = HashMap::new();
        for (_, group, counter) in answer {
            if let Some(prev) = last.insert(group, counter)
                && prev >= counter
            {
                v.reordered += 1;
                v.violation(format!(
                    "reordered: one answer lists group {group} counter {prev} before {counter}"
                ));
            }
        }
    }
    let mut acked: BTreeMap<u32, BTreeMap<u64, u128>> = BTreeMap::new();
    for s in records.sends.iter().filter(|s| s.queue == QueueKind::Fifo) {
        if let (Some(g), Some(c), Some(seq)) = (s.body.group, s.body.counter, s.sequence) {
            acked.entry(g).or_default().insert(c, seq);
        }
    }
    for (group, counters) in &acked {
        for ((c1, s1), (c2, s2)) in counters.iter().zip(counters.iter().skip(1)) {
            if s2 <= s1 {
                v.reordered += 1;
                v.violation(format!(
                    "reordered: group {group} counter {c2} acknowledged with sequence {s2} \
                     not above counter {c1}'s {s1}"
                ));
            }
        }
    }
}

fn check_resurrections(records: &Records, v: &mut Verdict) {
    let mut deleted: HashMap<Key, Instant> = HashMap::new();
    for d in &records.deleted {
        let at = deleted
            .entry((d.queue, d.uid.clone()))
            .or_insert(d.acknowledged);
        *at = (*at).min(d.acknowledged);
    }
    for d in &records.deliveries {
        if let Some(&at) = deleted.get(&(d.queue, d.body.uid.clone()))
            && d.requested > at
        {
            v.resurrected += 1;
            v.violation(format!(
                "resurrected: {:?} {} delivered by a receive sent {:?} after its delete was \
                 acknowledged",
                d.queue,
                d.body.uid,
                d.requested - at
            ));
        }
    }
}

fn check_stale_probes(records: &Records, v: &mut Verdict) {
    for p in &records.stale_probes {
        let again = records
            .deliveries
            .iter()
            .any(|d| d.queue == p.queue && d.body.uid == p.uid && d.recorded > p.answered);
        if !again {
            v.stale_handle_deletions += 1;
            v.violation(format!(
                "stale-handle deletion: {:?} {} never delivered after a delete with an old \
                 receipt handle",
                p.queue, p.uid
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::history::{Body, Deleted, Delivery, Send, StaleProbe};
    use super::*;
    use std::time::Duration;

    fn fifo(uid: &str, counter: u64) -> Body {
        Body {
            uid: uid.into(),
            group: Some(1),
            counter: Some(counter),
        }
    }

    fn send(body: Body, id: &str, sequence: u128) -> Send {
        Send {
            queue: QueueKind::Fifo,
            body,
            acked_id: Some(id.into()),
            sequence: Some(sequence),
        }
    }

    fn delivery(body: Body, id: &str, at: Instant, receive: u64) -> Delivery {
        Delivery {
            queue: QueueKind::Fifo,
            body,
            message_id: id.into(),
            receipt_handle: format!("h-{id}-{receive}"),
            requested: at,
            recorded: at + Duration::from_millis(5),
            receive,
            position: 0,
        }
    }

    #[test]
    fn clean_history_passes() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        let records = Records {
            sends: vec![send(fifo("a", 0), "m0", 1), send(fifo("b", 1), "m1", 2)],
            deliveries: vec![
                delivery(fifo("a", 0), "m0", t, 1),
                // Redelivery of a not-yet-deleted message, in order.
                delivery(fifo("a", 0), "m0", t + ms(100), 2),
                delivery(fifo("b", 1), "m1", t + ms(200), 3),
            ],
            deleted: vec![Deleted {
                queue: QueueKind::Fifo,
                uid: "a".into(),
                acknowledged: t + ms(150),
            }],
            stale_probes: vec![],
        };
        let v = check(&records);
        assert!(v.ok(), "{v}: {:?}", v.details);
        assert_eq!(
            (v.sent, v.acknowledged, v.received, v.deliveries),
            (2, 2, 2, 3)
        );
    }

    #[test]
    fn every_violation_is_counted() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        let records = Records {
            sends: vec![
                send(fifo("a", 0), "m0", 5),
                send(fifo("b", 1), "m1", 4),
                send(fifo("lost", 2), "m2", 6),
            ],
            deliveries: vec![
                delivery(fifo("b", 1), "m1", t, 1),
                delivery(fifo("a", 0), "m0", t + ms(100), 2),
                delivery(fifo("a", 0), "m9", t + ms(300), 3),
            ],
            deleted: vec![Deleted {
                queue: QueueKind::Fifo,
                uid: "a".into(),
                acknowledged: t + ms(200),
            }],
            stale_probes: vec![StaleProbe {
                queue: QueueKind::Fifo,
                uid: "b".into(),
                answered: t + ms(50),
            }],
        };
        let v = check(&records);
        assert_eq!(v.lost, 1);
        assert_eq!(v.duplicated, 1);
        // Counter 0 first delivered after counter 1, and sequence 4 after 5.
        assert_eq!(v.reordered, 2);
        assert_eq!(v.resurrected, 1);
        assert_eq!(v.stale_handle_deletions, 1);
        assert!(!v.ok());
    }
}
