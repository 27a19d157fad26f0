//! The host's crates and their modules depend on each other one way. Cargo
//! refuses a circle between crates (and `accounts-util`, `accounts-state`
//! and `accounts-plugin-host` cannot name the `accounts` crate above them); between the modules of one crate this
//! test does, reading the sources (every `crate::<module>` outside a file's
//! unit tests), so a new circle fails here, naming the modules in it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The host's crates, by their source dirs under `host/`.
const CRATES: [&str; 5] = ["src", "core/src", "plugin-host/src", "state/src", "util/src"];

/// Each top-level module of the crate at `host/<src>` and the top-level
/// modules it names.
fn module_graph(src: &str) -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(src);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = vec![src.clone()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let rel = path.strip_prefix(&src).unwrap();
        let top = rel.components().next().unwrap().as_os_str().to_str().unwrap().trim_end_matches(".rs").to_owned();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // A file's unit tests may reach anywhere.
        let code = text.split("#[cfg(test)]").next().unwrap();
        let uses = graph.entry(top.clone()).or_default();
        for found in code.match_indices("crate::") {
            let name: String =
                code[found.0 + 7..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
            if !name.is_empty() && name != top {
                uses.insert(name);
            }
        }
    }
    graph
}

/// The strongly connected components of more than one module (Tarjan).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a str) {
        let i = w.index.len();
        w.index.insert(v, i);
        w.low.insert(v, i);
        w.stack.push(v);
        for next in w.graph[v].iter().filter(|n| w.graph.contains_key(*n)) {
            if !w.index.contains_key(next.as_str()) {
                visit(w, next);
                let low = w.low[v].min(w.low[next.as_str()]);
                w.low.insert(v, low);
            } else if w.stack.contains(&next.as_str()) {
                let low = w.low[v].min(w.index[next.as_str()]);
                w.low.insert(v, low);
            }
        }
        if w.low[v] == w.index[v] {
            let at = w.stack.iter().position(|m| *m == v).unwrap();
            let component: Vec<String> = w.stack.drain(at..).map(str::to_owned).collect();
            if component.len() > 1 {
                w.found.push(component);
            }
        }
    }
    let mut walk = Walk { graph, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), found: Vec::new() };
    for module in graph.keys() {
        if !walk.index.contains_key(module.as_str()) {
            visit(&mut walk, module);
        }
    }
    walk.found
}

#[test]
fn the_host_modules_depend_on_each_other_one_way() {
    for src in CRATES {
        let graph = module_graph(src);
        assert!(graph.len() >= 4, "the sources of host/{src} were found: {graph:?}");
        assert_eq!(circles(&graph), Vec::<Vec<String>>::new(), "import circles between the modules of host/{src}");
    }
}

#[test]
fn a_circle_is_found() {
    let graph: BTreeMap<String, BTreeSet<String>> =
        [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"]), ("d", vec!["a"])]
            .into_iter()
            .map(|(m, uses)| (m.to_owned(), uses.into_iter().map(str::to_owned).collect()))
            .collect();
    let mut found = circles(&graph);
    found[0].sort();
    assert_eq!(found, vec![vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]]);
}
