//! The QueueCluster reconciler: read → validate → build → apply → membership turn →
//! status, with Events, metrics and backoff.

pub mod workloads;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::build::{
    self, Cluster, ClusterToken, CredentialsSource, FIELD_MANAGER, KeyPair, LABEL_ROLE,
    OperatorDefaults, ROLE_FOLLOWER, ROLE_LEADER,
};
use crate::crd::QueueCluster;
use crate::membership::{
    self, AdminApi, ClusterHealth, HttpAdminClient, PlannerConfig, PodDnsResolver, PodResolver,
    Step,
};
use crate::metrics::Metrics;
use crate::status::{self, Outcome, StatusInputs};
use workloads::{KubeWorkloads, selector};

/// Makes the admin API client of one cluster (HTTP to the pods in production, a fake or
/// loopback processes in tests).
pub trait AdminConnector: Send + Sync + 'static {
    type Api: AdminApi;
    type Resolver: PodResolver;
    fn connect(&self, c: &Cluster<'_>, token: &str) -> (Self::Api, Self::Resolver);
}

/// HTTP to each pod's stable DNS name through the headless Service.
#[derive(Debug, Clone, Copy, Default)]
pub struct PodHttpConnector;

impl AdminConnector for PodHttpConnector {
    type Api = HttpAdminClient<PodDnsResolver>;
    type Resolver = PodDnsResolver;
    fn connect(&self, c: &Cluster<'_>, token: &str) -> (Self::Api, Self::Resolver) {
        let resolver = PodDnsResolver::new(c);
        (HttpAdminClient::new(resolver.clone(), token), resolver)
    }
}

/// Shared state of the controller.
pub struct Context<C> {
    pub client: Client,
    pub defaults: OperatorDefaults,
    pub planner: PlannerConfig,
    pub connector: C,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    /// Consecutive failures per object, for exponential backoff.
    failures: Mutex<HashMap<(String, String), u32>>,
}

impl<C> Context<C> {
    pub fn new(
        client: Client,
        defaults: OperatorDefaults,
        connector: C,
        metrics: Arc<Metrics>,
    ) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            defaults,
            planner: PlannerConfig::default(),
            connector,
            metrics,
            failures: Mutex::new(HashMap::new()),
        }
    }
}

/// A failed reconcile; retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("membership: {0}")]
    Membership(#[from] membership::DriverError),
    #[error("cannot generate a secret: {0}")]
    Random(String),
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// Category for metrics and Events.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Kube(_) => "KubeApi",
            Error::Membership(membership::DriverError::Admin(_)) => "AdminApi",
            Error::Membership(membership::DriverError::Workloads(_)) => "Workloads",
            Error::Random(_) => "Random",
            Error::Other(_) => "Other",
        }
    }
}

fn key(qc: &QueueCluster) -> (String, String) {
    (qc.namespace().unwrap_or_default(), qc.name_any())
}

/// Backoff after consecutive failures: 5 s doubling up to 5 min.
pub fn backoff(failures: u32) -> Duration {
    let secs = 5u64.saturating_mul(1u64 << failures.min(6).saturating_sub(1));
    Duration::from_secs(secs.min(300))
}

/// The controller's error policy: count, report, back off.
pub fn error_policy<C: AdminConnector>(
    qc: Arc<QueueCluster>,
    error: &Error,
    ctx: Arc<Context<C>>,
) -> Action {
    ctx.metrics.error(error.reason());
    let n = {
        let mut f = ctx.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = f.entry(key(&qc)).or_insert(0);
        *n += 1;
        *n
    };
    let wait = backoff(n);
    tracing::warn!(name = %qc.name_any(), namespace = ?qc.namespace(), %error, failures = n, ?wait, "reconcile failed");
    Action::requeue(wait)
}

async fn publish<C>(
    ctx: &Context<C>,
    qc: &QueueCluster,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &qc.object_ref(&())).await {
        tracing::warn!(error = %e, "cannot publish event");
    }
}

async fn apply<K>(api: &Api<K>, obj: &K) -> Result<K, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(obj),
    )
    .await
}

/// Creates `secret` unless it exists; never updates it. Returns the stored Secret.
async fn create_once(api: &Api<Secret>, secret: &Secret) -> Result<Secret, kube::Error> {
    let name = secret.metadata.name.clone().unwrap_or_default();
    if let Some(existing) = api.get_opt(&name).await? {
        return Ok(existing);
    }
    match api.create(&PostParams::default(), secret).await {
        Ok(s) => Ok(s),
        // Another operator replica or the user was faster: keep theirs.
        Err(kube::Error::Api(s)) if s.code == 409 => api.get(&name).await,
        Err(e) => Err(e),
    }
}

