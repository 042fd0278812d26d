//! `s2d serve` end to end: the real binary serving the API over real HTTP, against the same
//! two clouds as the other scenarios (devcloud, or the real pair).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::harness::{World, both};
use super::service::{Service, all_files, conforms, text};

/// Submit XML and TOML, refuse invalid documents with positions, diff, apply with the event
/// stream observed live, 409 on a second job, usage, destroy back to where the clouds were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_submits_diffs_applies_streams_and_destroys() {
    let world = World::start().await;
    let plan = world.plan("quickstart.toml");
    let toml_text = text(&world.path().join(&plan));
    let xml = world.s2d_ok(&["convert", &plan, "--to", "xml"], 0).await;
    let xml_text = String::from_utf8(xml.stdout).expect("UTF-8");
    let before = both(&world).await;
    let service = Service::start(&world, &world.path().join("data"));

    // No token, a wrong token: 401 and nothing else said.
    for token in [None, Some("wrong")] {
        let mut req = service.http.get(format!("{}/v1/plans", service.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("GET");
        assert_eq!(resp.status(), 401);
        assert!(resp.text().await.expect("body").is_empty());
    }
    let health: Value = service
        .http
        .get(format!("{}/healthz", service.url))
        .send()
        .await
        .expect("healthz")
        .json()
        .await
        .expect("JSON");
    assert_eq!(health["status"], "ok");
    let openapi = service.json("/v1/openapi.json").await;
    // The schema check has teeth: a job without its fields is refused.
    let wrong = serde_json::json!({"id": 5, "status": "cancelled"});
    assert!(std::panic::catch_unwind(|| conforms("Job", &wrong)).is_err());
    assert!(
        openapi["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3."))
    );
    assert!(openapi["paths"]["/v1/plans"].is_object());

    // Invalid documents: 422 with the diagnostics `s2d validate --json` gives, located.
    let bad_toml = toml_text.replace("security_group = ", "securty_group = ");
    let bad_line = bad_toml
        .lines()
        .position(|l| l.starts_with("securty_group"))
        .expect("line")
        + 1;
    let (status, body) = service.submit("application/toml", &bad_toml).await;
    assert_eq!(status, 422, "{body:#}");
    conforms("PlanInvalid", &body);
    let diag = &body["diagnostics"][0];
    assert_eq!(diag["line"], bad_line, "{body:#}");
    assert_eq!(diag["column"], 1, "{body:#}");
    assert_eq!(diag["severity"], "error");
    assert!(
        diag["message"]
            .as_str()
            .unwrap_or("")
            .contains("securty_group"),
        "{body:#}"
    );
    std::fs::write(world.path().join("bad.toml"), &bad_toml).expect("write");
    let validate = world.s2d_ok(&["validate", "--json", "bad.toml"], 1).await;
    let cli: Value = serde_json::from_slice(&validate.stdout).expect("JSON");
    assert_eq!(cli[0]["line"], diag["line"]);
    assert_eq!(cli[0]["message"], diag["message"]);

    assert!(xml_text.contains("<network "), "{xml_text}");
    let bad_xml = xml_text.replace("<network ", "<netwerk ");
    let bad_line = bad_xml
        .lines()
        .position(|l| l.contains("<netwerk "))
        .expect("line")
        + 1;
    let (status, body) = service.submit("application/xml", &bad_xml).await;
    assert_eq!(status, 422, "{body:#}");
    assert_eq!(body["diagnostics"][0]["line"], bad_line, "{body:#}");
    assert!(
        body["diagnostics"][0]["column"].as_u64().is_some(),
        "{body:#}"
    );
    let resp = service
        .post("/v1/plans")
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status(), 415);

    // Valid documents in both syntaxes.
    let (status, body) = service.submit("application/toml", &toml_text).await;
    assert_eq!(status, 201, "{body:#}");
    let toml_id = body["id"].as_str().expect("id").to_string();
    let (status, body) = service.submit("application/xml", &xml_text).await;
    assert_eq!(status, 201, "{body:#}");
    conforms("PlanAccepted", &body);
    let id = body["id"].as_str().expect("id").to_string();
    assert_eq!(body["plan"]["source"], "provider");
    assert_eq!(body["plan"]["target"], "hospital");
    assert_eq!(body["plan"]["servers"][0], "ehr-analytics");
    let listed = service.json("/v1/plans").await;
    assert_eq!(listed["plans"].as_array().map(Vec::len), Some(2));
    // The TOML one is not needed: its state is empty, so it can go.
    let resp = service
        .http
        .delete(format!("{}/v1/plans/{toml_id}", service.url))
        .bearer_auth(&service.token)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(resp.status(), 204);
    // The document comes back in either syntax.
    let doc = service
        .get(&format!("/v1/plans/{id}/document?format=toml"))
        .send()
        .await
        .expect("GET document")
        .text()
        .await
        .expect("text");
    assert!(doc.contains("ehr-analytics"), "{doc}");

    // The diff is `s2d plan --json`'s.
    let diff = service.json(&format!("/v1/plans/{id}/diff")).await;
    conforms("PlanOutcome", &diff);
    let cli = world.s2d_ok(&["plan", &plan, "--json"], 0).await;
    let cli: Value = serde_json::from_slice(&cli.stdout).expect("plan --json");
    let addresses = |v: &Value| -> Vec<(String, String)> {
        v["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .map(|c| (c["address"].to_string(), c["action"].to_string()))
            .collect()
    };
    assert_eq!(addresses(&diff), addresses(&cli));
    assert_eq!(diff["summary"], cli["summary"]);
    assert!(
        diff["summary"]["add"].as_u64().unwrap_or(0) >= 6,
        "{diff:#}"
    );

    // Apply: 202, a second job is refused while it runs, the stream shows it live.
    let (status, job) = service.start_job(&id, "apply").await;
    assert_eq!(status, 202, "{job:#}");
    conforms("Job", &job);
    let job_id = job["id"].as_str().expect("job id").to_string();
    assert_eq!(job["status"], "running");
    let (status, refused) = service.start_job(&id, "destroy").await;
    assert_eq!(status, 409, "{refused:#}");
    conforms("JobConflict", &refused);
    assert_eq!(refused["job"], job_id.as_str());
    let events = service.events(&job_id).await;
    for (_, kind, data) in &events {
        match kind.as_str() {
            "planned" => conforms("EventPlanned", data),
            "end" => conforms("Job", data),
            _ => conforms("Event", data),
        }
    }
    let kinds: Vec<&str> = events.iter().map(|(_, k, _)| k.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"planned"), "{kinds:?}");
    assert!(kinds.contains(&"started"), "{kinds:?}");
    assert!(kinds.contains(&"finished"), "{kinds:?}");
    assert!(kinds.contains(&"transfer"), "{kinds:?}");
    assert!(!kinds.contains(&"failed"), "{events:?}");
    let transfers: Vec<&Value> = events
        .iter()
        .filter(|(_, k, _)| k == "transfer")
        .map(|(_, _, d)| d)
        .collect();
    let last = transfers.last().expect("a transfer event");
    assert_eq!(last["address"], "image.ehr-analytics-s2d");
    assert_eq!(last["bytes"], last["total"], "{last}");
    let ids: Vec<u64> = events.iter().filter_map(|(id, _, _)| *id).collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    let (_, _, end) = events.last().expect("end");
    assert_eq!(end["status"], "succeeded", "{end:#}");
    // Replaying from an event id gives the rest.
    let resp = service
        .get(&format!("/v1/jobs/{job_id}/events"))
        .header("Last-Event-ID", (ids.len() - 1).to_string())
        .send()
        .await
        .expect("GET events");
    let replay = resp.text().await.expect("text");
    assert!(replay.contains(&format!("id: {}\n", ids.len())), "{replay}");
    assert!(!replay.contains("id: 1\n"), "{replay}");

    let record = service.json(&format!("/v1/jobs/{job_id}")).await;
    conforms("Job", &record);
    assert_eq!(record["status"], "succeeded");
    let nodes = record["report"]["nodes"].as_array().expect("nodes");
    assert!(nodes.iter().all(|n| n["status"] == "done"), "{record:#}");
    assert_eq!(record["overview"][0]["status"], "ACTIVE", "{record:#}");
    assert_eq!(
        record["overview"][0]["floating_ips"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let summary = service.json(&format!("/v1/plans/{id}")).await;
    conforms("PlanDetail", &summary);
    assert!(
        summary["resources"]
            .as_array()
            .is_some_and(|r| r.len() >= 6),
        "{summary:#}"
    );
    assert_eq!(summary["last_job"]["status"], "succeeded");
    let again = service.json(&format!("/v1/plans/{id}/diff")).await;
    assert_eq!(again["summary"]["add"], 0, "{again:#}");
    assert_eq!(again["summary"]["change"], 0, "{again:#}");

    // Usage of both clouds: the migrated server is there, marked as s2d's.
    let usage = service
        .json(&format!(
            "/v1/usage?cloud=provider&cloud=hospital&plan={id}"
        ))
        .await;
    conforms("UsageReport", &usage);
    let rows = usage["instances"].as_array().expect("instances");
    assert!(
        rows.iter().any(|r| r["cloud"] == "hospital"
            && r["managed"] == true
            && r["vcpus"].as_u64() >= Some(1)),
        "{usage:#}"
    );
    assert!(rows.iter().any(|r| r["cloud"] == "provider"), "{usage:#}");
    assert!(usage["problems"].as_array().is_some_and(Vec::is_empty));
    let csv = service
        .get(&format!("/v1/usage?cloud=hospital&plan={id}&format=csv"))
        .send()
        .await
        .expect("csv");
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/csv")
    );
    let csv = csv.text().await.expect("text");
    assert!(csv.lines().count() >= 2, "{csv}");
    let resp = service
        .get("/v1/usage?cloud=hospital&start=yesterday-ish")
        .send()
        .await
        .expect("bad period");
    assert_eq!(resp.status(), 400);

    // Destroy: the clouds hold what they held before.
    let (status, job) = service.start_job(&id, "destroy").await;
    assert_eq!(status, 202, "{job:#}");
    let record = service.wait(job["id"].as_str().expect("id")).await;
    assert_eq!(record["status"], "succeeded", "{record:#}");
    assert_eq!(both(&world).await, before);
    let summary = service.json(&format!("/v1/plans/{id}")).await;
    assert_eq!(summary["resources"].as_array().map(Vec::len), Some(0));

    // The service stops on SIGTERM.
    let status = service.terminate();
    assert!(status.success(), "{status:?}");
}

