//! The QueueCluster reconciler, a fixed pipeline: fetch → validate → build (pure) →
//! apply → one membership step → one status write, which also carries any error of the
//! earlier stages (as the Degraded condition and a Warning Event).

pub mod apply;
pub mod desired;
pub mod fetch;
pub mod identity;
pub mod tls;
pub mod volumes;
pub mod watch;
pub mod workloads;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource, ResourceExt};

use crate::build::{self, Cluster, FIELD_MANAGER, OperatorDefaults};
use crate::crd::{QueueCluster, QueueClusterStatus};
use crate::error::KubeContext;
pub use crate::error::{Category, Error};
use crate::membership::{
    self, AdminApi, ClusterHealth, HttpAdminClient, PlannerConfig, PodDnsResolver, PodResolver,
    Step,
};
use crate::metrics::Metrics;
use crate::status::{self, Outcome, StatusInputs};
use desired::{Entropy, validate};
use fetch::Fetched;
use workloads::KubeWorkloads;

/// Makes the admin API client of one cluster (HTTP to the pods in production, a fake or
/// loopback processes in tests).
pub trait AdminConnector: Send + Sync + 'static {
    type Api: AdminApi;
    type Resolver: PodResolver;
    /// The admin API of `c`, authenticated by `token` and the mutual TLS of `tls`.
    fn connect(
        &self,
        c: &Cluster<'_>,
        token: &str,
        tls: Arc<rustls::ClientConfig>,
    ) -> (Self::Api, Self::Resolver);
}

/// HTTP to each pod's stable DNS name through the headless Service.
#[derive(Debug, Clone, Copy, Default)]
pub struct PodHttpConnector;

impl AdminConnector for PodHttpConnector {
    type Api = HttpAdminClient<PodDnsResolver>;
    type Resolver = PodDnsResolver;
    fn connect(
        &self,
        c: &Cluster<'_>,
        token: &str,
        tls: Arc<rustls::ClientConfig>,
    ) -> (Self::Api, Self::Resolver) {
        let resolver = PodDnsResolver::new(c);
        (
            HttpAdminClient::new(resolver.clone(), token, Some(tls)),
            resolver,
        )
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
    /// The operator's client certificates, per cluster.
    identities: identity::Identities,
    /// When each cluster was last warned that its user-supplied certificate expires.
    expiry_warned: Mutex<HashMap<(String, String), Instant>>,
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
            identities: identity::Identities::default(),
            expiry_warned: Mutex::new(HashMap::new()),
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
        note: Some(crate::error::event_note(note)),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &qc.object_ref(&())).await {
        tracing::warn!(error = %e, "cannot publish event");
    }
}

/// Requeue interval after a step. A converged cluster is polled every 10 s so the
/// leader label follows a leader change no pod event announces (one that does, a pod
/// turning unready, terminating or being replaced, wakes the reconciler at once).
pub fn requeue_after(step: &Step) -> Duration {
    match step {
        Step::Converged => Duration::from_secs(10),
        Step::Refuse { .. } => Duration::from_secs(15),
        Step::Wait { .. } => Duration::from_secs(5),
        _ => Duration::from_secs(1),
    }
}

/// How often a paused cluster, or one waiting for the user, is looked at again.
const IDLE_REQUEUE: Duration = Duration::from_secs(60);

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

/// What the pipeline learnt of the cluster before it finished or failed: the facts the
/// status is computed from (`None`: not looked at in this pass).
#[derive(Debug, Default)]
struct Seen {
    statefulset_replicas: Option<i32>,
    ready_replicas: Option<i32>,
    health: Option<ClusterHealth>,
    internal_tls: Option<crate::crd::queue_cluster::InternalTlsStatus>,
    volumes: Option<build::ExpansionPlan>,
}

