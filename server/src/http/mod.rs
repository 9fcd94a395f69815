//! HTTP plumbing: the public SQS port, the internal port and the internal client.

pub mod admin;
pub mod client;
pub mod dispatch;
pub mod edge;
pub mod forward;
pub mod internal;
pub mod receipt;
pub mod serve;
pub mod sqs;
pub mod task_handle;
