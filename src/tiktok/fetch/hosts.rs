//! Where the downloader may send requests, and which requests carry cookies and a Referer.
//!
//! Pages, media URLs and every redirect hop come from the network, so none of them may
//! steer a request (or the user's TikTok session) somewhere else:
//!
//! - only `http` and `https` URLs are fetched;
//! - no request goes to a loopback, private, link-local or otherwise non-public address
//!   ([`is_public`]), unless its origin (scheme, host, port) is exactly the base override's
//!   (`TT_VAULT_TIKTOK_BASE`, the tests' local server). Another port of the base's host is
//!   refused too. IP literals are checked before the request; names are checked after
//!   resolution by [`GuardedResolver`], which connects only to the addresses it checked;
//! - cookies and the Referer go only to TikTok's own hosts (site and CDNs) and to the base
//!   origin ([`Hosts::trusted`], enforced for cookies by [`GuardedJar`]).

use crate::tiktok::links::is_tiktok_owned;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::HeaderValue;
use reqwest::Url;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// The rules, given the base override.
#[derive(Debug, Clone, Default)]
pub struct Hosts {
    base: Option<Url>,
}

/// A name resolved only to addresses the downloader may not ask.
#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to private or local addresses; refused")]
pub struct PrivateName(pub String);

impl Hosts {
    pub fn new(base: Option<Url>) -> Hosts {
        Hosts { base }
    }

    /// True when `url` has the base override's origin: same scheme, host and port.
    pub fn is_base(&self, url: &Url) -> bool {
        self.base.as_ref().is_some_and(|b| {
            b.scheme() == url.scheme()
                && same_host(b, url)
                && b.port_or_known_default() == url.port_or_known_default()
        })
    }

    /// Whether `url` may be requested at all; Err says why not. Names pass here and are
    /// checked once resolved.
    pub fn check(&self, url: &Url) -> Result<(), String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("{url}: only http and https are fetched"));
        }
        if self.is_base(url) {
            return Ok(());
        }
        if self.base.as_ref().is_some_and(|b| same_host(b, url)) {
            return Err(format!(
                "{url}: the base override's host on another scheme or port; refused"
            ));
        }
        let Some(host) = url.host_str() else {
            return Err(format!("{url}: no host"));
        };
        let Some(ip) = ip_literal(host) else {
            return Ok(());
        };
        if is_public(ip) {
            Ok(())
        } else {
            Err(format!(
                "{url}: {ip} is a private or local address; refused"
            ))
        }
    }

    /// Whether `url` may be sent cookies and the Referer: TikTok's own hosts, or the base
    /// origin.
    pub fn trusted(&self, url: &Url) -> bool {
        self.is_base(url)
            || url.host_str().is_some_and(|h| {
                ip_literal(h).is_none() && is_tiktok_owned(&h.to_ascii_lowercase())
            })
    }

    /// Whether the name `host` may resolve to a private address: only the base's own host
    /// (its other ports are refused by [`Hosts::check`] before any lookup).
    fn may_be_private(&self, host: &str) -> bool {
        self.base
            .as_ref()
            .and_then(Url::host_str)
            .is_some_and(|b| b.eq_ignore_ascii_case(host.trim_end_matches('.')))
    }
}

/// The address a URL's host names, when it is an address (the URL parser has already
/// turned `2130706433` and `0x7f.1` into `127.0.0.1`); IPv6 comes in brackets.
fn ip_literal(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

fn same_host(a: &Url, b: &Url) -> bool {
    match (a.host_str(), b.host_str()) {
        (Some(a), Some(b)) => a
            .trim_end_matches('.')
            .eq_ignore_ascii_case(b.trim_end_matches('.')),
        _ => false,
    }
}

/// True for addresses on the public internet; false for loopback, private, link-local,
/// shared (CGNAT), unspecified, multicast, broadcast, documentation and reserved ranges,
/// and for IPv6 forms that embed such an IPv4 address (mapped, compatible, NAT64, 6to4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (b & 0xc0) == 64)
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b & 0xfe) == 18)
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let v4_in =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    // ::a.b.c.d (deprecated IPv4-compatible; :: and ::1 are among them).
    if s[..6].iter().all(|&x| x == 0) {
        return is_public_v4(v4_in(s[6], s[7]));
    }
    // NAT64 64:ff9b::/96, SIIT ::ffff:0:0:0/96 and 6to4 2002::/16 reach the IPv4
    // address inside.
    let nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2..6].iter().all(|&x| x == 0);
    let siit = s[..4].iter().all(|&x| x == 0) && s[4] == 0xffff && s[5] == 0;
    if nat64 || siit {
        return is_public_v4(v4_in(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return is_public_v4(v4_in(s[1], s[2]));
    }
    !((s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] & 0xff00) == 0xff00 // multicast
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x2001 && s[1] == 0) // Teredo: the IPv4 inside is obscured
        || (s[0] == 0x0100 && s[1..4].iter().all(|&x| x == 0))) // discard-only 100::/64
}

