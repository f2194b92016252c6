//! Rollback classes: what a release says about going back past it, declared
//! with the change (`rewind.yaml` or an annotation on any of its objects).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Whether a release can be undone by re-applying an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClassKind {
    /// Any earlier release may be applied again (the default).
    Reversible,
    /// Rolling back to it is fine within its window, counted from when the
    /// next release was deployed.
    ReversibleWithWindow,
    /// Nothing before it may be applied again (a one-way migration).
    ForwardOnly,
}

impl ClassKind {
    /// The name in `rewind.yaml` and annotations.
    pub fn as_str(self) -> &'static str {
        match self {
            ClassKind::Reversible => "reversible",
            ClassKind::ReversibleWithWindow => "reversible-with-window",
            ClassKind::ForwardOnly => "forward-only",
        }
    }
}

impl fmt::Display for ClassKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClassKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "reversible" => Ok(ClassKind::Reversible),
            "reversible-with-window" => Ok(ClassKind::ReversibleWithWindow),
            "forward-only" => Ok(ClassKind::ForwardOnly),
            other => {
                Err(format!("unknown rollback class {other:?}; use reversible, reversible-with-window or forward-only"))
            }
        }
    }
}

/// A release's rollback class, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct RollbackClass {
    /// The class.
    pub class: ClassKind,
    /// For `reversible-with-window`: how long (`48h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// Shown to whoever attempts a rollback it refuses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl RollbackClass {
    /// The window as a duration, when there is one.
    pub fn window(&self) -> Option<Duration> {
        self.window.as_deref().and_then(|w| humantime::parse_duration(w.trim()).ok())
    }

    /// Combines two declarations: the stricter class wins, the shorter window, every note.
    pub fn stricter(self, other: RollbackClass) -> RollbackClass {
        let window = match (self.window(), other.window()) {
            (Some(a), Some(b)) => {
                if a <= b {
                    self.window.clone()
                } else {
                    other.window.clone()
                }
            }
            (Some(_), None) => self.window.clone(),
            (None, _) => other.window.clone(),
        };
        let note = match (self.note, other.note) {
            (Some(a), Some(b)) if a != b => Some(format!("{a}; {b}")),
            (a, b) => a.or(b),
        };
        RollbackClass { class: self.class.max(other.class), window, note }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stricter_declaration_wins() {
        let a = RollbackClass {
            class: ClassKind::ReversibleWithWindow,
            window: Some("48h".into()),
            note: Some("a".into()),
        };
        let b = RollbackClass { class: ClassKind::ReversibleWithWindow, window: Some("2h".into()), note: None };
        let c = RollbackClass { class: ClassKind::ForwardOnly, window: None, note: Some("migration".into()) };
        let ab = a.clone().stricter(b);
        assert_eq!(
            (ab.class, ab.window.as_deref(), ab.note.as_deref()),
            (ClassKind::ReversibleWithWindow, Some("2h"), Some("a"))
        );
        let ac = a.stricter(c);
        assert_eq!((ac.class, ac.note.as_deref()), (ClassKind::ForwardOnly, Some("a; migration")));
        assert!("sideways".parse::<ClassKind>().is_err());
    }
}
