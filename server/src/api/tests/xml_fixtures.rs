//! XML documents compared byte for byte with `server/tests/fixtures/api/xml/*.xml`.
//!
//! Those fixtures were checked with botocore's own Query response parser against the
//! SDK's last Query-protocol SQS model (`check_botocore_xml.py` there re-runs the check
//! and compares with the `*.expected.json` parse results), so these documents are known
//! to read back as the SDK expects: bodies with CR, quotes and non-ASCII included.

use crate::api::md5::{md5_of_attributes, md5_of_body};
use crate::api::model::*;
use crate::api::xml::{encode_error, encode_response};
use crate::error::{ErrorCode, SqsError};
use std::collections::BTreeMap;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/api/xml/{name}.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The responses the fixtures hold, by action name.
fn responses() -> Vec<Response> {
    let body = "line1\r\nline2\r<&>\"'\t\u{e9}\u{1F600}]]>";
    let mut attrs = MessageAttributes::new();
    attrs.insert(
        "b".into(),
        MessageAttributeValue::binary(b"\x00\x01".to_vec()),
    );
    attrs.insert("s".into(), MessageAttributeValue::string("x\ry"));
    attrs.insert("n".into(), MessageAttributeValue::number("1.5"));
    vec![
        Response::ReceiveMessage(ReceiveMessageResult {
            messages: vec![
                Message {
                    message_id: "m1".into(),
                    receipt_handle: "rh+/=".into(),
                    md5_of_body: md5_of_body(body),
                    body: body.into(),
                    attributes: BTreeMap::from([
                        ("SentTimestamp".into(), "1".into()),
                        ("ApproximateReceiveCount".into(), "2".into()),
                    ]),
                    md5_of_message_attributes: md5_of_attributes(&attrs),
                    message_attributes: attrs,
                },
                Message {
                    message_id: "m2".into(),
                    receipt_handle: "r2".into(),
                    md5_of_body: md5_of_body("b"),
                    body: "b".into(),
                    ..Default::default()
                },
            ],
        }),
        Response::SendMessageBatch(SendMessageBatchResult {
            successful: vec![SendMessageBatchResultEntry {
                id: "a".into(),
                message_id: "m".into(),
                md5_of_message_body: "d".into(),
                md5_of_message_attributes: Some("e".into()),
                md5_of_message_system_attributes: None,
                sequence_number: Some("1".into()),
            }],
            failed: vec![BatchResultErrorEntry::from_error(
                "b",
                &SqsError::new(ErrorCode::InvalidMessageContents, "bad"),
            )],
        }),
        Response::GetQueueAttributes(GetQueueAttributesResult {
            attributes: BTreeMap::from([
                ("DelaySeconds".into(), "0".into()),
                ("Policy".into(), "{\"a\":1}".into()),
            ]),
        }),
        Response::ListQueueTags(ListQueueTagsResult {
            tags: BTreeMap::from([("t".into(), "v".into())]),
        }),
        Response::ListQueues(ListQueuesResult {
            queue_urls: vec!["u1".into(), "u2".into()],
            next_token: Some("n".into()),
        }),
        Response::ListDeadLetterSourceQueues(ListDeadLetterSourceQueuesResult {
            queue_urls: vec!["u1".into()],
            next_token: None,
        }),
        Response::DeleteMessageBatch(DeleteMessageBatchResult {
            successful: vec![BatchResultEntry { id: "x".into() }],
            failed: vec![],
        }),
        Response::ChangeMessageVisibilityBatch(ChangeMessageVisibilityBatchResult {
            successful: vec![BatchResultEntry { id: "x".into() }],
            failed: vec![],
        }),
        Response::ListMessageMoveTasks(ListMessageMoveTasksResult {
            results: vec![ListMessageMoveTasksResultEntry {
                task_handle: Some("t".into()),
                status: "RUNNING".into(),
                source_arn: "s".into(),
                destination_arn: Some("d".into()),
                max_number_of_messages_per_second: Some(5),
                approximate_number_of_messages_moved: 2,
                approximate_number_of_messages_to_move: Some(10),
                failure_reason: None,
                started_timestamp: 1_700_000_000_000,
            }],
        }),
        Response::CancelMessageMoveTask(CancelMessageMoveTaskResult {
            approximate_number_of_messages_moved: 3,
        }),
        Response::SendMessage(SendMessageResult {
            md5_of_message_body: "a".into(),
            md5_of_message_attributes: None,
            md5_of_message_system_attributes: Some("c".into()),
            message_id: "id".into(),
            sequence_number: None,
        }),
        Response::CreateQueue(CreateQueueResult {
            queue_url: "u".into(),
        }),
        Response::DeleteQueue,
    ]
}

/// Compares the encoder's documents with the committed fixtures. After an intended
/// change, run with `SQSRAFT_REGENERATE_FIXTURES=1` to rewrite them, then re-run
/// `check_botocore_xml.py` to check botocore still parses them.
#[test]
fn documents_match_the_botocore_checked_fixtures() {
    let mut documents: Vec<(String, Vec<u8>)> = responses()
        .iter()
        .map(|r| (r.action().as_str().to_string(), encode_response(r, "rid")))
        .collect();
    documents.push((
        "error".into(),
        encode_error(&SqsError::queue_does_not_exist(), "rid"),
    ));
    if std::env::var_os("SQSRAFT_REGENERATE_FIXTURES").is_some() {
        let dir = format!("{}/tests/fixtures/api/xml", env!("CARGO_MANIFEST_DIR"));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, doc) in &documents {
            std::fs::write(format!("{dir}/{name}.xml"), doc).unwrap();
        }
    }
    for (name, doc) in documents {
        assert_eq!(String::from_utf8(doc).unwrap(), fixture(&name), "{name}");
    }
}
