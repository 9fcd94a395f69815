//! PEM contents into the rustls types both ports use.

use anyhow::{Context, ensure};
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// A certificate chain (leaf first) and its private key (PKCS#8, PKCS#1 or SEC1); fails
/// when either is missing or the key does not belong to the leaf.
pub fn certified_key(
    cert: &[u8],
    key: &[u8],
    provider: &CryptoProvider,
) -> anyhow::Result<CertifiedKey> {
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .context("certificate file: bad PEM")?;
    ensure!(!chain.is_empty(), "certificate file holds no certificate");
    let key = PrivateKeyDer::from_pem_slice(key).context("key file: no usable private key")?;
    CertifiedKey::from_der(chain, key, provider)
        .context("key file: key does not match the certificate")
}

/// The CA certificates of a bundle; fails when it holds none.
pub fn ca_roots(ca: &[u8]) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(ca) {
        roots
            .add(der.context("CA file: bad PEM")?)
            .context("CA file: not a usable CA certificate")?;
    }
    ensure!(!roots.is_empty(), "CA file holds no certificate");
    Ok(roots)
}
