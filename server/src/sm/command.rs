//! The replicated command: what one Raft log entry carries, and what applying it returns.
//!
//! Everything non-deterministic (the proposer's wall clock, minted ids) is decided before
//! proposing and carried here; applying a command is a pure function of the state and
//! the command, so every replica reaches the same state.

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
    /// SendMessage and SendMessageBatch (a single send is a batch of one).
    SendMessages {
        queue: String,
        entries: Vec<SendEntry>,
    },
    /// ReceiveMessage: up to `max` messages, each taking the next receipt token.
    ReceiveMessages {
        queue: String,
        max: u32,
        visibility_timeout: Option<u32>,
        /// FIFO ReceiveRequestAttemptId: a retry within 5 minutes returns the same answer.
        attempt_id: Option<String>,
        /// Receipt tokens minted at the edge, one per message that may be returned.
        tokens: Vec<u64>,
    },
    /// DeleteMessage and DeleteMessageBatch.
    DeleteMessages {
        queue: String,
        entries: Vec<HandleEntry>,
    },
    /// ChangeMessageVisibility and ChangeMessageVisibilityBatch.
    ChangeVisibility {
        queue: String,
        entries: Vec<VisibilityEntry>,
    },
    PurgeQueue {
        queue: String,
    },
    /// AddPermission: a statement labelled `label` in the queue's Policy.
    AddPermission {
        queue: String,
        label: String,
        account_ids: Vec<String>,
        actions: Vec<String>,
        /// The queue's ARN (the edge knows region and account).
        resource: String,
    },
    /// RemovePermission: drops the statement labelled `label`.
    RemovePermission {
        queue: String,
        label: String,
    },
    /// StartMessageMoveTask: moves a dead-letter queue's messages back to their sources
    /// (or to `destination`) at up to `rate` messages per second.
    StartMoveTask {
        source: String,
        destination: Option<String>,
        rate: Option<u32>,
    },
    /// CancelMessageMoveTask.
    CancelMoveTask {
        source: String,
        task_id: u64,
    },
    /// Leader-proposed housekeeping: expires dedup records and messages past retention,
    /// and moves messages whose delay or visibility timeout ended back to visible.
    Housekeeping,
    /// Commands merged into one entry by group commit (`raft/group_commit.rs`), applied
    /// one after another at the entry's time; the result is [`Output::Group`].
    Group(Vec<Command>),
}

/// A message attribute value (String, Number or Binary, optionally with a custom suffix).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeValue {
    pub data_type: String,
    pub string_value: Option<String>,
    pub binary_value: Option<Vec<u8>>,
    pub string_list_values: Vec<String>,
    pub binary_list_values: Vec<Vec<u8>>,
}

/// One message to send; ids and digests are decided at the edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendEntry {
    /// Batch entry id (`"0"` for a single send).
    pub id: String,
    pub message_id: String,
    pub body: String,
    /// Per-message delay; `None` uses the queue's DelaySeconds.
    pub delay_seconds: Option<u32>,
    pub attributes: BTreeMap<String, AttributeValue>,
    pub system_attributes: BTreeMap<String, AttributeValue>,
    pub md5_body: String,
    pub md5_attributes: Option<String>,
    pub md5_system_attributes: Option<String>,
    /// Body plus message attributes, as SQS counts a message's size.
    pub size: u64,
    pub sender_id: String,
    /// MessageGroupId (required on FIFO queues; kept for fair standard queues).
    pub group_id: Option<String>,
    /// MessageDeduplicationId (FIFO queues only).
    pub dedup_id: Option<String>,
}

/// A parsed receipt handle: which message, and which receive of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptHandle {
    pub queue_id: u64,
    pub seq: u64,
    pub token: u64,
}

/// A batch entry naming a message by receipt handle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandleEntry {
    pub id: String,
    pub handle: ReceiptHandle,
}

/// A batch entry changing a message's visibility timeout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisibilityEntry {
    pub id: String,
    pub handle: ReceiptHandle,
    pub timeout_seconds: u32,
}

/// A batch entry that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchFailure {
    pub id: String,
    pub error: SqsError,
}

