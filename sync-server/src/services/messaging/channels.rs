//! The ways out: e-mail through an SMTP relay (lettre, tokio, rustls) and
//! SMS through an HTTP gateway behind [`SmsGateway`], with a driver for
//! SMS.ru's API and a templated one for any other gateway. Each send says
//! whether a failure is worth a retry ([`SendError::Transient`]) or says
//! the address is bad for good ([`SendError::Permanent`]: an SMTP 5xx, an
//! invalid number).

use std::time::Duration;

use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart, header};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport as _, Message, Tokio1Executor};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::config::{SmsDriverKind, SmsSettings};

/// Why a message did not leave.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Try again later (relay down, 4xx, gateway busy).
    #[error("transient: {0}")]
    Transient(String),
    /// The address is bad: never write to it again.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// Why a channel could not be set up from the settings.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ChannelSetupError(String);

/// An e-mail ready to go.
#[derive(Debug, Clone)]
pub struct Email {
    /// To.
    pub to: String,
    /// Subject.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
    /// The one-click unsubscribe URL (RFC 8058), for campaign messages.
    pub unsubscribe: Option<String>,
    /// A stable `Message-ID` (the outbox key), so a copy is recognisable.
    pub message_id: Option<String>,
    /// A picture the HTML part shows as `cid:…`.
    pub picture: Option<InlinePicture>,
}

/// A picture carried inside the e-mail (`multipart/related`), so that it
/// shows without the mail client fetching anything from the server.
#[derive(Debug, Clone)]
pub struct InlinePicture {
    /// Its `Content-ID`, without the angle brackets: the HTML names it
    /// `cid:{content_id}`.
    pub content_id: String,
    /// `image/jpeg` or `image/png`.
    pub content_type: String,
    /// The picture.
    pub bytes: Vec<u8>,
}

/// The SMTP relay.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

impl Mailer {
    /// The relay at `url` (`smtp://host:port`), sending as `from`.
    pub fn new(url: &str, from: &str) -> Result<Mailer, ChannelSetupError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| ChannelSetupError(format!("notify.smtp_url: {e}")))?
            .timeout(Some(Duration::from_secs(30)))
            .build();
        let from = from
            .parse()
            .map_err(|e| ChannelSetupError(format!("notify.from: {e}")))?;
        Ok(Mailer { transport, from })
    }

    /// Hands one e-mail to the relay.
    #[tracing::instrument(skip_all)]
    pub async fn send(&self, email: &Email) -> Result<(), SendError> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|e| SendError::Permanent(format!("address {:?}: {e}", email.to)))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&email.subject);
        if let Some(id) = &email.message_id {
            builder = builder.message_id(Some(id.clone()));
        }
        if let Some(url) = &email.unsubscribe {
            builder = builder
                .header(ListUnsubscribe(format!("<{url}>")))
                .header(ListUnsubscribePost);
        }
        let text = SinglePart::builder()
            .header(header::ContentType::TEXT_PLAIN)
            .body(email.text.clone());
        let html = SinglePart::builder()
            .header(header::ContentType::TEXT_HTML)
            .body(email.html.clone());
        let body = match &email.picture {
            None => MultiPart::alternative().singlepart(text).singlepart(html),
            Some(picture) => {
                let kind = header::ContentType::parse(&picture.content_type).map_err(|e| {
                    SendError::Permanent(format!("picture type {:?}: {e}", picture.content_type))
                })?;
                MultiPart::alternative().singlepart(text).multipart(
                    MultiPart::related().singlepart(html).singlepart(
                        Attachment::new_inline(picture.content_id.clone())
                            .body(picture.bytes.clone(), kind),
                    ),
                )
            }
        };
        let message = builder
            .multipart(body)
            .map_err(|e| SendError::Permanent(format!("message: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
            Err(e) => Err(SendError::Transient(e.to_string())),
        }
    }
}

