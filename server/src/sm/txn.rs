//! A write transaction over the state-machine database for one apply round.
//!
//! Writes go into an in-memory overlay, so that later entries of the same round read what
//! earlier ones wrote. The round commits as one `WriteBatch` (with the last-applied log id,
//! which makes an apply round atomic) built from the overlay in key order: RocksDB's
//! memtable inserts sorted keys next to each other instead of searching from the top of
//! its skip list for every key, which is most of the cost of a write. Point reads of
//! stored keys are remembered for the round (the database does not change under it), so
//! the queue record every command of a round reads costs one RocksDB lookup.

use rocksdb::{DB, Direction, IteratorMode, ReadOptions, WriteBatch};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;

/// Reads of the state: implemented by [`Txn`] (reads its own writes) and by plain
/// database snapshots for read-only queries.
pub trait StateRead {
    /// The value stored under `key`.
    fn get(&self, key: &[u8]) -> io::Result<Option<Vec<u8>>>;

    /// Up to `limit` entries with `start <= key < end`, in key order.
    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>>;
}

/// Pending writes of an apply round.
pub struct Txn<'db> {
    db: &'db DB,
    overlay: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Stored values read this round (what the database held before it).
    read_cache: RefCell<HashMap<Vec<u8>, Option<Vec<u8>>>>,
    /// Ranges deleted in this round; they hide stored keys (not later pending writes).
    tombstones: Vec<(Vec<u8>, Vec<u8>)>,
    /// Queues that gained receivable messages in this round (long polls to wake).
    touched: BTreeSet<u64>,
    /// Bytes of keys and values written so far (overwrites count again).
    written: usize,
}

impl<'db> Txn<'db> {
    pub fn new(db: &'db DB) -> Self {
        Txn {
            db,
            overlay: BTreeMap::new(),
            read_cache: RefCell::default(),
            tombstones: Vec::new(),
            touched: BTreeSet::new(),
            written: 0,
        }
    }

    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.written += key.len() + value.len();
        self.overlay.insert(key, Some(value));
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.written += key.len();
        self.overlay.insert(key, None);
    }

    /// Bytes written in this round so far: what its overlay and batch hold, roughly.
    pub fn written_bytes(&self) -> usize {
        self.written
    }

    /// Deletes every key in `[start, end)`, including keys written earlier in this round.
    pub fn delete_range(&mut self, start: &[u8], end: &[u8]) {
        for (_, v) in self.overlay.range_mut(start.to_vec()..end.to_vec()) {
            *v = None;
        }
        self.tombstones.push((start.to_vec(), end.to_vec()));
    }

    /// Whether a key stored in the database was deleted by a range delete of this round.
    fn hidden(&self, key: &[u8]) -> bool {
        self.tombstones
            .iter()
            .any(|(s, e)| s.as_slice() <= key && key < e.as_slice())
    }

    /// Notes that queue `queue_id` gained receivable messages.
    pub fn touch(&mut self, queue_id: u64) {
        self.touched.insert(queue_id);
    }

    /// Consumes the transaction, returning the batch to write.
    pub fn into_batch(self) -> WriteBatch {
        self.into_parts().0
    }

    /// Consumes the transaction, returning the batch and the touched queues. Range
    /// deletes come first, so writes made after them in the round survive them; the
    /// remaining writes follow in key order.
    pub fn into_parts(self) -> (WriteBatch, BTreeSet<u64>) {
        let mut batch = WriteBatch::default();
        for (start, end) in &self.tombstones {
            batch.delete_range(start, end);
        }
        for (key, value) in &self.overlay {
            match value {
                Some(value) => batch.put(key, value),
                None => batch.delete(key),
            }
        }
        (batch, self.touched)
    }
}

impl StateRead for Txn<'_> {
    fn get(&self, key: &[u8]) -> io::Result<Option<Vec<u8>>> {
        match self.overlay.get(key) {
            Some(v) => Ok(v.clone()),
            None if self.hidden(key) => Ok(None),
            None => {
                if let Some(cached) = self.read_cache.borrow().get(key) {
                    return Ok(cached.clone());
                }
                let stored = self.db.get(key).map_err(storage_err)?;
                self.read_cache
                    .borrow_mut()
                    .insert(key.to_vec(), stored.clone());
                Ok(stored)
            }
        }
    }

    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        let mut pending = self.overlay.range(start.to_vec()..end.to_vec()).peekable();
        let mut iter_opts = ReadOptions::default();
        iter_opts.set_iterate_upper_bound(end.to_vec());
        let mut stored = self
            .db
            .iterator_opt(IteratorMode::From(start, Direction::Forward), iter_opts)
            .peekable();
        while out.len() < limit {
            let next_stored = match stored.peek() {
                Some(Ok((k, _))) => Some(k.clone()),
                Some(Err(e)) => return Err(storage_err(e.clone())),
                None => None,
            };
            let next_pending = pending.peek().map(|(k, _)| (*k).clone());
            // Which side holds the next key: the pending write shadows a stored value
            // under the same key (and the stored one is skipped).
            let from_pending = match (&next_stored, &next_pending) {
                (None, None) => break,
                (Some(sk), Some(pk)) if pk[..] <= sk[..] => {
                    if pk[..] == sk[..] {
                        stored.next();
                    }
                    true
                }
                (None, Some(_)) => true,
                (Some(_), _) => false,
            };
            if from_pending {
                if let Some((k, Some(v))) = pending.next() {
                    out.push((k.clone(), v.clone()));
                }
            } else if let Some(next) = stored.next() {
                let (k, v) = next.map_err(storage_err)?;
                if !self.hidden(&k) {
                    out.push((k.to_vec(), v.to_vec()));
                }
            }
        }
        Ok(out)
    }
}

