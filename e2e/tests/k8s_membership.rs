//! Membership changes of a QueueCluster on the real control plane: scaling, a rolling
//! restart with pods slow to terminate, and the operator killed in the middle of a
//! change. During each, every pod's `/cluster` is sampled (one leader per term, never
//! fewer than a majority of voters up, terminating pods counting as down) and SQS
//! traffic runs through the client Service, checked afterwards for lost and duplicated
//! messages.

mod k8s_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use k8s_support::operator::{
    APP_NS, CLUSTER, SLOW_STOP_IMAGE, Shared, Traffic, cluster_of, converged, kill_operator,
    leader_of, observed, patch_spec, pods_of_cluster, pvc_names, queue_clusters, sample, scenario,
    wait_converged,
};
use k8s_support::{condition, wait_for};
use kube::Client;
use serde_json::json;
use sqsraft_operator::build::Names;

/// The PVCs of ordinals `0..n`.
fn volumes_of(n: u32) -> BTreeSet<String> {
    let names = Names::new(CLUSTER, APP_NS, "cluster.local");
    (0..n).map(|i| names.pvc(i)).collect()
}

/// Exactly the pods and PVCs of ordinals `0..n`, and the leader's view has `n` voters
/// and no learner (no stale member).
async fn exactly(client: &Client, n: u32, seen: &Shared) -> Result<()> {
    wait_for(
        &format!("exactly {n} pods and PVCs"),
        Duration::from_secs(60),
        || async {
            let pods = pods_of_cluster(client).await?;
            Ok(pods.len() == n as usize && pvc_names(client).await? == volumes_of(n))
        },
    )
    .await?;
    wait_for(
        &format!("the leader's view: {n} voters, no learner"),
        Duration::from_secs(10),
        || async {
            Ok(observed(seen)
                .last_leader
                .is_some_and(|l| l.voters.len() == n as usize && l.learners.is_empty()))
        },
    )
    .await
}

/// Waits until the leader reports a membership matching `pred` (a change under way).
async fn until_leader_view(
    seen: &Shared,
    what: &str,
    pred: impl Fn(&sqsraft_server::admin_types::ClusterStatus) -> bool,
) -> Result<()> {
    wait_for(what, Duration::from_secs(180), || async {
        Ok(observed(seen).last_leader.as_ref().is_some_and(&pred))
    })
    .await
}

#[test]
fn scaling_3_to_5_to_3_changes_one_member_at_a_time_and_deletes_removed_volumes() {
    scenario(
        "scaling_3_to_5_to_3_changes_one_member_at_a_time_and_deletes_removed_volumes",
        async |env| {
            cluster_of(env, 3, json!({})).await?;
            let (seen, _sampler) = sample(env.client.clone());
            let traffic = Traffic::start(&env.client).await?;

            let started = Instant::now();
            patch_spec(&env.client, json!({"replicas": 5})).await?;
            wait_converged(&env.client, 5, Duration::from_secs(300)).await?;
            eprintln!("3 -> 5 in {:.1} s", started.elapsed().as_secs_f64());
            exactly(&env.client, 5, &seen).await?;

            let started = Instant::now();
            patch_spec(&env.client, json!({"replicas": 3})).await?;
            wait_converged(&env.client, 3, Duration::from_secs(300)).await?;
            exactly(&env.client, 3, &seen).await?;
            eprintln!("5 -> 3 in {:.1} s", started.elapsed().as_secs_f64());

            let seen = observed(&seen);
            eprintln!(
                "voter counts {:?}, at most {} learner(s), {} sweeps",
                seen.voter_counts, seen.max_learners, seen.sweeps
            );
            ensure!(
                seen.voter_counts == [3, 4, 5, 4, 3],
                "voters went {:?}, not one at a time",
                seen.voter_counts
            );
            ensure!(
                seen.max_learners <= 1,
                "{} learners at once",
                seen.max_learners
            );
            seen.check()?;
            traffic.check().await
        },
    );
}

