//! The fleet's versions on the dashboard in a real Chromium: the owner
//! types a minimum agent version and clicks; text that is not a version is
//! refused beside the field and nothing changes; once set, the register
//! whose heartbeat named an older version is listed with its store,
//! version and last heartbeat, and the newer one is not.

use reqwest::Method;
use serde_json::json;
use shared::wire::{PROTOCOL_HEADER, PROTOCOL_VERSION};
use sync_server::wire::fleet::{FleetView, MinimumAgentVersion};

use super::chrome::Browser;
use crate::access::{PASSWORD, invite};
use crate::helpers::{TestServer, Till};

async fn beat(server: &TestServer, till: &Till, version: &str) {
    let response = server
        .http
        .post(format!("{}/api/v1/heartbeat", server.base))
        .bearer_auth(till.bearer())
        .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
        .json(&json!({
            "agent_version": version,
            "backlog": 0,
            "dead_letters": 0,
            "ruleset_version": null,
            "alarms": []
        }))
        .send()
        .await
        .expect("heartbeat");
    assert!(response.status().is_success(), "{}", response.status());
}

#[tokio::test]
async fn the_owner_sets_a_minimum_agent_version_by_typing_and_sees_the_lagging_register_in_chromium()
 {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Ромашка").await;
    let tverskaya = server.store(merchant.id, "Тверская", "Europe/Moscow").await;
    let arbat = server.store(merchant.id, "Арбат", "Europe/Moscow").await;
    let old = server.enroll(tverskaya.id, 1).await;
    let new = server.enroll(arbat.id, 2).await;
    beat(&server, &old, "1.2.9").await;
    beat(&server, &new, "1.4.0").await;
    let owner = invite(&server, merchant.id, "owner@romashka.example", "owner", &[]).await;

    let mut browser = Browser::start("the_owner_sets_a_minimum_agent_version").await;
    browser.open(&owner.link).await;
    browser.type_into("#new-password", PASSWORD).await;
    browser.type_into("#repeat-password", PASSWORD).await;
    browser.click_button("Сохранить пароль").await;
    browser.wait_for_text("h1", "Вход в HQ").await;
    browser.type_into("#email", "owner@romashka.example").await;
    browser.type_into("#password", PASSWORD).await;
    browser.click_button("Войти").await;
    browser.wait_for_text("h1", "Продавцы").await;
    browser
        .open(&format!("{}/hq/merchants/{}", server.base, merchant.id))
        .await;
    browser.wait_for_text("h2", "Версии агентов").await;
    browser.wait_for_text("strong", "не задана").await;
    browser.wait_for_text("p", "Минимум не задан").await;

    // Not a version: refused beside the field, the text kept to correct.
    browser.type_into("#minimum-version", "1.3").await;
    browser.click_button("Сохранить минимум").await;
    browser
        .wait_for_text("p", "«1.3» — не версия вида 1.4.0")
        .await;
    let kept = browser.value_of("#minimum-version").await;
    browser
        .ensure(kept == "1.3", format!("the field keeps «{kept}»"))
        .await;
    let none: MinimumAgentVersion = server
        .admin_ok(
            Method::GET,
            &format!(
                "/api/v1/admin/merchants/{}/fleet/minimum-version",
                merchant.id
            ),
            None,
        )
        .await;
    assert_eq!(none.minimum_agent_version, None, "nothing was set");

    // A version: set, and the register below it is listed.
    browser.type_into("#minimum-version", "1.3.0").await;
    browser.click_button("Сохранить минимум").await;
    browser.wait_for_text("strong", "1.3.0").await;
    browser
        .wait_for_text("p", "Ниже минимума: 1 из 2 работающих касс.")
        .await;
    let row = format!(
        "//table[@id='fleet-lagging']//tr[@data-register='{}']",
        old.register_id
    );
    let rows = browser.count_xpath(&row).await;
    browser
        .ensure(rows == 1, "the old register is listed")
        .await;
    for (cell, text) in [("td[1]", "Тверская"), ("td[4]", "1.2.9")] {
        let found = browser
            .count_xpath(&format!("{row}/{cell}[normalize-space(.)='{text}']"))
            .await;
        browser
            .ensure(found == 1, format!("the row shows «{text}»"))
            .await;
    }
    let heartbeat = browser
        .count_xpath(&format!("{row}/td[5][contains(., '2')]"))
        .await;
    browser
        .ensure(heartbeat == 1, "the row shows its last heartbeat")
        .await;
    let listed_new = browser
        .count_xpath(&format!(
            "//table[@id='fleet-lagging']//tr[@data-register='{}']",
            new.register_id
        ))
        .await;
    browser
        .ensure(listed_new == 0, "the register at 1.4.0 is not listed")
        .await;

    // The API agrees, and the audit trail names the owner.
    let fleet: FleetView = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{}/fleet", merchant.id),
            None,
        )
        .await;
    assert_eq!(fleet.lagging_count, 1);
    assert_eq!(fleet.lagging[0].register_id, old.register_id);
    let trail: Vec<sync_server::wire::admin::AuditView> = server
        .admin_ok(
            Method::GET,
            &format!(
                "/api/v1/admin/merchants/{}/audit?action=fleet.minimum_version",
                merchant.id
            ),
            None,
        )
        .await;
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(trail[0].actor, "owner@romashka.example");
    assert_eq!(
        (trail[0].before.as_str(), trail[0].after.as_str()),
        ("none", "1.3.0")
    );
    browser.close().await;
}

/// The section in English, from the same catalogue keys.
#[tokio::test]
async fn the_fleet_section_speaks_english_in_chromium() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Camomile").await;
    let store = server
        .store(merchant.id, "Tverskaya", "Europe/Moscow")
        .await;
    let till = server.enroll(store.id, 3).await;
    beat(&server, &till, "0.9.0").await;
    let _: MinimumAgentVersion = server
        .admin_ok(
            Method::PUT,
            &format!(
                "/api/v1/admin/merchants/{}/fleet/minimum-version",
                merchant.id
            ),
            Some(json!({"minimum_agent_version": "1.0.0"})),
        )
        .await;
    let mut browser =
        Browser::start_in_language("the_fleet_section_speaks_english", "en-US,en").await;
    browser.open(&format!("{}/hq", server.base)).await;
    browser
        .type_into("#token", crate::helpers::ADMIN_TOKEN)
        .await;
    browser.click_button("Sign in").await;
    browser.wait_for_text("h1", "Merchants").await;
    browser
        .open(&format!("{}/hq/merchants/{}", server.base, merchant.id))
        .await;
    browser.wait_for_text("h2", "Agent versions").await;
    browser
        .wait_for_text("p", "1 of 1 registers in service are below the minimum.")
        .await;
    browser
        .wait_for_text("caption", "Registers below the minimum agent version")
        .await;
    browser.close().await;
}
