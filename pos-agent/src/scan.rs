//! What a scan is, and what the agent does with it.
//!
//! [`Classifier::classify`] is pure. In order, scanned or typed text is:
//!
//! 1. a **customer token** (`LT2…`), verified with the pinned key and
//!    checked for expiry;
//! 2. a **coupon code** behind the configured prefix (`CPN-…`);
//! 3. a **printed loyalty card**: EAN-13 in the `27` range with a valid
//!    check digit;
//! 4. a **phone number typed in** (never one a scanner read with a
//!    symbology): written with `+` or punctuation, 11 digits starting with
//!    7 or 8, or 10 digits starting with 9;
//! 5. a **product barcode**: EAN-8, EAN-13, UPC-A, UPC-E with their check
//!    digits, GS1 data with its fields, or any other code for the till.
//!
//! Anything that claims to be one of these but is not (a tampered or
//! expired token, a coupon with a bad body, an EAN with a wrong check
//! digit, malformed GS1 data) is rejected with a reason for the cashier.
//!
//! [`consume`] applies it to the scanners' stream: a customer credential is
//! looked up in the cache (refusing a revoked token), attached to the most
//! recently opened check and announced; a coupon is entered on that check
//! and announced with whether a promotion asks for it; products are
//! announced for the till; a rejection is announced with its reason. A scan never
//! stops the loop.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use hardware::Scan;
use shared::barcode::ProductCode;
use shared::coupon::{CouponCode, looks_like_coupon};
use shared::identity::{Ean13, PhoneNumber};
use shared::ids::MerchantId;
use shared::keys::TrustedKeys;
use shared::token::{CustomerToken, looks_like_token};
use shared::wire::till::TillEvent;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::agent::{Agent, Stop};
use crate::identify::{self, Credential};

/// A scan, classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Classified {
    /// A customer credential: a verified token, a loyalty card number or a
    /// phone number.
    Customer(Credential),
    /// A customer token that was not verified: the classifier has no key.
    UnverifiedToken,
    /// A coupon code.
    Coupon(CouponCode),
    /// A product barcode, passed to the till.
    Product {
        /// The text as scanned.
        code: String,
        /// What it was parsed as.
        product: ProductCode,
    },
    /// A code that claims to be one of the above but is not valid.
    Rejected {
        /// Why, for the cashier.
        reason: String,
    },
}

/// How customer tokens are checked.
#[derive(Clone, Debug)]
pub enum TokenCheck {
    /// Verify the signature with the server keys the register trusts
    /// (pinned, and learnt from endorsements; revoked keys verify nothing),
    /// the expiry, and that the token is of this merchant's customer.
    Trusted(TrustedKeys, MerchantId),
    /// No key at hand (`scan-image` outside an enrolled register): report
    /// tokens as [`Classified::UnverifiedToken`].
    Skip,
}

/// Classifies scanned text.
#[derive(Clone, Debug)]
pub struct Classifier {
    /// How customer tokens are checked.
    pub tokens: TokenCheck,
    /// The prefix of coupon codes; empty: no coupons.
    pub coupon_prefix: String,
}

impl Classifier {
    /// Classifies `text`, read with the AIM `symbology` if the scanner sent
    /// one, at `now` (for token expiry).
    #[must_use]
    pub fn classify(&self, text: &str, symbology: Option<&str>, now: DateTime<Utc>) -> Classified {
        if looks_like_token(text) {
            return match &self.tokens {
                TokenCheck::Trusted(keys, merchant) => {
                    match CustomerToken::verify_with(text, keys, *merchant, now) {
                        Ok(token) => Classified::Customer(Credential::Token(token)),
                        Err(err) => rejected(err),
                    }
                }
                TokenCheck::Skip => Classified::UnverifiedToken,
            };
        }
        if looks_like_coupon(text, &self.coupon_prefix) {
            return CouponCode::parse(text, &self.coupon_prefix)
                .map_or_else(rejected, Classified::Coupon);
        }
        if let Ok(card) = Ean13::parse(text.trim())
            && card.is_loyalty_card()
        {
            return Classified::Customer(Credential::Card(card));
        }
        if symbology.is_none()
            && let Some(phone) = typed_phone(text)
        {
            return Classified::Customer(Credential::Phone(phone));
        }
        match ProductCode::parse(text, symbology) {
            Ok(product) => Classified::Product {
                code: text.to_owned(),
                product,
            },
            Err(err) => rejected(err),
        }
    }
}

