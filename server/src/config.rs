//! Server configuration: command-line flags, each with an `SQSRAFT_*` environment variable.

use clap::{Parser, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// sqsraft-server: one replicated, SQS-compatible queue node.
#[derive(Debug, Clone, Parser)]
#[command(name = "sqsraft-server", version, about)]
pub struct Config {
    /// Raft node id of this server (unique in the cluster, > 0).
    #[arg(
        long,
        env = "SQSRAFT_NODE_ID",
        required_unless_present = "node_id_from_hostname"
    )]
    pub node_id: Option<u64>,

    /// Derive the node id from the host name's trailing ordinal (`name-N` → N+1), as in a
    /// Kubernetes StatefulSet pod.
    #[arg(long, env = "SQSRAFT_NODE_ID_FROM_HOSTNAME")]
    pub node_id_from_hostname: bool,

    /// Directory holding the Raft log, the state machine and snapshots.
    #[arg(long, env = "SQSRAFT_DATA_DIR")]
    pub data_dir: PathBuf,

    /// Address of the SQS API and health endpoints.
    #[arg(long, env = "SQSRAFT_SQS_LISTEN", default_value = "0.0.0.0:9324")]
    pub sqs_listen: SocketAddr,

    /// Address of the internal port (Raft, request forwarding, admin API).
    #[arg(long, env = "SQSRAFT_INTERNAL_LISTEN", default_value = "0.0.0.0:9325")]
    pub internal_listen: SocketAddr,

    /// `host:port` peers use to reach this node's internal port. Defaults to
    /// --internal-listen, which must then not be a wildcard address.
    #[arg(long, env = "SQSRAFT_ADVERTISE_INTERNAL")]
    pub advertise_internal: Option<String>,

    #[command(flatten)]
    pub internal_tls: InternalTlsArgs,

    #[command(flatten)]
    pub sqs_tls: SqsTlsArgs,

    /// JSON file of SigV4 credentials: {"credentials":[{"accessKeyId":..,"secretAccessKey":..}]}.
    /// Re-read when it changes.
    #[arg(long, env = "SQSRAFT_CREDENTIALS_FILE")]
    pub credentials_file: PathBuf,

    /// File holding the bearer token that authorizes admin API calls.
    #[arg(long, env = "SQSRAFT_CLUSTER_TOKEN_FILE")]
    pub cluster_token_file: PathBuf,

    /// The home AWS region: always accepted in the SigV4 scope, and the region of the
    /// queues created before other regions were accepted.
    #[arg(long, env = "SQSRAFT_REGION", default_value = "us-east-1")]
    pub region: String,

    /// Further regions a SigV4 scope may name, comma-separated, or `*` for any. Queues
    /// belong to the region their requests are signed for: same-name queues of two
    /// regions are different queues, and URLs and ARNs name the region.
    #[arg(long, env = "SQSRAFT_ACCEPTED_REGIONS", value_delimiter = ',')]
    pub accepted_regions: Vec<String>,

    /// Account id shown in queue URLs and ARNs.
    #[arg(long, env = "SQSRAFT_ACCOUNT_ID", default_value = "000000000000")]
    pub account_id: String,

    /// Log format.
    #[arg(long, env = "SQSRAFT_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Leader heartbeat interval in milliseconds.
    #[arg(long, env = "SQSRAFT_HEARTBEAT_INTERVAL_MS", default_value_t = 100)]
    pub heartbeat_interval_ms: u64,

    /// Lower bound of the randomized election timeout in milliseconds.
    #[arg(long, env = "SQSRAFT_ELECTION_TIMEOUT_MIN_MS", default_value_t = 500)]
    pub election_timeout_min_ms: u64,

    /// Upper bound of the randomized election timeout in milliseconds.
    #[arg(long, env = "SQSRAFT_ELECTION_TIMEOUT_MAX_MS", default_value_t = 1000)]
    pub election_timeout_max_ms: u64,

    /// Build a snapshot after this many log entries since the last one.
    #[arg(
        long,
        env = "SQSRAFT_SNAPSHOT_INTERVAL_ENTRIES",
        default_value_t = 20_000
    )]
    pub snapshot_interval_entries: u64,

    /// Log entries kept behind a snapshot, so slow followers catch up without one.
    #[arg(long, env = "SQSRAFT_SNAPSHOT_KEEP_ENTRIES", default_value_t = 5_000)]
    pub snapshot_keep_entries: u64,

    /// How long a request may wait for a leader and retry across leader changes, in ms.
    #[arg(long, env = "SQSRAFT_REQUEST_DEADLINE_MS", default_value_t = 15_000)]
    pub request_deadline_ms: u64,

    /// TEST ONLY: percentage (0–100) of successful SendMessage(Batch) replies replaced by
    /// an InternalFailure after the send committed, to exercise client retries of
    /// ambiguous outcomes. Never set in production.
    #[arg(long, env = "SQSRAFT_FAULT_FAIL_AFTER_COMMIT_PERCENT", default_value_t = 0,
          value_parser = clap::value_parser!(u8).range(0..=100), hide = true)]
    pub fault_fail_after_commit_percent: u8,
}

