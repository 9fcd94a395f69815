//! One pod's life on the node: network namespace, volumes, sandbox, containers, probes
//! and status while it runs; on `deletionTimestamp` the preStop hooks, SIGTERM, SIGKILL
//! at the end of the grace period, then the final delete with grace 0, as kubelet does.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Pod, Probe};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use tokio::sync::watch;

use super::Shared;
use super::container::ContainerRun;
use super::env::{PodRuntime, container_env_in_context, service_env};
use super::hosts::{self, HostsOwner};
use super::image;
use super::probes::{self, Verdict};
use super::sandbox::{Mount, Sandbox};
use super::status::{self, Conditions, StatusInput};
use super::volumes::{PodVolumes, now};

const TICK: Duration = Duration::from_millis(200);
const RESYNC: Duration = Duration::from_secs(1);

fn key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Runs the pod until it is deleted. A failure to set it up (network, sandbox) is
/// logged and retried, as kubelet retries a failed sandbox.
pub async fn run(shared: Arc<Shared>, rx: watch::Receiver<Option<Pod>>) {
    let name = rx.borrow().as_ref().map(key).unwrap_or_default();
    loop {
        match Worker::run(shared.clone(), rx.clone()).await {
            Ok(()) => return,
            Err(e) => eprintln!("pod-runner: pod {name}: {e:#}; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        if rx.borrow().is_none() {
            return;
        }
    }
}

struct Worker {
    shared: Arc<Shared>,
    rx: watch::Receiver<Option<Pod>>,
    pod: Pod,
    rt: PodRuntime,
    dir: PathBuf,
    conditions: Conditions,
    start_time: Time,
    last_status: Option<serde_json::Value>,
    containers: Vec<ContainerRun>,
    image_errors: BTreeMap<String, String>,
}

/// The slot in the runner's /24, returned when the worker ends.
struct Slot(Arc<Shared>, u8);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.release_slot(self.1);
    }
}

