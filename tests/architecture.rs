//! The rules of the house (`docs/architecture.md`), checked on the source tree:
//! no import cycles between modules and no oversized source files.
//!
//! The module graph is read from the source text: every `crate::…`, `super::…` and
//! `self::…` path, and paths through a file's own child modules, outside `#[cfg(test)]`
//! items, comments and string literals. `pub use` re-exports and `mod` declarations are
//! not dependencies. Two graphs are checked: between top-level modules (folders and
//! top-level files under `src/`), and inside every folder between its children and the
//! folder's own `mod.rs`.
//!
//! `cargo test --test architecture -- --nocapture` prints both graphs and the largest files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Files allowed above [`MAX_LINES`]: data tables and generated files only.
const DATA_FILES: &[&str] = &["src/tone/domain_texts.rs", "src/tone/lexicon_data.rs"];
/// The house limit on a source file's length.
const MAX_LINES: usize = 800;

type ModPath = Vec<String>;

struct SourceFile {
    path: PathBuf,
    module: ModPath,
    is_mod_rs: bool,
    text: String,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("src readable") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn source_files() -> Vec<SourceFile> {
    let src = src_dir();
    let mut paths = Vec::new();
    collect(&src, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n != "main.rs") || p.parent() != Some(&src))
        .map(|p| {
            let rel = p.strip_prefix(&src).expect("under src");
            let mut module: ModPath =
                rel.iter().map(|s| s.to_string_lossy().trim_end_matches(".rs").to_string()).collect();
            let last = module.last().cloned().unwrap_or_default();
            let is_mod_rs = last == "mod";
            if is_mod_rs || last == "lib" {
                module.pop();
            }
            let text = std::fs::read_to_string(&p).expect("source readable");
            SourceFile { path: p, module, is_mod_rs, text }
        })
        .collect()
}

