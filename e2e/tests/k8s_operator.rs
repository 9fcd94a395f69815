//! The operator on the real control plane, installed as a user installs it: the chart
//! through Helm, the operator pod run by the pod runner with its ServiceAccount's token
//! (so every API call it makes passes the real authorizer with the chart's RBAC), the
//! server pods of a QueueCluster built by the real StatefulSet controller.
//!
//! While the cluster forms, every pod's `/cluster` is sampled: no two nodes ever claim
//! leadership of the same term.

mod k8s_support;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_support::operator::{
    APP_NS, CLUSTER, OPERATOR_NS, Shared, cluster_ip, cluster_status, converged, create_cluster,
    credentials, install_operator, install_operator_with, labelled_leader, leader_of, observed,
    operator_api_writes, operator_metric, operator_pods, operator_reconciles, pods_of_cluster,
    qc_condition, queue_clusters, sample, scenario, status_field, wait_converged,
};
use k8s_support::{AbortOnDrop, Env, condition, create_namespace, pod_ip, wait_for};
use kube::api::{DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use sqsraft_server::admin_types::Role;

/// Installs the operator, creates the 3-replica QueueCluster and waits until it has
/// converged; the sampler runs from before the cluster exists.
async fn three_voters(env: &Env) -> Result<(Api<DynamicObject>, Shared, AbortOnDrop)> {
    install_operator(env).await?;
    create_namespace(&env.client, APP_NS).await?;
    let (seen, sampler) = sample(env.client.clone());
    create_cluster(env, 3, serde_json::json!({})).await?;
    wait_converged(&env.client, 3, Duration::from_secs(240)).await?;
    Ok((queue_clusters(&env.client), seen, sampler))
}

fn no_term_with_two_leaders(seen: &Shared) -> Result<()> {
    let seen = observed(seen);
    ensure!(!seen.leaders.is_empty(), "the sampler never saw a leader");
    if let Some((term, ids)) = seen.leaders.iter().find(|(_, ids)| ids.len() > 1) {
        bail!("term {term} had two leaders: {ids:?}");
    }
    Ok(())
}

#[test]
fn deleting_the_leader_pod_elects_a_new_leader_and_status_follows() {
    scenario(
        "deleting_the_leader_pod_elects_a_new_leader_and_status_follows",
        async |env| {
            let (qcs, seen, _sampler) = three_voters(env).await?;
            let old = leader_of(&qcs.get(CLUSTER).await?).context("no leader in status")?;
            let pods: Api<Pod> = Api::namespaced(env.client.clone(), APP_NS);
            let old_uid = pods.get(&old).await?.metadata.uid;
            let deleted = std::time::Instant::now();
            pods.delete(&old, &kube::api::DeleteParams::default())
                .await?;
            wait_for(
                "a new leader in status and on the label",
                Duration::from_secs(30),
                || async {
                    let now = leader_of(&qcs.get(CLUSTER).await?);
                    let label = labelled_leader(&env.client).await?;
                    Ok(now.as_ref().is_some_and(|l| *l != old) && label == now)
                },
            )
            .await?;
            eprintln!(
                "new leader in status {:.1} s after the delete",
                deleted.elapsed().as_secs_f64()
            );
            wait_for(
                "the replacement pod Ready and 3 healthy voters again",
                Duration::from_secs(180),
                || async {
                    let replaced = pods.get_opt(&old).await?.is_some_and(|p| {
                        p.metadata.uid != old_uid
                            && condition(&p, "Ready").as_deref() == Some("True")
                    });
                    Ok(replaced && converged(&qcs.get(CLUSTER).await?, 3))
                },
            )
            .await?;
            eprintln!(
                "converged again {:.1} s after the delete",
                deleted.elapsed().as_secs_f64()
            );
            no_term_with_two_leaders(&seen)
        },
    );
}

#[test]
fn a_queue_cluster_becomes_available_with_three_voters_and_serves_sqs() {
    scenario(
        "a_queue_cluster_becomes_available_with_three_voters_and_serves_sqs",
        async |env| {
            let (qcs, seen, _sampler) = three_voters(env).await?;
            let qc = qcs.get(CLUSTER).await?;
            let leader_pod = status_field(&qc, &["leader", "pod"])
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned();

            // The leader label sits on exactly the pod that says it leads.
            let pods = pods_of_cluster(&env.client).await?;
            ensure!(pods.len() == 3, "{} pods", pods.len());
            let labelled: Vec<&Pod> = pods
                .iter()
                .filter(|p| {
                    p.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get("sqsraft.io/role"))
                        .map(String::as_str)
                        == Some("leader")
                })
                .collect();
            ensure!(
                labelled.len() == 1,
                "{} pods labelled leader",
                labelled.len()
            );
            let leader = labelled[0];
            ensure!(
                leader.metadata.name.as_deref() == Some(leader_pod.as_str()),
                "status leader {leader_pod} is not the labelled pod"
            );
            let leader_ip = pod_ip(leader);
            let view = cluster_status(&leader_ip).await?;
            ensure!(
                view.role == Role::Leader,
                "labelled pod reports {:?}",
                view.role
            );
            ensure!(
                view.voters.len() == 3 && view.learners.is_empty(),
                "{view:?}"
            );

            // `<name>-leader` routes to the leader only.
            let slices: Api<EndpointSlice> = Api::namespaced(env.client.clone(), APP_NS);
            let selector = format!("kubernetes.io/service-name={CLUSTER}-leader");
            wait_for(
                "the leader Service's endpoints",
                Duration::from_secs(30),
                || async {
                    let list = slices
                        .list(&ListParams::default().labels(&selector))
                        .await?
                        .items;
                    let ready: Vec<String> = list
                        .iter()
                        .flat_map(|s| s.endpoints.iter())
                        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
                        .flat_map(|e| e.addresses.clone())
                        .collect();
                    Ok(ready == [leader_ip.clone()])
                },
            )
            .await?;

            // A real SDK client through the client Service's ClusterIP.
            let (access_key, secret_key) = credentials(&env.client, &qc).await?;
            let endpoint = format!("http://{}:9324", cluster_ip(&env.client, CLUSTER).await?);
            let sqs = sqsraft_e2e::sdk::client(&endpoint, &access_key, &secret_key);
            let url = sqs
                .create_queue()
                .queue_name("k8s-smoke")
                .send()
                .await?
                .queue_url
                .context("no queue url")?;
            let sent: Vec<String> = (0..20).map(|i| format!("message-{i}")).collect();
            for body in &sent {
                sqs.send_message()
                    .queue_url(&url)
                    .message_body(body)
                    .send()
                    .await?;
            }
            let mut received = Vec::new();
            for _ in 0..40 {
                if received.len() >= sent.len() {
                    break;
                }
                let out = sqs
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(1)
                    .send()
                    .await?;
                for m in out.messages.unwrap_or_default() {
                    received.push(m.body.clone().unwrap_or_default());
                    sqs.delete_message()
                        .queue_url(&url)
                        .receipt_handle(m.receipt_handle.unwrap_or_default())
                        .send()
                        .await?;
                }
            }
            received.sort();
            let mut expected = sent.clone();
            expected.sort();
            ensure!(received == expected, "received {received:?}");

            // A converged, quiet cluster: how often does the operator reconcile? (A figure
            // for the report; the bound is loose: a resync loop would exceed it by far.)
            let before = operator_reconciles(&env.client).await?;
            let writes_before = operator_api_writes(&env.client).await?;
            tokio::time::sleep(Duration::from_secs(30)).await;
            let per_minute = (operator_reconciles(&env.client).await? - before) * 2;
            let writes_per_minute = (operator_api_writes(&env.client).await? - writes_before) * 2;
            eprintln!(
                "steady state: {per_minute} reconciles and {writes_per_minute} API writes per minute"
            );
            ensure!(
                per_minute <= 60,
                "{per_minute} reconciles per minute on a quiet cluster"
            );
            // The Lease is renewed every 5 s (12 PUTs a minute); a reconcile of a converged
            // cluster server-side applies its six objects (three Services, the PDB, the
            // NetworkPolicy, the StatefulSet: no-ops the API server does not version) and
            // writes no status, label or Secret.
            ensure!(
                // (+14: a Lease renewal and a reconcile straddling the window's edges.)
                writes_per_minute <= 12 + 6 * per_minute + 14,
                "{writes_per_minute} API writes per minute for {per_minute} reconciles on a \
                 quiet cluster"
            );

            no_term_with_two_leaders(&seen)
        },
    );
}

