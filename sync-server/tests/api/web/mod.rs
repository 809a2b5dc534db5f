//! The browser pages over real HTTP and real SQLite files: HQ sign-in,
//! sessions and form tokens, the dashboard's figures against the JSON
//! statistics, the set-up forms, the customer's page and sign-up; and the
//! same pages rendered by a real headless Chromium.
//!
//! Page helpers: an HQ browser that signs in like a person (a form post,
//! a cookie) and reads values out of the returned HTML.

mod analytics;
mod browser;
// Shared by path with the system tests: some helpers serve only them.
#[allow(dead_code)]
mod chrome;
mod content;
mod customer;
mod dashboard;
mod drafts;
mod editor;
mod fleet;
mod forms;
mod hq;
mod languages;
mod messaging;
mod people;
mod programme;
mod referrals;
mod reviews;
mod setup;
mod support;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, HeaderName, LOCATION, ORIGIN, SET_COOKIE};

use crate::helpers::{ADMIN_TOKEN, TestServer};

/// A client that shows redirects instead of following them.
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The `Location` of a redirect.
pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A signed-in HQ browser: the session cookie and the form token.
pub struct Hq {
    pub base: String,
    pub http: reqwest::Client,
    /// `hq_session=<id>`.
    pub cookie: String,
    pub csrf: String,
}

impl Hq {
    /// Signs in with the admin token through the sign-in form.
    pub async fn sign_in(server: &TestServer) -> Self {
        let http = no_redirects();
        let response = http
            .post(format!("{}/hq/login", server.base))
            .form(&[("token", ADMIN_TOKEN), ("next", "/hq")])
            .send()
            .await
            .expect("sign in");
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        let cookie = set_cookie
            .split(';')
            .next()
            .expect("a cookie")
            .trim()
            .to_owned();
        let mut hq = Hq {
            base: server.base.clone(),
            http,
            cookie,
            csrf: String::new(),
        };
        let (status, home) = hq.get("/hq").await;
        assert_eq!(status, StatusCode::OK, "{home}");
        hq.csrf = input_value(&home, "csrf").expect("the page carries the form token");
        hq
    }

    /// A page with the session cookie.
    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .expect("get");
        let status = response.status();
        (status, response.text().await.expect("body"))
    }

    /// A form with the session cookie and its token, from a plain client.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_exactly(path, &all, Sender::Client).await
    }

    /// A form with the session cookie and exactly `fields`, from `sender`.
    pub async fn post_exactly(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        sender: Sender<'_>,
    ) -> reqwest::Response {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .form(fields);
        sender.apply(request).send().await.expect("post")
    }
}

/// Who sends a form in the HTTP-level tests. None of them pretends to be
/// the browser on these pages: the headers a browser sets itself are
/// tested by a real Chromium (`forms`), never made by hand.
#[derive(Debug, Clone, Copy)]
pub enum Sender<'a> {
    /// A plain HTTP client: no `Origin`, no fetch metadata.
    Client,
    /// An attacker's page at this origin, as a browser reports it posting
    /// across sites.
    OtherSite(&'a str),
}

impl Sender<'_> {
    /// The request with this sender's headers.
    pub fn apply(self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Sender::Client => request,
            Sender::OtherSite(origin) => request
                .header(ORIGIN, origin)
                .header(HeaderName::from_static("sec-fetch-site"), "cross-site"),
        }
    }
}

/// The `value` of the first `<input name="{name}" …>` on the page.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    attribute(&html[tag_start..tag_end], "value")
}

/// The value of `attr="…"` in `tag`.
pub fn attribute(tag: &str, attr: &str) -> Option<String> {
    let marker = format!("{attr}=\"");
    let start = tag.find(&marker)? + marker.len();
    let end = start + tag[start..].find('"')?;
    Some(tag[start..end].to_owned())
}

/// A figure on a page: the element with `data-figure="{key}"` after the
/// first occurrence of `scope` — its exact kopecks, if it carries them,
/// and its text.
pub fn figure(html: &str, scope: &str, key: &str) -> (Option<i64>, String) {
    let from = html
        .find(scope)
        .unwrap_or_else(|| panic!("{scope} is not on the page"));
    let rest = &html[from..];
    let at = rest
        .find(&format!("data-figure=\"{key}\""))
        .unwrap_or_else(|| panic!("no {key} after {scope}"));
    let tag_start = rest[..at].rfind('<').expect("tag start");
    let tag_end = at + rest[at..].find('>').expect("tag end");
    let kopecks = attribute(&rest[tag_start..tag_end], "data-kopecks")
        .map(|k| k.parse().expect("kopecks are an integer"));
    let text_end = tag_end + 1 + rest[tag_end + 1..].find('<').expect("text end");
    (kopecks, rest[tag_end + 1..text_end].to_owned())
}

/// Digits grouped by thousands with no-break spaces.
fn grouped(digits: &str) -> String {
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{a0}');
        }
        out.push(digit);
    }
    out
}

/// How the pages write an amount, spelled out independently: roubles
/// grouped by thousands with no-break spaces, a comma, two digits of
/// kopecks, and the rouble sign.
pub fn roubles(kopecks: i64) -> String {
    let sign = if kopecks < 0 { "-" } else { "" };
    let abs = kopecks.unsigned_abs();
    format!(
        "{sign}{},{:02}\u{a0}₽",
        grouped(&(abs / 100).to_string()),
        abs % 100
    )
}

/// A count as the pages write it.
pub fn count(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "" };
    format!("{sign}{}", grouped(&n.unsigned_abs().to_string()))
}

#[test]
fn the_spelled_out_formats() {
    assert_eq!(roubles(123_456), "1\u{a0}234,56\u{a0}₽");
    assert_eq!(roubles(-5), "-0,05\u{a0}₽");
    assert_eq!(count(1_234_567), "1\u{a0}234\u{a0}567");
}
