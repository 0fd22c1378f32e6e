//! Secrets Manager references in `env` (issue 14 item 2) against the emulator: the task
//! definition ECS receives carries `valueFrom` = ARN[:key:stage:id] for both forms, a missing
//! secret stops the run before any write, `explain`/`params` show the reference and never the
//! value, and a rotation leaves the plan digest alone. The secret values are canaries that
//! must appear in no output.

use std::process::{Command, Stdio};

use aws_config::SdkConfig;

use crate::support::emulator::{Emulator, Fleet, example_fleet, unique_account};
use crate::support::{Run, rt, run_command};

fn emu() -> &'static Emulator {
    Emulator::shared()
}

fn stamp(f: &Fleet, args: &[&str]) -> Run {
    let mut cmd: Command = emu().command(env!("CARGO_BIN_EXE_stamp"));
    cmd.arg("--root")
        .arg(f.root())
        .args(args)
        .stdin(Stdio::null());
    let run = run_command(cmd);
    run.no_panic();
    run
}

const DEPLOY: [&str; 7] = [
    "deploy",
    "umbrella",
    "--yes",
    "--allow-dirty",
    "--poll-interval",
    "20ms",
    "--release",
];

async fn cfg(f: &Fleet) -> SdkConfig {
    let t = f.tenant("umbrella");
    emu()
        .sdk_config_for(&t.account_id, &t.region, "stamp-deploy")
        .await
}

/// Creates a secret in umbrella's account; returns its ARN (with the random suffix).
fn create_secret(f: &Fleet, name: &str, value: &str) -> String {
    rt().block_on(async {
        aws_sdk_secretsmanager::Client::new(&cfg(f).await)
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .expect("CreateSecret")
            .arn
            .expect("an ARN")
    })
}

/// Adds lines to umbrella's `[env]`, under its existing entries.
fn add_env(f: &Fleet, lines: &str) {
    let path = f.root().join("tenants/umbrella.toml");
    let text = std::fs::read_to_string(&path).expect("read umbrella");
    let anchor = "API_BASE     = { ssm = \"/shop/umbrella/api_base\" }";
    assert!(text.contains(anchor), "umbrella.toml changed: {text}");
    std::fs::write(
        &path,
        text.replacen(anchor, &format!("{anchor}\n{lines}"), 1),
    )
    .expect("write umbrella");
}

/// Name → valueFrom of the `app` container of umbrella's api as it runs now, and the revision.
fn running_secrets(f: &Fleet) -> (std::collections::BTreeMap<String, String>, String) {
    let t = f.tenant("umbrella").clone();
    rt().block_on(async {
        let ecs = aws_sdk_ecs::Client::new(&cfg(f).await);
        let svc = ecs
            .describe_services()
            .cluster(&t.cluster)
            .services(&t.services["api"].ecs_service)
            .send()
            .await
            .expect("DescribeServices");
        let arn = svc.services()[0]
            .task_definition()
            .expect("a task definition")
            .to_owned();
        let td = ecs
            .describe_task_definition()
            .task_definition(&arn)
            .send()
            .await
            .expect("DescribeTaskDefinition")
            .task_definition
            .expect("task definition");
        let app = td
            .container_definitions()
            .iter()
            .find(|c| c.name() == Some("app"))
            .expect("an app container")
            .clone();
        let secrets = app
            .secrets()
            .iter()
            .map(|s| (s.name().to_owned(), s.value_from().to_owned()))
            .collect();
        (secrets, arn)
    })
}

fn assert_no_canary(canaries: &[&str], runs: &[&Run]) {
    for r in runs {
        for c in canaries {
            assert!(
                !r.stdout.contains(c) && !r.stderr.contains(c),
                "a secret value was printed\n--- stdout\n{}\n--- stderr\n{}",
                r.stdout,
                r.stderr
            );
        }
    }
}

