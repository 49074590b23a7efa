//! A local server that behaves like TikTok, failures included, for the downloader tests.
//!
//! Point the downloader at it with `TT_VAULT_TIKTOK_BASE=<server.base>` (or
//! `FetchConfig::base`). It serves a fixed catalogue of posts, one per behaviour (see the
//! `ids` module); every page sets a `tt_chain_token` cookie, and every media file answers
//! 403 unless the request carries that cookie and a `https://www.tiktok.com/` Referer.
//! Media bodies are deterministic pseudo-random bytes ([`media_bytes`]) so tests can
//! compare what was stored. Every request is recorded ([`Server::requests`]).
//!
//! Media is served on the server's own host and port, so with the server as the base
//! override the media URLs it hands out are the base origin: the only non-TikTok origin
//! the downloader may send cookies and a Referer to. The hostile posts point elsewhere
//! ([`Server::set_elsewhere`]: typically a second server on 127.0.0.2, see
//! [`Server::start_on`]), or send what no sane server would (huge pages, endless bodies,
//! impossible bot walls).
//!
//! One thread per connection, one request per connection (`Connection: close`).

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The post ids of the catalogue, by behaviour.
pub mod ids {
    /// Universal layout; bitrateInfo with bytevc2, h265 and h264 (only h264 is right);
    /// cover and subtitles.
    pub const CODECS: &str = "7300000000000000001";
    /// SIGI_STATE layout, playAddr as a list of {src}.
    pub const SIGI: &str = "7300000000000000002";
    /// Reached through the short link [`super::SHORT_LINK`].
    pub const SHORT_TARGET: &str = "7300000000000000003";
    /// Photo post: 3 images and a sound.
    pub const PHOTO: &str = "7300000000000000004";
    /// Behind the proof-of-work bot wall.
    pub const WAF: &str = "7300000000000000005";
    pub const STATUS_10204: &str = "7300000000000000006";
    pub const STATUS_10216: &str = "7300000000000000007";
    pub const STATUS_10222: &str = "7300000000000000008";
    /// HTTP 404.
    pub const GONE: &str = "7300000000000000009";
    /// Page answers 429 with Retry-After: 2 on the first try.
    pub const RATE_LIMITED: &str = "7300000000000000010";
    /// Media connection reset mid-body on the first try only / on every try.
    pub const RESET_ONCE: &str = "7300000000000000011";
    pub const RESET_ALWAYS: &str = "7300000000000000012";
    /// Media body shorter than its Content-Length on the first try only / every try.
    pub const SHORT_ONCE: &str = "7300000000000000013";
    pub const SHORT_ALWAYS: &str = "7300000000000000014";
    /// Media response slower than any sane timeout on the first try only.
    pub const SLOW_ONCE: &str = "7300000000000000015";
    /// Page slower than the timeout on every try.
    pub const SLOW_ALWAYS: &str = "7300000000000000016";
    /// Page without any script element.
    pub const NO_SCRIPT: &str = "7300000000000000017";
    /// Page whose embedded JSON is cut off.
    pub const BROKEN_JSON: &str = "7300000000000000018";
    /// Page redirects to /login.
    pub const LOGIN: &str = "7300000000000000019";
    /// Private (10216) unless the request carries `sessionid=` [`super::SESSION`].
    pub const NEEDS_SESSION: &str = "7300000000000000020";
    /// Bot wall whose prefix is 1 MiB long (and has no solution).
    pub const WAF_HUGE: &str = "7300000000000000021";
    /// Bot wall with a short prefix and no solution below the nonce bound.
    pub const WAF_NONE: &str = "7300000000000000022";
    /// Bot wall with an 8 KiB prefix (longer than any real one).
    pub const WAF_LONG: &str = "7300000000000000030";
    /// A 20 MB page.
    pub const HUGE_PAGE: &str = "7300000000000000023";
    /// Media body without a Content-Length that never ends.
    pub const ENDLESS: &str = "7300000000000000024";
    /// Media announcing a 10 GiB Content-Length.
    pub const DECLARED_HUGE: &str = "7300000000000000025";
    /// Video URL on the "elsewhere" server.
    pub const MEDIA_ELSEWHERE: &str = "7300000000000000026";
    /// Video URL on this server, which redirects it to the "elsewhere" server.
    pub const MEDIA_REDIRECT: &str = "7300000000000000027";
    /// The page itself redirects to the "elsewhere" server.
    pub const PAGE_REDIRECT: &str = "7300000000000000028";
    /// Video URL on this server's port but named `localhost` (a name for a loopback address).
    pub const MEDIA_LOCALHOST: &str = "7300000000000000029";
}

