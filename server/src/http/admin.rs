//! The admin API on the internal port: cluster bootstrap and membership changes, driven
//! by the operator (or the local launcher). Authorized by the cluster token.

use crate::admin_types::{
    AddLearnerRequest, AdminError, ChangeVotersRequest, InitRequest, Member, RemoveNodeRequest,
    TransferLeaderRequest,
};
use crate::http::serve::json;
use crate::node::Node;
use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use openraft::ChangeMembers;
use openraft::error::{ClientWriteError, InitializeError, RaftError};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// How long transfer-leader waits for the new leader to take over.
const TRANSFER_WAIT: Duration = Duration::from_secs(10);

/// How long a blocking add-learner waits for the learner to catch up.
const CATCH_UP_WAIT: Duration = Duration::from_secs(300);

type Reply = Response<Full<Bytes>>;

fn error(status: u16, code: &str, message: impl Into<String>, leader: Option<Member>) -> Reply {
    json(
        status,
        &AdminError {
            code: code.to_string(),
            message: message.into(),
            leader,
        },
    )
}

/// Whether the `Authorization: Bearer <token>` header matches the cluster token file.
pub fn authorized(node: &Node, header: Option<&str>) -> bool {
    let Some(given) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
        return false;
    };
    match std::fs::read_to_string(&node.config.cluster_token_file) {
        Ok(token) => {
            let token = token.trim();
            !token.is_empty() && bool::from(token.as_bytes().ct_eq(given.trim().as_bytes()))
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read the cluster token file");
            false
        }
    }
}

/// Routes an authorized admin call.
pub async fn handle(node: &Node, method: &http::Method, path: &str, body: &[u8]) -> Reply {
    match (method.as_str(), path) {
        ("GET", "/admin/status") => json(200, &node.status()),
        ("POST", "/admin/init") => match serde_json::from_slice(body) {
            Ok(req) => init(node, req).await,
            Err(e) => bad_request(e),
        },
        ("POST", "/admin/learners") => match serde_json::from_slice(body) {
            Ok(req) => add_learner(node, req).await,
            Err(e) => bad_request(e),
        },
        ("POST", "/admin/voters") => match serde_json::from_slice(body) {
            Ok(req) => change_voters(node, req).await,
            Err(e) => bad_request(e),
        },
        ("POST", "/admin/remove") => match serde_json::from_slice(body) {
            Ok(req) => remove(node, req).await,
            Err(e) => bad_request(e),
        },
        ("POST", "/admin/transfer-leader") => match serde_json::from_slice(body) {
            Ok(req) => transfer_leader(node, req).await,
            Err(e) => bad_request(e),
        },
        _ => error(
            404,
            "NotFound",
            format!("no admin endpoint {method} {path}"),
            None,
        ),
    }
}

fn bad_request(e: serde_json::Error) -> Reply {
    error(
        400,
        "InvalidRequest",
        format!("invalid JSON body: {e}"),
        None,
    )
}

/// Maps a failed membership write to an admin error.
fn write_error(
    node: &Node,
    e: RaftError<crate::raft::TypeConfig, ClientWriteError<crate::raft::TypeConfig>>,
) -> Reply {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => not_leader(node),
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
            error(409, "InvalidMembership", e.to_string(), None)
        }
        other => error(503, "Raft", other.to_string(), None),
    }
}

fn not_leader(node: &Node) -> Reply {
    error(
        421,
        "NotLeader",
        "this node is not the leader; send the call to the leader",
        node.leader(),
    )
}

async fn init(node: &Node, req: InitRequest) -> Reply {
    if req.members.is_empty()
        || req
            .members
            .iter()
            .any(|m| m.node_id == 0 || m.addr.is_empty())
    {
        return error(
            400,
            "InvalidRequest",
            "members must be non-empty with ids > 0 and addresses",
            None,
        );
    }
    let members: BTreeMap<u64, openraft::BasicNode> = req
        .members
        .iter()
        .map(|m| (m.node_id, Node::basic_node(&m.addr)))
        .collect();
    match node.raft.initialize(members.clone()).await {
        Ok(()) => json(200, &node.status()),
        Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {
            // Already initialized: fine when it is the same cluster (the call is repeatable).
            let status = node.status();
            let wanted: BTreeSet<u64> = members.keys().copied().collect();
            let known: BTreeSet<u64> = status
                .voters
                .iter()
                .chain(&status.learners)
                .map(|m| m.node_id)
                .collect();
            if wanted.is_subset(&known) || known.is_empty() {
                json(200, &status)
            } else {
                error(
                    409,
                    "AlreadyInitialized",
                    "node already belongs to a different cluster",
                    None,
                )
            }
        }
        Err(e) => error(400, "InvalidRequest", e.to_string(), None),
    }
}