fn secret_value(secret: &Secret, key: &str) -> Option<String> {
    if let Some(v) = secret.data.as_ref().and_then(|d| d.get(key)) {
        return String::from_utf8(v.0.clone()).ok();
    }
    secret
        .string_data
        .as_ref()
        .and_then(|d| d.get(key))
        .cloned()
}

/// Requeue interval after a step.
pub fn requeue_after(step: &Step) -> Duration {
    match step {
        Step::Converged => Duration::from_secs(30),
        Step::Refuse { .. } => Duration::from_secs(15),
        Step::Wait { .. } => Duration::from_secs(5),
        _ => Duration::from_secs(1),
    }
}

fn step_kind(step: &Step) -> &'static str {
    match step {
        Step::GrowStatefulSet { .. } => "GrowStatefulSet",
        Step::Bootstrap { .. } => "Bootstrap",
        Step::AddLearner { .. } => "AddLearner",
        Step::Promote { .. } => "Promote",
        Step::TransferLeader { .. } => "TransferLeader",
        Step::RemoveVoter { .. } => "RemoveVoter",
        Step::RemoveLearner { .. } => "RemoveLearner",
        Step::ShrinkStatefulSet { .. } => "ShrinkStatefulSet",
        Step::DeletePvc { .. } => "DeletePvc",
        Step::RestartPod { .. } => "RestartPod",
        Step::Wait { .. } => "Wait",
        Step::Refuse { .. } => "Refuse",
        Step::Converged => "Converged",
    }
}

struct PodFacts {
    ready: i32,
    /// (pod name, ordinal, current role label).
    pods: Vec<(String, u32, Option<String>)>,
}

async fn pod_facts(pods: &Api<Pod>, name: &str) -> Result<PodFacts, kube::Error> {
    let list = pods
        .list(&ListParams::default().labels(&selector(name)))
        .await?;
    let mut facts = PodFacts {
        ready: 0,
        pods: Vec::new(),
    };
    for p in list {
        let ready = p
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        facts.ready += i32::from(ready);
        if let Some(o) = workloads::ordinal_of(name, &p.name_any()) {
            facts
                .pods
                .push((p.name_any(), o, p.labels().get(LABEL_ROLE).cloned()));
        }
    }
    Ok(facts)
}

