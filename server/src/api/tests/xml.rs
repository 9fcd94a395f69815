//! Query/XML responses: exact documents, escaping that round-trips, error documents.

use crate::api::md5::md5_of_body;
use crate::api::model::*;
use crate::api::xml::{encode_error, encode_response, escape_into};
use crate::error::{ErrorCode, SqsError};
use std::collections::BTreeMap;

fn doc(response: &Response) -> String {
    String::from_utf8(encode_response(response, "req-1")).unwrap()
}

/// Reverses the escaping of element text as an XML parser does (the five predefined
/// entities and hexadecimal or decimal character references).
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = rest[amp..].find(';').unwrap() + amp;
        let entity = &rest[amp + 1..semi];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            e if e.starts_with("#x") => {
                char::from_u32(u32::from_str_radix(&e[2..], 16).unwrap()).unwrap()
            }
            e if e.starts_with('#') => char::from_u32(e[1..].parse().unwrap()).unwrap(),
            e => panic!("unknown entity {e}"),
        };
        out.push(c);
        rest = &rest[semi + 1..];
    }
    out.push_str(rest);
    // An XML parser normalises literal CR LF and CR to LF.
    assert!(!rest.contains('\r'));
    out
}

/// The text of the first `<tag>` element.
fn element<'a>(doc: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = doc.find(&open).unwrap() + open.len();
    let end = doc[start..].find(&format!("</{tag}>")).unwrap() + start;
    &doc[start..end]
}

#[test]
fn create_queue_document() {
    assert_eq!(
        doc(&Response::CreateQueue(CreateQueueResult {
            queue_url: "http://localhost:9324/000000000000/q&1".into()
        })),
        "<?xml version=\"1.0\"?><CreateQueueResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">\
         <CreateQueueResult><QueueUrl>http://localhost:9324/000000000000/q&amp;1</QueueUrl></CreateQueueResult>\
         <ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></CreateQueueResponse>"
    );
}

#[test]
fn actions_without_output_have_no_result_element() {
    assert_eq!(
        doc(&Response::DeleteMessage),
        "<?xml version=\"1.0\"?><DeleteMessageResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">\
         <ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></DeleteMessageResponse>"
    );
}

#[test]
fn attributes_tags_and_queue_lists() {
    let d = doc(&Response::GetQueueAttributes(GetQueueAttributesResult {
        attributes: BTreeMap::from([
            ("DelaySeconds".into(), "0".into()),
            ("Policy".into(), "{\"a\":\"<b>\"}".into()),
        ]),
    }));
    assert!(d.contains(
        "<GetQueueAttributesResult><Attribute><Name>DelaySeconds</Name><Value>0</Value></Attribute>\
         <Attribute><Name>Policy</Name><Value>{&quot;a&quot;:&quot;&lt;b&gt;&quot;}</Value></Attribute></GetQueueAttributesResult>"
    ), "{d}");
    let d = doc(&Response::ListQueueTags(ListQueueTagsResult {
        tags: BTreeMap::from([("team".into(), "x".into())]),
    }));
    assert!(
        d.contains(
            "<ListQueueTagsResult><Tag><Key>team</Key><Value>x</Value></Tag></ListQueueTagsResult>"
        ),
        "{d}"
    );
    let d = doc(&Response::ListQueues(ListQueuesResult {
        queue_urls: vec!["u1".into(), "u2".into()],
        next_token: Some("n".into()),
    }));
    assert!(d.contains("<ListQueuesResult><QueueUrl>u1</QueueUrl><QueueUrl>u2</QueueUrl><NextToken>n</NextToken></ListQueuesResult>"), "{d}");
    let d = doc(&Response::ListQueues(ListQueuesResult::default()));
    assert!(d.contains("<ListQueuesResult/>"), "{d}");
    let d = doc(&Response::ListDeadLetterSourceQueues(
        ListDeadLetterSourceQueuesResult {
            queue_urls: vec!["u".into()],
            next_token: None,
        },
    ));
    assert!(d.contains("<ListDeadLetterSourceQueuesResult><QueueUrl>u</QueueUrl></ListDeadLetterSourceQueuesResult>"), "{d}");
}

#[test]
fn receive_message_document_and_body_round_trip() {
    let body = "line1\r\nline2\r<&>\"'\t\u{e9}\u{1F600}]]>";
    let mut message_attributes = MessageAttributes::new();
    message_attributes.insert(
        "b".into(),
        MessageAttributeValue::binary(b"\x00\x01".to_vec()),
    );
    message_attributes.insert("s".into(), MessageAttributeValue::string("x\ry"));
    let d = doc(&Response::ReceiveMessage(ReceiveMessageResult {
        messages: vec![Message {
            message_id: "m1".into(),
            receipt_handle: "rh+/=".into(),
            md5_of_body: md5_of_body(body),
            body: body.into(),
            attributes: BTreeMap::from([("SentTimestamp".into(), "1".into())]),
            md5_of_message_attributes: Some("abc".into()),
            message_attributes,
        }],
    }));
    let expected = format!(
        "<ReceiveMessageResult><Message><MessageId>m1</MessageId><ReceiptHandle>rh+/=</ReceiptHandle>\
         <MD5OfBody>{}</MD5OfBody>\
         <Body>line1&#xD;\nline2&#xD;&lt;&amp;&gt;&quot;&apos;\t\u{e9}\u{1F600}]]&gt;</Body>\
         <Attribute><Name>SentTimestamp</Name><Value>1</Value></Attribute>\
         <MD5OfMessageAttributes>abc</MD5OfMessageAttributes>\
         <MessageAttribute><Name>b</Name><Value><BinaryValue>AAE=</BinaryValue><DataType>Binary</DataType></Value></MessageAttribute>\
         <MessageAttribute><Name>s</Name><Value><StringValue>x&#xD;y</StringValue><DataType>String</DataType></Value></MessageAttribute>\
         </Message></ReceiveMessageResult>",
        md5_of_body(body)
    );
    assert!(d.contains(&expected), "{d}");
    assert_eq!(unescape(element(&d, "Body")), body);
}

