//! Reading stored certificates: validity, names, public key, and who signed them.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

/// The facts of one certificate the renewal logic looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Seconds since the Unix epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// DNS names and IP addresses of the subjectAltName extension.
    pub sans: BTreeSet<String>,
    /// DER of the SubjectPublicKeyInfo.
    pub public_key: Vec<u8>,
    der: Vec<u8>,
}

fn decode(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, cert)| cert)
        .map_err(|e| format!("not an X.509 certificate: {e}"))
}

impl CertInfo {
    /// Every certificate of a PEM bundle, in order; fails on an empty bundle or on any
    /// block that is not a readable certificate.
    pub fn parse_all(pem: &str) -> Result<Vec<CertInfo>, String> {
        let mut certs = Vec::new();
        for block in Pem::iter_from_buffer(pem.as_bytes()) {
            let block = block.map_err(|e| format!("unreadable PEM: {e}"))?;
            if block.label != "CERTIFICATE" {
                return Err(format!(
                    "a {} block where a certificate belongs",
                    block.label
                ));
            }
            certs.push(Self::from_der(block.contents)?);
        }
        if certs.is_empty() {
            return Err("no certificate in the PEM data".into());
        }
        Ok(certs)
    }

    /// The first certificate of a PEM bundle (the leaf of a chain).
    pub fn parse(pem: &str) -> Result<CertInfo, String> {
        Self::parse_all(pem).map(|mut certs| certs.swap_remove(0))
    }

    fn from_der(der: Vec<u8>) -> Result<CertInfo, String> {
        let cert = decode(&der)?;
        let validity = cert.validity();
        let mut sans = BTreeSet::new();
        let san = cert
            .subject_alternative_name()
            .map_err(|e| format!("unreadable subjectAltName: {e}"))?;
        for name in san.iter().flat_map(|ext| ext.value.general_names.iter()) {
            match name {
                GeneralName::DNSName(dns) => {
                    sans.insert((*dns).to_string());
                }
                GeneralName::IPAddress(ip) => {
                    if let Ok(v4) = <[u8; 4]>::try_from(*ip) {
                        sans.insert(Ipv4Addr::from(v4).to_string());
                    } else if let Ok(v6) = <[u8; 16]>::try_from(*ip) {
                        sans.insert(Ipv6Addr::from(v6).to_string());
                    }
                }
                _ => {}
            }
        }
        let info = CertInfo {
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
            sans,
            public_key: cert.public_key().raw.to_vec(),
            der: Vec::new(),
        };
        Ok(CertInfo { der, ..info })
    }

    /// Whether `ca`'s key signed this certificate.
    pub fn signed_by(&self, ca: &CertInfo) -> bool {
        let (Ok(cert), Ok(ca)) = (decode(&self.der), decode(&ca.der)) else {
            return false;
        };
        cert.verify_signature(Some(ca.public_key())).is_ok()
    }

    /// Seconds of validity left at `now` (negative once expired).
    pub fn remaining(&self, now: i64) -> i64 {
        self.not_after.saturating_sub(now)
    }
}
