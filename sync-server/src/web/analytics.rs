//! `GET /hq/merchants/{id}/analytics/{view}`: the analytics pages (sales
//! over time, stores and brands, products and categories, customers,
//! promotions), each with its filter (period, store, brand, and the
//! grain or promotion where they apply), the previous period beside it,
//! charts drawn by plotters and a table under each chart with its CSV
//! export (`GET /hq/merchants/{id}/analytics/export/{table}`, see
//! [`crate::web::export`]). Every figure comes from
//! [`crate::services::analytics`], the same as the admin API's.

use askama::Template;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use chrono::NaiveDate;
use shared::ids::MerchantId;

use crate::services::analytics::{AnalyticsError, AnalyticsParams, AnalyticsQuery, Grain};
use crate::state::AppState;
use crate::web::charts::{Bar, BarChart, HeatMap, Measure, Width};
use crate::web::error::PageError;
use crate::web::export::{self, Table, View, ViewData, frequency_label, group_label};
use crate::web::extract::{Path, Query};
use crate::web::format;
use crate::web::i18n;
use crate::web::layout::HqHeader;
use crate::web::session::HqSession;
use crate::wire::analytics::{CustomerGroup, Figures, ItemRow, Overview, PlaceRow, PromotionSlice};

/// The most bars a breakdown chart shows (the table has every row).
const TOP_BARS: usize = 20;

/// The merchant's "today": the local day of its first store's zone.
pub fn today(state: &AppState, stores: &[crate::wire::admin::Store]) -> NaiveDate {
    state
        .clock
        .now()
        .with_timezone(&format::display_zone(stores))
        .date_naive()
}

/// Loads a view's data.
pub async fn load_view(
    state: &AppState,
    merchant: MerchantId,
    view: View,
    query: AnalyticsQuery,
) -> Result<ViewData, AnalyticsError> {
    let stores = state.services.catalog.stores(merchant).await?;
    let today = today(state, &stores);
    let a = &state.services.analytics;
    Ok(match view {
        View::Sales => ViewData::Sales(a.sales(merchant, query, today).await?),
        View::Stores => ViewData::Stores(a.stores(merchant, query, today).await?),
        View::Products => ViewData::Products(a.products(merchant, query, today).await?),
        View::Customers => ViewData::Customers(a.customers(merchant, query, today).await?),
        View::Promotions => ViewData::Promotions(a.promotions(merchant, query, today).await?),
        View::Baskets => ViewData::Baskets(a.baskets(merchant, query, today).await?),
    })
}

#[derive(Debug, Clone)]
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Debug, Clone)]
struct Kpi {
    code: &'static str,
    label: &'static str,
    value: String,
    previous: String,
    /// Change against the previous period: `+12 %`, or empty.
    change: String,
}

/// A table's cell, with a link when it leads somewhere.
#[derive(Debug, Clone)]
struct Cell {
    text: String,
    href: Option<String>,
}

#[derive(Debug, Clone)]
struct Section {
    table: &'static str,
    title: String,
    chart: Option<String>,
    headers: Vec<&'static str>,
    rows: Vec<Vec<Cell>>,
    csv: String,
    /// What the table means, under its title.
    note: Option<String>,
}

#[derive(Debug, Clone)]
struct Tab {
    href: String,
    label: &'static str,
    current: bool,
}

#[derive(Template)]
#[template(path = "hq/analytics.html")]
struct AnalyticsPage {
    header: HqHeader,
    merchant_name: String,
    view: &'static str,
    view_title: &'static str,
    tabs: Vec<Tab>,
    from: String,
    to: String,
    stores: Vec<Choice>,
    brands: Vec<Choice>,
    grains: Vec<Choice>,
    promotions: Vec<Choice>,
    segments: Vec<Choice>,
    show_grain: bool,
    show_promotion: bool,
    show_segment: bool,
    show_baskets: bool,
    product: String,
    min_checks: String,
    /// What the baskets view says about its figures.
    basket_note: Option<String>,
    error: Option<&'static str>,
    period: String,
    previous: String,
    kpis: Vec<Kpi>,
    sections: Vec<Section>,
}

const VIEWS: [(View, &str); 6] = [
    (View::Sales, "an-tab-sales"),
    (View::Stores, "an-tab-stores"),
    (View::Products, "an-tab-products"),
    (View::Customers, "an-tab-customers"),
    (View::Promotions, "an-tab-promotions"),
    (View::Baskets, "an-tab-baskets"),
];

