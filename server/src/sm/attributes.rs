//! Queue attribute rules: names, ranges, defaults and canonical forms.
//!
//! Validation here is pure; apply calls it so that the check and the write happen in the
//! same deterministic step.

use crate::error::{ErrorCode, SqsError, SqsResult, texts};
use std::collections::BTreeMap;

/// How an attribute's value is checked and normalised.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// An integer within an inclusive range, stored in canonical decimal form.
    Int { min: u64, max: u64 },
    /// `true` or `false` (any case), stored lowercase.
    Bool,
    /// One of a fixed set of values.
    OneOf(&'static [&'static str]),
    /// A JSON document (empty string clears it); stored as given.
    Json,
    /// A RedrivePolicy document, stored in canonical form.
    Redrive,
    /// A RedriveAllowPolicy document, stored in canonical form.
    RedriveAllow,
    /// Free text.
    Text,
}

/// Who may set an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Settable on every queue.
    Any,
    /// Settable on FIFO queues only.
    Fifo,
    /// Settable only when creating a queue (`FifoQueue`).
    CreateOnly,
}

struct Rule {
    name: &'static str,
    kind: Kind,
    scope: Scope,
    /// Default for standard queues and FIFO queues (None: absent unless set).
    default: Option<&'static str>,
}

const RULES: &[Rule] = &[
    Rule {
        name: "DelaySeconds",
        kind: Kind::Int { min: 0, max: 900 },
        scope: Scope::Any,
        default: Some("0"),
    },
    Rule {
        name: "MaximumMessageSize",
        kind: Kind::Int {
            min: 1024,
            max: 1_048_576,
        },
        scope: Scope::Any,
        default: Some("1048576"),
    },
    Rule {
        name: "MessageRetentionPeriod",
        kind: Kind::Int {
            min: 60,
            max: 1_209_600,
        },
        scope: Scope::Any,
        default: Some("345600"),
    },
    Rule {
        name: "ReceiveMessageWaitTimeSeconds",
        kind: Kind::Int { min: 0, max: 20 },
        scope: Scope::Any,
        default: Some("0"),
    },
    Rule {
        name: "VisibilityTimeout",
        kind: Kind::Int {
            min: 0,
            max: 43_200,
        },
        scope: Scope::Any,
        default: Some("30"),
    },
    Rule {
        name: "Policy",
        kind: Kind::Json,
        scope: Scope::Any,
        default: None,
    },
    Rule {
        name: "RedrivePolicy",
        kind: Kind::Redrive,
        scope: Scope::Any,
        default: None,
    },
    Rule {
        name: "RedriveAllowPolicy",
        kind: Kind::RedriveAllow,
        scope: Scope::Any,
        default: None,
    },
    Rule {
        name: "KmsMasterKeyId",
        kind: Kind::Text,
        scope: Scope::Any,
        default: None,
    },
    Rule {
        name: "KmsDataKeyReusePeriodSeconds",
        kind: Kind::Int {
            min: 60,
            max: 86_400,
        },
        scope: Scope::Any,
        default: None,
    },
    Rule {
        name: "SqsManagedSseEnabled",
        kind: Kind::Bool,
        scope: Scope::Any,
        default: Some("true"),
    },
    Rule {
        name: "FifoQueue",
        kind: Kind::Bool,
        scope: Scope::CreateOnly,
        default: None,
    },
    Rule {
        name: "ContentBasedDeduplication",
        kind: Kind::Bool,
        scope: Scope::Fifo,
        default: Some("false"),
    },
    Rule {
        name: "DeduplicationScope",
        kind: Kind::OneOf(&["messageGroup", "queue"]),
        scope: Scope::Fifo,
        default: Some("queue"),
    },
    Rule {
        name: "FifoThroughputLimit",
        kind: Kind::OneOf(&["perQueue", "perMessageGroupId"]),
        scope: Scope::Fifo,
        default: Some("perQueue"),
    },
];

/// Attributes computed at read time rather than stored.
pub const COMPUTED: &[&str] = &[
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
];

fn rule(name: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.name == name)
}

fn invalid_name(name: &str) -> SqsError {
    SqsError::new(
        ErrorCode::InvalidAttributeName,
        texts::unknown_attribute(name),
    )
}

