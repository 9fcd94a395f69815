//! The Queue controller runtime (filtered watch of Queues, watch of QueueClusters,
//! finalizer helper, graceful shutdown) against an in-memory API server behind kube's
//! mock service.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fake_api::FakeApi;
use serde_json::json;
use sqsraft_operator::queue::{self, FINALIZER, StatusEndpoint};

const GV: &str = "sqsraft.io/v1alpha1";

#[tokio::test]
async fn controller_runtime_adds_the_finalizer_to_listed_queues() {
    let api = FakeApi::default();
    api.store.lock().unwrap().put(
        GV,
        "queues",
        "shop",
        "orders",
        json!({
        "apiVersion": GV, "kind": "Queue",
        "metadata": {"name": "orders", "namespace": "shop", "uid": "uid-orders", "generation": 1},
        "spec": {"clusterRef": {"name": "missing"}}}),
    );
    let ctx = Arc::new(queue::Context::new(api.client(), StatusEndpoint));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let runner = tokio::spawn(queue::run(ctx, Some("shop".into()), async move {
        let _ = stop_rx.await;
    }));
    let finalizers = || {
        api.store
            .lock()
            .unwrap()
            .get(GV, "queues", "shop", "orders")
            .unwrap()["metadata"]["finalizers"]
            .clone()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while finalizers() != json!([FINALIZER]) {
        assert!(
            Instant::now() < deadline,
            "no finalizer: {:?}",
            api.store.lock().unwrap().log
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(20), runner)
        .await
        .expect("controller stops on shutdown")
        .unwrap();
    let log = api.store.lock().unwrap().log.clone();
    for path in [
        "/apis/sqsraft.io/v1alpha1/namespaces/shop/queues",
        "/apis/sqsraft.io/v1alpha1/namespaces/shop/queueclusters",
    ] {
        assert!(
            log.iter().any(|(m, p)| m == "GET" && p == path),
            "no list of {path}: {log:?}"
        );
    }
}