#[test]
fn batch_documents() {
    let d = doc(&Response::SendMessageBatch(SendMessageBatchResult {
        successful: vec![SendMessageBatchResultEntry {
            id: "a".into(),
            message_id: "m".into(),
            md5_of_message_body: "d".into(),
            md5_of_message_attributes: None,
            md5_of_message_system_attributes: None,
            sequence_number: Some("1".into()),
        }],
        failed: vec![BatchResultErrorEntry::from_error(
            "b",
            &SqsError::new(ErrorCode::InvalidMessageContents, "bad"),
        )],
    }));
    assert!(d.contains(
        "<SendMessageBatchResult><SendMessageBatchResultEntry><Id>a</Id><MessageId>m</MessageId>\
         <MD5OfMessageBody>d</MD5OfMessageBody><SequenceNumber>1</SequenceNumber></SendMessageBatchResultEntry>\
         <BatchResultErrorEntry><Id>b</Id><SenderFault>true</SenderFault><Code>InvalidMessageContents</Code>\
         <Message>bad</Message></BatchResultErrorEntry></SendMessageBatchResult>"
    ), "{d}");
    let d = doc(&Response::ChangeMessageVisibilityBatch(
        ChangeMessageVisibilityBatchResult {
            successful: vec![BatchResultEntry { id: "x".into() }],
            failed: vec![],
        },
    ));
    assert!(d.contains("<ChangeMessageVisibilityBatchResult><ChangeMessageVisibilityBatchResultEntry><Id>x</Id></ChangeMessageVisibilityBatchResultEntry></ChangeMessageVisibilityBatchResult>"), "{d}");
    let d = doc(&Response::DeleteMessageBatch(DeleteMessageBatchResult {
        successful: vec![BatchResultEntry { id: "x".into() }],
        failed: vec![],
    }));
    assert!(
        d.contains("<DeleteMessageBatchResultEntry><Id>x</Id></DeleteMessageBatchResultEntry>"),
        "{d}"
    );
}

#[test]
fn message_move_task_documents() {
    let d = doc(&Response::ListMessageMoveTasks(
        ListMessageMoveTasksResult {
            results: vec![ListMessageMoveTasksResultEntry {
                task_handle: Some("t".into()),
                status: "RUNNING".into(),
                source_arn: "s".into(),
                destination_arn: None,
                max_number_of_messages_per_second: Some(5),
                approximate_number_of_messages_moved: 2,
                approximate_number_of_messages_to_move: Some(10),
                failure_reason: None,
                started_timestamp: 1700000000000,
            }],
        },
    ));
    assert!(d.contains(
        "<ListMessageMoveTasksResult><ListMessageMoveTasksResultEntry><TaskHandle>t</TaskHandle>\
         <Status>RUNNING</Status><SourceArn>s</SourceArn><MaxNumberOfMessagesPerSecond>5</MaxNumberOfMessagesPerSecond>\
         <ApproximateNumberOfMessagesMoved>2</ApproximateNumberOfMessagesMoved>\
         <ApproximateNumberOfMessagesToMove>10</ApproximateNumberOfMessagesToMove>\
         <StartedTimestamp>1700000000000</StartedTimestamp></ListMessageMoveTasksResultEntry></ListMessageMoveTasksResult>"
    ), "{d}");
    let d = doc(&Response::StartMessageMoveTask(
        StartMessageMoveTaskResult {
            task_handle: "h".into(),
        },
    ));
    assert!(
        d.contains(
            "<StartMessageMoveTaskResult><TaskHandle>h</TaskHandle></StartMessageMoveTaskResult>"
        ),
        "{d}"
    );
}

#[test]
fn error_document() {
    assert_eq!(
        String::from_utf8(encode_error(&SqsError::queue_does_not_exist(), "req-9")).unwrap(),
        "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">\
         <Error><Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code>\
         <Message>The specified queue does not exist for this wsdl version.</Message><Detail/></Error>\
         <RequestId>req-9</RequestId></ErrorResponse>"
    );
    let d = String::from_utf8(encode_error(&SqsError::unavailable("try <later>"), "r")).unwrap();
    assert!(d.contains("<Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>try &lt;later&gt;</Message>"), "{d}");
}

#[test]
fn characters_xml_cannot_carry_are_replaced() {
    let mut out = String::new();
    escape_into(&mut out, "a\u{0}b\u{1b}c\u{FFFE}d\u{FFFF}e\u{7f}");
    assert_eq!(out, "a\u{FFFD}b\u{FFFD}c\u{FFFD}d\u{FFFD}e\u{7f}");
}
