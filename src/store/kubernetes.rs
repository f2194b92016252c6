//! `kubernetes://NAMESPACE`: one Secret per release, as Helm does, readable
//! with `kubectl get secrets -l rewind.dev/app=APP`.
//!
//! The index Secret `rewind.<app>.v<N>` (type `rewind.dev/release.v1`) holds
//! the record (`release.json`) and, when it fits, the zstd payload
//! (`manifest.zst`) as raw bytes in `data`: no base64 layer of our own, so
//! nearly all of the 1 MiB Secret limit carries payload. Larger payloads go to
//! immutable chunk Secrets, written *before* the index, so a crash leaves
//! either no release (and orphan chunks that prune removes) or a complete one.
//! Creating the index is the create-if-absent that claims a revision; status
//! changes carry `resourceVersion` and retry on 409 Conflict.

use super::{Damaged, Listing, MetaChange, Store, StoreOptions};
use crate::error::{Error, Result};
use crate::kubeclient::Connection;
use crate::kubeclient::error::{Failure, error as kube_error, failure};
use crate::kubeclient::events::{EventType, Recorder};
use crate::kubeclient::retry::{self, Attempt};
use crate::release::{AppKey, ReleaseMeta, Status, StoredRelease};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

/// Secret type of release index Secrets.
pub const RELEASE_TYPE: &str = "rewind.dev/release.v1";
/// Secret type of payload chunks.
pub const CHUNK_TYPE: &str = "rewind.dev/release-chunk.v1";
/// Event reason for a Secret that carries an app's labels but is not one of its releases.
pub const DAMAGED_REASON: &str = "ReleaseSecretDamaged";
/// Payload bytes per Secret: the API allows 1,048,576 bytes of data; the rest is headroom for the record.
pub const CHUNK_BYTES: usize = 1_000_000;

/// A release store in Kubernetes Secrets of one namespace.
pub struct KubernetesStore {
    namespace: String,
    secrets: Api<Secret>,
    recorder: Recorder,
    runtime: tokio::runtime::Runtime,
    server: String,
    options: StoreOptions,
    /// Damaged Secrets already reported with an Event by this process.
    reported: Mutex<HashSet<String>>,
}

/// Longest app key: `rewind.<key>.v<N>.<write id>.c<i>` must stay within 253.
const MAX_KEY_LEN: usize = 200;

/// The Secret-name form of an app name, injective so that two apps never
/// share Secrets. A name that is a DNS label without `--` stays as it is
/// (`guestbook`). Any other is escaped behind `x--`: letters and digits kept,
/// `-` → `-0`, `_` → `-1`, `.` → `-2`, an uppercase letter → `-` and the
/// letter (`team-a_guestbook` → `x--team-0a-1guestbook`); no kept name can
/// equal it because kept names never contain `--`. A name whose escaped form
/// would be too long becomes `h--` and 128 bits of its sha256.
pub fn app_key(app: impl AsRef<str>) -> String {
    let app = app.as_ref();
    let kept = app.len() <= MAX_KEY_LEN
        && !app.contains("--")
        && app.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && app.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && app.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric());
    if kept {
        return app.to_string();
    }
    let mut escaped = String::from("x--");
    for c in app.chars() {
        match c {
            'a'..='z' | '0'..='9' => escaped.push(c),
            'A'..='Z' => escaped.extend(['-', c.to_ascii_lowercase()]),
            '-' => escaped.push_str("-0"),
            '_' => escaped.push_str("-1"),
            '.' => escaped.push_str("-2"),
            // Not a valid app name (validate_app_name refuses it); hash below.
            _ => return format!("h--{}", &hex::encode(Sha256::digest(app.as_bytes()))[..32]),
        }
    }
    if escaped.len() <= MAX_KEY_LEN {
        escaped
    } else {
        format!("h--{}", &hex::encode(Sha256::digest(app.as_bytes()))[..32])
    }
}

/// A label-value-safe form of an app name (at most 63 characters).
pub fn app_label(app: impl AsRef<str>) -> String {
    let app = app.as_ref();
    let valid = app.len() <= 63
        && app.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && app.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && app.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric());
    if valid { app.to_string() } else { hashed(app, 54, |c| c.is_ascii_alphanumeric() || "-_.".contains(c), false) }
}

