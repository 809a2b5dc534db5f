//! A referral end to end (issue 14, done when): the referrer's phone page
//! hands out a share link in a real Chromium; a friend follows it and signs
//! up with the one-time code the real SMTP server received; the friend's
//! phone shows their QR code, which a real till's scanner reads (the
//! screenshot decoded as an imager would, typed into the scanner's
//! pseudo-terminal); the till prices and commits the sale and uploads it;
//! nothing is credited while the friend's points are pending, and once the
//! server's clock passes the pending period both are credited the
//! programme's reward exactly once.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use chrono::{TimeDelta, Utc};
use shared::ids::{CustomerId, RulesetVersion};
use shared::ruleset::ReferralReward;
use shared::wire::till::TillEvent;
use sync_server::clock::ManualClock;
use sync_server::wire::admin::{AdjustmentKind, CustomerView, NewCustomer, NewStore};
use system_tests::clients::AdminClient;
use system_tests::events::EventStream;
use system_tests::scenario::{self, CATALOG};
use system_tests::system::{TestAgent, TestServer};
use test_kit::mail::SmtpSink;
use test_kit::poll::Deadline;

use crate::WAIT;
use crate::chrome::Browser;

/// The points of a customer's referral rewards.
fn referral_credits(v: &CustomerView) -> Vec<i64> {
    v.adjustments
        .iter()
        .filter(|a| a.kind == AdjustmentKind::Referral)
        .map(|a| a.points)
        .collect()
}

