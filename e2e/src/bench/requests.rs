//! Timed SDK calls: every request the benchmark makes goes through [`timed`], which
//! records its latency or its AWS error code and bounds it by the end of the run.

use super::stats::Recorder;
use crate::sdk;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::retry::RetryConfig;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use std::future::Future;
use tokio::time::{Duration, Instant, sleep, timeout_at};

/// How long requests started before the end of the run may take to finish.
pub const GRACE: Duration = Duration::from_secs(5);

/// Pause after a failed request so a dead endpoint is not hammered in a tight loop.
const FAILURE_PAUSE: Duration = Duration::from_millis(10);

/// An SDK client for the benchmark: the shared test client with retries disabled, so
/// every failure is seen and counted instead of hidden behind a retry.
pub fn client(endpoint: &str, access_key: &str, secret_key: &str) -> Client {
    let base = sdk::client(endpoint, access_key, secret_key);
    let config = base
        .config()
        .to_builder()
        .retry_config(RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

/// The outcome of one timed request.
pub enum Step<T> {
    /// The request succeeded; carries its output and when it started.
    Done(T, Instant),
    /// The request failed (already recorded); the client may go on.
    Failed,
    /// The request outlived the run's grace period; the client must stop.
    Stop,
}

/// The AWS error code of a failed call, or the kind of transport failure.
pub fn error_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> String {
    match err {
        SdkError::ServiceError(service) => service
            .err()
            .code()
            .unwrap_or("UnknownServiceError")
            .to_string(),
        SdkError::TimeoutError(_) => "Timeout".to_string(),
        SdkError::DispatchFailure(_) => "DispatchFailure".to_string(),
        SdkError::ResponseError(_) => "ResponseError".to_string(),
        SdkError::ConstructionFailure(_) => "ConstructionFailure".to_string(),
        _ => "UnknownError".to_string(),
    }
}

/// Runs `request` as operation `op`, recording its latency or error in `rec`.
pub async fn timed<T, E, R>(
    rec: &mut Recorder,
    op: &'static str,
    request: impl Future<Output = Result<T, SdkError<E, R>>>,
) -> Step<T>
where
    E: ProvideErrorMetadata,
{
    let started = Instant::now();
    match timeout_at(rec.window().end + GRACE, request).await {
        Ok(Ok(output)) => {
            rec.success(op, started);
            Step::Done(output, started)
        }
        Ok(Err(err)) => {
            rec.failure(op, &error_code(&err));
            sleep(FAILURE_PAUSE).await;
            Step::Failed
        }
        Err(_) => {
            rec.failure(op, "ClientDeadline");
            Step::Stop
        }
    }
}
