//! Pure build steps: QueueCluster fixtures in, Kubernetes objects out.

mod common;

use std::collections::BTreeMap;

use common::{fixture, test_keys, test_token};
use k8s_openapi::api::core::v1::{Container, PodSpec, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::json;
use sqsraft_operator::build::{self, Cluster, InvalidSpec, KeyPair, OperatorDefaults};
use sqsraft_operator::crd::QueueCluster;

fn defaults() -> OperatorDefaults {
    OperatorDefaults {
        image: "sqsraft/sqsraft-server:test".into(),
        cluster_domain: "cluster.local".into(),
        operator_pods: None,
        ..OperatorDefaults::default()
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn expected_owner(name: &str, uid: &str) -> serde_json::Value {
    json!([{"apiVersion": "sqsraft.io/v1alpha1", "kind": "QueueCluster", "name": name,
            "uid": uid, "controller": true, "blockOwnerDeletion": true}])
}

fn pod_spec(qc: &QueueCluster, replicas: i32) -> (PodSpec, BTreeMap<String, String>) {
    let d = defaults();
    let c = Cluster::new(qc, &d).unwrap();
    let sts = build::stateful_set(&c, replicas, &c.qc.spec.storage.size);
    let template = sts.spec.unwrap().template;
    (
        template.spec.unwrap(),
        template.metadata.unwrap().labels.unwrap(),
    )
}

fn server(spec: &PodSpec) -> &Container {
    assert_eq!(spec.containers.len(), 1);
    &spec.containers[0]
}

fn env_of(c: &Container) -> BTreeMap<String, String> {
    c.env
        .as_ref()
        .unwrap()
        .iter()
        .filter_map(|e| e.value.clone().map(|v| (e.name.clone(), v)))
        .collect()
}

fn http_path_port(p: &Probe) -> (String, IntOrString) {
    let get = p.http_get.as_ref().expect("http probe");
    (get.path.clone().unwrap(), get.port.clone())
}

#[test]
fn every_object_has_labels_namespace_and_controller_owner() {
    for name in common::FIXTURES {
        let qc = fixture(name);
        let uid = qc.metadata.uid.clone().unwrap();
        let cluster = qc.metadata.name.clone().unwrap();
        let ns = qc.metadata.namespace.clone().unwrap();
        let objects = common::all_objects(&qc, &defaults());
        let expected = if *name == "full" { 7 } else { 8 };
        assert_eq!(objects.len(), expected, "{name}");
        for o in objects {
            let meta = &o["metadata"];
            assert_eq!(meta["namespace"], ns.as_str(), "{o}");
            assert_eq!(
                meta["ownerReferences"],
                expected_owner(&cluster, &uid),
                "{o}"
            );
            assert_eq!(meta["labels"]["app.kubernetes.io/name"], "sqsraft");
            assert_eq!(
                meta["labels"]["app.kubernetes.io/instance"],
                cluster.as_str()
            );
            assert_eq!(meta["labels"]["app.kubernetes.io/component"], "server");
            assert_eq!(
                meta["labels"]["app.kubernetes.io/managed-by"],
                "sqsraft-operator"
            );
        }
    }
}

#[test]
fn headless_service_publishes_not_ready_pods_on_both_ports() {
    let qc = fixture("minimal");
    let d = defaults();
    let c = Cluster::new(&qc, &d).unwrap();
    let svc = serde_json::to_value(build::headless_service(&c)).unwrap();
    assert_eq!(svc["metadata"]["name"], "orders-headless");
    assert_eq!(
        svc["spec"],
        json!({
            "clusterIP": "None",
            "publishNotReadyAddresses": true,
            "selector": {"app.kubernetes.io/instance": "orders", "app.kubernetes.io/name": "sqsraft"},
            "ports": [
                {"name": "sqs", "port": 9324, "targetPort": "sqs", "protocol": "TCP"},
                {"name": "internal", "port": 9325, "targetPort": "internal", "protocol": "TCP"}
            ]
        })
    );
}

#[test]
fn client_and_leader_services() {
    let qc = fixture("full");
    let d = defaults();
    let c = Cluster::new(&qc, &d).unwrap();
    let client = serde_json::to_value(build::client_service(&c)).unwrap();
    assert_eq!(client["metadata"]["name"], "billing");
    assert_eq!(
        client["metadata"]["annotations"],
        json!({"service.beta.kubernetes.io/aws-load-balancer-internal": "true"})
    );
    assert_eq!(client["spec"]["type"], "LoadBalancer");
    assert_eq!(
        client["spec"]["ports"],
        json!([{"name": "sqs", "port": 80, "targetPort": "sqs", "protocol": "TCP"}])
    );
    assert!(client["spec"].get("publishNotReadyAddresses").is_none());

    let leader = serde_json::to_value(build::leader_service(&c)).unwrap();
    assert_eq!(leader["metadata"]["name"], "billing-leader");
    assert_eq!(leader["spec"]["type"], "ClusterIP");
    assert_eq!(
        leader["spec"]["selector"],
        json!({"app.kubernetes.io/instance": "billing", "app.kubernetes.io/name": "sqsraft",
               "sqsraft.io/role": "leader"})
    );

    let minimal = fixture("minimal");
    let c = Cluster::new(&minimal, &d).unwrap();
    let client = serde_json::to_value(build::client_service(&c)).unwrap();
    assert_eq!(client["spec"]["type"], "ClusterIP");
    assert_eq!(client["spec"]["ports"][0]["port"], 9324);
    assert!(client["metadata"].get("annotations").is_none());
}

#[test]
fn generated_credentials_secret_unless_user_supplied() {
    let d = defaults();
    let qc = fixture("minimal");
    let c = Cluster::new(&qc, &d).unwrap();
    let keys = test_keys();
    let secret = build::credentials_secret(&c, &keys).expect("generated");
    assert_eq!(secret.metadata.name.as_deref(), Some("orders-credentials"));
    let data = secret.string_data.unwrap();
    let file: serde_json::Value = serde_json::from_str(&data["credentials.json"]).unwrap();
    assert_eq!(
        file,
        json!({"credentials": [{"accessKeyId": keys.access_key_id,
                                "secretAccessKey": keys.secret_access_key}]})
    );
    assert_eq!(data["AWS_ACCESS_KEY_ID"], keys.access_key_id);
    assert_eq!(data["AWS_SECRET_ACCESS_KEY"], keys.secret_access_key);
    assert_eq!(c.credentials_secret_name(), "orders-credentials");

    let full = fixture("full");
    let c = Cluster::new(&full, &d).unwrap();
    assert!(build::credentials_secret(&c, &keys).is_none());
    assert_eq!(c.credentials_secret_name(), "billing-sqs-keys");
    assert_eq!(
        build::credentials_source(&c),
        build::CredentialsSource::UserSupplied("billing-sqs-keys".into())
    );
}

#[test]
fn key_pairs_are_well_formed_and_random() {
    let a = KeyPair::generate().unwrap();
    let b = KeyPair::generate().unwrap();
    assert_ne!(a, b);
    for k in [&a, &b, &test_keys()] {
        assert_eq!(k.access_key_id.len(), 20);
        assert!(k.access_key_id.starts_with("SQSR"));
        assert!(
            k.access_key_id
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        );
        assert_eq!(k.secret_access_key.len(), 40);
        assert!(
            k.secret_access_key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
        );
    }
    // Secrets never show up in debug output (logs).
    assert!(!format!("{a:?}").contains(&a.secret_access_key));
    let t = build::ClusterToken::generate().unwrap();
    assert_eq!(t.0.len(), 64);
    assert!(!format!("{t:?}").contains(&t.0));
    assert_ne!(t, build::ClusterToken::generate().unwrap());
}

#[test]
fn cluster_token_secret() {
    let d = defaults();
    let qc = fixture("minimal");
    let c = Cluster::new(&qc, &d).unwrap();
    let s = build::cluster_token_secret(&c, &test_token());
    assert_eq!(s.metadata.name.as_deref(), Some("orders-cluster-token"));
    assert_eq!(s.string_data.unwrap()["token"], "09".repeat(32));
}

#[test]
fn statefulset_shape() {
    let d = defaults();
    let qc = fixture("minimal");
    let c = Cluster::new(&qc, &d).unwrap();
    // The planner decides the StatefulSet's size; it is not copied from the spec.
    let sts = serde_json::to_value(build::stateful_set(&c, 4, &c.qc.spec.storage.size)).unwrap();
    let spec = &sts["spec"];
    assert_eq!(sts["metadata"]["name"], "orders");
    assert_eq!(spec["replicas"], 4);
    assert_eq!(spec["serviceName"], "orders-headless");
    assert_eq!(spec["podManagementPolicy"], "Parallel");
    assert_eq!(spec["updateStrategy"], json!({"type": "OnDelete"}));
    assert_eq!(
        spec["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
    );
    assert_eq!(
        spec["selector"],
        json!({"matchLabels": {"app.kubernetes.io/instance": "orders", "app.kubernetes.io/name": "sqsraft"}})
    );
    let vct = &spec["volumeClaimTemplates"];
    assert_eq!(vct.as_array().unwrap().len(), 1);
    assert_eq!(vct[0]["metadata"]["name"], "data");
    assert_eq!(
        vct[0]["spec"],
        json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}})
    );
    assert_eq!(c.names.pvc(2), "data-orders-2");

    let full = fixture("full");
    let c = Cluster::new(&full, &d).unwrap();
    let sts = serde_json::to_value(build::stateful_set(&c, 5, &c.qc.spec.storage.size)).unwrap();
    assert_eq!(
        sts["spec"]["volumeClaimTemplates"][0]["spec"],
        json!({"accessModes": ["ReadWriteOnce"], "storageClassName": "fast-ssd",
               "resources": {"requests": {"storage": "20Gi"}}})
    );
}

#[test]
fn probes_ports_and_prestop() {
    let (spec, _) = pod_spec(&fixture("minimal"), 3);
    let s = server(&spec);
    let ports: Vec<(String, i32)> = s
        .ports
        .as_ref()
        .unwrap()
        .iter()
        .map(|p| (p.name.clone().unwrap(), p.container_port))
        .collect();
    assert_eq!(
        ports,
        [("sqs".to_string(), 9324), ("internal".to_string(), 9325)]
    );
    let sqs = IntOrString::String("sqs".into());
    let readiness = s.readiness_probe.as_ref().unwrap();
    assert_eq!(http_path_port(readiness), ("/readyz".into(), sqs.clone()));
    let liveness = s.liveness_probe.as_ref().unwrap();
    assert_eq!(http_path_port(liveness), ("/healthz".into(), sqs.clone()));
    let startup = s.startup_probe.as_ref().unwrap();
    assert_eq!(http_path_port(startup), ("/healthz".into(), sqs));
    // The startup probe allows minutes for RocksDB to open before liveness kicks in.
    let startup_budget = startup.period_seconds.unwrap() * startup.failure_threshold.unwrap();
    assert!(startup_budget >= 300, "{startup_budget}");
    // Liveness is slower to give up than readiness.
    assert!(
        liveness.period_seconds.unwrap() * liveness.failure_threshold.unwrap()
            > readiness.period_seconds.unwrap() * readiness.failure_threshold.unwrap()
    );

    let pre_stop = s
        .lifecycle
        .as_ref()
        .unwrap()
        .pre_stop
        .as_ref()
        .unwrap()
        .exec
        .as_ref()
        .unwrap()
        .command
        .clone()
        .unwrap();
    assert_eq!(
        pre_stop,
        [
            "/usr/local/bin/sqsraft-server",
            "transfer-leader",
            "--timeout-ms",
            "20000"
        ]
    );
    // The grace period covers the hand-off with room for a clean shutdown.
    let grace = spec.termination_grace_period_seconds.unwrap();
    assert!(grace * 1000 >= 2 * 20_000, "{grace}");
}

#[test]
fn security_context_is_locked_down() {
    let (spec, _) = pod_spec(&fixture("minimal"), 3);
    let pod = serde_json::to_value(spec.security_context.as_ref().unwrap()).unwrap();
    assert_eq!(
        pod,
        json!({"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532,
               "fsGroupChangePolicy": "OnRootMismatch", "seccompProfile": {"type": "RuntimeDefault"}})
    );
    let container = serde_json::to_value(server(&spec).security_context.as_ref().unwrap()).unwrap();
    assert_eq!(
        container,
        json!({"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
               "runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532,
               "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}})
    );
    assert_eq!(spec.automount_service_account_token, Some(false));
}

#[test]
fn server_environment_and_mounts() {
    let (spec, _) = pod_spec(&fixture("minimal"), 3);
    let s = server(&spec);
    assert_eq!(s.image.as_deref(), Some("sqsraft/sqsraft-server:test"));
    assert_eq!(s.image_pull_policy.as_deref(), Some("IfNotPresent"));
    let env = env_of(s);
    assert_eq!(env["SQSRAFT_NODE_ID_FROM_HOSTNAME"], "true");
    assert_eq!(
        env["SQSRAFT_ADVERTISE_INTERNAL"],
        "$(POD_NAME).orders-headless.shop.svc.cluster.local:9325"
    );
    // POD_NAME must be defined before the variable that expands it.
    let names: Vec<&str> = s
        .env
        .as_ref()
        .unwrap()
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    let pod_name = names.iter().position(|n| *n == "POD_NAME").unwrap();
    let advertise = names
        .iter()
        .position(|n| *n == "SQSRAFT_ADVERTISE_INTERNAL")
        .unwrap();
    assert!(pod_name < advertise);
    assert_eq!(env["SQSRAFT_DATA_DIR"], "/var/lib/sqsraft/data");
    assert_eq!(
        env["SQSRAFT_CREDENTIALS_FILE"],
        "/etc/sqsraft/credentials/credentials.json"
    );
    assert_eq!(
        env["SQSRAFT_CLUSTER_TOKEN_FILE"],
        "/etc/sqsraft/token/token"
    );
    // Mutual TLS on the internal port from the mounted member Secret; never cleartext.
    assert!(!env.contains_key("SQSRAFT_INTERNAL_INSECURE"));
    assert_eq!(
        env["SQSRAFT_INTERNAL_CA_FILE"],
        "/etc/sqsraft/internal-tls/ca.crt"
    );
    assert_eq!(
        env["SQSRAFT_INTERNAL_CERT_FILE"],
        "/etc/sqsraft/internal-tls/tls.crt"
    );
    assert_eq!(
        env["SQSRAFT_INTERNAL_KEY_FILE"],
        "/etc/sqsraft/internal-tls/tls.key"
    );
    assert_eq!(env["SQSRAFT_REGION"], "us-east-1");
    assert_eq!(
        env["SQSRAFT_ACCEPTED_REGIONS"], "",
        "none: only the home region"
    );
    assert_eq!(env["SQSRAFT_ACCOUNT_ID"], "000000000000");
    assert_eq!(env["SQSRAFT_HEARTBEAT_INTERVAL_MS"], "100");
    assert_eq!(env["SQSRAFT_ELECTION_TIMEOUT_MIN_MS"], "500");
    assert_eq!(env["SQSRAFT_ELECTION_TIMEOUT_MAX_MS"], "1000");

    let mounts: BTreeMap<String, (String, bool)> = s
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m.name.clone(),
                (m.mount_path.clone(), m.read_only.unwrap_or(false)),
            )
        })
        .collect();
    assert_eq!(mounts["data"], ("/var/lib/sqsraft".into(), false));
    assert_eq!(
        mounts["credentials"],
        ("/etc/sqsraft/credentials".into(), true)
    );
    assert_eq!(mounts["cluster-token"], ("/etc/sqsraft/token".into(), true));
    assert_eq!(
        mounts["internal-tls"],
        ("/etc/sqsraft/internal-tls".into(), true)
    );
    // readOnlyRootFilesystem needs a writable /tmp.
    assert_eq!(mounts["tmp"], ("/tmp".into(), false));
    let secrets: BTreeMap<String, String> = spec
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .filter_map(|v| {
            v.secret
                .as_ref()
                .map(|s| (v.name.clone(), s.secret_name.clone().unwrap()))
        })
        .collect();
    assert_eq!(
        secrets,
        labels(&[
            ("credentials", "orders-credentials"),
            ("cluster-token", "orders-cluster-token"),
            ("internal-tls", "orders-internal-tls"),
        ])
    );
    // The CA Secret, holding the CA's key, is never mounted into a pod.
    assert!(!secrets.values().any(|s| s == "orders-ca"));
}

