//! The pages' languages: Russian and English, with every phrase in Fluent
//! catalogues (`sync-server/locales/{ru,en}/*.ftl`, embedded at build time
//! by `fluent-templates`).
//!
//! The language of a request is chosen once, by [`negotiate`] (a layer over
//! every page): the `lang` cookie that the language switch sets
//! (`GET /lang/{code}?back=…`) wins, else the browser's `Accept-Language`
//! (by its q-values), else Russian. The choice lives in a task-local for the
//! request, so templates (`{{ i18n::t("id") }}`), error pages and the
//! [`format`](super::format) helpers read it without threading it through
//! every call; code run outside a request (tests, background work) gets
//! Russian.

use std::borrow::Cow;
use std::collections::HashMap;

use axum::extract::Request;
use axum::http::header::{ACCEPT_LANGUAGE, CONTENT_LANGUAGE, LOCATION, SET_COOKIE, VARY};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader as _, langid};
use serde::Deserialize;

use crate::web::error::PageError;
use crate::web::extract::{Path, Query};
use crate::web::links;

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "ru",
        // Plain text around arguments: the pages are left-to-right only,
        // and the isolation marks would end up in form values and tests.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

/// The name of the cookie that keeps an explicit choice.
pub const COOKIE_NAME: &str = "lang";
/// How long an explicit choice is kept: a year.
const COOKIE_MAX_AGE_SECS: u32 = 365 * 24 * 3600;

static RU: LanguageIdentifier = langid!("ru");
static EN: LanguageIdentifier = langid!("en");

/// A language the pages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Russian, the default.
    #[default]
    Ru,
    /// English.
    En,
}

impl Lang {
    /// Every language, in the order the switch lists them.
    pub const ALL: [Lang; 2] = [Lang::Ru, Lang::En];

    /// The language's tag: `ru`, `en` (also the `lang` attribute).
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ru => "ru",
            Lang::En => "en",
        }
    }

    /// The language's name in itself, as the switch shows it.
    #[must_use]
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::Ru => "Русский",
            Lang::En => "English",
        }
    }

    /// A tag's language, by its primary subtag (`en-US` is English); none
    /// for a language the pages are not written in.
    #[must_use]
    pub fn from_tag(tag: &str) -> Option<Self> {
        let primary = tag.split(['-', '_']).next().unwrap_or("").trim();
        if primary.eq_ignore_ascii_case("ru") {
            Some(Lang::Ru)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    fn langid(self) -> &'static LanguageIdentifier {
        match self {
            Lang::Ru => &RU,
            Lang::En => &EN,
        }
    }
}

/// The language of one request, and where its switch returns to.
#[derive(Debug, Clone)]
struct Locale {
    lang: Lang,
    /// The page the language switch sends the browser back to.
    back: String,
}

tokio::task_local! {
    static CURRENT: Locale;
}

/// The language of the request being handled; Russian outside a request.
#[must_use]
pub fn current() -> Lang {
    CURRENT.try_with(|l| l.lang).unwrap_or_default()
}

/// The `lang` attribute of the page: `ru` or `en`.
#[must_use]
pub fn lang() -> &'static str {
    current().code()
}

/// Runs `f` as if the request's language were `lang` (the CSV exports,
/// always Russian).
pub fn with_lang<R>(lang: Lang, f: impl FnOnce() -> R) -> R {
    CURRENT.sync_scope(
        Locale {
            lang,
            back: "/".to_owned(),
        },
        f,
    )
}

