//! `/hq/merchants/{id}/promotions/{promotion}/content`: a promotion's
//! content, which only the server keeps (tills price without it): its
//! picture and poster, uploaded in a multipart form and checked and
//! re-encoded by [`crate::media`] (every refusal names the problem by the
//! field: not a picture, too big, too many pixels); its rich description
//! (Markdown, rendered safe by [`crate::rich_text`]); and its publication
//! period on the phones, local times in the merchant's zone, apart from
//! the pricing period the ruleset holds. The page previews the offer as
//! the customer's phone shows it: the same template partial
//! (`customer/_offer_card.html`) in a phone-sized frame.
//!
//! Also here: [`OfferCard`], what that partial shows, built for the phone
//! page and the preview alike.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, TimeZone as _, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use shared::crypto::Hash256;
use shared::ids::{MerchantId, PromotionId};
use shared::ruleset::Promotion;
use subtle::ConstantTimeEq as _;

use crate::db::{ContentRow, MediaInfo};
use crate::guard::AuditNote;
use crate::media::{self, MediaError};
use crate::rich_text;
use crate::services::content::{ContentError, ContentUpdate};
use crate::state::AppState;
use crate::web::error::PageError;
use crate::web::extract::{Path, Query};
use crate::web::format;
use crate::web::i18n;
use crate::web::layout::HqHeader;
use crate::web::login::see_other;
use crate::web::media::{thumbnail_url, url};
use crate::web::security::require_same_origin;
use crate::web::session::HqSession;
use crate::web::setup::{discount, period};

/// The largest form taken: a picture and a poster at their limit, and the
/// text fields.
pub const MAX_FORM_BYTES: usize = 2 * media::MAX_BYTES + 256 * 1024;
/// The longest text field read.
const MAX_TEXT_FIELD: usize = 64 * 1024;
/// How `datetime-local` fields send an instant.
const LOCAL_MINUTES: &str = "%Y-%m-%dT%H:%M";
/// The same with seconds, which some browsers send.
const LOCAL_SECONDS: &str = "%Y-%m-%dT%H:%M:%S";

/// A stored picture as a page links it.
#[derive(Debug, Clone)]
pub struct CardPicture {
    /// The full picture.
    pub url: String,
    /// Its thumbnail.
    pub thumbnail_url: String,
    /// The thumbnail's width.
    pub width: u32,
    /// The thumbnail's height.
    pub height: u32,
}

impl CardPicture {
    fn of(info: &MediaInfo) -> Self {
        CardPicture {
            url: url(&info.hash),
            thumbnail_url: thumbnail_url(&info.hash),
            width: info.thumbnail_width,
            height: info.thumbnail_height,
        }
    }
}

/// An offer as the customer's phone shows it (`customer/_offer_card.html`).
#[derive(Debug, Clone)]
pub struct OfferCard {
    /// Its name.
    pub name: String,
    /// The discount in words.
    pub discount: String,
    /// The pricing period in words.
    pub period: String,
    /// The ruleset's plain description, shown when there is no rich one.
    pub description: String,
    /// The rich description, rendered safe; empty for none.
    pub description_html: String,
    /// Its picture.
    pub picture: Option<CardPicture>,
    /// Its poster's address.
    pub poster_url: Option<String>,
}

/// The card of `p` with its content, if any; `media` holds the pictures'
/// sizes.
#[must_use]
pub fn offer_card(
    p: &Promotion,
    content: Option<&ContentRow>,
    media: &HashMap<Hash256, MediaInfo>,
    zone: Tz,
) -> OfferCard {
    let description = content.map_or("", |c| c.description.trim());
    OfferCard {
        name: p.name.clone(),
        discount: discount(p),
        period: period(p, zone),
        description: p.description.clone(),
        description_html: if description.is_empty() {
            String::new()
        } else {
            rich_text::render(description)
        },
        picture: content
            .and_then(|c| c.picture.as_ref())
            .and_then(|h| media.get(h))
            .map(CardPicture::of),
        poster_url: content.and_then(|c| c.poster.as_ref()).map(url),
    }
}

/// The hashes of the pictures `contents` name.
pub fn pictures_of<'a>(contents: impl IntoIterator<Item = &'a ContentRow>) -> Vec<Hash256> {
    contents
        .into_iter()
        .flat_map(|c| [c.picture, c.poster])
        .flatten()
        .collect()
}

