//! Re-reading a QR code that `rqrr` located but could not decode, from the grayscale
//! image rather than rqrr's thresholded one.
//!
//! On small, blurred or noisy codes rqrr finds the three finder patterns but samples
//! the grid slightly off (a misplaced alignment pattern skews its perspective), and one
//! thresholded pixel per module is fragile. Here the finder and alignment patterns are
//! searched for on the gray image by normalised cross-correlation, a perspective is
//! fitted to all of them by least squares, each module is averaged over several points
//! and thresholded against the module values themselves; rqrr then decodes the bits
//! (its Reed–Solomon check rejects a wrong grid).

use image::GrayImage;
use rqrr::{BitGrid, Point};

/// Smallest and largest QR codes, in modules.
const MIN_SIZE: usize = 21;
const MAX_SIZE: usize = 177;
/// Finder patterns must correlate at least this well with their template.
const MIN_FINDER_SCORE: f64 = 0.5;
/// Alignment patterns must correlate at least this well with their template.
const MIN_ALIGNMENT_SCORE: f64 = 0.55;

/// Try to decode the code of `size` modules whose corners rqrr reported as `bounds`
/// (`[top-left, top-right, bottom-right, bottom-left]`, one module beyond the code on
/// the right and bottom), in `gray` of the same polarity (dark modules dark).
///
/// rqrr's size comes from its timing-pattern scan, which blur and noise can fool; the
/// sizes next to it are tried too, most plausible first.
pub(crate) fn reread(gray: &GrayImage, bounds: &[Point; 4], size: usize) -> Option<String> {
    if !valid_size(size) || gray.width() < 2 || gray.height() < 2 {
        return None;
    }
    let corner = |p: &Point| (f64::from(p.x), f64::from(p.y));
    let (tl, tr, br, bl) = (
        corner(&bounds[0]),
        corner(&bounds[1]),
        corner(&bounds[2]),
        corner(&bounds[3]),
    );
    let far = (size + 1) as f64;
    let rqrr_map = Homography::fit_projective(&[
        ((0.0, 0.0), tl),
        ((far, 0.0), tr),
        ((far, far), br),
        ((0.0, far), bl),
    ]);
    // The outer corners of the three finder patterns, which do not depend on the size:
    // rqrr's grid starts at the top-left one and reaches the other two at `size - 7`.
    let along = |to: (f64, f64)| {
        let t = (size - 7) as f64 / far;
        (tl.0 + (to.0 - tl.0) * t, tl.1 + (to.1 - tl.1) * t)
    };
    let (right_finder, bottom_finder) = (along(tr), along(bl));
    let module_px = distance(tl, right_finder) / (size - 7) as f64;
    if !(module_px.is_finite() && module_px > 0.5) {
        return None;
    }
    let img = Region::around(gray, &[tl, tr, br, bl], module_px)?;
    let rqrr_read = || rqrr_map.and_then(|map| read_modules(&img, &map, size));

    // The finder patterns' centres, found at rqrr's scale, do not depend on the size.
    let span = (size - 7) as f64;
    let Some(start) = Homography::fit_affine(&[
        ((0.0, 0.0), tl),
        ((span, 0.0), right_finder),
        ((0.0, span), bottom_finder),
    ]) else {
        return rqrr_read();
    };
    let Some(finders) = locate_finders(&img, &start, size) else {
        return rqrr_read();
    };
    let mut sizes: Vec<(usize, Homography, f64)> = [size - 8, size - 4, size, size + 4, size + 8]
        .into_iter()
        .filter(|&n| valid_size(n) && n <= size + 8 && n + 8 >= size)
        .filter_map(|n| {
            let last = n as f64 - 3.5;
            let map = Homography::fit_affine(&[
                ((3.5, 3.5), finders[0]),
                ((last, 3.5), finders[1]),
                ((3.5, last), finders[2]),
            ])?;
            Some((n, map, timing_score(&img, &map, n)))
        })
        .collect();
    sizes.sort_by(|a, b| b.2.total_cmp(&a.2));
    sizes
        .into_iter()
        .take(2)
        .find_map(|(n, map, _)| read_modules(&img, &fit_alignments(&img, map, &finders, n), n))
        .or_else(rqrr_read)
}

