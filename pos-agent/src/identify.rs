//! Who the customer is: a verified phone token, a printed card or a phone
//! number, resolved against the customer cache.
//!
//! A valid token identifies its customer even before the cache knows them
//! (they get a placeholder name and their pending effects as standing). A
//! token issued before the cached customer's `tokens_valid_after` (the
//! server's revocation) is refused; for a customer not cached yet the till
//! relies on the token's short lifetime.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use shared::identity::{Ean13, IdentityError, PhoneNumber};
use shared::ids::{CustomerId, MerchantId, PromotionId};
use shared::keys::TrustedKeys;
use shared::pricing::CustomerStanding;
use shared::record::IdentifiedBy;
use shared::ruleset::Ruleset;
use shared::token::{CustomerToken, TokenError};
use shared::wire::till::{AttachCustomer, CustomerBrief};

use crate::store::StoreError;
use crate::store::customers::{self, CustomerKey, LocalPoints};

/// A parsed, and for tokens verified, customer credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A verified phone token.
    Token(CustomerToken),
    /// A printed card number.
    Card(Ean13),
    /// A phone number.
    Phone(PhoneNumber),
}

/// Why a credential was refused before any lookup.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The token does not verify.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The card or phone number does not parse.
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

impl Credential {
    /// Parses what the till sent, verifying a token with the server keys
    /// the register trusts.
    pub fn parse(
        attach: &AttachCustomer,
        server_keys: &TrustedKeys,
        merchant: MerchantId,
        now: DateTime<Utc>,
    ) -> Result<Self, CredentialError> {
        Ok(match attach {
            AttachCustomer::Token(text) => Credential::Token(CustomerToken::verify_with(
                text,
                server_keys,
                merchant,
                now,
            )?),
            AttachCustomer::Card(text) => Credential::Card(Ean13::parse(text.trim())?),
            AttachCustomer::Phone(text) => Credential::Phone(PhoneNumber::parse(text)?),
        })
    }

    /// How the record will say the customer was identified.
    #[must_use]
    pub fn identified_by(&self) -> IdentifiedBy {
        match self {
            Credential::Token(_) => IdentifiedBy::Token,
            Credential::Card(_) => IdentifiedBy::Card,
            Credential::Phone(_) => IdentifiedBy::Phone,
        }
    }

    /// What to call it when nobody matches.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Credential::Token(t) => format!("customer id {}", t.customer_id),
            Credential::Card(card) => format!("card {card}"),
            Credential::Phone(phone) => format!("phone {phone}"),
        }
    }
}

/// A customer identified for a check, with the standing to price with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identified {
    /// Who.
    pub id: CustomerId,
    /// Name, for the greeting.
    pub name: String,
    /// How.
    pub identified_by: IdentifiedBy,
    /// Cached standing plus pending local effects, at identification.
    pub standing: CustomerStanding,
    /// Checks per promotion, synced plus pending, for per-customer limits.
    pub uses: BTreeMap<PromotionId, u64>,
    /// Points earned but not available yet, at identification.
    pub points_pending: i64,
}

impl Identified {
    /// The brief the till shows, with the tier by `ruleset`.
    #[must_use]
    pub fn brief(&self, ruleset: &Ruleset) -> CustomerBrief {
        CustomerBrief {
            id: self.id,
            name: self.name.clone(),
            tier: ruleset
                .tier_for_standing(&self.standing)
                .map(|t| t.name.clone()),
            points_balance: self.standing.points_balance,
            points_pending: self.points_pending,
            identified_by: self.identified_by,
        }
    }
}

/// What the cache says about a credential: the customer, `None` for a card
/// or phone nobody holds, or the refusal of a revoked token.
pub type Resolution = Result<Option<Identified>, TokenError>;

/// Looks the credential up in the cache. A token resolves unless the
/// customer's tokens were revoked after it was issued; a card or phone
/// nobody holds resolves to `None`. The outer error is the database's.
pub fn resolve(
    conn: &Connection,
    credential: &Credential,
    local: LocalPoints,
) -> Result<Resolution, StoreError> {
    if let Credential::Token(token) = credential
        && let Err(revoked) =
            token.check_not_revoked(customers::tokens_valid_after(conn, token.customer_id)?)
    {
        return Ok(Err(revoked));
    }
    let identified_by = credential.identified_by();
    let key = match credential {
        Credential::Token(token) => CustomerKey::Id(token.customer_id),
        Credential::Card(card) => CustomerKey::Card(card),
        Credential::Phone(phone) => CustomerKey::Phone(phone),
    };
    if let Some(cached) = customers::find(conn, key, local)? {
        return Ok(Ok(Some(Identified {
            id: cached.id,
            name: cached.name,
            identified_by,
            standing: cached.standing,
            uses: cached.uses,
            points_pending: cached.points_pending,
        })));
    }
    Ok(Ok(match credential {
        Credential::Token(token) => {
            let (standing, uses) = customers::uncached(conn, token.customer_id, local)?;
            Some(Identified {
                id: token.customer_id,
                name: format!("Customer #{}", token.customer_id),
                identified_by,
                standing,
                uses,
                points_pending: 0,
            })
        }
        Credential::Card(_) | Credential::Phone(_) => None,
    }))
}
