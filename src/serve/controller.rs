//! The reconcile worker: takes Applications from the watchers, decides with
//! [`lifecycle`](super::lifecycle), and carries the decision out — release
//! status in the store, the pin and annotations on the Application, Events.
//! It runs on a thread of its own because the store and the Application
//! client are synchronous.

use super::lifecycle::{Plan, Policy, Rollback, plan, verdict};
use super::metrics::Metrics;
use super::observe::{LAST_GOOD_ANNOTATION, Observation, ROLLED_BACK_FROM_ANNOTATION};
use crate::argocd::application::{Application, ApplicationRef};
use crate::argocd::client::{Applications, CONTROLLER_FIELD_MANAGER};
use crate::error::{Error, Result};
use crate::history::History;
use crate::kubeclient::events::EventType;
use crate::release::{AppKey, ReleaseMeta, Status, Trigger};
use crate::rollback::{ApiVersions, auto_refusal};
use crate::store::Store;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

/// Event reasons, one per transition.
pub const DEPLOYED_REASON: &str = "ReleaseDeployed";
/// A release failed.
pub const FAILED_REASON: &str = "ReleaseFailed";
/// The controller pinned an earlier release.
pub const ROLLED_BACK_REASON: &str = "RolledBack";
/// A release failed and nothing before it was deployed.
pub const UNAVAILABLE_REASON: &str = "PreviousRevisionUnavailable";
/// Event reason: an automatic rollback's checks refused it; nothing was pinned.
pub const REFUSED_REASON: &str = "RollbackRefused";
/// Two rewind sources of one Application would share an app key: the controller leaves it alone.
pub const SHARED_KEY_REASON: &str = "SharedAppKey";

/// What the watchers send.
#[derive(Debug)]
pub enum Message {
    /// An Application as it now is.
    Applied(Box<Application>),
    /// An Application was deleted.
    Deleted(ApplicationRef),
}

/// How often the worker wakes without news, to end grace periods and beat.
const TICK: Duration = Duration::from_millis(250);
/// After a failed reconcile, look again after this, doubling per failure in a row…
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// …up to this.
const MAX_RETRY: Duration = Duration::from_secs(300);

/// What a reconcile asks for next (kube-runtime's `Action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing to do until the Application changes.
    AwaitChange,
    /// Look again at this time even without news (a grace period ends, or a retry).
    RequeueAt(SystemTime),
}

impl Action {
    /// The sooner of two actions.
    pub fn sooner(self, other: Action) -> Action {
        match (self, other) {
            (Action::RequeueAt(a), Action::RequeueAt(b)) => Action::RequeueAt(a.min(b)),
            (Action::RequeueAt(a), _) | (_, Action::RequeueAt(a)) => Action::RequeueAt(a),
            _ => Action::AwaitChange,
        }
    }
}

/// The wait after `failures` failed reconciles in a row: 1 s, 2 s, 4 s, … up to 5 minutes.
pub fn backoff(failures: u32) -> Duration {
    FIRST_RETRY.saturating_mul(1 << failures.min(16)).min(MAX_RETRY)
}

/// The worker's state.
pub struct Controller {
    store: Arc<dyn Store>,
    applications: Applications,
    policy: Policy,
    argocd_namespace: String,
    metrics: Arc<Metrics>,
    /// The newest version of every watched Application, by namespace/name.
    known: HashMap<(String, String), Application>,
    /// Failed reconciles in a row, per Application (for the backoff).
    failures: HashMap<(String, String), u32>,
    /// When to reconcile an Application again without news.
    recheck: HashMap<(String, String), SystemTime>,
    /// Apps already told about having no releases (said once, not on every event).
    told_empty: std::collections::HashSet<AppKey>,
    /// Applications already told that their rewind sources share an app key.
    told_shared: std::collections::HashSet<(String, String)>,
    /// When the controller first saw (app key, git revision, fingerprint) Degraded.
    degraded_since: HashMap<(AppKey, String, String), SystemTime>,
}

fn id(app: &ApplicationRef) -> (String, String) {
    (app.namespace.clone(), app.name.clone())
}

impl Controller {
    /// A worker over `store` and `applications`.
    pub fn new(
        store: Arc<dyn Store>,
        applications: Applications,
        policy: Policy,
        argocd_namespace: String,
        metrics: Arc<Metrics>,
    ) -> Controller {
        Controller {
            store,
            applications,
            policy,
            argocd_namespace,
            metrics,
            known: HashMap::new(),
            failures: HashMap::new(),
            recheck: HashMap::new(),
            degraded_since: HashMap::new(),
            told_empty: std::collections::HashSet::new(),
            told_shared: std::collections::HashSet::new(),
        }
    }

