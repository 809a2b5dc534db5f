//! Who may do what: the roles of a merchant's people and API keys, what each
//! role is permitted, and the one table of every guarded route (the admin
//! API and the HQ pages) with the permission it needs and the path
//! parameters that name its merchant, store or other resource. The guard
//! (`crate::guard`) applies this table to every request; handlers do not
//! check roles themselves. No IO here.

use std::fmt;
use std::str::FromStr;

use axum::http::Method;

/// A person's or an API key's role within one merchant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Everything of their merchant.
    Owner,
    /// Promotions, the programme, publishing.
    Marketer,
    /// Statistics and oversight, read only.
    Analyst,
    /// Their stores' registers, statistics and enrollment tokens.
    StoreManager,
    /// Customers: find, a new link, tokens.
    Support,
}

impl Role {
    /// Every role, in the order the pages list them.
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Marketer,
        Role::Analyst,
        Role::StoreManager,
        Role::Support,
    ];

    /// The stored and typed name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Marketer => "marketer",
            Role::Analyst => "analyst",
            Role::StoreManager => "store_manager",
            Role::Support => "support",
        }
    }

    /// What the role is permitted (within its merchant; a store manager
    /// only within their stores).
    #[must_use]
    pub const fn permissions(self) -> &'static [Permission] {
        use Permission as P;
        match self {
            Role::Owner => &[
                P::ViewStats,
                P::ViewOversight,
                P::Setup,
                P::ManageCatalog,
                P::Publish,
                P::ManageRegisters,
                P::ViewStore,
                P::Customers,
                P::ManageAccounts,
                P::ViewAudit,
            ],
            Role::Marketer => &[P::Setup, P::Publish],
            Role::Analyst => &[P::ViewStats, P::ViewOversight],
            Role::StoreManager => &[P::ViewStore, P::ManageRegisters],
            Role::Support => &[P::Customers],
        }
    }

    /// Whether the role is permitted `permission`.
    #[must_use]
    pub fn may(self, permission: Permission) -> bool {
        permission == Permission::SignedIn || self.permissions().contains(&permission)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: one of owner, marketer, analyst, store_manager, support")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim())
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Anyone; the sign-in form and the one-time links.
    Public,
    /// Anyone signed in (their own account and sessions).
    SignedIn,
    /// Only the admin token: every merchant at once.
    Superuser,
    /// The merchant's statistics.
    ViewStats,
    /// Alerts, quarantine, mismatches, overdrafts.
    ViewOversight,
    /// The set-up page, the stores, the current ruleset.
    Setup,
    /// Brands and stores, and the minimum agent version of the fleet.
    ManageCatalog,
    /// The programme and promotions, published to the tills.
    Publish,
    /// Registers: list, revoke, enrollment tokens.
    ManageRegisters,
    /// A store's page.
    ViewStore,
    /// Customers: create, look up, tokens, personal links.
    Customers,
    /// People, invitations, password resets, roles, API keys.
    ManageAccounts,
    /// The audit trail.
    ViewAudit,
}

/// Which path parameters name the resource a route acts on, and so its
/// merchant (and store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// No merchant.
    Global,
    /// `{id}` is a merchant.
    Merchant,
    /// `{id}` a merchant, `{store}` its store.
    MerchantStore,
    /// `{id}` a merchant, `{register}` its register.
    MerchantRegister,
    /// `{id}` a merchant, `{account}` its person.
    MerchantAccount,
    /// `{id}` a merchant, `{key}` its API key.
    MerchantKey,
    /// `{id}` is a store.
    Store,
    /// `{id}` is a register.
    Register,
    /// `{id}` is a customer.
    Customer,
}

/// One guarded route.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// `GET`, `POST`, `PUT`.
    pub method: &'static str,
    /// The route's pattern as the router knows it.
    pub path: &'static str,
    /// What it needs.
    pub permission: Permission,
    /// Whose it is.
    pub scope: Scope,
    /// The audit trail's name of what it changes (`GET`s change nothing).
    pub action: &'static str,
}