/// The language a request asks for: the `lang` cookie, else the best of
/// `Accept-Language` by quality, else Russian.
#[must_use]
pub fn choose(headers: &HeaderMap) -> Lang {
    if let Some(lang) = crate::web::session::cookie(headers, COOKIE_NAME).and_then(Lang::from_tag) {
        return lang;
    }
    headers
        .get_all(ACCEPT_LANGUAGE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(from_accept_language)
        .unwrap_or_default()
}

/// The first language of an `Accept-Language` value that the pages are
/// written in, by quality (`q=0` means "not this one").
fn from_accept_language(value: &str) -> Option<Lang> {
    accept_language::parse_with_quality(value)
        .into_iter()
        .filter(|(_, quality)| *quality > 0.0)
        .find_map(|(tag, _)| Lang::from_tag(&tag))
}

/// Layer over every page: chooses the request's language, makes it current
/// while the request is handled, and names it in `Content-Language`
/// (with `Vary`, for caches).
pub async fn negotiate(request: Request, next: Next) -> Response {
    let lang = choose(request.headers());
    let back = return_path(request.method(), request.uri());
    let mut response = CURRENT
        .scope(Locale { lang, back }, next.run(request))
        .await;
    let headers = response.headers_mut();
    headers.insert(CONTENT_LANGUAGE, HeaderValue::from_static(lang.code()));
    // The same address answers in either language, by these headers.
    headers.append(VARY, HeaderValue::from_static("Accept-Language, Cookie"));
    response
}

/// Where the switch returns to from this page: the page itself when it can
/// be fetched again with `GET`, else the page whose form was sent.
fn return_path(method: &Method, uri: &Uri) -> String {
    let path = uri.path();
    if method == Method::GET || method == Method::HEAD {
        return uri
            .path_and_query()
            .map_or_else(|| path.to_owned(), |pq| pq.as_str().to_owned());
    }
    // Forms whose address is also a page.
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let also_a_page = matches!(
        segments.as_slice(),
        ["join", _]
            | ["join", _, "confirm", _]
            | ["join", _, "recover"]
            | ["join", _, "recover", _]
            | ["m", _, "unsubscribe"]
            | ["hq", "welcome", _]
            | ["hq", "merchants", _, "people"]
            | ["hq", "merchants", _, "programme"]
    );
    if also_a_page {
        return path.to_owned();
    }
    match segments.as_slice() {
        ["c", secret, ..] => format!("/c/{secret}"),
        ["m", token, ..] => format!("/m/{token}"),
        ["hq", "merchants", id, ..] => format!("/hq/merchants/{id}"),
        _ => "/hq".to_owned(),
    }
}

/// A language the switch offers.
#[derive(Debug, Clone)]
pub struct Choice {
    /// `ru`, `en`.
    pub code: &'static str,
    /// Its name in itself.
    pub name: &'static str,
    /// Whether the page is in it.
    pub current: bool,
    /// The switch's link.
    pub href: String,
}

/// The languages of the switch, with links that come back to this page.
#[must_use]
pub fn choices() -> Vec<Choice> {
    let (lang, back) = CURRENT
        .try_with(|l| (l.lang, l.back.clone()))
        .unwrap_or_else(|_| (Lang::default(), "/".to_owned()));
    Lang::ALL
        .iter()
        .map(|&choice| Choice {
            code: choice.code(),
            name: choice.native_name(),
            current: choice == lang,
            href: format!("/lang/{}?back={}", choice.code(), links::query_value(&back)),
        })
        .collect()
}

/// The `lang` cookie that keeps `lang` for a year.
pub fn cookie(lang: Lang) -> Result<HeaderValue, PageError> {
    let cookie = format!(
        "{COOKIE_NAME}={}; Path=/; Max-Age={COOKIE_MAX_AGE_SECS}; SameSite=Lax; HttpOnly",
        lang.code()
    );
    HeaderValue::from_str(&cookie).map_err(|e| PageError::internal(&e))
}

/// The switch's query.
#[derive(Debug, Deserialize)]
pub struct SwitchQuery {
    back: Option<String>,
}

/// `GET /lang/{code}?back=/path`: keeps the choice in the `lang` cookie and
/// returns to the page (only a path on this server).
pub async fn switch(
    Path(code): Path<String>,
    Query(query): Query<SwitchQuery>,
) -> Result<Response, PageError> {
    let lang = Lang::from_tag(&code)
        .filter(|l| l.code() == code)
        .ok_or(PageError::NotFound)?;
    let back = query
        .back
        .filter(|b| is_local_path(b))
        .unwrap_or_else(|| "/hq".to_owned());
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(SET_COOKIE, cookie(lang)?);
    headers.insert(
        LOCATION,
        HeaderValue::from_str(&back).map_err(|_| PageError::BadRequest("bad return path"))?,
    );
    tracing::debug!(lang = lang.code(), "a language was chosen");
    Ok(response)
}

/// A path on this server: `/…`, never `//host` or `/\host`, which
/// browsers take for another site.
fn is_local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && !path.chars().any(char::is_control)
}

