//! `sqsraft-local`: runs a replicated sqsraft cluster of real server processes on
//! 127.0.0.1, ready for `AWS_CA_BUNDLE=<data dir>/tls/ca.pem aws --endpoint-url
//! https://127.0.0.1:9324 sqs ...`. A development CA generated in `<data dir>/tls` signs
//! each node's SQS port (HTTPS) certificate and the internal port's mutual-TLS ones.

use anyhow::Result;
use clap::Parser;
use sqsraft_e2e::cluster::{CLIENT_IDENTITY, Cluster, ClusterSpec, DEV_ACCESS_KEY, DEV_SECRET_KEY};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Run a local sqsraft cluster until Ctrl-C / SIGTERM.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// Node i gets SQS port P+10·(i−1) and internal port P+10·(i−1)+1.
    #[arg(long, default_value_t = 9324)]
    base_port: u16,
    /// Where the nodes keep their data; reused across restarts (the cluster keeps its data).
    #[arg(long, default_value = ".local-cluster")]
    data_dir: PathBuf,
    /// Credentials file; by default a development file is generated in the data dir.
    #[arg(long)]
    credentials_file: Option<PathBuf>,
    /// Run the internal port in cleartext (no development CA), e.g. to measure what TLS
    /// costs. Anyone on this machine can then act as a member.
    #[arg(long)]
    internal_insecure: bool,
    /// Serve the SQS ports over plain HTTP instead of HTTPS.
    #[arg(long)]
    sqs_plain_http: bool,
    /// Extra flags passed to every sqsraft-server (after `--`).
    #[arg(last = true)]
    server_args: Vec<String>,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.nodes == 0 {
        anyhow::bail!("--nodes must be at least 1");
    }
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let cluster = Cluster::start(ClusterSpec {
        nodes: args.nodes,
        base_port: args.base_port,
        data_dir: args.data_dir.clone(),
        credentials_file: args.credentials_file.clone(),
        extra_args: args.server_args.clone(),
        internal_tls: !args.internal_insecure,
        sqs_tls: !args.sqs_plain_http,
    })?;
    for node in &cluster.nodes {
        println!(
            "node {}: SQS endpoint {}  (internal {})",
            node.id,
            node.endpoint(),
            cluster.internal_url(node.id, "")?
        );
    }
    let first = cluster.nodes[0].endpoint();
    match cluster.sqs_ca_file() {
        Some(ca) => {
            let ca = std::path::absolute(&ca)?;
            println!(
                "SQS endpoints: HTTPS, certificates of the development CA {}",
                ca.display()
            );
            println!(
                "aws CLI: AWS_CA_BUNDLE={} aws --endpoint-url {first} sqs list-queues  (or --ca-bundle {})",
                ca.display(),
                ca.display()
            );
        }
        None => {
            println!("SQS endpoints: plain HTTP (--sqs-plain-http)");
            println!("aws CLI: aws --endpoint-url {first} sqs list-queues");
        }
    }
    match &cluster.tls {
        Some(tls) => println!(
            "internal port: mutual TLS, CA {} (admin API: curl --cacert {} --cert {} --key {})",
            tls.ca_file().display(),
            tls.ca_file().display(),
            tls.cert_file(CLIENT_IDENTITY).display(),
            tls.key_file(CLIENT_IDENTITY).display()
        ),
        None => println!("internal port: cleartext (--internal-insecure)"),
    }
    match &args.credentials_file {
        Some(f) => println!("credentials: from {}", f.display()),
        None => {
            println!(
                "credentials: AWS_ACCESS_KEY_ID={DEV_ACCESS_KEY} AWS_SECRET_ACCESS_KEY={DEV_SECRET_KEY} AWS_DEFAULT_REGION=us-east-1"
            );
        }
    }
    println!(
        "data dir: {}  (node logs: node-N.log)",
        args.data_dir.display()
    );
    println!("ready");
    while !STOP.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("stopping");
    drop(cluster);
    Ok(())
}
