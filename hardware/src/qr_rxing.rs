//! Reading QR codes with rxing, ZXing's Rust port: its port of ZXing-C++'s QR reader
//! (finder-pattern sets sampled with the alignment patterns, every code in the image),
//! then ZXing's original Java-derived reader, both on ZXing's hybrid (local block)
//! binarizer. It finds codes that rqrr misses under keystone, JPEG, moiré, uneven
//! light and a thumb over the quiet zone, and it is fast (about 2 ms a 1280×720 frame).

use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};

use image::GrayImage;
use rxing::common::HybridBinarizer;
use rxing::multi::MultipleBarcodeReader;
use rxing::qrcode::QRCodeReader;
use rxing::qrcode::cpp_port::QrReader;
use rxing::{BarcodeFormat, BinaryBitmap, DecodeHints, Luma8Source, Reader};
use tracing::warn;

/// The texts of the QR codes rxing reads in `gray` (dark modules dark), in order of
/// discovery; empty when it finds none.
pub(crate) fn read(gray: &GrayImage) -> Vec<String> {
    let (width, height) = gray.dimensions();
    if width == 0 || height == 0 {
        return Vec::new();
    }
    let hints = DecodeHints {
        TryHarder: Some(true),
        PossibleFormats: Some(HashSet::from([BarcodeFormat::QR_CODE])),
        ..DecodeHints::default()
    };
    // A decoder bug on an odd frame must cost this pass, not the process.
    let read = panic::catch_unwind(AssertUnwindSafe(|| {
        let source = Luma8Source::new_with_slice(gray.as_raw(), width, height).ok()?;
        let mut bitmap = BinaryBitmap::new(HybridBinarizer::new(source));
        let texts: Vec<String> = QrReader
            .decode_multiple_with_hints(&mut bitmap, &hints)
            .unwrap_or_default()
            .iter()
            .map(|found| found.getText().to_owned())
            .collect();
        if !texts.is_empty() {
            return Some(texts);
        }
        QRCodeReader::new()
            .decode_with_hints(&mut bitmap, &hints)
            .ok()
            .map(|found| vec![found.getText().to_owned()])
    }));
    match read {
        Ok(texts) => texts.unwrap_or_default(),
        Err(_) => {
            warn!("rxing panicked; pass skipped");
            Vec::new()
        }
    }
}
