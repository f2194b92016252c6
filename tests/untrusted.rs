//! Repository content and Application values are untrusted. Through the real
//! binary, run as Argo CD's CMP server runs it: a repository cannot run a
//! command, reach another app's releases or redirect the store; the
//! operator's renderers run contained; an empty render is never an accident.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CONFIGMAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-config}\ndata: {LEVEL: info}\n";
const VICTIM_SECRET: &str = "victim-db-password-7f3a";

/// Writes an executable script.
fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The operator's side: scripts in a directory no repository can write, and
/// the renderers file naming them. Returns the renderers file.
fn operator(dir: &Path, renderers: &[(&str, &str, &str)], extra: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let mut yaml = String::from("renderers:\n");
    for (name, args, body) in renderers {
        let path = dir.join(format!("{name}.sh"));
        script(&path, body);
        yaml.push_str(&format!("  {name}: {{command: [{}{args}]}}\n", path.display()));
    }
    yaml.push_str(extra);
    let file = dir.join("renderers.yaml");
    std::fs::write(&file, yaml).unwrap();
    file
}

/// Every file under `dir` with its bytes: to show nothing was touched.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(snapshot(&path));
        } else {
            out.insert(path.clone(), std::fs::read(&path).unwrap());
        }
    }
    out
}

fn app_dir(tmp: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = tmp.join("repo").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    dir
}

/// `generate` for app `name` with the operator's renderers file and extra env.
fn generate(dir: &Path, store: &Path, name: &str, renderers: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let file = renderers.display().to_string();
    let mut all =
        vec![("ARGOCD_APP_NAME", name), ("ARGOCD_APP_NAMESPACE", "default"), ("REWIND_RENDERERS_FILE", file.as_str())];
    all.extend_from_slice(env);
    cmp_generate(dir, store, &all)
}

