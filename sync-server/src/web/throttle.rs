//! Attempts per client address at the doors anyone can knock on: the HQ
//! sign-in (guessing the admin token) and the customer sign-up (filling the
//! merchant's customer list); HQ sign-ins are also limited per account
//! address typed, from any client address. Each address gets a small burst, then one
//! attempt per interval; past that the page answers 429 with
//! `Retry-After`, before the token is compared or a customer is stored.
//!
//! The address is the TCP peer's, unless the peer is one of `[web]
//! trusted_proxies`: then it is the client the proxies name in
//! `X-Forwarded-For` (the rightmost entry that is not itself a trusted
//! proxy), so the limits apply per client behind nginx. Anyone else's
//! `X-Forwarded-For` is ignored: a client cannot choose its own address.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::{TrustedProxy, WebSettings};
use crate::state::AppState;
use crate::web::error::PageError;

/// Addresses tracked before the idle ones are forgotten.
const FORGET_AFTER_KEYS: usize = 10_000;

/// The limiters of the public forms.
#[derive(Debug)]
pub struct Throttle {
    sign_in: DefaultKeyedRateLimiter<IpAddr>,
    sign_up: DefaultKeyedRateLimiter<IpAddr>,
    /// Sign-ins per account address typed, wherever they come from.
    accounts: DefaultKeyedRateLimiter<String>,
}

/// Which door.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Door {
    /// `POST /hq/login`.
    SignIn,
    /// `POST /join/{merchant}`.
    SignUp,
}

impl Throttle {
    /// Limiters with the configured rates (at least one attempt each).
    pub fn new(settings: &WebSettings) -> Self {
        let at_least_one = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        Throttle {
            sign_in: RateLimiter::keyed(Quota::per_minute(at_least_one(
                settings.sign_in_attempts_per_minute,
            ))),
            sign_up: RateLimiter::keyed(Quota::per_hour(at_least_one(settings.sign_ups_per_hour))),
            accounts: RateLimiter::keyed(Quota::per_minute(at_least_one(
                settings.account_sign_in_attempts_per_minute,
            ))),
        }
    }

    /// Counts an attempt at `door` from `client`; refuses it with how long
    /// to wait once the address used its allowance.
    pub fn attempt(&self, door: Door, client: ClientAddr) -> Result<(), PageError> {
        let Some(ip) = client.0 else {
            return Ok(());
        };
        let limiter = match door {
            Door::SignIn => &self.sign_in,
            Door::SignUp => &self.sign_up,
        };
        if limiter.len() > FORGET_AFTER_KEYS {
            limiter.retain_recent();
        }
        limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            tracing::warn!(%ip, ?door, wait_secs = wait.as_secs(), "too many attempts");
            PageError::TooManyAttempts {
                retry_after: wait.max(Duration::from_secs(1)),
            }
        })
    }
}

impl Throttle {
    /// Counts a sign-in attempt at the account `email` (lower-cased), from
    /// any address: guessing one person's password from many addresses is
    /// limited as well.
    pub fn attempt_account(&self, email: &str) -> Result<(), PageError> {
        if self.accounts.len() > FORGET_AFTER_KEYS {
            self.accounts.retain_recent();
        }
        self.accounts
            .check_key(&email.to_owned())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                tracing::warn!(
                    wait_secs = wait.as_secs(),
                    "too many sign-in attempts at one account"
                );
                PageError::TooManyAttempts {
                    retry_after: wait.max(Duration::from_secs(1)),
                }
            })
    }
}

/// The client's address, when the server runs with connection info (as
/// `serve` does); `None` otherwise.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        Ok(ClientAddr(peer.map(|peer| {
            client_behind(peer, &parts.headers, &state.settings.web.trusted_proxies)
        })))
    }
}

/// The client of a request from `peer`: `peer` itself unless it is a
/// trusted proxy; else, walking `X-Forwarded-For` from the right (each
/// proxy appends the address it saw), the first entry that is not a
/// trusted proxy. An entry that does not parse ends the walk at the last
/// address that did.
#[must_use]
pub fn client_behind(peer: IpAddr, headers: &HeaderMap, trusted: &[TrustedProxy]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|p| p.0.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        let Ok(ip) = entry.parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &[&str]) -> Vec<TrustedProxy> {
        list.iter()
            .map(|p| serde_json::from_value(serde_json::json!(p)).unwrap())
            .collect()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", v.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_a_trusted_proxy_may_name_the_client() {
        let trusted = proxies(&["127.0.0.1", "10.0.0.0/8"]);
        let headers = forwarded(&["198.51.100.7"]);
        assert_eq!(
            client_behind(ip("127.0.0.1"), &headers, &trusted),
            ip("198.51.100.7")
        );
        // A client talking to the server directly cannot pick an address.
        assert_eq!(
            client_behind(ip("203.0.113.9"), &headers, &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_behind(ip("127.0.0.1"), &headers, &[]),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn the_rightmost_untrusted_entry_is_the_client_not_what_it_claims() {
        let trusted = proxies(&["127.0.0.1", "10.0.0.0/8"]);
        // The client sent "1.2.3.4" itself; nginx appended what it saw,
        // then an inner proxy appended nginx.
        let headers = forwarded(&["1.2.3.4, 198.51.100.7", "10.1.2.3"]);
        assert_eq!(
            client_behind(ip("127.0.0.1"), &headers, &trusted),
            ip("198.51.100.7")
        );
        let garbage = forwarded(&["not-an-address, 10.1.2.3"]);
        assert_eq!(
            client_behind(ip("127.0.0.1"), &garbage, &trusted),
            ip("10.1.2.3"),
            "the walk stops at what does not parse"
        );
        assert_eq!(
            client_behind(ip("127.0.0.1"), &HeaderMap::new(), &trusted),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn a_proxy_that_is_neither_address_nor_network_is_refused_by_name() {
        let err = serde_json::from_value::<TrustedProxy>(serde_json::json!("nginx"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`nginx` is not an address"), "{err}");
    }
}
