//! What messages say: askama templates in Russian and English, an HTML
//! and a plain-text part for e-mail, one short text for SMS.

use askama::Template;

use super::channels::Email;

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
}

/// The e-mail of a promotion.
pub fn promotion_email(
    to: &str,
    m: &PromotionMessage<'_>,
    message_id: String,
) -> Result<Email, askama::Error> {
    let en = m.locale == "en";
    Ok(Email {
        to: to.to_owned(),
        subject: m.title.to_owned(),
        text: PromotionText {
            en,
            title: m.title,
            body: m.body,
            link: m.link,
            unsubscribe: m.unsubscribe,
        }
        .render()?,
        html: PromotionHtml {
            en,
            title: m.title,
            body: m.body,
            link: m.link,
            unsubscribe: m.unsubscribe,
        }
        .render()?,
        unsubscribe: Some(m.unsubscribe.to_owned()),
        message_id: Some(message_id),
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
        };
        let mail = promotion_email("a@example.com", &m, "<k@l>".into()).unwrap();
        assert!(mail.text.contains("Milk <−10 %>") && mail.text.contains("Unsubscribe"));
        assert!(
            mail.html.contains("Milk &#60;−10 %&#62;") || mail.html.contains("Milk &lt;−10 %&gt;")
        );
        let ru = PromotionMessage { locale: "ru", ..m };
        let mail = promotion_email("a@example.com", &ru, "<k@l>".into()).unwrap();
        assert!(mail.text.contains("Отписаться"));
        assert!(promotion_sms(&ru).contains("Отписаться: https://l.example/m/t/unsubscribe"));
    }
}
