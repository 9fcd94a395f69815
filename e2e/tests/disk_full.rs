//! A full disk under a real cluster: every node's data directory is a small tmpfs of the
//! test's own, and a filler file takes its last byte (the filler's own write fails with
//! ENOSPC, which proves the fault is real). While producers and consumers run through the
//! AWS SDK, first a follower's disk fills, then the leader's. The node that cannot write
//! stops Raft (it reports `sqsraft_storage_failed`, `/readyz` turns false, its log names
//! the full disk), the others keep serving, the full leader loses leadership and answers
//! `ServiceUnavailable` at once instead of hanging; once the filler is gone the node
//! restarts itself and catches up. No node panics, and the history checker finds nothing
//! acknowledged lost or stored twice. Bounded to well under two minutes.

use aws_sdk_sqs::error::ProvideErrorMetadata;
use sqsraft_e2e::cluster::{Cluster, DEV_ACCESS_KEY, DEV_SECRET_KEY};
use sqsraft_e2e::faults::checker;
use sqsraft_e2e::faults::history::History;
use sqsraft_e2e::faults::run::{
    clients, drain_both, fast_failover_args, start_cluster, stop_workers,
};
use sqsraft_e2e::faults::workload::{self, WorkloadConfig};
use sqsraft_e2e::sdk;
use sqsraft_server::admin_types::Role;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// Size of each node's tmpfs: room for the run's data and the server's 64 MiB free-space
/// reserve, quick to fill.
const VOLUME: &str = "size=256m";

/// How long a node may take to notice its full disk, to be replaced as leader, or to
/// catch up after space returned.
const SETTLE: Duration = Duration::from_secs(30);

/// A tmpfs mounted on a directory, unmounted (lazily, so a process still holding a file
/// cannot keep it) when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", VOLUME, "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs on {} failed ({}): {} (needs root)",
                dir.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the volume holding `dir` with `dir/filler` until a write fails; returns that
/// error (asserted to be ENOSPC by the caller) and the bytes written.
fn fill(dir: &Path) -> (std::io::Error, u64) {
    let mut file = std::fs::File::create(dir.join("filler")).expect("create filler");
    let mut written = 0u64;
    // Large chunks first, then pages, so not even a page is left.
    for chunk in [1 << 20, 4096] {
        let block = vec![0xa5u8; chunk];
        loop {
            match file.write(&block) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if chunk == 4096 => return (e, written),
                Err(_) => break,
            }
        }
    }
    panic!("the filler never hit a write error");
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn applied(cluster: &Cluster, id: u64) -> u64 {
    cluster
        .status(id)
        .ok()
        .and_then(|s| s.applied_index)
        .unwrap_or(0)
}

fn readyz_status(cluster: &Cluster, id: u64) -> u16 {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(2)))
        .build()
        .new_agent();
    let url = format!("{}/readyz", cluster.node(id).expect("node").endpoint());
    agent.get(&url).call().map_or(0, |r| r.status().as_u16())
}

fn node_log(cluster: &Cluster, id: u64) -> String {
    let path = cluster
        .node(id)
        .expect("node")
        .data_dir
        .with_extension("log");
    std::fs::read_to_string(&path).unwrap_or_default()
}

/// Sends 256 KiB messages to `ballast_url` through the nodes other than `full` until
/// `full` reports its storage failed (its next write fails). Panics after [`SETTLE`].
async fn push_until_failed(cluster: &Cluster, full: u64, ballast_url: &str) {
    let others: Vec<aws_sdk_sqs::Client> = cluster
        .nodes
        .iter()
        .filter(|n| n.id != full)
        .map(|n| sdk::client(&n.endpoint(), DEV_ACCESS_KEY, DEV_SECRET_KEY))
        .collect();
    let body = "b".repeat(256 * 1024);
    let deadline = Instant::now() + SETTLE;
    let node = cluster.node(full).expect("node");
    let mut i = 0;
    while blocking(|| node.metric("sqsraft_storage_failed")) != Some(1) {
        if Instant::now() >= deadline {
            let du = Command::new("du").arg("-ab").arg(&node.data_dir).output();
            let du = du.map_or_else(
                |e| e.to_string(),
                |o| String::from_utf8_lossy(&o.stdout).into_owned(),
            );
            let log = node_log(cluster, full);
            panic!(
                "node {full} kept writing on a full disk for {SETTLE:?} ({i} ballast sends)\n{du}\n{}",
                &log[log.len().saturating_sub(6000)..]
            );
        }
        let _ = others[i % others.len()]
            .send_message()
            .queue_url(ballast_url)
            .message_body(&body)
            .send()
            .await;
        i += 1;
    }
}

/// Proves node `id` failed on its full disk: readiness, role and the log's storage error.
fn assert_failed_on_full_disk(cluster: &Cluster, id: u64) {
    assert_eq!(readyz_status(cluster, id), 503, "node {id} still ready");
    let status = cluster.status(id).expect("status");
    assert_eq!(status.role, Role::Shutdown, "node {id}'s Raft still runs");
    let log = node_log(cluster, id);
    assert!(
        log.contains("storage failed")
            && (log.contains("(disk full)") || log.contains("No space left on device")),
        "node {id}'s log names no full disk:\n{}",
        &log[log.len().saturating_sub(4000)..]
    );
}