#[test]
fn full_spec_overrides_reach_the_pod() {
    let qc = fixture("full");
    let (spec, pod_labels) = pod_spec(&qc, 5);
    let s = server(&spec);
    assert_eq!(
        s.image.as_deref(),
        Some("registry.example/sqsraft/sqsraft-server:9.9.9")
    );
    assert_eq!(s.image_pull_policy.as_deref(), Some("Always"));
    assert_eq!(s.resources, qc.spec.resources);
    assert!(s.resources.is_some());
    let env = env_of(s);
    assert_eq!(env["SQSRAFT_REGION"], "eu-west-1");
    assert_eq!(env["SQSRAFT_ACCEPTED_REGIONS"], "eu-central-1,us-west-2");
    assert_eq!(env["SQSRAFT_ACCOUNT_ID"], "123456789012");
    assert_eq!(env["SQSRAFT_HEARTBEAT_INTERVAL_MS"], "200");
    assert_eq!(env["SQSRAFT_ELECTION_TIMEOUT_MIN_MS"], "1500");
    assert_eq!(env["SQSRAFT_ELECTION_TIMEOUT_MAX_MS"], "3000");
    assert_eq!(
        env["SQSRAFT_ADVERTISE_INTERNAL"],
        "$(POD_NAME).billing-headless.payments.svc.cluster.local:9325"
    );
    // The user's labels are added, but never replace the operator's selector labels.
    assert_eq!(pod_labels["team"], "payments");
    assert_eq!(pod_labels["app.kubernetes.io/name"], "sqsraft");
    assert_eq!(spec.node_selector, Some(labels(&[("disktype", "ssd")])));
    assert_eq!(spec.tolerations.as_ref().unwrap().len(), 1);
    assert_eq!(spec.affinity, qc.spec.pod.affinity);
    assert_eq!(
        spec.topology_spread_constraints,
        qc.spec.pod.topology_spread_constraints
    );
    assert_eq!(spec.priority_class_name.as_deref(), Some("high-priority"));
    assert_eq!(
        spec.image_pull_secrets,
        Some(qc.spec.image_pull_secrets.clone())
    );
    let d = defaults();
    let c = Cluster::new(&qc, &d).unwrap();
    let sts = build::stateful_set(&c, 5, &c.qc.spec.storage.size);
    let annotations = sts.spec.unwrap().template.metadata.unwrap().annotations;
    assert_eq!(
        annotations,
        Some(labels(&[("prometheus.io/scrape", "true")]))
    );
}

