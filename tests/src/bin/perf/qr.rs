//! The `qr` section: phone-screen QR frames decoded by the till's decoder
//! ([`hardware::decode_qr_image`]), beside rxing (ZXing's Rust port, alone) and
//! ZXing-C++ (its Python binding `zxing-cpp`, in a `python3` subprocess) on the
//! same frames.
//!
//! Decoding is timed in the CPU time of the decoding thread (Python's
//! `time.thread_time` for ZXing-C++), which is what a till that is not
//! shared with other work would see, and what our decoder's budget counts;
//! our wall-clock percentiles are printed beside it.
//!
//! The frames are handed to ZXing-C++ as binary PGM files of exactly the pixels
//! our decoder sees (JPEG frames already compressed and decoded by the
//! generator), so both read the same pixels and the binding needs neither
//! numpy nor Pillow. Without `python3 -c 'import zxingcpp'` the column is
//! skipped, saying so (`python3 -m pip install zxing-cpp`).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use hardware::{HardCondition, HardFrame, IMAGER_SIZES, QrEcc};
use image::DynamicImage;

use crate::{info, percentile, row, thread_cpu, us};

/// Frames in the classic phone-screen set.
const CLASSIC_FRAMES: usize = 300;
/// Frames per cell (condition × imager × level) of the hard set: 7 × 2 × 3 cells.
const HARD_PER_CELL: usize = 6;
/// The goal for the time to decode one frame, at the 99th percentile.
const GOAL_P99: Duration = Duration::from_millis(30);

/// Reads a list of PGM files and prints, per file, the milliseconds of CPU
/// time `read_barcodes` took and the texts it found, tab-separated.
const ZXING_SCRIPT: &str = r#"
import sys, time, zxingcpp
folder = sys.argv[1]
qr = zxingcpp.BarcodeFormat.QRCode
for name in open(folder + "/list.txt").read().split():
    data = open(folder + "/" + name, "rb").read()
    magic, size, depth, pixels = data.split(b"\n", 3)
    width, height = map(int, size.split())
    started = time.thread_time()
    found = zxingcpp.read_barcodes(memoryview(pixels).cast("B", (height, width)), formats=qr)
    ms = (time.thread_time() - started) * 1000
    print(name, "%.3f" % ms, *[r.text for r in found], sep="\t")
"#;

pub fn bench_qr() {
    bench_classic();
    bench_hard();
}

/// Decode success rate and time per 1280×720 frame over the classic set
/// (rotated, scaled, blurred, low contrast, inverted, noisy).
fn bench_classic() {
    let frames = hardware::qr_benchmark_set(1, CLASSIC_FRAMES);
    let mut samples = Vec::with_capacity(frames.len());
    let mut read = 0usize;
    for (text, frame) in &frames {
        let image = DynamicImage::ImageLuma8(frame.clone());
        let t = thread_cpu();
        let decoded =
            hardware::decode_qr_image(&image, hardware::QR_FRAME_BUDGET).unwrap_or_default();
        samples.push(thread_cpu().saturating_sub(t));
        if decoded.iter().any(|d| d == text) {
            read += 1;
        }
    }
    samples.sort();
    let rate = read as f64 / frames.len().max(1) as f64;
    row(
        &format!("QR classic frames read ({} of {})", read, frames.len()),
        format!("{:.1} %", rate * 100.0),
        "≥ 99 %".into(),
        0.99 / rate.max(f64::MIN_POSITIVE),
    );
    info(
        "QR decode per 1280×720 frame (CPU), p50",
        format!("{:.1} ms", ms(percentile(&samples, 0.5))),
        "-".into(),
    );
    let p99 = percentile(&samples, 0.99);
    row(
        "QR decode per 1280×720 frame (CPU), p99",
        format!("{:.1} ms", ms(p99)),
        format!("{} ms", GOAL_P99.as_millis()),
        us(p99) / us(GOAL_P99),
    );
}

/// One decoder's results over the hard set: whether each frame was read, and
/// the time each took.
struct Column {
    read: Vec<bool>,
    /// CPU time of each frame.
    times: Vec<Duration>,
    /// Wall time of each frame, where measured.
    wall: Vec<Duration>,
}

impl Column {
    fn count(&self, frames: &[HardFrame], keep: impl Fn(&HardFrame) -> bool) -> usize {
        frames
            .iter()
            .zip(&self.read)
            .filter(|(frame, read)| **read && keep(frame))
            .count()
    }

