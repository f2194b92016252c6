//! The Flux worker: for each RewindSource, fetches its source's artifact,
//! produces what to serve ([`produce`](crate::flux::produce)), publishes it
//! as an ExternalArtifact, and follows the Kustomizations that consume it
//! through the shared lifecycle ([`decide`](super::lifecycle::decide)):
//! deployed, failed, and — with `spec.autoRollback` — an automatic rollback
//! pinned in the RewindSource's status. Like the Argo CD worker it runs on a
//! thread of its own, because the store is synchronous.

pub mod outcome;

use super::artifacts::{ArtifactCache, artifact_path};
use super::controller::{
    Action, DEPLOYED_REASON, FAILED_REASON, REFUSED_REASON, ROLLED_BACK_REASON, UNAVAILABLE_REASON, backoff,
};
use super::lifecycle::{Guards, Plan, Policy, Rollback, decide};
use super::metrics::Metrics;
use crate::error::{Error, Result};
use crate::flux::artifact::MANIFEST_FILE;
use crate::flux::client::{FluxApi, Kustomization, UpstreamArtifact};
use crate::flux::crd::{AutoRollback, Condition, RewindSource, set_condition};
use crate::flux::fetch::{ArtifactLimits, FetchError, download, unpack, verify};
use crate::flux::produce::{Production, Served, Serving, app_key, produce, serving};
use crate::history::History;
use crate::kubeclient::Connection;
use crate::kubeclient::events::EventType;
use crate::manifest::Limits;
use crate::release::{AppKey, ReleaseMeta, Status, now_rfc3339};
use crate::render::Renderers;
use crate::rollback::{ApiVersions, auto_refusal};
use crate::store::Store;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

/// A notification that something changed (from `/flux/events`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    /// The involved object's kind.
    pub kind: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The revision the event is about, if it says.
    pub revision: Option<String>,
    /// The event's reason.
    pub reason: String,
}

/// What the watchers and the webhook send the Flux worker.
#[derive(Debug)]
pub enum FluxMessage {
    /// A RewindSource as it now is.
    Source(Box<RewindSource>),
    /// A RewindSource was deleted.
    SourceDeleted(String, String),
    /// A Kustomization as it now is.
    Kustomization(Box<Kustomization>),
    /// A Kustomization was deleted.
    KustomizationDeleted(String, String),
    /// Look again now.
    Hint(Hint),
}

/// The Flux worker's settings.
pub struct FluxSettings {
    /// Where kustomize-controller reaches the artifact server (`http://host:port`).
    pub base_url: String,
    /// How often each RewindSource's source is looked at without news.
    pub interval: Duration,
    /// The operator's renderers.
    pub renderers: Renderers,
    /// Input limits (for the artifact and the render).
    pub limits: Limits,
    /// Lifecycle policy (grace, failure age; auto-rollback comes from each spec).
    pub policy: Policy,
    /// Refuse a `spec.sourceRef` in another namespace (Flux's multi-tenancy lockdown).
    pub no_cross_namespace_refs: bool,
}

type Id = (String, String);

fn id_of(source: &RewindSource) -> Id {
    (source.metadata.namespace.clone().unwrap_or_default(), source.metadata.name.clone().unwrap_or_default())
}

/// What a production was made from: the same again fetches nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Inputs {
    upstream: UpstreamArtifact,
    generation: Option<i64>,
    pin: Option<u64>,
}

/// The last production of a RewindSource.
struct Produced {
    inputs: Inputs,
    /// It was served (else refused).
    served: bool,
    at: Instant,
}

/// How often the worker wakes without news.
const TICK: Duration = Duration::from_millis(250);

/// The worker's state.
pub struct FluxWorker {
    store: Arc<dyn Store>,
    conn: Connection,
    api: FluxApi,
    cache: Arc<ArtifactCache>,
    settings: FluxSettings,
    metrics: Arc<Metrics>,
    sources: HashMap<Id, RewindSource>,
    kustomizations: HashMap<Id, Kustomization>,
    due: HashMap<Id, SystemTime>,
    failures: HashMap<Id, u32>,
    produced: HashMap<Id, Produced>,
}

