//! The people's commands, through the real binary.

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;

fn guestbook() -> String {
    root().join("examples/guestbook").display().to_string()
}

/// An app folder in `tmp` holding one file, `name`, of `yaml`.
fn one_file_app(tmp: &std::path::Path, name: &str, yaml: &str) -> String {
    let app = tmp.join("app");
    std::fs::create_dir(&app).unwrap();
    std::fs::write(app.join(name), yaml).unwrap();
    app.display().to_string()
}

#[test]
fn render_records_into_the_default_store_and_is_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    // No --store, no REWIND_STORE: the embedded default under $HOME.
    let a = ok(&command(tmp.path()).args(["render", &guestbook()]).output().unwrap());
    let b = ok(&command(tmp.path()).args(["render", &guestbook()]).output().unwrap());
    assert_eq!(a, b, "rendering twice gives identical bytes");
    let store = tmp.path().join(".local/state/rewind/guestbook");
    let files: Vec<_> = std::fs::read_dir(&store).unwrap().map(|e| e.unwrap()).collect();
    let releases: Vec<_> = files.iter().filter(|e| e.file_name().to_string_lossy().ends_with(".release")).collect();
    assert_eq!(releases.len(), 1, "the second render was deduplicated");
    for f in &files {
        assert_eq!(f.metadata().unwrap().permissions().mode() & 0o777, 0o600, "{:?}", f.path());
    }
    assert_eq!(std::fs::metadata(&store).unwrap().permissions().mode() & 0o777, 0o700);
    let text = String::from_utf8(a).unwrap();
    assert!(text.contains("FEATURE_DARK_MODE: \"on\""), "YAML 1.1 booleans stay quoted strings");
    assert!(text.contains("rewind.dev/config-hash"));
}

/// An unquoted `defaultMode: 0644` is YAML 1.1 octal to kubectl (420); read as
/// a decimal it would be 644, which the API server refuses as a file mode.
#[test]
fn render_reads_octal_file_modes_as_kubectl_does() {
    let tmp = tempfile::tempdir().unwrap();
    let app = one_file_app(
        tmp.path(),
        "d.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      volumes:\n      \
         - {name: a, secret: {secretName: s, defaultMode: 0644}}\n      - {name: b, configMap: {name: c, defaultMode: 0400}}\n",
    );
    let out = ok(&command(tmp.path()).args(["render", &app, "--no-record"]).output().unwrap());
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("defaultMode: 420") && text.contains("defaultMode: 256"), "{text}");
}

