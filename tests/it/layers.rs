//! The layers of `src/` as `docs/architecture.md` draws them: each module imports only what its
//! row in the doc's table allows, every allowed import is used, and the rows make no circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The table under "The imports each module may use".
fn allowed() -> Graph {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let section = doc
        .split("### The imports each module may use")
        .nth(1)
        .expect("docs/architecture.md lost its table of imports");
    let mut graph = Graph::new();
    for line in section.lines().skip_while(|l| !l.starts_with('|')) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (module, imports) = (cells[1], cells[2]);
        if !module.starts_with('`') {
            continue; // the header and its rule
        }
        let names = |s: &str| -> BTreeSet<String> {
            s.split(',')
                .map(|n| n.trim().trim_matches('`').to_string())
                .filter(|n| !n.is_empty())
                .collect()
        };
        graph.insert(module.trim_matches('`').to_string(), names(imports));
    }
    graph
}

/// Which top-level module each module of `src/` names through `crate::`.
fn imports() -> Graph {
    let mut graph = Graph::new();
    for file in rust_files(&root().join("src")) {
        let relative = file.strip_prefix(root().join("src")).unwrap();
        let top = relative.iter().next().unwrap().to_str().unwrap();
        let module = top.trim_end_matches(".rs").to_string();
        if module == "main" || module == "lib" {
            continue; // the binary uses `tally::`; the library root only declares
        }
        let code = without_comments(&std::fs::read_to_string(&file).unwrap());
        let used = graph.entry(module.clone()).or_default();
        for name in crate_paths(&code) {
            if name != module {
                used.insert(name);
            }
        }
    }
    graph
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The code without its comment lines (doc links name modules without importing them).
fn without_comments(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first name after each `crate::`, and each name at the top of a `crate::{...}` group.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut names = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            names.insert(ident(rest));
            continue;
        };
        let mut depth = 1;
        let mut expect_name = true;
        for (i, ch) in group.char_indices() {
            match ch {
                '{' => depth += 1,
                '}' if depth == 1 => break,
                '}' => depth -= 1,
                ',' if depth == 1 => expect_name = true,
                c if expect_name && depth == 1 && (c.is_alphanumeric() || c == '_') => {
                    names.insert(ident(&group[i..]));
                    expect_name = false;
                }
                _ => {}
            }
        }
    }
    names.retain(|n| !n.is_empty() && n != "self");
    names
}

#[test]
fn every_import_is_one_that_the_architecture_allows() {
    let (allowed, imports) = (allowed(), imports());
    let mut wrong = Vec::new();
    for (module, used) in &imports {
        let Some(may) = allowed.get(module) else {
            wrong.push(format!("`{module}` has no row in docs/architecture.md"));
            continue;
        };
        for name in used.difference(may) {
            wrong.push(format!(
                "`{module}` imports `{name}`, which its row does not allow"
            ));
        }
        for name in may.difference(used) {
            wrong.push(format!(
                "`{module}`'s row allows `{name}`, which it no longer imports"
            ));
        }
    }
    for module in allowed.keys().filter(|m| !imports.contains_key(*m)) {
        wrong.push(format!(
            "docs/architecture.md has a row for `{module}`, not in src/"
        ));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_allowed_imports_make_no_circle() {
    let mut left = allowed();
    // Take away, again and again, the modules that import nothing that is left.
    while !left.is_empty() {
        let ground: Vec<String> = left
            .iter()
            .filter(|(_, used)| used.iter().all(|u| !left.contains_key(u)))
            .map(|(m, _)| m.clone())
            .collect();
        assert!(!ground.is_empty(), "a circle among {:?}", left.keys());
        for m in ground {
            left.remove(&m);
        }
    }
}

#[test]
fn the_reader_of_crate_paths_sees_groups_and_nested_groups() {
    let code = "use crate::{store::{Store, StoreError}, value::Value};\nlet x = crate::days::f();";
    let names: Vec<String> = crate_paths(code).into_iter().collect();
    assert_eq!(names, ["days", "store", "value"]);
}
