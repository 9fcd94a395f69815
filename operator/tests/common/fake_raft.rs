//! A fake Raft group behind [`AdminApi`]: pods answer only while they exist in the fake
//! API server, lose their state with their PVC, and membership calls mutate a model.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use sqsraft_operator::admin_types::{
    AdminError, ClusterStatus, FollowerProgress, Lease, Member, Role,
};
use sqsraft_operator::build::{Cluster, Names, node_id, ordinal};
use sqsraft_operator::controller::AdminConnector;
use sqsraft_operator::membership::{AdminApi, AdminCall, AdminCallError, LoopbackResolver};

use super::fake_api::Store;

#[derive(Debug, Default)]
pub struct Raft {
    pub leader: Option<u32>,
    pub term: u64,
    pub voters: BTreeSet<u32>,
    pub learners: BTreeSet<u32>,
    /// Ordinals whose volume holds Raft state.
    pub state: BTreeSet<u32>,
    /// Ordinals that exist but do not answer (crashed).
    pub down: BTreeSet<u32>,
    /// Every call made, with the token used.
    pub calls: Vec<(u32, AdminCall, String)>,
}

#[derive(Clone)]
pub struct FakeRaft {
    pub raft: Arc<Mutex<Raft>>,
    pub store: Arc<Mutex<Store>>,
    pub names: Names,
    token: String,
}

impl FakeRaft {
    pub fn new(store: Arc<Mutex<Store>>, namespace: &str, cluster: &str) -> Self {
        Self {
            raft: Arc::default(),
            store,
            names: Names::new(cluster, namespace, "cluster.local"),
            token: String::new(),
        }
    }

    fn exists(&self, plural: &str, name: &str) -> bool {
        self.store
            .lock()
            .unwrap()
            .get("v1", plural, self.names.namespace(), name)
            .is_some()
    }

    fn status(&self, r: &Raft, o: u32) -> ClusterStatus {
        let in_cluster = r.voters.contains(&o) || r.learners.contains(&o);
        let role = if r.leader == Some(o) {
            Role::Leader
        } else if r.learners.contains(&o) {
            Role::Learner
        } else {
            Role::Follower
        };
        let member = |m: &u32| Member {
            node_id: node_id(*m),
            addr: format!("pod-{m}"),
        };
        ClusterStatus {
            node_id: node_id(o),
            role,
            term: if in_cluster { r.term } else { 0 },
            leader_id: if in_cluster {
                r.leader.map(node_id)
            } else {
                None
            },
            leader_addr: None,
            initialized: r.state.contains(&o),
            voters: if in_cluster {
                r.voters.iter().map(member).collect()
            } else {
                vec![]
            },
            learners: if in_cluster {
                r.learners.iter().map(member).collect()
            } else {
                vec![]
            },
            lease: Lease {
                valid: role == Role::Leader,
                expires_in_ms: Some(500),
            },
            last_log_index: Some(7),
            applied_index: Some(7),
            snapshot_index: None,
            purged_index: None,
            replication: if role == Role::Leader {
                r.voters
                    .union(&r.learners)
                    .filter(|m| **m != o)
                    .map(|m| FollowerProgress {
                        node_id: node_id(*m),
                        matched_index: Some(7),
                        lag: if r.down.contains(m) { 999 } else { 0 },
                    })
                    .collect()
            } else {
                vec![]
            },
        }
    }
}

fn api_error(code: &str) -> AdminCallError {
    AdminCallError::Api {
        addr: "fake".into(),
        status: 409,
        error: AdminError {
            code: code.into(),
            message: code.into(),
            leader: None,
        },
    }
}

impl AdminApi for FakeRaft {
    async fn call(&self, o: u32, call: AdminCall) -> Result<ClusterStatus, AdminCallError> {
        let pod = self.names.pod(o);
        let pvc = self.names.pvc(o);
        let pod_exists = self.exists("pods", &pod);
        let pvc_exists = self.exists("persistentvolumeclaims", &pvc);
        let mut r = self.raft.lock().unwrap();
        r.calls.push((o, call.clone(), self.token.clone()));
        if !pvc_exists {
            r.state.remove(&o);
        }
        if !pod_exists || r.down.contains(&o) {
            return Err(AdminCallError::Unreachable {
                addr: pod,
                message: "connection refused".into(),
            });
        }
        let is_leader = r.leader == Some(o);
        match call {
            AdminCall::Status => {}
            AdminCall::Init(req) => {
                if r.leader.is_some() {
                    return Err(api_error("AlreadyInitialized"));
                }
                let voters: BTreeSet<u32> = req
                    .members
                    .iter()
                    .filter_map(|m| ordinal(m.node_id))
                    .collect();
                r.state.extend(voters.iter().copied());
                r.voters = voters;
                r.leader = Some(o);
                r.term = 1;
            }
            _ if !is_leader => return Err(api_error("NotLeader")),
            AdminCall::AddLearner(req) => {
                let l = ordinal(req.node_id).unwrap();
                r.learners.insert(l);
                r.state.insert(l);
            }
            AdminCall::ChangeVoters(req) => {
                let voters: BTreeSet<u32> =
                    req.voter_ids.iter().filter_map(|id| ordinal(*id)).collect();
                for v in &voters {
                    r.learners.remove(v);
                }
                r.voters = voters;
            }
            AdminCall::Remove(req) => {
                let x = ordinal(req.node_id).unwrap();
                r.voters.remove(&x);
                r.learners.remove(&x);
            }
            AdminCall::TransferLeader(req) => {
                let to = req.node_id.and_then(ordinal).unwrap();
                r.leader = Some(to);
                r.term += 1;
            }
        }
        Ok(self.status(&r, o))
    }
}

impl AdminConnector for FakeRaft {
    type Api = FakeRaft;
    type Resolver = LoopbackResolver;
    fn connect(
        &self,
        _c: &Cluster<'_>,
        token: &str,
        _tls: std::sync::Arc<rustls::ClientConfig>,
    ) -> (Self::Api, Self::Resolver) {
        let mut api = self.clone();
        api.token = token.to_string();
        (
            api,
            LoopbackResolver {
                internal_ports: vec![],
            },
        )
    }
}
