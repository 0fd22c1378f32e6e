//! `[infra.STACK]` tables offline: layering and provenance (`explain --stack`), and each
//! mistake in the new keys reported at its line with a hint by `validate`.

use crate::support::{Fixture, Run, without_infra};

const DEFAULTS: &str = "tenants/_defaults.toml";
const ACME: &str = "tenants/acme.toml";

/// The example fleet with a `net` stack: defaults give the template, tags and one parameter;
/// acme overrides one and adds its own.
fn fleet() -> Fixture {
    let f = Fixture::example();
    // Without the example fleet's own `[infra.app]`: these tests are about the `net` stack.
    for t in ["_defaults", "acme", "globex", "initech", "umbrella"] {
        let rel = format!("tenants/{t}.toml");
        let text = without_infra(&f.read(&rel));
        f.write(&rel, &text);
    }
    f.write(
        "templates/net.cfn.yaml",
        "Parameters:\n  Tenant:\n    Type: String\n  Days:\n    Type: Number\n    Default: 7\n  DbPassword:\n    Type: String\n    NoEcho: true\n    Default: ''\nResources:\n  G:\n    Type: AWS::Logs::LogGroup\n    Properties:\n      LogGroupName: !Sub '/ecs/${Tenant}'\n      RetentionInDays: !Ref Days\n",
    );
    f.append(
        DEFAULTS,
        "[infra.net]\ntemplate = \"net.cfn.yaml\"\nstack_name = \"{project}-{tenant}-{stack}\"\ntags = { team = \"platform\" }\ncapabilities = [\"CAPABILITY_IAM\"]\n[infra.net.parameters]\nDays = \"14\"\nTenant = \"someone\"\n",
    );
    f.append(
        ACME,
        "[infra.net.parameters]\nTenant = \"acme\"\nDbPassword = { secret = \"/shop/acme/db_password\" }\n",
    );
    f
}

#[track_caller]
fn problem(run: &Run, at: &str, message: &str, hint: &str) {
    run.no_panic().code(2);
    let pos = run
        .stderr
        .find(&format!("--> {at}"))
        .unwrap_or_else(|| panic!("no problem at {at}\n{}", run.stderr));
    let start = run.stderr[..pos].rfind("error:").unwrap_or(0);
    let end = run.stderr[pos..]
        .find("\nerror:")
        .map_or(run.stderr.len(), |e| pos + e);
    let block = &run.stderr[start..end];
    assert!(block.contains(message), "{message:?} not in\n{block}");
    assert!(block.contains(hint), "{hint:?} not in\n{block}");
}

#[test]
fn infra_tables_validate_and_explain_shows_each_parameter_source() {
    let f = fleet();
    f.stamp(&["validate"]).success();
    let run = f.stamp(&[
        "explain",
        "acme",
        "--stack",
        "net",
        "--offline",
        "--output",
        "json",
    ]);
    run.success();
    let j = run.json();
    assert_eq!(j["stack_name"], "shop-acme-net", "{j:#}");
    assert_eq!(j["tags"]["team"], "platform");
    assert_eq!(j["capabilities"][0], "CAPABILITY_IAM");
    let params = j["parameters"].as_array().expect("parameters");
    let by = |n: &str| {
        params
            .iter()
            .find(|p| p["name"] == n)
            .unwrap_or_else(|| panic!("no {n}: {j:#}"))
            .clone()
    };
    assert_eq!(by("Days")["value"], "14");
    assert_eq!(by("Days")["layer"], "defaults");
    let tenant = by("Tenant");
    assert_eq!(tenant["value"], "acme");
    assert_eq!(tenant["layer"], "tenant");
    assert!(
        tenant["source"]
            .as_str()
            .is_some_and(|s| s.starts_with("tenants/acme.toml:")),
        "{tenant}"
    );
    assert_eq!(
        tenant["overrides"].as_array().map(Vec::len),
        Some(1),
        "{tenant}"
    );
    // A secret is a dynamic reference that CloudFormation resolves; offline, without a version.
    assert_eq!(
        by("DbPassword")["value"],
        "{{resolve:ssm-secure:/shop/acme/db_password}}"
    );
    // The text view names the stack and the layers.
    f.stamp(&["explain", "acme", "--stack", "net", "--offline"])
        .success()
        .stdout_has(&[
            "shop-acme-net",
            "tenant [infra.net.parameters]",
            "_defaults.toml [infra.net.parameters]",
        ]);
    // An unknown stack is a usage error with a suggestion.
    f.stamp(&["explain", "acme", "--stack", "nett", "--offline"])
        .code(2)
        .stderr_has(&["did you mean `net`?"]);
}

