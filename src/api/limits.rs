//! Rate limits of the HTTP API (governor, in memory per replica): conversations started per client
//! address, customer messages per conversation, classify calls per API key. Over a limit the API
//! answers 429 with `Retry-After` and counts the refusal in `madoguchi_rate_limited_total{limit}`.
//!
//! The client address is the peer's, or, only when `trusted_proxy_header` is configured, the last
//! entry of that header (the one the trusted proxy wrote). The LINE channel does not pass through
//! these limits: its webhooks come from LINE's few platform addresses, are signed, and carry one
//! user per conversation.
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use uuid::Uuid;

use super::error::ApiError;
use crate::config::Config;

/// The limits, as `madoguchi_rate_limited_total`'s `limit` label names them.
pub const CONVERSATIONS_PER_IP: &str = "conversations_per_ip";
pub const MESSAGES_PER_CONVERSATION: &str = "messages_per_conversation";
pub const CLASSIFY_PER_KEY: &str = "classify_per_key";
pub const LOGIN_PER_ACCOUNT: &str = "login_per_account";
pub const LOGIN_PER_ADDRESS: &str = "login_per_address";

/// One keyed limit: a burst of `n`, refilling one every 60/n seconds. `None` when `n` is 0.
pub struct Limit<K: Hash + Eq + Clone> {
    name: &'static str,
    what: &'static str,
    limiter: Option<DefaultKeyedRateLimiter<K>>,
}

impl<K: Hash + Eq + Clone> Limit<K> {
    /// `per_minute` (0: unlimited); `what` is told to the client ("conversations from this address").
    pub fn per_minute(name: &'static str, what: &'static str, per_minute: u32) -> Self {
        Limit {
            name,
            what,
            limiter: NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n))),
        }
    }

    /// Counts one use by `key`; `Err(wait)` when over the limit (the refusal is counted).
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(key).map_err(|not_until| {
            metrics::counter!(crate::telemetry::RATE_LIMITED, "limit" => self.name).increment(1);
            not_until.wait_time_from(DefaultClock::default().now())
        })
    }

    /// As [`Limit::check`], refused as the API's 429.
    pub fn admit(&self, key: &K) -> Result<(), ApiError> {
        self.check(key).map_err(|wait| {
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            ApiError::RateLimited {
                message: format!("too many {}; retry in {seconds} s", self.what),
                retry_after: seconds,
            }
        })
    }

    /// Forgets keys whose allowance is full again (so the map does not grow without bound).
    pub fn shrink(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
        }
    }
}

/// The API's limits (one set per replica).
pub struct RateLimits {
    pub conversations_per_ip: Limit<IpAddr>,
    pub messages_per_conversation: Limit<Uuid>,
    /// Keyed by the key's id (or `config:api_key` for the configured key).
    pub classify_per_key: Limit<String>,
    trusted_proxy_header: Option<String>,
    uses: std::sync::atomic::AtomicU64,
}

/// Every this many checks, idle keys are forgotten.
const SHRINK_EVERY: u64 = 4096;

impl RateLimits {
    pub fn new(config: &Config) -> RateLimits {
        RateLimits {
            conversations_per_ip: Limit::per_minute(
                CONVERSATIONS_PER_IP,
                "new conversations from this address",
                config.conversations_per_ip_per_minute,
            ),
            messages_per_conversation: Limit::per_minute(
                MESSAGES_PER_CONVERSATION,
                "messages in this conversation",
                config.messages_per_conversation_per_minute,
            ),
            classify_per_key: Limit::per_minute(
                CLASSIFY_PER_KEY,
                "classify calls with this key",
                config.classify_per_key_per_minute,
            ),
            trusted_proxy_header: config.trusted_proxy_header.clone(),
            uses: Default::default(),
        }
    }

    /// Now and then, forgets idle keys of every limit.
    pub fn tick(&self) {
        let n = self.uses.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n % SHRINK_EVERY == SHRINK_EVERY - 1 {
            self.conversations_per_ip.shrink();
            self.messages_per_conversation.shrink();
            self.classify_per_key.shrink();
        }
    }

    /// The client's address (see the module docs); None when neither is known.
    pub fn client_ip(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<IpAddr> {
        client_ip(self.trusted_proxy_header.as_deref(), headers, extensions)
    }
}

/// The client's address: the last entry of `trusted_header` when configured (and parseable),
/// else the peer address of the connection.
pub fn client_ip(
    trusted_header: Option<&str>,
    headers: &HeaderMap,
    extensions: &Extensions,
) -> Option<IpAddr> {
    if let Some(name) = trusted_header {
        let forwarded = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .and_then(parse_address);
        if forwarded.is_some() {
            return forwarded;
        }
    }
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// `203.0.113.7`, `203.0.113.7:4711`, `2001:db8::1` or `[2001:db8::1]:4711`.
fn parse_address(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_burst_then_refusal_with_a_wait() {
        let limit: Limit<u8> = Limit::per_minute("test", "tests", 3);
        for _ in 0..3 {
            assert!(limit.check(&1).is_ok());
        }
        let wait = limit.check(&1).expect_err("over");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(limit.check(&2).is_ok(), "other keys are not affected");
        let unlimited: Limit<u8> = Limit::per_minute("test", "tests", 0);
        for _ in 0..1000 {
            assert!(unlimited.check(&1).is_ok());
        }
    }

    #[test]
    fn the_proxy_header_counts_only_when_configured() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("198.51.100.1, 203.0.113.7"),
        );
        let mut ext = Extensions::new();
        ext.insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 9))));
        let peer: IpAddr = [127, 0, 0, 1].into();
        assert_eq!(client_ip(None, &headers, &ext), Some(peer));
        assert_eq!(
            client_ip(Some("x-forwarded-for"), &headers, &ext),
            Some([203, 0, 113, 7].into())
        );
        headers.insert("x-forwarded-for", HeaderValue::from_static("garbage"));
        assert_eq!(
            client_ip(Some("x-forwarded-for"), &headers, &ext),
            Some(peer)
        );
        assert_eq!(
            parse_address("[2001:db8::1]:80"),
            "2001:db8::1".parse().ok()
        );
    }
}
