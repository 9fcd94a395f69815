//! Group commit: concurrent proposals on the leader share one Raft entry.
//!
//! Proposals queue while up to four entries are being committed; when one finishes, the
//! next entry takes everything queued (see `LIMITS`). An idle leader proposes a lone
//! command at once, unchanged; under load one log write, one replication message and one
//! apply responder serve many requests. Inner commands keep their request ids, so dedup
//! and retries behave exactly as for commands proposed alone.

use super::Raft;
use crate::admin_types::Member;
use crate::batcher::{Batcher, Limits};
use crate::error::SqsError;
use crate::sm::command::{Command, CommandResult, Op, Output};
use crate::wire::ForwardReply;
use openraft::error::{ClientWriteError, RaftError};

/// How entries are filled: 4 in flight, up to 256 commands or about 256 KiB of message
/// bodies each. The byte bound keeps entries small: openraft replicates up to
/// `MAX_PAYLOAD_ENTRIES` entries per message and keeps them in memory meanwhile, so
/// multi-megabyte entries had made a leader catching up a follower hold hundreds of MiB.
const LIMITS: Limits = Limits {
    in_flight: 4,
    max_items: 256,
    max_weight: 256 << 10,
};

/// The proposing side of a node's group commit.
pub struct GroupCommit {
    batcher: Batcher<Command, ForwardReply>,
}

impl GroupCommit {
    /// Starts the task that merges and proposes this node's commands.
    pub fn start(raft: Raft) -> Self {
        let weight = |c: &Command| c.op.payload_bytes();
        let batcher = Batcher::start(LIMITS, weight, move |commands| {
            let raft = raft.clone();
            async move { commit(&raft, commands).await }
        });
        GroupCommit { batcher }
    }

    /// Proposes `command` (merged with whatever else is waiting) and returns its result,
    /// or where the leader is if this node does not lead.
    pub async fn propose(&self, command: Command) -> ForwardReply {
        self.batcher
            .submit(command)
            .await
            .unwrap_or(ForwardReply::NotLeader(None))
    }
}

/// Proposes one entry for `commands` and returns each one's answer.
async fn commit(raft: &Raft, commands: Vec<Command>) -> Vec<ForwardReply> {
    let count = commands.len();
    let entry = match <[Command; 1]>::try_from(commands) {
        Ok([command]) => command,
        Err(commands) => Command {
            request_id: format!("group-of-{count}"),
            time_ms: commands.iter().map(|c| c.time_ms).max().unwrap_or(0),
            op: Op::Group(commands),
        },
    };
    match raft.client_write(std::sync::Arc::new(entry)).await {
        Ok(response) => split(response.data.0, count)
            .into_iter()
            .map(ForwardReply::Done)
            .collect(),
        Err(e) => {
            let reply = not_leader(e);
            vec![reply; count]
        }
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
