//! The postcard-encoded types a node decodes from bytes it did not write itself — bodies
//! and replies on the internal port, and what it reads back from its log and state — as
//! tables the fuzz targets index with their input's first byte.
//!
//! The position in a table is part of the committed corpora's file format (each seed starts
//! with it): append new types at the end.

use crate::round_trip;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use sqsraft_server::raft::rpc::{RemoteResult, SnapshotHeader};
use sqsraft_server::raft::{Entry, LogId, StoredMembership, TypeConfig, Vote};
use sqsraft_server::sm::command::{Command, CommandResult, MoveTaskInfo, ReadOp};
use sqsraft_server::sm::dedup::DedupRecord;
use sqsraft_server::sm::messages::{MessageRecord, QueueCounters};
use sqsraft_server::sm::queue_record::QueueRecord;
use sqsraft_server::wire::{ForwardReply, ReceiveCall};

/// A named decoder: the type's round trip.
pub type Decoder = (&'static str, fn(&[u8]));

/// Request bodies and replies of the internal port (`wire.rs`, `peer/`, `raft/rpc.rs`,
/// `raft/network.rs`).
pub const WIRE: &[Decoder] = &[
    ("forward write: Command", round_trip::<Command>),
    ("forward writes: Vec<Command>", round_trip::<Vec<Command>>),
    ("forward read: ReadOp", round_trip::<ReadOp>),
    ("forward receive: ReceiveCall", round_trip::<ReceiveCall>),
    ("forward reply: ForwardReply", round_trip::<ForwardReply>),
    (
        "forward replies: Vec<ForwardReply>",
        round_trip::<Vec<ForwardReply>>,
    ),
    (
        "raft append: AppendEntriesRequest",
        round_trip::<AppendEntriesRequest<TypeConfig>>,
    ),
    (
        "raft vote / pre-vote: VoteRequest",
        round_trip::<VoteRequest<TypeConfig>>,
    ),
    (
        "raft transfer leader: TransferLeaderRequest",
        round_trip::<TransferLeaderRequest<TypeConfig>>,
    ),
    (
        "raft snapshot header: SnapshotHeader",
        round_trip::<SnapshotHeader>,
    ),
    (
        "append reply",
        round_trip::<RemoteResult<AppendEntriesResponse<TypeConfig>>>,
    ),
    (
        "vote reply",
        round_trip::<RemoteResult<VoteResponse<TypeConfig>>>,
    ),
    (
        "transfer leader reply",
        round_trip::<RemoteResult<TransferLeaderResponse<TypeConfig>>>,
    ),
    (
        "snapshot reply",
        round_trip::<RemoteResult<SnapshotResponse<TypeConfig>>>,
    ),
];

/// Log entries and the state machine's stored records (`raft/log_store.rs`,
/// `raft/state_machine.rs`, `sm/`).
pub const STORED: &[Decoder] = &[
    ("log entry: Entry", round_trip::<Entry>),
    ("command: Command", round_trip::<Command>),
    ("command result: CommandResult", round_trip::<CommandResult>),
    ("dedup record: DedupRecord", round_trip::<DedupRecord>),
    ("message record: MessageRecord", round_trip::<MessageRecord>),
    ("queue record: QueueRecord", round_trip::<QueueRecord>),
    ("queue counters: QueueCounters", round_trip::<QueueCounters>),
    ("move task: MoveTaskInfo", round_trip::<MoveTaskInfo>),
    ("vote: Vote", round_trip::<Vote>),
    (
        "last applied / purged: Option<LogId>",
        round_trip::<Option<LogId>>,
    ),
    (
        "membership: StoredMembership",
        round_trip::<StoredMembership>,
    ),
    ("format version: u32", round_trip::<u32>),
    ("clock: u64", round_trip::<u64>),
];

/// Runs the decoder `data[0]` picks (modulo the table's length) on the rest.
pub fn dispatch(table: &[Decoder], data: &[u8]) {
    let Some((&tag, rest)) = data.split_first() else {
        return;
    };
    (table[usize::from(tag) % table.len()].1)(rest);
}
