//! The membership planner: a pure function from the desired size and what the operator
//! observed to the single next step.
//!
//! Rules (design, operator principle 2):
//! - The desired voters are always ordinals `0..spec.replicas` (node ids `1..=replicas`);
//!   observed members never change the target. A StatefulSet smaller than
//!   `spec.replicas` without a leader is grown back first (its pods are what a leader
//!   needs to appear).
//! - One step per call. The reconciler executes it, observes again and asks again.
//! - Scale up: grow the StatefulSet, add the new node as a learner, promote it once
//!   caught up; one node at a time.
//! - Scale down: move leadership off a leaving node, remove it from the voters, shrink
//!   the StatefulSet, delete its PVC (so it can never rejoin with stale state).
//! - A step that would lose quorum, or leave a running majority without a spare, is
//!   refused (with a reason for the Warning Event and the Degraded condition) and the
//!   planner proposes it again once the members are healthy.

use std::collections::{BTreeMap, BTreeSet};

use crate::admin_types::{ClusterStatus, Role};
use crate::build::{node_id, ordinal};
use crate::membership::AdminCallError;

/// What one pod answered to `GET /admin/status`, or why it did not.
pub type Observation = Result<ClusterStatus, AdminCallError>;

/// What the reconciler observed of one cluster.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// `spec.replicas` of the StatefulSet, `None` when it does not exist yet.
    pub statefulset_replicas: Option<u32>,
    /// Status of each existing pod, by ordinal. A missing entry means no pod.
    pub pods: BTreeMap<u32, Observation>,
    /// Ordinals that have a data PVC.
    pub pvcs: BTreeSet<u32>,
    /// Pods being deleted (`deletionTimestamp` set). They may still answer during their
    /// preStop hook, but count as down: a member is back only when its replacement
    /// answers healthy and caught up.
    pub terminating: BTreeSet<u32>,
    /// Pods running an outdated pod template (the StatefulSet uses `OnDelete`, so the
    /// operator restarts them itself).
    pub outdated: BTreeSet<u32>,
    /// The StatefulSet controller has not yet processed the latest StatefulSet change,
    /// so `outdated` may be incomplete.
    pub statefulset_pending: bool,
    /// Whether this cluster was bootstrapped before (recorded in the QueueCluster's
    /// status). Guards against bootstrapping a second, empty cluster over lost volumes.
    pub ever_bootstrapped: bool,
}

/// Planner tunables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannerConfig {
    /// A follower or learner at most this many entries behind the leader counts as
    /// caught up (healthy, promotable).
    pub max_lag: u64,
}

impl Default for PlannerConfig {
    fn default() -> Self {
        Self { max_lag: 100 }
    }
}

/// The next thing to do. Ordinals are StatefulSet ordinals (node id = ordinal + 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Create the StatefulSet or raise its `replicas` so the pods to add exist.
    GrowStatefulSet { replicas: u32 },
    /// Initialize a new cluster on pod `via` with these ordinals as voters.
    Bootstrap { via: u32, voters: Vec<u32> },
    /// Add `ordinal` as a learner (through the leader); the call returns at once and
    /// later turns wait for the learner to catch up before promoting it.
    AddLearner { leader: u32, ordinal: u32 },
    /// Make the caught-up learner `ordinal` a voter: the voters become `voters`.
    Promote {
        leader: u32,
        ordinal: u32,
        voters: Vec<u32>,
    },
    /// Hand leadership from the leaving `leader` to `to` before removing it.
    TransferLeader { leader: u32, to: u32 },
    /// Remove voter `ordinal` from the cluster.
    RemoveVoter { leader: u32, ordinal: u32 },
    /// Remove a learner that is not wanted (left from an abandoned scale-up).
    RemoveLearner { leader: u32, ordinal: u32 },
    /// Lower the StatefulSet's `replicas` (every removed pod has left the cluster).
    ShrinkStatefulSet { replicas: u32 },
    /// Delete the data PVC of a pod that is not (and must not become) a member.
    DeletePvc { ordinal: u32 },
    /// Delete an outdated pod so the StatefulSet recreates it from the new template
    /// (rolling update: followers first, the leader last, one at a time).
    RestartPod { ordinal: u32 },
    /// Nothing to do until something changes (a pod starting, an election, catch-up).
    Wait { reason: String },
    /// The next step would endanger quorum or data; it is refused until the cluster is
    /// healthy again (Warning Event, Degraded condition).
    Refuse { reason: String },
    /// Membership, StatefulSet and PVCs match the spec.
    Converged,
}

impl Step {
    /// Whether the step changes Raft membership (executed through the admin API).
    pub fn is_membership_change(&self) -> bool {
        matches!(
            self,
            Step::Bootstrap { .. }
                | Step::AddLearner { .. }
                | Step::Promote { .. }
                | Step::TransferLeader { .. }
                | Step::RemoveVoter { .. }
                | Step::RemoveLearner { .. }
        )
    }
}

