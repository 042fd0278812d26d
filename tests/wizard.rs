//! The web wizard of `s2d serve`, driven end to end in headless Chromium as a user drives it:
//! open the address with the token, fill the nine steps (and trip a field check on the way),
//! apply, watch the progress and the overview, look at the Plans and Usage pages, destroy,
//! and find both clouds as they were. A PNG of each step is saved under
//! `$CARGO_TARGET_TMPDIR/wizard/`.
//!
//! It owns the browser side only: chromedriver (`/usr/bin/chromedriver`, port chosen here)
//! and Chromium (`/usr/bin/chromium`), talked to through `fantoccini`. The clouds and the
//! service come from the end-to-end harness (`tests/e2e/harness.rs`, `tests/e2e/service.rs`);
//! what the page does is known only through its element ids. Nothing is skipped: without
//! Chromium or its driver the test fails and says how to install them.

#[path = "e2e/harness.rs"]
mod harness;
#[path = "e2e/service.rs"]
mod service;

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use serde_json::{Value, json};

use harness::{World, both};
use service::Service;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Every screenshot the test must leave, in the order they are taken.
const SHOTS: &[&str] = &[
    "step1",
    "step2",
    "step3",
    "step4",
    "step5",
    "step6",
    "step7",
    "step8",
    "step9",
    "step9-done",
    "plans",
    "usage",
    "destroy",
];

/// Short waits (a step rendering, a list loading) and long ones (a job).
const SHORT: Duration = Duration::from_secs(30);
const JOB: Duration = Duration::from_secs(300);

/// The visible error boxes of the page, as `id: text`.
const VISIBLE_ERRORS: &str = "return [...document.querySelectorAll('.field-error, .api-error')]
    .filter(e => !e.hidden && e.offsetParent !== null && e.textContent.trim())
    .map(e => (e.id || e.className) + ': ' + e.textContent.trim());";

/// A running chromedriver, and the browser profile it starts Chromium with. Dropping it ends
/// chromedriver and any Chromium process still using the profile.
struct Driver {
    child: Child,
    port: u16,
    profile: tempfile::TempDir,
    downloads: tempfile::TempDir,
}

impl Driver {
    async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        let mut driver = Driver {
            child,
            port,
            profile: tempfile::tempdir().expect("tempdir"),
            downloads: tempfile::tempdir().expect("tempdir"),
        };
        let deadline = Instant::now() + SHORT;
        let status = format!("http://127.0.0.1:{port}/status");
        loop {
            if let Ok(Some(exit)) = driver.child.try_wait() {
                panic!("{CHROMEDRIVER} exited at start: {exit}");
            }
            if let Ok(resp) = reqwest::get(&status).await
                && let Ok(body) = resp.json::<Value>().await
                && body["value"]["ready"] == true
            {
                return driver;
            }
            assert!(
                Instant::now() < deadline,
                "{CHROMEDRIVER} did not answer on port {port} within {SHORT:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A browser session: headless Chromium with a fresh profile.
    async fn connect(&self) -> Client {
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", self.profile.path().display()),
                ],
                "prefs": {
                    "download.default_directory": self.downloads.path().display().to_string(),
                    "download.prompt_for_download": false,
                },
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!("a JSON object")
        };
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .unwrap_or_else(|e| panic!("chromedriver cannot start {CHROMIUM}: {e}"))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A browser whose session was not closed outlives its driver: end the processes that
        // use this test's profile (and only those).
        let marker = self.profile.path().display().to_string();
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return;
        };
        for entry in procs.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            if String::from_utf8_lossy(&cmdline).contains(&marker) {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
    }
}

