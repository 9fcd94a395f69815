//! The CEL rules (`x-kubernetes-validations`) of the committed QueueCluster CRD compile
//! and accept/reject the objects they are meant to, evaluated with `kube-cel` (the
//! Kubernetes CEL libraries, schema defaulting applied first as the apiserver does).

use kube_cel::{CompiledSchema, Validator, compile_schema};
use serde_json::{Value, json};

fn schema() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crds/queueclusters.sqsraft.io.yaml"
    );
    let crd: Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

fn count_rules(c: &CompiledSchema) -> usize {
    c.validations.len()
        + c.properties.values().map(count_rules).sum::<usize>()
        + c.items.as_deref().map_or(0, count_rules)
        + c.additional_properties.as_deref().map_or(0, count_rules)
}

fn collect_errors(c: &CompiledSchema, out: &mut Vec<String>) {
    out.extend(c.compilation_errors().iter().map(|e| format!("{e:?}")));
    c.properties.values().for_each(|p| collect_errors(p, out));
    if let Some(i) = c.items.as_deref() {
        collect_errors(i, out);
    }
    if let Some(a) = c.additional_properties.as_deref() {
        collect_errors(a, out);
    }
}

fn object(spec: Value) -> Value {
    named("orders", spec)
}

fn named(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "sqsraft.io/v1alpha1", "kind": "QueueCluster",
           "metadata": {"name": name, "namespace": "default"}, "spec": spec})
}

/// Messages of the rules that fail for `spec` (created from nothing, or updated from `old`).
fn failures(spec: Value, old: Option<Value>) -> Vec<String> {
    let old = old.map(object);
    match Validator::new().validate(&schema(), &object(spec), old.as_ref()) {
        Ok(()) => vec![],
        Err(errors) => errors.iter().map(|e| e.message.clone()).collect(),
    }
}

#[test]
fn every_rule_compiles() {
    let compiled = compile_schema(&schema());
    let mut errors = Vec::new();
    collect_errors(&compiled, &mut errors);
    assert!(errors.is_empty(), "CEL compile errors: {errors:?}");
    // replicas, region, acceptedRegions, accountId, the two secretNames (credentials,
    // internalTls), port, heartbeat, raft, maxUnavailable, storage.size never
    // shrinking, storageClassName immutability, storage.size quantity, the spec-level
    // PDB/quorum rule and the object name.
    assert_eq!(count_rules(&compiled), 15);
}

#[test]
fn minimal_spec_is_valid_after_defaulting() {
    assert_eq!(failures(json!({"replicas": 3}), None), Vec::<String>::new());
    assert_eq!(failures(json!({"replicas": 1}), None), Vec::<String>::new());
}

#[test]
fn replicas_below_one_rejected() {
    let f = failures(json!({"replicas": 0}), None);
    assert_eq!(f, ["replicas must be at least 1"]);
}

#[test]
fn account_region_and_port_rules() {
    let f = failures(json!({"replicas": 3, "accountId": "12345"}), None);
    assert_eq!(f, ["accountId must be twelve digits"]);
    let f = failures(json!({"replicas": 3, "region": "US_EAST"}), None);
    assert_eq!(f, ["region must be lowercase letters, digits and dashes"]);
    let f = failures(
        json!({"replicas": 3, "acceptedRegions": ["eu-west-1", "EU WEST"]}),
        None,
    );
    assert_eq!(
        f,
        ["acceptedRegions must be region names (lowercase letters, digits and dashes) or *"]
    );
    let ok = failures(
        json!({"replicas": 3, "acceptedRegions": ["eu-west-1", "*"]}),
        None,
    );
    assert!(ok.is_empty(), "{ok:?}");
    let f = failures(json!({"replicas": 3, "service": {"port": 70000}}), None);
    assert_eq!(f, ["port must be between 1 and 65535"]);
    let f = failures(
        json!({"replicas": 3, "credentials": {"secretName": "Bad_Name"}}),
        None,
    );
    assert_eq!(f, ["secretName must be a valid Secret name"]);
    let f = failures(
        json!({"replicas": 3, "internalTls": {"secretName": "-bad"}}),
        None,
    );
    assert_eq!(f, ["secretName must be a valid Secret name"]);
    let ok = failures(
        json!({"replicas": 3, "accountId": "123456789012", "region": "eu-west-1",
               "credentials": {"secretName": "my-creds"},
               "internalTls": {"secretName": "orders-tls"}}),
        None,
    );
    assert!(ok.is_empty(), "{ok:?}");
}

