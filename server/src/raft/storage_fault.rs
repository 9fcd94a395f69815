//! What a node does when it cannot write its storage (a full disk, RocksDB in its
//! background-error read-only state).
//!
//! Every failed log or state-machine write reaches openraft as a storage error, and
//! openraft stops this node's Raft core for good: the node no longer votes, appends,
//! applies or leads, so it acknowledges nothing it could not persist. Writes stop a
//! reserve short of a full volume ([`RESERVE_BYTES`]), so RocksDB itself rarely sees ENOSPC. The edge then
//! answers `ServiceUnavailable` at once, `/readyz` turns false and `/metrics` reports it.
//! A stopped core cannot be restarted in place, so once a probe write to the data
//! directory succeeds again the process re-executes itself: the fresh process recovers
//! RocksDB from its write-ahead log and rejoins like a restarted node.

use super::Raft;
use openraft::async_runtime::WatchReceiver;
use openraft::error::Fatal;
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

/// Free space a node keeps on its data volume: below it, log appends and apply rounds fail
/// before RocksDB runs into ENOSPC itself. RocksDB 7.8 does not survive that cleanly: its
/// automatic recovery from a no-space error writes again through the failed log writer,
/// and builds with assertions abort (`sync_without_flush_called_`). The reserve covers an
/// apply round (4 MiB), a memtable flush (8 MiB per database) and a compaction's output.
pub const RESERVE_BYTES: u64 = 64 << 20;

/// `Ok` while the volume holding `dir` has at least [`RESERVE_BYTES`] free for
/// unprivileged writers; otherwise a `StorageFull` error naming what is left.
pub fn check_free_space(dir: &Path) -> io::Result<()> {
    let free = free_bytes(dir)?;
    if free >= RESERVE_BYTES {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::StorageFull,
        format!(
            "only {free} bytes free on the volume of {}, below the reserve of {RESERVE_BYTES} (disk full)",
            dir.display()
        ),
    ))
}

fn free_bytes(dir: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is NUL-terminated and `stat` is written by statvfs before it is read.
    if unsafe { libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) } != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("statvfs {}: {e}", dir.display()),
        ));
    }
    // SAFETY: statvfs returned 0, so it filled `stat`.
    let stat = unsafe { stat.assume_init() };
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Bytes the writability probe writes and syncs: enough for RocksDB to reopen (a new
/// manifest and write-ahead log), far from a full memtable's worth.
const PROBE_BYTES: usize = 4 << 20;

/// How often a node whose storage failed probes whether it takes writes again.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// Why this node's Raft stopped on a storage error, if it did.
pub fn failure(raft: &Raft) -> Option<String> {
    match &raft.metrics().borrow_watched().running_state {
        Err(Fatal::StorageError(e)) => Some(e.to_string()),
        _ => None,
    }
}

/// Writes `batch` to `db` and syncs the write-ahead log with it, making every earlier
/// write durable too (an empty batch syncs only). This replaces `flush_wal(true)`:
/// RocksDB's WAL sync touches the log file even after a write to it failed, and a failed
/// log writer asked to sync again aborts the process in RocksDB builds with assertions
/// (`sync_without_flush_called_`). A synced write goes through the write path, which
/// returns the database's stored error instead once a write failed.
pub fn write_synced(db: &rocksdb::DB, batch: rocksdb::WriteBatch) -> Result<(), rocksdb::Error> {
    let mut opts = rocksdb::WriteOptions::default();
    opts.set_sync(true);
    db.write_opt(batch, &opts)
}

/// Background errors RocksDB has recorded in `db` since it opened (a failed flush or
/// compaction, a failed write-ahead-log sync); after a hard one the database refuses writes.
pub fn background_errors(db: &rocksdb::DB) -> u64 {
    db.property_int_value("rocksdb.background-errors")
        .ok()
        .flatten()
        .unwrap_or(0)
}

/// Waits until Raft has stopped on a storage error and `data_dir` then has its reserve
/// free and takes a synced write again; returns the error Raft stopped on.
pub async fn wait_until_writable_again(raft: &Raft, data_dir: &Path) -> String {
    let mut metrics = raft.metrics();
    let error = loop {
        if let Some(error) = failure(raft) {
            break error;
        }
        if metrics.changed().await.is_err() {
            // The core is gone and its last metrics were read above.
            if let Some(error) = failure(raft) {
                break error;
            }
            std::future::pending::<()>().await;
        }
    };
    tracing::error!(%error, "storage failed: this node stopped Raft and acknowledges no writes");
    let probe = data_dir.join("write-probe");
    loop {
        tokio::time::sleep(PROBE_INTERVAL).await;
        let (path, dir) = (probe.clone(), data_dir.to_path_buf());
        let writable = move || check_free_space(&dir).and_then(|()| probe_write(&path));
        match tokio::task::spawn_blocking(writable).await {
            Ok(Ok(())) => return error,
            Ok(Err(e)) => tracing::debug!(error = %e, "storage still not writable"),
            Err(e) => tracing::warn!(error = %e, "storage probe task failed"),
        }
    }
}

/// Writes, syncs and removes [`PROBE_BYTES`] at `path`.
fn probe_write(path: &Path) -> io::Result<()> {
    let written = std::fs::File::create(path).and_then(|mut f| {
        f.write_all(&vec![0u8; PROBE_BYTES])?;
        f.sync_all()
    });
    let removed = std::fs::remove_file(path);
    written.and(removed)
}

/// Replaces this process with a fresh run of the same binary and arguments (same pid,
/// same inherited log output); returns only when that fails.
pub fn restart_in_place() -> io::Error {
    use std::os::unix::process::CommandExt;
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return io::Error::new(e.kind(), format!("find own executable: {e}")),
    };
    let error = std::process::Command::new(&exe)
        .args(std::env::args_os().skip(1))
        .exec();
    io::Error::new(
        error.kind(),
        format!("re-execute {}: {error}", exe.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_space_is_read_from_the_volume() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_bytes(dir.path()).unwrap() > 0);
        let missing = dir.path().join("absent");
        assert_eq!(
            check_free_space(&missing).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn the_probe_leaves_nothing_behind_and_reports_a_failed_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("write-probe");
        probe_write(&path).unwrap();
        assert!(!path.exists());
        let missing = dir.path().join("absent").join("write-probe");
        assert_eq!(
            probe_write(&missing).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }
}
