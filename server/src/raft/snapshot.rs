//! Snapshot files: a point-in-time dump of the state-machine keyspace.
//!
//! Format: magic `SQSRSNAP1`, u32 length + encoded [`SnapshotMeta`], then records of
//! (u32 key length, key, u32 value length, value), an end marker `u32::MAX`, and the
//! CRC-32 of everything before it. Files are written to a temporary name, fsynced and
//! renamed, so a crash never leaves a partial file under a snapshot's name.

use super::SnapshotMeta;
use crate::codec::{decode, encode};
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 9] = b"SQSRSNAP1";
const END: u32 = u32::MAX;
/// Largest key or value a snapshot may hold (corrupt lengths fail fast).
const MAX_RECORD: u32 = 64 << 20;

/// A snapshot on disk; what openraft hands between the state machine and the network.
#[derive(Debug, Clone)]
pub struct SnapshotFile {
    pub path: PathBuf,
}

/// Writes a snapshot file record by record.
pub struct SnapshotWriter {
    out: BufWriter<File>,
    crc: crc32fast::Hasher,
    tmp: PathBuf,
}

impl SnapshotWriter {
    /// Starts a snapshot in `dir` under a temporary name.
    pub fn create(dir: &Path, meta: &SnapshotMeta) -> io::Result<Self> {
        let tmp = dir.join(format!("building-{}.tmp", std::process::id()));
        let file = File::create(&tmp).map_err(|e| ctx(e, "create", &tmp))?;
        let mut writer = SnapshotWriter {
            out: BufWriter::with_capacity(1 << 20, file),
            crc: crc32fast::Hasher::new(),
            tmp,
        };
        writer.write_raw(MAGIC)?;
        let meta = encode(meta)?;
        writer.write_chunk(&meta)?;
        Ok(writer)
    }

    fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.crc.update(bytes);
        self.out.write_all(bytes)
    }

    fn write_chunk(&mut self, bytes: &[u8]) -> io::Result<()> {
        let len = u32::try_from(bytes.len())
            .map_err(|_| io::Error::other("snapshot record too large"))?;
        self.write_raw(&len.to_le_bytes())?;
        self.write_raw(bytes)
    }

    /// Appends one key/value record.
    pub fn record(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        self.write_chunk(key)?;
        self.write_chunk(value)
    }

    /// Seals the file, fsyncs it and moves it to `dest` atomically.
    pub fn finish(mut self, dest: &Path) -> io::Result<()> {
        self.write_raw(&END.to_le_bytes())?;
        let crc = self.crc.clone().finalize();
        self.out.write_all(&crc.to_le_bytes())?;
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&self.tmp, dest).map_err(|e| ctx(e, "rename", dest))?;
        sync_dir(dest.parent().unwrap_or(Path::new(".")))
    }
}

/// Reads a snapshot file, verifying the checksum when the last record has been read.
pub struct SnapshotReader {
    input: BufReader<File>,
    crc: crc32fast::Hasher,
    meta: SnapshotMeta,
    path: PathBuf,
}