/// Labels the leader's pod `leader` and every other pod `follower`, so the
/// `<name>-leader` Service follows the leader.
async fn label_roles(
    pods: &Api<Pod>,
    facts: &PodFacts,
    health: Option<&ClusterHealth>,
) -> Result<(), kube::Error> {
    let Some(h) = health else { return Ok(()) };
    for (pod, ordinal, current) in &facts.pods {
        let want = if *ordinal == h.leader {
            ROLE_LEADER
        } else {
            ROLE_FOLLOWER
        };
        if current.as_deref() != Some(want) {
            let patch = serde_json::json!({"metadata": {"labels": {LABEL_ROLE: want}}});
            pods.patch(pod, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
        }
    }
    Ok(())
}

async fn write_status<C>(
    ctx: &Context<C>,
    qc: &QueueCluster,
    status: &crate::crd::QueueClusterStatus,
) -> Result<(), kube::Error> {
    let api: Api<QueueCluster> =
        Api::namespaced(ctx.client.clone(), &qc.namespace().unwrap_or_default());
    let patch = serde_json::json!({
        "apiVersion": "sqsraft.io/v1alpha1",
        "kind": "QueueCluster",
        "status": status,
    });
    api.patch_status(
        &qc.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// Reconciles one QueueCluster.
pub async fn reconcile<C: AdminConnector>(
    qc: Arc<QueueCluster>,
    ctx: Arc<Context<C>>,
) -> Result<Action, Error> {
    ctx.metrics.reconcile_started();
    let started = Instant::now();
    let result = reconcile_inner(&qc, &ctx).await;
    ctx.metrics.reconcile_finished(started.elapsed());
    if result.is_ok() {
        ctx.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key(&qc));
    }
    result
}

async fn reconcile_inner<C: AdminConnector>(
    qc: &QueueCluster,
    ctx: &Context<C>,
) -> Result<Action, Error> {
    // Deletion: owner references let the garbage collector remove everything we made;
    // there is no finalizer, so deletion never waits for an unreachable cluster.
    if qc.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let previous = qc.status.as_ref();
    let cluster = match Cluster::new(qc, &ctx.defaults) {
        Ok(c) => c,
        Err(e) => {
            publish(ctx, qc, EventType::Warning, "InvalidSpec", e.to_string()).await;
            if qc.namespace().is_some() {
                let outcome = Outcome::Invalid(e.to_string());
                let status = invalid_status(qc, &outcome);
                if let Some(status) = status {
                    write_status(ctx, qc, &status).await?;
                }
            }
            return Ok(Action::await_change());
        }
    };
    let ns = cluster.namespace.clone();
    let client = ctx.client.clone();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let desired = u32::try_from(qc.spec.replicas).unwrap_or(1);

    // Paused: look, report, change nothing.
    if qc.spec.reconciliation_paused {
        let token = secrets
            .get_opt(&cluster.cluster_token_secret_name())
            .await?
            .and_then(|s| secret_value(&s, build::TOKEN_KEY));
        let facts = pod_facts(&pods, &cluster.name).await?;
        let health = match token {
            Some(token) => {
                let (api, _) = ctx.connector.connect(&cluster, &token);
                let wl = workloads_for(&cluster, &client);
                let observed = membership::driver::observe(&api, &wl, true).await?;
                membership::cluster_health(&observed, &ctx.planner)
            }
            None => None,
        };
        let status = status::compute(
            &cluster,
            &StatusInputs {
                generation: qc.metadata.generation,
                desired: qc.spec.replicas,
                statefulset_replicas: previous.map_or(0, |p| p.replicas),
                ready_replicas: facts.ready,
                health: health.as_ref(),
                outcome: &Outcome::Paused,
                previous,
                now: now(),
            },
            cluster.credentials_secret_name(),
        );
        write_status(ctx, qc, &status).await?;
        return Ok(Action::requeue(Duration::from_secs(60)));
    }

    // Secrets: the token is generated once; credentials generated once or the user's.
    let token_secret = build::cluster_token_secret(
        &cluster,
        &ClusterToken::generate().map_err(|e| Error::Random(e.to_string()))?,
    );
    let token_secret = create_once(&secrets, &token_secret).await?;
    let token = secret_value(&token_secret, build::TOKEN_KEY)
        .ok_or_else(|| Error::Other("cluster-token Secret has no `token` key".into()))?;
    match build::credentials_source(&cluster) {
        CredentialsSource::Generated(_) => {
            let keys = KeyPair::generate().map_err(|e| Error::Random(e.to_string()))?;
            if let Some(secret) = build::credentials_secret(&cluster, &keys) {
                create_once(&secrets, &secret).await?;
            }
        }
        CredentialsSource::UserSupplied(name) => {
            let usable = secrets
                .get_opt(&name)
                .await?
                .is_some_and(|s| secret_value(&s, build::CREDENTIALS_KEY).is_some());
            if !usable {
                let message = format!(
                    "Secret {name:?} (spec.credentials.secretName) does not exist or has no key {:?}",
                    build::CREDENTIALS_KEY
                );
                publish(
                    ctx,
                    qc,
                    EventType::Warning,
                    "CredentialsSecretMissing",
                    message.clone(),
                )
                .await;
                let facts = pod_facts(&pods, &cluster.name).await?;
                let status = status::compute(
                    &cluster,
                    &StatusInputs {
                        generation: qc.metadata.generation,
                        desired: qc.spec.replicas,
                        statefulset_replicas: previous.map_or(0, |p| p.replicas),
                        ready_replicas: facts.ready,
                        health: None,
                        outcome: &Outcome::Blocked {
                            reason: "CredentialsSecretMissing".into(),
                            message,
                        },
                        previous,
                        now: now(),
                    },
                    name,
                );
                write_status(ctx, qc, &status).await?;
                return Ok(Action::requeue(Duration::from_secs(30)));
            }
        }
    }

    // Services and the PodDisruptionBudget.
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    apply(&services, &build::headless_service(&cluster)).await?;
    apply(&services, &build::client_service(&cluster)).await?;
    apply(&services, &build::leader_service(&cluster)).await?;
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), &ns);
    apply(&pdbs, &build::pod_disruption_budget(&cluster)).await?;

    // The StatefulSet template follows the spec; its size follows the planner.
    let wl = workloads_for(&cluster, &client);
    if let Some(current) = wl.statefulsets.get_opt(&cluster.name).await? {
        let replicas = current.spec.and_then(|s| s.replicas).unwrap_or(1);
        wl.apply(u32::try_from(replicas).unwrap_or(0)).await?;
    }

    // One membership step.
    let (api, resolver) = ctx.connector.connect(&cluster, &token);
    let ever_bootstrapped = previous.is_some_and(|p| !p.members.is_empty());
    let (step, observed) = membership::turn(
        desired,
        ever_bootstrapped,
        &api,
        &resolver,
        &wl,
        &ctx.planner,
    )
    .await?;
    ctx.metrics.step(step_kind(&step));
    match &step {
        Step::Refuse { reason } => {
            publish(ctx, qc, EventType::Warning, "ScaleRefused", reason.clone()).await;
        }
        Step::Wait { .. } | Step::Converged => {}
        other => {
            let (_, message) = status::step_reason(other);
            publish(ctx, qc, EventType::Normal, step_kind(other), message).await;
        }
    }

    // Health into labels and status.
    let health = membership::cluster_health(&observed, &ctx.planner);
    let facts = pod_facts(&pods, &cluster.name).await?;
    label_roles(&pods, &facts, health.as_ref()).await?;
    let sts_replicas = wl
        .statefulsets
        .get_opt(&cluster.name)
        .await?
        .and_then(|s| s.spec)
        .and_then(|s| s.replicas)
        .unwrap_or(0);
    let status = status::compute(
        &cluster,
        &StatusInputs {
            generation: qc.metadata.generation,
            desired: qc.spec.replicas,
            statefulset_replicas: sts_replicas,
            ready_replicas: facts.ready,
            health: health.as_ref(),
            outcome: &Outcome::Step(step.clone()),
            previous,
            now: now(),
        },
        cluster.credentials_secret_name(),
    );
    write_status(ctx, qc, &status).await?;
    Ok(Action::requeue(requeue_after(&step)))
}

