//! QR codes from still images (camera frames, screenshots), via rxing and `rqrr`.

use std::borrow::Cow;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use image::{DynamicImage, GrayImage, ImageReader, Limits, imageops};
use rqrr::BitGrid;
use tracing::{debug, info_span, warn};

use crate::framing::clean;
use crate::scan::Scan;
use crate::{qr_grid, qr_rxing};

/// AIM symbology identifier of a QR Code (model 2, no ECI).
pub const QR_SYMBOLOGY: &str = "]Q1";

/// The time a live camera frame may take to decode: the harness's goal is a p99 of
/// 30 ms per frame, and a frame checks the budget between passes.
pub const QR_FRAME_BUDGET: Duration = Duration::from_millis(25);

/// Largest image side accepted, in pixels.
const MAX_SIDE: u32 = 16_384;
/// Largest image accepted, in pixels (about a 50 MP camera frame).
const MAX_PIXELS: u64 = 50_000_000;
/// Smallest side that can hold a QR code (version 1 is 21 modules wide).
const MIN_SIDE: u32 = 21;
/// Regions whose longer side is at most this are retried upscaled 2× when nothing was found.
const UPSCALE_MAX_SIDE: u32 = 1_024;
/// Images smaller than this are searched whole.
const ROI_MIN_PIXELS: u64 = 400_000;
/// Side of the blocks whose variance marks busy regions, in pixels.
const ROI_BLOCK: u32 = 16;
/// A block is busy when its variance exceeds 1.25 times the median block's plus this.
const ROI_MIN_VARIANCE: u64 = 40;
/// Clusters of fewer busy blocks than this are ignored (a code is rarely under 48 px).
const ROI_MIN_BLOCKS: usize = 6;
/// Blocks of margin around a busy cluster (for the quiet zone and the patterns' search).
const ROI_MARGIN: usize = 2;

/// Why an image could not be searched for QR codes.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    /// The file could not be read or decoded as an image.
    #[error("cannot load image {path}")]
    Load {
        /// The image file.
        path: PathBuf,
        /// What went wrong.
        source: image::ImageError,
    },
    /// The image exceeds the size limits.
    #[error("image of {width}x{height} pixels is too large to search")]
    TooLarge {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
}

