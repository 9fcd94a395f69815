//! Multi-process tests of the server core: real `sqsraft-server` processes on 127.0.0.1,
//! driven with the real Rust AWS SDK and the admin API.

use aws_sdk_sqs::Client;
use sqsraft_e2e::cluster::{Cluster, DEV_ACCESS_KEY, DEV_SECRET_KEY};
use sqsraft_e2e::sdk;
use sqsraft_server::admin_types::{
    AddLearnerRequest, ChangeVotersRequest, RemoveNodeRequest, TransferLeaderRequest,
};
use sqsraft_server::node::now_ms;
use sqsraft_server::sm::command::{Command, Op, Output};
use sqsraft_server::wire::ForwardReply;
use std::time::{Duration, Instant};

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

async fn list_all(client: &Client, prefix: &str) -> Vec<String> {
    client
        .list_queues()
        .queue_name_prefix(prefix)
        .send()
        .await
        .expect("list queues")
        .queue_urls()
        .iter()
        .map(|u| u.rsplit('/').next().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_via_follower_is_visible_everywhere_and_survives_leader_kill() {
    let (_dir, mut cluster) = Cluster::start_in_temp(3, &[]).expect("start cluster");
    let leader = blocking(|| cluster.wait_for_leader(Duration::from_secs(20))).expect("leader");
    let follower = cluster
        .nodes
        .iter()
        .map(|n| n.id)
        .find(|id| *id != leader)
        .expect("follower");
    let via_follower = cluster.sdk_client(follower);

    for i in 0..10 {
        let url = via_follower
            .create_queue()
            .queue_name(format!("core-{i}"))
            .send()
            .await
            .expect("create via follower");
        assert!(
            url.queue_url()
                .unwrap_or_default()
                .ends_with(&format!("/000000000000/core-{i}"))
        );
    }
    for node in &cluster.nodes {
        let client = cluster.sdk_client(node.id);
        assert_eq!(
            list_all(&client, "core-").await.len(),
            10,
            "node {} lists every queue",
            node.id
        );
        client
            .get_queue_url()
            .queue_name("core-3")
            .send()
            .await
            .expect("get url on every node");
    }

    // Keep creating through the follower while the leader is killed: every acknowledged
    // create must survive.
    let writer = {
        let client = via_follower.clone();
        tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for i in 0..60 {
                let name = format!("during-{i}");
                if client.create_queue().queue_name(&name).send().await.is_ok() {
                    acknowledged.push(name);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            acknowledged
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed_at = Instant::now();
    blocking(|| cluster.kill(leader)).expect("kill leader");
    let new_leader =
        blocking(|| cluster.wait_for_leader(Duration::from_secs(20))).expect("new leader");
    let failover = killed_at.elapsed();
    println!("failover: new leader {new_leader} after {failover:?}");
    assert_ne!(new_leader, leader);
    let acknowledged = writer.await.expect("writer");
    assert!(
        !acknowledged.is_empty(),
        "writes succeed across the failover"
    );
    let listed = list_all(&via_follower, "during-").await;
    for name in &acknowledged {
        assert!(listed.contains(name), "acknowledged {name} was lost");
    }
    assert_eq!(list_all(&via_follower, "core-").await.len(), 10);

    // The killed node restarts on its data dir and catches up.
    blocking(|| cluster.restart(leader)).expect("restart");
    blocking(|| cluster.wait_for_members(Duration::from_secs(30))).expect("rejoined");
    let target = blocking(|| cluster.status(new_leader))
        .expect("leader status")
        .applied_index;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let applied = blocking(|| cluster.status(leader))
            .expect("status")
            .applied_index;
        if applied >= target {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "restarted node stuck at {applied:?} < {target:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let restarted = cluster.sdk_client(leader);
    assert_eq!(list_all(&restarted, "during-").await.len(), listed.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn membership_grows_through_snapshot_install_and_shrinks_back() {
    let (_dir, mut cluster) = Cluster::start_in_temp(
        3,
        &[
            "--snapshot-interval-entries",
            "40",
            "--snapshot-keep-entries",
            "5",
        ],
    )
    .expect("start cluster");
    let leader = blocking(|| cluster.wait_for_leader(Duration::from_secs(20))).expect("leader");
    let client = cluster.sdk_client(leader);
    for i in 0..120 {
        client
            .create_queue()
            .queue_name(format!("snap-{i}"))
            .send()
            .await
            .expect("create");
    }
    // The leader purges its log once no replication stream still reads the purged range;
    // keep writing slowly until it has.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut extra = 0;
    loop {
        let status = blocking(|| cluster.status(leader)).expect("status");
        if status.purged_index.unwrap_or(0) >= 40 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "leader never purged its log: {status:?}"
        );
        client
            .create_queue()
            .queue_name(format!("extra-{extra}"))
            .send()
            .await
            .expect("create");
        extra += 1;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }

    // Two new nodes join as learners after the log was purged: they catch up by snapshot.
    for _ in 0..2 {
        let id = blocking(|| cluster.add_node()).expect("add node");
        let addr = cluster.node(id).expect("node").internal_addr();
        let status = blocking(|| {
            cluster.admin_post(
                leader,
                "/admin/learners",
                &AddLearnerRequest {
                    node_id: id,
                    addr,
                    blocking: true,
                },
            )
        })
        .expect("add learner");
        assert!(status.learners.iter().any(|m| m.node_id == id));
        let node = cluster.node(id).expect("node");
        let target = status.last_log_index;
        let deadline = Instant::now() + Duration::from_secs(30);
        while blocking(|| cluster.status(id))
            .expect("learner status")
            .applied_index
            < target
        {
            assert!(
                Instant::now() < deadline,
                "learner {id} did not catch up to {target:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let current = std::fs::read_to_string(node.data_dir.join("sm/CURRENT")).expect("CURRENT");
        assert_ne!(
            current.trim(),
            "db-0",
            "node {id} installed a snapshot instead of replaying the log"
        );
    }
    let five = blocking(|| {
        cluster.admin_post(
            leader,
            "/admin/voters",
            &ChangeVotersRequest {
                voter_ids: vec![1, 2, 3, 4, 5],
                retain_removed: false,
            },
        )
    })
    .expect("promote");
    assert_eq!(five.voters.len(), 5);
    assert!(five.learners.is_empty());
    let via_new = cluster.sdk_client(5);
    assert_eq!(list_all(&via_new, "snap-").await.len(), 120);
    via_new
        .create_queue()
        .queue_name("after-grow")
        .send()
        .await
        .expect("write with 5 voters");

    // Shrink back to three voters, then remove the two nodes entirely.
    let three = blocking(|| {
        cluster.admin_post(
            leader,
            "/admin/voters",
            &ChangeVotersRequest {
                voter_ids: vec![1, 2, 3],
                retain_removed: true,
            },
        )
    })
    .expect("demote");
    assert_eq!(three.voters.len(), 3);
    for id in [4, 5] {
        blocking(|| {
            cluster.admin_post(leader, "/admin/remove", &RemoveNodeRequest { node_id: id })
        })
        .expect("remove");
    }
    let status = blocking(|| cluster.status(leader)).expect("status");
    let members: Vec<u64> = status
        .voters
        .iter()
        .chain(&status.learners)
        .map(|m| m.node_id)
        .collect();
    assert_eq!(members, vec![1, 2, 3]);
    for id in [4, 5] {
        blocking(|| cluster.kill(id)).expect("stop removed node");
    }
    client
        .create_queue()
        .queue_name("after-shrink")
        .send()
        .await
        .expect("write with 3 voters");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn request_replayed_with_same_id_after_leader_change_applies_once() {
    let (_dir, cluster) = Cluster::start_in_temp(3, &[]).expect("start cluster");
    let leader = blocking(|| cluster.wait_for_leader(Duration::from_secs(20))).expect("leader");
    let client = cluster.sdk_client(leader);
    let command = Command {
        request_id: "AKIDSQSRAFTLOCAL:replay-test-invocation".into(),
        time_ms: now_ms(),
        op: Op::CreateQueue {
            name: "replayed".into(),
            attributes: Default::default(),
            tags: Default::default(),
        },
    };
    let first = cluster.forward(leader, &command).expect("forward");
    assert!(
        matches!(first, ForwardReply::Done(Ok(Output::Queue { .. }))),
        "{first:?}"
    );
    let url = client
        .get_queue_url()
        .queue_name("replayed")
        .send()
        .await
        .expect("url");
    client
        .delete_queue()
        .queue_url(url.queue_url().unwrap_or_default())
        .send()
        .await
        .expect("delete");

    let other = cluster
        .nodes
        .iter()
        .map(|n| n.id)
        .find(|id| *id != leader)
        .expect("other");
    let moved = blocking(|| {
        cluster.admin_post(
            leader,
            "/admin/transfer-leader",
            &TransferLeaderRequest {
                node_id: Some(other),
            },
        )
    })
    .expect("transfer leadership");
    assert_eq!(moved.leader_id, Some(other));

    // The replay (same request id) on the new leader returns the recorded answer and
    // changes nothing: the queue deleted in between stays deleted.
    let replay = cluster.forward(other, &command).expect("forward");
    assert_eq!(format!("{replay:?}"), format!("{first:?}"));
    let lookup = client.get_queue_url().queue_name("replayed").send().await;
    let err = lookup
        .expect_err("queue must stay deleted")
        .into_service_error();
    assert!(err.is_queue_does_not_exist(), "{err:?}");

    // A fresh request creates it again.
    client
        .create_queue()
        .queue_name("replayed")
        .send()
        .await
        .expect("new create");
    client
        .get_queue_url()
        .queue_name("replayed")
        .send()
        .await
        .expect("exists again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn catalog_errors_and_signatures_match_aws() {
    let (_dir, cluster) = Cluster::start_in_temp(1, &[]).expect("start cluster");
    let client = cluster.sdk_client(1);
    let err = client
        .get_queue_url()
        .queue_name("missing")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_queue_does_not_exist(), "{err:?}");

    client
        .create_queue()
        .queue_name("attrs")
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "45",
        )
        .send()
        .await
        .expect("create");
    // Same attributes: idempotent. Different: QueueNameExists.
    client
        .create_queue()
        .queue_name("attrs")
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "45",
        )
        .send()
        .await
        .expect("idempotent create");
    let err = client
        .create_queue()
        .queue_name("attrs")
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "46",
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_queue_name_exists(), "{err:?}");

    let err = client
        .create_queue()
        .queue_name("bad.fifo")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.into_service_error().meta().code(),
        Some("InvalidParameterValue")
    );
    let err = client
        .create_queue()
        .queue_name("range")
        .attributes(aws_sdk_sqs::types::QueueAttributeName::DelaySeconds, "901")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.into_service_error().meta().code(),
        Some("InvalidAttributeValue")
    );

    let url = client
        .get_queue_url()
        .queue_name("attrs")
        .send()
        .await
        .expect("url")
        .queue_url
        .unwrap_or_default();
    let attrs = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .expect("attributes");
    let attrs = attrs.attributes().expect("map");
    assert_eq!(
        attrs[&aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout],
        "45"
    );
    assert_eq!(
        attrs[&aws_sdk_sqs::types::QueueAttributeName::QueueArn],
        "arn:aws:sqs:us-east-1:000000000000:attrs"
    );

    for i in 0..5 {
        client
            .create_queue()
            .queue_name(format!("page-{i}"))
            .send()
            .await
            .expect("create");
    }
    let first = client
        .list_queues()
        .queue_name_prefix("page-")
        .max_results(2)
        .send()
        .await
        .expect("page 1");
    assert_eq!(first.queue_urls().len(), 2);
    let token = first.next_token().expect("next token").to_string();
    let second = client
        .list_queues()
        .queue_name_prefix("page-")
        .max_results(10)
        .next_token(token)
        .send()
        .await
        .expect("page 2");
    assert_eq!(second.queue_urls().len(), 3);
    assert!(second.next_token().is_none());

    let endpoint = cluster.nodes[0].endpoint();
    let wrong_secret = sdk::client(&endpoint, DEV_ACCESS_KEY, "not-the-secret");
    let err = wrong_secret
        .list_queues()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.meta().code(), Some("SignatureDoesNotMatch"));
    let unknown = sdk::client(&endpoint, "AKIDUNKNOWN", DEV_SECRET_KEY);
    let err = unknown
        .list_queues()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.meta().code(), Some("InvalidClientTokenId"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transfer_leader_subcommand_hands_off_and_is_a_no_op_on_followers() {
    let (_dir, cluster) = Cluster::start_in_temp(3, &[]).expect("start cluster");
    let leader = blocking(|| cluster.wait_for_leader(Duration::from_secs(20))).expect("leader");
    let bin = sqsraft_e2e::cluster::server_binary().expect("server binary");
    let hand_off = |id: u64| {
        let node = cluster.node(id).expect("node");
        std::process::Command::new(&bin)
            .arg("transfer-leader")
            .args(cluster.internal_tls_args(id).expect("TLS flags"))
            .env(
                "SQSRAFT_INTERNAL_LISTEN",
                format!("0.0.0.0:{}", node.internal_port),
            )
            .env("SQSRAFT_CLUSTER_TOKEN_FILE", &cluster.token_file)
            .status()
            .expect("run transfer-leader")
    };
    assert!(hand_off(leader).success());
    let new_leader = blocking(|| cluster.wait_for_leader(Duration::from_secs(20))).expect("leader");
    assert_ne!(new_leader, leader, "leadership moved off the stopping node");
    assert!(
        hand_off(leader).success(),
        "a follower has nothing to hand off"
    );
    let wrong_token = std::process::Command::new(&bin)
        .arg("transfer-leader")
        .arg("--cluster-token-file")
        .arg(cluster.credentials_file.clone())
        .env(
            "SQSRAFT_INTERNAL_LISTEN",
            format!("0.0.0.0:{}", cluster.nodes[0].internal_port),
        )
        .status()
        .expect("run");
    assert!(!wrong_token.success(), "a wrong token is refused");
}