#[test]
fn a_parameter_the_template_does_not_declare_is_reported_where_it_is_given() {
    let f = fleet();
    f.replace(ACME, "Tenant = \"acme\"", "Tenannt = \"acme\"");
    let run = f.stamp(&["validate"]);
    let line = f
        .read(ACME)
        .lines()
        .position(|l| l.starts_with("Tenannt"))
        .expect("line")
        + 1;
    problem(
        &run,
        &format!("{ACME}:{line}:1"),
        "parameter `Tenannt` is not declared by templates/net.cfn.yaml",
        "did you mean `Tenant`?",
    );
}

#[test]
fn a_required_parameter_nobody_gives_is_reported_at_the_stack_table() {
    let f = fleet();
    f.replace(DEFAULTS, "Tenant = \"someone\"\n", "");
    f.replace(ACME, "Tenant = \"acme\"\n", "");
    let run = f.stamp(&["validate"]);
    let line = f
        .read(ACME)
        .lines()
        .position(|l| l == "[infra.net.parameters]")
        .expect("line")
        + 1;
    problem(
        &run,
        &format!("{ACME}:{line}:"),
        "stack `net` does not give parameter `Tenant`",
        "add `Tenant = \"...\"` under [infra.net.parameters]",
    );
}

#[test]
fn mistakes_in_the_infra_keys_are_reported_with_hints() {
    for (from, to, message, hint) in [
        (
            "template = \"net.cfn.yaml\"",
            "templte = \"net.cfn.yaml\"",
            "unknown key `templte` in [infra.net]",
            "did you mean `template`?",
        ),
        (
            "template = \"net.cfn.yaml\"",
            "template = \"net.cfn.yml\"",
            "template `net.cfn.yml` not found",
            "did you mean `net.cfn.yaml`?",
        ),
        (
            "template = \"net.cfn.yaml\"",
            "template = \"net.txt\"",
            "not a CloudFormation template file name",
            "YAML or JSON",
        ),
        (
            "\"CAPABILITY_IAM\"",
            "\"CAPABILITY_IAMM\"",
            "not a CloudFormation capability",
            "did you mean `CAPABILITY_IAM`?",
        ),
        (
            "{project}-{tenant}-{stack}",
            "{tenant}-{stak}",
            "unknown placeholder `{stak}`",
            "did you mean `{stack}`?",
        ),
        (
            "{project}-{tenant}-{stack}",
            "1-{tenant}",
            "not valid for CloudFormation",
            "starting with a letter",
        ),
        (
            "Days = \"14\"",
            "Days = 14",
            "environment values are strings",
            "quote it: `Days = \"14\"`",
        ),
        (
            "Days = \"14\"",
            "log-days = \"14\"",
            "not a CloudFormation parameter name",
            "`logdays`",
        ),
        (
            "Days = \"14\"",
            "Days = { ssm = \"rel\" }",
            "not a valid SSM parameter name",
            "full path",
        ),
        (
            "tags = { team = \"platform\" }",
            "tags = { team = 1 }",
            "`team` must be a string",
            "quote it",
        ),
    ] {
        let f = fleet();
        f.replace(DEFAULTS, from, to);
        let line = f
            .read(DEFAULTS)
            .lines()
            .position(|l| l.contains(to))
            .expect("line")
            + 1;
        let run = f.stamp(&["validate"]);
        problem(&run, &format!("{DEFAULTS}:{line}:"), message, hint);
    }
}
