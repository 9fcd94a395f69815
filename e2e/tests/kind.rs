//! End to end on a real Kubernetes cluster (e.g. kind) with the operator installed as
//! `e2e/README.md` describes. Runs only when `KUBECONFIG` points at a cluster and
//! `kubectl` is on PATH; otherwise it prints why it is skipped.
//!
//! Flow: apply the example QueueCluster and standard Queue, wait for Available / Ready,
//! send and receive through the client Service (port-forward) with the Rust SDK, scale
//! 3 → 5 → 3, delete the leader pod and watch status follow, then clean up.

use serde_json::Value;
use sqsraft_e2e::sdk;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NAMESPACE: &str = "default";
const CLUSTER: &str = "orders";
const QUEUE: &str = "order-events";
const WAIT: Duration = Duration::from_secs(600);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Why the suite cannot run here, if it cannot.
fn skip_reason() -> Option<String> {
    let Some(config) = std::env::var_os("KUBECONFIG") else {
        return Some("KUBECONFIG is not set (no Kubernetes cluster to test against)".into());
    };
    if !PathBuf::from(&config).exists() {
        return Some(format!("KUBECONFIG {config:?} does not exist"));
    }
    match Command::new("kubectl")
        .args(["version", "--client"])
        .output()
    {
        Ok(out) if out.status.success() => None,
        _ => Some("kubectl is not on PATH".into()),
    }
}

fn kubectl(args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .args(["-n", NAMESPACE])
        .args(args)
        .output()
        .expect("run kubectl");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn get_json(kind: &str, name: &str) -> Value {
    serde_json::from_str(&kubectl(&["get", kind, name, "-o", "json"])).expect("json")
}

fn condition(object: &Value, kind: &str) -> Option<String> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
        .and_then(|c| c["status"].as_str())
        .map(str::to_string)
}

/// Polls `check` until it returns `Some`, or fails after [`WAIT`].
fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_secs(2));
    }
}

fn wait_available(replicas: i64) -> Value {
    wait_for(
        &format!("QueueCluster Available with {replicas} ready"),
        || {
            let qc = get_json("queuecluster", CLUSTER);
            let ready = qc["status"]["readyReplicas"].as_i64() == Some(replicas);
            (ready && condition(&qc, "Available").as_deref() == Some("True")).then_some(qc)
        },
    )
}

/// `kubectl port-forward` of the client Service; killed on drop.
struct PortForward(Child);

impl Drop for PortForward {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn port_forward(local: u16) -> PortForward {
    let child = Command::new("kubectl")
        .args([
            "-n",
            NAMESPACE,
            "port-forward",
            &format!("svc/{CLUSTER}"),
            &format!("{local}:9324"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("port-forward");
    std::thread::sleep(Duration::from_secs(3));
    PortForward(child)
}

fn credentials(qc: &Value) -> (String, String) {
    let secret_name = qc["status"]["credentialsSecret"]
        .as_str()
        .expect("credentials secret");
    let secret = get_json("secret", secret_name);
    let encoded = secret["data"]["credentials.json"]
        .as_str()
        .expect("credentials.json");
    let decoded = Command::new("base64")
        .arg("-d")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .expect("stdin")
                .write_all(encoded.as_bytes())?;
            c.wait_with_output()
        });
    let file: Value =
        serde_json::from_slice(&decoded.expect("base64").stdout).expect("credentials json");
    let key = &file["credentials"][0];
    (
        key["accessKeyId"].as_str().expect("key").to_string(),
        key["secretAccessKey"].as_str().expect("secret").to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_cluster_and_queue_on_kubernetes() {
    if let Some(reason) = skip_reason() {
        println!("SKIPPED: {reason}");
        return;
    }
    let examples = repo().join("manifests/examples");
    let apply = |file: &str| {
        let path = examples.join(file);
        tokio::task::block_in_place(|| kubectl(&["apply", "-f", path.to_str().expect("path")]));
    };
    apply("queuecluster.yaml");
    let qc = tokio::task::block_in_place(|| wait_available(3));
    apply("queue-standard.yaml");
    let queue = tokio::task::block_in_place(|| {
        wait_for("Queue Ready", || {
            let q = get_json("queue", QUEUE);
            (condition(&q, "Ready").as_deref() == Some("True")).then_some(q)
        })
    });
    let queue_name = queue["status"]["queueName"]
        .as_str()
        .unwrap_or(QUEUE)
        .to_string();

    // Send and receive through the client Service.
    let (key, secret) = credentials(&qc);
    let local = 18_324;
    let _forward = port_forward(local);
    let client = sdk::client(&format!("http://127.0.0.1:{local}"), &key, &secret);
    let url = client
        .get_queue_url()
        .queue_name(&queue_name)
        .send()
        .await
        .expect("queue url")
        .queue_url
        .unwrap_or_default();
    client
        .send_message()
        .queue_url(&url)
        .message_body("hello from kind")
        .send()
        .await
        .expect("send");
    let got = client
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(10)
        .send()
        .await
        .expect("receive");
    assert_eq!(
        got.messages().first().and_then(|m| m.body()),
        Some("hello from kind")
    );

    // Scale up and back down; desired size comes from spec.replicas.
    tokio::task::block_in_place(|| {
        kubectl(&["scale", "queuecluster", CLUSTER, "--replicas=5"]);
        wait_available(5);
        kubectl(&["scale", "queuecluster", CLUSTER, "--replicas=3"]);
        wait_available(3);
    });

    // Delete the leader pod: status names a new leader and the cluster is Available again.
    let before = get_json("queuecluster", CLUSTER)["status"]["leader"]["pod"]
        .as_str()
        .expect("leader pod")
        .to_string();
    tokio::task::block_in_place(|| {
        kubectl(&["delete", "pod", &before, "--wait=false"]);
        wait_for("a new leader in status", || {
            let qc = get_json("queuecluster", CLUSTER);
            let leader = qc["status"]["leader"]["pod"].as_str().map(str::to_string);
            (leader.as_deref().is_some_and(|l| l != before)
                && condition(&qc, "Available").as_deref() == Some("True"))
            .then_some(())
        });
        wait_available(3);
    });
    client
        .send_message()
        .queue_url(&url)
        .message_body("after failover")
        .send()
        .await
        .expect("send after failover");

    tokio::task::block_in_place(|| {
        kubectl(&[
            "delete",
            "-f",
            examples.join("queue-standard.yaml").to_str().expect("path"),
        ]);
        kubectl(&[
            "delete",
            "-f",
            examples.join("queuecluster.yaml").to_str().expect("path"),
        ]);
    });
}
