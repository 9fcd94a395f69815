//! Replication: openraft types, RocksDB log and state-machine stores, snapshots and the
//! hyper transport between nodes.

pub mod db_memory;
mod db_options;
pub mod group_commit;
pub mod log_store;
pub mod network;
mod recent_entries;
pub mod rpc;
pub mod signals;
pub mod snapshot;
pub mod state_machine;
pub mod storage_fault;

use crate::sm::command::{Command, CommandResponse};

openraft::declare_raft_types!(
    /// sqsraft's openraft type configuration: commands in, command results out, u64 node
    /// ids, members addressed by their internal `host:port`. Commands are shared, so the
    /// log's recent entries, replication and apply hold one copy (it encodes as the bare
    /// command).
    pub TypeConfig:
        D = std::sync::Arc<Command>,
        R = CommandResponse,
        NodeId = u64,
        Node = openraft::BasicNode,
);

/// The Raft handle of a node.
pub type Raft = openraft::Raft<TypeConfig, state_machine::StateMachineStore>;

/// Raft entry type.
pub type Entry = openraft::alias::EntryOf<TypeConfig>;
/// Log id type.
pub type LogId = openraft::alias::LogIdOf<TypeConfig>;
/// Vote type.
pub type Vote = openraft::alias::VoteOf<TypeConfig>;
/// Snapshot metadata type.
pub type SnapshotMeta = openraft::alias::SnapshotMetaOf<TypeConfig>;
/// Stored membership type.
pub type StoredMembership = openraft::alias::StoredMembershipOf<TypeConfig>;