fn rejected(err: impl ToString) -> Classified {
    Classified::Rejected {
        reason: err.to_string(),
    }
}

/// A phone number as a cashier types it: with `+` or punctuation (spaces,
/// dashes, parentheses, dots), 11 digits starting with 7 or 8, or 10 digits
/// starting with 9 (a Russian mobile without its country code). Bare
/// digits of other shapes are left to the product barcodes.
fn typed_phone(text: &str) -> Option<PhoneNumber> {
    let text = text.trim();
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let written_as_phone = text.starts_with('+') || digits.len() != text.len();
    let bare_phone = match digits.len() {
        11 => digits.starts_with('7') || digits.starts_with('8'),
        10 => digits.starts_with('9'),
        _ => false,
    };
    if written_as_phone || bare_phone {
        PhoneNumber::parse(text).ok()
    } else {
        None
    }
}

/// Handles scans until the scanners close the channel or the agent stops.
pub async fn consume(agent: Arc<Agent>, mut scans: mpsc::Receiver<Scan>, stop: Stop) {
    loop {
        let scan = tokio::select! {
            scan = scans.recv() => scan,
            () = stop.requested() => None,
        };
        let Some(scan) = scan else { return };
        let event = handle(&agent, scan).await;
        agent.publish(event);
    }
}

#[tracing::instrument(skip_all, fields(source = %scan.source))]
async fn handle(agent: &Agent, scan: Scan) -> TillEvent {
    let Scan {
        source,
        symbology,
        text,
        ..
    } = scan;
    // With the keys trusted now: a rotation learnt since the last scan
    // counts.
    let classifier = || Classifier {
        tokens: TokenCheck::Trusted(agent.trusted_keys(), agent.config.register.merchant_id),
        coupon_prefix: agent.config.scan.coupon_prefix.clone(),
    };
    let mut classified = classifier().classify(&text, symbology.as_deref(), agent.clock.now());
    // A token of a key this register does not know: the server may have
    // rotated its key. Learn the chain while online and look again.
    if matches!(classified, Classified::Rejected { .. }) && agent.learn_key_of(&text).await {
        classified = classifier().classify(&text, symbology.as_deref(), agent.clock.now());
    }
    match classified {
        Classified::Customer(credential) => identify(agent, source, credential).await,
        Classified::Coupon(code) => {
            let entered = agent.add_scanned_coupon(&code);
            TillEvent::CouponScanned {
                source,
                code,
                check_id: entered.check_id,
                known: entered.known,
            }
        }
        Classified::Product { code, product } => TillEvent::ProductScanned {
            source,
            code,
            symbology,
            format: product.format,
            gtin: product.gtin,
            gs1: product.elements,
        },
        Classified::Rejected { reason } => scan_rejected(source, reason),
        Classified::UnverifiedToken => {
            scan_rejected(source, "customer tokens cannot be verified here".into())
        }
    }
}

/// Looks the credential up and attaches the customer to the latest check.
async fn identify(agent: &Agent, source: String, credential: Credential) -> TillEvent {
    let described = credential.describe();
    let local = agent.local_points();
    let resolved = agent
        .db
        .call(move |conn| identify::resolve(conn, &credential, local))
        .await;
    match resolved {
        Ok(Ok(Some(identified))) => {
            let (customer, check_id) = agent.attach_to_latest_check(identified);
            TillEvent::CustomerIdentified {
                source,
                customer,
                check_id,
            }
        }
        Ok(Ok(None)) => scan_rejected(source, format!("unknown {described}")),
        Ok(Err(refused)) => scan_rejected(source, refused.to_string()),
        Err(err) => {
            warn!(error = %err, "customer lookup failed");
            scan_rejected(source, "the customer cache is unavailable".into())
        }
    }
}

