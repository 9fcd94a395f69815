//! sqsraft-operator: reconciles `QueueCluster` and `Queue` objects.
//!
//! Layout follows the operator principles in the design: [`crd`] holds the API types,
//! [`build`] the pure functions from a `QueueCluster` to the Kubernetes objects it owns,
//! [`membership`] the Raft membership planner and the admin API client.

pub mod build;
pub mod controller;
pub mod crd;
pub mod error;
pub mod lease;
pub mod membership;
pub mod metrics;
pub mod pki;
pub mod queue;
pub mod status;

pub use sqsraft_server::admin_types;
