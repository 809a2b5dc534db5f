//! The customer's phone page: personal links (hashed at rest, replaced by a
//! new one), the rotating token, offers with reviews and ratings, sign-up,
//! and escaping of what customers type.

use reqwest::header::CACHE_CONTROL;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::crypto::sha256;
use shared::ids::{CustomerId, MerchantId};
use shared::token::CustomerToken;
use sync_server::wire::CustomerLink;

use super::{Hq, Sender, location, no_redirects};
use crate::helpers::{Purchase, TestServer, Till, merchant_with_till};

/// Rules with an offer running now (`milk`), one not yet started and one
/// over.
pub fn rules_with_offers() -> Value {
    json!({
        "currency": "RUB",
        "programme": {
            "tiers": [
                {"name": "Silver", "min_lifetime_spend": 0, "discount": 300},
                {"name": "Gold", "min_lifetime_spend": 100000, "discount": 500}
            ],
            "earn": {"per": 10000, "points": 1}
        },
        "promotions": [
            {"id": "milk", "name": "Молоко −10 %", "description": "Всё молоко дешевле",
             "target": {"kind": "skus", "skus": ["4601234567893"]},
             "reward": {"kind": "percent_off", "percent": 1000},
             "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z"},
            {"id": "future", "name": "Скоро: хлеб", "target": {"kind": "skus", "skus": ["1"]},
             "reward": {"kind": "percent_off", "percent": 500}, "starts_at": "2099-01-01T00:00:00Z"},
            {"id": "past", "name": "Было: сыр", "target": {"kind": "skus", "skus": ["2"]},
             "reward": {"kind": "percent_off", "percent": 500}, "ends_at": "2020-01-01T00:00:00Z"}
        ]
    })
}

/// A merchant with a till, the rules above, and a customer who bought.
pub async fn shop_with_customer(server: &TestServer, name: &str) -> (MerchantId, Till, CustomerId) {
    let (merchant, _, mut till) = merchant_with_till(server, 1).await;
    assert_eq!(
        server.publish(merchant.id, rules_with_offers()).await.0,
        StatusCode::CREATED
    );
    let customer = server
        .customer(merchant.id, json!({"name": name, "phone": "+79160000001"}))
        .await;
    let batch = till.records([
        Purchase::sale(25_000).by(customer.id).points(2, 0),
        Purchase::sale(1_250).by(customer.id).points(0, 1),
    ]);
    assert_eq!(till.upload(&batch).await.0, StatusCode::OK);
    (merchant.id, till, customer.id)
}

/// `POST /api/v1/admin/customers/{id}/link`.
pub async fn personal_link(server: &TestServer, customer: CustomerId) -> CustomerLink {
    server
        .admin_ok(
            Method::POST,
            &format!("/api/v1/admin/customers/{customer}/link"),
            None,
        )
        .await
}

