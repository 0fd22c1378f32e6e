//! Health gates between rings (issue 19 item 5) end to end: `alarms` watched during a rollout
//! and `[project] bake` after a ring, a missing alarm refused before any write, and a rollout
//! ECS's deployment circuit breaker rolled back itself. The real binary against a fresh copy of
//! the example fleet (rings canary: acme, early: globex, stable: initech and umbrella); every
//! test reads what ECS runs afterwards, not only stamp's summary.
//!
//! No test races the deploy: an alarm that fires during a rollout is set by the emulator's
//! rollout hook (at UpdateService), and one that fires during a bake only after stamp said the
//! bake began, with a bake far longer than it takes to set it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};

use crate::support::emulator::{Emulator, Fleet, example_fleet};
use crate::support::{Run, detail, result, rows, rt, run_command};

const TENANTS: [&str; 4] = ["acme", "globex", "initech", "umbrella"];
/// What the seeded services run: the first revision of each family.
const SEEDED: i32 = 1;
const ALARM: &str = "api-5xx";

fn emu() -> &'static Emulator {
    Emulator::shared()
}

/// The example fleet seeded in fresh accounts, every tenant always open, the api of every
/// tenant gated on `api-5xx` (which exists, OK, in every account), and `[project]` with `extra`.
fn gated_fleet(project_extra: &str) -> Fleet {
    let (root, params) = example_fleet();
    let f = emu().fresh_fleet(&root, &params);
    for t in TENANTS {
        let path = f.root().join(format!("tenants/{t}.toml"));
        let text = std::fs::read_to_string(&path).expect("read tenant");
        let text = match text.find("[schedule]") {
            Some(at) => {
                let end = text[at + 1..]
                    .find("\n[")
                    .map_or(text.len(), |n| at + 1 + n);
                format!("{}{}", &text[..at], &text[end..])
            }
            None => text,
        };
        std::fs::write(
            &path,
            format!("{text}\n[schedule]\ntimezone = \"UTC\"\nwindows = []\n"),
        )
        .expect("write tenant");
    }
    edit(&f, "tenants/_defaults.toml", |d| {
        d.replacen(
            "rings = [\"canary\", \"early\", \"stable\"]",
            &format!("rings = [\"canary\", \"early\", \"stable\"]\n{project_extra}"),
            1,
        )
        .replacen(
            "template      = \"api.json.j2\"",
            &format!("template      = \"api.json.j2\"\nalarms        = [\"{ALARM}\"]"),
            1,
        )
    });
    for t in TENANTS {
        set_alarm(&f, t, ALARM, None);
    }
    f
}

fn edit(f: &Fleet, rel: &str, change: impl Fn(&str) -> String) {
    let path = f.root().join(rel);
    let text = std::fs::read_to_string(&path).expect("read");
    let changed = change(&text);
    assert_ne!(changed, text, "{rel}: the edit changed nothing");
    std::fs::write(&path, changed).expect("write");
}

/// Creates (or updates) `name` in the tenant's account and sets its state: OK, or ALARM with
/// `Some(reason)`.
fn set_alarm(f: &Fleet, tenant: &str, name: &str, alarm: Option<&str>) {
    let t = f.tenant(tenant).clone();
    rt().block_on(async {
        let cfg = emu()
            .sdk_config_for(&t.account_id, &t.region, "stamp-deploy")
            .await;
        let cw = aws_sdk_cloudwatch::Client::new(&cfg);
        cw.put_metric_alarm()
            .alarm_name(name)
            .namespace("AWS/ApplicationELB")
            .metric_name("HTTPCode_Target_5XX_Count")
            .statistic(Statistic::Sum)
            .period(60)
            .evaluation_periods(1)
            .threshold(10.0)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .send()
            .await
            .expect("PutMetricAlarm");
        let (state, reason) = match alarm {
            Some(r) => (StateValue::Alarm, r),
            None => (StateValue::Ok, "healthy"),
        };
        cw.set_alarm_state()
            .alarm_name(name)
            .state_value(state)
            .state_reason(reason)
            .send()
            .await
            .expect("SetAlarmState");
    });
}

fn command(f: &Fleet, args: &[&str]) -> Command {
    let mut cmd = emu().command(env!("CARGO_BIN_EXE_stamp"));
    cmd.arg("--root")
        .arg(f.root())
        .args([
            "deploy",
            "--yes",
            "--allow-dirty",
            "--poll-interval",
            "20ms",
            "--output",
            "json",
        ])
        .args(args)
        .stdin(Stdio::null());
    cmd
}

