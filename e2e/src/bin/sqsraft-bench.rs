//! `sqsraft-bench`: a load generator for SQS-compatible endpoints (sqsraft, moto,
//! LocalStack, AWS). See `docs/benchmarks.md`.

use anyhow::Result;
use clap::Parser;
use sqsraft_e2e::bench::{self, BenchConfig};

/// Benchmark an SQS endpoint with a raw signed JSON client or the Rust AWS SDK.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    config: BenchConfig,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let report = bench::run(&cli.config).await?;
    if cli.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{report}");
    }
    Ok(())
}
