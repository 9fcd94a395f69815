//! Pure build and comparison of SQS queue attributes.
//!
//! [`desired`] turns a `QueueSpec` into the attributes the operator manages: exactly
//! those the spec sets. Attributes the spec leaves out are never touched, so adopting an
//! existing queue keeps its retention, dead-letter link and everything else not in the
//! spec. [`normalise`] brings any value — ours or the server's — into one canonical
//! string, and [`drift`] compares the two on that basis: a difference in number
//! formatting, boolean case or JSON key order is never drift. [`tag_diff`] manages only
//! the tags the operator set.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::crd::queue::QueueSpec;

/// The name of the queue on the cluster: `spec.queueName` or the object's name, with
/// `.fifo` appended to FIFO names that lack it.
pub fn queue_name(spec: &QueueSpec, object_name: &str) -> String {
    let base = spec.queue_name.as_deref().unwrap_or(object_name);
    if spec.fifo && !base.ends_with(".fifo") {
        format!("{base}.fifo")
    } else {
        base.to_string()
    }
}

/// Why a queue name is not a valid SQS name, if it is not.
pub fn invalid_name(name: &str, fifo: bool) -> Option<String> {
    let stem = name.strip_suffix(".fifo").unwrap_or(name);
    if name.len() > 80 {
        return Some(format!("queue name {name:?} is longer than 80 characters"));
    }
    if stem.is_empty()
        || !stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Some(format!(
            "queue name {name:?} may only hold letters, digits, '-' and '_' (set spec.queueName)"
        ));
    }
    if !fifo && name.ends_with(".fifo") {
        return Some(format!(
            "queue name {name:?} ends in .fifo but fifo is false"
        ));
    }
    None
}

/// ARN of queue `name` on a cluster with this region and account.
pub fn queue_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:sqs:{region}:{account}:{name}")
}

/// The managed attributes: those the spec sets, canonical. `dlq_arn` is the resolved
/// dead-letter queue ARN (from `deadLetterTargetArn` or the referenced Queue's status);
/// the redrive policy is left out while it is unknown.
pub fn desired(spec: &QueueSpec, dlq_arn: Option<&str>) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut set = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            out.insert(k.to_string(), v);
        }
    };
    set("DelaySeconds", spec.delay_seconds.map(|v| v.to_string()));
    set(
        "MaximumMessageSize",
        spec.maximum_message_size.map(|v| v.to_string()),
    );
    set(
        "MessageRetentionPeriod",
        spec.message_retention_period.map(|v| v.to_string()),
    );
    set(
        "ReceiveMessageWaitTimeSeconds",
        spec.receive_message_wait_time_seconds
            .map(|v| v.to_string()),
    );
    set(
        "VisibilityTimeout",
        spec.visibility_timeout.map(|v| v.to_string()),
    );
    if let (Some(policy), Some(arn)) = (&spec.redrive_policy, dlq_arn) {
        set(
            "RedrivePolicy",
            Some(redrive_policy(arn, i64::from(policy.max_receive_count))),
        );
    }
    if let Some(allow) = &spec.redrive_allow_policy {
        set(
            "RedriveAllowPolicy",
            Some(redrive_allow_policy(
                allow.redrive_permission.as_str(),
                allow.source_queue_arns.clone(),
            )),
        );
    }
    if spec.fifo {
        set(
            "ContentBasedDeduplication",
            spec.content_based_deduplication.map(|v| v.to_string()),
        );
        set(
            "DeduplicationScope",
            spec.deduplication_scope.map(|v| v.as_str().to_string()),
        );
        set(
            "FifoThroughputLimit",
            spec.fifo_throughput_limit.map(|v| v.as_str().to_string()),
        );
    }
    out
}

fn redrive_policy(arn: &str, max_receive_count: i64) -> String {
    serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max_receive_count})
        .to_string()
}

fn redrive_allow_policy(permission: &str, mut arns: Vec<String>) -> String {
    if permission == "byQueue" {
        arns.sort();
        arns.dedup();
        serde_json::json!({"redrivePermission": permission, "sourceQueueArns": arns}).to_string()
    } else {
        serde_json::json!({"redrivePermission": permission}).to_string()
    }
}

/// A canonical form of attribute `name`'s `value`: integers in plain decimal, booleans
/// lowercase, policies re-serialised with fixed key order (numbers given as strings
/// become numbers, source ARNs sorted). A value that does not parse is kept as is, so
/// it compares unequal to any valid value.
pub fn normalise(name: &str, value: &str) -> String {
    let trimmed = value.trim();
    match name {
        "DelaySeconds"
        | "MaximumMessageSize"
        | "MessageRetentionPeriod"
        | "ReceiveMessageWaitTimeSeconds"
        | "VisibilityTimeout" => trimmed
            .parse::<i64>()
            .map_or_else(|_| value.to_string(), |n| n.to_string()),
        "ContentBasedDeduplication" | "FifoQueue" | "SqsManagedSseEnabled" => {
            match trimmed.to_ascii_lowercase().as_str() {
                "true" => "true".into(),
                "false" => "false".into(),
                _ => value.to_string(),
            }
        }
        "RedrivePolicy" if trimmed.is_empty() => String::new(),
        "RedrivePolicy" => normalise_redrive(trimmed).unwrap_or_else(|| value.to_string()),
        "RedriveAllowPolicy" if trimmed.is_empty() => String::new(),
        "RedriveAllowPolicy" => {
            normalise_redrive_allow(trimmed).unwrap_or_else(|| value.to_string())
        }
        _ => value.to_string(),
    }
}

fn json_int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str()?.trim().parse().ok())
}

fn normalise_redrive(text: &str) -> Option<String> {
    let v: Value = serde_json::from_str(text).ok()?;
    let arn = v.get("deadLetterTargetArn")?.as_str()?;
    let count = json_int(v.get("maxReceiveCount")?)?;
    Some(redrive_policy(arn, count))
}

fn normalise_redrive_allow(text: &str) -> Option<String> {
    let v: Value = serde_json::from_str(text).ok()?;
    let permission = v.get("redrivePermission")?.as_str()?;
    let arns = match v.get("sourceQueueArns") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(String::from))
            .collect::<Option<Vec<_>>>()?,
        _ => Vec::new(),
    };
    Some(redrive_allow_policy(permission, arns))
}

/// Managed attributes whose normalised actual value differs from the desired one,
/// mapped to the desired value. An attribute missing from `actual` counts as absent
/// (`""`), which equals the default of the policies; integer and boolean attributes the
/// server always reports, so their absence is drift.
pub fn drift(
    desired: &BTreeMap<String, String>,
    actual: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    desired
        .iter()
        .filter(|(k, want)| {
            let have = actual.get(*k).map_or(String::new(), |v| normalise(k, v));
            normalise(k, want) != have
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Tag changes: tags to set (new or changed values), and the keys to remove: tags the
/// operator set before (`managed`) that left the spec. Tags set by anyone else stay.
pub fn tag_diff(
    desired: &BTreeMap<String, String>,
    actual: &BTreeMap<String, String>,
    managed: &[String],
) -> (BTreeMap<String, String>, Vec<String>) {
    let set = desired
        .iter()
        .filter(|(k, v)| actual.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove = managed
        .iter()
        .filter(|k| actual.contains_key(*k) && !desired.contains_key(*k))
        .cloned()
        .collect();
    (set, remove)
}
