//! Shared by the tests on the real control plane: one control plane and pod runner per
//! test (serialized: each is several processes on two shared cores), waits with a
//! bounded deadline, and small accessors of pods and their status.

#![allow(dead_code)] // Each test file uses its own subset.

pub mod operator;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use kube::api::PostParams;
use kube::{Api, Client};
use sqsraft_e2e::k8s::ControlPlane;
use sqsraft_e2e::k8s::control_plane::unavailable_reason;
use sqsraft_e2e::k8s::pod_runner::{ImageBinary, PodRunner, RunnerConfig};

static SERIAL: Mutex<()> = Mutex::new(());

/// A background task of a test, aborted when dropped.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub struct Env {
    pub runner: PodRunner,
    pub client: Client,
    pub plane: ControlPlane,
}

/// Why these tests cannot run here, if they cannot.
pub fn missing_prerequisite() -> Option<String> {
    if let Some(reason) = unavailable_reason() {
        return Some(reason);
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("the pod runner needs root (network namespaces, mounts)".into());
    }
    None
}

async fn start(images: Vec<ImageBinary>, namespace: &str) -> Result<Env> {
    let plane = ControlPlane::start().await?;
    let client = plane.client().await?;
    let runner = PodRunner::start(
        client.clone(),
        RunnerConfig {
            api_port: plane.api_server().port(),
            images,
            cluster_domain: "cluster.local".into(),
        },
    )
    .await?;
    create_namespace(&client, namespace).await?;
    Ok(Env {
        runner,
        client,
        plane,
    })
}

/// Creates `name` and waits for its `default` ServiceAccount (made by the controller).
pub async fn create_namespace(client: &Client, name: &str) -> Result<()> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &object(serde_json::json!({"metadata": {"name": name}})),
        )
        .await
        .with_context(|| format!("create namespace {name}"))?;
    wait_for(
        &format!("ServiceAccount {name}/default"),
        Duration::from_secs(30),
        || {
            let sa: Api<ServiceAccount> = Api::namespaced(client.clone(), name);
            async move { Ok(sa.get_opt("default").await?.is_some()) }
        },
    )
    .await
}

/// Runs `body` with a fresh control plane, a pod runner for `images` and namespace
/// `namespace`; prints the pods' and components' logs when it fails.
pub fn scenario(
    name: &str,
    missing: Option<String>,
    images: Vec<ImageBinary>,
    namespace: &str,
    body: impl AsyncFnOnce(&Env) -> Result<()>,
) {
    if let Some(reason) = missing.or_else(missing_prerequisite) {
        sqsraft_server::prerequisite::unavailable(name, reason);
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(async {
        let started = Instant::now();
        let env = start(images, namespace)
            .await
            .expect("start control plane and pod runner");
        let result = body(&env).await;
        eprintln!("{name}: {:.1} s", started.elapsed().as_secs_f64());
        if let Err(e) = result {
            eprintln!("{}", env.runner.log_tails(60));
            eprintln!("{}", env.plane.log_tails());
            panic!("{name}: {e:#}");
        }
    });
}

pub async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + limit;
    let mut last = None;
    loop {
        match check().await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last = Some(format!("{e:#}")),
        }
        if Instant::now() > deadline {
            bail!("timed out after {limit:?} waiting for {what} (last error: {last:?})");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn object<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("valid object")
}

pub fn merge(base: &mut serde_json::Value, extra: serde_json::Value) {
    match (base, extra) {
        (serde_json::Value::Object(b), serde_json::Value::Object(e)) => {
            for (k, v) in e {
                merge(b.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, e) => *b = e,
    }
}

pub async fn pod(client: &Client, ns: &str, name: &str) -> Result<Option<Pod>> {
    Ok(Api::<Pod>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await?)
}

pub fn condition(pod: &Pod, kind: &str) -> Option<String> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
        .map(|c| c.status.clone())
}

pub async fn wait_ready(client: &Client, ns: &str, name: &str) -> Result<Pod> {
    wait_for(
        &format!("pod {name} Ready"),
        Duration::from_secs(60),
        || async {
            Ok(pod(client, ns, name)
                .await?
                .is_some_and(|p| condition(&p, "Ready").as_deref() == Some("True")))
        },
    )
    .await?;
    pod(client, ns, name).await?.context("pod vanished")
}

pub fn pod_ip(pod: &Pod) -> String {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .unwrap_or_default()
}

/// GET `url` from the test (root namespace), body as text.
pub async fn get(url: &str) -> Result<String> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || -> Result<String> {
        let body = ureq::get(&url)
            .config()
            .timeout_global(Some(Duration::from_secs(3)))
            .build()
            .call()?
            .body_mut()
            .read_to_string()?;
        Ok(body)
    })
    .await?
}
