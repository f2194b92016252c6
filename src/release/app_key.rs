//! The name an app's releases are kept under.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An app key: 1–253 letters, digits, `-`, `_` and `.`, not starting with
/// `.`, so it is safe as a file name and meaningful in a label. It can only
/// be made valid, so every store can rely on it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AppKey(String);

/// As the string it is, so `{app:?}` in messages reads `"guestbook"`.
impl fmt::Debug for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl AppKey {
    /// Checks `name` and makes it a key.
    pub fn new(name: &str) -> Result<AppKey> {
        let ok = !name.is_empty()
            && name.len() <= 253
            && !name.starts_with('.')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(AppKey(name.to_string()))
        } else {
            Err(Error::Config(format!(
                "app name {name:?} is not valid: use 1-253 characters of letters, digits, '-', '_' and '.', not starting with '.'"
            )))
        }
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for AppKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AppKey {
    type Error = Error;
    fn try_from(name: String) -> Result<AppKey> {
        AppKey::new(&name)
    }
}

impl From<AppKey> for String {
    fn from(key: AppKey) -> String {
        key.0
    }
}

impl fmt::Display for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for AppKey {
    type Err = Error;
    fn from_str(s: &str) -> Result<AppKey> {
        AppKey::new(s)
    }
}

impl PartialEq<str> for AppKey {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for AppKey {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_safe_names_are_keys() {
        assert!(AppKey::new("team-a_guestbook").is_ok());
        for bad in ["../x", ".hidden", "", "a/b", "a b"] {
            assert!(AppKey::new(bad).is_err(), "{bad:?}");
        }
        assert!(serde_json::from_str::<AppKey>("\"../etc\"").is_err(), "records are checked too");
        assert_eq!(serde_json::to_string(&AppKey::new("a").unwrap()).unwrap(), "\"a\"");
    }
}
