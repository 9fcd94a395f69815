//! Planner tests: single decisions, and whole scale sequences driven through a small
//! model of a cluster that checks every step's preconditions and that quorum holds.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::admin_types::{ClusterStatus, FollowerProgress, Lease, Member, Role};

/// A model of one QueueCluster's pods, volumes and Raft group.
#[derive(Debug, Clone)]
struct Sim {
    sts: Option<u32>,
    /// Ordinal → whether its PVC holds Raft state.
    pvcs: BTreeMap<u32, bool>,
    /// Pods that crashed or were partitioned (exist, do not answer).
    dead: BTreeSet<u32>,
    /// Pods that answer but lag far behind.
    lagging: BTreeSet<u32>,
    /// Members a few entries behind (within the planner's lag tolerance).
    behind: BTreeMap<u32, u64>,
    leader: Option<u32>,
    term: u64,
    voters: BTreeSet<u32>,
    learners: BTreeSet<u32>,
    ever_bootstrapped: bool,
    /// Pods on an old template.
    outdated: BTreeSet<u32>,
    /// Pods being deleted (still answering from their preStop hook).
    terminating: BTreeSet<u32>,
    steps: Vec<Step>,
}

fn member(o: u32) -> Member {
    Member {
        node_id: node_id(o),
        addr: format!("127.0.0.1:{}", 9325 + 10 * o),
    }
}

impl Sim {
    fn new() -> Self {
        Self {
            sts: None,
            pvcs: BTreeMap::new(),
            dead: BTreeSet::new(),
            lagging: BTreeSet::new(),
            behind: BTreeMap::new(),
            leader: None,
            term: 0,
            voters: BTreeSet::new(),
            learners: BTreeSet::new(),
            ever_bootstrapped: false,
            outdated: BTreeSet::new(),
            terminating: BTreeSet::new(),
            steps: Vec::new(),
        }
    }

    fn pods(&self) -> impl Iterator<Item = u32> {
        0..self.sts.unwrap_or(0)
    }

    fn status(&self, o: u32) -> ClusterStatus {
        let initialized = self.pvcs.get(&o).copied().unwrap_or(false);
        let is_member = self.voters.contains(&o) || self.learners.contains(&o);
        let in_cluster = is_member && self.leader.is_some();
        let role = match () {
            _ if !in_cluster => Role::Follower,
            _ if self.leader == Some(o) => Role::Leader,
            _ if self.learners.contains(&o) => Role::Learner,
            _ => Role::Follower,
        };
        let replication = if role == Role::Leader {
            self.voters
                .union(&self.learners)
                .filter(|m| **m != o)
                .map(|m| FollowerProgress {
                    node_id: node_id(*m),
                    matched_index: Some(10),
                    lag: if self.dead.contains(m) || self.lagging.contains(m) {
                        5000
                    } else {
                        self.behind.get(m).copied().unwrap_or(0)
                    },
                })
                .collect()
        } else {
            vec![]
        };
        ClusterStatus {
            node_id: node_id(o),
            role,
            term: if in_cluster { self.term } else { 0 },
            leader_id: if in_cluster {
                self.leader.map(node_id)
            } else {
                None
            },
            leader_addr: None,
            initialized,
            voters: if in_cluster {
                self.voters.iter().map(|v| member(*v)).collect()
            } else {
                vec![]
            },
            learners: if in_cluster {
                self.learners.iter().map(|v| member(*v)).collect()
            } else {
                vec![]
            },
            lease: Lease {
                valid: role == Role::Leader,
                expires_in_ms: None,
            },
            last_log_index: Some(10),
            applied_index: Some(10),
            snapshot_index: None,
            purged_index: None,
            replication,
        }
    }

    fn observe(&self) -> Observed {
        Observed {
            statefulset_replicas: self.sts,
            pods: self
                .pods()
                .map(|o| {
                    let obs = if self.dead.contains(&o) {
                        Err(crate::membership::AdminCallError::Unreachable {
                            addr: format!("pod-{o}"),
                            message: "connection refused".into(),
                        })
                    } else {
                        Ok(self.status(o))
                    };
                    (o, obs)
                })
                .collect(),
            pvcs: self.pvcs.keys().copied().collect(),
            outdated: self.outdated.clone(),
            terminating: self.terminating.clone(),
            statefulset_pending: false,
            ever_bootstrapped: self.ever_bootstrapped,
        }
    }

