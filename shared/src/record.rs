//! The signed purchase record: what a register commits to its outbox and
//! uploads. The register signs **the exact bytes** it sends; the server
//! verifies those bytes, then parses them, so no canonicalisation is needed.
//! Each record carries the hash of the previous record's bytes, so a gap,
//! reorder, edit or fork is visible.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::crypto::{
    Hash256, PublicKey, Signature, SigningContext, SigningKey, from_base64, sha256, to_base64,
};
use std::collections::BTreeMap;

use crate::basket::Line;
use crate::ids::{
    BrandId, Category, CustomerId, MerchantId, PromotionId, RegisterId, RulesetVersion, Seq, Sku,
    StoreId,
};
use crate::money::{AmountError, Currency, Money, Quantity};
use crate::pricing::{
    AppliedRule, CustomerStanding, LeasedQuota, PointsAward, PricingContext, PromotionUsage,
    UsageCounts,
};
use crate::ruleset::Ruleset;

/// The record format this build writes.
pub const RECORD_FORMAT: u32 = 1;

/// How the customer was identified at the till.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IdentifiedBy {
    /// A phone token scanned as a QR code.
    Token,
    /// A printed loyalty card.
    Card,
    /// A phone number typed in.
    Phone,
}

/// The customer of a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordCustomer {
    /// Who.
    pub id: CustomerId,
    /// How they were identified.
    pub identified_by: IdentifiedBy,
}

/// Sale or return.
///
/// # Signs
///
/// A sale's amounts, points earned and points redeemed are all zero or
/// positive. A return (computed by [`crate::returns::return_record`])
/// carries its lines with positive quantities (what came back) but
/// **negative** money: each line's `amount`, `discount`, `total` and the
/// parts of its `applied`, and the record's `subtotal`, `discount`, `total`
/// and `applied`, are minus what is refunded. Its `points_earned` is minus
/// the points clawed back and its `points_redeemed` minus the points given
/// back, so for any record the customer's balance moves by
/// `points_earned − points_redeemed`, and their spend by `total` (the
/// server takes a return's spend as `−|total|`, the same number).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecordKind {
    /// A sale.
    Sale,
    /// A return of lines of an earlier sale.
    Return {
        /// The original sale.
        original: RecordRef,
        /// For each line of the return, the position of the original line
        /// it returns (from 0).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        original_lines: Vec<u32>,
        /// Promotions whose use on the original this return gives back:
        /// every line they discounted is now fully returned.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        uses_returned: Vec<crate::ids::PromotionId>,
    },
}

impl RecordKind {
    /// A return of `original` with no line mapping or uses (for records
    /// made elsewhere, such as a refund entered by hand).
    #[must_use]
    pub fn refund_of(original: RecordRef) -> Self {
        RecordKind::Return {
            original,
            original_lines: Vec::new(),
            uses_returned: Vec::new(),
        }
    }
}

/// A reference to another record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordRef {
    /// The register that wrote it.
    pub register_id: RegisterId,
    /// Its seq there.
    pub seq: Seq,
    /// Its id.
    pub id: Uuid,
}

/// A line as committed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordLine {
    /// The product.
    pub sku: Sku,
    /// The product name.
    pub name: String,
    /// The product category.
    pub category: Option<Category>,
    /// Quantity.
    pub quantity: Quantity,
    /// Unit price.
    pub unit_price: Money,
    /// `unit_price × quantity`.
    pub amount: Money,
    /// Discount on the line.
    pub discount: Money,
    /// Amount paid for the line.
    pub total: Money,
    /// Points the line earned.
    pub points: i64,
    /// Rules that discounted the line.
    pub applied: Vec<AppliedRule>,
}

