//! `stamp run` and `before_deploy` end to end: the real binary against a fresh copy of the
//! example fleet in new accounts of the shared emulator, whose RunTask tasks exit with the
//! code their command asks for (`exit=N`, after `sleep=S`) and write a line to their awslogs
//! stream (emulator/stamp_moto/ecs_tasks.py). Results are read back through the SDK: the
//! tasks (startedBy, tags, overrides, exit code), their log events, the services.

use std::collections::BTreeMap;
use std::process::Stdio;

use aws_config::SdkConfig;
use aws_sdk_ecs::types::{DesiredStatus, TaskField};
use serde_json::Value;

use crate::support::emulator::{Emulator, Fleet, MISSING_RELEASE, example_fleet};
use crate::support::{Run, detail, result, rows, rt, run_command};

/// Every command here overrides the example fleet's day-dependent windows and freezes.
const ANYTIME: [&str; 4] = ["--ignore-window", "--ignore-freeze", "--reason", "test"];
const TENANTS: [&str; 4] = ["acme", "globex", "initech", "umbrella"];

fn emu() -> &'static Emulator {
    Emulator::shared()
}

fn fleet() -> Fleet {
    let (root, params) = example_fleet();
    emu().fresh_fleet(&root, &params)
}

fn stamp(f: &Fleet, args: &[&str]) -> Run {
    let mut cmd = emu().stamp(f.root());
    cmd.args(args).stdin(Stdio::null());
    let run = run_command(cmd);
    run.no_panic();
    run
}

/// `stamp run TENANTS -s api -- CMD`, non-interactive, JSON summary.
fn run_task(f: &Fleet, tenants: &[&str], extra: &[&str], command: &[&str]) -> Run {
    let mut args = vec!["run"];
    args.extend_from_slice(tenants);
    args.extend_from_slice(&[
        "-s",
        "api",
        "--yes",
        "--allow-dirty",
        "--poll-interval",
        "20ms",
        "--output",
        "json",
    ]);
    args.extend_from_slice(&ANYTIME);
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(command);
    stamp(f, &args)
}

fn deploy(f: &Fleet, extra: &[&str]) -> Run {
    let mut args = vec![
        "deploy",
        "--all",
        "--yes",
        "--allow-dirty",
        "--poll-interval",
        "20ms",
        "--output",
        "json",
        "--release",
        "v1.43.0",
    ];
    args.extend_from_slice(&ANYTIME);
    args.extend_from_slice(extra);
    stamp(f, &args)
}

/// Appends `text` to `tenants/<file>.toml`.
fn append(f: &Fleet, file: &str, text: &str) {
    let path = f.root().join(format!("tenants/{file}.toml"));
    let mut body = std::fs::read_to_string(&path).expect("read tenant file");
    body.push_str(text);
    std::fs::write(&path, body).expect("write tenant file");
}

/// Puts `line` into the `[services.api]` table of `_defaults.toml`.
fn api_default(f: &Fleet, line: &str) {
    let path = f.root().join("tenants/_defaults.toml");
    let text = std::fs::read_to_string(&path).expect("read defaults");
    let text = text.replacen("[services.api]\n", &format!("[services.api]\n{line}\n"), 1);
    std::fs::write(&path, text).expect("write defaults");
}

// ---- the emulator's side --------------------------------------------------------------------

async fn cfg(f: &Fleet, tenant: &str) -> SdkConfig {
    let t = f.tenant(tenant);
    emu()
        .sdk_config_for(&t.account_id, &t.region, "stamp-deploy")
        .await
}

/// A stopped task stamp started, as DescribeTasks shows it.
#[derive(Debug)]
struct Task {
    id: String,
    task_definition: String,
    started_by: String,
    stop_code: String,
    stopped_reason: String,
    exit_code: Option<i32>,
    tags: BTreeMap<String, String>,
    /// Per container override: its name, command, and whether it sets any environment.
    overrides: Vec<(String, Vec<String>, bool)>,
}

