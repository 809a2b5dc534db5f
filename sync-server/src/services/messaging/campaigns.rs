//! The campaign task, started by `serve` and stopped with it. Every
//! `poll_secs` it
//!
//! 1. marks messages claimed longer than `claim_lease_secs` ago and never
//!    marked as `unconfirmed` (their sender died);
//! 2. plans a campaign for each promotion whose publication has started
//!    (within `catch_up_hours`) and has none: one outbox row per targeted
//!    customer and consented channel, keyed by (customer, promotion,
//!    channel), all in one transaction with the campaign;
//! 3. sends the messages that are due, one at a time per channel's rate.
//!
//! **Exactly once.** A message is claimed (`planned` → `sending`, a
//! conditional write only one sender wins) and committed *before* it is
//! handed to the relay, and marked `sent` after the relay's 250. The only
//! window is a sender killed after the relay took the message and before
//! the mark commits (or mid-transfer): that message stays `sending`, and
//! is never sent again: after the lease it becomes `unconfirmed` (counted
//! with the failures on HQ's page). So a message is sent at most once; it
//! is sent at least once unless its sender dies in that window, which
//! loses at most the one message in flight per channel. Every other
//! decision (consent still live, address not suppressed, quiet hours,
//! the frequency cap) is re-checked in the claim's transaction, so an
//! opt-out committed before the claim is always honoured.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use shared::crypto::Hash256;
use tokio::sync::watch;

use super::channels::SendError;
use super::content::{self, PromotionMessage, RichContent};
use super::schedule::{self, QuietHours, Recipient};
use super::{Messaging, random_token};
use crate::db::{
    Channel, DbError, MediaVariant, MessageRow, MessageStatus, NewCampaign, NewMessage, Tx,
};

/// Messages read per round.
const BATCH: usize = 50;

/// The thumbnails a round has read, by the picture's hash (`None`: not
/// stored): content-addressed, so never stale.
type Pictures = HashMap<Hash256, Option<(String, Vec<u8>)>>;

/// What the claim's transaction decided.
#[derive(Debug)]
enum Claim {
    Send,
    Later,
    Dropped,
}

fn zone_of(tx: &mut dyn Tx, merchant: shared::ids::MerchantId) -> Result<Tz, DbError> {
    Ok(tx
        .stores(merchant)?
        .first()
        .map_or(Tz::UTC, |s| s.timezone.tz()))
}

/// Runs the campaigns until `stop` turns true.
pub async fn run(messaging: Messaging, mut stop: watch::Receiver<bool>) {
    if messaging.mailer.is_none() && messaging.sms.is_none() {
        return;
    }
    let per_second = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    let limits = Limits {
        email: Arc::new(RateLimiter::direct(Quota::per_second(per_second(
            messaging.settings.email_per_second,
        )))),
        sms: Arc::new(RateLimiter::direct(Quota::per_second(per_second(
            messaging.settings.sms.as_ref().map_or(1, |s| s.per_second),
        )))),
    };
    let mut tick = tokio::time::interval(Duration::from_secs(messaging.settings.poll_secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = messaging.round(&limits, &stop).await {
                    tracing::error!(error = %e, "a campaign round failed");
                }
            }
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
    }
}

struct Limits {
    email: Arc<DefaultDirectRateLimiter>,
    sms: Arc<DefaultDirectRateLimiter>,
}

impl Messaging {
    async fn round(&self, limits: &Limits, stop: &watch::Receiver<bool>) -> Result<(), DbError> {
        let now = self.now();
        let lease = i64::try_from(self.settings.claim_lease_secs).unwrap_or(i64::MAX / 2);
        let expired = self
            .repo
            .write(move |tx| tx.expire_claims(now.timestamp() - lease))
            .await?;
        if expired > 0 {
            tracing::warn!(
                expired,
                "messages a dead sender had claimed are unconfirmed"
            );
        }
        self.plan(now).await?;
        let mut pictures = Pictures::new();
        loop {
            let due = {
                let now = self.now().timestamp();
                self.repo
                    .read(move |tx| tx.due_messages(now, BATCH))
                    .await?
            };
            if due.is_empty() {
                return Ok(());
            }
            for message in due {
                if *stop.borrow() {
                    return Ok(());
                }
                self.deliver(message, limits, &mut pictures).await?;
            }
        }
    }

