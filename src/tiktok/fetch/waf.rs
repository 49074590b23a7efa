//! TikTok's web-application-firewall challenge (the "bot wall").
//!
//! # The procedure
//!
//! Instead of a video page, TikTok sometimes answers with a small HTML page that carries
//! no embedded JSON but two marker elements (public downloaders solve it as follows):
//!
//! - an element with `id="wci"` whose `class` attribute is the **name of the cookie** to
//!   set (e.g. `_wafchallengeid`);
//! - an element with `id="cs"` whose `class` attribute is **base64 of a JSON object**
//!   (padding often stripped). Its field `v` holds the proof of work:
//!   `v.a` is base64 of a byte prefix, `v.c` is base64 of a SHA-256 digest.
//!
//! The solution is the smallest non-negative integer `n` (tried from 0 up to a bound of
//! one million) such that `SHA-256(prefix ‖ decimal(n))` equals the digest, where
//! `decimal(n)` is the ASCII decimal text of `n`. The answer is written back into the
//! same JSON object as field `d` = base64(decimal(n)); every other field is kept as it
//! came. The cookie value is base64 of that JSON text (standard alphabet, padded).
//! After setting `<wci name>=<value>` for the page host, the page is requested again.
//!
//! No `n` within the bound means TikTok has blocked the address outright; that is
//! reported as blocked, not retried endlessly.
//!
//! # Bounds
//!
//! The challenge comes from the network, so the work it can demand is capped: the prefix
//! is hashed once and that state reused for every nonce (the cost per nonce does not grow
//! with the prefix), a prefix longer than [`MAX_PREFIX`], a digest that is not 32 bytes or
//! a challenge element longer than the page scanner's window is refused outright, and the
//! search stops after [`MAX_NONCE`] tries or [`MAX_SOLVE_TIME`]. Each of these counts as
//! blocked: the post is recorded as such and the run goes on.

use super::page::{boundary_at_or_after, window, TAG_WINDOW};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use serde_json::Value;
use sha2::compress256;
use sha2::digest::generic_array::{typenum::U64, GenericArray};
#[cfg(test)]
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

/// Upper bound of the search, as in the public solvers: real challenges are well inside.
pub const MAX_NONCE: u64 = 1_000_000;
/// The longest prefix accepted; real challenges carry short ones.
pub const MAX_PREFIX: usize = 1024;
/// The longest one challenge may be worked on (a full search takes well under a second).
pub const MAX_SOLVE_TIME: Duration = Duration::from_secs(5);

/// A challenge found in a page.
#[derive(Debug, Clone, PartialEq)]
pub struct Challenge {
    /// The name of the cookie that carries the answer (from `id="wci"`).
    pub cookie_name: String,
    /// The decoded JSON of `id="cs"`.
    pub payload: Value,
}

/// Why a challenge page could not be turned into a cookie.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WafError {
    #[error("bot-wall challenge is malformed: {0}")]
    Malformed(String),
    #[error("bot-wall challenge has no solution below {MAX_NONCE}: the address is blocked")]
    Unsolvable,
    #[error("bot-wall challenge not solved within {}s: given up", .0.as_secs_f32())]
    TooSlow(Duration),
}

impl Challenge {
    /// Finds the challenge markers in `html`. `None` when the page is not a challenge.
    pub fn find(html: &str) -> Option<Result<Challenge, WafError>> {
        let cookie_name = match class_of_id(html, "wci") {
            Ok(name) => name?,
            Err(e) => return Some(Err(e)),
        };
        let cs = match class_of_id(html, "cs") {
            Ok(Some(cs)) => cs,
            Ok(None) => {
                return Some(Err(WafError::Malformed(
                    "element id=\"wci\" present but id=\"cs\" missing".into(),
                )))
            }
            Err(e) => return Some(Err(e)),
        };
        Some(decode_b64(cs).and_then(|raw| {
            serde_json::from_slice(&raw)
                .map_err(|e| WafError::Malformed(format!("id=\"cs\" is not JSON: {e}")))
                .map(|payload| Challenge {
                    cookie_name: cookie_name.to_string(),
                    payload,
                })
        }))
    }

