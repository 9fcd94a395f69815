//! The operator's `/metrics` and `/healthz` endpoint over real HTTP.

use std::sync::Arc;
use std::time::Duration;

use sqsraft_operator::metrics::{Metrics, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn metrics_and_health() {
    let metrics = Arc::new(Metrics::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, metrics.clone()));

    metrics.reconcile_started();
    metrics.reconcile_started();
    metrics.reconcile_finished(Duration::from_millis(30));
    metrics.reconcile_finished(Duration::from_secs(3));
    metrics.error("KubeApi");
    metrics.step("AddLearner");
    metrics.step("AddLearner");
    metrics.set_leading(true);

    let health = get(addr, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let body = get(addr, "/metrics").await;
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    for line in [
        "sqsraft_operator_reconciles_total 2",
        "sqsraft_operator_reconcile_errors_total{reason=\"KubeApi\"} 1",
        "sqsraft_operator_membership_steps_total{step=\"AddLearner\"} 2",
        "sqsraft_operator_reconcile_duration_seconds_bucket{le=\"0.05\"} 1",
        "sqsraft_operator_reconcile_duration_seconds_bucket{le=\"5\"} 2",
        "sqsraft_operator_reconcile_duration_seconds_bucket{le=\"+Inf\"} 2",
        "sqsraft_operator_reconcile_duration_seconds_count 2",
        "sqsraft_operator_leader 1",
    ] {
        assert!(body.contains(line), "missing {line:?} in\n{body}");
    }
    assert!(get(addr, "/nope").await.starts_with("HTTP/1.1 404"));
}
