//! Golden bytes of every stored and replicated encoding, and a replay of a log written in
//! today's encoding by the code as it is now.
//!
//! postcard writes enum variants by position and struct fields in order, without names:
//! inserting a variant or a field silently changes what old logs, snapshots, dedup
//! records and forwards between mixed-version nodes mean. These tests fail on any such
//! change. A failure is not fixed by pasting the new bytes: follow "Stored and
//! replicated formats" in `docs/architecture.md` (append variants at the end; new
//! fields only behind a new format version) and add the new sample instead.

use crate::admin_types::Member;
use crate::codec::{decode, encode};
use crate::error::{ErrorCode, SqsError};
use crate::raft::snapshot::SnapshotWriter;
use crate::raft::state_machine::StateMachineStore;
use crate::raft::{Entry, SnapshotMeta, StoredMembership, TypeConfig};
use crate::sm::command::{
    AttributeValue, BatchFailure, Command, CommandResult, HandleEntry, MoveStatus, MoveTaskInfo,
    Op, Output, ReadOp, ReceiptHandle, ReceivedMessage, SendEntry, SentMessage, VisibilityEntry,
};
use crate::sm::dedup::DedupRecord;
use crate::sm::messages::{self, MessageRecord, MessageState, QueueCounters};
use crate::sm::queue_record::{self, QueueRecord};
use crate::sm::txn::DbRead;
use crate::sm::{format, keys};
use crate::wire::{ForwardReply, ReceiveCall};
use openraft::BasicNode;
use openraft::entry::RaftEntry;
use openraft::storage::RaftStateMachine;
use openraft::testing::log_id;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn attribute() -> AttributeValue {
    AttributeValue {
        data_type: "String".into(),
        string_value: Some("v".into()),
        binary_value: Some(vec![1, 2]),
        string_list_values: vec!["s".into()],
        binary_list_values: vec![vec![3]],
    }
}

fn send_entry(id: &str, body: &str, group: Option<&str>) -> SendEntry {
    SendEntry {
        id: id.into(),
        message_id: format!("m-{id}"),
        body: body.into(),
        delay_seconds: Some(0),
        attributes: BTreeMap::from([("a".into(), attribute())]),
        system_attributes: BTreeMap::new(),
        md5_body: "md5b".into(),
        md5_attributes: Some("md5a".into()),
        md5_system_attributes: None,
        size: body.len() as u64,
        sender_id: "AIDA".into(),
        group_id: group.map(str::to_string),
        dedup_id: group.map(|_| format!("d-{id}")),
    }
}

fn handle(seq: u64, token: u64) -> ReceiptHandle {
    ReceiptHandle {
        queue_id: 1,
        seq,
        token,
    }
}

fn command(id: &str, time_ms: u64, op: Op) -> Command {
    Command {
        request_id: id.into(),
        time_ms,
        op,
    }
}

/// The position of `op`'s variant. Exhaustive on purpose: a new variant does not compile
/// until it is given the next position and a sample in [`ops`].
fn op_position(op: &Op) -> usize {
    match op {
        Op::CreateQueue { .. } => 0,
        Op::DeleteQueue { .. } => 1,
        Op::SetQueueAttributes { .. } => 2,
        Op::TagQueue { .. } => 3,
        Op::UntagQueue { .. } => 4,
        Op::SendMessages { .. } => 5,
        Op::ReceiveMessages { .. } => 6,
        Op::DeleteMessages { .. } => 7,
        Op::ChangeVisibility { .. } => 8,
        Op::PurgeQueue { .. } => 9,
        Op::AddPermission { .. } => 10,
        Op::RemovePermission { .. } => 11,
        Op::StartMoveTask { .. } => 12,
        Op::CancelMoveTask { .. } => 13,
        Op::Housekeeping => 14,
        Op::Group(_) => 15,
    }
}

