//! The spec ↔ test mapping, checked both ways, and the house rule that only `model/` names a
//! sync backend.
//!
//! Reads `specs/*.md` and `tests/**/*.rs` as text (never relying on what compiles, so tests behind
//! the `loom` / `shuttle` features count too) and fails with the full list of problems:
//! - an id whose `Checked by:` list is empty, or that no test claims;
//! - a listed `tests/<file>.rs::<fn>` that does not exist, is not a `#[test]`, or does not claim
//!   that id in its `/// Spec:` line;
//! - a test that claims an id no spec defines;
//! - a `#[test]` fn without a `/// Spec:` line among its attributes and doc comments;
//! - an id defined twice, or a heading that looks like an id but is malformed.

#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// One guarantee: `### AREA-N: title` in `specs/<file>.md`.
#[derive(Debug)]
struct Guarantee {
    id: String,
    at: String,
    checked_by: Vec<(String, String)>,
}

/// One `#[test]` fn in `tests/`.
#[derive(Debug)]
struct TestFn {
    file: String,
    name: String,
    line: usize,
    ids: Option<Vec<String>>,
}

/// `AREA-N`: capital letters (digits allowed after the first), a dash, a number.
fn is_id(s: &str) -> bool {
    let Some((area, n)) = s.split_once('-') else {
        return false;
    };
    let mut chars = area.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && !n.is_empty()
        && n.chars().all(|c| c.is_ascii_digit())
}

fn parse_specs(file: &str, text: &str, out: &mut Vec<Guarantee>, problems: &mut Vec<String>) {
    let mut current: Option<Guarantee> = None;
    let mut in_checked_by = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let at = format!("{file}:{}", i + 1);
        if line.starts_with('#') {
            out.extend(current.take());
            in_checked_by = false;
            if let Some(rest) = line.strip_prefix("### ") {
                let first = rest.split([':', ' ']).next().unwrap_or("");
                if is_id(first) {
                    if rest[first.len()..].starts_with(": ") && rest.len() > first.len() + 2 {
                        current = Some(Guarantee {
                            id: first.to_owned(),
                            at,
                            checked_by: Vec::new(),
                        });
                    } else {
                        problems.push(format!(
                            "{at}: heading `{line}` should read `### {first}: short title`"
                        ));
                    }
                }
            }
            continue;
        }
        let Some(g) = current.as_mut() else { continue };
        if line.starts_with("Checked by:") {
            in_checked_by = true;
            continue;
        }
        if !in_checked_by {
            continue;
        }
        if let Some(item) = line.strip_prefix("- ").or_else(|| line.strip_prefix("* ")) {
            let entry = item.split('`').nth(1).unwrap_or("");
            match entry.split_once("::") {
                Some((path, func)) if path.starts_with("tests/") && path.ends_with(".rs") => {
                    let func = func.rsplit("::").next().unwrap_or(func);
                    g.checked_by.push((path.to_owned(), func.to_owned()));
                }
                _ => problems.push(format!(
                    "{at}: `Checked by:` entry `{item}` should be `tests/<file>.rs::<test_fn>` in backticks"
                )),
            }
        } else if !line.is_empty() {
            in_checked_by = false;
        }
    }
    out.extend(current);
}

/// The name of the fn declared on this line, if it declares one.
fn fn_name(line: &str) -> Option<String> {
    let mut rest = line;
    loop {
        let before = rest;
        for prefix in [
            "pub(crate) ",
            "pub(super) ",
            "pub ",
            "async ",
            "const ",
            "unsafe ",
        ] {
            rest = rest.strip_prefix(prefix).unwrap_or(rest);
        }
        if rest == before {
            break;
        }
    }
    let rest = rest.strip_prefix("fn ")?;
    let name: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
        .collect();
    (!name.is_empty()).then_some(name)
}

