//! Dead-letter queues and message move tasks on a real 3-node cluster with the Rust SDK.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::QueueAttributeName;
use sqsraft_e2e::cluster::Cluster;
use sqsraft_server::admin_types::TransferLeaderRequest;
use std::time::{Duration, Instant};

const ACCOUNT: &str = "000000000000";

fn arn(name: &str) -> String {
    format!("arn:aws:sqs:us-east-1:{ACCOUNT}:{name}")
}

async fn create(
    client: &Client,
    name: &str,
    attrs: &[(QueueAttributeName, String)],
) -> Result<String, String> {
    let mut req = client.create_queue().queue_name(name);
    for (k, v) in attrs {
        req = req.attributes(k.clone(), v.clone());
    }
    req.send()
        .await
        .map(|o| o.queue_url.unwrap_or_default())
        .map_err(|e| {
            e.into_service_error()
                .meta()
                .code()
                .unwrap_or_default()
                .to_string()
        })
}

async fn count(client: &Client, url: &str) -> u64 {
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .expect("attributes");
    out.attributes().expect("attributes")[&QueueAttributeName::ApproximateNumberOfMessages]
        .parse()
        .expect("number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redrive_policies_dead_letter_moves_and_move_tasks_across_a_leader_change() {
    let (_dir, cluster) = Cluster::start_in_temp(3, &[]).expect("start cluster");
    let leader = tokio::task::block_in_place(|| cluster.wait_for_leader(Duration::from_secs(20)))
        .expect("leader");
    let follower = cluster
        .nodes
        .iter()
        .map(|n| n.id)
        .find(|id| *id != leader)
        .expect("follower");
    let sqs = cluster.sdk_client(follower);

    // RedriveAllowPolicy is enforced when a source names the DLQ.
    let deny = r#"{"redrivePermission":"denyAll"}"#.to_string();
    let dlq = create(
        &sqs,
        "dlq",
        &[(QueueAttributeName::RedriveAllowPolicy, deny)],
    )
    .await
    .expect("dlq");
    let redrive = format!(
        r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":1}}"#,
        arn("dlq")
    );
    let refused = create(
        &sqs,
        "src",
        &[(QueueAttributeName::RedrivePolicy, redrive.clone())],
    )
    .await;
    assert_eq!(refused.unwrap_err(), "InvalidParameterValue");
    let by_queue = format!(
        r#"{{"redrivePermission":"byQueue","sourceQueueArns":["{}"]}}"#,
        arn("src")
    );
    sqs.set_queue_attributes()
        .queue_url(&dlq)
        .attributes(QueueAttributeName::RedriveAllowPolicy, by_queue)
        .send()
        .await
        .expect("allow src");
    let src = create(&sqs, "src", &[(QueueAttributeName::RedrivePolicy, redrive)])
        .await
        .expect("src");
    let missing = format!(
        r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":3}}"#,
        arn("nope")
    );
    assert_eq!(
        create(
            &sqs,
            "other",
            &[(QueueAttributeName::RedrivePolicy, missing)]
        )
        .await
        .unwrap_err(),
        "InvalidParameterValue"
    );
    let bad_count = format!(
        r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":1001}}"#,
        arn("dlq")
    );
    assert_eq!(
        create(
            &sqs,
            "other",
            &[(QueueAttributeName::RedrivePolicy, bad_count)]
        )
        .await
        .unwrap_err(),
        // AWS reports a bad maxReceiveCount as a parameter value, not an attribute value.
        "InvalidParameterValue"
    );
    let sources = sqs
        .list_dead_letter_source_queues()
        .queue_url(&dlq)
        .send()
        .await
        .expect("sources");
    assert_eq!(sources.queue_urls().len(), 1);
    assert!(sources.queue_urls()[0].ends_with("/src"));

    // maxReceiveCount 1: the second receive moves each message to the DLQ instead.
    for i in 0..20 {
        sqs.send_message()
            .queue_url(&src)
            .message_body(format!("m{i}"))
            .message_attributes(
                "kind",
                aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("poison")
                    .build()
                    .expect("attribute"),
            )
            .send()
            .await
            .expect("send");
    }
    let mut received = 0;
    while received < 20 {
        let out = sqs
            .receive_message()
            .queue_url(&src)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .expect("receive");
        assert!(!out.messages().is_empty(), "first receives deliver");
        received += out.messages().len();
    }
    let again = sqs
        .receive_message()
        .queue_url(&src)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive");
    assert!(
        again.messages().is_empty(),
        "over maxReceiveCount: moved, not delivered"
    );
    assert_eq!(count(&sqs, &dlq).await, 20);
    assert_eq!(count(&sqs, &src).await, 0);

    // A move task returns them to their source at 5 messages/s; leadership moves midway.
    let started = sqs
        .start_message_move_task()
        .source_arn(arn("dlq"))
        .max_number_of_messages_per_second(5)
        .send()
        .await
        .expect("start");
    let handle = started.task_handle().unwrap_or_default().to_string();
    let second = sqs
        .start_message_move_task()
        .source_arn(arn("dlq"))
        .send()
        .await;
    assert!(second.is_err(), "one running task per queue");
    tokio::time::sleep(Duration::from_millis(1500)).await;
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
            &TransferLeaderRequest {
                node_id: Some(other),
            },
        )
    })
    .expect("transfer");
    let deadline = Instant::now() + Duration::from_secs(30);
    let task = loop {
        let list = sqs
            .list_message_move_tasks()
            .source_arn(arn("dlq"))
            .send()
            .await
            .expect("list");
        let task = list.results()[0].clone();
        if task.status() != Some("RUNNING") {
            break task;
        }
        assert!(Instant::now() < deadline, "task never finished: {task:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(task.status(), Some("COMPLETED"), "{task:?}");
    assert_eq!(task.approximate_number_of_messages_moved(), 20);
    assert_eq!(task.approximate_number_of_messages_to_move(), Some(20));
    assert_eq!(count(&sqs, &src).await, 20);
    assert_eq!(count(&sqs, &dlq).await, 0);
    let back = sqs
        .receive_message()
        .queue_url(&src)
        .message_attribute_names("All")
        .send()
        .await
        .expect("receive moved");
    let m = &back.messages()[0];
    assert_eq!(
        m.message_attributes().expect("attributes")["kind"].string_value(),
        Some("poison")
    );
    let cancel = sqs
        .cancel_message_move_task()
        .task_handle(handle)
        .send()
        .await;
    assert_eq!(
        cancel.unwrap_err().into_service_error().meta().code(),
        Some("ResourceNotFoundException"),
        "a finished task cannot be cancelled"
    );
}
