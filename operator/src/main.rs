//! The `sqsraft-operator` binary: leader election, the QueueCluster controller, and the
//! `/metrics` + `/healthz` endpoint.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use sqsraft_operator::build::{OperatorDefaults, OperatorPods};
use sqsraft_operator::controller::{self, Context, PodHttpConnector};
use sqsraft_operator::lease::{self, LeaseConfig};
use sqsraft_operator::metrics::{self, Metrics};
use sqsraft_operator::pki::Lifetimes;
use sqsraft_operator::queue;
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Kubernetes operator for sqsraft QueueClusters.
#[derive(Debug, Parser)]
#[command(name = "sqsraft-operator", version, about)]
struct Args {
    /// Log format.
    #[arg(
        long,
        env = "SQSRAFT_OPERATOR_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: LogFormat,

    /// Address of `/metrics` and `/healthz`.
    #[arg(
        long,
        env = "SQSRAFT_OPERATOR_METRICS_LISTEN",
        default_value = "0.0.0.0:8080"
    )]
    metrics_listen: SocketAddr,

    /// Only watch this namespace (default: all namespaces).
    #[arg(long, env = "SQSRAFT_OPERATOR_WATCH_NAMESPACE")]
    watch_namespace: Option<String>,

    /// Server image for QueueClusters without `spec.image`.
    #[arg(long, env = "SQSRAFT_OPERATOR_SERVER_IMAGE")]
    server_image: Option<String>,

    /// DNS domain of the Kubernetes cluster.
    #[arg(
        long,
        env = "SQSRAFT_OPERATOR_CLUSTER_DOMAIN",
        default_value = "cluster.local"
    )]
    cluster_domain: String,

    /// Validity of a generated cluster CA, in seconds (default ten years). It is rotated
    /// when a third is left.
    #[arg(long, env = "SQSRAFT_OPERATOR_CA_VALIDITY_SECONDS", default_value_t = Lifetimes::default().ca.as_secs())]
    ca_validity_seconds: u64,

    /// Validity of a member certificate, in seconds (default 90 days). It is renewed when
    /// a third is left.
    #[arg(long, env = "SQSRAFT_OPERATOR_CERTIFICATE_VALIDITY_SECONDS", default_value_t = Lifetimes::default().certificate.as_secs())]
    certificate_validity_seconds: u64,

    /// Longest time a changed Secret takes to reach every pod's files (kubelet sync period
    /// and cache), in seconds: each step of a CA rotation waits this long.
    #[arg(long, env = "SQSRAFT_OPERATOR_SECRET_PROPAGATION_SECONDS", default_value_t = Lifetimes::default().propagation.as_secs())]
    secret_propagation_seconds: u64,

    /// Disable leader election (only with a single operator replica).
    #[arg(long, env = "SQSRAFT_OPERATOR_NO_LEADER_ELECTION")]
    no_leader_election: bool,

    /// Namespace of the leader-election Lease (default: the operator's own namespace).
    #[arg(long, env = "POD_NAMESPACE")]
    lease_namespace: Option<String>,

    /// Name of the leader-election Lease.
    #[arg(
        long,
        env = "SQSRAFT_OPERATOR_LEASE_NAME",
        default_value = "sqsraft-operator"
    )]
    lease_name: String,

    /// This replica's identity in the Lease (its pod name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,

    /// Labels selecting the operator's pods (`key=value,...`); with the operator's
    /// namespace (POD_NAMESPACE) the servers' NetworkPolicy admits these pods to the
    /// internal port.
    #[arg(long, env = "SQSRAFT_OPERATOR_POD_LABELS", value_delimiter = ',', value_parser = label)]
    pod_labels: Vec<(String, String)>,

    /// Seconds between two resyncs of a Queue that repair changes made behind the
    /// operator's back.
    #[arg(long, env = "SQSRAFT_OPERATOR_QUEUE_RESYNC_SECONDS", default_value_t = queue::DEFAULT_RESYNC.as_secs())]
    queue_resync_seconds: u64,
}

