//! Malformed input of every kind: decoding must fail cleanly or succeed, never panic.

use crate::api::model::Action;
use crate::api::{Protocol, decode, render};
use crate::error::ErrorCode;
use http::{HeaderMap, HeaderValue, Method};

/// A small deterministic generator (64-bit LCG), so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

fn json_headers(action: Action) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    h.insert(
        "x-amz-target",
        HeaderValue::from_str(&format!("AmazonSQS.{action}")).unwrap(),
    );
    h
}

/// Decodes and renders both outcomes, so encoders see whatever decoding produced.
fn exercise(method: &Method, headers: &HeaderMap, query: Option<&str>, body: &[u8]) {
    let d = decode(method, headers, "/000000000000/q", query, body);
    let _ = render(
        d.protocol,
        &d.request.clone().map(|_| crate::api::Response::PurgeQueue),
        "id",
    );
    if let Err(e) = &d.request {
        let _ = render(Protocol::Json, &Err(e.clone()), "id");
        let _ = render(Protocol::Query, &Err(e.clone()), "id");
    }
}

const SAMPLE_JSON: &str = r#"{"QueueUrl":"http://h/1/q","QueueName":"q","MessageBody":"b","DelaySeconds":1,
"MessageAttributes":{"a":{"DataType":"Binary","BinaryValue":"AAE=","StringListValues":["x"]}},
"Entries":[{"Id":"1","MessageBody":"x","ReceiptHandle":"r","VisibilityTimeout":3}],
"Attributes":{"A":"1"},"tags":{"t":"v"},"Tags":{"t":"v"},"TagKeys":["t"],"AttributeNames":["All"],
"AWSAccountIds":["1"],"Actions":["SendMessage"],"Label":"l","SourceArn":"s","TaskHandle":"t",
"MaxNumberOfMessages":10,"WaitTimeSeconds":1,"VisibilityTimeout":1,"ReceiptHandle":"r","MaxResults":1}"#;

#[test]
fn json_bodies_truncated_and_mutated_never_panic() {
    let mut rng = Lcg(1);
    let sample = SAMPLE_JSON.as_bytes();
    for &action in Action::ALL {
        let h = json_headers(action);
        exercise(&Method::POST, &h, None, sample);
        for cut in (0..sample.len()).step_by(7) {
            exercise(&Method::POST, &h, None, &sample[..cut]);
        }
        for _ in 0..200 {
            let mut body = sample.to_vec();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(body.len());
                body[i] = rng.next() as u8;
            }
            exercise(&Method::POST, &h, None, &body);
        }
    }
}

#[test]
fn deeply_nested_json_is_a_serialization_error() {
    let body = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let d = decode(
        &Method::POST,
        &json_headers(Action::ListQueues),
        "/",
        None,
        body.as_bytes(),
    );
    assert_eq!(
        d.request.unwrap_err().code,
        ErrorCode::SerializationException
    );
    let body = format!(
        "{{\"QueueUrl\":\"u\",\"Entries\":{}{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let d = decode(
        &Method::POST,
        &json_headers(Action::SendMessageBatch),
        "/",
        None,
        body.as_bytes(),
    );
    assert_eq!(
        d.request.unwrap_err().code,
        ErrorCode::SerializationException
    );
}