fn majority(n: usize) -> usize {
    n / 2 + 1
}

fn ordinals_of(members: &[crate::admin_types::Member]) -> BTreeSet<u32> {
    members.iter().filter_map(|m| ordinal(m.node_id)).collect()
}

fn list(set: &BTreeSet<u32>) -> String {
    let names: Vec<String> = set.iter().map(|o| format!("#{o}")).collect();
    names.join(", ")
}

/// The cluster as the current leader sees it.
struct LeaderView<'a> {
    ordinal: u32,
    status: &'a ClusterStatus,
    voters: BTreeSet<u32>,
    learners: BTreeSet<u32>,
}

impl LeaderView<'_> {
    fn lag(&self, ordinal: u32) -> Option<u64> {
        if ordinal == self.ordinal {
            return Some(0);
        }
        self.status
            .replication
            .iter()
            .find(|p| p.node_id == node_id(ordinal))
            .map(|p| p.lag)
    }

    fn members(&self) -> BTreeSet<u32> {
        self.voters.union(&self.learners).copied().collect()
    }
}

/// Finds the leader: a pod that answers as leader (the highest term wins if a deposed
/// leader has not noticed yet).
fn leader_view(observed: &Observed) -> Option<LeaderView<'_>> {
    let (ordinal, status) = observed
        .pods
        .iter()
        .filter_map(|(o, obs)| obs.as_ref().ok().map(|s| (*o, s)))
        .filter(|(o, s)| s.role == Role::Leader && s.leader_id == Some(node_id(*o)))
        .max_by_key(|(_, s)| s.term)?;
    Some(LeaderView {
        ordinal,
        status,
        voters: ordinals_of(&status.voters),
        learners: ordinals_of(&status.learners),
    })
}

/// A member is healthy when it is the leader, or its pod answers, follows this leader
/// in its term and is at most `max_lag` entries behind.
fn healthy(view: &LeaderView<'_>, observed: &Observed, config: &PlannerConfig, o: u32) -> bool {
    if observed.terminating.contains(&o) {
        return false;
    }
    if o == view.ordinal {
        return true;
    }
    let follows = matches!(
        observed.pods.get(&o),
        Some(Ok(s)) if s.leader_id == Some(node_id(view.ordinal)) && s.term == view.status.term
    );
    follows && view.lag(o).is_some_and(|lag| lag <= config.max_lag)
}

fn unhealthy_of(
    view: &LeaderView<'_>,
    observed: &Observed,
    config: &PlannerConfig,
    set: &BTreeSet<u32>,
) -> BTreeSet<u32> {
    set.iter()
        .copied()
        .filter(|o| !healthy(view, observed, config, *o))
        .collect()
}

/// Health of one member, as the leader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberHealth {
    pub ordinal: u32,
    pub voter: bool,
    pub healthy: bool,
    pub lag: Option<u64>,
}

/// The cluster's health as the current leader reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterHealth {
    pub leader: u32,
    pub term: u64,
    pub lease_valid: bool,
    /// Voters first, then learners, each by ordinal.
    pub members: Vec<MemberHealth>,
}

impl ClusterHealth {
    /// Whether a majority of the voters is healthy (the cluster can commit).
    pub fn has_quorum(&self) -> bool {
        let voters = self.members.iter().filter(|m| m.voter).count();
        let healthy = self.members.iter().filter(|m| m.voter && m.healthy).count();
        voters > 0 && healthy >= majority(voters)
    }
}

/// Summarizes what the leader reports; `None` without a reachable leader.
pub fn cluster_health(observed: &Observed, config: &PlannerConfig) -> Option<ClusterHealth> {
    let view = leader_view(observed)?;
    let entry = |o: u32, voter: bool| MemberHealth {
        ordinal: o,
        voter,
        healthy: healthy(&view, observed, config, o),
        lag: view.lag(o),
    };
    let members = view
        .voters
        .iter()
        .map(|o| entry(*o, true))
        .chain(view.learners.iter().map(|o| entry(*o, false)))
        .collect();
    Some(ClusterHealth {
        leader: view.ordinal,
        term: view.status.term,
        lease_valid: view.status.lease.valid,
        members,
    })
}