/// Every task `startedBy = "stamp"` in the tenant's cluster (stopped ones included).
fn tasks(f: &Fleet, tenant: &str) -> Vec<Task> {
    rt().block_on(async {
        let ecs = aws_sdk_ecs::Client::new(&cfg(f, tenant).await);
        let cluster = &f.tenant(tenant).cluster;
        let arns = ecs
            .list_tasks()
            .cluster(cluster)
            .started_by("stamp")
            .desired_status(DesiredStatus::Stopped)
            .send()
            .await
            .expect("ListTasks")
            .task_arns
            .unwrap_or_default();
        if arns.is_empty() {
            return Vec::new();
        }
        let out = ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(arns))
            .include(TaskField::Tags)
            .send()
            .await
            .expect("DescribeTasks");
        out.tasks
            .unwrap_or_default()
            .into_iter()
            .map(|t| Task {
                id: t
                    .task_arn
                    .as_deref()
                    .unwrap_or_default()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
                task_definition: t.task_definition_arn.clone().unwrap_or_default(),
                started_by: t.started_by.clone().unwrap_or_default(),
                stop_code: t
                    .stop_code
                    .as_ref()
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_default(),
                stopped_reason: t.stopped_reason.clone().unwrap_or_default(),
                exit_code: t.containers().first().and_then(|c| c.exit_code),
                tags: t
                    .tags()
                    .iter()
                    .map(|x| {
                        (
                            x.key().unwrap_or_default().to_owned(),
                            x.value().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect(),
                overrides: t
                    .overrides()
                    .map(|o| o.container_overrides())
                    .unwrap_or_default()
                    .iter()
                    .map(|c| {
                        (
                            c.name().unwrap_or_default().to_owned(),
                            c.command().to_vec(),
                            c.environment.is_some() || c.environment_files.is_some(),
                        )
                    })
                    .collect(),
            })
            .collect()
    })
}

/// The messages of an awslogs stream.
fn log_lines(f: &Fleet, tenant: &str, group: &str, stream: &str) -> Vec<String> {
    rt().block_on(async {
        let logs = aws_sdk_cloudwatchlogs::Client::new(&cfg(f, tenant).await);
        logs.get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetLogEvents {group} {stream}: {e:?}"))
            .events
            .unwrap_or_default()
            .into_iter()
            .filter_map(|e| e.message)
            .collect()
    })
}

/// The task definition the service runs now.
fn running(f: &Fleet, tenant: &str, service: &str) -> String {
    rt().block_on(async {
        let ecs = aws_sdk_ecs::Client::new(&cfg(f, tenant).await);
        let out = ecs
            .describe_services()
            .cluster(&f.tenant(tenant).cluster)
            .services(service)
            .send()
            .await
            .expect("DescribeServices");
        out.services()[0]
            .task_definition
            .clone()
            .unwrap_or_default()
    })
}

fn only_row(run: &Run) -> Value {
    let all = rows(run);
    assert_eq!(all.len(), 1, "{}", run.stdout);
    all.into_values().next().expect("a row")
}

// ---- stamp run ------------------------------------------------------------------------------

#[test]
fn one_tenant_exits_with_the_containers_code_and_says_where_its_logs_are() {
    let f = fleet();
    let run = run_task(&f, &["umbrella"], &[], &["./migrate", "up", "exit=3"]);
    run.code(3)
        .stderr_has(&["umbrella/api: running `./migrate up exit=3` in container app (the first essential container)"]);
    let row = only_row(&run);
    assert_eq!(result(&row), "failed", "{row}");
    assert_eq!(row["exit_code"], 3, "{row}");
    let logs = row["logs"].as_str().expect("logs").to_owned();
    assert!(detail(&row).contains("exit code 3"), "{row}");

    // The task, as ECS holds it: stamp's, tagged, the command the only override.
    let all = tasks(&f, "umbrella");
    assert_eq!(all.len(), 1, "{all:?}");
    let t = &all[0];
    assert_eq!(t.started_by, "stamp");
    assert_eq!(
        (t.exit_code, t.stop_code.as_str()),
        (Some(3), "EssentialContainerExited")
    );
    assert_eq!(t.tags["stamp:command"], "./migrate");
    assert_eq!(t.tags["stamp:release"], "v1.41.3");
    for k in ["stamp:commit", "stamp:digest", "stamp:deployer"] {
        assert!(t.tags.contains_key(k), "{k} missing: {:?}", t.tags);
    }
    // Only the command is overridden: environment and secrets are the revision's own.
    assert_eq!(
        t.overrides,
        vec![(
            "app".to_owned(),
            vec!["./migrate".to_owned(), "up".to_owned(), "exit=3".to_owned()],
            false
        )]
    );
    assert!(!run.stdout.contains("CANARY") && !run.stderr.contains("CANARY"));
    // The seeded service runs a definition stamp would not render: the task ran the revision
    // a deploy would register, registered now; the service itself was not touched.
    let seeded = running(&f, "umbrella", "api");
    assert!(seeded.ends_with(":1"), "{seeded}");
    assert!(t.task_definition.ends_with(":2"), "{}", t.task_definition);
    assert_eq!(row["revision"], 2, "{row}");

    // Where stamp said the output is, the container's line is.
    assert_eq!(
        logs,
        format!("group /ecs/umbrella/api, stream api/app/{}", t.id)
    );
    let lines = log_lines(
        &f,
        "umbrella",
        "/ecs/umbrella/api",
        &format!("api/app/{}", t.id),
    );
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("exit code 3"), "{lines:?}");

    // Exit 0 is exit 0, with the row `succeeded`.
    let ok = run_task(&f, &["umbrella"], &[], &["./migrate", "up"]);
    ok.success();
    let ok = only_row(&ok);
    assert_eq!(result(&ok), "succeeded");
    // The same render again: the revision registered above, not a new one.
    assert_eq!(ok["revision"], 2, "{ok}");
    assert_eq!(running(&f, "umbrella", "api"), seeded);
}

#[test]
fn several_tenants_give_a_summary_of_exit_codes_and_exit_1_if_any_is_not_0() {
    let f = fleet();
    let t = f.tenant("globex");
    emu().fail_next_run_task(&t.account_id, &t.region, &t.cluster, "RESOURCE:MEMORY");
    let run = run_task(
        &f,
        &["--all"],
        &["--failure-tolerance", "4"],
        &["./migrate", "exit=0"],
    );
    run.code(1);
    let all = rows(&run);
    assert_eq!(all.len(), 4, "{}", run.stdout);
    for tenant in ["acme", "initech", "umbrella"] {
        let r = &all[&format!("{tenant}/api")];
        assert_eq!(
            (result(r), &r["exit_code"]),
            ("succeeded", &Value::from(0)),
            "{r}"
        );
    }
    // A task ECS did not start is a failure naming ECS's reason, with no exit code.
    let g = &all["globex/api"];
    assert_eq!(result(g), "failed", "{g}");
    assert!(g.get("exit_code").is_none(), "{g}");
    assert!(
        detail(g).contains("did not start: ECS says RESOURCE:MEMORY"),
        "{g}"
    );
    assert_eq!(run.json()["counts"]["succeeded"], 3);

    // Every container exiting 5: the summary says 5 each, the run exits 1 (not 5).
    let five = run_task(
        &f,
        &["acme", "umbrella"],
        &["--failure-tolerance", "1"],
        &["./check", "exit=5"],
    );
    five.code(1);
    for r in rows(&five).values() {
        assert_eq!(r["exit_code"], 5, "{r}");
    }
}

/// The task renders from what the preflight read (its image, roles and log groups were checked
/// against that): each tenant's parameters are read once, as often as `plan` reads them.
#[test]
fn a_run_reads_each_tenants_parameters_once_in_its_preflight() {
    let f = fleet();
    let plan = stamp(&f, &["plan", "--all", "--output", "json"]).json();
    let run = run_task(&f, &["--all"], &[], &["./migrate", "exit=0"]);
    run.success();
    let (planned, ran) = (
        &plan["api_calls"]["operations"],
        &run.json()["api_calls"]["operations"],
    );
    assert!(
        planned["ssm:GetParameters"].as_u64() > Some(0),
        "the example fleet reads SSM values: {planned}"
    );
    for op in ["ssm:GetParameters", "ssm:DescribeParameters"] {
        assert_eq!(
            ran[op], planned[op],
            "{op}: the run reads what plan reads, once (plan {planned}, run {ran})"
        );
    }
}

#[test]
fn a_timeout_stops_the_task_and_exits_124() {
    let f = fleet();
    let run = run_task(
        &f,
        &["umbrella"],
        &["--timeout", "1s"],
        &["./migrate", "sleep=3600"],
    );
    run.code(124)
        .stderr_has(&["timed out after", "stopped it (StopTask)"]);
    let row = only_row(&run);
    assert!(
        detail(&row).contains("stamp stopped the task (StopTask)"),
        "{row}"
    );
    let all = tasks(&f, "umbrella");
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].stop_code, "UserInitiated", "{all:?}");
    assert!(
        all[0]
            .stopped_reason
            .starts_with("stamp: the task ran longer than its timeout"),
        "{all:?}"
    );
}

