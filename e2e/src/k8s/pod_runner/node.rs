//! The Node this runner stands for: registered once, then kept Ready by a status
//! heartbeat and the node Lease in `kube-node-lease`, as kubelet does, so the
//! node-lifecycle controller never marks it NotReady or taints it.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    Node, NodeAddress, NodeCondition, NodeSpec, NodeStatus, NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference, Time};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};

use super::volumes::now;

/// How often status and Lease are renewed (kubelet's default node-status period).
const HEARTBEAT: Duration = Duration::from_secs(10);
const LEASE_SECONDS: i32 = 40;

fn conditions() -> Vec<NodeCondition> {
    let t = Time(now());
    let c = |kind: &str, status: &str, reason: &str| NodeCondition {
        type_: kind.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(format!("pod runner: {reason}")),
        last_heartbeat_time: Some(t.clone()),
        last_transition_time: Some(t.clone()),
    };
    vec![
        c("Ready", "True", "KubeletReady"),
        c("MemoryPressure", "False", "KubeletHasSufficientMemory"),
        c("DiskPressure", "False", "KubeletHasNoDiskPressure"),
        c("PIDPressure", "False", "KubeletHasSufficientPID"),
    ]
}

fn node_status(ip: &str, name: &str) -> NodeStatus {
    let resources: BTreeMap<String, Quantity> = [
        ("cpu", "16"),
        ("memory", "64Gi"),
        ("pods", "250"),
        ("ephemeral-storage", "100Gi"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), Quantity(v.into())))
    .collect();
    NodeStatus {
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".into(),
                address: ip.into(),
            },
            NodeAddress {
                type_: "Hostname".into(),
                address: name.into(),
            },
        ]),
        allocatable: Some(resources.clone()),
        capacity: Some(resources),
        conditions: Some(conditions()),
        node_info: Some(NodeSystemInfo {
            architecture: std::env::consts::ARCH
                .replace("x86_64", "amd64")
                .replace("aarch64", "arm64"),
            operating_system: "linux".into(),
            os_image: "sqsraft pod runner".into(),
            kernel_version: String::new(),
            kubelet_version: "v1.37.2-sqsraft-pod-runner".into(),
            kube_proxy_version: String::new(),
            container_runtime_version: "sqsraft-pod-runner://0".into(),
            machine_id: name.into(),
            system_uuid: name.into(),
            boot_id: name.into(),
            ..NodeSystemInfo::default()
        }),
        ..NodeStatus::default()
    }
}

/// Creates (or takes over) the Node and writes its first Ready status.
pub async fn register(client: &Client, name: &str, ip: &str, pod_cidr: &str) -> Result<Node> {
    let api: Api<Node> = Api::all(client.clone());
    let labels: BTreeMap<String, String> = [
        ("kubernetes.io/hostname", name),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let node = Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            pod_cidr: Some(pod_cidr.into()),
            pod_cidrs: Some(vec![pod_cidr.into()]),
            ..NodeSpec::default()
        }),
        ..Node::default()
    };
    let created = match api.create(&PostParams::default(), &node).await {
        Ok(n) => n,
        Err(kube::Error::Api(e)) if e.code == 409 => {
            api.get(name).await.context("get existing node")?
        }
        Err(e) => return Err(e).context("register node"),
    };
    heartbeat(client, name, ip, &created).await?;
    Ok(created)
}

/// One status update and Lease renewal.
pub async fn heartbeat(client: &Client, name: &str, ip: &str, node: &Node) -> Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let patch = serde_json::json!({ "status": node_status(ip, name) });
    nodes
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .context("node status heartbeat")?;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some(name.into()),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Node".into(),
                name: name.into(),
                uid: node.metadata.uid.clone().unwrap_or_default(),
                ..OwnerReference::default()
            }]),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(name.into()),
            lease_duration_seconds: Some(LEASE_SECONDS),
            renew_time: Some(MicroTime(now())),
            ..LeaseSpec::default()
        }),
    };
    leases
        .patch(
            name,
            &PatchParams::apply("sqsraft-pod-runner").force(),
            &Patch::Apply(&lease),
        )
        .await
        .context("renew node lease")?;
    Ok(())
}

/// Heartbeats forever; failures are logged and retried next period.
pub async fn keep_ready(client: Client, name: String, ip: String, node: Node) {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        if let Err(e) = heartbeat(&client, &name, &ip, &node).await {
            eprintln!("pod-runner: node {name}: {e:#}");
        }
    }
}