/// The page in the browser, and where its screenshots go.
struct Page {
    client: Client,
    shots: PathBuf,
    downloads: PathBuf,
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

impl Page {
    /// Run a script (a function body: `return ...`; the arguments are `arguments[i]`).
    async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Poll `script` until it returns something truthy; returns that.
    async fn wait(&self, what: &str, timeout: Duration, script: &str, args: Vec<Value>) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.client.execute(script, args.clone()).await {
                Ok(v) if truthy(&v) => return v,
                Ok(v) => v.to_string(),
                Err(e) => format!("script error: {e}"),
            };
            if Instant::now() >= deadline {
                panic!("timed out after {timeout:?} waiting for {what} (last: {last})");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Wait until step `n` of the wizard is shown and has loaded its lists.
    async fn wait_step(&self, n: u32) {
        self.wait(
            &format!("wizard step {n} to be ready"),
            SHORT,
            "const s = document.getElementById('step');
             return Boolean(s && s.dataset.step === arguments[0] && s.dataset.ready === 'true');",
            vec![json!(n.to_string())],
        )
        .await;
        let errors = self.errors().await;
        assert!(
            errors.iter().all(|e| !e.starts_with("step-error")),
            "step {n} could not load: {errors:?}"
        );
    }

    async fn find(&self, id: &str) -> fantoccini::elements::Element {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no element #{id}: {e}"))
    }

    async fn click(&self, id: &str) {
        self.find(id)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click #{id}: {e}"));
    }

    /// Choose an option of a `<select>` by clicking it, as a user does.
    async fn select(&self, id: &str, value: &str) {
        self.find(id)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("cannot choose {value:?} in #{id}: {e}"));
        let now = self.value(id).await;
        assert_eq!(now, value, "#{id} holds {now:?} after choosing {value:?}");
    }

    /// Replace a text field's content by typing.
    async fn type_into(&self, id: &str, text: &str) {
        let el = self.find(id).await;
        el.clear()
            .await
            .unwrap_or_else(|e| panic!("cannot clear #{id}: {e}"));
        if !text.is_empty() {
            el.send_keys(text)
                .await
                .unwrap_or_else(|e| panic!("cannot type into #{id}: {e}"));
        }
    }

    async fn value(&self, id: &str) -> String {
        self.js(
            "const e = document.getElementById(arguments[0]); return e ? e.value : null;",
            vec![json!(id)],
        )
        .await
        .as_str()
        .unwrap_or_else(|| panic!("no element #{id}"))
        .to_string()
    }

    async fn text(&self, id: &str) -> String {
        self.js(
            "const e = document.getElementById(arguments[0]); return e ? e.textContent : null;",
            vec![json!(id)],
        )
        .await
        .as_str()
        .unwrap_or_else(|| panic!("no element #{id}"))
        .to_string()
    }

    async fn checked(&self, id: &str) -> bool {
        self.js(
            "const e = document.getElementById(arguments[0]); return Boolean(e && e.checked);",
            vec![json!(id)],
        )
        .await
            == true
    }

    async fn count(&self, css: &str) -> u64 {
        self.js(
            "return document.querySelectorAll(arguments[0]).length;",
            vec![json!(css)],
        )
        .await
        .as_u64()
        .unwrap_or(0)
    }

