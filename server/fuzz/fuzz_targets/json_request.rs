//! Fuzz target `json_request`: see [`sqsraft_fuzz::json_request`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sqsraft_fuzz::json_request(data));