/// A value that can stand in a message: text or a number (numbers choose
/// plural forms). References of any depth work, as templates pass them.
pub trait ToArg {
    /// The value as Fluent takes it.
    fn to_arg(&self) -> FluentValue<'static>;
}

impl<T: ToArg + ?Sized> ToArg for &T {
    fn to_arg(&self) -> FluentValue<'static> {
        (**self).to_arg()
    }
}

impl ToArg for str {
    fn to_arg(&self) -> FluentValue<'static> {
        FluentValue::from(self.to_owned())
    }
}

impl ToArg for String {
    fn to_arg(&self) -> FluentValue<'static> {
        FluentValue::from(self.clone())
    }
}

macro_rules! number_args {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn to_arg(&self) -> FluentValue<'static> {
                FluentValue::from(*self)
            }
        }
    )*};
}
number_args!(i64, u64, i32, u32, usize, u8);

/// The message `id` in the request's language.
#[must_use]
pub fn t(id: &str) -> String {
    lookup(id, None)
}

/// The message `id` with one argument.
#[must_use]
pub fn t1(id: &str, key: &'static str, value: impl ToArg) -> String {
    t_args(id, [(key, value.to_arg())])
}

/// The message `id` with two arguments.
#[must_use]
pub fn t2(id: &str, k1: &'static str, v1: impl ToArg, k2: &'static str, v2: impl ToArg) -> String {
    t_args(id, [(k1, v1.to_arg()), (k2, v2.to_arg())])
}

/// The message `id` with arguments.
#[must_use]
pub fn t_args<const N: usize>(id: &str, args: [(&'static str, FluentValue<'static>); N]) -> String {
    let args: HashMap<Cow<'static, str>, FluentValue<'static>> = args
        .into_iter()
        .map(|(k, v)| (Cow::Borrowed(k), v))
        .collect();
    lookup(id, Some(&args))
}

