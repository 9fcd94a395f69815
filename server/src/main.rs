//! The `sqsraft-server` binary.

use clap::Parser;
use sqsraft_server::config::Config;
use sqsraft_server::raft::storage_fault;
use sqsraft_server::server;

mod hand_off;

/// jemalloc serves the Rust code and, through its unprefixed `malloc`, RocksDB too. Under
/// a write load glibc malloc kept over half of a node's heap as free but unreturned pages
/// (200 MB held for 89 MB in use); jemalloc's background threads return dirty pages.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    if std::env::args().nth(1).as_deref() == Some("transfer-leader") {
        std::process::exit(hand_off::run(std::env::args().skip(1)));
    }
    let config = match Config::parse().validate() {
        Ok(c) => c,
        Err(reason) => {
            eprintln!("sqsraft-server: invalid configuration: {reason}");
            std::process::exit(2);
        }
    };
    server::init_logging(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sqsraft-server: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let data_dir = config.data_dir.clone();
    let result = runtime.block_on(async {
        let running = server::start(config).await?;
        let raft = &running.node.raft;
        tokio::select! {
            () = shutdown_signal() => {
                tracing::info!("shutting down");
                raft.shutdown().await.ok();
                anyhow::Ok(Exit::Stop)
            }
            error = storage_fault::wait_until_writable_again(raft, &data_dir) => {
                tracing::warn!(%error, "storage takes writes again; restarting to recover it");
                anyhow::Ok(Exit::Restart)
            }
        }
    });
    match result {
        Ok(Exit::Stop) => {}
        Ok(Exit::Restart) => {
            // Raft has stopped; whatever the runtime still runs ends with the process image.
            let e = storage_fault::restart_in_place();
            eprintln!("sqsraft-server: {e}");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("sqsraft-server: {e:#}");
            std::process::exit(1);
        }
    }
}

/// Why the server's run ended.
enum Exit {
    /// Asked to stop by a signal.
    Stop,
    /// Raft stopped on a storage error and the storage takes writes again.
    Restart,
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
