//! The SQS API layer: the typed model of API version 2012-11-05 and both wire protocols
//! (AWS JSON 1.0 and Query/XML), as pure functions the HTTP edge calls.
//!
//! * [`decode`] picks the protocol the way AWS does, decodes the request into a typed
//!   [`Request`] and runs the state-free syntax checks of [`validate::request`].
//! * [`render`] turns the outcome into status, headers and body in the same protocol.
//! * [`md5`] computes the digests the SDKs verify; [`validate`] holds the name, id,
//!   character-set and attribute rules the state machine reuses.
//!
//! Nothing here panics on any input.

mod decode;
pub mod json;
pub mod md5;
pub mod model;
pub mod query;
pub mod validate;
pub mod xml;

#[cfg(test)]
mod tests;

pub use model::{Action, Request, Response};

use crate::error::{ErrorCode, SqsError, SqsResult};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};

/// The wire protocol of a request, and so of its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// AWS JSON 1.0 (`X-Amz-Target` plus a JSON body).
    Json,
    /// The Query protocol (form parameters in, XML out).
    Query,
}

/// The outcome of [`decode`]: the protocol to answer in, the action when one could be
/// determined (for metrics and logs), and the request or the error to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub protocol: Protocol,
    pub action: Option<Action>,
    pub request: SqsResult<Request>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The media type of the `Content-Type` header, lower-cased, without parameters.
fn media_type(headers: &HeaderMap) -> Option<String> {
    header(headers, "content-type").map(|ct| {
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    })
}

/// Which protocol a request speaks: JSON when its content type is
/// `application/x-amz-json-1.0`, or when it carries `X-Amz-Target` and is not a form;
/// the Query protocol otherwise (form POSTs and GETs with a query string).
pub fn protocol(headers: &HeaderMap) -> Protocol {
    let media = media_type(headers);
    if media.as_deref() == Some(json::CONTENT_TYPE) {
        return Protocol::Json;
    }
    if headers.contains_key("x-amz-target") && media.as_deref() != Some(query::FORM_CONTENT_TYPE) {
        return Protocol::Json;
    }
    Protocol::Query
}

/// The QueueUrl a request path denotes when it has the form `/<account>/<queue>`
/// (AWS accepts Query requests sent to the queue URL without a `QueueUrl` parameter).
pub fn queue_url_from_path(scheme: &str, host: &str, path: &str) -> Option<String> {
    let rest = path.strip_prefix('/')?;
    let (account, name) = rest.split_once('/')?;
    let name = name.strip_suffix('/').unwrap_or(name);
    let ok = |s: &str| !s.is_empty() && !s.contains('/');
    (ok(account) && ok(name) && !host.is_empty()).then(|| format!("{scheme}://{host}{path}"))
}

