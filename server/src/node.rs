//! A running node: the Raft handle, its stores, and how requests reach the leader.
//!
//! Any node accepts any request: authentication happens at the edge; writes are proposed
//! on the leader, and a follower forwards the typed, already-authenticated command to the
//! leader's internal port. Every retry —
//! after a leader change, a forward failure or a timeout with unknown outcome — re-sends
//! the same command with the same request id until the request deadline, so the
//! state machine's dedup table turns an ambiguous outcome into exactly-once.

use crate::admin_types::{ClusterStatus, FollowerProgress, Lease, Member, Role};
use crate::codec::encode;
use crate::config::Config;
use crate::error::{SqsError, SqsResult};
use crate::metrics::RequestMetrics;
use crate::peer::client::InternalClient;
use crate::peer::clock::ClusterClock;
use crate::peer::forward::{ForwardError, Forwarder, forward_one};
use crate::raft::Raft;
use crate::raft::group_commit::GroupCommit;
use crate::raft::log_store::LogStore;
use crate::raft::state_machine::StateMachineStore;
use crate::raft::storage_fault;
use crate::sm::command::{Command, Op, Output, ReadOp};
use crate::sm::read::{self, ReadContext};
use crate::sm::txn::DbRead;
use crate::wire::{FORWARD_READ, ForwardReply};
use bytes::Bytes;
use openraft::Instant as _;
use openraft::async_runtime::WatchReceiver;
use openraft::{BasicNode, ReadPolicy, ServerState};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most entries in one append-entries message. An entry carries up to about 256 KiB of
/// bodies plus one command (`raft/group_commit.rs`), so a message stays far below the
/// internal port's body limit and a catching-up follower costs bounded memory.
const MAX_PAYLOAD_ENTRIES: u64 = 32;

/// How often the leader proposes housekeeping (expiry, visibility returns, move tasks).
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(1);

/// Shared state of a running node.
pub struct Node {
    pub config: Config,
    /// SigV4 verifier of SQS requests.
    pub verifier: crate::auth::Verifier,
    pub raft: Raft,
    /// Merges this node's proposals into shared entries while it leads.
    pub group_commit: GroupCommit,
    pub sm: StateMachineStore,
    /// The Raft log (openraft owns its own handle; this one reports memory).
    pub log: LogStore,
    pub client: InternalClient,
    /// Batches the writes this node forwards to the leader.
    pub forwarder: Forwarder,
    /// Long polls this node may still park on the leader (`receive.rs`).
    pub parked_on_leader: tokio::sync::Semaphore,
    pub metrics: RequestMetrics,
    /// The median of this node's and its peers' wall clocks: the time entries carry.
    pub clock: ClusterClock,
}

/// This process's wall clock in Unix milliseconds (what the edge stamps on a command; the
/// leader restamps it with the cluster time before proposing).
pub use crate::peer::clock::wall_ms as now_ms;

impl Node {
    fn deadline(&self) -> Instant {
        Instant::now() + Duration::from_millis(self.config.request_deadline_ms)
    }

