//! `sqsraft-bench`: drives any SQS endpoint with a raw signed JSON client or the Rust
//! `aws-sdk-sqs`, and reports throughput, latency percentiles, errors by code and its own
//! CPU use and the servers' (per message: the figure that travels across machines).
//!
//! A run creates its own queues under a unique prefix, prefills them when the scenario
//! consumes, runs the client loops for a warm-up and a measured window, and deletes the
//! queues. Every request is bounded by the end of the window plus a grace period, so a
//! run always stops by itself.

pub mod api;
pub mod config;
pub mod cpu;
pub mod listeners;
pub mod queues;
pub mod report;
pub mod requests;
pub mod run;
pub mod stats;
pub mod workload;

#[cfg(test)]
mod smoke_test;

pub use api::ClientKind;
pub use config::{BenchConfig, Scenario};
pub use report::Report;
pub use run::run;
