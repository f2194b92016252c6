//! Suffix mode through the binary, with `kubectl kustomize` as the reference
//! for the hash: for random ConfigMaps and Secrets (binary data, Secret types,
//! non-ASCII, `<>&`), rewind's names equal kustomize's generator names.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

/// A small deterministic PRNG (xorshift64*), so a failing case can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes(&mut self, binary: bool) -> Vec<u8> {
        // No U+2028/U+2029/U+0085: go-yaml writes them as line breaks inside
        // block scalars (YAML 1.1), which a YAML 1.2 reader takes as text; the
        // hash itself escapes U+2028 as Go does (unit test in hash::kustomize).
        const TEXT: &[&str] = &[
            "a", "Z", "0", "<", ">", "&", "\"", "'", "\\", " ", "\n", "\t", "ü", "日本", "é", "$", "{", "}", ":", "#",
        ];
        let len = self.below(40) as usize;
        if binary {
            let mut v: Vec<u8> = (0..len).map(|_| self.below(256) as u8).collect();
            v.push(0xff); // never valid UTF-8: kustomize puts it in binaryData
            v
        } else {
            let text: String = (0..len).map(|_| TEXT[self.below(TEXT.len() as u64) as usize]).collect();
            // kustomize cannot read back its own YAML when a line starts with a tab.
            format!("x{}", text.replace("\n\t", "\n ")).into_bytes()
        }
    }
}