const fn r(
    method: &'static str,
    path: &'static str,
    permission: Permission,
    scope: Scope,
    action: &'static str,
) -> Route {
    Route {
        method,
        path,
        permission,
        scope,
        action,
    }
}

use Permission as P;
use Scope as S;

/// Every route behind the guard. A route missing here is refused.
#[rustfmt::skip]
pub const ROUTES: &[Route] = &[
    // The admin API.
    r("POST", "/api/v1/admin/merchants", P::Superuser, S::Global, "merchant.create"),
    r("GET", "/api/v1/admin/merchants", P::Superuser, S::Global, ""),
    r("POST", "/api/v1/admin/merchants/{id}/brands", P::ManageCatalog, S::Merchant, "brand.create"),
    r("POST", "/api/v1/admin/merchants/{id}/stores", P::ManageCatalog, S::Merchant, "store.create"),
    r("GET", "/api/v1/admin/merchants/{id}/stores", P::Setup, S::Merchant, ""),
    r("GET", "/api/v1/admin/merchants/{id}/ruleset", P::Setup, S::Merchant, ""),
    r("PUT", "/api/v1/admin/merchants/{id}/ruleset", P::Publish, S::Merchant, "ruleset.publish"),
    r("POST", "/api/v1/admin/merchants/{id}/promotions", P::Publish, S::Merchant, "promotion.publish"),
    r("POST", "/api/v1/admin/merchants/{id}/media", P::Publish, S::Merchant, "media.upload"),
    r("GET", "/api/v1/admin/merchants/{id}/promotions/{promotion}/content", P::Setup, S::Merchant, ""),
    r("PUT", "/api/v1/admin/merchants/{id}/promotions/{promotion}/content", P::Publish, S::Merchant, "promotion.content"),
    r("GET", "/api/v1/admin/merchants/{id}/registers", P::ManageRegisters, S::Merchant, ""),
    r("GET", "/api/v1/admin/merchants/{id}/fleet", P::ManageRegisters, S::Merchant, ""),
    r("GET", "/api/v1/admin/merchants/{id}/fleet/minimum-version", P::ManageRegisters, S::Merchant, ""),
    r("PUT", "/api/v1/admin/merchants/{id}/fleet/minimum-version", P::ManageCatalog, S::Merchant, "fleet.minimum_version"),
    r("GET", "/api/v1/admin/merchants/{id}/alerts", P::ViewOversight, S::Merchant, ""),
    r("GET", "/api/v1/admin/merchants/{id}/quarantine", P::ViewOversight, S::Merchant, ""),
    r("GET", "/api/v1/admin/merchants/{id}/mismatches", P::ViewOversight, S::Merchant, ""),
    r("GET", "/api/v1/admin/merchants/{id}/overdrafts", P::ViewOversight, S::Merchant, ""),
    r("GET", "/api/v1/admin/merchants/{id}/holds", P::ViewOversight, S::Merchant, ""),
    r("POST", "/api/v1/admin/merchants/{id}/holds/{register}/{seq}", P::Customers, S::Merchant, "points_hold.resolve"),
    r("GET", "/api/v1/admin/merchants/{id}/leases", P::ViewOversight, S::Merchant, ""),
    r("POST", "/api/v1/admin/merchants/{id}/customers", P::Customers, S::Merchant, "customer.create"),
    r("GET", "/api/v1/admin/merchants/{id}/stats", P::ViewStats, S::Merchant, ""),
    r("GET", "/api/v1/admin/merchants/{id}/analytics/{view}", P::ViewStats, S::Merchant, ""),
    r("GET", "/api/v1/admin/merchants/{id}/analytics/export/{table}", P::ViewStats, S::Merchant, ""),
    r("POST", "/api/v1/admin/merchants/{id}/invitations", P::ManageAccounts, S::Merchant, "account.invite"),
    r("POST", "/api/v1/admin/merchants/{id}/password-resets", P::ManageAccounts, S::Merchant, "account.reset_link"),
    r("GET", "/api/v1/admin/merchants/{id}/accounts", P::ManageAccounts, S::Merchant, ""),
    r("POST", "/api/v1/admin/merchants/{id}/api-keys", P::ManageAccounts, S::Merchant, "api_key.create"),
    r("GET", "/api/v1/admin/merchants/{id}/api-keys", P::ManageAccounts, S::Merchant, ""),
    r("GET", "/api/v1/admin/merchants/{id}/audit", P::ViewAudit, S::Merchant, ""),
    r("GET", "/api/v1/admin/merchants/{id}/segments", P::Publish, S::Merchant, ""),
    r("POST", "/api/v1/admin/merchants/{id}/segments", P::Publish, S::Merchant, "segment.save"),
    r("POST", "/api/v1/admin/merchants/{id}/segments/refresh", P::Publish, S::Merchant, "segment.refresh"),
    r("DELETE", "/api/v1/admin/merchants/{id}/segments/{code}", P::Publish, S::Merchant, "segment.delete"),
    r("GET", "/api/v1/admin/merchants/{id}/drafts", P::Setup, S::Merchant, ""),
    r("POST", "/api/v1/admin/merchants/{id}/drafts", P::Setup, S::Merchant, "draft.save"),
    r("GET", "/api/v1/admin/merchants/{id}/drafts/{draft}", P::Setup, S::Merchant, ""),
    r("DELETE", "/api/v1/admin/merchants/{id}/drafts/{draft}", P::Setup, S::Merchant, "draft.delete"),
    r("POST", "/api/v1/admin/merchants/{id}/drafts/{draft}/what-if", P::Setup, S::Merchant, "draft.what_if"),
    r("POST", "/api/v1/admin/merchants/{id}/drafts/{draft}/publish", P::Publish, S::Merchant, "draft.publish"),
    r("POST", "/api/v1/admin/stores/{id}/enrollment-tokens", P::ManageRegisters, S::Store, "enrollment_token.issue"),
    r("POST", "/api/v1/admin/registers/{id}/revoke", P::ManageRegisters, S::Register, "register.revoke"),
    r("GET", "/api/v1/admin/customer-feed", P::Superuser, S::Global, ""),
    r("GET", "/api/v1/admin/customers/{id}", P::Customers, S::Customer, ""),
    r("POST", "/api/v1/admin/customers/{id}/token", P::Customers, S::Customer, "customer.token"),
    r("POST", "/api/v1/admin/customers/{id}/link", P::Customers, S::Customer, "customer.link"),
    r("POST", "/api/v1/admin/customers/{id}/revoke-tokens", P::Customers, S::Customer, "customer.revoke_tokens"),
    r("POST", "/api/v1/admin/customers/{id}/adjustments", P::Customers, S::Customer, "customer.adjust_points"),
    // The HQ pages.
    r("GET", "/hq", P::Public, S::Global, ""),
    r("POST", "/hq/login", P::Public, S::Global, "sign_in"),
    r("GET", "/hq/welcome/{secret}", P::Public, S::Global, ""),
    r("POST", "/hq/welcome/{secret}", P::Public, S::Global, "account.set_password"),
    r("POST", "/hq/logout", P::SignedIn, S::Global, "sign_out"),
    r("GET", "/hq/account", P::SignedIn, S::Global, ""),
    r("POST", "/hq/account/totp", P::SignedIn, S::Global, "account.totp_begin"),
    r("POST", "/hq/account/totp/confirm", P::SignedIn, S::Global, "account.totp_on"),
    r("POST", "/hq/account/totp/disable", P::SignedIn, S::Global, "account.totp_off"),
    r("POST", "/hq/account/language", P::SignedIn, S::Global, "account.language"),
    r("POST", "/hq/account/sessions/{session}/revoke", P::SignedIn, S::Global, "session.revoke"),
    r("POST", "/hq/merchants", P::Superuser, S::Global, "merchant.create"),
    r("GET", "/hq/merchants/{id}", P::ViewStats, S::Merchant, ""),
    r("GET", "/hq/merchants/{id}/analytics", P::ViewStats, S::Merchant, ""),
    r("GET", "/hq/merchants/{id}/analytics/{view}", P::ViewStats, S::Merchant, ""),
    r("GET", "/hq/merchants/{id}/analytics/export/{table}", P::ViewStats, S::Merchant, ""),
    r("GET", "/hq/merchants/{id}/setup", P::Setup, S::Merchant, ""),
    r("GET", "/hq/merchants/{id}/campaigns", P::Publish, S::Merchant, ""),
    r("GET", "/hq/merchants/{id}/referrals", P::ViewStats, S::Merchant, ""),
    r("GET", "/hq/merchants/{id}/reviews", P::Publish, S::Merchant, ""),
    r("POST", "/hq/merchants/{id}/reviews/moderate", P::Publish, S::Merchant, "review.moderate"),
    r("GET", "/hq/merchants/{id}/segments", P::Publish, S::Merchant, ""),
    r("POST", "/hq/merchants/{id}/segments", P::Publish, S::Merchant, "segment.save"),
    r("POST", "/hq/merchants/{id}/segments/refresh", P::Publish, S::Merchant, "segment.refresh"),
    r("POST", "/hq/merchants/{id}/segments/{code}/delete", P::Publish, S::Merchant, "segment.delete"),
    r("POST", "/hq/merchants/{id}/registers/{register}/revoke", P::ManageRegisters, S::MerchantRegister, "register.revoke"),
    r("POST", "/hq/merchants/{id}/fleet/minimum-version", P::ManageCatalog, S::Merchant, "fleet.minimum_version"),
    r("POST", "/hq/merchants/{id}/ruleset", P::Publish, S::Merchant, "ruleset.publish"),
    r("GET", "/hq/merchants/{id}/programme", P::Setup, S::Merchant, ""),
    r("POST", "/hq/merchants/{id}/programme", P::Publish, S::Merchant, "programme.publish"),
    r("POST", "/hq/merchants/{id}/brands", P::ManageCatalog, S::Merchant, "brand.create"),
    r("POST", "/hq/merchants/{id}/stores", P::ManageCatalog, S::Merchant, "store.create"),
    r("GET", "/hq/merchants/{id}/stores/{store}", P::ViewStore, S::MerchantStore, ""),
    r("POST", "/hq/merchants/{id}/stores/{store}/enrollment-tokens", P::ManageRegisters, S::MerchantStore, "enrollment_token.issue"),
    r("POST", "/hq/merchants/{id}/promotions", P::Publish, S::Merchant, "promotion.publish"),
    r("POST", "/hq/merchants/{id}/drafts", P::Setup, S::Merchant, "draft.save"),
    r("GET", "/hq/merchants/{id}/drafts", P::Setup, S::Merchant, ""),
    r("GET", "/hq/merchants/{id}/drafts/{draft}", P::Setup, S::Merchant, ""),
    r("POST", "/hq/merchants/{id}/drafts/{draft}/delete", P::Setup, S::Merchant, "draft.delete"),
    r("POST", "/hq/merchants/{id}/drafts/{draft}/publish", P::Publish, S::Merchant, "draft.publish"),
    r("GET", "/hq/merchants/{id}/promotions/{promotion}/content", P::Publish, S::Merchant, ""),
    r("POST", "/hq/merchants/{id}/promotions/{promotion}/content", P::Publish, S::Merchant, "promotion.content"),
    r("GET", "/hq/merchants/{id}/customers", P::Customers, S::Merchant, ""),
    r("POST", "/hq/merchants/{id}/customer-links", P::Customers, S::Merchant, "customer.link"),
    r("POST", "/hq/merchants/{id}/customers/{customer}/adjustments", P::Customers, S::Merchant, "customer.adjust_points"),
    r("POST", "/hq/merchants/{id}/holds/{register}/{seq}", P::Customers, S::Merchant, "points_hold.resolve"),
    r("GET", "/hq/merchants/{id}/people", P::ManageAccounts, S::Merchant, ""),
    r("POST", "/hq/merchants/{id}/people", P::ManageAccounts, S::Merchant, "account.invite"),
    r("POST", "/hq/merchants/{id}/people/{account}/role", P::ManageAccounts, S::MerchantAccount, "account.role"),
    r("POST", "/hq/merchants/{id}/people/{account}/reset", P::ManageAccounts, S::MerchantAccount, "account.reset_link"),
    r("POST", "/hq/merchants/{id}/people/{account}/disable", P::ManageAccounts, S::MerchantAccount, "account.disable"),
    r("POST", "/hq/merchants/{id}/api-keys", P::ManageAccounts, S::Merchant, "api_key.create"),
    r("POST", "/hq/merchants/{id}/api-keys/{key}/revoke", P::ManageAccounts, S::MerchantKey, "api_key.revoke"),
    r("GET", "/hq/merchants/{id}/audit", P::ViewAudit, S::Merchant, ""),
];