fn deploy(f: &Fleet, args: &[&str]) -> Run {
    let run = run_command(command(f, args));
    run.no_panic();
    run
}

/// The revision each `tenant/service` runs, as ECS says.
fn revisions(f: &Fleet) -> std::collections::BTreeMap<String, i32> {
    rt().block_on(async {
        let mut out = std::collections::BTreeMap::new();
        for (tenant, t) in &f.tenants {
            let cfg = emu()
                .sdk_config_for(&t.account_id, &t.region, "stamp-deploy")
                .await;
            let ecs = aws_sdk_ecs::Client::new(&cfg);
            for (service, s) in &t.services {
                let found = ecs
                    .describe_services()
                    .cluster(&t.cluster)
                    .services(&s.ecs_service)
                    .send()
                    .await
                    .expect("DescribeServices");
                let arn = found.services()[0]
                    .task_definition()
                    .expect("task definition")
                    .to_owned();
                let rev = arn.rsplit(':').next().and_then(|r| r.parse().ok());
                out.insert(format!("{tenant}/{service}"), rev.expect("revision"));
            }
        }
        out
    })
}

fn later_rings_untouched(f: &Fleet, run: &Run, why: &[&str]) {
    let rows = rows(run);
    let live = revisions(f);
    for t in ["globex", "initech", "umbrella"] {
        for s in ["api", "worker"] {
            let key = format!("{t}/{s}");
            let row = &rows[&key];
            assert_eq!(result(row), "skipped", "{key}: {row}");
            for w in why {
                assert!(detail(row).contains(w), "{key} should say `{w}`: {row}");
            }
            assert_eq!(live[&key], SEEDED, "{key} still runs what it ran");
        }
    }
}

#[test]
fn an_alarm_firing_during_the_canary_rollout_rolls_it_back_and_no_later_ring_starts() {
    let f = gated_fleet("");
    let acme = f.tenant("acme").clone();
    emu().alarm_on_next_rollout(&acme.account_id, &acme.region, &acme.cluster, "api", ALARM);
    // A tolerance that would let every ring go: only the gate may stop them.
    let run = deploy(&f, &["--all", "--failure-tolerance", "10"]);
    run.code(1);
    let rows = rows(&run);
    let api = &rows["acme/api"];
    assert_eq!(result(api), "rolled-back", "{api}");
    assert!(detail(api).contains("alarm api-5xx in ALARM"), "{api}");
    assert_eq!(api["revision"], SEEDED, "{api}");
    later_rings_untouched(
        &f,
        &run,
        &[
            "ring canary failed its health gate",
            "acme/api: alarm api-5xx in ALARM",
        ],
    );
    assert_eq!(
        revisions(&f)["acme/api"],
        SEEDED,
        "acme/api runs its old revision"
    );
    run.stderr_has(&[
        "ring canary failed its health gate",
        "later rings do not start",
    ]);
}

#[test]
fn a_bake_that_stays_healthy_lets_each_next_ring_go_after_it() {
    let f = gated_fleet("bake = \"1s\"");
    let run = deploy(&f, &["--all"]);
    run.success();
    for (key, row) in rows(&run) {
        assert_eq!(result(&row), "deployed", "{key}: {row}");
    }
    for (key, rev) in revisions(&f) {
        assert_eq!(rev, SEEDED + 1, "{key}");
    }
    let err = &run.stderr;
    let at = |needle: &str| {
        err.find(needle)
            .unwrap_or_else(|| panic!("stderr lacks `{needle}`:\n{err}"))
    };
    // Each bake ends before the next wave starts; the last ring has no bake after it.
    assert!(at("bake: ring canary healthy for 1s of 1s") < at("wave early"));
    assert!(at("bake: ring early healthy for 1s of 1s") < at("wave stable"));
    assert!(!err.contains("bake: ring stable"), "{err}");
}

