//! The programme page (`/hq/merchants/{id}/programme`) over real HTTP: the
//! form is read off the page as a browser would send it, changed or not,
//! and posted back; what is published is read back through the admin API.
//! A save publishes one version with the promotions and every field the
//! form does not show untouched; an unchanged save publishes nothing; a
//! refused field comes back beside its message with what was typed.

use reqwest::{Method, StatusCode};
use shared::ids::MerchantId;
use shared::ruleset::Ruleset;
use sync_server::wire::admin::AuditView;

use super::chrome::Browser;
use super::{Hq, attribute, location};
use crate::access::{PASSWORD, invite, sign_in_with};
use crate::helpers::TestServer;

/// The samples the page offers, by the form's value.
const SAMPLES: [&str; 3] = ["grocery", "cafe", "clothing"];

/// `text` with the HTML escapes askama writes undone.
fn unescape(text: &str) -> String {
    text.replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// What a browser sends for the form `form_id` as the page shows it:
/// every input with its value, boxes and radio buttons only when checked,
/// and every text area with its text.
pub fn sent_as_shown(html: &str, form_id: &str) -> Vec<(String, String)> {
    let start = html
        .find(&format!("id=\"{form_id}\""))
        .unwrap_or_else(|| panic!("no form {form_id} on the page"));
    let end = start + html[start..].find("</form>").expect("the form ends");
    let form = &html[start..end];
    let mut fields = Vec::new();
    for (at, _) in form.match_indices("<input") {
        let tag = &form[at..at + form[at..].find('>').expect("tag end")];
        let Some(name) = attribute(tag, "name") else {
            continue;
        };
        let kind = attribute(tag, "type").unwrap_or_else(|| "text".to_owned());
        let checked = tag.contains(" checked");
        if (kind == "checkbox" || kind == "radio") && !checked {
            continue;
        }
        let default = if kind == "checkbox" { "on" } else { "" };
        let value = attribute(tag, "value").unwrap_or_else(|| default.to_owned());
        fields.push((name, unescape(&value)));
    }
    for (at, _) in form.match_indices("<textarea") {
        let open_end = at + form[at..].find('>').expect("tag end");
        let Some(name) = attribute(&form[at..open_end], "name") else {
            continue;
        };
        let text_start = open_end + 1;
        let text_end = text_start + form[text_start..].find("</textarea>").expect("text end");
        // As a browser reads it: one newline right after the tag is dropped.
        let text = &form[text_start..text_end];
        let text = text.strip_prefix('\n').unwrap_or(text);
        fields.push((name, unescape(text)));
    }
    fields
}

/// Sets `name` to `value` in `fields` (adding it if the page had none).
fn set(fields: &mut Vec<(String, String)>, name: &str, value: &str) {
    match fields.iter_mut().find(|(n, _)| n == name) {
        Some(field) => field.1 = value.to_owned(),
        None => fields.push((name.to_owned(), value.to_owned())),
    }
}

/// The merchant's current ruleset through the admin API: version and rules.
async fn current(server: &TestServer, merchant: MerchantId) -> (u64, Ruleset) {
    let (status, body) = server
        .admin(
            Method::GET,
            &format!("/api/v1/admin/merchants/{merchant}/ruleset"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["version"].as_u64().expect("a version"),
        serde_json::from_value(body["ruleset"].clone()).expect("a ruleset"),
    )
}

/// Whether the merchant has no rules yet.
async fn has_no_rules(server: &TestServer, merchant: MerchantId) -> bool {
    let (status, _) = server
        .admin(
            Method::GET,
            &format!("/api/v1/admin/merchants/{merchant}/ruleset"),
            None,
        )
        .await;
    status == StatusCode::NOT_FOUND
}

/// Posts `fields` as the programme form.
async fn post_form(
    hq: &Hq,
    merchant: MerchantId,
    fields: &[(String, String)],
) -> reqwest::Response {
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    hq.post_exactly(
        &format!("/hq/merchants/{merchant}/programme"),
        &pairs,
        super::Sender::Client,
    )
    .await
}

/// A merchant started from `sample` through the programme page's sample
/// form, which comes back to the programme page.
async fn started_from(server: &TestServer, hq: &Hq, sample: &str) -> MerchantId {
    let merchant = server.merchant(&format!("Образец {sample}")).await.id;
    let (status, page) = hq.get(&format!("/hq/merchants/{merchant}/programme")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("id=\"start\""),
        "a merchant without rules is offered a start"
    );
    let posted = hq
        .post(
            &format!("/hq/merchants/{merchant}/ruleset"),
            &[("sample", sample), ("then", "programme")],
        )
        .await;
    assert_eq!(posted.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&posted),
        format!("/hq/merchants/{merchant}/programme?published=1#programme")
    );
    merchant
}

#[tokio::test]
async fn every_sample_opens_in_the_form_and_saves_unchanged_without_a_new_version() {
    let server = TestServer::spawn().await;
    let hq = Hq::sign_in(&server).await;
    for sample in SAMPLES {
        let merchant = started_from(&server, &hq, sample).await;
        let (version, before) = current(&server, merchant).await;
        assert_eq!(version, 1, "{sample}");
        let (status, page) = hq.get(&format!("/hq/merchants/{merchant}/programme")).await;
        assert_eq!(status, StatusCode::OK, "{sample}");
        let fields = sent_as_shown(&page, "programme-form");
        assert!(
            fields
                .iter()
                .any(|(n, v)| n == "tier-0-name" && !v.is_empty()),
            "{sample}: the tiers are shown: {fields:?}"
        );

        let saved = post_form(&hq, merchant, &fields).await;
        assert_eq!(saved.status(), StatusCode::SEE_OTHER, "{sample}");
        assert_eq!(
            location(&saved),
            format!("/hq/merchants/{merchant}/programme?unchanged=1"),
            "{sample}"
        );
        assert_eq!(
            current(&server, merchant).await,
            (1, before),
            "{sample}: nothing published"
        );
        let (_, page) = hq.get(&location(&saved)).await;
        assert!(
            page.contains(
                "Ничего не изменилось: новая версия не опубликована, действует версия 1."
            ),
            "{sample}: the page says so"
        );
    }
}

#[tokio::test]
async fn a_saved_change_publishes_one_version_with_every_promotion_and_hidden_field_kept() {
    let server = TestServer::spawn().await;
    let hq = Hq::sign_in(&server).await;
    let merchant = started_from(&server, &hq, "grocery").await;
    let (_, before) = current(&server, merchant).await;
    let (_, page) = hq.get(&format!("/hq/merchants/{merchant}/programme")).await;
    let mut fields = sent_as_shown(&page, "programme-form");
    // The grocery sample has three tiers: row 3 is the blank one.
    set(&mut fields, "tier-3-name", "Платиновый");
    set(&mut fields, "tier-3-threshold", "100 000,50");
    set(&mut fields, "tier-3-discount", "7,5");
    set(&mut fields, "tier-1-remove", "on");
    set(&mut fields, "redeem_cap", "25 %");
    set(&mut fields, "redeem_offline_cap", "1 000");
    set(&mut fields, "expire_days", "");
    set(&mut fields, "welcome_bonus", "150");

    let saved = post_form(&hq, merchant, &fields).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&saved),
        format!("/hq/merchants/{merchant}/programme?published=2")
    );
    let (version, after) = current(&server, merchant).await;
    assert_eq!(version, 2, "one version");
    let names: Vec<&str> = after
        .programme
        .tiers
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["Базовый", "Золотой", "Платиновый"]);
    let added = &after.programme.tiers[2];
    assert_eq!(added.min_lifetime_spend.minor(), 10_000_050);
    assert_eq!(added.discount.get(), 750);
    let redemption = after.programme.redemption.expect("still on");
    assert_eq!(redemption.max_share.get(), 2_500);
    assert_eq!(redemption.offline_cap_points, Some(1_000));
    assert_eq!(after.programme.points_expire_days, None);
    assert_eq!(after.programme.welcome_bonus, Some(150));
    // Untouched: the promotions, the currency, and what the form does not show.
    assert_eq!(after.promotions, before.promotions);
    assert_eq!(after.currency, before.currency);
    assert_eq!(after.programme.earn, before.programme.earn);
    assert_eq!(after.programme.stacking, before.programme.stacking);
    assert_eq!(
        after.programme.referral_reward,
        before.programme.referral_reward
    );
    assert_eq!(
        after.programme.birthday_bonus,
        before.programme.birthday_bonus
    );
    assert_eq!(
        after.programme.points_pending_days,
        before.programme.points_pending_days
    );

    // The trail names it.
    let audit: Vec<AuditView> = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{merchant}/audit"),
            None,
        )
        .await;
    assert!(
        audit.iter().any(|e| e.action == "programme.publish"
            && e.before == "version 1"
            && e.after == "version 2"),
        "{audit:?}"
    );

    // Shown again, it saves unchanged.
    let (_, page) = hq
        .get(&format!("/hq/merchants/{merchant}/programme?published=2"))
        .await;
    assert!(page.contains("опубликована версия правил 2"));
    let fields = sent_as_shown(&page, "programme-form");
    let saved = post_form(&hq, merchant, &fields).await;
    assert_eq!(
        location(&saved),
        format!("/hq/merchants/{merchant}/programme?unchanged=1")
    );
    assert_eq!(current(&server, merchant).await.0, 2);
}