/// A purchase as the register committed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PurchaseRecord {
    /// [`RECORD_FORMAT`].
    pub format: u32,
    /// Globally unique id (UUIDv7).
    pub id: Uuid,
    /// The merchant.
    pub merchant_id: MerchantId,
    /// The store.
    pub store_id: StoreId,
    /// The register that wrote it.
    pub register_id: RegisterId,
    /// Dense per-register sequence number.
    pub seq: Seq,
    /// SHA-256 of the previous record's bytes ([`Hash256::GENESIS`] for seq 1).
    pub prev_hash: Hash256,
    /// The register's wall clock; informative, never used for ordering.
    pub wall_time: DateTime<Utc>,
    /// The ruleset version the check was priced with, if any.
    pub ruleset_version: Option<RulesetVersion>,
    /// Sale or return.
    #[serde(flatten)]
    pub kind: RecordKind,
    /// Currency of every amount.
    pub currency: Currency,
    /// The identified customer.
    pub customer: Option<RecordCustomer>,
    /// Lines.
    pub lines: Vec<RecordLine>,
    /// Sum of line amounts.
    pub subtotal: Money,
    /// Sum of line discounts.
    pub discount: Money,
    /// Amount paid.
    pub total: Money,
    /// Points earned.
    pub points_earned: i64,
    /// Points spent.
    pub points_redeemed: i64,
    /// Per-rule totals.
    pub applied: Vec<AppliedRule>,
    /// Points by rule (promotions, the earn rate, the welcome and birthday
    /// bonuses), as priced. Added after the first release: absent on older
    /// records, and on returns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub point_awards: Vec<PointsAward>,
    /// What the till priced the sale with besides its lines, so the server
    /// can price it again with the same engine. Added after the first
    /// release: absent on older records, and on returns (a return is a
    /// function of its original).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_inputs: Option<PricingInputs>,
}

/// The inputs of a sale's pricing that the server cannot know: the
/// customer's standing as the till knew it, the coupons entered, the points
/// asked for, and the usage counts of the promotions with limits. The
/// store, the time (the record's `wall_time`), the store's time zone and
/// brand, and the ruleset (by `ruleset_version`) the server knows itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PricingInputs {
    /// The customer's standing, when a customer was on the check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standing: Option<CustomerStanding>,
    /// Coupon codes entered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coupons: Vec<String>,
    /// Points the customer asked to pay with.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub redeem_points: i64,
    /// The known usage of the promotions that have limits (no others, to
    /// keep records small).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub usage: BTreeMap<PromotionId, UsageSnapshot>,
}

// serde's `skip_serializing_if` passes a reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// The known use of one limited promotion when a sale was priced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageSnapshot {
    /// Checks it applied to, as far as the till knew.
    #[serde(default)]
    pub uses: u64,
    /// Money it gave, likewise.
    #[serde(default)]
    pub spent: Money,
    /// Checks of the customer it applied to.
    #[serde(default)]
    pub customer_uses: u64,
    /// What was left of the register's lease of the promotion, when the
    /// till priced under one (added with quota leases: absent on older
    /// records, whose bytes are unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leased: Option<LeasedQuota>,
}

impl PricingInputs {
    /// What to record of `ctx` and `standing`: the usage of the promotions
    /// of `ruleset` with a limit only.
    #[must_use]
    pub fn capture(
        ruleset: &Ruleset,
        standing: Option<&CustomerStanding>,
        ctx: &PricingContext,
    ) -> Self {
        let limited = |id: &PromotionId| {
            ruleset.promotions.iter().any(|p| {
                &p.id == id
                    && (p.limits.per_customer.is_some()
                        || p.limits.total_uses.is_some()
                        || p.limits.budget.is_some())
            })
        };
        let usage = ctx
            .usage
            .promotions
            .iter()
            .filter(|(id, u)| limited(id) && **u != PromotionUsage::default())
            .map(|(id, u)| {
                (
                    id.clone(),
                    UsageSnapshot {
                        uses: u.uses,
                        spent: u.spent,
                        customer_uses: u.customer_uses,
                        leased: u.leased,
                    },
                )
            })
            .collect();
        PricingInputs {
            standing: standing.cloned(),
            coupons: ctx.coupons.clone(),
            redeem_points: ctx.redeem_points,
            usage,
        }
    }

    /// The context to price the record again with, at `now` in `store`
    /// under the time zone and brand the caller knows, for the record's
    /// `customer` (whose id decides their holdouts).
    #[must_use]
    pub fn context(
        &self,
        store: StoreId,
        now: DateTime<Utc>,
        timezone: &str,
        brand: Option<BrandId>,
        customer: Option<CustomerId>,
    ) -> PricingContext {
        let mut usage = UsageCounts::default();
        for (id, u) in &self.usage {
            usage.promotions.insert(
                id.clone(),
                PromotionUsage {
                    uses: u.uses,
                    spent: u.spent,
                    customer_uses: u.customer_uses,
                    leased: u.leased,
                },
            );
        }
        PricingContext {
            timezone: timezone.to_owned(),
            brand,
            coupons: self.coupons.clone(),
            redeem_points: self.redeem_points,
            usage,
            customer,
            ..PricingContext::new(store, now)
        }
    }
}

