//! Object storage with the API server's semantics: resourceVersions, uids,
//! create-if-absent, optimistic concurrency on update, validation (names,
//! label values, the 1 MiB Secret/ConfigMap limit, immutable Secrets), patch
//! formats, a quota, an event log that watches replay from (bounded and
//! compactable, as etcd's history is), and list pages that read one snapshot.

use crate::resources::Resource;
use crate::selector::Selector;
use base64::Engine;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, VecDeque};

const MAX_CONFIG_BYTES: usize = 1024 * 1024;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// An error answered as a `Status` object.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { code, reason, message: message.into(), details: Value::Null }
    }
    fn with(mut self, name: &str, res: &Resource) -> ApiError {
        let mut d = json!({"name": name, "kind": res.plural});
        if !res.group.is_empty() {
            d["group"] = json!(res.group);
        }
        if let Some(causes) = self.details.get("causes") {
            d["causes"] = causes.clone();
        }
        self.details = d;
        self
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }
    pub fn not_found(res: &Resource, name: &str) -> ApiError {
        ApiError::new(404, "NotFound", format!("{} \"{name}\" not found", plural_group(res))).with(name, res)
    }
    fn invalid(res: &Resource, name: &str, field: &str, detail: String) -> ApiError {
        let message = format!("{} \"{name}\" is invalid: {field}: {detail}", res.kind);
        let mut e = ApiError::new(422, "Invalid", message);
        e.details = json!({"causes": [{"reason": "FieldValueInvalid", "message": detail, "field": field}]});
        e.with(name, res)
    }
    /// The `Status` body.
    pub fn status(&self) -> Value {
        let mut s = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code,
        });
        if !self.details.is_null() {
            s["details"] = self.details.clone();
        }
        s
    }
}

fn plural_group(res: &Resource) -> String {
    if res.group.is_empty() { res.plural.to_string() } else { format!("{}.{}", res.plural, res.group) }
}

/// One change, as a watch reports it.
#[derive(Debug, Clone)]
pub struct Change {
    pub rv: u64,
    pub resource: Resource,
    pub namespace: String,
    pub kind: &'static str,
    pub object: Value,
    /// The object before a modification, so a selector watch can tell an
    /// object that left its selection (DELETED) or entered it (ADDED).
    pub old: Option<Value>,
}

type Key = (Resource, String, String);

/// The rest of a paginated list, as it was when its first page was read.
struct Snapshot {
    rv: u64,
    items: Vec<Value>,
}

/// Changes kept for watches to resume from, unless told otherwise.
pub const DEFAULT_WATCH_HISTORY: usize = 10_000;
/// Paginated lists whose remaining pages are kept.
const MAX_SNAPSHOTS: usize = 64;

pub struct Storage {
    rv: u64,
    uids: u64,
    objects: BTreeMap<Key, Value>,
    /// Recent changes, oldest first; older ones are compacted away.
    pub log: VecDeque<Change>,
    /// Changes kept in `log`.
    pub history: usize,
    /// The newest resourceVersion no longer in `log`: a watch from before it gets 410.
    pub compacted: u64,
    snapshots: BTreeMap<u64, Snapshot>,
    next_snapshot: u64,
    /// Like a ResourceQuota `count/secrets`: creates beyond it are forbidden.
    pub secret_quota: Option<usize>,
    /// The field manager of the write in progress (see `managed`).
    pub manager: String,
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            rv: 0,
            uids: 0,
            objects: BTreeMap::new(),
            log: VecDeque::new(),
            history: DEFAULT_WATCH_HISTORY,
            compacted: 0,
            snapshots: BTreeMap::new(),
            next_snapshot: 0,
            secret_quota: None,
            manager: "unknown".into(),
        }
    }
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn is_label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && v.as_bytes()[0].is_ascii_alphanumeric()
            && v.as_bytes()[v.len() - 1].is_ascii_alphanumeric())
}

fn is_config_key(k: &str) -> bool {
    !k.is_empty() && k.len() <= 253 && k.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("object");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

fn pointer_parts(path: &str) -> Result<Vec<String>, ApiError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path.strip_prefix('/').ok_or_else(|| ApiError::bad_request(format!("invalid JSON pointer {path:?}")))?;
    Ok(rest.split('/').map(|p| p.replace("~1", "/").replace("~0", "~")).collect())
}

