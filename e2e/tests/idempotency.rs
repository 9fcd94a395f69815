//! Ambiguous outcomes (the command committed, the reply was lost) must never duplicate,
//! overwrite or misreport: real processes, the real Rust SDK, and replays of the exact
//! command a follower would re-send.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::retry::RetryConfig;
use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use sqsraft_e2e::cluster::{Cluster, DEV_ACCESS_KEY, DEV_SECRET_KEY};
use sqsraft_e2e::sdk;
use sqsraft_server::node::now_ms;
use sqsraft_server::sm::command::{Command, Op, Output, SendEntry};
use sqsraft_server::wire::ForwardReply;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

fn entry(i: usize, body: String) -> SendEntry {
    SendEntry {
        id: i.to_string(),
        message_id: format!("00000000-0000-4000-8000-{i:012}"),
        md5_body: String::new(),
        md5_attributes: None,
        md5_system_attributes: None,
        size: body.len() as u64,
        body,
        delay_seconds: None,
        attributes: BTreeMap::new(),
        system_attributes: BTreeMap::new(),
        sender_id: DEV_ACCESS_KEY.into(),
        group_id: None,
        dedup_id: None,
    }
}

/// Receives until `expected` messages arrived or a receive comes back empty; returns
/// bodies → delivery count, deleting everything received.
async fn drain(client: &Client, url: &str, expected: usize) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    loop {
        let out = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(if seen.len() >= expected { 1 } else { 5 })
            .send()
            .await
            .expect("receive");
        let messages = out.messages();
        if messages.is_empty() {
            return seen;
        }
        for m in messages {
            *seen
                .entry(m.body().unwrap_or_default().to_string())
                .or_default() += 1;
            client
                .delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
}

/// (a) The SDK retries a SendMessageBatch whose reply was lost after commit (the server
/// answers InternalFailure after committing, half of the time): every entry is stored
/// exactly once and reported successful.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retried_batch_send_never_stores_an_entry_twice() {
    let (_dir, cluster) = Cluster::start_in_temp(3, &["--fault-fail-after-commit-percent", "50"])
        .expect("start cluster");
    let leader = tokio::task::block_in_place(|| cluster.wait_for_leader(Duration::from_secs(20)))
        .expect("leader");
    let follower = cluster
        .nodes
        .iter()
        .map(|n| n.id)
        .find(|id| *id != leader)
        .expect("follower");
    let endpoint = cluster.node(follower).expect("node").endpoint();
    let patient = {
        let base = sdk::client(&endpoint, DEV_ACCESS_KEY, DEV_SECRET_KEY);
        let config = base
            .config()
            .to_builder()
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(12)
                    .with_initial_backoff(Duration::from_millis(5)),
            )
            .build();
        Client::from_conf(config)
    };
    let url = patient
        .create_queue()
        .queue_name("ambiguous")
        .send()
        .await
        .expect("create")
        .queue_url
        .unwrap_or_default();
    let batches = 30;
    for b in 0..batches {
        let entries = (0..10)
            .map(|i| {
                SendMessageBatchRequestEntry::builder()
                    .id(format!("e{i}"))
                    .message_body(format!("batch-{b}-entry-{i}"))
                    .build()
                    .expect("entry")
            })
            .collect::<Vec<_>>();
        let out = patient
            .send_message_batch()
            .queue_url(&url)
            .set_entries(Some(entries))
            .send()
            .await
            .expect("batch eventually acknowledged");
        assert_eq!(out.successful().len(), 10, "batch {b}: {:?}", out.failed());
        assert!(out.failed().is_empty());
    }
    // The fault really fired: the edge answered InternalFailure to committed batches.
    let injected = cluster
        .node(follower)
        .expect("node")
        .metric("sqsraft_requests_total{action=\"SendMessageBatch\",outcome=\"InternalFailure\"}")
        .unwrap_or(0);
    assert!(injected > 0, "no ambiguous outcome was injected");
    let reader = cluster.sdk_client(leader);
    let seen = drain(&reader, &url, batches * 10).await;
    assert_eq!(
        seen.len(),
        batches * 10,
        "every acknowledged entry is stored"
    );
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored twice: {twice:?}");
}

