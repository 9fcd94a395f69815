//! Checks the dependency rule of the crate's "Layout" section (`lib.rs`): a top-level
//! module uses only modules of lower layers, and the files inside one directory form no
//! cycle. Reads the `crate::…`/`super::…` paths of every production file (test modules
//! and `tests/` directories are left out: tests may reach anywhere).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers of `lib.rs`, bottom first; modules of one layer may not use each other.
const LAYERS: &[&[&str]] = &[
    &[
        "admin_types",
        "prerequisite",
        "test_ports",
        "error",
        "codec",
        "config",
        "metrics",
        "batcher",
        "tls",
    ],
    &["api", "auth"],
    &["sm"],
    &["wire"],
    &["peer"],
    &["raft"],
    &["node"],
    &["receive"],
    &["http"],
    &["server"],
];

/// Crate-root files that are not library modules of their own.
const ROOTS: &[&str] = &[
    "lib",
    "main",
    "hand_off",
    "format_tests",
    "layout_tests",
    "sqs_client",
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Every `.rs` file under `dir`, with its module path relative to `src/`.
fn sources(dir: &Path, out: &mut Vec<(Vec<String>, PathBuf)>, prefix: &[String]) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 file name")
            .to_string();
        if path.is_dir() {
            if name != "tests" {
                let mut inner = prefix.to_vec();
                inner.push(name);
                sources(&path, out, &inner);
            }
        } else if path.extension().is_some_and(|e| e == "rs") && name != "tests" {
            let mut module = prefix.to_vec();
            if name != "mod" {
                module.push(name);
            }
            out.push((module, path));
        }
    }
}

/// The production part of a file: comment lines dropped, everything from the first
/// `#[cfg(test)]` module on cut off.
fn production_code(text: &str) -> String {
    let mut kept = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]")
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod "))
        {
            break;
        }
        if !trimmed.starts_with("//") {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    kept
}

/// The first segment of every path that starts with `anchor` (`crate::` or `super::`),
/// including each branch of a `use anchor{a::b, c}` group.
fn first_segments(code: &str, anchor: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find(anchor) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + anchor.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut branch_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 1 => branch_start = true,
                    c if branch_start && depth == 1 && (c.is_alphanumeric() || c == '_') => {
                        found.insert(identifier(&group[i..]));
                        branch_start = false;
                    }
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
            }
        } else {
            found.insert(identifier(rest));
        }
    }
    found
}

fn identifier(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Module path → production code of every library file.
fn crate_files() -> Vec<(Vec<String>, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files, &[]);
    files
        .into_iter()
        .filter(|(module, _)| !module.is_empty())
        .map(|(module, path)| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            (module, production_code(&text))
        })
        .collect()
}

#[test]
fn every_top_level_module_uses_only_lower_layers() {
    let mut violations = Vec::new();
    for (module, code) in crate_files() {
        let top = &module[0];
        if ROOTS.contains(&top.as_str()) {
            continue;
        }
        let Some(own) = layer_of(top) else {
            violations.push(format!("{top} is missing from LAYERS and lib.rs's Layout"));
            continue;
        };
        for used in first_segments(&code, "crate::") {
            if used == *top {
                continue;
            }
            match layer_of(&used) {
                Some(layer) if layer < own => {}
                _ => violations.push(format!("{} uses crate::{used}", module.join("::"))),
            }
        }
    }
    assert!(
        violations.is_empty(),
        "layering broken:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_files_of_one_directory_form_no_cycle() {
    let files = crate_files();
    // Every directory's children (files and subdirectories, by module name).
    let mut children: BTreeMap<Vec<String>, BTreeSet<String>> = BTreeMap::new();
    for (module, _) in &files {
        for d in 1..module.len() {
            children
                .entry(module[..d].to_vec())
                .or_default()
                .insert(module[d].clone());
        }
    }
    // Directory → child → the siblings it (or anything inside it) uses.
    let mut graphs: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (module, code) in &files {
        for d in 1..module.len() {
            let (dir, node) = (&module[..d], &module[d]);
            let mut used = first_segments(code, &format!("crate::{}::", dir.join("::")));
            used.extend(first_segments(code, &"super::".repeat(module.len() - d)));
            let siblings = &children[dir];
            graphs
                .entry(dir.to_vec())
                .or_default()
                .entry(node.clone())
                .or_default()
                .extend(
                    used.into_iter()
                        .filter(|u| u != node && siblings.contains(u)),
                );
        }
    }
    for (dir, graph) in &graphs {
        if let Some(cycle) = find_cycle(graph) {
            panic!(
                "files of {}/ form a cycle: {}",
                dir.join("/"),
                cycle.join(" -> ")
            );
        }
    }
}

/// A cycle of `graph`, as the list of nodes along it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|start| visit(start, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_checker_sees_grouped_imports_and_cycles() {
    let code = "use crate::{sm::command::Op, wire::{ForwardReply, ReceiveCall}};\nlet x = crate::node::now_ms();\n// crate::server is only named here\n";
    let seen = first_segments(&production_code(code), "crate::");
    assert_eq!(
        seen,
        BTreeSet::from(["node".to_string(), "sm".into(), "wire".into()])
    );
    let graph = BTreeMap::from([
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["a".to_string()])),
    ]);
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".to_string(), "b".into(), "a".into()])
    );
}
