//! The StatefulSet running the server pods.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
    StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource, ExecAction,
    HTTPGetAction, Lifecycle, LifecycleHandler, ObjectFieldSelector, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SeccompProfile, SecretVolumeSource, SecurityContext,
    TopologySpreadConstraint, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::internal_tls::{
    CA_CERT_KEY, INTERNAL_TLS_MOUNT, TLS_CERT_KEY, TLS_KEY_KEY, internal_tls_secret_name,
};
use super::secrets::{CREDENTIALS_KEY, TOKEN_KEY};
use super::{Cluster, DATA_VOLUME, INTERNAL_PORT, INTERNAL_PORT_NAME, SQS_PORT, SQS_PORT_NAME};

/// Name of the server container.
pub const CONTAINER: &str = "server";
/// Where the data volume is mounted.
pub const DATA_MOUNT: &str = "/var/lib/sqsraft";
/// The server's data directory: a subdirectory, so a filesystem's `lost+found` at the
/// volume root never confuses it.
pub const DATA_DIR: &str = "/var/lib/sqsraft/data";
/// Where the credentials Secret is mounted (a directory mount, so updates propagate and
/// the server's hot reload sees them).
pub const CREDENTIALS_MOUNT: &str = "/etc/sqsraft/credentials";
/// Where the cluster-token Secret is mounted.
pub const TOKEN_MOUNT: &str = "/etc/sqsraft/token";
/// The server binary inside the image.
pub const SERVER_BINARY: &str = "/usr/local/bin/sqsraft-server";
/// UID/GID of the image's non-root user.
pub const RUN_AS: i64 = 65532;
/// How long the preStop hook may take to hand leadership over (ms).
pub const PRE_STOP_TIMEOUT_MS: u32 = 20_000;
/// Grace period: the preStop hand-off, then a clean Raft shutdown and RocksDB flush.
pub const TERMINATION_GRACE_SECONDS: i64 = 60;

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

fn env_field(name: &str, field_path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: field_path.into(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn http_probe(path: &str, period: i32, failure_threshold: i32, timeout: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String(SQS_PORT_NAME.into()),
            scheme: Some("HTTP".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failure_threshold),
        timeout_seconds: Some(timeout),
        success_threshold: Some(1),
        ..Probe::default()
    }
}

/// Requests when `spec.resources` is absent, so server pods are Burstable rather than
/// BestEffort (evicted first under node pressure, whatever the PDB says).
fn default_resources() -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_string(), Quantity("100m".into())),
            ("memory".to_string(), Quantity("256Mi".into())),
        ])),
        ..ResourceRequirements::default()
    }
}

/// The server's configuration, all through `SQSRAFT_*` environment variables.
fn server_env(c: &Cluster<'_>) -> Vec<EnvVar> {
    let spec = &c.qc.spec;
    // `$(POD_NAME)` is expanded by the kubelet from the variable defined before it.
    let advertise = c.names.peer_addr_of("$(POD_NAME)");
    vec![
        env_field("POD_NAME", "metadata.name"),
        env_field("POD_NAMESPACE", "metadata.namespace"),
        // Node id = StatefulSet ordinal + 1, from the pod's host name `<name>-<ordinal>`.
        env("SQSRAFT_NODE_ID_FROM_HOSTNAME", "true"),
        env("SQSRAFT_DATA_DIR", DATA_DIR),
        env("SQSRAFT_SQS_LISTEN", format!("0.0.0.0:{SQS_PORT}")),
        env(
            "SQSRAFT_INTERNAL_LISTEN",
            format!("0.0.0.0:{INTERNAL_PORT}"),
        ),
        env("SQSRAFT_ADVERTISE_INTERNAL", advertise),
        env(
            "SQSRAFT_CREDENTIALS_FILE",
            format!("{CREDENTIALS_MOUNT}/{CREDENTIALS_KEY}"),
        ),
        env(
            "SQSRAFT_CLUSTER_TOKEN_FILE",
            format!("{TOKEN_MOUNT}/{TOKEN_KEY}"),
        ),
        env(
            "SQSRAFT_INTERNAL_CA_FILE",
            format!("{INTERNAL_TLS_MOUNT}/{CA_CERT_KEY}"),
        ),
        env(
            "SQSRAFT_INTERNAL_CERT_FILE",
            format!("{INTERNAL_TLS_MOUNT}/{TLS_CERT_KEY}"),
        ),
        env(
            "SQSRAFT_INTERNAL_KEY_FILE",
            format!("{INTERNAL_TLS_MOUNT}/{TLS_KEY_KEY}"),
        ),
        env("SQSRAFT_REGION", spec.region.clone()),
        env("SQSRAFT_ACCEPTED_REGIONS", spec.accepted_regions.join(",")),
        env("SQSRAFT_ACCOUNT_ID", spec.account_id.clone()),
        env("SQSRAFT_LOG_FORMAT", "json"),
        env(
            "SQSRAFT_HEARTBEAT_INTERVAL_MS",
            spec.raft.heartbeat_interval_ms.to_string(),
        ),
        env(
            "SQSRAFT_ELECTION_TIMEOUT_MIN_MS",
            spec.raft.election_timeout_min_ms.to_string(),
        ),
        env(
            "SQSRAFT_ELECTION_TIMEOUT_MAX_MS",
            spec.raft.election_timeout_max_ms.to_string(),
        ),
    ]
}