/// Decides the single next step towards `desired` voters.
pub fn plan(desired: u32, observed: &Observed, config: &PlannerConfig) -> Step {
    if desired == 0 {
        return Step::Refuse {
            reason: "spec.replicas must be at least 1".into(),
        };
    }
    let target: BTreeSet<u32> = (0..desired).collect();
    let Some(sts_replicas) = observed.statefulset_replicas else {
        return Step::GrowStatefulSet { replicas: desired };
    };

    let answering: BTreeMap<u32, &ClusterStatus> = observed
        .pods
        .iter()
        .filter_map(|(o, obs)| obs.as_ref().ok().map(|s| (*o, s)))
        .collect();
    let any_initialized = answering.values().any(|s| s.initialized);

    let Some(view) = leader_view(observed) else {
        // The StatefulSet was shrunk from outside (or a scale-down was cut short) and
        // quorum went with the pods: no leader can appear until they are back.
        if (any_initialized || observed.ever_bootstrapped) && sts_replicas < desired {
            return Step::GrowStatefulSet { replicas: desired };
        }
        if any_initialized {
            return Step::Wait {
                reason: "no leader is known yet (election in progress or leader unreachable)"
                    .into(),
            };
        }
        return plan_bootstrap(desired, sts_replicas, observed, &target);
    };

    // 1. Learners that are not wanted: removing a learner never affects quorum.
    if let Some(&stray) = view.learners.iter().rev().find(|o| !target.contains(o)) {
        return Step::RemoveLearner {
            leader: view.ordinal,
            ordinal: stray,
        };
    }

    // 2. Scale down: voters outside the target leave one at a time, unhealthy ones
    //    first (removing a dead voter helps), then the highest ordinal.
    let leaving: Vec<u32> = {
        let mut l: Vec<u32> = view.voters.difference(&target).copied().collect();
        l.sort_by_key(|o| (healthy(&view, observed, config, *o), std::cmp::Reverse(*o)));
        l
    };
    if let Some(&out) = leaving.first() {
        let remaining: BTreeSet<u32> = view.voters.iter().copied().filter(|o| *o != out).collect();
        if remaining.is_empty() {
            return Step::Refuse {
                reason: format!("removing #{out} would leave no voter"),
            };
        }
        let unhealthy = unhealthy_of(&view, observed, config, &remaining);
        if !unhealthy.is_empty() {
            return Step::Refuse {
                reason: format!(
                    "scale-down paused: removing voter #{out} while {} {} unhealthy could lose quorum",
                    list(&unhealthy),
                    if unhealthy.len() == 1 { "is" } else { "are" }
                ),
            };
        }
        if out == view.ordinal {
            // Hand over to the most caught-up voter that stays (one leaving too would
            // need a second hand-over), lowest ordinal on ties.
            let to = remaining
                .iter()
                .copied()
                .min_by_key(|o| (!target.contains(o), view.lag(*o).unwrap_or(u64::MAX), *o))
                .unwrap_or(out);
            return Step::TransferLeader {
                leader: view.ordinal,
                to,
            };
        }
        return Step::RemoveVoter {
            leader: view.ordinal,
            ordinal: out,
        };
    }

    // 3. Promote caught-up learners of the target.
    if let Some(&learner) = view.learners.iter().find(|o| target.contains(o)) {
        let lag = view.lag(learner);
        if lag.is_none_or(|l| l > config.max_lag) || !healthy(&view, observed, config, learner) {
            return Step::Wait {
                reason: format!(
                    "learner #{learner} is catching up (lag {})",
                    lag.map_or("unknown".into(), |l| l.to_string())
                ),
            };
        }
        let mut voters = view.voters.clone();
        voters.insert(learner);
        let healthy_after = voters.len() - unhealthy_of(&view, observed, config, &voters).len();
        if healthy_after < majority(voters.len()) {
            return Step::Refuse {
                reason: format!(
                    "promoting #{learner} would need {} healthy voters of {}, only {healthy_after} are",
                    majority(voters.len()),
                    voters.len()
                ),
            };
        }
        return Step::Promote {
            leader: view.ordinal,
            ordinal: learner,
            voters: voters.into_iter().collect(),
        };
    }

    // 4. Scale up: add the lowest missing ordinal as a learner.
    let members = view.members();
    if let Some(&missing) = target.iter().find(|o| !members.contains(o)) {
        if missing >= sts_replicas {
            // Volumes of non-members beyond the StatefulSet are stale: clean them before
            // the pods come back, so no node restarts with old Raft state.
            if let Some(&stale) = observed
                .pvcs
                .iter()
                .find(|o| **o >= sts_replicas && !members.contains(o))
            {
                return Step::DeletePvc { ordinal: stale };
            }
            return Step::GrowStatefulSet { replicas: desired };
        }
        return match observed.pods.get(&missing) {
            None => Step::Wait {
                reason: format!("waiting for pod #{missing} to be created"),
            },
            Some(Err(e)) => Step::Wait {
                reason: format!("waiting for pod #{missing} to answer: {e}"),
            },
            Some(Ok(s)) if s.initialized => Step::Refuse {
                reason: format!(
                    "pod #{missing} holds Raft state of an earlier membership; delete its PVC \
                     and pod so it can join empty"
                ),
            },
            Some(Ok(_)) => Step::AddLearner {
                leader: view.ordinal,
                ordinal: missing,
            },
        };
    }

    // 5. Membership matches: shrink the StatefulSet, then clean leftover volumes.
    if sts_replicas > desired {
        return Step::ShrinkStatefulSet { replicas: desired };
    }
    if sts_replicas < desired {
        return Step::GrowStatefulSet { replicas: desired };
    }
    if let Some(&stale) = observed
        .pvcs
        .iter()
        .find(|o| **o >= desired && !members.contains(o))
    {
        return Step::DeletePvc { ordinal: stale };
    }

    // 6. Rolling update: unhealthy outdated pods first (they serve nothing anyway), then
    //    followers, the leader last after handing leadership to an updated voter.
    if observed.statefulset_pending {
        return Step::Wait {
            reason: "waiting for the StatefulSet controller to observe the latest change".into(),
        };
    }
    plan_rollout(&view, observed, config)
}

