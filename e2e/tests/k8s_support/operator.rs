//! The operator's scenarios on the real control plane: installing the chart, a
//! QueueCluster and its status, and the two things watched *during* every change — each
//! pod's `/cluster` (one leader per term, never fewer than a majority of voters up) and
//! SQS traffic through the client Service (checked afterwards by the fault suite's
//! history checker: nothing acknowledged lost, nothing duplicated).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret, Service};
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
    PostParams,
};
use kube::{Api, Client};
use sqsraft_e2e::faults::history::History;
use sqsraft_e2e::faults::workload::{self, Target, WorkloadConfig};
use sqsraft_e2e::faults::{checker, run};
use sqsraft_e2e::k8s::helm::helm_install;
use sqsraft_e2e::k8s::pod_runner::{ImageBinary, project_images};
use sqsraft_server::admin_types::{ClusterStatus, Role};

use super::{AbortOnDrop, Env, condition, create_namespace, object, pod_ip, wait_for};

pub const OPERATOR_NS: &str = "sqsraft-system";
pub const APP_NS: &str = "apps";
pub const CLUSTER: &str = "orders";
/// A server image whose preStop hook takes [`SLOW_STOP_SECS`] longer (see
/// [`slow_stop_image`]).
pub const SLOW_STOP_IMAGE: &str = "sqsraft/sqsraft-server-slow-stop";
pub const SLOW_STOP_SECS: u64 = 4;

pub fn api(client: &Client, kind: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("sqsraft.io", "v1alpha1", kind);
    Api::namespaced_with(client.clone(), APP_NS, &ApiResource::from_gvk(&gvk))
}

pub fn queue_clusters(client: &Client) -> Api<DynamicObject> {
    api(client, "QueueCluster")
}

/// The directory holding `sqsraft-server` and `sqsraft-operator`, if both are built.
fn binaries() -> Result<std::path::PathBuf, String> {
    let server = sqsraft_e2e::cluster::server_binary().map_err(|e| format!("{e:#}"))?;
    let dir = server.parent().map(|d| d.to_path_buf()).unwrap_or_default();
    if !dir.join("sqsraft-operator").is_file() {
        return Err(format!(
            "sqsraft-operator is not in {} (cargo build -p sqsraft-operator --bins)",
            dir.display()
        ));
    }
    Ok(dir)
}

/// `sqsraft-server` with a slow preStop: the hook (`sqsraft-server transfer-leader`)
/// sleeps [`SLOW_STOP_SECS`] first, so a deleted pod stays terminating — and still
/// answering — for that long, as a pod draining a large hand-off does. A script next to
/// the binaries; the runner pulls it like any image, and it runs the pulled server.
fn slow_stop_image(dir: &Path) -> Result<ImageBinary, String> {
    let script = dir.join("sqsraft-server-slow-stop");
    let text = format!(
        "#!/bin/sh\n# sqsraft-server whose preStop hook takes {SLOW_STOP_SECS} s longer.\n\
         if [ \"$1\" = transfer-leader ]; then sleep {SLOW_STOP_SECS}; fi\n\
         exec \"$(dirname \"$0\")/sqsraft-server\" \"$@\"\n"
    );
    let write = || -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        if std::fs::read_to_string(&script).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&script, &text)?;
        }
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
    };
    write().map_err(|e| format!("write {}: {e}", script.display()))?;
    let name = SLOW_STOP_IMAGE.rsplit('/').next().unwrap_or_default();
    Ok(ImageBinary::new(
        name,
        script,
        "/usr/local/bin/sqsraft-server",
    ))
}

pub fn scenario(name: &str, body: impl AsyncFnOnce(&Env) -> Result<()>) {
    let images = binaries().and_then(|dir| {
        let mut images = project_images(&dir);
        images.push(slow_stop_image(&dir)?);
        Ok(images)
    });
    let (missing, images) = match images {
        Ok(images) => (None, images),
        Err(reason) => (Some(reason), Vec::new()),
    };
    super::scenario(name, missing, images, OPERATOR_NS, body);
}

