//! The `QueueCluster` custom resource: one replicated sqsraft cluster.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, LocalObjectReference, ResourceRequirements, Toleration, TopologySpreadConstraint,
};
use k8s_openapi::api::networking::v1::NetworkPolicyPeer;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// Desired state of a replicated, SQS-compatible queue cluster.
// Several `printcolumn(type_ = "string", ..)` entries look like duplicated attributes to clippy.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "sqsraft.io",
    version = "v1alpha1",
    kind = "QueueCluster",
    namespaced,
    status = "QueueClusterStatus",
    shortname = "qc",
    category = "sqsraft",
    derive = "PartialEq",
    validation = Rule::new(
        "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 52"
    ).message("metadata.name must be a DNS-1035 label of at most 52 characters (lowercase letters, digits and '-', starting with a letter)"),
    doc = "A replicated, SQS-compatible queue cluster: a StatefulSet of sqsraft-server pods forming one Raft group.",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        description = "Ready pods out of desired replicas",
        json_path = ".status.ready"
    ),
    printcolumn(
        name = "Leader",
        type_ = "string",
        description = "Pod currently holding Raft leadership",
        json_path = ".status.leader.pod"
    ),
    printcolumn(
        name = "Available",
        type_ = "string",
        description = "Whether the cluster serves requests",
        json_path = ".status.conditions[?(@.type==\"Available\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new(
    "!has(self.podDisruptionBudget) || self.replicas < 3 || self.podDisruptionBudget.maxUnavailable <= (self.replicas - 1) / 2"
).message("podDisruptionBudget.maxUnavailable must leave a Raft majority running: at most (replicas - 1) / 2"))]
#[serde(rename_all = "camelCase")]
pub struct QueueClusterSpec {
    /// Number of server pods, each a Raft voter. The operator adds and removes members
    /// one at a time to reach it and never derives the size from the running members.
    /// Use an odd number (1, 3, 5, 7): an even size tolerates no more failures than the
    /// odd size below it while needing a larger majority. 1 means no replication.
    #[x_kube(validation = Rule::new("self >= 1").message("replicas must be at least 1"))]
    pub replicas: i32,

    /// Container image of sqsraft-server. Defaults to the image the operator was
    /// configured with (normally the server release matching the operator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,

    /// Image pull policy of the server container.
    #[serde(default)]
    pub image_pull_policy: ImagePullPolicy,

    /// Secrets holding registry credentials for pulling the image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,

    /// CPU and memory requests and limits of the server container. When absent the
    /// container requests 100m CPU and 256Mi memory (no limits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Persistent storage of every pod (Raft log, snapshots and messages). The size may
    /// grow, never shrink; the StorageClass is immutable.
    #[serde(default)]
    pub storage: StorageSpec,

    /// The client-facing Service that SQS clients connect to.
    #[serde(default)]
    pub service: ServiceSpec,

    /// SigV4 credentials clients sign requests with.
    #[serde(default)]
    pub credentials: CredentialsSpec,

    /// Certificates of the internal port (Raft, forwarding, the admin API), where every
    /// member and the operator authenticate with mutual TLS. Always on.
    #[serde(default)]
    pub internal_tls: InternalTlsSpec,

    /// AWS region that request signatures must name; also used in queue ARNs.
    #[serde(default = "default_region")]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9-]+$')").message("region must be lowercase letters, digits and dashes"))]
    pub region: String,

    /// Further regions request signatures may name (`*`: any). Each region's queues are
    /// its own: same-name queues of two regions are different queues.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    // The bounds keep the rule's estimated cost within the API server's CEL budget.
    #[schemars(length(max = 32), inner(length(max = 32)))]
    #[x_kube(validation = Rule::new("self.all(r, r == '*' || r.matches('^[a-z0-9-]+$'))").message("acceptedRegions must be region names (lowercase letters, digits and dashes) or *"))]
    pub accepted_regions: Vec<String>,

    /// Twelve-digit account id shown in queue URLs and ARNs.
    #[serde(default = "default_account_id")]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]{12}$')").message("accountId must be twelve digits"))]
    pub account_id: String,

