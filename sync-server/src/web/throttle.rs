//! Attempts per client address at the doors anyone can knock on: the HQ
//! sign-in (guessing the admin token) and the customer sign-up (filling the
//! merchant's customer list); HQ sign-ins are also limited per account
//! address typed, from any client address. Each address gets a small burst, then one
//! attempt per interval; past that the page answers 429 with
//! `Retry-After`, before the token is compared or a customer is stored.
//!
//! The address is the TCP peer's: behind a reverse proxy every client
//! shares the proxy's, so the limits there apply to all of them together.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::WebSettings;
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

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        ))
    }
}
