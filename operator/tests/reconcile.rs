//! Reconcile flows against an in-memory API server (kube's mock service) and a fake
//! Raft group: create, scale 3→5, 5→3, refusal, paused, user-supplied Secret, deletion.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::fake_api::{FakeApi, Fault};
use common::fake_raft::FakeRaft;
use serde_json::{Value, json};
use sqsraft_operator::build::OperatorDefaults;
use sqsraft_operator::controller::{self, Category, Context};
use sqsraft_operator::crd::QueueCluster;
use sqsraft_operator::membership::AdminCall;
use sqsraft_operator::metrics::Metrics;

const QC_GV: &str = "sqsraft.io/v1alpha1";

struct Harness {
    api: FakeApi,
    raft: FakeRaft,
    ctx: Arc<Context<FakeRaft>>,
    ns: String,
    name: String,
}

impl Harness {
    fn new(fixture: &str) -> Self {
        let qc = common::fixture(fixture);
        let ns = qc.metadata.namespace.clone().unwrap();
        let name = qc.metadata.name.clone().unwrap();
        let api = FakeApi::default();
        api.store.lock().unwrap().put(
            QC_GV,
            "queueclusters",
            &ns,
            &name,
            serde_json::to_value(&qc).unwrap(),
        );
        let raft = FakeRaft::new(api.store.clone(), &ns, &name);
        let ctx = Arc::new(Context::new(
            api.client(),
            OperatorDefaults::default(),
            raft.clone(),
            Arc::new(Metrics::default()),
        ));
        Self {
            api,
            raft,
            ctx,
            ns,
            name,
        }
    }

    fn qc(&self) -> QueueCluster {
        let store = self.api.store.lock().unwrap();
        let v = store
            .get(QC_GV, "queueclusters", &self.ns, &self.name)
            .unwrap();
        serde_json::from_value(v.clone()).unwrap()
    }