fn plan_rollout(view: &LeaderView<'_>, observed: &Observed, config: &PlannerConfig) -> Step {
    let is_healthy = |o: u32| healthy(view, observed, config, o);
    let Some(&next) = observed
        .outdated
        .iter()
        .min_by_key(|o| (is_healthy(**o), **o == view.ordinal, **o))
    else {
        // The last restart is finished only when its pod is back.
        let restarting: BTreeSet<u32> = view
            .members()
            .into_iter()
            .filter(|o| observed.terminating.contains(o) || !observed.pods.contains_key(o))
            .collect();
        if !restarting.is_empty() {
            return Step::Wait {
                reason: format!("waiting for {} to be replaced", list(&restarting)),
            };
        }
        return Step::Converged;
    };
    let others: BTreeSet<u32> = view.members().into_iter().filter(|o| *o != next).collect();
    let unhealthy = unhealthy_of(view, observed, config, &others);
    // One restart at a time, each waited for: nothing is restarted while another member
    // is down (terminating, replaced but not yet caught up, or crashed).
    if !unhealthy.is_empty() {
        let healthy_voters = view
            .voters
            .iter()
            .filter(|o| **o != next && is_healthy(**o))
            .count();
        if !is_healthy(next) && healthy_voters < majority(view.voters.len()) {
            return Step::Refuse {
                reason: format!(
                    "rolling update paused: restarting #{next} needs a healthy majority of the others"
                ),
            };
        }
        return Step::Wait {
            reason: format!(
                "rolling update: waiting for {} to be healthy before restarting #{next}",
                list(&unhealthy)
            ),
        };
    }
    if !is_healthy(next) {
        // Restarting a pod that is down costs nothing while every other member is up.
        return Step::RestartPod { ordinal: next };
    }
    if next == view.ordinal {
        // Hand leadership to the most caught-up updated voter first.
        let to = view
            .voters
            .iter()
            .copied()
            .filter(|o| *o != next)
            .min_by_key(|o| {
                (
                    observed.outdated.contains(o),
                    view.lag(*o).unwrap_or(u64::MAX),
                    *o,
                )
            });
        return match to {
            Some(to) => Step::TransferLeader {
                leader: view.ordinal,
                to,
            },
            // A single-node cluster cannot hand over: restart it in place.
            None => Step::RestartPod { ordinal: next },
        };
    }
    Step::RestartPod { ordinal: next }
}

/// No pod knows a cluster: bootstrap once every desired pod answers uninitialized.
fn plan_bootstrap(
    desired: u32,
    sts_replicas: u32,
    observed: &Observed,
    target: &BTreeSet<u32>,
) -> Step {
    if observed.ever_bootstrapped {
        let all_answer_empty = target
            .iter()
            .all(|o| matches!(observed.pods.get(o), Some(Ok(s)) if !s.initialized));
        if !all_answer_empty {
            return Step::Wait {
                reason: "no leader: waiting for the pods to answer".into(),
            };
        }
        return Step::Refuse {
            reason: "no pod has Raft state although the cluster was bootstrapped before \
                     (volumes lost?); refusing to bootstrap an empty cluster over it"
                .into(),
        };
    }
    if sts_replicas < desired {
        return Step::GrowStatefulSet { replicas: desired };
    }
    for o in target {
        match observed.pods.get(o) {
            None => {
                return Step::Wait {
                    reason: format!("waiting for pod #{o} before bootstrapping"),
                };
            }
            Some(Err(e)) => {
                return Step::Wait {
                    reason: format!("waiting for pod #{o} to answer before bootstrapping: {e}"),
                };
            }
            Some(Ok(_)) => {}
        }
    }
    Step::Bootstrap {
        via: 0,
        voters: target.iter().copied().collect(),
    }
}

#[cfg(test)]
#[path = "planner_tests.rs"]
mod tests;
