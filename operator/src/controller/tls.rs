//! The internal port's certificates in one reconcile: the fetched Secrets read into the
//! PKI's types, renewal planned and carried out ([`crate::pki`]), and what follows from
//! it: the Secrets to write, the status, and what the operator presents to the admin API.

use std::time::SystemTime;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::fetch::Fetched;
use crate::build::{self, Cluster, InternalTlsSource};
use crate::crd::queue_cluster::InternalTlsStatus;
use crate::error::Error;
use crate::pki::{self, CertInfo, Stored};

/// What the operator presents to, and trusts of, one cluster's internal port.
#[derive(Clone, PartialEq, Eq)]
pub enum AdminTrust {
    /// A client certificate signed by `signer`; `bundle` trusted.
    Issue { bundle: String, signer: pki::CaPair },
    /// The user's certificate and key; `bundle` trusted.
    Present {
        bundle: String,
        cert_pem: String,
        key_pem: String,
    },
}

impl std::fmt::Debug for AdminTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AdminTrust::Issue { .. } => "AdminTrust::Issue",
            AdminTrust::Present { .. } => "AdminTrust::Present",
        })
    }
}

/// The TLS part of one reconcile.
#[derive(Debug)]
pub struct TlsPass {
    /// The CA Secret to write, and whether it is new (created once, never overwritten by
    /// a concurrent creation) rather than changed.
    pub ca_secret: Option<(Secret, bool)>,
    /// The member Secret to write.
    pub member_secret: Option<Secret>,
    /// What was issued or rotated, one line each (Normal Events).
    pub notes: Vec<String>,
    /// A user-supplied certificate close to expiry (a Warning Event).
    pub expiring: Option<String>,
    pub admin: AdminTrust,
    pub status: InternalTlsStatus,
}

fn time(secs: i64) -> Option<Time> {
    k8s_openapi::jiff::Timestamp::from_second(secs)
        .ok()
        .map(Time)
}

fn unusable(reason: &'static str, message: String) -> Error {
    Error::Missing { reason, message }
}

/// Plans and issues the certificates of `c` at `now`.
pub fn prepare(c: &Cluster<'_>, fetched: &Fetched, now: SystemTime) -> Result<TlsPass, Error> {
    match build::internal_tls_source(c) {
        InternalTlsSource::UserSupplied(name) => user_supplied(fetched, name, now),
        InternalTlsSource::Generated { ca, member } => generated(c, fetched, ca, member, now),
    }
}

fn user_supplied(fetched: &Fetched, name: String, now: SystemTime) -> Result<TlsPass, Error> {
    let keys = [build::CA_CERT_KEY, build::TLS_CERT_KEY, build::TLS_KEY_KEY];
    let Some(material) = fetched
        .internal_tls_secret
        .as_ref()
        .and_then(build::read_member)
    else {
        return Err(unusable(
            "InternalTlsSecretMissing",
            format!(
                "Secret {name:?} (spec.internalTls.secretName) does not exist or lacks one of the keys {keys:?}"
            ),
        ));
    };
    let cert = CertInfo::parse(&material.cert_pem).map_err(|e| {
        unusable(
            "InternalTlsSecretUnusable",
            format!("Secret {name:?}: {}: {e}", build::TLS_CERT_KEY),
        )
    })?;
    CertInfo::parse_all(&material.bundle_pem).map_err(|e| {
        unusable(
            "InternalTlsSecretUnusable",
            format!("Secret {name:?}: {}: {e}", build::CA_CERT_KEY),
        )
    })?;
    let lifetime = cert.not_after.saturating_sub(cert.not_before);
    let expiring = (cert.remaining(pki::unix_seconds(now)) < lifetime / 3).then(|| {
        format!(
            "the certificate in Secret {name:?} expires at {}; renew it (members re-read it within seconds)",
            time(cert.not_after).map_or_else(|| cert.not_after.to_string(), |t| t.0.to_string())
        )
    });
    Ok(TlsPass {
        ca_secret: None,
        member_secret: None,
        notes: Vec::new(),
        expiring,
        admin: AdminTrust::Present {
            bundle: material.bundle_pem,
            cert_pem: material.cert_pem,
            key_pem: material.key_pem,
        },
        status: InternalTlsStatus {
            secret_name: name,
            certificate_not_after: time(cert.not_after),
            ca_not_after: None,
            ca_rotating: false,
        },
    })
}

fn generated(
    c: &Cluster<'_>,
    fetched: &Fetched,
    ca_name: String,
    member_name: String,
    now: SystemTime,
) -> Result<TlsPass, Error> {
    let ca = match &fetched.ca_secret {
        None => None,
        Some(secret) => Some(build::read_ca(secret).ok_or_else(|| {
            unusable(
                "CaSecretUnusable",
                format!(
                    "Secret {ca_name} lacks {:?} or {:?}; delete it to have a new CA generated \
                     (every member then gets a new certificate)",
                    build::CA_CERT_KEY,
                    "ca.key"
                ),
            )
        })?),
    };
    let stored = Stored {
        ca,
        member: fetched
            .internal_tls_secret
            .as_ref()
            .and_then(build::read_member),
    };
    let lifetimes = &c.defaults.pki;
    let sans = build::member_sans(c);
    let plan = pki::plan(&stored, &sans, lifetimes, now).map_err(|e| {
        unusable(
            "CaSecretUnusable",
            format!("Secret {ca_name}: {e}; delete it to have a new CA generated"),
        )
    })?;
    let profile = pki::member_profile(&build::member_common_name(c), &sans);
    let next = plan.carry_out(&stored, &build::ca_common_name(c), &profile, lifetimes, now)?;
    let not_after = |pem: &str| CertInfo::parse(pem).ok().and_then(|i| time(i.not_after));
    Ok(TlsPass {
        ca_secret: next
            .ca_changed
            .then(|| (build::ca_secret(c, ca_name, &next.ca), stored.ca.is_none())),
        member_secret: next
            .member_changed
            .then(|| build::member_secret(c, member_name.clone(), &next.member)),
        expiring: None,
        admin: AdminTrust::Issue {
            bundle: next.ca.bundle(),
            signer: next.operator_signer.clone(),
        },
        status: InternalTlsStatus {
            secret_name: member_name,
            certificate_not_after: not_after(&next.member.cert_pem),
            ca_not_after: not_after(&next.ca.current.cert_pem),
            ca_rotating: next.ca.previous.is_some(),
        },
        notes: next.notes,
    })
}
