//! Login rate limits (governor, in memory per replica): a few attempts per account name, more per
//! client address, each refilling over a minute. Over either one, the login answers 429 with
//! `Retry-After`.
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Login attempts per account name per minute (a burst of this many, then one per 60/N s).
pub const ATTEMPTS_PER_ACCOUNT_PER_MINUTE: u32 = 5;
/// Login attempts per client address per minute.
pub const ATTEMPTS_PER_ADDRESS_PER_MINUTE: u32 = 30;

pub struct LoginLimiter {
    per_account: DefaultKeyedRateLimiter<String>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter {
            per_account: RateLimiter::keyed(per_minute(ATTEMPTS_PER_ACCOUNT_PER_MINUTE)),
            per_address: RateLimiter::keyed(per_minute(ATTEMPTS_PER_ADDRESS_PER_MINUTE)),
            clock: DefaultClock::default(),
        }
    }
}

impl LoginLimiter {
    /// Counts one attempt; `Err(wait)` when the account or the address is over its limit.
    pub fn check(&self, account: &str, address: Option<IpAddr>) -> Result<(), Duration> {
        if let Some(address) = address {
            self.per_address
                .check_key(&address)
                .map_err(|n| n.wait_time_from(self.clock.now()))?;
        }
        self.per_account
            .check_key(&account.to_lowercase())
            .map_err(|n| n.wait_time_from(self.clock.now()))?;
        Ok(())
    }

    /// Forgets idle keys (called now and then so the maps do not grow without bound).
    pub fn shrink(&self) {
        self.per_account.retain_recent();
        self.per_address.retain_recent();
    }
}
