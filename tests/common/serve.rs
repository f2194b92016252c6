//! `rewind serve` as a child process: its probe address (and artifact
//! server's URL, under Flux) from its startup log line, its log, polling.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `rewind serve`.
pub struct Serve {
    child: Child,
    /// The probe and metrics address (host:port).
    pub address: String,
    /// The artifact server's URL, when the Flux integration runs.
    pub artifacts: String,
    /// Everything it logged so far.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    /// Runs `rewind serve ARGS` with the credentials in `kubeconfig` and the
    /// store at `store`; waits only for its startup line.
    pub fn spawn(kubeconfig: &Path, store: &str, home: &Path, args: &[&str]) -> Serve {
        let mut child = super::command(home)
            .env("KUBECONFIG", kubeconfig)
            .env("REWIND_STORE", store)
            .env("REWIND_LOG", "info")
            .arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some((_, address)) = line.split_once("listening on ") {
                    let artifacts = line.split_once("artifacts at ").map(|(_, a)| a.split_whitespace().next().unwrap());
                    let _ = tx.send((address.trim().to_string(), artifacts.unwrap_or_default().to_string()));
                }
                sink.lock().unwrap().push(line);
            }
        });
        let (address, artifacts) = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
            panic!("rewind serve did not start:\n{}", log.lock().unwrap().join("\n"));
        });
        Serve { child, address, artifacts, log }
    }

    /// Waits until `/readyz` answers 200.
    pub fn ready(self) -> Serve {
        self.wait("/readyz to answer 200", || (self.get("/readyz").0 == 200).then_some(()));
        self
    }

    /// `GET path` on the probe address → (status, body), over plain HTTP/1.1.
    pub fn get(&self, path: &str) -> (u16, String) {
        let mut stream = std::net::TcpStream::connect(&self.address).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: rewind\r\nConnection: close\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let code = response.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        (code, response.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_string())
    }

    /// Whether any line logged so far contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    /// Polls `f` until it gives a value (60 s), else fails with the controller's log.
    pub fn wait<T>(&self, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; controller log:\n{}",
                self.log.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops it and checks it printed nothing on stdout.
    pub fn stdout_is_empty(mut self) {
        let _ = self.child.kill();
        let mut out = String::new();
        self.child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        assert!(out.is_empty(), "serve printed on stdout: {out}");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