/// A service killed during an apply: at restart the job is `interrupted`, the state holds
/// what was done, and a new apply completes it without duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_marks_the_running_job_interrupted_and_apply_continues() {
    let world = World::start().await;
    if world.devcloud.is_some() {
        // Slow enough to be caught in the middle.
        world
            .faults("hospital", serde_json::json!({"server_build_s": 30.0}))
            .await;
    }
    let plan = world.plan("quickstart.toml");
    let toml_text = text(&world.path().join(&plan));
    let before = both(&world).await;
    let data = world.path().join("data");
    let service = Service::start(&world, &data);
    let (_, body) = service.submit("application/toml", &toml_text).await;
    let id = body["id"].as_str().expect("id").to_string();
    let (status, job) = service.start_job(&id, "apply").await;
    assert_eq!(status, 202);
    let job_id = job["id"].as_str().expect("id").to_string();
    // Kill it in the middle: on devcloud while the (slowed) server is being built, on the real
    // clouds (where a server builds in seconds) while the image is being copied.
    let caught = |e: &Value| {
        if world.devcloud.is_some() {
            e["event"] == "started" && e["address"] == "server.ehr-analytics"
        } else {
            e["event"] == "transfer" && e["bytes"].as_u64().unwrap_or(0) > 0
        }
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let log = std::fs::read_to_string(
            data.join("plans")
                .join(&id)
                .join("jobs")
                .join(format!("{job_id}.events.jsonl")),
        )
        .unwrap_or_default();
        let events: Vec<Value> = log
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if events.iter().any(caught) {
            break;
        }
        assert!(
            !events.iter().any(|e| e["event"] == "failed"),
            "a step failed:\n{log}"
        );
        assert!(
            Instant::now() < deadline,
            "the job never got to the point to be killed at:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    service.kill();

    if world.devcloud.is_some() {
        world
            .faults("hospital", serde_json::json!({"server_build_s": 0.0}))
            .await;
    }
    let service = Service::start(&world, &data);
    let record = service.json(&format!("/v1/jobs/{job_id}")).await;
    assert_eq!(record["status"], "interrupted", "{record:#}");
    assert!(
        record["error"]
            .as_str()
            .unwrap_or("")
            .contains("apply again")
    );
    // The same error with its code and help, as `s2d --json` gives them.
    assert_eq!(
        record["diagnostic"]["code"], "s2d::serve::interrupted",
        "{record:#}"
    );
    assert_eq!(record["diagnostic"]["message"], record["error"]);
    assert!(record["diagnostic"]["help"].is_string(), "{record:#}");
    conforms("Job", &record);
    // Its events are still there, then `end`.
    let events = service.events(&job_id).await;
    assert!(events.iter().any(|(_, k, _)| k == "started"));
    assert_eq!(events.last().map(|e| e.1.as_str()), Some("end"));
    let state = service.json(&format!("/v1/plans/{id}")).await;
    let recorded = state["resources"].as_array().expect("resources").len();
    assert!(recorded >= 3, "{state:#}");

    let (status, job) = service.start_job(&id, "apply").await;
    assert_eq!(status, 202, "{job:#}");
    let record = service.wait(job["id"].as_str().expect("id")).await;
    assert_eq!(record["status"], "succeeded", "{record:#}");
    // No duplicates: one server, one image of that name in the target.
    let target = world.cloud("hospital").await;
    let servers = target
        .compute
        .list_servers(&s2d::cloud::compute::ServerQuery {
            name: Some("ehr-analytics".into()),
            ..Default::default()
        })
        .await
        .expect("servers");
    assert_eq!(servers.len(), 1, "{servers:?}");
    let jobs = service.json(&format!("/v1/plans/{id}/jobs")).await;
    assert_eq!(jobs["jobs"].as_array().map(Vec::len), Some(2));

    let (_, job) = service.start_job(&id, "destroy").await;
    let record = service.wait(job["id"].as_str().expect("id")).await;
    assert_eq!(record["status"], "succeeded", "{record:#}");
    assert_eq!(both(&world).await, before);
}

/// A literal password is accepted, used, and never written or echoed; after a restart the
/// plan asks to be submitted again, and PUT does that keeping its state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_literal_password_is_used_but_never_written_or_echoed() {
    let world = World::start().await;
    let clouds: Value = serde_yaml_ng::from_str(&text(&world.clouds_yaml)).expect("clouds.yaml");
    let auth = &clouds["clouds"]["hospital"]["auth"];
    let password = auth["password"]
        .as_str()
        .expect("a password in clouds.yaml");
    assert!(password.len() >= 6, "a password too short to look for");
    let plan = world.plan("quickstart.toml");
    let toml_text = text(&world.path().join(&plan)).replace(
        "[target]\ncloud = \"hospital\"",
        &format!(
            "[target]\nauth_url = \"{}\"\nusername = \"{}\"\npassword = \"{password}\"\nproject_name = \"{}\"\nuser_domain_name = \"{}\"\nproject_domain_name = \"{}\"",
            auth["auth_url"].as_str().expect("auth_url"),
            auth["username"].as_str().expect("username"),
            auth["project_name"].as_str().expect("project_name"),
            auth["user_domain_name"].as_str().unwrap_or("Default"),
            auth["project_domain_name"].as_str().unwrap_or("Default"),
        ),
    );
    assert!(toml_text.contains(password));
    let data = world.path().join("data");
    let service = Service::start(&world, &data);
    let (status, body) = service.submit("application/toml", &toml_text).await;
    assert_eq!(status, 201, "{body:#}");
    assert!(!body.to_string().contains(password));
    assert_eq!(body["diagnostics"][0]["severity"], "warning", "{body:#}");
    let id = body["id"].as_str().expect("id").to_string();
    assert_eq!(body["plan"]["literal_password"], true);

    // It works: the diff reads the target with it.
    let diff = service.json(&format!("/v1/plans/{id}/diff")).await;
    assert!(
        diff["summary"]["add"].as_u64().unwrap_or(0) >= 6,
        "{diff:#}"
    );
    // Never on disk, never echoed.
    assert!(!all_files(&data).contains(password));
    let resp = service
        .get(&format!("/v1/plans/{id}/document?format=xml"))
        .send()
        .await
        .expect("GET document");
    assert_eq!(resp.status(), 409);
    assert!(!resp.text().await.expect("text").contains(password));
    let listed = service.json("/v1/plans").await;
    assert!(!listed.to_string().contains(password));

    // After a restart the password is gone: 409 with what to do, until the plan is sent again.
    service.kill();
    let service = Service::start(&world, &data);
    let resp = service
        .get(&format!("/v1/plans/{id}/diff"))
        .send()
        .await
        .expect("GET diff");
    assert_eq!(resp.status(), 409);
    let body: Value = resp.json().await.expect("JSON");
    assert!(
        body["error"]["help"].as_str().unwrap_or("").contains("PUT"),
        "{body:#}"
    );
    let resp = service
        .http
        .put(format!("{}/v1/plans/{id}", service.url))
        .bearer_auth(&service.token)
        .header("Content-Type", "application/toml")
        .body(toml_text.clone())
        .send()
        .await
        .expect("PUT");
    assert_eq!(resp.status(), 200);
    let diff = service.json(&format!("/v1/plans/{id}/diff")).await;
    assert!(
        diff["summary"]["add"].as_u64().unwrap_or(0) >= 6,
        "{diff:#}"
    );
    assert!(!all_files(&data).contains(password));
}

