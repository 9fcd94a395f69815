//! The Queue controller: `Queue` objects reconciled into CreateQueue,
//! SetQueueAttributes, TagQueue/UntagQueue and DeleteQueue calls on their QueueCluster.
//!
//! [`attributes`] is the pure part (desired attributes, normalisation, drift and tag
//! diffs), [`sqs`] the SigV4-signed SQS client, [`backoff`] the retry schedule,
//! [`reconcile`] the read → resolve → sync → status loop under kube's finalizer helper,
//! [`deletion`] what deleting a Queue does, and [`controller`] the watches that drive it.

pub mod attributes;
pub mod backoff;
pub mod controller;
pub mod deletion;
pub mod reconcile;
pub mod sqs;

pub use controller::run;
pub use deletion::{DELETION_STUCK_AFTER, SKIP_REMOTE_DELETION};
pub use reconcile::{
    Context, DEFAULT_RESYNC, EndpointResolver, FINALIZER, Problem, StatusEndpoint, reconcile,
};
