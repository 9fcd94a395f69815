//! HTTP plumbing: the public SQS port, the internal port and the internal client.

pub mod client;
