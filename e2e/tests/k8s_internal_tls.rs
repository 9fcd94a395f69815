//! The operator's PKI on the real control plane: the internal port of a QueueCluster's
//! pods speaks only mutual TLS with certificates the operator issued, and the operator
//! renews the member certificate and rotates the CA while the cluster serves traffic,
//! without one election, one unhealthy member or one lost message.
//!
//! The operator runs with lifetimes short enough to see it all in a few minutes: CA
//! 270 s (rotated with 90 s left), member certificates 90 s (renewed with 30 s left),
//! 10 s for a changed Secret to reach every pod (the pod runner re-syncs volumes every
//! second).

mod k8s_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use k8s_openapi::api::core::v1::Secret;
use k8s_support::operator::{
    APP_NS, CLUSTER, Traffic, converged, create_cluster, install_operator_with, observed,
    pods_of_cluster, queue_clusters, sample, scenario, status_field, wait_converged,
};
use k8s_support::{create_namespace, pod_ip};
use kube::Api;
use serde_json::json;

/// `status.internalTls.<field>` of the QueueCluster.
fn tls_field(qc: &kube::api::DynamicObject, field: &str) -> Option<serde_json::Value> {
    status_field(qc, &["internalTls", field]).cloned()
}

/// What a plaintext HTTP request to `addr` gets back (a TLS-only port answers no HTTP).
fn plaintext_answer(addr: &str) -> Result<String> {
    let mut stream = TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET /admin/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    let mut answer = Vec::new();
    // A reset or a timeout is as good as a close: nothing came back.
    let _ = stream.read_to_end(&mut answer);
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[test]
fn the_operator_pki_guards_the_internal_port_and_rotates_under_traffic() {
    scenario(
        "the_operator_pki_guards_the_internal_port_and_rotates_under_traffic",
        async |env| {
            let env_var = |name: &str, value: &str| json!({"name": name, "value": value});
            install_operator_with(
                env,
                json!({"extraEnv": [
                    env_var("SQSRAFT_OPERATOR_CA_VALIDITY_SECONDS", "270"),
                    env_var("SQSRAFT_OPERATOR_CERTIFICATE_VALIDITY_SECONDS", "90"),
                    env_var("SQSRAFT_OPERATOR_SECRET_PROPAGATION_SECONDS", "10"),
                ]}),
                1,
            )
            .await?;
            create_namespace(&env.client, APP_NS).await?;
            create_cluster(env, 3, json!({})).await?;
            wait_converged(&env.client, 3, Duration::from_secs(240)).await?;

            // The CA's key stays in its own Secret, which no pod mounts.
            let secrets: Api<Secret> = Api::namespaced(env.client.clone(), APP_NS);
            let member = secrets.get(&format!("{CLUSTER}-internal-tls")).await?;
            let data = member.data.unwrap_or_default();
            ensure!(
                ["ca.crt", "tls.crt", "tls.key"]
                    .iter()
                    .all(|k| data.contains_key(*k))
                    && !data.contains_key("ca.key"),
                "member Secret keys: {:?}",
                data.keys().collect::<Vec<_>>()
            );
            for pod in pods_of_cluster(&env.client).await? {
                let mounted: Vec<String> = pod
                    .spec
                    .iter()
                    .flat_map(|s| s.volumes.iter().flatten())
                    .filter_map(|v| v.secret.as_ref()?.secret_name.clone())
                    .collect();
                ensure!(
                    !mounted.contains(&format!("{CLUSTER}-ca")),
                    "pod mounts the CA Secret: {mounted:?}"
                );
                // No cleartext on the internal port: not even an HTTP error comes back.
                let addr = format!("{}:9325", pod_ip(&pod));
                let answer = tokio::task::spawn_blocking(move || plaintext_answer(&addr)).await??;
                ensure!(
                    !answer.starts_with("HTTP/"),
                    "the internal port answered cleartext HTTP: {answer:?}"
                );
            }

            let qcs = queue_clusters(&env.client);
            let first = qcs.get(CLUSTER).await?;
            let first_ca = tls_field(&first, "caNotAfter").context("no caNotAfter in status")?;
            let first_cert =
                tls_field(&first, "certificateNotAfter").context("no certificateNotAfter")?;

            let (seen, _sampler) = sample(env.client.clone());
            let traffic = Traffic::start(&env.client).await?;
            let started = Instant::now();
            let mut certificates = vec![first_cert];
            let mut rotating_seen = false;
            loop {
                let qc = qcs.get(CLUSTER).await?;
                ensure!(
                    converged(&qc, 3),
                    "after {:.0} s the cluster is no longer healthy: {}",
                    started.elapsed().as_secs_f64(),
                    serde_json::to_string(qc.data.get("status").unwrap_or(&json!(null)))?
                );
                if let Some(cert) = tls_field(&qc, "certificateNotAfter")
                    && certificates.last() != Some(&cert)
                {
                    certificates.push(cert);
                }
                let rotating = tls_field(&qc, "caRotating") == Some(json!(true));
                rotating_seen |= rotating;
                let ca = tls_field(&qc, "caNotAfter");
                if rotating_seen && !rotating && ca.is_some() && ca.as_ref() != Some(&first_ca) {
                    break;
                }
                ensure!(
                    started.elapsed() < Duration::from_secs(330),
                    "no completed CA rotation within 330 s (rotating seen: {rotating_seen}, \
                     certificates: {certificates:?})"
                );
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            eprintln!(
                "CA rotated in {:.0} s; member certificates: {certificates:?}",
                started.elapsed().as_secs_f64()
            );
            // Renewals before the rotation, and the new CA's certificate in it.
            ensure!(
                certificates.len() >= 3,
                "member certificate issued only {} times: {certificates:?}",
                certificates.len()
            );
            let seen = observed(&seen);
            ensure!(
                seen.leaderless_windows == 0,
                "{} election(s) during renewal and rotation (longest {:?})",
                seen.leaderless_windows,
                seen.longest_leaderless
            );
            seen.check()?;
            traffic.check().await
        },
    );
}
