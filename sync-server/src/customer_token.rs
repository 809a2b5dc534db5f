//! Issuing the rotating token a customer's phone shows as a QR code: the
//! admin API's `POST /customers/{id}/token` and the customer's own page
//! both issue it here, with the configured lifetime.

use chrono::DateTime;
use shared::ids::CustomerId;
use shared::token::CustomerToken;
use shared::wire::admin::IssuedToken;

use crate::state::AppState;

/// Why a token could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The system random source failed, so there is no nonce.
    #[error("the system random source failed")]
    Random,
    /// Now plus the lifetime is not a representable instant.
    #[error("the token expiry is out of range")]
    Expiry,
}

/// A fresh signed token for `customer`, valid for the configured lifetime.
/// The caller checks that the customer exists.
pub(crate) fn issue(state: &AppState, customer: CustomerId) -> Result<IssuedToken, IssueError> {
    let ttl = i64::try_from(state.settings.tokens.customer_token_ttl_secs).unwrap_or(i64::MAX);
    // The token carries whole seconds; so does the reply.
    let expires_at = DateTime::from_timestamp(state.clock.now().timestamp().saturating_add(ttl), 0)
        .ok_or(IssueError::Expiry)?;
    let token = CustomerToken {
        customer_id: customer,
        expires_at,
        nonce: crate::auth::random_u32().map_err(|_| IssueError::Random)?,
    };
    Ok(IssuedToken {
        token: token.issue(&state.signing_key),
        expires_at,
    })
}