/// Waits until `done` holds of the customer's view (the rewards run on
/// their own task).
async fn wait_view(
    admin: &AdminClient,
    id: CustomerId,
    what: &str,
    done: impl Fn(&CustomerView) -> bool,
) -> anyhow::Result<CustomerView> {
    let deadline = Deadline::after(WAIT).every(Duration::from_millis(100));
    loop {
        let view = admin.customer_view(id).await?;
        if done(&view) {
            return Ok(view);
        }
        deadline.tick(|| format!("{what}: {view:?}")).await?;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_friend_signs_up_through_a_share_link_buys_at_a_real_till_and_both_are_credited_after_the_pending_period()
-> anyhow::Result<()> {
    let smtp = SmtpSink::start(0.0, &[])?;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let tmp = tempfile::tempdir()?;
    let notify = format!(
        "[notify]\nsmtp_url = {:?}\npoll_secs = 1\nquiet_start = \"00:00\"\nquiet_end = \"00:00\"\n",
        smtp.url()
    );
    let server = TestServer::start_with_clock(
        tmp.path(),
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        &notify,
        clock.clone(),
    )
    .await?;
    let admin = server.admin();
    let shop = admin.merchant("Ромашка").await?;
    let m = shop.id;
    let store = admin
        .store(
            m,
            &NewStore {
                brand_id: None,
                name: "У дома".into(),
                timezone: "Europe/Moscow".parse()?,
            },
        )
        .await?;
    let mut rules = scenario::programme();
    rules.programme.points_pending_days = 14;
    rules.programme.referral_reward = Some(ReferralReward {
        referrer_points: 300,
        friend_points: 150,
    });
    admin.publish(m, &rules).await?;
    let enrollment = admin.enrollment_token(store.id).await?;
    let mut agent =
        TestAgent::enroll(&server.url(), &enrollment.token, &tmp.path().join("till")).await?;
    agent.wait_ruleset(RulesetVersion::new(1)?, WAIT).await?;

    let anna = admin
        .customer(
            m,
            &NewCustomer {
                name: "Анна Петрова".into(),
                phone: Some(shared::identity::PhoneNumber::parse("+79161234567")?),
                email: Some(shared::identity::Email::parse("anna@example.com")?),
                gender: Default::default(),
                birth_date: None,
            },
        )
        .await?;
    let anna_page = admin.customer_link(anna.id).await?.url;

    // Anna's page hands out the offer's share link with her code.
    let mut browser = Browser::start("a_friend_signs_up_and_buys_at_a_real_till").await;
    browser.open(&anna_page).await;
    browser.wait_for_text("h2", "Пригласите друга").await;
    let offer = scenario::dairy_promotion().id;
    let share = browser
        .value_of(&format!("article[data-promotion='{offer}'] .share-link"))
        .await;
    browser
        .ensure(
            share.contains(&format!("/join/{m}?offer={offer}&ref=")),
            format!("the share link {share}"),
        )
        .await;

    // Boris follows it and signs up with the code he is mailed.
    browser.open(&share).await;
    browser.wait_for_text("p", "по приглашению друга").await;
    browser.type_into("#join-name", "Борис").await;
    browser.type_into("#join-phone", "+7 916 000-00-02").await;
    browser.type_into("#join-email", "boris@example.com").await;
    browser.click("input[name=consent]").await;
    browser.click_button("Получить карту").await;
    browser.wait_for_text("h1", "Подтвердите адрес").await;
    let code = {
        let deadline = Deadline::after(WAIT);
        loop {
            if let Some(code) = smtp
                .to("boris@example.com")?
                .iter()
                .find_map(test_kit::mail::ReceivedMail::code)
            {
                break code;
            }
            deadline
                .tick(|| "no code reached boris@example.com".into())
                .await?;
        }
    };
    browser.type_into("#join-code", &code).await;
    browser.click_button("Подтвердить").await;
    browser.wait_for_text("h1", "Здравствуйте, Борис!").await;

    // At the till: the cashier rings up the basket and scans Boris's
    // phone, whose screen Chromium shows.
    browser.resize(412, 915).await;
    browser.wait_for(".qr svg, .qr img").await;
    let screen = image::load_from_memory(&browser.screenshot().await)?;
    let scans = hardware::decode_qr_image(&screen, Duration::from_secs(10))
        .context("the phone's screenshot")?;
    let scanned = scans.first().context("a QR code on Boris's phone")?.clone();
    browser.close().await;
    let mut events = EventStream::connect(agent.till.base()).await?;
    let check = agent.till.open_with(None, &[(&CATALOG[5], 4)]).await?;
    agent.scanner().scan(&scanned)?;
    let boris = events
        .next_matching(WAIT, |ev| match ev {
            TillEvent::CustomerIdentified {
                customer, check_id, ..
            } if check_id == Some(check.id) => Some(customer.id),
            _ => None,
        })
        .await?;
    let sale = agent.till.commit(check.id).await?;
    ensure!(
        sale.pricing.points_earned > 0,
        "the sale earns points: {:?}",
        sale.pricing
    );
    agent.wait_synced(WAIT).await?;
    let view = admin.customer_view(boris).await?;
    ensure!(
        view.name == "Борис" && referral_credits(&view).is_empty(),
        "the sale is Boris's, nothing credited while pending: {view:?}"
    );
    ensure!(
        referral_credits(&admin.customer_view(anna.id).await?).is_empty(),
        "nothing for Anna while Boris's points are pending"
    );

    // Fifteen days on, on the server's clock: Boris's points cleared, and
    // both get the reward, once.
    clock.advance(TimeDelta::days(15));
    let anna_view = wait_view(&admin, anna.id, "Anna's reward", |v| {
        !referral_credits(v).is_empty()
    })
    .await?;
    let boris_view = wait_view(&admin, boris, "Boris's reward", |v| {
        !referral_credits(v).is_empty()
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let anna_view_later = admin.customer_view(anna.id).await?;
    ensure!(
        referral_credits(&anna_view) == vec![300]
            && referral_credits(&anna_view_later) == vec![300]
            && anna_view_later.points_balance == 300,
        "Anna is credited 300 once: {anna_view_later:?}"
    );
    ensure!(
        referral_credits(&boris_view) == vec![150]
            && boris_view.points_balance == sale.pricing.points_earned + 150,
        "Boris is credited 150 beside his {} points: {boris_view:?}",
        sale.pricing.points_earned
    );
    Ok(())
}
