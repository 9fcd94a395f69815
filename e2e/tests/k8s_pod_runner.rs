//! The pod runner against the real control plane (etcd, kube-apiserver and
//! kube-controller-manager from pinned sources): pods bound, started, probed and
//! reported; deletion with preStop and a slow SIGTERM handler; Secret updates reaching
//! the mounted file; cluster DNS names and Service forwarding between pods.
//!
//! Test pods run `/bin/sh` (image `test/shell`) and python3's `http.server`.

mod k8s_support;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use k8s_support::{Env, condition, get, merge, object, pod_ip, wait_for};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};
use sqsraft_e2e::k8s::pod_runner::ImageBinary;

const NS: &str = "runner-test";

/// `scenario` with the test image: `test/shell` runs the host's `/bin/sh`.
fn scenario(name: &str, body: impl AsyncFnOnce(&Env) -> Result<()>) {
    let python = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok();
    let missing =
        (!python).then(|| "python3 is not on PATH (the test pods serve HTTP with it)".to_string());
    let images = vec![ImageBinary::new("shell", "/bin/sh", "/bin/sh")];
    k8s_support::scenario(name, missing, images, NS, body);
}

async fn pod(client: &Client, name: &str) -> Result<Option<Pod>> {
    k8s_support::pod(client, NS, name).await
}

async fn wait_ready(client: &Client, name: &str) -> Result<Pod> {
    k8s_support::wait_ready(client, NS, name).await
}

/// A pod running `script` under `/bin/sh -c`, with the given extra spec fields.
fn shell_pod(name: &str, script: &str, extra: serde_json::Value) -> Pod {
    let mut pod = serde_json::json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "containers": [{
                "name": "main",
                "image": "test/shell:1",
                "command": ["/bin/sh", "-c", script],
            }],
        }
    });
    merge(&mut pod, extra);
    object(pod)
}

const SERVE: &str = "exec python3 -m http.server 8080 --bind 0.0.0.0";

