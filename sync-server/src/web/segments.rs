//! `/hq/merchants/{id}/segments`: the merchant's customer segments. The
//! RFM segments and the saved ones with how many customers each holds,
//! the tag a promotion names to target it (the promotion form offers
//! them), a form to save a segment from a filter, deleting one, and
//! computing them now rather than at the daily run
//! (`services::segments`).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use shared::identity::AGE_BANDS;
use shared::ids::MerchantId;
use shared::money::Money;

use crate::guard::AuditNote;
use crate::services::analytics::RFM_SEGMENTS;
use crate::services::segments::{NewSegment, SegmentError, SegmentFilter};
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::export::group_label;
use crate::web::extract::Path;
use crate::web::format;
use crate::web::i18n;
use crate::web::layout::HqHeader;
use crate::web::login::see_other;
use crate::web::session::{CsrfProtected, HqSession, ProtectedForm};

/// The genders a filter may name.
const GENDERS: [&str; 3] = ["female", "male", "unspecified"];

struct SegmentLine {
    tag: String,
    name: String,
    rule: String,
    customers: String,
    code: String,
}

/// A choice of the form: its value, label and whether it is ticked.
struct Choice {
    value: String,
    label: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "hq/segments.html")]
struct SegmentsPage {
    header: HqHeader,
    merchant_id: MerchantId,
    merchant_name: String,
    as_of: String,
    rfm: Vec<SegmentLine>,
    saved: Vec<SegmentLine>,
    form: SegmentForm,
    rfm_choices: Vec<Choice>,
    gender_choices: Vec<Choice>,
    age_choices: Vec<Choice>,
    error: Option<String>,
}

/// The new segment's form as the browser sends it (ticked boxes repeat
/// their name, so it is read from the pairs).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(from = "Vec<(String, String)>")]
pub struct SegmentForm {
    csrf: String,
    /// Its code.
    pub code: String,
    /// Its name.
    pub name: String,
    /// RFM segments ticked.
    pub rfm: Vec<String>,
    /// Genders ticked.
    pub genders: Vec<String>,
    /// Age bands ticked.
    pub age_bands: Vec<String>,
    /// At least this many visits.
    pub min_visits: String,
    /// At least this much spend, in roubles (`1 500,50`).
    pub min_revenue: String,
}

impl From<Vec<(String, String)>> for SegmentForm {
    fn from(pairs: Vec<(String, String)>) -> Self {
        let mut form = SegmentForm::default();
        for (key, value) in pairs {
            match key.as_str() {
                "csrf" => form.csrf = value,
                "code" => form.code = value,
                "name" => form.name = value,
                "rfm" => form.rfm.push(value),
                "genders" => form.genders.push(value),
                "age_bands" => form.age_bands.push(value),
                "min_visits" => form.min_visits = value,
                "min_revenue" => form.min_revenue = value,
                _ => {}
            }
        }
        form
    }
}

impl CsrfProtected for SegmentForm {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

/// A form without `csrf`, for the delete and refresh buttons.
#[derive(Debug, Default, Deserialize)]
pub struct ButtonForm {
    #[serde(default)]
    csrf: String,
}

impl CsrfProtected for ButtonForm {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

fn choices(values: &[&str], ticked: &[String]) -> Vec<Choice> {
    values
        .iter()
        .map(|v| Choice {
            value: (*v).to_owned(),
            label: group_label(v),
            checked: ticked.iter().any(|t| t == v),
        })
        .collect()
}

/// The filter in words, for the saved segments' table.
fn rule_text(f: &SegmentFilter) -> String {
    let list = |codes: &[String]| {
        codes
            .iter()
            .map(|c| group_label(c))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    if !f.rfm.is_empty() {
        parts.push(format!("{}: {}", i18n::t("seg-rule-rfm"), list(&f.rfm)));
    }
    if !f.genders.is_empty() {
        parts.push(format!(
            "{}: {}",
            i18n::t("seg-rule-gender"),
            list(&f.genders)
        ));
    }
    if !f.age_bands.is_empty() {
        parts.push(format!(
            "{}: {}",
            i18n::t("seg-rule-age"),
            list(&f.age_bands)
        ));
    }
    if let Some(v) = f.min_visits {
        parts.push(i18n::t1("seg-rule-visits", "visits", format::count(v)));
    }
    if let Some(m) = f.min_revenue {
        parts.push(i18n::t1(
            "seg-rule-revenue",
            "amount",
            format::money(m, shared::money::Currency::RUB),
        ));
    }
    if parts.is_empty() {
        i18n::t("seg-rule-anyone")
    } else {
        parts.join("; ")
    }
}

async fn render(
    state: &AppState,
    session: &HqSession,
    merchant: MerchantId,
    form: SegmentForm,
    error: Option<String>,
) -> Result<Response, PageError> {
    let m = state.services.catalog.merchant(merchant).await?;
    let view = state.services.segments.list(merchant).await?;
    let line = |tag: &str, name: String, rule: String, customers: i64, code: &str| SegmentLine {
        tag: tag.to_owned(),
        name,
        rule,
        customers: format::count(customers),
        code: code.to_owned(),
    };
    let page = SegmentsPage {
        header: HqHeader::for_merchant(session, &m),
        merchant_id: merchant,
        merchant_name: m.name,
        as_of: view.as_of.map_or_else(|| i18n::t("seg-never"), format::day),
        rfm: view
            .rfm
            .iter()
            .map(|r| {
                line(
                    &r.tag,
                    group_label(&r.segment),
                    String::new(),
                    r.customers,
                    &r.segment,
                )
            })
            .collect(),
        saved: view
            .saved
            .iter()
            .map(|s| {
                line(
                    &s.tag,
                    s.name.clone(),
                    rule_text(&s.filter),
                    s.customers,
                    &s.code,
                )
            })
            .collect(),
        rfm_choices: choices(&RFM_SEGMENTS, &form.rfm),
        gender_choices: choices(&GENDERS, &form.genders),
        age_choices: choices(
            &AGE_BANDS
                .iter()
                .map(|(band, _, _)| *band)
                .chain(["unknown"])
                .collect::<Vec<_>>(),
            &form.age_bands,
        ),
        form,
        error,
    };
    let status = if page.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, Html(page.render()?)).into_response())
}

/// `GET /hq/merchants/{id}/segments`.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn page(
    State(state): State<AppState>,
    session: HqSession,
    Path(merchant): Path<MerchantId>,
) -> Result<Response, PageError> {
    render(&state, &session, merchant, SegmentForm::default(), None).await
}

