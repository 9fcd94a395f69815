//! The Queue reconciler: resolve the QueueCluster (endpoint and credentials) → create
//! or adopt the queue → repair attribute and tag drift → status; and the finalizer that
//! applies `deletionPolicy`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{self, Event as Finalizing, finalizer};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Deserialize;

use super::attributes::{self, desired, drift, normalise, queue_arn, queue_name, tag_diff};
use super::backoff;
use super::deletion;
use super::sqs::{AccessKey, SqsClient, SqsError};
use crate::build::{CREDENTIALS_KEY, FIELD_MANAGER};
use crate::crd::QueueCluster;
use crate::crd::queue::{Queue, QueueStatus, condition};
use crate::error::{Category, Error, KubeContext};

/// Finalizer that holds a Queue object until its deletionPolicy has been applied.
pub const FINALIZER: &str = "sqsraft.io/queue";

/// Tag naming the Queue object (`<namespace>/<name>`) a queue belongs to: a queue name
/// belongs to one Queue object, and a second one claiming it changes nothing.
pub const OWNER_TAG: &str = "sqsraft.io/queue";

/// Default interval of the periodic resync that repairs out-of-band changes.
pub const DEFAULT_RESYNC: Duration = Duration::from_secs(180);

/// Where the reconciler reaches a QueueCluster's SQS API.
pub trait EndpointResolver: Send + Sync + 'static {
    /// The SQS endpoint URL of `qc`, or `None` while it is not known.
    fn endpoint(&self, qc: &QueueCluster) -> Option<String>;
}

/// The client Service URL the QueueCluster controller publishes in `status.endpoint`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusEndpoint;

impl EndpointResolver for StatusEndpoint {
    fn endpoint(&self, qc: &QueueCluster) -> Option<String> {
        qc.status.as_ref()?.endpoint.clone()
    }
}

/// Shared state of the Queue controller.
pub struct Context<R> {
    pub client: Client,
    pub resolver: R,
    pub recorder: Recorder,
    /// Interval of the periodic resync.
    pub resync: Duration,
    /// Consecutive failures per Queue, for backoff.
    failures: Mutex<HashMap<(String, String), u32>>,
}

impl<R> Context<R> {
    pub fn new(client: Client, resolver: R) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            resolver,
            resync: DEFAULT_RESYNC,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one more failure of `key` and returns the backoff delay.
    pub(super) fn fail(&self, key: (String, String)) -> Duration {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = f.entry(key).or_insert(0);
        *n += 1;
        backoff::delay(*n, backoff::random_jitter())
    }

    pub(super) fn succeed(&self, key: &(String, String)) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

/// Why a Queue cannot be brought in sync (carried in [`Error::Queue`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub enum Problem {
    /// The spec cannot work as written (e.g. an invalid queue name); retried on change.
    Invalid(String),
    /// The existing queue differs in an immutable property; retried on change.
    ImmutableMismatch(String),
    /// The QueueCluster does not exist.
    ClusterNotFound(String),
    /// The QueueCluster is being deleted.
    ClusterDeleting(String),
    /// The QueueCluster has `spec.reconciliationPaused`: its queues are left alone too.
    ClusterPaused(String),
    /// The QueueCluster does not accept Queues from this namespace.
    NamespaceNotAllowed(String),
    /// The QueueCluster has not published its endpoint or credentials yet.
    ClusterNotReady(String),
    /// The referenced dead-letter Queue has no ARN yet.
    DeadLetterQueuePending(String),
    /// The cluster did not answer.
    Unreachable(String),
    /// The cluster refused a call (an SQS error).
    Rejected(String),
    /// The queue belongs to another Queue object.
    Conflict(String),
    /// Deleting the queue has failed for longer than [`DELETION_STUCK_AFTER`].
    DeletionStuck(String),
}

