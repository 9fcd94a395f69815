//! Tests of message apply: send, receive, delete, visibility, purge, retention, FIFO
//! ordering and deduplication, dead letters and the receive floor.

use super::*;
use crate::codec::decode;
use crate::error::ErrorCode;
use crate::sm::apply::apply_command;
use crate::sm::command::{
    Command, CommandResult, HandleEntry, Op, Output, ReadOp, ReceiptHandle, ReceivedMessage,
    SendEntry, SentMessage, VisibilityEntry,
};
use crate::sm::keys;
use crate::sm::queue_record;
use crate::sm::read::{ReadContext, execute};
use crate::sm::txn::DbRead;
use crate::sm::txn::{StateRead, Txn};
use rocksdb::DB;
use std::collections::BTreeMap;

struct Fixture {
    _dir: tempfile::TempDir,
    db: DB,
    next: u64,
    /// Whether every apply is followed by the invariant check (on unless a test holds
    /// too many messages to scan after each command).
    check_invariants: bool,
}

impl Fixture {
    fn new(attributes: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        let db = DB::open(&opts, dir.path()).unwrap();
        let mut f = Fixture {
            _dir: dir,
            db,
            next: 0,
            check_invariants: true,
        };
        let attributes = attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        f.run(
            0,
            Op::CreateQueue {
                name: "q".into(),
                attributes,
                tags: Default::default(),
            },
        )
        .unwrap();
        f
    }

    fn run(&mut self, now: u64, op: Op) -> CommandResult {
        self.next += 1;
        let request_id = format!("r{}", self.next);
        self.run_as(&request_id, now, op)
    }

    /// Applies `op` under a chosen request id (a retry reuses one).
    fn run_as(&mut self, request_id: &str, now: u64, op: Op) -> CommandResult {
        let command = Command {
            request_id: request_id.into(),
            time_ms: now,
            op,
        };
        let mut txn = Txn::new(&self.db);
        let result = apply_command(&mut txn, now, &command).unwrap();
        self.db.write(txn.into_batch()).unwrap();
        if self.check_invariants {
            invariants::assert_hold(&DbRead(&self.db), &command);
        }
        result
    }

    fn send(&mut self, now: u64, body: &str, delay: Option<u32>) -> CommandResult {
        self.run(
            now,
            Op::SendMessages {
                queue: "q".into(),
                entries: vec![entry(body, delay)],
            },
        )
    }

    fn receive(&mut self, now: u64, max: u32, vt: Option<u32>) -> Vec<ReceivedMessage> {
        let tokens = (0..max)
            .map(|i| 1000 * self.next + u64::from(i) + 1)
            .collect();
        match self.run(
            now,
            Op::ReceiveMessages {
                queue: "q".into(),
                max,
                visibility_timeout: vt,
                attempt_id: None,
                tokens,
            },
        ) {
            Ok(Output::Received(m)) => m,
            other => panic!("receive: {other:?}"),
        }
    }

    fn counts(&self) -> (String, String, String) {
        self.counts_of("q")
    }

    fn counts_of(&self, queue: &str) -> (String, String, String) {
        let ctx = ReadContext {
            region: "r",
            account_id: "1",
        };
        let op = ReadOp::GetQueueAttributes {
            name: queue.into(),
            names: vec!["All".into()],
        };
        let Ok(Output::Attributes(a)) = execute(&DbRead(&self.db), &ctx, &op).unwrap() else {
            panic!("attributes")
        };
        (
            a["ApproximateNumberOfMessages"].clone(),
            a["ApproximateNumberOfMessagesNotVisible"].clone(),
            a["ApproximateNumberOfMessagesDelayed"].clone(),
        )
    }
}

fn entry(body: &str, delay: Option<u32>) -> SendEntry {
    SendEntry {
        id: "0".into(),
        message_id: format!("id-{body}"),
        body: body.into(),
        delay_seconds: delay,
        attributes: Default::default(),
        system_attributes: Default::default(),
        md5_body: String::new(),
        md5_attributes: None,
        md5_system_attributes: None,
        size: body.len() as u64,
        sender_id: "AKID".into(),
        group_id: None,
        dedup_id: None,
    }
}

