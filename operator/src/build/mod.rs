//! Pure build steps: from a validated `QueueCluster` (plus a few small inputs the
//! reconciler decides) to the Kubernetes objects the operator applies.
//!
//! Nothing here performs I/O or reads the clock; randomness for generated Secrets is
//! passed in. Every function is unit-tested from YAML fixtures (`operator/tests/`).

mod internal_tls;
mod names;
mod network_policy;
mod pdb;
mod quantity;
mod secrets;
mod services;
mod statefulset;
mod volume_expansion;

pub use internal_tls::{
    CA_CERT_KEY, INTERNAL_TLS_MOUNT, InternalTlsSource, TLS_CERT_KEY, TLS_KEY_KEY, ca_common_name,
    ca_secret, internal_tls_secret_name, internal_tls_source, member_common_name, member_sans,
    member_secret, read_ca, read_member,
};
pub use names::{DATA_VOLUME, Names};
pub use network_policy::network_policy;
pub use pdb::{max_unavailable, pod_disruption_budget};
pub use secrets::{
    ACCESS_KEY_ID_KEY, CREDENTIALS_KEY, ClusterToken, CredentialsSource, KeyPair,
    SECRET_ACCESS_KEY_KEY, TOKEN_KEY, cluster_token_secret, credentials_secret, credentials_source,
    secret_value,
};
pub use services::{client_service, headless_service, leader_service};
pub use statefulset::stateful_set;
pub use volume_expansion::{ExpansionPlan, claim_template_size, classes_to_read, plan_expansion};

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};

use crate::crd::QueueCluster;

/// Port of the SQS API and health endpoints inside the pod.
pub const SQS_PORT: i32 = 9324;
/// Port of Raft, request forwarding and the admin API inside the pod.
pub const INTERNAL_PORT: i32 = 9325;
/// Name of the SQS port on containers and Services.
pub const SQS_PORT_NAME: &str = "sqs";
/// Name of the internal port on containers and Services.
pub const INTERNAL_PORT_NAME: &str = "internal";

/// Label: always `sqsraft`.
pub const LABEL_NAME: &str = "app.kubernetes.io/name";
/// Label: the QueueCluster's name.
pub const LABEL_INSTANCE: &str = "app.kubernetes.io/instance";
/// Label: `server` on everything of the server pods.
pub const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
/// Label: `sqsraft-operator`.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Pod label the operator maintains: `leader` or `follower`.
pub const LABEL_ROLE: &str = "sqsraft.io/role";
/// Value of [`LABEL_ROLE`] on the leader's pod.
pub const ROLE_LEADER: &str = "leader";
/// Value of [`LABEL_ROLE`] on every other pod.
pub const ROLE_FOLLOWER: &str = "follower";
/// The field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "sqsraft-operator";

/// Longest QueueCluster name accepted: StatefulSet pods get a `controller-revision-hash`
/// label of `<name>-<10 chars>` that must fit in 63 characters, and `<name>-cluster-token`
/// must stay a valid name.
pub const MAX_NAME_LEN: usize = 52;

/// Why a QueueCluster cannot be built into objects (a user error, reported as a
/// condition; retrying does not help until the object changes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSpec {
    #[error("the QueueCluster has no namespace")]
    NoNamespace,
    #[error("the QueueCluster has no uid yet (not read from the API server)")]
    NoUid,
    #[error("name {0:?} is longer than {MAX_NAME_LEN} characters")]
    NameTooLong(String),
    #[error("replicas must be at least 1, got {0}")]
    Replicas(i32),
    #[error("podDisruptionBudget.maxUnavailable must not be negative, got {0}")]
    MaxUnavailable(i32),
}

/// Inputs that do not come from the QueueCluster but from the operator's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorDefaults {
    /// Server image used when `spec.image` is absent.
    pub image: String,
    /// DNS domain of the Kubernetes cluster (`cluster.local` almost everywhere).
    pub cluster_domain: String,
    /// The operator's own pods, which the NetworkPolicy lets reach the internal port;
    /// `None` when the operator runs outside the cluster.
    pub operator_pods: Option<OperatorPods>,
    /// Lifetimes of the internal port's generated CA and certificates.
    pub pki: crate::pki::Lifetimes,
}

/// Where the operator's pods run and the labels that select them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorPods {
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
}

impl Default for OperatorDefaults {
    fn default() -> Self {
        Self {
            image: format!("sqsraft/sqsraft-server:{}", env!("CARGO_PKG_VERSION")),
            cluster_domain: "cluster.local".into(),
            operator_pods: None,
            pki: crate::pki::Lifetimes::default(),
        }
    }
}

