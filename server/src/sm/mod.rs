//! The deterministic SQS state machine: commands, their apply logic and reads.

pub mod apply;
pub mod attributes;
pub mod catalog;
pub mod command;
pub mod dedup;
pub mod keys;
pub mod messages;
pub mod move_tasks;
pub mod read;
pub mod receive_floor;
pub mod txn;
