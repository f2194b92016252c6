//! Runs an external renderer (`kustomize build .`, `helm template ...`) in the
//! source directory and takes its stdout as the manifest stream.

use crate::context::RendererConfig;
use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Default time limit, under Argo CD's 60 s repo-server timeout.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 45;

/// Runs the renderer in `dir`; returns its stdout, at most `max_bytes`.
pub fn run(config: &RendererConfig, dir: &Path, max_bytes: u64) -> Result<Vec<u8>> {
    let Some((program, args)) = config.command.split_first() else {
        return Err(Error::Config("rewind.yaml: renderer.command is empty; give a program and its arguments".into()));
    };
    let shown = config.command.join(" ");
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::Renderer(format!("cannot start `{shown}`: {e}; is {program} installed in the sidecar image?"))
        })?;
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let res = stdout.take(max_bytes + 1).read_to_end(&mut buf);
        res.map(|_| buf)
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.take(64 * 1024).read_to_end(&mut buf);
        buf
    });
    let timeout = Duration::from_secs(config.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| Error::Renderer(format!("`{shown}`: {e}")))? {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Renderer(format!(
                "`{shown}` took longer than {}s and was stopped; raise renderer.timeoutSeconds",
                timeout.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = out_reader
        .join()
        .expect("reader thread")
        .map_err(|e| Error::Renderer(format!("`{shown}`: reading output: {e}")))?;
    let err = String::from_utf8_lossy(&err_reader.join().expect("reader thread")).into_owned();
    if !status.success() {
        return Err(Error::Renderer(format!("`{shown}` failed ({status}): {}", err.trim())));
    }
    if out.len() as u64 > max_bytes {
        return Err(Error::Renderer(format!("`{shown}` printed more than {max_bytes} bytes; raise --max-file-bytes")));
    }
    if !err.trim().is_empty() {
        tracing::warn!("`{shown}` said: {}", err.trim());
    }
    Ok(out)
}
