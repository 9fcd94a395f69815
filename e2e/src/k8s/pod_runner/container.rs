//! One container as a local process in the pod's namespaces: start with its argv and
//! environment, output appended to its log file, exit observed, restart back-off
//! (immediate, then 10 s doubling to 5 min, reset after 10 min of running), stop with
//! SIGTERM then SIGKILL of its process group.

use std::fs::OpenOptions;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tokio::process::Child;

use super::env::Env;
use super::probes::ProbeState;
use super::sandbox::Sandbox;
use super::volumes::now;

const BACKOFF_START: Duration = Duration::from_secs(10);
const BACKOFF_MAX: Duration = Duration::from_secs(300);
const BACKOFF_RESET: Duration = Duration::from_secs(600);

/// A container's process and what kubelet reports about it.
pub struct ContainerRun {
    pub spec: Container,
    pub argv: Vec<String>,
    pub env: Env,
    child: Option<Child>,
    pub pid: Option<i32>,
    started_at: Option<Time>,
    started_instant: Option<Instant>,
    pub restart_count: i32,
    last_terminated: Option<ContainerStateTerminated>,
    /// Final state when it will not be restarted.
    pub terminated: Option<ContainerStateTerminated>,
    pub waiting: Option<(String, String)>,
    pub restart_at: Option<Instant>,
    backoff: Option<Duration>,
    pub startup: Option<ProbeState>,
    pub readiness: Option<ProbeState>,
    pub liveness: Option<ProbeState>,
    /// Startup probe passed (or none); liveness and readiness run only then.
    pub started: bool,
}

/// How a process ended: exit code and kubelet's reason.
fn terminated(code: i32, started: Option<Time>, reason: Option<&str>) -> ContainerStateTerminated {
    ContainerStateTerminated {
        exit_code: code,
        reason: Some(
            reason
                .unwrap_or(if code == 0 { "Completed" } else { "Error" })
                .into(),
        ),
        started_at: started,
        finished_at: Some(Time(now())),
        ..ContainerStateTerminated::default()
    }
}

impl ContainerRun {
    pub fn new(spec: Container, argv: Vec<String>, env: Env) -> Self {
        Self {
            spec,
            argv,
            env,
            child: None,
            pid: None,
            started_at: None,
            started_instant: None,
            restart_count: 0,
            last_terminated: None,
            terminated: None,
            waiting: Some(("ContainerCreating".into(), String::new())),
            restart_at: Some(Instant::now()),
            backoff: None,
            startup: None,
            readiness: None,
            liveness: None,
            started: false,
        }
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts the process; output goes to `log`.
    pub fn start(&mut self, sandbox: &Sandbox, log: &Path) -> Result<i32> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("open {}", log.display()))?;
        let mut cmd = sandbox.command(
            &self.argv,
            self.env.vars(),
            self.spec.working_dir.as_deref(),
        );
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file))
            .process_group(0)
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .with_context(|| format!("start container {}: {:?}", self.spec.name, self.argv))?;
        let pid = child.id().context("container pid")? as i32;
        let started = Instant::now();
        self.child = Some(child);
        self.pid = Some(pid);
        self.started_at = Some(Time(now()));
        self.started_instant = Some(started);
        self.waiting = None;
        self.restart_at = None;
        self.started = self.spec.startup_probe.is_none();
        self.startup = self
            .spec
            .startup_probe
            .clone()
            .map(|p| ProbeState::new(p, started));
        self.readiness = self
            .spec
            .readiness_probe
            .clone()
            .map(|p| ProbeState::new(p, started));
        self.liveness = self
            .spec
            .liveness_probe
            .clone()
            .map(|p| ProbeState::new(p, started));
        Ok(pid)
    }

    /// The exit code if the process has exited since the last call.
    pub fn poll_exit(&mut self) -> Option<i32> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        Some(status.code().unwrap_or_else(|| {
            128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(9)
        }))
    }

    /// Records an exit; schedules a restart after the back-off when `restart`.
    pub fn exited(&mut self, code: i32, restart: bool, reason: Option<&str>) {
        self.pid = None;
        let state = terminated(code, self.started_at.take(), reason);
        let ran = self
            .started_instant
            .take()
            .map(|s| s.elapsed())
            .unwrap_or_default();
        self.started = false;
        self.startup = None;
        self.readiness = None;
        self.liveness = None;
        if !restart {
            self.terminated = Some(state);
            return;
        }
        self.last_terminated = Some(state);
        if ran >= BACKOFF_RESET {
            self.backoff = None;
        }
        // The first restart is immediate; later ones wait 10 s, 20 s, … up to 5 min.
        let delay = self.backoff.unwrap_or_default();
        self.backoff = Some(match self.backoff {
            None => BACKOFF_START,
            Some(d) => (d * 2).min(BACKOFF_MAX),
        });
        self.restart_count += 1;
        self.restart_at = Some(Instant::now() + delay);
        if !delay.is_zero() {
            self.waiting = Some((
                "CrashLoopBackOff".into(),
                format!(
                    "back-off {}s restarting failed container={}",
                    delay.as_secs(),
                    self.spec.name
                ),
            ));
        }
    }

    /// Sends `signal` to the main process (as a runtime signals PID 1).
    pub fn signal(&self, signal: i32) {
        if let Some(pid) = self.pid {
            // SAFETY: kill(2) on a pid we started.
            unsafe { libc::kill(pid, signal) };
        }
    }

    /// SIGKILL to the whole process group: the main process and anything it started.
    pub fn kill_group(&self) {
        if let Some(pid) = self.pid {
            // SAFETY: kill(2) on the process group we created.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
    }

    /// Waits up to `limit` for the process to exit; returns its code if it did.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let child = self.child.as_mut()?;
        let status = tokio::time::timeout(limit, child.wait()).await.ok()?.ok()?;
        self.child = None;
        Some(status.code().unwrap_or_else(|| {
            128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(9)
        }))
    }

    pub fn ready(&self) -> bool {
        self.running() && self.started && self.readiness.as_ref().is_none_or(|r| r.passing)
    }

    pub fn status(&self, image: &str) -> ContainerStatus {
        let state = if let Some(t) = &self.terminated {
            ContainerState {
                terminated: Some(t.clone()),
                ..ContainerState::default()
            }
        } else if self.running() {
            ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: self.started_at.clone(),
                }),
                ..ContainerState::default()
            }
        } else {
            let (reason, message) = self.waiting.clone().unwrap_or_default();
            ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some(reason),
                    message: (!message.is_empty()).then_some(message),
                }),
                ..ContainerState::default()
            }
        };
        ContainerStatus {
            name: self.spec.name.clone(),
            image: image.into(),
            image_id: format!(
                "sqsraft-pod-runner://{}",
                self.argv.first().cloned().unwrap_or_default()
            ),
            container_id: self.pid.map(|p| format!("sqsraft-pod-runner://{p}")),
            ready: self.ready(),
            started: Some(self.running() && self.started),
            restart_count: self.restart_count,
            state: Some(state),
            last_state: self.last_terminated.clone().map(|t| ContainerState {
                terminated: Some(t),
                ..ContainerState::default()
            }),
            ..ContainerStatus::default()
        }
    }
}