impl Problem {
    pub fn reason(&self) -> &'static str {
        match self {
            Problem::Invalid(_) => "InvalidSpec",
            Problem::ImmutableMismatch(_) => "ImmutableMismatch",
            Problem::ClusterNotFound(_) => "ClusterNotFound",
            Problem::ClusterDeleting(_) => "ClusterDeleting",
            Problem::ClusterPaused(_) => "ReconciliationPaused",
            Problem::NamespaceNotAllowed(_) => "NamespaceNotAllowed",
            Problem::ClusterNotReady(_) => "ClusterNotReady",
            Problem::DeadLetterQueuePending(_) => "DeadLetterQueuePending",
            Problem::Unreachable(_) => "ClusterUnreachable",
            Problem::Rejected(_) => "Rejected",
            Problem::Conflict(_) => "Conflict",
            Problem::DeletionStuck(_) => "DeletionStuck",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Problem::Invalid(m)
            | Problem::ImmutableMismatch(m)
            | Problem::ClusterNotFound(m)
            | Problem::ClusterDeleting(m)
            | Problem::ClusterPaused(m)
            | Problem::NamespaceNotAllowed(m)
            | Problem::ClusterNotReady(m)
            | Problem::DeadLetterQueuePending(m)
            | Problem::Unreachable(m)
            | Problem::Rejected(m)
            | Problem::Conflict(m)
            | Problem::DeletionStuck(m) => m,
        }
    }

    /// Who can fix it: the user by changing the Queue (`Spec`), someone by providing
    /// what is missing (`Prerequisite`), or time (`Cluster`).
    pub fn category(&self) -> Category {
        match self {
            Problem::Invalid(_) | Problem::ImmutableMismatch(_) => Category::Spec,
            Problem::ClusterNotFound(_)
            | Problem::ClusterDeleting(_)
            | Problem::ClusterPaused(_)
            | Problem::NamespaceNotAllowed(_)
            | Problem::ClusterNotReady(_)
            | Problem::DeadLetterQueuePending(_)
            | Problem::Conflict(_) => Category::Prerequisite,
            Problem::Unreachable(_) | Problem::Rejected(_) | Problem::DeletionStuck(_) => {
                Category::Cluster
            }
        }
    }
}

impl From<SqsError> for Problem {
    fn from(e: SqsError) -> Self {
        match e {
            SqsError::Unreachable(m) => Problem::Unreachable(m),
            other => Problem::Rejected(other.to_string()),
        }
    }
}

/// A QueueCluster that can be talked to.
pub(super) struct Resolved {
    pub(super) client: SqsClient,
    region: String,
    account: String,
}

/// What a successful sync found and did.
pub(super) struct Synced {
    name: String,
    url: String,
    arn: String,
    attributes: BTreeMap<String, String>,
    /// Human-readable changes made (created, adopted, repaired …); empty when in sync.
    changes: Vec<String>,
}

/// The value of [`OWNER_TAG`] for `q`.
pub(super) fn owner(q: &Queue) -> String {
    format!("{}/{}", q.namespace().unwrap_or_default(), q.name_any())
}

