//! `GET /hq/merchants/{id}?from=YYYY-MM-DD&to=YYYY-MM-DD`: the merchant's
//! dashboard. The figures come from the same [`crate::services::stats::compute`] over the
//! same stored facts as `GET /api/v1/admin/merchants/{id}/stats`, so each
//! equals the JSON to the kopeck; money is written from integer kopecks.
//! Charts (sales by day and store, customers by gender and age band) are
//! drawn from the same figures. The overdraft table is the same report as
//! `GET /api/v1/admin/merchants/{id}/overdrafts`, the quota leases table
//! the same as `GET /api/v1/admin/merchants/{id}/leases`, the fleet's
//! versions (the minimum agent version, set here by the owner, and the
//! registers below it) the same as `GET /api/v1/admin/merchants/{id}/fleet`.

use std::collections::BTreeMap;
use std::collections::HashMap;

use crate::wire::admin::{
    LeaseReport, OverdraftReport, SalesFigures, SegmentSales, Stats, UsesAndMoney,
};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::Deserialize;
use shared::ids::{MerchantId, PromotionId, StoreId};
use shared::money::{Currency, Money, round_half_up};
use shared::points::OverdraftCause;

use crate::alerts::AlertKind;
use crate::db::{AlertPage, OfferRating, RegisterStatus};
use crate::services::stats::{DayRange, StatsError};
use crate::state::AppState;
use crate::web::charts::{Bar, BarChart, Measure, Width};
use crate::web::error::PageError;
use crate::web::extract::{Path, Query};
use crate::web::format;
use crate::web::i18n;
use crate::web::layout::HqHeader;
use crate::web::login::see_other;
use crate::web::session::{CsrfProtected, HqSession, ProtectedForm};
use crate::wire::{RepriceCounts, SkipCount};

/// Alerts shown on the dashboard, newest first.
const ALERTS_SHOWN: usize = 20;
/// Mismatched records shown on the dashboard, newest first.
const MISMATCHES_SHOWN: usize = 20;

/// The filter form: both days optional, as the browser sends them (an
/// empty field is an empty string).
#[derive(Debug, Default, Deserialize)]
pub struct DashboardQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    /// A minimum agent version the form refused, typed again into the
    /// field with the reason beside it (never from the address).
    #[serde(skip)]
    minimum_refused: Option<String>,
}

/// An amount with its exact kopecks, which the page also carries in a
/// `data-kopecks` attribute.
#[derive(Debug, Clone)]
struct Amount {
    kopecks: i64,
    text: String,
}

/// One row of sales figures.
#[derive(Debug, Clone)]
struct FiguresRow {
    label: String,
    /// The store's id on per-store rows.
    store_id: Option<StoreId>,
    /// The local day on per-day rows, `YYYY-MM-DD`.
    day: Option<String>,
    checks: String,
    returns: String,
    revenue: Amount,
    average_check: Amount,
    discount: Amount,
    points_earned: String,
}

/// A customer segment's row.
#[derive(Debug, Clone)]
struct SegmentRow {
    /// The statistics' segment code (`female`, `25-34`).
    code: String,
    label: String,
    customers: String,
    checks: String,
    revenue: Amount,
    average_check: Amount,
}

#[derive(Debug, Clone)]
struct PromotionRow {
    id: String,
    name: String,
    checks: String,
    customers: String,
    discount: Amount,
    funded_by: String,
    rating: String,
}

#[derive(Debug, Clone)]
struct RegisterRow {
    id: String,
    store: String,
    hostname: String,
    agent_version: String,
    last_seen: String,
    records: String,
    head_seq: String,
    drift: String,
    drift_exceeds: bool,
    revoked: Option<String>,
    /// Its last heartbeat, or that it sent none.
    contact: String,
    /// Records waiting to upload there, by its last heartbeat.
    backlog: String,
    /// Its alarms, with dead letters first.
    alarms: Vec<String>,
}

/// A register in service below the minimum agent version.
#[derive(Debug, Clone)]
struct LaggingRow {
    id: String,
    store: String,
    hostname: String,
    agent_version: String,
    contact: String,
}