/// The error AWS gives for a FIFO-only attribute on a standard queue (`FifoQueue` and
/// `ContentBasedDeduplication` are unknown names there; the throughput settings name the
/// reason).
fn fifo_only(name: &str) -> SqsError {
    match name {
        "DeduplicationScope" | "FifoThroughputLimit" => SqsError::new(
            ErrorCode::InvalidAttributeName,
            format!("You can specify the {name} only when FifoQueue is set to true."),
        ),
        _ => invalid_name(name),
    }
}

fn invalid_value(name: &str) -> SqsError {
    SqsError::new(
        ErrorCode::InvalidAttributeValue,
        texts::invalid_attribute_value(name),
    )
}

/// Checks one value against its rule and returns the canonical form.
fn normalise(rule: &Rule, value: &str) -> SqsResult<String> {
    match rule.kind {
        Kind::Int { min, max } => {
            let trimmed = value.trim();
            let n: u64 = if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
                trimmed.parse().map_err(|_| invalid_value(rule.name))?
            } else {
                return Err(invalid_value(rule.name));
            };
            if n < min || n > max {
                return Err(invalid_value(rule.name));
            }
            Ok(n.to_string())
        }
        Kind::Bool => match value.to_ascii_lowercase().as_str() {
            "true" => Ok("true".into()),
            "false" => Ok("false".into()),
            _ => Err(invalid_value(rule.name)),
        },
        Kind::OneOf(allowed) => allowed
            .iter()
            .find(|a| **a == value)
            .map(|a| a.to_string())
            .ok_or_else(|| invalid_value(rule.name)),
        Kind::Json => {
            if value.is_empty()
                || serde_json::from_str::<serde_json::Value>(value).is_ok_and(|v| v.is_object())
            {
                Ok(value.to_string())
            } else {
                Err(invalid_value(rule.name))
            }
        }
        Kind::Text => Ok(value.to_string()),
        Kind::Redrive if value.is_empty() => Ok(String::new()),
        Kind::Redrive => check_redrive_policy(value).map(|p| p.canonical()),
        Kind::RedriveAllow if value.is_empty() => Ok(String::new()),
        Kind::RedriveAllow => redrive_allow_policy(value)
            .map(|p| p.canonical())
            .ok_or_else(|| invalid_value(rule.name)),
    }
}

/// Most maxReceiveCount a RedrivePolicy may set.
pub const MAX_RECEIVE_COUNT: u64 = 1000;
/// Most source queues a byQueue RedriveAllowPolicy may list.
pub const MAX_REDRIVE_SOURCES: usize = 10;

/// A parsed RedrivePolicy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedrivePolicy {
    pub target_arn: String,
    pub max_receive_count: u64,
}

impl RedrivePolicy {
    /// The dead-letter queue's key for the source queue keyed `source`: the ARN's last
    /// field (the name), in the source queue's region.
    pub fn target_key(&self, source: &str) -> String {
        let name = self.target_arn.rsplit(':').next().unwrap_or("");
        super::queue_key::sibling(source, name)
    }

    fn canonical(&self) -> String {
        serde_json::json!({"deadLetterTargetArn": self.target_arn, "maxReceiveCount": self.max_receive_count}).to_string()
    }
}

/// The RedrivePolicy stored among a queue's attributes, if it has one.
pub fn stored_redrive_policy(attributes: &BTreeMap<String, String>) -> Option<RedrivePolicy> {
    attributes
        .get("RedrivePolicy")
        .and_then(|p| redrive_policy(p))
}

/// Parses a RedrivePolicy as [`redrive_policy`] does, reporting what is wrong as AWS
/// does: `InvalidParameterValue` "Value <policy> for parameter RedrivePolicy is invalid.
/// Reason: …".
fn check_redrive_policy(text: &str) -> SqsResult<RedrivePolicy> {
    let invalid = |reason: String| {
        SqsError::invalid_parameter(format!(
            "Value {text} for parameter RedrivePolicy is invalid. Reason: {reason}"
        ))
    };
    let object = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(o)) => o,
        _ => return Err(invalid("Redrive policy is not a valid JSON map.".into())),
    };
    for key in ["deadLetterTargetArn", "maxReceiveCount"] {
        if !object.contains_key(key) {
            return Err(invalid(format!(
                "Redrive policy does not contain mandatory attribute: {key}."
            )));
        }
    }
    if let Some(key) = object
        .keys()
        .find(|k| *k != "deadLetterTargetArn" && *k != "maxReceiveCount")
    {
        return Err(invalid(format!(
            "Only following attributes are supported: [deadLetterTargetArn, maxReceiveCount]. Found: {key}."
        )));
    }
    let count = &object["maxReceiveCount"];
    let count_text = match count {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if !count_text
        .parse::<u64>()
        .is_ok_and(|n| (1..=MAX_RECEIVE_COUNT).contains(&n))
    {
        return Err(invalid(format!(
            "Invalid value for maxReceiveCount: {count_text}, valid values are from 1 to {MAX_RECEIVE_COUNT} both inclusive."
        )));
    }
    redrive_policy(text).ok_or_else(|| invalid("Invalid value for deadLetterTargetArn.".into()))
}