/// A record as signed bytes: what the outbox stores and the wire carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignedRecord {
    /// The register, repeated outside the body for routing.
    pub register_id: RegisterId,
    /// The seq, repeated outside the body for routing.
    pub seq: Seq,
    /// The exact signed bytes, base64.
    pub body: String,
    /// Ed25519 signature over the body bytes.
    pub signature: Signature,
}

/// Why a signed record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The body is not base64.
    #[error("record {seq} body is not base64")]
    Encoding {
        /// Which record.
        seq: Seq,
    },
    /// The signature does not verify against the register's key.
    #[error("record {seq} signature does not verify")]
    BadSignature {
        /// Which record.
        seq: Seq,
    },
    /// The signed body is not a record.
    #[error("record {seq} body does not parse: {message}")]
    Parse {
        /// Which record.
        seq: Seq,
        /// The parser's message.
        message: String,
    },
    /// The envelope and the signed body disagree.
    #[error("record {seq} envelope does not match its signed body")]
    EnvelopeMismatch {
        /// Which record.
        seq: Seq,
    },
    /// The record could not be serialised.
    #[error("record could not be serialised: {0}")]
    Serialise(String),
}

/// The most points one record may earn or redeem, either sign: far beyond
/// any real check (a rule names at most a million points), far below what
/// would overflow a customer's ledger. A record past it is refused as
/// [`SumError::PointsOutOfRange`].
pub const MAX_RECORD_POINTS: i64 = 1_000_000_000;

/// Why a record's own figures do not add up ([`PurchaseRecord::check_sums`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SumError {
    /// A line's `amount` is not `unit_price × quantity` (a sale's lines).
    #[error("line {line}: amount {amount} is not unit price {unit_price} × quantity {quantity}")]
    LineAmount {
        /// The line, from 0.
        line: usize,
        /// Its amount.
        amount: i64,
        /// Its unit price.
        unit_price: i64,
        /// Its quantity.
        quantity: Quantity,
    },
    /// A line's `total` is not `amount − discount`.
    #[error("line {line}: total {total} is not amount {amount} − discount {discount}")]
    LineTotal {
        /// The line, from 0.
        line: usize,
        /// Its amount.
        amount: i64,
        /// Its discount.
        discount: i64,
        /// Its total.
        total: i64,
    },
    /// A record figure is not the sum of its lines' (`subtotal`,
    /// `discount`, `points_earned`), or `total` is not `subtotal −
    /// discount`.
    #[error("{field} is {stated}, its parts add up to {computed}")]
    Sum {
        /// Which figure.
        field: &'static str,
        /// What the record says.
        stated: i64,
        /// What its parts add up to.
        computed: i128,
    },
    /// A sale's figure below zero.
    #[error("{field} is {value}, the wrong sign for a {kind}")]
    Sign {
        /// Which figure.
        field: &'static str,
        /// Its value.
        value: i64,
        /// `sale` or `return`.
        kind: &'static str,
    },
    /// Points beyond [`MAX_RECORD_POINTS`].
    #[error("{field} is {value}, beyond the {MAX_RECORD_POINTS} points one record may carry")]
    PointsOutOfRange {
        /// Which figure.
        field: &'static str,
        /// Its value.
        value: i64,
    },
}

