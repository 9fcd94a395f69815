//! Helpers shared by the operator's integration tests.
#![allow(dead_code)]

use sqsraft_operator::build::{self, Cluster, ClusterToken, KeyPair, OperatorDefaults};
use sqsraft_operator::crd::QueueCluster;

/// Reads `tests/fixtures/<name>.yaml` as a QueueCluster.
pub fn fixture(name: &str) -> QueueCluster {
    let path = format!("{}/tests/fixtures/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Fixture names under `tests/fixtures/` (QueueClusters only).
pub const FIXTURES: &[&str] = &["minimal", "full"];

/// Deterministic key material for tests.
pub fn test_keys() -> KeyPair {
    KeyPair::from_random(&[7u8; 56])
}

pub fn test_token() -> ClusterToken {
    ClusterToken::from_random(&[9u8; 32])
}

/// Every object the builders emit for `qc`, as JSON, with `replicas` StatefulSet pods.
pub fn all_objects(qc: &QueueCluster, defaults: &OperatorDefaults) -> Vec<serde_json::Value> {
    let c = Cluster::new(qc, defaults).expect("valid fixture");
    let mut out = vec![
        serde_json::to_value(build::headless_service(&c)).unwrap(),
        serde_json::to_value(build::client_service(&c)).unwrap(),
        serde_json::to_value(build::leader_service(&c)).unwrap(),
        serde_json::to_value(build::cluster_token_secret(&c, &test_token())).unwrap(),
        serde_json::to_value(build::stateful_set(
            &c,
            qc.spec.replicas,
            &c.qc.spec.storage.size,
        ))
        .unwrap(),
        serde_json::to_value(build::pod_disruption_budget(&c)).unwrap(),
    ];
    if let Some(policy) = build::network_policy(&c) {
        out.push(serde_json::to_value(policy).unwrap());
    }
    if let Some(secret) = build::credentials_secret(&c, &test_keys()) {
        out.push(serde_json::to_value(secret).unwrap());
    }
    out
}

pub mod fake_api;
pub mod fake_raft;
