//! Queue objects and the QueueCluster's lifetime on the real control plane: queues
//! created, updated, repaired after out-of-band changes and deleted per
//! `deletionPolicy` (also while the cluster cannot be reached, and through the escape
//! hatch), and every object the operator owns garbage-collected with the QueueCluster.
//! (That the API server refuses invalid Queue and QueueCluster objects and immutable
//! field changes through the CRDs' CEL rules is `k8s_crds`'s subject.)

mod k8s_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use aws_sdk_sqs::types::QueueAttributeName;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_support::operator::{
    APP_NS, CLUSTER, api, install_operator_with, qc_condition, queue_clusters, signal_servers,
    sqs_client, wait_converged,
};
use k8s_support::{Env, create_namespace, object, wait_for};
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::discovery::{Discovery, Scope, verbs};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

/// Installs the operator (Queue resync every 5 s, so repairs show quickly) and a
/// converged 3-replica cluster.
async fn cluster(env: &Env) -> Result<()> {
    let values =
        json!({"extraEnv": [{"name": "SQSRAFT_OPERATOR_QUEUE_RESYNC_SECONDS", "value": "5"}]});
    install_operator_with(env, values, 1).await?;
    create_namespace(&env.client, APP_NS).await?;
    k8s_support::operator::create_cluster(env, 3, json!({})).await?;
    wait_converged(&env.client, 3, Duration::from_secs(240)).await
}

fn queues(client: &Client) -> Api<DynamicObject> {
    api(client, "Queue")
}

async fn create_queue(client: &Client, name: &str, spec: serde_json::Value) -> Result<()> {
    let mut full = json!({"clusterRef": {"name": CLUSTER}});
    k8s_support::merge(&mut full, spec);
    queues(client)
        .create(
            &PostParams::default(),
            &object(json!({
                "apiVersion": "sqsraft.io/v1alpha1", "kind": "Queue",
                "metadata": {"name": name, "namespace": APP_NS}, "spec": full,
            })),
        )
        .await
        .with_context(|| format!("create Queue {name}"))?;
    Ok(())
}

/// Waits until Queue `name` is Ready for its current generation; its queue URL.
async fn ready(client: &Client, name: &str) -> Result<String> {
    let api = queues(client);
    wait_for(
        &format!("Queue {name} Ready"),
        Duration::from_secs(60),
        || async {
            let q = api.get(name).await?;
            let current = q.data["status"]["observedGeneration"].as_i64() == q.metadata.generation;
            Ok(current && qc_condition(&q, "Ready").as_deref() == Some("True"))
        },
    )
    .await?;
    let q = api.get(name).await?;
    q.data["status"]["queueUrl"]
        .as_str()
        .map(str::to_owned)
        .context("Ready without status.queueUrl")
}

async fn attributes(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<BTreeMap<String, String>> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await?;
    Ok(out
        .attributes
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.as_str().to_owned(), v))
        .collect())
}