/// The form's text fields, as sent or as stored.
#[derive(Debug, Clone, Default)]
struct ContentForm {
    description: String,
    shown_from: String,
    shown_until: String,
}

#[derive(Template)]
#[template(path = "hq/content.html")]
struct ContentPage {
    header: HqHeader,
    merchant_id: MerchantId,
    merchant_name: String,
    promotion_id: String,
    zone_name: String,
    form: ContentForm,
    picture: Option<CardPicture>,
    poster: Option<CardPicture>,
    errors: BTreeMap<&'static str, String>,
    saved: bool,
    /// The preview: the offer as the phone shows it now, as stored.
    card: OfferCard,
    max_mib: usize,
}

impl ContentPage {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }
}

/// `?saved=1` after a save.
#[derive(Debug, Default, Deserialize)]
pub struct Saved {
    #[serde(default)]
    saved: Option<String>,
}

/// `GET /hq/merchants/{id}/promotions/{promotion}/content`.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant, promotion_id = %promotion))]
pub async fn page(
    State(state): State<AppState>,
    session: HqSession,
    Path((merchant, promotion)): Path<(MerchantId, String)>,
    Query(saved): Query<Saved>,
) -> Result<Response, PageError> {
    let promotion = PromotionId::parse(promotion).map_err(|_| PageError::NotFound)?;
    render(
        &state,
        &session,
        merchant,
        promotion,
        None,
        BTreeMap::new(),
        saved.saved.is_some(),
    )
    .await
}

async fn render(
    state: &AppState,
    session: &HqSession,
    merchant: MerchantId,
    promotion: PromotionId,
    sent: Option<ContentForm>,
    errors: BTreeMap<&'static str, String>,
    saved: bool,
) -> Result<Response, PageError> {
    let m = state.services.catalog.merchant(merchant).await?;
    let zone = format::display_zone(&state.services.catalog.stores(merchant).await?);
    let (found, content) = match state.services.content.content(merchant, promotion).await {
        Ok(found) => found,
        Err(ContentError::UnknownPromotion) => return Err(PageError::NotFound),
        Err(ContentError::Db(e)) => return Err(e.into()),
        Err(e) => return Err(PageError::internal(&e)),
    };
    let media = state
        .services
        .content
        .media_infos(pictures_of(content.iter()))
        .await?;
    let local = |at: Option<DateTime<Utc>>| {
        at.map(|t| t.with_timezone(&zone).format(LOCAL_MINUTES).to_string())
            .unwrap_or_default()
    };
    let stored = ContentForm {
        description: content
            .as_ref()
            .map(|c| c.description.clone())
            .unwrap_or_default(),
        shown_from: local(content.as_ref().and_then(|c| c.shown_from)),
        shown_until: local(content.as_ref().and_then(|c| c.shown_until)),
    };
    let shown = |hash: Option<Hash256>| hash.and_then(|h| media.get(&h)).map(CardPicture::of);
    let page = ContentPage {
        header: HqHeader::for_merchant(session, &m),
        merchant_id: merchant,
        merchant_name: m.name,
        promotion_id: found.id.to_string(),
        zone_name: zone.name().to_owned(),
        picture: shown(content.as_ref().and_then(|c| c.picture)),
        poster: shown(content.as_ref().and_then(|c| c.poster)),
        card: offer_card(&found, content.as_ref(), &media, zone),
        form: sent.unwrap_or(stored),
        saved: saved && errors.is_empty(),
        max_mib: media::MAX_BYTES / (1024 * 1024),
        errors,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, Html(page.render()?)).into_response())
}

/// What the multipart form sent.
#[derive(Default)]
struct Sent {
    csrf: String,
    form: ContentForm,
    picture: Option<Vec<u8>>,
    poster: Option<Vec<u8>>,
    remove_picture: bool,
    remove_poster: bool,
    /// A file past the limit, by field.
    too_big: Vec<&'static str>,
}

