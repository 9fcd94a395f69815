//! The internal port: Raft RPCs, forwarded requests and the admin API.

use crate::codec::{decode, encode};
use crate::http::admin;
use crate::http::serve::respond;
use crate::node::Node;
use crate::peer::clock::wall_ms;
use crate::raft::rpc;
use crate::sm::command::Command;
use crate::wire::{CLOCK, FORWARD_READ, FORWARD_RECEIVE, FORWARD_WRITE, FORWARD_WRITES};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use std::sync::Arc;

/// Largest non-snapshot body accepted on the internal port.
const MAX_BODY: usize = 256 << 20;

/// Handles one request on the internal port.
pub async fn handle(node: Arc<Node>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    if path == rpc::SNAPSHOT {
        let body = req.into_body().into_data_stream();
        return match rpc::receive_snapshot(&node.raft, &node.sm, body).await {
            Ok(reply) => respond(200, "application/octet-stream", reply),
            Err(e) => {
                tracing::warn!(error = %e, "snapshot receive failed");
                respond(500, "text/plain", e.to_string())
            }
        };
    }
    let method = req.method().clone();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return respond(400, "text/plain", format!("reading body: {e}")),
    };
    if path.starts_with("/admin/") {
        if !admin::authorized(&node, auth.as_deref()) {
            return respond(
                401,
                "application/json",
                r#"{"code":"Unauthorized","message":"missing or wrong cluster token"}"#,
            );
        }
        return admin::handle(&node, &method, &path, &body).await;
    }
    let reply = match path.as_str() {
        FORWARD_WRITE => match decode(&body) {
            Ok(command) => encode(&node.write_local(command).await),
            Err(e) => Err(e),
        },
        FORWARD_WRITES => match decode::<Vec<Command>>(&body) {
            Ok(commands) => {
                let proposals = commands.into_iter().map(|c| node.write_local(c));
                encode(&futures::future::join_all(proposals).await)
            }
            Err(e) => Err(e),
        },
        FORWARD_READ => match decode(&body) {
            Ok(op) => encode(&node.read_local(op).await),
            Err(e) => Err(e),
        },
        FORWARD_RECEIVE => match decode(&body) {
            Ok(call) => encode(&node.receive_for_follower(&call).await),
            Err(e) => Err(e),
        },
        CLOCK => encode(&wall_ms()),
        _ => rpc::handle(&node.raft, &path, &body).await,
    };
    match reply {
        Ok(bytes) => respond(200, "application/octet-stream", bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            respond(404, "text/plain", e.to_string())
        }
        Err(e) => respond(400, "text/plain", e.to_string()),
    }
}