impl PurchaseRecord {
    /// Checks that the record's own figures add up, without any ruleset:
    /// each line's total is its amount less its discount (and a sale's
    /// amount is unit price × quantity), the record's subtotal, discount
    /// and points earned are the sums of its lines', its total is subtotal
    /// less discount, a sale's figures are not negative, and points stay
    /// within [`MAX_RECORD_POINTS`]. The till checks this before it signs,
    /// the server before it stores.
    pub fn check_sums(&self) -> Result<(), SumError> {
        let sale = self.kind == RecordKind::Sale;
        let kind = if sale { "sale" } else { "return" };
        // A sale's figures are zero or positive. Returns made elsewhere
        // (a refund entered by hand) may carry their figures either way
        // (see `RecordKind`), so only their sums are checked.
        let signed = |field: &'static str, value: i64| {
            if !sale || value >= 0 {
                Ok(())
            } else {
                Err(SumError::Sign { field, value, kind })
            }
        };
        let (mut subtotal, mut discount, mut points) = (0i128, 0i128, 0i128);
        for (i, line) in self.lines.iter().enumerate() {
            let (amount, cut, total) = (
                line.amount.minor(),
                line.discount.minor(),
                line.total.minor(),
            );
            signed("a line's amount", amount)?;
            signed("a line's discount", cut)?;
            signed("a line's total", total)?;
            signed("a line's points", line.points)?;
            if sale && line.quantity.extend(line.unit_price) != Ok(line.amount) {
                return Err(SumError::LineAmount {
                    line: i,
                    amount,
                    unit_price: line.unit_price.minor(),
                    quantity: line.quantity,
                });
            }
            if i128::from(amount) - i128::from(cut) != i128::from(total) {
                return Err(SumError::LineTotal {
                    line: i,
                    amount,
                    discount: cut,
                    total,
                });
            }
            subtotal += i128::from(amount);
            discount += i128::from(cut);
            points += i128::from(line.points);
        }
        let sum = |field: &'static str, stated: i64, computed: i128| {
            if i128::from(stated) == computed {
                Ok(())
            } else {
                Err(SumError::Sum {
                    field,
                    stated,
                    computed,
                })
            }
        };
        sum("subtotal", self.subtotal.minor(), subtotal)?;
        sum("discount", self.discount.minor(), discount)?;
        sum(
            "total",
            self.total.minor(),
            i128::from(self.subtotal.minor()) - i128::from(self.discount.minor()),
        )?;
        for (field, value) in [
            ("points_earned", self.points_earned),
            ("points_redeemed", self.points_redeemed),
        ] {
            if value.unsigned_abs() > MAX_RECORD_POINTS.unsigned_abs() {
                return Err(SumError::PointsOutOfRange { field, value });
            }
            signed(field, value)?;
        }
        sum("points_earned", self.points_earned, points)?;
        signed("subtotal", self.subtotal.minor())?;
        signed("discount", self.discount.minor())?;
        signed("total", self.total.minor())
    }
}

/// How a record moves one promotion's usage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageDelta {
    /// The promotion.
    pub promotion: crate::ids::PromotionId,
    /// Checks: +1 for a sale it applied to, −1 for a return giving its use
    /// back.
    pub uses: i64,
    /// Money it gave (negative for money refunded by a return).
    pub spent: Money,
}

impl PurchaseRecord {
    /// How the record moves promotions' usage: a sale uses every promotion
    /// in its `applied` once and spends its discount; a return gives back
    /// the uses it names and the discount it refunds.
    ///
    /// # Errors
    /// A promotion's spend over the record outside the money range (a
    /// record whose figures do not add up): an error, never zero.
    pub fn usage_deltas(&self) -> Result<Vec<UsageDelta>, AmountError> {
        use crate::pricing::RuleRef;
        let mut out: std::collections::BTreeMap<crate::ids::PromotionId, (i64, i128)> =
            Default::default();
        for a in &self.applied {
            if let RuleRef::Promotion(id) = &a.rule {
                let e = out.entry(id.clone()).or_default();
                e.1 += i128::from(a.discount.minor());
                if self.kind == RecordKind::Sale {
                    e.0 += 1;
                }
            }
        }
        if let RecordKind::Return { uses_returned, .. } = &self.kind {
            for id in uses_returned {
                out.entry(id.clone()).or_default().0 -= 1;
            }
        }
        out.into_iter()
            .map(|(promotion, (uses, spent))| {
                Ok(UsageDelta {
                    promotion,
                    uses,
                    spent: Money::from_wide(spent)?,
                })
            })
            .collect()
    }

    /// The lines as the till's basket had them, to price them again.
    #[must_use]
    pub fn basket(&self) -> Vec<Line> {
        self.lines
            .iter()
            .map(|l| Line {
                sku: l.sku.clone(),
                name: l.name.clone(),
                category: l.category.clone(),
                quantity: l.quantity,
                unit_price: l.unit_price,
            })
            .collect()
    }

