//! HTTP plumbing: the public SQS port and the internal port.

pub mod admin;
pub mod dispatch;
pub mod edge;
pub mod idle;
pub mod internal;
pub mod serve;
pub mod sqs;
pub mod task_handle;
