//! QR codes as a phone shows them to the till's camera: generated 1280×720 frames (see
//! `hardware::render_phone_frame`) with a token-sized payload must decode to the exact
//! text, one distortion at a time, all at once, and over a fixed benchmark set.

use std::time::{Duration, Instant};

use hardware::{PhoneFrame, decode_qr_image, qr_benchmark_set, render_phone_frame};
use image::DynamicImage;

/// These tests check decoding, not speed: debug builds are many times slower than the
/// release build the perf harness measures.
const BUDGET: Duration = Duration::from_secs(60);

/// Frames of the benchmark set decoded here (all must be); the perf harness uses more.
const BENCHMARK_FRAMES: usize = 40;

/// "LT1" and 132 base32 characters from a fixed seed: the shape of a customer token.
fn token(seed: u64) -> String {
    const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut text = String::from("LT1");
    for _ in 0..132 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        text.push(char::from(BASE32[(state % 32) as usize]));
    }
    text
}

fn assert_decodes(seed: u64, frame: PhoneFrame) {
    let text = token(seed);
    let img = render_phone_frame(&text, &frame).expect("a token fits in a QR code");
    assert_eq!(img.dimensions(), (1280, 720));
    let found = decode_qr_image(&DynamicImage::ImageLuma8(img), BUDGET).expect("searchable");
    assert_eq!(found, [text], "{frame:?}");
}

#[test]
fn upright_sharp_code() {
    assert_decodes(1, PhoneFrame::default());
}

#[test]
fn rotated_a_few_degrees() {
    for (seed, rotation_deg) in [(2, -8.0), (3, 5.0)] {
        let frame = PhoneFrame {
            rotation_deg,
            seed,
            ..PhoneFrame::default()
        };
        assert_decodes(seed, frame);
    }
}

#[test]
fn scaled_down_to_three_pixel_modules_off_centre() {
    let frame = PhoneFrame {
        module_px: 3.0,
        center: (0.25, 0.6),
        rotation_deg: 2.0,
        ..PhoneFrame::default()
    };
    assert_decodes(4, frame);
}

#[test]
fn blurred() {
    let frame = PhoneFrame {
        blur_radius: 2,
        module_px: 5.0,
        ..PhoneFrame::default()
    };
    assert_decodes(5, frame);
}

#[test]
fn low_contrast() {
    let frame = PhoneFrame {
        levels: (90, 170),
        rotation_deg: -3.0,
        ..PhoneFrame::default()
    };
    assert_decodes(6, frame);
}

#[test]
fn inverted_dark_mode() {
    let frame = PhoneFrame {
        inverted: true,
        rotation_deg: 4.0,
        ..PhoneFrame::default()
    };
    assert_decodes(7, frame);
}

#[test]
fn noisy() {
    let frame = PhoneFrame {
        noise: 24,
        seed: 8,
        ..PhoneFrame::default()
    };
    assert_decodes(8, frame);
}

#[test]
fn all_at_once() {
    let frame = PhoneFrame {
        rotation_deg: -6.0,
        module_px: 4.0,
        center: (0.6, 0.45),
        blur_radius: 1,
        levels: (90, 170),
        inverted: true,
        noise: 12,
        seed: 9,
    };
    assert_decodes(9, frame);
}

#[test]
fn benchmark_set_decodes_completely() {
    let started = Instant::now();
    let frames = qr_benchmark_set(1, BENCHMARK_FRAMES);
    assert_eq!(frames.len(), BENCHMARK_FRAMES);
    let failed: Vec<usize> = frames
        .into_iter()
        .enumerate()
        .filter(|(_, (text, img))| {
            let found = decode_qr_image(&DynamicImage::ImageLuma8(img.clone()), BUDGET);
            !found.is_ok_and(|found| found == [text.clone()])
        })
        .map(|(i, _)| i)
        .collect();
    assert!(
        failed.is_empty(),
        "frames {failed:?} of {BENCHMARK_FRAMES} not decoded"
    );
    eprintln!(
        "{BENCHMARK_FRAMES} benchmark frames decoded in {:?}",
        started.elapsed()
    );
}
