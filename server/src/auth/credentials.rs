//! Access keys and their secrets, loaded from a JSON file and re-read when it changes.
//!
//! File format: `{"credentials":[{"accessKeyId":"…","secretAccessKey":"…"}, …]}`.
//!
//! Kubernetes updates a mounted Secret by swapping a symlink, so the store re-reads the
//! resolved file's content (a small read, at most once per [`RELOAD_INTERVAL`], done by
//! whichever lookup finds the check due) and swaps in the new set when the content
//! changed. A file that fails to load on reload keeps the last good set and logs a warning.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// How often, at most, a lookup checks the credentials file for changes.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// Larger files are rejected: a credentials file holds a handful of keys.
const MAX_FILE_BYTES: usize = 1 << 20;

/// Access key id → secret access key.
type KeySet = HashMap<String, Arc<str>>;

/// The set of valid access keys, optionally backed by a hot-reloaded file.
pub struct CredentialStore {
    keys: RwLock<Arc<KeySet>>,
    file: Option<WatchedFile>,
}

struct WatchedFile {
    path: PathBuf,
    /// Held only while checking; lookups that find it taken skip the check.
    state: Mutex<WatchState>,
}

struct WatchState {
    checked_at: Instant,
    /// SHA-256 of the content last read, whether it loaded or not.
    seen: [u8; 32],
    /// The last reload failure, so that a persisting one is logged once.
    last_error: Option<String>,
}

#[derive(Deserialize)]
struct CredentialsFile {
    credentials: Vec<CredentialEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CredentialEntry {
    access_key_id: String,
    secret_access_key: String,
}

impl CredentialStore {
    /// Loads the credentials file at `path`; later lookups pick up changes to it.
    ///
    /// Fails when the file cannot be read or holds no valid credentials.
    pub fn load(path: &Path) -> anyhow::Result<Arc<Self>> {
        let content = read_limited(path)
            .with_context(|| format!("reading credentials file {}", path.display()))?;
        let keys = parse(&content)
            .with_context(|| format!("loading credentials file {}", path.display()))?;
        Ok(Arc::new(CredentialStore {
            keys: RwLock::new(Arc::new(keys)),
            file: Some(WatchedFile {
                path: path.to_path_buf(),
                state: Mutex::new(WatchState {
                    checked_at: Instant::now(),
                    seen: Sha256::digest(&content).into(),
                    last_error: None,
                }),
            }),
        }))
    }

    /// A fixed set of `(access key id, secret access key)` pairs, for tests and development.
    /// A repeated access key id keeps its last secret.
    pub fn from_pairs<I, K, S>(pairs: I) -> Arc<Self>
    where
        I: IntoIterator<Item = (K, S)>,
        K: Into<String>,
        S: Into<String>,
    {
        let keys = pairs
            .into_iter()
            .map(|(id, secret)| (id.into(), Arc::from(secret.into())))
            .collect();
        Arc::new(CredentialStore {
            keys: RwLock::new(Arc::new(keys)),
            file: None,
        })
    }

    /// The secret of `access_key_id`, after re-reading the file if a check is due.
    pub(crate) fn secret(&self, access_key_id: &str) -> Option<Arc<str>> {
        self.reload_if_due();
        let keys = self
            .keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.get(access_key_id).cloned()
    }

    fn reload_if_due(&self) {
        let Some(file) = &self.file else { return };
        // Another lookup is checking right now: use the current set rather than wait.
        let Ok(mut state) = file.state.try_lock() else {
            return;
        };
        if state.checked_at.elapsed() < RELOAD_INTERVAL {
            return;
        }
        state.checked_at = Instant::now();
        let content = match read_limited(&file.path) {
            Ok(content) => content,
            Err(error) => {
                let error = format!("{error:#}");
                if state.last_error.as_ref() != Some(&error) {
                    tracing::warn!(path = %file.path.display(), %error,
                        "cannot re-read credentials file; keeping the last good credentials");
                    state.last_error = Some(error);
                }
                return;
            }
        };
        let digest: [u8; 32] = Sha256::digest(&content).into();
        if digest == state.seen {
            return;
        }
        state.seen = digest;
        match parse(&content) {
            Ok(keys) => {
                tracing::info!(path = %file.path.display(), keys = keys.len(),
                    "credentials file changed; new credentials in effect");
                *self
                    .keys
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(keys);
                state.last_error = None;
            }
            Err(error) => {
                let error = format!("{error:#}");
                tracing::warn!(path = %file.path.display(), %error,
                    "credentials file changed but is invalid; keeping the last good credentials");
                state.last_error = Some(error);
            }
        }
    }
}

impl fmt::Debug for CredentialStore {
    /// Shows where the keys come from and how many there are, never a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.keys.read().map_or(0, |keys| keys.len());
        f.debug_struct("CredentialStore")
            .field("file", &self.file.as_ref().map(|file| &file.path))
            .field("keys", &count)
            .finish()
    }
}

fn read_limited(path: &Path) -> anyhow::Result<Vec<u8>> {
    let content = std::fs::read(path)?;
    ensure!(
        content.len() <= MAX_FILE_BYTES,
        "file is {} bytes, more than the {MAX_FILE_BYTES} allowed",
        content.len()
    );
    Ok(content)
}

