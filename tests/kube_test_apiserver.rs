//! The shipped test API server behaves like the real one where rewind and
//! kubectl can see it: Status bodies, conflicts, validation, quota,
//! selectors, pagination, watch, discovery.

mod common;
use common::apiserver::ApiServer;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;

/// One HTTP/1.1 request; returns (status code, body).
fn http(server: &ApiServer, method: &str, path: &str, content_type: &str, body: &str) -> (u16, String) {
    http_at(&server.url, method, path, content_type, body)
}

fn http_at(url: &str, method: &str, path: &str, content_type: &str, body: &str) -> (u16, String) {
    let addr = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let code = text[9..12].parse().unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_string() };
    (code, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

fn post(server: &ApiServer, path: &str, obj: Value) -> (u16, Value) {
    let (code, body) = http(server, "POST", path, "application/json", &obj.to_string());
    (code, serde_json::from_str(&body).unwrap())
}

const SECRETS: &str = "/api/v1/namespaces/t/secrets";

fn assert_status(body: &Value, code: u16, reason: &str) {
    assert_eq!(body["kind"], "Status", "{body}");
    assert_eq!(body["status"], "Failure");
    assert_eq!(body["code"], code);
    assert_eq!(body["reason"], reason, "{body}");
}

#[test]
fn errors_carry_status_bodies() {
    let server = ApiServer::start(&["--secret-quota", "3"]);
    let (code, body) = http(&server, "GET", &format!("{SECRETS}/missing"), "application/json", "");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(code, 404);
    assert_status(&body, 404, "NotFound");
    assert_eq!(body["details"]["name"], "missing");

    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a", "labels": {"app": "x"}}, "stringData": {"k": "v"}});
    let (code, created) = post(&server, SECRETS, secret.clone());
    assert_eq!(code, 201);
    assert_eq!(created["data"]["k"], "dg==", "stringData is folded into data");
    assert!(created["metadata"]["uid"].is_string() && created["metadata"]["resourceVersion"].is_string());
    let (code, body) = post(&server, SECRETS, secret);
    assert_eq!(code, 409);
    assert_status(&body, 409, "AlreadyExists");

    let mut stale = created.clone();
    stale["data"]["k"] = json!("dw==");
    let (code, _) = http(&server, "PUT", &format!("{SECRETS}/a"), "application/json", &stale.to_string());
    assert_eq!(code, 200);
    let (code, body) = http(&server, "PUT", &format!("{SECRETS}/a"), "application/json", &stale.to_string());
    assert_eq!(code, 409);
    assert_status(&serde_json::from_str(&body).unwrap(), 409, "Conflict");

    let (code, body) = post(&server, SECRETS, json!({"metadata": {"name": "Not_A_Name"}}));
    assert_eq!(code, 422);
    assert_status(&body, 422, "Invalid");
    assert_eq!(body["details"]["causes"][0]["field"], "metadata.name");

    use base64::Engine;
    let b64 = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![7u8; n]);
    let (code, body) = post(&server, SECRETS, json!({"metadata": {"name": "big"}, "data": {"k": b64(1_048_577)}}));
    assert_eq!(code, 422);
    assert!(body["message"].as_str().unwrap().contains("1048576"));
    let (code, _) = post(&server, SECRETS, json!({"metadata": {"name": "max"}, "data": {"k": b64(1_048_576)}}));
    assert_eq!(code, 201, "exactly 1 MiB is allowed");

    post(&server, SECRETS, json!({"metadata": {"name": "third"}}));
    let (code, body) = post(&server, SECRETS, json!({"metadata": {"name": "fourth"}}));
    assert_eq!(code, 403);
    assert_status(&body, 403, "Forbidden");
    assert!(body["message"].as_str().unwrap().contains("exceeded quota"));
}

