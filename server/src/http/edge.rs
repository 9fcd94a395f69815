//! The SQS edge: read the body, authenticate (SigV4), decode (AWS JSON 1.0 or Query),
//! execute through the node, and answer in the request's protocol.

use crate::api;
use crate::auth::SignedRequest;
use crate::error::{ErrorCode, SqsError, texts};
use crate::http::dispatch::{self, Context};
use crate::http::serve::respond;
use crate::node::Node;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Body, Incoming};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

/// Largest request body read: a 1 MiB batch, escaped or form-encoded, fits with room.
/// A larger one is answered as AWS answers it, `413` with a plain-text message, before
/// any of it is read when its `Content-Length` announces it.
pub const MAX_BODY: usize = 8 << 20;

/// The whole request body must arrive within this time of its head; a client that
/// stalls mid-body (fewer bytes than its `Content-Length`) gets `408` and the
/// connection is closed.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a request body was not read whole; answered before authentication, in plain
/// text, and the connection closed (what is left of the body is never read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyRefused {
    /// Over [`MAX_BODY`].
    TooLarge,
    /// Not whole within [`BODY_READ_TIMEOUT`].
    TimedOut,
    /// The connection failed mid-body (the client closed it early, or sent a bad chunk).
    Broken,
}

impl BodyRefused {
    fn outcome(self) -> &'static str {
        match self {
            BodyRefused::TooLarge => "BodyTooLarge",
            BodyRefused::TimedOut => "BodyTimedOut",
            BodyRefused::Broken => "BodyBroken",
        }
    }

    fn response(self) -> Response<Full<Bytes>> {
        let (status, text) = match self {
            BodyRefused::TooLarge => (413, texts::content_length_exceeded(MAX_BODY)),
            BodyRefused::TimedOut => (408, texts::BODY_TIMED_OUT.to_string()),
            BodyRefused::Broken => (400, texts::BODY_BROKEN.to_string()),
        };
        let mut response = respond(status, "text/plain", text);
        response
            .headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        response
    }
}

/// Reads the whole body within [`BODY_READ_TIMEOUT`] and [`MAX_BODY`].
async fn read_body(body: Incoming) -> Result<Bytes, BodyRefused> {
    if body.size_hint().lower() > MAX_BODY as u64 {
        return Err(BodyRefused::TooLarge);
    }
    match tokio::time::timeout(BODY_READ_TIMEOUT, Limited::new(body, MAX_BODY).collect()).await {
        Err(_) => Err(BodyRefused::TimedOut),
        Ok(Ok(body)) => Ok(body.to_bytes()),
        Ok(Err(e)) if e.is::<LengthLimitError>() => Err(BodyRefused::TooLarge),
        Ok(Err(_)) => Err(BodyRefused::Broken),
    }
}

/// Handles one SQS API request.
pub async fn handle(
    node: Arc<Node>,
    req: Request<Incoming>,
    _peer: SocketAddr,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let request_id = mint_id();
    let (parts, body) = req.into_parts();
    let protocol = api::protocol(&parts.headers);
    let (action, result) = match read_body(body).await {
        Ok(body) => serve(&node, &parts, &body, &request_id).await,
        Err(refused) => {
            node.metrics
                .observe("unknown", refused.outcome(), started.elapsed());
            return refused.response();
        }
    };
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) => e.code.as_str(),
    };
    node.metrics.observe(
        action.as_deref().unwrap_or("unknown"),
        outcome,
        started.elapsed(),
    );
    if let Err(e) = &result
        && !e.code.sender_fault()
    {
        tracing::warn!(action = action.as_deref().unwrap_or("unknown"), error = %e, "request failed");
    }
    let rendered = if protocol == api::Protocol::Query && api::accepts_json(&parts.headers) {
        api::render_query_as_json(&result, &request_id)
    } else {
        api::render(protocol, &result, &request_id)
    };
    let (parts, body) = rendered.into_parts();
    Response::from_parts(parts, Full::new(body))
}