    /// Serialises and signs. Returns the envelope and the hash of the bytes,
    /// which becomes the next record's `prev_hash`.
    pub fn seal(&self, key: &SigningKey) -> Result<(SignedRecord, Hash256), RecordError> {
        let sealed = self.seal_bytes(key)?;
        Ok((
            SignedRecord {
                register_id: self.register_id,
                seq: self.seq,
                body: to_base64(&sealed.bytes),
                signature: sealed.signature,
            },
            sealed.hash,
        ))
    }

    /// Serialises and signs, without the envelope: the exact bytes, as a
    /// till stores them, their signature and their hash.
    pub fn seal_bytes(&self, key: &SigningKey) -> Result<SealedBytes, RecordError> {
        let bytes = serde_json::to_vec(self).map_err(|e| RecordError::Serialise(e.to_string()))?;
        let signature = key.sign(SigningContext::PurchaseRecord, &bytes);
        let hash = sha256(&bytes);
        Ok(SealedBytes {
            bytes,
            signature,
            hash,
        })
    }
}

/// A record's exact signed bytes with their signature and hash
/// ([`PurchaseRecord::seal_bytes`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedBytes {
    /// The exact bytes.
    pub bytes: Vec<u8>,
    /// Ed25519 signature over them.
    pub signature: Signature,
    /// SHA-256 of them.
    pub hash: Hash256,
}

/// A record whose signature verified, with its bytes' hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedRecord {
    /// The parsed record.
    pub record: PurchaseRecord,
    /// The exact bytes.
    pub bytes: Vec<u8>,
    /// SHA-256 of the bytes.
    pub hash: Hash256,
}

/// A record decoded and parsed **without** its signature checked: what
/// [`SignedRecord::read_unverified`] gives. It proves nothing by itself; on
/// the chain path the batch's [`ChainHead`](SigningContext::ChainHead)
/// signature and the hash links authenticate it (see [`verify_chain`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnverifiedRecord {
    /// The parsed record.
    pub record: PurchaseRecord,
    /// The exact bytes.
    pub bytes: Vec<u8>,
    /// SHA-256 of the bytes.
    pub hash: Hash256,
}

impl SignedRecord {
    /// Verifies the bytes with the register's key, then parses them.
    pub fn open(&self, key: &PublicKey) -> Result<VerifiedRecord, RecordError> {
        let seq = self.seq;
        let bytes = from_base64(&self.body).ok_or(RecordError::Encoding { seq })?;
        verify_record_bytes(key, seq, &bytes, &self.signature)?;
        let UnverifiedRecord {
            record,
            bytes,
            hash,
        } = self.parse(bytes)?;
        Ok(VerifiedRecord {
            record,
            bytes,
            hash,
        })
    }

    /// Decodes and parses the bytes and hashes them, without checking the
    /// record's own signature. Only for records a verified chain binds
    /// ([`verify_chain`]); their own signatures are checked later, before
    /// they are ever used as evidence.
    pub fn read_unverified(&self) -> Result<UnverifiedRecord, RecordError> {
        let bytes = from_base64(&self.body).ok_or(RecordError::Encoding { seq: self.seq })?;
        self.parse(bytes)
    }

    fn parse(&self, bytes: Vec<u8>) -> Result<UnverifiedRecord, RecordError> {
        let seq = self.seq;
        let record: PurchaseRecord =
            serde_json::from_slice(&bytes).map_err(|e| RecordError::Parse {
                seq,
                message: e.to_string(),
            })?;
        if record.register_id != self.register_id || record.seq != self.seq {
            return Err(RecordError::EnvelopeMismatch { seq });
        }
        let hash = sha256(&bytes);
        Ok(UnverifiedRecord {
            record,
            bytes,
            hash,
        })
    }
}

/// Checks a record's own signature over its exact bytes (record `seq` of
/// the register whose key is `key`).
pub fn verify_record_bytes(
    key: &PublicKey,
    seq: Seq,
    bytes: &[u8],
    signature: &Signature,
) -> Result<(), RecordError> {
    key.verify(SigningContext::PurchaseRecord, bytes, signature)
        .map_err(|_| RecordError::BadSignature { seq })
}

