//! State-free syntax rules.

use super::code;
use crate::api::model::*;
use crate::api::validate::*;
use crate::error::ErrorCode;

#[test]
fn queue_names() {
    assert_eq!(queue_name("a"), Ok(false));
    assert_eq!(queue_name("My-queue_1"), Ok(false));
    assert_eq!(queue_name("q.fifo"), Ok(true));
    assert_eq!(queue_name(&"a".repeat(80)), Ok(false));
    assert_eq!(queue_name(&format!("{}.fifo", "a".repeat(75))), Ok(true));
    for bad in [
        String::new(),
        ".fifo".into(),
        "a".repeat(81),
        format!("{}.fifo", "a".repeat(76)),
        "a.b".into(),
        "q.FIFO".into(),
        "q fifo".into(),
        "q/x".into(),
        "\u{e9}".into(),
        "q.fifo.fifo".into(),
    ] {
        assert_eq!(
            code(queue_name(&bad)),
            ErrorCode::InvalidParameterValue,
            "{bad}"
        );
    }
}

#[test]
fn batch_entry_ids() {
    assert_eq!(batch_entry_id("a-B_9"), Ok(()));
    assert_eq!(batch_entry_id(&"x".repeat(80)), Ok(()));
    for bad in [
        String::new(),
        "x".repeat(81),
        "a.b".into(),
        "a b".into(),
        "\u{e9}".into(),
    ] {
        assert_eq!(code(batch_entry_id(&bad)), ErrorCode::InvalidBatchEntryId);
    }
    assert_eq!(code(batch_ids("E", [])), ErrorCode::EmptyBatchRequest);
    let eleven: Vec<String> = (0..11).map(|i| i.to_string()).collect();
    assert_eq!(
        code(batch_ids("E", eleven.iter().map(String::as_str))),
        ErrorCode::TooManyEntriesInBatchRequest
    );
    assert_eq!(
        batch_ids("E", eleven[..10].iter().map(String::as_str)),
        Ok(())
    );
    assert_eq!(
        code(batch_ids("E", ["a", "b", "a"])),
        ErrorCode::BatchEntryIdsNotDistinct
    );
    assert_eq!(
        code(batch_ids("E", ["a", "b!"])),
        ErrorCode::InvalidBatchEntryId
    );
}

#[test]
fn body_characters() {
    assert_eq!(
        message_body("tab\there\nline\r\n\u{20}\u{D7FF}\u{E000}\u{FFFD}\u{10000}\u{10FFFF}"),
        Ok(())
    );
    let e = message_body("a\u{1}b").unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidMessageContents);
    assert!(e.message.contains("#x1"), "{}", e.message);
    for bad in [
        "\u{0}", "\u{8}", "\u{B}", "\u{C}", "\u{1F}", "\u{FFFE}", "\u{FFFF}",
    ] {
        assert_eq!(
            code(message_body(bad)),
            ErrorCode::InvalidMessageContents,
            "{bad:?}"
        );
    }
    assert_eq!(code(message_body("")), ErrorCode::MissingParameter);
}

#[test]
fn attribute_names() {
    for ok in [
        "a",
        "A.b-c_d",
        "aws",
        "AWSx.y",
        "amazon",
        "x.AWS.y",
        "attr.1\u{f8}\u{df}\u{e4}",
        "\u{e9}",
        &"n".repeat(256),
        &"\u{f8}".repeat(256),
    ] {
        assert_eq!(message_attribute_name(ok), Ok(()), "{ok}");
    }
    for bad in [
        String::new(),
        "n".repeat(257),
        ".a".into(),
        "a.".into(),
        "a..b".into(),
        "AWS.x".into(),
        "aws.x".into(),
        "Amazon.x".into(),
        "aMaZoN.x".into(),
        "a b".into(),
        "a/b".into(),
        "a\u{2713}".into(),
        "\u{f8}".repeat(257),
    ] {
        assert_eq!(
            code(message_attribute_name(&bad)),
            ErrorCode::InvalidParameterValue,
            "{bad}"
        );
    }
}

#[test]
fn data_types() {
    assert_eq!(data_type("n", "String"), Ok(BaseType::String));
    assert_eq!(data_type("n", "Number.float"), Ok(BaseType::Number));
    assert_eq!(data_type("n", "Binary.gif-v2"), Ok(BaseType::Binary));
    assert_eq!(data_type("n", "String.a.b"), Ok(BaseType::String));
    for bad in [
        "",
        "string",
        "Str",
        "String.",
        "Stringx",
        "Binary x",
        "Number.\u{e9}",
        &format!("String.{}", "c".repeat(250)),
    ] {
        assert_eq!(
            code(data_type("n", bad)),
            ErrorCode::InvalidParameterValue,
            "{bad}"
        );
    }
}