#[tokio::test]
async fn earning_is_set_up_in_the_form_published_and_switched_off() {
    let server = TestServer::spawn().await;
    let hq = Hq::sign_in(&server).await;
    let merchant = started_from(&server, &hq, "grocery").await;
    let (_, page) = hq.get(&format!("/hq/merchants/{merchant}/programme")).await;
    let mut fields = sent_as_shown(&page, "programme-form");
    assert!(
        fields.contains(&(
            "earn_excluded_categories".to_owned(),
            "tobacco, alcohol".to_owned()
        )),
        "the sample's exclusions are shown: {fields:?}"
    );
    set(&mut fields, "earn_points", "3");
    set(&mut fields, "earn_per", "150,50");
    set(&mut fields, "earn_excluded_skus", "4600001; 4600002");
    set(
        &mut fields,
        "earn_category_rates",
        "coffee: 2 за 100\r\nbread 1 за 10",
    );

    // A line not written as «категория: N за X» is refused, quoted, kept.
    let refused = post_form(&hq, merchant, &fields).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.expect("the page");
    assert!(
        page.contains("id=\"earn-category-rates-error\">строка «bread 1 за 10»"),
        "{page}"
    );
    let shown = sent_as_shown(&page, "programme-form");
    assert!(
        shown.contains(&(
            "earn_category_rates".to_owned(),
            "coffee: 2 за 100\r\nbread 1 за 10".to_owned()
        )),
        "{shown:?}"
    );
    assert_eq!(current(&server, merchant).await.0, 1, "nothing published");

    // Two rates for one category: the ruleset's fault, beside the field.
    set(
        &mut fields,
        "earn_category_rates",
        "coffee: 2 за 100\ncoffee: 1 за 10",
    );
    let refused = post_form(&hq, merchant, &fields).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.expect("the page");
    assert!(
        page.contains("id=\"earn-category-rates-error\">У одной категории две ставки"),
        "{page}"
    );

    set(
        &mut fields,
        "earn_category_rates",
        "coffee: 2 за 100\nbread: 1 за 10",
    );
    let saved = post_form(&hq, merchant, &fields).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let (version, after) = current(&server, merchant).await;
    assert_eq!(version, 2);
    let earn = after.programme.earn.expect("earning");
    assert_eq!((earn.points, earn.per.minor()), (3, 15_050));
    let skus: Vec<&str> = earn.excluded_skus.iter().map(|s| s.as_str()).collect();
    assert_eq!(skus, ["4600001", "4600002"]);
    let rates: Vec<(&str, i64, i64)> = earn
        .category_rates
        .iter()
        .map(|r| (r.category.as_str(), r.points, r.per.minor()))
        .collect();
    assert_eq!(rates, [("coffee", 2, 10_000), ("bread", 1, 1_000)]);

    // Shown again (the rates in their text area), it saves unchanged.
    let (_, page) = hq.get(&format!("/hq/merchants/{merchant}/programme")).await;
    let mut fields = sent_as_shown(&page, "programme-form");
    let saved = post_form(&hq, merchant, &fields).await;
    assert_eq!(
        location(&saved),
        format!("/hq/merchants/{merchant}/programme?unchanged=1")
    );

    // Unticked, purchases earn nothing.
    fields.retain(|(name, _)| name != "earn_on");
    let saved = post_form(&hq, merchant, &fields).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let (version, after) = current(&server, merchant).await;
    assert_eq!(version, 3);
    assert_eq!(after.programme.earn, None);
}

