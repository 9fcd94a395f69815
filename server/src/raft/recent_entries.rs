//! The newest log entries, kept decoded in memory.
//!
//! Right after an append the leader replicates the new entries to every follower and
//! applies them, and a follower applies what it just stored; reading them back from
//! RocksDB and decoding them again cost a copy and an allocation per field each time.
//! The log store keeps its latest appends here instead, bounded by their encoded size.
//! Commands are shared (`Arc`), so a cached entry costs little beyond what replication
//! and apply hold anyway.
//!
//! Invariant: the entries held are a contiguous run ending at the log's last entry, so
//! a range that starts inside the run is answered entirely from memory.

use super::Entry;
use std::collections::VecDeque;
use std::ops::RangeBounds;

/// Recent entries with their encoded sizes.
pub struct RecentEntries {
    entries: VecDeque<(Entry, usize)>,
    bytes: usize,
    max_bytes: usize,
}

impl RecentEntries {
    /// An empty cache holding at most about `max_bytes` of encoded entries.
    pub fn new(max_bytes: usize) -> Self {
        RecentEntries {
            entries: VecDeque::new(),
            bytes: 0,
            max_bytes,
        }
    }

    fn first_index(&self) -> Option<u64> {
        self.entries.front().map(|(e, _)| e.log_id.index)
    }

    fn last_index(&self) -> Option<u64> {
        self.entries.back().map(|(e, _)| e.log_id.index)
    }

    /// Records an entry just appended to the log (`size`: its encoded length). An entry
    /// that does not follow the run replaces whatever it overwrote or skipped past.
    pub fn push(&mut self, entry: Entry, size: usize) {
        let index = entry.log_id.index;
        match self.last_index() {
            Some(last) if index <= last => self.truncate_from(index),
            Some(last) if index > last + 1 => self.clear(),
            _ => {}
        }
        self.entries.push_back((entry, size));
        self.bytes += size;
        while self.bytes > self.max_bytes && self.entries.len() > 1 {
            self.pop_front();
        }
    }

    /// Forgets entries at `index` and after (the log was truncated there).
    pub fn truncate_from(&mut self, index: u64) {
        while self.last_index().is_some_and(|last| last >= index) {
            if let Some((_, size)) = self.entries.pop_back() {
                self.bytes -= size;
            }
        }
    }

    /// Forgets entries up to and including `index` (the log was purged there).
    pub fn purge_through(&mut self, index: u64) {
        while self.first_index().is_some_and(|first| first <= index) {
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        if let Some((_, size)) = self.entries.pop_front() {
            self.bytes -= size;
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// The entries of `range` from `start` on, stopping after the first that brings
    /// their encoded size to `max_bytes` (then also the index to continue from); `None`
    /// when `start` lies before the run, so the caller reads the log instead.
    pub fn read(
        &self,
        start: u64,
        range: &impl RangeBounds<u64>,
        max_bytes: usize,
    ) -> Option<(Vec<Entry>, Option<u64>)> {
        let first = self.first_index()?;
        if start < first {
            return None;
        }
        let mut out = Vec::new();
        let mut bytes = 0;
        let skip = usize::try_from(start - first).unwrap_or(usize::MAX);
        for (entry, size) in self.entries.iter().skip(skip) {
            let index = entry.log_id.index;
            if !range.contains(&index) {
                break;
            }
            out.push(entry.clone());
            bytes += size;
            if bytes >= max_bytes {
                return Some((out, index.checked_add(1)));
            }
        }
        Some((out, None))
    }
}

#[cfg(test)]
mod tests {
    use super::super::TypeConfig;
    use super::*;
    use crate::sm::command::{Command, Op};
    use openraft::entry::RaftEntry;
    use openraft::testing::log_id;
    use std::sync::Arc;

    fn entry(term: u64, index: u64) -> Entry {
        let command = Command {
            request_id: format!("r{index}"),
            time_ms: index,
            op: Op::Housekeeping,
        };
        Entry::new_normal(log_id::<TypeConfig>(term, 1, index), Arc::new(command))
    }

    fn indexes(read: Option<(Vec<Entry>, Option<u64>)>) -> Option<(Vec<u64>, Option<u64>)> {
        read.map(|(entries, next)| (entries.iter().map(|e| e.log_id.index).collect(), next))
    }

    #[test]
    fn serves_ranges_inside_the_run_and_declines_older_ones() {
        let mut recent = RecentEntries::new(1_000);
        for i in 5..=9 {
            recent.push(entry(1, i), 10);
        }
        assert_eq!(
            indexes(recent.read(6, &(6..9), usize::MAX)),
            Some((vec![6, 7, 8], None))
        );
        // Past the last entry there is nothing, in memory or on disk.
        assert_eq!(
            indexes(recent.read(8, &(8..), usize::MAX)),
            Some((vec![8, 9], None))
        );
        assert_eq!(
            indexes(recent.read(5, &(5..10), 25)),
            Some((vec![5, 6, 7], Some(8)))
        );
        assert_eq!(indexes(recent.read(4, &(4..10), usize::MAX)), None);
        assert_eq!(indexes(RecentEntries::new(10).read(0, &(0..), 1)), None);
    }

    #[test]
    fn stays_within_its_bytes_and_follows_truncation_purge_and_gaps() {
        let mut recent = RecentEntries::new(30);
        for i in 1..=5 {
            recent.push(entry(1, i), 10);
        }
        assert_eq!(recent.first_index(), Some(3), "only 30 bytes are kept");
        assert_eq!(recent.bytes, 30);

        // A new leader overwrites 4 and 5.
        recent.push(entry(2, 4), 10);
        assert_eq!(
            (recent.first_index(), recent.last_index()),
            (Some(3), Some(4))
        );
        assert_eq!(recent.entries.back().unwrap().0.log_id.leader_id.term, 2);

        recent.truncate_from(4);
        assert_eq!(recent.last_index(), Some(3));
        recent.purge_through(3);
        assert_eq!((recent.first_index(), recent.bytes), (None, 0));

        recent.push(entry(2, 7), 10);
        recent.push(entry(2, 9), 10);
        assert_eq!(
            (recent.first_index(), recent.last_index()),
            (Some(9), Some(9))
        );

        // One entry larger than the bound is still kept: it is the last one.
        recent.push(entry(2, 10), 100);
        assert_eq!((recent.first_index(), recent.bytes), (Some(10), 100));
    }
}
