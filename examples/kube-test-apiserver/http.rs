//! HTTP: discovery, the REST paths of namespaced resources, and watch streams
//! (newline-delimited JSON `{"type", "object"}` events) that resume from a
//! resourceVersion (410 once it is compacted), send BOOKMARKs when asked, and
//! follow a selector (an object that stops matching is DELETED for that watch).
//! `POST /debug/compact` (admins) compacts the history and ends every watch,
//! as an etcd compaction with an API server restart would.

use crate::rbac::{Identity, Rbac, Request};
use crate::resources::{Resource, discovery, find};
use crate::selector::Selector;
use crate::storage::{ApiError, Change, PatchType, Storage};
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

pub struct Shared {
    pub storage: Mutex<Storage>,
    pub rbac: Rbac,
    pub changes: broadcast::Sender<Change>,
    pub address: String,
    /// `--audit-log`: one JSON line per authorization decision.
    pub audit: Option<Mutex<std::fs::File>>,
    /// How often a watch that asked for bookmarks gets one.
    pub bookmark_interval: std::time::Duration,
    /// Bumped by a compaction; open watches end when it changes.
    pub compactions: tokio::sync::watch::Sender<u64>,
}

impl Shared {
    /// Authorizes `req` for `who` and writes the decision to the audit log.
    fn authorize(&self, who: &Identity, req: &Request) -> Result<(), ApiError> {
        let decision = self.rbac.authorize(who, req);
        if let Some(audit) = &self.audit {
            use std::io::Write;
            let line = json!({"user": who.user, "verb": req.verb, "group": req.group, "resource": req.resource,
                "namespace": req.namespace, "name": req.name, "allowed": decision.is_ok()});
            // One write per line, so a reader never sees half of one.
            let _ = audit.lock().unwrap().write_all(format!("{line}\n").as_bytes());
        }
        decision
    }
}

fn json_response(code: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn error(e: ApiError) -> Response {
    json_response(e.code, &e.status())
}

struct Target {
    resource: Resource,
    namespace: Option<String>,
    name: Option<String>,
    /// The `/status` subresource.
    status: bool,
}

fn unknown_path() -> ApiError {
    ApiError {
        code: 404,
        reason: "NotFound",
        message: "the server could not find the requested resource".into(),
        details: Value::Null,
    }
}

fn route(path: &str) -> Result<Target, ApiError> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(unknown_path()),
    };
    let (namespace, plural, name, status) = match rest {
        ["namespaces", ns, plural] => (Some(ns.to_string()), *plural, None, false),
        ["namespaces", ns, plural, name] => (Some(ns.to_string()), *plural, Some(name.to_string()), false),
        ["namespaces", ns, plural, name, "status"] => (Some(ns.to_string()), *plural, Some(name.to_string()), true),
        [plural] => (None, *plural, None, false),
        _ => return Err(unknown_path()),
    };
    let resource = find(group, version, plural).ok_or_else(|| ApiError {
        code: 404,
        reason: "NotFound",
        message: format!(
            "the server could not find the requested resource ({plural}.{version}{}{group})",
            if group.is_empty() { "" } else { "." }
        ),
        details: Value::Null,
    })?;
    if status && !resource.status {
        return Err(unknown_path());
    }
    Ok(Target { resource, namespace, name, status })
}

/// Namespaces: every namespace exists (as if created beforehand), so
/// clients that look one up after a 404 (kubectl does) get an answer.
fn namespaces(shared: &Shared, method: &Method, path: &str) -> Option<Response> {
    let rest = path.trim_end_matches('/').strip_prefix("/api/v1/namespaces")?;
    if *method != Method::GET {
        return None;
    }
    let ns = |name: &str| json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": name}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
    match rest.strip_prefix('/') {
        None if rest.is_empty() => {
            let storage = shared.storage.lock().unwrap();
            let mut names = storage.namespaces();
            names.insert("default".into());
            let items: Vec<Value> = names.iter().map(|n| ns(n)).collect();
            Some(json_response(
                200,
                &json!({"kind": "NamespaceList", "apiVersion": "v1", "metadata": {"resourceVersion": storage.resource_version().to_string()}, "items": items}),
            ))
        }
        Some(name) if !name.contains('/') => Some(json_response(200, &ns(name))),
        _ => None,
    }
}

