//! HTTPS on the SQS port: a server certificate and key from PEM files, re-read when they
//! change (see [`super::reload`]), presented to every client; no client certificate is
//! asked for (SigV4 authenticates). TLS 1.2 and 1.3, since AWS SDKs and older clients
//! still offer 1.2; ALPN offers HTTP/2 and HTTP/1.1.

use super::pem::certified_key;
use super::reload::Reloading;
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// The SQS port's certificate, hot-reloaded.
#[derive(Debug)]
pub struct ServerCert(Reloading<CertifiedKey>);

impl ServerCert {
    /// Loads the certificate chain and key; fails when either is unreadable or the key
    /// does not belong to the certificate.
    pub fn load(cert: PathBuf, key: PathBuf) -> anyhow::Result<Arc<Self>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let build = {
            let provider = provider.clone();
            Box::new(move |contents: &[Vec<u8>]| {
                certified_key(&contents[0], &contents[1], &provider)
            })
        };
        Ok(Arc::new(ServerCert(Reloading::load(
            "SQS port",
            vec![cert, key],
            build,
        )?)))
    }

    /// The listener's configuration: TLS 1.2 and 1.3, the current certificate on every
    /// handshake.
    pub fn server_config(self: &Arc<Self>) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("the ring provider supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Current(self.clone())));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// The certificate the next handshake presents.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.0.current()
    }
}

/// The resolver handed to rustls.
struct Current(Arc<ServerCert>);

impl fmt::Debug for Current {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.current())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use rustls::pki_types::ServerName;
    use rustls::{ClientConfig, ClientConnection, ProtocolVersion, ServerConnection};

    /// A CA's PEM and a `(cert PEM, key PEM)` for 127.0.0.1 under it.
    fn ca_and_leaf() -> (String, (String, String)) {
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_pem = params.self_signed(&ca_key).unwrap().pem();
        let issuer = Issuer::new(params, ca_key);
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        (ca_pem, (cert.pem(), key.serialize_pem()))
    }

    /// Runs a handshake in memory; returns the version agreed and the ALPN protocol.
    fn handshake(
        server: Arc<ServerConfig>,
        ca_pem: &str,
        version: &'static rustls::SupportedProtocolVersion,
    ) -> Result<(ProtocolVersion, Option<Vec<u8>>), rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = crate::tls::pem::ca_roots(ca_pem.as_bytes()).unwrap();
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let mut client = ClientConnection::new(Arc::new(config), name)?;
        let mut server = ServerConnection::new(server)?;
        while client.is_handshaking() || server.is_handshaking() {
            let mut wire = Vec::new();
            client.write_tls(&mut wire).unwrap();
            server.read_tls(&mut wire.as_slice()).unwrap();
            server.process_new_packets()?;
            wire.clear();
            server.write_tls(&mut wire).unwrap();
            client.read_tls(&mut wire.as_slice()).unwrap();
            client.process_new_packets()?;
        }
        Ok((
            client.protocol_version().unwrap(),
            client.alpn_protocol().map(<[u8]>::to_vec),
        ))
    }

    #[test]
    fn a_mismatched_pair_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        let (_, first) = ca_and_leaf();
        let (_, second) = ca_and_leaf();
        std::fs::write(&cert, &first.0).unwrap();
        std::fs::write(&key, &second.1).unwrap();
        let err = ServerCert::load(cert.clone(), key.clone()).unwrap_err();
        assert!(format!("{err:#}").contains("does not match"), "{err:#}");
        std::fs::write(&key, "").unwrap();
        let err = ServerCert::load(cert, key).unwrap_err();
        assert!(
            format!("{err:#}").contains("no usable private key"),
            "{err:#}"
        );
    }

    #[test]
    fn clients_of_tls_1_2_and_1_3_are_served_and_untrusting_ones_fail() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        let (ca_pem, (cert_pem, key_pem)) = ca_and_leaf();
        std::fs::write(&cert, cert_pem).unwrap();
        std::fs::write(&key, key_pem).unwrap();
        let config = ServerCert::load(cert, key).unwrap().server_config();
        for (version, expected) in [
            (&rustls::version::TLS12, ProtocolVersion::TLSv1_2),
            (&rustls::version::TLS13, ProtocolVersion::TLSv1_3),
        ] {
            let (agreed, alpn) = handshake(config.clone(), &ca_pem, version).unwrap();
            assert_eq!(agreed, expected);
            assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
        }
        let (other_ca, _) = ca_and_leaf();
        let err = handshake(config, &other_ca, &rustls::version::TLS13).unwrap_err();
        assert!(
            matches!(err, rustls::Error::InvalidCertificate(_)),
            "{err:?}"
        );
    }
}