/// The text with comments, string and char literals blanked out (same length, so
/// offsets stay meaningful).
fn strip_comments_and_strings(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            let end = b[i..].iter().position(|&c| c == b'\n').map_or(b.len(), |n| i + n);
            blank(&mut out, i, end);
            i = end;
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            let start = i;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            blank(&mut out, start, i);
        } else if b[i] == b'r'
            && (b[i..].starts_with(b"r\"") || b[i..].starts_with(b"r#"))
            && (i == 0 || !is_ident(b[i - 1]))
        {
            let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
            if b.get(i + 1 + hashes) != Some(&b'"') {
                i += 1;
                continue;
            }
            let mut close = vec![b'"'];
            close.extend(std::iter::repeat_n(b'#', hashes));
            let body = i + 2 + hashes;
            let end = find(&b[body..], &close).map_or(b.len(), |n| body + n + close.len());
            blank(&mut out, i, end);
            i = end;
        } else if b[i] == b'"' {
            let start = i;
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            blank(&mut out, start, i.min(b.len()));
        } else if b[i] == b'\'' {
            // A char literal ('a', '\n', '\u{..}') or a lifetime ('a): blank literals only.
            let rest = &b[i + 1..];
            let len = if rest.first() == Some(&b'\\') {
                rest.iter().skip(1).position(|&c| c == b'\'').map(|n| n + 2)
            } else {
                let ch = std::str::from_utf8(&b[i + 1..(i + 5).min(b.len())])
                    .ok()
                    .or_else(|| std::str::from_utf8(&b[i + 1..(i + 2).min(b.len())]).ok())
                    .and_then(|s| s.chars().next());
                ch.and_then(|c| (rest.get(c.len_utf8()) == Some(&b'\'')).then_some(c.len_utf8()))
            };
            match len {
                Some(n) => {
                    blank(&mut out, i, i + n + 2);
                    i += n + 2;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Removes every item marked `#[cfg(test)]` (a block to its matching brace, or a
/// statement to its semicolon).
fn strip_test_items(s: &str) -> String {
    let mut out = s.as_bytes().to_vec();
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(n) = find(&b[from..], b"#[cfg(test)]") {
        let start = from + n;
        let mut i = start + "#[cfg(test)]".len();
        let mut depth = 0usize;
        while i < b.len() {
            match b[i] {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        i += 1;
                        break;
                    }
                }
                b';' if depth == 0 => {
                    i += 1;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        for c in &mut out[start..i.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
        from = i.min(b.len());
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Debug, PartialEq)]
enum Tok {
    Ident(String),
    Colons,
    Open,
    Close,
    Comma,
    Other,
}

fn tokens(s: &str) -> Vec<Tok> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if is_ident(c) {
            let st = i;
            while i < b.len() && is_ident(b[i]) {
                i += 1;
            }
            out.push(Tok::Ident(s[st..i].to_string()));
            continue;
        }
        if b[i..].starts_with(b"::") {
            out.push(Tok::Colons);
            i += 2;
            continue;
        }
        match c {
            b'{' => out.push(Tok::Open),
            b'}' => out.push(Tok::Close),
            b',' => out.push(Tok::Comma),
            c if c.is_ascii_whitespace() => {}
            _ => out.push(Tok::Other),
        }
        i += 1;
    }
    out
}

/// Parses a use tree starting at `toks[i]` (after a `::`), appending full paths.
fn use_tree(toks: &[Tok], mut i: usize, prefix: &ModPath, out: &mut Vec<ModPath>) -> usize {
    let mut path = prefix.clone();
    loop {
        match toks.get(i) {
            Some(Tok::Ident(id)) => {
                path.push(id.clone());
                i += 1;
                if toks.get(i) == Some(&Tok::Colons) {
                    i += 1;
                    continue;
                }
                out.push(path);
                return i;
            }
            Some(Tok::Open) => {
                i += 1;
                loop {
                    match toks.get(i) {
                        Some(Tok::Close) => return i + 1,
                        Some(Tok::Comma) => i += 1,
                        None => return i,
                        Some(Tok::Other) => {
                            // `*` (a glob) or `self`-like punctuation: the module itself.
                            out.push(path.clone());
                            i += 1;
                        }
                        _ => i = use_tree(toks, i, &path, out),
                    }
                }
            }
            _ => {
                out.push(path);
                return i;
            }
        }
    }
}

/// Module paths this file refers to (resolved to absolute module paths, maybe with
/// trailing item names).
fn references(f: &SourceFile) -> Vec<ModPath> {
    let clean = strip_test_items(&strip_comments_and_strings(&f.text));
    let children_of_file: Vec<String> = clean
        .lines()
        .filter_map(|l| {
            let t = l.trim_start().trim_start_matches("pub(crate) ").trim_start_matches("pub ");
            t.strip_prefix("mod ").map(|r| r.trim_end_matches(';').trim().to_string())
        })
        .collect();
    // Drop re-exports of the file's own children and module declarations.
    let kept: String = clean
        .lines()
        .map(|l| {
            let t = l.trim_start();
            let reexport = t.strip_prefix("pub use ").or_else(|| t.strip_prefix("pub(crate) use "));
            let own_child = reexport.is_some_and(|r| {
                r.starts_with("self::") || children_of_file.iter().any(|c| r.starts_with(&format!("{c}::")))
            });
            if own_child || t.starts_with("mod ") || t.starts_with("pub mod ") || t.starts_with("pub(crate) mod ") {
                ""
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    // A file's own module directory, for `self::` and child paths.
    let here = f.module.clone();
    let parent: ModPath =
        if f.is_mod_rs || f.module.is_empty() { here.clone() } else { here[..here.len() - 1].to_vec() };
    let children: BTreeSet<String> = children_of_file.into_iter().collect();
    // Paths written in attribute strings (`#[serde(with = "crate::…")]`) are dependencies too.
    let no_tests = strip_test_items(&f.text);
    let mut in_strings = String::new();
    for l in no_tests.lines().map(str::trim_start).filter(|l| l.starts_with("#[")) {
        for part in l.split('"').skip(1).step_by(2) {
            if ["crate::", "super::", "self::"].iter().any(|p| part.starts_with(p)) {
                in_strings.push_str(part);
                in_strings.push_str(";\n");
            }
        }
    }
    let toks = tokens(&(kept + "\n" + &in_strings));
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let prev_colons = i > 0 && toks[i - 1] == Tok::Colons;
        if let (Tok::Ident(id), Some(Tok::Colons), false) = (&toks[i], toks.get(i + 1), prev_colons) {
            let base: Option<ModPath> = match id.as_str() {
                "crate" => Some(Vec::new()),
                "super" => {
                    // `super` of a file module is its directory's module; chains of super go up.
                    let mut b =
                        if f.is_mod_rs { here[..here.len().saturating_sub(1)].to_vec() } else { parent.clone() };
                    let mut j = i + 2;
                    while toks.get(j) == Some(&Tok::Ident("super".into())) && toks.get(j + 1) == Some(&Tok::Colons) {
                        b.pop();
                        j += 2;
                    }
                    i = j - 2;
                    Some(b)
                }
                "self" => Some(here.clone()),
                c if children.contains(c) => {
                    let mut b = here.clone();
                    b.push(c.to_string());
                    // The child itself is the first segment: re-enter the tree at it.
                    let mut paths = Vec::new();
                    i = use_tree(&toks, i + 2, &b, &mut paths);
                    out.extend(paths);
                    continue;
                }
                _ => None,
            };
            if let Some(b) = base {
                let mut paths = Vec::new();
                i = use_tree(&toks, i + 2, &b, &mut paths);
                out.extend(paths);
                continue;
            }
        }
        i += 1;
    }
    out
}

/// The longest prefix of `path` that is a module of the crate.
fn resolve(path: &ModPath, modules: &BTreeSet<ModPath>) -> ModPath {
    (0..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| modules.contains(p)).unwrap_or_default()
}

/// Strongly connected components with more than one node (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        t.on.insert(v);
        if let Some(ws) = t.g.get(v) {
            for w in ws {
                let w = w.as_str();
                if !t.index.contains_key(w) {
                    visit(t, w);
                    let lw = t.low[w];
                    let lv = t.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if t.on.contains(w) {
                    let iw = t.index[w];
                    let lv = t.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g: graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

/// The module graph at one folder: nodes are the folder's children (and the folder
/// itself, for its `mod.rs`), edges between them.
fn graph_at(folder: &ModPath, files: &[SourceFile], modules: &BTreeSet<ModPath>) -> BTreeMap<String, BTreeSet<String>> {
    let depth = folder.len();
    let node = |m: &ModPath| -> Option<String> {
        if !m.starts_with(folder) {
            return None;
        }
        Some(if m.len() == depth { format!("{}(mod)", folder.join("::")) } else { m[..=depth].join("::") })
    };
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let Some(from) = node(&f.module) else { continue };
        g.entry(from.clone()).or_default();
        for r in references(f) {
            let target = resolve(&r, modules);
            if let Some(to) = node(&target) {
                if to != from {
                    g.entry(from.clone()).or_default().insert(to);
                }
            }
        }
    }
    g
}

#[test]
fn no_import_cycles() {
    let files = source_files();
    let modules: BTreeSet<ModPath> = files.iter().map(|f| f.module.clone()).collect();
    let folders: Vec<ModPath> =
        files.iter().filter(|f| f.is_mod_rs || f.module.is_empty()).map(|f| f.module.clone()).collect();
    let mut found = Vec::new();
    for folder in &folders {
        let g = graph_at(folder, &files, &modules);
        println!("graph at {}:", if folder.is_empty() { "crate".to_string() } else { folder.join("::") });
        for (from, to) in &g {
            println!("  {from} -> {}", to.iter().cloned().collect::<Vec<_>>().join(", "));
        }
        for c in cycles(&g) {
            found.push(c.join(" <-> "));
        }
    }
    assert!(found.is_empty(), "import cycles:\n  {}", found.join("\n  "));
}

#[test]
fn no_oversized_source_files() {
    let src = src_dir();
    let root = src.parent().expect("manifest dir");
    let mut sizes: Vec<(usize, String)> = source_files()
        .iter()
        .map(|f| {
            (f.text.lines().count(), f.path.strip_prefix(root).expect("under root").to_string_lossy().into_owned())
        })
        .collect();
    sizes.sort_by(|a, b| b.cmp(a));
    println!("largest source files:");
    for (n, p) in sizes.iter().take(10) {
        println!("  {n:5} {p}");
    }
    let over: Vec<String> = sizes
        .iter()
        .filter(|(n, p)| *n > MAX_LINES && !DATA_FILES.contains(&p.as_str()))
        .map(|(n, p)| format!("{p}: {n} lines"))
        .collect();
    assert!(over.is_empty(), "source files over {MAX_LINES} lines:\n  {}", over.join("\n  "));
}

#[test]
fn the_checker_sees_cycles_and_paths() {
    // The parser itself: grouped imports, super chains, children, test items ignored.
    let f = SourceFile {
        path: PathBuf::from("x.rs"),
        module: vec!["serve".into()],
        is_mod_rs: true,
        text: "mod config;\nuse crate::{a::{B, c::D}, e, g::{*}};\n// crate::commented::X\nlet s = \"crate::string::Y\";\nfn f() { config::load(); super::top::z(); }\n#[cfg(test)]\nmod tests { use crate::only_tests::T; }\npub use crate::reexported::R;\npub use config::Public;\n#[serde(with = \"crate::snap::array\")]\n".into(),
    };
    let refs: Vec<String> = references(&f).iter().map(|p| p.join("::")).collect();
    assert_eq!(
        refs,
        vec!["a::B", "a::c::D", "e", "g", "serve::config::load", "top::z", "reexported::R", "snap::array"]
    );
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["c".to_string()]));
    g.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    g.insert("d".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(cycles(&g), vec![vec!["a".to_string(), "b".to_string(), "c".to_string()]]);
}
