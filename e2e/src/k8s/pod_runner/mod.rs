//! The pod runner: the test control plane's only stand-in, for kubelet, the container
//! runtime, kube-proxy and cluster DNS. It registers a Node, binds pending pods to it
//! and runs each pod as local processes in a network namespace of its own; see the
//! "Pod runner" section of e2e/README.md for exactly what it emulates.

mod atomic_dir;
mod binder;
mod container;
pub mod env;
pub mod expand;
pub mod hosts;
pub mod image;
mod network;
mod node;
mod pod_worker;
mod probes;
mod provisioner;
mod sandbox;
mod service_proxy;
mod status;
mod volumes;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolume, PersistentVolumeClaim, Pod, Secret, Service,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::ListParams;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use image::{ImageBinary, project_images};

use env::Objects;
use network::RunnerNetwork;

/// A task aborted when its handle is dropped.
pub(crate) struct AbortOnDrop(pub JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What the runner needs to know about its control plane.
pub struct RunnerConfig {
    /// The API server's port on 127.0.0.1 (the `kubernetes` Service forwards there).
    pub api_port: u16,
    /// Images the runner can run (see [`project_images`]).
    pub images: Vec<ImageBinary>,
    /// The DNS suffix of Services, `cluster.local` unless the test says otherwise.
    pub cluster_domain: String,
}

/// State shared by the runner's tasks.
pub(crate) struct Shared {
    client: Client,
    node: String,
    net: RunnerNetwork,
    api_port: u16,
    dir: PathBuf,
    images: Vec<ImageBinary>,
    domain: String,
    secrets: Store<Secret>,
    config_maps: Store<ConfigMap>,
    services: Store<Service>,
    slices: Store<EndpointSlice>,
    pvcs: Store<PersistentVolumeClaim>,
    pvs: Store<PersistentVolume>,
    /// Sandbox pids and (negated) container process groups still alive.
    pids: Mutex<HashSet<i32>>,
    slots: Mutex<BTreeSet<u8>>,
    /// Network namespaces of running pods (the proxy listens in each).
    netns: Mutex<BTreeSet<String>>,
    /// Those in which every Service is already proxied.
    proxied: Mutex<BTreeSet<String>>,
}

impl Shared {
    fn claim_slot(&self) -> Result<u8> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let Some(free) = (2..=254u8).find(|s| !slots.contains(s)) else {
            bail!("no free pod address on node {}", self.node);
        };
        slots.insert(free);
        Ok(free)
    }

    fn release_slot(&self, slot: u8) {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&slot);
    }

    fn track(&self, pid: i32) {
        self.pids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(pid);
    }

    fn untrack(&self, pid: i32) {
        self.pids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&pid);
    }

    fn add_netns(&self, name: &str) {
        self.netns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned());
    }

    fn remove_netns(&self, name: &str) {
        self.netns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }

    fn set_proxied(&self, ready: BTreeSet<String>) {
        *self.proxied.lock().unwrap_or_else(|p| p.into_inner()) = ready;
    }

    fn is_proxied(&self, name: &str) -> bool {
        self.proxied
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(name)
    }

    fn pod_netns(&self) -> Vec<String> {
        self.netns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    fn services(&self) -> Vec<Service> {
        self.services
            .state()
            .iter()
            .map(|s| (**s).clone())
            .collect()
    }

    fn slices(&self) -> Vec<EndpointSlice> {
        self.slices.state().iter().map(|s| (**s).clone()).collect()
    }

    fn claims_dir(&self) -> PathBuf {
        self.dir.join("claims")
    }

    /// The directory of the PV bound to claim `ns/name`, once bound.
    fn claim_directory(&self, ns: &str, name: &str) -> Option<PathBuf> {
        let claim = self.pvcs.get(&ObjectRef::new(name).within(ns))?;
        let volume = claim
            .spec
            .as_ref()?
            .volume_name
            .clone()
            .filter(|v| !v.is_empty())?;
        let pv = self.pvs.get(&ObjectRef::new(&volume))?;
        let path = pv.spec.as_ref()?.host_path.as_ref()?.path.clone();
        Some(PathBuf::from(path))
    }
}

impl Objects for Shared {
    fn secret(&self, namespace: &str, name: &str) -> Option<Secret> {
        self.secrets
            .get(&ObjectRef::new(name).within(namespace))
            .map(|s| (*s).clone())
    }