fn valid_size(size: usize) -> bool {
    (MIN_SIZE..=MAX_SIZE).contains(&size) && (size - MIN_SIZE).is_multiple_of(4)
}

fn distance(a: (f64, f64), b: (f64, f64)) -> f64 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
}

/// How well row 6 and column 6 alternate dark and light between the finder patterns,
/// as they do in every QR code: -1 to 1.
fn timing_score(img: &Region, map: &Homography, size: usize) -> f64 {
    let (mut sum_v, mut sum_vv, mut sum_vt, mut sum_t, mut n) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for i in 8..size - 8 {
        let t = if i % 2 == 0 { 1.0 } else { -1.0 };
        let along = i as f64 + 0.5;
        for (u, v) in [(along, 6.5), (6.5, along)] {
            let (x, y) = map.map(u, v);
            let darkness = 255.0 - img.at(x, y);
            sum_v += darkness;
            sum_vv += darkness * darkness;
            sum_vt += darkness * t;
            sum_t += t;
            n += 1.0;
        }
    }
    pearson(n, sum_v, sum_vv, sum_t, sum_vt)
}

/// Pearson correlation of `n` values and ±1 template entries, from their sums.
fn pearson(n: f64, sum_v: f64, sum_vv: f64, sum_t: f64, sum_vt: f64) -> f64 {
    if n < 1.0 {
        return 0.0;
    }
    // The template's entries square to 1, so the sum of their squares is `n`.
    let var_v = sum_vv - sum_v * sum_v / n;
    let var_t = n - sum_t * sum_t / n;
    if var_v <= f64::EPSILON || var_t <= f64::EPSILON {
        return 0.0;
    }
    (sum_vt - sum_v * sum_t / n) / (var_v * var_t).sqrt()
}

/// The image positions of the centres of the three finder patterns (top-left,
/// top-right, bottom-left), searched for near where `map` puts them.
fn locate_finders(img: &Region, map: &Homography, size: usize) -> Option<[(f64, f64); 3]> {
    let last = size as f64 - 3.5;
    let mut found = [(0.0, 0.0); 3];
    for (slot, (u, v)) in found.iter_mut().zip([(3.5, 3.5), (last, 3.5), (3.5, last)]) {
        let (du, dv, score) = best_offset(img, map, (u, v), &FINDER, 1.5);
        if score < MIN_FINDER_SCORE {
            return None;
        }
        *slot = map.map(u + du, v + dv);
    }
    Some(found)
}

/// Refine `map` (fitted to the finder patterns) with the alignment patterns found near
/// where it puts them.
fn fit_alignments(
    img: &Region,
    mut map: Homography,
    finders: &[(f64, f64); 3],
    size: usize,
) -> Homography {
    let last = size as f64 - 3.5;
    let mut pairs = vec![
        ((3.5, 3.5), finders[0]),
        ((last, 3.5), finders[1]),
        ((3.5, last), finders[2]),
    ];
    let mut centers = alignment_centers(size);
    // Nearest to the finders first: each one found sharpens the guess for the next.
    centers.sort_by(|a, b| (a.0 + a.1).total_cmp(&(b.0 + b.1)));
    for (u, v) in centers {
        let (du, dv, score) = best_offset(img, &map, (u, v), &ALIGNMENT, 2.0);
        if score >= MIN_ALIGNMENT_SCORE {
            pairs.push(((u, v), map.map(u + du, v + dv)));
            // Perspective only once it is overdetermined: one bad point must not skew it.
            let refit = if pairs.len() >= 5 {
                Homography::fit_projective(&pairs)
            } else {
                Homography::fit_affine(&pairs)
            };
            map = refit.unwrap_or(map);
        }
    }
    map
}

