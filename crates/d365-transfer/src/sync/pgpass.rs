//! The PostgreSQL password file, as libpq reads it
//! (<https://www.postgresql.org/docs/current/libpq-pgpass.html>): `PGPASSFILE` or
//! `~/.pgpass`, lines of `hostname:port:database:username:password`, `*` matching anything,
//! `\:` and `\\` escaped, `#` comments, the first matching line wins. A file that group or
//! others may read is ignored (with a warning), as libpq does.

use std::path::{Path, PathBuf};

/// Where the password file is: `PGPASSFILE`, else `~/.pgpass`.
pub(super) fn path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PGPASSFILE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|home| Path::new(&home).join(".pgpass"))
}

/// The password for this connection from the file at `path`, if the file is private and a
/// line matches.
pub(super) fn lookup(path: &Path, host: &str, port: u16, db: &str, user: &str) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                "the password file is readable by others and is ignored: chmod 600 it"
            );
            return None;
        }
    }
    let text = std::fs::read_to_string(path).ok()?;
    find(&text, host, &port.to_string(), db, user)
}

/// The password of the first line of `text` that matches.
fn find(text: &str, host: &str, port: &str, db: &str, user: &str) -> Option<String> {
    let wanted = [host, port, db, user];
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(fields)
        .find(|f| {
            f[..4]
                .iter()
                .zip(wanted)
                .all(|(field, want)| field == "*" || field == want)
        })
        .map(|mut f| f.swap_remove(4))
}

/// The five fields of a line (backslash escapes undone), or `None` for a short line.
fn fields(line: &str) -> Option<Vec<String>> {
    let mut out = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.last_mut()?.push(chars.next().unwrap_or('\\')),
            // The password is the rest of the line, colons and all.
            ':' if out.len() < 5 => out.push(String::new()),
            c => out.last_mut()?.push(c),
        }
    }
    (out.len() == 5).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_match_as_libpq_matches_them() {
        let text = "# comment\n\
                    db.example.com:5432:sales:alice:first\n\
                    *:5432:*:bob:b\\:c\\\\d\n\
                    localhost:*:*:*:local:with:colons\n\
                    short:line\n";
        assert_eq!(
            find(text, "db.example.com", "5432", "sales", "alice").as_deref(),
            Some("first")
        );
        assert_eq!(find(text, "db.example.com", "5433", "sales", "alice"), None);
        assert_eq!(
            find(text, "any", "5432", "x", "bob").as_deref(),
            Some("b:c\\d")
        );
        assert_eq!(
            find(text, "localhost", "6000", "x", "carol").as_deref(),
            Some("local:with:colons")
        );
        assert_eq!(find(text, "short", "line", "", ""), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_can_read_is_ignored() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pgpass");
        std::fs::write(&p, "*:*:*:*:pw\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(lookup(&p, "h", 5432, "d", "u").as_deref(), Some("pw"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(lookup(&p, "h", 5432, "d", "u"), None);
    }
}
