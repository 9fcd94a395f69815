//! Test and tooling support for running real sqsraft clusters on loopback.

pub mod bench;
pub mod cluster;
pub mod faults;
pub mod k8s;
pub mod pki;
pub mod sdk;
