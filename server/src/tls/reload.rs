//! A set of PEM files turned into TLS material, re-read when the files change.
//!
//! Handshakes ask [`Reloading::current`] for the material, so a Secret rotation takes
//! effect for the next connection while established connections keep running. The files
//! are checked at most once per [`RELOAD_INTERVAL`], by whichever handshake finds the check
//! due (others use the current material meanwhile); a changed set that fails to build (say,
//! a key that no longer matches its certificate mid-rotation) keeps the last good material
//! and logs one warning per distinct error.

use anyhow::{Context, ensure};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How often, at most, a handshake checks the files for changes.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// Larger PEM files are rejected: a certificate chain or CA bundle holds a few certificates.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Builds the material from the files' contents, in the order the paths were given.
pub type Build<T> = Box<dyn Fn(&[Vec<u8>]) -> anyhow::Result<T> + Send + Sync>;

/// Material of type `T` built from `paths`, rebuilt when their contents change.
pub struct Reloading<T> {
    /// What the files are for, in log lines ("internal port", "SQS port").
    purpose: &'static str,
    paths: Vec<PathBuf>,
    build: Build<T>,
    current: RwLock<Arc<T>>,
    /// Held only while checking; handshakes that find it taken use the current material.
    watch: Mutex<WatchState>,
}

struct WatchState {
    checked_at: Instant,
    /// SHA-256 over the files' contents last read, whether they built or not.
    seen: [u8; 32],
    last_error: Option<String>,
}

impl<T> Reloading<T> {
    /// Reads `paths` and builds the first material; fails when a file is unreadable or
    /// `build` rejects the contents.
    pub fn load(
        purpose: &'static str,
        paths: Vec<PathBuf>,
        build: Build<T>,
    ) -> anyhow::Result<Self> {
        let contents = read_all(&paths)?;
        let material = build(&contents)?;
        Ok(Reloading {
            purpose,
            watch: Mutex::new(WatchState {
                checked_at: Instant::now(),
                seen: digest(&contents),
                last_error: None,
            }),
            paths,
            build,
            current: RwLock::new(Arc::new(material)),
        })
    }

    /// The current material, after re-reading the files if a check is due.
    pub fn current(&self) -> Arc<T> {
        self.reload_if_due();
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn reload_if_due(&self) {
        let Ok(mut state) = self.watch.try_lock() else {
            return;
        };
        if state.checked_at.elapsed() < RELOAD_INTERVAL {
            return;
        }
        state.checked_at = Instant::now();
        let loaded = read_all(&self.paths).and_then(|contents| {
            let seen = digest(&contents);
            if seen == state.seen {
                return Ok(None);
            }
            state.seen = seen;
            (self.build)(&contents).map(Some)
        });
        match loaded {
            Ok(None) => {}
            Ok(Some(material)) => {
                tracing::info!(port = self.purpose, files = ?self.paths,
                    "TLS files changed; new certificates in effect for new connections");
                *self
                    .current
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(material);
                state.last_error = None;
            }
            Err(error) => {
                let error = format!("{error:#}");
                if state.last_error.as_ref() != Some(&error) {
                    tracing::warn!(port = self.purpose, %error,
                        "cannot load the changed TLS files; keeping the last good certificates");
                    state.last_error = Some(error);
                }
            }
        }
    }
}

impl<T> fmt::Debug for Reloading<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reloading")
            .field("purpose", &self.purpose)
            .field("paths", &self.paths)
            .finish()
    }
}

fn read_all(paths: &[PathBuf]) -> anyhow::Result<Vec<Vec<u8>>> {
    paths.iter().map(|p| read_limited(p)).collect()
}

fn read_limited(path: &Path) -> anyhow::Result<Vec<u8>> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    ensure!(
        len <= MAX_FILE_BYTES,
        "{} is {len} bytes, more than the {MAX_FILE_BYTES} allowed",
        path.display()
    );
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn digest(contents: &[Vec<u8>]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for content in contents {
        hash.update((content.len() as u64).to_le_bytes());
        hash.update(content);
    }
    hash.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concatenated(dir: &Path) -> Reloading<String> {
        let paths = vec![dir.join("a"), dir.join("b")];
        Reloading::load(
            "test",
            paths,
            Box::new(|contents| {
                let text = contents
                    .iter()
                    .map(|c| String::from_utf8(c.clone()))
                    .collect::<Result<Vec<_>, _>>()?;
                ensure!(text.iter().all(|t| !t.is_empty()), "an empty file");
                Ok(text.concat())
            }),
        )
        .unwrap()
    }

    #[test]
    fn a_change_is_seen_after_the_interval_and_a_bad_one_keeps_the_last_good() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "1").unwrap();
        std::fs::write(dir.path().join("b"), "2").unwrap();
        let files = concatenated(dir.path());
        assert_eq!(*files.current(), "12");

        std::fs::write(dir.path().join("b"), "3").unwrap();
        assert_eq!(*files.current(), "12", "not re-read before the interval");
        std::thread::sleep(RELOAD_INTERVAL + Duration::from_millis(100));
        assert_eq!(*files.current(), "13");

        std::fs::write(dir.path().join("a"), "").unwrap();
        std::thread::sleep(RELOAD_INTERVAL + Duration::from_millis(100));
        assert_eq!(*files.current(), "13", "kept the last good material");
        std::fs::remove_file(dir.path().join("b")).unwrap();
        std::thread::sleep(RELOAD_INTERVAL + Duration::from_millis(100));
        assert_eq!(*files.current(), "13", "a missing file keeps it too");

        std::fs::write(dir.path().join("a"), "4").unwrap();
        std::fs::write(dir.path().join("b"), "5").unwrap();
        std::thread::sleep(RELOAD_INTERVAL + Duration::from_millis(100));
        assert_eq!(*files.current(), "45");
    }

    #[test]
    fn an_oversized_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a"),
            vec![b'x'; MAX_FILE_BYTES as usize + 1],
        )
        .unwrap();
        std::fs::write(dir.path().join("b"), "2").unwrap();
        let err = Reloading::<()>::load(
            "test",
            vec![dir.path().join("a"), dir.path().join("b")],
            Box::new(|_| Ok(())),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("more than the"), "{err:#}");
    }
}
