//! The Rust `aws-sdk-sqs` against a real 3-node cluster, every flow crossing nodes: batch
//! send/receive/delete, visibility changes, FIFO order with producers on different nodes,
//! dead-letter redrive, long-poll wake by a send through another node, attribute
//! selection, the main AWS errors and queues of a second region. One cluster serves all sections (in sequence) to
//! keep the run short.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::operation::RequestId;
use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use sqsraft_e2e::cluster::{Cluster, DEV_ACCESS_KEY, DEV_SECRET_KEY};
use sqsraft_e2e::sdk;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Clients of nodes 1, 2 and 3.
struct Nodes([Client; 3]);

impl Nodes {
    fn n(&self, i: usize) -> &Client {
        &self.0[i]
    }
}

fn attr(data_type: &str, value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type(data_type)
        .string_value(value)
        .build()
        .expect("attribute")
}

/// String with a custom type, Number, and Binary with a custom type.
fn attributes() -> HashMap<String, MessageAttributeValue> {
    HashMap::from([
        ("str.custom".to_string(), attr("String.custom", "héllo")),
        ("num".to_string(), attr("Number", "3.25")),
        (
            "bin.png".to_string(),
            MessageAttributeValue::builder()
                .data_type("Binary.png")
                .binary_value(Blob::new(vec![0, 1, 2, 254, 255]))
                .build()
                .expect("attribute"),
        ),
    ])
}

/// AWS's MD5 of `attributes()` and of its `num` alone, computed independently of the
/// server (the algorithm of the SQS developer guide; the SDK does not check digests).
const MD5_OF_ATTRIBUTES: &str = "6e2ee52842229cabfde7168b796a90f2";
const MD5_OF_NUM_ONLY: &str = "bf8c098665a54bb43f105e48a8e1f7cf";
const BODY: &str = "rust ✓ body";
const MD5_OF_BODY: &str = "4981cfdd3bdf8ac8283a168852e73b9b";

async fn create(client: &Client, name: &str, attrs: &[(QueueAttributeName, &str)]) -> String {
    let mut req = client.create_queue().queue_name(name);
    for (k, v) in attrs {
        req = req.attributes(k.clone(), *v);
    }
    req.send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url")
}

/// Receives (1 s long polls) until `n` messages arrived, with all attributes.
async fn receive_n(client: &Client, url: &str, n: usize) -> Vec<Message> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut got = Vec::new();
    while got.len() < n && Instant::now() < deadline {
        let out = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive");
        got.extend(out.messages.unwrap_or_default());
    }
    assert_eq!(got.len(), n, "received {got:?}");
    got
}

async fn counts(client: &Client, url: &str) -> (String, String) {
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("attributes");
    let attrs = out.attributes.expect("attributes");
    (
        attrs[&QueueAttributeName::ApproximateNumberOfMessages].clone(),
        attrs[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible].clone(),
    )
}

fn entry(id: &str, body: &str) -> SendMessageBatchRequestEntry {
    SendMessageBatchRequestEntry::builder()
        .id(id)
        .message_body(body)
        .build()
        .expect("entry")
}

