//! The shape of the source tree, as ARCHITECTURE.md states it: no import circle between the
//! top-level modules of `src/`, no file in `src/` over 800 lines, and no file of the
//! repository that refers to a file outside it.
//!
//! The import graph is read from `crate::` paths (and `use crate::{a, b::c}` groups) in the
//! source text. Test-only code is left out: files named `tests.rs`, files below a `tests/`
//! directory of `src/`, and everything after a file's first `#[cfg(test)]` line (test modules
//! go at the end of a file). `main.rs`, `lib.rs` and `bin/` are the roots, not modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 800;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file below `dir`, sorted.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The identifier that starts at `s`'s beginning.
fn ident(s: &str) -> &str {
    let end = s.find(|c: char| !is_ident(c)).unwrap_or(s.len());
    &s[..end]
}

/// The first path segment after every `crate::` in `text`, and the names a `use crate::{...}`
/// group starts its paths with.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut uses = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let name = ident(&text[at + "crate::".len()..]);
        if !name.is_empty() {
            uses.insert(name.to_string());
        }
    }
    for (at, _) in text.match_indices("use crate::{") {
        let rest = &text[at + "use crate::{".len()..];
        // The group ends at the last `}` before the statement's `;`.
        let stmt = &rest[..rest.find(';').unwrap_or(rest.len())];
        let Some(close) = stmt.rfind('}') else {
            continue;
        };
        let group = &stmt[..close];
        // A name that begins a path: after the start, `,`, `{` or white space, and followed
        // by `::`, or by `,` / `}` / the group's end (white space between).
        let chars: Vec<(usize, char)> = group.char_indices().collect();
        let mut i = 0;
        while i < chars.len() {
            let (pos, c) = chars[i];
            let starts = is_ident(c)
                && (i == 0
                    || matches!(chars[i - 1].1, ',' | '{')
                    || chars[i - 1].1.is_whitespace());
            if !starts {
                i += 1;
                continue;
            }
            let name = ident(&group[pos..]);
            let after = &group[pos + name.len()..];
            let trimmed = after.trim_start();
            if after.starts_with("::")
                || trimmed.is_empty()
                || trimmed.starts_with(',')
                || trimmed.starts_with('}')
            {
                uses.insert(name.to_string());
            }
            i += name.chars().count();
        }
    }
    uses
}

/// The top-level module a path below `src/` belongs to, or `None` for the crate roots.
fn top_module(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    match first.as_str() {
        "main.rs" | "lib.rs" | "bin" => None,
        _ => Some(first.strip_suffix(".rs").unwrap_or(&first).to_string()),
    }
}

/// Whether a file holds only test code.
fn test_only(rel: &Path) -> bool {
    rel.file_name().is_some_and(|n| n == "tests.rs")
        || rel
            .parent()
            .is_some_and(|p| p.components().any(|c| c.as_os_str() == "tests"))
}

/// Module → the other top-level modules it names.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = src();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(&root).expect("src/") {
        let rel = PathBuf::from(entry.expect("an entry").file_name());
        if let Some(m) = top_module(&rel) {
            graph.entry(m).or_default();
        }
    }
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    for path in files {
        let rel = path.strip_prefix(&root).expect("below src/").to_path_buf();
        let Some(from) = top_module(&rel) else {
            continue;
        };
        if test_only(&rel) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("utf-8 source");
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for to in crate_paths(code) {
            if to != from && graph.contains_key(&to) {
                graph.get_mut(&from).expect("every module").insert(to);
            }
        }
    }
    graph
}

