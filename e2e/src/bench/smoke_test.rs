//! The bench tool against a real one-node sqsraft cluster, with each client: every
//! request kind succeeds, the run measures a positive throughput without errors, finds
//! the server process by its listening port and measures its CPU per message, and no
//! queue is left behind.

use super::report::PidSource;
use super::{BenchConfig, ClientKind, Scenario, run};
use crate::cluster::{Cluster, ClusterSpec, DEV_ACCESS_KEY, DEV_SECRET_KEY, free_base_port};
use crate::sdk;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_clients_drive_every_request_kind_without_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = tokio::task::block_in_place(|| {
        Cluster::start(ClusterSpec {
            nodes: 1,
            base_port: free_base_port(1).expect("ports"),
            data_dir: dir.path().to_path_buf(),
            credentials_file: None,
            extra_args: Vec::new(),
            internal_tls: true,
            sqs_tls: false,
        })
    })
    .expect("cluster");
    let endpoint = cluster.nodes[0].endpoint();
    let server_pid = cluster.nodes[0].pid().expect("running");
    for client in [ClientKind::Raw, ClientKind::Sdk] {
        // mixed: SendMessageBatch, ReceiveMessage, DeleteMessageBatch; long-poll-latency:
        // SendMessage, a 20 s ReceiveMessage, DeleteMessage.
        for scenario in [Scenario::Mixed, Scenario::LongPollLatency] {
            let mut config = BenchConfig::new(scenario, vec![endpoint.clone()]);
            config.client = client;
            config.concurrency = 2;
            config.warmup = 0.5;
            config.duration = 2.0;

            let report = run(&config).await.expect("bench run");

            let what = format!("{} {}: {report}", client.name(), scenario.name());
            assert!(report.messages_per_sec > 0.0, "{what}");
            assert!(report.sent > 0 && report.latency.count > 0, "{what}");
            assert!(report.deleted > 0, "{what}");
            assert_eq!(report.error_total, 0, "{what}");
            let server = report.server_cpu.as_ref().expect("server CPU measured");
            assert_eq!(server.pids, vec![server_pid], "{what}");
            assert_eq!(server.found_by, PidSource::ListeningPort, "{what}");
            assert!(server.usage.micros_per_message.unwrap() > 0.0, "{what}");
            assert!(
                report.client_cpu.micros_per_message.unwrap() > 0.0,
                "{what}"
            );
        }
    }
    let left = sdk::client(&endpoint, DEV_ACCESS_KEY, DEV_SECRET_KEY)
        .list_queues()
        .send()
        .await
        .expect("list queues");
    assert!(
        left.queue_urls().is_empty(),
        "bench queues deleted: {left:?}"
    );
    tokio::task::block_in_place(|| drop(cluster));
}
