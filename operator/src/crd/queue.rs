//! The `Queue` custom resource: one SQS queue on a `QueueCluster`.
//!
//! Attribute fields are typed (integers, booleans, enums) with the ranges AWS documents;
//! the reconciler turns them into the canonical strings the server reports, so a value
//! that only differs in formatting is never seen as drift.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// Desired state of one SQS queue on a QueueCluster.
// Several `printcolumn(type_ = "string", ..)` entries look like duplicated attributes to clippy.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "sqsraft.io",
    version = "v1alpha1",
    kind = "Queue",
    namespaced,
    status = "QueueStatus",
    shortname = "sqsq",
    category = "sqsraft",
    derive = "PartialEq",
    doc = "An SQS queue on a QueueCluster, created, kept in sync and (per deletionPolicy) deleted by the operator.",
    printcolumn(
        name = "Cluster",
        type_ = "string",
        description = "The QueueCluster holding the queue",
        json_path = ".spec.clusterRef.name"
    ),
    printcolumn(
        name = "QueueName",
        type_ = "string",
        description = "Name of the queue on the cluster",
        json_path = ".status.queueName"
    ),
    printcolumn(
        name = "FIFO",
        type_ = "boolean",
        description = "Whether the queue is a FIFO queue",
        json_path = ".spec.fifo"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        description = "Whether the queue exists and matches the spec",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "URL",
        type_ = "string",
        description = "Queue URL",
        json_path = ".status.queueUrl",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new("has(self.queueName) == has(oldSelf.queueName)").message("queueName is immutable: it cannot be added or removed"))]
#[x_kube(validation = Rule::new("self.fifo || (!has(self.contentBasedDeduplication) && !has(self.deduplicationScope) && !has(self.fifoThroughputLimit))").message("contentBasedDeduplication, deduplicationScope and fifoThroughputLimit need fifo: true"))]
#[x_kube(validation = Rule::new("!has(self.queueName) || !self.queueName.endsWith('.fifo') || self.fifo").message("only FIFO queues may have a name ending in .fifo"))]
#[serde(rename_all = "camelCase")]
pub struct QueueSpec {
    /// The QueueCluster that holds the queue. Immutable: moving a Queue object to another
    /// cluster would orphan the queue on the first one.
    #[x_kube(validation = Rule::new("self == oldSelf").message("clusterRef is immutable"))]
    pub cluster_ref: ClusterRef,

    /// Name of the queue on the cluster; defaults to `metadata.name`. For FIFO queues
    /// `.fifo` is appended when missing. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("queueName is immutable"))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9_-]+(\\\\.fifo)?$') && size(self) <= 80").message("queueName must be 1-80 letters, digits, '-' or '_' (FIFO names may end in .fifo)"))]
    pub queue_name: Option<String>,

    /// Whether the queue is a FIFO queue. Immutable.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self == oldSelf").message("fifo is immutable"))]
    pub fifo: bool,

    /// FIFO only: deduplicate by a SHA-256 of the body when no deduplication id is given.
    /// Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_based_deduplication: Option<bool>,

    /// FIFO only: whether deduplication applies per queue or per message group.
    /// Default `queue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deduplication_scope: Option<DeduplicationScope>,

    /// FIFO only: whether the throughput limit applies per queue or per message group.
    /// Default `perQueue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fifo_throughput_limit: Option<FifoThroughputLimit>,

    /// Seconds every message is delayed before it can be received (0-900, default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 900))]
    pub delay_seconds: Option<i32>,

    /// Largest message body in bytes (1024-1048576, default 1048576).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1024, max = 1048576))]
    pub maximum_message_size: Option<i32>,

    /// Seconds a message is kept (60-1209600, i.e. one minute to 14 days; default 345600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 60, max = 1209600))]
    pub message_retention_period: Option<i32>,

    /// Default long-poll wait of ReceiveMessage in seconds (0-20, default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 20))]
    pub receive_message_wait_time_seconds: Option<i32>,

    /// Seconds a received message stays invisible (0-43200, default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 43200))]
    pub visibility_timeout: Option<i32>,

    /// Moves messages received too often to a dead-letter queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redrive_policy: Option<RedrivePolicy>,

    /// Which source queues may use this queue as their dead-letter queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redrive_allow_policy: Option<RedriveAllowPolicy>,

