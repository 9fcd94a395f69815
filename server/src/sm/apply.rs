//! Applying commands: a pure function of (state, command).

use super::catalog;
use super::command::{Command, CommandResult, Op, Output};
use super::dedup;
use super::txn::Txn;
use std::io;

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
        return Ok(recorded);
    }
    let result = match &command.op {
        Op::CreateQueue {
            name,
            attributes,
            tags,
        } => catalog::create(txn, now_ms, name, attributes, tags)?,
        Op::DeleteQueue { name } => catalog::delete(txn, name)?,
        Op::SetQueueAttributes { name, attributes } => {
            catalog::set_attributes(txn, now_ms, name, attributes)?
        }
        Op::TagQueue { name, tags } => catalog::tag(txn, name, tags)?,
        Op::UntagQueue { name, keys } => catalog::untag(txn, name, keys)?,
        Op::Housekeeping => {
            dedup::expire(txn, now_ms)?;
            Ok(Output::Empty)
        }
    };
    if dedup {
        dedup::record(txn, action, &command.request_id, now_ms, &result)?;
    }
    Ok(result)
}