#[test]
fn a_repository_cannot_run_commands_redirect_the_store_or_read_another_app() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let ops = tmp.path().join("ops");
    let argv_log = ops.join("kustomize.argv");
    let renderers = operator(
        &ops,
        &[("kustomize", ", build, .", &format!("echo \"$@\" >> {}\ncat *.yaml\n", argv_log.display()))],
        "",
    );
    // The victim: an app whose release holds a Secret.
    let victim = app_dir(
        tmp.path(),
        "victim",
        &[(
            "secret.yaml",
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: db}}\nstringData: {{password: {VICTIM_SECRET}}}\n"
            ),
        )],
    );
    ok(&generate(&victim, &store, "victim", &renderers, &[]));
    let before = snapshot(&store.join("victim"));

    let marker = tmp.path().join("pwned");
    // (what, rewind.yaml, plugin env, expected message)
    type Attack<'a> = (&'a str, String, Vec<(&'a str, String)>, &'a str);
    let attacks: Vec<Attack> = vec![
        (
            "rewind show victim, as the renderer",
            "renderer:\n  command: [rewind, show, victim, latest]\n".into(),
            vec![],
            "chosen by the operator",
        ),
        (
            "render into another app's history",
            format!("renderer: {{command: [rewind, render, {}, --app, victim]}}\n", victim.display()),
            vec![],
            "chosen by the operator",
        ),
        (
            "a shell",
            format!(
                "renderer: {{command: [sh, -c, 'rewind mark victim 1 --status deployed; touch {}']}}\n",
                marker.display()
            ),
            vec![],
            "chosen by the operator",
        ),
        (
            "an executable in the repository",
            "renderer: ./steal.sh\n".into(),
            vec![],
            "configured renderers are: kustomize",
        ),
        ("a path as the name", "renderer: {name: /bin/sh}\n".into(), vec![], "\"/bin/sh\", which is not configured"),
        ("injected flags in the name", "renderer: kustomize --enable-exec\n".into(), vec![], "not configured"),
        (
            "injected arguments",
            "renderer: {name: kustomize, args: [--enable-exec]}\n".into(),
            vec![],
            "unknown key \"args\"",
        ),
        (
            "the store from the plugin env",
            "app: whatever\n".into(),
            vec![("ARGOCD_ENV_REWIND_STORE", format!("file://{}", store.display()))],
            "REWIND_STORE",
        ),
        (
            "the renderers file from the plugin env",
            "renderer: kustomize\n".into(),
            vec![("ARGOCD_ENV_REWIND_RENDERERS_FILE", "/tmp/attacker-renderers.yaml".into())],
            "REWIND_RENDERERS_FILE",
        ),
        (
            "an S3 endpoint from the plugin env",
            "app: whatever\n".into(),
            vec![("ARGOCD_ENV_REWIND_S3_ENDPOINT", "http://attacker.example.com".into())],
            "REWIND_S3_ENDPOINT",
        ),
        (
            "the encryption key file from the plugin env",
            "app: whatever\n".into(),
            vec![("ARGOCD_ENV_REWIND_ENCRYPTION_KEY_FILE", "/tmp/attacker-keys.yaml".into())],
            "REWIND_ENCRYPTION_KEY_FILE",
        ),
    ];
    for (what, rewind_yaml, env, needle) in attacks {
        let dir = app_dir(tmp.path(), "attacker", &[("cm.yaml", CONFIGMAP), ("rewind.yaml", &rewind_yaml)]);
        script(&dir.join("steal.sh"), &format!("touch {}\nrewind show victim latest\n", marker.display()));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let stderr = fails(&generate(&dir, &store, "attacker", &renderers, &env), &[needle]);
        assert!(!stderr.contains(VICTIM_SECRET), "{what}: {stderr}");
        assert!(!marker.exists(), "{what}: a repository's command ran");
        assert_eq!(snapshot(&store.join("victim")), before, "{what}: the victim's history changed");
        assert!(!store.join("attacker").join("v1.release").exists(), "{what}: nothing recorded");
    }
    assert!(!argv_log.exists(), "the operator's renderer never ran with a repository's arguments");

    // Naming the operator's renderer works, with exactly the operator's argv.
    let dir = app_dir(tmp.path(), "attacker", &[("cm.yaml", CONFIGMAP), ("rewind.yaml", "renderer: kustomize\n")]);
    let out = ok(&generate(&dir, &store, "attacker", &renderers, &[]));
    assert_eq!(docs(&out)[0]["metadata"]["name"], "app-config");
    assert_eq!(std::fs::read_to_string(&argv_log).unwrap(), "build .\n");
    assert_eq!(snapshot(&store.join("victim")), before);
}

#[test]
fn the_renderer_sees_a_cleared_environment_and_a_fresh_home() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let ops = tmp.path().join("ops");
    let dump = ops.join("env.txt");
    let body = format!(
        "env | sort > {dump}\ntest -w \"$HOME\" && test \"$TMPDIR\" = \"$HOME\" && echo fresh-home >> {dump}\ncat cm.yaml\n",
        dump = dump.display()
    );
    let renderers = operator(&ops, &[("envdump", "", &body)], "env: [HTTPS_PROXY]\n");
    let dir = app_dir(tmp.path(), "app", &[("cm.yaml", CONFIGMAP), ("rewind.yaml", "renderer: envdump\n")]);
    ok(&generate(
        &dir,
        &store,
        "app",
        &renderers,
        &[
            ("ARGOCD_ENV_IMAGE_TAG", "v9"),
            ("KUBECONFIG", "/root/.kube/config"),
            ("KUBERNETES_SERVICE_HOST", "10.0.0.1"),
            ("HTTPS_PROXY", "http://proxy:3128"),
            ("AWS_SECRET_ACCESS_KEY", "not-for-renderers"),
        ],
    ));
    let env = std::fs::read_to_string(&dump).unwrap();
    for present in [
        "ARGOCD_ENV_IMAGE_TAG=v9",
        "ARGOCD_APP_NAME=app",
        "KUBE_VERSION=1.32.0",
        "HTTPS_PROXY=http://proxy:3128",
        "fresh-home",
    ] {
        assert!(env.contains(present), "{present} missing:\n{env}");
    }
    for absent in ["REWIND_", "KUBECONFIG", "KUBERNETES_SERVICE_HOST", "AWS_SECRET_ACCESS_KEY"] {
        assert!(!env.contains(absent), "{absent} reached the renderer:\n{env}");
    }
    let home = env.lines().find_map(|l| l.strip_prefix("HOME=")).unwrap();
    assert!(!Path::new(home).exists(), "HOME {home} was removed afterwards");
    let path = env.lines().find_map(|l| l.strip_prefix("PATH=")).unwrap();
    assert!(path.split(':').all(|p| p.starts_with('/')), "only absolute PATH entries: {path}");
}

