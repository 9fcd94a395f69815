//! Applying commands: a pure function of (state, command).

use super::catalog::{self, QueueRecord};
use super::command::{Command, CommandResult, Op, Output};
use super::dedup;
use super::messages;
use super::move_tasks;
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
    match catalog::require(txn, name)? {
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
        Op::DeleteQueue { name } => catalog::delete(txn, name)?,
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
        Op::DeleteMessages { queue, entries } => {
            with_queue(txn, queue, |txn, q| messages::delete(txn, q, entries))?
        }
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
        Op::Housekeeping => {
            let mut budget = HOUSEKEEPING_BUDGET.saturating_sub(dedup::expire(txn, now_ms)?);
            for queue in catalog::all(txn)? {
                if budget == 0 {
                    break;
                }
                budget = budget.saturating_sub(messages::housekeep(txn, now_ms, &queue, budget)?);
                budget = budget.saturating_sub(move_tasks::advance(txn, now_ms, &queue, budget)?);
            }
            Ok(Output::Empty)
        }
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
    use crate::sm::command::ReadOp;
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
}
