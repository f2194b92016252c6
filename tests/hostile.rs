//! Hostile and broken inputs: each must fail with exit ≠ 0, nothing on stdout
//! and a stderr message naming the file and the cause. A guard kills a run
//! that hangs (a FIFO read would), so a regression fails instead of stalling.

mod common;
use common::*;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// CPU seconds and address space a hostile case may use: past either, the
/// kernel stops the process, and the case fails for lack of its message.
const CPU_SECONDS: &str = "2";
const ADDRESS_SPACE: &str = "2147483648";

fn render_dir(dir: &Path, extra: &[&str]) -> Output {
    let home = dir.parent().unwrap();
    let mut child = limited_command(home, &[format!("--cpu={CPU_SECONDS}"), format!("--as={ADDRESS_SPACE}")])
        .args(["render", &dir.display().to_string(), "--app", "hostile", "--no-record"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("rewind hung on {}", dir.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

type Setup = fn(&Path);

fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) {
    std::fs::write(dir.join(name), content).unwrap();
}

fn billion_laughs(dir: &Path) {
    let mut s = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let mut prev = 'a';
    for c in 'b'..='j' {
        s.push_str(&format!(
            "{c}: &{c} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
        ));
        prev = c;
    }
    write(dir, "bomb.yaml", s);
}

/// Each document within the alias budget, the stream far past it (which
/// serde-saphyr counts over the whole stream): 20 documents, 90 aliases each
/// of a 10-item list, on lines the line reader hands to the parser's events.
fn aliases_over_documents(dir: &Path) {
    let aliases: String = (0..90).map(|i| format!("  k{i}: *l\n")).collect();
    let docs: String = (0..20)
        .map(|i| format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm{i}\nl: &l [a, b, c, d, e, f, g, h, i, j]\nextra:\n{aliases}"))
        .collect();
    write(dir, "many.yaml", docs);
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n";

/// A hostile input: its name, how to make it, and what the message must say.
type Plain = (&'static str, Setup, &'static [&'static str]);
/// The same, with flags to pass.
type Case = (&'static str, Setup, &'static [&'static str], &'static [&'static str]);

/// Tags, merge keys, oversized and incomplete objects.
fn yaml_cases() -> Vec<Plain> {
    vec![
        (
            "!!binary tag",
            |d| write(d, "binary.yaml", format!("{CM}data:\n  x: !!binary aGVsbG8=\n")),
            &["binary.yaml", "line 5", "!!binary"],
        ),
        (
            "custom tag",
            |d| write(d, "tag.yaml", format!("{CM}data: {{x: !Ref foo}}\n")),
            &["tag.yaml", "unsupported tag `!Ref`"],
        ),
        (
            "merge key with a scalar",
            |d| write(d, "merge.yaml", format!("{CM}data:\n  <<: 5\n")),
            &["merge.yaml", "merge value must be mapping"],
        ),
        (
            "merge-key amplification",
            |d| {
                let mut s = String::from(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m}\nl0: &l0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}\n",
                );
                for i in 1..14 {
                    s.push_str(&format!(
                        "l{i}: &l{i} {{<<: [*l{p}], x{i}a: *l{p}, x{i}b: *l{p}, x{i}c: *l{p}, x{i}d: *l{p}}}\n",
                        p = i - 1
                    ));
                }
                write(d, "mergebomb.yaml", s)
            },
            &["mergebomb.yaml", "invalid YAML"],
        ),
        (
            "ConfigMap over 1 MiB",
            |d| write(d, "bigcm.yaml", format!("{CM}data: {{big: \"{}\"}}\n", "x".repeat(1_100_000))),
            &["bigcm.yaml", "ConfigMap/ok", "1048576"],
        ),
        (
            "Secret over 1 MiB",
            |d| {
                write(
                    d,
                    "bigsecret.yaml",
                    format!(
                        "apiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\nstringData: {{big: \"{}\"}}\n",
                        "x".repeat(1_100_000)
                    ),
                )
            },
            &["bigsecret.yaml", "Secret/s", "1048576"],
        ),
        (
            "syntax error",
            |d| write(d, "broken.yaml", "apiVersion: v1\nkind: [ConfigMap\nmetadata: {name: x}\n"),
            &["broken.yaml", "invalid YAML"],
        ),
        ("alias bomb", billion_laughs, &["bomb.yaml", "invalid YAML"]),
        ("aliases over many documents", aliases_over_documents, &["many.yaml", "invalid YAML"]),
        (
            "object without a name",
            |d| write(d, "noname.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"),
            &["noname.yaml", "document 1", "metadata.name"],
        ),
        (
            "missing kind",
            |d| write(d, "nokind.yaml", "apiVersion: v1\nmetadata: {name: x}\n"),
            &["nokind.yaml", "no kind"],
        ),
        (
            "missing apiVersion",
            |d| write(d, "noapi.yaml", "kind: ConfigMap\nmetadata: {name: x}\n"),
            &["noapi.yaml", "no apiVersion"],
        ),
        (
            "non-string name",
            |d| write(d, "num.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: 42}\n"),
            &["num.yaml", "metadata.name must be a string"],
        ),
        ("scalar document", |d| write(d, "scalar.yaml", "hello\n"), &["scalar.yaml", "found a string"]),
        ("list document", |d| write(d, "list.yaml", "- a\n- b\n"), &["list.yaml", "found a list"]),
    ]
}

/// Nesting, encodings, syntax and names.
fn syntax_cases() -> Vec<Plain> {
    vec![
        (
            "deep nesting",
            |d| write(d, "deep.yaml", format!("{CM}data: {}{}\n", "[".repeat(10_000), "]".repeat(10_000))),
            &["deep.yaml", "invalid YAML"],
        ),
        (
            "block nesting",
            |d| {
                let mut s = String::from(CM);
                for i in 0..5_000 {
                    s.push_str(&" ".repeat(i));
                    s.push_str("k:\n");
                }
                write(d, "block.yaml", s)
            },
            &["block.yaml", "invalid YAML"],
        ),
        (
            "invalid UTF-8",
            |d| write(d, "latin1.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: caf\xe9}\n".as_slice()),
            &["latin1.yaml", "UTF-8"],
        ),
        ("NUL byte", |d| write(d, "nul.yaml", "apiVersion: v1\0\nkind: X\n"), &["nul.yaml", "NUL"]),
        (
            "tabs as indentation",
            |d| write(d, "tabs.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: x\n"),
            &["tabs.yaml", "invalid YAML"],
        ),
        (
            "unterminated quote",
            |d| write(d, "quote.yaml", "apiVersion: \"v1\nkind: ConfigMap\n"),
            &["quote.yaml", "invalid YAML"],
        ),
        (
            "duplicate keys",
            |d| write(d, "dup.yaml", "apiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata: {name: x}\n"),
            &["dup.yaml", "invalid YAML"],
        ),
        (
            "name over 253 characters",
            |d| {
                write(
                    d,
                    "long.yaml",
                    format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {}}}\n", "a".repeat(254)),
                )
            },
            &["long.yaml", "at most 253"],
        ),
        (
            "object defined twice",
            |d| {
                write(d, "a.yaml", CM);
                write(d, "b.yaml", CM)
            },
            &["b.yaml", "defined twice", "a.yaml"],
        ),
    ]
}

/// What the source tree may hold: links out, loops, special files, `rewind.yaml`.
fn file_cases() -> Vec<Plain> {
    vec![
        (
            "symlink to /etc/passwd",
            |d| std::os::unix::fs::symlink("/etc/passwd", d.join("passwd.yaml")).unwrap(),
            &["passwd.yaml", "outside the source root"],
        ),
        (
            "symlink loop",
            |d| {
                std::os::unix::fs::symlink("b.yaml", d.join("a.yaml")).unwrap();
                std::os::unix::fs::symlink("a.yaml", d.join("b.yaml")).unwrap()
            },
            &["a.yaml", "loop"],
        ),
        (
            "directory symlink out of the root",
            |d| std::os::unix::fs::symlink("/etc", d.join("etc")).unwrap(),
            &["etc", "outside the source root"],
        ),
        (
            "FIFO in the tree",
            |d| {
                let path = d.join("pipe.yaml");
                let ok = std::process::Command::new("mkfifo").arg(&path).status().unwrap();
                assert!(ok.success());
            },
            &["pipe.yaml", "not a regular file"],
        ),
        (
            "200 MB file",
            |d| std::fs::File::create(d.join("huge.yaml")).unwrap().set_len(200 * 1024 * 1024).unwrap(),
            &["huge.yaml", "--max-file-bytes"],
        ),
        (
            "100,000 tiny documents",
            |d| write(d, "many.yaml", "---\na: 1\n".repeat(100_000)),
            &["many.yaml", "100000 documents", "--max-documents"],
        ),
        (
            "kustomization without a renderer",
            |d| write(d, "kustomization.yaml", "resources: [a.yaml]\n"),
            &["kustomization.yaml", "kustomize build"],
        ),
        (
            "bad rewind.yaml",
            |d| write(d, "rewind.yaml", "hashmode: suffix\n"),
            &["rewind.yaml", "known keys", "hashMode"],
        ),
        (
            "rewind.yaml symlinked out of the root",
            |d| std::os::unix::fs::symlink("/etc/passwd", d.join("rewind.yaml")).unwrap(),
            &["rewind.yaml", "outside the source root"],
        ),
        (
            "rewind.yaml is a FIFO",
            |d| {
                let status = std::process::Command::new("mkfifo").arg(d.join("rewind.yaml")).status().unwrap();
                assert!(status.success());
            },
            &["rewind.yaml", "not a regular file"],
        ),
        (
            "a command in rewind.yaml",
            |d| write(d, "rewind.yaml", "renderer: {command: [sh, -c, 'touch /tmp/rewind-pwned']}\n"),
            &["rewind.yaml", "chosen by the operator"],
        ),
        (
            "only rewind.yaml: nothing to render",
            |d| write(d, "rewind.yaml", "app: x\n"),
            &["rendered no objects", "prune every resource", "allowEmpty"],
        ),
        (
            "unsupported ${} expression",
            |d| {
                write(d, "rewind.yaml", "substitute: true\n");
                write(d, "x.yaml", format!("{CM}data: {{a: \"${{A#b}}\"}}\n"))
            },
            &["x.yaml", "line 4", "not a supported expression"],
        ),
    ]
}

/// Cases that need flags.
fn flag_cases() -> Vec<Case> {
    vec![
        (
            "`..` in a --set name",
            |d| write(d, "a.yaml", CM),
            &["--set", "../../etc/passwd=x"],
            &["--set", "is not a variable name"],
        ),
        (
            "unknown ${VAR}",
            |d| write(d, "v.yaml", format!("{CM}data: {{a: \"${{NOPE}}\"}}\n")),
            &["--set", "OTHER=1"],
            &["v.yaml", "line 4", "${NOPE}"],
        ),
        ("bad hash mode", |d| write(d, "a.yaml", CM), &["--hash-mode", "md5"], &["annotation or suffix"]),
    ]
}

#[test]
fn hostile_inputs_are_refused_with_a_named_cause() {
    let cases: Vec<Case> = yaml_cases()
        .into_iter()
        .chain(syntax_cases())
        .chain(file_cases())
        .map(|(n, s, needles)| (n, s, &[][..], needles))
        .chain(flag_cases())
        .collect();
    // README.md and docs/architecture.md give this number: change them with it.
    assert_eq!(cases.len(), 40, "the hostile corpus has {} cases", cases.len());
    for (name, setup, args, needles) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("src");
        std::fs::create_dir(&dir).unwrap();
        setup(&dir);
        let out = render_dir(&dir, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: expected failure; stderr: {stderr}");
        assert!(out.stdout.is_empty(), "{name}: stdout must be empty");
        for n in needles {
            assert!(stderr.contains(n), "{name}: stderr lacks {n:?}: {stderr}");
        }
    }
}

#[test]
fn corrupted_and_truncated_releases_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    ok(&rewind(&store, &["render", &root().join("examples/guestbook").display().to_string()]));
    let file = store.join("guestbook/v1.release");
    let good = std::fs::read(&file).unwrap();

    let mut flipped = good.clone();
    let n = flipped.len();
    flipped[n - 10] ^= 0x55;
    std::fs::write(&file, &flipped).unwrap();
    fails(&rewind(&store, &["show", "guestbook", "1"]), &["v1.release", "damaged"]);

    std::fs::write(&file, &good[..good.len() / 2]).unwrap();
    fails(&rewind(&store, &["rollback", "guestbook", "--to", "1"]), &["v1.release", "damaged"]);

    // A damaged release does not block the app: history shows it, the next render skips its revision.
    std::fs::write(&file, b"not a release").unwrap();
    let table = String::from_utf8(ok(&rewind(&store, &["history", "guestbook"]))).unwrap();
    let row = table.lines().find(|l| l.starts_with("1 ")).unwrap_or_default();
    assert!(row.contains("damaged") && row.contains("v1.release") && row.contains("bad header"), "{table}");
    let out = rewind(&store, &["render", &root().join("examples/guestbook").display().to_string()]);
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipping"), "warned about the damaged file");
    assert_eq!(history(&store, "guestbook")[0]["revision"], 2);
    assert_eq!(std::fs::read(&file).unwrap(), b"not a release", "a damaged file is left for people to look at");
}

#[test]
fn limits_can_be_raised_by_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("src");
    std::fs::create_dir(&dir).unwrap();
    write(&dir, "cm.yaml", format!("{CM}data: {{big: \"{}\"}}\n", "x".repeat(2048)));
    let base = ["render", dir.to_str().unwrap(), "--app", "x", "--no-record"];
    fails(
        &command(tmp.path()).args(base).args(["--max-file-bytes", "1024"]).output().unwrap(),
        &["cm.yaml", "--max-file-bytes"],
    );
    ok(&command(tmp.path()).args(base).args(["--max-file-bytes", "4096"]).output().unwrap());
}
