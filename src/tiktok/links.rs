//! TikTok link forms and video id extraction.
//!
//! Exports and users give links in many shapes; the vault keys videos by their numeric
//! TikTok id, so every form is reduced to that id where the link itself carries it.
//! Short links (`vm.tiktok.com/CODE`, `vt.tiktok.com/CODE`, `www.tiktok.com/t/CODE`)
//! carry no id: they are kept as they are until the downloader resolves the redirect.

/// What a link points at, as far as the link alone tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoLink {
    /// A link that names the post id. `user` is the `@handle` when the link has one
    /// (empty handles, as in `tiktok.com/@/video/ID`, give `None`).
    Post {
        id: String,
        user: Option<String>,
        photo: bool,
    },
    /// A short link whose target is known only after following its redirect.
    Short { url: String },
}

impl VideoLink {
    /// The post id, when the link carries one.
    pub fn id(&self) -> Option<&str> {
        match self {
            VideoLink::Post { id, .. } => Some(id),
            VideoLink::Short { .. } => None,
        }
    }

    /// The post id, when the link carries one, without a copy.
    pub fn into_id(self) -> Option<String> {
        match self {
            VideoLink::Post { id, .. } => Some(id),
            VideoLink::Short { .. } => None,
        }
    }
}

/// Hosts whose pages are TikTok's own (the downloader redirects exactly these to a
/// test server when `TT_VAULT_TIKTOK_BASE` is set).
pub const PAGE_HOSTS: &[&str] = &[
    "www.tiktok.com",
    "tiktok.com",
    "m.tiktok.com",
    "vm.tiktok.com",
    "vt.tiktok.com",
    "www.tiktokv.com",
    "tiktokv.com",
    "www.tiktokv.eu",
    "tiktokv.eu",
];

/// Parses any known link form. Returns `None` for text that is not a TikTok post link.
pub fn parse(link: &str) -> Option<VideoLink> {
    // The form of nearly every row of a like list and a watch history, read without
    // the general walk below (which gives the same for it: a tenth of an export's
    // parse went to that walk).
    if let Some(rest) = link.strip_prefix(SHARE_LINK) {
        let id = rest.strip_suffix('/').unwrap_or(rest);
        if super::ids::is_numeric_id(id) {
            return Some(VideoLink::Post {
                id: id.to_string(),
                user: None,
                photo: false,
            });
        }
    }
    parse_any(link)
}

/// [`parse`] for any form of link.
fn parse_any(link: &str) -> Option<VideoLink> {
    let trimmed = link.trim();
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .unwrap_or(trimmed);
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    // Every row of an export passes here: no allocation for the usual lower-case host.
    let host: std::borrow::Cow<str> = if host.bytes().any(|b| b.is_ascii_uppercase()) {
        host.to_ascii_lowercase().into()
    } else {
        host.into()
    };
    if !is_tiktok_host(&host) {
        return None;
    }
    // Query and fragment never carry the id in any known form. No form needs more
    // than the first four segments.
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let mut segments = [""; 4];
    let mut n = 0;
    for s in path.split('/').filter(|s| !s.is_empty()).take(4) {
        segments[n] = s;
        n += 1;
    }
    let segments = &segments[..n];

    if host == "vm.tiktok.com" || host == "vt.tiktok.com" {
        return segments.first().map(|_| VideoLink::Short {
            url: trimmed.to_string(),
        });
    }

    match segments {
        // tiktok.com/@user/video/ID, /@user/photo/ID, /@/video/ID
        [user, kind @ ("video" | "photo"), id, ..] if user.starts_with('@') => {
            let user = user.trim_start_matches('@');
            numeric(id).map(|id| VideoLink::Post {
                id,
                user: (!user.is_empty()).then(|| user.to_string()),
                photo: *kind == "photo",
            })
        }
        // tiktokv.com/share/video/ID/ and tiktokv.eu likewise
        ["share", kind @ ("video" | "photo"), id, ..] => numeric(id).map(|id| VideoLink::Post {
            id,
            user: None,
            photo: *kind == "photo",
        }),
        // m.tiktok.com/v/ID.html
        ["v", id, ..] => numeric(id.trim_end_matches(".html")).map(|id| VideoLink::Post {
            id,
            user: None,
            photo: false,
        }),
        // tiktok.com/embed/ID and /embed/v2/ID
        ["embed", "v2", id, ..] | ["embed", id, ..] => numeric(id).map(|id| VideoLink::Post {
            id,
            user: None,
            photo: false,
        }),
        // www.tiktok.com/t/CODE/
        ["t", _code, ..] => Some(VideoLink::Short {
            url: trimmed.to_string(),
        }),
        _ => None,
    }
}

/// What a post's share link starts with, its id and a slash after it: the link
/// exports give each liked and watched video.
pub const SHARE_LINK: &str = "https://www.tiktokv.com/share/video/";

/// The domains of TikTok's site: its pages, short links and media hosts live under them.
const SITE_DOMAINS: &[&str] = &["tiktok.com", "tiktokv.com", "tiktokv.eu"];
/// TikTok's media CDNs: they serve no post pages, but they are TikTok's and may be given
/// the page as Referer and TikTok's cookies.
const CDN_DOMAINS: &[&str] = &["tiktokcdn.com", "tiktokcdn-us.com", "tiktokcdn-eu.com"];

/// True when `host` is one of `domains` or a subdomain of one.
fn under_any(host: &str, domains: &[&str]) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    domains.iter().any(|domain| {
        host.strip_suffix(domain)
            .is_some_and(|p| p.is_empty() || p.ends_with('.'))
    })
}