fn selector(q: &HashMap<String, String>, key: &str) -> Result<Selector, ApiError> {
    Selector::parse(q.get(key).map_or("", String::as_str))
        .map_err(|e| ApiError::bad_request(format!("invalid {key}: {e}")))
}

pub async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let who = match identity(&shared, &headers) {
        Ok(who) => who,
        Err(e) => return error(e),
    };
    if let Some(response) = discovery_and_namespaces(&shared, &who, &method, uri.path()) {
        return response;
    }
    if method == Method::POST && uri.path() == "/debug/compact" {
        return compact(&shared, &who);
    }
    resources(&shared, &who, &method, &uri, &headers, &q, &body)
}

/// Who is asking, from the bearer token and the impersonation headers.
fn identity(shared: &Shared, headers: &HeaderMap) -> Result<Identity, ApiError> {
    let header_text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let impersonate_groups: Vec<String> =
        headers.get_all("impersonate-group").iter().filter_map(|v| v.to_str().ok()).map(String::from).collect();
    shared.rbac.identity(header_text("authorization"), header_text("impersonate-user"), &impersonate_groups)
}

/// Discovery (open to every authenticated client, as `system:discovery`) and namespaces.
fn discovery_and_namespaces(shared: &Shared, who: &Identity, method: &Method, path: &str) -> Option<Response> {
    if *method == Method::GET
        && let Some(doc) = discovery(path, &shared.address)
    {
        if path != "/version"
            && let Err(e) = shared.rbac.authorize_discovery(who, path)
        {
            return Some(error(e));
        }
        return Some(json_response(200, &doc));
    }
    if let Some(rest) = path.trim_end_matches('/').strip_prefix("/api/v1/namespaces")
        && !rest.trim_start_matches('/').contains('/')
    {
        let name = Some(rest.trim_start_matches('/')).filter(|n| !n.is_empty());
        let verb = if name.is_some() { "get" } else { "list" };
        let req = Request { verb, group: "", resource: "namespaces", namespace: None, name };
        if let Err(e) = shared.authorize(who, &req) {
            return Some(error(e));
        }
    }
    namespaces(shared, method, path)
}

/// `POST /debug/compact`: forget the history and end every watch.
fn compact(shared: &Shared, who: &Identity) -> Response {
    let req = Request { verb: "update", group: "", resource: "debug", namespace: None, name: None };
    if let Err(e) = shared.authorize(who, &req) {
        return error(e);
    }
    let rv = {
        let mut storage = shared.storage.lock().unwrap();
        storage.compact();
        storage.resource_version()
    };
    shared.compactions.send_modify(|n| *n += 1);
    json_response(
        200,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "message": format!("compacted at {rv}")}),
    )
}

