//! Per-client measurements: latency histograms per operation, message counts and errors
//! by code, counted only for requests that complete inside the measured window.

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use tokio::time::{Duration, Instant};

/// Longest latency a histogram records exactly (longer ones are clamped to it).
const MAX_TRACKED: Duration = Duration::from_secs(120);

/// The time frame of a run: load from `start`, measured from `measure_from` to `end`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// When measuring starts (after the warm-up).
    pub measure_from: Instant,
    /// When clients stop starting requests.
    pub end: Instant,
}

impl Window {
    /// Whether clients should start another request.
    pub fn running(&self) -> bool {
        Instant::now() < self.end
    }

    /// Whether something that happened at `at` is measured.
    pub fn counts(&self, at: Instant) -> bool {
        at >= self.measure_from && at < self.end
    }

    /// The measured length.
    pub fn measured(&self) -> Duration {
        self.end - self.measure_from
    }
}

/// Latency histogram and error count of one operation.
#[derive(Debug, Clone)]
pub struct OpStats {
    /// Latencies of successful requests, in microseconds.
    pub latency: Histogram<u64>,
    /// Failed requests.
    pub errors: u64,
}

impl OpStats {
    fn new() -> OpStats {
        OpStats {
            latency: Histogram::new_with_bounds(1, MAX_TRACKED.as_micros() as u64, 3)
                .expect("valid histogram bounds"),
            errors: 0,
        }
    }

    /// Successful plus failed requests.
    pub fn requests(&self) -> u64 {
        self.latency.len() + self.errors
    }
}

/// What one client (or the whole run, after merging) measured.
#[derive(Debug, Clone)]
pub struct Recorder {
    window: Window,
    /// Per operation name (`SendMessage`, `Wake`, ...).
    pub ops: BTreeMap<&'static str, OpStats>,
    /// Failed requests and failed batch entries by error code.
    pub errors: BTreeMap<String, u64>,
    /// Messages acknowledged by a send.
    pub sent: u64,
    /// Messages returned by receives.
    pub received: u64,
    /// Messages acknowledged by a delete.
    pub deleted: u64,
    /// Receives that returned no message.
    pub empty_receives: u64,
    /// When (seconds into the measured window) a receive first came back empty.
    pub first_empty_at: Option<f64>,
}

impl Recorder {
    /// An empty recorder for requests in `window`.
    pub fn new(window: Window) -> Recorder {
        Recorder {
            window,
            ops: BTreeMap::new(),
            errors: BTreeMap::new(),
            sent: 0,
            received: 0,
            deleted: 0,
            empty_receives: 0,
            first_empty_at: None,
        }
    }

    /// The window this recorder counts in.
    pub fn window(&self) -> Window {
        self.window
    }

    /// Records a successful `op` started at `started` and ending now.
    pub fn success(&mut self, op: &'static str, started: Instant) {
        self.latency(op, started, Instant::now());
    }

    /// Records a latency of `op` from `from` to `to`, attributed to its end `to`.
    pub fn latency(&mut self, op: &'static str, from: Instant, to: Instant) {
        if self.window.counts(to) {
            let micros = (to.saturating_duration_since(from).as_micros() as u64)
                .clamp(1, MAX_TRACKED.as_micros() as u64);
            self.op(op).latency.saturating_record(micros);
        }
    }

    /// Records a failed `op`, ending now, with AWS error `code`.
    pub fn failure(&mut self, op: &'static str, code: &str) {
        if self.window.counts(Instant::now()) {
            self.op(op).errors += 1;
            self.entry_error(code);
        }
    }

    /// Records a failed entry of an otherwise successful batch request ending now.
    pub fn entry_error(&mut self, code: &str) {
        if self.window.counts(Instant::now()) {
            *self.errors.entry(code.to_string()).or_default() += 1;
        }
    }

    /// Counts `n` messages sent by a request ending now.
    pub fn sent(&mut self, n: usize) {
        if self.window.counts(Instant::now()) {
            self.sent += n as u64;
        }
    }

    /// Counts `n` messages received by a request ending now; an empty receive is
    /// counted separately.
    pub fn received(&mut self, n: usize) {
        let now = Instant::now();
        if !self.window.counts(now) {
            return;
        }
        self.received += n as u64;
        if n == 0 {
            self.empty_receives += 1;
            let at = (now - self.window.measure_from).as_secs_f64();
            self.first_empty_at = Some(self.first_empty_at.map_or(at, |t| t.min(at)));
        }
    }

    /// Counts `n` messages deleted by a request ending now.
    pub fn deleted(&mut self, n: usize) {
        if self.window.counts(Instant::now()) {
            self.deleted += n as u64;
        }
    }

    /// Adds another client's measurements to these.
    pub fn merge(&mut self, other: Recorder) {
        for (name, stats) in other.ops {
            let mine = self.op(name);
            mine.latency
                .add(&stats.latency)
                .expect("histograms share their bounds");
            mine.errors += stats.errors;
        }
        for (code, n) in other.errors {
            *self.errors.entry(code).or_default() += n;
        }
        self.sent += other.sent;
        self.received += other.received;
        self.deleted += other.deleted;
        self.empty_receives += other.empty_receives;
        self.first_empty_at = match (self.first_empty_at, other.first_empty_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    fn op(&mut self, name: &'static str) -> &mut OpStats {
        self.ops.entry(name).or_insert_with(OpStats::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A window that started `ago` and lasts ten seconds.
    fn window(ago: Duration) -> Window {
        let from = Instant::now() - ago;
        Window {
            measure_from: from,
            end: from + Duration::from_secs(10),
        }
    }

    #[test]
    fn only_requests_ending_inside_the_window_count() {
        let ended = window(Duration::from_secs(20));
        let mut rec = Recorder::new(ended);
        rec.success("SendMessage", ended.measure_from);
        rec.sent(1);
        rec.failure("SendMessage", "Throttled");
        assert!(rec.ops.is_empty() && rec.errors.is_empty());
        assert_eq!(rec.sent, 0);

        let w = window(Duration::ZERO);
        let mut rec = Recorder::new(w);
        let before = w.measure_from - Duration::from_secs(1);
        rec.latency(
            "SendMessage",
            before,
            w.measure_from + Duration::from_millis(3),
        );
        rec.latency("SendMessage", before, w.end);
        rec.sent(10);
        assert_eq!(rec.ops["SendMessage"].requests(), 1);
        assert_eq!(rec.sent, 10);
    }

    #[test]
    fn merging_adds_counts_histograms_and_errors() {
        let w = window(Duration::from_secs(2));
        let mut a = Recorder::new(w);
        let mut b = Recorder::new(w);
        let from = w.measure_from;
        a.latency("ReceiveMessage", from, from + Duration::from_millis(2));
        b.latency("ReceiveMessage", from, from + Duration::from_millis(4));
        b.failure("ReceiveMessage", "QueueDoesNotExist");
        b.received(0);
        a.received(3);
        a.merge(b);
        let op = &a.ops["ReceiveMessage"];
        assert_eq!(op.requests(), 3);
        assert_eq!(op.latency.max(), op.latency.highest_equivalent(4_000));
        assert_eq!(a.errors["QueueDoesNotExist"], 1);
        assert_eq!((a.received, a.empty_receives), (3, 1));
        let empty_at = a.first_empty_at.expect("an empty receive");
        assert!((2.0..3.0).contains(&empty_at), "{empty_at}");
    }
}