/// Decode every QR code in `img`, in order of discovery, without duplicates.
///
/// Passes, in order, until one finds a code. The first always runs; a later one is
/// skipped when, at its engine's mean cost per pixel so far, it would end past
/// `budget`, counted in the calling thread's CPU time (the wall time of an idle till).
/// Each pass runs in both polarities (the inverse for light-on-dark codes, phones in
/// dark mode); the polarity the largest busy region looks like (see
/// `looks_light_on_dark`, right in 295 of the 300 classic frames) goes first:
///
/// 1. rxing (see `qr_rxing`) on the busy regions;
/// 2. rqrr on them;
/// 3. rxing on them in the other polarity, for a wrong guess (second, before rqrr,
///    when the only region is the whole frame: rqrr costs some three times rxing's
///    time a pixel);
/// 4. and 5. rqrr on them after a 3×3 and a 5×5 mean filter, for noisy frames;
/// 6. rxing on regions up to 1024 pixels a side upscaled 2×, for codes of two or three
///    pixels a module;
/// 7. rqrr on them, which alone reads low-contrast noisy codes of 3–4 px a module;
/// 8. and 9. rxing on the whole frame in both polarities, when the regions are parts
///    of it (a region cut short by a thumb or a glare);
/// 10. to 14. passes 2, 4 to 7 in the other polarity.
///
/// rqrr's passes search only the busy regions of large frames (clusters of
/// high-variance blocks), so a phone on a counter costs a fraction of the frame; a code
/// rqrr locates but cannot decode is re-read from the gray image with a refined
/// geometry (see `qr_grid`). rxing reads the codes rqrr misses under keystone, JPEG,
/// moiré, glare and a thumb over the quiet zone at a tenth of rqrr's cost, and rqrr
/// with its re-reading reads blurred and tiny codes rxing misses: see ARCHITECTURE.md.
///
/// # Errors
///
/// [`QrError::TooLarge`] for images over 16384 pixels a side or 50 megapixels.
pub fn decode_qr_image(img: &DynamicImage, budget: Duration) -> Result<Vec<String>, QrError> {
    let started = Stopwatch::start();
    let (width, height) = (img.width(), img.height());
    if u64::from(width) * u64::from(height) > MAX_PIXELS || width.max(height) > MAX_SIDE {
        return Err(QrError::TooLarge { width, height });
    }
    if width.min(height) < MIN_SIDE {
        return Ok(Vec::new());
    }
    let _span = info_span!("decode_qr", width, height).entered();
    // Frames are usually 8-bit gray already: they are read in place, and a region that
    // is the whole frame is not copied (a 1280×720 copy costs its page faults).
    let gray: Cow<'_, GrayImage> = match img {
        DynamicImage::ImageLuma8(gray) => Cow::Borrowed(gray),
        other => Cow::Owned(other.to_luma8()),
    };
    let gray = gray.as_ref();
    let whole = [Cow::Borrowed(gray)];
    let rois: Vec<Cow<'_, GrayImage>> = regions_of_interest(gray)
        .into_iter()
        .map(|r| {
            if (r.width, r.height) == gray.dimensions() {
                Cow::Borrowed(gray)
            } else {
                Cow::Owned(crop(gray, r))
            }
        })
        .collect();
    use Engine::{Rqrr, Rxing};
    // (name, engine, whole image or regions, pixels per region pixel, preparation)
    type Pass<'p> = (
        &'static str,
        Engine,
        &'p [Cow<'p, GrayImage>],
        f64,
        &'p Prepare<'p>,
    );
    // Preparations: a region as it is, inverted, smoothed, upscaled.
    fn upscaled(region: &GrayImage) -> Option<GrayImage> {
        (region.width().max(region.height()) <= UPSCALE_MAX_SIDE).then(|| upscale2(region))
    }
    fn same(region: &GrayImage) -> Option<Cow<'_, GrayImage>> {
        Some(Cow::Borrowed(region))
    }
    fn inverse(region: &GrayImage) -> Option<Cow<'_, GrayImage>> {
        Some(Cow::Owned(inverted(region)))
    }
    fn smoothed(region: &GrayImage) -> Option<Cow<'_, GrayImage>> {
        Some(Cow::Owned(mean3(region)))
    }
    fn smoothed_inverse(region: &GrayImage) -> Option<Cow<'_, GrayImage>> {
        Some(Cow::Owned(inverted(&mean3(region))))
    }
    fn smoother(region: &GrayImage) -> Option<Cow<'_, GrayImage>> {
        Some(Cow::Owned(qr_grid::box_mean(region, 2)))
    }
    fn smoother_inverse(region: &GrayImage) -> Option<Cow<'_, GrayImage>> {
        Some(Cow::Owned(inverted(&qr_grid::box_mean(region, 2))))
    }
    fn upscaled_same(region: &GrayImage) -> Option<Cow<'_, GrayImage>> {
        upscaled(region).map(Cow::Owned)
    }
    fn upscaled_inverse(region: &GrayImage) -> Option<Cow<'_, GrayImage>> {
        upscaled(region).map(|up| Cow::Owned(inverted(&up)))
    }

    // Each pass with its light-on-dark twin.
    let pairs: [(Pass<'_>, Pass<'_>); 6] = [
        (
            ("rxing", Rxing, &rois, 1.0, &same),
            ("rxing inverted", Rxing, &rois, 1.0, &inverse),
        ),
        (
            ("grayscale", Rqrr, &rois, 1.0, &same),
            ("inverted", Rqrr, &rois, 1.0, &inverse),
        ),
        (
            ("smoothed", Rqrr, &rois, 1.0, &smoothed),
            ("smoothed inverted", Rqrr, &rois, 1.0, &smoothed_inverse),
        ),
        (
            ("smoothed more", Rqrr, &rois, 1.0, &smoother),
            (
                "smoothed more inverted",
                Rqrr,
                &rois,
                1.0,
                &smoother_inverse,
            ),
        ),
        (
            ("rxing upscaled", Rxing, &rois, 4.0, &upscaled_same),
            (
                "rxing upscaled inverted",
                Rxing,
                &rois,
                4.0,
                &upscaled_inverse,
            ),
        ),
        (
            ("upscaled", Rqrr, &rois, 4.0, &upscaled_same),
            ("upscaled inverted", Rqrr, &rois, 4.0, &upscaled_inverse),
        ),
    ];
    // The polarity the frame looks like goes first: every pass in that polarity, then
    // the other polarity's, but for rxing's cheap pass on the busy regions, which
    // follows at once. A noisy frame thus gets its smoothed passes within the budget,
    // and a light-on-dark one its inverted passes, instead of spending it on passes of
    // the wrong polarity or on the whole frame.
    let light_on_dark = looks_light_on_dark(rois.first().map_or(gray, AsRef::as_ref));
    let (mut likely, mut other): (Vec<Pass<'_>>, Vec<Pass<'_>>) = pairs
        .iter()
        .map(|&(normal, inverse)| {
            if light_on_dark {
                (inverse, normal)
            } else {
                (normal, inverse)
            }
        })
        .unzip();
    let split = rois.len() != 1 || rois[0].dimensions() != gray.dimensions();
    let second_rxing = other.remove(0);
    likely.insert(if split { 2 } else { 1 }, second_rxing);
    // rxing on the whole frame when the regions are parts of it (a code whose region
    // was cut short by a thumb or a glare is still read there), after the likely
    // polarity's passes on the regions, the upscaled ones included.
    let (whole_likely, whole_other): (Pass<'_>, Pass<'_>) = (
        ("rxing whole", Rxing, &whole, 1.0, &same),
        ("rxing whole inverted", Rxing, &whole, 1.0, &inverse),
    );
    let whole_rxing = if light_on_dark {
        [whole_other, whole_likely]
    } else {
        [whole_likely, whole_other]
    };
    let upscaled_passes = likely.split_off(5);
    let passes: Vec<Pass<'_>> = likely
        .into_iter()
        .chain(upscaled_passes)
        .chain(whole_rxing.into_iter().filter(|_| split))
        .chain(other)
        .collect();
    let mut found = Vec::new();
    let mut first = true;
    // Time and pixels of each engine's steps so far, to predict the next one's cost.
    let mut costs = [(0.0_f64, 0.0_f64); 2];
    'passes: for (pass, engine, regions, scale, prepare) in passes {
        for region in regions {
            let pixels = f64::from(region.width()) * f64::from(region.height()) * scale;
            let per_pixel = engine.per_pixel(&costs);
            let expected = Duration::try_from_secs_f64(per_pixel * pixels).unwrap_or(budget);
            if !first && started.elapsed() + expected >= budget {
                debug!(elapsed = ?started.elapsed(), ?budget, pass, "QR time budget used up");
                break 'passes;
            }
            first = false;
            let step = Stopwatch::start();
            if let Some(image) = prepare(region) {
                match engine {
                    Rxing => add_texts(pass, qr_rxing::read(&image), &mut found),
                    Rqrr => search(pass, &image, &mut found),
                }
            }
            let cost = &mut costs[engine as usize];
            cost.0 += step.elapsed().as_secs_f64();
            cost.1 += pixels;
        }
        if !found.is_empty() {
            break;
        }
    }
    Ok(found)
}

