//! sqsraft-operator: reconciles `QueueCluster` and `Queue` objects.

pub use sqsraft_server::admin_types;