#[tokio::test]
async fn a_refused_field_comes_back_beside_its_message_with_what_was_typed() {
    let server = TestServer::spawn().await;
    let hq = Hq::sign_in(&server).await;
    let merchant = started_from(&server, &hq, "clothing").await;
    let (_, before) = current(&server, merchant).await;
    let (_, page) = hq.get(&format!("/hq/merchants/{merchant}/programme")).await;
    let mut fields = sent_as_shown(&page, "programme-form");
    set(&mut fields, "tier-3-name", "Золото+");
    set(&mut fields, "tier-3-threshold", "200 000");
    set(&mut fields, "tier-3-discount", "12");
    set(&mut fields, "redeem_cap", "150");

    let refused = post_form(&hq, merchant, &fields).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.expect("the page");
    assert!(
        page.contains(
            "<p class=\"field-error\" id=\"redeem-cap-error\">Введите долю чека в процентах: \
             больше 0 и не больше 100, например 30.</p>"
        ),
        "the message beside the field: {page}"
    );
    let shown = sent_as_shown(&page, "programme-form");
    for (name, typed) in [
        ("redeem_cap", "150"),
        ("tier-3-name", "Золото+"),
        ("tier-3-threshold", "200 000"),
    ] {
        assert!(
            shown.iter().any(|(n, v)| n == name && v == typed),
            "{name} keeps «{typed}»: {shown:?}"
        );
    }
    assert_eq!(
        page.matches("class=\"field-error\"").count(),
        1,
        "only that field"
    );

    // A rule across fields, the ruleset's own: expiry before points are available.
    set(&mut fields, "redeem_cap", "20");
    set(&mut fields, "expire_days", "10");
    let refused = post_form(&hq, merchant, &fields).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.expect("the page");
    assert!(
        page.contains("id=\"expire-days-error\">Баллы сгорели бы раньше, чем станут доступны"),
        "{page}"
    );
    assert_eq!(
        current(&server, merchant).await,
        (1, before),
        "nothing published"
    );
}