#[test]
fn both_forms_reach_the_task_definition_as_value_from_and_no_output_shows_a_value() {
    let (root, params) = example_fleet();
    let f = emu().fresh_fleet(&root, &params);
    let run_id = unique_account();
    let password = format!("CANARYPW{run_id}");
    let token = format!("CANARYTOKEN{run_id}");
    let db_arn = create_secret(
        &f,
        "shop/umbrella/db",
        &format!(r#"{{"username":"app","password":"{password}"}}"#),
    );
    let token_arn = create_secret(&f, "shop/umbrella/token", &token);
    add_env(
        &f,
        &format!(
            "DB_PASSWORD  = {{ secretsmanager = \"shop/umbrella/db\", key = \"password\" }}\n\
             DB_USER_PREV = {{ secretsmanager = \"shop/umbrella/db\", key = \"username\", version_stage = \"AWSPREVIOUS\" }}\n\
             API_TOKEN    = {{ secret = \"{token_arn}\" }}"
        ),
    );

    let deploy = stamp(&f, &[&DEPLOY[..], &["v1.43.0"]].concat());
    deploy.success();
    let (secrets, _) = running_secrets(&f);
    assert_eq!(secrets["DB_PASSWORD"], format!("{db_arn}:password::"));
    assert_eq!(
        secrets["DB_USER_PREV"],
        format!("{db_arn}:username:AWSPREVIOUS:")
    );
    assert_eq!(secrets["API_TOKEN"], token_arn);

    let explain = stamp(
        &f,
        &["explain", "umbrella", "-s", "api", "--output", "json"],
    );
    explain.success();
    let doc = explain.json();
    let var = |name: &str| {
        doc["variables"]
            .as_array()
            .expect("variables")
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {doc}"))
            .clone()
    };
    let pw = var("DB_PASSWORD");
    assert_eq!(pw["kind"], "secretsmanager");
    assert_eq!(pw["value"], serde_json::Value::Null);
    assert_eq!(pw["value_from"], format!("{db_arn}:password::"));
    assert_eq!(pw["reference"], "secretsmanager:shop/umbrella/db#password");
    assert_eq!(pw["layer"], "tenant");

    let params = stamp(&f, &["params", "umbrella", "--output", "json"]);
    params.success();
    let pdoc = params.json();
    let rows = pdoc["tenants"][0]["parameters"]
        .as_array()
        .expect("rows")
        .clone();
    let db = rows
        .iter()
        .find(|r| r["name"] == "shop/umbrella/db")
        .unwrap_or_else(|| panic!("the secret is listed: {pdoc}"));
    assert_eq!(db["type"], "secretsmanager");
    assert_eq!(db["reference"], "secretsmanager");
    assert_eq!(db["status"], "ok");
    let used: Vec<&str> = db["used_by"]
        .as_array()
        .expect("used_by")
        .iter()
        .filter_map(|u| u["variable"].as_str())
        .collect();
    assert!(used.contains(&"DB_PASSWORD"), "{db}");

    let text = [
        stamp(&f, &["explain", "umbrella", "-s", "api"]),
        stamp(&f, &["params", "umbrella"]),
        stamp(&f, &["render", "umbrella"]),
        stamp(&f, &["plan", "umbrella", "-vv"]),
    ];
    for r in &text {
        r.success();
    }
    assert!(
        text[0].stdout.contains("secretsmanager"),
        "{}",
        text[0].stdout
    );
    let all: Vec<&Run> = [&deploy, &explain, &params]
        .into_iter()
        .chain(&text)
        .collect();
    assert_no_canary(&[&password, &token], &all);
}

#[test]
fn a_rotation_changes_no_digest_and_a_new_key_does() {
    let (root, params) = example_fleet();
    let f = emu().fresh_fleet(&root, &params);
    create_secret(&f, "shop/umbrella/db", r#"{"password":"one"}"#);
    add_env(
        &f,
        "DB_PASSWORD = { secretsmanager = \"shop/umbrella/db\", key = \"password\" }",
    );
    let digest = || {
        let run = stamp(&f, &["plan", "umbrella", "--output", "json"]);
        run.success();
        run.json()["digest"]
            .as_str()
            .unwrap_or_else(|| panic!("a digest: {}", run.stdout))
            .to_owned()
    };
    let before = digest();
    rt().block_on(async {
        aws_sdk_secretsmanager::Client::new(&cfg(&f).await)
            .put_secret_value()
            .secret_id("shop/umbrella/db")
            .secret_string(r#"{"password":"two"}"#)
            .send()
            .await
            .expect("PutSecretValue");
    });
    assert_eq!(digest(), before, "ECS reads the secret at task start");
    let path = f.root().join("tenants/umbrella.toml");
    let text = std::fs::read_to_string(&path).expect("read umbrella");
    std::fs::write(
        &path,
        text.replace(
            "key = \"password\"",
            "key = \"password\", version_stage = \"AWSPREVIOUS\"",
        ),
    )
    .expect("write umbrella");
    assert_ne!(
        digest(),
        before,
        "the reference is part of the task definition"
    );
}

#[test]
fn a_missing_secret_is_refused_before_any_write_naming_the_account() {
    let (root, params) = example_fleet();
    let f = emu().fresh_fleet(&root, &params);
    add_env(
        &f,
        "DB_PASSWORD = { secretsmanager = \"shop/umbrella/gone\", key = \"password\" }",
    );
    let (_, running) = running_secrets(&f);
    let run = stamp(&f, &[&DEPLOY[..], &["v1.43.0"]].concat());
    assert_ne!(run.code, 0, "{}", run.stderr);
    let both = format!("{}\n{}", run.stdout, run.stderr);
    for want in [
        "Secrets Manager secret `shop/umbrella/gone` does not exist in the tenant's account",
        "tenants/umbrella.toml:14",
    ] {
        assert!(both.contains(want), "no {want:?} in\n{both}");
    }
    // `plan` reports it as a problem of the account, as a missing SSM parameter is.
    let plan = stamp(&f, &["plan", "umbrella"]);
    assert_eq!(plan.code, 1, "{}", plan.stderr);
    plan.stderr_has(&[
        "Secrets Manager secret `shop/umbrella/gone` does not exist in the tenant's account",
        &f.tenant("umbrella").account_id,
        "create it in the tenant's account, or correct the name",
    ]);
    let (_, after) = running_secrets(&f);
    assert_eq!(after, running, "nothing was registered or updated");
    let t = f.tenant("umbrella").clone();
    let revisions = rt().block_on(async {
        emu()
            .task_definition_revisions(&cfg(&f).await, "shop-api")
            .await
    });
    assert_eq!(revisions, vec![1], "{t:?}");
}

/// DescribeSecret is all stamp may call: the read-only role has no GetSecretValue.
#[test]
fn stamp_never_calls_get_secret_value() {
    let src = crate::support::emulator::repo_root().join("src");
    let mut stack = vec![src];
    let mut read = 0;
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read src").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).expect("read source");
                read += 1;
                assert!(
                    !text.contains("get_secret_value") && !text.contains("batch_get_secret_value"),
                    "{} reads secret values",
                    p.display()
                );
            }
        }
    }
    assert!(read > 20, "walked {read} source files");
}

