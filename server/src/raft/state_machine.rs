//! The state machine on RocksDB, as openraft sees it.
//!
//! Each apply round is one `WriteBatch`: the effects of its entries, the dedup records,
//! the last-applied log id, the membership and the apply clock. A round closes at about
//! 4 MiB of writes, so applying a long run of entries costs bounded memory. Snapshots are streamed
//! dumps of a consistent RocksDB snapshot; installing one builds a fresh database
//! directory and switches to it by atomically replacing the `CURRENT` pointer file, so a
//! crash at any point leaves either the old or the new state, never a mix.

use super::signals::QueueSignals;
use super::snapshot::{self, SnapshotFile, SnapshotReader, SnapshotWriter};
use super::storage_fault::{check_free_space, write_synced};
use super::{LogId, SnapshotMeta, StoredMembership, TypeConfig};
use crate::codec::{decode, encode};
use crate::sm::apply::apply_command;
use crate::sm::command::{CommandResponse, Output};
use crate::sm::txn::{Txn, storage_err};
use crate::sm::{format, keys};
use futures::{Stream, TryStreamExt};
use openraft::alias::SnapshotOf;
use openraft::storage::{
    ApplyResponder, EntryResponder, RaftSnapshotBuilder, RaftStateMachine, Snapshot,
};
use openraft::{EntryPayload, OptionalSend};
use rocksdb::{DB, Options, WriteBatch};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

const CURRENT: &str = "CURRENT";

/// Rows per write batch while loading a snapshot into a fresh database.
const INSTALL_BATCH_BYTES: usize = 4 << 20;

/// The live state database, replaced wholesale when a snapshot is installed. Readers
/// take a cheap `Arc` of the current one.
#[derive(Clone)]
pub struct StateDb {
    current: Arc<RwLock<Arc<DB>>>,
}

impl StateDb {
    /// The database to read now.
    pub fn get(&self) -> Arc<DB> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn replace(&self, db: Arc<DB>) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = db;
    }
}

/// openraft's state machine: applies rounds, builds and installs snapshots.
#[derive(Clone)]
pub struct StateMachineStore {
    db: StateDb,
    /// `<data>/sm`: holds `CURRENT` and the database directories.
    sm_dir: PathBuf,
    /// `<data>/snapshots`.
    snapshot_dir: PathBuf,
    /// Last applied log index, published after each round (long polling and readiness
    /// wait on it).
    applied_tx: Arc<watch::Sender<u64>>,
    /// Long-poll wake-ups, fired after each committed round.
    signals: Arc<QueueSignals>,
}

fn db_options() -> Options {
    super::db_options::state()
}

