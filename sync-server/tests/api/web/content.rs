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

/// A `multipart/form-data` body of text fields and files (name, file
/// name, type, bytes), as a browser sends the content form.
fn multipart(fields: &[(&str, &str)], files: &[(&str, &str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----content-form-boundary-7MA4YWxk";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    for (name, file, kind, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; \
                 filename=\"{file}\"\r\nContent-Type: {kind}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn the_content_form_names_each_refused_picture_by_its_field_and_takes_large_photos() {
    let server = TestServer::spawn().await;
    let merchant = server.merchant("Ромашка").await;
    let mut rules = ruleset();
    rules["promotions"] = json!([
        {"id": "milk", "name": "Молоко −10 %",
         "target": {"kind": "skus", "skus": ["4601234567893"]},
         "reward": {"kind": "percent_off", "percent": 1000}}
    ]);
    assert_eq!(
        server.publish(merchant.id, rules).await.0,
        StatusCode::CREATED
    );
    let hq = super::Hq::sign_in(&server).await;
    let path = format!("/hq/merchants/{}/promotions/milk/content", merchant.id);
    let send = |fields: Vec<(&'static str, String)>,
                files: Vec<(&'static str, &'static str, &'static str, Vec<u8>)>| {
        let fields: Vec<(&str, String)> = fields;
        let mut all = vec![("csrf", hq.csrf.clone())];
        all.extend(fields);
        let text: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let parts: Vec<(&str, &str, &str, &[u8])> = files
            .iter()
            .map(|(n, f, k, b)| (*n, *f, *k, b.as_slice()))
            .collect();
        let (kind, body) = multipart(&text, &parts);
        hq.http
            .post(format!("{}{path}", server.base))
            .header(reqwest::header::COOKIE, &hq.cookie)
            .header(reqwest::header::CONTENT_TYPE, kind)
            .body(body)
    };

    // A text file named like a photo, and a poster whose header claims
    // 100000 × 100000 pixels: each refused by its own field, nothing saved.
    let mut bomb = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    bomb.extend_from_slice(&100_000u32.to_be_bytes());
    bomb.extend_from_slice(&100_000u32.to_be_bytes());
    bomb.extend_from_slice(&[8, 2, 0, 0, 0]);
    let crc = {
        let mut crc = u32::MAX;
        for &b in &bomb[12..] {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    };
    bomb.extend_from_slice(&crc.to_be_bytes());
    bomb.extend_from_slice(b"\0\0\0\x09IDAT\x78\x9c\x63\0\0\0\x01\0\x01\0\0\0\0");
    let response = send(
        vec![("description", "Молоко".to_owned())],
        vec![
            (
                "picture",
                "menu.jpg",
                "image/jpeg",
                b"not a picture at all".to_vec(),
            ),
            ("poster", "poster.png", "image/png", bomb),
        ],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    let error_of = |id: &str| {
        page.split(&format!("id=\"{id}\""))
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .map(|text| {
                text.trim_start_matches([' ', '>'])
                    .trim_start_matches("role=\"alert\">")
                    .to_owned()
            })
            .unwrap_or_default()
    };
    assert!(
        error_of("content-picture-error").contains("Это не картинка"),
        "{page}"
    );
    assert!(
        error_of("content-poster-error").contains("Слишком много пикселей: 100000×100000"),
        "{page}"
    );
    assert!(
        page.contains(">Молоко</textarea>"),
        "what was typed is kept"
    );
    assert_eq!(
        server.count_rows("SELECT COUNT(*) FROM promotion_content"),
        0
    );

    // A photo of some 3 MB (past axum's default limit of 2 MB) is taken.
    let mut seed = 7u32;
    let noise = RgbImage::from_fn(1200, 1200, |_, _| {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let [a, b, c, _] = seed.to_be_bytes();
        Rgb([a, b, c])
    });
    let mut photo = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut photo, 100)
        .encode_image(&DynamicImage::ImageRgb8(noise))
        .expect("encodes");
    assert!(photo.len() > 2 * 1024 * 1024, "{} bytes", photo.len());
    let response = send(
        vec![("description", "Молоко".to_owned())],
        vec![("picture", "photo.jpg", "image/jpeg", photo)],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
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
    assert!(stored.picture.is_some());
}
