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
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_api::FakeApi;
use serde_json::{Value, json};
use sqsraft_operator::admin_types::{InitRequest, Member};
use sqsraft_operator::crd::QueueCluster;
use sqsraft_operator::crd::queue::Queue;
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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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

    async fn reconcile(&self, name: &str) -> kube::runtime::controller::Action {
        queue::reconcile(Arc::new(self.queue(name).unwrap()), self.ctx.clone())
            .await
            .expect("reconcile")
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
        eprintln!(
            "SKIPPED: no sqsraft-server binary; run `cargo build -p sqsraft-server --bins` or set SQSRAFT_SERVER_BIN"
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

    // Out-of-band drift is repaired; an out-of-band tag is removed.
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
    assert!(
        !h.sqs
            .list_queue_tags(&url)
            .await
            .unwrap()
            .contains_key("stray")
    );

    // Out-of-band DeleteQueue: the next resync recreates it.
    h.sqs.delete_queue(&url).await.unwrap();
    h.reconcile("orders").await;
    assert_eq!(h.attrs("orders").await["VisibilityTimeout"], "45");

    // Adoption of an existing queue, with its drift repaired.
    h.sqs
        .create_queue(
            "legacy",
            &BTreeMap::from([("DelaySeconds".into(), "5".into())]),
            &BTreeMap::new(),
        )
        .await
        .unwrap();
    h.put_queue("legacy", json!({"clusterRef": {"name": "up"}}));
    h.reconcile("legacy").await;
    let synced = h.condition("legacy", "Synced").2;
    assert!(synced.contains("adopted existing queue legacy"), "{synced}");
    assert_eq!(h.attrs("legacy").await["DelaySeconds"], "0");

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
    assert!(
        h.queue("stuck")
            .unwrap()
            .metadata
            .finalizers
            .unwrap_or_default()
            .is_empty()
    );
}
