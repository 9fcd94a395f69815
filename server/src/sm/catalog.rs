//! The queue catalog: creating, changing, tagging and deleting queues inside apply.

use super::attributes;
use super::command::{CommandResult, Output};
use super::keys;
use super::txn::{StateRead, Txn};
use crate::codec::{decode, encode};
use crate::error::{ErrorCode, SqsError, SqsResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;

/// Most tags a queue may carry.
pub const MAX_TAGS: usize = 50;

/// A queue as stored in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueRecord {
    /// Unique for the lifetime of the cluster: a queue deleted and created again under the
    /// same name gets a new id, so it never sees the old queue's messages.
    pub id: u64,
    pub name: String,
    pub fifo: bool,
    /// Stored attributes, canonical, defaults filled in.
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// Unix seconds.
    pub created_s: u64,
    /// Unix seconds.
    pub modified_s: u64,
}

/// Reads a queue record.
pub fn load(state: &impl StateRead, name: &str) -> io::Result<Option<QueueRecord>> {
    state
        .get(&keys::queue(name))?
        .map(|b| decode(&b))
        .transpose()
}

/// Reads a queue record that must exist.
pub fn require(state: &impl StateRead, name: &str) -> io::Result<SqsResult<QueueRecord>> {
    Ok(load(state, name)?.ok_or_else(SqsError::queue_does_not_exist))
}

/// Every queue, in name order.
pub fn all(state: &impl StateRead) -> io::Result<Vec<QueueRecord>> {
    let start = [keys::QUEUE];
    let end = keys::prefix_end(&start);
    state
        .scan(&start, &end, usize::MAX)?
        .into_iter()
        .map(|(_, v)| decode(&v))
        .collect()
}

fn save(txn: &mut Txn<'_>, queue: &QueueRecord) -> io::Result<()> {
    txn.put(keys::queue(&queue.name), encode(queue)?);
    Ok(())
}

fn next_queue_id(txn: &mut Txn<'_>) -> io::Result<u64> {
    let current = match txn.get(keys::META_NEXT_QUEUE_ID)? {
        Some(b) => decode::<u64>(&b)?,
        None => 1,
    };
    txn.put(keys::META_NEXT_QUEUE_ID.to_vec(), encode(&(current + 1))?);
    Ok(current)
}

/// CreateQueue: creates the queue, or returns the existing one when every given attribute
/// and tag matches it (`QueueNameExists` otherwise).
pub fn create(
    txn: &mut Txn<'_>,
    now_ms: u64,
    name: &str,
    given: &BTreeMap<String, String>,
    tags: &BTreeMap<String, String>,
) -> io::Result<CommandResult> {
    if let Some(existing) = load(txn, name)? {
        let tags_match = tags.iter().all(|(k, v)| existing.tags.get(k) == Some(v));
        return Ok(
            if attributes::matches(&existing.attributes, given, existing.fifo) && tags_match {
                Ok(Output::Queue {
                    name: name.to_string(),
                })
            } else {
                Err(SqsError::new(
                    ErrorCode::QueueNameExists,
                    "A queue already exists with the same name and a different value for attribute(s).",
                ))
            },
        );
    }
    let attributes = match attributes::for_create(name, given) {
        Ok(a) => a,
        Err(e) => return Ok(Err(e)),
    };
    if let Err(e) = validate_tags(tags, 0) {
        return Ok(Err(e));
    }
    if let Err(e) = check_redrive(txn, name, attributes::is_fifo_name(name), &attributes)? {
        return Ok(Err(e));
    }
    let now_s = now_ms / 1000;
    let queue = QueueRecord {
        id: next_queue_id(txn)?,
        name: name.to_string(),
        fifo: attributes::is_fifo_name(name),
        attributes,
        tags: tags.clone(),
        created_s: now_s,
        modified_s: now_s,
    };
    save(txn, &queue)?;
    Ok(Ok(Output::Queue {
        name: name.to_string(),
    }))
}

/// DeleteQueue: removes the catalog record; the queue's id is never reused.
pub fn delete(txn: &mut Txn<'_>, name: &str) -> io::Result<CommandResult> {
    if let Err(e) = require(txn, name)? {
        return Ok(Err(e));
    }
    if let Ok(queue) = require(txn, name)? {
        super::messages::drop_queue(txn, queue.id);
    }
    txn.delete(keys::queue(name));
    Ok(Ok(Output::Empty))
}

/// SetQueueAttributes: validates all values, then replaces them together.
pub fn set_attributes(
    txn: &mut Txn<'_>,
    now_ms: u64,
    name: &str,
    given: &BTreeMap<String, String>,
) -> io::Result<CommandResult> {
    let mut queue = match require(txn, name)? {
        Ok(q) => q,
        Err(e) => return Ok(Err(e)),
    };
    queue.attributes = match attributes::for_update(&queue.attributes, queue.fifo, given) {
        Ok(a) => a,
        Err(e) => return Ok(Err(e)),
    };
    if given.contains_key("RedrivePolicy")
        && let Err(e) = check_redrive(txn, name, queue.fifo, &queue.attributes)?
    {
        return Ok(Err(e));
    }
    queue.modified_s = now_ms / 1000;
    save(txn, &queue)?;
    Ok(Ok(Output::Empty))
}

