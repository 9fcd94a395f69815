//! Message move task handles on the wire: opaque, naming the source queue and task.

#[cfg(test)]
use crate::error::ErrorCode;
use crate::error::{SqsError, SqsResult, texts};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Encodes the handle of task `task_id` of queue `source`.
pub fn encode(source: &str, task_id: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{task_id}:{source}"))
}

/// Decodes a handle into (source queue name, task id).
pub fn decode(handle: &str) -> SqsResult<(String, u64)> {
    let invalid = || SqsError::invalid_parameter(texts::TASK_HANDLE_INVALID);
    let text = URL_SAFE_NO_PAD
        .decode(handle)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(invalid)?;
    let (id, source) = text.split_once(':').ok_or_else(invalid)?;
    let id = id.parse().map_err(|_| invalid())?;
    if source.is_empty() {
        return Err(invalid());
    }
    Ok((source.to_string(), id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_round_trip_and_garbage_is_an_invalid_parameter() {
        assert_eq!(
            decode(&encode("dlq.fifo", 3)).unwrap(),
            ("dlq.fifo".to_string(), 3)
        );
        for bad in [
            "",
            "!!",
            &URL_SAFE_NO_PAD.encode("x:q"),
            &URL_SAFE_NO_PAD.encode("1:"),
        ] {
            assert_eq!(
                decode(bad).unwrap_err().code,
                ErrorCode::InvalidParameterValue,
                "{bad:?}"
            );
        }
    }
}
