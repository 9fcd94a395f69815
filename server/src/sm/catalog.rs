//! The queue catalog: creating, changing, tagging and deleting queues inside apply.

use super::attributes;
use super::command::{CommandResult, Output};
use super::keys;
use super::queue_record::{QueueRecord, load, require, save};
use super::txn::{StateRead, Txn};
use crate::codec::{decode, encode};
use crate::error::{ErrorCode, SqsError, SqsResult, texts};
use std::collections::BTreeMap;
use std::io;

/// Most tags a queue may carry.
pub const MAX_TAGS: usize = 50;

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
        if let Err(e) = attributes::check_create_names(given, existing.fifo) {
            return Ok(Err(e));
        }
        let tags_match = tags.iter().all(|(k, v)| existing.tags.get(k) == Some(v));
        return Ok(
            if attributes::matches(&existing.attributes, given, existing.fifo) && tags_match {
                Ok(Output::Queue {
                    name: name.to_string(),
                })
            } else {
                Err(SqsError::new(
                    ErrorCode::QueueNameExists,
                    texts::QUEUE_NAME_EXISTS,
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

/// DeleteQueue: removes the catalog record (`apply.rs` drops the messages first); the
/// queue's id is never reused.
pub fn delete(txn: &mut Txn<'_>, queue: &QueueRecord) -> io::Result<CommandResult> {
    txn.delete(keys::queue(&queue.name));
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
    let Some(policy) = attributes::stored_redrive_policy(attrs) else {
        return Ok(Ok(()));
    };
    let invalid = |reason: &str| {
        Err(SqsError::invalid_parameter(texts::redrive_policy_invalid(
            &attrs["RedrivePolicy"],
            reason,
        )))
    };
    let Some(target) = load(state, &policy.target_key(name))? else {
        return Ok(invalid(texts::DEAD_LETTER_TARGET_MISSING));
    };
    if target.name == name {
        return Ok(invalid(texts::DEAD_LETTER_TARGET_SELF));
    }
    if target.fifo != fifo {
        return Ok(invalid(texts::DEAD_LETTER_TARGET_TYPE));
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
    SqsError::invalid_parameter(texts::too_many_tags(MAX_TAGS))
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
            return Err(SqsError::invalid_parameter(texts::tag_key_length(key)));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(SqsError::invalid_parameter(texts::TAG_KEY_RESERVED));
        }
        if value.chars().count() > 256 {
            return Err(SqsError::invalid_parameter(texts::tag_value_too_long(key)));
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
        Ok(Some(p)) => p,
        // The document AWS starts: its Id is the queue ARN plus `/SQSDefaultPolicy`.
        Ok(None) => serde_json::json!({
            "Version": "2008-10-17",
            "Id": format!("{resource}/SQSDefaultPolicy"),
            "Statement": [],
        }),
        Err(e) => return Ok(Err(e)),
    };
    let mut statements = take_statements(&mut policy);
    if statements
        .iter()
        .any(|s| s.get("Sid").and_then(|v| v.as_str()) == Some(label))
    {
        return Ok(Err(SqsError::invalid_parameter(texts::label_exists(label))));
    }
    if statements.len() >= MAX_PERMISSION_STATEMENTS {
        return Ok(Err(SqsError::new(
            ErrorCode::OverLimit,
            texts::too_many_permissions(MAX_PERMISSION_STATEMENTS),
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
        "Principal": {"AWS": one_or_list(principals)},
        "Action": one_or_list(actions),
        "Resource": resource,
    }));
    put_statements(&mut policy, statements);
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
        Ok(p) => p.unwrap_or_default(),
        Err(e) => return Ok(Err(e)),
    };
    let mut statements = take_statements(&mut policy);
    let before = statements.len();
    statements.retain(|s| s.get("Sid").and_then(|v| v.as_str()) != Some(label));
    if statements.len() == before {
        return Ok(Err(SqsError::invalid_parameter(texts::label_not_found(
            label,
        ))));
    }
    if statements.is_empty() {
        queue.attributes.remove("Policy");
    } else {
        put_statements(&mut policy, statements);
        queue.attributes.insert("Policy".into(), policy.to_string());
    }
    queue.modified_s = now_ms / 1000;
    save(txn, &queue)?;
    Ok(Ok(Output::Empty))
}

/// The queue's Policy as JSON, if it has one.
fn policy_document(queue: &QueueRecord) -> SqsResult<Option<serde_json::Value>> {
    queue
        .attributes
        .get("Policy")
        .map(|text| {
            serde_json::from_str(text)
                .map_err(|_| SqsError::invalid_parameter(texts::POLICY_NOT_JSON))
        })
        .transpose()
}

/// A single value as a JSON string, several as a list (how AWS writes a statement's
/// Principal and Action).
fn one_or_list(mut values: Vec<String>) -> serde_json::Value {
    if values.len() == 1 {
        serde_json::Value::String(values.remove(0))
    } else {
        serde_json::json!(values)
    }
}

/// Takes the policy's statement list out of it (a single statement object becomes a list
/// of one); [`put_statements`] puts it back.
fn take_statements(policy: &mut serde_json::Value) -> Vec<serde_json::Value> {
    match policy.get_mut("Statement").map(serde_json::Value::take) {
        Some(serde_json::Value::Array(list)) => list,
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(single) => vec![single],
    }
}

/// Stores `statements` as the policy's statement list (a policy that is not a JSON object
/// becomes one).
fn put_statements(policy: &mut serde_json::Value, statements: Vec<serde_json::Value>) {
    if !policy.is_object() {
        *policy = serde_json::json!({});
    }
    if let Some(object) = policy.as_object_mut() {
        object.insert("Statement".into(), serde_json::Value::Array(statements));
    }
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
        assert_eq!(policy["Version"], "2008-10-17");
        assert_eq!(policy["Id"], "arn:q/SQSDefaultPolicy");
        assert_eq!(policy["Statement"][0]["Sid"], "p1");
        assert_eq!(
            policy["Statement"][0]["Principal"]["AWS"],
            "arn:aws:iam::111122223333:root"
        );
        assert_eq!(policy["Statement"][0]["Action"], "SQS:SendMessage");
        let two = vec!["SendMessage".to_string(), "ReceiveMessage".to_string()];
        add_permission(&mut txn, 1_000, "q", "p2", &accounts, &two, "arn:q")
            .unwrap()
            .unwrap();
        let policy: serde_json::Value =
            serde_json::from_str(&load(&txn, "q").unwrap().unwrap().attributes["Policy"]).unwrap();
        assert_eq!(
            policy["Statement"][1]["Action"],
            serde_json::json!(["SQS:SendMessage", "SQS:ReceiveMessage"])
        );
        remove_permission(&mut txn, 2_000, "q", "p2")
            .unwrap()
            .unwrap();
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

    #[test]
    fn a_single_statement_object_becomes_a_list_and_a_non_object_policy_a_fresh_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        let db = DB::open(&opts, dir.path()).unwrap();
        let mut txn = Txn::new(&db);
        let accounts = vec!["111122223333".to_string()];
        let actions = vec!["SendMessage".to_string()];
        for (name, stored, statements_after) in [
            ("single", r#"{"Statement":{"Sid":"old"}}"#, 2),
            ("scalar", "7", 1),
        ] {
            create(&mut txn, 0, name, &BTreeMap::new(), &BTreeMap::new())
                .unwrap()
                .unwrap();
            let mut queue = load(&txn, name).unwrap().unwrap();
            queue.attributes.insert("Policy".into(), stored.into());
            save(&mut txn, &queue).unwrap();
            add_permission(&mut txn, 1_000, name, "new", &accounts, &actions, "arn:q")
                .unwrap()
                .unwrap();
            let policy: serde_json::Value =
                serde_json::from_str(&load(&txn, name).unwrap().unwrap().attributes["Policy"])
                    .unwrap();
            let list = policy["Statement"].as_array().expect("a statement list");
            assert_eq!(list.len(), statements_after, "{name}: {policy}");
            assert_eq!(list[statements_after - 1]["Sid"], "new");
        }
    }
}
