//! Memory through the real binary: a render holds its output and the objects'
//! metadata, not their trees. Measured as the peak RSS the kernel reports for
//! the child (`wait4`), not as time.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Four resources, as `bench/compare.py` makes them: a ConfigMap, a Secret,
/// a Deployment using both, a Service.
fn unit(i: usize) -> String {
    let data: String =
        (0..5 + i % 16).map(|k| format!("    key_{k}: \"{i:016x}-{}\"\n", "v".repeat(10 + (i * 7 + k) % 50))).collect();
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-{i}-config\n  labels: {{app: app-{i}, tier: backend}}\ndata:\n{data}---
apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-{i}-secret\ntype: Opaque\nstringData:\n  password: \"{i:032x}\"\n  token: \"{:032x}\"\n---
apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  labels: {{app: app-{i}}}\nspec:\n  replicas: 2\n  selector:
    matchLabels: {{app: app-{i}}}\n  template:\n    metadata:\n      labels: {{app: app-{i}}}\n    spec:\n      containers:
        - name: app\n          image: registry.example.com/team/app-{i}:1.{}.0\n          ports: [{{containerPort: 8080}}]
          envFrom:\n            - configMapRef: {{name: app-{i}-config}}\n          env:\n            - name: PASSWORD
              valueFrom: {{secretKeyRef: {{name: app-{i}-secret, key: password}}}}\n          resources:
            requests: {{cpu: 100m, memory: 128Mi}}\n            limits: {{memory: 256Mi}}\n---
apiVersion: v1\nkind: Service\nmetadata:\n  name: app-{i}\nspec:\n  selector: {{app: app-{i}}}\n  ports: [{{port: 80, targetPort: 8080}}]\n",
        i * 31,
        i % 40
    )
}

/// An app of `units` × 4 resources, 20 per file; its size in bytes.
fn synthetic(dir: &Path, units: usize) -> u64 {
    let mut size = 0;
    for file in 0..units.div_ceil(5) {
        let text: Vec<String> = (file * 5..(file * 5 + 5).min(units)).map(unit).collect();
        let text = text.join("---\n");
        size += text.len() as u64;
        std::fs::write(dir.join(format!("part{file:04}.yaml")), text).unwrap();
    }
    size
}

/// Peak RSS in bytes of `rewind`, run as `cmd` says, which must succeed, and
/// the page faults it took.
#[expect(clippy::zombie_processes, reason = "wait4 reaps the child, to read its rusage")]
fn usage(cmd: &mut Command) -> (u64, u64) {
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    // SAFETY: waits for our own child, writing into the two locals.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{cmd:?} failed");
    (u64::try_from(usage.ru_maxrss).unwrap() * 1024, u64::try_from(usage.ru_minflt).unwrap())
}

fn peak_rss(home: &Path, args: &[&str]) -> u64 {
    usage(command(home).args(args)).0
}

/// The release binary's bound (3 × the input + 20 MiB) is measured by
/// `bench/compare.sh`; tests run the debug binary, whose own pages differ, so
/// this compares what each render adds to what `rewind --version` takes.
#[test]
fn render_holds_the_output_not_the_object_trees() {
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("app");
    std::fs::create_dir(&app).unwrap();
    let size = synthetic(&app, 2500);
    assert!(size > 4 << 20, "{size}");
    let store = format!("file://{}", tmp.path().join("store").display());
    let app = app.display().to_string();
    let base = peak_rss(tmp.path(), &["--version"]);
    // The main job: render and record (annotation mode, YAML).
    let streamed = peak_rss(tmp.path(), &["--store", &store, "render", &app, "--app", "m"]) - base;
    // Whole objects, as JSON output needs them: the trees take about ten times the input.
    let whole = peak_rss(tmp.path(), &["render", &app, "--app", "m", "--no-record", "--output", "json"]) - base;
    assert!(streamed < 8 * size, "a render of {size} bytes took {streamed} bytes more than --version");
    assert!(whole > 3 * streamed, "whole objects took {whole} bytes, prepared ones {streamed}");
}

