//! Runs an operator-defined renderer (`kustomize build .`) in the app
//! directory and takes its stdout as the manifest stream, contained:
//!
//! * a cleared environment: PATH (absolute entries only), the operator's
//!   allow-list, and the app's own Argo CD variables; never `REWIND_*`, store
//!   URLs, tokens or a kubeconfig;
//! * HOME and TMPDIR in a fresh directory, removed afterwards; stdin closed;
//! * its own process group, killed on timeout, when output goes over its cap,
//!   when the renderer exits (strays holding stdout open cannot hang us), and
//!   when rewind is terminated by a signal; the direct child also dies with
//!   rewind on SIGKILL (`PR_SET_PDEATHSIG`);
//! * stdout capped (the input file limit) and stderr capped.

use super::renderers::Renderer;
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Most stderr bytes kept (the rest is read and dropped so the renderer never blocks on it).
pub const MAX_STDERR_BYTES: usize = 64 * 1024;
/// How long output pipes may stay open after the renderer's group was killed
/// (only a process that left the group with `setsid` can keep them open).
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// PATH for renderers when rewind itself has none.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// What a renderer printed.
#[derive(Debug, Default)]
pub struct Captured {
    /// Standard output, at most the cap.
    pub stdout: Vec<u8>,
    /// Standard error, at most [`MAX_STDERR_BYTES`].
    pub stderr: Vec<u8>,
}

/// Why a renderer produced no manifest, with what it printed (so the caller
/// can show stderr with Secret values redacted).
#[derive(Debug)]
pub struct Failed {
    /// What happened, without the renderer's output.
    pub why: String,
    /// What it printed before failing.
    pub output: Captured,
}

/// The process group of the renderer running now (0: none), for the signal handler.
static RUNNING_GROUP: AtomicI32 = AtomicI32::new(0);

/// On SIGTERM, SIGINT or SIGHUP while a renderer runs, kill its group first,
/// then terminate as the signal's default action would. Installed once.
fn install_signal_handlers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            // SAFETY: the action only calls async-signal-safe functions (kill,
            // signal, raise) and reads an atomic.
            let registered = unsafe {
                signal_hook_registry::register(signal, move || {
                    let group = RUNNING_GROUP.load(Ordering::SeqCst);
                    if group > 0 {
                        libc::kill(-group, libc::SIGKILL);
                    }
                    libc::signal(signal, libc::SIG_DFL);
                    libc::raise(signal);
                })
            };
            if let Err(e) = registered {
                tracing::warn!(
                    "cannot watch for signal {signal}: a terminated rewind may leave its renderer running ({e})"
                );
            }
        }
    });
}

/// Kills the renderer's process group when dropped, however the run ends.
struct Group(i32);

impl Drop for Group {
    fn drop(&mut self) {
        RUNNING_GROUP.store(0, Ordering::SeqCst);
        // SAFETY: sending a signal has no memory-safety preconditions.
        unsafe { libc::kill(-self.0, libc::SIGKILL) };
    }
}

/// The renderer's environment: PATH (relative entries dropped: they would
/// resolve in the app directory), `pass_env` from rewind's environment, the
/// app's variables, and HOME/TMPDIR in `home`.
fn environment(pass_env: &[String], app_env: &BTreeMap<String, String>, home: &Path) -> Vec<(String, String)> {
    let path = std::env::var("PATH").unwrap_or_default();
    let path: Vec<&str> = path.split(':').filter(|p| p.starts_with('/')).collect();
    let mut env = vec![("PATH".to_string(), if path.is_empty() { DEFAULT_PATH.into() } else { path.join(":") })];
    for name in pass_env {
        if let Ok(value) = std::env::var(name) {
            env.push((name.clone(), value));
        }
    }
    env.extend(app_env.iter().map(|(k, v)| (k.clone(), v.clone())));
    let home = home.display().to_string();
    env.push(("HOME".into(), home.clone()));
    env.push(("TMPDIR".into(), home));
    env
}

/// Reads `pipe` to the end on a thread, keeping at most `cap` bytes; sets
/// `over` when there was more. The result arrives on the returned channel.
fn read_capped(mut pipe: impl Read + Send + 'static, cap: usize, over: Arc<AtomicBool>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = cap.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                    if n > room {
                        over.store(true, Ordering::SeqCst);
                    }
                }
            }
        }
        let _ = tx.send(kept);
    });
    rx
}

fn spawn(renderer: &Renderer, dir: &Path, env: Vec<(String, String)>) -> std::io::Result<Child> {
    let (program, args) = renderer.command.split_first().expect("renderers have a program");
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // SAFETY: runs between fork and exec; prctl and getppid are async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            // Die with rewind even when it is SIGKILLed (no handler runs then).
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn()
}