async fn add_learner(node: &Node, req: AddLearnerRequest) -> Reply {
    if req.node_id == 0 || req.addr.is_empty() {
        return error(
            400,
            "InvalidRequest",
            "nodeId must be > 0 and addr non-empty",
            None,
        );
    }
    let added = match node
        .raft
        .add_learner(req.node_id, Node::basic_node(&req.addr), false)
        .await
    {
        Ok(added) => added,
        Err(e) => return write_error(node, e),
    };
    if !req.blocking {
        return json(200, &node.status());
    }
    // Caught up: the learner has applied everything up to the entry that added it, as
    // the leader's replication progress reports.
    let target = added.log_id.index;
    let deadline = Instant::now() + CATCH_UP_WAIT;
    while Instant::now() < deadline {
        let status = node.status();
        let matched = status
            .replication
            .iter()
            .find(|p| p.node_id == req.node_id)
            .and_then(|p| p.matched_index);
        if matched >= Some(target) {
            return json(200, &status);
        }
        if status.leader_id != Some(status.node_id) {
            return not_leader(node);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    error(
        504,
        "Timeout",
        format!("learner {} did not catch up in time", req.node_id),
        None,
    )
}

async fn change_voters(node: &Node, req: ChangeVotersRequest) -> Reply {
    if req.voter_ids.is_empty() {
        return error(400, "InvalidRequest", "voterIds must not be empty", None);
    }
    let voters: BTreeSet<u64> = req.voter_ids.iter().copied().collect();
    match node
        .raft
        .change_membership(ChangeMembers::ReplaceAllVoters(voters), req.retain_removed)
        .await
    {
        Ok(_) => json(200, &node.status()),
        Err(e) => write_error(node, e),
    }
}

async fn remove(node: &Node, req: RemoveNodeRequest) -> Reply {
    let status = node.status();
    let ids = BTreeSet::from([req.node_id]);
    let change = if status.voters.iter().any(|m| m.node_id == req.node_id) {
        ChangeMembers::RemoveVoters(ids)
    } else if status.learners.iter().any(|m| m.node_id == req.node_id) {
        ChangeMembers::RemoveNodes(ids)
    } else {
        return json(200, &status);
    };
    match node.raft.change_membership(change, false).await {
        Ok(_) => json(200, &node.status()),
        Err(e) => write_error(node, e),
    }
}

async fn transfer_leader(node: &Node, req: TransferLeaderRequest) -> Reply {
    let status = node.status();
    if status.leader_id != Some(status.node_id) {
        // Nothing to hand off from a follower; the preStop hook calls every pod.
        return match req.node_id {
            None => json(200, &status),
            Some(_) => not_leader(node),
        };
    }
    let target = match req.node_id {
        Some(id) if status.voters.iter().any(|m| m.node_id == id) => id,
        Some(id) => {
            return error(
                400,
                "InvalidRequest",
                format!("node {id} is not a voter"),
                None,
            );
        }
        None => {
            let best = status
                .replication
                .iter()
                .filter(|p| status.voters.iter().any(|v| v.node_id == p.node_id))
                .min_by_key(|p| p.lag);
            match best {
                Some(p) => p.node_id,
                None => {
                    return error(
                        409,
                        "NoCandidate",
                        "no other voter to hand leadership to",
                        None,
                    );
                }
            }
        }
    };
    if target == status.node_id {
        return json(200, &status);
    }
    if let Err(e) = node.raft.trigger().transfer_leader(target).await {
        return error(503, "Raft", e.to_string(), None);
    }
    let deadline = Instant::now() + TRANSFER_WAIT;
    while Instant::now() < deadline {
        if node.raft.current_leader().await == Some(target) {
            return json(200, &node.status());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    error(
        504,
        "Timeout",
        format!("node {target} did not take over leadership in time"),
        None,
    )
}