fn parse_tests(file: &str, text: &str, out: &mut Vec<TestFn>) {
    // The attributes and doc comments directly above the next item.
    let mut block: Vec<String> = Vec::new();
    let mut open_brackets = 0i32;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if open_brackets > 0 {
            open_brackets += bracket_balance(line);
            block.push(line.to_owned());
            continue;
        }
        if line.starts_with("#[") {
            open_brackets = bracket_balance(line);
            // `#[test] fn name() {` on one line.
            let after = line.rfind(']').map(|p| line[p + 1..].trim()).unwrap_or("");
            block.push(line.to_owned());
            if open_brackets <= 0 && !after.is_empty() {
                finish_item(file, i + 1, after, &mut block, out);
            }
            continue;
        }
        if line.starts_with("//") {
            block.push(line.to_owned());
            continue;
        }
        finish_item(file, i + 1, line, &mut block, out);
    }
}

fn finish_item(
    file: &str,
    line_no: usize,
    line: &str,
    block: &mut Vec<String>,
    out: &mut Vec<TestFn>,
) {
    let is_test = block
        .iter()
        .any(|l| l == "#[test]" || l.starts_with("#[test]"));
    if is_test {
        if let Some(name) = fn_name(line) {
            let ids = block.iter().find_map(|l| {
                l.strip_prefix("///")
                    .map(str::trim)
                    .and_then(|l| l.strip_prefix("Spec:"))
                    .map(|ids| {
                        ids.split([',', ' '])
                            .map(|s| s.trim().trim_end_matches('.'))
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect::<Vec<_>>()
                    })
            });
            out.push(TestFn {
                file: file.to_owned(),
                name,
                line: line_no,
                ids,
            });
        }
    }
    block.clear();
}

fn bracket_balance(line: &str) -> i32 {
    line.chars().fold(0, |n, c| match c {
        '[' => n + 1,
        ']' => n - 1,
        _ => n,
    })
}

/// Checks the mapping; returns every problem found and the notes worth printing.
fn check(specs: &[(String, String)], tests: &[(String, String)]) -> (Vec<String>, Vec<String>) {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let mut guarantees = Vec::new();
    for (file, text) in specs {
        parse_specs(file, text, &mut guarantees, &mut problems);
    }
    let mut fns = Vec::new();
    for (file, text) in tests {
        parse_tests(file, text, &mut fns);
    }

    let mut by_id: BTreeMap<&str, &Guarantee> = BTreeMap::new();
    for g in &guarantees {
        if let Some(first) = by_id.insert(&g.id, g) {
            problems.push(format!(
                "{}: {} is defined twice (also at {})",
                g.at, g.id, first.at
            ));
        }
    }

    let mut claimed: BTreeMap<&str, Vec<&TestFn>> = BTreeMap::new();
    for t in &fns {
        let where_ = format!("{}:{} `{}`", t.file, t.line, t.name);
        match &t.ids {
            None => problems.push(format!(
                "{where_}: #[test] without a `/// Spec: AREA-N` line among its attributes"
            )),
            Some(ids) if ids.is_empty() => {
                problems.push(format!("{where_}: `/// Spec:` line names no id"))
            }
            Some(ids) => {
                for id in ids {
                    if !is_id(id) {
                        problems.push(format!("{where_}: `{id}` in its Spec line is not an id"));
                    } else if !by_id.contains_key(id.as_str()) {
                        problems.push(format!("{where_}: claims {id}, which no spec defines"));
                    }
                    claimed.entry(id).or_default().push(t);
                }
            }
        }
    }

    let tests_present: BTreeSet<&str> = tests.iter().map(|(f, _)| f.as_str()).collect();
    for g in &guarantees {
        if g.checked_by.is_empty() {
            problems.push(format!("{}: {} has no `Checked by:` tests", g.at, g.id));
        }
        if !claimed.contains_key(g.id.as_str()) {
            problems.push(format!(
                "{}: no test claims {} in its `/// Spec:` line",
                g.at, g.id
            ));
        }
        for (path, func) in &g.checked_by {
            if !tests_present.contains(path.as_str()) {
                problems.push(format!(
                    "{}: {} lists `{path}::{func}`, but {path} does not exist",
                    g.at, g.id
                ));
                continue;
            }
            let found: Vec<&TestFn> = fns
                .iter()
                .filter(|t| &t.file == path && &t.name == func)
                .collect();
            if found.is_empty() {
                problems.push(format!(
                    "{}: {} lists `{path}::{func}`, but {path} has no #[test] fn {func}",
                    g.at, g.id
                ));
            } else if !found
                .iter()
                .any(|t| t.ids.as_ref().is_some_and(|ids| ids.contains(&g.id)))
            {
                problems.push(format!(
                    "{}: {} lists `{path}::{func}`, but that test does not claim {} in its `/// Spec:` line",
                    g.at, g.id, g.id
                ));
            }
        }
        for t in claimed.get(g.id.as_str()).into_iter().flatten() {
            if !g
                .checked_by
                .iter()
                .any(|(p, f)| *p == t.file && *f == t.name)
            {
                notes.push(format!(
                    "`{}::{}` claims {} but {} does not list it under `Checked by:`",
                    t.file, t.name, g.id, g.at
                ));
            }
        }
    }
    (problems, notes)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn read_all(paths: Vec<PathBuf>) -> Vec<(String, String)> {
    let root = root();
    let mut files: Vec<(String, String)> = paths
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&root)
                .unwrap_or(&p)
                .to_string_lossy()
                .replace('\\', "/");
            let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {rel}: {e}"));
            (rel, text)
        })
        .collect();
    files.sort();
    files
}