#[test]
fn an_alarm_firing_during_the_bake_rolls_that_service_back_and_stops_the_later_rings() {
    // A bake far longer than setting an alarm takes: the run ends early once it sees it.
    let f = gated_fleet("bake = \"120s\"");
    let mut child = command(&f, &["--all"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start stamp");
    let stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        let mut set = false;
        for line in BufReader::new(stderr).lines() {
            let line = line.expect("stderr line");
            if !set && line.starts_with("bake: ring canary") {
                set_alarm(&f, "acme", ALARM, Some("5xx above 10 for 1 minute"));
                set = true;
            }
            lines.push(line);
        }
        (f, lines.join("\n"))
    });
    let started = Instant::now();
    let out = child.wait_with_output().expect("stamp ends");
    let (f, stderr) = reader.join().expect("stderr reader");
    assert!(
        started.elapsed() < Duration::from_secs(100),
        "the bake did not end when its alarm fired:\n{stderr}"
    );
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    };
    run.code(1);
    let rows = rows(&run);
    let api = &rows["acme/api"];
    assert_eq!(result(api), "rolled-back", "{api}");
    assert!(
        detail(api).contains(
            "alarm api-5xx in ALARM (5xx above 10 for 1 minute) during the bake of ring canary"
        ),
        "{api}"
    );
    // Only the service whose alarm fired is undone.
    assert_eq!(result(&rows["acme/worker"]), "deployed");
    let live = revisions(&f);
    assert_eq!(live["acme/api"], SEEDED);
    assert_eq!(live["acme/worker"], SEEDED + 1);
    later_rings_untouched(&f, &run, &["ring canary failed its health gate"]);
}

#[test]
fn an_alarm_that_does_not_exist_is_refused_before_any_write_naming_where_it_is_written() {
    let f = gated_fleet("");
    edit(&f, "tenants/acme.toml", |t| {
        t.replacen(
            "[services.api]\n",
            "[services.api]\nalarms = [\"api-5xx\", \"api-latency\"]\n",
            1,
        )
    });
    let run = deploy(&f, &["acme"]);
    run.code(2).stderr_has(&[
        "alarm api-latency does not exist",
        "tenants/acme.toml:",
        "nothing was deployed",
    ]);
    let live = revisions(&f);
    assert_eq!(live["acme/api"], SEEDED);
    assert_eq!(live["acme/worker"], SEEDED);
}

#[test]
fn a_rollout_the_ecs_circuit_breaker_rolled_back_is_a_failed_deploy() {
    let f = gated_fleet("");
    let acme = f.tenant("acme").clone();
    // The breaker with its rollback on, as many services run.
    rt().block_on(async {
        let cfg = emu()
            .sdk_config_for(&acme.account_id, &acme.region, "stamp-deploy")
            .await;
        aws_sdk_ecs::Client::new(&cfg)
            .update_service()
            .cluster(&acme.cluster)
            .service("api")
            .deployment_configuration(
                aws_sdk_ecs::types::DeploymentConfiguration::builder()
                    .deployment_circuit_breaker(
                        aws_sdk_ecs::types::DeploymentCircuitBreaker::builder()
                            .enable(true)
                            .rollback(true)
                            .build(),
                    )
                    .maximum_percent(200)
                    .minimum_healthy_percent(100)
                    .build(),
            )
            .send()
            .await
            .expect("UpdateService");
    });
    emu().fail_next_rollout(&acme.account_id, &acme.region, &acme.cluster, "api");
    let run = deploy(&f, &["acme", "-s", "api"]);
    run.code(1);
    let rows = rows(&run);
    let api = &rows["acme/api"];
    assert_eq!(result(api), "rolled-back", "{api}");
    assert!(
        detail(api).contains(&format!(
            "ECS deployment circuit breaker rolled back to revision {SEEDED}"
        )),
        "{api}"
    );
    assert_eq!(api["revision"], SEEDED, "{api}");
    assert_eq!(revisions(&f)["acme/api"], SEEDED);
    // stamp waited for ECS's rollback instead of starting one of its own.
    run.stderr_lacks(&["rolling back to revision"]);
}

#[test]
fn bake_takes_stamps_duration_syntax_and_refuses_anything_else_with_its_line() {
    let f = crate::support::Fixture::example();
    f.replace(
        "tenants/_defaults.toml",
        "rings = [\"canary\", \"early\", \"stable\"]",
        "rings = [\"canary\", \"early\", \"stable\"]\nbake  = \"10 minutes\"",
    );
    f.stamp(&["validate"]).code(2).stderr_has(&[
        "`bake`",
        "unknown unit",
        "--> tenants/_defaults.toml:",
    ]);
    f.replace(
        "tenants/_defaults.toml",
        "bake  = \"10 minutes\"",
        "bake  = \"10m\"",
    );
    f.stamp(&["validate"]).success();
}