#[test]
fn default_topology_spread_over_nodes_and_opt_out() {
    let mut qc = fixture("minimal");
    let (spec, _) = pod_spec(&qc, 3);
    assert_eq!(
        serde_json::to_value(spec.topology_spread_constraints.unwrap()).unwrap(),
        json!([{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": "orders",
                                                  "app.kubernetes.io/name": "sqsraft"}}}])
    );
    qc.spec.pod.topology_spread_constraints = Some(vec![]);
    let (spec, _) = pod_spec(&qc, 3);
    assert_eq!(spec.topology_spread_constraints, None);
}

#[test]
fn pdb_from_spec() {
    let d = defaults();
    let qc = fixture("minimal");
    let c = Cluster::new(&qc, &d).unwrap();
    let pdb = serde_json::to_value(build::pod_disruption_budget(&c)).unwrap();
    assert_eq!(pdb["metadata"]["name"], "orders");
    assert_eq!(
        pdb["spec"],
        json!({"maxUnavailable": 1, "unhealthyPodEvictionPolicy": "IfHealthyBudget",
               "selector": {"matchLabels": {"app.kubernetes.io/instance": "orders",
                                            "app.kubernetes.io/name": "sqsraft"}}})
    );
    let full = fixture("full");
    let c = Cluster::new(&full, &d).unwrap();
    let pdb = build::pod_disruption_budget(&c);
    assert_eq!(pdb.spec.unwrap().max_unavailable, Some(IntOrString::Int(2)));
}

