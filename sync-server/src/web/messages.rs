//! What a message's links open: `/m/{token}` (the tracked link: notes the
//! click and shows the offer, with a button to the customer's card) and
//! `/m/{token}/unsubscribe`, whose `POST` is RFC 8058's one-click
//! unsubscribe: a mail client posts `List-Unsubscribe=One-Click` with no
//! cookie and from no page, so it needs neither; the token in the path is
//! the only credential, and it can only withdraw its own channel's consent.
//! The `GET` shows a button that posts the same.

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};

use crate::db::{Channel, MessageRow};
use crate::services::messaging::looks_like_token;
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::Path;
use crate::web::i18n;
use crate::web::login::see_other;
use crate::web::security::require_same_origin;

#[derive(Template)]
#[template(path = "customer/message.html")]
struct MessagePage {
    token: String,
    title: String,
    body: String,
    /// The message id of the opt-out button.
    channel: &'static str,
}

#[derive(Template)]
#[template(path = "customer/unsubscribe.html")]
struct UnsubscribePage {
    token: String,
    /// The message id of the opt-out button.
    channel: &'static str,
    /// The message id of the note after opting out.
    done_note: &'static str,
    done: bool,
}

/// The message ids of the opt-out button and of the note after it.
fn channel_words(channel: Channel) -> (&'static str, &'static str) {
    match channel {
        Channel::Email => ("unsubscribe-email", "unsubscribe-email-done"),
        Channel::Sms => ("unsubscribe-sms", "unsubscribe-sms-done"),
    }
}

fn known(message: Option<MessageRow>) -> Result<MessageRow, PageError> {
    message.ok_or(PageError::NotFound)
}

fn token_of(token: &str) -> Result<&str, PageError> {
    if looks_like_token(token) {
        Ok(token)
    } else {
        Err(PageError::NotFound)
    }
}

/// `GET /m/{token}`: the tracked link of a message.
#[tracing::instrument(skip_all)]
pub async fn open(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    let m = known(state.messaging.click(token_of(&token)?).await?)?;
    let page = MessagePage {
        token,
        title: m.title,
        body: m.body,
        channel: channel_words(m.channel).0,
    };
    Ok(Html(page.render()?).into_response())
}

/// `POST /m/{token}/card`: the way to the customer's card is the lost-link
/// recovery, which sends a one-time code to their own address. The
/// message's link alone opens no card: a forwarded e-mail must not hand
/// the card to whoever reads it.
#[tracing::instrument(skip_all)]
pub async fn card(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    require_same_origin(&headers, &state.settings)?;
    let m = known(state.messaging.message(token_of(&token)?).await?)?;
    Ok(see_other(&format!("/join/{}/recover", m.merchant_id)))
}

/// `GET /m/{token}/unsubscribe`: a button that unsubscribes.
pub async fn unsubscribe_form(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    let m = known(state.messaging.message(token_of(&token)?).await?)?;
    let page = UnsubscribePage {
        token,
        channel: channel_words(m.channel).0,
        done_note: channel_words(m.channel).1,
        done: false,
    };
    Ok(Html(page.render()?).into_response())
}

/// `POST /m/{token}/unsubscribe`: one click, no cookie, no form token.
pub async fn unsubscribe(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    let m = known(state.messaging.unsubscribe(token_of(&token)?).await?)?;
    let page = UnsubscribePage {
        token,
        channel: channel_words(m.channel).0,
        done_note: channel_words(m.channel).1,
        done: true,
    };
    Ok(Html(page.render()?).into_response())
}
