//! The emulator's layout rules, checked on its source text (docs/ARCHITECTURE.md, "Invariants"):
//! - SQL lives in `store/` and `query/`: no other module names `rusqlite` or takes a
//!   connection from the store (`Store::run`, `read`, `lock`);
//! - Dataverse and Entra codes live in `error/`: no `0x8…` literal elsewhere;
//! - no circles between the entries of one folder (files, and sub-folders each as one entry),
//!   but for the shared state (`state.rs`, see [`HUB`]);
//! - no module circles: no file of `src/` names (through a `crate::…`, `super::…` or `self::…`
//!   path) a file that names it back, directly or through others; only a parent `mod.rs`
//!   naming its own children (declaring, re-exporting, dispatching) is the tree's shape.
//!
//! Tests (`src/tests/`, `#[cfg(test)]` modules at the end of a file) are left out: a test may
//! reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every source file under `src/` but the test modules, with its text up to `#[cfg(test)]`.
fn sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                if path.file_name().unwrap() != "tests" {
                    walk(&path, out);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let code = match text.find("#[cfg(test)]\nmod ") {
                    Some(at) => text[..at].to_owned(),
                    None => text,
                };
                out.push((path.strip_prefix(src()).unwrap().to_owned(), code));
            }
        }
    }
    let mut out = Vec::new();
    walk(&src(), &mut out);
    out
}

/// The code of a file without its comments (a doc comment may name anything).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter_map(|(n, line)| {
        let code = match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        };
        (!code.trim().is_empty()).then_some((n + 1, code))
    })
}

fn in_folder(file: &Path, folders: &[&str]) -> bool {
    folders.iter().any(|f| file.starts_with(f))
}

