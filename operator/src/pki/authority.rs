//! Key generation and signing (rcgen on ring, ECDSA P-256).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SerialNumber,
};

/// Certificates are dated this much before "now", so a peer whose clock is slightly
/// behind the operator's accepts them at once.
const BACKDATE: Duration = Duration::from_secs(3600);

/// Why a certificate could not be made or a stored CA not be used.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{what}: {source}")]
    Rcgen {
        what: &'static str,
        source: rcgen::Error,
    },
    #[error("{what}: {cause}")]
    Random {
        what: &'static str,
        cause: getrandom::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

fn rcgen_err(what: &'static str) -> impl FnOnce(rcgen::Error) -> PkiError {
    move |source| PkiError::Rcgen { what, source }
}

/// A certificate and its private key, PEM-encoded, with the end of its validity.
#[derive(Clone, PartialEq, Eq)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    /// Seconds since the Unix epoch.
    pub not_after: i64,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("not_after", &self.not_after)
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// What a leaf certificate is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub common_name: String,
    /// DNS names (wildcards allowed in the first label) and IP addresses.
    pub sans: Vec<String>,
    /// A member both serves and dials the internal port; the operator only dials.
    pub server: bool,
}

/// A CA whose key is at hand.
pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

/// Seconds since the Unix epoch (negative before it), the unit of every PKI timestamp.
pub fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Sets the validity window `[now - BACKDATE, now + validity]` and a random serial.
fn date(
    params: &mut CertificateParams,
    now: SystemTime,
    validity: Duration,
) -> Result<i64, PkiError> {
    let at = |t: SystemTime| {
        time::OffsetDateTime::from_unix_timestamp(unix_seconds(t))
            .map_err(|e| PkiError::Invalid(format!("time out of range: {e}")))
    };
    let not_after = now + validity;
    params.not_before = at(now - BACKDATE)?;
    params.not_after = at(not_after)?;
    let mut serial = [0u8; 16];
    getrandom::fill(&mut serial).map_err(|cause| PkiError::Random {
        what: "a certificate serial number",
        cause,
    })?;
    // A positive integer: the top bit clear.
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    Ok(unix_seconds(not_after))
}

fn new_key() -> Result<KeyPair, PkiError> {
    KeyPair::generate().map_err(rcgen_err("generating a key"))
}

impl Authority {
    /// A fresh self-signed CA called `common_name`, valid for `validity` from `now`.
    pub fn generate(
        common_name: &str,
        now: SystemTime,
        validity: Duration,
    ) -> Result<(Authority, Issued), PkiError> {
        let mut params =
            CertificateParams::new(Vec::<String>::new()).map_err(rcgen_err("CA parameters"))?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let not_after = date(&mut params, now, validity)?;
        let key = new_key()?;
        let cert_pem = params
            .self_signed(&key)
            .map_err(rcgen_err("self-signing the CA"))?
            .pem();
        let issued = Issued {
            cert_pem: cert_pem.clone(),
            key_pem: key.serialize_pem(),
            not_after,
        };
        Ok((
            Authority {
                issuer: Issuer::new(params, key),
                cert_pem,
            },
            issued,
        ))
    }

    /// The CA stored as `cert_pem` (its first certificate) and `key_pem`; fails when the
    /// key does not belong to the certificate.
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Authority, PkiError> {
        let key = KeyPair::from_pem(key_pem).map_err(rcgen_err("reading the CA key"))?;
        let cert = super::inspect::CertInfo::parse(cert_pem)
            .map_err(|e| PkiError::Invalid(format!("reading the CA certificate: {e}")))?;
        if cert.public_key != key.subject_public_key_info() {
            return Err(PkiError::Invalid(
                "the CA key does not belong to the CA certificate".into(),
            ));
        }
        let issuer =
            Issuer::from_ca_cert_pem(cert_pem, key).map_err(rcgen_err("reading the CA"))?;
        Ok(Authority {
            issuer,
            cert_pem: cert_pem.to_string(),
        })
    }

    /// The CA's certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A leaf certificate for `profile`, with a fresh key, valid for `validity` from `now`.
    pub fn issue(
        &self,
        profile: &Profile,
        now: SystemTime,
        validity: Duration,
    ) -> Result<Issued, PkiError> {
        let mut params =
            CertificateParams::new(profile.sans.clone()).map_err(rcgen_err("certificate names"))?;
        params
            .distinguished_name
            .push(DnType::CommonName, profile.common_name.as_str());
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = if profile.server {
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ]
        } else {
            vec![ExtendedKeyUsagePurpose::ClientAuth]
        };
        params.use_authority_key_identifier_extension = true;
        let not_after = date(&mut params, now, validity)?;
        let key = new_key()?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(rcgen_err("signing a certificate"))?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            not_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::inspect::CertInfo;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn issued_certificates_chain_to_their_ca_and_carry_the_requested_names_and_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let (ca, ca_issued) = Authority::generate("orders CA", now, 10 * DAY).unwrap();
        let profile = Profile {
            common_name: "orders".into(),
            sans: vec!["*.orders-headless.shop.svc".into(), "127.0.0.1".into()],
            server: true,
        };
        let leaf = ca.issue(&profile, now, DAY).unwrap();
        let info = CertInfo::parse(&leaf.cert_pem).unwrap();
        let ca_info = CertInfo::parse(&ca_issued.cert_pem).unwrap();
        assert!(info.signed_by(&ca_info));
        assert_eq!(info.not_after, 1_800_000_000 + 86_400);
        assert_eq!(info.not_after, leaf.not_after);
        assert_eq!(info.not_before, 1_800_000_000 - 3600);
        assert_eq!(
            info.sans,
            ["*.orders-headless.shop.svc", "127.0.0.1"]
                .map(String::from)
                .into()
        );
        // Loaded back from its PEM files, the CA signs certificates that chain to it.
        let loaded = Authority::load(&ca_issued.cert_pem, &ca_issued.key_pem).unwrap();
        let again = loaded.issue(&profile, now, DAY).unwrap();
        assert!(
            CertInfo::parse(&again.cert_pem)
                .unwrap()
                .signed_by(&ca_info)
        );
        // Another CA's certificate does not.
        let (other, _) = Authority::generate("other CA", now, DAY).unwrap();
        let foreign = other.issue(&profile, now, DAY).unwrap();
        assert!(
            !CertInfo::parse(&foreign.cert_pem)
                .unwrap()
                .signed_by(&ca_info)
        );
    }

    #[test]
    fn a_ca_key_that_belongs_to_another_certificate_is_refused() {
        let now = SystemTime::now();
        let (_, a) = Authority::generate("a", now, DAY).unwrap();
        let (_, b) = Authority::generate("b", now, DAY).unwrap();
        let err = Authority::load(&a.cert_pem, &b.key_pem).unwrap_err();
        assert!(err.to_string().contains("does not belong"), "{err}");
        assert!(Authority::load("garbage", &a.key_pem).is_err());
    }
}