/// The form's filter, or the message id of the field that does not parse.
fn parse_form(form: &SegmentForm) -> Result<NewSegment, &'static str> {
    let min_visits = match form.min_visits.trim() {
        "" => None,
        text => Some(
            text.parse::<i64>()
                .ok()
                .filter(|v| *v >= 1)
                .ok_or("seg-error-visits")?,
        ),
    };
    let min_revenue = match form.min_revenue.trim() {
        "" => None,
        text => Some(
            format::parse_roubles(text)
                .and_then(|k| Money::non_negative(k).ok())
                .ok_or("seg-error-revenue")?,
        ),
    };
    Ok(NewSegment {
        code: form.code.trim().to_owned(),
        name: form.name.trim().to_owned(),
        filter: SegmentFilter {
            rfm: form.rfm.clone(),
            genders: form.genders.clone(),
            age_bands: form.age_bands.clone(),
            min_visits,
            min_revenue,
        },
    })
}

/// `POST /hq/merchants/{id}/segments`: saves a segment and computes it;
/// back to the page, or the page again with the refusal.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn save(
    State(state): State<AppState>,
    session: HqSession,
    Path(merchant): Path<MerchantId>,
    ProtectedForm { form, .. }: ProtectedForm<SegmentForm>,
) -> Result<Response, PageError> {
    let new = match parse_form(&form) {
        Ok(new) => new,
        Err(id) => return render(&state, &session, merchant, form, Some(i18n::t(id))).await,
    };
    let code = new.code.clone();
    match state.services.segments.save(merchant, new).await {
        Ok(report) => {
            let note = AuditNote {
                merchant: Some(merchant),
                subject: Some(format!("segment {code}")),
                after: format!("saved; {} customers' tags changed", report.changed),
                ..AuditNote::default()
            };
            Ok(note.attach(see_other(&format!(
                "/hq/merchants/{merchant}/segments#segment-{code}"
            ))))
        }
        Err(SegmentError::Db(e)) => Err(e.into()),
        Err(e) => {
            let id = match &e {
                SegmentError::Taken => "seg-error-taken",
                SegmentError::Invalid(why) if why.starts_with("code") => "seg-error-code",
                SegmentError::Invalid(why) if why.starts_with("name") => "seg-error-name",
                _ => "seg-error-filter",
            };
            render(&state, &session, merchant, form, Some(i18n::t(id))).await
        }
    }
}

/// `POST /hq/merchants/{id}/segments/{code}/delete`.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn delete(
    State(state): State<AppState>,
    Path((merchant, code)): Path<(MerchantId, String)>,
    ProtectedForm { .. }: ProtectedForm<ButtonForm>,
) -> Result<Response, PageError> {
    match state.services.segments.delete(merchant, code.clone()).await {
        Ok(report) => {
            let note = AuditNote {
                merchant: Some(merchant),
                subject: Some(format!("segment {code}")),
                after: format!("deleted; {} customers' tags changed", report.changed),
                ..AuditNote::default()
            };
            Ok(note.attach(see_other(&format!("/hq/merchants/{merchant}/segments"))))
        }
        Err(SegmentError::Db(e)) => Err(e.into()),
        Err(_) => Err(PageError::NotFound),
    }
}

/// `POST /hq/merchants/{id}/segments/refresh`: computes them now.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn refresh(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    ProtectedForm { .. }: ProtectedForm<ButtonForm>,
) -> Result<Response, PageError> {
    let report = state.services.segments.refresh_now(merchant).await?;
    let note = AuditNote {
        merchant: Some(merchant),
        subject: Some("segments".to_owned()),
        after: format!("computed; {} customers' tags changed", report.changed),
        ..AuditNote::default()
    };
    Ok(note.attach(see_other(&format!("/hq/merchants/{merchant}/segments"))))
}