    fn edit_spec(&self, f: impl FnOnce(&mut Value)) {
        let mut store = self.api.store.lock().unwrap();
        let mut v = store
            .get(QC_GV, "queueclusters", &self.ns, &self.name)
            .unwrap()
            .clone();
        f(&mut v["spec"]);
        let generation = v["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
        v["metadata"]["generation"] = json!(generation);
        store.put(QC_GV, "queueclusters", &self.ns, &self.name, v);
    }

    fn get(&self, gv: &str, plural: &str, name: &str) -> Option<Value> {
        self.api
            .store
            .lock()
            .unwrap()
            .get(gv, plural, &self.ns, name)
            .cloned()
    }

    async fn reconcile(&self) -> Result<kube::runtime::controller::Action, controller::Error> {
        controller::reconcile(Arc::new(self.qc()), self.ctx.clone()).await
    }

    /// Plays the StatefulSet controller and kubelet: pods and PVCs for ordinals below
    /// `spec.replicas`, ready unless down; pods above are deleted (PVCs stay). PVCs are
    /// created from the claim template (class `standard` when it names none, as the
    /// default-StorageClass admission sets it) and bound at the size requested; and it
    /// plays the volume resizer: a PVC requesting more than its capacity gets it.
    fn kubelet(&self) {
        let mut store = self.api.store.lock().unwrap();
        let Some(sts) = store
            .get("apps/v1", "statefulsets", &self.ns, &self.name)
            .cloned()
        else {
            return;
        };
        let replicas = sts["spec"]["replicas"].as_u64().unwrap() as u32;
        // The StatefulSet controller's revision of the current template.
        let revision = {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            sts["spec"]["template"].to_string().hash(&mut hasher);
            format!("{}-{:x}", self.name, hasher.finish())
        };
        let mut sts = sts;
        let generation = sts["metadata"]["generation"].clone();
        sts["status"] = json!({"updateRevision": revision, "observedGeneration": generation});
        store.put("apps/v1", "statefulsets", &self.ns, &self.name, sts.clone());
        let mut labels = sts["spec"]["template"]["metadata"]["labels"].clone();
        labels["controller-revision-hash"] = json!(revision);
        let claim = sts["spec"]["volumeClaimTemplates"][0].clone();
        let claim_labels = claim["metadata"]["labels"].clone();
        let mut claim_spec = claim["spec"].clone();
        if claim_spec["storageClassName"].is_null() {
            claim_spec["storageClassName"] = json!("standard");
        }
        let down = self.raft.raft.lock().unwrap().down.clone();
        for o in 0..8u32 {
            let pod = self.raft.names.pod(o);
            let pvc = self.raft.names.pvc(o);
            // A deleted pod runs its preStop hook (still answering) for one pass, is
            // gone the next, and its replacement appears the pass after.
            if let Some(mut p) = store.get("v1", "pods", &self.ns, &pod).cloned()
                && !p["metadata"]["deletionTimestamp"].is_null()
            {
                if p["metadata"]["annotations"]["test/pre-stop"].is_null() {
                    p["metadata"]["annotations"]["test/pre-stop"] = json!("running");
                    store.put("v1", "pods", &self.ns, &pod, p);
                } else {
                    store.remove("v1", "pods", &self.ns, &pod);
                }
                continue;
            }
            if o < replicas {
                let ready = if down.contains(&o) { "False" } else { "True" };
                let existing = store.get("v1", "pods", &self.ns, &pod).cloned();
                let mut p = existing.unwrap_or_else(|| {
                    json!({"apiVersion": "v1", "kind": "Pod",
                           "metadata": {"name": pod, "namespace": self.ns, "labels": labels,
                                        "uid": format!("{pod}-{revision}")}})
                });
                p["status"] = json!({"conditions": [{"type": "Ready", "status": ready}]});
                store.put("v1", "pods", &self.ns, &pod, p);
                let mut volume = store
                    .get("v1", "persistentvolumeclaims", &self.ns, &pvc)
                    .cloned()
                    .unwrap_or_else(|| {
                        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                               "metadata": {"name": pvc, "namespace": self.ns, "labels": claim_labels,
                                            "uid": format!("{pvc}-1")},
                               "spec": claim_spec})
                    });
                let requested = volume["spec"]["resources"]["requests"]["storage"].clone();
                if volume["status"]["capacity"]["storage"] != requested {
                    volume["status"] =
                        json!({"phase": "Bound", "capacity": {"storage": requested}});
                    store.put("v1", "persistentvolumeclaims", &self.ns, &pvc, volume);
                }
            } else {
                store.remove("v1", "pods", &self.ns, &pod);
            }
        }
    }

    /// Reconciles (with the kubelet in between) until status says Converged.
    async fn converge(&self) {
        for _ in 0..40 {
            self.reconcile().await.expect("reconcile");
            self.kubelet();
            if condition(&self.qc(), "Progressing").1 == "Converged" {
                return;
            }
        }
        panic!(
            "not converged: {:#?}\nevents: {:?}",
            self.qc().status,
            self.events()
        );
    }

    fn revisions(&self) -> BTreeSet<String> {
        let store = self.api.store.lock().unwrap();
        store
            .list("v1", "pods", &self.ns)
            .into_iter()
            .map(|(_, p)| {
                p["metadata"]["labels"]["controller-revision-hash"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    fn voters(&self) -> BTreeSet<u32> {
        self.raft.raft.lock().unwrap().voters.clone()
    }

    fn sts_replicas(&self) -> u64 {
        self.get("apps/v1", "statefulsets", &self.name).unwrap()["spec"]["replicas"]
            .as_u64()
            .unwrap()
    }

    fn pvcs(&self) -> BTreeSet<String> {
        let store = self.api.store.lock().unwrap();
        store
            .list("v1", "persistentvolumeclaims", &self.ns)
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    /// (type, reason) of every Event, in creation order of names.
    fn events(&self) -> Vec<(String, String)> {
        let store = self.api.store.lock().unwrap();
        store
            .list("events.k8s.io/v1", "events", &self.ns)
            .into_iter()
            .map(|(_, e)| {
                (
                    e["type"].as_str().unwrap_or("").to_string(),
                    e["reason"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    /// Occurrences of Events with `reason` (repeats are folded into a series).
    fn count_events(&self, reason: &str) -> u64 {
        let store = self.api.store.lock().unwrap();
        store
            .list("events.k8s.io/v1", "events", &self.ns)
            .into_iter()
            .filter(|(_, e)| e["reason"] == reason)
            .map(|(_, e)| e["series"]["count"].as_u64().unwrap_or(1))
            .sum()
    }

    fn writes(&self) -> Vec<(String, String)> {
        self.api.store.lock().unwrap().writes()
    }

    fn clear_log(&self) {
        self.api.store.lock().unwrap().log.clear();
    }
}

/// (status, reason, message) of condition `type_`.
fn condition(qc: &QueueCluster, type_: &str) -> (String, String, String) {
    qc.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
        .unwrap_or_default()
}

#[tokio::test]
async fn create_builds_everything_bootstraps_and_reports_status() {
    let h = Harness::new("minimal");
    h.converge().await;

    for svc in ["orders", "orders-headless", "orders-leader"] {
        let s = h.get("v1", "services", svc).expect(svc);
        assert_eq!(s["metadata"]["ownerReferences"][0]["kind"], "QueueCluster");
    }
    assert!(
        h.get("policy/v1", "poddisruptionbudgets", "orders")
            .is_some()
    );
    let policy = h
        .get("networking.k8s.io/v1", "networkpolicies", "orders")
        .expect("a NetworkPolicy by default");
    assert_eq!(policy["spec"]["ingress"][0]["ports"][0]["port"], 9325);
    assert_eq!(h.sts_replicas(), 3);
    assert_eq!(h.voters(), BTreeSet::from([0, 1, 2]));

    // The token used for admin calls is the one stored in the Secret.
    let token_secret = h.get("v1", "secrets", "orders-cluster-token").unwrap();
    let token: k8s_openapi::ByteString =
        serde_json::from_value(token_secret["data"]["token"].clone()).unwrap();
    let token = String::from_utf8(token.0).unwrap();
    assert_eq!(token.len(), 64);
    let calls = h.raft.raft.lock().unwrap().calls.clone();
    assert!(!calls.is_empty());
    assert!(calls.iter().all(|(_, _, t)| *t == token));
    // Exactly one bootstrap, through pod 0, with all three voters.
    let inits: Vec<_> = calls
        .iter()
        .filter(|(_, c, _)| matches!(c, AdminCall::Init(_)))
        .collect();
    assert_eq!(inits.len(), 1);
    assert_eq!(inits[0].0, 0);

    let creds = h.get("v1", "secrets", "orders-credentials").unwrap();
    assert!(creds["data"]["credentials.json"].is_string());

    let qc = h.qc();
    let status = qc.status.clone().unwrap();
    assert_eq!(status.ready.as_deref(), Some("3/3"));
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(status.leader.as_ref().unwrap().pod, "orders-0");
    assert_eq!(status.leader.as_ref().unwrap().node_id, 1);
    assert_eq!(status.term, Some(1));
    assert_eq!(status.members.len(), 3);
    assert!(status.members.iter().all(|m| m.healthy));
    assert_eq!(status.lease_healthy, Some(true));
    assert_eq!(
        status.endpoint.as_deref(),
        Some("http://orders.shop.svc:9324")
    );
    assert_eq!(
        status.credentials_secret.as_deref(),
        Some("orders-credentials")
    );
    assert_eq!(
        status.selector.as_deref(),
        Some("app.kubernetes.io/instance=orders,app.kubernetes.io/name=sqsraft")
    );
    assert_eq!(condition(&qc, "Available").0, "True");
    assert_eq!(condition(&qc, "Degraded").0, "False");
    assert_eq!(condition(&qc, "ReconciliationPaused").0, "False");

    // Pods carry role labels so the leader Service follows the leader.
    let role = |o: u32| {
        h.get("v1", "pods", &format!("orders-{o}")).unwrap()["metadata"]["labels"]
            ["sqsraft.io/role"]
            .clone()
    };
    assert_eq!(role(0), "leader");
    assert_eq!(role(1), "follower");
    assert_eq!(role(2), "follower");
    assert_eq!(h.count_events("Bootstrap"), 1);
    let note = {
        let store = h.api.store.lock().unwrap();
        store
            .list("events.k8s.io/v1", "events", "shop")
            .into_iter()
            .find(|(_, e)| e["reason"] == "Bootstrap")
            .map(|(_, e)| e["note"].clone())
            .unwrap()
    };
    assert_eq!(note, "initializing the Raft group with 3 voters");
    assert!(
        h.ctx
            .metrics
            .render()
            .contains("sqsraft_operator_membership_steps_total{step=\"Bootstrap\"} 1")
    );
}

#[tokio::test]
async fn generated_secrets_are_never_overwritten() {
    let h = Harness::new("minimal");
    h.converge().await;
    let creds = h.get("v1", "secrets", "orders-credentials").unwrap();
    let token = h.get("v1", "secrets", "orders-cluster-token").unwrap();
    h.clear_log();
    for _ in 0..3 {
        h.reconcile().await.unwrap();
    }
    assert_eq!(h.get("v1", "secrets", "orders-credentials").unwrap(), creds);
    assert_eq!(
        h.get("v1", "secrets", "orders-cluster-token").unwrap(),
        token
    );
    assert!(
        !h.writes().iter().any(|(_, p)| p.contains("/secrets")),
        "{:?}",
        h.writes()
    );
}

#[tokio::test]
async fn scale_up_three_to_five_then_down_to_three() {
    let h = Harness::new("minimal");
    h.converge().await;

    h.edit_spec(|s| s["replicas"] = json!(5));
    h.converge().await;
    assert_eq!(h.voters(), BTreeSet::from([0, 1, 2, 3, 4]));
    assert_eq!(h.sts_replicas(), 5);
    assert_eq!(h.count_events("AddLearner"), 2);
    assert_eq!(h.count_events("Promote"), 2);
    // Adding a learner does not block the reconcile until it caught up.
    let adds: Vec<bool> = h
        .raft
        .raft
        .lock()
        .unwrap()
        .calls
        .iter()
        .filter_map(|(_, c, _)| match c {
            AdminCall::AddLearner(req) => Some(req.blocking),
            _ => None,
        })
        .collect();
    assert_eq!(adds, [false, false]);
    let qc = h.qc();
    assert_eq!(qc.status.as_ref().unwrap().observed_generation, Some(2));
    assert_eq!(qc.status.as_ref().unwrap().members.len(), 5);
    assert_eq!(qc.status.as_ref().unwrap().ready.as_deref(), Some("5/5"));

    h.edit_spec(|s| s["replicas"] = json!(3));
    h.converge().await;
    assert_eq!(h.voters(), BTreeSet::from([0, 1, 2]));
    assert_eq!(h.sts_replicas(), 3);
    assert_eq!(h.count_events("RemoveVoter"), 2);
    assert_eq!(h.count_events("DeletePvc"), 2);
    assert_eq!(
        h.pvcs(),
        BTreeSet::from([
            "data-orders-0".to_string(),
            "data-orders-1".into(),
            "data-orders-2".into()
        ])
    );
    assert_eq!(h.qc().status.unwrap().members.len(), 3);
}

#[tokio::test]
async fn scale_down_refused_while_a_member_is_down() {
    let h = Harness::new("minimal");
    h.edit_spec(|s| s["replicas"] = json!(5));
    h.converge().await;
    h.raft.raft.lock().unwrap().down.insert(1);
    h.kubelet();
    h.edit_spec(|s| s["replicas"] = json!(3));
    h.reconcile().await.unwrap();
    let qc = h.qc();
    let (degraded, reason, message) = condition(&qc, "Degraded");
    assert_eq!(
        (degraded.as_str(), reason.as_str()),
        ("True", "ScaleRefused")
    );
    assert!(message.contains("#1"), "{message}");
    assert_eq!(h.count_events("ScaleRefused"), 1);
    assert_eq!(
        h.events()
            .iter()
            .find(|(_, r)| r == "ScaleRefused")
            .unwrap()
            .0,
        "Warning"
    );
    assert_eq!(h.voters().len(), 5);
    assert!(
        !qc.status
            .as_ref()
            .unwrap()
            .members
            .iter()
            .find(|m| m.pod == "orders-1")
            .unwrap()
            .healthy
    );

    h.raft.raft.lock().unwrap().down.clear();
    h.kubelet();
    h.converge().await;
    assert_eq!(h.voters(), BTreeSet::from([0, 1, 2]));
    assert_eq!(condition(&h.qc(), "Degraded").0, "False");
}

#[tokio::test]
async fn a_disabled_network_policy_is_deleted_and_a_users_is_left_alone() {
    let h = Harness::new("minimal");
    h.converge().await;
    assert!(
        h.get("networking.k8s.io/v1", "networkpolicies", "orders")
            .is_some()
    );
    h.edit_spec(|s| s["networkPolicy"] = json!({"enabled": false}));
    h.reconcile().await.unwrap();
    assert!(
        h.get("networking.k8s.io/v1", "networkpolicies", "orders")
            .is_none()
    );

    // A policy of that name the user made (not owned by the cluster) is never deleted.
    let users = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                       "metadata": {"name": "orders", "namespace": "shop"},
                       "spec": {"podSelector": {}}});
    h.api.store.lock().unwrap().put(
        "networking.k8s.io/v1",
        "networkpolicies",
        "shop",
        "orders",
        users,
    );
    h.reconcile().await.unwrap();
    assert!(
        h.get("networking.k8s.io/v1", "networkpolicies", "orders")
            .is_some()
    );
}

#[tokio::test]
async fn paused_cluster_is_observed_but_not_changed() {
    let h = Harness::new("minimal");
    h.converge().await;
    h.edit_spec(|s| {
        s["replicas"] = json!(5);
        s["reconciliationPaused"] = json!(true);
    });
    h.clear_log();
    let calls_before = h.raft.raft.lock().unwrap().calls.len();
    h.reconcile().await.unwrap();
    // The only write is the status.
    assert_eq!(
        h.writes(),
        vec![(
            "PATCH".to_string(),
            "/apis/sqsraft.io/v1alpha1/namespaces/shop/queueclusters/orders/status".to_string()
        )]
    );
    let calls = h.raft.raft.lock().unwrap().calls[calls_before..].to_vec();
    assert!(
        calls.iter().all(|(_, c, _)| *c == AdminCall::Status),
        "{calls:?}"
    );
    assert_eq!(h.sts_replicas(), 3);
    let qc = h.qc();
    assert_eq!(condition(&qc, "ReconciliationPaused").0, "True");
    assert_eq!(condition(&qc, "Available").0, "True");
    assert_eq!(qc.status.as_ref().unwrap().members.len(), 3);

    // Unpausing resumes the scale-up.
    h.edit_spec(|s| s["reconciliationPaused"] = json!(false));
    h.converge().await;
    assert_eq!(h.voters().len(), 5);
    assert_eq!(condition(&h.qc(), "ReconciliationPaused").0, "False");
}

#[tokio::test]
async fn user_supplied_secret_is_waited_for_and_used_as_is() {
    let h = Harness::new("minimal");
    h.edit_spec(|s| s["credentials"] = json!({"secretName": "my-keys"}));
    h.reconcile().await.unwrap();
    let qc = h.qc();
    let (degraded, reason, _) = condition(&qc, "Degraded");
    assert_eq!(
        (degraded.as_str(), reason.as_str()),
        ("True", "CredentialsSecretMissing")
    );
    assert!(h.get("apps/v1", "statefulsets", "orders").is_none());
    assert_eq!(h.count_events("CredentialsSecretMissing"), 1);

    let user_secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "my-keys", "namespace": "shop", "resourceVersion": "42"},
        "data": {"credentials.json": "eyJjcmVkZW50aWFscyI6W119"}});
    h.api
        .store
        .lock()
        .unwrap()
        .put("v1", "secrets", "shop", "my-keys", user_secret.clone());
    h.clear_log();
    h.converge().await;
    assert_eq!(h.get("v1", "secrets", "my-keys").unwrap(), user_secret);
    assert!(h.get("v1", "secrets", "orders-credentials").is_none());
    assert!(
        !h.writes().iter().any(|(_, p)| p.ends_with("/my-keys")),
        "{:?}",
        h.writes()
    );
    let sts = h.get("apps/v1", "statefulsets", "orders").unwrap();
    let volumes = sts["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap();
    assert!(
        volumes
            .iter()
            .any(|v| v["secret"]["secretName"] == "my-keys")
    );
    assert_eq!(
        h.qc().status.unwrap().credentials_secret.as_deref(),
        Some("my-keys")
    );
}

#[tokio::test]
async fn deleted_cluster_is_left_to_the_garbage_collector() {
    let h = Harness::new("minimal");
    h.converge().await;
    {
        let mut store = h.api.store.lock().unwrap();
        let mut v = store
            .get(QC_GV, "queueclusters", "shop", "orders")
            .unwrap()
            .clone();
        v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        store.put(QC_GV, "queueclusters", "shop", "orders", v);
        store.log.clear();
    }
    // Even with every pod gone (cluster unreachable) deletion needs nothing from us.
    h.raft.raft.lock().unwrap().down.extend([0, 1, 2]);
    let calls_before = h.raft.raft.lock().unwrap().calls.len();
    let action = h.reconcile().await.unwrap();
    assert_eq!(action, kube::runtime::controller::Action::await_change());
    assert!(h.api.store.lock().unwrap().log.is_empty());
    assert_eq!(h.raft.raft.lock().unwrap().calls.len(), calls_before);
    assert!(h.qc().metadata.finalizers.is_none());
}

#[tokio::test]
async fn invalid_spec_reported_without_changes() {
    let h = Harness::new("minimal");
    h.edit_spec(|s| s["replicas"] = json!(0));
    h.reconcile().await.unwrap();
    let qc = h.qc();
    assert_eq!(condition(&qc, "Degraded").1, "InvalidSpec");
    assert_eq!(h.count_events("InvalidSpec"), 1);
    assert!(h.get("apps/v1", "statefulsets", "orders").is_none());
}

#[tokio::test]
async fn errors_back_off_exponentially() {
    assert_eq!(controller::backoff(1).as_secs(), 5);
    assert_eq!(controller::backoff(2).as_secs(), 10);
    assert_eq!(controller::backoff(3).as_secs(), 20);
    assert_eq!(controller::backoff(20).as_secs(), 160);
    assert!(controller::backoff(100).as_secs() <= 300);
}

/// The controller runtime (watchers on QueueClusters and owned objects, reconcile,
/// graceful shutdown) drives the same flow as the direct reconcile calls above.
#[tokio::test]
async fn controller_runtime_reconciles_watched_clusters() {
    let h = Harness::new("minimal");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let ctx = h.ctx.clone();
    let runner = tokio::spawn(controller::run(ctx, Some("shop".into()), async move {
        let _ = stop_rx.await;
    }));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while h.get("apps/v1", "statefulsets", "orders").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "no StatefulSet; requests: {:?}",
            h.api.store.lock().unwrap().log
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(());
    tokio::time::timeout(std::time::Duration::from_secs(20), runner)
        .await
        .expect("controller stops on shutdown")
        .unwrap();
    let log = h.api.store.lock().unwrap().log.clone();
    // Watches: the QueueClusters, the owned kinds, and the server pods.
    for path in [
        "/apis/sqsraft.io/v1alpha1/namespaces/shop/queueclusters",
        "/apis/apps/v1/namespaces/shop/statefulsets",
        "/api/v1/namespaces/shop/services",
        "/api/v1/namespaces/shop/secrets",
        "/apis/policy/v1/namespaces/shop/poddisruptionbudgets",
        "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies",
        "/api/v1/namespaces/shop/pods",
    ] {
        assert!(
            log.iter().any(|(m, p)| m == "GET" && p == path),
            "no list of {path}: {log:?}"
        );
    }
    assert!(
        h.ctx
            .metrics
            .render()
            .contains("sqsraft_operator_reconciles_total")
    );
}

#[tokio::test]
async fn template_change_rolls_followers_first_and_the_leader_last() {
    let h = Harness::new("minimal");
    h.converge().await;
    let before = h.revisions();
    assert_eq!(before.len(), 1);
    h.clear_log();

    h.edit_spec(|s| s["image"] = json!("sqsraft/sqsraft-server:next"));
    h.converge().await;
    let after = h.revisions();
    assert_eq!(after.len(), 1, "every pod on one revision");
    assert_ne!(after, before, "pods run the new template");
    // Restarts go through the Eviction API (so the PDB guards them).
    let deletes: Vec<String> = h
        .writes()
        .into_iter()
        .filter(|(m, p)| m == "POST" && p.ends_with("/eviction"))
        .map(|(_, p)| p.rsplit('/').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(deletes, ["orders-1", "orders-2", "orders-0"]);
    assert_eq!(h.count_events("TransferLeader"), 1);
    assert_eq!(h.count_events("RestartPod"), 3);
    assert_eq!(h.voters(), BTreeSet::from([0, 1, 2]));
    // Leadership moved off #0 before it restarted; the role labels followed.
    let leader = h.qc().status.unwrap().leader.unwrap();
    assert_eq!(leader.pod, "orders-1");
    let role = |pod: &str| {
        h.get("v1", "pods", pod).unwrap()["metadata"]["labels"]["sqsraft.io/role"].clone()
    };
    assert_eq!(role("orders-1"), "leader");
    assert_eq!(role("orders-0"), "follower");
}

#[tokio::test]
async fn leaderless_cluster_keeps_its_members_as_unhealthy_and_is_never_rebootstrapped() {
    let h = Harness::new("minimal");
    h.converge().await;
    // Every pod is down: no leader answers.
    h.raft.raft.lock().unwrap().down.extend([0, 1, 2]);
    h.kubelet();
    h.reconcile().await.unwrap();
    let qc = h.qc();
    let status = qc.status.clone().unwrap();
    assert!(status.leader.is_none());
    assert_eq!(status.members.len(), 3);
    assert!(status.members.iter().all(|m| !m.healthy));
    assert_eq!(status.lease_healthy, Some(false));
    assert_eq!(
        condition(&qc, "Available"),
        (
            "False".into(),
            "NoLeader".into(),
            "no pod reports itself as Raft leader".into()
        )
    );
    assert_eq!(condition(&qc, "Degraded").1, "NoLeader");
    assert_eq!(condition(&qc, "Progressing").1, "Waiting");

    // The pods come back with empty volumes (data lost): the operator refuses to
    // bootstrap a new, empty cluster over it.
    {
        let mut r = h.raft.raft.lock().unwrap();
        r.down.clear();
        r.state.clear();
        r.leader = None;
        r.voters.clear();
    }
    h.kubelet();
    h.reconcile().await.unwrap();
    let qc = h.qc();
    let (degraded, reason, message) = condition(&qc, "Degraded");
    assert_eq!(
        (degraded.as_str(), reason.as_str()),
        ("True", "ScaleRefused")
    );
    assert!(message.contains("bootstrapped before"), "{message}");
    let inits = h
        .raft
        .raft
        .lock()
        .unwrap()
        .calls
        .iter()
        .filter(|(_, c, _)| matches!(c, AdminCall::Init(_)))
        .count();
    assert_eq!(inits, 1, "only the original bootstrap");
}

/// Every pass writes the status exactly once, errors included: a 422 from the API
/// server becomes Degraded with the API's message and a Warning Event, and the
/// reconcile still fails so it is retried with backoff. (Before the pipeline, an API
/// error returned before any status write and the user saw nothing.)
#[tokio::test]
async fn api_errors_reach_the_status_and_an_event() {
    let h = Harness::new("minimal");
    h.converge().await;
    let message = "StatefulSet.apps \"orders\" is invalid: spec.template.spec.containers[0].image: Required value";
    h.api.store.lock().unwrap().faults.push(Fault {
        method: "PATCH".into(),
        path_suffix: "/statefulsets/orders".into(),
        code: 422,
        reason: "Invalid".into(),
        message: message.into(),
    });
    h.clear_log();
    let error = h.reconcile().await.unwrap_err();
    assert_eq!(error.category(), Category::Kubernetes);
    let status_path = "/apis/sqsraft.io/v1alpha1/namespaces/shop/queueclusters/orders/status";
    let status_writes = |h: &Harness| h.writes().iter().filter(|(_, p)| p == status_path).count();
    assert_eq!(status_writes(&h), 1);
    let qc = h.qc();
    let (degraded, reason, text) = condition(&qc, "Degraded");
    assert_eq!((degraded.as_str(), reason.as_str()), ("True", "KubeApi"));
    assert!(text.starts_with("applying StatefulSet orders: "), "{text}");
    assert!(text.contains(message), "{text}");
    assert_eq!(condition(&qc, "Progressing").0, "False");
    assert_eq!(h.count_events("KubeApi"), 1);
    assert!(h.events().contains(&("Warning".into(), "KubeApi".into())));
    // The members were not lost from status while the step could not run.
    assert_eq!(qc.status.unwrap().members.len(), 3);

    // Fixed: the next pass clears the condition.
    h.api.store.lock().unwrap().faults.clear();
    h.clear_log();
    h.reconcile().await.unwrap();
    assert_eq!(status_writes(&h), 1);
    assert_eq!(condition(&h.qc(), "Degraded").0, "False");
}

/// A converged cluster's reconcile writes neither its status (unchanged) nor the role
/// labels (already right); the server-side applies of the owned objects are no-ops
/// the API server does not even version. Before, every pass patched the status, and
/// each status change woke the controller again.
#[tokio::test]
async fn steady_state_reconcile_writes_nothing() {
    let h = Harness::new("minimal");
    h.converge().await;
    h.clear_log();
    for _ in 0..3 {
        let action = h.reconcile().await.unwrap();
        assert_eq!(
            action,
            kube::runtime::controller::Action::requeue(std::time::Duration::from_secs(10))
        );
    }
    let writes = h.writes();
    assert!(
        !writes
            .iter()
            .any(|(_, p)| p.ends_with("/status") || p.contains("/pods/")),
        "{writes:?}"
    );
    // A real change (a member falls behind) is written at once.
    h.raft.raft.lock().unwrap().down.insert(2);
    h.kubelet();
    h.reconcile().await.unwrap();
    let writes = h.writes();
    assert!(
        writes
            .iter()
            .any(|(_, p)| p.ends_with("/queueclusters/orders/status")),
        "{writes:?}"
    );
    assert_eq!(condition(&h.qc(), "Degraded").1, "MemberUnhealthy");
}

/// A rolling restart takes one pod down at a time and waits for its replacement: a pod
/// in its preStop hook (still answering healthy) or not yet back counts as down.
/// Before, the terminating pod counted as healthy and the next one was evicted while
/// the first was still going down.
#[tokio::test]
async fn rolling_restart_waits_for_each_pod_to_come_back() {
    let h = Harness::new("minimal");
    h.converge().await;
    h.edit_spec(|s| s["image"] = json!("sqsraft/sqsraft-server:next"));
    let down = |h: &Harness| -> Vec<String> {
        (0..3u32)
            .map(|o| h.raft.names.pod(o))
            .filter(|pod| {
                h.get("v1", "pods", pod)
                    .is_none_or(|p| !p["metadata"]["deletionTimestamp"].is_null())
            })
            .collect()
    };
    for _ in 0..60 {
        h.reconcile().await.expect("reconcile");
        let gone = down(&h);
        assert!(gone.len() <= 1, "more than one pod down at once: {gone:?}");
        h.kubelet();
        if condition(&h.qc(), "Progressing").1 == "Converged" && h.revisions().len() == 1 {
            break;
        }
    }
    assert_eq!(condition(&h.qc(), "Progressing").1, "Converged");
    let evictions = h
        .writes()
        .into_iter()
        .filter(|(m, p)| m == "POST" && p.ends_with("/eviction"))
        .count();
    assert_eq!(evictions, 3);
}

/// Pod restarts and volume deletes carry the UID the planner observed: an object
/// replaced since (same name, new UID) is left alone. Before, they deleted by name.
#[tokio::test]
async fn restarts_and_volume_deletes_only_hit_the_object_observed() {
    use sqsraft_operator::build::{Cluster, OperatorDefaults};
    use sqsraft_operator::controller::workloads::KubeWorkloads;
    use sqsraft_operator::membership::Workloads;

    let h = Harness::new("minimal");
    h.converge().await;
    let qc = h.qc();
    let defaults = OperatorDefaults::default();
    let cluster = Cluster::new(&qc, &defaults).unwrap();
    let wl = KubeWorkloads::new(&cluster, &h.api.client(), None);
    wl.observe().await.unwrap();
    // Both objects are replaced after the observation.
    {
        let mut store = h.api.store.lock().unwrap();
        for (plural, name) in [
            ("pods", "orders-2"),
            ("persistentvolumeclaims", "data-orders-2"),
        ] {
            let mut v = store.get("v1", plural, "shop", name).unwrap().clone();
            v["metadata"]["uid"] = json!("a-new-uid");
            store.put("v1", plural, "shop", name, v);
        }
    }
    wl.restart_pod(2).await.unwrap();
    wl.delete_volume(2).await.unwrap();
    let pod = h.get("v1", "pods", "orders-2").unwrap();
    assert!(pod["metadata"]["deletionTimestamp"].is_null(), "{pod}");
    assert!(
        h.get("v1", "persistentvolumeclaims", "data-orders-2")
            .is_some()
    );

    // Observed again, the same calls go through.
    wl.observe().await.unwrap();
    wl.restart_pod(2).await.unwrap();
    wl.delete_volume(2).await.unwrap();
    assert!(!h.get("v1", "pods", "orders-2").unwrap()["metadata"]["deletionTimestamp"].is_null());
    assert!(
        h.get("v1", "persistentvolumeclaims", "data-orders-2")
            .is_none()
    );
}

/// `kubectl scale sts orders --replicas 1` behind the operator's back: quorum is gone
/// with the two pods. The operator grows the StatefulSet back to spec.replicas at once
/// instead of waiting for a leader, and the cluster recovers.
#[tokio::test]
async fn outside_scale_down_is_undone_before_waiting_for_a_leader() {
    let h = Harness::new("minimal");
    h.converge().await;
    {
        let mut store = h.api.store.lock().unwrap();
        let mut sts = store
            .get("apps/v1", "statefulsets", "shop", "orders")
            .unwrap()
            .clone();
        sts["spec"]["replicas"] = json!(1);
        store.put("apps/v1", "statefulsets", "shop", "orders", sts);
    }
    h.kubelet();
    h.raft.raft.lock().unwrap().leader = None;
    h.reconcile().await.unwrap();
    assert_eq!(h.sts_replicas(), 3);
    assert_eq!(
        h.count_events("GrowStatefulSet"),
        2,
        "the original create and the restore"
    );
    h.kubelet();
    {
        let mut r = h.raft.raft.lock().unwrap();
        r.leader = Some(0);
        r.term += 1;
    }
    h.converge().await;
    assert_eq!(h.voters(), BTreeSet::from([0, 1, 2]));
}

/// A Service the operator would create already exists without this QueueCluster as
/// controller: nothing is applied over it (a forced apply would take it over and the
/// garbage collector later delete it), the cluster goes Degraded with a clear message.
#[tokio::test]
async fn a_foreign_object_is_never_taken_over() {
    let h = Harness::new("minimal");
    let theirs = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "orders", "namespace": "shop", "uid": "theirs",
                     "labels": {"team": "payments"}},
        "spec": {"selector": {"app": "their-app"}, "ports": [{"port": 80}]}});
    h.api
        .store
        .lock()
        .unwrap()
        .put("v1", "services", "shop", "orders", theirs.clone());
    h.reconcile().await.unwrap();
    assert_eq!(h.get("v1", "services", "orders").unwrap(), theirs);
    assert!(h.get("apps/v1", "statefulsets", "orders").is_none());
    let (degraded, reason, message) = condition(&h.qc(), "Degraded");
    assert_eq!(
        (degraded.as_str(), reason.as_str()),
        ("True", "ForeignObject")
    );
    assert!(
        message.starts_with("Service orders already exists"),
        "{message}"
    );
    assert_eq!(h.count_events("ForeignObject"), 1);

    // Once the user removes it, the operator creates its own.
    h.api
        .store
        .lock()
        .unwrap()
        .remove("v1", "services", "shop", "orders");
    h.converge().await;
    let svc = h.get("v1", "services", "orders").unwrap();
    assert_eq!(
        svc["metadata"]["ownerReferences"][0]["kind"],
        "QueueCluster"
    );
}

/// The decoded `key` of a stored Secret.
fn secret_text(secret: &serde_json::Value, key: &str) -> String {
    let bytes: k8s_openapi::ByteString = serde_json::from_value(secret["data"][key].clone())
        .unwrap_or_else(|e| panic!("{key}: {e}"));
    String::from_utf8(bytes.0).unwrap()
}

/// A new cluster gets its own CA and a member certificate naming every pod; the CA's key
/// never reaches a pod; a steady cluster rewrites neither; a member certificate that no
/// longer chains to the CA is replaced while the CA stays; a CA Secret someone else made
/// is never used.
#[tokio::test]
async fn the_internal_port_pki_is_generated_kept_and_repaired() {
    use sqsraft_operator::pki::CertInfo;
    let h = Harness::new("minimal");
    h.converge().await;
    let ca = h.get("v1", "secrets", "orders-ca").expect("a CA Secret");
    let member = h
        .get("v1", "secrets", "orders-internal-tls")
        .expect("a member Secret");
    assert_eq!(ca["metadata"]["ownerReferences"][0]["kind"], "QueueCluster");
    assert_eq!(member["type"], "kubernetes.io/tls");
    let ca_cert = CertInfo::parse(&secret_text(&ca, "ca.crt")).unwrap();
    let cert = CertInfo::parse(&secret_text(&member, "tls.crt")).unwrap();
    assert!(cert.signed_by(&ca_cert));
    assert_eq!(secret_text(&member, "ca.crt"), secret_text(&ca, "ca.crt"));
    for name in [
        "*.orders-headless.shop.svc.cluster.local",
        "orders.shop.svc",
        "127.0.0.1",
    ] {
        assert!(cert.sans.contains(name), "{name} not in {:?}", cert.sans);
    }
    assert!(
        member["data"].get("ca.key").is_none(),
        "the CA key stays in the CA Secret"
    );
    let status = h.qc().status.unwrap().internal_tls.expect("TLS status");
    assert_eq!(status.secret_name, "orders-internal-tls");
    assert_eq!(
        status.certificate_not_after.map(|t| t.0.as_second()),
        Some(cert.not_after)
    );
    assert_eq!(
        status.ca_not_after.map(|t| t.0.as_second()),
        Some(ca_cert.not_after)
    );
    assert!(h.count_events("CertificateIssued") >= 1);

    h.clear_log();
    h.reconcile().await.unwrap();
    assert!(
        !h.writes().iter().any(|(_, p)| p.contains("/secrets/")),
        "{:?}",
        h.writes()
    );

    // A member certificate of another CA (say, restored from another cluster's backup).
    let (other, _) = sqsraft_operator::pki::Authority::generate(
        "other",
        std::time::SystemTime::now(),
        std::time::Duration::from_secs(86_400 * 30),
    )
    .unwrap();
    let foreign = other
        .issue(
            &sqsraft_operator::pki::member_profile("x", &["127.0.0.1".to_string()]),
            std::time::SystemTime::now(),
            std::time::Duration::from_secs(86_400),
        )
        .unwrap();
    let mut tampered = member.clone();
    tampered["data"]["tls.crt"] = json!(k8s_openapi::ByteString(foreign.cert_pem.into_bytes()));
    tampered["data"]["tls.key"] = json!(k8s_openapi::ByteString(foreign.key_pem.into_bytes()));
    h.api
        .store
        .lock()
        .unwrap()
        .put("v1", "secrets", "shop", "orders-internal-tls", tampered);
    h.reconcile().await.unwrap();
    let repaired = h.get("v1", "secrets", "orders-internal-tls").unwrap();
    let cert = CertInfo::parse(&secret_text(&repaired, "tls.crt")).unwrap();
    assert!(cert.signed_by(&ca_cert), "re-issued by the cluster CA");
    assert_eq!(
        h.get("v1", "secrets", "orders-ca").unwrap(),
        ca,
        "the CA stays"
    );

    // Another cluster's CA Secret of the same name is refused, not adopted.
    let h = Harness::new("minimal");
    let theirs = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "orders-ca", "namespace": "shop", "uid": "theirs"},
        "data": {"ca.crt": "eA==", "ca.key": "eA=="}});
    h.api
        .store
        .lock()
        .unwrap()
        .put("v1", "secrets", "shop", "orders-ca", theirs.clone());
    h.reconcile().await.unwrap();
    assert_eq!(h.get("v1", "secrets", "orders-ca").unwrap(), theirs);
    assert_eq!(condition(&h.qc(), "Degraded").1, "ForeignObject");
    assert!(h.get("v1", "secrets", "orders-internal-tls").is_none());
}

