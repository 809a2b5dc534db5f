//! The analytics pages in a real Chromium: HQ opens every view from the
//! tabs, narrows it by typing the period and choosing a store, a brand, a
//! grain and a promotion, reads the figures (the uplift against the
//! holdouts in words among them), and downloads a CSV, whose
//! bytes (BOM, header, rows) are checked against the data set.

use std::path::Path;
use std::time::Duration;

use super::chrome::Browser;
use crate::analytics::data_set;
use crate::helpers::{ADMIN_TOKEN, TestServer};

/// How long a download may take to land.
const DOWNLOAD_WAIT: Duration = Duration::from_secs(30);

/// Waits until `dir` holds a finished file named `name`; its bytes.
async fn downloaded(dir: &Path, name: &str) -> Vec<u8> {
    let path = dir.join(name);
    let deadline = test_kit::poll::Deadline::after(DOWNLOAD_WAIT).every(Duration::from_millis(100));
    loop {
        if let Ok(bytes) = std::fs::read(&path) {
            let partial = std::fs::read_dir(dir)
                .unwrap()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".crdownload"));
            if !partial && !bytes.is_empty() {
                return bytes;
            }
        }
        let waited = deadline
            .tick(|| {
                format!(
                    "{name} was not downloaded into {}: {:?}",
                    dir.display(),
                    std::fs::read_dir(dir)
                        .unwrap()
                        .flatten()
                        .map(|e| e.file_name())
                        .collect::<Vec<_>>()
                )
            })
            .await;
        if let Err(e) = waited {
            panic!("{e}");
        }
    }
}

/// `1 234,56 ₽` as the pages write it.
fn page_roubles(kopecks: i64) -> String {
    super::roubles(kopecks)
}

