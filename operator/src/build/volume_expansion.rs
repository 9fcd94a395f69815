//! Volume expansion planned: which data PVCs get the larger `spec.storage.size`, and
//! how far the ones below it got. Pure; the controller reads and patches.
//!
//! The StatefulSet's volume claim templates are immutable, so they keep the size the
//! StatefulSet was created with ([`claim_template_size`]); each PVC is expanded on its
//! own, including those a later scale-up creates from the template.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::ResourceExt;

use super::quantity::less_than;
use super::{Cluster, DATA_VOLUME};
use crate::crd::queue_cluster::{VolumeExpansionState, VolumeExpansionStatus};

/// The storage size of the data volume claim template: the existing StatefulSet's (it
/// cannot change), or `spec.storage.size` for a new one.
pub fn claim_template_size(c: &Cluster<'_>, existing: Option<&StatefulSet>) -> Quantity {
    existing
        .and_then(|s| s.spec.as_ref()?.volume_claim_templates.as_ref())
        .and_then(|templates| {
            templates
                .iter()
                .find(|t| t.metadata.name.as_deref() == Some(DATA_VOLUME))
        })
        .and_then(requested)
        .unwrap_or_else(|| c.qc.spec.storage.size.clone())
}

/// `spec.resources.requests.storage` of a PVC.
fn requested(pvc: &PersistentVolumeClaim) -> Option<Quantity> {
    pvc.spec
        .as_ref()?
        .resources
        .as_ref()?
        .requests
        .as_ref()?
        .get("storage")
        .cloned()
}

/// `status.capacity.storage` of a PVC.
fn capacity(pvc: &PersistentVolumeClaim) -> Option<Quantity> {
    pvc.status
        .as_ref()?
        .capacity
        .as_ref()?
        .get("storage")
        .cloned()
}

/// The StorageClass a PVC was provisioned with.
fn storage_class(pvc: &PersistentVolumeClaim) -> Option<&str> {
    pvc.spec
        .as_ref()?
        .storage_class_name
        .as_deref()
        .filter(|s| !s.is_empty())
}

/// The StorageClasses [`plan_expansion`] needs to know about: those of the PVCs whose
/// request is below `spec.storage.size`.
pub fn classes_to_read<'p>(
    c: &Cluster<'_>,
    pvcs: &'p [PersistentVolumeClaim],
) -> BTreeSet<&'p str> {
    let wanted = &c.qc.spec.storage.size;
    pvcs.iter()
        .filter(|p| below(requested(p), wanted))
        .filter_map(storage_class)
        .collect()
}

/// Whether `q` is known to be smaller than `wanted`.
fn below(q: Option<Quantity>, wanted: &Quantity) -> bool {
    q.and_then(|q| less_than(&q, wanted)).unwrap_or(false)
}

/// What to do about the data PVCs' sizes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExpansionPlan {
    /// PVCs whose request is to be raised to `spec.storage.size`.
    pub grow: Vec<String>,
    /// Why nothing is raised: a StorageClass that does not allow expansion.
    pub refused: Option<String>,
    /// Every PVC still below the requested size, and how far it got.
    pub pending: Vec<VolumeExpansionStatus>,
}

/// Plans the expansion of `pvcs` (the cluster's data PVCs) to `spec.storage.size`.
/// `allows_expansion` maps each StorageClass of a PVC to be grown to its
/// `allowVolumeExpansion` (absent: the class does not exist). Sizes are only ever
/// raised; a PVC with a request or capacity that is not a quantity is left alone.
pub fn plan_expansion(
    c: &Cluster<'_>,
    pvcs: &[PersistentVolumeClaim],
    allows_expansion: &BTreeMap<String, bool>,
) -> ExpansionPlan {
    let wanted = &c.qc.spec.storage.size;
    let below = |q: Option<Quantity>| below(q, wanted);
    let mut plan = ExpansionPlan::default();
    let mut refusals = Vec::new();
    // (PVC, whether its request is to be raised) of every PVC below the size.
    let mut short = Vec::new();
    for pvc in pvcs {
        let name = pvc.name_any();
        let to_grow = below(requested(pvc));
        if to_grow {
            match storage_class(pvc) {
                Some(class) if allows_expansion.get(class) == Some(&true) => {
                    plan.grow.push(name.clone());
                }
                Some(class) if allows_expansion.contains_key(class) => refusals.push(format!(
                    "{name} (StorageClass {class} does not set allowVolumeExpansion)"
                )),
                Some(class) => refusals.push(format!("{name} (StorageClass {class} not found)")),
                None => refusals.push(format!("{name} (no StorageClass)")),
            }
        }
        // Without a reported capacity (not bound yet) the request is what it gets.
        let small = match capacity(pvc) {
            Some(capacity) => below(Some(capacity)),
            None => to_grow,
        };
        if to_grow || small {
            short.push((pvc, to_grow));
        }
    }
    if !refusals.is_empty() {
        plan.grow.clear();
        plan.refused = Some(format!(
            "spec.storage.size {} is larger than volumes that cannot be expanded: {}; \
             nothing was changed (allow volume expansion on the StorageClass, or restore the size)",
            wanted.0,
            refusals.join(", ")
        ));
    }
    plan.pending = short
        .into_iter()
        .map(|(pvc, to_grow)| {
            let (state, message) = match resize_condition(pvc) {
                _ if to_grow && plan.refused.is_some() => (VolumeExpansionState::Refused, None),
                Some(found) => found,
                None => (VolumeExpansionState::Requested, None),
            };
            VolumeExpansionStatus {
                pvc: pvc.name_any(),
                capacity: capacity(pvc).map(|q| q.0),
                state,
                message,
            }
        })
        .collect();
    plan
}

/// The state and message of a PVC's resize condition, when it has one that is true.
fn resize_condition(pvc: &PersistentVolumeClaim) -> Option<(VolumeExpansionState, Option<String>)> {
    let conditions = pvc.status.as_ref()?.conditions.as_ref()?;
    conditions
        .iter()
        .filter(|c| c.status == "True")
        .find_map(|c| {
            let state = match c.type_.as_str() {
                "ControllerResizeError" | "NodeResizeError" => VolumeExpansionState::Failed,
                "FileSystemResizePending" => VolumeExpansionState::FileSystemResizePending,
                "Resizing" | "ControllerResizeInProgress" | "NodeResizeInProgress" => {
                    VolumeExpansionState::Resizing
                }
                _ => return None,
            };
            Some((state, c.message.clone().filter(|m| !m.is_empty())))
        })
}