async fn tags(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<BTreeMap<String, String>> {
    let out = sqs.list_queue_tags().queue_url(url).send().await?;
    Ok(out.tags.unwrap_or_default().into_iter().collect())
}

async fn queue_exists(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<bool> {
    match sqs.get_queue_url().queue_name(name).send().await {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_queue_does_not_exist()) =>
        {
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

async fn wait_attribute(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    name: &str,
    want: &str,
) -> Result<()> {
    wait_for(
        &format!("{name}={want}"),
        Duration::from_secs(60),
        || async { Ok(attributes(sqs, url).await?.get(name).map(String::as_str) == Some(want)) },
    )
    .await
}

async fn wait_gone(client: &Client, name: &str, limit: Duration) -> Result<()> {
    let api = queues(client);
    wait_for(&format!("Queue {name} gone"), limit, || async {
        Ok(api.get_opt(name).await?.is_none())
    })
    .await
}

/// Warning Events about Queue `name`.
async fn warnings(client: &Client, name: &str) -> Result<Vec<String>> {
    let events: Api<Event> = Api::namespaced(client.clone(), APP_NS);
    let list = events.list(&ListParams::default()).await?.items;
    Ok(list
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .map(|e| {
            format!(
                "{}: {}",
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default()
            )
        })
        .collect())
}

#[test]
fn queue_objects_are_created_updated_repaired_and_deleted_per_policy() {
    k8s_support::operator::scenario(
        "queue_objects_are_created_updated_repaired_and_deleted_per_policy",
        async |env| {
            cluster(env).await?;
            let client = &env.client;
            let sqs = sqs_client(client).await?;

            // Created with its attributes and tags.
            let started = Instant::now();
            create_queue(
                client,
                "payments",
                json!({
                    "visibilityTimeout": 45, "delaySeconds": 2, "messageRetentionPeriod": 3600,
                    "tags": {"team": "pay"}, "deletionPolicy": "Delete",
                }),
            )
            .await?;
            create_queue(
                client,
                "events",
                json!({
                    "fifo": true, "contentBasedDeduplication": true, "deletionPolicy": "Retain",
                }),
            )
            .await?;
            let payments = ready(client, "payments").await?;
            let events = ready(client, "events").await?;
            eprintln!(
                "two Queues Ready in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            let attrs = attributes(&sqs, &payments).await?;
            for (k, v) in [
                ("VisibilityTimeout", "45"),
                ("DelaySeconds", "2"),
                ("MessageRetentionPeriod", "3600"),
            ] {
                ensure!(
                    attrs.get(k).map(String::as_str) == Some(v),
                    "{k}: {attrs:?}"
                );
            }
            let t = tags(&sqs, &payments).await?;
            ensure!(
                t.get("team").map(String::as_str) == Some("pay"),
                "tags {t:?}"
            );
            ensure!(
                t.get("sqsraft.io/queue").map(String::as_str) == Some("apps/payments"),
                "owner tag: {t:?}"
            );
            ensure!(events.ends_with("/events.fifo"), "FIFO queue URL {events}");
            let attrs = attributes(&sqs, &events).await?;
            ensure!(
                attrs.get("FifoQueue").map(String::as_str) == Some("true")
                    && attrs.get("ContentBasedDeduplication").map(String::as_str) == Some("true"),
                "{attrs:?}"
            );

            // A spec change reaches the queue.
            queues(client)
                .patch(
                    "payments",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"visibilityTimeout": 60}})),
                )
                .await?;
            wait_attribute(&sqs, &payments, "VisibilityTimeout", "60").await?;

            // Drift made behind the operator's back is repaired; a foreign tag stays.
            let started = Instant::now();
            sqs.set_queue_attributes()
                .queue_url(&payments)
                .attributes(QueueAttributeName::VisibilityTimeout, "99")
                .send()
                .await?;
            sqs.tag_queue()
                .queue_url(&payments)
                .tags("owner", "someone-else")
                .send()
                .await?;
            wait_attribute(&sqs, &payments, "VisibilityTimeout", "60").await?;
            eprintln!("drift repaired in {:.1} s", started.elapsed().as_secs_f64());
            let t = tags(&sqs, &payments).await?;
            ensure!(
                t.get("owner").map(String::as_str) == Some("someone-else"),
                "foreign tag removed: {t:?}"
            );

            // Delete removes the queue; Retain keeps it.
            queues(client)
                .delete("payments", &DeleteParams::default())
                .await?;
            queues(client)
                .delete("events", &DeleteParams::default())
                .await?;
            wait_gone(client, "payments", Duration::from_secs(60)).await?;
            wait_gone(client, "events", Duration::from_secs(60)).await?;
            ensure!(
                !queue_exists(&sqs, "payments").await?,
                "Delete left the queue"
            );
            ensure!(
                queue_exists(&sqs, "events.fifo").await?,
                "Retain deleted the queue"
            );

            // Deleting while the cluster cannot be reached (every server stopped): the
            // Delete-policy Queue waits, with a Warning Event, and finishes once the
            // cluster is back; the escape hatch releases the other one at once.
            create_queue(client, "audit", json!({"deletionPolicy": "Delete"})).await?;
            create_queue(client, "ledger", json!({"deletionPolicy": "Delete"})).await?;
            ready(client, "audit").await?;
            ready(client, "ledger").await?;
            let stopped = signal_servers(env, libc::SIGSTOP)?;
            ensure!(stopped == 3, "stopped {stopped} server processes, not 3");
            let down = Instant::now();
            let outcome = async {
                queues(client).delete("audit", &DeleteParams::default()).await?;
                queues(client).delete("ledger", &DeleteParams::default()).await?;
                wait_for("a Warning Event about deleting audit", Duration::from_secs(90), || async {
                    Ok(!warnings(client, "audit").await?.is_empty())
                })
                .await?;
                eprintln!("audit: {:?}", warnings(client, "audit").await?);
                ensure!(queues(client).get_opt("audit").await?.is_some(), "audit released while the cluster is down");
                queues(client)
                    .patch(
                        "ledger",
                        &PatchParams::default(),
                        &Patch::Merge(json!({"metadata": {"annotations": {"sqsraft.io/skip-remote-deletion": "true"}}})),
                    )
                    .await?;
                wait_gone(client, "ledger", Duration::from_secs(60)).await?;
                ensure!(queues(client).get_opt("audit").await?.is_some(), "audit released while the cluster is down");
                Ok(())
            }
            .await;
            signal_servers(env, libc::SIGCONT)?;
            outcome?;
            wait_gone(client, "audit", Duration::from_secs(180)).await?;
            eprintln!(
                "audit deleted {:.1} s after the cluster went down",
                down.elapsed().as_secs_f64()
            );
            ensure!(
                !queue_exists(&sqs, "audit").await?,
                "audit's queue survived its Delete policy"
            );
            ensure!(
                queue_exists(&sqs, "ledger").await?,
                "the escape hatch deleted ledger's queue"
            );
            Ok(())
        },
    );
}

/// Every namespaced object in [`APP_NS`] with an owner reference to `uid`, as
/// (kind, name, uid).
async fn owned_by(
    client: &Client,
    discovery: &Discovery,
    uid: &str,
) -> Result<Vec<(String, String, String)>> {
    let mut owned = Vec::new();
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            if caps.scope != Scope::Namespaced || !caps.supports_operation(verbs::LIST) {
                continue;
            }
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), APP_NS, &ar);
            let Ok(list) = api.list(&ListParams::default()).await else {
                continue;
            };
            for o in list.items {
                if o.owner_references().iter().any(|r| r.uid == uid) {
                    owned.push((ar.kind.clone(), o.name_any(), o.uid().unwrap_or_default()));
                }
            }
        }
    }
    Ok(owned)
}