    fn new(n: usize) -> Self {
        Self {
            read: Vec::with_capacity(n),
            times: Vec::with_capacity(n),
            wall: Vec::with_capacity(n),
        }
    }

    fn percentile(&self, q: f64) -> Duration {
        let mut sorted = self.times.clone();
        sorted.sort();
        percentile(&sorted, q)
    }

    fn wall_percentile(&self, q: f64) -> Duration {
        let mut sorted = self.wall.clone();
        sorted.sort();
        percentile(&sorted, q)
    }
}

/// The grid of hard conditions, read by each decoder, side by side.
fn bench_hard() {
    let started = Instant::now();
    let frames = hardware::qr_hard_set(1, HARD_PER_CELL);
    println!(
        "\nhard frames: {} ({} conditions × {} imagers × levels L, M, Q × {HARD_PER_CELL}; \
         2.2–5 px per module), generated in {:.1} s",
        frames.len(),
        HardCondition::ALL.len(),
        IMAGER_SIZES.len(),
        started.elapsed().as_secs_f64()
    );
    let ours = decode_ours(&frames);
    let rxing = decode_rxing(&frames);
    let zxing = match decode_zxing(&frames) {
        Ok(column) => Some(column),
        Err(why) => {
            println!("ZXing-C++ column skipped: {why}");
            None
        }
    };

    let mut header = format!(
        "{:<28} {:>6} {:>6} {:>6}",
        "condition", "frames", "ours", "rxing"
    );
    if zxing.is_some() {
        header.push_str(&format!(" {:>9}", "zxing-cpp"));
    }
    println!("{header}");
    let line = |name: &str, keep: &dyn Fn(&HardFrame) -> bool| {
        let total = frames.iter().filter(|f| keep(f)).count();
        let mut text = format!(
            "{name:<28} {total:>6} {:>6} {:>6}",
            ours.count(&frames, keep),
            rxing.count(&frames, keep)
        );
        if let Some(zxing) = &zxing {
            let _ = write!(text, " {:>9}", zxing.count(&frames, keep));
        }
        println!("{text}");
    };
    for condition in HardCondition::ALL {
        line(condition.name(), &|f| f.condition == condition);
    }
    for (w, h) in IMAGER_SIZES {
        line(&format!("imager {w}×{h}"), &|f| {
            f.style.frame_size == (w, h)
        });
    }
    for ecc in QrEcc::ALL {
        line(&format!("level {ecc:?}"), &|f| f.style.ecc == ecc);
    }
    for (lo, hi) in [(2.2, 3.0), (3.0, 4.0), (4.0, 5.0)] {
        line(&format!("{lo:.1}–{hi:.1} px per module"), &|f| {
            (lo..hi).contains(&f.style.module_px)
        });
    }
    line("all", &|_| true);

    let n = frames.len();
    let read = ours.count(&frames, |_| true);
    match &zxing {
        Some(zxing) => {
            let theirs = zxing.count(&frames, |_| true);
            row(
                &format!("QR hard frames read by ours ({read} of {n})"),
                format!("{read}"),
                format!("ZXing {theirs}"),
                theirs as f64 / read.max(1) as f64,
            );
            let only_theirs: Vec<usize> =
                (0..n).filter(|&i| zxing.read[i] && !ours.read[i]).collect();
            if !only_theirs.is_empty() {
                println!("  read by ZXing-C++ only: frames {only_theirs:?}");
            }
        }
        None => info(
            &format!("QR hard frames read by ours (of {n})"),
            format!("{read}"),
            "no ZXing".into(),
        ),
    }
    let timing = |name: &str, column: &Column| {
        info(
            &format!("  {name} per frame (CPU), p50"),
            format!("{:.1} ms", ms(column.percentile(0.5))),
            "-".into(),
        );
    };
    timing("ours", &ours);
    let p99 = ours.percentile(0.99);
    row(
        "  ours per frame (CPU), p99",
        format!("{:.1} ms", ms(p99)),
        format!("{} ms", GOAL_P99.as_millis()),
        us(p99) / us(GOAL_P99),
    );
    info(
        "  ours per frame (wall clock), p50 / p99",
        format!(
            "{:.1} / {:.1} ms",
            ms(ours.wall_percentile(0.5)),
            ms(ours.wall_percentile(0.99))
        ),
        "load above".into(),
    );
    let others = [("rxing", Some(&rxing)), ("zxing-cpp", zxing.as_ref())];
    for (name, column) in others {
        if let Some(column) = column {
            timing(name, column);
            info(
                &format!("  {name} per frame (CPU), p99"),
                format!("{:.1} ms", ms(column.percentile(0.99))),
                format!("{} ms", GOAL_P99.as_millis()),
            );
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn decode_ours(frames: &[HardFrame]) -> Column {
    let mut column = Column::new(frames.len());
    for frame in frames {
        let image = DynamicImage::ImageLuma8(frame.image.clone());
        let (cpu, wall) = (thread_cpu(), Instant::now());
        let found = hardware::decode_qr_image(&image, hardware::QR_FRAME_BUDGET);
        column.times.push(thread_cpu().saturating_sub(cpu));
        column.wall.push(wall.elapsed());
        column
            .read
            .push(found.is_ok_and(|found| found.contains(&frame.text)));
    }
    column
}

/// rxing alone, as its README suggests: QR only, trying harder, both polarities.
fn decode_rxing(frames: &[HardFrame]) -> Column {
    let mut column = Column::new(frames.len());
    for frame in frames {
        let (w, h) = frame.image.dimensions();
        let t = thread_cpu();
        let mut hints = rxing::DecodeHints {
            TryHarder: Some(true),
            AlsoInverted: Some(true),
            ..rxing::DecodeHints::default()
        };
        let found = rxing::helpers::detect_in_luma_slice_with_hints(
            frame.image.as_raw(),
            w,
            h,
            Some(rxing::BarcodeFormat::QR_CODE),
            &mut hints,
        );
        column.times.push(thread_cpu().saturating_sub(t));
        column
            .read
            .push(found.is_ok_and(|found| found.getText() == frame.text));
    }
    column
}

/// ZXing-C++ through `python3`, on the frames written as PGM files.
fn decode_zxing(frames: &[HardFrame]) -> Result<Column, String> {
    let probe = Command::new("python3")
        .args(["-c", "import zxingcpp"])
        .output()
        .map_err(|err| format!("no python3 ({err})"))?;
    if !probe.status.success() {
        return Err("python3 has no zxingcpp module (python3 -m pip install zxing-cpp)".to_owned());
    }
    let dir = tempfile::tempdir().map_err(|err| err.to_string())?;
    let mut list = String::new();
    for (i, frame) in frames.iter().enumerate() {
        let name = format!("frame-{i:04}.pgm");
        write_pgm(&dir.path().join(&name), &frame.image).map_err(|err| err.to_string())?;
        list.push_str(&name);
        list.push('\n');
    }
    std::fs::write(dir.path().join("list.txt"), list).map_err(|err| err.to_string())?;
    let output = Command::new("python3")
        .args(["-c", ZXING_SCRIPT])
        .arg(dir.path())
        .output()
        .map_err(|err| err.to_string())?;
    if !output.status.success() {
        return Err(format!(
            "the zxing-cpp script failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut column = Column {
        read: vec![false; frames.len()],
        times: vec![Duration::ZERO; frames.len()],
        wall: Vec::new(),
    };
    let mut seen = HashSet::new();
    for line in stdout.lines() {
        let mut fields = line.split('\t');
        let (Some(name), Some(millis)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Some(i) = name
            .strip_prefix("frame-")
            .and_then(|rest| rest.strip_suffix(".pgm"))
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&i| i < frames.len())
        else {
            continue;
        };
        seen.insert(i);
        column.times[i] = Duration::from_secs_f64(millis.parse::<f64>().unwrap_or(0.0) / 1e3);
        column.read[i] = fields.any(|text| text == frames[i].text);
    }
    if seen.len() != frames.len() {
        return Err(format!(
            "the zxing-cpp script answered for {} of {} frames",
            seen.len(),
            frames.len()
        ));
    }
    Ok(column)
}

/// `img` as a binary PGM (P5) file.
fn write_pgm(path: &Path, img: &image::GrayImage) -> std::io::Result<()> {
    let mut bytes = format!("P5\n{} {}\n255\n", img.width(), img.height()).into_bytes();
    bytes.extend_from_slice(img.as_raw());
    std::fs::write(path, bytes)
}
