//! Pictures and posters of promotions, checked and made safe before they
//! are stored (no IO here: bytes in, bytes out).
//!
//! An upload is trusted for nothing. Its kind is sniffed from its first
//! bytes ([`image::guess_format`]), never taken from a file name or a
//! browser's content type; only JPEG, PNG and WebP are taken (pure-Rust
//! decoders). The byte count is checked first, then the picture's size is
//! read from its header alone and refused past [`MAX_PIXELS`] (or
//! [`MAX_SIDE`]) before a single pixel is decoded, so a decompression bomb
//! (a small file claiming a huge canvas) costs a header read; the decoder
//! also runs under [`image::Limits`]. What is kept is re-encoded from the
//! pixels: no EXIF, no GPS, no comment of the original survives. The EXIF
//! orientation is applied first, so a phone's photo stands upright. A
//! picture with transparency, or one that came as PNG (drawings, posters
//! with text), is kept as PNG; a photo as JPEG. Pictures wider or taller
//! than [`MAX_STORED_SIDE`] are scaled down, and a thumbnail of at most
//! [`THUMBNAIL_SIDE`] is made for the phone page.
//!
//! The stored picture is named by the SHA-256 of its re-encoded bytes, so
//! the same picture uploaded twice is one row, and the name is its `ETag`.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder as _, ImageError, ImageFormat, ImageReader, Limits};
use shared::crypto::{Hash256, sha256};

/// The largest upload taken, in bytes (8 MiB).
pub const MAX_BYTES: usize = 8 * 1024 * 1024;
/// The most pixels a picture may have (40 megapixels: a phone camera's).
pub const MAX_PIXELS: u64 = 40_000_000;
/// The longest side a picture may have.
pub const MAX_SIDE: u32 = 12_000;
/// The longest side of a stored picture; larger ones are scaled down.
pub const MAX_STORED_SIDE: u32 = 2048;
/// The longest side of a thumbnail.
pub const THUMBNAIL_SIDE: u32 = 640;
/// What the decoder may allocate at most, beyond the picture itself.
const MAX_DECODER_ALLOC: u64 = 256 * 1024 * 1024;
/// The JPEG quality of photos kept.
const JPEG_QUALITY: u8 = 85;

/// Why an upload is refused. Each names the problem, for the person who
/// sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// Nothing was sent.
    #[error("no picture was sent")]
    Empty,
    /// More bytes than [`MAX_BYTES`].
    #[error("the file is too big: {bytes} bytes, at most {max} are taken")]
    TooBig {
        /// Bytes sent (at least).
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// Not a picture at all (by its bytes).
    #[error("the file is not a picture: only JPEG, PNG and WebP pictures are taken")]
    NotAPicture,
    /// A picture of a kind not taken (GIF, BMP, TIFF…).
    #[error("a {kind} picture is not taken: only JPEG, PNG and WebP are")]
    UnsupportedKind {
        /// The kind, as sniffed.
        kind: String,
    },
    /// More pixels than [`MAX_PIXELS`], or a side longer than [`MAX_SIDE`];
    /// refused from the header, before decoding.
    #[error(
        "the picture has too many pixels: {width}×{height}, at most {max_pixels} pixels and \
         {max_side} on a side are taken"
    )]
    TooManyPixels {
        /// Its width, as its header claims.
        width: u32,
        /// Its height.
        height: u32,
        /// The pixel limit.
        max_pixels: u64,
        /// The side limit.
        max_side: u32,
    },
    /// It claims to be a picture but cannot be read.
    #[error("the picture is damaged or cut short and cannot be read")]
    Damaged,
}

impl MediaError {
    /// The stable code of the JSON API.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            MediaError::Empty => "empty_picture",
            MediaError::TooBig { .. } => "picture_too_big",
            MediaError::NotAPicture => "not_a_picture",
            MediaError::UnsupportedKind { .. } => "unsupported_picture",
            MediaError::TooManyPixels { .. } => "too_many_pixels",
            MediaError::Damaged => "damaged_picture",
        }
    }

    /// The pages' message id.
    #[must_use]
    pub const fn message_id(&self) -> &'static str {
        match self {
            MediaError::Empty => "media-error-empty",
            MediaError::TooBig { .. } => "media-error-too-big",
            MediaError::NotAPicture => "media-error-not-a-picture",
            MediaError::UnsupportedKind { .. } => "media-error-unsupported",
            MediaError::TooManyPixels { .. } => "media-error-too-many-pixels",
            MediaError::Damaged => "media-error-damaged",
        }
    }
}

