//! `/join/{merchant}`: signing up as a merchant's customer. A lead needs a
//! name and one channel, a phone or an e-mail; gender and birth date are
//! optional and feed the statistics. On success the new customer gets a
//! personal link and lands on their page. A friend's shared offer
//! (`?offer=<id>`) is shown above the form while it runs. A share link's
//! referral code (`&ref=<code>`) goes with the sign-up: the new customer is
//! recorded as the sharer's referral (not one's own, not a phone referred
//! before: the form says so and comes back without it).
//!
//! Marketing consent is asked apart from the personal-data consent, one
//! box per channel. Where a channel can carry it (an SMTP relay, an SMS
//! gateway), sign-up is double opt-in: a one-time code goes to the e-mail
//! (else the phone), and the customer exists only once the code is typed
//! at `/join/{merchant}/confirm/{token}`; that proves the address is
//! theirs and confirms its marketing consent.

use crate::wire::admin::NewCustomer;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::{Datelike as _, NaiveDate};
use serde::Deserialize;
use shared::identity::{Email, Gender, PhoneNumber};
use shared::ids::MerchantId;

use crate::db::{Channel, DbError};
use crate::notify::Topic;
use crate::services::messaging::{Signup, SignupError, email_consent_wording, sms_consent_wording};
use crate::services::referrals::ReferralRefusal;
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::{Form, Path, Query};
use crate::web::i18n;
use crate::web::login::see_other;
use crate::web::security::require_same_origin;
use crate::web::setup::{discount, is_running, period};
use crate::web::throttle::{ClientAddr, Door};
use crate::web::{format, links};

/// The longest name accepted.
const MAX_NAME_CHARS: usize = 100;
/// The earliest birth year accepted.
const EARLIEST_BIRTH_YEAR: i32 = 1900;

/// The sign-up form; also what the page shows back.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct JoinForm {
    name: String,
    phone: String,
    email: String,
    gender: String,
    birth_date: String,
    consent: Option<String>,
    marketing_email: Option<String>,
    marketing_sms: Option<String>,
    offer: String,
    /// The referral code of the share link.
    #[serde(rename = "ref")]
    referral: String,
}

/// Refusals of the sign-up form, by field.
#[derive(Debug, Clone, Default)]
struct JoinErrors {
    name: Option<&'static str>,
    phone: Option<&'static str>,
    email: Option<&'static str>,
    birth_date: Option<&'static str>,
    consent: Option<&'static str>,
    referral: Option<&'static str>,
}

impl JoinErrors {
    fn any(&self) -> bool {
        self.name.is_some()
            || self.phone.is_some()
            || self.email.is_some()
            || self.birth_date.is_some()
            || self.consent.is_some()
            || self.referral.is_some()
    }
}

/// A shared offer shown above the form.
#[derive(Debug, Clone)]
struct SharedOffer {
    name: String,
    description: String,
    discount: String,
    period: String,
    rating: Option<String>,
}

#[derive(Template)]
#[template(path = "customer/join.html")]
struct JoinPage {
    merchant_id: MerchantId,
    merchant_name: String,
    offer: Option<SharedOffer>,
    form: JoinForm,
    errors: JoinErrors,
    email_wording: &'static str,
    sms_wording: &'static str,
    notice: Option<&'static str>,
}

impl JoinPage {
    fn gender_is(&self, code: &str) -> bool {
        self.form.gender == code
    }
}

/// `GET /join/{merchant}` parameters.
#[derive(Debug, Default, Deserialize)]
pub struct JoinQuery {
    /// A shared offer's promotion id.
    #[serde(default)]
    offer: String,
    /// The sharer's referral code.
    #[serde(default, rename = "ref")]
    referral: String,
}

/// `GET /join/{merchant}`.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn form(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    Query(query): Query<JoinQuery>,
) -> Result<Response, PageError> {
    let form = JoinForm {
        offer: query.offer,
        referral: query.referral,
        ..JoinForm::default()
    };
    let page = build(&state, merchant, form, JoinErrors::default()).await?;
    Ok(Html(page.render()?).into_response())
}