    fn alive(&self, o: u32) -> bool {
        self.pods().any(|p| p == o) && !self.dead.contains(&o)
    }

    fn assert_quorum(&self) {
        if self.leader.is_none() {
            return;
        }
        let alive = self.voters.iter().filter(|v| self.alive(**v)).count();
        assert!(
            alive >= majority(self.voters.len()),
            "quorum lost: voters {:?}, dead {:?}, steps {:?}",
            self.voters,
            self.dead,
            self.steps
        );
    }

    /// Executes `step`, asserting the preconditions the real system has.
    fn apply(&mut self, step: &Step) {
        self.steps.push(step.clone());
        match step {
            Step::GrowStatefulSet { replicas } => {
                assert!(self.sts.is_none_or(|s| s < *replicas), "{step:?}");
                for o in self.sts.unwrap_or(0)..*replicas {
                    // A pod starting on a leftover volume would carry stale state.
                    assert!(
                        !self.pvcs.get(&o).copied().unwrap_or(false)
                            || self.voters.contains(&o)
                            || self.learners.contains(&o),
                        "pod #{o} would start on a stale volume: {:?}",
                        self.steps
                    );
                    self.pvcs.entry(o).or_insert(false);
                }
                self.sts = Some(*replicas);
            }
            Step::ShrinkStatefulSet { replicas } => {
                for o in *replicas..self.sts.unwrap() {
                    assert!(
                        !self.voters.contains(&o) && !self.learners.contains(&o),
                        "shrinking away member #{o}"
                    );
                }
                self.sts = Some(*replicas);
            }
            Step::DeletePvc { ordinal } => {
                assert!(*ordinal >= self.sts.unwrap_or(0), "PVC of a running pod");
                assert!(!self.voters.contains(ordinal) && !self.learners.contains(ordinal));
                assert!(self.pvcs.remove(ordinal).is_some());
            }
            Step::Bootstrap { via, voters } => {
                assert!(!self.ever_bootstrapped);
                for v in voters {
                    assert!(self.alive(*v));
                    self.pvcs.insert(*v, true);
                }
                self.voters = voters.iter().copied().collect();
                self.leader = Some(*via);
                self.term = 1;
                self.ever_bootstrapped = true;
            }
            Step::AddLearner { leader, ordinal } => {
                assert_eq!(Some(*leader), self.leader);
                assert!(self.alive(*ordinal));
                assert!(!self.pvcs[ordinal], "learner with stale state");
                self.pvcs.insert(*ordinal, true);
                self.learners.insert(*ordinal);
            }
            Step::Promote {
                leader,
                ordinal,
                voters,
            } => {
                assert_eq!(Some(*leader), self.leader);
                assert!(self.learners.remove(ordinal));
                let expected: BTreeSet<u32> =
                    self.voters.iter().copied().chain([*ordinal]).collect();
                assert_eq!(voters.iter().copied().collect::<BTreeSet<_>>(), expected);
                self.voters = expected;
            }
            Step::TransferLeader { leader, to } => {
                assert_eq!(Some(*leader), self.leader);
                assert!(self.voters.contains(to) && self.alive(*to));
                self.leader = Some(*to);
                self.term += 1;
            }
            Step::RemoveVoter { leader, ordinal } => {
                assert_eq!(Some(*leader), self.leader);
                assert_ne!(leader, ordinal, "removing the leader");
                assert!(self.voters.remove(ordinal));
            }
            Step::RemoveLearner { leader, ordinal } => {
                assert_eq!(Some(*leader), self.leader);
                assert!(self.learners.remove(ordinal));
            }
            Step::RestartPod { ordinal } => {
                assert!(self.pods().any(|p| p == *ordinal));
                // While the pod restarts, the others must keep a majority.
                let others = self
                    .voters
                    .iter()
                    .filter(|v| **v != *ordinal && self.alive(**v))
                    .count();
                assert!(
                    others >= majority(self.voters.len()) || self.voters.len() == 1,
                    "restarting #{ordinal} loses quorum: {:?}",
                    self.steps
                );
                assert!(
                    self.leader != Some(*ordinal) || self.voters.len() == 1,
                    "restarted the leader without handing over"
                );
                self.outdated.remove(ordinal);
                self.dead.remove(ordinal);
            }
            Step::Wait { .. } | Step::Refuse { .. } | Step::Converged => {}
        }
        self.assert_quorum();
    }