/// TagQueue: adds or replaces tags, at most [`MAX_TAGS`] in all.
pub fn tag(
    txn: &mut Txn<'_>,
    name: &str,
    tags: &BTreeMap<String, String>,
) -> io::Result<CommandResult> {
    let mut queue = match require(txn, name)? {
        Ok(q) => q,
        Err(e) => return Ok(Err(e)),
    };
    let added = tags.keys().filter(|k| !queue.tags.contains_key(*k)).count();
    if let Err(e) = validate_tags(tags, 0) {
        return Ok(Err(e));
    }
    if queue.tags.len() + added > MAX_TAGS {
        return Ok(Err(too_many_tags()));
    }
    queue
        .tags
        .extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    save(txn, &queue)?;
    Ok(Ok(Output::Empty))
}

/// UntagQueue: removes the given keys (absent keys are ignored, as AWS does).
pub fn untag(
    txn: &mut Txn<'_>,
    name: &str,
    keys_to_remove: &[String],
) -> io::Result<CommandResult> {
    let mut queue = match require(txn, name)? {
        Ok(q) => q,
        Err(e) => return Ok(Err(e)),
    };
    for key in keys_to_remove {
        queue.tags.remove(key);
    }
    save(txn, &queue)?;
    Ok(Ok(Output::Empty))
}

/// A RedrivePolicy must name an existing queue of the same type, other than the queue
/// itself, whose RedriveAllowPolicy admits this queue as a source.
fn check_redrive(
    state: &impl StateRead,
    name: &str,
    fifo: bool,
    attrs: &BTreeMap<String, String>,
) -> io::Result<SqsResult<()>> {
    let Some(policy) = attrs
        .get("RedrivePolicy")
        .and_then(|p| attributes::redrive_policy(p))
    else {
        return Ok(Ok(()));
    };
    let invalid = |reason: &str| {
        Err(SqsError::invalid_parameter(format!(
            "Value {} for parameter RedrivePolicy is invalid. Reason: {reason}",
            attrs["RedrivePolicy"]
        )))
    };
    let Some(target) = load(state, policy.target_name())? else {
        return Ok(invalid("Dead letter target does not exist."));
    };
    if target.name == name {
        return Ok(invalid("A queue cannot be its own dead-letter queue."));
    }
    if target.fifo != fifo {
        return Ok(invalid(
            "Dead-letter queue must be the same type of queue as the source.",
        ));
    }
    let allowed = target
        .attributes
        .get("RedriveAllowPolicy")
        .and_then(|p| attributes::redrive_allow_policy(p))
        .is_none_or(|p| p.allows(name));
    if !allowed {
        return Ok(invalid(
            "The dead-letter queue's RedriveAllowPolicy does not allow this source queue.",
        ));
    }
    Ok(Ok(()))
}

fn too_many_tags() -> SqsError {
    SqsError::invalid_parameter(format!(
        "Too many tags added for queue; a queue can have at most {MAX_TAGS} tags."
    ))
}

/// Tag rules: at most [`MAX_TAGS`] with `existing` already present; keys 1–128 characters,
/// not starting with the reserved `aws:` prefix; values at most 256 characters.
fn validate_tags(tags: &BTreeMap<String, String>, existing: usize) -> SqsResult<()> {
    if tags.len() + existing > MAX_TAGS {
        return Err(too_many_tags());
    }
    for (key, value) in tags {
        let key_len = key.chars().count();
        if key_len == 0 || key_len > 128 {
            return Err(SqsError::invalid_parameter(format!(
                "Tag key {key:?} must be 1 to 128 characters."
            )));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(SqsError::invalid_parameter(
                "Tag keys must not start with the reserved prefix aws:.",
            ));
        }
        if value.chars().count() > 256 {
            return Err(SqsError::invalid_parameter(format!(
                "Tag value for {key:?} exceeds 256 characters."
            )));
        }
    }
    Ok(())
}

/// Most statements AddPermission keeps in one queue policy.
pub const MAX_PERMISSION_STATEMENTS: usize = 7;

