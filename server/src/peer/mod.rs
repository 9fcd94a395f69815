//! Talking to other nodes: the pooled client of peers' internal ports, the forwarding
//! of requests to the leader, and the cluster clock read from peers' wall clocks. Raft's
//! RPCs (`raft/network.rs`) and the node's forwards (`node.rs`, `receive.rs`) share the one
//! client; `tls` holds the mutual-TLS identity both the client and the internal listener
//! use.

pub mod client;
pub mod clock;
pub mod forward;
pub mod tls;