/// With `spec.internalTls.secretName` the operator waits for the user's Secret, mounts
/// it as is, never writes it, and generates no PKI of its own.
#[tokio::test]
async fn a_user_supplied_internal_tls_secret_is_waited_for_and_mounted_as_is() {
    use sqsraft_operator::pki::{Authority, member_profile};
    let h = Harness::new("minimal");
    h.edit_spec(|s| s["internalTls"] = json!({"secretName": "orders-mtls"}));
    h.reconcile().await.unwrap();
    let (degraded, reason, _) = condition(&h.qc(), "Degraded");
    assert_eq!(
        (degraded.as_str(), reason.as_str()),
        ("True", "InternalTlsSecretMissing")
    );
    assert!(h.get("apps/v1", "statefulsets", "orders").is_none());

    let now = std::time::SystemTime::now();
    let (ca, ca_issued) =
        Authority::generate("theirs", now, std::time::Duration::from_secs(86_400 * 30)).unwrap();
    let cert = ca
        .issue(
            &member_profile(
                "m",
                &["*.orders-headless.shop.svc.cluster.local".to_string()],
            ),
            now,
            std::time::Duration::from_secs(86_400),
        )
        .unwrap();
    let theirs = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "orders-mtls", "namespace": "shop", "resourceVersion": "7"},
        "type": "kubernetes.io/tls",
        "data": {"ca.crt": k8s_openapi::ByteString(ca_issued.cert_pem.into_bytes()),
                 "tls.crt": k8s_openapi::ByteString(cert.cert_pem.into_bytes()),
                 "tls.key": k8s_openapi::ByteString(cert.key_pem.into_bytes())}});
    h.api
        .store
        .lock()
        .unwrap()
        .put("v1", "secrets", "shop", "orders-mtls", theirs.clone());
    h.clear_log();
    h.converge().await;
    assert_eq!(h.get("v1", "secrets", "orders-mtls").unwrap(), theirs);
    assert!(
        !h.writes()
            .iter()
            .any(|(_, p)| p.contains("/secrets/orders-mtls"))
    );
    assert!(h.get("v1", "secrets", "orders-ca").is_none());
    assert!(h.get("v1", "secrets", "orders-internal-tls").is_none());
    let sts = h.get("apps/v1", "statefulsets", "orders").unwrap();
    let volumes = sts["spec"]["template"]["spec"]["volumes"].to_string();
    assert!(
        volumes.contains("\"secretName\":\"orders-mtls\""),
        "{volumes}"
    );
    let status = h.qc().status.unwrap().internal_tls.unwrap();
    assert_eq!(status.secret_name, "orders-mtls");
    assert_eq!(status.ca_not_after, None);
    assert!(status.certificate_not_after.is_some());
    assert_eq!(condition(&h.qc(), "Degraded").0, "False");
}

