//! Decode the generated phone-screen frames and print the success rate and the time per
//! frame: `cargo run --release -p hardware --example qr_bench -- [frames] [seed] [budget ms]`
//! (defaults: 200 frames, seed 1, 50 ms).
//!
//! With `QR_BENCH_DUMP=<dir>`, frames that fail to decode are saved there as PNG.

use std::time::{Duration, Instant};

use image::DynamicImage;

fn main() {
    let mut args = std::env::args().skip(1);
    let n = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let seed = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let budget = Duration::from_millis(args.next().and_then(|a| a.parse().ok()).unwrap_or(50));
    let frames = hardware::qr_benchmark_set(seed, n);
    let mut times = Vec::with_capacity(frames.len());
    let mut failed = Vec::new();
    let dump = std::env::var_os("QR_BENCH_DUMP").map(std::path::PathBuf::from);
    for (i, (text, frame)) in frames.into_iter().enumerate() {
        let img = DynamicImage::ImageLuma8(frame);
        if let Some(dir) = &dump
            && i < 3
        {
            let _ = img.save(dir.join(format!("frame-{i}.png")));
        }
        let started = Instant::now();
        let found = hardware::decode_qr_image(&img, budget);
        times.push(started.elapsed());
        if !found.is_ok_and(|found| found == [text.clone()]) {
            failed.push(i);
            if let Some(dir) = &dump
                && let Err(err) = img.save(dir.join(format!("failed-{i}.png")))
            {
                eprintln!("cannot save frame {i}: {err}");
            }
        }
    }
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "{} frames, {} decoded ({:.1} %), p50 {:?}, p99 {:?}, max {:?}; failed: {failed:?}",
        times.len(),
        times.len() - failed.len(),
        100.0 * (times.len() - failed.len()) as f64 / times.len() as f64,
        at(0.5),
        at(0.99),
        at(1.0),
    );
}
