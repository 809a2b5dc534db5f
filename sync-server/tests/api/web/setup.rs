//! The merchant's set-up page: brands, stores, register tokens shown once,
//! personal links, and promotions published from the form through the
//! admin API's publish path — live on a till's long-poll within seconds.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use shared::crypto::{SigningKey, sha256};
use shared::money::BasisPoints;
use shared::release::SignedRuleset;
use shared::ruleset::{Reward, Target};

use super::{Hq, attribute, location, no_redirects};
use crate::helpers::{TestServer, merchant_with_till, ruleset};

/// The value of the read-only field a secret is shown in.
fn shown_secret(page: &str) -> String {
    let at = page.find("id=\"secret\"").expect("a secret is shown");
    let tag_end = at + page[at..].find('>').expect("tag end");
    attribute(&page[at..tag_end], "value").expect("its value")
}

/// The text of the element with `id="{id}"`.
fn text_of(page: &str, id: &str) -> Option<String> {
    let at = page.find(&format!("id=\"{id}\""))?;
    let start = at + page[at..].find('>')? + 1;
    let end = start + page[start..].find('<')?;
    Some(page[start..end].to_owned())
}

fn promotion_form<'a>(name: &'a str, percent: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("id", ""),
        ("name", name),
        (
            "description",
            "Скидка на молоко «Домик в деревне» <b>каждый день</b>",
        ),
        ("target_kind", "skus"),
        ("targets", "4601234567893"),
        ("percent", percent),
        ("starts_at", ""),
        ("ends_at", "2030-01-01T00:00"),
        ("funded_by", "Молочный завод"),
    ]
}

#[tokio::test]
async fn a_promotion_published_from_the_form_is_live_on_a_till_within_seconds() {
    let server = TestServer::spawn().await;
    let (merchant, _, till) = merchant_with_till(&server, 1).await;
    assert_eq!(
        server.publish(merchant.id, ruleset()).await.0,
        StatusCode::CREATED
    );
    let hq = Hq::sign_in(&server).await;
    let path = format!("/hq/merchants/{}/promotions", merchant.id);
    let form = promotion_form("Молоко −15 %", "15");

    // The till is waiting for anything after version 1 when HQ publishes.
    let started = Instant::now();
    let (polled, posted) = tokio::join!(till.get("/api/v1/ruleset?after=1&wait=10"), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        hq.post(&path, &form).await
    });
    assert_eq!(posted.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&posted),
        format!("/hq/merchants/{}/setup?published=2#promotions", merchant.id)
    );
    assert_eq!(polled.status(), StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "woken, not timed out"
    );
    let signed: SignedRuleset = polled.json().await.unwrap();
    let release = signed
        .open(&till.server_key, "0.1.0")
        .expect("signed by the server");
    assert_eq!(release.version.get(), 2);
    let [promotion] = release.ruleset.promotions.as_slice() else {
        panic!("one promotion: {:?}", release.ruleset.promotions);
    };
    assert_eq!(promotion.name, "Молоко −15 %");
    assert_eq!(
        promotion.reward,
        Reward::PercentOff {
            percent: BasisPoints::new(1500).unwrap(),
            apply: Default::default(),
        }
    );
    assert!(
        matches!(&promotion.target, Target::Skus { skus } if skus[0].as_str() == "4601234567893")
    );
    assert_eq!(
        promotion.ends_at,
        Some("2029-12-31T21:00:00Z".parse().unwrap()),
        "Moscow time"
    );
    assert_eq!(promotion.funded_by.as_deref(), Some("Молочный завод"));

    let (_, page) = hq
        .get(&format!("/hq/merchants/{}/setup?published=2", merchant.id))
        .await;
    assert!(page.contains("Опубликована версия правил 2"));
    assert!(page.contains("Молоко −15 %"));
    assert!(
        page.contains("до 01.01.2030 00:00"),
        "the publication period"
    );
    assert!(
        page.contains("&#60;b&#62;каждый день&#60;/b&#62;"),
        "the description, escaped"
    );
    assert!(!page.contains("<b>каждый день</b>"));

    // Editing loads the form; the same code replaces the promotion.
    let id = promotion.id.as_str().to_owned();
    let (_, edit) = hq
        .get(&format!("/hq/merchants/{}/setup?edit={id}", merchant.id))
        .await;
    assert!(edit.contains("Изменить акцию"));
    assert!(
        edit.contains(&format!("name=\"id\" value=\"{id}\"")),
        "{edit}"
    );
    let mut replacement = promotion_form("Молоко −20 %", "20");
    replacement[0] = ("id", &id);
    replacement.push(("holdout", "12,5"));
    assert_eq!(
        hq.post(&path, &replacement).await.status(),
        StatusCode::SEE_OTHER
    );
    let current: serde_json::Value = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{}/ruleset", merchant.id),
            None,
        )
        .await;
    assert_eq!(current["version"], 3);
    assert_eq!(
        current["ruleset"]["promotions"].as_array().unwrap().len(),
        1
    );
    assert_eq!(
        current["ruleset"]["promotions"][0]["reward"]["percent"],
        2000
    );
    assert_eq!(
        current["ruleset"]["promotions"][0]["holdout"], 1250,
        "the holdout share, in basis points"
    );
    let (_, edit) = hq
        .get(&format!("/hq/merchants/{}/setup?edit={id}", merchant.id))
        .await;
    assert!(
        edit.contains("name=\"holdout\" value=\"12,5\""),
        "the form shows the share: {edit}"
    );
}

