//! What a benchmark run does: scenario, load shape and target endpoints.

use super::api::ClientKind;
use crate::cluster::{DEV_ACCESS_KEY, DEV_SECRET_KEY};
use anyhow::{Result, bail};
use serde::Serialize;
use std::time::Duration;

/// Largest message body SQS accepts by default (256 KiB).
const MAX_MESSAGE_SIZE: usize = 262_144;

/// The workload a run drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Every client loops on SendMessage.
    Send,
    /// Every client loops on SendMessageBatch with `--batch-size` entries.
    SendBatch,
    /// The queues are prefilled; every client loops on ReceiveMessage (up to
    /// `--batch-size` messages) followed by DeleteMessage(Batch).
    ReceiveDelete,
    /// Producer/consumer pairs: the consumer long-polls (WaitTimeSeconds=20), the producer
    /// sends one message at a time; measures send acknowledgement to receive return.
    LongPollLatency,
    /// Half the clients produce, half consume and delete, at the same time.
    Mixed,
    /// `mixed` on FIFO queues, messages spread over `--groups` message groups.
    Fifo,
}

impl Scenario {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Send => "send",
            Scenario::SendBatch => "send-batch",
            Scenario::ReceiveDelete => "receive-delete",
            Scenario::LongPollLatency => "long-poll-latency",
            Scenario::Mixed => "mixed",
            Scenario::Fifo => "fifo",
        }
    }
}

/// Parameters of one benchmark run (also the `sqsraft-bench` command line).
#[derive(Debug, Clone, clap::Args)]
pub struct BenchConfig {
    /// SQS endpoint, e.g. http://127.0.0.1:9324; repeat or comma-separate to spread the
    /// clients over several nodes.
    #[arg(long = "endpoint", required = true, value_delimiter = ',')]
    pub endpoints: Vec<String>,
    /// Access key used to sign requests.
    #[arg(long, default_value = DEV_ACCESS_KEY)]
    pub access_key: String,
    /// Secret key used to sign requests.
    #[arg(long, default_value = DEV_SECRET_KEY)]
    pub secret_key: String,
    /// The client library driving the endpoint: `raw` (hyper + aws-sigv4, the cheaper) or
    /// `sdk` (aws-sdk-sqs).
    #[arg(long, value_enum, default_value_t = ClientKind::Raw)]
    pub client: ClientKind,
    /// The workload.
    #[arg(long, value_enum, default_value_t = Scenario::Send)]
    pub scenario: Scenario,
    /// Concurrent clients (producer/consumer pairs for long-poll-latency).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Entries per SendMessageBatch / messages per ReceiveMessage (1–10).
    #[arg(long, default_value_t = 10)]
    pub batch_size: usize,
    /// Message body size in bytes.
    #[arg(long, default_value_t = 100)]
    pub message_size: usize,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Number of queues the clients are spread over.
    #[arg(long, default_value_t = 1)]
    pub queues: usize,
    /// Message groups per FIFO queue (fifo scenario).
    #[arg(long, default_value_t = 10)]
    pub groups: usize,
    /// Messages stored before a receive-delete run (spread over the queues); the run
    /// reports when consumers found the queues empty.
    #[arg(long, default_value_t = 20_000)]
    pub prefill: usize,
    /// Server processes whose CPU is measured (comma list of pids). Default: the
    /// processes listening on the endpoints' ports, when every endpoint is a loopback URL.
    #[arg(long, value_delimiter = ',')]
    pub server_pids: Vec<u32>,
}

impl BenchConfig {
    /// A configuration for `scenario` against `endpoints` with the defaults above.
    pub fn new(scenario: Scenario, endpoints: Vec<String>) -> BenchConfig {
        BenchConfig {
            endpoints,
            access_key: DEV_ACCESS_KEY.to_string(),
            secret_key: DEV_SECRET_KEY.to_string(),
            client: ClientKind::Raw,
            scenario,
            concurrency: 16,
            batch_size: 10,
            message_size: 100,
            duration: 10.0,
            warmup: 2.0,
            queues: 1,
            groups: 10,
            prefill: 20_000,
            server_pids: Vec::new(),
        }
    }

    /// Rejects parameters the scenarios cannot honour.
    pub fn validate(&self) -> Result<()> {
        if self.endpoints.is_empty() {
            bail!("at least one --endpoint is required");
        }
        if self.concurrency == 0 {
            bail!("--concurrency must be at least 1");
        }
        if matches!(self.scenario, Scenario::Mixed | Scenario::Fifo) && self.concurrency < 2 {
            bail!("--concurrency must be at least 2 for mixed and fifo (producers and consumers)");
        }
        if !(1..=10).contains(&self.batch_size) {
            bail!("--batch-size must be between 1 and 10");
        }
        if !(1..=MAX_MESSAGE_SIZE).contains(&self.message_size) {
            bail!("--message-size must be between 1 and {MAX_MESSAGE_SIZE}");
        }
        if !(self.duration > 0.0 && self.duration <= 3600.0) {
            bail!("--duration must be in (0, 3600] seconds");
        }
        if !(0.0..=600.0).contains(&self.warmup) {
            bail!("--warmup must be in [0, 600] seconds");
        }
        if self.queues == 0 || self.groups == 0 {
            bail!("--queues and --groups must be at least 1");
        }
        Ok(())
    }

    /// The measured duration.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration)
    }

    /// The warm-up duration.
    pub fn warmup(&self) -> Duration {
        Duration::from_secs_f64(self.warmup)
    }

    /// Queues actually created: long-poll pairs need one queue each so that a consumer
    /// only ever receives its own producer's message.
    pub fn effective_queues(&self) -> usize {
        match self.scenario {
            Scenario::LongPollLatency => self.queues.max(self.concurrency),
            _ => self.queues,
        }
    }
}