/// Sample every module and decode, with a global and then a local threshold.
fn read_modules(img: &Region, map: &Homography, size: usize) -> Option<String> {
    const SPOTS: [(f64, f64); 5] = [(0.5, 0.5), (0.3, 0.3), (0.7, 0.3), (0.3, 0.7), (0.7, 0.7)];
    let mut values = Vec::with_capacity(size * size);
    for y in 0..size {
        for x in 0..size {
            let sum: f64 = SPOTS
                .iter()
                .map(|(dx, dy)| {
                    let (px, py) = map.map(x as f64 + dx, y as f64 + dy);
                    img.raw_at(px, py)
                })
                .sum();
            values.push(sum / SPOTS.len() as f64);
        }
    }
    let global = otsu(&values);
    let by_global = Modules {
        size,
        dark: values.iter().map(|&v| v < global).collect(),
    };
    if let Ok((_, text)) = rqrr::Grid::new(by_global).decode() {
        return Some(text);
    }
    let local = Modules {
        size,
        dark: (0..size * size)
            .map(|i| values[i] < local_mean(&values, size, i % size, i / size, 4))
            .collect(),
    };
    rqrr::Grid::new(local).decode().ok().map(|(_, text)| text)
}

/// Module darkness decided from the gray image.
struct Modules {
    size: usize,
    dark: Vec<bool>,
}

impl BitGrid for Modules {
    fn size(&self) -> usize {
        self.size
    }

    fn bit(&self, y: usize, x: usize) -> bool {
        self.dark.get(y * self.size + x).copied().unwrap_or(false)
    }
}

/// The threshold that best splits `values` in two classes (Otsu's method).
fn otsu(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let total: f64 = sorted.iter().sum();
    let n = sorted.len() as f64;
    let (mut best, mut threshold, mut below) = (-1.0, 128.0, 0.0);
    for (i, pair) in sorted.windows(2).enumerate() {
        below += pair[0];
        let (w0, w1) = ((i + 1) as f64, n - (i + 1) as f64);
        let spread = w0 * w1 * (below / w0 - (total - below) / w1).powi(2);
        if spread > best {
            best = spread;
            threshold = (pair[0] + pair[1]) / 2.0;
        }
    }
    threshold
}

/// Mean of the module values within `radius` modules of (`x`, `y`).
fn local_mean(values: &[f64], size: usize, x: usize, y: usize, radius: usize) -> f64 {
    let (x0, x1) = (x.saturating_sub(radius), (x + radius).min(size - 1));
    let (y0, y1) = (y.saturating_sub(radius), (y + radius).min(size - 1));
    let mut sum = 0.0;
    for row in y0..=y1 {
        sum += values[row * size + x0..=row * size + x1]
            .iter()
            .sum::<f64>();
    }
    sum / ((x1 - x0 + 1) * (y1 - y0 + 1)) as f64
}

/// A square pattern of modules, `true` for dark, centred on its middle module.
struct Template<const N: usize>([[bool; N]; N]);

/// A finder pattern with its light separator: 9×9 modules.
const FINDER: Template<9> = {
    let mut t = [[false; 9]; 9];
    let mut y = 1;
    while y < 8 {
        let mut x = 1;
        while x < 8 {
            let ring = if x < y { x } else { y };
            let ring_far = if 8 - x < 8 - y { 8 - x } else { 8 - y };
            let depth = if ring < ring_far { ring } else { ring_far };
            // depth 1: outer dark ring, 2: light ring, 3 and more: dark centre.
            t[y][x] = depth != 2;
            x += 1;
        }
        y += 1;
    }
    Template(t)
};

/// An alignment pattern: 5×5 modules.
const ALIGNMENT: Template<5> = {
    let mut t = [[true; 5]; 5];
    let mut i = 1;
    while i < 4 {
        t[1][i] = false;
        t[3][i] = false;
        t[i][1] = false;
        t[i][3] = false;
        i += 1;
    }
    t[2][2] = true;
    Template(t)
};