#[tokio::test]
async fn a_merchant_without_rules_starts_from_an_empty_programme() {
    let server = TestServer::spawn().await;
    let hq = Hq::sign_in(&server).await;
    let merchant = server.merchant("С чистого листа").await.id;
    let (status, page) = hq.get(&format!("/hq/merchants/{merchant}/programme")).await;
    assert_eq!(status, StatusCode::OK);
    let mut fields = sent_as_shown(&page, "programme-form");
    assert!(
        fields
            .iter()
            .all(|(n, v)| n == "csrf" || n == "tier_basis" || n == "pending_days" || v.is_empty()),
        "{fields:?}"
    );
    set(&mut fields, "tier-0-name", "Все");
    set(&mut fields, "tier-0-threshold", "0");
    set(&mut fields, "tier-0-discount", "3");
    set(&mut fields, "welcome_bonus", "100");
    let saved = post_form(&hq, merchant, &fields).await;
    assert_eq!(
        location(&saved),
        format!("/hq/merchants/{merchant}/programme?published=1")
    );
    let (version, ruleset) = current(&server, merchant).await;
    assert_eq!(version, 1);
    assert!(ruleset.promotions.is_empty());
    assert_eq!(ruleset.programme.tiers.len(), 1);
    assert_eq!(ruleset.programme.tiers[0].discount.get(), 300);
    assert_eq!(ruleset.programme.welcome_bonus, Some(100));
    assert_eq!(
        ruleset.programme.redemption, None,
        "paying with points left off"
    );
}

