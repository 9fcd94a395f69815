//! The Queue reconciler against a REAL single-node sqsraft server on 127.0.0.1 (the SQS
//! side) and the in-memory Kubernetes API fake (the Kubernetes side): create, no-op
//! resync, drift repair, out-of-band deletion repaired, adoption, DLQ wiring, deletion
//! under each policy, a missing cluster and an unreachable one.
//!
//! Needs the server binary: `$SQSRAFT_SERVER_BIN`, or `target/debug/sqsraft-server` of
//! the workspace (`cargo build -p sqsraft-server --bins`). Without it the test prints
//! why it is skipped and passes.

// Shared with the QueueCluster tests, which use more of it.
#[allow(dead_code)]
#[path = "common/fake_api.rs"]
mod fake_api;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_api::FakeApi;
use kube::runtime::finalizer;
use serde_json::{Value, json};
use sqsraft_operator::admin_types::{InitRequest, Member};
use sqsraft_operator::crd::QueueCluster;
use sqsraft_operator::crd::queue::Queue;
use sqsraft_operator::error::Category;
use sqsraft_operator::membership::{AdminApi, AdminCall, HttpAdminClient, LoopbackResolver};
use sqsraft_operator::queue::sqs::{AccessKey, SqsClient};
use sqsraft_operator::queue::{self, EndpointResolver, FINALIZER};

const GV: &str = "sqsraft.io/v1alpha1";
const NS: &str = "apps";
const TOKEN: &str = "queue-reconcile-test-token";

fn server_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SQSRAFT_SERVER_BIN") {
        return Some(PathBuf::from(p));
    }
    let mut candidates =
        vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/sqsraft-server")];
    if let Ok(exe) = std::env::current_exe() {
        candidates.extend(
            exe.ancestors()
                .skip(1)
                .take(3)
                .map(|d| d.join("sqsraft-server")),
        );
    }
    candidates.into_iter().find(|p| p.is_file())
}

use sqsraft_server::test_ports::free_port;

