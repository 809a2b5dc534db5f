//! What every HQ page's header shows: the merchant whose pages it links, if
//! any, and the sign-out form with the session's form token.

use crate::wire::admin::Merchant;
use shared::ids::MerchantId;

use crate::web::session::HqSession;

/// The header of an HQ page.
#[derive(Debug, Clone)]
pub struct HqHeader {
    /// The session's form token, for the sign-out form.
    pub csrf: String,
    /// The merchant the page is about.
    pub merchant: Option<MerchantLink>,
}

/// A merchant named in the header.
#[derive(Debug, Clone)]
pub struct MerchantLink {
    /// Id, for the links.
    pub id: MerchantId,
    /// Name.
    pub name: String,
}

impl HqHeader {
    /// The header of a page about no merchant in particular.
    #[must_use]
    pub fn plain(session: &HqSession) -> Self {
        HqHeader {
            csrf: session.csrf_token.clone(),
            merchant: None,
        }
    }

    /// The header of a page about `merchant`.
    #[must_use]
    pub fn for_merchant(session: &HqSession, merchant: &Merchant) -> Self {
        HqHeader {
            csrf: session.csrf_token.clone(),
            merchant: Some(MerchantLink {
                id: merchant.id,
                name: merchant.name.clone(),
            }),
        }
    }
}