/// A message that was stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentMessage {
    pub id: String,
    pub message_id: String,
    pub md5_body: String,
    pub md5_attributes: Option<String>,
    pub md5_system_attributes: Option<String>,
    /// FIFO queues: the apply-assigned sequence number.
    pub sequence_number: Option<u64>,
}

/// Status of a message move task, as AWS names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MoveStatus {
    Running,
    Completed,
    Cancelled,
    Failed,
}

impl MoveStatus {
    /// The AWS status string.
    pub fn as_str(self) -> &'static str {
        match self {
            MoveStatus::Running => "RUNNING",
            MoveStatus::Completed => "COMPLETED",
            MoveStatus::Cancelled => "CANCELLED",
            MoveStatus::Failed => "FAILED",
        }
    }
}

/// A message move task, as stored and reported (progress is replicated state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveTaskInfo {
    pub task_id: u64,
    pub source: String,
    pub destination: Option<String>,
    pub rate: Option<u32>,
    pub status: MoveStatus,
    pub moved: u64,
    pub to_move: u64,
    pub started_ms: u64,
    /// Apply time up to which progress has been credited (rate limiting).
    pub progressed_ms: u64,
    pub failure: Option<String>,
}

/// A message as a receive returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub handle: ReceiptHandle,
    pub body: String,
    pub md5_body: String,
    pub attributes: BTreeMap<String, AttributeValue>,
    pub system_attributes: BTreeMap<String, AttributeValue>,
    pub sent_ms: u64,
    pub sender_id: String,
    pub receive_count: u32,
    pub first_receive_ms: u64,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
    /// FIFO queues: the sequence number assigned when it was sent.
    pub sequence_number: Option<u64>,
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
            Op::SendMessages { .. } => "SendMessage",
            Op::ReceiveMessages { .. } => "ReceiveMessage",
            Op::DeleteMessages { .. } => "DeleteMessage",
            Op::ChangeVisibility { .. } => "ChangeMessageVisibility",
            Op::PurgeQueue { .. } => "PurgeQueue",
            Op::AddPermission { .. } => "AddPermission",
            Op::RemovePermission { .. } => "RemovePermission",
            Op::StartMoveTask { .. } => "StartMessageMoveTask",
            Op::CancelMoveTask { .. } => "CancelMessageMoveTask",
            Op::Housekeeping => "Housekeeping",
            Op::Group(_) => "Group",
        }
    }

    /// Bytes of message bodies this operation carries (what makes an entry large).
    pub fn payload_bytes(&self) -> u64 {
        match self {
            Op::SendMessages { entries, .. } => entries.iter().map(|e| e.size).sum(),
            Op::Group(commands) => commands.iter().map(|c| c.op.payload_bytes()).sum(),
            _ => 0,
        }
    }

    /// Whether a replay of the same request id must return the recorded response.
    /// Housekeeping is idempotent by itself and never recorded; a group's commands are
    /// recorded one by one.
    pub fn deduplicated(&self) -> bool {
        !matches!(self, Op::Housekeeping | Op::Group(_))
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
    /// The most recent message move tasks of a source queue, newest first.
    ListMoveTasks {
        source: String,
        max_results: u32,
    },
    /// Queues whose RedrivePolicy targets this one.
    ListDeadLetterSourceQueues {
        name: String,
        max_results: Option<u32>,
        next_token: Option<String>,
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
    /// Result of a send: stored entries and failed ones.
    Sent {
        successful: Vec<SentMessage>,
        failed: Vec<BatchFailure>,
    },
    /// Messages received.
    Received(Vec<ReceivedMessage>),
    /// A message move task (started, cancelled, or listed).
    MoveTask(MoveTaskInfo),
    /// Message move tasks, newest first.
    MoveTasks(Vec<MoveTaskInfo>),
    /// Result of a delete or visibility batch: ids that succeeded and failures.
    Batch {
        successful: Vec<String>,
        failed: Vec<BatchFailure>,
    },
    /// The results of an [`Op::Group`], one per command, in order.
    Group(Vec<CommandResult>),
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