fn parse(content: &[u8]) -> anyhow::Result<KeySet> {
    let file: CredentialsFile = serde_json::from_slice(content)
        .context(r#"expected JSON {"credentials":[{"accessKeyId":"…","secretAccessKey":"…"}]}"#)?;
    ensure!(
        !file.credentials.is_empty(),
        "the credentials list is empty"
    );
    let mut keys = KeySet::with_capacity(file.credentials.len());
    for (index, entry) in file.credentials.into_iter().enumerate() {
        let id = entry.access_key_id;
        let valid_id = !id.is_empty()
            && id
                .bytes()
                .all(|byte| byte.is_ascii_graphic() && byte != b'/' && byte != b',');
        if !valid_id {
            bail!(
                "credentials[{index}].accessKeyId must be non-empty printable ASCII without '/' or ','"
            );
        }
        ensure!(
            !entry.secret_access_key.is_empty(),
            "credentials[{index}].secretAccessKey of {id} is empty"
        );
        if keys
            .insert(id.clone(), Arc::from(entry.secret_access_key))
            .is_some()
        {
            bail!("credentials[{index}].accessKeyId {id} appears more than once");
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, content: &str) {
        std::fs::write(path, content).unwrap();
    }

    #[test]
    fn loads_several_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.json");
        write(
            &path,
            r#"{"credentials":[{"accessKeyId":"AK1","secretAccessKey":"s1"},
                              {"accessKeyId":"AK2","secretAccessKey":"s2","note":"ignored"}]}"#,
        );
        let store = CredentialStore::load(&path).unwrap();
        assert_eq!(store.secret("AK1").as_deref(), Some("s1"));
        assert_eq!(store.secret("AK2").as_deref(), Some("s2"));
        assert_eq!(store.secret("AK3"), None);
        let debug = format!("{store:?}");
        assert!(
            debug.contains("keys: 2") && !debug.contains("s1"),
            "{debug}"
        );
    }

    #[test]
    fn broken_file_at_startup_is_an_error_with_context() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.json");
        let missing = CredentialStore::load(&path).unwrap_err();
        assert!(format!("{missing:#}").contains("reading credentials file"));
        for (content, expected) in [
            ("{", "expected JSON"),
            (r#"{"credentials":[]}"#, "list is empty"),
            (
                r#"{"credentials":[{"accessKeyId":"AK1"}]}"#,
                "secretAccessKey",
            ),
            (
                r#"{"credentials":[{"accessKeyId":"","secretAccessKey":"s"}]}"#,
                "credentials[0].accessKeyId",
            ),
            (
                r#"{"credentials":[{"accessKeyId":"A/B","secretAccessKey":"s"}]}"#,
                "without '/'",
            ),
            (
                r#"{"credentials":[{"accessKeyId":"AK1","secretAccessKey":""}]}"#,
                "secretAccessKey of AK1 is empty",
            ),
            (
                r#"{"credentials":[{"accessKeyId":"AK1","secretAccessKey":"a"},
                                   {"accessKeyId":"AK1","secretAccessKey":"b"}]}"#,
                "appears more than once",
            ),
        ] {
            write(&path, content);
            let error = format!("{:#}", CredentialStore::load(&path).unwrap_err());
            assert!(error.contains("loading credentials file"), "{error}");
            assert!(error.contains(&path.display().to_string()), "{error}");
            assert!(error.contains(expected), "{content}: {error}");
        }
    }

    #[test]
    fn reloads_changes_and_keeps_the_last_good_set_on_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.json");
        write(
            &path,
            r#"{"credentials":[{"accessKeyId":"OLD","secretAccessKey":"s1"}]}"#,
        );
        let store = CredentialStore::load(&path).unwrap();
        let wait = || std::thread::sleep(RELOAD_INTERVAL + Duration::from_millis(100));

        write(
            &path,
            r#"{"credentials":[{"accessKeyId":"NEW","secretAccessKey":"s2"}]}"#,
        );
        // Not re-read before the interval has passed.
        assert_eq!(store.secret("NEW"), None);
        wait();
        assert_eq!(store.secret("NEW").as_deref(), Some("s2"));
        assert_eq!(store.secret("OLD"), None);

        write(&path, "not json");
        wait();
        assert_eq!(store.secret("NEW").as_deref(), Some("s2"));

        std::fs::remove_file(&path).unwrap();
        wait();
        assert_eq!(store.secret("NEW").as_deref(), Some("s2"));

        write(
            &path,
            r#"{"credentials":[{"accessKeyId":"NEW","secretAccessKey":"s3"}]}"#,
        );
        wait();
        assert_eq!(store.secret("NEW").as_deref(), Some("s3"));
    }

    #[cfg(unix)]
    #[test]
    fn follows_kubernetes_style_symlink_swaps() {
        // A mounted Secret: key -> ..data/key, ..data -> ..<timestamp>; updates swap ..data.
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (dir.path().join("..v1"), dir.path().join("..v2"));
        for (version, key) in [(&first, "AK1"), (&second, "AK2")] {
            std::fs::create_dir(version).unwrap();
            write(
                &version.join("credentials.json"),
                &format!(r#"{{"credentials":[{{"accessKeyId":"{key}","secretAccessKey":"s"}}]}}"#),
            );
        }
        let data = dir.path().join("..data");
        std::os::unix::fs::symlink("..v1", &data).unwrap();
        let path = dir.path().join("credentials.json");
        std::os::unix::fs::symlink("..data/credentials.json", &path).unwrap();

        let store = CredentialStore::load(&path).unwrap();
        assert!(store.secret("AK1").is_some());

        let staged = dir.path().join("..data_tmp");
        std::os::unix::fs::symlink("..v2", &staged).unwrap();
        std::fs::rename(&staged, &data).unwrap();
        std::thread::sleep(RELOAD_INTERVAL + Duration::from_millis(100));
        assert!(store.secret("AK2").is_some());
        assert!(store.secret("AK1").is_none());
    }

    #[test]
    fn fixed_pairs() {
        let store = CredentialStore::from_pairs([("AK", "one"), ("AK", "two")]);
        assert_eq!(store.secret("AK").as_deref(), Some("two"));
        assert_eq!(store.secret("ak"), None);
    }
}
