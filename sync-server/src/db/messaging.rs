//! Primitives of reaching customers: marketing consent per channel,
//! sign-ups waiting for their one-time code, suppressed addresses, and
//! campaigns with the outbox of their messages.
//!
//! Both backends run the same statements through [`SqlRows`], a
//! two-method executor each backend implements for its own connection
//! (instants are Unix seconds, so no column type differs): the SQL of
//! this area is written once, with `?N` placeholders that PostgreSQL's
//! side turns into `$N`.

use shared::ids::{CustomerId, MerchantId, PromotionId};

use super::DbError;

/// A value bound to, or read from, a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue {
    /// An integer (BIGINT), or NULL.
    Int(Option<i64>),
    /// Text, or NULL.
    Text(Option<String>),
}

impl SqlValue {
    fn int(&self) -> Result<Option<i64>, DbError> {
        match self {
            SqlValue::Int(v) => Ok(*v),
            SqlValue::Text(None) => Ok(None),
            SqlValue::Text(Some(t)) => Err(DbError::other(format!("{t:?} is not an integer"))),
        }
    }

    fn text(&self) -> Result<Option<String>, DbError> {
        match self {
            SqlValue::Text(v) => Ok(v.clone()),
            SqlValue::Int(None) => Ok(None),
            SqlValue::Int(Some(n)) => Err(DbError::other(format!("{n} is not text"))),
        }
    }
}

fn int(v: i64) -> SqlValue {
    SqlValue::Int(Some(v))
}

fn opt_int(v: Option<i64>) -> SqlValue {
    SqlValue::Int(v)
}

fn text(v: impl Into<String>) -> SqlValue {
    SqlValue::Text(Some(v.into()))
}

/// A backend's executor for this area's statements.
pub trait SqlRows {
    /// Runs a statement; the rows it changed.
    fn exec(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, DbError>;
    /// Runs a query; its rows, each as its columns' values.
    fn rows(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, DbError>;
}

/// A marketing channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// E-mail.
    Email,
    /// SMS.
    Sms,
}

impl Channel {
    /// Its stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }

    /// From its stored name.
    pub fn parse(text: &str) -> Result<Channel, DbError> {
        match text {
            "email" => Ok(Channel::Email),
            "sms" => Ok(Channel::Sms),
            other => Err(DbError::other(format!("unknown channel {other:?}"))),
        }
    }
}

/// A customer's marketing consent on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRow {
    /// Whose.
    pub customer_id: CustomerId,
    /// Which channel.
    pub channel: Channel,
    /// The e-mail address or phone number it covers.
    pub address: String,
    /// The language messages are written in (`ru`, `en`).
    pub locale: String,
    /// The wording the customer agreed to.
    pub wording: String,
    /// When (Unix seconds).
    pub granted_at: i64,
    /// When a one-time code proved the address.
    pub confirmed_at: Option<i64>,
    /// When it was withdrawn.
    pub withdrawn_at: Option<i64>,
}

/// A sign-up waiting for its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignupRow {
    /// SHA-256 (hex) of the token in the confirm page's URL.
    pub token_hash: String,
    /// Where.
    pub merchant_id: MerchantId,
    /// The sign-up, as the service serialised it.
    pub signup: String,
    /// SHA-256 (hex) of the code.
    pub code_hash: String,
    /// Wrong codes entered so far.
    pub attempts: i64,
    /// When the code stops working (Unix seconds).
    pub expires_at: i64,
}

/// A lost link being recovered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryRow {
    /// SHA-256 (hex) of the token in the code page's URL.
    pub token_hash: String,
    /// Where.
    pub merchant_id: MerchantId,
    /// Whose link, if the address is a customer's.
    pub customer_id: Option<CustomerId>,
    /// SHA-256 (hex) of the code.
    pub code_hash: String,
    /// Wrong codes entered so far.
    pub attempts: i64,
    /// When the code stops working (Unix seconds).
    pub expires_at: i64,
}

/// A campaign to plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCampaign {
    /// Whose.
    pub merchant_id: MerchantId,
    /// Which promotion.
    pub promotion_id: PromotionId,
    /// Its title.
    pub title: String,
    /// Its text.
    pub body: String,
    /// When its publication starts (Unix seconds).
    pub starts_at: i64,
    /// When the campaign was planned.
    pub planned_at: i64,
}

