//! QR codes as a phone shows them to the till's camera: generated frames (see
//! `hardware::render_phone_frame`) with a customer-token-shaped payload must decode to
//! the exact text, one distortion at a time, all at once, and over a fixed benchmark
//! set; and a sample of the hard conditions (keystone, moiré, JPEG, motion blur, uneven
//! light, a thumb, small imagers, levels L and Q) must be read too.

use std::time::{Duration, Instant};

use hardware::{
    Corner, HardCondition, PhoneFrame, QrEcc, QrError, decode_qr_file, decode_qr_image,
    qr_benchmark_set, qr_hard_styles, render_phone_frame,
};
use image::DynamicImage;

/// These tests check decoding, not speed: debug builds are many times slower than the
/// release build the perf harness measures.
const BUDGET: Duration = Duration::from_secs(60);

/// Frames of the benchmark set decoded here (all must be); the perf harness uses more.
const BENCHMARK_FRAMES: usize = 40;

/// "LT2" and 148 base32 characters from a fixed seed: the shape of a customer token.
fn token(seed: u64) -> String {
    const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut text = String::from("LT2");
    for _ in 0..148 {
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
    assert_eq!(img.dimensions(), frame.frame_size);
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
        ..PhoneFrame::default()
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

/// One frame of each hard condition, at the hard end of its range, on both imagers and
/// all three levels; the perf harness reads the whole grid beside ZXing-C++.
fn hard_frames() -> Vec<(&'static str, PhoneFrame)> {
    let small = (640, 480);
    vec![
        (
            "keystone of a third",
            PhoneFrame {
                frame_size: small,
                keystone: 0.33,
                module_px: 3.0,
                rotation_deg: 5.0,
                seed: 21,
                ..PhoneFrame::default()
            },
        ),
        (
            "moiré",
            PhoneFrame {
                ecc: QrEcc::L,
                moire: 0.45,
                screen_pitch_px: 1.15,
                module_px: 2.6,
                rotation_deg: -3.0,
                seed: 22,
                ..PhoneFrame::default()
            },
        ),
        (
            "JPEG at quality 35",
            PhoneFrame {
                frame_size: small,
                ecc: QrEcc::Q,
                jpeg_quality: Some(35),
                module_px: 2.6,
                levels: (20, 230),
                seed: 23,
                ..PhoneFrame::default()
            },
        ),
        (
            "motion blur of 4 px",
            PhoneFrame {
                motion_blur_px: 4.0,
                motion_angle_deg: 20.0,
                module_px: 4.0,
                seed: 24,
                ..PhoneFrame::default()
            },
        ),
        (
            "uneven light in dark mode",
            PhoneFrame {
                frame_size: small,
                uneven_light: 1.0,
                module_px: 3.0,
                inverted: true,
                seed: 25,
                ..PhoneFrame::default()
            },
        ),
        (
            "a thumb over the quiet zone",
            PhoneFrame {
                ecc: QrEcc::L,
                thumb: Some(Corner::BottomLeft),
                module_px: 2.5,
                rotation_deg: -6.0,
                seed: 26,
                ..PhoneFrame::default()
            },
        ),
        (
            "all at once",
            PhoneFrame {
                frame_size: small,
                ecc: QrEcc::Q,
                keystone: -0.15,
                moire: 0.2,
                screen_pitch_px: 0.9,
                jpeg_quality: Some(60),
                motion_blur_px: 3.0,
                motion_angle_deg: 100.0,
                uneven_light: 0.5,
                thumb: Some(Corner::TopRight),
                module_px: 4.0,
                seed: 27,
                ..PhoneFrame::default()
            },
        ),
    ]
}

#[test]
fn hard_conditions_are_read() {
    let failed: Vec<&str> = hard_frames()
        .into_iter()
        .enumerate()
        .filter(|(i, (_, frame))| {
            let text = token(100 + *i as u64);
            let img = render_phone_frame(&text, frame).expect("a token fits in a QR code");
            assert_eq!(img.dimensions(), frame.frame_size);
            let found = decode_qr_image(&DynamicImage::ImageLuma8(img), BUDGET);
            !found.is_ok_and(|found| found == [text])
        })
        .map(|(_, (name, _))| name)
        .collect();
    assert!(failed.is_empty(), "not read: {failed:?}");
}

/// Frames of the perf harness's hard grid (`qr_hard_styles(1, 6)`), one per condition,
/// among the hardest: the keystone and the motion blur are read neither by rxing on
/// the whole frame nor by ZXing-C++; rqrr alone, at any budget, reads neither the
/// JPEG, the motion blur nor the all-at-once frame.
const GRID_SAMPLE: [(usize, HardCondition); 7] = [
    (31, HardCondition::Keystone),
    (48, HardCondition::Moire),
    (73, HardCondition::Jpeg),
    (116, HardCondition::MotionBlur),
    (145, HardCondition::UnevenLight),
    (198, HardCondition::Thumb),
    (236, HardCondition::AllAtOnce),
];

#[test]
fn a_sample_of_the_hard_grid_is_read() {
    let styles = qr_hard_styles(1, 6);
    let failed: Vec<usize> = GRID_SAMPLE
        .into_iter()
        .filter(|&(i, condition)| {
            let (drawn, text, frame) = &styles[i];
            assert_eq!(*drawn, condition, "the grid changed: pick the sample again");
            let img = render_phone_frame(text, frame).expect("a token fits in a QR code");
            let found = decode_qr_image(&DynamicImage::ImageLuma8(img), BUDGET);
            !found.is_ok_and(|found| found == [text.clone()])
        })
        .map(|(i, _)| i)
        .collect();
    assert!(failed.is_empty(), "grid frames not read: {failed:?}");
}

#[test]
fn a_jpeg_photo_of_a_tilted_phone_is_read_from_its_file() {
    let text = token(200);
    let frame = PhoneFrame {
        keystone: 0.25,
        module_px: 3.5,
        rotation_deg: 4.0,
        seed: 31,
        ..PhoneFrame::default()
    };
    let img = render_phone_frame(&text, &frame).expect("a token fits in a QR code");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("till-camera.jpg");
    let mut file = std::fs::File::create(&path).expect("create");
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut file, 50)
        .encode_image(&img)
        .expect("encode jpeg");
    drop(file);
    let scans = decode_qr_file(&path, BUDGET).expect("a readable JPEG");
    let texts: Vec<&str> = scans.iter().map(|scan| scan.text.as_str()).collect();
    assert_eq!(texts, [text.as_str()]);
}

#[test]
fn an_unreadable_frame_gives_nothing_or_a_clear_error() {
    // Tiny modules smeared over four of them: no decoder can read this.
    let frame = PhoneFrame {
        module_px: 2.2,
        motion_blur_px: 10.0,
        motion_angle_deg: 45.0,
        jpeg_quality: Some(35),
        seed: 41,
        ..PhoneFrame::default()
    };
    let img = render_phone_frame(&token(300), &frame).expect("a token fits in a QR code");
    let found = decode_qr_image(&DynamicImage::ImageLuma8(img.clone()), BUDGET);
    assert_eq!(found.expect("searchable"), Vec::<String>::new());

    // A JPEG cut short inside its headers, as a half-written camera file would be (one
    // cut inside the picture data decodes, gray below the cut).
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cut.jpg");
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 50)
        .encode_image(&img)
        .expect("encode jpeg");
    bytes.truncate(100);
    std::fs::write(&path, &bytes).expect("write");
    match decode_qr_file(&path, BUDGET) {
        Err(err @ QrError::Load { .. }) => {
            assert_eq!(
                err.to_string(),
                format!("cannot load image {}", path.display())
            );
        }
        other => panic!("a cut JPEG must be a load error, not {other:?}"),
    }
}
