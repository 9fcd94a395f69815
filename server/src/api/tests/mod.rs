//! Tests of the API layer: both protocols end to end, exact bytes of a few responses,
//! AWS's MD5 values, the syntax rules, and malformed input of every kind.

mod botocore;
mod json;
mod malformed;
mod md5;
mod query;
mod select;
mod validate;
mod xml;
mod xml_fixtures;

use crate::error::{ErrorCode, SqsError, SqsResult};

/// The error code of a result expected to fail.
fn code<T: std::fmt::Debug>(r: SqsResult<T>) -> ErrorCode {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(SqsError { code, .. }) => code,
    }
}
