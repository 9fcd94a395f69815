//! The deterministic SQS state machine: commands, their apply logic and reads.

pub mod apply;
pub mod attributes;
pub mod catalog;
pub mod command;
pub mod dedup;
pub mod format;
pub mod keys;
pub mod messages;
pub mod move_tasks;
pub mod queue_key;
pub mod queue_record;
pub mod read;
pub mod receipt;
pub mod receive_floor;
pub mod txn;