fn kustomize(dir: &Path) -> String {
    let out = Command::new("kubectl")
        .args(["kustomize", &dir.display().to_string()])
        .output()
        .expect("kubectl is the reference for kustomize hashes; .ci/run installs it");
    assert!(out.status.success(), "kubectl kustomize: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn render_suffix(input: &[u8], home: &Path) -> Vec<u8> {
    let mut child = command(home)
        .args(["render", "-", "--app", "suffix", "--hash-mode", "suffix", "--no-record"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(input).unwrap();
    ok(&child.wait_with_output().unwrap())
}

/// Config names (`Kind/name`) and every name the Deployment references.
fn names_and_refs(yaml: &[u8]) -> (Vec<String>, Vec<String>) {
    let mut names = Vec::new();
    let mut refs = Vec::new();
    for d in docs(yaml) {
        let kind = d["kind"].as_str().unwrap();
        if kind == "ConfigMap" || kind == "Secret" {
            names.push(format!("{kind}/{}", d["metadata"]["name"].as_str().unwrap()));
        }
        if kind == "Deployment" {
            for from in d["spec"]["template"]["spec"]["containers"][0]["envFrom"].as_array().unwrap() {
                for (field, k) in [("configMapRef", "ConfigMap"), ("secretRef", "Secret")] {
                    if let Some(n) = from[field]["name"].as_str() {
                        refs.push(format!("{k}/{n}"));
                    }
                }
            }
        }
    }
    names.sort();
    (names, refs)
}

#[test]
fn random_configs_get_the_names_kustomize_gives() {
    for seed in [1u64, 0x5eed, 0xdead_beef] {
        let mut rng = Rng(seed);
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut kustomization = String::from("resources: [deployment.yaml]\n");
        let mut generators: BTreeMap<&str, String> = BTreeMap::new();
        let mut env_from = String::new();
        for i in 0..24 {
            let secret = rng.below(2) == 1;
            let name = format!("cfg{i}");
            let mut entry = format!("- name: {name}\n");
            if secret {
                let ty = ["Opaque", "kubernetes.io/tls", "example.com/custom-type"][rng.below(3) as usize];
                entry.push_str(&format!("  type: {ty}\n"));
            }
            entry.push_str("  files:\n");
            let keys = if secret && entry.contains("tls") {
                vec!["tls.crt".to_string(), "tls.key".to_string()]
            } else {
                (0..=rng.below(3)).map(|k| format!("key-{k}.txt")).collect()
            };
            for key in keys {
                let file = format!("v{i}-{key}");
                let binary = !secret && rng.below(4) == 0;
                std::fs::write(dir.join(&file), rng.bytes(binary)).unwrap();
                entry.push_str(&format!("  - {key}={file}\n"));
            }
            generators
                .entry(if secret { "secretGenerator" } else { "configMapGenerator" })
                .or_default()
                .push_str(&entry);
            let field = if secret { "secretRef" } else { "configMapRef" };
            env_from.push_str(&format!("        - {field}: {{name: {name}}}\n"));
        }
        for (section, entries) in &generators {
            kustomization.push_str(&format!("{section}:\n{entries}"));
        }
        std::fs::write(
            dir.join("deployment.yaml"),
            format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app}}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        envFrom:\n{env_from}"),
        )
        .unwrap();
        std::fs::write(dir.join("kustomization.yaml"), &kustomization).unwrap();
        let hashed = kustomize(dir);
        std::fs::write(
            dir.join("kustomization.yaml"),
            format!("{kustomization}generatorOptions:\n  disableNameSuffixHash: true\n"),
        )
        .unwrap();
        let plain = kustomize(dir);

        let ours = render_suffix(plain.as_bytes(), dir);
        let (want_names, want_refs) = names_and_refs(hashed.as_bytes());
        let (got_names, got_refs) = names_and_refs(&ours);
        assert_eq!(got_names, want_names, "seed {seed:#x}: suffixed names differ from kustomize's");
        assert_eq!(got_refs, want_refs, "seed {seed:#x}: references differ");
        assert!(ours.windows(10).any(|w| w == b"binaryData") || !plain.contains("binaryData"));
    }
}

/// Every reference site that named a config of the input must name an
/// object of the output.
fn assert_no_dangling(input: &[u8], output: &[u8]) {
    let configs = |yaml: &[u8]| -> std::collections::BTreeSet<String> {
        docs(yaml)
            .iter()
            .filter(|d| matches!(d["kind"].as_str(), Some("ConfigMap" | "Secret")))
            .map(|d| format!("{}/{}", d["kind"].as_str().unwrap(), d["metadata"]["name"].as_str().unwrap()))
            .collect()
    };
    let (before, after) = (configs(input), configs(output));
    let limits = rewind::manifest::Limits::default().any_size();
    let text = std::str::from_utf8(output).unwrap();
    let mut objects = rewind::manifest::parse_stream(text, "out", &limits).unwrap();
    let mut checked = 0;
    for o in objects.iter_mut() {
        let (g, k) = (o.group().to_string(), o.kind().to_string());
        let mut check = |site: rewind::hash::RefSite| {
            let name = format!("{}/{}", site.kind.as_str(), site.name.as_str().unwrap());
            let base = name.rsplit_once('-').map_or(name.clone(), |(b, _)| b.to_string());
            if after.contains(&name) || !(before.contains(&name) || before.contains(&base)) {
                checked += after.contains(&name) as usize;
                return;
            }
            panic!("dangling reference to {name}");
        };
        if let Some((t, _)) = rewind::hash::pod_template_mut(&g, &k, &mut o.body) {
            rewind::hash::visit_pod_refs(t, &mut check);
        }
        rewind::hash::visit_other_refs(&g, &k, &mut o.body, &mut check);
    }
    assert!(checked > 0 || before.is_empty() || !text.contains("configMapKeyRef"));
}

#[test]
fn suffix_mode_on_the_corpus_is_valid_and_stable() {
    for file in ["argocd-install/install.yaml", "online-boutique/kubernetes-manifests.yaml"] {
        let tmp = tempfile::tempdir().unwrap();
        let app = tmp.path().join("app");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::copy(corpus(file), app.join("manifests.yaml")).unwrap();
        std::fs::write(app.join("rewind.yaml"), "hashMode: suffix\n").unwrap();
        let store = tmp.path().join("store");
        let env = [("ARGOCD_APP_NAME", "corpus"), ("ARGOCD_APP_NAMESPACE", "argocd")];
        let first = ok(&cmp_generate(&app, &store, &env));
        let second = ok(&cmp_generate(&app, &store, &env));
        assert_eq!(first, second, "{file}: stable across runs");
        let input = std::fs::read(corpus(file)).unwrap();
        assert_no_dangling(&input, &first);
        for d in docs(&first) {
            assert!(d["metadata"]["name"].as_str().unwrap().len() <= 253);
        }
        assert_eq!(docs(&first).len(), docs(&input).len(), "{file}: no object lost or added");
        if file.starts_with("argocd") {
            let text = String::from_utf8(first.clone()).unwrap();
            assert!(text.contains("name: argocd-cmd-params-cm-"), "a referenced ConfigMap is renamed");
            assert!(
                text.contains("name: argocd-cm\n"),
                "argocd-cm is read by name through the API, referenced by no pod: kept"
            );
        }
        // Rendering rewind's own output again changes nothing.
        assert_eq!(render_suffix(&first, tmp.path()), first, "{file}: re-render does not suffix twice");
    }
}

#[test]
fn suffix_mode_keeps_previous_versions_from_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let (app, store) = (tmp.path().join("app"), tmp.path().join("store"));
    copy_tree(&root().join("examples/guestbook"), &app);
    std::fs::write(
        app.join("rewind.yaml"),
        "app: guestbook\nhashMode: suffix\nkeepConfigVersions: 2\nvars: {IMAGE_TAG: v5}\n",
    )
    .unwrap();
    let env = [("ARGOCD_APP_NAME", "guestbook"), ("ARGOCD_APP_NAMESPACE", "guestbook")];
    let mut outputs = Vec::new();
    for level in ["info", "debug", "warn", "error"] {
        set_log_level(&app, level);
        outputs.push(ok(&cmp_generate(&app, &store, &env)));
    }
    let current_names = |yaml: &[u8]| -> Vec<String> {
        docs(yaml)
            .iter()
            .filter(|d| d["metadata"]["annotations"]["rewind.dev/config-base-name"] == "guestbook-config")
            .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    let last = current_names(&outputs[3]);
    let first_names: Vec<String> = outputs[..3].iter().map(|o| current_names(o)[0].clone()).collect();
    assert_eq!(last.len(), 3, "current + 2 kept: {last:?}");
    assert_eq!(last[1..], [first_names[2].clone(), first_names[1].clone()], "newest kept first");
    // Rolling back prints release 1 as it was: its own config version included.
    let mut env = env.to_vec();
    env.push(("ARGOCD_ENV_REWIND_ROLLBACK_TO", "1"));
    assert_eq!(ok(&cmp_generate(&app, &store, &env)), outputs[0]);
}
