//! Fuzz target `sigv4`: see [`sqsraft_fuzz::sigv4`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sqsraft_fuzz::sigv4(data));
