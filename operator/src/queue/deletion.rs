//! Deleting a Queue object: `deletionPolicy` applied under kube's finalizer helper,
//! bounded (reported as stuck, with an escape hatch) when the cluster cannot be reached,
//! and never deleting a queue another Queue object owns.

use std::time::Duration;

use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::attributes::queue_name;
use super::reconcile::{
    Context, EndpointResolver, OWNER_TAG, Problem, key, owner, publish, resolve, status,
    write_status,
};
use crate::crd::queue::{DeletionPolicy, Queue};
use crate::error::Error;

/// Annotation that releases a Queue being deleted without deleting its queue: the
/// escape hatch when the cluster cannot be reached or no longer accepts the Queue.
pub const SKIP_REMOTE_DELETION: &str = "sqsraft.io/skip-remote-deletion";

/// How long a failing remote deletion is retried before it is reported as stuck (with
/// the escape hatch in the condition and a Warning Event). It keeps being retried.
pub const DELETION_STUCK_AFTER: Duration = Duration::from_secs(600);

/// Applies `deletionPolicy` to a Queue being deleted. Success releases the object
/// (the finalizer helper removes the finalizer); an error keeps it and is retried.
pub(super) async fn cleanup<R: EndpointResolver>(
    q: &Queue,
    ctx: &Context<R>,
    queues: &Api<Queue>,
) -> Result<Action, Error> {
    if q.spec.deletion_policy == DeletionPolicy::Retain {
        return Ok(Action::await_change());
    }
    let name = q
        .status
        .as_ref()
        .and_then(|s| s.queue_name.clone())
        .unwrap_or_else(|| queue_name(&q.spec, &q.name_any()));
    if q.annotations()
        .get(SKIP_REMOTE_DELETION)
        .map(String::as_str)
        == Some("true")
    {
        let note = format!("released without deleting queue {name} ({SKIP_REMOTE_DELETION})");
        publish(ctx, q, EventType::Warning, "RemoteDeletionSkipped", note).await;
        ctx.succeed(&key(q));
        return Ok(Action::await_change());
    }
    match delete_remote(q, ctx, &name).await {
        Ok(()) => {
            let note = format!("deleted queue {name}");
            publish(ctx, q, EventType::Normal, "Deleted", note).await;
        }
        // Nothing left to delete the queue from: do not block the object forever.
        Err(Error::Queue(Problem::ClusterNotFound(_) | Problem::ClusterDeleting(_))) => {}
        Err(e) => {
            let e = match deleting_for(q) {
                Some(age) if age >= DELETION_STUCK_AFTER => {
                    Error::from(Problem::DeletionStuck(format!(
                        "cannot delete queue {name} for {} min: {e}; it is retried. To release \
                         this Queue without deleting the queue, annotate it \
                         {SKIP_REMOTE_DELETION}=true",
                        age.as_secs() / 60
                    )))
                }
                _ => e,
            };
            let note = format!("cannot delete queue {name}: {e}");
            publish(ctx, q, EventType::Warning, e.reason(), note).await;
            write_status(queues, q, &status(q, Err(&e))).await?;
            return Err(e);
        }
    }
    ctx.succeed(&key(q));
    Ok(Action::await_change())
}

/// How long ago the deletion of `q` was requested.
fn deleting_for(q: &Queue) -> Option<Duration> {
    let since = q.metadata.deletion_timestamp.as_ref()?.0;
    let secs = k8s_openapi::jiff::Timestamp::now().as_second() - since.as_second();
    Some(Duration::from_secs(u64::try_from(secs).unwrap_or(0)))
}

/// Deletes queue `name` from the Queue's cluster (a queue already gone counts).
async fn delete_remote<R: EndpointResolver>(
    q: &Queue,
    ctx: &Context<R>,
    name: &str,
) -> Result<(), Error> {
    let cluster = resolve(q, ctx).await?;
    let client = &cluster.client;
    if let Some(url) = client.get_queue_url(name).await.map_err(Problem::from)? {
        // A queue another Queue object owns is not this one's to delete.
        let tags = client.list_queue_tags(&url).await.map_err(Problem::from)?;
        if tags.get(OWNER_TAG).is_some_and(|o| *o != owner(q)) {
            return Ok(());
        }
        client.delete_queue(&url).await.map_err(Problem::from)?;
    }
    Ok(())
}