pub async fn pods_of_cluster(client: &Client) -> Result<Vec<Pod>> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), APP_NS);
    let selector = format!("app.kubernetes.io/instance={CLUSTER}");
    Ok(pods
        .list(&ListParams::default().labels(&selector))
        .await?
        .items)
}

pub async fn cluster_status(ip: &str) -> Result<ClusterStatus> {
    let body = super::get(&format!("http://{ip}:9324/cluster")).await?;
    serde_json::from_str(&body).with_context(|| format!("parse /cluster of {ip}: {body}"))
}

pub fn status_field<'a>(qc: &'a DynamicObject, path: &[&str]) -> Option<&'a serde_json::Value> {
    let mut v = qc.data.get("status")?;
    for p in path {
        v = v.get(p)?;
    }
    Some(v)
}

/// The status of condition `kind` of a QueueCluster or Queue.
pub fn qc_condition(qc: &DynamicObject, kind: &str) -> Option<String> {
    status_field(qc, &["conditions"])?
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
        .and_then(|c| c["status"].as_str().map(str::to_owned))
}

/// Available at the current generation, `replicas` healthy voters, a leader and a
/// healthy lease in the status.
pub fn converged(qc: &DynamicObject, replicas: usize) -> bool {
    let members = status_field(qc, &["members"])
        .and_then(|m| m.as_array())
        .cloned()
        .unwrap_or_default();
    let voters = members
        .iter()
        .filter(|m| m["role"] == "voter" && m["healthy"] == true)
        .count();
    let current = status_field(qc, &["observedGeneration"]).and_then(|g| g.as_i64())
        == qc.metadata.generation;
    current
        && qc_condition(qc, "Available").as_deref() == Some("True")
        && voters == replicas
        && members.len() == replicas
        && status_field(qc, &["leader", "pod"]).is_some()
        && status_field(qc, &["leaseHealthy"]) == Some(&serde_json::Value::Bool(true))
        && status_field(qc, &["readyReplicas"]).and_then(|r| r.as_u64()) == Some(replicas as u64)
}

/// Installs the chart (`values` merged over its defaults) and waits for `replicas`
/// Ready operator pods.
pub async fn install_operator_with(
    env: &Env,
    values: serde_json::Value,
    replicas: usize,
) -> Result<()> {
    helm_install(&env.plane, OPERATOR_NS, &values).await?;
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), OPERATOR_NS);
    wait_for(
        "the operator pods Ready",
        Duration::from_secs(90),
        || async {
            let list = pods.list(&ListParams::default()).await?.items;
            Ok(list
                .iter()
                .filter(|p| condition(p, "Ready").as_deref() == Some("True"))
                .count()
                >= replicas)
        },
    )
    .await
}

pub async fn install_operator(env: &Env) -> Result<()> {
    install_operator_with(env, serde_json::json!({}), 1).await
}

pub async fn credentials(client: &Client, qc: &DynamicObject) -> Result<(String, String)> {
    let name = status_field(qc, &["credentialsSecret"])
        .and_then(|v| v.as_str())
        .context("status.credentialsSecret missing")?;
    let secret = Api::<Secret>::namespaced(client.clone(), APP_NS)
        .get(name)
        .await?;
    let data = secret.data.unwrap_or_default();
    let key = |k: &str| -> Result<String> {
        Ok(String::from_utf8(
            data.get(k)
                .with_context(|| format!("{name} has no {k}"))?
                .0
                .clone(),
        )?)
    };
    Ok((key("AWS_ACCESS_KEY_ID")?, key("AWS_SECRET_ACCESS_KEY")?))
}

pub async fn cluster_ip(client: &Client, name: &str) -> Result<String> {
    let svc = Api::<Service>::namespaced(client.clone(), APP_NS)
        .get(name)
        .await?;
    svc.spec
        .and_then(|s| s.cluster_ip)
        .context("Service without ClusterIP")
}