#[test]
fn renderer_time_output_exit_codes_and_strays_are_contained() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let ops = tmp.path().join("ops");
    let secret = "s3cr3t-Value-42";
    let renderers = operator(
        &ops,
        &[
            ("slow", "", "sleep 30\n"),
            ("chatty", "", "yes 'a: b'\n"),
            ("broken", "", "echo 'Error: accumulating resources: missing kustomization.yaml' >&2\nexit 3\n"),
            ("stray", "", "(sleep 60; echo late) &\ncat cm.yaml\n"),
            (
                "leaky",
                "",
                &format!(
                    "printf 'apiVersion: v1\\nkind: Secret\\nmetadata: {{name: db}}\\nstringData: {{password: {secret}}}\\n'\necho \"debug: password={secret}\" >&2\n"
                ),
            ),
            (
                "leaky-fail",
                "",
                &format!(
                    "printf 'apiVersion: v1\\nkind: Secret\\nmetadata: {{name: db}}\\ndata: {{password: czNjcjN0LVZhbHVlLTQy}}\\n'\necho \"cannot template: {secret}\" >&2\nexit 1\n"
                ),
            ),
        ],
        "maxTimeoutSeconds: 20\n",
    );
    let count = std::cell::Cell::new(0);
    let run = |renderer: &str| {
        let rewind_yaml = format!("renderer: {renderer}\n");
        count.set(count.get() + 1);
        let name = format!("app{}", count.get());
        let dir = app_dir(tmp.path(), &name, &[("cm.yaml", CONFIGMAP), ("rewind.yaml", &rewind_yaml)]);
        let started = Instant::now();
        let out = generate(&dir, &store, "app", &renderers, &[]);
        (out, started.elapsed())
    };

    let (out, took) = run("{name: slow, timeoutSeconds: 1}");
    fails(&out, &["renderer slow", "longer than 1s", "was stopped"]);
    assert!(took < Duration::from_secs(10), "{took:?}");
    fails(&run("{name: slow, timeoutSeconds: 60}").0, &["timeoutSeconds 60", "ceiling of 20s"]);

    let (out, took) = run("chatty");
    fails(&out, &["renderer chatty", "printed more than 33554432 bytes"]);
    assert!(took < Duration::from_secs(15), "{took:?}");

    fails(&run("broken").0, &["renderer broken", "exited with status 3", "missing kustomization.yaml"]);

    let (out, took) = run("stray");
    assert_eq!(docs(&ok(&out))[0]["kind"], "ConfigMap");
    assert!(took < Duration::from_secs(10), "a process holding stdout open did not hang generate: {took:?}");

    let out = run("leaky").0;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    ok(&out);
    assert!(stderr.contains("renderer leaky") && stderr.contains("password=<redacted>"), "{stderr}");
    assert!(!stderr.contains(secret), "a Secret value reached the log: {stderr}");
    let stderr = fails(&run("leaky-fail").0, &["renderer leaky-fail", "cannot template: <redacted>"]);
    assert!(!stderr.contains(secret), "{stderr}");
}