/// Writes the credentials Secret `name` with `pairs` (the first one also as the
/// `AWS_*` keys), as a user rotating keys does.
async fn write_credentials(client: &Client, name: &str, pairs: &[(&str, &str)]) -> Result<()> {
    let list: Vec<serde_json::Value> = pairs
        .iter()
        .map(|(id, secret)| json!({"accessKeyId": id, "secretAccessKey": secret}))
        .collect();
    let (id, secret) = pairs[0];
    Api::<Secret>::namespaced(client.clone(), APP_NS)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {
                "credentials.json": json!({"credentials": list}).to_string(),
                "AWS_ACCESS_KEY_ID": id, "AWS_SECRET_ACCESS_KEY": secret,
            }})),
        )
        .await
        .with_context(|| format!("update Secret {name}"))?;
    Ok(())
}

/// Whether every server pod accepts (`true`) or refuses with 403 (`false`) the key pair.
async fn every_pod(client: &Client, (id, secret): (&str, &str), accepts: bool) -> Result<bool> {
    let pods = pods_of_cluster(client).await?;
    for pod in &pods {
        let sqs = sqsraft_e2e::sdk::client(&format!("http://{}:9324", pod_ip(pod)), id, secret);
        let ok = match sqs.list_queues().send().await {
            Ok(_) => accepts,
            Err(e) => !accepts && e.raw_response().is_some_and(|r| r.status().as_u16() == 403),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(pods.len() == 3)
}

/// Pod name → (uid, restarts of its containers).
async fn pod_identities(client: &Client) -> Result<BTreeMap<String, (String, i32)>> {
    Ok(pods_of_cluster(client)
        .await?
        .into_iter()
        .map(|p| {
            let restarts = p
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .map(|cs| cs.iter().map(|c| c.restart_count).sum())
                .unwrap_or(0);
            (
                p.metadata.name.unwrap_or_default(),
                (p.metadata.uid.unwrap_or_default(), restarts),
            )
        })
        .collect())
}

#[test]
fn rotated_credentials_are_accepted_without_restarts_and_removed_ones_refused() {
    scenario(
        "rotated_credentials_are_accepted_without_restarts_and_removed_ones_refused",
        async |env| {
            let (qcs, seen, _sampler) = three_voters(env).await?;
            let client = &env.client;
            let qc = qcs.get(CLUSTER).await?;
            let secret = status_field(&qc, &["credentialsSecret"])
                .and_then(|v| v.as_str())
                .context("status.credentialsSecret")?
                .to_owned();
            let (old_id, old_key) = credentials(client, &qc).await?;
            let old = (old_id.as_str(), old_key.as_str());
            let new = (
                "SQSRROTATED000000001",
                "rotated-secret-key-of-forty-characters00",
            );
            let before = pod_identities(client).await?;

            let started = std::time::Instant::now();
            write_credentials(client, &secret, &[new, old]).await?;
            wait_for(
                "every pod accepting the new key",
                Duration::from_secs(120),
                || every_pod(client, new, true),
            )
            .await?;
            ensure!(
                every_pod(client, old, true).await?,
                "the old key stopped working too early"
            );
            eprintln!(
                "new key accepted by every pod in {:.1} s",
                started.elapsed().as_secs_f64()
            );

            let started = std::time::Instant::now();
            write_credentials(client, &secret, &[new]).await?;
            wait_for(
                "every pod refusing the old key",
                Duration::from_secs(120),
                || every_pod(client, old, false),
            )
            .await?;
            ensure!(
                every_pod(client, new, true).await?,
                "the new key is refused"
            );
            eprintln!(
                "old key refused by every pod in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            ensure!(
                pod_identities(client).await? == before,
                "pods were replaced or restarted: {before:?}"
            );

            // The operator's Queue controller signs with the Secret's first pair: the new one.
            let queues = k8s_support::operator::api(client, "Queue");
            queues
                .create(
                    &PostParams::default(),
                    &k8s_support::object(json!({
                        "apiVersion": "sqsraft.io/v1alpha1", "kind": "Queue",
                        "metadata": {"name": "after-rotation", "namespace": APP_NS},
                        "spec": {"clusterRef": {"name": CLUSTER}},
                    })),
                )
                .await?;
            wait_for(
                "the Queue Ready with the rotated key",
                Duration::from_secs(60),
                || async {
                    Ok(
                        qc_condition(&queues.get("after-rotation").await?, "Ready").as_deref()
                            == Some("True"),
                    )
                },
            )
            .await?;
            no_term_with_two_leaders(&seen)
        },
    );
}

/// `sqsraft_operator_leader` and `sqsraft_operator_reconciles_total` per operator pod.
async fn operator_figures(client: &Client) -> Result<BTreeMap<String, (u64, u64)>> {
    let mut out = BTreeMap::new();
    for pod in operator_pods(client).await? {
        let ip = pod_ip(&pod);
        let leading = operator_metric(&ip, "sqsraft_operator_leader").await?;
        let reconciles = operator_metric(&ip, "sqsraft_operator_reconciles_total").await?;
        out.insert(pod.metadata.name.unwrap_or_default(), (leading, reconciles));
    }
    Ok(out)
}

async fn lease_holder(leases: &Api<Lease>) -> Result<Option<String>> {
    Ok(leases
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .find_map(|l| l.spec.and_then(|s| s.holder_identity)))
}

#[test]
fn with_two_operator_replicas_only_the_lease_holder_acts() {
    scenario(
        "with_two_operator_replicas_only_the_lease_holder_acts",
        async |env| {
            install_operator_with(env, json!({"replicaCount": 2}), 2).await?;
            create_namespace(&env.client, APP_NS).await?;
            create_cluster(env, 3, json!({})).await?;
            wait_converged(&env.client, 3, Duration::from_secs(240)).await?;
            let client = &env.client;
            let leases: Api<Lease> = Api::namespaced(client.clone(), OPERATOR_NS);
            let holder = lease_holder(&leases)
                .await?
                .context("nobody holds the Lease")?;
            let figures = operator_figures(client).await?;
            eprintln!("Lease held by {holder}; (leader, reconciles) per pod {figures:?}");
            ensure!(figures.len() == 2, "{figures:?}");
            for (pod, (leading, reconciles)) in &figures {
                if *pod == holder {
                    ensure!(
                        *leading == 1 && *reconciles > 0,
                        "the holder {pod} does not act: {figures:?}"
                    );
                } else {
                    ensure!(
                        *leading == 0 && *reconciles == 0,
                        "the standby {pod} acted: {figures:?}"
                    );
                }
            }

            // Another identity takes the Lease over (as a replica elsewhere would) and
            // then stops renewing it: the holder stops acting, nobody acts while the
            // Lease is valid, and once it expired a replica takes over and acts.
            let lease_name = leases.list(&ListParams::default()).await?.items[0]
                .metadata
                .name
                .clone()
                .unwrap_or_default();
            let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
                k8s_openapi::jiff::Timestamp::now(),
            );
            let spec = LeaseSpec {
                holder_identity: Some("intruder".into()),
                lease_duration_seconds: Some(20),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                ..LeaseSpec::default()
            };
            leases
                .patch(
                    &lease_name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": spec})),
                )
                .await?;
            let taken = std::time::Instant::now();
            wait_for(
                "the old holder to stop leading",
                Duration::from_secs(20),
                || async {
                    let figures = operator_figures(client).await.unwrap_or_default();
                    Ok(figures.values().all(|(leading, _)| *leading == 0))
                },
            )
            .await?;
            eprintln!(
                "old holder stepped back {:.1} s after the takeover",
                taken.elapsed().as_secs_f64()
            );

            let qcs = queue_clusters(client);
            qcs.patch(
                CLUSTER,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"service": {"annotations": {"team": "orders"}}}})),
            )
            .await?;
            let services: Api<Service> = Api::namespaced(client.clone(), APP_NS);
            let annotated = || async {
                let svc = services.get(CLUSTER).await?;
                Ok::<bool, anyhow::Error>(
                    svc.metadata
                        .annotations
                        .unwrap_or_default()
                        .get("team")
                        .map(String::as_str)
                        == Some("orders"),
                )
            };
            tokio::time::sleep(Duration::from_secs(8)).await;
            ensure!(
                taken.elapsed() < Duration::from_secs(19),
                "too slow to check the intruder's Lease window"
            );
            ensure!(
                !annotated().await?,
                "an operator acted while another identity held the Lease"
            );
            wait_for(
                "a replica to take over and apply the change",
                Duration::from_secs(90),
                || async {
                    let qc = qcs.get(CLUSTER).await?;
                    let current = status_field(&qc, &["observedGeneration"])
                        .and_then(|g| g.as_i64())
                        == qc.metadata.generation;
                    Ok(current && annotated().await?)
                },
            )
            .await?;
            let holder = lease_holder(&leases).await?.unwrap_or_default();
            eprintln!(
                "applied {:.1} s after the takeover; Lease now held by {holder}",
                taken.elapsed().as_secs_f64()
            );
            ensure!(holder != "intruder", "the intruder still holds the Lease");
            Ok(())
        },
    );
}

