//! Per-client limits on sign-in starts and callbacks (governor's keyed GCRA limiter): a client
//! that floods them gets the "too many attempts" page (429) instead of new sessions and calls to
//! Logto. Per process: with several instances each allows the configured rate.

use std::{
    hash::{DefaultHasher, Hash, Hasher},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    num::NonZeroU32,
    sync::atomic::{AtomicI64, AtomicU32, Ordering},
};

use axum::http::{HeaderMap, HeaderName};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Who a check counts against: a client address, or, when the proxy's header could not be read
/// as one, that header's value (never the proxy itself: every user would share one budget).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ClientKey {
    Ip(IpAddr),
    HeaderValue(u64),
}

impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientKey::Ip(ip) => ip.fmt(f),
            ClientKey::HeaderValue(hash) => write!(f, "header value #{hash:016x}"),
        }
    }
}

/// Where the client's address is, behind a proxy: RFC 7239 `Forwarded: for=` and the single-value
/// headers of nginx, Cloudflare, Akamai, Fly.io, CloudFront and Envoy are read by the `client-ip`
/// crate (which also refuses a single-value header sent twice, except CloudFront's, whose last
/// line it takes); `X-Forwarded-For` (its rightmost
/// entry) and any other header are read here, `ip:port` and `[ipv6]` forms included, which
/// `client-ip` refuses (Azure Application Gateway appends `ip:port`).
#[derive(Clone, Debug)]
pub struct ClientIpSource {
    header: HeaderName,
}

type Extract = fn(&HeaderMap) -> Result<IpAddr, client_ip::Error>;

impl ClientIpSource {
    pub fn new(header: HeaderName) -> Self {
        Self { header }
    }

    fn known(&self) -> Option<Extract> {
        // `X-Forwarded-For` is read here: its rightmost entry, as `client-ip` reads it, and
        // `ip:port` too (which it refuses).
        Some(match self.header.as_str() {
            "forwarded" => client_ip::rightmost_forwarded,
            "x-real-ip" => client_ip::x_real_ip,
            "cf-connecting-ip" => client_ip::cf_connecting_ip,
            "true-client-ip" => client_ip::true_client_ip,
            "fly-client-ip" => client_ip::fly_client_ip,
            "cloudfront-viewer-address" => client_ip::cloudfront_viewer_address,
            "x-envoy-external-address" => client_ip::x_envoy_external_address,
            _ => return None,
        })
    }

    /// The client's address; `Ok(None)` when the header is absent (the proxy did not set it:
    /// its own health checks); `Err(entry)` when it is there but holds no address: `entry` is
    /// the rightmost one (the proxy's own; entries left of it are the client's to invent).
    pub fn address(&self, headers: &HeaderMap) -> Result<Option<IpAddr>, String> {
        let Some(last) = headers.get_all(&self.header).iter().next_back() else {
            return Ok(None);
        };
        let raw = String::from_utf8_lossy(last.as_bytes());
        let entry = raw.rsplit(',').next().unwrap_or_default().trim().to_owned();
        if let Some(extract) = self.known() {
            match extract(headers) {
                Ok(ip) => return Ok(Some(ip)),
                // A header that must come once came twice: a client added its own line. Which
                // one the proxy wrote cannot be told, so neither is believed.
                Err(client_ip::Error::SingleHeaderRequired { .. }) => return Err(entry),
                Err(_) => {}
            }
        }
        lenient_address(&entry).map(Some).ok_or(entry)
    }
}

/// `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]`, `[2001:db8::1]:443`, `2001:db8::1`, in quotes or
/// not.
fn lenient_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim().trim_matches('"');
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|e| e.strip_suffix(']'))
                .and_then(|e| e.parse::<Ipv6Addr>().ok())
                .map(IpAddr::V6)
        })
}

pub struct SignInLimiter {
    /// `None`: no limit configured.
    limiter: Option<DefaultKeyedRateLimiter<ClientKey>>,
    source: Option<ClientIpSource>,
    checks: AtomicU32,
    /// Unix second of the last "unreadable header" warning (one a minute at most).
    last_warning: AtomicI64,
}

impl SignInLimiter {
    /// How often the limiter forgets clients whose budget is full again (it keeps one entry per
    /// client seen; this bounds memory to the clients of the last minute or so).
    const SWEEP_EVERY: u32 = 1024;