/// Plain HTTP is refused off loopback unless asked for, so is a second service on one data
/// directory; TLS serves the same API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_off_loopback_and_a_second_service_are_refused_and_tls_serves() {
    let world = World::start().await;
    let out = world
        .s2d_ok(&["serve", "--listen", "0.0.0.0:0", "--data-dir", "d1"], 1)
        .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("plain HTTP") && err.contains("--tls-cert"),
        "{err}"
    );
    assert!(!world.path().join("d1").join("token").exists());

    // One service per data directory.
    let first = Service::start(&world, &world.path().join("d3"));
    let out = world
        .s2d_ok(&["serve", "--listen", "127.0.0.1:0", "--data-dir", "d3"], 1)
        .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another s2d serve"), "{err}");
    assert_eq!(
        first.json("/v1/plans").await["plans"],
        serde_json::json!([])
    );
    first.kill();

    // A CA of the test's own and a certificate it signed for 127.0.0.1.
    let dir = world.path();
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stderr(Stdio::null())
            .status()
            .expect("openssl");
        assert!(status.success(), "openssl {args:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=s2d test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "key.pem",
        "-out",
        "cert.csr",
    ]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").expect("ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "cert.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
        "-out",
        "cert.pem",
    ]);
    let mut child = world
        .command(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            "d2",
            "--tls-cert",
            "cert.pem",
            "--tls-key",
            "key.pem",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a line").expect("reads");
    let url = first
        .strip_prefix("s2d serve: listening on ")
        .expect("listening line")
        .to_string();
    assert!(url.starts_with("https://"), "{url}");
    let cert = reqwest::Certificate::from_pem(&std::fs::read(dir.join("ca.pem")).expect("ca"))
        .expect("cert");
    let client = reqwest::Client::builder()
        .add_root_certificate(cert)
        .build()
        .expect("client");
    let token = std::fs::read_to_string(dir.join("d2/token")).expect("token");
    let resp = client
        .get(format!("{url}v1/clouds"))
        .bearer_auth(token.trim())
        .send()
        .await
        .expect("https GET");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("JSON");
    assert!(body["clouds"].as_array().is_some_and(|c| c.len() >= 2));
    let _ = child.kill();
    let _ = child.wait();
}

