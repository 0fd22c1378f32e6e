//! `stamp infra plan|apply` against the emulator: a stack created from nothing, a parameter
//! change previewed then applied, a no-op, a failing create reported with its resource and
//! reason, a secret passed as a dynamic reference (its value in none of stamp's requests nor its
//! output), a stack output feeding a task definition, and retries counted in the summary rows.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::support::emulator::{Emulator, Fleet, SeedOptions, example_fleet};
use crate::support::faults::{Config, Fault, FaultProxy};
use crate::support::proxy::Proxy;
use crate::support::rt;
use crate::support::{Run, run_command, without_infra};

const CANARY: &str = "db-password-CANARY-acme";

const TEMPLATE: &str = r#"AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Prefix:
    Type: String
  Days:
    Type: Number
    Default: 7
  DbPassword:
    Type: String
    NoEcho: true
    Default: ""
Resources:
  Logs:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: !Sub "/infra/${Prefix}"
      RetentionInDays: !Ref Days
Outputs:
  LogGroup:
    Value: !Ref Logs
"#;

fn stamp_on(emu: &Emulator, f: &Fleet, args: &[&str]) -> Run {
    stamp_via(emu, f, None, args)
}

/// stamp against the emulator, or through a proxy at `endpoint` in front of it.
fn stamp_via(emu: &Emulator, f: &Fleet, endpoint: Option<&str>, args: &[&str]) -> Run {
    let mut cmd = emu.command(env!("CARGO_BIN_EXE_stamp"));
    if let Some(e) = endpoint {
        cmd.env("AWS_ENDPOINT_URL", e);
    }
    cmd.arg("--root")
        .arg(f.root())
        .args(args)
        .stdin(Stdio::null());
    let run = run_command(cmd);
    run.no_panic();
    assert!(
        !run.stdout.contains(CANARY) && !run.stderr.contains(CANARY),
        "a secret value reached stamp's output\n{}\n{}",
        run.stdout,
        run.stderr
    );
    run
}

fn plan(emu: &Emulator, f: &Fleet) -> Value {
    let run = stamp_on(emu, f, &["infra", "plan", "acme", "--output", "json"]);
    run.success();
    let j = run.json();
    j["stacks"][0].clone()
}

const APPLY_ACME: &[&str] = &[
    "infra",
    "apply",
    "acme",
    "--yes",
    "--allow-dirty",
    "--ignore-window",
    "--reason",
    "infra test",
    "--output",
    "json",
];

fn apply(emu: &Emulator, f: &Fleet) -> Value {
    let run = stamp_on(emu, f, APPLY_ACME);
    run.success();
    let j = run.json();
    j["rows"][0].clone()
}

/// Appends `more` to the fleet file `rel`.
fn append(f: &Fleet, rel: &str, more: &str) {
    let p = f.root().join(rel);
    let text = std::fs::read_to_string(&p).expect("read");
    std::fs::write(&p, format!("{text}\n{more}")).expect("write");
}

/// Replaces `from` (which must be there) with `to` in the fleet file `rel`.
fn edit(f: &Fleet, rel: &str, from: &str, to: &str) {
    let p = f.root().join(rel);
    let text = std::fs::read_to_string(&p).expect("read");
    assert!(text.contains(from), "{rel} has no `{from}`");
    std::fs::write(&p, text.replacen(from, to, 1)).expect("write");
}

