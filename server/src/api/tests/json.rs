//! AWS JSON 1.0: decoding, type errors, exact response bytes, error rendering.

use super::code;
use crate::api::json::{
    action_from_target, decode_body, encode_error, encode_response, query_error_header,
};
use crate::api::md5::{md5_of_attributes, md5_of_body};
use crate::api::model::*;
use crate::error::{ErrorCode, SqsError};
use std::collections::BTreeMap;

const URL: &str = "http://localhost:9324/000000000000/q1";

fn decode(action: Action, body: &str) -> crate::error::SqsResult<Request> {
    decode_body(action, body.as_bytes(), None)
}

#[test]
fn target_names_the_action() {
    assert_eq!(
        action_from_target(Some("AmazonSQS.SendMessage")),
        Ok(Action::SendMessage)
    );
    for bad in [
        None,
        Some(""),
        Some("AmazonSQS."),
        Some("AmazonSQS.sendmessage"),
        Some("AmazonSQS.Nope"),
        Some("DynamoDB_20120810.SendMessage"),
        Some("SendMessage"),
    ] {
        assert_eq!(
            code(action_from_target(bad)),
            ErrorCode::UnknownOperation,
            "{bad:?}"
        );
    }
}

#[test]
fn send_message_with_every_member() {
    let body = r#"{
        "QueueUrl": "http://localhost:9324/000000000000/q1",
        "MessageBody": "hi",
        "DelaySeconds": 5,
        "MessageAttributes": {
            "s": {"DataType": "String", "StringValue": "v"},
            "b": {"DataType": "Binary", "BinaryValue": "AAEC/w=="},
            "l": {"DataType": "String", "StringListValues": ["x", "y"], "BinaryListValues": ["AQ=="]}
        },
        "MessageSystemAttributes": {
            "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1"}
        },
        "MessageDeduplicationId": "d",
        "MessageGroupId": "g",
        "SomethingNew": {"ignored": true}
    }"#;
    let Request::SendMessage(r) = decode(Action::SendMessage, body).unwrap() else {
        panic!("wrong variant")
    };
    assert_eq!(r.queue_url, URL);
    assert_eq!(r.message_body, "hi");
    assert_eq!(r.delay_seconds, Some(5));
    assert_eq!(
        r.message_attributes["s"],
        MessageAttributeValue::string("v")
    );
    assert_eq!(
        r.message_attributes["b"],
        MessageAttributeValue::binary(vec![0u8, 1, 2, 255])
    );
    assert_eq!(r.message_attributes["l"].string_list_values, ["x", "y"]);
    assert_eq!(r.message_attributes["l"].binary_list_values, [vec![1u8]]);
    assert_eq!(
        r.message_system_attributes["AWSTraceHeader"],
        MessageAttributeValue::string("Root=1")
    );
    assert_eq!(r.message_deduplication_id.as_deref(), Some("d"));
    assert_eq!(r.message_group_id.as_deref(), Some("g"));
}

