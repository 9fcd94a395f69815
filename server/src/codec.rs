//! Compact binary encoding (postcard) for Raft entries, RPCs and stored records.

use serde::{Serialize, de::DeserializeOwned};
use std::io;

/// Encodes a value; encoding our own types cannot fail, so a failure is a bug reported as
/// an I/O error with context rather than a panic.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> io::Result<Vec<u8>> {
    postcard::to_stdvec(value)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("encode: {e}")))
}

/// Decodes a value written by [`encode`]; corrupt input is an `InvalidData` error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    postcard::from_bytes(bytes)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("decode: {e}")))
}