fn json_patch_op(doc: &mut Value, op: &Value) -> Result<(), ApiError> {
    let bad = |m: String| ApiError::new(422, "Invalid", m);
    let kind =
        op.get("op").and_then(Value::as_str).ok_or_else(|| ApiError::bad_request("json patch op without \"op\""))?;
    let path = op
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("json patch op without \"path\""))?;
    let parts = pointer_parts(path)?;
    let value = op.get("value").cloned();
    match kind {
        "test" => {
            let cur = doc.pointer(path);
            if cur != value.as_ref() {
                return Err(bad(format!("testing value {path} failed")));
            }
            return Ok(());
        }
        "move" | "copy" => {
            let from = op
                .get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::bad_request("move/copy without from"))?;
            let v = doc.pointer(from).cloned().ok_or_else(|| bad(format!("path {from} does not exist")))?;
            if kind == "move" {
                json_patch_op(doc, &json!({"op": "remove", "path": from}))?;
            }
            return json_patch_op(doc, &json!({"op": "add", "path": path, "value": v}));
        }
        _ => {}
    }
    let Some((last, parents)) = parts.split_last() else {
        *doc = value.ok_or_else(|| bad("replace of the root needs a value".into()))?;
        return Ok(());
    };
    let mut cur = &mut *doc;
    for p in parents {
        cur = match cur {
            Value::Object(m) => m.get_mut(p),
            Value::Array(a) => p.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| bad(format!("path {path} does not exist")))?;
    }
    match (kind, cur) {
        ("add", Value::Object(m)) | ("replace", Value::Object(m)) => {
            if kind == "replace" && !m.contains_key(last) {
                return Err(bad(format!("replace operation does not apply: doc is missing key: {path}")));
            }
            m.insert(last.clone(), value.ok_or_else(|| bad("add needs a value".into()))?);
        }
        ("add", Value::Array(a)) => {
            let v = value.ok_or_else(|| bad("add needs a value".into()))?;
            if last == "-" {
                a.push(v);
            } else {
                let i: usize = last.parse().map_err(|_| bad(format!("bad index in {path}")))?;
                if i > a.len() {
                    return Err(bad(format!("index out of range in {path}")));
                }
                a.insert(i, v);
            }
        }
        ("replace", Value::Array(a)) => {
            let i: usize = last.parse().map_err(|_| bad(format!("bad index in {path}")))?;
            *a.get_mut(i).ok_or_else(|| bad(format!("index out of range in {path}")))? =
                value.ok_or_else(|| bad("replace needs a value".into()))?;
        }
        ("remove", Value::Object(m)) => {
            m.remove(last)
                .ok_or_else(|| bad(format!("remove operation does not apply: doc is missing path: {path}")))?;
        }
        ("remove", Value::Array(a)) => {
            let i: usize = last.parse().map_err(|_| bad(format!("bad index in {path}")))?;
            if i >= a.len() {
                return Err(bad(format!("index out of range in {path}")));
            }
            a.remove(i);
        }
        (other, _) => return Err(bad(format!("unsupported or inapplicable json patch op {other:?} at {path}"))),
    }
    Ok(())
}

/// How a PATCH body is to be applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PatchType {
    Json,
    Merge,
    StrategicMerge,
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::StrategicMerge),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Some(PatchType::Apply),
            _ => None,
        }
    }
}

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

impl Storage {
    /// Namespaces that hold objects.
    pub fn namespaces(&self) -> std::collections::BTreeSet<String> {
        self.objects.keys().map(|(_, ns, _)| ns.clone()).collect()
    }

    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    fn record(&mut self, resource: Resource, namespace: &str, kind: &'static str, object: &Value, old: Option<Value>) {
        let change =
            Change { rv: self.rv, resource, namespace: namespace.to_string(), kind, object: object.clone(), old };
        self.log.push_back(change);
        while self.log.len() > self.history.max(1) {
            let dropped = self.log.pop_front().expect("non-empty");
            self.compacted = dropped.rv;
        }
    }

