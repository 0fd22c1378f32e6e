//! `stamp status` end to end against the emulator: what runs, who deployed it, drift from the
//! repo (including edits made outside stamp), accounts that cannot be read, the HTML page, and
//! the read-only role being enough for every inspection command.

use std::process::Stdio;

use aws_sdk_ecs::types::KeyValuePair;
use serde_json::Value;

use crate::support::emulator::{Emulator, Fleet, SeedOptions, example_fleet};
use crate::support::rt;
use crate::support::{Run, run_command};

fn stamp_on(emu: &Emulator, f: &Fleet, args: &[&str]) -> Run {
    let mut cmd = emu.command(env!("CARGO_BIN_EXE_stamp"));
    cmd.arg("--root")
        .arg(f.root())
        .args(args)
        .stdin(Stdio::null());
    let run = run_command(cmd);
    run.no_panic();
    run
}

fn deploy(emu: &Emulator, f: &Fleet, tenants: &[&str]) {
    let mut args = vec![
        "deploy",
        "--yes",
        "--allow-dirty",
        "--ignore-window",
        "--reason",
        "status test",
        "--poll-interval",
        "20ms",
    ];
    args.extend_from_slice(tenants);
    stamp_on(emu, f, &args).success();
}

/// globex's window opens on a weekday other than today in its timezone, so the deploy below
/// needs `--ignore-window` and records the override whenever the test runs (the example's
/// Mon-Fri 09:00-17:00 New York was open on weekday afternoons in Europe, and the override
/// tag then rightly absent).
fn close_globex_window_today(f: &Fleet) {
    let path = f.root().join("tenants/globex.toml");
    let text = std::fs::read_to_string(&path).expect("read globex.toml");
    let today = jiff::Timestamp::now()
        .in_tz("America/New_York")
        .expect("timezone")
        .weekday();
    let day = match today {
        jiff::civil::Weekday::Monday => "Tue",
        _ => "Mon",
    };
    let closed = format!("windows  = [\"{day} 09:00-17:00\"]");
    let edited = text.replacen("windows  = [\"Mon-Fri 09:00-17:00\"]", &closed, 1);
    assert_ne!(edited, text, "globex.toml's window line moved");
    std::fs::write(&path, edited).expect("write globex.toml");
}

fn status_json(emu: &Emulator, f: &Fleet, extra: &[&str]) -> (Run, Value) {
    let mut args = vec!["status", "--output", "json"];
    args.extend_from_slice(extra);
    let run = stamp_on(emu, f, &args);
    let json = run.json();
    (run, json)
}

/// The row of one tenant service in a `status --output json` document.
fn row<'a>(doc: &'a Value, tenant: &str, service: &str) -> &'a Value {
    doc["tenants"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["tenant"] == tenant))
        .and_then(|t| t["services"].as_array())
        .and_then(|ss| ss.iter().find(|s| s["service"] == service))
        .unwrap_or_else(|| panic!("no row {tenant}/{service} in {doc:#}"))
}

