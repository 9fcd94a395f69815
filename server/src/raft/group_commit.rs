//! Group commit: concurrent proposals on the leader share one Raft entry.
//!
//! Proposals queue while up to [`IN_FLIGHT`] entries are being committed; when one
//! finishes, the next entry takes everything queued (up to [`MAX_COMMANDS`] commands or
//! about [`MAX_PAYLOAD_BYTES`] of message bodies). An idle leader proposes a lone
//! command at once, unchanged; under load one log write, one replication message and one
//! apply responder serve many requests. Inner commands keep their request ids, so dedup
//! and retries behave exactly as for commands proposed alone.

use super::Raft;
use crate::admin_types::Member;
use crate::error::SqsError;
use crate::node::ForwardReply;
use crate::sm::command::{Command, CommandResult, Op, Output};
use openraft::error::{ClientWriteError, RaftError};
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Entries of merged commands being committed at once.
pub const IN_FLIGHT: usize = 4;
/// Most commands in one entry.
pub const MAX_COMMANDS: usize = 256;
/// An entry stops taking commands once their message bodies reach this size.
pub const MAX_PAYLOAD_BYTES: u64 = 4 << 20;
/// Proposals waiting for an entry; further proposers wait for room.
const QUEUE: usize = 4096;

struct Proposal {
    command: Command,
    reply: oneshot::Sender<ForwardReply>,
}

/// The proposing side of a node's group commit.
#[derive(Clone)]
pub struct GroupCommit {
    tx: mpsc::Sender<Proposal>,
}

impl GroupCommit {
    /// Starts the task that merges and proposes this node's commands.
    pub fn start(raft: Raft) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(raft, rx));
        GroupCommit { tx }
    }

    /// Proposes `command` (merged with whatever else is waiting) and returns its result,
    /// or where the leader is if this node does not lead.
    pub async fn propose(&self, command: Command) -> ForwardReply {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Proposal { command, reply }).await.is_err() {
            return ForwardReply::NotLeader(None);
        }
        answer.await.unwrap_or(ForwardReply::NotLeader(None))
    }
}

async fn run(raft: Raft, mut rx: mpsc::Receiver<Proposal>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut payload = first.command.op.payload_bytes();
        let mut batch = vec![first];
        while batch.len() < MAX_COMMANDS && payload < MAX_PAYLOAD_BYTES {
            let Ok(next) = rx.try_recv() else { break };
            payload += next.command.op.payload_bytes();
            batch.push(next);
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            commit(&raft, batch).await;
            drop(slot);
        });
    }
}

/// Proposes one entry for `batch` and answers each proposal.
async fn commit(raft: &Raft, batch: Vec<Proposal>) {
    let (commands, replies): (Vec<Command>, Vec<_>) =
        batch.into_iter().map(|p| (p.command, p.reply)).unzip();
    let count = commands.len();
    let entry = match <[Command; 1]>::try_from(commands) {
        Ok([command]) => command,
        Err(commands) => Command {
            request_id: format!("group-of-{count}"),
            time_ms: commands.iter().map(|c| c.time_ms).max().unwrap_or(0),
            op: Op::Group(commands),
        },
    };
    let results: Vec<ForwardReply> = match raft.client_write(entry).await {
        Ok(response) => split(response.data.0, count)
            .into_iter()
            .map(ForwardReply::Done)
            .collect(),
        Err(e) => {
            let reply = not_leader(e);
            (0..count).map(|_| reply.clone()).collect()
        }
    };
    for (reply, result) in replies.into_iter().zip(results) {
        // A proposer that gave up (client gone) is not an error.
        let _ = reply.send(result);
    }
}

/// The per-command results of an entry of `count` commands.
fn split(result: CommandResult, count: usize) -> Vec<CommandResult> {
    match result {
        Ok(Output::Group(results)) if results.len() == count => results,
        other if count == 1 => vec![other],
        other => {
            let e = SqsError::internal(format!("a group of {count} commands applied as {other:?}"));
            vec![Err(e); count]
        }
    }
}

/// Where to go when a proposal failed: the leader named by openraft, or unknown.
fn not_leader(
    e: RaftError<super::TypeConfig, ClientWriteError<super::TypeConfig>>,
) -> ForwardReply {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => ForwardReply::NotLeader(
            f.leader_id
                .zip(f.leader_node)
                .map(|(node_id, node)| Member {
                    node_id,
                    addr: node.addr,
                }),
        ),
        e => {
            tracing::warn!(error = %e, "client write failed");
            ForwardReply::NotLeader(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_result_splits_per_command_and_a_mismatch_fails_every_command() {
        let results = vec![Ok(Output::Empty), Err(SqsError::internal("x"))];
        assert_eq!(split(Ok(Output::Group(results.clone())), 2), results);
        assert_eq!(split(Ok(Output::Empty), 1), vec![Ok(Output::Empty)]);
        let mismatch = split(Ok(Output::Group(results)), 3);
        assert_eq!(mismatch.len(), 3);
        assert!(mismatch.iter().all(Result::is_err));
    }
}