fn counts(v: u64, nv: u64, d: u64) -> (String, String, String) {
    (v.to_string(), nv.to_string(), d.to_string())
}

#[test]
fn a_replayed_receive_returns_only_messages_still_held_under_its_handles() {
    let mut f = Fixture::new(&[]);
    f.send(1_000, "a", None).unwrap();
    f.send(1_000, "b", None).unwrap();
    let receive = |f: &mut Fixture, now| {
        let op = Op::ReceiveMessages {
            queue: "q".into(),
            max: 10,
            visibility_timeout: Some(1),
            attempt_id: None,
            tokens: vec![11, 13],
        };
        match f.run_as("retried", now, op) {
            Ok(Output::Received(m)) => m,
            other => panic!("receive: {other:?}"),
        }
    };
    let first = receive(&mut f, 1_000);
    assert_eq!(first.len(), 2);
    assert_eq!(receive(&mut f, 1_100), first, "a retry replays the answer");
    f.run(
        1_200,
        Op::DeleteMessages {
            queue: "q".into(),
            entries: vec![HandleEntry {
                id: "x".into(),
                handle: first[0].handle,
            }],
        },
    )
    .unwrap();
    assert_eq!(
        receive(&mut f, 1_300),
        first[1..],
        "a deleted message is left out"
    );
    // Once the visibility timeout ran out and another receive took the message, the
    // old handle must not come back: its holder would take the new one for stale.
    let again = f.receive(2_001, 10, Some(30));
    assert_eq!(again.len(), 1);
    assert_ne!(again[0].handle, first[1].handle);
    assert!(receive(&mut f, 2_100).is_empty());
    assert_eq!(f.counts(), counts(0, 1, 0));
}

#[test]
fn receive_rotates_handles_and_only_the_current_one_deletes() {
    let mut f = Fixture::new(&[]);
    f.send(1_000, "a", None).unwrap();
    assert_eq!(f.counts(), counts(1, 0, 0));
    let first = f.receive(1_000, 10, Some(1)).remove(0);
    assert_eq!(first.receive_count, 1);
    assert_eq!(f.counts(), counts(0, 1, 0));
    assert!(
        f.receive(1_500, 10, None).is_empty(),
        "in flight: not receivable"
    );
    // After the visibility timeout it is received again under a new handle.
    let second = f.receive(2_001, 10, Some(30)).remove(0);
    assert_eq!(second.receive_count, 2);
    assert_eq!(second.first_receive_ms, 1_000);
    assert_ne!(first.handle, second.handle);
    // The stale handle "succeeds" without deleting.
    let stale = f.run(
        2_100,
        Op::DeleteMessages {
            queue: "q".into(),
            entries: vec![HandleEntry {
                id: "x".into(),
                handle: first.handle,
            }],
        },
    );
    assert!(matches!(stale, Ok(Output::Batch { ref failed, .. }) if failed.is_empty()));
    assert_eq!(f.counts(), counts(0, 1, 0));
    f.run(
        2_200,
        Op::DeleteMessages {
            queue: "q".into(),
            entries: vec![HandleEntry {
                id: "x".into(),
                handle: second.handle,
            }],
        },
    )
    .unwrap();
    assert_eq!(f.counts(), counts(0, 0, 0));
    assert!(f.receive(99_000, 10, None).is_empty());
}

