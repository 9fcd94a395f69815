//! The chart and both CRDs on a real API server (etcd, kube-apiserver and
//! kube-controller-manager built from pinned sources, `sqsraft_e2e::k8s`); no pod runs.
//!
//! - the chart installs with the real Helm: CRDs Established, RBAC objects, the operator
//!   Deployment, and the chart's ServiceAccount passes and fails the real authorizer
//!   exactly where the chart's rules say;
//! - every `x-kubernetes-validations` rule in `crds/*.yaml` rejects an invalid object or
//!   update with its own message (a rule added without a case here fails the test);
//! - the examples in `manifests/examples/` are accepted, legitimate updates pass the
//!   transition rules, and what the API server stores deserializes into the operator's
//!   types.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::{Api, Client};
use serde_json::{Value, json};
use sqsraft_e2e::k8s::ControlPlane;
use sqsraft_e2e::k8s::control_plane::unavailable_reason;
use sqsraft_e2e::k8s::helm::{RELEASE, helm_binary, helm_install};
use sqsraft_operator::crd::{Queue, QueueCluster};
use sqsraft_server::prerequisite::unavailable;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const NAMESPACE: &str = "default";
const CRD_NAMES: [&str; 2] = ["queueclusters.sqsraft.io", "queues.sqsraft.io"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A started control plane, or `None` (after `unavailable`) when it cannot start here.
async fn control_plane(what: &str) -> Option<ControlPlane> {
    if let Some(reason) = unavailable_reason() {
        unavailable(what, reason);
        return None;
    }
    Some(
        ControlPlane::start()
            .await
            .expect("start the control plane"),
    )
}

fn yaml_documents(path: &str) -> Vec<Value> {
    let text =
        std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| {
            serde::Deserialize::deserialize(doc).unwrap_or_else(|e| panic!("parse {path}: {e}"))
        })
        .filter(|doc: &Value| !doc.is_null())
        .collect()
}

fn custom(client: &Client, kind: &str, plural: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("sqsraft.io", "v1alpha1", kind);
    Api::namespaced_with(
        client.clone(),
        NAMESPACE,
        &ApiResource::from_gvk_with_plural(&gvk, plural),
    )
}

fn object(kind: &str, name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "sqsraft.io/v1alpha1",
        "kind": kind,
        "metadata": { "name": name, "namespace": NAMESPACE },
        "spec": spec,
    }))
    .expect("object")
}

