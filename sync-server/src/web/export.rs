//! CSV exports of the analytics tables, for Excel in Russian: a UTF-8 BOM
//! (so Cyrillic opens correctly), `;` between fields, Russian headers
//! (message ids of the catalogues, written in Russian whatever the page's
//! language; the analytics page shows them in its own),
//! money as roubles with two decimals and a decimal comma, items with
//! three. The body is a stream of chunks of rows (about
//! [`CHUNK_BYTES`] each), produced as the client reads it; what is held is
//! the view's aggregated rows, never the records.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::stream;

use crate::web::format;
use crate::web::i18n::{self, Lang};
use shared::money::BasisPoints;

use crate::services::analytics::uplift::MIN_GROUP;
use crate::wire::analytics::{
    BasketsView, CohortRow, CustomerGroup, CustomersView, ItemRow, PairRow, Period, PlaceRow,
    ProductsView, PromotionPairRow, PromotionSlice, PromotionsView, SalesView, StoresView,
    UpliftRow, UpliftVerdict,
};

/// The UTF-8 byte order mark.
pub const BOM: &str = "\u{feff}";

/// Every exported table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Revenue over time.
    Revenue,
    /// By store.
    Stores,
    /// By brand.
    Brands,
    /// By product.
    Products,
    /// By category.
    Categories,
    /// Customers by gender.
    Genders,
    /// By age band.
    Ages,
    /// New and returning.
    NewReturning,
    /// By visits.
    Frequency,
    /// Cohort retention.
    Cohorts,
    /// RFM segments.
    Rfm,
    /// Moves between RFM segments from the previous period.
    RfmTransitions,
    /// Promotions.
    Promotions,
    /// One promotion by hour.
    PromotionHours,
    /// By weekday.
    PromotionWeekdays,
    /// By store.
    PromotionStores,
    /// Promotions against their holdouts.
    Uplift,
    /// Product pairs bought together.
    Baskets,
    /// Category pairs.
    BasketCategories,
    /// One product's pairs.
    BasketProduct,
    /// The pairs a promotion moved.
    BasketPromotion,
}

/// The view a table is part of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Revenue over time.
    Sales,
    /// Stores and brands.
    Stores,
    /// Products and categories.
    Products,
    /// Customers.
    Customers,
    /// Promotions.
    Promotions,
    /// Products and categories bought together.
    Baskets,
}

impl View {
    /// Every view.
    pub const ALL: [View; 6] = [
        View::Sales,
        View::Stores,
        View::Products,
        View::Customers,
        View::Promotions,
        View::Baskets,
    ];

    /// The code in URLs.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            View::Sales => "sales",
            View::Stores => "stores",
            View::Products => "products",
            View::Customers => "customers",
            View::Promotions => "promotions",
            View::Baskets => "baskets",
        }
    }

    /// Parses [`code`](Self::code).
    #[must_use]
    pub fn parse(code: &str) -> Option<View> {
        View::ALL.into_iter().find(|v| v.code() == code)
    }
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 21] = [
        Table::Revenue,
        Table::Stores,
        Table::Brands,
        Table::Products,
        Table::Categories,
        Table::Genders,
        Table::Ages,
        Table::NewReturning,
        Table::Frequency,
        Table::Cohorts,
        Table::Rfm,
        Table::RfmTransitions,
        Table::Promotions,
        Table::PromotionHours,
        Table::PromotionWeekdays,
        Table::PromotionStores,
        Table::Uplift,
        Table::Baskets,
        Table::BasketCategories,
        Table::BasketProduct,
        Table::BasketPromotion,
    ];

    /// The code in URLs and the file's name.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Table::Revenue => "revenue",
            Table::Stores => "stores",
            Table::Brands => "brands",
            Table::Products => "products",
            Table::Categories => "categories",
            Table::Genders => "genders",
            Table::Ages => "ages",
            Table::NewReturning => "new-returning",
            Table::Frequency => "frequency",
            Table::Cohorts => "cohorts",
            Table::Rfm => "rfm",
            Table::RfmTransitions => "rfm-transitions",
            Table::Promotions => "promotions",
            Table::PromotionHours => "promotion-hours",
            Table::PromotionWeekdays => "promotion-weekdays",
            Table::PromotionStores => "promotion-stores",
            Table::Uplift => "uplift",
            Table::Baskets => "baskets",
            Table::BasketCategories => "basket-categories",
            Table::BasketProduct => "basket-product",
            Table::BasketPromotion => "basket-promotion",
        }
    }

    /// Parses [`code`](Self::code).
    #[must_use]
    pub fn parse(code: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.code() == code)
    }

    /// The view it comes from.
    #[must_use]
    pub const fn view(self) -> View {
        match self {
            Table::Revenue => View::Sales,
            Table::Stores | Table::Brands => View::Stores,
            Table::Products | Table::Categories => View::Products,
            Table::Genders
            | Table::Ages
            | Table::NewReturning
            | Table::Frequency
            | Table::Cohorts
            | Table::Rfm
            | Table::RfmTransitions => View::Customers,
            Table::Promotions
            | Table::PromotionHours
            | Table::PromotionWeekdays
            | Table::PromotionStores
            | Table::Uplift => View::Promotions,
            Table::Baskets
            | Table::BasketCategories
            | Table::BasketProduct
            | Table::BasketPromotion => View::Baskets,
        }
    }
}

