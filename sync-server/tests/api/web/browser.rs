//! The pages in a real browser: Debian's headless Chromium renders the
//! customer's page on a phone-sized screen, and the QR code in its
//! screenshot is read back with the same decoder the tills use and
//! verified as the customer's token; it renders the HQ dashboard, signed in
//! through the real form, with its charts and figures.
//!
//! Chromium is a system package (`apt-get install chromium`; CI's
//! `.ci/run` installs it). Without it these tests fail and say so.
//! Set `WEB_SCREENSHOT_DIR` to keep the screenshots.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::response::Html;
use reqwest::Method;
use shared::token::CustomerToken;
use sync_server::wire::admin::Stats;

use super::customer::{personal_link, shop_with_customer};
use super::dashboard::trading_merchant;
use super::{figure, roubles};
use crate::helpers::{ADMIN_TOKEN, TestServer};

/// How long one Chromium run may take.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(90);

/// Debian's `chromium` on `PATH`.
fn chromium() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("chromium"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "Debian's `chromium` is not installed, and these tests render the pages in a \
                 real browser: install it with `apt-get install chromium` (CI's .ci/run \
                 installs it)"
            )
        })
}

/// Runs headless Chromium on `url` with a fresh profile and `extra` flags;
/// returns its standard output.
async fn run_chromium(url: &str, extra: &[String]) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let mut command = tokio::process::Command::new(chromium());
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // A Russian person's browser: the pages follow its languages.
            "--lang=ru-RU",
            "--accept-lang=ru-RU,ru",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .kill_on_drop(true);
    let output = tokio::time::timeout(CHROMIUM_TIMEOUT, command.output())
        .await
        .expect("Chromium finishes in time")
        .expect("Chromium starts");
    assert!(
        output.status.success(),
        "Chromium failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("the DOM is UTF-8")
}

/// Width and height of a PNG file, from its header.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG file");
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    (word(16), word(20))
}

/// Keeps a screenshot in `WEB_SCREENSHOT_DIR`, when set.
fn keep(screenshot: &Path, name: &str) {
    if let Some(dir) = std::env::var_os("WEB_SCREENSHOT_DIR") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::copy(screenshot, dir.join(name)).expect("keep the screenshot");
    }
}

#[tokio::test]
async fn the_qr_code_chromium_shows_on_a_phone_verifies_as_the_customers_token() {
    let server = TestServer::spawn().await;
    let (_, till, anna) = shop_with_customer(&server, "Анна").await;
    let link = personal_link(&server, anna).await;
    let shots = tempfile::tempdir().expect("screenshot dir");
    let screenshot = shots.path().join("customer.png");

    run_chromium(
        &link.url,
        &[
            "--window-size=412,915".to_owned(),
            format!("--screenshot={}", screenshot.display()),
        ],
    )
    .await;
    keep(&screenshot, "customer.png");
    let bytes = std::fs::read(&screenshot).expect("Chromium wrote the screenshot");
    assert_eq!(png_size(&bytes), (412, 915));

    let scans = hardware::decode_qr_file(&screenshot, Duration::from_secs(10))
        .expect("the screenshot is an image");
    let scan = scans.first().expect("a QR code on the phone screen");
    let token = CustomerToken::verify(
        &scan.text,
        &till.server_key,
        till.merchant_id,
        chrono::Utc::now(),
    )
    .expect("the code is a token signed by the server, still valid");
    assert_eq!(token.customer_id, anna, "and it names the customer");
}

#[tokio::test]
async fn chromium_signs_in_and_renders_the_dashboard_with_charts_and_figures() {
    let server = TestServer::spawn().await;
    let (merchant, _) = trading_merchant(&server).await;
    let stats: Stats = server
        .admin_ok(
            Method::GET,
            &format!("/api/v1/admin/merchants/{}/stats", merchant.id),
            None,
        )
        .await;

    // A page on another port of the same host posts the sign-in form, as a
    // person typing the token would; the session cookie is same-site.
    let sign_in = format!(
        "<!doctype html><title>sign in</title>\
         <form method=post action=\"{}/hq/login\">\
         <input name=token value=\"{ADMIN_TOKEN}\"><input name=next value=\"/hq/merchants/{}\">\
         </form><script>document.forms[0].submit()</script>",
        server.base, merchant.id
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let helper = format!("http://{}/", listener.local_addr().expect("addr"));
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let page = sign_in.clone();
            async move { Html(page) }
        }),
    );
    let serving = tokio::spawn(async move { axum::serve(listener, app).await });

    let shots = tempfile::tempdir().expect("screenshot dir");
    let screenshot = shots.path().join("hq.png");
    let dom = run_chromium(
        &helper,
        &[
            "--window-size=1280,2600".to_owned(),
            "--virtual-time-budget=10000".to_owned(),
            "--dump-dom".to_owned(),
            format!("--screenshot={}", screenshot.display()),
        ],
    )
    .await;
    serving.abort();
    keep(&screenshot, "hq.png");

    assert!(
        dom.contains("Ромашка: статистика"),
        "signed in and on the dashboard: {dom}"
    );
    assert_eq!(
        dom.matches("<svg class=\"chart-svg\" role=\"img\"").count(),
        4,
        "days, stores, genders, age bands"
    );
    assert!(dom.contains("<rect"), "the bars");
    let kpis = "<dl class=\"kpis\">";
    // The DOM serialiser writes no-break spaces as `&nbsp;`.
    let printed = |kopecks: i64| roubles(kopecks).replace('\u{a0}', "&nbsp;");
    for (key, kopecks) in [
        ("totals.revenue", stats.totals.revenue.minor()),
        ("totals.average_check", stats.totals.average_check.minor()),
        ("totals.discount", stats.totals.discount.minor()),
    ] {
        assert_eq!(
            figure(&dom, kpis, key),
            (Some(kopecks), printed(kopecks)),
            "{key}"
        );
    }
    for store in &stats.by_store {
        assert!(dom.contains(&store.store_name));
    }

    let bytes = std::fs::read(&screenshot).expect("Chromium wrote the screenshot");
    assert_eq!(png_size(&bytes), (1280, 2600));
    assert!(
        bytes.len() > 50_000,
        "a page with charts, not a blank one: {} bytes",
        bytes.len()
    );
}
