//! Fuzz target `wire_messages`: see [`sqsraft_fuzz::wire_messages`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sqsraft_fuzz::wire_messages(data));
