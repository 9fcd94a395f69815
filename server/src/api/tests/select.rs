//! Protocol selection, the full decode path, and rendering into HTTP responses.

use super::code;
use crate::api::model::*;
use crate::api::{Decoded, Protocol, decode, protocol, queue_url_from_path, render};
use crate::error::{ErrorCode, SqsError};
use http::{HeaderMap, HeaderValue, Method};

fn headers(list: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in list {
        h.insert(*k, HeaderValue::from_static(v));
    }
    h
}

#[test]
fn protocol_follows_content_type_and_target() {
    let json = "application/x-amz-json-1.0";
    assert_eq!(
        protocol(&headers(&[("content-type", json)])),
        Protocol::Json
    );
    assert_eq!(
        protocol(&headers(&[(
            "content-type",
            "Application/X-Amz-Json-1.0; charset=utf-8"
        )])),
        Protocol::Json
    );
    assert_eq!(
        protocol(&headers(&[("x-amz-target", "AmazonSQS.ListQueues")])),
        Protocol::Json
    );
    assert_eq!(
        protocol(&headers(&[
            ("x-amz-target", "AmazonSQS.ListQueues"),
            (
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8"
            )
        ])),
        Protocol::Query
    );
    assert_eq!(
        protocol(&headers(&[(
            "content-type",
            "application/x-www-form-urlencoded"
        )])),
        Protocol::Query
    );
    assert_eq!(protocol(&HeaderMap::new()), Protocol::Query);
}

#[test]
fn json_request_end_to_end() {
    let h = headers(&[
        ("content-type", "application/x-amz-json-1.0"),
        ("x-amz-target", "AmazonSQS.SendMessage"),
        ("host", "localhost:9324"),
    ]);
    let d = decode(
        &Method::POST,
        &h,
        "/",
        None,
        br#"{"QueueUrl":"http://localhost:9324/000000000000/q","MessageBody":"hi"}"#,
    );
    assert_eq!(d.protocol, Protocol::Json);
    assert_eq!(d.action, Some(Action::SendMessage));
    let Ok(Request::SendMessage(r)) = d.request else {
        panic!("{d:?}")
    };
    assert_eq!(r.message_body, "hi");

    // A bad target is UnknownOperationException, answered in JSON.
    let h = headers(&[
        ("content-type", "application/x-amz-json-1.0"),
        ("x-amz-target", "AmazonSQS.Nope"),
    ]);
    let d = decode(&Method::POST, &h, "/", None, b"{}");
    assert_eq!((d.protocol, d.action), (Protocol::Json, None));
    assert_eq!(code(d.request), ErrorCode::UnknownOperation);
}

#[test]
fn query_get_and_post_with_path_queue_url() {
    let d = decode(
        &Method::GET,
        &headers(&[("host", "h:1")]),
        "/",
        Some("Action=ListQueues&Version=2012-11-05&QueueNamePrefix=a%20b"),
        b"",
    );
    assert_eq!(d.protocol, Protocol::Query);
    assert_eq!(d.action, Some(Action::ListQueues));
    assert_eq!(
        d.request,
        Ok(Request::ListQueues(ListQueuesRequest {
            queue_name_prefix: Some("a b".into()),
            ..Default::default()
        }))
    );

    let h = headers(&[
        ("host", "sqs.local:9324"),
        ("x-forwarded-proto", "https"),
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
    ]);
    let d = decode(
        &Method::POST,
        &h,
        "/000000000000/jobs",
        Some("X-Amz-Signature=abc"),
        b"Action=SendMessage&MessageBody=x&Version=2012-11-05",
    );
    let Ok(Request::SendMessage(r)) = d.request else {
        panic!("{d:?}")
    };
    assert_eq!(r.queue_url, "https://sqs.local:9324/000000000000/jobs");

    // Body parameters win over URL ones; malformed UTF-8 is reported in XML terms.
    let d = decode(
        &Method::POST,
        &HeaderMap::new(),
        "/",
        Some("Action=DeleteQueue"),
        b"Action=ListQueues",
    );
    assert_eq!(d.action, Some(Action::ListQueues));
    let d = decode(&Method::POST, &HeaderMap::new(), "/", None, b"Action=%FF");
    assert_eq!(d.protocol, Protocol::Query);
    assert_eq!(code(d.request), ErrorCode::MalformedQueryString);
}

#[test]
fn decode_applies_request_level_validation() {
    let body: String = (1..=11)
        .map(|n| {
            format!(
                "&SendMessageBatchRequestEntry.{n}.Id=e{n}&SendMessageBatchRequestEntry.{n}.MessageBody=b"
            )
        })
        .collect();
    let d = decode(
        &Method::POST,
        &HeaderMap::new(),
        "/",
        None,
        format!("Action=SendMessageBatch&QueueUrl=http://h/1/q{body}").as_bytes(),
    );
    assert_eq!(code(d.request), ErrorCode::TooManyEntriesInBatchRequest);
    let d = decode(
        &Method::POST,
        &HeaderMap::new(),
        "/",
        None,
        b"Action=SendMessageBatch&QueueUrl=http://h/1/q",
    );
    assert_eq!(code(d.request), ErrorCode::EmptyBatchRequest);
}

