//! Signing in to HQ, sessions, form tokens and error pages.

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, COOKIE, RETRY_AFTER, SET_COOKIE};
use shared::crypto::sha256;

use super::{Hq, Sender, input_value, location, no_redirects};
use crate::helpers::{ADMIN_TOKEN, TestServer};

#[tokio::test]
async fn signing_in_opens_a_server_side_session_in_an_httponly_strict_cookie() {
    let server = TestServer::spawn().await;
    let http = no_redirects();

    let login = http
        .get(format!("{}/hq?next=%2Fhq%2Fmerchants%2F1", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let csp = login.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let form = login.text().await.unwrap();
    assert!(form.contains("name=\"token\" type=\"password\""), "{form}");
    assert_eq!(
        input_value(&form, "next").as_deref(),
        Some("/hq/merchants/1")
    );

    let wrong = http
        .post(format!("{}/hq/login", server.base))
        .form(&[("token", "not the token"), ("next", "/hq")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get(SET_COOKIE).is_none());
    assert!(wrong.text().await.unwrap().contains("Неверный токен"));

    let right = http
        .post(format!("{}/hq/login", server.base))
        .form(&[("token", ADMIN_TOKEN), ("next", "/hq/merchants/1")])
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&right),
        "/hq/merchants/1",
        "back to the page asked for"
    );
    let cookie = right.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/hq", "Max-Age="] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains(ADMIN_TOKEN), "the cookie is not the token");
    let session_id = cookie
        .split(';')
        .next()
        .unwrap()
        .strip_prefix("hq_session=")
        .unwrap();
    assert_eq!(
        server.count_rows(&format!(
            "SELECT COUNT(*) FROM admin_sessions WHERE id_hash = x'{}'",
            sha256(session_id.as_bytes()).to_hex()
        )),
        1,
        "the server keeps the id's hash"
    );
    assert_eq!(
        server.count_rows(&format!(
            "SELECT COUNT(*) FROM admin_sessions WHERE csrf_token = '{session_id}'"
        )),
        0
    );

    // Only local HQ pages are returned to.
    let elsewhere = http
        .post(format!("{}/hq/login", server.base))
        .form(&[("token", ADMIN_TOKEN), ("next", "//evil.example/hq")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&elsewhere), "/hq");
}

#[tokio::test]
async fn hq_pages_and_forms_need_a_live_session() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Ромашка").await;
    let http = no_redirects();
    let dashboard = format!("/hq/merchants/{}?from=2026-03-01", merchant.id);

    for cookie in [
        None,
        Some("hq_session=forged"),
        Some("hq_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    ] {
        let mut request = http.get(format!("{}{dashboard}", server.base));
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{cookie:?}");
        assert_eq!(
            location(&response),
            format!(
                "/hq?next=%2Fhq%2Fmerchants%2F{}%3Ffrom%3D2026-03-01",
                merchant.id
            )
        );
    }
    let anonymous_form = http
        .post(format!(
            "{}/hq/merchants/{}/brands",
            server.base, merchant.id
        ))
        .form(&[("csrf", "x"), ("name", "Чужой")])
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous_form.status(), StatusCode::SEE_OTHER);
    assert_eq!(server.count_rows("SELECT COUNT(*) FROM brands"), 0);

    let hq = Hq::sign_in(&server).await;
    let (status, page) = hq.get(&dashboard).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Ромашка: статистика"));

    // Signing out ends the session on the server, not only in the browser.
    let out = hq.post("/hq/logout", &[]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(
        out.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let response = http
        .get(format!("{}{dashboard}", server.base))
        .header(COOKIE, &hq.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn forms_without_the_session_token_or_from_another_site_are_refused() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Ромашка").await;
    let hq = Hq::sign_in(&server).await;
    let brands = format!("/hq/merchants/{}/brands", merchant.id);

    let missing = hq
        .post_exactly(&brands, &[("name", "Без токена")], Sender::Client)
        .await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    let page = missing.text().await.unwrap();
    assert!(page.contains("Форма отклонена"), "{page}");
    assert!(
        !page.contains("csrf") && !page.contains("token"),
        "no internals: {page}"
    );

    let wrong = hq
        .post_exactly(
            &brands,
            &[("csrf", "guessed"), ("name", "Угаданный")],
            Sender::Client,
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);

    let cross_site = hq
        .post_exactly(
            &brands,
            &[("csrf", hq.csrf.as_str()), ("name", "С чужого сайта")],
            Sender::OtherSite("https://evil.example"),
        )
        .await;
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    assert_eq!(server.count_rows("SELECT COUNT(*) FROM brands"), 0);

    let accepted = hq.post(&brands, &[("name", "Ромашка Экспресс")]).await;
    assert_eq!(accepted.status(), StatusCode::SEE_OTHER);
    assert_eq!(server.count_rows("SELECT COUNT(*) FROM brands"), 1);

    // Another session's token is no good either.
    let other = Hq::sign_in(&server).await;
    assert_ne!(other.csrf, hq.csrf);
    let swapped = hq
        .post_exactly(
            &brands,
            &[("csrf", other.csrf.as_str()), ("name", "Чужой")],
            Sender::Client,
        )
        .await;
    assert_eq!(swapped.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn error_pages_are_plain_and_uncached() {
    let server = TestServer::spawn().await;
    let hq = Hq::sign_in(&server).await;
    let (status, page) = hq.get("/hq/merchants/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("Страница не найдена"));
    // The language switch links back to the address asked for; what the
    // page says comes from the catalogue only.
    let main = page
        .split("<main")
        .nth(1)
        .and_then(|rest| rest.split("</main>").next())
        .expect("the page's main part");
    assert!(
        !main.contains("999999"),
        "storage's message stays inside: {page}"
    );

    let response = no_redirects()
        .get(format!("{}/c/not-a-secret", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(response.headers()["referrer-policy"], "same-origin");
}

#[tokio::test]
async fn a_merchant_is_created_from_the_merchants_page() {
    let server = TestServer::spawn().await;
    let hq = Hq::sign_in(&server).await;
    let refused = hq
        .post("/hq/merchants", &[("name", " "), ("currency", "RUB")])
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("id=\"merchant-name-error\"")
    );

    let created = hq
        .post("/hq/merchants", &[("name", "Ромашка"), ("currency", "RUB")])
        .await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&created), "/hq/merchants/1/setup");
    let (_, page) = hq.get("/hq").await;
    assert!(page.contains("Ромашка"));
}

/// Guessing the admin token, or filling the customer list, from one
/// address meets 429 with `Retry-After` once the address used its
/// allowance; while refused, even the right token is not compared.
#[tokio::test]
async fn sign_ins_and_sign_ups_from_one_address_are_limited() {
    let server = TestServer::spawn_with(|settings| {
        settings.web.sign_in_attempts_per_minute = 3;
        settings.web.sign_ups_per_hour = 2;
    })
    .await;
    let http = no_redirects();
    let sign_in = |token: &'static str| {
        http.post(format!("{}/hq/login", server.base))
            .form(&[("token", token), ("next", "/hq")])
            .send()
    };
    for _ in 0..3 {
        assert_eq!(
            sign_in("a guess").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let refused = sign_in(ADMIN_TOKEN).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().get(SET_COOKIE).is_none());
    let wait: u64 = refused.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Слишком много попыток")
    );

    let merchant = server.merchant("Ромашка").await;
    let join = format!("{}/join/{}", server.base, merchant.id);
    let sign_up = |name: &'static str| {
        http.post(&join)
            .form(&[
                ("name", name),
                ("email", "x@example.com"),
                ("consent", "on"),
            ])
            .send()
    };
    assert_eq!(
        sign_up("Вера").await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        sign_up("Вера").await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        sign_up("Вера").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let (stored, _) = server
        .admin(reqwest::Method::GET, "/api/v1/admin/customers/2", None)
        .await;
    let (not_stored, _) = server
        .admin(reqwest::Method::GET, "/api/v1/admin/customers/3", None)
        .await;
    assert_eq!(
        (stored, not_stored),
        (StatusCode::OK, StatusCode::NOT_FOUND)
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_sign_ins_are_limited_per_forwarded_client() {
    let server = TestServer::spawn_with(|settings| {
        settings.web.sign_in_attempts_per_minute = 2;
        settings.web.trusted_proxies =
            vec![serde_json::from_value(serde_json::json!("127.0.0.1")).unwrap()];
    })
    .await;
    let http = no_redirects();
    // What nginx in front of the server sends: the client it saw.
    let sign_in = |client: &'static str| {
        http.post(format!("{}/hq/login", server.base))
            .header("x-forwarded-for", client)
            .form(&[("token", "a guess"), ("next", "/hq")])
            .send()
    };
    for _ in 0..2 {
        assert_eq!(
            sign_in("198.51.100.7").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        sign_in("198.51.100.7").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client behind the same proxy has its own allowance.
    assert_eq!(
        sign_in("198.51.100.8").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn without_trusted_proxies_a_forwarded_address_buys_no_new_attempts() {
    let server = TestServer::spawn_with(|settings| {
        settings.web.sign_in_attempts_per_minute = 2;
    })
    .await;
    let http = no_redirects();
    let sign_in = |client: &'static str| {
        http.post(format!("{}/hq/login", server.base))
            .header("x-forwarded-for", client)
            .form(&[("token", "a guess"), ("next", "/hq")])
            .send()
    };
    for client in ["198.51.100.1", "198.51.100.2"] {
        assert_eq!(
            sign_in(client).await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        sign_in("198.51.100.3").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the header is the client's own claim and is ignored"
    );
}
