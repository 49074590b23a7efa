//! A real S3-protocol server for the off-site tests: moto's server (`moto[server]`,
//! installed by .ci/run into target/ci-venv), started on a free loopback port and
//! stopped on drop; and a small HTTP proxy in front of it that can answer 500/503
//! or die, so the faults of a real network are tested without mocking the store.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where moto's server is: `$TT_VAULT_MOTO`, else target/ci-venv/bin/moto_server.
pub fn moto_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TT_VAULT_MOTO") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/ci-venv/bin/moto_server");
    p.is_file().then_some(p)
}

/// Moto, or None (the test then skips, and says so) unless `TT_VAULT_REQUIRE_S3=1`
/// demands it.
pub fn moto_or_skip(test: &str) -> Option<Moto> {
    match moto_binary() {
        Some(bin) => Some(Moto::start(&bin, &[])),
        None if std::env::var_os("TT_VAULT_REQUIRE_S3").is_some_and(|v| v == "1") => {
            panic!("TT_VAULT_REQUIRE_S3=1 but moto_server is not installed (run .ci/run)")
        }
        None => {
            eprintln!(
                "{test}: SKIPPED — no S3 server: moto_server not found (set TT_VAULT_MOTO, or \
                 let .ci/run install moto[server] into target/ci-venv)"
            );
            None
        }
    }
}

pub struct Moto {
    child: Child,
    pub port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Moto {
    /// Starts moto with extra environment (e.g. authentication on).
    pub fn start(bin: &std::path::Path, env: &[(&str, &str)]) -> Moto {
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start moto_server");
        let moto = Moto { child, port };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "moto_server did not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sends an unsigned request (moto accepts them when authentication is off);
    /// returns the status code and the whole response, head and body. A request for
    /// an object carries a dummy `Signature` query: without one moto refuses an
    /// anonymous request for an object that has an ACL, as one uploaded in a single
    /// PUT has (a presigned request skips that check; signatures are not verified).
    pub fn request_bytes(&self, method: &str, path: &str) -> (u16, Vec<u8>) {
        let object = path
            .split('?')
            .next()
            .is_some_and(|p| p.trim_start_matches('/').contains('/'));
        let path = match (object, path.contains('?')) {
            (false, _) => path.to_string(),
            (true, false) => format!("{path}?Signature=test"),
            (true, true) => format!("{path}&Signature=test"),
        };
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let code = String::from_utf8_lossy(&out[..out.len().min(20)])
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (code, out)
    }

    pub fn request(&self, method: &str, path: &str) -> (u16, String) {
        let (code, out) = self.request_bytes(method, path);
        (code, String::from_utf8_lossy(&out).into_owned())
    }

    pub fn create_bucket(&self, bucket: &str) {
        let (code, body) = self.request("PUT", &format!("/{bucket}"));
        assert_eq!(code, 200, "creating bucket {bucket}: {body}");
    }

    /// The keys under `prefix` in `bucket` (ListObjectsV2 parsed loosely).
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let (code, body) = self.request("GET", &format!("/{bucket}?list-type=2&prefix={prefix}"));
        assert_eq!(code, 200, "{body}");
        body.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the proxy does with the requests it gets.
#[derive(Default)]
pub struct Faults {
    /// Answer this many of the next requests with 503 Slow Down.
    pub fail_next: AtomicUsize,
    /// Answer every request with 500.
    pub fail_all: AtomicBool,
    /// After this many more requests are forwarded (0: never), drop every
    /// connection unanswered and stop listening, as a server killed mid-transfer.
    pub die_after: AtomicUsize,
    pub seen: AtomicUsize,
    /// The nth upload of a pack (counted from 1; 0: none) fails with 500, and so
    /// does every later request for that object.
    pub fail_pack_put: AtomicUsize,
    /// Hold every pack upload this long before forwarding it (so uploads overlap).
    pub hold_pack_puts_ms: AtomicU64,
    /// Pack uploads forwarded so far, in progress now, and the most at once.
    pub pack_puts: AtomicUsize,
    pub pack_puts_now: AtomicUsize,
    pub pack_puts_most: AtomicUsize,
    /// Bytes of pack objects sent back to GETs (whole or ranges).
    pub pack_get_bytes: AtomicU64,
    doomed: Mutex<Option<String>>,
}

impl Faults {
    /// The object whose upload `fail_pack_put` made fail, if it happened.
    pub fn doomed(&self) -> Option<String> {
        self.doomed.lock().unwrap().clone()
    }

    /// Whether this request (`METHOD path`) is to fail as `fail_pack_put` says; counts
    /// and holds pack uploads.
    fn pack_put_fails(&self, method: &str, path: &str) -> bool {
        let path = path.split('?').next().unwrap_or(path);
        let mut doomed = self.doomed.lock().unwrap();
        if doomed.as_deref() == Some(path) {
            return true;
        }
        if method != "PUT" || !path.contains("/packs/") {
            return false;
        }
        let n = self.pack_puts.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.fail_pack_put.load(Ordering::SeqCst) {
            *doomed = Some(path.to_string());
            return true;
        }
        false
    }
}

/// Counts a pack upload in progress while it lives.
struct PackPut<'f>(&'f Faults);

impl<'f> PackPut<'f> {
    fn start(faults: &'f Faults) -> PackPut<'f> {
        let now = faults.pack_puts_now.fetch_add(1, Ordering::SeqCst) + 1;
        faults.pack_puts_most.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(
            faults.hold_pack_puts_ms.load(Ordering::SeqCst),
        ));
        PackPut(faults)
    }
}

impl Drop for PackPut<'_> {
    fn drop(&mut self) {
        self.0.pack_puts_now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An HTTP/1.1 proxy on a free loopback port in front of `upstream`.
pub struct Proxy {
    pub port: u16,
    pub faults: Arc<Faults>,
    dead: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let faults = Arc::new(Faults::default());
        let dead = Arc::new(AtomicBool::new(false));
        let (f, d) = (faults.clone(), dead.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if d.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (f, d) = (f.clone(), d.clone());
                std::thread::spawn(move || serve(conn, upstream, &f, &d));
            }
        });
        Proxy { port, faults, dead }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.dead.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees it is dead.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// One request: its head (with `Connection: close`) and body.
fn read_request(r: &mut BufReader<TcpStream>) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut head = Vec::new();
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().ok()?;
        }
        if !lower.starts_with("connection:") {
            head.extend_from_slice(line.as_bytes());
        }
    }
    head.extend_from_slice(b"Connection: close\r\n\r\n");
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).ok()?;
    Some((head, body))
}