async fn batches(c: &Nodes) {
    let url = create(c.n(0), "rust-batches", &[]).await;
    let entries: Vec<_> = (0..10)
        .map(|i| {
            SendMessageBatchRequestEntry::builder()
                .id(format!("e{i}"))
                .message_body(BODY)
                .set_message_attributes(Some(attributes()))
                .build()
                .expect("entry")
        })
        .collect();
    let out = c
        .n(0)
        .send_message_batch()
        .queue_url(&url)
        .set_entries(Some(entries))
        .send()
        .await
        .expect("send batch");
    assert!(out.failed().is_empty(), "{out:?}");
    assert_eq!(out.successful().len(), 10);
    for s in out.successful() {
        assert_eq!(s.md5_of_message_body(), MD5_OF_BODY);
        assert_eq!(s.md5_of_message_attributes(), Some(MD5_OF_ATTRIBUTES));
    }

    let got = receive_n(c.n(1), &url, 10).await;
    for m in &got {
        assert_eq!(m.body(), Some(BODY));
        assert_eq!(m.md5_of_body(), Some(MD5_OF_BODY));
        assert_eq!(m.message_attributes(), Some(&attributes()));
        assert_eq!(m.md5_of_message_attributes(), Some(MD5_OF_ATTRIBUTES));
        let system = m.attributes().expect("system attributes");
        assert_eq!(
            system[&MessageSystemAttributeName::SenderId],
            DEV_ACCESS_KEY
        );
        assert_eq!(
            system[&MessageSystemAttributeName::ApproximateReceiveCount],
            "1"
        );
    }
    assert_eq!(
        counts(c.n(2), &url).await,
        ("0".to_string(), "10".to_string())
    );

    let mut deletes: Vec<_> = got
        .iter()
        .enumerate()
        .map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(format!("d{i}"))
                .receipt_handle(m.receipt_handle().expect("handle"))
                .build()
                .expect("entry")
        })
        .collect();
    deletes[9] = DeleteMessageBatchRequestEntry::builder()
        .id("bad")
        .receipt_handle("not-a-handle")
        .build()
        .expect("entry");
    let out = c
        .n(2)
        .delete_message_batch()
        .queue_url(&url)
        .set_entries(Some(deletes))
        .send()
        .await
        .expect("delete batch");
    assert_eq!(out.successful().len(), 9);
    let failed = &out.failed()[0];
    assert_eq!(
        (failed.id(), failed.code(), failed.sender_fault()),
        ("bad", "ReceiptHandleIsInvalid", true)
    );
    c.n(0)
        .delete_message()
        .queue_url(&url)
        .receipt_handle(got[9].receipt_handle().expect("handle"))
        .send()
        .await
        .expect("delete");
    assert_eq!(
        counts(c.n(1), &url).await,
        ("0".to_string(), "0".to_string())
    );
}

async fn visibility(c: &Nodes) {
    let url = create(
        c.n(1),
        "rust-visibility",
        &[(QueueAttributeName::VisibilityTimeout, "30")],
    )
    .await;
    for i in 0..3 {
        c.n(1)
            .send_message()
            .queue_url(&url)
            .message_body(format!("v{i}"))
            .send()
            .await
            .expect("send");
    }
    let got = receive_n(c.n(2), &url, 3).await;
    let nothing = c
        .n(0)
        .receive_message()
        .queue_url(&url)
        .send()
        .await
        .expect("receive");
    assert!(nothing.messages().is_empty(), "all three are in flight");

    // One back to visible by a single change, one by a batch change; the third stays.
    c.n(0)
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(got[0].receipt_handle().expect("handle"))
        .visibility_timeout(0)
        .send()
        .await
        .expect("change visibility");
    let out = c
        .n(1)
        .change_message_visibility_batch()
        .queue_url(&url)
        .entries(
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id("one")
                .receipt_handle(got[1].receipt_handle().expect("handle"))
                .visibility_timeout(0)
                .build()
                .expect("entry"),
        )
        .entries(
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id("bad")
                .receipt_handle("garbage")
                .visibility_timeout(0)
                .build()
                .expect("entry"),
        )
        .send()
        .await
        .expect("change batch");
    assert_eq!(out.successful().len(), 1);
    assert_eq!(out.failed()[0].code(), "ReceiptHandleIsInvalid");

    let again = receive_n(c.n(0), &url, 2).await;
    let mut ids: Vec<_> = again
        .iter()
        .map(|m| m.message_id().unwrap_or_default())
        .collect();
    let mut expected: Vec<_> = got[..2]
        .iter()
        .map(|m| m.message_id().unwrap_or_default())
        .collect();
    ids.sort_unstable();
    expected.sort_unstable();
    assert_eq!(ids, expected);
    for m in &again {
        let system = m.attributes().expect("system attributes");
        assert_eq!(
            system[&MessageSystemAttributeName::ApproximateReceiveCount],
            "2"
        );
    }

    // The first receive's handle of a re-received message is stale: deleting through it
    // succeeds but deletes nothing.
    c.n(2)
        .delete_message()
        .queue_url(&url)
        .receipt_handle(got[0].receipt_handle().expect("handle"))
        .send()
        .await
        .expect("stale delete succeeds");
    assert_eq!(
        counts(c.n(2), &url).await,
        ("0".to_string(), "3".to_string())
    );

    // On a standard queue the handle of a message made visible still changes it (AWS).
    let handle = again[0].receipt_handle().expect("handle");
    c.n(1)
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(handle)
        .visibility_timeout(0)
        .send()
        .await
        .expect("change");
    assert_eq!(
        counts(c.n(2), &url).await,
        ("1".to_string(), "2".to_string())
    );
    c.n(2)
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(handle)
        .visibility_timeout(5)
        .send()
        .await
        .expect("change through the expired handle");
    assert_eq!(
        counts(c.n(0), &url).await,
        ("0".to_string(), "3".to_string())
    );
}

