//! A fixed, generated set of phone-screen frames for the perf harness: QR codes as a
//! till camera sees them on a customer's phone, for measuring [`decode_qr_image`]'s
//! success rate and time per frame.
//!
//! Everything is generated from a seed (a small xorshift, no `rand`), so a set is the
//! same on every machine and run. Each frame is 1280×720: a counter-top background, a
//! phone with its bezel, and on its screen an app's status bar, text, a button and the
//! code; the phone rotated a few degrees and scaled down (bilinear sampling), then
//! optionally blurred (box blur), squeezed into a narrow gray range, inverted (dark
//! mode: light modules on a dark screen) and noisy.
//!
//! [`decode_qr_image`]: crate::decode_qr_image

use image::{GrayImage, Luma};
use qrcode::{Color, QrCode};

/// Width of the generated camera frames, in pixels.
pub(crate) const FRAME_WIDTH: u32 = 1280;
/// Height of the generated camera frames, in pixels.
pub(crate) const FRAME_HEIGHT: u32 = 720;

/// Modules of light margin a QR code needs around it.
const QUIET_ZONE: f32 = 4.0;
/// Characters of the base32 alphabet (RFC 4648), all in QR alphanumeric mode.
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// How a code is shown on a phone screen and seen by the camera.
#[derive(Clone, Debug, PartialEq)]
pub struct PhoneFrame {
    /// Rotation of the phone in the frame, in degrees (positive: clockwise on screen).
    pub rotation_deg: f32,
    /// Size of one QR module in the frame, in pixels.
    pub module_px: f32,
    /// Centre of the code in the frame, as fractions of the frame's width and height.
    pub center: (f32, f32),
    /// Radius of the box blur applied to the frame, in pixels (0: sharp).
    pub blur_radius: u32,
    /// The darkest and lightest gray of the frame: contrast is squeezed into this range.
    pub levels: (u8, u8),
    /// Dark mode: the app shows light modules and text on a dark screen.
    pub inverted: bool,
    /// Largest deviation of the uniform per-pixel noise, in gray levels (0: none).
    pub noise: u8,
    /// Seed of the screen's decoration, the background and the noise.
    pub seed: u64,
}

impl Default for PhoneFrame {
    /// An upright, sharp, full-contrast code of 5 px modules in the middle of the frame.
    fn default() -> Self {
        Self {
            rotation_deg: 0.0,
            module_px: 5.0,
            center: (0.5, 0.5),
            blur_radius: 0,
            levels: (0, 255),
            inverted: false,
            noise: 0,
            seed: 1,
        }
    }
}

/// A fixed set of `n` 1280×720 phone-screen frames and the text each one encodes:
/// "LT1" and 132 random base32 characters (135, the size of the longest codes the till
/// reads), with varied rotation (±8°), module size (3–6 px), position, blur, contrast,
/// dark mode and noise. The same `seed` and `n` always give the same frames, and the
/// first `k` frames of a larger set are the set of `k`.
pub fn qr_benchmark_set(seed: u64, n: usize) -> Vec<(String, GrayImage)> {
    qr_benchmark_styles(seed, n)
        .into_iter()
        .filter_map(|(text, style)| render_phone_frame(&text, &style).map(|img| (text, img)))
        .collect()
}

/// The texts and styles [`qr_benchmark_set`] renders, to tell which kinds of frame fail.
pub fn qr_benchmark_styles(seed: u64, n: usize) -> Vec<(String, PhoneFrame)> {
    (0..n)
        .map(|i| {
            let mut rng = XorShift::new(seed ^ (i as u64).wrapping_mul(0xA076_1D64_78BD_642F));
            let text = token_like(&mut rng);
            (text, random_frame(&mut rng))
        })
        .collect()
}

/// Render `text` as a QR code on a phone screen in a 1280×720 camera frame styled by
/// `frame`; `None` if `text` does not fit in a QR code.
pub fn render_phone_frame(text: &str, frame: &PhoneFrame) -> Option<GrayImage> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    let mut rng = XorShift::new(frame.seed);
    let screen = Screen::render(&code, frame.module_px, frame.inverted, &mut rng);
    let mut img = compose(&screen, frame, &mut rng);
    let (lo, hi) = frame.levels;
    squeeze(&mut img, lo, hi);
    box_blur(&mut img, frame.blur_radius);
    add_noise(&mut img, frame.noise, &mut rng);
    Some(img)
}

