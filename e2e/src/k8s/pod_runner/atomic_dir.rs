//! Writes a Secret/ConfigMap/projected volume the way kubelet does: the files live in a
//! timestamped directory, `..data` is a symlink to it, and each top-level name is a
//! symlink through `..data`. An update writes a new directory and swaps `..data` with a
//! rename, so a reader sees the old set or the new one, never a mix.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};

/// Relative path → (content, file mode).
pub type Files = BTreeMap<String, (Vec<u8>, u32)>;

fn current(dir: &Path) -> Option<Files> {
    let data = dir.join("..data");
    let mut files = Files::new();
    fn walk(base: &Path, rel: &str, files: &mut Files) -> Option<()> {
        for entry in fs::read_dir(base.join(rel)).ok()? {
            let entry = entry.ok()?;
            let name = entry.file_name().into_string().ok()?;
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let meta = entry.metadata().ok()?;
            if meta.is_dir() {
                walk(base, &rel, files)?;
            } else {
                let content = fs::read(base.join(&rel)).ok()?;
                files.insert(rel, (content, meta.permissions().mode() & 0o777));
            }
        }
        Some(())
    }
    walk(&data, "", &mut files)?;
    Some(files)
}

/// Makes `dir` hold exactly `files`; returns whether anything changed.
pub fn write(dir: &Path, files: &Files) -> Result<bool> {
    if current(dir).as_ref() == Some(files) {
        return Ok(false);
    }
    static SEQ: AtomicU64 = AtomicU64::new(0);
    fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let stamp = format!(
        "..{}_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let version = dir.join(&stamp);
    for (rel, (content, mode)) in files {
        let path = version.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
        }
        fs::write(&path, content).with_context(|| format!("write {}", path.display()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(*mode))
            .with_context(|| format!("chmod {}", path.display()))?;
    }
    let old = fs::read_link(dir.join("..data")).ok();
    let tmp = dir.join("..data_tmp");
    let _ = fs::remove_file(&tmp);
    symlink(&stamp, &tmp).context("symlink ..data_tmp")?;
    fs::rename(&tmp, dir.join("..data")).context("swap ..data")?;
    let tops: std::collections::BTreeSet<&str> =
        files.keys().filter_map(|k| k.split('/').next()).collect();
    for top in &tops {
        let link = dir.join(top);
        if fs::symlink_metadata(&link).is_err() {
            symlink(PathBuf::from("..data").join(top), &link)
                .with_context(|| format!("symlink {}", link.display()))?;
        }
    }
    for entry in fs::read_dir(dir).with_context(|| format!("list {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale_link = !name.starts_with("..") && !tops.contains(name.as_str());
        if stale_link {
            let _ = fs::remove_file(entry.path());
        }
    }
    if let Some(old) = old {
        let _ = fs::remove_dir_all(dir.join(old));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_swap_the_data_link_and_drop_removed_keys() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Files::new();
        files.insert("a".into(), (b"1".to_vec(), 0o440));
        files.insert("sub/b".into(), (b"2".to_vec(), 0o644));
        assert!(write(dir.path(), &files).unwrap());
        assert!(
            !write(dir.path(), &files).unwrap(),
            "same content writes nothing"
        );
        assert_eq!(fs::read(dir.path().join("a")).unwrap(), b"1");
        assert_eq!(fs::read(dir.path().join("sub/b")).unwrap(), b"2");
        let mode = fs::metadata(dir.path().join("a"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o440);
        files.remove("sub/b");
        files.insert("a".into(), (b"changed".to_vec(), 0o440));
        assert!(write(dir.path(), &files).unwrap());
        assert_eq!(fs::read(dir.path().join("a")).unwrap(), b"changed");
        assert!(fs::symlink_metadata(dir.path().join("sub")).is_err());
        let versions = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                let n = e
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .into_owned();
                n.starts_with("..") && n != "..data"
            })
            .count();
        assert_eq!(versions, 1, "the old version directory is removed");
    }
}
