//! The test control plane itself (`sqsraft_e2e::k8s::ControlPlane`): the pinned version
//! serves, ServiceAccount tokens authenticate, and the controller manager's controllers
//! that the operator relies on act on objects (no pod runs: nothing schedules or starts
//! pods here, so the controllers are seen through the objects they create and delete).

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolumeClaim, Pod, Service, ServiceAccount,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{DeleteParams, ListParams, PostParams, PropagationPolicy};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use serde_json::json;
use sqsraft_e2e::k8s::ControlPlane;
use sqsraft_e2e::k8s::control_plane::{KUBERNETES_SERVICE_IP, unavailable_reason};
use sqsraft_server::prerequisite::unavailable;
use std::fmt::Debug;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

/// Polls `check` every 200 ms until it returns `Some`, at most [`WAIT`].
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not seen within {} s",
            WAIT.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn from_json<T: DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("object")
}

async fn list<K>(api: &Api<K>, selector: &str) -> Vec<K>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    api.list(&ListParams::default().labels(selector))
        .await
        .expect("list")
        .items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_plane_authenticates_service_accounts_and_runs_the_controllers() {
    if let Some(reason) = unavailable_reason() {
        unavailable("the control plane test", reason);
        return;
    }
    let plane = ControlPlane::start()
        .await
        .expect("start the control plane");
    let admin = plane.client().await.expect("admin client");
    let version = admin.apiserver_version().await.expect("/version");
    assert_eq!(version.git_version, "v1.37.2");
    let ns = "cp-test";
    Api::<Namespace>::all(admin.clone())
        .create(
            &PostParams::default(),
            &from_json(json!({"metadata": {"name": ns}})),
        )
        .await
        .expect("create namespace");

    // The ServiceAccount controller and the root-CA publisher fill a new namespace.
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), ns);
    eventually("the default ServiceAccount", || async {
        accounts.get_opt("default").await.ok().flatten()
    })
    .await;
    let config_maps: Api<ConfigMap> = Api::namespaced(admin.clone(), ns);
    let root_ca = eventually("kube-root-ca.crt", || async {
        config_maps.get_opt("kube-root-ca.crt").await.ok().flatten()
    })
    .await;
    let published = root_ca
        .data
        .unwrap_or_default()
        .remove("ca.crt")
        .expect("ca.crt");
    assert_eq!(
        published.trim(),
        plane.ca_pem().expect("CA").trim(),
        "pods trust the API server's CA"
    );

    // A TokenRequest token authenticates as its ServiceAccount, and RBAC applies to it.
    let as_default = plane
        .service_account_client(ns, "default")
        .await
        .expect("ServiceAccount client");
    let review: SelfSubjectReview = Api::all(as_default.clone())
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .expect("SelfSubjectReview");
    let user = review
        .status
        .and_then(|s| s.user_info)
        .and_then(|u| u.username);
    assert_eq!(
        user.as_deref(),
        Some("system:serviceaccount:cp-test:default")
    );
    let denied = Api::<Pod>::namespaced(as_default, ns)
        .list(&ListParams::default())
        .await;
    assert!(
        matches!(denied, Err(kube::Error::Api(ref s)) if s.code == 403),
        "no RBAC, no pods: {denied:?}"
    );

    // The `kubernetes` Service has the first ClusterIP of the loopback service range.
    let kubernetes = Api::<Service>::namespaced(admin.clone(), "default")
        .get("kubernetes")
        .await
        .expect("Service");
    let cluster_ip = kubernetes
        .spec
        .and_then(|s| s.cluster_ip)
        .expect("ClusterIP");
    assert_eq!(cluster_ip, KUBERNETES_SERVICE_IP.to_string());

    deployment_replica_set_and_garbage_collection(&admin, ns).await;
    stateful_set_claims_and_protection(&admin, ns).await;
    service_slices_and_disruption_budget(&admin, ns).await;

    // The namespace controller empties and removes a deleted namespace.
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    namespaces
        .delete(ns, &DeleteParams::default())
        .await
        .expect("delete namespace");
    eventually("the namespace to be gone", || async {
        matches!(namespaces.get_opt(ns).await, Ok(None)).then_some(())
    })
    .await;
}