fn scan_rejected(source: String, reason: String) -> TillEvent {
    info!(%reason, "scan rejected");
    TillEvent::ScanRejected { source, reason }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use shared::barcode::{Gtin, ProductFormat};
    use shared::coupon::DEFAULT_COUPON_PREFIX;
    use shared::crypto::{PublicKey, SigningKey};
    use shared::ids::CustomerId;

    use super::*;

    const GS: &str = "\u{1d}";

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn pinned(key: PublicKey) -> TrustedKeys {
        TrustedKeys::pinned(key, None, shared::keys::ChainSeq(0))
    }

    fn server_key() -> SigningKey {
        SigningKey::from_seed(&[42; 32]).unwrap()
    }

    fn classifier() -> Classifier {
        Classifier {
            tokens: TokenCheck::Trusted(
                pinned(server_key().public_key()),
                MerchantId::new(1).unwrap(),
            ),
            coupon_prefix: DEFAULT_COUPON_PREFIX.into(),
        }
    }

    fn classify(text: &str) -> Classified {
        classifier().classify(text, None, at(1_000))
    }

    fn token(expires: i64) -> (CustomerToken, String) {
        let token = CustomerToken::new(
            MerchantId::new(1).unwrap(),
            CustomerId::new(77).unwrap(),
            at(expires - 300),
            300,
            1,
        );
        let text = token.issue(&server_key());
        (token, text)
    }

    fn reason(c: &Classified) -> &str {
        match c {
            Classified::Rejected { reason } => reason,
            other => panic!("not rejected: {other:?}"),
        }
    }

    fn product(c: &Classified) -> &ProductCode {
        match c {
            Classified::Product { product, .. } => product,
            other => panic!("not a product: {other:?}"),
        }
    }

    #[test]
    fn a_valid_token_identifies_its_customer() {
        let (token, text) = token(2_000);
        assert_eq!(
            classify(&text),
            Classified::Customer(Credential::Token(token))
        );
    }

    #[test]
    fn expired_tampered_foreign_and_malformed_tokens_are_rejected() {
        let (_, text) = token(2_000);
        let late = classifier().classify(&text, None, at(2_000));
        assert!(reason(&late).contains("expired"), "{late:?}");

        let mut tampered: Vec<char> = text.chars().collect();
        tampered[20] = if tampered[20] == 'A' { 'B' } else { 'A' };
        let tampered: String = tampered.into_iter().collect();
        assert!(reason(&classify(&tampered)).contains("customer token"));

        let foreign = Classifier {
            tokens: TokenCheck::Trusted(
                pinned(SigningKey::from_seed(&[43; 32]).unwrap().public_key()),
                MerchantId::new(1).unwrap(),
            ),
            ..classifier()
        };
        assert!(reason(&foreign.classify(&text, None, at(1_000))).contains("customer token"));
        assert!(reason(&classify("LT2garbage")).contains("malformed"));
        assert!(reason(&classify("LT1garbage")).contains("old format"));
    }

    #[test]
    fn without_a_key_tokens_are_recognised_but_not_verified() {
        let unverified = Classifier {
            tokens: TokenCheck::Skip,
            ..classifier()
        };
        let (_, text) = token(2_000);
        for text in [text.as_str(), "LT1garbage"] {
            assert_eq!(
                unverified.classify(text, None, at(1_000)),
                Classified::UnverifiedToken
            );
        }
    }

    #[test]
    fn loyalty_cards_need_a_valid_check_digit() {
        let card = Ean13::card_for(CustomerId::new(5).unwrap());
        assert_eq!(
            classify(card.as_str()),
            Classified::Customer(Credential::Card(card.clone()))
        );
        let mut wrong = card.as_str().to_owned();
        let last = wrong.pop().unwrap();
        wrong.push(if last == '0' { '1' } else { '0' });
        assert!(reason(&classify(&wrong)).contains("wrong check digit"));
    }

    #[test]
    fn phone_numbers_typed_in_are_normalised() {
        for typed in [
            "+7 916 123-45-67",
            "8 (916) 123-45-67",
            "89161234567",
            "9161234567",
        ] {
            assert_eq!(
                classify(typed),
                Classified::Customer(Credential::Phone(
                    PhoneNumber::parse("+79161234567").unwrap()
                )),
                "{typed}"
            );
        }
        // Read by a scanner, eleven digits are a code, not a phone.
        let scanned = classifier().classify("89161234567", Some("]C0"), at(0));
        assert_eq!(product(&scanned).format, ProductFormat::Other);
        // Other bare digits are left to the till.
        assert_eq!(
            product(&classify("1234567890")).format,
            ProductFormat::Other
        );
    }

    #[test]
    fn coupon_codes_are_recognised_by_their_prefix() {
        assert_eq!(
            classify("cpn-spring25"),
            Classified::Coupon(CouponCode::parse("CPN-SPRING25", "CPN-").unwrap())
        );
        assert!(reason(&classify("CPN-!")).contains("coupon code"));
        let no_coupons = Classifier {
            coupon_prefix: String::new(),
            ..classifier()
        };
        assert_eq!(
            product(&no_coupons.classify("CPN-SPRING25", None, at(0))).format,
            ProductFormat::Other
        );
    }

    #[test]
    fn product_barcodes_carry_their_format_and_gtin() {
        for (code, format) in [
            ("4601234567893", ProductFormat::Ean13),
            ("5901234123457", ProductFormat::Ean13),
            ("96385074", ProductFormat::Ean8),
            ("036000291452", ProductFormat::UpcA),
            ("01234505", ProductFormat::UpcE),
            ("ABC-123", ProductFormat::Other),
            ("12345", ProductFormat::Other),
        ] {
            let classified = classify(code);
            assert_eq!(product(&classified).format, format, "{code}");
            assert!(
                matches!(&classified, Classified::Product { code: c, .. } if c == code),
                "the code passes as scanned"
            );
        }
        assert!(reason(&classify("4601234567890")).contains("EAN-13 4601234567890"));
    }

    #[test]
    fn gs1_data_is_parsed_into_fields() {
        let data = format!("0104601234567893{GS}10LOT-7{GS}17261231");
        let classified = classifier().classify(&data, Some("]d2"), at(0));
        let parsed = product(&classified);
        assert_eq!(parsed.format, ProductFormat::Gs1);
        assert_eq!(parsed.gtin, Some(Gtin::parse("04601234567893").unwrap()));
        assert_eq!(parsed.element("10"), Some("LOT-7"));
        let bad = classifier().classify("0104601234567890", Some("]d2"), at(0));
        assert!(reason(&bad).contains("GS1"), "{bad:?}");
    }

    #[test]
    fn product_events_keep_their_wire_shape() {
        let data = format!("0104601234567893{GS}3103001250");
        let Classified::Product { code, product } =
            classifier().classify(&data, Some("]d2"), at(0))
        else {
            panic!("not a product");
        };
        let event = TillEvent::ProductScanned {
            source: "serial:/dev/ttyACM0".into(),
            code,
            symbology: Some("]d2".into()),
            format: product.format,
            gtin: product.gtin,
            gs1: product.elements,
        };
        expect_test::expect![[r#"{"type":"product_scanned","source":"serial:/dev/ttyACM0","code":"0104601234567893\u001d3103001250","symbology":"]d2","format":"gs1","gtin":"04601234567893","gs1":[{"ai":"01","value":"04601234567893"},{"ai":"3103","value":"001250"}]}"#]]
            .assert_eq(&serde_json::to_string(&event).unwrap());
        // Events from before the parsed fields still read.
        let old = r#"{"type":"product_scanned","source":"s","code":"X","symbology":null}"#;
        let TillEvent::ProductScanned {
            format, gtin, gs1, ..
        } = serde_json::from_str(old).unwrap()
        else {
            panic!("not a product event");
        };
        assert_eq!((format, gtin, gs1.len()), (ProductFormat::Other, None, 0));
    }

    proptest! {
        #[test]
        fn classification_never_panics(
            text in any::<String>(),
            symbology in proptest::option::of("\\][A-Za-z][0-9]"),
            prefix in "[A-Z-]{0,5}",
        ) {
            let classifier = Classifier { coupon_prefix: prefix, ..classifier() };
            let _ = classifier.classify(&text, symbology.as_deref(), at(0));
        }

        #[test]
        fn scanner_shaped_text_never_panics(text in "(LT1|CPN-|27|\\+7|01)?[0-9A-Z \u{1d}()-]{0,60}") {
            let _ = classify(&text);
        }
    }
}
