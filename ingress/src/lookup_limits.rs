//! How many uncached key lookups the ingress makes, and how fast. A delivery chooses the key it
//! names (eBay's `kid`, Adobe's key path) before anything is verified, so without a bound each
//! forged delivery with a fresh name is a request to eBay or Adobe.
//!
//! Each key host has a token bucket (its rate and burst, all shops together) and a number of
//! lookups that may be in flight at once; each shop has a smaller bucket of its own, so one
//! shop's forgeries spend that shop's budget and leave the rest of the host's for the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::KeyLookupConfig;

/// The hosts keys are fetched from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyHost {
    Ebay,
    Adobe,
}

impl KeyHost {
    fn name(self) -> &'static str {
        match self {
            KeyHost::Ebay => "eBay's API",
            KeyHost::Adobe => "Adobe's key host",
        }
    }
}

/// Held for the duration of one lookup; dropping it frees the in-flight slot.
#[must_use = "the lookup is counted as in flight only while the permit is held"]
pub struct LookupPermit {
    _slot: OwnedSemaphorePermit,
}

/// A lookup the limits refuse, with a message saying which limit and what happens next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(String);

/// Tokens refill continuously at `per_minute`, up to `burst`; a lookup takes one.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    burst: f64,
    per_second: f64,
    updated: Instant,
}

impl Bucket {
    fn full(burst: u32, per_minute: u32, now: Instant) -> Self {
        Bucket {
            tokens: f64::from(burst),
            burst: f64::from(burst),
            per_second: f64::from(per_minute) / 60.0,
            updated: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.updated = now;
    }

    fn has_token(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= 1.0
    }
}

/// The limits of every key host and shop.
pub struct LookupLimits {
    config: KeyLookupConfig,
    /// Never held across an await: taking tokens is a few arithmetic operations.
    buckets: Mutex<Buckets>,
    in_flight: HashMap<KeyHost, Arc<Semaphore>>,
}

struct Buckets {
    hosts: HashMap<KeyHost, Bucket>,
    /// One per configured shop, made at start: request data never adds an entry.
    shops: HashMap<String, Bucket>,
}

impl LookupLimits {
    /// Limits for the configured `shops`, every bucket full.
    pub fn new<'a>(config: &KeyLookupConfig, shops: impl IntoIterator<Item = &'a str>) -> Self {
        Self::new_at(config, shops, Instant::now())
    }

