//! The Secrets of the internal port's mutual TLS: the cluster CA (never mounted into a
//! pod) and the member certificate the pods mount, turned into and read back from the
//! PKI's own types ([`crate::pki`]).

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;

use super::Cluster;
use crate::pki::{CaPair, StoredCa, StoredMember};

/// Key of the trust bundle in a member Secret (and of the CA certificate in the CA Secret).
pub const CA_CERT_KEY: &str = "ca.crt";
/// Key of the CA's private key in the CA Secret.
pub const CA_KEY_KEY: &str = "ca.key";
/// Keys of the retiring CA during a rotation.
pub const PREVIOUS_CA_CERT_KEY: &str = "previous-ca.crt";
pub const PREVIOUS_CA_KEY_KEY: &str = "previous-ca.key";
/// Keys of the member certificate and key (`kubernetes.io/tls` layout).
pub const TLS_CERT_KEY: &str = "tls.crt";
pub const TLS_KEY_KEY: &str = "tls.key";
/// Where the member Secret is mounted in a server pod.
pub const INTERNAL_TLS_MOUNT: &str = "/etc/sqsraft/internal-tls";
/// Annotations of a generated member Secret: when its certificate was issued and when
/// its trust bundle last changed (Unix seconds), which pace a CA rotation.
pub const ANNOTATION_ISSUED_AT: &str = "sqsraft.io/certificate-issued-at";
pub const ANNOTATION_BUNDLE_SINCE: &str = "sqsraft.io/trust-bundle-since";

/// Where the internal port's certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InternalTlsSource {
    /// `spec.internalTls.secretName`: mounted as is, never modified.
    UserSupplied(String),
    /// The operator's PKI: the CA Secret and the member Secret it issues.
    Generated { ca: String, member: String },
}

/// Decides where the certificates come from.
pub fn internal_tls_source(c: &Cluster<'_>) -> InternalTlsSource {
    match &c.qc.spec.internal_tls.secret_name {
        Some(name) => InternalTlsSource::UserSupplied(name.clone()),
        None => InternalTlsSource::Generated {
            ca: format!("{}-ca", c.name),
            member: format!("{}-internal-tls", c.name),
        },
    }
}

/// The Secret the pods mount.
pub fn internal_tls_secret_name(c: &Cluster<'_>) -> String {
    match internal_tls_source(c) {
        InternalTlsSource::UserSupplied(name)
        | InternalTlsSource::Generated { member: name, .. } => name,
    }
}

/// Names the member certificate must carry: every pod through the headless Service
/// (a wildcard, so scaling needs no new certificate), the three Services, and loopback
/// (the preStop hand-off dials 127.0.0.1).
pub fn member_sans(c: &Cluster<'_>) -> Vec<String> {
    let ns = &c.namespace;
    let domain = &c.defaults.cluster_domain;
    let headless = c.names.headless_service();
    let mut sans = vec![
        format!("*.{headless}.{ns}.svc.{domain}"),
        format!("*.{headless}.{ns}.svc"),
    ];
    for service in [headless, c.client_service_name(), c.leader_service_name()] {
        sans.push(format!("{service}.{ns}.svc.{domain}"));
        sans.push(format!("{service}.{ns}.svc"));
    }
    sans.extend(["localhost".to_string(), "127.0.0.1".to_string()]);
    sans
}

/// Common name of the generated CA.
pub fn ca_common_name(c: &Cluster<'_>) -> String {
    format!("sqsraft {}/{} CA", c.namespace, c.name)
}

/// Common name of the member certificate.
pub fn member_common_name(c: &Cluster<'_>) -> String {
    format!("{}.{} member", c.name, c.namespace)
}

fn bytes(entries: &[(&str, &str)]) -> BTreeMap<String, ByteString> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
        .collect()
}

/// The CA Secret of a generated PKI.
pub fn ca_secret(c: &Cluster<'_>, name: String, ca: &StoredCa) -> Secret {
    let mut entries = vec![
        (CA_CERT_KEY, ca.current.cert_pem.as_str()),
        (CA_KEY_KEY, ca.current.key_pem.as_str()),
    ];
    if let Some(previous) = &ca.previous {
        entries.push((PREVIOUS_CA_CERT_KEY, &previous.cert_pem));
        entries.push((PREVIOUS_CA_KEY_KEY, &previous.key_pem));
    }
    Secret {
        metadata: c.meta(name),
        type_: Some("Opaque".into()),
        data: Some(bytes(&entries)),
        ..Secret::default()
    }
}

/// The member Secret of a generated PKI.
pub fn member_secret(c: &Cluster<'_>, name: String, member: &StoredMember) -> Secret {
    let mut metadata = c.meta(name);
    metadata.annotations = Some(BTreeMap::from([
        (
            ANNOTATION_ISSUED_AT.to_string(),
            member.issued_at.to_string(),
        ),
        (
            ANNOTATION_BUNDLE_SINCE.to_string(),
            member.bundle_since.to_string(),
        ),
    ]));
    Secret {
        metadata,
        type_: Some("kubernetes.io/tls".into()),
        data: Some(bytes(&[
            (CA_CERT_KEY, &member.bundle_pem),
            (TLS_CERT_KEY, &member.cert_pem),
            (TLS_KEY_KEY, &member.key_pem),
        ])),
        ..Secret::default()
    }
}

fn value(secret: &Secret, key: &str) -> Option<String> {
    super::secret_value(secret, key)
}

/// The CA stored in a CA Secret; `None` when its current pair is missing.
pub fn read_ca(secret: &Secret) -> Option<StoredCa> {
    let pair = |cert, key| {
        Some(CaPair {
            cert_pem: value(secret, cert)?,
            key_pem: value(secret, key)?,
        })
    };
    Some(StoredCa {
        current: pair(CA_CERT_KEY, CA_KEY_KEY)?,
        previous: pair(PREVIOUS_CA_CERT_KEY, PREVIOUS_CA_KEY_KEY),
    })
}

/// The member material of a member Secret (generated or the user's); `None` when a
/// key is missing. Missing annotations read as "long ago".
pub fn read_member(secret: &Secret) -> Option<StoredMember> {
    let annotation = |key| {
        secret
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Some(StoredMember {
        bundle_pem: value(secret, CA_CERT_KEY)?,
        cert_pem: value(secret, TLS_CERT_KEY)?,
        key_pem: value(secret, TLS_KEY_KEY)?,
        issued_at: annotation(ANNOTATION_ISSUED_AT),
        bundle_since: annotation(ANNOTATION_BUNDLE_SINCE),
    })
}