/// A message to plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Its campaign.
    pub campaign_id: i64,
    /// To whom.
    pub customer_id: CustomerId,
    /// About which promotion.
    pub promotion_id: PromotionId,
    /// How.
    pub channel: Channel,
    /// Where.
    pub address: String,
    /// In which language.
    pub locale: String,
    /// Its link token.
    pub token: String,
    /// Not before this instant (Unix seconds).
    pub not_before: i64,
}

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageStatus {
    /// Waiting for its time.
    Planned,
    /// Claimed by a sender, on its way.
    Sending,
    /// The relay or gateway took it.
    Sent,
    /// Refused for good, or out of attempts.
    Failed,
    /// Not sent, by a decision (opt-out, cap, suppressed address).
    Skipped,
    /// A sender died between claiming and marking it: it may have left;
    /// it is never sent again.
    Unconfirmed,
}

impl MessageStatus {
    /// Its stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Planned => "planned",
            MessageStatus::Sending => "sending",
            MessageStatus::Sent => "sent",
            MessageStatus::Failed => "failed",
            MessageStatus::Skipped => "skipped",
            MessageStatus::Unconfirmed => "unconfirmed",
        }
    }

    fn parse(text: &str) -> Result<MessageStatus, DbError> {
        Ok(match text {
            "planned" => MessageStatus::Planned,
            "sending" => MessageStatus::Sending,
            "sent" => MessageStatus::Sent,
            "failed" => MessageStatus::Failed,
            "skipped" => MessageStatus::Skipped,
            "unconfirmed" => MessageStatus::Unconfirmed,
            other => return Err(DbError::other(format!("unknown message status {other:?}"))),
        })
    }
}

/// A message of the outbox, with its campaign's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    /// Its id.
    pub id: i64,
    /// Its campaign.
    pub campaign_id: i64,
    /// The campaign's merchant.
    pub merchant_id: MerchantId,
    /// To whom.
    pub customer_id: CustomerId,
    /// About which promotion.
    pub promotion_id: PromotionId,
    /// How.
    pub channel: Channel,
    /// Where.
    pub address: String,
    /// In which language.
    pub locale: String,
    /// Its link token.
    pub token: String,
    /// Where it stands.
    pub status: MessageStatus,
    /// Not before this instant.
    pub not_before: i64,
    /// Attempts so far.
    pub attempts: i64,
    /// The promotion's title.
    pub title: String,
    /// The promotion's text.
    pub body: String,
}

/// A campaign's figures for HQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignReport {
    /// Its id.
    pub id: i64,
    /// Which promotion.
    pub promotion_id: String,
    /// Its title.
    pub title: String,
    /// When its publication started.
    pub starts_at: i64,
    /// Messages planned in all.
    pub planned: i64,
    /// Waiting (planned, not yet sent).
    pub waiting: i64,
    /// Sent.
    pub sent: i64,
    /// Failed, or lost to a dead sender.
    pub failed: i64,
    /// Not sent by decision.
    pub skipped: i64,
    /// Messages whose link was followed.
    pub clicked: i64,
    /// Uses of the promotion by its recipients after their message.
    pub purchases: i64,
}

