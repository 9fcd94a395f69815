//! The user's flow with `kubectl` on the real control plane (it replaces the suite that
//! needed a kind cluster and was skipped everywhere): the chart installed with Helm,
//! then `kubectl apply` of `manifests/examples/queuecluster.yaml` and
//! `queue-standard.yaml`, Available / Ready, a message sent and received with the Rust
//! SDK through the client Service's ClusterIP (the pod runner forwards it, as kube-proxy
//! would; no port-forward), `kubectl scale` 3 → 5 → 3 through the scale subresource,
//! `kubectl delete pod` of the leader with status following, and `kubectl delete -f`.

mod k8s_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use k8s_support::operator::{install_operator, scenario};
use serde_json::Value;
use sqsraft_e2e::k8s::control_plane::binaries_dir;
use sqsraft_e2e::sdk;

const NAMESPACE: &str = "default";
const CLUSTER: &str = "orders";
const QUEUE: &str = "order-events";
const WAIT: Duration = Duration::from_secs(240);

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples")
}

/// `kubectl` with the control plane's admin kubeconfig, in [`NAMESPACE`].
struct Kubectl<'a>(&'a Path);

impl Kubectl<'_> {
    fn run(&self, args: &[&str]) -> Result<String> {
        let out = tokio::task::block_in_place(|| {
            Command::new(binaries_dir().join("kubectl"))
                .arg(format!("--kubeconfig={}", self.0.display()))
                .args(["-n", NAMESPACE])
                .args(args)
                .output()
        })
        .context("run kubectl (built by e2e/controlplane/build.sh)")?;
        if !out.status.success() {
            bail!("kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn get(&self, kind: &str, name: &str) -> Result<Value> {
        Ok(serde_json::from_str(
            &self.run(&["get", kind, name, "-o", "json"])?,
        )?)
    }

    fn example(&self, verb: &str, file: &str) -> Result<()> {
        let path = examples().join(file);
        self.run(&[verb, "-f", &path.display().to_string()])?;
        Ok(())
    }
}

fn condition(object: &Value, kind: &str) -> Option<String> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
        .and_then(|c| c["status"].as_str())
        .map(str::to_string)
}

