//! Clock faults: one node's wall clock stepped forward or back, or drifting, while it runs.
//!
//! Every node of a cluster started with [`shim`] runs under an LD_PRELOAD library
//! (`clock_shim.c`, compiled here with the system C compiler) that adds to
//! `CLOCK_REALTIME`, `gettimeofday` and `time` what the node's
//! [`NodeProc::clock_file`](crate::cluster::NodeProc::clock_file) says: an offset and a drift rate, re-read every 50 ms, so
//! the fault changes while the process runs. The monotonic clocks are left alone on
//! purpose: an NTP step moves the wall clock only, and tokio's timers, openraft's
//! election timeouts and every `Instant` keep real time, so a clock fault is a clock
//! fault and not also a pause or a storm of elections. (libfaketime, the usual tool,
//! deadlocks before `main` in this server: see the comment in `clock_shim.c`.)
//!
//! [`skew_ms`] asks a node's internal port for its wall clock, which is how the tests show
//! that a fault is really in force.

use crate::cluster::Cluster;
use anyhow::{Context, Result, bail};
use sqsraft_server::codec;
use sqsraft_server::wire::CLOCK;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SHIM_SOURCE: &str = include_str!("clock_shim.c");

/// The compiled shim, built once per process into the temp dir.
pub fn shim() -> Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| build_shim().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

fn build_shim() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("sqsraft-clock-shim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let source = dir.join("clock_shim.c");
    let library = dir.join("clock_shim.so");
    std::fs::write(&source, SHIM_SOURCE).context("write the shim's source")?;
    let output = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o"])
        .arg(&library)
        .arg(&source)
        .output()
        .context("run cc (the clock shim needs a C compiler)")?;
    if !output.status.success() {
        bail!(
            "compiling the clock shim failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(library)
}

/// A node's wall clock as the shim shifts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shift {
    /// Added to the real wall clock, in milliseconds (negative: behind).
    pub offset_ms: i64,
    /// From the moment it is set, the clock gains this many millionths of real time
    /// (negative: loses).
    pub drift_ppm: i64,
}

impl Shift {
    /// The real clock.
    pub const NONE: Shift = Shift {
        offset_ms: 0,
        drift_ppm: 0,
    };

    /// A step by `offset_ms`.
    pub fn step(offset_ms: i64) -> Shift {
        Shift {
            offset_ms,
            drift_ppm: 0,
        }
    }

    /// A drift of `drift_ppm`, starting from the real time.
    pub fn drift(drift_ppm: i64) -> Shift {
        Shift {
            offset_ms: 0,
            drift_ppm,
        }
    }
}

/// Shifts node `id`'s wall clock (in force within 50 ms).
pub fn set(cluster: &Cluster, id: u64, shift: Shift) -> Result<()> {
    let node = cluster.node(id)?;
    let file = node.clock_file();
    let staged = file.with_extension("clock.new");
    std::fs::write(
        &staged,
        format!("{} {}\n", shift.offset_ms, shift.drift_ppm),
    )
    .with_context(|| format!("write {}", staged.display()))?;
    // A rename, so the shim never reads half a line.
    std::fs::rename(&staged, &file).with_context(|| format!("replace {}", file.display()))?;
    std::thread::sleep(Duration::from_millis(120));
    Ok(())
}

/// Puts every node's clock back to real time.
pub fn reset_all(cluster: &Cluster) -> Result<()> {
    for node in &cluster.nodes {
        set(cluster, node.id, Shift::NONE)?;
    }
    Ok(())
}

/// The test's own wall clock in Unix milliseconds (the correct clock).
pub fn real_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// How far `node`'s wall clock reads from the test's, in milliseconds, from the node's
/// internal clock endpoint (half the round trip is the uncertainty; on loopback, ~1 ms).
pub fn skew_ms(cluster: &Cluster, id: u64) -> Result<i64> {
    let before = real_ms();
    let reply = cluster
        .internal_post(id, CLOCK, &[])
        .with_context(|| format!("read node {id}'s clock"))?;
    let after = real_ms();
    let node_ms: u64 = codec::decode(&reply)?;
    Ok(node_ms as i64 - (before + after) / 2)
}
