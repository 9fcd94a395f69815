//! The Raft log on RocksDB.
//!
//! Column family `log` maps a big-endian index to an encoded entry; `raft_meta` holds the
//! vote, the last purged log id and the committed log id. Appends are written
//! immediately (so they are readable when `append` returns) and made durable by a single
//! flusher thread that syncs the WAL once per round for every append queued meanwhile
//! (group commit). Vote, truncate and purge are durable before they return. The newest
//! entries also stay in memory ([`RecentEntries`]) for replication and apply to read.

use super::recent_entries::RecentEntries;
use super::storage_fault::{check_free_space, write_synced};
use super::{Entry, LogId, TypeConfig, Vote};
use crate::codec::{decode, encode};
use crate::sm::txn::storage_err;
use futures::{Stream, StreamExt, stream};
use openraft::OptionalSend;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, DB, Direction, IteratorMode, WriteBatch};
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, mpsc};

const CF_LOG: &str = "log";
const CF_META: &str = "raft_meta";
const KEY_VOTE: &[u8] = b"vote";
const KEY_PURGED: &[u8] = b"last_purged";
const KEY_COMMITTED: &[u8] = b"committed";

/// Encoded bytes of the newest entries kept in memory: at least eight full entries of
/// the group commit, what replication and apply typically still have to read. Decoded
/// they take about two to three times this.
const RECENT_BYTES: usize = 2 << 20;

/// RocksDB-backed Raft log storage. Cheap to clone: clones share the database and flusher.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<DB>,
    /// The database directory (its volume's free space is checked before appending).
    dir: Arc<Path>,
    flusher: mpsc::Sender<IOFlushed<TypeConfig>>,
    recent: Arc<Mutex<RecentEntries>>,
}

impl LogStore {
    /// Opens (or creates) the log database in `dir` and starts its flusher thread.
    pub fn open(dir: &Path) -> io::Result<Self> {
        let mut opts = super::db_options::log();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        // Clones share the table factory, so every column family uses one block cache.
        let cfs = [CF_LOG, CF_META].map(|name| ColumnFamilyDescriptor::new(name, opts.clone()));
        let db = DB::open_cf_descriptors(&opts, dir, cfs)
            .map_err(|e| io::Error::other(format!("open raft log at {}: {e}", dir.display())))?;
        let db = Arc::new(db);
        let (tx, rx) = mpsc::channel::<IOFlushed<TypeConfig>>();
        let flush_db = db.clone();
        std::thread::Builder::new()
            .name("raft-log-flush".into())
            .spawn(move || flush_loop(&flush_db, rx))?;
        Ok(LogStore {
            db,
            dir: dir.into(),
            flusher: tx,
            recent: Arc::new(Mutex::new(RecentEntries::new(RECENT_BYTES))),
        })
    }

    fn recent(&self) -> MutexGuard<'_, RecentEntries> {
        self.recent.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cf_log(&self) -> &ColumnFamily {
        self.db
            .cf_handle(CF_LOG)
            .expect("log column family is created on open")
    }

    fn cf_meta(&self) -> &ColumnFamily {
        self.db
            .cf_handle(CF_META)
            .expect("raft_meta column family is created on open")
    }

    /// What the log database holds in memory.
    pub fn memory(&self) -> super::db_memory::DbMemory {
        super::db_memory::read(&self.db, &[CF_LOG, CF_META])
    }

    /// RocksDB background errors of the log database (see `storage_fault`).
    pub fn background_errors(&self) -> u64 {
        super::storage_fault::background_errors(&self.db)
    }

    fn get_meta<T: serde::de::DeserializeOwned>(&self, key: &[u8]) -> io::Result<Option<T>> {
        self.db
            .get_cf(self.cf_meta(), key)
            .map_err(storage_err)?
            .map(|b| decode(&b))
            .transpose()
    }

    /// Writes a batch and syncs the WAL before returning.
    async fn write_durable(&self, batch: WriteBatch) -> io::Result<()> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || write_synced(&db, batch).map_err(storage_err))
            .await
            .map_err(|e| io::Error::other(format!("log write task: {e}")))?
    }
}