/// The kind a stored picture is kept as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredKind {
    /// Photos.
    Jpeg,
    /// Transparency, drawings, posters with text.
    Png,
}

impl StoredKind {
    /// Its `Content-Type`.
    #[must_use]
    pub const fn content_type(self) -> &'static str {
        match self {
            StoredKind::Jpeg => "image/jpeg",
            StoredKind::Png => "image/png",
        }
    }
}

/// A picture made safe: re-encoded, with its thumbnail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    /// SHA-256 of `bytes`: the picture's name.
    pub hash: Hash256,
    /// What both `bytes` and `thumbnail` are.
    pub kind: StoredKind,
    /// The re-encoded picture.
    pub bytes: Vec<u8>,
    /// Its width.
    pub width: u32,
    /// Its height.
    pub height: u32,
    /// The thumbnail.
    pub thumbnail: Vec<u8>,
    /// The thumbnail's width.
    pub thumbnail_width: u32,
    /// The thumbnail's height.
    pub thumbnail_height: u32,
}

/// Checks an upload and makes it safe (see the module doc).
pub fn process(upload: &[u8]) -> Result<Processed, MediaError> {
    if upload.is_empty() {
        return Err(MediaError::Empty);
    }
    if upload.len() > MAX_BYTES {
        return Err(MediaError::TooBig {
            bytes: upload.len(),
            max: MAX_BYTES,
        });
    }
    let format = sniff(upload)?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODER_ALLOC);
    let mut reader = ImageReader::with_format(Cursor::new(upload), format);
    reader.limits(limits);
    // Building the decoder reads the header only.
    let mut decoder = reader.into_decoder().map_err(|e| refusal(&e))?;
    let (width, height) = decoder.dimensions();
    check_pixels(width, height)?;
    let orientation = decoder.orientation().ok();
    let mut picture = DynamicImage::from_decoder(decoder).map_err(|e| refusal(&e))?;
    if let Some(orientation) = orientation {
        picture.apply_orientation(orientation);
    }
    let kind = if uses_transparency(&picture) || format == ImageFormat::Png {
        StoredKind::Png
    } else {
        StoredKind::Jpeg
    };
    let picture = fit(picture, MAX_STORED_SIDE);
    let bytes = encode(&picture, kind)?;
    let thumb = fit(picture.clone(), THUMBNAIL_SIDE);
    let thumbnail = encode(&thumb, kind)?;
    Ok(Processed {
        hash: sha256(&bytes),
        kind,
        width: picture.width(),
        height: picture.height(),
        bytes,
        thumbnail_width: thumb.width(),
        thumbnail_height: thumb.height(),
        thumbnail,
    })
}

/// The picture's kind from its first bytes; only JPEG, PNG and WebP pass.
fn sniff(upload: &[u8]) -> Result<ImageFormat, MediaError> {
    match image::guess_format(upload) {
        Ok(f @ (ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP)) => Ok(f),
        Ok(other) => Err(MediaError::UnsupportedKind {
            kind: other
                .extensions_str()
                .first()
                .map_or_else(|| format!("{other:?}"), |e| e.to_uppercase()),
        }),
        Err(_) => Err(MediaError::NotAPicture),
    }
}

/// Refuses a canvas past the limits, from the header's claim.
fn check_pixels(width: u32, height: u32) -> Result<(), MediaError> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS || width > MAX_SIDE || height > MAX_SIDE || pixels == 0 {
        return Err(MediaError::TooManyPixels {
            width,
            height,
            max_pixels: MAX_PIXELS,
            max_side: MAX_SIDE,
        });
    }
    Ok(())
}

/// A decoder's failure as a refusal: its limits are a picture too large,
/// anything else a damaged file.
fn refusal(e: &ImageError) -> MediaError {
    match e {
        ImageError::Limits(_) => MediaError::TooManyPixels {
            width: 0,
            height: 0,
            max_pixels: MAX_PIXELS,
            max_side: MAX_SIDE,
        },
        _ => MediaError::Damaged,
    }
}

/// Whether any pixel is not fully opaque.
fn uses_transparency(picture: &DynamicImage) -> bool {
    picture.color().has_alpha() && picture.to_rgba8().pixels().any(|p| p.0[3] < u8::MAX)
}

