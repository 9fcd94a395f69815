//! Timed calls: every request the benchmark makes goes through [`timed`], which records
//! its latency or its AWS error code and bounds it by the end of the run.

use super::api::CallResult;
use super::stats::Recorder;
use std::future::Future;
use tokio::time::{Duration, Instant, sleep, timeout_at};

/// How long requests started before the end of the run may take to finish.
pub const GRACE: Duration = Duration::from_secs(5);

/// Pause after a failed request so a dead endpoint is not hammered in a tight loop.
const FAILURE_PAUSE: Duration = Duration::from_millis(10);

/// The outcome of one timed request.
pub enum Step<T> {
    /// The request succeeded; carries its output and when it started.
    Done(T, Instant),
    /// The request failed (already recorded); the client may go on.
    Failed,
    /// The request outlived the run's grace period; the client must stop.
    Stop,
}

/// Runs `request` as operation `op`, recording its latency or error in `rec`.
pub async fn timed<T>(
    rec: &mut Recorder,
    op: &'static str,
    request: impl Future<Output = CallResult<T>>,
) -> Step<T> {
    let started = Instant::now();
    match timeout_at(rec.window().end + GRACE, request).await {
        Ok(Ok(output)) => {
            rec.success(op, started);
            Step::Done(output, started)
        }
        Ok(Err(code)) => {
            rec.failure(op, &code);
            sleep(FAILURE_PAUSE).await;
            Step::Failed
        }
        Err(_) => {
            rec.failure(op, "ClientDeadline");
            Step::Stop
        }
    }
}