/// One sample of every [`Op`] variant, in variant order.
fn ops() -> Vec<Op> {
    vec![
        Op::CreateQueue {
            name: "q".into(),
            attributes: map(&[("DelaySeconds", "0")]),
            tags: map(&[("team", "a")]),
        },
        Op::DeleteQueue { name: "q".into() },
        Op::SetQueueAttributes {
            name: "q".into(),
            attributes: map(&[("VisibilityTimeout", "40")]),
        },
        Op::TagQueue {
            name: "q".into(),
            tags: map(&[("env", "dev")]),
        },
        Op::UntagQueue {
            name: "q".into(),
            keys: vec!["env".into()],
        },
        Op::SendMessages {
            queue: "q".into(),
            entries: vec![send_entry("0", "hello", None)],
        },
        Op::ReceiveMessages {
            queue: "q".into(),
            max: 2,
            visibility_timeout: Some(30),
            attempt_id: Some("att".into()),
            tokens: vec![11, 13],
        },
        Op::DeleteMessages {
            queue: "q".into(),
            entries: vec![HandleEntry {
                id: "0".into(),
                handle: handle(0, 11),
            }],
        },
        Op::ChangeVisibility {
            queue: "q".into(),
            entries: vec![VisibilityEntry {
                id: "0".into(),
                handle: handle(1, 13),
                timeout_seconds: 5,
            }],
        },
        Op::PurgeQueue { queue: "q".into() },
        Op::AddPermission {
            queue: "q".into(),
            label: "l".into(),
            account_ids: vec!["111122223333".into()],
            actions: vec!["SendMessage".into()],
            resource: "arn:aws:sqs:r:1:q".into(),
        },
        Op::RemovePermission {
            queue: "q".into(),
            label: "l".into(),
        },
        Op::StartMoveTask {
            source: "dlq".into(),
            destination: Some("q".into()),
            rate: Some(10),
        },
        Op::CancelMoveTask {
            source: "dlq".into(),
            task_id: 7,
        },
        Op::Housekeeping,
        Op::Group(vec![command("g0", 5, Op::PurgeQueue { queue: "q".into() })]),
    ]
}

/// Exhaustive for the same reason as [`op_position`].
fn output_position(output: &Output) -> usize {
    match output {
        Output::Empty => 0,
        Output::Queue { .. } => 1,
        Output::Attributes(_) => 2,
        Output::QueueList { .. } => 3,
        Output::Tags(_) => 4,
        Output::Sent { .. } => 5,
        Output::Received(_) => 6,
        Output::MoveTask(_) => 7,
        Output::MoveTasks(_) => 8,
        Output::Batch { .. } => 9,
        Output::Group(_) => 10,
    }
}

fn move_task() -> MoveTaskInfo {
    MoveTaskInfo {
        task_id: 7,
        source: "dlq".into(),
        destination: None,
        rate: Some(10),
        status: MoveStatus::Running,
        moved: 1,
        to_move: 3,
        started_ms: 1_000,
        progressed_ms: 2_000,
        failure: None,
    }
}

fn failure() -> BatchFailure {
    BatchFailure {
        id: "1".into(),
        error: SqsError::new(ErrorCode::ReceiptHandleIsInvalid, "bad handle"),
    }
}

/// One sample of every [`Output`] variant, in variant order.
fn outputs() -> Vec<Output> {
    vec![
        Output::Empty,
        Output::Queue { name: "q".into() },
        Output::Attributes(map(&[("DelaySeconds", "0")])),
        Output::QueueList {
            names: vec!["a".into(), "b".into()],
            next_token: Some("t".into()),
        },
        Output::Tags(map(&[("team", "a")])),
        Output::Sent {
            successful: vec![SentMessage {
                id: "0".into(),
                message_id: "m-0".into(),
                md5_body: "md5b".into(),
                md5_attributes: None,
                md5_system_attributes: Some("md5s".into()),
                sequence_number: Some(4),
            }],
            failed: vec![failure()],
        },
        Output::Received(vec![ReceivedMessage {
            message_id: "m-0".into(),
            handle: handle(0, 11),
            body: "hello".into(),
            md5_body: "md5b".into(),
            attributes: BTreeMap::from([("a".into(), attribute())]),
            system_attributes: BTreeMap::new(),
            sent_ms: 1_000,
            sender_id: "AIDA".into(),
            receive_count: 1,
            first_receive_ms: 2_000,
            group_id: Some("g".into()),
            dedup_id: Some("d".into()),
            sequence_number: Some(4),
        }]),
        Output::MoveTask(move_task()),
        Output::MoveTasks(vec![move_task()]),
        Output::Batch {
            successful: vec!["0".into()],
            failed: vec![failure()],
        },
        Output::Group(vec![Ok(Output::Empty), Err(failure().error)]),
    ]
}

