//! Files only the emulator's user may read: the signing key, the TLS key and the CA that
//! clients are told to trust. A file planted by someone else must never be taken for one of
//! ours, so directories are created owner-only and files are written to a fresh name and
//! renamed into place.

use std::path::{Path, PathBuf};

use crate::error::StartError;

fn io(what: String) -> impl FnOnce(std::io::Error) -> StartError {
    move |source| StartError::Io { what, source }
}

/// Creates `dir` (and its parents) with owner-only permissions.
pub fn create_private_dir(dir: &Path) -> Result<(), StartError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(io(format!("creating {}", dir.display())))
}

/// A fresh, unpredictable, owner-only temporary directory (never one that already exists: a
/// planted CA there would be handed to clients as the one to trust).
pub fn private_temp_dir() -> Result<PathBuf, StartError> {
    let mut nonce = [0u8; 12];
    aws_lc_rs::rand::fill(&mut nonce)
        .map_err(|_| StartError::Key("no system randomness".into()))?;
    let name: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    let dir = std::env::temp_dir().join(format!("d365-emulator-tls-{name}"));
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(&dir)
        .map_err(io(format!("creating {}", dir.display())))?;
    Ok(dir)
}

/// Writes `contents` to `path` owner-only and atomically: into a new file of a random name
/// beside it (exclusive create, mode 0600: never an existing file, never through a planted
/// symlink), then renamed over `path` (a rename replaces a symlink there, never its target).
pub(crate) fn write_private(path: &Path, contents: &str) -> Result<(), StartError> {
    let io = |source| StartError::Io {
        what: format!("writing {}", path.display()),
        source,
    };
    let mut nonce = [0u8; 8];
    aws_lc_rs::rand::fill(&mut nonce)
        .map_err(|_| StartError::Key("no system randomness".into()))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let suffix: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = path.with_file_name(format!(".{name}.{suffix}.tmp"));
    let written = (|| {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(io)
}