    /// Plans and applies until converged, or until the planner waits or refuses.
    fn run(&mut self, desired: u32) -> Step {
        for _ in 0..200 {
            let step = plan(desired, &self.observe(), &PlannerConfig::default());
            match step {
                Step::Converged | Step::Wait { .. } | Step::Refuse { .. } => return step,
                _ => self.apply(&step),
            }
        }
        panic!("no convergence after 200 steps: {:?}", self.steps);
    }

    fn assert_converged_at(&self, n: u32) {
        let target: BTreeSet<u32> = (0..n).collect();
        assert_eq!(self.voters, target, "{:?}", self.steps);
        assert!(self.learners.is_empty());
        assert_eq!(self.sts, Some(n));
        assert_eq!(self.pvcs.keys().copied().collect::<BTreeSet<_>>(), target);
    }

    fn created(n: u32) -> Self {
        let mut sim = Sim::new();
        assert_eq!(sim.run(n), Step::Converged);
        sim.assert_converged_at(n);
        sim.steps.clear();
        sim
    }
}

fn count(steps: &[Step], f: impl Fn(&Step) -> bool) -> usize {
    steps.iter().filter(|s| f(s)).count()
}

#[test]
fn creation_grows_then_bootstraps_all_voters_at_once() {
    let mut sim = Sim::new();
    assert_eq!(
        plan(3, &sim.observe(), &PlannerConfig::default()),
        Step::GrowStatefulSet { replicas: 3 }
    );
    sim.apply(&Step::GrowStatefulSet { replicas: 3 });
    assert_eq!(
        plan(3, &sim.observe(), &PlannerConfig::default()),
        Step::Bootstrap {
            via: 0,
            voters: vec![0, 1, 2]
        }
    );
}

#[test]
fn bootstrap_waits_for_every_pod() {
    let mut sim = Sim::new();
    sim.apply(&Step::GrowStatefulSet { replicas: 3 });
    sim.dead.insert(2);
    let step = plan(3, &sim.observe(), &PlannerConfig::default());
    assert!(
        matches!(&step, Step::Wait { reason } if reason.contains("#2")),
        "{step:?}"
    );
    let mut obs = sim.observe();
    obs.pods.remove(&1);
    let step = plan(3, &obs, &PlannerConfig::default());
    assert!(
        matches!(&step, Step::Wait { reason } if reason.contains("#1")),
        "{step:?}"
    );
}

#[test]
fn never_bootstraps_twice() {
    let mut sim = Sim::created(3);
    // Every volume lost: all pods answer uninitialized and no leader exists.
    for v in sim.pvcs.values_mut() {
        *v = false;
    }
    sim.leader = None;
    sim.voters.clear();
    let step = plan(3, &sim.observe(), &PlannerConfig::default());
    assert!(
        matches!(&step, Step::Refuse { reason } if reason.contains("bootstrapped before")),
        "{step:?}"
    );
}

#[test]
fn initialized_without_leader_waits() {
    let mut sim = Sim::created(3);
    sim.leader = None;
    let step = plan(3, &sim.observe(), &PlannerConfig::default());
    assert!(
        matches!(&step, Step::Wait { reason } if reason.contains("no leader")),
        "{step:?}"
    );
}

#[test]
fn every_scale_between_one_and_seven_converges_one_step_at_a_time() {
    for from in 1..=7 {
        for to in 1..=7 {
            let mut sim = Sim::created(from);
            assert_eq!(sim.run(to), Step::Converged, "{from}->{to}");
            sim.assert_converged_at(to);
            let added = to.saturating_sub(from) as usize;
            let removed = from.saturating_sub(to) as usize;
            let s = &sim.steps;
            assert_eq!(
                count(s, |x| matches!(x, Step::AddLearner { .. })),
                added,
                "{from}->{to}: {s:?}"
            );
            assert_eq!(count(s, |x| matches!(x, Step::Promote { .. })), added);
            assert_eq!(count(s, |x| matches!(x, Step::RemoveVoter { .. })), removed);
            assert_eq!(count(s, |x| matches!(x, Step::DeletePvc { .. })), removed);
            assert_eq!(
                count(s, |x| matches!(x, Step::ShrinkStatefulSet { .. })),
                usize::from(removed > 0)
            );
            // The leader (ordinal 0 after creation) never leaves unless the cluster
            // shrinks below it, which cannot happen: ordinal 0 is always wanted.
            assert_eq!(count(s, |x| matches!(x, Step::TransferLeader { .. })), 0);
        }
    }
}