/// A view's data, to export one of its tables.
#[derive(Debug, Clone)]
pub enum ViewData {
    /// Revenue over time.
    Sales(SalesView),
    /// Stores.
    Stores(StoresView),
    /// Products.
    Products(ProductsView),
    /// Customers.
    Customers(CustomersView),
    /// Promotions.
    Promotions(PromotionsView),
    /// Baskets.
    Baskets(BasketsView),
}

/// Kopecks as roubles with two decimals: `-1234,50`.
#[must_use]
pub fn roubles(kopecks: i64) -> String {
    let sign = if kopecks < 0 { "-" } else { "" };
    let abs = kopecks.unsigned_abs();
    format!("{sign}{},{:02}", abs / 100, abs % 100)
}

/// Thousandths with three decimals: `1,500`.
#[must_use]
pub fn milli(value: i64) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs();
    format!("{sign}{},{:03}", abs / 1000, abs % 1000)
}

/// What a chunk of the body holds before it is sent: rows are written into
/// it until it reaches this size.
pub const CHUNK_BYTES: usize = 16 * 1024;

/// Appends one CSV field, quoted when it must be.
fn push_field(out: &mut Vec<u8>, text: &str) {
    if text.contains([';', '"', '\n', '\r']) {
        out.push(b'"');
        out.extend_from_slice(text.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(text.as_bytes());
    }
}

/// Appends one line: the fields between `;`, then CRLF.
fn push_line(out: &mut Vec<u8>, fields: &[String]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b';');
        }
        push_field(out, f);
    }
    out.extend_from_slice(b"\r\n");
}

type Row = Box<dyn FnOnce() -> Vec<String> + Send>;

fn rows<T: Send + 'static>(items: Vec<T>, f: fn(T) -> Vec<String>) -> Vec<Row> {
    items
        .into_iter()
        .map(|item| Box::new(move || f(item)) as Row)
        .collect()
}

fn place(p: PlaceRow) -> Vec<String> {
    vec![
        p.name,
        p.figures.checks.to_string(),
        p.figures.returns.to_string(),
        roubles(p.figures.revenue),
        roubles(p.figures.average_check),
        milli(p.figures.items_per_check_milli),
        roubles(p.figures.discount),
        roubles(p.previous_revenue),
    ]
}

fn item(i: ItemRow) -> Vec<String> {
    vec![
        i.key,
        i.name,
        i.checks.to_string(),
        milli(i.items_milli),
        roubles(i.revenue),
        roubles(i.discount),
    ]
}

fn group(g: CustomerGroup) -> Vec<String> {
    vec![
        group_label(&g.code),
        g.customers.to_string(),
        g.visits.to_string(),
        g.checks.to_string(),
        roubles(g.revenue),
    ]
}

fn slice(s: PromotionSlice) -> Vec<String> {
    vec![s.label, s.uses.to_string(), roubles(s.cost)]
}

