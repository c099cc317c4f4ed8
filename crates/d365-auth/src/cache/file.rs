//! The persistent token cache: one JSON file in the user's cache directory, shared by every
//! `d365` process. Writes go to a temporary file that is renamed over the old one (a reader
//! never sees half a file), with owner-only permissions. An exclusive lock on a sidecar
//! `.lock` file is held from reading an entry to writing its refreshed value, so two processes
//! never both refresh, and a refresh token rotated by one is the one the other uses next.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::AuthError;
use crate::secret::{AccessToken, RefreshToken};

const FORMAT_VERSION: u32 = 1;

/// One cached session: an access token for a resource, and the refresh token that renews it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    /// `{host}/{tenant}`.
    pub authority: String,
    /// The client id.
    pub client_id: String,
    /// The resource (environment URL).
    pub resource: String,
    /// The signed-in account (UPN), or `None` for app-only tokens.
    pub account: Option<String>,
    /// The grant that started the session (`password`, `device_code`, …).
    pub grant: String,
    /// The access token.
    pub access_token: AccessToken,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
    /// When to refresh, Unix seconds.
    pub refresh_at: i64,
    /// The newest refresh token.
    pub refresh_token: Option<RefreshToken>,
}

impl CacheEntry {
    /// The key of this entry: authority, client, resource and account.
    pub fn key(&self) -> String {
        cache_key(
            &self.authority,
            &self.client_id,
            &self.resource,
            self.account.as_deref(),
        )
    }
}

/// The cache key for a session.
pub fn cache_key(
    authority: &str,
    client_id: &str,
    resource: &str,
    account: Option<&str>,
) -> String {
    format!(
        "{}|{}|{}|{}",
        authority.to_ascii_lowercase(),
        client_id.to_ascii_lowercase(),
        resource.trim_end_matches('/').to_ascii_lowercase(),
        account
            .map(str::to_ascii_lowercase)
            .unwrap_or_else(|| "app".into())
    )
}

/// The on-disk form. Secrets leave their types only here, on purpose.
#[derive(Serialize, Deserialize)]
struct Stored {
    authority: String,
    client_id: String,
    resource: String,
    account: Option<String>,
    grant: String,
    access_token: String,
    expires_at: i64,
    refresh_at: i64,
    refresh_token: Option<String>,
}

#[derive(Serialize, Deserialize, Default)]
struct StoredFile {
    version: u32,
    entries: BTreeMap<String, Stored>,
}

/// The contents of the cache file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheContents {
    /// Entries by key.
    pub entries: BTreeMap<String, CacheEntry>,
}

/// A token cache file.
#[derive(Debug, Clone)]
pub struct FileTokenCache {
    path: PathBuf,
}

/// Held while a process reads, refreshes and writes the cache; dropping it releases the lock.
#[derive(Debug)]
pub struct CacheLock {
    _lock: Option<File>,
    path: PathBuf,
}

fn io_error(what: String) -> impl FnOnce(std::io::Error) -> AuthError {
    move |e| AuthError::Cache(format!("{what}: {e}"))
}

impl FileTokenCache {
    /// A cache at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// `$D365_CACHE_DIR/token-cache.json`, else the user's cache directory
    /// (`~/.cache/d365/token-cache.json` on Linux).
    pub fn default_path() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("D365_CACHE_DIR") {
            return Some(PathBuf::from(dir).join("token-cache.json"));
        }
        directories::ProjectDirs::from("", "", "d365")
            .map(|d| d.cache_dir().join("token-cache.json"))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the cache without the lock: safe because writers replace the file by an atomic
    /// rename, so a reader sees the old or the new file, never a mix. For a fast path only;
    /// anything that may write takes [`FileTokenCache::lock`].
    pub fn read_unlocked(&self) -> Result<CacheContents, AuthError> {
        CacheLock {
            _lock: None,
            path: self.path.clone(),
        }
        .read()
    }

    /// Takes the cross-process lock (blocking; call from a blocking context). Gives up after
    /// [`LOCK_DEADLINE`] with an error naming the lock file, rather than hanging behind a
    /// stopped process.
    pub fn lock(&self) -> Result<CacheLock, AuthError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir)?;
        let lock_path = self.path.with_extension("json.lock");
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        set_mode(&mut options);
        let file = options
            .open(&lock_path)
            .map_err(io_error(format!("opening {}", lock_path.display())))?;
        let started = std::time::Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < LOCK_DEADLINE => {
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(AuthError::Cache(format!(
                        "another d365 process has held {} for {} s; is one stopped mid-refresh?",
                        lock_path.display(),
                        LOCK_DEADLINE.as_secs()
                    )));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(io_error(format!("locking {}", lock_path.display()))(e));
                }
            }
        }
        warn_if_shared(dir);
        Ok(CacheLock {
            _lock: Some(file),
            path: self.path.clone(),
        })
    }

    /// Takes the lock on the blocking pool, so async callers do not stall a worker thread.
    pub async fn lock_async(&self) -> Result<CacheLock, AuthError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.lock())
            .await
            .map_err(|e| AuthError::Cache(format!("lock task failed: {e}")))?
    }
}

/// How long to wait for another process's refresh before giving up.
pub const LOCK_DEADLINE: std::time::Duration = std::time::Duration::from_secs(150);

