//! A person at a real browser: Debian's headless Chromium driven through
//! `chromedriver` (WebDriver, via fantoccini) by clicking and typing.
//!
//! The tests never set a header the browser sets itself (`Origin`,
//! `Referer`, `Sec-Fetch-*`): Chromium sends what it sends, so the pages'
//! same-origin checks meet real traffic.
//!
//! Each [`Browser`] starts its own `chromedriver` on a port it chooses
//! (`--port=0`, read back from its output) with a fresh profile, and takes a
//! screenshot after every step into a temporary directory. When a step
//! fails the screenshots are kept in `WEB_SCREENSHOT_DIR`, or else in
//! `target/browser-screenshots/<test>/`, and the panic message says where.
//! Waits use fantoccini's wait API: no fixed sleeps.
//!
//! The browser's languages are a setting of the browser, as a person sets
//! them: Russian (`ru-RU,ru`) unless a test starts it with others
//! ([`Browser::start_in_language`]); Chromium then sends them in
//! `Accept-Language` by itself.
//!
//! Chromium and chromedriver are system packages (`apt-get install chromium
//! chromium-driver`; CI's `.ci/run` installs them). Without them these
//! tests fail and say so.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// How long a page or an element may take to appear.
const WAIT: Duration = Duration::from_secs(30);
/// How long chromedriver may take to start listening.
const DRIVER_START: Duration = Duration::from_secs(30);
/// The browser's languages unless a test asks for others: a Russian
/// person's.
pub const RUSSIAN: &str = "ru-RU,ru";

const INSTALL: &str = "install them with `apt-get install chromium chromium-driver` \
     (CI's .ci/run installs them)";

/// An executable named `name` on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Where failed tests keep their screenshots: `WEB_SCREENSHOT_DIR`, or
/// `browser-screenshots` in the target directory that holds this test
/// binary.
fn kept_screenshots(test: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("WEB_SCREENSHOT_DIR") {
        return PathBuf::from(dir).join(test);
    }
    let target = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(std::env::temp_dir);
    target.join("browser-screenshots").join(test)
}

/// Headless Chromium driven by its own chromedriver.
pub struct Browser {
    client: Client,
    _driver: Child,
    _profile: tempfile::TempDir,
    shots: tempfile::TempDir,
    step: u32,
    test: String,
}

impl Browser {
    /// Starts chromedriver and a fresh headless Chromium; `test` names the
    /// directory its screenshots are kept in when it fails.
    pub async fn start(test: &str) -> Self {
        Self::start_with(test, None, RUSSIAN).await
    }

    /// Starts a browser whose person prefers `languages` (as in the
    /// browser's language settings, e.g. `en-US,en`).
    pub async fn start_in_language(test: &str, languages: &str) -> Self {
        Self::start_with(test, None, languages).await
    }

    /// Starts a browser that saves downloads into `downloads` without
    /// asking, as a person's browser set to do so would.
    pub async fn start_downloading(test: &str, downloads: &Path) -> Self {
        Self::start_with(test, Some(downloads), RUSSIAN).await
    }