impl Seen {
    fn workloads(&mut self, statefulset: Option<&StatefulSet>, pods: &[Pod]) {
        self.statefulset_replicas = Some(fetch::statefulset_replicas(statefulset).unwrap_or(0));
        self.ready_replicas = Some(fetch::ready_pods(pods));
    }
}

async fn reconcile_inner<C: AdminConnector>(
    qc: &QueueCluster,
    ctx: &Context<C>,
) -> Result<Action, Error> {
    // Deletion: owner references let the garbage collector remove everything we made;
    // there is no finalizer, so deletion never waits for an unreachable cluster.
    if qc.metadata.deletion_timestamp.is_some() {
        ctx.identities.forget(&key(qc));
        return Ok(Action::await_change());
    }
    let (result, status) = match Cluster::new(qc, &ctx.defaults) {
        Err(invalid) => {
            let error = Error::from(invalid);
            let status = status::invalid(qc, &error.to_string(), now());
            (Err(error), status)
        }
        Ok(cluster) => {
            let mut seen = Seen::default();
            let result = pipeline(&cluster, ctx, &mut seen).await;
            let status = cluster_status(&cluster, &seen, &result);
            (result, status)
        }
    };
    report(ctx, qc, &result).await;
    // Written only when it changed (conditions keep their transition times), so a
    // steady cluster costs no writes.
    if qc.namespace().is_some() && qc.status.as_ref() != Some(&status) {
        write_status(ctx, qc, &status).await?;
    }
    match result {
        Ok(Outcome::Step(step)) => Ok(Action::requeue(requeue_after(&step))),
        Ok(_) => Ok(Action::requeue(IDLE_REQUEUE)),
        Err(e) if e.category() == Category::Spec => Ok(Action::await_change()),
        Err(e) if e.category() == Category::Prerequisite => Ok(Action::requeue(IDLE_REQUEUE)),
        Err(e) => Err(e),
    }
}

/// fetch → validate → build → apply → one membership step. Stops at the first error;
/// what it saw until then goes into `seen`.
async fn pipeline<C: AdminConnector>(
    c: &Cluster<'_>,
    ctx: &Context<C>,
    seen: &mut Seen,
) -> Result<Outcome, Error> {
    let fetched = fetch::fetch(c, &ctx.client).await?;
    seen.workloads(fetched.statefulset.as_ref(), &fetched.pods);
    if c.qc.spec.reconciliation_paused {
        seen.health = observe_only(c, ctx, &fetched).await?;
        return Ok(Outcome::Paused);
    }
    validate(c, &fetched)?;
    let entropy = Entropy::for_missing(c, &fetched)?;
    let now = SystemTime::now();
    let tls = tls::prepare(c, &fetched, now)?;
    let desired = desired::build(c, &fetched, &entropy);
    apply::tls_secrets(c, &ctx.client, &tls).await?;
    seen.internal_tls = Some(tls.status.clone());
    report_tls(ctx, c.qc, &tls).await;
    let token = apply::objects(c, &ctx.client, &fetched, &desired).await?;
    // Before the membership step, which fails while members are down (perhaps with
    // full disks: then the larger volumes are what they need).
    let volumes = volumes::expand(c, &ctx.client).await?;
    report_volumes(ctx, c.qc, &volumes).await;
    seen.volumes = Some(volumes);

    let wl = KubeWorkloads::new(c, &ctx.client, fetched.statefulset.as_ref());
    let admin_tls = ctx.identities.config(key(c.qc), &tls.admin, now)?;
    let (api, resolver) = ctx.connector.connect(c, &token, admin_tls);
    let desired_replicas = u32::try_from(c.qc.spec.replicas).unwrap_or(1);
    let (step, observed) = membership::turn(
        desired_replicas,
        ever_bootstrapped(c.qc),
        &api,
        &resolver,
        &wl,
        &ctx.planner,
    )
    .await?;
    ctx.metrics.step(step_kind(&step));
    seen.health = membership::cluster_health(&observed, &ctx.planner);

    // Observe the result of the step (pods restarted, StatefulSet resized).
    let (statefulset, pods) = fetch::workloads(c, &ctx.client).await?;
    seen.workloads(statefulset.as_ref(), &pods);
    apply::role_labels(c, &ctx.client, &pods, seen.health.as_ref()).await?;
    Ok(Outcome::Step(step))
}