#[test]
fn a_rolling_restart_waits_for_each_pod_and_restarts_the_leader_last() {
    scenario(
        "a_rolling_restart_waits_for_each_pod_and_restarts_the_leader_last",
        async |env| {
            cluster_of(env, 3, json!({"image": format!("{SLOW_STOP_IMAGE}:1")})).await?;
            let (seen, _sampler) = sample(env.client.clone());
            let traffic = Traffic::start(&env.client).await?;
            let before: BTreeSet<String> = pods_of_cluster(&env.client)
                .await?
                .into_iter()
                .filter_map(|p| p.metadata.uid)
                .collect();

            let qcs = queue_clusters(&env.client);
            let leader = leader_of(&qcs.get(CLUSTER).await?).context("no leader in status")?;
            let started = Instant::now();
            let image = format!("{SLOW_STOP_IMAGE}:2");
            patch_spec(&env.client, json!({"image": image})).await?;
            wait_for(
                "3 new Ready pods of the new image, converged",
                Duration::from_secs(300),
                || async {
                    let pods = pods_of_cluster(&env.client).await?;
                    let renewed = pods.iter().filter(|p| {
                        let uid = p.metadata.uid.clone().unwrap_or_default();
                        let spec_image = p
                            .spec
                            .as_ref()
                            .and_then(|s| s.containers.first())
                            .and_then(|c| c.image.clone());
                        !before.contains(&uid)
                            && spec_image.as_deref() == Some(image.as_str())
                            && p.metadata.deletion_timestamp.is_none()
                            && condition(p, "Ready").as_deref() == Some("True")
                    });
                    Ok(renewed.count() == 3 && converged(&qcs.get(CLUSTER).await?, 3))
                },
            )
            .await?;
            eprintln!(
                "rolling restart in {:.1} s",
                started.elapsed().as_secs_f64()
            );

            let seen = observed(&seen);
            eprintln!(
                "terminations {:?}, at most {} terminating at once, {} sweeps, {} elections \
                 (longest without a leader {:.1} s)",
                seen.terminations,
                seen.max_terminating,
                seen.sweeps,
                seen.leaderless_windows,
                seen.longest_leaderless.as_secs_f64()
            );
            let pods: BTreeSet<&str> = seen.terminations.iter().map(|t| t.pod.as_str()).collect();
            ensure!(
                seen.terminations.len() == 3 && pods.len() == 3,
                "each pod restarted once: {:?}",
                seen.terminations
            );
            ensure!(
                seen.max_terminating == 1,
                "{} pods terminating at once",
                seen.max_terminating
            );
            for t in &seen.terminations {
                ensure!(
                    t.others_caught_up + 1 >= t.voters,
                    "{} was deleted while another voter was down or catching up: {t:?}",
                    t.pod
                );
            }
            // The leader goes last (the operator may hand its leadership over first).
            let last = seen.terminations.last().context("no termination")?;
            ensure!(
                seen.terminations[..2].iter().all(|t| !t.was_leader) && last.pod == leader,
                "leader {leader} is not restarted last: {:?}",
                seen.terminations
            );
            seen.check()?;
            traffic.check().await
        },
    );
}

#[test]
fn an_operator_killed_mid_scale_up_and_mid_scale_down_converges_when_restarted() {
    scenario(
        "an_operator_killed_mid_scale_up_and_mid_scale_down_converges_when_restarted",
        async |env| {
            cluster_of(env, 3, json!({})).await?;
            let (seen, _sampler) = sample(env.client.clone());
            let traffic = Traffic::start(&env.client).await?;

            let started = Instant::now();
            patch_spec(&env.client, json!({"replicas": 5})).await?;
            until_leader_view(&seen, "a learner or a 4th voter", |l| {
                !l.learners.is_empty() || l.voters.len() > 3
            })
            .await?;
            kill_operator(&env.client).await?;
            wait_converged(&env.client, 5, Duration::from_secs(300)).await?;
            exactly(&env.client, 5, &seen).await?;
            eprintln!(
                "3 -> 5 with the operator killed in {:.1} s",
                started.elapsed().as_secs_f64()
            );

            let started = Instant::now();
            patch_spec(&env.client, json!({"replicas": 3})).await?;
            until_leader_view(&seen, "a voter removed", |l| l.voters.len() < 5).await?;
            kill_operator(&env.client).await?;
            wait_converged(&env.client, 3, Duration::from_secs(300)).await?;
            exactly(&env.client, 3, &seen).await?;
            eprintln!(
                "5 -> 3 with the operator killed in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            let seen = observed(&seen);
            eprintln!("voter counts {:?}", seen.voter_counts);
            seen.check()?;
            traffic.check().await
        },
    );
}