fn http_readiness() -> serde_json::Value {
    serde_json::json!({"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1})
}

#[test]
fn a_plain_pod_with_a_probe_becomes_ready_with_its_environment() {
    scenario(
        "a_plain_pod_with_a_probe_becomes_ready_with_its_environment",
        async |env| {
            let pods: Api<Pod> = Api::namespaced(env.client.clone(), NS);
            let script = format!(
                "cd /srv && echo '$(POD_NAME) $(POD_IP) $(NODE) $(MISSING) $$(POD_NAME)' \"$KUBERNETES_SERVICE_HOST\" > env.txt && {SERVE}"
            );
            let spec = shell_pod(
                "plain",
                &script,
                serde_json::json!({"spec": {
                    "containers": [{
                        "name": "main",
                        "image": "test/shell:1",
                        "command": ["/bin/sh", "-c", script],
                        "env": [
                            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                        ],
                        "readinessProbe": http_readiness(),
                        "volumeMounts": [{"name": "srv", "mountPath": "/srv"}],
                    }],
                    "volumes": [{"name": "srv", "emptyDir": {}}],
                }}),
            );
            pods.create(&PostParams::default(), &spec).await?;
            let ready = wait_ready(&env.client, "plain").await?;
            let status = ready.status.clone().unwrap_or_default();
            let ip = pod_ip(&ready);
            assert!(ip.starts_with("10.213."), "pod IP {ip:?}");
            assert_eq!(status.phase.as_deref(), Some("Running"));
            assert_eq!(
                ready.spec.as_ref().and_then(|s| s.node_name.as_deref()),
                Some(env.runner.node_name())
            );
            for kind in ["PodScheduled", "Initialized", "ContainersReady", "Ready"] {
                assert_eq!(condition(&ready, kind).as_deref(), Some("True"), "{kind}");
            }
            let container = &status.container_statuses.unwrap_or_default()[0];
            assert!(
                container.ready && container.started == Some(true),
                "{container:?}"
            );
            assert_eq!(container.restart_count, 0);
            assert!(
                container
                    .state
                    .as_ref()
                    .and_then(|s| s.running.as_ref())
                    .is_some()
            );
            let served = get(&format!("http://{ip}:8080/env.txt")).await?;
            let node = env.runner.node_name();
            assert_eq!(
                served.trim(),
                format!("plain {ip} {node} $(MISSING) $(POD_NAME) 127.96.0.1"),
                "kubelet's $(VAR) rules in command"
            );
            Ok(())
        },
    );
}

#[test]
fn deletion_runs_pre_stop_then_waits_for_a_slow_sigterm_handler() {
    scenario(
        "deletion_runs_pre_stop_then_waits_for_a_slow_sigterm_handler",
        async |env| {
            let pods: Api<Pod> = Api::namespaced(env.client.clone(), NS);
            // The TERM handler takes 4 s and reports whether preStop ran before it.
            let script = "trap '[ -e /work/pre-stop ] && echo pre-stop-before-term; sleep 4; echo term-handled; exit 0' TERM; \
                      echo started; while true; do sleep 0.2; done";
            let spec = shell_pod(
                "slow-stop",
                script,
                serde_json::json!({"spec": {
                    "terminationGracePeriodSeconds": 20,
                    "containers": [{
                        "name": "main",
                        "image": "test/shell:1",
                        "command": ["/bin/sh", "-c", script],
                        "lifecycle": {"preStop": {"exec": {"command": ["/bin/sh", "-c", "touch /work/pre-stop"]}}},
                        "volumeMounts": [{"name": "work", "mountPath": "/work"}],
                    }],
                    "volumes": [{"name": "work", "emptyDir": {}}],
                }}),
            );
            pods.create(&PostParams::default(), &spec).await?;
            wait_ready(&env.client, "slow-stop").await?;
            let log = env.runner.log_path(NS, "slow-stop", "main");
            wait_for(
                "the container's first output",
                Duration::from_secs(10),
                || async {
                    Ok(std::fs::read_to_string(&log)
                        .unwrap_or_default()
                        .contains("started"))
                },
            )
            .await?;
            let deleted = Instant::now();
            pods.delete("slow-stop", &DeleteParams::default()).await?;
            tokio::time::sleep(Duration::from_secs(2)).await;
            let terminating = pod(&env.client, "slow-stop")
                .await?
                .context("pod gone before its handler finished")?;
            assert!(terminating.metadata.deletion_timestamp.is_some());
            wait_for("pod slow-stop deleted", Duration::from_secs(30), || async {
                Ok(pod(&env.client, "slow-stop").await?.is_none())
            })
            .await?;
            let took = deleted.elapsed();
            assert!(
                took >= Duration::from_secs(4),
                "deleted after {took:?}, before the 4 s handler finished"
            );
            assert!(
                took < Duration::from_secs(20),
                "deleted after {took:?}: the handler's exit did not end the wait"
            );
            let output = std::fs::read_to_string(&log)?;
            assert!(
                output.contains("pre-stop-before-term"),
                "preStop did not run before SIGTERM: {output}"
            );
            assert!(output.contains("term-handled"), "{output}");
            Ok(())
        },
    );
}

#[test]
fn a_secret_change_reaches_the_mounted_file() {
    scenario("a_secret_change_reaches_the_mounted_file", async |env| {
        let secrets: Api<Secret> = Api::namespaced(env.client.clone(), NS);
        let secret = |value: &str| -> Secret {
            object(serde_json::json!({"metadata": {"name": "creds"}, "stringData": {"key": value}}))
        };
        secrets
            .create(&PostParams::default(), &secret("first"))
            .await?;
        let pods: Api<Pod> = Api::namespaced(env.client.clone(), NS);
        let script = format!("cd /etc/creds && {SERVE}");
        let spec = shell_pod(
            "reader",
            &script,
            serde_json::json!({"spec": {
                "containers": [{
                    "name": "main",
                    "image": "test/shell:1",
                    "command": ["/bin/sh", "-c", script],
                    "readinessProbe": http_readiness(),
                    "volumeMounts": [{"name": "creds", "mountPath": "/etc/creds", "readOnly": true}],
                }],
                "volumes": [{"name": "creds", "secret": {"secretName": "creds", "defaultMode": 0o440}}],
            }}),
        );
        pods.create(&PostParams::default(), &spec).await?;
        let ip = pod_ip(&wait_ready(&env.client, "reader").await?);
        assert_eq!(get(&format!("http://{ip}:8080/key")).await?, "first");
        secrets
            .replace("creds", &PostParams::default(), &secret("second"))
            .await?;
        let url = format!("http://{ip}:8080/key");
        wait_for(
            "the new Secret value in the pod",
            Duration::from_secs(10),
            || async { Ok(get(&url).await? == "second") },
        )
        .await?;
        Ok(())
    });
}

/// A pod serving `/srv` whose `index` file names it, with a hostname and subdomain.
fn named_server(name: &str, subdomain: &str) -> Pod {
    let script = format!("mkdir -p /srv && cd /srv && echo {name} > whoami && {SERVE}");
    shell_pod(
        name,
        &script,
        serde_json::json!({"spec": {
            "hostname": name,
            "subdomain": subdomain,
            "containers": [{
                "name": "main",
                "image": "test/shell:1",
                "command": ["/bin/sh", "-c", script],
                "readinessProbe": http_readiness(),
                "ports": [{"name": "http", "containerPort": 8080}],
            }],
        }}),
    )
}

/// A client pod that fetches `url` (by name) until it answers, then serves the answer.
fn fetcher(name: &str, url: &str) -> Pod {
    let script = format!(
        "mkdir -p /srv && cd /srv && until python3 -c \"import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('{url}', timeout=2).read().decode())\" > fetched; do sleep 0.5; done; {SERVE}"
    );
    shell_pod(
        name,
        &script,
        serde_json::json!({"spec": {"containers": [{
            "name": "main",
            "image": "test/shell:1",
            "command": ["/bin/sh", "-c", script],
            "readinessProbe": http_readiness(),
        }]}}),
    )
}

#[test]
fn a_statefulset_style_dns_name_resolves_from_another_pod() {
    scenario(
        "a_statefulset_style_dns_name_resolves_from_another_pod",
        async |env| {
            let services: Api<Service> = Api::namespaced(env.client.clone(), NS);
            services
            .create(
                &PostParams::default(),
                &object(serde_json::json!({
                    "metadata": {"name": "peers"},
                    "spec": {"clusterIP": "None", "publishNotReadyAddresses": true,
                             "selector": {"app": "srv-0"}, "ports": [{"name": "http", "port": 8080}]},
                })),
            )
            .await?;
            let pods: Api<Pod> = Api::namespaced(env.client.clone(), NS);
            pods.create(&PostParams::default(), &named_server("srv-0", "peers"))
                .await?;
            let server_ip = pod_ip(&wait_ready(&env.client, "srv-0").await?);
            let url = format!("http://srv-0.peers.{NS}.svc.cluster.local:8080/whoami");
            pods.create(&PostParams::default(), &fetcher("client", &url))
                .await?;
            let client_ip = pod_ip(&wait_ready(&env.client, "client").await?);
            assert_ne!(server_ip, client_ip);
            assert_eq!(
                get(&format!("http://{client_ip}:8080/fetched"))
                    .await?
                    .trim(),
                "srv-0"
            );
            Ok(())
        },
    );
}

#[test]
fn a_cluster_ip_service_forwards_to_its_ready_endpoint() {
    scenario(
        "a_cluster_ip_service_forwards_to_its_ready_endpoint",
        async |env| {
            let services: Api<Service> = Api::namespaced(env.client.clone(), NS);
            let svc = services
                .create(
                    &PostParams::default(),
                    &object(serde_json::json!({
                        "metadata": {"name": "web"},
                        "spec": {"selector": {"app": "web-0"},
                                 "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
                    })),
                )
                .await?;
            let cluster_ip = svc
                .spec
                .and_then(|s| s.cluster_ip)
                .context("no ClusterIP")?;
            let pods: Api<Pod> = Api::namespaced(env.client.clone(), NS);
            pods.create(&PostParams::default(), &named_server("web-0", "none"))
                .await?;
            wait_ready(&env.client, "web-0").await?;
            // From the root namespace (where the tests and an out-of-cluster client live).
            let url = format!("http://{cluster_ip}:80/whoami");
            wait_for(
                "the Service from the root namespace",
                Duration::from_secs(20),
                || async { Ok(get(&url).await?.trim() == "web-0") },
            )
            .await?;
            // From another pod, by the Service's short name (same namespace).
            pods.create(
                &PostParams::default(),
                &fetcher("client", "http://web/whoami"),
            )
            .await?;
            let client_ip = pod_ip(&wait_ready(&env.client, "client").await?);
            assert_eq!(
                get(&format!("http://{client_ip}:8080/fetched"))
                    .await?
                    .trim(),
                "web-0"
            );
            Ok(())
        },
    );
}

/// A pod appending a line to `/data/log` on the claim, then serving `/data`.
fn claim_writer(name: &str) -> Pod {
    let script = format!("echo {name} >> /data/log && cd /data && {SERVE}");
    shell_pod(
        name,
        &script,
        serde_json::json!({"spec": {
            "terminationGracePeriodSeconds": 5,
            "containers": [{
                "name": "main",
                "image": "test/shell:1",
                "command": ["/bin/sh", "-c", script],
                "readinessProbe": http_readiness(),
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            }],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
        }}),
    )
}

#[test]
fn a_claim_is_provisioned_outlives_its_pod_and_is_removed_with_the_claim() {
    scenario(
        "a_claim_is_provisioned_outlives_its_pod_and_is_removed_with_the_claim",
        async |env| {
            use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
            let claims: Api<PersistentVolumeClaim> = Api::namespaced(env.client.clone(), NS);
            let claim = claims
                .create(
                    &PostParams::default(),
                    &object(serde_json::json!({
                        "metadata": {"name": "data"},
                        "spec": {"accessModes": ["ReadWriteOnce"],
                                 "resources": {"requests": {"storage": "1Gi"}}},
                    })),
                )
                .await?;
            let uid = claim.metadata.uid.context("claim uid")?;
            let pods: Api<Pod> = Api::namespaced(env.client.clone(), NS);
            for (i, name) in ["first", "second"].into_iter().enumerate() {
                pods.create(&PostParams::default(), &claim_writer(name))
                    .await?;
                let ip = pod_ip(&wait_ready(&env.client, name).await?);
                let log = get(&format!("http://{ip}:8080/log")).await?;
                let expected: Vec<&str> = ["first", "second"][..=i].to_vec();
                assert_eq!(
                    log.lines().collect::<Vec<_>>(),
                    expected,
                    "the claim keeps data across pods"
                );
                pods.delete(name, &DeleteParams::default()).await?;
                wait_for(
                    &format!("pod {name} gone"),
                    Duration::from_secs(30),
                    || async { Ok(pod(&env.client, name).await?.is_none()) },
                )
                .await?;
            }
            // The real PV controller bound the claim to the runner's volume.
            let bound = claims.get("data").await?;
            let volume = bound
                .spec
                .and_then(|s| s.volume_name)
                .context("claim not bound")?;
            assert_eq!(volume, format!("pvc-{uid}"));
            let dir = env.runner.dir().join("claims").join(&uid);
            assert!(dir.join("log").is_file(), "{} missing", dir.display());
            claims.delete("data", &DeleteParams::default()).await?;
            let volumes: Api<PersistentVolume> = Api::all(env.client.clone());
            wait_for(
                "the volume and its directory removed",
                Duration::from_secs(30),
                || async { Ok(volumes.get_opt(&volume).await?.is_none() && !dir.exists()) },
            )
            .await?;
            Ok(())
        },
    );
}