    fn new_at<'a>(
        config: &KeyLookupConfig,
        shops: impl IntoIterator<Item = &'a str>,
        now: Instant,
    ) -> Self {
        let hosts = [KeyHost::Ebay, KeyHost::Adobe];
        let host_bucket = || Bucket::full(config.burst, config.per_minute, now);
        LookupLimits {
            buckets: Mutex::new(Buckets {
                hosts: hosts.iter().map(|host| (*host, host_bucket())).collect(),
                shops: shops
                    .into_iter()
                    .map(|shop| {
                        let bucket = Bucket::full(config.shop_burst, config.shop_per_minute, now);
                        (shop.to_owned(), bucket)
                    })
                    .collect(),
            }),
            in_flight: hosts
                .iter()
                .map(|host| {
                    let slots = usize::try_from(config.concurrency).unwrap_or(usize::MAX);
                    (*host, Arc::new(Semaphore::new(slots)))
                })
                .collect(),
            config: config.clone(),
        }
    }

    /// Admits one lookup at `host` on behalf of `shop`, or says why not. Never waits: a refused
    /// delivery is answered at once and retried by the platform, rather than held open.
    ///
    /// # Errors
    /// [`Refused`] when a slot or a token is missing, or `shop` is not configured.
    pub fn admit(&self, host: KeyHost, shop: &str) -> Result<LookupPermit, Refused> {
        self.admit_at(host, shop, Instant::now())
    }

    fn admit_at(&self, host: KeyHost, shop: &str, now: Instant) -> Result<LookupPermit, Refused> {
        // The slot first: a lookup refused for concurrency spends no token.
        let slot = Arc::clone(&self.in_flight[&host])
            .try_acquire_owned()
            .map_err(|_| {
                Refused(format!(
                    "{} key lookups are already in flight at {} (key_lookups.concurrency); the \
                     platform will retry",
                    self.config.concurrency,
                    host.name()
                ))
            })?;
        let mut buckets = self.buckets.lock().expect("no panics while taking tokens");
        let Buckets { hosts, shops } = &mut *buckets;
        let shop_bucket = shops
            .get_mut(shop)
            .ok_or_else(|| Refused(format!("no key lookups for unconfigured shop {shop:?}")))?;
        // The shop's own budget first, so its forgeries stop there without using the host's.
        if !shop_bucket.has_token(now) {
            return Err(Refused(format!(
                "shop {shop:?} has used its key lookups (key_lookups.shop_burst {} and \
                 shop_per_minute {}); deliveries naming uncached keys are refused until it \
                 refills, and the platform will retry",
                self.config.shop_burst, self.config.shop_per_minute
            )));
        }
        let host_bucket = hosts.get_mut(&host).expect("a bucket per key host");
        if !host_bucket.has_token(now) {
            return Err(Refused(format!(
                "{} has had its key lookups (key_lookups.burst {} and per_minute {}); \
                 deliveries naming uncached keys are refused until it refills, and the \
                 platform will retry",
                host.name(),
                self.config.burst,
                self.config.per_minute
            )));
        }
        shop_bucket.tokens -= 1.0;
        host_bucket.tokens -= 1.0;
        Ok(LookupPermit { _slot: slot })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limits(now: Instant) -> LookupLimits {
        let config = KeyLookupConfig {
            per_minute: 60,
            burst: 4,
            concurrency: 2,
            shop_per_minute: 6,
            shop_burst: 2,
        };
        LookupLimits::new_at(&config, ["a", "b", "c"], now)
    }

    #[test]
    fn a_shop_gets_its_burst_then_one_lookup_per_refill_interval() {
        let start = Instant::now();
        let limits = limits(start);
        for _ in 0..2 {
            drop(
                limits
                    .admit_at(KeyHost::Ebay, "a", start)
                    .expect("within the burst"),
            );
        }
        let refused = limits
            .admit_at(KeyHost::Ebay, "a", start)
            .err()
            .expect("burst spent");
        assert!(refused.0.contains("shop \"a\""), "{refused}");
        // 6 a minute: one token every 10 s.
        let later = start + Duration::from_secs(9);
        assert!(limits.admit_at(KeyHost::Ebay, "a", later).is_err());
        let later = start + Duration::from_secs(10);
        drop(
            limits
                .admit_at(KeyHost::Ebay, "a", later)
                .expect("refilled"),
        );
    }

    #[test]
    fn one_shops_forgeries_leave_the_host_budget_to_the_others() {
        let now = Instant::now();
        let limits = limits(now);
        for _ in 0..100 {
            let _ = limits.admit_at(KeyHost::Adobe, "a", now);
        }
        for shop in ["b", "b"] {
            drop(
                limits
                    .admit_at(KeyHost::Adobe, shop, now)
                    .expect("b's own budget"),
            );
        }
        // The host's burst of 4 is now spent (a: 2, b: 2), whatever c's budget says.
        let refused = limits
            .admit_at(KeyHost::Adobe, "c", now)
            .err()
            .expect("host spent");
        assert!(refused.0.contains("Adobe's key host"), "{refused}");
        // Hosts are independent.
        drop(
            limits
                .admit_at(KeyHost::Ebay, "c", now)
                .expect("eBay untouched"),
        );
    }

    #[test]
    fn lookups_in_flight_are_bounded_and_freed_when_done() {
        let now = Instant::now();
        let limits = limits(now);
        let first = limits.admit_at(KeyHost::Ebay, "a", now).expect("a slot");
        let second = limits.admit_at(KeyHost::Ebay, "b", now).expect("a slot");
        let refused = limits
            .admit_at(KeyHost::Ebay, "c", now)
            .err()
            .expect("no slot");
        assert!(refused.0.contains("in flight"), "{refused}");
        drop(first);
        drop(second);
        drop(
            limits
                .admit_at(KeyHost::Ebay, "c", now)
                .expect("a slot again"),
        );
    }

    #[test]
    fn a_shop_not_in_the_config_gets_nothing() {
        let limits = limits(Instant::now());
        assert!(limits.admit(KeyHost::Ebay, "forged-shop").is_err());
    }
}