fn server_container(c: &Cluster<'_>) -> Container {
    Container {
        name: CONTAINER.into(),
        image: Some(c.image()),
        image_pull_policy: Some(c.qc.spec.image_pull_policy.as_str().into()),
        env: Some(server_env(c)),
        ports: Some(vec![
            ContainerPort {
                name: Some(SQS_PORT_NAME.into()),
                container_port: SQS_PORT,
                protocol: Some("TCP".into()),
                ..ContainerPort::default()
            },
            ContainerPort {
                name: Some(INTERNAL_PORT_NAME.into()),
                container_port: INTERNAL_PORT,
                protocol: Some("TCP".into()),
                ..ContainerPort::default()
            },
        ]),
        resources: Some(
            c.qc.spec
                .resources
                .clone()
                .unwrap_or_else(default_resources),
        ),
        // Ready = member with a known leader and caught up; while not ready the client
        // Service routes around the pod.
        readiness_probe: Some(http_probe("/readyz", 5, 3, 2)),
        // Restart only a process that stopped answering at all.
        liveness_probe: Some(http_probe("/healthz", 10, 6, 5)),
        // Opening RocksDB and restoring a snapshot may take minutes: up to 5 here, during
        // which liveness is not checked.
        startup_probe: Some(http_probe("/healthz", 2, 150, 2)),
        lifecycle: Some(Lifecycle {
            pre_stop: Some(LifecycleHandler {
                exec: Some(ExecAction {
                    command: Some(vec![
                        SERVER_BINARY.into(),
                        "transfer-leader".into(),
                        "--timeout-ms".into(),
                        PRE_STOP_TIMEOUT_MS.to_string(),
                    ]),
                }),
                ..LifecycleHandler::default()
            }),
            ..Lifecycle::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            run_as_user: Some(RUN_AS),
            run_as_group: Some(RUN_AS),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..SeccompProfile::default()
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![
            VolumeMount {
                name: DATA_VOLUME.into(),
                mount_path: DATA_MOUNT.into(),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: "credentials".into(),
                mount_path: CREDENTIALS_MOUNT.into(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: "cluster-token".into(),
                mount_path: TOKEN_MOUNT.into(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: "internal-tls".into(),
                mount_path: INTERNAL_TLS_MOUNT.into(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: "tmp".into(),
                mount_path: "/tmp".into(),
                ..VolumeMount::default()
            },
        ]),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Container::default()
    }
}

fn secret_volume(name: &str, secret_name: String) -> Volume {
    Volume {
        name: name.into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret_name),
            default_mode: Some(0o440),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// Spread over nodes unless the user said otherwise: losing one node should cost as few
/// voters as possible. `ScheduleAnyway` keeps small test clusters schedulable.
fn topology_spread(c: &Cluster<'_>) -> Option<Vec<TopologySpreadConstraint>> {
    match &c.qc.spec.pod.topology_spread_constraints {
        Some(list) if list.is_empty() => None,
        Some(list) => Some(list.clone()),
        None => Some(vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: "kubernetes.io/hostname".into(),
            when_unsatisfiable: "ScheduleAnyway".into(),
            label_selector: Some(LabelSelector {
                match_labels: Some(c.selector_labels()),
                ..LabelSelector::default()
            }),
            ..TopologySpreadConstraint::default()
        }]),
    }
}

fn non_empty<K, V>(map: &BTreeMap<K, V>) -> Option<BTreeMap<K, V>>
where
    K: Clone + Ord,
    V: Clone,
{
    (!map.is_empty()).then(|| map.clone())
}

fn pod_template(c: &Cluster<'_>) -> PodTemplateSpec {
    let spec = &c.qc.spec;
    // User labels first, so the operator's own labels win on a clash.
    let mut labels = spec.pod.labels.clone();
    labels.extend(c.labels());
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels),
            annotations: non_empty(&spec.pod.annotations),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![server_container(c)],
            // The server never talks to the Kubernetes API.
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            termination_grace_period_seconds: Some(TERMINATION_GRACE_SECONDS),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(RUN_AS),
                run_as_group: Some(RUN_AS),
                fs_group: Some(RUN_AS),
                fs_group_change_policy: Some("OnRootMismatch".into()),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".into(),
                    ..SeccompProfile::default()
                }),
                ..PodSecurityContext::default()
            }),
            volumes: Some(vec![
                secret_volume("credentials", c.credentials_secret_name()),
                secret_volume("cluster-token", c.cluster_token_secret_name()),
                secret_volume("internal-tls", internal_tls_secret_name(c)),
                Volume {
                    name: "tmp".into(),
                    empty_dir: Some(EmptyDirVolumeSource {
                        size_limit: Some(k8s_openapi::apimachinery::pkg::api::resource::Quantity(
                            "64Mi".into(),
                        )),
                        ..EmptyDirVolumeSource::default()
                    }),
                    ..Volume::default()
                },
            ]),
            image_pull_secrets: (!spec.image_pull_secrets.is_empty())
                .then(|| spec.image_pull_secrets.clone()),
            node_selector: non_empty(&spec.pod.node_selector),
            tolerations: (!spec.pod.tolerations.is_empty()).then(|| spec.pod.tolerations.clone()),
            affinity: spec.pod.affinity.clone(),
            topology_spread_constraints: topology_spread(c),
            priority_class_name: spec.pod.priority_class_name.clone(),
            ..PodSpec::default()
        }),
    }
}