    /// Handles messages until the sender is gone; `heartbeat` gets the Unix
    /// time of every loop, for `/healthz`.
    pub fn run(mut self, messages: Receiver<Message>, heartbeat: Arc<AtomicU64>) {
        loop {
            let now = SystemTime::now();
            super::health::beat(&heartbeat);
            match messages.recv_timeout(TICK) {
                Ok(Message::Applied(application)) => self.reconcile_application(*application),
                Ok(Message::Deleted(app)) => {
                    if let Some(application) = self.known.remove(&id(&app)) {
                        for obs in Observation::all(&application, &self.argocd_namespace).unwrap_or_default() {
                            self.degraded_since.retain(|(k, _, _), _| *k != obs.key);
                            self.metrics.set_releases(obs.key.as_str(), None);
                        }
                    }
                    self.recheck.remove(&id(&app));
                    self.failures.remove(&id(&app));
                    self.told_shared.remove(&id(&app));
                }
                Err(RecvTimeoutError::Timeout) => {
                    let due: Vec<(String, String)> =
                        self.recheck.iter().filter(|(_, at)| **at <= now).map(|(k, _)| k.clone()).collect();
                    for key in due {
                        self.recheck.remove(&key);
                        if let Some(application) = self.known.get(&key).cloned() {
                            self.reconcile_application(application);
                        }
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Reconciles every rewind source of an Application; schedules the
    /// earliest recheck any of them needs. An Application whose rewind
    /// sources would share an app key is left alone, with one Warning Event.
    fn reconcile_application(&mut self, application: Application) {
        let app = application.reference();
        let observations = match Observation::all(&application, &self.argocd_namespace) {
            Ok(list) => list,
            Err(e) => {
                if self.told_shared.insert(id(&app)) {
                    let message = format!("{e}; rewind leaves this Application alone until then");
                    self.event(&application, EventType::Warning, SHARED_KEY_REASON, &message);
                }
                self.known.insert(id(&app), application);
                return;
            }
        };
        if observations.is_empty() {
            return;
        }
        self.told_shared.remove(&id(&app));
        let mut next = Action::AwaitChange;
        let mut failed = None;
        for obs in &observations {
            let started = Instant::now();
            let result = self.try_reconcile(&application, obs);
            self.metrics.reconcile_seconds.observe(started.elapsed().as_secs_f64());
            match result {
                Ok(action) => next = next.sooner(action),
                Err(e) => failed = Some((obs.source.describe(), e)),
            }
        }
        if let Some((source, e)) = failed {
            next = next.sooner(self.error_policy(&app, &source, &e));
        } else {
            self.failures.remove(&id(&app));
        }
        match next {
            Action::RequeueAt(at) => self.recheck.insert(id(&app), at),
            Action::AwaitChange => self.recheck.remove(&id(&app)),
        };
        self.known.insert(id(&app), application);
    }

    /// After a failed reconcile: log it and look again later, backing off
    /// while the failures go on (kube-runtime's `error_policy`).
    fn error_policy(&mut self, app: &ApplicationRef, source: &str, e: &Error) -> Action {
        let failures = self.failures.entry(id(app)).or_insert(0);
        let wait = backoff(*failures);
        *failures += 1;
        tracing::warn!("Application {app} ({source}): {e} (retrying in {})", humantime::format_duration(wait));
        Action::RequeueAt(SystemTime::now() + wait)
    }

    fn store_error(&self, e: Error) -> Error {
        self.metrics.store_errors.inc();
        e
    }

    fn api_error(&self, e: Error) -> Error {
        self.metrics.api_errors.inc();
        e
    }

    fn try_reconcile(&mut self, application: &Application, obs: &Observation) -> Result<Action> {
        let Some(sync) = &obs.sync else { return Ok(Action::AwaitChange) };
        let metas = self.store.list(&obs.key).map_err(|e| self.store_error(e))?;
        self.attribute_pin(application, obs, &metas);
        self.metrics.set_releases(obs.key.as_str(), Some(&metas.iter().map(|m| m.status).collect::<Vec<_>>()));
        if metas.is_empty() && self.told_empty.insert(obs.key.clone()) {
            tracing::info!(
                "Application {}: no releases under app key {:?} in {} yet (generate records them; if it has, check --argocd-namespace and --store)",
                obs.app,
                obs.key,
                self.store.url()
            );
        }
        let now = SystemTime::now();
        // Degraded-since is per synced revision and parameters: a new sync starts a new grace.
        let synced =
            (obs.key.clone(), sync.revision.clone().unwrap_or_default(), sync.fingerprint.clone().unwrap_or_default());
        // Only the current sync's entry is worth keeping.
        self.degraded_since.retain(|(k, r, f), _| *k != synced.0 || (r, f) == (&synced.1, &synced.2));
        let degraded_since = if obs.health == "Degraded" {
            Some(*self.degraded_since.entry(synced).or_insert(now))
        } else {
            self.degraded_since.remove(&synced);
            None
        };
        let v = verdict(obs, sync, degraded_since, now, self.policy.degraded_grace);
        match plan(obs, &metas, v, now, &self.policy) {
            Plan::Nothing { why, recheck } => {
                tracing::debug!("Application {}: {why}", obs.app);
                Ok(recheck.map_or(Action::AwaitChange, Action::RequeueAt))
            }
            Plan::LeftAlone(why) => {
                tracing::info!("Application {}: {why}", obs.app);
                Ok(Action::AwaitChange)
            }
            Plan::Deployed(release) => self.deployed(application, obs, &metas, &release).map(|()| Action::AwaitChange),
            Plan::Failed { release, why, rollback } => {
                self.failed(application, obs, &release, &why, rollback).map(|()| Action::AwaitChange)
            }
        }
    }

    fn event(&self, application: &Application, kind: EventType, reason: &str, message: &str) {
        match kind {
            EventType::Normal => tracing::info!("{reason}: {message}"),
            EventType::Warning => tracing::warn!("{reason}: {message}"),
        }
        // An Event is a notice, not state: a failed one is logged and counted.
        if let Err(e) = self.applications.event(application, kind, reason, message) {
            self.metrics.api_errors.inc();
            tracing::warn!("could not record the {reason} Event: {e}");
        }
    }

    fn deployed(
        &self,
        application: &Application,
        obs: &Observation,
        metas: &[ReleaseMeta],
        release: &ReleaseMeta,
    ) -> Result<()> {
        History::new(self.store.as_ref())
            .mark(&obs.key, release.revision, Status::Deployed)
            .map_err(|e| self.store_error(e))?;
        let revision = release.revision.to_string();
        if obs.last_good.as_deref() != Some(revision.as_str()) {
            self.applications
                .annotate(&obs.app, &obs.source.annotation_key(LAST_GOOD_ANNOTATION), &revision)
                .map_err(|e| self.api_error(e))?;
        }
        let superseded: Vec<String> = metas
            .iter()
            .filter(|m| m.status == Status::Deployed && m.revision != release.revision)
            .map(|m| m.revision.to_string())
            .collect();
        let what = match release.rollback_of {
            Some(of) => format!("release {} (a rollback to {of})", release.revision),
            None => format!("release {}", release.revision),
        };
        let mut message = format!(
            "{what} of app {} deployed: sync succeeded and Healthy at git revision {}",
            obs.key,
            release.source.revision.as_deref().unwrap_or("?")
        );
        if !superseded.is_empty() {
            message.push_str(&format!("; release {} superseded", superseded.join(", ")));
        }
        self.event(application, EventType::Normal, DEPLOYED_REASON, &message);
        self.metrics.set_releases(obs.key.as_str(), Some(&self.statuses(&obs.key)?));
        Ok(())
    }

    fn statuses(&self, key: &AppKey) -> Result<Vec<Status>> {
        Ok(self.store.list(key).map_err(|e| self.store_error(e))?.iter().map(|m| m.status).collect())
    }

    fn failed(
        &self,
        application: &Application,
        obs: &Observation,
        release: &ReleaseMeta,
        why: &str,
        rollback: Rollback,
    ) -> Result<()> {
        let failed = release.revision;
        // The checks generate will run on the pin, run first: a refusal pins nothing.
        let refused = match rollback {
            Rollback::Pin(target) => self.refusal(&obs.key, target)?,
            _ => None,
        };
        // Pin first, together with the once-only marker: if marking fails
        // afterwards, the marker still stops a second rollback.
        let pinned = match rollback {
            Rollback::Pin(_) if refused.is_some() => None,
            Rollback::Pin(target) => {
                let done = self
                    .applications
                    .pin_once(
                        &obs.app,
                        obs.source.name.as_deref(),
                        target,
                        &obs.source.annotation_key(ROLLED_BACK_FROM_ANNOTATION),
                        &failed.to_string(),
                    )
                    .map_err(|e| self.api_error(e))?;
                done.then_some(target)
            }
            _ => None,
        };
        History::new(self.store.as_ref()).mark(&obs.key, failed, Status::Failed).map_err(|e| self.store_error(e))?;
        let note = match rollback {
            Rollback::Off => "; automatic rollback is off for this Application (annotate it rewind.dev/auto-rollback=true, or run the controller with --auto-rollback)".to_string(),
            Rollback::ItselfARollback(Some(of)) => format!("; it is itself a rollback to release {of}: not rolling back again (fix forward, or pin a release with `rewind rollback`)"),
            Rollback::ItselfARollback(None) => "; it is itself a rollback: not rolling back again".to_string(),
            Rollback::AlreadyDone => "; it was already rolled back once".to_string(),
            Rollback::Unavailable | Rollback::Pin(_) => String::new(),
        };
        self.event(
            application,
            EventType::Warning,
            FAILED_REASON,
            &format!("release {failed} of app {} failed: {why}{note}", obs.key),
        );
        match (rollback, pinned) {
            (Rollback::Pin(target), _) if let Some(why) = &refused => {
                self.metrics.rollback("refused");
                self.event(
                    application,
                    EventType::Warning,
                    REFUSED_REASON,
                    &format!("from-revision {failed}, to-revision {target}, trigger auto: nothing pinned; {why}"),
                );
            }
            (Rollback::Pin(target), Some(_)) => {
                self.metrics.rollback("pinned");
                let mut message = format!(
                    "from-revision {failed}, to-revision {target}, trigger auto: release {failed} failed; pinned release {target} (REWIND_ROLLBACK_TO={target} in the plugin env): Argo CD regenerates and syncs it. Remove the pin with `rewind rollback --clear --application {}` once Git is fixed",
                    obs.app
                );
                if let Some(parent) = &obs.parent {
                    message.push_str(&format!(
                        ". This Application is managed by Application {parent:?}: a sync of the parent may revert the pin; pin it in the parent's source, or turn off self-heal there"
                    ));
                }
                self.event(application, EventType::Warning, ROLLED_BACK_REASON, &message);
            }
            (Rollback::Pin(_), None) => self.metrics.rollback("skipped"),
            (Rollback::Unavailable, _) => {
                self.metrics.rollback("unavailable");
                self.event(
                    application,
                    EventType::Warning,
                    UNAVAILABLE_REASON,
                    &format!(
                        "release {failed} of app {} failed and no release before it is marked deployed: nothing to roll back to",
                        obs.key
                    ),
                );
            }
            (Rollback::ItselfARollback(_) | Rollback::AlreadyDone, _) => self.metrics.rollback("skipped"),
            (Rollback::Off, _) => {}
        }
        self.metrics.set_releases(obs.key.as_str(), Some(&self.statuses(&obs.key)?));
        Ok(())
    }
}

impl Controller {
    /// Completes the evidence of the rollback release generate recorded for an
    /// Application's pin (generate cannot read the Application): who asked,
    /// as the field manager that last wrote the pin (managedFields), and
    /// `auto` when that was this controller. Best effort.
    fn attribute_pin(&self, application: &Application, obs: &Observation, metas: &[ReleaseMeta]) {
        let unattributed = |m: &&ReleaseMeta| {
            m.evidence.as_ref().is_some_and(|e| e.trigger == Trigger::ApplicationPin && e.requested_by.is_none())
        };
        let Some(latest) = metas.last().filter(unattributed) else { return };
        if application.pinned(&obs.source).is_none() {
            return;
        }
        let Some(manager) = application.env_manager(&obs.source) else { return };
        let auto = manager == CONTROLLER_FIELD_MANAGER;
        let requested_by = if auto {
            format!("{manager} (automatic rollback)")
        } else {
            format!("{manager} (field manager of the pin)")
        };
        let result = self.store.update_meta(&obs.key, latest.revision, &|m| {
            let Some(evidence) = m.evidence.as_ref().filter(|e| e.requested_by.is_none()) else { return Ok(None) };
            let mut evidence = evidence.clone();
            evidence.requested_by = Some(requested_by.clone());
            if auto {
                evidence.trigger = Trigger::Auto;
            }
            Ok(Some(ReleaseMeta { evidence: Some(evidence), ..m.clone() }))
        });
        if let Err(e) = result {
            tracing::warn!(
                "app {}: could not record who asked for the rollback in release {}: {e}",
                obs.key,
                latest.revision
            );
        }
    }

    /// Why the rollback checks refuse an automatic rollback of `key` to
    /// `target`, if they do; the cluster's API versions from its discovery.
    fn refusal(&self, key: &AppKey, target: u64) -> Result<Option<String>> {
        let served = self.applications.served_api_versions().map_err(|e| self.api_error(e))?;
        auto_refusal(&History::new(self.store.as_ref()), key, target, ApiVersions::discovered(&served))
            .map_err(|e| self.store_error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_the_sooner_action_wins() {
        let waits: Vec<u64> = (0..12).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        let (t1, t2) =
            (SystemTime::UNIX_EPOCH + Duration::from_secs(1), SystemTime::UNIX_EPOCH + Duration::from_secs(2));
        assert_eq!(Action::RequeueAt(t2).sooner(Action::RequeueAt(t1)), Action::RequeueAt(t1));
        assert_eq!(Action::AwaitChange.sooner(Action::RequeueAt(t2)), Action::RequeueAt(t2));
        assert_eq!(Action::AwaitChange.sooner(Action::AwaitChange), Action::AwaitChange);
    }
}
