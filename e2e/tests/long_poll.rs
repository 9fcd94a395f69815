//! Long polling on a real cluster: a follower parks its long polls on the leader, a send
//! wakes them, an empty wait ends at its deadline, and a client that goes away leaves no
//! message invisible.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::retry::RetryConfig;
use aws_sdk_sqs::config::timeout::TimeoutConfig;
use sqsraft_e2e::cluster::Cluster;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn long_polls_wake_on_send_end_at_deadline_and_survive_disconnects() {
    let (_dir, cluster) = Cluster::start_in_temp(3, &[]).expect("start cluster");
    let leader = tokio::task::block_in_place(|| cluster.wait_for_leader(Duration::from_secs(20)))
        .expect("leader");
    let follower = cluster
        .nodes
        .iter()
        .map(|n| n.id)
        .find(|id| *id != leader)
        .expect("follower");
    let producer = cluster.sdk_client(leader);
    let consumer = cluster.sdk_client(follower);
    let url = producer
        .create_queue()
        .queue_name("lp")
        .send()
        .await
        .expect("create")
        .queue_url
        .unwrap_or_default();

    // A wait on the follower is parked on the leader and wakes when a send is applied.
    let mut wakes = Vec::new();
    for i in 0..5 {
        let waiter = {
            let consumer = consumer.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let out = consumer
                    .receive_message()
                    .queue_url(&url)
                    .wait_time_seconds(20)
                    .send()
                    .await
                    .expect("long poll");
                (Instant::now(), out.messages().to_vec())
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        let parked = tokio::task::block_in_place(|| {
            cluster
                .node(follower)
                .expect("follower node")
                .metric("sqsraft_long_polls_parked_on_leader")
        });
        assert_eq!(
            parked,
            Some(1),
            "the follower parked its long poll on the leader"
        );
        let sent = Instant::now();
        producer
            .send_message()
            .queue_url(&url)
            .message_body(format!("wake-{i}"))
            .send()
            .await
            .expect("send");
        let acked = Instant::now();
        let (woke, messages) = waiter.await.expect("waiter");
        assert_eq!(messages.len(), 1, "the waiting receive got the message");
        assert_eq!(messages[0].body(), Some(format!("wake-{i}").as_str()));
        consumer
            .delete_message()
            .queue_url(&url)
            .receipt_handle(messages[0].receipt_handle().unwrap_or_default())
            .send()
            .await
            .expect("delete");
        wakes.push((
            woke.saturating_duration_since(acked),
            woke.duration_since(sent),
        ));
    }
    println!("long-poll wake after send ack / after send start: {wakes:?}");

    // An empty wait returns empty at its deadline.
    let started = Instant::now();
    let out = consumer
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("empty poll");
    assert!(out.messages().is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "returned early: {:?}",
        started.elapsed()
    );

    // A client that gives up mid-wait proposes nothing afterwards: a message sent later
    // is immediately receivable by someone else.
    let impatient = {
        let config = consumer
            .config()
            .to_builder()
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(Duration::from_millis(500))
                    .build(),
            )
            .build();
        Client::from_conf(config)
    };
    let gone = impatient
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(20)
        .send()
        .await;
    assert!(gone.is_err(), "the client timed out");
    producer
        .send_message()
        .queue_url(&url)
        .message_body("after-disconnect")
        .send()
        .await
        .expect("send");
    let out = consumer
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(0)
        .send()
        .await
        .expect("receive");
    assert_eq!(
        out.messages().len(),
        1,
        "the message is not held by the abandoned wait"
    );
}
