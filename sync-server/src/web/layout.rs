//! What every HQ page's header shows: the merchant whose pages it links, if
//! any, the links the session may follow (by its role), the account page,
//! and the sign-out form with the session's form token.

use crate::wire::admin::Merchant;
use shared::ids::MerchantId;

use crate::access::{Permission, Role, Target};
use crate::web::i18n;
use crate::web::session::HqSession;

/// The header of an HQ page.
#[derive(Debug, Clone)]
pub struct HqHeader {
    /// The session's form token, for the sign-out form.
    pub csrf: String,
    /// The merchant the page is about.
    pub merchant: Option<MerchantLink>,
    /// The merchant's pages the session may open: address and label.
    pub nav: Vec<(String, String)>,
    /// The signed-in person's address (none for the admin token).
    pub email: Option<String>,
}

/// A merchant named in the header.
#[derive(Debug, Clone)]
pub struct MerchantLink {
    /// Name.
    pub name: String,
}

/// The pages of `merchant` that `session` may open, for the header and the
/// home page, labelled in the request's language.
#[must_use]
pub fn merchant_nav(session: &HqSession, merchant: MerchantId) -> Vec<(String, String)> {
    let base = format!("/hq/merchants/{merchant}");
    let mut nav = Vec::new();
    let pages = [
        (Permission::ViewStats, "", "nav-stats"),
        (Permission::ViewStats, "/analytics", "nav-analytics"),
        (Permission::Setup, "/setup", "nav-setup"),
        (Permission::Setup, "/programme", "nav-programme"),
        (Permission::Setup, "/drafts", "nav-drafts"),
        (Permission::Publish, "/campaigns", "nav-campaigns"),
        (Permission::Publish, "/reviews", "nav-reviews"),
        (Permission::Publish, "/segments", "nav-segments"),
        (Permission::ViewStats, "/referrals", "nav-referrals"),
        (Permission::Customers, "/customers", "nav-customers"),
        (Permission::ManageAccounts, "/people", "nav-people"),
        (Permission::ViewAudit, "/audit", "nav-audit"),
    ];
    for (permission, suffix, label) in pages {
        if session.may_in(permission, merchant) {
            nav.push((format!("{base}{suffix}"), i18n::t(label)));
        }
    }
    if let Some(member) = &session.member {
        for store in &member.stores {
            let target = Target {
                merchant: Some(merchant),
                store: Some(*store),
            };
            if session.may(Permission::ViewStore, target) && member.merchant == merchant {
                nav.push((
                    format!("{base}/stores/{store}"),
                    i18n::t1("nav-store", "store", store.to_string()),
                ));
            }
        }
    }
    nav
}

impl HqHeader {
    /// The header of a page about no merchant in particular.
    #[must_use]
    pub fn plain(session: &HqSession) -> Self {
        HqHeader {
            csrf: session.csrf_token.clone(),
            merchant: None,
            nav: Vec::new(),
            email: session.email.clone(),
        }
    }

    /// The header of a page about `merchant`.
    #[must_use]
    pub fn for_merchant(session: &HqSession, merchant: &Merchant) -> Self {
        HqHeader {
            csrf: session.csrf_token.clone(),
            merchant: Some(MerchantLink {
                name: merchant.name.clone(),
            }),
            nav: merchant_nav(session, merchant.id),
            email: session.email.clone(),
        }
    }
}

/// A role's name in the request's language.
#[must_use]
pub fn role_label(role: Role) -> String {
    i18n::t(&format!("role-{}", role.as_str().replace('_', "-")))
}