#[test]
fn rusqlite_is_named_only_in_the_store_and_the_query_planner() {
    let mut found = Vec::new();
    for (file, text) in sources() {
        if in_folder(&file, &["store", "query"]) {
            continue;
        }
        for (n, line) in code_lines(&text) {
            if line.contains("rusqlite") {
                found.push(format!("{}:{n}: {}", file.display(), line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "rusqlite outside store/ and query/:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_the_store_and_the_planner_hold_a_connection() {
    // `Store::run`, `read` and `lock` hand their closure a connection: outside `store/` and
    // `query/`, callers use the store's domain operations instead.
    let mut found = Vec::new();
    for (file, text) in sources() {
        if in_folder(&file, &["store", "query"]) {
            continue;
        }
        let code: String = code_lines(&text)
            .map(|(_, l)| l)
            .collect::<String>()
            .split_whitespace()
            .collect();
        for call in ["store.run(", "store.read(", "store.lock("] {
            if code.contains(call) {
                found.push(format!("{}: {call}", file.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "connections outside store/ and query/:\n{}",
        found.join("\n")
    );
}

#[test]
fn dataverse_codes_are_written_only_in_error() {
    let mut found = Vec::new();
    for (file, text) in sources() {
        if in_folder(&file, &["error"]) {
            continue;
        }
        for (n, line) in code_lines(&text) {
            if line.contains("\"0x8") || line.contains("\"-214") {
                found.push(format!("{}:{n}: {}", file.display(), line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "error codes outside error/:\n{}",
        found.join("\n")
    );
}

/// The module path of a file: `dataverse/bulk/mod.rs` → `["dataverse", "bulk"]`.
fn module_of(file: &Path) -> Vec<String> {
    let mut parts: Vec<String> = file
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_owned());
    }
    parts
}

/// The absolute module paths (as far as they go) a file's code names.
fn named_paths(file: &Path, text: &str) -> Vec<Vec<String>> {
    let here = module_of(file);
    // One line of code, so that a `use` group over several lines reads as one.
    let code: String = code_lines(text)
        .map(|(_, l)| l)
        .collect::<Vec<_>>()
        .join(" ");
    let code = with_children_spelled_out(&code);
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    while at < code.len() {
        let rest = &code[at..];
        let Some((i, prefix)) = ["crate::", "super::", "self::"]
            .iter()
            .filter_map(|p| rest.find(p).map(|i| (i, *p)))
            .min()
        else {
            break;
        };
        let begin = at + i;
        at = begin + prefix.len();
        // Part of a longer word (`mycrate::`, `$crate::`) is not a path of ours.
        if begin > 0
            && (bytes[begin - 1].is_ascii_alphanumeric() || b"_$".contains(&bytes[begin - 1]))
        {
            continue;
        }
        let (tree, len) = use_tree(&code[begin..]);
        at = begin + len.max(prefix.len());
        for segments in tree {
            let mut segments: Vec<&str> = segments.iter().map(String::as_str).collect();
            let mut path = if segments.first() == Some(&"crate") {
                segments.remove(0);
                Vec::new()
            } else {
                // `self` is this module, each `super` one up.
                let mut base = here.clone();
                if segments.first() == Some(&"self") {
                    segments.remove(0);
                }
                while segments.first() == Some(&"super") {
                    segments.remove(0);
                    base.pop();
                }
                base
            };
            path.extend(segments.iter().map(|s| (*s).to_owned()));
            out.push(path);
        }
    }
    out
}

/// `child::x` written in the module that declares `mod child;` is `self::child::x`.
fn with_children_spelled_out(code: &str) -> String {
    let children: Vec<&str> = code
        .split("mod ")
        .skip(1)
        .filter_map(|rest| {
            let name = rest.split(';').next()?.trim();
            (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                .then_some(name)
        })
        .collect();
    let mut out = String::with_capacity(code.len());
    let bytes = code.as_bytes();
    let mut at = 0;
    while at < code.len() {
        let starts_word =
            at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || b"_:$".contains(&bytes[at - 1]));
        let child = children
            .iter()
            .find(|c| starts_word && code[at..].starts_with(&format!("{c}::")));
        if let Some(child) = child {
            out.push_str("self::");
            out.push_str(child);
            at += child.len();
        } else {
            let ch = code[at..].chars().next().unwrap();
            out.push(ch);
            at += ch.len_utf8();
        }
    }
    out
}

/// The paths a path or `use` tree at the start of `text` names (`a::{b, c::{d}}` → `a::b`,
/// `a::c::d`), and how many bytes it takes.
fn use_tree(text: &str) -> (Vec<Vec<String>>, usize) {
    let word = |s: &str| {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .count()
    };
    let mut prefix = Vec::new();
    let mut at = 0;
    loop {
        let n = word(&text[at..]);
        if n == 0 {
            break;
        }
        prefix.push(text[at..at + n].to_owned());
        at += n;
        if !text[at..].starts_with("::") {
            return (vec![prefix], at);
        }
        at += 2;
    }
    if !text[at..].starts_with('{') {
        return (vec![prefix], at);
    }
    // A group: its items, split at top-level commas.
    at += 1;
    let mut out = Vec::new();
    loop {
        let trimmed = text[at..].trim_start();
        at = text.len() - trimmed.len();
        if trimmed.starts_with('}') || trimmed.is_empty() {
            return (out, at + 1);
        }
        let (items, len) = use_tree(trimmed);
        for item in items {
            let mut p = prefix.clone();
            p.extend(item.into_iter().filter(|s| s != "self"));
            out.push(p);
        }
        at += len.max(1);
        // Skip an `as name` and the comma.
        let after = &text[at..];
        let skip = after.find([',', '}']).unwrap_or(after.len());
        at += skip;
        if text[at..].starts_with(',') {
            at += 1;
        }
    }
}

/// The file a module path names, as far as its segments go down the tree: `dataverse::bulk::
/// elastic::write` → `dataverse/bulk/elastic.rs`; `dataverse::bulk::Targets` →
/// `dataverse/bulk/mod.rs`.
fn file_of(path: &[String]) -> Option<PathBuf> {
    let mut found = None;
    let mut dir = PathBuf::new();
    for segment in path {
        let folder = dir.join(segment);
        if src().join(&folder).join("mod.rs").is_file() {
            found = Some(folder.join("mod.rs"));
            dir = folder;
        } else if src().join(&folder).with_extension("rs").is_file() {
            found = Some(folder.with_extension("rs"));
            break;
        } else {
            break;
        }
    }
    found.or_else(|| path.is_empty().then(|| PathBuf::from("lib.rs")))
}

/// Whether `file` is `folder`'s `mod.rs` or below it: a parent module naming its own children
/// (declaring, re-exporting, dispatching to them) is the tree, not a circle.
fn is_parent(file: &Path, of: &Path) -> bool {
    file.file_name()
        .is_some_and(|n| n == "mod.rs" || n == "lib.rs")
        && file.parent().is_some_and(|folder| of.starts_with(folder))
}

#[test]
fn no_module_circles() {
    // file → the files its code names (a parent `mod.rs` naming its children left out).
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, text) in &sources() {
        for path in named_paths(file, text) {
            if let Some(to) = file_of(&path)
                && to != *file
                && !is_parent(file, &to)
            {
                graph
                    .entry(file.display().to_string())
                    .or_default()
                    .insert(to.display().to_string());
            }
        }
    }
    let circles: Vec<String> = find_circles(&graph)
        .into_iter()
        .map(|c| c.join(" → "))
        .collect();
    assert!(
        circles.is_empty(),
        "module circles:\n{}",
        circles.join("\n")
    );
}

/// The entry of `folder` (a module path) that a module path falls in: its next segment, when
/// that names a file or a folder there.
fn entry_in(folder: &[String], path: &[String]) -> Option<String> {
    if path.len() <= folder.len() || path[..folder.len()] != *folder {
        return None;
    }
    let name = &path[folder.len()];
    let dir = folder.iter().fold(src(), |d, s| d.join(s));
    (dir.join(format!("{name}.rs")).is_file() || dir.join(name).join("mod.rs").is_file())
        .then(|| name.clone())
}

/// The one file allowed to name into the folders that use it: `state.rs`, whose `AppState`
/// gathers the parts every handler shares (the model, the keys' registry, the tenant
/// registry, the signing key, the sessions). It names only leaf files of `dataverse/` and
/// `entra/`, none of which names `state.rs` back: [`no_module_circles`] checks that.
const HUB: &str = "state";

#[test]
fn no_circles_between_the_entries_of_a_folder() {
    // For each folder, its entries (files, and sub-folders as one entry each; its own
    // `mod.rs` is the folder's face, not an entry) and the entries each names.
    let mut graphs: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (file, text) in &sources() {
        let module = module_of(file);
        let named = named_paths(file, text);
        for depth in 0..module.len() {
            let folder = module[..depth].to_vec();
            let from = module[depth].clone();
            for path in &named {
                if let Some(to) = entry_in(&folder, path)
                    && to != from
                    && !(folder.is_empty() && from == HUB)
                {
                    graphs
                        .entry(folder.clone())
                        .or_default()
                        .entry(from.clone())
                        .or_default()
                        .insert(to);
                }
            }
        }
    }
    let mut circles = Vec::new();
    for (folder, graph) in &graphs {
        for circle in find_circles(graph) {
            circles.push(format!("src/{}: {}", folder.join("/"), circle.join(" → ")));
        }
    }
    assert!(
        circles.is_empty(),
        "module circles:\n{}",
        circles.join("\n")
    );
}

/// One circle per strongly connected group of more than one entry (Tarjan), as a path.
fn find_circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let nodes: BTreeSet<&String> = graph.keys().chain(graph.values().flatten()).collect();
    let mut circles = Vec::new();
    let mut seen_in_circle: BTreeSet<String> = BTreeSet::new();
    for start in nodes {
        if seen_in_circle.contains(start) {
            continue;
        }
        // Breadth-first from `start` back to `start`: the shortest circle through it.
        let mut previous: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start.clone()]);
        let mut found = None;
        while let Some(node) = queue.pop_front() {
            for next in graph.get(&node).into_iter().flatten() {
                if next == start {
                    found = Some(node.clone());
                    break;
                }
                if !previous.contains_key(next) {
                    previous.insert(next.clone(), node.clone());
                    queue.push_back(next.clone());
                }
            }
            if found.is_some() {
                break;
            }
        }
        if let Some(mut last) = found {
            let mut circle = vec![last.clone()];
            while last != *start {
                last = previous[&last].clone();
                circle.push(last.clone());
            }
            circle.reverse();
            circle.push(start.clone());
            seen_in_circle.extend(circle.iter().cloned());
            circles.push(circle);
        }
    }
    circles
}
