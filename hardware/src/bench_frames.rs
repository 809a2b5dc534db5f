//! Generated phone-screen frames for tests and the perf harness: QR codes as a till's
//! camera or 2D imager sees them on a customer's phone, for measuring
//! [`decode_qr_image`]'s success rate and time per frame.
//!
//! Everything is generated from a seed (a small xorshift, no `rand`), so a set is the
//! same on every machine and run. A frame (1280×720 or 640×480) shows a counter-top
//! background and a phone with its bezel; on its screen an app's status bar, text, a
//! button and the code, which carries a customer-token-shaped payload (`LT2` and 148
//! base32 characters, 151 in QR alphanumeric mode). The phone is rotated, scaled
//! (bilinear sampling) and optionally tilted away (keystone); then, each optional and
//! parameterised: the screen's pixel grid beating with the sensor (moiré), a thumb over
//! a corner of the quiet zone, contrast squeezed into a narrow gray range, uneven light
//! and glare, motion blur, box blur, dark mode, sensor noise and JPEG compression.
//!
//! Two sets: [`qr_benchmark_set`], the classic mix of moderate distortions, and
//! [`qr_hard_set`], the grid of hard conditions ([`HardCondition`] × imager size ×
//! error-correction level, codes at 2.2–5 pixels per module).
//!
//! [`decode_qr_image`]: crate::decode_qr_image

use image::{GrayImage, Luma};
use qrcode::{Color, EcLevel, QrCode};

/// Width of the classic set's camera frames, in pixels.
pub(crate) const FRAME_WIDTH: u32 = 1280;
/// Height of the classic set's camera frames, in pixels.
pub(crate) const FRAME_HEIGHT: u32 = 720;
/// The imagers of the hard set: a webcam's 1280×720 and a 2D imager's 640×480.
pub const IMAGER_SIZES: [(u32, u32); 2] = [(1280, 720), (640, 480)];

/// Modules of light margin a QR code needs around it.
const QUIET_ZONE: f32 = 4.0;
/// Characters of the base32 alphabet (RFC 4648), all in QR alphanumeric mode.
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Bytes of a customer token (payload and signature), base32-encoded behind `LT2`.
const TOKEN_BYTES: usize = 92;

/// The error-correction level of a generated code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QrEcc {
    /// About 7 % of the codewords can be restored.
    L,
    /// About 15 %: the level of the phone page's codes.
    M,
    /// About 25 %.
    Q,
}

impl QrEcc {
    /// The levels of the hard set.
    pub const ALL: [Self; 3] = [Self::L, Self::M, Self::Q];

    fn level(self) -> EcLevel {
        match self {
            Self::L => EcLevel::L,
            Self::M => EcLevel::M,
            Self::Q => EcLevel::Q,
        }
    }
}

/// A corner of the code's quiet zone, as the screen is upright.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Corner {
    /// Top left.
    TopLeft,
    /// Top right.
    TopRight,
    /// Bottom right.
    BottomRight,
    /// Bottom left.
    BottomLeft,
}

/// How a code is shown on a phone screen and seen by the camera.
#[derive(Clone, Debug, PartialEq)]
pub struct PhoneFrame {
    /// Width and height of the camera frame, in pixels.
    pub frame_size: (u32, u32),
    /// Error-correction level of the code.
    pub ecc: QrEcc,
    /// Rotation of the phone in the frame, in degrees (positive: clockwise on screen).
    pub rotation_deg: f32,
    /// Size of one QR module in the frame at the code's centre, in pixels.
    pub module_px: f32,
    /// Centre of the code in the frame, as fractions of the frame's width and height.
    pub center: (f32, f32),
    /// The phone tilted away: how much narrower the code's top edge is than its bottom
    /// edge, as a fraction of the width (negative: the bottom edge is the narrower).
    pub keystone: f32,
    /// Depth of the screen's pixel grid (dark gaps between its pixels), 0 to 1, which
    /// sampled by the sensor beats into moiré bands (0: none).
    pub moire: f32,
    /// Pitch of the screen's pixel grid at the code's centre, in frame pixels.
    pub screen_pitch_px: f32,
    /// A thumb over this corner of the quiet zone.
    pub thumb: Option<Corner>,
    /// The darkest and lightest gray of the frame: contrast is squeezed into this range.
    pub levels: (u8, u8),
    /// Strength of uneven light, 0 to 1: a shadow falling across the frame and a glare
    /// on the screen near the code (0: even).
    pub uneven_light: f32,
    /// Length of the motion blur, in pixels (0: none).
    pub motion_blur_px: f32,
    /// Direction of the motion, in degrees from the horizontal.
    pub motion_angle_deg: f32,
    /// Radius of the box blur applied to the frame, in pixels (0: sharp).
    pub blur_radius: u32,
    /// Dark mode: the app shows light modules and text on a dark screen.
    pub inverted: bool,
    /// Largest deviation of the uniform per-pixel noise, in gray levels (0: none).
    pub noise: u8,
    /// JPEG quality the frame is compressed at (`None`: not compressed).
    pub jpeg_quality: Option<u8>,
    /// Seed of the screen's decoration, the background, the light and the noise.
    pub seed: u64,
}