/// A shortened label value: several apps may share one (the selector only
/// narrows the list; records are checked against the full app name).
fn hashed(app: &str, max: usize, keep: fn(char) -> bool, lower: bool) -> String {
    let hash = &hex::encode(Sha256::digest(app.as_bytes()))[..8];
    let mut base: String = app.chars().map(|c| if keep(c) { c } else { '-' }).collect();
    if lower {
        base = base.to_ascii_lowercase();
    }
    base.truncate(max);
    let base = base.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if base.is_empty() { format!("app-{hash}") } else { format!("{base}-{hash}") }
}

/// What Events about an app's releases regard, whatever the store: the
/// name its release Secrets share (`rewind.<app key>`) in `namespace`, so
/// `kubectl get events --field-selector involvedObject.name=rewind.<app key>` finds them.
pub fn release_reference(namespace: &str, app: &AppKey) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Secret".into()),
        name: Some(format!("rewind.{}", app_key(app))),
        namespace: Some(namespace.to_string()),
        ..ObjectReference::default()
    }
}

/// The index Secret of `app`'s `revision`: `rewind.<app key>.v<N>`.
pub fn release_name(app: impl AsRef<str>, revision: u64) -> String {
    format!("rewind.{}.v{revision}", app_key(app))
}

fn write_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    hex::encode(&Sha256::digest(format!("{nanos}.{}", std::process::id()).as_bytes())[..4])
}

impl KubernetesStore {
    /// Opens `kubernetes://NAMESPACE[?kubeconfig=PATH][&context=NAME]`.
    /// Without a kubeconfig parameter, connects with the in-cluster service
    /// account or the kubeconfig (`KUBECONFIG`, `~/.kube/config`), whichever
    /// `kube` finds.
    pub fn open(url_rest: &str) -> Result<KubernetesStore> {
        Self::open_with(url_rest, &StoreOptions::default())
    }