/// Parses a RedrivePolicy (`maxReceiveCount` as a number or a numeric string, 1–1000).
pub fn redrive_policy(text: &str) -> Option<RedrivePolicy> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let object = v.as_object()?;
    if object
        .keys()
        .any(|k| k != "deadLetterTargetArn" && k != "maxReceiveCount")
    {
        return None;
    }
    let target_arn = object.get("deadLetterTargetArn")?.as_str()?.to_string();
    let max_receive_count = match object.get("maxReceiveCount")? {
        serde_json::Value::Number(n) => n.as_u64()?,
        serde_json::Value::String(s) => s.parse().ok()?,
        _ => return None,
    };
    let arn_ok = target_arn.starts_with("arn:") && target_arn.split(':').count() == 6;
    (arn_ok && (1..=MAX_RECEIVE_COUNT).contains(&max_receive_count)).then_some(RedrivePolicy {
        target_arn,
        max_receive_count,
    })
}

/// A parsed RedriveAllowPolicy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedriveAllowPolicy {
    AllowAll,
    DenyAll,
    ByQueue(Vec<String>),
}

impl RedriveAllowPolicy {
    /// Whether a queue named `source` may use this queue as its dead-letter queue.
    pub fn allows(&self, source: &str) -> bool {
        match self {
            RedriveAllowPolicy::AllowAll => true,
            RedriveAllowPolicy::DenyAll => false,
            RedriveAllowPolicy::ByQueue(arns) => {
                arns.iter().any(|a| a.rsplit(':').next() == Some(source))
            }
        }
    }

    fn canonical(&self) -> String {
        match self {
            RedriveAllowPolicy::AllowAll => r#"{"redrivePermission":"allowAll"}"#.to_string(),
            RedriveAllowPolicy::DenyAll => r#"{"redrivePermission":"denyAll"}"#.to_string(),
            RedriveAllowPolicy::ByQueue(arns) => {
                serde_json::json!({"redrivePermission": "byQueue", "sourceQueueArns": arns})
                    .to_string()
            }
        }
    }
}

/// Parses a RedriveAllowPolicy: `allowAll`, `denyAll`, or `byQueue` with 1–10 ARNs.
pub fn redrive_allow_policy(text: &str) -> Option<RedriveAllowPolicy> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let object = v.as_object()?;
    if object
        .keys()
        .any(|k| k != "redrivePermission" && k != "sourceQueueArns")
    {
        return None;
    }
    let arns = object.get("sourceQueueArns");
    match object.get("redrivePermission")?.as_str()? {
        "allowAll" if arns.is_none() => Some(RedriveAllowPolicy::AllowAll),
        "denyAll" if arns.is_none() => Some(RedriveAllowPolicy::DenyAll),
        "byQueue" => {
            let list: Vec<String> = arns?
                .as_array()?
                .iter()
                .map(|a| a.as_str().map(str::to_string))
                .collect::<Option<_>>()?;
            (!list.is_empty() && list.len() <= MAX_REDRIVE_SOURCES)
                .then_some(RedriveAllowPolicy::ByQueue(list))
        }
        _ => None,
    }
}

/// Whether a queue name denotes a FIFO queue.
pub fn is_fifo_name(name: &str) -> bool {
    name.ends_with(".fifo")
}

