//! `stamp infra plan|apply` against the emulator: a stack created from nothing, a parameter
//! change previewed then applied, a no-op, a secret passed as a dynamic reference (its value
//! nowhere in stamp's output).

use std::process::Stdio;

use serde_json::Value;

use crate::support::emulator::{Emulator, Fleet, example_fleet};
use crate::support::{Run, run_command};

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
    let mut cmd = emu.command(env!("CARGO_BIN_EXE_stamp"));
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

fn apply(emu: &Emulator, f: &Fleet) -> Value {
    let run = stamp_on(
        emu,
        f,
        &[
            "infra",
            "apply",
            "acme",
            "--yes",
            "--ignore-window",
            "--reason",
            "infra test",
            "--output",
            "json",
        ],
    );
    run.success();
    let j = run.json();
    j["rows"][0].clone()
}

fn fleet(emu: &Emulator) -> Fleet {
    let (root, params) = example_fleet();
    let f = emu.fresh_fleet(&root, &params);
    std::fs::write(f.root().join("templates/logs.cfn.yaml"), TEMPLATE).expect("template");
    let append = |rel: &str, more: &str| {
        let p = f.root().join(rel);
        let text = std::fs::read_to_string(&p).expect("read");
        std::fs::write(&p, format!("{text}\n{more}")).expect("write");
    };
    append(
        "tenants/_defaults.toml",
        "[infra.logs]\ntemplate = \"logs.cfn.yaml\"\ntags = { team = \"platform\" }\n",
    );
    append(
        "tenants/acme.toml",
        "[infra.logs.parameters]\nPrefix = \"acme\"\nDbPassword = { secret = \"/shop/acme/database_url\" }\n",
    );
    // Other tenants give the required parameter too, so the fleet validates.
    for t in ["globex", "initech", "umbrella"] {
        append(
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

    // `cfn_output = "logs.LogGroup"` names the real stack acme-logs (the mapping is unit-level
    // here): moto does not refresh a stack's outputs after a change set, so reading them back
    // is left to AWS (docs/cloudformation.md).
}