/// Reads the multipart form; a file field without a file is none, a file
/// past [`media::MAX_BYTES`] is noted and not kept.
async fn read_form(
    multipart: &mut Multipart,
) -> Result<Sent, axum::extract::multipart::MultipartError> {
    let mut sent = Sent::default();
    while let Some(mut field) = multipart.next_field().await? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "picture" | "poster" => {
                let which = if name == "picture" {
                    "picture"
                } else {
                    "poster"
                };
                let mut bytes = Vec::new();
                let mut over = false;
                while let Some(chunk) = field.chunk().await? {
                    if bytes.len() + chunk.len() > media::MAX_BYTES {
                        over = true;
                        continue;
                    }
                    bytes.extend_from_slice(&chunk);
                }
                if over {
                    sent.too_big.push(which);
                } else if !bytes.is_empty() {
                    if which == "picture" {
                        sent.picture = Some(bytes);
                    } else {
                        sent.poster = Some(bytes);
                    }
                }
            }
            _ => {
                let mut text = Vec::new();
                while let Some(chunk) = field.chunk().await? {
                    if text.len() + chunk.len() <= MAX_TEXT_FIELD {
                        text.extend_from_slice(&chunk);
                    }
                }
                let text = String::from_utf8_lossy(&text).into_owned();
                match name.as_str() {
                    "csrf" => sent.csrf = text,
                    "description" => sent.form.description = text.replace("\r\n", "\n"),
                    "shown_from" => sent.form.shown_from = text,
                    "shown_until" => sent.form.shown_until = text,
                    "remove_picture" => sent.remove_picture = true,
                    "remove_poster" => sent.remove_poster = true,
                    _ => {}
                }
            }
        }
    }
    Ok(sent)
}