/// The profile pages (`/@NAME`), by behaviour. Any other name answers status 10221.
pub mod profiles {
    /// Current layout (`webapp.user-detail`): fields, an avatar, no listing.
    pub const UNIVERSAL: &str = "alice";
    /// Older layout (`SIGI_STATE` `UserModule`): fields, an avatar and two listed posts
    /// ([`LISTED`]).
    pub const SIGI: &str = "bob";
    /// The posts [`SIGI`]'s page lists (ordinary posts of the catalogue).
    pub const LISTED: [&str; 2] = ["7300000000000000041", "7300000000000000042"];
    /// Status 10222.
    pub const PRIVATE: &str = "hidden";
    /// A private account whose page still shows its fields (`privateAccount: true`).
    pub const PRIVATE_SHOWN: &str = "shy";
    /// Status 10221 (also any name not listed here).
    pub const MISSING: &str = "nobody";
    /// 403, as every page of this user (the catalogue's [`super::BLOCKED_USER`]).
    pub const BLOCKED: &str = super::BLOCKED_USER;
    /// Behind the bot wall, which can be answered.
    pub const WALLED: &str = "walled";
    /// Behind a bot wall without an answer.
    pub const WALLED_SHUT: &str = "fortress";
    /// HTTP 404.
    pub const GONE: &str = "gone";
    /// Its avatar URL points at the "elsewhere" server ([`super::Server::set_elsewhere`]).
    pub const AVATAR_ELSEWHERE: &str = "faraway";
    /// The bio a profile has until [`super::Server::set_bio`] changes it.
    pub const BIO: &str = "Sourdough every Sunday 🍞";
}

/// The avatar file name of profile `user` (its bytes are [`media_bytes`] of it).
pub fn avatar_name(user: &str) -> String {
    format!("avatar-{user}.jpeg")
}

/// A short link (on the `www.tiktok.com/t/` form) that redirects to `ids::SHORT_TARGET`.
pub const SHORT_LINK: &str = "https://www.tiktok.com/t/ZTshort01/";
/// Any page under this user answers 403.
pub const BLOCKED_USER: &str = "blocked";
/// The cookie the pages set and the media require.
pub const CHAIN_TOKEN: &str = "chain-7f3a";
/// The session cookie value that opens `ids::NEEDS_SESSION`.
pub const SESSION: &str = "session-secret";
/// How long the slow responses take.
pub const SLOW: Duration = Duration::from_secs(3);
/// The bot wall's cookie name.
pub const WAF_COOKIE: &str = "_wafchallengeid";
const WAF_PREFIX: &[u8] = b"waf-prefix-0042";
const WAF_NONCE: u64 = 2718;

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub at: Instant,
}

impl Request {
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers.get("cookie")?.split(';').find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then(|| v.to_string())
        })
    }
}

pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    shared: Arc<Shared>,
}

struct Shared {
    base: String,
    log: Mutex<Vec<Request>>,
    /// The base of the server the hostile posts point at.
    elsewhere: Mutex<String>,
    /// Bios set by [`Server::set_bio`], by user.
    bios: Mutex<HashMap<String, String>>,
}

