//! Network partition of one node on loopback with iptables and a cgroup v2 match.
//!
//! Every node listens on 127.0.0.1, so a partition cannot be drawn by address. Dropping
//! packets to and from the node's internal port cuts every connection *into* the node,
//! but the node's own outgoing Raft connections leave from ephemeral ports towards the
//! peers' internal ports and would still flow. They are caught by moving the node's
//! process into a cgroup of its own and dropping what sockets of that cgroup send to a
//! peer's internal port; connections the node opened before the move are dropped by
//! their exact port pair, read from `/proc`. The node's SQS port stays reachable.
//! Everything lives in one iptables chain per partition, removed when healed.

use anyhow::{Context, Result, anyhow, bail};
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Prefix of the iptables chains this module creates: `SQSF-<owner pid>-<port>`.
const CHAIN_PREFIX: &str = "SQSF-";

/// An installed partition isolating one node; healed by [`Partition::heal`] or on drop.
pub struct Partition {
    chain: String,
    cgroup: PathBuf,
    home_cgroup: PathBuf,
    pid: u32,
    healed: bool,
}

fn iptables(args: &[&str]) -> Result<()> {
    let out = Command::new("iptables")
        .arg("-w")
        .args(args)
        .output()
        .context("run iptables")?;
    if !out.status.success() {
        bail!(
            "iptables {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Mount point of the cgroup v2 hierarchy.
fn cgroup2_root() -> Result<PathBuf> {
    let mounts = fs::read_to_string("/proc/self/mounts")?;
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, dir, kind) = (f.next()?, f.next()?, f.next()?);
            (kind == "cgroup2").then(|| PathBuf::from(dir))
        })
        .next()
        .ok_or_else(|| anyhow!("no cgroup2 hierarchy mounted"))
}

/// The cgroup v2 directory process `pid` is in.
fn cgroup_of(root: &Path, pid: u32) -> Result<PathBuf> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    let rel = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or_else(|| anyhow!("process {pid} has no cgroup v2 entry"))?;
    Ok(root.join(rel.trim_start_matches('/')))
}

/// Checks that partitions can be installed here (root, iptables with the cgroup match,
/// a writable cgroup v2 hierarchy); the error says what is missing.
pub fn available() -> Result<()> {
    let root = cgroup2_root()?;
    let probe = root.join(format!("sqsraft-faults-probe-{}", std::process::id()));
    fs::create_dir(&probe).with_context(|| format!("create cgroup {}", probe.display()))?;
    let chain = format!("{CHAIN_PREFIX}{}-probe", std::process::id());
    let rel = probe.strip_prefix(&root)?.display().to_string();
    let result = iptables(&["-N", &chain]).and_then(|()| {
        let rule = iptables(&["-A", &chain, "-m", "cgroup", "--path", &rel, "-j", "DROP"]);
        let _ = iptables(&["-F", &chain]);
        let _ = iptables(&["-X", &chain]);
        rule
    });
    let _ = fs::remove_dir(&probe);
    result
}

/// Removes chains left by fault runs whose process no longer exists (a run killed before
/// it could heal), so their rules cannot hit a later cluster on the same ports.
fn sweep_abandoned() {
    let Ok(out) = Command::new("iptables").args(["-w", "-S"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(chain) = line.strip_prefix("-N ") else {
            continue;
        };
        let Some(owner) = chain
            .strip_prefix(CHAIN_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{owner}")).exists() {
            let _ = iptables(&["-D", "OUTPUT", "-j", chain]);
            let _ = iptables(&["-F", chain]);
            let _ = iptables(&["-X", chain]);
        }
    }
}

/// Socket inodes held by process `pid`.
fn socket_inodes(pid: u32) -> Result<HashSet<u64>> {
    let mut inodes = HashSet::new();
    for entry in fs::read_dir(format!("/proc/{pid}/fd"))? {
        let Ok(target) = fs::read_link(entry?.path()) else {
            continue;
        };
        if let Some(inode) = target
            .to_str()
            .and_then(|t| t.strip_prefix("socket:["))
            .and_then(|t| t.strip_suffix(']'))
            .and_then(|t| t.parse().ok())
        {
            inodes.insert(inode);
        }
    }
    Ok(inodes)
}

/// `(local port, remote port)` of the TCP connections process `pid` holds towards one of
/// `remote_ports`.
fn connections_to(pid: u32, remote_ports: &[u16]) -> Result<Vec<(u16, u16)>> {
    let inodes = socket_inodes(pid)?;
    let mut pairs = Vec::new();
    for table in ["tcp", "tcp6"] {
        let Ok(text) = fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 {
                continue;
            }
            let port = |addr: &str| {
                addr.rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
            };
            let (Some(local), Some(remote), Ok(inode)) =
                (port(f[1]), port(f[2]), f[9].parse::<u64>())
            else {
                continue;
            };
            if inodes.contains(&inode) && remote_ports.contains(&remote) {
                pairs.push((local, remote));
            }
        }
    }
    Ok(pairs)
}

