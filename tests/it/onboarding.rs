//! Onboarding a customer (issue 16): `tenant new` writes a file that validates and refuses a
//! taken name or account; `bootstrap template` grants exactly the code's list of actions,
//! scoped to the tenant; `bootstrap --apply` creates the roles with the caller's credentials;
//! `check` says what an account lacks; and, under the emulator's IAM enforcement, every
//! command works with exactly the generated lists while removing any one action breaks one.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::emulator::{
    Emulator, Fleet, PUSHED_RELEASES, SeedOptions, example_fleet, unique_account,
};
use crate::support::{Fixture, Run, run_command, stamp_command};
use stamp::aws::actions::{self, RoleKind};

fn offline(f: &Fixture, args: &[&str]) -> Run {
    let mut cmd = stamp_command();
    cmd.arg("--root").arg(f.root()).args(args);
    run_command(cmd)
}

#[test]
fn tenant_new_writes_a_commented_file_that_validates_and_prints_the_next_steps() {
    let f = Fixture::example();
    let schema =
        std::fs::read_to_string(crate::support::repo_root().join("schema/tenant.schema.json"))
            .expect("schema");
    f.write("schema/tenant.schema.json", &schema);
    let run = offline(
        &f,
        &[
            "tenant",
            "new",
            "hooli",
            "--account",
            "555555555555",
            "--region",
            "eu-west-1",
            "--ring",
            "canary",
            "--timezone",
            "Europe/Berlin",
        ],
    );
    run.success().stdout_has(&[
        "wrote tenants/hooli.toml",
        "stamp bootstrap template hooli",
        "stamp check hooli",
        "stamp infra apply hooli",
        "stamp deploy hooli",
    ]);
    let text = f.read("tenants/hooli.toml");
    assert!(
        text.starts_with(
            "#:schema ../schema/tenant.schema.json\n# hooli: written by `stamp tenant new`"
        ),
        "{text}"
    );
    for want in [
        "account_id = \"555555555555\"",
        "region     = \"eu-west-1\"",
        "ring       = \"canary\"",
        "timezone = \"Europe/Berlin\"",
    ] {
        assert!(text.contains(want), "{want} in {text}");
    }
    offline(&f, &["validate"]).success();
    offline(&f, &["explain", "hooli", "-s", "api", "--offline"]).success();
}

#[test]
fn tenant_new_refuses_a_name_or_account_in_the_fleet_before_writing() {
    let f = Fixture::example();
    let before = f.read("tenants/acme.toml");
    offline(&f, &["tenant", "new", "acme", "--account", "555555555555"])
        .code(2)
        .stderr_has(&["tenant `acme` already exists", "nothing was written"]);
    assert_eq!(f.read("tenants/acme.toml"), before);
    offline(&f, &["tenant", "new", "hooli", "--account", "111111111111"])
        .code(2)
        .stderr_has(&["account 111111111111 is already tenant `acme`"]);
    assert!(!f.path("tenants/hooli.toml").exists());
    offline(&f, &["tenant", "new", "hooli", "--account", "5555"])
        .code(2)
        .stderr_has(&["not a 12-digit AWS account id"]);
    offline(
        &f,
        &["tenant", "new", "Hooli Inc", "--account", "555555555555"],
    )
    .code(2);
    offline(
        &f,
        &[
            "tenant",
            "new",
            "hooli",
            "--account",
            "555555555555",
            "--ring",
            "beta",
        ],
    )
    .code(2)
    .stderr_has(&["--ring `beta` is not one of the project's rings"]);
    // A value the fleet rejects leaves no file behind.
    offline(
        &f,
        &[
            "tenant",
            "new",
            "hooli",
            "--account",
            "555555555555",
            "--timezone",
            "Mars/Olympus",
        ],
    )
    .code(2)
    .stderr_has(&["was not kept"]);
    assert!(!f.path("tenants/hooli.toml").exists());
}