/// An SDK client of the cluster through its client Service's ClusterIP.
pub async fn sqs_client(client: &Client) -> Result<aws_sdk_sqs::Client> {
    let qc = queue_clusters(client).get(CLUSTER).await?;
    let (access_key, secret_key) = credentials(client, &qc).await?;
    let endpoint = format!("http://{}:9324", cluster_ip(client, CLUSTER).await?);
    Ok(sqsraft_e2e::sdk::client(
        &endpoint,
        &access_key,
        &secret_key,
    ))
}

/// A counter from the `/metrics` of operator pod `ip`.
pub async fn operator_metric(ip: &str, name: &str) -> Result<u64> {
    let metrics = super::get(&format!("http://{ip}:8080/metrics")).await?;
    let prefix = format!("{name} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .with_context(|| format!("no {name} in /metrics"))?
        .trim()
        .parse()
        .with_context(|| format!("parse {name}"))
}

/// The operator pods that are running (not terminating) and have an address.
pub async fn operator_pods(client: &Client) -> Result<Vec<Pod>> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), OPERATOR_NS);
    Ok(pods
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && !pod_ip(p).is_empty())
        .collect())
}

/// `sqsraft_operator_reconciles_total` of the (single) operator pod.
pub async fn operator_reconciles(client: &Client) -> Result<u64> {
    let pods = operator_pods(client).await?;
    let pod = pods.first().context("no operator pod IP")?;
    operator_metric(&pod_ip(pod), "sqsraft_operator_reconciles_total").await
}

/// Kubernetes API writes (POST, PUT, PATCH, DELETE) the (single) operator pod made, from
/// its `sqsraft_operator_api_requests_total`.
pub async fn operator_api_writes(client: &Client) -> Result<u64> {
    let pods = operator_pods(client).await?;
    let pod = pods.first().context("no operator pod IP")?;
    let metrics = super::get(&format!("http://{}:8080/metrics", pod_ip(pod))).await?;
    let mut writes = 0;
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let prefix = format!("sqsraft_operator_api_requests_total{{method=\"{method}\"}} ");
        if let Some(n) = metrics
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
        {
            writes += n
                .trim()
                .parse::<u64>()
                .with_context(|| format!("parse {prefix}"))?;
        }
    }
    Ok(writes)
}

/// Kills the operator: its pod is deleted with no grace period (SIGKILL, no Lease
/// release); the Deployment starts a new one.
pub async fn kill_operator(client: &Client) -> Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), OPERATOR_NS);
    for pod in operator_pods(client).await? {
        let name = pod.metadata.name.clone().unwrap_or_default();
        pods.delete(
            &name,
            &DeleteParams {
                grace_period_seconds: Some(0),
                ..DeleteParams::default()
            },
        )
        .await
        .with_context(|| format!("delete operator pod {name}"))?;
    }
    Ok(())
}

/// Creates QueueCluster [`CLUSTER`] with `replicas` and `extra` merged into its spec.
pub async fn create_cluster(env: &Env, replicas: i32, extra: serde_json::Value) -> Result<()> {
    let mut spec = serde_json::json!({
        "replicas": replicas, "region": "us-east-1", "storage": {"size": "1Gi"},
    });
    super::merge(&mut spec, extra);
    queue_clusters(&env.client)
        .create(
            &PostParams::default(),
            &object(serde_json::json!({
                "apiVersion": "sqsraft.io/v1alpha1",
                "kind": "QueueCluster",
                "metadata": {"name": CLUSTER, "namespace": APP_NS},
                "spec": spec,
            })),
        )
        .await
        .context("create the QueueCluster")?;
    Ok(())
}

pub async fn wait_converged(client: &Client, replicas: usize, limit: Duration) -> Result<()> {
    let qcs = queue_clusters(client);
    wait_for(
        &format!("QueueCluster Available with {replicas} healthy voters"),
        limit,
        || async { Ok(converged(&qcs.get(CLUSTER).await?, replicas)) },
    )
    .await
}

