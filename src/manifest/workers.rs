//! Work spread over the machine's cores, for parsing and emitting.

/// How many threads parsing and emitting use: `REWIND_THREADS`, else the
/// machine's cores. Read once: finding the cores reads cgroup files, and an app
/// may have thousands of files.
pub fn threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| {
        std::env::var("REWIND_THREADS")
            .ok()
            .and_then(|t| t.parse::<usize>().ok())
            .filter(|t| *t > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
    })
}

/// `work` on every part at once, results in part order; `None` for a part
/// whose thread panicked.
///
/// The largest part (by `size`) runs on the calling thread: the main heap
/// grows in large steps (in huge pages, see `heap`), while a new thread's heap
/// grows a page (and a system call) at a time, which costs more than the
/// thread saves when one part dominates, as one CRD does in the Argo CD
/// install. A part whose thread cannot start (tight address-space limits)
/// also runs here.
pub fn run_parts<T: Sync, R: Send>(
    parts: &[T],
    size: impl Fn(&T) -> usize,
    work: impl Fn(&T) -> R + Sync,
) -> Vec<Option<R>> {
    let Some(largest) = (0..parts.len()).max_by_key(|&i| size(&parts[i])) else { return Vec::new() };
    std::thread::scope(|scope| {
        let work = &work;
        let spawned: Vec<_> = parts
            .iter()
            .enumerate()
            .map(|(i, part)| {
                (i != largest)
                    .then(|| std::thread::Builder::new().spawn_scoped(scope, move || work(part)).ok())
                    .flatten()
            })
            .collect();
        let mut results: Vec<Option<R>> = Vec::with_capacity(parts.len());
        let mut mine = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&parts[largest]))).ok();
        for (i, handle) in spawned.into_iter().enumerate() {
            results.push(match handle {
                Some(handle) => handle.join().ok(),
                None if i == largest => mine.take(),
                // Not started: this thread does it.
                None => Some(work(&parts[i])),
            });
        }
        results
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_part_order_and_panics_are_none() {
        let parts = [3usize, 9, 1, 4];
        assert_eq!(run_parts(&parts, |p| *p, |p| p * 10), [Some(30), Some(90), Some(10), Some(40)]);
        let out = run_parts(&parts, |p| *p, |p| if *p == 4 { panic!("part 4") } else { *p });
        assert_eq!(out, [Some(3), Some(9), Some(1), None]);
        assert!(run_parts(&[] as &[usize], |p| *p, |p| *p).is_empty());
    }
}