pub(super) fn key(q: &Queue) -> (String, String) {
    (q.namespace().unwrap_or_default(), q.name_any())
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// Reconciles one Queue; kube's finalizer helper holds the object until its
/// `deletionPolicy` has been applied.
pub async fn reconcile<R: EndpointResolver>(
    q: Arc<Queue>,
    ctx: Arc<Context<R>>,
) -> Result<Action, finalizer::Error<Error>> {
    let queues: Api<Queue> = Api::namespaced(ctx.client.clone(), &key(&q).0);
    finalizer(&queues, FINALIZER, q, |event| async {
        match event {
            Finalizing::Apply(q) => sync_and_report(&q, &ctx, &queues).await,
            Finalizing::Cleanup(q) => deletion::cleanup(&q, &ctx, &queues).await,
        }
    })
    .await
}

/// sync → Event → one status write (errors included) → the next wake-up.
async fn sync_and_report<R: EndpointResolver>(
    q: &Queue,
    ctx: &Context<R>,
    queues: &Api<Queue>,
) -> Result<Action, Error> {
    let result = sync(q, ctx).await;
    match &result {
        Ok(synced) if !synced.changes.is_empty() => {
            let note = synced.changes.join("; ");
            publish(ctx, q, EventType::Normal, "Synced", note).await;
        }
        Ok(_) => {}
        Err(e) => publish(ctx, q, EventType::Warning, e.reason(), e.to_string()).await,
    }
    write_status(queues, q, &status(q, result.as_ref())).await?;
    match result {
        Ok(_) => {
            ctx.succeed(&key(q));
            Ok(Action::requeue(ctx.resync))
        }
        Err(Error::Queue(Problem::DeadLetterQueuePending(_))) => {
            Ok(Action::requeue(Duration::from_secs(10)))
        }
        Err(Error::Queue(Problem::ClusterPaused(_))) => {
            Ok(Action::requeue(Duration::from_secs(60)))
        }
        Err(e) => match e.category() {
            Category::Spec => Ok(Action::await_change()),
            Category::Prerequisite | Category::Cluster => Ok(Action::requeue(ctx.fail(key(q)))),
            Category::Kubernetes | Category::Internal => Err(e),
        },
    }
}

/// Resolves the cluster and brings the queue in line with the spec.
async fn sync<R: EndpointResolver>(q: &Queue, ctx: &Context<R>) -> Result<Synced, Error> {
    let spec = &q.spec;
    let name = queue_name(spec, &q.name_any());
    if let Some(why) = attributes::invalid_name(&name, spec.fifo) {
        return Err(Problem::Invalid(why).into());
    }
    let cluster = resolve(q, ctx).await?;
    let dlq_arn = dead_letter_arn(q, ctx).await?;
    let want = desired(spec, dlq_arn.as_deref());
    Ok(apply(q, &cluster, &name, &want).await?)
}

/// The SQS side of a sync: create or adopt, then repair attributes and tags.
async fn apply(
    q: &Queue,
    cluster: &Resolved,
    name: &str,
    want: &BTreeMap<String, String>,
) -> Result<Synced, Problem> {
    let client = &cluster.client;
    let mut changes = Vec::new();
    let me = owner(q);
    let mut want_tags = q.spec.tags.clone();
    want_tags.insert(OWNER_TAG.into(), me.clone());
    let url = match client.get_queue_url(name).await? {
        Some(url) => url,
        None => {
            let mut create: BTreeMap<String, String> = want
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if q.spec.fifo {
                create.insert("FifoQueue".into(), "true".into());
            }
            match client.create_queue(name, &create, &want_tags).await {
                Ok(url) => {
                    changes.push(format!("created queue {name}"));
                    url
                }
                // Created concurrently with other attributes: adopt and repair below.
                Err(e) if e.is("QueueNameExists") => client
                    .get_queue_url(name)
                    .await?
                    .ok_or_else(|| Problem::Rejected(e.to_string()))?,
                Err(e) => return Err(e.into()),
            }
        }
    };
    let actual_tags = client.list_queue_tags(&url).await?;
    if let Some(other) = actual_tags.get(OWNER_TAG).filter(|o| **o != me) {
        return Err(Problem::Conflict(format!(
            "queue {name} belongs to Queue {other} (tag {OWNER_TAG}); this Queue changes \
             nothing: use another queueName, or delete the other Queue object"
        )));
    }
    let actual = client.get_queue_attributes(&url).await?;
    let actual_fifo = actual
        .get("FifoQueue")
        .is_some_and(|v| normalise("FifoQueue", v) == "true");
    if actual_fifo != q.spec.fifo {
        return Err(Problem::ImmutableMismatch(format!(
            "queue {name} exists with FifoQueue={actual_fifo}, but spec.fifo is {}; \
             FIFO-ness cannot change: delete the queue or use another queueName",
            q.spec.fifo
        )));
    }
    let known_url = q.status.as_ref().and_then(|s| s.queue_url.as_deref());
    if changes.is_empty() && known_url.is_none() {
        changes.push(format!("adopted existing queue {name}"));
    }
    let fix = drift(want, &actual);
    if !fix.is_empty() {
        client.set_queue_attributes(&url, &fix).await?;
        let keys: Vec<&str> = fix.keys().map(String::as_str).collect();
        changes.push(format!("repaired attributes {}", keys.join(", ")));
    }
    let managed = q
        .status
        .as_ref()
        .map(|s| s.managed_tags.as_slice())
        .unwrap_or_default();
    let (tag, untag) = tag_diff(&want_tags, &actual_tags, managed);
    if !tag.is_empty() {
        client.tag_queue(&url, &tag).await?;
    }
    if !untag.is_empty() {
        client.untag_queue(&url, &untag).await?;
    }
    if !tag.is_empty() || !untag.is_empty() {
        changes.push(format!("tags: {} set, {} removed", tag.len(), untag.len()));
    }
    let attributes = if fix.is_empty() {
        actual
    } else {
        client.get_queue_attributes(&url).await?
    };
    Ok(Synced {
        name: name.to_string(),
        url,
        arn: queue_arn(&cluster.region, &cluster.account, name),
        attributes: attributes
            .into_iter()
            // Counters change with every message; they are no part of the spec.
            .filter(|(k, _)| !k.starts_with("Approximate"))
            .collect(),
        changes,
    })
}

/// The QueueCluster of `q`, checked for existence, deletion, namespace permission, and
/// its endpoint and credentials.
pub(super) async fn resolve<R: EndpointResolver>(
    q: &Queue,
    ctx: &Context<R>,
) -> Result<Resolved, Error> {
    let own_ns = key(q).0;
    let r = &q.spec.cluster_ref;
    let ns = r.namespace.clone().unwrap_or_else(|| own_ns.clone());
    let clusters: Api<QueueCluster> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(qc) = clusters
        .get_opt(&r.name)
        .await
        .context(|| format!("reading QueueCluster {ns}/{}", r.name))?
    else {
        return Err(Problem::ClusterNotFound(format!(
            "QueueCluster {ns}/{} does not exist",
            r.name
        ))
        .into());
    };
    if qc.metadata.deletion_timestamp.is_some() {
        return Err(Problem::ClusterDeleting(format!(
            "QueueCluster {ns}/{} is being deleted",
            r.name
        ))
        .into());
    }
    if qc.spec.reconciliation_paused {
        return Err(Problem::ClusterPaused(format!(
            "QueueCluster {ns}/{} has spec.reconciliationPaused: no queue of it is created, \
             changed or deleted until it is false",
            r.name
        ))
        .into());
    }
    if ns != own_ns
        && !qc
            .spec
            .allowed_queue_namespaces
            .iter()
            .any(|n| n == "*" || *n == own_ns)
    {
        return Err(Problem::NamespaceNotAllowed(format!(
            "QueueCluster {ns}/{} does not list namespace {own_ns} in spec.allowedQueueNamespaces",
            r.name
        ))
        .into());
    }
    let not_ready = |what: &str| {
        Err(
            Problem::ClusterNotReady(format!("QueueCluster {ns}/{} has no {what} yet", r.name))
                .into(),
        )
    };
    let Some(endpoint) = ctx.resolver.endpoint(&qc) else {
        return not_ready("status.endpoint");
    };
    let Some(secret_name) = qc
        .status
        .as_ref()
        .and_then(|s| s.credentials_secret.clone())
    else {
        return not_ready("status.credentialsSecret");
    };
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let key = secrets
        .get_opt(&secret_name)
        .await
        .context(|| format!("reading Secret {ns}/{secret_name}"))?
        .and_then(|s| access_key(&s));
    let Some(key) = key else {
        return not_ready(&format!("usable credentials in Secret {secret_name}"));
    };
    let client = SqsClient::new(&endpoint, &qc.spec.region, key).map_err(Problem::from)?;
    Ok(Resolved {
        client,
        region: qc.spec.region.clone(),
        account: qc.spec.account_id.clone(),
    })
}

/// The first key pair of a credentials Secret's `credentials.json`.
fn access_key(secret: &Secret) -> Option<AccessKey> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Entry {
        access_key_id: String,
        secret_access_key: String,
    }
    #[derive(Deserialize)]
    struct File {
        credentials: Vec<Entry>,
    }
    let bytes = secret.data.as_ref()?.get(CREDENTIALS_KEY)?;
    let file: File = serde_json::from_slice(&bytes.0).ok()?;
    let first = file.credentials.into_iter().next()?;
    Some(AccessKey {
        access_key_id: first.access_key_id,
        secret_access_key: first.secret_access_key,
    })
}

