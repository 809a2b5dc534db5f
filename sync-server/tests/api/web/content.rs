//! A promotion's picture and description, set by a person at a real
//! Chromium (issue 11: "the customer's phone page shows the promotion with
//! its picture"): signed in, they open the promotion's content page from
//! the set-up page, choose a picture file through the file input, type a
//! description and save; the preview shows the offer as on a phone with
//! the picture loaded, and so does the customer's own page, while an offer
//! whose publication period is over is not shown there.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sync_server::wire::CustomerLink;
use sync_server::wire::content::PromotionContent;

use super::chrome::Browser;
use crate::helpers::{ADMIN_TOKEN, TestServer, ruleset};

/// Scrolls to the picture `css`, as a person scrolls to see it, waits
/// until it loaded or failed, and returns its natural width (0: broken;
/// -1: no such picture).
const PICTURE_WIDTH: &str = r"
    const done = arguments[arguments.length - 1];
    const img = document.querySelector(SELECTOR);
    if (!img) { done(-1); return; }
    img.scrollIntoView();
    const report = () => done(img.naturalWidth);
    if (img.complete && img.naturalWidth > 0) { report(); return; }
    img.addEventListener('load', report);
    img.addEventListener('error', report);
";

async fn picture_width(browser: &mut Browser, css: &str) -> i64 {
    browser.wait_for(css).await;
    let script = PICTURE_WIDTH.replace("SELECTOR", &serde_json::to_string(css).unwrap());
    let width = browser.run_async_script(&script).await;
    width.as_i64().unwrap_or(0)
}

#[tokio::test]
async fn a_person_adds_a_picture_and_description_and_the_phone_shows_them() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Ромашка").await;
    server.store(merchant.id, "Тверская", "Europe/Moscow").await;
    let mut rules = ruleset();
    rules["promotions"] = json!([
        {"id": "milk", "name": "Молоко −10 %",
         "target": {"kind": "skus", "skus": ["4601234567893"]},
         "reward": {"kind": "percent_off", "percent": 1000}},
        {"id": "cheese", "name": "Сыр −5 %",
         "target": {"kind": "skus", "skus": ["2"]},
         "reward": {"kind": "percent_off", "percent": 500}}
    ]);
    assert_eq!(
        server.publish(merchant.id, rules).await.0,
        StatusCode::CREATED
    );
    // The cheese offer still prices, but its time on the phones is over.
    let _: PromotionContent = server
        .admin_ok(
            Method::PUT,
            &format!(
                "/api/v1/admin/merchants/{}/promotions/cheese/content",
                merchant.id
            ),
            Some(json!({"description": "Сыр", "shown_until": "2021-01-01T00:00:00Z"})),
        )
        .await;

    // A real picture file on disk, as a person has one.
    let files = tempfile::tempdir().expect("a folder");
    let file = files.path().join("молоко.png");
    let img = RgbImage::from_fn(800, 400, |x, y| {
        Rgb([
            u8::try_from(x / 4 % 256).unwrap(),
            u8::try_from(y / 2 % 256).unwrap(),
            180,
        ])
    });
    let mut png = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img)
        .write_to(&mut png, ImageFormat::Png)
        .expect("encodes");
    std::fs::write(&file, png.into_inner()).expect("write the picture");

    let mut browser = Browser::start("content_picture_and_description").await;
    browser.open(&format!("{}/hq", server.base)).await;
    browser.type_into("#token", ADMIN_TOKEN).await;
    browser.click_button("Войти").await;
    browser.wait_for_text("h1", "Продавцы").await;
    browser
        .open(&format!(
            "{}/hq/merchants/{}/setup",
            server.base, merchant.id
        ))
        .await;
    browser
        .click_xpath(
            "//tr[@data-promotion='milk']//a[normalize-space(.)='Картинка и описание']",
            "the milk offer's picture and description",
        )
        .await;
    browser
        .wait_for_text("h1", "Молоко −10 %: картинка и описание")
        .await;

    // Choose the file, type the description, save.
    let input = browser.wait_for("#content-picture").await;
    if let Err(e) = input.send_keys(&file.display().to_string()).await {
        browser.fail(format!("cannot choose the file: {e}")).await;
    }
    browser
        .type_into(
            "#content-description",
            "**Свежее** молоко каждый день\n\n- 1 л\n- 2 л",
        )
        .await;
    browser.click_button("Сохранить").await;
    browser.wait_for("#content-saved").await;

    // The preview: the offer as on the phone, its picture loaded.
    let width = picture_width(&mut browser, "#phone-preview .offer-picture img").await;
    browser
        .ensure(
            width == 640,
            format!("the preview's picture loaded: {width}"),
        )
        .await;
    let bold = browser.text_of("#phone-preview .rich-text strong").await;
    browser
        .ensure(bold == "Свежее", format!("the description in bold: {bold}"))
        .await;
    let stored: PromotionContent = server
        .admin_ok(
            Method::GET,
            &format!(
                "/api/v1/admin/merchants/{}/promotions/milk/content",
                merchant.id
            ),
            None,
        )
        .await;
    assert!(stored.picture.is_some(), "saved: {stored:?}");
    assert_eq!(
        stored.description,
        "**Свежее** молоко каждый день\n\n- 1 л\n- 2 л"
    );

    // The customer's phone page.
    let customer = server
        .customer(
            merchant.id,
            json!({"name": "Анна", "phone": "+79160000001"}),
        )
        .await;
    let link: CustomerLink = server
        .admin_ok(
            Method::POST,
            &format!("/api/v1/admin/customers/{}/link", customer.id),
            None,
        )
        .await;
    browser.open(&link.url).await;
    browser.wait_for_text("h1", "Анна").await;
    let width = picture_width(
        &mut browser,
        "article[data-promotion='milk'] .offer-picture img",
    )
    .await;
    browser
        .ensure(width == 640, format!("the phone's picture loaded: {width}"))
        .await;
    let description = browser
        .text_of("article[data-promotion='milk'] .rich-text")
        .await;
    browser
        .ensure(
            description.contains("Свежее молоко каждый день") && description.contains("2 л"),
            format!("the description on the phone: {description}"),
        )
        .await;
    let cheese = browser
        .count_xpath("//article[@data-promotion='cheese']")
        .await;
    browser
        .ensure(cheese == 0, "the offer whose period is over is not shown")
        .await;
    browser.close().await;
}
