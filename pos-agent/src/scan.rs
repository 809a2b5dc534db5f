//! What a scan is: a customer token, a printed loyalty card, or anything
//! else (a product barcode, passed to the till on the event stream).
//!
//! [`classify`] is pure; [`consume`] applies it to the scanners' stream:
//! an identified customer is attached to the most recently opened check
//! and announced, a refused scan is announced with its reason. A scan never
//! stops the loop.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use hardware::Scan;
use shared::crypto::PublicKey;
use shared::identity::Ean13;
use shared::token::{CustomerToken, looks_like_token};
use shared::wire::till::TillEvent;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::agent::{Agent, Stop};
use crate::identify::{self, Credential};

/// A scan, classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Classified {
    /// A customer credential: a verified token or a loyalty card number.
    Customer(Credential),
    /// Any other code: the till decides what it is.
    Product {
        /// The scanned text.
        code: String,
    },
    /// A code that claims to be a customer token but is not valid.
    Rejected {
        /// Why, for the cashier.
        reason: String,
    },
}

/// Classifies scanned text, verifying tokens with the pinned key at `now`.
#[must_use]
pub fn classify(text: &str, server_key: &PublicKey, now: DateTime<Utc>) -> Classified {
    if looks_like_token(text) {
        return match CustomerToken::verify(text, server_key, now) {
            Ok(token) => Classified::Customer(Credential::Token(token)),
            Err(err) => Classified::Rejected {
                reason: err.to_string(),
            },
        };
    }
    match Ean13::parse(text.trim()) {
        Ok(card) if card.is_loyalty_card() => Classified::Customer(Credential::Card(card)),
        _ => Classified::Product {
            code: text.to_owned(),
        },
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
    let source = scan.source;
    let credential = match classify(&scan.text, &agent.server_key, agent.clock.now()) {
        Classified::Customer(credential) => credential,
        Classified::Product { code } => {
            return TillEvent::ProductScanned {
                source,
                code,
                symbology: scan.symbology,
            };
        }
        Classified::Rejected { reason } => {
            info!(%reason, "scan rejected");
            return TillEvent::ScanRejected { source, reason };
        }
    };
    let described = credential.describe();
    let resolved = agent
        .db
        .call(move |conn| identify::resolve(conn, &credential))
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
        Ok(Ok(None)) => TillEvent::ScanRejected {
            source,
            reason: format!("unknown {described}"),
        },
        Ok(Err(refused)) => {
            info!(reason = %refused, "scan rejected");
            TillEvent::ScanRejected {
                source,
                reason: refused.to_string(),
            }
        }
        Err(err) => {
            warn!(error = %err, "customer lookup failed");
            TillEvent::ScanRejected {
                source,
                reason: "the customer cache is unavailable".into(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use shared::crypto::SigningKey;
    use shared::ids::CustomerId;

    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn server_key() -> SigningKey {
        SigningKey::from_seed(&[42; 32]).unwrap()
    }

    fn token(expires: i64) -> (CustomerToken, String) {
        let token = CustomerToken::new(CustomerId::new(77).unwrap(), at(expires - 300), 300, 1);
        let text = token.issue(&server_key());
        (token, text)
    }

    fn is_rejected(c: &Classified, needle: &str) -> bool {
        matches!(c, Classified::Rejected { reason } if reason.contains(needle))
    }

    #[test]
    fn a_valid_token_identifies_its_customer() {
        let (token, text) = token(2_000);
        assert_eq!(
            classify(&text, &server_key().public_key(), at(1_000)),
            Classified::Customer(Credential::Token(token))
        );
    }

    #[test]
    fn expired_tampered_and_foreign_tokens_are_rejected() {
        let key = server_key().public_key();
        let (_, text) = token(2_000);
        assert!(is_rejected(&classify(&text, &key, at(2_000)), "expired"));

        let mut tampered: Vec<char> = text.chars().collect();
        tampered[20] = if tampered[20] == 'A' { 'B' } else { 'A' };
        let tampered: String = tampered.into_iter().collect();
        assert!(matches!(
            classify(&tampered, &key, at(1_000)),
            Classified::Rejected { .. }
        ));

        let foreign = SigningKey::from_seed(&[43; 32]).unwrap().public_key();
        assert!(matches!(
            classify(&text, &foreign, at(1_000)),
            Classified::Rejected { .. }
        ));
        assert!(is_rejected(
            &classify("LT1garbage", &key, at(0)),
            "malformed"
        ));
    }

    #[test]
    fn loyalty_cards_need_a_valid_check_digit() {
        let key = server_key().public_key();
        let card = Ean13::card_for(CustomerId::new(5).unwrap());
        assert_eq!(
            classify(card.as_str(), &key, at(0)),
            Classified::Customer(Credential::Card(card.clone()))
        );
        let mut wrong = card.as_str().to_owned();
        let last = wrong.pop().unwrap();
        wrong.push(if last == '0' { '1' } else { '0' });
        assert_eq!(
            classify(&wrong, &key, at(0)),
            Classified::Product {
                code: wrong.clone()
            }
        );
    }

    #[test]
    fn product_barcodes_pass_through() {
        let key = server_key().public_key();
        for code in ["4601234567893", "5901234123457", "ABC-123", "12345"] {
            assert_eq!(
                classify(code, &key, at(0)),
                Classified::Product { code: code.into() }
            );
        }
    }
}
