//! The one thing this crate produces: a [`Scan`] of clean text from a named source.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One decoded code, as read from a scanner, stdin or an image.
///
/// The text is already framed and cleaned: no prefix, no suffix, no AIM symbology
/// identifier and no control characters other than GS (`\x1D`, the GS1 field separator).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scan {
    /// Where the scan came from, e.g. `serial:/dev/ttyACM0`, `stdin` or `image:/tmp/a.png`.
    pub source: String,
    /// AIM symbology identifier (e.g. `]Q1` for QR, `]E0` for EAN-13), when known.
    pub symbology: Option<String>,
    /// The decoded payload.
    pub text: String,
    /// When the scan was completed (wall clock).
    pub at: DateTime<Utc>,
}

impl Scan {
    /// A scan completed now.
    pub fn now(
        source: impl Into<String>,
        symbology: Option<String>,
        text: impl Into<String>,
    ) -> Self {
        Self {
            source: source.into(),
            symbology,
            text: text.into(),
            at: Utc::now(),
        }
    }
}
