//! Rollback: resolve a target (`N`, `previous`, `last-good`) and record a new
//! revision whose manifest is a byte-identical copy of the target's, with
//! `rollback_of` set (Helm's model). Repeating the same request records
//! nothing new, because the newest revision already holds those bytes.

use crate::error::{Error, Result};
use crate::history::{History, NewRelease, Recorded, source_identity};
use crate::release::{AppKey, Release, ReleaseMeta, SourceInfo, Status};
use std::fmt;
use std::str::FromStr;

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

/// What a rollback did.
#[derive(Debug, Clone)]
pub struct RollbackOutcome {
    /// The release rolled back to; its manifest is what to print.
    pub target: Release,
    /// The rollback revision written, or the newest one if nothing changed.
    pub recorded: Recorded,
}

/// Rolls `app` back to `target`: records a copy of its manifest as a new revision.
pub fn rollback(
    history: &History,
    app: &AppKey,
    target: Target,
    source: SourceInfo,
    history_max: usize,
) -> Result<RollbackOutcome> {
    let metas = history.list(app)?;
    let revision = resolve(app, &of_source(app, &metas, &source, target)?, target)?;
    let target_release = history.get(app, revision)?;
    let description = match target {
        Target::Revision(_) => format!("rollback to {revision}"),
        other => format!("rollback to {revision} ({other})"),
    };
    let new = NewRelease {
        app: app.clone(),
        manifest: target_release.manifest.clone(),
        source,
        rollback_of: Some(revision),
        description,
    };
    let recorded = history.record(new, history_max)?;
    Ok(RollbackOutcome { target: target_release, recorded })
}