#[test]
fn deleting_a_queue_cluster_garbage_collects_every_object_it_owns() {
    k8s_support::operator::scenario(
        "deleting_a_queue_cluster_garbage_collects_every_object_it_owns",
        async |env| {
            cluster(env).await?;
            let client = &env.client;
            let qc = queue_clusters(client).get(CLUSTER).await?;
            let uid = qc.uid().context("QueueCluster without uid")?;
            let discovery = Discovery::new(client.clone()).run().await?;
            let owned = owned_by(client, &discovery, &uid).await?;
            let kinds: std::collections::BTreeSet<&str> =
                owned.iter().map(|(k, _, _)| k.as_str()).collect();
            eprintln!("owned by the QueueCluster: {owned:?}");
            for kind in ["StatefulSet", "Service", "Secret", "PodDisruptionBudget"] {
                ensure!(
                    kinds.contains(kind),
                    "no {kind} owned by the QueueCluster: {kinds:?}"
                );
            }

            let started = Instant::now();
            queue_clusters(client)
                .delete(CLUSTER, &DeleteParams::default())
                .await?;
            let pods: Api<Pod> = Api::namespaced(client.clone(), APP_NS);
            wait_for(
                "every owned object and pod gone",
                Duration::from_secs(180),
                || async {
                    let left = owned_by(client, &discovery, &uid).await?;
                    let gone = owned
                        .iter()
                        .all(|(_, _, u)| left.iter().all(|(_, _, l)| l != u));
                    let pods_left = pods.list(&ListParams::default()).await?.items.len();
                    Ok(gone
                        && left.is_empty()
                        && pods_left == 0
                        && queue_clusters(client).get_opt(CLUSTER).await?.is_none())
                },
            )
            .await?;
            eprintln!(
                "garbage collected in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            // The data volumes are not owned: they stay until the user deletes them
            // (docs/operator-guide.md), so deleting the object never destroys messages.
            let volumes = k8s_support::operator::pvc_names(client).await?;
            ensure!(
                volumes.len() == 3,
                "data volumes after the delete: {volumes:?}"
            );
            Ok(())
        },
    );
}