fn uplift(u: UpliftRow) -> Vec<String> {
    let period = |p: Period| format!("{} — {}", format::day(p.from), format::day(p.to));
    let end = |n: Option<i64>, show: fn(i64) -> String| n.map(show).unwrap_or_default();
    vec![
        u.promotion_id,
        u.name,
        BasisPoints::new(u.holdout_bp)
            .map(format::percent)
            .unwrap_or_default(),
        period(u.window),
        period(u.baseline),
        u.exposed.customers.to_string(),
        u.held_out.customers.to_string(),
        roubles(u.exposed.spend),
        roubles(u.held_out.spend),
        roubles(u.spend.difference),
        end(u.spend.low, roubles),
        end(u.spend.high, roubles),
        verdict_label(u.spend.verdict),
        milli(u.exposed.visits_milli),
        milli(u.held_out.visits_milli),
        milli(u.visits.difference),
        end(u.visits.low, milli),
        end(u.visits.high, milli),
        verdict_label(u.visits.verdict),
    ]
}

/// What an uplift says, in words.
#[must_use]
pub fn verdict_label(v: UpliftVerdict) -> String {
    match v {
        UpliftVerdict::TooFew => i18n::t1("uplift-too-few", "min", MIN_GROUP),
        UpliftVerdict::Unclear => i18n::t("uplift-unclear"),
        UpliftVerdict::Higher => i18n::t("uplift-higher"),
        UpliftVerdict::Lower => i18n::t("uplift-lower"),
    }
}

/// Per million as a percent with two decimals: `12,35 %`-style `12,35`.
#[must_use]
pub fn ppm_percent(ppm: i64) -> String {
    let hundredths = shared::money::round_half_up(i128::from(ppm), 100);
    let hundredths = i64::try_from(hundredths).unwrap_or(i64::MAX);
    let sign = if hundredths < 0 { "-" } else { "" };
    let abs = hundredths.unsigned_abs();
    format!("{sign}{},{:02}", abs / 100, abs % 100)
}

fn pair(p: PairRow) -> Vec<String> {
    vec![
        p.a,
        p.a_name,
        p.b,
        p.b_name,
        p.checks.to_string(),
        p.a_checks.to_string(),
        p.b_checks.to_string(),
        ppm_percent(p.support_ppm),
        ppm_percent(p.confidence_ab_ppm),
        ppm_percent(p.confidence_ba_ppm),
        milli(p.lift_milli),
    ]
}

fn promotion_pair(p: PromotionPairRow) -> Vec<String> {
    vec![
        p.a,
        p.a_name,
        p.b,
        p.b_name,
        p.with_checks.to_string(),
        ppm_percent(p.with_ppm),
        p.without_checks.to_string(),
        ppm_percent(p.without_ppm),
        p.uplift_milli
            .map_or_else(|| i18n::t("an-basket-only-with"), milli),
    ]
}

/// The headers of a pairs table.
pub const PAIR_HEADERS: [&str; 11] = [
    "an-col-item-a",
    "an-col-name-a",
    "an-col-item-b",
    "an-col-name-b",
    "an-col-checks-both",
    "an-col-checks-a",
    "an-col-checks-b",
    "an-col-support",
    "an-col-confidence-ab",
    "an-col-confidence-ba",
    "an-col-lift",
];

fn cohort_lines(cohorts: Vec<CohortRow>) -> Vec<Row> {
    cohorts
        .into_iter()
        .flat_map(|c| {
            let (cohort, size) = (c.cohort, c.size);
            c.months.into_iter().map(move |(month, n)| {
                let cohort = cohort.clone();
                Box::new(move || vec![cohort, size.to_string(), month, n.to_string()]) as Row
            })
        })
        .collect()
}

const PLACE_HEADERS: [&str; 8] = [
    "an-col-name",
    "an-col-checks",
    "an-col-returns",
    "an-col-revenue",
    "an-col-average-check",
    "an-col-items-per-check",
    "an-col-discount",
    "an-col-previous-revenue",
];
const GROUP_HEADERS: [&str; 5] = [
    "an-col-group",
    "an-col-customers",
    "an-col-visits",
    "an-col-checks",
    "an-col-revenue",
];
const SLICE_HEADERS: [&str; 3] = ["an-col-when-where", "an-col-uses", "an-col-cost"];
const UPLIFT_HEADERS: [&str; 19] = [
    "an-col-promotion",
    "an-col-name",
    "an-col-holdout",
    "an-col-window",
    "an-col-baseline",
    "an-col-exposed",
    "an-col-held-out",
    "an-col-spend-exposed",
    "an-col-spend-held-out",
    "an-col-spend-difference",
    "an-col-spend-low",
    "an-col-spend-high",
    "an-col-spend-verdict",
    "an-col-visits-exposed",
    "an-col-visits-held-out",
    "an-col-visits-difference",
    "an-col-visits-low",
    "an-col-visits-high",
    "an-col-visits-verdict",
];