/// Spec: REPO-1
#[test]
fn every_spec_id_is_checked_and_every_test_names_its_ids() {
    let mut spec_paths = Vec::new();
    for e in fs::read_dir(root().join("specs"))
        .expect("specs/ exists")
        .flatten()
    {
        if e.path().extension().is_some_and(|x| x == "md") {
            spec_paths.push(e.path());
        }
    }
    let mut test_paths = Vec::new();
    rs_files(&root().join("tests"), &mut test_paths);
    let specs = read_all(spec_paths);
    let tests = read_all(test_paths);
    let (problems, notes) = check(&specs, &tests);
    for n in &notes {
        eprintln!("note: {n}");
    }
    assert!(
        problems.is_empty(),
        "the spec ↔ test mapping is broken ({} problem(s)):\n  - {}",
        problems.len(),
        problems.join("\n  - ")
    );
}

/// Spec: REPO-1
#[test]
fn the_mapping_check_reports_each_kind_of_break() {
    let spec = "# Area\n\n### AREA-1: covered\nText.\n\nChecked by:\n- `tests/a.rs::good`\n\n\
                ### AREA-2: listed test missing\nChecked by:\n- `tests/a.rs::gone`\n\n\
                ### AREA-3: nobody claims it\nChecked by:\n- `tests/a.rs::good`\n\n\
                ### AREA-4 no colon\n\n### AREA-5: no list\nText.\n";
    let tests = "/// Spec: AREA-1, AREA-2\n#[test]\nfn good() {}\n\n#[test]\n#[ignore]\nfn unlabelled() {}\n\n\
                 /// Spec: NOPE-9\n#[test] fn claims_unknown() {}\n\n/// Spec: AREA-5\n#[cfg(feature = \"loom\")]\n\
                 #[test]\nfn gated() {}\n\nfn helper() {}\n";
    let (problems, _) = check(
        &[("specs/area.md".into(), spec.into())],
        &[("tests/a.rs".into(), tests.into())],
    );
    let all = problems.join("\n");
    for expected in [
        "has no #[test] fn gone",                     // listed test does not exist
        "no test claims AREA-3",                      // id without a claiming test
        "does not claim AREA-3",                      // listed test does not claim the id
        "should read `### AREA-4: short title`",      // malformed heading
        "AREA-5 has no `Checked by:` tests",          // empty list
        "`unlabelled`: #[test] without a `/// Spec:", // test without Spec line
        "claims NOPE-9, which no spec defines",       // unknown id
    ] {
        assert!(all.contains(expected), "missing `{expected}` in:\n{all}");
    }
    assert_eq!(problems.len(), 7, "{all}");
}