fn lookup(id: &str, args: Option<&HashMap<Cow<'static, str>, FluentValue<'static>>>) -> String {
    let lang = current();
    LOCALES
        .try_lookup_complete(lang.langid(), id, args)
        .unwrap_or_else(|| {
            // The catalogue test keeps this from happening; a page still
            // shows something readable if it does.
            tracing::warn!(
                id,
                lang = lang.code(),
                "a message is missing from the catalogue"
            );
            id.to_owned()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn the_cookie_wins_then_the_browser_by_quality_then_russian() {
        assert_eq!(choose(&headers(&[])), Lang::Ru);
        assert_eq!(
            choose(&headers(&[("accept-language", "en-US,en;q=0.9")])),
            Lang::En
        );
        assert_eq!(
            choose(&headers(&[(
                "accept-language",
                "de-DE, en;q=0.5, ru;q=0.8"
            )])),
            Lang::Ru
        );
        assert_eq!(
            choose(&headers(&[(
                "accept-language",
                "ru;q=0.1, fr, en-GB;q=0.7"
            )])),
            Lang::En
        );
        assert_eq!(
            choose(&headers(&[("accept-language", "en;q=0, de")])),
            Lang::Ru
        );
        assert_eq!(choose(&headers(&[("accept-language", "*")])), Lang::Ru);
        assert_eq!(
            choose(&headers(&[
                ("accept-language", "en-US"),
                ("cookie", "hq_session=x; lang=ru")
            ])),
            Lang::Ru
        );
        assert_eq!(choose(&headers(&[("cookie", "lang=en")])), Lang::En);
        // A cookie naming no language of the pages is ignored.
        assert_eq!(
            choose(&headers(&[
                ("cookie", "lang=xx"),
                ("accept-language", "en")
            ])),
            Lang::En
        );
    }

    #[test]
    fn messages_follow_the_current_language_with_arguments() {
        assert_eq!(t("lang-switch-label"), "Язык");
        with_lang(Lang::En, || {
            assert_eq!(t("lang-switch-label"), "Language");
            assert_eq!(lang(), "en");
        });
        assert_eq!(lang(), "ru");
        let ru = t1("customer-greeting", "name", "Анна");
        assert_eq!(ru, "Здравствуйте, Анна!");
        let en = with_lang(Lang::En, || t1("customer-greeting", "name", "Anna"));
        assert_eq!(en, "Hello, Anna!");
    }

    #[test]
    fn the_switch_returns_only_to_this_server() {
        assert!(is_local_path("/join/1?offer=milk"));
        assert!(!is_local_path("//evil.example/"));
        assert!(!is_local_path("/\\evil.example/"));
        assert!(!is_local_path("https://evil.example/"));
        let get = |p: &str| return_path(&Method::GET, &p.parse::<Uri>().unwrap());
        let post = |p: &str| return_path(&Method::POST, &p.parse::<Uri>().unwrap());
        assert_eq!(get("/join/1?offer=milk"), "/join/1?offer=milk");
        assert_eq!(post("/join/1"), "/join/1");
        assert_eq!(post("/c/abc/reviews"), "/c/abc");
        assert_eq!(post("/m/tok/card"), "/m/tok");
        assert_eq!(post("/hq/login"), "/hq");
        assert_eq!(post("/hq/merchants/3/brands"), "/hq/merchants/3");
    }

    /// The message ids of one language's catalogue files, parsed with
    /// Fluent's own parser (a syntax error fails the test).
    fn catalogue(lang: &str) -> std::collections::BTreeSet<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("locales")
            .join(lang);
        let mut ids = std::collections::BTreeSet::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "ftl") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let resource = fluent_syntax::parser::parse(text.as_str())
                .unwrap_or_else(|(_, errors)| panic!("{}: {errors:?}", path.display()));
            for entry in resource.body {
                if let fluent_syntax::ast::Entry::Message(m) = entry {
                    assert!(
                        ids.insert(m.id.name.to_owned()),
                        "{} is defined twice in {lang}",
                        m.id.name
                    );
                }
            }
        }
        ids
    }

    /// The variables (`{ $name }`) of each message of one language.
    fn variables(lang: &str) -> HashMap<String, Vec<String>> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("locales")
            .join(lang);
        let mut found: HashMap<String, Vec<String>> = HashMap::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let mut current = None;
            for line in text.lines() {
                if let Some((id, _)) = line.split_once(" =")
                    && !line.starts_with([' ', '#'])
                {
                    current = Some(id.to_owned());
                }
                let Some(id) = &current else { continue };
                for (at, _) in line.match_indices('$') {
                    let name: String = line[at + 1..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                        .collect();
                    found.entry(id.clone()).or_default().push(name);
                }
            }
        }
        found
    }

    /// Every file under `dir` whose name ends with `ext`.
    fn files(dir: &std::path::Path, ext: &str, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files(&path, ext, out);
            } else if path.to_string_lossy().ends_with(ext) {
                out.push(path);
            }
        }
    }

    /// The ids `text` names in calls: `i18n::t("id")`, `t1("id", …)`,
    /// `t2("id", …)`.
    fn called_ids(text: &str) -> Vec<String> {
        let mut found = Vec::new();
        for call in ["i18n::t(\"", "i18n::t1(\"", "i18n::t2(\""] {
            for (at, _) in text.match_indices(call) {
                let rest = &text[at + call.len()..];
                if let Some(end) = rest.find('"') {
                    found.push(rest[..end].to_owned());
                }
            }
        }
        found
    }

    /// The string literals of code that look like message ids kept as data
    /// (a refusal, a label): lower-case `word-word…` whose first two words
    /// begin some message of the catalogues (`join-error-…`), so that
    /// element ids, table codes and test data are not taken for messages.
    fn id_literals(text: &str, families: &std::collections::BTreeSet<String>) -> Vec<String> {
        let mut found = Vec::new();
        for (i, piece) in text.split('"').enumerate() {
            if i % 2 == 0 {
                continue;
            }
            let looks_like_id = piece.contains('-')
                && piece.starts_with(|c: char| c.is_ascii_lowercase())
                && piece
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if looks_like_id && families.contains(&family(piece)) {
                found.push(piece.to_owned());
            }
        }
        found
    }

    /// The first two words of an id: `join-error`.
    fn family(id: &str) -> String {
        id.splitn(3, '-').take(2).collect::<Vec<_>>().join("-")
    }

    #[test]
    fn both_languages_have_every_message_the_pages_use() {
        let ru = catalogue("ru");
        let en = catalogue("en");
        let only_ru: Vec<_> = ru.difference(&en).collect();
        let only_en: Vec<_> = en.difference(&ru).collect();
        assert!(only_ru.is_empty(), "missing in English: {only_ru:?}");
        assert!(only_en.is_empty(), "missing in Russian: {only_en:?}");
        assert!(ru.len() > 300, "the catalogues are read: {}", ru.len());

        let families: std::collections::BTreeSet<String> = ru.iter().map(|id| family(id)).collect();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut templates = Vec::new();
        files(&root.join("templates"), ".html", &mut templates);
        let mut code = Vec::new();
        files(&root.join("src/web"), ".rs", &mut code);
        // This module names ids only in its docs and tests.
        code.retain(|p| !p.ends_with("i18n.rs"));
        code.push(root.join("src/services/accounts.rs"));
        files(&root.join("src/services/analytics"), ".rs", &mut code);
        let mut used = std::collections::BTreeSet::new();
        for path in templates.iter().chain(&code) {
            let text = std::fs::read_to_string(path).unwrap();
            let mut ids = called_ids(&text);
            if path.extension().is_some_and(|e| e == "rs") {
                ids.extend(id_literals(&text, &families));
            }
            for id in ids {
                used.insert((id, path.display().to_string()));
            }
        }
        // Ids built at run time.
        for role in crate::access::Role::ALL {
            used.insert((
                format!("role-{}", role.as_str().replace('_', "-")),
                "layout::role_label".to_owned(),
            ));
        }
        let missing: Vec<_> = used.iter().filter(|(id, _)| !ru.contains(id)).collect();
        assert!(
            missing.is_empty(),
            "used but not in the catalogues: {missing:?}"
        );
        assert!(used.len() > 300, "the sources are read: {}", used.len());
        // Every message formats in both languages without a Fluent error
        // when given its variables (a failure comes back as the id).
        for lang in Lang::ALL {
            let variables = variables(lang.code());
            with_lang(lang, || {
                for id in &ru {
                    let args: HashMap<Cow<'static, str>, FluentValue<'static>> = variables
                        .get(id)
                        .into_iter()
                        .flatten()
                        .map(|v| (Cow::Owned(v.clone()), FluentValue::from(2)))
                        .collect();
                    let text = lookup(id, Some(&args));
                    assert_ne!(&text, id, "{id} in {}", lang.code());
                    assert!(!text.contains('{'), "{id} in {}: {text}", lang.code());
                }
            });
        }
    }

    #[test]
    fn translated_pages_have_no_text_outside_the_catalogues() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut templates = Vec::new();
        files(&root, ".html", &mut templates);
        let untranslated: Vec<String> = templates
            .iter()
            .filter(|p| !p.starts_with(root.join("messages")))
            .filter(|p| {
                std::fs::read_to_string(p)
                    .unwrap()
                    .chars()
                    .any(|c| ('\u{400}'..='\u{4ff}').contains(&c))
            })
            .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
            .collect();
        assert!(
            untranslated.is_empty(),
            "Russian text left in templates outside the catalogues: {untranslated:?}"
        );
    }
}