    async fn start_with(test: &str, downloads: Option<&Path>, languages: &str) -> Self {
        let driver_path = on_path("chromedriver").unwrap_or_else(|| {
            panic!(
                "`chromedriver` is not installed, and these tests drive a real browser: {INSTALL}"
            )
        });
        let chromium = on_path("chromium").unwrap_or_else(|| {
            panic!("Debian's `chromium` is not installed, and these tests drive it: {INSTALL}")
        });
        // chromedriver now and then exits at start on a busy machine
        // (seen once in a hundred-odd starts): a fresh one is started, and
        // after three the last one's own words are in the panic.
        let mut attempts = 0;
        let (driver, port) = loop {
            attempts += 1;
            match start_driver(&driver_path).await {
                Ok(started) => break started,
                Err(why) if attempts < 3 => eprintln!("chromedriver, attempt {attempts}: {why}"),
                Err(why) => panic!("{why}: {INSTALL}"),
            }
        };

        let profile = tempfile::tempdir().expect("profile dir");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,1600",
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .chain([
            format!("--user-data-dir={}", profile.path().display()),
            format!(
                "--lang={}",
                languages.split(',').next().unwrap_or(languages)
            ),
        ])
        .collect::<Vec<_>>();
        let mut prefs = serde_json::json!({ "intl": { "accept_languages": languages } });
        if let Some(dir) = downloads {
            prefs["download"] = serde_json::json!({
                "default_directory": dir,
                "prompt_for_download": false,
            });
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), "chrome".into());
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": chromium, "args": args, "prefs": prefs }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("chromedriver starts no Chromium ({e}): {INSTALL}"));
        Browser {
            client,
            _driver: driver,
            _profile: profile,
            shots: tempfile::tempdir().expect("screenshot dir"),
            step: 0,
            test: test.to_owned(),
        }
    }

    /// Takes a screenshot named after the step.
    pub async fn shot(&mut self, what: &str) {
        self.step += 1;
        let name = format!("{:02}-{what}.png", self.step);
        if let Ok(png) = self.client.screenshot().await {
            // A lost screenshot must not hide the step's own outcome.
            let _ = std::fs::write(self.shots.path().join(name), png);
        }
    }

    /// The page as a PNG, as the screen shows it now.
    #[allow(
        dead_code,
        reason = "system-tests' e2e reads a phone's QR code from it; this kit is shared by path"
    )]
    pub async fn screenshot(&mut self) -> Vec<u8> {
        match self.client.screenshot().await {
            Ok(png) => png,
            Err(e) => self.fail(format!("cannot take a screenshot: {e}")).await,
        }
    }

    /// Fails the test: keeps the screenshots, with one of the page as it
    /// is now, and says where they are.
    pub async fn fail(&mut self, message: impl std::fmt::Display) -> ! {
        self.shot("failed").await;
        let page = self.client.source().await.unwrap_or_default();
        let url = self
            .client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default();
        let kept = kept_screenshots(&self.test);
        let kept_note = match keep(self.shots.path(), &kept) {
            Ok(()) => format!("screenshots of each step are in {}", kept.display()),
            Err(e) => format!(
                "the screenshots could not be kept in {}: {e}",
                kept.display()
            ),
        };
        panic!("{message}\nat {url}\n{kept_note}\npage:\n{page}");
    }

    /// Fails with `message` unless `ok`.
    pub async fn ensure(&mut self, ok: bool, message: impl std::fmt::Display) {
        if !ok {
            self.fail(message).await;
        }
    }

    /// Opens `url` as if typed into the address bar.
    pub async fn open(&mut self, url: &str) {
        if let Err(e) = self.client.goto(url).await {
            self.fail(format!("cannot open {url}: {e}")).await;
        }
        self.shot("open").await;
    }

    /// Waits up to [`WAIT`] for an element at `locator`. A look that the
    /// page changing under it cut short (the driver's "aborted by
    /// navigation") is made again on the page that replaced it, as a
    /// person looks again once the page has settled.
    async fn find(&self, locator: Locator<'_>) -> Result<Element, fantoccini::error::CmdError> {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.client.wait().at_most(left).for_element(locator).await {
                Ok(element) => return Ok(element),
                Err(e) if std::time::Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Waits for the element `css` to appear.
    pub async fn wait_for(&mut self, css: &str) -> Element {
        match self.find(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => self.fail(format!("`{css}` never appeared: {e}")).await,
        }
    }

    /// Waits for the text `text` somewhere on the page (in an element
    /// matched by `css`).
    pub async fn wait_for_text(&mut self, css: &str, text: &str) -> Element {
        let xpath = format!(
            "//*[self::{css} and contains(normalize-space(.), {})]",
            xpath_literal(text)
        );
        match self.find(Locator::XPath(&xpath)).await {
            Ok(element) => {
                self.shot("seen").await;
                element
            }
            Err(e) => {
                self.fail(format!("no <{css}> with «{text}» on the page: {e}"))
                    .await
            }
        }
    }

    /// Types `text` into the field `css`, replacing what it holds.
    pub async fn type_into(&mut self, css: &str, text: &str) {
        let field = self.wait_for(css).await;
        if let Err(e) = field.clear().await {
            self.fail(format!("cannot clear `{css}`: {e}")).await;
        }
        if let Err(e) = field.send_keys(text).await {
            self.fail(format!("cannot type into `{css}`: {e}")).await;
        }
    }

    /// Clicks the element `css`.
    pub async fn click(&mut self, css: &str) {
        self.click_found(css, None, css).await;
    }

    /// Clicks the element `css`, which sends a form whose answer is the
    /// same page again, and waits until that new page has loaded (the
    /// page clicked on is marked first; the mark is gone from the new
    /// one), so nothing is then read from, or typed into, the old page.
    pub async fn click_and_wait_for_reload(&mut self, css: &str) {
        let mark = "document.documentElement.dataset.reloadPending = '1'; return true;";
        if let Err(e) = self.client.execute(mark, Vec::new()).await {
            self.fail(format!("cannot mark the page: {e}")).await;
        }
        self.click(css).await;
        let reloaded = "return document.readyState === 'complete' && \
                        document.documentElement.dataset.reloadPending === undefined;";
        let deadline = test_kit::poll::Deadline::after(WAIT);
        loop {
            // While the page changes, a script may fail: look again.
            let done = self.client.execute(reloaded, Vec::new()).await;
            if matches!(done, Ok(serde_json::Value::Bool(true))) {
                self.shot("reloaded").await;
                return;
            }
            if deadline.tick(String::new).await.is_err() {
                self.fail(format!("the page never reloaded after clicking `{css}`"))
                    .await;
            }
        }
    }

    /// Clicks the button whose text is `text`.
    pub async fn click_button(&mut self, text: &str) {
        let xpath = format!("//button[normalize-space(.)={}]", xpath_literal(text));
        self.click_xpath(&xpath, text).await;
    }

    /// Clicks the link whose text is `text`.
    pub async fn click_link(&mut self, text: &str) {
        let xpath = format!("//a[normalize-space(.)={}]", xpath_literal(text));
        self.click_xpath(&xpath, text).await;
    }

    /// Clicks the element at `xpath`, described as `what`.
    pub async fn click_xpath(&mut self, xpath: &str, what: &str) {
        self.click_found("", Some(xpath), what).await;
    }

    /// Finds the element (`xpath`, else `css`) and clicks it. An element
    /// found on the page the last click was leaving is gone by the time it
    /// is clicked; it is looked for again on the page that replaced it, as
    /// a person clicks again once the page has settled.
    async fn click_found(&mut self, css: &str, xpath: Option<&str>, what: &str) {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let locator = match xpath {
                Some(xpath) => Locator::XPath(xpath),
                None => Locator::Css(css),
            };
            let element = match self.find(locator).await {
                Ok(element) => element,
                Err(e) => self.fail(format!("no «{what}» to click: {e}")).await,
            };
            self.shot("before-click").await;
            match element.click().await {
                Ok(()) => return,
                Err(e) if attempts < 5 && e.is_stale_element_reference() => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => self.fail(format!("cannot click «{what}»: {e}")).await,
            }
        }
    }

    /// Chooses the option labelled `label` in the list `css`.
    pub async fn choose(&mut self, css: &str, label: &str) {
        let list = self.wait_for(css).await;
        if let Err(e) = list.select_by_label(label).await {
            self.fail(format!("cannot choose «{label}» in `{css}`: {e}"))
                .await;
        }
    }

    /// The `value` of the field `css`.
    pub async fn value_of(&mut self, css: &str) -> String {
        let field = self.wait_for(css).await;
        match field.prop("value").await {
            Ok(value) => value.unwrap_or_default(),
            Err(e) => self.fail(format!("no value in `{css}`: {e}")).await,
        }
    }

    /// The visible text of the element `css`.
    pub async fn text_of(&mut self, css: &str) -> String {
        let element = self.wait_for(css).await;
        match element.text().await {
            Ok(text) => text,
            Err(e) => self.fail(format!("no text in `{css}`: {e}")).await,
        }
    }

    /// The address of the page shown.
    /// How many elements match `xpath` on the page as it is now (to check
    /// that something is absent, after waiting for what is there).
    pub async fn count_xpath(&mut self, xpath: &str) -> usize {
        match self.client.find_all(Locator::XPath(xpath)).await {
            Ok(found) => found.len(),
            Err(e) => self.fail(format!("cannot search for {xpath}: {e}")).await,
        }
    }

    /// Waits until the page's address holds `part` (the answer to a form
    /// sent by GET has loaded, not the page it was sent from); the address.
    pub async fn wait_for_url_containing(&mut self, part: &str) -> String {
        let deadline = test_kit::poll::Deadline::after(WAIT);
        loop {
            let url = self.url().await;
            if url.contains(part) {
                return url;
            }
            if deadline.tick(String::new).await.is_err() {
                self.fail(format!("the address never held {part:?}: {url}"))
                    .await;
            }
        }
    }

    pub async fn url(&mut self) -> String {
        match self.client.current_url().await {
            Ok(url) => url.to_string(),
            Err(e) => self.fail(format!("no current address: {e}")).await,
        }
    }

    /// Runs `js` in the page as an asynchronous script (it ends by calling
    /// its last argument with the value) and returns that value: for what
    /// a person sees but the DOM's text does not say, such as whether a
    /// picture loaded.
    pub async fn run_async_script(&mut self, js: &str) -> serde_json::Value {
        match self.client.execute_async(js, Vec::new()).await {
            Ok(value) => value,
            Err(e) => self.fail(format!("the script failed: {e}\n{js}")).await,
        }
    }

    /// Resizes the window to `width`×`height` CSS pixels, as a person
    /// turns a tablet or narrows the window.
    pub async fn resize(&mut self, width: u32, height: u32) {
        if let Err(e) = self.client.set_window_size(width, height).await {
            self.fail(format!("cannot resize the window to {width}×{height}: {e}"))
                .await;
        }
    }

    /// How wide the page is against the window's viewport, in CSS pixels:
    /// a page wider than its viewport scrolls sideways.
    pub async fn page_and_viewport_width(&mut self) -> (u64, u64) {
        let script = "return [document.documentElement.scrollWidth, \
                      document.documentElement.clientWidth];";
        match self.client.execute(script, Vec::new()).await {
            Ok(value) => {
                let width = |i: usize| value[i].as_u64().unwrap_or_default();
                (width(0), width(1))
            }
            Err(e) => self.fail(format!("cannot measure the page: {e}")).await,
        }
    }

    /// Ends the browser session.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    /// A test that failed outside [`Browser::fail`] (an assertion on the
    /// API, say) keeps its screenshots too.
    fn drop(&mut self) {
        if std::thread::panicking() {
            let kept = kept_screenshots(&self.test);
            if keep(self.shots.path(), &kept).is_ok() {
                eprintln!("browser screenshots of each step are in {}", kept.display());
            }
        }
    }
}