/// The offset, in modules within `radius`, at which `template` centred at `center`
/// correlates best with the image, and that correlation (-1 to 1).
fn best_offset<const N: usize>(
    img: &Region,
    map: &Homography,
    center: (f64, f64),
    template: &Template<N>,
    radius: f64,
) -> (f64, f64, f64) {
    let score = |du: f64, dv: f64| correlation(img, map, (center.0 + du, center.1 + dv), template);
    let mut best: (f64, f64, f64) = (0.0, 0.0, f64::MIN);
    // Coarse over the whole radius, then fine around the best coarse offset.
    for (step, reach) in [(0.5, radius), (0.125, 0.375)] {
        let origin = (
            best.0.max(-radius).min(radius),
            best.1.max(-radius).min(radius),
        );
        let origin = if best.2 == f64::MIN {
            (0.0, 0.0)
        } else {
            origin
        };
        let steps = (reach / step).round() as i32;
        for j in -steps..=steps {
            for i in -steps..=steps {
                let (du, dv) = (
                    origin.0 + f64::from(i) * step,
                    origin.1 + f64::from(j) * step,
                );
                let s = score(du, dv);
                if s > best.2 {
                    best = (du, dv, s);
                }
            }
        }
    }
    best
}

/// Pearson correlation between module darkness around `center` and `template`.
fn correlation<const N: usize>(
    img: &Region,
    map: &Homography,
    center: (f64, f64),
    template: &Template<N>,
) -> f64 {
    let half = (N / 2) as f64;
    let (mut sum_v, mut sum_vv, mut sum_vt, mut sum_t) = (0.0, 0.0, 0.0, 0.0);
    for (y, row) in template.0.iter().enumerate() {
        for (x, &dark) in row.iter().enumerate() {
            let (u, v) = (center.0 + x as f64 - half, center.1 + y as f64 - half);
            let (px, py) = map.map(u, v);
            let darkness = 255.0 - img.at(px, py);
            let t = if dark { 1.0 } else { -1.0 };
            sum_v += darkness;
            sum_vv += darkness * darkness;
            sum_vt += darkness * t;
            sum_t += t;
        }
    }
    pearson((N * N) as f64, sum_v, sum_vv, sum_t, sum_vt)
}

/// Centres of the alignment patterns of a code of `size` modules, in module coordinates.
fn alignment_centers(size: usize) -> Vec<(f64, f64)> {
    let version = (size - 17) / 4;
    if version < 2 {
        return Vec::new();
    }
    // ISO/IEC 18004 Annex E, as computed by e.g. Nayuki's QR Code generator.
    let count = version / 7 + 2;
    let step = if version == 32 {
        26
    } else {
        (version * 4 + count * 2 + 1) / (count * 2 - 2) * 2
    };
    let mut positions: Vec<usize> = (0..count - 1).map(|i| size - 7 - i * step).collect();
    positions.push(6);
    positions.reverse();
    let last = count - 1;
    let mut centers = Vec::new();
    for (j, &row) in positions.iter().enumerate() {
        for (i, &col) in positions.iter().enumerate() {
            let on_finder =
                matches!((i, j), (0, 0)) || (i == 0 && j == last) || (i == last && j == 0);
            if !on_finder {
                centers.push((col as f64 + 0.5, row as f64 + 0.5));
            }
        }
    }
    centers
}

/// The part of an image around a code, in the full image's coordinates (pixel centres
/// at half-integers), sampled bilinearly: as is for reading modules, and smoothed
/// against noise (a box mean about two thirds of a module wide) for locating patterns.
struct Region {
    raw: GrayImage,
    smooth: GrayImage,
    origin: (f64, f64),
    max_x: f64,
    max_y: f64,
}

