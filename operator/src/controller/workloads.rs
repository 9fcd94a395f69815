//! [`Workloads`] on Kubernetes: the StatefulSet and its PVCs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::api::policy::v1::Eviction;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    DeleteOptions, ObjectMeta, Preconditions as MetaPreconditions,
};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::{Api, Client, ResourceExt};

use crate::build::{self, Cluster, FIELD_MANAGER, LABEL_INSTANCE, LABEL_NAME, Names};
use crate::membership::{WorkloadState, Workloads};

/// The StatefulSet of one cluster and its pods and PVCs.
pub struct KubeWorkloads {
    pub statefulsets: Api<StatefulSet>,
    pub pods: Api<Pod>,
    pub pvcs: Api<PersistentVolumeClaim>,
    pub names: Names,
    /// The desired StatefulSet; only `spec.replicas` is changed when scaling.
    pub template: StatefulSet,
    /// Pods the PodDisruptionBudget lets go at once; with 0 (one or two replicas) no
    /// eviction can ever pass, and the planner's quorum rules are the only guard.
    max_unavailable: i32,
    /// UIDs of the pods and PVCs seen by the last `observe`: restarts and volume
    /// deletes are preconditioned on them, so they never hit a replacement the planner
    /// has not seen.
    observed: Mutex<Observed>,
}

#[derive(Debug, Default)]
struct Observed {
    pods: BTreeMap<u32, String>,
    pvcs: BTreeMap<u32, String>,
}

/// Pod label naming the StatefulSet revision the pod was created from.
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// `app.kubernetes.io/name=sqsraft,app.kubernetes.io/instance=<name>`.
pub fn selector(name: &str) -> String {
    format!("{LABEL_NAME}=sqsraft,{LABEL_INSTANCE}={name}")
}

/// 404 means the object is already gone, and 409 that the UID precondition failed (it
/// was replaced since it was observed): either way the object planned for is gone.
fn gone_is_fine<T>(result: Result<T, kube::Error>) -> Result<(), kube::Error> {
    match result {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Delete options that only match the object with `uid`.
fn only(uid: Option<String>) -> DeleteParams {
    DeleteParams {
        preconditions: Some(Preconditions {
            uid,
            resource_version: None,
        }),
        ..DeleteParams::default()
    }
}

impl KubeWorkloads {
    /// The workloads of `c`; `existing` is the StatefulSet as fetched (its volume claim
    /// template is kept).
    pub fn new(c: &Cluster<'_>, client: &Client, existing: Option<&StatefulSet>) -> Self {
        let ns = &c.namespace;
        let claim_size = build::claim_template_size(c, existing);
        Self {
            statefulsets: Api::namespaced(client.clone(), ns),
            pods: Api::namespaced(client.clone(), ns),
            pvcs: Api::namespaced(client.clone(), ns),
            names: c.names.clone(),
            template: build::stateful_set(c, 0, &claim_size),
            max_unavailable: build::max_unavailable(c),
            observed: Mutex::default(),
        }
    }

    /// Applies the StatefulSet with `replicas` pods (server-side apply, forced).
    pub async fn apply(&self, replicas: u32) -> Result<StatefulSet, kube::Error> {
        let mut sts = self.template.clone();
        if let Some(spec) = sts.spec.as_mut() {
            spec.replicas = Some(i32::try_from(replicas).unwrap_or(i32::MAX));
        }
        self.statefulsets
            .patch(
                &self.names.statefulset(),
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&sts),
            )
            .await
    }
}

impl KubeWorkloads {
    fn uid_of(
        &self,
        kind: impl Fn(&Observed) -> &BTreeMap<u32, String>,
        ordinal: u32,
    ) -> Option<String> {
        let observed = self.observed.lock().unwrap_or_else(|e| e.into_inner());
        kind(&observed).get(&ordinal).cloned()
    }
}

impl Workloads for KubeWorkloads {
    type Error = kube::Error;

    async fn observe(&self) -> Result<WorkloadState, kube::Error> {
        let sts = self.statefulsets.get_opt(&self.names.statefulset()).await?;
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
        let lp = ListParams::default().labels(&selector(self.names.cluster()));
        let pod_list = self.pods.list(&lp).await?;
        let mut pods = BTreeSet::new();
        let mut outdated = BTreeSet::new();
        let mut terminating = BTreeSet::new();
        let mut uids = Observed::default();
        for p in pod_list.iter() {
            let Some(o) = self.names.pod_ordinal(&p.name_any()) else {
                continue;
            };
            pods.insert(o);
            if p.metadata.deletion_timestamp.is_some() {
                terminating.insert(o);
            }
            if let Some(uid) = p.uid() {
                uids.pods.insert(o, uid);
            }
            let revision = p.labels().get(REVISION_LABEL);
            if let (Some(want), Some(have)) = (update_revision.as_ref(), revision)
                && want != have
                && p.metadata.deletion_timestamp.is_none()
            {
                outdated.insert(o);
            }
        }
        let mut volumes = BTreeSet::new();
        for pvc in self.pvcs.list(&lp).await?.iter() {
            if let Some(o) = self.names.pvc_ordinal(&pvc.name_any()) {
                volumes.insert(o);
                if let Some(uid) = pvc.uid() {
                    uids.pvcs.insert(o, uid);
                }
            }
        }
        *self.observed.lock().unwrap_or_else(|e| e.into_inner()) = uids;
        Ok(WorkloadState {
            statefulset_replicas: replicas,
            pods,
            volumes,
            outdated,
            terminating,
            pending,
        })
    }

    async fn scale(&self, replicas: u32) -> Result<(), kube::Error> {
        self.apply(replicas).await.map(drop)
    }

    /// Evicts the pod (the Eviction API, so the PodDisruptionBudget guards operator
    /// restarts as it guards node drains); a 429 means the budget allows no disruption
    /// now and is returned as an error to retry. A cluster whose budget allows none at
    /// all (one or two replicas) has the pod deleted instead.
    ///
    /// The Eviction is posted as its own object: kube's `Api::evict` (5.0) names the
    /// field `delete_options`, which the API server ignores, dropping the precondition.
    async fn restart_pod(&self, ordinal: u32) -> Result<(), kube::Error> {
        let name = self.names.pod(ordinal);
        let uid = self.uid_of(|o| &o.pods, ordinal);
        if self.max_unavailable == 0 {
            return gone_is_fine(self.pods.delete(&name, &only(uid)).await);
        }
        let eviction = Eviction {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(self.names.namespace().to_string()),
                ..ObjectMeta::default()
            },
            delete_options: Some(DeleteOptions {
                preconditions: Some(MetaPreconditions {
                    uid,
                    resource_version: None,
                }),
                ..DeleteOptions::default()
            }),
        };
        let posted: Result<kube::core::Status, _> = self
            .pods
            .create_subresource("eviction", &name, &PostParams::default(), &eviction)
            .await;
        gone_is_fine(posted)
    }

    async fn delete_volume(&self, ordinal: u32) -> Result<(), kube::Error> {
        let name = self.names.pvc(ordinal);
        let uid = self.uid_of(|o| &o.pvcs, ordinal);
        gone_is_fine(self.pvcs.delete(&name, &only(uid)).await)
    }
}
