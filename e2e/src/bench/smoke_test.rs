//! The bench tool against a real one-node sqsraft cluster: a short `send` run measures
//! a positive throughput without errors and leaves no queue behind.

use super::{BenchConfig, Scenario, run};
use crate::cluster::{Cluster, ClusterSpec, DEV_ACCESS_KEY, DEV_SECRET_KEY, free_base_port};
use crate::sdk;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_scenario_reports_throughput_and_no_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = tokio::task::block_in_place(|| {
        Cluster::start(ClusterSpec {
            nodes: 1,
            base_port: free_base_port(1).expect("ports"),
            data_dir: dir.path().to_path_buf(),
            credentials_file: None,
            extra_args: Vec::new(),
        })
    })
    .expect("cluster");
    let endpoint = cluster.nodes[0].endpoint();
    let mut config = BenchConfig::new(Scenario::Send, vec![endpoint.clone()]);
    config.concurrency = 4;
    config.warmup = 0.5;
    config.duration = 2.0;

    let report = run(&config).await.expect("bench run");

    assert!(report.messages_per_sec > 0.0, "{report}");
    assert!(report.sent > 0 && report.latency.count > 0, "{report}");
    assert_eq!(report.error_total, 0, "{report}");
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