#[tokio::test]
async fn hq_filters_every_analytics_view_and_downloads_a_csv_in_chromium() {
    let server = TestServer::spawn().await;
    let data = data_set(&server).await;
    let downloads = tempfile::tempdir().unwrap();
    let mut browser = Browser::start_downloading("hq_analytics_views", downloads.path()).await;
    browser.open(&format!("{}/hq", server.base)).await;
    browser.type_into("#token", ADMIN_TOKEN).await;
    browser.click_button("Войти").await;
    browser.wait_for_text("h1", "Продавцы").await;
    browser
        .open(&format!(
            "{}/hq/merchants/{}",
            server.base, data.merchant.id
        ))
        .await;
    browser.click_link("Аналитика").await;
    browser.wait_for_text("h1", "аналитика").await;

    // March, all stores, by day.
    browser.type_into("#from", "2026-03-01").await;
    browser.type_into("#to", "2026-03-31").await;
    browser.choose("#grain", "по дням").await;
    browser.click_button("Показать").await;
    browser.wait_for_text("h1", "01.03.2026").await;
    let march = data.figures("2026-03-01", "2026-03-31", None);
    let before = data.figures("2026-01-29", "2026-02-28", None);
    let revenue = browser.text_of("[data-kpi=revenue]").await;
    browser
        .ensure(
            revenue.replace('\u{a0}', " ") == page_roubles(march.revenue).replace('\u{a0}', " "),
            format!("revenue {revenue}"),
        )
        .await;
    let previous = browser.text_of("[data-kpi-previous=revenue]").await;
    browser
        .ensure(
            previous
                .replace('\u{a0}', " ")
                .contains(&page_roubles(before.revenue).replace('\u{a0}', " ")),
            format!("previous {previous}"),
        )
        .await;
    browser.wait_for("[data-section=revenue] svg").await;
    let rows = browser.text_of("[data-table=revenue] tbody").await;
    browser
        .ensure(rows.lines().count() == 31, format!("31 days: {rows}"))
        .await;

    // The Moscow store only, by week.
    browser.choose("#store", "Тверская").await;
    browser.choose("#grain", "по неделям").await;
    browser.click_button("Показать").await;
    let moscow = data.figures("2026-03-01", "2026-03-31", Some(data.moscow));
    browser
        .wait_for_text("dd", &page_roubles(moscow.revenue))
        .await;

    // Every other view keeps the filter through its tab.
    browser.click_link("Магазины и бренды").await;
    browser.wait_for("[data-table=stores]").await;
    let stores = browser.text_of("[data-table=stores] tbody").await;
    browser
        .ensure(
            stores.contains("Тверская") && !stores.contains("Светланская"),
            format!("one store: {stores}"),
        )
        .await;
    // The brand instead of the store: the brand has Moscow only.
    browser.choose("#store", "Все магазины").await;
    browser.choose("#brand", "Ромашка Экспресс").await;
    browser.click_button("Показать").await;
    browser
        .wait_for_text("dd", &page_roubles(moscow.revenue))
        .await;
    browser.wait_for("[data-table=brands]").await;

    browser.click_link("Товары").await;
    browser.wait_for("[data-table=products]").await;
    browser.wait_for_text("td", "Молоко").await;
    browser.wait_for("[data-table=categories]").await;

    // All stores again for the customers.
    browser.choose("#brand", "Все бренды").await;
    browser.click_button("Показать").await;
    browser.click_link("Покупатели").await;
    browser.wait_for("[data-table=genders]").await;
    browser.wait_for("[data-table=ages]").await;
    browser.wait_for("[data-table=new-returning]").await;
    browser.wait_for("[data-table=frequency]").await;
    browser.wait_for("[data-table=rfm]").await;
    browser.wait_for("[data-section=cohorts]").await;

    browser.click_link("Акции").await;
    browser.wait_for("[data-table=promotions]").await;
    // The uplift against the holdouts, in words: "milk" clearly raised
    // spend in March; "kefir-women" has too few customers to tell.
    browser
        .wait_for_text("h2", "Эффект против контрольной группы")
        .await;
    let uplift = browser.text_of("[data-table=uplift] tbody").await;
    browser
        .ensure(
            uplift.contains("Молоко и кефир −5 %")
                && uplift.contains("Выше, чем в контрольной группе")
                && uplift.contains("Кефир для женщин")
                && uplift.contains("Слишком мало покупателей, чтобы судить"),
            format!("uplift: {uplift}"),
        )
        .await;
    browser.wait_for("[data-csv=uplift]").await;
    browser.choose("#promotion", "Хлеб").await;
    browser.click_button("Показать").await;
    browser.wait_for_text("h2", "«bread» по часам").await;
    browser.wait_for("[data-table=promotion-hours]").await;

    // Back to the sales view; download its table.
    browser.click_link("Выручка").await;
    browser.wait_for("[data-table=revenue]").await;
    browser.click("[data-csv=revenue]").await;
    let bytes = downloaded(downloads.path(), "analytics-revenue.csv").await;
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "a UTF-8 BOM");
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(
        lines[0].starts_with("Период;Чеков;Возвратов;Выручка, ₽"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 1 + 31, "a header and a row a day: {text}");
    let total: i64 = lines[1..]
        .iter()
        .map(|l| {
            let field = l.split(';').nth(3).unwrap();
            let (r, k) = field.split_once(',').unwrap();
            let sign = if r.starts_with('-') { -1 } else { 1 };
            sign * (r.trim_start_matches('-').parse::<i64>().unwrap() * 100
                + k.parse::<i64>().unwrap())
        })
        .sum();
    assert_eq!(total, march.revenue, "the rows add up to March's revenue");
    browser.close().await;
}