/// Syncs the WAL once for every append queued since the last sync, then acknowledges them.
fn flush_loop(db: &DB, rx: mpsc::Receiver<IOFlushed<TypeConfig>>) {
    while let Ok(first) = rx.recv() {
        let mut pending = vec![first];
        pending.extend(rx.try_iter());
        let result = write_synced(db, WriteBatch::default()).map_err(storage_err);
        for callback in pending {
            callback.io_completed(
                result
                    .as_ref()
                    .map(|_| ())
                    .map_err(|e| io::Error::new(e.kind(), e.to_string())),
            );
        }
    }
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

impl LogStore {
    /// The entries of `range` from index `start` on, in order, stopping after the first
    /// entry that brings the encoded size to `max_bytes`. Also returns the index to
    /// continue from when it stopped early. Recent entries come from memory.
    fn read_range(
        &self,
        start: u64,
        range: &impl RangeBounds<u64>,
        max_bytes: usize,
    ) -> io::Result<(Vec<Entry>, Option<u64>)> {
        match self.recent().read(start, range, max_bytes) {
            Some(read) => Ok(read),
            None => self.read_stored(start, range, max_bytes),
        }
    }

    /// [`Self::read_range`] from the database only.
    fn read_stored(
        &self,
        start: u64,
        range: &impl RangeBounds<u64>,
        max_bytes: usize,
    ) -> io::Result<(Vec<Entry>, Option<u64>)> {
        let mut entries = Vec::new();
        let mut bytes = 0;
        let iter = self.db.iterator_cf(
            self.cf_log(),
            IteratorMode::From(&index_key(start), Direction::Forward),
        );
        for item in iter {
            let (key, value) = item.map_err(storage_err)?;
            let index = u64::from_be_bytes(
                key.as_ref()
                    .try_into()
                    .map_err(|_| io::Error::other("bad log key"))?,
            );
            if !range.contains(&index) {
                break;
            }
            entries.push(decode(&value)?);
            bytes += value.len();
            if bytes >= max_bytes {
                return Ok((entries, index.checked_add(1)));
            }
        }
        Ok((entries, None))
    }
}

/// Most bytes of entries the apply stream reads from the log at a time.
const STREAM_CHUNK_BYTES: usize = 4 << 20;

fn range_start(range: &impl RangeBounds<u64>) -> u64 {
    match range.start_bound() {
        Bound::Included(x) => *x,
        Bound::Excluded(x) => x.saturating_add(1),
        Bound::Unbounded => 0,
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        Ok(self.read_range(range_start(&range), &range, usize::MAX)?.0)
    }

    /// Entries to apply, read in chunks of about 4 MiB as apply consumes them (the
    /// default reads the whole committed range into memory first).
    async fn entries_stream<RB>(
        &mut self,
        range: RB,
    ) -> impl Stream<Item = Result<Entry, io::Error>> + OptionalSend
    where
        RB: RangeBounds<u64> + Clone + Debug + OptionalSend,
    {
        let store = self.clone();
        let chunks = stream::unfold(Some(range_start(&range)), move |next| {
            let store = store.clone();
            let range = range.clone();
            async move {
                let start = next?;
                Some(match store.read_range(start, &range, STREAM_CHUNK_BYTES) {
                    Ok((entries, next)) => (entries.into_iter().map(Ok).collect(), next),
                    Err(e) => (vec![Err(e)], None),
                })
            }
        });
        chunks.flat_map(stream::iter)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        self.get_meta(KEY_VOTE)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let last = match self.db.iterator_cf(self.cf_log(), IteratorMode::End).next() {
            Some(item) => {
                let (_, value) = item.map_err(storage_err)?;
                let entry: Entry = decode(&value)?;
                Some(entry.log_id)
            }
            None => None,
        };
        let last_purged_log_id: Option<LogId> = self.get_meta(KEY_PURGED)?;
        Ok(LogState {
            last_log_id: last.or(last_purged_log_id),
            last_purged_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf_meta(), KEY_VOTE, encode(vote)?);
        self.write_durable(batch).await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        // Written without a sync: losing it only means re-applying from the last applied id.
        self.db
            .put_cf(self.cf_meta(), KEY_COMMITTED, encode(&committed)?)
            .map_err(storage_err)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(self.get_meta::<Option<LogId>>(KEY_COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        check_free_space(&self.dir)?;
        let mut batch = WriteBatch::default();
        let mut appended = Vec::new();
        for entry in entries {
            let encoded = encode(&entry)?;
            batch.put_cf(self.cf_log(), index_key(entry.log_id.index), &encoded);
            appended.push((entry, encoded.len()));
        }
        self.db.write(batch).map_err(storage_err)?;
        let mut recent = self.recent();
        for (entry, size) in appended {
            recent.push(entry, size);
        }
        drop(recent);
        self.flusher
            .send(callback)
            .map_err(|_| io::Error::other("raft log flusher has stopped"))
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let from = last_log_id.map_or(0, |id| id.index + 1);
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(self.cf_log(), index_key(from), index_key(u64::MAX));
        batch.delete_cf(self.cf_log(), index_key(u64::MAX));
        self.recent().truncate_from(from);
        self.write_durable(batch).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf_meta(), KEY_PURGED, encode(&log_id)?);
        batch.delete_range_cf(self.cf_log(), index_key(0), index_key(log_id.index + 1));
        self.recent().purge_through(log_id.index);
        self.write_durable(batch).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sm::command::{Command, Op};
    use openraft::entry::RaftEntry;
    use openraft::testing::log_id;

    /// An entry of `term` at `index` carrying a `body_bytes` body.
    fn entry(term: u64, index: u64, body_bytes: usize) -> Entry {
        let command = Command {
            request_id: format!("r{term}-{index}"),
            time_ms: index,
            op: Op::DeleteQueue {
                name: "q".repeat(body_bytes),
            },
        };
        Entry::new_normal(log_id::<TypeConfig>(term, 1, index), Arc::new(command))
    }

    /// Entries 1..=n, each carrying a `body_bytes` body, written straight to the log.
    fn store_with_entries(dir: &Path, n: u64, body_bytes: usize) -> LogStore {
        let store = LogStore::open(dir).unwrap();
        for index in 1..=n {
            store
                .db
                .put_cf(
                    store.cf_log(),
                    index_key(index),
                    encode(&entry(1, index, body_bytes)).unwrap(),
                )
                .unwrap();
        }
        store
    }

    fn encoded(entries: &[Entry]) -> Vec<Vec<u8>> {
        entries.iter().map(|e| encode(e).unwrap()).collect()
    }

    #[tokio::test]
    async fn recent_entries_read_from_memory_match_the_log_through_truncation_and_purge() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LogStore::open(dir.path()).unwrap();
        let terms =
            |term, indexes: std::ops::RangeInclusive<u64>| indexes.map(move |i| entry(term, i, 10));
        store
            .append(terms(1, 1..=6), IOFlushed::noop())
            .await
            .unwrap();
        // A new leader replaces 5 and 6.
        let kept = log_id::<TypeConfig>(1, 1, 4);
        store.truncate_after(Some(kept)).await.unwrap();
        store
            .append(terms(2, 5..=7), IOFlushed::noop())
            .await
            .unwrap();
        store.purge(log_id::<TypeConfig>(1, 1, 2)).await.unwrap();

        let range = 3..8;
        assert!(store.recent().read(3, &range, usize::MAX).is_some());
        let from_memory = store.try_get_log_entries(range.clone()).await.unwrap();
        let (stored, _) = store.read_stored(3, &range, usize::MAX).unwrap();
        let terms: Vec<u64> = from_memory
            .iter()
            .map(|e| e.log_id.leader_id.term)
            .collect();
        assert_eq!(terms, vec![1, 1, 2, 2, 2]);
        assert_eq!(encoded(&from_memory), encoded(&stored));
        // Below the purge point nothing is served from memory.
        assert!(store.recent().read(2, &(2..8), usize::MAX).is_none());
    }

    #[tokio::test]
    async fn the_apply_stream_reads_every_entry_of_the_range_in_bounded_chunks() {
        let dir = tempfile::tempdir().unwrap();
        // 1 MiB entries: a 4 MiB chunk holds four of them.
        let mut store = store_with_entries(dir.path(), 10, 1 << 20);
        let (first, next) = store.read_range(2, &(2..9), STREAM_CHUNK_BYTES).unwrap();
        let indexes: Vec<u64> = first.iter().map(|e| e.log_id.index).collect();
        assert_eq!(indexes, vec![2, 3, 4, 5]);
        assert_eq!(next, Some(6));

        let streamed: Vec<u64> = store
            .entries_stream(2..9)
            .await
            .map(|e| e.unwrap().log_id.index)
            .collect()
            .await;
        assert_eq!(streamed, (2..9).collect::<Vec<_>>());
        let all: Vec<u64> = store
            .entries_stream(..)
            .await
            .map(|e| e.unwrap().log_id.index)
            .collect()
            .await;
        assert_eq!(all, (1..=10).collect::<Vec<_>>());
    }
}
