//! The state machine's format version: which encodings of stored records and which key
//! layout a state database (and so a snapshot of it) uses.
//!
//! The version lives in the state itself under [`keys::META_FORMAT_VERSION`], so every
//! snapshot carries it; a node refuses to open or install a state newer than it knows.
//! A state without the key was written before versions were recorded: that is version 1.
//! Version 2 added the `o` markers of FIFO groups that hold messages; opening or
//! installing a version-1 state writes them (see [`upgrade`]). How formats may evolve is written down in `docs/architecture.md`
//! ("Stored and replicated formats"); the golden tests (`format_tests.rs`) pin every
//! encoding so a change cannot slip in unnoticed.

use super::keys;
use super::txn::{DbRead, StateRead, storage_err};
use crate::codec::{decode, encode};
use rocksdb::{DB, WriteBatch};
use std::io;

/// The format this build writes. Raise it only together with a migration and a note in
/// `docs/architecture.md`; older builds then refuse the newer state instead of misreading
/// it.
pub const FORMAT_VERSION: u32 = 2;

/// Version of a state written before the version was recorded.
const UNRECORDED: u32 = 1;

/// The state's format version, or an error naming both versions when this build cannot
/// read it.
pub fn check(state: &impl StateRead) -> io::Result<u32> {
    let version = match state.get(keys::META_FORMAT_VERSION)? {
        Some(bytes) => decode::<u32>(&bytes)?,
        None => UNRECORDED,
    };
    if version > FORMAT_VERSION {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "state machine format version {version} is newer than this build reads \
                 (up to {FORMAT_VERSION}); run a newer sqsraft-server"
            ),
        ));
    }
    Ok(version)
}

/// Checks that this build reads the state in `db`, migrates it to [`FORMAT_VERSION`] and
/// records that version, in one write; returns the version it found.
pub fn upgrade(db: &DB) -> io::Result<u32> {
    let found = check(&DbRead(db))?;
    let mut batch = WriteBatch::default();
    if found < 2 {
        mark_occupied_groups(db, &mut batch)?;
    }
    let (key, value) = record()?;
    batch.put(key, value);
    db.write(batch).map_err(storage_err)?;
    Ok(found)
}

/// Version 1 → 2: an `o` marker for every FIFO group with a member in the `g` index
/// (apply keeps exactly these from version 2 on). One seek per group: after a group's
/// first member the scan goes on past the group's last possible key.
fn mark_occupied_groups(db: &DB, batch: &mut WriteBatch) -> io::Result<()> {
    let state = DbRead(db);
    let end = keys::prefix_end(&[keys::GROUP]);
    let mut from = vec![keys::GROUP];
    while let Some((member, _)) = state.scan(&from, &end, 1)?.into_iter().next() {
        let marker = keys::occupied_of_member(&member).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("malformed FIFO group key {}", hex::encode(&member)),
            )
        })?;
        batch.put(marker, b"");
        from = keys::prefix_end(&member[..member.len() - 8]);
    }
    Ok(())
}

