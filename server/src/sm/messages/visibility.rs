//! DeleteMessage(Batch) and ChangeMessageVisibility(Batch) inside apply: both name a
//! message by receipt handle. What a handle may still do follows AWS:
//!
//! | handle                         | standard queue          | FIFO queue     |
//! |--------------------------------|-------------------------|----------------|
//! | current, in flight             | delete / change         | delete / change |
//! | current, timeout expired       | delete / change         | expired error  |
//! | superseded (received again)    | delete: no-op; change   | expired error  |
//! | message gone                   | delete: no-op; change: does not exist | same |
//!
//! A handle is *current* while the message has not been received again since; only the
//! current handle deletes, so a stale handle never deletes a message someone else holds.
//! On a standard queue a visibility change through any handle of the message applies to
//! the message (AWS does so); on a FIFO queue a handle is dead once its timeout expired.

use super::{MessageRecord, MessageState, fail, store};
use crate::error::{ErrorCode, SqsError, texts};
use crate::sm::command::{
    BatchFailure, CommandResult, HandleEntry, Output, ReceiptHandle, VisibilityEntry,
};
use crate::sm::queue_record::QueueRecord;
use crate::sm::txn::Txn;
use std::io;

fn invalid_handle(id: &str) -> BatchFailure {
    fail(
        id,
        SqsError::new(
            ErrorCode::ReceiptHandleIsInvalid,
            texts::RECEIPT_HANDLE_OF_ANOTHER_QUEUE,
        ),
    )
}

fn expired(id: &str) -> BatchFailure {
    fail(
        id,
        SqsError::invalid_parameter(
            "Value for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.",
        ),
    )
}

/// How a handle relates to the message it names, at `now`.
enum Held {
    /// The message is in flight under this handle.
    InFlight(MessageRecord),
    /// This handle is the message's latest, but its visibility timeout ended.
    Expired(MessageRecord),
    /// The message was received again since: another handle is its current one.
    Superseded(MessageRecord),
    /// The message is gone (deleted, expired, moved).
    Gone,
}

fn held(txn: &Txn<'_>, now: u64, queue: &QueueRecord, handle: &ReceiptHandle) -> io::Result<Held> {
    Ok(match store::load(txn, queue.id, handle.seq)? {
        None => Held::Gone,
        Some(m) if m.token != handle.token || m.token == 0 => Held::Superseded(m),
        Some(m) if m.state == MessageState::InFlight && m.visible_at_ms > now => Held::InFlight(m),
        Some(m) => Held::Expired(m),
    })
}

/// DeleteMessage(Batch): deletes each message its handle is current for (on a FIFO
/// queue: still in flight under). A superseded handle, or a handle of a message already
/// gone, succeeds without deleting anything; a FIFO handle whose timeout expired fails.
pub fn delete(
    txn: &mut Txn<'_>,
    now: u64,
    queue: &QueueRecord,
    entries: &[HandleEntry],
) -> io::Result<CommandResult> {
    let mut successful = Vec::new();
    let mut failed = Vec::new();
    for e in entries {
        if e.handle.queue_id != queue.id {
            failed.push(invalid_handle(&e.id));
            continue;
        }
        match held(txn, now, queue, &e.handle)? {
            Held::InFlight(m) => store::remove(txn, queue, e.handle.seq, &m)?,
            Held::Expired(_) | Held::Superseded(_) if queue.fifo => {
                failed.push(expired(&e.id));
                continue;
            }
            Held::Expired(m) => store::remove(txn, queue, e.handle.seq, &m)?,
            Held::Superseded(_) | Held::Gone => {}
        }
        successful.push(e.id.clone());
    }
    Ok(Ok(Output::Batch { successful, failed }))
}

/// ChangeMessageVisibility(Batch): the message gets a new timeout counted from now (0
/// makes it visible at once), through any handle of it on a standard queue, through a
/// handle it is in flight under on a FIFO queue.
pub fn change_visibility(
    txn: &mut Txn<'_>,
    now: u64,
    queue: &QueueRecord,
    entries: &[VisibilityEntry],
) -> io::Result<CommandResult> {
    let mut successful = Vec::new();
    let mut failed = Vec::new();
    for e in entries {
        match change_one(txn, now, queue, e)? {
            Ok(()) => successful.push(e.id.clone()),
            Err(failure) => failed.push(failure),
        }
    }
    store::keep_counters(txn, queue.id)?;
    Ok(Ok(Output::Batch { successful, failed }))
}

fn change_one(
    txn: &mut Txn<'_>,
    now: u64,
    queue: &QueueRecord,
    e: &VisibilityEntry,
) -> io::Result<Result<(), BatchFailure>> {
    if e.handle.queue_id != queue.id {
        return Ok(Err(invalid_handle(&e.id)));
    }
    let old = match held(txn, now, queue, &e.handle)? {
        Held::InFlight(m) => m,
        Held::Expired(_) | Held::Superseded(_) if queue.fifo => return Ok(Err(expired(&e.id))),
        Held::Expired(m) | Held::Superseded(m) => m,
        Held::Gone => {
            return Ok(Err(fail(
                &e.id,
                SqsError::invalid_parameter(texts::not_available_for_visibility_change(
                    &crate::sm::receipt::encode(&e.handle),
                )),
            )));
        }
    };
    let mut new = old.clone();
    new.visible_at_ms = now + u64::from(e.timeout_seconds) * 1000;
    new.state = if e.timeout_seconds == 0 {
        MessageState::Visible
    } else {
        MessageState::InFlight
    };
    store::update(txn, queue.id, e.handle.seq, &old, &new)?;
    Ok(Ok(()))
}