#[tokio::test]
async fn form_refusals_are_shown_next_to_the_field_they_name() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Ромашка").await;
    let hq = Hq::sign_in(&server).await;
    let path = format!("/hq/merchants/{}/promotions", merchant.id);

    // No programme yet: the publish path refuses, and the page says why.
    let refused = hq.post(&path, &promotion_form("Молоко", "10")).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.unwrap();
    assert!(page.contains("ещё нет правил программы"), "{page}");

    assert_eq!(
        server.publish(merchant.id, ruleset()).await.0,
        StatusCode::CREATED
    );
    let mut bad = promotion_form(" ", "сто");
    bad[4] = ("targets", "");
    bad[6] = ("starts_at", "2030-02-01T00:00");
    bad.push(("holdout", "60"));
    let refused = hq.post(&path, &bad).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.unwrap();
    assert!(
        text_of(&page, "promo-name-error")
            .unwrap()
            .starts_with("Название")
    );
    assert!(
        text_of(&page, "promo-percent-error")
            .unwrap()
            .starts_with("Скидка")
    );
    assert!(
        text_of(&page, "promo-targets-error")
            .unwrap()
            .starts_with("Товары")
    );
    assert!(
        text_of(&page, "promo-ends-error")
            .unwrap()
            .starts_with("Окончание")
    );
    assert!(
        text_of(&page, "promo-holdout-error")
            .unwrap()
            .starts_with("Контрольная группа, %: число от 0,01 до 50")
    );
    assert!(page.contains("aria-describedby=\"promo-percent-error\""));
    assert!(
        page.contains("value=\"сто\""),
        "the form comes back filled in"
    );
    assert!(page.contains("&#60;b&#62;каждый день&#60;/b&#62;</textarea>"));

    let current: serde_json::Value = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{}/ruleset", merchant.id),
            None,
        )
        .await;
    assert_eq!(current["version"], 1, "nothing was published");
}

#[tokio::test]
async fn brands_stores_and_a_register_token_shown_once() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Ромашка").await;
    let hq = Hq::sign_in(&server).await;
    let setup = format!("/hq/merchants/{}/setup", merchant.id);

    let brand = hq
        .post(
            &format!("/hq/merchants/{}/brands", merchant.id),
            &[("name", "Ромашка Экспресс")],
        )
        .await;
    assert_eq!(brand.status(), StatusCode::SEE_OTHER);
    let stores = format!("/hq/merchants/{}/stores", merchant.id);
    let refused = hq
        .post(
            &stores,
            &[
                ("name", "Тверская"),
                ("brand_id", "1"),
                ("timezone", "Moscow"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text_of(&refused.text().await.unwrap(), "store-error")
            .unwrap()
            .starts_with("Часовой пояс")
    );
    let created = hq
        .post(
            &stores,
            &[
                ("name", "Тверская"),
                ("brand_id", "1"),
                ("timezone", "Europe/Moscow"),
            ],
        )
        .await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let (_, page) = hq.get(&setup).await;
    assert!(page.contains("Ромашка Экспресс") && page.contains("Тверская"));

    let issued = hq
        .post(
            &format!("/hq/merchants/{}/stores/1/enrollment-tokens", merchant.id),
            &[],
        )
        .await;
    assert_eq!(issued.status(), StatusCode::OK);
    let token = shown_secret(&issued.text().await.unwrap());
    assert_eq!(
        server.count_rows(&format!(
            "SELECT COUNT(*) FROM enrollment_tokens WHERE token_hash = x'{}'",
            sha256(token.as_bytes()).to_hex()
        )),
        1,
        "only the hash is kept"
    );
    let key = SigningKey::from_seed(&[7; 32]).unwrap();
    let (status, enrolled) = server.enroll_with(&token, &key).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the token enrolls a register: {enrolled}"
    );
    assert_eq!(enrolled["store_name"], "Тверская");

    // Another merchant's store is not this merchant's to issue for.
    let other = server.merchant("Чужой").await;
    let foreign = hq
        .post(
            &format!("/hq/merchants/{}/stores/1/enrollment-tokens", other.id),
            &[],
        )
        .await;
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_personal_link_issued_from_the_page_opens_the_customers_page() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Ромашка").await;
    let anna = server
        .customer(
            merchant.id,
            serde_json::json!({"name": "Анна", "phone": "+79160000001"}),
        )
        .await;
    let hq = Hq::sign_in(&server).await;
    let links = format!("/hq/merchants/{}/customer-links", merchant.id);

    let unknown = hq.post(&links, &[("customer_id", "42")]).await;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text_of(&unknown.text().await.unwrap(), "link-customer-error")
            .unwrap()
            .starts_with("Покупатель")
    );

    let issued = hq
        .post(&links, &[("customer_id", &anna.id.to_string())])
        .await;
    assert_eq!(issued.status(), StatusCode::OK);
    let page = issued.text().await.unwrap();
    let url = shown_secret(&page);
    assert!(url.starts_with(&format!("{}/c/", server.base)), "{url}");
    assert!(
        page.contains("<svg class=\"qr-svg\""),
        "a QR code for the phone's camera"
    );
    let customer_page = no_redirects().get(&url).send().await.unwrap();
    assert_eq!(customer_page.status(), StatusCode::OK);
    assert!(
        customer_page
            .text()
            .await
            .unwrap()
            .contains("Здравствуйте, Анна!")
    );
}
