//! Runs the Queue controller: watches Queues, and QueueClusters so that every Queue of a
//! cluster resyncs when that cluster becomes Available.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use std::hash::{DefaultHasher, Hash, Hasher};

use futures::StreamExt;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, ResourceExt};

use super::reconcile::{Context, EndpointResolver, error_policy, reconcile};
use crate::controller::watch::changes;
use crate::crd::QueueCluster;
use crate::crd::queue::Queue;
use crate::crd::queue_cluster::condition::AVAILABLE;

/// A Queue matters when its spec changed, its deletion started or its finalizers
/// changed; its status (with `lastSyncTime`, new on every sync) is the operator's own
/// output and must not wake it again.
pub fn queue_key(q: &Queue) -> u64 {
    let mut h = DefaultHasher::new();
    (
        q.metadata.generation,
        q.metadata.deletion_timestamp.is_some(),
        &q.metadata.finalizers,
    )
        .hash(&mut h);
    h.finish()
}

/// Whether a QueueCluster reports `Available=True`.
pub fn is_available(qc: &QueueCluster) -> bool {
    qc.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == AVAILABLE && c.status == "True")
    })
}

/// Whether a cluster seen Available `now` was not Available when last seen (`before`;
/// `None`: not seen yet).
pub fn became_available(before: Option<bool>, now: bool) -> bool {
    now && before != Some(true)
}

/// Whether `q` refers to the QueueCluster `cluster_ns/cluster_name`.
pub fn refers_to(q: &Queue, cluster_ns: &str, cluster_name: &str) -> bool {
    let own = q.namespace().unwrap_or_default();
    let r = &q.spec.cluster_ref;
    r.name == cluster_name && r.namespace.as_deref().unwrap_or(&own) == cluster_ns
}

/// Runs the Queue controller until `shutdown` resolves.
pub async fn run<R: EndpointResolver>(
    ctx: Arc<Context<R>>,
    namespace: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let (queues, clusters): (Api<Queue>, Api<QueueCluster>) = match namespace.as_deref() {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client, ns),
        ),
        None => (Api::all(client.clone()), Api::all(client)),
    };
    let (reader, writer) = reflector::store();
    let queues = watcher(queues, watcher::Config::default())
        .default_backoff()
        .reflect(writer);
    let controller = Controller::for_stream(changes(queues, queue_key), reader);
    let store = controller.store();
    let last_seen: Mutex<HashMap<(String, String), bool>> = Mutex::new(HashMap::new());
    controller
        .watches(
            clusters,
            watcher::Config::default(),
            move |qc: QueueCluster| {
                let ns = qc.namespace().unwrap_or_default();
                let name = qc.name_any();
                let now = is_available(&qc);
                let before = last_seen
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert((ns.clone(), name.clone()), now);
                if !became_available(before, now) {
                    return Vec::new();
                }
                store
                    .state()
                    .iter()
                    .filter(|q| refers_to(q, &ns, &name))
                    .map(|q| ObjectRef::from_obj(q.as_ref()))
                    .collect()
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((obj, action)) => tracing::debug!(object = %obj, ?action, "queue reconciled"),
                Err(e) => tracing::debug!(error = %e, "queue reconcile error"),
            }
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_queue_wakes_on_spec_deletion_and_finalizers_not_on_status() {
        let q = |generation: i64, synced: &str, finalizers: Option<Vec<&str>>, deleting: bool| {
            let mut v = json!({"apiVersion": "sqsraft.io/v1alpha1", "kind": "Queue",
                "metadata": {"name": "orders", "namespace": "shop", "generation": generation,
                             "finalizers": finalizers},
                "spec": {"clusterRef": {"name": "up"}},
                "status": {"lastSyncTime": synced}});
            if deleting {
                v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
            }
            queue_key(&serde_json::from_value(v).unwrap())
        };
        let base = q(1, "2026-01-01T00:00:00Z", None, false);
        assert_eq!(base, q(1, "2026-01-01T00:03:00Z", None, false));
        assert_ne!(base, q(2, "2026-01-01T00:00:00Z", None, false));
        assert_ne!(
            base,
            q(
                1,
                "2026-01-01T00:00:00Z",
                Some(vec!["sqsraft.io/queue"]),
                false
            )
        );
        assert_ne!(base, q(1, "2026-01-01T00:00:00Z", None, true));
    }
}