/// `POST /hq/merchants/{id}/promotions/{promotion}/content`: uploads the
/// pictures chosen, saves the description and the period, and shows the
/// page again; a refusal shows the form again with the message by its
/// field.
#[tracing::instrument(skip_all, fields(merchant_id = %merchant, promotion_id = %promotion))]
pub async fn save(
    State(state): State<AppState>,
    session: HqSession,
    Path((merchant, promotion)): Path<(MerchantId, String)>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, PageError> {
    require_same_origin(&headers, &state.settings)?;
    let promotion = PromotionId::parse(promotion).map_err(|_| PageError::NotFound)?;
    let mut multipart =
        multipart.map_err(|_| PageError::BadRequest("the form could not be read"))?;
    let sent = match read_form(&mut multipart).await {
        Ok(sent) => sent,
        Err(e) => {
            // Past the whole form's limit: no token could be read either,
            // so nothing is changed and the page says why.
            tracing::info!(error = %e, "refused a content form");
            let mut errors = BTreeMap::new();
            errors.insert(
                "picture",
                i18n::t1(
                    "media-error-too-big",
                    "max",
                    media::MAX_BYTES / (1024 * 1024),
                ),
            );
            return render(&state, &session, merchant, promotion, None, errors, false).await;
        }
    };
    if !bool::from(sent.csrf.as_bytes().ct_eq(session.csrf_token.as_bytes())) {
        tracing::warn!("refused an HQ form without its session's token");
        return Err(PageError::Forbidden("missing or wrong form token"));
    }
    let (_, stored) = match state
        .services
        .content
        .content(merchant, promotion.clone())
        .await
    {
        Ok(found) => found,
        Err(ContentError::UnknownPromotion) => return Err(PageError::NotFound),
        Err(ContentError::Db(e)) => return Err(e.into()),
        Err(e) => return Err(PageError::internal(&e)),
    };
    let zone = format::display_zone(&state.services.catalog.stores(merchant).await?);
    let mut errors: BTreeMap<&'static str, String> = BTreeMap::new();
    for field in &sent.too_big {
        errors.insert(
            field,
            i18n::t1(
                "media-error-too-big",
                "max",
                media::MAX_BYTES / (1024 * 1024),
            ),
        );
    }
    let mut update = ContentUpdate {
        picture: stored.as_ref().and_then(|c| c.picture),
        poster: stored.as_ref().and_then(|c| c.poster),
        description: sent.form.description.trim().to_owned(),
        shown_from: None,
        shown_until: None,
    };
    if sent.remove_picture {
        update.picture = None;
    }
    if sent.remove_poster {
        update.poster = None;
    }
    for (field, upload) in [("picture", sent.picture), ("poster", sent.poster)] {
        let Some(upload) = upload else { continue };
        match state.services.content.upload(upload).await {
            Ok((info, _)) if field == "picture" => update.picture = Some(info.hash),
            Ok((info, _)) => update.poster = Some(info.hash),
            Err(ContentError::Media(refusal)) => {
                errors.insert(field, media_message(&refusal));
            }
            Err(ContentError::Db(e)) => return Err(e.into()),
            Err(e) => return Err(PageError::internal(&e)),
        }
    }
    match parse_local(&sent.form.shown_from, zone) {
        Ok(at) => update.shown_from = at,
        Err(id) => {
            errors.insert("shown_from", i18n::t(id));
        }
    }
    match parse_local(&sent.form.shown_until, zone) {
        Ok(at) => update.shown_until = at,
        Err(id) => {
            errors.insert("shown_until", i18n::t(id));
        }
    }
    if !errors.is_empty() {
        return render(
            &state,
            &session,
            merchant,
            promotion,
            Some(sent.form),
            errors,
            false,
        )
        .await;
    }
    match state
        .services
        .content
        .save(merchant, promotion.clone(), update)
        .await
    {
        Ok((before, after)) => {
            tracing::info!("saved a promotion's content");
            let response = see_other(&format!(
                "/hq/merchants/{merchant}/promotions/{}/content?saved=1",
                encode(promotion.as_str())
            ));
            Ok(AuditNote {
                before: before.as_ref().map(audit_text).unwrap_or_default(),
                after: audit_text(&after),
                ..AuditNote::default()
            }
            .attach(response))
        }
        Err(ContentError::Invalid { field, message_id }) => {
            let mut errors = BTreeMap::new();
            errors.insert(field, content_message(message_id));
            render(
                &state,
                &session,
                merchant,
                promotion,
                Some(sent.form),
                errors,
                false,
            )
            .await
        }
        Err(ContentError::UnknownPromotion) => Err(PageError::NotFound),
        Err(ContentError::Db(e)) => Err(e.into()),
        Err(e) => Err(PageError::internal(&e)),
    }
}

/// A refused picture in words, in the request's language.
fn media_message(refusal: &MediaError) -> String {
    let id = refusal.message_id();
    match refusal {
        MediaError::TooBig { max, .. } => i18n::t1(id, "max", max / (1024 * 1024)),
        MediaError::TooManyPixels {
            width,
            height,
            max_pixels,
            ..
        } => i18n::t2(
            id,
            "size",
            format!("{width}×{height}"),
            "max",
            max_pixels / 1_000_000,
        ),
        MediaError::UnsupportedKind { kind } => i18n::t1(id, "kind", kind.clone()),
        _ => i18n::t(id),
    }
}

/// A content refusal in words.
fn content_message(id: &'static str) -> String {
    if id == "content-error-description-long" {
        i18n::t1(id, "max", rich_text::MAX_CHARS)
    } else {
        i18n::t(id)
    }
}

/// What the audit trail keeps of a content.
pub fn audit_text(c: &ContentRow) -> String {
    serde_json::json!({
        "picture": c.picture,
        "poster": c.poster,
        "description": c.description,
        "shown_from": c.shown_from,
        "shown_until": c.shown_until,
    })
    .to_string()
}

/// A path segment, percent-encoded.
fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A `datetime-local` value in `zone`; empty is none.
fn parse_local(text: &str, zone: Tz) -> Result<Option<DateTime<Utc>>, &'static str> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let local = NaiveDateTime::parse_from_str(text, LOCAL_MINUTES)
        .or_else(|_| NaiveDateTime::parse_from_str(text, LOCAL_SECONDS))
        .map_err(|_| "content-error-datetime")?;
    zone.from_local_datetime(&local)
        .earliest()
        .map(|t| Some(t.with_timezone(&Utc)))
        .ok_or("content-error-datetime-gap")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_are_read_in_the_merchants_zone() {
        let moscow: Tz = "Europe/Moscow".parse().unwrap();
        assert_eq!(
            parse_local("2026-03-10T09:30", moscow),
            Ok(Some("2026-03-10T06:30:00Z".parse().unwrap()))
        );
        assert_eq!(parse_local("  ", moscow), Ok(None));
        assert_eq!(
            parse_local("10.03.2026", moscow),
            Err("content-error-datetime")
        );
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(
            parse_local("2026-03-29T02:30", berlin),
            Err("content-error-datetime-gap"),
            "a time the clocks skip"
        );
    }
}
