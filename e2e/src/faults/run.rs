//! One fault-injection run: start a cluster, run the workload while the nemesis injects
//! faults, stop the faults, drain both queues and check the history.

use super::checker::{self, Verdict};
use super::clock;
use super::history::{History, QueueKind};
use super::nemesis::{self, Fault, Injected};
use super::workload::{self, Target, WorkloadConfig};
use crate::cluster::{Cluster, ClusterSpec, DEV_ACCESS_KEY, DEV_SECRET_KEY, free_base_port};
use crate::sdk;
use anyhow::{Context, Result, anyhow};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Server flags for quick failover: 50 ms heartbeats, 300–600 ms election timeouts.
pub fn fast_failover_args() -> Vec<String> {
    [
        "--heartbeat-interval-ms",
        "50",
        "--election-timeout-min-ms",
        "300",
        "--election-timeout-max-ms",
        "600",
    ]
    .map(String::from)
    .to_vec()
}

/// What a run does.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub nodes: u64,
    /// How long faults are injected (the workload runs as long).
    pub fault_phase: Duration,
    pub seed: u64,
    pub faults: Vec<Fault>,
    pub workload: WorkloadConfig,
    /// Where the nodes keep their data.
    pub data_dir: PathBuf,
    /// Upper bound of the drain after the faults.
    pub drain_timeout: Duration,
    /// Extra flags for every server.
    pub server_args: Vec<String>,
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub seed: u64,
    pub nodes: u64,
    pub fault_phase: Duration,
    /// Start of the cluster to the end of the check.
    pub elapsed: Duration,
    pub faults: Vec<Injected>,
    /// Whether both queues were drained empty before the drain timeout; if not, messages
    /// still queued count as lost.
    pub drained: bool,
    pub verdict: Verdict,
}

impl RunReport {
    /// True when the queues were drained and no invariant was violated.
    pub fn ok(&self) -> bool {
        self.drained && self.verdict.ok()
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kinds: BTreeMap<Fault, usize> = BTreeMap::new();
        for i in &self.faults {
            *kinds.entry(i.fault).or_default() += 1;
        }
        let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
        writeln!(
            f,
            "seed {} · {} nodes · faults for {:.0}s · {:.0}s in all",
            self.seed,
            self.nodes,
            self.fault_phase.as_secs_f64(),
            self.elapsed.as_secs_f64()
        )?;
        writeln!(
            f,
            "faults injected {} ({})",
            self.faults.len(),
            kinds.join(", ")
        )?;
        writeln!(f, "{}", self.verdict)?;
        for d in &self.verdict.details {
            writeln!(f, "  {d}")?;
        }
        if !self.drained {
            writeln!(f, "DRAIN INCOMPLETE: queues not empty at the drain timeout")?;
        }
        write!(f, "{}", if self.ok() { "OK" } else { "FAILED" })
    }
}

/// SDK clients for every node of `cluster`.
pub fn clients(cluster: &Cluster) -> Vec<aws_sdk_sqs::Client> {
    cluster
        .nodes
        .iter()
        .map(|n| sdk::client(&n.endpoint(), DEV_ACCESS_KEY, DEV_SECRET_KEY))
        .collect()
}

/// Starts a cluster of `nodes` on `data_dir` with `server_args` (blocking call).
pub fn start_cluster(nodes: u64, data_dir: PathBuf, server_args: Vec<String>) -> Result<Cluster> {
    start_cluster_with(nodes, data_dir, server_args, None)
}

/// [`start_cluster`], every node under the clock shim `clock_shim` when given
/// (`faults::clock`).
pub fn start_cluster_with(
    nodes: u64,
    data_dir: PathBuf,
    server_args: Vec<String>,
    clock_shim: Option<PathBuf>,
) -> Result<Cluster> {
    let spec = ClusterSpec {
        nodes,
        base_port: free_base_port(u16::try_from(nodes)?)?,
        data_dir,
        credentials_file: None,
        extra_args: server_args,
        internal_tls: true,
        sqs_tls: false,
    };
    Cluster::start_with(spec, clock_shim)
}

/// Stops the workers and waits for them; a worker stuck past `grace` is aborted.
pub async fn stop_workers(stop: &AtomicBool, tasks: Vec<tokio::task::JoinHandle<()>>) {
    stop.store(true, Ordering::Relaxed);
    let grace = Instant::now() + Duration::from_secs(120);
    for mut task in tasks {
        let left = grace.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, &mut task).await.is_err() {
            task.abort();
            let _ = task.await;
        }
    }
}

/// Drains both queues at once (see [`workload::drain`]); false if either timed out.
pub async fn drain_both(
    target: &Target,
    seed: u64,
    history: &Arc<History>,
    timeout: Duration,
) -> bool {
    let (standard, fifo) = tokio::join!(
        workload::drain(target, QueueKind::Standard, seed, history, timeout),
        workload::drain(target, QueueKind::Fifo, seed + 100, history, timeout),
    );
    standard && fifo
}

/// Runs one fault-injection run; needs a multi-threaded Tokio runtime. Every process it
/// starts is stopped before it returns, whatever the outcome.
pub async fn run(config: &RunConfig) -> Result<RunReport> {
    let started = Instant::now();
    let faults = nemesis::usable(&config.faults);
    let shim = match faults.iter().any(|f| f.needs_clock_shim()) {
        true => Some(clock::shim()?),
        false => None,
    };
    let (nodes, dir, args) = (
        config.nodes,
        config.data_dir.clone(),
        config.server_args.clone(),
    );
    let mut cluster =
        tokio::task::spawn_blocking(move || start_cluster_with(nodes, dir, args, shim))
            .await?
            .context("start cluster")?;
    let target = workload::create_queues(clients(&cluster), "faults").await?;
    let history = Arc::new(History::default());
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = workload::spawn(&config.workload, &target, config.seed, &history, &stop);

    let until = Instant::now() + config.fault_phase;
    let seed = config.seed;
    let nemesis = tokio::task::spawn_blocking(move || {
        let mut rng = StdRng::seed_from_u64(seed);
        let injected = nemesis::run(&mut cluster, &faults, &mut rng, until, |i| {
            println!("fault: {i}");
        });
        // Let the workload run on for the rest of the phase, then settle the cluster.
        std::thread::sleep(until.saturating_duration_since(Instant::now()));
        let settled = cluster.wait_for_members(Duration::from_secs(60));
        (cluster, injected, settled)
    });
    let joined = nemesis.await;
    stop_workers(&stop, tasks).await;
    let (cluster, injected, settled) = joined.map_err(|e| anyhow!("nemesis panicked: {e}"))?;
    let injected = injected?;
    settled.context("cluster did not settle after the faults")?;

    let drained = drain_both(&target, config.seed, &history, config.drain_timeout).await;
    tokio::task::spawn_blocking(move || drop(cluster)).await?;
    let history = Arc::into_inner(history).ok_or_else(|| anyhow!("history still shared"))?;
    let verdict = checker::check(&history.into_records());
    Ok(RunReport {
        seed: config.seed,
        nodes: config.nodes,
        fault_phase: config.fault_phase,
        elapsed: started.elapsed(),
        faults: injected,
        drained,
        verdict,
    })
}