impl Server {
    pub fn start() -> Server {
        Server::start_on("127.0.0.1")
    }

    /// A server on another loopback address (e.g. `127.0.0.2`), any free port.
    pub fn start_on(ip: &str) -> Server {
        let listener = TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("bind {ip}:0: {e}"));
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            base: base.clone(),
            log: Mutex::new(Vec::new()),
            elsewhere: Mutex::new("http://127.0.0.2:9".into()),
            bios: Mutex::new(HashMap::new()),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || handle(conn, &s));
            }
        });
        Server { base, shared }
    }

    /// Where the hostile posts point their media and redirects (another server's base).
    pub fn set_elsewhere(&self, base: &str) {
        *self.shared.elsewhere.lock().unwrap() = base.to_string();
    }

    /// Changes the bio profile `user`'s page shows from now on.
    pub fn set_bio(&self, user: &str, bio: &str) {
        let mut bios = self.shared.bios.lock().unwrap();
        bios.insert(user.to_string(), bio.to_string());
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Requests whose path starts with `prefix`.
    pub fn requests_to(&self, prefix: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.starts_with(prefix))
            .collect()
    }
}

/// The bytes of media file `name`: pseudo-random, from a seed derived from the name.
pub fn media_bytes(name: &str) -> Vec<u8> {
    let mut seed = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let len = 150_000 + (seed % 100_000) as usize;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        // splitmix64
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Post ids starting with this serve a 2–8 MB video each (for the download bench).
pub const BULK_PREFIX: &str = "79";

/// The link of bulk post `n`.
pub fn bulk_link(n: usize) -> String {
    format!("https://www.tiktok.com/@bulk/video/{BULK_PREFIX}{n:017}")
}

/// The video of a bulk post: 2–8 MB, distinct for every id (so nothing dedups), cheap
/// to make: one shared random block XORed with a per-id key.
pub fn bulk_bytes(id: &str) -> Vec<u8> {
    static BLOCK: std::sync::OnceLock<Vec<u64>> = std::sync::OnceLock::new();
    let block = BLOCK.get_or_init(|| {
        let mut x = 0x1234_5678_9abc_def0u64;
        (0..(8 << 20) / 8)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            })
            .collect()
    });
    let key: u64 = id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let len = (2 << 20) + (key % (6 << 20)) as usize;
    let mut out = Vec::with_capacity(len + 8);
    for w in block.iter().take(len.div_ceil(8)) {
        out.extend_from_slice(&(w ^ key).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The media file names of the video of post `id` (the right one).
pub fn video_name(id: &str) -> String {
    format!("v{id}-h264.mp4")
}

// ---------------------------------------------------------------------------------------

fn handle(mut conn: TcpStream, shared: &Shared) {
    let Some(req) = read_request(&mut conn) else {
        return;
    };
    let base = shared.base.as_str();
    let elsewhere = shared.elsewhere.lock().unwrap().clone();
    let count = {
        let mut l = shared.log.lock().unwrap();
        l.push(req.clone());
        l.iter()
            .filter(|r| r.path == req.path && r.method == req.method)
            .count()
    };
    let path = req.path.split('?').next().unwrap_or("").to_string();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["t", "ZTshort01"] => {
            let to = format!(
                "https://www.tiktok.com/@carol/video/{}?_r=1",
                ids::SHORT_TARGET
            );
            respond(&mut conn, 301, &[("Location", &to)], b"");
        }
        ["login"] => respond(&mut conn, 200, &[], b"<html>log in</html>"),
        ["media", name] if name.contains(ids::MEDIA_REDIRECT) => {
            let to = media_url(&elsewhere, name);
            respond(&mut conn, 302, &[("Location", &to)], b"");
        }
        ["media", name] => media(&mut conn, &req, name, count),
        [_, "video", id] if *id == ids::PAGE_REDIRECT => {
            let to = format!("{elsewhere}/@x/video/{id}");
            respond(&mut conn, 302, &[("Location", &to)], b"");
        }
        [user, "video" | "photo", id] if user.starts_with('@') => {
            page(&mut conn, &req, base, &elsewhere, &user[1..], id, count)
        }
        [user] if user.starts_with('@') => {
            let bio = shared.bios.lock().unwrap().get(&user[1..]).cloned();
            let avatar_base = if &user[1..] == profiles::AVATAR_ELSEWHERE {
                &elsewhere
            } else {
                base
            };
            profile_page(&mut conn, &req, avatar_base, &user[1..], bio)
        }
        _ => respond(&mut conn, 404, &[], b"not found"),
    }
}

fn page(
    conn: &mut TcpStream,
    req: &Request,
    base: &str,
    elsewhere: &str,
    user: &str,
    id: &str,
    count: usize,
) {
    let cookie = format!("tt_chain_token={CHAIN_TOKEN}; Path=/");
    let set = [
        ("Set-Cookie", cookie.as_str()),
        ("Content-Type", "text/html"),
    ];
    if user == BLOCKED_USER {
        return respond(conn, 403, &[], b"<html>Access denied</html>");
    }
    let html = match id {
        ids::GONE => return respond(conn, 404, &[], b"<html>not found</html>"),
        ids::LOGIN => return respond(conn, 302, &[("Location", "/login?redirect_url=x")], b""),
        ids::RATE_LIMITED if count == 1 => {
            return respond(conn, 429, &[("Retry-After", "2")], b"slow down")
        }
        ids::SLOW_ALWAYS => {
            std::thread::sleep(SLOW);
            return respond(conn, 200, &set, b"<html>late</html>");
        }
        ids::NO_SCRIPT => "<html><body>Something went wrong</body></html>".to_string(),
        ids::BROKEN_JSON => {
            universal_html(&json!({})).replace("{}", "{\"__DEFAULT_SCOPE__\": {\"webapp.video")
        }
        ids::STATUS_10204 => universal_html(&detail_status(10204, "item is not available")),
        ids::STATUS_10216 => universal_html(&detail_status(10216, "author_secret")),
        ids::STATUS_10222 => universal_html(&detail_status(10222, "account is private")),
        ids::NEEDS_SESSION if req.cookie("sessionid").as_deref() != Some(SESSION) => {
            universal_html(&detail_status(10216, "author_secret"))
        }
        ids::WAF if !req.cookie(WAF_COOKIE).is_some_and(|c| waf_answer_ok(&c)) => waf_page(),
        ids::WAF_HUGE => waf_page_for(&vec![b'p'; 1 << 20], &[7u8; 32]),
        ids::WAF_NONE => waf_page_for(WAF_PREFIX, &[7u8; 32]),
        ids::WAF_LONG => waf_page_for(&[b'p'; 8 << 10], &[7u8; 32]),
        ids::HUGE_PAGE => {
            // Without a Content-Length: the reader has to notice the size on its own.
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n";
            let filler = "<!-- padding -->".repeat(20_000_000 / 16);
            let html = universal_html(&detail_status(10216, "x"))
                .replace("<body>", &format!("<body>{filler}"));
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(html.as_bytes());
            return;
        }
        ids::MEDIA_ELSEWHERE => {
            let video = json!({"duration": 5, "playAddr": media_url(elsewhere, &video_name(id))});
            universal_html(&detail_item(item(base, id, user, video)))
        }
        ids::MEDIA_LOCALHOST => {
            let named = base.replace("127.0.0.1", "localhost");
            let video = json!({"duration": 5, "playAddr": media_url(&named, &video_name(id))});
            universal_html(&detail_item(item(base, id, user, video)))
        }
        ids::SIGI => {
            let item = item(
                base,
                id,
                user,
                json!({"playAddr": [{"src": media_url(base, &video_name(id))}]}),
            );
            let state = json!({"VideoPage": {"statusCode": 0}, "ItemModule": {id: item}});
            format!(
                "<html><script id=\"SIGI_STATE\" type=\"application/json\">{state}</script></html>"
            )
        }
        ids::PHOTO => {
            let mut it = item(base, id, user, json!({"duration": 0}));
            let images: Vec<Value> = (1..=3)
                .map(|n| json!({"imageURL": {"urlList": [media_url(base, &format!("p{id}-{n}.jpeg"))]}}))
                .collect();
            it["imagePost"] = json!({"images": images});
            it["music"]["playUrl"] = json!(media_url(base, &format!("m{id}.mp3")));
            universal_html(&detail_item(it))
        }
        ids::CODECS => {
            let entry = |codec: &str, key_codec: &str, name: &str, bitrate: u64| {
                json!({"CodecType": codec, "Bitrate": bitrate, "GearName": "normal_720_0",
                       "PlayAddr": {"UrlKey": format!("v12044gd0000_{key_codec}_720p_{bitrate}"),
                                    "UrlList": [media_url(base, name)], "Width": 720, "Height": 1280}})
            };
            let video = json!({
                "duration": 12, "width": 720, "height": 1280,
                "bitrateInfo": [
                    entry("bytevc2", "bytevc2", &format!("v{id}-vvc.mp4"), 3_000_000),
                    entry("h265_hvc1", "bytevc1", &format!("v{id}-hevc.mp4"), 2_000_000),
                    entry("h264", "h264", &video_name(id), 1_000_000),
                ],
                "playAddr": media_url(base, &format!("v{id}-play.mp4")),
                "downloadAddr": media_url(base, &format!("v{id}-watermarked.mp4")),
                "cover": media_url(base, &format!("c{id}.jpeg")),
                "subtitleInfos": [{"Url": media_url(base, &format!("s{id}.vtt")),
                                   "LanguageCodeName": "eng-US", "Format": "webvtt"}],
            });
            universal_html(&detail_item(item(base, id, user, video)))
        }
        _ if id.starts_with(BULK_PREFIX) => {
            let video = json!({"duration": 30, "width": 1080, "height": 1920,
                               "playAddr": media_url(base, &format!("bulk-{id}.mp4"))});
            universal_html(&detail_item(item(base, id, user, video)))
        }
        _ if id.starts_with("73000000000000000") => {
            let video = json!({"duration": 5, "width": 576, "height": 1024,
                               "playAddr": media_url(base, &video_name(id))});
            universal_html(&detail_item(item(base, id, user, video)))
        }
        _ => return respond(conn, 404, &[], b"<html>not found</html>"),
    };
    respond(conn, 200, &set, html.as_bytes());
}

/// A profile page; its avatar is served from `avatar_base`.
fn profile_page(
    conn: &mut TcpStream,
    req: &Request,
    avatar_base: &str,
    user: &str,
    bio: Option<String>,
) {
    let cookie = format!("tt_chain_token={CHAIN_TOKEN}; Path=/");
    let set = [
        ("Set-Cookie", cookie.as_str()),
        ("Content-Type", "text/html"),
    ];
    let fields = json!({
        "uniqueId": user, "nickname": user.to_uppercase(),
        "signature": bio.as_deref().unwrap_or(profiles::BIO),
        "bioLink": {"link": format!("https://example.org/{user}")},
        "avatarLarger": media_url(avatar_base, &avatar_name(user)),
        "verified": false, "privateAccount": user == profiles::PRIVATE_SHOWN,
    });
    let stats =
        json!({"followerCount": 1200, "followingCount": 80, "heartCount": 50000, "videoCount": 42});
    let html = match user {
        profiles::BLOCKED => return respond(conn, 403, &[], b"<html>Access denied</html>"),
        profiles::GONE => return respond(conn, 404, &[], b"<html>not found</html>"),
        profiles::WALLED if !req.cookie(WAF_COOKIE).is_some_and(|c| waf_answer_ok(&c)) => {
            waf_page()
        }
        profiles::WALLED_SHUT => waf_page_for(WAF_PREFIX, &[7u8; 32]),
        profiles::UNIVERSAL
        | profiles::WALLED
        | profiles::AVATAR_ELSEWHERE
        | profiles::PRIVATE_SHOWN => {
            user_html(&json!({"statusCode": 0, "userInfo": {"user": fields, "stats": stats}}))
        }
        profiles::SIGI => {
            let state = json!({
                "UserPage": {"statusCode": 0},
                "UserModule": {"users": {user: fields}, "stats": {user: stats}},
                "ItemList": {"user-post": {"list": profiles::LISTED}},
            });
            format!(
                "<html><script id=\"SIGI_STATE\" type=\"application/json\">{state}</script></html>"
            )
        }
        profiles::PRIVATE => user_html(&detail_status(10222, "this account is private")),
        _ => user_html(&detail_status(10221, "user doesn't exist")),
    };
    respond(conn, 200, &set, html.as_bytes());
}

fn user_html(detail: &Value) -> String {
    rehydration_html(json!({"webapp.user-detail": detail}))
}

fn media(conn: &mut TcpStream, req: &Request, name: &str, count: usize) {
    let referer_ok = req
        .headers
        .get("referer")
        .is_some_and(|r| r.starts_with("https://www.tiktok.com/"));
    if req.cookie("tt_chain_token").as_deref() != Some(CHAIN_TOKEN) || !referer_ok {
        return respond(conn, 403, &[], b"Forbidden: no tt_chain_token or Referer");
    }
    // Every codec other than the h264 one serves the wrong bytes.
    let body = if let Some(id) = name
        .strip_prefix("bulk-")
        .and_then(|n| n.strip_suffix(".mp4"))
    {
        bulk_bytes(id)
    } else if name.ends_with("-vvc.mp4")
        || name.ends_with("-hevc.mp4")
        || name.ends_with("-play.mp4")
    {
        b"wrong codec".repeat(100)
    } else {
        media_bytes(name)
    };
    let has = |id: &str| name.contains(id);
    let first = count == 1;
    if has(ids::ENDLESS) {
        return send_endless(conn);
    }
    if has(ids::DECLARED_HUGE) {
        let head = "HTTP/1.1 200 OK\r\nContent-Length: 10737418240\r\nConnection: close\r\n\r\n";
        let _ = conn.write_all(head.as_bytes());
        return send_endless(conn);
    }
    if has(ids::RESET_ALWAYS) || (has(ids::RESET_ONCE) && first) {
        return send_partial(conn, &body, true);
    }
    if has(ids::SHORT_ALWAYS) || (has(ids::SHORT_ONCE) && first) {
        return send_partial(conn, &body, false);
    }
    if has(ids::SLOW_ONCE) && first {
        std::thread::sleep(SLOW);
    }
    respond(
        conn,
        200,
        &[("Content-Type", "application/octet-stream")],
        &body,
    );
}

/// A body without a length that goes on until the client hangs up.
fn send_endless(conn: &mut TcpStream) {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nConnection: close\r\n\r\n";
    if conn.write_all(head.as_bytes()).is_err() {
        return;
    }
    let block = media_bytes("endless");
    while conn.write_all(&block).is_ok() {}
}

/// Headers announcing the whole body, then half of it; then a reset (RST) or a clean close.
fn send_partial(conn: &mut TcpStream, body: &[u8], reset: bool) {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(&body[..body.len() / 2]);
    let _ = conn.flush();
    if reset {
        // SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        use std::os::fd::AsRawFd;
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        unsafe {
            libc::setsockopt(
                conn.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                &linger as *const libc::linger as *const libc::c_void,
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
    }
}

fn respond(conn: &mut TcpStream, status: u16, headers: &[(&str, &str)], body: &[u8]) {
    let reason = match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        _ => "Status",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(body);
    let _ = conn.flush();
}

fn read_request(conn: &mut TcpStream) -> Option<Request> {
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(Request {
        method,
        path,
        headers,
        at: Instant::now(),
    })
}

fn media_url(base: &str, name: &str) -> String {
    format!("{base}/media/{name}?x-expires=1999999999&x-signature=abc")
}

fn item(base: &str, id: &str, user: &str, video: Value) -> Value {
    json!({
        "id": id,
        "desc": format!("post {id} #test"),
        "createTime": "1714521600",
        "author": {"id": "6800000000000000001", "uniqueId": user, "nickname": user.to_uppercase(),
                   "secUid": "MS4wLjABAAAA-test", "avatarThumb": format!("{base}/media/avatar.jpeg")},
        "music": {"id": "6900000000000000001", "title": "original sound", "authorName": user},
        "stats": {"diggCount": 10, "shareCount": 1, "commentCount": 2, "playCount": 100},
        "challenges": [{"id": "1", "title": "test", "desc": "tests"}],
        "textExtra": [{"hashtagName": "test"}],
        "video": video,
    })
}

fn detail_item(item: Value) -> Value {
    json!({"statusCode": 0, "statusMsg": "", "itemInfo": {"itemStruct": item}})
}

fn detail_status(code: i64, msg: &str) -> Value {
    json!({"statusCode": code, "statusMsg": msg})
}

fn universal_html(detail: &Value) -> String {
    rehydration_html(
        json!({"webapp.app-context": {"language": "en"}, "webapp.video-detail": detail}),
    )
}

/// A page with `scope` as the current layout's `__DEFAULT_SCOPE__`.
fn rehydration_html(scope: Value) -> String {
    let data = json!({"__DEFAULT_SCOPE__": scope});
    format!(
        "<!DOCTYPE html><html><head><script id=\"__UNIVERSAL_DATA_FOR_REHYDRATION__\" \
         type=\"application/json\">{data}</script></head><body></body></html>"
    )
}

/// The bot wall: the cookie name in `wci`, the proof-of-work in `cs` (base64 JSON,
/// padding stripped, as TikTok sends it).
fn waf_page() -> String {
    let digest = Sha256::digest([WAF_PREFIX, WAF_NONCE.to_string().as_bytes()].concat());
    waf_page_for(WAF_PREFIX, &digest)
}

/// A bot-wall page for any prefix and digest.
fn waf_page_for(prefix: &[u8], digest: &[u8]) -> String {
    let payload = json!({"v": {"a": STANDARD.encode(prefix), "c": STANDARD.encode(digest)}, "s": "server-sig"});
    let cs = STANDARD_NO_PAD.encode(payload.to_string());
    format!(
        "<html><head><title>Verifying</title></head><body><p id=\"wci\" class=\"{WAF_COOKIE}\"></p>\
         <p id=\"cs\" class=\"{cs}\"></p><script>/* solver */</script></body></html>"
    )
}

/// Accepts the cookie when it answers the issued challenge: `v.a` is our prefix and `d`
/// is the nonce whose SHA-256 with that prefix is the digest.
fn waf_answer_ok(cookie: &str) -> bool {
    let decoded = STANDARD
        .decode(cookie)
        .ok()
        .and_then(|raw| serde_json::from_slice::<Value>(&raw).ok());
    let Some(v) = decoded else { return false };
    let issued_prefix =
        v.pointer("/v/a").and_then(Value::as_str) == Some(STANDARD.encode(WAF_PREFIX).as_str());
    let d = v
        .get("d")
        .and_then(Value::as_str)
        .and_then(|d| STANDARD.decode(d).ok());
    issued_prefix && d.as_deref() == Some(WAF_NONCE.to_string().as_bytes())
}