#[test]
fn selectors_pagination_and_kubectl() {
    let server = ApiServer::start(&[]);
    for i in 0..7 {
        let tier = if i % 2 == 0 { "web" } else { "db" };
        post(
            &server,
            SECRETS,
            json!({"metadata": {"name": format!("s{i}"), "labels": {"tier": tier, "i": i.to_string()}}}),
        );
    }
    let (_, body) = http(&server, "GET", &format!("{SECRETS}?limit=3&labelSelector=tier%3Dweb"), "", "");
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    assert_eq!(page["metadata"]["remainingItemCount"], 1);
    let token = page["metadata"]["continue"].as_str().unwrap();
    let (_, body) =
        http(&server, "GET", &format!("{SECRETS}?limit=3&labelSelector=tier%3Dweb&continue={token}"), "", "");
    let page2: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page2["items"][0]["metadata"]["name"], "s6");

    let out = server.kubectl(&["get", "secrets", "-n", "t", "-l", "tier in (db),i!=3", "--chunk-size=1", "-o", "name"]);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "secret/s1\nsecret/s5\n");
    let out = server.kubectl(&["get", "secrets", "-n", "t", "--field-selector", "metadata.name=s2", "-o", "name"]);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "secret/s2\n");
    let out = server.kubectl(&["api-resources"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("secrets") && text.contains("applications") && text.contains("argoproj.io"), "{text}");
    assert!(server.kubectl(&["label", "secret", "s0", "-n", "t", "checked=yes"]).status.success());
    let out = server.kubectl(&["get", "secrets", "-n", "t", "-l", "checked", "-o", "name"]);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "secret/s0\n");
}

#[test]
fn watch_streams_changes_after_a_resource_version() {
    let server = ApiServer::start(&[]);
    let (_, first) = post(&server, SECRETS, json!({"metadata": {"name": "w0"}}));
    let rv = first["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let path = format!("{SECRETS}?watch=true&resourceVersion={rv}&timeoutSeconds=2");
    let url = server.url.clone();
    let watcher = std::thread::spawn(move || http_at(&url, "GET", &path, "application/json", "").1);
    std::thread::sleep(std::time::Duration::from_millis(300));
    post(&server, SECRETS, json!({"metadata": {"name": "w1"}}));
    http(
        &server,
        "PATCH",
        &format!("{SECRETS}/w1"),
        "application/merge-patch+json",
        r#"{"metadata":{"labels":{"a":"b"}}}"#,
    );
    http(&server, "DELETE", &format!("{SECRETS}/w0"), "", "");
    let body = watcher.join().unwrap();
    let events: Vec<(String, String)> = body
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["type"].as_str().unwrap().to_string(), v["object"]["metadata"]["name"].as_str().unwrap().to_string())
        })
        .collect();
    let want: Vec<(String, String)> = [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w0")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(events, want);
}

#[test]
fn applications_are_custom_resources() {
    let server = ApiServer::start(&[]);
    let apps = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications";
    let app = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "guestbook"},
        "spec": {"source": {"plugin": {"env": [{"name": "A", "value": "1"}]}}}});
    let (code, created) = post(&server, apps, app);
    assert_eq!(code, 201);
    assert_eq!(created["metadata"]["generation"], 1);
    let (code, body) =
        http(&server, "PATCH", &format!("{apps}/guestbook"), "application/strategic-merge-patch+json", "{}");
    assert_eq!(code, 415, "custom resources take no strategic merge patch: {body}");
    let patch =
        r#"[{"op":"add","path":"/spec/source/plugin/env/-","value":{"name":"REWIND_ROLLBACK_TO","value":"1"}}]"#;
    let (code, body) =
        http(&server, "PATCH", &format!("{apps}/guestbook?fieldManager=rewind"), "application/json-patch+json", patch);
    assert_eq!(code, 200, "{body}");
    let patched: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(patched["spec"]["source"]["plugin"]["env"][1]["name"], "REWIND_ROLLBACK_TO");
    assert_eq!(patched["metadata"]["generation"], 2, "a spec change bumps the generation");
    let out = server.kubectl(&["get", "applications", "-n", "argocd", "-o", "name"]);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "application.argoproj.io/guestbook\n");
}

/// The events of a watch, as (type, name or resourceVersion).
fn watch_events(body: &str) -> Vec<(String, String)> {
    body.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let ty = v["type"].as_str().unwrap().to_string();
            let what = match ty.as_str() {
                "BOOKMARK" => v["object"]["metadata"]["resourceVersion"].as_str().unwrap().to_string(),
                "ERROR" => format!("{} {}", v["object"]["code"], v["object"]["reason"].as_str().unwrap()),
                _ => v["object"]["metadata"]["name"].as_str().unwrap().to_string(),
            };
            (ty, what)
        })
        .collect()
}

