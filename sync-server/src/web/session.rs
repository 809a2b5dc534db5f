//! HQ sessions. Signing in with the admin token opens a session: the
//! browser gets an opaque random id in an `HttpOnly`, `SameSite=Strict`
//! cookie; the server keeps only the id's SHA-256, with an expiry and the
//! session's form token. The admin token itself never leaves the sign-in
//! form.
//!
//! A session is the admin token's or a person's (`account_id`); the guard
//! (`crate::guard`) reads it through [`identify`].
//!
//! [`HqSession`] guards every HQ page; [`ProtectedForm`] guards every HQ
//! form: a live session, a same-origin request, and the session's form
//! token, compared in constant time.

use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequestParts, Request};
use axum::http::header::COOKIE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};
use chrono::TimeDelta;
use serde::de::DeserializeOwned;
use shared::crypto::Hash256;
use subtle::ConstantTimeEq as _;

use crate::access::{self, Membership, Permission, Target};
use crate::auth::hash_secret;
use crate::db::{AccountId, NewAdminSession};
use crate::services::accounts::{SessionView, membership_of};
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::Form;
use crate::web::secrets::{looks_like_secret, random_secret};
use crate::web::security::require_same_origin;
use shared::ids::MerchantId;

/// The cookie's name.
const COOKIE_NAME: &str = "hq_session";
/// How long a session lasts: one working day.
const SESSION_HOURS: i64 = 12;

/// A signed-in HQ browser.
#[derive(Debug, Clone)]
pub struct HqSession {
    /// The stored form of the session id.
    pub id_hash: Hash256,
    /// The token the session's forms carry.
    pub csrf_token: String,
    /// The person's merchant and role (`None`: the admin token).
    pub member: Option<Membership>,
    /// The person's address.
    pub email: Option<String>,
}

impl HqSession {
    /// Whether the session may do `permission` on `target` (to show or
    /// hide links and forms; the guard decides the request).
    #[must_use]
    pub fn may(&self, permission: Permission, target: Target) -> bool {
        access::permits(self.member.as_ref(), permission, target)
    }

    /// Whether the session may do `permission` on `merchant` as a whole.
    #[must_use]
    pub fn may_in(&self, permission: Permission, merchant: MerchantId) -> bool {
        self.may(
            permission,
            Target {
                merchant: Some(merchant),
                store: None,
            },
        )
    }
}

/// The live session the request's cookie names, with its person.
pub async fn identify(
    parts: &Parts,
    state: &AppState,
) -> Result<Option<(HqSession, SessionView)>, PageError> {
    let Some(id) = cookie(&parts.headers, COOKIE_NAME).filter(|id| looks_like_secret(id)) else {
        return Ok(None);
    };
    let id_hash = hash_secret(id);
    let Some(view) = state.services.accounts.session(id_hash).await? else {
        return Ok(None);
    };
    Ok(Some((
        HqSession {
            id_hash,
            csrf_token: view.session.csrf_token.clone(),
            member: view.account.as_ref().map(membership_of),
            email: view.account.as_ref().map(|a| a.email.clone()),
        },
        view,
    )))
}

impl FromRequestParts<AppState> for HqSession {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        // The guard found it already.
        if let Some(session) = parts.extensions.get::<HqSession>() {
            return Ok(session.clone());
        }
        // A GET comes back to the same page after signing in; a form does
        // not resubmit itself.
        let return_to = (parts.method == Method::GET)
            .then(|| parts.uri.path_and_query().map(|pq| pq.as_str().to_owned()))
            .flatten();
        identify(parts, state)
            .await?
            .map(|(session, _)| session)
            .ok_or(PageError::SignInRequired { return_to })
    }
}

/// `Option<HqSession>`: `None` for a browser that has not signed in.
impl OptionalFromRequestParts<AppState> for HqSession {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, PageError> {
        match <HqSession as FromRequestParts<AppState>>::from_request_parts(parts, state).await {
            Ok(session) => Ok(Some(session)),
            Err(PageError::SignInRequired { .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }
}

/// Opens a session of `account` (`None`: the admin token's); returns the
/// `Set-Cookie` value that hands it to the browser.
#[tracing::instrument(skip_all)]
pub async fn open(state: &AppState, account: Option<AccountId>) -> Result<HeaderValue, PageError> {
    let id = random_secret()?;
    let now = state.clock.now();
    let public_id: String = random_secret()?.chars().take(12).collect();
    state
        .services
        .pages
        .open_session(NewAdminSession {
            id_hash: hash_secret(&id),
            csrf_token: random_secret()?,
            created_at: now,
            expires_at: now + TimeDelta::hours(SESSION_HOURS),
            account_id: account,
            public_id,
        })
        .await?;
    tracing::info!("an HQ session was opened");
    let max_age = SESSION_HOURS * 3600;
    set_cookie(state, &format!("{id}; Max-Age={max_age}"))
}

/// Ends `session`; returns the `Set-Cookie` value that clears the cookie.
pub async fn close(state: &AppState, session: &HqSession) -> Result<HeaderValue, PageError> {
    state.services.pages.end_session(session.id_hash).await?;
    tracing::info!("an HQ session was closed");
    set_cookie(state, "; Max-Age=0")
}

fn set_cookie(state: &AppState, value_and_age: &str) -> Result<HeaderValue, PageError> {
    // `Secure` when browsers reach the server over HTTPS; a plain-HTTP
    // address (a test, a shop's LAN) would never get the cookie back.
    let secure = state
        .settings
        .public_url
        .as_deref()
        .is_some_and(|url| url.starts_with("https://"));
    let cookie = format!(
        "{COOKIE_NAME}={value_and_age}; Path=/hq; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&cookie).map_err(|e| PageError::internal(&e))
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A form that carries its session's token in a `csrf` field. The field
/// defaults to empty, so a form without it is refused as forbidden (403),
/// not as unreadable.
pub trait CsrfProtected {
    /// The token the form carried.
    fn csrf_token(&self) -> &str;
}

/// An HQ form from a signed-in, same-origin browser with the session's
/// token. Without a session the user is sent to sign in; a missing or
/// wrong token, or another origin, is refused with 403.
#[derive(Debug)]
pub struct ProtectedForm<T> {
    /// The session that sent it.
    pub session: HqSession,
    /// The form.
    pub form: T,
}

impl<T> FromRequest<AppState> for ProtectedForm<T>
where
    T: CsrfProtected + DeserializeOwned + Send,
{
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, PageError> {
        let (mut parts, body) = request.into_parts();
        let session =
            <HqSession as FromRequestParts<AppState>>::from_request_parts(&mut parts, state)
                .await?;
        require_same_origin(&parts.headers, &state.settings)?;
        let Form(form) = Form::<T>::from_request(Request::from_parts(parts, body), state).await?;
        let sent = form.csrf_token().as_bytes();
        if !bool::from(sent.ct_eq(session.csrf_token.as_bytes())) {
            tracing::warn!("refused an HQ form without its session's token");
            return Err(PageError::Forbidden("missing or wrong form token"));
        }
        Ok(ProtectedForm { session, form })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; hq_session=abc ; b=2"),
        );
        assert_eq!(cookie(&headers, "hq_session"), Some("abc"));
        assert_eq!(cookie(&headers, "c"), None);
        headers.append(COOKIE, HeaderValue::from_static("c=3"));
        assert_eq!(cookie(&headers, "c"), Some("3"));
    }
}