impl Worker {
    async fn run(shared: Arc<Shared>, rx: watch::Receiver<Option<Pod>>) -> Result<()> {
        let pod = rx.borrow().clone().context("pod already gone")?;
        let uid = pod.metadata.uid.clone().context("pod without uid")?;
        let slot = Slot(shared.clone(), shared.claim_slot()?);
        let netns = shared.net.create_pod_netns(slot.1)?;
        let rt = PodRuntime {
            pod_ip: shared.net.pod_ip(slot.1).to_string(),
            host_ip: shared.net.gateway().to_string(),
            node_name: shared.node.clone(),
        };
        let dir = shared.dir.join("pods").join(&uid);
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let mut worker = Worker {
            shared: shared.clone(),
            rx,
            pod,
            rt,
            dir: dir.clone(),
            conditions: Conditions::default(),
            start_time: Time(now()),
            last_status: None,
            containers: Vec::new(),
            image_errors: BTreeMap::new(),
        };
        shared.add_netns(&netns.name);
        let result = worker.live(&netns.name).await;
        shared.remove_netns(&netns.name);
        drop(netns);
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    /// The newest object, or `None` once the pod is gone from the API.
    fn refresh(&mut self) -> bool {
        match self.rx.borrow_and_update().clone() {
            Some(pod) => {
                self.pod = pod;
                true
            }
            None => false,
        }
    }

    fn deleting(&self) -> bool {
        self.pod.metadata.deletion_timestamp.is_some()
    }

    fn specs(&self) -> Vec<Container> {
        self.pod
            .spec
            .as_ref()
            .map(|s| s.containers.clone())
            .unwrap_or_default()
    }

    async fn live(&mut self, netns: &str) -> Result<()> {
        let mut volumes = PodVolumes::new(self.dir.join("volumes"));
        // Volumes first: a missing Secret or an unbound claim keeps the pod Pending.
        let paths = loop {
            if !self.refresh() {
                return Ok(());
            }
            if self.deleting() {
                return self.finish().await;
            }
            match volumes.sync(&self.shared, &self.pod, &self.rt).await {
                Ok(paths) => break paths,
                Err(e) => {
                    let reason = format!("{e:#}");
                    self.report_waiting("ContainerCreating", &reason).await;
                    tokio::time::sleep(RESYNC).await;
                }
            }
        };
        let hosts_file = self.dir.join("hosts");
        self.write_hosts(&hosts_file)?;
        let mounts = self.mounts(&paths)?;
        let spec = self.pod.spec.clone().unwrap_or_default();
        let hostname = spec
            .hostname
            .clone()
            .unwrap_or_else(|| self.pod.metadata.name.clone().unwrap_or_default());
        let script = super::sandbox::setup_script(
            &mounts,
            &hosts_file,
            &hostname,
            &self.dir.join("scratch"),
        );
        let sandbox = Sandbox::start(netns, &script).await?;
        self.shared.track(sandbox.pid);
        // As with kube-proxy, Services should answer before the containers start.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.shared.is_proxied(netns) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let result = self.supervise(&sandbox, &mut volumes, &hosts_file).await;
        for c in &self.containers {
            c.kill_group();
            if let Some(pid) = c.pid {
                self.shared.untrack(-pid);
            }
        }
        self.shared.untrack(sandbox.pid);
        drop(sandbox);
        result
    }

    fn mounts(&self, paths: &BTreeMap<String, PathBuf>) -> Result<Vec<Mount>> {
        let mut mounts: Vec<Mount> = Vec::new();
        for c in self.specs() {
            for vm in c.volume_mounts.unwrap_or_default() {
                let base = paths
                    .get(&vm.name)
                    .with_context(|| format!("volumeMount {} names no volume", vm.name))?;
                let source = match vm.sub_path.as_deref().filter(|s| !s.is_empty()) {
                    Some(sub) => base.join(sub),
                    None => base.clone(),
                };
                let mount = Mount {
                    source,
                    target: PathBuf::from(&vm.mount_path),
                    read_only: vm.read_only == Some(true),
                };
                match mounts.iter().find(|m| m.target == mount.target) {
                    Some(existing) if *existing != mount => {
                        bail!(
                            "containers mount different volumes at {}: the pod runner shares one mount namespace per pod",
                            vm.mount_path
                        )
                    }
                    Some(_) => {}
                    None => mounts.push(mount),
                }
            }
        }
        Ok(mounts)
    }

    fn write_hosts(&self, path: &std::path::Path) -> Result<()> {
        let spec = self.pod.spec.clone().unwrap_or_default();
        let name = self.pod.metadata.name.clone().unwrap_or_default();
        let hostname = spec.hostname.clone().unwrap_or(name);
        let owner = HostsOwner {
            namespace: self.pod.metadata.namespace.as_deref().unwrap_or("default"),
            hostname: &hostname,
            subdomain: spec.subdomain.as_deref(),
            ip: &self.rt.pod_ip,
        };
        let content = hosts::render(
            &owner,
            &self.shared.services(),
            &self.shared.slices(),
            &self.shared.domain,
        );
        hosts::write_in_place(path, &content)?;
        Ok(())
    }

    fn prepare_containers(&mut self) {
        let services = service_env(&self.pod, &self.shared.services());
        for spec in self.specs() {
            let image = spec.image.clone().unwrap_or_default();
            let prepared = image::lookup(&self.shared.images, &image).and_then(|img| {
                let env =
                    container_env_in_context(&self.pod, &spec, &self.rt, &*self.shared, &services)?;
                let command: Vec<String> = spec
                    .command
                    .clone()
                    .unwrap_or_default()
                    .iter()
                    .map(|s| env.expand(s))
                    .collect();
                let args: Vec<String> = spec
                    .args
                    .clone()
                    .unwrap_or_default()
                    .iter()
                    .map(|s| env.expand(s))
                    .collect();
                Ok((image::argv(&self.shared.images, img, &command, &args), env))
            });
            match prepared {
                Ok((argv, env)) => self.containers.push(ContainerRun::new(spec, argv, env)),
                Err(e) => {
                    self.image_errors
                        .insert(spec.name.clone(), format!("{e:#}"));
                    let mut run = ContainerRun::new(spec, Vec::new(), Default::default());
                    run.waiting = Some(("CreateContainerConfigError".into(), format!("{e:#}")));
                    run.restart_at = None;
                    self.containers.push(run);
                }
            }
        }
    }

    fn restart_policy(&self) -> String {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.clone())
            .unwrap_or_else(|| "Always".into())
    }