/// Reads and writes of reaching customers.
pub trait MessagingTx {
    /// Stores a sign-up waiting for its code.
    fn insert_pending_signup(&mut self, row: &PendingSignupRow) -> Result<(), DbError>;
    /// A waiting sign-up by its token's hash.
    fn pending_signup(&mut self, token_hash: &str) -> Result<Option<PendingSignupRow>, DbError>;
    /// Counts a wrong code.
    fn count_signup_attempt(&mut self, token_hash: &str) -> Result<(), DbError>;
    /// Forgets a sign-up (confirmed, or out of attempts).
    fn delete_pending_signup(&mut self, token_hash: &str) -> Result<(), DbError>;
    /// The merchant's customer with this e-mail address or phone number.
    fn customer_by_contact(
        &mut self,
        merchant: MerchantId,
        channel: Channel,
        address: &str,
    ) -> Result<Option<CustomerId>, DbError>;
    /// Stores a link recovery waiting for its code.
    fn insert_recovery(&mut self, row: &RecoveryRow) -> Result<(), DbError>;
    /// A link recovery by its token's hash.
    fn recovery(&mut self, token_hash: &str) -> Result<Option<RecoveryRow>, DbError>;
    /// Counts a wrong code.
    fn count_recovery_attempt(&mut self, token_hash: &str) -> Result<(), DbError>;
    /// Forgets a link recovery.
    fn delete_recovery(&mut self, token_hash: &str) -> Result<(), DbError>;
    /// Stores or replaces a customer's consent on a channel.
    fn put_consent(&mut self, consent: &ConsentRow) -> Result<(), DbError>;
    /// A customer's consents.
    fn consents(&mut self, customer: CustomerId) -> Result<Vec<ConsentRow>, DbError>;
    /// The merchant's live consents (confirmed, not withdrawn).
    fn live_consents(&mut self, merchant: MerchantId) -> Result<Vec<ConsentRow>, DbError>;
    /// Withdraws a consent, if live.
    fn withdraw_consent(
        &mut self,
        customer: CustomerId,
        channel: Channel,
        at: i64,
    ) -> Result<(), DbError>;
    /// Never writes to this address again.
    fn suppress_address(
        &mut self,
        channel: Channel,
        address: &str,
        reason: &str,
        at: i64,
    ) -> Result<(), DbError>;
    /// Whether this address is suppressed.
    fn is_suppressed(&mut self, channel: Channel, address: &str) -> Result<bool, DbError>;
    /// Whether the merchant's promotion has its campaign.
    fn has_campaign(
        &mut self,
        merchant: MerchantId,
        promotion: &PromotionId,
    ) -> Result<bool, DbError>;
    /// Stores a campaign; `None` if the promotion has one already.
    fn insert_campaign(&mut self, campaign: &NewCampaign) -> Result<Option<i64>, DbError>;
    /// Plans a message; false if its key was planned before.
    fn plan_message(&mut self, message: &NewMessage) -> Result<bool, DbError>;
    /// Planned messages due at `now`, oldest first.
    fn due_messages(&mut self, now: i64, limit: usize) -> Result<Vec<MessageRow>, DbError>;
    /// Claims a planned message for sending; false if another took it.
    fn claim_message(&mut self, id: i64, now: i64) -> Result<bool, DbError>;
    /// Marks a claimed message sent.
    fn mark_sent(&mut self, id: i64, now: i64) -> Result<(), DbError>;
    /// Puts a message back to planned, due at `not_before`.
    fn reschedule_message(&mut self, id: i64, not_before: i64, note: &str) -> Result<(), DbError>;
    /// Ends a message as failed or skipped, with the reason.
    fn finish_message(&mut self, id: i64, status: MessageStatus, note: &str)
    -> Result<(), DbError>;
    /// Marks messages claimed before `claimed_before` and never marked as
    /// unconfirmed; how many.
    fn expire_claims(&mut self, claimed_before: i64) -> Result<u64, DbError>;
    /// How many messages were sent to the customer since `since`.
    fn sent_since(&mut self, customer: CustomerId, since: i64) -> Result<i64, DbError>;
    /// A message by its link token.
    fn message_by_token(&mut self, token: &str) -> Result<Option<MessageRow>, DbError>;
    /// Notes that a message's link was followed (the first time counts).
    fn mark_clicked(&mut self, id: i64, at: i64) -> Result<(), DbError>;
    /// The merchant's campaigns, newest first.
    fn campaign_reports(&mut self, merchant: MerchantId) -> Result<Vec<CampaignReport>, DbError>;
}

fn one<T>(rows: Vec<T>) -> Option<T> {
    rows.into_iter().next()
}

fn id_of<T: TryFrom<i64>>(v: &SqlValue) -> Result<T, DbError> {
    let n = v.int()?.ok_or_else(|| DbError::other("a NULL id"))?;
    T::try_from(n).map_err(|_| DbError::other(format!("{n} is not a valid id")))
}

fn need_int(v: &SqlValue) -> Result<i64, DbError> {
    v.int()?.ok_or_else(|| DbError::other("an unexpected NULL"))
}

fn need_text(v: &SqlValue) -> Result<String, DbError> {
    v.text()?
        .ok_or_else(|| DbError::other("an unexpected NULL"))
}

fn promotion(v: &SqlValue) -> Result<PromotionId, DbError> {
    let t = need_text(v)?;
    PromotionId::parse(&t).map_err(|e| DbError::other(format!("promotion id {t:?}: {e}")))
}

