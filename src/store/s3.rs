//! `s3://BUCKET[/PREFIX][?events-namespace=NS]`: one object per release,
//! `<prefix>/<app>/v<N>.release`, holding the same framed record as the file
//! store (digest-checked, zstd, possibly encrypted by the envelope above).
//!
//! Revisions are claimed with a conditional create (`If-None-Match: *`), so
//! concurrent writers never lose or duplicate one; status changes are
//! conditional updates on the ETag that was read (`If-Match`), retried on a
//! lost race. Every write carries the configured server-side encryption
//! headers. Each store operation, retries included, gives up after the store
//! timeout: Argo CD kills a slow `generate`, and half a release is never
//! written because an object appears whole or not at all.
//!
//! Settings come from the operator only (flags and `REWIND_S3_*`), and
//! credentials from the standard AWS chain, in its order: environment, the
//! shared credentials file's profile (static keys; object_store has no
//! profile support, so it is read here), web identity (IRSA), container and
//! instance metadata.

use super::frame::{HEADER_READ, frame, unframe};
use super::{Damaged, Listing, MetaChange, Store, StoreOptions};
use crate::error::{Error, Result};
use crate::kubeclient::events::{EventType, Recorder};
use crate::kubeclient::retry::{self, Attempt};
use crate::release::{AppKey, ReleaseMeta, StoredRelease};
use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    RetryConfig, UpdateVersion,
};
use std::time::Duration;

/// The default bound on one store operation, retries included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How many release records a listing reads at once.
const PARALLEL_READS: usize = 8;
/// The first bytes of an object hold its record in all but pathological cases.
const FIRST_READ: u64 = 64 * 1024;

/// Server-side encryption asked of the bucket on every write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sse {
    /// SSE-S3 (`AES256`): keys managed by the service.
    #[default]
    S3,
    /// SSE-KMS (`aws:kms`), with `--s3-sse-kms-key-id` or the account's default key.
    Kms,
    /// No header: only for services that cannot honour one.
    None,
}

impl std::str::FromStr for Sse {
    type Err = Error;
    fn from_str(s: &str) -> Result<Sse> {
        match s {
            "s3" => Ok(Sse::S3),
            "kms" => Ok(Sse::Kms),
            "none" => Ok(Sse::None),
            _ => Err(Error::Config(format!("--s3-sse / REWIND_S3_SSE {s:?}: use s3, kms or none"))),
        }
    }
}

/// The operator's S3 settings (flags, `REWIND_S3_*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    /// `--s3-endpoint`: an S3-compatible service's URL.
    pub endpoint: Option<String>,
    /// `--s3-region`, else `AWS_REGION`.
    pub region: Option<String>,
    /// `--s3-path-style`: `http://host/bucket/key` rather than `http://bucket.host/key`.
    pub path_style: bool,
    /// `--s3-allow-http`: plain HTTP to the endpoint.
    pub allow_http: bool,
    /// `--s3-sse`.
    pub sse: Sse,
    /// `--s3-sse-kms-key-id`.
    pub sse_kms_key_id: Option<String>,
    /// `--store-timeout`; `None` for the default.
    pub timeout: Option<Duration>,
}

/// A release store in an S3 bucket.
pub struct S3Store {
    url: String,
    prefix: ObjectPath,
    objects: AmazonS3,
    runtime: tokio::runtime::Runtime,
    options: StoreOptions,
    timeout: Duration,
    sse: String,
    events_namespace: Option<String>,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store").field("url", &self.url).finish_non_exhaustive()
    }
}

/// Static keys from the shared credentials file, for the profile chain link
/// object_store does not have: `AWS_SHARED_CREDENTIALS_FILE` (else
/// `~/.aws/credentials`), section `AWS_PROFILE` (else `default`).
fn profile_credentials() -> Option<(String, String, Option<String>)> {
    let path = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".aws/credentials")))?;
    let text = std::fs::read_to_string(path).ok()?;
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
    let mut in_section = false;
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_section = name.trim() == profile;
        } else if in_section && let Some((k, v)) = line.split_once('=') {
            let v = Some(v.trim().to_string());
            match k.trim() {
                "aws_access_key_id" => id = v,
                "aws_secret_access_key" => secret = v,
                "aws_session_token" => token = v,
                _ => {}
            }
        }
    }
    Some((id?, secret?, token))
}

/// Whether the environment holds static keys, which come before a profile in the chain.
fn env_has_keys() -> bool {
    std::env::var_os("AWS_ACCESS_KEY_ID").is_some_and(|v| !v.is_empty())
}

