//! What nodes send each other over the internal port, besides Raft's own RPCs: the paths
//! of forwarded requests and the typed bodies and replies they carry (postcard-encoded).
//!
//! These types cross the network between nodes that may run different versions during a
//! rolling upgrade, so their encodings follow the rules in `docs/architecture.md`
//! ("Stored and replicated formats").

use crate::admin_types::Member;
use crate::sm::command::CommandResult;
use serde::{Deserialize, Serialize};

/// Internal path of one forwarded write (body: a `Command`).
pub const FORWARD_WRITE: &str = "/forward/write";
/// Internal path of a batch of forwarded writes (body: a `Vec<Command>`).
pub const FORWARD_WRITES: &str = "/forward/writes";
/// Internal path of a forwarded read (body: a `ReadOp`).
pub const FORWARD_READ: &str = "/forward/read";
/// Internal path of a long poll a follower parks on the leader (body: a [`ReceiveCall`]).
pub const FORWARD_RECEIVE: &str = "/forward/receive";
/// Internal path that answers this node's wall clock (empty body; reply: a `u64` of Unix
/// milliseconds), read by peers' cluster clocks (`peer/clock.rs`).
pub const CLOCK: &str = "/clock";

/// What a node answers to a forwarded request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ForwardReply {
    /// The request ran here; this is its result.
    Done(CommandResult),
    /// This node is not the leader; try the one named, if any.
    NotLeader(Option<Member>),
}

/// A ReceiveMessage call, as a follower hands it to the leader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiveCall {
    /// The client request's id; each receive attempt is proposed as `<id>#<attempt>`.
    pub request_id: String,
    pub queue: String,
    pub max: u32,
    pub visibility_timeout: Option<u32>,
    /// FIFO ReceiveRequestAttemptId.
    pub attempt_id: Option<String>,
    /// Long-poll wait in milliseconds (0: a short poll).
    pub wait_ms: u64,
}