async fn fifo_order_across_nodes(c: &Nodes) {
    let url = create(
        c.n(0),
        "rust-order.fifo",
        &[
            (QueueAttributeName::FifoQueue, "true"),
            (QueueAttributeName::ContentBasedDeduplication, "true"),
        ],
    )
    .await;
    // Producers on every node, two groups interleaved.
    let mut sequence = Vec::new();
    for i in 0..12 {
        let out = c
            .n(i % 3)
            .send_message()
            .queue_url(&url)
            .message_body(format!("m{i:02}"))
            .message_group_id(if i % 2 == 0 { "even" } else { "odd" })
            .send()
            .await
            .expect("send");
        sequence.push(
            out.sequence_number()
                .expect("sequence")
                .parse::<u128>()
                .expect("number"),
        );
    }
    assert!(sequence.windows(2).all(|w| w[0] < w[1]), "{sequence:?}");

    let mut by_group: HashMap<String, Vec<String>> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while by_group.values().map(Vec::len).sum::<usize>() < 12 && Instant::now() < deadline {
        let out = c
            .n(1)
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(3)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .send()
            .await
            .expect("receive");
        for m in out.messages() {
            let group = m.attributes().expect("attributes")
                [&MessageSystemAttributeName::MessageGroupId]
                .clone();
            by_group
                .entry(group)
                .or_default()
                .push(m.body().unwrap_or_default().to_string());
            c.n(2)
                .delete_message()
                .queue_url(&url)
                .receipt_handle(m.receipt_handle().expect("handle"))
                .send()
                .await
                .expect("delete");
        }
    }
    let expected = |parity: usize| -> Vec<String> {
        (0..12)
            .filter(|i| i % 2 == parity)
            .map(|i| format!("m{i:02}"))
            .collect()
    };
    assert_eq!(by_group["even"], expected(0));
    assert_eq!(by_group["odd"], expected(1));
}

async fn dead_letters(c: &Nodes) {
    let dlq = create(c.n(0), "rust-dlq", &[]).await;
    let policy = r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:rust-dlq","maxReceiveCount":1}"#;
    let source = create(
        c.n(1),
        "rust-dlq-source",
        &[
            (QueueAttributeName::VisibilityTimeout, "0"),
            (QueueAttributeName::RedrivePolicy, policy),
        ],
    )
    .await;
    let sent = c
        .n(2)
        .send_message()
        .queue_url(&source)
        .message_body(BODY)
        .set_message_attributes(Some(attributes()))
        .send()
        .await
        .expect("send");
    let first = receive_n(c.n(0), &source, 1).await;
    assert_eq!(first[0].message_id(), sent.message_id());
    // Received once already (maxReceiveCount 1): the next receive moves it instead.
    let out = c
        .n(1)
        .receive_message()
        .queue_url(&source)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("receive");
    assert!(out.messages().is_empty(), "{out:?}");
    let dead = receive_n(c.n(2), &dlq, 1).await;
    assert_eq!(dead[0].message_id(), sent.message_id());
    assert_eq!(dead[0].body(), Some(BODY));
    assert_eq!(dead[0].md5_of_message_attributes(), Some(MD5_OF_ATTRIBUTES));
    let sources = c
        .n(0)
        .list_dead_letter_source_queues()
        .queue_url(&dlq)
        .send()
        .await
        .expect("sources");
    assert_eq!(sources.queue_urls().len(), 1);
    assert!(sources.queue_urls()[0].ends_with("/rust-dlq-source"));
}