#[test]
fn raft_timeouts_must_be_ordered() {
    let f = failures(
        json!({"replicas": 3, "raft": {"heartbeatIntervalMs": 100, "electionTimeoutMinMs": 100}}),
        None,
    );
    assert_eq!(
        f,
        [
            "raft timeouts must satisfy heartbeatIntervalMs < electionTimeoutMinMs < electionTimeoutMaxMs"
        ]
    );
    let f = failures(
        json!({"replicas": 3, "raft": {"heartbeatIntervalMs": 5}}),
        None,
    );
    assert_eq!(f, ["heartbeatIntervalMs must be at least 10"]);
}

#[test]
fn pdb_must_leave_a_majority() {
    let f = failures(
        json!({"replicas": 3, "podDisruptionBudget": {"maxUnavailable": 2}}),
        None,
    );
    assert_eq!(
        f,
        [
            "podDisruptionBudget.maxUnavailable must leave a Raft majority running: at most (replicas - 1) / 2"
        ]
    );
    let ok = failures(
        json!({"replicas": 5, "podDisruptionBudget": {"maxUnavailable": 2}}),
        None,
    );
    assert!(ok.is_empty(), "{ok:?}");
    let f = failures(
        json!({"replicas": 3, "podDisruptionBudget": {"maxUnavailable": -1}}),
        None,
    );
    assert_eq!(f, ["maxUnavailable must not be negative"]);
}

#[test]
fn storage_size_may_grow_but_never_shrink() {
    let shrink = "storage.size may grow but never shrink: a volume cannot be made smaller";
    let old = json!({"replicas": 3, "storage": {"size": "2Gi"}});
    let update = |size: &str| {
        failures(
            json!({"replicas": 3, "storage": {"size": size}}),
            Some(old.clone()),
        )
    };
    for grown in ["3Gi", "2049Mi", "10G", "2Gi", "2048Mi"] {
        assert!(update(grown).is_empty(), "{grown}: {:?}", update(grown));
    }
    for smaller in ["1Gi", "2047Mi", "2G", "1"] {
        assert_eq!(update(smaller), [shrink], "{smaller}");
    }
    // A malformed size gets the quantity message alone.
    assert_eq!(
        update("two gigs"),
        ["must be a quantity such as 10Gi or 500Mi"]
    );
}

#[test]
fn storage_class_is_immutable_but_scaling_is_not() {
    let immutable = "storage.storageClassName is immutable once the cluster exists";
    let old = json!({"replicas": 3, "storage": {"size": "1Gi"}});
    let f = failures(
        json!({"replicas": 3, "storage": {"size": "1Gi", "storageClassName": "fast"}}),
        Some(old.clone()),
    );
    assert_eq!(f, [immutable]);
    let with_class = json!({"replicas": 3, "storage": {"size": "1Gi", "storageClassName": "fast"}});
    let f = failures(
        json!({"replicas": 3, "storage": {"size": "1Gi", "storageClassName": "slow"}}),
        Some(with_class.clone()),
    );
    assert_eq!(f, [immutable]);
    let f = failures(
        json!({"replicas": 3, "storage": {"size": "1Gi"}}),
        Some(with_class.clone()),
    );
    assert_eq!(f, [immutable]);
    let ok = failures(
        json!({"replicas": 5, "storage": {"size": "4Gi", "storageClassName": "fast"}}),
        Some(with_class),
    );
    assert!(ok.is_empty(), "{ok:?}");
    let ok = failures(
        json!({"replicas": 5, "storage": {"size": "1Gi"}}),
        Some(old),
    );
    assert!(ok.is_empty(), "{ok:?}");
}

