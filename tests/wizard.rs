//! The web wizard of `s2d serve`, driven end to end in headless Chromium as a user drives it:
//! open the address with the token, fill the nine steps (and trip a field check on the way),
//! apply, watch the progress and the overview, look at the Plans page (and the apply replayed
//! from its log, its transfer rates taken from the events' times) and the Usage page, destroy,
//! and find both clouds as they were. A second test types a name the page accepts and the
//! service refuses (422 with located diagnostics) and finds the message under that field,
//! the step marked in the left column, and the plan valid once corrected. A third makes a
//! two-NIC server in the source, places each NIC (one onto the target's `private`, one onto
//! its network built from the source, keeping its IP), checks the plan text the page wrote
//! with the plan reader, then keeps the IP where the target refuses it and finds the
//! preflight's refusal under that NIC. A fourth makes a server booted from a volume with a
//! data volume attached (the `openstack` CLI), sees both volumes in the image step, skips the
//! data volume and maps the root volume's type, checks the plan text with the plan reader and
//! the diff's volume nodes, and applies it to the end, the volume's steps grouped under its
//! heading with the image's bytes shown. A PNG of each step is saved under
//! `$CARGO_TARGET_TMPDIR/wizard/`.
//!
//! It owns the browser side only: chromedriver (`/usr/bin/chromedriver`, on the port it picks)
//! and Chromium (`/usr/bin/chromium`), talked to through `fantoccini`. The clouds and the
//! service come from the end-to-end harness (`tests/e2e/harness.rs`, `tests/e2e/service.rs`);
//! what the page does is known only through its element ids. Nothing is skipped: without
//! Chromium or its driver the test fails and says how to install them.

#[path = "e2e/harness.rs"]
mod harness;
#[path = "e2e/service.rs"]
mod service;

use std::io::{BufRead, BufReader};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use serde_json::{Value, json};

use harness::{World, both, openstack};
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
        // Port 0: chromedriver binds a free port itself and says which on stdout
        // (`ChromeDriver was started successfully on port N.`).
        let mut child = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("stdout");
        // Read its stdout to the end (it must never block on a full pipe), passing the lines on.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let deadline = tokio::time::Instant::now() + SHORT;
        let mut said = Vec::new();
        let port = loop {
            let line = match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(line)) => line,
                Ok(None) | Err(_) => {
                    let _ = child.kill();
                    let exit = child.wait();
                    panic!(
                        "{CHROMEDRIVER} named no port within {SHORT:?} (exit: {exit:?}); \
                         it said: {said:?}"
                    )
                }
            };
            let port = line
                .split_once("started successfully on port ")
                .and_then(|(_, p)| p.trim_end_matches('.').trim().parse::<u16>().ok());
            said.push(line);
            if let Some(port) = port {
                break port;
            }
        };
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

/// One browser test's world: the clouds, `s2d serve` on them, chromedriver and the page.
struct Session {
    world: World,
    service: Service,
    driver: Driver,
    page: Page,
    /// The screenshots this test must leave.
    shots: &'static [&'static str],
    /// The name of the screenshot taken when the test fails (`<it>.png`).
    failure_shot: String,
    started: Instant,
}

