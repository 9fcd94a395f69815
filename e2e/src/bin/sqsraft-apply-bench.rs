//! `sqsraft-apply-bench`: the state machine's apply cost per command type, without the
//! network, Raft or HTTP.
//!
//! Generates a deterministic command stream (create queues; single and batch sends;
//! receive and delete batches until the queue is empty; the same on a FIFO queue spread
//! over message groups; housekeeping) and replays it into a fresh state database opened
//! as the server opens it, through the server's public apply path: one `Txn` per command,
//! `apply_command`, then the round's batch written to RocksDB. Reports the time per
//! command type, split into apply (reads and the in-memory overlay) and commit (building
//! the `WriteBatch` and `DB::write`). The server's rounds also write two small metadata
//! keys (last applied log id and clock); those are left out here.
//!
//! The same allocator as the server (jemalloc). For instruction counts, which do not
//! depend on what else runs on the machine, run it under
//! `valgrind --tool=callgrind` with a small `--messages` (see docs/benchmarks.md): each
//! command type is applied through its own function, so `callgrind_annotate
//! --inclusive=yes` lists the instructions of each type as
//! `<sqsraft_apply_bench::FifoDelete as sqsraft_apply_bench::Kind>::apply` and so on.

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use serde::Serialize;
use sqsraft_server::raft::state_machine::StateMachineStore;
use sqsraft_server::sm::apply::apply_command;
use sqsraft_server::sm::command::{Command, HandleEntry, Op, Output, SendEntry};
use sqsraft_server::sm::txn::Txn;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Replay a generated command stream into a fresh state DB; report µs per command type.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Messages sent in batches (the standard and the FIFO queue each get this many).
    #[arg(long, default_value_t = 20_000)]
    messages: u64,
    /// Messages sent one per command (standard queue).
    #[arg(long, default_value_t = 2_000)]
    single: u64,
    /// Entries per send, receive and delete batch (1–10).
    #[arg(long, default_value_t = 10)]
    batch: u32,
    /// Message body bytes.
    #[arg(long, default_value_t = 100)]
    body_size: usize,
    /// Message groups on the FIFO queue.
    #[arg(long, default_value_t = 10)]
    groups: u64,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

/// Totals of one command type.
#[derive(Debug, Default, Clone, Serialize)]
struct Totals {
    commands: u64,
    messages: u64,
    #[serde(skip)]
    apply: Duration,
    #[serde(skip)]
    commit: Duration,
}

/// One line of the report.
#[derive(Debug, Serialize)]
struct Line {
    command: String,
    commands: u64,
    messages: u64,
    apply_us_per_command: f64,
    commit_us_per_command: f64,
    total_us_per_command: f64,
    total_us_per_message: Option<f64>,
}

impl Line {
    fn of(command: &str, t: &Totals) -> Line {
        let per = |d: Duration, n: u64| d.as_secs_f64() * 1e6 / n.max(1) as f64;
        Line {
            command: command.to_string(),
            commands: t.commands,
            messages: t.messages,
            apply_us_per_command: per(t.apply, t.commands),
            commit_us_per_command: per(t.commit, t.commands),
            total_us_per_command: per(t.apply + t.commit, t.commands),
            total_us_per_message: (t.messages > 0).then(|| per(t.apply + t.commit, t.messages)),
        }
    }
}

/// A command type of the stream: its report label, and its own (never inlined) entry
/// into [`apply_round`], which names it in profiles.
trait Kind {
    const LABEL: &'static str;
    fn apply(
        store: &StateMachineStore,
        totals: &mut BTreeMap<&'static str, Totals>,
        command: &Command,
    ) -> Result<Output>;
}

macro_rules! kinds {
    ($($kind:ident => $label:literal),* $(,)?) => {
        $(
            struct $kind;
            impl Kind for $kind {
                const LABEL: &'static str = $label;
                #[inline(never)]
                fn apply(
                    store: &StateMachineStore,
                    totals: &mut BTreeMap<&'static str, Totals>,
                    command: &Command,
                ) -> Result<Output> {
                    apply_round(Self::LABEL, store, totals, command)
                }
            }
        )*
    };
}