    fn read_context(&self) -> ReadContext<'_> {
        ReadContext {
            region: &self.config.region,
            account_id: &self.config.account_id,
        }
    }

    /// Executes a write, forwarding to the leader and retrying the same command until the
    /// request deadline.
    pub async fn write(&self, command: Command) -> SqsResult<Output> {
        self.until_deadline(
            || self.write_local(command.clone()),
            |leader, timeout| {
                let command = command.clone();
                async move { self.forwarder.write(&leader.addr, command, timeout).await }
            },
        )
        .await
    }

    /// Executes a linearizable read on the leader (forwarding as needed).
    pub async fn read(&self, op: ReadOp) -> SqsResult<Output> {
        let body = Bytes::from(encode(&op).map_err(|e| SqsError::internal(e.to_string()))?);
        self.until_deadline(
            || self.read_local(op.clone()),
            |leader, timeout| {
                let body = body.clone();
                async move { forward_one(&self.client, &leader.addr, FORWARD_READ, body, timeout).await }
            },
        )
        .await
    }

    /// Runs `local` when this node leads, `remote` on the leader otherwise, and retries
    /// both until the deadline.
    async fn until_deadline<L, LF, R, RF>(&self, local: L, remote: R) -> SqsResult<Output>
    where
        L: Fn() -> LF,
        LF: Future<Output = ForwardReply>,
        R: Fn(Member, Duration) -> RF,
        RF: Future<Output = Result<ForwardReply, ForwardError>>,
    {
        self.storage_writable()?;
        let deadline = self.deadline();
        let mut hint: Option<Member> = None;
        let mut pause = Duration::from_millis(20);
        loop {
            let leader = match hint.take() {
                Some(m) => Some(m),
                None => self.leader(),
            };
            match leader {
                Some(m) if m.node_id == self.config.id() => match local().await {
                    ForwardReply::Done(result) => return result,
                    ForwardReply::NotLeader(next) => hint = next,
                },
                Some(m) => {
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    let timeout = remaining.min(Duration::from_secs(30));
                    let leader_id = m.node_id;
                    match remote(m, timeout).await {
                        Ok(ForwardReply::Done(result)) => return result,
                        Ok(ForwardReply::NotLeader(next)) => {
                            hint = next.filter(|n| n.node_id != leader_id)
                        }
                        Err(ForwardError::Call(e)) => {
                            tracing::debug!(leader = leader_id, error = %e, "forward failed; retrying")
                        }
                        Err(e) => tracing::warn!(leader = leader_id, error = %e, "forward failed"),
                    }
                }
                None => {}
            }
            if Instant::now() >= deadline {
                return Err(SqsError::unavailable(
                    "The cluster has no reachable leader; the request may be retried.",
                ));
            }
            if hint.is_none() {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(200));
            }
        }
    }

    /// Proposes a command on this node, which believes it leads (group commit merges it
    /// with concurrent proposals).
    ///
    /// The command is stamped here with the cluster time, whatever the edge stamped: only
    /// the proposer decides time, and it decides by the median of the voters' clocks
    /// (`peer/clock.rs`), so no single node's wrong clock reaches the log.
    pub async fn write_local(&self, mut command: Command) -> ForwardReply {
        let voters = self
            .raft
            .metrics()
            .borrow_watched()
            .membership_config
            .membership()
            .voter_ids()
            .count();
        command.time_ms = self.clock.proposal_ms(voters).await;
        self.group_commit.propose(command).await
    }

    /// The other voters as (node id, internal address): whose clocks this node reads.
    pub fn peer_voters(&self) -> Vec<(u64, String)> {
        let m = self.raft.metrics().borrow_watched().clone();
        let membership = m.membership_config.membership();
        membership
            .voter_ids()
            .filter(|id| *id != m.id)
            .filter_map(|id| membership.get_node(&id).map(|n| (id, n.addr.clone())))
            .collect()
    }

    /// Serves a read on this node after confirming leadership (lease, else read index).
    pub async fn read_local(&self, op: ReadOp) -> ForwardReply {
        let confirmed = match self.raft.ensure_linearizable(ReadPolicy::LeaseRead).await {
            Ok(_) => true,
            Err(_) => self
                .raft
                .ensure_linearizable(ReadPolicy::ReadIndex)
                .await
                .is_ok(),
        };
        if !confirmed {
            return ForwardReply::NotLeader(
                self.leader().filter(|m| m.node_id != self.config.id()),
            );
        }
        let db = self.sm.state_db().get();
        let result = read::execute(&DbRead(&db), &self.read_context(), &op)
            .unwrap_or_else(|e| Err(SqsError::internal(format!("read failed: {e}"))));
        ForwardReply::Done(result)
    }

    /// `ServiceUnavailable` once this node's Raft stopped on a storage error: it serves
    /// nothing until it restarts (`raft/storage_fault.rs`).
    pub fn storage_writable(&self) -> SqsResult<()> {
        match storage_fault::failure(&self.raft) {
            Some(error) => Err(SqsError::unavailable(format!(
                "This node cannot write to its storage ({error}); the request may be retried on another node."
            ))),
            None => Ok(()),
        }
    }

    /// Whether this node is the leader now.
    pub fn is_leader(&self) -> bool {
        self.leader().is_some_and(|m| m.node_id == self.config.id())
    }

    /// The current leader as this node knows it (none once its Raft stopped: the last
    /// leader it saw, itself perhaps, may have been replaced since).
    pub fn leader(&self) -> Option<Member> {
        let metrics = self.raft.metrics().borrow_watched().clone();
        metrics.running_state.as_ref().ok()?;
        let id = metrics.current_leader?;
        let node = metrics
            .membership_config
            .membership()
            .get_node(&id)?
            .clone();
        Some(Member {
            node_id: id,
            addr: node.addr,
        })
    }

    /// A snapshot of this node's view of the cluster (the `/cluster` document).
    pub fn status(&self) -> ClusterStatus {
        let m = self.raft.metrics().borrow_watched().clone();
        let membership = m.membership_config.membership();
        let member = |id: u64| Member {
            node_id: id,
            addr: membership
                .get_node(&id)
                .map(|n| n.addr.clone())
                .unwrap_or_default(),
        };
        let voters: Vec<Member> = membership.voter_ids().map(member).collect();
        let learners: Vec<Member> = membership.learner_ids().map(member).collect();
        let role = match m.state {
            ServerState::Leader => Role::Leader,
            ServerState::Candidate => Role::Candidate,
            ServerState::Learner => Role::Learner,
            ServerState::Shutdown => Role::Shutdown,
            ServerState::Follower if learners.iter().any(|l| l.node_id == m.id) => Role::Learner,
            ServerState::Follower => Role::Follower,
        };
        // A stopped Raft core keeps its last metrics; the leader it saw is history.
        let current_leader = m.current_leader.filter(|_| m.running_state.is_ok());
        let lease_ms = self.config.election_timeout_min_ms;
        let since_quorum_ack = m
            .last_quorum_acked
            .as_ref()
            .map(|t| t.elapsed().as_millis() as u64);
        let lease = match (role, since_quorum_ack) {
            (Role::Leader, Some(since)) if since < lease_ms => Lease {
                valid: true,
                expires_in_ms: Some(lease_ms - since),
            },
            _ => Lease {
                valid: false,
                expires_in_ms: None,
            },
        };
        let last_log = m.last_log_index.unwrap_or(0);
        let replication = m
            .replication
            .as_ref()
            .map(|r| {
                r.iter()
                    .filter(|(id, _)| **id != m.id)
                    .map(|(id, matched)| {
                        let matched_index = matched.map(|l| l.index);
                        FollowerProgress {
                            node_id: *id,
                            matched_index,
                            lag: last_log.saturating_sub(matched_index.unwrap_or(0)),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        ClusterStatus {
            node_id: m.id,
            role,
            term: m.current_term,
            leader_id: current_leader,
            leader_addr: current_leader
                .and_then(|id| membership.get_node(&id).map(|n| n.addr.clone())),
            initialized: !voters.is_empty(),
            voters,
            learners,
            lease,
            last_log_index: m.last_log_index,
            applied_index: m.last_applied.map(|l| l.index),
            snapshot_index: m.snapshot.map(|l| l.index),
            purged_index: m.purged.map(|l| l.index),
            replication,
        }
    }

    /// Ready: a member of an initialized cluster with a known leader, applied up to what
    /// this node knows is committed, with Raft running (it stops on a storage error).
    pub fn ready(&self) -> bool {
        let m = self.raft.metrics().borrow_watched().clone();
        if m.running_state.is_err() {
            return false;
        }
        let is_member = m.membership_config.membership().get_node(&m.id).is_some();
        let applied = m.last_applied.map(|l| l.index);
        let committed = m.local_committed.map(|l| l.index);
        is_member && m.current_leader.is_some() && applied >= committed
    }

    /// While leading, periodically proposes housekeeping so expiry is replicated.
    pub async fn housekeeping_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(HOUSEKEEPING_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if self.raft.current_leader().await != Some(self.config.id()) {
                continue;
            }
            let command = Command {
                request_id: format!("housekeeping-{}-{}", self.config.id(), now_ms()),
                // Stamped with the cluster time by `write_local`.
                time_ms: 0,
                op: Op::Housekeeping,
            };
            if let ForwardReply::NotLeader(_) = self.write_local(command).await {
                tracing::debug!("housekeeping skipped: leadership moved");
            }
        }
    }

    /// The openraft node record of a member.
    pub fn basic_node(addr: &str) -> BasicNode {
        BasicNode {
            addr: addr.to_string(),
        }
    }
}

/// openraft configuration derived from ours.
pub fn raft_config(config: &Config) -> Result<openraft::Config, String> {
    let raft = openraft::Config {
        cluster_name: "sqsraft".into(),
        heartbeat_interval: config.heartbeat_interval_ms,
        election_timeout_min: config.election_timeout_min_ms,
        election_timeout_max: config.election_timeout_max_ms,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(config.snapshot_interval_entries),
        max_in_snapshot_log_to_keep: config.snapshot_keep_entries,
        install_snapshot_timeout: 60_000,
        max_payload_entries: MAX_PAYLOAD_ENTRIES,
        ..Default::default()
    };
    raft.validate()
        .map_err(|e| format!("raft configuration: {e}"))
}