/// The register's signature over the hash of the last record of a batch
/// (the chain head it uploads up to), under
/// [`SigningContext::ChainHead`]. The hash is of bytes that name the
/// register and the seq, so the signature names them too.
#[must_use]
pub fn sign_chain_head(key: &SigningKey, head: &Hash256) -> Signature {
    key.sign(SigningContext::ChainHead, &head.0)
}

/// Why a batch's chain does not authenticate its records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// A record's hash is not the next record's `prev_hash`: it is not
    /// bound to the signed head (edited, swapped, or not the register's).
    #[error(
        "record {seq} is not bound to the batch's signature: the next record's prev_hash is not its hash"
    )]
    Unbound {
        /// The record whose bytes do not hash to the next one's link.
        seq: Seq,
    },
    /// The signature over the last record's hash does not verify.
    #[error("the batch's signature over the hash of record {seq} does not verify")]
    BadSignature {
        /// The last record of the batch.
        seq: Seq,
    },
}

/// Verifies a batch's chain: `signature` is the register's over the hash
/// of the last record, and each record's `prev_hash` is its predecessor's
/// hash. `links` gives, in seq order, each record's seq, `prev_hash` and
/// own hash. Under SHA-256's collision resistance every record is then
/// exactly the one the register chained into the head it signed. The
/// chain is followed back from the signed head, so a refusal names the
/// last record not bound to it (the one edited or swapped).
pub fn verify_chain(
    key: &PublicKey,
    links: impl IntoIterator<Item = (Seq, Hash256, Hash256)>,
    signature: &Signature,
) -> Result<(), ChainError> {
    let links: Vec<(Seq, Hash256, Hash256)> = links.into_iter().collect();
    let Some(&(seq, _, head)) = links.last() else {
        return Ok(());
    };
    key.verify(SigningContext::ChainHead, &head.0, signature)
        .map_err(|_| ChainError::BadSignature { seq })?;
    for pair in links.windows(2).rev() {
        let ((before, _, before_hash), (_, prev_hash, _)) = (pair[0], pair[1]);
        if prev_hash != before_hash {
            return Err(ChainError::Unbound { seq: before });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::tests::test_key;

    pub(crate) fn sample() -> PurchaseRecord {
        PurchaseRecord {
            format: RECORD_FORMAT,
            id: Uuid::from_u128(0x0192_0000_0000_7000_8000_0000_0000_0001),
            merchant_id: MerchantId::new(1).unwrap(),
            store_id: StoreId::new(2).unwrap(),
            register_id: RegisterId::new(3).unwrap(),
            seq: Seq::FIRST,
            prev_hash: Hash256::GENESIS,
            wall_time: DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
            ruleset_version: Some(RulesetVersion::new(4).unwrap()),
            kind: RecordKind::Sale,
            currency: Currency::RUB,
            customer: Some(RecordCustomer {
                id: CustomerId::new(5).unwrap(),
                identified_by: IdentifiedBy::Token,
            }),
            lines: vec![RecordLine {
                sku: Sku::parse("4601").unwrap(),
                name: "Молоко".into(),
                category: None,
                quantity: Quantity::ONE,
                unit_price: Money::from_minor(8990).unwrap(),
                amount: Money::from_minor(8990).unwrap(),
                discount: Money::from_minor(450).unwrap(),
                total: Money::from_minor(8540).unwrap(),
                points: 0,
                applied: vec![],
            }],
            subtotal: Money::from_minor(8990).unwrap(),
            discount: Money::from_minor(450).unwrap(),
            total: Money::from_minor(8540).unwrap(),
            points_earned: 0,
            points_redeemed: 0,
            applied: vec![],
            point_awards: vec![],
            pricing_inputs: None,
        }
    }

    #[test]
    fn a_promotion_spend_past_the_money_range_is_an_error_not_zero() {
        let milk = || AppliedRule {
            rule: crate::pricing::RuleRef::Promotion(
                crate::ids::PromotionId::parse("milk").unwrap(),
            ),
            discount: Money::from_minor(Money::MAX_MINOR).unwrap(),
            funded_by: None,
        };
        let mut record = sample();
        record.applied = vec![milk()];
        let deltas = record.usage_deltas().unwrap();
        assert_eq!(deltas[0].spent.minor(), Money::MAX_MINOR);
        record.applied = vec![milk(), milk()];
        assert_eq!(
            record.usage_deltas(),
            Err(AmountError::MoneyOutOfRange(
                2 * i128::from(Money::MAX_MINOR)
            ))
        );
    }

    #[test]
    fn signed_bytes_are_stable() {
        let (signed, _) = sample().seal(&test_key(3)).unwrap();
        let bytes = from_base64(&signed.body).unwrap();
        expect_test::expect![[r#"{"format":1,"id":"01920000-0000-7000-8000-000000000001","merchant_id":1,"store_id":2,"register_id":3,"seq":1,"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","wall_time":"2026-09-21T14:13:20Z","ruleset_version":4,"kind":"sale","currency":"RUB","customer":{"id":5,"identified_by":"token"},"lines":[{"sku":"4601","name":"Молоко","category":null,"quantity":1,"unit_price":8990,"amount":8990,"discount":450,"total":8540,"points":0,"applied":[]}],"subtotal":8990,"discount":450,"total":8540,"points_earned":0,"points_redeemed":0,"applied":[]}"#]].assert_eq(&String::from_utf8(bytes).unwrap());
    }

    #[test]
    fn records_without_the_later_fields_still_parse_and_inputs_round_trip() {
        let (signed, _) = sample().seal(&test_key(3)).unwrap();
        let bytes = from_base64(&signed.body).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(!text.contains("pricing_inputs") && !text.contains("point_awards"));
        let old: PurchaseRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(old.pricing_inputs, None);

        let mut with = sample();
        with.pricing_inputs = Some(PricingInputs {
            standing: Some(CustomerStanding {
                lifetime_spend: Money::from_minor(100).unwrap(),
                points_balance: 7,
                ..CustomerStanding::default()
            }),
            coupons: vec!["CPN-1".into()],
            redeem_points: 5,
            usage: BTreeMap::from([(
                PromotionId::parse("milk").unwrap(),
                UsageSnapshot {
                    uses: 2,
                    spent: Money::from_minor(30).unwrap(),
                    customer_uses: 1,
                    leased: None,
                },
            )]),
        });
        let (signed, _) = with.seal(&test_key(3)).unwrap();
        assert_eq!(signed.open(&test_key(3).public_key()).unwrap().record, with);
    }

    #[test]
    fn captured_inputs_keep_the_usage_of_limited_promotions_only() {
        let ruleset: Ruleset = serde_json::from_value(serde_json::json!({
            "currency": "RUB",
            "programme": {"tiers": []},
            "promotions": [
                {"id": "limited", "name": "L", "target": {"kind": "basket"},
                 "reward": {"kind": "percent_off", "percent": 100},
                 "limits": {"per_customer": 1}},
                {"id": "open", "name": "O", "target": {"kind": "basket"},
                 "reward": {"kind": "percent_off", "percent": 100}}
            ]
        }))
        .unwrap();
        let mut ctx = PricingContext::new(StoreId::new(1).unwrap(), sample().wall_time);
        for id in ["limited", "open"] {
            ctx.usage.promotions.insert(
                PromotionId::parse(id).unwrap(),
                PromotionUsage {
                    uses: 3,
                    ..PromotionUsage::default()
                },
            );
        }
        ctx.redeem_points = 4;
        let inputs = PricingInputs::capture(&ruleset, None, &ctx);
        assert_eq!(
            inputs
                .usage
                .keys()
                .map(PromotionId::as_str)
                .collect::<Vec<_>>(),
            ["limited"]
        );
        let again = inputs.context(ctx.store, ctx.now, "UTC", None, None);
        assert_eq!(again.redeem_points, 4);
        assert_eq!(
            again.usage.promotions[&PromotionId::parse("limited").unwrap()].uses,
            3
        );
    }

    /// The lease a sale was priced under is recorded, so the server prices
    /// it again alike; a snapshot without one writes no `leased` field.
    #[test]
    fn captured_inputs_keep_the_lease_priced_under() {
        let ruleset: Ruleset = serde_json::from_value(serde_json::json!({
            "currency": "RUB",
            "programme": {"tiers": []},
            "promotions": [
                {"id": "leased", "name": "L", "target": {"kind": "basket"},
                 "reward": {"kind": "percent_off", "percent": 100},
                 "limits": {"total_uses": 10, "budget": 5000}}
            ]
        }))
        .unwrap();
        let id = PromotionId::parse("leased").unwrap();
        let lease = LeasedQuota {
            uses: 2,
            budget: Money::from_minor(700).unwrap(),
        };
        let mut ctx = PricingContext::new(StoreId::new(1).unwrap(), sample().wall_time);
        ctx.usage.promotions.insert(
            id.clone(),
            PromotionUsage {
                leased: Some(lease),
                ..PromotionUsage::default()
            },
        );
        let inputs = PricingInputs::capture(&ruleset, None, &ctx);
        assert_eq!(inputs.usage[&id].leased, Some(lease));
        let again = inputs.context(ctx.store, ctx.now, "UTC", None, None);
        assert_eq!(again.usage.promotions[&id].leased, Some(lease));
        let plain = serde_json::to_string(&UsageSnapshot::default()).unwrap();
        assert!(!plain.contains("leased"), "{plain}");
    }

    /// A sealed chain of `n` records from seq 1, with each record's hash.
    fn sealed_chain(n: i64) -> Vec<(SignedRecord, Hash256)> {
        let mut prev = Hash256::GENESIS;
        (1..=n)
            .map(|seq| {
                let mut r = sample();
                r.seq = Seq::new(seq).unwrap();
                r.prev_hash = prev;
                let sealed = r.seal(&test_key(3)).unwrap();
                prev = sealed.1;
                sealed
            })
            .collect()
    }

    fn links(chain: &[(SignedRecord, Hash256)]) -> Vec<(Seq, Hash256, Hash256)> {
        chain
            .iter()
            .map(|(s, _)| {
                let r = s.read_unverified().unwrap();
                (r.record.seq, r.record.prev_hash, r.hash)
            })
            .collect()
    }

    #[test]
    fn a_chain_binds_every_record_to_the_signed_head() {
        let key = test_key(3);
        let chain = sealed_chain(4);
        let head = chain[3].1;
        let sig = sign_chain_head(&key, &head);
        assert_eq!(verify_chain(&key.public_key(), links(&chain), &sig), Ok(()));
        // Another key, or the head signed as a record, does not verify.
        let stranger = sign_chain_head(&test_key(4), &head);
        let as_record = key.sign(SigningContext::PurchaseRecord, &head.0);
        for sig in [stranger, as_record] {
            assert_eq!(
                verify_chain(&key.public_key(), links(&chain), &sig),
                Err(ChainError::BadSignature {
                    seq: Seq::new(4).unwrap()
                })
            );
        }
        // A middle record edited (and even re-signed on its own) no longer
        // hashes to its successor's link.
        let mut edited = chain.clone();
        let mut two = edited[1].0.read_unverified().unwrap().record;
        two.total = Money::from_minor(1).unwrap();
        edited[1] = two.seal(&key).unwrap();
        assert_eq!(
            verify_chain(&key.public_key(), links(&edited), &sig),
            Err(ChainError::Unbound {
                seq: Seq::new(2).unwrap()
            })
        );
        // The parse without verification still refuses a moved envelope.
        let moved = SignedRecord {
            seq: Seq::new(9).unwrap(),
            ..chain[0].0.clone()
        };
        assert!(matches!(
            moved.read_unverified(),
            Err(RecordError::EnvelopeMismatch { .. })
        ));
    }

    #[test]
    fn seal_then_open_round_trips_and_tampering_is_caught() {
        let key = test_key(3);
        let (signed, hash) = sample().seal(&key).unwrap();
        let v = signed.open(&key.public_key()).unwrap();
        assert_eq!(v.record, sample());
        assert_eq!(v.hash, hash);

        let mut bytes = from_base64(&signed.body).unwrap();
        let pos = bytes.iter().position(|&b| b == b'8').unwrap();
        bytes[pos] = b'9';
        let edited = SignedRecord {
            body: to_base64(&bytes),
            ..signed.clone()
        };
        assert_eq!(
            edited.open(&key.public_key()),
            Err(RecordError::BadSignature { seq: Seq::FIRST })
        );

        let moved = SignedRecord {
            seq: Seq::FIRST.next(),
            ..signed.clone()
        };
        assert!(matches!(
            moved.open(&key.public_key()),
            Err(RecordError::EnvelopeMismatch { .. })
        ));
        assert!(signed.open(&test_key(4).public_key()).is_err());
    }
}
