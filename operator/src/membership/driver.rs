//! One turn of the membership loop: observe → plan → execute one step.
//!
//! The Kubernetes side (StatefulSet size, PVCs) sits behind [`Workloads`] and the Raft
//! side behind [`AdminApi`], so the same loop drives Kubernetes pods in the controller
//! and local server processes in tests.

use std::collections::BTreeSet;
use std::future::Future;

use crate::admin_types::{
    AddLearnerRequest, ChangeVotersRequest, InitRequest, Member, RemoveNodeRequest,
    TransferLeaderRequest,
};
use crate::build::node_id;

use super::admin::{AdminApi, AdminCall, AdminCallError, PodResolver};
use super::planner::{Observed, PlannerConfig, Step, plan};

/// What exists of the cluster's workloads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkloadState {
    /// `spec.replicas` of the StatefulSet; `None` when it does not exist.
    pub statefulset_replicas: Option<u32>,
    /// Ordinals of existing pods (running or not).
    pub pods: BTreeSet<u32>,
    /// Ordinals that have a data volume.
    pub volumes: BTreeSet<u32>,
    /// Ordinals whose pod runs an outdated template.
    pub outdated: BTreeSet<u32>,
    /// Ordinals whose pod is being deleted.
    pub terminating: BTreeSet<u32>,
    /// The StatefulSet's status lags behind its spec (`outdated` may be incomplete).
    pub pending: bool,
}

/// The StatefulSet and its volumes.
pub trait Workloads: Send + Sync {
    /// Why a call failed (a Kubernetes API error in production).
    type Error: std::error::Error + Send + Sync + 'static;
    fn observe(&self) -> impl Future<Output = Result<WorkloadState, Self::Error>> + Send;
    /// Sets the StatefulSet's replicas (creating it if needed).
    fn scale(&self, replicas: u32) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Deletes the data volume of `ordinal`, whose pod is gone or going.
    fn delete_volume(&self, ordinal: u32) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Restarts pod `ordinal` (the one observed last) so it is recreated from the
    /// current template.
    fn restart_pod(&self, ordinal: u32) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Why a turn failed (the step is retried on the next turn).
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// An admin API call to a server pod failed.
    #[error("admin API: {0}")]
    Admin(#[from] AdminCallError),
    /// Observing or changing the StatefulSet, a pod or a PVC failed.
    #[error("{action}: {source}")]
    Workloads {
        /// What was being done, e.g. `deleting the volume of #3`.
        action: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl DriverError {
    fn workloads<E: std::error::Error + Send + Sync + 'static>(
        action: impl Into<String>,
    ) -> impl FnOnce(E) -> Self {
        let action = action.into();
        move |e| DriverError::Workloads {
            action,
            source: Box::new(e),
        }
    }
}

/// Polls every existing pod's status concurrently.
pub async fn observe<A: AdminApi, W: Workloads>(
    api: &A,
    workloads: &W,
    ever_bootstrapped: bool,
) -> Result<Observed, DriverError> {
    let state = workloads.observe().await.map_err(DriverError::workloads(
        "observing the StatefulSet, pods and PVCs",
    ))?;
    let polls = state.pods.iter().map(|o| async move {
        let obs = api.call(*o, AdminCall::Status).await;
        (*o, obs)
    });
    let pods = futures::future::join_all(polls).await.into_iter().collect();
    Ok(Observed {
        statefulset_replicas: state.statefulset_replicas,
        pods,
        pvcs: state.volumes,
        outdated: state.outdated,
        terminating: state.terminating,
        statefulset_pending: state.pending,
        ever_bootstrapped,
    })
}

fn member(resolver: &impl PodResolver, ordinal: u32) -> Member {
    Member {
        node_id: node_id(ordinal),
        addr: resolver.peer_addr(ordinal),
    }
}

/// Executes one step. `Wait`, `Refuse` and `Converged` do nothing.
pub async fn execute<A: AdminApi, R: PodResolver, W: Workloads>(
    api: &A,
    resolver: &R,
    workloads: &W,
    step: &Step,
) -> Result<(), DriverError> {
    match step {
        Step::GrowStatefulSet { replicas } | Step::ShrinkStatefulSet { replicas } => workloads
            .scale(*replicas)
            .await
            .map_err(DriverError::workloads(format!(
                "scaling the StatefulSet to {replicas}"
            )))?,
        Step::DeletePvc { ordinal } => {
            workloads
                .delete_volume(*ordinal)
                .await
                .map_err(DriverError::workloads(format!(
                    "deleting the volume of #{ordinal}"
                )))?
        }
        Step::RestartPod { ordinal } => workloads
            .restart_pod(*ordinal)
            .await
            .map_err(DriverError::workloads(format!("restarting pod #{ordinal}")))?,
        Step::Bootstrap { via, voters } => {
            let members = voters.iter().map(|o| member(resolver, *o)).collect();
            api.call(*via, AdminCall::Init(InitRequest { members }))
                .await?;
        }
        Step::AddLearner { leader, ordinal } => {
            let m = member(resolver, *ordinal);
            let req = AddLearnerRequest {
                node_id: m.node_id,
                addr: m.addr,
                // Returns once the learner is added; the planner polls its catch-up
                // on later turns and promotes it then, so no reconcile blocks for
                // the minutes a large log takes to replicate.
                blocking: false,
            };
            api.call(*leader, AdminCall::AddLearner(req)).await?;
        }
        Step::Promote { leader, voters, .. } => {
            let req = ChangeVotersRequest {
                voter_ids: voters.iter().map(|o| node_id(*o)).collect(),
                retain_removed: false,
            };
            api.call(*leader, AdminCall::ChangeVoters(req)).await?;
        }
        Step::TransferLeader { leader, to } => {
            let req = TransferLeaderRequest {
                node_id: Some(node_id(*to)),
            };
            api.call(*leader, AdminCall::TransferLeader(req)).await?;
        }
        Step::RemoveVoter { leader, ordinal } | Step::RemoveLearner { leader, ordinal } => {
            let req = RemoveNodeRequest {
                node_id: node_id(*ordinal),
            };
            api.call(*leader, AdminCall::Remove(req)).await?;
        }
        Step::Wait { .. } | Step::Refuse { .. } | Step::Converged => {}
    }
    Ok(())
}

/// Observes, plans and executes one step; returns the step and the observation it was
/// planned from (the caller turns both into status, Events and its requeue time).
pub async fn turn<A: AdminApi, R: PodResolver, W: Workloads>(
    desired: u32,
    ever_bootstrapped: bool,
    api: &A,
    resolver: &R,
    workloads: &W,
    config: &PlannerConfig,
) -> Result<(Step, Observed), DriverError> {
    let observed = observe(api, workloads, ever_bootstrapped).await?;
    let step = plan(desired, &observed, config);
    tracing::info!(?step, desired, "membership step");
    execute(api, resolver, workloads, &step).await?;
    Ok((step, observed))
}