/// A customer-token-sized payload: "LT1" and 132 base32 characters.
fn token_like(rng: &mut XorShift) -> String {
    let mut text = String::from("LT1");
    text.extend((0..132).map(|_| char::from(BASE32[rng.below(32) as usize])));
    text
}

fn random_frame(rng: &mut XorShift) -> PhoneFrame {
    let module_px = rng.range(3.0, 6.0);
    // Keep the code and its quiet zone inside the frame whatever the rotation: a
    // version 7 code is 45 modules, 53 with the quiet zone.
    let half = 53.0 * module_px * 0.75;
    let cx = rng.range(half, FRAME_WIDTH as f32 - half) / FRAME_WIDTH as f32;
    let cy = rng.range(half, FRAME_HEIGHT as f32 - half) / FRAME_HEIGHT as f32;
    let max_blur = if module_px < 4.0 { 1 } else { 2 };
    let low_contrast = rng.below(3) == 0;
    let levels = if low_contrast {
        (90 + rng.below(20) as u8, 150 + rng.below(20) as u8)
    } else {
        (rng.below(60) as u8, 200 + rng.below(56) as u8)
    };
    PhoneFrame {
        rotation_deg: rng.range(-8.0, 8.0),
        module_px,
        center: (cx, cy),
        blur_radius: rng.below(max_blur + 1),
        levels,
        inverted: rng.below(4) == 0,
        noise: rng.below(25) as u8,
        seed: rng.next_u64(),
    }
}

/// The phone's screen, rendered upright at a whole number of pixels per module.
struct Screen {
    img: GrayImage,
    /// Texture pixels per module.
    scale: f32,
    /// Centre of the QR code in texture pixels.
    code_center: (f32, f32),
    /// Width of the bezel around the screen, in texture pixels.
    bezel: f32,
}

impl Screen {
    fn render(code: &QrCode, module_px: f32, inverted: bool, rng: &mut XorShift) -> Self {
        // Supersample a little so the bilinear resampling averages, not skips, pixels.
        let scale = module_px.max(1.0).ceil();
        let modules = code.width() as f32;
        let card = modules + 2.0 * QUIET_ZONE;
        let width_m = (card * 1.35).round();
        let height_m = (width_m * 2.1).round();
        let (w, h) = ((width_m * scale) as u32, (height_m * scale) as u32);
        let mut img = GrayImage::from_pixel(w, h, Luma([242]));
        let mut painter = Painter {
            img: &mut img,
            scale,
        };

        // Status bar: clock on the left, signal and battery on the right.
        painter.fill(0.0, 0.0, width_m, 2.5, 235);
        painter.text_line(1.5, 0.7, 5.0, 1.1, 40, rng);
        painter.fill(width_m - 9.0, 0.8, width_m - 6.0, 1.8, 40);
        painter.fill(width_m - 5.0, 0.8, width_m - 1.5, 1.8, 40);
        // App title and a few lines of text.
        painter.text_line(3.0, 5.0, width_m * 0.55, 2.2, 20, rng);
        for row in 0..3 {
            let y = 9.0 + 2.2 * row as f32;
            painter.text_line(3.0, y, width_m - 3.0, 1.2, 90, rng);
        }
        // The card with the code, quiet zone included.
        let left = (width_m - card) / 2.0;
        let top = (height_m * 0.42 - card / 2.0).round();
        painter.fill(
            left - 1.0,
            top - 1.0,
            left + card + 1.0,
            top + card + 1.0,
            215,
        );
        painter.fill(left, top, left + card, top + card, 255);
        let colors = code.to_colors();
        let n = code.width();
        for (i, color) in colors.iter().enumerate() {
            if *color == Color::Dark {
                let (x, y) = ((i % n) as f32, (i / n) as f32);
                let (x, y) = (left + QUIET_ZONE + x, top + QUIET_ZONE + y);
                painter.fill(x, y, x + 1.0, y + 1.0, 0);
            }
        }
        // A caption, a button and more text below it.
        let below = top + card + 2.0;
        painter.text_line(width_m * 0.3, below, width_m * 0.7, 1.4, 60, rng);
        painter.fill(3.0, below + 4.0, width_m - 3.0, below + 8.0, 70);
        painter.text_line(width_m * 0.35, below + 5.4, width_m * 0.65, 1.2, 250, rng);
        for row in 0..4 {
            let y = below + 11.0 + 2.2 * row as f32;
            if y + 2.0 < height_m {
                painter.text_line(3.0, y, width_m - 3.0, 1.2, 110, rng);
            }
        }
        if inverted {
            image::imageops::invert(&mut img);
        }
        let code_center = ((left + card / 2.0) * scale, (top + card / 2.0) * scale);
        Self {
            img,
            scale,
            code_center,
            bezel: 2.5 * scale,
        }
    }
}

