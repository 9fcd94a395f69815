//! Moves between queues: a message whose receive count would exceed its queue's
//! `maxReceiveCount` goes to the dead-letter queue, and move tasks (`move_tasks.rs`)
//! bring dead letters back.

use super::{MessageRecord, MessageState, store};
use crate::sm::attributes;
use crate::sm::queue_record::{self, QueueRecord};
use crate::sm::txn::Txn;
use std::io;

/// Where a message goes when its receive count would exceed the redrive policy.
pub struct Redrive {
    pub target: QueueRecord,
    pub max_receive_count: u32,
}

/// The queue's redrive target, when its RedrivePolicy names an existing other queue.
pub fn redrive(txn: &Txn<'_>, queue: &QueueRecord) -> io::Result<Option<Redrive>> {
    let Some(policy) = attributes::stored_redrive_policy(&queue.attributes) else {
        return Ok(None);
    };
    Ok(queue_record::load(txn, &policy.target_key(&queue.name))?
        .filter(|t| t.id != queue.id)
        .map(|target| Redrive {
            target,
            max_receive_count: u32::try_from(policy.max_receive_count).unwrap_or(u32::MAX),
        }))
}

/// The system attribute a received dead letter carries: the name of the queue it was
/// dead-lettered from (the edge renders it as `DeadLetterQueueSourceArn`).
pub const SOURCE_ATTRIBUTE: &str = "DeadLetterQueueSource";

/// Moves a message to another queue: same id, body and attributes, visible now.
/// `source` is recorded as its dead-letter source: a dead letter (`Some`) keeps its
/// receive history, so its first receive from the dead-letter queue counts on from the
/// source's count as on AWS; a message a move task returns (`None`) starts afresh.
pub fn move_message(
    txn: &mut Txn<'_>,
    now: u64,
    from: &QueueRecord,
    seq: u64,
    m: &MessageRecord,
    to: &QueueRecord,
    source: Option<String>,
) -> io::Result<()> {
    store::remove(txn, from, seq, m)?;
    let keeps_history = source.is_some();
    let moved = MessageRecord {
        visible_at_ms: now,
        state: MessageState::Visible,
        receive_count: if keeps_history { m.receive_count } else { 0 },
        first_receive_ms: if keeps_history { m.first_receive_ms } else { 0 },
        token: 0,
        dead_letter_source: source,
        ..m.clone()
    };
    store::add(txn, to, moved)?;
    Ok(())
}
