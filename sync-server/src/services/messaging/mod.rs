//! Reaching customers: marketing consent per channel with double opt-in
//! at sign-up, one-click opt-out, tracked links, and the campaign that goes
//! out when a promotion's publication starts ([`campaigns`]).
//!
//! - [`channels`]: e-mail through SMTP (lettre) and SMS gateways.
//! - [`content`]: the messages' templates, Russian and English.
//! - [`schedule`]: quiet hours, retry backoff, segment targeting.
//! - [`campaigns`]: the background task that plans and sends.

pub mod campaigns;
pub mod channels;
pub mod content;
pub mod schedule;

pub use campaigns::run;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ring::rand::{SecureRandom as _, SystemRandom};
use serde::{Deserialize, Serialize};
use shared::crypto::sha256;
use shared::ids::{CustomerId, MerchantId};

use crate::clock::Clock;
use crate::config::NotifySettings;
use crate::db::{
    Announcement, CampaignReport, Channel, ConsentRow, DbError, MessageRow, PendingSignupRow,
    Repository,
};
use crate::wire::admin::NewCustomer;
use channels::{Mailer, SendError, SmsGateway};

/// The wording of the e-mail consent, as shown beside its box.
pub const EMAIL_CONSENT_WORDING: &str = "Согласен(на) получать предложения и акции магазина по e-mail. Отписаться можно в любой момент по ссылке в каждом письме.";
/// The wording of the SMS consent, as shown beside its box.
pub const SMS_CONSENT_WORDING: &str = "Согласен(на) получать предложения и акции магазина по SMS. Отписаться можно по ссылке в каждом сообщении.";
/// The e-mail consent's wording on the English sign-up page.
pub const EMAIL_CONSENT_WORDING_EN: &str = "I agree to receive the shop's offers and promotions by e-mail. I can unsubscribe at any time by the link in every e-mail.";
/// The SMS consent's wording on the English sign-up page.
pub const SMS_CONSENT_WORDING_EN: &str = "I agree to receive the shop's offers and promotions by SMS. I can unsubscribe by the link in every message.";

/// The e-mail consent's wording in `locale` (`ru`, `en`): the text shown
/// beside the box is the text recorded with the consent.
#[must_use]
pub fn email_consent_wording(locale: &str) -> &'static str {
    if locale == "en" {
        EMAIL_CONSENT_WORDING_EN
    } else {
        EMAIL_CONSENT_WORDING
    }
}

/// The SMS consent's wording in `locale` (`ru`, `en`).
#[must_use]
pub fn sms_consent_wording(locale: &str) -> &'static str {
    if locale == "en" {
        SMS_CONSENT_WORDING_EN
    } else {
        SMS_CONSENT_WORDING
    }
}

/// A sign-up as the form gave it, kept while its code is on its way.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Signup {
    /// The customer to create.
    pub customer: NewCustomer,
    /// Marketing e-mails agreed to.
    pub email_consent: bool,
    /// Marketing SMS agreed to.
    pub sms_consent: bool,
    /// `ru` or `en`.
    pub locale: String,
    /// The referral code of the share link the sign-up came through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral: Option<String>,
    /// The shared offer of that link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<String>,
}

/// Where a sign-up's code went.
#[derive(Debug, Clone)]
pub struct CodeSent {
    /// The token of the confirm page.
    pub token: String,
    /// The channel.
    pub channel: Channel,
}

/// Why a sign-up's code could not be sent or taken.
#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] DbError),
    /// The code could not be delivered.
    #[error("the code could not be sent: {0}")]
    Undeliverable(SendError),
    /// The message could not be written.
    #[error("template: {0}")]
    Template(#[from] askama::Error),
    /// No such sign-up, or it expired, or too many wrong codes.
    #[error("the sign-up expired")]
    Expired,
    /// A wrong code; attempts are left.
    #[error("wrong code")]
    WrongCode,
}

/// A confirmed sign-up.
#[derive(Debug, Clone, Copy)]
pub struct Confirmed {
    /// The new customer.
    pub customer: CustomerId,
    /// Their merchant.
    pub merchant: MerchantId,
}

/// Reaching customers.
#[derive(Clone)]
pub struct Messaging {
    repo: Arc<dyn Repository>,
    clock: Arc<dyn Clock>,
    settings: Arc<NotifySettings>,
    base_url: Arc<str>,
    mailer: Option<Mailer>,
    sms: Option<Arc<dyn SmsGateway>>,
}

impl std::fmt::Debug for Messaging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Messaging")
            .field("mailer", &self.mailer)
            .field("sms", &self.sms)
            .finish_non_exhaustive()
    }
}

/// A fresh random token: 256 bits in URL-safe base64.
fn random_token() -> Result<String, DbError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| DbError::other("the system random source failed"))?;
    Ok(data_encoding::BASE64URL_NOPAD.encode(&bytes))
}