    /// Solves the proof of work within [`MAX_SOLVE_TIME`]; returns `(cookie name, cookie value)`.
    pub fn solve(&self) -> Result<(String, String), WafError> {
        self.solve_within(MAX_SOLVE_TIME)
    }

    /// Solves the proof of work, giving up after `limit`.
    pub fn solve_within(&self, limit: Duration) -> Result<(String, String), WafError> {
        let field = |k: &str| {
            self.payload
                .get("v")
                .and_then(|v| v.get(k))
                .and_then(Value::as_str)
                .ok_or_else(|| WafError::Malformed(format!("field v.{k} missing")))
        };
        let (a, c) = (field("a")?, field("c")?);
        // Base64 is 4/3 of the bytes: refuse before decoding anything oversized.
        if a.len() > MAX_PREFIX.div_ceil(3) * 4 + 4 {
            return Err(WafError::Malformed(format!(
                "prefix of {} base64 characters, more than the {MAX_PREFIX} bytes a challenge has",
                a.len()
            )));
        }
        let prefix = decode_b64(a)?;
        if prefix.len() > MAX_PREFIX {
            return Err(WafError::Malformed(format!(
                "prefix of {} bytes, more than {MAX_PREFIX}",
                prefix.len()
            )));
        }
        let want = decode_b64(c)?;
        if want.len() != 32 {
            return Err(WafError::Malformed(format!(
                "digest of {} bytes, not a SHA-256 (32)",
                want.len()
            )));
        }
        let n = search(&prefix, &want, Instant::now() + limit)
            .map_err(|()| WafError::TooSlow(limit))?
            .ok_or(WafError::Unsolvable)?;
        let mut answer = self.payload.clone();
        answer["d"] = Value::String(STANDARD.encode(n.to_string()));
        let value = STANDARD.encode(answer.to_string());
        Ok((self.cookie_name.clone(), value))
    }
}

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// The smallest nonce below [`MAX_NONCE`] whose hash after `prefix` is `want`;
/// `Err` once `deadline` passes (checked every few thousand tries).
///
/// The prefix's whole 64-byte blocks are compressed once; each nonce then costs one or two
/// block compressions of the prefix's tail, its digits and the padding.
fn search(prefix: &[u8], want: &[u8], deadline: Instant) -> Result<Option<u64>, ()> {
    type Block = GenericArray<u8, U64>;
    let whole = prefix.len() / 64 * 64;
    let mut state = SHA256_IV;
    let blocks: Vec<Block> = prefix[..whole]
        .chunks_exact(64)
        .map(|b| *Block::from_slice(b))
        .collect();
    compress256(&mut state, &blocks);
    let tail = &prefix[whole..];
    let mut buf = [0u8; 128];
    buf[..tail.len()].copy_from_slice(tail);
    let mut digits = [0u8; 20];
    for n in 0..MAX_NONCE {
        if n % 4096 == 0 && Instant::now() >= deadline {
            return Err(());
        }
        let d = decimal(n, &mut digits);
        let len = tail.len() + d.len();
        buf[tail.len()..len].copy_from_slice(d);
        buf[len] = 0x80;
        let end = if len + 9 <= 64 { 64 } else { 128 };
        buf[len + 1..end - 8].fill(0);
        let bits = (prefix.len() + d.len()) as u64 * 8;
        buf[end - 8..end].copy_from_slice(&bits.to_be_bytes());
        let last = [
            *Block::from_slice(&buf[..64]),
            *Block::from_slice(&buf[64..]),
        ];
        let mut h = state;
        compress256(&mut h, &last[..end / 64]);
        if h.iter()
            .zip(want.chunks_exact(4))
            .all(|(w, b)| w.to_be_bytes() == b)
        {
            return Ok(Some(n));
        }
    }
    Ok(None)
}

/// The ASCII decimal of `n`, written into the end of `buf` (no allocation per nonce).
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

/// Tolerates stripped padding, as TikTok sends it.
fn decode_b64(s: &str) -> Result<Vec<u8>, WafError> {
    STANDARD_NO_PAD
        .decode(s.trim().trim_end_matches('='))
        .map_err(|e| WafError::Malformed(format!("bad base64 {s:?}: {e}")))
}