/// The picture scaled down to fit `side` × `side`, its proportions kept;
/// a smaller one as it is.
fn fit(picture: DynamicImage, side: u32) -> DynamicImage {
    if picture.width() <= side && picture.height() <= side {
        picture
    } else {
        picture.resize(side, side, FilterType::Triangle)
    }
}

/// Encodes 8-bit pixels as `kind`: nothing but the pixels is written.
fn encode(picture: &DynamicImage, kind: StoredKind) -> Result<Vec<u8>, MediaError> {
    let mut out = Vec::new();
    let written = match kind {
        StoredKind::Jpeg => DynamicImage::ImageRgb8(picture.to_rgb8())
            .write_with_encoder(JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)),
        StoredKind::Png => {
            let pixels = if picture.color().has_alpha() {
                DynamicImage::ImageRgba8(picture.to_rgba8())
            } else {
                DynamicImage::ImageRgb8(picture.to_rgb8())
            };
            pixels.write_with_encoder(PngEncoder::new_with_quality(
                &mut out,
                CompressionType::Default,
                PngFilter::Adaptive,
            ))
        }
    };
    // Encoding pixels already decoded fails only on a broken picture.
    written.map_err(|_| MediaError::Damaged)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    /// A photo-like gradient, encoded as `format`.
    fn picture(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
        let img = RgbImage::from_fn(width, height, |x, y| {
            Rgb([
                (x * 7 % 256) as u8,
                (y * 5 % 256) as u8,
                ((x + y) % 256) as u8,
            ])
        });
        let mut out = Cursor::new(Vec::new());
        DynamicImage::ImageRgb8(img)
            .write_to(&mut out, format)
            .expect("encodes");
        out.into_inner()
    }

    /// CRC-32 (ISO-HDLC) of PNG chunks.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = u32::MAX;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// A PNG whose header claims `width` × `height`, with a valid CRC and
    /// a few bytes of compressed data: decoding it would need gigabytes.
    fn png_claiming(width: u32, height: u32) -> Vec<u8> {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend_from_slice(&width.to_be_bytes());
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
        png.extend_from_slice(&13u32.to_be_bytes());
        png.extend_from_slice(&ihdr);
        png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
        let mut idat = b"IDAT".to_vec();
        idat.extend_from_slice(&[0x78, 0x9c, 0x63, 0, 0, 0, 1, 0, 1]);
        png.extend_from_slice(&u32::try_from(idat.len() - 4).unwrap().to_be_bytes());
        png.extend_from_slice(&idat);
        png.extend_from_slice(&crc32(&idat).to_be_bytes());
        png
    }

    /// `jpeg` with an EXIF segment (APP1) holding `secret` right after SOI.
    fn with_exif(jpeg: &[u8], secret: &[u8]) -> Vec<u8> {
        assert_eq!(&jpeg[..2], b"\xff\xd8");
        let mut payload = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\0".to_vec();
        payload.extend_from_slice(secret);
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(b"\xff\xe1");
        out.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
        out.extend_from_slice(&payload);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn a_text_file_named_like_a_picture_is_refused_by_its_bytes() {
        // A name ("menu.jpg") or a browser's content type never reach here:
        // the bytes alone decide.
        let text = b"Dear customer, this is not a picture at all.\n";
        assert_eq!(process(text), Err(MediaError::NotAPicture));
        assert_eq!(process(b""), Err(MediaError::Empty));
        let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;";
        assert_eq!(
            process(gif),
            Err(MediaError::UnsupportedKind {
                kind: "GIF".to_owned()
            })
        );
    }

    #[test]
    fn a_header_claiming_a_huge_canvas_is_refused_before_decoding() {
        let bomb = png_claiming(100_000, 100_000);
        assert!(bomb.len() < 100, "a tiny file");
        // Refused from the header's claim: decoding would fail otherwise
        // (as damaged), and would first allocate 30 GB.
        assert_eq!(
            process(&bomb),
            Err(MediaError::TooManyPixels {
                width: 100_000,
                height: 100_000,
                max_pixels: MAX_PIXELS,
                max_side: MAX_SIDE,
            })
        );
        // A side past the limit, few pixels in all.
        assert!(matches!(
            process(&png_claiming(20_000, 1)),
            Err(MediaError::TooManyPixels { width: 20_000, .. })
        ));
        // The same header with a sane size is read, and found cut short.
        assert_eq!(process(&png_claiming(64, 64)), Err(MediaError::Damaged));
    }

    #[test]
    fn too_many_bytes_are_refused_before_anything_is_read() {
        let mut big = picture(8, 8, ImageFormat::Png);
        big.resize(MAX_BYTES + 1, 0);
        assert_eq!(
            process(&big),
            Err(MediaError::TooBig {
                bytes: MAX_BYTES + 1,
                max: MAX_BYTES
            })
        );
    }

    #[test]
    fn exif_is_stripped_by_re_encoding() {
        let secret = b"GPS 55.7558N 37.6173E owner Ivan";
        let upload = with_exif(&picture(64, 48, ImageFormat::Jpeg), secret);
        assert!(
            upload.windows(4).any(|w| w == b"Exif"),
            "the upload has EXIF"
        );
        let kept = process(&upload).expect("a JPEG photo is taken");
        assert_eq!(kept.kind, StoredKind::Jpeg);
        assert_eq!((kept.width, kept.height), (64, 48));
        for bytes in [&kept.bytes, &kept.thumbnail] {
            assert!(!bytes.windows(4).any(|w| w == b"Exif"), "no EXIF segment");
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret),
                "nothing of it"
            );
            let back = image::load_from_memory(bytes).expect("what is kept decodes");
            assert_eq!(back.width(), 64);
        }
    }

    #[test]
    fn the_same_bytes_are_named_by_one_hash() {
        let upload = picture(300, 200, ImageFormat::Png);
        let a = process(&upload).expect("taken");
        let b = process(&upload).expect("taken again");
        assert_eq!(a.hash, b.hash);
        assert_eq!(a.hash, sha256(&a.bytes), "named by what is stored");
        let other = process(&picture(300, 201, ImageFormat::Png)).expect("taken");
        assert_ne!(a.hash, other.hash);
    }

    #[test]
    fn large_pictures_are_scaled_down_and_thumbnailed_in_proportion() {
        let kept = process(&picture(2500, 1000, ImageFormat::Jpeg)).expect("taken");
        assert_eq!((kept.width, kept.height), (MAX_STORED_SIDE, 819));
        assert_eq!((kept.thumbnail_width, kept.thumbnail_height), (640, 256));
        let thumb = image::load_from_memory(&kept.thumbnail).expect("decodes");
        assert_eq!((thumb.width(), thumb.height()), (640, 256));
    }

    #[test]
    fn transparency_and_drawings_stay_png_and_photos_become_jpeg() {
        let clear = RgbaImage::from_fn(20, 20, |x, _| {
            Rgba([255, 0, 0, if x < 10 { 0 } else { 255 }])
        });
        let mut png = Cursor::new(Vec::new());
        DynamicImage::ImageRgba8(clear)
            .write_to(&mut png, ImageFormat::WebP)
            .expect("encodes");
        let kept = process(&png.into_inner()).expect("a WebP is taken");
        assert_eq!(kept.kind, StoredKind::Png, "transparency kept");
        let back = image::load_from_memory(&kept.bytes).expect("decodes");
        assert_eq!(back.to_rgba8().get_pixel(0, 0).0[3], 0);
        assert_eq!(
            process(&picture(10, 10, ImageFormat::Png)).unwrap().kind,
            StoredKind::Png
        );
        assert_eq!(
            process(&picture(10, 10, ImageFormat::Jpeg)).unwrap().kind,
            StoredKind::Jpeg
        );
        assert_eq!(
            process(&picture(10, 10, ImageFormat::WebP)).unwrap().kind,
            StoredKind::Jpeg
        );
    }

    #[test]
    fn a_cut_short_picture_is_damaged_not_a_panic() {
        for format in [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::WebP] {
            let whole = picture(64, 64, format);
            // Cut inside the header: refused as damaged.
            for cut in [12, 20] {
                assert_eq!(
                    process(&whole[..cut]),
                    Err(MediaError::Damaged),
                    "{format:?} cut at {cut}"
                );
            }
            // Cut inside the pixels: refused, or (a lenient JPEG decoder)
            // read with the rest blank; never a panic.
            let _ = process(&whole[..whole.len() / 2]);
        }
    }
}