/// The headers and rows of `table` in `data`, or `None` when the data is
/// of another view.
#[must_use]
pub fn table(table: Table, data: ViewData) -> Option<(Vec<&'static str>, Vec<Row>)> {
    Some(match (table, data) {
        (Table::Revenue, ViewData::Sales(v)) => (
            vec![
                "an-col-period",
                "an-col-checks",
                "an-col-returns",
                "an-col-revenue",
                "an-col-average-check",
                "an-col-items-per-check",
                "an-col-discount",
                "an-col-previous-revenue",
            ],
            rows(v.rows, |r| {
                vec![
                    r.label,
                    r.figures.checks.to_string(),
                    r.figures.returns.to_string(),
                    roubles(r.figures.revenue),
                    roubles(r.figures.average_check),
                    milli(r.figures.items_per_check_milli),
                    roubles(r.figures.discount),
                    roubles(r.previous_revenue),
                ]
            }),
        ),
        (Table::Stores, ViewData::Stores(v)) => (PLACE_HEADERS.to_vec(), rows(v.stores, place)),
        (Table::Brands, ViewData::Stores(v)) => (PLACE_HEADERS.to_vec(), rows(v.brands, place)),
        (Table::Products | Table::Categories, ViewData::Products(v)) => (
            vec![
                if table == Table::Products {
                    "an-col-sku"
                } else {
                    "an-col-category"
                },
                "an-col-name",
                "an-col-checks",
                "an-col-quantity",
                "an-col-revenue",
                "an-col-discount",
            ],
            rows(
                if table == Table::Products {
                    v.products
                } else {
                    v.categories
                },
                item,
            ),
        ),
        (Table::Cohorts, ViewData::Customers(v)) => (
            vec![
                "an-col-first-month",
                "an-col-cohort-size",
                "an-col-month",
                "an-col-active",
            ],
            cohort_lines(v.cohorts),
        ),
        (Table::RfmTransitions, ViewData::Customers(v)) => (
            vec!["an-col-rfm-from", "an-col-rfm-to", "an-col-customers"],
            rows(v.rfm_transitions, |t| {
                vec![
                    transition_state(&t.from),
                    transition_state(&t.to),
                    t.customers.to_string(),
                ]
            }),
        ),
        (
            Table::Genders | Table::Ages | Table::NewReturning | Table::Frequency | Table::Rfm,
            ViewData::Customers(v),
        ) => {
            let groups = match table {
                Table::Genders => v.genders,
                Table::Ages => v.ages,
                Table::NewReturning => v.new_returning,
                Table::Frequency => v.frequency,
                _ => v.rfm,
            };
            if table == Table::Frequency {
                (
                    GROUP_HEADERS.to_vec(),
                    rows(groups, |g| {
                        let mut fields = group(g);
                        fields[0] = frequency_label(&fields[0]);
                        fields
                    }),
                )
            } else {
                (GROUP_HEADERS.to_vec(), rows(groups, group))
            }
        }
        (Table::Promotions, ViewData::Promotions(v)) => (
            vec![
                "an-col-promotion",
                "an-col-name",
                "an-col-uses",
                "an-col-customers",
                "an-col-cost",
                "an-col-funded-by",
                "an-col-basket-with",
                "an-col-basket-without",
                "an-col-items-with",
                "an-col-items-without",
            ],
            rows(v.promotions, |p| {
                vec![
                    p.promotion_id,
                    p.name,
                    p.uses.to_string(),
                    p.customers.to_string(),
                    roubles(p.cost),
                    p.funded_by
                        .unwrap_or_else(|| i18n::t("dash-funded-by-merchant")),
                    roubles(p.basket_with),
                    roubles(p.basket_without),
                    milli(p.items_with_milli),
                    milli(p.items_without_milli),
                ]
            }),
        ),
        (Table::PromotionHours, ViewData::Promotions(v)) => {
            (SLICE_HEADERS.to_vec(), rows(v.by_hour, slice))
        }
        (Table::PromotionWeekdays, ViewData::Promotions(v)) => {
            (SLICE_HEADERS.to_vec(), rows(v.by_weekday, slice))
        }
        (Table::PromotionStores, ViewData::Promotions(v)) => {
            (SLICE_HEADERS.to_vec(), rows(v.by_store, slice))
        }
        (Table::Uplift, ViewData::Promotions(v)) => {
            (UPLIFT_HEADERS.to_vec(), rows(v.uplift, uplift))
        }
        (Table::Baskets, ViewData::Baskets(v)) => (PAIR_HEADERS.to_vec(), rows(v.pairs, pair)),
        (Table::BasketCategories, ViewData::Baskets(v)) => {
            (PAIR_HEADERS.to_vec(), rows(v.categories, pair))
        }
        (Table::BasketProduct, ViewData::Baskets(v)) => (
            PAIR_HEADERS.to_vec(),
            rows(v.product.map(|p| p.pairs).unwrap_or_default(), pair),
        ),
        (Table::BasketPromotion, ViewData::Baskets(v)) => (
            vec![
                "an-col-item-a",
                "an-col-name-a",
                "an-col-item-b",
                "an-col-name-b",
                "an-col-checks-with",
                "an-col-share-with",
                "an-col-checks-without",
                "an-col-share-without",
                "an-col-moved",
            ],
            rows(
                v.promotion.map(|p| p.pairs).unwrap_or_default(),
                promotion_pair,
            ),
        ),
        _ => return None,
    })
}