/// The key and value that record [`FORMAT_VERSION`].
pub fn record() -> io::Result<(&'static [u8], Vec<u8>)> {
    Ok((keys::META_FORMAT_VERSION, encode(&FORMAT_VERSION)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sm::apply::apply_command;
    use crate::sm::command::{Command, HandleEntry, Op, Output, ReceiptHandle, SendEntry};
    use crate::sm::messages::invariants;
    use crate::sm::txn::Txn;
    use std::collections::BTreeMap;

    #[test]
    fn a_state_without_a_version_is_version_one_and_a_newer_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        let db = rocksdb::DB::open(&opts, dir.path()).unwrap();
        assert_eq!(check(&DbRead(&db)).unwrap(), 1);
        let (key, value) = record().unwrap();
        db.put(key, value).unwrap();
        assert_eq!(check(&DbRead(&db)).unwrap(), FORMAT_VERSION);
        db.put(key, encode(&(FORMAT_VERSION + 1)).unwrap()).unwrap();
        let refused = check(&DbRead(&db)).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::InvalidData);
        assert!(
            refused.to_string().contains("newer than this build"),
            "{refused}"
        );
    }

    fn apply(db: &DB, id: &str, op: Op) -> Output {
        let command = Command {
            request_id: id.into(),
            time_ms: 1_000,
            op,
        };
        let mut txn = Txn::new(db);
        let out = apply_command(&mut txn, 1_000, &command).unwrap().unwrap();
        db.write(txn.into_batch()).unwrap();
        out
    }

    fn send(group: &str, n: u64) -> SendEntry {
        SendEntry {
            id: n.to_string(),
            message_id: format!("m{n}"),
            body: "b".into(),
            delay_seconds: None,
            attributes: BTreeMap::new(),
            system_attributes: BTreeMap::new(),
            md5_body: String::new(),
            md5_attributes: None,
            md5_system_attributes: None,
            size: 1,
            sender_id: "s".into(),
            group_id: Some(group.into()),
            dedup_id: Some(format!("d{n}")),
        }
    }

    /// Every key and value, in key order.
    fn everything(db: &DB) -> Vec<(Vec<u8>, Vec<u8>)> {
        db.iterator(rocksdb::IteratorMode::Start)
            .map(|item| {
                let (k, v) = item.unwrap();
                (k.to_vec(), v.to_vec())
            })
            .collect()
    }

    /// A version-1 state (today's state without the `o` markers and the version record)
    /// is upgraded to exactly what version-2 apply wrote: a marker for the group that
    /// still holds messages, none for the group emptied by a delete, and the version.
    #[test]
    fn upgrading_a_version_one_state_marks_exactly_the_groups_that_hold_messages() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        let db = DB::open(&opts, dir.path()).unwrap();
        let attributes = BTreeMap::from([("FifoQueue".into(), "true".into())]);
        for (id, name) in [("c1", "a.fifo"), ("c2", "b.fifo")] {
            apply(
                &db,
                id,
                Op::CreateQueue {
                    name: name.into(),
                    attributes: attributes.clone(),
                    tags: BTreeMap::new(),
                },
            );
        }
        let entries = vec![send("kept", 0), send("kept", 1), send("emptied", 2)];
        apply(
            &db,
            "s1",
            Op::SendMessages {
                queue: "a.fifo".into(),
                entries,
            },
        );
        apply(
            &db,
            "s2",
            Op::SendMessages {
                queue: "b.fifo".into(),
                entries: vec![send("other", 3)],
            },
        );
        let Output::Received(got) = apply(
            &db,
            "r1",
            Op::ReceiveMessages {
                queue: "a.fifo".into(),
                max: 10,
                visibility_timeout: Some(30),
                attempt_id: None,
                tokens: (1..=10).collect(),
            },
        ) else {
            panic!("a receive answers with messages");
        };
        let emptied: Vec<ReceiptHandle> = got
            .iter()
            .filter(|m| m.group_id.as_deref() == Some("emptied"))
            .map(|m| m.handle)
            .collect();
        assert_eq!(emptied.len(), 1, "{got:?}");
        apply(
            &db,
            "d1",
            Op::DeleteMessages {
                queue: "a.fifo".into(),
                entries: vec![HandleEntry {
                    id: "0".into(),
                    handle: emptied[0],
                }],
            },
        );
        invariants::assert_hold(&DbRead(&db), &"the sends, the receive and the delete");
        db.put(keys::META_FORMAT_VERSION, encode(&2u32).unwrap())
            .unwrap();
        let written = everything(&db);
        let markers: Vec<_> = written
            .iter()
            .filter(|(k, _)| k[0] == keys::GROUP_OCCUPIED)
            .collect();
        assert_eq!(markers.len(), 2, "kept and other, not emptied: {markers:?}");

        for (k, _) in &markers {
            db.delete(k).unwrap();
        }
        db.delete(keys::META_FORMAT_VERSION).unwrap();
        assert_eq!(upgrade(&db).unwrap(), 1);
        assert_eq!(everything(&db), written);
        assert_eq!(upgrade(&db).unwrap(), 2, "an upgraded state stays as it is");
        assert_eq!(everything(&db), written);
    }
}