#[test]
fn random_query_parameters_never_panic() {
    let names = [
        "Action",
        "QueueUrl",
        "QueueName",
        "MessageBody",
        "DelaySeconds",
        "Attribute",
        "AttributeName",
        "MessageAttribute",
        "MessageSystemAttribute",
        "MessageAttributeName",
        "MessageSystemAttributeName",
        "Tag",
        "TagKey",
        "SendMessageBatchRequestEntry",
        "DeleteMessageBatchRequestEntry",
        "ChangeMessageVisibilityBatchRequestEntry",
        "AWSAccountId",
        "ActionName",
        "MaxNumberOfMessages",
        "VisibilityTimeout",
        "WaitTimeSeconds",
        "ReceiptHandle",
        "Label",
        "SourceArn",
        "TaskHandle",
        "MaxResults",
    ];
    let parts = [
        "Name",
        "Value",
        "Key",
        "Id",
        "MessageBody",
        "ReceiptHandle",
        "VisibilityTimeout",
        "Value.StringValue",
        "Value.BinaryValue",
        "Value.DataType",
        "Value.StringListValue.1",
        "Value.BinaryListValue.2",
        "MessageAttribute.1.Name",
        "MessageAttribute.1.Value.BinaryValue",
        "DelaySeconds",
        "",
    ];
    let indexes = [
        "1",
        "2",
        "10",
        "0",
        "01",
        "-1",
        "",
        "x",
        "999999999",
        "4294967295",
        "4294967296",
        "99999999999999999999999",
    ];
    let values = [
        "",
        "1",
        "-1",
        "2147483648",
        "abc",
        "%FF",
        "%",
        "%2",
        "AAE%3D",
        "!!!",
        "String",
        "Binary",
        "Number",
        "SendMessage",
        "SendMessageBatch",
        "ReceiveMessage",
        "CreateQueue",
        "TagQueue",
        "DeleteMessageBatch",
        "ChangeMessageVisibilityBatch",
        "AddPermission",
        "a+b",
        "%00",
        "%C3%A9",
        "%ED%A0%80",
    ];
    let mut rng = Lcg(7);
    for _ in 0..5_000 {
        let mut form = format!("Action={}", rng.pick(&values));
        for _ in 0..rng.below(12) {
            let name = rng.pick(&names);
            let key = match rng.below(3) {
                0 => name.to_string(),
                1 => format!("{name}.{}", rng.pick(&indexes)),
                _ => format!("{name}.{}.{}", rng.pick(&indexes), rng.pick(&parts)),
            };
            form.push_str(&format!("&{key}={}", rng.pick(&values)));
        }
        exercise(&Method::POST, &HeaderMap::new(), None, form.as_bytes());
        exercise(&Method::GET, &HeaderMap::new(), Some(&form), b"");
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Lcg(42);
    for _ in 0..2_000 {
        let len = rng.below(64);
        let body: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        exercise(&Method::POST, &HeaderMap::new(), None, &body);
        exercise(
            &Method::POST,
            &json_headers(Action::SendMessage),
            None,
            &body,
        );
        let query = String::from_utf8_lossy(&body).into_owned();
        exercise(&Method::GET, &HeaderMap::new(), Some(&query), b"");
    }
}

#[test]
fn huge_and_duplicate_indexes_are_cheap_and_ordered() {
    // Indexes near u32::MAX, duplicates through leading zeros, and gaps.
    let form = "Action=SendMessageBatch&QueueUrl=http://h/1/q\
        &SendMessageBatchRequestEntry.4294967295.Id=last&SendMessageBatchRequestEntry.4294967295.MessageBody=z\
        &SendMessageBatchRequestEntry.7.Id=mid&SendMessageBatchRequestEntry.7.MessageBody=y\
        &SendMessageBatchRequestEntry.07.Id=dup&SendMessageBatchRequestEntry.07.MessageBody=w";
    let d = decode(&Method::POST, &HeaderMap::new(), "/", None, form.as_bytes());
    let Ok(crate::api::Request::SendMessageBatch(r)) = d.request else {
        panic!("{d:?}")
    };
    let ids: Vec<&str> = r.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["mid", "last"]);
}

#[test]
fn a_batch_of_100000_entries_is_refused_before_any_entry_is_built() {
    // The entries lack MessageBody: built one by one, the first would be MissingParameter.
    let entries = vec![r#"{"Id":"a"}"#; 100_000].join(",");
    let json = format!(r#"{{"QueueUrl":"http://h/1/q","Entries":[{entries}]}}"#);
    let mut form = String::from("Action=SendMessageBatch&QueueUrl=http://h/1/q");
    for n in 1..=100_000 {
        form.push_str(&format!("&SendMessageBatchRequestEntry.{n}.Id=a"));
    }
    for d in [
        decode(
            &Method::POST,
            &json_headers(Action::SendMessageBatch),
            "/",
            None,
            json.as_bytes(),
        ),
        decode(&Method::POST, &HeaderMap::new(), "/", None, form.as_bytes()),
    ] {
        let e = d.request.unwrap_err();
        assert_eq!(e.code, ErrorCode::TooManyEntriesInBatchRequest);
        assert_eq!(
            e.message,
            "Maximum number of entries per request are 10. You have sent 100000."
        );
    }
}

#[test]
fn system_attribute_names_keep_the_first_of_each_name_in_order() {
    let r = crate::api::model::ReceiveMessageRequest {
        attribute_names: vec!["SenderId".into(), "All".into(), "SenderId".into()],
        message_system_attribute_names: vec!["All".into(), "SentTimestamp".into()],
        ..Default::default()
    };
    assert_eq!(
        r.system_attribute_names(),
        ["SenderId", "All", "SentTimestamp"]
    );
}
