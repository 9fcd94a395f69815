//! The public port: health endpoints and the SQS API.

use crate::http::serve::{json, respond};
use crate::metrics::{gauge, gauges};
use crate::node::Node;
use crate::raft::db_memory::DbMemory;
use crate::raft::storage_fault;
use bytes::Bytes;
use http::header::{DATE, HeaderValue};
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use openraft::async_runtime::WatchReceiver;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// Handles one request on the SQS port.
pub async fn handle(
    node: Arc<Node>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Full<Bytes>> {
    let now = UNIX_EPOCH + Duration::from_millis(node.clock.now_ms());
    let mut response = route(node, req, peer).await;
    // The Date header carries the cluster time SigV4 is checked against (`edge.rs`), not
    // this node's own clock: AWS SDKs correct their clock skew from it, so a node with a
    // wrong clock would otherwise teach its clients to sign at the wrong time.
    if let Ok(date) = HeaderValue::from_str(&httpdate::fmt_http_date(now)) {
        response.headers_mut().insert(DATE, date);
    }
    response
}

async fn route(node: Arc<Node>, req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
    match (req.method().as_str(), req.uri().path()) {
        ("GET", "/healthz") => respond(200, "text/plain", "ok\n"),
        ("GET", "/readyz") => {
            if node.ready() {
                respond(200, "text/plain", "ready\n")
            } else {
                respond(503, "text/plain", "not ready\n")
            }
        }
        ("GET", "/cluster") => json(200, &node.status()),
        ("GET", "/metrics") => respond(200, "text/plain; version=0.0.4", render_metrics(&node)),
        _ => crate::http::edge::handle(node, req, peer).await,
    }
}

fn render_metrics(node: &Node) -> String {
    let status = node.status();
    let mut out = String::new();
    gauge(
        &mut out,
        "sqsraft_raft_term",
        "Current Raft term.",
        status.term,
    );
    gauge(
        &mut out,
        "sqsraft_raft_is_leader",
        "1 when this node is the leader.",
        u8::from(status.leader_id == Some(status.node_id)),
    );
    gauge(
        &mut out,
        "sqsraft_raft_leader_id",
        "Id of the known leader (0: none).",
        status.leader_id.unwrap_or(0),
    );
    gauge(
        &mut out,
        "sqsraft_raft_last_log_index",
        "Last log index.",
        status.last_log_index.unwrap_or(0),
    );
    gauge(
        &mut out,
        "sqsraft_raft_applied_index",
        "Last applied index.",
        status.applied_index.unwrap_or(0),
    );
    let committed = node
        .raft
        .metrics()
        .borrow_watched()
        .local_committed
        .map_or(0, |l| l.index);
    gauge(
        &mut out,
        "sqsraft_raft_commit_index",
        "Last committed index known here.",
        committed,
    );
    gauge(
        &mut out,
        "sqsraft_raft_voters",
        "Number of voters.",
        status.voters.len(),
    );
    gauge(
        &mut out,
        "sqsraft_raft_lease_valid",
        "1 while the leader lease is valid.",
        u8::from(status.lease.valid),
    );
    gauge(
        &mut out,
        "sqsraft_storage_failed",
        "1 once Raft stopped on a storage write error (a full disk): the node acknowledges nothing until it restarts.",
        u8::from(storage_fault::failure(&node.raft).is_some()),
    );
    gauge(
        &mut out,
        "sqsraft_rocksdb_background_errors",
        "RocksDB background errors (failed flush, compaction or WAL sync) of the log and state databases since start.",
        node.log.background_errors() + storage_fault::background_errors(&node.sm.state_db().get()),
    );
    gauge(
        &mut out,
        "sqsraft_long_polls_parked_on_leader",
        "Long polls this node has handed to the leader and is waiting on.",
        crate::receive::MAX_PARKED_ON_LEADER - node.parked_on_leader.available_permits(),
    );
    let storage = [("state", node.sm.memory()), ("log", node.log.memory())];
    for (name, help, value) in [
        (
            "sqsraft_rocksdb_memtable_bytes",
            "Memtables (active and immutable) of a RocksDB database.",
            (|m: &DbMemory| m.memtables) as fn(&DbMemory) -> u64,
        ),
        (
            "sqsraft_rocksdb_block_cache_bytes",
            "Block cache in use by a RocksDB database.",
            |m| m.block_cache,
        ),
        (
            "sqsraft_rocksdb_block_cache_pinned_bytes",
            "Blocks pinned in a RocksDB database's block cache.",
            |m| m.pinned,
        ),
    ] {
        let series: Vec<(String, u64)> = storage
            .iter()
            .map(|(db, m)| (format!("db=\"{db}\""), value(m)))
            .collect();
        gauges(&mut out, name, help, &series);
    }
    node.metrics.render(&mut out);
    out
}
