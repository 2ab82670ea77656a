//! The layering rules of issue 26, read from the source text: the top-level modules of
//! `service/src` and of `engine/src` import each other without a cycle, only `server` and `cli`
//! import `api`, only `api`, `server` and `cli` name axum, in the engine nothing imports `render`
//! and `project`/`timeline` import only what is below them, and no source file of the service or
//! the engine passes 800 lines without a reason at its top. (One checker for both crates: it lives
//! here because the service's tests already read the whole workspace.)
//!
//! [`module_graph`] takes any crate's `src` folder, so the engine can be held to the same rule. A
//! module's references are `crate::<top>` paths (in `use` lines, grouped `use crate::{a, b::c}`,
//! and inline paths such as `crate::metrics::metrics()`) and `super::` chains that climb to the
//! crate root; comments and string literals are skipped.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

/// The modules that may name axum: the HTTP layer and its wiring.
const HTTP_MODULES: [&str; 3] = ["api", "server", "cli"];
/// The modules that put the service together, the only ones that may import `api`.
const WIRING: [&str; 2] = ["server", "cli"];
/// Longest source file without a `//! Long because …` line at its top.
const MAX_LINES: usize = 800;
/// How many lines from the top a `//! Long because` line may stand.
const REASON_WITHIN: usize = 30;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the service crate sits in the workspace")
        .to_path_buf()
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// `src`'s text with comments, string and character literals blanked out (newlines kept, so
/// line numbers still hold).
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let blank = |out: &mut Vec<u8>, bytes: &[u8]| {
        out.extend(bytes.iter().map(|&c| if c == b'\n' { b'\n' } else { b' ' }))
    };
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest.starts_with(b"/*") {
            let (mut depth, mut j) = (0usize, 0);
            while j < rest.len() {
                if rest[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if rest[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, &rest[..j]);
            i += j;
        } else if let Some(len) = raw_string_len(b, i) {
            blank(&mut out, &b[i..i + len]);
            i += len;
        } else if rest[0] == b'"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest[0] == b'\'' {
            // A character literal ('x', '\n', '\u{..}'), or else a lifetime ('a), kept as it is.
            let len = if rest.get(1) == Some(&b'\\') {
                rest[2..].iter().position(|&c| c == b'\'').map(|p| p + 3)
            } else {
                let ch = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                (rest.get(1 + ch) == Some(&b'\'')).then_some(ch + 2)
            };
            match len {
                Some(len) => {
                    blank(&mut out, &rest[..len]);
                    i += len;
                }
                None => {
                    out.push(b'\'');
                    i += 1;
                }
            }
        } else {
            out.push(rest[0]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("only ASCII was replaced")
}

/// The length of a raw string literal (`r"…"`, `r#"…"#`, `br#"…"#`) starting at `i`.
fn raw_string_len(b: &[u8], i: usize) -> Option<usize> {
    let ident_before = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
    let start = match &b[i..] {
        [b'r', ..] if !ident_before => i + 1,
        [b'b', b'r', ..] if !ident_before => i + 2,
        _ => return None,
    };
    let hashes = b[start..].iter().take_while(|&&c| c == b'#').count();
    if b.get(start + hashes) != Some(&b'"') {
        return None;
    }
    let mut close = vec![b'"'];
    close.extend(std::iter::repeat_n(b'#', hashes));
    let body = start + hashes + 1;
    let end = b[body..].windows(close.len()).position(|w| w == close)?;
    Some(body + end + close.len() - i)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    PathSep,
    Open,
    Close,
    Comma,
    Other(char),
}

/// The tokens of code-only text, each with its line number (from 1).
fn tokens(code: &str) -> Vec<(Tok, usize)> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut chars = code.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            c if c.is_alphanumeric() || c == '_' => {
                let mut end = i + c.len_utf8();
                while let Some(&(j, d)) = chars.peek() {
                    if !(d.is_alphanumeric() || d == '_') {
                        break;
                    }
                    end = j + d.len_utf8();
                    chars.next();
                }
                out.push((Tok::Ident(code[i..end].to_string()), line));
            }
            ':' if chars.peek().is_some_and(|&(_, d)| d == ':') => {
                chars.next();
                out.push((Tok::PathSep, line));
            }
            '{' => out.push((Tok::Open, line)),
            '}' => out.push((Tok::Close, line)),
            ',' => out.push((Tok::Comma, line)),
            c => out.push((Tok::Other(c), line)),
        }
    }
    out
}

