//! The Query protocol: form parsing, flattened lists and maps, errors.

use super::code;
use crate::api::model::*;
use crate::api::query::{Params, decode_params, parse_form};
use crate::error::ErrorCode;
use std::collections::BTreeMap;

const URL: &str = "http://localhost:9324/000000000000/q1";

fn params(form: &str) -> Params {
    let mut p = Params::new();
    parse_form(form.as_bytes(), &mut p).unwrap();
    p
}

fn decode(form: &str) -> crate::error::SqsResult<Request> {
    decode_params(&params(form), None)
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[test]
fn form_decoding() {
    let p = params("a=1+2&b=%E2%82%AC%0D%0A&c&=e&a=ignored&&d=x%3Dy");
    assert_eq!(p["a"], "1 2");
    assert_eq!(p["b"], "\u{20ac}\r\n");
    assert_eq!(p["c"], "");
    assert_eq!(p[""], "e");
    assert_eq!(p["d"], "x=y");
    let mut p = Params::new();
    assert_eq!(
        code(parse_form(b"MessageBody=%FF", &mut p)),
        ErrorCode::MalformedQueryString
    );
    assert_eq!(
        code(parse_form(b"Message\xffBody=x", &mut p)),
        ErrorCode::MalformedQueryString
    );
}

#[test]
fn action_is_required_and_must_be_known() {
    assert_eq!(code(decode("Version=2012-11-05")), ErrorCode::InvalidAction);
    assert_eq!(code(decode("Action=Frobnicate")), ErrorCode::InvalidAction);
    assert_eq!(code(decode("Action=sendmessage")), ErrorCode::InvalidAction);
    assert_eq!(
        decode("Action=ListQueues&Version=2012-11-05&QueueNamePrefix=a"),
        Ok(Request::ListQueues(ListQueuesRequest {
            queue_name_prefix: Some("a".into()),
            ..Default::default()
        }))
    );
}

#[test]
fn create_queue_attributes_and_tags() {
    let r = decode(
        "Action=CreateQueue&QueueName=q.fifo&Attribute.1.Name=FifoQueue&Attribute.1.Value=true\
         &Attribute.2.Name=VisibilityTimeout&Attribute.2.Value=60&Tag.1.Key=team&Tag.1.Value=",
    )
    .unwrap();
    assert_eq!(
        r,
        Request::CreateQueue(CreateQueueRequest {
            queue_name: "q.fifo".into(),
            attributes: BTreeMap::from([
                ("FifoQueue".into(), "true".into()),
                ("VisibilityTimeout".into(), "60".into())
            ]),
            tags: BTreeMap::from([("team".into(), "".into())]),
        })
    );
}

#[test]
fn map_entries_need_both_halves_and_distinct_keys() {
    let e = decode("Action=CreateQueue&QueueName=q&Attribute.1.Name=DelaySeconds").unwrap_err();
    assert_eq!(e.code, ErrorCode::MissingParameter);
    assert!(e.message.contains("Attribute.1.Value"), "{}", e.message);
    let e = decode("Action=CreateQueue&QueueName=q&Tag.3.Value=v").unwrap_err();
    assert!(e.message.contains("Tag.3.Key"), "{}", e.message);
    assert_eq!(
        code(decode(
            "Action=CreateQueue&QueueName=q&Attribute.1.Name=A&Attribute.1.Value=1&Attribute.2.Name=A&Attribute.2.Value=2"
        )),
        ErrorCode::InvalidParameterValue
    );
    // Required maps and lists.
    let e = decode(&format!("Action=SetQueueAttributes&QueueUrl={URL}")).unwrap_err();
    assert_eq!(e.code, ErrorCode::MissingParameter);
    assert!(e.message.contains("Attribute.1.Name"), "{}", e.message);
    let e = decode(&format!("Action=TagQueue&QueueUrl={URL}")).unwrap_err();
    assert!(e.message.contains("Tag.1.Key"), "{}", e.message);
    let e = decode(&format!("Action=UntagQueue&QueueUrl={URL}")).unwrap_err();
    assert!(e.message.contains("TagKey.1"), "{}", e.message);
}

#[test]
fn lists_follow_index_order_with_gaps_and_ignore_odd_indexes() {
    let r = decode(&format!(
        "Action=GetQueueAttributes&QueueUrl={URL}&AttributeName.10=C&AttributeName.2=B\
         &AttributeName.999999999=D&AttributeName.1=A&AttributeName.0=zero&AttributeName.01=lead\
         &AttributeName.99999999999999999999=huge&AttributeName.x=x&AttributeName.-1=neg&AttributeName.=e"
    ))
    .unwrap();
    let Request::GetQueueAttributes(r) = r else {
        panic!()
    };
    assert_eq!(r.attribute_names, ["A", "B", "C", "D"]);
}

#[test]
fn send_message_with_attributes() {
    let r = decode(&format!(
        "Action=SendMessage&QueueUrl={URL}&MessageBody={}&DelaySeconds=3\
         &MessageAttribute.1.Name=s&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue={}\
         &MessageAttribute.2.Name=b&MessageAttribute.2.Value.DataType=Binary&MessageAttribute.2.Value.BinaryValue={}\
         &MessageAttribute.3.Name=l&MessageAttribute.3.Value.DataType=String\
         &MessageAttribute.3.Value.StringListValue.2=y&MessageAttribute.3.Value.StringListValue.1=x\
         &MessageAttribute.3.Value.BinaryListValue.1=AQ%3D%3D\
         &MessageSystemAttribute.1.Name=AWSTraceHeader&MessageSystemAttribute.1.Value.DataType=String\
         &MessageSystemAttribute.1.Value.StringValue=Root%3D1\
         &MessageGroupId=g&MessageDeduplicationId=d",
        enc("a+b &\r\n\u{1F600}"),
        enc("v=1&2"),
        enc("AAEC/w=="),
    ))
    .unwrap();
    let Request::SendMessage(r) = r else { panic!() };
    assert_eq!(r.message_body, "a+b &\r\n\u{1F600}");
    assert_eq!(r.delay_seconds, Some(3));
    assert_eq!(
        r.message_attributes["s"],
        MessageAttributeValue::string("v=1&2")
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
    assert_eq!(r.message_group_id.as_deref(), Some("g"));
    assert_eq!(r.message_deduplication_id.as_deref(), Some("d"));
}

#[test]
fn attribute_errors() {
    let base = format!("Action=SendMessage&QueueUrl={URL}&MessageBody=x");
    let e = decode(&format!("{base}&MessageAttribute.1.Value.DataType=String")).unwrap_err();
    assert_eq!(e.code, ErrorCode::MissingParameter);
    assert!(
        e.message.contains("MessageAttribute.1.Name"),
        "{}",
        e.message
    );
    assert_eq!(
        code(decode(&format!(
            "{base}&MessageAttribute.1.Name=a&MessageAttribute.1.Value.DataType=Binary&MessageAttribute.1.Value.BinaryValue=%25%25"
        ))),
        ErrorCode::InvalidParameterValue
    );
    assert_eq!(
        code(decode(&format!(
            "{base}&MessageAttribute.1.Name=a&MessageAttribute.1.Value.StringValue=1&MessageAttribute.1.Value.DataType=String\
             &MessageAttribute.2.Name=a&MessageAttribute.2.Value.StringValue=2&MessageAttribute.2.Value.DataType=String"
        ))),
        ErrorCode::InvalidParameterValue
    );
    assert_eq!(
        code(decode(&format!("{base}&DelaySeconds=ten"))),
        ErrorCode::InvalidParameterValue
    );
    assert_eq!(
        code(decode(&format!("{base}&DelaySeconds=99999999999"))),
        ErrorCode::InvalidParameterValue
    );
}

#[test]
fn batch_entries_with_nested_attributes() {
    let r = decode(&format!(
        "Action=SendMessageBatch&QueueUrl={URL}\
         &SendMessageBatchRequestEntry.2.Id=second&SendMessageBatchRequestEntry.2.MessageBody=two\
         &SendMessageBatchRequestEntry.2.DelaySeconds=7\
         &SendMessageBatchRequestEntry.1.Id=first&SendMessageBatchRequestEntry.1.MessageBody=one\
         &SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=k\
         &SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=Number\
         &SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue=42"
    ))
    .unwrap();
    let Request::SendMessageBatch(r) = r else {
        panic!()
    };
    assert_eq!(r.entries.len(), 2);
    assert_eq!(r.entries[0].id, "first");
    assert_eq!(
        r.entries[0].message_attributes["k"],
        MessageAttributeValue::number("42")
    );
    assert_eq!(r.entries[1].id, "second");
    assert_eq!(r.entries[1].delay_seconds, Some(7));
    assert!(r.entries[1].message_attributes.is_empty());

    let e = decode(&format!(
        "Action=DeleteMessageBatch&QueueUrl={URL}&DeleteMessageBatchRequestEntry.4.Id=x"
    ))
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::MissingParameter);
    assert!(
        e.message
            .contains("DeleteMessageBatchRequestEntry.4.ReceiptHandle"),
        "{}",
        e.message
    );

    let r = decode(&format!(
        "Action=ChangeMessageVisibilityBatch&QueueUrl={URL}\
         &ChangeMessageVisibilityBatchRequestEntry.1.Id=a\
         &ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle=r%2Bh\
         &ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout=0"
    ))
    .unwrap();
    assert_eq!(
        r,
        Request::ChangeMessageVisibilityBatch(ChangeMessageVisibilityBatchRequest {
            queue_url: URL.into(),
            entries: vec![ChangeMessageVisibilityBatchRequestEntry {
                id: "a".into(),
                receipt_handle: "r+h".into(),
                visibility_timeout: Some(0),
            }],
        })
    );
}

#[test]
fn absent_batch_entries_decode_as_empty() {
    let r = decode(&format!("Action=DeleteMessageBatch&QueueUrl={URL}")).unwrap();
    let Request::DeleteMessageBatch(r) = r else {
        panic!()
    };
    assert!(r.entries.is_empty());
}

#[test]
fn receive_message_members() {
    let r = decode(&format!(
        "Action=ReceiveMessage&QueueUrl={URL}&AttributeName.1=All&MessageSystemAttributeName.1=SentTimestamp\
         &MessageSystemAttributeName.2=All&MessageAttributeName.1=.*&MaxNumberOfMessages=10\
         &VisibilityTimeout=0&WaitTimeSeconds=20&ReceiveRequestAttemptId=att"
    ))
    .unwrap();
    let Request::ReceiveMessage(r) = r else {
        panic!()
    };
    assert_eq!(r.attribute_names, ["All"]);
    assert_eq!(r.message_system_attribute_names, ["SentTimestamp", "All"]);
    assert_eq!(r.system_attribute_names(), ["All", "SentTimestamp"]);
    assert_eq!(r.message_attribute_names, [".*"]);
    assert_eq!(r.max_number_of_messages, Some(10));
    assert_eq!(r.visibility_timeout, Some(0));
    assert_eq!(r.wait_time_seconds, Some(20));
    assert_eq!(r.receive_request_attempt_id.as_deref(), Some("att"));
}

#[test]
fn permissions_and_tags() {
    let r = decode(&format!(
        "Action=AddPermission&QueueUrl={URL}&Label=l&AWSAccountId.1=111122223333&AWSAccountId.2=444455556666\
         &ActionName.1=SendMessage&ActionName.2=ReceiveMessage"
    ))
    .unwrap();
    assert_eq!(
        r,
        Request::AddPermission(AddPermissionRequest {
            queue_url: URL.into(),
            label: "l".into(),
            aws_account_ids: vec!["111122223333".into(), "444455556666".into()],
            actions: vec!["SendMessage".into(), "ReceiveMessage".into()],
        })
    );
    let r = decode(&format!(
        "Action=UntagQueue&QueueUrl={URL}&TagKey.1=a&TagKey.2=b"
    ))
    .unwrap();
    let Request::UntagQueue(r) = r else { panic!() };
    assert_eq!(r.tag_keys, ["a", "b"]);
    let r = decode(&format!(
        "Action=TagQueue&QueueUrl={URL}&Tag.1.Key=a&Tag.1.Value=1"
    ))
    .unwrap();
    let Request::TagQueue(r) = r else { panic!() };
    assert_eq!(r.tags, BTreeMap::from([("a".to_string(), "1".to_string())]));
}

#[test]
fn message_move_tasks_and_dlq_sources() {
    assert_eq!(
        decode(
            "Action=StartMessageMoveTask&SourceArn=arn:aws:sqs:r:1:dlq&MaxNumberOfMessagesPerSecond=5"
        ),
        Ok(Request::StartMessageMoveTask(StartMessageMoveTaskRequest {
            source_arn: "arn:aws:sqs:r:1:dlq".into(),
            destination_arn: None,
            max_number_of_messages_per_second: Some(5),
        }))
    );
    assert_eq!(
        decode("Action=ListMessageMoveTasks&SourceArn=a&MaxResults=3"),
        Ok(Request::ListMessageMoveTasks(ListMessageMoveTasksRequest {
            source_arn: "a".into(),
            max_results: Some(3),
        }))
    );
    assert_eq!(
        decode("Action=CancelMessageMoveTask&TaskHandle=t"),
        Ok(Request::CancelMessageMoveTask(
            CancelMessageMoveTaskRequest {
                task_handle: "t".into()
            }
        ))
    );
    assert_eq!(
        code(decode("Action=CancelMessageMoveTask")),
        ErrorCode::MissingParameter
    );
    assert_eq!(
        decode(&format!(
            "Action=ListDeadLetterSourceQueues&QueueUrl={URL}&MaxResults=2&NextToken=n"
        )),
        Ok(Request::ListDeadLetterSourceQueues(
            ListDeadLetterSourceQueuesRequest {
                queue_url: URL.into(),
                next_token: Some("n".into()),
                max_results: Some(2),
            }
        ))
    );
}

#[test]
fn queue_url_may_come_from_the_path() {
    let p = params("Action=DeleteMessage&ReceiptHandle=rh");
    let r = decode_params(&p, Some("http://h:1/000000000000/q1")).unwrap();
    assert_eq!(r.queue_url(), Some("http://h:1/000000000000/q1"));
    // An explicit parameter wins.
    let p = params(&format!("Action=PurgeQueue&QueueUrl={URL}"));
    let r = decode_params(&p, Some("http://h:1/000000000000/other")).unwrap();
    assert_eq!(r.queue_url(), Some(URL));
    // Without either, the parameter is missing.
    assert_eq!(
        code(decode_params(&params("Action=PurgeQueue"), None)),
        ErrorCode::MissingParameter
    );
}
