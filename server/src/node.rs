//! A running node: the Raft handle, its stores, and how requests reach the leader.
//!
//! Any node accepts any request (DESIGN principle 3). Writes are proposed on the leader;
//! a follower forwards the typed command to the leader's internal port. Every retry —
//! after a leader change, a forward failure or a timeout with unknown outcome — re-sends
//! the same command with the same request id until the request deadline, so the
//! state machine's dedup table turns an ambiguous outcome into exactly-once.

use crate::admin_types::{ClusterStatus, FollowerProgress, Lease, Member, Role};
use crate::codec::encode;
use crate::config::Config;
use crate::error::{SqsError, SqsResult};
use crate::http::client::InternalClient;
use crate::http::forward::{FORWARD_READ, ForwardError, Forwarder, forward_one};
use crate::metrics::RequestMetrics;
use crate::raft::Raft;
use crate::raft::group_commit::GroupCommit;
use crate::raft::state_machine::StateMachineStore;
use crate::sm::command::{Command, CommandResult, Op, Output, ReadOp};
use crate::sm::read::{self, ReadContext};
use crate::sm::txn::DbRead;
use crate::sm::{catalog, messages};
use bytes::Bytes;
use openraft::Instant as _;
use openraft::async_runtime::WatchReceiver;
use openraft::{BasicNode, ReadPolicy, ServerState};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Most entries in one append-entries message. An entry carries up to about 256 KiB of
/// bodies plus one command (`raft/group_commit.rs`), so a message stays far below the
/// internal port's body limit and a catching-up follower costs bounded memory.
const MAX_PAYLOAD_ENTRIES: u64 = 64;

/// How often the leader proposes housekeeping (expiry, visibility returns, move tasks).
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(1);

/// What a node answers to a forwarded request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ForwardReply {
    /// The request ran here; this is its result.
    Done(CommandResult),
    /// This node is not the leader; try the one named, if any.
    NotLeader(Option<Member>),
}

/// Shared state of a running node.
pub struct Node {
    pub config: Config,
    /// SigV4 verifier of SQS requests.
    pub verifier: crate::auth::Verifier,
    pub raft: Raft,
    /// Merges this node's proposals into shared entries while it leads.
    pub group_commit: GroupCommit,
    pub sm: StateMachineStore,
    pub client: InternalClient,
    /// Batches the writes this node forwards to the leader.
    pub forwarder: Forwarder,
    pub metrics: RequestMetrics,
}

/// Current wall clock in Unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

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

    /// ReceiveMessage with long polling: waits up to `wait` for the queue to hold a
    /// receivable message *on this node* (woken by apply, or by the time the next delayed
    /// or in-flight message turns visible), then proposes the receive. Each attempt is its
    /// own command (`<request id>#<attempt>`), so a replayed invocation gets every attempt's
    /// recorded answer. Dropping the future (client gone) proposes nothing further.
    pub async fn receive(
        &self,
        request_id: &str,
        queue: &str,
        max: u32,
        visibility_timeout: Option<u32>,
        attempt_id: Option<String>,
        wait: Duration,
    ) -> SqsResult<Output> {
        let deadline = Instant::now() + wait;
        let mut attempt = 0u32;
        loop {
            let db = self.sm.state_db().get();
            let local = DbRead(&db);
            let queue_id = catalog::load(&local, queue)
                .map_err(|e| SqsError::internal(e.to_string()))?
                .map(|q| q.id);
            let notify = queue_id.map(|id| self.sm.signals().subscribe(id));
            let notified = notify.as_ref().map(|n| n.notified());
            let mut notified = std::pin::pin!(notified);
            if let Some(n) = notified.as_mut().as_pin_mut() {
                n.enable();
            }
            let now = now_ms();
            let receivable = match queue_id {
                Some(id) => messages::has_visible(&local, id, now)
                    .map_err(|e| SqsError::internal(e.to_string()))?,
                // Unknown here: let the leader answer (QueueDoesNotExist or a fresh queue).
                None => true,
            };
            let last_chance = Instant::now() >= deadline;
            if last_chance && !receivable && attempt_id.is_none() && self.is_leader() {
                // Nothing receivable on the leader at the deadline: answer empty without a
                // log entry (every acknowledged send is applied here before its ack). A
                // follower may lag, so it proposes; FIFO attempt ids always go through the
                // log, so a retried attempt gets its recorded messages.
                return Ok(Output::Received(Vec::new()));
            }
            if receivable || last_chance {
                let command = Command {
                    request_id: format!("{request_id}#{attempt}"),
                    time_ms: now,
                    op: Op::ReceiveMessages {
                        queue: queue.to_string(),
                        max,
                        visibility_timeout,
                        attempt_id: attempt_id.clone(),
                        tokens: (0..max).map(|_| rand::random::<u64>() | 1).collect(),
                    },
                };
                attempt += 1;
                let output = self.write(command).await?;
                let empty = matches!(&output, Output::Received(m) if m.is_empty());
                if !empty || last_chance {
                    return Ok(output);
                }
            }
            let next_due = queue_id
                .and_then(|id| messages::next_due_ms(&local, id).ok().flatten())
                .map(|at| Instant::now() + Duration::from_millis(at.saturating_sub(now_ms())));
            drop(db);
            let wake_at = next_due.map_or(deadline, |t| t.min(deadline));
            match notified.as_mut().as_pin_mut() {
                Some(n) => {
                    tokio::select! {
                        _ = n => {}
                        _ = tokio::time::sleep_until(wake_at.into()) => {}
                    }
                }
                // The queue is not applied here yet: wait for this node to apply more.
                None => {
                    let mut applied = self.sm.applied_index();
                    tokio::select! {
                        _ = applied.changed() => {}
                        _ = tokio::time::sleep_until(wake_at.into()) => {}
                    }
                }
            }
        }
    }

    /// Proposes a command on this node, which believes it leads (group commit merges it
    /// with concurrent proposals).
    pub async fn write_local(&self, command: Command) -> ForwardReply {
        self.group_commit.propose(command).await
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

    /// Whether this node is the leader now.
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow_watched().current_leader == Some(self.config.id())
    }

    /// The current leader as this node knows it.
    pub fn leader(&self) -> Option<Member> {
        let metrics = self.raft.metrics().borrow_watched().clone();
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
            leader_id: m.current_leader,
            leader_addr: m
                .current_leader
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
    /// this node knows is committed.
    pub fn ready(&self) -> bool {
        let m = self.raft.metrics().borrow_watched().clone();
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
                time_ms: now_ms(),
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