#[test]
fn run_refuses_before_anything_starts_without_a_tenant_or_a_command() {
    let f = fleet();
    stamp(
        &f,
        &["run", "-s", "api", "--yes", "--allow-dirty", "--", "x"],
    )
    .code(2)
    .stderr_has(&["name the tenants to run the task in, or pass --all"]);
    stamp(&f, &["run", "umbrella", "-s", "api", "--yes"]).code(2);
    stamp(
        &f,
        &[
            "run",
            "umbrella",
            "-s",
            "api",
            "--yes",
            "--allow-dirty",
            "--container",
            "web",
            "--",
            "x",
        ],
    )
    .code(1);
    // Deploy's preflight: an image that is not in the registry refuses before any task.
    run_task(
        &f,
        &["umbrella"],
        &["--release", MISSING_RELEASE],
        &["./migrate", "up"],
    )
    .code(2)
    .stderr_has(&["preflight failed; no task was started", MISSING_RELEASE]);
    assert!(tasks(&f, "umbrella").is_empty());
}

// ---- before_deploy ---------------------------------------------------------------------------

#[test]
fn a_migration_runs_with_the_new_revision_then_every_tenant_deploys() {
    let f = fleet();
    api_default(
        &f,
        "before_deploy = { command = [\"./migrate\", \"up\"], timeout = \"1m\" }",
    );
    let run = deploy(&f, &[]);
    run.success();
    let all = rows(&run);
    for tenant in TENANTS {
        let r = &all[&format!("{tenant}/api")];
        assert_eq!(result(r), "deployed", "{r}");
        assert!(
            detail(r).contains("before_deploy `./migrate up` exited 0"),
            "{r}"
        );
        let ran = tasks(&f, tenant);
        assert_eq!(ran.len(), 1, "{tenant}: {ran:?}");
        // The migration ran the revision the service was then updated to.
        assert_eq!(
            ran[0].task_definition,
            running(&f, tenant, "api"),
            "{tenant}"
        );
        assert_eq!(ran[0].exit_code, Some(0));
        // acme pins its release; the others get --release.
        assert_eq!(
            ran[0].tags["stamp:release"],
            r["release"].as_str().unwrap_or_default()
        );
        let stream = format!("api/app/{}", ran[0].id);
        assert_eq!(
            r["logs"],
            format!("group /ecs/{tenant}/api, stream {stream}")
        );
        assert_eq!(
            log_lines(&f, tenant, &format!("/ecs/{tenant}/api"), &stream).len(),
            1
        );
        // The worker has no hook.
        assert!(!detail(&all[&format!("{tenant}/worker")]).contains("before_deploy"));
    }
    // A deploy with nothing to change runs no migration.
    deploy(&f, &[]).success();
    assert_eq!(tasks(&f, "acme").len(), 1);
}

