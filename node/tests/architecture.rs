//! The architecture holds by test, not by convention (issue 16):
//!
//! * the node's top-level modules import each other without cycles (`crate::X` paths, read
//!   from the sources), but for the one named in [`CYCLES_ALLOWED`] with its reason;
//! * every file, directory and module path that docs/ARCHITECTURE.md names exists.
//!
//! `carbon-ledger` being pure (no I/O crate in its dependency tree) is `.ci/ledger-is-pure`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("node/ has a parent")
        .to_path_buf()
}

/// Cycles the node keeps, each with why: `write`'s flows take the `Node` context, which holds
/// `write`'s proposer and ingress pool.
const CYCLES_ALLOWED: &[&[&str]] = &[&["node", "write"]];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("readable source dir") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Source text without `//` comments (doc comments name modules they do not import).
fn code_of(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The top-level modules `code` names through `crate::` (also inside `use crate::{a, b::c}`).
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(is_ident) {
            continue; // `carbon_crate::` and the like
        }
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of a use group: the first path segment of each comma-separated
            // item at depth 0.
            let mut depth = 0;
            let mut start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && is_ident(c) => {
                        let name: String =
                            group[j..].chars().take_while(|c| is_ident(*c)).collect();
                        out.insert(name);
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            out.insert(name);
        }
    }
    out
}

/// Edges between the node's top-level modules: `from -> {to: a file of from that imports to}`.
fn module_edges() -> BTreeMap<String, BTreeMap<String, String>> {
    let src = repo().join("node/src");
    let mut tops = BTreeSet::new();
    for e in std::fs::read_dir(&src).expect("node/src") {
        let p = e.expect("dir entry").path();
        let name = p
            .file_stem()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        if p.is_dir() || p.extension().is_some_and(|x| x == "rs") {
            tops.insert(name);
        }
    }
    for root in ["lib", "main"] {
        tops.remove(root);
    }
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).expect("under node/src");
        let first = rel.components().next().expect("a component");
        let from = Path::new(first.as_os_str())
            .file_stem()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        if !tops.contains(&from) {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("readable source");
        for to in crate_refs(&code_of(&text)) {
            if to != from && tops.contains(&to) {
                edges
                    .entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_insert_with(|| rel.display().to_string());
            }
        }
    }
    edges
}