fn ever_bootstrapped(qc: &QueueCluster) -> bool {
    qc.status.as_ref().is_some_and(|p| !p.members.is_empty())
}

/// Paused: polls the members (read only) when the token is known.
async fn observe_only<C: AdminConnector>(
    c: &Cluster<'_>,
    ctx: &Context<C>,
    fetched: &Fetched,
) -> Result<Option<ClusterHealth>, Error> {
    let Some(token) = fetched.token() else {
        return Ok(None);
    };
    let now = SystemTime::now();
    let tls = tls::prepare(c, fetched, now)?;
    // Nothing is written while paused: without a stored CA there is no identity the
    // members would accept.
    if matches!(tls.ca_secret, Some((_, true))) {
        return Ok(None);
    }
    let admin_tls = ctx.identities.config(key(c.qc), &tls.admin, now)?;
    let (api, _) = ctx.connector.connect(c, &token, admin_tls);
    let wl = KubeWorkloads::new(c, &ctx.client, fetched.statefulset.as_ref());
    let observed = membership::driver::observe(&api, &wl, ever_bootstrapped(c.qc)).await?;
    Ok(membership::cluster_health(&observed, &ctx.planner))
}

/// The status after one pass of the pipeline (errors included).
fn cluster_status(
    c: &Cluster<'_>,
    seen: &Seen,
    result: &Result<Outcome, Error>,
) -> QueueClusterStatus {
    let previous = c.qc.status.as_ref();
    let outcome = match result {
        Ok(outcome) => outcome.clone(),
        Err(e) => Outcome::Failed {
            reason: e.reason(),
            message: e.to_string(),
        },
    };
    status::compute(
        c,
        &StatusInputs {
            generation: c.qc.metadata.generation,
            desired: c.qc.spec.replicas,
            statefulset_replicas: seen
                .statefulset_replicas
                .unwrap_or_else(|| previous.map_or(0, |p| p.replicas)),
            ready_replicas: seen
                .ready_replicas
                .unwrap_or_else(|| previous.map_or(0, |p| p.ready_replicas)),
            health: seen.health.as_ref(),
            outcome: &outcome,
            previous,
            internal_tls: seen.internal_tls.as_ref(),
            volumes: seen.volumes.as_ref(),
            now: now(),
        },
        c.credentials_secret_name(),
    )
}

/// Events of one pass: membership steps (Normal), refusals and errors (Warning).
async fn report<C>(ctx: &Context<C>, qc: &QueueCluster, result: &Result<Outcome, Error>) {
    match result {
        Ok(Outcome::Step(Step::Refuse { reason })) => {
            publish(ctx, qc, EventType::Warning, "ScaleRefused", reason.clone()).await;
        }
        Ok(Outcome::Step(Step::Wait { .. } | Step::Converged) | Outcome::Paused) => {}
        Ok(Outcome::Step(step)) => {
            let (_, message) = status::step_reason(step);
            publish(ctx, qc, EventType::Normal, step_kind(step), message).await;
        }
        Ok(Outcome::Failed { .. }) => {}
        Err(e) => publish(ctx, qc, EventType::Warning, e.reason(), e.to_string()).await,
    }
}

/// Events of the volume expansion step: each PVC expanded (Normal), a refusal (Warning).
async fn report_volumes<C>(ctx: &Context<C>, qc: &QueueCluster, plan: &build::ExpansionPlan) {
    let size = &qc.spec.storage.size.0;
    for pvc in &plan.grow {
        let note = format!("expanding PVC {pvc} to {size}");
        publish(ctx, qc, EventType::Normal, "ExpandingVolume", note).await;
    }
    if let Some(refused) = &plan.refused {
        let reason = status::VOLUME_EXPANSION_UNSUPPORTED;
        publish(ctx, qc, EventType::Warning, reason, refused.clone()).await;
    }
}