/// The baskets tab in a real Chromium: HQ types the period and a least,
/// reads the pairs (the page's first row is the view's), follows a
/// product's pairs link, chooses the promotion, and downloads
/// `analytics-baskets.csv`.
#[tokio::test]
async fn hq_reads_baskets_follows_a_products_pairs_and_downloads_the_csv_in_chromium() {
    use sync_server::wire::analytics::BasketsView;
    let server = TestServer::spawn().await;
    let data = crate::baskets::data_set(&server).await;
    let api = |query: String| {
        let server = &server;
        let id = data.merchant.id;
        async move {
            server
                .admin_ok::<BasketsView>(
                    reqwest::Method::GET,
                    &format!("/api/v1/admin/merchants/{id}/analytics/baskets?{query}"),
                    None,
                )
                .await
        }
    };
    let downloads = tempfile::tempdir().unwrap();
    let mut browser = Browser::start_downloading("hq_baskets", downloads.path()).await;
    browser.open(&format!("{}/hq", server.base)).await;
    browser.type_into("#token", ADMIN_TOKEN).await;
    browser.click_button("Войти").await;
    browser.wait_for_text("h1", "Продавцы").await;
    browser
        .open(&format!(
            "{}/hq/merchants/{}/analytics",
            server.base, data.merchant.id
        ))
        .await;
    browser.click_link("Корзины").await;
    browser.wait_for("[data-basket-note]").await;

    // The first quarter from inside its months, at least 10 checks a pair.
    browser.type_into("#from", "2026-01-15").await;
    browser.type_into("#to", "2026-03-20").await;
    browser.type_into("#min_checks", "10").await;
    browser.click_button("Показать").await;
    browser.wait_for_text("h1", "01.01.2026").await;
    browser.wait_for_text("h1", "31.03.2026").await;
    let note = browser.text_of("[data-basket-note]").await;
    browser
        .ensure(
            note.contains("целыми месяцами") && note.contains("от 10 чеков"),
            format!("note: {note}"),
        )
        .await;
    let view = api("from=2026-01-01&to=2026-03-31&min_checks=10".to_owned()).await;
    let top = &view.pairs[0];
    let first = browser
        .text_of("[data-table=baskets] tbody tr:first-child")
        .await;
    browser
        .ensure(
            first.contains(&top.a) && first.contains(&top.b) && first.contains(&top.a_name),
            format!("first row {first} against {top:?}"),
        )
        .await;
    browser.wait_for("[data-section=baskets] svg").await;
    browser.wait_for("[data-table=basket-categories]").await;

    // A product's pairs, by its link.
    let product = crate::baskets::sku(0);
    browser
        .click(&format!(
            "[data-table=baskets] [data-product-pairs='{product}']"
        ))
        .await;
    browser
        .wait_for_text("h2", "Покупают вместе с Товар 0")
        .await;
    let view = api(format!(
        "from=2026-01-01&to=2026-03-31&min_checks=10&product={product}"
    ))
    .await;
    let pairs = view.product.unwrap().pairs;
    let rows = browser.text_of("[data-table=basket-product] tbody").await;
    browser
        .ensure(
            rows.lines().count() == pairs.len() && rows.contains(&pairs[0].b_name),
            format!("the product's pairs: {rows} against {pairs:?}"),
        )
        .await;

    // The promotion's pairs.
    browser.choose("#promotion", "Молоко к хлебу").await;
    browser.click_button("Показать").await;
    browser
        .wait_for_text("h2", "Пары, которые сдвинула акция Молоко к хлебу")
        .await;
    browser.wait_for("[data-table=basket-promotion]").await;

    browser.click("[data-csv=baskets]").await;
    let bytes = downloaded(downloads.path(), "analytics-baskets.csv").await;
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "a UTF-8 BOM");
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(
        lines[0].starts_with("Товар;Название;Вместе с;Его название;Чеков с обоими"),
        "{}",
        lines[0]
    );
    let view = api("from=2026-01-01&to=2026-03-31&min_checks=10".to_owned()).await;
    assert_eq!(lines.len(), 1 + view.pairs.len(), "{text}");
    assert!(lines[1].starts_with(&format!("{};{}", view.pairs[0].a, view.pairs[0].a_name)));
    browser.close().await;
}
