//! Rollback classes: declared at render time (`rewind.yaml`'s `rollbackClass`,
//! `rollbackWindow`, `rollbackNote`, or the `rewind.dev/rollback-*`
//! annotations on any object), checked when a rollback is asked for.

use crate::error::{Error, Result};
use crate::manifest::Object;
use crate::release::{CheckResult, ClassKind, ReleaseMeta, RollbackClass, Verdict};
use std::time::{Duration, SystemTime};

/// The annotation naming a class.
pub const CLASS_ANNOTATION: &str = "rewind.dev/rollback-class";
/// The annotation giving the window of `reversible-with-window`.
pub const WINDOW_ANNOTATION: &str = "rewind.dev/rollback-window";
/// The annotation carrying a note for whoever attempts a rollback.
pub const NOTE_ANNOTATION: &str = "rewind.dev/rollback-note";

/// Checks one declaration; `at` names where it was made.
pub fn declared(class: &str, window: Option<&str>, note: Option<&str>, at: &str) -> Result<RollbackClass> {
    let kind: ClassKind = class.parse().map_err(|e: String| Error::Config(format!("{at}: {e}")))?;
    let window = window.map(str::trim).filter(|w| !w.is_empty());
    match (kind, window) {
        (ClassKind::ReversibleWithWindow, None) => {
            return Err(Error::Config(format!(
                "{at}: reversible-with-window needs a window (rollbackWindow / {WINDOW_ANNOTATION}: 48h)"
            )));
        }
        (_, Some(w)) if humantime::parse_duration(w).is_err() => {
            return Err(Error::Config(format!("{at}: rollback window {w:?} is not a duration; write e.g. 48h or 30m")));
        }
        _ => {}
    }
    Ok(RollbackClass {
        class: kind,
        window: window.map(String::from),
        note: note.map(str::trim).filter(|n| !n.is_empty()).map(String::from),
    })
}

/// A release's class: `configured` (from `rewind.yaml`) combined with every
/// object's annotations, the strictest winning. `None` when nothing is declared.
pub fn of_release(configured: Option<RollbackClass>, objects: &[Object]) -> Result<Option<RollbackClass>> {
    let mut class = configured;
    for obj in objects {
        let Some(kind) = obj.annotation(CLASS_ANNOTATION) else {
            continue;
        };
        let at = format!("{}: {} annotation {CLASS_ANNOTATION}", obj.origin, obj.display_id());
        let found = declared(kind, obj.annotation(WINDOW_ANNOTATION), obj.annotation(NOTE_ANNOTATION), &at)?;
        class = Some(match class {
            Some(c) => c.stricter(found),
            None => found,
        });
    }
    Ok(class)
}

fn check(name: &str, verdict: Verdict, detail: String) -> CheckResult {
    CheckResult { check: name.into(), verdict, detail }
}

fn note_of(class: &RollbackClass) -> String {
    class.note.as_deref().map(|n| format!(" Note: {n}.")).unwrap_or_default()
}