/// The Degraded condition of QueueCluster `name`: (status, message).
fn degraded(qc: &DynamicObject) -> Option<(String, String)> {
    status_field(qc, &["conditions"])?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Degraded")
        .map(|c| {
            let text = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
            (text("status"), text("message"))
        })
}

#[test]
fn an_object_the_api_server_refuses_to_build_is_degraded_and_others_keep_reconciling() {
    scenario(
        "an_object_the_api_server_refuses_to_build_is_degraded_and_others_keep_reconciling",
        async |env| {
            install_operator(env).await?;
            create_namespace(&env.client, APP_NS).await?;
            let qcs = queue_clusters(&env.client);
            // Passes the CRD's schema, but its pod label value cannot be a label: the
            // StatefulSet the operator applies for it is refused (422).
            qcs.create(
                &PostParams::default(),
                &k8s_support::object(json!({
                    "apiVersion": "sqsraft.io/v1alpha1", "kind": "QueueCluster",
                    "metadata": {"name": "broken", "namespace": APP_NS},
                    "spec": {"replicas": 1, "storage": {"size": "1Gi"},
                             "pod": {"labels": {"team": "not a label value!"}}},
                })),
            )
            .await?;
            create_cluster(env, 3, json!({})).await?;
            wait_for(
                "broken Degraded with the API server's message",
                Duration::from_secs(60),
                || async {
                    Ok(
                        degraded(&qcs.get("broken").await?).is_some_and(|(status, message)| {
                            status == "True" && message.contains("Invalid value")
                        }),
                    )
                },
            )
            .await?;
            let events: Api<k8s_openapi::api::core::v1::Event> =
                Api::namespaced(env.client.clone(), APP_NS);
            let warnings: Vec<String> = events
                .list(&ListParams::default())
                .await?
                .items
                .into_iter()
                .filter(|e| {
                    e.involved_object.name.as_deref() == Some("broken")
                        && e.type_.as_deref() == Some("Warning")
                })
                .filter_map(|e| e.message)
                .collect();
            eprintln!(
                "broken: {:?}; Warning Events {warnings:?}",
                degraded(&qcs.get("broken").await?)
            );
            ensure!(
                !warnings.is_empty(),
                "no Warning Event on the broken QueueCluster"
            );
            wait_converged(&env.client, 3, Duration::from_secs(240)).await
        },
    );
}
