//! `stamp deploy` and `stamp rollback` end to end: the real binary against a fresh copy of the
//! example fleet in new accounts of the shared emulator. Every test reads the result back
//! through the SDK (running task definition, revisions, tags, lock parameters), not only from
//! stamp's own summary.
//!
//! The example fleet's schedules depend on the day (acme Tue/Thu, globex weekdays, initech
//! Saturday night, a December freeze), so every test sets the schedules it needs in its copy.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use serde_json::Value;

use crate::support::emulator::{BASE_ACCOUNT, Emulator, Fleet, SeedOptions, example_fleet};
use crate::support::{Run, run_command};
use crate::support::{detail, result, rows, rt};

const TENANTS: [&str; 4] = ["acme", "globex", "initech", "umbrella"];
const SERVICES: [&str; 2] = ["api", "worker"];
/// What the seeded services run: the first revision of each family.
const SEEDED: i32 = 1;

fn emu() -> &'static Emulator {
    Emulator::shared()
}

/// The example fleet, every tenant and service seeded in fresh accounts.
fn fleet() -> Fleet {
    let (root, params) = example_fleet();
    emu().fresh_fleet(&root, &params)
}

/// A fleet of umbrella alone with its `api` alone: one tenant service, so the rows of two
/// concurrent runs cannot interleave on a second service.
fn umbrella_api_only() -> Fleet {
    let (root, params) = example_fleet();
    let f = emu().fresh_fleet_with(
        &root,
        &params,
        &SeedOptions {
            tenants: Some(vec!["umbrella".into()]),
            services: true,
        },
    );
    for t in ["acme", "globex", "initech"] {
        std::fs::remove_file(f.root().join(format!("tenants/{t}.toml"))).expect("remove tenant");
    }
    let path = f.root().join("tenants/_defaults.toml");
    let text = std::fs::read_to_string(&path).expect("read defaults");
    let cut = text
        .find("[services.worker]")
        .expect("defaults declare the worker");
    std::fs::write(&path, &text[..cut]).expect("write defaults");
    // The `[infra.app]` table went with the cut; umbrella's parameters for it go too.
    let path = f.root().join("tenants/umbrella.toml");
    let text = std::fs::read_to_string(&path).expect("read umbrella");
    std::fs::write(&path, crate::support::without_infra(&text)).expect("write umbrella");
    f
}

fn command(f: &Fleet, args: &[&str]) -> Command {
    let mut cmd = emu().command(env!("CARGO_BIN_EXE_stamp"));
    cmd.arg("--root")
        .arg(f.root())
        .args(args)
        .stdin(Stdio::null());
    cmd
}

fn stamp(f: &Fleet, args: &[&str]) -> Run {
    run_command(command(f, args))
}

/// The arguments of a non-interactive deploy of an uncommitted fleet copy, JSON summary.
fn deploy_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "deploy",
        "--yes",
        "--allow-dirty",
        "--poll-interval",
        "20ms",
        "--output",
        "json",
    ];
    args.extend_from_slice(extra);
    args
}

fn deploy(f: &Fleet, extra: &[&str]) -> Run {
    let run = stamp(f, &deploy_args(extra));
    run.no_panic();
    run
}

// ---- schedules ----------------------------------------------------------------------------

/// Replaces the `[schedule]` table of `tenants/<tenant>.toml` with `body`.
fn set_schedule(f: &Fleet, tenant: &str, body: &str) {
    let path = f.root().join(format!("tenants/{tenant}.toml"));
    let text = std::fs::read_to_string(&path).expect("read tenant");
    let mut out = Vec::new();
    let mut in_schedule = false;
    let mut found = false;
    for line in text.lines() {
        if line.trim_start().starts_with('[') {
            in_schedule = line.trim() == "[schedule]";
            if in_schedule {
                found = true;
                out.push("[schedule]".to_owned());
                out.push(body.to_owned());
                out.push(String::new());
                continue;
            }
        }
        if !in_schedule {
            out.push(line.to_owned());
        }
    }
    assert!(found, "{tenant}.toml has no [schedule]");
    std::fs::write(&path, out.join("\n") + "\n").expect("write tenant");
}

/// Every tenant always open: UTC, no windows, no freezes.
fn open_all(f: &Fleet) {
    for t in TENANTS {
        set_schedule(f, t, "timezone = \"UTC\"\nwindows = []");
    }
}

fn utc(at: jiff::Timestamp, format: &str) -> String {
    at.to_zoned(jiff::tz::TimeZone::UTC)
        .strftime(format)
        .to_string()
}

fn hours(n: i64) -> jiff::SignedDuration {
    jiff::SignedDuration::from_hours(n)
}

// ---- git ----------------------------------------------------------------------------------