async fn long_poll_wake(c: &Nodes) {
    let url = create(c.n(0), "rust-long-poll", &[]).await;
    // Make sure node 2 knows the queue before it starts waiting on it.
    c.n(1)
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("warm-up receive");
    let waiter = {
        let consumer = c.n(1).clone();
        let url = url.clone();
        tokio::spawn(async move {
            let out = consumer
                .receive_message()
                .queue_url(&url)
                .wait_time_seconds(20)
                .send()
                .await
                .expect("long poll");
            (Instant::now(), out.messages.unwrap_or_default())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = Instant::now();
    c.n(0)
        .send_message()
        .queue_url(&url)
        .message_body("wake")
        .send()
        .await
        .expect("send");
    let (woke, messages) = waiter.await.expect("waiter");
    let latency = woke.duration_since(sent);
    println!("long poll on node 2 woke {latency:?} after the send on node 1 started");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].body(), Some("wake"));
    assert!(
        latency < Duration::from_secs(10),
        "woken by the send, not the 20 s deadline: {latency:?}"
    );
}

async fn attribute_filtering(c: &Nodes) {
    let url = create(
        c.n(2),
        "rust-filter",
        &[(QueueAttributeName::VisibilityTimeout, "0")],
    )
    .await;
    c.n(2)
        .send_message()
        .queue_url(&url)
        .message_body(BODY)
        .set_message_attributes(Some(attributes()))
        .send()
        .await
        .expect("send");
    let receive = |names: &'static [&'static str]| {
        let client = c.n(0).clone();
        let url = url.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                let mut req = client
                    .receive_message()
                    .queue_url(&url)
                    .wait_time_seconds(1)
                    .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp);
                for n in names {
                    req = req.message_attribute_names(*n);
                }
                let out = req.send().await.expect("receive");
                if let Some(m) = out.messages.unwrap_or_default().pop() {
                    return m;
                }
                assert!(Instant::now() < deadline, "no message");
            }
        }
    };
    let m = receive(&["num"]).await;
    let names: Vec<_> = m
        .message_attributes()
        .expect("attrs")
        .keys()
        .cloned()
        .collect();
    assert_eq!(names, ["num"]);
    assert_eq!(m.md5_of_message_attributes(), Some(MD5_OF_NUM_ONLY));
    let system = m.attributes().expect("system attributes");
    assert_eq!(
        system.keys().collect::<Vec<_>>(),
        [&MessageSystemAttributeName::SentTimestamp]
    );

    let m = receive(&["bin.*", "str.*"]).await;
    let mut names: Vec<_> = m
        .message_attributes()
        .expect("attrs")
        .keys()
        .cloned()
        .collect();
    names.sort();
    assert_eq!(names, ["bin.png", "str.custom"]);

    let m = receive(&[]).await;
    assert!(m.message_attributes().is_none());
    assert!(m.md5_of_message_attributes().is_none());
}

async fn errors(c: &Nodes, cluster: &Cluster) {
    let err = c
        .n(0)
        .get_queue_url()
        .queue_name("rust-missing")
        .send()
        .await
        .expect_err("missing")
        .into_service_error();
    assert!(err.is_queue_does_not_exist(), "{err:?}");
    assert!(err.request_id().is_some());

    let url = create(
        c.n(0),
        "rust-errors",
        &[(QueueAttributeName::DelaySeconds, "0")],
    )
    .await;
    let err = c
        .n(1)
        .create_queue()
        .queue_name("rust-errors")
        .attributes(QueueAttributeName::DelaySeconds, "5")
        .send()
        .await
        .expect_err("exists")
        .into_service_error();
    assert!(err.is_queue_name_exists(), "{err:?}");
    let err = c
        .n(2)
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::from("NoSuchAttribute"))
        .send()
        .await
        .expect_err("unknown attribute")
        .into_service_error();
    assert!(err.is_invalid_attribute_name(), "{err:?}");
    let err = c
        .n(0)
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::MessageRetentionPeriod, "59")
        .send()
        .await
        .expect_err("out of range")
        .into_service_error();
    assert!(err.is_invalid_attribute_value(), "{err:?}");

    let err = c
        .n(1)
        .send_message()
        .queue_url(&url)
        .message_body("nul \u{0} inside")
        .send()
        .await
        .expect_err("invalid contents")
        .into_service_error();
    assert!(err.is_invalid_message_contents(), "{err:?}");
    let err = c
        .n(2)
        .delete_message()
        .queue_url(&url)
        .receipt_handle("garbage")
        .send()
        .await
        .expect_err("bad handle")
        .into_service_error();
    assert!(err.is_receipt_handle_is_invalid(), "{err:?}");

    let send_batch = |entries: Vec<SendMessageBatchRequestEntry>| {
        c.n(1)
            .send_message_batch()
            .queue_url(&url)
            .set_entries(Some(entries))
            .send()
    };
    let err = send_batch(Vec::new())
        .await
        .expect_err("empty")
        .into_service_error();
    assert!(err.is_empty_batch_request(), "{err:?}");
    let eleven = (0..11).map(|i| entry(&i.to_string(), "x")).collect();
    let err = send_batch(eleven)
        .await
        .expect_err("eleven")
        .into_service_error();
    assert!(err.is_too_many_entries_in_batch_request(), "{err:?}");
    let twins = vec![entry("same", "x"), entry("same", "y")];
    let err = send_batch(twins)
        .await
        .expect_err("twins")
        .into_service_error();
    assert!(err.is_batch_entry_ids_not_distinct(), "{err:?}");
    let err = send_batch(vec![entry("no spaces", "x")])
        .await
        .expect_err("bad id")
        .into_service_error();
    assert!(err.is_invalid_batch_entry_id(), "{err:?}");
    assert_eq!(
        counts(c.n(0), &url).await,
        ("0".to_string(), "0".to_string()),
        "no entry of a rejected batch was stored"
    );

    c.n(0)
        .purge_queue()
        .queue_url(&url)
        .send()
        .await
        .expect("purge");
    let err = c
        .n(2)
        .purge_queue()
        .queue_url(&url)
        .send()
        .await
        .expect_err("second purge")
        .into_service_error();
    assert!(err.is_purge_queue_in_progress(), "{err:?}");

    let wrong = sdk::client(
        &cluster.nodes[1].endpoint(),
        DEV_ACCESS_KEY,
        "not-the-secret",
    );
    let err = wrong
        .send_message()
        .queue_url(&url)
        .message_body("forged")
        .send()
        .await
        .expect_err("wrong signature")
        .into_service_error();
    assert_eq!(err.meta().code(), Some("SignatureDoesNotMatch"));
}