/// Fills rectangles given in module units on a texture.
struct Painter<'a> {
    img: &'a mut GrayImage,
    scale: f32,
}

impl Painter<'_> {
    fn fill(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, gray: u8) {
        let (w, h) = self.img.dimensions();
        let px = |v: f32, max: u32| ((v * self.scale).round().max(0.0) as u32).min(max);
        for y in px(y0, h)..px(y1, h) {
            for x in px(x0, w)..px(x1, w) {
                self.img.put_pixel(x, y, Luma([gray]));
            }
        }
    }

    /// A line of "words": blocks of random width separated by spaces.
    fn text_line(&mut self, x0: f32, y: f32, x1: f32, height: f32, gray: u8, rng: &mut XorShift) {
        let mut x = x0;
        while x < x1 {
            let word = rng.range(1.5, 6.0).min(x1 - x);
            self.fill(x, y, x + word, y + height, gray);
            x += word + rng.range(0.6, 1.0);
        }
    }
}

/// Place the rotated, scaled screen on a background, sampling it bilinearly.
fn compose(screen: &Screen, frame: &PhoneFrame, rng: &mut XorShift) -> GrayImage {
    let background = Background::new(rng);
    let (tw, th) = (screen.img.width() as f32, screen.img.height() as f32);
    let (sin, cos) = frame.rotation_deg.to_radians().sin_cos();
    // Texture pixels per frame pixel.
    let step = screen.scale / frame.module_px.max(0.5);
    let (cx, cy) = (
        frame.center.0 * FRAME_WIDTH as f32,
        frame.center.1 * FRAME_HEIGHT as f32,
    );
    GrayImage::from_fn(FRAME_WIDTH, FRAME_HEIGHT, |x, y| {
        let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
        // Rotate the frame offset back into the upright screen.
        let u = (dx * cos + dy * sin) * step + screen.code_center.0;
        let v = (-dx * sin + dy * cos) * step + screen.code_center.1;
        let gray = if u >= 0.0 && v >= 0.0 && u < tw && v < th {
            bilinear(&screen.img, u - 0.5, v - 0.5)
        } else if u >= -screen.bezel
            && v >= -screen.bezel
            && u < tw + screen.bezel
            && v < th + screen.bezel
        {
            18.0
        } else {
            background.at(x, y)
        };
        Luma([gray.round().clamp(0.0, 255.0) as u8])
    })
}