/// The fleet section: the minimum, its form, and who lags.
#[derive(Debug, Clone)]
struct FleetSection {
    /// The minimum as set, or empty.
    minimum: String,
    /// What the field holds: the minimum, or the refused text.
    field: String,
    /// Why the typed text was refused.
    error: Option<String>,
    /// "N of M registers below the minimum".
    summary: String,
    lagging_count: usize,
    lagging: Vec<LaggingRow>,
}

/// The minimum agent version form on the dashboard.
#[derive(Debug, Deserialize)]
pub struct MinimumVersionForm {
    #[serde(default)]
    csrf: String,
    /// The version as typed; blank clears the minimum.
    #[serde(default)]
    minimum: String,
}

impl CsrfProtected for MinimumVersionForm {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

/// `POST /hq/merchants/{id}/fleet/minimum-version`: the owner sets (or,
/// blank, clears) the lowest agent version the merchant's registers must
/// run. Text that is not a semantic version goes back to the form with the
/// reason; nothing changes then.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn set_minimum_version(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    ProtectedForm { session, form }: ProtectedForm<MinimumVersionForm>,
) -> Result<Response, PageError> {
    let Ok(minimum) = crate::api::parse_minimum_version(Some(&form.minimum)) else {
        let query = DashboardQuery {
            minimum_refused: Some(form.minimum.trim().to_owned()),
            ..DashboardQuery::default()
        };
        let page = render(&state, &session, merchant, &query).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page)).into_response());
    };
    let before = state
        .services
        .catalog
        .set_minimum_agent_version(merchant, minimum.clone())
        .await?;
    let note =
        crate::api::audit_note_of_minimum_version(merchant, before.as_ref(), minimum.as_ref());
    Ok(note.attach(see_other(&format!("/hq/merchants/{merchant}#fleet-title"))))
}

fn fleet_section(
    report: crate::services::catalog::FleetReport,
    refused: Option<String>,
    store_names: &HashMap<StoreId, String>,
    zone: Tz,
) -> FleetSection {
    let minimum = report
        .minimum
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let error =
        refused
            .as_deref()
            .map(|text| match crate::api::parse_minimum_version(Some(text)) {
                Err(_) => i18n::t1("fleet-minimum-invalid", "text", text.to_owned()),
                Ok(_) => String::new(),
            });
    let error = error.filter(|e| !e.is_empty());
    let summary = if report.minimum.is_some() {
        i18n::t2(
            "fleet-lagging-summary",
            "lagging",
            report.lagging.len(),
            "registers",
            report.in_service,
        )
    } else {
        i18n::t("fleet-no-minimum")
    };
    FleetSection {
        field: if error.is_some() {
            refused.unwrap_or_default()
        } else {
            minimum.clone()
        },
        minimum,
        error,
        summary,
        lagging_count: report.lagging.len(),
        lagging: report
            .lagging
            .into_iter()
            .map(|r| LaggingRow {
                id: r.register.id.to_string(),
                store: store_names
                    .get(&r.register.store_id)
                    .cloned()
                    .unwrap_or_default(),
                hostname: r.register.hostname,
                agent_version: r.register.agent_version,
                contact: r
                    .heartbeat
                    .map_or_else(|| i18n::t("dash-no-data"), |h| format::instant(h.at, zone)),
            })
            .collect(),
    }
}

/// The revoke form of a register on the dashboard.
#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf: String,
    /// The box "revoke register №N", which must be ticked.
    #[serde(default)]
    confirm: String,
}

