//! Finding the OASIS files kept outside the repository (`../shared/odata/`).
#![allow(unreachable_pub, dead_code)]

use std::path::PathBuf;

/// `$env` if set, else `../shared/odata/<name>` next to the repository; `None` (after
/// checking that this is not CI, where the file must be there) when neither exists.
pub fn shared_odata_file(env: &str, name: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path));
    }
    // crates/d365-odata -> repository root -> its parent holds shared/.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/odata")
        .join(name);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{name} not found (set {env} or lay out ../shared/odata/)"
    );
    println!("skipped: {name} not found");
    None
}