impl Default for PhoneFrame {
    /// An upright, sharp, full-contrast level-M code of 5 px modules in the middle of a
    /// 1280×720 frame.
    fn default() -> Self {
        Self {
            frame_size: (FRAME_WIDTH, FRAME_HEIGHT),
            ecc: QrEcc::M,
            rotation_deg: 0.0,
            module_px: 5.0,
            center: (0.5, 0.5),
            keystone: 0.0,
            moire: 0.0,
            screen_pitch_px: 1.0,
            thumb: None,
            levels: (0, 255),
            uneven_light: 0.0,
            motion_blur_px: 0.0,
            motion_angle_deg: 0.0,
            blur_radius: 0,
            inverted: false,
            noise: 0,
            jpeg_quality: None,
            seed: 1,
        }
    }
}

/// The hard conditions of [`qr_hard_set`]: each one what a till's imager really sees,
/// at full strength, over mild rotation, contrast and noise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HardCondition {
    /// The phone tilted away: keystone of 15–33 % of the width.
    Keystone,
    /// The screen's pixel grid beating with the sensor: depth 0.25–0.5, pitch 0.7–1.6 px.
    Moire,
    /// JPEG at quality 35–70.
    Jpeg,
    /// Motion blur of 3–5 px in any direction.
    MotionBlur,
    /// A shadow across the frame and a glare on the screen, strength 0.5–1.
    UnevenLight,
    /// A thumb over a corner of the quiet zone.
    Thumb,
    /// All of the above at once, each milder.
    AllAtOnce,
}

impl HardCondition {
    /// Every condition, in the order the harness prints them.
    pub const ALL: [Self; 7] = [
        Self::Keystone,
        Self::Moire,
        Self::Jpeg,
        Self::MotionBlur,
        Self::UnevenLight,
        Self::Thumb,
        Self::AllAtOnce,
    ];

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Keystone => "keystone",
            Self::Moire => "moiré",
            Self::Jpeg => "JPEG q35–70",
            Self::MotionBlur => "motion blur 3–5 px",
            Self::UnevenLight => "uneven light",
            Self::Thumb => "thumb on the quiet zone",
            Self::AllAtOnce => "all at once",
        }
    }
}

/// One frame of [`qr_hard_set`].
#[derive(Clone, Debug, PartialEq)]
pub struct HardFrame {
    /// The condition the frame shows.
    pub condition: HardCondition,
    /// The text the code encodes.
    pub text: String,
    /// How it was rendered.
    pub style: PhoneFrame,
    /// The camera frame.
    pub image: GrayImage,
}

/// A fixed set of `n` 1280×720 phone-screen frames and the text each one encodes (a
/// customer-token-shaped payload), with varied rotation (±8°), module size (3–6 px),
/// position, blur, contrast, dark mode and noise. The same `seed` and `n` always give
/// the same frames, and the first `k` frames of a larger set are the set of `k`.
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

/// The grid of hard conditions: for every [`HardCondition`], imager size
/// ([`IMAGER_SIZES`]) and error-correction level ([`QrEcc::ALL`]), `per_cell` frames
/// with codes spread evenly over 2.2–5 pixels per module. The same `seed` and
/// `per_cell` always give the same frames.
pub fn qr_hard_set(seed: u64, per_cell: usize) -> Vec<HardFrame> {
    qr_hard_styles(seed, per_cell)
        .into_iter()
        .filter_map(|(condition, text, style)| {
            let image = render_phone_frame(&text, &style)?;
            Some(HardFrame {
                condition,
                text,
                style,
                image,
            })
        })
        .collect()
}

