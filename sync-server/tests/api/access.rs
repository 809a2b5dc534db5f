//! Who may do what (issue 12): every route of the admin API and the HQ
//! pages, walked with the admin token, with each role (people signed in
//! through the form, API keys as `Authorization: Bearer`) and with another
//! merchant's owner, against one table written here from the roles' job
//! descriptions, not read from the server's own table. The server's table
//! is used only to check that this walk misses no route.
//!
//! A request counts as refused when the guard refuses it: 401 or a 403
//! `forbidden` on the API, the 403 "Недостаточно прав" page on `/hq`.
//! Anything else (a 2xx, a redirect, a handler's 4xx about the body) got
//! past the guard.

use std::collections::BTreeSet;

use reqwest::header::{AUTHORIZATION, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::ids::{MerchantId, StoreId};
use sync_server::wire::admin::{CreatedApiKey, OneTimeLink};

use crate::helpers::{ADMIN_TOKEN, TestServer};
use crate::web::{input_value, no_redirects};

/// Roles by the names the table uses.
const OWNER: &str = "owner";
const MARKETER: &str = "marketer";
const ANALYST: &str = "analyst";
const MANAGER: &str = "store_manager";
const SUPPORT: &str = "support";
/// Every signed-in caller, any merchant's.
const ANYONE: &str = "*";

/// A password good enough for the server.
pub const PASSWORD: &str = "долгий пароль 123";

/// A browser session of a person or of the admin token: the cookie and the
/// form token.
#[derive(Clone)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

/// Signs in through the form with `fields`; the session.
pub async fn sign_in_with(server: &TestServer, fields: &[(&str, &str)]) -> Session {
    let http = no_redirects();
    let response = http
        .post(format!("{}/hq/login", server.base))
        .form(fields)
        .send()
        .await
        .expect("sign in");
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{fields:?}");
    let cookie = response.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .trim()
        .to_owned();
    let home = http
        .get(format!("{}/hq", server.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("home")
        .text()
        .await
        .unwrap();
    let csrf = input_value(&home, "csrf").expect("the home page carries the form token");
    Session { cookie, csrf }
}

/// Invites `email` to `merchant` as `role` through the admin API (as
/// `sync-server admin user invite` does); the one-time link.
pub async fn invite(
    server: &TestServer,
    merchant: MerchantId,
    email: &str,
    role: &str,
    stores: &[i64],
) -> OneTimeLink {
    server
        .admin_ok(
            Method::POST,
            &format!("/api/v1/admin/merchants/{merchant}/invitations"),
            Some(json!({"email": email, "role": role, "stores": stores})),
        )
        .await
}

/// Invites a person, sets their password through the link's form, and
/// signs them in.
async fn person(
    server: &TestServer,
    merchant: MerchantId,
    email: &str,
    role: &str,
    stores: &[i64],
) -> Session {
    let link = invite(server, merchant, email, role, stores).await;
    let set = no_redirects()
        .post(&link.link)
        .form(&[("password", PASSWORD), ("repeat", PASSWORD)])
        .send()
        .await
        .expect("set the password");
    assert_eq!(set.status(), StatusCode::SEE_OTHER, "{}", link.link);
    sign_in_with(server, &[("email", email), ("password", PASSWORD)]).await
}

async fn key(server: &TestServer, merchant: MerchantId, name: &str, role: &str) -> CreatedApiKey {
    store_key(server, merchant, name, role, &[]).await
}

async fn store_key(
    server: &TestServer,
    merchant: MerchantId,
    name: &str,
    role: &str,
    stores: &[i64],
) -> CreatedApiKey {
    server
        .admin_ok(
            Method::POST,
            &format!("/api/v1/admin/merchants/{merchant}/api-keys"),
            Some(json!({"name": name, "role": role, "stores": stores})),
        )
        .await
}

/// One row of the expected table: a route with concrete ids, and who may
/// call it besides the admin token.
struct Case {
    method: Method,
    /// The route's pattern, for the coverage check.
    pattern: &'static str,
    path: String,
    allowed: &'static [&'static str],
}

fn case(
    method: Method,
    pattern: &'static str,
    path: String,
    allowed: &'static [&'static str],
) -> Case {
    Case {
        method,
        pattern,
        path,
        allowed,
    }
}

/// Whether the guard refused an API call.
fn api_refused(status: StatusCode, body: &str) -> bool {
    status == StatusCode::UNAUTHORIZED
        || (status == StatusCode::FORBIDDEN
            && serde_json::from_str::<Value>(body).is_ok_and(|v| v["error"] == "forbidden"))
}

/// Whether the guard refused a page or form.
fn page_refused(status: StatusCode, location: &str, body: &str) -> bool {
    (status == StatusCode::FORBIDDEN && body.contains("Недостаточно прав"))
        || (status == StatusCode::SEE_OTHER && location.starts_with("/hq?next="))
}

#[tokio::test]
async fn every_route_answers_each_role_and_another_merchant_as_the_table_says() {
    let server = TestServer::spawn_with(|s| s.web.sign_in_attempts_per_minute = 1000).await;
    let a = server.merchant("Альфа").await;
    let b = server.merchant("Бета").await;
    let a1 = server.store(a.id, "Альфа-1", "Europe/Moscow").await;
    let a2 = server.store(a.id, "Альфа-2", "Europe/Moscow").await;
    server.store(b.id, "Бета-1", "Europe/Moscow").await;
    let till = server.enroll(a1.id, 1).await;
    let till2 = server.enroll(a2.id, 2).await;
    let customer = server
        .customer(a.id, json!({"name": "Анна", "phone": "+79161234567"}))
        .await;

    // A's people, one per role; B's owner; the admin token's session.
    let mut sessions: Vec<(&str, Session)> = vec![
        (
            OWNER,
            person(&server, a.id, "owner@a.example", OWNER, &[]).await,
        ),
        (
            MARKETER,
            person(&server, a.id, "marketer@a.example", MARKETER, &[]).await,
        ),
        (
            ANALYST,
            person(&server, a.id, "analyst@a.example", ANALYST, &[]).await,
        ),
        (
            MANAGER,
            person(&server, a.id, "manager@a.example", MANAGER, &[a1.id.get()]).await,
        ),
        (
            SUPPORT,
            person(&server, a.id, "support@a.example", SUPPORT, &[]).await,
        ),
        (
            "foreign",
            person(&server, b.id, "owner@b.example", OWNER, &[]).await,
        ),
    ];
    sessions.push((
        "admin",
        sign_in_with(&server, &[("token", ADMIN_TOKEN)]).await,
    ));
    // A's keys, one per role (the manager's for store A-1); B's owner key; the token.
    let mut bearers: Vec<(&str, String)> = Vec::new();
    for role in [OWNER, MARKETER, ANALYST, SUPPORT] {
        bearers.push((role, key(&server, a.id, role, role).await.token));
    }
    let manager_key = store_key(&server, a.id, "store 1", MANAGER, &[a1.id.get()]).await;
    assert_eq!(
        manager_key.key.stores,
        vec![a1.id],
        "the key names its store"
    );
    bearers.push((MANAGER, manager_key.token));
    bearers.push(("foreign", key(&server, b.id, "b", OWNER).await.token));
    bearers.push(("admin", ADMIN_TOKEN.to_owned()));
    // What the walk changes: a person's role, a key, a register.
    let victim = invite(&server, a.id, "victim@a.example", SUPPORT, &[]).await;
    let victim_key = key(&server, a.id, "victim", ANALYST).await.key.id;

    let (m, s1, s2, r, c) = (a.id, a1.id, a2.id, till.register_id, customer.id);
    let v = victim.account_id;
    let r2 = till2.register_id;
    use Method as H;
    let api: Vec<Case> = vec![
        case(
            H::POST,
            "/api/v1/admin/merchants",
            "/api/v1/admin/merchants".into(),
            &[],
        ),
        case(
            H::GET,
            "/api/v1/admin/merchants",
            "/api/v1/admin/merchants".into(),
            &[],
        ),
        case(
            H::POST,
            "/api/v1/admin/merchants/{id}/brands",
            format!("/api/v1/admin/merchants/{m}/brands"),
            &[OWNER],
        ),
        case(
            H::POST,
            "/api/v1/admin/merchants/{id}/stores",
            format!("/api/v1/admin/merchants/{m}/stores"),
            &[OWNER],
        ),
        case(
            H::GET,
            "/api/v1/admin/merchants/{id}/stores",
            format!("/api/v1/admin/merchants/{m}/stores"),
            &[OWNER, MARKETER],
        ),
        case(
            H::GET,
            "/api/v1/admin/merchants/{id}/ruleset",
            format!("/api/v1/admin/merchants/{m}/ruleset"),
            &[OWNER, MARKETER],
        ),
        case(
            H::PUT,
            "/api/v1/admin/merchants/{id}/ruleset",
            format!("/api/v1/admin/merchants/{m}/ruleset"),
            &[OWNER, MARKETER],
        ),
        case(
            H::POST,
            "/api/v1/admin/merchants/{id}/promotions",
            format!("/api/v1/admin/merchants/{m}/promotions"),
            &[OWNER, MARKETER],
        ),
        case(
            H::POST,
            "/api/v1/admin/merchants/{id}/media",
            format!("/api/v1/admin/merchants/{m}/media"),
            &[OWNER, MARKETER],
        ),
        case(
            H::GET,
            "/api/v1/admin/merchants/{id}/promotions/{promotion}/content",
            format!("/api/v1/admin/merchants/{m}/promotions/milk/content"),
            &[OWNER, MARKETER],
        ),
        case(
            H::PUT,
            "/api/v1/admin/merchants/{id}/promotions/{promotion}/content",
            format!("/api/v1/admin/merchants/{m}/promotions/milk/content"),
            &[OWNER, MARKETER],
        ),
        case(
            H::GET,
            "/api/v1/admin/merchants/{id}/registers",
            format!("/api/v1/admin/merchants/{m}/registers"),
            &[OWNER],
        ),
        case(
            H::GET,
            "/api/v1/admin/merchants/{id}/fleet",
            format!("/api/v1/admin/merchants/{m}/fleet"),
            &[OWNER],
        ),
        case(
            H::GET,
            "/api/v1/admin/merchants/{id}/fleet/minimum-version",
            format!("/api/v1/admin/merchants/{m}/fleet/minimum-version"),
            &[OWNER],
        ),
        case(
            H::PUT,
            "/api/v1/admin/merchants/{id}/fleet/minimum-version",
            format!("/api/v1/admin/merchants/{m}/fleet/minimum-version"),
            &[OWNER],
        ),
        case(
            H::GET,
            "/api/v1/admin/merchants/{id}/alerts",
            format!("/api/v1/admin/merchants/{m}/alerts"),
            &[OWNER, ANALYST],
        ),
        case(
            H::GET,
            "/api/v1/admin/merchants/{id}/quarantine",
            format!("/api/v1/admin/merchants/{m}/quarantine"),
            &[OWNER, ANALYST],
        ),
        case(
            H::GET,
            "/api/v1/admin/merchants/{id}/mismatches",
            format!("/api/v1/admin/merchants/{m}/mismatches"),
            &[OWNER, ANALYST],
        ),
        case(
            H::GET,
            "/api/v1/admin/merchants/{id}/overdrafts",
            format!("/api/v1/admin/merchants/{m}/overdrafts"),
            &[OWNER, ANALYST],
        ),
        case(
            H::GET,
            "/api/v1/admin/merchants/{id}/holds",
            format!("/api/v1/admin/merchants/{m}/holds"),
            &[OWNER, ANALYST],
        ),
        case(
            H::POST,
            "/api/v1/admin/merchants/{id}/holds/{register}/{seq}",
            format!("/api/v1/admin/merchants/{m}/holds/1/1"),
            &[OWNER, SUPPORT],
        ),
        case(
            H::GET,
            "/api/v1/admin/merchants/{id}/leases",
            format!("/api/v1/admin/merchants/{m}/leases"),
            &[OWNER, ANALYST],
        ),
        case(
            H::POST,
            "/api/v1/admin/merchants/{id}/customers",
            format!("/api/v1/admin/merchants/{m}/customers"),
            &[OWNER, SUPPORT],
        ),
        case(
            H::GET,
            "/api/v1/admin/merchants/{id}/stats",
            format!("/api/v1/admin/merchants/{m}/stats"),
            &[OWNER, ANALYST],
        ),
        case(
            H::GET,
            "/api/v1/admin/merchants/{id}/analytics/{view}",
            format!("/api/v1/admin/merchants/{m}/analytics/sales"),
            &[OWNER, ANALYST],
        ),
        case(
            H::GET,
            "/api/v1/admin/merchants/{id}/analytics/export/{table}",
            format!("/api/v1/admin/merchants/{m}/analytics/export/stores"),
            &[OWNER, ANALYST],
        ),
        // Basket analysis, a view and exports like the others.
        case(
            H::GET,
            "/api/v1/admin/merchants/{id}/analytics/{view}",
            format!("/api/v1/admin/merchants/{m}/analytics/baskets"),
            &[OWNER, ANALYST],
        ),
        case(
            H::GET,
            "/api/v1/admin/merchants/{id}/analytics/export/{table}",
            format!("/api/v1/admin/merchants/{m}/analytics/export/baskets"),
            &[OWNER, ANALYST],
        ),
        case(
            H::POST,
            "/api/v1/admin/merchants/{id}/invitations",
            format!("/api/v1/admin/merchants/{m}/invitations"),
            &[OWNER],
        ),
        case(
            H::POST,
            "/api/v1/admin/merchants/{id}/password-resets",
            format!("/api/v1/admin/merchants/{m}/password-resets"),
            &[OWNER],
        ),
        case(
            H::GET,
            "/api/v1/admin/merchants/{id}/accounts",
            format!("/api/v1/admin/merchants/{m}/accounts"),
            &[OWNER],
        ),
        case(
            H::POST,
            "/api/v1/admin/merchants/{id}/api-keys",
            format!("/api/v1/admin/merchants/{m}/api-keys"),
            &[OWNER],
        ),
        case(
            H::GET,
            "/api/v1/admin/merchants/{id}/api-keys",
            format!("/api/v1/admin/merchants/{m}/api-keys"),
            &[OWNER],
        ),
        case(
            H::GET,
            "/api/v1/admin/merchants/{id}/audit",
            format!("/api/v1/admin/merchants/{m}/audit"),
            &[OWNER],
        ),
        case(
            H::GET,
            "/api/v1/admin/merchants/{id}/segments",
            format!("/api/v1/admin/merchants/{m}/segments"),
            &[OWNER, MARKETER],
        ),
        case(
            H::POST,
            "/api/v1/admin/merchants/{id}/segments",
            format!("/api/v1/admin/merchants/{m}/segments"),
            &[OWNER, MARKETER],
        ),
        case(
            H::POST,
            "/api/v1/admin/merchants/{id}/segments/refresh",
            format!("/api/v1/admin/merchants/{m}/segments/refresh"),
            &[OWNER, MARKETER],
        ),
        case(
            H::DELETE,
            "/api/v1/admin/merchants/{id}/segments/{code}",
            format!("/api/v1/admin/merchants/{m}/segments/none"),
            &[OWNER, MARKETER],
        ),
        case(
            H::GET,
            "/api/v1/admin/merchants/{id}/drafts",
            format!("/api/v1/admin/merchants/{m}/drafts"),
            &[OWNER, MARKETER],
        ),
        case(
            H::POST,
            "/api/v1/admin/merchants/{id}/drafts",
            format!("/api/v1/admin/merchants/{m}/drafts"),
            &[OWNER, MARKETER],
        ),
        case(
            H::GET,
            "/api/v1/admin/merchants/{id}/drafts/{draft}",
            format!("/api/v1/admin/merchants/{m}/drafts/999999"),
            &[OWNER, MARKETER],
        ),
        case(
            H::DELETE,
            "/api/v1/admin/merchants/{id}/drafts/{draft}",
            format!("/api/v1/admin/merchants/{m}/drafts/999999"),
            &[OWNER, MARKETER],
        ),
        case(
            H::POST,
            "/api/v1/admin/merchants/{id}/drafts/{draft}/what-if",
            format!("/api/v1/admin/merchants/{m}/drafts/999999/what-if"),
            &[OWNER, MARKETER],
        ),
        case(
            H::POST,
            "/api/v1/admin/merchants/{id}/drafts/{draft}/publish",
            format!("/api/v1/admin/merchants/{m}/drafts/999999/publish"),
            &[OWNER, MARKETER],
        ),
        case(
            H::POST,
            "/api/v1/admin/stores/{id}/enrollment-tokens",
            format!("/api/v1/admin/stores/{s1}/enrollment-tokens"),
            &[OWNER, MANAGER],
        ),
        case(
            H::POST,
            "/api/v1/admin/stores/{id}/enrollment-tokens",
            format!("/api/v1/admin/stores/{s2}/enrollment-tokens"),
            &[OWNER],
        ),
        case(
            H::GET,
            "/api/v1/admin/customer-feed",
            "/api/v1/admin/customer-feed".into(),
            &[],
        ),
        case(
            H::GET,
            "/api/v1/admin/customers/{id}",
            format!("/api/v1/admin/customers/{c}"),
            &[OWNER, SUPPORT],
        ),
        case(
            H::POST,
            "/api/v1/admin/customers/{id}/token",
            format!("/api/v1/admin/customers/{c}/token"),
            &[OWNER, SUPPORT],
        ),
        case(
            H::POST,
            "/api/v1/admin/customers/{id}/link",
            format!("/api/v1/admin/customers/{c}/link"),
            &[OWNER, SUPPORT],
        ),
        case(
            H::POST,
            "/api/v1/admin/customers/{id}/revoke-tokens",
            format!("/api/v1/admin/customers/{c}/revoke-tokens"),
            &[OWNER, SUPPORT],
        ),
        case(
            H::POST,
            "/api/v1/admin/customers/{id}/adjustments",
            format!("/api/v1/admin/customers/{c}/adjustments"),
            &[OWNER, SUPPORT],
        ),
        case(
            H::POST,
            "/api/v1/admin/registers/{id}/revoke",
            format!("/api/v1/admin/registers/{r}/revoke"),
            &[OWNER, MANAGER],
        ),
        case(
            H::POST,
            "/api/v1/admin/registers/{id}/revoke",
            format!("/api/v1/admin/registers/{r2}/revoke"),
            &[OWNER],
        ),
    ];
    let pages: Vec<Case> = vec![
        case(H::GET, "/hq", "/hq".into(), &[ANYONE]),
        case(H::POST, "/hq/login", "/hq/login".into(), &[ANYONE]),
        case(
            H::GET,
            "/hq/welcome/{secret}",
            "/hq/welcome/0000".into(),
            &[ANYONE],
        ),
        case(
            H::POST,
            "/hq/welcome/{secret}",
            "/hq/welcome/0000".into(),
            &[ANYONE],
        ),
        case(H::GET, "/hq/account", "/hq/account".into(), &[ANYONE]),
        case(
            H::POST,
            "/hq/account/totp",
            "/hq/account/totp".into(),
            &[ANYONE],
        ),
        case(
            H::POST,
            "/hq/account/totp/confirm",
            "/hq/account/totp/confirm".into(),
            &[ANYONE],
        ),
        case(
            H::POST,
            "/hq/account/totp/disable",
            "/hq/account/totp/disable".into(),
            &[ANYONE],
        ),
        case(
            H::POST,
            "/hq/account/language",
            "/hq/account/language".into(),
            &[ANYONE],
        ),
        case(
            H::POST,
            "/hq/account/sessions/{session}/revoke",
            "/hq/account/sessions/nothing/revoke".into(),
            &[ANYONE],
        ),
        case(H::POST, "/hq/merchants", "/hq/merchants".into(), &[]),
        case(
            H::GET,
            "/hq/merchants/{id}",
            format!("/hq/merchants/{m}"),
            &[OWNER, ANALYST],
        ),
        case(
            H::GET,
            "/hq/merchants/{id}/analytics",
            format!("/hq/merchants/{m}/analytics"),
            &[OWNER, ANALYST],
        ),
        case(
            H::GET,
            "/hq/merchants/{id}/analytics/{view}",
            format!("/hq/merchants/{m}/analytics/customers"),
            &[OWNER, ANALYST],
        ),
        case(
            H::GET,
            "/hq/merchants/{id}/analytics/export/{table}",
            format!("/hq/merchants/{m}/analytics/export/products"),
            &[OWNER, ANALYST],
        ),
        case(
            H::GET,
            "/hq/merchants/{id}/analytics/{view}",
            format!("/hq/merchants/{m}/analytics/baskets"),
            &[OWNER, ANALYST],
        ),
        case(
            H::GET,
            "/hq/merchants/{id}/analytics/export/{table}",
            format!("/hq/merchants/{m}/analytics/export/basket-categories"),
            &[OWNER, ANALYST],
        ),
        case(
            H::GET,
            "/hq/merchants/{id}/setup",
            format!("/hq/merchants/{m}/setup"),
            &[OWNER, MARKETER],
        ),
        case(
            H::GET,
            "/hq/merchants/{id}/campaigns",
            format!("/hq/merchants/{m}/campaigns"),
            &[OWNER, MARKETER],
        ),
        case(
            H::GET,
            "/hq/merchants/{id}/referrals",
            format!("/hq/merchants/{m}/referrals"),
            &[OWNER, ANALYST],
        ),
        case(
            H::GET,
            "/hq/merchants/{id}/reviews",
            format!("/hq/merchants/{m}/reviews"),
            &[OWNER, MARKETER],
        ),
        case(
            H::POST,
            "/hq/merchants/{id}/reviews/moderate",
            format!("/hq/merchants/{m}/reviews/moderate"),
            &[OWNER, MARKETER],
        ),
        case(
            H::POST,
            "/hq/merchants/{id}/ruleset",
            format!("/hq/merchants/{m}/ruleset"),
            &[OWNER, MARKETER],
        ),
        case(
            H::GET,
            "/hq/merchants/{id}/programme",
            format!("/hq/merchants/{m}/programme"),
            &[OWNER, MARKETER],
        ),
        case(
            H::POST,
            "/hq/merchants/{id}/programme",
            format!("/hq/merchants/{m}/programme"),
            &[OWNER, MARKETER],
        ),
        case(
            H::POST,
            "/hq/merchants/{id}/brands",
            format!("/hq/merchants/{m}/brands"),
            &[OWNER],
        ),
        case(
            H::POST,
            "/hq/merchants/{id}/stores",
            format!("/hq/merchants/{m}/stores"),
            &[OWNER],
        ),
        case(
            H::GET,
            "/hq/merchants/{id}/stores/{store}",
            format!("/hq/merchants/{m}/stores/{s1}"),
            &[OWNER, MANAGER],
        ),
        case(
            H::GET,
            "/hq/merchants/{id}/stores/{store}",
            format!("/hq/merchants/{m}/stores/{s2}"),
            &[OWNER],
        ),
        case(
            H::POST,
            "/hq/merchants/{id}/stores/{store}/enrollment-tokens",
            format!("/hq/merchants/{m}/stores/{s1}/enrollment-tokens"),
            &[OWNER, MANAGER],
        ),
        case(
            H::POST,
            "/hq/merchants/{id}/stores/{store}/enrollment-tokens",
            format!("/hq/merchants/{m}/stores/{s2}/enrollment-tokens"),
            &[OWNER],
        ),
        case(
            H::POST,
            "/hq/merchants/{id}/promotions",
            format!("/hq/merchants/{m}/promotions"),
            &[OWNER, MARKETER],
        ),
        case(
            H::POST,
            "/hq/merchants/{id}/drafts",
            format!("/hq/merchants/{m}/drafts"),
            &[OWNER, MARKETER],
        ),
        case(
            H::GET,
            "/hq/merchants/{id}/drafts",
            format!("/hq/merchants/{m}/drafts"),
            &[OWNER, MARKETER],
        ),
        case(
            H::GET,
            "/hq/merchants/{id}/drafts/{draft}",
            format!("/hq/merchants/{m}/drafts/999999"),
            &[OWNER, MARKETER],
        ),
        case(
            H::POST,
            "/hq/merchants/{id}/drafts/{draft}/delete",
            format!("/hq/merchants/{m}/drafts/999999/delete"),
            &[OWNER, MARKETER],
        ),
        case(
            H::POST,
            "/hq/merchants/{id}/drafts/{draft}/publish",
            format!("/hq/merchants/{m}/drafts/999999/publish"),
            &[OWNER, MARKETER],
        ),
        case(
            H::GET,
            "/hq/merchants/{id}/promotions/{promotion}/content",
            format!("/hq/merchants/{m}/promotions/milk/content"),
            &[OWNER, MARKETER],
        ),
        case(
            H::POST,
            "/hq/merchants/{id}/promotions/{promotion}/content",
            format!("/hq/merchants/{m}/promotions/milk/content"),
            &[OWNER, MARKETER],
        ),
        case(
            H::GET,
            "/hq/merchants/{id}/customers",
            format!("/hq/merchants/{m}/customers"),
            &[OWNER, SUPPORT],
        ),
        case(
            H::POST,
            "/hq/merchants/{id}/customer-links",
            format!("/hq/merchants/{m}/customer-links"),
            &[OWNER, SUPPORT],
        ),
        case(
            H::POST,
            "/hq/merchants/{id}/customers/{customer}/adjustments",
            format!("/hq/merchants/{m}/customers/{c}/adjustments"),
            &[OWNER, SUPPORT],
        ),
        case(
            H::POST,
            "/hq/merchants/{id}/holds/{register}/{seq}",
            format!("/hq/merchants/{m}/holds/1/1"),
            &[OWNER, SUPPORT],
        ),
        case(
            H::GET,
            "/hq/merchants/{id}/people",
            format!("/hq/merchants/{m}/people"),
            &[OWNER],
        ),
        case(
            H::POST,
            "/hq/merchants/{id}/people",
            format!("/hq/merchants/{m}/people"),
            &[OWNER],
        ),
        case(
            H::POST,
            "/hq/merchants/{id}/people/{account}/role",
            format!("/hq/merchants/{m}/people/{v}/role"),
            &[OWNER],
        ),
        case(
            H::POST,
            "/hq/merchants/{id}/people/{account}/reset",
            format!("/hq/merchants/{m}/people/{v}/reset"),
            &[OWNER],
        ),
        case(
            H::POST,
            "/hq/merchants/{id}/people/{account}/disable",
            format!("/hq/merchants/{m}/people/{v}/disable"),
            &[OWNER],
        ),
        case(
            H::POST,
            "/hq/merchants/{id}/api-keys",
            format!("/hq/merchants/{m}/api-keys"),
            &[OWNER],
        ),
        case(
            H::POST,
            "/hq/merchants/{id}/api-keys/{key}/revoke",
            format!("/hq/merchants/{m}/api-keys/{victim_key}/revoke"),
            &[OWNER],
        ),
        case(
            H::GET,
            "/hq/merchants/{id}/segments",
            format!("/hq/merchants/{m}/segments"),
            &[OWNER, MARKETER],
        ),
        case(
            H::POST,
            "/hq/merchants/{id}/segments",
            format!("/hq/merchants/{m}/segments"),
            &[OWNER, MARKETER],
        ),
        case(
            H::POST,
            "/hq/merchants/{id}/segments/refresh",
            format!("/hq/merchants/{m}/segments/refresh"),
            &[OWNER, MARKETER],
        ),
        case(
            H::POST,
            "/hq/merchants/{id}/segments/{code}/delete",
            format!("/hq/merchants/{m}/segments/none/delete"),
            &[OWNER, MARKETER],
        ),
        case(
            H::GET,
            "/hq/merchants/{id}/audit",
            format!("/hq/merchants/{m}/audit"),
            &[OWNER],
        ),
        case(
            H::POST,
            "/hq/merchants/{id}/fleet/minimum-version",
            format!("/hq/merchants/{m}/fleet/minimum-version"),
            &[OWNER],
        ),
        case(
            H::POST,
            "/hq/merchants/{id}/registers/{register}/revoke",
            format!("/hq/merchants/{m}/registers/{r}/revoke"),
            &[OWNER, MANAGER],
        ),
        // Last: it ends every session.
        case(H::POST, "/hq/logout", "/hq/logout".into(), &[ANYONE]),
    ];

    // The walk misses no guarded route, and names none the server lacks.
    let walked: BTreeSet<(String, String)> = api
        .iter()
        .chain(&pages)
        .map(|c| (c.method.to_string(), c.pattern.to_owned()))
        .collect();
    let served: BTreeSet<(String, String)> = sync_server::access::ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(walked, served, "the walk and the server's routes differ");

    let http = no_redirects();
    let mut wrong = Vec::new();
    for c in &api {
        for (who, bearer) in &bearers {
            let mut request = http
                .request(c.method.clone(), format!("{}{}", server.base, c.path))
                .header(AUTHORIZATION, format!("Bearer {bearer}"));
            if c.method != Method::GET {
                request = request.json(&json!({}));
            }
            let response = request.send().await.expect("send");
            let status = response.status();
            let body = response.text().await.unwrap();
            let refused = api_refused(status, &body);
            let expected =
                *who == "admin" || c.allowed.contains(who) || c.allowed.contains(&ANYONE);
            if refused == expected {
                wrong.push(format!(
                    "{} {} as {who}: {status} (expected {}) {body}",
                    c.method,
                    c.path,
                    if expected { "through" } else { "refused" }
                ));
            }
        }
    }
    for c in &pages {
        for (who, session) in &sessions {
            let mut request = http
                .request(c.method.clone(), format!("{}{}", server.base, c.path))
                .header(COOKIE, &session.cookie);
            if c.method == Method::POST {
                request = request.form(&[("csrf", session.csrf.as_str())]);
            }
            let response = request.send().await.expect("send");
            let status = response.status();
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = response.text().await.unwrap();
            let refused = page_refused(status, &location, &body);
            let expected =
                *who == "admin" || c.allowed.contains(who) || c.allowed.contains(&ANYONE);
            if refused == expected {
                wrong.push(format!(
                    "{} {} as {who}: {status} {location} (expected {})",
                    c.method,
                    c.path,
                    if expected { "through" } else { "refused" }
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} answers differ from the table:\n{}",
        wrong.len(),
        wrong.join("\n")
    );

    // Nobody signed in is sent to sign in; a bad bearer is 401.
    let anonymous = http
        .get(format!("{}/hq/merchants/{m}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    let bad = http
        .get(format!("{}/api/v1/admin/merchants/{m}/stats", server.base))
        .bearer_auth("lk_0000")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_store_managers_key_needs_stores_of_its_own_merchant_and_acts_on_them_only() {
    let server = TestServer::spawn().await;
    let a = server.merchant("Альфа").await;
    let b = server.merchant("Бета").await;
    let a1 = server.store(a.id, "Альфа-1", "Europe/Moscow").await;
    let a2 = server.store(a.id, "Альфа-2", "Europe/Moscow").await;
    let b1 = server.store(b.id, "Бета-1", "Europe/Moscow").await;
    let keys = format!("/api/v1/admin/merchants/{}/api-keys", a.id);
    // Without a store, or with another merchant's, it is refused by field.
    for stores in [
        json!([]),
        json!([b1.id.get()]),
        json!([a1.id.get(), b1.id.get()]),
    ] {
        let (status, body) = server
            .admin(
                Method::POST,
                &keys,
                Some(json!({"name": "касса", "role": MANAGER, "stores": stores})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{stores}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with("stores:"),
            "{body}"
        );
    }
    // Another role's key ignores stores.
    let analyst = store_key(&server, a.id, "отчёты", ANALYST, &[a1.id.get()]).await;
    assert!(analyst.key.stores.is_empty(), "{:?}", analyst.key);
    // With its store, it issues that store's enrollment tokens and no other's.
    let created = store_key(&server, a.id, "касса", MANAGER, &[a1.id.get()]).await;
    let listed: Vec<sync_server::wire::admin::ApiKeyView> =
        server.admin_ok(Method::GET, &keys, None).await;
    let listed = listed
        .iter()
        .find(|k| k.id == created.key.id)
        .expect("listed");
    assert_eq!(listed.stores, vec![a1.id]);
    let issue = |store: StoreId| {
        server
            .http
            .post(format!(
                "{}/api/v1/admin/stores/{store}/enrollment-tokens",
                server.base
            ))
            .bearer_auth(&created.token)
            .json(&json!({}))
            .send()
    };
    assert!(issue(a1.id).await.unwrap().status().is_success());
    assert_eq!(issue(a2.id).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(issue(b1.id).await.unwrap().status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn api_keys_work_until_revoked_and_show_their_last_use() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Альфа").await;
    let created = key(&server, merchant.id, "отчёты", ANALYST).await;
    assert!(created.token.starts_with("lk_"));
    assert!(created.key.last_used_at.is_none());
    let stats = format!(
        "{}/api/v1/admin/merchants/{}/stats",
        server.base, merchant.id
    );
    let ok = server
        .http
        .get(&stats)
        .bearer_auth(&created.token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let keys: Vec<sync_server::wire::admin::ApiKeyView> = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{}/api-keys", merchant.id),
            None,
        )
        .await;
    assert!(keys[0].last_used_at.is_some(), "{keys:?}");
    // The database holds its SHA-256, not the token.
    let hash = shared::crypto::sha256(created.token.as_bytes());
    let hex: String = hash.0.iter().map(|b| format!("{b:02x}")).collect();
    let stored = server.count_rows(&format!(
        "SELECT COUNT(*) FROM api_keys WHERE secret_hash = x'{hex}'"
    ));
    assert_eq!(stored, 1);
    // Revoked by the owner's page, it is refused.
    let owner = person(&server, merchant.id, "owner@a.example", OWNER, &[]).await;
    let revoke = no_redirects()
        .post(format!(
            "{}/hq/merchants/{}/api-keys/{}/revoke",
            server.base, merchant.id, created.key.id
        ))
        .header(COOKIE, &owner.cookie)
        .form(&[("csrf", owner.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::SEE_OTHER);
    let refused = server
        .http
        .get(&stats)
        .bearer_auth(&created.token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    // The trail says who revoked it, with before and after.
    let trail: Vec<sync_server::wire::admin::AuditView> = server
        .admin_ok(
            Method::GET,
            &format!(
                "/api/v1/admin/merchants/{}/audit?action=api_key.revoke",
                merchant.id
            ),
            None,
        )
        .await;
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(trail[0].actor, "owner@a.example");
    assert_eq!(
        (trail[0].before.as_str(), trail[0].after.as_str()),
        ("active", "revoked")
    );
}

#[tokio::test]
async fn a_password_reset_link_sets_a_new_password_once_and_ends_the_old_sessions() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Альфа").await;
    let before = person(&server, merchant.id, "anna@a.example", SUPPORT, &[]).await;
    let link: OneTimeLink = server
        .admin_ok(
            Method::POST,
            &format!("/api/v1/admin/merchants/{}/password-resets", merchant.id),
            Some(json!({"email": "Anna@A.example"})),
        )
        .await;
    let new_password = "совсем другой пароль";
    let set = |password: &'static str| {
        let link = link.link.clone();
        async move {
            no_redirects()
                .post(&link)
                .form(&[("password", password), ("repeat", password)])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(set("short").await, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(set(new_password).await, StatusCode::SEE_OTHER);
    assert_eq!(
        set(new_password).await,
        StatusCode::NOT_FOUND,
        "the link is used up"
    );
    // The old session is over; the old password no longer works.
    let old = no_redirects()
        .get(format!("{}/hq/account", server.base))
        .header(COOKIE, &before.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), StatusCode::SEE_OTHER);
    let wrong = no_redirects()
        .post(format!("{}/hq/login", server.base))
        .form(&[("email", "anna@a.example"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    sign_in_with(
        &server,
        &[("email", "anna@a.example"), ("password", new_password)],
    )
    .await;
}

#[tokio::test]
async fn sign_ins_are_limited_per_account_from_any_address() {
    let server = TestServer::spawn_with(|s| {
        s.web.sign_in_attempts_per_minute = 1000;
        s.web.account_sign_in_attempts_per_minute = 3;
    })
    .await;
    let merchant = server.merchant("Альфа").await;
    person(&server, merchant.id, "anna@a.example", SUPPORT, &[]).await; // one attempt
    person(&server, merchant.id, "boris@a.example", SUPPORT, &[]).await;
    let attempt = |email: &'static str, password: &'static str| {
        let base = server.base.clone();
        async move {
            no_redirects()
                .post(format!("{base}/hq/login"))
                .form(&[("email", email), ("password", password)])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(
        attempt("anna@a.example", "wrong password!").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        attempt("ANNA@a.example", "wrong password!").await,
        StatusCode::UNAUTHORIZED
    );
    // Anna's address used its allowance, even with the right password…
    assert_eq!(
        attempt("anna@a.example", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // …while the same client signs Boris in.
    assert_eq!(
        attempt("boris@a.example", PASSWORD).await,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn an_owner_cannot_change_their_own_role_but_changes_others_with_the_change_in_the_trail() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Альфа").await;
    let store = server.store(merchant.id, "Альфа-1", "Europe/Moscow").await;
    let owner = person(&server, merchant.id, "owner@a.example", OWNER, &[]).await;
    let anna = person(&server, merchant.id, "anna@a.example", SUPPORT, &[]).await;
    let people: Vec<sync_server::wire::admin::AccountView> = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{}/accounts", merchant.id),
            None,
        )
        .await;
    let id_of = |email: &str| people.iter().find(|p| p.email == email).unwrap().id;
    let post = |path: String, fields: Vec<(&'static str, String)>| {
        let (base, cookie, csrf) = (
            server.base.clone(),
            owner.cookie.clone(),
            owner.csrf.clone(),
        );
        async move {
            let mut form = vec![("csrf", csrf)];
            form.extend(fields);
            no_redirects()
                .post(format!("{base}{path}"))
                .header(COOKIE, cookie)
                .form(&form)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let me = format!(
        "/hq/merchants/{}/people/{}/role",
        merchant.id,
        id_of("owner@a.example")
    );
    assert_eq!(
        post(me, vec![("role", "analyst".into())]).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let hers = format!(
        "/hq/merchants/{}/people/{}/role",
        merchant.id,
        id_of("anna@a.example")
    );
    assert_eq!(
        post(hers.clone(), vec![("role", "store_manager".into())]).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a store manager needs a store"
    );
    assert_eq!(
        post(
            hers,
            vec![
                ("role", "store_manager".into()),
                ("store", store.id.to_string())
            ]
        )
        .await,
        StatusCode::SEE_OTHER
    );
    // Her session now opens her store and not the customers page.
    let page = |path: String| {
        let (base, cookie) = (server.base.clone(), anna.cookie.clone());
        async move {
            no_redirects()
                .get(format!("{base}{path}"))
                .header(COOKIE, cookie)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(
        page(format!("/hq/merchants/{}/stores/{}", merchant.id, store.id)).await,
        StatusCode::OK
    );
    assert_eq!(
        page(format!("/hq/merchants/{}/customers", merchant.id)).await,
        StatusCode::FORBIDDEN
    );
    let trail: Vec<sync_server::wire::admin::AuditView> = server
        .admin_ok(
            Method::GET,
            &format!(
                "/api/v1/admin/merchants/{}/audit?action=account.role",
                merchant.id
            ),
            None,
        )
        .await;
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(trail[0].actor, "owner@a.example");
    assert_eq!(trail[0].before, "support []");
    assert_eq!(trail[0].after, format!("store_manager [{}]", store.id));
}

#[tokio::test]
async fn a_disabled_person_is_signed_out_everywhere_and_signs_in_no_more() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Альфа").await;
    let owner = person(&server, merchant.id, "owner@a.example", OWNER, &[]).await;
    let anna = person(&server, merchant.id, "anna@a.example", SUPPORT, &[]).await;
    let people: Vec<sync_server::wire::admin::AccountView> = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{}/accounts", merchant.id),
            None,
        )
        .await;
    let anna_id = people
        .iter()
        .find(|p| p.email == "anna@a.example")
        .unwrap()
        .id;
    let disabled = no_redirects()
        .post(format!(
            "{}/hq/merchants/{}/people/{anna_id}/disable",
            server.base, merchant.id
        ))
        .header(COOKIE, &owner.cookie)
        .form(&[("csrf", owner.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), StatusCode::SEE_OTHER);
    let her_page = no_redirects()
        .get(format!(
            "{}/hq/merchants/{}/customers",
            server.base, merchant.id
        ))
        .header(COOKIE, &anna.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(her_page.status(), StatusCode::SEE_OTHER, "sent to sign in");
    let again = no_redirects()
        .post(format!("{}/hq/login", server.base))
        .form(&[("email", "anna@a.example"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    // A reset link cannot bring her back either.
    let link: OneTimeLink = server
        .admin_ok(
            Method::POST,
            &format!("/api/v1/admin/merchants/{}/password-resets", merchant.id),
            Some(json!({"email": "anna@a.example"})),
        )
        .await;
    let opened = no_redirects().get(&link.link).send().await.unwrap();
    assert_eq!(opened.status(), StatusCode::NOT_FOUND);
    let people: Vec<sync_server::wire::admin::AccountView> = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{}/accounts", merchant.id),
            None,
        )
        .await;
    let anna = people.iter().find(|p| p.email == "anna@a.example").unwrap();
    assert!(!anna.active, "{anna:?}");
}