/// AddPermission: appends an Allow statement `label` to the queue's Policy document.
pub fn add_permission(
    txn: &mut Txn<'_>,
    now_ms: u64,
    name: &str,
    label: &str,
    account_ids: &[String],
    actions: &[String],
    resource: &str,
) -> io::Result<CommandResult> {
    let mut queue = match require(txn, name)? {
        Ok(q) => q,
        Err(e) => return Ok(Err(e)),
    };
    let mut policy = match policy_document(&queue) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    let statements = statements_mut(&mut policy);
    if statements
        .iter()
        .any(|s| s.get("Sid").and_then(|v| v.as_str()) == Some(label))
    {
        return Ok(Err(SqsError::invalid_parameter(format!(
            "Value {label} for parameter Label is invalid. Reason: Already exists."
        ))));
    }
    if statements.len() >= MAX_PERMISSION_STATEMENTS {
        return Ok(Err(SqsError::new(
            ErrorCode::OverLimit,
            format!(
                "{MAX_PERMISSION_STATEMENTS} Actions were found, maximum allowed is {MAX_PERMISSION_STATEMENTS}."
            ),
        )));
    }
    let principals: Vec<String> = account_ids
        .iter()
        .map(|a| format!("arn:aws:iam::{a}:root"))
        .collect();
    let actions: Vec<String> = actions.iter().map(|a| format!("SQS:{a}")).collect();
    statements.push(serde_json::json!({
        "Sid": label,
        "Effect": "Allow",
        "Principal": {"AWS": principals},
        "Action": actions,
        "Resource": resource,
    }));
    queue.attributes.insert("Policy".into(), policy.to_string());
    queue.modified_s = now_ms / 1000;
    save(txn, &queue)?;
    Ok(Ok(Output::Empty))
}

/// RemovePermission: removes the statement `label` (the policy goes when it empties).
pub fn remove_permission(
    txn: &mut Txn<'_>,
    now_ms: u64,
    name: &str,
    label: &str,
) -> io::Result<CommandResult> {
    let mut queue = match require(txn, name)? {
        Ok(q) => q,
        Err(e) => return Ok(Err(e)),
    };
    let mut policy = match policy_document(&queue) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    let statements = statements_mut(&mut policy);
    let before = statements.len();
    statements.retain(|s| s.get("Sid").and_then(|v| v.as_str()) != Some(label));
    if statements.len() == before {
        return Ok(Err(SqsError::invalid_parameter(format!(
            "Value {label} for parameter Label is invalid. Reason: can't find label."
        ))));
    }
    if statements.is_empty() {
        queue.attributes.remove("Policy");
    } else {
        queue.attributes.insert("Policy".into(), policy.to_string());
    }
    queue.modified_s = now_ms / 1000;
    save(txn, &queue)?;
    Ok(Ok(Output::Empty))
}

/// The queue's Policy as JSON, or an empty 2012-10-17 document.
fn policy_document(queue: &QueueRecord) -> SqsResult<serde_json::Value> {
    match queue.attributes.get("Policy") {
        Some(text) => serde_json::from_str(text).map_err(|_| {
            SqsError::invalid_parameter("The queue's Policy attribute is not valid JSON.")
        }),
        None => Ok(
            serde_json::json!({"Version": "2012-10-17", "Id": format!("{}/SQSDefaultPolicy", queue.name), "Statement": []}),
        ),
    }
}

/// The policy's statement list, created (or normalised from a single object) as needed.
fn statements_mut(policy: &mut serde_json::Value) -> &mut Vec<serde_json::Value> {
    if !policy.is_object() {
        *policy = serde_json::json!({});
    }
    let object = policy.as_object_mut().expect("object");
    let entry = object
        .entry("Statement")
        .or_insert_with(|| serde_json::Value::Array(Vec::new()));
    if !entry.is_array() {
        let single = entry.take();
        *entry = serde_json::Value::Array(if single.is_null() {
            Vec::new()
        } else {
            vec![single]
        });
    }
    entry.as_array_mut().expect("array")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocksdb::DB;

    #[test]
    fn permissions_live_in_the_policy_and_labels_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        let db = DB::open(&opts, dir.path()).unwrap();
        let mut txn = Txn::new(&db);
        create(&mut txn, 0, "q", &BTreeMap::new(), &BTreeMap::new())
            .unwrap()
            .unwrap();
        let accounts = vec!["111122223333".to_string()];
        let actions = vec!["SendMessage".to_string()];
        add_permission(&mut txn, 1_000, "q", "p1", &accounts, &actions, "arn:q")
            .unwrap()
            .unwrap();
        let again =
            add_permission(&mut txn, 1_000, "q", "p1", &accounts, &actions, "arn:q").unwrap();
        assert_eq!(again.unwrap_err().code, ErrorCode::InvalidParameterValue);
        let policy: serde_json::Value =
            serde_json::from_str(&load(&txn, "q").unwrap().unwrap().attributes["Policy"]).unwrap();
        assert_eq!(policy["Statement"][0]["Sid"], "p1");
        assert_eq!(
            policy["Statement"][0]["Principal"]["AWS"][0],
            "arn:aws:iam::111122223333:root"
        );
        assert_eq!(policy["Statement"][0]["Action"][0], "SQS:SendMessage");
        let missing = remove_permission(&mut txn, 2_000, "q", "nope").unwrap();
        assert_eq!(missing.unwrap_err().code, ErrorCode::InvalidParameterValue);
        remove_permission(&mut txn, 2_000, "q", "p1")
            .unwrap()
            .unwrap();
        assert!(
            !load(&txn, "q")
                .unwrap()
                .unwrap()
                .attributes
                .contains_key("Policy")
        );
    }
}