#[tokio::test]
async fn a_merchant_that_does_not_exist_has_no_programme_page() {
    let server = TestServer::spawn().await;
    let hq = Hq::sign_in(&server).await;
    let merchant = server.merchant("Есть").await.id;
    let missing = merchant.get() + 1000;
    let (status, _) = hq.get(&format!("/hq/merchants/{missing}/programme")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let posted = hq
        .post(
            &format!("/hq/merchants/{missing}/programme"),
            &[("tier_basis", "lifetime")],
        )
        .await;
    assert_eq!(posted.status(), StatusCode::NOT_FOUND);
    assert!(has_no_rules(&server, merchant).await);
}

#[tokio::test]
async fn another_merchants_owner_is_refused_the_page_and_the_form() {
    let server = TestServer::spawn().await;
    let hq = Hq::sign_in(&server).await;
    let ours = started_from(&server, &hq, "cafe").await;
    let theirs = server.merchant("Чужой").await.id;
    let link = invite(&server, theirs, "owner@theirs.example", "owner", &[]).await;
    let set = super::no_redirects()
        .post(&link.link)
        .form(&[("password", PASSWORD), ("repeat", PASSWORD)])
        .send()
        .await
        .expect("set the password");
    assert_eq!(set.status(), StatusCode::SEE_OTHER);
    let session = sign_in_with(
        &server,
        &[("email", "owner@theirs.example"), ("password", PASSWORD)],
    )
    .await;
    let stranger = Hq {
        base: server.base.clone(),
        http: super::no_redirects(),
        cookie: session.cookie,
        csrf: session.csrf,
    };
    let (status, page) = stranger
        .get(&format!("/hq/merchants/{ours}/programme"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    let (_, own) = stranger
        .get(&format!("/hq/merchants/{theirs}/programme"))
        .await;
    let fields = sent_as_shown(&own, "programme-form");
    let posted = post_form(&stranger, ours, &fields).await;
    assert_eq!(posted.status(), StatusCode::FORBIDDEN);
    assert_eq!(current(&server, ours).await.0, 1, "nothing published");
}

/// A tablet held upright, in CSS pixels.
const TABLET: (u32, u32) = (768, 1024);

#[tokio::test]
async fn a_person_sets_up_the_programme_by_clicking_and_typing_in_chromium() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Ромашка").await.id;
    let link = invite(
        &server,
        merchant,
        "marketer@romashka.example",
        "marketer",
        &[],
    )
    .await;

    let mut browser = Browser::start("a_person_sets_up_the_programme").await;
    browser.open(&link.link).await;
    browser.type_into("#new-password", PASSWORD).await;
    browser.type_into("#repeat-password", PASSWORD).await;
    browser.click_button("Сохранить пароль").await;
    browser.wait_for_text("h1", "Вход в HQ").await;
    browser
        .type_into("#email", "marketer@romashka.example")
        .await;
    browser.type_into("#password", PASSWORD).await;
    browser.click_button("Войти").await;
    browser.wait_for_text("h1", "Продавцы").await;
    browser.click_link("Программа").await;
    browser
        .wait_for_text("h1", "Ромашка: программа лояльности")
        .await;

    // No rules yet: the grocery sample, then the programme in the form.
    browser
        .click_xpath(
            "//input[@name='sample'][@value='grocery']",
            "the grocery sample",
        )
        .await;
    browser.click_button("Начать с образца").await;
    browser
        .wait_for_text("p", "опубликована версия правил 1")
        .await;
    let (_, sample) = current(&server, merchant).await;

    // A tier «Золото» from 10 000 ₽ with 5 %, in the blank row after the
    // sample's three, earning at 2 points per 50 ₽ with lottery tickets
    // earning nothing, and a cap no check can have.
    let base_rate = browser.value_of("#earn-per").await;
    browser
        .ensure(
            base_rate == "100",
            format!("the sample's base rate is shown in roubles: «{base_rate}»"),
        )
        .await;
    browser.type_into("#earn-points", "2").await;
    browser.type_into("#earn-per", "50").await;
    browser
        .type_into("#earn-excluded-categories", "tobacco, alcohol, lottery")
        .await;
    browser.type_into("#tier-3-name", "Золото").await;
    browser.type_into("#tier-3-threshold", "10 000").await;
    browser.type_into("#tier-3-discount", "5").await;
    browser.type_into("#redeem-cap", "150").await;
    browser.click_button("Сохранить и опубликовать").await;
    let message = browser
        .wait_for_text("p", "Введите долю чека в процентах")
        .await;
    let beside = message.attr("id").await.ok().flatten().unwrap_or_default();
    browser
        .ensure(
            beside == "redeem-cap-error",
            format!("the message is the cap's: #{beside}"),
        )
        .await;
    let invalid = browser
        .wait_for("#redeem-cap")
        .await
        .attr("aria-invalid")
        .await
        .ok()
        .flatten();
    browser
        .ensure(invalid.as_deref() == Some("true"), "the cap is marked")
        .await;
    for (field, typed) in [
        ("#tier-3-name", "Золото"),
        ("#tier-3-threshold", "10 000"),
        ("#tier-3-discount", "5"),
        ("#redeem-cap", "150"),
        ("#earn-points", "2"),
        ("#earn-per", "50"),
        ("#earn-excluded-categories", "tobacco, alcohol, lottery"),
    ] {
        let value = browser.value_of(field).await;
        browser
            .ensure(
                value == typed,
                format!("{field} keeps «{typed}»: «{value}»"),
            )
            .await;
    }
    assert_eq!(current(&server, merchant).await.0, 1, "nothing published");

    // On a tablet the refused form fits the screen: nothing scrolls sideways.
    browser.resize(TABLET.0, TABLET.1).await;
    browser.shot("tablet").await;
    let (page, viewport) = browser.page_and_viewport_width().await;
    browser
        .ensure(
            page <= viewport,
            format!("the page is {page} px wide in a {viewport} px viewport"),
        )
        .await;

    browser.type_into("#redeem-cap", "30").await;
    browser.click_button("Сохранить и опубликовать").await;
    browser
        .wait_for_text("p", "опубликована версия правил 2")
        .await;
    // The set-up page, linked from here, fits the tablet too, and links back.
    browser.click_link("← К настройке").await;
    browser.wait_for_text("h1", "Ромашка: настройка").await;
    let (page, viewport) = browser.page_and_viewport_width().await;
    browser
        .ensure(
            page <= viewport,
            format!("the set-up page is {page} px wide in a {viewport} px viewport"),
        )
        .await;
    browser.click_link("Настроить программу в формах →").await;
    browser
        .wait_for_text("h1", "Ромашка: программа лояльности")
        .await;
    browser.close().await;

    let (version, ruleset) = current(&server, merchant).await;
    assert_eq!(version, 2);
    let gold = ruleset
        .programme
        .tiers
        .iter()
        .find(|t| t.name == "Золото")
        .expect("the tier is published");
    assert_eq!(gold.min_lifetime_spend.minor(), 1_000_000);
    assert_eq!(gold.discount.get(), 500);
    assert_eq!(
        ruleset.programme.redemption.map(|r| r.max_share.get()),
        Some(3_000)
    );
    assert_eq!(ruleset.programme.tiers.len(), 4);
    let earn = ruleset.programme.earn.expect("still earning");
    assert_eq!((earn.points, earn.per.minor()), (2, 5_000));
    let excluded: Vec<&str> = earn
        .excluded_categories
        .iter()
        .map(|c| c.as_str())
        .collect();
    assert_eq!(excluded, ["tobacco", "alcohol", "lottery"]);
    assert_eq!(
        earn.category_rates,
        sample
            .programme
            .earn
            .expect("the sample earns")
            .category_rates,
        "the rest of the rule as it was"
    );
    assert_eq!(
        ruleset.promotions, sample.promotions,
        "promotions untouched"
    );
}