impl StateMachineStore {
    /// Opens the state under `data_dir` (`sm/` and `snapshots/`), cleaning up directories
    /// left behind by an interrupted snapshot install.
    pub fn open(data_dir: &Path) -> io::Result<Self> {
        let sm_dir = data_dir.join("sm");
        let snapshot_dir = data_dir.join("snapshots");
        fs::create_dir_all(&sm_dir)?;
        fs::create_dir_all(&snapshot_dir)?;
        snapshot::remove_temporary(&snapshot_dir)?;
        let current_name = match fs::read_to_string(sm_dir.join(CURRENT)) {
            Ok(name) => name.trim().to_string(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                write_current(&sm_dir, "db-0")?;
                "db-0".to_string()
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("read {}/CURRENT: {e}", sm_dir.display()),
                ));
            }
        };
        for entry in fs::read_dir(&sm_dir)? {
            let path = entry?.path();
            if path.is_dir()
                && path.file_name().and_then(|n| n.to_str()) != Some(current_name.as_str())
            {
                fs::remove_dir_all(&path)?;
            }
        }
        let path = sm_dir.join(&current_name);
        let db = DB::open(&db_options(), &path)
            .map_err(|e| io::Error::other(format!("open state db {}: {e}", path.display())))?;
        stamp_format(&db).map_err(|e| ctx(e, &path))?;
        let store = StateMachineStore {
            db: StateDb {
                current: Arc::new(RwLock::new(Arc::new(db))),
            },
            sm_dir,
            snapshot_dir,
            applied_tx: Arc::new(watch::channel(0).0),
            signals: Arc::new(QueueSignals::default()),
        };
        let applied = store
            .read_meta::<Option<LogId>>(keys::META_LAST_APPLIED)?
            .flatten();
        store
            .applied_tx
            .send_replace(applied.map_or(0, |id| id.index));
        Ok(store)
    }

    /// Handle to the live database for reads.
    pub fn state_db(&self) -> StateDb {
        self.db.clone()
    }

    /// What the live state database holds in memory.
    pub fn memory(&self) -> super::db_memory::DbMemory {
        super::db_memory::read(&self.db.get(), &[])
    }

    /// Long-poll wake-ups of this node.
    pub fn signals(&self) -> Arc<QueueSignals> {
        self.signals.clone()
    }

    /// Subscribes to the last applied log index.
    pub fn applied_index(&self) -> watch::Receiver<u64> {
        self.applied_tx.subscribe()
    }

    fn read_meta<T: serde::de::DeserializeOwned>(&self, key: &[u8]) -> io::Result<Option<T>> {
        self.db
            .get()
            .get(key)
            .map_err(storage_err)?
            .map(|b| decode(&b))
            .transpose()
    }

    fn next_db_name(&self) -> io::Result<String> {
        let current = fs::read_to_string(self.sm_dir.join(CURRENT))?;
        let n: u64 = current
            .trim()
            .trim_start_matches("db-")
            .parse()
            .unwrap_or(0);
        Ok(format!("db-{}", n + 1))
    }

    /// Loads a verified snapshot file into a fresh database and switches to it.
    fn install_from_file(&self, meta: &SnapshotMeta, path: &Path) -> io::Result<()> {
        let name = self.next_db_name()?;
        let db_path = self.sm_dir.join(&name);
        if db_path.exists() {
            fs::remove_dir_all(&db_path)?;
        }
        let db = DB::open(&db_options(), &db_path)
            .map_err(|e| io::Error::other(format!("create state db {}: {e}", db_path.display())))?;
        let mut reader = SnapshotReader::open(path)?;
        let mut batch = WriteBatch::default();
        while let Some((k, v)) = reader.next_record()? {
            batch.put(&k, &v);
            if batch.size_in_bytes() >= INSTALL_BATCH_BYTES {
                db.write(std::mem::take(&mut batch)).map_err(storage_err)?;
            }
        }
        // The metadata the snapshot was sent with is authoritative.
        batch.put(keys::META_LAST_APPLIED, encode(&meta.last_log_id)?);
        batch.put(keys::META_MEMBERSHIP, encode(&meta.last_membership)?);
        db.write(batch).map_err(storage_err)?;
        stamp_format(&db).map_err(|e| ctx(e, path))?;
        db.flush().map_err(storage_err)?;
        write_synced(&db, WriteBatch::default()).map_err(storage_err)?;
        write_current(&self.sm_dir, &name)?;
        let old = self.db.get();
        self.db.replace(Arc::new(db));
        drop(old);
        let dest = self.snapshot_dir.join(snapshot::file_name(meta));
        if path != dest {
            fs::rename(path, &dest)?;
            snapshot::sync_dir(&self.snapshot_dir)?;
        }
        snapshot::remove_others(&self.snapshot_dir, &dest)?;
        self.applied_tx
            .send_replace(meta.last_log_id.map_or(0, |id| id.index));
        Ok(())
    }

    /// Path where the network layer should stream an incoming snapshot.
    pub fn incoming_snapshot_path(&self) -> PathBuf {
        self.snapshot_dir
            .join(format!("incoming-{}.part", rand::random::<u64>()))
    }
}

/// Checks that this build reads the state's format, migrates an older one and records the
/// format it writes (a state from before versions were recorded is version 1).
fn stamp_format(db: &DB) -> io::Result<()> {
    format::upgrade(db).map(drop)
}

/// Adds which state database or snapshot an error is about.
fn ctx(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Atomically points `CURRENT` at database directory `name`.
fn write_current(sm_dir: &Path, name: &str) -> io::Result<()> {
    let tmp = sm_dir.join("CURRENT.tmp");
    fs::write(&tmp, name)?;
    fs::File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, sm_dir.join(CURRENT))?;
    snapshot::sync_dir(sm_dir)
}