/// Tokens in a directory others can read or write are at risk: say so.
fn warn_if_shared(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(dir)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(dir = %dir.display(), "the token cache directory is accessible to other users; chmod 700 it");
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(unix)]
fn set_mode(options: &mut OpenOptions) {
    std::os::unix::fs::OpenOptionsExt::mode(options, 0o600);
}

#[cfg(not(unix))]
fn set_mode(_: &mut OpenOptions) {}

fn create_private_dir(dir: &Path) -> Result<(), AuthError> {
    if dir.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(io_error(format!("creating {}", dir.display())))
}

impl CacheLock {
    /// Reads the cache; a missing file is an empty cache, an unreadable one is an error (it is
    /// never silently replaced: it may hold sessions the user cares about).
    pub fn read(&self) -> Result<CacheContents, AuthError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(CacheContents::default());
            }
            Err(e) => return Err(io_error(format!("reading {}", self.path.display()))(e)),
        };
        let stored: StoredFile = serde_json::from_slice(&bytes).map_err(|e| {
            AuthError::Cache(format!(
                "{} is not a d365 token cache ({e}); delete it to start over",
                self.path.display()
            ))
        })?;
        if stored.version != FORMAT_VERSION {
            return Err(AuthError::Cache(format!(
                "{} has format version {}, expected {FORMAT_VERSION}",
                self.path.display(),
                stored.version
            )));
        }
        let entries = stored
            .entries
            .into_iter()
            .map(|(k, s)| {
                let entry = CacheEntry {
                    authority: s.authority,
                    client_id: s.client_id,
                    resource: s.resource,
                    account: s.account,
                    grant: s.grant,
                    access_token: AccessToken::new(s.access_token),
                    expires_at: s.expires_at,
                    refresh_at: s.refresh_at,
                    refresh_token: s.refresh_token.map(RefreshToken::new),
                };
                (k, entry)
            })
            .collect();
        Ok(CacheContents { entries })
    }

    /// Writes the cache atomically: a 0600 temporary file in the same directory, synced, then
    /// renamed over the old file.
    pub fn write(&self, contents: &CacheContents) -> Result<(), AuthError> {
        let stored = StoredFile {
            version: FORMAT_VERSION,
            entries: contents
                .entries
                .iter()
                .map(|(k, e)| {
                    let s = Stored {
                        authority: e.authority.clone(),
                        client_id: e.client_id.clone(),
                        resource: e.resource.clone(),
                        account: e.account.clone(),
                        grant: e.grant.clone(),
                        access_token: e.access_token.secret().to_owned(),
                        expires_at: e.expires_at,
                        refresh_at: e.refresh_at,
                        refresh_token: e.refresh_token.as_ref().map(|t| t.secret().to_owned()),
                    };
                    (k.clone(), s)
                })
                .collect(),
        };
        let json =
            serde_json::to_vec_pretty(&stored).map_err(|e| AuthError::Cache(e.to_string()))?;
        // An unpredictable name, created exclusively: a planted file (or link) is never written.
        let mut nonce = [0u8; 12];
        aws_lc_rs::rand::fill(&mut nonce)
            .map_err(|_| AuthError::Cache("no system randomness".into()))?;
        let suffix: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let tmp = self.path.with_extension(format!("json.{suffix}.tmp"));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        set_mode(&mut options);
        let write = || -> std::io::Result<()> {
            let mut file = options.open(&tmp)?;
            file.write_all(&json)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            // The rename itself is durable only once the directory is synced.
            if let Some(dir) = self.path.parent()
                && let Ok(d) = File::open(dir)
            {
                let _ = d.sync_all();
            }
            Ok(())
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io_error(format!("writing {}", self.path.display()))(e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(account: &str) -> CacheEntry {
        CacheEntry {
            authority: "https://login.microsoftonline.com/t".into(),
            client_id: "c".into(),
            resource: "https://org.crm.dynamics.com".into(),
            account: Some(account.into()),
            grant: "password".into(),
            access_token: AccessToken::new("at"),
            expires_at: 100,
            refresh_at: 50,
            refresh_token: Some(RefreshToken::new("rt")),
        }
    }

    #[test]
    fn round_trip_atomic_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileTokenCache::new(dir.path().join("sub/token-cache.json"));
        let lock = cache.lock().unwrap();
        assert!(lock.read().unwrap().entries.is_empty());
        let mut contents = CacheContents::default();
        let e = entry("a@b.c");
        contents.entries.insert(e.key(), e.clone());
        lock.write(&contents).unwrap();
        assert_eq!(lock.read().unwrap(), contents);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(cache.path())
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600);
        }
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(cache.path().parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn a_corrupt_file_is_an_error_not_a_silent_reset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token-cache.json");
        std::fs::write(&path, "not json").unwrap();
        let err = FileTokenCache::new(&path)
            .lock()
            .unwrap()
            .read()
            .unwrap_err();
        assert!(err.to_string().contains("delete it to start over"), "{err}");
    }

    #[test]
    fn the_lock_excludes_other_holders() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileTokenCache::new(dir.path().join("token-cache.json"));
        let held = cache.lock().unwrap();
        let other = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(cache.path().with_extension("json.lock"))
            .unwrap();
        assert!(matches!(
            other.try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
        drop(held);
        assert!(other.try_lock().is_ok());
    }
}
