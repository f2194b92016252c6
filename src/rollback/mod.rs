//! Rollback: resolve a target (`N`, `previous`, `last-good`), run the checks
//! ([`class`]: forward-only releases and windows; [`preflight`]: API
//! versions, images, skip-on-rollback objects), and record a new revision
//! whose manifest is a byte-identical copy of the target's, with
//! `rollback_of` set (Helm's model) and the evidence: trigger, requester,
//! reason, each check's verdict. A refused rollback records nothing.
//! Repeating the same request records nothing new, because the newest
//! revision already holds those bytes.

pub mod class;
pub mod preflight;

pub use preflight::{ApiVersions, ImagePolicy, Preflight};

use crate::error::{Error, Result};
use crate::history::{History, NewRelease, Recorded, source_identity};
use crate::release::{
    AppKey, CheckResult, Release, ReleaseMeta, RollbackEvidence, SourceInfo, Status, Trigger, Verdict,
};
use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

/// What to roll back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A revision number.
    Revision(u64),
    /// The newest ordinary (non-rollback) release before the newest one,
    /// whose manifest differs from it.
    Previous,
    /// The newest release marked `deployed`.
    LastGood,
}

impl FromStr for Target {
    type Err = Error;
    fn from_str(s: &str) -> Result<Target> {
        let s = s.trim();
        match s {
            "previous" => Ok(Target::Previous),
            "last-good" => Ok(Target::LastGood),
            _ => match s.strip_prefix('v').unwrap_or(s).parse::<u64>() {
                Ok(n) if n > 0 => Ok(Target::Revision(n)),
                _ => Err(Error::Config(format!(
                    "rollback target {s:?} is not valid; use a revision number (1, 2, …), previous or last-good"
                ))),
            },
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Revision(n) => write!(f, "{n}"),
            Target::Previous => f.write_str("previous"),
            Target::LastGood => f.write_str("last-good"),
        }
    }
}

fn revisions(metas: &[ReleaseMeta]) -> String {
    if metas.is_empty() {
        return "none".into();
    }
    metas.iter().map(|m| format!("{} ({})", m.revision, m.status)).collect::<Vec<_>>().join(", ")
}

/// Resolves a target against an app's history (oldest first). Deterministic:
/// the same history always gives the same answer, and recording the rollback
/// does not change it (rollback copies are not ordinary releases).
pub fn resolve(app: &AppKey, metas: &[ReleaseMeta], target: Target) -> Result<u64> {
    let unavailable = |why: String| {
        Error::PreviousRevisionUnavailable(format!("app {app:?}: {why}; revisions in the store: {}", revisions(metas)))
    };
    match target {
        Target::Revision(n) => metas
            .iter()
            .find(|m| m.revision == n)
            .map(|m| m.revision)
            .ok_or_else(|| unavailable(format!("revision {n} does not exist (pruned or never recorded)"))),
        Target::Previous => {
            let mut ordinary = metas.iter().rev().filter(|m| m.rollback_of.is_none());
            let current = ordinary.next().ok_or_else(|| unavailable("there is no rendered release yet".into()))?;
            ordinary.find(|m| m.digest != current.digest).map(|m| m.revision).ok_or_else(|| {
                unavailable(format!("no release before revision {} has a different manifest", current.revision))
            })
        }
        Target::LastGood => {
            metas.iter().rev().find(|m| m.status == Status::Deployed).map(|m| m.revision).ok_or_else(|| {
                unavailable(
                    "no revision is marked deployed (mark one with `rewind mark APP REV --status deployed`)".into(),
                )
            })
        }
    }
}

/// The releases a rollback for `source` may choose from: those rendered from
/// the same repository and path, or from an unknown one. A revision asked for
/// by number that another source rendered is refused, never printed.
fn of_source(app: &AppKey, metas: &[ReleaseMeta], source: &SourceInfo, target: Target) -> Result<Vec<ReleaseMeta>> {
    let Some(ours) = source_identity(source) else { return Ok(metas.to_vec()) };
    let mine = |m: &ReleaseMeta| source_identity(&m.source).is_none_or(|theirs| theirs == ours);
    if let Target::Revision(n) = target
        && let Some(m) = metas.iter().find(|m| m.revision == n && !mine(m))
    {
        let (repo, path) = source_identity(&m.source).expect("not mine, so known");
        return Err(Error::PreviousRevisionUnavailable(format!(
            "app {app:?}: revision {n} was rendered from another source ({repo} path {path:?}), not from {} path {:?}; \
             if two rewind sources share this app key, give each its own REWIND_SOURCE_NAME",
            ours.0, ours.1
        )));
    }
    Ok(metas.iter().filter(|m| mine(m)).cloned().collect())
}

/// A rollback as asked for: the target and everything the checks and the
/// evidence need.
#[derive(Debug, Clone)]
pub struct Request {
    /// What to roll back to.
    pub target: Target,
    /// The source the rollback release records (and that limits the candidates).
    pub source: SourceInfo,
    /// Revisions to keep.
    pub history_max: usize,
    /// What asked.
    pub trigger: Trigger,
    /// Who asked, where known.
    pub requested_by: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// Let refusals through (`--force`), recorded.
    pub force: bool,
    /// What the preflight checks know.
    pub preflight: Preflight,
}

impl Request {
    /// A request for `target` with no evidence beyond its trigger, no override and no cluster data.
    pub fn new(target: Target, source: SourceInfo, history_max: usize, trigger: Trigger) -> Request {
        Request {
            target,
            source,
            history_max,
            trigger,
            requested_by: None,
            reason: None,
            force: false,
            preflight: Preflight::default(),
        }
    }
}

