//! The development PKI of the harness and the local launcher: a CA, one certificate per
//! member and one for the tools that call the internal port (harness, benchmarks), plus
//! one SQS port (HTTPS) certificate per node, written as PEM files into a directory; and
//! the HTTP agents those tools use.
//!
//! Certificates name `localhost` and `127.0.0.1` (every member of a local cluster runs on
//! loopback). Member certificates carry both the server and the client usage, as a member
//! is both; SQS port certificates the server usage only.
//! Development material only: the CA key lies next to the certificates, unencrypted.

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A certificate authority whose key is at hand.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
}

/// A certificate and its private key, PEM-encoded.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

fn ca_params(name: &str) -> Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

impl Ca {
    /// A fresh CA named `name`.
    pub fn generate(name: &str) -> Result<Ca> {
        let key = KeyPair::generate()?;
        let params = ca_params(name)?;
        let cert_pem = params.self_signed(&key)?.pem();
        Ok(Ca {
            issuer: Issuer::new(params, key),
            cert_pem,
        })
    }

    /// The CA's certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's private key, PEM.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// The CA named `name` whose certificate and key were written before (by
    /// [`TlsDir::create`]).
    pub fn load(name: &str, cert_pem: String, key_pem: &str) -> Result<Ca> {
        let key = KeyPair::from_pem(key_pem).context("CA key")?;
        Ok(Ca {
            issuer: Issuer::new(ca_params(name)?, key),
            cert_pem,
        })
    }

    /// A member certificate for `common_name`, valid for `localhost` and `127.0.0.1`, for
    /// server and client use. `expired` dates it in the past (for the attack tests).
    pub fn issue(&self, common_name: &str, expired: bool) -> Result<Issued> {
        self.sign(
            common_name,
            LOOPBACK.map(String::from).to_vec(),
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            expired,
        )
    }

    /// An SQS port certificate for `common_name`, server use only, valid for `localhost`,
    /// `127.0.0.1` and `hosts` (names or IP addresses).
    pub fn issue_server(&self, common_name: &str, hosts: &[String]) -> Result<Issued> {
        let mut names: Vec<String> = LOOPBACK.map(String::from).to_vec();
        for host in hosts {
            if !names.contains(host) {
                names.push(host.clone());
            }
        }
        self.sign(
            common_name,
            names,
            vec![ExtendedKeyUsagePurpose::ServerAuth],
            false,
        )
    }

