//! Real `aws-sdk-sqs` clients pointed at a local node (plain HTTP, static credentials).

use aws_credential_types::Credentials;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::{BehaviorVersion, Region};
use std::time::Duration;

/// An SDK client for `endpoint` signing with the given key pair in `us-east-1`.
pub fn client(endpoint: &str, access_key: &str, secret_key: &str) -> Client {
    client_in(endpoint, access_key, secret_key, "us-east-1")
}

/// An SDK client for `endpoint` signing with the given key pair in `region`.
pub fn client_in(endpoint: &str, access_key: &str, secret_key: &str, region: &str) -> Client {
    let http = aws_smithy_http_client::Builder::new().build_http();
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