    fn grace(&self) -> Duration {
        let secs = self
            .pod
            .metadata
            .deletion_grace_period_seconds
            .or_else(|| {
                self.pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.termination_grace_period_seconds)
            })
            .unwrap_or(30);
        Duration::from_secs(secs.max(0) as u64)
    }

    async fn supervise(
        &mut self,
        sandbox: &Sandbox,
        volumes: &mut PodVolumes,
        hosts_file: &std::path::Path,
    ) -> Result<()> {
        self.prepare_containers();
        let mut last_sync = Instant::now();
        loop {
            if !self.refresh() {
                return Ok(());
            }
            if self.deleting() {
                self.terminate(sandbox).await;
                return self.finish().await;
            }
            let now = Instant::now();
            let policy = self.restart_policy();
            let logs = self.shared.dir.join("logs");
            let ns = self.pod.metadata.namespace.clone().unwrap_or_default();
            let pod_name = self.pod.metadata.name.clone().unwrap_or_default();
            let pod_ip = self.rt.pod_ip.clone();
            for c in &mut self.containers {
                if let Some(code) = c.poll_exit() {
                    self.shared.untrack(-c.pid.unwrap_or_default());
                    let restart = policy == "Always" || (policy == "OnFailure" && code != 0);
                    c.exited(code, restart, None);
                }
                if !c.running() && c.terminated.is_none() && c.restart_at.is_some_and(|t| t <= now)
                {
                    let log = logs.join(format!("{ns}_{pod_name}_{}.log", c.spec.name));
                    match c.start(sandbox, &log) {
                        Ok(pid) => self.shared.track(-pid),
                        Err(e) => {
                            c.waiting = Some(("RunContainerError".into(), format!("{e:#}")));
                            c.restart_at = Some(now + Duration::from_secs(10));
                        }
                    }
                }
                if c.running() {
                    Self::probe(c, sandbox, &pod_ip, &self.shared.images, now).await;
                }
            }
            if last_sync.elapsed() >= RESYNC {
                last_sync = Instant::now();
                if let Err(e) = volumes.sync(&self.shared, &self.pod, &self.rt).await {
                    eprintln!("pod-runner: pod {}: volume update: {e:#}", key(&self.pod));
                }
                if let Err(e) = self.write_hosts(hosts_file) {
                    eprintln!("pod-runner: pod {}: hosts: {e:#}", key(&self.pod));
                }
            }
            self.report(true).await;
            let _ = tokio::time::timeout(TICK, self.rx.changed()).await;
        }
    }

    /// Runs whichever of the container's probes are due and acts on the verdicts.
    async fn probe(
        c: &mut ContainerRun,
        sandbox: &Sandbox,
        pod_ip: &str,
        images: &[image::ImageBinary],
        now: Instant,
    ) {
        let env = c.env.vars().to_vec();
        if !c.started {
            if let Some(state) = c.startup.as_mut().filter(|s| s.due(now)) {
                let result =
                    probes::check(&state.probe, &c.spec, pod_ip, sandbox, &env, images).await;
                match state.record(Instant::now(), result) {
                    Verdict::Passed => c.started = true,
                    Verdict::Failed(why) => {
                        Self::restart_unhealthy(c, &format!("Startup probe failed: {why}")).await
                    }
                    Verdict::Unchanged => {}
                }
            }
            return;
        }
        if let Some(state) = c.liveness.as_mut().filter(|s| s.due(now)) {
            let result = probes::check(&state.probe, &c.spec, pod_ip, sandbox, &env, images).await;
            if let Verdict::Failed(why) = state.record(Instant::now(), result) {
                Self::restart_unhealthy(c, &format!("Liveness probe failed: {why}")).await;
                return;
            }
        }
        if let Some(state) = c.readiness.as_mut().filter(|s| s.due(now)) {
            let result = probes::check(&state.probe, &c.spec, pod_ip, sandbox, &env, images).await;
            state.record(Instant::now(), result);
        }
    }

    /// A failed liveness or startup probe: SIGTERM, SIGKILL after the grace period,
    /// then the normal restart path.
    async fn restart_unhealthy(c: &mut ContainerRun, why: &str) {
        eprintln!("pod-runner: container {}: {why}; restarting", c.spec.name);
        c.signal(libc::SIGTERM);
        if c.wait_exit(Duration::from_secs(30)).await.is_none() {
            c.kill_group();
            let _ = c.wait_exit(Duration::from_secs(5)).await;
        }
        c.exited(137, true, Some("Error"));
    }

    /// preStop hooks, SIGTERM, SIGKILL when the grace period is over.
    async fn terminate(&mut self, sandbox: &Sandbox) {
        let deadline = Instant::now() + self.grace();
        let pod_ip = self.rt.pod_ip.clone();
        let images = self.shared.images.clone();
        let hooks = self
            .containers
            .iter()
            .filter(|c| c.running())
            .filter_map(|c| {
                let hook = c.spec.lifecycle.as_ref()?.pre_stop.clone()?;
                Some(run_hook(hook, c, sandbox, &pod_ip, &images, deadline))
            });
        futures::future::join_all(hooks).await;
        for c in &self.containers {
            c.signal(libc::SIGTERM);
        }
        // As kubelet: at least 2 s after SIGTERM, even when preStop used the whole period.
        let deadline = deadline.max(Instant::now() + Duration::from_secs(2));
        for c in &mut self.containers {
            if !c.running() {
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let code = match c.wait_exit(left).await {
                Some(code) => code,
                None => {
                    c.kill_group();
                    c.wait_exit(Duration::from_secs(5)).await.unwrap_or(137)
                }
            };
            self.shared.untrack(-c.pid.unwrap_or_default());
            c.exited(code, false, None);
        }
        self.report(false).await;
    }

    /// The final delete (grace 0), only for the pod object this worker ran.
    async fn finish(&mut self) -> Result<()> {
        let ns = self.pod.metadata.namespace.clone().unwrap_or_default();
        let name = self.pod.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.shared.client.clone(), &ns);
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: self.pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match api.delete(&name, &params).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
            Err(e) => Err(e).with_context(|| format!("delete pod {ns}/{name}")),
        }
    }

    async fn report_waiting(&mut self, reason: &str, message: &str) {
        let specs = self.specs();
        self.containers = specs
            .into_iter()
            .map(|s| {
                let mut run = ContainerRun::new(s, Vec::new(), Default::default());
                run.waiting = Some((reason.into(), message.into()));
                run
            })
            .collect();
        self.report(false).await;
        self.containers.clear();
    }

    /// Patches the status when it changed.
    async fn report(&mut self, sandbox_ready: bool) {
        let containers = self
            .containers
            .iter()
            .map(|c| c.status(c.spec.image.as_deref().unwrap_or_default()))
            .collect();
        let status = status::build(
            StatusInput {
                pod_ip: if sandbox_ready { &self.rt.pod_ip } else { "" },
                host_ip: &self.rt.host_ip,
                start_time: &self.start_time,
                sandbox_ready,
                containers,
            },
            &mut self.conditions,
        );
        let Ok(value) = serde_json::to_value(&status) else {
            return;
        };
        if self.last_status.as_ref() == Some(&value) {
            return;
        }
        let ns = self.pod.metadata.namespace.clone().unwrap_or_default();
        let name = self.pod.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.shared.client.clone(), &ns);
        let patch = serde_json::json!({ "status": value });
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => self.last_status = Some(value),
            Err(e) => eprintln!("pod-runner: pod {ns}/{name}: status update: {e}"),
        }
    }
}

/// One preStop hook, bounded by the grace period's deadline.
async fn run_hook(
    hook: LifecycleHandler,
    c: &ContainerRun,
    sandbox: &Sandbox,
    pod_ip: &str,
    images: &[image::ImageBinary],
    deadline: Instant,
) {
    let left = deadline.saturating_duration_since(Instant::now());
    let result = if let Some(sleep) = &hook.sleep {
        tokio::time::sleep(Duration::from_secs(sleep.seconds.max(0) as u64).min(left)).await;
        Ok(())
    } else {
        let probe = Probe {
            exec: hook.exec.clone(),
            http_get: hook.http_get.clone(),
            tcp_socket: hook.tcp_socket.clone(),
            timeout_seconds: Some(left.as_secs().max(1) as i32),
            ..Probe::default()
        };
        probes::check(&probe, &c.spec, pod_ip, sandbox, c.env.vars(), images).await
    };
    if let Err(e) = result {
        eprintln!("pod-runner: container {}: preStop hook: {e:#}", c.spec.name);
    }
}
