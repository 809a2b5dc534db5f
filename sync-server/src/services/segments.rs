//! Customer segments that feed back into promotions (issue 13).
//!
//! Every customer active in the trailing [`WINDOW_DAYS`] days is in one
//! RFM segment (the analytics' own [`rfm_segment`]) and in each of the
//! merchant's saved segments whose [`SegmentFilter`] they meet. Once a day
//! (and at once when a segment is saved or deleted) [`Segments::refresh`]
//! computes that from the customers' packed visits and keeps it as tags:
//! `rfm:<segment>` and `seg:<code>`. A customer whose tags change is
//! marked changed, so the registers' customer feed carries the new tags to
//! every till, where a promotion's condition on tags (`segment.tags`)
//! prices with them offline.
//!
//! Tags without these prefixes are not the service's and are never touched.
//!
//! "Today" is the chain's local day ([`local_today`]): visits are kept by
//! the store's local day, so a sale after midnight in Moscow is today's
//! while UTC still reads yesterday.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, Utc};
use shared::identity::{AGE_BANDS, age_band};
use shared::ids::{CustomerId, MerchantId};
use tokio::sync::watch;

use crate::clock::Clock;
use crate::db::analytics::RollupFilter;
use crate::db::{DbError, Repository, SegmentRow, Tx};
use crate::notify::{Notifier, Topic};
use crate::services::analytics::{
    CustomerActivity, RFM_SEGMENTS, customer_activity, high_spend_threshold, rfm_segment,
};
pub use crate::wire::segments::{
    NewSegment, RefreshReport, RfmSegmentSize, SavedSegment, SegmentFilter, SegmentsView,
};

/// Days of activity a segment looks at, ending on the day it is computed as of.
pub const WINDOW_DAYS: u64 = 365;
/// The prefix of RFM tags.
pub const RFM_PREFIX: &str = "rfm:";
/// The prefix of saved segments' tags.
pub const SAVED_PREFIX: &str = "seg:";
/// Customers whose tags are rewritten in one write transaction.
const WRITE_CHUNK: usize = 1_000;
/// How often the task looks whether a merchant's tags are a day old.
const CHECK_EVERY: Duration = Duration::from_secs(600);
/// The longest code and name.
const MAX_CODE: usize = 40;
const MAX_NAME: usize = 80;

impl SegmentFilter {
    /// Why the filter cannot be used, naming the field.
    fn check(&self) -> Result<(), SegmentError> {
        if let Some(bad) = self
            .rfm
            .iter()
            .find(|r| !RFM_SEGMENTS.contains(&r.as_str()))
        {
            return Err(SegmentError::Invalid(format!(
                "rfm: unknown segment {bad:?}"
            )));
        }
        if let Some(bad) = self
            .genders
            .iter()
            .find(|g| !["female", "male", "unspecified"].contains(&g.as_str()))
        {
            return Err(SegmentError::Invalid(format!("genders: unknown {bad:?}")));
        }
        if let Some(bad) = self
            .age_bands
            .iter()
            .find(|b| b.as_str() != "unknown" && !AGE_BANDS.iter().any(|(band, _, _)| band == b))
        {
            return Err(SegmentError::Invalid(format!("age_bands: unknown {bad:?}")));
        }
        if self.min_visits.is_some_and(|v| v < 1) {
            return Err(SegmentError::Invalid("min_visits: at least 1".into()));
        }
        if self.min_revenue.is_some_and(|m| m.minor() < 0) {
            return Err(SegmentError::Invalid("min_revenue: not negative".into()));
        }
        Ok(())
    }

    /// Whether a customer with `activity` (in RFM segment `rfm`, on `day`)
    /// is in.
    #[must_use]
    pub fn admits(&self, a: &CustomerActivity, rfm: &str, day: NaiveDate) -> bool {
        let gender = a.gender;
        (self.rfm.is_empty() || self.rfm.iter().any(|r| r == rfm))
            && (self.genders.is_empty() || self.genders.iter().any(|g| g == gender))
            && (self.age_bands.is_empty()
                || self
                    .age_bands
                    .iter()
                    .any(|b| b == age_band(a.birth_date, day)))
            && self.min_visits.is_none_or(|v| a.visits >= v)
            && self.min_revenue.is_none_or(|m| a.revenue >= m.minor())
    }
}