    async fn errors(&self) -> Vec<String> {
        match self.client.execute(VISIBLE_ERRORS, vec![]).await {
            Ok(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Ok(other) => vec![format!("(unexpected {other})")],
            Err(e) => vec![format!("(cannot read the page: {e})")],
        }
    }

    /// Press Next and wait for step `n + 1`.
    async fn next(&self, n: u32) {
        self.click("next").await;
        self.wait_step(n + 1).await;
    }

    /// Save a PNG of the window as `<name>.png`.
    async fn shot(&self, name: &str) -> PathBuf {
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// Wait until a job view's status ends; returns it.
    async fn job_end(&self, what: &str) -> String {
        self.wait(
            what,
            JOB,
            "const s = document.getElementById('job-status');
             return s && ['succeeded', 'failed', 'interrupted', 'unknown'].includes(s.textContent)
                 ? s.textContent : null;",
            vec![],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(a panic without a message)".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wizard_migrates_a_server_in_headless_chromium() {
    let missing: Vec<&str> = [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")]
        .into_iter()
        .filter(|(path, _)| !Path::new(path).exists())
        .map(|(_, package)| package)
        .collect();
    assert!(
        missing.is_empty(),
        "the browser test needs {CHROMIUM} and {CHROMEDRIVER}; missing apt packages: {}. \
         `bash tests/run.sh` installs them (apt packages chromium chromium-driver), \
         or run `sudo apt-get install chromium chromium-driver`",
        missing.join(" ")
    );

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wizard");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).expect("creates the screenshot folder");
    println!("wizard screenshots: {}", shots.display());

    let started = Instant::now();
    let world = World::start().await;
    let before = both(&world).await;
    let service = Service::start(&world, &world.path().join("data"));
    let driver = Driver::start().await;
    let page = Page {
        client: driver.connect().await,
        shots: shots.clone(),
        downloads: driver.downloads.path().to_path_buf(),
    };

    let outcome = AssertUnwindSafe(drive(&page, &service))
        .catch_unwind()
        .await;
    let failure = match outcome {
        Ok(()) => None,
        Err(payload) => {
            // Whatever the page shows at the moment it went wrong.
            let shot = tokio::time::timeout(SHORT, page.shot("failure"))
                .await
                .ok()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "(no screenshot)".into());
            let errors = tokio::time::timeout(SHORT, page.errors())
                .await
                .unwrap_or_else(|_| vec!["(the page did not answer)".into()]);
            let at = tokio::time::timeout(
                SHORT,
                page.client.execute(
                    "const h = document.querySelector('main h1');
                     return location.hash + ' ' + (h ? h.textContent : '(no heading)');",
                    vec![],
                ),
            )
            .await
            .map(|r| r.map(|v| v.to_string()).unwrap_or_else(|e| e.to_string()))
            .unwrap_or_else(|_| "(the page did not answer)".into());
            Some(format!(
                "{}\npage: {at}\nerrors shown on the page: {errors:#?}\nscreenshot: {shot}",
                panic_text(&*payload)
            ))
        }
    };
    let closed = tokio::time::timeout(SHORT, page.client.clone().close()).await;
    drop(driver);
    if let Some(message) = failure {
        panic!("{message}");
    }
    assert!(
        matches!(closed, Ok(Ok(()))),
        "the browser session did not close: {closed:?}"
    );

    for name in SHOTS {
        let path = shots.join(format!("{name}.png"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{} is not a PNG",
            path.display()
        );
        assert!(
            bytes.len() > 10_000,
            "{} is only {} bytes",
            path.display(),
            bytes.len()
        );
    }

    // Destroyed from the Plans page: both clouds hold what they held before.
    assert_eq!(both(&world).await, before);
    println!(
        "wizard test: {:.1} s, screenshots in {}",
        started.elapsed().as_secs_f64(),
        shots.display()
    );
}

/// The user's session, from opening the address to the destroy.
async fn drive(page: &Page, service: &Service) {
    // The address `s2d serve` prints: the token is taken in, then out of the address bar.
    page.client
        .goto(&format!("{}/#token={}", service.url, service.token))
        .await
        .expect("opens the wizard");
    page.wait_step(1).await;
    let url = page.client.current_url().await.expect("URL").to_string();
    assert!(
        !url.contains("token") && !url.contains(&service.token),
        "the token is still in the address: {url}"
    );
    let html = page
        .js("return document.documentElement.outerHTML;", vec![])
        .await;
    assert!(
        !html.as_str().unwrap_or_default().contains(&service.token),
        "the page shows the token"
    );
    assert!(
        page.js(
            "return document.getElementById('token-bar').hidden;",
            vec![]
        )
        .await
            == true,
        "the token field is shown although the address carried the token"
    );

    // Step 1: the source cloud. Next without one is refused next to the field.
    let clouds = page
        .js(
            "return [...document.getElementById('source-cloud').options].map(o => o.value);",
            vec![],
        )
        .await;
    for cloud in ["provider", "hospital"] {
        assert!(
            clouds.as_array().is_some_and(|c| c.contains(&json!(cloud))),
            "{cloud} is not offered as source: {clouds}"
        );
    }
    assert_eq!(page.value("source-cloud").await, "");
    page.click("next").await;
    page.wait(
        "the error under the source cloud",
        SHORT,
        "return document.getElementById('err-source-cloud').textContent;",
        vec![],
    )
    .await;
    assert!(page.text("step").await.contains("Step 1 of 9"));
    page.select("source-cloud", "provider").await;
    page.shot("step1").await;
    page.next(1).await;

    // Step 2: the server, and its snapshot's name (emptied: refused; typed back).
    assert!(page.count("#servers-table tbody input[type=radio]").await >= 1);
    page.click("server-ehr-analytics").await;
    assert!(page.checked("server-ehr-analytics").await);
    assert_eq!(page.value("snapshot-name").await, "ehr-analytics-s2d");
    page.type_into("snapshot-name", "").await;
    page.click("next").await;
    let err = page
        .wait(
            "the error under the snapshot name",
            SHORT,
            "return document.getElementById('err-snapshot-name').textContent;",
            vec![],
        )
        .await;
    assert!(
        err.as_str().is_some_and(|e| e.contains("snapshot")),
        "{err}"
    );
    page.type_into("snapshot-name", "ehr-analytics-s2d").await;
    page.shot("step2").await;
    page.next(2).await;

    // Step 3: image and server options, named after the server.
    assert_eq!(page.value("image-name").await, "ehr-analytics");
    assert_eq!(page.value("target-name").await, "ehr-analytics");
    assert!(
        page.count("#flavor option").await > 1,
        "no flavor is listed"
    );
    page.select("disk-format", "qcow2").await;
    page.select("visibility", "shared").await;
    page.select("visibility", "private").await;
    page.shot("step3").await;
    page.next(3).await;

    // Step 4: the target; the source itself is refused next to the field.
    page.wait(
        "the target's networks",
        SHORT,
        "return document.getElementById('network').value;",
        vec![],
    )
    .await;
    page.select("target-cloud", "provider").await;
    let err = page
        .wait(
            "the error under the target cloud",
            SHORT,
            "return document.getElementById('err-target-cloud').textContent;",
            vec![],
        )
        .await;
    assert!(
        err.as_str()
            .is_some_and(|e| e.contains("another cloud than the source")),
        "{err}"
    );
    page.select("target-cloud", "hospital").await;
    let network = page
        .wait(
            "hospital's networks",
            SHORT,
            "const n = document.getElementById('network');
             return !n.disabled && !document.getElementById('err-target-cloud').textContent
                 ? n.value : null;",
            vec![],
        )
        .await;
    println!("target network: {network}");
    page.shot("step4").await;
    page.next(4).await;

    // Step 5: the keypair, imported from the source.
    assert!(
        page.checked("keypair-mode-import").await,
        "the server's keypair is not the default"
    );
    assert_eq!(page.value("keypair-create").await, "ehr-analytics-key");
    page.click("keypair-mode-create").await;
    assert!(page.checked("keypair-mode-create").await);
    page.click("keypair-mode-import").await;
    page.select("keypair-import", "alice-key").await;
    assert!(page.checked("keypair-mode-import").await);
    page.shot("step5").await;
    page.next(5).await;

    // Step 6: the security group, with the source server's rules listed.
    let rules = page.count("#secgroup-rules tbody tr[class^=dir-]").await;
    assert!(rules > 0, "the source rules table is empty");
    assert_eq!(page.value("secgroup-name").await, "analytics");
    page.click("secgroup-use-default").await;
    assert_eq!(page.value("secgroup-name").await, "default");
    page.type_into("secgroup-name", "analytics").await;
    page.shot("step6").await;
    page.next(6).await;

    // Step 7: a floating IP from the pool `public`.
    page.click("fip-mode-none").await;
    assert!(page.checked("fip-mode-none").await);
    page.click("fip-mode-pool").await;
    page.select("fip-pool", "public").await;
    assert!(page.checked("fip-mode-pool").await);
    page.shot("step7").await;
    page.next(7).await;

    // Step 8: the review: the service accepted the plan and shows its diff.
    let status = page
        .wait(
            "the plan to be accepted and its diff shown",
            SHORT,
            "const s = document.getElementById('review-status').textContent;
             return / valid\\./.test(s) ? s : null;",
            vec![],
        )
        .await;
    let plan_id = status
        .as_str()
        .and_then(|s| s.strip_prefix("Plan "))
        .and_then(|s| s.split(':').next())
        .unwrap_or_else(|| panic!("no plan id in {status}"))
        .to_string();
    let summary = page.text("diff-summary").await;
    let adds: u32 = summary
        .split(" to add")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of additions in {summary:?}"));
    assert!(adds > 0, "{summary}");
    assert!(page.count("#diff li[data-action=create]").await >= adds as u64);
    for button in ["download-toml", "download-xml"] {
        assert!(
            page.js(
                "return !document.getElementById(arguments[0]).disabled;",
                vec![json!(button)]
            )
            .await
                == true,
            "{button} is not enabled"
        );
    }
    let toml = page.text("plan-text").await;
    for line in [
        "cloud = \"provider\"",
        "cloud = \"hospital\"",
        "snapshot = \"ehr-analytics-s2d\"",
        "disk_format = \"qcow2\"",
        "visibility = \"private\"",
        &format!("network = {network}"),
        "keypair = { import = \"alice-key\" }",
        "security_group = \"analytics\"",
        "floating_ip = { pool = \"public\" }",
    ] {
        assert!(toml.contains(line), "the plan lacks {line}:\n{toml}");
    }
    // The TOML download is the plan the service keeps.
    page.click("download-toml").await;
    let downloaded = wait_for_download(&page.downloads, &plan_id, ".toml").await;
    assert!(
        downloaded.contains("cloud = \"provider\"") && downloaded.contains("alice-key"),
        "{downloaded}"
    );
    page.shot("step8").await;
    page.next(8).await;

    // Step 9: apply, follow the progress to the end.
    assert!(
        page.js("return !document.getElementById('apply').disabled;", vec![])
            .await
            == true,
        "Apply is not enabled"
    );
    page.shot("step9").await;
    page.click("apply").await;
    let deadline = Instant::now() + JOB;
    let mut live_transfer = false;
    let status = loop {
        let now = page
            .js(
                "const s = document.getElementById('job-status');
                 const bars = [...document.querySelectorAll('#progress progress')]
                     .filter(b => !b.hidden).length;
                 return { status: s ? s.textContent : '', bars };",
                vec![],
            )
            .await;
        let status = now["status"].as_str().unwrap_or_default().to_string();
        if status == "running" && now["bars"].as_u64().unwrap_or(0) > 0 {
            live_transfer = true;
        }
        if ["succeeded", "failed", "interrupted", "unknown"].contains(&status.as_str()) {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the apply did not end within {JOB:?} (status {status:?})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status, "succeeded", "the apply did not succeed");
    let rows = page
        .js(
            "return [...document.querySelectorAll('#progress tr[id]')]
                 .map(r => [r.id, r.dataset.state]);",
            vec![],
        )
        .await;
    let rows = rows.as_array().cloned().unwrap_or_default();
    assert!(!rows.is_empty(), "no progress row");
    for row in &rows {
        assert_eq!(row[1], "done", "{row} is not done: {rows:?}");
    }
    // The image transfer reported its bytes: a progress bar with its text.
    let transfers = page
        .js(
            "return [...document.querySelectorAll('#progress tr[id]')]
                 .filter(r => !r.querySelector('progress').hidden)
                 .map(r => r.id + ': ' + r.querySelector('.bar-text').textContent);",
            vec![],
        )
        .await;
    let transfers = transfers.as_array().cloned().unwrap_or_default();
    assert!(
        !transfers.is_empty()
            && transfers
                .iter()
                .all(|t| t.as_str().is_some_and(|t| t.contains('B'))),
        "no transfer progress was shown: {transfers:?}"
    );
    println!("transfer progress (seen live: {live_transfer}): {transfers:?}");
    let overview = page
        .js(
            "return [...document.querySelectorAll('#overview tr.server-row')]
                 .map(r => [...r.children].map(c => c.textContent));",
            vec![],
        )
        .await;
    let servers = overview.as_array().cloned().unwrap_or_default();
    let running = servers.iter().find(|cells| {
        cells[1] == "ACTIVE"
            && cells[0]
                .as_str()
                .is_some_and(|c| c.contains("ehr-analytics"))
            && cells[7]
                .as_str()
                .is_some_and(|ip| ip.parse::<std::net::IpAddr>().is_ok())
    });
    assert!(
        running.is_some(),
        "no ACTIVE ehr-analytics with a floating IP in the overview: {overview}"
    );
    let summary = page
        .js(
            "return document.querySelector('.job-summary').textContent;",
            vec![],
        )
        .await;
    assert!(
        summary
            .as_str()
            .is_some_and(|s| s.starts_with("Apply succeeded") && s.contains(" 0 failed")),
        "{summary}"
    );
    page.shot("step9-done").await;

    // Plans: the plan is listed with its last job.
    page.click("nav-plans").await;
    let row_id = format!("plan-{plan_id}");
    let row = page
        .wait(
            "the plan in the Plans page",
            SHORT,
            "const r = document.getElementById(arguments[0]); return r ? r.textContent : null;",
            vec![json!(row_id)],
        )
        .await;
    let row = row.as_str().unwrap_or_default();
    for part in ["provider → hospital", "ehr-analytics", "apply succeeded"] {
        assert!(row.contains(part), "the plan row lacks {part:?}: {row}");
    }
    page.shot("plans").await;

    // Usage: a table per cloud, the new server in the target's.
    page.click("nav-usage").await;
    page.wait(
        "the usage form",
        SHORT,
        "const c = document.getElementById('usage-clouds'); return c && c.options.length > 0;",
        vec![],
    )
    .await;
    page.click("usage-run").await;
    page.wait(
        "the usage report",
        SHORT,
        "return Boolean(document.getElementById('usage-total'));",
        vec![],
    )
    .await;
    for cloud in ["provider", "hospital"] {
        let table = page.text(&format!("usage-table-{cloud}")).await;
        assert!(
            table.contains("ehr-analytics"),
            "the usage of {cloud} does not list ehr-analytics: {table}"
        );
    }
    page.shot("usage").await;

    // Destroy from the Plans page, confirming the question.
    page.click("nav-plans").await;
    let destroy = format!("destroy-{plan_id}");
    page.wait(
        "the Destroy button",
        SHORT,
        "const b = document.getElementById(arguments[0]); return Boolean(b && !b.disabled);",
        vec![json!(destroy)],
    )
    .await;
    page.js(
        "window.confirm = (q) => { window.s2dAsked = q; return true; };",
        vec![],
    )
    .await;
    page.click(&destroy).await;
    let asked = page
        .wait(
            "the confirmation question",
            SHORT,
            "return window.s2dAsked || null;",
            vec![],
        )
        .await;
    assert!(
        asked.as_str().is_some_and(|q| q.contains(&plan_id)),
        "{asked}"
    );
    page.wait(
        "the destroy job",
        SHORT,
        "const l = document.querySelector('#plan-detail .job-head code');
         return l && l.textContent.startsWith('destroy ');",
        vec![],
    )
    .await;
    let status = page.job_end("the destroy to end").await;
    assert_eq!(status, "succeeded", "the destroy did not succeed");
    let rows = page
        .js(
            "return [...document.querySelectorAll('#progress tr[id]')]
                 .map(r => [r.id, r.children[1].textContent, r.dataset.state]);",
            vec![],
        )
        .await;
    let rows = rows.as_array().cloned().unwrap_or_default();
    assert!(
        rows.len() >= adds as usize,
        "the destroy shows {} rows for {adds} made: {rows:?}",
        rows.len()
    );
    for row in &rows {
        assert!(
            row[1] == "delete" && row[2] == "done",
            "{row} is not a finished delete: {rows:?}"
        );
    }
    page.wait(
        "the plan row after the destroy",
        SHORT,
        "const r = document.getElementById(arguments[0]);
         return Boolean(r && r.textContent.includes('destroy succeeded'));",
        vec![json!(row_id)],
    )
    .await;
    page.shot("destroy").await;
}

/// Wait for the browser to finish downloading a file whose name holds `id` and ends in
/// `ext` (the service names it); returns its text.
async fn wait_for_download(dir: &Path, id: &str, ext: &str) -> String {
    let deadline = Instant::now() + SHORT;
    loop {
        let present: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(name) = present.iter().find(|n| n.contains(id) && n.ends_with(ext))
            && let Ok(text) = std::fs::read_to_string(dir.join(name))
            && !text.is_empty()
        {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "no {ext} file of {id} was downloaded into {} within {SHORT:?} (there: {present:?})",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