/// Watch history is bounded and compactable: a watch resuming from before
/// the oldest change kept gets 410 Expired (clients then list again), as from
/// etcd after a compaction.
#[test]
fn watches_from_a_compacted_resource_version_get_410() {
    let server = ApiServer::start(&["--watch-history", "3"]);
    let (_, first) = post(&server, SECRETS, json!({"metadata": {"name": "h0"}}));
    let old = first["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    for i in 1..=5 {
        post(&server, SECRETS, json!({"metadata": {"name": format!("h{i}")}}));
    }
    let (code, body) =
        http(&server, "GET", &format!("{SECRETS}?watch=true&resourceVersion={old}&timeoutSeconds=1"), "", "");
    assert_eq!(code, 200, "the real server answers 200 and an ERROR event");
    assert_eq!(watch_events(&body), [("ERROR".to_string(), "410 Expired".to_string())]);
    assert!(body.contains("too old resource version"), "{body}");
    // Recent enough: the changes after it.
    let (_, list) = http(&server, "GET", SECRETS, "", "");
    let rv: u64 =
        serde_json::from_str::<Value>(&list).unwrap()["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap();
    let path = format!("{SECRETS}?watch=true&resourceVersion={}&timeoutSeconds=1", rv - 1);
    assert_eq!(watch_events(&http(&server, "GET", &path, "", "").1), [("ADDED".to_string(), "h5".to_string())]);
    // A compaction forgets everything: even the newest resourceVersion is too old to resume from.
    let (code, _) = http(&server, "POST", "/debug/compact", "application/json", "{}");
    assert_eq!(code, 200);
    let path = format!("{SECRETS}?watch=true&resourceVersion={}&timeoutSeconds=1", rv - 1);
    assert_eq!(watch_events(&http(&server, "GET", &path, "", "").1)[0].1, "410 Expired");
}

#[test]
fn watches_get_bookmarks_when_they_ask() {
    let server = ApiServer::start(&["--bookmark-seconds", "1"]);
    post(&server, SECRETS, json!({"metadata": {"name": "b0"}}));
    let quiet =
        http(&server, "GET", &format!("{SECRETS}?watch=true&timeoutSeconds=2&allowWatchBookmarks=true"), "", "").1;
    let events = watch_events(&quiet);
    assert_eq!(events[0], ("ADDED".to_string(), "b0".to_string()));
    let bookmarks: Vec<&(String, String)> = events.iter().filter(|(t, _)| t == "BOOKMARK").collect();
    assert!(bookmarks.len() >= 2, "a periodic bookmark and one at the end: {events:?}");
    assert!(bookmarks.iter().all(|(_, rv)| rv == "1"), "{events:?}");
    let without = http(&server, "GET", &format!("{SECRETS}?watch=true&timeoutSeconds=2"), "", "").1;
    assert!(watch_events(&without).iter().all(|(t, _)| t != "BOOKMARK"), "only when asked");
}

/// A label-selector watch sees an object leave its selection as DELETED and
/// enter it as ADDED, as the real watch cache reports it.
#[test]
fn selector_watches_follow_objects_in_and_out() {
    let server = ApiServer::start(&[]);
    let (_, first) = post(&server, SECRETS, json!({"metadata": {"name": "s", "labels": {"tier": "web"}}}));
    let rv = first["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let path = format!("{SECRETS}?watch=true&labelSelector=tier%3Dweb&resourceVersion={rv}&timeoutSeconds=2");
    let url = server.url.clone();
    let watcher = std::thread::spawn(move || http_at(&url, "GET", &path, "", "").1);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let label = |tier: &str| {
        let patch = json!({"metadata": {"labels": {"tier": tier}}}).to_string();
        http(&server, "PATCH", &format!("{SECRETS}/s"), "application/merge-patch+json", &patch);
    };
    label("db");
    label("db2");
    label("web");
    let events = watch_events(&watcher.join().unwrap());
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["DELETED", "ADDED"], "out, unseen while out, back in");
}

/// Pages of a list read one snapshot: what changes between pages does not
/// show up, and a continuation that is gone is 410 Expired.
#[test]
fn list_pages_read_a_consistent_snapshot() {
    let server = ApiServer::start(&[]);
    for i in 0..6 {
        post(&server, SECRETS, json!({"metadata": {"name": format!("p{i}")}}));
    }
    let page1: Value = serde_json::from_str(&http(&server, "GET", &format!("{SECRETS}?limit=2"), "", "").1).unwrap();
    let rv = page1["metadata"]["resourceVersion"].clone();
    let token = page1["metadata"]["continue"].as_str().unwrap().to_string();
    http(&server, "DELETE", &format!("{SECRETS}/p5"), "", "");
    post(&server, SECRETS, json!({"metadata": {"name": "p9"}}));
    let page2: Value =
        serde_json::from_str(&http(&server, "GET", &format!("{SECRETS}?limit=10&continue={token}"), "", "").1).unwrap();
    let names: Vec<&str> =
        page2["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["p2", "p3", "p4", "p5"], "as it was at the first page");
    assert_eq!(page2["metadata"]["resourceVersion"], rv);
    let (code, body) = http(&server, "GET", &format!("{SECRETS}?limit=10&continue={token}"), "", "");
    assert_eq!(code, 410);
    assert_status(&serde_json::from_str(&body).unwrap(), 410, "Expired");
    let out = server.kubectl(&["get", "secrets", "-n", "t", "--chunk-size=2", "-o", "name"]);
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 6, "kubectl pages through it");
}

/// CRDs given with `--crd` are served: discovery, their schema (422 with
/// causes), and a `/status` subresource that alone writes status, while spec
/// writes bump `generation`.
#[test]
fn crds_are_served_with_schemas_and_status_subresources() {
    let crd = common::root().join("../shared/flux/crds/source.toolkit.fluxcd.io_gitrepositories.yaml");
    let server = ApiServer::start(&["--crd", crd.to_str().unwrap()]);
    let repos = "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories";
    let (code, body) = post(&server, repos, json!({"metadata": {"name": "bad"}, "spec": {"interval": "1m"}}));
    assert_eq!(code, 422, "{body}");
    assert_status(&body, 422, "Invalid");
    assert!(body["details"]["causes"][0]["message"].as_str().unwrap().contains("url"), "{body}");
    let repo = json!({"metadata": {"name": "apps"}, "spec": {"interval": "1m", "url": "https://git.example/apps.git"},
        "status": {"observedGeneration": 7}});
    let (code, created) = post(&server, repos, repo);
    assert_eq!(code, 201);
    assert!(created.get("status").is_none(), "status is the controller's: dropped on create");
    let status = json!({"status": {"artifact": {"url": "http://s/a.tar.gz", "digest": "sha256:ab", "revision": "main@sha1:1",
        "path": "a.tar.gz", "lastUpdateTime": "2026-11-23T00:00:00Z"}}, "spec": {"interval": "9m"}});
    let (code, body) =
        http(&server, "PATCH", &format!("{repos}/apps/status"), "application/merge-patch+json", &status.to_string());
    assert_eq!(code, 200, "{body}");
    let after: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (after["status"]["artifact"]["revision"].as_str(), after["spec"]["interval"].as_str()),
        (Some("main@sha1:1"), Some("1m"))
    );
    assert_eq!(after["metadata"]["generation"], 1, "a status write is not a spec change");
    let spec = json!({"spec": {"interval": "2m"}, "status": null});
    let (_, body) = http(&server, "PATCH", &format!("{repos}/apps"), "application/merge-patch+json", &spec.to_string());
    let after: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(after["metadata"]["generation"], 2);
    assert_eq!(after["status"]["artifact"]["revision"], "main@sha1:1", "the main endpoint keeps status");
    let bad = json!({"status": {"artifact": {"digest": "not a digest"}}});
    let (code, _) =
        http(&server, "PATCH", &format!("{repos}/apps/status"), "application/merge-patch+json", &bad.to_string());
    assert_eq!(code, 422, "status is validated too");
    let out = server.kubectl(&["get", "gitrepositories", "-n", "flux-system", "-o", "name"]);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "gitrepository.source.toolkit.fluxcd.io/apps\n");
}
