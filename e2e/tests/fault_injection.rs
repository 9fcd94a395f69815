//! Fault injection against real multi-process clusters: the partition really cuts a
//! node's Raft traffic, a ~2-minute run of every nemesis under load loses, duplicates,
//! reorders and resurrects nothing, and a crash of every node keeps every acknowledged
//! message. Every run is bounded and stops its processes (and heals its partitions)
//! before it returns.

use sqsraft_e2e::cluster::{Cluster, DEV_ACCESS_KEY, DEV_SECRET_KEY};
use sqsraft_e2e::faults::durability::crash_and_recover;
use sqsraft_e2e::faults::nemesis::Fault;
use sqsraft_e2e::faults::partition::{self, Partition};
use sqsraft_e2e::faults::run::{RunConfig, fast_failover_args, run, start_cluster};
use sqsraft_e2e::faults::workload::WorkloadConfig;
use sqsraft_e2e::sdk;
use std::time::{Duration, Instant};

/// The tests of this file run one at a time: each keeps three servers busy, and the
/// machine is shared.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partition_cuts_a_nodes_raft_traffic_and_heals() {
    let _serial = SERIAL.lock().await;
    if let Err(e) = partition::available() {
        eprintln!("SKIPPED: partitions cannot be installed here (need root and iptables): {e:#}");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = blocking(|| start_cluster(3, dir.path().to_path_buf(), fast_failover_args()))
        .expect("start cluster");
    let old = blocking(|| cluster.wait_for_members(Duration::from_secs(30))).expect("leader");
    let node = cluster.node(old).expect("leader node");
    let peers: Vec<u16> = cluster
        .nodes
        .iter()
        .filter(|n| n.id != old)
        .map(|n| n.internal_port)
        .collect();
    let cut = Partition::isolate(node.pid().expect("pid"), node.internal_port, &peers)
        .expect("isolate the leader");

    // The majority elects another leader and keeps committing without the old one.
    let others: Vec<u64> = cluster
        .nodes
        .iter()
        .map(|n| n.id)
        .filter(|id| *id != old)
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    let new = loop {
        let leader = others.iter().find_map(|&id| {
            blocking(|| cluster.status(id))
                .ok()
                .filter(|s| s.leader_id == Some(id))
                .map(|s| s.node_id)
        });
        if let Some(leader) = leader {
            break leader;
        }
        assert!(Instant::now() < deadline, "the majority elected no leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let majority = cluster.node(new).expect("node");
    let client = sdk::client(&majority.endpoint(), DEV_ACCESS_KEY, DEV_SECRET_KEY);
    for i in 0..5 {
        client
            .create_queue()
            .queue_name(format!("during-partition-{i}"))
            .send()
            .await
            .expect("the majority commits");
    }
    let (isolated, leading) = blocking(|| (applied(&cluster, old), applied(&cluster, new)));
    assert!(
        isolated < leading,
        "the isolated node applied {isolated}, as far as the majority's {leading}"
    );

    // Healed, it rejoins under the new leader and catches up.
    cut.heal().expect("heal");
    blocking(|| cluster.wait_for_members(Duration::from_secs(30))).expect("rejoined");
    let deadline = Instant::now() + Duration::from_secs(30);
    while blocking(|| applied(&cluster, old)) < leading {
        assert!(Instant::now() < deadline, "the healed node never caught up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_minutes_of_faults_lose_duplicate_and_reorder_nothing() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = rand::random();
    let config = RunConfig {
        nodes: 3,
        fault_phase: Duration::from_secs(75),
        seed,
        faults: Fault::ALL.to_vec(),
        workload: WorkloadConfig {
            standard_producers: 2,
            fifo_producers: 2,
            fifo_groups: 4,
            consumers: 2,
            op_interval: Duration::from_millis(50),
        },
        data_dir: dir.path().to_path_buf(),
        drain_timeout: Duration::from_secs(120),
        server_args: fast_failover_args(),
    };
    let report = run(&config).await.expect("fault run");
    println!("{report}");
    let v = &report.verdict;
    assert!(!report.faults.is_empty(), "no fault was injected");
    assert!(
        report.drained,
        "seed {seed}: the queues were not drained: {report}"
    );
    assert!(v.acknowledged > 0, "nothing was acknowledged: {v}");
    assert_eq!(v.lost, 0, "seed {seed}: {v}\n{:#?}", v.details);
    assert_eq!(v.duplicated, 0, "seed {seed}: {v}\n{:#?}", v.details);
    assert_eq!(v.reordered, 0, "seed {seed}: {v}\n{:#?}", v.details);
    assert_eq!(v.resurrected, 0, "seed {seed}: {v}\n{:#?}", v.details);
    assert_eq!(
        v.stale_handle_deletions, 0,
        "seed {seed}: {v}\n{:#?}",
        v.details
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_message_survives_kill_9_of_every_node() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let report = crash_and_recover(
        3,
        dir.path().to_path_buf(),
        Duration::from_secs(4),
        rand::random(),
    )
    .await
    .expect("crash and recover");
    println!("{report}");
    let v = &report.verdict;
    assert!(
        v.acknowledged > 0,
        "nothing was acknowledged before the crash"
    );
    assert_eq!(v.lost, 0, "{report}");
    assert_eq!(v.duplicated, 0, "{report}");
    assert_eq!(v.reordered, 0, "{report}");
    assert!(
        report.sequence_after > report.last_sequence_before,
        "FIFO sequence numbers went back: {report}"
    );
    assert!(report.ok(), "{report}");
}
