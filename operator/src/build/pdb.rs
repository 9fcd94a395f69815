//! The PodDisruptionBudget guarding voluntary evictions.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Cluster;

/// Pods voluntary disruptions may take down at once: `spec.podDisruptionBudget.maxUnavailable`,
/// capped at what leaves a Raft majority running, `(replicas - 1) / 2`. That is 0 for
/// one or two replicas: evicting either pod of a two-node group stops it committing.
pub fn max_unavailable(c: &Cluster<'_>) -> i32 {
    let spec = &c.qc.spec;
    spec.pod_disruption_budget
        .max_unavailable
        .min((spec.replicas - 1).max(0) / 2)
}

/// Allows at most [`max_unavailable`] server pods to be evicted at once. Unready pods may
/// be evicted only while the budget is intact (`IfHealthyBudget`), so a voter that is
/// still catching up is not evicted for free while another member is down.
pub fn pod_disruption_budget(c: &Cluster<'_>) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: c.meta(c.pdb_name()),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(max_unavailable(c))),
            selector: Some(LabelSelector {
                match_labels: Some(c.selector_labels()),
                ..LabelSelector::default()
            }),
            unhealthy_pod_eviction_policy: Some("IfHealthyBudget".into()),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}
