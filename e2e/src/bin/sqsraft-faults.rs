//! `sqsraft-faults`: a long fault-injection run against a real local cluster. Prints
//! every fault as it is undone, then the checker's counts; exits 1 on any violation.
//!
//! Needs the `sqsraft-server` binary next to this one (or `SQSRAFT_SERVER_BIN`), and
//! root for the partition fault (iptables and a cgroup v2 hierarchy).

use anyhow::{Result, bail};
use clap::Parser;
use sqsraft_e2e::faults::nemesis::Fault;
use sqsraft_e2e::faults::run::{RunConfig, fast_failover_args, run};
use sqsraft_e2e::faults::workload::WorkloadConfig;
use std::path::PathBuf;
use std::time::Duration;

/// Inject faults into a local sqsraft cluster under load and check the history.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Seconds of faults and load (the drain and the check come after).
    #[arg(long, default_value_t = 600)]
    duration: u64,
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// Seed of the fault schedule and the workload's choices (random by default).
    #[arg(long)]
    seed: Option<u64>,
    /// Comma-separated faults: kill-leader, kill-random, pause, partition, kill-all,
    /// clock-step, clock-drift.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "kill-leader,kill-random,pause,partition,kill-all,clock-step,clock-drift"
    )]
    faults: Vec<Fault>,
    /// Producers on the standard queue.
    #[arg(long, default_value_t = 3)]
    standard_producers: usize,
    /// Producers on the FIFO queue.
    #[arg(long, default_value_t = 2)]
    fifo_producers: usize,
    /// FIFO message groups.
    #[arg(long, default_value_t = 6)]
    fifo_groups: u32,
    /// Consumers per queue.
    #[arg(long, default_value_t = 3)]
    consumers: usize,
    /// Pause of every worker between operations, in ms.
    #[arg(long, default_value_t = 50)]
    op_interval_ms: u64,
    /// Upper bound of the drain after the faults, in seconds.
    #[arg(long, default_value_t = 600)]
    drain_timeout: u64,
    /// Where the nodes keep their data (default: a fresh directory under the system
    /// temp dir, removed after a clean run).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Extra flags for every sqsraft-server (after `--`), added to the fast-failover ones.
    #[arg(last = true)]
    server_args: Vec<String>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> Result<()> {
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(rand::random);
    let generated = args.data_dir.is_none();
    let data_dir = args.data_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("sqsraft-faults-{}-{seed}", std::process::id()))
    });
    let mut server_args = fast_failover_args();
    server_args.extend(args.server_args);
    let config = RunConfig {
        nodes: args.nodes,
        fault_phase: Duration::from_secs(args.duration),
        seed,
        faults: args.faults,
        workload: WorkloadConfig {
            standard_producers: args.standard_producers,
            fifo_producers: args.fifo_producers,
            fifo_groups: args.fifo_groups,
            consumers: args.consumers,
            op_interval: Duration::from_millis(args.op_interval_ms),
        },
        data_dir: data_dir.clone(),
        drain_timeout: Duration::from_secs(args.drain_timeout),
        server_args,
    };
    println!(
        "sqsraft-faults: seed {seed}, {} nodes, {}s of faults, data in {}",
        config.nodes,
        args.duration,
        data_dir.display()
    );
    let report = run(&config).await?;
    println!("{report}");
    if !report.ok() {
        bail!(
            "run failed (seed {seed}); node logs kept in {}",
            data_dir.display()
        );
    }
    if generated {
        std::fs::remove_dir_all(&data_dir)?;
    }
    Ok(())
}