/// A failed production: the reason for `Ready=False`, and a message.
struct Refused {
    reason: &'static str,
    message: String,
    /// Whether the ExternalArtifact's `Ready` says so too (fetch and verification failures).
    on_artifact: bool,
}

impl Refused {
    fn fetch(e: &FetchError) -> Refused {
        Refused { reason: e.reason(), message: e.message().to_string(), on_artifact: true }
    }

    fn production(e: &Error) -> Refused {
        let reason = match e {
            Error::Store(_) | Error::Kubernetes { .. } | Error::Conflict(_) | Error::Corrupt(_) => {
                "StorageOperationFailed"
            }
            Error::PreviousRevisionUnavailable(_) | Error::NotFound { .. } => "RollbackFailed",
            Error::RollbackRefused(_) => "RollbackRefused",
            _ => "BuildFailed",
        };
        Refused { reason, message: e.to_string(), on_artifact: false }
    }
}

impl FluxWorker {
    /// A worker over `store`, talking to the API server through `conn`.
    pub fn new(
        store: Arc<dyn Store>,
        conn: Connection,
        cache: Arc<ArtifactCache>,
        settings: FluxSettings,
        metrics: Arc<Metrics>,
    ) -> FluxWorker {
        let api = FluxApi::new(conn.client.clone(), conn.server.clone());
        FluxWorker {
            store,
            conn,
            api,
            cache,
            settings,
            metrics,
            sources: HashMap::new(),
            kustomizations: HashMap::new(),
            due: HashMap::new(),
            failures: HashMap::new(),
            produced: HashMap::new(),
        }
    }

