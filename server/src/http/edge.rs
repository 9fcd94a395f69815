//! The SQS edge: authenticate, decode, turn the request into a command or read, run it
//! through the node, and answer in the request's protocol.

use crate::http::serve::respond;
use crate::node::Node;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use std::net::SocketAddr;
use std::sync::Arc;

/// Handles one SQS API request.
pub async fn handle(
    _node: Arc<Node>,
    _req: Request<Incoming>,
    _peer: SocketAddr,
) -> Response<Full<Bytes>> {
    respond(501, "text/plain", "SQS API not wired yet\n")
}
