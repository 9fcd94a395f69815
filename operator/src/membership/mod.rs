//! Raft membership: the pure planner and the admin API client that executes its steps.

pub mod planner;

pub use planner::{Observation, Observed, PlannerConfig, Step, plan};
