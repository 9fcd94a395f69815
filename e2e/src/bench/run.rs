//! One benchmark run: create queues, prefill, start the client loops for the scenario,
//! sample the client's and the servers' CPU over the measured window, collect, clean up.

use super::api::SqsApi;
use super::config::{BenchConfig, Scenario};
use super::cpu::{CpuTime, ProcessSample};
use super::listeners;
use super::queues;
use super::report::{PidSource, Report, ServerCpu};
use super::stats::{Recorder, Window};
use super::workload::{Consumer, LongPollPair, Producer, Target};
use anyhow::Result;
use std::sync::Arc;
use tokio::task::JoinSet;
use tokio::time::{Duration, Instant, sleep_until};

/// Longest time a prefill may take before the run starts with what was stored.
const PREFILL_LIMIT: Duration = Duration::from_secs(120);

/// WaitTimeSeconds of receive-delete, mixed and fifo consumers.
const CONSUMER_WAIT_SECONDS: u32 = 1;

/// Runs `config` to completion (always bounded in time) and reports what it measured.
/// The queues it created are deleted even when the run fails.
pub async fn run(config: &BenchConfig) -> Result<Report> {
    config.validate()?;
    let clients = config
        .endpoints
        .iter()
        .map(|e| SqsApi::new(config.client, e, &config.access_key, &config.secret_key))
        .collect::<Result<Vec<_>>>()?;
    let prefix = format!("bench-{:08x}", rand::random::<u32>());
    let fifo = config.scenario == Scenario::Fifo;
    let urls = queues::create(&clients[0], &prefix, config.effective_queues(), fifo).await?;
    let outcome = drive(config, &clients, &urls).await;
    let cleanup = queues::delete(&clients[0], &urls).await;
    let mut report = outcome?;
    if let Err(e) = cleanup {
        report.notes.push(format!("cleanup failed: {e:#}"));
    }
    Ok(report)
}

async fn drive(config: &BenchConfig, clients: &[SqsApi], urls: &[String]) -> Result<Report> {
    let body = Arc::new("x".repeat(config.message_size));
    let mut notes = Vec::new();
    if config.scenario == Scenario::ReceiveDelete && config.prefill > 0 {
        let began = Instant::now();
        let stored = queues::prefill(
            clients,
            urls,
            config.prefill,
            body.clone(),
            config.concurrency.min(16),
            began + PREFILL_LIMIT,
        )
        .await?;
        notes.push(format!(
            "prefilled {stored} messages in {:.1} s",
            began.elapsed().as_secs_f64()
        ));
    }

    let start = Instant::now();
    let window = Window {
        measure_from: start + config.warmup(),
        end: start + config.warmup() + config.duration(),
    };
    let target = |i: usize, endpoint: usize| Target {
        client: clients[endpoint % clients.len()].clone(),
        queue_url: urls[i % urls.len()].clone(),
    };
    let producer = |i: usize, batch: Option<usize>| Producer {
        target: target(i, i),
        batch,
        fifo_groups: (config.scenario == Scenario::Fifo).then_some(config.groups),
        id: i,
        body: body.clone(),
    };
    let consumer = |i: usize| Consumer {
        target: target(i, i),
        max_messages: config.batch_size,
        wait_seconds: CONSUMER_WAIT_SECONDS,
    };
    let single_or_batch = (config.batch_size > 1).then_some(config.batch_size);

    let servers = server_processes(config);
    if let Err(e) = &servers {
        notes.push(format!("server CPU not measured: {e:#}"));
    }

    let mut tasks = JoinSet::new();
    let rec = || Recorder::new(window);
    let n = config.concurrency;
    match config.scenario {
        Scenario::Send => (0..n).for_each(|i| {
            tasks.spawn(producer(i, None).run(rec()));
        }),
        Scenario::SendBatch => (0..n).for_each(|i| {
            tasks.spawn(producer(i, Some(config.batch_size)).run(rec()));
        }),
        Scenario::ReceiveDelete => (0..n).for_each(|i| {
            tasks.spawn(consumer(i).run(rec()));
        }),
        Scenario::Mixed | Scenario::Fifo => {
            let producers = n - n / 2;
            (0..producers).for_each(|i| {
                tasks.spawn(producer(i, single_or_batch).run(rec()));
            });
            (0..n / 2).for_each(|i| {
                tasks.spawn(consumer(i).run(rec()));
            });
        }
        Scenario::LongPollLatency => (0..n).for_each(|i| {
            let pair = LongPollPair {
                producer: target(i, i),
                consumer: target(i, i + 1),
                body: body.clone(),
            };
            tasks.spawn(pair.run(rec()));
        }),
    }

    let server_pids = servers
        .as_ref()
        .map(|(pids, _)| pids.as_slice())
        .unwrap_or(&[]);
    sleep_until(window.measure_from).await;
    let cpu_before = CpuTime::now();
    let servers_before = ProcessSample::take(server_pids);
    sleep_until(window.end).await;
    let servers_after = ProcessSample::take(server_pids);
    let cpu = CpuTime::now().usage_since(cpu_before, window.measured());
    let server_cpu = servers.ok().and_then(|(pids, found_by)| {
        server_usage(
            &pids,
            found_by,
            &servers_before,
            &servers_after,
            window,
            &mut notes,
        )
    });

    let mut total = rec();
    while let Some(done) = tasks.join_next().await {
        total.merge(done?);
    }
    Ok(Report::new(config, &total, cpu, server_cpu, notes))
}

/// The servers' CPU between two samples of `pids`, noting pids that were not running
/// for the whole window (`None` when none was).
fn server_usage(
    pids: &[u32],
    found_by: PidSource,
    before: &ProcessSample,
    after: &ProcessSample,
    window: Window,
    notes: &mut Vec<String>,
) -> Option<ServerCpu> {
    let cpu = after.since(before, pids);
    if !cpu.missing.is_empty() {
        notes.push(format!(
            "server pid(s) {:?} were not running for the whole window; their CPU is not \
             counted",
            cpu.missing
        ));
    }
    (!cpu.measured.is_empty()).then(|| ServerCpu {
        pids: cpu.measured,
        found_by,
        usage: cpu.used.usage_since(CpuTime::default(), window.measured()),
    })
}

/// The server processes to measure: `--server-pids`, or those listening on the
/// endpoints' ports.
fn server_processes(config: &BenchConfig) -> Result<(Vec<u32>, PidSource)> {
    if !config.server_pids.is_empty() {
        return Ok((config.server_pids.clone(), PidSource::Given));
    }
    Ok((
        listeners::server_pids(&config.endpoints)?,
        PidSource::ListeningPort,
    ))
}