/// Why a segment was not saved or deleted.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// A field is wrong; the text names it.
    #[error("{0}")]
    Invalid(String),
    /// The code is taken.
    #[error("a segment with this code exists")]
    Taken,
    /// No such segment.
    #[error("no such segment")]
    NotFound,
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The segments service.
#[derive(Clone)]
pub struct Segments {
    repo: Arc<dyn Repository>,
    clock: Arc<dyn Clock>,
    notifier: Arc<Notifier>,
}

impl Segments {
    /// The service over `repo`, waking registers' feeds through `notifier`.
    pub fn new(repo: Arc<dyn Repository>, clock: Arc<dyn Clock>, notifier: Arc<Notifier>) -> Self {
        Segments {
            repo,
            clock,
            notifier,
        }
    }

    /// The merchant's segments with their sizes.
    pub async fn list(&self, merchant: MerchantId) -> Result<SegmentsView, DbError> {
        self.repo
            .read(move |tx| {
                // An unknown merchant is not found, not an empty list.
                tx.merchant_currency(merchant)?;
                let counts: HashMap<String, i64> = tx.tag_counts(merchant)?.into_iter().collect();
                let count = |tag: &str| counts.get(tag).copied().unwrap_or(0);
                let rfm = RFM_SEGMENTS
                    .iter()
                    .map(|s| {
                        let tag = format!("{RFM_PREFIX}{s}");
                        RfmSegmentSize {
                            segment: (*s).to_owned(),
                            customers: count(&tag),
                            tag,
                        }
                    })
                    .collect();
                let mut saved = Vec::new();
                for row in tx.segments(merchant)? {
                    let tag = format!("{SAVED_PREFIX}{}", row.code);
                    saved.push(SavedSegment {
                        customers: count(&tag),
                        filter: parse_filter(&row)?,
                        code: row.code,
                        name: row.name,
                        tag,
                    });
                }
                Ok(SegmentsView {
                    as_of: tx.segments_as_of(merchant)?,
                    rfm,
                    saved,
                })
            })
            .await
    }