/// Builds a snapshot of `db` into `snapshot_dir` (blocking).
fn build_snapshot_file(db: &DB, snapshot_dir: &Path) -> io::Result<(SnapshotMeta, PathBuf)> {
    // Everything the snapshot contains must be durable here before the log is purged.
    write_synced(db, WriteBatch::default()).map_err(storage_err)?;
    let view = db.snapshot();
    let last_log_id: Option<LogId> = view
        .get(keys::META_LAST_APPLIED)
        .map_err(storage_err)?
        .map(|b| decode::<Option<LogId>>(&b))
        .transpose()?
        .flatten();
    let last_membership: StoredMembership = view
        .get(keys::META_MEMBERSHIP)
        .map_err(storage_err)?
        .map(|b| decode(&b))
        .transpose()?
        .unwrap_or_default();
    let meta = SnapshotMeta {
        last_log_id,
        last_membership,
    };
    let mut writer = SnapshotWriter::create(snapshot_dir, &meta)?;
    for item in view.iterator(rocksdb::IteratorMode::Start) {
        let (k, v) = item.map_err(storage_err)?;
        writer.record(&k, &v)?;
    }
    let dest = snapshot_dir.join(snapshot::file_name(&meta));
    writer.finish(&dest)?;
    snapshot::remove_others(snapshot_dir, &dest)?;
    Ok((meta, dest))
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    type SnapshotData = SnapshotFile;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<TypeConfig, SnapshotFile>, io::Error> {
        let db = self.db.get();
        let dir = self.snapshot_dir.clone();
        let (meta, path) = tokio::task::spawn_blocking(move || build_snapshot_file(&db, &dir))
            .await
            .map_err(|e| io::Error::other(format!("snapshot task: {e}")))??;
        tracing::info!(last_log_id = ?meta.last_log_id, path = %path.display(), "built snapshot");
        Ok(Snapshot {
            meta,
            snapshot: SnapshotFile { path },
        })
    }
}

/// Most bytes of writes one apply round gathers: a call with more entries (a follower
/// catching up) commits in several rounds, so apply memory stays bounded. The state is
/// the same whatever the round size.
const ROUND_BYTES: usize = 4 << 20;

/// An apply round in progress: its writes, the results to hand out once it is durable,
/// and the metadata it commits with.
struct Round<'db> {
    txn: Txn<'db>,
    /// The apply clock: the largest proposer time seen, so time never runs backwards.
    clock: u64,
    responses: Vec<(ApplyResponder<TypeConfig>, CommandResponse)>,
    last_applied: Option<LogId>,
    membership: Option<StoredMembership>,
}

impl<'db> Round<'db> {
    fn new(db: &'db DB) -> io::Result<Self> {
        let txn = Txn::new(db);
        let clock = txn_get_meta::<u64>(&txn, keys::META_CLOCK)?.unwrap_or_default();
        Ok(Round {
            txn,
            clock,
            responses: Vec::new(),
            last_applied: None,
            membership: None,
        })
    }
}

impl StateMachineStore {
    /// Writes a round as one batch with its metadata, then answers its proposers and
    /// wakes long polls on the queues it touched.
    fn commit(&self, db: &DB, round: Round<'_>) -> io::Result<()> {
        let Round {
            mut txn,
            clock,
            responses,
            last_applied,
            membership,
        } = round;
        let Some(last_applied) = last_applied else {
            return Ok(());
        };
        txn.put(
            keys::META_LAST_APPLIED.to_vec(),
            encode(&Some(last_applied))?,
        );
        txn.put(keys::META_CLOCK.to_vec(), encode(&clock)?);
        if let Some(membership) = membership {
            txn.put(keys::META_MEMBERSHIP.to_vec(), encode(&membership)?);
        }
        let (batch, touched) = txn.into_parts();
        check_free_space(&self.sm_dir)?;
        db.write(batch).map_err(storage_err)?;
        for (responder, response) in responses {
            responder.send(response);
        }
        self.signals.wake(&touched);
        self.applied_tx.send_replace(last_applied.index);
        Ok(())
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotData = SnapshotFile;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let applied = self
            .read_meta::<Option<LogId>>(keys::META_LAST_APPLIED)?
            .flatten();
        let membership = self.read_meta(keys::META_MEMBERSHIP)?.unwrap_or_default();
        Ok((applied, membership))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        let db = self.db.get();
        let mut round = Round::new(&db)?;
        while let Some((entry, responder)) = entries.try_next().await? {
            round.last_applied = Some(entry.log_id);
            let result = match &entry.payload {
                EntryPayload::Blank => Ok(Output::Empty),
                EntryPayload::Normal(command) => {
                    round.clock = round.clock.max(command.time_ms);
                    apply_command(&mut round.txn, round.clock, command)?
                }
                EntryPayload::Membership(m) => {
                    round.membership = Some(StoredMembership::new(Some(entry.log_id), m.clone()));
                    Ok(Output::Empty)
                }
            };
            if let Some(responder) = responder {
                round.responses.push((responder, CommandResponse(result)));
            }
            if round.txn.written_bytes() >= ROUND_BYTES {
                let clock = round.clock;
                self.commit(&db, round)?;
                round = Round::new(&db)?;
                round.clock = clock;
            }
        }
        self.commit(&db, round)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotFile,
    ) -> Result<(), io::Error> {
        let this = self.clone();
        let meta = meta.clone();
        tokio::task::spawn_blocking(move || this.install_from_file(&meta, &snapshot.path))
            .await
            .map_err(|e| io::Error::other(format!("install snapshot task: {e}")))?
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<TypeConfig, SnapshotFile>>, io::Error> {
        let Some(path) = snapshot::newest(&self.snapshot_dir)? else {
            return Ok(None);
        };
        let meta = SnapshotReader::open(&path)?.meta().clone();
        Ok(Some(Snapshot {
            meta,
            snapshot: SnapshotFile { path },
        }))
    }
}

fn txn_get_meta<T: serde::de::DeserializeOwned>(
    txn: &Txn<'_>,
    key: &[u8],
) -> io::Result<Option<T>> {
    use crate::sm::txn::StateRead;
    txn.get(key)?.map(|b| decode(&b)).transpose()
}

#[cfg(test)]
mod tests {
    use super::super::Entry;
    use super::*;
    use crate::sm::command::{Command, Op, SendEntry};
    use crate::sm::txn::DbRead;
    use crate::sm::{messages, queue_record};
    use openraft::entry::RaftEntry;
    use openraft::testing::log_id;
    use std::collections::BTreeMap;

