//! The replicated command: what one Raft log entry carries, and what applying it returns.
//!
//! Everything non-deterministic (the proposer's wall clock, minted ids) is decided before
//! proposing and carried here; applying a command is a pure function of the state and
//! the command (DESIGN principle 1).

use crate::error::SqsError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One state-machine command, proposed once and retried verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// Identifies the client request across every internal retry: the SDK's
    /// `amz-sdk-invocation-id` scoped to the access key, or an id minted at the edge.
    pub request_id: String,
    /// The proposer's wall clock in Unix milliseconds; apply uses
    /// `max(time_ms, last applied time)`.
    pub time_ms: u64,
    pub op: Op,
}

/// A mutating operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    CreateQueue {
        name: String,
        attributes: BTreeMap<String, String>,
        tags: BTreeMap<String, String>,
    },
    DeleteQueue {
        name: String,
    },
    SetQueueAttributes {
        name: String,
        attributes: BTreeMap<String, String>,
    },
    TagQueue {
        name: String,
        tags: BTreeMap<String, String>,
    },
    UntagQueue {
        name: String,
        keys: Vec<String>,
    },
    /// Leader-proposed housekeeping: expires dedup records (and, later, messages).
    Housekeeping,
}

impl Op {
    /// The action name that scopes this operation's request ids in the dedup table.
    pub fn action(&self) -> &'static str {
        match self {
            Op::CreateQueue { .. } => "CreateQueue",
            Op::DeleteQueue { .. } => "DeleteQueue",
            Op::SetQueueAttributes { .. } => "SetQueueAttributes",
            Op::TagQueue { .. } => "TagQueue",
            Op::UntagQueue { .. } => "UntagQueue",
            Op::Housekeeping => "Housekeeping",
        }
    }

    /// Whether a replay of the same request id must return the recorded response.
    /// Housekeeping is idempotent by itself and never recorded.
    pub fn deduplicated(&self) -> bool {
        !matches!(self, Op::Housekeeping)
    }
}

/// A linearizable read, served by the leader after confirming its leadership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadOp {
    GetQueueUrl {
        name: String,
    },
    GetQueueAttributes {
        name: String,
        names: Vec<String>,
    },
    ListQueues {
        prefix: Option<String>,
        max_results: Option<u32>,
        next_token: Option<String>,
    },
    ListQueueTags {
        name: String,
    },
}

/// The successful result of a command or read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Output {
    /// Nothing to report beyond success.
    Empty,
    /// A queue's name; the edge renders its URL from the request's host.
    Queue { name: String },
    /// Queue attributes by AWS name.
    Attributes(BTreeMap<String, String>),
    /// A page of queue names.
    QueueList {
        names: Vec<String>,
        next_token: Option<String>,
    },
    /// Queue tags.
    Tags(BTreeMap<String, String>),
}

/// What applying a command returns; recorded verbatim in the dedup table.
pub type CommandResult = Result<Output, SqsError>;

/// The Raft response type: the command's result (blank and membership entries yield
/// `Output::Empty`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResponse(pub CommandResult);

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} request={} t={}",
            self.op.action(),
            self.request_id,
            self.time_ms
        )
    }
}

impl std::fmt::Display for CommandResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Ok(_) => f.write_str("ok"),
            Err(e) => write!(f, "{e}"),
        }
    }
}
