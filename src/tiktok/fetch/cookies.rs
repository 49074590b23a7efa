//! Netscape `cookies.txt`, as browser extensions and other downloaders export it.
//!
//! One cookie per line, seven fields separated by TABs:
//! `domain  include_subdomains(TRUE|FALSE)  path  secure(TRUE|FALSE)  expires(unix s, 0 = session)  name  value`.
//! Lines starting with `#` are comments, except the `#HttpOnly_` prefix, which marks an
//! HTTP-only cookie and is followed by an ordinary line. Empty lines are ignored. Some
//! exporters leave the value empty (six fields). Expired cookies are skipped.

use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cookie {
    /// As written, e.g. `.tiktok.com`.
    pub domain: String,
    pub include_subdomains: bool,
    pub path: String,
    pub secure: bool,
    /// Unix seconds; 0 for a session cookie.
    pub expires: u64,
    pub name: String,
    pub value: String,
    pub http_only: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CookieFileError {
    #[error("cannot read cookies file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cookies file {path}, line {line}: {what} (expected Netscape cookies.txt: 7 TAB-separated fields)")]
    Line {
        path: PathBuf,
        line: usize,
        what: String,
    },
}

/// The largest cookies file read; a browser's export of every site is a few MiB.
const MAX_FILE: u64 = 64 << 20;

/// Reads and parses a cookies file, dropping cookies that expired before `now` (unix s).
pub fn load(path: &Path, now: u64) -> Result<Vec<Cookie>, CookieFileError> {
    load_at_most(path, now, MAX_FILE)
}

fn load_at_most(path: &Path, now: u64, max: u64) -> Result<Vec<Cookie>, CookieFileError> {
    let read = |source| CookieFileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(max + 1).read_to_string(&mut text))
        .map_err(read)?;
    if text.len() as u64 > max {
        return Err(read(std::io::Error::other(format!(
            "larger than {max} bytes; export only TikTok's cookies"
        ))));
    }
    parse(&text, now).map_err(|(line, what)| CookieFileError::Line {
        path: path.to_path_buf(),
        line,
        what,
    })
}

/// Parses the text; Err is (1-based line, what is wrong).
pub fn parse(text: &str, now: u64) -> Result<Vec<Cookie>, (usize, String)> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches(['\r', '\n']);
        let (line, http_only) = match line.strip_prefix("#HttpOnly_") {
            Some(rest) => (rest, true),
            None => (line, false),
        };
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields: Vec<&str> = line.split('\t').collect();
        if fields.len() < 6 {
            // Hand-edited files sometimes use spaces.
            fields = line.split_whitespace().collect();
        }
        if fields.len() == 6 {
            fields.push("");
        }
        if fields.len() != 7 {
            return Err((i + 1, format!("{} fields", fields.len())));
        }
        let flag = |s: &str, what: &str| match s.to_ascii_uppercase().as_str() {
            "TRUE" => Ok(true),
            "FALSE" => Ok(false),
            _ => Err((i + 1, format!("{what} must be TRUE or FALSE, not {s:?}"))),
        };
        let expires: u64 = fields[4]
            .trim()
            .parse::<f64>()
            .map(|f| f.max(0.0) as u64)
            .map_err(|_| (i + 1, format!("expiry {:?} is not a number", fields[4])))?;
        if fields[0].is_empty() || fields[5].is_empty() {
            return Err((i + 1, "empty domain or name".into()));
        }
        let cookie = Cookie {
            domain: fields[0].to_ascii_lowercase(),
            include_subdomains: flag(fields[1], "include_subdomains")?,
            path: if fields[2].is_empty() {
                "/".into()
            } else {
                fields[2].into()
            },
            secure: flag(fields[3], "secure")?,
            expires,
            name: fields[5].into(),
            value: fields[6].into(),
            http_only,
        };
        if cookie.expires == 0 || cookie.expires > now {
            out.push(cookie);
        }
    }
    Ok(out)
}

impl Cookie {
    /// The host the cookie belongs to, without the leading dot.
    pub fn host(&self) -> &str {
        self.domain.trim_start_matches('.')
    }

    /// A `Set-Cookie` value for a cookie jar. `host_only` drops Domain and Secure, for
    /// the copy given to a local test server standing in for TikTok.
    pub fn set_cookie(&self, host_only: bool) -> String {
        let mut s = format!("{}={}; Path={}", self.name, self.value, self.path);
        if !host_only {
            if self.include_subdomains || self.domain.starts_with('.') {
                s.push_str(&format!("; Domain={}", self.host()));
            }
            if self.secure {
                s.push_str("; Secure");
            }
        }
        s
    }

    /// True for TikTok's own domains (site and CDNs): the only cookies the downloader loads.
    pub fn is_tiktok(&self) -> bool {
        crate::tiktok::links::is_tiktok_owned(&self.host().to_ascii_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# Netscape HTTP Cookie File\n\
        # a comment\n\
        \n\
        .tiktok.com\tTRUE\t/\tTRUE\t1999999999\tsessionid\tabc123\n\
        #HttpOnly_.tiktok.com\tTRUE\t/\tTRUE\t0\ttt_chain_token\txyz==\n\
        www.tiktok.com\tFALSE\t/foo\tFALSE\t1000\told\tgone\n\
        .tiktok.com\tTRUE\t/\tFALSE\t0\tempty\n";

    #[test]
    fn parses_fields_http_only_and_drops_expired() {
        let c = parse(FILE, 1_500_000_000).unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].name, "sessionid");
        assert_eq!(c[0].value, "abc123");
        assert!(c[0].secure && c[0].include_subdomains && !c[0].http_only);
        assert_eq!(c[0].expires, 1_999_999_999);
        assert!(c[1].http_only);
        assert_eq!(c[1].value, "xyz==");
        assert_eq!((c[2].name.as_str(), c[2].value.as_str()), ("empty", ""));
        assert!(c.iter().all(|c| c.is_tiktok()));
        let others = parse(
            "127.0.0.1\tFALSE\t/\tFALSE\t0\tlocal\tx\n\
             .example.com\tTRUE\t/\tFALSE\t0\tforeign\ty\n\
             .tiktok.com.evil.net\tTRUE\t/\tFALSE\t0\tlookalike\tz\n",
            0,
        )
        .unwrap();
        assert!(others.iter().all(|c| !c.is_tiktok()), "{others:?}");
    }

    #[test]
    fn set_cookie_strings() {
        let c = &parse(FILE, 0).unwrap()[0];
        assert_eq!(
            c.set_cookie(false),
            "sessionid=abc123; Path=/; Domain=tiktok.com; Secure"
        );
        assert_eq!(c.set_cookie(true), "sessionid=abc123; Path=/");
    }

    #[test]
    fn an_oversized_file_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cookies.txt");
        std::fs::write(&path, FILE).unwrap();
        assert_eq!(load_at_most(&path, 0, 4096).unwrap().len(), 4);
        let e = load_at_most(&path, 0, 100).unwrap_err().to_string();
        assert!(
            e.contains("cookies.txt") && e.contains("larger than 100 bytes"),
            "{e}"
        );
    }

    #[test]
    fn bad_lines_name_the_line() {
        assert_eq!(parse("a\tb\n", 0).unwrap_err().0, 1);
        let e = parse("# x\n.t.com\tMAYBE\t/\tFALSE\t0\tn\tv\n", 0).unwrap_err();
        assert_eq!(e.0, 2);
        assert!(e.1.contains("MAYBE"));
    }
}