/// Validates the attributes of a CreateQueue for `name` and returns the complete stored
/// attribute set (defaults filled in, values canonical).
pub fn for_create(
    name: &str,
    given: &BTreeMap<String, String>,
) -> SqsResult<BTreeMap<String, String>> {
    let fifo = match given.get("FifoQueue") {
        Some(v) => {
            let rule = rule("FifoQueue").ok_or_else(|| invalid_name("FifoQueue"))?;
            normalise(rule, v)? == "true"
        }
        None => false,
    };
    if fifo != is_fifo_name(name) {
        return Err(SqsError::invalid_parameter(if fifo {
            texts::FIFO_QUEUE_NAME_INVALID
        } else {
            texts::QUEUE_NAME_INVALID
        }));
    }
    check_create_names(given, fifo)?;
    let mut stored = defaults(fifo);
    for (key, value) in given {
        let rule = rule(key).ok_or_else(|| invalid_name(key))?;
        let canonical = normalise(rule, value)?;
        store(&mut stored, key, canonical);
    }
    encryption(&mut stored, given)?;
    Ok(stored)
}

/// The attribute names a CreateQueue may give: known ones, and on a standard queue none
/// of the FIFO-only ones — `FifoQueue=false` included, as AWS refuses it there.
pub fn check_create_names(given: &BTreeMap<String, String>, fifo: bool) -> SqsResult<()> {
    for key in given.keys() {
        let rule = rule(key).ok_or_else(|| invalid_name(key))?;
        if rule.scope != Scope::Any && !fifo {
            return Err(fifo_only(key));
        }
    }
    Ok(())
}

/// Server-side encryption is SSE-SQS or SSE-KMS, never both: giving a `KmsMasterKeyId`
/// together with `SqsManagedSseEnabled=true` is refused, a key switches SSE-SQS off (and
/// `SqsManagedSseEnabled=true` alone drops the key); a key comes with a
/// `KmsDataKeyReusePeriodSeconds` (300 by default), which goes when the key does.
fn encryption(
    attrs: &mut BTreeMap<String, String>,
    given: &BTreeMap<String, String>,
) -> SqsResult<()> {
    let key_given = given.get("KmsMasterKeyId").is_some_and(|k| !k.is_empty());
    let sqs_given = given
        .get("SqsManagedSseEnabled")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if key_given && sqs_given {
        return Err(SqsError::new(
            ErrorCode::InvalidAttributeName,
            "You can use one type of server-side encryption (SSE) at one time. You can either enable KMS SSE or SQS SSE.",
        ));
    }
    if sqs_given {
        attrs.remove("KmsMasterKeyId");
    }
    if attrs.contains_key("KmsMasterKeyId") {
        if key_given {
            attrs.insert("SqsManagedSseEnabled".into(), "false".into());
        }
        attrs
            .entry("KmsDataKeyReusePeriodSeconds".into())
            .or_insert_with(|| "300".into());
    } else if given.contains_key("KmsMasterKeyId") || sqs_given {
        attrs.remove("KmsDataKeyReusePeriodSeconds");
    }
    Ok(())
}

/// Validates a SetQueueAttributes request against a queue's current attributes and
/// returns the new complete set. All-or-nothing: any invalid entry rejects the request.
pub fn for_update(
    current: &BTreeMap<String, String>,
    fifo: bool,
    given: &BTreeMap<String, String>,
) -> SqsResult<BTreeMap<String, String>> {
    let mut next = current.clone();
    for (key, value) in given {
        let rule = rule(key).ok_or_else(|| invalid_name(key))?;
        if rule.scope != Scope::Any && !fifo {
            return Err(fifo_only(key));
        }
        let canonical = normalise(rule, value)?;
        if rule.scope == Scope::CreateOnly {
            // A queue's type never changes: restating it is a no-op, as on AWS.
            if canonical != "true" {
                return Err(SqsError::new(
                    ErrorCode::InvalidAttributeValue,
                    texts::QUEUE_TYPE_IMMUTABLE,
                ));
            }
            continue;
        }
        store(&mut next, key, canonical);
    }
    encryption(&mut next, given)?;
    Ok(next)
}

/// Whether every given attribute equals the stored one (CreateQueue idempotency).
pub fn matches(
    stored: &BTreeMap<String, String>,
    given: &BTreeMap<String, String>,
    fifo: bool,
) -> bool {
    given.iter().all(|(key, value)| {
        let Some(rule) = rule(key) else { return false };
        let Ok(canonical) = normalise(rule, value) else {
            return false;
        };
        if rule.name == "FifoQueue" {
            return (canonical == "true") == fifo;
        }
        stored.get(key).map(String::as_str).unwrap_or("") == canonical
    })
}