/// Time the calling thread spent computing since the start (wall time where the
/// thread's CPU clock cannot be read). A decoding budget counted in it buys the same
/// passes on a busy till as on an idle one, so what a frame reads does not depend on
/// the load; on an idle till it is the wall time.
struct Stopwatch {
    cpu: Option<Duration>,
    wall: Instant,
}

impl Stopwatch {
    fn start() -> Self {
        Self {
            cpu: thread_cpu(),
            wall: Instant::now(),
        }
    }

    fn elapsed(&self) -> Duration {
        match (self.cpu, thread_cpu()) {
            (Some(start), Some(now)) => now.saturating_sub(start),
            _ => self.wall.elapsed(),
        }
    }
}

/// The CPU time the calling thread has used.
fn thread_cpu() -> Option<Duration> {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID).ok()?;
    Some(Duration::new(
        u64::try_from(t.tv_sec()).ok()?,
        u32::try_from(t.tv_nsec()).ok()?,
    ))
}

/// The decoders `decode_qr_image` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Engine {
    Rxing = 0,
    Rqrr = 1,
}

impl Engine {
    /// rqrr's search costs about this many times rxing's per pixel on a busy region
    /// (1–3× measured on the classic frames of the perf harness), for predicting its
    /// first step.
    const RQRR_PER_RXING: f64 = 3.0;

