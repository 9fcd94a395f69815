//! `sqsraft-backlog`: measures memory and recovery time with a large stored backlog.
//!
//! Starts a local cluster, stores `--messages` messages of `--size` bytes in one queue
//! (1,000 per replicated command, straight to the leader's forward endpoint, so the fill
//! is bounded by replication and storage rather than by a client), then reports the CPU
//! the servers spent per stored message, each node's RSS, restarts every node and reports
//! how long recovery takes and the RSS after it. Everything runs on 127.0.0.1 and stops
//! by itself.

use anyhow::{Context, Result, bail};
use clap::Parser;
use sqsraft_e2e::cluster::{Cluster, ClusterSpec, DEV_ACCESS_KEY, DEV_SECRET_KEY, free_base_port};

use sqsraft_server::node::now_ms;
use sqsraft_server::sm::command::{Command, Op, Output, SendEntry};
use sqsraft_server::wire::ForwardReply;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Fill a cluster with a backlog and measure memory and recovery.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Messages to store.
    #[arg(long, default_value_t = 1_000_000)]
    messages: u64,
    /// Body size in bytes.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Nodes in the cluster.
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// Data directory (default: a fresh temporary directory, removed at the end).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

const PER_COMMAND: u64 = 1_000;

fn rss_mb(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("VmRSS")?;
    Ok(kb / 1024.0)
}

fn report_rss(cluster: &Cluster, label: &str) -> Result<()> {
    for node in &cluster.nodes {
        if let Some(pid) = node.pid() {
            println!("rss {label} node {}: {:.1} MiB", node.id, rss_mb(pid)?);
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let temp = tempfile::tempdir()?;
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let mut cluster = Cluster::start(ClusterSpec {
        nodes: args.nodes,
        base_port: free_base_port(args.nodes as u16)?,
        data_dir: data_dir.clone(),
        credentials_file: None,
        extra_args: Vec::new(),
        internal_tls: true,
        sqs_tls: false,
    })?;
    let mut leader = cluster.wait_for_leader(Duration::from_secs(30))?;
    let create = Command {
        request_id: "backlog:create".into(),
        time_ms: now_ms(),
        op: Op::CreateQueue {
            name: "backlog".into(),
            attributes: BTreeMap::from([(
                "MessageRetentionPeriod".to_string(),
                "1209600".to_string(),
            )]),
            tags: BTreeMap::new(),
        },
    };
    cluster.forward(leader, &create)?;
    report_rss(&cluster, "empty")?;

    let body = "x".repeat(args.size);
    let cpu_before = cluster.cpu_time()?;
    let started = Instant::now();
    let mut stored = 0u64;
    let mut next_report = args.messages / 10;
    while stored < args.messages {
        let n = PER_COMMAND.min(args.messages - stored);
        let entries = (0..n)
            .map(|i| {
                let seq = stored + i;
                SendEntry {
                    id: i.to_string(),
                    message_id: format!("00000000-0000-4000-8000-{seq:012}"),
                    body: body.clone(),
                    delay_seconds: None,
                    attributes: BTreeMap::new(),
                    system_attributes: BTreeMap::new(),
                    md5_body: String::new(),
                    md5_attributes: None,
                    md5_system_attributes: None,
                    size: args.size as u64,
                    sender_id: DEV_ACCESS_KEY.into(),
                    group_id: None,
                    dedup_id: None,
                }
            })
            .collect();
        let command = Command {
            request_id: format!("backlog:{stored}"),
            time_ms: now_ms(),
            op: Op::SendMessages {
                queue: "backlog".into(),
                entries,
            },
        };
        // A leader change mid-fill: find the new leader and re-send the same command (its
        // request id makes the retry exactly-once).
        loop {
            match cluster.forward(leader, &command) {
                Ok(ForwardReply::Done(Ok(Output::Sent { successful, .. })))
                    if successful.len() as u64 == n =>
                {
                    break;
                }
                Ok(ForwardReply::NotLeader(_)) | Err(_) => {
                    leader = cluster.wait_for_leader(Duration::from_secs(60))?;
                }
                Ok(other) => bail!("fill failed at {stored}: {other:?}"),
            }
        }
        stored += n;
        if stored >= next_report {
            let rate = stored as f64 / started.elapsed().as_secs_f64();
            println!("stored {stored} messages ({rate:.0} msg/s)");
            next_report += args.messages / 10;
        }
    }
    let fill = started.elapsed();
    println!(
        "filled {} messages of {} B in {:.1} s ({:.0} msg/s)",
        args.messages,
        args.size,
        fill.as_secs_f64(),
        args.messages as f64 / fill.as_secs_f64()
    );
    // saturating: a node that died meanwhile drops out of the sum.
    let cpu_fill = cluster.cpu_time()?.saturating_sub(cpu_before);
    // Let background flushes and compactions settle before measuring.
    std::thread::sleep(Duration::from_secs(5));
    let cpu_settle = cluster.cpu_time()?.saturating_sub(cpu_before + cpu_fill);
    println!(
        "server CPU: {:.1} s during the fill ({:.1} µs per message, {:.2} cores busy), \
         {:.1} s more in the 5 s after it",
        cpu_fill.as_secs_f64(),
        cpu_fill.as_secs_f64() * 1e6 / args.messages as f64,
        cpu_fill.as_secs_f64() / fill.as_secs_f64(),
        cpu_settle.as_secs_f64()
    );
    report_rss(&cluster, "backlog")?;

    // Restart every node and time recovery to a serving cluster.
    let ids: Vec<u64> = cluster.nodes.iter().map(|n| n.id).collect();
    for id in &ids {
        cluster.kill(*id)?;
    }
    let restart = Instant::now();
    for id in &ids {
        cluster.restart(*id)?;
    }
    cluster.wait_for_members(Duration::from_secs(600))?;
    let recovered = restart.elapsed();
    let endpoint = cluster.nodes[0].endpoint();
    let runtime = tokio::runtime::Runtime::new()?;
    let received = runtime.block_on(async {
        let client = sqsraft_e2e::sdk::client(&endpoint, DEV_ACCESS_KEY, DEV_SECRET_KEY);
        let url = client
            .get_queue_url()
            .queue_name("backlog")
            .send()
            .await?
            .queue_url
            .unwrap_or_default();
        let out = client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .send()
            .await?;
        anyhow::Ok(out.messages().len())
    })?;
    println!(
        "recovery after kill -9 of all nodes: {:.2} s to a leader with all members; first receive got {received} messages",
        recovered.as_secs_f64()
    );
    report_rss(&cluster, "after-restart")?;
    let du = std::process::Command::new("du")
        .arg("-sh")
        .arg(&data_dir)
        .output()?;
    println!("disk: {}", String::from_utf8_lossy(&du.stdout).trim());
    Ok(())
}