#[test]
fn a_failing_migration_stops_only_that_tenant() {
    let f = fleet();
    api_default(&f, "before_deploy = { command = [\"./migrate\", \"up\"] }");
    append(
        &f,
        "umbrella",
        "\n[services.api.before_deploy]\ncommand = [\"./migrate\", \"up\", \"exit=2\"]\n",
    );
    append(
        &f,
        "globex",
        "\n[services.api]\nbefore_deploy = { unset = true }\n",
    );
    let before = running(&f, "umbrella", "api");
    let run = deploy(
        &f,
        &["--failure-tolerance", "3", "--service-concurrency", "1"],
    );
    run.code(1);
    let all = rows(&run);
    let u = &all["umbrella/api"];
    assert_eq!(result(u), "before-deploy-failed", "{u}");
    assert_eq!(u["exit_code"], 2, "{u}");
    assert!(
        detail(u).contains("exit code 2; logs: group /ecs/umbrella/api, stream api/app/"),
        "{u}"
    );
    assert_eq!(
        result(&all["umbrella/worker"]),
        "skipped",
        "{}",
        all["umbrella/worker"]
    );
    // The service was not touched.
    assert_eq!(running(&f, "umbrella", "api"), before);
    for tenant in ["acme", "initech"] {
        assert_eq!(result(&all[&format!("{tenant}/api")]), "deployed");
        assert_eq!(tasks(&f, tenant).len(), 1, "{tenant}");
    }
    // globex unset the hook: deployed without a task.
    assert_eq!(result(&all["globex/api"]), "deployed");
    assert!(tasks(&f, "globex").is_empty());
    assert_eq!(run.json()["counts"]["before-deploy-failed"], 1);
}

