//! What wakes the QueueCluster reconciler: watch events filtered down to the changes
//! that matter, so the operator's own writes (status, role labels) and volatile fields
//! (replication lag, StatefulSet and PDB status counters) never trigger it.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use futures::{Stream, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

use super::workloads::REVISION_LABEL;
use crate::crd::QueueCluster;

fn hash_of(value: &impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// A QueueCluster matters when its spec changed (`metadata.generation`); its status is
/// the operator's own output.
pub fn cluster_key(qc: &QueueCluster) -> u64 {
    hash_of(&qc.metadata.generation)
}

/// An owned object matters when its spec changed (`metadata.generation`, or every
/// change for kinds without one, such as Secrets) or its labels, annotations or owners
/// did; status-only updates (ready counts, disruption budgets) do not.
pub fn owned_key<K: Resource>(obj: &K) -> u64 {
    let meta = obj.meta();
    let version = match meta.generation {
        Some(g) => g.to_string(),
        None => meta.resource_version.clone().unwrap_or_default(),
    };
    let owners = serde_json::to_string(&meta.owner_references).unwrap_or_default();
    hash_of(&(version, &meta.labels, &meta.annotations, owners))
}

/// A server pod matters when it is replaced (uid), starts terminating, changes
/// readiness or phase, or runs another revision; the operator's role label and other
/// status churn do not.
pub fn pod_key(pod: &Pod) -> u64 {
    let status = pod.status.as_ref();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.clone());
    let revision = pod
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(REVISION_LABEL));
    hash_of(&(
        &pod.metadata.uid,
        pod.metadata.deletion_timestamp.is_some(),
        ready,
        status.and_then(|s| s.phase.as_ref()),
        revision,
    ))
}

/// (namespace, name, uid) of a watched object.
type Identity = (Option<String>, Option<String>, Option<String>);

/// The objects of a watch whose `key` changed since they were last seen, and every
/// deleted object; restarts of the watch re-list objects without waking anyone unless
/// they changed meanwhile.
pub fn changes<K, S>(
    events: S,
    key: fn(&K) -> u64,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send
where
    K: Resource + Send + 'static,
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
{
    let mut seen: HashMap<Identity, u64> = HashMap::new();
    let identity = |obj: &K| {
        let m = obj.meta();
        (m.namespace.clone(), m.name.clone(), m.uid.clone())
    };
    events.try_filter_map(move |event| {
        let changed = match event {
            watcher::Event::Apply(obj) | watcher::Event::InitApply(obj) => {
                let k = key(&obj);
                (seen.insert(identity(&obj), k) != Some(k)).then_some(obj)
            }
            watcher::Event::Delete(obj) => {
                seen.remove(&identity(&obj));
                Some(obj)
            }
            watcher::Event::Init | watcher::Event::InitDone => None,
        };
        futures::future::ready(Ok(changed))
    })
}

/// Changes of the objects `api` and `config` select that matter to their owner
/// ([`owned_key`]).
pub fn owned_changes<K>(
    api: Api<K>,
    config: watcher::Config,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    changes(watcher(api, config).default_backoff(), owned_key::<K>)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use k8s_openapi::api::apps::v1::StatefulSet;
    use k8s_openapi::api::core::v1::Secret;
    use serde_json::json;

    async fn pass<K: Resource + Send + 'static>(
        events: Vec<watcher::Event<K>>,
        key: fn(&K) -> u64,
    ) -> Vec<K> {
        let stream = changes(futures::stream::iter(events.into_iter().map(Ok)), key);
        stream.map(Result::unwrap).collect().await
    }

    fn obj<K: serde::de::DeserializeOwned>(v: serde_json::Value) -> K {
        serde_json::from_value(v).unwrap()
    }

    #[tokio::test]
    async fn status_of_a_queuecluster_never_wakes_it() {
        use watcher::Event::*;
        let qc = |generation: i64, lag: u64| -> QueueCluster {
            obj(
                json!({"apiVersion": "sqsraft.io/v1alpha1", "kind": "QueueCluster",
                "metadata": {"name": "orders", "namespace": "shop", "uid": "u", "generation": generation},
                "spec": {"replicas": 3},
                "status": {"members": [{"nodeId": 2, "pod": "orders-1", "role": "voter", "healthy": true, "lag": lag}]}}),
            )
        };
        let out = pass(
            vec![
                Init,
                InitApply(qc(1, 0)),
                InitDone,
                Apply(qc(1, 7)),
                Apply(qc(1, 9)),
                Apply(qc(2, 9)),
            ],
            cluster_key,
        )
        .await;
        let generations: Vec<_> = out.iter().map(|q| q.metadata.generation).collect();
        assert_eq!(generations, [Some(1), Some(2)]);
    }

    #[tokio::test]
    async fn pods_wake_it_on_readiness_termination_and_replacement_only() {
        use watcher::Event::*;
        let pod = |uid: &str, ready: &str, role: &str, deleting: bool| -> Pod {
            let mut p = json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "orders-1", "namespace": "shop", "uid": uid,
                             "labels": {"sqsraft.io/role": role, REVISION_LABEL: "r1"}},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": ready}]}});
            if deleting {
                p["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
            }
            obj(p)
        };
        let out = pass(
            vec![
                Apply(pod("a", "True", "follower", false)),
                // The operator's own label write.
                Apply(pod("a", "True", "leader", false)),
                Apply(pod("a", "True", "leader", true)),
                Apply(pod("a", "False", "leader", true)),
                Delete(pod("a", "False", "leader", true)),
                // The replacement, under a new uid.
                Apply(pod("b", "False", "follower", false)),
                Apply(pod("b", "True", "follower", false)),
            ],
            pod_key,
        )
        .await;
        let seen: Vec<_> = out
            .iter()
            .map(|p| {
                (
                    p.metadata.uid.clone().unwrap(),
                    p.metadata.deletion_timestamp.is_some(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("a".to_string(), false),
                ("a".into(), true),
                ("a".into(), true),
                ("a".into(), true),
                ("b".into(), false),
                ("b".into(), false),
            ]
        );
    }

    #[tokio::test]
    async fn owned_objects_wake_it_on_spec_and_metadata_not_on_status() {
        use watcher::Event::*;
        let sts = |generation: i64, ready: i32, label: &str| -> StatefulSet {
            obj(json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": "orders", "namespace": "shop", "uid": "s",
                             "generation": generation, "resourceVersion": format!("{generation}{ready}{label}"),
                             "labels": {"x": label}},
                "status": {"replicas": 3, "readyReplicas": ready}}))
        };
        let out = pass(
            vec![
                Apply(sts(1, 1, "a")),
                Apply(sts(1, 2, "a")),
                Apply(sts(1, 3, "a")),
                Apply(sts(1, 3, "edited")),
                Apply(sts(2, 3, "edited")),
                Delete(sts(2, 3, "edited")),
            ],
            owned_key,
        )
        .await;
        assert_eq!(out.len(), 4);
        // Secrets have no generation: every change counts.
        let secret = |rv: &str| -> Secret {
            obj(json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "t", "namespace": "shop", "uid": "t", "resourceVersion": rv}}))
        };
        let out = pass(
            vec![Apply(secret("1")), Apply(secret("1")), Apply(secret("2"))],
            owned_key,
        )
        .await;
        assert_eq!(out.len(), 2);
    }
}