async fn page(server: &TestServer, path: &str) -> (StatusCode, String) {
    let response = no_redirects()
        .get(format!("{}{path}", server.base))
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn review(
    server: &TestServer,
    link: &CustomerLink,
    fields: &[(&str, &str)],
    sender: Sender<'_>,
) -> reqwest::Response {
    let request = no_redirects()
        .post(format!("{}{}/reviews", server.base, link.path))
        .form(fields);
    sender.apply(request).send().await.unwrap()
}

#[tokio::test]
async fn a_personal_link_opens_the_page_and_a_new_link_retires_the_old() {
    let server = TestServer::spawn().await;
    let (_, _, anna) = shop_with_customer(&server, "Анна").await;

    let link = personal_link(&server, anna).await;
    assert_eq!(link.customer_id, anna);
    assert_eq!(link.url, format!("{}{}", server.base, link.path));
    let secret = link.path.strip_prefix("/c/").unwrap().to_owned();
    assert_eq!(secret.len(), 43, "256 random bits");

    let response = no_redirects().get(&link.url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(response.headers()["referrer-policy"], "same-origin");
    let html = response.text().await.unwrap();
    assert!(html.contains("Здравствуйте, Анна!"));
    assert!(html.contains("<svg class=\"qr-svg\" role=\"img\""));
    assert!(
        html.contains("data-figure=\"points\">1<"),
        "2 earned, 1 spent"
    );
    assert!(html.contains("data-figure=\"tier\">Silver<"));
    assert!(html.contains("До уровня «Gold» осталось 737,50\u{a0}₽"));
    assert!(html.contains("Молоко −10 %") && html.contains("Всё молоко дешевле"));
    assert!(
        !html.contains("Скоро: хлеб") && !html.contains("Было: сыр"),
        "only running offers"
    );
    assert!(
        html.contains("/join/1?offer=milk"),
        "a share link per offer"
    );
    assert!(
        html.contains("250,00\u{a0}₽") && html.contains("12,50\u{a0}₽"),
        "purchases"
    );

    // Only the secret's hash is at rest, in the database and its log.
    assert_eq!(
        server.count_rows(&format!(
            "SELECT COUNT(*) FROM customer_links WHERE secret_hash = x'{}'",
            sha256(secret.as_bytes()).to_hex()
        )),
        1
    );
    for file in ["sync-server.db", "sync-server.db-wal"] {
        let path = server.database_path().with_file_name(file);
        if let Ok(bytes) = std::fs::read(&path) {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{file} holds the secret"
            );
        }
    }

    let (status, _) = server
        .admin(Method::POST, "/api/v1/admin/customers/999/link", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let newer = personal_link(&server, anna).await;
    assert_eq!(page(&server, &link.path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(page(&server, &newer.path).await.0, StatusCode::OK);
    let mut tampered = newer.path.clone();
    tampered.pop();
    tampered.push('_');
    assert_eq!(page(&server, &tampered).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_page_fetches_fresh_tokens_that_verify_for_the_customer() {
    let server = TestServer::spawn().await;
    let (_, till, anna) = shop_with_customer(&server, "Анна").await;
    let link = personal_link(&server, anna).await;
    let mut seen = Vec::new();
    for _ in 0..2 {
        let fresh: Value = no_redirects()
            .get(format!("{}{}/token", server.base, link.path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let text = fresh["token"].as_str().unwrap().to_owned();
        let token = CustomerToken::verify(
            &text,
            &till.server_key,
            till.merchant_id,
            chrono::Utc::now(),
        )
        .expect("signed by the server");
        assert_eq!(token.customer_id, anna);
        assert!(
            fresh["svg"]
                .as_str()
                .unwrap()
                .starts_with("<svg class=\"qr-svg\"")
        );
        seen.push(text);
    }
    assert_ne!(seen[0], seen[1], "each fetch is a new token");
    let (status, _) = page(
        &server,
        "/c/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/token",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Approves the customer's review of `milk` through HQ's moderation form.
async fn approve(hq: &Hq, merchant: shared::ids::MerchantId, customer: shared::ids::CustomerId) {
    let id = customer.to_string();
    let done = hq
        .post(
            &format!("/hq/merchants/{merchant}/reviews/moderate"),
            &[
                ("customer_id", id.as_str()),
                ("promotion_id", "milk"),
                ("action", "approve"),
                ("reply", ""),
            ],
        )
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn reviews_are_one_per_customer_per_offer_and_editable() {
    let server = TestServer::spawn().await;
    let (merchant, _, anna) = shop_with_customer(&server, "Анна").await;
    let boris = server
        .customer(merchant, json!({"name": "Борис", "phone": "+79160000002"}))
        .await;
    let anna_link = personal_link(&server, anna).await;
    let boris_link = personal_link(&server, boris.id).await;

    let saved = review(
        &server,
        &anna_link,
        &[
            ("promotion_id", "milk"),
            ("rating", "4"),
            ("text", "Хорошо"),
        ],
        Sender::Client,
    )
    .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&saved), format!("{}#offers", anna_link.path));
    let (_, html) = page(&server, &anna_link.path).await;
    assert!(
        html.contains("Пока без оценок") && !html.contains("из 5 · 1 оц."),
        "a review counts once approved: {html}"
    );
    assert!(html.contains("Ваш отзыв появится здесь после проверки"));
    let hq = Hq::sign_in(&server).await;
    approve(&hq, merchant, anna).await;
    let (_, html) = page(&server, &anna_link.path).await;
    assert!(html.contains("4,0 из 5 · 1 оц."), "{html}");
    assert!(!html.contains("Ваш отзыв появится здесь после проверки"));
    assert!(html.contains("Ваша оценка: 4 из 5"));
    assert!(html.contains("value=\"4\" checked"));
    assert!(html.contains(">Хорошо</textarea>"));

    review(
        &server,
        &boris_link,
        &[("promotion_id", "milk"), ("rating", "5"), ("text", "")],
        Sender::Client,
    )
    .await;
    // Anna changes her mind: her review is replaced, not added.
    let edited = review(
        &server,
        &anna_link,
        &[
            ("promotion_id", "milk"),
            ("rating", "2"),
            ("text", "Молоко кончилось"),
        ],
        Sender::Client,
    )
    .await;
    assert_eq!(edited.status(), StatusCode::SEE_OTHER);
    assert_eq!(server.count_rows("SELECT COUNT(*) FROM offer_reviews"), 2);
    // Edited, Anna's review waits again; both approved, both count.
    let (_, html) = page(&server, &boris_link.path).await;
    assert!(html.contains("Пока без оценок"), "{html}");
    approve(&hq, merchant, anna).await;
    approve(&hq, merchant, boris.id).await;
    let (_, html) = page(&server, &boris_link.path).await;
    assert!(html.contains("3,5 из 5 · 2 оц."), "(2 + 5) / 2");

    let refused = review(
        &server,
        &anna_link,
        &[
            ("promotion_id", "milk"),
            ("rating", "9"),
            ("text", "десять из пяти"),
        ],
        Sender::Client,
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("id=\"offer-1-error\" role=\"alert\">Оценка: выберите от 1 до 5"));
    assert!(
        html.contains(">десять из пяти</textarea>"),
        "the text is kept"
    );

    let unknown = review(
        &server,
        &anna_link,
        &[("promotion_id", "nope"), ("rating", "3")],
        Sender::Client,
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let cross_site = review(
        &server,
        &anna_link,
        &[("promotion_id", "milk"), ("rating", "1")],
        Sender::OtherSite("https://evil.example"),
    )
    .await;
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);

    // HQ sees the rating and the texts.
    let (_, setup) = hq.get(&format!("/hq/merchants/{merchant}/setup")).await;
    assert!(setup.contains("★ 3,5 (2)"));
    assert!(setup.contains("Молоко кончилось"));
}

#[tokio::test]
async fn signing_up_creates_a_lead_and_opens_their_page() {
    let server = TestServer::spawn().await;
    let (merchant, _, _) = shop_with_customer(&server, "Анна").await;
    let http = no_redirects();
    let join = format!("{}/join/{merchant}", server.base);

    let form = http.get(format!("{join}?offer=milk")).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let html = form.text().await.unwrap();
    assert!(html.contains("Вам прислали акцию") && html.contains("Молоко −10 %"));
    let (_, not_running) = page(&server, &format!("/join/{merchant}?offer=future")).await;
    assert!(!not_running.contains("Вам прислали акцию"));

    let bad = http
        .post(&join)
        .form(&[("name", "Вера"), ("phone", "12"), ("consent", "on")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = bad.text().await.unwrap();
    assert!(html.contains("id=\"join-phone-error\">Телефон: например"));
    assert!(html.contains("value=\"Вера\""));

    let taken = http
        .post(&join)
        .form(&[
            ("name", "Вера"),
            ("phone", "+7 916 000-00-01"),
            ("consent", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(taken.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(taken.text().await.unwrap().contains("уже зарегистрирован"));

    let joined = http
        .post(&join)
        .form(&[
            ("name", "Вера"),
            ("email", "Vera@Example.com"),
            ("gender", "female"),
            ("birth_date", "1985-05-05"),
            ("consent", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(joined.status(), StatusCode::SEE_OTHER);
    let home = location(&joined);
    assert!(home.starts_with("/c/"), "{home}");
    let (status, html) = page(&server, &home).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Здравствуйте, Вера!"));
    let vera: Value = server
        .admin_ok(Method::GET, "/api/v1/admin/customers/2", None)
        .await;
    assert_eq!(vera["email"], "vera@example.com");
    assert_eq!(vera["gender"], "female");
}

#[tokio::test]
async fn what_customers_type_is_escaped_everywhere() {
    let server = TestServer::spawn().await;
    let (merchant, _, _) = shop_with_customer(&server, "Анна").await;
    let evil = "<script>alert(\"x\")</script><img src=x onerror=alert(1)>";
    let joined = no_redirects()
        .post(format!("{}/join/{merchant}", server.base))
        .form(&[
            ("name", evil),
            ("email", "evil@example.com"),
            ("consent", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(joined.status(), StatusCode::SEE_OTHER);
    let path = location(&joined);
    let (_, html) = page(&server, &path).await;
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("<img src=x"));
    assert!(html.contains(
        "&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;&#60;img src=x onerror=alert(1)&#62;"
    ));

    let link = CustomerLink {
        customer_id: CustomerId::new(2).unwrap(),
        url: String::new(),
        path,
    };
    let saved = review(
        &server,
        &link,
        &[("promotion_id", "milk"), ("rating", "1"), ("text", evil)],
        Sender::Client,
    )
    .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let hq = Hq::sign_in(&server).await;
    let (_, setup) = hq.get(&format!("/hq/merchants/{merchant}/setup")).await;
    assert!(setup.contains("&#60;script&#62;alert"));
    assert!(!setup.contains("<script>alert") && !setup.contains("<img src=x"));
}
