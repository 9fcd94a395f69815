//! The test control plane's PKI, made with the `openssl` CLI: one CA, the API server's
//! serving certificate, client certificates for the admin and the controller manager, and
//! the key pair that signs ServiceAccount tokens. Every key is EC P-256 in PKCS#8, which
//! Go, rustls and Helm all read.

use anyhow::{Context, Result, bail};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A certificate and its private key, as PEM files.
#[derive(Debug, Clone)]
pub(crate) struct CertPair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The files of a control plane's PKI, all under one directory.
#[derive(Debug, Clone)]
pub(crate) struct Pki {
    pub ca: CertPair,
    pub apiserver: CertPair,
    pub admin: CertPair,
    pub controller_manager: CertPair,
    /// Signs ServiceAccount tokens (API server and the token controller).
    pub service_account_key: PathBuf,
    /// Verifies ServiceAccount tokens.
    pub service_account_pub: PathBuf,
}

impl Pki {
    /// Creates the PKI in `dir`. The serving certificate names 127.0.0.1, `service_ip` (the
    /// `kubernetes` Service's ClusterIP) and the `kubernetes.default.svc` DNS names.
    pub(crate) fn create(dir: &Path, service_ip: IpAddr) -> Result<Pki> {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let ca = self_signed_ca(dir)?;
        let san = format!(
            "IP:127.0.0.1,IP:{service_ip},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,\
             DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
        );
        let apiserver = leaf(
            dir,
            &ca,
            "apiserver",
            &[("CN", "kube-apiserver")],
            "serverAuth",
            Some(&san),
        )?;
        let admin = leaf(
            dir,
            &ca,
            "admin",
            &[("O", "system:masters"), ("CN", "sqsraft-e2e-admin")],
            "clientAuth",
            None,
        )?;
        let controller_manager = leaf(
            dir,
            &ca,
            "controller-manager",
            &[("CN", "system:kube-controller-manager")],
            "clientAuth",
            None,
        )?;
        let service_account_key = private_key(dir, "service-account")?;
        let service_account_pub = dir.join("service-account.pub");
        openssl(&[
            "pkey",
            "-in",
            path_str(&service_account_key)?,
            "-pubout",
            "-out",
            path_str(&service_account_pub)?,
        ])?;
        Ok(Pki {
            ca,
            apiserver,
            admin,
            controller_manager,
            service_account_key,
            service_account_pub,
        })
    }
}

fn self_signed_ca(dir: &Path) -> Result<CertPair> {
    issue(
        dir,
        "ca",
        &[("CN", "sqsraft-e2e-ca")],
        "basicConstraints = critical,CA:TRUE\n\
         keyUsage = critical,keyCertSign,cRLSign,digitalSignature\n\
         subjectKeyIdentifier = hash\n",
        None,
    )
}

/// A certificate signed by `ca` with the subject `subject` and extended key usage `usage`.
fn leaf(
    dir: &Path,
    ca: &CertPair,
    name: &str,
    subject: &[(&str, &str)],
    usage: &str,
    san: Option<&str>,
) -> Result<CertPair> {
    let mut ext = format!(
        "basicConstraints = critical,CA:FALSE\n\
         keyUsage = critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage = {usage}\n\
         authorityKeyIdentifier = keyid\n"
    );
    if let Some(san) = san {
        ext.push_str(&format!("subjectAltName = {san}\n"));
    }
    issue(dir, name, subject, &ext, Some(ca))
}

/// A new key `<name>.key` and a 30-day certificate `<name>.crt` with the extensions
/// `ext`, signed by `signer` (self-signed without one).
fn issue(
    dir: &Path,
    name: &str,
    subject: &[(&str, &str)],
    ext: &str,
    signer: Option<&CertPair>,
) -> Result<CertPair> {
    let key = private_key(dir, name)?;
    let config = write_config(dir, name, subject, ext)?;
    let cert = dir.join(format!("{name}.crt"));
    let mut args = vec![
        "req",
        "-x509",
        "-new",
        "-config",
        path_str(&config)?,
        "-extensions",
        "ext",
        "-key",
        path_str(&key)?,
        "-days",
        "30",
        "-out",
        path_str(&cert)?,
    ];
    if let Some(ca) = signer {
        args.extend(["-CA", path_str(&ca.cert)?, "-CAkey", path_str(&ca.key)?]);
    }
    openssl(&args)?;
    Ok(CertPair { cert, key })
}

fn private_key(dir: &Path, name: &str) -> Result<PathBuf> {
    let key = dir.join(format!("{name}.key"));
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        path_str(&key)?,
    ])?;
    Ok(key)
}

/// An openssl config with the subject in `[dn]` and the extensions in `[ext]`.
fn write_config(dir: &Path, name: &str, subject: &[(&str, &str)], ext: &str) -> Result<PathBuf> {
    let mut text = String::from("[req]\ndistinguished_name = dn\nprompt = no\n[dn]\n");
    for (field, value) in subject {
        text.push_str(&format!("{field} = {value}\n"));
    }
    text.push_str("[ext]\n");
    text.push_str(ext);
    let path = dir.join(format!("{name}.cnf"));
    std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
    Ok(path)
}

fn openssl(args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .context("run openssl (the control plane's certificates are made with the openssl CLI)")?;
    if !out.status.success() {
        bail!(
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

pub(crate) fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("path {} is not UTF-8", path.display()))
}
