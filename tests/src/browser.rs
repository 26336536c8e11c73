//! A headless Chromium driven over WebDriver (W3C, through ChromeDriver),
//! for the portal's browser tests: open pages, fill and submit forms, read
//! what shows, press Tab, run axe-core, take screenshots.
//!
//! WebDriver is JSON over HTTP, so this is a small client on `ureq` rather
//! than a crate of its own. It finds Debian's `chromium` and
//! `chromedriver` (or `CHROME_BIN` / `CHROMEDRIVER`); `scripts/test.sh`
//! installs both when they are missing. Without them [`Browser::start`]
//! answers `None` and the tests say they were skipped — except under
//! `CI=true`, where a missing browser fails the run.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// The W3C key code for Tab.
const TAB: &str = "\u{E004}";

/// A headless Chromium with its ChromeDriver, ended on drop.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
    _profile: tempfile::TempDir,
}

/// An element on the current page, as WebDriver names it.
#[derive(Debug, Clone)]
pub struct Element(String);

/// Where the browser and its driver are, when both are installed.
fn programs() -> Option<(PathBuf, PathBuf)> {
    let find = |var: &str, names: &[&str]| -> Option<PathBuf> {
        if let Ok(path) = std::env::var(var) {
            return Some(PathBuf::from(path)).filter(|p| p.exists());
        }
        names
            .iter()
            .map(PathBuf::from)
            .find(|candidate| candidate.exists())
    };
    let chrome = find(
        "CHROME_BIN",
        &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
    )?;
    let driver = find("CHROMEDRIVER", &["/usr/bin/chromedriver"])?;
    Some((chrome, driver))
}

/// The axe-core script `scripts/test.sh` installs from npm (or
/// `AXE_CORE_JS`), when it is there.
pub fn axe_script() -> Option<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // A relative path is the repository's (tests run from their crate).
    let path = std::env::var("AXE_CORE_JS")
        .map(|p| root.join(p))
        .unwrap_or_else(|_| {
            let target = std::env::var("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|_| root.join("target"));
            target.join("axe-core/node_modules/axe-core/axe.min.js")
        });
    std::fs::read_to_string(path).ok()
}