/// True for TikTok's own domains (`tiktok.com`, `tiktokv.com`, `tiktokv.eu` and their
/// subdomains), given in lower case.
pub fn is_tiktok_host(host: &str) -> bool {
    under_any(host, SITE_DOMAINS)
}

/// True for every host TikTok owns, its site and its media CDNs (lower case): the
/// only hosts (besides the base override) that get cookies and a Referer.
pub fn is_tiktok_owned(host: &str) -> bool {
    under_any(host, SITE_DOMAINS) || under_any(host, CDN_DOMAINS)
}

/// The post id a link carries, if any.
pub fn video_id(link: &str) -> Option<String> {
    parse(link).and_then(|l| l.id().map(str::to_string))
}

/// The canonical page of a post, the form TikTok serves most reliably
/// (`tiktokv.com/share` is sometimes blocked where this one works).
pub fn canonical_page(user: Option<&str>, id: &str, photo: bool) -> String {
    let user = user.filter(|u| !u.is_empty()).unwrap_or("_");
    let kind = if photo { "photo" } else { "video" };
    format!("https://www.tiktok.com/@{user}/{kind}/{id}")
}

fn numeric(s: &str) -> Option<String> {
    super::ids::is_numeric_id(s).then(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The share link's short way gives what the general one gives, for the share
    /// link and for every near miss that must fall through to it.
    #[test]
    fn the_share_link_is_read_as_the_general_parse_reads_it() {
        let id = "7301234567890123456";
        for tail in [
            format!("{id}/"),
            id.to_string(),
            format!("{id}//"),
            format!("{id}/?lang=en"),
            format!("{id}?lang=en"),
            format!("{id}/extra"),
            format!("{id} "),
            "/".to_string(),
            String::new(),
            "0/".to_string(),
            "1".repeat(33) + "/",
            "12a/".to_string(),
            "-5/".to_string(),
        ] {
            let link = format!("{SHARE_LINK}{tail}");
            assert_eq!(parse(&link), parse_any(&link), "{link:?}");
        }
    }

    fn id(link: &str) -> Option<String> {
        video_id(link)
    }

    #[test]
    fn every_known_form_yields_the_id() {
        let want = Some("7301234567890123456".to_string());
        for link in [
            "https://www.tiktok.com/@alice/video/7301234567890123456",
            "https://www.tiktok.com/@alice/video/7301234567890123456?is_from_webapp=1&lang=en",
            "https://www.tiktok.com/@/video/7301234567890123456/",
            "https://www.tiktokv.com/share/video/7301234567890123456/",
            "https://www.tiktokv.eu/share/video/7301234567890123456/",
            "https://m.tiktok.com/v/7301234567890123456.html",
            "https://www.tiktok.com/embed/7301234567890123456",
            "https://www.tiktok.com/embed/v2/7301234567890123456",
            "http://tiktok.com/@alice/photo/7301234567890123456",
            "  www.tiktok.com/@alice/video/7301234567890123456  ",
        ] {
            assert_eq!(id(link), want, "{link}");
        }
    }

    #[test]
    fn photo_and_user_are_kept() {
        assert_eq!(
            parse("https://www.tiktok.com/@bob/photo/42"),
            Some(VideoLink::Post {
                id: "42".into(),
                user: Some("bob".into()),
                photo: true
            })
        );
        assert_eq!(
            parse("https://www.tiktok.com/@/video/42"),
            Some(VideoLink::Post {
                id: "42".into(),
                user: None,
                photo: false
            })
        );
    }

    #[test]
    fn short_links_are_kept_until_resolved() {
        for link in [
            "https://vm.tiktok.com/ZMabcdef/",
            "https://vt.tiktok.com/ZSxyz/",
            "https://www.tiktok.com/t/ZTRabc/",
        ] {
            assert_eq!(
                parse(link),
                Some(VideoLink::Short {
                    url: link.to_string()
                })
            );
            assert_eq!(id(link), None);
        }
    }

    #[test]
    fn foreign_and_broken_links_are_rejected() {
        for link in [
            "",
            "N/A",
            "https://example.com/@alice/video/1",
            "https://www.tiktok.com/@alice",
            "https://www.tiktok.com/@alice/video/notanumber",
            "https://nottiktok.com/@alice/video/1",
            "https://tiktokv.evil.com/share/video/1/",
            "https://x-tiktokv.example.org/share/video/1/",
        ] {
            assert_eq!(parse(link), None, "{link}");
        }
    }

    #[test]
    fn tiktok_owned_hosts_are_its_site_and_cdns_only() {
        for host in [
            "www.tiktok.com",
            "tiktok.com",
            "v16-webapp-prime.tiktok.com",
            "www.tiktok.com.",
            "v19.tiktokcdn-us.com",
            "p16-sign.tiktokcdn.com",
            "api.tiktokv.eu",
        ] {
            assert!(is_tiktok_owned(host), "{host}");
        }
        for host in [
            "eviltiktok.com",
            "tiktok.com.evil.net",
            "tiktokcdn.com.example",
            "nottiktokcdn.com",
            "127.0.0.1",
            "",
        ] {
            assert!(!is_tiktok_owned(host), "{host}");
        }
        assert!(
            !is_tiktok_host("p16-sign.tiktokcdn.com"),
            "a CDN is no page host"
        );
    }

    #[test]
    fn canonical_page_uses_underscore_for_unknown_user() {
        assert_eq!(
            canonical_page(None, "1", false),
            "https://www.tiktok.com/@_/video/1"
        );
        assert_eq!(
            canonical_page(Some("al"), "2", true),
            "https://www.tiktok.com/@al/photo/2"
        );
    }
}