/// Installs the operator and creates a QueueCluster of `replicas` (spec `extra`), then
/// waits until it has converged.
pub async fn cluster_of(env: &Env, replicas: i32, extra: serde_json::Value) -> Result<()> {
    install_operator(env).await?;
    create_namespace(&env.client, APP_NS).await?;
    create_cluster(env, replicas, extra).await?;
    wait_converged(&env.client, replicas as usize, Duration::from_secs(240)).await
}

/// Merge-patches the QueueCluster's spec.
pub async fn patch_spec(client: &Client, spec: serde_json::Value) -> Result<()> {
    queue_clusters(client)
        .patch(
            CLUSTER,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({ "spec": spec })),
        )
        .await
        .with_context(|| format!("patch spec {spec}"))?;
    Ok(())
}

pub fn leader_of(qc: &DynamicObject) -> Option<String> {
    status_field(qc, &["leader", "pod"])
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

/// The pod carrying the leader label, if exactly one does.
pub async fn labelled_leader(client: &Client) -> Result<Option<String>> {
    let pods = pods_of_cluster(client).await?;
    let labelled: Vec<String> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("sqsraft.io/role"))
                .map(String::as_str)
                == Some("leader")
        })
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    Ok((labelled.len() == 1).then(|| labelled[0].clone()))
}

/// Names of the cluster's PVCs.
pub async fn pvc_names(client: &Client) -> Result<BTreeSet<String>> {
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), APP_NS);
    let selector = format!("app.kubernetes.io/instance={CLUSTER}");
    Ok(pvcs
        .list(&ListParams::default().labels(&selector))
        .await?
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect())
}

/// Sweeps in a row with fewer than a majority of voters up before it counts: a sweep
/// is one pass over every pod, a few hundred milliseconds, and a leader hand-off or a
/// slow answer may cover one or two; a real loss of quorum (two pods down at once)
/// lasts seconds.
const BELOW_QUORUM_SWEEPS: usize = 3;

/// A follower this close to the leader's log counts as caught up.
const CAUGHT_UP_LAG: u64 = 100;

/// A pod seen terminating for the first time.
#[derive(Debug, Clone)]
pub struct Termination {
    pub pod: String,
    /// Whether it was the leader at its last sample before.
    pub was_leader: bool,
    /// Voters up and caught up in that sweep (the terminating pod not counted), and
    /// the leader's voter count.
    pub others_caught_up: usize,
    pub voters: usize,
}

/// What the sampler saw while a change ran.
#[derive(Debug, Default, Clone)]
pub struct Observations {
    pub sweeps: u64,
    /// Node ids that claimed leadership, per term.
    pub leaders: BTreeMap<u64, BTreeSet<u64>>,
    /// Descriptions of the sweeps (runs of [`BELOW_QUORUM_SWEEPS`]) with fewer than a
    /// majority of the leader's voters up.
    pub below_quorum: Vec<String>,
    /// The most pods terminating at the same time.
    pub max_terminating: usize,
    /// The most learners the leader reported at once.
    pub max_learners: usize,
    /// Pods in the order they started terminating.
    pub terminations: Vec<Termination>,
    /// The last leader's own view.
    pub last_leader: Option<ClusterStatus>,
    /// The voter counts the leader reported, in order, without repeats.
    pub voter_counts: Vec<usize>,
    /// Elections seen (runs of sweeps without a leader) and the longest one.
    pub leaderless_windows: usize,
    pub longest_leaderless: Duration,
    leaderless_since: Option<Instant>,
    low_run: usize,
    seen_terminating: BTreeSet<String>,
    last_role: BTreeMap<String, bool>,
}

impl Observations {
    /// No term with two leaders and never fewer than a majority of voters up.
    pub fn check(&self) -> Result<()> {
        ensure!(
            self.sweeps > 0 && !self.leaders.is_empty(),
            "the sampler never saw a leader"
        );
        if let Some((term, ids)) = self.leaders.iter().find(|(_, ids)| ids.len() > 1) {
            bail!("term {term} had two leaders: {ids:?}");
        }
        ensure!(
            self.below_quorum.is_empty(),
            "fewer than a majority of voters up: {:?}",
            self.below_quorum
        );
        Ok(())
    }

