//! People and roles in a real Chromium (issue 12), by clicking and typing:
//! an owner invites a store manager and an analyst on the people page, and
//! makes a store manager's API key for one store; the
//! manager opens the link, sets a password, signs in, sees only their
//! store and is refused another store's page; the analyst has no publish
//! button and a direct POST of the promotion form is refused; the owner's
//! audit trail shows each step.

use reqwest::header::COOKIE;
use reqwest::{Method, StatusCode};

use super::chrome::Browser;
use crate::access::{PASSWORD, invite, sign_in_with};
use crate::helpers::TestServer;
use crate::web::no_redirects;

/// Opens a one-time link and sets the password by typing it twice.
async fn accept(browser: &mut Browser, link: &str) {
    browser.open(link).await;
    browser.type_into("#new-password", PASSWORD).await;
    browser.type_into("#repeat-password", PASSWORD).await;
    browser.click_button("Сохранить пароль").await;
    browser.wait_for_text("h1", "Вход в HQ").await;
}

/// Signs in with an address and the password by typing.
async fn sign_in(browser: &mut Browser, email: &str) {
    browser.type_into("#email", email).await;
    browser.type_into("#password", PASSWORD).await;
    browser.click_button("Войти").await;
    browser.wait_for_text("h1", "Продавцы").await;
}

async fn sign_out(browser: &mut Browser, server: &TestServer) {
    browser.open(&format!("{}/hq/account", server.base)).await;
    browser.click_button("Выйти").await;
    browser.wait_for_text("h1", "Вход в HQ").await;
}

/// Invites `email` as the role labelled `role` on the people page (ticking
/// `store` for a manager); the link the page shows once.
async fn invite_on_page(
    browser: &mut Browser,
    email: &str,
    role: &str,
    store: Option<&str>,
) -> String {
    browser.wait_for_text("h1", "Сотрудники").await;
    browser.type_into("#invite-email", email).await;
    browser
        .click_xpath(
            &format!("//select[@id='invite-role']/option[normalize-space(.)='{role}']"),
            role,
        )
        .await;
    if let Some(store) = store {
        browser
            .click_xpath(
                &format!("//form[@id='invite-form']//label[normalize-space(.)='{store}']/input"),
                store,
            )
            .await;
    }
    browser.click_button("Пригласить").await;
    browser.wait_for_text("h1", "Ссылка-приглашение").await;
    let link = browser.value_of("#secret").await;
    browser.click_link("← Вернуться к сотрудникам").await;
    link
}