impl Region {
    /// The box around `corners`, with a margin for the patterns' search.
    fn around(gray: &GrayImage, corners: &[(f64, f64)], module_px: f64) -> Option<Self> {
        let margin = 8.0 * module_px;
        let (w, h) = (f64::from(gray.width()), f64::from(gray.height()));
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for &(x, y) in corners {
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
        let (x0, y0) = (
            (x0 - margin).clamp(0.0, w).floor(),
            (y0 - margin).clamp(0.0, h).floor(),
        );
        let (x1, y1) = ((x1 + margin).clamp(0.0, w), (y1 + margin).clamp(0.0, h));
        let (cw, ch) = ((x1 - x0) as u32, (y1 - y0) as u32);
        if cw < 2 || ch < 2 {
            return None;
        }
        let raw = image::imageops::crop_imm(gray, x0 as u32, y0 as u32, cw, ch).to_image();
        let smooth = box_mean(&raw, (module_px * 0.35).round() as u32);
        Some(Self {
            max_x: f64::from(raw.width()) - 1.0,
            max_y: f64::from(raw.height()) - 1.0,
            origin: (x0, y0),
            raw,
            smooth,
        })
    }

    /// The smoothed image at (`x`, `y`).
    fn at(&self, x: f64, y: f64) -> f64 {
        self.sample(&self.smooth, x, y)
    }

    /// The image as is at (`x`, `y`).
    fn raw_at(&self, x: f64, y: f64) -> f64 {
        self.sample(&self.raw, x, y)
    }

    fn sample(&self, img: &GrayImage, x: f64, y: f64) -> f64 {
        let x = (x - self.origin.0 - 0.5).clamp(0.0, self.max_x);
        let y = (y - self.origin.1 - 0.5).clamp(0.0, self.max_y);
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let (x0, y0) = (x0 as u32, y0 as u32);
        let x1 = (x0 + 1).min(self.max_x as u32);
        let y1 = (y0 + 1).min(self.max_y as u32);
        let p = |x, y| f64::from(img.get_pixel(x, y)[0]);
        let top = p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx;
        let bottom = p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx;
        top * (1.0 - fy) + bottom * fy
    }
}

/// Each pixel replaced by the mean of the `(2 radius + 1)²` box around it, edges
/// clamped; a copy for radius 0.
pub(crate) fn box_mean(img: &GrayImage, radius: u32) -> GrayImage {
    if radius == 0 {
        return img.clone();
    }
    let (w, h) = (img.width() as usize, img.height() as usize);
    let r = radius as usize;
    let src = img.as_raw();
    // Summed-area table with a zero row and column in front.
    let stride = w + 1;
    let mut sums = vec![0u32; stride * (h + 1)];
    for y in 0..h {
        let mut row = 0u32;
        for x in 0..w {
            row += u32::from(src[y * w + x]);
            sums[(y + 1) * stride + x + 1] = sums[y * stride + x + 1] + row;
        }
    }
    let mut out = vec![0u8; w * h];
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(w));
            let sum = sums[y1 * stride + x1] + sums[y0 * stride + x0]
                - sums[y0 * stride + x1]
                - sums[y1 * stride + x0];
            let count = ((x1 - x0) * (y1 - y0)) as u32;
            out[y * w + x] = u8::try_from(sum / count).unwrap_or(u8::MAX);
        }
    }
    GrayImage::from_raw(img.width(), img.height(), out).unwrap_or_else(|| img.clone())
}

/// A point in module coordinates and where it is in the image.
type Pair = ((f64, f64), (f64, f64));

/// A plane projective transform, module coordinates to image coordinates.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Homography([f64; 9]);

impl Homography {
    fn map(&self, u: f64, v: f64) -> (f64, f64) {
        let h = &self.0;
        let w = h[6] * u + h[7] * v + h[8];
        let w = if w.abs() < 1e-12 { 1e-12 } else { w };
        (
            (h[0] * u + h[1] * v + h[2]) / w,
            (h[3] * u + h[4] * v + h[5]) / w,
        )
    }

    /// Least-squares projective fit to `(module, image)` pairs (at least 4).
    fn fit_projective(pairs: &[Pair]) -> Option<Self> {
        if pairs.len() < 4 {
            return None;
        }
        Self::fit_normalised(pairs, projective)
    }