/// Polls until both CRDs report `Established`, at most 60 s.
async fn wait_established(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    for name in CRD_NAMES {
        loop {
            let crd = crds
                .get(name)
                .await
                .unwrap_or_else(|e| panic!("get CRD {name}: {e}"));
            let established = crd
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "CRD {name} not Established after 60 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The API server's status code and message for a rejected request.
fn rejection<T: std::fmt::Debug>(result: kube::Result<T>, what: &str) -> (u16, String) {
    match result {
        Err(kube::Error::Api(status)) => (status.code, status.message),
        other => panic!("{what}: expected the API server to reject it, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_installs_crds_rbac_and_the_operator_deployment() {
    let Some(plane) = control_plane("the chart install test").await else {
        return;
    };
    if let Err(reason) = helm_binary() {
        unavailable("the chart install test", reason);
        return;
    }
    let namespace = "sqsraft-system";
    helm_install(&plane, namespace, &json!({}))
        .await
        .expect("helm install");
    let admin = plane.client().await.expect("admin client");
    wait_established(&admin).await;

    let selector = ListParams::default().labels(&format!("app.kubernetes.io/instance={RELEASE}"));
    let deployments = Api::<Deployment>::namespaced(admin.clone(), namespace)
        .list(&selector)
        .await
        .expect("list Deployments");
    assert_eq!(deployments.items.len(), 1, "one operator Deployment");
    let pod_spec = deployments.items[0]
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod spec");
    let account = pod_spec
        .service_account_name
        .clone()
        .expect("the Deployment names its ServiceAccount");
    Api::<ServiceAccount>::namespaced(admin.clone(), namespace)
        .get(&account)
        .await
        .expect("the chart's ServiceAccount exists");
    let roles = Api::<ClusterRole>::all(admin.clone())
        .list(&selector)
        .await
        .expect("ClusterRoles");
    assert_eq!(
        roles.items.len(),
        2,
        "the operator's ClusterRole (no watchNamespace) and the StorageClass reader"
    );
    let bindings = Api::<ClusterRoleBinding>::all(admin.clone())
        .list(&selector)
        .await
        .expect("bindings");
    assert_eq!(bindings.items.len(), 2, "a ClusterRoleBinding of each");
    for binding in &bindings.items {
        let subjects = binding.subjects.clone().unwrap_or_default();
        assert!(
            subjects.iter().any(|s| s.kind == "ServiceAccount"
                && s.name == account
                && s.namespace.as_deref() == Some(namespace)),
            "the ClusterRoleBinding binds {namespace}/{account}: {subjects:?}"
        );
    }
    let lease_roles = Api::<Role>::namespaced(admin.clone(), namespace)
        .list(&selector)
        .await
        .expect("Roles");
    assert_eq!(lease_roles.items.len(), 1, "one Role for the leader Lease");

    // The chart's ServiceAccount against the real authorizer: what the rules grant works,
    // what they do not grant is Forbidden.
    let operator = plane
        .service_account_client(namespace, &account)
        .await
        .expect("ServiceAccount client");
    Api::<QueueCluster>::all(operator.clone())
        .list(&ListParams::default())
        .await
        .expect("list QueueClusters everywhere");
    Api::<Queue>::all(operator.clone())
        .list(&ListParams::default())
        .await
        .expect("list Queues everywhere");
    let (code, _) = rejection(
        Api::<Lease>::namespaced(operator.clone(), namespace)
            .get("no-such-lease")
            .await,
        "get a missing Lease in the release namespace",
    );
    assert_eq!(
        code, 404,
        "Leases in the release namespace are readable (NotFound, not Forbidden)"
    );
    let (code, message) = rejection(
        Api::<Lease>::namespaced(operator.clone(), NAMESPACE)
            .get("no-such-lease")
            .await,
        "get a Lease outside the release namespace",
    );
    assert_eq!(code, 403, "Leases elsewhere are not granted: {message}");
    let (code, message) = rejection(
        Api::<StorageClass>::all(operator.clone())
            .get("no-such-class")
            .await,
        "get a missing StorageClass",
    );
    assert_eq!(
        code, 404,
        "StorageClasses are readable (NotFound, not Forbidden): {message}"
    );
    let (code, message) = rejection(
        Api::<Node>::all(operator.clone())
            .list(&ListParams::default())
            .await,
        "list Nodes",
    );
    assert_eq!(code, 403, "{message}");
    let (code, message) = rejection(
        custom(&operator, "QueueCluster", "queueclusters")
            .create(
                &PostParams::default(),
                &object("QueueCluster", "x", json!({"replicas": 1})),
            )
            .await,
        "create a QueueCluster as the operator",
    );
    assert_eq!(
        code, 403,
        "the operator only reads QueueClusters and patches their status: {message}"
    );
}

/// How a case reaches a rule: creating an invalid object, or updating a valid one.
enum Case {
    Create(Value),
    /// Creating an object under a name of the case's own (the cases' `case-N` are valid).
    CreateNamed(&'static str, Value),
    Update {
        valid: Value,
        patch: Value,
    },
}

/// Every rule message of both CRDs (from `crds/*.yaml`) with the case that breaks it.
fn cel_cases() -> Vec<(&'static str, &'static str, Case)> {
    use Case::{Create, CreateNamed, Update};
    let cluster = |extra: Value| {
        let mut spec = json!({"replicas": 3});
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        spec
    };
    let queue = |extra: Value| {
        let mut spec = json!({"clusterRef": {"name": "orders"}});
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        spec
    };
    let arns: Vec<String> = (0..11)
        .map(|i| format!("arn:aws:sqs:us-east-1:000000000000:q{i}"))
        .collect();
    let tags: serde_json::Map<String, Value> =
        (0..51).map(|i| (format!("t{i}"), json!("v"))).collect();
    vec![
        (
            "QueueCluster",
            "accountId must be twelve digits",
            Create(cluster(json!({"accountId": "12345"}))),
        ),
        (
            "QueueCluster",
            "secretName must be a valid Secret name",
            Create(cluster(
                json!({"credentials": {"secretName": "Not_A_Name"}}),
            )),
        ),
        (
            "QueueCluster",
            "maxUnavailable must not be negative",
            Create(cluster(
                json!({"podDisruptionBudget": {"maxUnavailable": -1}}),
            )),
        ),
        (
            "QueueCluster",
            "heartbeatIntervalMs must be at least 10",
            Create(cluster(json!({"raft": {"heartbeatIntervalMs": 5}}))),
        ),
        (
            "QueueCluster",
            "raft timeouts must satisfy heartbeatIntervalMs < electionTimeoutMinMs < electionTimeoutMaxMs",
            Create(cluster(
                json!({"raft": {"heartbeatIntervalMs": 100, "electionTimeoutMinMs": 100}}),
            )),
        ),
        (
            "QueueCluster",
            "region must be lowercase letters, digits and dashes",
            Create(cluster(json!({"region": "US-EAST-1"}))),
        ),
        (
            "QueueCluster",
            "acceptedRegions must be region names (lowercase letters, digits and dashes) or *",
            Create(cluster(
                json!({"acceptedRegions": ["eu-west-1", "EU WEST"]}),
            )),
        ),
        (
            "QueueCluster",
            "replicas must be at least 1",
            Create(json!({"replicas": 0})),
        ),
        (
            "QueueCluster",
            "port must be between 1 and 65535",
            Create(cluster(json!({"service": {"port": 70000}}))),
        ),
        (
            "QueueCluster",
            "storage.size may grow but never shrink: a volume cannot be made smaller",
            Update {
                valid: cluster(json!({"storage": {"size": "2Gi"}})),
                patch: json!({"spec": {"storage": {"size": "2047Mi"}}}),
            },
        ),
        (
            "QueueCluster",
            "storage.storageClassName is immutable once the cluster exists",
            Update {
                valid: cluster(json!({"storage": {"size": "1Gi"}})),
                patch: json!({"spec": {"storage": {"storageClassName": "fast"}}}),
            },
        ),
        (
            "QueueCluster",
            "must be a quantity such as 10Gi or 500Mi",
            Create(cluster(json!({"storage": {"size": "lots"}}))),
        ),
        (
            "QueueCluster",
            "metadata.name must be a DNS-1035 label of at most 52 characters (lowercase letters, digits and '-', starting with a letter)",
            CreateNamed("dotted.name", cluster(json!({}))),
        ),
        (
            "QueueCluster",
            "podDisruptionBudget.maxUnavailable must leave a Raft majority running: at most (replicas - 1) / 2",
            Create(cluster(
                json!({"podDisruptionBudget": {"maxUnavailable": 2}}),
            )),
        ),
        (
            "Queue",
            "fifo is immutable",
            Update {
                valid: queue(json!({"fifo": false})),
                patch: json!({"spec": {"fifo": true}}),
            },
        ),
        (
            "Queue",
            "queueName is immutable",
            Update {
                valid: queue(json!({"queueName": "a"})),
                patch: json!({"spec": {"queueName": "b"}}),
            },
        ),
        (
            "Queue",
            "queueName must be 1-80 letters, digits, '-' or '_' (FIFO names may end in .fifo)",
            Create(queue(json!({"queueName": "no spaces"}))),
        ),
        (
            "Queue",
            "at most 10 sourceQueueArns",
            Create(queue(
                json!({"redriveAllowPolicy": {"redrivePermission": "byQueue", "sourceQueueArns": arns}}),
            )),
        ),
        (
            "Queue",
            "sourceQueueArns (1-10) is required with byQueue and not allowed otherwise",
            Create(queue(
                json!({"redriveAllowPolicy": {"redrivePermission": "byQueue"}}),
            )),
        ),
        (
            "Queue",
            "deadLetterTargetArn must be an ARN",
            Create(queue(
                json!({"redrivePolicy": {"deadLetterTargetArn": "dlq", "maxReceiveCount": 5}}),
            )),
        ),
        (
            "Queue",
            "set exactly one of deadLetterQueueRef and deadLetterTargetArn",
            Create(queue(json!({"redrivePolicy": {"maxReceiveCount": 5}}))),
        ),
        (
            "Queue",
            "a queue has at most 50 tags, one of them the operator's",
            Create(queue(json!({"tags": tags}))),
        ),
        (
            "Queue",
            "tag keys starting with sqsraft.io/ are reserved for the operator",
            Create(queue(json!({"tags": {"sqsraft.io/owner": "someone"}}))),
        ),
        (
            "Queue",
            "clusterRef is immutable",
            Update {
                valid: queue(json!({})),
                patch: json!({"spec": {"clusterRef": {"name": "another"}}}),
            },
        ),
        (
            "Queue",
            "queueName is immutable: it cannot be added or removed",
            Update {
                valid: queue(json!({})),
                patch: json!({"spec": {"queueName": "added"}}),
            },
        ),
        (
            "Queue",
            "contentBasedDeduplication, deduplicationScope and fifoThroughputLimit need fifo: true",
            Create(queue(json!({"contentBasedDeduplication": true}))),
        ),
        (
            "Queue",
            "only FIFO queues may have a name ending in .fifo",
            Create(queue(json!({"queueName": "orders.fifo"}))),
        ),
        (
            "Queue",
            "must be one of 'queue', 'messageGroup'",
            Create(queue(
                json!({"fifo": true, "deduplicationScope": "perQueue"}),
            )),
        ),
        (
            "Queue",
            "must be one of 'perQueue', 'perMessageGroupId'",
            Create(queue(json!({"fifo": true, "fifoThroughputLimit": "queue"}))),
        ),
    ]
}

/// Every `x-kubernetes-validations` message in `crds/*.yaml`.
fn crd_rule_messages() -> BTreeSet<String> {
    fn walk(node: &Value, out: &mut BTreeSet<String>) {
        match node {
            Value::Object(map) => {
                if let Some(Value::Array(rules)) = map.get("x-kubernetes-validations") {
                    out.extend(
                        rules
                            .iter()
                            .map(|r| r["message"].as_str().expect("rule message").to_string()),
                    );
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    for file in [
        "crds/queueclusters.sqsraft.io.yaml",
        "crds/queues.sqsraft.io.yaml",
    ] {
        yaml_documents(file)
            .iter()
            .for_each(|doc| walk(doc, &mut out));
    }
    out
}

/// Creates both CRDs from `crds/` and waits until they serve.
async fn install_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for file in [
        "crds/queueclusters.sqsraft.io.yaml",
        "crds/queues.sqsraft.io.yaml",
    ] {
        for doc in yaml_documents(file) {
            let crd: CustomResourceDefinition = serde_json::from_value(doc).expect("CRD");
            crds.create(&PostParams::default(), &crd)
                .await
                .unwrap_or_else(|e| panic!("create the CRD of {file}: {e}"));
        }
    }
    wait_established(client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_rules_reject_invalid_objects_and_immutable_field_changes() {
    let Some(plane) = control_plane("the CRD validation test").await else {
        return;
    };
    let client = plane.client().await.expect("admin client");
    install_crds(&client).await;

    let cases = cel_cases();
    let covered: BTreeSet<String> = cases.iter().map(|(_, m, _)| m.to_string()).collect();
    assert_eq!(
        covered,
        crd_rule_messages(),
        "every CRD rule has a case here, and every case a rule"
    );

    for (i, (kind, message, case)) in cases.into_iter().enumerate() {
        let api = match kind {
            "QueueCluster" => custom(&client, kind, "queueclusters"),
            _ => custom(&client, kind, "queues"),
        };
        let mut name = format!("case-{i}");
        let result = match case {
            Case::Create(spec) => api
                .create(&PostParams::default(), &object(kind, &name, spec))
                .await
                .map(drop),
            Case::CreateNamed(own, spec) => {
                name = own.to_string();
                api.create(&PostParams::default(), &object(kind, &name, spec))
                    .await
                    .map(drop)
            }
            Case::Update { valid, patch } => {
                api.create(&PostParams::default(), &object(kind, &name, valid))
                    .await
                    .unwrap_or_else(|e| {
                        panic!("{kind} {name}: the valid object before the update is rejected: {e}")
                    });
                api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map(drop)
            }
        };
        let (code, got) = rejection(result, &format!("{kind} case {message:?}"));
        assert_eq!(code, 422, "{kind} case {message:?}: {got}");
        assert!(
            got.contains(message),
            "{kind} case {message:?}: the API server said {got}"
        );
    }

    // A larger storage.size is accepted (the operator expands the volumes).
    let clusters = custom(&client, "QueueCluster", "queueclusters");
    clusters
        .create(
            &PostParams::default(),
            &object(
                "QueueCluster",
                "growing",
                json!({"replicas": 3, "storage": {"size": "1Gi"}}),
            ),
        )
        .await
        .expect("a QueueCluster of 1Gi volumes");
    clusters
        .patch(
            "growing",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"storage": {"size": "1536Mi"}}})),
        )
        .await
        .expect("storage.size may grow");

    // Removing a queueName is refused as well as adding one.
    let queues = custom(&client, "Queue", "queues");
    queues
        .create(
            &PostParams::default(),
            &object(
                "Queue",
                "named",
                json!({"clusterRef": {"name": "orders"}, "queueName": "named"}),
            ),
        )
        .await
        .expect("a named queue");
    let (code, got) = rejection(
        queues
            .patch(
                "named",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"queueName": null}})),
            )
            .await,
        "removing queueName",
    );
    assert_eq!(code, 422, "{got}");
    assert!(
        got.contains("queueName is immutable: it cannot be added or removed"),
        "{got}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_and_updates_are_accepted_and_deserialize_into_the_operator_types() {
    let Some(plane) = control_plane("the CRD examples test").await else {
        return;
    };
    let client = plane.client().await.expect("admin client");
    install_crds(&client).await;
    let clusters = custom(&client, "QueueCluster", "queueclusters");
    let queues = custom(&client, "Queue", "queues");

    for file in [
        "queuecluster.yaml",
        "queue-standard.yaml",
        "queue-fifo-with-dlq.yaml",
    ] {
        for doc in yaml_documents(&format!("manifests/examples/{file}")) {
            let obj: DynamicObject = serde_json::from_value(doc).expect("example object");
            let api = if obj.types.as_ref().is_some_and(|t| t.kind == "QueueCluster") {
                &clusters
            } else {
                &queues
            };
            api.create(&PostParams::default(), &obj)
                .await
                .unwrap_or_else(|e| panic!("{file} is rejected: {e}"));
        }
    }

    // Updates that keep the immutable fields pass the transition rules.
    clusters
        .patch(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"replicas": 5, "podDisruptionBudget": {"maxUnavailable": 2}}}),
            ),
        )
        .await
        .expect("scale the example cluster to 5");
    queues
        .patch(
            "payments",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"visibilityTimeout": 45}})),
        )
        .await
        .expect("change a mutable attribute of a FIFO queue");

    // Objects that use the schema's nullable fields with an explicit null.
    queues
        .create(
            &PostParams::default(),
            &object(
                "Queue",
                "nulls",
                json!({
                    "clusterRef": {"name": "orders", "namespace": null}, "queueName": null,
                    "delaySeconds": null, "maximumMessageSize": null, "messageRetentionPeriod": null,
                    "receiveMessageWaitTimeSeconds": null, "visibilityTimeout": null,
                    "redrivePolicy": null, "redriveAllowPolicy": null,
                    "contentBasedDeduplication": null, "deduplicationScope": null,
                    "fifoThroughputLimit": null,
                }),
            ),
        )
        .await
        .expect("a Queue with null optional fields");
    clusters
        .create(
            &PostParams::default(),
            &object(
                "QueueCluster",
                "nulls",
                json!({"replicas": 1, "image": null, "resources": null, "credentials": {"secretName": null},
                       "pod": {"affinity": null, "priorityClassName": null, "topologySpreadConstraints": null},
                       "storage": {"size": "1Gi", "storageClassName": null}}),
            ),
        )
        .await
        .expect("a QueueCluster with null optional fields");

    // Everything stored reads back through the operator's own types.
    let stored = Api::<QueueCluster>::namespaced(client.clone(), NAMESPACE)
        .list(&ListParams::default())
        .await;
    let stored =
        stored.expect("QueueClusters deserialize into sqsraft_operator::crd::QueueCluster");
    let names: BTreeSet<_> = stored
        .items
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["nulls".to_string(), "orders".to_string()])
    );
    let orders = stored
        .items
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some("orders"))
        .unwrap();
    assert_eq!(orders.spec.replicas, 5);
    assert_eq!(orders.spec.storage.size.0, "1Gi");
    let nulls = stored
        .items
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some("nulls"))
        .unwrap();
    assert_eq!(
        nulls.spec.raft.heartbeat_interval_ms, 100,
        "the API server applied the schema defaults"
    );

    let stored = Api::<Queue>::namespaced(client, NAMESPACE)
        .list(&ListParams::default())
        .await;
    let stored = stored.expect("Queues deserialize into sqsraft_operator::crd::Queue");
    let names: BTreeSet<_> = stored
        .items
        .iter()
        .filter_map(|q| q.metadata.name.clone())
        .collect();
    let expected = ["nulls", "order-events", "payments", "payments-dlq"].map(String::from);
    assert_eq!(names, BTreeSet::from(expected));
    let payments = stored
        .items
        .iter()
        .find(|q| q.metadata.name.as_deref() == Some("payments"))
        .unwrap();
    assert_eq!(payments.spec.visibility_timeout, Some(45));
    assert!(payments.spec.fifo);
}