    /// Forgets all history up to now, as an etcd compaction does: watches
    /// and list continuations from before it get 410 Gone.
    pub fn compact(&mut self) {
        self.log.clear();
        self.compacted = self.rv;
        self.snapshots.clear();
    }

    /// The changes after `rv` (a watch resuming), or 410 when some are compacted away.
    pub fn changes_since(&self, rv: u64) -> Result<impl Iterator<Item = &Change>, ApiError> {
        if rv < self.compacted {
            return Err(ApiError::new(
                410,
                "Expired",
                format!("too old resource version: {rv} ({})", self.compacted + 1),
            ));
        }
        Ok(self.log.iter().filter(move |c| c.rv > rv))
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn generate_name(&mut self, prefix: &str) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        self.uids += 1;
        let mut n = self.uids.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ self.rv;
        let suffix: String = (0..5)
            .map(|_| {
                let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
                n /= ALPHABET.len() as u64;
                c
            })
            .collect();
        format!("{prefix}{suffix}")
    }

    /// Checks and normalises an object of `res` named `name` (stringData folds into data).
    fn validate(&self, res: &Resource, name: &str, obj: &mut Value, old: Option<&Value>) -> Result<(), ApiError> {
        Self::validate_metadata(res, name, obj)?;
        Self::validate_schema(res, name, obj)?;
        match res.kind {
            "Secret" => Self::validate_secret(res, name, obj, old),
            "ConfigMap" => Self::validate_config_map(res, name, obj),
            _ => Ok(()),
        }
    }

    /// A custom resource against its CRD's schema: every violation is a cause.
    fn validate_schema(res: &Resource, name: &str, obj: &Value) -> Result<(), ApiError> {
        let Some(validator) = crate::resources::validator(res) else { return Ok(()) };
        let errors: Vec<(String, String)> = validator
            .iter_errors(obj)
            .map(|e| {
                let path = e.instance_path().to_string();
                let field = path.trim_start_matches('/').replace('/', ".");
                (field, e.to_string())
            })
            .collect();
        let Some((field, detail)) = errors.first() else { return Ok(()) };
        let mut e = ApiError::invalid(res, name, field, detail.clone());
        e.details["causes"] = json!(
            errors
                .iter()
                .map(|(f, m)| json!({"reason": "FieldValueInvalid", "message": m, "field": f}))
                .collect::<Vec<_>>()
        );
        Err(e)
    }

