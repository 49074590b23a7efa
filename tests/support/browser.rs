//! A real browser for the tests: Debian's headless `chromium` driven over WebDriver
//! (`chromedriver`) with plain HTTP calls, no client library.
//!
//! [`Browser::start`] returns `Err(reason)` when chromium or chromedriver is not
//! installed, so a test can skip with that reason; `.ci/run` installs both and sets
//! `TT_VAULT_REQUIRE_BROWSER=1`, which makes a missing browser a failure there.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([
            PathBuf::from("/usr/bin"),
            PathBuf::from("/usr/lib/chromium"),
        ])
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// Skips (returns true) when there is no browser and CI does not demand one.
pub fn skip(reason: &str) -> bool {
    if std::env::var_os("TT_VAULT_REQUIRE_BROWSER").is_some_and(|v| v == "1") {
        panic!("browser test required (TT_VAULT_REQUIRE_BROWSER=1) but: {reason}");
    }
    eprintln!(
        "SKIPPED browser test: {reason} (apt-get install chromium chromium-driver to run it)"
    );
    true
}

impl Browser {
    pub async fn start() -> Result<Browser, String> {
        let driver_bin = find(&["chromedriver"]).ok_or("chromedriver is not installed")?;
        let chromium =
            find(&["chromium", "chromium-browser"]).ok_or("chromium is not installed")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", driver_bin.display()))?;
        let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut b = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            http: reqwest::Client::new(),
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while b
            .http
            .get(format!("{}/status", b.base))
            .send()
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                return Err("chromedriver did not start".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--mute-audio",
            "--autoplay-policy=no-user-gesture-required",
            "--window-size=1200,900",
        ]
        .map(String::from)
        .into_iter()
        .chain([format!("--user-data-dir={}", b._profile.path().display())])
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let r = b.call("POST", "/session", caps).await?;
        b.session = r["sessionId"]
            .as_str()
            .ok_or(format!("no session: {r}"))?
            .to_string();
        Ok(b)
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self
                .http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string()),
        };
        let r = req.send().await.map_err(|e| e.to_string())?;
        let text = r.text().await.map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        if v["value"]["error"].is_string() {
            return Err(format!("webdriver {path}: {}", v["value"]));
        }
        Ok(v["value"].clone())
    }

    pub async fn goto(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url }))
            .await
            .unwrap();
    }

    /// Runs a script (its `return` value comes back).
    pub async fn run(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
        .unwrap()
    }

    /// Runs a script that calls `arguments[0]` with its result.
    pub async fn run_async(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/async",
            json!({"script": script, "args": []}),
        )
        .await
        .unwrap()
    }

    /// Waits until `condition` (a script expression) is true.
    pub async fn wait_for(&self, condition: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.run(&format!("return !!({condition});")).await == json!(true) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.call(
            "POST",
            "/window/rect",
            json!({"width": width, "height": height}),
        )
        .await
        .unwrap();
    }

    pub async fn screenshot(&self, to: &Path) {
        let v = self.call("GET", "/screenshot", Value::Null).await.unwrap();
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, png).unwrap();
    }

    pub async fn quit(mut self) {
        let _ = self.call("DELETE", "", Value::Null).await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