/// SIGTERM to rewind (Argo CD stopping a slow generate) takes the renderer's
/// whole process group with it, grandchildren included.
#[test]
fn a_terminated_generate_leaves_no_renderer_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let ops = tmp.path().join("ops");
    let pid_file = ops.join("grandchild.pid");
    let renderers =
        operator(&ops, &[("hang", "", &format!("sleep 300 &\necho $! > {}\nwait\n", pid_file.display()))], "");
    let dir = app_dir(tmp.path(), "app", &[("rewind.yaml", "renderer: hang\n")]);
    let file = renderers.display().to_string();
    let child = cmp_command(
        &dir,
        &tmp.path().join("store"),
        &[("ARGOCD_APP_NAME", "app"), ("REWIND_RENDERERS_FILE", file.as_str())],
    )
    .stdout(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pid_file.exists() || std::fs::read_to_string(&pid_file).unwrap().trim().is_empty() {
        assert!(Instant::now() < deadline, "the renderer did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let grandchild = std::fs::read_to_string(&pid_file).unwrap().trim().to_string();
    assert!(Path::new(&format!("/proc/{grandchild}")).exists());
    let status = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success() && out.stdout.is_empty());
    let deadline = Instant::now() + Duration::from_secs(5);
    // A killed process lingers as a zombie until its parent (here: init) reaps it.
    while std::fs::read_to_string(format!("/proc/{grandchild}/stat")).is_ok_and(|s| !s.contains(") Z ")) {
        assert!(Instant::now() < deadline, "the renderer's grandchild {grandchild} survived rewind");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_empty_render_is_refused_unless_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let renderers = operator(&tmp.path().join("ops"), &[("silent", "", "exit 0\n")], "");
    let prune = "would prune every resource of the app";
    let cases: [(&str, Vec<(&str, &str)>); 3] = [
        ("only rewind.yaml", vec![("rewind.yaml", "app: x\n")]),
        ("a renderer that printed nothing", vec![("rewind.yaml", "renderer: silent\n"), ("cm.yaml", CONFIGMAP)]),
        ("an emptied directory", vec![("README.md", "nothing here\n")]),
    ];
    for (what, files) in cases {
        let dir = app_dir(tmp.path(), "empty", &files);
        let stderr = fails(&generate(&dir, &store, "empty", &renderers, &[]), &["rendered no objects", prune]);
        assert!(stderr.contains("allowEmpty"), "{what}: {stderr}");
        let allowed = generate(
            &dir,
            &store,
            "empty",
            &renderers,
            &[("ARGOCD_APP_PARAMETERS", r#"[{"name":"allow-empty","string":"true"}]"#)],
        );
        assert!(allowed.status.success() && allowed.stdout.is_empty(), "{what}: allowed deliberately");
        std::fs::remove_dir_all(&dir).unwrap();
    }
    assert!(history(&store, "empty").iter().all(|r| r["size"] == 0));
    let dir = app_dir(tmp.path(), "empty", &[("rewind.yaml", "allowEmpty: true\n")]);
    assert!(ok(&generate(&dir, &store, "empty", &renderers, &[])).is_empty());
    fails(
        &generate(&dir, &store, "empty", &renderers, &[("ARGOCD_ENV_REWIND_ALLOW_EMPTY", "maybe")]),
        &["allow-empty \"maybe\"", "true or false"],
    );
    // rewind render follows the same rule.
    let empty = app_dir(tmp.path(), "nothing", &[]);
    fails(&rewind(&store, &["render", empty.to_str().unwrap(), "--no-record"]), &["rendered no objects"]);
    assert!(ok(&rewind(&store, &["render", empty.to_str().unwrap(), "--no-record", "--allow-empty"])).is_empty());
}

#[test]
fn rewind_render_on_a_laptop_runs_only_the_person_s_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let marker = tmp.path().join("ran");
    let dir = app_dir(
        tmp.path(),
        "cloned",
        &[("cm.yaml", CONFIGMAP), ("rewind.yaml", &format!("renderer: {{command: [touch, {}]}}\n", marker.display()))],
    );
    fails(&rewind(&store, &["render", dir.to_str().unwrap()]), &["rewind.yaml", "chosen by the operator"]);
    assert!(!marker.exists());

    // The person's own command, and a renderer from their own renderers file.
    std::fs::write(dir.join("rewind.yaml"), "renderer: mine\n").unwrap();
    let own = tmp.path().join("own.sh");
    script(&own, "cat cm.yaml\n");
    let cmd = own.display().to_string();
    let out = ok(&rewind(&store, &["render", dir.to_str().unwrap(), "--no-record", "--renderer-command", &cmd]));
    assert_eq!(docs(&out)[0]["metadata"]["name"], "app-config");
    fails(
        &rewind(&store, &["render", dir.to_str().unwrap(), "--no-record"]),
        &["renderer \"mine\"", "no renderers are configured"],
    );
    let config = store.join(".config/rewind"); // the helper runs rewind with HOME at the store
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("renderers.yaml"), format!("renderers:\n  mine: {{command: [{cmd}]}}\n")).unwrap();
    assert_eq!(ok(&rewind(&store, &["render", dir.to_str().unwrap(), "--no-record"])), out);
}

/// Two rewind sources of one multi-source Application get the same
/// ARGOCD_APP_NAME: refused once they take turns, and a rollback never prints
/// the other source's manifest; REWIND_SOURCE_NAME gives each its own key.
#[test]
fn two_sources_never_share_one_history() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let renderers = tmp.path().join("none.yaml");
    std::fs::write(&renderers, "").unwrap();
    let web = app_dir(tmp.path(), "web", &[("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n")]);
    let db = app_dir(tmp.path(), "db", &[("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: db}\n")]);
    let source = |path: &'static str, extra: &[(&'static str, &'static str)]| {
        let mut env = vec![("ARGOCD_APP_SOURCE_PATH", path)];
        env.extend_from_slice(extra);
        env
    };
    let web_out = ok(&generate(&web, &store, "shop", &renderers, &source("web", &[])));
    ok(&generate(&db, &store, "shop", &renderers, &source("db", &[])));
    fails(
        &generate(&web, &store, "shop", &renderers, &source("web", &[])),
        &["two rewind sources share", "REWIND_SOURCE_NAME"],
    );
    let stderr = fails(
        &generate(&db, &store, "shop", &renderers, &source("db", &[("ARGOCD_ENV_REWIND_ROLLBACK_TO", "1")])),
        &["PreviousRevisionUnavailable", "revision 1 was rendered from another source"],
    );
    assert!(stderr.contains("path \"web\""), "{stderr}");
    fails(
        &generate(&db, &store, "shop", &renderers, &source("db", &[("ARGOCD_ENV_REWIND_ROLLBACK_TO", "previous")])),
        &["PreviousRevisionUnavailable"],
    );
    assert_eq!(history(&store, "shop").len(), 2, "nothing recorded by the refusals");

    for _ in 0..2 {
        assert_eq!(
            ok(&generate(
                &web,
                &store,
                "shop",
                &renderers,
                &source("web", &[("ARGOCD_ENV_REWIND_SOURCE_NAME", "web")])
            )),
            web_out
        );
        ok(&generate(&db, &store, "shop", &renderers, &source("db", &[("ARGOCD_ENV_REWIND_SOURCE_NAME", "db")])));
    }
    let web_history = history(&store, "shop__web");
    assert_eq!(web_history.len(), 1);
    assert_eq!(web_history[0]["source"]["path"], "web");
    assert_eq!(history(&store, "shop__db")[0]["source"]["path"], "db");
    fails(
        &generate(&web, &store, "shop", &renderers, &source("web", &[("ARGOCD_ENV_REWIND_SOURCE_NAME", "Web_1")])),
        &["REWIND_SOURCE_NAME", "lowercase"],
    );
}