impl CsrfProtected for RevokeForm {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

/// `POST /hq/merchants/{id}/registers/{register}/revoke`: revokes a
/// register of the merchant once HQ ticked the confirmation; its stored
/// records stay and count, its uploads are refused from now on.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant, register_id = %register))]
pub async fn revoke_register(
    State(state): State<AppState>,
    Path((merchant, register)): Path<(MerchantId, shared::ids::RegisterId)>,
    ProtectedForm { session, form }: ProtectedForm<RevokeForm>,
) -> Result<Response, PageError> {
    if form.confirm != "yes" {
        return Err(PageError::BadRequest("the revocation was not confirmed"));
    }
    let owner = state
        .services
        .catalog
        .register_credentials(register)
        .await?;
    if owner.merchant_id != merchant {
        return Err(PageError::NotFound);
    }
    state.services.catalog.revoke_register(register).await?;
    let back = if session.may_in(crate::access::Permission::ViewStats, merchant) {
        format!("/hq/merchants/{merchant}#registers-title")
    } else {
        format!("/hq/merchants/{merchant}/stores/{}", owner.store_id)
    };
    let note = crate::guard::AuditNote {
        subject: Some(format!("register {register}")),
        before: if owner.revoked { "revoked" } else { "active" }.to_owned(),
        after: "revoked".to_owned(),
        ..crate::guard::AuditNote::default()
    };
    Ok(note.attach(see_other(&back)))
}

/// A record that left a customer's points balance negative.
#[derive(Debug, Clone)]
struct OverdraftRow {
    customer_id: String,
    customer: String,
    balance: String,
    at: String,
    register: String,
    seq: String,
    cause: &'static str,
    redeemed: String,
    overdrawn: String,
    balance_after: String,
}

/// A promotion with a global limit: its limits, spend and leases
/// outstanding, with a row per register below it.
#[derive(Debug, Clone)]
struct LeasedPromotionRow {
    id: String,
    name: String,
    limit: String,
    counted: String,
    outstanding: String,
    registers: Vec<RegisterLeaseRow>,
}

/// A register's spend on a promotion and its lease.
#[derive(Debug, Clone)]
struct RegisterLeaseRow {
    register: String,
    spent: String,
    granted: String,
    used: String,
    outstanding: String,
    expires: String,
    state: &'static str,
}

#[derive(Debug, Clone)]
struct AlertRow {
    at: String,
    kind: &'static str,
    register: String,
    seq: String,
    detail: String,
}

/// One differing field of a record the server priced differently.
#[derive(Debug, Clone)]
struct MismatchRow {
    at: String,
    register: String,
    seq: String,
    field: String,
    till: String,
    server: String,
}

/// The chart of a section, or nothing to draw.
#[derive(Debug, Clone)]
struct Chart {
    svg: Option<String>,
}

#[derive(Template)]
#[template(path = "hq/dashboard.html")]
struct DashboardPage {
    header: HqHeader,
    /// Whether the session may revoke registers (the owner).
    can_revoke: bool,
    /// Whether the session may set the minimum agent version (the owner).
    can_set_minimum: bool,
    fleet: FleetSection,
    merchant_id: MerchantId,
    merchant_name: String,
    from: String,
    to: String,
    filter_error: Option<&'static str>,
    period: String,
    totals: FiguresRow,
    identified_share: String,
    identified: FiguresRow,
    by_day: Vec<FiguresRow>,
    day_chart: Chart,
    by_store: Vec<FiguresRow>,
    store_chart: Chart,
    by_gender: Vec<SegmentRow>,
    gender_chart: Chart,
    by_age: Vec<SegmentRow>,
    age_chart: Chart,
    promotions: Vec<PromotionRow>,
    /// Every offer with approved reviews: name, id, average, reviews.
    offer_ratings: Vec<(String, String, String, String)>,
    registers: Vec<RegisterRow>,
    time_zone: String,
    alerts: Vec<AlertRow>,
    reprice: RepriceCounts,
    reprice_skipped: Vec<SkipCount>,
    mismatches: Vec<MismatchRow>,
    overdrafts: Vec<OverdraftRow>,
    leases: Vec<LeasedPromotionRow>,
}

/// `GET /hq/merchants/{id}`.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant_id))]
pub async fn dashboard(
    State(state): State<AppState>,
    session: HqSession,
    Path(merchant_id): Path<MerchantId>,
    Query(query): Query<DashboardQuery>,
) -> Result<Response, PageError> {
    Ok(Html(render(&state, &session, merchant_id, &query).await?).into_response())
}

/// The dashboard's HTML.
async fn render(
    state: &AppState,
    session: &HqSession,
    merchant_id: MerchantId,
    query: &DashboardQuery,
) -> Result<String, PageError> {
    let merchant = state.services.catalog.merchant(merchant_id).await?;
    let (range, filter_error) = parse_range(query);
    let stats = match state.services.stats.stats(merchant_id, range).await {
        Ok(stats) => stats,
        Err(StatsError::Db(e)) => return Err(e.into()),
        Err(e) => return Err(PageError::internal(&e)),
    };
    let stores = state.services.catalog.stores(merchant_id).await?;
    let zone = format::display_zone(&stores);
    let store_names: HashMap<StoreId, String> =
        stores.into_iter().map(|s| (s.id, s.name)).collect();
    let registers = state.services.catalog.registers(merchant_id).await?;
    let fleet = state.services.catalog.fleet(merchant_id).await?;
    let alerts = state
        .services
        .oversight
        .alerts(
            merchant_id,
            AlertPage {
                before: None,
                limit: ALERTS_SHOWN,
            },
        )
        .await?;
    let promotion_names: HashMap<PromotionId, String> = state
        .services
        .publisher
        .current(merchant_id)
        .await?
        .map(|current| {
            current
                .ruleset
                .promotions
                .into_iter()
                .map(|p| (p.id, p.name))
                .collect()
        })
        .unwrap_or_default();
    let ratings: HashMap<PromotionId, OfferRating> = state
        .services
        .pages
        .ratings(merchant_id)
        .await?
        .into_iter()
        .map(|r| (r.promotion_id.clone(), r))
        .collect();
    let overdrafts = state
        .services
        .customers
        .overdrafts(merchant_id, state.clock.now())
        .await?;
    let leases = state.services.leases.report(merchant_id).await?;
    let max_drift_secs = state.settings.clock.max_drift_secs;
    let currency = stats.currency;
    let reprice = state
        .services
        .oversight
        .mismatches(merchant_id, MISMATCHES_SHOWN)
        .await?;
    let mismatches = reprice
        .mismatches
        .iter()
        .flat_map(|m| {
            m.fields.iter().map(move |f| MismatchRow {
                at: format::instant(m.wall_time, zone),
                register: m.register_id.to_string(),
                seq: m.seq.to_string(),
                field: f.field.clone(),
                till: f.till.to_string(),
                server: f.server.to_string(),
            })
        })
        .collect();

    let mut offer_ratings: Vec<(String, String, String, String)> = ratings
        .values()
        .filter_map(|r| {
            let avg = format::average_rating(r.stars_total, r.reviews)?;
            let name = promotion_names
                .get(&r.promotion_id)
                .cloned()
                .unwrap_or_else(|| i18n::t("dash-ratings-withdrawn"));
            Some((
                name,
                r.promotion_id.to_string(),
                avg,
                format::count(r.reviews),
            ))
        })
        .collect();
    offer_ratings.sort_by(|a, b| a.1.cmp(&b.1));
    let page = DashboardPage {
        offer_ratings,
        header: HqHeader::for_merchant(session, &merchant),
        can_revoke: session.may_in(crate::access::Permission::ManageRegisters, merchant_id),
        can_set_minimum: session.may_in(crate::access::Permission::ManageCatalog, merchant_id),
        fleet: fleet_section(fleet, query.minimum_refused.clone(), &store_names, zone),
        merchant_id,
        merchant_name: merchant.name.clone(),
        from: range.from.map(|d| d.to_string()).unwrap_or_default(),
        to: range.to.map(|d| d.to_string()).unwrap_or_default(),
        filter_error,
        period: period_text(range),
        totals: figures_row(&i18n::t("dash-all"), None, &stats.totals, currency),
        identified_share: identified_share(&stats),
        identified: figures_row(
            &i18n::t("dash-with-card"),
            None,
            &stats.identified,
            currency,
        ),
        by_day: stats
            .by_day
            .iter()
            .map(|d| {
                let label = format!("{} · {}", format::day(d.day), d.store_name);
                FiguresRow {
                    day: Some(d.day.to_string()),
                    ..figures_row(&label, Some(d.store_id), &d.figures, currency)
                }
            })
            .collect(),
        day_chart: day_chart(&stats)?,
        by_store: stats
            .by_store
            .iter()
            .map(|s| figures_row(&s.store_name, Some(s.store_id), &s.figures, currency))
            .collect(),
        store_chart: store_chart(&stats)?,
        by_gender: stats
            .by_gender
            .iter()
            .map(|s| segment_row(format::gender(&s.segment), s, currency))
            .collect(),
        gender_chart: segment_chart("dash-customers-by-gender", &stats.by_gender, format::gender)?,
        by_age: stats
            .by_age
            .iter()
            .map(|s| segment_row(format::age_band(&s.segment), s, currency))
            .collect(),
        age_chart: segment_chart("dash-customers-by-age", &stats.by_age, format::age_band)?,
        promotions: stats
            .promotions
            .iter()
            .map(|p| PromotionRow {
                id: p.promotion_id.to_string(),
                name: promotion_names
                    .get(&p.promotion_id)
                    .cloned()
                    .unwrap_or_else(|| i18n::t("dash-promotion-withdrawn")),
                checks: format::count(p.checks),
                customers: format::count(p.customers),
                discount: amount(p.discount, currency),
                funded_by: p
                    .funded_by
                    .clone()
                    .unwrap_or_else(|| i18n::t("dash-funded-by-merchant")),
                rating: ratings
                    .get(&p.promotion_id)
                    .and_then(|r| {
                        format::average_rating(r.stars_total, r.reviews)
                            .map(|avg| format!("★ {avg} ({})", format::count(r.reviews)))
                    })
                    .unwrap_or_else(|| "—".to_owned()),
            })
            .collect(),
        registers: registers
            .into_iter()
            .map(|r| register_row(r, &store_names, zone, max_drift_secs))
            .collect(),
        time_zone: zone.name().to_owned(),
        alerts: alerts
            .into_iter()
            .map(|a| AlertRow {
                at: format::instant(a.created_at, zone),
                kind: alert_kind(a.kind),
                register: a.register_id.to_string(),
                seq: a.seq.map(|s| s.to_string()).unwrap_or_default(),
                detail: a.detail,
            })
            .collect(),
        reprice: reprice.counts,
        reprice_skipped: reprice.skipped,
        mismatches,
        overdrafts: overdraft_rows(&overdrafts, zone),
        leases: lease_rows(&leases, zone, currency),
    };
    Ok(page.render()?)
}

/// Checks and money of a promotion, as far as it has those limits.
fn uses_and_money(value: UsesAndMoney, uses: bool, money: bool, currency: Currency) -> String {
    let mut parts = Vec::new();
    if uses {
        parts.push(i18n::t1(
            "dash-n-checks",
            "checks",
            format::count(value.uses),
        ));
    }
    if money {
        parts.push(format::money(value.money, currency));
    }
    parts.join(" · ")
}

/// A section per promotion with a global limit, a row per register.
fn lease_rows(report: &LeaseReport, zone: Tz, currency: Currency) -> Vec<LeasedPromotionRow> {
    report
        .promotions
        .iter()
        .map(|p| {
            let (uses, money) = (p.total_uses.is_some(), p.budget.is_some());
            let show = |v: UsesAndMoney| uses_and_money(v, uses, money, currency);
            let mut limit = Vec::new();
            if let Some(n) = p.total_uses {
                limit.push(i18n::t1(
                    "dash-n-checks",
                    "checks",
                    format::count(i64::try_from(n).unwrap_or(i64::MAX)),
                ));
            }
            if let Some(b) = p.budget {
                limit.push(format::money(b, currency));
            }
            LeasedPromotionRow {
                id: p.promotion_id.to_string(),
                name: p.name.clone(),
                limit: limit.join(" · "),
                counted: show(p.counted),
                outstanding: show(p.outstanding),
                registers: p
                    .registers
                    .iter()
                    .map(|r| {
                        let lease = r.lease.as_ref();
                        RegisterLeaseRow {
                            register: r.register_id.to_string(),
                            spent: show(r.spent),
                            granted: lease.map_or_else(|| "—".to_owned(), |l| show(l.granted)),
                            used: lease.map_or_else(|| "—".to_owned(), |l| show(l.used)),
                            outstanding: lease
                                .map_or_else(|| "—".to_owned(), |l| show(l.outstanding)),
                            expires: lease
                                .map_or_else(String::new, |l| format::instant(l.expires_at, zone)),
                            state: match lease {
                                None => "dash-lease-none",
                                Some(l) if l.expired => "dash-lease-expired",
                                Some(_) => "dash-lease-live",
                            },
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

/// One row per record that overdrew, grouped by customer.
fn overdraft_rows(report: &OverdraftReport, zone: Tz) -> Vec<OverdraftRow> {
    report
        .customers
        .iter()
        .flat_map(|c| {
            c.records.iter().map(move |r| OverdraftRow {
                customer_id: c.customer_id.to_string(),
                customer: c.name.clone(),
                balance: format::count(c.points_balance),
                at: format::instant(r.wall_time, zone),
                register: r.register_id.to_string(),
                seq: r.seq.to_string(),
                cause: match r.cause {
                    OverdraftCause::Redemption => "dash-overdraft-redemption",
                    OverdraftCause::ClawBack => "dash-overdraft-claw-back",
                },
                redeemed: format::count(r.points_redeemed),
                overdrawn: format::count(r.overdrawn),
                balance_after: format::count(r.balance_after),
            })
        })
        .collect()
}

/// The days asked for; a field that is not a date is ignored and named.
fn parse_range(query: &DashboardQuery) -> (DayRange, Option<&'static str>) {
    let parse = |text: &str| -> Result<Option<NaiveDate>, ()> {
        let text = text.trim();
        if text.is_empty() {
            Ok(None)
        } else {
            text.parse::<NaiveDate>().map(Some).map_err(|_| ())
        }
    };
    match (parse(&query.from), parse(&query.to)) {
        (Ok(from), Ok(to)) => match (from, to) {
            (Some(f), Some(t)) if f > t => (DayRange::default(), Some("dash-error-range-reversed")),
            _ => (DayRange { from, to }, None),
        },
        _ => (DayRange::default(), Some("dash-error-range-format")),
    }
}

fn period_text(range: DayRange) -> String {
    match (range.from, range.to) {
        (None, None) => i18n::t("dash-period-all"),
        (Some(from), None) => i18n::t1("dash-period-from", "from", format::day(from)),
        (None, Some(to)) => i18n::t1("dash-period-to", "to", format::day(to)),
        (Some(from), Some(to)) => i18n::t2(
            "dash-period-between",
            "from",
            format::day(from),
            "to",
            format::day(to),
        ),
    }
}

fn amount(money: Money, currency: Currency) -> Amount {
    Amount {
        kopecks: money.minor(),
        text: format::money(money, currency),
    }
}

fn figures_row(
    label: &str,
    store_id: Option<StoreId>,
    f: &SalesFigures,
    currency: Currency,
) -> FiguresRow {
    FiguresRow {
        label: label.to_owned(),
        store_id,
        day: None,
        checks: format::count(f.checks),
        returns: format::count(f.returns),
        revenue: amount(f.revenue, currency),
        average_check: amount(f.average_check, currency),
        discount: amount(f.discount, currency),
        points_earned: format::count(f.points_earned),
    }
}

fn segment_row(label: String, s: &SegmentSales, currency: Currency) -> SegmentRow {
    SegmentRow {
        code: s.segment.clone(),
        label,
        customers: format::count(s.customers),
        checks: format::count(s.figures.checks),
        revenue: amount(s.figures.revenue, currency),
        average_check: amount(s.figures.average_check, currency),
    }
}

/// The share of sales checks with an identified customer: `42 %`.
fn identified_share(stats: &Stats) -> String {
    if stats.totals.checks == 0 {
        return "—".to_owned();
    }
    let percent = round_half_up(
        i128::from(stats.identified.checks) * 100,
        i128::from(stats.totals.checks),
    );
    format!("{percent}\u{a0}%")
}

/// Roubles for plotting only; figures are printed from kopecks.
#[allow(clippy::cast_precision_loss)]
fn plotted(kopecks: i128) -> f64 {
    kopecks as f64 / 100.0
}

/// Revenue per local day, all stores together.
fn day_chart(stats: &Stats) -> Result<Chart, PageError> {
    let mut per_day: BTreeMap<NaiveDate, i128> = BTreeMap::new();
    for d in &stats.by_day {
        *per_day.entry(d.day).or_default() += i128::from(d.figures.revenue.minor());
    }
    let title = i18n::t("dash-chart-by-day");
    let chart = BarChart {
        title: &title,
        value_axis: "₽",
        measure: Measure::Amount,
        width: Width::Full,
        bars: per_day
            .into_iter()
            .map(|(day, kopecks)| Bar {
                label: format::short_day(day),
                value: plotted(kopecks),
            })
            .collect(),
        previous: None,
    };
    draw(&chart)
}

fn store_chart(stats: &Stats) -> Result<Chart, PageError> {
    let title = i18n::t("dash-chart-by-store");
    let chart = BarChart {
        title: &title,
        value_axis: "₽",
        measure: Measure::Amount,
        width: Width::Full,
        bars: stats
            .by_store
            .iter()
            .map(|s| Bar {
                label: s.store_name.clone(),
                value: plotted(i128::from(s.figures.revenue.minor())),
            })
            .collect(),
        previous: None,
    };
    draw(&chart)
}

fn segment_chart(
    title: &'static str,
    segments: &[SegmentSales],
    label: impl Fn(&str) -> String,
) -> Result<Chart, PageError> {
    let title = i18n::t(title);
    let axis = i18n::t("dash-chart-customers-axis");
    let chart = BarChart {
        title: &title,
        value_axis: &axis,
        measure: Measure::Count,
        width: Width::Half,
        bars: segments
            .iter()
            .map(|s| Bar {
                label: label(&s.segment),
                #[allow(clippy::cast_precision_loss)]
                value: s.customers as f64,
            })
            .collect(),
        previous: None,
    };
    draw(&chart)
}

fn draw(chart: &BarChart<'_>) -> Result<Chart, PageError> {
    let svg = chart.to_svg().map_err(|e| PageError::internal(&e))?;
    Ok(Chart { svg })
}

fn register_row(
    status: RegisterStatus,
    store_names: &HashMap<StoreId, String>,
    zone: Tz,
    max_drift_secs: u64,
) -> RegisterRow {
    let r = status.register;
    RegisterRow {
        id: r.id.to_string(),
        store: store_names.get(&r.store_id).cloned().unwrap_or_default(),
        hostname: r.hostname,
        agent_version: r.agent_version,
        last_seen: r.last_seen_at.map_or_else(
            || i18n::t("dash-never-uploaded"),
            |t| format::instant(t, zone),
        ),
        records: format::count(r.records),
        head_seq: r.head_seq.map(|s| s.to_string()).unwrap_or_default(),
        drift: status
            .clock
            .map(|reading| format::drift(reading.drift.secs()))
            .unwrap_or_else(|| "—".to_owned()),
        drift_exceeds: status
            .clock
            .is_some_and(|reading| reading.drift.exceeds(max_drift_secs)),
        revoked: status.revoked_at.map(|t| format::instant(t, zone)),
        contact: status
            .heartbeat
            .as_ref()
            .map_or_else(|| i18n::t("dash-no-data"), |h| format::instant(h.at, zone)),
        backlog: status
            .heartbeat
            .as_ref()
            .map_or_else(|| "—".to_owned(), |h| format::count(h.backlog)),
        alarms: status
            .heartbeat
            .map(|h| {
                let dead = (h.dead_letters > 0)
                    .then(|| i18n::t1("dash-dead-letters", "records", h.dead_letters));
                dead.into_iter().chain(h.alarms).collect()
            })
            .unwrap_or_default(),
    }
}

fn alert_kind(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::Fork => "alert-fork",
        AlertKind::ChainBroken => "alert-chain-broken",
        AlertKind::BadSignature => "alert-bad-signature",
        AlertKind::RevokedRegisterUpload => "alert-revoked-upload",
        AlertKind::ClockDrift => "alert-clock-drift",
        AlertKind::PriceMismatch => "alert-price-mismatch",
        AlertKind::UnknownCustomer => "alert-unknown-customer",
        AlertKind::BadRecord => "alert-bad-record",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(from: &str, to: &str) -> DashboardQuery {
        DashboardQuery {
            from: from.into(),
            to: to.into(),
            minimum_refused: None,
        }
    }

    #[test]
    fn empty_fields_mean_no_limit_and_bad_ones_are_named() {
        let (range, error) = parse_range(&query("", ""));
        assert!(range.from.is_none() && range.to.is_none() && error.is_none());
        let (range, error) = parse_range(&query("2026-03-01", " "));
        assert_eq!(range.from, Some("2026-03-01".parse().unwrap()));
        assert!(error.is_none());
        assert!(parse_range(&query("01.03.2026", "")).1.is_some());
        assert!(parse_range(&query("2026-03-02", "2026-03-01")).1.is_some());
    }
}