    /// Tags of the queue (at most 49; keys under `sqsraft.io/` are reserved: the operator
    /// tags each queue `sqsraft.io/queue=<namespace>/<name>` of its Queue object). The
    /// operator sets these and removes a tag it set once it leaves the spec; tags set by
    /// anyone else are left alone.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[x_kube(validation = Rule::new("size(self) <= 49").message("a queue has at most 50 tags, one of them the operator's"))]
    #[x_kube(validation = Rule::new("self.all(k, !k.startsWith('sqsraft.io/'))").message("tag keys starting with sqsraft.io/ are reserved for the operator"))]
    pub tags: BTreeMap<String, String>,

    /// What deleting this object does to the queue. Defaults to `Retain`: deleting a
    /// Kubernetes object (a pruned manifest, an uninstalled chart, a deleted namespace)
    /// must not silently destroy the messages an application still depends on; choose
    /// `Delete` explicitly for queues whose lifetime is the object's.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// Reference to a QueueCluster.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRef {
    /// Name of the QueueCluster.
    pub name: String,
    /// Namespace of the QueueCluster; defaults to the Queue's own. Another namespace
    /// works only when that QueueCluster lists this Queue's namespace in
    /// `spec.allowedQueueNamespaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// FIFO deduplication scope.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum DeduplicationScope {
    #[default]
    Queue,
    MessageGroup,
}

impl DeduplicationScope {
    /// The attribute value SQS uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queue => "queue",
            Self::MessageGroup => "messageGroup",
        }
    }
}

/// FIFO throughput limit scope.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum FifoThroughputLimit {
    #[default]
    PerQueue,
    PerMessageGroupId,
}

impl FifoThroughputLimit {
    /// The attribute value SQS uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PerQueue => "perQueue",
            Self::PerMessageGroupId => "perMessageGroupId",
        }
    }
}

/// Dead-letter queue settings: exactly one of `deadLetterQueueRef` and
/// `deadLetterTargetArn`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("has(self.deadLetterQueueRef) != has(self.deadLetterTargetArn)").message("set exactly one of deadLetterQueueRef and deadLetterTargetArn"))]
#[serde(rename_all = "camelCase")]
pub struct RedrivePolicy {
    /// A Queue object in the same namespace; its ARN is used once the queue exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_queue_ref: Option<QueueRef>,

    /// ARN of the dead-letter queue, for queues not managed by a Queue object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.startsWith('arn:')").message("deadLetterTargetArn must be an ARN"))]
    pub dead_letter_target_arn: Option<String>,

    /// Receives after which a message moves to the dead-letter queue (1-1000).
    #[schemars(range(min = 1, max = 1000))]
    pub max_receive_count: i32,
}

/// Reference to a Queue object in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct QueueRef {
    /// Name of the Queue object.
    pub name: String,
}

/// Who may use this queue as a dead-letter queue.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("(self.redrivePermission == 'byQueue') == (has(self.sourceQueueArns) && size(self.sourceQueueArns) > 0)").message("sourceQueueArns (1-10) is required with byQueue and not allowed otherwise"))]
#[serde(rename_all = "camelCase")]
pub struct RedriveAllowPolicy {
    /// `allowAll`, `denyAll` or `byQueue`.
    pub redrive_permission: RedrivePermission,

    /// With `byQueue`: ARNs of the source queues allowed (1-10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(validation = Rule::new("size(self) <= 10").message("at most 10 sourceQueueArns"))]
    pub source_queue_arns: Vec<String>,
}

/// Redrive permission of a RedriveAllowPolicy.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RedrivePermission {
    AllowAll,
    DenyAll,
    ByQueue,
}

impl RedrivePermission {
    /// The JSON value SQS uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AllowAll => "allowAll",
            Self::DenyAll => "denyAll",
            Self::ByQueue => "byQueue",
        }
    }
}

/// What deleting the Queue object does to the queue.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema,
)]
pub enum DeletionPolicy {
    /// DeleteQueue on the cluster (a queue already gone counts as deleted).
    Delete,
    /// Keep the queue and its messages; only the Kubernetes object goes away.
    #[default]
    Retain,
}

/// Observed state of a Queue, as reported by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Name of the queue on the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_name: Option<String>,

    /// Queue URL as the cluster reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_url: Option<String>,

    /// Queue ARN (`arn:aws:sqs:<region>:<account>:<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_arn: Option<String>,

    /// Ready (the queue exists and matches the spec) and Synced (the last sync
    /// succeeded), with reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,

    /// When the queue was last compared with the spec successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,

    /// The queue's attributes as last read back from the cluster.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,

    /// Keys of the tags the operator set: the only tags it ever removes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_tags: Vec<String>,
}

/// Condition types of a Queue.
pub mod condition {
    /// The queue exists and matches the spec.
    pub const READY: &str = "Ready";
    /// The last reconcile reached the cluster and applied the spec.
    pub const SYNCED: &str = "Synced";
}
