//! Key schema of the state-machine database.
//!
//! All integers are big-endian so that RocksDB's byte order is numeric order.
//!
//! | prefix | key                                   | value                    |
//! |--------|---------------------------------------|--------------------------|
//! | `0x00` | `meta/<name>`                         | last applied log id, membership, clock, id counters |
//! | `q`    | queue name                            | [`QueueRecord`](super::queue_record::QueueRecord) |
//! | `d`    | action `0x00` request id              | [`DedupRecord`](super::dedup::DedupRecord) |
//! | `e`    | expiry ms, action `0x00` request id   | empty (dedup expiry index) |
//! | `c`    | queue id                              | [`QueueCounters`](super::messages::QueueCounters) |
//! | `m`    | queue id, seq                         | [`MessageRecord`](super::messages::MessageRecord) |
//! | `v`    | queue id, visible-at ms, seq          | empty: every message, in receive order |
//! | `w`    | queue id, visible-at ms, seq          | empty: delayed and in-flight messages, by when they turn visible |
//! | `t`    | queue id, sent ms, seq                | empty: retention order |
//! | `g`    | queue id, group, `0x00`, seq          | empty: a FIFO group's messages in order |
//! | `o`    | queue id, group                       | empty: the FIFO group holds messages (format 2) |
//! | `x`    | queue id, dedup scope key             | FIFO deduplication record |
//! | `y`    | queue id, expiry ms, `x` key          | empty: FIFO dedup expiry index |
//! | `k`    | source queue id, task id              | message move task |
//! | `f`    | queue id                              | receive floor: no `v` entry sorts below this ms |

/// Prefix of queue records, keyed by queue name.
pub const QUEUE: u8 = b'q';
/// Prefix of request-dedup records.
pub const DEDUP: u8 = b'd';
/// Prefix of the dedup expiry index.
pub const DEDUP_EXPIRY: u8 = b'e';

/// Prefix of per-queue message counters.
pub const COUNTERS: u8 = b'c';
/// Prefix of message records.
pub const MESSAGE: u8 = b'm';
/// Prefix of the receive-order index (all messages).
pub const VISIBLE: u8 = b'v';
/// Prefix of the index of messages waiting to turn visible.
pub const WAITING: u8 = b'w';
/// Prefix of the retention index.
pub const RETENTION: u8 = b't';
/// Prefix of FIFO group membership.
pub const GROUP: u8 = b'g';
/// Prefix of the markers of FIFO groups that hold messages: whether a group has a head
/// is one point read, not a scan over the tombstones of its deleted members.
pub const GROUP_OCCUPIED: u8 = b'o';
/// Prefix of FIFO deduplication records.
pub const FIFO_DEDUP: u8 = b'x';
/// Prefix of the FIFO deduplication expiry index.
pub const FIFO_DEDUP_EXPIRY: u8 = b'y';
/// Prefix of message move tasks.
pub const MOVE_TASK: u8 = b'k';
/// Prefix of per-queue receive floors.
pub const RECEIVE_FLOOR: u8 = b'f';

pub const META_LAST_APPLIED: &[u8] = b"\x00meta/last_applied";
pub const META_MEMBERSHIP: &[u8] = b"\x00meta/membership";
pub const META_CLOCK: &[u8] = b"\x00meta/clock";
pub const META_NEXT_QUEUE_ID: &[u8] = b"\x00meta/next_queue_id";
/// The state machine's format version (`format.rs`).
pub const META_FORMAT_VERSION: &[u8] = b"\x00meta/format_version";

/// Key of a queue record.
pub fn queue(name: &str) -> Vec<u8> {
    prefixed(QUEUE, &[name.as_bytes()])
}

/// Key of a dedup record: the action name scopes the request id.
pub fn dedup(scope: &str, request_id: &str) -> Vec<u8> {
    prefixed(DEDUP, &[scope.as_bytes(), &[0], request_id.as_bytes()])
}

/// Key of a dedup expiry index entry.
pub fn dedup_expiry(expires_ms: u64, scope: &str, request_id: &str) -> Vec<u8> {
    prefixed(
        DEDUP_EXPIRY,
        &[
            &expires_ms.to_be_bytes(),
            scope.as_bytes(),
            &[0],
            request_id.as_bytes(),
        ],
    )
}

/// Splits a dedup expiry key into (expiry ms, dedup record key).
pub fn parse_dedup_expiry(key: &[u8]) -> Option<(u64, Vec<u8>)> {
    let rest = key.strip_prefix(&[DEDUP_EXPIRY])?;
    let ms = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
    Some((ms, prefixed(DEDUP, &[&rest[8..]])))
}

/// Key of a queue's counters.
pub fn counters(queue_id: u64) -> Vec<u8> {
    prefixed(COUNTERS, &[&queue_id.to_be_bytes()])
}

/// Key of a queue's receive floor.
pub fn receive_floor(queue_id: u64) -> Vec<u8> {
    prefixed(RECEIVE_FLOOR, &[&queue_id.to_be_bytes()])
}