kinds! {
    Create => "CreateQueue",
    Send1 => "SendMessage",
    SendBatch => "SendMessageBatch",
    Receive => "ReceiveMessage",
    ReceiveEmpty => "ReceiveMessage (empty queue)",
    Delete => "DeleteMessageBatch",
    FifoSendBatch => "fifo SendMessageBatch",
    FifoReceive => "fifo ReceiveMessage",
    FifoDelete => "fifo DeleteMessageBatch",
    Housekeeping => "Housekeeping",
}

/// One command as one apply round: `Txn`, `apply_command`, `DB::write`. Adds the times
/// and the messages its output reports to the totals of `label`.
fn apply_round(
    label: &'static str,
    store: &StateMachineStore,
    totals: &mut BTreeMap<&'static str, Totals>,
    command: &Command,
) -> Result<Output> {
    let db = store.state_db().get();
    let started = Instant::now();
    let mut txn = Txn::new(&db);
    let result = apply_command(&mut txn, command.time_ms, command)
        .with_context(|| format!("storage error applying {label}"))?;
    let applied = Instant::now();
    db.write(txn.into_batch())
        .map_err(|e| anyhow::anyhow!("write the round of {label}: {e}"))?;
    let committed = Instant::now();
    let output = result.map_err(|e| anyhow::anyhow!("{label} failed: {e:?}"))?;
    let t = totals.entry(label).or_default();
    t.commands += 1;
    t.messages += messages_in(&output);
    t.apply += applied - started;
    t.commit += committed - applied;
    Ok(output)
}

/// A fresh state database and the clock and ids of the stream replayed into it.
struct Replay {
    store: StateMachineStore,
    clock_ms: u64,
    next_id: u64,
    body: String,
    totals: BTreeMap<&'static str, Totals>,
}

impl Replay {
    /// Applies `op` as one round of kind `K` and returns its output; an SQS error fails
    /// the run (the stream is built so that every command succeeds).
    fn apply<K: Kind>(&mut self, op: Op) -> Result<Output> {
        self.clock_ms += 1;
        self.next_id += 1;
        let command = Command {
            request_id: format!("apply-bench:{}", self.next_id),
            time_ms: self.clock_ms,
            op,
        };
        K::apply(&self.store, &mut self.totals, &command)
    }

    fn entry(&mut self, i: u32, fifo_group: Option<String>) -> SendEntry {
        self.next_id += 1;
        SendEntry {
            id: i.to_string(),
            message_id: format!("00000000-0000-4000-8000-{:012}", self.next_id),
            body: self.body.clone(),
            delay_seconds: None,
            attributes: BTreeMap::new(),
            system_attributes: BTreeMap::new(),
            md5_body: "0".repeat(32),
            md5_attributes: None,
            md5_system_attributes: None,
            size: self.body.len() as u64,
            sender_id: "AKIDSQSRAFTLOCAL".into(),
            dedup_id: fifo_group.is_some().then(|| format!("d{}", self.next_id)),
            group_id: fifo_group,
        }
    }

    /// Sends `total` messages to `queue` in commands of `batch` entries.
    fn send<K: Kind>(&mut self, queue: &str, total: u64, batch: u32, groups: u64) -> Result<()> {
        let mut sent = 0;
        while sent < total {
            let n = u64::from(batch).min(total - sent) as u32;
            let entries: Vec<SendEntry> = (0..n)
                .map(|i| {
                    let group = queue
                        .ends_with(".fifo")
                        .then(|| format!("g{}", (sent + u64::from(i)) % groups));
                    self.entry(i, group)
                })
                .collect();
            let op = Op::SendMessages {
                queue: queue.into(),
                entries,
            };
            match self.apply::<K>(op)? {
                Output::Sent { successful, failed } if successful.len() == n as usize => {
                    ensure!(failed.is_empty(), "{}: {failed:?}", K::LABEL)
                }
                other => bail!("{}: unexpected {other:?}", K::LABEL),
            }
            sent += u64::from(n);
        }
        Ok(())
    }

