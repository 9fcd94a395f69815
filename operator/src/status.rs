//! Pure status computation: what the reconciler observed and did → `QueueClusterStatus`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::build::{Cluster, ExpansionPlan};
use crate::crd::QueueCluster;
use crate::crd::queue_cluster::{
    InternalTlsStatus, LeaderStatus, MemberRole, MemberStatus, QueueClusterStatus,
    VolumeExpansionState, condition,
};
use crate::membership::{ClusterHealth, Step};

/// What this reconcile did or why it stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The membership loop ran and took (or decided on) this step.
    Step(Step),
    /// `spec.reconciliationPaused`: nothing was changed.
    Paused,
    /// The pipeline stopped at an error; `reason` is its PascalCase category.
    Failed {
        reason: &'static str,
        message: String,
    },
}

/// Everything the status is computed from.
#[derive(Debug, Clone)]
pub struct StatusInputs<'a> {
    pub generation: Option<i64>,
    pub desired: i32,
    pub statefulset_replicas: i32,
    pub ready_replicas: i32,
    pub health: Option<&'a ClusterHealth>,
    pub outcome: &'a Outcome,
    pub previous: Option<&'a QueueClusterStatus>,
    /// The internal port's certificates (`None`: not looked at in this pass).
    pub internal_tls: Option<&'a InternalTlsStatus>,
    /// The volume expansion step (`None`: not looked at in this pass).
    pub volumes: Option<&'a ExpansionPlan>,
    pub now: Time,
}

/// Degraded reason of a larger `spec.storage.size` the volumes cannot be expanded to.
pub const VOLUME_EXPANSION_UNSUPPORTED: &str = "VolumeExpansionUnsupported";

struct Conditions<'a> {
    list: Vec<Condition>,
    previous: Option<&'a QueueClusterStatus>,
    generation: Option<i64>,
    now: &'a Time,
}

impl Conditions<'_> {
    fn set(&mut self, type_: &str, status: bool, reason: &str, message: String) {
        let status = if status { "True" } else { "False" };
        // Keep the transition time while the status stays the same.
        let since = self
            .previous
            .and_then(|p| p.conditions.iter().find(|c| c.type_ == type_))
            .filter(|c| c.status == status)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| self.now.clone());
        self.list.push(Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message,
            observed_generation: self.generation,
            last_transition_time: since,
        });
    }
}

/// A condition reason and a human-readable message for a planner step.
pub fn step_reason(step: &Step) -> (&'static str, String) {
    match step {
        Step::GrowStatefulSet { replicas } => (
            "ScalingStatefulSet",
            format!("StatefulSet grows to {replicas}"),
        ),
        Step::ShrinkStatefulSet { replicas } => (
            "ScalingStatefulSet",
            format!("StatefulSet shrinks to {replicas}"),
        ),
        Step::Bootstrap { voters, .. } => (
            "Bootstrapping",
            format!("initializing the Raft group with {} voters", voters.len()),
        ),
        Step::AddLearner { ordinal, .. } => {
            ("AddingMember", format!("adding #{ordinal} as a learner"))
        }
        Step::Promote { ordinal, .. } => ("AddingMember", format!("promoting #{ordinal}")),
        Step::TransferLeader { leader, to } => (
            "RemovingMember",
            format!("moving leadership from #{leader} to #{to}"),
        ),
        Step::RemoveVoter { ordinal, .. } => {
            ("RemovingMember", format!("removing voter #{ordinal}"))
        }
        Step::RemoveLearner { ordinal, .. } => {
            ("RemovingMember", format!("removing learner #{ordinal}"))
        }
        Step::DeletePvc { ordinal } => (
            "CleaningVolumes",
            format!("deleting the volume of removed #{ordinal}"),
        ),
        Step::RestartPod { ordinal } => (
            "RollingUpdate",
            format!("restarting #{ordinal} with the new pod template"),
        ),
        Step::Wait { reason } => ("Waiting", reason.clone()),
        Step::Refuse { reason } => ("Refused", reason.clone()),
        Step::Converged => ("Converged", "membership matches spec.replicas".into()),
    }
}

