//! The admin API's DTOs of customer segments (`services::segments`).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use shared::money::Money;

/// Who is in a saved segment: every condition given holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SegmentFilter {
    /// In one of these RFM segments (`champions`, `loyal`, `new`,
    /// `lapsed_high_spenders`, `lapsing`, `other`); empty: any.
    pub rfm: Vec<String>,
    /// Of one of these genders (`female`, `male`, `unspecified`); empty: any.
    pub genders: Vec<String>,
    /// In one of these age bands (`under 25`, `25-34`, … `65+`,
    /// `unknown`); empty: any.
    pub age_bands: Vec<String>,
    /// At least this many visits (days with a purchase) in the window.
    pub min_visits: Option<i64>,
    /// At least this much net spend in the window.
    #[schema(value_type = Option<i64>)]
    pub min_revenue: Option<Money>,
}

/// A segment to save.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSegment {
    /// Its code: 1–40 of `a-z`, `0-9`, `-`, `_`; the tag is `seg:<code>`.
    pub code: String,
    /// The name HQ sees.
    pub name: String,
    /// Who is in it.
    #[serde(default)]
    pub filter: SegmentFilter,
}

/// A saved segment with its size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SavedSegment {
    /// Its code.
    pub code: String,
    /// The tag promotions name: `seg:<code>`.
    pub tag: String,
    /// Its name.
    pub name: String,
    /// Who is in it.
    pub filter: SegmentFilter,
    /// Customers in it as last computed.
    pub customers: i64,
}

/// An RFM segment with its size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RfmSegmentSize {
    /// Its code (`lapsed_high_spenders`).
    pub segment: String,
    /// The tag promotions name: `rfm:<segment>`.
    pub tag: String,
    /// Customers in it as last computed.
    pub customers: i64,
}

/// The merchant's segments, as HQ and the API list them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SegmentsView {
    /// The day the tags were last computed as of; none yet.
    pub as_of: Option<NaiveDate>,
    /// Every RFM segment, in the analytics' order.
    pub rfm: Vec<RfmSegmentSize>,
    /// The saved segments, by code.
    pub saved: Vec<SavedSegment>,
}

/// What a refresh did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RefreshReport {
    /// The day it was computed as of.
    pub as_of: NaiveDate,
    /// Customers active in the window.
    pub active: usize,
    /// Customers whose tags changed (and whom the tills fetch again).
    pub changed: usize,
}

impl SegmentsView {
    /// Every tag a promotion may name, with its segment's name or code.
    #[must_use]
    pub fn tags(&self) -> Vec<(String, String)> {
        self.rfm
            .iter()
            .map(|r| (r.tag.clone(), r.segment.clone()))
            .chain(self.saved.iter().map(|s| (s.tag.clone(), s.name.clone())))
            .collect()
    }
}
