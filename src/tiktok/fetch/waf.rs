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

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Upper bound of the search, as in the public solvers: real challenges are well inside.
pub const MAX_NONCE: u64 = 1_000_000;

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
}

impl Challenge {
    /// Finds the challenge markers in `html`. `None` when the page is not a challenge.
    pub fn find(html: &str) -> Option<Result<Challenge, WafError>> {
        let cookie_name = class_of_id(html, "wci")?;
        let Some(cs) = class_of_id(html, "cs") else {
            return Some(Err(WafError::Malformed(
                "element id=\"wci\" present but id=\"cs\" missing".into(),
            )));
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

    /// Solves the proof of work; returns `(cookie name, cookie value)`.
    pub fn solve(&self) -> Result<(String, String), WafError> {
        let field = |k: &str| {
            self.payload
                .get("v")
                .and_then(|v| v.get(k))
                .and_then(Value::as_str)
                .ok_or_else(|| WafError::Malformed(format!("field v.{k} missing")))
        };
        let prefix = decode_b64(field("a")?)?;
        let want = decode_b64(field("c")?)?;
        let n = (0..MAX_NONCE)
            .find(|n| {
                let mut h = Sha256::new();
                h.update(&prefix);
                h.update(n.to_string().as_bytes());
                h.finalize().as_slice() == want.as_slice()
            })
            .ok_or(WafError::Unsolvable)?;
        let mut answer = self.payload.clone();
        answer["d"] = Value::String(STANDARD.encode(n.to_string()));
        let value = STANDARD.encode(answer.to_string());
        Ok((self.cookie_name.clone(), value))
    }
}

/// Tolerates stripped padding, as TikTok sends it.
fn decode_b64(s: &str) -> Result<Vec<u8>, WafError> {
    STANDARD_NO_PAD
        .decode(s.trim().trim_end_matches('='))
        .map_err(|e| WafError::Malformed(format!("bad base64 {s:?}: {e}")))
}

/// The `class` attribute of the element whose `id` is `id` (either attribute order).
fn class_of_id<'a>(html: &'a str, id: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(rel) = html[from..].find("id=") {
        let at = from + rel;
        from = at + 3;
        let (value, _) = attr_value(&html[at + 3..])?;
        if value != id {
            continue;
        }
        let start = html[..at].rfind('<')?;
        let end = at + html[at..].find('>')?;
        let tag = &html[start..end];
        let mut t = 0;
        while let Some(rel) = tag[t..].find("class=") {
            let c = t + rel;
            t = c + 6;
            // Must be an attribute name, not the tail of another (e.g. data-class=).
            if c > 0 && !tag.as_bytes()[c - 1].is_ascii_whitespace() {
                continue;
            }
            return attr_value(&tag[c + 6..]).map(|(v, _)| v);
        }
        return None;
    }
    None
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