/// Computes the status of cluster `c`.
pub fn compute(
    c: &Cluster<'_>,
    inputs: &StatusInputs<'_>,
    credentials_secret: String,
) -> QueueClusterStatus {
    let prev = inputs.previous;
    let generation = inputs.generation;
    let mut conditions = Conditions {
        list: Vec::new(),
        previous: prev,
        generation,
        now: &inputs.now,
    };

    // Keep the last known Raft facts when this reconcile could not look (paused without
    // a token, or blocked before polling) rather than reporting them as gone.
    let (leader, term, members, lease_healthy) = match inputs.health {
        Some(h) => (
            Some(LeaderStatus {
                pod: c.names.pod(h.leader),
                node_id: crate::build::node_id(h.leader),
            }),
            Some(h.term),
            h.members
                .iter()
                .map(|m| MemberStatus {
                    node_id: crate::build::node_id(m.ordinal),
                    pod: c.names.pod(m.ordinal),
                    role: if m.voter {
                        MemberRole::Voter
                    } else {
                        MemberRole::Learner
                    },
                    healthy: m.healthy,
                    lag: m.lag,
                })
                .collect(),
            Some(h.lease_valid),
        ),
        // Polled, but no leader answered: the last known members, none known healthy.
        // (Keeping them also keeps the record that the cluster was bootstrapped.)
        None if matches!(inputs.outcome, Outcome::Step(_)) => (
            None,
            prev.and_then(|p| p.term),
            prev.map(|p| {
                p.members
                    .iter()
                    .map(|m| MemberStatus {
                        healthy: false,
                        lag: None,
                        ..m.clone()
                    })
                    .collect()
            })
            .unwrap_or_default(),
            Some(false),
        ),
        None => (
            prev.and_then(|p| p.leader.clone()),
            prev.and_then(|p| p.term),
            prev.map(|p| p.members.clone()).unwrap_or_default(),
            prev.and_then(|p| p.lease_healthy),
        ),
    };

    // Available: a leader with a healthy majority and at least one ready pod.
    let (available, reason, message) = match inputs.health {
        Some(h) if h.has_quorum() && inputs.ready_replicas > 0 => (
            true,
            "QuorumHealthy",
            format!("leader {} in term {}", c.names.pod(h.leader), h.term),
        ),
        Some(h) if !h.has_quorum() => (
            false,
            "QuorumLost",
            "fewer than a majority of voters are healthy".into(),
        ),
        Some(_) => (
            false,
            "NoReadyPods",
            "no pod passes its readiness probe".into(),
        ),
        None if matches!(inputs.outcome, Outcome::Step(_)) => (
            false,
            "NoLeader",
            "no pod reports itself as Raft leader".into(),
        ),
        None => (
            prev.and_then(|p| {
                p.conditions
                    .iter()
                    .find(|c| c.type_ == condition::AVAILABLE)
            })
            .is_some_and(|c| c.status == "True"),
            "Unknown",
            "not observed in this reconcile".into(),
        ),
    };
    conditions.set(condition::AVAILABLE, available, reason, message);

    let volume_expansion = match inputs.volumes {
        Some(plan) => plan.pending.clone(),
        None => prev.map(|p| p.volume_expansion.clone()).unwrap_or_default(),
    };
    let expanding: Vec<String> = volume_expansion
        .iter()
        .filter(|v| v.state != VolumeExpansionState::Refused)
        .map(|v| format!("{} ({:?})", v.pvc, v.state))
        .collect();

    // Progressing: a step is under way or waited for, or volumes are being expanded.
    let (progressing, reason, message) = match inputs.outcome {
        Outcome::Step(Step::Converged) if !expanding.is_empty() => (
            true,
            "ExpandingVolumes",
            format!(
                "volumes below spec.storage.size {}: {}",
                c.qc.spec.storage.size.0,
                expanding.join(", ")
            ),
        ),
        Outcome::Step(Step::Converged) => {
            let (r, m) = step_reason(&Step::Converged);
            (false, r, m)
        }
        Outcome::Step(Step::Refuse { .. }) => (
            false,
            "Refused",
            "the next membership step is refused; see Degraded".into(),
        ),
        Outcome::Step(step) => {
            let (r, m) = step_reason(step);
            (true, r, m)
        }
        Outcome::Paused => (
            false,
            "ReconciliationPaused",
            "spec.reconciliationPaused is true".into(),
        ),
        Outcome::Failed { reason, message } => (false, *reason, message.clone()),
    };
    conditions.set(condition::PROGRESSING, progressing, reason, message);

    // Degraded: a refused step, an error, or an unhealthy member.
    let unhealthy: Vec<String> = inputs
        .health
        .map(|h| {
            h.members
                .iter()
                .filter(|m| !m.healthy)
                .map(|m| c.names.pod(m.ordinal))
                .collect()
        })
        .unwrap_or_default();
    let refused = inputs.volumes.and_then(|v| v.refused.clone());
    let (degraded, reason, message) = match (inputs.outcome, refused) {
        (Outcome::Step(Step::Refuse { reason }), _) => (true, "ScaleRefused", reason.clone()),
        (Outcome::Failed { reason, message }, _) => (true, *reason, message.clone()),
        (_, Some(refused)) => (true, VOLUME_EXPANSION_UNSUPPORTED, refused),
        _ if !unhealthy.is_empty() => (
            true,
            "MemberUnhealthy",
            format!("unhealthy: {}", unhealthy.join(", ")),
        ),
        (Outcome::Step(_), _) if inputs.health.is_none() && !members.is_empty() => (
            true,
            "NoLeader",
            "the cluster was bootstrapped but no leader answers".into(),
        ),
        _ => (false, "Healthy", "no member is unhealthy".into()),
    };
    conditions.set(condition::DEGRADED, degraded, reason, message);

    let paused = matches!(inputs.outcome, Outcome::Paused);
    conditions.set(
        condition::RECONCILIATION_PAUSED,
        paused,
        if paused { "Paused" } else { "Active" },
        if paused {
            "the operator changes nothing until spec.reconciliationPaused is false".into()
        } else {
            "the operator reconciles this cluster".into()
        },
    );

    let selector = c
        .selector_labels()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    QueueClusterStatus {
        observed_generation: generation,
        replicas: inputs.statefulset_replicas,
        ready_replicas: inputs.ready_replicas,
        ready: Some(format!("{}/{}", inputs.ready_replicas, inputs.desired)),
        selector: Some(selector),
        leader,
        term,
        members,
        lease_healthy,
        endpoint: Some(c.endpoint()),
        credentials_secret: Some(credentials_secret),
        internal_tls: inputs
            .internal_tls
            .cloned()
            .or_else(|| prev.and_then(|p| p.internal_tls.clone())),
        volume_expansion,
        conditions: conditions.list,
    }
}

/// The status of a QueueCluster whose spec cannot be built: Degraded and not
/// Progressing with `message`; every other field as it was.
pub fn invalid(qc: &QueueCluster, message: &str, now: Time) -> QueueClusterStatus {
    let previous = qc.status.clone().unwrap_or_default();
    let mut conditions = Conditions {
        list: previous
            .conditions
            .iter()
            .filter(|c| c.type_ != condition::DEGRADED && c.type_ != condition::PROGRESSING)
            .cloned()
            .collect(),
        previous: qc.status.as_ref(),
        generation: qc.metadata.generation,
        now: &now,
    };
    conditions.set(condition::DEGRADED, true, "InvalidSpec", message.into());
    conditions.set(condition::PROGRESSING, false, "InvalidSpec", message.into());
    QueueClusterStatus {
        observed_generation: qc.metadata.generation,
        conditions: conditions.list,
        ..previous
    }
}
