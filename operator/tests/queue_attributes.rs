//! Normalisation and drift of queue attributes: no false drift from server defaults,
//! number formatting, boolean case or policy key order; real changes are drift.

use std::collections::BTreeMap;

use sqsraft_operator::crd::queue::QueueSpec;
use sqsraft_operator::queue::attributes::{desired, drift, normalise, queue_name, tag_diff};

fn spec(yaml: &str) -> QueueSpec {
    serde_yaml::from_str(yaml).expect("valid spec")
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What the server reports for a fresh standard queue (defaults filled in).
fn server_defaults() -> BTreeMap<String, String> {
    map(&[
        ("DelaySeconds", "0"),
        ("MaximumMessageSize", "1048576"),
        ("MessageRetentionPeriod", "345600"),
        ("ReceiveMessageWaitTimeSeconds", "0"),
        ("VisibilityTimeout", "30"),
        ("SqsManagedSseEnabled", "true"),
        ("QueueArn", "arn:aws:sqs:us-east-1:000000000000:orders"),
        ("ApproximateNumberOfMessages", "12"),
    ])
}

#[test]
fn an_empty_spec_matches_a_fresh_queue() {
    let s = spec("clusterRef: {name: c}");
    assert!(drift(&desired(&s, None), &server_defaults()).is_empty());
}

#[test]
fn spec_values_equal_to_defaults_are_no_drift() {
    let s = spec("clusterRef: {name: c}\nvisibilityTimeout: 30\ndelaySeconds: 0");
    assert!(drift(&desired(&s, None), &server_defaults()).is_empty());
}

#[test]
fn number_formatting_and_boolean_case_are_no_drift() {
    assert_eq!(normalise("VisibilityTimeout", " 0030 "), "30");
    assert_eq!(normalise("ContentBasedDeduplication", "TRUE"), "true");
    let s = spec(
        "clusterRef: {name: c}\nfifo: true\ncontentBasedDeduplication: true\nvisibilityTimeout: 60",
    );
    let mut actual = server_defaults();
    actual.insert("VisibilityTimeout".into(), "060".into());
    actual.insert("FifoQueue".into(), "true".into());
    actual.insert("ContentBasedDeduplication".into(), "True".into());
    actual.insert("DeduplicationScope".into(), "queue".into());
    actual.insert("FifoThroughputLimit".into(), "perQueue".into());
    assert!(drift(&desired(&s, None), &actual).is_empty());
}

#[test]
fn policy_key_order_and_number_types_are_no_drift() {
    let arn = "arn:aws:sqs:us-east-1:000000000000:dlq";
    let s = spec(&format!(
        "clusterRef: {{name: c}}\nredrivePolicy: {{deadLetterTargetArn: '{arn}', maxReceiveCount: 5}}\n\
         redriveAllowPolicy: {{redrivePermission: byQueue, sourceQueueArns: [b, a]}}"
    ));
    let mut actual = server_defaults();
    actual.insert(
        "RedrivePolicy".into(),
        format!(r#"{{"maxReceiveCount":"5", "deadLetterTargetArn":"{arn}"}}"#),
    );
    actual.insert(
        "RedriveAllowPolicy".into(),
        r#"{"sourceQueueArns":["a","b"],"redrivePermission":"byQueue"}"#.into(),
    );
    assert!(drift(&desired(&s, Some(arn)), &actual).is_empty());
}

/// Only what the spec sets is managed: an adopted queue keeps its delay and its
/// dead-letter link. Before, every attribute the spec left out was reset to its default
/// (DelaySeconds 7 -> 0, the RedrivePolicy removed).
#[test]
fn only_attributes_in_the_spec_are_managed() {
    let s = spec("clusterRef: {name: c}\nvisibilityTimeout: 45");
    let mut actual = server_defaults();
    actual.insert("DelaySeconds".into(), "7".into());
    actual.insert(
        "RedrivePolicy".into(),
        r#"{"deadLetterTargetArn":"arn:x","maxReceiveCount":3}"#.into(),
    );
    actual.insert("MessageRetentionPeriod".into(), "1209600".into());
    assert_eq!(
        drift(&desired(&s, None), &actual),
        map(&[("VisibilityTimeout", "45")])
    );
}

#[test]
fn an_unresolved_dead_letter_queue_leaves_the_redrive_policy_alone() {
    let s = spec(
        "clusterRef: {name: c}\nredrivePolicy: {deadLetterQueueRef: {name: dlq}, maxReceiveCount: 3}",
    );
    assert!(!desired(&s, None).contains_key("RedrivePolicy"));
    assert_eq!(
        desired(&s, Some("arn:aws:sqs:r:1:dlq"))["RedrivePolicy"],
        r#"{"deadLetterTargetArn":"arn:aws:sqs:r:1:dlq","maxReceiveCount":3}"#
    );
}

#[test]
fn fifo_attributes_only_on_fifo_queues() {
    let standard = desired(&spec("clusterRef: {name: c}"), None);
    assert!(!standard.contains_key("DeduplicationScope"));
    let fifo = desired(
        &spec("clusterRef: {name: c}\nfifo: true\ndeduplicationScope: messageGroup"),
        None,
    );
    assert_eq!(fifo["DeduplicationScope"], "messageGroup");
    // Left out of the spec: not managed.
    assert!(!fifo.contains_key("FifoThroughputLimit"));
}

#[test]
fn queue_names_default_to_the_object_name_with_fifo_suffix() {
    assert_eq!(
        queue_name(&spec("clusterRef: {name: c}"), "orders"),
        "orders"
    );
    assert_eq!(
        queue_name(&spec("clusterRef: {name: c}\nfifo: true"), "orders"),
        "orders.fifo"
    );
    assert_eq!(
        queue_name(
            &spec("clusterRef: {name: c}\nfifo: true\nqueueName: x.fifo"),
            "orders"
        ),
        "x.fifo"
    );
}

/// Only tags the operator set are removed; others' tags stay. Before, every tag not in
/// the spec was removed.
#[test]
fn tag_diff_sets_changed_and_removes_only_tags_it_set() {
    let (set, remove) = tag_diff(
        &map(&[("team", "a"), ("env", "prod")]),
        &map(&[("team", "b"), ("env", "prod"), ("stray", "x"), ("old", "1")]),
        &["team".into(), "env".into(), "old".into()],
    );
    assert_eq!(set, map(&[("team", "a")]));
    assert_eq!(remove, vec!["old".to_string()]);
}
