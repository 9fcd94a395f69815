//! The MD5 digests SQS returns and the SDKs verify.
//!
//! * `MD5OfMessageBody` / `MD5OfBody`: hex MD5 of the body's UTF-8 bytes.
//! * `MD5OfMessageAttributes` / `MD5OfMessageSystemAttributes`: hex MD5 over the
//!   attributes in name order; for each: the name, the data type (each as a 4-byte
//!   big-endian length and the bytes), one transport byte (1 string, 2 binary,
//!   3 string list, 4 binary list) and the value(s), each length-prefixed the same way.
//!   The transport byte follows which value member is set, as the SDKs compute it.

use crate::api::model::{MessageAttributeValue, MessageAttributes};
use md5::{Digest, Md5};

/// Hex MD5 of a message body.
pub fn md5_of_body(body: &str) -> String {
    hex::encode(Md5::digest(body.as_bytes()))
}

/// Hex MD5 of message (or message system) attributes; `None` when there are none, as
/// AWS then omits the member.
pub fn md5_of_attributes(attributes: &MessageAttributes) -> Option<String> {
    if attributes.is_empty() {
        return None;
    }
    let mut md5 = Md5::new();
    for (name, value) in attributes {
        update_attribute(&mut md5, name, value);
    }
    Some(hex::encode(md5.finalize()))
}

fn length_prefixed(md5: &mut Md5, bytes: &[u8]) {
    // Values are bounded by the request size (far below 4 GiB); saturate rather than wrap.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    md5.update(len.to_be_bytes());
    md5.update(bytes);
}

fn update_attribute(md5: &mut Md5, name: &str, value: &MessageAttributeValue) {
    length_prefixed(md5, name.as_bytes());
    length_prefixed(md5, value.data_type.as_bytes());
    if let Some(s) = &value.string_value {
        md5.update([1u8]);
        length_prefixed(md5, s.as_bytes());
    } else if let Some(b) = &value.binary_value {
        md5.update([2u8]);
        length_prefixed(md5, b);
    } else if !value.string_list_values.is_empty() {
        md5.update([3u8]);
        for s in &value.string_list_values {
            length_prefixed(md5, s.as_bytes());
        }
    } else if !value.binary_list_values.is_empty() {
        md5.update([4u8]);
        for b in &value.binary_list_values {
            length_prefixed(md5, b);
        }
    }
}
