//! `stamp plan` against tenant accounts: actions and diffs, the call budget of the plan
//! issue, saved plans, and the central promise: the digest does not depend on who runs it.

use std::collections::BTreeMap;
use std::process::Command;

use crate::support::emulator::{Emulator, Fleet, example_fleet};
use crate::support::rt;
use crate::support::{Run, run_command};

fn fleet() -> Fleet {
    let (root, params) = example_fleet();
    Emulator::shared().fresh_fleet(&root, &params)
}

fn stamp(fleet: &Fleet, args: &[&str]) -> Run {
    let mut cmd = Emulator::shared().command(env!("CARGO_BIN_EXE_stamp"));
    cmd.arg("--root").arg(fleet.root()).args(args);
    run_command(cmd)
}

/// `tenant/service -> digest` from a plan's JSON.
fn digests(plan: &serde_json::Value) -> BTreeMap<String, String> {
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

/// One HTTP client serves the whole run: tenants planned one after another reuse the
/// connections the first opened. (Each SDK client used to build its own client, with its own
/// trust store parse and its own connections: five or six per tenant.)
#[test]
fn tenants_planned_one_after_another_reuse_the_first_ones_connections() {
    let emu = Emulator::dedicated();
    let (root, params) = example_fleet();
    let f = emu.fresh_fleet(&root, &params);
    let connections = |tenants: &[&str]| {
        emu.reset_request_counts();
        let mut cmd = emu.command(env!("CARGO_BIN_EXE_stamp"));
        cmd.arg("--root").arg(f.root()).arg("plan").args(tenants);
        cmd.args(["--concurrency", "1", "--output", "json"]);
        run_command(cmd).success();
        emu.connections()
    };
    let one = connections(&["acme"]);
    let four = connections(&["acme", "globex", "initech", "umbrella"]);
    assert!(
        four <= one + 1,
        "four tenants opened {four} connections, one tenant alone {one}: later tenants did not reuse the first one's"
    );
}

#[test]
fn a_freshly_seeded_fleet_plans_an_update_for_every_service_with_its_changes() {
    let f = fleet();
    let run = stamp(&f, &["plan", "--all", "--output", "json"]);
    run.success().no_panic();
    assert!(
        !run.stdout.contains("CANARY") && !run.stderr.contains("CANARY"),
        "a secret value leaked"
    );
    let j = run.json();
    assert_eq!(j["digest"].as_str().map(str::len), Some(64));
    let acme = j["tenants"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["tenant"] == "acme"))
        .cloned()
        .expect("acme");
    let api = acme["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["service"] == "api"))
        .cloned()
        .expect("api");
    assert_eq!(api["action"], "update");
    let fields: Vec<&str> = api["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["field"].as_str())
        .collect();
    for want in [
        "image:app",
        "release",
        "environment:API_BASE",
        "secrets:DATABASE_URL",
    ] {
        assert!(fields.contains(&want), "{want} not in {fields:?}");
    }
    // The seed already runs the DSL's desired count; a new count in the tenant file shows.
    assert!(!fields.contains(&"desired_count"), "{fields:?}");
    let path = f.root().join("tenants/acme.toml");
    let text = std::fs::read_to_string(&path).expect("read").replacen(
        "desired_count = 6",
        "desired_count = 7",
        1,
    );
    std::fs::write(&path, text).expect("write");
    let j2 = stamp(&f, &["plan", "acme", "-s", "api", "--output", "json"])
        .success()
        .json();
    let change = j2["tenants"][0]["services"][0]["changes"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["field"] == "desired_count"))
        .cloned();
    assert_eq!(
        change.map(|c| (c["from"].clone(), c["to"].clone())),
        Some((serde_json::json!("6"), serde_json::json!("7")))
    );
    assert!(
        api["diff"].as_str().is_some_and(|d| d.contains(
            "+      \"image\": \"123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/shop:v1.42.0\""
        )),
        "{}",
        api["diff"]
    );
    assert_eq!(digests(&j).len(), 8);
}

/// The budget of the plan issue, per tenant: 1 AssumeRole + 1 GetCallerIdentity +
/// ⌈p/10⌉ GetParameters + m GetParametersByPath pages + ⌈k/50⌉ DescribeParameters +
/// c DescribeStacks + ⌈s/10⌉ DescribeServices + ⌈s/50⌉ DescribeScalableTargets (of the
/// existing services) + one DescribeTaskDefinition per existing
/// service; plus one GetCallerIdentity for the base identity.
#[test]
fn plan_makes_no_more_calls_than_the_api_minimum() {
    let f = fleet();
    let j = stamp(&f, &["plan", "--all", "--output", "json"])
        .success()
        .json();
    let calls = &j["api_calls"]["operations"];
    let n = |op: &str| calls[op].as_u64().unwrap_or(0);
    // Example fleet: 4 tenants, 2 services each, 1 plain `ssm` reference each, secrets in
    // every tenant (fewer than 50), env_from paths of at most 10 parameters: 2 per tenant
    // plus globex's worker path; no stacks.
    let tenants = 4;
    let budget = [
        ("sts:AssumeRole", tenants),
        ("sts:GetCallerIdentity", tenants + 1),
        ("ssm:GetParameters", tenants),
        ("ssm:GetParametersByPath", 2 * tenants + 1),
        ("ssm:DescribeParameters", tenants),
        ("ecs:DescribeServices", tenants),
        ("application-autoscaling:DescribeScalableTargets", tenants),
        ("ecs:DescribeTaskDefinition", 2 * tenants),
    ];
    for (op, max) in budget {
        assert!(
            n(op) <= max,
            "{op}: {} calls, budget {max}; all calls: {calls}",
            n(op)
        );
        assert!(n(op) > 0, "{op} was never called: {calls}");
    }
    let known: u64 = budget.iter().map(|(op, _)| n(op)).sum();
    assert_eq!(
        known,
        j["api_calls"]["operations"].as_object().map_or(0, |o| o
            .values()
            .filter_map(serde_json::Value::as_u64)
            .sum()),
        "calls outside the budget: {calls}"
    );
    assert_eq!(n("cloudformation:DescribeStacks"), 0);
}

#[test]
fn a_service_running_what_the_repo_says_is_unchanged() {
    let f = fleet();
    let emu = Emulator::shared();
    let acme = f.tenant("acme").clone();
    // Register exactly what stamp renders for acme/api and point the service at it, the way
    // a deploy will: through stamp's own model → SDK conversion.
    let rendered = stamp(&f, &["render", "acme", "-s", "api"])
        .success()
        .stdout
        .clone();
    let td = stamp::render::taskdef::parse(&rendered).expect("rendered JSON parses");
    rt().block_on(async {
        let cfg = emu
            .sdk_config_for(&acme.account_id, &acme.region, "stamp-deploy")
            .await;
        let ecs = aws_sdk_ecs::Client::new(&cfg);
        let out = stamp::aws::convert::fill_register(
            ecs.register_task_definition(),
            &td,
            &[("stamp:commit".into(), "test".into())],
        )
        .expect("convert")
        .send()
        .await
        .expect("RegisterTaskDefinition");
        let arn = out
            .task_definition()
            .and_then(|t| t.task_definition_arn())
            .expect("arn")
            .to_owned();
        ecs.update_service()
            .cluster(&acme.cluster)
            .service("api")
            .task_definition(arn)
            .desired_count(6)
            .send()
            .await
            .expect("UpdateService");
    });
    let j = stamp(&f, &["plan", "acme", "--output", "json"])
        .success()
        .json();
    let svc = |name: &str| {
        j["tenants"][0]["services"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["service"] == name))
            .cloned()
            .expect("service")
    };
    assert_eq!(svc("api")["action"], "unchanged", "{}", svc("api"));
    assert_eq!(svc("api")["diff"], "");
    assert_eq!(svc("worker")["action"], "update");
}