/// Read-only view of the database for queries outside apply.
pub struct DbRead<'db>(pub &'db DB);

impl StateRead for DbRead<'_> {
    fn get(&self, key: &[u8]) -> io::Result<Option<Vec<u8>>> {
        self.0.get(key).map_err(storage_err)
    }

    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut iter_opts = ReadOptions::default();
        iter_opts.set_iterate_upper_bound(end.to_vec());
        self.0
            .iterator_opt(IteratorMode::From(start, Direction::Forward), iter_opts)
            .take(limit)
            .map(|item| {
                item.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(storage_err)
            })
            .collect()
    }
}

/// Wraps a RocksDB error as an I/O error with context.
pub fn storage_err(e: rocksdb::Error) -> io::Error {
    io::Error::other(format!("rocksdb: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &std::path::Path) -> DB {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        DB::open(&opts, dir).unwrap()
    }

    #[test]
    fn scan_merges_pending_writes_and_deletes_with_stored_keys() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        for k in ["a", "c", "e", "g"] {
            db.put(k, format!("db-{k}")).unwrap();
        }
        let mut txn = Txn::new(&db);
        txn.put(b"b".to_vec(), b"tx-b".to_vec());
        txn.put(b"c".to_vec(), b"tx-c".to_vec());
        txn.delete(b"e".to_vec());
        txn.put(b"h".to_vec(), b"tx-h".to_vec());
        let all = txn.scan(b"a", b"z", 100).unwrap();
        let view: Vec<(String, String)> = all
            .into_iter()
            .map(|(k, v)| (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap()))
            .collect();
        assert_eq!(
            view,
            vec![
                ("a".into(), "db-a".into()),
                ("b".into(), "tx-b".into()),
                ("c".into(), "tx-c".into()),
                ("g".into(), "db-g".into()),
                ("h".into(), "tx-h".into()),
            ]
        );
        assert_eq!(txn.scan(b"b", b"g", 2).unwrap().len(), 2);
        assert_eq!(txn.get(b"e").unwrap(), None);
        assert_eq!(txn.get(b"a").unwrap(), Some(b"db-a".to_vec()));
    }

    #[test]
    fn stored_reads_are_looked_up_once_per_round_and_never_shadow_writes() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        for k in ["q", "w", "r"] {
            db.put(k, "old").unwrap();
        }
        let mut txn = Txn::new(&db);
        for k in [b"q", b"w", b"r", b"x"] {
            txn.get(k).unwrap();
        }
        // Only a write outside the round could change the database; the round keeps
        // answering from what it read.
        db.put("q", "outside").unwrap();
        db.put("x", "outside").unwrap();
        assert_eq!(txn.get(b"q").unwrap(), Some(b"old".to_vec()));
        assert_eq!(txn.get(b"x").unwrap(), None);
        // The round's own writes win over what it read.
        txn.put(b"q".to_vec(), b"new".to_vec());
        txn.delete(b"w".to_vec());
        txn.delete_range(b"r", b"s");
        assert_eq!(txn.get(b"q").unwrap(), Some(b"new".to_vec()));
        assert_eq!(txn.get(b"w").unwrap(), None);
        assert_eq!(txn.get(b"r").unwrap(), None);
    }

    #[test]
    fn delete_range_hides_stored_and_pending_keys_then_commits() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        db.put("k1", "1").unwrap();
        db.put("k3", "3").unwrap();
        db.put("z", "z").unwrap();
        let mut txn = Txn::new(&db);
        txn.put(b"k2".to_vec(), b"2".to_vec());
        txn.delete_range(b"k", b"l");
        assert!(txn.scan(b"k", b"l", 10).unwrap().is_empty());
        assert_eq!(txn.get(b"z").unwrap(), Some(b"z".to_vec()));
        // Written after the range delete of the same round: survives the commit.
        txn.put(b"k4".to_vec(), b"4".to_vec());
        assert_eq!(txn.get(b"k4").unwrap(), Some(b"4".to_vec()));
        db.write(txn.into_batch()).unwrap();
        let stored: Vec<Vec<u8>> = DbRead(&db)
            .scan(b"a", b"zz", 10)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(stored, vec![b"k4".to_vec(), b"z".to_vec()]);
    }
}