fn drift_of(doc: &Value, tenant: &str, service: &str) -> Vec<String> {
    row(doc, tenant, service)["drift"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn status_shows_what_runs_who_deployed_it_and_whether_it_matches_the_repo() {
    let emu = Emulator::shared();
    let (root, params) = example_fleet();
    let f = emu.fresh_fleet(&root, &params);
    close_globex_window_today(&f);
    deploy(emu, &f, &["globex"]);

    let (run, doc) = status_json(emu, &f, &["--all"]);
    run.success();
    let tenants: Vec<&str> = doc["tenants"]
        .as_array()
        .expect("tenants")
        .iter()
        .filter_map(|t| t["tenant"].as_str())
        .collect();
    assert_eq!(tenants, ["acme", "globex", "initech", "umbrella"]);

    // globex runs what the repo renders, deployed by stamp: the audit tags come back.
    let api = row(&doc, "globex", "api");
    assert_eq!(api["state"], "in-sync", "{api:#}");
    let live = &api["live"];
    assert_eq!(live["release"], "v1.41.3");
    assert_eq!(live["revision"], 2);
    assert_eq!(live["rollout"], "COMPLETED");
    assert_eq!(live["running"], live["desired"]);
    assert!(
        live["image"]
            .as_str()
            .is_some_and(|i| i.ends_with(":v1.41.3")),
        "{live:#}"
    );
    assert!(live["deployed_at"].is_string(), "{live:#}");
    let audit = &live["last_deploy"];
    assert!(
        audit["deployer"].as_str().is_some_and(|d| !d.is_empty()),
        "{audit:#}"
    );
    assert!(
        audit["digest"].as_str().is_some_and(|d| d.len() == 64),
        "{audit:#}"
    );
    assert_eq!(audit["override"], "window: status test");

    // The others still run the seed's definitions: drifted, with what differs by name.
    let acme = drift_of(&doc, "acme", "api");
    assert_eq!(row(&doc, "acme", "api")["state"], "drifted");
    for field in ["image:app", "release", "secrets:DATABASE_URL"] {
        assert!(acme.iter().any(|d| d == field), "{field} in {acme:?}");
    }
    assert_eq!(row(&doc, "acme", "api")["desired_release"], "v1.42.0");

    // Every tenant has its window state, in its own timezone.
    for t in doc["tenants"].as_array().expect("tenants") {
        let w = &t["window"];
        assert!(
            ["open", "closed", "frozen"].contains(&w["state"].as_str().unwrap_or("")),
            "{w:#}"
        );
        assert!(w["timezone"].is_string());
    }
    assert_eq!(doc["counts"]["in-sync"], 2);
    assert_eq!(doc["counts"]["drifted"], 6);
    // One role, one DescribeServices per account: status reads as cheaply as plan.
    let ops = &doc["api_calls"]["operations"];
    assert_eq!(ops["sts:AssumeRole"], 4, "{ops:#}");
    assert_eq!(ops["ecs:DescribeServices"], 4, "{ops:#}");

    // The text table: one row per tenant service, states by name, drift listed below.
    let text = stamp_on(emu, &f, &["status", "--all"]);
    text.success();
    let rows: Vec<&str> = text
        .stdout
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(rows.len(), 8, "{}", text.stdout);
    assert!(
        rows.iter()
            .any(|l| l.starts_with("globex") && l.contains("in-sync") && l.contains("v1.41.3")),
        "{}",
        text.stdout
    );
    text.stdout_has(&[
        "drifted (run `stamp plan TENANT` for the diff):",
        "acme/api: image:app",
    ]);
}

#[test]
fn a_service_that_does_not_exist_is_not_deployed() {
    let emu = Emulator::shared();
    let (root, params) = example_fleet();
    let f = emu.fresh_fleet_with(
        &root,
        &params,
        &SeedOptions {
            tenants: None,
            services: false,
        },
    );
    let (run, doc) = status_json(emu, &f, &["umbrella", "-s", "worker"]);
    run.success();
    let r = row(&doc, "umbrella", "worker");
    assert_eq!(r["state"], "not-deployed", "{r:#}");
    assert!(r["live"].is_null());
    assert_eq!(
        doc["tenants"][0]["services"].as_array().map(Vec::len),
        Some(1),
        "-s limits the rows"
    );
    // --check turns anything not in sync into exit code 1, for CI drift jobs.
    stamp_on(emu, &f, &["status", "umbrella", "--check"]).code(1);
}

/// A revision registered and a service changed by hand (console, AWS CLI) show as drift,
/// naming the variables and fields but never their values, and `plan` shows the diff that
/// undoes it.
#[test]
fn hand_edits_show_as_drift_and_plan_shows_the_undo() {
    let emu = Emulator::shared();
    let (root, params) = example_fleet();
    let f = emu.fresh_fleet(&root, &params);
    deploy(emu, &f, &["umbrella"]);
    let t = f.tenant("umbrella").clone();

    const HAND_VALUE: &str = "hand-edited-4f1c";
    rt().block_on(async {
        let cfg = emu
            .sdk_config_for(&t.account_id, &t.region, "stamp-deploy")
            .await;
        let ecs = aws_sdk_ecs::Client::new(&cfg);
        let svc = emu.describe_service(&cfg, &t.cluster, "api").await;
        let td = ecs
            .describe_task_definition()
            .task_definition(&svc.task_definition)
            .send()
            .await
            .expect("describe")
            .task_definition
            .expect("task definition");
        let containers: Vec<_> = td
            .container_definitions()
            .iter()
            .cloned()
            .map(|mut c| {
                let mut env: Vec<KeyValuePair> = c
                    .environment()
                    .iter()
                    .filter(|kv| kv.name() != Some("RATE_LIMIT"))
                    .cloned()
                    .collect();
                env.push(
                    KeyValuePair::builder()
                        .name("RATE_LIMIT")
                        .value(HAND_VALUE)
                        .build(),
                );
                c.environment = Some(env);
                // A secret re-pointed by hand: drift names it, the ARN is not a value anyway.
                if let Some(first) = c.secrets.as_mut().and_then(|s| s.first_mut()) {
                    first.value_from = format!("{}-by-hand", first.value_from);
                }
                c
            })
            .collect();
        let registered = ecs
            .register_task_definition()
            .family(td.family().unwrap_or_default())
            .set_container_definitions(Some(containers))
            .set_cpu(td.cpu().map(str::to_owned))
            .set_memory(td.memory().map(str::to_owned))
            .set_network_mode(td.network_mode().cloned())
            .set_requires_compatibilities(Some(td.requires_compatibilities().to_vec()))
            .set_execution_role_arn(td.execution_role_arn().map(str::to_owned))
            .set_task_role_arn(td.task_role_arn().map(str::to_owned))
            .send()
            .await
            .expect("register by hand");
        ecs.update_service()
            .cluster(&t.cluster)
            .service("api")
            .task_definition(
                registered
                    .task_definition()
                    .and_then(|d| d.task_definition_arn())
                    .expect("arn"),
            )
            .desired_count(7)
            .send()
            .await
            .expect("update by hand");
    });

    let (run, doc) = status_json(emu, &f, &["umbrella"]);
    run.success();
    assert_eq!(row(&doc, "umbrella", "api")["state"], "drifted");
    assert_eq!(row(&doc, "umbrella", "worker")["state"], "in-sync");
    let drift = drift_of(&doc, "umbrella", "api");
    assert!(
        drift.contains(&"environment:RATE_LIMIT".to_owned()),
        "{drift:?}"
    );
    assert!(drift.contains(&"desired_count".to_owned()), "{drift:?}");
    assert!(drift.iter().any(|d| d.starts_with("secrets:")), "{drift:?}");
    assert!(
        !run.stdout.contains(HAND_VALUE) && !run.stderr.contains(HAND_VALUE),
        "status names what drifted, not the values"
    );
    let text = stamp_on(emu, &f, &["status", "umbrella"]);
    assert!(!text.stdout.contains(HAND_VALUE), "{}", text.stdout);

    // plan shows the diff back to the repo: the hand value goes, the repo's comes back.
    let plan = stamp_on(
        emu,
        &f,
        &["plan", "umbrella", "-s", "api", "--output", "json"],
    );
    plan.success();
    let p = plan.json();
    let svc = &p["tenants"][0]["services"][0];
    assert_eq!(svc["action"], "update");
    let diff = svc["diff"].as_str().unwrap_or_default();
    assert!(
        diff.lines()
            .any(|l| l.starts_with('-') && l.contains(HAND_VALUE)),
        "{diff}"
    );
    assert!(
        diff.lines()
            .any(|l| l.starts_with('+') && l.contains("\"200\"")),
        "{diff}"
    );

    // Deploying puts it back; status agrees.
    deploy(emu, &f, &["umbrella"]);
    let (_, after) = status_json(emu, &f, &["umbrella"]);
    assert_eq!(
        row(&after, "umbrella", "api")["state"],
        "in-sync",
        "{after:#}"
    );
}

#[test]
fn the_html_report_is_one_self_contained_page_of_the_fleet() {
    let emu = Emulator::shared();
    let (root, params) = example_fleet();
    let f = emu.fresh_fleet(&root, &params);
    deploy(emu, &f, &["globex"]);
    let page = f.root().join("fleet.html");
    let run = stamp_on(
        emu,
        &f,
        &[
            "status",
            "--all",
            "--html",
            page.to_str().expect("utf-8 path"),
        ],
    );
    run.success().stderr_has(&["fleet report written to"]);
    let html = std::fs::read_to_string(&page).expect("page written");

    // Self-contained: nothing fetched from anywhere.
    for external in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "href=\"//",
        "@import",
        "url(",
    ] {
        assert!(!html.contains(external), "external reference `{external}`");
    }
    // The matrix: a row per tenant, a column per service, a cell per tenant service.
    for t in ["acme", "globex", "initech", "umbrella"] {
        assert!(
            html.contains(&format!("<tr id=\"t-{t}\" data-tenant=\"{t}\">")),
            "row {t}"
        );
        assert!(
            html.contains(&format!("<a href=\"#t-{t}\"")),
            "overview {t}"
        );
    }
    assert_eq!(html.matches("<td class=\"cell s-").count(), 8);
    // And a column per `[infra.KEY]` stack: the seeded accounts have none yet.
    assert!(html.contains("<th>stack app</th>"));
    assert_eq!(html.matches("<td class=\"cell stack s-missing").count(), 4);
    assert_eq!(
        html.matches("<i class=\"s-").count(),
        8,
        "a square per service"
    );
    assert_eq!(html.matches("class=\"cell s-in-sync").count(), 2);
    assert!(html.contains("<th>api</th>") && html.contains("<th>worker</th>"));
    // When and by whom, and the data for tooling.
    assert!(html.contains("Taken ") && html.contains("arn:aws:"));
    assert!(html.contains("id=\"stamp-status\""));

    // Loaded in a real browser when one is there (.ci/run installs Debian's chromium): the
    // script runs to the end without an error and sees every tenant.
    match chromium() {
        Some(bin) => {
            let out = std::process::Command::new(bin)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--virtual-time-budget=3000",
                    "--dump-dom",
                ])
                .arg(format!("file://{}", page.display()))
                .output()
                .expect("run chromium");
            let dom = String::from_utf8_lossy(&out.stdout);
            let body = dom
                .lines()
                .find(|l| l.contains("<body"))
                .unwrap_or_default()
                .to_owned();
            assert!(
                body.contains("data-ready=\"4\""),
                "script did not finish: {body}"
            );
            assert!(!body.contains("data-errors"), "script errors: {body}");
        }
        None => eprintln!(
            "note: chromium is not installed; the page was checked without a browser (.ci/run installs it)"
        ),
    }
}

