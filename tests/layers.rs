//! Data flows one way: a module may use only modules of lower layers, so the
//! stores never learn of the history policy, rendering never of Argo CD, and
//! adding a backend or an integration touches one layer. This test reads
//! every `crate::` path in `src/` and fails on one that points upward.

use std::collections::BTreeMap;
use std::path::Path;

/// Each top-level module and its layer, lowest first (docs/architecture.md draws this).
const LAYERS: &[(&str, u32)] = &[
    ("error", 0),
    ("manifest", 1),
    ("release", 1),
    ("kubeclient", 1),
    ("render", 2),
    ("hash", 2),
    ("diff", 2),
    ("store", 3),
    ("context", 3),
    ("history", 4),
    ("rollback", 5),
    ("pipeline", 6),
    ("argocd", 7),
    ("flux", 7),
    ("serve", 8),
    ("cli", 9),
];

fn module_of(path: &Path, src: &Path) -> Option<String> {
    let rel = path.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_string())
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The modules a file names as `crate::<module>`.
fn uses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        assert!(
            !name.is_empty() || !rest.starts_with('{'),
            "grouped `use crate::{{…}}` hides its modules from this check"
        );
        out.push(name);
    }
    out
}

#[test]
fn no_module_uses_a_higher_layer() {
    let layers: BTreeMap<&str, u32> = LAYERS.iter().copied().collect();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut violations = Vec::new();
    for file in all {
        let Some(module) = module_of(&file, &src) else { continue };
        let own =
            *layers.get(module.as_str()).unwrap_or_else(|| panic!("module {module} has no layer: add it to LAYERS"));
        let text = std::fs::read_to_string(&file).unwrap();
        for used in uses(&text) {
            if used == module || used.is_empty() {
                continue;
            }
            let Some(&theirs) = layers.get(used.as_str()) else { continue };
            if theirs >= own {
                violations.push(format!("{} ({module}, layer {own}) uses {used} (layer {theirs})", file.display()));
            }
        }
    }
    assert!(violations.is_empty(), "imports against the flow:\n{}", violations.join("\n"));
}

#[test]
fn the_check_sees_upward_imports() {
    assert_eq!(uses("use crate::history::History;\nfn f() { crate::store::open(); }"), ["history", "store"]);
}