#[test]
fn delays_and_visibility_changes_move_counters_and_housekeeping_returns_messages() {
    let mut f = Fixture::new(&[("DelaySeconds", "5")]);
    f.send(0, "queue-delay", None).unwrap();
    f.send(0, "no-delay", Some(0)).unwrap();
    assert_eq!(f.counts(), counts(1, 0, 1));
    let got = f.receive(100, 10, Some(10));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, "no-delay");
    assert_eq!(f.counts(), counts(0, 1, 1));
    // Housekeeping at 5 s: the delayed message turns visible.
    f.run(5_000, Op::Housekeeping).unwrap();
    assert_eq!(f.counts(), counts(1, 1, 0));
    // ChangeMessageVisibility to 0 makes the in-flight one visible at once.
    let changed = f.run(
        5_100,
        Op::ChangeVisibility {
            queue: "q".into(),
            entries: vec![VisibilityEntry {
                id: "c".into(),
                handle: got[0].handle,
                timeout_seconds: 0,
            }],
        },
    );
    assert!(matches!(changed, Ok(Output::Batch { ref successful, .. }) if successful.len() == 1));
    assert_eq!(f.counts(), counts(2, 0, 0));
    // On a standard queue the handle still changes a message no longer in flight.
    let again = f.run(
        5_200,
        Op::ChangeVisibility {
            queue: "q".into(),
            entries: vec![VisibilityEntry {
                id: "c".into(),
                handle: got[0].handle,
                timeout_seconds: 5,
            }],
        },
    );
    assert!(matches!(again, Ok(Output::Batch { ref failed, .. }) if failed.is_empty()));
    assert_eq!(f.counts(), counts(1, 1, 0));
    // A handle of another queue id is invalid.
    let foreign = ReceiptHandle {
        queue_id: 999,
        seq: 0,
        token: 1,
    };
    let bad = f.run(
        5_300,
        Op::DeleteMessages {
            queue: "q".into(),
            entries: vec![HandleEntry {
                id: "d".into(),
                handle: foreign,
            }],
        },
    );
    let Ok(Output::Batch { failed, .. }) = bad else {
        panic!("{bad:?}")
    };
    assert_eq!(failed[0].error.code, ErrorCode::ReceiptHandleIsInvalid);
}

#[test]
fn retention_size_limit_and_purge_interval_are_enforced() {
    let mut f = Fixture::new(&[
        ("MessageRetentionPeriod", "60"),
        ("MaximumMessageSize", "1024"),
    ]);
    f.send(0, "old", None).unwrap();
    let big = "x".repeat(1025);
    let Ok(Output::Sent { successful, failed }) = f.send(0, &big, None) else {
        panic!()
    };
    assert!(successful.is_empty());
    assert_eq!(failed[0].error.code, ErrorCode::InvalidParameterValue);
    // Past retention the message is never delivered, and housekeeping removes it.
    assert!(f.receive(60_000, 10, None).is_empty());
    f.send(61_000, "new", None).unwrap();
    f.run(61_000, Op::Housekeeping).unwrap();
    assert_eq!(f.counts(), counts(1, 0, 0));

    f.run(62_000, Op::PurgeQueue { queue: "q".into() }).unwrap();
    assert_eq!(f.counts(), counts(0, 0, 0));
    f.send(62_500, "after-purge", None).unwrap();
    let again = f.run(100_000, Op::PurgeQueue { queue: "q".into() });
    assert_eq!(again.unwrap_err().code, ErrorCode::PurgeQueueInProgress);
    f.run(122_000, Op::PurgeQueue { queue: "q".into() })
        .unwrap();
    assert!(f.receive(122_001, 10, None).is_empty());
}