fn chromium() -> Option<std::path::PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join(name))
                    .find(|c| c.is_file())
            })
        })
}

/// With IAM enforced and `inspect_role` allowed only Describe*, List*, Get*: every inspection
/// command succeeds on the seeded fleet; a tenant whose inspect role may not read is an
/// `unknown` row naming the denied operation and the role, and the command still succeeds.
#[test]
fn inspection_needs_only_the_read_only_role_and_an_unreadable_account_is_unknown() {
    let emu = Emulator::dedicated();
    let (root, params) = example_fleet();
    let f = emu.fresh_fleet(&root, &params);
    // umbrella's inspect role may only ask who it is: reading SSM is denied.
    let u = f.tenant("umbrella").clone();
    emu.create_role(&u.account_id, "stamp-blind", &["sts:GetCallerIdentity"]);
    let path = f.root().join("tenants/umbrella.toml");
    let text = std::fs::read_to_string(&path).expect("read umbrella");
    let blind = format!("arn:aws:iam::{}:role/stamp-blind", u.account_id);
    let text = if text.contains("inspect_role") {
        text.lines()
            .map(|l| {
                if l.trim_start().starts_with("inspect_role") {
                    format!("inspect_role = \"{blind}\"")
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        text.replacen(
            "[tenant]",
            &format!("[tenant]\ninspect_role = \"{blind}\""),
            1,
        )
    };
    std::fs::write(&path, text).expect("write umbrella");
    emu.enforce_iam();

    let (run, doc) = status_json(&emu, &f, &["--all"]);
    run.success();
    let um = doc["tenants"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["tenant"] == "umbrella"))
        .expect("umbrella");
    let err = um["error"].as_str().unwrap_or_default();
    assert!(err.contains("access denied"), "{err}");
    assert!(err.contains("stamp-blind"), "names the role: {err}");
    assert!(err.contains("ssm:"), "names the operation: {err}");
    let problem = &um["problems"][0];
    assert_eq!(problem["message"], err, "{um}");
    assert!(
        problem["hint"]
            .as_str()
            .is_some_and(|h| h.contains("the role's policy must allow")),
        "the hint apart: {um}"
    );
    run.stderr_has(&[
        "= affects tenant umbrella (account",
        "= hint: the role's policy must allow",
    ]);
    for s in um["services"].as_array().expect("services") {
        assert_eq!(s["state"], "unknown");
    }
    // The stacks are read with the read-only role too: the seeded accounts have none yet.
    let acme = doc["tenants"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["tenant"] == "acme"))
        .expect("acme");
    assert_eq!(
        acme["stacks"][0]["state"], "missing",
        "{:#}",
        acme["stacks"]
    );
    for t in ["acme", "globex", "initech"] {
        for s in ["api", "worker"] {
            assert_eq!(row(&doc, t, s)["state"], "drifted", "{t}/{s} was read");
        }
    }
    run.stderr_has(&["umbrella", "access denied"]);

    // The other inspection commands with the read-only role alone.
    stamp_on(&emu, &f, &["plan", "acme", "globex", "initech"]).success();
    stamp_on(&emu, &f, &["history", "acme", "-s", "api"]).success();
    stamp_on(&emu, &f, &["params", "globex"]).success();
    // plan --all includes umbrella: it fails for that tenant only, with the same reason.
    stamp_on(&emu, &f, &["plan", "--all"]).code(1).stderr_has(&[
        "umbrella",
        "access denied",
        "stamp-blind",
    ]);
}