/// Copies the screenshots in `from` to `to`.
fn keep(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        std::fs::copy(entry.path(), to.join(entry.file_name()))?;
    }
    Ok(())
}

/// `text` as an XPath string literal.
fn xpath_literal(text: &str) -> String {
    if !text.contains('\'') {
        format!("'{text}'")
    } else if !text.contains('"') {
        format!("\"{text}\"")
    } else {
        let parts: Vec<String> = text.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

/// Starts chromedriver on a free port of its choosing: the process and
/// the port, or why it did not listen (with what it said on stderr).
async fn start_driver(path: &Path) -> Result<(Child, u16), String> {
    let mut driver = Command::new(path)
        .arg("--port=0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("chromedriver does not start ({e})"))?;
    let stdout = driver.stdout.take().expect("chromedriver's output");
    let mut stderr = driver.stderr.take().expect("chromedriver's errors");
    let listening = tokio::time::timeout(DRIVER_START, async {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.split("started successfully on port ").nth(1) {
                let port: Option<u16> = rest.trim_end_matches('.').trim().parse().ok();
                // Keep draining its output so it never blocks on a full pipe.
                tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
                return port;
            }
        }
        None
    })
    .await;
    match listening {
        Ok(Some(port)) => {
            tokio::spawn(async move {
                let mut sink = tokio::io::sink();
                let _ = tokio::io::copy(&mut stderr, &mut sink).await;
            });
            Ok((driver, port))
        }
        outcome => {
            let _ = driver.start_kill();
            let mut said = String::new();
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut said),
            )
            .await;
            let why = if outcome.is_err() {
                "chromedriver did not start listening in time"
            } else {
                "chromedriver exited before listening"
            };
            Err(format!("{why} (stderr: {})", said.trim()))
        }
    }
}