    fn record(&mut self, sweep: Vec<(Pod, Option<ClusterStatus>)>) {
        self.sweeps += 1;
        for (_, s) in &sweep {
            if let Some(s) = s
                && s.role == Role::Leader
            {
                self.leaders.entry(s.term).or_default().insert(s.node_id);
            }
        }
        let leader = sweep
            .iter()
            .filter_map(|(_, s)| s.as_ref())
            .filter(|s| s.role == Role::Leader)
            .max_by_key(|s| s.term)
            .cloned();
        // Up: answers, is not terminating, is a voter, follows this leader; caught up
        // when the leader's replication lag to it is small as well.
        let (voters, up, caught_up) = match &leader {
            Some(leader) => {
                let voters: BTreeSet<u64> = leader.voters.iter().map(|m| m.node_id).collect();
                let lag = |id: u64| {
                    (id == leader.node_id).then_some(0).or_else(|| {
                        leader
                            .replication
                            .iter()
                            .find(|f| f.node_id == id)
                            .map(|f| f.lag)
                    })
                };
                let up: Vec<u64> = sweep
                    .iter()
                    .filter(|(p, _)| p.metadata.deletion_timestamp.is_none())
                    .filter_map(|(_, s)| s.as_ref())
                    .filter(|s| voters.contains(&s.node_id) && s.leader_id == Some(leader.node_id))
                    .map(|s| s.node_id)
                    .collect();
                let caught_up = up
                    .iter()
                    .filter(|id| lag(**id).is_some_and(|l| l <= CAUGHT_UP_LAG))
                    .count();
                (voters, up, caught_up)
            }
            None => (BTreeSet::new(), Vec::new(), 0),
        };

        let terminating: Vec<&Pod> = sweep
            .iter()
            .map(|(p, _)| p)
            .filter(|p| p.metadata.deletion_timestamp.is_some())
            .collect();
        self.max_terminating = self.max_terminating.max(terminating.len());
        for pod in terminating {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            if self.seen_terminating.insert(uid) {
                self.terminations.push(Termination {
                    was_leader: self.last_role.get(&name).copied().unwrap_or(false),
                    pod: name,
                    others_caught_up: caught_up,
                    voters: voters.len(),
                });
            }
        }
        for (pod, status) in &sweep {
            if let (Some(name), Some(s)) = (&pod.metadata.name, status)
                && pod.metadata.deletion_timestamp.is_none()
            {
                self.last_role.insert(name.clone(), s.role == Role::Leader);
            }
        }

        let Some(leader) = leader else {
            // An election (a hand-off, a rejoining node's higher term) leaves no leader
            // for a moment: not a loss of quorum as long as a majority of the last
            // known voters is up (answering, not terminating).
            let since = *self.leaderless_since.get_or_insert_with(Instant::now);
            self.longest_leaderless = self.longest_leaderless.max(since.elapsed());
            let voters: BTreeSet<u64> = self
                .last_leader
                .iter()
                .flat_map(|l| l.voters.iter().map(|m| m.node_id))
                .collect();
            let up: Vec<u64> = sweep
                .iter()
                .filter(|(p, _)| p.metadata.deletion_timestamp.is_none())
                .filter_map(|(_, s)| s.as_ref())
                .filter(|s| voters.contains(&s.node_id))
                .map(|s| s.node_id)
                .collect();
            if voters.is_empty() || up.len() < voters.len() / 2 + 1 {
                self.low(format!("no leader: voters {voters:?}, up {up:?}"));
            } else {
                self.low_run = 0;
            }
            return;
        };
        if self.leaderless_since.take().is_some() {
            self.leaderless_windows += 1;
        }
        self.max_learners = self.max_learners.max(leader.learners.len());
        if self.voter_counts.last() != Some(&voters.len()) {
            self.voter_counts.push(voters.len());
        }
        self.last_leader = Some(leader.clone());
        if up.len() < voters.len() / 2 + 1 {
            self.low(format!(
                "term {}: voters {voters:?}, up {up:?}",
                leader.term
            ));
        } else {
            self.low_run = 0;
        }
    }

