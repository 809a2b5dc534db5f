//! Reaching customers through a real SMTP server (the kit's SMTP sink,
//! aiosmtpd, started on a free port): sign-up with the
//! one-time code from the received mail (in Chromium, and over HTTP), the
//! campaign at a promotion's start, the tracked link, the purchases that
//! followed on HQ's campaigns page, and the unsubscribe pages.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::LOCATION;
use shared::ids::CustomerId;
use sync_server::config::NotifySettings;
use test_kit::mail::{ReceivedMail, SmtpSink};

use super::chrome::Browser;
use super::{Hq, location, no_redirects};
use crate::helpers::{Purchase, TestServer, merchant_with_till, promotion, ruleset};

/// How long a test waits for a message.
const MAIL_WAIT: Duration = Duration::from_secs(20);

/// The kit's SMTP sink, answering at once and refusing no one.
pub(super) fn smtp_sink() -> SmtpSink {
    SmtpSink::start(0.0, &[]).expect("python3 runs the SMTP sink (pip install aiosmtpd)")
}

/// The server's settings for sending through `smtp`.
pub(super) fn notify(smtp: &SmtpSink) -> NotifySettings {
    NotifySettings {
        smtp_url: Some(smtp.url()),
        poll_secs: 1,
        // Whatever the hour in Moscow when the test runs.
        quiet_start: "00:00".into(),
        quiet_end: "00:00".into(),
        ..NotifySettings::default()
    }
}

/// Waits for a message to exactly `to` that `pick` accepts.
pub(super) async fn wait_for_mail(
    smtp: &SmtpSink,
    to: &str,
    pick: impl Fn(&ReceivedMail) -> bool,
) -> ReceivedMail {
    smtp.wait_for(to, MAIL_WAIT, pick)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"))
}

#[tokio::test]
async fn a_customer_signs_up_with_the_code_from_their_mail_in_chromium() {
    let smtp = smtp_sink();
    let server = TestServer::spawn_with_notify(notify(&smtp)).await;
    let merchant = server.merchant("Ромашка").await;
    server.store(merchant.id, "Тверская", "Europe/Moscow").await;
    let mut browser = Browser::start("a_customer_signs_up_with_a_code").await;

    browser
        .open(&format!("{}/join/{}", server.base, merchant.id))
        .await;
    browser.type_into("#join-name", "Анна").await;
    browser.type_into("#join-email", "anna@example.com").await;
    browser.click("input[name=consent]").await;
    browser.click("input[name=marketing_email]").await;
    browser.click_button("Получить карту").await;
    browser.wait_for_text("h1", "Подтвердите адрес").await;
    assert_eq!(
        server.count_rows("SELECT count(*) FROM customers"),
        0,
        "no customer before the code"
    );

    let mail = wait_for_mail(&smtp, "anna@example.com", |m| m.code().is_some()).await;
    let code = mail.code().expect("a code");
    browser.type_into("#join-code", "999999x").await;
    browser.click_button("Подтвердить").await;
    browser.wait_for_text("p", "Код не подходит").await;
    browser.type_into("#join-code", &code).await;
    browser.click_button("Подтвердить").await;
    browser.wait_for_text("h1", "Здравствуйте, Анна!").await;
    let page = browser.url().await;
    browser
        .ensure(page.contains("/c/"), format!("on the new page: {page}"))
        .await;
    assert_eq!(
        server.count_rows(
            "SELECT count(*) FROM marketing_consents c JOIN customers u ON u.id = c.customer_id
             WHERE u.email = 'anna@example.com' AND c.channel = 'email'
               AND c.confirmed_at IS NOT NULL AND c.withdrawn_at IS NULL
               AND c.wording LIKE '%e-mail%'"
        ),
        1,
        "the e-mail consent, with its wording, confirmed by the code"
    );
    browser.close().await;
}

/// Signs up over HTTP with the code from the mail; the customer's id.
async fn sign_up(server: &TestServer, smtp: &SmtpSink, merchant: i64, email: &str) -> CustomerId {
    let http = no_redirects();
    let reply = http
        .post(format!("{}/join/{merchant}", server.base))
        .form(&[
            ("name", "Покупатель"),
            ("email", email),
            ("consent", "on"),
            ("marketing_email", "on"),
        ])
        .send()
        .await
        .expect("sign up");
    assert_eq!(reply.status(), StatusCode::SEE_OTHER);
    let confirm = location(&reply);
    let code = wait_for_mail(smtp, email, |m| m.code().is_some())
        .await
        .code()
        .expect("code");
    let reply = http
        .post(format!("{}{confirm}", server.base))
        .form(&[("code", code.as_str())])
        .send()
        .await
        .expect("confirm");
    assert_eq!(reply.status(), StatusCode::SEE_OTHER);
    assert!(location(&reply).starts_with("/c/"));
    let id = server.count_rows(&format!("SELECT id FROM customers WHERE email = '{email}'"));
    CustomerId::new(id).expect("an id")
}