#[test]
fn requests_round_trip_through_their_json_form() {
    // The model's serde names are the AWS member names, so serializing a request and
    // decoding it as a wire request must give it back.
    let mut attrs = MessageAttributes::new();
    attrs.insert("n".into(), MessageAttributeValue::number("-1.5e3"));
    attrs.insert(
        "b".into(),
        MessageAttributeValue::binary(b"\x00\xff".to_vec()),
    );
    let requests = vec![
        Request::SendMessageBatch(SendMessageBatchRequest {
            queue_url: URL.into(),
            entries: vec![
                SendMessageBatchRequestEntry {
                    id: "a".into(),
                    message_body: "one\r\n".into(),
                    delay_seconds: Some(0),
                    message_attributes: attrs.clone(),
                    ..Default::default()
                },
                SendMessageBatchRequestEntry {
                    id: "b".into(),
                    message_body: "two".into(),
                    message_group_id: Some("g".into()),
                    ..Default::default()
                },
            ],
        }),
        Request::CreateQueue(CreateQueueRequest {
            queue_name: "q.fifo".into(),
            attributes: BTreeMap::from([("FifoQueue".into(), "true".into())]),
            tags: BTreeMap::from([("team".into(), "a".into())]),
        }),
        Request::ReceiveMessage(ReceiveMessageRequest {
            queue_url: URL.into(),
            attribute_names: vec!["All".into()],
            message_system_attribute_names: vec!["SentTimestamp".into()],
            message_attribute_names: vec!["All".into()],
            max_number_of_messages: Some(10),
            visibility_timeout: Some(30),
            wait_time_seconds: Some(20),
            receive_request_attempt_id: Some("x".into()),
        }),
        Request::ChangeMessageVisibilityBatch(ChangeMessageVisibilityBatchRequest {
            queue_url: URL.into(),
            entries: vec![ChangeMessageVisibilityBatchRequestEntry {
                id: "1".into(),
                receipt_handle: "rh".into(),
                visibility_timeout: Some(60),
            }],
        }),
        Request::AddPermission(AddPermissionRequest {
            queue_url: URL.into(),
            label: "l".into(),
            aws_account_ids: vec!["123456789012".into()],
            actions: vec!["SendMessage".into()],
        }),
        Request::GetQueueUrl(GetQueueUrlRequest {
            queue_name: "q".into(),
            queue_owner_aws_account_id: Some("123456789012".into()),
        }),
        Request::StartMessageMoveTask(StartMessageMoveTaskRequest {
            source_arn: "arn:aws:sqs:us-east-1:000000000000:dlq".into(),
            destination_arn: None,
            max_number_of_messages_per_second: Some(50),
        }),
    ];
    for request in requests {
        let body = match &request {
            Request::SendMessageBatch(r) => serde_json::to_vec(r),
            Request::CreateQueue(r) => serde_json::to_vec(r),
            Request::ReceiveMessage(r) => serde_json::to_vec(r),
            Request::ChangeMessageVisibilityBatch(r) => serde_json::to_vec(r),
            Request::AddPermission(r) => serde_json::to_vec(r),
            Request::GetQueueUrl(r) => serde_json::to_vec(r),
            Request::StartMessageMoveTask(r) => serde_json::to_vec(r),
            _ => unreachable!(),
        }
        .unwrap();
        assert_eq!(
            decode_body(request.action(), &body, None).as_ref(),
            Ok(&request),
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
}

#[test]
fn create_queue_tags_member_is_lower_case() {
    let r = decode(
        Action::CreateQueue,
        r#"{"QueueName":"q","tags":{"a":"1"},"Tags":{"b":"2"}}"#,
    )
    .unwrap();
    let Request::CreateQueue(r) = r else { panic!() };
    assert_eq!(r.tags, BTreeMap::from([("a".to_string(), "1".to_string())]));
}

#[test]
fn null_is_absent_and_required_members_are_reported() {
    let r = decode(
        Action::ReceiveMessage,
        &format!(r#"{{"QueueUrl":"{URL}","MaxNumberOfMessages":null,"AttributeNames":null}}"#),
    )
    .unwrap();
    let Request::ReceiveMessage(r) = r else {
        panic!()
    };
    assert_eq!(r.max_number_of_messages, None);
    assert!(r.attribute_names.is_empty());

    let e = decode(
        Action::SendMessage,
        r#"{"QueueUrl":null,"MessageBody":"x"}"#,
    )
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::MissingParameter);
    assert!(e.message.contains("QueueUrl"), "{}", e.message);

    let e = decode(
        Action::DeleteMessageBatch,
        &format!(r#"{{"QueueUrl":"{URL}","Entries":[{{"Id":"1"}}]}}"#),
    )
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::MissingParameter);
    assert!(
        e.message.contains("Entries.1.ReceiptHandle"),
        "{}",
        e.message
    );

    assert_eq!(
        code(decode(
            Action::ChangeMessageVisibility,
            &format!(r#"{{"QueueUrl":"{URL}","ReceiptHandle":"r"}}"#)
        )),
        ErrorCode::MissingParameter
    );
}

#[test]
fn empty_body_is_an_empty_structure() {
    assert_eq!(
        decode(Action::ListQueues, ""),
        Ok(Request::ListQueues(ListQueuesRequest::default()))
    );
    assert_eq!(
        code(decode(Action::DeleteQueue, " ")),
        ErrorCode::MissingParameter
    );
}

#[test]
fn wrong_member_types_are_serialization_errors() {
    let cases = [
        (
            Action::ReceiveMessage,
            format!(r#"{{"QueueUrl":"{URL}","MaxNumberOfMessages":"10"}}"#),
        ),
        (
            Action::ReceiveMessage,
            format!(r#"{{"QueueUrl":"{URL}","MaxNumberOfMessages":1.5}}"#),
        ),
        (
            Action::ReceiveMessage,
            format!(r#"{{"QueueUrl":"{URL}","WaitTimeSeconds":3000000000}}"#),
        ),
        (
            Action::ReceiveMessage,
            format!(r#"{{"QueueUrl":"{URL}","VisibilityTimeout":true}}"#),
        ),
        (
            Action::ReceiveMessage,
            format!(r#"{{"QueueUrl":"{URL}","AttributeNames":"All"}}"#),
        ),
        (
            Action::ReceiveMessage,
            format!(r#"{{"QueueUrl":"{URL}","AttributeNames":[1]}}"#),
        ),
        (Action::DeleteQueue, r#"{"QueueUrl":5}"#.to_string()),
        (Action::DeleteQueue, r#"{"QueueUrl":["u"]}"#.to_string()),
        (
            Action::CreateQueue,
            r#"{"QueueName":"q","Attributes":{"a":1}}"#.to_string(),
        ),
        (
            Action::CreateQueue,
            r#"{"QueueName":"q","Attributes":[]}"#.to_string(),
        ),
        (
            Action::SendMessageBatch,
            format!(r#"{{"QueueUrl":"{URL}","Entries":{{}}}}"#),
        ),
        (
            Action::SendMessageBatch,
            format!(r#"{{"QueueUrl":"{URL}","Entries":["x"]}}"#),
        ),
        (
            Action::SendMessage,
            format!(r#"{{"QueueUrl":"{URL}","MessageBody":"b","MessageAttributes":{{"a":"x"}}}}"#),
        ),
        (
            Action::SendMessage,
            format!(
                r#"{{"QueueUrl":"{URL}","MessageBody":"b","MessageAttributes":{{"a":{{"DataType":"Binary","BinaryValue":"not base64!"}}}}}}"#
            ),
        ),
        (
            Action::SendMessage,
            format!(
                r#"{{"QueueUrl":"{URL}","MessageBody":"b","MessageAttributes":{{"a":{{"DataType":"Binary","BinaryValue":5}}}}}}"#
            ),
        ),
        (
            Action::SendMessage,
            format!(
                r#"{{"QueueUrl":"{URL}","MessageBody":"b","MessageAttributes":{{"a":{{"DataType":"String","StringListValues":[null]}}}}}}"#
            ),
        ),
        (
            Action::SendMessage,
            format!(r#"{{"QueueUrl":"{URL}","MessageBody":{{}}}}"#),
        ),
        (Action::ListQueues, "[]".to_string()),
        (Action::ListQueues, "\"x\"".to_string()),
        (Action::ListQueues, "{".to_string()),
        (Action::ListQueues, "{\"a\":1}}".to_string()),
        (
            Action::ListQueues,
            "{\"QueueNamePrefix\":\"\\ud800\"}".to_string(),
        ),
    ];
    for (action, body) in cases {
        assert_eq!(
            code(decode(action, &body)),
            ErrorCode::SerializationException,
            "{body}"
        );
    }
    // Invalid UTF-8.
    assert_eq!(
        code(decode_body(
            Action::ListQueues,
            b"{\"QueueNamePrefix\":\"\xff\"}",
            None
        )),
        ErrorCode::SerializationException
    );
}

#[test]
fn queue_url_from_the_path_fills_an_absent_member_only() {
    let from_path = "http://h/1/fromPath";
    let r = decode_body(Action::PurgeQueue, b"{}", Some(from_path)).unwrap();
    assert_eq!(r.queue_url(), Some(from_path));
    let r = decode_body(
        Action::PurgeQueue,
        format!(r#"{{"QueueUrl":"{URL}"}}"#).as_bytes(),
        Some(from_path),
    )
    .unwrap();
    assert_eq!(r.queue_url(), Some(URL));
}

#[test]
fn send_message_result_exact_bytes() {
    let mut attrs = MessageAttributes::new();
    attrs.insert("a".into(), MessageAttributeValue::string("b"));
    let r = Response::SendMessage(SendMessageResult {
        md5_of_message_body: md5_of_body("hello"),
        md5_of_message_attributes: md5_of_attributes(&attrs),
        md5_of_message_system_attributes: None,
        message_id: "5fea7756-0ea4-451a-a703-a558b933e274".into(),
        sequence_number: None,
    });
    let expected = format!(
        r#"{{"MD5OfMessageBody":"5d41402abc4b2a76b9719d911017c592","MD5OfMessageAttributes":"{}","MessageId":"5fea7756-0ea4-451a-a703-a558b933e274"}}"#,
        md5_of_attributes(&attrs).unwrap()
    );
    assert_eq!(String::from_utf8(encode_response(&r)).unwrap(), expected);
}

#[test]
fn receive_message_result_exact_bytes() {
    let mut message_attributes = MessageAttributes::new();
    message_attributes.insert(
        "b".into(),
        MessageAttributeValue::binary(b"\x00\x01".to_vec()),
    );
    let r = Response::ReceiveMessage(ReceiveMessageResult {
        messages: vec![Message {
            message_id: "m1".into(),
            receipt_handle: "rh1".into(),
            md5_of_body: md5_of_body("a\"b\r\n"),
            body: "a\"b\r\n".into(),
            attributes: BTreeMap::from([("SentTimestamp".into(), "1700000000000".into())]),
            md5_of_message_attributes: md5_of_attributes(&message_attributes),
            message_attributes,
        }],
    });
    let expected = format!(
        r#"{{"Messages":[{{"MessageId":"m1","ReceiptHandle":"rh1","MD5OfBody":"{}","Body":"a\"b\r\n","Attributes":{{"SentTimestamp":"1700000000000"}},"MD5OfMessageAttributes":"{}","MessageAttributes":{{"b":{{"BinaryValue":"AAE=","DataType":"Binary"}}}}}}]}}"#,
        md5_of_body("a\"b\r\n"),
        md5_of_attributes(&BTreeMap::from([(
            "b".to_string(),
            MessageAttributeValue::binary(b"\x00\x01".to_vec())
        )]))
        .unwrap()
    );
    assert_eq!(String::from_utf8(encode_response(&r)).unwrap(), expected);
    // An empty receive is `{}`.
    assert_eq!(
        encode_response(&Response::ReceiveMessage(ReceiveMessageResult::default())),
        b"{}"
    );
}

#[test]
fn empty_and_required_members_in_results() {
    assert_eq!(encode_response(&Response::DeleteQueue), b"{}");
    assert_eq!(
        encode_response(&Response::ListQueues(ListQueuesResult::default())),
        b"{}"
    );
    assert_eq!(
        encode_response(&Response::ListDeadLetterSourceQueues(
            ListDeadLetterSourceQueuesResult::default()
        )),
        br#"{"queueUrls":[]}"#
    );
    let batch = Response::DeleteMessageBatch(DeleteMessageBatchResult {
        successful: vec![BatchResultEntry { id: "a".into() }],
        failed: vec![BatchResultErrorEntry::from_error(
            "b",
            &SqsError::new(
                ErrorCode::ReceiptHandleIsInvalid,
                "The input receipt handle is invalid.",
            ),
        )],
    });
    assert_eq!(
        String::from_utf8(encode_response(&batch)).unwrap(),
        r#"{"Successful":[{"Id":"a"}],"Failed":[{"Id":"b","SenderFault":true,"Code":"ReceiptHandleIsInvalid","Message":"The input receipt handle is invalid."}]}"#
    );
    // Empty batch lists are left out, as AWS does.
    let sent = Response::SendMessageBatch(SendMessageBatchResult {
        successful: vec![SendMessageBatchResultEntry {
            id: "a".into(),
            message_id: "m".into(),
            md5_of_message_body: "d".into(),
            ..Default::default()
        }],
        failed: Vec::new(),
    });
    assert_eq!(
        String::from_utf8(encode_response(&sent)).unwrap(),
        r#"{"Successful":[{"Id":"a","MessageId":"m","MD5OfMessageBody":"d"}]}"#
    );
    for empty in [
        Response::SendMessageBatch(SendMessageBatchResult::default()),
        Response::DeleteMessageBatch(DeleteMessageBatchResult::default()),
        Response::ChangeMessageVisibilityBatch(ChangeMessageVisibilityBatchResult::default()),
    ] {
        assert_eq!(encode_response(&empty), b"{}", "{empty:?}");
    }
    assert_eq!(
        encode_response(&Response::CancelMessageMoveTask(
            CancelMessageMoveTaskResult {
                approximate_number_of_messages_moved: 7
            }
        )),
        br#"{"ApproximateNumberOfMessagesMoved":7}"#
    );
}

#[test]
fn errors_render_with_type_message_and_query_header() {
    let e = SqsError::queue_does_not_exist();
    assert_eq!(
        String::from_utf8(encode_error(&e)).unwrap(),
        r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#
    );
    assert_eq!(
        query_error_header(&e),
        "AWS.SimpleQueueService.NonExistentQueue;Sender"
    );
    let e = SqsError::internal("boom");
    assert_eq!(query_error_header(&e), "InternalFailure;Receiver");
    let e = SqsError::new(ErrorCode::UnknownOperation, "");
    assert_eq!(
        String::from_utf8(encode_error(&e)).unwrap(),
        r#"{"__type":"com.amazon.coral.service#UnknownOperationException"}"#
    );
}

#[test]
fn framework_errors_carry_their_json_names_and_keep_the_query_code_in_the_header() {
    for (error, json, query) in [
        (
            SqsError::invalid_parameter("x"),
            "com.amazon.coral.service#InvalidParameterValueException",
            "InvalidParameterValue;Sender",
        ),
        (
            SqsError::missing_parameter("QueueUrl"),
            "com.amazon.coral.service#MissingRequiredParameterException",
            "MissingParameter;Sender",
        ),
        (
            SqsError::new(ErrorCode::AccessDenied, "x"),
            "com.amazon.coral.service#AccessDeniedException",
            "AccessDenied;Sender",
        ),
        (
            SqsError::new(ErrorCode::QueueNameExists, "x"),
            "com.amazonaws.sqs#QueueNameExists",
            "QueueAlreadyExists;Sender",
        ),
    ] {
        let body: serde_json::Value = serde_json::from_slice(&encode_error(&error)).unwrap();
        assert_eq!(body["__type"], json);
        assert_eq!(query_error_header(&error), query);
    }
}