    /// Raft timing. The defaults suit a single data centre; raise them on slow networks.
    #[serde(default)]
    pub raft: RaftSpec,

    /// Scheduling and metadata overrides of the server pods.
    #[serde(default)]
    pub pod: PodOverrides,

    /// The PodDisruptionBudget guarding voluntary evictions.
    #[serde(default)]
    pub pod_disruption_budget: PodDisruptionBudgetSpec,

    /// The NetworkPolicy guarding the server pods' ports.
    #[serde(default)]
    pub network_policy: NetworkPolicySpec,

    /// When true the operator stops changing anything it manages (objects, Raft
    /// membership, and the queues of the cluster's Queue objects, which are neither
    /// created, repaired nor deleted: their Synced condition says ReconciliationPaused
    /// and a deleted Delete-policy Queue waits) and only reports status. Use it for
    /// manual maintenance.
    #[serde(default)]
    pub reconciliation_paused: bool,

    /// Namespaces besides the cluster's own whose Queue objects may use this cluster;
    /// `*` allows every namespace. Empty: only Queues in the cluster's namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_queue_namespaces: Vec<String>,
}

fn default_region() -> String {
    "us-east-1".into()
}

fn default_account_id() -> String {
    "000000000000".into()
}

/// When the kubelet pulls the server image.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema,
)]
pub enum ImagePullPolicy {
    Always,
    #[default]
    IfNotPresent,
    Never,
}

impl ImagePullPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "Always",
            Self::IfNotPresent => "IfNotPresent",
            Self::Never => "Never",
        }
    }
}

/// Persistent volume of each server pod.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new(
    "!isQuantity(self.size) || !isQuantity(oldSelf.size) || quantity(self.size).compareTo(quantity(oldSelf.size)) >= 0"
).message("storage.size may grow but never shrink: a volume cannot be made smaller"))]
#[x_kube(validation = Rule::new(
    "has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)"
).message("storage.storageClassName is immutable once the cluster exists"))]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// Requested size of each pod's volume, e.g. `10Gi`. It may grow (the operator then
    /// expands the PVCs, when their StorageClass allows volume expansion) but never
    /// shrink.
    #[serde(default = "default_storage_size")]
    #[schemars(schema_with = "quantity_schema")]
    pub size: Quantity,

    /// StorageClass of the volumes; the cluster default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
}

/// A Kubernetes quantity written as a string (`10Gi`), checked by the API server with
/// CEL's `isQuantity`. Never `null`: the field is required in Rust.
fn quantity_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "x-kubernetes-validations": [{
            "rule": "isQuantity(self)",
            "message": "must be a quantity such as 10Gi or 500Mi",
        }],
    })
}

fn default_storage_size() -> Quantity {
    Quantity("1Gi".into())
}

impl Default for StorageSpec {
    fn default() -> Self {
        Self {
            size: default_storage_size(),
            storage_class_name: None,
        }
    }
}

/// How clients reach the cluster.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// Service type of the client Service.
    #[serde(default, rename = "type")]
    pub type_: ServiceType,

    /// Port of the client Service (SQS API and health endpoints).
    #[serde(default = "default_service_port")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 65535").message("port must be between 1 and 65535"))]
    pub port: i32,

    /// Annotations of the client Service, e.g. for a cloud load balancer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

fn default_service_port() -> i32 {
    9324
}

impl Default for ServiceSpec {
    fn default() -> Self {
        Self {
            type_: ServiceType::default(),
            port: default_service_port(),
            annotations: BTreeMap::new(),
        }
    }
}

/// Kubernetes Service type of the client Service.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema,
)]
pub enum ServiceType {
    #[default]
    ClusterIP,
    NodePort,
    LoadBalancer,
}

impl ServiceType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClusterIP => "ClusterIP",
            Self::NodePort => "NodePort",
            Self::LoadBalancer => "LoadBalancer",
        }
    }
}