/// A `List` (as `kubectl get -o yaml` and `-o json` write one) is one
/// document, but a render holds one of its items' trees at a time, as it
/// holds one document's of a stream: rendering the synthetic app as one YAML
/// `List` and as one JSON `List` adds about what the stream adds to the
/// memory of `rewind --version` (before, the whole `List`'s tree: more than twice
/// as much), and writes the same manifest.
#[test]
fn render_holds_one_list_item_at_a_time() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let [stream, yaml, json] = ["stream", "yaml", "json"].map(|d| tmp.path().join(d));
    for dir in [&stream, &yaml, &json] {
        std::fs::create_dir(dir).unwrap();
    }
    let size = synthetic(&stream, 2500);
    // Written a file at a time: a child's peak RSS counts this process's at
    // the fork, so this one holds little. Each document an item, at the
    // first column, as kubectl writes them.
    let create = |path: PathBuf| std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let (mut list, mut json_list) = (create(yaml.join("list.yaml")), create(json.join("list.json")));
    list.write_all(b"apiVersion: v1\nitems:\n").unwrap();
    json_list.write_all(b"{\n    \"apiVersion\": \"v1\",\n    \"items\": [").unwrap();
    let mut files: Vec<_> = std::fs::read_dir(&stream).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut first = true;
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        for item in serde_saphyr::from_multiple::<serde_json::Value>(&text).unwrap() {
            json_list.write_all(if first { b"\n" } else { b",\n" }).unwrap();
            serde_json::to_writer_pretty(&mut json_list, &item).unwrap();
            first = false;
        }
        for doc in text.split("---\n") {
            for (i, line) in doc.lines().enumerate() {
                writeln!(list, "{}{line}", if i == 0 { "- " } else { "  " }).unwrap();
            }
        }
    }
    list.write_all(b"kind: List\nmetadata:\n  resourceVersion: \"\"\n").unwrap();
    json_list.write_all(b"\n    ],\n    \"kind\": \"List\"\n}\n").unwrap();
    drop((list, json_list));
    let args = |dir: &Path| {
        ["render".to_string(), dir.display().to_string(), "--app".into(), "m".into(), "--no-record".into()]
    };
    let base = peak_rss(tmp.path(), &["--version"]);
    let extra = |dir: &Path| usage(command(tmp.path()).args(args(dir))).0 - base;
    let streamed = extra(&stream);
    assert!(streamed > size, "the stream of {size} bytes took {streamed} bytes more than --version");
    for dir in [&yaml, &json] {
        // The text is held while it is read: the JSON one is about twice the YAML's.
        let text: u64 = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
        let listed = extra(dir);
        assert!(
            listed < streamed + 2 * text,
            "{}: a List of {text} bytes took {listed} bytes more than --version, the stream of {size} {streamed}",
            dir.display()
        );
    }
    let rendered = |dir: &Path| command(tmp.path()).args(args(dir)).output().unwrap().stdout;
    let expected = rendered(&stream);
    assert!(expected.len() as u64 > size / 2);
    assert!(rendered(&yaml) == expected, "the YAML List renders differently");
    assert!(rendered(&json) == expected, "the JSON List renders differently");
}

/// rewind's own output rendered again (a repository of rendered manifests):
/// its workloads already carry `rewind.dev/config-hash`, and are emitted and
/// dropped as they are read, as any workload is, not held as trees (before,
/// the synthetic app's own output added nearly twice what the app adds to
/// `--version`, over the 3 × input + 20 MiB bound in a release build). The
/// same manifest comes out.
#[test]
fn render_of_its_own_output_holds_no_trees() {
    let tmp = tempfile::tempdir().unwrap();
    let [stream, own] = ["stream", "own"].map(|d| tmp.path().join(d));
    for dir in [&stream, &own] {
        std::fs::create_dir(dir).unwrap();
    }
    let size = synthetic(&stream, 2500);
    let args = |dir: &Path| {
        ["render".to_string(), dir.display().to_string(), "--app".into(), "m".into(), "--no-record".into()]
    };
    let output = std::fs::File::create(own.join("rendered.yaml")).unwrap();
    assert!(command(tmp.path()).args(args(&stream)).stdout(output).status().unwrap().success());
    let text = std::fs::metadata(own.join("rendered.yaml")).unwrap().len();
    assert!(text > size / 2);
    let base = peak_rss(tmp.path(), &["--version"]);
    let extra = |dir: &Path| usage(command(tmp.path()).args(args(dir))).0 - base;
    let (streamed, again) = (extra(&stream), extra(&own));
    assert!(
        again < streamed + text,
        "its own output of {text} bytes took {again} bytes more than --version, the app of {size} {streamed}"
    );
    let rendered = |dir: &Path| command(tmp.path()).args(args(dir)).output().unwrap().stdout;
    assert!(rendered(&own) == std::fs::read(own.join("rendered.yaml")).unwrap(), "rendered again, it changed");
}

/// A render's heap comes in transparent huge pages where the kernel gives
/// them on request (`madvise`, its default mode): of two renders on one
/// thread (a worker thread's heap stays in 4 KiB pages), the larger one's
/// extra memory takes far fewer page faults than it has 4 KiB pages. In 4 KiB
/// pages each would be a fault, and more (a render frees memory and takes it
/// again); the two run the same code, so the binary's pages cancel out. Under
/// a capped address space the heap is not reserved, and stays in 4 KiB pages.
#[test]
fn render_heap_comes_in_huge_pages() {
    let mode = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
    if !mode.contains("[madvise]") {
        eprintln!("skipped: huge pages here are not given on request ({})", mode.trim());
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for units in [250, 2500] {
        std::fs::create_dir(tmp.path().join(format!("app{units}"))).unwrap();
        synthetic(&tmp.path().join(format!("app{units}")), units);
    }
    // Page faults and 4 KiB pages the larger render takes more than the
    // smaller, with `limit` bytes of address space if given.
    let extra = |limit: Option<&str>| {
        let [(small_rss, small_faults), (large_rss, large_faults)] = [250, 2500].map(|units| {
            let mut cmd = match limit {
                None => command(tmp.path()),
                Some(limit) => limited_command(tmp.path(), &[format!("--as={limit}")]),
            };
            let app = tmp.path().join(format!("app{units}")).display().to_string();
            usage(cmd.env("REWIND_THREADS", "1").args(["render", &app, "--app", "m", "--no-record"]))
        });
        (large_faults - small_faults, (large_rss - small_rss) / 4096)
    };
    let (faults, pages) = extra(None);
    assert!(faults * 2 < pages, "{faults} page faults for {pages} pages more");
    // 16 GiB: far more than a render needs, but a cap.
    let (faults, pages) = extra(Some("17179869184"));
    assert!(faults * 4 > pages * 3, "capped: {faults} page faults for {pages} pages more");
}
