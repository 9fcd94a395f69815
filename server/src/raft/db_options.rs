//! RocksDB tuning shared by the log and state databases: bounded memory (small
//! memtables, one block cache per database), two background jobs for a small node, and
//! bloom filters for the state machine's point lookups.
//!
//! Filters and indexes are partitioned into small blocks that live in the block cache,
//! with only their top level and level 0's pinned: memory stays bounded however large
//! the backlog, and a point lookup whose filter block was evicted reads back one small
//! partition instead of a whole table's filter (which, with hundreds of thousands of
//! stored messages, had made lookups of absent keys read and checksum megabytes).

use rocksdb::{BlockBasedIndexType, BlockBasedOptions, Cache, Options};

/// Memtable size of each database.
const WRITE_BUFFER: usize = 8 << 20;
/// Memtables kept per column family before writes stall.
const WRITE_BUFFERS: i32 = 3;
/// Block cache of the state database (messages live on disk; this caches hot blocks).
const STATE_CACHE: usize = 32 << 20;
/// Block cache of the log database (recent entries are read while replicating).
const LOG_CACHE: usize = 8 << 20;

fn base(cache_bytes: usize) -> Options {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.set_max_background_jobs(2);
    opts.set_write_buffer_size(WRITE_BUFFER);
    opts.set_max_write_buffer_number(WRITE_BUFFERS);
    opts.set_max_total_wal_size(64 << 20);
    let mut table = BlockBasedOptions::default();
    // Without a cache of our own RocksDB falls back to its small default one.
    if let Ok(cache) = Cache::new_lru_cache(cache_bytes) {
        table.set_block_cache(&cache);
    }
    table.set_bloom_filter(10.0, false);
    table.set_cache_index_and_filter_blocks(true);
    table.set_index_type(BlockBasedIndexType::TwoLevelIndexSearch);
    table.set_partition_filters(true);
    table.set_metadata_block_size(4096);
    table.set_pin_top_level_index_and_filter(true);
    table.set_pin_l0_filter_and_index_blocks_in_cache(true);
    opts.set_block_based_table_factory(&table);
    opts
}

/// Options of the state-machine database.
pub fn state() -> Options {
    base(STATE_CACHE)
}

/// Options of the Raft log database (and its column families).
pub fn log() -> Options {
    base(LOG_CACHE)
}