#[test]
fn scale_up_adds_learner_then_promotes_each_node_in_turn() {
    let mut sim = Sim::created(3);
    assert_eq!(sim.run(5), Step::Converged);
    assert_eq!(
        sim.steps,
        vec![
            Step::GrowStatefulSet { replicas: 5 },
            Step::AddLearner {
                leader: 0,
                ordinal: 3
            },
            Step::Promote {
                leader: 0,
                ordinal: 3,
                voters: vec![0, 1, 2, 3]
            },
            Step::AddLearner {
                leader: 0,
                ordinal: 4
            },
            Step::Promote {
                leader: 0,
                ordinal: 4,
                voters: vec![0, 1, 2, 3, 4]
            },
        ]
    );
}

#[test]
fn scale_down_removes_voter_then_shrinks_then_deletes_pvc() {
    let mut sim = Sim::created(5);
    assert_eq!(sim.run(3), Step::Converged);
    assert_eq!(
        sim.steps,
        vec![
            Step::RemoveVoter {
                leader: 0,
                ordinal: 4
            },
            Step::RemoveVoter {
                leader: 0,
                ordinal: 3
            },
            Step::ShrinkStatefulSet { replicas: 3 },
            Step::DeletePvc { ordinal: 3 },
            Step::DeletePvc { ordinal: 4 },
        ]
    );
}

#[test]
fn leaving_leader_hands_over_first() {
    let mut sim = Sim::created(5);
    sim.leader = Some(4);
    sim.term = 7;
    assert_eq!(
        plan(3, &sim.observe(), &PlannerConfig::default()),
        Step::TransferLeader { leader: 4, to: 0 }
    );
    assert_eq!(sim.run(3), Step::Converged);
    assert_eq!(sim.steps[0], Step::TransferLeader { leader: 4, to: 0 });
    sim.assert_converged_at(3);
}

#[test]
fn a_leaving_leader_hands_over_to_a_voter_that_stays() {
    let mut sim = Sim::created(5);
    sim.leader = Some(4);
    sim.term = 7;
    // #3 is the most caught up, but it leaves too: a hand-over to it would need another.
    sim.behind = BTreeMap::from([(0, 3), (1, 3), (2, 4)]);
    assert_eq!(
        plan(3, &sim.observe(), &PlannerConfig::default()),
        Step::TransferLeader { leader: 4, to: 0 }
    );
    assert_eq!(sim.run(3), Step::Converged);
    let hand_overs = sim
        .steps
        .iter()
        .filter(|s| matches!(s, Step::TransferLeader { .. }))
        .count();
    assert_eq!(hand_overs, 1, "{:?}", sim.steps);
    sim.assert_converged_at(3);
}

#[test]
fn hand_over_prefers_the_most_caught_up_voter() {
    let mut sim = Sim::created(3);
    sim.leader = Some(2);
    // A remaining voter far behind blocks the scale-down before any hand-over.
    sim.lagging.insert(0);
    let step = plan(2, &sim.observe(), &PlannerConfig::default());
    assert!(
        matches!(&step, Step::Refuse { reason } if reason.contains("#0")),
        "a lagging remaining voter blocks scale-down: {step:?}"
    );
    sim.lagging.clear();
    assert_eq!(
        plan(2, &sim.observe(), &PlannerConfig::default()),
        Step::TransferLeader { leader: 2, to: 0 }
    );
}

#[test]
fn scale_down_refused_while_a_remaining_voter_is_down_and_resumes_after() {
    let mut sim = Sim::created(5);
    sim.dead.insert(1);
    let step = sim.run(3);
    assert!(
        matches!(&step, Step::Refuse { reason } if reason.contains("#1") && reason.contains("quorum")),
        "{step:?}"
    );
    assert!(sim.steps.is_empty(), "nothing done: {:?}", sim.steps);
    assert_eq!(sim.voters.len(), 5);
    sim.dead.clear();
    assert_eq!(sim.run(3), Step::Converged);
    sim.assert_converged_at(3);
}

#[test]
fn a_dead_leaving_voter_is_removed_first() {
    let mut sim = Sim::created(5);
    sim.dead.insert(3);
    assert_eq!(
        plan(3, &sim.observe(), &PlannerConfig::default()),
        Step::RemoveVoter {
            leader: 0,
            ordinal: 3
        }
    );
    assert_eq!(sim.run(3), Step::Converged);
    sim.assert_converged_at(3);
}