/// The example fleet in fresh accounts with the `[infra.logs]` stack of `TEMPLATE`: acme gives
/// a secret parameter, every tenant its prefix.
fn fleet(emu: &Emulator) -> Fleet {
    let (root, params) = example_fleet();
    let f = emu.fresh_fleet(&root, &params);
    // The example fleet's own `[infra.app]` is not what these tests are about.
    for t in ["_defaults", "acme", "globex", "initech", "umbrella"] {
        let p = f.root().join(format!("tenants/{t}.toml"));
        let text = std::fs::read_to_string(&p).expect("read");
        std::fs::write(&p, without_infra(&text)).expect("write");
    }
    std::fs::write(f.root().join("templates/logs.cfn.yaml"), TEMPLATE).expect("template");
    append(
        &f,
        "tenants/_defaults.toml",
        "[infra.logs]\ntemplate = \"logs.cfn.yaml\"\ntags = { team = \"platform\" }\n",
    );
    append(
        &f,
        "tenants/acme.toml",
        "[infra.logs.parameters]\nPrefix = \"acme\"\nDbPassword = { secret = \"/shop/acme/database_url\" }\n",
    );
    // Other tenants give the required parameter too, so the fleet validates.
    for t in ["globex", "initech", "umbrella"] {
        append(
            &f,
            &format!("tenants/{t}.toml"),
            &format!("[infra.logs.parameters]\nPrefix = \"{t}\"\n"),
        );
    }
    f
}

