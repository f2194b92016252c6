//! The release lifecycle, decided from an observation and the app's history
//! without side effects: which release a sync deployed, whether it is good,
//! failed or not yet known, and whether (and where) to roll back. The guards
//! follow Flux's remediation and Kargo's auto-rollback: never roll back a
//! rollback, never act on a stale failure, once per failed release.

use super::observe::{Observation, Phase, Sync};
use crate::release::{ReleaseMeta, Status};
use std::time::{Duration, SystemTime};

/// The controller's settings that shape decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// How long health may stay `Degraded` after a sync before the release fails.
    pub degraded_grace: Duration,
    /// Failures older than this are left alone (the controller was away).
    pub max_failure_age: Duration,
    /// Roll back every Application that does not opt out by annotation.
    pub auto_rollback: bool,
}

/// What the last sync's outcome says, before looking at releases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No outcome yet; look again at `recheck` if set.
    Wait {
        /// When the answer may change without a new event (the grace ends).
        recheck: Option<SystemTime>,
    },
    /// Synced and Healthy.
    Healthy,
    /// The sync failed, or health stayed Degraded past the grace.
    Failed {
        /// When it became a failure.
        at: SystemTime,
        /// Why, for the Event.
        why: String,
    },
}

/// Judges the last sync. `degraded_since` is when the controller first saw
/// this sync Degraded (used when Argo CD does not say).
pub fn verdict(
    obs: &Observation,
    sync: &Sync,
    degraded_since: Option<SystemTime>,
    now: SystemTime,
    grace: Duration,
) -> Verdict {
    match sync.phase {
        Phase::Running => Verdict::Wait { recheck: None },
        Phase::Failed => Verdict::Failed { at: sync.finished_at.unwrap_or(now), why: format!("sync {}", sync.message) },
        Phase::Succeeded => {
            // Health computed before the sync finished describes the old state.
            if let (Some(reconciled), Some(finished)) = (obs.reconciled_at, sync.finished_at)
                && reconciled < finished
            {
                return Verdict::Wait { recheck: None };
            }
            match obs.health.as_str() {
                "Healthy" => Verdict::Healthy,
                "Degraded" => {
                    let since = [obs.health_since.or(degraded_since), sync.finished_at]
                        .into_iter()
                        .flatten()
                        .max()
                        .unwrap_or(now);
                    let deadline = since + grace;
                    if now >= deadline {
                        Verdict::Failed {
                            at: deadline,
                            why: format!("health Degraded for more than {}", humantime::format_duration(grace)),
                        }
                    } else {
                        Verdict::Wait { recheck: Some(deadline) }
                    }
                }
                _ => Verdict::Wait { recheck: None },
            }
        }
    }
}

/// The release a sync deployed: the newest one recorded for the same git
/// revision and plugin env/parameters. A render whose manifest equalled the
/// newest release recorded nothing new, so failing that, a pinned sync
/// deployed the newest copy of the pinned release, and an ordinary one the
/// newest release with the same parameters recorded before it finished.
pub fn find_release<'a>(metas: &'a [ReleaseMeta], sync: &Sync) -> Option<&'a ReleaseMeta> {
    let same_params = |m: &ReleaseMeta| {
        sync.fingerprint.is_none()
            || m.source.params_fingerprint.is_none()
            || m.source.params_fingerprint == sync.fingerprint
    };
    let revision = sync.revision.as_deref()?;
    if let Some(m) = metas.iter().rev().find(|m| m.source.revision.as_deref() == Some(revision) && same_params(m)) {
        return Some(m);
    }
    if let Some(pin) = sync.pinned.as_deref().and_then(|p| p.parse::<u64>().ok()) {
        return metas
            .iter()
            .rev()
            .find(|m| m.rollback_of == Some(pin))
            .or_else(|| metas.iter().find(|m| m.revision == pin));
    }
    // Without a fingerprint, recency alone could pick another parameter set's release.
    sync.fingerprint.as_ref()?;
    let finished = sync.finished_at?;
    metas.iter().rev().find(|m| {
        same_params(m)
            && m.rollback_of.is_none()
            && humantime::parse_rfc3339_weak(&m.created).is_ok_and(|created| created <= finished)
    })
}

/// What to do about a failed release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollback {
    /// Auto-rollback is off for this Application.
    Off,
    /// The failed release is itself a rollback (of this revision, if known).
    ItselfARollback(Option<u64>),
    /// It was rolled back from once already.
    AlreadyDone,
    /// No release before it is marked deployed.
    Unavailable,
    /// Pin this revision.
    Pin(u64),
}

/// The controller's decision for one Application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Nothing to do (now); look again at `recheck` if set.
    Nothing {
        /// Why, for the debug log.
        why: String,
        /// When to look again without a new event.
        recheck: Option<SystemTime>,
    },
    /// A failure too old to act on: said once in the log, nothing else.
    LeftAlone(String),
    /// Mark this release deployed (the deployed one before becomes superseded).
    Deployed(ReleaseMeta),
    /// Mark this release failed, and roll back as said.
    Failed {
        /// The failed release.
        release: ReleaseMeta,
        /// Why it failed.
        why: String,
        /// What to do about it.
        rollback: Rollback,
    },
}