fn ident(t: Option<&(Tok, usize)>) -> Option<&str> {
    match t {
        Some((Tok::Ident(s), _)) => Some(s),
        _ => None,
    }
}

/// The first segment of the path (or of each path of a `{…}` group) that starts at `toks[i]`.
fn first_segments(toks: &[(Tok, usize)], i: usize) -> Vec<String> {
    match toks.get(i) {
        Some((Tok::Ident(s), _)) => vec![s.clone()],
        Some((Tok::Open, _)) => {
            let (mut depth, mut expect, mut out) = (0usize, true, Vec::new());
            for (t, _) in &toks[i..] {
                match t {
                    Tok::Open => {
                        depth += 1;
                        expect = depth == 1;
                    }
                    Tok::Close => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    Tok::Comma if depth == 1 => expect = true,
                    Tok::Ident(s) if expect && depth == 1 => {
                        out.push(s.clone());
                        expect = false;
                    }
                    _ => {}
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

/// One reference from a file to a crate-root item: the first segment of the path, and its line.
fn root_references(code: &str, file_depth: usize) -> Vec<(String, usize)> {
    let toks = tokens(code);
    let mut out = Vec::new();
    // Brace depths at which inline `mod name {` blocks opened.
    let (mut depth, mut inline_mods) = (0usize, Vec::<usize>::new());
    for (i, (t, line)) in toks.iter().enumerate() {
        let prev = i.checked_sub(1).and_then(|p| toks.get(p)).map(|t| &t.0);
        match t {
            Tok::Open => {
                depth += 1;
                let opens_mod = i >= 2
                    && ident(toks.get(i - 2)) == Some("mod")
                    && ident(toks.get(i - 1)).is_some();
                if opens_mod {
                    inline_mods.push(depth);
                }
            }
            Tok::Close => {
                if inline_mods.last() == Some(&depth) {
                    inline_mods.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Tok::Ident(s) if s == "crate" => {
                let macro_crate = prev == Some(&Tok::Other('$'));
                if !macro_crate && toks.get(i + 1).map(|t| &t.0) == Some(&Tok::PathSep) {
                    out.extend(first_segments(&toks, i + 2).into_iter().map(|s| (s, *line)));
                }
            }
            Tok::Ident(s) if s == "super" && prev != Some(&Tok::PathSep) => {
                let mut climbs = 0;
                let mut j = i;
                while ident(toks.get(j)) == Some("super")
                    && toks.get(j + 1).map(|t| &t.0) == Some(&Tok::PathSep)
                {
                    climbs += 1;
                    j += 2;
                }
                if climbs > 0 && climbs >= file_depth + inline_mods.len() {
                    out.extend(first_segments(&toks, j).into_iter().map(|s| (s, *line)));
                }
            }
            _ => {}
        }
    }
    out
}

/// The crate's top-level modules (`src/<name>.rs`, `src/<name>/`) and the imports between them.
#[derive(Debug, Default)]
pub struct ModuleGraph {
    pub modules: BTreeSet<String>,
    /// from → to → the places (`path:line`) that make the edge.
    pub edges: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

/// The module of `file` (relative to `src`) and how deep it sits (`a.rs`, `a/mod.rs`: 1).
fn module_of(rel: &Path) -> Option<(String, usize)> {
    let parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    let top = parts.first()?.clone();
    if parts.len() == 1 && (top == "lib" || top == "main") {
        return None; // the crate roots
    }
    let depth = parts.len() - usize::from(parts.last().is_some_and(|l| l == "mod"));
    Some((top, depth))
}

/// What the crate root re-exports: item name → the module it comes from (`pub use m::…::Item;`,
/// `pub use m::{A, b::C as D}`), and the modules re-exported whole (`pub use m::*;`).
fn root_reexports(
    code: &str,
    modules: &BTreeSet<String>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let toks = tokens(code);
    let (mut items, mut globs) = (BTreeMap::new(), Vec::new());
    let mut i = 0;
    while i < toks.len() {
        let from = ident(toks.get(i + 1)).filter(|m| modules.contains(*m));
        let (true, Some(from)) = (ident(toks.get(i)) == Some("use"), from) else {
            i += 1;
            continue;
        };
        let mut k = i + 2;
        while k < toks.len() && toks[k].0 != Tok::Other(';') {
            let next = toks.get(k + 1).map(|t| &t.0);
            let ends = matches!(next, Some(Tok::Comma | Tok::Close | Tok::Other(';')));
            match &toks[k].0 {
                Tok::Ident(name) if ends && name != "self" => {
                    items.insert(name.clone(), from.to_string());
                }
                Tok::Other('*') => globs.push(from.to_string()),
                _ => {}
            }
            k += 1;
        }
        i = k;
    }
    (items, globs)
}

/// Reads every `.rs` file under `src` and builds the graph of its top-level modules. A path to an
/// item the crate root re-exports (`crate::RenderError`) counts as a path to its module.
pub fn module_graph(src: &Path) -> ModuleGraph {
    let mut graph = ModuleGraph::default();
    let files = rust_files(src);
    for f in &files {
        if let Some((top, _)) = module_of(f.strip_prefix(src).unwrap()) {
            graph.modules.insert(top);
        }
    }
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap_or_default();
    let (reexported, globs) = root_reexports(&code_only(&lib), &graph.modules);
    let resolve = |name: &str| -> Option<String> {
        if graph.modules.contains(name) {
            return Some(name.to_string());
        }
        match (reexported.get(name), globs.as_slice()) {
            (Some(m), _) => Some(m.clone()),
            // Not named anywhere else: the one module re-exported whole.
            (None, [only]) => Some(only.clone()),
            _ => None,
        }
    };
    let mut edges: Vec<(String, String, String)> = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(src).unwrap();
        let Some((from, depth)) = module_of(rel) else {
            continue;
        };
        let code = code_only(&std::fs::read_to_string(f).unwrap());
        for (name, line) in root_references(&code, depth) {
            match resolve(&name) {
                Some(to) if to != from => {
                    let at = f.strip_prefix(repo_root()).unwrap_or(f).display();
                    edges.push((from.clone(), to, format!("{at}:{line}")));
                }
                _ => {}
            }
        }
    }
    for (from, to, at) in edges {
        graph
            .edges
            .entry(from)
            .or_default()
            .entry(to)
            .or_default()
            .push(at);
    }
    graph
}

impl ModuleGraph {
    fn targets(&self, from: &str) -> impl Iterator<Item = &String> {
        self.edges.get(from).into_iter().flat_map(|m| m.keys())
    }

    /// The shortest path of imports from `from` back to `to`, as module names.
    fn shortest_path(&self, from: &str, to: &str) -> Option<Vec<String>> {
        let mut came_from: BTreeMap<String, String> = BTreeMap::new();
        let mut todo = VecDeque::from([from.to_string()]);
        while let Some(m) = todo.pop_front() {
            for next in self.targets(&m) {
                if came_from.contains_key(next) || next == from {
                    continue;
                }
                came_from.insert(next.clone(), m.clone());
                if next == to {
                    let mut path = vec![to.to_string()];
                    while let Some(p) = came_from.get(path.last().unwrap()) {
                        path.push(p.clone());
                        if p == from {
                            break;
                        }
                    }
                    path.reverse();
                    return Some(path);
                }
                todo.push_back(next.clone());
            }
        }
        None
    }

    /// One shortest cycle through each edge that lies on a cycle, without repeats (a cycle is
    /// written from its alphabetically first module, ending where it starts).
    pub fn cycles(&self) -> Vec<Vec<String>> {
        let mut found = BTreeSet::new();
        for (from, tos) in &self.edges {
            for to in tos.keys() {
                let Some(back) = self.shortest_path(to, from) else {
                    continue;
                };
                let mut cycle = vec![from.clone()];
                cycle.extend(back);
                cycle.pop(); // `from` again
                let start = (0..cycle.len()).min_by_key(|&k| &cycle[k]).unwrap();
                cycle.rotate_left(start);
                cycle.push(cycle[0].clone());
                found.insert(cycle);
            }
        }
        found.into_iter().collect()
    }

    /// The groups of modules that all reach each other (a group of one is no cycle).
    pub fn circles(&self) -> Vec<BTreeSet<String>> {
        let mut out: Vec<BTreeSet<String>> = Vec::new();
        for m in &self.modules {
            if out.iter().any(|g| g.contains(m))
                || !self.targets(m).any(|t| self.shortest_path(t, m).is_some())
            {
                continue;
            }
            let group = self
                .modules
                .iter()
                .filter(|o| {
                    *o == m
                        || (self.shortest_path(m, o).is_some()
                            && self.shortest_path(o, m).is_some())
                })
                .cloned()
                .collect();
            out.push(group);
        }
        out
    }

    /// A cycle written with one place that makes each of its edges.
    pub fn describe(&self, cycle: &[String]) -> String {
        let mut s = cycle.join(" → ");
        for pair in cycle.windows(2) {
            let at = &self.edges[&pair[0]][&pair[1]];
            s.push_str(&format!("\n    {} → {}: {}", pair[0], pair[1], at[0]));
            if at.len() > 1 {
                s.push_str(&format!(" (and {} more)", at.len() - 1));
            }
        }
        s
    }
}

/// Fails naming every cycle among the top-level modules of `src`.
fn assert_no_cycles(src: &Path) {
    let graph = module_graph(src);
    assert!(
        graph.modules.len() > 3,
        "{}: expected a crate's modules",
        src.display()
    );
    let cycles = graph.cycles();
    let circles: Vec<String> = graph
        .circles()
        .iter()
        .map(|g| g.iter().cloned().collect::<Vec<_>>().join(", "))
        .collect();
    let text: Vec<String> = cycles.iter().map(|c| graph.describe(c)).collect();
    assert!(
        cycles.is_empty(),
        "import cycles among the top-level modules of {}: {} circle(s) [{}]; the shortest cycle \
         through each edge on one ({}):\n{}",
        src.display(),
        circles.len(),
        circles.join("] ["),
        cycles.len(),
        text.join("\n")
    );
}

#[test]
fn service_modules_import_without_cycles() {
    assert_no_cycles(&repo_root().join("service/src"));
}

#[test]
fn only_the_wiring_imports_the_api() {
    let graph = module_graph(&repo_root().join("service/src"));
    let mut offenders = Vec::new();
    for (from, tos) in &graph.edges {
        if let Some(at) = tos.get("api").filter(|_| !WIRING.contains(&from.as_str())) {
            offenders.push(format!("{from} → api: {}", at.join(", ")));
        }
    }
    assert!(
        offenders.is_empty(),
        "only {WIRING:?} may import the api module (nothing imports upward, issue 26):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn only_the_http_layer_names_axum() {
    let src = repo_root().join("service/src");
    let mut offenders = Vec::new();
    for f in rust_files(&src) {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel.iter().next().unwrap().to_string_lossy();
        let top = top.trim_end_matches(".rs");
        if HTTP_MODULES.contains(&top) || top == "lib" || top == "main" {
            continue;
        }
        let code = code_only(&std::fs::read_to_string(&f).unwrap());
        for (t, line) in tokens(&code) {
            if t == Tok::Ident("axum".into()) {
                offenders.push(format!("service/src/{}:{line}", rel.display()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "axum outside {HTTP_MODULES:?} (HTTP lives in api/, issue 26):\n{}",
        offenders.join("\n")
    );
}

/// `project/` and `timeline/` read no file and run no program: their code names none of the
/// standard library's I/O (media facts reach validation through `project::MediaFacts`).
#[test]
fn engine_project_and_timeline_do_no_io() {
    const IO: &[&str] = &[
        "std::fs",
        "std::process",
        "std::net",
        "std::env",
        "File::",
        "Command::",
    ];
    let src = repo_root().join("engine/src");
    let mut found = Vec::new();
    for f in rust_files(&src) {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel.iter().next().unwrap().to_string_lossy();
        if top != "project" && top != "timeline" {
            continue;
        }
        let code = code_only(&std::fs::read_to_string(&f).unwrap());
        for io in IO.iter().filter(|io| code.contains(*io)) {
            found.push(format!("engine/src/{}: {io}", rel.display()));
        }
    }
    assert!(
        found.is_empty(),
        "I/O in the engine's project/ or timeline/ (issue 26):\n{}",
        found.join("\n")
    );
}

/// The files of `src` longer than [`MAX_LINES`] lines without a `//! Long because` reason.
fn long_files(src: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for f in rust_files(src) {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines = text.lines().count();
        let reason = text
            .lines()
            .take(REASON_WITHIN)
            .any(|l| l.trim_start().starts_with("//! Long because"));
        if lines > MAX_LINES && !reason {
            let rel = f
                .strip_prefix(repo_root())
                .unwrap_or(&f)
                .display()
                .to_string();
            out.push(format!("{rel}: {lines} lines"));
        }
    }
    out
}

fn assert_no_long_files(src: &Path) {
    let long = long_files(src);
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines without a `//! Long because …` line in their first \
         {REASON_WITHIN} (split them, or say why not):\n{}",
        long.join("\n")
    );
}

#[test]
fn engine_modules_import_without_cycles() {
    assert_no_cycles(&repo_root().join("engine/src"));
}

/// What some engine modules may import, where the layering says more than "no cycle": the project
/// format and the timeline read no file and know nothing of media, GPU or encoders.
const ENGINE_ONLY: &[(&str, &[&str])] = &[("project", &[]), ("timeline", &["project"])];

#[test]
fn engine_layers_import_downward() {
    let graph = module_graph(&repo_root().join("engine/src"));
    for top in ["project", "timeline", "media", "compositor", "render"] {
        assert!(graph.modules.contains(top), "no engine module `{top}`");
    }
    let mut offenders = Vec::new();
    for (from, tos) in &graph.edges {
        // Nothing imports the driver.
        if let Some(at) = tos.get("render") {
            offenders.push(format!("{from} → render: {}", at.join(", ")));
        }
        if let Some((_, allowed)) = ENGINE_ONLY.iter().find(|(m, _)| m == from) {
            for (to, at) in tos.iter().filter(|(to, _)| !allowed.contains(&to.as_str())) {
                offenders.push(format!("{from} → {to}: {}", at.join(", ")));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "engine imports against the layering (issue 26):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn service_files_are_short_or_say_why() {
    assert_no_long_files(&repo_root().join("service/src"));
}

#[test]
fn engine_files_are_short_or_say_why() {
    assert_no_long_files(&repo_root().join("engine/src"));
}

/// The reader itself: grouped and inline paths, `super::` to the root, and what it must skip.
#[test]
fn the_reader_finds_references_and_skips_comments_and_strings() {
    let code = code_only(
        r##"
use crate::{a, b::c, d::{e, f}};
use crate::g::H;
// use crate::comment;
/* use crate::block; /* nested */ */
fn x() { crate::i::j(); let s = "crate::string"; let r = r#"crate::raw"#; let c = '{'; }
fn y<'a>(v: &'a str) { super::k::l(); $crate::m(); }
pub(crate) fn z() {}
mod tests { use super::*; fn t() { super::super::n(); } }
"##,
    );
    let found: Vec<String> = root_references(&code, 1)
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(found, ["a", "b", "d", "g", "i", "k", "n"]);
    // Two levels down, one `super::` stays inside the module.
    let code = code_only("use super::x; use super::super::y;");
    let found: Vec<String> = root_references(&code, 2)
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(found, ["y"]);
}

/// The crate root's re-exports, which `crate::Item` paths go through.
#[test]
fn root_reexports_name_their_modules() {
    let modules: BTreeSet<String> = ["error", "project", "render"].map(String::from).into();
    let lib = "pub mod error;\npub use error::{AssetError, deep::Inner as Outer};\n\
               pub use project::*;\npub use render::{Engine, Phase};\nuse std::fmt;";
    let (items, globs) = root_reexports(&code_only(lib), &modules);
    let names: Vec<(&str, &str)> = items
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("AssetError", "error"),
            ("Engine", "render"),
            ("Outer", "error"),
            ("Phase", "render")
        ]
    );
    assert_eq!(globs, ["project"]);
}

/// The cycle search on a small graph: a → b → c → a and b ↔ d, with e outside every cycle.
#[test]
fn cycles_are_found_and_named() {
    let mut g = ModuleGraph::default();
    for (from, to) in [
        ("a", "b"),
        ("b", "c"),
        ("c", "a"),
        ("b", "d"),
        ("d", "b"),
        ("e", "a"),
    ] {
        g.modules.extend([from.to_string(), to.to_string()]);
        g.edges
            .entry(from.into())
            .or_default()
            .insert(to.into(), vec![format!("{from}.rs:1")]);
    }
    let cycles: Vec<String> = g.cycles().iter().map(|c| c.join(" → ")).collect();
    assert_eq!(cycles, ["a → b → c → a", "b → d → b"]);
    let all: Vec<&str> = ["a", "b", "c", "d"].into();
    assert_eq!(g.circles(), [all.into_iter().map(String::from).collect()]);
    assert!(g.describe(&g.cycles()[0]).contains("c → a: c.rs:1"));
}