#[tokio::test]
async fn hq_sees_a_campaign_sent_clicked_and_the_purchase_that_followed() {
    let smtp = smtp_sink();
    let server = TestServer::spawn_with_notify(notify(&smtp)).await;
    let (merchant, _, mut till) = merchant_with_till(&server, 41).await;
    server.publish(merchant.id, ruleset()).await;
    let buyer = sign_up(&server, &smtp, merchant.id.get(), "buyer@example.com").await;
    sign_up(&server, &smtp, merchant.id.get(), "reader@example.com").await;

    let mut rules = ruleset();
    let mut milk = promotion("milk");
    milk["description"] = "Всю неделю".into();
    milk["starts_at"] = (chrono::Utc::now() + chrono::TimeDelta::seconds(1))
        .to_rfc3339()
        .into();
    rules["promotions"] = serde_json::json!([milk]);
    assert_eq!(
        server.publish(merchant.id, rules).await.0,
        StatusCode::CREATED
    );
    let mail = wait_for_mail(&smtp, "buyer@example.com", |m| m.subject == "Milk -10%").await;
    wait_for_mail(&smtp, "reader@example.com", |m| m.subject == "Milk -10%").await;
    assert!(mail.html.contains("Всю неделю") && mail.text.contains("Всю неделю"));
    assert_eq!(mail.list_unsubscribe_post, "List-Unsubscribe=One-Click");

    // The buyer follows the tracked link, opens their card, and buys with
    // the promotion.
    let unsubscribe = mail
        .list_unsubscribe
        .trim_matches(|c| c == '<' || c == '>')
        .to_owned();
    let link = unsubscribe.trim_end_matches("/unsubscribe").to_owned();
    let opened = reqwest::get(&link).await.expect("open");
    assert_eq!(opened.status(), StatusCode::OK);
    let offer = opened.text().await.expect("page");
    assert!(offer.contains("Milk -10%") && offer.contains("Всю неделю"));
    let card = no_redirects()
        .post(format!("{link}/card"))
        .send()
        .await
        .expect("card");
    assert_eq!(card.status(), StatusCode::SEE_OTHER);
    // A forwarded message opens no one's card: the way there is a code
    // sent to the customer's own address.
    assert_eq!(
        card.headers()[LOCATION].to_str().unwrap(),
        format!("/join/{}/recover", merchant.id)
    );
    let (sale, _) = till.record(
        Purchase::sale(10_000)
            .by(buyer)
            .discounted(1_000, "milk", None),
    );
    assert_eq!(till.upload(&[sale]).await.0, StatusCode::OK);

    let hq = Hq::sign_in(&server).await;
    let (status, page) = hq
        .get(&format!("/hq/merchants/{}/campaigns", merchant.id))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let figure = |name: &str| -> String {
        let marker = format!("data-figure=\"{name}\">");
        let at = page
            .find(&marker)
            .unwrap_or_else(|| panic!("{name} in {page}"))
            + marker.len();
        page[at..].split('<').next().unwrap_or_default().to_owned()
    };
    assert_eq!(figure("planned"), "2");
    assert_eq!(figure("sent"), "2");
    assert_eq!(figure("failed"), "0");
    assert_eq!(figure("clicked"), "1");
    assert_eq!(figure("purchases"), "1");

    // The unsubscribe page asks; its button (or a mail client) posts.
    let (status, ask) = hq.get(&unsubscribe.replace(&server.base, "")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ask.contains("Отписаться?"));
    let done = reqwest::Client::new()
        .post(&unsubscribe)
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .expect("unsubscribe");
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.unwrap().contains("Вы отписаны"));
    assert_eq!(
        server.count_rows(&format!(
            "SELECT count(*) FROM marketing_consents
             WHERE customer_id = {buyer} AND withdrawn_at IS NOT NULL"
        )),
        1
    );
    let unknown = reqwest::Client::new()
        .post(format!("{}/m/{}/unsubscribe", server.base, "x".repeat(43)))
        .send()
        .await
        .expect("unknown");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_campaign_mail_carries_the_promotions_picture_inline_and_its_rich_description() {
    let smtp = smtp_sink();
    let server = TestServer::spawn_with_notify(notify(&smtp)).await;
    let (merchant, _, _) = merchant_with_till(&server, 42).await;
    server.publish(merchant.id, ruleset()).await;
    sign_up(&server, &smtp, merchant.id.get(), "reader@example.com").await;
    sign_up(&server, &smtp, merchant.id.get(), "second@example.com").await;

    // The promotion is in the rules an hour ahead, so the merchant can
    // give it a picture and a description before it starts.
    let mut rules = ruleset();
    let mut milk = promotion("milk");
    milk["description"] = "Всю неделю".into();
    milk["starts_at"] = (chrono::Utc::now() + chrono::TimeDelta::hours(1))
        .to_rfc3339()
        .into();
    rules["promotions"] = serde_json::json!([milk]);
    assert_eq!(
        server.publish(merchant.id, rules.clone()).await.0,
        StatusCode::CREATED
    );
    let uploaded = server
        .http
        .post(format!(
            "{}/api/v1/admin/merchants/{}/media",
            server.base, merchant.id
        ))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .body(crate::content::picture(1200, 800, image::ImageFormat::Jpeg))
        .send()
        .await
        .expect("upload");
    assert_eq!(uploaded.status(), StatusCode::CREATED);
    let uploaded: serde_json::Value = uploaded.json().await.expect("json");
    let hash = uploaded["hash"].as_str().expect("a hash").to_owned();
    let _: serde_json::Value = server
        .admin_ok(
            reqwest::Method::PUT,
            &format!(
                "/api/v1/admin/merchants/{}/promotions/milk/content",
                merchant.id
            ),
            Some(serde_json::json!({
                "picture": hash,
                "description": "**Свежее** молоко, <b>всю</b> неделю",
            })),
        )
        .await;
    // Now it starts.
    rules["promotions"][0]["starts_at"] = (chrono::Utc::now() + chrono::TimeDelta::seconds(1))
        .to_rfc3339()
        .into();
    assert_eq!(
        server.publish(merchant.id, rules).await.0,
        StatusCode::CREATED
    );

    let mail = wait_for_mail(&smtp, "reader@example.com", |m| m.subject == "Milk -10%").await;
    // The picture travels inside the mail: the thumbnail the phone page
    // shows, named by the HTML part.
    let thumbnail = reqwest::get(format!("{}/media/{hash}/thumbnail", server.base))
        .await
        .expect("thumbnail")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(mail.images.len(), 1, "{mail:?}");
    let picture = &mail.images[0];
    assert_eq!(picture.content_type, "image/jpeg");
    assert_eq!(picture.disposition, "inline");
    assert_eq!(
        picture.sha256,
        shared::crypto::sha256(&thumbnail).to_string()
    );
    assert!(
        mail.html
            .contains(&format!("<img src=\"cid:{}\"", picture.content_id)),
        "{}",
        mail.html
    );
    // The description as the merchant typed it: rendered and made safe
    // in HTML, as typed in plain text.
    assert!(
        mail.html
            .contains("<strong>Свежее</strong> молоко, &lt;b&gt;всю&lt;/b&gt; неделю"),
        "{}",
        mail.html
    );
    assert!(
        mail.text.contains("**Свежее** молоко, <b>всю</b> неделю"),
        "{}",
        mail.text
    );
    // The second reader's mail carries the same picture (the round read it
    // once for both).
    let second = wait_for_mail(&smtp, "second@example.com", |m| m.subject == "Milk -10%").await;
    assert_eq!(second.images.len(), 1, "{second:?}");
    assert_eq!(second.images[0].sha256, picture.sha256);
}

