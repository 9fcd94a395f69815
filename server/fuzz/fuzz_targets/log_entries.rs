//! Fuzz target `log_entries`: see [`sqsraft_fuzz::log_entries`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sqsraft_fuzz::log_entries(data));
