//! `tt-vault serve` for the tests: start the real binary, read the address it prints,
//! and a client that has presented the token.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;

/// A running viewer; killed when dropped.
pub struct Viewer {
    child: Child,
    /// Kept open: the viewer dies of SIGPIPE if its stdout closes.
    _out: BufReader<std::process::ChildStdout>,
    pub base: String,
    pub token: String,
}

impl Viewer {
    pub fn start(mut cmd: Command, args: &[&str]) -> Viewer {
        let mut child = cmd
            .arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tt-vault serve");
        let mut line = String::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        out.read_line(&mut line).unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        let (base, token) = url.split_once("/?token=").unwrap();
        Viewer {
            child,
            _out: out,
            base: base.to_string(),
            token: token.to_string(),
        }
    }

    /// A client that has presented the token once and keeps the cookie.
    pub async fn client(&self) -> reqwest::Client {
        let c = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let r = c
            .get(format!("{}/?token={}", self.base, self.token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        c
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The demo's vault: the June and November exports with the saved videos. `cmd`
/// makes a tt-vault command on the test's vault.
pub fn demo(cmd: impl Fn() -> Command) {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample");
    for (month, time) in [
        ("06", "2026-06-01T10:00:00Z"),
        ("11", "2026-11-01T10:00:00Z"),
    ] {
        let export = sample.join(format!("export-2026-{month}/user_data_tiktok.json"));
        let out = cmd()
            .arg("snapshot")
            .arg("--export")
            .arg(export)
            .arg("--media")
            .arg(sample.join("saved_videos"))
            .args(["--download", "none", "--time", time])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The snapshot ids a page links to, in order.
pub fn snapshot_links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in html.split("href=\"/s/").skip(1) {
        let id: String = part.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
        if id.len() == 64 && !out.contains(&id) {
            out.push(id);
        }
    }
    out
}
