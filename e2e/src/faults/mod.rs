//! Fault injection: a nemesis kills, pauses, partitions and skews the clocks of the nodes
//! of a real cluster
//! while producers and consumers use it through the AWS SDK; a checker then proves from
//! the recorded history that nothing acknowledged was lost, stored twice, reordered or
//! resurrected. See `docs/reliability.md`.

pub mod checker;
pub mod clock;
pub mod durability;
pub mod history;
pub mod nemesis;
pub mod partition;
pub mod run;
pub mod workload;
