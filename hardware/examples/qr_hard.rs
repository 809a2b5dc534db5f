//! Decode the hard phone-screen frames (`hardware::qr_hard_set`) with our decoder and
//! with rxing alone, one line per frame:
//! `cargo run --release -p hardware --example qr_hard -- [per cell] [seed] [dump dir]`
//! (defaults: 6 frames per cell, seed 1). With a dump dir, each frame is written there
//! as `frame-NNNN.pgm`, listed in `list.txt`, for other decoders (the perf harness
//! compares with ZXing-C++ that way).

use std::time::Duration;

use image::DynamicImage;

/// The CPU time the calling thread has used: decoding is timed in it, as the perf
/// harness does, so a busy machine does not inflate the figures.
fn cpu() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(
        Duration::ZERO,
        |t| {
            Duration::new(
                t.tv_sec().unsigned_abs(),
                u32::try_from(t.tv_nsec()).unwrap_or(0),
            )
        },
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let per_cell = args.next().and_then(|a| a.parse().ok()).unwrap_or(6);
    let seed = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let dump = args.next().map(std::path::PathBuf::from);
    let frames = hardware::qr_hard_set(seed, per_cell);
    let mut list = String::new();
    let (mut ours_read, mut rxing_read) = (0, 0);
    let (mut ours_times, mut rxing_times) = (Vec::new(), Vec::new());
    for (i, frame) in frames.iter().enumerate() {
        if let Some(dir) = &dump {
            let name = format!("frame-{i:04}.pgm");
            let (w, h) = frame.image.dimensions();
            let mut bytes = format!("P5\n{w} {h}\n255\n").into_bytes();
            bytes.extend_from_slice(frame.image.as_raw());
            std::fs::write(dir.join(&name), bytes).expect("write frame");
            list.push_str(&name);
            list.push('\n');
        }
        let img = DynamicImage::ImageLuma8(frame.image.clone());
        let started = cpu();
        let ours = hardware::decode_qr_image(&img, hardware::QR_FRAME_BUDGET)
            .is_ok_and(|found| found.contains(&frame.text));
        let ours_time = cpu() - started;
        let (w, h) = frame.image.dimensions();
        let started = cpu();
        let mut hints = rxing::DecodeHints {
            TryHarder: Some(true),
            AlsoInverted: Some(true),
            ..rxing::DecodeHints::default()
        };
        let rx = rxing::helpers::detect_in_luma_slice_with_hints(
            frame.image.as_raw(),
            w,
            h,
            Some(rxing::BarcodeFormat::QR_CODE),
            &mut hints,
        )
        .is_ok_and(|r| r.getText() == frame.text);
        let rxing_time = cpu() - started;
        ours_read += usize::from(ours);
        rxing_read += usize::from(rx);
        ours_times.push(ours_time);
        rxing_times.push(rxing_time);
        let s = &frame.style;
        println!(
            "{i}\t{:?}\t{}x{}\t{:?}\t{:.2}\t{}\t{:.1}\t{}\t{:.1}\t{}",
            frame.condition,
            s.frame_size.0,
            s.frame_size.1,
            s.ecc,
            s.module_px,
            u8::from(ours),
            ours_time.as_secs_f64() * 1e3,
            u8::from(rx),
            rxing_time.as_secs_f64() * 1e3,
            frame.text,
        );
    }
    if let Some(dir) = &dump {
        std::fs::write(dir.join("list.txt"), list).expect("write list");
    }
    let at = |times: &mut Vec<Duration>, q: f64| {
        times.sort();
        times[((times.len() - 1) as f64 * q).round() as usize]
    };
    eprintln!(
        "{} frames: ours {ours_read} (p50 {:?}, p99 {:?}), rxing {rxing_read} (p50 {:?}, p99 {:?})",
        frames.len(),
        at(&mut ours_times, 0.5),
        at(&mut ours_times, 0.99),
        at(&mut rxing_times, 0.5),
        at(&mut rxing_times, 0.99),
    );
}