impl S3Store {
    /// Opens `s3://BUCKET[/PREFIX][?events-namespace=NS]` (the part after `s3://`).
    pub fn open(url_rest: &str, options: &StoreOptions) -> Result<S3Store> {
        let url = format!("s3://{url_rest}");
        let (location, query) = url_rest.split_once('?').unwrap_or((url_rest, ""));
        let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
        if bucket.is_empty() {
            return Err(Error::Config(format!("--store {url:?}: name a bucket, e.g. s3://my-bucket/rewind")));
        }
        let mut events_namespace = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("events-namespace", ns)) if !ns.is_empty() => events_namespace = Some(ns.to_string()),
                _ => {
                    return Err(Error::Config(format!(
                        "--store {url:?}: unknown parameter {pair:?}; the only one is events-namespace=NAMESPACE"
                    )));
                }
            }
        }
        let s3 = &options.s3;
        let timeout = s3.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_virtual_hosted_style_request(!s3.path_style)
            .with_allow_http(s3.allow_http)
            .with_client_options(
                // The operation's own bound (`run`) cuts a hung request first, and says so.
                ClientOptions::new()
                    .with_timeout(timeout + Duration::from_secs(1))
                    .with_connect_timeout(timeout.min(Duration::from_secs(5)))
                    .with_allow_http(s3.allow_http),
            )
            // 5xx, throttling and dropped connections are retried with backoff, within the operation's bound.
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(5),
                    base: 2.0,
                },
                max_retries: 8,
                retry_timeout: timeout,
            });
        if let Some(endpoint) = &s3.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(region) = &s3.region {
            builder = builder.with_region(region);
        }
        if !env_has_keys()
            && let Some((id, secret, token)) = profile_credentials()
        {
            builder = builder.with_access_key_id(id).with_secret_access_key(secret);
            if let Some(token) = token {
                builder = builder.with_token(token);
            }
        }
        let sse = match (s3.sse, &s3.sse_kms_key_id) {
            (Sse::S3, _) => {
                builder = builder.with_config(sse_key(), "AES256");
                "SSE-S3 (--s3-sse s3)".to_string()
            }
            (Sse::Kms, Some(key)) => {
                builder = builder.with_sse_kms_encryption(key);
                format!("SSE-KMS with key {key} (--s3-sse kms, --s3-sse-kms-key-id)")
            }
            (Sse::Kms, None) => {
                builder = builder.with_config(sse_key(), "aws:kms");
                "SSE-KMS with the account's default key (--s3-sse kms)".to_string()
            }
            (Sse::None, _) => "no server-side encryption (--s3-sse none)".to_string(),
        };
        crate::kubeclient::ensure_crypto_provider();
        let objects = builder.build().map_err(|e| Error::Config(format!("--store {url:?}: {e}")))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("cannot start the S3 client runtime", e))?;
        Ok(S3Store {
            url: format!("s3://{location}"),
            prefix: ObjectPath::from(prefix.trim_matches('/')),
            objects,
            runtime,
            options: options.clone(),
            timeout,
            sse,
            events_namespace,
        })
    }

    fn app_prefix(&self, app: &AppKey) -> ObjectPath {
        self.prefix.clone().join(app.as_str())
    }

    fn release_path(&self, app: &AppKey, revision: u64) -> ObjectPath {
        self.app_prefix(app).join(format!("v{revision}.release"))
    }

    fn shown(&self, path: &ObjectPath) -> String {
        format!("{}/{path}", self.url.split('/').take(3).collect::<Vec<_>>().join("/"))
    }

    /// Runs one store operation within the store timeout.
    fn run<T>(&self, what: &str, op: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        self.runtime.block_on(async {
            tokio::time::timeout(self.timeout, op).await.unwrap_or_else(|_| {
                Err(Error::Store(format!(
                    "{}: {what} got no answer within {}s; the S3 service is slow or unreachable \
                     (raise --store-timeout / REWIND_STORE_TIMEOUT only if it is known to be slow)",
                    self.url,
                    self.timeout.as_secs()
                )))
            })
        })
    }

    /// A failed request, said with what to do.
    fn error(&self, e: object_store::Error, doing: &str, path: &ObjectPath, app: &AppKey, revision: u64) -> Error {
        match e {
            object_store::Error::NotFound { .. } => Error::NotFound { app: app.to_string(), revision },
            object_store::Error::AlreadyExists { .. } => Error::AlreadyExists { app: app.to_string(), revision },
            e => {
                let text = e.to_string();
                let hint = if doing == "writing" && is_sse_refusal(&text) {
                    format!(
                        "the bucket refused the write's server-side encryption settings, {}; \
                         fix --s3-sse / --s3-sse-kms-key-id (REWIND_S3_SSE, REWIND_S3_SSE_KMS_KEY_ID), \
                         or use --s3-sse none for a service that cannot honour SSE headers",
                        self.sse
                    )
                } else if text.contains("403") || text.contains("AccessDenied") || text.contains("credential") {
                    "check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, IRSA) \
                     and that they may read and write this prefix"
                        .to_string()
                } else if text.contains("NoSuchBucket") {
                    "the bucket does not exist; create it or fix --store".to_string()
                } else {
                    "check --s3-endpoint, --s3-region and that the service is reachable".to_string()
                };
                Error::Store(format!("{}: {doing} {}: {}; {hint}", self.url, self.shown(path), summary(&text)))
            }
        }
    }

    /// The record of the object at `path`, read from its first bytes.
    async fn read_record(&self, path: &ObjectPath) -> std::result::Result<ReleaseMeta, String> {
        let mut want = FIRST_READ;
        loop {
            let options = GetOptions { range: Some(GetRange::Bounded(0..want)), ..GetOptions::default() };
            let got = self.objects.get_opts(path, options).await.map_err(|e| first_line(&e.to_string()))?;
            let size = got.meta.size;
            let head = got.bytes().await.map_err(|e| first_line(&e.to_string()))?;
            match unframe(&head, &self.shown(path)) {
                Ok((meta, _)) => return Ok(meta),
                Err(_) if want < HEADER_READ && size > want => want = HEADER_READ,
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// The whole object of a release with its version, refusing one that is
    /// too large or holds another app's or revision's record.
    async fn read_release(
        &self,
        app: &AppKey,
        revision: u64,
    ) -> Result<(ObjectPath, Vec<u8>, ReleaseMeta, usize, UpdateVersion)> {
        let path = self.release_path(app, revision);
        let got = self.objects.get(&path).await.map_err(|e| self.error(e, "reading", &path, app, revision))?;
        let max = self.options.max_release_bytes;
        let most = max.saturating_add(max / 64).saturating_add(HEADER_READ + 4096);
        if got.meta.size > most {
            return Err(Error::Corrupt(format!(
                "{}: {} bytes, more than a release within the {max}-byte limit can take; the stored release is \
                 damaged (raise --max-total-bytes if it is genuine)",
                self.shown(&path),
                got.meta.size
            )));
        }
        let version = UpdateVersion { e_tag: got.meta.e_tag.clone(), version: got.meta.version.clone() };
        let bytes = got.bytes().await.map_err(|e| self.error(e, "reading", &path, app, revision))?.to_vec();
        let (meta, offset) = unframe(&bytes, &self.shown(&path))?;
        if meta.app != *app || meta.revision != revision {
            return Err(Error::Corrupt(format!(
                "{}: holds {} revision {}, not {app} revision {revision}; the store was tampered with",
                self.shown(&path),
                meta.app,
                meta.revision
            )));
        }
        Ok((path, bytes, meta, offset, version))
    }

    async fn scan_async(&self, app: &AppKey) -> Result<Listing> {
        let prefix = self.app_prefix(app);
        // The listing pages through continuation tokens; only `v<N>.release` objects directly under the app count.
        let mut found = Vec::new();
        let mut pages = self.objects.list(Some(&prefix));
        while let Some(object) = pages.next().await {
            let object = object.map_err(|e| self.error(e, "listing", &prefix, app, 0))?;
            let Some(name) = object.location.prefix_match(&prefix).and_then(|mut parts| {
                let first = parts.next()?;
                parts.next().is_none().then(|| first.as_ref().to_string())
            }) else {
                continue;
            };
            if let Some(rev) = name.strip_prefix('v').and_then(|n| n.strip_suffix(".release")?.parse::<u64>().ok()) {
                found.push((rev, object.location));
            }
        }
        let records: Vec<_> = futures::stream::iter(found)
            .map(|(rev, path)| async move { (rev, self.read_record(&path).await, path) })
            .buffer_unordered(PARALLEL_READS)
            .collect()
            .await;
        let mut listing = Listing::default();
        for (rev, record, path) in records {
            let name = self.shown(&path);
            match record {
                Ok(meta) if meta.revision == rev && meta.app == *app => listing.releases.push(meta),
                Ok(meta) => listing.damaged.push(Damaged {
                    name,
                    revision: Some(rev),
                    why: format!("holds {} revision {}, not {app} revision {rev}", meta.app, meta.revision),
                }),
                // Deleted between the listing and the read by a concurrent prune: skip.
                Err(why) if why.contains("not found") || why.contains("NotFound") => {}
                Err(why) => listing.damaged.push(Damaged { name, revision: Some(rev), why }),
            }
        }
        listing.releases.sort_by_key(|m| m.revision);
        listing.damaged.sort_by_key(|d| d.revision);
        Ok(listing)
    }

    async fn create_async(&self, release: &StoredRelease) -> Result<()> {
        self.options.check_size(release)?;
        let (app, revision) = (&release.meta.app, release.meta.revision);
        let path = self.release_path(app, revision);
        let body = PutPayload::from(frame(&release.meta, &release.payload));
        let options = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        self.objects
            .put_opts(&path, body, options)
            .await
            .map_err(|e| self.error(e, "writing", &path, app, revision))?;
        Ok(())
    }

    async fn update_meta_async(&self, app: &AppKey, revision: u64, change: &MetaChange<'_>) -> Result<()> {
        retry::on_conflict(&format!("release store: {}", self.shown(&self.release_path(app, revision))), || async {
            let (path, bytes, meta, offset, version) = self.read_release(app, revision).await?;
            let Some(new) = change(&meta)? else {
                return Ok(Attempt::Done(()));
            };
            super::check_same_release(&meta, &new)?;
            let body = PutPayload::from(frame(&new, &bytes[offset..]));
            let options = PutOptions { mode: PutMode::Update(version), ..PutOptions::default() };
            match self.objects.put_opts(&path, body, options).await {
                Ok(_) => Ok(Attempt::Done(())),
                // Someone wrote in between (or deleted it): read again.
                Err(object_store::Error::Precondition { .. }) => Ok(Attempt::Conflict),
                Err(e) => Err(self.error(e, "writing", &path, app, revision)),
            }
        })
        .await
    }

    async fn delete_async(&self, app: &AppKey, revision: u64) -> Result<()> {
        let path = self.release_path(app, revision);
        // S3 answers a delete of nothing with success; the contract wants NotFound.
        self.objects.head(&path).await.map_err(|e| self.error(e, "reading", &path, app, revision))?;
        self.objects.delete(&path).await.map_err(|e| self.error(e, "deleting", &path, app, revision))
    }

    fn report_event(&self, namespace: &str, app: &AppKey, reason: &str, message: &str) -> Result<()> {
        let conn = crate::kubeclient::Connection::open(None, None)?;
        let regarding = super::kubernetes::release_reference(namespace, app);
        conn.runtime
            .block_on(Recorder::new(conn.client.clone()).publish(&regarding, EventType::Warning, reason, message, None))
            .map_err(|e| Error::Store(format!("cannot create an Event in namespace {namespace}: {e}")))
    }
}

/// The setting for the `x-amz-server-side-encryption` header.
fn sse_key() -> AmazonS3ConfigKey {
    "aws_server_side_encryption".parse().expect("object_store knows its SSE setting")
}

/// An error's first line, with the S3 error code and message of an XML
/// error body (which starts on the next line) appended.
fn summary(text: &str) -> String {
    let tag = |name: &str| {
        let start = text.find(&format!("<{name}>"))? + name.len() + 2;
        let end = text[start..].find(&format!("</{name}>"))? + start;
        Some(text[start..end].to_string())
    };
    let mut out = first_line(text).trim_end_matches(|c: char| c == ':' || c.is_whitespace()).to_string();
    if let Some(line) = out.find(": <?xml") {
        out.truncate(line);
    }
    match (tag("Code"), tag("Message")) {
        (Some(code), Some(message)) => format!("{out}: {code}: {}", message.chars().take(300).collect::<String>()),
        (Some(code), None) => format!("{out}: {code}"),
        _ => out,
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").chars().take(400).collect()
}

/// Whether an error from a write says the bucket refused its SSE headers.
fn is_sse_refusal(text: &str) -> bool {
    ["KMS.", "KMS ", "kms", "ServerSideEncryption", "server-side encryption", "x-amz-server-side-encryption"]
        .iter()
        .any(|needle| text.contains(needle))
}

impl Store for S3Store {
    fn url(&self) -> String {
        self.url.clone()
    }

    fn scan(&self, app: &AppKey) -> Result<Listing> {
        self.run("listing", self.scan_async(app))
    }

    fn get(&self, app: &AppKey, revision: u64) -> Result<StoredRelease> {
        self.run("reading", async {
            let (path, mut bytes, meta, offset, _) = self.read_release(app, revision).await?;
            let payload = bytes.split_off(offset);
            Ok(StoredRelease { meta, payload, location: self.shown(&path) })
        })
    }

    fn create(&self, release: &StoredRelease) -> Result<()> {
        self.run("writing", self.create_async(release))
    }

    fn update_meta(&self, app: &AppKey, revision: u64, change: &MetaChange<'_>) -> Result<()> {
        self.run("updating", self.update_meta_async(app, revision, change))
    }

    fn delete(&self, app: &AppKey, revision: u64) -> Result<()> {
        self.run("deleting", self.delete_async(app, revision))
    }

    fn report_failure(&self, app: &AppKey, reason: &str, message: &str) -> Result<()> {
        match &self.events_namespace {
            Some(namespace) => self.report_event(namespace, app, reason, message),
            None => Ok(()),
        }
    }
}