/// The `class` attribute of the element whose `id` is `id` (either attribute order);
/// `Err` when that element's tag is longer than any real challenge's.
fn class_of_id<'a>(html: &'a str, id: &str) -> Result<Option<&'a str>, WafError> {
    let mut from = 0;
    while let Some(rel) = html[from..].find("id=") {
        let at = from + rel;
        from = at + 3;
        // Ids are short: look for the closing quote only nearby.
        let near = window(html, at + 3, id.len() + 2);
        let Some((value, _)) = attr_value(near) else {
            continue;
        };
        if value != id {
            continue;
        }
        let too_long = || {
            WafError::Malformed(format!(
                "element id=\"{id}\" is longer than {} KiB",
                TAG_WINDOW >> 10
            ))
        };
        let back = boundary_at_or_after(html, at.saturating_sub(TAG_WINDOW));
        let start = back + html[back..at].rfind('<').ok_or_else(too_long)?;
        let end = at
            + window(html, at, TAG_WINDOW)
                .find('>')
                .ok_or_else(too_long)?;
        let tag = &html[start..end];
        let mut t = 0;
        while let Some(rel) = tag[t..].find("class=") {
            let c = t + rel;
            t = c + 6;
            // Must be an attribute name, not the tail of another (e.g. data-class=).
            if c > 0 && !tag.as_bytes()[c - 1].is_ascii_whitespace() {
                continue;
            }
            return Ok(attr_value(&tag[c + 6..]).map(|(v, _)| v));
        }
        return Ok(None);
    }
    Ok(None)
}

/// A quoted attribute value at the start of `s`, and the rest after it.
fn attr_value(s: &str) -> Option<(&str, &str)> {
    let quote = s.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let end = s[1..].find(quote)?;
    Some((&s[1..1 + end], &s[2 + end..]))
}

/// Builds a challenge page for tests (and documents the layout from the other side).
#[cfg(test)]
pub fn challenge_page(cookie_name: &str, prefix: &[u8], nonce: u64) -> String {
    let mut h = Sha256::new();
    h.update(prefix);
    h.update(nonce.to_string().as_bytes());
    let payload = serde_json::json!({
        "v": {"a": STANDARD.encode(prefix), "c": STANDARD.encode(h.finalize())},
        "s": "sig",
    });
    let cs = STANDARD_NO_PAD.encode(payload.to_string());
    format!(
        "<html><body><p id=\"wci\" class=\"{cookie_name}\"></p><p id=\"cs\" class=\"{cs}\"></p>\
         <script>/* challenge script */</script></body></html>"
    )
}