/// Issue 20's hostile submission: a 700 KB XML plan of 100,000 nested elements overflowed a
/// worker's stack and aborted the service with every job in it. Now, while an apply runs, it is
/// answered 422 at its place, the service keeps answering, bodies over a route's limit are
/// refused, and the running job finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_submissions_fail_alone_while_a_job_runs() {
    let world = World::start().await;
    if world.devcloud.is_some() {
        // The job must still be running while the hostile requests arrive.
        world
            .faults("hospital", serde_json::json!({"server_build_s": 5.0}))
            .await;
    }
    let plan = world.plan("quickstart.toml");
    let toml_text = text(&world.path().join(&plan));
    let before = both(&world).await;
    let service = Service::start(&world, &world.path().join("data"));
    let (status, body) = service.submit("application/toml", &toml_text).await;
    assert_eq!(status, 201, "{body:#}");
    let id = body["id"].as_str().expect("id").to_string();
    let (status, job) = service.start_job(&id, "apply").await;
    assert_eq!(status, 202, "{job:#}");
    let job_id = job["id"].as_str().expect("id").to_string();

    let depth = 100_000;
    let deep = format!(
        "<plan xmlns=\"urn:s2d:plan:1\" version=\"1\">\n{}{}</plan>\n",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    );
    assert!(deep.len() > 700_000);
    let started = Instant::now();
    let (status, body) = service.submit("application/xml", &deep).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(status, 422, "{body:#}");
    conforms("PlanInvalid", &body);
    let diag = &body["diagnostics"][0];
    assert_eq!(diag["line"], 2, "{body:#}");
    assert_eq!(diag["column"], 31 * 3 + 2, "{body:#}");
    assert_eq!(diag["message"], "<a> nests elements deeper than 32 levels");

    // Still up, and the job still runs (or has just finished, never failed).
    let health = service
        .http
        .get(format!("{}/healthz", service.url))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    assert!(health.headers().contains_key("x-request-id"));
    let record = service.json(&format!("/v1/jobs/{job_id}")).await;
    assert!(
        record["status"] == "running" || record["status"] == "succeeded",
        "{record:#}"
    );

    // Body limits per route: a plan may be 10 MiB, a job's options 64 KiB, a GET nothing.
    let big_options = format!(
        "{{\"targets\": [{}]}}",
        vec!["\"server.x\""; 10_000].join(",")
    );
    let resp = service
        .post(&format!("/v1/plans/{id}/destroy"))
        .header("Content-Type", "application/json")
        .body(big_options)
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status(), 413);
    // The service answers 413 before it has read the whole body and then closes the
    // connection: a client of its own, so the shared one's pool keeps no closed connection.
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/plans", service.url))
        .bearer_auth(&service.token)
        .header("Content-Type", "application/xml")
        .body(vec![b' '; 11 * 1024 * 1024])
        .send()
        .await;
    // Either the 413, or the connection closed under the rest of the body (both refusals).
    if let Ok(resp) = resp {
        assert_eq!(resp.status(), 413);
    }

    let record = service.wait(&job_id).await;
    assert_eq!(record["status"], "succeeded", "{record:#}");
    let (_, job) = service.start_job(&id, "destroy").await;
    let record = service.wait(job["id"].as_str().expect("id")).await;
    assert_eq!(record["status"], "succeeded", "{record:#}");
    assert_eq!(both(&world).await, before);
    if world.devcloud.is_some() {
        world
            .faults("hospital", serde_json::json!({"server_build_s": 0.0}))
            .await;
    }
}