/// Bilinear sample of `img` at (`x`, `y`) in pixel-centre coordinates, clamped at edges.
fn bilinear(img: &GrayImage, x: f32, y: f32) -> f32 {
    let (w, h) = img.dimensions();
    let (x, y) = (x.clamp(0.0, (w - 1) as f32), y.clamp(0.0, (h - 1) as f32));
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let p = |x, y| f32::from(img.get_pixel(x, y)[0]);
    let top = p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx;
    let bottom = p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// A counter top: a lighting gradient and a few objects lying around.
struct Background {
    gradient: (f32, f32, f32),
    objects: Vec<(u32, u32, u32, u32, f32)>,
}

impl Background {
    fn new(rng: &mut XorShift) -> Self {
        let gradient = (
            rng.range(80.0, 170.0),
            rng.range(-0.05, 0.05),
            rng.range(-0.08, 0.08),
        );
        let objects = (0..rng.below(4))
            .map(|_| {
                let (x, y) = (rng.below(FRAME_WIDTH), rng.below(FRAME_HEIGHT));
                let (w, h) = (40 + rng.below(300), 40 + rng.below(200));
                (x, y, x + w, y + h, rng.range(30.0, 230.0))
            })
            .collect();
        Self { gradient, objects }
    }

    fn at(&self, x: u32, y: u32) -> f32 {
        if let Some(object) = self
            .objects
            .iter()
            .find(|o| x >= o.0 && y >= o.1 && x < o.2 && y < o.3)
        {
            return object.4;
        }
        let (base, gx, gy) = self.gradient;
        base + gx * x as f32 + gy * y as f32
    }
}

/// Map the full gray range onto `lo..=hi`.
fn squeeze(img: &mut GrayImage, lo: u8, hi: u8) {
    let (lo, hi) = (u32::from(lo.min(hi)), u32::from(lo.max(hi)));
    for pixel in img.pixels_mut() {
        let v = u32::from(pixel[0]);
        pixel[0] = u8::try_from(lo + v * (hi - lo) / 255).unwrap_or(u8::MAX);
    }
}

/// Box blur of the given radius (a (2r+1)² mean), separable, edges clamped.
fn box_blur(img: &mut GrayImage, radius: u32) {
    if radius == 0 {
        return;
    }
    let (w, h) = img.dimensions();
    let r = radius as i64;
    let mut line = Vec::new();
    let blur_line = |line: &mut Vec<u8>| {
        let n = line.len() as i64;
        let at = |i: i64| u32::from(line[i.clamp(0, n - 1) as usize]);
        let mut sum: u32 = (-r..=r).map(at).sum();
        let mut out = Vec::with_capacity(line.len());
        for i in 0..n {
            out.push(u8::try_from(sum / (2 * radius + 1)).unwrap_or(u8::MAX));
            sum = sum + at(i + r + 1) - at(i - r);
        }
        *line = out;
    };
    for y in 0..h {
        line.clear();
        line.extend((0..w).map(|x| img.get_pixel(x, y)[0]));
        blur_line(&mut line);
        for (x, &v) in line.iter().enumerate() {
            img.put_pixel(x as u32, y, Luma([v]));
        }
    }
    for x in 0..w {
        line.clear();
        line.extend((0..h).map(|y| img.get_pixel(x, y)[0]));
        blur_line(&mut line);
        for (y, &v) in line.iter().enumerate() {
            img.put_pixel(x, y as u32, Luma([v]));
        }
    }
}

/// Add uniform noise in `-amplitude..=amplitude` to every pixel.
fn add_noise(img: &mut GrayImage, amplitude: u8, rng: &mut XorShift) {
    if amplitude == 0 {
        return;
    }
    let span = 2 * u32::from(amplitude) + 1;
    for pixel in img.pixels_mut() {
        let delta = i32::try_from(rng.below(span)).unwrap_or(0) - i32::from(amplitude);
        pixel[0] = u8::try_from((i32::from(pixel[0]) + delta).clamp(0, 255)).unwrap_or(0);
    }
}

/// xorshift64*: small, fast, and the same everywhere.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so nearby seeds start far apart; never zero.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self((z ^ (z >> 31)) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n` > 0), by the multiply-shift method.
    fn below(&mut self, n: u32) -> u32 {
        let high = self.next_u64() >> 32;
        u32::try_from((high * u64::from(n)) >> 32).unwrap_or(0)
    }

    /// Uniform in `lo..hi`.
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * unit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_are_deterministic_and_prefix_stable() {
        let a = qr_benchmark_set(7, 3);
        let b = qr_benchmark_set(7, 2);
        assert_eq!(a.len(), 3);
        assert_eq!(a[..2], b[..]);
        assert_ne!(a[0].0, qr_benchmark_set(8, 1)[0].0);
        for (text, img) in &a {
            assert_eq!(text.len(), 135);
            assert!(text.starts_with("LT1"));
            assert!(text.bytes().skip(3).all(|b| BASE32.contains(&b)));
            assert_eq!(img.dimensions(), (FRAME_WIDTH, FRAME_HEIGHT));
        }
    }

    #[test]
    fn unencodable_text_renders_nothing() {
        let huge = "x".repeat(8_000);
        assert_eq!(render_phone_frame(&huge, &PhoneFrame::default()), None);
    }

    #[test]
    fn contrast_squeeze_and_blur_keep_the_range() {
        let mut img = GrayImage::from_fn(9, 3, |x, _| Luma([if x % 2 == 0 { 0 } else { 255 }]));
        squeeze(&mut img, 90, 170);
        assert!(img.pixels().all(|p| p[0] == 90 || p[0] == 170));
        box_blur(&mut img, 1);
        assert!(img.pixels().all(|p| (90..=170).contains(&p[0])));
        assert_eq!(u32::from(img.get_pixel(4, 1)[0]), (170 + 90 + 170) / 3);
    }

    #[test]
    fn xorshift_below_stays_in_range() {
        let mut rng = XorShift::new(0);
        assert!((0..10_000).all(|_| rng.below(7) < 7));
        assert!((0..10_000).all(|_| (2.0..=3.0).contains(&rng.range(2.0, 3.0))));
    }
}
