//! sqsraft-server: an Amazon SQS-compatible queue service replicated with openraft and
//! stored in RocksDB.
//!
//! Without the default `node` feature only [`admin_types`] is compiled, so the operator can
//! share the admin API's JSON types without linking the server; the `sqs-client` feature
//! adds [`sqs_client`], the small signed SQS client the operator and the benchmark share.

pub mod admin_types;

#[cfg(feature = "node")]
pub mod api;
#[cfg(feature = "node")]
pub mod auth;
#[cfg(feature = "node")]
pub mod batcher;
#[cfg(feature = "node")]
pub mod codec;
#[cfg(feature = "node")]
pub mod config;
#[cfg(feature = "node")]
pub mod error;
#[cfg(feature = "node")]
pub mod http;
#[cfg(feature = "node")]
pub mod metrics;
#[cfg(feature = "node")]
pub mod node;
#[cfg(feature = "node")]
pub mod raft;
#[cfg(feature = "node")]
pub mod receive;
#[cfg(feature = "node")]
pub mod server;
#[cfg(feature = "node")]
pub mod sm;
#[cfg(feature = "sqs-client")]
pub mod sqs_client;