impl Session {
    /// Check that the browser is installed, then start the clouds, the service and a
    /// browser session. `shots` are removed first (tests share the screenshot folder).
    async fn open(tag: &str, shots: &'static [&'static str]) -> Session {
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

        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wizard");
        std::fs::create_dir_all(&dir).expect("creates the screenshot folder");
        let failure_shot = format!("failure-{tag}");
        for name in shots.iter().copied().chain([failure_shot.as_str()]) {
            let _ = std::fs::remove_file(dir.join(format!("{name}.png")));
        }
        println!("wizard screenshots ({tag}): {}", dir.display());

        let started = Instant::now();
        let world = World::start().await;
        let service = Service::start(&world, &world.path().join("data"));
        let driver = Driver::start().await;
        let page = Page {
            client: driver.connect().await,
            shots: dir,
            downloads: driver.downloads.path().to_path_buf(),
        };
        Session {
            world,
            service,
            driver,
            page,
            shots,
            failure_shot,
            started,
        }
    }

    /// Run the user's part; on a panic, report what the page showed at that moment.
    async fn run<F>(&self, drive: F) -> Option<String>
    where
        F: std::future::Future<Output = ()>,
    {
        let outcome = AssertUnwindSafe(drive).catch_unwind().await;
        let payload = outcome.err()?;
        let page = &self.page;
        let shot = tokio::time::timeout(SHORT, page.shot(&self.failure_shot))
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

    /// Close the browser and the service (failing with `failure` if the run failed), check
    /// the screenshots, and hand back the clouds for a last look.
    async fn close(self, failure: Option<String>, tag: &str) -> World {
        let Session {
            world,
            service,
            driver,
            page,
            shots,
            started,
            ..
        } = self;
        let closed = tokio::time::timeout(SHORT, page.client.clone().close()).await;
        drop(driver);
        drop(service);
        if let Some(message) = failure {
            panic!("{message}");
        }
        assert!(
            matches!(closed, Ok(Ok(()))),
            "the browser session did not close: {closed:?}"
        );
        for name in shots {
            let path = page.shots.join(format!("{name}.png"));
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
        println!(
            "wizard test {tag}: {:.1} s, screenshots in {}",
            started.elapsed().as_secs_f64(),
            page.shots.display()
        );
        world
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wizard_migrates_a_server_in_headless_chromium() {
    let session = Session::open("migrate", SHOTS).await;
    let before = both(&session.world).await;
    let failure = session.run(drive(&session.page, &session.service)).await;
    let world = session.close(failure, "migrate").await;
    // Destroyed from the Plans page: both clouds hold what they held before.
    assert_eq!(both(&world).await, before);
}

/// Every screenshot the test of the service's refusal must leave.
const REFUSAL_SHOTS: &[&str] = &["review-422", "step2-422"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_services_refusal_is_shown_under_the_field_it_concerns() {
    let session = Session::open("refusal", REFUSAL_SHOTS).await;
    let before = both(&session.world).await;
    let failure = session
        .run(drive_refusal(&session.page, &session.service))
        .await;
    let world = session.close(failure, "refusal").await;
    // Only plans were submitted: neither cloud changed.
    assert_eq!(both(&world).await, before);
}

/// Every screenshot the test of a two-NIC server must leave.
const NIC_SHOTS: &[&str] = &[
    "nics-step4",
    "nics-review",
    "nics-refused",
    "nics-step4-refused",
];

/// The fixed IP of the source server's second NIC, on `wiz-db` (192.168.88.0/24).
const WIZ_IP: &str = "192.168.88.10";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_nic_of_a_two_nic_server_is_placed_and_a_refusal_shows_next_to_its_nic() {
    let session = Session::open("nics", NIC_SHOTS).await;
    let provider = session.world.cloud("provider").await;
    let made = two_nic_server(&provider).await;
    let before = both(&session.world).await;
    let failure = session
        .run(drive_nics(&session.page, &session.service))
        .await;
    let world = session.close(failure, "nics").await;
    // Only plans were submitted and diffed: neither cloud changed.
    assert_eq!(both(&world).await, before);
    remove_two_nic_server(&world.cloud("provider").await, made).await;
}

/// The source: a network `wiz-db` with a subnet, and a server `wiz-two` with its first NIC on
/// `private` and its second on `wiz-db` with the fixed IP [`WIZ_IP`] (a port made first, as
/// `openstack server create --nic net-id=...,v4-fixed-ip=...` does). Returns the server,
/// port and network ids.
async fn two_nic_server(
    cloud: &s2d::cloud::Cloud,
) -> (
    s2d::cloud::ServerId,
    s2d::cloud::PortId,
    s2d::cloud::NetworkId,
) {
    use s2d::cloud::compute::{ServerCreate, ServerNetwork};
    use s2d::cloud::network::topology::{
        AllocationPool, FixedIpRequest, NetworkCreate, PortCreate, SubnetCreate,
    };
    let network = cloud
        .network
        .create_network(&NetworkCreate {
            name: "wiz-db".into(),
            ..Default::default()
        })
        .await
        .expect("creates wiz-db");
    let subnet = cloud
        .network
        .create_subnet(&SubnetCreate {
            name: "wiz-db-subnet".into(),
            network_id: network.id.clone(),
            cidr: "192.168.88.0/24".into(),
            ip_version: 4,
            gateway_ip: Some("192.168.88.1".into()),
            allocation_pools: vec![AllocationPool {
                start: "192.168.88.20".into(),
                end: "192.168.88.99".into(),
            }],
            enable_dhcp: true,
            ..Default::default()
        })
        .await
        .expect("creates wiz-db's subnet");
    let port = cloud
        .network
        .create_port(&PortCreate {
            name: "wiz-two-db".into(),
            network_id: network.id.clone(),
            fixed_ips: vec![FixedIpRequest {
                subnet_id: Some(subnet.id.clone()),
                ip_address: Some(WIZ_IP.into()),
            }],
            ..Default::default()
        })
        .await
        .expect("creates the port with the fixed IP");
    let private = cloud
        .network
        .networks(&[])
        .await
        .expect("networks")
        .into_iter()
        .find(|n| n.name == "private" && !n.external)
        .expect("the source has a network `private`");
    let template = cloud
        .compute
        .list_servers(&Default::default())
        .await
        .expect("servers")
        .into_iter()
        .find(|s| s.name == "ehr-analytics")
        .expect("the source has ehr-analytics");
    let flavor = cloud
        .compute
        .list_flavors()
        .await
        .expect("flavors")
        .into_iter()
        .find(|f| f.name == "m1.small")
        .expect("the source has m1.small");
    let id = cloud
        .compute
        .create_server(&ServerCreate {
            name: "wiz-two".into(),
            image: template.image.clone(),
            flavor: flavor.id,
            key_name: Some("alice-key".into()),
            networks: vec![
                ServerNetwork::Network(private.id),
                ServerNetwork::Port(port.id.clone()),
            ],
            ..Default::default()
        })
        .await
        .expect("boots wiz-two");
    cloud
        .compute
        .wait_for_server(&id, "ACTIVE", JOB)
        .await
        .expect("wiz-two becomes ACTIVE");
    (id, port.id, network.id)
}

async fn remove_two_nic_server(
    cloud: &s2d::cloud::Cloud,
    (server, port, network): (
        s2d::cloud::ServerId,
        s2d::cloud::PortId,
        s2d::cloud::NetworkId,
    ),
) {
    cloud
        .compute
        .delete_server(&server)
        .await
        .expect("deletes wiz-two");
    cloud
        .compute
        .wait_for_server_deleted(&server, JOB)
        .await
        .expect("wiz-two is gone");
    cloud
        .network
        .delete_resource("ports", port.as_str())
        .await
        .expect("deletes the port");
    cloud
        .network
        .delete_resource("networks", network.as_str())
        .await
        .expect("deletes wiz-db");
}

/// The plan text the review shows (without its line numbers).
async fn plan_text(page: &Page) -> String {
    page.js(
        "return [...document.querySelectorAll('#plan-text .line')]
             .map(l => l.textContent.slice(l.querySelector('.ln').textContent.length + 1))
             .join('');",
        vec![],
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_string()
}

/// Wait until step 4 shows the server's NICs; returns how many.
async fn wait_nics(page: &Page) -> u64 {
    page.wait(
        "the server's NICs in step 4",
        SHORT,
        "const s = document.getElementById('step');
         return s && s.dataset.nics ? Number(s.dataset.nics) : null;",
        vec![],
    )
    .await
    .as_u64()
    .unwrap_or(0)
}

/// The user moves `wiz-two`: NIC 0 onto the target's `private`, NIC 1 onto `wiz-db` built
/// from the source with a router to `public`, keeping its IP, the floating IP on NIC 1; the
/// plan is valid and says so. Then NIC 1 keeps its IP on the target's `private`: the target
/// refuses (the preflight), and the refusal is shown next to NIC 1.
async fn drive_nics(page: &Page, service: &Service) {
    open_wizard(page, service).await;
    page.select("source-cloud", "provider").await;
    page.next(1).await;
    page.click("server-wiz-two").await;
    page.next(2).await;
    page.next(3).await;

    // Step 4: the NICs in their order, with what each holds in the source.
    page.select("target-cloud", "hospital").await;
    assert_eq!(wait_nics(page).await, 2, "wiz-two has two NICs");
    let facts = page
        .js(
            "return [...document.querySelectorAll('#nics fieldset.nic')]
                 .map(f => [f.id, f.dataset.network, f.querySelector('code[id$=-ips]').textContent,
                            f.querySelector('code[id$=-mac]').textContent]);",
            vec![],
        )
        .await;
    let facts = facts.as_array().cloned().unwrap_or_default();
    assert_eq!(facts.len(), 2, "{facts:?}");
    assert_eq!(facts[0][0], "nic-0");
    assert_eq!(facts[0][1], "private", "NIC 0 is on private: {facts:?}");
    assert_eq!(facts[1][1], "wiz-db", "NIC 1 is on wiz-db: {facts:?}");
    assert!(
        facts[1][2]
            .as_str()
            .is_some_and(|ips| ips.contains(WIZ_IP) && ips.contains("192.168.88.0/24")),
        "NIC 1's fixed IP and subnet: {facts:?}"
    );
    for nic in &facts {
        let mac = nic[3].as_str().unwrap_or_default();
        assert!(
            mac.len() == 17 && mac.matches(':').count() == 5,
            "a MAC for {}: {facts:?}",
            nic[0]
        );
    }
    // The defaults: the network of the same name in the target, else one built.
    assert!(page.checked("nic-0-mode-map").await);
    assert_eq!(page.value("nic-0-network").await, "private");
    assert!(page.checked("nic-1-mode-build").await);
    assert_eq!(page.value("nic-1-build-name").await, "wiz-db");
    page.select("nic-0-network", "private").await;
    page.select("nic-1-router", "public").await;
    page.click("nic-1-keep-ip").await;
    assert!(page.checked("nic-1-keep-ip").await);
    assert!(!page.checked("nic-1-keep-mac").await);
    page.shot("nics-step4").await;
    next_through(page, 4, 7).await;

    // Step 7: the floating IP on NIC 1.
    page.click("fip-mode-pool").await;
    page.select("fip-pool", "public").await;
    page.select("fip-nic", "1").await;
    page.next(7).await;

    // Step 8: valid; the diff builds wiz-db, its subnet and router, and NIC 1's port.
    wait_valid_review(page).await;
    for address in [
        "network.wiz-db",
        "subnet.wiz-db[0]",
        "router.wiz-db-router",
        "port.wiz-two[1]",
    ] {
        assert!(
            page.count(&format!(
                "#diff li[id=\"change-{address}\"][data-action=create]"
            ))
            .await
                == 1,
            "the diff does not create {address}: {}",
            page.text("diff").await
        );
    }
    let text = plan_text(page).await;
    for line in [
        "[[network]]",
        "from = \"wiz-db\"",
        "router = { external = \"public\" }",
        "networks = { \"private\" = \"private\", \"wiz-db\" = { network = \"wiz-db\", keep_ip = true } }",
        "floating_ip = { pool = \"public\", nic = \"wiz-db\" }",
    ] {
        assert!(text.contains(line), "the plan lacks {line}:\n{text}");
    }
    // The plan the wizard wrote reads as one, and its TOML writer's text reads back the same.
    let loaded = s2d::plan::parse_str(&text, s2d::plan::Syntax::Toml, "wizard.toml");
    assert!(!loaded.has_errors(), "{:?}\n{text}", loaded.diagnostics);
    let plan = loaded.plan.expect("a plan");
    assert_eq!(plan.networks.len(), 1);
    assert_eq!(plan.networks[0].from, "wiz-db");
    assert_eq!(
        plan.networks[0]
            .router
            .as_ref()
            .map(|r| r.external.as_str()),
        Some("public")
    );
    let server = &plan.resolved_servers()[0];
    assert_eq!(server.networks.len(), 2, "{:?}", server.networks);
    assert_eq!(server.networks["private"].network, "private");
    assert!(!server.networks["private"].keep_ip);
    assert_eq!(server.networks["wiz-db"].network, "wiz-db");
    assert!(server.networks["wiz-db"].keep_ip && !server.networks["wiz-db"].keep_mac);
    assert_eq!(server.floating_ip_nic.as_deref(), Some("wiz-db"));
    let written = s2d::plan::to_toml(&plan).expect("writes the plan");
    let again = s2d::plan::parse_str(&written, s2d::plan::Syntax::Toml, "again.toml");
    assert!(!again.has_errors(), "{:?}\n{written}", again.diagnostics);
    let again = again.plan.expect("a plan");
    assert_eq!(again.networks, plan.networks, "{written}");
    assert_eq!(
        again.resolved_servers(),
        plan.resolved_servers(),
        "{written}"
    );
    page.shot("nics-review").await;

    // Back to step 4: NIC 1 keeps its IP on the target's `private`, whose subnet does not
    // hold it. The plan reads well; the target refuses it, next to NIC 1.
    page.js("location.hash = '#/wizard/4';", vec![]).await;
    page.wait_step(4).await;
    assert_eq!(wait_nics(page).await, 2);
    assert!(
        page.checked("nic-1-keep-ip").await,
        "NIC 1 no longer keeps its IP"
    );
    page.click("nic-1-mode-map").await;
    page.select("nic-1-network", "private").await;
    next_through(page, 4, 8).await;
    let status = page
        .wait(
            "the target's refusal in the review",
            SHORT,
            "const s = document.getElementById('review-status').textContent;
             return /refuses/.test(s) ? s : null;",
            vec![],
        )
        .await;
    println!("refused: {status}");
    // The API behind it, as openapi.json describes it: the NICs, and the diff's refusal.
    let servers = service.json("/v1/clouds/provider/servers").await;
    let id = servers["servers"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["name"] == "wiz-two"))
        .and_then(|s| s["id"].as_str())
        .expect("wiz-two is listed")
        .to_string();
    let nics = service
        .json(&format!("/v1/clouds/provider/servers/{id}/nics"))
        .await;
    let nics = nics["nics"].as_array().cloned().unwrap_or_default();
    for nic in &nics {
        service::conforms("ServerNic", nic);
    }
    assert_eq!(
        nics.iter()
            .map(|n| n["network"].clone())
            .collect::<Vec<_>>(),
        [json!("private"), json!("wiz-db")],
        "{nics:?}"
    );
    assert_eq!(nics[1]["fixed_ips"][0]["ip"], WIZ_IP, "{nics:?}");
    let networks = service.json("/v1/clouds/hospital/networks").await;
    for network in networks["networks"].as_array().into_iter().flatten() {
        service::conforms("CloudNetwork", network);
    }
    let plan_id = status
        .as_str()
        .and_then(|s| s.strip_prefix("Plan "))
        .and_then(|s| s.split(' ').next())
        .unwrap_or_else(|| panic!("no plan id in {status}"))
        .to_string();
    let refused = service
        .get(&format!("/v1/plans/{plan_id}/diff"))
        .send()
        .await
        .expect("GET diff");
    assert_eq!(refused.status().as_u16(), 422);
    let body: Value = refused.json().await.expect("JSON");
    service::conforms("PreflightRefusal", &body);
    assert_eq!(body["error"]["code"], "s2d::plan::preflight", "{body:#}");
    assert_eq!(body["refusal"]["address"], "port.wiz-two[1]", "{body:#}");
    assert_eq!(body["refusal"]["index"], 1, "{body:#}");
    let listed = page
        .js(
            "return [...document.querySelectorAll('#review-errors li.error')]
                 .map(l => [l.dataset.field, l.textContent]);",
            vec![],
        )
        .await;
    let listed = listed.as_array().cloned().unwrap_or_default();
    assert!(
        listed.len() == 1
            && listed[0][0] == "nic-1"
            && listed[0][1].as_str().is_some_and(|t| {
                t.contains("step 4 (NIC 1 (wiz-db))")
                    && t.contains("port.wiz-two[1]")
                    && t.contains(&format!(
                        "{WIZ_IP} lies in none of network `private`'s subnets"
                    ))
            }),
        "the review does not list the refusal of NIC 1: {listed:?}"
    );
    assert!(
        nav_classes(page, 4).await.contains("has-error"),
        "step 4 is not marked in the left column"
    );
    assert_eq!(page.count("#diff li").await, 0, "a diff of a refused plan");
    assert!(
        page.js("return document.getElementById('next').disabled;", vec![])
            .await
            == true,
        "Next (apply) is enabled for a refused plan"
    );
    page.shot("nics-refused").await;

    // The link leads to step 4, with the reason and the help under NIC 1 (and nothing under
    // NIC 0).
    page.client
        .find(Locator::Css("#review-errors li.error a.diag-link"))
        .await
        .expect("the refusal links to its step")
        .click()
        .await
        .expect("follows the link");
    page.wait_step(4).await;
    wait_nics(page).await;
    let err = page.text("err-nic-1").await;
    assert!(
        err.contains("lies in none of network `private`'s subnets") && err.contains("drop keep_ip"),
        "the refusal under NIC 1: {err:?}"
    );
    assert_eq!(page.text("err-nic-0").await, "", "NIC 0 shows a refusal");
    let shown = page.errors().await;
    assert!(
        shown.iter().any(|e| e.starts_with("err-nic-1: ")),
        "the refusal under NIC 1 is not visible: {shown:?}"
    );
    page.shot("nics-step4-refused").await;
}

const VOLUME_SHOTS: &[&str] = &["volumes-step3", "volumes-review", "volumes-applied"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volume_backed_server_is_moved_with_its_data_volume_skipped_and_its_type_mapped() {
    let session = Session::open("volumes", VOLUME_SHOTS).await;
    let server = volume_backed_server(&session.world).await;
    // What the target holds besides, that the apply adds to (the real clouds are shared by
    // the tests after this one, which expect to make the keypair and groups themselves).
    let target_before = target_extras(&session.world).await;
    let root = openstack(
        &session.world,
        "provider",
        &["volume", "show", "wiz-vols-root"],
        true,
    )
    .await;
    let src_type = root["type"]
        .as_str()
        .expect("the root volume's type")
        .to_string();
    let to_type = mapped_type(&session.service, &src_type).await;
    let failure = session
        .run(drive_volumes(
            &session.page,
            &session.service,
            &server,
            &src_type,
            &to_type,
        ))
        .await;
    let world = session.close(failure, "volumes").await;
    // The target has `wiz-vols`, ACTIVE, booted from its one volume (the data volume stayed
    // behind); the source still has both volumes attached to its server.
    let target = openstack(&world, "hospital", &["server", "show", "wiz-vols"], true).await;
    assert_eq!(target["status"], "ACTIVE", "{target:#}");
    let attached = target["volumes_attached"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(attached.len(), 1, "one volume in the target: {target:#}");
    let copy = attached[0]["id"]
        .as_str()
        .expect("the volume's id")
        .to_string();
    let volume = openstack(&world, "hospital", &["volume", "show", &copy], true).await;
    assert_eq!(
        volume["type"],
        to_type.as_str(),
        "the type was mapped: {volume:#}"
    );
    assert!(
        volume["bootable"] == true || volume["bootable"] == "true",
        "the target volume is not bootable: {volume:#}"
    );
    let source = openstack(&world, "provider", &["server", "show", &server], true).await;
    assert_eq!(
        source["volumes_attached"].as_array().map(Vec::len),
        Some(2),
        "{source:#}"
    );

    // Both clouds as they were for the volumes (the real clouds serve the tests after this).
    openstack(
        &world,
        "hospital",
        &["server", "delete", "--wait", "wiz-vols"],
        false,
    )
    .await;
    harness::remove_volume(&world, "hospital", &copy).await;
    openstack(
        &world,
        "provider",
        &["server", "delete", "--wait", &server],
        false,
    )
    .await;
    for name in ["wiz-vols-root", "wiz-vols-data"] {
        harness::remove_volume(&world, "provider", name).await;
    }
    openstack(
        &world,
        "provider",
        &["image", "delete", "wiz-vols-root-img"],
        false,
    )
    .await;
    let made: Vec<(String, String)> = target_extras(&world)
        .await
        .into_iter()
        .filter(|e| !target_before.contains(e))
        .collect();
    // Rules first, then groups, then the keypair.
    for kind in ["rule", "group", "keypair"] {
        for (k, id) in made.iter().filter(|(k, _)| k == kind) {
            let args: Vec<&str> = match k.as_str() {
                "rule" => vec!["security", "group", "rule", "delete", id],
                "group" => vec!["security", "group", "delete", id],
                _ => vec!["keypair", "delete", id],
            };
            openstack(&world, "hospital", &args, false).await;
        }
    }
}

/// The target's keypairs, security groups and rules (kind, id), besides servers and volumes.
async fn target_extras(world: &World) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (kind, args, key) in [
        ("rule", vec!["security", "group", "rule", "list"], "ID"),
        ("group", vec!["security", "group", "list"], "ID"),
        ("keypair", vec!["keypair", "list"], "Name"),
    ] {
        let listed = openstack(world, "hospital", &args, true).await;
        for item in listed.as_array().cloned().unwrap_or_default() {
            if kind == "group" && item["Name"] == "default" {
                continue;
            }
            if let Some(id) = item[key].as_str() {
                out.push((kind.to_string(), id.to_string()));
            }
        }
    }
    out
}

/// The source: volumes `wiz-vols-root` (1 GiB, bootable, from a small raw image) and
/// `wiz-vols-data` (1 GiB, empty), both of the default type, and server `wiz-vols` booted from
/// the first with the second attached. Returns the server's id.
async fn volume_backed_server(world: &World) -> String {
    harness::volume_backed_source(world, "wiz-vols", "wiz-vols", None)
        .await
        .server
}

/// The type to map the source's `src_type` to: one the page offers (the source's types, until
/// the target is chosen) and the target has, another than `src_type` when there is one
/// (devcloud: `__DEFAULT__`; the real clouds: `standard`, the one type both have).
async fn mapped_type(service: &Service, src_type: &str) -> String {
    let types = service.json("/v1/clouds/hospital/volume-types").await;
    let types = types["volume_types"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let source_types = service.json("/v1/clouds/provider/volume-types").await;
    let source_types: Vec<String> = source_types["volume_types"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect();
    let in_target = |name: &str| types.iter().any(|t| t["name"] == name);
    source_types
        .iter()
        .find(|t| **t != src_type && in_target(t))
        .or_else(|| source_types.iter().find(|t| in_target(t)))
        .cloned()
        .unwrap_or_else(|| panic!("a volume type both clouds have: {source_types:?} {types:?}"))
}

/// The user moves `wiz-vols`: step 3 lists its two volumes (the root one first, which cannot
/// be skipped), the data volume is skipped and `lvmdriver-1` mapped to the target's
/// `__DEFAULT__`; the plan the page wrote reads with those keys; the review's diff makes the
/// root volume's copy and nothing of the data volume's; the apply shows each step of the
/// volume under its heading, the image's bytes among them, and ends done.
async fn drive_volumes(
    page: &Page,
    service: &Service,
    server_id: &str,
    src_type: &str,
    to_type: &str,
) {
    // The API behind step 3, as openapi.json describes it.
    let listed = service
        .json(&format!("/v1/clouds/provider/servers/{server_id}/volumes"))
        .await;
    assert_eq!(listed["booted_from_volume"], true, "{listed:#}");
    let volumes = listed["volumes"].as_array().cloned().unwrap_or_default();
    for v in &volumes {
        service::conforms("ServerVolume", v);
    }
    assert_eq!(
        volumes
            .iter()
            .map(|v| (v["name"].clone(), v["root"].clone(), v["size_gb"].clone()))
            .collect::<Vec<_>>(),
        [
            (json!("wiz-vols-root"), json!(true), json!(1)),
            (json!("wiz-vols-data"), json!(false), json!(1)),
        ],
        "{listed:#}"
    );
    // A server booted from an image with no volume: none listed (Cinder is not asked); an
    // unknown server: 404.
    let servers = service.json("/v1/clouds/provider/servers").await;
    let plain = servers["servers"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["name"] == "ehr-analytics"))
        .and_then(|s| s["id"].as_str())
        .expect("ehr-analytics is listed")
        .to_string();
    let none = service
        .json(&format!("/v1/clouds/provider/servers/{plain}/volumes"))
        .await;
    assert_eq!(none["volumes"], json!([]), "{none:#}");
    assert_eq!(none["booted_from_volume"], false, "{none:#}");
    let unknown = service
        .get("/v1/clouds/provider/servers/no-such-server/volumes")
        .send()
        .await
        .expect("GET volumes");
    assert_eq!(unknown.status().as_u16(), 404);
    let types = service.json("/v1/clouds/hospital/volume-types").await;
    let types = types["volume_types"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for t in &types {
        service::conforms("VolumeType", t);
    }

    open_wizard(page, service).await;
    page.select("source-cloud", "provider").await;
    page.next(1).await;
    page.click("server-wiz-vols").await;
    page.next(2).await;

    // Step 3: the volumes, root first; the root volume has no skip box.
    let rows = page
        .js(
            "return [...document.querySelectorAll('#volumes-table tbody tr')]
                 .map(r => [...r.children].map(c => c.textContent));",
            vec![],
        )
        .await;
    let rows = rows.as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let row = |i: usize| rows[i].as_array().cloned().unwrap_or_default();
    assert_eq!(row(0)[0], "wiz-vols-root", "{rows:?}");
    assert_eq!(row(0)[1], "1 GiB", "{rows:?}");
    assert_eq!(row(0)[2], src_type, "{rows:?}");
    assert!(
        row(0)[3].as_str().is_some_and(|d| d.contains("(root)")),
        "{rows:?}"
    );
    assert_eq!(row(1)[0], "wiz-vols-data", "{rows:?}");
    assert_eq!(
        page.count("#vol-skip-0").await,
        0,
        "the root volume can be skipped"
    );
    assert!(
        !page.checked("vol-skip-1").await,
        "the data volume starts skipped"
    );
    assert!(!page.checked("stop").await, "stop starts checked");
    assert_eq!(page.text("volumes-total").await, "2 GiB to copy");
    page.click("vol-skip-1").await;
    assert_eq!(page.text("volumes-total").await, "1 GiB to copy");
    assert_eq!(
        page.value("voltype-0").await,
        "",
        "the target's default first"
    );
    page.select("voltype-0", to_type).await;
    page.click("stop").await;
    page.shot("volumes-step3").await;
    page.next(3).await;

    // Steps 4 to 7: the target, its `private` network, the defaults, no floating IP.
    page.select("target-cloud", "hospital").await;
    wait_nics(page).await;
    next_through(page, 4, 7).await;
    page.click("fip-mode-none").await;
    page.next(7).await;

    // Step 8 with `stop` ticked: the plan says so. Back in step 3 every choice is as it was
    // left; `stop` is unticked again (devcloud's source is copied running).
    wait_valid_review(page).await;
    let text = plan_text(page).await;
    assert!(text.contains("stop = true"), "{text}");
    page.js("location.hash = '#/wizard/3';", vec![]).await;
    page.wait_step(3).await;
    assert!(
        page.checked("vol-skip-1").await,
        "the data volume is no longer skipped"
    );
    assert_eq!(page.value("voltype-0").await, to_type);
    assert!(page.checked("stop").await, "stop is no longer ticked");
    page.click("stop").await;
    next_through(page, 3, 8).await;

    // Step 8: the plan carries the keys, reads as a plan, and its diff copies the root
    // volume (its intermediates too) and nothing of the data volume.
    wait_valid_review(page).await;
    let text = plan_text(page).await;
    for line in [
        "skip_volumes = [\"wiz-vols-data\"]",
        &format!("volume_types = {{ \"{src_type}\" = \"{to_type}\" }}"),
    ] {
        assert!(text.contains(line), "the plan lacks {line}:\n{text}");
    }
    assert!(!text.contains("stop = "), "{text}");
    let loaded = s2d::plan::parse_str(&text, s2d::plan::Syntax::Toml, "wizard.toml");
    assert!(!loaded.has_errors(), "{:?}\n{text}", loaded.diagnostics);
    let plan = loaded.plan.expect("a plan");
    let resolved = &plan.resolved_servers()[0];
    assert_eq!(resolved.skip_volumes, ["wiz-vols-data"]);
    assert_eq!(
        resolved.volume_types.get(src_type).map(String::as_str),
        Some(to_type)
    );
    assert!(!resolved.stop);
    let diff = page.text("diff").await;
    for address in [
        "volume_snapshot.wiz-vols[0]",
        "volume_copy.wiz-vols[0]",
        "volume_image.wiz-vols[0]",
        "volume.wiz-vols[0]",
    ] {
        assert_eq!(
            page.count(&format!(
                "#diff li[id=\"change-{address}\"][data-action=create]"
            ))
            .await,
            1,
            "the diff does not create {address}: {diff}"
        );
    }
    assert_eq!(
        page.count("#diff li[id$=\"wiz-vols[1]\"]").await,
        0,
        "the skipped data volume is in the diff: {diff}"
    );
    page.shot("volumes-review").await;
    page.next(8).await;

    // Step 9: apply to the end; a volume's steps are grouped under its heading, in order.
    page.click("apply").await;
    let status = page.job_end("the apply of wiz-vols to end").await;
    assert_eq!(status, "succeeded", "the apply did not succeed");
    let grouped = page
        .js(
            "const head = document.querySelector('#progress tr.volume-head[data-volume=\"wiz-vols[0]\"]');
             if (!head) return null;
             const out = [];
             for (let r = head.nextElementSibling; r && r.classList.contains('volume-step'); r = r.nextElementSibling)
                 out.push([r.id.replace(/^progress-/, ''), r.dataset.state]);
             return out;",
            vec![],
        )
        .await;
    let grouped = grouped.as_array().cloned().unwrap_or_default();
    let order: Vec<&str> = grouped.iter().filter_map(|r| r[0].as_str()).collect();
    let stages = [
        "volume_snapshot.wiz-vols[0]",
        "volume_copy.wiz-vols[0]",
        "volume_upload.wiz-vols[0]",
        "volume_image.wiz-vols[0]",
        "volume.wiz-vols[0]",
    ];
    let expected: Vec<&str> = stages
        .iter()
        .copied()
        .filter(|a| order.contains(a))
        .collect();
    assert_eq!(order, expected, "not grouped in step order: {grouped:?}");
    assert!(
        order.contains(&"volume_image.wiz-vols[0]") && order.contains(&"volume.wiz-vols[0]"),
        "{grouped:?}"
    );
    for row in &grouped {
        assert_eq!(row[1], "done", "{grouped:?}");
    }
    let head = page
        .js(
            "const h = document.querySelector('#progress tr.volume-head');
             return h ? h.textContent : null;",
            vec![],
        )
        .await;
    assert!(
        head.as_str()
            .is_some_and(|t| t.contains("wiz-vols[0]") && t.contains("wiz-vols-root, 1 GiB")),
        "the volume's heading: {head}"
    );
    let bytes = page
        .js(
            "const r = document.getElementById('progress-volume_image.wiz-vols[0]');
             return r ? r.querySelector('.bar-text').textContent : null;",
            vec![],
        )
        .await;
    assert!(
        bytes.as_str().is_some_and(|t| t.contains('B')),
        "no bytes shown for the volume's image: {bytes}"
    );
    page.js(
        "document.querySelector('#progress tr.volume-head').scrollIntoView();",
        vec![],
    )
    .await;
    page.shot("volumes-applied").await;
}

/// Open the address `s2d serve` prints (with the token) and wait for the first step.
async fn open_wizard(page: &Page, service: &Service) {
    page.client
        .goto(&format!("{}/#token={}", service.url, service.token))
        .await
        .expect("opens the wizard");
    page.wait_step(1).await;
}

/// Press Next on steps `from..to`, keeping what each step shows.
async fn next_through(page: &Page, from: u32, to: u32) {
    for n in from..to {
        page.next(n).await;
    }
}

/// The review of step 8: wait until the service accepted the plan and its diff is shown;
/// returns the status line.
async fn wait_valid_review(page: &Page) -> String {
    page.wait(
        "the plan to be accepted and its diff shown",
        SHORT,
        "const s = document.getElementById('review-status').textContent;
         return / valid\\./.test(s) ? s : null;",
        vec![],
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_string()
}

/// A name only of U+0085 (NEXT LINE): the page's check (JavaScript's `trim`) keeps it, so the
/// name is not empty there; the plan reader (Rust's `trim`, where it is white space) finds it
/// empty. The page lets it through; the service refuses the plan with a located diagnostic.
const NEXT_LINE: &str = "\u{85}";

/// The error classes of the left column's step `n`.
async fn nav_classes(page: &Page, n: u32) -> String {
    page.js(
        "const e = document.getElementById(arguments[0]); return e ? e.className : '';",
        vec![json!(format!("nav-step-{n}"))],
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_string()
}

/// The user types a snapshot name the page accepts and the service refuses: the review
/// shows the 422's diagnostic, marks step 2 in the left column, the diagnostic's link leads
/// to step 2 with the message under the snapshot name; corrected, the plan is valid.
async fn drive_refusal(page: &Page, service: &Service) {
    open_wizard(page, service).await;
    page.select("source-cloud", "provider").await;
    page.next(1).await;

    page.click("server-ehr-analytics").await;
    // Typed, as a user pasting a name with a stray control character would.
    page.type_into("snapshot-name", NEXT_LINE).await;
    assert_eq!(
        page.value("snapshot-name").await,
        NEXT_LINE,
        "the browser did not type U+0085 into the snapshot name"
    );
    page.next(2).await;
    next_through(page, 3, 4).await;
    page.select("target-cloud", "hospital").await;
    page.wait(
        "hospital's networks",
        SHORT,
        "const n = document.getElementById('nic-0-network');
         return n && n.value ? n.value : null;",
        vec![],
    )
    .await;
    next_through(page, 4, 8).await;

    // Step 8: the service refused the plan (422) and said where.
    page.wait(
        "the service's refusal in the review",
        SHORT,
        "const s = document.getElementById('review-status').textContent;
         return /found problems/.test(s) ? s : null;",
        vec![],
    )
    .await;
    let listed = page
        .js(
            "return [...document.querySelectorAll('#review-errors li.error')]
                 .map(l => [l.dataset.field, l.textContent]);",
            vec![],
        )
        .await;
    let listed = listed.as_array().cloned().unwrap_or_default();
    assert!(
        listed.len() == 1
            && listed[0][0] == "snapshot-name"
            && listed[0][1].as_str().is_some_and(|t| {
                t.contains("step 2 (Snapshot name)") && t.contains("`snapshot` must not be empty")
            }),
        "the review does not list the refusal of the snapshot name: {listed:?}"
    );
    let marked = page
        .js(
            "return [...document.querySelectorAll('#plan-text .line-error')]
                 .map(l => l.dataset.field);",
            vec![],
        )
        .await;
    assert_eq!(marked, json!(["snapshot-name"]), "the plan's marked lines");
    assert!(
        nav_classes(page, 2).await.contains("has-error"),
        "step 2 is not marked in the left column"
    );
    for n in [1, 3, 4, 5, 6, 7] {
        let classes = nav_classes(page, n).await;
        assert!(
            !classes.contains("has-error"),
            "step {n} is marked: {classes}"
        );
    }
    assert_eq!(page.count("#diff li").await, 0, "a diff of a refused plan");
    assert!(
        page.js("return document.getElementById('next').disabled;", vec![])
            .await
            == true,
        "Next (apply) is enabled for a refused plan"
    );
    page.shot("review-422").await;

    // The diagnostic's link leads to the step; the message is under the field.
    page.client
        .find(Locator::Css("#review-errors li.error a.diag-link"))
        .await
        .expect("the diagnostic links to its step")
        .click()
        .await
        .expect("follows the link");
    page.wait_step(2).await;
    let err = page.text("err-snapshot-name").await;
    assert!(
        err.contains("`snapshot` must not be empty") && err.contains("(plan line "),
        "the message under the snapshot name: {err:?}"
    );
    let shown = page.errors().await;
    assert!(
        shown.iter().any(|e| e.starts_with("err-snapshot-name: ")),
        "the error under the snapshot name is not visible: {shown:?}"
    );
    assert!(nav_classes(page, 2).await.contains("has-error"));
    page.shot("step2-422").await;

    // Corrected and reviewed again: valid, with its diff.
    page.type_into("snapshot-name", "ehr-analytics-s2d").await;
    next_through(page, 2, 8).await;
    let status = wait_valid_review(page).await;
    println!("after the correction: {status}");
    assert!(
        page.count("#diff li[data-action=create]").await > 0,
        "no creation in the diff"
    );
    assert_eq!(page.count("#review-errors li").await, 0);
    let classes = nav_classes(page, 2).await;
    assert!(
        !classes.contains("has-error"),
        "step 2 is still marked: {classes}"
    );
    assert!(
        page.text("plan-text")
            .await
            .contains("snapshot = \"ehr-analytics-s2d\""),
        "the corrected name is not in the plan"
    );
}

/// The user's session, from opening the address to the destroy.
async fn drive(page: &Page, service: &Service) {
    // The address `s2d serve` prints: the token is taken in, then out of the address bar.
    open_wizard(page, service).await;
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
        "const n = document.getElementById('nic-0-network'); return n && n.value;",
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
            "const n = document.getElementById('nic-0-network');
             return n && !document.getElementById('err-target-cloud').textContent
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
    let status = wait_valid_review(page).await;
    let plan_id = status
        .strip_prefix("Plan ")
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
    replayed_rates(page, service, &plan_id).await;

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

/// Plans -> Jobs -> Show: the apply replayed from its log. Its events arrive all at once, so
/// a rate can only come from their `ts`: the transfer row shows its average, and a peak rate
/// exactly when the log holds two samples of the image far enough apart (the page measures
/// over at least 150 ms).
async fn replayed_rates(page: &Page, service: &Service, plan_id: &str) {
    page.click(&format!("jobs-{plan_id}")).await;
    let job = page
        .wait(
            "the plan's jobs",
            SHORT,
            "const t = document.getElementById('jobs-table-' + arguments[0]);
             const r = t && [...t.querySelectorAll('tbody tr')]
                 .find(r => r.children[1] && r.children[1].textContent === 'apply');
             return r ? r.children[0].textContent : null;",
            vec![json!(plan_id)],
        )
        .await;
    let job = job.as_str().unwrap_or_default().to_string();
    page.click(&format!("show-{job}")).await;
    page.wait(
        "the replayed apply's summary",
        SHORT,
        "return Boolean(document.querySelector('#plan-detail .job-summary'));",
        vec![],
    )
    .await;
    let shown = page
        .js(
            "return Object.fromEntries([...document.querySelectorAll('#progress tr[id]')]
                 .filter(r => !r.querySelector('progress').hidden)
                 .map(r => [r.id.replace(/^progress-/, ''),
                            r.querySelector('.bar-text').textContent]));",
            vec![],
        )
        .await;
    let shown = shown.as_object().cloned().unwrap_or_default();

    let at = |v: &Value| {
        let ts = v["ts"].as_str().unwrap_or_default();
        time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("the event's ts {ts:?} is not RFC 3339: {e}"))
    };
    let mut samples: std::collections::BTreeMap<String, Vec<(time::OffsetDateTime, u64)>> =
        Default::default();
    for (_, kind, data) in service.events(&job).await {
        if kind == "transfer" {
            let address = data["address"].as_str().unwrap_or_default().to_string();
            samples
                .entry(address)
                .or_default()
                .push((at(&data), data["bytes"].as_u64().unwrap_or(0)));
        }
    }
    assert!(!samples.is_empty(), "the apply logged no transfer event");
    for (address, points) in &samples {
        let text = shown
            .get(address)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no progress of {address} in the replay: {shown:?}"));
        assert!(text.contains("MB/s average"), "{address}: {text}");
        // The page's rule: a sample spans more than 150 ms and some bytes.
        let (mut since, mut from) = points[0];
        let mut measurable = false;
        for &(t, bytes) in &points[1..] {
            // Whole milliseconds, as the browser's Date.parse reads the times.
            let ms = |t: time::OffsetDateTime| t.unix_timestamp_nanos() / 1_000_000;
            if ms(t) - ms(since) > 150 && bytes > from {
                measurable = true;
                (since, from) = (t, bytes);
            }
        }
        assert_eq!(
            text.contains(", peak ") && text.contains(" MB/s"),
            measurable,
            "{address} in the replay: {text:?}; logged samples: {points:?}"
        );
        println!("replayed {address}: {text}");
    }
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