    fn sign(
        &self,
        common_name: &str,
        names: Vec<String>,
        usages: Vec<ExtendedKeyUsagePurpose>,
        expired: bool,
    ) -> Result<Issued> {
        let mut params = CertificateParams::new(names)?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = usages;
        params.use_authority_key_identifier_extension = true;
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// The names every local certificate carries: all members of a local cluster run on
/// loopback.
const LOOPBACK: [&str; 2] = ["localhost", "127.0.0.1"];

/// Name of the development CA.
const CA_NAME: &str = "sqsraft development CA";

/// A directory holding `ca.pem`, `ca.key` and `<name>.pem`/`<name>.key` per identity.
#[derive(Debug, Clone)]
pub struct TlsDir {
    pub dir: PathBuf,
}

impl TlsDir {
    /// Opens `dir`, creating the CA there when it holds none yet.
    pub fn create(dir: &Path) -> Result<TlsDir> {
        fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let tls = TlsDir {
            dir: dir.to_path_buf(),
        };
        if !tls.ca_file().exists() {
            let ca = Ca::generate(CA_NAME)?;
            write(&tls.dir.join("ca.key"), &ca.key_pem())?;
            write(&tls.ca_file(), ca.cert_pem())?;
        }
        Ok(tls)
    }

    /// The CA certificate file.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The certificate file of identity `name`.
    pub fn cert_file(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.pem"))
    }

    /// The key file of identity `name`.
    pub fn key_file(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.key"))
    }

    /// The CA of this directory.
    pub fn ca(&self) -> Result<Ca> {
        let read = |p: PathBuf| fs::read_to_string(&p).with_context(|| format!("{}", p.display()));
        Ca::load(
            CA_NAME,
            read(self.ca_file())?,
            &read(self.dir.join("ca.key"))?,
        )
    }

    /// Issues a member certificate for identity `name` unless it has one.
    pub fn ensure(&self, name: &str) -> Result<()> {
        self.ensure_with(name, |ca| ca.issue(name, false))
    }

    /// Issues an SQS port certificate for identity `name` and `hosts` unless it has one.
    pub fn ensure_server(&self, name: &str, hosts: &[String]) -> Result<()> {
        self.ensure_with(name, |ca| ca.issue_server(name, hosts))
    }

    fn ensure_with(&self, name: &str, issue: impl FnOnce(&Ca) -> Result<Issued>) -> Result<()> {
        if !self.cert_file(name).exists() || !self.key_file(name).exists() {
            let issued = issue(&self.ca()?)?;
            self.write(name, &issued)?;
        }
        Ok(())
    }

    /// Writes `issued` as identity `name`'s files (replacing them: a rotation).
    pub fn write(&self, name: &str, issued: &Issued) -> Result<()> {
        // Key first: a reader seeing the new certificate with the old key fails to load and
        // keeps what it had until the next check.
        write(&self.key_file(name), &issued.key_pem)?;
        write(&self.cert_file(name), &issued.cert_pem)
    }

    /// The server flags that give a member identity `name`'s certificate.
    pub fn server_args(&self, name: &str) -> Vec<String> {
        vec![
            "--internal-ca-file".into(),
            self.ca_file().display().to_string(),
            "--internal-cert-file".into(),
            self.cert_file(name).display().to_string(),
            "--internal-key-file".into(),
            self.key_file(name).display().to_string(),
        ]
    }

    /// The server flags that serve the SQS port over HTTPS with identity `name`'s
    /// certificate.
    pub fn sqs_server_args(&self, name: &str) -> Vec<String> {
        vec![
            "--sqs-tls-cert-file".into(),
            self.cert_file(name).display().to_string(),
            "--sqs-tls-key-file".into(),
            self.key_file(name).display().to_string(),
        ]
    }

    /// An HTTP agent trusting this CA, presenting no certificate (a client of the SQS port).
    pub fn sqs_agent(&self) -> Result<ureq::Agent> {
        let ca =
            fs::read(self.ca_file()).with_context(|| format!("{}", self.ca_file().display()))?;
        agent(&ca, None)
    }

    /// An HTTP agent trusting this CA and presenting identity `name`'s certificate.
    pub fn agent(&self, name: &str) -> Result<ureq::Agent> {
        let read = |p: PathBuf| fs::read(&p).with_context(|| format!("{}", p.display()));
        let ca = read(self.ca_file())?;
        let identity = Issued {
            cert_pem: String::from_utf8(read(self.cert_file(name))?)?,
            key_pem: String::from_utf8(read(self.key_file(name))?)?,
        };
        agent(&ca, Some(&identity))
    }
}

fn write(path: &Path, content: &str) -> Result<()> {
    fs::write(path, content).with_context(|| format!("write {}", path.display()))
}

/// An HTTP agent trusting the CA certificates in `ca_pem`, presenting `identity` when
/// given; HTTP status codes are returned, not turned into errors.
pub fn agent(ca_pem: &[u8], identity: Option<&Issued>) -> Result<ureq::Agent> {
    use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig, TlsProvider};
    let roots = ureq::tls::parse_pem(ca_pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(cert)) => Some(Ok(cert)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<Result<Vec<_>, _>>()
        .context("CA PEM")?;
    let client_cert = identity
        .map(|id| -> Result<ClientCert> {
            let cert = Certificate::from_pem(id.cert_pem.as_bytes()).context("certificate PEM")?;
            let key = PrivateKey::from_pem(id.key_pem.as_bytes()).context("key PEM")?;
            Ok(ClientCert::new_with_certs(&[cert], key))
        })
        .transpose()?;
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .root_certs(RootCerts::new_with_certs(&roots))
        .client_cert(client_cert)
        .build();
    Ok(ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .new_agent())
}