#[test]
fn path_queue_urls() {
    assert_eq!(
        queue_url_from_path("http", "h", "/123/q").as_deref(),
        Some("http://h/123/q")
    );
    assert_eq!(
        queue_url_from_path("http", "h", "/123/q/").as_deref(),
        Some("http://h/123/q/")
    );
    for path in ["/", "", "/123", "/123/", "//q", "/1/2/3", "123/q"] {
        assert_eq!(queue_url_from_path("http", "h", path), None, "{path}");
    }
    assert_eq!(queue_url_from_path("http", "", "/1/q"), None);
}

#[test]
fn rendering() {
    let ok = Ok(Response::GetQueueUrl(GetQueueUrlResult {
        queue_url: "u".into(),
    }));
    let r = render(Protocol::Json, &ok, "rid");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-amz-json-1.0");
    assert_eq!(r.headers()["x-amzn-requestid"], "rid");
    assert_eq!(r.body().as_ref(), br#"{"QueueUrl":"u"}"#);
    assert!(r.headers().get("x-amzn-query-error").is_none());

    let err = Err(SqsError::queue_does_not_exist());
    let r = render(Protocol::Json, &err, "rid");
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.headers()["x-amzn-query-error"],
        "AWS.SimpleQueueService.NonExistentQueue;Sender"
    );

    let r = render(Protocol::Query, &ok, "rid");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/xml");
    assert!(
        std::str::from_utf8(r.body())
            .unwrap()
            .contains("<GetQueueUrlResult><QueueUrl>u</QueueUrl></GetQueueUrlResult>")
    );

    let r = render(Protocol::Query, &Err(SqsError::internal("x")), "rid");
    assert_eq!(r.status(), 500);
    assert!(
        std::str::from_utf8(r.body())
            .unwrap()
            .contains("<Type>Receiver</Type><Code>InternalFailure</Code>")
    );
    let r = render(
        Protocol::Query,
        &Err(SqsError::new(ErrorCode::AccessDenied, "no")),
        "bad\nid",
    );
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("x-amzn-requestid").is_none());
}

#[test]
fn decoded_is_comparable() {
    let a = decode(
        &Method::GET,
        &HeaderMap::new(),
        "/",
        Some("Action=ListQueues"),
        b"",
    );
    let b = Decoded {
        protocol: Protocol::Query,
        action: Some(Action::ListQueues),
        request: Ok(Request::ListQueues(ListQueuesRequest::default())),
    };
    assert_eq!(a, b);
}

#[test]
fn query_requests_to_a_queue_url_without_or_with_an_account_level_action() {
    let h = headers(&[("host", "h:1")]);
    let d = decode(&Method::GET, &h, "/000000000000/q", None, b"");
    assert_eq!(code(d.request.clone()), ErrorCode::UnknownOperation);
    let r = render(
        Protocol::Query,
        &d.request.map(|_| Response::PurgeQueue),
        "rid",
    );
    assert_eq!(r.status(), 404);
    // Without a queue path the missing Action stays InvalidAction.
    let d = decode(&Method::GET, &h, "/", None, b"");
    assert_eq!(code(d.request), ErrorCode::InvalidAction);
    for action in ["CreateQueue", "ListQueues", "GetQueueUrl"] {
        let query = format!("Action={action}&QueueName=other");
        let d = decode(&Method::GET, &h, "/000000000000/q", Some(&query), b"");
        let e = d.request.unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidAction, "{action}");
        assert_eq!(
            e.message,
            format!("The action {action} is not valid for this endpoint.")
        );
    }
    let d = decode(
        &Method::GET,
        &h,
        "/000000000000/q",
        Some("Action=PurgeQueue"),
        b"",
    );
    assert!(d.request.is_ok(), "{d:?}");
}

#[test]
fn query_requests_accepting_json_are_answered_in_json() {
    use crate::api::{accepts_json, render_query_as_json};
    assert!(accepts_json(&headers(&[("accept", "application/json")])));
    assert!(accepts_json(&headers(&[(
        "accept",
        "text/xml, application/json; q=0.9"
    )])));
    assert!(!accepts_json(&headers(&[("accept", "*/*")])));
    assert!(!accepts_json(&HeaderMap::new()));

    let ok = Ok(Response::GetQueueUrl(GetQueueUrlResult {
        queue_url: "u".into(),
    }));
    let r = render_query_as_json(&ok, "rid");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"GetQueueUrlResponse": {
            "GetQueueUrlResult": {"QueueUrl": "u"},
            "ResponseMetadata": {"RequestId": "rid"},
        }})
    );
    let r = render_query_as_json(&Ok(Response::PurgeQueue), "rid");
    let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"PurgeQueueResponse": {"ResponseMetadata": {"RequestId": "rid"}}})
    );
    let r = render_query_as_json(&Err(SqsError::queue_does_not_exist()), "rid");
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
    assert_eq!(
        body["ErrorResponse"]["Error"]["Code"],
        "AWS.SimpleQueueService.NonExistentQueue"
    );
    assert_eq!(body["ErrorResponse"]["RequestId"], "rid");
}

#[test]
fn empty_query_results_are_empty_elements() {
    let r = render(
        Protocol::Query,
        &Ok(Response::ReceiveMessage(ReceiveMessageResult::default())),
        "rid",
    );
    let body = std::str::from_utf8(r.body()).unwrap();
    assert!(body.contains("<ReceiveMessageResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><ReceiveMessageResult/><ResponseMetadata>"), "{body}");
}