    fn low(&mut self, what: String) {
        self.low_run += 1;
        if self.low_run == BELOW_QUORUM_SWEEPS {
            self.below_quorum
                .push(format!("sweep {}: {what}", self.sweeps));
        }
    }
}

pub type Shared = Arc<Mutex<Observations>>;

/// Samples every pod's `/cluster` (and its terminating state) every 250 ms until
/// dropped.
pub fn sample(client: Client) -> (Shared, AbortOnDrop) {
    let seen: Shared = Arc::default();
    let record = seen.clone();
    let task = tokio::spawn(async move {
        loop {
            if let Ok(pods) = pods_of_cluster(&client).await {
                let mut sweep = Vec::new();
                for pod in pods {
                    let ip = pod_ip(&pod);
                    let status = if ip.is_empty() {
                        None
                    } else {
                        cluster_status(&ip).await.ok()
                    };
                    sweep.push((pod, status));
                }
                record
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .record(sweep);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    (seen, AbortOnDrop(task))
}

pub fn observed(seen: &Shared) -> Observations {
    seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// SQS producers and consumers on a standard and a FIFO queue through the client
/// Service, recording a history for the checker.
pub struct Traffic {
    target: Target,
    history: Arc<History>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

const SEED: u64 = 16;

impl Traffic {
    pub async fn start(client: &Client) -> Result<Traffic> {
        let sqs = sqs_client(client).await?;
        let target = workload::create_queues(vec![sqs], "k8s").await?;
        let history = Arc::new(History::default());
        let stop = Arc::new(AtomicBool::new(false));
        let config = WorkloadConfig {
            standard_producers: 1,
            fifo_producers: 1,
            fifo_groups: 2,
            consumers: 1,
            op_interval: Duration::from_millis(100),
        };
        let tasks = workload::spawn(&config, &target, SEED, &history, &stop);
        Ok(Traffic {
            target,
            history,
            stop,
            tasks,
        })
    }

    /// Stops the workload, drains both queues and checks the history.
    pub async fn check(self) -> Result<()> {
        run::stop_workers(&self.stop, self.tasks).await;
        let drained =
            run::drain_both(&self.target, SEED, &self.history, Duration::from_secs(90)).await;
        let history = Arc::into_inner(self.history).context("history still shared")?;
        let verdict = checker::check(&history.into_records());
        eprintln!("SQS traffic through the client Service: {verdict}");
        ensure!(drained, "the queues were not drained: {verdict}");
        ensure!(
            verdict.acknowledged > 0,
            "no send was acknowledged: {verdict}"
        );
        ensure!(verdict.ok(), "{verdict}: {:?}", verdict.details);
        Ok(())
    }
}

/// Sends `signal` to every server process of the cluster: the processes this test's
/// runner started from its pulled `sqsraft-server` (found in `/proc`, matched by the
/// runner's own directory, so no other test's process is touched).
pub fn signal_servers(env: &Env, signal: i32) -> Result<usize> {
    let binary = env.runner.dir().join("images").join("sqsraft-server");
    let binary = binary.to_string_lossy().into_owned();
    let mut signalled = 0;
    for entry in std::fs::read_dir("/proc")? {
        let Some(pid) = entry?
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
        let args = String::from_utf8_lossy(&cmdline);
        if argv0 != binary.as_bytes() || args.contains("transfer-leader") {
            continue;
        }
        // SAFETY: kill has no memory preconditions; pid is a process this test started.
        if unsafe { libc::kill(pid, signal) } == 0 {
            signalled += 1;
        }
    }
    Ok(signalled)
}