/// The REST paths of resources.
fn resources(
    shared: &Arc<Shared>,
    who: &Identity,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    body: &Bytes,
) -> Response {
    let authorize = |verb: &str, group: &str, resource: &str, namespace: Option<&str>, name: Option<&str>| {
        shared.authorize(who, &Request { verb, group, resource, namespace, name })
    };
    let target = match route(uri.path()) {
        Ok(t) => t,
        Err(e) => return error(e),
    };
    let res = target.resource;
    let watch = matches!(q.get("watch").map(String::as_str), Some("true" | "1"));
    let verb = match (method, &target.name) {
        (&Method::GET, Some(_)) => "get",
        (&Method::GET, None) if watch => "watch",
        (&Method::GET, None) => "list",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, _) => "delete",
        _ => "",
    };
    let resource = if target.status { format!("{}/status", res.plural) } else { res.plural.to_string() };
    if let Err(e) = authorize(verb, res.group, &resource, target.namespace.as_deref(), target.name.as_deref()) {
        return error(e);
    }
    let status = target.status;
    let parse_body = || -> Result<Value, ApiError> {
        let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
        if ct.contains("protobuf") || ct.contains("cbor") {
            // Clients fall back to JSON on 415, as against a server without protobuf.
            return Err(ApiError {
                code: 415,
                reason: "UnsupportedMediaType",
                message: format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {ct})"
                ),
                details: Value::Null,
            });
        }
        if ct.contains("yaml") {
            serde_saphyr::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid YAML body: {e}")))
        } else {
            serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
        }
    };
    let manager = &write_manager(q, headers);
    let result = match (method, &target.namespace, &target.name) {
        (&Method::GET, ns, None) if watch => return watch_stream(shared.clone(), res, ns.clone(), q),
        (&Method::GET, ns, None) => (|| {
            let labels = selector(q, "labelSelector")?;
            let fields = selector(q, "fieldSelector")?;
            fields.check_fields().map_err(ApiError::bad_request)?;
            let limit = q.get("limit").and_then(|l| l.parse().ok()).filter(|l: &usize| *l > 0);
            let mut storage = shared.storage.lock().unwrap();
            storage.list(res, ns.as_deref(), &labels, &fields, limit, q.get("continue").map(String::as_str))
        })()
        .map(|v| (200, v)),
        (&Method::GET, Some(ns), Some(name)) => shared.storage.lock().unwrap().get(res, ns, name).map(|v| (200, v)),
        (&Method::POST, Some(ns), None) => {
            parse_body().and_then(|obj| write(shared, manager, |s| s.create(res, ns, obj))).map(|v| (201, v))
        }
        (&Method::PUT, Some(ns), Some(name)) => parse_body()
            .and_then(|obj| write(shared, manager, |s| s.update_part(res, ns, name, obj, status)))
            .map(|v| (200, v)),
        (&Method::PATCH, Some(ns), Some(name)) => {
            let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
            match PatchType::from_content_type(ct) {
                None => Err(ApiError {
                    code: 415,
                    reason: "UnsupportedMediaType",
                    message: format!(
                        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {ct:?})"
                    ),
                    details: Value::Null,
                }),
                Some(ty) => parse_body()
                    .and_then(|p| {
                        write(shared, manager, |s| {
                            s.patch(res, ns, name, status, ty, &p, q.get("fieldManager").map(String::as_str))
                        })
                    })
                    .map(|v| (200, v)),
            }
        }
        (&Method::DELETE, Some(ns), Some(name)) => {
            write(shared, manager, |s| s.delete(res, ns, name)).map(|v| (200, v))
        }
        _ => Err(ApiError {
            code: 405,
            reason: "MethodNotAllowed",
            message: format!(
                "the server does not allow this method on the requested resource ({method} {})",
                uri.path()
            ),
            details: Value::Null,
        }),
    };
    match result {
        Ok((code, v)) => json_response(code, &v),
        Err(e) => error(e),
    }
}

/// Runs a write and publishes the changes it made to watchers, in order.
/// The field manager a write is recorded under.
fn write_manager(q: &HashMap<String, String>, headers: &HeaderMap) -> String {
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    crate::managed::manager_of(q.get("fieldManager").map(String::as_str), user_agent)
}

fn write(
    shared: &Shared,
    manager: &str,
    f: impl FnOnce(&mut Storage) -> Result<Value, ApiError>,
) -> Result<Value, ApiError> {
    let mut storage = shared.storage.lock().unwrap();
    storage.manager = manager.to_string();
    let before = storage.resource_version();
    let out = f(&mut storage)?;
    for change in storage.log.iter().filter(|c| c.rv > before) {
        let _ = shared.changes.send(change.clone());
    }
    Ok(out)
}

/// The watch event a change makes for a watch with `selected`: a modified
/// object that entered the selection is ADDED, one that left it DELETED.
fn event_for(c: &Change, selected: &impl Fn(&Value) -> bool) -> Option<&'static str> {
    let now = selected(&c.object);
    match (c.kind, c.old.as_ref().map(selected)) {
        ("MODIFIED", Some(before)) => match (before, now) {
            (true, true) => Some("MODIFIED"),
            (false, true) => Some("ADDED"),
            (true, false) => Some("DELETED"),
            (false, false) => None,
        },
        (kind, _) => now.then_some(kind),
    }
}

/// One watch event as a line of the stream.
fn line(ty: &str, obj: &Value) -> Bytes {
    Bytes::from(format!("{}\n", json!({"type": ty, "object": obj})))
}