/// (b) A replayed send changes nothing: a receive (rotated handle) and a delete that
/// happened between the original and the replay both stand.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replayed_send_never_overwrites_a_receive_or_delete() {
    let (_dir, cluster) = Cluster::start_in_temp(3, &[]).expect("start cluster");
    let leader = tokio::task::block_in_place(|| cluster.wait_for_leader(Duration::from_secs(20)))
        .expect("leader");
    let sdk = cluster.sdk_client(leader);
    let url = sdk
        .create_queue()
        .queue_name("replay")
        .send()
        .await
        .expect("create")
        .queue_url
        .unwrap_or_default();
    let command = Command {
        request_id: "AKIDSQSRAFTLOCAL:replayed-batch".into(),
        time_ms: now_ms(),
        op: Op::SendMessages {
            queue: "replay".into(),
            entries: (0..3).map(|i| entry(i, format!("body-{i}"))).collect(),
        },
    };
    let first = cluster.forward(leader, &command).expect("forward");
    assert!(
        matches!(&first, ForwardReply::Done(Ok(Output::Sent { successful, .. })) if successful.len() == 3)
    );

    // A consumer takes all three, deletes one and keeps two in flight.
    let got = sdk
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .visibility_timeout(600)
        .send()
        .await
        .expect("receive");
    let messages = got.messages().to_vec();
    assert_eq!(messages.len(), 3);
    sdk.delete_message()
        .queue_url(&url)
        .receipt_handle(messages[0].receipt_handle().unwrap_or_default())
        .send()
        .await
        .expect("delete");

    // The replay answers as the first time…
    let replay = cluster.forward(leader, &command).expect("forward");
    assert_eq!(format!("{replay:?}"), format!("{first:?}"));
    // …and changed nothing: two in flight, none visible, the deleted one gone.
    let attrs = sdk
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("attributes");
    let attrs = attrs.attributes().expect("attributes");
    assert_eq!(attrs[&QueueAttributeName::ApproximateNumberOfMessages], "0");
    assert_eq!(
        attrs[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible],
        "2"
    );
    // The consumer's rotated handles are still the current ones: deleting through them
    // empties the queue (a superseded handle would delete nothing).
    for m in &messages[1..] {
        sdk.delete_message()
            .queue_url(&url)
            .receipt_handle(m.receipt_handle().unwrap_or_default())
            .send()
            .await
            .expect("delete through the consumer's handle");
    }
    let rest = drain(&sdk, &url, 0).await;
    assert!(rest.is_empty(), "left behind: {rest:?}");
}

/// (c) An entry that was stored is never reported in Failed, even when the queue's
/// limits tightened before the retry arrived.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stored_entry_is_never_reported_failed_on_retry() {
    let (_dir, cluster) = Cluster::start_in_temp(3, &[]).expect("start cluster");
    let leader = tokio::task::block_in_place(|| cluster.wait_for_leader(Duration::from_secs(20)))
        .expect("leader");
    let sdk = cluster.sdk_client(leader);
    let url = sdk
        .create_queue()
        .queue_name("tighten")
        .send()
        .await
        .expect("create")
        .queue_url
        .unwrap_or_default();
    let command = Command {
        request_id: "AKIDSQSRAFTLOCAL:tightened-batch".into(),
        time_ms: now_ms(),
        op: Op::SendMessages {
            queue: "tighten".into(),
            entries: (0..2).map(|i| entry(i, "x".repeat(2000))).collect(),
        },
    };
    let first = cluster.forward(leader, &command).expect("forward");
    let ForwardReply::Done(Ok(Output::Sent { successful, failed })) = &first else {
        panic!("{first:?}")
    };
    assert_eq!((successful.len(), failed.len()), (2, 0));
    sdk.set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::MaximumMessageSize, "1024")
        .send()
        .await
        .expect("tighten");
    // A fresh send of the same size now fails…
    let fresh = Command {
        request_id: "AKIDSQSRAFTLOCAL:fresh".into(),
        ..command.clone()
    };
    assert!(
        matches!(cluster.forward(leader, &fresh).expect("forward"), ForwardReply::Done(Ok(Output::Sent { failed, .. })) if failed.len() == 2)
    );
    // …but the retry of the stored batch reports what happened: success.
    let other = cluster
        .nodes
        .iter()
        .map(|n| n.id)
        .find(|id| *id != leader)
        .expect("other");
    tokio::task::block_in_place(|| {
        cluster.admin_post(
            leader,
            "/admin/transfer-leader",
            &sqsraft_server::admin_types::TransferLeaderRequest {
                node_id: Some(other),
            },
        )
    })
    .expect("transfer");
    // The transfer returns once asked; the retry goes to `other` once it leads.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !tokio::task::block_in_place(|| cluster.status(other))
        .is_ok_and(|s| s.leader_id == Some(other))
    {
        assert!(std::time::Instant::now() < deadline, "#{other} never led");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        format!("{:?}", cluster.forward(other, &command).expect("forward")),
        format!("{first:?}")
    );
}
