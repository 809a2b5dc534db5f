//! Promotions' content through the admin API, over real HTTP (on SQLite,
//! or PostgreSQL with `LOYALTY_TEST_DATABASE=postgres`): pictures taken by
//! their bytes, stored once, served with caching headers and 304s; a
//! promotion's content saved and read back, refused for another merchant's
//! promotion; and the phone page showing it within its publication period.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::crypto::sha256;
use shared::ids::MerchantId;
use sync_server::wire::CustomerLink;
use sync_server::wire::content::{MediaView, PromotionContent};

use crate::helpers::{TestServer, ruleset};

/// A picture of `width` × `height`, encoded as `format`.
pub fn picture(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let img = RgbImage::from_fn(width, height, |x, y| {
        Rgb([
            u8::try_from(x % 256).unwrap(),
            u8::try_from(y % 256).unwrap(),
            200,
        ])
    });
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img)
        .write_to(&mut out, format)
        .expect("encodes");
    out.into_inner()
}

/// A PNG of 80 bytes whose header claims 100000 × 100000 pixels (valid
/// CRCs): decoding it would take 30 GB.
fn png_bomb() -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = u32::MAX;
        for &b in bytes {
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
    }
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    // A few bytes of compressed pixels: the header is what claims the size.
    let mut idat = b"IDAT".to_vec();
    idat.extend_from_slice(&[0x78, 0x9c, 0x63, 0, 0, 0, 1, 0, 1]);
    png.extend_from_slice(&9u32.to_be_bytes());
    png.extend_from_slice(&idat);
    png.extend_from_slice(&crc32(&idat).to_be_bytes());
    png
}

/// Rules with an offer shown now (`milk`), and one (`cheese`) that prices
/// now too.
fn rules() -> Value {
    let mut rules = ruleset();
    rules["promotions"] = json!([
        {"id": "milk", "name": "Молоко −10 %", "description": "Всё молоко",
         "target": {"kind": "skus", "skus": ["4601234567893"]},
         "reward": {"kind": "percent_off", "percent": 1000}},
        {"id": "cheese", "name": "Сыр −5 %",
         "target": {"kind": "skus", "skus": ["2"]},
         "reward": {"kind": "percent_off", "percent": 500}}
    ]);
    rules
}

/// A merchant with a store and the rules above.
async fn shop(server: &TestServer, name: &str) -> MerchantId {
    let merchant = server.merchant(name).await;
    server.store(merchant.id, "Тверская", "Europe/Moscow").await;
    assert_eq!(
        server.publish(merchant.id, rules()).await.0,
        StatusCode::CREATED
    );
    merchant.id
}

/// `POST …/media` with `bytes`, sent with a `Content-Type` that lies.
async fn upload(server: &TestServer, merchant: MerchantId, bytes: Vec<u8>) -> (StatusCode, Value) {
    let response = server
        .http
        .post(format!(
            "{}/api/v1/admin/merchants/{merchant}/media",
            server.base
        ))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .header(CONTENT_TYPE, "image/jpeg")
        .body(bytes)
        .send()
        .await
        .expect("upload");
    crate::helpers::reply(response).await
}