#[test]
fn in_flight_limit_answers_over_limit() {
    let mut f = Fixture::new(&[]);
    // 121,000 messages: the invariants are checked once at the end, not after each apply.
    f.check_invariants = false;
    // Apply has no batch-size limit (the edge enforces 10), so large batches keep the
    // test fast.
    let entries: Vec<SendEntry> = (0..1000).map(|i| entry(&i.to_string(), None)).collect();
    for _ in 0..(MAX_IN_FLIGHT / 1000) + 1 {
        f.run(
            0,
            Op::SendMessages {
                queue: "q".into(),
                entries: entries.clone(),
            },
        )
        .unwrap();
    }
    let mut received = 0;
    loop {
        let tokens = (1..=1000).map(|i| f.next * 10_000 + i).collect();
        match f.run(
            1,
            Op::ReceiveMessages {
                queue: "q".into(),
                max: 1000,
                visibility_timeout: Some(600),
                attempt_id: None,
                tokens,
            },
        ) {
            Ok(Output::Received(m)) => received += m.len() as u64,
            Err(e) => {
                assert_eq!(e.code, ErrorCode::OverLimit);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(received, MAX_IN_FLIGHT);
    invariants::assert_hold(&DbRead(&f.db), &"the last receive");
}

#[test]
fn deleting_a_queue_drops_its_messages_and_a_new_queue_starts_empty() {
    let mut f = Fixture::new(&[]);
    f.send(0, "a", None).unwrap();
    f.run(1, Op::DeleteQueue { name: "q".into() }).unwrap();
    f.run(
        2,
        Op::CreateQueue {
            name: "q".into(),
            attributes: Default::default(),
            tags: Default::default(),
        },
    )
    .unwrap();
    assert!(f.receive(3, 10, None).is_empty());
    assert_eq!(f.counts(), counts(0, 0, 0));
}

fn floor_of(f: &Fixture, queue: &str) -> u64 {
    let db = DbRead(&f.db);
    let id = queue_record::load(&db, queue).unwrap().unwrap().id;
    receive_floor::get(&db, id).unwrap()
}

#[test]
fn receive_floor_follows_the_head_and_never_hides_a_receivable_message() {
    let mut f = Fixture::new(&[]);
    assert_eq!(floor_of(&f, "q"), 0);
    f.send(1_000, "a", None).unwrap();
    f.send(1_000, "b", None).unwrap();
    let a = f.receive(2_000, 1, Some(30)).remove(0);
    assert_eq!((a.body.as_str(), floor_of(&f, "q")), ("a", 1_000));
    assert_eq!(f.receive(3_000, 10, Some(30))[0].body, "b");
    // Nothing receivable up to 4 s: the floor moves to the receive time.
    assert!(f.receive(4_000, 10, None).is_empty());
    assert_eq!(floor_of(&f, "q"), 4_000);
    // Entries listed later sort at or above it: a message made visible again, a new one.
    f.run(
        5_000,
        Op::ChangeVisibility {
            queue: "q".into(),
            entries: vec![VisibilityEntry {
                id: "v".into(),
                handle: a.handle,
                timeout_seconds: 0,
            }],
        },
    )
    .unwrap();
    f.send(5_000, "c", None).unwrap();
    let bodies: Vec<String> = f
        .receive(5_000, 10, None)
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(bodies, ["a", "c"]);
    assert_eq!(floor_of(&f, "q"), 5_000);
}

#[test]
fn fifo_head_listed_below_the_receive_floor_lowers_it() {
    let mut f = fifo_fixture(&[]);
    fifo_send(
        &mut f,
        1,
        vec![fifo("a", "a1", Some("1")), fifo("a", "a2", Some("2"))],
    );
    fifo_send(&mut f, 5, vec![fifo("b", "b1", Some("3"))]);
    assert_eq!(fifo_receive(&mut f, 6, 1, None)[0].body, "a1");
    assert_eq!(fifo_receive(&mut f, 7, 1, None)[0].body, "b1");
    assert!(fifo_receive(&mut f, 8, 10, None).is_empty());
    assert_eq!(floor_of(&f, "f.fifo"), 8);
    // Deleting a1 makes a2, sent at 1 ms, its group's head: listed below the floor.
    let handle = got_handle(&f, "a1");
    f.run(
        9,
        Op::DeleteMessages {
            queue: "f.fifo".into(),
            entries: vec![HandleEntry {
                id: "d".into(),
                handle,
            }],
        },
    )
    .unwrap();
    assert_eq!(floor_of(&f, "f.fifo"), 1);
    assert_eq!(fifo_receive(&mut f, 10, 10, None)[0].body, "a2");
}

fn fifo(group: &str, body: &str, dedup: Option<&str>) -> SendEntry {
    SendEntry {
        group_id: Some(group.into()),
        dedup_id: dedup.map(str::to_string),
        ..entry(body, None)
    }
}

fn fifo_fixture(attributes: &[(&str, &str)]) -> Fixture {
    let mut f = Fixture::new(&[]);
    let mut attrs: BTreeMap<String, String> = attributes
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    attrs.insert("FifoQueue".into(), "true".into());
    f.run(
        0,
        Op::CreateQueue {
            name: "f.fifo".into(),
            attributes: attrs,
            tags: Default::default(),
        },
    )
    .unwrap();
    f
}

fn fifo_send(
    f: &mut Fixture,
    now: u64,
    entries: Vec<SendEntry>,
) -> (Vec<SentMessage>, Vec<BatchFailure>) {
    match f.run(
        now,
        Op::SendMessages {
            queue: "f.fifo".into(),
            entries,
        },
    ) {
        Ok(Output::Sent { successful, failed }) => (successful, failed),
        other => panic!("{other:?}"),
    }
}

fn fifo_receive(
    f: &mut Fixture,
    now: u64,
    max: u32,
    attempt: Option<&str>,
) -> Vec<ReceivedMessage> {
    let tokens = (0..max).map(|i| 1000 * f.next + u64::from(i) + 1).collect();
    match f.run(
        now,
        Op::ReceiveMessages {
            queue: "f.fifo".into(),
            max,
            visibility_timeout: Some(30),
            attempt_id: attempt.map(str::to_string),
            tokens,
        },
    ) {
        Ok(Output::Received(m)) => m,
        other => panic!("{other:?}"),
    }
}

#[test]
fn fifo_groups_are_ordered_and_locked_while_in_flight() {
    let mut f = fifo_fixture(&[]);
    let (sent, _) = fifo_send(
        &mut f,
        1,
        vec![
            fifo("a", "a1", Some("1")),
            fifo("a", "a2", Some("2")),
            fifo("b", "b1", Some("3")),
        ],
    );
    let seqs: Vec<u64> = sent.iter().map(|s| s.sequence_number.unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "sequence numbers increase: {seqs:?}"
    );
    // One receive may take several messages of a group, in order.
    let got = fifo_receive(&mut f, 2, 10, None);
    let bodies: Vec<&str> = got.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["a1", "a2", "b1"]);
    // Everything in flight: nothing more.
    assert!(fifo_receive(&mut f, 3, 10, None).is_empty());
    // New message of group a waits behind a's in-flight messages; b stays blocked too.
    fifo_send(
        &mut f,
        4,
        vec![fifo("a", "a3", Some("4")), fifo("c", "c1", Some("5"))],
    );
    let got = fifo_receive(&mut f, 5, 10, None);
    assert_eq!(
        got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["c1"]
    );
    // Deleting a1 leaves a2 (in flight) as head: a3 still waits.
    let a1_handle = got_handle(&f, "a1");
    let a1 = f.run(
        6,
        Op::DeleteMessages {
            queue: "f.fifo".into(),
            entries: vec![HandleEntry {
                id: "d".into(),
                handle: a1_handle,
            }],
        },
    );
    assert!(a1.is_ok());
    assert!(fifo_receive(&mut f, 7, 10, None).is_empty());
    // After the visibility timeout a2 comes back first, then a3.
    let got = fifo_receive(&mut f, 40_000, 1, None);
    assert_eq!(got[0].body, "a2");
}

/// The handle under which `body` is currently held (tests only know bodies).
fn got_handle(f: &Fixture, body: &str) -> ReceiptHandle {
    let start = keys::queue_start(keys::MESSAGE, 0);
    let end = keys::prefix_end(&[keys::MESSAGE]);
    for (key, value) in DbRead(&f.db).scan(&start, &end, usize::MAX).unwrap() {
        let m: MessageRecord = decode(&value).unwrap();
        if m.body == body {
            let queue_id = u64::from_be_bytes(key[1..9].try_into().unwrap());
            let seq = u64::from_be_bytes(key[9..17].try_into().unwrap());
            return ReceiptHandle {
                queue_id,
                seq,
                token: m.token,
            };
        }
    }
    panic!("no message {body}")
}

#[test]
fn fifo_deduplication_answers_with_the_original_within_five_minutes() {
    let mut f = fifo_fixture(&[("ContentBasedDeduplication", "true")]);
    let (first, _) = fifo_send(&mut f, 1_000, vec![fifo("g", "same body", None)]);
    let (dup, _) = fifo_send(
        &mut f,
        2_000,
        vec![SendEntry {
            message_id: "other".into(),
            ..fifo("g", "same body", None)
        }],
    );
    assert_eq!(dup[0].message_id, first[0].message_id);
    assert_eq!(dup[0].sequence_number, first[0].sequence_number);
    // Even after the original was received and deleted.
    let got = fifo_receive(&mut f, 3_000, 10, None);
    assert_eq!(got.len(), 1);
    f.run(
        3_500,
        Op::DeleteMessages {
            queue: "f.fifo".into(),
            entries: vec![HandleEntry {
                id: "d".into(),
                handle: got[0].handle,
            }],
        },
    )
    .unwrap();
    let (dup, _) = fifo_send(&mut f, 4_000, vec![fifo("g", "same body", None)]);
    assert_eq!(dup[0].message_id, first[0].message_id);
    assert!(
        fifo_receive(&mut f, 5_000, 10, None).is_empty(),
        "a duplicate is never stored"
    );
    // After the window (and housekeeping) the same content is a new message.
    f.run(1_000 + FIFO_DEDUP_WINDOW_MS + 1, Op::Housekeeping)
        .unwrap();
    let (fresh, _) = fifo_send(
        &mut f,
        1_000 + FIFO_DEDUP_WINDOW_MS + 2,
        vec![SendEntry {
            message_id: "new".into(),
            ..fifo("g", "same body", None)
        }],
    );
    assert_eq!(fresh[0].message_id, "new");
}

#[test]
fn fifo_rules_missing_group_per_message_delay_and_dedup_source() {
    let mut f = fifo_fixture(&[("DelaySeconds", "5")]);
    let send = |f: &mut Fixture, entries| {
        f.run(
            1,
            Op::SendMessages {
                queue: "f.fifo".into(),
                entries,
            },
        )
    };
    // An entry without its group or deduplication id fails the whole call.
    let no_group = SendEntry {
        group_id: None,
        ..fifo("g", "x", Some("1"))
    };
    let no_dedup = fifo("g", "y", None);
    for (bad, code) in [
        (no_group, ErrorCode::MissingParameter),
        (no_dedup, ErrorCode::InvalidParameterValue),
    ] {
        let whole = send(&mut f, vec![fifo("g", "ok", Some("ok")), bad]);
        assert_eq!(whole.unwrap_err().code, code);
        assert_eq!(f.counts_of("f.fifo"), counts(0, 0, 0), "nothing stored");
    }
    // A non-zero per-message delay fails its entry; an explicit 0 is the queue's delay.
    let (sent, failed) = fifo_send(
        &mut f,
        1,
        vec![
            SendEntry {
                delay_seconds: Some(1),
                ..fifo("g", "x", Some("1"))
            },
            SendEntry {
                delay_seconds: Some(0),
                ..fifo("g", "z", Some("2"))
            },
        ],
    );
    assert_eq!(failed[0].error.code, ErrorCode::InvalidParameterValue);
    assert_eq!(sent.len(), 1);
    assert_eq!(f.counts_of("f.fifo"), counts(0, 0, 1));
    let standard = f.send(1, "s", None);
    assert!(standard.is_ok());
}

#[test]
fn purge_drops_fifo_deduplication_records() {
    let mut f = fifo_fixture(&[]);
    let (first, _) = fifo_send(&mut f, 1_000, vec![fifo("g", "a", Some("d"))]);
    f.run(
        2_000,
        Op::PurgeQueue {
            queue: "f.fifo".into(),
        },
    )
    .unwrap();
    let (again, _) = fifo_send(
        &mut f,
        3_000,
        vec![SendEntry {
            message_id: "again".into(),
            ..fifo("g", "a", Some("d"))
        }],
    );
    assert_ne!(again[0].message_id, first[0].message_id);
    assert_eq!(fifo_receive(&mut f, 4_000, 10, None)[0].message_id, "again");
}

#[test]
fn fifo_handles_expire_with_their_visibility_timeout() {
    let mut f = fifo_fixture(&[("ContentBasedDeduplication", "true")]);
    fifo_send(&mut f, 0, vec![fifo("g", "m", None)]);
    let held = fifo_receive(&mut f, 1, 1, None).remove(0).handle;
    let past_timeout = 1 + 30_000;
    let delete = f.run(
        past_timeout,
        Op::DeleteMessages {
            queue: "f.fifo".into(),
            entries: vec![HandleEntry {
                id: "d".into(),
                handle: held,
            }],
        },
    );
    let change = f.run(
        past_timeout,
        Op::ChangeVisibility {
            queue: "f.fifo".into(),
            entries: vec![VisibilityEntry {
                id: "c".into(),
                handle: held,
                timeout_seconds: 10,
            }],
        },
    );
    for result in [delete, change] {
        let Ok(Output::Batch { failed, .. }) = result else {
            panic!("{result:?}")
        };
        assert_eq!(failed[0].error.code, ErrorCode::InvalidParameterValue);
        assert!(failed[0].error.message.contains("has expired"));
    }
    // Received again, the old handle stays refused and the new one deletes.
    let current = fifo_receive(&mut f, past_timeout + 1, 1, None)
        .remove(0)
        .handle;
    let delete = |f: &mut Fixture, handle| {
        f.run(
            past_timeout + 2,
            Op::DeleteMessages {
                queue: "f.fifo".into(),
                entries: vec![HandleEntry {
                    id: "d".into(),
                    handle,
                }],
            },
        )
    };
    assert!(
        matches!(delete(&mut f, held), Ok(Output::Batch { ref failed, .. }) if failed.len() == 1)
    );
    assert!(
        matches!(delete(&mut f, current), Ok(Output::Batch { ref failed, .. }) if failed.is_empty())
    );
    assert_eq!(f.counts_of("f.fifo"), counts(0, 0, 0));
}

#[test]
fn a_message_back_from_its_timeout_precedes_later_sends() {
    let mut f = Fixture::new(&[]);
    f.send(0, "older", None).unwrap();
    assert_eq!(f.receive(10, 1, Some(1))[0].body, "older");
    f.send(500, "newer", None).unwrap();
    let got = f.receive(2_000, 2, Some(30));
    let bodies: Vec<&str> = got.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["older", "newer"]);
}

#[test]
fn receive_attempt_id_replays_the_same_messages_and_handles() {
    let mut f = fifo_fixture(&[]);
    fifo_send(&mut f, 1, vec![fifo("g", "m1", Some("1"))]);
    let first = fifo_receive(&mut f, 2, 10, Some("attempt-1"));
    let retry = fifo_receive(&mut f, 3, 10, Some("attempt-1"));
    assert_eq!(first.len(), 1);
    assert_eq!(first, retry);
    assert!(fifo_receive(&mut f, 4, 10, Some("attempt-2")).is_empty());
    f.run(
        5,
        Op::DeleteMessages {
            queue: "f.fifo".into(),
            entries: vec![HandleEntry {
                id: "x".into(),
                handle: first[0].handle,
            }],
        },
    )
    .unwrap();
    assert!(
        fifo_receive(&mut f, 6, 10, Some("attempt-1")).is_empty(),
        "a deleted message is not replayed"
    );
}

#[test]
fn messages_over_max_receive_count_move_to_the_dead_letter_queue() {
    let mut f = Fixture::new(&[]);
    f.run(
        0,
        Op::CreateQueue {
            name: "dlq".into(),
            attributes: Default::default(),
            tags: Default::default(),
        },
    )
    .unwrap();
    f.run(
        0,
        Op::SetQueueAttributes {
            name: "q".into(),
            attributes: BTreeMap::from([(
                "RedrivePolicy".to_string(),
                r#"{"deadLetterTargetArn":"arn:aws:sqs:r:1:dlq","maxReceiveCount":2}"#.to_string(),
            )]),
        },
    )
    .unwrap();
    f.send(1, "poison", None).unwrap();
    assert_eq!(f.receive(10, 1, Some(1)).len(), 1);
    assert_eq!(f.receive(2_000, 1, Some(1)).len(), 1);
    // The third receive would exceed maxReceiveCount: the message moves instead.
    assert!(f.receive(4_000, 1, Some(1)).is_empty());
    assert_eq!(f.counts(), counts(0, 0, 0));
    let moved = match f.run(
        4_001,
        Op::ReceiveMessages {
            queue: "dlq".into(),
            max: 1,
            visibility_timeout: None,
            attempt_id: None,
            tokens: vec![7],
        },
    ) {
        Ok(Output::Received(m)) => m,
        other => panic!("{other:?}"),
    };
    assert_eq!(moved[0].body, "poison");
    assert_eq!(moved[0].message_id, "id-poison");
    // It keeps its receive history and names the queue it came from.
    assert_eq!(moved[0].receive_count, 3);
    assert_eq!(moved[0].first_receive_ms, 10);
    let source = &moved[0].system_attributes[dead_letter::SOURCE_ATTRIBUTE];
    assert_eq!(source.string_value.as_deref(), Some("q"));
}
