//! The server's layering, checked on its source so that it stays true:
//!
//! - the HTTP layer (`src/http/`) and the portal (`src/portal/`, when it
//!   exists) never touch the database: no `diesel`, no `schema::` path;
//! - no two modules import each other, directly or around a circle (a
//!   module using its own ancestors — `super::…` for what its parent owns —
//!   is the tree, not a circle);
//! - no source file grows past [`MAX_LINES`]: past that it is usually two
//!   concerns.

// A check of the source tree: failing loudly on an unreadable file is its job.
#![allow(clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The most lines a source file under `src/` may hold.
const MAX_LINES: usize = 600;

/// Folders whose files must not mention the database's query layer.
const NO_SQL: [&str; 2] = ["http", "portal"];

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, with its path relative to `src/`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// The file's module path, e.g. `crate::store::sync::incoming` for
/// `src/store/sync/incoming.rs` and `crate::store` for `src/store/mod.rs`.
fn module_of(file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(source_root()).expect("a file under src/");
    let mut parts: Vec<String> = vec!["crate".to_owned()];
    for component in relative.components() {
        let name = component.as_os_str().to_string_lossy();
        let name = name.trim_end_matches(".rs");
        if !matches!(name, "mod" | "lib" | "main") {
            parts.push(name.to_owned());
        }
    }
    parts
}

/// The code of a file without comments and string contents, so that words
/// in prose and messages do not count.
fn code_of(text: &str) -> String {
    let mut code = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for next in chars.by_ref() {
                    if next == '\n' {
                        code.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                let mut previous = ' ';
                for next in chars.by_ref() {
                    if previous == '*' && next == '/' {
                        break;
                    }
                    previous = next;
                }
            }
            '"' => {
                code.push('"');
                let mut escaped = false;
                for next in chars.by_ref() {
                    if !escaped && next == '"' {
                        break;
                    }
                    escaped = !escaped && next == '\\';
                }
                code.push('"');
            }
            // A char literal such as '"' would open a string above.
            '\'' if chars.clone().nth(1) == Some('\'') => {
                code.push_str("' '");
                chars.next();
                chars.next();
            }
            _ => code.push(c),
        }
    }
    code
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether `word` stands in `code` as a whole word.
fn mentions(code: &str, word: &str) -> bool {
    code.match_indices(word).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + word.len()..].chars().next();
        !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
    })
}

/// Expands a `use` tree such as `super::{a, b::{c, d}}` into full paths.
fn expand_use(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.len().saturating_sub(1)];
    let mut items = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|item| !item.is_empty())
        .flat_map(|item| {
            expand_use(item)
                .into_iter()
                .map(|path| format!("{prefix}{path}"))
        })
        .collect()
}

/// Every path of the crate a file names: its `use` trees, and paths
/// written out in code (`crate::store::alerts::raise(…)`).
fn named_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let starts_word = at == 0 || !rest[..at].chars().next_back().is_some_and(is_word_char);
        let after = &rest[at + 4..];
        let end = after.find(';').unwrap_or(after.len());
        if starts_word {
            paths.extend(expand_use(&after[..end]));
        }
        rest = &after[end.min(after.len())..];
    }
    for anchor in ["crate::", "super::", "self::"] {
        for (at, _) in code.match_indices(anchor) {
            if code[..at].chars().next_back().is_some_and(is_word_char) {
                continue;
            }
            let path: String = code[at..]
                .chars()
                .take_while(|c| is_word_char(*c) || *c == ':')
                .collect();
            paths.push(path);
        }
    }
    paths
}

/// The module a path names, resolved from `module` (the file's own), as
/// the longest prefix that is a file's module; `None` outside the crate.
fn resolve(
    path: &str,
    module: &[String],
    is_file: bool,
    known: &BTreeSet<Vec<String>>,
) -> Option<Vec<String>> {
    let mut segments = path.split("::").filter(|s| !s.is_empty());
    let mut full: Vec<String> = match segments.next()? {
        "crate" => vec!["crate".to_owned()],
        "self" => module.to_vec(),
        "super" => {
            // `super` of a file module `a::b` is `a`, whatever file it is in.
            let mut parent = module.to_vec();
            if !is_file {
                return None;
            }
            parent.pop();
            parent
        }
        _ => return None,
    };
    for segment in segments {
        if segment == "super" {
            full.pop();
        } else {
            full.push(segment.to_owned());
        }
    }
    while !full.is_empty() {
        if known.contains(&full) {
            return Some(full);
        }
        full.pop();
    }
    None
}

