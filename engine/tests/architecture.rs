//! The engine's modules import one way (issue 26): reads every `engine/src/**/*.rs`, collects the
//! top-level modules each file refers to (`crate::x` in `use` lines and inline paths, `use
//! crate::{a, b::c}` groups, `super::` chains that climb to the crate root) and fails naming the
//! cycle if the graph between top-level modules has one, or naming the file of an import the
//! layering forbids (nothing imports `render`; `project` imports nothing; `timeline` only `project`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module → the modules it refers to, each with the first file that does.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

/// What each module may import, where the layering says more than "no cycle".
const ONLY: &[(&str, &[&str])] = &[("project", &[]), ("timeline", &["project"])];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("engine/src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under `src` (`compositor/scene.rs` → `[compositor, scene]`,
/// `media/mod.rs` → `[media]`, `lib.rs` → `[]`).
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The source without comments (line comments, doc comments, block comments) and string literals,
/// so that paths in prose or messages are not counted.
fn code_only(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let b = src.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let end = src[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
            i = end;
        } else if let Some((open, close)) = raw_string_at(src, i) {
            let end = src[i + open..]
                .find(&close)
                .map_or(b.len(), |e| i + open + e);
            i = end + close.len();
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 2] == b'\'' || b[i + 1] == b'\\') {
            // A char literal ('x', '\n'); lifetimes ('a) are left alone.
            let close = src[i + 1..].find('\'').map_or(b.len(), |e| i + 1 + e + 1);
            i = close;
            out.push_str("' '");
        } else {
            let ch = src[i..].chars().next().expect("in bounds");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// A raw string literal starting at `i` (`r"`, `r#"`, `br##"`...): the length of its opening and
/// its closing delimiter.
fn raw_string_at(src: &str, i: usize) -> Option<(usize, String)> {
    let b = src.as_bytes();
    if i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_') {
        return None;
    }
    let mut j = i;
    if b.get(j) == Some(&b'b') {
        j += 1;
    }
    if b.get(j) != Some(&b'r') {
        return None;
    }
    j += 1;
    let hashes = b[j..].iter().take_while(|&&c| c == b'#').count();
    j += hashes;
    (b.get(j) == Some(&b'"')).then(|| (j + 1 - i, format!("\"{}", "#".repeat(hashes))))
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The first segments of the paths in a `{a, b::c, d::{e, f}}` group that starts `s`.
fn group_heads(s: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut at_start = true;
    for (i, c) in s.char_indices() {
        match c {
            '{' => {
                depth += 1;
                at_start = depth == 1;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => at_start = true,
            c if c.is_whitespace() => {}
            _ if at_start && depth == 1 => {
                heads.push(ident_at(&s[i..]).to_string());
                at_start = false;
            }
            _ => {}
        }
    }
    heads
}

/// For each byte of `code` (comments and strings removed), how many inline `mod name { ... }`
/// blocks enclose it: `super::` in them climbs out of the inline module first.
fn inline_modules(code: &str) -> Vec<usize> {
    let mut at = vec![0; code.len() + 1];
    let mut depth = 0usize;
    let mut open: Vec<usize> = Vec::new();
    let mut mod_pending = false;
    let b = code.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let word_start = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if word_start && code[i..].starts_with("mod ") {
            mod_pending = true;
        }
        match b[i] {
            b'{' => {
                depth += 1;
                if mod_pending {
                    open.push(depth);
                }
                mod_pending = false;
            }
            b'}' => {
                if open.last() == Some(&depth) {
                    open.pop();
                }
                depth = depth.saturating_sub(1);
            }
            b';' => mod_pending = false,
            _ => {}
        }
        at[i] = open.len();
        i += 1;
    }
    at
}

/// The names a file's code reaches at the crate root: `crate::x`, `crate::{x, y}`, and `super::`
/// chains that climb from `module` to the root.
fn root_references(code: &str, module: &[String]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut heads = |rest: &str| {
        let rest = rest.trim_start();
        if rest.starts_with('{') {
            names.extend(group_heads(rest));
        } else {
            names.insert(ident_at(rest).to_string());
        }
    };
    for (i, _) in code.match_indices("crate::") {
        let before = code[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        heads(&code[i + "crate::".len()..]);
    }
    let inline = inline_modules(code);
    for (i, _) in code.match_indices("super::") {
        if code[..i].ends_with("super::") {
            continue; // inside a chain counted from its start
        }
        let mut rest = &code[i..];
        let mut up = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            up += 1;
            rest = r;
        }
        if up >= module.len() + inline[i] {
            heads(rest);
        }
    }
    names.retain(|n| !n.is_empty() && n != "self");
    names
}

/// The import graph between the top-level modules of the files `sources` (path under `src`, text).
/// Errors name references to crate-root names that are not modules (re-exports hide the layer).
fn graph(sources: &[(PathBuf, String)]) -> Result<Graph, Vec<String>> {
    let tops: BTreeSet<String> = sources
        .iter()
        .filter_map(|(rel, _)| module_path(rel).first().cloned())
        .collect();
    let mut g = Graph::new();
    let mut errors = Vec::new();
    for (rel, text) in sources {
        let module = module_path(rel);
        let Some(top) = module.first() else {
            continue; // lib.rs: the crate root declares and re-exports, it is no layer
        };
        g.entry(top.clone()).or_default();
        for name in root_references(&code_only(text), &module) {
            if !tops.contains(&name) {
                if name != "*" {
                    errors.push(format!(
                        "{}: `crate::{name}` is a crate-root re-export; name its module",
                        rel.display()
                    ));
                }
                continue;
            }
            if &name != top {
                g.entry(top.clone())
                    .or_default()
                    .entry(name)
                    .or_insert_with(|| rel.display().to_string());
            }
        }
    }
    if errors.is_empty() {
        Ok(g)
    } else {
        Err(errors)
    }
}

/// A cycle of the graph, as `a → b (file) → a (file)`, if there is one.
fn find_cycle(g: &Graph) -> Option<String> {
    fn visit(
        g: &Graph,
        node: &str,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in g.get(node).into_iter().flat_map(|e| e.keys()) {
            if let Some(c) = visit(g, next, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in g.keys() {
        if let Some(cycle) = visit(g, node, &mut Vec::new(), &mut done) {
            let mut text = cycle[0].clone();
            for w in cycle.windows(2) {
                text.push_str(&format!(" → {} ({})", w[1], g[&w[0]][&w[1]]));
            }
            return Some(text);
        }
    }
    None
}

/// Imports the layering forbids, each naming its file.
fn forbidden(g: &Graph) -> Vec<String> {
    let mut out = Vec::new();
    for (from, edges) in g {
        for (to, file) in edges {
            let only = ONLY.iter().find(|(m, _)| m == from).map(|(_, ok)| *ok);
            if to == "render" {
                out.push(format!("{file}: `{from}` imports `render` (nothing may)"));
            } else if only.is_some_and(|ok| !ok.contains(&to.as_str())) {
                out.push(format!("{file}: `{from}` imports `{to}`"));
            }
        }
    }
    out
}

fn engine_sources() -> Vec<(PathBuf, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).expect("a readable source file");
            (f.strip_prefix(&src).expect("under src").to_path_buf(), text)
        })
        .collect()
}

#[test]
fn engine_modules_form_a_dag() {
    let sources = engine_sources();
    assert!(sources.len() > 50, "found only {} files", sources.len());
    let g = graph(&sources).unwrap_or_else(|e| panic!("{}", e.join("\n")));
    for top in ["project", "timeline", "media", "compositor", "render"] {
        assert!(g.contains_key(top), "no module `{top}` in {:?}", g.keys());
    }
    eprintln!("engine module graph:");
    for (from, edges) in &g {
        eprintln!("  {from} → {:?}", edges.keys().collect::<Vec<_>>());
    }
    if let Some(cycle) = find_cycle(&g) {
        panic!("the engine's modules import in a circle: {cycle}");
    }
    let bad = forbidden(&g);
    assert!(
        bad.is_empty(),
        "imports against the layering:\n{}",
        bad.join("\n")
    );
}

/// The reader and the cycle finder on made-up files: a back edge through each kind of reference
/// is found, and a clean graph passes.
#[test]
fn the_checker_finds_back_edges_of_every_kind() {
    let file = |path: &str, text: &str| (PathBuf::from(path), text.to_string());
    let base = vec![
        file("lib.rs", "pub mod a; pub mod b; pub mod c;"),
        file(
            "a/mod.rs",
            "//! A. Mentions crate::c in prose only.\nuse crate::b::X;",
        ),
        file(
            "b.rs",
            "fn f() { let s = \"crate::a\"; let r = r#\"\"crate::a\"\"#; crate::c::g(); }",
        ),
        file("c/inner.rs", "use super::helper;"),
    ];
    let g = graph(&base).unwrap();
    assert_eq!(g["a"].keys().collect::<Vec<_>>(), ["b"]);
    assert_eq!(g["b"].keys().collect::<Vec<_>>(), ["c"]);
    assert!(g["c"].is_empty(), "{g:?}");
    assert_eq!(find_cycle(&g), None);
    for back in [
        "use crate::a::Y;",
        "use crate::{b::Z, a::{W, V}};",
        "fn h() -> crate::a::T { todo!() }",
        "use super::super::a::Q;",
    ] {
        let mut sources = base.clone();
        sources.push(file("c/deep.rs", back));
        let g = graph(&sources).unwrap_or_else(|e| panic!("{back}: {e:?}"));
        let cycle = find_cycle(&g).unwrap_or_else(|| panic!("no cycle found for `{back}`"));
        assert!(cycle.contains("c/deep.rs"), "{back}: {cycle}");
    }
    // `super::super` inside an inline module climbs out of it first: not to the root here.
    let mut sources = base.clone();
    sources.push(file(
        "c/deep.rs",
        "mod tests { use super::super::helper; fn f() { let x = '{'; } }",
    ));
    assert_eq!(find_cycle(&graph(&sources).unwrap()), None);
    let mut sources = base.clone();
    sources.push(file(
        "c/deep.rs",
        "mod tests { use super::super::super::a::Q; }",
    ));
    assert!(find_cycle(&graph(&sources).unwrap()).is_some());
    let mut sources = base.clone();
    sources.push(file("c/deep.rs", "use crate::Thing;"));
    assert!(
        graph(&sources).is_err(),
        "a crate-root re-export hides its layer"
    );
    let mut into_render = base;
    into_render.push(file("render.rs", ""));
    into_render.push(file("c/deep.rs", "use crate::render::Engine;"));
    assert_eq!(forbidden(&graph(&into_render).unwrap()).len(), 1);
}

/// `project/` and `timeline/` read no file and run no program: their code names none of the
/// standard library's I/O (media facts reach validation through `project::MediaFacts`).
#[test]
fn project_and_timeline_do_no_io() {
    const IO: &[&str] = &[
        "std::fs",
        "std::process",
        "std::net",
        "std::env",
        "File::",
        "Command::",
    ];
    let mut found = Vec::new();
    for (rel, text) in engine_sources() {
        let top = module_path(&rel).first().cloned().unwrap_or_default();
        if top != "project" && top != "timeline" {
            continue;
        }
        let code = code_only(&text);
        for io in IO.iter().filter(|io| code.contains(*io)) {
            found.push(format!("{}: {io}", rel.display()));
        }
    }
    assert!(
        found.is_empty(),
        "I/O in project/ or timeline/:\n{}",
        found.join("\n")
    );
}
