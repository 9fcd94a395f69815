//! [`Workloads`] on Kubernetes: the StatefulSet and its PVCs.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};

use crate::build::{FIELD_MANAGER, LABEL_INSTANCE, LABEL_NAME};
use crate::membership::{WorkloadState, Workloads};

/// The StatefulSet `name` and its pods and PVCs in one namespace.
pub struct KubeWorkloads {
    pub statefulsets: Api<StatefulSet>,
    pub pods: Api<Pod>,
    pub pvcs: Api<PersistentVolumeClaim>,
    pub name: String,
    /// The desired StatefulSet; only `spec.replicas` is changed when scaling.
    pub template: StatefulSet,
}

/// Pod label naming the StatefulSet revision the pod was created from.
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// `app.kubernetes.io/name=sqsraft,app.kubernetes.io/instance=<name>`.
pub fn selector(name: &str) -> String {
    format!("{LABEL_NAME}=sqsraft,{LABEL_INSTANCE}={name}")
}

/// The ordinal of `<name>-<ordinal>`.
pub fn ordinal_of(prefix: &str, object_name: &str) -> Option<u32> {
    object_name
        .strip_prefix(prefix)?
        .strip_prefix('-')?
        .parse()
        .ok()
}

impl KubeWorkloads {
    /// Applies the StatefulSet with `replicas` pods (server-side apply, forced).
    pub async fn apply(&self, replicas: u32) -> Result<StatefulSet, kube::Error> {
        let mut sts = self.template.clone();
        if let Some(spec) = sts.spec.as_mut() {
            spec.replicas = Some(i32::try_from(replicas).unwrap_or(i32::MAX));
        }
        self.statefulsets
            .patch(
                &self.name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&sts),
            )
            .await
    }
}

impl Workloads for KubeWorkloads {
    async fn observe(&self) -> Result<WorkloadState, String> {
        let sts = self
            .statefulsets
            .get_opt(&self.name)
            .await
            .map_err(|e| e.to_string())?;
        let pending = sts.as_ref().is_some_and(|s| {
            let observed = s.status.as_ref().and_then(|st| st.observed_generation);
            observed < s.metadata.generation
        });
        let update_revision = sts
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .and_then(|s| s.update_revision.clone());
        let replicas = sts
            .and_then(|s| s.spec)
            .map(|s| u32::try_from(s.replicas.unwrap_or(1)).unwrap_or(0));
        let lp = ListParams::default().labels(&selector(&self.name));
        let pod_list = self.pods.list(&lp).await.map_err(|e| e.to_string())?;
        let mut pods = BTreeSet::new();
        let mut outdated = BTreeSet::new();
        for p in pod_list.iter() {
            let Some(o) = ordinal_of(&self.name, &p.name_any()) else {
                continue;
            };
            pods.insert(o);
            let revision = p.labels().get(REVISION_LABEL);
            if let (Some(want), Some(have)) = (update_revision.as_ref(), revision)
                && want != have
                && p.metadata.deletion_timestamp.is_none()
            {
                outdated.insert(o);
            }
        }
        let claim_prefix = format!("{}-{}", crate::build::DATA_VOLUME, self.name);
        let volumes = self
            .pvcs
            .list(&lp)
            .await
            .map_err(|e| e.to_string())?
            .iter()
            .filter_map(|p| ordinal_of(&claim_prefix, &p.name_any()))
            .collect();
        Ok(WorkloadState {
            statefulset_replicas: replicas,
            pods,
            volumes,
            outdated,
            pending,
        })
    }

    async fn scale(&self, replicas: u32) -> Result<(), String> {
        self.apply(replicas)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn restart_pod(&self, ordinal: u32) -> Result<(), String> {
        let name = format!("{}-{ordinal}", self.name);
        match self.pods.delete(&name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn delete_volume(&self, ordinal: u32) -> Result<(), String> {
        let name = format!("{}-{}-{ordinal}", crate::build::DATA_VOLUME, self.name);
        match self.pvcs.delete(&name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}