/// Where the SigV4 credentials come from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsSpec {
    /// Name of an existing Secret in the cluster's namespace with a key `credentials.json`
    /// holding `{"credentials":[{"accessKeyId":"…","secretAccessKey":"…"}]}`. The operator
    /// uses it as is and never modifies it. When absent the operator generates a Secret
    /// `<name>-credentials` with a random key pair once and never overwrites it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$') && size(self) <= 253").message("secretName must be a valid Secret name"))]
    pub secret_name: Option<String>,
}

/// Where the internal port's certificates come from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct InternalTlsSpec {
    /// Name of an existing Secret in the cluster's namespace with `ca.crt` (the CA
    /// certificates members trust), `tls.crt` and `tls.key`: one certificate every member
    /// and the operator present, for server and client use, naming
    /// `*.<name>-headless.<namespace>.svc.<cluster domain>` and `127.0.0.1` (the shape a
    /// cert-manager Certificate writes). The operator mounts it and never modifies it;
    /// its owner renews it, and members re-read it within seconds. When absent the
    /// operator keeps a CA per cluster (Secret `<name>-ca`) and issues and renews the
    /// member certificate (Secret `<name>-internal-tls`) itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$') && size(self) <= 253").message("secretName must be a valid Secret name"))]
    pub secret_name: Option<String>,
}

/// Raft timing parameters, in milliseconds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new(
    "self.electionTimeoutMinMs > self.heartbeatIntervalMs && self.electionTimeoutMaxMs > self.electionTimeoutMinMs"
).message("raft timeouts must satisfy heartbeatIntervalMs < electionTimeoutMinMs < electionTimeoutMaxMs"))]
#[serde(rename_all = "camelCase")]
pub struct RaftSpec {
    /// Interval between leader heartbeats.
    #[serde(default = "default_heartbeat")]
    #[x_kube(validation = Rule::new("self >= 10").message("heartbeatIntervalMs must be at least 10"))]
    pub heartbeat_interval_ms: u32,

    /// Lower bound of the randomized election timeout.
    #[serde(default = "default_election_min")]
    pub election_timeout_min_ms: u32,

    /// Upper bound of the randomized election timeout.
    #[serde(default = "default_election_max")]
    pub election_timeout_max_ms: u32,
}

fn default_heartbeat() -> u32 {
    100
}
fn default_election_min() -> u32 {
    500
}
fn default_election_max() -> u32 {
    1000
}

impl Default for RaftSpec {
    fn default() -> Self {
        Self {
            heartbeat_interval_ms: default_heartbeat(),
            election_timeout_min_ms: default_election_min(),
            election_timeout_max_ms: default_election_max(),
        }
    }
}

/// Overrides applied to every server pod.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodOverrides {
    /// Node labels the pods must be scheduled on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,

    /// Tolerations of the pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,

    /// Affinity rules of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,

    /// Topology spread constraints. When absent the pods are spread over nodes
    /// (`kubernetes.io/hostname`, maxSkew 1, ScheduleAnyway) so one node failure takes
    /// down as few voters as possible; an empty list disables spreading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology_spread_constraints: Option<Vec<TopologySpreadConstraint>>,

    /// Extra labels of the pods (the operator's own labels win on conflict).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,

    /// Extra annotations of the pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,

    /// PriorityClass of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
}

/// PodDisruptionBudget settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodDisruptionBudgetSpec {
    /// Pods that voluntary disruptions (node drains, the operator's own restarts) may take
    /// down at once. The operator caps it at (replicas - 1) / 2 so a Raft majority keeps
    /// running: 0 for one or two replicas.
    #[serde(default = "default_max_unavailable")]
    #[x_kube(validation = Rule::new("self >= 0").message("maxUnavailable must not be negative"))]
    pub max_unavailable: i32,
}

fn default_max_unavailable() -> i32 {
    1
}

impl Default for PodDisruptionBudgetSpec {
    fn default() -> Self {
        Self {
            max_unavailable: default_max_unavailable(),
        }
    }
}

