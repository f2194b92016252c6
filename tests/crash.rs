//! A writer killed with SIGKILL at arbitrary points leaves a store that reads
//! back completely: every listed release decodes and matches its digest.
//! Half the kills are aimed: the file store (in test builds) marks the moment
//! a write is in progress, between the fsynced temp file and linking it into
//! place, and the test kills the writer right then.

mod common;
use common::*;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Waits until `child` marks a write in progress in `pauses` (true), or exits (false).
fn wait_for_write(child: &mut Child, pauses: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let in_write = std::fs::read_dir(pauses)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .any(|n| n.starts_with(&format!("{}.", child.id())));
        if in_write {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("the writer neither wrote nor exited");
}

#[test]
fn sigkill_during_render_never_leaves_a_half_release() {
    let tmp = tempfile::tempdir().unwrap();
    let (app, store) = (tmp.path().join("app"), tmp.path().join("store"));
    std::fs::create_dir_all(&app).unwrap();
    // Big enough that a write takes a while: the kill lands at varied points.
    let install = std::fs::read_to_string(corpus("argocd-install/install.yaml")).unwrap();
    let pauses = tmp.path().join("pauses");
    std::fs::create_dir(&pauses).unwrap();
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let (mut killed, mut killed_mid_write) = (0, 0);
    for i in 0..30 {
        std::fs::write(app.join("install.yaml"), &install).unwrap();
        std::fs::write(
            app.join("cm.yaml"),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: round}}\ndata: {{i: \"{i}\"}}\n"),
        )
        .unwrap();
        let aimed = i % 2 == 0;
        let mut writer = command(tmp.path());
        writer
            .env("REWIND_STORE", format!("file://{}", store.display()))
            .args(["render", app.to_str().unwrap(), "--app", "crash", "--history-max", "5"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if aimed {
            writer.env("REWIND_TEST_PAUSE_DIR", &pauses);
        }
        let mut child = writer.spawn().unwrap();
        if aimed {
            if wait_for_write(&mut child, &pauses) {
                killed_mid_write += 1;
            }
        } else {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            std::thread::sleep(Duration::from_millis(seed % 400));
        }
        if child.try_wait().unwrap().is_none() {
            killed += 1;
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();

        // The store must read back whole after every kill.
        let out = rewind(&store, &["history", "crash", "-o", "json"]);
        if !out.status.success() {
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("no releases"),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            continue;
        }
        assert!(!String::from_utf8_lossy(&out.stderr).contains("damaged"), "a kill left a damaged release");
        let history: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        let revs: Vec<u64> = history.iter().map(|r| r["revision"].as_u64().unwrap()).collect();
        assert!(revs.windows(2).all(|w| w[0] < w[1]), "{revs:?}");
        for r in &revs {
            let shown = rewind(&store, &["show", "crash", &r.to_string()]);
            assert!(
                shown.status.success(),
                "revision {r} unreadable after a kill: {}",
                String::from_utf8_lossy(&shown.stderr)
            );
        }
    }
    assert!(killed >= 5, "only {killed} kills landed mid-run; the test did not exercise crashes");
    assert!(killed_mid_write >= 10, "only {killed_mid_write} kills hit a write in progress");
    // A clean run afterwards records the next revision as usual.
    std::fs::write(app.join("cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: round}\ndata: {i: final}\n")
        .unwrap();
    ok(&rewind(&store, &["render", app.to_str().unwrap(), "--app", "crash", "--history-max", "5"]));
    let last = history(&store, "crash");
    assert!(last.len() <= 6);
    let leftovers: Vec<_> = std::fs::read_dir(store.join("crash"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "temp files of killed writers were not cleaned up: {leftovers:?}");
}
