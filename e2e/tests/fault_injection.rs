//! Fault injection against real multi-process clusters: the partition really cuts a
//! node's Raft traffic, the clock shim really shifts one node's wall clock, a skewed
//! clock on the leader or a follower moves no time in the log (retention, delays and
//! FIFO dedup windows keep the correct clock's time), a ~2-minute run of every nemesis
//! under load loses, duplicates, reorders and resurrects nothing, and a crash of every
//! node keeps every acknowledged message. Every run is bounded and stops its processes
//! (and heals its partitions) before it returns.

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use sqsraft_e2e::cluster::{Cluster, DEV_ACCESS_KEY, DEV_SECRET_KEY};
use sqsraft_e2e::faults::clock::{self, Shift, real_ms, skew_ms};
use sqsraft_e2e::faults::durability::crash_and_recover;
use sqsraft_e2e::faults::nemesis::Fault;
use sqsraft_e2e::faults::partition::{self, Partition};
use sqsraft_e2e::faults::run::{
    RunConfig, fast_failover_args, run, start_cluster, start_cluster_with,
};
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
        sqsraft_server::prerequisite::unavailable(
            "partition nemesis",
            format!("partitions cannot be installed here (need root and iptables): {e:#}"),
        );
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

/// How far a time the cluster decides may be from the correct clock: the cluster
/// clock's sampling error on loopback is milliseconds; the rest is this test measuring
/// around its requests.
const CLOCK_BOUND_MS: i64 = 1_000;

const HOUR_MS: i64 = 3_600_000;

/// Three nodes, each under the clock shim.
fn clock_cluster(dir: &std::path::Path) -> Cluster {
    let shim = clock::shim().expect("the clock shim (built with the system C compiler)");
    start_cluster_with(3, dir.to_path_buf(), fast_failover_args(), Some(shim))
        .expect("start cluster")
}