    /// Saves a segment and computes who is in it as of today.
    pub async fn save(
        &self,
        merchant: MerchantId,
        new: NewSegment,
    ) -> Result<RefreshReport, SegmentError> {
        let now = self.clock.now();
        let code = new.code.trim().to_owned();
        if code.is_empty()
            || code.len() > MAX_CODE
            || !code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(SegmentError::Invalid(
                "code: 1–40 of a-z, 0-9, '-' and '_'".into(),
            ));
        }
        let name = new.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            return Err(SegmentError::Invalid("name: 1–80 characters".into()));
        }
        new.filter.check()?;
        let row = SegmentRow {
            code,
            name,
            filter: serde_json::to_string(&new.filter)
                .map_err(|e| SegmentError::Invalid(e.to_string()))?,
            created_at: now,
        };
        let stored = self
            .repo
            .write(move |tx| {
                tx.merchant_currency(merchant)?;
                tx.insert_segment(merchant, &row)
            })
            .await?;
        if !stored {
            return Err(SegmentError::Taken);
        }
        Ok(self.refresh_now(merchant).await?)
    }

    /// [`Self::refresh`] as of the chain's local day now ([`local_today`]).
    pub async fn refresh_now(&self, merchant: MerchantId) -> Result<RefreshReport, DbError> {
        let now = self.clock.now();
        let today = self
            .repo
            .read(move |tx| local_today(tx, merchant, now))
            .await?;
        self.refresh(merchant, today).await
    }

    /// Deletes a segment and takes its tag from its customers.
    pub async fn delete(
        &self,
        merchant: MerchantId,
        code: String,
    ) -> Result<RefreshReport, SegmentError> {
        let deleted = self
            .repo
            .write(move |tx| tx.delete_segment(merchant, &code))
            .await?;
        if !deleted {
            return Err(SegmentError::NotFound);
        }
        Ok(self.refresh_now(merchant).await?)
    }

    /// Computes every customer's segment tags as of `as_of` (activity in
    /// the [`WINDOW_DAYS`] days ending then), rewrites the ones that
    /// changed, marks those customers changed, and wakes the registers'
    /// customer feeds.
    #[tracing::instrument(skip(self), fields(merchant = %merchant))]
    pub async fn refresh(
        &self,
        merchant: MerchantId,
        as_of: NaiveDate,
    ) -> Result<RefreshReport, DbError> {
        let (wanted, active) = self
            .repo
            .read(move |tx| {
                tx.merchant_currency(merchant)?;
                let saved = tx
                    .segments(merchant)?
                    .iter()
                    .map(|row| Ok((format!("{SAVED_PREFIX}{}", row.code), parse_filter(row)?)))
                    .collect::<Result<Vec<_>, DbError>>()?;
                let from = as_of
                    .checked_sub_days(Days::new(WINDOW_DAYS - 1))
                    .unwrap_or(as_of);
                let (activity, _) = customer_activity(
                    tx,
                    &RollupFilter {
                        merchant_id: merchant,
                        from,
                        to: as_of,
                        stores: None,
                    },
                )?;
                Ok((wanted_tags(&activity, &saved, as_of), activity.len()))
            })
            .await?;
        let have = self
            .repo
            .read(move |tx| tx.tags_with_prefixes(merchant, &[RFM_PREFIX, SAVED_PREFIX]))
            .await?;
        let mut current: HashMap<CustomerId, BTreeSet<String>> = HashMap::new();
        for (customer, tag) in have {
            current.entry(customer).or_default().insert(tag);
        }
        let mut changes: Vec<(CustomerId, BTreeSet<String>, BTreeSet<String>)> = Vec::new();
        for (customer, tags) in &wanted {
            let now = current.remove(customer).unwrap_or_default();
            if &now != tags {
                changes.push((*customer, now, tags.clone()));
            }
        }
        changes.extend(
            current
                .into_iter()
                .map(|(customer, now)| (customer, now, BTreeSet::new())),
        );
        changes.sort_by_key(|(customer, _, _)| *customer);
        let changed = changes.len();
        for chunk in changes.chunks(WRITE_CHUNK) {
            let chunk = chunk.to_vec();
            self.repo
                .write(move |tx| {
                    for (customer, old, new) in &chunk {
                        for tag in old.difference(new) {
                            tx.remove_customer_tag(*customer, tag)?;
                        }
                        for tag in new.difference(old) {
                            tx.add_customer_tag(*customer, tag)?;
                        }
                        tx.mark_customer_changed(merchant, *customer)?;
                    }
                    Ok(())
                })
                .await?;
        }
        let at = self.clock.now();
        self.repo
            .write(move |tx| tx.set_segments_as_of(merchant, as_of, at))
            .await?;
        if changed > 0 {
            self.notifier.notify(Topic::Customers, merchant);
        }
        tracing::info!(%as_of, active, changed, "segment tags computed");
        Ok(RefreshReport {
            as_of,
            active,
            changed,
        })
    }

    /// Refreshes every merchant whose tags are older than its today
    /// ([`local_today`]).
    pub async fn refresh_due(&self) -> Result<usize, DbError> {
        let now = self.clock.now();
        let due: Vec<(MerchantId, NaiveDate)> = self
            .repo
            .read(move |tx| {
                let mut due = Vec::new();
                for m in tx.merchants()? {
                    let today = local_today(tx, m.id, now)?;
                    if tx.segments_as_of(m.id)?.is_none_or(|d| d < today) {
                        due.push((m.id, today));
                    }
                }
                Ok(due)
            })
            .await?;
        for (merchant, today) in &due {
            self.refresh(*merchant, *today).await?;
        }
        Ok(due.len())
    }
}

