//! Per-client limits on sign-in starts and callbacks (governor's keyed GCRA limiter): a client
//! that floods them gets the "too many attempts" page (429) instead of new sessions and calls to
//! Logto. Per process: with several instances each allows the configured rate.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    num::NonZeroU32,
    sync::atomic::{AtomicU32, Ordering},
};

use axum::http::{HeaderMap, HeaderName};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct SignInLimiter {
    /// `None`: no limit configured.
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    client_ip_header: Option<HeaderName>,
    checks: AtomicU32,
}

impl SignInLimiter {
    /// How often the limiter forgets clients whose budget is full again (it keeps one entry per
    /// client seen; this bounds memory to the clients of the last minute or so).
    const SWEEP_EVERY: u32 = 1024;

    pub fn new(per_minute: u32, client_ip_header: Option<HeaderName>) -> Self {
        Self {
            limiter: NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n))),
            client_ip_header,
            checks: AtomicU32::new(0),
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

    /// The client's address as the limiter keys it: from the configured proxy header (its last
    /// entry: the address the proxy itself saw; earlier ones are the client's to invent), else the
    /// peer. IPv6 clients are keyed by their /64, which one client usually holds whole.
    fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> IpAddr {
        let from_header = self.client_ip_header.as_ref().and_then(|name| {
            headers
                .get_all(name)
                .iter()
                .next_back()
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|v| v.trim().parse::<IpAddr>().ok())
        });
        match from_header.or(peer) {
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

    #[test]
    fn client_address() {
        let header: HeaderName = "x-forwarded-for".parse().unwrap();
        let proxied = SignInLimiter::new(1, Some(header.clone()));
        let mut headers = HeaderMap::new();
        headers.insert(&header, "203.0.113.9, 198.51.100.7".parse().unwrap());
        // The proxy's own entry (last), not what the client claimed (first).
        assert_eq!(
            proxied.client(ip("10.0.0.1"), &headers),
            ip("198.51.100.7").unwrap()
        );
        // No header: the peer.
        assert_eq!(
            proxied.client(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1").unwrap()
        );
        // Not configured: the header is ignored.
        let direct = SignInLimiter::new(1, None);
        assert_eq!(
            direct.client(ip("10.0.0.1"), &headers),
            ip("10.0.0.1").unwrap()
        );
        // IPv6 by /64; IPv4-mapped as IPv4.
        assert_eq!(
            direct.client(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), &headers),
            ip("2001:db8:1:2::").unwrap()
        );
        assert_eq!(
            direct.client(ip("::ffff:192.0.2.5"), &headers),
            ip("192.0.2.5").unwrap()
        );
        assert_eq!(
            direct.client(None, &headers),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        );
    }
}
