//! Prometheus metrics: request counts and latency histograms by action and outcome, plus
//! Raft gauges rendered from openraft's metrics at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

/// Request metrics, keyed by (action, outcome code).
#[derive(Default)]
pub struct RequestMetrics {
    series: Mutex<BTreeMap<(String, String), Histogram>>,
}

impl RequestMetrics {
    /// Records one request; `outcome` is `ok` or the AWS error code.
    pub fn observe(&self, action: &str, outcome: &str, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let h = series
            .entry((action.to_string(), outcome.to_string()))
            .or_insert_with(|| Histogram {
                counts: vec![0; BUCKETS.len()],
                ..Default::default()
            });
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    /// Renders the request series in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let series = self
            .series
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        out.push_str("# HELP sqsraft_requests_total SQS requests by action and outcome.\n");
        out.push_str("# TYPE sqsraft_requests_total counter\n");
        for ((action, outcome), h) in &series {
            let _ = writeln!(
                out,
                "sqsraft_requests_total{{action=\"{action}\",outcome=\"{outcome}\"}} {}",
                h.count
            );
        }
        out.push_str("# HELP sqsraft_request_duration_seconds SQS request latency.\n");
        out.push_str("# TYPE sqsraft_request_duration_seconds histogram\n");
        for ((action, outcome), h) in &series {
            let labels = format!("action=\"{action}\",outcome=\"{outcome}\"");
            for (bound, count) in BUCKETS.iter().zip(&h.counts) {
                let _ = writeln!(
                    out,
                    "sqsraft_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "sqsraft_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "sqsraft_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "sqsraft_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
    }
}

/// Appends one gauge with its help and type lines.
pub fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

/// Appends one gauge with several labelled series (`labels` without braces).
pub fn gauges(out: &mut String, name: &str, help: &str, series: &[(String, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (labels, value) in series {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = RequestMetrics::default();
        m.observe("SendMessage", "ok", Duration::from_millis(3));
        m.observe("SendMessage", "ok", Duration::from_millis(30));
        m.observe(
            "SendMessage",
            "QueueDoesNotExist",
            Duration::from_micros(100),
        );
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains("sqsraft_requests_total{action=\"SendMessage\",outcome=\"ok\"} 2"));
        assert!(out.contains("le=\"0.005\"} 1\n"));
        assert!(out.contains("action=\"SendMessage\",outcome=\"ok\",le=\"0.05\"} 2"));
        assert!(out.contains("outcome=\"QueueDoesNotExist\",le=\"+Inf\"} 1"));
    }
}