#[test]
fn scale_up_continues_with_a_voter_down_while_quorum_allows() {
    let mut sim = Sim::created(3);
    sim.dead.insert(2);
    // 3 voters (1 down) + caught-up #3 → 4 voters, 3 healthy ≥ majority 3.
    assert_eq!(sim.run(5), Step::Converged);
    assert_eq!(sim.voters.len(), 5);
}

#[test]
fn promotion_refused_when_it_would_lose_quorum() {
    let mut sim = Sim::created(5);
    sim.apply(&Step::GrowStatefulSet { replicas: 6 });
    sim.apply(&Step::AddLearner {
        leader: 0,
        ordinal: 5,
    });
    // Two of five voters down: 4 healthy of 6 voters after promotion ≥ 4 → allowed.
    sim.dead.extend([3, 4]);
    assert!(matches!(
        plan(6, &sim.observe(), &PlannerConfig::default()),
        Step::Promote { ordinal: 5, .. }
    ));
    // Now a third voter lags: 3 healthy of 6 < 4 → refused.
    sim.lagging.insert(2);
    let step = plan(6, &sim.observe(), &PlannerConfig::default());
    assert!(
        matches!(&step, Step::Refuse { reason } if reason.contains("promoting #5")),
        "{step:?}"
    );
}

#[test]
fn lagging_learner_is_not_promoted() {
    let mut sim = Sim::created(3);
    sim.apply(&Step::GrowStatefulSet { replicas: 4 });
    sim.apply(&Step::AddLearner {
        leader: 0,
        ordinal: 3,
    });
    sim.lagging.insert(3);
    let step = plan(4, &sim.observe(), &PlannerConfig::default());
    assert!(
        matches!(&step, Step::Wait { reason } if reason.contains("learner #3 is catching up (lag 5000)")),
        "{step:?}"
    );
    sim.lagging.clear();
    assert!(matches!(
        plan(4, &sim.observe(), &PlannerConfig::default()),
        Step::Promote { ordinal: 3, .. }
    ));
}

#[test]
fn abandoned_scale_up_removes_the_learner() {
    let mut sim = Sim::created(3);
    sim.apply(&Step::GrowStatefulSet { replicas: 4 });
    sim.apply(&Step::AddLearner {
        leader: 0,
        ordinal: 3,
    });
    sim.steps.clear();
    // The user goes back to 3 before promotion.
    assert_eq!(sim.run(3), Step::Converged);
    assert_eq!(
        sim.steps,
        vec![
            Step::RemoveLearner {
                leader: 0,
                ordinal: 3
            },
            Step::ShrinkStatefulSet { replicas: 3 },
            Step::DeletePvc { ordinal: 3 },
        ]
    );
}

#[test]
fn stale_volume_is_deleted_before_the_pod_comes_back() {
    let mut sim = Sim::created(5);
    // Scale down interrupted after the shrink, before the PVCs were deleted.
    sim.voters.retain(|o| *o < 3);
    sim.sts = Some(3);
    assert_eq!(sim.pvcs.len(), 5);
    // The user scales back up: the old volumes go first, then the StatefulSet grows.
    assert_eq!(sim.run(5), Step::Converged);
    assert_eq!(
        &sim.steps[..3],
        &[
            Step::DeletePvc { ordinal: 3 },
            Step::DeletePvc { ordinal: 4 },
            Step::GrowStatefulSet { replicas: 5 },
        ]
    );
    sim.assert_converged_at(5);
}

#[test]
fn pod_with_foreign_state_is_refused_not_added() {
    let mut sim = Sim::created(3);
    sim.apply(&Step::GrowStatefulSet { replicas: 4 });
    sim.pvcs.insert(3, true);
    let step = plan(4, &sim.observe(), &PlannerConfig::default());
    assert!(
        matches!(&step, Step::Refuse { reason } if reason.contains("#3") && reason.contains("earlier membership")),
        "{step:?}"
    );
}

#[test]
fn new_pod_not_answering_waits() {
    let mut sim = Sim::created(3);
    sim.apply(&Step::GrowStatefulSet { replicas: 4 });
    sim.dead.insert(3);
    let step = plan(4, &sim.observe(), &PlannerConfig::default());
    assert!(
        matches!(&step, Step::Wait { reason } if reason.contains("#3") && reason.contains("connection refused")),
        "{step:?}"
    );
}