/// Every error code with its position. Exhaustive for the same reason as [`op_position`].
fn error_position(code: ErrorCode) -> u8 {
    use ErrorCode::*;
    match code {
        MissingAuthenticationToken => 0,
        IncompleteSignature => 1,
        InvalidClientTokenId => 2,
        SignatureDoesNotMatch => 3,
        RequestExpired => 4,
        AccessDenied => 5,
        InvalidAction => 6,
        MissingParameter => 7,
        InvalidParameterValue => 8,
        InvalidParameterCombination => 9,
        InvalidAttributeName => 10,
        InvalidAttributeValue => 11,
        MalformedQueryString => 12,
        SerializationException => 13,
        UnknownOperation => 14,
        QueueDoesNotExist => 15,
        QueueNameExists => 16,
        QueueDeletedRecently => 17,
        PurgeQueueInProgress => 18,
        OverLimit => 19,
        InvalidMessageContents => 20,
        ReceiptHandleIsInvalid => 21,
        MessageNotInflight => 22,
        EmptyBatchRequest => 23,
        TooManyEntriesInBatchRequest => 24,
        BatchEntryIdsNotDistinct => 25,
        BatchRequestTooLong => 26,
        InvalidBatchEntryId => 27,
        UnsupportedOperation => 28,
        ResourceNotFound => 29,
        InternalFailure => 30,
        ServiceUnavailable => 31,
        RequestThrottled => 32,
    }
}

fn message_record() -> MessageRecord {
    MessageRecord {
        message_id: "m-0".into(),
        body: "hello".into(),
        attributes: BTreeMap::from([("a".into(), attribute())]),
        system_attributes: BTreeMap::new(),
        md5_body: "md5b".into(),
        md5_attributes: Some("md5a".into()),
        md5_system_attributes: None,
        sender_id: "AIDA".into(),
        sent_ms: 1_000,
        visible_at_ms: 31_000,
        state: MessageState::InFlight,
        receive_count: 1,
        first_receive_ms: 1_000,
        token: 11,
        group_id: Some("g".into()),
        dedup_id: Some("d".into()),
        listed: true,
        dead_letter_source: Some("src".into()),
    }
}

fn membership() -> openraft::Membership<u64, BasicNode> {
    let node = |addr: &str| BasicNode { addr: addr.into() };
    openraft::Membership::new(
        vec![BTreeSet::from([1, 2])],
        BTreeMap::from([
            (1, node("n1:7001")),
            (2, node("n2:7001")),
            (3, node("n3:7001")),
        ]),
    )
    .expect("a valid membership")
}

