//! Real `aws-sdk-sqs` clients pointed at a local node with static credentials, over plain
//! HTTP or over HTTPS trusting a given CA bundle only (the SDK's own rustls connector on
//! the ring provider, as an application configures a private CA).

use anyhow::{Context, Result};
use aws_credential_types::Credentials;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::{BehaviorVersion, Region, SharedHttpClient};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use std::time::Duration;

/// An SDK client for `endpoint` signing with the given key pair in `us-east-1`.
pub fn client(endpoint: &str, access_key: &str, secret_key: &str) -> Client {
    client_in(endpoint, access_key, secret_key, "us-east-1")
}

/// An SDK client for `endpoint` signing with the given key pair in `region`.
pub fn client_in(endpoint: &str, access_key: &str, secret_key: &str, region: &str) -> Client {
    let http = aws_smithy_http_client::Builder::new().build_http();
    build(endpoint, access_key, secret_key, region, http)
}

/// An SDK client for the `https://` `endpoint` that trusts only the CA certificates of
/// `ca_pem` (no system roots), signing in `us-east-1`.
pub fn https_client(
    endpoint: &str,
    ca_pem: &[u8],
    access_key: &str,
    secret_key: &str,
) -> Result<Client> {
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(ca_pem.to_vec());
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .context("TLS context of the SDK client")?;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https();
    Ok(build(endpoint, access_key, secret_key, "us-east-1", http))
}

fn build(
    endpoint: &str,
    access_key: &str,
    secret_key: &str,
    region: &str,
    http: SharedHttpClient,
) -> Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::from_keys(access_key, secret_key, None))
        .http_client(http)
        .timeout_config(
            aws_sdk_sqs::config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(30))
                .build(),
        )
        .build();
    Client::from_conf(config)
}
