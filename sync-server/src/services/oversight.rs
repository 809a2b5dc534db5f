//! What HQ watches: alerts (with the rule that keeps a repeating one
//! quiet), the quarantine of forked records, and the re-pricer's report.

use std::sync::Arc;

use shared::ids::MerchantId;

use crate::alerts::{NewAlert, Repetition, quiet_period};
use crate::db::{AlertPage, DbError, Repository, Tx};
use crate::wire::{Alert, QuarantinedRecord, RepriceReport};

/// Alerts, quarantine and mismatches.
#[derive(Clone)]
pub struct Oversight {
    repo: Arc<dyn Repository>,
}

impl Oversight {
    /// The service over `repo`.
    pub fn new(repo: Arc<dyn Repository>) -> Self {
        Oversight { repo }
    }

    /// Raises an alert unless its kind's [`Repetition`] keeps it quiet;
    /// true when it was raised.
    pub async fn raise(&self, alert: NewAlert) -> Result<bool, DbError> {
        self.repo.write(move |tx| raise_in(tx, &alert)).await
    }

    /// A merchant's alerts, newest first.
    pub async fn alerts(
        &self,
        merchant: MerchantId,
        page: AlertPage,
    ) -> Result<Vec<Alert>, DbError> {
        self.repo.read(move |tx| tx.alerts(merchant, page)).await
    }

    /// A merchant's quarantined records, newest first.
    pub async fn quarantine(
        &self,
        merchant: MerchantId,
        limit: usize,
    ) -> Result<Vec<QuarantinedRecord>, DbError> {
        self.repo
            .read(move |tx| tx.quarantined(merchant, limit))
            .await
    }

    /// What the re-pricer found for a merchant: counts, skip reasons and
    /// the newest `limit` mismatches, each with its fields in the order
    /// they are compared.
    pub async fn mismatches(
        &self,
        merchant: MerchantId,
        limit: usize,
    ) -> Result<RepriceReport, DbError> {
        let mut report = self
            .repo
            .read(move |tx| {
                tx.merchant_currency(merchant)?;
                tx.reprice_report(merchant, limit)
            })
            .await?;
        for m in &mut report.mismatches {
            m.fields.sort_by_key(|f| field_rank(&f.field));
        }
        Ok(report)
    }
}

/// Raises `alert` in the caller's transaction unless an alert it repeats
/// was raised within the quiet period; true when it was raised.
pub(crate) fn raise_in(tx: &mut dyn Tx, alert: &NewAlert) -> Result<bool, DbError> {
    let repeated_seq = match alert.kind.repetition() {
        Repetition::Always => None,
        Repetition::OncePerSeq => Some(alert.seq),
        Repetition::OncePerRegister => Some(None),
    };
    if let Some(seq) = repeated_seq {
        let last = tx.last_alert_at(alert.register_id, alert.kind, seq)?;
        if last.is_some_and(|last| alert.created_at - last < quiet_period()) {
            return Ok(false);
        }
    }
    tx.insert_alert(alert)?;
    tracing::warn!(
        register_id = %alert.register_id,
        kind = alert.kind.code(),
        seq = alert.seq.map(shared::ids::Seq::get),
        detail = %alert.detail,
        "alert"
    );
    Ok(true)
}

/// Where a field comes in the comparison: check figures in their order,
/// then lines by position, each line's figures in their order.
pub(crate) fn field_rank(field: &str) -> (usize, usize, usize) {
    const CHECK: [&str; 6] = [
        "subtotal",
        "discount",
        "total",
        "points_earned",
        "points_redeemed",
        "lines",
    ];
    const LINE: [&str; 3] = ["discount", "total", "points"];
    if let Some(at) = CHECK.iter().position(|f| *f == field) {
        return (0, at, 0);
    }
    let line = field
        .strip_prefix("lines[")
        .and_then(|rest| rest.split_once("]."))
        .and_then(|(i, name)| Some((i.parse().ok()?, LINE.iter().position(|f| *f == name)?)));
    match line {
        Some((i, at)) => (1, i, at),
        None => (2, 0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::field_rank;

    #[test]
    fn fields_sort_as_compared_with_lines_by_number() {
        let mut fields = [
            "lines[10].total",
            "lines[2].points",
            "points_earned",
            "lines[2].discount",
            "total",
            "subtotal",
        ];
        fields.sort_by_key(|f| field_rank(f));
        assert_eq!(
            fields,
            [
                "subtotal",
                "total",
                "points_earned",
                "lines[2].discount",
                "lines[2].points",
                "lines[10].total"
            ]
        );
    }
}