#[test]
fn network_policy_limits_the_internal_port_to_members_and_the_operator() {
    let mut d = defaults();
    d.operator_pods = Some(build::OperatorPods {
        namespace: "ops".into(),
        labels: labels(&[("app.kubernetes.io/component", "operator")]),
    });
    let qc = fixture("minimal");
    let c = Cluster::new(&qc, &d).unwrap();
    let policy = serde_json::to_value(build::network_policy(&c).expect("on by default")).unwrap();
    assert_eq!(policy["metadata"]["name"], "orders");
    let members = json!({"matchLabels": {"app.kubernetes.io/instance": "orders",
                                         "app.kubernetes.io/name": "sqsraft"}});
    assert_eq!(
        policy["spec"],
        json!({
            "podSelector": members,
            "policyTypes": ["Ingress"],
            "ingress": [
                {"ports": [{"port": 9325, "protocol": "TCP"}],
                 "from": [
                    {"podSelector": members},
                    {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ops"}},
                     "podSelector": {"matchLabels": {"app.kubernetes.io/component": "operator"}}}
                 ]},
                // No `from`: every source may reach the SQS port.
                {"ports": [{"port": 9324, "protocol": "TCP"}]}
            ]
        })
    );
}

#[test]
fn network_policy_follows_sqs_from_and_can_be_turned_off() {
    let d = defaults();
    let mut qc = fixture("minimal");
    qc.spec.network_policy.sqs_from = vec![
        serde_json::from_value(json!(
            {"namespaceSelector": {"matchLabels": {"team": "payments"}}}
        ))
        .unwrap(),
    ];
    let c = Cluster::new(&qc, &d).unwrap();
    let policy = serde_json::to_value(build::network_policy(&c).unwrap()).unwrap();
    let ingress = policy["spec"]["ingress"].as_array().unwrap();
    // Without a known operator pod only the members reach the internal port.
    assert_eq!(ingress[0]["from"].as_array().unwrap().len(), 1);
    assert_eq!(
        ingress[1]["from"],
        json!([{"namespaceSelector": {"matchLabels": {"team": "payments"}}}])
    );
    qc.spec.network_policy.enabled = false;
    let c = Cluster::new(&qc, &d).unwrap();
    assert!(build::network_policy(&c).is_none());
}

