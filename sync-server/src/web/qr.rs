//! The customer's token as a QR code in inline SVG, drawn by `qrcode`:
//! medium error correction, the standard four-module quiet zone, black on
//! white whatever the page's colours, and crisp edges, so the modules stay
//! large and sharp on a phone screen for the till's scanner.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// Pixels per module in the drawing; the page scales it to fit.
const MODULE_SIZE: u32 = 8;

/// Why a QR code could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("the QR code could not be drawn: {0}")]
pub struct QrError(#[from] qrcode::types::QrError);

/// `text` as an `<svg>` element labelled `label` for screen readers.
pub fn qr_svg(text: &str, label: &str) -> Result<String, QrError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)?;
    let drawing = code
        .render::<svg::Color<'_>>()
        .quiet_zone(true)
        .module_dimensions(MODULE_SIZE, MODULE_SIZE)
        .dark_color(svg::Color("#000"))
        .light_color(svg::Color("#fff"))
        .build();
    // Inline SVG takes no XML declaration.
    let element = drawing
        .find("<svg")
        .map_or(drawing.as_str(), |start| &drawing[start..]);
    let label = label
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    Ok(element.replacen(
        "<svg ",
        &format!("<svg class=\"qr-svg\" role=\"img\" aria-label=\"{label}\" "),
        1,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_becomes_an_inline_svg() {
        let svg = qr_svg(&format!("LT1{}", "A".repeat(132)), "QR").unwrap();
        assert!(svg.starts_with("<svg class=\"qr-svg\" role=\"img\" aria-label=\"QR\""));
        assert!(svg.contains("shape-rendering=\"crispEdges\""));
        assert!(!svg.contains("<?xml"));
        assert!(svg.ends_with("</svg>"));
    }
}
