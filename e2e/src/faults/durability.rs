//! Crash durability: producers write to both queues, every node is killed with SIGKILL
//! at once while they do, the nodes restart on their data dirs, and then every
//! acknowledged message must be there and FIFO sequence numbers must go on increasing.

use super::checker::{self, Verdict};
use super::history::{Body, History, QueueKind, Send};
use super::run::{clients, drain_both, fast_failover_args, start_cluster, stop_workers};
use super::workload::{self, WorkloadConfig};
use anyhow::{Context, Result, anyhow};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// The outcome of a crash-and-recover run.
#[derive(Debug, Clone)]
pub struct DurabilityReport {
    /// Whether both queues were drained empty before the drain timeout.
    pub drained: bool,
    /// The checked history of the sends before the crash and the drain after it.
    pub verdict: Verdict,
    /// The highest FIFO SequenceNumber acknowledged before the crash.
    pub last_sequence_before: u128,
    /// The SequenceNumber of a FIFO send after the restart.
    pub sequence_after: u128,
}

impl DurabilityReport {
    /// True when nothing acknowledged was lost or doubled and sequence numbers went on.
    pub fn ok(&self) -> bool {
        self.drained
            && self.verdict.ok()
            && self.verdict.acknowledged > 0
            && self.sequence_after > self.last_sequence_before
    }
}

impl fmt::Display for DurabilityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.verdict)?;
        for d in &self.verdict.details {
            writeln!(f, "  {d}")?;
        }
        write!(
            f,
            "FIFO sequence: last acknowledged before the crash {}, first after {}",
            self.last_sequence_before, self.sequence_after
        )
    }
}

/// Writes for `write_for`, kills every node of a `nodes`-node cluster on `data_dir` at
/// once, restarts them and checks; needs a multi-threaded Tokio runtime.
pub async fn crash_and_recover(
    nodes: u64,
    data_dir: PathBuf,
    write_for: Duration,
    seed: u64,
) -> Result<DurabilityReport> {
    let mut cluster =
        tokio::task::spawn_blocking(move || start_cluster(nodes, data_dir, fast_failover_args()))
            .await?
            .context("start cluster")?;
    let target = workload::create_queues(clients(&cluster), "durable").await?;
    let history = Arc::new(History::default());
    let stop = Arc::new(AtomicBool::new(false));
    let producers = WorkloadConfig {
        standard_producers: 2,
        fifo_producers: 2,
        fifo_groups: 4,
        consumers: 0,
        op_interval: Duration::from_millis(5),
    };
    let tasks = workload::spawn(&producers, &target, seed, &history, &stop);
    tokio::time::sleep(write_for).await;

    // Every node dies mid-write, then all come back on the same data dirs.
    let mut cluster = tokio::task::spawn_blocking(move || -> Result<_> {
        let ids: Vec<u64> = cluster.nodes.iter().map(|n| n.id).collect();
        for &id in &ids {
            cluster.signal(id, libc::SIGKILL)?;
        }
        for &id in &ids {
            cluster.kill(id)?;
        }
        Ok(cluster)
    })
    .await??;
    stop_workers(&stop, tasks).await;
    let cluster = tokio::task::spawn_blocking(move || -> Result<_> {
        for id in cluster.nodes.iter().map(|n| n.id).collect::<Vec<_>>() {
            cluster.restart(id)?;
        }
        cluster.wait_for_members(Duration::from_secs(60))?;
        Ok(cluster)
    })
    .await??;

    let last_sequence_before = history.max_sequence(QueueKind::Fifo).unwrap_or(0);
    let body = Body {
        uid: "after-restart".into(),
        group: Some(u32::MAX),
        counter: Some(0),
    };
    let after = target.clients[0]
        .send_message()
        .queue_url(&target.fifo_url)
        .message_body(body.encode())
        .message_group_id("after-restart")
        .message_deduplication_id(&body.uid)
        .send()
        .await
        .context("FIFO send after restart")?;
    let sequence_after = after
        .sequence_number()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("no SequenceNumber after restart"))?;
    history.sent([Send {
        queue: QueueKind::Fifo,
        body,
        acked_id: after.message_id().map(String::from),
        sequence: Some(sequence_after),
    }]);

    let drained = drain_both(&target, seed, &history, Duration::from_secs(120)).await;
    tokio::task::spawn_blocking(move || drop(cluster)).await?;
    let history = Arc::into_inner(history).ok_or_else(|| anyhow!("history still shared"))?;
    Ok(DurabilityReport {
        drained,
        verdict: checker::check(&history.into_records()),
        last_sequence_before,
        sequence_after,
    })
}
