//! What messages say: askama templates in Russian and English, an HTML
//! and a plain-text part for e-mail, one short text for SMS.

use askama::Template;

use super::channels::{Email, InlinePicture};

#[derive(Template)]
#[template(path = "messages/promotion.txt")]
struct PromotionText<'a> {
    en: bool,
    title: &'a str,
    body: &'a str,
    link: &'a str,
    unsubscribe: &'a str,
}

#[derive(Template)]
#[template(path = "messages/promotion.html")]
struct PromotionHtml<'a> {
    en: bool,
    title: &'a str,
    body: &'a str,
    /// The merchant's rich description, already made safe.
    description_html: Option<&'a str>,
    /// The picture's `Content-ID`.
    picture_cid: Option<&'a str>,
    link: &'a str,
    unsubscribe: &'a str,
}

#[derive(Template)]
#[template(path = "messages/code.txt")]
struct CodeText<'a> {
    en: bool,
    merchant: &'a str,
    code: &'a str,
    minutes: u64,
}

#[derive(Template)]
#[template(path = "messages/code.html")]
struct CodeHtml<'a> {
    en: bool,
    merchant: &'a str,
    code: &'a str,
    minutes: u64,
}

/// A promotion's message.
#[derive(Debug, Clone)]
pub struct PromotionMessage<'a> {
    /// `ru` or `en`.
    pub locale: &'a str,
    /// The promotion's title.
    pub title: &'a str,
    /// Its text.
    pub body: &'a str,
    /// The tracked link to the offer and the customer's card.
    pub link: &'a str,
    /// The unsubscribe link.
    pub unsubscribe: &'a str,
    /// The promotion's content, where the merchant gave it one.
    pub content: Option<&'a RichContent>,
}

/// What a merchant gave a promotion beyond its rules: a description in
/// Markdown and a picture (see [`crate::services::content`]).
#[derive(Debug, Clone)]
pub struct RichContent {
    /// The description as typed (Markdown); the plain-text part shows it.
    pub markdown: String,
    /// The same, rendered into safe HTML ([`crate::rich_text::render`]).
    pub html: String,
    /// The picture (its thumbnail, at most 640 pixels a side) and its type.
    pub picture: Option<(String, Vec<u8>)>,
}

/// The e-mail of a promotion.
pub fn promotion_email(
    to: &str,
    m: &PromotionMessage<'_>,
    message_id: String,
) -> Result<Email, askama::Error> {
    let en = m.locale == "en";
    let described = m.content.filter(|c| !c.markdown.trim().is_empty());
    let picture = m
        .content
        .and_then(|c| c.picture.as_ref())
        .map(|(content_type, bytes)| InlinePicture {
            content_id: format!(
                "picture.{}",
                message_id.trim_matches(|c| c == '<' || c == '>')
            ),
            content_type: content_type.clone(),
            bytes: bytes.clone(),
        });
    Ok(Email {
        to: to.to_owned(),
        subject: m.title.to_owned(),
        text: PromotionText {
            en,
            title: m.title,
            body: described.map_or(m.body, |c| c.markdown.as_str()),
            link: m.link,
            unsubscribe: m.unsubscribe,
        }
        .render()?,
        html: PromotionHtml {
            en,
            title: m.title,
            body: m.body,
            description_html: described.map(|c| c.html.as_str()),
            picture_cid: picture.as_ref().map(|p| p.content_id.as_str()),
            link: m.link,
            unsubscribe: m.unsubscribe,
        }
        .render()?,
        unsubscribe: Some(m.unsubscribe.to_owned()),
        message_id: Some(message_id),
        picture,
    })
}

/// The SMS of a promotion: title, link, and the opt-out link.
#[must_use]
pub fn promotion_sms(m: &PromotionMessage<'_>) -> String {
    if m.locale == "en" {
        format!("{}. {} Stop: {}", m.title, m.link, m.unsubscribe)
    } else {
        format!("{}. {} Отписаться: {}", m.title, m.link, m.unsubscribe)
    }
}

/// The e-mail carrying a sign-up's one-time code.
pub fn code_email(
    to: &str,
    locale: &str,
    merchant: &str,
    code: &str,
    minutes: u64,
) -> Result<Email, askama::Error> {
    let en = locale == "en";
    Ok(Email {
        to: to.to_owned(),
        subject: if en {
            format!("Your code: {code}")
        } else {
            format!("Ваш код: {code}")
        },
        text: CodeText {
            en,
            merchant,
            code,
            minutes,
        }
        .render()?,
        html: CodeHtml {
            en,
            merchant,
            code,
            minutes,
        }
        .render()?,
        unsubscribe: None,
        message_id: None,
        picture: None,
    })
}

/// The SMS carrying a sign-up's one-time code.
#[must_use]
pub fn code_sms(locale: &str, merchant: &str, code: &str) -> String {
    if locale == "en" {
        format!("{merchant}: your code {code}")
    } else {
        format!("{merchant}: ваш код {code}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotion_mail_has_both_parts_in_the_customer_language() {
        let m = PromotionMessage {
            locale: "en",
            title: "Milk <−10 %>",
            body: "All week",
            link: "https://l.example/m/t",
            unsubscribe: "https://l.example/m/t/unsubscribe",
            content: None,
        };
        let mail = promotion_email("a@example.com", &m, "<k@l>".into()).unwrap();
        assert!(mail.picture.is_none() && !mail.html.contains("<img"));
        assert!(mail.text.contains("Milk <−10 %>") && mail.text.contains("Unsubscribe"));
        assert!(
            mail.html.contains("Milk &#60;−10 %&#62;") || mail.html.contains("Milk &lt;−10 %&gt;")
        );
        let ru = PromotionMessage { locale: "ru", ..m };
        let mail = promotion_email("a@example.com", &ru, "<k@l>".into()).unwrap();
        assert!(mail.text.contains("Отписаться"));
        assert!(promotion_sms(&ru).contains("Отписаться: https://l.example/m/t/unsubscribe"));
    }

    #[test]
    fn promotion_mail_carries_the_rich_description_and_the_picture_inline() {
        let rich = RichContent {
            markdown: "**Fresh** milk".into(),
            html: crate::rich_text::render("**Fresh** milk"),
            picture: Some(("image/jpeg".into(), vec![0xFF, 0xD8, 0xFF])),
        };
        let m = PromotionMessage {
            locale: "en",
            title: "Milk",
            body: "All week",
            link: "https://l.example/m/t",
            unsubscribe: "https://l.example/m/t/unsubscribe",
            content: Some(&rich),
        };
        let mail = promotion_email("a@example.com", &m, "<campaign-1-2@loyalty>".into()).unwrap();
        let picture = mail.picture.expect("a picture");
        assert_eq!(picture.content_id, "picture.campaign-1-2@loyalty");
        assert_eq!(picture.bytes, vec![0xFF, 0xD8, 0xFF]);
        assert!(
            mail.html
                .contains("src=\"cid:picture.campaign-1-2@loyalty\""),
            "{}",
            mail.html
        );
        assert!(
            mail.html.contains("<strong>Fresh</strong> milk"),
            "{}",
            mail.html
        );
        assert!(mail.text.contains("**Fresh** milk"));
        // An empty description leaves the promotion's own text.
        let bare = RichContent {
            markdown: " ".into(),
            html: String::new(),
            picture: None,
        };
        let m = PromotionMessage {
            content: Some(&bare),
            ..m
        };
        let mail = promotion_email("a@example.com", &m, "<k@l>".into()).unwrap();
        assert!(mail.text.contains("All week") && mail.html.contains("All week"));
        assert!(mail.picture.is_none());
    }
}
