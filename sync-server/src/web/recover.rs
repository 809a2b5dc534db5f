//! `/join/{merchant}/recover`: a customer who lost their page link types
//! their phone or e-mail, receives a one-time code there, and types it to
//! get a new link (the old one retires). The page answers alike for
//! addresses that are not registered; attempts are limited per client
//! address (the sign-up allowance) and per code.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use shared::identity::{Email, PhoneNumber};
use shared::ids::MerchantId;

use crate::db::Channel;
use crate::services::messaging::SignupError;
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::{Form, Path};
use crate::web::i18n;
use crate::web::links;
use crate::web::login::see_other;
use crate::web::security::require_same_origin;
use crate::web::throttle::{ClientAddr, Door};

#[derive(Template)]
#[template(path = "customer/recover.html")]
struct RecoverPage {
    merchant_id: MerchantId,
    merchant_name: String,
    /// The code step's token; `None` on the address step.
    token: Option<String>,
    contact: String,
    error: Option<&'static str>,
}

/// Both steps' form.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RecoverForm {
    contact: String,
    code: String,
}

async fn render(
    state: &AppState,
    merchant: MerchantId,
    token: Option<String>,
    contact: String,
    error: Option<&'static str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let page = RecoverPage {
        merchant_id: merchant,
        merchant_name: state.services.catalog.merchant(merchant).await?.name,
        token,
        contact,
        error,
    };
    Ok((status, Html(page.render()?)).into_response())
}

/// `GET /join/{merchant}/recover`.
pub async fn form(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
) -> Result<Response, PageError> {
    render(&state, merchant, None, String::new(), None, StatusCode::OK).await
}

/// `POST /join/{merchant}/recover`: sends the code.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn submit(
    State(state): State<AppState>,
    Path(merchant): Path<MerchantId>,
    headers: HeaderMap,
    client: ClientAddr,
    Form(form): Form<RecoverForm>,
) -> Result<Response, PageError> {
    require_same_origin(&headers, &state.settings)?;
    state.throttle.attempt(Door::SignUp, client)?;
    let name = state.services.catalog.merchant(merchant).await?.name;
    let contact = form.contact.trim().to_owned();
    let parsed = if contact.contains('@') {
        Email::parse(&contact)
            .ok()
            .map(|e| (Channel::Email, e.as_str().to_owned()))
    } else {
        PhoneNumber::parse(&contact)
            .ok()
            .map(|p| (Channel::Sms, p.as_str().to_owned()))
    };
    let Some((channel, address)) = parsed else {
        let error = Some("recover-error-contact-invalid");
        return render(
            &state,
            merchant,
            None,
            contact,
            error,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    if !state.messaging.has_channel(channel) {
        let error = Some("recover-error-no-channel");
        return render(
            &state,
            merchant,
            None,
            contact,
            error,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    match state
        .messaging
        .start_recovery(merchant, &name, channel, address, i18n::lang())
        .await
    {
        Ok(token) => Ok(see_other(&format!("/join/{merchant}/recover/{token}"))),
        Err(SignupError::Undeliverable(e)) => {
            tracing::warn!(error = %e, "a recovery code could not be sent");
            let error = Some("recover-error-undeliverable");
            render(
                &state,
                merchant,
                None,
                contact,
                error,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(PageError::internal(&e)),
    }
}

/// `GET /join/{merchant}/recover/{token}`: where the code is typed.
pub async fn code_form(
    State(state): State<AppState>,
    Path((merchant, token)): Path<(MerchantId, String)>,
) -> Result<Response, PageError> {
    if state.messaging.pending_recovery(&token).await? != Some(merchant) {
        return Err(PageError::NotFound);
    }
    render(
        &state,
        merchant,
        Some(token),
        String::new(),
        None,
        StatusCode::OK,
    )
    .await
}

/// `POST /join/{merchant}/recover/{token}`: the code; a match issues a new
/// link and opens the page.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
pub async fn confirm(
    State(state): State<AppState>,
    Path((merchant, token)): Path<(MerchantId, String)>,
    headers: HeaderMap,
    client: ClientAddr,
    Form(form): Form<RecoverForm>,
) -> Result<Response, PageError> {
    require_same_origin(&headers, &state.settings)?;
    state.throttle.attempt(Door::SignUp, client)?;
    if state.messaging.pending_recovery(&token).await? != Some(merchant) {
        return Err(PageError::NotFound);
    }
    match state.messaging.confirm_recovery(&token, &form.code).await {
        Ok(customer) => {
            let link = links::issue(&state, customer, &headers).await?;
            tracing::info!(customer_id = %customer, "a lost link was recovered");
            Ok(see_other(&link.path))
        }
        Err(SignupError::WrongCode) => {
            let error = Some("code-error-wrong");
            render(
                &state,
                merchant,
                Some(token),
                String::new(),
                error,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(SignupError::Expired) => {
            let error = Some("recover-error-expired");
            render(
                &state,
                merchant,
                None,
                String::new(),
                error,
                StatusCode::GONE,
            )
            .await
        }
        Err(e) => Err(PageError::internal(&e)),
    }
}
