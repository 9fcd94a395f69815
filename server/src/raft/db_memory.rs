//! What a RocksDB database holds in memory, read from its properties: memtables, the
//! block cache (data, index and filter blocks) and the pinned part of the cache.

use rocksdb::DB;

/// Memory of one database, in bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DbMemory {
    /// Active and immutable memtables of every column family.
    pub memtables: u64,
    /// Block cache usage (shared by the database's column families).
    pub block_cache: u64,
    /// Of the block cache, the blocks pinned in it (level-0 and top-level index and
    /// filter blocks, and blocks held by live iterators).
    pub pinned: u64,
}

/// Reads the memory of `db`, whose column families are `cf_names` (the default column
/// family is always counted).
pub fn read(db: &DB, cf_names: &[&str]) -> DbMemory {
    let int = |name: &str| db.property_int_value(name).ok().flatten().unwrap_or(0);
    let memtables_of = |cf: &str| {
        db.cf_handle(cf)
            .and_then(|h| {
                db.property_int_value_cf(h, "rocksdb.cur-size-all-mem-tables")
                    .ok()
                    .flatten()
            })
            .unwrap_or(0)
    };
    DbMemory {
        memtables: int("rocksdb.cur-size-all-mem-tables")
            + cf_names.iter().map(|cf| memtables_of(cf)).sum::<u64>(),
        block_cache: int("rocksdb.block-cache-usage"),
        pinned: int("rocksdb.block-cache-pinned-usage"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memtables_of_every_column_family_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = super::super::db_options::log();
        opts.create_missing_column_families(true);
        let db = DB::open_cf(&opts, dir.path(), ["a"]).unwrap();
        let empty = read(&db, &["a"]);
        let cf = db.cf_handle("a").unwrap();
        for i in 0..1000u32 {
            db.put_cf(cf, i.to_be_bytes(), [7u8; 1000]).unwrap();
        }
        let written = read(&db, &["a"]);
        assert!(
            written.memtables >= empty.memtables + 1_000_000,
            "{empty:?} → {written:?}"
        );
        db.get_cf(cf, 5u32.to_be_bytes()).unwrap();
        assert!(written.block_cache >= written.pinned);
    }
}