    /// The predicted seconds per pixel of this engine's next step, from the (seconds,
    /// pixels) of each engine's steps so far; 0 when nothing has run.
    fn per_pixel(self, costs: &[(f64, f64); 2]) -> f64 {
        let mean = |(spent, pixels): (f64, f64)| (pixels > 0.0).then(|| spent / pixels);
        let (rxing, rqrr) = (mean(costs[0]), mean(costs[1]));
        match self {
            Self::Rxing => rxing.or(rqrr.map(|c| c / Self::RQRR_PER_RXING)),
            Self::Rqrr => rqrr.or(rxing.map(|c| c * Self::RQRR_PER_RXING)),
        }
        .unwrap_or(0.0)
    }
}

/// Whether `gray` looks like a light code on a dark screen. Between the region's
/// 2nd and 98th percentile, its darkest quarter of gray levels (dark modules, and a
/// dark-mode screen) is compared with its lightest quarter (light modules, and the
/// usual light screen and quiet zone): a code's modules are about half and half,
/// so the screen around it tips the balance. The levels between, where the
/// background behind the phone usually lies, are not counted: counted on either
/// side of the middle, a gray counter or a dark bezel was taken for the screen in
/// one classic frame of six.
fn looks_light_on_dark(gray: &GrayImage) -> bool {
    let mut histogram = [0u64; 256];
    for &v in gray.as_raw() {
        histogram[usize::from(v)] += 1;
    }
    let total: u64 = histogram.iter().sum();
    let percentile = |q: u64| {
        let mut seen = 0;
        for (v, &n) in histogram.iter().enumerate() {
            seen += n;
            if seen * 100 >= total * q {
                return v;
            }
        }
        255
    };
    let (low, high) = (percentile(2), percentile(98));
    let quarter = (high - low) / 4;
    let dark: u64 = histogram[..=low + quarter].iter().sum();
    let light: u64 = histogram[high - quarter..].iter().sum();
    dark > light
}

/// The pixels of `gray` inside `rect` (which lies within it), copied row by row.
fn crop(gray: &GrayImage, rect: Rect) -> GrayImage {
    let (x, w) = (rect.x as usize, rect.width as usize);
    let mut pixels = Vec::with_capacity(w * rect.height as usize);
    for row in gray
        .as_raw()
        .chunks_exact(gray.width() as usize)
        .skip(rect.y as usize)
        .take(rect.height as usize)
    {
        pixels.extend_from_slice(&row[x..x + w]);
    }
    GrayImage::from_raw(rect.width, rect.height, pixels).unwrap_or_else(|| {
        imageops::crop_imm(gray, rect.x, rect.y, rect.width, rect.height).to_image()
    })
}