/// The class checks of rolling back to `target` with `metas` the app's
/// history (oldest first): no forward-only release may lie between the
/// target and the newest release, and the target's window, if it has one,
/// must still be open (counted from when the release after it was deployed,
/// else recorded).
pub fn check_classes(metas: &[ReleaseMeta], target: &ReleaseMeta, now: SystemTime) -> Vec<CheckResult> {
    let later = metas.iter().filter(|m| m.revision > target.revision);
    let crossed: Vec<&ReleaseMeta> = later
        .clone()
        .filter(|m| m.rollback_of.is_none() && m.class.as_ref().is_some_and(|c| c.class == ClassKind::ForwardOnly))
        .collect();
    let class = match crossed.first() {
        None => check("class", Verdict::Pass, "no forward-only release after the target".into()),
        Some(_) => {
            let named: Vec<String> = crossed
                .iter()
                .map(|m| {
                    format!(
                        "revision {} is forward-only.{}",
                        m.revision,
                        note_of(m.class.as_ref().expect("forward-only"))
                    )
                })
                .collect();
            check(
                "class",
                Verdict::Refuse,
                format!(
                    "rolling back to revision {} crosses a forward-only release: {} Roll forward instead, or override \
                     with --force (REWIND_ROLLBACK_FORCE=true, RewindSource spec.force) if you know it is safe",
                    target.revision,
                    named.join(" ")
                ),
            )
        }
    };
    let window = match target.class.as_ref().filter(|c| c.class == ClassKind::ReversibleWithWindow) {
        None => check("window", Verdict::Pass, "the target has no rollback window".into()),
        Some(c) => {
            let length = c.window().unwrap_or(Duration::ZERO);
            // The window opens when the target stops being current: the next release's deploy (else its recording).
            let next = later.clone().find(|m| m.rollback_of.is_none());
            let opened = next.and_then(|m| m.deployed_at.as_deref().or(Some(m.created.as_str())));
            match opened.and_then(|t| humantime::parse_rfc3339(t).ok()) {
                None => check("window", Verdict::Pass, "the target is still the newest release".into()),
                Some(start) if now.duration_since(start).unwrap_or_default() <= length => check(
                    "window",
                    Verdict::Pass,
                    format!(
                        "within the {} rollback window of revision {}",
                        c.window.as_deref().unwrap_or(""),
                        target.revision
                    ),
                ),
                Some(start) => check(
                    "window",
                    Verdict::Refuse,
                    format!(
                        "the {} rollback window of revision {} closed at {} (it opened when revision {} replaced it).{} \
                         Roll forward instead, or override with --force if you know it is safe",
                        c.window.as_deref().unwrap_or(""),
                        target.revision,
                        humantime::format_rfc3339_seconds(start + length),
                        next.map_or(0, |m| m.revision),
                        note_of(c)
                    ),
                ),
            }
        }
    };
    vec![class, window]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::{AppKey, Release, SourceInfo};

    fn meta(revision: u64, class: Option<RollbackClass>) -> ReleaseMeta {
        let mut m =
            Release::pending(&AppKey::new("a").unwrap(), revision, vec![], SourceInfo::default(), None, "").meta;
        m.created = "2026-01-01T00:00:00Z".into();
        m.class = class;
        m
    }

    fn at(t: &str) -> SystemTime {
        humantime::parse_rfc3339(t).unwrap()
    }

    #[test]
    fn forward_only_between_target_and_head_refuses() {
        let fo = declared("forward-only", None, Some("drops column x"), "test").unwrap();
        let metas = [meta(1, None), meta(2, Some(fo)), meta(3, None)];
        let checks = check_classes(&metas, &metas[0], at("2026-01-02T00:00:00Z"));
        assert_eq!(checks[0].verdict, Verdict::Refuse);
        assert!(
            checks[0].detail.contains("revision 2 is forward-only. Note: drops column x.")
                && checks[0].detail.contains("--force")
        );
        // Rolling back to the forward-only release itself, or after it, is fine.
        assert_eq!(check_classes(&metas, &metas[1], at("2026-01-02T00:00:00Z"))[0].verdict, Verdict::Pass);
    }

    #[test]
    fn windows_count_from_the_next_deploy() {
        let w = declared("reversible-with-window", Some("48h"), None, "test").unwrap();
        let mut next = meta(2, None);
        next.deployed_at = Some("2026-01-05T00:00:00Z".into());
        let metas = [meta(1, Some(w)), next];
        assert_eq!(check_classes(&metas, &metas[0], at("2026-01-06T00:00:00Z"))[1].verdict, Verdict::Pass);
        let closed = &check_classes(&metas, &metas[0], at("2026-01-08T00:00:00Z"))[1];
        assert_eq!(closed.verdict, Verdict::Refuse);
        assert!(
            closed.detail.contains("window") && closed.detail.contains("2026-01-07T00:00:00Z"),
            "{}",
            closed.detail
        );
        assert!(
            declared("reversible-with-window", None, None, "rewind.yaml")
                .unwrap_err()
                .to_string()
                .contains("needs a window")
        );
        assert!(declared("forward-only", Some("soon"), None, "x").is_err());
    }
}