/// The strongly connected components with more than one module (Tarjan's, recursive: a
/// dozen modules).
fn cycles(edges: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<BTreeSet<String>> {
    struct T<'a> {
        edges: &'a BTreeMap<String, BTreeMap<String, String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let i = t.index.len();
        t.index.insert(v, i);
        t.low.insert(v, i);
        t.stack.push(v);
        t.on.insert(v);
        if let Some(tos) = t.edges.get(v) {
            for w in tos.keys() {
                let w = w.as_str();
                if !t.index.contains_key(w) {
                    visit(t, w);
                    let lw = t.low[w];
                    let lv = t.low[v];
                    t.low.insert(v, lv.min(lw));
                } else if t.on.contains(w) {
                    let iw = t.index[w];
                    let lv = t.low[v];
                    t.low.insert(v, lv.min(iw));
                }
            }
        }
        if t.low[v] == t.index[v] {
            let mut scc = BTreeSet::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                scc.insert(w.to_string());
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                t.out.push(scc);
            }
        }
    }
    let mut t = T {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn the_nodes_modules_import_each_other_without_cycles() {
    let edges = module_edges();
    let allowed: Vec<BTreeSet<String>> = CYCLES_ALLOWED
        .iter()
        .map(|c| c.iter().map(|s| s.to_string()).collect())
        .collect();
    let mut report = String::new();
    for scc in cycles(&edges) {
        if allowed.contains(&scc) {
            continue;
        }
        report.push_str(&format!("cycle among {scc:?}:\n"));
        for from in &scc {
            for (to, file) in &edges[from] {
                if scc.contains(to) {
                    report.push_str(&format!("  {from} -> {to} (node/src/{file})\n"));
                }
            }
        }
    }
    assert!(
        report.is_empty(),
        "import cycles between the node's modules:\n{report}"
    );
}

#[test]
fn the_cycle_check_sees_use_groups_and_ignores_comments() {
    let refs = crate_refs(&code_of(
        "use crate::{api::x, node::Node};\n// crate::metrics\nlet a = crate::raft::now();",
    ));
    let want: BTreeSet<String> = ["api", "node", "raft"].map(String::from).into();
    assert_eq!(refs, want);
    let mut e: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    e.entry("a".into())
        .or_default()
        .insert("b".into(), "a.rs".into());
    e.entry("b".into())
        .or_default()
        .insert("c".into(), "b.rs".into());
    e.entry("c".into())
        .or_default()
        .insert("a".into(), "c.rs".into());
    assert_eq!(cycles(&e).len(), 1);
}

/// Where a module path's first segment lives: the node's top-level modules, the ledger and
/// proto crates by name, or (for a bare module name such as `audit`) the one module of that
/// name in any of the three crates.
fn module_file(dir: &Path, name: &str) -> Option<PathBuf> {
    let file = dir.join(format!("{name}.rs"));
    let sub = dir.join(name).join("mod.rs");
    [file, sub].into_iter().find(|p| p.is_file())
}

fn crate_roots() -> Vec<(&'static str, PathBuf)> {
    let r = repo();
    vec![
        ("carbon_node", r.join("node/src")),
        ("carbon_ledger", r.join("ledger/src")),
        ("ledger", r.join("ledger/src")),
        ("carbon_proto", r.join("proto/src")),
    ]
}

fn find_modules(dir: &Path, name: &str, out: &mut Vec<PathBuf>) {
    if let Some(f) = module_file(dir, name) {
        out.push(f);
    }
    for e in std::fs::read_dir(dir).expect("readable dir").flatten() {
        if e.path().is_dir() {
            find_modules(&e.path(), name, out);
        }
    }
}

/// Checks a `a::b::c` path of the map: its modules exist, and the first segment that is not a
/// module appears in the last module's source (an item: function, type, constant, variant).
/// `None` when the path is not ours (an external crate's).
fn check_module_path(path: &str) -> Option<Result<(), String>> {
    let segs: Vec<&str> = path.split("::").collect();
    let roots = crate_roots();
    let (mut file, mut dir, rest) = if let Some((_, d)) = roots.iter().find(|(n, _)| *n == segs[0])
    {
        (d.join("lib.rs"), d.clone(), &segs[1..])
    } else if let Some(f) = module_file(&repo().join("node/src"), segs[0]) {
        let d = f.parent().expect("a dir").join(segs[0]);
        (f, d, &segs[1..])
    } else {
        let mut found = Vec::new();
        for (_, d) in roots.iter().filter(|(n, _)| *n != "ledger") {
            find_modules(d, segs[0], &mut found);
        }
        match found.as_slice() {
            [f] => {
                let d = f.parent().expect("a dir").join(segs[0]);
                (f.clone(), d, &segs[1..])
            }
            [] => return None,
            _ => return None, // ambiguous bare name: not checked
        }
    };
    for seg in rest {
        if let Some(f) = module_file(&dir, seg) {
            dir = dir.join(seg);
            file = f;
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let found = text.match_indices(seg).any(|(i, _)| {
            let before = text[..i].chars().next_back();
            let after = text[i + seg.len()..].chars().next();
            !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
        });
        return Some(if found {
            Ok(())
        } else {
            Err(format!("`{path}`: no `{seg}` in {}", file.display()))
        });
    }
    Some(Ok(()))
}

/// The backticked spans of a Markdown text.
fn code_spans(md: &str) -> Vec<&str> {
    md.split('`').skip(1).step_by(2).collect()
}

fn looks_like_file(span: &str) -> bool {
    let ok = span
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c));
    let ext = [".rs", ".toml", ".md", ".sh", ".proto", ".json"]
        .iter()
        .any(|e| span.ends_with(e));
    ok && !span.starts_with("../") && !span.starts_with('.') && (span.contains('/') || ext)
}

fn looks_like_module_path(span: &str) -> bool {
    span.contains("::")
        && span
            .split("::")
            .all(|s| !s.is_empty() && s.chars().all(is_ident))
}

/// Names in the map that are not paths of the repository: the layout of a data directory.
const NOT_REPO_PATHS: &[&str] = &["wal/", "state/", "snapshots/"];

/// Every path of the repository (directories end with `/`), without build output.
fn repo_paths(dir: &Path, rel: &str, out: &mut BTreeSet<String>) {
    for e in std::fs::read_dir(dir).expect("readable dir").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "target" || name == ".git" {
            continue;
        }
        let path = format!("{rel}{name}");
        if e.path().is_dir() {
            out.insert(format!("{path}/"));
            repo_paths(&e.path(), &format!("{path}/"), out);
        } else {
            out.insert(path);
        }
    }
}

#[test]
fn every_path_the_architecture_map_names_exists() {
    let r = repo();
    let md = std::fs::read_to_string(r.join("docs/ARCHITECTURE.md")).expect("the map");
    let mut paths = BTreeSet::new();
    repo_paths(&r, "", &mut paths);
    let mut missing = Vec::new();
    let mut checked = 0;
    for span in md.lines().flat_map(code_spans) {
        if NOT_REPO_PATHS.contains(&span) {
            continue;
        }
        if looks_like_file(span) {
            checked += 1;
            // A path from the root, or the end of one (`mod.rs` of the section's directory:
            // the map names files relative to the heading they are under).
            let (whole, tail) = (
                span.trim_end_matches('/'),
                format!("/{}", span.trim_end_matches('/')),
            );
            let named = |p: &String| {
                let p = p.trim_end_matches('/');
                p == whole || p.ends_with(&tail)
            };
            if !paths.iter().any(named) {
                missing.push(format!("file `{span}`"));
            }
        } else if looks_like_module_path(span) {
            if let Some(res) = check_module_path(span) {
                checked += 1;
                if let Err(e) = res {
                    missing.push(e);
                }
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} names checked: the parser lost the map"
    );
    assert!(
        missing.is_empty(),
        "docs/ARCHITECTURE.md names what does not exist:\n  {}",
        missing.join("\n  ")
    );
}