#[test]
fn plan_out_saves_a_plan_that_reads_back_with_every_input_version() {
    let f = fleet();
    let path = f.root().join("plan.json");
    let j = stamp(
        &f,
        &[
            "plan",
            "--all",
            "--out",
            path.to_str().expect("utf-8"),
            "--output",
            "json",
        ],
    )
    .success()
    .json();
    let text = std::fs::read_to_string(&path).expect("plan file");
    assert!(
        !text.contains("CANARY"),
        "a secret value is in the plan file"
    );
    let saved = stamp::plan::SavedPlan::from_json(&text).expect("the saved plan reads back");
    assert_eq!(saved.digest, j["digest"].as_str().unwrap_or_default());
    let globex = saved
        .tenants
        .iter()
        .find(|t| t.tenant == "globex")
        .expect("globex");
    assert_eq!(globex.inputs.ssm.get("/shop/globex/api_base:2"), Some(&2));
    assert_eq!(
        globex.inputs.secrets.get("/shop/globex/database_url"),
        Some(&1)
    );
    assert!(
        globex
            .inputs
            .paths
            .get("/shop/api/")
            .is_some_and(|p| p.get("/shop/api/rate-limit") == Some(&1))
    );
}

/// Two people, two machines: different HOME, USER, TZ, locale, AWS_REGION, base credentials,
/// working directory and clock. The digests must be the same bytes.
#[test]
fn the_digest_does_not_depend_on_who_runs_the_plan() {
    let f = fleet();
    let emu = Emulator::shared();
    let home_a = tempfile::tempdir().expect("home");
    let home_b = tempfile::tempdir().expect("home");
    let run = |cmd: &mut Command,
               home: &std::path::Path,
               user: &str,
               tz: &str,
               lang: &str,
               region: &str,
               key: &str,
               cwd: &std::path::Path| {
        cmd.env("HOME", home)
            .env("USER", user)
            .env("TZ", tz)
            .env("LANG", lang)
            .env("LC_ALL", lang)
            .env("AWS_REGION", region)
            .env("AWS_DEFAULT_REGION", region);
        cmd.env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", format!("secret-of-{key}"));
        cmd.current_dir(cwd)
            .args(["plan", "--all", "--output", "json"]);
    };
    let mut a = emu.command(env!("CARGO_BIN_EXE_stamp"));
    run(
        &mut a,
        home_a.path(),
        "alice",
        "Asia/Tokyo",
        "ja_JP.UTF-8",
        "ap-northeast-1",
        "AKIAALICE0000000001",
        f.root(),
    );
    // Bob runs from a subfolder of the repository, on a machine whose clock is years off.
    let faketime = which("faketime");
    let mut b = match &faketime {
        Some(ft) => {
            let mut c = emu.command(ft);
            c.arg("2020-02-29 23:59:00")
                .arg(env!("CARGO_BIN_EXE_stamp"));
            c
        }
        None => emu.command(env!("CARGO_BIN_EXE_stamp")),
    };
    run(
        &mut b,
        home_b.path(),
        "bob",
        "America/New_York",
        "C",
        "eu-west-1",
        "AKIABOB000000000002",
        &f.root().join("templates"),
    );
    let (ra, rb) = (run_command(a), run_command(b));
    ra.success();
    rb.success();
    let (ja, jb) = (ra.json(), rb.json());
    assert_eq!(digests(&ja), digests(&jb));
    assert_eq!(ja["digest"], jb["digest"]);
    assert_eq!(
        ja["tenants"], jb["tenants"],
        "the whole plan must match, diffs included"
    );
    if faketime.is_none() {
        eprintln!(
            "note: faketime is not installed; the clock was not varied (.ci/run installs it)"
        );
    }
}

#[test]
fn changing_one_parameter_changes_exactly_the_digests_that_use_it() {
    let f = fleet();
    let emu = Emulator::shared();
    let before = digests(
        &stamp(&f, &["plan", "--all", "--output", "json"])
            .success()
            .json(),
    );
    let acme = f.tenant("acme").clone();
    rt().block_on(async {
        let cfg = emu
            .sdk_config_for(&acme.account_id, &acme.region, "stamp-deploy")
            .await;
        aws_sdk_ssm::Client::new(&cfg)
            .put_parameter()
            .name("/shop/api/rate-limit")
            .value("500")
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .expect("PutParameter");
    });
    let after = digests(
        &stamp(&f, &["plan", "--all", "--output", "json"])
            .success()
            .json(),
    );
    let changed: Vec<&String> = before
        .keys()
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    // /shop/api/ is imported by the api service only, and only acme's account changed.
    assert_eq!(changed, vec!["acme/api"]);
}

fn which(bin: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(bin))
            .find(|p| p.is_file())
    })
}
