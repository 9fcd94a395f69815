//! The volume expansion step of a QueueCluster reconcile: data PVCs below
//! `spec.storage.size` get the larger request (merge patch) when their StorageClass
//! allows volume expansion ([`build::plan_expansion`] decides).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};

use super::workloads::selector;
use crate::build::{self, Cluster, ExpansionPlan};
use crate::error::{Error, KubeContext};

/// Reads the data PVCs and the StorageClasses of those to grow, raises the requests the
/// plan allows, and returns the plan (what was patched, refused and still pending).
pub async fn expand(c: &Cluster<'_>, client: &Client) -> Result<ExpansionPlan, Error> {
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &c.namespace);
    let data: Vec<PersistentVolumeClaim> = pvcs
        .list(&ListParams::default().labels(&selector(&c.name)))
        .await
        .context(|| format!("listing the PVCs of {}", c.name))?
        .items
        .into_iter()
        .filter(|p| c.names.pvc_ordinal(&p.name_any()).is_some())
        .collect();
    let classes = Api::<StorageClass>::all(client.clone());
    let mut allows_expansion = BTreeMap::new();
    for class in build::classes_to_read(c, &data) {
        let found = classes
            .get_opt(class)
            .await
            .context(|| format!("reading StorageClass {class}"))?;
        if let Some(sc) = found {
            allows_expansion.insert(class.to_string(), sc.allow_volume_expansion == Some(true));
        }
    }
    let plan = build::plan_expansion(c, &data, &allows_expansion);
    let wanted = &c.qc.spec.storage.size;
    let patch = serde_json::json!({"spec": {"resources": {"requests": {"storage": wanted}}}});
    for name in &plan.grow {
        pvcs.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .context(|| format!("expanding PVC {name} to {}", wanted.0))?;
    }
    Ok(plan)
}