/// Authenticates, decodes and executes; returns the action name (when known) and the
/// outcome.
async fn serve(
    node: &Node,
    parts: &http::request::Parts,
    body: &[u8],
    request_id: &str,
) -> (Option<String>, Result<api::Response, SqsError>) {
    let authority = parts.uri.authority().map(|a| a.as_str());
    let principal = match node.verifier.verify(
        &SignedRequest {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query(),
            headers: &parts.headers,
            authority,
            body,
        },
        // The cluster time, not this node's own clock: a node whose clock is stepped
        // or drifting keeps accepting correctly timed signatures (`peer/clock.rs`).
        UNIX_EPOCH + Duration::from_millis(node.clock.now_ms()),
    ) {
        Ok(p) => p,
        Err(e) => return (None, Err(e)),
    };
    let decoded = api::decode(
        &parts.method,
        &parts.headers,
        parts.uri.path(),
        parts.uri.query(),
        body,
    );
    let action = decoded.action.map(|a| format!("{a:?}"));
    let request = match decoded.request {
        Ok(r) => r,
        Err(e) => return (action, Err(e)),
    };
    let https = node.config.sqs_tls_files().is_some();
    let url_base = url_base(&parts.headers, authority, https, &node.config.account_id);
    let request_id = match parts
        .headers
        .get("amz-sdk-invocation-id")
        .and_then(|v| v.to_str().ok())
    {
        Some(id) if !id.is_empty() && id.len() <= 128 => {
            format!("{}:{id}", principal.access_key_id)
        }
        _ => format!("edge:{request_id}"),
    };
    let ctx = Context {
        principal: &principal,
        url_base: &url_base,
        request_id: &request_id,
        trace_header: parts
            .headers
            .get("x-amzn-trace-id")
            .and_then(|v| v.to_str().ok()),
    };
    let is_send = matches!(
        request,
        api::Request::SendMessage(_) | api::Request::SendMessageBatch(_)
    );
    let result = dispatch::execute(node, &ctx, request).await;
    if is_send && result.is_ok() && fault_fires(node.config.fault_fail_after_commit_percent) {
        // Test-only fault: the send committed, but the client is told it failed.
        return (
            action,
            Err(SqsError::new(
                ErrorCode::InternalFailure,
                "Injected fault after commit.",
            )),
        );
    }
    (action, result)
}

fn fault_fires(percent: u8) -> bool {
    percent > 0 && rand::random_range(0..100u8) < percent
}

/// `<scheme>://<request host>/<account id>`: the scheme `X-Forwarded-Proto` names (a proxy
/// in front saw the client's), else the port's own (`https` when it serves TLS).
fn url_base(headers: &HeaderMap, authority: Option<&str>, https: bool, account_id: &str) -> String {
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .or(authority)
        .unwrap_or("localhost");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        Some(p) if p.eq_ignore_ascii_case("http") => "http",
        _ if https => "https",
        _ => "http",
    };
    format!("{scheme}://{host}/{account_id}")
}

fn mint_id() -> String {
    let h = hex::encode(rand::random::<[u8; 16]>());
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::url_base;
    use http::HeaderMap;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (http::HeaderName::from_static(k), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn queue_urls_name_the_scheme_of_the_proxy_else_of_the_port() {
        let host = [("host", "q.example:9324")];
        assert_eq!(
            url_base(&headers(&host), None, false, "1"),
            "http://q.example:9324/1"
        );
        assert_eq!(
            url_base(&headers(&host), None, true, "1"),
            "https://q.example:9324/1"
        );
        let proxied = [("host", "q.example"), ("x-forwarded-proto", "HTTPS")];
        assert_eq!(
            url_base(&headers(&proxied), None, false, "1"),
            "https://q.example/1"
        );
        let proxied = [("host", "q.example"), ("x-forwarded-proto", "http")];
        assert_eq!(
            url_base(&headers(&proxied), None, true, "1"),
            "http://q.example/1"
        );
        assert_eq!(
            url_base(&headers(&[]), Some("a:1"), true, "1"),
            "https://a:1/1"
        );
    }
}