/// The conditions, texts and styles [`qr_hard_set`] renders.
pub fn qr_hard_styles(seed: u64, per_cell: usize) -> Vec<(HardCondition, String, PhoneFrame)> {
    let mut out = Vec::new();
    for (c, condition) in HardCondition::ALL.into_iter().enumerate() {
        for (s, size) in IMAGER_SIZES.into_iter().enumerate() {
            for (e, ecc) in QrEcc::ALL.into_iter().enumerate() {
                for i in 0..per_cell {
                    let cell = ((c * 8 + s) * 4 + e) as u64;
                    let mut rng = XorShift::new(
                        seed ^ cell.wrapping_mul(0x9FB2_1C65_1E98_DF25)
                            ^ (i as u64).wrapping_mul(0xA076_1D64_78BD_642F),
                    );
                    let text = token_like(&mut rng);
                    // Stratified: frame i of the cell lies in the i-th slice of the range.
                    let slice = (i as f32 + rng.range(0.0, 1.0)) / per_cell.max(1) as f32;
                    let module_px = 2.2 + (5.0 - 2.2) * slice;
                    let style = hard_frame(condition, size, ecc, module_px, &mut rng);
                    out.push((condition, text, style));
                }
            }
        }
    }
    out
}

/// Render `text` as a QR code on a phone screen in a camera frame styled by `frame`;
/// `None` if `text` does not fit in a QR code at its level or the frame is empty.
pub fn render_phone_frame(text: &str, frame: &PhoneFrame) -> Option<GrayImage> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), frame.ecc.level()).ok()?;
    let (width, height) = frame.frame_size;
    if width == 0 || height == 0 {
        return None;
    }
    let mut rng = XorShift::new(frame.seed);
    let screen = Screen::render(&code, frame, &mut rng);
    let mut img = compose(&screen, frame, &mut rng);
    let (lo, hi) = frame.levels;
    squeeze(&mut img, lo, hi);
    uneven_light(&mut img, frame, code.width() as f32, &mut rng);
    motion_blur(&mut img, frame.motion_blur_px, frame.motion_angle_deg);
    box_blur(&mut img, frame.blur_radius);
    add_noise(&mut img, frame.noise, &mut rng);
    match frame.jpeg_quality {
        Some(quality) => jpeg_round_trip(&img, quality),
        None => Some(img),
    }
}

/// A customer-token-shaped payload: `LT2` and 92 random bytes in unpadded base32.
fn token_like(rng: &mut XorShift) -> String {
    let bytes: Vec<u8> = (0..TOKEN_BYTES).map(|_| rng.below(256) as u8).collect();
    let mut text = String::from("LT2");
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            text.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        text.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
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
        ..PhoneFrame::default()
    }
}

/// A frame of `condition`: mild rotation, contrast, dark mode and noise, and the
/// condition's distortion drawn from its range.
fn hard_frame(
    condition: HardCondition,
    frame_size: (u32, u32),
    ecc: QrEcc,
    module_px: f32,
    rng: &mut XorShift,
) -> PhoneFrame {
    let sign = |rng: &mut XorShift| if rng.below(2) == 0 { -1.0 } else { 1.0 };
    let corner = |rng: &mut XorShift| {
        [
            Corner::TopLeft,
            Corner::TopRight,
            Corner::BottomRight,
            Corner::BottomLeft,
        ][rng.below(4) as usize]
    };
    let mut frame = PhoneFrame {
        frame_size,
        ecc,
        rotation_deg: rng.range(-8.0, 8.0),
        module_px,
        levels: (rng.below(40) as u8, 200 + rng.below(56) as u8),
        inverted: rng.below(6) == 0,
        noise: rng.below(9) as u8,
        seed: rng.next_u64(),
        ..PhoneFrame::default()
    };
    match condition {
        HardCondition::Keystone => frame.keystone = sign(rng) * rng.range(0.15, 1.0 / 3.0),
        HardCondition::Moire => {
            frame.moire = rng.range(0.25, 0.5);
            frame.screen_pitch_px = rng.range(0.7, 1.6);
        }
        HardCondition::Jpeg => frame.jpeg_quality = Some(35 + rng.below(36) as u8),
        HardCondition::MotionBlur => {
            frame.motion_blur_px = rng.range(3.0, 5.0);
            frame.motion_angle_deg = rng.range(0.0, 180.0);
        }
        HardCondition::UnevenLight => frame.uneven_light = rng.range(0.5, 1.0),
        HardCondition::Thumb => frame.thumb = Some(corner(rng)),
        HardCondition::AllAtOnce => {
            frame.keystone = sign(rng) * rng.range(0.05, 0.2);
            frame.moire = rng.range(0.1, 0.25);
            frame.screen_pitch_px = rng.range(0.7, 1.6);
            frame.jpeg_quality = Some(50 + rng.below(21) as u8);
            frame.motion_blur_px = 3.0;
            frame.motion_angle_deg = rng.range(0.0, 180.0);
            frame.uneven_light = rng.range(0.3, 0.6);
            frame.thumb = Some(corner(rng));
        }
    }
    // Keep the code and its quiet zone inside the frame: a version 8 code (level Q) is
    // 49 modules, 57 with the quiet zone; rotation and keystone widen it.
    let half = 57.0 * module_px * 0.75 / (1.0 - frame.keystone.abs() / 2.0);
    let (w, h) = (frame_size.0 as f32, frame_size.1 as f32);
    let place = |rng: &mut XorShift, side: f32| {
        if 2.0 * half < side {
            rng.range(half, side - half) / side
        } else {
            0.5
        }
    };
    frame.center = (place(rng, w), place(rng, h));
    frame
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
    /// Modules across the code.
    modules: f32,
}

