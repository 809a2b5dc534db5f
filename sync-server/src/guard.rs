//! The one guard of the admin API and the HQ pages. For every request it
//! finds the route in [`crate::access::ROUTES`] (a route missing there is
//! refused), identifies who asks, resolves whose resource the path names,
//! and lets the request through only if [`crate::access::decide`] allows
//! it. Handlers never check roles themselves.
//!
//! Who asks: on `/api/v1/admin` an `Authorization: Bearer` with the admin
//! token (every merchant) or an API key (its merchant, with its role); on
//! `/hq` the session cookie, opened with the admin token or by a person
//! with e-mail and password.
//!
//! After a change succeeds (a 2xx or 3xx answer to a route with an
//! action), the guard writes the audit trail's entry: who, what, when, on
//! what, and the before and after a handler noted in an [`AuditNote`].

use axum::extract::{FromRequestParts, MatchedPath, OriginalUri, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret as _;
use shared::ids::MerchantId;
use subtle::ConstantTimeEq as _;

use crate::access::{self, Membership, Permission, Refusal, Target};
use crate::auth::hash_secret;
use crate::db::{AccountRow, ApiKeyRow, AuditEntry};
use crate::error::ApiError;
use crate::services::accounts::membership_of;
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::session::{self, HqSession};

/// Who is asking.
#[derive(Debug, Clone)]
pub enum Actor {
    /// The admin token: every merchant.
    AdminToken,
    /// A person of a merchant.
    Person(AccountRow),
    /// An API key of a merchant.
    Key(ApiKeyRow),
}

/// Who is asking, as the guard identified them; handlers read it with
/// this extractor.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Who.
    pub actor: Actor,
}

impl Principal {
    /// Their merchant and role; `None` for the admin token.
    #[must_use]
    pub fn membership(&self) -> Option<Membership> {
        match &self.actor {
            Actor::AdminToken => None,
            Actor::Person(account) => Some(membership_of(account)),
            Actor::Key(key) => Some(Membership {
                merchant: key.merchant_id,
                role: key.role,
                stores: key.stores.clone(),
            }),
        }
    }

    /// The person's account, when a person asks.
    #[must_use]
    pub fn account(&self) -> Option<&AccountRow> {
        match &self.actor {
            Actor::Person(account) => Some(account),
            _ => None,
        }
    }

    /// The audit trail's name of them.
    #[must_use]
    pub fn name(&self) -> String {
        match &self.actor {
            Actor::AdminToken => "admin-token".to_owned(),
            Actor::Person(account) => account.email.clone(),
            Actor::Key(key) => format!("key:{}#{}", key.name, key.id),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        parts.extensions.get::<Principal>().cloned().ok_or_else(|| {
            tracing::error!("a handler asked who is asking on a route the guard does not cover");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        })
    }
}

/// What a handler tells the audit trail about its change, as a response
/// extension.
#[derive(Debug, Clone, Default)]
pub struct AuditNote {
    /// Who, where the guard did not know (signing in).
    pub actor: Option<String>,
    /// Whose data, where the path does not name it.
    pub merchant: Option<MerchantId>,
    /// On what (default: the request's path).
    pub subject: Option<String>,
    /// Before.
    pub before: String,
    /// After.
    pub after: String,
}

impl AuditNote {
    /// Attaches the note to `response`.
    #[must_use]
    pub fn attach(self, mut response: Response) -> Response {
        response.extensions_mut().insert(self);
        response
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// A refusal in the form the caller reads: JSON on the API, a page on
/// `/hq`.
fn refuse(api: bool, why: Refusal, return_to: Option<String>) -> Response {
    match (api, why) {
        (true, Refusal::Unauthenticated) => ApiError::unauthorized(
            "unauthorized",
            "send the admin token or an API key as `Authorization: Bearer <token>`",
        )
        .into_response(),
        (true, Refusal::Forbidden) => ApiError::forbidden(
            "forbidden",
            "your role does not permit this, or it is another merchant's",
        )
        .into_response(),
        (false, Refusal::Unauthenticated) => {
            PageError::SignInRequired { return_to }.into_response()
        }
        (false, Refusal::Forbidden) => PageError::NotPermitted.into_response(),
    }
}

fn not_found(api: bool) -> Response {
    if api {
        ApiError::not_found("no such resource").into_response()
    } else {
        PageError::NotFound.into_response()
    }
}

/// Who asks on the admin API, or the refusal of bad credentials.
async fn api_principal(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Principal>, Response> {
    let Some(token) = bearer(headers) else {
        return Ok(None);
    };
    let expected = hash_secret(state.settings.admin_token.expose_secret());
    if bool::from(hash_secret(token).0.ct_eq(&expected.0)) {
        return Ok(Some(Principal {
            actor: Actor::AdminToken,
        }));
    }
    match state.services.accounts.authenticate_key(token).await {
        Ok(Some(key)) => Ok(Some(Principal {
            actor: Actor::Key(key),
        })),
        Ok(None) => Err(ApiError::unauthorized(
            "unauthorized",
            "the admin token or API key is wrong or revoked",
        )
        .into_response()),
        Err(e) => Err(ApiError::from(e).into_response()),
    }
}

/// Middleware: the guard (see the module's documentation).
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // Nested routers see their own part of the path; the original is kept.
    let uri = request
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| request.uri().clone(), |o| o.0.clone());
    let path = uri.path().to_owned();
    let api = path.starts_with("/api/");
    let method = request.method().clone();
    let return_to = (method == axum::http::Method::GET)
        .then(|| uri.path_and_query().map(|pq| pq.as_str().to_owned()))
        .flatten();
    let Some(route) = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|matched| access::route(&method, matched.as_str()))
    else {
        tracing::error!(%method, path, "a guarded route is missing from the access table");
        return refuse(api, Refusal::Forbidden, None);
    };