#[test]
fn a_stack_is_created_from_nothing_then_updated_and_a_no_op_changes_nothing() {
    let emu = Emulator::shared();
    let f = fleet(emu);

    // Absent: a create, shown from the template's resources.
    let p = plan(emu, &f);
    assert_eq!(p["action"], "create", "{p:#}");
    assert_eq!(p["stack_name"], "acme-logs");
    assert!(
        p["changes"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["logical_id"] == "Logs")),
        "{p:#}"
    );
    let row = apply(emu, &f);
    assert_eq!(row["result"], "deployed", "{row:#}");

    // Applied: nothing to do, and applying again changes nothing.
    let p = plan(emu, &f);
    assert_eq!(p["action"], "no-change", "{p:#}");
    let row = apply(emu, &f);
    assert_eq!(row["result"], "unchanged", "{row:#}");

    // The secret went to CloudFormation as a dynamic reference, pinned to its version.
    let secret = p["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|x| x["name"] == "DbPassword"))
        .cloned()
        .unwrap_or_default();
    assert!(
        secret["new"]
            .as_str()
            .is_some_and(|v| v.starts_with("{{resolve:ssm-secure:/shop/acme/database_url:")),
        "{secret:#}"
    );

    // A parameter change, previewed with its old and new value and where it is written.
    let p_acme = f.root().join("tenants/acme.toml");
    let text = std::fs::read_to_string(&p_acme).expect("read");
    std::fs::write(
        &p_acme,
        text.replace("Prefix = \"acme\"\n", "Prefix = \"acme\"\nDays = \"14\"\n"),
    )
    .expect("write");
    let p = plan(emu, &f);
    assert_eq!(p["action"], "update", "{p:#}");
    let days = p["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|x| x["name"] == "Days"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(days["old"], "7", "{days:#}");
    assert_eq!(days["new"], "14", "{days:#}");
    assert_eq!(days["changed"], true);
    assert!(
        days["source"]
            .as_str()
            .is_some_and(|s| s.contains("acme.toml:")),
        "{days:#}"
    );
    let row = apply(emu, &f);
    assert_eq!(row["result"], "deployed", "{row:#}");
    let p = plan(emu, &f);
    assert_eq!(p["action"], "no-change", "{p:#}");
}

/// A stack whose queue name SQS rejects: the create fails in CloudFormation, not in the call.
const QUEUE_TEMPLATE: &str = r#"AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  QueueName:
    Type: String
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Ref QueueName
"#;

#[test]
fn a_failing_create_is_reported_with_its_resource_and_reason_and_the_stuck_stack_with_its_way_out()
{
    let emu = Emulator::shared();
    let f = fleet(emu);
    std::fs::write(f.root().join("templates/queue.cfn.yaml"), QUEUE_TEMPLATE).expect("template");
    append(
        &f,
        "tenants/_defaults.toml",
        "[infra.queue]\ntemplate = \"queue.cfn.yaml\"\n[infra.queue.parameters]\nQueueName = \"orders\"\n",
    );
    // A space is not allowed in an SQS queue name.
    edit(
        &f,
        "tenants/acme.toml",
        "[infra.logs.parameters]\n",
        "[infra.queue.parameters]\nQueueName = \"acme orders\"\n\n[infra.logs.parameters]\n",
    );

    let run = stamp_on(emu, &f, &[APPLY_ACME, &["--stack", "queue"]].concat());
    run.code(1);
    let j = run.json();
    let row = &j["rows"][0];
    assert_eq!(row["service"], "stack:queue", "{row:#}");
    assert_eq!(row["result"], "failed", "{row:#}");
    let detail = row["detail"].as_str().unwrap_or_default();
    for want in [
        "ROLLBACK_COMPLETE",
        "Queue (AWS::SQS::Queue) CREATE_FAILED",
        "Can only include alphanumeric characters",
        "aws cloudformation delete-stack --stack-name acme-queue",
    ] {
        assert!(detail.contains(want), "no `{want}` in {row:#}");
    }

    // The next plan recognises the stuck stack and names the step that gets it moving.
    let run = stamp_on(
        emu,
        &f,
        &[
            "infra", "plan", "acme", "--stack", "queue", "--output", "json",
        ],
    );
    run.code(1);
    let p = run.json()["stacks"][0].clone();
    assert_eq!(p["action"], "error", "{p:#}");
    assert_eq!(p["status"], "ROLLBACK_COMPLETE", "{p:#}");
    assert!(
        p["error"]
            .as_str()
            .is_some_and(|e| e.contains("delete-stack --stack-name acme-queue")),
        "{p:#}"
    );

    // Following it: the cause fixed, the stack deleted, the apply creates it.
    edit(
        &f,
        "tenants/acme.toml",
        "\"acme orders\"",
        "\"acme-orders\"",
    );
    let acme = f.tenant("acme").clone();
    rt().block_on(async {
        let cfg = emu
            .sdk_config_for(&acme.account_id, &acme.region, "stamp-deploy")
            .await;
        aws_sdk_cloudformation::Client::new(&cfg)
            .delete_stack()
            .stack_name("acme-queue")
            .send()
            .await
            .expect("DeleteStack");
    });
    let run = stamp_on(emu, &f, &[APPLY_ACME, &["--stack", "queue"]].concat());
    run.success();
    assert_eq!(run.json()["rows"][0]["result"], "deployed");
}

/// Every request body that went through a recording proxy, percent-decoded (the query
/// protocol of CloudFormation and STS form-encodes its parameters).
fn recording_proxy(emu: &Emulator) -> (Proxy, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let proxy = Proxy::start(
        emu.endpoint(),
        Arc::new(move |req: &str, body: String| {
            log.lock().expect("log").push(percent_decode(req));
            body
        }),
    );
    (proxy, seen)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(v) => {
                    out.push(v);
                    i += 3;
                    continue;
                }
                Err(_) => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn a_secret_parameter_travels_as_a_dynamic_reference_and_its_value_in_no_request() {
    let emu = Emulator::shared();
    let f = fleet(emu);
    let (proxy, seen) = recording_proxy(emu);
    let endpoint = proxy.endpoint();

    let run = stamp_via(
        emu,
        &f,
        Some(&endpoint),
        &["infra", "plan", "acme", "--output", "json"],
    );
    run.success();
    let run = stamp_via(emu, &f, Some(&endpoint), APPLY_ACME);
    run.success();
    assert_eq!(run.json()["rows"][0]["result"], "deployed");

    let bodies = seen.lock().expect("log").clone();
    // The proxy saw the calls that carry the parameters, with the reference in them…
    let create = bodies
        .iter()
        .find(|b| b.contains("Action=CreateChangeSet"))
        .unwrap_or_else(|| panic!("no CreateChangeSet went through the proxy: {bodies:#?}"));
    assert!(
        create.contains("{{resolve:ssm-secure:/shop/acme/database_url:1}}"),
        "{create}"
    );
    assert!(
        bodies.iter().any(|b| b.contains("Action=ExecuteChangeSet")),
        "{bodies:#?}"
    );
    // …and the value in none of them (stamp_via checked its output).
    for b in &bodies {
        assert!(!b.contains(CANARY), "a secret value was sent: {b}");
    }
}

#[test]
fn a_stack_output_feeds_the_task_definition_stamp_deploys() {
    let emu = Emulator::shared();
    let f = fleet(emu);
    apply(emu, &f);
    // The api's environment reads the log group the stack created.
    edit(
        &f,
        "tenants/acme.toml",
        "NEW_CHECKOUT = \"true\"\n",
        "NEW_CHECKOUT = \"true\"\nLOG_GROUP    = { cfn_output = \"logs.LogGroup\" }\n",
    );

    let run = stamp_on(emu, &f, &["render", "acme", "-s", "api"]);
    run.success();
    assert!(run.stdout.contains("/infra/acme"), "{}", run.stdout);

    let run = stamp_on(
        emu,
        &f,
        &[
            "deploy",
            "acme",
            "--yes",
            "--allow-dirty",
            "--ignore-window",
            "--reason",
            "infra test",
            "--poll-interval",
            "20ms",
            "--output",
            "json",
        ],
    );
    run.success();
    let acme = f.tenant("acme").clone();
    let env = rt().block_on(async {
        let cfg = emu
            .sdk_config_for(&acme.account_id, &acme.region, "stamp-deploy")
            .await;
        let svc = emu.describe_service(&cfg, &acme.cluster, "api").await;
        let td = aws_sdk_ecs::Client::new(&cfg)
            .describe_task_definition()
            .task_definition(&svc.task_definition)
            .send()
            .await
            .expect("DescribeTaskDefinition")
            .task_definition
            .expect("task definition");
        td.container_definitions()
            .iter()
            .flat_map(|c| c.environment().iter())
            .filter_map(|kv| Some((kv.name()?.to_owned(), kv.value()?.to_owned())))
            .collect::<Vec<_>>()
    });
    assert!(
        env.iter()
            .any(|(k, v)| k == "LOG_GROUP" && v == "/infra/acme"),
        "{env:?}"
    );
}

#[test]
fn infra_apply_rows_count_the_retries_their_calls_needed() {
    let emu = Emulator::shared();
    let f = fleet(emu);
    // The first DescribeStacks is throttled the way AWS throttles; the SDK retries it.
    let mut config = Config::mix(7, 1.0, Duration::from_secs(5));
    config.kinds = vec![Fault::Throttle];
    config.only = vec!["cloudformation:DescribeStacks".into()];
    config.per_op_limit = Some(1);
    let proxy = FaultProxy::start(emu.endpoint(), config);
    let run = stamp_via(emu, &f, Some(&proxy.endpoint()), APPLY_ACME);
    run.success();
    let row = run.json()["rows"][0].clone();
    assert_eq!(row["result"], "deployed", "{row:#}");
    assert_eq!(proxy.report().faults_on("cloudformation:DescribeStacks"), 1);
    assert_eq!(
        row["retried"]["cloudformation:DescribeStacks"], 1,
        "{row:#}"
    );
    assert_eq!(row["retries"], 1, "{row:#}");
}

/// The demo's path: accounts holding only stamp's roles and their parameters, the example
/// fleet's `[infra.app]` stack applied to every tenant, then the fleet deployed onto it.
#[test]
fn the_example_fleet_is_built_from_nothing_by_its_app_stack_then_deployed() {
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
    let override_window = [
        "--yes",
        "--allow-dirty",
        "--ignore-window",
        "--reason",
        "infra test",
    ];
    let run = stamp_on(
        emu,
        &f,
        &[
            &["infra", "apply", "--all", "--output", "json"][..],
            &override_window,
        ]
        .concat(),
    );
    run.success();
    let rows = run.json()["rows"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 4, "{rows:#?}");
    for r in &rows {
        assert_eq!(r["service"], "stack:app", "{r:#}");
        assert_eq!(r["result"], "deployed", "{r:#}");
    }
    let run = stamp_on(emu, &f, &["infra", "plan", "--all", "--output", "json"]);
    run.success();
    for p in run.json()["stacks"].as_array().cloned().unwrap_or_default() {
        assert_eq!(p["action"], "no-change", "{p:#}");
    }

    let run = stamp_on(
        emu,
        &f,
        &[
            &["deploy", "--all", "--poll-interval", "20ms"][..],
            &["--output", "json"],
            &override_window,
        ]
        .concat(),
    );
    run.success();
    let rows = run.json()["rows"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 8, "{rows:#?}");
    for r in &rows {
        assert_eq!(r["result"], "deployed", "{r:#}");
        // Revision 1 is the stack's bootstrap task definition; stamp registered the next one.
        assert_eq!(r["revision"], 2, "{r:#}");
    }
    let run = stamp_on(emu, &f, &["plan", "--all", "--output", "json"]);
    run.success();
    let plan = run.json();
    for t in plan["tenants"].as_array().cloned().unwrap_or_default() {
        for s in t["services"].as_array().cloned().unwrap_or_default() {
            assert_eq!(s["action"], "unchanged", "{}: {s:#}", t["tenant"]);
        }
    }
}

/// The stack of `tenant` in a `status --output json` document.
fn stack_of(doc: &Value, tenant: &str) -> Value {
    doc["tenants"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["tenant"] == tenant))
        .map(|t| t["stacks"][0].clone())
        .unwrap_or_else(|| panic!("no tenant {tenant} in {doc:#}"))
}

#[test]
fn status_shows_each_stack_in_sync_drifted_or_missing_reading_only() {
    let emu = Emulator::shared();
    let f = fleet(emu);
    apply(emu, &f);
    let status = |f: &Fleet| {
        let run = stamp_on(emu, f, &["status", "acme", "globex", "--output", "json"]);
        run.success();
        run.json()
    };

    let doc = status(&f);
    let acme = stack_of(&doc, "acme");
    assert_eq!(acme["stack"], "logs", "{acme:#}");
    assert_eq!(acme["stack_name"], "acme-logs", "{acme:#}");
    assert_eq!(acme["state"], "in-sync", "{acme:#}");
    assert_eq!(acme["status"], "CREATE_COMPLETE", "{acme:#}");
    assert_eq!(acme["drift"], serde_json::json!([]), "{acme:#}");
    let globex = stack_of(&doc, "globex");
    assert_eq!(globex["state"], "missing", "{globex:#}");
    assert!(globex["status"].is_null(), "{globex:#}");
    assert_eq!(
        doc["stack_counts"]["in-sync"], 1,
        "{:#}",
        doc["stack_counts"]
    );
    assert_eq!(
        doc["stack_counts"]["missing"], 1,
        "{:#}",
        doc["stack_counts"]
    );
    // CloudFormation read APIs only: no change set, nothing that could write.
    let ops = doc["api_calls"]["operations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert!(
        ops.contains_key("cloudformation:DescribeStacks"),
        "{ops:#?}"
    );
    assert!(ops.contains_key("cloudformation:GetTemplate"), "{ops:#?}");
    for op in ops.keys().filter(|op| op.starts_with("cloudformation:")) {
        let name = op.split(':').nth(1).unwrap_or_default();
        assert!(
            ["Describe", "Get", "List"]
                .iter()
                .any(|p| name.starts_with(p)),
            "status called {op}"
        );
    }
    // --check counts a missing stack as not in sync.
    stamp_on(emu, &f, &["status", "acme", "globex", "--check"]).code(1);

    // A parameter changed in the repo, then the template too: drift names both, no values.
    edit(
        &f,
        "tenants/acme.toml",
        "Prefix = \"acme\"\n",
        "Prefix = \"acme\"\nDays = \"30\"\n",
    );
    let acme = stack_of(&status(&f), "acme");
    assert_eq!(acme["state"], "drifted", "{acme:#}");
    assert_eq!(
        acme["drift"],
        serde_json::json!(["parameter:Days"]),
        "{acme:#}"
    );
    append(
        &f,
        "templates/logs.cfn.yaml",
        "  Prefix:\n    Value: !Ref Prefix\n",
    );
    let acme = stack_of(&status(&f), "acme");
    assert_eq!(
        acme["drift"],
        serde_json::json!(["template", "parameter:Days"]),
        "{acme:#}"
    );

    // The text view and the page show the stack too.
    let text = stamp_on(emu, &f, &["status", "acme", "globex"]);
    text.success();
    text.stdout_has(&[
        "acme/logs (acme-logs): drifted [template, parameter:Days], CREATE_COMPLETE",
        "globex/logs (globex-logs): missing",
    ]);
    let page = f.root().join("fleet.html");
    stamp_on(
        emu,
        &f,
        &[
            "status",
            "acme",
            "globex",
            "--html",
            page.to_str().expect("utf-8"),
        ],
    )
    .success();
    let html = std::fs::read_to_string(&page).expect("page");
    assert!(html.contains("<th>stack logs</th>"), "no stack column");
    assert!(html.contains("create complete"), "no stack status cell");
}

fn git(f: &Fleet, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(f.root())
        .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The stack's tags as CloudFormation holds them.
fn stack_tags(
    emu: &Emulator,
    f: &Fleet,
    tenant: &str,
    stack: &str,
) -> Option<std::collections::BTreeMap<String, String>> {
    let t = f.tenant(tenant).clone();
    rt().block_on(async {
        let cfg = emu
            .sdk_config_for(&t.account_id, &t.region, "stamp-deploy")
            .await;
        let cfn = aws_sdk_cloudformation::Client::new(&cfg);
        let out = cfn.describe_stacks().stack_name(stack).send().await.ok()?;
        let s = out.stacks().first()?.clone();
        Some(
            s.tags()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap_or_default().to_owned(),
                        t.value().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
        )
    })
}

/// `infra apply` refuses an uncommitted fleet as deploy does, and the stack it applies carries
/// the audit: commit, deployer, the digest of its inputs, the override reason; `status` does
/// not call those tags drift.
#[test]
fn infra_apply_refuses_a_dirty_tree_and_tags_the_stack_with_its_audit() {
    let emu = Emulator::shared();
    let f = fleet(emu);
    git(&f, &["init", "-q"]);
    git(&f, &["add", "-A"]);
    git(&f, &["commit", "-qm", "fleet"]);
    append(&f, "tenants/acme.toml", "# an uncommitted edit\n");
    let dirty: Vec<&str> = APPLY_ACME
        .iter()
        .copied()
        .filter(|a| *a != "--allow-dirty")
        .collect();
    let run = stamp_on(emu, &f, &dirty);
    run.code(2);
    assert!(run.stderr.contains("uncommitted changes"), "{}", run.stderr);
    assert_eq!(
        stack_tags(emu, &f, "acme", "acme-logs"),
        None,
        "no stack was created"
    );
    assert_eq!(plan(emu, &f)["action"], "create");

    git(&f, &["commit", "-qam", "the edit"]);
    let sha = git(&f, &["rev-parse", "HEAD"]);
    let run = stamp_on(emu, &f, &dirty);
    run.success();
    assert_eq!(
        run.json()["rows"][0]["result"],
        "deployed",
        "{}",
        run.stdout
    );
    let tags = stack_tags(emu, &f, "acme", "acme-logs").expect("the stack exists");
    assert_eq!(
        tags.get("team").map(String::as_str),
        Some("platform"),
        "{tags:?}"
    );
    assert_eq!(tags.get("stamp:commit"), Some(&sha), "{tags:?}");
    assert!(
        tags.get("stamp:deployer")
            .is_some_and(|d| d.starts_with("arn:aws:")),
        "{tags:?}"
    );
    assert!(
        tags.get("stamp:digest")
            .is_some_and(|d| d.starts_with("sha256:")),
        "{tags:?}"
    );
    assert!(
        tags.get("stamp:override")
            .is_some_and(|o| o.contains("infra test")),
        "{tags:?}"
    );
    let run = stamp_on(emu, &f, &["status", "acme", "--output", "json"]);
    run.success();
    let acme = stack_of(&run.json(), "acme");
    assert_eq!(acme["state"], "in-sync", "{acme:#}");
    assert_eq!(plan(emu, &f)["action"], "no-change");
}

/// A stack that reads another's output is applied after it, whatever the declaration order;
/// two stacks reading each other are a `validate` error.
#[test]
fn stacks_apply_in_cfn_output_order_and_a_cycle_is_a_validate_error() {
    let emu = Emulator::shared();
    let f = fleet(emu);
    // `b` is declared first and takes its prefix from `a`'s output.
    append(
        &f,
        "tenants/acme.toml",
        "[infra.b]\ntemplate = \"logs.cfn.yaml\"\n[infra.b.parameters]\nPrefix = { cfn_output = \"a.LogGroup\" }\n\n[infra.a]\ntemplate = \"logs.cfn.yaml\"\n[infra.a.parameters]\nPrefix = \"acme-a\"\n",
    );
    let run = stamp_on(emu, &f, APPLY_ACME);
    run.success();
    let rows = run.json()["rows"].as_array().cloned().unwrap_or_default();
    for key in ["stack:a", "stack:b", "stack:logs"] {
        let r = rows
            .iter()
            .find(|r| r["service"] == key)
            .cloned()
            .unwrap_or_default();
        assert_eq!(r["result"], "deployed", "{key}: {rows:#?}");
    }

    edit(
        &f,
        "tenants/acme.toml",
        "Prefix = \"acme-a\"",
        "Prefix = { cfn_output = \"b.LogGroup\" }",
    );
    let run = stamp_on(emu, &f, &["validate"]);
    run.code(2);
    assert!(
        run.stderr.contains("read each other's outputs"),
        "{}",
        run.stderr
    );
}

/// A stack change applied over deployed services leaves what deploy owns alone: the revision
/// they run and their task count stay as deploy set them.
#[test]
fn a_stack_change_over_deployed_services_keeps_their_revision_and_count() {
    let emu = Emulator::shared();
    let (root, params) = example_fleet();
    let f = emu.fresh_fleet_with(
        &root,
        &params,
        &SeedOptions {
            tenants: Some(vec!["umbrella".into()]),
            services: false,
        },
    );
    for t in ["acme", "globex", "initech"] {
        std::fs::remove_file(f.root().join(format!("tenants/{t}.toml"))).expect("remove tenant");
    }
    let go = [
        "--yes",
        "--allow-dirty",
        "--ignore-window",
        "--reason",
        "infra test",
        "--output",
        "json",
    ];
    let apply = |f: &Fleet| {
        let run = stamp_on(emu, f, &[&["infra", "apply", "umbrella"][..], &go].concat());
        run.success();
        run.json()
    };
    apply(&f);
    let run = stamp_on(
        emu,
        &f,
        &[&["deploy", "umbrella", "--poll-interval", "20ms"][..], &go].concat(),
    );
    run.success();
    let t = f.tenant("umbrella").clone();
    let before: Vec<(String, i32)> = ["api", "worker"]
        .iter()
        .map(|s| {
            let v = rt().block_on(async {
                let cfg = emu
                    .sdk_config_for(&t.account_id, &t.region, "stamp-deploy")
                    .await;
                emu.describe_service(&cfg, &t.cluster, s).await
            });
            (v.task_definition, v.desired)
        })
        .collect();
    assert!(
        before.iter().all(|(td, _)| td.ends_with(":2")),
        "{before:?}"
    );
    assert!(
        before.iter().all(|(_, n)| *n > 0),
        "deploy set the task counts: {before:?}"
    );

    // The worst stack change for deploy's state: a longer log retention, a changed bootstrap
    // task definition (a new revision) and a changed service (the stack updates it, which
    // sends the bootstrap revision).
    edit(
        &f,
        "tenants/_defaults.toml",
        "LogRetentionDays = \"14\"",
        "LogRetentionDays = \"30\"",
    );
    edit(
        &f,
        "templates/app.cfn.yaml",
        "Family: shop-api\n",
        "Family: shop-api\n      Tags: [{ Key: layout, Value: v2 }]\n",
    );
    edit(
        &f,
        "templates/app.cfn.yaml",
        "MaximumPercent: 200",
        "MaximumPercent: 150",
    );
    let doc = apply(&f);
    assert_eq!(doc["rows"][0]["result"], "deployed", "{doc:#}");
    // The stack did put its bootstrap revision in; infra apply saw it and put deploy's back.
    let detail = doc["rows"][0]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("the stack changed service api") && detail.contains("put back"),
        "{doc:#}"
    );
    for (s, (td, desired)) in ["api", "worker"].iter().zip(&before) {
        let v = rt().block_on(async {
            let cfg = emu
                .sdk_config_for(&t.account_id, &t.region, "stamp-deploy")
                .await;
            emu.describe_service(&cfg, &t.cluster, s).await
        });
        assert_eq!(
            &v.task_definition, td,
            "{s}: the stack put another revision in"
        );
        assert_eq!(v.desired, *desired, "{s}: the stack changed the task count");
    }

    // A deploy holding a service's lock: the stack is not changed under it (the put-back
    // would undo that deploy), and the lock is left to its holder.
    let lock = format!("/stamp/locks/{}/api", t.cluster);
    let held = serde_json::json!({
        "who": "arn:aws:iam::123456789012:user/other-deployer",
        "run_id": "4242-1",
        "digest": "",
        "since": "2020-01-01T00:00:00Z",
        "expires": "2999-01-01T00:00:00Z",
    });
    rt().block_on(async {
        let cfg = emu
            .sdk_config_for(&t.account_id, &t.region, "stamp-deploy")
            .await;
        aws_sdk_ssm::Client::new(&cfg)
            .put_parameter()
            .name(&lock)
            .value(held.to_string())
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .send()
            .await
            .expect("PutParameter held lock");
    });
    edit(
        &f,
        "tenants/_defaults.toml",
        "LogRetentionDays = \"30\"",
        "LogRetentionDays = \"60\"",
    );
    let run = stamp_on(
        emu,
        &f,
        &[&["infra", "apply", "umbrella"][..], &go].concat(),
    );
    run.code(1);
    let row = &run.json()["rows"][0];
    assert_eq!(row["result"], "failed", "{row:#}");
    let detail = row["detail"].as_str().unwrap_or_default();
    for needle in [
        "service api",
        "locked by",
        "other-deployer",
        "the stack was not changed",
    ] {
        assert!(detail.contains(needle), "{needle:?} not in {row:#}");
    }
    let params = stack_parameters(emu, &t, "umbrella-app");
    assert_eq!(
        params.get("LogRetentionDays").map(String::as_str),
        Some("30"),
        "the stack kept its parameters: {params:?}"
    );
    let still = rt().block_on(async {
        let cfg = emu
            .sdk_config_for(&t.account_id, &t.region, "stamp-deploy")
            .await;
        emu.parameter(&cfg, &lock).await
    });
    assert!(still.is_some_and(|p| p.value.is_some_and(|v| v.contains("other-deployer"))));
}

/// The parameters of the tenant's app stack, by key.
fn stack_parameters(
    emu: &Emulator,
    t: &crate::support::emulator::SeededTenant,
    stack: &str,
) -> std::collections::BTreeMap<String, String> {
    rt().block_on(async {
        let cfg = emu
            .sdk_config_for(&t.account_id, &t.region, "stamp-deploy")
            .await;
        let out = aws_sdk_cloudformation::Client::new(&cfg)
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .expect("DescribeStacks");
        out.stacks()[0]
            .parameters()
            .iter()
            .filter_map(|p| {
                Some((
                    p.parameter_key()?.to_owned(),
                    p.parameter_value()?.to_owned(),
                ))
            })
            .collect()
    })
}