/// Every sample, named, with its encoding today.
fn samples() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: String, bytes: Vec<u8>| out.push((name, bytes));
    for op in ops() {
        let name = format!("command {}", op.action());
        add(
            name,
            encode(&command("r-1", 1_700_000_000_000, op)).unwrap(),
        );
    }
    for (i, output) in outputs().into_iter().enumerate() {
        add(
            format!("result ok {i}"),
            encode(&CommandResult::Ok(output)).unwrap(),
        );
    }
    add(
        "result err".into(),
        encode(&CommandResult::Err(SqsError::new(
            ErrorCode::QueueDoesNotExist,
            "gone",
        )))
        .unwrap(),
    );
    add(
        "dedup record".into(),
        encode(&DedupRecord {
            expires_ms: 900_000,
            result: Ok(Output::Queue { name: "q".into() }),
        })
        .unwrap(),
    );
    add("message record".into(), encode(&message_record()).unwrap());
    add(
        "queue record".into(),
        encode(&QueueRecord {
            id: 3,
            name: "q.fifo".into(),
            fifo: true,
            attributes: map(&[("FifoQueue", "true")]),
            tags: map(&[("team", "a")]),
            created_s: 1_700_000_000,
            modified_s: 1_700_000_001,
        })
        .unwrap(),
    );
    add(
        "queue counters".into(),
        encode(&QueueCounters {
            visible: 1,
            in_flight: 2,
            delayed: 3,
            next_seq: 300,
            last_purge_ms: Some(5),
        })
        .unwrap(),
    );
    add("move task".into(), encode(&move_task()).unwrap());
    for (i, op) in [
        ReadOp::GetQueueUrl { name: "q".into() },
        ReadOp::GetQueueAttributes {
            name: "q".into(),
            names: vec!["All".into()],
        },
        ReadOp::ListQueues {
            prefix: Some("p".into()),
            max_results: Some(5),
            next_token: None,
        },
        ReadOp::ListQueueTags { name: "q".into() },
        ReadOp::ListMoveTasks {
            source: "dlq".into(),
            max_results: 3,
        },
        ReadOp::ListDeadLetterSourceQueues {
            name: "dlq".into(),
            max_results: None,
            next_token: Some("t".into()),
        },
    ]
    .into_iter()
    .enumerate()
    {
        add(format!("read op {i}"), encode(&op).unwrap());
    }
    add(
        "forward reply done".into(),
        encode(&ForwardReply::Done(Ok(Output::Empty))).unwrap(),
    );
    add(
        "forward reply not leader".into(),
        encode(&ForwardReply::NotLeader(Some(Member {
            node_id: 2,
            addr: "n2:7001".into(),
        })))
        .unwrap(),
    );
    add(
        "receive call".into(),
        encode(&ReceiveCall {
            request_id: "r-1".into(),
            queue: "q".into(),
            max: 10,
            visibility_timeout: Some(30),
            attempt_id: None,
            wait_ms: 20_000,
        })
        .unwrap(),
    );
    let normal = command(
        "r-1",
        1_700_000_000_000,
        Op::PurgeQueue { queue: "q".into() },
    );
    add(
        "log entry normal".into(),
        encode(&Entry::new_normal(
            log_id::<TypeConfig>(2, 1, 9),
            Arc::new(normal),
        ))
        .unwrap(),
    );
    add(
        "log entry blank".into(),
        encode(&Entry::new_blank(log_id::<TypeConfig>(2, 1, 10))).unwrap(),
    );
    add(
        "log entry membership".into(),
        encode(&Entry::new_membership(
            log_id::<TypeConfig>(2, 1, 11),
            membership(),
        ))
        .unwrap(),
    );
    add("snapshot file".into(), snapshot_file());
    add("format version record".into(), format::record().unwrap().1);
    add(
        "key FIFO group member".into(),
        keys::group_member(7, "g", 3),
    );
    add("key FIFO group marker".into(), keys::group_occupied(7, "g"));
    out
}

/// A whole snapshot file (header, two records, end marker, checksum).
fn snapshot_file() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let meta = SnapshotMeta {
        last_log_id: Some(log_id::<TypeConfig>(2, 1, 11)),
        last_membership: StoredMembership::new(Some(log_id::<TypeConfig>(1, 1, 1)), membership()),
    };
    let mut writer = SnapshotWriter::create(dir.path(), &meta).unwrap();
    writer.record(b"k1", b"v1").unwrap();
    writer
        .record(keys::META_CLOCK, &encode(&5u64).unwrap())
        .unwrap();
    let path = dir.path().join("snap");
    writer.finish(&path).unwrap();
    std::fs::read(path).unwrap()
}