    /// The name is a DNS subdomain; label values are valid.
    fn validate_metadata(res: &Resource, name: &str, obj: &Value) -> Result<(), ApiError> {
        if !is_dns_subdomain(name) {
            return Err(ApiError::invalid(
                res,
                name,
                "metadata.name",
                format!(
                    "Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
                ),
            ));
        }
        if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
            for (k, v) in labels {
                let v = v.as_str().ok_or_else(|| ApiError::bad_request(format!("label {k} must be a string")))?;
                if !is_label_value(v) {
                    return Err(ApiError::invalid(
                        res,
                        name,
                        "metadata.labels",
                        format!(
                            "Invalid value: \"{v}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character, at most 63 characters"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// `stringData` folded into `data`; keys, base64, the 1 MiB limit, immutability.
    fn validate_secret(res: &Resource, name: &str, obj: &mut Value, old: Option<&Value>) -> Result<(), ApiError> {
        if let Some(Value::Object(sd)) = obj.get("stringData").cloned() {
            let data = obj.as_object_mut().expect("object").entry("data").or_insert_with(|| json!({}));
            for (k, v) in sd {
                let s = v.as_str().ok_or_else(|| ApiError::bad_request(format!("stringData.{k} must be a string")))?;
                data[k.as_str()] = json!(B64.encode(s.as_bytes()));
            }
            obj.as_object_mut().expect("object").remove("stringData");
        }
        let mut total = 0;
        if let Some(data) = obj.get("data").and_then(Value::as_object) {
            for (k, v) in data {
                if !is_config_key(k) {
                    return Err(ApiError::invalid(
                        res,
                        name,
                        &format!("data[{k}]"),
                        format!(
                            "Invalid value: \"{k}\": a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
                        ),
                    ));
                }
                let s = v.as_str().ok_or_else(|| ApiError::bad_request(format!("data.{k} must be a base64 string")))?;
                let bytes = B64.decode(s).map_err(|e| {
                    ApiError::bad_request(format!(
                        "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data for data.{k}: {e}"
                    ))
                })?;
                total += bytes.len();
            }
        }
        if total > MAX_CONFIG_BYTES {
            return Err(ApiError::invalid(
                res,
                name,
                "data",
                format!("Too long: may not be more than {MAX_CONFIG_BYTES} bytes"),
            ));
        }
        if let Some(old) = old
            && old.get("immutable") == Some(&Value::Bool(true))
        {
            if obj.get("data") != old.get("data") {
                return Err(ApiError::invalid(
                    res,
                    name,
                    "data",
                    "Forbidden: field is immutable when `immutable` is set".into(),
                ));
            }
            if obj.get("immutable") != Some(&Value::Bool(true)) {
                return Err(ApiError::invalid(
                    res,
                    name,
                    "immutable",
                    "Forbidden: field is immutable when `immutable` is set".into(),
                ));
            }
        }
        Ok(())
    }

    /// The 1 MiB limit on `data` and `binaryData`.
    fn validate_config_map(res: &Resource, name: &str, obj: &Value) -> Result<(), ApiError> {
        let mut total = 0;
        for field in ["data", "binaryData"] {
            if let Some(m) = obj.get(field).and_then(Value::as_object) {
                for (k, v) in m {
                    total += k.len() + v.as_str().map_or(0, str::len);
                }
            }
        }
        if total > MAX_CONFIG_BYTES {
            return Err(ApiError::invalid(
                res,
                name,
                "",
                format!("Too long: may not be more than {MAX_CONFIG_BYTES} bytes"),
            ));
        }
        Ok(())
    }

    fn check_type(res: &Resource, obj: &Value) -> Result<(), ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request("the body of the request must be a JSON object"));
        }
        if let Some(k) = obj.get("kind").and_then(Value::as_str)
            && k != res.kind
        {
            return Err(ApiError::bad_request(format!(
                "the kind of the provided object ({k}) does not match the resource ({})",
                res.kind
            )));
        }
        if let Some(av) = obj.get("apiVersion").and_then(Value::as_str)
            && av != res.api_version()
        {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                res.api_version()
            )));
        }
        Ok(())
    }

    pub fn create(&mut self, res: Resource, ns: &str, mut obj: Value) -> Result<Value, ApiError> {
        Self::check_type(&res, &obj)?;
        let body_ns = obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
        if !body_ns.is_empty() && body_ns != ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let mut name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        if name.is_empty() {
            match obj.pointer("/metadata/generateName").and_then(Value::as_str) {
                Some(prefix) if !prefix.is_empty() => name = self.generate_name(prefix),
                _ => {
                    return Err(ApiError::invalid(
                        &res,
                        "",
                        "metadata.name",
                        "Required value: name or generateName is required".into(),
                    ));
                }
            }
        }
        self.validate(&res, &name, &mut obj, None)?;
        let key = (res, ns.to_string(), name.clone());
        if self.objects.contains_key(&key) {
            return Err(ApiError::new(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", plural_group(&res)),
            )
            .with(&name, &res));
        }
        if res.kind == "Secret"
            && let Some(quota) = self.secret_quota
        {
            let used = self.objects.keys().filter(|(r, n, _)| r.kind == "Secret" && n == ns).count();
            if used >= quota {
                return Err(ApiError::new(
                    403,
                    "Forbidden",
                    format!("secrets \"{name}\" is forbidden: exceeded quota: rewind-test-quota, requested: count/secrets=1, used: count/secrets={used}, limited: count/secrets={quota}"),
                )
                .with(&name, &res));
            }
        }
        self.uids += 1;
        let rv = self.next_rv();
        let o = obj.as_object_mut().expect("checked");
        if res.status {
            // Status is the controller's, written through /status only.
            o.remove("status");
        }
        o.insert("kind".into(), json!(res.kind));
        o.insert("apiVersion".into(), json!(res.api_version()));
        let meta = o.entry("metadata").or_insert_with(|| json!({}));
        meta["name"] = json!(name);
        meta["namespace"] = json!(ns);
        meta["uid"] = json!(format!("00000000-0000-4000-8000-{:012x}", self.uids));
        meta["resourceVersion"] = json!(rv.to_string());
        meta["creationTimestamp"] = json!(now());
        if res.custom {
            meta["generation"] = json!(1);
        }
        crate::managed::track(None, &mut obj, &self.manager, None, &res.api_version(), &now());
        self.objects.insert(key, obj.clone());
        self.record(res, ns, "ADDED", &obj, None);
        Ok(obj)
    }