/// `POST /join/{merchant}`: creates the customer, gives them a personal
/// link, and sends them to their page.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn submit(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    headers: HeaderMap,
    client: ClientAddr,
    Form(form): Form<JoinForm>,
) -> Result<Response, PageError> {
    require_same_origin(&headers, &state.settings)?;
    state.throttle.attempt(Door::SignUp, client)?;
    state.services.catalog.merchant(merchant).await?;
    let today = state.clock.now().date_naive();
    let new = match parse(&form, today) {
        Ok(new) => new,
        Err(errors) => return refused(&state, merchant, form, errors).await,
    };
    // A referral the sign-up may not carry is refused by name, and the
    // form comes back without it: signing up stays possible.
    let referral = if form.referral.trim().is_empty() {
        None
    } else {
        match state
            .services
            .referrals
            .check(merchant, form.referral.clone(), new.clone())
            .await?
        {
            Ok(Some(_)) => Some(form.referral.trim().to_owned()),
            Ok(None) => {
                tracing::info!("a sign-up came with an unknown referral code");
                None
            }
            Err(refusal) => {
                let errors = JoinErrors {
                    referral: Some(match refusal {
                        ReferralRefusal::SelfReferral => "join-error-self-referral",
                        ReferralRefusal::PhoneReferred => "join-error-phone-referred",
                    }),
                    ..JoinErrors::default()
                };
                let form = JoinForm {
                    referral: String::new(),
                    ..form
                };
                return refused(&state, merchant, form, errors).await;
            }
        }
    };
    let offer = Some(form.offer.trim().to_owned()).filter(|o| !o.is_empty());
    let signup = Signup {
        customer: new.clone(),
        email_consent: form.marketing_email.is_some(),
        sms_consent: form.marketing_sms.is_some(),
        locale: i18n::lang().to_owned(),
        referral: referral.clone(),
        offer: offer.clone(),
    };
    if let Some(channel) = state.messaging.code_channel(&new) {
        let name = state.services.catalog.merchant(merchant).await?.name;
        return match state
            .messaging
            .start_signup(merchant, &name, signup, channel)
            .await
        {
            Ok(sent) => Ok(see_other(&format!(
                "/join/{merchant}/confirm/{}",
                sent.token
            ))),
            Err(SignupError::Undeliverable(e)) => {
                tracing::warn!(error = %e, "a sign-up code could not be sent");
                let mut errors = JoinErrors::default();
                match channel {
                    Channel::Email => {
                        errors.email = Some("join-error-email-undeliverable");
                    }
                    Channel::Sms => {
                        errors.phone = Some("join-error-phone-undeliverable");
                    }
                }
                refused(&state, merchant, form, errors).await
            }
            Err(e) => Err(PageError::internal(&e)),
        };
    }
    let customer = match state.services.customers.create(merchant, new.clone()).await {
        Ok(id) => id,
        Err(DbError::Conflict(_)) => {
            let errors = JoinErrors {
                phone: Some("join-error-phone-taken"),
                ..JoinErrors::default()
            };
            return refused(&state, merchant, form, errors).await;
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(code) = referral {
        state
            .services
            .referrals
            .record(merchant, customer, new, code, offer, state.clock.now())
            .await?;
    }
    // No channel can carry a code: the consents are kept, unconfirmed,
    // and nothing is sent on them.
    state
        .messaging
        .record_unconfirmed(customer, &signup)
        .await?;
    state.notifier.notify(Topic::Customers, merchant);
    tracing::info!(customer_id = %customer, "a customer signed up");
    let link = links::issue(&state, customer, &headers).await?;
    Ok(see_other(&link.path))
}

#[derive(Template)]
#[template(path = "customer/join_confirm.html")]
struct ConfirmPage {
    merchant_id: MerchantId,
    merchant_name: String,
    token: String,
    error: Option<&'static str>,
}

/// The code form.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CodeForm {
    code: String,
}

async fn confirm_page(
    state: &AppState,
    merchant: MerchantId,
    token: String,
    error: Option<&'static str>,
) -> Result<Response, PageError> {
    let page = ConfirmPage {
        merchant_id: merchant,
        merchant_name: state.services.catalog.merchant(merchant).await?.name,
        token,
        error,
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, Html(page.render()?)).into_response())
}

/// `GET /join/{merchant}/confirm/{token}`: where the code is typed.
pub async fn confirm_form(
    State(state): State<AppState>,
    Path((merchant, token)): Path<(MerchantId, String)>,
) -> Result<Response, PageError> {
    match state.messaging.pending(&token).await? {
        Some(m) if m == merchant => confirm_page(&state, merchant, token, None).await,
        _ => expired(&state, merchant).await,
    }
}

async fn expired(state: &AppState, merchant: MerchantId) -> Result<Response, PageError> {
    let mut page = build(state, merchant, JoinForm::default(), JoinErrors::default()).await?;
    page.notice = Some("join-notice-code-expired");
    Ok((StatusCode::GONE, Html(page.render()?)).into_response())
}

/// `POST /join/{merchant}/confirm/{token}`: the code; a match creates the
/// customer and opens their page.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn confirm(
    State(state): State<AppState>,
    Path((merchant, token)): Path<(MerchantId, String)>,
    headers: HeaderMap,
    client: ClientAddr,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    require_same_origin(&headers, &state.settings)?;
    state.throttle.attempt(Door::SignUp, client)?;
    if state.messaging.pending(&token).await? != Some(merchant) {
        return expired(&state, merchant).await;
    }
    let confirmed = match state.messaging.confirm_signup(&token, &form.code).await {
        Ok(c) => c,
        Err(SignupError::WrongCode) => {
            return confirm_page(&state, merchant, token, Some("code-error-wrong")).await;
        }
        Err(SignupError::Expired) => return expired(&state, merchant).await,
        Err(SignupError::Storage(DbError::Conflict(_))) => {
            let mut page =
                build(&state, merchant, JoinForm::default(), JoinErrors::default()).await?;
            page.notice = Some("join-notice-phone-taken");
            return Ok((StatusCode::CONFLICT, Html(page.render()?)).into_response());
        }
        Err(e) => return Err(PageError::internal(&e)),
    };
    state.notifier.notify(Topic::Customers, confirmed.merchant);
    tracing::info!(customer_id = %confirmed.customer, "a customer signed up with a code");
    let link = links::issue(&state, confirmed.customer, &headers).await?;
    Ok(see_other(&link.path))
}