/// The encodings as they were when this table was written (hex).
const GOLDEN: &[(&str, &str)] = &[
    (
        "command CreateQueue",
        "03722d3180d095ffbc31000171010c44656c61795365636f6e6473013001047465616d0161",
    ),
    ("command DeleteQueue", "03722d3180d095ffbc31010171"),
    (
        "command SetQueueAttributes",
        "03722d3180d095ffbc3102017101115669736962696c69747954696d656f7574023430",
    ),
    (
        "command TagQueue",
        "03722d3180d095ffbc310301710103656e7603646576",
    ),
    ("command UntagQueue", "03722d3180d095ffbc310401710103656e76"),
    (
        "command SendMessage",
        "03722d3180d095ffbc31050171010130036d2d300568656c6c6f010001016106537472696e670101760102010201017301010300046d64356201046d643561000504414944410000",
    ),
    (
        "command ReceiveMessage",
        "03722d3180d095ffbc3106017102011e0103617474020b0d",
    ),
    (
        "command DeleteMessage",
        "03722d3180d095ffbc3107017101013001000b",
    ),
    (
        "command ChangeMessageVisibility",
        "03722d3180d095ffbc3108017101013001010d05",
    ),
    ("command PurgeQueue", "03722d3180d095ffbc31090171"),
    (
        "command AddPermission",
        "03722d3180d095ffbc310a0171016c010c313131313232323233333333010b53656e644d6573736167651161726e3a6177733a7371733a723a313a71",
    ),
    ("command RemovePermission", "03722d3180d095ffbc310b0171016c"),
    (
        "command StartMessageMoveTask",
        "03722d3180d095ffbc310c03646c71010171010a",
    ),
    (
        "command CancelMessageMoveTask",
        "03722d3180d095ffbc310d03646c7107",
    ),
    ("command Housekeeping", "03722d3180d095ffbc310e"),
    ("command Group", "03722d3180d095ffbc310f0102673005090171"),
    ("result ok 0", "0000"),
    ("result ok 1", "00010171"),
    ("result ok 2", "0002010c44656c61795365636f6e64730130"),
    ("result ok 3", "00030201610162010174"),
    ("result ok 4", "000401047465616d0161"),
    (
        "result ok 5",
        "0005010130036d2d30046d6435620001046d6435730104010131150a6261642068616e646c65",
    ),
    (
        "result ok 6",
        "000601036d2d3001000b0568656c6c6f046d64356201016106537472696e670101760102010201017301010300e807044149444101d00f0101670101640104",
    ),
    ("result ok 7", "00070703646c7100010a000103e807d00f00"),
    ("result ok 8", "0008010703646c7100010a000103e807d00f00"),
    ("result ok 9", "0009010130010131150a6261642068616e646c65"),
    ("result ok 10", "000a02000001150a6261642068616e646c65"),
    ("result err", "010f04676f6e65"),
    ("dedup record", "a0f73600010171"),
    (
        "message record",
        "036d2d300568656c6c6f01016106537472696e670101760102010201017301010300046d64356201046d643561000441494441e80798f2010201e8070b010167010164010103737263",
    ),
    (
        "queue record",
        "0306712e6669666f0101094669666f5175657565047472756501047465616d016180e2cfaa0681e2cfaa06",
    ),
    ("queue counters", "010203ac020105"),
    ("move task", "0703646c7100010a000103e807d00f00"),
    ("read op 0", "000171"),
    ("read op 1", "0101710103416c6c"),
    ("read op 2", "02010170010500"),
    ("read op 3", "030171"),
    ("read op 4", "0403646c7103"),
    ("read op 5", "0503646c7100010174"),
    ("forward reply done", "000000"),
    ("forward reply not leader", "010102076e323a37303031"),
    ("receive call", "03722d3101710a011e00a09c01"),
    ("log entry normal", "0201090103722d3180d095ffbc31090171"),
    ("log entry blank", "02010a00"),
    (
        "log entry membership",
        "02010b02010201020301076e313a3730303102076e323a3730303103076e333a37303031",
    ),
    (
        "snapshot file",
        "53515352534e415031290000000102010b01010101010201020301076e313a3730303102076e323a3730303103076e333a3730303100020000006b310200000076310b000000006d6574612f636c6f636b0100000005ffffffff4d24632d",
    ),
    // Version 2: the `o` FIFO group markers (`sm/format.rs`).
    ("format version record", "02"),
    (
        "key FIFO group member",
        "67000000000000000767000000000000000003",
    ),
    ("key FIFO group marker", "6f000000000000000767"),
];

