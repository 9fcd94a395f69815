//! The `sqsraft-server` binary.

use clap::Parser;
use sqsraft_server::config::Config;
use sqsraft_server::server;

mod hand_off;

fn main() {
    if std::env::args().nth(1).as_deref() == Some("transfer-leader") {
        std::process::exit(hand_off::run(std::env::args().skip(1)));
    }
    limit_malloc_arenas();
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
    let result = runtime.block_on(async {
        let running = server::start(config).await?;
        shutdown_signal().await;
        tracing::info!("shutting down");
        running.node.raft.shutdown().await.ok();
        anyhow::Ok(())
    });
    if let Err(e) = result {
        eprintln!("sqsraft-server: {e:#}");
        std::process::exit(1);
    }
}

/// glibc gives every busy thread its own malloc arena; with RocksDB's and tokio's threads
/// that fragments memory into hundreds of idle megabytes. Two arenas keep RSS close to
/// what is in use.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator; called before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
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