#[test]
fn numbers() {
    for ok in [
        "0",
        "-1",
        "+1.5",
        "1.",
        ".5",
        "1e10",
        "-1.5E-3",
        "00012",
        &"9".repeat(38),
    ] {
        assert!(is_number(ok), "{ok}");
    }
    for bad in [
        "",
        "-",
        ".",
        "1e",
        "e5",
        "1.2.3",
        "abc",
        "1 ",
        "0x10",
        "NaN",
        &"9".repeat(39),
        "1e1234",
    ] {
        assert!(!is_number(bad), "{bad}");
    }
}

#[test]
fn attribute_values() {
    assert_eq!(
        message_attribute("a", &MessageAttributeValue::string("x")),
        Ok(())
    );
    assert_eq!(
        message_attribute("a", &MessageAttributeValue::number("12.5")),
        Ok(())
    );
    assert_eq!(
        message_attribute("a", &MessageAttributeValue::binary(vec![0u8])),
        Ok(())
    );
    let wrong_field = MessageAttributeValue {
        binary_value: Some(vec![1]),
        data_type: "String".into(),
        ..Default::default()
    };
    let both = MessageAttributeValue {
        string_value: Some("x".into()),
        binary_value: Some(vec![1]),
        data_type: "Binary".into(),
        ..Default::default()
    };
    let list = MessageAttributeValue {
        string_list_values: vec!["x".into()],
        data_type: "String".into(),
        ..Default::default()
    };
    let no_type = MessageAttributeValue {
        string_value: Some("x".into()),
        ..Default::default()
    };
    for bad in [
        wrong_field,
        both,
        list,
        no_type,
        MessageAttributeValue::string(""),
        MessageAttributeValue::number("ten"),
        MessageAttributeValue::binary(Vec::new()),
    ] {
        assert_eq!(
            code(message_attribute("a", &bad)),
            ErrorCode::InvalidParameterValue,
            "{bad:?}"
        );
    }
    assert_eq!(
        code(message_attribute(
            "a",
            &MessageAttributeValue::string("\u{0}")
        )),
        ErrorCode::InvalidParameterValue
    );
    let ten: MessageAttributes = (0..10)
        .map(|i| (format!("a{i}"), MessageAttributeValue::string("v")))
        .collect();
    assert_eq!(message_attributes(&ten), Ok(()));
    let mut eleven = ten.clone();
    eleven.insert("z".into(), MessageAttributeValue::string("v"));
    assert_eq!(
        code(message_attributes(&eleven)),
        ErrorCode::InvalidParameterValue
    );
}

#[test]
fn system_attributes() {
    let ok: MessageAttributes = [(
        "AWSTraceHeader".to_string(),
        MessageAttributeValue::string("Root=1"),
    )]
    .into();
    assert_eq!(message_system_attributes(&ok), Ok(()));
    let other: MessageAttributes =
        [("Other".to_string(), MessageAttributeValue::string("x"))].into();
    assert_eq!(
        code(message_system_attributes(&other)),
        ErrorCode::InvalidParameterValue
    );
    let binary: MessageAttributes = [(
        "AWSTraceHeader".to_string(),
        MessageAttributeValue::binary(vec![1u8]),
    )]
    .into();
    assert_eq!(
        code(message_system_attributes(&binary)),
        ErrorCode::InvalidParameterValue
    );
}

#[test]
fn size_counts_body_and_attribute_parts() {
    let attrs: MessageAttributes = [
        ("ab".to_string(), MessageAttributeValue::string("xyz")),
        ("c".to_string(), MessageAttributeValue::binary(vec![1u8, 2])),
    ]
    .into();
    // body 4 (é is 2 bytes) + (2 + 6 + 3) + (1 + 6 + 2)
    assert_eq!(message_size("\u{e9}ab", &attrs), 4 + 11 + 9);
}