    pub fn get(&self, res: Resource, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.objects
            .get(&(res, ns.to_string(), name.to_string()))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&res, name))
    }

    /// Lists `res` objects (in `ns`, or all) matching the selectors. With
    /// `limit`, the first page holds that many and a `continue` token names
    /// the rest, kept as it was then: later pages read the same snapshot, as
    /// from etcd at the first page's resourceVersion.
    pub fn list(
        &mut self,
        res: Resource,
        ns: Option<&str>,
        labels: &Selector,
        fields: &Selector,
        limit: Option<usize>,
        cont: Option<&str>,
    ) -> Result<Value, ApiError> {
        let (rv, mut items) = match cont.filter(|t| !t.is_empty()) {
            Some(token) => self.continuation(token)?,
            None => {
                let items = self
                    .objects
                    .iter()
                    .filter(|((r, n, _), obj)| {
                        *r == res
                            && ns.is_none_or(|want| want == n)
                            && labels.matches_labels(obj)
                            && fields.matches_fields(obj)
                    })
                    .map(|(_, obj)| {
                        let mut item = obj.clone();
                        // The real server omits kind/apiVersion on list items.
                        if let Some(o) = item.as_object_mut() {
                            o.remove("kind");
                            o.remove("apiVersion");
                        }
                        item
                    })
                    .collect();
                (self.rv, items)
            }
        };
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if let Some(limit) = limit.filter(|l| *l < items.len()) {
            let rest = items.split_off(limit);
            meta["remainingItemCount"] = json!(rest.len());
            meta["continue"] = json!(self.keep_snapshot(rv, rest));
        }
        Ok(
            json!({"kind": format!("{}List", res.kind), "apiVersion": res.api_version(), "metadata": meta, "items": items}),
        )
    }

    fn keep_snapshot(&mut self, rv: u64, items: Vec<Value>) -> String {
        self.next_snapshot += 1;
        self.snapshots.insert(self.next_snapshot, Snapshot { rv, items });
        while self.snapshots.len() > MAX_SNAPSHOTS {
            self.snapshots.pop_first();
        }
        B64.encode(format!("{}", self.next_snapshot))
    }

    /// The snapshot a continue token names, taken out (each page is read once).
    fn continuation(&mut self, token: &str) -> Result<(u64, Vec<Value>), ApiError> {
        let bad = || ApiError::bad_request("continue key is not valid");
        let id: u64 = B64
            .decode(token)
            .ok()
            .and_then(|raw| String::from_utf8(raw).ok())
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)?;
        let snapshot = self.snapshots.remove(&id).ok_or_else(|| {
            ApiError::new(
                410,
                "Expired",
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
            )
        })?;
        Ok((snapshot.rv, snapshot.items))
    }

    /// An update of the object (`status`: of its `/status` subresource, a 404
    /// where there is none). With a status subresource, the main endpoint keeps
    /// the stored status and `/status` keeps everything else, as the real server does.
    pub fn update_part(
        &mut self,
        res: Resource,
        ns: &str,
        name: &str,
        mut obj: Value,
        status: bool,
    ) -> Result<Value, ApiError> {
        if status && !res.status {
            return Err(ApiError::not_found(&res, name));
        }
        Self::check_type(&res, &obj)?;
        let key = (res, ns.to_string(), name.to_string());
        let old = self.objects.get(&key).cloned().ok_or_else(|| ApiError::not_found(&res, name))?;
        let body_name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let old_rv = old.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("");
        match obj.pointer("/metadata/resourceVersion").and_then(Value::as_str) {
            Some(rv) if !rv.is_empty() && rv != old_rv => {
                return Err(ApiError::new(
                    409,
                    "Conflict",
                    format!("Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again", plural_group(&res)),
                )
                .with(name, &res));
            }
            _ => {}
        }
        if status {
            let mut kept = old.clone();
            kept["status"] = obj.get("status").cloned().unwrap_or(Value::Null);
            if kept["status"].is_null() {
                kept.as_object_mut().map(|o| o.remove("status"));
            }
            obj = kept;
        } else if res.status {
            match old.get("status") {
                Some(st) => obj["status"] = st.clone(),
                None => {
                    obj.as_object_mut().map(|o| o.remove("status"));
                }
            }
        }
        self.validate(&res, name, &mut obj, Some(&old))?;
        let o = obj.as_object_mut().expect("checked");
        o.insert("kind".into(), json!(res.kind));
        o.insert("apiVersion".into(), json!(res.api_version()));
        let meta = o.entry("metadata").or_insert_with(|| json!({}));
        for k in ["uid", "creationTimestamp", "namespace", "generation"] {
            match old["metadata"].get(k) {
                Some(v) => meta[k] = v.clone(),
                None => {
                    meta.as_object_mut().map(|m| m.remove(k));
                }
            }
        }
        meta["resourceVersion"] = json!(old_rv);
        // What the client sent back of managedFields is the server's to keep.
        match old["metadata"].get("managedFields") {
            Some(m) => obj["metadata"]["managedFields"] = m.clone(),
            None => {
                obj["metadata"].as_object_mut().map(|m| m.remove("managedFields"));
            }
        }
        if obj == old {
            return Ok(old); // a no-op write does not bump the resourceVersion
        }
        let subresource = status.then_some("status");
        crate::managed::track(Some(&old), &mut obj, &self.manager, subresource, &res.api_version(), &now());
        if res.custom && obj.get("spec") != old.get("spec") {
            let generation = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1) + 1;
            obj["metadata"]["generation"] = json!(generation);
        }
        let rv = self.next_rv();
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.objects.insert(key, obj.clone());
        self.record(res, ns, "MODIFIED", &obj, Some(old));
        Ok(obj)
    }

    #[allow(clippy::too_many_arguments)] // mirrors the request: resource, object, subresource, patch type, body, manager
    pub fn patch(
        &mut self,
        res: Resource,
        ns: &str,
        name: &str,
        status: bool,
        ty: PatchType,
        patch: &Value,
        field_manager: Option<&str>,
    ) -> Result<Value, ApiError> {
        if status && (!res.status || !self.objects.contains_key(&(res, ns.to_string(), name.to_string()))) {
            return Err(ApiError::not_found(&res, name));
        }
        let key = (res, ns.to_string(), name.to_string());
        let existing = self.objects.get(&key).cloned();
        let mut doc = match (&existing, ty) {
            (Some(o), _) => o.clone(),
            (None, PatchType::Apply) => json!({}),
            (None, _) => return Err(ApiError::not_found(&res, name)),
        };
        match ty {
            PatchType::StrategicMerge if res.custom => {
                return Err(ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                ));
            }
            PatchType::Merge | PatchType::StrategicMerge => merge_patch(&mut doc, patch),
            PatchType::Json => {
                let ops = patch
                    .as_array()
                    .ok_or_else(|| ApiError::bad_request("a json patch must be an array of operations"))?;
                for op in ops {
                    json_patch_op(&mut doc, op)?;
                }
            }
            PatchType::Apply => {
                if field_manager.is_none_or(str::is_empty) {
                    return Err(ApiError::bad_request("PATCH with apply-patch requires a fieldManager"));
                }
                merge_patch(&mut doc, patch);
            }
        }
        if existing.is_none() {
            doc["metadata"]["name"] = json!(name);
            return self.create(res, ns, doc);
        }
        // A resourceVersion in the patch is a precondition.
        if doc.pointer("/metadata/resourceVersion").and_then(Value::as_str).is_none() {
            doc["metadata"]["resourceVersion"] =
                existing.as_ref().and_then(|o| o.pointer("/metadata/resourceVersion")).cloned().unwrap_or(Value::Null);
        }
        self.update_part(res, ns, name, doc, status)
    }

    pub fn delete(&mut self, res: Resource, ns: &str, name: &str) -> Result<Value, ApiError> {
        let key = (res, ns.to_string(), name.to_string());
        let mut obj = self.objects.remove(&key).ok_or_else(|| ApiError::not_found(&res, name))?;
        let rv = self.next_rv();
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.record(res, ns, "DELETED", &obj, None);
        Ok(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::find;

    fn secret(name: &str, data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": data})
    }

    #[test]
    fn create_conflicts_and_versions() {
        let secrets = find("", "v1", "secrets").unwrap();
        let mut s = Storage::default();
        let a = s.create(secrets, "ns", secret("a", json!({"k": "dg=="}))).unwrap();
        assert_eq!(a["metadata"]["resourceVersion"], "1");
        let e = s.create(secrets, "ns", secret("a", json!({}))).unwrap_err();
        assert_eq!((e.code, e.reason), (409, "AlreadyExists"));
        let mut stale = a.clone();
        stale["data"]["k"] = json!("dw==");
        s.update_part(secrets, "ns", "a", stale.clone(), false).unwrap();
        let e = s.update_part(secrets, "ns", "a", stale, false).unwrap_err();
        assert_eq!((e.code, e.reason), (409, "Conflict"));
        let e = s.create(secrets, "ns", secret("Bad_Name", json!({}))).unwrap_err();
        assert_eq!((e.code, e.reason), (422, "Invalid"));
        let big = B64.encode(vec![0u8; MAX_CONFIG_BYTES + 1]);
        let e = s.create(secrets, "ns", secret("big", json!({"k": big}))).unwrap_err();
        assert_eq!((e.code, e.reason), (422, "Invalid"));
        assert!(e.message.contains("1048576"));
        let ok = B64.encode(vec![0u8; MAX_CONFIG_BYTES]);
        s.create(secrets, "ns", secret("fits", json!({"k": ok}))).unwrap();
    }

    #[test]
    fn immutable_secrets_and_patches() {
        let secrets = find("", "v1", "secrets").unwrap();
        let mut s = Storage::default();
        let mut obj = secret("i", json!({"k": "dg=="}));
        obj["immutable"] = json!(true);
        s.create(secrets, "ns", obj).unwrap();
        let e =
            s.patch(secrets, "ns", "i", false, PatchType::Merge, &json!({"data": {"k": "dw=="}}), None).unwrap_err();
        assert_eq!(e.code, 422);
        let ok = s
            .patch(secrets, "ns", "i", false, PatchType::Merge, &json!({"metadata": {"labels": {"a": "b"}}}), None)
            .unwrap();
        assert_eq!(ok["metadata"]["labels"]["a"], "b");
        let ok = s
            .patch(
                secrets,
                "ns",
                "i",
                false,
                PatchType::Json,
                &json!([{"op": "add", "path": "/metadata/labels/c", "value": "d"}]),
                None,
            )
            .unwrap();
        assert_eq!(ok["metadata"]["labels"]["c"], "d");
        let apps = find("argoproj.io", "v1alpha1", "applications").unwrap();
        s.create(apps, "argocd", json!({"metadata": {"name": "app"}, "spec": {}})).unwrap();
        assert_eq!(
            s.patch(apps, "argocd", "app", false, PatchType::StrategicMerge, &json!({}), None).unwrap_err().code,
            415
        );
    }

    #[test]
    fn pagination() {
        let secrets = find("", "v1", "secrets").unwrap();
        let mut s = Storage::default();
        for i in 0..5 {
            s.create(secrets, "ns", secret(&format!("s{i}"), json!({}))).unwrap();
        }
        let all = Selector::default();
        let page = s.list(secrets, Some("ns"), &all, &all, Some(2), None).unwrap();
        assert_eq!(page["items"].as_array().unwrap().len(), 2);
        assert_eq!(page["metadata"]["remainingItemCount"], 3);
        let token = page["metadata"]["continue"].as_str().unwrap().to_string();
        let page2 = s.list(secrets, Some("ns"), &all, &all, Some(10), Some(&token)).unwrap();
        assert_eq!(page2["items"][0]["metadata"]["name"], "s2");
        assert!(page2["metadata"].get("continue").is_none());
    }
}
