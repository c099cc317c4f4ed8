//! Opening the files data movement writes beside the user's data (the import's reject file and
//! journal, the export's part files): owner-only (0600) and never through a symbolic link, so
//! a link planted at the path cannot redirect the write to another file. Files written whole
//! (the export's output and checkpoint) go through `tempfile` and a rename instead, which
//! creates them 0600 and replaces a link rather than following it.

use std::fs::{File, OpenOptions};
use std::path::Path;

use crate::error::{Error, Result};

/// How [`open`] treats a file that is, or is not, there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// It must not exist yet.
    New,
    /// It must exist.
    Existing,
    /// Either: created when missing, kept (not truncated) when there.
    Either,
}

/// Opens `path` for writing (appending with `append`), as [`Create`] says: created 0600,
/// tightened to 0600 when it was there with looser permissions, refused when it is a symbolic
/// link or not a regular file.
pub fn open(path: &Path, create: Create, append: bool) -> Result<File> {
    // A clear message for the common case; O_NOFOLLOW below closes the race.
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Error::SymbolicLink {
            path: path.to_owned(),
        });
    }
    let mut options = OpenOptions::new();
    options.write(true).append(append);
    match create {
        Create::New => options.create_new(true),
        Create::Existing => options.create(false),
        Create::Either => options.create(true),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let file = options.open(path).map_err(|e| {
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ELOOP) {
            return Error::SymbolicLink {
                path: path.to_owned(),
            };
        }
        Error::File {
            doing: format!("opening {}", path.display()),
            source: e,
        }
    })?;
    let meta = file
        .metadata()
        .map_err(Error::file(format!("reading {}", path.display())))?;
    if !meta.is_file() {
        return Err(Error::NotAFile {
            path: path.to_owned(),
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(Error::file(format!("making {} private", path.display())))?;
        }
    }
    Ok(file)
}

/// Whether `a` and `b` name the same file (both existing: same device and inode).
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn private_and_never_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rejects.ndjson");
        open(&p, Create::New, true)
            .unwrap()
            .write_all(b"a\n")
            .unwrap();
        assert_eq!(mode(&p), 0o600);
        assert!(open(&p, Create::New, true).is_err(), "never replaced");
        // Appending keeps what was there; a looser file is tightened.
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        open(&p, Create::Existing, true)
            .unwrap()
            .write_all(b"b\n")
            .unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "a\nb\n");
        assert_eq!(mode(&p), 0o600);
        assert!(open(&dir.path().join("none"), Create::Existing, true).is_err());

        // A link, dangling or not, is refused in every mode and its target untouched.
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        for how in [Create::New, Create::Existing, Create::Either] {
            for l in [&link, &dangling] {
                let e = open(l, how, false).unwrap_err().to_string();
                assert!(e.contains("symbolic link"), "{how:?}: {e}");
            }
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert!(!dir.path().join("nowhere").exists());
        assert!(
            open(dir.path(), Create::Either, false).is_err(),
            "a directory"
        );

        assert!(same_file(&p, &p));
        assert!(same_file(&link, &victim));
        assert!(!same_file(&p, &victim));
    }
}
