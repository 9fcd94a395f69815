//! `sqsraft-server transfer-leader`: asks the local node to hand leadership to another
//! voter before it stops (a pod's preStop hook). Exits 0 when leadership moved or this
//! node was not the leader, non-zero otherwise.

use bytes::Bytes;
use clap::Parser;
use sqsraft_server::config::InternalTlsArgs;
use sqsraft_server::peer::client::InternalClient;
use sqsraft_server::peer::tls::InternalTls;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Hand leadership off from the local node.
#[derive(Parser)]
#[command(name = "sqsraft-server transfer-leader")]
struct Args {
    /// How long to wait for the hand-off, in milliseconds.
    #[arg(long, default_value_t = 20_000)]
    timeout_ms: u64,
    /// The node's internal listener; the call goes to its port on 127.0.0.1.
    #[arg(long, env = "SQSRAFT_INTERNAL_LISTEN", default_value = "0.0.0.0:9325")]
    internal_listen: SocketAddr,
    /// The admin API's bearer token file.
    #[arg(long, env = "SQSRAFT_CLUSTER_TOKEN_FILE")]
    cluster_token_file: PathBuf,
    /// The node's own TLS identity (the same files and variables as the server's).
    #[command(flatten)]
    internal_tls: InternalTlsArgs,
}

/// Runs the subcommand; returns the process exit code.
pub fn run(args: impl IntoIterator<Item = String>) -> i32 {
    let args = match Args::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return 2;
        }
    };
    let token = match std::fs::read_to_string(&args.cluster_token_file) {
        Ok(t) => t.trim().to_string(),
        Err(e) => {
            eprintln!(
                "transfer-leader: read {}: {e}",
                args.cluster_token_file.display()
            );
            return 1;
        }
    };
    let tls = match args.internal_tls.files().map(InternalTls::load).transpose() {
        Ok(tls) => tls,
        Err(e) => {
            eprintln!("transfer-leader: {e:#}");
            return 1;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("transfer-leader: runtime: {e}");
            return 1;
        }
    };
    let addr = format!("127.0.0.1:{}", args.internal_listen.port());
    let auth = format!("Bearer {token}");
    let result = runtime.block_on(async {
        InternalClient::new(tls.as_ref())
            .post(
                &addr,
                "/admin/transfer-leader",
                &[
                    ("authorization", auth.as_str()),
                    ("content-type", "application/json"),
                ],
                Bytes::from_static(b"{}"),
                Duration::from_millis(args.timeout_ms),
            )
            .await
    });
    match result {
        Ok((status, _)) if status.is_success() => 0,
        Ok((status, body)) => {
            eprintln!(
                "transfer-leader: {status}: {}",
                String::from_utf8_lossy(&body)
            );
            1
        }
        Err(e) => {
            eprintln!("transfer-leader: {e}");
            1
        }
    }
}