/// Decodes an SQS request in whichever protocol it uses, then applies the state-free
/// checks of [`validate::request`].
///
/// `path` and `query` are the request target's path and raw query string; the host for
/// a path-derived QueueUrl comes from the `Host` header, the scheme from
/// `X-Forwarded-Proto` (default `http`).
pub fn decode(
    method: &Method,
    headers: &HeaderMap,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Decoded {
    let protocol = protocol(headers);
    let host = header(headers, "host").unwrap_or("");
    let scheme = match header(headers, "x-forwarded-proto") {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    let path_url = queue_url_from_path(scheme, host, path);
    let (action, request) = match protocol {
        Protocol::Json => match json::action_from_target(header(headers, "x-amz-target")) {
            Err(e) => (None, Err(e)),
            Ok(action) => (
                Some(action),
                json::decode_body(action, body, path_url.as_deref()),
            ),
        },
        Protocol::Query => {
            let mut params = query::Params::new();
            let parsed = (|| {
                let form_body = method == Method::POST
                    && media_type(headers)
                        .is_none_or(|m| m == query::FORM_CONTENT_TYPE || m.is_empty());
                if form_body {
                    query::parse_form(body, &mut params)?;
                }
                query::parse_form(query.unwrap_or("").as_bytes(), &mut params)
            })();
            match parsed {
                Err(e) => (None, Err(e)),
                // A GET on a queue URL naming no action is no operation at all (AWS: 404).
                Ok(())
                    if method == Method::GET
                        && path_url.is_some()
                        && !params.contains_key("Action") =>
                {
                    (None, Err(SqsError::new(ErrorCode::UnknownOperation, "")))
                }
                Ok(()) => (
                    query::action(&params).ok(),
                    query::decode_params(&params, path_url.as_deref())
                        .and_then(|r| account_level_on_queue_url(r, path_url.is_some())),
                ),
            }
        }
    };
    let request = request.and_then(|r| validate::request(&r).map(|()| r));
    Decoded {
        protocol,
        action,
        request,
    }
}

/// Actions without a QueueUrl member (CreateQueue, ListQueues, …) belong to the account
/// endpoint: sent to a queue URL, AWS answers `InvalidAction`.
fn account_level_on_queue_url(request: Request, to_queue_url: bool) -> SqsResult<Request> {
    if to_queue_url && request.queue_url().is_none() {
        return Err(SqsError::new(
            ErrorCode::InvalidAction,
            format!(
                "The action {} is not valid for this endpoint.",
                request.action()
            ),
        ));
    }
    Ok(request)
}

/// Whether a Query request asks for a JSON answer (`Accept: application/json`).
pub fn accepts_json(headers: &HeaderMap) -> bool {
    header(headers, "accept").is_some_and(|accept| {
        accept.split(',').any(|media| {
            media
                .split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        })
    })
}

/// Renders the outcome of a request in `protocol`: status, `Content-Type`,
/// `x-amzn-RequestId`, and for JSON errors `x-amzn-query-error`.
pub fn render(
    protocol: Protocol,
    result: &Result<Response, SqsError>,
    request_id: &str,
) -> http::Response<Bytes> {
    let (status, content_type, body, query_error) = match (protocol, result) {
        (Protocol::Json, Ok(r)) => (200, json::CONTENT_TYPE, json::encode_response(r), None),
        (Protocol::Json, Err(e)) => (
            e.status(),
            json::CONTENT_TYPE,
            json::encode_error(e),
            Some(json::query_error_header(e)),
        ),
        (Protocol::Query, Ok(r)) => (
            200,
            xml::CONTENT_TYPE,
            xml::encode_response(r, request_id),
            None,
        ),
        (Protocol::Query, Err(e)) => (
            query_status(e),
            xml::CONTENT_TYPE,
            xml::encode_error(e, request_id),
            None,
        ),
    };
    response(status, content_type, body, request_id, query_error)
}

/// A Query request's unknown operation (a GET without `Action`) is a 404, as on AWS.
fn query_status(e: &SqsError) -> u16 {
    if e.code == ErrorCode::UnknownOperation {
        404
    } else {
        e.status()
    }
}

/// Renders the outcome of a Query request whose client asked for JSON
/// (`Accept: application/json`) as AWS does: the XML document's shape,
/// `{"<Action>Response": {"<Action>Result": {…}, "ResponseMetadata": {"RequestId": …}}}`
/// (errors as `{"ErrorResponse": {"Error": {…}, "RequestId": …}}`), its members named
/// as in the JSON protocol.
pub fn render_query_as_json(
    result: &Result<Response, SqsError>,
    request_id: &str,
) -> http::Response<Bytes> {
    use serde_json::{Value, json};
    let metadata = json!({"RequestId": request_id});
    let (status, document) = match result {
        Ok(r) => {
            let action = r.action().as_str();
            let mut inner = serde_json::Map::new();
            let members: Value =
                serde_json::from_slice(&json::encode_response(r)).unwrap_or_else(|_| json!({}));
            if members.as_object().is_some_and(|m| !m.is_empty()) {
                inner.insert(format!("{action}Result"), members);
            }
            inner.insert("ResponseMetadata".into(), metadata);
            (200, json!({ format!("{action}Response"): inner }))
        }
        Err(e) => (
            query_status(e),
            json!({"ErrorResponse": {
                "Error": {
                    "Type": if e.code.sender_fault() { "Sender" } else { "Receiver" },
                    "Code": e.code.query_code(),
                    "Message": e.message,
                },
                "RequestId": request_id,
            }}),
        ),
    };
    let body = serde_json::to_vec(&document).unwrap_or_default();
    response(status, "application/json", body, request_id, None)
}

fn response(
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    request_id: &str,
    query_error: Option<String>,
) -> http::Response<Bytes> {
    let mut response = http::Response::new(Bytes::from(body));
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", v);
    }
    if let Some(v) = query_error.and_then(|q| HeaderValue::from_str(&q).ok()) {
        headers.insert("x-amzn-query-error", v);
    }
    response
}
