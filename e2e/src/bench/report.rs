//! The result of a run: throughput, latency percentiles, errors by code and the
//! client's and the servers' CPU use (in total and per message), printable for people or
//! as JSON.

use super::api::ClientKind;
use super::config::{BenchConfig, Scenario};
use super::cpu::CpuUsage;
use super::stats::{OpStats, Recorder};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    /// Successful requests measured.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

impl Latency {
    fn of(stats: &OpStats) -> Latency {
        let h = &stats.latency;
        let ms = |micros: u64| micros as f64 / 1000.0;
        Latency {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// How the measured server processes were chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PidSource {
    /// `--server-pids`.
    Given,
    /// The processes holding the sockets listening on the endpoints' ports.
    ListeningPort,
}

/// The servers' CPU over the measured window: utime + stime of their processes together.
#[derive(Debug, Clone, Serialize)]
pub struct ServerCpu {
    /// The processes measured (running for the whole window).
    pub pids: Vec<u32>,
    /// How they were chosen.
    pub found_by: PidSource,
    /// Their CPU together; `micros_per_message` is the headline cost figure.
    #[serde(flatten)]
    pub usage: CpuUsage,
}

/// One operation's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct OpReport {
    /// Requests that ended in the measured window.
    pub requests: u64,
    /// Of which failed.
    pub errors: u64,
    /// Latency of the successful ones.
    pub latency: Latency,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The workload.
    pub scenario: Scenario,
    /// The endpoints the clients were spread over.
    pub endpoints: Vec<String>,
    /// The client library that drove them.
    pub client: ClientKind,
    /// Concurrent clients (pairs for long-poll-latency).
    pub concurrency: usize,
    /// Batch size used by batch operations.
    pub batch_size: usize,
    /// Message body bytes.
    pub message_size: usize,
    /// Queues used.
    pub queues: usize,
    /// Message groups per FIFO queue (fifo only).
    pub groups: Option<usize>,
    /// Warm-up seconds (not measured).
    pub warmup_secs: f64,
    /// Measured seconds.
    pub duration_secs: f64,
    /// The scenario's headline rate: messages sent (send, send-batch), deleted
    /// (receive-delete, mixed, fifo) or received (long-poll-latency) per second.
    pub messages_per_sec: f64,
    /// Messages acknowledged by sends.
    pub sent: u64,
    /// Messages returned by receives.
    pub received: u64,
    /// Messages acknowledged by deletes.
    pub deleted: u64,
    /// Receives that returned nothing.
    pub empty_receives: u64,
    /// All requests that ended in the measured window.
    pub requests: u64,
    /// `requests` per second.
    pub requests_per_sec: f64,
    /// The operation whose latency is the headline.
    pub latency_op: String,
    /// The headline latency.
    pub latency: Latency,
    /// Every operation's numbers.
    pub operations: BTreeMap<String, OpReport>,
    /// Failed requests and failed batch entries by error code.
    pub errors: BTreeMap<String, u64>,
    /// Sum of `errors`.
    pub error_total: u64,
    /// The benchmark process's own CPU use over the measured window.
    pub client_cpu: CpuUsage,
    /// The server processes' CPU use over the measured window (`None` when they could
    /// not be found: see `notes`).
    pub server_cpu: Option<ServerCpu>,
    /// Remarks (prefill size, drained queues, cleanup failures).
    pub notes: Vec<String>,
}

impl Report {
    /// Builds the report of a run of `config` from the merged measurements.
    pub fn new(
        config: &BenchConfig,
        rec: &Recorder,
        client_cpu: CpuUsage,
        server_cpu: Option<ServerCpu>,
        mut notes: Vec<String>,
    ) -> Report {
        let secs = rec.window().measured().as_secs_f64();
        let producer_op = if config.batch_size > 1 {
            "SendMessageBatch"
        } else {
            "SendMessage"
        };
        let (messages, latency_op) = match config.scenario {
            Scenario::Send => (rec.sent, "SendMessage"),
            Scenario::SendBatch => (rec.sent, "SendMessageBatch"),
            Scenario::ReceiveDelete => (rec.deleted, "ReceiveMessage"),
            Scenario::Mixed | Scenario::Fifo => (rec.deleted, producer_op),
            Scenario::LongPollLatency => (rec.received, "Wake"),
        };
        if config.scenario == Scenario::ReceiveDelete
            && let Some(at) = rec.first_empty_at
        {
            notes.push(format!(
                "consumers found the queues empty {at:.1} s into the measurement \
                 ({} empty receives): raise --prefill",
                rec.empty_receives
            ));
        }
        if rec.ops.is_empty() {
            notes.push(
                "no request ended inside the measured window: the server is too slow for \
                 this window, raise --duration"
                    .to_string(),
            );
        }
        let operations: BTreeMap<String, OpReport> = rec
            .ops
            .iter()
            .map(|(name, stats)| {
                (
                    name.to_string(),
                    OpReport {
                        requests: stats.requests(),
                        errors: stats.errors,
                        latency: Latency::of(stats),
                    },
                )
            })
            .collect();
        // `Wake` and `SendToReceive` are derived timings, not requests.
        let requests = operations
            .iter()
            .filter(|(name, _)| !matches!(name.as_str(), "Wake" | "SendToReceive"))
            .map(|(_, op)| op.requests)
            .sum();
        Report {
            scenario: config.scenario,
            endpoints: config.endpoints.clone(),
            client: config.client,
            concurrency: config.concurrency,
            batch_size: config.batch_size,
            message_size: config.message_size,
            queues: config.effective_queues(),
            groups: (config.scenario == Scenario::Fifo).then_some(config.groups),
            warmup_secs: config.warmup,
            duration_secs: secs,
            messages_per_sec: messages as f64 / secs,
            sent: rec.sent,
            received: rec.received,
            deleted: rec.deleted,
            empty_receives: rec.empty_receives,
            requests,
            requests_per_sec: requests as f64 / secs,
            latency_op: latency_op.to_string(),
            latency: operations
                .get(latency_op)
                .map(|op| op.latency)
                .unwrap_or_default(),
            operations,
            error_total: rec.errors.values().sum(),
            errors: rec.errors.clone(),
            client_cpu: client_cpu.per_message(messages),
            server_cpu: server_cpu.map(|s| ServerCpu {
                usage: s.usage.per_message(messages),
                ..s
            }),
            notes,
        }
    }
}

fn write_latency(f: &mut fmt::Formatter<'_>, l: &Latency) -> fmt::Result {
    write!(
        f,
        "p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
    )
}

fn write_cpu(f: &mut fmt::Formatter<'_>, cpu: &CpuUsage) -> fmt::Result {
    write!(
        f,
        "user {:.2} s + sys {:.2} s = {:.0}% of one core",
        cpu.user_secs, cpu.sys_secs, cpu.percent_of_one_core
    )?;
    match cpu.micros_per_message {
        Some(us) => write!(f, ", {us:.1} µs per message"),
        None => write!(f, ", no message counted"),
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "scenario {}  concurrency {}  batch {}  message {} B  queues {}",
            self.scenario.name(),
            self.concurrency,
            self.batch_size,
            self.message_size,
            self.queues
        )?;
        if let Some(groups) = self.groups {
            write!(f, "  groups {groups}")?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "endpoints    {}  (client {})",
            self.endpoints.join(", "),
            self.client.name()
        )?;
        writeln!(
            f,
            "measured     {:.1} s after {:.1} s warm-up",
            self.duration_secs, self.warmup_secs
        )?;
        writeln!(
            f,
            "messages/s   {:.1}  (sent {}, received {}, deleted {}, empty receives {})",
            self.messages_per_sec, self.sent, self.received, self.deleted, self.empty_receives
        )?;
        writeln!(
            f,
            "requests/s   {:.1}  ({} requests)",
            self.requests_per_sec, self.requests
        )?;
        write!(f, "latency      ")?;
        write_latency(f, &self.latency)?;
        writeln!(f, "  ({})", self.latency_op)?;
        for (name, op) in &self.operations {
            write!(
                f,
                "  {name:<20} {:>9} req {:>6} err  ",
                op.requests, op.errors
            )?;
            write_latency(f, &op.latency)?;
            writeln!(f)?;
        }
        if self.errors.is_empty() {
            writeln!(f, "errors       none")?;
        } else {
            let list: Vec<String> = self
                .errors
                .iter()
                .map(|(code, n)| format!("{code} {n}"))
                .collect();
            writeln!(
                f,
                "errors       {}  ({})",
                self.error_total,
                list.join(", ")
            )?;
        }
        match &self.server_cpu {
            Some(server) => {
                write!(f, "server CPU   ")?;
                write_cpu(f, &server.usage)?;
                let pids: Vec<String> = server.pids.iter().map(u32::to_string).collect();
                let how = match server.found_by {
                    PidSource::Given => "given",
                    PidSource::ListeningPort => "found by listening port",
                };
                writeln!(f, "  (pids {}, {how})", pids.join(","))?;
            }
            None => writeln!(f, "server CPU   not measured")?,
        }
        write!(f, "client CPU   ")?;
        write_cpu(f, &self.client_cpu)?;
        writeln!(f)?;
        for note in &self.notes {
            writeln!(f, "note         {note}")?;
        }
        Ok(())
    }
}