/// The statements of a role resource in a bootstrap template.
fn statements(doc: &Value, id: &str) -> Vec<Value> {
    doc["Resources"][id]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn actions_of(statements: &[Value]) -> BTreeSet<String> {
    statements
        .iter()
        .flat_map(|s| s["Action"].as_array().cloned().unwrap_or_default())
        .map(|a| a.as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The resources of the statement holding `action`, as written (`Fn::Sub` text or `*`).
fn resources_of(statements: &[Value], action: &str) -> Vec<String> {
    let s = statements
        .iter()
        .find(|s| {
            s["Action"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == action))
        })
        .unwrap_or_else(|| panic!("no statement allows {action}"));
    s["Resource"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|r| {
            r["Fn::Sub"]
                .as_str()
                .or(r.as_str())
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[test]
fn bootstrap_template_grants_each_role_exactly_its_list_scoped_to_the_tenant() {
    let f = Fixture::example();
    let run = offline(
        &f,
        &[
            "bootstrap",
            "template",
            "globex",
            "--trust",
            "arn:aws:iam::123456789012:role/stamp-ci",
            "--external-id",
            "globex-ext",
        ],
    );
    run.success();
    let doc: Value = serde_json::from_str(&run.stdout).expect("template is JSON");
    let inspect = &doc["Resources"]["InspectRole"]["Properties"];
    let deploy = &doc["Resources"]["DeployRole"]["Properties"];
    assert_eq!(inspect["RoleName"], "stamp-readonly");
    assert_eq!(deploy["RoleName"], "stamp-deploy");
    for role in [inspect, deploy] {
        let trust = &role["AssumeRolePolicyDocument"]["Statement"][0];
        assert_eq!(
            trust["Principal"]["AWS"][0],
            "arn:aws:iam::123456789012:role/stamp-ci"
        );
        assert_eq!(
            trust["Condition"]["StringEquals"]["sts:ExternalId"],
            "globex-ext"
        );
    }
    let (si, sd) = (
        statements(&doc, "InspectRole"),
        statements(&doc, "DeployRole"),
    );
    let want = |r| {
        actions::names(r)
            .into_iter()
            .map(str::to_owned)
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(actions_of(&si), want(RoleKind::Inspect));
    assert_eq!(actions_of(&sd), want(RoleKind::Deploy));
    assert!(
        !actions_of(&si)
            .iter()
            .any(|a| a.contains("Put") || a.contains("Delete"))
    );

    let at = "222222222222";
    let arn =
        |svc: &str, rest: &str| format!("arn:${{AWS::Partition}}:{svc}:us-east-1:{at}:{rest}");
    assert_eq!(
        resources_of(&sd, "ssm:PutParameter"),
        [
            arn("ssm", "parameter/stamp/locks/globex-shop/*"),
            arn("ssm", "parameter/stamp/locks/cloudformation/globex-app"),
        ]
    );
    assert_eq!(
        resources_of(&sd, "ecs:UpdateService"),
        [arn("ecs", "service/globex-shop/*")]
    );
    assert_eq!(
        resources_of(&si, "ecs:DescribeClusters"),
        [arn("ecs", "cluster/globex-shop")]
    );
    // The families the example templates render for globex: shop-globex-api and -worker.
    let tagged = resources_of(&sd, "ecs:TagResource");
    assert!(
        tagged.contains(&arn("ecs", "service/globex-shop/*")),
        "{tagged:?}"
    );
    assert!(
        tagged
            .iter()
            .any(|r| r.contains(":task-definition/") && r.ends_with("api:*")),
        "{tagged:?}"
    );
    // RunTask with tags needs ecs:TagResource on the task it creates.
    assert!(
        tagged.contains(&arn("ecs", "task/globex-shop/*")),
        "{tagged:?}"
    );
    assert_eq!(tagged.len(), 4, "{tagged:?}");
    // A one-off task is followed and stopped in the tenant's cluster only.
    for action in ["ecs:DescribeTasks", "ecs:StopTask"] {
        assert_eq!(
            resources_of(&sd, action),
            [arn("ecs", "task/globex-shop/*")],
            "{action}"
        );
    }
    assert_eq!(
        resources_of(&sd, "cloudformation:ExecuteChangeSet"),
        [arn("cloudformation", "stack/globex-app/*")]
    );
    assert_eq!(resources_of(&si, "ecs:DescribeTaskDefinition"), ["*"]);

    // Without --trust the roles trust the tenant's own account.
    let run = offline(&f, &["bootstrap", "template", "acme"]);
    let doc: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(
        doc["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
            ["AWS"][0]["Fn::Sub"],
        "arn:${AWS::Partition}:iam::111111111111:root"
    );
}

/// A stack CloudFormation fails to create (a space is not allowed in an SQS queue name).
const FAILING: &str = r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: "bad name"
"#;

/// One command of the scenario, as the role it runs with.
struct Step {
    name: &'static str,
    role: RoleKind,
}

const STEPS: &[Step] = &[
    Step {
        name: "check",
        role: RoleKind::Inspect,
    },
    Step {
        name: "plan",
        role: RoleKind::Inspect,
    },
    Step {
        name: "status",
        role: RoleKind::Inspect,
    },
    Step {
        name: "history",
        role: RoleKind::Inspect,
    },
    Step {
        name: "verify",
        role: RoleKind::Inspect,
    },
    Step {
        name: "deploy",
        role: RoleKind::Deploy,
    },
    Step {
        name: "infra-plan",
        role: RoleKind::Deploy,
    },
    Step {
        name: "infra-fail",
        role: RoleKind::Deploy,
    },
    Step {
        name: "rollback",
        role: RoleKind::Deploy,
    },
    Step {
        name: "run",
        role: RoleKind::Deploy,
    },
    Step {
        name: "up-down",
        role: RoleKind::Deploy,
    },
];

struct Scenario<'e> {
    emu: &'e Emulator,
    f: Fleet,
    account: String,
    n: std::cell::Cell<u32>,
    deploys: std::cell::Cell<u32>,
}

impl Scenario<'_> {
    fn stamp(&self, root: &std::path::Path, args: &[&str]) -> Run {
        let mut cmd = self.emu.stamp(root);
        cmd.args(args);
        run_command(cmd)
    }

    /// Runs `step` once; every run of a writing step changes something (a new release, a new
    /// stack), so each removal meets the call it removes.
    fn run(&self, step: &str) -> Run {
        let n = self.n.get() + 1;
        self.n.set(n);
        let root = self.f.root();
        let window = ["--ignore-window", "--reason", "least privilege"];
        match step {
            "check" => self.stamp(root, &["check", "globex"]),
            "plan" => self.stamp(root, &["plan", "globex"]),
            "status" => self.stamp(root, &["status", "globex", "--output", "json"]),
            "history" => self.stamp(root, &["history", "globex", "-s", "api"]),
            "verify" => self.stamp(root, &["verify", "globex"]),
            "deploy" => {
                // Releases whose image the seed pushed (the preflight checks it), a new one each
                // deploy so each registers a revision.
                let d = self.deploys.get() + 1;
                self.deploys.set(d);
                let release = PUSHED_RELEASES[d as usize % PUSHED_RELEASES.len()];
                let args = [
                    &[
                        "deploy",
                        "globex",
                        "--yes",
                        "--allow-dirty",
                        "--force-unlock",
                    ][..],
                    &["--poll-interval", "20ms", "--release", release],
                    &window,
                ]
                .concat();
                self.stamp(root, &args)
            }
            "infra-plan" => {
                // A change to preview: the change set is made, read, then deleted.
                let days = format!("LogRetentionDays = \"{}\"", [14, 60][n as usize % 2]);
                let copy = self.copy_with(|t| t.replacen("LogRetentionDays = \"30\"", &days, 1));
                self.stamp(copy.path(), &["infra", "plan", "globex"])
            }
            "infra-fail" => {
                // One more stack, new each run, that fails to create.
                let key = format!("q{n}");
                let copy = self.copy_with(|t| {
                    format!("{t}\n[infra.{key}]\ntemplate = \"failing.cfn.yaml\"\n")
                });
                let args = [
                    &[
                        "infra",
                        "apply",
                        "globex",
                        "--stack",
                        &key,
                        "--yes",
                        "--allow-dirty",
                    ][..],
                    &window,
                ]
                .concat();
                self.stamp(copy.path(), &args)
            }
            "run" => {
                // A one-off task that outlives its timeout: RunTask, DescribeTasks, StopTask.
                let args = [
                    &[
                        "run",
                        "globex",
                        "-s",
                        "api",
                        "--yes",
                        "--allow-dirty",
                        "--force-unlock",
                        "--poll-interval",
                        "20ms",
                        "--timeout",
                        "1s",
                    ][..],
                    &window,
                    &["--", "./migrate", "sleep=3600"],
                ]
                .concat();
                self.stamp(root, &args)
            }
            "rollback" => {
                // Something of stamp's own to go back to: one more deploy first (under a
                // removal it may fail; earlier passes left stamp's revisions behind).
                self.run("deploy");
                self.rollback(root)
            }
            "up-down" => {
                // A copy of its own each run (`--instance`), built and removed again: globex's
                // own file marked ephemeral in a copy of the fleet.
                let copy =
                    self.copy_with(|t| t.replacen("[tenant]\n", "[tenant]\nephemeral = true\n", 1));
                let instance = format!("lp{n}");
                let go = [
                    &["globex", "--instance", &instance, "--yes", "--allow-dirty"][..],
                    &["--poll-interval", "20ms"],
                    &window,
                ]
                .concat();
                let release = ["--release", PUSHED_RELEASES[0]];
                let up = self.stamp(copy.path(), &[&["up"][..], &go, &release].concat());
                if up.code != 0 {
                    return up;
                }
                self.stamp(copy.path(), &[&["down"][..], &go].concat())
            }
            _ => unreachable!("{step}"),
        }
    }

    fn rollback(&self, root: &std::path::Path) -> Run {
        self.stamp(
            root,
            &[
                "rollback",
                "globex",
                "-s",
                "api",
                "--yes",
                "--allow-dirty",
                "--poll-interval",
                "20ms",
                "--force-unlock",
            ],
        )
    }

    /// A copy of the fleet with globex's file edited (and the failing template).
    fn copy_with(&self, edit: impl Fn(String) -> String) -> tempfile::TempDir {
        let copy = tempfile::tempdir().expect("temp dir");
        for sub in ["tenants", "templates"] {
            crate::support::copy_dir(&self.f.root().join(sub), &copy.path().join(sub));
        }
        std::fs::write(copy.path().join("templates/failing.cfn.yaml"), FAILING).expect("template");
        let p = copy.path().join("tenants/globex.toml");
        let text = std::fs::read_to_string(&p).expect("read");
        let edited = edit(text.clone());
        assert_ne!(edited, text, "the edit changed nothing");
        std::fs::write(&p, edited).expect("write");
        copy
    }

    fn grant(&self, role: RoleKind, actions: &[&str]) {
        let name = match role {
            RoleKind::Inspect => "stamp-readonly",
            RoleKind::Deploy => "stamp-deploy",
        };
        self.emu
            .set_role_policy(&self.account, name, actions, "stamp-admin");
    }
}

/// What a step must show when all is allowed: success, except the failing stack, whose
/// failure is reported with CloudFormation's reason (read with DescribeStackEvents).
fn assert_works(step: &str, run: &Run) {
    if step == "infra-fail" || step == "run" {
        // The failing stack fails, the task outlives its timeout (exit 124): neither for want
        // of a permission.
        run.code(if step == "run" { 124 } else { 1 });
        assert!(
            !run.stdout.contains("access denied") && !run.stderr.contains("access denied"),
            "{}",
            run.stderr
        );
    } else {
        run.success();
        assert!(
            !run.stdout.contains("access denied"),
            "{step}: {}",
            run.stdout
        );
    }
}

/// Issue 16 items 2–4 in one account: `check` names what a bootstrapped account lacks; with
/// exactly the generated policies (on `"*"`: moto evaluates actions reliably only so) every
/// command works, read-only ones with the deploy role allowed nothing but GetCallerIdentity;
/// and for every action of both lists, a policy without it makes a command fail with stamp's
/// access-denied message naming it.
#[test]
fn with_exactly_the_generated_policies_every_command_works_and_each_action_is_needed() {
    let emu = Emulator::dedicated();
    let (root, params) = example_fleet();
    let f = emu.fresh_fleet_with(
        &root,
        &params,
        &SeedOptions {
            tenants: Some(vec!["globex".to_owned()]),
            services: false,
        },
    );
    let account = f.account("globex").to_owned();
    emu.create_role(&account, "stamp-admin", &["*"]);
    gate_api_on_an_alarm(&emu, &f, &account);
    emu.enforce_iam();
    let s = Scenario {
        emu: &emu,
        f,
        account,
        n: std::cell::Cell::new(0),
        deploys: std::cell::Cell::new(0),
    };
    let inspect = actions::names(RoleKind::Inspect);
    let deploy = actions::names(RoleKind::Deploy);
    s.grant(RoleKind::Inspect, &inspect);
    s.grant(RoleKind::Deploy, &deploy);

    // An account holding only its roles: check names the cluster and the stack it lacks.
    let run = s.run("check");
    run.code(1).stdout_has(&[
        "globex: cluster globex-shop does not exist",
        "globex: stack globex-app ([infra.app]) does not exist",
    ]);
    let window = [
        "--yes",
        "--allow-dirty",
        "--ignore-window",
        "--reason",
        "least privilege",
    ];
    s.stamp(
        s.f.root(),
        &[&["infra", "apply", "globex"][..], &window].concat(),
    )
    .success();
    s.run("check").success().stdout_has(&["globex: ready"]);

    // Read-only commands with the inspect role alone.
    s.grant(RoleKind::Deploy, &["sts:GetCallerIdentity"]);
    for step in STEPS.iter().filter(|x| x.role == RoleKind::Inspect) {
        assert_works(step.name, &s.run(step.name));
    }
    s.grant(RoleKind::Deploy, &deploy);
    for step in STEPS.iter().filter(|x| x.role == RoleKind::Deploy) {
        assert_works(step.name, &s.run(step.name));
    }

    // Each action, removed alone, breaks a command of its role. Except, named here with why:
    // ecs:UntagResource, which rollback calls only when the service carries an audit tag the
    // revision it returns to lacks; every deploy of this scenario writes the same tag keys.
    // secretsmanager:DescribeSecret, which only a fleet referencing Secrets Manager calls (the
    // example fleet references none; tests/it/secretsmanager.rs covers the call itself).
    // iam:PassRole, which AWS checks when RunTask hands the task definition's roles to ECS;
    // moto does not check it on RunTask.
    const NOT_REACHED: &[&str] = &[
        "ecs:UntagResource",
        "secretsmanager:DescribeSecret",
        "iam:PassRole",
    ];
    let mut unproven = Vec::new();
    for (role, list) in [(RoleKind::Inspect, &inspect), (RoleKind::Deploy, &deploy)] {
        for &action in list.iter().filter(|a| !NOT_REACHED.contains(a)) {
            let without: Vec<&str> = list.iter().copied().filter(|a| *a != action).collect();
            s.grant(role, &without);
            let needle = format!("{action} as ");
            let hit = STEPS.iter().filter(|x| x.role == role).find(|step| {
                let run = s.run(step.name);
                let all = format!("{}{}", run.stdout, run.stderr);
                all.contains(&needle) && all.contains("access denied")
            });
            match hit {
                Some(step) => eprintln!("{role:?} without {action}: `{}` fails", step.name),
                None => unproven.push(format!("{role:?} {action}")),
            }
            s.grant(role, list);
        }
    }
    assert!(
        unproven.is_empty(),
        "no command failed without: {unproven:#?}"
    );
}

/// globex's api gated on an alarm that exists, so that verify and deploy read it
/// (`cloudwatch:DescribeAlarms`, inspect role).
fn gate_api_on_an_alarm(emu: &Emulator, f: &Fleet, account: &str) {
    let path = f.root().join("tenants/globex.toml");
    let text = std::fs::read_to_string(&path).expect("read globex");
    std::fs::write(
        &path,
        format!("{text}\n[services.api]\nalarms = [\"api-5xx\"]\n"),
    )
    .expect("write globex");
    crate::support::rt().block_on(async {
        let cfg = emu
            .sdk_config_for(account, "us-east-1", "stamp-admin")
            .await;
        aws_sdk_cloudwatch::Client::new(&cfg)
            .put_metric_alarm()
            .alarm_name("api-5xx")
            .namespace("AWS/ApplicationELB")
            .metric_name("HTTPCode_Target_5XX_Count")
            .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
            .period(60)
            .evaluation_periods(1)
            .threshold(10.0)
            .comparison_operator(
                aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold,
            )
            .send()
            .await
            .expect("PutMetricAlarm");
    });
}

/// Credentials of an administrator in `account`, as the customer's own admin would hold them.
fn admin_env(emu: &Emulator, account: &str) -> Vec<(String, String)> {
    let sts = aws_sdk_sts::Client::new(&emu.base_config("us-east-1"));
    let out = crate::support::rt()
        .block_on(
            sts.assume_role()
                .role_arn(format!("arn:aws:iam::{account}:role/customer-admin"))
                .role_session_name("customer-admin")
                .send(),
        )
        .expect("assume an admin role in the new account");
    let c = out.credentials.expect("credentials");
    vec![
        ("AWS_ACCESS_KEY_ID".to_owned(), c.access_key_id),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), c.secret_access_key),
        ("AWS_SESSION_TOKEN".to_owned(), c.session_token),
    ]
}

/// The onboarding path of the README: a new tenant, its roles created by `bootstrap --apply`
/// with the customer account's own credentials, then `whoami` and `check` from the base
/// identity. A tenant of another account is refused before anything is written.
#[test]
fn bootstrap_apply_creates_the_roles_with_the_callers_credentials_for_that_account() {
    let emu = Emulator::shared();
    let f = Fixture::example();
    let account = unique_account();
    offline(
        &f,
        &[
            "tenant",
            "new",
            "hooli",
            "--account",
            &account,
            "--region",
            "eu-west-1",
        ],
    )
    .success();
    let admin = admin_env(emu, &account);
    let as_admin = |args: &[&str]| {
        let mut cmd = emu.stamp(f.root());
        cmd.envs(admin.iter().map(|(k, v)| (k, v))).args(args);
        run_command(cmd)
    };
    let trust = "arn:aws:iam::123456789012:root";

    // Another account's tenant in the same run: refused, and hooli's account untouched (the
    // apply below creates the stack: it did not exist).
    as_admin(&["bootstrap", "hooli", "acme", "--apply", "--trust", trust])
        .code(2)
        .stderr_has(&["not in the account of acme (account 111111111111); nothing was written"]);

    as_admin(&["bootstrap", "hooli", "--apply", "--trust", trust])
        .success()
        .stdout_has(&[&format!(
            "hooli (account {account}): stack stamp-bootstrap created"
        )]);
    let mut whoami = emu.stamp(f.root());
    whoami.args(["whoami", "hooli"]);
    run_command(whoami)
        .success()
        .stdout_has(&["2 roles: 2 assumable"]);
    as_admin(&["bootstrap", "hooli", "--apply", "--trust", trust])
        .success()
        .stdout_has(&["stack stamp-bootstrap unchanged"]);

    // Ready but for what `infra apply` builds.
    let mut check = emu.stamp(f.root());
    check.args(["check", "hooli"]);
    let run = run_command(check);
    run.code(1).stdout_has(&[
        "hooli: cluster hooli-shop does not exist",
        "hooli: stack hooli-app ([infra.app]) does not exist",
        "1 tenant checked: 0 ready, 1 with problems",
    ]);
    assert!(
        !run.stdout.contains("inspect "),
        "both roles are fine: {}",
        run.stdout
    );
}