/// A second accepted region: same-name queues of two regions are two queues, with URLs
/// and ARNs of their own region; a region not accepted is refused.
async fn regions(c: &Nodes, cluster: &Cluster) {
    let other = sdk::client_in(
        &cluster.nodes[1].endpoint(),
        DEV_ACCESS_KEY,
        DEV_SECRET_KEY,
        OTHER_REGION,
    );
    let home_url = create(c.n(0), "regional", &[]).await;
    let other_url = create(&other, "regional", &[]).await;
    let arn = |client: Client, url: String| async move {
        client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes()
            .unwrap()[&QueueAttributeName::QueueArn]
            .clone()
    };
    assert_eq!(
        arn(c.n(0).clone(), home_url.clone()).await,
        "arn:aws:sqs:us-east-1:000000000000:regional"
    );
    assert_eq!(
        arn(other.clone(), other_url.clone()).await,
        format!("arn:aws:sqs:{OTHER_REGION}:000000000000:regional")
    );
    other
        .send_message()
        .queue_url(&other_url)
        .message_body("only here")
        .send()
        .await
        .unwrap();
    assert_eq!(counts(c.n(0), &home_url).await.0, "0");
    let got = receive_n(&other, &other_url, 1).await;
    assert_eq!(got[0].body(), Some("only here"));

    let refused = sdk::client_in(
        &cluster.nodes[0].endpoint(),
        DEV_ACCESS_KEY,
        DEV_SECRET_KEY,
        "ap-south-1",
    )
    .list_queues()
    .send()
    .await
    .unwrap_err();
    assert_eq!(
        refused.into_service_error().meta().code(),
        Some("SignatureDoesNotMatch")
    );
}

/// The region the cluster accepts besides its home region.
const OTHER_REGION: &str = "eu-west-1";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rust_sdk_flows_across_nodes() {
    let (_dir, cluster) =
        Cluster::start_in_temp(3, &["--accepted-regions", OTHER_REGION]).expect("start cluster");
    let nodes = Nodes(
        [0, 1, 2]
            .map(|i| sdk::client(&cluster.nodes[i].endpoint(), DEV_ACCESS_KEY, DEV_SECRET_KEY)),
    );
    batches(&nodes).await;
    visibility(&nodes).await;
    fifo_order_across_nodes(&nodes).await;
    dead_letters(&nodes).await;
    long_poll_wake(&nodes).await;
    attribute_filtering(&nodes).await;
    errors(&nodes, &cluster).await;
    regions(&nodes, &cluster).await;
}
