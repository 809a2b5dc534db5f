//! Issuing the rotating token a customer's phone shows as a QR code: the
//! admin API's `POST /customers/{id}/token` and the customer's own page
//! both issue it here, with the configured lifetime.

use crate::wire::admin::IssuedToken;
use shared::ids::{CustomerId, MerchantId};
use shared::token::{CustomerToken, MAX_LIFETIME_SECS};

use crate::state::AppState;

/// Why a token could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The system random source failed, so there is no nonce.
    #[error("the system random source failed")]
    Random,
}

/// A fresh signed token for `customer` of `merchant`, valid for the
/// configured lifetime. The caller checks that the customer exists and is
/// the merchant's.
pub(crate) fn issue(
    state: &AppState,
    merchant: MerchantId,
    customer: CustomerId,
) -> Result<IssuedToken, IssueError> {
    // The token carries whole seconds and at most MAX_LIFETIME_SECS of
    // lifetime; the reply says exactly what it carries.
    let lifetime =
        u16::try_from(state.settings.tokens.customer_token_ttl_secs).unwrap_or(MAX_LIFETIME_SECS);
    let nonce = crate::auth::random_u32().map_err(|_| IssueError::Random)?;
    let token = CustomerToken::new(merchant, customer, state.clock.now(), lifetime, nonce);
    Ok(IssuedToken {
        token: token.issue(&state.signing_key),
        expires_at: token.expires_at,
    })
}
