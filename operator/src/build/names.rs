//! The names of one cluster's StatefulSet, pods, data volumes and peer addresses: the
//! only place they are spelled, used by the builders, the reconciler, the admin client
//! and the tests alike.

use super::INTERNAL_PORT;

/// Name of the volume claim template; PVCs are `<DATA_VOLUME>-<pod>`.
pub const DATA_VOLUME: &str = "data";

/// Names derived from a QueueCluster's name and namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    cluster: String,
    namespace: String,
    cluster_domain: String,
}

impl Names {
    pub fn new(cluster: &str, namespace: &str, cluster_domain: &str) -> Self {
        Self {
            cluster: cluster.into(),
            namespace: namespace.into(),
            cluster_domain: cluster_domain.into(),
        }
    }

    /// The QueueCluster's name.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// The namespace of the cluster and everything it owns.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Name of the StatefulSet (and prefix of its pods).
    pub fn statefulset(&self) -> String {
        self.cluster.clone()
    }

    /// Name of the headless Service giving every pod a stable DNS name.
    pub fn headless_service(&self) -> String {
        format!("{}-headless", self.cluster)
    }

    /// Pod name of StatefulSet ordinal `ordinal`.
    pub fn pod(&self, ordinal: u32) -> String {
        format!("{}-{ordinal}", self.cluster)
    }

    /// Name of the data PVC of ordinal `ordinal`.
    pub fn pvc(&self, ordinal: u32) -> String {
        format!("{DATA_VOLUME}-{}", self.pod(ordinal))
    }

    /// The ordinal of a pod called `pod`, if it is one of this cluster's.
    pub fn pod_ordinal(&self, pod: &str) -> Option<u32> {
        ordinal_after(&self.cluster, pod)
    }

    /// The ordinal of a PVC called `pvc`, if it is one of this cluster's data volumes.
    pub fn pvc_ordinal(&self, pvc: &str) -> Option<u32> {
        ordinal_after(&format!("{DATA_VOLUME}-{}", self.cluster), pvc)
    }

    /// `host:port` a pod called `pod` advertises to its peers (the internal port through
    /// the headless Service). `pod` may be `$(POD_NAME)` for the kubelet to expand.
    pub fn peer_addr_of(&self, pod: &str) -> String {
        format!(
            "{pod}.{}.{}.svc.{}:{INTERNAL_PORT}",
            self.headless_service(),
            self.namespace,
            self.cluster_domain
        )
    }

    /// `host:port` of ordinal `ordinal`'s internal port: where peers and the operator
    /// reach it, and the address recorded in the Raft membership.
    pub fn peer_addr(&self, ordinal: u32) -> String {
        self.peer_addr_of(&self.pod(ordinal))
    }
}

/// The ordinal of `<prefix>-<ordinal>`.
fn ordinal_after(prefix: &str, name: &str) -> Option<u32> {
    let digits = name.strip_prefix(prefix)?.strip_prefix('-')?;
    // `orders-01` is not a StatefulSet pod name; neither is `orders-x-1`.
    if digits.len() > 1 && digits.starts_with('0') {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ordinals_round_trip() {
        let n = Names::new("orders", "shop", "cluster.local");
        assert_eq!(n.pod(2), "orders-2");
        assert_eq!(n.pvc(2), "data-orders-2");
        assert_eq!(n.pod_ordinal(&n.pod(12)), Some(12));
        assert_eq!(n.pvc_ordinal(&n.pvc(3)), Some(3));
        assert_eq!(
            n.peer_addr(1),
            "orders-1.orders-headless.shop.svc.cluster.local:9325"
        );
        // Another cluster's objects whose names share the prefix are not ours.
        assert_eq!(n.pod_ordinal("orders-archive-1"), None);
        assert_eq!(n.pod_ordinal("orders-01"), None);
        assert_eq!(n.pvc_ordinal("data-orders-archive-0"), None);
        assert_eq!(n.pod_ordinal("data-orders-1"), None);
    }
}