/// Whether a missing browser or axe-core fails the run (`CI=true`) rather
/// than skipping the browser tests.
pub fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium with a fresh profile and
    /// a `width`×`height` window; `None` when either is not installed.
    pub fn start(width: u32, height: u32) -> Option<Self> {
        let Some((chrome, driver_path)) = programs() else {
            assert!(
                !required(),
                "chromium and chromedriver are not installed and CI=true: \
                 scripts/test.sh installs them (apt-get install chromium chromium-driver)"
            );
            eprintln!("browser tests skipped: chromium and chromedriver are not installed");
            return None;
        };
        let port = free_port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = agent
                .get(&format!("{base}/status"))
                .call()
                .ok()
                .and_then(|r| r.into_body().read_to_string().ok())
                .and_then(|text| serde_json::from_str::<Value>(&text).ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Self {
            driver,
            base,
            session: String::new(),
            agent,
            _profile: profile,
        };
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chrome,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                    "--disable-gpu", "--no-first-run", "--hide-scrollbars",
                    "--force-device-scale-factor=1", "--lang=en-GB",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", browser._profile.path().display()),
                ],
            },
        }}});
        let answer = browser.send("POST", "/session", Some(caps));
        browser.session = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {answer}"))
            .to_owned();
        Some(browser)
    }

    /// Sends one WebDriver command; panics with the driver's message on an
    /// error, since a test cannot go on past one.
    fn send(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let answer = self.try_send(method, path, body);
        match answer {
            Ok(value) => value,
            Err(error) => panic!("WebDriver {method} {path}: {error}"),
        }
    }

    fn try_send(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Value> {
        let url = format!("{}{path}", self.base);
        let response = match method {
            "GET" => self.agent.get(&url).call(),
            "DELETE" => self.agent.delete(&url).call(),
            _ => self
                .agent
                .post(&url)
                .header("content-type", "application/json")
                .send(serde_json::to_vec(&body.unwrap_or(json!({}))).unwrap()),
        }
        .expect("chromedriver answers");
        let ok = response.status().is_success();
        let text = response.into_body().read_to_string().unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if ok {
            Ok(value["value"].clone())
        } else {
            Err(value["value"].clone())
        }
    }

    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.send(method, &format!("/session/{}{path}", self.session), body)
    }

    /// Opens `url` and waits for it to load.
    pub fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(json!({"url": url})));
    }

    /// The page's URL now (after any redirects).
    pub fn url(&self) -> String {
        self.command("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's title.
    pub fn title(&self) -> String {
        self.command("GET", "/title", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's HTML as the browser holds it.
    pub fn source(&self) -> String {
        self.command("GET", "/source", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn element_of(value: &Value) -> Element {
        let id = value
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("not an element: {value}"));
        Element(id.to_owned())
    }

    /// The first element `css` selects; panics when there is none.
    pub fn find(&self, css: &str) -> Element {
        self.try_find(css)
            .unwrap_or_else(|| panic!("no element matches {css} on {}", self.url()))
    }

    /// The first element `css` selects, if any.
    pub fn try_find(&self, css: &str) -> Option<Element> {
        self.locate(&format!("/session/{}/element", self.session), css)
    }

    /// The element WebDriver's locator at `path` finds for `css`, if any.
    fn locate(&self, path: &str, css: &str) -> Option<Element> {
        self.try_send(
            "POST",
            path,
            Some(json!({"using": "css selector", "value": css})),
        )
        .ok()
        .map(|v| Self::element_of(&v))
    }

    /// Every element `css` selects, in document order.
    pub fn find_all(&self, css: &str) -> Vec<Element> {
        self.command(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        )
        .as_array()
        .map(|all| all.iter().map(Self::element_of).collect())
        .unwrap_or_default()
    }

    /// The first match of `css` inside `element`, if any.
    pub fn find_in(&self, element: &Element, css: &str) -> Option<Element> {
        let path = format!("/session/{}/element/{}/element", self.session, element.0);
        self.locate(&path, css)
    }

    /// An element's rendered text.
    pub fn text(&self, element: &Element) -> String {
        self.command("GET", &format!("/element/{}/text", element.0), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// An element's attribute, if it has it.
    pub fn attribute(&self, element: &Element, name: &str) -> Option<String> {
        self.command(
            "GET",
            &format!("/element/{}/attribute/{name}", element.0),
            None,
        )
        .as_str()
        .map(str::to_owned)
    }

    /// Clicks an element (and waits for any page it opens).
    pub fn click(&self, element: &Element) {
        self.command("POST", &format!("/element/{}/click", element.0), None);
    }

    /// Clicks a link or a form's button and waits until the page it opens
    /// has loaded (a form's answer, a redirect's target).
    pub fn click_to_load(&self, element: &Element) {
        self.execute("window.__kapOld = true;", json!([]));
        self.click(element);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let loaded = self.execute(
                "return window.__kapOld === undefined && document.readyState === 'complete';",
                json!([]),
            );
            if loaded == Value::Bool(true) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no new page after a click on {}",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Types `text` into a field, after clearing it.
    pub fn fill(&self, element: &Element, text: &str) {
        self.command("POST", &format!("/element/{}/clear", element.0), None);
        self.command(
            "POST",
            &format!("/element/{}/value", element.0),
            Some(json!({"text": text})),
        );
    }

    /// Runs a script in the page (`arguments` are its arguments) and
    /// returns what it returns.
    pub fn execute(&self, script: &str, arguments: Value) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": arguments})),
        )
    }

    /// Runs an asynchronous script: it ends by calling its last argument.
    pub fn execute_async(&self, script: &str, arguments: Value) -> Value {
        self.command(
            "POST",
            "/execute/async",
            Some(json!({"script": script, "args": arguments})),
        )
    }

    /// Presses Tab once.
    pub fn press_tab(&self) {
        self.command(
            "POST",
            "/actions",
            Some(
                json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
                    {"type": "keyDown", "value": TAB}, {"type": "keyUp", "value": TAB}
                ]}]}),
            ),
        );
    }

    /// The browser's cookies for the current page (HttpOnly ones too): name
    /// and value.
    pub fn cookies(&self) -> Vec<(String, String)> {
        self.command("GET", "/cookie", None)
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|c| {
                        (
                            c["name"].as_str().unwrap_or_default().to_owned(),
                            c["value"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Resizes the window (for a screenshot of a whole page).
    pub fn resize(&self, width: u32, height: u32) {
        self.command(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        );
    }

    /// The viewport as a PNG.
    pub fn screenshot(&self) -> Vec<u8> {
        let encoded = self.command("GET", "/screenshot", None);
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .expect("a base64 PNG")
    }

    /// Runs axe-core (`script` is its source) on the page and returns the
    /// violations of impact "serious" or "critical": rule id, impact and the
    /// first offending element, one line each.
    pub fn serious_accessibility_violations(&self, script: &str) -> Vec<String> {
        self.execute(script, json!([]));
        let result = self.execute_async(
            "const done = arguments[arguments.length - 1];\
             axe.run(document, {resultTypes: ['violations']})\
               .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact,\
                  help: v.help, target: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}))))\
               .catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), target: []}]));",
            json!([]),
        );
        result
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|v| v["impact"] == "serious" || v["impact"] == "critical")
                    .map(|v| {
                        format!(
                            "{} ({}): {} at {}",
                            v["id"], v["impact"], v["help"], v["target"]
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Presses Tab through the whole page from the top and returns, for
    /// every control a mouse could use (links, buttons, fields, summaries)
    /// that Tab never reached, a short description. Empty when every
    /// control is reachable by keyboard.
    pub fn controls_tab_never_reaches(&self) -> Vec<String> {
        let count = self.execute(
            "window.__reached = new Set();\
             window.__controls = Array.from(document.querySelectorAll(\
               'a[href], button, input:not([type=hidden]), select, textarea, summary'))\
               .filter(e => !e.disabled && e.getClientRects().length > 0\
                 && (!e.checkVisibility || e.checkVisibility()));\
             document.addEventListener('focusin', ev => window.__reached.add(ev.target), true);\
             if (document.activeElement) { document.activeElement.blur(); }\
             window.scrollTo(0, 0);\
             return window.__controls.length;",
            json!([]),
        );
        let controls = count.as_u64().unwrap_or(0);
        // Tab stops that are not controls (a scrolling region, say) come in
        // between: press on until every control has had focus, or focus
        // has gone round the page twice over.
        for pressed in 1..=controls * 2 + 20 {
            self.press_tab();
            if pressed % 8 == 0 {
                let all = self.execute(
                    "return window.__controls.every(e => window.__reached.has(e));",
                    json!([]),
                );
                if all == Value::Bool(true) {
                    break;
                }
            }
        }
        let missed = self.execute(
            "return window.__controls.filter(e => !window.__reached.has(e))\
               .map(e => e.tagName.toLowerCase() + ' ' + (e.getAttribute('href') || e.name || '')\
                 + ' «' + (e.innerText || e.value || '').trim().slice(0, 40) + '»');",
            json!([]),
        );
        missed
            .as_array()
            .map(|all| {
                all.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = self.try_send("DELETE", &path, None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
