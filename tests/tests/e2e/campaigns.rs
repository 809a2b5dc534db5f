//! Campaigns end to end: the real `sync-server` binary, a real SMTP server
//! (aiosmtpd) and a recording HTTP SMS gateway. Customers sign up on
//! `/join` with the one-time code each got by e-mail or SMS; a promotion
//! whose publication starts a few seconds ahead goes out at the start to
//! exactly the consenting customers outside quiet hours; the server is
//! SIGKILLed mid-campaign and restarted without sending anyone twice; a
//! hard bounce is suppressed; and the unsubscribe link of a received
//! e-mail, posted as a mail client does (RFC 8058), stops the next campaign.

use std::time::Duration;

use chrono::{TimeDelta, Timelike as _, Utc};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use shared::ids::{MerchantId, PromotionId};
use shared::ruleset::Promotion;
use system_tests::harness::{ServerProcess, free_port};
use system_tests::scenario;
use test_kit::mail::{SmsGatewayProcess, SmtpSink};
use test_kit::poll::Deadline;

const WAIT: Duration = Duration::from_secs(40);

/// An `Etc/GMT…` zone whose local hour is `hour` now.
fn zone_at_local_hour(hour: u32) -> String {
    let utc = i64::from(Utc::now().hour());
    let offset = (i64::from(hour) - utc + 36).rem_euclid(24) - 12;
    // `Etc/GMT-3` is three hours *ahead* of UTC.
    match offset {
        0 => "Etc/GMT".to_owned(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn until<T>(
    what: &str,
    mut probe: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let deadline = Deadline::after(WAIT);
    loop {
        if let Some(found) = probe()? {
            return Ok(found);
        }
        deadline
            .tick(|| format!("timed out waiting for {what}"))
            .await?;
    }
}

/// Someone signing up.
struct Person<'a> {
    name: &'a str,
    email: Option<&'a str>,
    phone: Option<&'a str>,
    marketing_email: bool,
    marketing_sms: bool,
}

/// Signs up on `/join` like a browser would, typing the code that came by
/// e-mail (or SMS); the customer's page path.
async fn sign_up(
    base: &str,
    merchant: MerchantId,
    who: &Person<'_>,
    smtp: &SmtpSink,
    sms: &SmsGatewayProcess,
) -> anyhow::Result<String> {
    let http = no_redirects();
    let mut form = vec![("name", who.name), ("consent", "on")];
    if let Some(e) = who.email {
        form.push(("email", e));
    }
    if let Some(p) = who.phone {
        form.push(("phone", p));
    }
    if who.marketing_email {
        form.push(("marketing_email", "on"));
    }
    if who.marketing_sms {
        form.push(("marketing_sms", "on"));
    }
    let reply = http
        .post(format!("{base}/join/{merchant}"))
        .form(&form)
        .send()
        .await?;
    anyhow::ensure!(
        reply.status() == StatusCode::SEE_OTHER,
        "{}",
        reply.text().await?
    );
    let confirm = reply.headers()[LOCATION].to_str()?.to_owned();
    anyhow::ensure!(
        confirm.starts_with(&format!("/join/{merchant}/confirm/")),
        "{confirm}"
    );
    let code = match who.email {
        Some(email) => {
            until("the code by e-mail", || {
                Ok(smtp.to(email)?.iter().find_map(|m| m.code()))
            })
            .await?
        }
        None => {
            let phone = who
                .phone
                .expect("a phone")
                .trim_start_matches('+')
                .to_owned();
            until("the code by SMS", || {
                Ok(sms.requests()?.iter().find_map(|r| {
                    // SMS.ru's form says `msg`, the template here `text`.
                    (r.field("to").trim_start_matches('+') == phone)
                        .then(|| r.field("msg") + &r.field("text"))
                        .and_then(|t| {
                            t.split(|c: char| !c.is_ascii_digit())
                                .find(|w| w.len() == 6)
                                .map(str::to_owned)
                        })
                }))
            })
            .await?
        }
    };
    let wrong = http
        .post(format!("{base}{confirm}"))
        .form(&[("code", "000000x")])
        .send()
        .await?;
    assert_eq!(
        wrong.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a wrong code is refused"
    );
    let reply = http
        .post(format!("{base}{confirm}"))
        .form(&[("code", code.as_str())])
        .send()
        .await?;
    anyhow::ensure!(
        reply.status() == StatusCode::SEE_OTHER,
        "{}",
        reply.text().await?
    );
    let page = reply.headers()[LOCATION].to_str()?.to_owned();
    anyhow::ensure!(page.starts_with("/c/"), "{page}");
    Ok(page)
}

fn promotion(id: &str, title: &str, starts_in: TimeDelta) -> Promotion {
    Promotion {
        id: PromotionId::parse(id).expect("id"),
        name: title.to_owned(),
        description: format!("{title}: всю неделю"),
        starts_at: Some(Utc::now() + starts_in),
        ..scenario::bread_promotion()
    }
}

/// The campaign messages (not sign-up codes) with this subject, by
/// recipient.
fn campaign_mail(smtp: &SmtpSink, subject: &str) -> anyhow::Result<Vec<String>> {
    let mut to: Vec<String> = smtp
        .messages()?
        .into_iter()
        .filter(|m| m.subject == subject)
        .flat_map(|m| m.to)
        .collect();
    to.sort();
    Ok(to)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_goes_out_once_at_the_start_survives_a_kill_and_honours_unsubscribe()
-> anyhow::Result<()> {
    // Each message is answered 0.4 s after it arrives, so the kill lands
    // while one is in flight.
    let smtp = SmtpSink::start(0.4, &["bounce@example.com"])?;
    let sms = SmsGatewayProcess::start(&[])?;
    let tmp = tempfile::tempdir()?;
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let smtp_url = smtp.url();
    let sms_url = sms.url();
    let env = [
        ("SYNC_SERVER__NOTIFY__SMTP_URL", smtp_url.as_str()),
        ("SYNC_SERVER__NOTIFY__POLL_SECS", "1"),
        ("SYNC_SERVER__NOTIFY__SMS__DRIVER", "sms_ru"),
        ("SYNC_SERVER__NOTIFY__SMS__URL", sms_url.as_str()),
        ("SYNC_SERVER__NOTIFY__SMS__API_ID", "test-api-id"),
        ("SYNC_SERVER__WEB__SIGN_UPS_PER_HOUR", "1000"),
    ];
    let mut server = ServerProcess::spawn_with(tmp.path(), listen, &env).await?;
    let base = server.url();
    let admin = server.admin();

    // Two merchants: one where it is early afternoon now, one where it is
    // three at night (inside the default quiet hours 21:00–09:00).
    let day = admin.merchant("Дневной").await?;
    let night = admin.merchant("Ночной").await?;
    for (m, hour) in [(&day, 13), (&night, 3)] {
        admin
            .store(
                m.id,
                &sync_server::wire::admin::NewStore {
                    brand_id: None,
                    name: "Магазин".into(),
                    timezone: zone_at_local_hour(hour).parse()?,
                },
            )
            .await?;
        admin.publish(m.id, &scenario::programme()).await?;
    }

    let subscribers: Vec<String> = (1..=6).map(|i| format!("reader{i}@example.com")).collect();
    for (i, email) in subscribers.iter().enumerate() {
        let name = format!("Читатель {i}");
        sign_up(
            &base,
            day.id,
            &Person {
                name: &name,
                email: Some(email),
                phone: None,
                marketing_email: true,
                marketing_sms: false,
            },
            &smtp,
            &sms,
        )
        .await?;
    }
    // Signed up, but said no to offers.
    sign_up(
        &base,
        day.id,
        &Person {
            name: "Без рассылок",
            email: Some("quiet@example.com"),
            phone: None,
            marketing_email: false,
            marketing_sms: false,
        },
        &smtp,
        &sms,
    )
    .await?;
    // SMS only: the code came by SMS, which confirms the number.
    sign_up(
        &base,
        day.id,
        &Person {
            name: "По SMS",
            email: None,
            phone: Some("+79160000077"),
            marketing_email: false,
            marketing_sms: true,
        },
        &smtp,
        &sms,
    )
    .await?;
    // In the night merchant's zone: quiet hours.
    sign_up(
        &base,
        night.id,
        &Person {
            name: "Сова",
            email: Some("owl@example.com"),
            phone: None,
            marketing_email: true,
            marketing_sms: false,
        },
        &smtp,
        &sms,
    )
    .await?;

    // A bounce: the relay refuses the address at RCPT, so no code can reach
    // it and the sign-up is refused on the page.
    let refused = no_redirects()
        .post(format!("{base}/join/{}", day.id))
        .form(&[
            ("name", "Опечатка"),
            ("email", "bounce@example.com"),
            ("consent", "on"),
            ("marketing_email", "on"),
        ])
        .send()
        .await?;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The last reader's mailbox is deleted after sign-up: a hard bounce.
    let gone = subscribers.last().expect("readers").clone();
    smtp.start_rejecting(&gone)?;

    // Publication starts in three seconds.
    let title = "Хлеб −20 % с сегодняшнего дня";
    admin
        .publish_promotion(
            day.id,
            &promotion("bread-week", title, TimeDelta::seconds(3)),
        )
        .await?;
    admin
        .publish_promotion(
            night.id,
            &promotion("night-bread", title, TimeDelta::seconds(3)),
        )
        .await?;
    assert!(
        campaign_mail(&smtp, title)?.is_empty(),
        "nothing before the start"
    );

    // Kill the server once two messages have arrived: the third is in
    // flight (the relay holds its answer).
    until("the campaign to begin", || {
        Ok((campaign_mail(&smtp, title)?.len() >= 2).then_some(()))
    })
    .await?;
    server.kill();
    let at_kill = campaign_mail(&smtp, title)?.len();
    assert!(
        at_kill < subscribers.len() - 1,
        "killed mid-campaign ({at_kill} sent)"
    );

    let mut server = ServerProcess::spawn_with(tmp.path(), listen, &env).await?;
    let mut expected: Vec<String> = subscribers
        .iter()
        .filter(|s| **s != gone)
        .cloned()
        .collect();
    expected.sort();
    until("every subscriber's message", || {
        let got = campaign_mail(&smtp, title)?;
        Ok(expected.iter().all(|e| got.contains(e)).then_some(()))
    })
    .await?;
    // A few more rounds of the task: nothing else goes out.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        campaign_mail(&smtp, title)?,
        expected,
        "exactly one message per consenting customer, none twice, none to the \
         one who said no or to the one in quiet hours"
    );
    let texts: Vec<_> = sms
        .requests()?
        .into_iter()
        .filter(|r| r.path == "/sms/send" && r.field("msg").starts_with(title))
        .collect();
    assert_eq!(texts.len(), 1, "one SMS: {texts:?}");
    assert_eq!(texts[0].field("to"), "79160000077");
    assert_eq!(texts[0].field("api_id"), "test-api-id");
    assert!(
        texts[0].field("msg").contains("/unsubscribe"),
        "an opt-out link"
    );

    // The received e-mail: title, text, a tracked link, and RFC 8058's
    // headers.
    let mail = smtp
        .to(&subscribers[0])?
        .into_iter()
        .find(|m| m.subject == title)
        .expect("a campaign message");
    assert!(mail.text.contains("всю неделю") && mail.html.contains("всю неделю"));
    assert_eq!(mail.list_unsubscribe_post, "List-Unsubscribe=One-Click");
    let unsubscribe = mail.unsubscribe_url().expect("List-Unsubscribe");
    assert!(unsubscribe.starts_with(&base), "{unsubscribe}");
    let link = unsubscribe.trim_end_matches("/unsubscribe").to_owned();
    assert!(mail.text.contains(&link));
    // The reader follows the tracked link.
    let opened = reqwest::get(&link).await?;
    assert_eq!(opened.status(), StatusCode::OK);

    // The mail client's one-click unsubscribe: a POST with no cookie.
    let done = reqwest::Client::new()
        .post(&unsubscribe)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await?;
    assert_eq!(done.status(), StatusCode::OK);

    // The next campaign reaches everyone else, not them.
    let next = "Молоко −10 %";
    admin
        .publish_promotion(day.id, &promotion("milk-week", next, TimeDelta::seconds(1)))
        .await?;
    let others: Vec<String> = expected[1..].to_vec();
    until("the next campaign", || {
        let got = campaign_mail(&smtp, next)?;
        Ok(others.iter().all(|e| got.contains(e)).then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        campaign_mail(&smtp, next)?,
        others,
        "the unsubscribed reader got nothing"
    );

    // The bounced address was tried once, in the first campaign, and never
    // again.
    let bounce_refusals = smtp.rejected()?.iter().filter(|a| **a == gone).count();
    assert_eq!(bounce_refusals, 1, "a hard bounce stops further sends");

    // The night merchant's customer still waits for the morning.
    assert!(
        smtp.to("owl@example.com")?
            .iter()
            .all(|m| m.subject != title)
    );
    server.kill();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_templated_sms_gateway_carries_codes_and_campaigns_and_an_invalid_number_or_the_opt_out_link_stops_sends()
-> anyhow::Result<()> {
    let smtp = SmtpSink::start(0.0, &[])?;
    let sms = SmsGatewayProcess::start(&[])?;
    let tmp = tempfile::tempdir()?;
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let send_url = format!("{}/send", sms.url());
    let env = [
        ("SYNC_SERVER__NOTIFY__POLL_SECS", "1"),
        ("SYNC_SERVER__NOTIFY__SMS__DRIVER", "template"),
        ("SYNC_SERVER__NOTIFY__SMS__URL", send_url.as_str()),
        ("SYNC_SERVER__NOTIFY__SMS__BODY", "to={to}&text={text}"),
        (
            "SYNC_SERVER__NOTIFY__SMS__CONTENT_TYPE",
            "application/x-www-form-urlencoded",
        ),
        ("SYNC_SERVER__NOTIFY__QUIET_START", "00:00"),
        ("SYNC_SERVER__NOTIFY__QUIET_END", "00:00"),
    ];
    let server = ServerProcess::spawn_with(tmp.path(), listen, &env).await?;
    let base = server.url();
    let admin = server.admin();
    let shop = admin.merchant("Смс").await?;
    admin.publish(shop.id, &scenario::programme()).await?;
    let (kept, lost) = ("+79160000101", "+79160000102");
    for (name, phone) in [("Первый", kept), ("Второй", lost)] {
        sign_up(
            &base,
            shop.id,
            &Person {
                name,
                email: None,
                phone: Some(phone),
                marketing_email: false,
                marketing_sms: true,
            },
            &smtp,
            &sms,
        )
        .await?;
    }
    // The second number is given up after sign-up: the gateway now calls it
    // invalid (400).
    sms.start_refusing(lost)?;
    let to_of = |title: &str| -> anyhow::Result<Vec<String>> {
        let mut to: Vec<String> = sms
            .requests()?
            .into_iter()
            .filter(|r| r.path == "/send" && r.field("text").starts_with(title))
            .map(|r| r.field("to"))
            .collect();
        to.sort();
        Ok(to)
    };
    for (id, title) in [
        ("first-sms", "Первая акция"),
        ("second-sms", "Вторая акция"),
    ] {
        admin
            .publish_promotion(shop.id, &promotion(id, title, TimeDelta::seconds(1)))
            .await?;
        until("the SMS to the kept number", || {
            Ok(to_of(title)?.contains(&kept.to_owned()).then_some(()))
        })
        .await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert_eq!(
        to_of("Первая акция")?,
        vec![kept.to_owned(), lost.to_owned()],
        "the first campaign tried both, the invalid number once"
    );
    assert_eq!(
        to_of("Вторая акция")?,
        vec![kept.to_owned()],
        "an invalid number gets nothing more"
    );
    let text = sms
        .requests()?
        .into_iter()
        .find(|r| r.field("text").starts_with("Вторая акция"))
        .map(|r| r.field("text"))
        .unwrap_or_default();
    assert!(
        text.contains(&format!("{base}/m/")) && text.contains("Отписаться: "),
        "{text}"
    );

    // The kept number's owner follows the SMS's opt-out link on the phone:
    // the page asks, its button posts; the next campaign sends them nothing.
    let stop = text
        .split("Отписаться: ")
        .nth(1)
        .map(|rest| {
            rest.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .unwrap_or_default();
    let page = reqwest::get(&stop).await?;
    assert_eq!(page.status(), reqwest::StatusCode::OK, "{stop}");
    let page = page.text().await?;
    assert!(page.contains("method=\"post\""), "{page}");
    let done = reqwest::Client::new().post(&stop).send().await?;
    assert_eq!(done.status(), reqwest::StatusCode::OK);
    let newcomer = "+79160000103";
    sign_up(
        &base,
        shop.id,
        &Person {
            name: "Третий",
            email: None,
            phone: Some(newcomer),
            marketing_email: false,
            marketing_sms: true,
        },
        &smtp,
        &sms,
    )
    .await?;
    admin
        .publish_promotion(
            shop.id,
            &promotion("third-sms", "Третья акция", TimeDelta::seconds(1)),
        )
        .await?;
    until("the SMS to the newcomer", || {
        Ok(to_of("Третья акция")?
            .contains(&newcomer.to_owned())
            .then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        to_of("Третья акция")?,
        vec![newcomer.to_owned()],
        "the number that opted out gets nothing more"
    );
    Ok(())
}