/// A rollback checked but not yet recorded.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The release rolled back to.
    pub target: Release,
    /// Each check and its verdict (refusals turned `overridden` under `force`).
    pub checks: Vec<CheckResult>,
    /// What to print: the target's bytes, less skip-on-rollback objects.
    pub printed: Vec<u8>,
    /// The objects left out.
    pub skipped: Vec<String>,
    /// Whether an override let a refusal through.
    pub forced: bool,
}

impl Plan {
    /// The checks that refuse it.
    pub fn refusals(&self) -> Vec<&CheckResult> {
        self.checks.iter().filter(|c| c.verdict == Verdict::Refuse).collect()
    }

    /// The error a refusal is: every refusing check, and the override.
    pub fn refused(&self, app: &AppKey) -> Option<Error> {
        let refusals = self.refusals();
        (!refusals.is_empty()).then(|| {
            let reasons: Vec<String> = refusals.iter().map(|c| format!("[{}] {}", c.check, c.detail)).collect();
            Error::RollbackRefused(format!(
                "rollback of app {app:?} to revision {} refused: {}",
                self.target.meta.revision,
                reasons.join(" ")
            ))
        })
    }

    /// The warnings to show whoever asked.
    pub fn warnings(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| matches!(c.verdict, Verdict::Warn | Verdict::Skipped | Verdict::Overridden))
            .map(|c| format!("rollback check {} ({}): {}", c.check, c.verdict.as_str(), c.detail))
            .collect()
    }
}

/// Resolves and checks a rollback without recording anything.
pub fn plan(history: &History, app: &AppKey, request: &Request) -> Result<Plan> {
    let metas = history.list(app)?;
    let revision = resolve(app, &of_source(app, &metas, &request.source, request.target)?, request.target)?;
    let target = history.get(app, revision)?;
    let mut checks = class::check_classes(&metas, &target.meta, SystemTime::now());
    let findings = request.preflight.run(&target.manifest)?;
    checks.extend(findings.checks);
    let forced = request.force && checks.iter().any(|c| c.verdict == Verdict::Refuse);
    if request.force {
        for c in checks.iter_mut().filter(|c| c.verdict == Verdict::Refuse) {
            c.verdict = Verdict::Overridden;
        }
    }
    Ok(Plan { target, checks, printed: findings.printed, skipped: findings.skipped, forced })
}

/// Why the checks refuse an automatic rollback of `app` to `target`, if
/// they do, against the API versions the cluster serves: what a controller
/// asks before it pins anything.
pub fn auto_refusal(
    history: &History,
    app: &AppKey,
    target: u64,
    api_versions: (ApiVersions, String),
) -> Result<Option<String>> {
    let mut request = Request::new(Target::Revision(target), SourceInfo::default(), usize::MAX, Trigger::Auto);
    request.preflight.api_versions = Some(api_versions);
    Ok(plan(history, app, &request)?.refused(app).map(|e| e.to_string()))
}

/// What a release printed: its manifest, less the objects a rollback left
/// out (its evidence names them), so a release can be served again exactly.
pub fn printed_manifest(release: &Release, limits: &crate::manifest::Limits) -> Result<Vec<u8>> {
    match &release.meta.evidence {
        Some(e) if !e.skipped.is_empty() => {
            let pre = Preflight { limits: *limits, ..Preflight::default() };
            Ok(pre.run(&release.manifest)?.printed)
        }
        _ => Ok(release.manifest.clone()),
    }
}

/// What a rollback did.
#[derive(Debug, Clone)]
pub struct RollbackOutcome {
    /// The release rolled back to.
    pub target: Release,
    /// The rollback revision written, or the newest one if nothing changed.
    pub recorded: Recorded,
    /// What to print: the target's manifest, less skip-on-rollback objects.
    pub printed: Vec<u8>,
    /// The checks and verdicts, for whoever asked.
    pub plan_warnings: Vec<String>,
}

/// Rolls `app` back as `request` says: checks it (a refusal is
/// [`Error::RollbackRefused`] and records nothing), then records a copy of
/// the target's manifest as a new revision with the evidence.
pub fn rollback(history: &History, app: &AppKey, request: &Request) -> Result<RollbackOutcome> {
    let plan = plan(history, app, request)?;
    if let Some(refused) = plan.refused(app) {
        return Err(refused);
    }
    let revision = plan.target.meta.revision;
    let description = match request.target {
        Target::Revision(_) => format!("rollback to {revision}"),
        other => format!("rollback to {revision} ({other})"),
    };
    let evidence = RollbackEvidence {
        trigger: request.trigger,
        requested_by: request.requested_by.clone(),
        reason: request.reason.clone(),
        checks: plan.checks.clone(),
        forced: plan.forced,
        skipped: plan.skipped.clone(),
        printed_digest: (!plan.skipped.is_empty()).then(|| crate::release::digest_of(&plan.printed)),
    };
    let new = NewRelease {
        app: app.clone(),
        manifest: plan.target.manifest.clone(),
        source: request.source.clone(),
        rollback_of: Some(revision),
        description,
        class: plan.target.meta.class.clone(),
        evidence: Some(evidence),
    };
    let recorded = history.record(&new, request.history_max)?;
    let plan_warnings = plan.warnings();
    Ok(RollbackOutcome { target: plan.target, recorded, printed: plan.printed, plan_warnings })
}