    fn config_map(&self, namespace: &str, name: &str) -> Option<ConfigMap> {
        self.config_maps
            .get(&ObjectRef::new(name).within(namespace))
            .map(|s| (*s).clone())
    }
}

/// A cache of every object of one kind, kept current by a watch.
fn reflect<K>(api: Api<K>, tasks: &mut Vec<AbortOnDrop>) -> Store<K>
where
    K: kube::Resource
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .touched_objects();
    tasks.push(AbortOnDrop(tokio::spawn(async move {
        stream.for_each(|_| futures::future::ready(())).await;
    })));
    reader
}

use kube::runtime::watcher::watcher;

/// A running node; dropping it kills every pod process and removes its network.
pub struct PodRunner {
    shared: Arc<Shared>,
    tasks: Vec<AbortOnDrop>,
    dir: Option<tempfile::TempDir>,
}

impl PodRunner {
    /// Registers the node, waits for the caches and starts serving pods.
    pub async fn start(client: Client, config: RunnerConfig) -> Result<Self> {
        let net = RunnerNetwork::allocate()?;
        let node_name = format!("pod-runner-{}", net.index);
        // Not under /tmp: a pod may mount a volume at /tmp, which would hide the sources.
        let dir = tempfile::Builder::new()
            .prefix("sqsraft-pod-runner-")
            .tempdir_in("/var/tmp")
            .context("create the pod runner directory")?;
        std::fs::create_dir_all(dir.path().join("logs"))?;
        let mut tasks = Vec::new();
        let c = &client;
        let shared = Arc::new(Shared {
            secrets: reflect(Api::all(c.clone()), &mut tasks),
            config_maps: reflect(Api::all(c.clone()), &mut tasks),
            services: reflect(Api::all(c.clone()), &mut tasks),
            slices: reflect(Api::all(c.clone()), &mut tasks),
            pvcs: reflect(Api::all(c.clone()), &mut tasks),
            pvs: reflect(Api::all(c.clone()), &mut tasks),
            client: client.clone(),
            node: node_name.clone(),
            api_port: config.api_port,
            dir: dir.path().to_path_buf(),
            images: image::pull(config.images, &dir.path().join("images"))?,
            domain: config.cluster_domain,
            net,
            pids: Mutex::default(),
            slots: Mutex::default(),
            netns: Mutex::default(),
            proxied: Mutex::default(),
        });
        let s = &shared;
        tokio::try_join!(
            s.secrets.wait_until_ready(),
            s.config_maps.wait_until_ready(),
            s.services.wait_until_ready(),
            s.slices.wait_until_ready(),
            s.pvcs.wait_until_ready(),
            s.pvs.wait_until_ready(),
        )
        .context(
            "initial list of secrets, configmaps, services, endpointslices, claims and volumes",
        )?;
        let ip = shared.net.gateway().to_string();
        let node = node::register(&client, &node_name, &ip, &shared.net.pod_cidr()).await?;
        tasks.push(AbortOnDrop(tokio::spawn(node::keep_ready(
            client.clone(),
            node_name,
            ip,
            node,
        ))));
        tasks.push(AbortOnDrop(tokio::spawn(service_proxy::run(
            shared.clone(),
        ))));
        tasks.push(AbortOnDrop(tokio::spawn(provisioner::run(shared.clone()))));
        tasks.push(AbortOnDrop(tokio::spawn(dispatch(shared.clone()))));
        Ok(Self {
            shared,
            tasks,
            dir: Some(dir),
        })
    }

    /// The Node's name.
    pub fn node_name(&self) -> &str {
        &self.shared.node
    }

    /// The node's address (the bridge), from which pods and Services are reachable.
    pub fn node_ip(&self) -> String {
        self.shared.net.gateway().to_string()
    }

    /// Where this runner keeps pod files, claim directories and logs.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The log file of one container (appended to across restarts).
    pub fn log_path(&self, namespace: &str, pod: &str, container: &str) -> PathBuf {
        self.shared
            .dir
            .join("logs")
            .join(format!("{namespace}_{pod}_{container}.log"))
    }