fn nothing(why: impl Into<String>) -> Plan {
    Plan::Nothing { why: why.into(), recheck: None }
}

/// Decides for one Application given its history (oldest first).
pub fn plan(obs: &Observation, metas: &[ReleaseMeta], verdict: Verdict, now: SystemTime, policy: &Policy) -> Plan {
    let Some(sync) = &obs.sync else { return nothing("no sync operation yet") };
    let Some(release) = find_release(metas, sync) else {
        return Plan::Nothing {
            why: format!(
                "no recorded release matches the sync of revision {}",
                sync.revision.as_deref().unwrap_or("?")
            ),
            recheck: None,
        };
    };
    let guards = Guards {
        auto_rollback: obs.auto_rollback.unwrap_or(policy.auto_rollback),
        pinned: sync.pinned.clone(),
        rolled_back_from: obs.rolled_back_from,
    };
    decide(release, metas, verdict, now, policy, &guards)
}

/// What the guards need to know beside the history, however an integration learns it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guards {
    /// Automatic rollback is on for this app.
    pub auto_rollback: bool,
    /// What was deployed was a pin (`REWIND_ROLLBACK_TO`, `spec.rollbackTo`, an automatic one).
    pub pinned: Option<String>,
    /// The failed release already rolled back from once.
    pub rolled_back_from: Option<u64>,
}