#[tokio::test]
async fn an_owner_invites_a_store_manager_and_an_analyst_who_see_only_what_their_role_allows() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Ромашка").await;
    let tverskaya = server.store(merchant.id, "Тверская", "Europe/Moscow").await;
    let arbat = server.store(merchant.id, "Арбат", "Europe/Moscow").await;
    let till = server.enroll(tverskaya.id, 1).await;
    let (m, t, a) = (merchant.id, tverskaya.id, arbat.id);
    // The first owner is invited by HQ with the admin token, as
    // `sync-server admin user invite` does.
    let owner_link = invite(&server, m, "owner@romashka.example", "owner", &[]).await;

    let mut browser = Browser::start("an_owner_invites_a_store_manager").await;
    accept(&mut browser, &owner_link.link).await;
    sign_in(&mut browser, "owner@romashka.example").await;
    browser.click_link("Сотрудники").await;
    let manager_link = invite_on_page(
        &mut browser,
        "manager@romashka.example",
        "Управляющий магазином",
        Some("Тверская"),
    )
    .await;
    let analyst_link =
        invite_on_page(&mut browser, "analyst@romashka.example", "Аналитик", None).await;
    browser
        .wait_for_text("td", "manager@romashka.example")
        .await;
    // A key for the store's own automation: a store manager's, for
    // Тверская only.
    browser.type_into("#key-name", "касса Тверской").await;
    browser
        .click_xpath(
            "//select[@id='key-role']/option[normalize-space(.)='Управляющий магазином']",
            "the key's role",
        )
        .await;
    browser
        .click_xpath(
            &format!("//form[@action='/hq/merchants/{m}/api-keys']//label[normalize-space(.)='Тверская']/input"),
            "the key's store",
        )
        .await;
    browser.click_button("Создать ключ").await;
    browser.wait_for_text("h1", "Ключ API").await;
    let store_key = browser.value_of("#secret").await;
    browser.click_link("← Вернуться к сотрудникам").await;
    browser.wait_for_text("td", "касса Тверской").await;
    let issue_with_key = |store| {
        server
            .http
            .post(format!(
                "{}/api/v1/admin/stores/{store}/enrollment-tokens",
                server.base
            ))
            .bearer_auth(&store_key)
            .json(&serde_json::json!({}))
            .send()
    };
    assert_eq!(
        issue_with_key(t).await.unwrap().status(),
        StatusCode::CREATED
    );
    assert_eq!(
        issue_with_key(a).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    sign_out(&mut browser, &server).await;

    // The manager: their store and nothing else.
    accept(&mut browser, &manager_link).await;
    sign_in(&mut browser, "manager@romashka.example").await;
    for hidden in ["Статистика", "Настройка", "Сотрудники", "Журнал"]
    {
        let links = browser
            .count_xpath(&format!("//a[normalize-space(.)='{hidden}']"))
            .await;
        browser
            .ensure(links == 0, format!("the manager sees no «{hidden}» link"))
            .await;
    }
    browser.click_link(&format!("Магазин №{t}")).await;
    browser.wait_for_text("h1", "Магазин «Тверская»").await;
    browser
        .wait_for_text("td", &till.register_id.to_string())
        .await;
    browser.click_button("Выпустить токен кассы").await;
    browser.wait_for_text("h1", "Токен регистрации кассы").await;
    browser
        .open(&format!("{}/hq/merchants/{m}/stores/{a}", server.base))
        .await;
    browser.wait_for_text("h1", "Недостаточно прав").await;
    browser
        .open(&format!("{}/hq/merchants/{m}", server.base))
        .await;
    browser.wait_for_text("h1", "Недостаточно прав").await;
    sign_out(&mut browser, &server).await;

    // The analyst: statistics, and no way to publish.
    accept(&mut browser, &analyst_link).await;
    sign_in(&mut browser, "analyst@romashka.example").await;
    browser.click_link("Статистика").await;
    browser.wait_for_text("h1", "Ромашка: статистика").await;
    let publish = browser
        .count_xpath("//button[normalize-space(.)='Опубликовать на всех кассах']")
        .await;
    let setup = browser
        .count_xpath("//a[normalize-space(.)='Настройка']")
        .await;
    browser
        .ensure(
            publish == 0 && setup == 0,
            "the analyst has nothing to publish with",
        )
        .await;
    browser
        .open(&format!("{}/hq/merchants/{m}/setup", server.base))
        .await;
    browser.wait_for_text("h1", "Недостаточно прав").await;
    sign_out(&mut browser, &server).await;

    // The promotion form posted straight at the server with the analyst's
    // own session is refused, and nothing is published.
    let analyst = sign_in_with(
        &server,
        &[
            ("email", "analyst@romashka.example"),
            ("password", PASSWORD),
        ],
    )
    .await;
    let posted = no_redirects()
        .post(format!("{}/hq/merchants/{m}/promotions", server.base))
        .header(COOKIE, &analyst.cookie)
        .form(&[
            ("csrf", analyst.csrf.as_str()),
            ("id", "spring"),
            ("name", "Весна"),
            ("target_kind", "basket"),
            ("percent", "10"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::FORBIDDEN);
    assert!(posted.text().await.unwrap().contains("Недостаточно прав"));
    let (status, _) = server
        .admin(
            Method::GET,
            &format!("/api/v1/admin/merchants/{m}/ruleset"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no ruleset was published");

    // The owner's audit trail shows each step.
    sign_in(&mut browser, "owner@romashka.example").await;
    browser.click_link("Журнал").await;
    browser.wait_for_text("h1", "Журнал действий").await;
    for action in [
        "account.invite",
        "api_key.create",
        "account.set_password",
        "sign_in",
        "sign_out",
        "enrollment_token.issue",
        "access.denied",
    ] {
        browser.wait_for_text("code", action).await;
    }
    // Filtered to the manager: what they did, and what they were refused.
    browser
        .type_into("#audit-actor", "manager@romashka.example")
        .await;
    browser.click_button("Показать").await;
    browser
        .wait_for_text("td", &format!("/hq/merchants/{m}/stores/{a}"))
        .await;
    let rows = browser.count_xpath("//table[@id='audit']/tbody/tr").await;
    let foreign = browser
        .count_xpath("//table[@id='audit']//td[normalize-space(.)='owner@romashka.example' or normalize-space(.)='analyst@romashka.example']")
        .await;
    browser
        .ensure(
            rows >= 5 && foreign == 0,
            format!("the manager's trail: {rows} rows, {foreign} of others"),
        )
        .await;
    browser.close().await;
}

/// The current code of the base32 `secret`, as an authenticator app shows it.
fn app_code(secret: &str, at: std::time::SystemTime) -> String {
    let bytes = totp_rs::Secret::Encoded(secret.to_owned())
        .to_bytes()
        .expect("a base32 secret");
    let totp = totp_rs::TOTP::new_unchecked(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        bytes,
        None,
        String::new(),
    );
    let unix = at
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    totp.generate(unix)
}

#[tokio::test]
async fn a_person_turns_on_sign_in_with_a_code_and_their_language_follows_them() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Ромашка").await;
    let link = invite(&server, merchant.id, "owner@romashka.example", "owner", &[]).await;
    let mut browser = Browser::start("a_person_turns_on_sign_in_with_a_code").await;
    accept(&mut browser, &link.link).await;
    sign_in(&mut browser, "owner@romashka.example").await;

    // On the account page: turn on, scan (read the key), confirm.
    browser.open(&format!("{}/hq/account", server.base)).await;
    browser.click_button("Включить").await;
    let secret = browser.text_of("#totp-secret").await;
    browser.wait_for("#totp svg").await;
    browser.type_into("#totp-code", "000000").await;
    browser.click_button("Подтвердить и включить").await;
    browser.wait_for_text("p", "Код неверен").await;
    // The same key waits for its first right code.
    let again = browser.text_of("#totp-secret").await;
    assert_eq!(again, secret);
    let first = app_code(&secret, std::time::SystemTime::now());
    browser.type_into("#totp-code", &first).await;
    browser.click_button("Подтвердить и включить").await;
    browser.wait_for_text("p", "Включён").await;
    // English for this person, wherever they sign in.
    browser.choose("#account-language", "English").await;
    browser.click_button("Сохранить").await;
    browser.wait_for_text("h1", "Account").await;
    sign_out_in(&mut browser, &server, "Sign out").await;

    // Sign-in now asks for the code: none, a used one, then a fresh one.
    let mut fresh = Browser::start("a_person_signs_in_with_a_code").await;
    fresh.open(&format!("{}/hq", server.base)).await;
    fresh.type_into("#email", "owner@romashka.example").await;
    fresh.type_into("#password", PASSWORD).await;
    fresh.click_button("Войти").await;
    fresh.wait_for_text("p", "введите код из приложения").await;
    fresh.type_into("#password", PASSWORD).await;
    fresh.type_into("#code", &first).await;
    fresh.click_button("Войти").await;
    fresh.wait_for_text("p", "уже использован").await;
    // The next time step's code (one step of skew is allowed).
    let next = app_code(
        &secret,
        std::time::SystemTime::now() + std::time::Duration::from_secs(30),
    );
    fresh.type_into("#password", PASSWORD).await;
    fresh.type_into("#code", &next).await;
    fresh.click_button("Войти").await;
    // Signed in, in the person's language, not the browser's Russian.
    fresh.wait_for_text("h1", "Merchants").await;
    fresh.close().await;
    browser.close().await;
}

/// Signs out from the account page with the button labelled `label`.
async fn sign_out_in(browser: &mut Browser, server: &TestServer, label: &str) {
    browser.open(&format!("{}/hq/account", server.base)).await;
    browser.click_button(label).await;
    browser.wait_for("#email").await;
}