fn rub(kopecks: i64) -> String {
    format::money(
        shared::money::Money::from_minor(kopecks).unwrap_or(shared::money::Money::ZERO),
        shared::money::Currency::RUB,
    )
}

fn change(now: i64, before: i64) -> String {
    if before == 0 {
        return String::new();
    }
    let percent = shared::money::round_half_up(
        (i128::from(now) - i128::from(before)) * 100,
        i128::from(before.abs()),
    );
    format!("{percent:+}\u{a0}%")
}

fn kpis(o: &Overview) -> Vec<Kpi> {
    let (t, p) = (&o.totals, &o.previous);
    let money = |code, label, f: fn(&Figures) -> i64| Kpi {
        code,
        label,
        value: rub(f(t)),
        previous: rub(f(p)),
        change: change(f(t), f(p)),
    };
    vec![
        money("revenue", "an-kpi-revenue", |f| f.revenue),
        Kpi {
            code: "checks",
            label: "an-kpi-checks",
            value: format::count(t.checks),
            previous: format::count(p.checks),
            change: change(t.checks, p.checks),
        },
        money("average_check", "an-kpi-average-check", |f| f.average_check),
        Kpi {
            code: "items_per_check",
            label: "an-kpi-items-per-check",
            value: export::milli(t.items_per_check_milli),
            previous: export::milli(p.items_per_check_milli),
            change: change(t.items_per_check_milli, p.items_per_check_milli),
        },
        money("discount", "an-kpi-discount", |f| f.discount),
        Kpi {
            code: "points_earned",
            label: "an-kpi-points-earned",
            value: format::count(t.points_earned),
            previous: format::count(p.points_earned),
            change: change(t.points_earned, p.points_earned),
        },
        Kpi {
            code: "points_spent",
            label: "an-kpi-points-spent",
            value: format::count(t.points_spent),
            previous: format::count(p.points_spent),
            change: change(t.points_spent, p.points_spent),
        },
    ]
}

#[allow(clippy::cast_precision_loss)]
fn plotted(kopecks: i64) -> f64 {
    kopecks as f64 / 100.0
}

fn bars(
    title: &'static str,
    measure: Measure,
    bars: Vec<Bar>,
    previous: Option<Vec<f64>>,
) -> Result<Option<String>, PageError> {
    let title = i18n::t(title);
    BarChart {
        title: &title,
        value_axis: if measure == Measure::Amount {
            "₽"
        } else {
            ""
        },
        measure,
        width: Width::Full,
        bars,
        previous,
    }
    .to_svg()
    .map_err(|e| PageError::internal(&e))
}

fn revenue_bars<T>(
    rows: &[T],
    label: impl Fn(&T) -> String,
    revenue: impl Fn(&T) -> i64,
) -> Vec<Bar> {
    rows.iter()
        .take(TOP_BARS)
        .map(|r| Bar {
            label: label(r),
            value: plotted(revenue(r)),
        })
        .collect()
}

/// A table's cells as the page shows them: the CSV's decimal commas
/// become points on an English page.
fn page_cells(cells: Vec<String>) -> Vec<String> {
    if i18n::current() == i18n::Lang::Ru {
        return cells;
    }
    cells
        .into_iter()
        .map(|cell| {
            let digits = cell.trim_start_matches('-');
            let decimal = digits.split_once(',').is_some_and(|(whole, part)| {
                !whole.is_empty()
                    && !part.is_empty()
                    && whole.bytes().all(|b| b.is_ascii_digit())
                    && part.bytes().all(|b| b.is_ascii_digit())
            });
            if decimal {
                cell.replace(',', ".")
            } else {
                cell
            }
        })
        .collect()
}

/// The CSV link of `table` with the page's filter.
fn csv_href(merchant: MerchantId, table: Table, query: &str) -> String {
    format!(
        "/hq/merchants/{merchant}/analytics/export/{}?{query}",
        table.code()
    )
}