impl Partition {
    /// Cuts process `pid` (listening on `internal_port`) off from every peer's internal
    /// port in `peer_ports`, in both directions.
    pub fn isolate(pid: u32, internal_port: u16, peer_ports: &[u16]) -> Result<Partition> {
        sweep_abandoned();
        let root = cgroup2_root()?;
        let home_cgroup = cgroup_of(&root, pid)?;
        let name = format!("sqsraft-faults-{}-{internal_port}", std::process::id());
        let cgroup = root.join(&name);
        fs::create_dir_all(&cgroup).with_context(|| format!("create {}", cgroup.display()))?;
        let chain = format!("{CHAIN_PREFIX}{}-{internal_port}", std::process::id());
        let mut partition = Partition {
            chain,
            cgroup,
            home_cgroup,
            pid,
            healed: false,
        };
        partition.install(internal_port, peer_ports, &name)?;
        Ok(partition)
    }

    fn install(&mut self, internal_port: u16, peer_ports: &[u16], cgroup: &str) -> Result<()> {
        let chain = self.chain.clone();
        let rule = |args: &[&str]| {
            let mut full = vec!["-A", &chain, "-p", "tcp"];
            full.extend_from_slice(args);
            full.extend_from_slice(&["-j", "DROP"]);
            iptables(&full)
        };
        iptables(&["-N", &chain])?;
        let port = internal_port.to_string();
        rule(&["--dport", &port])?;
        rule(&["--sport", &port])?;
        // Sockets created from now on are in the node's own cgroup ...
        fs::write(self.cgroup.join("cgroup.procs"), self.pid.to_string())
            .context("move node into its partition cgroup")?;
        for peer in peer_ports {
            rule(&[
                "-m",
                "cgroup",
                "--path",
                cgroup,
                "--dport",
                &peer.to_string(),
            ])?;
        }
        // ... and those opened before the move are dropped by their port pair.
        for (local, remote) in connections_to(self.pid, peer_ports)? {
            let (local, remote) = (local.to_string(), remote.to_string());
            rule(&["--sport", &local, "--dport", &remote])?;
            rule(&["--sport", &remote, "--dport", &local])?;
        }
        iptables(&["-I", "OUTPUT", "1", "-j", &chain])
    }

    /// Removes the rules and moves the node back into its original cgroup.
    pub fn heal(mut self) -> Result<()> {
        self.undo()
    }

    fn undo(&mut self) -> Result<()> {
        if self.healed {
            return Ok(());
        }
        self.healed = true;
        let _ = iptables(&["-D", "OUTPUT", "-j", &self.chain]);
        let _ = iptables(&["-F", &self.chain]);
        let removed = iptables(&["-X", &self.chain]);
        if Path::new(&format!("/proc/{}", self.pid)).exists() {
            // The node may have been killed meanwhile; then the cgroup is already empty.
            let _ = fs::write(self.home_cgroup.join("cgroup.procs"), self.pid.to_string());
        }
        let rmdir = fs::remove_dir(&self.cgroup)
            .with_context(|| format!("remove cgroup {}", self.cgroup.display()));
        removed.and(rmdir)
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        let _ = self.undo();
    }
}