/// Parses one `key=value` label.
fn label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not key=value")),
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let metrics = Arc::new(Metrics::default());
    let client = kube::client::ClientBuilder::try_from(kube::Config::infer().await?)?
        .with_layer(&metrics::CountApiRequests(metrics.clone()))
        .build();
    let listener = tokio::net::TcpListener::bind(args.metrics_listen).await?;
    tokio::spawn(metrics::serve(listener, metrics.clone()));

    let pki = Lifetimes {
        ca: Duration::from_secs(args.ca_validity_seconds),
        certificate: Duration::from_secs(args.certificate_validity_seconds),
        propagation: Duration::from_secs(args.secret_propagation_seconds),
    };
    pki.check()?;
    let mut defaults = OperatorDefaults {
        cluster_domain: args.cluster_domain.clone(),
        pki,
        ..OperatorDefaults::default()
    };
    if let Some(image) = args.server_image.clone() {
        defaults.image = image;
    }
    if let Some(namespace) = args.lease_namespace.clone()
        && !args.pod_labels.is_empty()
    {
        defaults.operator_pods = Some(OperatorPods {
            namespace,
            labels: args.pod_labels.iter().cloned().collect(),
        });
    } else {
        tracing::warn!(
            "POD_NAMESPACE or SQSRAFT_OPERATOR_POD_LABELS unset: the servers' NetworkPolicy \
             admits no operator pod to the internal port"
        );
    }

    // Leader election: reconcile only while holding the Lease.
    let (leading_tx, mut leading) = watch::channel(args.no_leader_election);
    let lease = if args.no_leader_election {
        None
    } else {
        let namespace = args
            .lease_namespace
            .clone()
            .ok_or("set --lease-namespace (POD_NAMESPACE) or --no-leader-election")?;
        let identity = args
            .identity
            .clone()
            .ok_or("set --identity (POD_NAME) or --no-leader-election")?;
        let config = LeaseConfig {
            name: args.lease_name.clone(),
            namespace: namespace.clone(),
            identity,
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
        };
        let api: Api<Lease> = Api::namespaced(client.clone(), &namespace);
        tokio::spawn(lease::run(api.clone(), config.clone(), leading_tx));
        Some((api, config))
    };
    tracing::info!("waiting for the leader Lease");
    tokio::select! {
        r = leading.wait_for(|l| *l) => { r?; }
        _ = shutdown_signal() => return Ok(()),
    }
    metrics.set_leading(true);
    tracing::info!("leading; starting the QueueCluster and Queue controllers");

    let mut queue_ctx = queue::Context::new(client.clone(), queue::StatusEndpoint);
    queue_ctx.resync = Duration::from_secs(args.queue_resync_seconds.max(1));
    let queue_ctx = Arc::new(queue_ctx);
    let ctx = Arc::new(Context::new(
        client,
        defaults,
        PodHttpConnector,
        metrics.clone(),
    ));
    // Stop when the Lease is lost (another replica may take over) or on a signal.
    let mut lost = leading.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<&'static str>();
    tokio::spawn(async move {
        let reason = tokio::select! {
            _ = lost.wait_for(|l| !*l) => "lost the leader Lease",
            _ = shutdown_signal() => "shutdown signal",
        };
        let _ = stop_tx.send(reason);
    });
    let (reason_tx, reason_rx) = tokio::sync::oneshot::channel();
    // Both controllers stop together: the QueueCluster one on the stop reason, the
    // Queue one when that has been taken.
    let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
    let clusters = controller::run(ctx, args.watch_namespace.clone(), async move {
        let reason = stop_rx.await.unwrap_or("shutdown");
        let _ = reason_tx.send(reason);
        let _ = stopped_tx.send(());
    });
    let queues = queue::run(queue_ctx, args.watch_namespace.clone(), async move {
        let _ = stopped_rx.await;
    });
    tokio::join!(clusters, queues);
    metrics.set_leading(false);
    let reason = reason_rx.await.unwrap_or("controller stopped");
    tracing::info!(reason, "controller stopped");
    if let Some((api, config)) = lease
        && let Err(e) = lease::release(&api, &config).await
    {
        tracing::warn!(error = %e, "cannot release the leader Lease");
    }
    if reason == "lost the leader Lease" {
        return Err("lost the leader Lease".into());
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    init_logging(args.log_format);
    if let Err(e) = run(args).await {
        tracing::error!(error = %e, "sqsraft-operator failed");
        eprintln!("sqsraft-operator: {e}");
        std::process::exit(1);
    }
}
