//! Login rate limits (governor, in memory per replica): a few attempts per account name, more per
//! client address, each refilling over a minute (`login_attempts_per_account_per_minute`,
//! `login_attempts_per_address_per_minute`; the address honours `trusted_proxy_header`). Over
//! either one, the login answers 429 with `Retry-After`, counted in
//! `madoguchi_rate_limited_total{limit="login_per_account"|"login_per_address"}`.
use std::net::IpAddr;
use std::time::Duration;

use crate::api::limits::{Limit, LOGIN_PER_ACCOUNT, LOGIN_PER_ADDRESS};
use crate::config::Config;

/// Default login attempts per account name per minute (a burst of this many, then one per 60/N s).
pub const ATTEMPTS_PER_ACCOUNT_PER_MINUTE: u32 = 5;
/// Default login attempts per client address per minute.
pub const ATTEMPTS_PER_ADDRESS_PER_MINUTE: u32 = 30;

pub struct LoginLimiter {
    per_account: Limit<String>,
    per_address: Limit<IpAddr>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter::with(
            ATTEMPTS_PER_ACCOUNT_PER_MINUTE,
            ATTEMPTS_PER_ADDRESS_PER_MINUTE,
        )
    }
}

impl LoginLimiter {
    /// The limits of `config`.
    pub fn new(config: &Config) -> Self {
        LoginLimiter::with(
            config.login_attempts_per_account_per_minute,
            config.login_attempts_per_address_per_minute,
        )
    }

    fn with(per_account: u32, per_address: u32) -> Self {
        LoginLimiter {
            per_account: Limit::per_minute(LOGIN_PER_ACCOUNT, "login attempts", per_account),
            per_address: Limit::per_minute(LOGIN_PER_ADDRESS, "login attempts", per_address),
        }
    }

    /// Counts one attempt; `Err(wait)` when the account or the address is over its limit.
    pub fn check(&self, account: &str, address: Option<IpAddr>) -> Result<(), Duration> {
        if let Some(address) = address {
            self.per_address.check(&address)?;
        }
        self.per_account.check(&account.to_lowercase())
    }

    /// Forgets idle keys (called now and then so the maps do not grow without bound).
    pub fn shrink(&self) {
        self.per_account.shrink();
        self.per_address.shrink();
    }
}
