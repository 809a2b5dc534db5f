//! Reaching customers through a real SMTP server (Python's aiosmtpd,
//! `tests/scripts/smtp_sink.py`, started on a free port): sign-up with the
//! one-time code from the received mail (in Chromium, and over HTTP), the
//! campaign at a promotion's start, the tracked link, the purchases that
//! followed on HQ's campaigns page, and the unsubscribe pages.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde::Deserialize;
use shared::ids::CustomerId;
use sync_server::config::NotifySettings;

use super::chrome::Browser;
use super::{Hq, location, no_redirects};
use crate::helpers::{Purchase, TestServer, merchant_with_till, promotion, ruleset};

/// A message the SMTP server accepted, decoded by it.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Mail {
    to: Vec<String>,
    subject: String,
    list_unsubscribe: String,
    list_unsubscribe_post: String,
    text: String,
    html: String,
    #[serde(default)]
    images: Vec<MailImage>,
}

/// A picture carried in a received message.
#[derive(Debug, Clone, Deserialize)]
struct MailImage {
    content_type: String,
    content_id: String,
    disposition: String,
    sha256: String,
}

impl Mail {
    pub(super) fn code(&self) -> Option<String> {
        self.text
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .map(str::to_owned)
    }
}

/// A real SMTP server as a child process.
pub(super) struct SmtpSink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    pub(super) fn start() -> SmtpSink {
        let dir = tempfile::tempdir().expect("dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/scripts/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--port", &port.to_string(), "--dir"])
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the SMTP server (pip install aiosmtpd)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read");
        assert_eq!(line.trim(), "ready", "the SMTP server started");
        SmtpSink { child, port, dir }
    }

    pub(super) fn notify(&self) -> NotifySettings {
        NotifySettings {
            smtp_url: Some(format!("smtp://127.0.0.1:{}", self.port)),
            poll_secs: 1,
            // Whatever the hour in Moscow when the test runs.
            quiet_start: "00:00".into(),
            quiet_end: "00:00".into(),
            ..NotifySettings::default()
        }
    }

    fn messages(&self) -> Vec<Mail> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|x| x == "json")
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).expect("read")).expect("json"))
            .collect()
    }

    /// Waits for a message to `to` that `pick` accepts.
    pub(super) async fn wait_for(&self, to: &str, pick: impl Fn(&Mail) -> bool) -> Mail {
        for _ in 0..800 {
            if let Some(m) = self
                .messages()
                .into_iter()
                .find(|m| m.to.iter().any(|t| t == to) && pick(m))
            {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no message to {to}: {:?}", self.messages());
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_customer_signs_up_with_the_code_from_their_mail_in_chromium() {
    let smtp = SmtpSink::start();
    let server = TestServer::spawn_with_notify(smtp.notify()).await;
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

    let mail = smtp
        .wait_for("anna@example.com", |m| m.code().is_some())
        .await;
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
    let code = smtp
        .wait_for(email, |m| m.code().is_some())
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
    let smtp = SmtpSink::start();
    let server = TestServer::spawn_with_notify(smtp.notify()).await;
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
    let mail = smtp
        .wait_for("buyer@example.com", |m| m.subject == "Milk -10%")
        .await;
    smtp.wait_for("reader@example.com", |m| m.subject == "Milk -10%")
        .await;
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
    let smtp = SmtpSink::start();
    let server = TestServer::spawn_with_notify(smtp.notify()).await;
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

    let mail = smtp
        .wait_for("reader@example.com", |m| m.subject == "Milk -10%")
        .await;
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
    let second = smtp
        .wait_for("second@example.com", |m| m.subject == "Milk -10%")
        .await;
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
    let smtp = SmtpSink::start();
    let server = TestServer::spawn_with_notify(smtp.notify()).await;
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
    let first_code = smtp
        .wait_for("vera@example.com", |m| m.code().is_some())
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
    let code = smtp
        .wait_for("vera@example.com", |m| {
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
    let before = smtp.messages().len();
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
        smtp.messages().len(),
        before,
        "nothing sent to an unknown address"
    );
}

#[tokio::test]
async fn a_campaign_for_a_segment_goes_only_to_the_customers_in_it() {
    let smtp = SmtpSink::start();
    let server = TestServer::spawn_with_notify(smtp.notify()).await;
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
    smtp.wait_for("new@example.com", |m| m.subject == "Молоко новичкам")
        .await;
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
        !smtp
            .messages()
            .iter()
            .any(|m| m.to.iter().any(|t| t == "idle@example.com") && m.subject == "Молоко новичкам"),
        "the customer outside the segment got the campaign"
    );
}
