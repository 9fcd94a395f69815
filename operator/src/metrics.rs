//! Operator metrics in the Prometheus text format, and the `/metrics` + `/healthz`
//! HTTP endpoint.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// A layer of the operator's Kubernetes client that counts every request by method, so
/// the API writes of a quiet cluster can be read off `/metrics`.
#[derive(Clone)]
pub struct CountApiRequests(pub std::sync::Arc<Metrics>);

impl<S> tower::Layer<S> for CountApiRequests {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            metrics: self.0.clone(),
        }
    }
}

/// A service whose requests are counted ([`CountApiRequests`]).
#[derive(Clone)]
pub struct Counted<S> {
    inner: S,
    metrics: std::sync::Arc<Metrics>,
}

impl<S, B> tower::Service<http::Request<B>> for Counted<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        self.metrics.api_request(request.method().as_str());
        self.inner.call(request)
    }
}

/// Upper bounds (seconds) of the reconcile duration histogram.
const BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// Counters shared by the controller and the HTTP endpoint.
#[derive(Default)]
pub struct Metrics {
    reconciles: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    steps: Mutex<BTreeMap<String, u64>>,
    duration: Mutex<Histogram>,
    /// Whether this replica holds the leader-election Lease.
    leading: AtomicBool,
    /// Kubernetes API requests by HTTP method ([`CountApiRequests`]).
    api_requests: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    pub fn reconcile_started(&self) {
        self.reconciles.fetch_add(1, Ordering::Relaxed);
    }

    pub fn reconcile_finished(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let mut h = self.duration.lock().unwrap_or_else(|e| e.into_inner());
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    /// Counts a failed reconcile by its error category.
    pub fn error(&self, reason: &str) {
        *self
            .errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(reason.to_string())
            .or_default() += 1;
    }

    /// Counts a membership step by kind (e.g. `AddLearner`, `Refuse`).
    pub fn step(&self, kind: &str) {
        *self
            .steps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(kind.to_string())
            .or_default() += 1;
    }

    /// Counts one Kubernetes API request.
    pub fn api_request(&self, method: &str) {
        *self
            .api_requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(method.to_string())
            .or_default() += 1;
    }

    pub fn set_leading(&self, leading: bool) {
        self.leading.store(leading, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP sqsraft_operator_reconciles_total Reconciles started.\n");
        out.push_str("# TYPE sqsraft_operator_reconciles_total counter\n");
        out.push_str(&format!(
            "sqsraft_operator_reconciles_total {}\n",
            self.reconciles.load(Ordering::Relaxed)
        ));
        out.push_str(
            "# HELP sqsraft_operator_reconcile_errors_total Failed reconciles by reason.\n",
        );
        out.push_str("# TYPE sqsraft_operator_reconcile_errors_total counter\n");
        for (reason, n) in self.errors.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            out.push_str(&format!(
                "sqsraft_operator_reconcile_errors_total{{reason=\"{reason}\"}} {n}\n"
            ));
        }
        out.push_str("# HELP sqsraft_operator_membership_steps_total Membership planner decisions by kind.\n");
        out.push_str("# TYPE sqsraft_operator_membership_steps_total counter\n");
        for (kind, n) in self.steps.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            out.push_str(&format!(
                "sqsraft_operator_membership_steps_total{{step=\"{kind}\"}} {n}\n"
            ));
        }
        out.push_str("# HELP sqsraft_operator_api_requests_total Kubernetes API requests by HTTP method (watches count once, when opened).\n");
        out.push_str("# TYPE sqsraft_operator_api_requests_total counter\n");
        for (method, n) in self
            .api_requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            out.push_str(&format!(
                "sqsraft_operator_api_requests_total{{method=\"{method}\"}} {n}\n"
            ));
        }
        out.push_str("# HELP sqsraft_operator_reconcile_duration_seconds Reconcile duration.\n");
        out.push_str("# TYPE sqsraft_operator_reconcile_duration_seconds histogram\n");
        {
            let h = self.duration.lock().unwrap_or_else(|e| e.into_inner());
            for (i, bound) in BUCKETS.iter().enumerate() {
                out.push_str(&format!(
                    "sqsraft_operator_reconcile_duration_seconds_bucket{{le=\"{bound}\"}} {}\n",
                    h.counts[i]
                ));
            }
            out.push_str(&format!(
                "sqsraft_operator_reconcile_duration_seconds_bucket{{le=\"+Inf\"}} {}\n",
                h.count
            ));
            out.push_str(&format!(
                "sqsraft_operator_reconcile_duration_seconds_sum {}\n",
                h.sum
            ));
            out.push_str(&format!(
                "sqsraft_operator_reconcile_duration_seconds_count {}\n",
                h.count
            ));
        }
        out.push_str(
            "# HELP sqsraft_operator_leader Whether this replica holds the leader Lease.\n",
        );
        out.push_str("# TYPE sqsraft_operator_leader gauge\n");
        out.push_str(&format!(
            "sqsraft_operator_leader {}\n",
            u8::from(self.leading.load(Ordering::Relaxed))
        ));
        out
    }
}

fn respond(status: u16, content_type: &str, body: String) -> http::Response<Full<Bytes>> {
    let mut r = http::Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

/// Answers `/metrics` and `/healthz` (the process is alive and its loop runs) until the
/// listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: std::sync::Arc<Metrics>,
) -> std::io::Result<()> {
    loop {
        let (stream, _peer): (tokio::net::TcpStream, SocketAddr) = listener.accept().await?;
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: http::Request<Incoming>| {
                let metrics = metrics.clone();
                async move {
                    Ok::<_, Infallible>(match req.uri().path() {
                        "/metrics" => respond(200, "text/plain; version=0.0.4", metrics.render()),
                        "/healthz" => respond(200, "text/plain", "ok\n".into()),
                        _ => respond(404, "text/plain", "not found\n".into()),
                    })
                }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "metrics connection ended");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{Layer, Service};

    /// A service answering every request at once.
    struct Answer;

    impl Service<http::Request<()>> for Answer {
        type Response = ();
        type Error = ();
        type Future = std::future::Ready<Result<(), ()>>;

        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), ()>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            std::future::ready(Ok(()))
        }
    }

    #[test]
    fn the_client_layer_counts_requests_by_method() {
        let metrics = std::sync::Arc::new(Metrics::default());
        let mut service = CountApiRequests(metrics.clone()).layer(Answer);
        for method in ["GET", "PATCH", "PATCH", "POST"] {
            let request = http::Request::builder().method(method).body(()).unwrap();
            drop(service.call(request));
        }
        let text = metrics.render();
        for line in [
            "sqsraft_operator_api_requests_total{method=\"GET\"} 1",
            "sqsraft_operator_api_requests_total{method=\"PATCH\"} 2",
            "sqsraft_operator_api_requests_total{method=\"POST\"} 1",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
    }
}