/// Offline, a name has no random suffix yet: `valueFrom` is the partial ARN (ECS accepts it in
/// the task's region); a stack parameter becomes CloudFormation's dynamic reference.
#[test]
fn offline_a_name_renders_as_a_partial_arn_and_a_stack_parameter_as_a_dynamic_reference() {
    let f = crate::support::Fixture::example();
    f.replace(
        "tenants/umbrella.toml",
        "API_BASE     = { ssm = \"/shop/umbrella/api_base\" }",
        "API_BASE     = { ssm = \"/shop/umbrella/api_base\" }\n\
         DB_PASSWORD  = { secretsmanager = \"shop/umbrella/db\", key = \"password\" }",
    );
    f.replace(
        "tenants/umbrella.toml",
        "Tenant = \"umbrella\"",
        "Tenant = { secretsmanager = \"shop/umbrella/db\", key = \"password\", version_stage = \"AWSPREVIOUS\" }",
    );
    let run = f.stamp(&[
        "explain",
        "umbrella",
        "-s",
        "api",
        "DB_PASSWORD",
        "--offline",
        "--output",
        "json",
    ]);
    run.no_panic().success();
    assert!(
        run.stdout.contains(
            "\"arn:aws:secretsmanager:eu-west-1:444444444444:secret:shop/umbrella/db:password::\""
        ),
        "{}",
        run.stdout
    );
    let run = f.stamp(&[
        "explain",
        "umbrella",
        "--stack",
        "app",
        "--offline",
        "--output",
        "json",
    ]);
    run.no_panic().success();
    assert!(
        run.stdout.contains(
            "{{resolve:secretsmanager:shop/umbrella/db:SecretString:password:AWSPREVIOUS}}"
        ),
        "{}",
        run.stdout
    );
}