/// Checks a solution cookie value against the prefix and digest it must answer
/// (what TikTok's side does; the unit tests check our solver with it).
#[cfg(test)]
pub fn verify(cookie_value: &str) -> bool {
    let Ok(raw) = decode_b64(cookie_value) else {
        return false;
    };
    let Ok(v) = serde_json::from_slice::<Value>(&raw) else {
        return false;
    };
    let get = |p: &[&str]| {
        p.iter()
            .try_fold(&v, |v, k| v.get(k))
            .and_then(Value::as_str)
            .and_then(|s| decode_b64(s).ok())
    };
    match (get(&["v", "a"]), get(&["v", "c"]), get(&["d"])) {
        (Some(prefix), Some(want), Some(d)) => {
            let mut h = Sha256::new();
            h.update(&prefix);
            h.update(&d);
            h.finalize().as_slice() == want.as_slice()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_a_generated_challenge_and_the_answer_verifies() {
        let page = challenge_page("_wafchallengeid", b"prefix-bytes", 4321);
        let ch = Challenge::find(&page).unwrap().unwrap();
        assert_eq!(ch.cookie_name, "_wafchallengeid");
        let (name, value) = ch.solve().unwrap();
        assert_eq!(name, "_wafchallengeid");
        let answer: Value = serde_json::from_slice(&STANDARD.decode(&value).unwrap()).unwrap();
        assert_eq!(answer["d"], STANDARD.encode("4321"));
        assert_eq!(answer["s"], "sig", "other fields are kept");
        assert!(verify(&value));
        assert!(!verify(
            &STANDARD.encode(r#"{"v":{"a":"AA","c":"AA"},"d":"MQ"}"#)
        ));
    }

    #[test]
    fn attribute_order_and_quotes_do_not_matter() {
        let html = "<div class='x'></div><p class='name1' id='wci'></p>\
                    <p data-class=\"no\" class=\"eyJ2Ijp7fX0\" id=\"cs\">";
        let ch = Challenge::find(html).unwrap().unwrap();
        assert_eq!(ch.cookie_name, "name1");
        assert_eq!(ch.payload, serde_json::json!({"v": {}}));
        assert!(matches!(ch.solve(), Err(WafError::Malformed(_))));
    }

    #[test]
    fn ordinary_pages_are_not_challenges() {
        assert!(Challenge::find("<html><p id=\"other\" class=\"a\"></p></html>").is_none());
        assert!(matches!(
            Challenge::find("<p id=\"wci\" class=\"n\"></p>"),
            Some(Err(WafError::Malformed(_)))
        ));
    }

    fn challenge(prefix: &[u8], digest: &[u8]) -> Challenge {
        Challenge {
            cookie_name: "c".into(),
            payload: serde_json::json!({"v": {"a": STANDARD.encode(prefix), "c": STANDARD.encode(digest)}}),
        }
    }

    #[test]
    fn oversized_prefixes_and_bad_digests_are_refused_at_once() {
        let started = Instant::now();
        let huge = challenge(&vec![b'x'; 1 << 20], &[0u8; 32]);
        assert!(matches!(huge.solve(), Err(WafError::Malformed(m)) if m.contains("prefix")));
        let just_over = challenge(&[b'x'; MAX_PREFIX + 1], &[0u8; 32]);
        assert!(matches!(just_over.solve(), Err(WafError::Malformed(_))));
        let short_digest = challenge(b"p", &[0u8; 31]);
        assert!(
            matches!(short_digest.solve(), Err(WafError::Malformed(m)) if m.contains("digest"))
        );
        assert!(started.elapsed() < Duration::from_secs(1));
        // The longest prefix allowed still solves.
        let prefix = [b'y'; MAX_PREFIX];
        let page = challenge_page("c", &prefix, 777);
        let (_, value) = Challenge::find(&page).unwrap().unwrap().solve().unwrap();
        assert!(verify(&value));
    }

    #[test]
    fn the_search_gives_up_at_its_deadline() {
        let ch = challenge(b"p", &[0u8; 32]);
        let started = Instant::now();
        assert_eq!(
            ch.solve_within(Duration::from_millis(20)),
            Err(WafError::TooSlow(Duration::from_millis(20)))
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn the_search_agrees_with_sha256_for_every_tail_length() {
        for len in [0, 1, 50, 54, 55, 56, 57, 63, 64, 65, 119, 120, 200] {
            let prefix: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            for nonce in [0u64, 9, 10, 12_345] {
                let mut h = Sha256::new();
                h.update(&prefix);
                h.update(nonce.to_string().as_bytes());
                let want = h.finalize();
                let far = Instant::now() + Duration::from_secs(600);
                assert_eq!(
                    search(&prefix, &want, far),
                    Ok(Some(nonce)),
                    "{len} {nonce}"
                );
            }
        }
    }

    #[test]
    fn decimals_are_written_without_allocating() {
        let mut buf = [0u8; 20];
        assert_eq!(decimal(0, &mut buf), b"0");
        assert_eq!(decimal(4321, &mut buf), b"4321");
        assert_eq!(decimal(u64::MAX, &mut buf), u64::MAX.to_string().as_bytes());
    }

    #[test]
    fn an_oversized_challenge_element_is_malformed() {
        let page = challenge_page("c", &vec![b'x'; 200_000], 1);
        let found = Challenge::find(&page);
        assert!(
            matches!(&found, Some(Err(WafError::Malformed(m))) if m.contains("longer than")),
            "{found:?}"
        );
    }

    #[test]
    fn a_page_crowded_with_ids_is_scanned_quickly() {
        let page = format!("<p>{}</p>", "id=\"wci\" ".repeat(400_000));
        let started = Instant::now();
        let _ = Challenge::find(&page);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn an_impossible_digest_is_unsolvable() {
        let payload =
            serde_json::json!({"v": {"a": STANDARD.encode("p"), "c": STANDARD.encode([0u8; 32])}});
        let ch = Challenge {
            cookie_name: "c".into(),
            payload,
        };
        assert_eq!(ch.solve(), Err(WafError::Unsolvable));
    }
}