/// Runs `renderer` in `dir`; returns what it printed if it exited 0 within
/// its time and output limits.
pub fn run(
    renderer: &Renderer,
    dir: &Path,
    pass_env: &[String],
    app_env: &BTreeMap<String, String>,
    max_stdout: u64,
) -> Result<Captured, Failed> {
    let fail = |why: String| Failed { why, output: Captured::default() };
    let shown = renderer.describe();
    let home = tempfile::Builder::new()
        .prefix("rewind-renderer-")
        .tempdir()
        .map_err(|e| fail(format!("{shown}: cannot create its HOME directory: {e}")))?;
    install_signal_handlers();
    let mut child = spawn(renderer, dir, environment(pass_env, app_env, home.path())).map_err(|e| {
        fail(format!(
            "cannot start {shown}: {e}; is {} installed where rewind runs (the sidecar image)?",
            renderer.command[0]
        ))
    })?;
    let group = Group(child.id() as i32);
    RUNNING_GROUP.store(group.0, Ordering::SeqCst);
    let (stdout_over, stderr_over) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let cap = usize::try_from(max_stdout).unwrap_or(usize::MAX);
    let stdout = read_capped(child.stdout.take().expect("piped"), cap, stdout_over.clone());
    let stderr = read_capped(child.stderr.take().expect("piped"), MAX_STDERR_BYTES, stderr_over);

    let deadline = Instant::now() + renderer.timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) => {}
            Err(e) => break Err(format!("{shown}: cannot wait for it: {e}")),
        }
        if stdout_over.load(Ordering::SeqCst) {
            break Err(format!("{shown} printed more than {max_stdout} bytes and was stopped; raise --max-file-bytes"));
        }
        if Instant::now() >= deadline {
            break Err(format!(
                "{shown} took longer than {}s and was stopped (with every process it started); \
                 raise its timeoutSeconds, up to the operator's ceiling",
                renderer.timeout.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // Whatever is left of the group now is a stray: kill it so it cannot hold the pipes open.
    drop(group);
    let _ = child.kill();
    let _ = child.wait();
    let grace = Instant::now() + DRAIN_GRACE;
    let collect = |rx: mpsc::Receiver<Vec<u8>>| rx.recv_timeout(grace.saturating_duration_since(Instant::now())).ok();
    let (out, err) = (collect(stdout), collect(stderr));
    let output = Captured { stdout: out.clone().unwrap_or_default(), stderr: err.unwrap_or_default() };
    let status = match status {
        Ok(status) => status,
        Err(why) => return Err(Failed { why, output }),
    };
    if out.is_none() {
        return Err(Failed {
            why: format!(
                "{shown} exited, but a process it started left its process group and kept its output open; \
                 renderers must not daemonize"
            ),
            output,
        });
    }
    if !status.success() {
        let how = match (status.code(), status.signal()) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(signal)) => format!("was killed by signal {signal}"),
            _ => format!("failed ({status})"),
        };
        return Err(Failed { why: format!("{shown} {how}"), output });
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, timeout: u64) -> Renderer {
        Renderer {
            name: "test".into(),
            command: vec!["/bin/sh".into(), "-c".into(), script.into()],
            timeout: Duration::from_secs(timeout),
        }
    }

    fn run_sh(script: &str, timeout: u64, max: u64) -> Result<Captured, Failed> {
        let dir = tempfile::tempdir().unwrap();
        run(&sh(script, timeout), dir.path(), &[], &BTreeMap::from([("ARGOCD_ENV_A".into(), "1".into())]), max)
    }

    #[test]
    fn environment_is_cleared_and_home_is_fresh() {
        let out = run_sh("env | sort; test -w \"$HOME\" && echo home-writable", 10, 1 << 20).unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("ARGOCD_ENV_A=1") && text.contains("home-writable"), "{text}");
        assert!(text.lines().all(|l| !l.starts_with("CARGO") && !l.starts_with("RUST")), "{text}");
        let home = text.lines().find_map(|l| l.strip_prefix("HOME=")).unwrap().to_string();
        assert!(!Path::new(&home).exists(), "HOME {home} is removed afterwards");
    }

    #[test]
    fn stray_processes_and_caps_do_not_hang() {
        let started = Instant::now();
        let out = run_sh("echo kind: x; (sleep 30 &) ; exit 0", 10, 1 << 20).unwrap();
        assert_eq!(out.stdout, b"kind: x\n");
        assert!(started.elapsed() < Duration::from_secs(8), "a grandchild holding stdout open was killed");
        let err = run_sh("yes", 10, 1000).unwrap_err();
        assert!(err.why.contains("more than 1000 bytes"), "{}", err.why);
        let err = run_sh("sleep 20", 1, 1000).unwrap_err();
        assert!(err.why.contains("longer than 1s"), "{}", err.why);
        let out = run_sh("head -c 200000 /dev/zero >&2; echo ok", 10, 1000).unwrap();
        assert_eq!((out.stdout.as_slice(), out.stderr.len()), (&b"ok\n"[..], MAX_STDERR_BYTES));
        let err = run_sh("echo bad >&2; exit 3", 10, 1000).unwrap_err();
        assert!(err.why.ends_with("exited with status 3") && err.output.stderr == b"bad\n", "{}", err.why);
    }
}