impl Harness {
    /// Stores StorageClass `name` with `allowVolumeExpansion: allow`.
    fn storage_class(&self, name: &str, allow: bool) {
        self.api.store.lock().unwrap().put(
            "storage.k8s.io/v1",
            "storageclasses",
            "",
            name,
            json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                   "metadata": {"name": name}, "provisioner": "example.com/disk",
                   "allowVolumeExpansion": allow}),
        );
    }

    /// `spec.resources.requests.storage` of every data PVC.
    fn pvc_requests(&self) -> Vec<(String, String)> {
        let store = self.api.store.lock().unwrap();
        store
            .list("v1", "persistentvolumeclaims", &self.ns)
            .into_iter()
            .map(|(n, p)| {
                let size = p["spec"]["resources"]["requests"]["storage"].as_str();
                (n, size.unwrap_or_default().to_string())
            })
            .collect()
    }

    fn claim_template(&self) -> Value {
        self.get("apps/v1", "statefulsets", &self.name).unwrap()["spec"]["volumeClaimTemplates"]
            .clone()
    }

    /// Sets the status of PVC `name` as a resizer reports it.
    fn pvc_status(&self, name: &str, status: Value) {
        let mut store = self.api.store.lock().unwrap();
        let mut pvc = store
            .get("v1", "persistentvolumeclaims", &self.ns, name)
            .unwrap()
            .clone();
        pvc["status"] = status;
        store.put("v1", "persistentvolumeclaims", &self.ns, name, pvc);
    }

    /// (pvc, state) of `status.volumeExpansion`.
    fn volume_expansion(&self) -> Vec<(String, String)> {
        let status = serde_json::to_value(self.qc().status.unwrap()).unwrap();
        status["volumeExpansion"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| {
                        let state = e["state"].as_str().unwrap().to_string();
                        (e["pvc"].as_str().unwrap().to_string(), state)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn pvc_patches(&self) -> usize {
        self.writes()
            .iter()
            .filter(|(m, p)| m == "PATCH" && p.contains("/persistentvolumeclaims/"))
            .count()
    }
}

fn sizes(entries: &[(&str, &str)]) -> Vec<(String, String)> {
    entries
        .iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect()
}

#[tokio::test]
async fn larger_storage_size_expands_the_pvcs_when_the_class_allows_it() {
    let h = Harness::new("minimal");
    h.storage_class("standard", true);
    h.converge().await;
    let template = h.claim_template();
    assert_eq!(
        template[0]["spec"]["resources"]["requests"]["storage"],
        "1Gi"
    );

    h.edit_spec(|s| s["storage"] = json!({"size": "2Gi"}));
    h.clear_log();
    h.reconcile().await.unwrap();
    // One pass patches every PVC; the StatefulSet's immutable template is kept.
    assert_eq!(
        h.pvc_requests(),
        sizes(&[
            ("data-orders-0", "2Gi"),
            ("data-orders-1", "2Gi"),
            ("data-orders-2", "2Gi")
        ])
    );
    assert_eq!(h.pvc_patches(), 3);
    assert_eq!(h.claim_template(), template);
    assert_eq!(h.count_events("ExpandingVolume"), 3);
    let requested = |n: &str| (n.to_string(), "Requested".to_string());
    assert_eq!(
        h.volume_expansion(),
        [
            requested("data-orders-0"),
            requested("data-orders-1"),
            requested("data-orders-2")
        ]
    );
    let (status, reason, message) = condition(&h.qc(), "Progressing");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "ExpandingVolumes")
    );
    assert!(message.contains("spec.storage.size 2Gi"), "{message}");
    assert_eq!(condition(&h.qc(), "Degraded").0, "False");

    // The resizer reports progress; status follows it, and nothing is patched again.
    h.pvc_status(
        "data-orders-0",
        json!({"phase": "Bound", "capacity": {"storage": "2Gi"}}),
    );
    h.pvc_status(
        "data-orders-1",
        json!({"phase": "Bound", "capacity": {"storage": "1Gi"},
               "conditions": [{"type": "FileSystemResizePending", "status": "True",
                               "message": "waiting for the pod to remount"}]}),
    );
    h.pvc_status(
        "data-orders-2",
        json!({"phase": "Bound", "capacity": {"storage": "1Gi"},
               "conditions": [{"type": "Resizing", "status": "True"}]}),
    );
    h.clear_log();
    h.reconcile().await.unwrap();
    assert_eq!(h.pvc_patches(), 0);
    assert_eq!(
        h.volume_expansion(),
        [
            (
                "data-orders-1".to_string(),
                "FileSystemResizePending".to_string()
            ),
            ("data-orders-2".to_string(), "Resizing".to_string())
        ]
    );
    let status = serde_json::to_value(h.qc().status.unwrap()).unwrap();
    assert_eq!(
        status["volumeExpansion"][0]["message"],
        "waiting for the pod to remount"
    );
    assert_eq!(status["volumeExpansion"][0]["capacity"], "1Gi");

    // Resized: nothing pending. A scale-up's PVCs come from the 1Gi template and are
    // expanded too.
    h.converge().await;
    assert!(h.volume_expansion().is_empty());
    h.edit_spec(|s| s["replicas"] = json!(5));
    h.converge().await;
    assert_eq!(h.pvc_requests().len(), 5);
    assert!(
        h.pvc_requests().iter().all(|(_, size)| size == "2Gi"),
        "{:?}",
        h.pvc_requests()
    );
    assert_eq!(h.claim_template(), template);
    assert_eq!(h.count_events("ExpandingVolume"), 5);
    assert!(h.volume_expansion().is_empty());
}