/// NetworkPolicy settings. The internal port (Raft, forwarding, the admin API) is always
/// limited to the cluster's own pods and the operator's; the SQS port (which also serves
/// `/metrics` and the health endpoints) to `sqsFrom`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    /// Whether the operator creates the NetworkPolicy (it deletes its own when false).
    #[serde(default = "default_true")]
    pub enabled: bool,

    /// Who may reach the SQS port, as NetworkPolicy peers (pod and namespace selectors,
    /// IP blocks). Empty: every source. Kubelet probes come from the node; most network
    /// plugins always admit them, some need the nodes' addresses listed here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sqs_from: Vec<NetworkPolicyPeer>,
}

fn default_true() -> bool {
    true
}

impl Default for NetworkPolicySpec {
    fn default() -> Self {
        Self {
            enabled: true,
            sqs_from: Vec::new(),
        }
    }
}

/// Observed state of a QueueCluster, as reported by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueClusterStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Pods of the StatefulSet (scale subresource).
    #[serde(default)]
    pub replicas: i32,

    /// Pods passing their readiness probe.
    #[serde(default)]
    pub ready_replicas: i32,

    /// `ready/desired`, for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<String>,

    /// Label selector of the pods (scale subresource, for autoscalers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,

    /// The current Raft leader, when one is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<LeaderStatus>,

    /// Current Raft term.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<u64>,

    /// Raft members as the leader sees them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberStatus>,

    /// Whether the leader holds a valid read lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_healthy: Option<bool>,

    /// URL of the client Service, e.g. `http://orders.default.svc:9324`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,

    /// Name of the Secret holding the SigV4 credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<String>,

    /// The internal port's certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_tls: Option<InternalTlsStatus>,

    /// Data volumes whose capacity is still below `spec.storage.size`: being expanded,
    /// or why they cannot be. Empty once every volume has the requested size.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_expansion: Vec<VolumeExpansionStatus>,

    /// Available, Progressing, Degraded and ReconciliationPaused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// The internal port's certificates as the operator last saw them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InternalTlsStatus {
    /// The Secret the server pods mount.
    pub secret_name: String,
    /// When the member certificate expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_not_after: Option<Time>,
    /// When the cluster CA expires (operator-managed PKI only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_not_after: Option<Time>,
    /// Whether a CA rotation is under way (old and new CA both trusted).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ca_rotating: bool,
}

/// A data volume below the requested size.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeExpansionStatus {
    /// Name of the PersistentVolumeClaim.
    pub pvc: String,
    /// Its current capacity (`status.capacity.storage`), when reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<String>,
    /// How far the expansion got.
    pub state: VolumeExpansionState,
    /// The message of the PVC's resize condition, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Progress of one volume's expansion.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum VolumeExpansionState {
    /// Not requested: the StorageClass does not allow volume expansion (see Degraded).
    Refused,
    /// The larger size is requested; no resizer has reported progress yet.
    Requested,
    /// The volume is being resized by its storage driver.
    Resizing,
    /// The volume was resized; the file system grows when a pod (re)mounts it.
    FileSystemResizePending,
    /// The storage driver or the kubelet reported a resize error.
    Failed,
}

/// The Raft leader.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeaderStatus {
    /// Name of the leader's pod.
    pub pod: String,
    /// Raft node id of the leader (pod ordinal + 1).
    pub node_id: u64,
}

/// One Raft member.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberStatus {
    /// Raft node id (pod ordinal + 1).
    pub node_id: u64,
    /// Pod name.
    pub pod: String,
    /// Voter or learner.
    pub role: MemberRole,
    /// Whether the pod answered its health poll and follows the current leader.
    pub healthy: bool,
    /// Log entries the member is behind the leader, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<u64>,
}

/// Role of a member in the Raft configuration.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum MemberRole {
    Voter,
    Learner,
}

/// Condition types the operator maintains.
pub mod condition {
    pub const AVAILABLE: &str = "Available";
    pub const PROGRESSING: &str = "Progressing";
    pub const DEGRADED: &str = "Degraded";
    pub const RECONCILIATION_PAUSED: &str = "ReconciliationPaused";
}