fn serve(conn: TcpStream, upstream: u16, faults: &Faults, dead: &AtomicBool) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    let Some((head, body)) = read_request(&mut reader) else {
        return;
    };
    if dead.load(Ordering::SeqCst) {
        let _ = conn.shutdown(Shutdown::Both);
        return;
    }
    let n = faults.seen.fetch_add(1, Ordering::SeqCst) + 1;
    let die = faults.die_after.load(Ordering::SeqCst);
    if die != 0 && n > die {
        dead.store(true, Ordering::SeqCst);
        let _ = conn.shutdown(Shutdown::Both);
        return;
    }
    let line = String::from_utf8_lossy(&head[..head.iter().position(|&b| b == b'\r').unwrap_or(0)])
        .into_owned();
    let mut words = line.split(' ');
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let pack_put = method == "PUT" && path.contains("/packs/");
    let doomed = faults.pack_put_fails(method, path);
    let _counted = (pack_put && !doomed).then(|| PackPut::start(faults));
    let fail_next = faults
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
        .is_ok();
    if fail_next || doomed || faults.fail_all.load(Ordering::SeqCst) {
        let (status, code) = if fail_next {
            ("503 Service Unavailable", "SlowDown")
        } else {
            ("500 Internal Server Error", "InternalError")
        };
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>\
             <Message>injected by the test proxy</Message></Error>"
        );
        let _ = write!(
            conn,
            "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{xml}",
            xml.len()
        );
        return;
    }
    let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    if up
        .write_all(&head)
        .and_then(|_| up.write_all(&body))
        .is_err()
    {
        return;
    }
    let mut response = Vec::new();
    if up.read_to_end(&mut response).is_err() {
        return;
    }
    if method == "GET" && path.contains("/packs/") {
        let head = response.windows(4).position(|w| w == b"\r\n\r\n");
        let body = head.map_or(0, |end| response.len() - end - 4);
        faults
            .pack_get_bytes
            .fetch_add(body as u64, Ordering::SeqCst);
    }
    let _ = conn.write_all(&with_close(&response));
}

/// The response with `Connection: close`, so the client opens a new connection
/// (through the proxy's checks) for its next request.
fn with_close(response: &[u8]) -> Vec<u8> {
    let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return response.to_vec();
    };
    let head = String::from_utf8_lossy(&response[..end]);
    let mut out = String::new();
    for line in head.split("\r\n") {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&response[end + 4..]);
    bytes
}