fn consent_row(r: &[SqlValue]) -> Result<ConsentRow, DbError> {
    Ok(ConsentRow {
        customer_id: id_of(&r[0])?,
        channel: Channel::parse(&need_text(&r[1])?)?,
        address: need_text(&r[2])?,
        locale: need_text(&r[3])?,
        wording: need_text(&r[4])?,
        granted_at: need_int(&r[5])?,
        confirmed_at: r[6].int()?,
        withdrawn_at: r[7].int()?,
    })
}

const CONSENT_COLUMNS: &str = "SELECT c.customer_id, c.channel, c.address, c.locale, c.wording,
        c.granted_at, c.confirmed_at, c.withdrawn_at FROM marketing_consents c";

const MESSAGE_COLUMNS: &str = "SELECT o.id, o.campaign_id, k.merchant_id, o.customer_id,
        o.promotion_id, o.channel, o.address, o.locale, o.token, o.status, o.not_before,
        o.attempts, k.title, k.body
    FROM message_outbox o JOIN campaigns k ON k.id = o.campaign_id";

fn message_row(r: &[SqlValue]) -> Result<MessageRow, DbError> {
    Ok(MessageRow {
        id: need_int(&r[0])?,
        campaign_id: need_int(&r[1])?,
        merchant_id: id_of(&r[2])?,
        customer_id: id_of(&r[3])?,
        promotion_id: promotion(&r[4])?,
        channel: Channel::parse(&need_text(&r[5])?)?,
        address: need_text(&r[6])?,
        locale: need_text(&r[7])?,
        token: need_text(&r[8])?,
        status: MessageStatus::parse(&need_text(&r[9])?)?,
        not_before: need_int(&r[10])?,
        attempts: need_int(&r[11])?,
        title: need_text(&r[12])?,
        body: need_text(&r[13])?,
    })
}

