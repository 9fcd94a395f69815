//! Applying commands: a pure function of (state, command).

use super::catalog;
use super::command::{Command, CommandResult, Op, Output};
use super::dedup;
use super::messages;
use super::move_tasks;
use super::queue_record::{self, QueueRecord};
use super::txn::Txn;
use std::io;

/// Most records one housekeeping entry touches, bounding its cost.
pub const HOUSEKEEPING_BUDGET: usize = 20_000;

/// Runs `f` on the named queue, or answers `QueueDoesNotExist`.
fn with_queue(
    txn: &mut Txn<'_>,
    name: &str,
    f: impl FnOnce(&mut Txn<'_>, &QueueRecord) -> io::Result<CommandResult>,
) -> io::Result<CommandResult> {
    match queue_record::require(txn, name)? {
        Ok(queue) => f(txn, &queue),
        Err(e) => Ok(Err(e)),
    }
}

/// A FIFO receive with a ReceiveRequestAttemptId: a retry within the deduplication window
/// gets the messages and handles the first attempt returned. Empty answers are not
/// recorded, so a long poll that retries keeps looking.
fn receive_attempt(
    txn: &mut Txn<'_>,
    now_ms: u64,
    queue: &QueueRecord,
    attempt: &str,
    receive: impl FnOnce(&mut Txn<'_>) -> io::Result<CommandResult>,
) -> io::Result<CommandResult> {
    let scope = format!("ReceiveRequestAttemptId:{}", queue.id);
    if let Some(recorded) = dedup::lookup(txn, &scope, attempt, now_ms)? {
        return messages::still_held(txn, now_ms, recorded);
    }
    let result = receive(txn)?;
    if matches!(&result, Ok(Output::Received(m)) if !m.is_empty()) {
        dedup::record(
            txn,
            &scope,
            attempt,
            now_ms,
            messages::FIFO_DEDUP_WINDOW_MS,
            &result,
        )?;
    }
    Ok(result)
}

/// A leader-proposed housekeeping pass: expires dedup records, then housekeeps queue after
/// queue (messages, then move tasks) within [`HOUSEKEEPING_BUDGET`].
fn housekeeping(txn: &mut Txn<'_>, now_ms: u64) -> io::Result<CommandResult> {
    let mut budget = HOUSEKEEPING_BUDGET.saturating_sub(dedup::expire(txn, now_ms)?);
    for queue in queue_record::all(txn)? {
        if budget == 0 {
            break;
        }
        budget = budget.saturating_sub(messages::housekeep(txn, now_ms, &queue, budget)?);
        budget = budget.saturating_sub(move_tasks::advance(txn, now_ms, &queue, budget)?);
    }
    Ok(Ok(Output::Empty))
}

/// Applies one command at apply time `now_ms` (the proposer's clock made monotonic by the
/// caller). Returns the command's result; `Err` only for storage failures, which stop the
/// node rather than diverge it.
pub fn apply_command(
    txn: &mut Txn<'_>,
    now_ms: u64,
    command: &Command,
) -> io::Result<CommandResult> {
    let action = command.op.action();
    let dedup = command.op.deduplicated();
    if dedup && let Some(recorded) = dedup::lookup(txn, action, &command.request_id, now_ms)? {
        return match command.op {
            Op::ReceiveMessages { .. } => messages::still_held(txn, now_ms, recorded),
            _ => Ok(recorded),
        };
    }
    let result = match &command.op {
        Op::CreateQueue {
            name,
            attributes,
            tags,
        } => catalog::create(txn, now_ms, name, attributes, tags)?,
        Op::DeleteQueue { name } => with_queue(txn, name, |txn, q| {
            messages::drop_queue(txn, q.id);
            catalog::delete(txn, q)
        })?,
        Op::SendMessages { queue, entries } => {
            with_queue(txn, queue, |txn, q| messages::send(txn, now_ms, q, entries))?
        }
        Op::ReceiveMessages {
            queue,
            max,
            visibility_timeout,
            attempt_id,
            tokens,
        } => with_queue(txn, queue, |txn, q| {
            match attempt_id.as_deref().filter(|_| q.fifo) {
                Some(attempt) => receive_attempt(txn, now_ms, q, attempt, |txn| {
                    messages::receive(txn, now_ms, q, *max, *visibility_timeout, tokens)
                }),
                None => messages::receive(txn, now_ms, q, *max, *visibility_timeout, tokens),
            }
        })?,
        Op::DeleteMessages { queue, entries } => with_queue(txn, queue, |txn, q| {
            messages::delete(txn, now_ms, q, entries)
        })?,
        Op::ChangeVisibility { queue, entries } => with_queue(txn, queue, |txn, q| {
            messages::change_visibility(txn, now_ms, q, entries)
        })?,
        Op::PurgeQueue { queue } => {
            with_queue(txn, queue, |txn, q| messages::purge(txn, now_ms, q))?
        }
        Op::AddPermission {
            queue,
            label,
            account_ids,
            actions,
            resource,
        } => catalog::add_permission(txn, now_ms, queue, label, account_ids, actions, resource)?,
        Op::StartMoveTask {
            source,
            destination,
            rate,
        } => move_tasks::start(txn, now_ms, source, destination.as_deref(), *rate)?,
        Op::CancelMoveTask { source, task_id } => move_tasks::cancel(txn, source, *task_id)?,
        Op::RemovePermission { queue, label } => {
            catalog::remove_permission(txn, now_ms, queue, label)?
        }
        Op::SetQueueAttributes { name, attributes } => {
            catalog::set_attributes(txn, now_ms, name, attributes)?
        }
        Op::TagQueue { name, tags } => catalog::tag(txn, name, tags)?,
        Op::UntagQueue { name, keys } => catalog::untag(txn, name, keys)?,
        Op::Group(commands) => {
            let mut results = Vec::with_capacity(commands.len());
            for command in commands {
                results.push(apply_command(txn, now_ms, command)?);
            }
            Ok(Output::Group(results))
        }
        Op::Housekeeping => housekeeping(txn, now_ms)?,
    };
    if dedup {
        dedup::record(
            txn,
            action,
            &command.request_id,
            now_ms,
            dedup::WINDOW_MS,
            &result,
        )?;
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sm::command::{HandleEntry, ReadOp, ReceiptHandle, SendEntry, VisibilityEntry};
    use crate::sm::messages::invariants;
    use crate::sm::read::{ReadContext, execute};
    use crate::sm::txn::DbRead;
    use rocksdb::{DB, IteratorMode};
    use std::collections::BTreeMap;

    fn open(dir: &std::path::Path) -> DB {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        DB::open(&opts, dir).unwrap()
    }

    fn cmd(id: &str, time_ms: u64, op: Op) -> Command {
        Command {
            request_id: id.into(),
            time_ms,
            op,
        }
    }

    fn create(name: &str) -> Op {
        Op::CreateQueue {
            name: name.into(),
            attributes: BTreeMap::from([("DelaySeconds".into(), "5".into())]),
            tags: BTreeMap::new(),
        }
    }

    /// Applies commands in rounds of `round` entries, as the Raft state machine does.
    fn apply_all(db: &DB, commands: &[Command], round: usize) -> Vec<CommandResult> {
        let mut results = Vec::new();
        for chunk in commands.chunks(round) {
            let mut txn = Txn::new(db);
            for c in chunk {
                results.push(apply_command(&mut txn, c.time_ms, c).unwrap());
                invariants::assert_hold(&txn, c);
            }
            db.write(txn.into_batch()).unwrap();
        }
        results
    }

    fn dump(db: &DB) -> Vec<(Vec<u8>, Vec<u8>)> {
        db.iterator(IteratorMode::Start)
            .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
            .collect()
    }

    #[test]
    fn same_entries_give_byte_identical_state_whatever_the_round_size() {
        let commands: Vec<Command> = (0..40)
            .flat_map(|i| {
                vec![
                    cmd(&format!("c{i}"), 1_000 + i, create(&format!("q{}", i % 7))),
                    cmd(
                        &format!("t{i}"),
                        1_000 + i,
                        Op::TagQueue {
                            name: format!("q{}", i % 5),
                            tags: BTreeMap::from([(format!("k{i}"), "v".into())]),
                        },
                    ),
                    cmd(
                        &format!("d{i}"),
                        1_000 + i,
                        Op::DeleteQueue {
                            name: format!("q{}", i % 3),
                        },
                    ),
                ]
            })
            .collect();
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (db_a, db_b) = (open(a.path()), open(b.path()));
        let results_a = apply_all(&db_a, &commands, 1);
        let results_b = apply_all(&db_b, &commands, 16);
        assert_eq!(results_a, results_b);
        assert_eq!(dump(&db_a), dump(&db_b));
        assert!(
            results_a.iter().any(|r| r.is_err()),
            "the mix exercises failures too"
        );
    }

    #[test]
    fn a_group_applies_like_its_commands_alone_and_dedups_each() {
        let mut commands: Vec<Command> = (0..30)
            .map(|i| {
                let id = format!("r{i}");
                match i % 3 {
                    0 => cmd(&id, 5_000, create(&format!("q{}", i % 4))),
                    1 => cmd(
                        &id,
                        5_000,
                        Op::TagQueue {
                            name: format!("q{}", i % 4),
                            tags: BTreeMap::from([(format!("k{i}"), "v".into())]),
                        },
                    ),
                    _ => cmd(
                        &id,
                        5_000,
                        Op::DeleteQueue {
                            name: format!("q{}", i % 2),
                        },
                    ),
                }
            })
            .collect();
        // A retry of the first command lands in the same group.
        commands.push(commands[0].clone());
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (db_a, db_b) = (open(a.path()), open(b.path()));
        let alone = apply_all(&db_a, &commands, 4);
        let group = cmd("group-of-31", 5_000, Op::Group(commands.clone()));
        let grouped = apply_all(&db_b, &[group], 1);
        assert_eq!(grouped, vec![Ok(Output::Group(alone.clone()))]);
        assert_eq!(dump(&db_a), dump(&db_b));
        assert_eq!(
            alone.first(),
            alone.last(),
            "the retry got the recorded answer"
        );
        assert!(
            alone.iter().any(|r| r.is_err()),
            "failures stay per command"
        );
    }

    #[test]
    fn replayed_request_returns_recorded_result_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        let ctx = ReadContext {
            region: "us-east-1",
            account_id: "1",
        };
        let exists = |db: &DB| {
            execute(&DbRead(db), &ctx, &ReadOp::GetQueueUrl { name: "q".into() })
                .unwrap()
                .is_ok()
        };

        let first = apply_all(&db, &[cmd("r1", 1_000, create("q"))], 1);
        apply_all(
            &db,
            &[cmd("r2", 2_000, Op::DeleteQueue { name: "q".into() })],
            1,
        );
        assert!(!exists(&db));
        // Inside the window: the recorded answer, and the deleted queue stays deleted.
        let replay = apply_all(&db, &[cmd("r1", 3_000, create("q"))], 1);
        assert_eq!(replay, first);
        assert!(!exists(&db));

        // Housekeeping past the window expires the record; the id then counts as new.
        let later = 1_000 + dedup::WINDOW_MS + 1;
        apply_all(&db, &[cmd("hk", later, Op::Housekeeping)], 1);
        assert!(
            dedup::lookup(&DbRead(&db), "CreateQueue", "r1", 0)
                .unwrap()
                .is_none()
        );
        apply_all(&db, &[cmd("r1", later, create("q"))], 1);
        assert!(exists(&db));
    }

    /// A small deterministic generator (xorshift64), so a failing sequence is replayable.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    fn entry(rng: &mut Rng, i: u64, fifo: bool) -> SendEntry {
        SendEntry {
            id: i.to_string(),
            message_id: format!("m{i}"),
            body: format!("body {}", rng.below(5)),
            delay_seconds: (!fifo && rng.below(4) == 0).then(|| rng.below(3) as u32),
            attributes: BTreeMap::new(),
            system_attributes: BTreeMap::new(),
            md5_body: String::new(),
            md5_attributes: None,
            md5_system_attributes: None,
            size: 6,
            sender_id: "s".into(),
            group_id: fifo.then(|| format!("g{}", rng.below(3))),
            dedup_id: fifo.then(|| format!("d{}", rng.below(8))),
        }
    }

    /// A random message lifecycle: sends (FIFO duplicates among them), receives with
    /// assorted visibility timeouts, deletes and visibility changes with current and
    /// stale handles, dead letters, retention expiry, purges, move tasks, housekeeping
    /// and verbatim retries. Handles come from applying the sequence as it is built.
    fn lifecycle(seed: u64, steps: u64) -> Vec<Command> {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        let mut rng = Rng(seed);
        let mut now = 1_000;
        let redrive = r#"{"deadLetterTargetArn":"arn:aws:sqs:r:1:dlq","maxReceiveCount":"2"}"#;
        let mut commands = vec![
            cmd(
                "c-dlq",
                now,
                Op::CreateQueue {
                    name: "dlq".into(),
                    attributes: BTreeMap::new(),
                    tags: BTreeMap::new(),
                },
            ),
            cmd(
                "c-std",
                now,
                Op::CreateQueue {
                    name: "std".into(),
                    attributes: BTreeMap::from([
                        ("RedrivePolicy".into(), redrive.into()),
                        ("MessageRetentionPeriod".into(), "60".into()),
                    ]),
                    tags: BTreeMap::new(),
                },
            ),
            cmd(
                "c-fifo",
                now,
                Op::CreateQueue {
                    name: "f.fifo".into(),
                    attributes: BTreeMap::from([("FifoQueue".into(), "true".into())]),
                    tags: BTreeMap::new(),
                },
            ),
        ];
        for c in &commands {
            let mut txn = Txn::new(&db);
            apply_command(&mut txn, c.time_ms, c)
                .unwrap()
                .expect("queue created");
            db.write(txn.into_batch()).unwrap();
        }
        let mut handles: Vec<(String, ReceiptHandle)> = Vec::new();
        for step in 0..steps {
            now += rng.below(8_000);
            let queue = ["std", "f.fifo", "dlq"][rng.below(3) as usize].to_string();
            let fifo = queue == "f.fifo";
            let id = format!("s{step}");
            let op = match rng.below(20) {
                0..=5 => Op::SendMessages {
                    entries: (0..1 + rng.below(3))
                        .map(|i| entry(&mut rng, step * 10 + i, fifo))
                        .collect(),
                    queue,
                },
                6..=10 => Op::ReceiveMessages {
                    queue,
                    max: 1 + rng.below(4) as u32,
                    visibility_timeout: Some([0, 1, 5, 30][rng.below(4) as usize]),
                    attempt_id: (fifo && rng.below(2) == 0).then(|| format!("a{}", rng.below(3))),
                    tokens: (0..4).map(|t| step * 10 + t + 1).collect(),
                },
                11..=12 if !handles.is_empty() => {
                    let (queue, handle) = handles[rng.below(handles.len() as u64) as usize].clone();
                    Op::DeleteMessages {
                        queue,
                        entries: vec![HandleEntry {
                            id: "0".into(),
                            handle,
                        }],
                    }
                }
                13..=14 if !handles.is_empty() => {
                    let (queue, handle) = handles[rng.below(handles.len() as u64) as usize].clone();
                    Op::ChangeVisibility {
                        queue,
                        entries: vec![VisibilityEntry {
                            id: "0".into(),
                            handle,
                            timeout_seconds: [0, 2, 10][rng.below(3) as usize],
                        }],
                    }
                }
                15 if step % 7 == 0 => Op::PurgeQueue { queue },
                16 => Op::StartMoveTask {
                    source: "dlq".into(),
                    destination: None,
                    rate: Some(5),
                },
                17 if commands.len() > 3 => {
                    let earlier =
                        commands[3 + rng.below(commands.len() as u64 - 3) as usize].clone();
                    commands.push(Command {
                        time_ms: now,
                        ..earlier
                    });
                    continue;
                }
                _ => Op::Housekeeping,
            };
            let command = cmd(&id, now, op);
            let mut txn = Txn::new(&db);
            let result = apply_command(&mut txn, now, &command).unwrap();
            db.write(txn.into_batch()).unwrap();
            if let (Ok(Output::Received(got)), Op::ReceiveMessages { queue, .. }) =
                (&result, &command.op)
            {
                handles.extend(got.iter().map(|m| (queue.clone(), m.handle)));
            }
            commands.push(command);
        }
        commands
    }

    #[test]
    fn the_whole_message_lifecycle_gives_byte_identical_state_whatever_the_round_size() {
        for seed in [1, 7, 2026] {
            let commands = lifecycle(seed, 400);
            let mut states = Vec::new();
            let mut answers = Vec::new();
            for round in [1, 5, 32] {
                let dir = tempfile::tempdir().unwrap();
                let db = open(dir.path());
                answers.push(apply_all(&db, &commands, round));
                states.push(dump(&db));
            }
            assert_eq!(
                answers[0], answers[1],
                "seed {seed}: results, rounds of 1 and 5"
            );
            assert_eq!(
                answers[0], answers[2],
                "seed {seed}: results, rounds of 1 and 32"
            );
            assert!(
                states[0] == states[1] && states[0] == states[2],
                "seed {seed}: state"
            );
            let received = answers[0]
                .iter()
                .filter(|r| matches!(r, Ok(Output::Received(m)) if !m.is_empty()))
                .count();
            let batches_ok = answers[0]
                .iter()
                .filter(
                    |r| matches!(r, Ok(Output::Batch { successful, .. }) if !successful.is_empty()),
                )
                .count();
            assert!(
                received > 20 && batches_ok > 5,
                "seed {seed}: {received} receives, {batches_ok} batches"
            );
        }
    }
}