fn section(
    table: Table,
    title: impl Into<String>,
    chart: Option<String>,
    csv: String,
    data: ViewData,
) -> Section {
    let (headers, rows) = export::table(table, data).unwrap_or_default();
    Section {
        table: table.code(),
        title: title.into(),
        chart,
        headers,
        rows: rows
            .into_iter()
            .map(|row| {
                page_cells(row())
                    .into_iter()
                    .map(|text| Cell { text, href: None })
                    .collect()
            })
            .collect(),
        csv,
        note: None,
    }
}

/// A pairs section whose item cells (columns 0 and 2) link to that
/// product's pairs with the page's filter.
fn pairs_section(section: Section, product_href: Option<&dyn Fn(&str) -> String>) -> Section {
    let Some(href) = product_href else {
        return section;
    };
    Section {
        rows: section
            .rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .enumerate()
                    .map(|(i, cell)| Cell {
                        href: (i == 0 || i == 2).then(|| href(&cell.text)),
                        ..cell
                    })
                    .collect()
            })
            .collect(),
        ..section
    }
}

/// Lift of the first pairs as bars, as multiples.
#[allow(clippy::cast_precision_loss)]
fn lift_chart(
    title: &'static str,
    pairs: &[crate::wire::analytics::PairRow],
    named: bool,
) -> Result<Option<String>, PageError> {
    let label = |code: &str, name: &str| {
        if named && !name.is_empty() {
            name.to_owned()
        } else {
            code.to_owned()
        }
    };
    bars(
        title,
        Measure::Count,
        pairs
            .iter()
            .take(TOP_BARS)
            .map(|p| Bar {
                label: format!("{} + {}", label(&p.a, &p.a_name), label(&p.b, &p.b_name)),
                value: p.lift_milli as f64 / 1000.0,
            })
            .collect(),
        None,
    )
}

/// The RFM transitions as a heat map: the previous period's segment down,
/// this one's across, each cell shaded by its share of its row.
fn transitions_map(
    transitions: &[crate::wire::analytics::RfmTransition],
) -> Result<Option<String>, PageError> {
    let title = i18n::t("an-chart-rfm-transitions");
    let mut states: Vec<String> = Vec::new();
    for t in transitions {
        for s in [&t.from, &t.to] {
            let label = export::transition_state(s);
            if !states.contains(&label) {
                states.push(label);
            }
        }
    }
    let row_size = |from: &str| -> i64 {
        transitions
            .iter()
            .filter(|t| t.from == from)
            .map(|t| t.customers)
            .sum()
    };
    HeatMap {
        title: &title,
        rows: states.clone(),
        columns: states,
        cells: transitions
            .iter()
            .map(|t| {
                (
                    export::transition_state(&t.from),
                    export::transition_state(&t.to),
                    t.customers,
                    row_size(&t.from),
                )
            })
            .collect(),
    }
    .to_svg()
    .map_err(|e| PageError::internal(&e))
}

fn place_chart(title: &'static str, rows: &[PlaceRow]) -> Result<Option<String>, PageError> {
    bars(
        title,
        Measure::Amount,
        revenue_bars(rows, |r| r.name.clone(), |r| r.figures.revenue),
        None,
    )
}

fn item_chart(
    title: &'static str,
    rows: &[ItemRow],
    named: bool,
) -> Result<Option<String>, PageError> {
    bars(
        title,
        Measure::Amount,
        revenue_bars(
            rows,
            |r| {
                if named && !r.name.is_empty() {
                    r.name.clone()
                } else {
                    r.key.clone()
                }
            },
            |r| r.revenue,
        ),
        None,
    )
}

#[allow(clippy::cast_precision_loss)]
fn group_chart(
    title: &'static str,
    groups: &[CustomerGroup],
    label: fn(&str) -> String,
) -> Result<Option<String>, PageError> {
    bars(
        title,
        Measure::Amount,
        groups
            .iter()
            .map(|g| Bar {
                label: label(&g.code),
                value: plotted(g.revenue),
            })
            .collect(),
        None,
    )
}

#[allow(clippy::cast_precision_loss)]
fn slice_chart(
    title: &'static str,
    slices: &[PromotionSlice],
) -> Result<Option<String>, PageError> {
    bars(
        title,
        Measure::Count,
        slices
            .iter()
            .map(|s| Bar {
                label: s.label.clone(),
                value: s.uses as f64,
            })
            .collect(),
        None,
    )
}

