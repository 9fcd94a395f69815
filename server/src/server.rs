//! Starting a node: open storage, start Raft, bind both listeners.

use crate::config::{Config, LogFormat};
use crate::http::{internal, serve, sqs};
use crate::metrics::RequestMetrics;
use crate::node::{Node, raft_config};
use crate::peer::client::InternalClient;
use crate::peer::clock::ClusterClock;
use crate::peer::forward::Forwarder;
use crate::peer::tls::InternalTls;
use crate::raft::Raft;
use crate::raft::group_commit::GroupCommit;
use crate::raft::log_store::LogStore;
use crate::raft::network::NetworkFactory;
use crate::raft::state_machine::StateMachineStore;
use crate::tls::server_cert::ServerCert;
use anyhow::Context;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Installs the tracing subscriber in the configured format.
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SQSRAFT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// A started node and the addresses it listens on.
pub struct Running {
    pub node: Arc<Node>,
    pub sqs_addr: std::net::SocketAddr,
    pub internal_addr: std::net::SocketAddr,
}

/// Opens storage, starts Raft and serves both ports in background tasks.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let data_dir = config.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("create data dir {}", data_dir.display()))?;
    let credentials = crate::auth::CredentialStore::load(&config.credentials_file)
        .with_context(|| format!("load credentials {}", config.credentials_file.display()))?;
    std::fs::metadata(&config.cluster_token_file)
        .with_context(|| format!("cluster token file {}", config.cluster_token_file.display()))?;
    let log_store = LogStore::open(&data_dir.join("log"))?;
    let sm = StateMachineStore::open(&data_dir)?;
    let tls = match config.internal_tls_files() {
        Some(files) => {
            Some(InternalTls::load(files).context("load the internal port's TLS files")?)
        }
        None => {
            tracing::warn!(
                "internal port runs WITHOUT TLS (--internal-insecure): anyone who can reach it can act as a member"
            );
            None
        }
    };
    let sqs_tls = config
        .sqs_tls_files()
        .map(|(cert, key)| ServerCert::load(cert, key))
        .transpose()
        .context("load the SQS port's TLS files")?;
    let client = InternalClient::new(tls.as_ref());
    let network = NetworkFactory {
        source: config.id(),
        client: client.clone(),
    };
    let raft_cfg = Arc::new(raft_config(&config).map_err(anyhow::Error::msg)?);
    let raft = Raft::new(
        config.id(),
        raft_cfg,
        network,
        log_store.clone(),
        sm.clone(),
    )
    .await
    .context("start raft")?;
    let internal_listener = TcpListener::bind(config.internal_listen)
        .await
        .with_context(|| format!("bind internal port {}", config.internal_listen))?;
    let sqs_listener = TcpListener::bind(config.sqs_listen)
        .await
        .with_context(|| format!("bind SQS port {}", config.sqs_listen))?;
    let running = Running {
        sqs_addr: sqs_listener.local_addr()?,
        internal_addr: internal_listener.local_addr()?,
        node: Arc::new(Node {
            verifier: crate::auth::Verifier::new(credentials, config.regions(), "sqs"),
            config,
            group_commit: GroupCommit::start(raft.clone()),
            raft,
            sm,
            log: log_store,
            forwarder: Forwarder::new(client.clone()),
            parked_on_leader: tokio::sync::Semaphore::new(crate::receive::MAX_PARKED_ON_LEADER),
            client,
            metrics: RequestMetrics::default(),
            clock: ClusterClock::default(),
        }),
    };
    let node = running.node.clone();
    tokio::spawn(serve::serve(
        internal_listener,
        tls.as_ref().map(InternalTls::server_config),
        Arc::new(move |req, _peer| internal::handle(node.clone(), req)),
    ));
    let node = running.node.clone();
    tokio::spawn(serve::serve(
        sqs_listener,
        sqs_tls.as_ref().map(ServerCert::server_config),
        Arc::new(move |req, peer| sqs::handle(node.clone(), req, peer)),
    ));
    tokio::spawn(running.node.clone().housekeeping_loop());
    let node = running.node.clone();
    tokio::spawn(async move {
        let client = node.client.clone();
        node.clock.sample_loop(client, || node.peer_voters()).await
    });
    tracing::info!(
        node_id = running.node.config.id(),
        sqs = %running.sqs_addr,
        internal = %running.internal_addr,
        internal_tls = tls.is_some(),
        sqs_https = sqs_tls.is_some(),
        advertise = running.node.config.advertise(),
        "sqsraft-server started"
    );
    Ok(running)
}