/// Resolves names with the system resolver and keeps only the addresses [`Hosts`]
/// allows; the connection then goes to exactly those (no second lookup to race).
pub struct GuardedResolver {
    pub hosts: Arc<Hosts>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        let private_ok = self.hosts.may_be_private(&host);
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| private_ok || is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(Box::new(PrivateName(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// The run's cookie jar, which hands cookies only to trusted URLs and takes them only
/// from trusted responses (a CDN or a stray host never sees the TikTok session).
pub struct GuardedJar {
    pub jar: Jar,
    pub hosts: Arc<Hosts>,
}

impl CookieStore for GuardedJar {
    fn set_cookies(&self, headers: &mut dyn Iterator<Item = &HeaderValue>, url: &Url) {
        if self.hosts.trusted(url) {
            self.jar.set_cookies(headers, url);
        }
    }

    fn cookies(&self, url: &Url) -> Option<HeaderValue> {
        if self.hosts.trusted(url) {
            self.jar.cookies(url)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn hosts(base: Option<&str>) -> Hosts {
        Hosts::new(base.map(url))
    }

    #[test]
    fn public_and_private_addresses() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "127.0.0.2",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "100.64.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001:0:4136:e378::1",
            "::ffff:0:7f00:1",
            "100::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn private_literals_are_refused_without_a_base() {
        let h = hosts(None);
        assert!(h.check(&url("https://www.tiktok.com/@a/video/1")).is_ok());
        assert!(h.check(&url("https://8.8.8.8/x")).is_ok());
        for bad in [
            "http://127.0.0.1:8080/x",
            "http://[::1]/x",
            "http://169.254.169.254/latest/meta-data",
            "http://2130706433/x", // 127.0.0.1 written as one number
            "http://0x7f.1/x",     // and in hex
            "http://[::ffff:192.168.0.1]/x",
            "ftp://www.tiktok.com/x",
            "file:///etc/passwd",
        ] {
            assert!(h.check(&url(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_base_origin_alone_is_allowed_and_trusted() {
        let h = hosts(Some("http://127.0.0.1:8123"));
        assert!(h.check(&url("http://127.0.0.1:8123/media/x.mp4")).is_ok());
        assert!(h.trusted(&url("http://127.0.0.1:8123/media/x.mp4")));
        for other in [
            "http://127.0.0.1:8124/x",  // another port of the base host
            "https://127.0.0.1:8123/x", // another scheme
            "http://127.0.0.1/x",
            "http://127.0.0.2:8123/x", // another loopback address
            "http://[::1]:8123/x",
        ] {
            assert!(h.check(&url(other)).is_err(), "{other}");
            assert!(!h.trusted(&url(other)), "{other}");
        }
        assert!(h.may_be_private("127.0.0.1"));
        assert!(!h.may_be_private("localhost"));
        let named = hosts(Some("http://LocalHost:9/tt/"));
        assert!(named.is_base(&url("http://localhost:9/other")));
        assert!(named.may_be_private("localhost"));
        assert!(named.check(&url("http://localhost:10/")).is_err());
    }

    #[test]
    fn cookies_and_referer_go_to_tiktok_hosts_only() {
        let h = hosts(Some("http://127.0.0.1:8123"));
        for ok in [
            "https://www.tiktok.com/@a/video/1",
            "https://v16-webapp-prime.tiktok.com/video/x",
            "https://p16-sign.tiktokcdn-us.com/img.jpeg",
        ] {
            assert!(h.trusted(&url(ok)), "{ok}");
        }
        for not in [
            "https://example.com/x",
            "https://tiktok.com.evil.net/x",
            "https://8.8.8.8/x",
        ] {
            assert!(!h.trusted(&url(not)), "{not}");
        }
    }

    #[tokio::test]
    async fn names_resolving_to_private_addresses_are_refused() {
        let resolver = GuardedResolver {
            hosts: Arc::new(hosts(Some("http://127.0.0.1:8123"))),
        };
        let err = match resolver.resolve("localhost".parse().unwrap()).await {
            Err(e) => e,
            Ok(addrs) => panic!("localhost resolved to {:?}", addrs.collect::<Vec<_>>()),
        };
        assert!(err.downcast_ref::<PrivateName>().is_some(), "{err}");
        let base_named = GuardedResolver {
            hosts: Arc::new(hosts(Some("http://localhost:8123"))),
        };
        let addrs: Vec<SocketAddr> = match base_named.resolve("localhost".parse().unwrap()).await {
            Ok(a) => a.collect(),
            Err(e) => panic!("{e}"),
        };
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
