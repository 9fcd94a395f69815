//! Fuzz target `snapshot`: see [`sqsraft_fuzz::snapshot`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sqsraft_fuzz::snapshot(data));