    /// Least-squares affine fit to `(module, image)` pairs (at least 3).
    fn fit_affine(pairs: &[Pair]) -> Option<Self> {
        if pairs.len() < 3 {
            return None;
        }
        Self::fit_normalised(pairs, affine)
    }

    /// Fit with both sides normalised (centroid at 0, mean distance √2), for
    /// conditioning.
    fn fit_normalised(pairs: &[Pair], fit: fn(&[Pair]) -> Option<Self>) -> Option<Self> {
        let (from, to): (Vec<_>, Vec<_>) = pairs.iter().copied().unzip();
        let (nf, _) = normaliser(&from)?;
        let (nt, nt_inv) = normaliser(&to)?;
        let normalised: Vec<_> = from
            .iter()
            .zip(&to)
            .map(|(f, t)| (nf.map(f.0, f.1), nt.map(t.0, t.1)))
            .collect();
        Some(nt_inv.then(&fit(&normalised)?).then(&nf))
    }

    /// `self ∘ other`: apply `other` first.
    fn then(&self, other: &Self) -> Self {
        let (a, b) = (&self.0, &other.0);
        let mut m = [0.0; 9];
        for r in 0..3 {
            for c in 0..3 {
                m[r * 3 + c] = (0..3).map(|k| a[r * 3 + k] * b[k * 3 + c]).sum();
            }
        }
        Self(m)
    }
}

/// A similarity moving `points`' centroid to 0 and their mean distance to √2, and its
/// inverse.
fn normaliser(points: &[(f64, f64)]) -> Option<(Homography, Homography)> {
    let n = points.len() as f64;
    let (cx, cy) = points
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x / n, sy + y / n));
    let spread = points
        .iter()
        .map(|(x, y)| ((x - cx).powi(2) + (y - cy).powi(2)).sqrt())
        .sum::<f64>()
        / n;
    if spread < 1e-9 || !spread.is_finite() {
        return None;
    }
    let s = std::f64::consts::SQRT_2 / spread;
    Some((
        Homography([s, 0.0, -s * cx, 0.0, s, -s * cy, 0.0, 0.0, 1.0]),
        Homography([1.0 / s, 0.0, cx, 0.0, 1.0 / s, cy, 0.0, 0.0, 1.0]),
    ))
}

fn projective(pairs: &[Pair]) -> Option<Homography> {
    let mut ata = [[0.0; 8]; 8];
    let mut atb = [0.0; 8];
    for &((u, v), (x, y)) in pairs {
        for (row, rhs) in [
            ([u, v, 1.0, 0.0, 0.0, 0.0, -u * x, -v * x], x),
            ([0.0, 0.0, 0.0, u, v, 1.0, -u * y, -v * y], y),
        ] {
            for i in 0..8 {
                for j in 0..8 {
                    ata[i][j] += row[i] * row[j];
                }
                atb[i] += row[i] * rhs;
            }
        }
    }
    let h = solve(ata, atb)?;
    Some(Homography([
        h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], 1.0,
    ]))
}

fn affine(pairs: &[Pair]) -> Option<Homography> {
    let mut ata = [[0.0; 3]; 3];
    let (mut atx, mut aty) = ([0.0; 3], [0.0; 3]);
    for &((u, v), (x, y)) in pairs {
        let row = [u, v, 1.0];
        for i in 0..3 {
            for j in 0..3 {
                ata[i][j] += row[i] * row[j];
            }
            atx[i] += row[i] * x;
            aty[i] += row[i] * y;
        }
    }
    let hx = solve(ata, atx)?;
    let hy = solve(ata, aty)?;
    Some(Homography([
        hx[0], hx[1], hx[2], hy[0], hy[1], hy[2], 0.0, 0.0, 1.0,
    ]))
}

