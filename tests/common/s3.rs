//! moto_server behind the test front (`s3_front.py`), for the S3 store's tests.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The bucket every test uses; tests keep apart by prefix.
pub const BUCKET: &str = "rewind-test";

/// A running front and moto_server.
pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:PORT` of the front.
    pub endpoint: String,
    /// A KMS key that exists in moto.
    pub kms_key_id: String,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl S3Server {
    /// Starts moto_server and the front (installed by .ci/run: `pip install 'moto[server]'`).
    pub fn start() -> S3Server {
        let script = super::root().join("tests/common/s3_front.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script).arg(BUCKET).stdout(Stdio::piped()).stderr(Stdio::inherit());
        // The front, and with it moto_server, ends with the test process, even one that is
        // killed: it watches its parent (PR_SET_PDEATHSIG would fire when the spawning test thread ends).
        let mut child = cmd.spawn().expect("python3 runs the S3 test front");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let info: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            panic!("the S3 test front did not start (pip install 'moto[server]'; .ci/run does): {line:?}")
        });
        S3Server {
            child,
            endpoint: info["endpoint"].as_str().unwrap().to_string(),
            kms_key_id: info["kms_key_id"].as_str().unwrap().to_string(),
        }
    }

    /// One server for the whole test binary.
    pub fn shared() -> &'static S3Server {
        static SERVER: OnceLock<S3Server> = OnceLock::new();
        SERVER.get_or_init(S3Server::start)
    }

    /// A store URL under a prefix no other test uses.
    pub fn fresh_url(&self) -> String {
        static N: AtomicU64 = AtomicU64::new(0);
        format!("s3://{BUCKET}/t{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
    }

    /// The environment a process needs to reach the front: the standard AWS
    /// credentials variables and rewind's S3 settings.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("REWIND_S3_ENDPOINT", self.endpoint.clone()),
            ("REWIND_S3_PATH_STYLE", "true".into()),
            ("REWIND_S3_ALLOW_HTTP", "true".into()),
        ]
    }

    /// Calls a test control of the front (`fail`, `stall`) or reads `objects`.
    pub fn control(&self, path: &str) -> serde_json::Value {
        let method = if path.starts_with("objects") || path == "access-keys" { "GET" } else { "POST" };
        let out = Command::new("curl")
            .args(["-sS", "-X", method, &format!("{}/__front/{path}", self.endpoint)])
            .output()
            .expect("curl");
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }
}
