//! One way to turn a kube-runtime watch into messages for a worker: applied
//! and deleted objects are handed over; the initial sync counts down
//! readiness; a 410 is a routine re-list; other errors fail readiness a while.

use super::health::{Health, unix_now};
use futures::StreamExt;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;

/// Something a watched object means to a worker.
pub enum Seen<K> {
    /// Created or changed.
    Applied(K),
    /// Deleted.
    Deleted(K),
}

/// Forwards `api`'s watch to `tx`, each object through `message`
/// (`None`: not the worker's business); counts `health.unsynced` down once.
pub async fn forward<K, M>(
    api: Api<K>,
    what: String,
    tx: Sender<M>,
    health: Arc<Health>,
    message: impl Fn(Seen<K>) -> Option<M>,
) where
    K: kube::Resource + Clone + Debug + serde::de::DeserializeOwned + Send + 'static,
{
    let mut synced = false;
    let mut events = watcher(api, watcher::Config::default()).default_backoff().boxed();
    while let Some(event) = events.next().await {
        let seen = match event {
            Ok(watcher::Event::Apply(obj) | watcher::Event::InitApply(obj)) => Seen::Applied(obj),
            Ok(watcher::Event::Delete(obj)) => Seen::Deleted(obj),
            Ok(watcher::Event::InitDone) => {
                if !synced {
                    synced = true;
                    health.unsynced.fetch_sub(1, Ordering::Relaxed);
                    tracing::info!("{what}: watch synced");
                }
                continue;
            }
            Ok(watcher::Event::Init) => continue,
            // The history behind our resourceVersion was compacted: the watcher
            // lists again by itself. Routine, not a failing watch.
            Err(watcher::Error::WatchError(status)) if status.code == 410 => {
                tracing::info!("{what}: watch history expired ({}); listing again", status.message);
                continue;
            }
            Err(e) => {
                health.metrics.watch_errors.inc();
                health.last_watch_error.store(unix_now(), Ordering::Relaxed);
                tracing::warn!("{what}: watch error, retrying: {e}");
                continue;
            }
        };
        if let Some(m) = message(seen)
            && tx.send(m).is_err()
        {
            return;
        }
    }
}
