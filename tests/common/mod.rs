//! Helpers for tests that drive the real `rewind` binary.
#![allow(dead_code)]

pub mod apiserver;
pub mod flux;
pub mod rbac;
pub mod s3;
pub mod serve;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rewind"))
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/corpus/<name>` (read-only inputs).
pub fn corpus(name: &str) -> PathBuf {
    root().join("../shared/corpus").join(name)
}

/// A clean environment: only PATH, and a HOME inside the test's temp dir,
/// so nothing from the developer's shell (REWIND_STORE, ARGOCD_*) leaks in.
pub fn command(home: &Path) -> Command {
    in_clean_env(Command::new(bin()), home)
}

/// [`command`] under `prlimit` with `limits` (`--as=BYTES`, `--cpu=SECONDS`):
/// the kernel holds the process to them.
pub fn limited_command(home: &Path, limits: &[String]) -> Command {
    let mut cmd = Command::new("prlimit");
    cmd.args(limits).arg("--").arg(bin());
    in_clean_env(cmd, home)
}

fn in_clean_env(mut cmd: Command, home: &Path) -> Command {
    cmd.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default()).env("HOME", home);
    cmd
}

/// Runs `rewind ARGS` with a file store at `store`.
pub fn rewind(store: &Path, args: &[&str]) -> Output {
    command(store).env("REWIND_STORE", format!("file://{}", store.display())).args(args).output().expect("run rewind")
}

/// Runs `rewind generate` the way Argo CD's CMP server does: cwd at the app
/// path, the CMP environment set, the command taken from `plugin.yaml`.
pub fn cmp_generate(app_dir: &Path, store: &Path, env: &[(&str, &str)]) -> Output {
    cmp_command(app_dir, store, env).output().expect("run plugin command")
}

/// The command [`cmp_generate`] runs, to spawn it instead.
pub fn cmp_command(app_dir: &Path, store: &Path, env: &[(&str, &str)]) -> Command {
    let plugin = std::fs::read_to_string(root().join("plugin.yaml")).unwrap();
    let spec: serde_json::Value = serde_saphyr::from_str(&plugin).unwrap();
    let argv: Vec<String> = spec["spec"]["generate"]["command"]
        .as_array()
        .unwrap()
        .iter()
        .chain(spec["spec"]["generate"]["args"].as_array().into_iter().flatten())
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(argv[0], "rewind", "plugin.yaml runs the rewind binary");
    let path = format!("{}:{}", bin().parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(app_dir)
        .env_clear()
        .env("PATH", path)
        .env("HOME", store)
        .env("REWIND_STORE", format!("file://{}", store.display()))
        .env("ARGOCD_APP_SOURCE_REPO_URL", "https://git.example.com/org/apps.git")
        .env("ARGOCD_APP_SOURCE_TARGET_REVISION", "HEAD")
        .env("ARGOCD_APP_PARAMETERS", "null")
        .env("KUBE_VERSION", "1.32.0")
        .env("KUBE_API_VERSIONS", "v1,apps/v1,batch/v1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// The `ARGOCD_ENV_<name>` variables Argo CD passes for the plugin section at
/// JSON pointer `plugin` of an Application (values without `$` references).
pub fn plugin_env_vars(app: &serde_json::Value, plugin: &str) -> Vec<(String, String)> {
    app.pointer(&format!("{plugin}/env"))
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| (format!("ARGOCD_ENV_{}", e["name"].as_str().unwrap()), e["value"].as_str().unwrap().to_string()))
        .collect()
}

/// Copies a directory tree (a "fresh copy of the repo", as the CMP server makes).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Asserts success and returns stdout.
pub fn ok(out: &Output) -> Vec<u8> {
    assert!(out.status.success(), "failed: {}\nstderr: {}", out.status, String::from_utf8_lossy(&out.stderr));
    out.stdout.clone()
}

/// Asserts the failure contract: non-zero exit, nothing on stdout, and a
/// message on stderr containing every `needle`. Returns stderr.
pub fn fails(out: &Output, needles: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "expected failure, got success; stderr: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "a failure must print nothing on stdout, got: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    for n in needles {
        assert!(stderr.contains(n), "stderr lacks {n:?}: {stderr}");
    }
    stderr
}

/// Parses a YAML stream into JSON values, independently of rewind's own parser.
pub fn docs(yaml: &[u8]) -> Vec<serde_json::Value> {
    serde_saphyr::from_multiple(std::str::from_utf8(yaml).unwrap()).unwrap()
}

/// The config-hash annotation of each workload, by `Kind/name`.
pub fn config_hashes(yaml: &[u8]) -> std::collections::BTreeMap<String, Option<String>> {
    docs(yaml)
        .into_iter()
        .filter_map(|d| {
            let kind = d["kind"].as_str()?.to_string();
            let template = match kind.as_str() {
                "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => d["spec"]["template"].clone(),
                "CronJob" => d["spec"]["jobTemplate"]["spec"]["template"].clone(),
                _ => return None,
            };
            let hash = template["metadata"]["annotations"]["rewind.dev/config-hash"].as_str().map(String::from);
            Some((format!("{kind}/{}", d["metadata"]["name"].as_str()?), hash))
        })
        .collect()
}

/// `rewind history APP -o json`.
pub fn history(store: &Path, app: &str) -> Vec<serde_json::Value> {
    serde_json::from_slice(&ok(&rewind(store, &["history", app, "-o", "json"]))).unwrap()
}

/// Sets `LOG_LEVEL` in a copy of examples/guestbook to `level`, whatever it was.
pub fn set_log_level(app: &Path, level: &str) {
    let config = app.join("config.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    let (start, rest) = text.split_once("LOG_LEVEL: ").expect("guestbook config has LOG_LEVEL");
    let end = rest.find('\n').unwrap_or(rest.len());
    std::fs::write(&config, format!("{start}LOG_LEVEL: {level}{}", &rest[end..])).unwrap();
}