#[test]
fn fixtures_satisfy_every_rule() {
    for name in ["minimal", "full"] {
        let path = format!("{}/tests/fixtures/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
        let object: Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let result = Validator::new().validate(&schema(), &object, None);
        assert!(result.is_ok(), "{name}: {result:?}");
    }
}

#[test]
fn storage_size_must_be_a_quantity() {
    let f = failures(
        json!({"replicas": 3, "storage": {"size": "ten gigs"}}),
        None,
    );
    assert_eq!(f, ["must be a quantity such as 10Gi or 500Mi"]);
    for ok in ["10Gi", "500Mi", "1G", "1073741824"] {
        let f = failures(json!({"replicas": 3, "storage": {"size": ok}}), None);
        assert!(f.is_empty(), "{ok}: {f:?}");
    }
}

#[test]
fn name_must_be_a_dns_1035_label_of_at_most_52_characters() {
    let message = "metadata.name must be a DNS-1035 label of at most 52 characters \
                   (lowercase letters, digits and '-', starting with a letter)";
    let check = |name: &str| match Validator::new().validate(
        &schema(),
        &named(name, json!({"replicas": 3})),
        None,
    ) {
        Ok(()) => vec![],
        Err(errors) => errors.iter().map(|e| e.message.clone()).collect::<Vec<_>>(),
    };
    for bad in ["1orders", "orders-", "Orders", "orders.eu", &"a".repeat(53)] {
        assert_eq!(check(bad), [message], "{bad}");
    }
    for ok in ["orders", "o", "orders-eu-1", &"a".repeat(52)] {
        assert!(check(ok).is_empty(), "{ok}");
    }
}

fn queue_schema() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crds/queues.sqsraft.io.yaml"
    );
    let crd: Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

fn queue_failures(spec: Value, old: Value) -> Vec<String> {
    let object = |spec: Value| {
        json!({"apiVersion": "sqsraft.io/v1alpha1", "kind": "Queue",
               "metadata": {"name": "orders", "namespace": "default"}, "spec": spec})
    };
    match Validator::new().validate(&queue_schema(), &object(spec), Some(&object(old))) {
        Ok(()) => vec![],
        Err(errors) => errors.iter().map(|e| e.message.clone()).collect(),
    }
}

/// Moving a Queue object to another cluster would orphan its queue on the first.
#[test]
fn queue_cluster_ref_is_immutable() {
    let old = json!({"clusterRef": {"name": "up"}});
    let f = queue_failures(json!({"clusterRef": {"name": "other"}}), old.clone());
    assert_eq!(f, ["clusterRef is immutable"]);
    let f = queue_failures(
        json!({"clusterRef": {"name": "up", "namespace": "elsewhere"}}),
        old.clone(),
    );
    assert_eq!(f, ["clusterRef is immutable"]);
    let ok = queue_failures(
        json!({"clusterRef": {"name": "up"}, "visibilityTimeout": 60}),
        old,
    );
    assert!(ok.is_empty(), "{ok:?}");
}

#[test]
fn queue_tag_keys_under_sqsraft_io_are_reserved() {
    let old = json!({"clusterRef": {"name": "up"}});
    let f = queue_failures(
        json!({"clusterRef": {"name": "up"}, "tags": {"sqsraft.io/queue": "x/y"}}),
        old.clone(),
    );
    assert_eq!(
        f,
        ["tag keys starting with sqsraft.io/ are reserved for the operator"]
    );
    let ok = queue_failures(
        json!({"clusterRef": {"name": "up"}, "tags": {"team": "a"}}),
        old,
    );
    assert!(ok.is_empty(), "{ok:?}");
}

/// Optional enums are checked by a rule (an `enum` would refuse an explicit `null`; the
/// API server applies no rule to a `null`, which `k8s_crds` proves on the real one; this
/// evaluator does, so `null` is not a case here).
#[test]
fn queue_fifo_enums_accept_their_values_only() {
    let none = json!({"clusterRef": {"name": "up"}, "fifo": true});
    for (field, ok, message) in [
        (
            "deduplicationScope",
            ["queue", "messageGroup"],
            "must be one of 'queue', 'messageGroup'",
        ),
        (
            "fifoThroughputLimit",
            ["perQueue", "perMessageGroupId"],
            "must be one of 'perQueue', 'perMessageGroupId'",
        ),
    ] {
        for value in ok.map(Value::from) {
            let mut spec = none.clone();
            spec[field] = value.clone();
            let f = queue_failures(spec, none.clone());
            assert!(f.is_empty(), "{field}={value}: {f:?}");
        }
        let mut spec = none.clone();
        spec[field] = json!("bogus");
        assert_eq!(queue_failures(spec, none.clone()), [message], "{field}");
    }
}
