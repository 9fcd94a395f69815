//! The scheduler's one job here (no kube-scheduler runs): bind each pending pod that
//! asks for the default scheduler to this node through the `binding` subresource.

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kube::{Api, Client};

/// Whether the pod waits for the default scheduler.
pub fn unscheduled(pod: &Pod) -> bool {
    let spec = pod.spec.as_ref();
    spec.is_some_and(|s| s.node_name.as_deref().is_none_or(str::is_empty))
        && spec
            .and_then(|s| s.scheduler_name.as_deref())
            .is_none_or(|n| n == "default-scheduler")
        && pod.metadata.deletion_timestamp.is_none()
}

pub async fn bind(client: &Client, pod: &Pod, node: &str) -> Result<()> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let binding = Binding {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            uid: pod.metadata.uid.clone(),
            ..ObjectMeta::default()
        },
        target: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(node.into()),
            ..ObjectReference::default()
        },
    };
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    match api
        .create_subresource::<_, serde_json::Value>(
            "binding",
            name,
            &PostParams::default(),
            &binding,
        )
        .await
    {
        Ok(_) => Ok(()),
        // Already bound (a retried event) or gone meanwhile.
        Err(kube::Error::Api(e)) if e.code == 409 || e.code == 404 => Ok(()),
        Err(e) => Err(e).with_context(|| format!("bind pod {ns}/{name} to {node}")),
    }
}
