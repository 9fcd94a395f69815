//! Raft membership: the pure planner, the admin API client that executes its steps,
//! and the driver that runs one observe → plan → execute turn.

pub mod admin;
pub mod driver;
pub mod planner;

pub use admin::{
    AdminApi, AdminCall, AdminCallError, HttpAdminClient, LoopbackResolver, PodDnsResolver,
    PodResolver,
};
pub use driver::{DriverError, WorkloadState, Workloads, turn};
pub use planner::{
    ClusterHealth, MemberHealth, Observation, Observed, PlannerConfig, Step, cluster_health, plan,
};