fn git(f: &Fleet, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(f.root())
        .args([
            "-c",
            "user.email=test@example.com",
            "-c",
            "user.name=test",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Makes the fleet copy a git repository with everything committed; returns the commit.
fn commit_all(f: &Fleet) -> String {
    git(f, &["init", "-q"]);
    git(f, &["add", "-A"]);
    git(f, &["commit", "-qm", "fleet"]);
    git(f, &["rev-parse", "HEAD"])
}

// ---- the emulator's side --------------------------------------------------------------------

async fn cfg(f: &Fleet, tenant: &str) -> SdkConfig {
    let t = f.tenant(tenant);
    emu()
        .sdk_config_for(&t.account_id, &t.region, "stamp-deploy")
        .await
}

/// One tenant service as ECS holds it.
#[derive(Debug, Clone)]
struct Live {
    /// The running task definition's revision.
    revision: i32,
    /// Every revision of its family, ascending.
    revisions: Vec<i32>,
    td_tags: BTreeMap<String, String>,
    service_tags: BTreeMap<String, String>,
}

fn revision_of(arn: &str) -> (String, i32) {
    let (family, rev) = arn
        .rsplit('/')
        .next()
        .and_then(|s| s.rsplit_once(':'))
        .unwrap_or_else(|| panic!("not a task definition ARN: {arn}"));
    (family.to_owned(), rev.parse().expect("revision number"))
}

async fn live_one(f: &Fleet, tenant: &str, service: &str) -> Live {
    let t = f.tenant(tenant);
    let cfg = cfg(f, tenant).await;
    let ecs = aws_sdk_ecs::Client::new(&cfg);
    let ecs_service = &t.services[service].ecs_service;
    let out = ecs
        .describe_services()
        .cluster(&t.cluster)
        .services(ecs_service)
        .send()
        .await
        .expect("DescribeServices");
    let svc = out.services().first().expect("the service exists").clone();
    let td_arn = svc.task_definition().expect("a task definition").to_owned();
    let (family, revision) = revision_of(&td_arn);
    Live {
        revision,
        revisions: emu().task_definition_revisions(&cfg, &family).await,
        td_tags: emu().ecs_tags(&cfg, &td_arn).await,
        service_tags: emu()
            .ecs_tags(&cfg, svc.service_arn().expect("service ARN"))
            .await,
    }
}

/// Every seeded tenant service of the fleet, keyed `tenant/service`.
fn live(f: &Fleet) -> BTreeMap<String, Live> {
    rt().block_on(async {
        let mut out = BTreeMap::new();
        for (tenant, t) in &f.tenants {
            for service in t.services.keys() {
                out.insert(
                    format!("{tenant}/{service}"),
                    live_one(f, tenant, service).await,
                );
            }
        }
        out
    })
}

/// Every lock parameter left in any tenant account.
fn locks_left(f: &Fleet) -> Vec<String> {
    rt().block_on(async {
        let mut left = Vec::new();
        for tenant in f.tenants.keys() {
            let ssm = aws_sdk_ssm::Client::new(&cfg(f, tenant).await);
            let mut next = None;
            loop {
                let out = ssm
                    .get_parameters_by_path()
                    .path("/stamp/locks")
                    .recursive(true)
                    .set_next_token(next)
                    .send()
                    .await
                    .expect("GetParametersByPath /stamp/locks");
                left.extend(
                    out.parameters()
                        .iter()
                        .filter_map(|p| p.name().map(|n| format!("{tenant}: {n}"))),
                );
                next = out.next_token().map(str::to_owned);
                if next.is_none() {
                    break;
                }
            }
        }
        left
    })
}

fn lock_param(f: &Fleet, tenant: &str, service: &str) -> String {
    let t = f.tenant(tenant);
    format!(
        "/stamp/locks/{}/{}",
        t.cluster, t.services[service].ecs_service
    )
}

fn lock_exists(f: &Fleet, tenant: &str, service: &str) -> bool {
    let name = lock_param(f, tenant, service);
    rt().block_on(async {
        emu()
            .parameter(&cfg(f, tenant).await, &name)
            .await
            .is_some()
    })
}

// ---- the summary ----------------------------------------------------------------------------

fn all_keys() -> BTreeSet<String> {
    TENANTS
        .iter()
        .flat_map(|t| SERVICES.iter().map(move |s| format!("{t}/{s}")))
        .collect()
}

/// `tenant/service -> digest` from `stamp plan --output json`.
fn plan_digests(plan: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for t in plan["tenants"].as_array().into_iter().flatten() {
        for s in t["services"].as_array().into_iter().flatten() {
            out.insert(
                format!(
                    "{}/{}",
                    t["tenant"].as_str().unwrap_or(""),
                    s["service"].as_str().unwrap_or("")
                ),
                s["digest"].as_str().unwrap_or("").to_owned(),
            );
        }
    }
    out
}

/// Waits for a child with a deadline, collecting its output; kills it if the deadline passes.
fn wait_for(child: std::process::Child, limit: Duration) -> (Run, Duration) {
    let started = Instant::now();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(limit) {
        Ok(out) => out.expect("wait for stamp"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("stamp (pid {pid}) did not exit within {limit:?}");
        }
    };
    (
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        started.elapsed(),
    )
}

/// Polls until `cond` holds (or panics after `limit`).
fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---- 1 ------------------------------------------------------------------------------------

#[test]
fn a_fleet_deploy_deploys_every_service_with_audit_tags_and_a_rerun_changes_nothing() {
    let f = fleet();
    open_all(&f);
    let sha = commit_all(&f);
    let planned = plan_digests(
        &stamp(&f, &["plan", "--all", "--output", "json"])
            .success()
            .json(),
    );
    let run = deploy(&f, &["--all"]);
    run.success();
    let rows = rows(&run);
    assert_eq!(rows.keys().cloned().collect::<BTreeSet<_>>(), all_keys());
    assert_eq!(run.json()["ok"], true);
    assert_eq!(run.json()["counts"]["deployed"], 8, "{}", run.stdout);

    let after = live(&f);
    for (key, l) in &after {
        let row = &rows[key];
        assert_eq!(result(row), "deployed", "{key}: {row}");
        assert_eq!(l.revisions, vec![SEEDED, SEEDED + 1], "{key}");
        assert_eq!(l.revision, SEEDED + 1, "{key} runs the new revision");
        let release = if key.starts_with("acme/") {
            "v1.42.0"
        } else {
            "v1.41.3"
        };
        for (what, tags) in [
            ("task definition", &l.td_tags),
            ("service", &l.service_tags),
        ] {
            assert_eq!(
                tags.get("stamp:commit"),
                Some(&sha),
                "{key} {what}: {tags:?}"
            );
            assert_eq!(
                tags.get("stamp:digest"),
                Some(&planned[key]),
                "{key} {what}: the digest is the plan's"
            );
            assert_eq!(
                tags.get("stamp:release").map(String::as_str),
                Some(release),
                "{key} {what}"
            );
            assert!(
                tags.get("stamp:deployer")
                    .is_some_and(|d| d.starts_with("arn:aws:") && d.contains(BASE_ACCOUNT)),
                "{key} {what}: deployer is the base caller: {tags:?}"
            );
            assert!(!tags.contains_key("stamp:override"), "{key} {what}");
        }
    }

    let again = deploy(&f, &["--all"]);
    again.success();
    let rows2 = self::rows(&again);
    assert_eq!(rows2.keys().cloned().collect::<BTreeSet<_>>(), all_keys());
    for (key, row) in &rows2 {
        assert_eq!(result(row), "unchanged", "{key}: {row}");
        assert_eq!(row["revision"], SEEDED + 1, "{key}");
    }
    let after2 = live(&f);
    for (key, l) in &after2 {
        assert_eq!(
            l.revisions, after[key].revisions,
            "{key}: nothing registered"
        );
        assert_eq!(l.revision, SEEDED + 1, "{key}");
    }
    assert_eq!(locks_left(&f), Vec::<String>::new());
}

/// The preflight reads each tenant's parameters, secrets and stack outputs to check what the
/// task definitions need; the deploy renders from that same read, so what it deploys is what was
/// checked, and a fleet deploy reads them as often as `plan` does: once per tenant. A tenant's
/// log groups (`/ecs/TENANT/api`, `/ecs/TENANT/worker`) are found with one call under their
/// common prefix.
#[test]
fn a_deploy_reads_parameters_log_groups_and_task_definitions_once() {
    let f = fleet();
    open_all(&f);
    commit_all(&f);
    let plan = stamp(&f, &["plan", "--all", "--output", "json"])
        .success()
        .json();
    let run = deploy(&f, &["--all"]);
    run.success();
    let deploy = run.json();
    assert_eq!(deploy["counts"]["deployed"], 8, "{}", run.stdout);
    let (planned, deployed) = (
        &plan["api_calls"]["operations"],
        &deploy["api_calls"]["operations"],
    );
    let lookups = [
        "ssm:GetParameters",
        "ssm:DescribeParameters",
        "secretsmanager:DescribeSecret",
        "cloudformation:DescribeStacks",
    ];
    assert!(
        planned["ssm:GetParameters"].as_u64() > Some(0),
        "the example fleet reads SSM values: {planned}"
    );
    for op in lookups {
        assert_eq!(
            deployed[op], planned[op],
            "{op}: the deploy reads what plan reads, once (plan {planned}, deploy {deployed})"
        );
    }
    assert_eq!(
        deployed["logs:DescribeLogGroups"],
        TENANTS.len(),
        "one DescribeLogGroups per tenant: {deployed}"
    );
    // Each service runs its family's newest revision: the first look's one read of it is also
    // what registering checks for a revision to reuse.
    assert_eq!(
        deployed["ecs:DescribeTaskDefinition"], 8,
        "one DescribeTaskDefinition per service: {deployed}"
    );
}

// ---- 2 ------------------------------------------------------------------------------------

#[test]
fn a_failing_rollout_is_rolled_back_and_within_tolerance_the_others_still_deploy() {
    let f = fleet();
    open_all(&f);
    let acme = f.tenant("acme").clone();
    emu().fail_next_rollout(&acme.account_id, &acme.region, &acme.cluster, "api");
    let run = deploy(&f, &["--all", "--failure-tolerance", "10"]);
    run.code(1);
    let rows = rows(&run);
    let failed = &rows["acme/api"];
    assert_eq!(result(failed), "rolled-back", "{failed}");
    assert!(
        detail(failed).contains("ECS deployment circuit breaker"),
        "the ECS reason is in the row: {failed}"
    );
    assert_eq!(failed["revision"], SEEDED, "{failed}");
    assert_eq!(failed["previous_revision"], SEEDED, "{failed}");
    assert_eq!(run.json()["ok"], false);

    let after = live(&f);
    let api = &after["acme/api"];
    assert_eq!(
        api.revision, SEEDED,
        "acme/api runs the previous revision again"
    );
    assert_eq!(
        api.revisions,
        vec![SEEDED, SEEDED + 1],
        "the failed revision was registered once"
    );
    // Later rings were not stopped by one failure under --failure-tolerance 10.
    for t in ["globex", "initech", "umbrella"] {
        for s in SERVICES {
            let key = format!("{t}/{s}");
            assert_eq!(result(&rows[&key]), "deployed", "{key}: {}", rows[&key]);
            assert_eq!(after[&key].revision, SEEDED + 1, "{key}");
        }
    }
    assert_eq!(locks_left(&f), Vec::<String>::new());
}

// ---- 3 ------------------------------------------------------------------------------------

#[test]
fn with_failure_tolerance_zero_a_canary_failure_skips_the_later_rings() {
    let f = fleet();
    open_all(&f);
    let acme = f.tenant("acme").clone();
    emu().fail_next_rollout(&acme.account_id, &acme.region, &acme.cluster, "api");
    let run = deploy(&f, &["--all", "--failure-tolerance", "0"]);
    run.code(1);
    let rows = rows(&run);
    assert_eq!(rows.keys().cloned().collect::<BTreeSet<_>>(), all_keys());
    assert_eq!(result(&rows["acme/api"]), "rolled-back", "{}", run.stdout);
    let after = live(&f);
    for t in ["globex", "initech", "umbrella"] {
        for s in SERVICES {
            let key = format!("{t}/{s}");
            let row = &rows[&key];
            assert_eq!(result(row), "skipped", "{key}: {row}");
            assert!(detail(row).contains("failure tolerance"), "{key}: {row}");
            assert_eq!(
                after[&key].revisions,
                vec![SEEDED],
                "{key}: nothing registered"
            );
            assert_eq!(after[&key].revision, SEEDED, "{key}");
        }
    }
    assert_eq!(after["acme/api"].revision, SEEDED);
    assert_eq!(locks_left(&f), Vec::<String>::new());
}

// ---- 4 ------------------------------------------------------------------------------------

#[test]
fn a_closed_window_skips_without_error_and_registers_nothing() {
    let f = fleet();
    open_all(&f);
    let now = jiff::Timestamp::now();
    let (from, to) = (utc(now + hours(2), "%H:%M"), utc(now + hours(3), "%H:%M"));
    set_schedule(
        &f,
        "umbrella",
        &format!("timezone = \"UTC\"\nwindows = [\"daily {from}-{to}\"]"),
    );
    let run = deploy(&f, &["umbrella"]);
    run.success();
    let rows = rows(&run);
    assert_eq!(rows.len(), 2, "{}", run.stdout);
    for s in SERVICES {
        let row = &rows[&format!("umbrella/{s}")];
        assert_eq!(result(row), "skipped", "{row}");
        assert!(detail(row).contains("outside window"), "{row}");
    }
    let after = live(&f);
    for s in SERVICES {
        let l = &after[&format!("umbrella/{s}")];
        assert_eq!(
            l.revisions,
            vec![SEEDED],
            "umbrella/{s}: nothing registered"
        );
        assert_eq!(l.revision, SEEDED);
    }
    assert_eq!(locks_left(&f), Vec::<String>::new());
}

// ---- 5 ------------------------------------------------------------------------------------

#[test]
fn a_freeze_blocks_ignore_window_does_not_beat_it_and_ignore_freeze_records_the_reason() {
    let f = fleet();
    open_all(&f);
    let now = jiff::Timestamp::now();
    let fmt = "%Y-%m-%dT%H:%M";
    set_schedule(
        &f,
        "umbrella",
        &format!(
            "timezone = \"UTC\"\nwindows = []\nfreeze = [{{ from = \"{}\", to = \"{}\", reason = \"launch\" }}]",
            utc(now - hours(1), fmt),
            utc(now + hours(1), fmt)
        ),
    );
    let frozen = |run: &Run| {
        run.success();
        let rows = rows(run);
        assert_eq!(rows.len(), 2, "{}", run.stdout);
        for row in rows.values() {
            assert_eq!(result(row), "skipped", "{row}");
            assert!(
                detail(row).contains("frozen") && detail(row).contains("launch"),
                "{row}"
            );
        }
        for (key, l) in live(&f) {
            assert_eq!(l.revisions, vec![SEEDED], "{key}: nothing registered");
        }
    };
    frozen(&deploy(&f, &["umbrella"]));
    frozen(&deploy(
        &f,
        &["umbrella", "--ignore-window", "--reason", "INC-1"],
    ));

    let run = deploy(&f, &["umbrella", "--ignore-freeze", "--reason", "INC-1"]);
    run.success();
    let rows = rows(&run);
    let after = live(&f);
    for s in SERVICES {
        let key = format!("umbrella/{s}");
        assert_eq!(result(&rows[&key]), "deployed", "{key}: {}", rows[&key]);
        let l = &after[&key];
        assert_eq!(l.revision, SEEDED + 1, "{key}");
        for (what, tags) in [
            ("task definition", &l.td_tags),
            ("service", &l.service_tags),
        ] {
            let tag = tags.get("stamp:override").map(String::as_str);
            assert!(
                tag.is_some_and(|t| t.contains("freeze") && t.contains("INC-1")),
                "{key} {what}: stamp:override = {tag:?}"
            );
        }
    }
    assert_eq!(locks_left(&f), Vec::<String>::new());
}

// ---- 6 ------------------------------------------------------------------------------------

#[test]
fn of_two_concurrent_deploys_of_one_service_the_second_finds_it_locked() {
    let f = umbrella_api_only();
    let u = f.tenant("umbrella").clone();
    emu().hang_next_rollout(&u.account_id, &u.region, &u.cluster, "api");
    let first = command(&f, &deploy_args(&["umbrella", "--timeout", "3s"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the first deploy");
    let started = Instant::now();
    // The second starts once the first holds the lock (and at least ~1 s in).
    wait_until(
        "the first deploy takes the lock",
        Duration::from_secs(30),
        || lock_exists(&f, "umbrella", "api"),
    );
    if let Some(rest) = Duration::from_secs(1).checked_sub(started.elapsed()) {
        std::thread::sleep(rest);
    }
    // Another release, so the second has something to change and must take the lock (an
    // identical second deploy is the ignored test below).
    let second = deploy(&f, &["umbrella", "--timeout", "3s", "--release", "v1.43.0"]);
    let (first, _) = wait_for(first, Duration::from_secs(60));
    first.no_panic();

    second.code(1);
    let row2 = &rows(&second)["umbrella/api"];
    assert_eq!(result(row2), "failed", "{row2}");
    assert!(detail(row2).contains("locked by"), "{row2}");

    // The winner's rollout hung: it timed out and went back.
    first.code(1);
    let row1 = &rows(&first)["umbrella/api"];
    assert_eq!(result(row1), "rolled-back", "{row1}\n{}", first.stderr);

    let after = live(&f);
    let api = &after["umbrella/api"];
    assert_eq!(
        api.revisions,
        vec![SEEDED, SEEDED + 1],
        "exactly one revision registered, by the winner"
    );
    assert_eq!(api.revision, SEEDED, "rolled back to what ran");
    assert_eq!(locks_left(&f), Vec::<String>::new());
}

/// The same deploy started twice: the second finds the service already pointed at the
/// revision the first is still rolling out (hung, under the first's lock), calls it
/// `unchanged` and exits 0 without looking at the lock or the rollout; the first then times
/// out and rolls back, so the second reported a revision that never ran.
#[test]
fn an_identical_second_deploy_during_a_rollout_does_not_report_unchanged() {
    let f = umbrella_api_only();
    let u = f.tenant("umbrella").clone();
    emu().hang_next_rollout(&u.account_id, &u.region, &u.cluster, "api");
    let first = command(&f, &deploy_args(&["umbrella", "--timeout", "3s"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the first deploy");
    wait_until(
        "the first deploy takes the lock",
        Duration::from_secs(30),
        || lock_exists(&f, "umbrella", "api"),
    );
    let second = deploy(&f, &["umbrella", "--timeout", "3s"]);
    let (first, _) = wait_for(first, Duration::from_secs(60));
    first.no_panic().code(1);
    assert_eq!(
        live(&f)["umbrella/api"].revision,
        SEEDED,
        "the first rolled back"
    );
    let row2 = &rows(&second)["umbrella/api"];
    assert_ne!(
        result(row2),
        "unchanged",
        "the second called a hung, locked rollout unchanged: {row2}"
    );
    assert_ne!(second.code, 0, "{}", second.stdout);
}

/// A deploy reads every service of a tenant once, before it locks the first one. A service
/// that another run deploys in between is then updated from the stale reading: a new
/// revision identical to the running one, and on failure a "rollback" to the revision from
/// before the other run, undoing it.
#[test]
fn a_rollback_restores_what_ran_when_the_lock_was_taken() {
    let f = fleet();
    let u = f.tenant("umbrella").clone();
    emu().hang_next_rollout(&u.account_id, &u.region, &u.cluster, "api");
    // A: umbrella's api hangs for 6 s, then it goes on to the worker (one service at a time,
    // so the worker starts after B deployed it).
    let a = command(
        &f,
        &deploy_args(&["umbrella", "--timeout", "6s", "--service-concurrency", "1"]),
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("start A");
    wait_until("A locks the api", Duration::from_secs(30), || {
        lock_exists(&f, "umbrella", "api")
    });
    // B deploys the worker meanwhile (same commit, same desired state).
    let b = deploy(&f, &["umbrella", "--timeout", "6s"]);
    let b_rows = rows(&b);
    assert_eq!(
        result(&b_rows["umbrella/worker"]),
        "deployed",
        "{}",
        b.stdout
    );
    assert!(
        lock_exists(&f, "umbrella", "api"),
        "B finished after A's api timeout; the test needs a longer --timeout"
    );
    assert_eq!(live(&f)["umbrella/worker"].revision, SEEDED + 1);
    // A's worker rollout will fail.
    emu().fail_next_rollout(&u.account_id, &u.region, &u.cluster, "worker");
    let (a, _) = wait_for(a, Duration::from_secs(60));
    a.no_panic();
    let worker = live(&f)["umbrella/worker"].clone();
    assert_eq!(
        worker.revision,
        SEEDED + 1,
        "A's rollback undid B's deploy: {}",
        rows(&a)["umbrella/worker"]
    );
    assert_eq!(
        worker.revisions,
        vec![SEEDED, SEEDED + 1],
        "A registered a copy of the running revision"
    );
}

// ---- 7 ------------------------------------------------------------------------------------

#[test]
fn an_expired_lock_is_taken_over_and_released() {
    let f = fleet();
    let name = lock_param(&f, "umbrella", "api");
    let stale = serde_json::json!({
        "who": "arn:aws:iam::123456789012:user/crashed-ci",
        "run_id": "4242-1",
        "digest": "",
        "since": "2020-01-01T00:00:00Z",
        "expires": "2020-01-01T01:00:00Z",
    })
    .to_string();
    rt().block_on(async {
        aws_sdk_ssm::Client::new(&cfg(&f, "umbrella").await)
            .put_parameter()
            .name(&name)
            .value(stale)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .send()
            .await
            .expect("PutParameter stale lock");
    });
    assert!(lock_exists(&f, "umbrella", "api"));
    // umbrella's own schedule: UTC, always open.
    let run = deploy(&f, &["umbrella"]);
    run.success()
        .stderr_has(&["took over an expired lock", "crashed-ci"]);
    let rows = rows(&run);
    assert_eq!(result(&rows["umbrella/api"]), "deployed", "{}", run.stdout);
    assert_eq!(live(&f)["umbrella/api"].revision, SEEDED + 1);
    assert_eq!(locks_left(&f), Vec::<String>::new());
}

// ---- 8 ------------------------------------------------------------------------------------

#[test]
fn deploy_plan_applies_a_saved_plan_and_refuses_it_once_a_parameter_moved() {
    let f = fleet();
    open_all(&f);
    // A saved plan records the commit it was made at; make the copy a clean repository.
    let sha = commit_all(&f);
    let path = f.root().join("saved-plan.json");
    let plan_file = path.to_str().expect("utf-8 path");
    let plan = stamp(
        &f,
        &["plan", "--all", "--out", plan_file, "--output", "json"],
    )
    .success()
    .json();
    let planned = plan_digests(&plan);
    assert_eq!(planned.len(), 8);

    let run = deploy(&f, &["--plan", plan_file]);
    run.success();
    // The plan is checked against what the preflight read: each tenant's values read once.
    assert_eq!(
        run.json()["api_calls"]["operations"]["ssm:GetParameters"],
        plan["api_calls"]["operations"]["ssm:GetParameters"],
        "{}",
        run.json()["api_calls"]
    );
    let rows = rows(&run);
    assert_eq!(rows.keys().cloned().collect::<BTreeSet<_>>(), all_keys());
    let after = live(&f);
    for (key, l) in &after {
        assert_eq!(result(&rows[key]), "deployed", "{key}: {}", rows[key]);
        assert_eq!(l.revision, SEEDED + 1, "{key}");
        assert_eq!(l.td_tags.get("stamp:digest"), Some(&planned[key]), "{key}");
        assert_eq!(l.td_tags.get("stamp:commit"), Some(&sha), "{key}");
    }

    // One value moves: umbrella's api would now render differently.
    rt().block_on(async {
        aws_sdk_ssm::Client::new(&cfg(&f, "umbrella").await)
            .put_parameter()
            .name("/shop/umbrella/api_base")
            .value("https://moved.umbrella.example")
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .expect("PutParameter");
    });
    let refused = deploy(&f, &["--plan", plan_file]);
    refused.no_panic();
    assert_ne!(refused.code, 0, "{}", refused.stderr);
    refused.stderr_has(&["/shop/umbrella/api_base"]);
    let after2 = live(&f);
    for (key, l) in &after2 {
        assert_eq!(
            l.revisions, after[key].revisions,
            "{key}: nothing registered"
        );
        assert_eq!(l.revision, SEEDED + 1, "{key}: nothing updated");
    }
    // A deploy without the plan would have written a new umbrella/api revision.
    assert_eq!(after2["umbrella/api"].revisions, vec![SEEDED, SEEDED + 1]);
    assert_eq!(locks_left(&f), Vec::<String>::new());
}

/// `tenants/` and `templates/` of `f` copied to `to` (the same tenant accounts).
fn copy_fleet(f: &Fleet, to: &std::path::Path) {
    fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for e in std::fs::read_dir(from).expect("read dir").flatten() {
            if e.path().is_dir() {
                copy_dir(&e.path(), &to.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
            }
        }
    }
    for sub in ["tenants", "templates"] {
        copy_dir(&f.root().join(sub), &to.join(sub));
    }
}

fn stamp_at(root: &std::path::Path, args: &[&str]) -> Run {
    let mut cmd = emu().command(env!("CARGO_BIN_EXE_stamp"));
    cmd.arg("--root").arg(root).args(args).stdin(Stdio::null());
    run_command(cmd)
}

/// Outside any git repository, `stamp plan --out` records the commit as "" while
/// `deploy --allow-dirty` calls the same folder "uncommitted", so the plan never matches.
#[test]
fn deploy_plan_of_a_fleet_outside_git_is_applied_with_allow_dirty() {
    let f = fleet();
    open_all(&f);
    // The harness's fleet copies live under target/, inside this repository's work tree.
    let outside = tempfile::tempdir().expect("temp dir");
    assert!(
        !Command::new("git")
            .arg("-C")
            .arg(outside.path())
            .args(["rev-parse", "HEAD"])
            .output()
            .expect("git")
            .status
            .success(),
        "the system temp dir is inside a git repository"
    );
    copy_fleet(&f, outside.path());
    let plan = outside.path().join("plan.json");
    let plan = plan.to_str().expect("utf-8 path");
    stamp_at(outside.path(), &["plan", "umbrella", "--out", plan]).success();
    let mut args = deploy_args(&["--plan", plan]);
    args.retain(|a| *a != "--output" && *a != "json");
    let run = stamp_at(outside.path(), &args);
    run.no_panic().success();
    assert_eq!(live(&f)["umbrella/api"].revision, SEEDED + 1);
}

/// A fleet folder that an enclosing repository ignores is not under version control, but
/// `vcs::commit` asks git from inside it: it gets the enclosing HEAD and a clean status
/// (ignored files never show), so the deploy goes ahead without `--allow-dirty` and tags
/// everything with a commit that does not contain the fleet. (The test harness's own fleet
/// copies, under the ignored `target/`, are in exactly this situation.)
#[test]
fn a_fleet_in_an_ignored_folder_of_another_repository_is_not_a_commit() {
    let f = fleet();
    let outer = tempfile::tempdir().expect("temp dir");
    let outer_git = |args: &[&str]| {
        let ok = Command::new("git")
            .arg("-C")
            .arg(outer.path())
            .args([
                "-c",
                "user.email=test@example.com",
                "-c",
                "user.name=test",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .status()
            .expect("git")
            .success();
        assert!(ok, "git {args:?}");
    };
    outer_git(&["init", "-q"]);
    std::fs::write(outer.path().join(".gitignore"), "fleet/\n").expect("write");
    outer_git(&["add", "-A"]);
    outer_git(&["commit", "-qm", "outer"]);
    let root = outer.path().join("fleet");
    copy_fleet(&f, &root);
    let run = stamp_at(
        &root,
        &["deploy", "umbrella", "--yes", "--poll-interval", "20ms"],
    );
    run.no_panic();
    assert_eq!(
        run.code, 2,
        "deployed an uncommitted fleet without --allow-dirty\n{}",
        run.stderr
    );
    assert_eq!(live(&f)["umbrella/api"].revisions, vec![SEEDED]);
}

// ---- 9 ------------------------------------------------------------------------------------

#[test]
fn three_shards_deploy_every_tenant_exactly_once() {
    let f = fleet();
    open_all(&f);
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    for i in 0..3 {
        let shard = format!("{i}/3");
        let run = deploy(&f, &["--all", "--shard", &shard]);
        run.success();
        let rows = rows(&run);
        let tenants: BTreeSet<String> = rows
            .values()
            .map(|r| r["tenant"].as_str().unwrap_or("").to_owned())
            .collect();
        assert!(!tenants.is_empty(), "shard {shard} is empty");
        for (key, row) in &rows {
            assert_eq!(result(row), "deployed", "shard {shard} {key}: {row}");
        }
        for t in tenants {
            *seen.entry(t).or_default() += 1;
        }
    }
    assert_eq!(
        seen.keys().map(String::as_str).collect::<Vec<_>>(),
        TENANTS.to_vec(),
        "the union of the shards is the fleet"
    );
    assert!(
        seen.values().all(|n| *n == 1),
        "a tenant is in two shards: {seen:?}"
    );
    for (key, l) in live(&f) {
        assert_eq!(l.revisions, vec![SEEDED, SEEDED + 1], "{key}");
        assert_eq!(l.revision, SEEDED + 1, "{key}");
    }
}

// ---- 10 -----------------------------------------------------------------------------------

#[test]
fn sigint_mid_wave_starts_nothing_new_prints_the_summary_and_leaves_no_lock() {
    let f = fleet();
    open_all(&f);
    let acme = f.tenant("acme").clone();
    emu().hang_next_rollout(&acme.account_id, &acme.region, &acme.cluster, "api");
    let timeout = Duration::from_secs(30);
    let child = command(&f, &deploy_args(&["--all", "--timeout", "30s"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the deploy");
    let started = Instant::now();
    // Mid-wave: acme (the canary) holds its api lock and waits for the hung rollout.
    wait_until("acme/api is locked", Duration::from_secs(30), || {
        lock_exists(&f, "acme", "api")
    });
    if let Some(rest) = Duration::from_millis(1500).checked_sub(started.elapsed()) {
        std::thread::sleep(rest);
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(kill.success());
    // The hung rollout runs into --timeout, rolls back, and the run ends.
    let (run, _) = wait_for(child, timeout + Duration::from_secs(30));
    let elapsed = started.elapsed();
    run.no_panic().stderr_has(&["interrupted"]);
    assert!(
        elapsed < timeout + Duration::from_secs(20),
        "exited after {elapsed:?}"
    );
    let rows = rows(&run);
    assert_eq!(
        rows.keys().cloned().collect::<BTreeSet<_>>(),
        all_keys(),
        "a row for every tenant service"
    );
    let interrupted: Vec<&String> = rows
        .iter()
        .filter(|(_, r)| result(r) == "skipped" && detail(r).contains("interrupted"))
        .map(|(k, _)| k)
        .collect();
    assert!(!interrupted.is_empty(), "{}", run.stdout);
    // Nothing after the canary started.
    for t in ["globex", "initech", "umbrella"] {
        for s in SERVICES {
            let key = format!("{t}/{s}");
            assert_eq!(result(&rows[&key]), "skipped", "{key}: {}", rows[&key]);
        }
    }
    assert_ne!(run.code, 0, "acme/api did not deploy: {}", run.stdout);
    let after = live(&f);
    for t in ["globex", "initech", "umbrella"] {
        for s in SERVICES {
            assert_eq!(after[&format!("{t}/{s}")].revisions, vec![SEEDED]);
        }
    }
    assert_eq!(locks_left(&f), Vec::<String>::new());
}

// ---- 11 -----------------------------------------------------------------------------------

#[test]
fn the_json_summary_matches_what_ecs_runs_afterwards() {
    let f = fleet();
    open_all(&f);
    deploy(&f, &["acme"]).success();
    let u = f.tenant("umbrella").clone();
    emu().fail_next_rollout(&u.account_id, &u.region, &u.cluster, "worker");
    let run = deploy(&f, &["--all", "--failure-tolerance", "10"]);
    run.code(1);
    let j = run.json();
    let rows = rows(&run);
    assert_eq!(rows.keys().cloned().collect::<BTreeSet<_>>(), all_keys());
    let after = live(&f);
    for (key, row) in &rows {
        let l = &after[key];
        assert_eq!(
            row["revision"], l.revision,
            "{key}: the summary's revision is the running one: {row}"
        );
        let expected = match key.as_str() {
            "acme/api" | "acme/worker" => "unchanged",
            "umbrella/worker" => "rolled-back",
            _ => "deployed",
        };
        assert_eq!(result(row), expected, "{key}: {row}");
        let before = if key.starts_with("acme/") {
            SEEDED + 1
        } else {
            SEEDED
        };
        assert_eq!(row["previous_revision"], before, "{key}: {row}");
        if expected != "rolled-back" {
            assert_eq!(
                row["release"].as_str(),
                l.td_tags.get("stamp:release").map(String::as_str),
                "{key}"
            );
        }
        for field in [
            "tenant",
            "ring",
            "service",
            "result",
            "revision",
            "previous_revision",
            "release",
            "duration_ms",
            "detail",
            "retries",
        ] {
            assert!(row.get(field).is_some(), "{key} lacks {field}: {row}");
        }
    }
    let counts = &j["counts"];
    assert_eq!(counts["deployed"], 5, "{counts}");
    assert_eq!(counts["unchanged"], 2, "{counts}");
    assert_eq!(counts["rolled-back"], 1, "{counts}");
    assert_eq!(counts["failed"], 0, "{counts}");
    assert_eq!(j["ok"], false);
    assert_eq!(rows["acme/api"]["ring"], "canary");
    assert_eq!(rows["globex/api"]["ring"], "early");
    assert_eq!(rows["umbrella/api"]["ring"], "stable");
}

// ---- 12 -----------------------------------------------------------------------------------

#[test]
fn refusals_come_before_any_write() {
    let f = fleet();
    open_all(&f);
    commit_all(&f);
    let path = f.root().join("tenants/umbrella.toml");
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, format!("{text}\n# an uncommitted edit\n")).expect("write");

    let base = ["deploy", "--all", "--poll-interval", "20ms"];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| (*s).to_owned()).collect()
    };
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        ("dirty tree", with(&["--yes"]), "uncommitted changes"),
        (
            "no terminal",
            with(&["--allow-dirty"]),
            "no confirmation can be asked",
        ),
        (
            "override without a reason",
            with(&["--yes", "--allow-dirty", "--ignore-window"]),
            "--reason",
        ),
        (
            "shard out of range",
            with(&["--yes", "--allow-dirty", "--shard", "3/3"]),
            "INDEX must be less than TOTAL",
        ),
    ];
    for (what, args, says) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = stamp(&f, &args);
        run.no_panic();
        assert_eq!(
            run.code, 2,
            "{what}: exit code\n--- stdout\n{}\n--- stderr\n{}",
            run.stdout, run.stderr
        );
        assert!(
            run.stderr.contains(says),
            "{what}: stderr lacks {says:?}\n{}",
            run.stderr
        );
        for (key, l) in live(&f) {
            assert_eq!(l.revisions, vec![SEEDED], "{what}: {key} got a revision");
            assert_eq!(l.revision, SEEDED, "{what}: {key}");
        }
        assert_eq!(locks_left(&f), Vec::<String>::new(), "{what}");
    }
}

// ---- 13 -----------------------------------------------------------------------------------

fn rollback_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "rollback",
        "umbrella",
        "-s",
        "api",
        "--yes",
        "--allow-dirty",
        "--poll-interval",
        "20ms",
        "--output",
        "json",
    ];
    args.extend_from_slice(extra);
    args
}

fn rollback(f: &Fleet, extra: &[&str]) -> Value {
    let run = stamp(f, &rollback_args(extra));
    run.no_panic().success();
    let rows = rows(&run);
    assert_eq!(rows.len(), 1, "{}", run.stdout);
    rows["umbrella/api"].clone()
}

/// The default target is the newest earlier revision stamp registered; `--to N` names any
/// revision and says when stamp did not register it. `status` afterwards shows the release,
/// commit and deployer of the revision that runs, not those of the deploy that was undone.
#[test]
fn rollback_goes_to_the_newest_earlier_stamp_revision_and_to_a_named_one() {
    let f = fleet();
    // umbrella: UTC, always open.
    deploy(&f, &["umbrella"]).success();
    let second = live(&f)["umbrella/api"].clone();
    deploy(&f, &["umbrella", "--release", "v1.43.0"]).success();
    assert_eq!(live(&f)["umbrella/api"].revision, SEEDED + 2);

    let row = rollback(&f, &[]);
    assert_eq!(result(&row), "rolled-back", "{row}");
    assert_eq!(row["previous_revision"], SEEDED + 2, "{row}");
    assert_eq!(row["revision"], SEEDED + 1, "{row}");
    let l = live(&f)["umbrella/api"].clone();
    assert_eq!(l.revision, SEEDED + 1, "runs the previous stamp revision");
    assert_eq!(
        l.revisions,
        vec![SEEDED, SEEDED + 1, SEEDED + 2],
        "nothing registered"
    );
    assert!(
        l.service_tags
            .get("stamp:override")
            .is_some_and(|o| o.contains("rollback from revision 3")),
        "{:?}",
        l.service_tags
    );
    // The service's audit tags are those of revision 2 again.
    for k in [
        "stamp:release",
        "stamp:commit",
        "stamp:digest",
        "stamp:deployer",
    ] {
        assert_eq!(l.service_tags.get(k), second.td_tags.get(k), "{k}");
    }
    let status = stamp(&f, &["status", "umbrella", "-s", "api", "--output", "json"]);
    let doc = status.json();
    let svc = &doc["tenants"][0]["services"][0];
    assert_eq!(svc["live"]["revision"], SEEDED + 1, "{svc:#}");
    assert_eq!(svc["live"]["release"], "v1.41.3", "{svc:#}");
    assert_eq!(svc["live"]["last_deploy"]["release"], "v1.41.3", "{svc:#}");
    assert_eq!(
        svc["live"]["last_deploy"]["commit"].as_str(),
        second.td_tags.get("stamp:commit").map(String::as_str),
        "{svc:#}"
    );

    // Forward again by number, then back to the seeded (non-stamp) revision by number.
    let row = rollback(&f, &["--to", "3"]);
    assert_eq!(row["revision"], SEEDED + 2, "{row}");
    let run = stamp(&f, &rollback_args(&["--to", "1"]));
    run.no_panic().success();
    assert!(
        run.stderr.contains("was not deployed by stamp"),
        "{}",
        run.stderr
    );
    let row = rows(&run)["umbrella/api"].clone();
    assert_eq!(result(&row), "rolled-back", "{row}");
    assert_eq!(row["revision"], SEEDED, "{row}");
    assert!(detail(&row).contains("not deployed by stamp"), "{row}");
    let l = live(&f)["umbrella/api"].clone();
    assert_eq!(l.revision, SEEDED, "runs revision 1");
    assert!(
        !l.service_tags.contains_key("stamp:release"),
        "no release is claimed for a revision stamp did not register: {:?}",
        l.service_tags
    );
    // The revision that runs now is no target: refused before any write.
    let run = stamp(&f, &rollback_args(&["--to", "1"]));
    run.no_panic()
        .code(2)
        .stderr_has(&["already runs", "nothing to roll back to"]);
    assert_eq!(
        live(&f)["umbrella/api"].revision,
        SEEDED,
        "still revision 1"
    );
    // The worker is not touched by a rollback of the api.
    assert_eq!(live(&f)["umbrella/worker"].revision, SEEDED + 2);
    assert_eq!(locks_left(&f), Vec::<String>::new());
}

/// Registers a copy of what `tenant/service` runs, without stamp's tags, and points the
/// service at it: what a hand deploy (or a stack's bootstrap) leaves. Returns its revision.
fn hand_deploy(f: &Fleet, tenant: &str, service: &str) -> i32 {
    let t = f.tenant(tenant).clone();
    rt().block_on(async {
        let ecs = aws_sdk_ecs::Client::new(&cfg(f, tenant).await);
        let name = &t.services[service].ecs_service;
        let svc = ecs
            .describe_services()
            .cluster(&t.cluster)
            .services(name)
            .send()
            .await
            .expect("DescribeServices");
        let arn = svc.services()[0].task_definition().expect("td").to_owned();
        let td = ecs
            .describe_task_definition()
            .task_definition(&arn)
            .send()
            .await
            .expect("DescribeTaskDefinition");
        let td = td.task_definition().expect("td");
        let new = ecs
            .register_task_definition()
            .family(td.family().expect("family"))
            .set_container_definitions(Some(td.container_definitions().to_vec()))
            .set_cpu(td.cpu().map(str::to_owned))
            .set_memory(td.memory().map(str::to_owned))
            .send()
            .await
            .expect("RegisterTaskDefinition");
        let new = new.task_definition().expect("registered");
        ecs.update_service()
            .cluster(&t.cluster)
            .service(name)
            .task_definition(new.task_definition_arn().expect("arn"))
            .send()
            .await
            .expect("UpdateService");
        new.revision()
    })
}

/// A revision stamp did not register (a hand deploy, the CloudFormation bootstrap) is passed
/// over by the default target, and when there is no stamp revision to go to, the rollback is
/// refused before any write.
#[test]
fn rollback_skips_a_revision_stamp_did_not_register() {
    let f = fleet();
    // Only revision 1, the seeded one stamp did not register, lies behind revision 2.
    deploy(&f, &["umbrella"]).success();
    let run = stamp(&f, &rollback_args(&[]));
    run.no_panic().code(2);
    assert!(
        run.stderr.contains("no earlier revision deployed by stamp")
            && run.stderr.contains("revision(s) 1"),
        "{}",
        run.stderr
    );
    assert_eq!(
        live(&f)["umbrella/api"].revision,
        SEEDED + 1,
        "nothing changed"
    );
    assert_eq!(locks_left(&f), Vec::<String>::new());

    let by_hand = hand_deploy(&f, "umbrella", "api");
    assert_eq!(by_hand, SEEDED + 2);
    deploy(&f, &["umbrella", "--release", "v1.43.0"]).success();
    assert_eq!(live(&f)["umbrella/api"].revision, SEEDED + 3);
    let run = stamp(&f, &rollback_args(&[]));
    run.no_panic().success();
    assert!(
        run.stderr.contains("passed over revision(s) 3"),
        "{}",
        run.stderr
    );
    let row = rows(&run)["umbrella/api"].clone();
    assert_eq!(row["revision"], SEEDED + 1, "{row}");
    assert_eq!(live(&f)["umbrella/api"].revision, SEEDED + 1);
}

/// rollback gets deploy's refusals, each before any write: a dirty tree, no terminal and no
/// --yes, an override without a reason; and a closed window skips it.
#[test]
fn rollback_refusals_come_before_any_write_and_a_closed_window_skips_it() {
    let f = fleet();
    open_all(&f);
    deploy(&f, &["umbrella"]).success();
    deploy(&f, &["umbrella", "--release", "v1.43.0"]).success();
    commit_all(&f);
    let path = f.root().join("tenants/umbrella.toml");
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, format!("{text}\n# an uncommitted edit\n")).expect("write");
    let base = [
        "rollback",
        "umbrella",
        "-s",
        "api",
        "--poll-interval",
        "20ms",
    ];
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        ("dirty tree", vec!["--yes"], "uncommitted changes"),
        (
            "no terminal",
            vec!["--allow-dirty"],
            "no confirmation can be asked",
        ),
        (
            "override without a reason",
            vec!["--yes", "--allow-dirty", "--ignore-window"],
            "--reason",
        ),
    ];
    for (what, extra, says) in &cases {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let run = stamp(&f, &args);
        run.no_panic();
        assert_eq!(run.code, 2, "{what}\n{}\n{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(says), "{what}: {}", run.stderr);
        assert_eq!(live(&f)["umbrella/api"].revision, SEEDED + 2, "{what}");
        assert_eq!(locks_left(&f), Vec::<String>::new(), "{what}");
    }
    let now = jiff::Timestamp::now();
    let (from, to) = (utc(now + hours(2), "%H:%M"), utc(now + hours(3), "%H:%M"));
    set_schedule(
        &f,
        "umbrella",
        &format!("timezone = \"UTC\"\nwindows = [\"daily {from}-{to}\"]"),
    );
    let run = stamp(&f, &rollback_args(&[]));
    run.no_panic().success();
    let row = rows(&run)["umbrella/api"].clone();
    assert_eq!(result(&row), "skipped", "{row}");
    assert!(detail(&row).contains("outside window"), "{row}");
    assert_eq!(
        live(&f)["umbrella/api"].revision,
        SEEDED + 2,
        "skipped means untouched"
    );
    // With the override and a reason it rolls back, and the reason is in the tags.
    let row = rollback(&f, &["--ignore-window", "--reason", "INC-7 bad release"]);
    assert_eq!(result(&row), "rolled-back", "{row}");
    let l = live(&f)["umbrella/api"].clone();
    assert_eq!(l.revision, SEEDED + 1);
    assert!(
        l.service_tags
            .get("stamp:override")
            .is_some_and(|o| o.contains("INC-7 bad release")),
        "{:?}",
        l.service_tags
    );
}

/// With three revisions, "the previous one" is 2, not the oldest. stamp asks ECS for the
/// revisions newest first (`sort=DESC`); moto 5.2.5 ignores `sort` and lists them oldest
/// first, so stamp sorts them itself.
#[test]
fn rollback_with_three_revisions_goes_to_the_one_before_the_running_one() {
    let f = fleet();
    deploy(&f, &["umbrella"]).success();
    deploy(&f, &["umbrella", "--release", "v1.43.0"]).success();
    assert_eq!(live(&f)["umbrella/api"].revision, SEEDED + 2);
    let row = rollback(&f, &[]);
    assert_eq!(row["revision"], SEEDED + 1, "{row}");
    assert_eq!(live(&f)["umbrella/api"].revision, SEEDED + 1);
}

/// A tenant's services roll out side by side; when one fails, those not yet started are not
/// started with that release (skipped, saying which failed). One at a time makes "not yet
/// started" certain: the api fails first, the worker never starts.
#[test]
fn one_failing_service_stops_the_tenants_unstarted_services() {
    let f = fleet();
    let u = f.tenant("umbrella").clone();
    emu().fail_next_rollout(&u.account_id, &u.region, &u.cluster, "api");
    let run = deploy(&f, &["umbrella", "--service-concurrency", "1"]);
    run.code(1);
    let r = rows(&run);
    assert_eq!(result(&r["umbrella/api"]), "rolled-back", "{}", run.stdout);
    let worker = &r["umbrella/worker"];
    assert_eq!(result(worker), "skipped", "{worker}");
    assert!(detail(worker).contains("api failed"), "{worker}");
    let after = live(&f);
    assert_eq!(
        after["umbrella/worker"].revisions,
        vec![SEEDED],
        "the worker got nothing"
    );
    assert_eq!(after["umbrella/api"].revision, SEEDED);
    assert_eq!(locks_left(&f), Vec::<String>::new());
}

/// By default a tenant's services roll out at once: the worker deploys while the api's rollout
/// hangs, so the tenant takes one rollout's time, not two. A second interrupt then abandons
/// the run with exit 130.
#[test]
fn a_tenants_services_roll_out_side_by_side() {
    let f = fleet();
    let u = f.tenant("umbrella").clone();
    emu().hang_next_rollout(&u.account_id, &u.region, &u.cluster, "api");
    let child = command(&f, &deploy_args(&["umbrella", "--timeout", "120s"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the deploy");
    let pid = child.id().to_string();
    // While the api's rollout hangs under its lock, the worker's finishes.
    wait_until(
        "the worker runs the new revision",
        Duration::from_secs(60),
        || live(&f)["umbrella/worker"].revision == SEEDED + 1,
    );
    assert!(
        lock_exists(&f, "umbrella", "api"),
        "the api is still rolling out"
    );
    // Interrupts until it exits (the second one abandons the hung rollout).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let signaller = std::thread::spawn(move || {
        for _ in 0..120 {
            if stopped.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    let (run, _) = wait_for(child, Duration::from_secs(90));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = signaller.join();
    run.no_panic().code(130).stderr_has(&["interrupted again"]);
}

/// `deploy T -s S` (repeatable) deploys only those services.
#[test]
fn deploy_with_service_deploys_only_that_service() {
    let f = fleet();
    let run = deploy(&f, &["umbrella", "-s", "worker"]);
    run.success();
    let r = rows(&run);
    assert_eq!(
        r.keys().cloned().collect::<Vec<_>>(),
        vec!["umbrella/worker".to_owned()],
        "{}",
        run.stdout
    );
    let after = live(&f);
    assert_eq!(after["umbrella/worker"].revision, SEEDED + 1);
    assert_eq!(
        after["umbrella/api"].revisions,
        vec![SEEDED],
        "the api was not selected"
    );
    let run = stamp(&f, &deploy_args(&["umbrella", "-s", "wroker"]));
    run.no_panic().code(2).stderr_has(&["worker"]);
}

/// A plan made for one service deploys that service only, with exactly the plan's task
/// definition: the other services of the tenant are not touched.
#[test]
fn a_plan_for_one_service_deploys_only_that_service() {
    let f = fleet();
    open_all(&f);
    let path = f.root().join("api-only.json");
    stamp(
        &f,
        &[
            "plan",
            "umbrella",
            "-s",
            "api",
            "--out",
            path.to_str().expect("utf-8"),
        ],
    )
    .success();
    let before = live(&f);
    let run = deploy(&f, &["--plan", path.to_str().expect("utf-8")]);
    run.success();
    let r = rows(&run);
    assert_eq!(
        r.keys().cloned().collect::<Vec<_>>(),
        vec!["umbrella/api".to_owned()],
        "{}",
        run.stdout
    );
    assert_eq!(result(&r["umbrella/api"]), "deployed");
    let after = live(&f);
    assert_eq!(
        after["umbrella/api"].revision,
        before["umbrella/api"].revision + 1
    );
    assert_eq!(
        after["umbrella/worker"].revisions, before["umbrella/worker"].revisions,
        "the worker was not in the plan"
    );
    let saved = stamp::plan::SavedPlan::from_json(&std::fs::read_to_string(&path).expect("plan"))
        .expect("plan reads");
    assert_eq!(
        after["umbrella/api"].td_tags.get("stamp:digest"),
        Some(&saved.tenants[0].services[0].digest)
    );
}

/// CI systems may give steps a pseudo-terminal; with CI set, a deploy without --yes refuses
/// instead of waiting for an answer nobody will give.
#[test]
fn with_ci_set_a_deploy_without_yes_refuses_instead_of_prompting() {
    let f = fleet();
    let mut cmd = command(&f, &["deploy", "umbrella", "--allow-dirty"]);
    cmd.env("CI", "true");
    let run = run_command(cmd);
    run.code(2).no_panic().stderr_has(&["--yes"]);
}
