//! The PodDisruptionBudget guarding voluntary evictions.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Cluster;

/// Allows at most `spec.podDisruptionBudget.maxUnavailable` server pods to be evicted at
/// once. Pods that are not ready may always be evicted (`AlwaysAllow`), so a broken pod
/// never blocks a node drain.
pub fn pod_disruption_budget(c: &Cluster<'_>) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: c.meta(c.pdb_name()),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(
                c.qc.spec.pod_disruption_budget.max_unavailable,
            )),
            selector: Some(LabelSelector {
                match_labels: Some(c.selector_labels()),
                ..LabelSelector::default()
            }),
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".into()),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}