/// What a new watch sees first: from a resourceVersion, the changes after it
/// (or an ERROR 410 when that history is compacted, with `true`); without
/// one, the current state as ADDED events. With the resourceVersion it ends at.
fn backlog(
    shared: &Shared,
    res: Resource,
    since: Option<u64>,
    in_scope: &impl Fn(&Change) -> bool,
    selected: &impl Fn(&Value) -> bool,
) -> (Vec<Bytes>, bool, u64) {
    let mut storage = shared.storage.lock().unwrap();
    let last = storage.resource_version();
    let Some(rv) = since else {
        let all = Selector::default();
        let list = storage.list(res, None, &all, &all, None, None).expect("unpaginated list");
        let added = list["items"].as_array().into_iter().flatten().filter_map(|item| {
            let mut obj = item.clone();
            obj["kind"] = json!(res.kind);
            obj["apiVersion"] = json!(res.api_version());
            let ns = obj["metadata"]["namespace"].as_str().unwrap_or("").to_string();
            let c = Change { rv: 0, resource: res, namespace: ns, kind: "ADDED", object: obj, old: None };
            (in_scope(&c) && selected(&c.object)).then(|| line("ADDED", &c.object))
        });
        return (added.collect(), false, last);
    };
    match storage.changes_since(rv) {
        Ok(changes) => {
            let events =
                changes.filter(|c| in_scope(c)).filter_map(|c| event_for(c, selected).map(|ty| line(ty, &c.object)));
            (events.collect(), false, last)
        }
        Err(e) => (vec![line("ERROR", &e.status())], true, last),
    }
}

fn watch_stream(shared: Arc<Shared>, res: Resource, ns: Option<String>, q: &HashMap<String, String>) -> Response {
    let (labels, fields) = match (selector(q, "labelSelector"), selector(q, "fieldSelector")) {
        (Ok(l), Ok(f)) => (l, f),
        (Err(e), _) | (_, Err(e)) => return error(e),
    };
    let since: Option<u64> = q.get("resourceVersion").and_then(|rv| rv.parse().ok()).filter(|rv| *rv > 0);
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|b| b == "true");
    let timeout =
        std::time::Duration::from_secs(q.get("timeoutSeconds").and_then(|t| t.parse().ok()).unwrap_or(1800).min(3600));
    let in_scope = move |c: &Change| c.resource == res && ns.as_ref().is_none_or(|n| *n == c.namespace);
    let selected = move |obj: &Value| labels.matches_labels(obj) && fields.matches_fields(obj);
    let mut rx = shared.changes.subscribe();
    let mut compactions = shared.compactions.subscribe();
    let (backlog, expired, mut last) = backlog(&shared, res, since, &in_scope, &selected);
    let bookmark = move |rv: u64| {
        line(
            "BOOKMARK",
            &json!({"kind": res.kind, "apiVersion": res.api_version(), "metadata": {"resourceVersion": rv.to_string()}}),
        )
    };
    let interval = shared.bookmark_interval;
    let (tx, out) = futures::channel::mpsc::unbounded::<Result<Bytes, std::convert::Infallible>>();
    tokio::spawn(async move {
        for event in backlog {
            if tx.unbounded_send(Ok(event)).is_err() {
                return;
            }
        }
        if expired {
            return;
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        loop {
            let event = tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {
                    // The real server ends a timed-out watch with a bookmark, so clients resume from it.
                    if bookmarks {
                        let _ = tx.unbounded_send(Ok(bookmark(last)));
                    }
                    return;
                }
                _ = compactions.changed() => return,
                _ = ticks.tick(), if bookmarks => bookmark(last),
                received = rx.recv() => match received {
                    Ok(c) if c.rv > last => {
                        last = c.rv;
                        match event_for(&c, &selected).filter(|_| in_scope(&c)) {
                            Some(ty) => line(ty, &c.object),
                            None => continue,
                        }
                    }
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let e = ApiError { code: 410, reason: "Expired", message: "too old resource version".into(), details: Value::Null };
                        let _ = tx.unbounded_send(Ok(line("ERROR", &e.status())));
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            };
            if tx.unbounded_send(Ok(event)).is_err() {
                return;
            }
        }
    });
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::TRANSFER_ENCODING, "chunked")
        .body(Body::from_stream(out))
        .expect("valid response")
}
