//! The membership loop (planner + HTTP admin client) against a REAL sqsraft cluster of
//! separate `sqsraft-server` processes on 127.0.0.1. The StatefulSet is played by
//! [`LocalWorkloads`]: "scaling" starts and stops processes, "deleting a PVC" removes a
//! node's data directory. No Kubernetes involved. The internal port runs with mutual
//! TLS from the operator's own PKI (a CA, a member certificate, the operator's client
//! certificate), as in a QueueCluster.
//!
//! Needs the server binary: `$SQSRAFT_SERVER_BIN`, or `target/debug/sqsraft-server`
//! of the workspace (`cargo build -p sqsraft-server`). Without it the test says why it
//! cannot run (and fails under `CI=true`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use sqsraft_operator::admin_types::ClusterStatus;
use sqsraft_operator::controller::identity::Identities;
use sqsraft_operator::controller::tls::AdminTrust;
use sqsraft_operator::membership::{
    AdminApi, AdminCall, AdminCallError, HttpAdminClient, LoopbackResolver, PlannerConfig, Step,
    WorkloadState, Workloads, turn,
};
use sqsraft_operator::pki::{self, Authority, CaPair};

const TOKEN: &str = "local-cluster-test-token";
const MAX_NODES: usize = 5;
const DAY: Duration = Duration::from_secs(86_400);

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

struct Node {
    sqs_port: u16,
    internal_port: u16,
    child: Option<Child>,
}

/// Server processes standing in for a StatefulSet's pods.
struct LocalWorkloads {
    bin: PathBuf,
    dir: PathBuf,
    inner: Mutex<(Option<u32>, Vec<Node>)>,
    /// Ordinals standing for pods on an old template (a rolling update in progress).
    outdated: Mutex<BTreeSet<u32>>,
}

impl LocalWorkloads {
    fn new(bin: PathBuf, dir: &Path) -> Self {
        std::fs::write(dir.join("token"), TOKEN).unwrap();
        let now = SystemTime::now();
        let (ca, issued) = Authority::generate("local CA", now, DAY * 30).unwrap();
        let sans = ["localhost".to_string(), "127.0.0.1".to_string()];
        let member = ca
            .issue(&pki::member_profile("local member", &sans), now, DAY)
            .unwrap();
        std::fs::write(dir.join("ca.crt"), &issued.cert_pem).unwrap();
        std::fs::write(dir.join("tls.crt"), &member.cert_pem).unwrap();
        std::fs::write(dir.join("tls.key"), &member.key_pem).unwrap();
        std::fs::write(dir.join("ca.key"), &issued.key_pem).unwrap();
        std::fs::write(
            dir.join("credentials.json"),
            r#"{"credentials":[{"accessKeyId":"AKIDLOCALTEST","secretAccessKey":"local-test-secret"}]}"#,
        )
        .unwrap();
        let nodes = (0..MAX_NODES)
            .map(|_| Node {
                sqs_port: free_port(),
                internal_port: free_port(),
                child: None,
            })
            .collect();
        Self {
            bin,
            dir: dir.to_path_buf(),
            inner: Mutex::new((None, nodes)),
            outdated: Mutex::new(BTreeSet::new()),
        }
    }

    fn resolver(&self) -> LoopbackResolver {
        let inner = self.inner.lock().unwrap();
        LoopbackResolver {
            internal_ports: inner.1.iter().map(|n| n.internal_port).collect(),
        }
    }

    /// The operator's identity towards this cluster, as the controller makes it.
    fn operator_tls(&self) -> Arc<rustls::ClientConfig> {
        let read = |f: &str| std::fs::read_to_string(self.dir.join(f)).unwrap();
        let trust = AdminTrust::Issue {
            bundle: read("ca.crt"),
            signer: CaPair {
                cert_pem: read("ca.crt"),
                key_pem: read("ca.key"),
            },
        };
        Identities::default()
            .config(
                ("local".into(), "cluster".into()),
                &trust,
                SystemTime::now(),
            )
            .unwrap()
    }

    /// The admin client the controller would use.
    fn admin(&self, token: &str) -> HttpAdminClient<LoopbackResolver> {
        HttpAdminClient::new(self.resolver(), token, Some(self.operator_tls()))
    }