/// Polls `check` every second until it returns `Some`, for at most [`WAIT`].
async fn wait_for<T>(what: &str, mut check: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let deadline = Instant::now() + WAIT;
    let mut last = None;
    loop {
        match check() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = Some(format!("{e:#}")),
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for {what} (last error: {last:?})");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn wait_available(k: &Kubectl<'_>, replicas: i64) -> Result<Value> {
    wait_for(&format!("QueueCluster Available with {replicas}"), || {
        let qc = k.get("queuecluster", CLUSTER)?;
        let voters = qc["status"]["members"].as_array().map(|m| {
            m.iter()
                .filter(|m| m["role"] == "voter" && m["healthy"] == true)
                .count()
        });
        let done = qc["status"]["readyReplicas"].as_i64() == Some(replicas)
            && voters == Some(replicas as usize)
            && qc["status"]["observedGeneration"] == qc["metadata"]["generation"]
            && condition(&qc, "Available").as_deref() == Some("True");
        Ok(done.then_some(qc))
    })
    .await
}

/// The first access key of the cluster's credentials Secret.
fn credentials(k: &Kubectl<'_>, qc: &Value) -> Result<(String, String)> {
    let name = qc["status"]["credentialsSecret"]
        .as_str()
        .context("status.credentialsSecret")?;
    let secret = k.get("secret", name)?;
    let decode = |key: &str| -> Result<String> {
        let encoded = secret["data"][key]
            .as_str()
            .with_context(|| format!("{name} has no {key}"))?;
        let out = tokio::task::block_in_place(|| {
            use std::io::Write;
            let mut child = Command::new("base64")
                .arg("-d")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()?;
            child
                .stdin
                .take()
                .context("stdin")?
                .write_all(encoded.as_bytes())?;
            anyhow::Ok(child.wait_with_output()?)
        })?;
        Ok(String::from_utf8(out.stdout)?)
    };
    Ok((
        decode("AWS_ACCESS_KEY_ID")?,
        decode("AWS_SECRET_ACCESS_KEY")?,
    ))
}

#[test]
fn the_examples_with_kubectl_apply_scale_fail_over_and_delete() {
    scenario(
        "the_examples_with_kubectl_apply_scale_fail_over_and_delete",
        async |env| {
            install_operator(env).await?;
            let k = Kubectl(env.plane.admin_kubeconfig());
            k.example("apply", "queuecluster.yaml")?;
            let qc = wait_available(&k, 3).await?;
            k.example("apply", "queue-standard.yaml")?;
            let queue = wait_for("Queue Ready", || {
                let q = k.get("queue", QUEUE)?;
                Ok((condition(&q, "Ready").as_deref() == Some("True")).then_some(q))
            })
            .await?;
            let queue_name = queue["status"]["queueName"]
                .as_str()
                .unwrap_or(QUEUE)
                .to_string();

            // Through the client Service's ClusterIP.
            let (key, secret) = credentials(&k, &qc)?;
            let ip = k.run(&[
                "get",
                "service",
                CLUSTER,
                "-o",
                "jsonpath={.spec.clusterIP}",
            ])?;
            let client = sdk::client(&format!("http://{}:9324", ip.trim()), &key, &secret);
            let url = client
                .get_queue_url()
                .queue_name(&queue_name)
                .send()
                .await?
                .queue_url
                .unwrap_or_default();
            client
                .send_message()
                .queue_url(&url)
                .message_body("hello from kubectl")
                .send()
                .await?;
            let got = client
                .receive_message()
                .queue_url(&url)
                .wait_time_seconds(10)
                .send()
                .await?;
            ensure!(
                got.messages().first().and_then(|m| m.body()) == Some("hello from kubectl"),
                "received {got:?}"
            );

            // `kubectl scale` goes through the scale subresource to spec.replicas.
            k.run(&["scale", "queuecluster", CLUSTER, "--replicas=5"])?;
            wait_available(&k, 5).await?;
            k.run(&["scale", "queuecluster", CLUSTER, "--replicas=3"])?;
            wait_available(&k, 3).await?;

            // The leader pod deleted: status names another leader, and SQS keeps working.
            let before = k.get("queuecluster", CLUSTER)?["status"]["leader"]["pod"]
                .as_str()
                .context("status.leader.pod")?
                .to_string();
            k.run(&["delete", "pod", &before, "--wait=false"])?;
            wait_for("a new leader in status", || {
                let qc = k.get("queuecluster", CLUSTER)?;
                let leader = qc["status"]["leader"]["pod"].as_str().map(str::to_string);
                Ok(leader.is_some_and(|l| l != before).then_some(()))
            })
            .await?;
            wait_available(&k, 3).await?;
            client
                .send_message()
                .queue_url(&url)
                .message_body("after failover")
                .send()
                .await?;

            // Deleting the examples: the Queue (deletionPolicy Delete) takes its queue along.
            k.example("delete", "queue-standard.yaml")?;
            let gone = client.get_queue_url().queue_name(&queue_name).send().await;
            ensure!(
                gone.as_ref()
                    .err()
                    .and_then(|e| e.as_service_error())
                    .is_some_and(|e| e.is_queue_does_not_exist()),
                "the queue outlived its Delete-policy Queue: {gone:?}"
            );
            k.example("delete", "queuecluster.yaml")?;
            wait_for("the QueueCluster and its pods gone", || {
                let pods = k.run(&["get", "pods", "-o", "name"])?;
                let qcs = k.run(&["get", "queueclusters", "-o", "name"])?;
                Ok((pods.trim().is_empty() && qcs.trim().is_empty()).then_some(()))
            })
            .await
        },
    );
}