    /// Plans the campaigns of the promotions whose publication started.
    #[tracing::instrument(skip_all)]
    pub async fn plan(&self, now: DateTime<Utc>) -> Result<(), DbError> {
        let catch_up = TimeDelta::hours(i64::from(self.settings.catch_up_hours));
        let channels: Vec<Channel> = [Channel::Email, Channel::Sms]
            .into_iter()
            .filter(|c| self.has_channel(*c))
            .collect();
        let planned = self
            .repo
            .write(move |tx| {
                let mut planned = 0usize;
                for merchant in tx.merchants()? {
                    let Some(current) = tx.current_ruleset(merchant.id)? else {
                        continue;
                    };
                    for p in &current.ruleset.promotions {
                        let Some(starts) = p.starts_at else { continue };
                        if starts > now
                            || starts < now - catch_up
                            || p.ends_at.is_some_and(|e| e <= now)
                            || tx.has_campaign(merchant.id, &p.id)?
                        {
                            continue;
                        }
                        let Some(campaign) = tx.insert_campaign(&NewCampaign {
                            merchant_id: merchant.id,
                            promotion_id: p.id.clone(),
                            title: p.name.clone(),
                            body: p.description.clone(),
                            starts_at: starts.timestamp(),
                            planned_at: now.timestamp(),
                        })?
                        else {
                            continue;
                        };
                        let zone = zone_of(tx, merchant.id)?;
                        let today = now.with_timezone(&zone).date_naive();
                        for consent in tx.live_consents(merchant.id)? {
                            if !channels.contains(&consent.channel) {
                                continue;
                            }
                            let Some(customer) = tx.customer(consent.customer_id)? else {
                                continue;
                            };
                            let who = Recipient {
                                gender: customer.gender,
                                birth_date: customer.birth_date,
                                tags: if p.conditions.segment.tags.is_empty() {
                                    Vec::new()
                                } else {
                                    tx.customer_tags(consent.customer_id)?
                                },
                            };
                            if !schedule::targets(&p.conditions.segment, &who, today) {
                                continue;
                            }
                            if tx.plan_message(&NewMessage {
                                campaign_id: campaign,
                                customer_id: consent.customer_id,
                                promotion_id: p.id.clone(),
                                channel: consent.channel,
                                address: consent.address.clone(),
                                locale: consent.locale.clone(),
                                token: random_token()?,
                                not_before: starts.timestamp(),
                            })? {
                                planned += 1;
                            }
                        }
                    }
                }
                Ok(planned)
            })
            .await?;
        if planned > 0 {
            tracing::info!(planned, "planned campaign messages");
        }
        Ok(())
    }

    /// Decides, claims, sends and marks one message.
    #[tracing::instrument(skip_all, fields(message = message.id, channel = message.channel.as_str()))]
    async fn deliver(
        &self,
        message: MessageRow,
        limits: &Limits,
        pictures: &mut Pictures,
    ) -> Result<(), DbError> {
        let limiter = match message.channel {
            Channel::Email => &limits.email,
            Channel::Sms => &limits.sms,
        };
        limiter.until_ready().await;
        let now = self.now();
        let quiet = QuietHours::parse(&self.settings.quiet_start, &self.settings.quiet_end)
            .ok_or_else(|| DbError::other("quiet hours are not HH:MM"))?;
        let cap = i64::from(self.settings.max_per_customer);
        let window = TimeDelta::hours(i64::from(self.settings.cap_window_hours));
        let m = message.clone();
        let claim = self
            .repo
            .write(move |tx| {
                let live = tx.consents(m.customer_id)?.into_iter().any(|c| {
                    c.channel == m.channel
                        && c.address == m.address
                        && c.confirmed_at.is_some()
                        && c.withdrawn_at.is_none()
                });
                if !live {
                    tx.finish_message(m.id, MessageStatus::Skipped, "consent withdrawn")?;
                    return Ok(Claim::Dropped);
                }
                if tx.is_suppressed(m.channel, &m.address)? {
                    tx.finish_message(m.id, MessageStatus::Skipped, "address suppressed")?;
                    return Ok(Claim::Dropped);
                }
                let zone = zone_of(tx, m.merchant_id)?;
                if let Some(until) = quiet.ends_after(now, zone) {
                    tx.reschedule_message(m.id, until.timestamp(), "quiet hours")?;
                    return Ok(Claim::Later);
                }
                if tx.sent_since(m.customer_id, (now - window).timestamp())? >= cap {
                    tx.finish_message(m.id, MessageStatus::Skipped, "frequency cap")?;
                    return Ok(Claim::Dropped);
                }
                Ok(if tx.claim_message(m.id, now.timestamp())? {
                    Claim::Send
                } else {
                    Claim::Dropped
                })
            })
            .await?;
        if !matches!(claim, Claim::Send) {
            tracing::debug!(?claim, "not sent now");
            return Ok(());
        }
        let outcome = self.send(&message, pictures).await;
        let now = self.now().timestamp();
        let id = message.id;
        match outcome {
            Ok(()) => {
                self.repo.write(move |tx| tx.mark_sent(id, now)).await?;
                tracing::info!(customer_id = %message.customer_id, "sent");
            }
            Err(SendError::Permanent(why)) => {
                tracing::warn!(%why, "refused for good; the address is suppressed");
                let (channel, address) = (message.channel, message.address.clone());
                self.repo
                    .write(move |tx| {
                        tx.suppress_address(channel, &address, &why, now)?;
                        tx.finish_message(id, MessageStatus::Failed, &why)
                    })
                    .await?;
            }
            Err(SendError::Transient(why)) => {
                let attempts = u32::try_from(message.attempts + 1).unwrap_or(u32::MAX);
                let max = self.settings.max_attempts;
                let next =
                    now + schedule::backoff(self.settings.retry_base_secs, attempts).num_seconds();
                tracing::warn!(%why, attempts, "not sent; retrying later");
                self.repo
                    .write(move |tx| {
                        if attempts >= max {
                            tx.finish_message(id, MessageStatus::Failed, &why)
                        } else {
                            tx.reschedule_message(id, next, &why)
                        }
                    })
                    .await?;
            }
        }
        Ok(())
    }

