//! A minimal volume provisioner (none runs in the test control plane): each pending
//! PVC gets a PersistentVolume pre-bound to it through `claimRef`, backed by a runner
//! directory; the real PV controller completes the binding. When a claim is gone its
//! PV and directory are deleted, so a removed StatefulSet member cannot come back with
//! its old data.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::{
    HostPathVolumeSource, ObjectReference, PersistentVolume, PersistentVolumeClaim,
    PersistentVolumeSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{DeleteParams, PostParams};

use super::Shared;

/// Label on the PVs this runner created.
pub const PROVISIONED_BY: &str = "sqsraft.io/pod-runner";

fn volume_for(shared: &Shared, claim: &PersistentVolumeClaim) -> Option<PersistentVolume> {
    let uid = claim.metadata.uid.clone()?;
    let spec = claim.spec.clone()?;
    let capacity = spec
        .resources
        .as_ref()?
        .requests
        .as_ref()?
        .get("storage")?
        .clone();
    let path = shared.claims_dir().join(&uid);
    Some(PersistentVolume {
        metadata: ObjectMeta {
            name: Some(format!("pvc-{uid}")),
            labels: Some(BTreeMap::from([(
                PROVISIONED_BY.to_owned(),
                shared.node.clone(),
            )])),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeSpec {
            capacity: Some(BTreeMap::from([("storage".to_owned(), capacity)])),
            access_modes: spec.access_modes.clone(),
            storage_class_name: Some(spec.storage_class_name.clone().unwrap_or_default()),
            volume_mode: spec.volume_mode.clone(),
            persistent_volume_reclaim_policy: Some("Retain".into()),
            claim_ref: Some(ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("PersistentVolumeClaim".into()),
                namespace: claim.metadata.namespace.clone(),
                name: claim.metadata.name.clone(),
                uid: Some(uid),
                ..ObjectReference::default()
            }),
            host_path: Some(HostPathVolumeSource {
                path: path.display().to_string(),
                type_: Some("DirectoryOrCreate".into()),
            }),
            ..PersistentVolumeSpec::default()
        }),
        ..PersistentVolume::default()
    })
}

async fn pass(shared: &Shared) -> Result<()> {
    let pvs: Api<PersistentVolume> = Api::all(shared.client.clone());
    let claims = shared.pvcs.state();
    let volumes = shared.pvs.state();
    for claim in &claims {
        let unbound = claim
            .spec
            .as_ref()
            .and_then(|s| s.volume_name.as_deref())
            .is_none_or(str::is_empty);
        if !unbound || claim.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let Some(pv) = volume_for(shared, claim) else {
            continue;
        };
        if volumes.iter().any(|v| v.metadata.name == pv.metadata.name) {
            continue;
        }
        let dir = PathBuf::from(
            &pv.spec
                .as_ref()
                .and_then(|s| s.host_path.as_ref())
                .map(|h| h.path.clone())
                .unwrap_or_default(),
        );
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        match pvs.create(&PostParams::default(), &pv).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(e).context("create persistent volume"),
        }
    }
    for pv in &volumes {
        let ours = pv
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(PROVISIONED_BY))
            == Some(&shared.node);
        let Some(claim_uid) = pv
            .spec
            .as_ref()
            .and_then(|s| s.claim_ref.as_ref())
            .and_then(|r| r.uid.clone())
        else {
            continue;
        };
        if !ours
            || claims
                .iter()
                .any(|c| c.metadata.uid.as_deref() == Some(claim_uid.as_str()))
        {
            continue;
        }
        let name = pv.metadata.name.clone().unwrap_or_default();
        let _ = std::fs::remove_dir_all(shared.claims_dir().join(&claim_uid));
        match pvs.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e).context("delete released persistent volume"),
        }
    }
    Ok(())
}

/// Provisions and cleans up every second.
pub async fn run(shared: Arc<Shared>) {
    loop {
        if let Err(e) = pass(&shared).await {
            eprintln!("pod-runner: provisioner: {e:#}");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