/// One server process; killed on drop.
struct Server {
    child: Child,
    endpoint: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn key() -> AccessKey {
    AccessKey {
        access_key_id: "AKIDQUEUETEST".into(),
        secret_access_key: "queue-test-secret".into(),
    }
}

async fn start_server(bin: PathBuf) -> Server {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), TOKEN).unwrap();
    let k = key();
    std::fs::write(
        dir.path().join("credentials.json"),
        json!({"credentials": [{"accessKeyId": k.access_key_id, "secretAccessKey": k.secret_access_key}]}).to_string(),
    )
    .unwrap();
    let (sqs, internal) = (free_port(), free_port());
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let child = Command::new(bin)
        .args(["--node-id", "1"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--sqs-listen", &format!("127.0.0.1:{sqs}")])
        .args(["--internal-listen", &format!("127.0.0.1:{internal}")])
        .arg("--credentials-file")
        .arg(dir.path().join("credentials.json"))
        .arg("--cluster-token-file")
        .arg(dir.path().join("token"))
        // The queue flows need no mutual TLS; planner_local_cluster proves the operator's
        // admin client over it.
        .arg("--internal-insecure")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start sqsraft-server");
    let server = Server {
        child,
        endpoint: format!("http://127.0.0.1:{sqs}"),
        _dir: dir,
    };
    let admin = HttpAdminClient::new(
        LoopbackResolver {
            internal_ports: vec![internal],
        },
        TOKEN,
        None,
    );
    let init = AdminCall::Init(InitRequest {
        members: vec![Member {
            node_id: 1,
            addr: format!("127.0.0.1:{internal}"),
        }],
    });
    let client = sqs_client(&server.endpoint);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if admin.call(0, init.clone()).await.is_ok() && client.get_queue_url("probe").await.is_ok()
        {
            return server;
        }
        assert!(Instant::now() < deadline, "the server did not become ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn sqs_client(endpoint: &str) -> SqsClient {
    SqsClient::new(endpoint, "us-east-1", key()).expect("a valid endpoint")
}

/// Sends cluster `up` to the live server and every other cluster to a closed port.
struct Endpoints {
    live: String,
}

impl EndpointResolver for Endpoints {
    fn endpoint(&self, qc: &QueueCluster) -> Option<String> {
        qc.status.as_ref()?.endpoint.as_ref()?;
        Some(if qc.metadata.name.as_deref() == Some("up") {
            self.live.clone()
        } else {
            format!("http://127.0.0.1:{}", free_port())
        })
    }
}

struct Harness {
    api: FakeApi,
    ctx: Arc<queue::Context<Endpoints>>,
    sqs: SqsClient,
}

impl Harness {
    fn put_cluster(&self, name: &str) {
        let creds = json!({"credentials": [{"accessKeyId": key().access_key_id, "secretAccessKey": key().secret_access_key}]}).to_string();
        let data = serde_json::to_value(k8s_openapi::ByteString(creds.into_bytes())).unwrap();
        let mut store = self.api.store.lock().unwrap();
        store.put(
            GV,
            "queueclusters",
            NS,
            name,
            json!({
            "apiVersion": GV, "kind": "QueueCluster",
            "metadata": {"name": name, "namespace": NS, "generation": 1},
            "spec": {"replicas": 1},
            "status": {"endpoint": format!("http://{name}-client.{NS}.svc:9324"),
                       "credentialsSecret": format!("{name}-credentials"),
                       "conditions": []}}),
        );
        store.put(
            "v1",
            "secrets",
            NS,
            &format!("{name}-credentials"),
            json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": format!("{name}-credentials"), "namespace": NS},
            "data": {"credentials.json": data}}),
        );
    }

    fn put_queue(&self, name: &str, spec: Value) {
        self.api.store.lock().unwrap().put(GV, "queues", NS, name, json!({
            "apiVersion": GV, "kind": "Queue",
            "metadata": {"name": name, "namespace": NS, "generation": 1, "uid": format!("uid-{name}")},
            "spec": spec}));
    }

    fn queue(&self, name: &str) -> Option<Queue> {
        let v = self
            .api
            .store
            .lock()
            .unwrap()
            .get(GV, "queues", NS, name)
            .cloned()?;
        Some(serde_json::from_value(v).unwrap())
    }

    fn mark_deleted(&self, name: &str) {
        let mut store = self.api.store.lock().unwrap();
        let mut v = store.get(GV, "queues", NS, name).unwrap().clone();
        v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        store.put(GV, "queues", NS, name, v);
    }

    /// One reconcile, and a second when the first only added the finalizer (in the
    /// controller the finalizer patch is a watch event that triggers it).
    async fn reconcile(&self, name: &str) -> kube::runtime::controller::Action {
        let before = self.queue(name).unwrap();
        let action = queue::reconcile(Arc::new(before.clone()), self.ctx.clone())
            .await
            .expect("reconcile");
        let after = self.queue(name).unwrap();
        if after.metadata.finalizers != before.metadata.finalizers
            && after.metadata.deletion_timestamp.is_none()
        {
            return queue::reconcile(Arc::new(after), self.ctx.clone())
                .await
                .expect("reconcile");
        }
        action
    }

    fn condition(&self, name: &str, type_: &str) -> (String, String, String) {
        let q = self.queue(name).unwrap();
        let c = q
            .status
            .unwrap()
            .conditions
            .into_iter()
            .find(|c| c.type_ == type_)
            .unwrap();
        (c.status, c.reason, c.message)
    }

    async fn attrs(&self, queue: &str) -> BTreeMap<String, String> {
        let url = self
            .sqs
            .get_queue_url(queue)
            .await
            .unwrap()
            .expect("queue exists");
        self.sqs.get_queue_attributes(&url).await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_reconciled_against_a_real_server() {
    let Some(bin) = server_binary() else {
        sqsraft_server::prerequisite::unavailable(
            "queue reconcile against a real server",
            "no sqsraft-server binary; run `cargo build -p sqsraft-server --bins` or set SQSRAFT_SERVER_BIN",
        );
        return;
    };
    let server = start_server(bin).await;
    let api = FakeApi::default();
    let h = Harness {
        ctx: Arc::new(queue::Context::new(
            api.client(),
            Endpoints {
                live: server.endpoint.clone(),
            },
        )),
        api,
        sqs: sqs_client(&server.endpoint),
    };
    h.put_cluster("up");

    // Create: attributes and tags from the spec, finalizer added, status filled in.
    h.put_queue(
        "orders",
        json!({"clusterRef": {"name": "up"}, "visibilityTimeout": 45,
                                 "tags": {"team": "payments"}}),
    );
    h.reconcile("orders").await;
    let q = h.queue("orders").unwrap();
    assert!(
        q.metadata
            .finalizers
            .unwrap()
            .contains(&FINALIZER.to_string())
    );
    let status = q.status.unwrap();
    assert_eq!(
        status.queue_arn.as_deref(),
        Some("arn:aws:sqs:us-east-1:000000000000:orders")
    );
    assert!(status.queue_url.unwrap().ends_with("/orders"));
    assert_eq!(status.attributes["VisibilityTimeout"], "45");
    assert_eq!(h.condition("orders", "Ready").0, "True");
    let url = h.sqs.get_queue_url("orders").await.unwrap().unwrap();
    assert_eq!(
        h.sqs.list_queue_tags(&url).await.unwrap()["team"],
        "payments"
    );

    // A resync with nothing changed changes nothing.
    h.reconcile("orders").await;
    assert_eq!(
        h.condition("orders", "Synced").2,
        "the queue matches the spec"
    );

    // Out-of-band drift of a managed attribute is repaired; a tag set by someone else
    // stays.
    h.sqs
        .set_queue_attributes(
            &url,
            &BTreeMap::from([("VisibilityTimeout".into(), "99".into())]),
        )
        .await
        .unwrap();
    h.sqs
        .tag_queue(&url, &BTreeMap::from([("stray".into(), "x".into())]))
        .await
        .unwrap();
    h.reconcile("orders").await;
    assert_eq!(h.attrs("orders").await["VisibilityTimeout"], "45");
    assert!(
        h.condition("orders", "Synced")
            .2
            .contains("repaired attributes VisibilityTimeout")
    );
    assert_eq!(h.sqs.list_queue_tags(&url).await.unwrap()["stray"], "x");
    assert_eq!(
        h.queue("orders").unwrap().status.unwrap().managed_tags,
        ["team", "sqsraft.io/queue"]
    );
    assert_eq!(
        h.sqs.list_queue_tags(&url).await.unwrap()["sqsraft.io/queue"],
        format!("{NS}/orders")
    );

    // Out-of-band DeleteQueue: the next resync recreates it.
    h.sqs.delete_queue(&url).await.unwrap();
    h.reconcile("orders").await;
    assert_eq!(h.attrs("orders").await["VisibilityTimeout"], "45");

    // Adoption of an existing queue is not destructive: what the spec sets is applied,
    // everything else (delay, retention, the owner's tags) stays as it was.
    h.sqs
        .create_queue(
            "legacy",
            &BTreeMap::from([
                ("DelaySeconds".into(), "5".into()),
                ("MessageRetentionPeriod".into(), "1209600".into()),
            ]),
            &BTreeMap::from([("owner".into(), "billing".into())]),
        )
        .await
        .unwrap();
    h.put_queue(
        "legacy",
        json!({"clusterRef": {"name": "up"}, "visibilityTimeout": 40}),
    );
    h.reconcile("legacy").await;
    let synced = h.condition("legacy", "Synced").2;
    assert!(synced.contains("adopted existing queue legacy"), "{synced}");
    let legacy = h.attrs("legacy").await;
    assert_eq!(legacy["VisibilityTimeout"], "40");
    assert_eq!(legacy["DelaySeconds"], "5");
    assert_eq!(legacy["MessageRetentionPeriod"], "1209600");
    let legacy_url = h.sqs.get_queue_url("legacy").await.unwrap().unwrap();
    assert_eq!(
        h.sqs.list_queue_tags(&legacy_url).await.unwrap()["owner"],
        "billing"
    );

    // DLQ wiring: waits for the DLQ's ARN, then sets the redrive policy.
    h.put_queue(
        "work",
        json!({"clusterRef": {"name": "up"}, "deletionPolicy": "Delete",
        "redrivePolicy": {"deadLetterQueueRef": {"name": "work-dlq"}, "maxReceiveCount": 4}}),
    );
    h.put_queue("work-dlq", json!({"clusterRef": {"name": "up"}}));
    h.reconcile("work").await;
    assert_eq!(h.condition("work", "Ready").1, "DeadLetterQueuePending");
    h.reconcile("work-dlq").await;
    h.reconcile("work").await;
    assert_eq!(
        h.attrs("work").await["RedrivePolicy"],
        r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:work-dlq","maxReceiveCount":4}"#
    );

    // A paused cluster pauses its queues: drift is left alone, Ready stays as it was,
    // Synced says why; unpaused, the next pass repairs it.
    let set_paused = |paused: bool| {
        let mut store = h.api.store.lock().unwrap();
        let mut qc = store.get(GV, "queueclusters", NS, "up").unwrap().clone();
        qc["spec"]["reconciliationPaused"] = json!(paused);
        store.put(GV, "queueclusters", NS, "up", qc);
    };
    set_paused(true);
    h.sqs
        .set_queue_attributes(
            &url,
            &BTreeMap::from([("VisibilityTimeout".into(), "99".into())]),
        )
        .await
        .unwrap();
    h.reconcile("orders").await;
    assert_eq!(h.attrs("orders").await["VisibilityTimeout"], "99");
    assert_eq!(h.condition("orders", "Ready").0, "True");
    assert_eq!(h.condition("orders", "Synced").1, "ReconciliationPaused");
    set_paused(false);
    h.reconcile("orders").await;
    assert_eq!(h.attrs("orders").await["VisibilityTimeout"], "45");

    // A second Queue object claiming the same queue gets Conflict and touches nothing;
    // deleting it (policy Delete) leaves the first one's queue alone.
    h.put_queue(
        "orders-copy",
        json!({"clusterRef": {"name": "up"}, "queueName": "orders",
               "visibilityTimeout": 10, "deletionPolicy": "Delete"}),
    );
    h.reconcile("orders-copy").await;
    let (ready, reason, message) = h.condition("orders-copy", "Ready");
    assert_eq!((ready.as_str(), reason.as_str()), ("False", "Conflict"));
    assert!(message.contains(&format!("Queue {NS}/orders")), "{message}");
    assert_eq!(h.attrs("orders").await["VisibilityTimeout"], "45");
    h.mark_deleted("orders-copy");
    h.reconcile("orders-copy").await;
    assert!(h.sqs.get_queue_url("orders").await.unwrap().is_some());

    // Deletion, Retain (the default): the queue stays, the finalizer goes.
    h.mark_deleted("orders");
    h.reconcile("orders").await;
    assert!(
        h.queue("orders")
            .unwrap()
            .metadata
            .finalizers
            .unwrap_or_default()
            .is_empty()
    );
    assert!(h.sqs.get_queue_url("orders").await.unwrap().is_some());

    // Deletion, Delete: the queue goes too.
    h.mark_deleted("work");
    h.reconcile("work").await;
    assert!(
        h.queue("work")
            .unwrap()
            .metadata
            .finalizers
            .unwrap_or_default()
            .is_empty()
    );
    assert!(h.sqs.get_queue_url("work").await.unwrap().is_none());

    // An unreachable cluster: Ready Unknown with the reason, and a backoff requeue.
    h.put_cluster("down");
    h.put_queue(
        "stuck",
        json!({"clusterRef": {"name": "down"}, "deletionPolicy": "Delete"}),
    );
    let action = h.reconcile("stuck").await;
    let (ready, reason, _) = h.condition("stuck", "Ready");
    assert_eq!(
        (ready.as_str(), reason.as_str()),
        ("Unknown", "ClusterUnreachable")
    );
    assert_ne!(action, kube::runtime::controller::Action::await_change());

    // Deleting a Delete-policy Queue while its cluster is unreachable keeps the
    // finalizer and fails, so the controller retries with backoff.
    h.put_queue(
        "doomed",
        json!({"clusterRef": {"name": "down"}, "deletionPolicy": "Delete"}),
    );
    h.reconcile("doomed").await;
    h.mark_deleted("doomed");
    let error = queue::reconcile(Arc::new(h.queue("doomed").unwrap()), h.ctx.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, finalizer::Error::CleanupFailed(e) if e.category() == Category::Cluster),
        "{error}"
    );
    let doomed = h.queue("doomed").unwrap();
    assert_eq!(
        doomed.metadata.finalizers,
        Some(vec![FINALIZER.to_string()])
    );
    // Its deletion was requested long ago (the fixture's timestamp): reported as stuck,
    // with the escape hatch.
    let (_, reason, message) = h.condition("doomed", "Ready");
    assert_eq!(reason, "DeletionStuck");
    assert!(message.contains(queue::SKIP_REMOTE_DELETION), "{message}");
    // A fresh deletion is only reported as unreachable.
    {
        let mut store = h.api.store.lock().unwrap();
        let mut v = store.get(GV, "queues", NS, "doomed").unwrap().clone();
        v["metadata"]["deletionTimestamp"] = json!(k8s_openapi::jiff::Timestamp::now().to_string());
        store.put(GV, "queues", NS, "doomed", v);
    }
    let _ = queue::reconcile(Arc::new(h.queue("doomed").unwrap()), h.ctx.clone()).await;
    assert_eq!(h.condition("doomed", "Ready").1, "ClusterUnreachable");
    // The escape hatch releases such a Queue at once, reachable cluster or not.
    h.put_queue(
        "abandoned",
        json!({"clusterRef": {"name": "down"}, "deletionPolicy": "Delete"}),
    );
    h.reconcile("abandoned").await;
    h.mark_deleted("abandoned");
    {
        let mut store = h.api.store.lock().unwrap();
        let mut v = store.get(GV, "queues", NS, "abandoned").unwrap().clone();
        v["metadata"]["annotations"] = json!({queue::SKIP_REMOTE_DELETION: "true"});
        store.put(GV, "queues", NS, "abandoned", v);
    }
    h.reconcile("abandoned").await;
    let abandoned = h.queue("abandoned").unwrap();
    assert!(abandoned.metadata.finalizers.unwrap_or_default().is_empty());

    // The cluster is gone: status says so, and deletion drops the finalizer.
    h.api
        .store
        .lock()
        .unwrap()
        .remove(GV, "queueclusters", NS, "down");
    h.reconcile("stuck").await;
    assert_eq!(h.condition("stuck", "Ready").1, "ClusterNotFound");
    h.mark_deleted("stuck");
    h.reconcile("stuck").await;
    h.reconcile("doomed").await;
    for name in ["stuck", "doomed"] {
        let q = h.queue(name).unwrap();
        assert!(
            q.metadata.finalizers.unwrap_or_default().is_empty(),
            "{name}"
        );
    }
}