/// The modules each module reaches through one or more imports.
fn reach(graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, BTreeSet<String>> {
    graph
        .keys()
        .map(|start| {
            let mut seen = BTreeSet::new();
            let mut todo: Vec<&String> = graph[start].iter().collect();
            while let Some(m) = todo.pop() {
                if seen.insert(m.clone()) {
                    todo.extend(graph[m].iter());
                }
            }
            (start.clone(), seen)
        })
        .collect()
}

/// Every group of modules that import one another in a circle, with the imports inside it.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let reach = reach(graph);
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for m in graph.keys() {
        if done.contains(m) || !reach[m].contains(m) {
            continue;
        }
        let group: BTreeSet<&String> = graph
            .keys()
            .filter(|o| *o == m || (reach[m].contains(*o) && reach[*o].contains(m)))
            .collect();
        let ties: Vec<String> = group
            .iter()
            .flat_map(|a| {
                graph[*a]
                    .iter()
                    .filter(|b| group.contains(b))
                    .map(move |b| format!("{a}->{b}"))
            })
            .collect();
        let names: Vec<&str> = group.iter().map(|s| s.as_str()).collect();
        out.push(format!("{} ({})", names.join(" "), ties.join(", ")));
        done.extend(group.into_iter().cloned());
    }
    out
}

#[test]
fn no_import_circle_between_top_level_modules() {
    let graph = import_graph();
    assert!(graph.contains_key("writer") && graph.contains_key("log"));
    let found = circles(&graph);
    assert!(
        found.is_empty(),
        "import circles between top-level modules of src/ (dependencies must point down):\n{}",
        found.join("\n")
    );
}

#[test]
fn no_source_file_over_800_lines() {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 20);
    let long: Vec<String> = files
        .iter()
        .filter_map(|p| {
            let lines = std::fs::read_to_string(p)
                .expect("utf-8 source")
                .lines()
                .count();
            let rel = p.strip_prefix(&root).unwrap_or(p);
            (lines > MAX_LINES).then(|| format!("src/{} ({lines} lines)", rel.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files in src/ over {MAX_LINES} lines (split them along what they do):\n{}",
        long.join("\n")
    );
}

/// The reader of imports finds what it must: paths, groups, nested groups; and skips what is
/// not a path's first segment.
#[test]
fn the_import_reader_reads_paths_and_groups() {
    let text = "use crate::log::{alert::Alert, Change};\n\
                use crate::{\n    picture::Live,\n    store, writer::{Command, Writer},\n};\n\
                fn f() { crate::hub::is_alert(x); }\n";
    let found = crate_paths(text);
    for m in ["log", "picture", "store", "writer", "hub"] {
        assert!(found.contains(m), "{m} in {found:?}");
    }
    assert!(!found.contains("alert") && !found.contains("Change"));

    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let edge = |g: &mut BTreeMap<String, BTreeSet<String>>, a: &str, b: &str| {
        g.entry(a.into()).or_default().insert(b.into());
        g.entry(b.into()).or_default();
    };
    edge(&mut g, "a", "b");
    edge(&mut g, "b", "c");
    edge(&mut g, "c", "d");
    assert!(circles(&g).is_empty());
    edge(&mut g, "d", "b");
    assert_eq!(circles(&g), vec!["b c d (b->c, c->d, d->b)".to_string()]);
}

/// The repository's files, as git knows them (tracked and not ignored).
fn repository_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("git")
        .args(["ls-files", "--cached", "--others", "--exclude-standard"])
        .current_dir(root)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git ls-files failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| root.join(l))
        .collect()
}

/// The project's own docs (proto/*.md, README, ARCHITECTURE.md) are the contract: nothing in
/// the repository refers to a file outside it.
#[test]
fn nothing_refers_to_a_file_outside_the_repository() {
    // Spelled in pieces so that this file does not name them itself.
    let outside = [
        format!("{}{}", "../sha", "red"),
        format!("{}{}", "CONTRACT", ".md"),
        format!("{}{}", "DOMAIN", ".md"),
        format!("{}{}", "STYLE", ".md"),
    ];
    let mut found = Vec::new();
    for path in repository_files() {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue; // binary files (the fixture database, images)
        };
        for (n, line) in text.lines().enumerate() {
            if let Some(name) = outside.iter().find(|o| line.contains(o.as_str())) {
                found.push(format!("{}:{}: {name}", path.display(), n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "references outside the repository:\n{}",
        found.join("\n")
    );
}