#[test]
fn validation_rejects_what_cannot_be_built() {
    let d = defaults();
    let mut qc = fixture("minimal");
    qc.metadata.uid = None;
    assert_eq!(Cluster::new(&qc, &d).unwrap_err(), InvalidSpec::NoUid);
    let mut qc = fixture("minimal");
    qc.metadata.namespace = None;
    assert_eq!(Cluster::new(&qc, &d).unwrap_err(), InvalidSpec::NoNamespace);
    let mut qc = fixture("minimal");
    qc.spec.replicas = 0;
    assert_eq!(Cluster::new(&qc, &d).unwrap_err(), InvalidSpec::Replicas(0));
    let mut qc = fixture("minimal");
    qc.metadata.name = Some("x".repeat(53));
    assert!(matches!(
        Cluster::new(&qc, &d).unwrap_err(),
        InvalidSpec::NameTooLong(_)
    ));
    qc.metadata.name = Some("x".repeat(52));
    assert!(Cluster::new(&qc, &d).is_ok());
}

#[test]
fn node_ids_follow_ordinals() {
    assert_eq!(build::node_id(0), 1);
    assert_eq!(build::node_id(4), 5);
    assert_eq!(build::ordinal(1), Some(0));
    assert_eq!(build::ordinal(5), Some(4));
    assert_eq!(build::ordinal(0), None);
    let d = defaults();
    let qc = fixture("minimal");
    let c = Cluster::new(&qc, &d).unwrap();
    assert_eq!(
        c.names.peer_addr(1),
        "orders-1.orders-headless.shop.svc.cluster.local:9325"
    );
    assert_eq!(c.endpoint(), "http://orders.shop.svc:9324");
}