impl Screen {
    fn render(code: &QrCode, frame: &PhoneFrame, rng: &mut XorShift) -> Self {
        // Supersample a little so the bilinear resampling averages, not skips, pixels.
        let scale = frame.module_px.max(1.0).ceil();
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
        if frame.inverted {
            image::imageops::invert(&mut img);
        }
        if let Some(corner) = frame.thumb {
            let (x, y) = match corner {
                Corner::TopLeft => (left, top),
                Corner::TopRight => (left + card, top),
                Corner::BottomRight => (left + card, top + card),
                Corner::BottomLeft => (left, top + card),
            };
            let outward = match corner {
                Corner::TopLeft => (-1.0, -1.0),
                Corner::TopRight => (1.0, -1.0),
                Corner::BottomRight => (1.0, 1.0),
                Corner::BottomLeft => (-1.0, 1.0),
            };
            thumb(&mut img, scale, (x, y), outward, rng);
        }
        let code_center = ((left + card / 2.0) * scale, (top + card / 2.0) * scale);
        Self {
            img,
            scale,
            code_center,
            bezel: 2.5 * scale,
            modules,
        }
    }
}

/// A thumb over the quiet zone's corner at `corner` (module units): an ellipse along
/// the diagonal `outward`, its tip a little short of the code's own corner, lit at its
/// middle and darker towards its rim.
fn thumb(
    img: &mut GrayImage,
    scale: f32,
    corner: (f32, f32),
    outward: (f32, f32),
    rng: &mut XorShift,
) {
    // The code's corner is QUIET_ZONE·√2 ≈ 5.7 modules in along the diagonal; the tip
    // stops 0.3–1.2 modules short of it.
    let (along, across) = (rng.range(7.0, 8.0), rng.range(4.5, 5.5));
    let diagonal = QUIET_ZONE * std::f32::consts::SQRT_2;
    let reach = diagonal - rng.range(0.3, 1.2);
    let norm = std::f32::consts::FRAC_1_SQRT_2;
    let (ox, oy) = (outward.0 * norm, outward.1 * norm);
    let centre = (
        corner.0 + ox * (along - reach),
        corner.1 + oy * (along - reach),
    );
    let skin = rng.range(150.0, 200.0);
    let (w, h) = img.dimensions();
    let extent = along + 1.0;
    let px = |v: f32, max: u32| ((v * scale).max(0.0) as u32).min(max);
    for y in px(centre.1 - extent, h)..px(centre.1 + extent, h) {
        for x in px(centre.0 - extent, w)..px(centre.0 + extent, w) {
            let (dx, dy) = (
                (x as f32 + 0.5) / scale - centre.0,
                (y as f32 + 0.5) / scale - centre.1,
            );
            let (a, b) = (dx * ox + dy * oy, -dx * oy + dy * ox);
            let r2 = (a / along).powi(2) + (b / across).powi(2);
            if r2 < 1.0 {
                let gray = skin * (1.0 - 0.45 * r2 * r2);
                img.put_pixel(x, y, Luma([gray.round().clamp(0.0, 255.0) as u8]));
            }
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

/// Place the rotated, scaled and tilted screen on a background, sampling it bilinearly,
/// with the screen's pixel grid over it.
fn compose(screen: &Screen, frame: &PhoneFrame, rng: &mut XorShift) -> GrayImage {
    let (width, height) = frame.frame_size;
    let background = Background::new(rng, width, height);
    let (tw, th) = (screen.img.width() as f32, screen.img.height() as f32);
    let (sin, cos) = frame.rotation_deg.to_radians().sin_cos();
    let module_px = frame.module_px.max(0.5);
    // Texture pixels per frame pixel at the code's centre.
    let step = screen.scale / module_px;
    let (cx, cy) = (
        frame.center.0 * width as f32,
        frame.center.1 * height as f32,
    );
    // Keystone: an offset (X, Y) on the untilted screen lands at (X, Y) / (1 - kY), so
    // a row at Y is scaled by 1 / (1 - kY); the code's top and bottom rows, half a code
    // (`half`) from its centre, then differ in width by the factor 1 - keystone.
    let keystone = frame.keystone.clamp(-0.9, 0.9);
    let half = 0.5 * screen.modules * module_px;
    let k = keystone / (2.0 - keystone.abs()) / half;
    // The screen's pixel pitch in texture pixels.
    let pitch = frame.screen_pitch_px.max(0.1) * step;
    let depth = frame.moire.clamp(0.0, 1.0);
    GrayImage::from_fn(width, height, |x, y| {
        let (mut dx, mut dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
        if k != 0.0 {
            let w = 1.0 + k * dy;
            if w <= 0.05 {
                return Luma([background.at(x, y).round().clamp(0.0, 255.0) as u8]);
            }
            (dx, dy) = (dx / w, dy / w);
        }
        // Rotate the frame offset back into the upright screen.
        let u = (dx * cos + dy * sin) * step + screen.code_center.0;
        let v = (-dx * sin + dy * cos) * step + screen.code_center.1;
        let gray = if u >= 0.0 && v >= 0.0 && u < tw && v < th {
            let lit = bilinear(&screen.img, u - 0.5, v - 0.5);
            if depth > 0.0 {
                let gap = |t: f32| 0.5 - 0.5 * (std::f32::consts::TAU * t / pitch).cos();
                lit * (1.0 - depth * 0.5 * (gap(u) + gap(v)))
            } else {
                lit
            }
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
    fn new(rng: &mut XorShift, width: u32, height: u32) -> Self {
        let gradient = (
            rng.range(80.0, 170.0),
            rng.range(-0.05, 0.05),
            rng.range(-0.08, 0.08),
        );
        let objects = (0..rng.below(4))
            .map(|_| {
                let (x, y) = (rng.below(width), rng.below(height));
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

/// Uneven light of `frame.uneven_light`'s strength: a shadow darkening the frame by up
/// to 60 % along a random direction, and a glare (a Gaussian spot, up to +110 gray
/// levels) on the screen within a code's width of the code's centre.
fn uneven_light(img: &mut GrayImage, frame: &PhoneFrame, modules: f32, rng: &mut XorShift) {
    let strength = frame.uneven_light.clamp(0.0, 1.0);
    if strength == 0.0 {
        return;
    }
    let (w, h) = (img.width() as f32, img.height() as f32);
    let (sin, cos) = rng.range(0.0, std::f32::consts::TAU).sin_cos();
    let reach = 0.5 * (w.abs() + h.abs());
    let code_px = modules * frame.module_px;
    let glare = (
        frame.center.0 * w + rng.range(-0.5, 0.5) * code_px,
        frame.center.1 * h + rng.range(-0.5, 0.5) * code_px,
    );
    let sigma = code_px * rng.range(0.25, 0.45);
    let peak = 110.0 * strength;
    for (x, y, pixel) in img.enumerate_pixels_mut() {
        let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
        let along = ((px - w / 2.0) * cos + (py - h / 2.0) * sin) / reach + 0.5;
        let light = 1.0 - 0.6 * strength * along.clamp(0.0, 1.0);
        let r2 = (px - glare.0).powi(2) + (py - glare.1).powi(2);
        let shine = peak * (-r2 / (2.0 * sigma * sigma)).exp();
        let v = f32::from(pixel[0]) * light + shine;
        pixel[0] = v.round().clamp(0.0, 255.0) as u8;
    }
}

/// Linear motion blur: each pixel the mean of the image along a segment of `length`
/// pixels through it at `angle_deg`, sampled bilinearly every half pixel or so.
fn motion_blur(img: &mut GrayImage, length: f32, angle_deg: f32) {
    if length < 1.0 {
        return;
    }
    let source = img.clone();
    let (sin, cos) = angle_deg.to_radians().sin_cos();
    let samples = (length * 1.5).ceil() as usize + 1;
    let offsets: Vec<(f32, f32)> = (0..samples)
        .map(|i| {
            let t = (i as f32 / (samples - 1) as f32 - 0.5) * length;
            (t * cos, t * sin)
        })
        .collect();
    for (x, y, pixel) in img.enumerate_pixels_mut() {
        let sum: f32 = offsets
            .iter()
            .map(|(dx, dy)| bilinear(&source, x as f32 + dx, y as f32 + dy))
            .sum();
        pixel[0] = (sum / samples as f32).round().clamp(0.0, 255.0) as u8;
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

/// The frame as a JPEG encoder at `quality` (1–100) leaves it, decoded again.
fn jpeg_round_trip(img: &GrayImage, quality: u8) -> Option<GrayImage> {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality.clamp(1, 100))
        .encode_image(img)
        .ok()?;
    image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
        .ok()
        .map(|decoded| decoded.to_luma8())
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

    fn is_token(text: &str) -> bool {
        text.len() == 151
            && text.starts_with("LT2")
            && text.bytes().skip(3).all(|b| BASE32.contains(&b))
    }

    #[test]
    fn sets_are_deterministic_and_prefix_stable() {
        let a = qr_benchmark_set(7, 3);
        let b = qr_benchmark_set(7, 2);
        assert_eq!(a.len(), 3);
        assert_eq!(a[..2], b[..]);
        assert_ne!(a[0].0, qr_benchmark_set(8, 1)[0].0);
        for (text, img) in &a {
            assert!(is_token(text), "{text}");
            assert_eq!(img.dimensions(), (FRAME_WIDTH, FRAME_HEIGHT));
        }
    }

    #[test]
    fn tokens_are_version_6_at_level_m_in_alphanumeric_mode() {
        let text = token_like(&mut XorShift::new(3));
        assert!(is_token(&text), "{text}");
        // 92 bytes are 736 bits: the last character carries one bit.
        assert!(text.ends_with('A') || text.ends_with('Q'), "{text}");
        let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).unwrap();
        assert_eq!(code.version(), qrcode::Version::Normal(6));
    }

    #[test]
    fn the_hard_grid_covers_every_condition_imager_and_level() {
        let styles = qr_hard_styles(5, 2);
        assert_eq!(styles.len(), 7 * 2 * 3 * 2);
        assert_eq!(styles, qr_hard_styles(5, 2));
        for condition in HardCondition::ALL {
            for size in IMAGER_SIZES {
                for ecc in QrEcc::ALL {
                    let cell: Vec<_> = styles
                        .iter()
                        .filter(|(c, _, s)| *c == condition && s.frame_size == size && s.ecc == ecc)
                        .collect();
                    assert_eq!(cell.len(), 2, "{condition:?} {size:?} {ecc:?}");
                    // Stratified module sizes: one in each half of 2.2–5 px.
                    assert!((2.2..3.6).contains(&cell[0].2.module_px));
                    assert!((3.6..5.0).contains(&cell[1].2.module_px));
                }
            }
        }
        for (condition, text, s) in &styles {
            assert!(is_token(text));
            let hard = match condition {
                HardCondition::Keystone => (0.15..=0.34).contains(&s.keystone.abs()),
                HardCondition::Moire => s.moire >= 0.25 && (0.7..1.6).contains(&s.screen_pitch_px),
                HardCondition::Jpeg => s.jpeg_quality.is_some_and(|q| (35..=70).contains(&q)),
                HardCondition::MotionBlur => (3.0..5.0).contains(&s.motion_blur_px),
                HardCondition::UnevenLight => s.uneven_light >= 0.5,
                HardCondition::Thumb => s.thumb.is_some(),
                HardCondition::AllAtOnce => {
                    s.keystone != 0.0
                        && s.moire > 0.0
                        && s.jpeg_quality.is_some()
                        && s.motion_blur_px >= 3.0
                        && s.uneven_light > 0.0
                        && s.thumb.is_some()
                }
            };
            assert!(hard, "{condition:?}: {s:?}");
        }
    }

    #[test]
    fn levels_choose_the_code_version() {
        let text = token_like(&mut XorShift::new(4));
        let version = |ecc: QrEcc| {
            QrCode::with_error_correction_level(text.as_bytes(), ecc.level())
                .unwrap()
                .version()
        };
        assert_eq!(version(QrEcc::L), qrcode::Version::Normal(5));
        assert_eq!(version(QrEcc::M), qrcode::Version::Normal(6));
        assert_eq!(version(QrEcc::Q), qrcode::Version::Normal(8));
    }

    #[test]
    fn each_distortion_changes_the_frame_and_keeps_its_size() {
        let text = token_like(&mut XorShift::new(6));
        let base = PhoneFrame {
            frame_size: (640, 480),
            module_px: 3.0,
            ..PhoneFrame::default()
        };
        let plain = render_phone_frame(&text, &base).unwrap();
        assert_eq!(plain.dimensions(), (640, 480));
        let variants = [
            PhoneFrame {
                keystone: 0.3,
                ..base.clone()
            },
            PhoneFrame {
                moire: 0.4,
                screen_pitch_px: 1.1,
                ..base.clone()
            },
            PhoneFrame {
                jpeg_quality: Some(35),
                ..base.clone()
            },
            PhoneFrame {
                motion_blur_px: 4.0,
                motion_angle_deg: 30.0,
                ..base.clone()
            },
            PhoneFrame {
                uneven_light: 1.0,
                ..base.clone()
            },
            PhoneFrame {
                thumb: Some(Corner::BottomLeft),
                ..base.clone()
            },
        ];
        for style in variants {
            let img = render_phone_frame(&text, &style).unwrap();
            assert_eq!(img.dimensions(), (640, 480));
            assert_ne!(img, plain, "{style:?}");
        }
    }

    #[test]
    fn keystone_narrows_the_top_of_the_code() {
        // A white code card on a dark screen: measure its width near the top and bottom.
        let text = token_like(&mut XorShift::new(7));
        let style = PhoneFrame {
            keystone: 0.3,
            module_px: 4.0,
            ..PhoneFrame::default()
        };
        let img = render_phone_frame(&text, &style).unwrap();
        let code = 41.0 * 4.0;
        let white_run = |y: f32| {
            let y = (360.0 + y) as u32;
            (0..img.width())
                .filter(|&x| img.get_pixel(x, y)[0] == 255)
                .count() as f32
        };
        // The card is 49 modules wide; its rows just inside the quiet zone are white.
        let (top, bottom) = (white_run(-code / 2.0 - 6.0), white_run(code / 2.0 + 6.0));
        assert!(top < bottom * 0.8, "top {top} bottom {bottom}");
    }

    #[test]
    fn jpeg_round_trip_keeps_the_picture_roughly() {
        let img = GrayImage::from_fn(64, 64, |x, _| Luma([if x < 32 { 20 } else { 230 }]));
        let out = jpeg_round_trip(&img, 35).unwrap();
        assert_eq!(out.dimensions(), (64, 64));
        assert!(out.get_pixel(5, 5)[0] < 60 && out.get_pixel(60, 5)[0] > 190);
        assert_ne!(out, img);
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
    fn motion_blur_spreads_an_edge_along_its_direction_only() {
        let mut img = GrayImage::from_fn(20, 20, |x, _| Luma([if x < 10 { 0 } else { 255 }]));
        let before = img.clone();
        // Vertical motion leaves a vertical edge alone.
        motion_blur(&mut img, 4.0, 90.0);
        assert_eq!(img.get_pixel(9, 10), before.get_pixel(9, 10));
        // Horizontal motion spreads it.
        motion_blur(&mut img, 4.0, 0.0);
        let mid = img.get_pixel(10, 10)[0];
        assert!((60..200).contains(&mid), "{mid}");
    }

    #[test]
    fn xorshift_below_stays_in_range() {
        let mut rng = XorShift::new(0);
        assert!((0..10_000).all(|_| rng.below(7) < 7));
        assert!((0..10_000).all(|_| (2.0..=3.0).contains(&rng.range(2.0, 3.0))));
    }
}
