//! Optimistic concurrency, written once: read, change, write with the
//! `resourceVersion` that was read, and on a conflict read again.

use crate::error::{Error, Result};
use std::future::Future;
use std::time::Duration;

/// Tries before a write that keeps losing races gives up.
pub const MAX_ATTEMPTS: u32 = 8;

/// What one try came to.
#[derive(Debug)]
pub enum Attempt<T> {
    /// Written (or nothing to write).
    Done(T),
    /// Someone else wrote in between: read again and retry.
    Conflict,
}

/// Runs `attempt` until it is done or fails, retrying conflicts with a short
/// backoff (10 ms, doubling) at most [`MAX_ATTEMPTS`] times. `what` names the
/// object for the error when it keeps changing.
pub async fn on_conflict<T, F, Fut>(what: &str, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Attempt<T>>>,
{
    for n in 0..MAX_ATTEMPTS {
        match attempt().await? {
            Attempt::Done(value) => return Ok(value),
            Attempt::Conflict => tokio::time::sleep(Duration::from_millis(10 << n)).await,
        }
    }
    Err(Error::Conflict(format!("{what} kept changing while being written ({MAX_ATTEMPTS} attempts); try again")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn retries_conflicts_then_gives_up() {
        let mut tries = 0;
        let done = on_conflict("x", || {
            tries += 1;
            let n = tries;
            async move { Ok(if n < 3 { Attempt::Conflict } else { Attempt::Done(n) }) }
        })
        .await;
        assert_eq!(done.unwrap(), 3);
        let never = on_conflict::<(), _, _>("Secret s", || async { Ok(Attempt::Conflict) }).await;
        assert!(never.unwrap_err().to_string().contains("Secret s kept changing"));
    }
}