/// Checks that every requested attribute name exists (`All` selects everything).
pub fn check_names(names: &[String], fifo: bool) -> SqsResult<()> {
    for name in names {
        let known = name == "All"
            || COMPUTED.contains(&name.as_str())
            || rule(name).is_some_and(|r| r.scope != Scope::Fifo || fifo);
        if !known {
            return Err(SqsError::new(
                ErrorCode::InvalidAttributeName,
                texts::unknown_attribute(name),
            ));
        }
    }
    Ok(())
}

fn defaults(fifo: bool) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for rule in RULES {
        if rule.scope == Scope::Fifo && !fifo {
            continue;
        }
        if let Some(default) = rule.default {
            out.insert(rule.name.to_string(), default.to_string());
        }
    }
    if fifo {
        out.insert("FifoQueue".into(), "true".into());
    }
    out
}

/// Stores a canonical value; an empty policy clears the attribute.
fn store(attrs: &mut BTreeMap<String, String>, key: &str, canonical: String) {
    if canonical.is_empty() {
        attrs.remove(key);
    } else {
        attrs.insert(key.to_string(), canonical);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(k: &str, v: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(k.to_string(), v.to_string())])
    }

    /// Every integer bound ±1: the bound itself is accepted, one past it rejected.
    #[test]
    fn integer_ranges_accept_bounds_and_reject_one_past() {
        let table = [
            ("DelaySeconds", 0, 900),
            ("MaximumMessageSize", 1024, 1_048_576),
            ("MessageRetentionPeriod", 60, 1_209_600),
            ("ReceiveMessageWaitTimeSeconds", 0, 20),
            ("VisibilityTimeout", 0, 43_200),
            ("KmsDataKeyReusePeriodSeconds", 60, 86_400),
        ];
        for (name, min, max) in table {
            for ok in [min, max] {
                let attrs = for_create("q", &one(name, &ok.to_string())).unwrap();
                assert_eq!(attrs[name], ok.to_string(), "{name}={ok}");
            }
            let mut bad = vec![max + 1];
            if min > 0 {
                bad.push(min - 1);
            }
            for value in bad {
                let err = for_create("q", &one(name, &value.to_string())).unwrap_err();
                assert_eq!(err.code, ErrorCode::InvalidAttributeValue, "{name}={value}");
            }
            for junk in ["-1", "", "1.5", "ten", "99999999999999999999999"] {
                assert_eq!(
                    for_create("q", &one(name, junk)).unwrap_err().code,
                    ErrorCode::InvalidAttributeValue,
                    "{name}={junk:?}"
                );
            }
        }
    }

    #[test]
    fn defaults_are_filled_and_values_canonical() {
        let attrs = for_create("q", &one("VisibilityTimeout", "045")).unwrap();
        assert_eq!(attrs["VisibilityTimeout"], "45");
        assert_eq!(attrs["MaximumMessageSize"], "1048576");
        assert_eq!(attrs["MessageRetentionPeriod"], "345600");
        assert!(!attrs.contains_key("FifoQueue"));
        let fifo = for_create("q.fifo", &one("FifoQueue", "TRUE")).unwrap();
        assert_eq!(fifo["FifoQueue"], "true");
        assert_eq!(fifo["DeduplicationScope"], "queue");
        assert_eq!(fifo["ContentBasedDeduplication"], "false");
    }

    #[test]
    fn fifo_suffix_must_match_fifo_attribute() {
        assert_eq!(
            for_create("q.fifo", &BTreeMap::new()).unwrap_err().code,
            ErrorCode::InvalidParameterValue
        );
        assert_eq!(
            for_create("q", &one("FifoQueue", "true")).unwrap_err().code,
            ErrorCode::InvalidParameterValue
        );
    }

    #[test]
    fn fifo_only_attributes_on_a_standard_queue_are_invalid_names() {
        for (key, value, message) in [
            ("FifoQueue", "false", "Unknown Attribute FifoQueue."),
            (
                "ContentBasedDeduplication",
                "false",
                "Unknown Attribute ContentBasedDeduplication.",
            ),
            (
                "DeduplicationScope",
                "queue",
                "You can specify the DeduplicationScope only when FifoQueue is set to true.",
            ),
            (
                "FifoThroughputLimit",
                "perQueue",
                "You can specify the FifoThroughputLimit only when FifoQueue is set to true.",
            ),
        ] {
            let err = for_create("q", &one(key, value)).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidAttributeName, "{key}");
            assert_eq!(err.message, message);
        }
    }

    #[test]
    fn fifo_queue_restated_is_a_no_op_and_changing_it_is_refused() {
        let current = for_create("q.fifo", &one("FifoQueue", "true")).unwrap();
        assert_eq!(
            for_update(&current, true, &one("FifoQueue", "TRUE")).unwrap(),
            current
        );
        let err = for_update(&current, true, &one("FifoQueue", "false")).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidAttributeValue);
        assert_eq!(err.message, "Modifying queue type is not supported.");
    }

    #[test]
    fn encryption_is_sse_sqs_or_sse_kms() {
        let kms = for_create("q", &one("KmsMasterKeyId", "alias/aws/sqs")).unwrap();
        assert_eq!(kms["SqsManagedSseEnabled"], "false");
        assert_eq!(kms["KmsDataKeyReusePeriodSeconds"], "300");
        let cleared = for_update(&kms, false, &one("KmsMasterKeyId", "")).unwrap();
        assert!(!cleared.contains_key("KmsMasterKeyId"));
        assert!(!cleared.contains_key("KmsDataKeyReusePeriodSeconds"));
        let sqs = for_update(&kms, false, &one("SqsManagedSseEnabled", "true")).unwrap();
        assert!(!sqs.contains_key("KmsMasterKeyId"));
        assert!(!sqs.contains_key("KmsDataKeyReusePeriodSeconds"));
        let mut both = one("KmsMasterKeyId", "alias/aws/sqs");
        both.insert("SqsManagedSseEnabled".into(), "true".into());
        for err in [
            for_create("q", &both).unwrap_err(),
            for_update(&kms, false, &both).unwrap_err(),
        ] {
            assert_eq!(err.code, ErrorCode::InvalidAttributeName);
        }
    }

    #[test]
    fn redrive_policy_errors_are_invalid_parameter_values_with_the_reason() {
        for (policy, reason) in [
            (
                r#"{"deadLetterTargetArn":"arn:aws:sqs:r:1:dlq","maxReceiveCount":0}"#,
                "Invalid value for maxReceiveCount: 0, valid values are from 1 to 1000 both inclusive.",
            ),
            (
                r#"{"deadLetterTargetArn":"arn:aws:sqs:r:1:dlq","maxReceiveCount":"x"}"#,
                "Invalid value for maxReceiveCount: x, valid values are from 1 to 1000 both inclusive.",
            ),
            (
                r#"{"maxReceiveCount":3}"#,
                "Redrive policy does not contain mandatory attribute: deadLetterTargetArn.",
            ),
            (
                r#"{"deadLetterTargetArn":"dlq","maxReceiveCount":3}"#,
                "Invalid value for deadLetterTargetArn.",
            ),
        ] {
            let err = for_create("q", &one("RedrivePolicy", policy)).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidParameterValue, "{policy}");
            assert_eq!(
                err.message,
                format!("Value {policy} for parameter RedrivePolicy is invalid. Reason: {reason}")
            );
        }
    }

    #[test]
    fn unknown_and_fifo_only_names_are_invalid_attribute_names() {
        assert_eq!(
            for_create("q", &one("Bogus", "1")).unwrap_err().code,
            ErrorCode::InvalidAttributeName
        );
        assert_eq!(
            for_create("q", &one("ContentBasedDeduplication", "true"))
                .unwrap_err()
                .code,
            ErrorCode::InvalidAttributeName
        );
        let current = for_create("q", &BTreeMap::new()).unwrap();
        assert_eq!(
            for_update(&current, false, &one("FifoThroughputLimit", "perQueue"))
                .unwrap_err()
                .code,
            ErrorCode::InvalidAttributeName
        );
        assert_eq!(
            for_update(&current, false, &one("FifoQueue", "true"))
                .unwrap_err()
                .code,
            ErrorCode::InvalidAttributeName
        );
        assert_eq!(
            for_update(&current, false, &one("QueueArn", "x"))
                .unwrap_err()
                .code,
            ErrorCode::InvalidAttributeName
        );
    }

    #[test]
    fn update_is_all_or_nothing_and_policies_clear_with_empty_string() {
        let current = for_create("q", &one("Policy", r#"{"Version":"2012-10-17"}"#)).unwrap();
        let mut given = one("DelaySeconds", "5");
        given.insert("VisibilityTimeout".into(), "43201".into());
        assert!(for_update(&current, false, &given).is_err());
        let cleared = for_update(&current, false, &one("Policy", "")).unwrap();
        assert!(!cleared.contains_key("Policy"));
        assert_eq!(
            for_update(&current, false, &one("Policy", "[1]"))
                .unwrap_err()
                .code,
            ErrorCode::InvalidAttributeValue
        );
    }

    #[test]
    fn matches_compares_canonical_values() {
        let stored = for_create("q", &one("DelaySeconds", "5")).unwrap();
        assert!(matches(&stored, &one("DelaySeconds", "05"), false));
        assert!(matches(&stored, &BTreeMap::new(), false));
        assert!(!matches(&stored, &one("DelaySeconds", "6"), false));
        assert!(!matches(&stored, &one("FifoQueue", "true"), false));
        assert!(check_names(&["All".into(), "QueueArn".into()], false).is_ok());
        assert!(check_names(&["FifoQueue".into()], false).is_ok());
        assert!(check_names(&["ContentBasedDeduplication".into()], false).is_err());
        assert!(check_names(&["Nope".into()], true).is_err());
    }

    #[test]
    fn redrive_policies_are_checked_and_canonical() {
        let p = redrive_policy(
            r#"{"maxReceiveCount":"5","deadLetterTargetArn":"arn:aws:sqs:r:1:dlq"}"#,
        )
        .unwrap();
        assert_eq!(p.target_key("q"), "dlq");
        assert_eq!(p.target_key("eu-west-1/q"), "eu-west-1/dlq");
        assert_eq!(
            p.canonical(),
            r#"{"deadLetterTargetArn":"arn:aws:sqs:r:1:dlq","maxReceiveCount":5}"#
        );
        for bad in [
            r#"{"deadLetterTargetArn":"arn:aws:sqs:r:1:dlq","maxReceiveCount":0}"#,
            r#"{"deadLetterTargetArn":"arn:aws:sqs:r:1:dlq","maxReceiveCount":1001}"#,
            r#"{"deadLetterTargetArn":"dlq","maxReceiveCount":3}"#,
            r#"{"deadLetterTargetArn":"arn:aws:sqs:r:1:dlq"}"#,
            r#"{"deadLetterTargetArn":"arn:aws:sqs:r:1:dlq","maxReceiveCount":3,"x":1}"#,
            "[]",
        ] {
            assert!(redrive_policy(bad).is_none(), "{bad}");
        }
        assert_eq!(
            redrive_allow_policy(r#"{"redrivePermission":"denyAll"}"#),
            Some(RedriveAllowPolicy::DenyAll)
        );
        let by = redrive_allow_policy(
            r#"{"redrivePermission":"byQueue","sourceQueueArns":["arn:aws:sqs:r:1:a"]}"#,
        )
        .unwrap();
        assert!(by.allows("a") && !by.allows("b"));
        let eleven: Vec<String> = (0..11).map(|i| format!("arn:aws:sqs:r:1:q{i}")).collect();
        let too_many =
            serde_json::json!({"redrivePermission": "byQueue", "sourceQueueArns": eleven})
                .to_string();
        assert!(redrive_allow_policy(&too_many).is_none());
        assert!(
            redrive_allow_policy(r#"{"redrivePermission":"byQueue","sourceQueueArns":[]}"#)
                .is_none()
        );
        assert!(
            redrive_allow_policy(r#"{"redrivePermission":"allowAll","sourceQueueArns":[]}"#)
                .is_none()
        );
        // Either policy is cleared with an empty string.
        let current = for_create(
            "q",
            &one("RedriveAllowPolicy", r#"{"redrivePermission":"allowAll"}"#),
        )
        .unwrap();
        assert!(
            !for_update(&current, false, &one("RedriveAllowPolicy", ""))
                .unwrap()
                .contains_key("RedriveAllowPolicy")
        );
    }
}
