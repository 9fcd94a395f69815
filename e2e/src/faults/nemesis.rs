//! Faults injected into a running [`Cluster`], one at a time: each is held for a bounded
//! time, then undone, and the cluster is given time to elect a leader before the next.

use super::clock::{self, Shift};
use super::partition::{self, Partition};
use crate::cluster::Cluster;
use anyhow::{Context, Result, anyhow};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// kill -9 of the current leader, restarted on its data dir after a while.
    KillLeader,
    /// kill -9 of a random node, restarted on its data dir after a while.
    KillRandom,
    /// SIGSTOP of a random node (the leader half of the time), then SIGCONT.
    Pause,
    /// A random node (the leader half of the time) cut off from its peers' Raft traffic.
    Partition,
    /// kill -9 of every node at once, then all restarted on their data dirs.
    KillAll,
    /// A random node's wall clock (the leader's half of the time) stepped an hour ahead
    /// or behind, then back.
    ClockStep,
    /// A random node's wall clock (the leader's half of the time) running 50 % fast or
    /// slow, then stepped back to real time.
    ClockDrift,
}

impl Fault {
    /// Every fault kind.
    pub const ALL: [Fault; 7] = [
        Fault::KillLeader,
        Fault::KillRandom,
        Fault::Pause,
        Fault::Partition,
        Fault::KillAll,
        Fault::ClockStep,
        Fault::ClockDrift,
    ];

    /// Whether the nodes must run under the clock shim for this fault.
    pub fn needs_clock_shim(self) -> bool {
        matches!(self, Fault::ClockStep | Fault::ClockDrift)
    }

    fn name(self) -> &'static str {
        match self {
            Fault::KillLeader => "kill-leader",
            Fault::KillRandom => "kill-random",
            Fault::Pause => "pause",
            Fault::Partition => "partition",
            Fault::KillAll => "kill-all",
            Fault::ClockStep => "clock-step",
            Fault::ClockDrift => "clock-drift",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Fault {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Fault> {
        Fault::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                anyhow!(
                    "unknown fault {s:?}; known: {}",
                    Fault::ALL.map(Fault::name).join(", ")
                )
            })
    }
}

/// One injected fault.
#[derive(Debug, Clone)]
pub struct Injected {
    /// Since the start of the fault phase.
    pub at: Duration,
    pub fault: Fault,
    /// The node it hit; `None` for all nodes.
    pub node: Option<u64>,
    /// How long the fault was in force.
    pub held: Duration,
    /// From undoing the fault until every node agreed on one leader again.
    pub recovered_in: Duration,
}

impl fmt::Display for Injected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let node = self
            .node
            .map_or_else(|| "all nodes".to_string(), |n| format!("node {n}"));
        write!(
            f,
            "t={:>6.1}s {:<11} {node:<9} held {:>4.1}s, agreed leader after {:.1}s",
            self.at.as_secs_f64(),
            self.fault.to_string(),
            self.held.as_secs_f64(),
            self.recovered_in.as_secs_f64()
        )
    }
}

/// Keeps only the faults this machine can inject, printing why others are left out;
/// where every suite must run (`CI=true`) a fault that cannot be injected fails instead.
pub fn usable(faults: &[Fault]) -> Vec<Fault> {
    faults
        .iter()
        .copied()
        .filter(|&f| {
            let ready = match f {
                Fault::Partition => partition::available(),
                f if f.needs_clock_shim() => clock::shim().map(drop),
                _ => Ok(()),
            };
            match ready {
                Ok(()) => true,
                Err(e) => {
                    sqsraft_server::prerequisite::unavailable(
                        &format!("fault {f}"),
                        format!("{e:#}"),
                    );
                    false
                }
            }
        })
        .collect()
}