    let (mut parts, body) = request.into_parts();
    let principal = if api {
        match api_principal(&state, &parts.headers).await {
            Ok(p) => p,
            Err(refusal) => return refusal,
        }
    } else {
        match session::identify(&parts, &state).await {
            Ok(Some((hq, view))) => {
                let actor = match view.account {
                    Some(account) => Actor::Person(account),
                    None => Actor::AdminToken,
                };
                parts.extensions.insert::<HqSession>(hq);
                Some(Principal { actor })
            }
            Ok(None) => None,
            Err(e) => return e.into_response(),
        }
    };
    let params: Vec<(String, String)> = RawPathParams::from_request_parts(&mut parts, &state)
        .await
        .map(|raw| {
            raw.iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default();

    // The admin token may do anything, so its target is resolved only for
    // the audit trail; a member's is resolved to decide.
    let membership = principal.as_ref().map(Principal::membership);
    let member_needs_target = matches!(membership, Some(Some(_)))
        && !matches!(
            route.permission,
            Permission::Public | Permission::SignedIn | Permission::Superuser
        );
    let mut target = Target::default();
    if member_needs_target {
        match state
            .services
            .accounts
            .target(route.scope, params.clone())
            .await
        {
            Ok(Some(t)) => target = t,
            Ok(None) => return not_found(api),
            Err(e) => {
                return if api {
                    ApiError::from(e).into_response()
                } else {
                    PageError::from(e).into_response()
                };
            }
        }
    }
    let who = membership.as_ref().map(Option::as_ref);
    if let Err(why) = access::decide(who, route, target) {
        if let (Refusal::Forbidden, Some(principal)) = (why, &principal) {
            tracing::warn!(%method, path, actor = principal.name(), "the guard refused a request");
            // A refusal is not a change, but who tried what is worth keeping.
            let entry = AuditEntry {
                merchant_id: membership.flatten().map(|m| m.merchant),
                at_unix: 0,
                actor: principal.name(),
                action: "access.denied".to_owned(),
                subject: format!("{method} {path}"),
                before: String::new(),
                after: String::new(),
            };
            if let Err(e) = state.services.accounts.record(entry).await {
                tracing::error!(error = %e, "could not write the audit trail");
            }
        }
        return refuse(api, why, return_to);
    }
    if let Some(principal) = &principal {
        parts.extensions.insert(principal.clone());
    }

    let mut response = next.run(Request::from_parts(parts, body)).await;
    let note = response.extensions_mut().remove::<AuditNote>();
    let status = response.status();
    if !route.action.is_empty() && (status.is_success() || status.is_redirection()) {
        let actor = note
            .as_ref()
            .and_then(|n| n.actor.clone())
            .or_else(|| principal.as_ref().map(Principal::name));
        if let Some(actor) = actor {
            let merchant = match note.as_ref().and_then(|n| n.merchant) {
                Some(m) => Some(m),
                None if target.merchant.is_some() => target.merchant,
                None => state
                    .services
                    .accounts
                    .target(route.scope, params)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|t| t.merchant)
                    .or_else(|| membership.flatten().map(|m| m.merchant)),
            };
            let note = note.unwrap_or_default();
            let entry = AuditEntry {
                merchant_id: merchant,
                at_unix: 0,
                actor,
                action: route.action.to_owned(),
                subject: note.subject.unwrap_or(path),
                before: note.before,
                after: note.after,
            };
            if let Err(e) = state.services.accounts.record(entry).await {
                tracing::error!(error = %e, "could not write the audit trail");
            }
        }
    }
    response
}