    pub fn new(per_minute: u32, client_ip_header: Option<HeaderName>) -> Self {
        Self {
            limiter: NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n))),
            source: client_ip_header.map(ClientIpSource::new),
            checks: AtomicU32::new(0),
            last_warning: AtomicI64::new(0),
        }
    }

    /// `Ok` if this client may start or finish another sign-in now; otherwise how many seconds
    /// until it may.
    pub fn check(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Result<(), u64> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(Self::SWEEP_EVERY)
        {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let client = self.client(peer, headers);
        limiter.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            tracing::warn!(%client, "sign-in rate limit reached");
            wait.as_secs().max(1)
        })
    }

    /// The client as the limiter keys it: from the configured proxy header, else the peer. IPv6
    /// clients are keyed by their /64, which one client usually holds whole.
    fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> ClientKey {
        let from_header = match &self.source {
            None => None,
            Some(source) => match source.address(headers) {
                Ok(ip) => ip,
                Err(entry) => {
                    self.warn_unreadable(source, &entry);
                    let mut hasher = DefaultHasher::new();
                    entry.hash(&mut hasher);
                    return ClientKey::HeaderValue(hasher.finish());
                }
            },
        };
        ClientKey::Ip(match from_header.or(peer) {
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let s = v6.segments();
                    IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
                }
            },
            Some(v4) => v4,
            // Without a peer address (not served over TCP): one shared budget.
            None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        })
    }

    /// A proxy header the operator configured that holds no address: the limit is then per
    /// header value, which is likely not what they meant. Said once a minute at most.
    fn warn_unreadable(&self, source: &ClientIpSource, raw: &str) {
        let now = logto_axum::now_unix();
        let last = self.last_warning.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 60
            && self
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let shown: String = raw.chars().take(100).collect();
            tracing::warn!(
                header = %source.header,
                value = %shown,
                "CLIENT_IP_HEADER holds no client address: sign-in limits count per header value"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn limits_each_client_separately() {
        let limiter = SignInLimiter::new(3, None);
        let none = HeaderMap::new();
        for _ in 0..3 {
            assert_eq!(limiter.check(ip("192.0.2.1"), &none), Ok(()));
        }
        let wait = limiter.check(ip("192.0.2.1"), &none).unwrap_err();
        assert!((1..=20).contains(&wait), "{wait}");
        assert_eq!(limiter.check(ip("192.0.2.2"), &none), Ok(()));
    }

    #[test]
    fn zero_means_no_limit() {
        let limiter = SignInLimiter::new(0, None);
        for _ in 0..1000 {
            assert_eq!(limiter.check(ip("192.0.2.1"), &HeaderMap::new()), Ok(()));
        }
    }

    fn key(s: &str) -> ClientKey {
        ClientKey::Ip(s.parse().unwrap())
    }

    fn proxied_by(header: &str, value: &str) -> (SignInLimiter, HeaderMap) {
        let name: HeaderName = header.parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(&name, value.parse().unwrap());
        (SignInLimiter::new(1, Some(name)), headers)
    }

    /// Every form a proxy writes names the client; none falls back to the proxy's address.
    #[test]
    fn proxy_headers_in_every_form() {
        let proxy = ip("10.0.0.1");
        for (header, value, client) in [
            (
                "x-forwarded-for",
                "203.0.113.9, 198.51.100.7",
                "198.51.100.7",
            ),
            ("x-forwarded-for", "198.51.100.7:5678", "198.51.100.7"),
            (
                "x-forwarded-for",
                "203.0.113.9, 198.51.100.7:5678",
                "198.51.100.7",
            ),
            ("x-forwarded-for", "[2001:db8:1:2::9]:443", "2001:db8:1:2::"),
            ("x-forwarded-for", "[2001:db8:1:2::9]", "2001:db8:1:2::"),
            ("x-forwarded-for", "2001:db8:1:2::9", "2001:db8:1:2::"),
            (
                "forwarded",
                "for=192.0.2.60;proto=http;by=203.0.113.43",
                "192.0.2.60",
            ),
            (
                "forwarded",
                "for=192.0.2.43, for=\"[2001:db8:cafe::17]:4711\"",
                "2001:db8:cafe::",
            ),
            ("forwarded", "for=\"198.51.100.7:5678\"", "198.51.100.7"),
            ("x-real-ip", "198.51.100.7", "198.51.100.7"),
            ("cf-connecting-ip", "198.51.100.7", "198.51.100.7"),
            ("x-client-address", "198.51.100.7:80", "198.51.100.7"),
        ] {
            let (limiter, headers) = proxied_by(header, value);
            assert_eq!(
                limiter.client(proxy, &headers),
                key(client),
                "{header}: {value}"
            );
        }
    }

    /// A header that is there but holds no address keys on its value, never on the proxy: two
    /// clients behind it with different values keep separate budgets.
    #[test]
    fn unreadable_proxy_headers_never_collapse_onto_the_proxy() {
        let proxy = ip("10.0.0.1");
        for (header, value) in [
            ("x-forwarded-for", "unknown"),
            ("x-forwarded-for", "198.51.100.7, garbage"),
            ("forwarded", "for=unknown"),
            ("forwarded", "for=_hidden"),
            ("x-real-ip", "not an address"),
        ] {
            let (limiter, headers) = proxied_by(header, value);
            let client = limiter.client(proxy, &headers);
            assert!(
                matches!(client, ClientKey::HeaderValue(_)),
                "{header}: {value}: {client}"
            );
            assert_ne!(client, ClientKey::Ip(proxy.unwrap()));
            let (_, other) = proxied_by(header, &format!("{value}x"));
            assert_ne!(
                limiter.client(proxy, &other),
                client,
                "{header}: values kept apart"
            );
            assert_eq!(limiter.client(proxy, &headers), client, "and stable");
        }
        // Only the proxy's own (rightmost) entry counts: a client changing what it wrote to the
        // left does not get a fresh budget.
        let (limiter, a) = proxied_by("x-forwarded-for", "1.1.1.1, unknown");
        let (_, b) = proxied_by("x-forwarded-for", "2.2.2.2, unknown");
        assert_eq!(limiter.client(proxy, &a), limiter.client(proxy, &b));
        // A single-value header sent twice (a client added its own): neither line is believed.
        for header in [
            "x-real-ip",
            "cf-connecting-ip",
            "true-client-ip",
            "fly-client-ip",
            "x-envoy-external-address",
        ] {
            let name: HeaderName = header.parse().unwrap();
            let mut twice = HeaderMap::new();
            twice.append(&name, "203.0.113.1".parse().unwrap());
            twice.append(&name, "198.51.100.7".parse().unwrap());
            let limiter = SignInLimiter::new(1, Some(name));
            assert!(
                matches!(limiter.client(proxy, &twice), ClientKey::HeaderValue(_)),
                "{header}"
            );
        }
        // CloudFront's own form, `ip:port`: `client-ip` takes its last line (CloudFront's own,
        // written after anything the client sent).
        let name: HeaderName = "cloudfront-viewer-address".parse().unwrap();
        let mut twice = HeaderMap::new();
        twice.append(&name, "203.0.113.1:443".parse().unwrap());
        twice.append(&name, "198.51.100.7:443".parse().unwrap());
        let limiter = SignInLimiter::new(1, Some(name));
        assert_eq!(limiter.client(proxy, &twice), key("198.51.100.7"));
        // Its IPv6 form has no brackets: the port is the last group (read as an address, it
        // would move this one to another /64).
        let mut v6 = HeaderMap::new();
        v6.insert(
            "cloudfront-viewer-address",
            "2001:db8::1:2:3:4:443".parse().unwrap(),
        );
        assert_eq!(limiter.client(proxy, &v6), key("2001:db8::"));
        // Said in the log as what it is.
        assert_eq!(key("192.0.2.1").to_string(), "192.0.2.1");
        assert_eq!(
            ClientKey::HeaderValue(0xab).to_string(),
            "header value #00000000000000ab"
        );
        // Said in the log, once a minute at most.
        let (limiter, headers) = proxied_by("x-forwarded-for", "unknown");
        limiter.client(proxy, &headers);
        let first = limiter.last_warning.load(Ordering::Relaxed);
        assert!(first > 0);
        limiter.last_warning.store(first - 59, Ordering::Relaxed);
        limiter.client(proxy, &headers);
        assert_eq!(
            limiter.last_warning.load(Ordering::Relaxed),
            first - 59,
            "not again within a minute"
        );
        limiter.last_warning.store(first - 60, Ordering::Relaxed);
        limiter.client(proxy, &headers);
        assert!(
            limiter.last_warning.load(Ordering::Relaxed) >= first,
            "again after a minute"
        );
    }

    #[test]
    fn client_address() {
        let header: HeaderName = "x-forwarded-for".parse().unwrap();
        let proxied = SignInLimiter::new(1, Some(header.clone()));
        let mut headers = HeaderMap::new();
        headers.insert(&header, "203.0.113.9, 198.51.100.7".parse().unwrap());
        // The proxy's own entry (last), not what the client claimed (first).
        assert_eq!(
            proxied.client(ip("10.0.0.1"), &headers),
            key("198.51.100.7")
        );
        // No header: the peer.
        assert_eq!(
            proxied.client(ip("10.0.0.1"), &HeaderMap::new()),
            key("10.0.0.1")
        );
        // Not configured: the header is ignored.
        let direct = SignInLimiter::new(1, None);
        assert_eq!(direct.client(ip("10.0.0.1"), &headers), key("10.0.0.1"));
        // IPv6 by /64; IPv4-mapped as IPv4.
        assert_eq!(
            direct.client(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), &headers),
            key("2001:db8:1:2::")
        );
        assert_eq!(
            direct.client(ip("::ffff:192.0.2.5"), &headers),
            key("192.0.2.5")
        );
        assert_eq!(direct.client(None, &headers), key("0.0.0.0"));
    }
}