/// The CSV response of `table`: the header line after the BOM, then one
/// chunk per row as the body is read.
#[must_use]
pub fn response(t: Table, data: ViewData, file_stem: &str) -> Response {
    let Some((headers, rows)) = table(t, data) else {
        return (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "the table is not part of its view",
        )
            .into_response();
    };
    // The CSV is for Excel in Russian whatever the page's language: its
    // header and every row (produced as the body is read) are written in
    // Russian.
    let mut head = BOM.as_bytes().to_vec();
    let fields: Vec<String> =
        i18n::with_lang(Lang::Ru, || headers.iter().map(|h| i18n::t(h)).collect());
    push_line(&mut head, &fields);
    let body = stream::iter(
        Chunks {
            next: Some(head),
            rows: rows.into_iter(),
        }
        .map(Ok::<_, Infallible>),
    );
    let disposition = format!("attachment; filename=\"{file_stem}-{}.csv\"", t.code());
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// The body's chunks: the header line, then as many rows as fill
/// [`CHUNK_BYTES`] a chunk, each written as it is asked for.
struct Chunks {
    /// What the next chunk begins with.
    next: Option<Vec<u8>>,
    rows: std::vec::IntoIter<Row>,
}

impl Iterator for Chunks {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        let mut out = self.next.take().unwrap_or_default();
        i18n::with_lang(Lang::Ru, || {
            while out.len() < CHUNK_BYTES {
                let Some(row) = self.rows.next() else { break };
                push_line(&mut out, &row());
            }
        });
        (!out.is_empty()).then(|| Bytes::from(out))
    }
}

/// An RFM segment, or `inactive`, as the transitions name it.
#[must_use]
pub fn transition_state(code: &str) -> String {
    if code == crate::services::analytics::INACTIVE {
        i18n::t("group-inactive")
    } else {
        group_label(code)
    }
}

/// A group's code as the pages and exports name it.
#[must_use]
pub fn group_label(code: &str) -> String {
    match code {
        "female" | "male" | "unspecified" => format::gender(code),
        "new" => i18n::t("group-new"),
        "returning" => i18n::t("group-returning"),
        "champions" => i18n::t("group-champions"),
        "loyal" => i18n::t("group-loyal"),
        "lapsed_high_spenders" => i18n::t("group-lapsed-high-spenders"),
        "lapsing" => i18n::t("group-lapsing"),
        "other" => i18n::t("group-other"),
        code if code.contains('-') || code == "under 25" || code == "unknown" => {
            format::age_band(code)
        }
        code if code.ends_with('+') => format::age_band(code),
        code => code.to_owned(),
    }
}

/// A frequency band (`1`, `3-4`, `10+`) as the pages and exports name it.
#[must_use]
pub fn frequency_label(code: &str) -> String {
    i18n::t1("group-visits", "visits", code.replace('-', "–"))
}