/// Injects randomly chosen `faults` until `until`, each followed by a quiet interval.
/// `report` sees every fault once it has been undone.
pub fn run(
    cluster: &mut Cluster,
    faults: &[Fault],
    rng: &mut StdRng,
    until: Instant,
    mut report: impl FnMut(&Injected),
) -> Result<Vec<Injected>> {
    let start = Instant::now();
    let mut injected = Vec::new();
    while Instant::now() < until && !faults.is_empty() {
        let fault = *faults.choose(rng).expect("faults");
        let at = start.elapsed();
        let (node, held) = inject(cluster, fault, rng)
            .with_context(|| format!("{fault} at {:.1}s", at.as_secs_f64()))?;
        let healed = Instant::now();
        cluster
            .wait_for_members(Duration::from_secs(60))
            .with_context(|| {
                format!("no agreed leader after {fault} at {:.1}s", at.as_secs_f64())
            })?;
        let record = Injected {
            at,
            fault,
            node,
            held,
            recovered_in: healed.elapsed(),
        };
        report(&record);
        injected.push(record);
        let quiet = Duration::from_millis(rng.random_range(1_500..4_000));
        std::thread::sleep(quiet.min(until.saturating_duration_since(Instant::now())));
    }
    Ok(injected)
}

fn random_node(cluster: &Cluster, rng: &mut StdRng) -> u64 {
    cluster.nodes.choose(rng).expect("nodes").id
}

/// The leader half of the time (when there is one), otherwise a random node.
fn leader_or_random(cluster: &Cluster, rng: &mut StdRng) -> u64 {
    if rng.random_bool(0.5)
        && let Ok(leader) = cluster.wait_for_leader(Duration::from_secs(5))
    {
        return leader;
    }
    random_node(cluster, rng)
}

fn hold(rng: &mut StdRng, millis: std::ops::Range<u64>) -> Duration {
    let d = Duration::from_millis(rng.random_range(millis));
    std::thread::sleep(d);
    d
}

/// Applies `fault`, holds it, undoes it; returns the node hit and how long it was held.
fn inject(
    cluster: &mut Cluster,
    fault: Fault,
    rng: &mut StdRng,
) -> Result<(Option<u64>, Duration)> {
    match fault {
        Fault::KillLeader | Fault::KillRandom => {
            let id = match fault {
                Fault::KillLeader => cluster.wait_for_leader(Duration::from_secs(10))?,
                _ => random_node(cluster, rng),
            };
            cluster.kill(id)?;
            let held = hold(rng, 500..4_000);
            cluster.restart(id)?;
            Ok((Some(id), held))
        }
        Fault::Pause => {
            let id = leader_or_random(cluster, rng);
            cluster.pause(id)?;
            let held = hold(rng, 500..4_000);
            cluster.resume(id)?;
            Ok((Some(id), held))
        }
        Fault::Partition => {
            let id = leader_or_random(cluster, rng);
            let node = cluster.node(id)?;
            let pid = node.pid().ok_or_else(|| anyhow!("node {id} not running"))?;
            let peers: Vec<u16> = cluster
                .nodes
                .iter()
                .filter(|n| n.id != id)
                .map(|n| n.internal_port)
                .collect();
            let partition = Partition::isolate(pid, node.internal_port, &peers)?;
            let held = hold(rng, 2_000..8_000);
            partition.heal()?;
            Ok((Some(id), held))
        }
        Fault::KillAll => {
            let ids: Vec<u64> = cluster.nodes.iter().map(|n| n.id).collect();
            for &id in &ids {
                cluster.signal(id, libc::SIGKILL)?;
            }
            for &id in &ids {
                cluster.kill(id)?;
            }
            let held = hold(rng, 500..3_000);
            for &id in &ids {
                cluster.restart(id)?;
            }
            Ok((None, held))
        }
        Fault::ClockStep | Fault::ClockDrift => {
            let id = leader_or_random(cluster, rng);
            let sign = if rng.random_bool(0.5) { 1 } else { -1 };
            let shift = match fault {
                Fault::ClockStep => Shift::step(sign * 3_600_000),
                _ => Shift::drift(sign * 500_000),
            };
            clock::set(cluster, id, shift)?;
            let held = hold(rng, 2_000..6_000);
            clock::set(cluster, id, Shift::NONE)?;
            Ok((Some(id), held))
        }
    }
}