/// How often, at most, a cluster is warned that its user-supplied certificate expires.
const EXPIRY_WARNING_EVERY: Duration = Duration::from_secs(3600);

/// Events of the TLS step: what was issued (Normal), a user certificate close to its end
/// (Warning, at most hourly).
async fn report_tls<C>(ctx: &Context<C>, qc: &QueueCluster, pass: &tls::TlsPass) {
    let until = pass
        .status
        .certificate_not_after
        .as_ref()
        .map_or_else(String::new, |t| {
            format!(" (certificate valid until {})", t.0)
        });
    for note in &pass.notes {
        let message = format!("{note}{until}");
        publish(ctx, qc, EventType::Normal, "CertificateIssued", message).await;
    }
    let Some(warning) = &pass.expiring else {
        return;
    };
    let due = {
        let mut warned = ctx.expiry_warned.lock().unwrap_or_else(|e| e.into_inner());
        let last = warned.get(&key(qc));
        let due = last.is_none_or(|at| at.elapsed() >= EXPIRY_WARNING_EVERY);
        if due {
            warned.insert(key(qc), Instant::now());
        }
        due
    };
    if due {
        publish(
            ctx,
            qc,
            EventType::Warning,
            "CertificateExpiring",
            warning.clone(),
        )
        .await;
    }
}

async fn write_status<C>(
    ctx: &Context<C>,
    qc: &QueueCluster,
    status: &QueueClusterStatus,
) -> Result<(), Error> {
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
    .await
    .context(|| format!("writing the status of QueueCluster {}", qc.name_any()))?;
    Ok(())
}

/// Runs the QueueCluster controller until `shutdown` resolves. It wakes on spec changes
/// of QueueClusters, on changes of the objects it owns (StatefulSets, Services, Secrets,
/// PDBs, selected by the managed-by label) and on server pods being replaced, becoming
/// (un)ready or terminating (mapped back by their instance label); never on its own
/// status or label writes ([`watch`]).
pub async fn run<C: AdminConnector>(
    ctx: Arc<Context<C>>,
    namespace: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    use futures::StreamExt;
    use kube::runtime::reflector::{self, ObjectRef};
    use kube::runtime::{Controller, WatchStreamExt, watcher};
    use watch::{changes, cluster_key, owned_changes, pod_key};

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
    let (reader, writer) = reflector::store();
    let clusters = watcher(
        scoped::<QueueCluster>(&client, ns),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(writer);
    Controller::for_stream(changes(clusters, cluster_key), reader)
        .owns_stream(owned_changes(
            scoped::<StatefulSet>(&client, ns),
            owned.clone(),
        ))
        .owns_stream(owned_changes(scoped::<Service>(&client, ns), owned.clone()))
        .owns_stream(owned_changes(scoped::<Secret>(&client, ns), owned.clone()))
        .owns_stream(owned_changes(
            scoped::<PodDisruptionBudget>(&client, ns),
            owned.clone(),
        ))
        .owns_stream(owned_changes(scoped::<NetworkPolicy>(&client, ns), owned))
        .watches_stream(
            changes(
                watcher(scoped::<Pod>(&client, ns), server_pods).default_backoff(),
                pod_key,
            ),
            |pod: Pod| {
                let instance = pod.labels().get(build::LABEL_INSTANCE).cloned();
                let ns = pod.namespace();
                instance.map(|name| {
                    let r = ObjectRef::<QueueCluster>::new(&name);
                    match ns {
                        Some(ns) => r.within(&ns),
                        None => r,
                    }
                })
            },
        )
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