fn assert_near(what: &str, got: i64, want: i64, within: i64) {
    assert!(
        (got - want).abs() <= within,
        "{what}: {got} ms, expected {want} ± {within} ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_clock_shim_steps_and_drifts_one_nodes_wall_clock_while_it_runs() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = blocking(|| clock_cluster(dir.path()));
    let skew = |id: u64| blocking(|| skew_ms(&cluster, id)).expect("skew");
    for id in [1, 2, 3] {
        assert_near(&format!("node {id} before any fault"), skew(id), 0, 200);
    }
    for offset in [HOUR_MS, -HOUR_MS] {
        blocking(|| clock::set(&cluster, 2, Shift::step(offset))).expect("step");
        assert_near("the stepped node", skew(2), offset, 200);
        assert_near("node 1 beside it", skew(1), 0, 200);
        assert_near("node 3 beside it", skew(3), 0, 200);
    }
    // 50 % fast for two seconds: a second ahead, and gaining.
    blocking(|| clock::set(&cluster, 2, Shift::drift(500_000))).expect("drift");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ahead = skew(2);
    assert_near("the drifting node after 2 s", ahead, 1_000, 300);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(skew(2) > ahead, "the drifting node stopped gaining");
    blocking(|| clock::set(&cluster, 2, Shift::NONE)).expect("reset");
    assert_near("node 2 after the reset", skew(2), 0, 200);
}

/// One message as a test sees it.
struct Got {
    body: String,
    /// SentTimestamp, Unix milliseconds.
    sent: i64,
    handle: String,
}

/// Up to ten messages `client` receives from `url` within `wait_s`.
async fn receive(client: &aws_sdk_sqs::Client, url: &str, wait_s: i32) -> Vec<Got> {
    let out = client
        .receive_message()
        .queue_url(url)
        .wait_time_seconds(wait_s)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .expect("receive");
    out.messages()
        .iter()
        .map(|m| Got {
            body: m.body().unwrap_or_default().to_string(),
            sent: m.attributes().expect("attributes")[&MessageSystemAttributeName::SentTimestamp]
                .parse()
                .expect("SentTimestamp"),
            handle: m.receipt_handle().expect("receipt handle").to_string(),
        })
        .collect()
}

/// Receives until the message with `body` comes, making every other one visible again.
async fn receive_body(client: &aws_sdk_sqs::Client, url: &str, body: &str) -> Got {
    for _ in 0..10 {
        let mut found = None;
        for got in receive(client, url, 5).await {
            if got.body == body && found.is_none() {
                found = Some(got);
            } else {
                client
                    .change_message_visibility()
                    .queue_url(url)
                    .receipt_handle(&got.handle)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .expect("release");
            }
        }
        if let Some(got) = found {
            return got;
        }
    }
    panic!("{body:?} never received");
}

async fn create(
    client: &aws_sdk_sqs::Client,
    name: &str,
    attributes: &[(QueueAttributeName, &str)],
) -> String {
    let mut request = client.create_queue().queue_name(name);
    for (k, v) in attributes {
        request = request.attributes(k.clone(), *v);
    }
    let out = request.send().await.expect("create queue");
    out.queue_url().expect("queue url").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_skewed_clock_on_the_leader_or_a_follower_moves_no_time_in_the_log() {
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = blocking(|| clock_cluster(dir.path()));
    let leader = blocking(|| cluster.wait_for_members(Duration::from_secs(30))).expect("leader");
    let follower = cluster
        .nodes
        .iter()
        .map(|n| n.id)
        .find(|&id| id != leader)
        .expect("follower");
    let admin = cluster.sdk_client(leader);
    // 60 s retention (the least SQS allows) outlives the test; so does FIFO's 5-minute
    // dedup window. A clock an hour ahead in the log would end both.
    let standard = create(
        &admin,
        "clock-standard",
        &[(QueueAttributeName::MessageRetentionPeriod, "60")],
    )
    .await;
    let delays = create(&admin, "clock-delays", &[]).await;
    let fifo = create(
        &admin,
        "clock.fifo",
        &[(QueueAttributeName::FifoQueue, "true")],
    )
    .await;
    let fifo_send = |client: aws_sdk_sqs::Client| {
        let fifo = fifo.clone();
        async move {
            client
                .send_message()
                .queue_url(fifo)
                .message_body("once")
                .message_group_id("g")
                .message_deduplication_id("dedup-1")
                .send()
                .await
                .expect("FIFO send")
                .message_id()
                .expect("message id")
                .to_string()
        }
    };
    admin
        .send_message()
        .queue_url(&standard)
        .message_body("kept")
        .send()
        .await
        .expect("send");
    let first_id = fifo_send(admin.clone()).await;

    let phases = [
        ("leader an hour ahead", leader, Shift::step(HOUR_MS), 1_500),
        (
            "leader an hour behind",
            leader,
            Shift::step(-HOUR_MS),
            1_500,
        ),
        (
            "follower an hour ahead",
            follower,
            Shift::step(HOUR_MS),
            1_500,
        ),
        (
            "leader drifting 50 % fast",
            leader,
            Shift::drift(500_000),
            5_000,
        ),
    ];
    for (phase, id, shift, settle_ms) in phases {
        blocking(|| clock::set(&cluster, id, shift)).expect("shift the clock");
        // Housekeeping (retention expiry included) runs every second meanwhile.
        tokio::time::sleep(Duration::from_millis(settle_ms)).await;
        let skew = blocking(|| skew_ms(&cluster, id)).expect("skew");
        assert!(
            skew.abs() > 2 * CLOCK_BOUND_MS,
            "{phase}: the fault is not in force (node {id} reads {skew} ms off)"
        );
        // Requests enter at the skewed node: it is the edge and, when it leads, the
        // proposer.
        let client = cluster.sdk_client(id);

        let before = real_ms();
        client
            .send_message()
            .queue_url(&standard)
            .message_body(phase)
            .send()
            .await
            .expect("send");
        let after = real_ms();
        let got = receive_body(&client, &standard, phase).await;
        assert!(
            got.sent >= before - CLOCK_BOUND_MS && got.sent <= after + CLOCK_BOUND_MS,
            "{phase}: SentTimestamp {} outside [{before}, {after}] ± {CLOCK_BOUND_MS} ms",
            got.sent
        );
        client
            .change_message_visibility()
            .queue_url(&standard)
            .receipt_handle(&got.handle)
            .visibility_timeout(0)
            .send()
            .await
            .expect("release");

        // A 2 s delay ends after 2 s of correct time: not at once, not an hour later.
        let delayed = format!("{phase}, delayed");
        let sent_at = real_ms();
        client
            .send_message()
            .queue_url(&delays)
            .message_body(&delayed)
            .delay_seconds(2)
            .send()
            .await
            .expect("delayed send");
        let got = receive(&client, &delays, 10).await;
        let visible_after = real_ms() - sent_at;
        assert_eq!(
            got.iter().map(|g| g.body.as_str()).collect::<Vec<_>>(),
            [delayed.as_str()],
            "{phase}"
        );
        assert!(
            (2_000 - CLOCK_BOUND_MS..=2_000 + 2 * CLOCK_BOUND_MS).contains(&visible_after),
            "{phase}: a 2 s delay ended after {visible_after} ms"
        );

        // The FIFO dedup window still holds the first send.
        assert_eq!(
            fifo_send(client.clone()).await,
            first_id,
            "{phase}: dedup window"
        );

        blocking(|| clock::set(&cluster, id, Shift::NONE)).expect("reset the clock");
    }

    // Nothing expired before its retention on the correct clock.
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the test outlived the retention"
    );
    let mut bodies = std::collections::BTreeSet::new();
    loop {
        let got = receive(&admin, &standard, 1).await;
        if got.is_empty() {
            break;
        }
        bodies.extend(got.into_iter().map(|g| g.body));
    }
    let mut expected: std::collections::BTreeSet<String> =
        phases.iter().map(|p| p.0.to_string()).collect();
    expected.insert("kept".into());
    assert_eq!(bodies, expected, "messages expired before their retention");
    // After the faults, time in the log is the correct clock's.
    let before = real_ms();
    admin
        .send_message()
        .queue_url(&standard)
        .message_body("after")
        .send()
        .await
        .expect("send");
    let got = receive_body(&admin, &standard, "after").await;
    assert_near(
        "SentTimestamp after the faults",
        got.sent,
        before,
        CLOCK_BOUND_MS,
    );
}
