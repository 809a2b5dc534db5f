//! QR decoding from images generated with the `qrcode` crate.

use std::time::Duration;

use hardware::{QR_SYMBOLOGY, QrError, decode_qr_file, decode_qr_image};
use image::{DynamicImage, GrayImage, Luma, imageops};
use qrcode::QrCode;

const BUDGET: Duration = Duration::from_secs(5);

/// A dark-on-light QR code of `text`, `module` pixels per module, with quiet zone.
fn qr(text: &str, module: u32) -> GrayImage {
    QrCode::new(text.as_bytes())
        .expect("encodable")
        .render::<Luma<u8>>()
        .module_dimensions(module, module)
        .build()
}

fn decode(img: GrayImage) -> Vec<String> {
    decode_qr_image(&DynamicImage::ImageLuma8(img), BUDGET).expect("decodable image")
}

#[test]
fn decodes_a_plain_code() {
    assert_eq!(decode(qr("LOYALTY:abc123", 4)), ["LOYALTY:abc123"]);
}

#[test]
fn decodes_an_inverted_code() {
    let mut img = qr("light-on-dark", 4);
    imageops::invert(&mut img);
    assert_eq!(decode(img), ["light-on-dark"]);
}

#[test]
fn decodes_a_small_code_on_a_wide_margin_after_downscaling() {
    let code = qr("https://example.invalid/c/42", 6);
    let mut canvas = GrayImage::from_pixel(1_600, 1_200, Luma([255]));
    imageops::overlay(&mut canvas, &code, 900, 500);
    let small = imageops::resize(&canvas, 800, 600, imageops::FilterType::Triangle);
    assert_eq!(decode(small), ["https://example.invalid/c/42"]);
}

#[test]
fn decodes_several_codes_once_each() {
    let (a, b) = (qr("first", 4), qr("second", 4));
    let mut canvas = GrayImage::from_pixel(
        a.width() + b.width() + 40,
        a.height().max(b.height()) + 20,
        Luma([255]),
    );
    imageops::overlay(&mut canvas, &a, 10, 10);
    imageops::overlay(&mut canvas, &b, i64::from(a.width()) + 30, 10);
    let mut got = decode(canvas);
    got.sort();
    assert_eq!(got, ["first", "second"]);
}

#[test]
fn blank_and_noisy_images_yield_nothing() {
    assert!(decode(GrayImage::from_pixel(300, 200, Luma([255]))).is_empty());
    let mut seed = 0x2545_f491_u32;
    let noise = GrayImage::from_fn(320, 240, |_, _| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        Luma([seed.to_le_bytes()[0]])
    });
    assert!(decode(noise).is_empty());
}

#[test]
fn first_pass_runs_even_with_no_budget() {
    let img = DynamicImage::ImageLuma8(qr("hurry", 4));
    assert_eq!(
        decode_qr_image(&img, Duration::ZERO).expect("decodable"),
        ["hurry"]
    );
}

#[test]
fn oversized_images_are_refused() {
    let img = DynamicImage::new_luma8(20_000, 4);
    assert!(matches!(
        decode_qr_image(&img, BUDGET),
        Err(QrError::TooLarge { .. })
    ));
}

#[test]
fn files_become_scans() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("code.png");
    qr("from-file", 4).save(&path).expect("save png");
    let scans = decode_qr_file(&path, BUDGET).expect("decodable file");
    assert_eq!(scans.len(), 1);
    assert_eq!(scans[0].text, "from-file");
    assert_eq!(scans[0].symbology.as_deref(), Some(QR_SYMBOLOGY));
    assert_eq!(scans[0].source, format!("image:{}", path.display()));

    let not_image = dir.path().join("code.txt");
    std::fs::write(&not_image, b"\x89PNG garbage").expect("write");
    assert!(matches!(
        decode_qr_file(&not_image, BUDGET),
        Err(QrError::Load { .. })
    ));
    assert!(matches!(
        decode_qr_file(&dir.path().join("missing.png"), BUDGET),
        Err(QrError::Load { .. })
    ));
}

#[test]
fn degenerate_images_do_not_fail() {
    for (width, height) in [(0, 0), (1, 1), (0, 50), (3, 2000), (21, 21), (22, 4000)] {
        let img = DynamicImage::new_luma8(width, height);
        assert_eq!(
            decode_qr_image(&img, BUDGET).expect("searchable"),
            Vec::<String>::new()
        );
    }
}