/// `List-Unsubscribe: <https://…>`.
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl header::Header for ListUnsubscribe {
    fn name() -> header::HeaderName {
        header::HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(s.to_owned()))
    }

    fn display(&self) -> header::HeaderValue {
        header::HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl header::Header for ListUnsubscribePost {
    fn name() -> header::HeaderName {
        header::HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribePost)
    }

    fn display(&self) -> header::HeaderValue {
        header::HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}

/// An SMS gateway.
pub trait SmsGateway: Send + Sync + std::fmt::Debug {
    /// Sends `text` to `to` (`+7…`).
    fn send<'a>(
        &'a self,
        to: &'a str,
        text: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<(), SendError>>;
}

/// The gateway of the settings.
pub fn sms_gateway(settings: &SmsSettings) -> Result<Box<dyn SmsGateway>, ChannelSetupError> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| ChannelSetupError(format!("HTTP client: {e}")))?;
    Ok(match settings.driver {
        SmsDriverKind::SmsRu => Box::new(SmsRu {
            http,
            base: settings.url.trim_end_matches('/').to_owned(),
            api_id: settings.api_id.clone(),
        }),
        SmsDriverKind::Template => Box::new(TemplateSms {
            http,
            settings: settings.clone(),
        }),
    })
}

fn transport_error(e: &reqwest::Error) -> SendError {
    SendError::Transient(format!("gateway: {e}"))
}

/// SMS.ru's `POST /sms/send` (form `api_id`, `to`, `msg`, `json=1`): the
/// reply names each number's status; code 202 ("invalid number") and 207
/// ("cannot send to this number") are permanent.
#[derive(Debug)]
struct SmsRu {
    http: reqwest::Client,
    base: String,
    api_id: String,
}

impl SmsGateway for SmsRu {
    fn send<'a>(
        &'a self,
        to: &'a str,
        text: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let number = to.trim_start_matches('+');
            let reply = self
                .http
                .post(format!("{}/sms/send", self.base))
                .form(&[
                    ("api_id", self.api_id.as_str()),
                    ("to", number),
                    ("msg", text),
                    ("json", "1"),
                ])
                .send()
                .await
                .map_err(|e| transport_error(&e))?;
            if !reply.status().is_success() {
                return Err(SendError::Transient(format!("gateway: {}", reply.status())));
            }
            let body: serde_json::Value = reply
                .json()
                .await
                .map_err(|e| SendError::Transient(format!("gateway reply: {e}")))?;
            let per_number = &body["sms"][number];
            let code = per_number["status_code"].as_i64().unwrap_or(0);
            let why = per_number["status_text"].as_str().unwrap_or("").to_owned();
            match (body["status"].as_str(), code) {
                (Some("OK"), 100) => Ok(()),
                (_, 202 | 207) => Err(SendError::Permanent(format!(
                    "number refused ({code}): {why}"
                ))),
                _ => Err(SendError::Transient(format!(
                    "gateway refused ({code}): {why} {}",
                    body["status_text"].as_str().unwrap_or("")
                ))),
            }
        })
    }
}

/// Any gateway: a request built from the `url` and `body` templates;
/// 2xx is sent, a status in `invalid_number_statuses` is permanent,
/// anything else is retried.
#[derive(Debug)]
struct TemplateSms {
    http: reqwest::Client,
    settings: SmsSettings,
}

fn json_escaped(text: &str) -> String {
    let quoted = serde_json::Value::String(text.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

fn url_escaped(text: &str) -> String {
    utf8_percent_encode(text, NON_ALPHANUMERIC).to_string()
}

impl SmsGateway for TemplateSms {
    fn send<'a>(
        &'a self,
        to: &'a str,
        text: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let s = &self.settings;
            let url = s
                .url
                .replace("{to}", &url_escaped(to))
                .replace("{text}", &url_escaped(text));
            let request = if s.body.is_empty() {
                self.http.get(url)
            } else {
                let escape = if s.content_type.contains("json") {
                    json_escaped
                } else {
                    url_escaped
                };
                let body = s
                    .body
                    .replace("{to}", &escape(to))
                    .replace("{text}", &escape(text));
                self.http
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, s.content_type.clone())
                    .body(body)
            };
            let reply = request.send().await.map_err(|e| transport_error(&e))?;
            let status = reply.status();
            if status.is_success() {
                Ok(())
            } else if s.invalid_number_statuses.contains(&status.as_u16()) {
                Err(SendError::Permanent(format!("number refused: {status}")))
            } else {
                Err(SendError::Transient(format!("gateway: {status}")))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_values_are_escaped_for_their_place() {
        assert_eq!(json_escaped("a \"b\"\n"), "a \\\"b\\\"\\n");
        assert_eq!(url_escaped("+7 916"), "%2B7%20916");
    }
}