#[test]
fn highest_term_leader_wins() {
    let sim = Sim::created(3);
    let mut obs = sim.observe();
    // A deposed leader (#1) that has not noticed yet, at an older term.
    if let Some(Ok(s)) = obs.pods.get_mut(&1) {
        s.role = Role::Leader;
        s.leader_id = Some(node_id(1));
        s.term = 0;
        s.voters = vec![member(1)];
    }
    // The real leader #0 sees all three; the planner must follow it (converged).
    assert_eq!(plan(3, &obs, &PlannerConfig::default()), Step::Converged);
}

#[test]
fn desired_size_comes_from_the_spec_not_the_members() {
    // Five voters are running, but the spec says 3: the planner shrinks, it does not
    // adopt the observed size.
    let sim = Sim::created(5);
    assert!(matches!(
        plan(3, &sim.observe(), &PlannerConfig::default()),
        Step::RemoveVoter { ordinal: 4, .. }
    ));
    assert_eq!(
        plan(5, &sim.observe(), &PlannerConfig::default()),
        Step::Converged
    );
}

#[test]
fn zero_replicas_refused() {
    let sim = Sim::created(1);
    assert!(matches!(
        plan(0, &sim.observe(), &PlannerConfig::default()),
        Step::Refuse { .. }
    ));
}

#[test]
fn single_node_cluster_grows_and_shrinks() {
    let mut sim = Sim::created(1);
    assert_eq!(sim.run(3), Step::Converged);
    sim.assert_converged_at(3);
    assert_eq!(sim.run(1), Step::Converged);
    sim.assert_converged_at(1);
}

#[test]
fn membership_steps_are_classified() {
    assert!(
        Step::AddLearner {
            leader: 0,
            ordinal: 1
        }
        .is_membership_change()
    );
    assert!(!Step::DeletePvc { ordinal: 1 }.is_membership_change());
    assert!(!Step::GrowStatefulSet { replicas: 1 }.is_membership_change());
}

#[test]
fn rolling_update_restarts_followers_first_and_the_leader_last() {
    let mut sim = Sim::created(3);
    sim.outdated = BTreeSet::from([0, 1, 2]);
    assert_eq!(sim.run(3), Step::Converged);
    assert_eq!(
        sim.steps,
        vec![
            Step::RestartPod { ordinal: 1 },
            Step::RestartPod { ordinal: 2 },
            Step::TransferLeader { leader: 0, to: 1 },
            Step::RestartPod { ordinal: 0 },
        ]
    );
    assert!(sim.outdated.is_empty());
}

#[test]
fn leadership_goes_to_an_updated_voter() {
    let mut sim = Sim::created(5);
    // Only the leader and #1 are outdated: hand over to an updated voter, not to #1.
    sim.outdated = BTreeSet::from([0, 1]);
    assert_eq!(sim.run(5), Step::Converged);
    assert_eq!(sim.steps[0], Step::RestartPod { ordinal: 1 });
    assert_eq!(sim.steps[1], Step::TransferLeader { leader: 0, to: 1 });
    let mut sim = Sim::created(5);
    sim.outdated = BTreeSet::from([0]);
    sim.lagging.clear();
    assert_eq!(
        plan(5, &sim.observe(), &PlannerConfig::default()),
        Step::TransferLeader { leader: 0, to: 1 }
    );
    sim.outdated = BTreeSet::from([0, 1, 2]);
    // #1 and #2 get restarted first anyway; the hand-over then picks an updated one.
    assert_eq!(sim.run(5), Step::Converged);
    let transfer = sim
        .steps
        .iter()
        .find(|s| matches!(s, Step::TransferLeader { .. }))
        .unwrap();
    assert_eq!(*transfer, Step::TransferLeader { leader: 0, to: 1 });
}

#[test]
fn rolling_update_waits_for_health_but_restarts_a_down_pod_first() {
    let mut sim = Sim::created(3);
    sim.outdated = BTreeSet::from([1, 2]);
    sim.dead.insert(2);
    // #2 is down: restarting it first costs nothing and may fix it.
    assert_eq!(
        plan(3, &sim.observe(), &PlannerConfig::default()),
        Step::RestartPod { ordinal: 2 }
    );
    // #1 is outdated and healthy, but #2 is down (and current): wait.
    sim.outdated = BTreeSet::from([1]);
    let step = plan(3, &sim.observe(), &PlannerConfig::default());
    assert!(
        matches!(&step, Step::Wait { reason } if reason.contains("#2") && reason.contains("#1")),
        "{step:?}"
    );
    sim.dead.clear();
    assert_eq!(sim.run(3), Step::Converged);
    assert!(sim.outdated.is_empty());
}