fn weekday(label: &str) -> String {
    match label {
        "1" => i18n::t("weekday-mon"),
        "2" => i18n::t("weekday-tue"),
        "3" => i18n::t("weekday-wed"),
        "4" => i18n::t("weekday-thu"),
        "5" => i18n::t("weekday-fri"),
        "6" => i18n::t("weekday-sat"),
        "7" => i18n::t("weekday-sun"),
        other => other.to_owned(),
    }
}

/// `GET /hq/merchants/{id}/analytics` and `.../analytics/{view}`.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant_id))]
pub async fn page(
    State(state): State<AppState>,
    session: HqSession,
    Path((merchant_id, view)): Path<(MerchantId, String)>,
    Query(params): Query<AnalyticsParams>,
) -> Result<Response, PageError> {
    let view = View::parse(&view).ok_or(PageError::NotFound)?;
    render(state, session, merchant_id, view, params).await
}

/// `GET /hq/merchants/{id}/analytics`: the sales view.
pub async fn sales_page(
    State(state): State<AppState>,
    session: HqSession,
    Path(merchant_id): Path<MerchantId>,
    Query(params): Query<AnalyticsParams>,
) -> Result<Response, PageError> {
    render(state, session, merchant_id, View::Sales, params).await
}

#[allow(clippy::too_many_lines)]
async fn render(
    state: AppState,
    session: HqSession,
    merchant_id: MerchantId,
    view: View,
    params: AnalyticsParams,
) -> Result<Response, PageError> {
    let merchant = state.services.catalog.merchant(merchant_id).await?;
    let (query, mut error) = match params.parse() {
        Ok(query) => (query, None),
        Err(why) => (AnalyticsQuery::default(), Some(why)),
    };
    let data = match load_view(&state, merchant_id, view, query.clone()).await {
        Ok(data) => data,
        Err(AnalyticsError::Invalid(why)) => {
            error = Some(why);
            load_view(&state, merchant_id, view, AnalyticsQuery::default())
                .await
                .map_err(|e| match e {
                    AnalyticsError::Db(e) => PageError::from(e),
                    AnalyticsError::Invalid(why) => PageError::BadRequest(why),
                })?
        }
        Err(AnalyticsError::Db(e)) => return Err(e.into()),
    };
    let query = if error.is_some() {
        AnalyticsQuery::default()
    } else {
        query
    };
    let stores = state.services.catalog.stores(merchant_id).await?;
    let brands = state.services.catalog.brands(merchant_id).await?;

    let overview = match &data {
        ViewData::Sales(v) => v.overview.clone(),
        ViewData::Stores(v) => v.overview.clone(),
        ViewData::Products(v) => v.overview.clone(),
        ViewData::Customers(v) => v.overview.clone(),
        ViewData::Promotions(v) => v.overview.clone(),
        ViewData::Baskets(v) => v.overview.clone(),
    };
    let scope = &overview.scope;
    let mut filter = vec![
        ("from", scope.period.from.to_string()),
        ("to", scope.period.to.to_string()),
    ];
    if let Some(s) = scope.store_id {
        filter.push(("store", s.to_string()));
    }
    if let Some(b) = scope.brand_id {
        filter.push(("brand", b.to_string()));
    }
    if view == View::Sales {
        filter.push(("grain", query.grain.code().to_owned()));
    }
    if view == View::Customers
        && let Some(tag) = &query.segment
    {
        filter.push(("segment", tag.clone()));
    }
    let segment_choices: Vec<Choice> = if view == View::Customers {
        let listed = state.services.segments.list(merchant_id).await?;
        listed
            .rfm
            .iter()
            .map(|r| (r.tag.clone(), group_label(&r.segment)))
            .chain(listed.saved.iter().map(|s| (s.tag.clone(), s.name.clone())))
            .map(|(tag, label)| Choice {
                selected: query.segment.as_deref() == Some(tag.as_str()),
                label,
                value: tag,
            })
            .collect()
    } else {
        Vec::new()
    };
    if view == View::Baskets {
        if let Some(n) = query.min_checks {
            filter.push(("min_checks", n.to_string()));
        }
        if let ViewData::Baskets(v) = &data
            && let Some(p) = &v.promotion
        {
            filter.push(("promotion", p.promotion_id.clone()));
        }
    }
    let promotion_choices: Vec<Choice> = match &data {
        ViewData::Baskets(v) => v
            .promotions
            .iter()
            .map(|(id, name)| Choice {
                value: id.clone(),
                label: if name.is_empty() {
                    id.clone()
                } else {
                    name.clone()
                },
                selected: v.promotion.as_ref().is_some_and(|p| p.promotion_id == *id),
            })
            .collect(),
        ViewData::Promotions(v) => {
            if let Some(p) = &v.selected {
                filter.push(("promotion", p.clone()));
            }
            v.promotions
                .iter()
                .map(|p| Choice {
                    value: p.promotion_id.clone(),
                    label: if p.name.is_empty() {
                        p.promotion_id.clone()
                    } else {
                        p.name.clone()
                    },
                    selected: v.selected.as_deref() == Some(p.promotion_id.as_str()),
                })
                .collect()
        }
        _ => Vec::new(),
    };
    // A product's pairs link keeps the filter but its own product.
    let without_product = serde_urlencoded::to_string(&filter).unwrap_or_default();
    if view == View::Baskets
        && let ViewData::Baskets(v) = &data
        && let Some(p) = &v.product
    {
        filter.push(("product", p.sku.clone()));
    }
    let query_string = serde_urlencoded::to_string(&filter).unwrap_or_default();
    let csv = |table: Table| csv_href(merchant_id, table, &query_string);

    let sections = match data.clone() {
        ViewData::Sales(v) => {
            let chart = bars(
                "an-chart-revenue-previous",
                Measure::Amount,
                v.rows
                    .iter()
                    .map(|r| Bar {
                        label: r.label.clone(),
                        value: plotted(r.figures.revenue),
                    })
                    .collect(),
                Some(v.rows.iter().map(|r| plotted(r.previous_revenue)).collect()),
            )?;
            vec![section(
                Table::Revenue,
                i18n::t("an-section-revenue"),
                chart,
                csv(Table::Revenue),
                data.clone(),
            )]
        }
        ViewData::Stores(v) => vec![
            section(
                Table::Stores,
                i18n::t("an-section-stores"),
                place_chart("an-chart-stores", &v.stores)?,
                csv(Table::Stores),
                data.clone(),
            ),
            section(
                Table::Brands,
                i18n::t("an-section-brands"),
                place_chart("an-chart-brands", &v.brands)?,
                csv(Table::Brands),
                data.clone(),
            ),
        ],
        ViewData::Products(v) => vec![
            section(
                Table::Products,
                i18n::t("an-section-products"),
                item_chart("an-chart-products", &v.products, true)?,
                csv(Table::Products),
                data.clone(),
            ),
            section(
                Table::Categories,
                i18n::t("an-section-categories"),
                item_chart("an-chart-categories", &v.categories, false)?,
                csv(Table::Categories),
                data.clone(),
            ),
        ],
        ViewData::Customers(v) => {
            let heat_title = i18n::t("an-chart-cohorts");
            let heat = HeatMap {
                title: &heat_title,
                rows: v.cohorts.iter().map(|c| c.cohort.clone()).collect(),
                columns: {
                    let mut months: Vec<String> = v
                        .cohorts
                        .iter()
                        .flat_map(|c| c.months.iter().map(|(m, _)| m.clone()))
                        .collect();
                    months.sort();
                    months.dedup();
                    months
                },
                cells: v
                    .cohorts
                    .iter()
                    .flat_map(|c| {
                        c.months
                            .iter()
                            .map(|(m, n)| (c.cohort.clone(), m.clone(), *n, c.size))
                    })
                    .collect(),
            }
            .to_svg()
            .map_err(|e| PageError::internal(&e))?;
            vec![
                section(
                    Table::Genders,
                    i18n::t("an-section-genders"),
                    group_chart("an-chart-genders", &v.genders, group_label)?,
                    csv(Table::Genders),
                    data.clone(),
                ),
                section(
                    Table::Ages,
                    i18n::t("an-section-ages"),
                    group_chart("an-chart-ages", &v.ages, group_label)?,
                    csv(Table::Ages),
                    data.clone(),
                ),
                section(
                    Table::NewReturning,
                    i18n::t("an-section-new-returning"),
                    group_chart("an-chart-new-returning", &v.new_returning, group_label)?,
                    csv(Table::NewReturning),
                    data.clone(),
                ),
                section(
                    Table::Frequency,
                    i18n::t("an-section-frequency"),
                    group_chart("an-chart-frequency", &v.frequency, frequency_label)?,
                    csv(Table::Frequency),
                    data.clone(),
                ),
                section(
                    Table::Cohorts,
                    i18n::t("an-section-cohorts"),
                    heat,
                    csv(Table::Cohorts),
                    data.clone(),
                ),
                section(
                    Table::Rfm,
                    i18n::t("an-section-rfm"),
                    group_chart("an-chart-rfm", &v.rfm, group_label)?,
                    csv(Table::Rfm),
                    data.clone(),
                ),
                section(
                    Table::RfmTransitions,
                    i18n::t("an-section-rfm-transitions"),
                    transitions_map(&v.rfm_transitions)?,
                    csv(Table::RfmTransitions),
                    data.clone(),
                ),
            ]
        }
        ViewData::Promotions(v) => {
            let cost_chart = bars(
                "an-chart-promotion-cost",
                Measure::Amount,
                revenue_bars(&v.promotions, |p| p.promotion_id.clone(), |p| p.cost),
                None,
            )?;
            let selected = v.selected.clone().unwrap_or_default();
            let by_weekday: Vec<PromotionSlice> = v
                .by_weekday
                .iter()
                .map(|s| PromotionSlice {
                    label: weekday(&s.label),
                    ..s.clone()
                })
                .collect();
            let mut sections = vec![section(
                Table::Promotions,
                i18n::t("an-section-promotions"),
                cost_chart,
                csv(Table::Promotions),
                data.clone(),
            )];
            if !v.uplift.is_empty() {
                sections.push(Section {
                    note: Some(i18n::t("an-uplift-note")),
                    ..section(
                        Table::Uplift,
                        i18n::t("an-section-uplift"),
                        None,
                        csv(Table::Uplift),
                        data.clone(),
                    )
                });
            }
            sections.extend([
                section(
                    Table::PromotionHours,
                    i18n::t1("an-section-promotion-hours", "promotion", &selected),
                    slice_chart("an-chart-uses-hours", &v.by_hour)?,
                    csv(Table::PromotionHours),
                    data.clone(),
                ),
                section(
                    Table::PromotionWeekdays,
                    i18n::t1("an-section-promotion-weekdays", "promotion", &selected),
                    slice_chart("an-chart-uses-weekdays", &by_weekday)?,
                    csv(Table::PromotionWeekdays),
                    data.clone(),
                ),
                section(
                    Table::PromotionStores,
                    i18n::t1("an-section-promotion-stores", "promotion", &selected),
                    slice_chart("an-chart-uses-stores", &v.by_store)?,
                    csv(Table::PromotionStores),
                    data.clone(),
                ),
            ]);
            sections
        }
        ViewData::Baskets(v) => {
            let product_href = |sku: &str| {
                let product = serde_urlencoded::to_string([("product", sku)]).unwrap_or_default();
                format!("/hq/merchants/{merchant_id}/analytics/baskets?{without_product}&{product}")
            };
            let mut sections = Vec::new();
            if let Some(p) = &v.product {
                sections.push(pairs_section(
                    Section {
                        note: Some(i18n::t2(
                            "an-basket-product-note",
                            "checks",
                            format::count(p.checks),
                            "min",
                            format::count(p.min_checks),
                        )),
                        ..section(
                            Table::BasketProduct,
                            i18n::t1(
                                "an-section-basket-product",
                                "product",
                                if p.name.is_empty() {
                                    p.sku.clone()
                                } else {
                                    format!("{} ({})", p.name, p.sku)
                                },
                            ),
                            lift_chart("an-chart-lift", &p.pairs, true)?,
                            csv(Table::BasketProduct),
                            data.clone(),
                        )
                    },
                    Some(&product_href),
                ));
            }
            sections.push(pairs_section(
                section(
                    Table::Baskets,
                    i18n::t("an-section-baskets"),
                    lift_chart("an-chart-lift", &v.pairs, true)?,
                    csv(Table::Baskets),
                    data.clone(),
                ),
                Some(&product_href),
            ));
            sections.push(section(
                Table::BasketCategories,
                i18n::t("an-section-basket-categories"),
                lift_chart("an-chart-lift", &v.categories, false)?,
                csv(Table::BasketCategories),
                data.clone(),
            ));
            if let Some(p) = &v.promotion {
                sections.push(pairs_section(
                    Section {
                        note: Some(i18n::t2(
                            "an-basket-promotion-note",
                            "checks",
                            format::count(p.checks),
                            "min",
                            format::count(p.min_checks),
                        )),
                        ..section(
                            Table::BasketPromotion,
                            i18n::t1(
                                "an-section-basket-promotion",
                                "promotion",
                                if p.name.is_empty() {
                                    p.promotion_id.clone()
                                } else {
                                    p.name.clone()
                                },
                            ),
                            None,
                            csv(Table::BasketPromotion),
                            data.clone(),
                        )
                    },
                    Some(&product_href),
                ));
            }
            sections
        }
    };

    let tab_query = serde_urlencoded::to_string(
        filter
            .iter()
            .filter(|(k, _)| {
                !matches!(
                    *k,
                    "grain" | "promotion" | "segment" | "product" | "min_checks"
                )
            })
            .collect::<Vec<_>>(),
    )
    .unwrap_or_default();
    let page = AnalyticsPage {
        header: HqHeader::for_merchant(&session, &merchant),
        merchant_name: merchant.name.clone(),
        view: view.code(),
        view_title: VIEWS
            .iter()
            .find(|(v, _)| *v == view)
            .map_or("", |(_, t)| t),
        tabs: VIEWS
            .iter()
            .map(|(v, label)| Tab {
                href: format!(
                    "/hq/merchants/{merchant_id}/analytics/{}?{tab_query}",
                    v.code()
                ),
                label,
                current: *v == view,
            })
            .collect(),
        from: scope.period.from.to_string(),
        to: scope.period.to.to_string(),
        stores: stores
            .iter()
            .map(|s| Choice {
                value: s.id.to_string(),
                label: s.name.clone(),
                selected: scope.store_id == Some(s.id),
            })
            .collect(),
        brands: brands
            .iter()
            .map(|b| Choice {
                value: b.id.to_string(),
                label: b.name.clone(),
                selected: scope.brand_id == Some(b.id),
            })
            .collect(),
        grains: [
            (Grain::Hour, "an-grain-hour"),
            (Grain::Day, "an-grain-day"),
            (Grain::Week, "an-grain-week"),
            (Grain::Month, "an-grain-month"),
        ]
        .into_iter()
        .map(|(g, label)| Choice {
            value: g.code().to_owned(),
            label: i18n::t(label),
            selected: g == query.grain,
        })
        .collect(),
        promotions: promotion_choices,
        segments: segment_choices,
        show_grain: view == View::Sales,
        show_promotion: view == View::Promotions || view == View::Baskets,
        show_segment: view == View::Customers,
        show_baskets: view == View::Baskets,
        product: query.product.clone().unwrap_or_default(),
        min_checks: query.min_checks.map(|n| n.to_string()).unwrap_or_default(),
        basket_note: match &data {
            ViewData::Baskets(v) => Some(i18n::t2(
                "an-basket-note",
                "checks",
                format::count(v.checks),
                "min",
                format::count(v.min_checks),
            )),
            _ => None,
        },
        error,
        period: format!(
            "{} — {}",
            format::day(scope.period.from),
            format::day(scope.period.to)
        ),
        previous: format!(
            "{} — {}",
            format::day(scope.previous.from),
            format::day(scope.previous.to)
        ),
        kpis: kpis(&overview),
        sections,
    };
    Ok(Html(page.render()?).into_response())
}

/// `GET /hq/merchants/{id}/analytics/export/{table}`: one table as CSV.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant_id))]
pub async fn export_csv(
    State(state): State<AppState>,
    _session: HqSession,
    Path((merchant_id, table)): Path<(MerchantId, String)>,
    Query(params): Query<AnalyticsParams>,
) -> Result<Response, PageError> {
    let table = Table::parse(&table).ok_or(PageError::NotFound)?;
    let query = params.parse().map_err(PageError::BadRequest)?;
    let data = load_view(&state, merchant_id, table.view(), query)
        .await
        .map_err(|e| match e {
            AnalyticsError::Db(e) => PageError::from(e),
            AnalyticsError::Invalid(why) => PageError::BadRequest(why),
        })?;
    Ok(export::response(table, data, "analytics"))
}
