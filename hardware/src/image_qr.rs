//! QR codes from still images (camera frames, screenshots), via `rqrr`.

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use image::{DynamicImage, GrayImage, ImageReader, Limits, imageops};
use tracing::{debug, info_span, warn};

use crate::framing::clean;
use crate::scan::Scan;

/// AIM symbology identifier of a QR Code (model 2, no ECI).
pub const QR_SYMBOLOGY: &str = "]Q1";

/// Largest image side accepted, in pixels.
const MAX_SIDE: u32 = 16_384;
/// Largest image accepted, in pixels (about a 50 MP camera frame).
const MAX_PIXELS: u64 = 50_000_000;
/// Smallest side that can hold a QR code (version 1 is 21 modules wide).
const MIN_SIDE: u32 = 21;
/// Images whose longer side is at most this are retried upscaled 2x when nothing was found.
const UPSCALE_MAX_SIDE: u32 = 1_024;

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
/// Passes, each skipped once `budget` has elapsed (the first always runs): the grayscale
/// image; its inverse (light-on-dark codes); and, if nothing was found and the image is
/// small, a 2x upscale. Undecodable candidates are skipped.
///
/// # Errors
///
/// [`QrError::TooLarge`] for images over 16384 pixels a side or 50 megapixels.
pub fn decode_qr_image(img: &DynamicImage, budget: Duration) -> Result<Vec<String>, QrError> {
    let started = Instant::now();
    let (width, height) = (img.width(), img.height());
    if u64::from(width) * u64::from(height) > MAX_PIXELS || width.max(height) > MAX_SIDE {
        return Err(QrError::TooLarge { width, height });
    }
    if width.min(height) < MIN_SIDE {
        return Ok(Vec::new());
    }
    let _span = info_span!("decode_qr", width, height).entered();
    let gray = img.to_luma8();
    let mut found = Vec::new();
    search("grayscale", gray.clone(), &mut found);

    let within_budget = || started.elapsed() < budget;
    if within_budget() {
        let mut inverted = gray.clone();
        imageops::invert(&mut inverted);
        search("inverted", inverted, &mut found);
    }
    if found.is_empty() && width.max(height) <= UPSCALE_MAX_SIDE && within_budget() {
        let upscaled =
            imageops::resize(&gray, width * 2, height * 2, imageops::FilterType::Triangle);
        search("upscaled", upscaled, &mut found);
    }
    if !within_budget() {
        debug!(elapsed = ?started.elapsed(), ?budget, "QR time budget used up");
    }
    Ok(found)
}

/// Load the image at `path` and decode its QR codes as scans named `image:<path>`.
///
/// The budget covers loading and decoding; see [`decode_qr_image`]. Scans carry the
/// symbology [`QR_SYMBOLOGY`].
///
/// # Errors
///
/// [`QrError::Load`] if the file cannot be read or is not a supported image (PNG),
/// [`QrError::TooLarge`] as for [`decode_qr_image`].
pub fn decode_qr_file(path: &Path, budget: Duration) -> Result<Vec<Scan>, QrError> {
    let started = Instant::now();
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
fn search(pass: &'static str, img: GrayImage, found: &mut Vec<String>) {
    // rqrr can panic on degenerate input (e.g. WanzenBug/rqrr#54); a bad frame must
    // cost one pass, not the process.
    let decoded = panic::catch_unwind(AssertUnwindSafe(|| {
        let mut prepared = rqrr::PreparedImage::prepare(img);
        prepared
            .detect_grids()
            .iter()
            .filter_map(|grid| match grid.decode() {
                Ok((_, text)) => Some(text),
                Err(err) => {
                    debug!(pass, error = %err, "QR candidate not decodable");
                    None
                }
            })
            .collect::<Vec<_>>()
    }));
    let Ok(texts) = decoded else {
        warn!(pass, "QR decoder panicked; pass skipped");
        return;
    };
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
        search("degenerate", GrayImage::new(0, 50), &mut found);
        assert_eq!(found, ["kept"]);
    }
}