#[tokio::test]
async fn without_a_channel_sign_up_needs_no_code_and_consent_stays_unconfirmed() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Ромашка").await;
    let reply = no_redirects()
        .post(format!("{}/join/{}", server.base, merchant.id))
        .form(&[
            ("name", "Борис"),
            ("email", "boris@example.com"),
            ("consent", "on"),
            ("marketing_email", "on"),
        ])
        .send()
        .await
        .expect("sign up");
    assert_eq!(reply.status(), StatusCode::SEE_OTHER);
    assert!(location(&reply).starts_with("/c/"));
    assert_eq!(
        server.count_rows(
            "SELECT count(*) FROM marketing_consents
             WHERE channel = 'email' AND confirmed_at IS NULL"
        ),
        1,
        "kept, but nothing is sent on an unconfirmed address"
    );
}

#[tokio::test]
async fn a_lost_link_comes_back_with_a_code_and_the_old_one_retires() {
    let smtp = smtp_sink();
    let server = TestServer::spawn_with_notify(notify(&smtp)).await;
    let merchant = server.merchant("Ромашка").await;
    let http = no_redirects();
    // Signs up; the first page link.
    let reply = http
        .post(format!("{}/join/{}", server.base, merchant.id))
        .form(&[
            ("name", "Вера"),
            ("email", "vera@example.com"),
            ("consent", "on"),
        ])
        .send()
        .await
        .expect("sign up");
    let confirm = location(&reply);
    let first_code = wait_for_mail(&smtp, "vera@example.com", |m| m.code().is_some())
        .await
        .code()
        .expect("code");
    let reply = http
        .post(format!("{}{confirm}", server.base))
        .form(&[("code", first_code.as_str())])
        .send()
        .await
        .expect("confirm");
    let old_link = location(&reply);
    assert!(old_link.starts_with("/c/"));

    // The link is lost: the recovery form sends a new code.
    let recover = format!("{}/join/{}/recover", server.base, merchant.id);
    let reply = http
        .post(&recover)
        .form(&[("contact", "Vera@Example.com")])
        .send()
        .await
        .expect("recover");
    assert_eq!(reply.status(), StatusCode::SEE_OTHER);
    let code_page = location(&reply);
    let code = wait_for_mail(&smtp, "vera@example.com", |m| {
        m.code().is_some_and(|c| c != first_code)
    })
    .await
    .code()
    .expect("a second code");
    let wrong = http
        .post(format!("{}{code_page}", server.base))
        .form(&[("code", "x")])
        .send()
        .await
        .expect("wrong");
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let reply = http
        .post(format!("{}{code_page}", server.base))
        .form(&[("code", code.as_str())])
        .send()
        .await
        .expect("code");
    assert_eq!(reply.status(), StatusCode::SEE_OTHER);
    let new_link = location(&reply);
    assert!(new_link.starts_with("/c/") && new_link != old_link);
    let page = |path: String| {
        let url = format!("{}{path}", server.base);
        async move { reqwest::get(url).await.expect("page").status() }
    };
    assert_eq!(page(new_link).await, StatusCode::OK);
    assert_eq!(
        page(old_link).await,
        StatusCode::NOT_FOUND,
        "the old link retired"
    );
    // The code works once.
    let again = http
        .post(format!("{}{code_page}", server.base))
        .form(&[("code", code.as_str())])
        .send()
        .await
        .expect("again");
    assert_eq!(again.status(), StatusCode::NOT_FOUND);

    // An address nobody registered looks the same from outside, sends
    // nothing, and no code opens anything.
    let before = smtp.messages().expect("messages").len();
    let reply = http
        .post(&recover)
        .form(&[("contact", "nobody@example.com")])
        .send()
        .await
        .expect("recover unknown");
    assert_eq!(reply.status(), StatusCode::SEE_OTHER);
    let unknown_page = location(&reply);
    let guess = http
        .post(format!("{}{unknown_page}", server.base))
        .form(&[("code", "123456")])
        .send()
        .await
        .expect("guess");
    assert_eq!(guess.status(), StatusCode::UNPROCESSABLE_ENTITY);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        smtp.messages().expect("messages").len(),
        before,
        "nothing sent to an unknown address"
    );
}