#[test]
fn every_encoding_matches_its_golden_bytes() {
    let golden: BTreeMap<&str, &str> = GOLDEN.iter().copied().collect();
    let mut wrong = Vec::new();
    for (name, bytes) in samples() {
        let actual = hex::encode(&bytes);
        if golden.get(name.as_str()) != Some(&actual.as_str()) {
            wrong.push(format!("    (\"{name}\", \"{actual}\"),"));
        }
    }
    assert!(
        wrong.is_empty(),
        "encodings differ from their golden bytes (see this file's header before changing \
         the table):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_variant_has_a_sample_in_order() {
    for (i, op) in ops().iter().enumerate() {
        assert_eq!(op_position(op), i, "ops()[{i}] is {}", op.action());
    }
    assert_eq!(ops().len(), op_position(&Op::Group(Vec::new())) + 1);
    for (i, output) in outputs().iter().enumerate() {
        assert_eq!(output_position(output), i, "outputs()[{i}]");
    }
    assert_eq!(
        outputs().len(),
        output_position(&Output::Group(Vec::new())) + 1
    );
}

#[test]
fn error_codes_keep_their_positions() {
    // Every position up to the last decodes to the code `error_position` pins there, and
    // nothing decodes past it: no code was inserted, moved or appended unpinned.
    let last = error_position(ErrorCode::RequestThrottled);
    for position in 0..=last {
        let code: ErrorCode = decode(&[position]).expect("a code at every position");
        assert_eq!(error_position(code), position, "{code} moved");
        assert_eq!(encode(&code).unwrap(), vec![position]);
    }
    assert!(
        decode::<ErrorCode>(&[last + 1]).is_err(),
        "a code past {last} needs a position in error_position"
    );
}

/// What the entries of [`OLD_LOG`] say, as the code that wrote them built them.
fn old_log_entries() -> Vec<Entry> {
    let at = |i: u64| log_id::<TypeConfig>(1, 1, i);
    let normal =
        |i: u64, id: &str, t: u64, op: Op| Entry::new_normal(at(i), Arc::new(command(id, t, op)));
    let fifo_send = |id: &str| Op::SendMessages {
        queue: "f.fifo".into(),
        entries: vec![SendEntry {
            delay_seconds: None,
            ..send_entry(id, "ordered", Some("g"))
        }],
    };
    vec![
        Entry::new_membership(at(1), membership()),
        Entry::new_blank(at(2)),
        normal(
            3,
            "r3",
            1_000,
            Op::CreateQueue {
                name: "q".into(),
                attributes: map(&[("VisibilityTimeout", "30")]),
                tags: BTreeMap::new(),
            },
        ),
        normal(
            4,
            "r4",
            1_001,
            Op::CreateQueue {
                name: "f.fifo".into(),
                attributes: map(&[("FifoQueue", "true")]),
                tags: BTreeMap::new(),
            },
        ),
        normal(
            5,
            "r5",
            2_000,
            Op::SendMessages {
                queue: "q".into(),
                entries: vec![
                    send_entry("0", "hello", None),
                    send_entry("1", "world", None),
                ],
            },
        ),
        normal(6, "r6", 2_001, fifo_send("0")),
        normal(7, "r7", 2_002, fifo_send("0")),
        normal(
            8,
            "r8",
            3_000,
            Op::Group(vec![
                command(
                    "r8a",
                    3_000,
                    Op::ReceiveMessages {
                        queue: "q".into(),
                        max: 1,
                        visibility_timeout: None,
                        attempt_id: None,
                        tokens: vec![11],
                    },
                ),
                command(
                    "r8b",
                    3_000,
                    Op::TagQueue {
                        name: "q".into(),
                        tags: map(&[("team", "a")]),
                    },
                ),
            ]),
        ),
        normal(
            9,
            "r9",
            3_100,
            Op::DeleteMessages {
                queue: "q".into(),
                entries: vec![HandleEntry {
                    id: "0".into(),
                    handle: handle(0, 11),
                }],
            },
        ),
        normal(
            10,
            "r10",
            3_200,
            Op::ReceiveMessages {
                queue: "f.fifo".into(),
                max: 1,
                visibility_timeout: None,
                attempt_id: Some("a1".into()),
                tokens: vec![21],
            },
        ),
        normal(
            11,
            "r5",
            3_300,
            Op::SendMessages {
                queue: "q".into(),
                entries: vec![
                    send_entry("0", "hello", None),
                    send_entry("1", "world", None),
                ],
            },
        ),
        normal(
            12,
            "r12",
            3_400,
            Op::SetQueueAttributes {
                name: "q".into(),
                attributes: map(&[("DelaySeconds", "1")]),
            },
        ),
        normal(13, "r13", 40_000, Op::Housekeeping),
    ]
}

/// A log as today's code writes it: a membership change, a blank entry, queues created,
/// standard and FIFO sends (one a FIFO duplicate, one a retried request id), a grouped
/// receive, a delete, a FIFO receive with an attempt id, an attribute change and a
/// housekeeping pass that returns the FIFO message to visible.
const OLD_LOG: &[&str] = &[
    "01010102010201020301076e313a3730303102076e323a3730303103076e333a37303031",
    "01010200",
    "01010301027233e80700017101115669736962696c69747954696d656f757402333000",
    "01010401027234e9070006662e6669666f01094669666f5175657565047472756500",
    "01010501027235d00f050171020130036d2d300568656c6c6f010001016106537472696e670101760102010201017301010300046d64356201046d6435610005044149444100000131036d2d3105776f726c64010001016106537472696e670101760102010201017301010300046d64356201046d643561000504414944410000",
    "01010601027236d10f0506662e6669666f010130036d2d30076f7264657265640001016106537472696e670101760102010201017301010300046d64356201046d643561000704414944410101670103642d30",
    "01010701027237d20f0506662e6669666f010130036d2d30076f7264657265640001016106537472696e670101760102010201017301010300046d64356201046d643561000704414944410101670103642d30",
    "01010801027238b8170f0203723861b817060171010000010b03723862b81703017101047465616d0161",
    "010109010272399c1807017101013001000b",
    "01010a010372313080190606662e6669666f0100010261310115",
    "01010b01027235e419050171020130036d2d300568656c6c6f010001016106537472696e670101760102010201017301010300046d64356201046d6435610005044149444100000131036d2d3105776f726c64010001016106537472696e670101760102010201017301010300046d64356201046d643561000504414944410000",
    "01010c0103723132c81a020171010c44656c61795365636f6e64730131",
    "01010d0103723133c0b8020e",
];

fn old_log() -> Vec<Entry> {
    OLD_LOG
        .iter()
        .map(|h| decode(&hex::decode(h).expect("hex")).expect("an entry of the old log"))
        .collect()
}

#[test]
fn the_old_log_decodes_to_what_it_meant_and_encodes_back_to_the_same_bytes() {
    let entries = old_log();
    assert_eq!(entries, old_log_entries());
    for (entry, bytes) in entries.iter().zip(OLD_LOG) {
        assert_eq!(hex::encode(encode(entry).unwrap()), *bytes);
    }
}

/// SHA-256 over every key and value of the state, each length-prefixed; the format
/// version record and the FIFO group markers (format 2) are left out, so the digest is
/// the one the code before them produced.
fn state_digest(db: &rocksdb::DB) -> String {
    let mut hash = Sha256::new();
    for item in db.iterator(rocksdb::IteratorMode::Start) {
        let (k, v) = item.unwrap();
        if &k[..] == keys::META_FORMAT_VERSION || k[0] == keys::GROUP_OCCUPIED {
            continue;
        }
        for part in [&k[..], &v[..]] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
    }
    hex::encode(hash.finalize())
}

/// The state the old log left when it was written (see [`state_digest`]).
const OLD_LOG_STATE: &str = "e2e7c670ec6cda9af3ab0a5e7ffbb41749113a9df9c4fa95c09620f5d48e96d0";

#[tokio::test]
async fn the_new_code_replays_an_old_log_to_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut sm = StateMachineStore::open(dir.path()).unwrap();
    let entries = old_log().into_iter().map(|e| Ok((e, None)));
    sm.apply(futures::stream::iter(entries)).await.unwrap();

    let db = sm.state_db().get();
    let state = DbRead(&db);
    let q = queue_record::load(&state, "q").unwrap().expect("q exists");
    assert_eq!(q.attributes["DelaySeconds"], "1");
    assert_eq!(q.tags, map(&[("team", "a")]));
    let counters = messages::counters(&state, q.id).unwrap();
    // Two sent (the retried request id added none), the first received and deleted.
    assert_eq!(
        (
            counters.visible,
            counters.in_flight,
            counters.delayed,
            counters.next_seq
        ),
        (1, 0, 0, 2)
    );
    let fifo = queue_record::load(&state, "f.fifo")
        .unwrap()
        .expect("f.fifo exists");
    let counters = messages::counters(&state, fifo.id).unwrap();
    // One sent (the duplicate deduplicated), received, back to visible after 30 s.
    assert_eq!(
        (counters.visible, counters.in_flight, counters.next_seq),
        (1, 0, 1)
    );
    assert_eq!(
        sm.applied_state().await.unwrap().0.map(|l| l.index),
        Some(13)
    );
    assert_eq!(
        state_digest(&db),
        OLD_LOG_STATE,
        "every stored byte as it was"
    );
    let markers: Vec<Vec<u8>> = db
        .iterator(rocksdb::IteratorMode::Start)
        .map(|item| item.unwrap().0.to_vec())
        .filter(|k| k[0] == keys::GROUP_OCCUPIED)
        .collect();
    assert_eq!(
        markers,
        vec![keys::group_occupied(fifo.id, "g")],
        "the FIFO queue's one group holds a message"
    );
}