/// The decision for `release` given its outcome, with the guards every
/// integration shares (Flux's remediation and Kargo's auto-rollback have the
/// same): only pending releases fail; stale failures are left alone; a
/// rollback is never rolled back; one rollback per failed release; the
/// target is the newest deployed release before the failed one.
pub fn decide(
    release: &ReleaseMeta,
    metas: &[ReleaseMeta],
    verdict: Verdict,
    now: SystemTime,
    policy: &Policy,
    guards: &Guards,
) -> Plan {
    match verdict {
        Verdict::Wait { recheck } => {
            Plan::Nothing { why: format!("release {} has no outcome yet", release.revision), recheck }
        }
        Verdict::Healthy if release.status == Status::Deployed => nothing("already deployed"),
        Verdict::Healthy => Plan::Deployed(release.clone()),
        // A deployed release that degrades later is an incident, not a failed rollout.
        Verdict::Failed { .. } if release.status != Status::Pending => {
            nothing(format!("release {} is {}, not pending", release.revision, release.status))
        }
        Verdict::Failed { at, why } if now.duration_since(at).unwrap_or_default() > policy.max_failure_age => {
            Plan::LeftAlone(format!(
                "release {} failed ({why}) {} ago, longer than --max-failure-age {}: left alone",
                release.revision,
                humantime::format_duration(Duration::from_secs(now.duration_since(at).unwrap_or_default().as_secs())),
                humantime::format_duration(policy.max_failure_age)
            ))
        }
        Verdict::Failed { why, .. } => {
            let rollback = if !guards.auto_rollback {
                Rollback::Off
            } else if release.rollback_of.is_some() || guards.pinned.is_some() {
                Rollback::ItselfARollback(release.rollback_of.or_else(|| guards.pinned.as_deref()?.parse().ok()))
            } else if guards.rolled_back_from == Some(release.revision) {
                Rollback::AlreadyDone
            } else {
                metas
                    .iter()
                    .rev()
                    .find(|m| m.revision < release.revision && m.status == Status::Deployed)
                    .map_or(Rollback::Unavailable, |m| Rollback::Pin(m.revision))
            };
            Plan::Failed { release: release.clone(), why, rollback }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::argocd::application::{ApplicationRef, RewindSource};
    use crate::release::{AppKey, SourceInfo};

    const T0: u64 = 1_800_000_000;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(T0 + secs)
    }

    fn meta(revision: u64, git: &str, status: Status, rollback_of: Option<u64>) -> ReleaseMeta {
        ReleaseMeta {
            app: AppKey::new("guestbook").unwrap(),
            revision,
            status,
            created: humantime::format_rfc3339_seconds(at(revision * 10)).to_string(),
            source: SourceInfo {
                revision: Some(git.into()),
                params_fingerprint: Some(if rollback_of.is_some() { "pinned" } else { "plain" }.into()),
                ..SourceInfo::default()
            },
            digest: format!("sha256:{revision}"),
            size: 1,
            rollback_of,
            description: String::new(),
            encryption: None,
            class: None,
            deployed_at: None,
            evidence: None,
        }
    }

    fn obs(phase: Phase, git: &str, health: &str, pinned: Option<&str>, finished: u64) -> Observation {
        Observation {
            app: ApplicationRef { namespace: "argocd".into(), name: "guestbook".into() },
            source: RewindSource { index: None, name: None },
            key: AppKey::new("guestbook").unwrap(),
            auto_rollback: Some(true),
            parent: None,
            rolled_back_from: None,
            last_good: None,
            sync: Some(Sync {
                phase,
                message: "Succeeded".into(),
                revision: Some(git.into()),
                fingerprint: Some(if pinned.is_some() { "pinned" } else { "plain" }.into()),
                pinned: pinned.map(String::from),
                finished_at: Some(at(finished)),
            }),
            health: health.into(),
            health_since: None,
            reconciled_at: Some(at(finished + 1)),
        }
    }

    const POLICY: Policy = Policy {
        degraded_grace: Duration::from_secs(180),
        max_failure_age: Duration::from_secs(1200),
        auto_rollback: false,
    };

    fn decide(o: &Observation, metas: &[ReleaseMeta], degraded_since: Option<u64>, now: u64) -> Plan {
        let v = verdict(o, o.sync.as_ref().unwrap(), degraded_since.map(at), at(now), POLICY.degraded_grace);
        plan(o, metas, v, at(now), &POLICY)
    }

    #[test]
    fn healthy_sync_deploys_its_release() {
        let metas = [meta(1, "A", Status::Pending, None), meta(2, "B", Status::Pending, None)];
        assert_eq!(
            decide(&obs(Phase::Succeeded, "A", "Healthy", None, 100), &metas, None, 101),
            Plan::Deployed(metas[0].clone())
        );
        let mut stale = obs(Phase::Succeeded, "B", "Healthy", None, 100);
        stale.reconciled_at = Some(at(99));
        assert!(matches!(decide(&stale, &metas, None, 101), Plan::Nothing { .. }), "health from before the sync");
        let running = obs(Phase::Running, "B", "Healthy", None, 100);
        assert!(matches!(decide(&running, &metas, None, 101), Plan::Nothing { .. }));
    }

    #[test]
    fn degraded_past_grace_fails_and_pins_the_deployed_one() {
        let metas = [meta(1, "A", Status::Deployed, None), meta(2, "B", Status::Pending, None)];
        let o = obs(Phase::Succeeded, "B", "Degraded", None, 100);
        assert_eq!(
            decide(&o, &metas, Some(100), 200),
            Plan::Nothing { why: "release 2 has no outcome yet".into(), recheck: Some(at(280)) }
        );
        match decide(&o, &metas, Some(100), 281) {
            Plan::Failed { release, rollback, .. } => assert_eq!((release.revision, rollback), (2, Rollback::Pin(1))),
            other => panic!("{other:?}"),
        }
        let mut off = o.clone();
        off.auto_rollback = None;
        assert!(matches!(decide(&off, &metas, Some(100), 281), Plan::Failed { rollback: Rollback::Off, .. }));
        let mut done = o.clone();
        done.rolled_back_from = Some(2);
        assert!(matches!(decide(&done, &metas, Some(100), 281), Plan::Failed { rollback: Rollback::AlreadyDone, .. }));
        let none_before = [meta(1, "A", Status::Failed, None), meta(2, "B", Status::Pending, None)];
        assert!(matches!(
            decide(&o, &none_before, Some(100), 281),
            Plan::Failed { rollback: Rollback::Unavailable, .. }
        ));
    }

    #[test]
    fn guards() {
        let metas = [
            meta(1, "A", Status::Deployed, None),
            meta(2, "B", Status::Failed, None),
            meta(3, "B", Status::Pending, Some(1)),
        ];
        let o = obs(Phase::Failed, "B", "Degraded", Some("1"), 100);
        assert!(matches!(
            decide(&o, &metas, None, 110),
            Plan::Failed { rollback: Rollback::ItselfARollback(Some(1)), .. }
        ));
        assert!(matches!(decide(&o, &metas, None, 100 + 1201), Plan::LeftAlone(_)), "too old");
        let deployed = [meta(1, "A", Status::Deployed, None)];
        let o = obs(Phase::Succeeded, "A", "Degraded", None, 100);
        assert!(matches!(decide(&o, &deployed, Some(100), 1000), Plan::Nothing { .. }), "deployed stays deployed");
    }

    #[test]
    fn finds_releases_that_recorded_nothing_new() {
        // Revision C rendered the same manifest as 2: nothing was recorded for C.
        let metas = [meta(1, "A", Status::Deployed, None), meta(2, "B", Status::Pending, None)];
        let c = obs(Phase::Succeeded, "C", "Healthy", None, 100);
        assert_eq!(find_release(&metas, c.sync.as_ref().unwrap()).map(|m| m.revision), Some(2));
        let early = obs(Phase::Succeeded, "C", "Healthy", None, 15);
        assert_eq!(find_release(&metas, early.sync.as_ref().unwrap()).map(|m| m.revision), Some(1));
        // A pin whose copy was already the newest release.
        let metas = [
            meta(1, "A", Status::Deployed, None),
            meta(2, "B", Status::Failed, None),
            meta(3, "Z", Status::Pending, Some(1)),
        ];
        let pinned = obs(Phase::Succeeded, "B", "Healthy", Some("1"), 100);
        assert_eq!(find_release(&metas, pinned.sync.as_ref().unwrap()).map(|m| m.revision), Some(3));
    }
}