#[tokio::test]
async fn expansion_is_refused_with_degraded_when_the_class_does_not_allow_it() {
    let h = Harness::new("minimal");
    h.storage_class("standard", false);
    h.converge().await;
    let template = h.claim_template();

    h.edit_spec(|s| s["storage"] = json!({"size": "3Gi"}));
    for _ in 0..2 {
        h.clear_log();
        h.reconcile().await.unwrap();
        assert_eq!(h.pvc_patches(), 0, "{:?}", h.writes());
    }
    assert!(h.pvc_requests().iter().all(|(_, size)| size == "1Gi"));
    assert_eq!(h.claim_template(), template);
    let qc = h.qc();
    let (status, reason, message) = condition(&qc, "Degraded");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "VolumeExpansionUnsupported")
    );
    assert!(
        message.contains("data-orders-0 (StorageClass standard does not set allowVolumeExpansion)"),
        "{message}"
    );
    assert!(message.contains("nothing was changed"), "{message}");
    assert!(
        h.events()
            .contains(&("Warning".into(), "VolumeExpansionUnsupported".into()))
    );
    assert_eq!(
        h.volume_expansion()
            .iter()
            .map(|(_, state)| state.as_str())
            .collect::<Vec<_>>(),
        ["Refused", "Refused", "Refused"]
    );
    // Membership is not held up by the refusal.
    assert_eq!(condition(&qc, "Progressing").1, "Converged");
    assert_eq!(condition(&qc, "Available").0, "True");

    // A missing class is refused the same way, naming it.
    h.api
        .store
        .lock()
        .unwrap()
        .remove("storage.k8s.io/v1", "storageclasses", "", "standard");
    h.reconcile().await.unwrap();
    let message = condition(&h.qc(), "Degraded").2;
    assert!(
        message.contains("StorageClass standard not found"),
        "{message}"
    );

    // Once the class allows it, the volumes are expanded and Degraded clears.
    h.storage_class("standard", true);
    h.clear_log();
    h.reconcile().await.unwrap();
    assert_eq!(h.pvc_patches(), 3);
    assert!(h.pvc_requests().iter().all(|(_, size)| size == "3Gi"));
    assert_eq!(condition(&h.qc(), "Degraded").0, "False");
}

#[tokio::test]
async fn volumes_are_never_shrunk() {
    let h = Harness::new("minimal");
    h.storage_class("standard", true);
    h.converge().await;
    let template = h.claim_template();
    // A spec below the volumes (an object from before the CEL rule, or 1Gi written as
    // 1024Mi): no patch, no refusal, the template keeps its size.
    for smaller in ["512Mi", "1024Mi"] {
        h.edit_spec(|s| s["storage"] = json!({"size": smaller}));
        h.clear_log();
        h.reconcile().await.unwrap();
        assert_eq!(h.pvc_patches(), 0, "{smaller}: {:?}", h.writes());
        assert!(h.pvc_requests().iter().all(|(_, size)| size == "1Gi"));
        assert_eq!(h.claim_template(), template);
        assert!(h.volume_expansion().is_empty());
        assert_eq!(condition(&h.qc(), "Degraded").0, "False");
        assert_eq!(condition(&h.qc(), "Progressing").1, "Converged");
    }
}