    /// Receives and deletes batches of `queue` until its `expected` messages are gone.
    fn drain<R: Kind, D: Kind>(&mut self, queue: &str, expected: u64, batch: u32) -> Result<()> {
        let mut drained = 0;
        while drained < expected {
            self.next_id += 1;
            let base = self.next_id * 16;
            let op = Op::ReceiveMessages {
                queue: queue.into(),
                max: batch,
                visibility_timeout: Some(300),
                attempt_id: None,
                tokens: (0..u64::from(batch)).map(|i| base + i + 1).collect(),
            };
            let received = match self.apply::<R>(op)? {
                Output::Received(messages) if !messages.is_empty() => messages,
                other => bail!("receive after {drained} of {expected}: unexpected {other:?}"),
            };
            let n = received.len() as u64;
            let entries: Vec<HandleEntry> = received
                .iter()
                .enumerate()
                .map(|(i, m)| HandleEntry {
                    id: i.to_string(),
                    handle: m.handle,
                })
                .collect();
            let op = Op::DeleteMessages {
                queue: queue.into(),
                entries,
            };
            match self.apply::<D>(op)? {
                Output::Batch { successful, failed } if successful.len() as u64 == n => {
                    ensure!(failed.is_empty(), "delete: {failed:?}")
                }
                other => bail!("delete: unexpected {other:?}"),
            }
            drained += n;
        }
        Ok(())
    }
}

/// Messages a command's output reports as sent, received or deleted.
fn messages_in(output: &Output) -> u64 {
    match output {
        Output::Sent { successful, .. } => successful.len() as u64,
        Output::Received(messages) => messages.len() as u64,
        Output::Batch { successful, .. } => successful.len() as u64,
        _ => 0,
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!((1..=10).contains(&args.batch), "--batch must be 1–10");
    ensure!(args.groups > 0, "--groups must be at least 1");
    let dir = tempfile::tempdir()?;
    let mut replay = Replay {
        store: StateMachineStore::open(dir.path()).context("open the state database")?,
        clock_ms: 1_800_000_000_000,
        next_id: 0,
        body: "x".repeat(args.body_size),
        totals: BTreeMap::new(),
    };
    let started = Instant::now();
    let create = |name: &str, fifo: bool| Op::CreateQueue {
        name: name.into(),
        attributes: if fifo {
            BTreeMap::from([("FifoQueue".to_string(), "true".to_string())])
        } else {
            BTreeMap::new()
        },
        tags: BTreeMap::new(),
    };
    replay.apply::<Create>(create("bench", false))?;
    replay.apply::<Create>(create("bench.fifo", true))?;

    let batch = args.batch;
    replay.send::<Send1>("bench", args.single, 1, args.groups)?;
    replay.send::<SendBatch>("bench", args.messages, batch, args.groups)?;
    replay.drain::<Receive, Delete>("bench", args.messages + args.single, batch)?;
    for _ in 0..100 {
        let op = Op::ReceiveMessages {
            queue: "bench".into(),
            max: batch,
            visibility_timeout: None,
            attempt_id: None,
            tokens: (1..=u64::from(batch)).collect(),
        };
        replay.apply::<ReceiveEmpty>(op)?;
    }

    replay.send::<FifoSendBatch>("bench.fifo", args.messages, batch, args.groups)?;
    replay.drain::<FifoReceive, FifoDelete>("bench.fifo", args.messages, batch)?;
    for _ in 0..100 {
        replay.apply::<Housekeeping>(Op::Housekeeping)?;
    }
    let wall = started.elapsed();

    let lines: Vec<Line> = replay
        .totals
        .iter()
        .filter(|(_, t)| t.commands > 0)
        .map(|(name, t)| Line::of(name, t))
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "messages": args.messages,
                "single": args.single,
                "batch": batch,
                "body_size": args.body_size,
                "groups": args.groups,
                "wall_secs": wall.as_secs_f64(),
                "commands": lines,
            })
        );
        return Ok(());
    }
    println!(
        "{} batched + {} single messages of {} B, batches of {batch}, {} FIFO groups; \
         replay took {:.2} s",
        args.messages,
        args.single,
        args.body_size,
        args.groups,
        wall.as_secs_f64()
    );
    println!(
        "{:<30} {:>9} {:>9} {:>10} {:>10} {:>10} {:>10}",
        "command", "commands", "messages", "apply µs", "commit µs", "µs/cmd", "µs/msg"
    );
    for l in &lines {
        let per_msg = l
            .total_us_per_message
            .map_or("—".to_string(), |us| format!("{us:.2}"));
        println!(
            "{:<30} {:>9} {:>9} {:>10.2} {:>10.2} {:>10.2} {:>10}",
            l.command,
            l.commands,
            l.messages,
            l.apply_us_per_command,
            l.commit_us_per_command,
            l.total_us_per_command,
            per_msg
        );
    }
    Ok(())
}