/// `gray` upscaled 2× bilinearly (each output pixel ¾ of its nearer source pixel and
/// ¼ of the next, per axis), edges clamped.
fn upscale2(gray: &GrayImage) -> GrayImage {
    let (w, h) = (gray.width() as usize, gray.height() as usize);
    let src = gray.as_raw();
    // Horizontal pass into 4× fixed point, then vertical into 16× and rounded.
    let mut wide = vec![0u16; 2 * w * h];
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        for x in 0..w {
            let (left, right) = (row[x.saturating_sub(1)], row[(x + 1).min(w - 1)]);
            let c = 3 * u16::from(row[x]);
            wide[y * 2 * w + 2 * x] = c + u16::from(left);
            wide[y * 2 * w + 2 * x + 1] = c + u16::from(right);
        }
    }
    let mut out = vec![0u8; 4 * w * h];
    for y in 0..h {
        let (above, below) = (y.saturating_sub(1), (y + 1).min(h - 1));
        for x in 0..2 * w {
            let c = 3 * wide[y * 2 * w + x];
            let up = (c + wide[above * 2 * w + x] + 8) / 16;
            let down = (c + wide[below * 2 * w + x] + 8) / 16;
            out[(2 * y) * 2 * w + x] = u8::try_from(up).unwrap_or(u8::MAX);
            out[(2 * y + 1) * 2 * w + x] = u8::try_from(down).unwrap_or(u8::MAX);
        }
    }
    GrayImage::from_raw(gray.width() * 2, gray.height() * 2, out).unwrap_or_else(|| gray.clone())
}

/// How one pass prepares a region; `None` skips the region.
type Prepare<'a> = dyn Fn(&GrayImage) -> Option<Cow<'_, GrayImage>> + 'a;

/// A rectangle of an image, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rect {
    x: u32,
    y: u32,
    width: u32,
    height: u32,
}

