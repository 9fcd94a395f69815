//! Pod networking: one bridge per runner in the root namespace with a /24 of its own,
//! and one network namespace per pod joined to it by a veth pair.
//!
//! A runner claims index `i` (bridge `sqpr<i>`, pods in `10.213.<i>.0/24`) by holding
//! an exclusive `flock` on `/run/sqsraft-pod-runner/<i>.lock`, so concurrent runners
//! never share a range; whatever a dead runner left under that index is removed first.

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};

use anyhow::{Context, Result, bail};

const LOCK_DIR: &str = "/run/sqsraft-pod-runner";
/// Pods of runner `i` get `10.213.<i>.2` … `.254`; `.1` is the bridge (the node IP).
const FIRST_OCTETS: [u8; 2] = [10, 213];

/// Runs `ip` with `args`, failing with its stderr.
pub fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip").args(args).output().context("run ip")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Like [`ip`], ignoring failure: for removing what may already be gone.
fn ip_quiet(args: &[&str]) {
    let _ = Command::new("ip").args(args).output();
}

fn netns_names() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output();
    let Ok(out) = out else { return Vec::new() };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// The runner's bridge, address range and Service interface.
pub struct RunnerNetwork {
    pub index: u8,
    _lock: File,
}

impl RunnerNetwork {
    /// Claims a free index and creates the bridge.
    pub fn allocate() -> Result<Self> {
        std::fs::create_dir_all(LOCK_DIR).with_context(|| format!("create {LOCK_DIR}"))?;
        for index in 0..=255u8 {
            let path = format!("{LOCK_DIR}/{index}.lock");
            let lock = File::create(&path).with_context(|| format!("create {path}"))?;
            // SAFETY: flock on a file descriptor we own.
            if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                continue;
            }
            let net = Self { index, _lock: lock };
            net.remove_all();
            net.create()
                .with_context(|| format!("create the network of pod runner {index}"))?;
            return Ok(net);
        }
        bail!("all 256 pod runner networks are in use")
    }

    fn create(&self) -> Result<()> {
        let bridge = self.bridge();
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        ip(&[
            "addr",
            "add",
            &format!("{}/24", self.gateway()),
            "dev",
            &bridge,
        ])?;
        ip(&["link", "set", &bridge, "up"])
    }

    pub fn bridge(&self) -> String {
        format!("sqpr{}", self.index)
    }

    /// The node's address: the bridge's, reachable from every pod.
    pub fn gateway(&self) -> Ipv4Addr {
        self.pod_ip(1)
    }

    pub fn pod_ip(&self, slot: u8) -> Ipv4Addr {
        Ipv4Addr::new(FIRST_OCTETS[0], FIRST_OCTETS[1], self.index, slot)
    }

    pub fn pod_cidr(&self) -> String {
        format!("{}/24", self.pod_ip(0))
    }

    /// A network namespace for the pod in `slot` (2..=254), with `eth0` at its address,
    /// loopback up and the bridge as default route.
    pub fn create_pod_netns(&self, slot: u8) -> Result<PodNetns> {
        // Names are never reused within a process: the kernel tears a deleted namespace
        // and its veth down asynchronously, so a reused name could still exist.
        static NEXT: AtomicU16 = AtomicU16::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("sqpr{}-{n}", self.index);
        let host_veth = format!("sqh{}-{n}", self.index);
        ip_quiet(&["netns", "del", &name]);
        ip(&["netns", "add", &name])?;
        let ns = PodNetns {
            name: name.clone(),
            host_veth: host_veth.clone(),
        };
        ip(&[
            "link", "add", &host_veth, "type", "veth", "peer", "name", "eth0", "netns", &name,
        ])?;
        ip(&["link", "set", &host_veth, "master", &self.bridge(), "up"])?;
        let addr = format!("{}/24", self.pod_ip(slot));
        ip(&["-n", &name, "addr", "add", &addr, "dev", "eth0"])?;
        ip(&["-n", &name, "link", "set", "eth0", "up"])?;
        ip(&["-n", &name, "link", "set", "lo", "up"])?;
        ip(&[
            "-n",
            &name,
            "route",
            "add",
            "default",
            "via",
            &self.gateway().to_string(),
        ])?;
        Ok(ns)
    }

    /// Removes every namespace and interface of this index (deleting a namespace
    /// deletes its veth pair).
    pub fn remove_all(&self) {
        let prefix = format!("sqpr{}-", self.index);
        for ns in netns_names().into_iter().filter(|n| n.starts_with(&prefix)) {
            ip_quiet(&["netns", "del", &ns]);
        }
        ip_quiet(&["link", "del", &self.bridge()]);
    }
}

impl Drop for RunnerNetwork {
    fn drop(&mut self) {
        self.remove_all();
    }
}

/// A pod's network namespace, deleted on drop.
pub struct PodNetns {
    pub name: String,
    host_veth: String,
}

impl Drop for PodNetns {
    fn drop(&mut self) {
        // The veth pair first, synchronously: the namespace itself goes away only when
        // nothing refers to it any more, and its address must leave the bridge now
        // (the slot is handed to the next pod).
        ip_quiet(&["link", "del", &self.host_veth]);
        ip_quiet(&["netns", "del", &self.name]);
    }
}