/// A fresh six-digit code.
fn random_code() -> Result<String, DbError> {
    let mut bytes = [0u8; 4];
    loop {
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| DbError::other("the system random source failed"))?;
        let n = u32::from_le_bytes(bytes);
        // Rejects the top sliver so every code is equally likely.
        if n < 4_294_000_000 {
            return Ok(format!("{:06}", n % 1_000_000));
        }
    }
}

fn hashed(text: &str) -> String {
    data_encoding::HEXLOWER.encode(&sha256(text.as_bytes()).0)
}

/// Whether `text` has the shape of a token [`random_token`] makes.
#[must_use]
pub fn looks_like_token(text: &str) -> bool {
    text.len() == 43
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Messaging {
    /// The service; `base_url` is where links in messages point.
    pub fn new(
        repo: Arc<dyn Repository>,
        clock: Arc<dyn Clock>,
        settings: NotifySettings,
        base_url: String,
    ) -> Result<Messaging, channels::ChannelSetupError> {
        let mailer = settings
            .smtp_url
            .as_deref()
            .map(|url| Mailer::new(url, &settings.from))
            .transpose()?;
        let sms = settings
            .sms
            .as_ref()
            .map(channels::sms_gateway)
            .transpose()?
            .map(Arc::from);
        Ok(Messaging {
            repo,
            clock,
            settings: Arc::new(settings),
            base_url: base_url.trim_end_matches('/').into(),
            mailer,
            sms,
        })
    }

    /// The service with no way out: nothing is sent, sign-up needs no code.
    pub fn without_channels(repo: Arc<dyn Repository>, clock: Arc<dyn Clock>) -> Messaging {
        Messaging {
            repo,
            clock,
            settings: Arc::new(NotifySettings::default()),
            base_url: "http://localhost".into(),
            mailer: None,
            sms: None,
        }
    }

    /// The same service with links on `base_url`.
    #[must_use]
    pub fn with_base_url(&self, base_url: &str) -> Messaging {
        Messaging {
            base_url: base_url.trim_end_matches('/').into(),
            ..self.clone()
        }
    }

    /// Whether messages can go out on `channel`.
    #[must_use]
    pub fn has_channel(&self, channel: Channel) -> bool {
        match channel {
            Channel::Email => self.mailer.is_some(),
            Channel::Sms => self.sms.is_some(),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Where a sign-up's code goes: the e-mail if it can, else the phone.
    #[must_use]
    pub fn code_channel(&self, new: &NewCustomer) -> Option<Channel> {
        if new.email.is_some() && self.has_channel(Channel::Email) {
            Some(Channel::Email)
        } else if new.phone.is_some() && self.has_channel(Channel::Sms) {
            Some(Channel::Sms)
        } else {
            None
        }
    }

    /// Sends a one-time code to the sign-up's address and keeps the
    /// sign-up until it comes back.
    #[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
    pub async fn start_signup(
        &self,
        merchant: MerchantId,
        merchant_name: &str,
        signup: Signup,
        channel: Channel,
    ) -> Result<CodeSent, SignupError> {
        let code = random_code()?;
        let token = random_token()?;
        let minutes = self.settings.code_ttl_secs.div_ceil(60);
        let sent = match channel {
            Channel::Email => {
                let mailer = self.mailer.as_ref().ok_or(SignupError::Expired)?;
                let to = signup
                    .customer
                    .email
                    .as_ref()
                    .map(|e| e.as_str().to_owned())
                    .unwrap_or_default();
                let mail = content::code_email(&to, &signup.locale, merchant_name, &code, minutes)?;
                mailer.send(&mail).await
            }
            Channel::Sms => {
                let sms = self.sms.as_ref().ok_or(SignupError::Expired)?;
                let to = signup
                    .customer
                    .phone
                    .as_ref()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default();
                sms.send(
                    &to,
                    &content::code_sms(&signup.locale, merchant_name, &code),
                )
                .await
            }
        };
        sent.map_err(SignupError::Undeliverable)?;
        let row = PendingSignupRow {
            token_hash: hashed(&token),
            merchant_id: merchant,
            signup: serde_json::to_string(&(channel.as_str(), &signup)).map_err(DbError::other)?,
            code_hash: hashed(&code),
            attempts: 0,
            expires_at: self.now().timestamp()
                + i64::try_from(self.settings.code_ttl_secs).unwrap_or(i64::MAX / 2),
        };
        self.repo
            .write(move |tx| tx.insert_pending_signup(&row))
            .await?;
        tracing::info!(channel = channel.as_str(), "sent a sign-up code");
        Ok(CodeSent { token, channel })
    }

    /// Whether a sign-up waits under this token, and for which merchant.
    pub async fn pending(&self, token: &str) -> Result<Option<MerchantId>, DbError> {
        let hash = hashed(token);
        let now = self.now().timestamp();
        Ok(self
            .repo
            .read(move |tx| tx.pending_signup(&hash))
            .await?
            .filter(|p| p.expires_at > now)
            .map(|p| p.merchant_id))
    }

    /// Takes the code back: creates the customer with their consents, the
    /// code's channel confirmed (double opt-in). A phone taken is a
    /// `Conflict`.
    #[tracing::instrument(skip_all)]
    pub async fn confirm_signup(&self, token: &str, code: &str) -> Result<Confirmed, SignupError> {
        let hash = hashed(token);
        let code_hash = hashed(code.trim());
        let now_at = self.now();
        let now = now_at.timestamp();
        let max_attempts = i64::from(self.settings.code_attempts);
        self.repo
            .write(move |tx| {
                let Some(p) = tx.pending_signup(&hash)? else {
                    return Ok(Err(SignupError::Expired));
                };
                if p.expires_at <= now || p.attempts >= max_attempts {
                    tx.delete_pending_signup(&hash)?;
                    return Ok(Err(SignupError::Expired));
                }
                if p.code_hash != code_hash {
                    tx.count_signup_attempt(&hash)?;
                    return Ok(Err(SignupError::WrongCode));
                }
                let (confirmed, signup): (String, Signup) =
                    serde_json::from_str(&p.signup).map_err(DbError::other)?;
                let confirmed = Channel::parse(&confirmed)?;
                let customer = tx.insert_customer(p.merchant_id, &signup.customer)?;
                if let Some(referral) = &signup.referral {
                    crate::services::referrals::record(
                        tx,
                        p.merchant_id,
                        customer,
                        &signup.customer,
                        referral,
                        signup.offer.clone(),
                        now_at,
                    )?;
                }
                let mut consents = Vec::new();
                if signup.email_consent
                    && let Some(email) = &signup.customer.email
                {
                    consents.push((
                        Channel::Email,
                        email.as_str(),
                        email_consent_wording(&signup.locale),
                    ));
                }
                if signup.sms_consent
                    && let Some(phone) = &signup.customer.phone
                {
                    consents.push((
                        Channel::Sms,
                        phone.as_str(),
                        sms_consent_wording(&signup.locale),
                    ));
                }
                for (channel, address, wording) in consents {
                    tx.put_consent(&ConsentRow {
                        customer_id: customer,
                        channel,
                        address: address.to_owned(),
                        locale: signup.locale.clone(),
                        wording: wording.to_owned(),
                        granted_at: now,
                        confirmed_at: (channel == confirmed).then_some(now),
                        withdrawn_at: None,
                    })?;
                }
                tx.delete_pending_signup(&hash)?;
                tx.announce(Announcement::Customers {
                    merchant: p.merchant_id,
                })?;
                Ok(Ok(Confirmed {
                    customer,
                    merchant: p.merchant_id,
                }))
            })
            .await?
    }

    /// Records marketing consents given without a code (no channel to send
    /// one on): kept, but unconfirmed, so nothing is sent on them.
    pub async fn record_unconfirmed(
        &self,
        customer: CustomerId,
        signup: &Signup,
    ) -> Result<(), DbError> {
        let now = self.now().timestamp();
        let mut rows = Vec::new();
        if signup.email_consent
            && let Some(email) = &signup.customer.email
        {
            rows.push((
                Channel::Email,
                email.as_str().to_owned(),
                email_consent_wording(&signup.locale),
            ));
        }
        if signup.sms_consent
            && let Some(phone) = &signup.customer.phone
        {
            rows.push((
                Channel::Sms,
                phone.as_str().to_owned(),
                sms_consent_wording(&signup.locale),
            ));
        }
        let locale = signup.locale.clone();
        self.repo
            .write(move |tx| {
                for (channel, address, wording) in rows {
                    tx.put_consent(&ConsentRow {
                        customer_id: customer,
                        channel,
                        address,
                        locale: locale.clone(),
                        wording: wording.to_owned(),
                        granted_at: now,
                        confirmed_at: None,
                        withdrawn_at: None,
                    })?;
                }
                Ok(())
            })
            .await
    }

    /// A customer's consents.
    pub async fn consents(&self, customer: CustomerId) -> Result<Vec<ConsentRow>, DbError> {
        self.repo.read(move |tx| tx.consents(customer)).await
    }

    /// The message of a link token, if any.
    pub async fn message(&self, token: &str) -> Result<Option<MessageRow>, DbError> {
        let token = token.to_owned();
        self.repo.read(move |tx| tx.message_by_token(&token)).await
    }

    /// Follows a message's tracked link: notes the click.
    pub async fn click(&self, token: &str) -> Result<Option<MessageRow>, DbError> {
        let token = token.to_owned();
        let now = self.now().timestamp();
        self.repo
            .write(move |tx| {
                let message = tx.message_by_token(&token)?;
                if let Some(m) = &message {
                    tx.mark_clicked(m.id, now)?;
                }
                Ok(message)
            })
            .await
    }

    /// One-click unsubscribe: withdraws the consent of the message's
    /// channel. Idempotent; `None` for an unknown token.
    #[tracing::instrument(skip_all)]
    pub async fn unsubscribe(&self, token: &str) -> Result<Option<MessageRow>, DbError> {
        let token = token.to_owned();
        let now = self.now().timestamp();
        let message = self
            .repo
            .write(move |tx| {
                let message = tx.message_by_token(&token)?;
                if let Some(m) = &message {
                    tx.withdraw_consent(m.customer_id, m.channel, now)?;
                }
                Ok(message)
            })
            .await?;
        if let Some(m) = &message {
            tracing::info!(customer_id = %m.customer_id, channel = m.channel.as_str(), "unsubscribed");
        }
        Ok(message)
    }

    /// Lost-link recovery: sends a one-time code to `address` if it is a
    /// customer's of the merchant. The answer is the same either way (a
    /// token for the code page), so the page never tells which addresses
    /// are registered.
    #[tracing::instrument(skip_all, fields(merchant_id = %merchant))]
    pub async fn start_recovery(
        &self,
        merchant: MerchantId,
        merchant_name: &str,
        channel: Channel,
        address: String,
        locale: &str,
    ) -> Result<String, SignupError> {
        let token = random_token()?;
        let code = random_code()?;
        let lookup = address.clone();
        let customer = self
            .repo
            .read(move |tx| tx.customer_by_contact(merchant, channel, &lookup))
            .await?;
        // An unknown address gets no message, and a code no one has.
        let code_hash = if customer.is_some() {
            let minutes = self.settings.code_ttl_secs.div_ceil(60);
            let sent = match (channel, &self.mailer, &self.sms) {
                (Channel::Email, Some(mailer), _) => {
                    let mail =
                        content::code_email(&address, locale, merchant_name, &code, minutes)?;
                    mailer.send(&mail).await
                }
                (Channel::Sms, _, Some(sms)) => {
                    sms.send(&address, &content::code_sms(locale, merchant_name, &code))
                        .await
                }
                _ => return Err(SignupError::Expired),
            };
            sent.map_err(SignupError::Undeliverable)?;
            hashed(&code)
        } else {
            hashed(&random_token()?)
        };
        let row = crate::db::RecoveryRow {
            token_hash: hashed(&token),
            merchant_id: merchant,
            customer_id: customer,
            code_hash,
            attempts: 0,
            expires_at: self.now().timestamp()
                + i64::try_from(self.settings.code_ttl_secs).unwrap_or(i64::MAX / 2),
        };
        self.repo.write(move |tx| tx.insert_recovery(&row)).await?;
        Ok(token)
    }

    /// Whether a recovery waits under this token, and for which merchant.
    pub async fn pending_recovery(&self, token: &str) -> Result<Option<MerchantId>, DbError> {
        let hash = hashed(token);
        let now = self.now().timestamp();
        Ok(self
            .repo
            .read(move |tx| tx.recovery(&hash))
            .await?
            .filter(|r| r.expires_at > now)
            .map(|r| r.merchant_id))
    }

    /// Takes a recovery's code back: whose link to issue anew.
    pub async fn confirm_recovery(
        &self,
        token: &str,
        code: &str,
    ) -> Result<CustomerId, SignupError> {
        let hash = hashed(token);
        let code_hash = hashed(code.trim());
        let now_at = self.now();
        let now = now_at.timestamp();
        let max_attempts = i64::from(self.settings.code_attempts);
        self.repo
            .write(move |tx| {
                let Some(r) = tx.recovery(&hash)? else {
                    return Ok(Err(SignupError::Expired));
                };
                if r.expires_at <= now || r.attempts >= max_attempts {
                    tx.delete_recovery(&hash)?;
                    return Ok(Err(SignupError::Expired));
                }
                match r.customer_id {
                    Some(customer) if r.code_hash == code_hash => {
                        tx.delete_recovery(&hash)?;
                        Ok(Ok(customer))
                    }
                    _ => {
                        tx.count_recovery_attempt(&hash)?;
                        Ok(Err(SignupError::WrongCode))
                    }
                }
            })
            .await?
    }

    /// The merchant's campaigns with their figures.
    pub async fn reports(&self, merchant: MerchantId) -> Result<Vec<CampaignReport>, DbError> {
        self.repo
            .read(move |tx| tx.campaign_reports(merchant))
            .await
    }
}