#[test]
fn rolling_update_refused_without_a_majority() {
    let mut sim = Sim::created(3);
    sim.outdated = BTreeSet::from([2]);
    sim.dead.extend([1, 2]);
    // Quorum is already lost (no healthy majority); the planner sees no healthy
    // majority of the others for the down #2 either.
    let step = plan(3, &sim.observe(), &PlannerConfig::default());
    assert!(matches!(step, Step::Refuse { .. }), "{step:?}");
}

#[test]
fn single_node_restarts_in_place() {
    let mut sim = Sim::created(1);
    sim.outdated = BTreeSet::from([0]);
    assert_eq!(
        plan(1, &sim.observe(), &PlannerConfig::default()),
        Step::RestartPod { ordinal: 0 }
    );
}

#[test]
fn a_statefulset_change_not_yet_observed_is_waited_for() {
    let sim = Sim::created(3);
    let mut obs = sim.observe();
    obs.statefulset_pending = true;
    let step = plan(3, &obs, &PlannerConfig::default());
    assert!(
        matches!(&step, Step::Wait { reason } if reason.contains("StatefulSet controller")),
        "{step:?}"
    );
    // Membership work is not held up by it.
    assert!(matches!(
        plan(4, &obs, &PlannerConfig::default()),
        Step::GrowStatefulSet { replicas: 4 }
    ));
}

#[test]
fn unanswering_pods_of_a_bootstrapped_cluster_are_waited_for() {
    let mut sim = Sim::created(3);
    sim.dead.extend([0, 1, 2]);
    let step = plan(3, &sim.observe(), &PlannerConfig::default());
    assert!(
        matches!(&step, Step::Wait { reason } if reason.contains("answer")),
        "{step:?}"
    );
}

/// A pod in its preStop hook still answers healthy; before, it counted as up and the
/// next pod was restarted while the first was still going down.
#[test]
fn rolling_update_waits_for_a_terminating_pod_even_while_it_answers() {
    let mut sim = Sim::created(3);
    sim.outdated = BTreeSet::from([2]);
    sim.terminating.insert(1);
    let step = plan(3, &sim.observe(), &PlannerConfig::default());
    assert!(
        matches!(&step, Step::Wait { reason } if reason.contains("#1") && reason.contains("#2")),
        "{step:?}"
    );
    // A terminating member is reported unhealthy, too.
    let health = cluster_health(&sim.observe(), &PlannerConfig::default()).unwrap();
    assert!(
        !health
            .members
            .iter()
            .find(|m| m.ordinal == 1)
            .unwrap()
            .healthy
    );
    sim.terminating.clear();
    assert_eq!(
        plan(3, &sim.observe(), &PlannerConfig::default()),
        Step::RestartPod { ordinal: 2 }
    );
}

/// Even a down outdated pod is not restarted while another member is down.
#[test]
fn no_restart_while_another_member_is_down() {
    let mut sim = Sim::created(5);
    sim.outdated = BTreeSet::from([3]);
    sim.dead.extend([3, 4]);
    let step = plan(5, &sim.observe(), &PlannerConfig::default());
    assert!(
        matches!(&step, Step::Wait { reason } if reason.contains("#4")),
        "{step:?}"
    );
}

/// After an outside scale-down of the StatefulSet took the majority with it, the
/// StatefulSet is restored to spec.replicas first. Before, the planner waited for a
/// leader that could not appear without those pods.
#[test]
fn outside_scale_down_without_a_leader_restores_the_statefulset_first() {
    let mut sim = Sim::created(3);
    sim.sts = Some(1);
    sim.leader = None;
    assert_eq!(
        plan(3, &sim.observe(), &PlannerConfig::default()),
        Step::GrowStatefulSet { replicas: 3 }
    );
    // Nothing answers at all (every pod restarting): the record of the bootstrap is
    // enough.
    let mut obs = sim.observe();
    obs.pods.clear();
    obs.ever_bootstrapped = true;
    assert_eq!(
        plan(3, &obs, &PlannerConfig::default()),
        Step::GrowStatefulSet { replicas: 3 }
    );
}