impl Rect {
    fn area(self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    fn overlaps(self, other: Self) -> bool {
        self.x < other.x + other.width
            && other.x < self.x + self.width
            && self.y < other.y + other.height
            && other.y < self.y + self.height
    }

    fn union(self, other: Self) -> Self {
        let (x, y) = (self.x.min(other.x), self.y.min(other.y));
        let right = (self.x + self.width).max(other.x + other.width);
        let bottom = (self.y + self.height).max(other.y + other.height);
        Self {
            x,
            y,
            width: right - x,
            height: bottom - y,
        }
    }
}

/// The parts of `gray` worth searching, largest first: clusters of 16×16 blocks whose
/// variance stands out from the image's typical (median) block, with a margin. A code
/// is such a cluster whatever its polarity, contrast or noise, while flat background,
/// gradients and sensor noise are not. The whole image when it is small, when nothing
/// stands out, or when the regions would cover most of it anyway.
fn regions_of_interest(gray: &GrayImage) -> Vec<Rect> {
    let (w, h) = gray.dimensions();
    let whole = vec![Rect {
        x: 0,
        y: 0,
        width: w,
        height: h,
    }];
    if u64::from(w) * u64::from(h) < ROI_MIN_PIXELS {
        return whole;
    }
    let (bw, bh) = ((w / ROI_BLOCK) as usize, (h / ROI_BLOCK) as usize);
    let mut sums = vec![(0u64, 0u64); bw * bh];
    // A row's run of pixels in one block is summed on its own (vectorized; 32 bits
    // hold the squares of up to 66 000 pixels), the last block taking the row's
    // leftover.
    let run_sums = |run: &[u8]| {
        run.iter().fold((0u32, 0u32), |(sum, sq), &v| {
            let v = u32::from(v);
            (sum + v, sq + v * v)
        })
    };
    let block = ROI_BLOCK as usize;
    for (y, row) in gray.as_raw().chunks_exact(w as usize).enumerate() {
        let by = (y / block).min(bh - 1);
        let cells = &mut sums[by * bw..(by + 1) * bw];
        let (body, rest) = row.split_at(block * (bw - 1));
        for (cell, run) in cells.iter_mut().zip(body.chunks_exact(block)) {
            let (sum, sq) = run_sums(run);
            cell.0 += u64::from(sum);
            cell.1 += u64::from(sq);
        }
        let (sum, sq) = run_sums(rest);
        cells[bw - 1].0 += u64::from(sum);
        cells[bw - 1].1 += u64::from(sq);
    }
    // Blocks at the right and bottom edges absorb the leftover pixels.
    let count = |bx: usize, by: usize| {
        let cw = if bx + 1 == bw {
            w - ROI_BLOCK * (bw as u32 - 1)
        } else {
            ROI_BLOCK
        };
        let ch = if by + 1 == bh {
            h - ROI_BLOCK * (bh as u32 - 1)
        } else {
            ROI_BLOCK
        };
        u64::from(cw * ch)
    };
    let variances: Vec<u64> = (0..bw * bh)
        .map(|i| {
            let (sum, sq) = sums[i];
            let n = count(i % bw, i / bw);
            (sq * n).saturating_sub(sum * sum) / (n * n)
        })
        .collect();
    let mut sorted = variances.clone();
    let (_, &mut median, _) = sorted.select_nth_unstable(variances.len() / 2);
    let threshold = median + median / 4 + ROI_MIN_VARIANCE;
    let mut active: Vec<bool> = variances.iter().map(|&v| v > threshold).collect();

    let mut rects: Vec<Rect> = Vec::new();
    for start in 0..active.len() {
        if !active[start] {
            continue;
        }
        // Flood the 8-connected cluster of busy blocks.
        active[start] = false;
        let mut stack = vec![start];
        let (mut x0, mut y0, mut x1, mut y1) = (bw, bh, 0, 0);
        let mut blocks = 0;
        while let Some(i) = stack.pop() {
            let (bx, by) = (i % bw, i / bw);
            (x0, y0, x1, y1) = (x0.min(bx), y0.min(by), x1.max(bx), y1.max(by));
            blocks += 1;
            for ny in by.saturating_sub(1)..=(by + 1).min(bh - 1) {
                for nx in bx.saturating_sub(1)..=(bx + 1).min(bw - 1) {
                    let j = ny * bw + nx;
                    if active[j] {
                        active[j] = false;
                        stack.push(j);
                    }
                }
            }
        }
        if blocks < ROI_MIN_BLOCKS {
            continue;
        }
        let block = |b: usize| {
            u32::try_from(b)
                .unwrap_or(u32::MAX)
                .saturating_mul(ROI_BLOCK)
        };
        let (left, top) = (
            block(x0.saturating_sub(ROI_MARGIN)),
            block(y0.saturating_sub(ROI_MARGIN)),
        );
        let right = if x1 + ROI_MARGIN + 1 >= bw {
            w
        } else {
            block(x1 + ROI_MARGIN + 1)
        };
        let bottom = if y1 + ROI_MARGIN + 1 >= bh {
            h
        } else {
            block(y1 + ROI_MARGIN + 1)
        };
        let mut rect = Rect {
            x: left,
            y: top,
            width: right - left,
            height: bottom - top,
        };
        // Merge with any overlapping region, repeatedly.
        while let Some(k) = rects.iter().position(|r| r.overlaps(rect)) {
            rect = rect.union(rects.swap_remove(k));
        }
        rects.push(rect);
    }
    let covered: u64 = rects.iter().map(|r| r.area()).sum();
    if rects.is_empty() || covered * 10 >= u64::from(w) * u64::from(h) * 6 {
        return whole;
    }
    rects.sort_by_key(|r| std::cmp::Reverse(r.area()));
    rects
}

/// The negative of `gray`.
fn inverted(gray: &GrayImage) -> GrayImage {
    let mut out = gray.clone();
    imageops::invert(&mut out);
    out
}

/// Each pixel replaced by the mean of its 3×3 neighbourhood.
fn mean3(gray: &GrayImage) -> GrayImage {
    qr_grid::box_mean(gray, 1)
}

/// Load the image at `path` and decode its QR codes as scans named `image:<path>`.
///
/// The budget covers loading and decoding; see [`decode_qr_image`]. Scans carry the
/// symbology [`QR_SYMBOLOGY`].
///
/// # Errors
///
/// [`QrError::Load`] if the file cannot be read or is not a supported image (PNG or JPEG),
/// [`QrError::TooLarge`] as for [`decode_qr_image`].
pub fn decode_qr_file(path: &Path, budget: Duration) -> Result<Vec<Scan>, QrError> {
    let started = Stopwatch::start();
    let img = load(path)?;
    let texts = decode_qr_image(&img, budget.saturating_sub(started.elapsed()))?;
    let source = format!("image:{}", path.display());
    Ok(texts
        .into_iter()
        .map(|text| Scan::now(source.clone(), Some(QR_SYMBOLOGY.to_owned()), text))
        .collect())
}

fn load(path: &Path) -> Result<DynamicImage, QrError> {
    let load_error = |source| QrError::Load {
        path: path.to_owned(),
        source,
    };
    let mut reader = ImageReader::open(path)
        .and_then(ImageReader::with_guessed_format)
        .map_err(|err| load_error(image::ImageError::IoError(err)))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    reader.limits(limits);
    reader.decode().map_err(load_error)
}

/// One detection pass: append newly decoded, non-empty texts to `found`.
fn search(pass: &'static str, img: &GrayImage, found: &mut Vec<String>) {
    // rqrr can panic on degenerate input (e.g. WanzenBug/rqrr#54); a bad frame must
    // cost one pass, not the process.
    let decoded = panic::catch_unwind(AssertUnwindSafe(|| {
        let mut prepared = rqrr::PreparedImage::prepare(img.clone());
        prepared
            .detect_grids()
            .iter()
            .filter_map(|grid| match grid.decode() {
                Ok((_, text)) => Some(text),
                Err(err) => {
                    let reread = qr_grid::reread(img, &grid.bounds, grid.grid.size());
                    if reread.is_none() {
                        debug!(pass, error = %err, "QR candidate not decodable");
                    }
                    reread
                }
            })
            .collect::<Vec<_>>()
    }));
    let Ok(texts) = decoded else {
        warn!(pass, "QR decoder panicked; pass skipped");
        return;
    };
    add_texts(pass, texts, found);
}

/// Append the newly decoded, non-empty texts of one pass to `found`.
fn add_texts(pass: &'static str, texts: Vec<String>, found: &mut Vec<String>) {
    debug!(pass, codes = texts.len(), "QR pass done");
    for text in texts.iter().map(|text| clean(text)) {
        if !text.is_empty() && !found.contains(&text) {
            found.push(text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decoder_panic_costs_only_the_pass() {
        // rqrr 0.8 indexes out of bounds on a 0x50 image; the pass must survive it.
        let mut found = vec!["kept".to_owned()];
        search("degenerate", &GrayImage::new(0, 50), &mut found);
        assert_eq!(found, ["kept"]);
    }

    /// The polarity guessed for a classic frame, from its largest busy region as
    /// `decode_qr_image` guesses it.
    fn guessed_light_on_dark(frame: &GrayImage) -> bool {
        let first = regions_of_interest(frame).into_iter().next();
        looks_light_on_dark(&first.map_or_else(|| frame.clone(), |r| crop(frame, r)))
    }

    #[test]
    fn a_light_screen_on_a_gray_counter_is_not_taken_for_dark_mode() {
        // Classic frames 22, 29 and 37 show a light screen on a counter darker than the
        // middle gray, which the majority of pixels once took for a dark-mode screen;
        // frame 13 is in dark mode.
        let styles = crate::qr_benchmark_styles(1, 40);
        for i in [13, 22, 29, 37] {
            let (text, style) = &styles[i];
            let frame = crate::render_phone_frame(text, style).expect("a frame");
            assert_eq!(guessed_light_on_dark(&frame), style.inverted, "frame {i}");
        }
    }

    #[test]
    fn a_crop_copies_the_rows_of_its_rectangle() {
        let image = GrayImage::from_fn(7, 5, |x, y| image::Luma([(10 * y + x) as u8]));
        let rect = Rect {
            x: 2,
            y: 1,
            width: 3,
            height: 2,
        };
        assert_eq!(
            crop(&image, rect).into_raw(),
            imageops::crop_imm(&image, 2, 1, 3, 2).to_image().into_raw()
        );
    }
}