#[test]
fn render_stdin_json_output_and_set() {
    let tmp = tempfile::tempdir().unwrap();
    let input =
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {tag: \"${TAG}\", n: \"1_000\", y: \"y\"}\n";
    let mut child = command(tmp.path())
        .args(["render", "-", "--app", "piped", "--set", "TAG=v7", "-o", "json", "--no-record"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = ok(&child.wait_with_output().unwrap());
    let list: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"][0]["data"]["tag"], "v7");
    assert_eq!(list["items"][0]["data"]["n"], "1_000");
    assert!(!tmp.path().join(".local").exists(), "--no-record writes nothing");

    let mut child = command(tmp.path())
        .args(["render", "-", "--no-record", "--set", "TAG=v7"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let yaml = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    assert!(
        yaml.contains("\"n\": \"1_000\"") && yaml.contains("\"y\": \"y\""),
        "keys and values YAML 1.1 reads as non-strings are quoted: {yaml}"
    );
}

#[test]
fn history_show_diff_mark_and_rollback() {
    let tmp = tempfile::tempdir().unwrap();
    let (app, store) = (tmp.path().join("gb"), tmp.path().join("store"));
    copy_tree(&root().join("examples/guestbook"), &app);
    let app_s = app.display().to_string();
    let v1 = ok(&rewind(&store, &["render", &app_s]));
    set_log_level(&app, "debug");
    let secret = app.join("secret.yaml");
    std::fs::write(
        &secret,
        std::fs::read_to_string(&secret).unwrap().replace("change-me-in-a-real-deployment", "s3cr3t-value"),
    )
    .unwrap();
    let v2 = ok(&rewind(&store, &["render", &app_s]));

    let table = String::from_utf8(ok(&rewind(&store, &["history", "guestbook"]))).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("REVISION") && lines[0].contains("GIT REVISION") && lines[0].contains("DIGEST"));
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[1].starts_with("1 ") && lines[1].contains("pending"));

    assert_eq!(ok(&rewind(&store, &["show", "guestbook", "1"])), v1);
    assert_eq!(ok(&rewind(&store, &["show", "guestbook", "latest"])), v2);
    let meta: serde_json::Value =
        serde_json::from_slice(&ok(&rewind(&store, &["show", "guestbook", "2", "--meta"]))).unwrap();
    assert_eq!(meta["revision"], 2);

    let diff = String::from_utf8(ok(&rewind(&store, &["diff", "guestbook", "1", "2"]))).unwrap();
    assert!(diff.contains("-  LOG_LEVEL: info") && diff.contains("+  LOG_LEVEL: debug"), "{diff}");
    assert!(!diff.contains("s3cr3t") && !diff.contains("change-me"), "Secret values never appear in diffs: {diff}");
    assert!(diff.contains("password: <redacted sha256:"));

    // Dry run: a diff against the latest, nothing recorded.
    let dry = rewind(&store, &["rollback", "guestbook", "--to", "previous", "--dry-run"]);
    assert!(String::from_utf8(ok(&dry)).unwrap().contains("+  LOG_LEVEL: info"));
    assert_eq!(history(&store, "guestbook").len(), 2);

    assert_eq!(ok(&rewind(&store, &["rollback", "guestbook", "--to", "1"])), v1);
    let h = history(&store, "guestbook");
    assert_eq!(h.len(), 3);
    assert_eq!(h[2]["rollback_of"], 1);

    ok(&rewind(&store, &["mark", "guestbook", "1", "--status", "deployed"]));
    ok(&rewind(&store, &["mark", "guestbook", "3", "--status", "deployed"]));
    let h = history(&store, "guestbook");
    assert_eq!(h[0]["status"], "superseded", "deploying 3 supersedes 1");
    assert_eq!(h[2]["status"], "deployed");
    ok(&rewind(&store, &["mark", "guestbook", "2", "--status", "failed"]));
    assert_eq!(history(&store, "guestbook")[1]["status"], "failed");
    fails(&rewind(&store, &["mark", "guestbook", "9", "--status", "failed"]), &["no revision 9"]);
    fails(&rewind(&store, &["show", "nope", "1"]), &["PreviousRevisionUnavailable"]);
    fails(&rewind(&store, &["history", "nope"]), &["no releases"]);
}

#[test]
fn history_limit_prunes_but_keeps_newest_deployed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let app = tmp.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    let render = |i: usize| {
        std::fs::write(
            app.join("cm.yaml"),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\ndata: {{i: \"{i}\"}}\n"),
        )
        .unwrap();
        ok(&rewind(&store, &["render", &app.display().to_string(), "--app", "pruned", "--history-max", "3"]));
    };
    render(1);
    ok(&rewind(&store, &["mark", "pruned", "1", "--status", "deployed"]));
    for i in 2..=6 {
        render(i);
    }
    let revs: Vec<u64> = history(&store, "pruned").iter().map(|r| r["revision"].as_u64().unwrap()).collect();
    assert_eq!(revs, [1, 4, 5, 6], "revision 1 is the newest deployed and survives");
}

#[test]
fn every_command_has_help_with_an_example() {
    let tmp = tempfile::tempdir().unwrap();
    for cmd in ["render", "generate", "history", "show", "diff", "rollback", "mark"] {
        let out = String::from_utf8(ok(&command(tmp.path()).args([cmd, "--help"]).output().unwrap())).unwrap();
        assert!(out.contains("Example") || out.contains("rewind generate"), "{cmd} --help: {out}");
    }
}

#[test]
fn store_url_errors_name_the_setting() {
    let tmp = tempfile::tempdir().unwrap();
    fails(
        &command(tmp.path()).env("REWIND_STORE", "ftp://x").args(["history", "guestbook"]).output().unwrap(),
        &["REWIND_STORE", "ftp"],
    );
}

#[test]
fn plugin_configmap_carries_plugin_yaml() {
    let plugin = std::fs::read_to_string(root().join("plugin.yaml")).unwrap();
    let cm: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(root().join("manifests/argocd/component/cmp-plugin.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        cm["data"]["plugin.yaml"].as_str().unwrap(),
        plugin,
        "regenerate manifests/argocd/component/cmp-plugin.yaml"
    );
    let spec: serde_json::Value = serde_saphyr::from_str(&plugin).unwrap();
    assert_eq!(spec["kind"], "ConfigManagementPlugin");
    let params: Vec<&str> =
        spec["spec"]["parameters"]["static"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    let (mut announced, mut settings) = (params.clone(), rewind::context::SETTINGS.to_vec());
    announced.sort();
    settings.sort();
    assert_eq!(announced, settings, "plugin.yaml announces every Application setting, and only those");
}

#[test]
fn render_without_recording_needs_no_store() {
    let tmp = tempfile::tempdir().unwrap();
    // A store that cannot be opened (no credentials anywhere) does not matter to --no-record.
    let out = command(tmp.path())
        .env("REWIND_STORE", "kubernetes://nowhere?kubeconfig=/nonexistent")
        .args(["render", &guestbook(), "--no-record"])
        .output()
        .unwrap();
    assert!(!ok(&out).is_empty());
    fails(
        &command(tmp.path())
            .env("REWIND_STORE", "kubernetes://nowhere?kubeconfig=/nonexistent")
            .args(["render", &guestbook()])
            .output()
            .unwrap(),
        &["/nonexistent"],
    );
}

/// `REWIND_LOG=debug` names the documents that leave the quickest paths (a
/// tag for the line reader, a control character in a key for the writer) and the
/// entries the line reader leaves to the parser alone (an anchor, a tab in a
/// string), and logging changes nothing on stdout.
#[test]
fn debug_log_names_documents_on_the_slower_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let app = one_file_app(
        tmp.path(),
        "slow.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: quick\ndata:\n  a: b\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: &m\n  name: anchored\ndata:\n  a: b\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bell\ndata:\n  \"ring \\a\": b\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tabbed\ndata:\n  a: \"x\ty\"\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tagged\ndata:\n  a: !!str b\n",
    );
    let render = |log: Option<&str>| {
        let mut cmd = command(tmp.path());
        if let Some(level) = log {
            cmd.env("REWIND_LOG", level);
        }
        cmd.args(["render", &app, "--no-record"]).output().unwrap()
    };
    let (quiet, debug) = (render(None), render(Some("debug")));
    assert_eq!(ok(&quiet), ok(&debug));
    let log = String::from_utf8_lossy(&debug.stderr);
    // The document's text starts at its `---` line.
    let tagged = "text{source=\"slow.yaml\" from_line=28}:";
    assert!(log.contains(&format!("{tagged} not read by the line reader")), "{log}");
    assert!(log.contains(&format!("{tagged} left to serde-saphyr")), "{log}");
    // The anchor costs its entry alone: line 4 of the text from line 7.
    let anchored = "text{source=\"slow.yaml\" from_line=7}: line 4 of this text: its entry read by the parser's events";
    assert!(log.contains(anchored), "{log}");
    assert!(log.contains("ConfigMap/bell is written by serde-saphyr's emitter"), "{log}");
    // The tab costs its entry alone: line 7 of the text from line 21.
    let tabbed = "text{source=\"slow.yaml\" from_line=21}: line 7 of this text: its entry read by the parser's events";
    assert!(log.contains(tabbed), "{log}");
    assert!(
        !log.contains("from_line=1}") && !log.contains("ConfigMap/quick") && !log.contains("ConfigMap/anchored is"),
        "{log}"
    );
    assert_eq!(log.matches("not read by the line reader").count(), 1, "{log}");
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("serde-saphyr"));
}