fn is_ancestor(ancestor: &[String], of: &[String]) -> bool {
    ancestor.len() < of.len() && of[..ancestor.len()] == *ancestor
}

#[test]
fn the_http_layer_and_the_portal_never_touch_the_database() {
    let mut offenders = Vec::new();
    for folder in NO_SQL {
        for file in rust_files(&source_root().join(folder)) {
            let text = std::fs::read_to_string(&file).expect("readable source");
            let code = code_of(&text);
            if mentions(&code, "diesel") {
                offenders.push(format!("{} mentions diesel", file.display()));
            }
            if code.contains("schema::") {
                offenders.push(format!("{} names a schema module", file.display()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "SQL belongs in src/store:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn no_module_imports_another_that_imports_it_back() {
    let files = rust_files(&source_root());
    let known: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(f)).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for file in &files {
        let module = module_of(file);
        let code = code_of(&std::fs::read_to_string(file).expect("readable source"));
        // Unit tests inside a file use what they test; they are not the
        // module's imports.
        let code = code.split("#[cfg(test)]").next().unwrap_or_default();
        for path in named_paths(code) {
            let Some(target) = resolve(&path, &module, true, &known) else {
                continue;
            };
            if target != module && !is_ancestor(&target, &module) && !is_ancestor(&module, &target)
            {
                edges.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    // Depth-first search for a path back to where it started.
    fn circle(
        from: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        trail: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        if let Some(at) = trail.iter().position(|m| m == from) {
            let mut found = trail[at..].to_vec();
            found.push(from.clone());
            return Some(found);
        }
        if done.contains(from) {
            return None;
        }
        trail.push(from.clone());
        for next in edges.get(from).into_iter().flatten() {
            if let Some(found) = circle(next, edges, trail, done) {
                return Some(found);
            }
        }
        trail.pop();
        done.insert(from.clone());
        None
    }
    let mut done = BTreeSet::new();
    for module in edges.keys() {
        if let Some(found) = circle(module, &edges, &mut Vec::new(), &mut done) {
            let names: Vec<String> = found.iter().map(|m| m.join("::")).collect();
            panic!("modules import each other: {}", names.join(" -> "));
        }
    }
    // The check must see the imports it is about.
    let store_records = vec!["crate".to_owned(), "store".to_owned(), "records".to_owned()];
    let http_records = vec!["crate".to_owned(), "http".to_owned(), "records".to_owned()];
    assert!(
        edges
            .get(&http_records)
            .is_some_and(|targets| targets.contains(&store_records)),
        "the check did not see http::records use store::records"
    );
}

#[test]
fn the_import_check_finds_a_circle() {
    let code = "use super::{alerts, records::{NOT_FOUND, Db}};\nfn f() { crate::store::access::grants(); }";
    let paths = named_paths(&code_of(code));
    assert!(paths.contains(&"super::alerts".to_owned()), "{paths:?}");
    assert!(
        paths.contains(&"super::records::Db".to_owned()),
        "{paths:?}"
    );
    assert!(paths.iter().any(|p| p == "crate::store::access::grants"));
    let known: BTreeSet<Vec<String>> = [
        vec!["crate", "store"],
        vec!["crate", "store", "records"],
        vec!["crate", "store", "alerts"],
    ]
    .into_iter()
    .map(|m| m.into_iter().map(str::to_owned).collect())
    .collect();
    let module: Vec<String> = ["crate", "store", "alerts"].map(str::to_owned).to_vec();
    assert_eq!(
        resolve("super::records::Db", &module, true, &known),
        Some(["crate", "store", "records"].map(str::to_owned).to_vec())
    );
    assert!(!mentions(
        &code_of("// diesel in prose\nlet s = \"diesel\";"),
        "diesel"
    ));
    assert!(mentions(&code_of("use diesel::prelude::*;"), "diesel"));
    assert!(!mentions("my_diesel_thing", "diesel"));
}

#[test]
fn no_source_file_holds_two_concerns() {
    let long: Vec<String> = rust_files(&source_root())
        .into_iter()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(&file).ok()?.lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", file.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines, usually two concerns in one: {}",
        long.join(", ")
    );
}