fn workloads_for(cluster: &Cluster<'_>, client: &Client) -> KubeWorkloads {
    let ns = &cluster.namespace;
    KubeWorkloads {
        statefulsets: Api::<StatefulSet>::namespaced(client.clone(), ns),
        pods: Api::<Pod>::namespaced(client.clone(), ns),
        pvcs: Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns),
        name: cluster.name.clone(),
        template: build::stateful_set(cluster, 0),
    }
}

/// Status for a spec that cannot be built: conditions only, other fields kept.
fn invalid_status(qc: &QueueCluster, outcome: &Outcome) -> Option<crate::crd::QueueClusterStatus> {
    let Outcome::Invalid(message) = outcome else {
        return None;
    };
    let mut status = qc.status.clone().unwrap_or_default();
    status.observed_generation = qc.metadata.generation;
    let now = now();
    let mut set = |type_: &str, value: &str, reason: &str, message: &str| {
        let since = status
            .conditions
            .iter()
            .find(|c| c.type_ == type_ && c.status == value)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| now.clone());
        status.conditions.retain(|c| c.type_ != type_);
        status
            .conditions
            .push(k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
                type_: type_.into(),
                status: value.into(),
                reason: reason.into(),
                message: message.into(),
                observed_generation: qc.metadata.generation,
                last_transition_time: since,
            });
    };
    set("Degraded", "True", "InvalidSpec", message);
    set("Progressing", "False", "InvalidSpec", message);
    Some(status)
}

/// Runs the QueueCluster controller until `shutdown` resolves: it owns the objects it
/// creates (StatefulSets, Services, Secrets, PDBs, selected by the managed-by label) and
/// watches the server pods (mapped back by their instance label).
pub async fn run<C: AdminConnector>(
    ctx: Arc<Context<C>>,
    namespace: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    use futures::StreamExt;
    use kube::runtime::reflector::ObjectRef;
    use kube::runtime::{Controller, watcher};

    fn scoped<K>(client: &Client, ns: Option<&str>) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match ns {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }

    let client = ctx.client.clone();
    let ns = namespace.as_deref();
    let owned = watcher::Config::default().labels(&format!(
        "{}={}",
        build::LABEL_MANAGED_BY,
        FIELD_MANAGER
    ));
    let server_pods = watcher::Config::default().labels(&format!("{}=sqsraft", build::LABEL_NAME));
    Controller::new(
        scoped::<QueueCluster>(&client, ns),
        watcher::Config::default(),
    )
    .owns(scoped::<StatefulSet>(&client, ns), owned.clone())
    .owns(scoped::<Service>(&client, ns), owned.clone())
    .owns(scoped::<Secret>(&client, ns), owned.clone())
    .owns(scoped::<PodDisruptionBudget>(&client, ns), owned)
    .watches(scoped::<Pod>(&client, ns), server_pods, |pod: Pod| {
        let instance = pod.labels().get(build::LABEL_INSTANCE).cloned();
        let ns = pod.namespace();
        instance.map(|name| {
            let r = ObjectRef::<QueueCluster>::new(&name);
            match ns {
                Some(ns) => r.within(&ns),
                None => r,
            }
        })
    })
    .graceful_shutdown_on(shutdown)
    .run(reconcile, error_policy, ctx)
    .for_each(|result| async move {
        match result {
            Ok((obj, action)) => tracing::debug!(object = %obj, ?action, "reconciled"),
            Err(e) => tracing::debug!(error = %e, "reconcile error"),
        }
    })
    .await;
}