/// Where the PEM files of the internal port's TLS live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA certificate(s) peers' certificates must chain to.
    pub ca: PathBuf,
    /// This member's certificate chain (leaf first).
    pub cert: PathBuf,
    /// The private key of `cert` (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The internal port's mutual TLS: on unless `--internal-insecure` is given.
#[derive(Debug, Clone, clap::Args)]
pub struct InternalTlsArgs {
    /// PEM file of the CA certificate(s) every member's certificate must chain to (old and
    /// new CA concatenated during a CA rotation). Re-read when it changes.
    #[arg(
        long,
        env = "SQSRAFT_INTERNAL_CA_FILE",
        required_unless_present = "internal_insecure"
    )]
    pub internal_ca_file: Option<PathBuf>,

    /// PEM file of this member's certificate chain, signed by the CA; its SANs must name the
    /// host of --advertise-internal and 127.0.0.1 (the preStop hand-off dials that).
    /// Re-read when it changes.
    #[arg(
        long,
        env = "SQSRAFT_INTERNAL_CERT_FILE",
        required_unless_present = "internal_insecure"
    )]
    pub internal_cert_file: Option<PathBuf>,

    /// PEM file of the private key of --internal-cert-file. Re-read when it changes.
    #[arg(
        long,
        env = "SQSRAFT_INTERNAL_KEY_FILE",
        required_unless_present = "internal_insecure"
    )]
    pub internal_key_file: Option<PathBuf>,

    /// Serve and dial the internal port in cleartext, without certificates: anyone who can
    /// reach the port can then act as a member. Only for set-ups that have no PKI yet.
    #[arg(
        long,
        env = "SQSRAFT_INTERNAL_INSECURE",
        conflicts_with_all = ["internal_ca_file", "internal_cert_file", "internal_key_file"]
    )]
    pub internal_insecure: bool,
}

/// HTTPS on the SQS port: on when a certificate and key are given, plain HTTP otherwise.
#[derive(Debug, Clone, clap::Args)]
pub struct SqsTlsArgs {
    /// PEM file of the SQS port's server certificate chain (leaf first); with it the port
    /// speaks HTTPS only (TLS 1.2 and 1.3). Its SANs must name the hosts clients dial.
    /// Re-read when it changes.
    #[arg(long, env = "SQSRAFT_SQS_TLS_CERT_FILE", requires = "sqs_tls_key_file")]
    pub sqs_tls_cert_file: Option<PathBuf>,

    /// PEM file of the private key of --sqs-tls-cert-file. Re-read when it changes.
    #[arg(long, env = "SQSRAFT_SQS_TLS_KEY_FILE", requires = "sqs_tls_cert_file")]
    pub sqs_tls_key_file: Option<PathBuf>,
}

impl InternalTlsArgs {
    /// The TLS files, or `None` on an insecure internal port.
    pub fn files(&self) -> Option<TlsFiles> {
        if self.internal_insecure {
            return None;
        }
        Some(TlsFiles {
            ca: self.internal_ca_file.clone()?,
            cert: self.internal_cert_file.clone()?,
            key: self.internal_key_file.clone()?,
        })
    }
}

