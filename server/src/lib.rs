//! sqsraft-server: an Amazon SQS-compatible queue service replicated with openraft and
//! stored in RocksDB.
//!
//! Without the default `node` feature only [`admin_types`], [`prerequisite`] and
//! [`test_ports`] are compiled, so the operator can share the admin API's JSON types (and
//! the test suites' helpers) without linking the server; the `sqs-client` feature
//! adds [`sqs_client`], the small signed SQS client the operator and the benchmark share.
//!
//! # Layout
//!
//! The modules form layers; a module uses only modules of layers *below* its own, never
//! one beside or above it (tests may reach anywhere). From the bottom:
//!
//! 1. Foundations, each standing alone: [`admin_types`] (the admin API's JSON),
//!    [`prerequisite`] (the test suites' skip-or-fail rule), [`test_ports`] (ports for
//!    test servers), [`error`] (AWS error codes), [`codec`] (postcard), [`config`],
//!    [`metrics`], [`batcher`] (the merge-while-busy queue under group commit and
//!    forwarding), [`tls`] (hot-reloaded certificates, the SQS port's HTTPS).
//! 2. The protocols, pure functions of bytes: [`api`] (JSON 1.0 and Query/XML requests
//!    and responses) and [`auth`] (SigV4).
//! 3. [`sm`]: the deterministic state machine — commands, apply, reads, key layout.
//! 4. [`wire`]: what nodes send each other (forward paths, `ForwardReply`, `ReceiveCall`).
//! 5. [`peer`]: the client of other nodes' internal ports and the forwarding of requests.
//! 6. [`raft`]: openraft's storage, network and group commit over RocksDB.
//! 7. [`node`]: a running node — proposes, forwards and retries until the deadline.
//! 8. [`receive`]: ReceiveMessage's long polls, on the node.
//! 9. [`http`]: the SQS port and the internal port.
//! 10. [`server`]: wiring — opens the stores, starts the node and its listeners.
//!
//! Inside a layer's directory the files form no cycle either. `layout_tests` checks both
//! rules against the `use crate::…` paths of every file, so a new cycle fails the build's
//! tests rather than waiting for a reviewer.

pub mod admin_types;
pub mod prerequisite;
pub mod test_ports;

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
pub mod peer;
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
#[cfg(feature = "node")]
pub mod tls;
#[cfg(feature = "node")]
pub mod wire;

#[cfg(all(test, feature = "node"))]
mod format_tests;
#[cfg(all(test, feature = "node"))]
mod layout_tests;
