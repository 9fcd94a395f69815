//! The pod sandbox: a holder process (like a pause container) that owns the pod's mount
//! and UTS namespaces inside its network namespace. Volumes are bind-mounted at their
//! `mountPath`s there, `/etc/hosts` is the runner's file, the host name is the pod's.
//! Containers, exec probes and hooks join all three namespaces with `nsenter`.
//!
//! A mount point missing on the host is created under a private overlay of its nearest
//! existing ancestor (e.g. `/etc` for `/etc/sqsraft/credentials`), so the host's file
//! system is never changed; only a missing top-level directory is created on the host.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// One bind mount into the pod.
#[derive(Clone, Debug, PartialEq)]
pub struct Mount {
    pub source: PathBuf,
    pub target: PathBuf,
    pub read_only: bool,
}

/// Single-quotes `s` for `sh`.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn depth(p: &Path) -> usize {
    p.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count()
}

/// The nearest ancestor of `path` (itself included) that exists on the host.
fn existing_ancestor(path: &Path) -> PathBuf {
    path.ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"))
        .to_path_buf()
}

/// The shell script the holder runs before it sleeps: overlays, mount points, binds,
/// host name. `scratch` holds the overlays' upper and work directories.
pub fn setup_script(mounts: &[Mount], hosts_file: &Path, hostname: &str, scratch: &Path) -> String {
    let mut overlays = BTreeSet::new();
    let mut host_dirs = Vec::new();
    for m in mounts {
        if m.target.exists() {
            continue;
        }
        let ancestor = existing_ancestor(&m.target);
        let real = std::fs::canonicalize(&ancestor).unwrap_or(ancestor);
        if real == Path::new("/") {
            host_dirs.push(m.target.clone());
        } else {
            overlays.insert(real);
        }
    }
    // An overlay inside another is redundant (and would hide nothing new).
    let outer: Vec<PathBuf> = overlays
        .iter()
        .filter(|o| !overlays.iter().any(|p| p != *o && o.starts_with(p)))
        .cloned()
        .collect();
    let mut s = String::from("set -e\n");
    for (i, lower) in outer.iter().enumerate() {
        let upper = scratch.join(format!("overlay-{i}/upper"));
        let work = scratch.join(format!("overlay-{i}/work"));
        s += &format!(
            "mkdir -p {u} {w}\nmount -t overlay overlay -o {o} {l}\n",
            u = quote(&upper.display().to_string()),
            w = quote(&work.display().to_string()),
            o = quote(&format!(
                "lowerdir={},upperdir={},workdir={}",
                lower.display(),
                upper.display(),
                work.display()
            )),
            l = quote(&lower.display().to_string()),
        );
    }
    for dir in host_dirs {
        s += &format!("mkdir -p {}\n", quote(&dir.display().to_string()));
    }
    let mut ordered = mounts.to_vec();
    ordered.sort_by_key(|m| depth(&m.target));
    for m in ordered {
        let target = quote(&m.target.display().to_string());
        let source = quote(&m.source.display().to_string());
        if m.source.is_dir() {
            s += &format!("mkdir -p {target}\n");
        } else {
            s += &format!("mkdir -p \"$(dirname {target})\"\n[ -e {target} ] || : > {target}\n");
        }
        s += &format!("mount --bind {source} {target}\n");
        if m.read_only {
            s += &format!("mount -o remount,bind,ro {target}\n");
        }
    }
    s += &format!(
        "mount --bind {} /etc/hosts\necho {} > /proc/sys/kernel/hostname\necho ready\nexec sleep infinity\n",
        quote(&hosts_file.display().to_string()),
        quote(hostname)
    );
    s
}

/// The running holder process.
pub struct Sandbox {
    /// Held so that dropping the sandbox kills the holder (`kill_on_drop`).
    _child: Child,
    pub pid: i32,
}

impl Sandbox {
    /// Starts the holder in network namespace `netns` and waits until its mounts are done.
    pub async fn start(netns: &str, script: &str) -> Result<Self> {
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                netns,
                "unshare",
                "--mount",
                "--uts",
                "--propagation",
                "private",
            ])
            .args(["--", "/bin/sh", "-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("start the pod sandbox")?;
        let pid = child.id().context("sandbox pid")? as i32;
        let stdout = child.stdout.take().context("sandbox stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        match lines.next_line().await {
            Ok(Some(line)) if line == "ready" => {}
            _ => {
                let _ = child.kill().await;
                let out = child.wait_with_output().await.context("sandbox exit")?;
                bail!(
                    "pod sandbox setup failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
        }
        // `ip netns exec` and `unshare` exec into the shell, which execs `sleep`: the pid
        // is the namespace holder throughout.
        Ok(Self { _child: child, pid })
    }

    /// A command that runs `argv` inside the pod's namespaces, with exactly `env`.
    pub fn command(
        &self,
        argv: &[String],
        env: &[(String, String)],
        workdir: Option<&str>,
    ) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg("-t")
            .arg(self.pid.to_string())
            .args(["--net", "--mount", "--uts"]);
        cmd.arg(format!("--wd={}", workdir.unwrap_or("/")));
        cmd.arg("--").args(argv);
        cmd.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
        cmd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_mount_points_go_under_an_overlay_of_the_nearest_existing_ancestor() {
        let mounts = vec![
            Mount {
                source: "/src/creds".into(),
                target: "/etc/sqsraft-test-x/credentials".into(),
                read_only: true,
            },
            Mount {
                source: "/src/token".into(),
                target: "/etc/sqsraft-test-x/token".into(),
                read_only: true,
            },
            Mount {
                source: "/src/tmp".into(),
                target: "/tmp".into(),
                read_only: false,
            },
        ];
        let script = setup_script(
            &mounts,
            Path::new("/r/hosts"),
            "q-0",
            Path::new("/r/scratch"),
        );
        assert_eq!(script.matches("mount -t overlay").count(), 1, "{script}");
        assert!(
            script.contains("lowerdir=/etc,upperdir=/r/scratch/overlay-0/upper"),
            "{script}"
        );
        assert!(
            script.contains("mount --bind '/src/creds' '/etc/sqsraft-test-x/credentials'"),
            "{script}"
        );
        assert!(
            script.contains("mount -o remount,bind,ro '/etc/sqsraft-test-x/token'"),
            "{script}"
        );
        assert!(!script.contains("remount,bind,ro '/tmp'"), "{script}");
        let tmp = script.find("'/tmp'").unwrap();
        let creds = script.find("mount --bind '/src/creds'").unwrap();
        assert!(tmp < creds, "shallow mounts first: {script}");
        assert!(script.ends_with("echo ready\nexec sleep infinity\n"));
    }

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(quote("a'b"), r"'a'\''b'");
    }
}
