//! What the Kustomizations that consume a RewindSource's ExternalArtifact
//! say about the release it serves, as a [`Verdict`] the shared lifecycle
//! decides on. Pure: status in, verdict out.
//!
//! Flux's facts: `Ready=True` with `lastAppliedRevision` = the served
//! revision means applied (and healthy, when health checks are on). A
//! failed apply or health check leaves `lastAppliedRevision` on the previous
//! revision and sets `Ready=False` with `lastAttemptedRevision` = the served
//! one. `DependencyNotReady` and `ArtifactFailed` say nothing about the
//! release's content, so they are not its failure.

use crate::flux::client::Kustomization;
use crate::serve::lifecycle::Verdict;
use std::time::{Duration, SystemTime};

/// `Ready=False` reasons that are not the release's fault.
const NOT_THE_RELEASE: &[&str] = &["DependencyNotReady", "ArtifactFailed"];

/// How one Kustomization stands with the served revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Applied and Ready.
    Applied,
    /// Tried and not Ready: since when (the condition's transition), and why.
    Failing {
        /// `Ready`'s `lastTransitionTime`.
        since: Option<SystemTime>,
        /// `reason: message`, for Events.
        why: String,
    },
    /// No outcome for this revision yet.
    Unknown,
}

/// How `k` stands with `served` (`v<N>@sha256:…`).
pub fn standing(k: &Kustomization, served: &str) -> Standing {
    let Some(ready) = k.ready() else { return Standing::Unknown };
    let applied = k.status.last_applied_revision.as_deref() == Some(served);
    let attempted = k.status.last_attempted_revision.as_deref() == Some(served);
    match ready.status.as_str() {
        "True" if applied => Standing::Applied,
        "False" if attempted && !NOT_THE_RELEASE.contains(&ready.reason.as_str()) => Standing::Failing {
            since: humantime::parse_rfc3339_weak(&ready.last_transition_time).ok(),
            why: format!(
                "Kustomization {}/{}: Ready=False {}: {}",
                k.metadata.namespace.as_deref().unwrap_or(""),
                k.metadata.name.as_deref().unwrap_or(""),
                ready.reason,
                ready.message
            ),
        },
        _ => Standing::Unknown,
    }
}

/// The verdict on the release served as `served` since `served_since` (its
/// creation), from every Kustomization that consumes it: any failing one
/// past `grace` fails it; all applied makes it healthy. A failure counts
/// from the later of its transition and the release's creation, because
/// `Ready` may have been `False` already for an earlier revision.
pub fn verdict(
    consumers: &[&Kustomization],
    served: &str,
    served_since: SystemTime,
    now: SystemTime,
    grace: Duration,
) -> Verdict {
    let mut recheck: Option<SystemTime> = None;
    let mut all_applied = !consumers.is_empty();
    for k in consumers {
        match standing(k, served) {
            Standing::Applied => {}
            Standing::Failing { since, why } => {
                all_applied = false;
                let deadline = since.unwrap_or(served_since).max(served_since) + grace;
                if now >= deadline {
                    return Verdict::Failed {
                        at: deadline,
                        why: format!("{why} (for more than {})", humantime::format_duration(grace)),
                    };
                }
                recheck = Some(recheck.map_or(deadline, |r| r.min(deadline)));
            }
            Standing::Unknown => all_applied = false,
        }
    }
    if all_applied { Verdict::Healthy } else { Verdict::Wait { recheck } }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_800_000_000;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(T0 + secs)
    }

    fn ks(ready: &str, reason: &str, applied: &str, attempted: &str, since: u64) -> Kustomization {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "app", "namespace": "flux-system"},
            "spec": {"sourceRef": {"kind": "ExternalArtifact", "name": "app"}},
            "status": {"lastAppliedRevision": applied, "lastAttemptedRevision": attempted, "conditions": [{
                "type": "Ready", "status": ready, "reason": reason, "message": "m",
                "lastTransitionTime": humantime::format_rfc3339_seconds(at(since)).to_string()}]}
        }))
        .unwrap()
    }

    const GRACE: Duration = Duration::from_secs(60);

    #[test]
    fn applied_and_ready_is_healthy_only_for_the_served_revision() {
        let k = ks("True", "ReconciliationSucceeded", "v2@sha256:b", "v2@sha256:b", 0);
        assert_eq!(verdict(&[&k], "v2@sha256:b", at(0), at(5), GRACE), Verdict::Healthy);
        assert_eq!(verdict(&[&k], "v3@sha256:c", at(0), at(5), GRACE), Verdict::Wait { recheck: None });
        assert_eq!(verdict(&[], "v2@sha256:b", at(0), at(5), GRACE), Verdict::Wait { recheck: None });
    }

    #[test]
    fn a_failure_of_the_served_revision_fails_it_after_the_grace() {
        // Health checks failed: lastApplied stays on the previous revision.
        let k = ks("False", "HealthCheckFailed", "v1@sha256:a", "v2@sha256:b", 10);
        assert_eq!(verdict(&[&k], "v2@sha256:b", at(0), at(30), GRACE), Verdict::Wait { recheck: Some(at(70)) });
        match verdict(&[&k], "v2@sha256:b", at(0), at(70), GRACE) {
            Verdict::Failed { at: when, why } => {
                assert_eq!(when, at(70));
                assert!(why.contains("HealthCheckFailed"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        // Ready was already False for an earlier revision: the grace counts from the release.
        let old = ks("False", "HealthCheckFailed", "v1@sha256:a", "v2@sha256:b", 0);
        assert_eq!(verdict(&[&old], "v2@sha256:b", at(50), at(60), GRACE), Verdict::Wait { recheck: Some(at(110)) });
        let waiting = ks("False", "DependencyNotReady", "v1@sha256:a", "v2@sha256:b", 0);
        assert_eq!(verdict(&[&waiting], "v2@sha256:b", at(0), at(500), GRACE), Verdict::Wait { recheck: None });
        let other = ks("False", "HealthCheckFailed", "v1@sha256:a", "v1@sha256:a", 0);
        assert_eq!(verdict(&[&other], "v2@sha256:b", at(0), at(500), GRACE), Verdict::Wait { recheck: None });
    }

    #[test]
    fn one_failing_consumer_fails_the_release() {
        let good = ks("True", "ReconciliationSucceeded", "v2@sha256:b", "v2@sha256:b", 0);
        let bad = ks("False", "ReconciliationFailed", "v1@sha256:a", "v2@sha256:b", 0);
        assert!(matches!(verdict(&[&good, &bad], "v2@sha256:b", at(0), at(100), GRACE), Verdict::Failed { .. }));
    }
}
