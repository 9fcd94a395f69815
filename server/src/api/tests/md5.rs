//! MD5 digests against values published in SDK and emulator test suites, and against a
//! reference computation of the SDKs' algorithm (Python `hashlib`).

use crate::api::md5::{md5_of_attributes, md5_of_body};
use crate::api::model::{MessageAttributeValue, MessageAttributes};

fn attrs(list: &[(&str, MessageAttributeValue)]) -> MessageAttributes {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[test]
fn body_digest_is_md5_of_utf8_bytes() {
    assert_eq!(
        md5_of_body("hello world"),
        "5eb63bbbe01eeed093cb22bb8f5acdc3"
    );
    assert_eq!(
        md5_of_body("h\u{e9}llo \u{1F600}\r\n"),
        "4bd70018275298aae8737b6cb2da518a"
    );
}

#[test]
fn single_number_attribute_matches_published_value() {
    // Published in LocalStack's SQS unit tests.
    let a = attrs(&[("timestamp", MessageAttributeValue::number("1493147359900"))]);
    assert_eq!(
        md5_of_attributes(&a).as_deref(),
        Some("235c5c510d26fb653d073faed50ae77c")
    );
}

#[test]
fn attributes_are_digested_in_name_order() {
    // Published in sqslite's tests (computed there with aws-sdk-go-v2 types).
    let a = attrs(&[
        ("ordinal", MessageAttributeValue::number("1")),
        ("category", MessageAttributeValue::string("test")),
    ]);
    assert_eq!(
        md5_of_attributes(&a).as_deref(),
        Some("d21ae90c49061e927f57df5f5d72be1f")
    );
}

#[test]
fn string_attribute_matches_published_value() {
    // Published in the checksum tests of an open-source JavaScript SQS client.
    let a = attrs(&[("SellerName", MessageAttributeValue::string("Example Store"))]);
    assert_eq!(
        md5_of_attributes(&a).as_deref(),
        Some("cd28f3b68aeee4b2eac9c66f2f694b58")
    );
}

#[test]
fn binary_and_custom_types_use_transport_byte_two_and_full_type_name() {
    // Reference: the SDK algorithm in Python over the same attributes.
    let mut custom = MessageAttributeValue::string("h\u{e9}llo \u{1F600}");
    custom.data_type = "String.custom".into();
    let a = attrs(&[
        ("bin", MessageAttributeValue::binary(vec![0u8, 1, 2, 0xff])),
        ("s", custom),
    ]);
    assert_eq!(
        md5_of_attributes(&a).as_deref(),
        Some("32b7c7d535f654d6c3bc342401680f1e")
    );
}

#[test]
fn system_attribute_digest() {
    let a = attrs(&[(
        "AWSTraceHeader",
        MessageAttributeValue::string(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        ),
    )]);
    assert_eq!(
        md5_of_attributes(&a).as_deref(),
        Some("5ae4d5d7636402d80f4eb6d213245a88")
    );
}

#[test]
fn no_attributes_no_digest() {
    assert_eq!(md5_of_attributes(&MessageAttributes::new()), None);
}

#[test]
fn digest_depends_on_type_and_value() {
    let s = attrs(&[("a", MessageAttributeValue::string("1"))]);
    let n = attrs(&[("a", MessageAttributeValue::number("1"))]);
    let b = attrs(&[("a", MessageAttributeValue::binary(b"1".to_vec()))]);
    let all = [
        md5_of_attributes(&s),
        md5_of_attributes(&n),
        md5_of_attributes(&b),
    ];
    assert_ne!(all[0], all[1]);
    assert_ne!(all[0], all[2]);
    assert_ne!(all[1], all[2]);
}

#[test]
fn mixed_binary_number_and_string_attributes() {
    // Reference: the SDK algorithm in Python (see gen_botocore_json.py in the fixtures).
    let a = attrs(&[
        ("b", MessageAttributeValue::binary(b"\x00\x01".to_vec())),
        ("n", MessageAttributeValue::number("1.5")),
        ("s", MessageAttributeValue::string("x\ry")),
    ]);
    assert_eq!(
        md5_of_attributes(&a).as_deref(),
        Some("e0cf36f03da001d94d1cd38f02b8c5f9")
    );
    assert_eq!(
        md5_of_body("line1\r\nline2\r<&>\"'\t\u{e9}\u{1F600}]]>"),
        "0c585eb07770ea4beb3154d74b4bf0cb"
    );
}