/// Does this line of runtime code name a sync backend directly?
fn names_backend(line: &str) -> bool {
    let code = line.split("//").next().unwrap_or("");
    if code.contains("std::sync") || code.contains("std::thread") {
        return true;
    }
    let word_at = |hay: &str, needle: &str| {
        hay.match_indices(needle).any(|(i, _)| {
            hay[..i]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
        })
    };
    if word_at(code, "loom::") || word_at(code, "shuttle::") {
        return true;
    }
    let squeezed: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    [
        "feature=\"loom\"",
        "feature=\"shuttle\"",
        "externcrateloom",
        "externcrateshuttle",
    ]
    .iter()
    .any(|p| squeezed.contains(p))
        || code.trim_start().starts_with("use loom")
        || code.trim_start().starts_with("use shuttle")
}

/// Spec: REPO-2
#[test]
fn runtime_names_no_sync_backend_directly() {
    let mut paths = Vec::new();
    rs_files(&root().join("runtime"), &mut paths);
    assert!(!paths.is_empty(), "runtime/ has Rust files");
    let mut offenders = Vec::new();
    for (file, text) in read_all(paths) {
        for (i, line) in text.lines().enumerate() {
            if names_backend(line) {
                offenders.push(format!("{file}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "runtime/ must take sync, threads and clocks from `evloop_model`:\n  {}",
        offenders.join("\n  ")
    );
    for bad in [
        "use std::sync::Mutex;",
        "let t = std::thread::spawn(f);",
        "loom::model(|| {});",
        "#[cfg(feature = \"shuttle\")]",
        "use loom;",
    ] {
        assert!(names_backend(bad), "the check misses `{bad}`");
    }
    for fine in [
        "use evloop_model::sync::Mutex;",
        "// checked under loom and shuttle",
        "bloom::x()",
    ] {
        assert!(!names_backend(fine), "false alarm on `{fine}`");
    }
}

/// Spec: REPO-3
#[test]
fn the_model_check_commands_run_as_written_in_ci_and_skip_the_doc_examples() {
    let read = |p: &str| fs::read_to_string(root().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    let ci = read(".ci/run");
    for command in [
        "cargo test --features loom",
        "cargo test --features shuttle",
    ] {
        assert!(
            ci.lines().any(|l| l.trim() == command),
            ".ci/run must run `{command}` exactly as users type it (REPO-3)"
        );
    }
    let lib = read("runtime/lib.rs");
    let first_attr = lib
        .lines()
        .find(|l| l.trim_start().starts_with("#!["))
        .expect("runtime/lib.rs has crate attributes");
    assert_eq!(
        first_attr.trim(),
        "#![cfg(not(all(doctest, evloop_model_backend)))]",
        "the doc examples must stay out of a model checker's build (REPO-3)"
    );
    let build = read("build.rs");
    for needle in [
        "cargo::rustc-cfg=evloop_model_backend",
        "CARGO_FEATURE_LOOM",
        "CARGO_FEATURE_SHUTTLE",
    ] {
        assert!(
            build.contains(needle),
            "build.rs must mention `{needle}` (REPO-3)"
        );
    }
}

/// The lines of a Cargo manifest that put the crate `name` (in directory `dir`) into a normal or a
/// build dependency table, the tables whose crates are compiled into a user's build: `[dependencies]`,
/// `[build-dependencies]`, their `target.<cfg>.` forms and their `.<crate>` sub-tables. An entry
/// counts when it names the crate (as a key or as `package = "…"`) or points `path` at its
/// directory, so a renamed entry is caught too.
fn user_dependencies_on(manifest: &str, name: &str, dir: &str) -> Vec<String> {
    let snake = name.replace('-', "_");
    let names_it = |text: &str| {
        let points_at_dir = text.match_indices("path").any(|(i, _)| {
            let value = text[i + 4..].trim_start().strip_prefix('=').map(|v| {
                let v = v.trim_start().trim_start_matches(['"', '\'']);
                v.split(['"', '\'']).next().unwrap_or("")
            });
            value.is_some_and(|p| p.trim_end_matches('/').rsplit('/').next() == Some(dir))
        });
        points_at_dir || text.contains(name) || text.contains(&snake)
    };
    let mut found = Vec::new();
    let mut user_table = false;
    for (i, raw) in manifest.lines().enumerate() {
        let line = raw.split(" #").next().unwrap_or("").trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            let table = line.trim_matches(['[', ']']).replace([' ', '"', '\''], "");
            let segments: Vec<&str> = table.split('.').collect();
            user_table = segments.first() != Some(&"workspace")
                && segments
                    .iter()
                    .any(|s| *s == "dependencies" || *s == "build-dependencies");
            if user_table && names_it(&table) {
                found.push(format!("line {}: {}", i + 1, raw.trim()));
            }
        } else if user_table && names_it(line) {
            found.push(format!("line {}: {}", i + 1, raw.trim()));
        }
    }
    found
}

/// Spec: REPO-4
#[test]
fn the_harness_is_not_in_a_users_dependency_graph() {
    let read = |p: &str| fs::read_to_string(root().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    let (name, dir) = ("evloop-check", "check");
    assert!(
        read("check/Cargo.toml").contains(&format!("name = \"{name}\"")),
        "check/Cargo.toml is the harness crate `{name}`: update this test if it moved"
    );
    for manifest in ["Cargo.toml", "model/Cargo.toml"] {
        let found = user_dependencies_on(&read(manifest), name, dir);
        assert!(
            found.is_empty(),
            "{manifest} puts the model-check harness `{name}` into a user's build; it belongs \
             under [dev-dependencies] (REPO-4):\n  {}",
            found.join("\n  ")
        );
    }
    let root_manifest = read("Cargo.toml");
    let dev = root_manifest
        .split("[dev-dependencies]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("Cargo.toml has [dev-dependencies]");
    assert!(
        dev.lines().any(|l| l.trim_start().starts_with(name)),
        "the tests take the harness as a dev-dependency (REPO-4)"
    );

    for bad in [
        "[dependencies]\nevloop-check = { path = \"check\", version = \"0.1.0\" }",
        "[dependencies.evloop-check]\npath = \"check\"",
        "[target.'cfg(unix)'.dependencies]\nharness = { package = \"evloop-check\" }",
        "[build-dependencies]\nh = { path = \"../check/\" }",
        "[dependencies]\nevloop_check = \"0.1\"",
    ] {
        assert!(
            !user_dependencies_on(bad, name, dir).is_empty(),
            "the check misses:\n{bad}"
        );
    }
    for fine in [
        "[dev-dependencies]\nevloop-check = { path = \"check\" }",
        "[features]\nloom = [\"evloop-model/loom\", \"evloop-check/loom\"]",
        "[dependencies]\n# evloop-check is a dev-dependency\nevloop-model = { path = \"model\" }",
        "[workspace]\nmembers = [\".\", \"model\", \"check\"]",
        "[dependencies]\nchecker = { path = \"checker\" }",
    ] {
        assert!(
            user_dependencies_on(fine, name, dir).is_empty(),
            "false alarm on:\n{fine}"
        );
    }
}

/// The runtime's layers, bottom up (ARCHITECTURE.md): a top-level module may import from its own
/// layer and the layers below, never above.
const LAYERS: &[(&str, &[&str])] = &[
    ("leaves", &["error", "waiters"]),
    ("engine", &["engine"]),
    (
        "awaitables",
        &[
            "task",
            "catch",
            "future",
            "awaitable",
            "gather",
            "sleep",
            "queue",
            "sync",
            "to_thread",
        ],
    ),
    (
        "API",
        &[
            "builder",
            "event_loop",
            "exception",
            "run",
            "spawn",
            "context",
            "crew",
            "handle",
            "threadsafe",
            "timeouts",
        ],
    ),
    ("explore", &["explore"]),
];

/// `crate::<module>` paths named in `text` (comments left out), as the runtime's imports are
/// written: `crate::x::...` and `use crate::{x, y}`.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            for part in group.split('}').next().unwrap_or("").split(',') {
                let name = ident(part.trim());
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// Which layer breaks there are in `edges` (module → modules it names): an import that points up,
/// a module in no layer, or a cycle.
fn layering_breaks(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let layer_of = |m: &str| LAYERS.iter().position(|(_, ms)| ms.contains(&m));
    let mut breaks = Vec::new();
    for (m, deps) in edges {
        let Some(lm) = layer_of(m) else {
            breaks.push(format!(
                "`{m}` is in no layer (add it to LAYERS and ARCHITECTURE.md)"
            ));
            continue;
        };
        for d in deps.iter().filter(|d| *d != m && edges.contains_key(*d)) {
            if layer_of(d).is_some_and(|ld| ld > lm) {
                breaks.push(format!(
                    "`{m}` ({}) imports `{d}` ({}), a layer above it",
                    LAYERS[lm].0,
                    LAYERS[layer_of(d).unwrap()].0
                ));
            }
        }
    }
    // A cycle: a module that reaches itself.
    for start in edges.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&String> = edges[start].iter().collect();
        while let Some(m) = stack.pop() {
            if m == start {
                breaks.push(format!("`{start}` imports itself through others (a cycle)"));
                break;
            }
            if seen.insert(m.clone()) {
                if let Some(next) = edges.get(m) {
                    stack.extend(next.iter().filter(|d| edges.contains_key(*d)));
                }
            }
        }
    }
    breaks
}

/// Spec: REPO-5
#[test]
fn runtime_modules_import_downwards_and_in_no_circle() {
    let mut paths = Vec::new();
    rs_files(&root().join("runtime"), &mut paths);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, text) in read_all(paths) {
        let rel = file.trim_start_matches("runtime/");
        let top = rel.split('/').next().unwrap().trim_end_matches(".rs");
        if top == "lib" {
            continue;
        }
        let deps = crate_paths(&text);
        edges.entry(top.to_owned()).or_default().extend(deps);
    }
    for deps in edges.values_mut() {
        // Names that are not modules (`crate::Queue` in a doc path, `crate::run` the function).
        deps.retain(|d| d.chars().next().is_some_and(|c| c.is_ascii_lowercase()));
    }
    let known: BTreeSet<String> = edges.keys().cloned().collect();
    for (m, deps) in edges.iter_mut() {
        deps.retain(|d| known.contains(d) && d != m);
    }
    let breaks = layering_breaks(&edges);
    assert!(breaks.is_empty(), "REPO-5:\n  {}", breaks.join("\n  "));

    // The check itself catches each kind of break.
    let graph = |pairs: &[(&str, &[&str])]| -> BTreeMap<String, BTreeSet<String>> {
        pairs
            .iter()
            .map(|(m, ds)| (m.to_string(), ds.iter().map(|d| d.to_string()).collect()))
            .collect()
    };
    let up = graph(&[("engine", &["gather"]), ("gather", &[])]);
    assert!(layering_breaks(&up)[0].contains("a layer above"));
    let circle = graph(&[("gather", &["task"]), ("task", &["gather"])]);
    assert!(layering_breaks(&circle).iter().any(|b| b.contains("cycle")));
    let stray = graph(&[("mystery", &[])]);
    assert!(layering_breaks(&stray)[0].contains("no layer"));
    let fine = graph(&[
        ("gather", &["task", "engine"]),
        ("task", &["engine"]),
        ("engine", &[]),
    ]);
    assert!(layering_breaks(&fine).is_empty());
    assert_eq!(
        crate_paths("use crate::engine::x;\nuse crate::{error::E, waiters};\n// crate::explore"),
        ["engine", "error", "waiters"].map(String::from).into()
    );
}
