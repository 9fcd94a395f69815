//! ReceiveMessage with long polling.
//!
//! A long poll waits where messages are first known to be receivable: on the leader,
//! which applies a send as soon as it commits. A follower hands its long polls to the
//! leader ([`FORWARD_RECEIVE`]) rather than waiting for the send to reach it and then
//! forwarding the receive, which saves a propagation hop and a forwarding round per wake.
//! When the leader cannot take the poll (unknown, unreachable, an older version without
//! the path, or this node already parks [`MAX_PARKED_ON_LEADER`] polls there), the
//! follower waits itself for what is left of the wait.

use crate::error::{SqsError, SqsResult};
use crate::node::Node;
use crate::peer::forward::forward_one;
use crate::sm::command::{Command, Op, Output};
use crate::sm::txn::DbRead;
use crate::sm::{messages, queue_record};
use crate::wire::{FORWARD_RECEIVE, ForwardReply, ReceiveCall};
use bytes::Bytes;
use std::time::{Duration, Instant};

/// Most long polls one node parks on the leader at once; more wait on the node itself,
/// so parked polls never fill the internal connection's streams.
pub const MAX_PARKED_ON_LEADER: usize = 256;

impl Node {
    /// Serves a ReceiveMessage: a long poll waits on the leader when it can, here
    /// otherwise; a short poll proposes its receive at once.
    pub async fn receive(&self, call: &ReceiveCall) -> SqsResult<Output> {
        self.storage_writable()?;
        let deadline = Instant::now() + Duration::from_millis(call.wait_ms);
        if call.wait_ms > 0
            && let Some(result) = self.park_on_leader(call).await
        {
            return result;
        }
        self.receive_here(call, deadline).await
    }

    /// Runs a long poll on the leader; `None` when the leader could not take it.
    async fn park_on_leader(&self, call: &ReceiveCall) -> Option<SqsResult<Output>> {
        let leader = self.leader()?;
        if leader.node_id == self.config.id() {
            return None;
        }
        let _permit = self.parked_on_leader.try_acquire().ok()?;
        let body = Bytes::from(crate::codec::encode(call).ok()?);
        let timeout = Duration::from_millis(call.wait_ms + self.config.request_deadline_ms);
        match forward_one(&self.client, &leader.addr, FORWARD_RECEIVE, body, timeout).await {
            Ok(ForwardReply::Done(result)) => Some(result),
            Ok(ForwardReply::NotLeader(_)) => None,
            Err(e) => {
                tracing::debug!(leader = leader.node_id, error = %e, "long poll not parked on the leader");
                None
            }
        }
    }

    /// Answers a long poll handed over by a follower: waits here while this node leads.
    pub async fn receive_for_follower(&self, call: &ReceiveCall) -> ForwardReply {
        if !self.is_leader() {
            return ForwardReply::NotLeader(self.leader());
        }
        let deadline = Instant::now() + Duration::from_millis(call.wait_ms);
        ForwardReply::Done(self.receive_here(call, deadline).await)
    }

    /// Waits until `deadline` for the queue to hold a receivable message *on this node*
    /// (woken by apply, or by the time the next delayed or in-flight message turns
    /// visible), then proposes the receive. Each attempt is its own command
    /// (`<request id>#<attempt>`), so a replayed invocation gets every attempt's recorded
    /// answer. Dropping the future (client gone) proposes nothing further.
    async fn receive_here(&self, call: &ReceiveCall, deadline: Instant) -> SqsResult<Output> {
        let mut attempt = 0u32;
        loop {
            let db = self.sm.state_db().get();
            let local = DbRead(&db);
            let queue_id = queue_record::load(&local, &call.queue)
                .map_err(|e| SqsError::internal(e.to_string()))?
                .map(|q| q.id);
            let notify = queue_id.map(|id| self.sm.signals().subscribe(id));
            let notified = notify.as_ref().map(|n| n.notified());
            let mut notified = std::pin::pin!(notified);
            if let Some(n) = notified.as_mut().as_pin_mut() {
                n.enable();
            }
            let now = self.clock.now_ms();
            let receivable = match queue_id {
                Some(id) => messages::has_visible(&local, id, now)
                    .map_err(|e| SqsError::internal(e.to_string()))?,
                // Unknown here: let the leader answer (QueueDoesNotExist or a fresh queue).
                None => true,
            };
            let last_chance = Instant::now() >= deadline;
            if last_chance && !receivable && call.attempt_id.is_none() && self.is_leader() {
                // Nothing receivable on the leader at the deadline: answer empty without a
                // log entry (every acknowledged send is applied here before its ack). A
                // follower may lag, so it proposes; FIFO attempt ids always go through the
                // log, so a retried attempt gets its recorded messages.
                return Ok(Output::Received(Vec::new()));
            }
            if receivable || last_chance {
                let command = Command {
                    request_id: format!("{}#{attempt}", call.request_id),
                    time_ms: now,
                    op: Op::ReceiveMessages {
                        queue: call.queue.clone(),
                        max: call.max,
                        visibility_timeout: call.visibility_timeout,
                        attempt_id: call.attempt_id.clone(),
                        tokens: (0..call.max).map(|_| rand::random::<u64>() | 1).collect(),
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
                .map(|at| {
                    Instant::now() + Duration::from_millis(at.saturating_sub(self.clock.now_ms()))
                });
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
}
