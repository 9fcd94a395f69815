//! The Queue controller: `Queue` objects reconciled into CreateQueue,
//! SetQueueAttributes, TagQueue/UntagQueue and DeleteQueue calls on their QueueCluster.
//!
//! [`attributes`] is the pure part (desired attributes, normalisation, drift and tag
//! diffs), [`sqs`] the SigV4-signed SQS client, [`backoff`] the retry schedule,
//! [`reconcile`] the read → resolve → sync → status loop with its finalizer, and
//! [`controller`] the watches that drive it.

pub mod attributes;
pub mod backoff;
pub mod controller;
pub mod reconcile;
pub mod sqs;

pub use controller::run;
pub use reconcile::{Context, EndpointResolver, FINALIZER, StatusEndpoint, reconcile};