/// Removes the filler of node `id` and waits until it restarted itself, applied at least
/// what the leader had applied meanwhile and reports ready.
fn free_and_wait_caught_up(cluster: &Cluster, id: u64) {
    let dir = &cluster.node(id).expect("node").data_dir;
    std::fs::remove_file(dir.join("filler")).expect("remove filler");
    let deadline = Instant::now() + SETTLE;
    loop {
        let leader = cluster.wait_for_leader(SETTLE).expect("leader");
        let target = applied(cluster, leader);
        let recovered = cluster
            .node(id)
            .expect("node")
            .metric("sqsraft_storage_failed")
            == Some(0);
        // Ready (caught up to what it knows is committed) at some moment: under load a
        // follower's applied index trails its commit index now and then.
        if recovered
            && target > 0
            && applied(cluster, id) >= target
            && readyz_status(cluster, id) == 200
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node {id} did not recover, catch up and turn ready within {SETTLE:?} after space returned"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_stops_the_node_without_losing_acknowledged_writes_and_it_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut volumes = Vec::new();
    for id in 1..=3 {
        match Tmpfs::mount(&dir.path().join(format!("node-{id}"))) {
            Ok(v) => volumes.push(v),
            Err(reason) => {
                sqsraft_server::prerequisite::unavailable("disk-full test", reason);
                return;
            }
        }
    }
    let cluster = blocking(|| start_cluster(3, dir.path().to_path_buf(), fast_failover_args()))
        .expect("start cluster");
    let target = workload::create_queues(clients(&cluster), "diskfull")
        .await
        .expect("queues");
    let ballast_url = target.clients[0]
        .create_queue()
        .queue_name("diskfull-ballast")
        .send()
        .await
        .expect("ballast queue")
        .queue_url
        .expect("url");
    let history = Arc::new(History::default());
    let stop = Arc::new(AtomicBool::new(false));
    let config = WorkloadConfig {
        standard_producers: 2,
        fifo_producers: 2,
        fifo_groups: 4,
        consumers: 2,
        op_interval: Duration::from_millis(50),
    };
    let tasks = workload::spawn(&config, &target, 7, &history, &stop);
    tokio::time::sleep(Duration::from_secs(2)).await;

    // (a) A follower's disk fills: the other two keep committing.
    let leader = blocking(|| cluster.wait_for_members(SETTLE)).expect("leader");
    let follower = (1..=3).find(|id| *id != leader).expect("a follower");
    let (error, bytes) = fill(&cluster.node(follower).expect("node").data_dir);
    assert_eq!(error.raw_os_error(), Some(libc::ENOSPC), "filler: {error}");
    println!("follower {follower}: disk full after {bytes} filler bytes");
    push_until_failed(&cluster, follower, &ballast_url).await;
    blocking(|| assert_failed_on_full_disk(&cluster, follower));
    let before = blocking(|| applied(&cluster, leader));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        blocking(|| applied(&cluster, leader)) > before,
        "the leader stopped committing while a follower's disk was full"
    );
    blocking(|| free_and_wait_caught_up(&cluster, follower));
    println!("follower {follower}: recovered and caught up");

    // (b) The leader's disk fills: it stops leading and answers at once.
    let leader = blocking(|| cluster.wait_for_members(SETTLE)).expect("leader");
    let (error, bytes) = fill(&cluster.node(leader).expect("node").data_dir);
    assert_eq!(error.raw_os_error(), Some(libc::ENOSPC), "filler: {error}");
    println!("leader {leader}: disk full after {bytes} filler bytes");
    push_until_failed(&cluster, leader, &ballast_url).await;
    blocking(|| assert_failed_on_full_disk(&cluster, leader));
    let deadline = Instant::now() + SETTLE;
    let successor = loop {
        let new = (1..=3)
            .filter(|id| *id != leader)
            .find(|&id| blocking(|| cluster.status(id)).is_ok_and(|s| s.leader_id == Some(id)));
        if let Some(new) = new {
            break new;
        }
        assert!(
            Instant::now() < deadline,
            "no new leader while the old one's disk was full"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("node {successor} leads in place of {leader}");
    let full = sdk::client(
        &cluster.node(leader).expect("node").endpoint(),
        DEV_ACCESS_KEY,
        DEV_SECRET_KEY,
    );
    let asked = Instant::now();
    let refused = full
        .send_message()
        .queue_url(&ballast_url)
        .message_body("while full")
        .send()
        .await
        .expect_err("a node that cannot write acknowledged a send");
    assert_eq!(refused.code(), Some("ServiceUnavailable"), "{refused:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "the full node took {:?} to refuse",
        asked.elapsed()
    );
    blocking(|| free_and_wait_caught_up(&cluster, leader));
    println!("node {leader}: recovered and caught up");

    stop_workers(&stop, tasks).await;
    let drained = drain_both(&target, 7, &history, Duration::from_secs(45)).await;
    for id in 1..=3 {
        let log = node_log(&cluster, id);
        assert!(!log.contains("panicked"), "node {id} panicked:\n{log}");
        // RocksDB's own assertions abort the process without a Rust panic.
        assert!(!log.contains("Assertion"), "node {id} aborted:\n{log}");
    }
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .expect("stop cluster");
    drop(volumes);
    let history = Arc::into_inner(history).expect("history still shared");
    let verdict = checker::check(&history.into_records());
    println!("{verdict}");
    for d in &verdict.details {
        println!("  {d}");
    }
    assert!(drained, "queues not drained");
    assert!(verdict.ok(), "history check failed: {verdict}");
}