/// Solve `a · x = b` by Gaussian elimination with partial pivoting.
fn solve<const N: usize>(mut a: [[f64; N]; N], mut b: [f64; N]) -> Option<[f64; N]> {
    for col in 0..N {
        let pivot = (col..N).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let pivot_row = a[col];
        let pivot_b = b[col];
        for (row, (a_row, b_row)) in a.iter_mut().zip(b.iter_mut()).enumerate() {
            if row != col {
                let f = a_row[col] / pivot_row[col];
                for (value, pivot) in a_row.iter_mut().zip(pivot_row).skip(col) {
                    *value -= f * pivot;
                }
                *b_row -= f * pivot_b;
            }
        }
    }
    let mut x = [0.0; N];
    for i in 0..N {
        x[i] = b[i] / a[i][i];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_centres_follow_the_standard() {
        assert!(alignment_centers(21).is_empty());
        assert_eq!(alignment_centers(25), [(18.5, 18.5)]);
        let v7: Vec<_> = alignment_centers(45);
        assert_eq!(v7.len(), 6);
        assert!(v7.contains(&(22.5, 6.5)) && v7.contains(&(38.5, 38.5)));
        // Version 32 has its own step; version 40 has 7 × 7 - 3 patterns.
        assert!(alignment_centers(17 + 4 * 32).contains(&(112.5, 138.5)));
        assert_eq!(alignment_centers(177).len(), 46);
    }

    #[test]
    fn templates_have_the_right_shape() {
        let finder: Vec<String> = FINDER
            .0
            .iter()
            .map(|row| row.iter().map(|&d| if d { '#' } else { '.' }).collect())
            .collect();
        assert_eq!(finder[0], ".........");
        assert_eq!(finder[1], ".#######.");
        assert_eq!(finder[2], ".#.....#.");
        assert_eq!(finder[4], ".#.###.#.");
        let alignment: Vec<String> = ALIGNMENT
            .0
            .iter()
            .map(|row| row.iter().map(|&d| if d { '#' } else { '.' }).collect())
            .collect();
        assert_eq!(alignment, ["#####", "#...#", "#.#.#", "#...#", "#####"]);
    }

    #[test]
    fn homography_fits_exact_and_noisy_points() {
        let truth = Homography([2.0, 0.3, 100.0, -0.2, 1.9, 50.0, 0.001, -0.0005, 1.0]);
        let grid: Vec<(f64, f64)> = [
            (0.0, 0.0),
            (40.0, 0.0),
            (0.0, 40.0),
            (40.0, 40.0),
            (20.0, 20.0),
            (10.0, 30.0),
        ]
        .to_vec();
        let pairs: Vec<_> = grid
            .iter()
            .map(|&(u, v)| ((u, v), truth.map(u, v)))
            .collect();
        let fitted = Homography::fit_projective(&pairs).expect("fits");
        for &(u, v) in &grid {
            let (a, b) = (truth.map(u, v), fitted.map(u, v));
            assert!((a.0 - b.0).abs() < 1e-6 && (a.1 - b.1).abs() < 1e-6);
        }
        let affine = Homography::fit_affine(&pairs[..3]).expect("fits");
        let (x, y) = affine.map(0.0, 40.0);
        let (tx, ty) = truth.map(0.0, 40.0);
        assert!((x - tx).abs() < 1e-6 && (y - ty).abs() < 1e-6);
        assert_eq!(Homography::fit_affine(&pairs[..2]), None);
        assert_eq!(Homography::fit_projective(&pairs[..3]), None);
        let same = [((0.0, 0.0), (1.0, 1.0)); 4];
        assert_eq!(Homography::fit_projective(&same), None);
    }

    #[test]
    fn otsu_splits_two_levels() {
        let values = [30.0, 35.0, 40.0, 200.0, 210.0, 190.0];
        let t = otsu(&values);
        assert!(t > 40.0 && t < 190.0);
    }

    #[test]
    fn degenerate_inputs_are_refused() {
        let img = GrayImage::new(50, 50);
        let p = Point { x: 0, y: 0 };
        assert_eq!(reread(&img, &[p; 4], 45), None);
        assert_eq!(reread(&img, &[p; 4], 22), None);
        assert_eq!(reread(&GrayImage::new(1, 1), &[p; 4], 21), None);
    }
}