/// The route `method` `path` (a pattern), if it is guarded.
#[must_use]
pub fn route(method: &Method, path: &str) -> Option<&'static Route> {
    ROUTES
        .iter()
        .find(|r| r.path == path && r.method == method.as_str())
}

/// Someone's standing within one merchant: a person's or an API key's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// Their merchant.
    pub merchant: shared::ids::MerchantId,
    /// Their role there.
    pub role: Role,
    /// A store manager's stores.
    pub stores: Vec<shared::ids::StoreId>,
}

/// What a request acts on, as the guard resolved it from the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Target {
    /// The merchant, for every scope but `Global`.
    pub merchant: Option<shared::ids::MerchantId>,
    /// The store, for the store and register scopes.
    pub store: Option<shared::ids::StoreId>,
}

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Nobody signed in.
    Unauthenticated,
    /// Signed in, but not permitted.
    Forbidden,
}

/// The decision: may `who` (`None`: nobody; `Some(None)`: the admin token;
/// `Some(Some(m))`: a member) do `route` on `target`?
pub fn decide(
    who: Option<Option<&Membership>>,
    route: &Route,
    target: Target,
) -> Result<(), Refusal> {
    if route.permission == Permission::Public {
        return Ok(());
    }
    let Some(who) = who else {
        return Err(Refusal::Unauthenticated);
    };
    let Some(member) = who else {
        return Ok(()); // the admin token: every merchant
    };
    if route.permission == Permission::SignedIn {
        return Ok(());
    }
    if route.permission == Permission::Superuser || !member.role.may(route.permission) {
        return Err(Refusal::Forbidden);
    }
    if target.merchant != Some(member.merchant) {
        return Err(Refusal::Forbidden);
    }
    if member.role == Role::StoreManager
        && !target.store.is_some_and(|s| member.stores.contains(&s))
    {
        return Err(Refusal::Forbidden);
    }
    Ok(())
}

/// Whether `member` (`None`: the admin token) is permitted `permission`
/// on `target`, as [`decide`] would rule on a route that needs it: for a
/// page to show or hide its links and forms.
#[must_use]
pub fn permits(member: Option<&Membership>, permission: Permission, target: Target) -> bool {
    let route = Route {
        method: "GET",
        path: "",
        permission,
        scope: Scope::Merchant,
        action: "",
    };
    decide(Some(member), &route, target).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_read_back_from_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("admin".parse::<Role>().is_err());
    }

    #[test]
    fn every_route_is_listed_once() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} {} twice",
                    a.method,
                    a.path
                );
            }
            assert_eq!(
                a.method == "GET",
                a.action.is_empty(),
                "{} {}: changes name an action, reads none",
                a.method,
                a.path
            );
        }
    }
}