fn volume_claim_template(c: &Cluster<'_>, size: &Quantity) -> PersistentVolumeClaim {
    let storage = &c.qc.spec.storage;
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(DATA_VOLUME.into()),
            labels: Some(c.labels()),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: storage.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_string(), size.clone())])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    }
}

/// The StatefulSet with `replicas` pods.
///
/// `replicas` is decided by the membership planner, not copied from the spec: on scale
/// up the StatefulSet grows first (a pod must run before it can join as a learner); on
/// scale down it shrinks only after the leaving node was removed from the voters.
///
/// Pods start in parallel (Raft needs a majority up to elect a leader, so ordered start
/// would deadlock after a full restart). Updates use `OnDelete`: the operator restarts
/// pods itself, followers first and the leader last. PVCs are retained by the
/// StatefulSet controller and deleted by the operator after a node left the voters.
///
/// The volume claim template requests `claim_size`: [`super::claim_template_size`], the
/// size the StatefulSet was created with (templates are immutable; the operator
/// expands grown PVCs itself).
pub fn stateful_set(c: &Cluster<'_>, replicas: i32, claim_size: &Quantity) -> StatefulSet {
    StatefulSet {
        metadata: c.meta(c.names.statefulset()),
        spec: Some(StatefulSetSpec {
            replicas: Some(replicas),
            service_name: Some(c.names.headless_service()),
            pod_management_policy: Some("Parallel".into()),
            selector: LabelSelector {
                match_labels: Some(c.selector_labels()),
                ..LabelSelector::default()
            },
            template: pod_template(c),
            volume_claim_templates: Some(vec![volume_claim_template(c, claim_size)]),
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("OnDelete".into()),
                ..StatefulSetUpdateStrategy::default()
            }),
            persistent_volume_claim_retention_policy: Some(
                StatefulSetPersistentVolumeClaimRetentionPolicy {
                    when_deleted: Some("Retain".into()),
                    when_scaled: Some("Retain".into()),
                },
            ),
            revision_history_limit: Some(5),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    }
}