impl<T: SqlRows + ?Sized> MessagingTx for T {
    fn insert_pending_signup(&mut self, row: &PendingSignupRow) -> Result<(), DbError> {
        self.exec(
            "DELETE FROM pending_signups WHERE expires_at <= ?1",
            &[int(row.expires_at - 86_400)],
        )?;
        self.exec(
            "INSERT INTO pending_signups
                 (token_hash, merchant_id, signup, code_hash, attempts, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &[
                text(&row.token_hash),
                int(row.merchant_id.get()),
                text(&row.signup),
                text(&row.code_hash),
                int(row.attempts),
                int(row.expires_at),
            ],
        )?;
        Ok(())
    }

    fn pending_signup(&mut self, token_hash: &str) -> Result<Option<PendingSignupRow>, DbError> {
        let rows = self.rows(
            "SELECT token_hash, merchant_id, signup, code_hash, attempts, expires_at
             FROM pending_signups WHERE token_hash = ?1",
            &[text(token_hash)],
        )?;
        one(rows)
            .map(|r| {
                Ok(PendingSignupRow {
                    token_hash: need_text(&r[0])?,
                    merchant_id: id_of(&r[1])?,
                    signup: need_text(&r[2])?,
                    code_hash: need_text(&r[3])?,
                    attempts: need_int(&r[4])?,
                    expires_at: need_int(&r[5])?,
                })
            })
            .transpose()
    }

    fn count_signup_attempt(&mut self, token_hash: &str) -> Result<(), DbError> {
        self.exec(
            "UPDATE pending_signups SET attempts = attempts + 1 WHERE token_hash = ?1",
            &[text(token_hash)],
        )?;
        Ok(())
    }

    fn delete_pending_signup(&mut self, token_hash: &str) -> Result<(), DbError> {
        self.exec(
            "DELETE FROM pending_signups WHERE token_hash = ?1",
            &[text(token_hash)],
        )?;
        Ok(())
    }

    fn customer_by_contact(
        &mut self,
        merchant: MerchantId,
        channel: Channel,
        address: &str,
    ) -> Result<Option<CustomerId>, DbError> {
        let sql = match channel {
            Channel::Email => {
                "SELECT id FROM customers WHERE merchant_id = ?1 AND email = ?2 ORDER BY id LIMIT 1"
            }
            Channel::Sms => {
                "SELECT id FROM customers WHERE merchant_id = ?1 AND phone = ?2 ORDER BY id LIMIT 1"
            }
        };
        one(self.rows(sql, &[int(merchant.get()), text(address)])?)
            .map(|r| id_of(&r[0]))
            .transpose()
    }

    fn insert_recovery(&mut self, row: &RecoveryRow) -> Result<(), DbError> {
        self.exec(
            "DELETE FROM link_recoveries WHERE expires_at <= ?1",
            &[int(row.expires_at - 86_400)],
        )?;
        self.exec(
            "INSERT INTO link_recoveries
                 (token_hash, merchant_id, customer_id, code_hash, attempts, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &[
                text(&row.token_hash),
                int(row.merchant_id.get()),
                opt_int(row.customer_id.map(CustomerId::get)),
                text(&row.code_hash),
                int(row.attempts),
                int(row.expires_at),
            ],
        )?;
        Ok(())
    }

    fn recovery(&mut self, token_hash: &str) -> Result<Option<RecoveryRow>, DbError> {
        let rows = self.rows(
            "SELECT token_hash, merchant_id, customer_id, code_hash, attempts, expires_at
             FROM link_recoveries WHERE token_hash = ?1",
            &[text(token_hash)],
        )?;
        one(rows)
            .map(|r| {
                Ok(RecoveryRow {
                    token_hash: need_text(&r[0])?,
                    merchant_id: id_of(&r[1])?,
                    customer_id: match r[2].int()? {
                        Some(_) => Some(id_of(&r[2])?),
                        None => None,
                    },
                    code_hash: need_text(&r[3])?,
                    attempts: need_int(&r[4])?,
                    expires_at: need_int(&r[5])?,
                })
            })
            .transpose()
    }

    fn count_recovery_attempt(&mut self, token_hash: &str) -> Result<(), DbError> {
        self.exec(
            "UPDATE link_recoveries SET attempts = attempts + 1 WHERE token_hash = ?1",
            &[text(token_hash)],
        )?;
        Ok(())
    }

    fn delete_recovery(&mut self, token_hash: &str) -> Result<(), DbError> {
        self.exec(
            "DELETE FROM link_recoveries WHERE token_hash = ?1",
            &[text(token_hash)],
        )?;
        Ok(())
    }

    fn put_consent(&mut self, c: &ConsentRow) -> Result<(), DbError> {
        self.exec(
            "INSERT INTO marketing_consents (customer_id, channel, address, locale, wording,
                 granted_at, confirmed_at, withdrawn_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (customer_id, channel) DO UPDATE SET
                 address = excluded.address, locale = excluded.locale,
                 wording = excluded.wording, granted_at = excluded.granted_at,
                 confirmed_at = excluded.confirmed_at, withdrawn_at = excluded.withdrawn_at",
            &[
                int(c.customer_id.get()),
                text(c.channel.as_str()),
                text(&c.address),
                text(&c.locale),
                text(&c.wording),
                int(c.granted_at),
                opt_int(c.confirmed_at),
                opt_int(c.withdrawn_at),
            ],
        )?;
        Ok(())
    }

    fn consents(&mut self, customer: CustomerId) -> Result<Vec<ConsentRow>, DbError> {
        let sql = format!("{CONSENT_COLUMNS} WHERE c.customer_id = ?1 ORDER BY c.channel");
        self.rows(&sql, &[int(customer.get())])?
            .iter()
            .map(|r| consent_row(r))
            .collect()
    }

    fn live_consents(&mut self, merchant: MerchantId) -> Result<Vec<ConsentRow>, DbError> {
        let sql = format!(
            "{CONSENT_COLUMNS} JOIN customers u ON u.id = c.customer_id
             WHERE u.merchant_id = ?1 AND c.confirmed_at IS NOT NULL
               AND c.withdrawn_at IS NULL
             ORDER BY c.customer_id, c.channel"
        );
        self.rows(&sql, &[int(merchant.get())])?
            .iter()
            .map(|r| consent_row(r))
            .collect()
    }

    fn withdraw_consent(
        &mut self,
        customer: CustomerId,
        channel: Channel,
        at: i64,
    ) -> Result<(), DbError> {
        self.exec(
            "UPDATE marketing_consents SET withdrawn_at = ?3
             WHERE customer_id = ?1 AND channel = ?2 AND withdrawn_at IS NULL",
            &[int(customer.get()), text(channel.as_str()), int(at)],
        )?;
        Ok(())
    }

    fn suppress_address(
        &mut self,
        channel: Channel,
        address: &str,
        reason: &str,
        at: i64,
    ) -> Result<(), DbError> {
        self.exec(
            "INSERT INTO suppressed_addresses (channel, address, reason, at)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (channel, address) DO NOTHING",
            &[text(channel.as_str()), text(address), text(reason), int(at)],
        )?;
        Ok(())
    }

    fn is_suppressed(&mut self, channel: Channel, address: &str) -> Result<bool, DbError> {
        let rows = self.rows(
            "SELECT COUNT(*) FROM suppressed_addresses WHERE channel = ?1 AND address = ?2",
            &[text(channel.as_str()), text(address)],
        )?;
        Ok(one(rows).map(|r| need_int(&r[0])).transpose()?.unwrap_or(0) > 0)
    }

    fn has_campaign(
        &mut self,
        merchant: MerchantId,
        promotion: &PromotionId,
    ) -> Result<bool, DbError> {
        let rows = self.rows(
            "SELECT COUNT(*) FROM campaigns WHERE merchant_id = ?1 AND promotion_id = ?2",
            &[int(merchant.get()), text(promotion.as_str())],
        )?;
        Ok(one(rows).map(|r| need_int(&r[0])).transpose()?.unwrap_or(0) > 0)
    }

    fn insert_campaign(&mut self, c: &NewCampaign) -> Result<Option<i64>, DbError> {
        let rows = self.rows(
            "INSERT INTO campaigns (merchant_id, promotion_id, title, body, starts_at, planned_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (merchant_id, promotion_id) DO NOTHING
             RETURNING id",
            &[
                int(c.merchant_id.get()),
                text(c.promotion_id.as_str()),
                text(&c.title),
                text(&c.body),
                int(c.starts_at),
                int(c.planned_at),
            ],
        )?;
        one(rows).map(|r| need_int(&r[0])).transpose()
    }

    fn plan_message(&mut self, m: &NewMessage) -> Result<bool, DbError> {
        let n = self.exec(
            "INSERT INTO message_outbox (campaign_id, customer_id, promotion_id, channel,
                 address, locale, token, status, not_before, attempts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'planned', ?8, 0)
             ON CONFLICT (customer_id, promotion_id, channel) DO NOTHING",
            &[
                int(m.campaign_id),
                int(m.customer_id.get()),
                text(m.promotion_id.as_str()),
                text(m.channel.as_str()),
                text(&m.address),
                text(&m.locale),
                text(&m.token),
                int(m.not_before),
            ],
        )?;
        Ok(n == 1)
    }

    fn due_messages(&mut self, now: i64, limit: usize) -> Result<Vec<MessageRow>, DbError> {
        let sql = format!(
            "{MESSAGE_COLUMNS} WHERE o.status = 'planned' AND o.not_before <= ?1
             ORDER BY o.not_before, o.id LIMIT ?2"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.rows(&sql, &[int(now), int(limit)])?
            .iter()
            .map(|r| message_row(r))
            .collect()
    }

    fn claim_message(&mut self, id: i64, now: i64) -> Result<bool, DbError> {
        let n = self.exec(
            "UPDATE message_outbox SET status = 'sending', claimed_at = ?2,
                 attempts = attempts + 1
             WHERE id = ?1 AND status = 'planned'",
            &[int(id), int(now)],
        )?;
        Ok(n == 1)
    }

    fn mark_sent(&mut self, id: i64, now: i64) -> Result<(), DbError> {
        self.exec(
            "UPDATE message_outbox SET status = 'sent', sent_at = ?2, note = NULL,
                 after_record_id = (SELECT COALESCE(MAX(r.id), 0) FROM records r)
             WHERE id = ?1 AND status = 'sending'",
            &[int(id), int(now)],
        )?;
        Ok(())
    }

    fn reschedule_message(&mut self, id: i64, not_before: i64, note: &str) -> Result<(), DbError> {
        self.exec(
            "UPDATE message_outbox SET status = 'planned', not_before = ?2, note = ?3
             WHERE id = ?1 AND status IN ('planned', 'sending')",
            &[int(id), int(not_before), text(note)],
        )?;
        Ok(())
    }

    fn finish_message(
        &mut self,
        id: i64,
        status: MessageStatus,
        note: &str,
    ) -> Result<(), DbError> {
        self.exec(
            "UPDATE message_outbox SET status = ?2, note = ?3
             WHERE id = ?1 AND status IN ('planned', 'sending')",
            &[int(id), text(status.as_str()), text(note)],
        )?;
        Ok(())
    }

    fn expire_claims(&mut self, claimed_before: i64) -> Result<u64, DbError> {
        self.exec(
            "UPDATE message_outbox SET status = 'unconfirmed',
                 note = 'the sender stopped between claiming and marking it'
             WHERE status = 'sending' AND claimed_at < ?1",
            &[int(claimed_before)],
        )
    }

    fn sent_since(&mut self, customer: CustomerId, since: i64) -> Result<i64, DbError> {
        let rows = self.rows(
            "SELECT COUNT(*) FROM message_outbox
             WHERE customer_id = ?1 AND status IN ('sent', 'sending', 'unconfirmed')
               AND claimed_at >= ?2",
            &[int(customer.get()), int(since)],
        )?;
        Ok(one(rows).map(|r| need_int(&r[0])).transpose()?.unwrap_or(0))
    }

    fn message_by_token(&mut self, token: &str) -> Result<Option<MessageRow>, DbError> {
        let sql = format!("{MESSAGE_COLUMNS} WHERE o.token = ?1");
        one(self.rows(&sql, &[text(token)])?)
            .map(|r| message_row(&r))
            .transpose()
    }

    fn mark_clicked(&mut self, id: i64, at: i64) -> Result<(), DbError> {
        self.exec(
            "UPDATE message_outbox SET clicked_at = ?2 WHERE id = ?1 AND clicked_at IS NULL",
            &[int(id), int(at)],
        )?;
        Ok(())
    }

    fn campaign_reports(&mut self, merchant: MerchantId) -> Result<Vec<CampaignReport>, DbError> {
        let rows = self.rows(
            "SELECT k.id, k.promotion_id, k.title, k.starts_at,
                 (SELECT COUNT(*) FROM message_outbox o WHERE o.campaign_id = k.id),
                 (SELECT COUNT(*) FROM message_outbox o
                  WHERE o.campaign_id = k.id AND o.status IN ('planned', 'sending')),
                 (SELECT COUNT(*) FROM message_outbox o
                  WHERE o.campaign_id = k.id AND o.status = 'sent'),
                 (SELECT COUNT(*) FROM message_outbox o
                  WHERE o.campaign_id = k.id AND o.status IN ('failed', 'unconfirmed')),
                 (SELECT COUNT(*) FROM message_outbox o
                  WHERE o.campaign_id = k.id AND o.status = 'skipped'),
                 (SELECT COUNT(*) FROM message_outbox o
                  WHERE o.campaign_id = k.id AND o.clicked_at IS NOT NULL),
                 (SELECT CAST(COALESCE(SUM(u.uses), 0) AS BIGINT)
                  FROM message_outbox o
                  JOIN records r ON r.customer_id = o.customer_id AND r.id > o.after_record_id
                  JOIN promotion_uses u ON u.register_id = r.register_id AND u.seq = r.seq
                       AND u.promotion_id = o.promotion_id
                  WHERE o.campaign_id = k.id AND o.status = 'sent'
                    AND o.channel = (SELECT MIN(p.channel) FROM message_outbox p
                                     WHERE p.campaign_id = k.id
                                       AND p.customer_id = o.customer_id
                                       AND p.status = 'sent'))
             FROM campaigns k WHERE k.merchant_id = ?1
             ORDER BY k.id DESC",
            &[int(merchant.get())],
        )?;
        rows.iter()
            .map(|r| {
                Ok(CampaignReport {
                    id: need_int(&r[0])?,
                    promotion_id: need_text(&r[1])?,
                    title: need_text(&r[2])?,
                    starts_at: need_int(&r[3])?,
                    planned: need_int(&r[4])?,
                    waiting: need_int(&r[5])?,
                    sent: need_int(&r[6])?,
                    failed: need_int(&r[7])?,
                    skipped: need_int(&r[8])?,
                    clicked: need_int(&r[9])?,
                    purchases: need_int(&r[10])?,
                })
            })
            .collect()
    }
}