/// A failed `before_deploy` leaves its revision registered and the service as it was; the next
/// deploy finds that revision in its first look and uses it, without registering again.
#[test]
fn the_revision_a_failed_migration_registered_is_used_by_the_next_deploy() {
    let f = fleet();
    api_default(&f, "before_deploy = { command = [\"./migrate\", \"up\"] }");
    let u = f.tenant("umbrella").clone();
    let before = running(&f, "umbrella", "api");
    emu().fail_next_run_task(&u.account_id, &u.region, &u.cluster, "RESOURCE:MEMORY");
    let first = deploy(&f, &["--failure-tolerance", "3"]);
    first.code(1);
    let failed = &rows(&first)["umbrella/api"];
    assert_eq!(result(failed), "before-deploy-failed", "{failed}");
    assert_eq!(running(&f, "umbrella", "api"), before, "not updated");

    let again = deploy(&f, &[]);
    again.success();
    let r = &rows(&again)["umbrella/api"];
    assert_eq!(result(r), "deployed", "{r}");
    let revision = r["revision"].as_i64().expect("revision");
    assert!(
        detail(r).contains(&format!(
            "revision {revision} was already registered; used it"
        )),
        "{r}"
    );
    let ops = &again.json()["api_calls"]["operations"];
    assert!(
        ops["ecs:RegisterTaskDefinition"].is_null(),
        "nothing registered again: {ops}"
    );
}

#[test]
fn plan_shows_the_hook_and_its_digest_covers_it() {
    let f = fleet();
    let digest = |run: &Run| run.json()["tenants"][0]["services"][0]["digest"].clone();
    let plain = stamp(&f, &["plan", "umbrella", "-s", "api", "--output", "json"]);
    plain.success();
    api_default(
        &f,
        "before_deploy = { command = [\"./migrate\", \"up\"], container = \"app\", timeout = \"15m\" }",
    );
    let text = stamp(
        &f,
        &["plan", "umbrella", "-s", "api", "--release", "v1.43.0"],
    );
    text.success().stdout_has(&[
        "before_deploy: ./migrate up in app (timeout 15m; runs first, with the new revision)",
    ]);
    let hooked = stamp(&f, &["plan", "umbrella", "-s", "api", "--output", "json"]);
    hooked.success();
    let s = &hooked.json()["tenants"][0]["services"][0];
    assert_eq!(
        s["before_deploy"]["command"],
        serde_json::json!(["./migrate", "up"])
    );
    assert_ne!(digest(&plain), digest(&hooked));
}

#[test]
fn validate_names_the_line_of_a_bad_hook() {
    let f = fleet();
    for (bad, says) in [
        (
            "before_deploy = \"./migrate\"",
            "`before_deploy` must be a table",
        ),
        (
            "before_deploy = { command = [] }",
            "`command` must name a program",
        ),
        (
            "before_deploy = { comand = [\"x\"] }",
            "did you mean `command`?",
        ),
        (
            "before_deploy = { command = [\"x\"], timeout = \"5 parsecs\" }",
            "timeout",
        ),
        (
            "before_deploy = { unset = true, command = [\"x\"] }",
            "takes no other key",
        ),
    ] {
        let path = f.root().join("tenants/globex.toml");
        let original = std::fs::read_to_string(&path).expect("read");
        std::fs::write(&path, format!("{original}\n[services.api]\n{bad}\n")).expect("write");
        let line = original.lines().count() + 3;
        let run = stamp(&f, &["validate"]);
        run.code(2)
            .stderr_has(&[says, &format!("tenants/globex.toml:{line}")]);
        std::fs::write(&path, original).expect("restore");
    }
}