/// The dead-letter queue ARN: given directly, or from the referenced Queue's status
/// once it exists.
async fn dead_letter_arn<R>(q: &Queue, ctx: &Context<R>) -> Result<Option<String>, Error> {
    let Some(policy) = &q.spec.redrive_policy else {
        return Ok(None);
    };
    if let Some(arn) = &policy.dead_letter_target_arn {
        return Ok(Some(arn.clone()));
    }
    let Some(r) = &policy.dead_letter_queue_ref else {
        return Ok(None);
    };
    let queues: Api<Queue> = Api::namespaced(ctx.client.clone(), &key(q).0);
    let arn = queues
        .get_opt(&r.name)
        .await
        .context(|| format!("reading dead-letter Queue {}", r.name))?
        .and_then(|dlq| dlq.status?.queue_arn);
    match arn {
        Some(arn) => Ok(Some(arn)),
        None => Err(Problem::DeadLetterQueuePending(format!(
            "dead-letter Queue {} does not exist yet",
            r.name
        ))
        .into()),
    }
}

/// The status after a sync: conditions, and on success what was read back (on failure
/// the last known URL, ARN and attributes stay).
pub(super) fn status(q: &Queue, result: Result<&Synced, &Error>) -> QueueStatus {
    let previous = q.status.clone().unwrap_or_default();
    let generation = q.metadata.generation;
    let now = now();
    let condition = |type_: &str, status: &str, reason: &str, message: &str| {
        let since = previous
            .conditions
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            observed_generation: generation,
            last_transition_time: since,
        }
    };
    match result {
        Ok(s) => {
            let message = if s.changes.is_empty() {
                "the queue matches the spec".to_string()
            } else {
                s.changes.join("; ")
            };
            QueueStatus {
                observed_generation: generation,
                queue_name: Some(s.name.clone()),
                queue_url: Some(s.url.clone()),
                queue_arn: Some(s.arn.clone()),
                conditions: vec![
                    condition(condition::READY, "True", "QueueReady", "the queue exists"),
                    condition(condition::SYNCED, "True", "Synced", &message),
                ],
                last_sync_time: Some(now.clone()),
                attributes: s.attributes.clone(),
                managed_tags: q
                    .spec
                    .tags
                    .keys()
                    .cloned()
                    .chain([OWNER_TAG.to_string()])
                    .collect(),
            }
        }
        Err(e) => {
            // Unreachable: whether the queue is fine is unknown, not false.
            let ready = if matches!(e, Error::Queue(Problem::Unreachable(_))) {
                "Unknown"
            } else {
                "False"
            };
            let message = e.to_string();
            // Paused: nothing was looked at, so Ready stays what it was.
            let kept_ready = previous
                .conditions
                .iter()
                .find(|c| c.type_ == condition::READY)
                .filter(|_| matches!(e, Error::Queue(Problem::ClusterPaused(_))))
                .cloned();
            QueueStatus {
                observed_generation: generation,
                conditions: vec![
                    kept_ready.unwrap_or_else(|| {
                        condition(condition::READY, ready, e.reason(), &message)
                    }),
                    condition(condition::SYNCED, "False", e.reason(), &message),
                ],
                ..previous.clone()
            }
        }
    }
}

pub(super) async fn write_status(
    queues: &Api<Queue>,
    q: &Queue,
    status: &QueueStatus,
) -> Result<(), Error> {
    let patch = serde_json::json!({
        "apiVersion": "sqsraft.io/v1alpha1",
        "kind": "Queue",
        "status": status,
    });
    queues
        .patch_status(
            &q.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
        .context(|| format!("writing the status of Queue {}", q.name_any()))?;
    Ok(())
}

pub(super) async fn publish<R>(
    ctx: &Context<R>,
    q: &Queue,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(crate::error::event_note(note)),
        action: "Sync".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &q.object_ref(&())).await {
        tracing::warn!(error = %e, "cannot publish event");
    }
}

/// The controller's error policy (Kubernetes API failures, a deletion that could not be
/// applied yet): back off with jitter.
pub fn error_policy<R: EndpointResolver>(
    q: Arc<Queue>,
    error: &finalizer::Error<Error>,
    ctx: Arc<Context<R>>,
) -> Action {
    let wait = ctx.fail(key(&q));
    tracing::warn!(name = %q.name_any(), namespace = ?q.namespace(), %error, ?wait, "queue reconcile failed");
    Action::requeue(wait)
}