async fn refused(
    state: &AppState,
    merchant: MerchantId,
    form: JoinForm,
    errors: JoinErrors,
) -> Result<Response, PageError> {
    let page = build(state, merchant, form, errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.render()?)).into_response())
}

/// The lead in the form; `today` bounds the birth date.
fn parse(form: &JoinForm, today: NaiveDate) -> Result<NewCustomer, JoinErrors> {
    let mut errors = JoinErrors::default();
    let name = form.name.trim();
    if name.is_empty() {
        errors.name = Some("join-error-name-required");
    } else if name.chars().count() > MAX_NAME_CHARS {
        errors.name = Some("join-error-name-too-long");
    }
    let phone = Some(form.phone.trim())
        .filter(|p| !p.is_empty())
        .map(PhoneNumber::parse)
        .transpose()
        .map_err(|_| errors.phone = Some("join-error-phone-invalid"))
        .ok()
        .flatten();
    let email = Some(form.email.trim())
        .filter(|e| !e.is_empty())
        .map(Email::parse)
        .transpose()
        .map_err(|_| errors.email = Some("join-error-email-invalid"))
        .ok()
        .flatten();
    if form.phone.trim().is_empty() && form.email.trim().is_empty() {
        errors.phone = Some("join-error-contact-required");
    }
    let birth_date = match form.birth_date.trim() {
        "" => None,
        text => match text.parse::<NaiveDate>() {
            Ok(date) if date.year() >= EARLIEST_BIRTH_YEAR && date <= today => Some(date),
            _ => {
                errors.birth_date = Some("join-error-birth-date");
                None
            }
        },
    };
    if form.consent.is_none() {
        errors.consent = Some("join-error-consent");
    }
    if errors.any() {
        return Err(errors);
    }
    Ok(NewCustomer {
        name: name.to_owned(),
        phone,
        email,
        gender: Gender::from_code(form.gender.trim()),
        birth_date,
    })
}

async fn build(
    state: &AppState,
    merchant_id: MerchantId,
    form: JoinForm,
    errors: JoinErrors,
) -> Result<JoinPage, PageError> {
    let merchant = state.services.catalog.merchant(merchant_id).await?;
    let zone = format::display_zone(&state.services.catalog.stores(merchant_id).await?);
    let now = state.clock.now();
    let promotion = if form.offer.is_empty() {
        None
    } else {
        state
            .services
            .publisher
            .current(merchant_id)
            .await?
            .and_then(|c| {
                c.ruleset
                    .promotions
                    .into_iter()
                    .find(|p| p.id.as_str() == form.offer)
            })
            .filter(|p| is_running(p, now))
    };
    let offer = match promotion {
        Some(p) => {
            let rating = state
                .services
                .pages
                .ratings(merchant_id)
                .await?
                .into_iter()
                .find(|r| r.promotion_id == p.id)
                .and_then(|r| format::average_rating(r.stars_total, r.reviews));
            Some(SharedOffer {
                name: p.name.clone(),
                description: p.description.clone(),
                discount: discount(&p),
                period: period(&p, zone),
                rating,
            })
        }
        None => None,
    };
    Ok(JoinPage {
        merchant_id,
        merchant_name: merchant.name,
        offer,
        form,
        errors,
        email_wording: email_consent_wording(i18n::lang()),
        sms_wording: sms_consent_wording(i18n::lang()),
        notice: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> JoinForm {
        JoinForm {
            name: "Анна".into(),
            phone: "8 (916) 000-00-01".into(),
            consent: Some("on".into()),
            ..JoinForm::default()
        }
    }

    fn today() -> NaiveDate {
        "2026-03-01".parse().unwrap()
    }

    #[test]
    fn a_lead_needs_a_name_and_a_channel() {
        let new = parse(&form(), today()).unwrap();
        assert_eq!(new.phone.unwrap().as_str(), "+79160000001");
        let errors = parse(
            &JoinForm {
                phone: String::new(),
                ..form()
            },
            today(),
        )
        .unwrap_err();
        assert_eq!(errors.phone, Some("join-error-contact-required"));
        let errors = parse(
            &JoinForm {
                name: " ".into(),
                email: "not-an-email".into(),
                birth_date: "2026-03-02".into(),
                consent: None,
                ..form()
            },
            today(),
        )
        .unwrap_err();
        assert!(errors.name.is_some() && errors.email.is_some() && errors.consent.is_some());
        assert!(errors.birth_date.is_some(), "born tomorrow");
    }
}