    fn data_dir(&self, ordinal: u32) -> PathBuf {
        self.dir.join(format!("data-{ordinal}"))
    }

    fn start(&self, nodes: &mut [Node], ordinal: u32) {
        let n = &mut nodes[ordinal as usize];
        if n.child.is_some() {
            return;
        }
        let log = std::fs::File::create(self.dir.join(format!("node-{ordinal}.log"))).unwrap();
        let child = Command::new(&self.bin)
            .arg("--node-id")
            .arg((ordinal + 1).to_string())
            .arg("--data-dir")
            .arg(self.data_dir(ordinal))
            .arg("--sqs-listen")
            .arg(format!("127.0.0.1:{}", n.sqs_port))
            .arg("--internal-listen")
            .arg(format!("127.0.0.1:{}", n.internal_port))
            .arg("--credentials-file")
            .arg(self.dir.join("credentials.json"))
            .arg("--cluster-token-file")
            .arg(self.dir.join("token"))
            .arg("--internal-ca-file")
            .arg(self.dir.join("ca.crt"))
            .arg("--internal-cert-file")
            .arg(self.dir.join("tls.crt"))
            .arg("--internal-key-file")
            .arg(self.dir.join("tls.key"))
            .args(["--heartbeat-interval-ms", "50"])
            .args(["--election-timeout-min-ms", "300"])
            .args(["--election-timeout-max-ms", "600"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sqsraft-server");
        n.child = Some(child);
    }

    fn stop(nodes: &mut [Node], ordinal: u32) {
        if let Some(mut child) = nodes[ordinal as usize].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Crashes a pod that stays in the StatefulSet (the "node down" fault).
    fn crash(&self, ordinal: u32) {
        Self::stop(&mut self.inner.lock().unwrap().1, ordinal);
    }

    /// Brings a crashed pod back on its data directory.
    fn restart(&self, ordinal: u32) {
        let mut inner = self.inner.lock().unwrap();
        self.start(&mut inner.1, ordinal);
    }

    fn logs(&self) -> String {
        (0..MAX_NODES)
            .map(|o| {
                let text = std::fs::read_to_string(self.dir.join(format!("node-{o}.log")))
                    .unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                format!(
                    "--- node #{o}\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for LocalWorkloads {
    fn drop(&mut self) {
        let mut inner = self.inner.lock().unwrap();
        for o in 0..MAX_NODES as u32 {
            Self::stop(&mut inner.1, o);
        }
    }
}

impl Workloads for LocalWorkloads {
    type Error = std::io::Error;

    async fn observe(&self) -> Result<WorkloadState, std::io::Error> {
        let inner = self.inner.lock().unwrap();
        let replicas = inner.0;
        Ok(WorkloadState {
            statefulset_replicas: replicas,
            // Crashed pods still exist (the StatefulSet keeps them); they just do not answer.
            pods: (0..replicas.unwrap_or(0)).collect(),
            volumes: (0..MAX_NODES as u32)
                .filter(|o| self.data_dir(*o).exists())
                .collect(),
            outdated: self.outdated.lock().unwrap().clone(),
            // Processes stop at once; none lingers in a preStop hook.
            terminating: BTreeSet::new(),
            pending: false,
        })
    }

    async fn scale(&self, replicas: u32) -> Result<(), std::io::Error> {
        assert!(replicas as usize <= MAX_NODES);
        let mut inner = self.inner.lock().unwrap();
        for o in 0..MAX_NODES as u32 {
            if o < replicas {
                self.start(&mut inner.1, o);
            } else {
                Self::stop(&mut inner.1, o);
            }
        }
        inner.0 = Some(replicas);
        Ok(())
    }

    async fn restart_pod(&self, ordinal: u32) -> Result<(), std::io::Error> {
        let mut inner = self.inner.lock().unwrap();
        Self::stop(&mut inner.1, ordinal);
        self.start(&mut inner.1, ordinal);
        self.outdated.lock().unwrap().remove(&ordinal);
        Ok(())
    }

    async fn delete_volume(&self, ordinal: u32) -> Result<(), std::io::Error> {
        let inner = self.inner.lock().unwrap();
        assert!(
            inner.1[ordinal as usize].child.is_none(),
            "volume of running node #{ordinal} deleted"
        );
        std::fs::remove_dir_all(self.data_dir(ordinal))
    }
}

/// Runs turns until the planner reports `Converged`; returns every step taken (waits
/// and refusals included). Panics after `limit`.
async fn converge(
    desired: u32,
    api: &HttpAdminClient<LoopbackResolver>,
    w: &LocalWorkloads,
    limit: Duration,
) -> Vec<Step> {
    let resolver = w.resolver();
    let config = PlannerConfig::default();
    let start = Instant::now();
    let mut steps = Vec::new();
    loop {
        match turn(desired, true, api, &resolver, w, &config).await {
            Ok((Step::Converged, _)) => return steps,
            Ok((step, observed)) => {
                // Whatever else happens, the pod being restarted never leads: the planner
                // hands leadership over first.
                // (A deposed leader that has not heard of the newer term does not count.)
                if let Step::RestartPod { ordinal } = step {
                    let statuses = || observed.pods.values().filter_map(|o| o.as_ref().ok());
                    let term = statuses().map(|s| s.term).max().unwrap_or(0);
                    let leads = statuses().any(|s| {
                        s.node_id == u64::from(ordinal) + 1
                            && s.leader_id == Some(s.node_id)
                            && s.term == term
                    });
                    assert!(!leads, "restarted the leader #{ordinal}: {steps:#?}");
                }
                let idle = matches!(step, Step::Wait { .. } | Step::Refuse { .. });
                steps.push(step);
                if idle {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            Err(e) => {
                steps.push(Step::Wait {
                    reason: format!("error: {e}"),
                });
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
        assert!(
            start.elapsed() < limit,
            "not converged at {desired} after {limit:?}; steps: {steps:#?}\n{}",
            w.logs()
        );
    }
}

/// The membership as the leader reports it: (leader ordinal, voter ordinals, learners).
async fn membership(
    api: &HttpAdminClient<LoopbackResolver>,
    w: &LocalWorkloads,
) -> (u32, BTreeSet<u32>, usize) {
    let replicas = w.inner.lock().unwrap().0.unwrap_or(0);
    for o in 0..replicas {
        if let Ok(s) = api.call(o, AdminCall::Status).await
            && s.leader_id == Some(u64::from(o) + 1)
        {
            return leader_view(o, &s);
        }
    }
    panic!("no leader answers");
}

fn leader_view(o: u32, s: &ClusterStatus) -> (u32, BTreeSet<u32>, usize) {
    let voters = s.voters.iter().map(|m| (m.node_id - 1) as u32).collect();
    (o, voters, s.learners.len())
}

fn kinds(steps: &[Step]) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for s in steps {
        let k = match s {
            Step::GrowStatefulSet { .. } => "grow",
            Step::Bootstrap { .. } => "bootstrap",
            Step::AddLearner { .. } => "add-learner",
            Step::Promote { .. } => "promote",
            Step::TransferLeader { .. } => "transfer-leader",
            Step::RemoveVoter { .. } => "remove-voter",
            Step::RemoveLearner { .. } => "remove-learner",
            Step::ShrinkStatefulSet { .. } => "shrink",
            Step::DeletePvc { .. } => "delete-pvc",
            Step::RestartPod { .. } => "restart-pod",
            Step::Wait { .. } => "wait",
            Step::Refuse { .. } => "refuse",
            Step::Converged => "converged",
        };
        *m.entry(k).or_insert(0) += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planner_drives_a_real_cluster_through_create_scale_up_refusal_and_scale_down() {
    let Some(bin) = server_binary() else {
        sqsraft_server::prerequisite::unavailable(
            "the planner against a real cluster",
            "no sqsraft-server binary; build it with `cargo build -p sqsraft-server` \
             or set SQSRAFT_SERVER_BIN",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let w = LocalWorkloads::new(bin, dir.path());
    let api = w.admin(TOKEN);
    let limit = Duration::from_secs(90);

    // Create: the StatefulSet appears, every pod answers, one bootstrap with 3 voters.
    // (`ever_bootstrapped` is passed as true by `converge`, so make the first turns
    // with false until the bootstrap happened.)
    let resolver = w.resolver();
    let config = PlannerConfig::default();
    let start = Instant::now();
    let mut created = Vec::new();
    loop {
        let (step, _) = turn(3, false, &api, &resolver, &w, &config).await.unwrap();
        let done = matches!(step, Step::Bootstrap { .. });
        if matches!(step, Step::Wait { .. }) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        created.push(step);
        if done {
            break;
        }
        assert!(start.elapsed() < limit, "{created:#?}\n{}", w.logs());
    }
    assert_eq!(created[0], Step::GrowStatefulSet { replicas: 3 });
    assert_eq!(
        created.last(),
        Some(&Step::Bootstrap {
            via: 0,
            voters: vec![0, 1, 2]
        })
    );
    converge(3, &api, &w, limit).await;
    let (_, voters, learners) = membership(&api, &w).await;
    assert_eq!(voters, BTreeSet::from([0, 1, 2]));
    assert_eq!(learners, 0);

    // Scale up 3 → 5: grow, then learner + promote for each new node, one at a time.
    let steps = converge(5, &api, &w, limit).await;
    eprintln!("scale-up steps: {steps:?}");
    let k = kinds(&steps);
    assert_eq!(k.get("add-learner"), Some(&2), "{steps:#?}");
    assert_eq!(k.get("promote"), Some(&2), "{steps:#?}");
    assert_eq!(k.get("grow"), Some(&1), "{steps:#?}");
    let (_, voters, learners) = membership(&api, &w).await;
    assert_eq!(voters, BTreeSet::from([0, 1, 2, 3, 4]));
    assert_eq!(learners, 0);

    // A remaining node goes down: scaling to 3 is refused and nothing changes.
    let (leader, _, _) = membership(&api, &w).await;
    let victim = [0, 1, 2].into_iter().find(|o| *o != leader).unwrap();
    w.crash(victim);
    let (step, _) = turn(3, true, &api, &resolver, &w, &config).await.unwrap();
    assert!(
        matches!(&step, Step::Refuse { reason } if reason.contains(&format!("#{victim}"))),
        "{step:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (step, _) = turn(3, true, &api, &resolver, &w, &config).await.unwrap();
    assert!(matches!(step, Step::Refuse { .. }), "{step:?}");
    let (_, voters, _) = membership(&api, &w).await;
    assert_eq!(voters.len(), 5, "no voter removed while refusing");

    // It comes back: the scale-down resumes and completes, volumes cleaned.
    w.restart(victim);
    let steps = converge(3, &api, &w, limit).await;
    eprintln!("scale-down steps: {steps:?}");
    let k = kinds(&steps);
    assert_eq!(k.get("remove-voter"), Some(&2), "{steps:#?}");
    assert_eq!(k.get("shrink"), Some(&1), "{steps:#?}");
    assert_eq!(k.get("delete-pvc"), Some(&2), "{steps:#?}");
    let (_, voters, learners) = membership(&api, &w).await;
    assert_eq!(voters, BTreeSet::from([0, 1, 2]));
    assert_eq!(learners, 0);
    assert!(!w.data_dir(3).exists() && !w.data_dir(4).exists());

    // Scale up again: the nodes rejoin empty (their old state is gone) and converge.
    let steps = converge(5, &api, &w, limit).await;
    assert!(!kinds(&steps).contains_key("refuse"), "{steps:#?}");
    let (leader, voters, _) = membership(&api, &w).await;
    assert_eq!(voters.len(), 5);

    // Leadership on a leaving node: the planner hands it over before removing it.
    let req = sqsraft_operator::admin_types::TransferLeaderRequest { node_id: Some(5) };
    api.call(leader, AdminCall::TransferLeader(req))
        .await
        .unwrap();
    let start = Instant::now();
    while membership(&api, &w).await.0 != 4 {
        assert!(start.elapsed() < limit, "leadership did not move to #4");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let steps = converge(3, &api, &w, limit).await;
    eprintln!("scale-down from a leaving leader: {steps:?}");
    let k = kinds(&steps);
    assert_eq!(k.get("transfer-leader"), Some(&1), "{steps:#?}");
    assert!(
        matches!(steps[0], Step::TransferLeader { leader: 4, .. }),
        "{steps:#?}"
    );
    assert_eq!(k.get("remove-voter"), Some(&2), "{steps:#?}");
    let (leader, voters, _) = membership(&api, &w).await;
    assert!(leader < 3);
    assert_eq!(voters, BTreeSet::from([0, 1, 2]));

    // Rolling update: every pod restarts (really: process killed and started again on
    // its data), the leader only after a hand-over; quorum holds.
    *w.outdated.lock().unwrap() = BTreeSet::from([0, 1, 2]);
    let steps = converge(3, &api, &w, limit).await;
    eprintln!("rolling update: {steps:?}");
    let k = kinds(&steps);
    assert_eq!(k.get("restart-pod"), Some(&3), "{steps:#?}");
    // One hand-over, or none when leadership already moved while a follower restarted
    // (an election on a loaded machine); `converge` checks no leader is ever restarted.
    assert!(
        k.get("transfer-leader").copied().unwrap_or(0) <= 1,
        "{steps:#?}"
    );
    let mut restarted: Vec<u32> = steps
        .iter()
        .filter_map(|s| match s {
            Step::RestartPod { ordinal } => Some(*ordinal),
            _ => None,
        })
        .collect();
    restarted.sort_unstable();
    assert_eq!(restarted, [0, 1, 2], "each pod restarts once: {steps:#?}");
    assert!(w.outdated.lock().unwrap().is_empty());
    let (_, voters, _) = membership(&api, &w).await;
    assert_eq!(voters, BTreeSet::from([0, 1, 2]));
}

#[tokio::test]
async fn admin_client_reports_unreachable_pods_and_bad_tokens() {
    let Some(bin) = server_binary() else {
        sqsraft_server::prerequisite::unavailable(
            "the admin client against a real server",
            "no sqsraft-server binary (see the test above)",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let w = LocalWorkloads::new(bin, dir.path());
    // Nothing is running yet: connection refused.
    let api = w.admin(TOKEN);
    let err = api.call(0, AdminCall::Status).await.unwrap_err();
    assert!(matches!(err, AdminCallError::Unreachable { .. }), "{err:?}");
    w.scale(1).await.unwrap();
    let start = Instant::now();
    let status = loop {
        match api.call(0, AdminCall::Status).await {
            Ok(s) => break s,
            Err(e) => {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "{e}\n{}",
                    w.logs()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(status.node_id, 1);
    assert!(!status.initialized);
    let wrong = w.admin("wrong-token");
    let err = wrong.call(0, AdminCall::Status).await.unwrap_err();
    assert_eq!(err.code(), Some("Unauthorized"), "{err:?}");
    // The right token is not enough without the cluster's TLS: in cleartext, or with a
    // client certificate of another CA, the call never reaches the admin API.
    let cleartext = HttpAdminClient::new(w.resolver(), TOKEN, None);
    let err = cleartext.call(0, AdminCall::Status).await.unwrap_err();
    assert!(matches!(err, AdminCallError::Unreachable { .. }), "{err:?}");
    let now = SystemTime::now();
    let (other, other_ca) = Authority::generate("other CA", now, DAY).unwrap();
    let trust = AdminTrust::Issue {
        // Trusting the right CA, presenting another's certificate.
        bundle: std::fs::read_to_string(dir.path().join("ca.crt")).unwrap(),
        signer: CaPair {
            cert_pem: other.cert_pem().to_string(),
            key_pem: other_ca.key_pem,
        },
    };
    let foreign = Identities::default()
        .config(("other".into(), "cluster".into()), &trust, now)
        .unwrap();
    let impostor = HttpAdminClient::new(w.resolver(), TOKEN, Some(foreign));
    let err = impostor.call(0, AdminCall::Status).await.unwrap_err();
    assert!(matches!(err, AdminCallError::Unreachable { .. }), "{err:?}");
}
