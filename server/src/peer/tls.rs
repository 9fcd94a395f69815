//! Mutual TLS of the internal port: this member's certificate and key, and the cluster CA
//! that every peer's certificate must chain to, loaded from PEM files and re-read when they
//! change (at most once per second; a changed set that fails to load keeps the last good
//! one, see [`crate::tls::reload`]).
//!
//! One [`InternalTls`] backs both directions: the listener's `ServerConfig` (present our
//! certificate, require a client certificate from the CA) and the peer client's
//! `ClientConfig` (present our certificate, verify the peer's against the CA and the address
//! dialled). Both configs hold resolvers and verifiers that ask [`InternalTls`] for the
//! current material on every handshake, so a Secret rotation takes effect for the next
//! connection while established connections keep running.

use crate::config::TlsFiles;
use crate::tls::pem::{ca_roots, certified_key};
use crate::tls::reload::Reloading;
use anyhow::Context;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, Error, ServerConfig, SignatureScheme,
};
use std::fmt;
use std::sync::Arc;

/// The member's TLS identity and trust, hot-reloaded from [`TlsFiles`].
pub struct InternalTls {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    material: Reloading<Material>,
}

/// What one load of the files produced.
struct Material {
    own: Arc<CertifiedKey>,
    clients: Arc<dyn ClientCertVerifier>,
    servers: Arc<WebPkiServerVerifier>,
}

impl InternalTls {
    /// Loads the three files; fails when any is unreadable, the CA file holds no
    /// certificate, or the key does not belong to the certificate.
    pub fn load(files: TlsFiles) -> anyhow::Result<Arc<Self>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let build = {
            let provider = provider.clone();
            Box::new(move |contents: &[Vec<u8>]| build(contents, &provider))
        };
        let paths = vec![files.ca.clone(), files.cert.clone(), files.key.clone()];
        Ok(Arc::new(InternalTls {
            material: Reloading::load("internal port", paths, build)?,
            files,
            provider,
        }))
    }

    /// The listener's TLS configuration: TLS 1.3, a client certificate from the CA required.
    pub fn server_config(self: &Arc<Self>) -> Arc<ServerConfig> {
        let live = Arc::new(Live(self.clone()));
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("the ring provider supports TLS 1.3")
            .with_client_cert_verifier(live.clone())
            .with_cert_resolver(live);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// The peer client's TLS configuration: TLS 1.3, our certificate presented, the peer's
    /// verified against the CA and the name or address dialled.
    pub fn client_config(self: &Arc<Self>) -> ClientConfig {
        let live = Arc::new(Live(self.clone()));
        ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("the ring provider supports TLS 1.3")
            .dangerous()
            .with_custom_certificate_verifier(live.clone())
            .with_client_cert_resolver(live)
    }

    /// The current material, after re-reading the files if a check is due.
    fn material(&self) -> Arc<Material> {
        self.material.current()
    }
}

impl fmt::Debug for InternalTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InternalTls")
            .field("files", &self.files)
            .finish()
    }
}

/// Builds the material from the CA, certificate and key files' contents, in that order.
fn build(contents: &[Vec<u8>], provider: &Arc<CryptoProvider>) -> anyhow::Result<Material> {
    let [ca, cert, key] = contents else {
        anyhow::bail!("expected the CA, certificate and key files");
    };
    let roots = Arc::new(ca_roots(ca)?);
    let own = certified_key(cert, key, provider)?;
    let clients = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .context("building the client certificate verifier")?;
    let servers = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .context("building the server certificate verifier")?;
    Ok(Material {
        own: Arc::new(own),
        clients,
        servers,
    })
}

/// The resolvers and verifiers handed to rustls; each call reads the current material.
struct Live(Arc<InternalTls>);

impl Live {
    /// The signature algorithms of handshakes, in either direction: the provider's, which
    /// do not depend on the reloadable trust roots.
    fn algorithms(&self) -> WebPkiSupportedAlgorithms {
        self.0.provider.signature_verification_algorithms
    }
}

impl fmt::Debug for Live {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ResolvesServerCert for Live {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.material().own.clone())
    }
}

impl rustls::client::ResolvesClientCert for Live {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.material().own.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

impl ClientCertVerifier for Live {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // The hints would borrow from reloadable material; members present their one
        // certificate whatever the hints say.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.0
            .material()
            .clients
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms().supported_schemes()
    }
}

impl ServerCertVerifier for Live {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        self.0.material().servers.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms().supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::reload::RELOAD_INTERVAL;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use rustls::pki_types::pem::PemObject;
    use std::path::Path;
    use std::time::Duration;

    /// A CA and a function issuing `(cert PEM, key PEM)` for 127.0.0.1 under it.
    fn ca() -> (String, impl Fn() -> (String, String)) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let pem = params.self_signed(&key).unwrap().pem();
        let issuer = Issuer::new(params, key);
        (pem, move || {
            let key = KeyPair::generate().unwrap();
            let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
            let cert = params.signed_by(&key, &issuer).unwrap();
            (cert.pem(), key.serialize_pem())
        })
    }

    fn files(dir: &Path) -> TlsFiles {
        TlsFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }

    fn write(files: &TlsFiles, ca: &str, (cert, key): &(String, String)) {
        std::fs::write(&files.ca, ca).unwrap();
        std::fs::write(&files.cert, cert).unwrap();
        std::fs::write(&files.key, key).unwrap();
    }

    fn presented(tls: &InternalTls) -> Vec<u8> {
        tls.material().own.cert[0].to_vec()
    }

    #[test]
    fn a_broken_set_fails_to_load() {
        let dir = tempfile::tempdir().unwrap();
        let files = files(dir.path());
        let (ca_pem, issue) = ca();
        let (first, second) = (issue(), issue());
        write(&files, "", &first);
        let err = InternalTls::load(files.clone()).unwrap_err();
        assert!(
            format!("{err:#}").contains("CA file holds no certificate"),
            "{err:#}"
        );
        write(&files, &ca_pem, &(first.0.clone(), second.1.clone()));
        let err = InternalTls::load(files.clone()).unwrap_err();
        assert!(format!("{err:#}").contains("does not match"), "{err:#}");
        write(&files, &ca_pem, &first);
        InternalTls::load(files).expect("a whole set loads");
    }

    #[test]
    fn changed_files_are_re_read_and_a_broken_change_keeps_the_last_good_set() {
        let dir = tempfile::tempdir().unwrap();
        let files = files(dir.path());
        let (ca_pem, issue) = ca();
        let (first, second) = (issue(), issue());
        write(&files, &ca_pem, &first);
        let tls = InternalTls::load(files.clone()).unwrap();
        let original = presented(&tls);

        // Halfway through a rotation: the new key with the old certificate.
        std::fs::write(&files.key, &second.1).unwrap();
        std::thread::sleep(RELOAD_INTERVAL + Duration::from_millis(100));
        assert_eq!(presented(&tls), original, "kept the last good set");

        std::fs::write(&files.cert, &second.0).unwrap();
        std::thread::sleep(RELOAD_INTERVAL + Duration::from_millis(100));
        let rotated = presented(&tls);
        assert_ne!(rotated, original, "the new certificate is in effect");
        assert_eq!(
            rotated,
            CertificateDer::from_pem_slice(second.0.as_bytes())
                .unwrap()
                .to_vec()
        );
    }
}
