//! Fuzz target `query_request`: see [`sqsraft_fuzz::query_request`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sqsraft_fuzz::query_request(data));