/// Deployment → ReplicaSet → Pods (with the ServiceAccount token volume the admission
/// plugin adds), and the garbage collector removing them after the Deployment.
async fn deployment_replica_set_and_garbage_collection(admin: &Client, ns: &str) {
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), ns);
    let labels = json!({"app": "web"});
    deployments
        .create(
            &PostParams::default(),
            &from_json(json!({
                "metadata": {"name": "web"},
                "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "web", "image": "sqsraft/sqsraft-server:0.1.0"}]}}}
            })),
        )
        .await
        .expect("create Deployment");
    let replica_sets: Api<ReplicaSet> = Api::namespaced(admin.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(admin.clone(), ns);
    eventually("a ReplicaSet of the Deployment", || async {
        (list(&replica_sets, "app=web").await.len() == 1).then_some(())
    })
    .await;
    let created = eventually("two pods of the ReplicaSet", || async {
        let found = list(&pods, "app=web").await;
        (found.len() == 2).then_some(found)
    })
    .await;
    let volumes = created[0]
        .spec
        .as_ref()
        .and_then(|s| s.volumes.clone())
        .unwrap_or_default();
    assert!(
        volumes
            .iter()
            .any(|v| v.name.starts_with("kube-api-access-") && v.projected.is_some()),
        "the ServiceAccount admission plugin projects a token volume: {volumes:?}"
    );

    let background = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..Default::default()
    };
    deployments
        .delete("web", &background)
        .await
        .expect("delete Deployment");
    eventually(
        "the garbage collector to remove the ReplicaSet and its pods",
        || async {
            (list(&replica_sets, "app=web").await.is_empty()
                && list(&pods, "app=web").await.is_empty())
            .then_some(())
        },
    )
    .await;
}

/// A StatefulSet creates its ordinal pod and the pod's PVC; the PVC carries the
/// protection finalizer.
async fn stateful_set_claims_and_protection(admin: &Client, ns: &str) {
    let labels = json!({"app": "db"});
    Api::<StatefulSet>::namespaced(admin.clone(), ns)
        .create(
            &PostParams::default(),
            &from_json(json!({
                "metadata": {"name": "db"},
                "spec": {"replicas": 1, "serviceName": "db", "selector": {"matchLabels": labels},
                    "template": {"metadata": {"labels": labels},
                        "spec": {"containers": [{"name": "db", "image": "sqsraft/sqsraft-server:0.1.0",
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "data"},
                        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}
            })),
        )
        .await
        .expect("create StatefulSet");
    let pods: Api<Pod> = Api::namespaced(admin.clone(), ns);
    eventually("pod db-0", || async {
        pods.get_opt("db-0").await.ok().flatten()
    })
    .await;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(admin.clone(), ns);
    let claim = eventually("PVC data-db-0", || async {
        claims.get_opt("data-db-0").await.ok().flatten()
    })
    .await;
    let finalizers = claim.metadata.finalizers.unwrap_or_default();
    assert!(
        finalizers
            .iter()
            .any(|f| f == "kubernetes.io/pvc-protection"),
        "{finalizers:?}"
    );
}

/// A Service with a selector gets an EndpointSlice, and a PodDisruptionBudget is
/// observed by the disruption controller.
async fn service_slices_and_disruption_budget(admin: &Client, ns: &str) {
    Api::<Service>::namespaced(admin.clone(), ns)
        .create(
            &PostParams::default(),
            &from_json(json!({"metadata": {"name": "db"},
                "spec": {"selector": {"app": "db"}, "ports": [{"port": 9324}]}})),
        )
        .await
        .expect("create Service");
    let slices: Api<EndpointSlice> = Api::namespaced(admin.clone(), ns);
    eventually("an EndpointSlice of the Service", || async {
        (!list(&slices, "kubernetes.io/service-name=db")
            .await
            .is_empty())
        .then_some(())
    })
    .await;

    let budgets: Api<PodDisruptionBudget> = Api::namespaced(admin.clone(), ns);
    budgets
        .create(
            &PostParams::default(),
            &from_json(json!({"metadata": {"name": "db"},
                "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "db"}}}})),
        )
        .await
        .expect("create PodDisruptionBudget");
    let status = eventually("the disruption controller's status", || async {
        budgets
            .get("db")
            .await
            .ok()?
            .status
            .filter(|s| s.observed_generation == Some(1))
    })
    .await;
    assert_eq!(
        status.expected_pods, 1,
        "the StatefulSet's one pod is counted"
    );
}