    /// The last `lines` lines of every container log, for a failing test to print.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut out = String::new();
        let Ok(entries) = std::fs::read_dir(self.shared.dir.join("logs")) else {
            return out;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            let tail = &all[all.len().saturating_sub(lines)..];
            out += &format!("==> {} <==\n{}\n", path.display(), tail.join("\n"));
        }
        out
    }
}

impl Drop for PodRunner {
    fn drop(&mut self) {
        self.tasks.clear();
        let pids: Vec<i32> = self
            .shared
            .pids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .collect();
        for pid in pids {
            // SAFETY: SIGKILL to processes (negative: process groups) this runner started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        self.shared.net.remove_all();
        if let Some(dir) = self.dir.take() {
            if std::thread::panicking() {
                let kept = dir.keep();
                eprintln!(
                    "pod-runner: test failed; pod files and logs kept in {}",
                    kept.display()
                );
            } else {
                // Claim directories may hold files of killed processes; best effort.
                drop(dir);
            }
        }
    }
}

/// Follows every pod: binds unscheduled ones, runs this node's, tells workers about
/// updates and removal.
async fn dispatch(shared: Arc<Shared>) {
    let api: Api<Pod> = Api::all(shared.client.clone());
    let mut workers: HashMap<String, (watch::Sender<Option<Pod>>, AbortOnDrop)> = HashMap::new();
    let mut listed: HashSet<String> = HashSet::new();
    // Pods whose worker ended: later events about them start nothing.
    let mut finished: HashSet<String> = HashSet::new();
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut rebind = tokio::time::interval(std::time::Duration::from_secs(2));
    loop {
        let next = tokio::select! {
            next = events.try_next() => next,
            _ = rebind.tick() => {
                bind_pending(&shared).await;
                continue;
            }
        };
        let event = match next {
            Ok(Some(event)) => event,
            Ok(None) => return,
            Err(e) => {
                eprintln!("pod-runner: pod watch: {e}");
                continue;
            }
        };
        match event {
            Event::Init => listed.clear(),
            Event::InitApply(pod) | Event::Apply(pod) => {
                let Some(uid) = pod.metadata.uid.clone() else {
                    continue;
                };
                listed.insert(uid.clone());
                if binder::unscheduled(&pod) {
                    if let Err(e) = binder::bind(&shared.client, &pod, &shared.node).await {
                        // Retried by `bind_pending`.
                        eprintln!("pod-runner: {e:#}");
                    }
                    continue;
                }
                if pod.spec.as_ref().and_then(|s| s.node_name.as_deref())
                    != Some(shared.node.as_str())
                {
                    continue;
                }
                let terminal = matches!(
                    pod.status.as_ref().and_then(|s| s.phase.as_deref()),
                    Some("Succeeded" | "Failed")
                );
                match workers.get(&uid) {
                    Some((tx, _)) => {
                        let _ = tx.send(Some(pod));
                    }
                    None if finished.contains(&uid) || terminal => {}
                    None => {
                        let (tx, rx) = watch::channel(Some(pod));
                        let task = tokio::spawn(pod_worker::run(shared.clone(), rx));
                        workers.insert(uid, (tx, AbortOnDrop(task)));
                    }
                }
            }
            Event::Delete(pod) => {
                if let Some((tx, _)) = pod.metadata.uid.as_ref().and_then(|u| workers.get(u)) {
                    let _ = tx.send(None);
                }
            }
            Event::InitDone => {
                for (uid, (tx, _)) in &workers {
                    if !listed.contains(uid) {
                        let _ = tx.send(None);
                    }
                }
            }
        }
        // Workers that finished have dropped their receiver.
        workers.retain(|uid, (tx, _)| {
            let done = tx.is_closed();
            if done {
                finished.insert(uid.clone());
            }
            !done
        });
    }
}

/// Binds pods still unscheduled: a bind that failed on the event is retried here.
async fn bind_pending(shared: &Shared) {
    let api: Api<Pod> = Api::all(shared.client.clone());
    let pending = ListParams::default().fields("spec.nodeName=");
    let Ok(list) = api.list(&pending).await else {
        return;
    };
    for pod in list.items.iter().filter(|p| binder::unscheduled(p)) {
        if let Err(e) = binder::bind(&shared.client, pod, &shared.node).await {
            eprintln!("pod-runner: {e:#}");
        }
    }
}
