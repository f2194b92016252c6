//! What a rollback release records about how it came to be: who or what
//! asked, why, which checks ran with what verdict, and what was left out.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What asked for a rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// A person, with `rewind rollback APP --to …`.
    Manual,
    /// An Argo CD Application's pin (`REWIND_ROLLBACK_TO`), served by `generate`.
    ApplicationPin,
    /// A RewindSource's `spec.rollbackTo`.
    RewindSource,
    /// The controller's automatic rollback.
    Auto,
}

impl Trigger {
    /// The name in records and Events.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::ApplicationPin => "application-pin",
            Trigger::RewindSource => "rewind-source",
            Trigger::Auto => "auto",
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Nothing to say.
    Pass,
    /// Allowed, with something to know.
    Warn,
    /// Not allowed.
    Refuse,
    /// Would refuse, and an override let it through.
    Overridden,
    /// Could not run (no data), or did not apply.
    Skipped,
}

impl Verdict {
    /// The name shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Warn => "warn",
            Verdict::Refuse => "refuse",
            Verdict::Overridden => "overridden",
            Verdict::Skipped => "skipped",
        }
    }
}

/// A check and its verdict, with what it found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct CheckResult {
    /// `class`, `window`, `api-versions`, `images`, `hooks`.
    pub check: String,
    /// The verdict.
    pub verdict: Verdict,
    /// What it found, with what to do.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// The evidence a rollback release carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct RollbackEvidence {
    /// What asked for it.
    pub trigger: Trigger,
    /// Who, where known: the Kubernetes user that set the pin, or the OS user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    /// Why (`--reason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Each check and its verdict.
    #[serde(default)]
    pub checks: Vec<CheckResult>,
    /// An override let a refusal through.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forced: bool,
    /// Objects left out of what was printed (`rewind.dev/skip-on-rollback`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    /// `sha256:` of what was printed, when objects were left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printed_digest: Option<String>,
}