    /// Opens `kubernetes://…` as [`KubernetesStore::open`] does, with `options`.
    pub fn open_with(url_rest: &str, options: &StoreOptions) -> Result<KubernetesStore> {
        let (namespace, query) = url_rest.split_once('?').unwrap_or((url_rest, ""));
        let (mut kubeconfig, mut context) = (None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("kubeconfig", v)) => kubeconfig = Some(v.to_string()),
                Some(("context", v)) => context = Some(v.to_string()),
                _ => {
                    return Err(Error::Config(format!(
                        "--store kubernetes://{url_rest}: unknown parameter {pair:?}; use kubeconfig=PATH and context=NAME"
                    )));
                }
            }
        }
        let mut store = Self::connect(namespace.trim_end_matches('/'), kubeconfig, context)?;
        store.options = options.clone();
        Ok(store)
    }

    /// Connects to `namespace`, with an explicit kubeconfig file and context if given.
    pub fn connect(namespace: &str, kubeconfig: Option<String>, context: Option<String>) -> Result<KubernetesStore> {
        if namespace.is_empty() || namespace.contains('/') {
            return Err(Error::Config(format!(
                "--store kubernetes://{namespace}: name one namespace, e.g. kubernetes://argocd"
            )));
        }
        let conn = Connection::open(kubeconfig, context)?;
        Ok(KubernetesStore {
            namespace: namespace.to_string(),
            secrets: Api::namespaced(conn.client.clone(), namespace),
            recorder: Recorder::new(conn.client),
            runtime: conn.runtime,
            server: conn.server,
            options: StoreOptions::default(),
            reported: Mutex::new(HashSet::new()),
        })
    }

    /// A failed call while doing `what` to `app`'s `revision`: the races and
    /// misses the history policy acts on, else a message saying what to do.
    fn api_error(&self, e: kube::Error, what: &str, app: &AppKey, revision: u64) -> Error {
        match failure(&e) {
            Failure::AlreadyExists => Error::AlreadyExists { app: app.to_string(), revision },
            Failure::NotFound => Error::NotFound { app: app.to_string(), revision },
            _ => kube_error(
                e,
                format!("release store: {what}"),
                &self.server,
                &format!(
                    "grant the verbs in manifests/argocd on secrets in namespace {}, or raise its ResourceQuota",
                    self.namespace
                ),
            ),
        }
    }

    fn selector(app: &AppKey, role: &str) -> String {
        format!("app.kubernetes.io/managed-by=rewind,rewind.dev/role={role},rewind.dev/app={}", app_label(app))
    }

    async fn list_secrets(&self, selector: &str, app: &AppKey) -> Result<Vec<Secret>> {
        let mut out = Vec::new();
        let mut params = ListParams::default().labels(selector).limit(250);
        loop {
            let page = self.secrets.list(&params).await.map_err(|e| self.api_error(e, "listing releases", app, 0))?;
            out.extend(page.items);
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => return Ok(out),
            }
        }
    }

    fn labels(app: &AppKey, revision: u64, role: &str, status: Option<Status>) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::from([
            ("app.kubernetes.io/managed-by".to_string(), "rewind".to_string()),
            ("rewind.dev/app".to_string(), app_label(app)),
            ("rewind.dev/revision".to_string(), revision.to_string()),
            ("rewind.dev/role".to_string(), role.to_string()),
        ]);
        if let Some(s) = status {
            labels.insert("rewind.dev/status".into(), s.as_str().into());
        }
        labels
    }

    fn annotations(meta: &ReleaseMeta) -> BTreeMap<String, String> {
        let mut a = BTreeMap::from([
            ("rewind.dev/app-name".to_string(), meta.app.to_string()),
            ("rewind.dev/digest".to_string(), meta.digest.clone()),
            ("rewind.dev/created".to_string(), meta.created.clone()),
            ("rewind.dev/description".to_string(), meta.description.clone()),
        ]);
        if let Some(rev) = &meta.source.revision {
            a.insert("rewind.dev/git-revision".into(), rev.clone());
        }
        if let Some(of) = meta.rollback_of {
            a.insert("rewind.dev/rollback-of".into(), of.to_string());
        }
        if let Some(e) = &meta.encryption {
            a.insert("rewind.dev/encryption".into(), format!("{} (key {})", e.algorithm, e.key_id));
        }
        a
    }

    fn meta_of(secret: &Secret) -> Result<ReleaseMeta> {
        let name = secret.metadata.name.clone().unwrap_or_default();
        Self::record_of(secret).map_err(|why| Error::Corrupt(format!("Secret {name}: {why}")))
    }

    /// The release record a Secret holds, or what is wrong with it.
    fn record_of(secret: &Secret) -> std::result::Result<ReleaseMeta, String> {
        let json = secret
            .data
            .as_ref()
            .and_then(|d| d.get("release.json"))
            .ok_or("no release.json; the stored release is damaged")?;
        serde_json::from_slice(&json.0).map_err(|e| format!("unreadable release.json ({e})"))
    }

    async fn get_async(&self, app: &AppKey, revision: u64) -> Result<StoredRelease> {
        let name = release_name(app, revision);
        let secret = self
            .secrets
            .get(&name)
            .await
            .map_err(|e| self.api_error(e, &format!("reading Secret {name}"), app, revision))?;
        let meta = Self::meta_of(&secret)?;
        if meta.app != *app || meta.revision != revision {
            return Err(Error::Corrupt(format!(
                "Secret {}/{name} holds {} revision {}, not {app} revision {revision}; it is not used",
                self.namespace, meta.app, meta.revision
            )));
        }
        let data = secret.data.unwrap_or_default();
        let compressed = match (data.get("manifest.zst"), data.get("chunks")) {
            (Some(bytes), _) => bytes.0.clone(),
            (None, Some(list)) => {
                let names: Vec<String> = serde_json::from_slice(&list.0)
                    .map_err(|e| Error::Corrupt(format!("Secret {name}: unreadable chunk list ({e})")))?;
                // zstd never grows a payload by more than a little: more chunks than that is a lie.
                let most = (self.options.max_release_bytes / CHUNK_BYTES as u64 + 2) as usize;
                if names.len() > most {
                    return Err(Error::Corrupt(format!(
                        "Secret {name}: lists {} chunks, more than a release within the {}-byte limit needs; the stored release is damaged",
                        names.len(),
                        self.options.max_release_bytes
                    )));
                }
                let mut all = Vec::new();
                for (i, chunk) in names.iter().enumerate() {
                    let part = match self.secrets.get_opt(chunk).await {
                        Ok(Some(s)) => s,
                        Ok(None) => {
                            return Err(Error::Corrupt(format!(
                                "Secret {name}: chunk {i} ({chunk}) is missing; the stored release is damaged"
                            )));
                        }
                        Err(e) => return Err(self.api_error(e, &format!("reading Secret {chunk}"), app, revision)),
                    };
                    let bytes = part.data.and_then(|mut d| d.remove("chunk")).ok_or_else(|| {
                        Error::Corrupt(format!("Secret {chunk}: no chunk data; the stored release is damaged"))
                    })?;
                    all.extend(bytes.0);
                }
                all
            }
            (None, None) => {
                return Err(Error::Corrupt(format!("Secret {name}: no payload; the stored release is damaged")));
            }
        };
        Ok(StoredRelease { meta, payload: compressed, location: format!("Secret {}/{name}", self.namespace) })
    }

    async fn create_async(&self, release: &StoredRelease) -> Result<()> {
        self.options.check_size(release)?;
        let meta = &release.meta;
        let (app, revision) = (&meta.app, meta.revision);
        let name = release_name(app, revision);
        let compressed = release.payload.clone();
        let record = serde_json::to_vec(meta).expect("release record serializes");
        let mut data = BTreeMap::from([("release.json".to_string(), ByteString(record.clone()))]);
        let mut chunk_names = Vec::new();
        if compressed.len() + record.len() <= CHUNK_BYTES {
            data.insert("manifest.zst".into(), ByteString(compressed));
        } else {
            let write = write_id();
            for (i, part) in compressed.chunks(CHUNK_BYTES).enumerate() {
                let chunk_name = format!("{name}.{write}.c{i}");
                let chunk = Secret {
                    metadata: ObjectMeta {
                        name: Some(chunk_name.clone()),
                        labels: Some(Self::labels(app, revision, "chunk", None)),
                        annotations: Some(BTreeMap::from([("rewind.dev/app-name".to_string(), app.to_string())])),
                        ..ObjectMeta::default()
                    },
                    type_: Some(CHUNK_TYPE.into()),
                    immutable: Some(true),
                    data: Some(BTreeMap::from([("chunk".to_string(), ByteString(part.to_vec()))])),
                    ..Secret::default()
                };
                if let Err(e) = self.secrets.create(&PostParams::default(), &chunk).await {
                    self.delete_names(&chunk_names).await;
                    return Err(self.api_error(e, &format!("writing Secret {chunk_name}"), app, revision));
                }
                chunk_names.push(chunk_name);
            }
            data.insert("chunks".into(), ByteString(serde_json::to_vec(&chunk_names).expect("names serialize")));
        }
        let index = Secret {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(Self::labels(app, revision, "release", Some(meta.status))),
                annotations: Some(Self::annotations(meta)),
                ..ObjectMeta::default()
            },
            type_: Some(RELEASE_TYPE.into()),
            data: Some(data),
            ..Secret::default()
        };
        let created = match self.secrets.create(&PostParams::default(), &index).await {
            Ok(s) => s,
            Err(e) => {
                self.delete_names(&chunk_names).await;
                return Err(self.api_error(e, &format!("writing Secret {name}"), app, revision));
            }
        };
        // Let the cluster's garbage collector remove chunks with their index.
        if let Some(uid) = created.metadata.uid {
            let owner = OwnerReference {
                api_version: "v1".into(),
                kind: "Secret".into(),
                name: name.clone(),
                uid,
                block_owner_deletion: Some(true),
                controller: Some(false),
            };
            let patch = serde_json::json!({"metadata": {"ownerReferences": [owner]}});
            for chunk in &chunk_names {
                if let Err(e) = self.secrets.patch(chunk, &PatchParams::default(), &Patch::Merge(&patch)).await {
                    tracing::warn!("could not set the owner of chunk Secret {chunk}: {e}");
                }
            }
        }
        Ok(())
    }

    async fn delete_names(&self, names: &[String]) {
        for n in names {
            let _ = self.secrets.delete(n, &DeleteParams::default()).await;
        }
    }

    async fn update_meta_async(&self, app: &AppKey, revision: u64, change: &MetaChange<'_>) -> Result<()> {
        let name = release_name(app, revision);
        retry::on_conflict(&format!("release store: Secret {}/{name}", self.namespace), || async {
            let mut secret = self
                .secrets
                .get(&name)
                .await
                .map_err(|e| self.api_error(e, &format!("reading Secret {name}"), app, revision))?;
            let meta = Self::meta_of(&secret)?;
            let Some(new) = change(&meta)? else {
                return Ok(Attempt::Done(()));
            };
            super::check_same_release(&meta, &new)?;
            secret
                .data
                .get_or_insert_with(BTreeMap::new)
                .insert("release.json".into(), ByteString(serde_json::to_vec(&new).expect("serializes")));
            secret
                .metadata
                .labels
                .get_or_insert_with(BTreeMap::new)
                .insert("rewind.dev/status".into(), new.status.as_str().into());
            secret.metadata.annotations.get_or_insert_with(BTreeMap::new).extend(Self::annotations(&new));
            // `secret` carries the resourceVersion it was read at: a concurrent
            // writer makes this a 409 Conflict, and we read again.
            match self.secrets.replace(&name, &PostParams::default(), &secret).await {
                Ok(_) => Ok(Attempt::Done(())),
                Err(e) if failure(&e) == Failure::Conflict => Ok(Attempt::Conflict),
                Err(e) => Err(self.api_error(e, &format!("updating Secret {name}"), app, revision)),
            }
        })
        .await
    }

    async fn delete_async(&self, app: &AppKey, revision: u64) -> Result<()> {
        let name = release_name(app, revision);
        self.secrets
            .delete(&name, &DeleteParams::default())
            .await
            .map_err(|e| self.api_error(e, &format!("deleting Secret {name}"), app, revision))?;
        // Chunks of this revision, including orphans of an interrupted write.
        let selector = format!("{},rewind.dev/revision={revision}", Self::selector(app, "chunk"));
        for chunk in self.list_secrets(&selector, app).await? {
            if let Some(n) = chunk.metadata.name {
                let _ = self.secrets.delete(&n, &DeleteParams::default()).await;
            }
        }
        Ok(())
    }

    /// The app's release Secrets, sorted into readable records and damaged
    /// ones. A Secret holding another app's record is that app's when its
    /// labels say so (label values are shortened and may be shared); else it
    /// is damaged, as is one whose name does not match its record.
    async fn scan_async(&self, app: &AppKey) -> Result<Listing> {
        let mut listing = Listing::default();
        for secret in self.list_secrets(&Self::selector(app, "release"), app).await? {
            let name = secret.metadata.name.clone().unwrap_or_default();
            let labels = secret.metadata.labels.clone().unwrap_or_default();
            let label_revision = labels.get("rewind.dev/revision").and_then(|r| r.parse::<u64>().ok());
            // A damaged Secret holds back a revision only where its name is one this app would write.
            let revision = name.strip_prefix(&format!("rewind.{}.v", app_key(app))).and_then(|n| n.parse().ok());
            let damaged = |why: String| Damaged { name: format!("Secret {}/{name}", self.namespace), revision, why };
            match Self::record_of(&secret) {
                Err(why) => listing.damaged.push(damaged(why)),
                Ok(meta) if meta.app != *app => {
                    if labels.get("rewind.dev/app") != Some(&app_label(&meta.app))
                        || name != release_name(&meta.app, meta.revision)
                    {
                        listing.damaged.push(damaged(format!(
                            "carries app {app}'s labels but holds a release of app {:?}",
                            meta.app
                        )));
                    }
                }
                Ok(meta) if name != release_name(app, meta.revision) || label_revision != Some(meta.revision) => {
                    listing
                        .damaged
                        .push(damaged(format!("holds revision {} under another name or revision label", meta.revision)))
                }
                Ok(meta) => listing.releases.push(meta),
            }
        }
        listing.releases.sort_by_key(|m| m.revision);
        listing.damaged.sort_by(|a, b| (a.revision, &a.name).cmp(&(b.revision, &b.name)));
        Ok(listing)
    }

    /// A Warning Event for each damaged Secret not yet reported by this process.
    async fn report_damaged(&self, app: &AppKey, damaged: &[Damaged]) {
        for d in damaged {
            if !self.reported.lock().expect("not poisoned").insert(d.name.clone()) {
                continue;
            }
            let message = format!("{} is skipped: {}; releases of app {app} go on without it", d.name, d.why);
            // Named after the Secret, so every process that finds it reports it on one Event.
            let name =
                format!("rewind.{}.damaged.{}", app_key(app), &hex::encode(Sha256::digest(d.name.as_bytes()))[..16]);
            match self.event_async(app, Some(name), DAMAGED_REASON, &message).await {
                Ok(()) | Err(Error::AlreadyExists { .. }) => {}
                Err(e) => tracing::warn!("could not emit a {DAMAGED_REASON} Event: {e}"),
            }
        }
    }

    /// A Warning Event about `app`, named `name` (else a generated name).
    async fn event_async(&self, app: &AppKey, name: Option<String>, reason: &str, message: &str) -> Result<()> {
        let regarding = release_reference(&self.namespace, app);
        self.recorder
            .publish(&regarding, EventType::Warning, reason, message, name)
            .await
            .map_err(|e| self.api_error(e, "creating an Event", app, 0))
    }
}