impl Config {
    /// Checks cross-field rules and resolves derived values; the error is one line.
    pub fn validate(mut self) -> Result<Self, String> {
        if self.node_id.is_none() && self.node_id_from_hostname {
            let host = hostname()?;
            let ordinal: u64 = host
                .rsplit('-')
                .next()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("host name {host:?} does not end in -<ordinal>"))?;
            self.node_id = Some(ordinal + 1);
        }
        if self.node_id == Some(0) {
            return Err("--node-id must be greater than 0".into());
        }
        if self.advertise_internal.is_none() {
            if self.internal_listen.ip().is_unspecified() {
                return Err(
                    "--advertise-internal is required when --internal-listen is a wildcard address"
                        .into(),
                );
            }
            self.advertise_internal = Some(self.internal_listen.to_string());
        }
        if self.heartbeat_interval_ms == 0
            || self.election_timeout_min_ms <= self.heartbeat_interval_ms
        {
            return Err(
                "--election-timeout-min-ms must exceed --heartbeat-interval-ms (> 0)".into(),
            );
        }
        if self.election_timeout_max_ms <= self.election_timeout_min_ms {
            return Err("--election-timeout-max-ms must exceed --election-timeout-min-ms".into());
        }
        if self.region.is_empty() || self.account_id.is_empty() {
            return Err("--region and --account-id must not be empty".into());
        }
        self.accepted_regions.retain(|r| !r.is_empty());
        if let Some(bad) = self
            .accepted_regions
            .iter()
            .find(|r| *r != "*" && !is_region_name(r))
        {
            return Err(format!(
                "--accepted-regions: {bad:?} is not a region name (lower-case letters, digits, hyphens) or *"
            ));
        }
        Ok(self)
    }

    /// The node id (resolved by [`Config::validate`]).
    pub fn id(&self) -> u64 {
        self.node_id.unwrap_or_default()
    }

    /// The regions a request may be signed for.
    pub fn regions(&self) -> Regions {
        if self.accepted_regions.iter().any(|r| r == "*") {
            Regions::Any
        } else {
            let mut also = self.accepted_regions.clone();
            also.retain(|r| r != &self.region);
            Regions::Listed {
                home: self.region.clone(),
                also,
            }
        }
    }

    /// The internal port's TLS files; `None` with --internal-insecure.
    pub fn internal_tls_files(&self) -> Option<TlsFiles> {
        self.internal_tls.files()
    }

    /// The SQS port's certificate and key files; `None` serves plain HTTP.
    pub fn sqs_tls_files(&self) -> Option<(PathBuf, PathBuf)> {
        Some((
            self.sqs_tls.sqs_tls_cert_file.clone()?,
            self.sqs_tls.sqs_tls_key_file.clone()?,
        ))
    }

    /// The advertised internal address (resolved by [`Config::validate`]).
    pub fn advertise(&self) -> &str {
        self.advertise_internal.as_deref().unwrap_or_default()
    }
}

/// The regions SigV4 scopes may name (see `--accepted-regions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Regions {
    /// The home region and the listed others.
    Listed { home: String, also: Vec<String> },
    /// Any region name.
    Any,
}

impl Regions {
    /// Whether a request signed for `region` is accepted.
    pub fn accepts(&self, region: &str) -> bool {
        match self {
            Regions::Listed { home, also } => region == home || also.iter().any(|r| r == region),
            Regions::Any => is_region_name(region),
        }
    }
}

impl From<String> for Regions {
    /// Just the one region.
    fn from(home: String) -> Self {
        Regions::Listed {
            home,
            also: Vec::new(),
        }
    }
}

impl From<&str> for Regions {
    /// Just the one region.
    fn from(home: &str) -> Self {
        home.to_string().into()
    }
}

/// A plausible region name (`us-east-1`, `eu-central-2`, `local`): it becomes part of
/// queue keys, URLs and ARNs, so nothing else (no `/`, `:`) may pass.
fn is_region_name(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn hostname() -> Result<String, String> {
    if let Ok(h) = std::env::var("HOSTNAME")
        && !h.is_empty()
    {
        return Ok(h);
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .map_err(|e| format!("cannot determine host name: {e}"))
}