impl SnapshotReader {
    /// Opens a snapshot and reads its metadata.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path).map_err(|e| ctx(e, "open", path))?;
        let mut reader = SnapshotReader {
            input: BufReader::with_capacity(1 << 20, file),
            crc: crc32fast::Hasher::new(),
            meta: SnapshotMeta::default(),
            path: path.to_path_buf(),
        };
        let mut magic = [0u8; 9];
        reader.read_raw(&mut magic)?;
        if &magic != MAGIC {
            return Err(corrupt(path, "bad magic"));
        }
        let meta = reader
            .read_chunk()?
            .ok_or_else(|| corrupt(path, "missing metadata"))?;
        reader.meta = decode(&meta)?;
        Ok(reader)
    }

    /// The snapshot's metadata.
    pub fn meta(&self) -> &SnapshotMeta {
        &self.meta
    }

    fn read_raw(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.input
            .read_exact(buf)
            .map_err(|e| ctx(e, "read", &self.path))?;
        self.crc.update(buf);
        Ok(())
    }

    /// Reads a length-prefixed chunk; `None` at the end marker.
    fn read_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut len = [0u8; 4];
        self.read_raw(&mut len)?;
        let len = u32::from_le_bytes(len);
        if len == END {
            return Ok(None);
        }
        if len > MAX_RECORD {
            return Err(corrupt(&self.path, "record length out of range"));
        }
        let mut buf = vec![0u8; len as usize];
        self.read_raw(&mut buf)?;
        Ok(Some(buf))
    }

    /// The next record, or `None` after the last one (once the checksum verified).
    pub fn next_record(&mut self) -> io::Result<Option<(Vec<u8>, Vec<u8>)>> {
        let Some(key) = self.read_chunk()? else {
            let expected = self.crc.clone().finalize();
            let mut stored = [0u8; 4];
            self.input
                .read_exact(&mut stored)
                .map_err(|e| ctx(e, "read", &self.path))?;
            if u32::from_le_bytes(stored) != expected {
                return Err(corrupt(&self.path, "checksum mismatch"));
            }
            return Ok(None);
        };
        let value = self
            .read_chunk()?
            .ok_or_else(|| corrupt(&self.path, "record without value"))?;
        Ok(Some((key, value)))
    }
}

/// Reads a whole snapshot, checking its integrity; returns its metadata.
pub fn verify(path: &Path) -> io::Result<SnapshotMeta> {
    let mut reader = SnapshotReader::open(path)?;
    while reader.next_record()?.is_some() {}
    Ok(reader.meta().clone())
}

/// File name of the snapshot covering the log up to `meta.last_log_id`.
pub fn file_name(meta: &SnapshotMeta) -> String {
    let index = meta.last_log_id.map_or(0, |id| id.index);
    format!("snap-{index:020}.snap")
}

/// The newest complete snapshot file in `dir`.
pub fn newest(dir: &Path) -> io::Result<Option<PathBuf>> {
    let mut best: Option<PathBuf> = None;
    for entry in fs::read_dir(dir).map_err(|e| ctx(e, "list", dir))? {
        let path = entry?.path();
        let is_snap = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("snap-") && n.ends_with(".snap"));
        if is_snap && best.as_ref().is_none_or(|b| path > *b) {
            best = Some(path);
        }
    }
    Ok(best)
}

/// Removes snapshot files in `dir` other than `keep`.
pub fn remove_others(dir: &Path, keep: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let is_snap = path.extension().is_some_and(|e| e == "snap");
        if path != keep && is_snap {
            fs::remove_file(&path).map_err(|e| ctx(e, "remove", &path))?;
        }
    }
    Ok(())
}

/// Removes temporary files (unfinished builds and transfers) left by a previous run.
pub fn remove_temporary(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "tmp" || e == "part") {
            fs::remove_file(&path).map_err(|e| ctx(e, "remove", &path))?;
        }
    }
    Ok(())
}

/// Fsyncs a directory so that renames inside it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| ctx(e, "sync", dir))
}

fn ctx(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("snapshot {what} {}: {e}", path.display()))
}

fn corrupt(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("snapshot {} is corrupt: {why}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_records_and_detects_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let meta = SnapshotMeta::default();
        let mut w = SnapshotWriter::create(dir.path(), &meta).unwrap();
        for i in 0..1000u32 {
            w.record(&i.to_be_bytes(), format!("value-{i}").as_bytes())
                .unwrap();
        }
        let dest = dir.path().join(file_name(&meta));
        w.finish(&dest).unwrap();
        assert_eq!(newest(dir.path()).unwrap(), Some(dest.clone()));

        let mut r = SnapshotReader::open(&dest).unwrap();
        let mut n = 0u32;
        while let Some((k, v)) = r.next_record().unwrap() {
            assert_eq!(k, n.to_be_bytes());
            assert_eq!(v, format!("value-{n}").into_bytes());
            n += 1;
        }
        assert_eq!(n, 1000);

        let mut bytes = fs::read(&dest).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x55;
        fs::write(&dest, &bytes).unwrap();
        assert!(verify(&dest).is_err());
        bytes.truncate(mid);
        fs::write(&dest, &bytes).unwrap();
        assert!(verify(&dest).is_err());
    }
}
