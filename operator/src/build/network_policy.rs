//! The NetworkPolicy guarding the server pods: the internal port (Raft, forwarding,
//! snapshots, the admin API) only from the cluster's own pods and the operator's, the
//! SQS port from `spec.networkPolicy.sqsFrom` (everyone when empty).

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Cluster, INTERNAL_PORT, SQS_PORT};

/// The label every namespace carries with its own name (set by the API server).
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The NetworkPolicy of the cluster, `None` when `spec.networkPolicy.enabled` is false.
pub fn network_policy(c: &Cluster<'_>) -> Option<NetworkPolicy> {
    let spec = &c.qc.spec.network_policy;
    if !spec.enabled {
        return None;
    }
    let own_pods = NetworkPolicyPeer {
        pod_selector: Some(selector(c.selector_labels())),
        ..NetworkPolicyPeer::default()
    };
    let mut internal_from = vec![own_pods];
    if let Some(operator) = &c.defaults.operator_pods {
        internal_from.push(NetworkPolicyPeer {
            namespace_selector: Some(selector([(
                NAMESPACE_NAME_LABEL.to_string(),
                operator.namespace.clone(),
            )])),
            pod_selector: Some(selector(operator.labels.clone())),
            ..NetworkPolicyPeer::default()
        });
    }
    Some(NetworkPolicy {
        metadata: c.meta(c.network_policy_name()),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector(c.selector_labels())),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(vec![
                NetworkPolicyIngressRule {
                    from: Some(internal_from),
                    ports: Some(vec![tcp(INTERNAL_PORT)]),
                },
                NetworkPolicyIngressRule {
                    from: (!spec.sqs_from.is_empty()).then(|| spec.sqs_from.clone()),
                    ports: Some(vec![tcp(SQS_PORT)]),
                },
            ]),
            ..NetworkPolicySpec::default()
        }),
    })
}

fn selector(labels: impl IntoIterator<Item = (String, String)>) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels.into_iter().collect()),
        ..LabelSelector::default()
    }
}

fn tcp(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".into()),
        ..NetworkPolicyPort::default()
    }
}