#[test]
fn request_level_checks() {
    let url = "http://h/1/q".to_string();
    let send = |body: &str, delay: Option<i32>| {
        request(&Request::SendMessage(SendMessageRequest {
            queue_url: url.clone(),
            message_body: body.into(),
            delay_seconds: delay,
            ..Default::default()
        }))
    };
    assert_eq!(send("x", Some(900)), Ok(()));
    assert_eq!(code(send("x", Some(901))), ErrorCode::InvalidParameterValue);
    assert_eq!(code(send("x", Some(-1))), ErrorCode::InvalidParameterValue);
    assert_eq!(code(send("\u{8}", None)), ErrorCode::InvalidMessageContents);

    let receive = |max: Option<i32>, wait: Option<i32>, vis: Option<i32>| {
        request(&Request::ReceiveMessage(ReceiveMessageRequest {
            queue_url: url.clone(),
            max_number_of_messages: max,
            wait_time_seconds: wait,
            visibility_timeout: vis,
            ..Default::default()
        }))
    };
    assert_eq!(receive(Some(10), Some(20), Some(43200)), Ok(()));
    assert_eq!(receive(Some(1), Some(0), Some(0)), Ok(()));
    assert_eq!(
        code(receive(Some(0), None, None)),
        ErrorCode::InvalidParameterValue
    );
    assert_eq!(
        code(receive(Some(11), None, None)),
        ErrorCode::InvalidParameterValue
    );
    assert_eq!(
        code(receive(None, Some(21), None)),
        ErrorCode::InvalidParameterValue
    );
    assert_eq!(
        code(receive(None, None, Some(43201))),
        ErrorCode::InvalidParameterValue
    );

    assert_eq!(
        code(request(&Request::CreateQueue(CreateQueueRequest {
            queue_name: "bad name".into(),
            ..Default::default()
        }))),
        ErrorCode::InvalidParameterValue
    );
    assert_eq!(
        code(request(&Request::DeleteMessageBatch(
            DeleteMessageBatchRequest {
                queue_url: url.clone(),
                entries: vec![],
            }
        ))),
        ErrorCode::EmptyBatchRequest
    );
    // Per-entry problems are not request-level: they go to `Failed`.
    let batch = SendMessageBatchRequest {
        queue_url: url.clone(),
        entries: vec![SendMessageBatchRequestEntry {
            id: "a".into(),
            message_body: "\u{0}".into(),
            ..Default::default()
        }],
    };
    assert_eq!(request(&Request::SendMessageBatch(batch.clone())), Ok(()));
    assert_eq!(
        code(send_batch_entry(&batch.entries[0])),
        ErrorCode::InvalidMessageContents
    );
    let entry = ChangeMessageVisibilityBatchRequestEntry {
        id: "a".into(),
        receipt_handle: "r".into(),
        visibility_timeout: Some(43201),
    };
    assert_eq!(
        code(visibility_entry(&entry)),
        ErrorCode::InvalidParameterValue
    );
}

#[test]
fn add_permission_grants_only_what_others_may_do() {
    let add = |accounts: &[&str], actions: &[&str]| {
        request(&Request::AddPermission(AddPermissionRequest {
            queue_url: "q".into(),
            label: "l".into(),
            aws_account_ids: accounts.iter().map(|a| a.to_string()).collect(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        }))
    };
    assert_eq!(add(&["1"], &["SendMessage", "*", "PurgeQueue"]), Ok(()));
    for owner_only in [
        "AddPermission",
        "RemovePermission",
        "SetQueueAttributes",
        "DeleteQueue",
    ] {
        let e = add(&["1"], &[owner_only]).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParameterValue);
        assert_eq!(
            e.message,
            format!(
                "Value SQS:{owner_only} for parameter ActionName is invalid. Reason: Only the queue owner is allowed to invoke this action."
            )
        );
    }
    assert!(
        add(&["1"], &["Fly"])
            .unwrap_err()
            .message
            .contains("Please refer to the appropriate WSDL")
    );
    assert_eq!(code(add(&["1"], &[])), ErrorCode::MissingParameter);
    assert_eq!(
        code(add(&[], &["SendMessage"])),
        ErrorCode::InvalidParameterValue
    );
}

#[test]
fn tag_and_untag_need_something_to_do() {
    let tag = Request::TagQueue(TagQueueRequest {
        queue_url: "q".into(),
        tags: Default::default(),
    });
    assert_eq!(code(request(&tag)), ErrorCode::MissingParameter);
    let untag = Request::UntagQueue(UntagQueueRequest {
        queue_url: "q".into(),
        tag_keys: Vec::new(),
    });
    assert_eq!(code(request(&untag)), ErrorCode::MissingParameter);
}