    fn entry(index: u64, op: Op) -> EntryResponder<TypeConfig> {
        let command = Command {
            request_id: format!("r{index}"),
            time_ms: 1_000 + index,
            op,
        };
        (
            Entry::new_normal(log_id::<TypeConfig>(1, 1, index), Arc::new(command)),
            None,
        )
    }

    fn send(body: String) -> Op {
        Op::SendMessages {
            queue: "big".into(),
            entries: vec![SendEntry {
                id: "0".into(),
                message_id: "m".into(),
                size: body.len() as u64,
                body,
                delay_seconds: None,
                attributes: BTreeMap::new(),
                system_attributes: BTreeMap::new(),
                md5_body: String::new(),
                md5_attributes: None,
                md5_system_attributes: None,
                sender_id: "s".into(),
                group_id: None,
                dedup_id: None,
            }],
        }
    }

    #[tokio::test]
    async fn entries_beyond_one_round_of_writes_all_apply_with_the_last_log_id() {
        let dir = tempfile::tempdir().unwrap();
        let mut sm = StateMachineStore::open(dir.path()).unwrap();
        let mut entries = vec![entry(
            1,
            Op::CreateQueue {
                name: "big".into(),
                attributes: BTreeMap::new(),
                tags: BTreeMap::new(),
            },
        )];
        // Ten bodies of 900 KB: more than two rounds' worth of writes.
        entries.extend((2..=11).map(|i| entry(i, send("x".repeat(900_000)))));
        sm.apply(futures::stream::iter(entries.into_iter().map(Ok)))
            .await
            .unwrap();

        let (applied, _) = sm.applied_state().await.unwrap();
        assert_eq!(applied.map(|id| id.index), Some(11));
        assert_eq!(*sm.applied_index().borrow(), 11);
        let db = sm.state_db().get();
        let queue = queue_record::load(&DbRead(&db), "big").unwrap().unwrap();
        let counters = messages::counters(&DbRead(&db), queue.id).unwrap();
        assert_eq!((counters.visible, counters.next_seq), (10, 10));
        let clock: u64 = decode(&db.get(keys::META_CLOCK).unwrap().unwrap()).unwrap();
        assert_eq!(clock, 1_011, "the clock carries over between rounds");
    }

    #[test]
    fn a_state_of_a_newer_format_is_refused_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let sm = StateMachineStore::open(dir.path()).unwrap();
        let recorded = sm.read_meta::<u32>(keys::META_FORMAT_VERSION).unwrap();
        assert_eq!(
            recorded,
            Some(format::FORMAT_VERSION),
            "open records the version"
        );
        let newer = encode(&(format::FORMAT_VERSION + 1)).unwrap();
        sm.state_db()
            .get()
            .put(keys::META_FORMAT_VERSION, newer)
            .unwrap();
        drop(sm);
        let refused = StateMachineStore::open(dir.path()).err().expect("refused");
        assert!(
            refused.to_string().contains("newer than this build"),
            "{refused}"
        );
    }
}