/// The budget protects quorum at every size: before, two replicas got maxUnavailable 1
/// (evicting either pod stops the group) and unready pods could always be evicted.
#[test]
fn pdb_keeps_a_majority_at_every_size() {
    let d = defaults();
    for (replicas, wanted, allowed) in [
        (1, 1, 0),
        (2, 1, 0),
        (3, 1, 1),
        (5, 1, 1),
        (5, 2, 2),
        (7, 9, 3),
    ] {
        let mut qc = fixture("minimal");
        qc.spec.replicas = replicas;
        qc.spec.pod_disruption_budget.max_unavailable = wanted;
        let c = Cluster::new(&qc, &d).unwrap();
        let spec = build::pod_disruption_budget(&c).spec.unwrap();
        assert_eq!(
            spec.max_unavailable,
            Some(IntOrString::Int(allowed)),
            "{replicas} replicas"
        );
        assert_eq!(
            spec.unhealthy_pod_eviction_policy.as_deref(),
            Some("IfHealthyBudget")
        );
    }
}

/// Without spec.resources the server container still requests CPU and memory, so its
/// pods are not BestEffort (evicted first, whatever the PDB says).
#[test]
fn server_pods_request_resources_by_default() {
    let qc = fixture("minimal");
    let (spec, _) = pod_spec(&qc, 3);
    let requests = server(&spec).resources.clone().unwrap().requests.unwrap();
    assert!(
        requests.contains_key("cpu") && requests.contains_key("memory"),
        "{requests:?}"
    );
}