impl Store for KubernetesStore {
    fn url(&self) -> String {
        format!("kubernetes://{}", self.namespace)
    }

    fn scan(&self, app: &AppKey) -> Result<Listing> {
        self.runtime.block_on(async {
            let listing = self.scan_async(app).await?;
            self.report_damaged(app, &listing.damaged).await;
            Ok(listing)
        })
    }

    fn get(&self, app: &AppKey, revision: u64) -> Result<StoredRelease> {
        self.runtime.block_on(self.get_async(app, revision))
    }

    fn create(&self, release: &StoredRelease) -> Result<()> {
        self.runtime.block_on(self.create_async(release))
    }

    fn update_meta(&self, app: &AppKey, revision: u64, change: &MetaChange<'_>) -> Result<()> {
        self.runtime.block_on(self.update_meta_async(app, revision, change))
    }

    fn delete(&self, app: &AppKey, revision: u64) -> Result<()> {
        self.runtime.block_on(self.delete_async(app, revision))
    }

    fn report_failure(&self, app: &AppKey, reason: &str, message: &str) -> Result<()> {
        self.runtime.block_on(self.event_async(app, None, reason, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_always_valid() {
        assert_eq!(release_name("guestbook", 3), "rewind.guestbook.v3");
        assert_eq!(app_key("team-a_Guest.Book"), "x--team-0a-1-guest-2-book");
        let long = "x".repeat(300);
        assert!(release_name(&long, u64::MAX).len() + ".abcdef12.c9999".len() <= 253);
        assert_eq!(app_label("team-a_guestbook"), "team-a_guestbook");
        assert!(app_label(&long).len() <= 63);
        let dns = |s: &str| {
            s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
                && s.split('.').all(|l| {
                    l.starts_with(|c: char| c.is_ascii_alphanumeric())
                        && l.ends_with(|c: char| c.is_ascii_alphanumeric())
                })
        };
        for app in ["a", "A", "a_b", "a.b", "-a", "a-", "___", "x--a", &long] {
            assert!(dns(&release_name(app, 7)), "{app}: {}", release_name(app, 7));
        }
    }

    /// The old scheme kept `a-b-<8 hex>` as it was and hashed `a_b` to the
    /// same `a-b-<8 hex>`; now any two distinct app names get distinct keys.
    #[test]
    fn app_keys_are_injective() {
        let collider = format!("a-b-{}", &hex::encode(Sha256::digest(b"a_b"))[..8]);
        let names = [
            "a_b",
            "a.b",
            "a-b",
            "A-b",
            "a-B",
            "a--b",
            "x--a-1b",
            "a_1b",
            "a-1b",
            "a1b",
            "A",
            "-a",
            "a",
            collider.as_str(),
        ];
        let keys: HashSet<String> = names.iter().map(app_key).collect();
        assert_eq!(keys.len(), names.len(), "{keys:?}");
        // Exhaustively over short names of the alphabet app names use.
        let alphabet = ['a', 'B', '0', '-', '_', '.'];
        let mut all = vec![String::new()];
        let mut seen = HashSet::new();
        for _ in 0..4 {
            all = all.iter().flat_map(|p| alphabet.iter().map(move |c| format!("{p}{c}"))).collect();
            for name in &all {
                assert!(seen.insert(app_key(name)), "{name} shares its key");
            }
        }
    }
}