#[tokio::test]
async fn pictures_are_taken_by_their_bytes_stored_once_and_served_with_caching_headers() {
    let server = TestServer::spawn().await;
    let merchant = shop(&server, "Ромашка").await;

    let png = picture(900, 300, ImageFormat::Png);
    let (status, body) = upload(&server, merchant, png.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let first: MediaView = serde_json::from_value(body).unwrap();
    assert!(first.new);
    assert_eq!(first.content_type, "image/png", "a PNG stays PNG");
    assert_eq!((first.width, first.height), (900, 300));
    let (status, body) = upload(&server, merchant, png).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let again: MediaView = serde_json::from_value(body).unwrap();
    assert_eq!(again.hash, first.hash);
    assert!(!again.new, "the same picture is stored once");
    assert_eq!(server.count_rows("SELECT COUNT(*) FROM media"), 1);

    // Served to anyone, as stored, with its headers.
    let served = server
        .http
        .get(format!("{}{}", server.base, first.url))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    let headers = served.headers().clone();
    assert_eq!(headers[CONTENT_TYPE], "image/png");
    assert_eq!(
        headers[CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let etag = headers[ETAG].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", first.hash));
    let bytes = served.bytes().await.unwrap();
    assert_eq!(sha256(&bytes), first.hash, "named by its bytes");
    let decoded = image::load_from_memory(&bytes).expect("a picture");
    assert_eq!((decoded.width(), decoded.height()), (900, 300));

    let not_modified = server
        .http
        .get(format!("{}{}", server.base, first.url))
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(not_modified.headers()[ETAG], etag.as_str());
    assert!(not_modified.bytes().await.unwrap().is_empty());
    let other_tag = server
        .http
        .get(format!("{}{}", server.base, first.url))
        .header(IF_NONE_MATCH, "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other_tag.status(), StatusCode::OK);

    let thumbnail = server
        .http
        .get(format!("{}{}", server.base, first.thumbnail_url))
        .send()
        .await
        .unwrap();
    assert_eq!(thumbnail.status(), StatusCode::OK);
    assert_eq!(thumbnail.headers()[CONTENT_TYPE], "image/png");
    let thumb_tag = thumbnail.headers()[ETAG].to_str().unwrap().to_owned();
    assert_ne!(thumb_tag, etag, "the thumbnail is tagged apart");
    let thumb = image::load_from_memory(&thumbnail.bytes().await.unwrap()).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (640, 213));

    for missing in [
        "/media/not-a-hash".to_owned(),
        format!("/media/{}", sha256(b"never uploaded")),
        format!("/media/{}/thumbnail", sha256(b"never uploaded")),
    ] {
        let response = server
            .http
            .get(format!("{}{missing}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{missing}");
    }
}

#[tokio::test]
async fn each_refused_picture_names_its_problem() {
    let server = TestServer::spawn().await;
    let merchant = shop(&server, "Ромашка").await;
    let cases: [(Vec<u8>, StatusCode, &str, &str); 5] = [
        (
            b"not a picture, though sent as image/jpeg".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_a_picture",
            "not a picture",
        ),
        (
            png_bomb(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_pixels",
            "100000×100000",
        ),
        (
            b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_picture",
            "GIF",
        ),
        (
            Vec::new(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_picture",
            "no picture",
        ),
        (
            vec![0xFF; 9 * 1024 * 1024],
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "",
        ),
    ];
    for (bytes, status, code, words) in cases {
        let (got, body) = upload(&server, merchant, bytes).await;
        assert_eq!(got, status, "{code}: {body}");
        assert_eq!(body["error"], code, "{body}");
        assert!(
            body["message"].as_str().unwrap_or_default().contains(words),
            "{body}"
        );
    }
    assert_eq!(server.count_rows("SELECT COUNT(*) FROM media"), 0);
}

#[tokio::test]
async fn content_is_saved_for_the_merchants_promotion_and_shown_on_the_phone_in_its_period() {
    let server = TestServer::spawn().await;
    let merchant = shop(&server, "Ромашка").await;
    let other = shop(&server, "Лютик").await;
    let (_, body) = upload(&server, merchant, picture(400, 300, ImageFormat::Jpeg)).await;
    let photo: MediaView = serde_json::from_value(body).unwrap();
    assert_eq!(photo.content_type, "image/jpeg");

    let path =
        |m: MerchantId, p: &str| format!("/api/v1/admin/merchants/{m}/promotions/{p}/content");
    // Nothing saved yet: empty.
    let empty: PromotionContent = server
        .admin_ok(Method::GET, &path(merchant, "milk"), None)
        .await;
    assert_eq!(empty.picture, None);
    assert_eq!(empty.updated_at, None);

    let saved: PromotionContent = server
        .admin_ok(
            Method::PUT,
            &path(merchant, "milk"),
            Some(json!({
                "picture": photo.hash,
                "description": "**Свежее** молоко <script>alert(1)</script>",
                "shown_from": "2020-01-01T00:00:00Z",
                "shown_until": "2099-01-01T00:00:00Z",
            })),
        )
        .await;
    assert_eq!(saved.picture, Some(photo.hash));
    assert_eq!(
        saved.description_html,
        "<p><strong>Свежее</strong> молоко &lt;script&gt;alert(1)&lt;/script&gt;</p>\n"
    );
    let read: PromotionContent = server
        .admin_ok(Method::GET, &path(merchant, "milk"), None)
        .await;
    assert_eq!(read, saved);
    // Cheese is on the phones until a day long past.
    let _: PromotionContent = server
        .admin_ok(
            Method::PUT,
            &path(merchant, "cheese"),
            Some(json!({"description": "Сыр", "shown_until": "2021-01-01T00:00:00Z"})),
        )
        .await;

    // Another merchant's promotion, or one not in the rules: not found.
    for (m, p) in [(merchant, "no-such-offer"), (other, "nope")] {
        for method in [Method::GET, Method::PUT] {
            let body = (method == Method::PUT).then(|| json!({"description": "x"}));
            let (status, reply) = server.admin(method.clone(), &path(m, p), body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {p}: {reply}");
        }
    }
    // The other merchant's milk is its own: A's content is not there.
    let theirs: PromotionContent = server
        .admin_ok(Method::GET, &path(other, "milk"), None)
        .await;
    assert_eq!(theirs.picture, None);

    // Refusals name the field.
    for (body, field) in [
        (json!({"picture": sha256(b"never uploaded")}), "picture"),
        (
            json!({"shown_from": "2026-03-02T00:00:00Z", "shown_until": "2026-03-01T00:00:00Z"}),
            "shown_until",
        ),
        (json!({"description": "ж".repeat(4001)}), "description"),
    ] {
        let (status, reply) = server
            .admin(Method::PUT, &path(merchant, "milk"), Some(body))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reply}");
        assert!(
            reply["message"].as_str().unwrap().starts_with(field),
            "{reply}"
        );
    }

    // The phone page: milk with its picture and description, no cheese.
    let customer = server
        .customer(merchant, json!({"name": "Анна", "phone": "+79160000001"}))
        .await;
    let link: CustomerLink = server
        .admin_ok(
            Method::POST,
            &format!("/api/v1/admin/customers/{}/link", customer.id),
            None,
        )
        .await;
    let page = server
        .http
        .get(&link.url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("src=\"{}\"", photo.thumbnail_url)),
        "{page}"
    );
    assert!(page.contains("loading=\"lazy\""));
    assert!(page.contains("<strong>Свежее</strong> молоко &lt;script&gt;"));
    assert!(!page.contains("<script>alert(1)"));
    assert!(page.contains("data-promotion=\"milk\""));
    assert!(
        !page.contains("data-promotion=\"cheese\""),
        "its publication period is over, though it still prices"
    );
}