/// The chain's today at `now`: the latest local date among the merchant's
/// stores (visits are kept by each store's local day, so every visit made
/// by `now` is on or before it); the UTC date for a merchant without
/// stores.
pub fn local_today(
    tx: &mut dyn Tx,
    merchant: MerchantId,
    now: DateTime<Utc>,
) -> Result<NaiveDate, DbError> {
    Ok(tx
        .stores(merchant)?
        .iter()
        .map(|s| now.with_timezone(&s.timezone.tz()).date_naive())
        .max()
        .unwrap_or_else(|| now.date_naive()))
}

fn parse_filter(row: &SegmentRow) -> Result<SegmentFilter, DbError> {
    serde_json::from_str(&row.filter).map_err(|e| DbError::Other(Box::new(e)))
}

/// The segment tags each active customer should carry.
fn wanted_tags(
    activity: &[CustomerActivity],
    saved: &[(String, SegmentFilter)],
    as_of: NaiveDate,
) -> HashMap<CustomerId, BTreeSet<String>> {
    let high = high_spend_threshold(activity);
    activity
        .iter()
        .map(|a| {
            let rfm = rfm_segment(a, as_of, high);
            let mut tags = BTreeSet::from([format!("{RFM_PREFIX}{rfm}")]);
            for (tag, filter) in saved {
                if filter.admits(a, rfm, as_of) {
                    tags.insert(tag.clone());
                }
            }
            (a.customer_id, tags)
        })
        .collect()
}

/// Computes the segment tags of every merchant once a day (looking every
/// [`CHECK_EVERY`]) until `stop` turns true.
pub async fn run(segments: Segments, mut stop: watch::Receiver<bool>) {
    tracing::info!("segment tags task started");
    loop {
        if *stop.borrow() {
            break;
        }
        if let Err(e) = segments.refresh_due().await {
            tracing::error!(error = %e, "computing segment tags failed; retrying");
        }
        tokio::select! {
            _ = stop.changed() => {}
            () = tokio::time::sleep(CHECK_EVERY) => {}
        }
    }
    tracing::info!("segment tags task stopped");
}

#[cfg(test)]
mod tests {
    use shared::money::Money;

    use super::*;

    fn activity(id: i64, gender: &'static str, visits: i64, revenue: i64) -> CustomerActivity {
        let day = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        CustomerActivity {
            customer_id: CustomerId::new(id).unwrap(),
            gender,
            birth_date: NaiveDate::from_ymd_opt(1990, 6, 1),
            first_day: day,
            last_day: day,
            visits,
            checks: visits,
            revenue,
        }
    }

    #[test]
    fn a_filter_admits_only_who_meets_every_condition() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let filter = SegmentFilter {
            genders: vec!["female".into()],
            age_bands: vec!["35-44".into()],
            min_visits: Some(2),
            min_revenue: Some(Money::from_minor(10_000).unwrap()),
            ..SegmentFilter::default()
        };
        assert!(filter.admits(&activity(1, "female", 2, 10_000), "loyal", day));
        assert!(!filter.admits(&activity(2, "male", 2, 10_000), "loyal", day));
        assert!(!filter.admits(&activity(3, "female", 1, 10_000), "loyal", day));
        assert!(!filter.admits(&activity(4, "female", 2, 9_999), "loyal", day));
        let rfm = SegmentFilter {
            rfm: vec!["champions".into()],
            ..SegmentFilter::default()
        };
        assert!(rfm.admits(&activity(5, "unspecified", 1, 0), "champions", day));
        assert!(!rfm.admits(&activity(5, "unspecified", 1, 0), "loyal", day));
    }

    #[test]
    fn a_filter_naming_what_does_not_exist_is_refused_by_field() {
        for (filter, field) in [
            (
                SegmentFilter {
                    rfm: vec!["vip".into()],
                    ..SegmentFilter::default()
                },
                "rfm",
            ),
            (
                SegmentFilter {
                    age_bands: vec!["18-20".into()],
                    ..SegmentFilter::default()
                },
                "age_bands",
            ),
            (
                SegmentFilter {
                    min_visits: Some(0),
                    ..SegmentFilter::default()
                },
                "min_visits",
            ),
        ] {
            let e = filter.check().unwrap_err().to_string();
            assert!(e.starts_with(field), "{e}");
        }
    }
}