/// Key of a message move task.
pub fn move_task(queue_id: u64, task_id: u64) -> Vec<u8> {
    prefixed(
        MOVE_TASK,
        &[&queue_id.to_be_bytes(), &task_id.to_be_bytes()],
    )
}

/// Key of a message record.
pub fn message(queue_id: u64, seq: u64) -> Vec<u8> {
    prefixed(MESSAGE, &[&queue_id.to_be_bytes(), &seq.to_be_bytes()])
}

/// Key of a time-ordered message index entry (`VISIBLE`, `WAITING` or `RETENTION`).
pub fn timed(prefix: u8, queue_id: u64, at_ms: u64, seq: u64) -> Vec<u8> {
    prefixed(
        prefix,
        &[
            &queue_id.to_be_bytes(),
            &at_ms.to_be_bytes(),
            &seq.to_be_bytes(),
        ],
    )
}

/// The first key of a FIFO group's members (group ids never contain `0x00`).
pub fn group_start(queue_id: u64, group: &str) -> Vec<u8> {
    prefixed(GROUP, &[&queue_id.to_be_bytes(), group.as_bytes(), &[0]])
}

/// Key of a FIFO group member.
pub fn group_member(queue_id: u64, group: &str, seq: u64) -> Vec<u8> {
    prefixed(
        GROUP,
        &[
            &queue_id.to_be_bytes(),
            group.as_bytes(),
            &[0],
            &seq.to_be_bytes(),
        ],
    )
}

/// Key of the marker of a FIFO group that holds messages.
pub fn group_occupied(queue_id: u64, group: &str) -> Vec<u8> {
    prefixed(GROUP_OCCUPIED, &[&queue_id.to_be_bytes(), group.as_bytes()])
}

/// The group occupancy marker of the group a member key belongs to.
pub fn occupied_of_member(member: &[u8]) -> Option<Vec<u8>> {
    let body = member.get(1..member.len().checked_sub(9)?)?;
    (body.len() >= 8 && member.get(member.len() - 9) == Some(&0))
        .then(|| prefixed(GROUP_OCCUPIED, &[body]))
}

/// The sequence number of a group member key.
pub fn parse_group_seq(key: &[u8]) -> Option<u64> {
    let tail = key.len().checked_sub(8)?;
    Some(u64::from_be_bytes(key[tail..].try_into().ok()?))
}

/// Key of a FIFO deduplication record.
pub fn fifo_dedup(queue_id: u64, scope_key: &str) -> Vec<u8> {
    prefixed(FIFO_DEDUP, &[&queue_id.to_be_bytes(), scope_key.as_bytes()])
}

/// Key of a FIFO dedup expiry entry pointing at `dedup_key`.
pub fn fifo_dedup_expiry(queue_id: u64, expires_ms: u64, dedup_key: &[u8]) -> Vec<u8> {
    prefixed(
        FIFO_DEDUP_EXPIRY,
        &[
            &queue_id.to_be_bytes(),
            &expires_ms.to_be_bytes(),
            dedup_key,
        ],
    )
}

/// The dedup record key a FIFO dedup expiry entry points at.
pub fn parse_fifo_dedup_expiry(key: &[u8]) -> Option<Vec<u8>> {
    key.get(17..).filter(|k| !k.is_empty()).map(<[u8]>::to_vec)
}

/// The first key of a queue's entries under `prefix`.
pub fn queue_start(prefix: u8, queue_id: u64) -> Vec<u8> {
    prefixed(prefix, &[&queue_id.to_be_bytes()])
}

/// Parses a time-ordered index key into (at ms, seq).
pub fn parse_timed(key: &[u8]) -> Option<(u64, u64)> {
    let rest = key.get(9..)?;
    let at = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
    let seq = u64::from_be_bytes(rest.get(8..16)?.try_into().ok()?);
    Some((at, seq))
}

/// The exclusive upper bound of all keys starting with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xff; prefix.len() + 1]
}

fn prefixed(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len = 1 + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut key = Vec::with_capacity(len);
    key.push(prefix);
    for part in parts {
        key.extend_from_slice(part);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_keys_sort_by_time_and_parse_back() {
        let a = dedup_expiry(5, "SendMessage", "r1");
        let b = dedup_expiry(256, "CreateQueue", "r0");
        assert!(a < b);
        assert_eq!(
            parse_dedup_expiry(&a),
            Some((5, dedup("SendMessage", "r1")))
        );
        assert_eq!(parse_dedup_expiry(b"q"), None);
    }

    #[test]
    fn a_member_key_names_its_group_marker() {
        let member = group_member(7, "g-1", 42);
        assert_eq!(occupied_of_member(&member), Some(group_occupied(7, "g-1")));
        assert!(member.starts_with(&group_start(7, "g-1")));
        assert_eq!(occupied_of_member(b"g"), None);
        assert_eq!(occupied_of_member(&group_start(7, "g")[..10]), None);
    }

    #[test]
    fn prefix_end_bounds_every_key_with_the_prefix() {
        assert_eq!(prefix_end(b"q"), b"r".to_vec());
        assert_eq!(prefix_end(&[b'a', 0xff]), b"b".to_vec());
        assert!(queue("zzz") < prefix_end(&[QUEUE]));
    }
}
