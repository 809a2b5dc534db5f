//! The admin API's DTOs of promotion drafts and their what-if
//! (`services::drafts`, `services::whatif`). Money is integer kopecks.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use shared::ids::StoreId;
use shared::ruleset::Promotion;

/// A draft promotion: saved, never sent to a till until published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DraftView {
    /// The draft's id.
    pub id: i64,
    /// The promotion as it would be published.
    pub promotion: Promotion,
    /// `draft`, `scheduled`, `publishing`, `published` or `failed`.
    pub status: String,
    /// Who saved it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it is to be published, if scheduled.
    pub publish_at: Option<DateTime<Utc>>,
    /// The ruleset version it was published as.
    pub published_version: Option<i64>,
    /// When it was published.
    pub published_at: Option<DateTime<Utc>>,
    /// Why its publish was refused, naming the field.
    pub failure: Option<String>,
}

/// `POST …/drafts/{draft}/what-if`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct WhatIfRequest {
    /// Days of stored sales to replay, ending now: 1–90, 28 when absent.
    pub days: Option<i64>,
}

/// `POST …/drafts/{draft}/publish`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PublishDraft {
    /// When to publish; now when absent. Must be in the future.
    pub at: Option<DateTime<Utc>>,
}

/// Sales not replayed, by reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WhatIfSkip {
    /// Why.
    pub reason: String,
    /// How many sales.
    pub sales: u64,
}

/// What the draft changes over some checks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WhatIfFigures {
    /// Checks the draft applies to.
    pub checks_touched: u64,
    /// The draft's own discount on them, kopecks.
    pub discount: i64,
    /// The draft's own points on them.
    pub points: i64,
    /// The change in the merchant's whole discount (the draft's cost less
    /// what promotions it displaces no longer give), kopecks.
    pub discount_change: i64,
    /// The change in all points earned.
    pub points_change: i64,
}

/// The figures of one store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoreWhatIf {
    /// The store.
    pub store_id: StoreId,
    /// Its figures.
    #[serde(flatten)]
    pub figures: WhatIfFigures,
}

/// The figures of one day, in each store's own time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DayWhatIf {
    /// The local date.
    pub day: NaiveDate,
    /// Its figures.
    #[serde(flatten)]
    pub figures: WhatIfFigures,
}

/// A running promotion that stops applying on checks the draft takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DisplacedPromotion {
    /// Its code.
    pub promotion_id: String,
    /// Its exclusive group.
    pub group: String,
    /// Checks where it applied and no longer does.
    pub checks: u64,
    /// The discount it gave on them, kopecks.
    pub discount: i64,
    /// The points it gave on them.
    pub points: i64,
}

/// The what-if of a draft over stored sales.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WhatIfReport {
    /// The draft.
    pub draft_id: i64,
    /// Its promotion's code.
    pub promotion_id: String,
    /// Days replayed.
    pub days: u32,
    /// Sales from this instant…
    pub from: DateTime<Utc>,
    /// …to this one.
    pub to: DateTime<Utc>,
    /// The current ruleset's version, priced with (its running promotions).
    pub ruleset_version: i64,
    /// Stored sales in the window.
    pub sales_read: u64,
    /// Sales priced both ways.
    pub sales_priced: u64,
    /// Sales that could not be priced, by reason.
    pub skipped: Vec<WhatIfSkip>,
    /// Distinct identified customers on the touched checks.
    pub customers_touched: u64,
    /// The whole window.
    pub total: WhatIfFigures,
    /// The merchant's whole discount without the draft, kopecks.
    pub discount_before: i64,
    /// …and with it.
    pub discount_after: i64,
    /// All points earned without the draft.
    pub points_before: i64,
    /// …and with it.
    pub points_after: i64,
    /// By store, by id.
    pub by_store: Vec<StoreWhatIf>,
    /// By local day, oldest first.
    pub by_day: Vec<DayWhatIf>,
    /// Running promotions it displaces, most discount first.
    pub displaced: Vec<DisplacedPromotion>,
}