    /// The content the merchant gave the message's promotion, as it is
    /// when the message leaves: its description and its picture's
    /// thumbnail (at most 640 pixels a side, right for a mail). Pictures
    /// are stored by hash and never change, so a round reads each one once
    /// from `pictures`, however many messages carry it.
    async fn rich_content(
        &self,
        m: &MessageRow,
        pictures: &mut Pictures,
    ) -> Result<Option<RichContent>, DbError> {
        let (merchant, promotion) = (m.merchant_id, m.promotion_id.clone());
        let Some(row) = self
            .repo
            .read(move |tx| tx.promotion_content(merchant, &promotion))
            .await?
        else {
            return Ok(None);
        };
        let picture = match row.picture {
            Some(hash) => match pictures.get(&hash) {
                Some(cached) => cached.clone(),
                None => {
                    let read = self
                        .repo
                        .read(move |tx| tx.media_bytes(&hash, MediaVariant::Thumbnail))
                        .await?;
                    pictures.insert(hash, read.clone());
                    read
                }
            },
            None => None,
        };
        Ok(Some(RichContent {
            html: crate::rich_text::render(&row.description),
            markdown: row.description,
            picture,
        }))
    }

    async fn send(&self, m: &MessageRow, pictures: &mut Pictures) -> Result<(), SendError> {
        let link = format!("{}/m/{}", self.base_url, m.token);
        let unsubscribe = format!("{link}/unsubscribe");
        let rich = match m.channel {
            Channel::Email => self
                .rich_content(m, pictures)
                .await
                .map_err(|e| SendError::Transient(format!("the promotion's content: {e}")))?,
            Channel::Sms => None,
        };
        let content = PromotionMessage {
            locale: &m.locale,
            title: &m.title,
            body: &m.body,
            link: &link,
            unsubscribe: &unsubscribe,
            content: rich.as_ref(),
        };
        match m.channel {
            Channel::Email => {
                let mailer = self
                    .mailer
                    .as_ref()
                    .ok_or_else(|| SendError::Transient("no SMTP relay".into()))?;
                let mail = content::promotion_email(
                    &m.address,
                    &content,
                    format!("<campaign-{}-{}@loyalty>", m.campaign_id, m.id),
                )
                .map_err(|e| SendError::Permanent(format!("template: {e}")))?;
                mailer.send(&mail).await
            }
            Channel::Sms => {
                let sms = self
                    .sms
                    .as_ref()
                    .ok_or_else(|| SendError::Transient("no SMS gateway".into()))?;
                sms.send(&m.address, &content::promotion_sms(&content))
                    .await
            }
        }
    }
}
