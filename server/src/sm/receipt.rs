//! Receipt handles on the wire: an opaque, URL-safe string naming the queue, the message
//! and which receive of it. Apply checks the token against the message's current one, and
//! quotes a handle in its error messages as the client sent it, so the form lives here.

use super::command::ReceiptHandle;
use crate::error::{ErrorCode, SqsError, SqsResult, texts};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

const VERSION: u8 = 1;
const LEN: usize = 1 + 8 * 3;

/// Encodes a handle.
pub fn encode(handle: &ReceiptHandle) -> String {
    let mut bytes = Vec::with_capacity(LEN);
    bytes.push(VERSION);
    bytes.extend_from_slice(&handle.queue_id.to_be_bytes());
    bytes.extend_from_slice(&handle.seq.to_be_bytes());
    bytes.extend_from_slice(&handle.token.to_be_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes a handle; anything malformed is `ReceiptHandleIsInvalid`.
pub fn decode(text: &str) -> SqsResult<ReceiptHandle> {
    let invalid = || {
        SqsError::new(
            ErrorCode::ReceiptHandleIsInvalid,
            texts::receipt_handle_invalid(text),
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| invalid())?;
    if bytes.len() != LEN || bytes[0] != VERSION {
        return Err(invalid());
    }
    let word =
        |i: usize| u64::from_be_bytes(bytes[1 + 8 * i..9 + 8 * i].try_into().expect("8 bytes"));
    let handle = ReceiptHandle {
        queue_id: word(0),
        seq: word(1),
        token: word(2),
    };
    if handle.token == 0 {
        return Err(invalid());
    }
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_round_trip_and_garbage_is_invalid() {
        let h = ReceiptHandle {
            queue_id: 7,
            seq: 1 << 40,
            token: 0xdead_beef,
        };
        assert_eq!(decode(&encode(&h)).unwrap(), h);
        for bad in [
            "",
            "x",
            "AAAA",
            &encode(&h)[1..],
            "!!!!",
            &format!("{}A", encode(&h)),
        ] {
            assert_eq!(
                decode(bad).unwrap_err().code,
                ErrorCode::ReceiptHandleIsInvalid,
                "{bad:?}"
            );
        }
        let zero = ReceiptHandle { token: 0, ..h };
        assert!(decode(&encode(&zero)).is_err());
    }
}