#[tokio::test]
async fn a_campaign_for_a_segment_goes_only_to_the_customers_in_it() {
    let smtp = smtp_sink();
    let server = TestServer::spawn_with_notify(notify(&smtp)).await;
    let (merchant, _, mut till) = merchant_with_till(&server, 42).await;
    server.publish(merchant.id, ruleset()).await;
    let buyer = sign_up(&server, &smtp, merchant.id.get(), "new@example.com").await;
    sign_up(&server, &smtp, merchant.id.get(), "idle@example.com").await;
    // The buyer's first purchase, today: they are in `rfm:new`.
    let (sale, _) = till.record(Purchase::sale(10_000).by(buyer).made_at(chrono::Utc::now()));
    assert_eq!(till.upload(&[sale]).await.0, StatusCode::OK);
    let (status, body) = server
        .admin(
            reqwest::Method::POST,
            &format!("/api/v1/admin/merchants/{}/segments/refresh", merchant.id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["changed"], 1, "{body}");

    let mut rules = ruleset();
    let mut milk = promotion("milk-newcomers");
    milk["name"] = "Молоко новичкам".into();
    milk["conditions"] = serde_json::json!({"segment": {"tags": ["rfm:new"]}});
    milk["starts_at"] = (chrono::Utc::now() + chrono::TimeDelta::seconds(1))
        .to_rfc3339()
        .into();
    rules["promotions"] = serde_json::json!([milk]);
    assert_eq!(
        server.publish(merchant.id, rules).await.0,
        StatusCode::CREATED
    );
    wait_for_mail(&smtp, "new@example.com", |m| m.subject == "Молоко новичкам").await;
    let hq = Hq::sign_in(&server).await;
    let (status, page) = hq
        .get(&format!("/hq/merchants/{}/campaigns", merchant.id))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("data-figure=\"planned\">1<"),
        "one message planned, to the segment's customer only: {page}"
    );
    assert!(
        !smtp.messages().expect("messages").iter().any(|m| m
            .to
            .iter()
            .any(|t| t == "idle@example.com")
            && m.subject == "Молоко новичкам"),
        "the customer outside the segment got the campaign"
    );
}