/// A QueueCluster that passed validation, with the facts every builder needs.
#[derive(Debug, Clone)]
pub struct Cluster<'a> {
    pub qc: &'a QueueCluster,
    pub name: String,
    pub namespace: String,
    pub owner: OwnerReference,
    pub defaults: &'a OperatorDefaults,
    /// Names of the StatefulSet, pods, PVCs and peer addresses.
    pub names: Names,
}

impl<'a> Cluster<'a> {
    /// Validates what the CRD schema cannot guarantee (the apiserver enforces the CEL
    /// rules, but objects may predate a rule or come from a test).
    pub fn new(qc: &'a QueueCluster, defaults: &'a OperatorDefaults) -> Result<Self, InvalidSpec> {
        let namespace = qc.namespace().ok_or(InvalidSpec::NoNamespace)?;
        let name = qc.name_any();
        if name.len() > MAX_NAME_LEN {
            return Err(InvalidSpec::NameTooLong(name));
        }
        if qc.spec.replicas < 1 {
            return Err(InvalidSpec::Replicas(qc.spec.replicas));
        }
        if qc.spec.pod_disruption_budget.max_unavailable < 0 {
            return Err(InvalidSpec::MaxUnavailable(
                qc.spec.pod_disruption_budget.max_unavailable,
            ));
        }
        let mut owner = qc.controller_owner_ref(&()).ok_or(InvalidSpec::NoUid)?;
        // Foreground deletion of the QueueCluster waits for its objects. (Needs RBAC
        // `update` on `queueclusters/finalizers`.)
        owner.block_owner_deletion = Some(true);
        let names = Names::new(&name, &namespace, &defaults.cluster_domain);
        Ok(Self {
            qc,
            name,
            namespace,
            owner,
            defaults,
            names,
        })
    }

    /// Labels selecting this cluster's server pods (immutable StatefulSet selector).
    pub fn selector_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_NAME.to_string(), "sqsraft".to_string()),
            (LABEL_INSTANCE.to_string(), self.name.clone()),
        ])
    }

    /// Labels of every object the operator creates for this cluster.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.selector_labels();
        labels.insert(LABEL_COMPONENT.into(), "server".into());
        labels.insert(LABEL_MANAGED_BY.into(), FIELD_MANAGER.into());
        labels
    }

    /// Metadata of an owned object called `name`.
    pub fn meta(&self, name: String) -> ObjectMeta {
        ObjectMeta {
            name: Some(name),
            namespace: Some(self.namespace.clone()),
            labels: Some(self.labels()),
            owner_references: Some(vec![self.owner.clone()]),
            ..ObjectMeta::default()
        }
    }

    /// Name of the client Service.
    pub fn client_service_name(&self) -> String {
        self.name.clone()
    }

    /// Name of the Service that selects only the Raft leader.
    pub fn leader_service_name(&self) -> String {
        format!("{}-leader", self.name)
    }

    /// Name of the Secret holding the SigV4 credentials (user-supplied or generated).
    pub fn credentials_secret_name(&self) -> String {
        match credentials_source(self) {
            CredentialsSource::UserSupplied(name) | CredentialsSource::Generated(name) => name,
        }
    }

    /// Name of the Secret holding the admin API bearer token.
    pub fn cluster_token_secret_name(&self) -> String {
        format!("{}-cluster-token", self.name)
    }

    /// Name of the PodDisruptionBudget.
    pub fn pdb_name(&self) -> String {
        self.name.clone()
    }

    /// Name of the NetworkPolicy.
    pub fn network_policy_name(&self) -> String {
        self.name.clone()
    }

    /// URL of the client Service, shown in status.
    pub fn endpoint(&self) -> String {
        format!(
            "http://{}.{}.svc:{}",
            self.client_service_name(),
            self.namespace,
            self.qc.spec.service.port
        )
    }

    /// The server image to run.
    pub fn image(&self) -> String {
        self.qc
            .spec
            .image
            .clone()
            .unwrap_or_else(|| self.defaults.image.clone())
    }
}

/// Raft node id of StatefulSet ordinal `ordinal` (the server derives the same from its
/// host name with `--node-id-from-hostname`).
pub fn node_id(ordinal: u32) -> u64 {
    u64::from(ordinal) + 1
}

/// StatefulSet ordinal of Raft node id `node_id`, if it is one the operator assigns.
pub fn ordinal(node_id: u64) -> Option<u32> {
    node_id.checked_sub(1).and_then(|o| u32::try_from(o).ok())
}