    /// Handles messages until the senders are gone; `heartbeat` gets the
    /// Unix time of every loop, for `/healthz`.
    pub fn run(mut self, messages: Receiver<FluxMessage>, heartbeat: Arc<AtomicU64>) {
        loop {
            let now = SystemTime::now();
            crate::serve::health::beat(&heartbeat);
            match messages.recv_timeout(TICK) {
                Ok(FluxMessage::Source(source)) => {
                    let id = id_of(&source);
                    self.sources.insert(id.clone(), *source);
                    self.reconcile(&id);
                }
                Ok(FluxMessage::SourceDeleted(namespace, name)) => self.forget(&(namespace, name)),
                Ok(FluxMessage::Kustomization(k)) => {
                    let consumed = k.external_artifact();
                    let id =
                        (k.metadata.namespace.clone().unwrap_or_default(), k.metadata.name.clone().unwrap_or_default());
                    self.kustomizations.insert(id, *k);
                    if let Some(source) = consumed.filter(|s| self.sources.contains_key(s)) {
                        self.reconcile(&source);
                    }
                }
                Ok(FluxMessage::KustomizationDeleted(namespace, name)) => {
                    self.kustomizations.remove(&(namespace, name));
                }
                Ok(FluxMessage::Hint(hint)) => {
                    for id in self.hinted(&hint) {
                        self.reconcile(&id);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    let due: Vec<Id> = self.due.iter().filter(|(_, at)| **at <= now).map(|(k, _)| k.clone()).collect();
                    for id in due {
                        self.due.remove(&id);
                        self.reconcile(&id);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// The RewindSources a hint concerns: the one named, those reading the
    /// source named, those a Kustomization named consumes; all for anything else.
    fn hinted(&self, hint: &Hint) -> Vec<Id> {
        let named = (hint.namespace.clone(), hint.name.clone());
        let all = || self.sources.keys().cloned().collect::<Vec<_>>();
        match hint.kind.as_str() {
            "RewindSource" => vec![named],
            "Kustomization" => match self.kustomizations.get(&named).and_then(Kustomization::external_artifact) {
                Some(id) => vec![id],
                None => all(),
            },
            kind => {
                let reads = |s: &RewindSource| {
                    let r = &s.spec.source_ref;
                    let namespace = r.namespace.as_ref().or(s.metadata.namespace.as_ref());
                    r.kind.name() == kind && r.name == hint.name && namespace == Some(&hint.namespace)
                };
                let matching: Vec<Id> =
                    self.sources.iter().filter(|(_, s)| reads(s)).map(|(id, _)| id.clone()).collect();
                if matching.is_empty() { all() } else { matching }
            }
        }
    }

    fn forget(&mut self, id: &Id) {
        self.sources.remove(id);
        self.due.remove(id);
        self.failures.remove(id);
        self.produced.remove(id);
        self.cache.forget(&id.0, &id.1);
        if let Ok(key) = AppKey::new(&format!("{}_{}", id.0, id.1)) {
            self.metrics.set_releases(key.as_str(), None);
        }
    }

    fn reconcile(&mut self, id: &Id) {
        let started = Instant::now();
        let result = self.try_reconcile(id);
        self.metrics.reconcile_seconds.observe(started.elapsed().as_secs_f64());
        let action = match result {
            Ok(action) => {
                self.failures.remove(id);
                action
            }
            Err(e) => {
                let failures = self.failures.entry(id.clone()).or_insert(0);
                let wait = backoff(*failures);
                *failures += 1;
                tracing::warn!(
                    "RewindSource {}/{}: {e} (retrying in {})",
                    id.0,
                    id.1,
                    humantime::format_duration(wait)
                );
                Action::RequeueAt(SystemTime::now() + wait)
            }
        };
        match action {
            Action::RequeueAt(at) => self.due.insert(id.clone(), at),
            Action::AwaitChange => self.due.remove(id),
        };
    }

    fn served_api_versions(&self) -> Result<(ApiVersions, String)> {
        let served = self.block(self.api.served_api_versions()).map_err(|e| self.api_error(e))?;
        Ok(ApiVersions::discovered(&served))
    }

    fn block<F: Future>(&self, f: F) -> F::Output {
        self.conn.runtime.block_on(f)
    }

    fn api_error(&self, e: Error) -> Error {
        self.metrics.api_errors.inc();
        e
    }

    fn store_error(&self, e: Error) -> Error {
        self.metrics.store_errors.inc();
        e
    }

    /// Produces and publishes what the RewindSource serves, then follows its
    /// consumers; an automatic rollback produces again at once.
    fn try_reconcile(&mut self, id: &Id) -> Result<Action> {
        let poll = Action::RequeueAt(SystemTime::now() + self.settings.interval);
        for _ in 0..2 {
            let Some(source) = self.block(self.api.rewind_source(&id.0, &id.1)).map_err(|e| self.api_error(e))? else {
                self.forget(id);
                return Ok(Action::AwaitChange);
            };
            // A refused source stays refused until it changes: look again at the interval.
            if let Err(refused) = self.produce(&source)? {
                self.refuse(&source, &refused)?;
                return Ok(poll);
            }
            let Some(source) = self.block(self.api.rewind_source(&id.0, &id.1)).map_err(|e| self.api_error(e))? else {
                return Ok(Action::AwaitChange);
            };
            match self.follow(&source)? {
                Some(action) => return Ok(poll.sooner(action)),
                // Pinned: serve the rollback now.
                None => continue,
            }
        }
        Ok(poll)
    }

    /// Fetches, renders or rolls back, records, publishes: `Err(Refused)`
    /// when the source or the render is refused (nothing recorded, the
    /// previous artifact stays published); `Err(Error)` for API failures.
    fn produce(&mut self, source: &RewindSource) -> Result<std::result::Result<(), Refused>> {
        let id = id_of(source);
        let r = &source.spec.source_ref;
        if self.settings.no_cross_namespace_refs
            && let Some(other) = r.namespace.as_deref().filter(|ns| *ns != id.0)
        {
            return Ok(Err(Refused {
                reason: "AccessDenied",
                message: format!(
                    "spec.sourceRef names {} {other}/{}: cross-namespace references are not allowed here (--no-cross-namespace-refs); use a source in {}",
                    r.kind.name(),
                    r.name,
                    id.0
                ),
                on_artifact: false,
            }));
        }
        let Some(upstream) = self.block(self.api.upstream(source)).map_err(|e| self.api_error(e))? else {
            return Ok(Err(Refused {
                reason: "SourceNotReady",
                message: format!(
                    "{} {}/{} has no artifact yet (or does not exist)",
                    r.kind.name(),
                    r.namespace.as_deref().or(source.metadata.namespace.as_deref()).unwrap_or(""),
                    r.name
                ),
                on_artifact: false,
            }));
        };
        let pin = source.status.as_ref().and_then(|s| s.auto_rollback.as_ref());
        let inputs = Inputs {
            pin: pin.filter(|p| p.source_revision == upstream.revision).map(|p| p.release),
            upstream: upstream.clone(),
            generation: source.metadata.generation,
        };
        // Unchanged inputs fetch nothing; a refusal is tried again after the interval.
        if let Some(last) = self.produced.get(&id)
            && last.inputs == inputs
            && (last.served || last.at.elapsed() < self.settings.interval)
        {
            return Ok(Ok(()));
        }
        let result = self.fetch_and_produce(source, &upstream)?;
        self.produced.insert(id, Produced { inputs, served: result.is_ok(), at: Instant::now() });
        Ok(result)
    }

    fn fetch_and_produce(
        &mut self,
        source: &RewindSource,
        upstream: &UpstreamArtifact,
    ) -> Result<std::result::Result<(), Refused>> {
        let id = id_of(source);
        let limits = ArtifactLimits::from_limits(&self.settings.limits);
        let fetched =
            download(&upstream.url, &limits).and_then(|bytes| verify(&bytes, &upstream.digest).map(|()| bytes));
        let dir = tempfile::tempdir().map_err(|e| Error::io("cannot create a directory for the source artifact", e))?;
        let unpacked = fetched.and_then(|bytes| unpack(&bytes, dir.path(), &limits));
        let unpacked = match unpacked {
            Ok(u) => u,
            Err(e) => return Ok(Err(Refused::fetch(&e))),
        };
        for link in &unpacked.skipped {
            tracing::info!(
                "RewindSource {}/{}: skipped symlink {link:?} in the source artifact, as Flux does",
                id.0,
                id.1
            );
        }
        // A rollback is checked against what the cluster serves; a render needs no discovery.
        let api_versions = match serving(source, &upstream.revision) {
            Ok(Serving::Render) | Err(_) => None,
            Ok(_) => Some(self.served_api_versions()?),
        };
        let production = Production {
            history: &History::new(self.store.as_ref()),
            root: dir.path(),
            upstream_revision: &upstream.revision,
            renderers: &self.settings.renderers,
            limits: self.settings.limits,
            api_versions,
        };
        let served = match produce(source, &production) {
            Ok(served) => served,
            Err(e) => return Ok(Err(Refused::production(&e))),
        };
        self.publish(source, &served, upstream)?;
        self.metrics.production("served");
        Ok(Ok(()))
    }

    /// Publishes `served` and records it in the RewindSource's status.
    fn publish(&self, source: &RewindSource, served: &Served, upstream: &UpstreamArtifact) -> Result<()> {
        let (namespace, name) = id_of(source);
        let artifact = &served.artifact;
        let revision = artifact.revision(served.release.revision);
        self.cache.insert(&namespace, &name, artifact.clone());
        let path = artifact_path(&namespace, &name, artifact);
        let status = json!({
            "digest": artifact.digest(),
            "lastUpdateTime": now_rfc3339(),
            "metadata": {"org.opencontainers.image.revision": upstream.revision},
            "path": path,
            "revision": revision,
            "size": artifact.bytes.len(),
            "url": format!("{}/{path}", self.settings.base_url.trim_end_matches('/')),
        });
        let ready = Condition::ready(true, "Succeeded", &format!("stored artifact for revision '{revision}'"), None);
        self.block(self.api.publish(source, Some(status), ready)).map_err(|e| self.api_error(e))?;

        let what = describe(&served.release);
        let message = format!("serving {what} as {revision} ({MANIFEST_FILE}), source revision {}", upstream.revision);
        let generation = source.metadata.generation;
        self.block(self.api.update_status(&namespace, &name, |s| {
            let mut changed =
                set_condition(&mut s.conditions, Condition::ready(true, "Succeeded", &message, generation));
            changed |= assign(&mut s.observed_generation, generation);
            changed |= assign(&mut s.source_revision, Some(upstream.revision.clone()));
            changed |= assign(&mut s.served_release, Some(served.release.revision));
            changed |= assign(&mut s.served_revision, Some(revision.clone()));
            // A new source revision ends an automatic rollback.
            if s.auto_rollback.as_ref().is_some_and(|p| p.source_revision != upstream.revision) {
                s.auto_rollback = None;
                changed = true;
            }
            changed
        }))
        .map_err(|e| self.api_error(e))?;
        if served.recorded
            && let (Some(of), Ok(Serving::Rollback(target))) =
                (served.release.rollback_of, serving(source, &upstream.revision))
        {
            let from = source.status.as_ref().and_then(|s| s.served_release).map_or("none".into(), |r| r.to_string());
            let message = format!(
                "from-revision {from}, to-revision {of}, trigger rewind-source: spec.rollbackTo {target}: serving release {of}'s manifest again as release {} ({revision}); clear spec.rollbackTo (or `rewind rollback --clear --rewind-source {namespace}/{name}`) to follow the source again",
                served.release.revision
            );
            self.event(source, EventType::Normal, ROLLED_BACK_REASON, &message);
        }
        self.metrics.set_releases(served.release.app.as_str(), Some(&self.statuses(&served.release.app)?));
        Ok(())
    }

    /// Says why a production was refused: `Ready=False` on the RewindSource
    /// (and, for a bad source artifact, on the ExternalArtifact, whose
    /// artifact stays as it was), and a Warning Event when that is news.
    fn refuse(&self, source: &RewindSource, refused: &Refused) -> Result<()> {
        let (namespace, name) = id_of(source);
        self.metrics.production(refused.reason);
        tracing::warn!("RewindSource {namespace}/{name}: {}: {}", refused.reason, refused.message);
        if refused.on_artifact {
            let ready = Condition::ready(false, refused.reason, &refused.message, None);
            self.block(self.api.publish(source, None, ready)).map_err(|e| self.api_error(e))?;
        }
        let generation = source.metadata.generation;
        let changed = self
            .block(self.api.update_status(&namespace, &name, |s| {
                let ready = Condition::ready(false, refused.reason, &refused.message, generation);
                set_condition(&mut s.conditions, ready) | assign(&mut s.observed_generation, generation)
            }))
            .map_err(|e| self.api_error(e))?;
        if changed {
            let message = format!("{}; still serving the previous artifact", refused.message);
            self.event(source, EventType::Warning, refused.reason, &message);
        }
        Ok(())
    }

    fn event(&self, source: &RewindSource, kind: EventType, reason: &str, message: &str) {
        match kind {
            EventType::Normal => tracing::info!("{reason}: {message}"),
            EventType::Warning => tracing::warn!("{reason}: {message}"),
        }
        // An Event is a notice, not state: a failed one is logged and counted.
        if let Err(e) = self.block(self.api.event(source, kind, reason, message)) {
            self.metrics.api_errors.inc();
            tracing::warn!("could not record the {reason} Event: {e}");
        }
    }

    fn statuses(&self, key: &AppKey) -> Result<Vec<Status>> {
        Ok(self.store.list(key).map_err(|e| self.store_error(e))?.iter().map(|m| m.status).collect())
    }

    /// Follows the Kustomizations that consume the served release: `None`
    /// when it pinned an automatic rollback (produce again now), else when
    /// to look again.
    fn follow(&self, source: &RewindSource) -> Result<Option<Action>> {
        let id = id_of(source);
        let status = source.status.clone().unwrap_or_default();
        let (Some(served_release), Some(served)) = (status.served_release, status.served_revision.clone()) else {
            return Ok(Some(Action::AwaitChange));
        };
        let consumers: Vec<&Kustomization> =
            self.kustomizations.values().filter(|k| k.external_artifact().as_ref() == Some(&id)).collect();
        if consumers.is_empty() {
            return Ok(Some(Action::AwaitChange));
        }
        let key = app_key(source)?;
        let metas = self.store.list(&key).map_err(|e| self.store_error(e))?;
        let Some(release) = metas.iter().find(|m| m.revision == served_release) else {
            return Ok(Some(Action::AwaitChange));
        };
        let now = SystemTime::now();
        let created = humantime::parse_rfc3339_weak(&release.created).unwrap_or(now);
        let policy = &self.settings.policy;
        let verdict = outcome::verdict(&consumers, &served, created, now, policy.degraded_grace);
        let guards = Guards {
            auto_rollback: source.spec.auto_rollback,
            pinned: source.spec.rollback_target().map(String::from).or_else(|| {
                let pin = status.auto_rollback.as_ref()?;
                (Some(&pin.source_revision) == status.source_revision.as_ref()).then(|| pin.release.to_string())
            }),
            rolled_back_from: status.rolled_back_from,
        };
        match decide(release, &metas, verdict, now, policy, &guards) {
            Plan::Nothing { why, recheck } => {
                tracing::debug!("RewindSource {}/{}: {why}", id.0, id.1);
                Ok(Some(recheck.map_or(Action::AwaitChange, Action::RequeueAt)))
            }
            Plan::LeftAlone(why) => {
                tracing::info!("RewindSource {}/{}: {why}", id.0, id.1);
                Ok(Some(Action::AwaitChange))
            }
            Plan::Deployed(release) => {
                self.deployed(source, &key, &metas, &release, &consumers)?;
                Ok(Some(Action::AwaitChange))
            }
            Plan::Failed { release, why, rollback } => {
                let pinned = self.failed(source, &key, &release, &why, rollback)?;
                Ok(if pinned { None } else { Some(Action::AwaitChange) })
            }
        }
    }

    fn deployed(
        &self,
        source: &RewindSource,
        key: &AppKey,
        metas: &[ReleaseMeta],
        release: &ReleaseMeta,
        consumers: &[&Kustomization],
    ) -> Result<()> {
        let (namespace, name) = id_of(source);
        History::new(self.store.as_ref())
            .mark(key, release.revision, Status::Deployed)
            .map_err(|e| self.store_error(e))?;
        self.block(
            self.api.update_status(&namespace, &name, |s| assign(&mut s.last_good_revision, Some(release.revision))),
        )
        .map_err(|e| self.api_error(e))?;
        let superseded: Vec<String> = metas
            .iter()
            .filter(|m| m.status == Status::Deployed && m.revision != release.revision)
            .map(|m| m.revision.to_string())
            .collect();
        let by: Vec<String> = consumers
            .iter()
            .map(|k| {
                format!(
                    "{}/{}",
                    k.metadata.namespace.as_deref().unwrap_or(""),
                    k.metadata.name.as_deref().unwrap_or("")
                )
            })
            .collect();
        let mut message = format!(
            "{} of app {key} deployed: Kustomization {} applied it and is Ready (source revision {})",
            describe(release),
            by.join(", "),
            release.source.revision.as_deref().unwrap_or("?")
        );
        if !superseded.is_empty() {
            message.push_str(&format!("; release {} superseded", superseded.join(", ")));
        }
        self.event(source, EventType::Normal, DEPLOYED_REASON, &message);
        self.metrics.set_releases(key.as_str(), Some(&self.statuses(key)?));
        Ok(())
    }

    /// Marks the release failed; pins an automatic rollback when the guards
    /// allow (the pin and the once-only marker in one guarded status write).
    /// `true` if it pinned.
    fn failed(
        &self,
        source: &RewindSource,
        key: &AppKey,
        release: &ReleaseMeta,
        why: &str,
        rollback: Rollback,
    ) -> Result<bool> {
        let (namespace, name) = id_of(source);
        let failed = release.revision;
        // The checks the rollback release will pass, run first: a refusal pins nothing.
        let refused = match rollback {
            Rollback::Pin(target) => {
                auto_refusal(&History::new(self.store.as_ref()), key, target, self.served_api_versions()?)
                    .map_err(|e| self.store_error(e))?
            }
            _ => None,
        };
        let pinned = match rollback {
            Rollback::Pin(_) if refused.is_some() => false,
            Rollback::Pin(target) => self
                .block(self.api.update_status(&namespace, &name, |s| {
                    if s.rolled_back_from == Some(failed) {
                        return false;
                    }
                    let source_revision = s.source_revision.clone().unwrap_or_default();
                    s.auto_rollback = Some(AutoRollback { release: target, failed, source_revision });
                    s.rolled_back_from = Some(failed);
                    true
                }))
                .map_err(|e| self.api_error(e))?,
            _ => false,
        };
        History::new(self.store.as_ref()).mark(key, failed, Status::Failed).map_err(|e| self.store_error(e))?;
        let note = match rollback {
            Rollback::Off => {
                "; automatic rollback is off for this RewindSource (set spec.autoRollback: true)".to_string()
            }
            Rollback::ItselfARollback(Some(of)) => format!(
                "; it is itself a rollback to release {of}: not rolling back again (fix forward, or set spec.rollbackTo)"
            ),
            Rollback::ItselfARollback(None) => "; it is itself a rollback: not rolling back again".to_string(),
            Rollback::AlreadyDone => "; it was already rolled back once".to_string(),
            Rollback::Unavailable | Rollback::Pin(_) => String::new(),
        };
        self.event(
            source,
            EventType::Warning,
            FAILED_REASON,
            &format!("release {failed} of app {key} failed: {why}{note}"),
        );
        match rollback {
            Rollback::Pin(target) if let Some(why) = &refused => {
                self.metrics.rollback("refused");
                let message =
                    format!("from-revision {failed}, to-revision {target}, trigger auto: nothing pinned; {why}");
                self.event(source, EventType::Warning, REFUSED_REASON, &message);
            }
            Rollback::Pin(target) if pinned => {
                self.metrics.rollback("pinned");
                let message = format!(
                    "from-revision {failed}, to-revision {target}, trigger auto: release {failed} failed; serving release {target} again (recorded as a rollback release) until the source's revision changes; set spec.rollbackTo to keep it longer"
                );
                self.event(source, EventType::Warning, ROLLED_BACK_REASON, &message);
            }
            Rollback::Pin(_) | Rollback::ItselfARollback(_) | Rollback::AlreadyDone => self.metrics.rollback("skipped"),
            Rollback::Unavailable => {
                self.metrics.rollback("unavailable");
                let message = format!(
                    "release {failed} of app {key} failed and no release before it is marked deployed: nothing to roll back to"
                );
                self.event(source, EventType::Warning, UNAVAILABLE_REASON, &message);
            }
            Rollback::Off => {}
        }
        self.metrics.set_releases(key.as_str(), Some(&self.statuses(key)?));
        Ok(pinned)
    }
}

/// `release 3` or `release 3 (a rollback to release 1)`.
fn describe(release: &ReleaseMeta) -> String {
    match release.rollback_of {
        Some(of) => format!("release {} (a rollback to release {of})", release.revision),
        None => format!("release {}", release.revision),
    }
}

/// Sets `slot` to `value`; `true` if that changed it.
fn assign<T: PartialEq>(slot: &mut T, value: T) -> bool {
    let changed = *slot != value;
    *slot = value;
    changed
}
