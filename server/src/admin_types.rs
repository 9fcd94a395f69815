//! JSON types of the health (`/cluster`) and admin APIs.
//!
//! This module is compiled without the `node` feature so that the operator and the e2e
//! tooling can share it without linking RocksDB or openraft. All field names are
//! camelCase on the wire. See `docs/admin-api.md` for request/response examples.

use serde::{Deserialize, Serialize};

/// A cluster member: its Raft node id and the address of its internal (Raft/admin) port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub node_id: u64,
    /// `host:port` of the member's internal listener, as peers should dial it.
    pub addr: String,
}

/// `POST /admin/init`: bootstrap a new cluster with these voters.
///
/// Succeeds (and changes nothing) when the node is already initialized with the same
/// membership, so the operator may repeat it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitRequest {
    pub members: Vec<Member>,
}

/// `POST /admin/learners`: add a non-voting member and (by default) wait until it has
/// caught up with the leader's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddLearnerRequest {
    pub node_id: u64,
    pub addr: String,
    /// Wait until the learner has replicated the log (default `true`).
    #[serde(default = "default_true")]
    pub blocking: bool,
}

fn default_true() -> bool {
    true
}

/// `POST /admin/voters`: make exactly these node ids the voters. Every id must already be
/// a member (voter or learner). Voters that are dropped stay on as learners unless
/// `retainRemoved` is false (the default), in which case they leave the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeVotersRequest {
    pub voter_ids: Vec<u64>,
    #[serde(default)]
    pub retain_removed: bool,
}

/// `POST /admin/remove`: remove a node from the cluster entirely (voter or learner).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoveNodeRequest {
    pub node_id: u64,
}

/// `POST /admin/transfer-leader`: hand leadership to `nodeId`, or to any other caught-up
/// voter when `nodeId` is absent (used by the pod's preStop hook).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferLeaderRequest {
    #[serde(default)]
    pub node_id: Option<u64>,
}

/// Error body of a failed admin call (`4xx`/`5xx`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminError {
    /// Machine-readable category, e.g. `NotLeader`, `Unauthorized`, `InvalidRequest`,
    /// `Timeout`, `NotInitialized`, `Raft`.
    pub code: String,
    pub message: String,
    /// When the call must go to the leader: its id and internal address, if known.
    #[serde(default)]
    pub leader: Option<Member>,
}

/// The Raft role of the answering node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    Leader,
    Follower,
    Candidate,
    Learner,
    Shutdown,
}

/// Lease state of a leader: while valid, it may serve linearizable reads locally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    pub valid: bool,
    /// Milliseconds until the lease lapses; absent when not valid.
    pub expires_in_ms: Option<u64>,
}

/// Replication progress of one follower or learner, as seen by the leader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FollowerProgress {
    pub node_id: u64,
    /// Highest log index known to be replicated on that node.
    pub matched_index: Option<u64>,
    /// Entries the node is behind the leader's last log index.
    pub lag: u64,
}

/// `GET /cluster` (SQS port) and `GET /admin/status` (internal port).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    pub node_id: u64,
    pub role: Role,
    pub term: u64,
    pub leader_id: Option<u64>,
    /// Internal address of the leader, when known.
    pub leader_addr: Option<String>,
    /// Whether this node has joined a cluster (it appears in a committed membership).
    pub initialized: bool,
    pub voters: Vec<Member>,
    pub learners: Vec<Member>,
    pub lease: Lease,
    pub last_log_index: Option<u64>,
    pub applied_index: Option<u64>,
    /// Last log index covered by this node's newest snapshot.
    #[serde(default)]
    pub snapshot_index: Option<u64>,
    /// Last log index purged from this node's log (entries up to it are only in snapshots).
    #[serde(default)]
    pub purged_index: Option<u64>,
    /// Per-follower progress; only filled in on the leader.
    pub replication: Vec<FollowerProgress>,
}
