//! Onboarding a customer (issue 16): `tenant new` writes a file that validates and refuses a
//! taken name or account; `bootstrap template` grants exactly the code's list of actions,
//! scoped to the tenant; `bootstrap --apply` creates the roles with the caller's credentials;
//! `check` says what an account lacks; and, under the emulator's IAM enforcement, every
//! command works with exactly the generated lists while removing any one action breaks one.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::emulator::{Emulator, Fleet, SeedOptions, example_fleet, unique_account};
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
    let run = offline(
        &f,
        &[
            "tenant", "new", "hooli", "--account", "555555555555", "--region", "eu-west-1",
            "--ring", "canary", "--timezone", "Europe/Berlin",
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
    assert!(text.starts_with("# hooli: written by `stamp tenant new`"), "{text}");
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
    offline(&f, &["tenant", "new", "Hooli Inc", "--account", "555555555555"]).code(2);
    offline(&f, &["tenant", "new", "hooli", "--account", "555555555555", "--ring", "beta"])
        .code(2)
        .stderr_has(&["--ring `beta` is not one of the project's rings"]);
    // A value the fleet rejects leaves no file behind.
    offline(&f, &["tenant", "new", "hooli", "--account", "555555555555", "--timezone", "Mars/Olympus"])
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
        .find(|s| s["Action"].as_array().is_some_and(|a| a.iter().any(|x| x == action)))
        .unwrap_or_else(|| panic!("no statement allows {action}"));
    s["Resource"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|r| r["Fn::Sub"].as_str().or(r.as_str()).unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn bootstrap_template_grants_each_role_exactly_its_list_scoped_to_the_tenant() {
    let f = Fixture::example();
    let run = offline(
        &f,
        &[
            "bootstrap", "template", "globex", "--trust", "arn:aws:iam::123456789012:role/stamp-ci",
            "--external-id", "globex-ext",
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
        assert_eq!(trust["Principal"]["AWS"][0], "arn:aws:iam::123456789012:role/stamp-ci");
        assert_eq!(trust["Condition"]["StringEquals"]["sts:ExternalId"], "globex-ext");
    }
    let (si, sd) = (statements(&doc, "InspectRole"), statements(&doc, "DeployRole"));
    let want = |r| actions::names(r).into_iter().map(str::to_owned).collect::<BTreeSet<_>>();
    assert_eq!(actions_of(&si), want(RoleKind::Inspect));
    assert_eq!(actions_of(&sd), want(RoleKind::Deploy));
    assert!(!actions_of(&si).iter().any(|a| a.contains("Put") || a.contains("Delete")));

    let at = "222222222222";
    let arn = |svc: &str, rest: &str| format!("arn:${{AWS::Partition}}:{svc}:us-east-1:{at}:{rest}");
    assert_eq!(resources_of(&sd, "ssm:PutParameter"), [arn("ssm", "parameter/stamp/locks/globex-shop/*")]);
    assert_eq!(resources_of(&sd, "ecs:UpdateService"), [arn("ecs", "service/globex-shop/*")]);
    assert_eq!(resources_of(&si, "ecs:DescribeClusters"), [arn("ecs", "cluster/globex-shop")]);
    // The families the example templates render for globex: shop-globex-api and -worker.
    let tagged = resources_of(&sd, "ecs:TagResource");
    assert!(tagged.contains(&arn("ecs", "service/globex-shop/*")), "{tagged:?}");
    assert!(tagged.iter().any(|r| r.contains(":task-definition/") && r.ends_with("api:*")), "{tagged:?}");
    assert_eq!(tagged.len(), 3, "{tagged:?}");
    assert_eq!(
        resources_of(&sd, "cloudformation:ExecuteChangeSet"),
        [arn("cloudformation", "stack/globex-app/*")]
    );
    assert_eq!(resources_of(&si, "sts:GetCallerIdentity"), ["*"]);

    // Without --trust the roles trust the tenant's own account.
    let run = offline(&f, &["bootstrap", "template", "acme"]);
    let doc: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(
        doc["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
            ["Principal"]["AWS"][0]["Fn::Sub"],
        "arn:${AWS::Partition}:iam::111111111111:root"
    );
}
