//! The one place that says what a failed Kubernetes API call means: which
//! failures callers act on (a lost race, a missing object), and the message
//! people see for the rest.

use crate::error::Error;

/// What a failed call means to rewind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 409 `AlreadyExists`: a create lost a race.
    AlreadyExists,
    /// 409 `Conflict`: an update carried a stale `resourceVersion`.
    Conflict,
    /// 422 `Invalid`: the request was refused as written (a failed JSON-patch
    /// `test` is one: the object changed since it was read).
    Invalid,
    /// 404.
    NotFound,
    /// 401 or 403: the credentials or the RBAC grants.
    Forbidden,
    /// Any other answer from the server.
    Rejected,
    /// No answer: the server could not be reached, or the connection broke.
    Unreachable,
}

/// Classifies a failed call.
pub fn failure(e: &kube::Error) -> Failure {
    match e {
        kube::Error::Api(s) if s.code == 409 && s.reason == "AlreadyExists" => Failure::AlreadyExists,
        kube::Error::Api(s) if s.code == 409 => Failure::Conflict,
        kube::Error::Api(s) if s.code == 422 => Failure::Invalid,
        kube::Error::Api(s) if s.code == 404 => Failure::NotFound,
        kube::Error::Api(s) if s.code == 401 || s.code == 403 => Failure::Forbidden,
        kube::Error::Api(_) => Failure::Rejected,
        _ => Failure::Unreachable,
    }
}

/// The error for a failed call: `doing` names the operation
/// (`release store: writing Secret …`), `server` the API server, and
/// `forbidden` says which grant would allow it.
pub fn error(e: kube::Error, doing: impl Into<String>, server: &str, forbidden: &str) -> Error {
    let message = match &e {
        kube::Error::Api(s) if failure(&e) == Failure::Forbidden => format!("forbidden: {}; {forbidden}", s.message),
        kube::Error::Api(s) if s.code == 404 => format!("not found: {}", s.message),
        kube::Error::Api(s) => format!("{} ({} {})", s.message, s.code, s.reason),
        other => format!("cannot reach the Kubernetes API at {server} ({other})"),
    };
    Error::Kubernetes { doing: doing.into(), message, source: Box::new(e) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, reason: &str) -> kube::Error {
        let status = kube::core::Status::failure("the message", reason).with_code(code);
        kube::Error::Api(Box::new(status))
    }

    #[test]
    fn classifies_and_explains() {
        assert_eq!(failure(&api(409, "AlreadyExists")), Failure::AlreadyExists);
        assert_eq!(failure(&api(409, "Conflict")), Failure::Conflict);
        assert_eq!(failure(&api(403, "Forbidden")), Failure::Forbidden);
        let e = error(api(403, "Forbidden"), "release store: writing Secret x", "https://k", "grant create on secrets");
        assert_eq!(e.to_string(), "release store: writing Secret x: forbidden: the message; grant create on secrets");
        assert!(std::error::Error::source(&e).is_some(), "the cause is kept");
        let e = error(api(500, "InternalError"), "Application a/b", "https://k", "");
        assert_eq!(e.to_string(), "Application a/b: the message (500 InternalError)");
    }
}
