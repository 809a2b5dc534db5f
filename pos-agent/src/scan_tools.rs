//! The scanner commands of the CLI, for store IT setting a till up:
//!
//! - `pos-agent scan-image FILE…`: what each image's QR codes decode to and
//!   how the agent classifies them ([`scan_images`]).
//!
//! Each returns a report whose `Display` is what the command prints.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use hardware::QrError;

use crate::config::{AgentConfig, ScanConfig};
use crate::identify::Credential;
use crate::scan::{Classified, Classifier, TokenCheck};

/// How long one image may take to decode.
const IMAGE_BUDGET: Duration = Duration::from_secs(2);

/// The classifier of the register in `data_dir`, if it is enrolled: tokens
/// verified with its pinned key, coupons with its prefix. Otherwise tokens
/// are recognised but not verified, and the note says why.
#[must_use]
pub fn classifier_for(data_dir: Option<&Path>, config_file: Option<&Path>) -> (Classifier, String) {
    let unverified = |why: String| {
        let classifier = Classifier {
            tokens: TokenCheck::Skip,
            coupon_prefix: ScanConfig::default().coupon_prefix,
        };
        (
            classifier,
            format!("customer tokens are NOT verified: {why}"),
        )
    };
    let Some(data_dir) = data_dir else {
        return unverified("no --data-dir of an enrolled register given".into());
    };
    match AgentConfig::load(data_dir, config_file) {
        Ok(config) => (
            Classifier {
                tokens: TokenCheck::Verify(config.sync.server_public_key),
                coupon_prefix: config.scan.coupon_prefix,
            },
            format!(
                "customer tokens are verified with the server key pinned by register {}",
                config.sync.register_id
            ),
        ),
        Err(err) => unverified(format!("{} is not enrolled ({err})", data_dir.display())),
    }
}

/// What `scan-image` found: a line saying how tokens were checked, then
/// each image in order.
#[derive(Debug)]
pub struct ImagesReport {
    /// How customer tokens were checked.
    pub note: String,
    /// Each image with its codes, or why it could not be searched.
    pub images: Vec<ImageReport>,
}

/// One image of `scan-image`.
#[derive(Debug)]
pub struct ImageReport {
    /// The file.
    pub path: PathBuf,
    /// Each decoded text with its classification, or why the image could
    /// not be searched.
    pub codes: Result<Vec<(String, Classified)>, QrError>,
}

impl ImagesReport {
    /// Whether any image could not be loaded or searched.
    #[must_use]
    pub fn any_failed(&self) -> bool {
        self.images.iter().any(|image| image.codes.is_err())
    }
}

/// Decodes the QR codes in each image and classifies them.
#[must_use]
pub fn scan_images(paths: &[PathBuf], classifier: &Classifier, note: String) -> ImagesReport {
    let images = paths
        .iter()
        .map(|path| ImageReport {
            path: path.clone(),
            codes: hardware::decode_qr_file(path, IMAGE_BUDGET).map(|scans| {
                scans
                    .into_iter()
                    .map(|scan| {
                        let classified =
                            classifier.classify(&scan.text, scan.symbology.as_deref(), Utc::now());
                        (scan.text, classified)
                    })
                    .collect()
            }),
        })
        .collect();
    ImagesReport { note, images }
}

impl fmt::Display for ImagesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "({})", self.note)?;
        for image in &self.images {
            match &image.codes {
                Err(err) => writeln!(f, "{}: FAILED: {}", image.path.display(), error_chain(err))?,
                Ok(codes) if codes.is_empty() => {
                    writeln!(f, "{}: no QR code found", image.path.display())?;
                }
                Ok(codes) => {
                    writeln!(f, "{}: {} code(s)", image.path.display(), codes.len())?;
                    for (text, classified) in codes {
                        writeln!(f, "  {}", Printable(text))?;
                        writeln!(f, "    → {}", Described(classified))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Scanned text with control characters (the GS1 separator) escaped.
struct Printable<'a>(&'a str);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "\"{}\" ({} chars)",
            self.0.escape_debug(),
            self.0.chars().count()
        )
    }
}

/// A classification as a person reads it.
struct Described<'a>(&'a Classified);

impl fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Classified::Customer(Credential::Token(token)) => write!(
                f,
                "customer token, verified: customer {}, issued {}, expires {}",
                token.customer_id, token.issued_at, token.expires_at
            ),
            Classified::Customer(Credential::Card(card)) => {
                write!(f, "printed loyalty card {card}")
            }
            Classified::Customer(Credential::Phone(phone)) => write!(f, "phone number {phone}"),
            Classified::UnverifiedToken => {
                write!(f, "customer token (signature and expiry NOT verified)")
            }
            Classified::Coupon(code) => write!(f, "coupon {code}"),
            Classified::Product { product, .. } => {
                write!(f, "product, {}", product.format)?;
                if let Some(gtin) = &product.gtin {
                    write!(f, ", GTIN {gtin}")?;
                }
                for element in &product.elements {
                    let title = element.title().unwrap_or("AI");
                    write!(f, "\n      ({}) {title}: {}", element.ai, element.value)?;
                }
                Ok(())
            }
            Classified::Rejected { reason } => write!(f, "rejected: {reason}"),
        }
    }
}

/// `error: cause: cause…`.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(source) = cause {
        text.push_str(": ");
        text.push_str(&source.to_string());
        cause = source.source();
    }
    text
}
