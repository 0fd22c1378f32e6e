//! `render` and `explain` against tenant accounts: values read through the read-only role,
//! imports expanded, secrets only ever as ARNs, and every bad reference reported with the
//! tenant file line.

use crate::support::emulator::{Emulator, Fleet, SeedOptions, example_fleet};
use crate::support::{Run, run_command};

fn fleet() -> Fleet {
    let (root, params) = example_fleet();
    Emulator::shared().fresh_fleet_with(
        &root,
        &params,
        &SeedOptions {
            tenants: None,
            services: false,
        },
    )
}

fn stamp(fleet: &Fleet, args: &[&str]) -> Run {
    let mut cmd = Emulator::shared().command(env!("CARGO_BIN_EXE_stamp"));
    cmd.arg("--root").arg(fleet.root()).args(args);
    run_command(cmd)
}

fn edit(fleet: &Fleet, rel: &str, from: &str, to: &str) {
    let path = fleet.root().join(rel);
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains(from), "{rel} lacks {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
}

/// Every secret of the example fleet carries `CANARY` in its value (emulator/example-params.json).
fn assert_no_secret_value(run: &Run) {
    assert!(
        !run.stdout.contains("CANARY"),
        "a secret value reached stdout:\n{}",
        run.stdout
    );
    assert!(
        !run.stderr.contains("CANARY"),
        "a secret value reached stderr:\n{}",
        run.stderr
    );
}

#[test]
fn explain_shows_values_read_from_the_tenant_account() {
    let f = fleet();
    let run = stamp(&f, &["explain", "acme", "-s", "api", "--output", "json"]);
    run.success().no_panic();
    assert_no_secret_value(&run);
    let j = run.json();
    let var = |name: &str| {
        j["variables"]
            .as_array()
            .and_then(|v| v.iter().find(|x| x["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {j}"))
    };
    assert_eq!(var("API_BASE")["value"], "https://api.acme.example");
    assert_eq!(var("API_BASE")["reference"], "ssm:/shop/acme/api_base@1");
    // env_from imports: names from the last path segment; layer 3 for /shop/api/.
    assert_eq!(var("RATE_LIMIT")["value"], "200");
    assert_eq!(var("RATE_LIMIT")["layer"], "defaults-service");
    assert_eq!(var("SESSION_TTL")["value"], "3600");
    assert_eq!(var("OTEL_ENDPOINT")["layer"], "defaults");
    // A SecureString under an imported path becomes a secret by ARN, with no value.
    let jwt = var("JWT_SIGNING_KEY");
    assert_eq!(jwt["secret"], true);
    assert!(jwt["value"].is_null());
    let acct = f.account("acme");
    assert_eq!(
        jwt["value_from"],
        format!("arn:aws:ssm:ap-northeast-1:{acct}:parameter/shop/api/jwt-signing-key")
    );
    assert_eq!(
        var("DATABASE_URL")["reference"],
        "secret:/shop/acme/database_url@1"
    );
}

#[test]
fn a_version_pin_reads_that_version() {
    let f = fleet();
    let j = stamp(
        &f,
        &[
            "explain", "globex", "-s", "api", "API_BASE", "--output", "json",
        ],
    )
    .success()
    .json();
    assert_eq!(j["variables"][0]["value"], "https://api.globex.example/v2");
    edit(&f, "tenants/globex.toml", "version = 2", "version = 1");
    let j = stamp(
        &f,
        &[
            "explain", "globex", "-s", "api", "API_BASE", "--output", "json",
        ],
    )
    .success()
    .json();
    assert_eq!(j["variables"][0]["value"], "https://api.globex.example/v1");
    assert_eq!(
        j["variables"][0]["reference"],
        "ssm:/shop/globex/api_base@1"
    );
}

#[test]
fn live_render_of_the_whole_fleet_has_no_secret_value_anywhere() {
    let f = fleet();
    let out = f.root().join("out");
    let run = stamp(
        &f,
        &[
            "render",
            "--all",
            "--out-dir",
            out.to_str().expect("utf-8 path"),
        ],
    );
    run.success().no_panic();
    assert_no_secret_value(&run);
    let mut files = 0;
    // Tenant folders, next to stamp's record of what it wrote.
    for t in std::fs::read_dir(&out).expect("out dir").flatten() {
        if t.file_name() == ".stamp-render.json" {
            continue;
        }
        for file in std::fs::read_dir(t.path()).expect("tenant dir").flatten() {
            let text = std::fs::read_to_string(file.path()).expect("read");
            assert!(
                !text.contains("CANARY"),
                "{} holds a secret value",
                file.path().display()
            );
            assert!(
                !text.contains("<ssm:"),
                "{} still has a placeholder",
                file.path().display()
            );
            files += 1;
        }
    }
    assert_eq!(files, 8);
}

#[test]
fn every_missing_or_mistyped_parameter_is_reported_with_its_line() {
    let f = fleet();
    // A missing String, a secret that is really a String, an ssm ref that is really a secret.
    edit(
        &f,
        "tenants/acme.toml",
        "API_BASE     = { ssm = \"/shop/acme/api_base\" }",
        "API_BASE     = { ssm = \"/shop/acme/nope\" }",
    );
    edit(
        &f,
        "tenants/acme.toml",
        "NEW_CHECKOUT = \"true\"",
        "NEW_CHECKOUT = { secret = \"/shop/acme/api_base\" }\nPAY = { ssm = \"/shop/acme/payment_key\" }",
    );
    let run = stamp(&f, &["explain", "acme", "-s", "api"]);
    run.code(1).no_panic();
    assert_no_secret_value(&run);
    run.stderr_has(&[
        "tenants/acme.toml:15",
        "`/shop/acme/nope` does not exist",
        "tenants/acme.toml:16",
        "`/shop/acme/api_base` is not a SecureString",
        "tenants/acme.toml:17",
        "`/shop/acme/payment_key` is a SecureString",
    ]);
}

#[test]
fn an_unreachable_endpoint_is_one_clear_line_per_tenant() {
    let f = fleet();
    let mut cmd = Emulator::shared().command(env!("CARGO_BIN_EXE_stamp"));
    // A port nothing listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    cmd.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"));
    cmd.arg("--root")
        .arg(f.root())
        .args(["explain", "acme", "-s", "api"]);
    let run = run_command(cmd);
    run.code(1).no_panic();
    run.stderr_has(&["sts:GetCallerIdentity"]);
    assert!(run.stderr.lines().count() <= 3, "{}", run.stderr);
}

/// With IAM enforced, the read-only role (Describe*, Get*, List* only) is enough to resolve
/// a tenant: explain reads through `inspect_role` and needs no write permission.
#[test]
fn reading_a_tenant_needs_only_the_read_only_role() {
    let emu = Emulator::dedicated();
    let (root, params) = example_fleet();
    let f = emu.fresh_fleet_with(
        &root,
        &params,
        &SeedOptions {
            tenants: Some(vec!["acme".into()]),
            services: false,
        },
    );
    emu.enforce_iam();
    let mut cmd = emu.command(env!("CARGO_BIN_EXE_stamp"));
    cmd.arg("--root")
        .arg(f.root())
        .args(["explain", "acme", "-s", "api", "--output", "json"]);
    let run = run_command(cmd);
    run.success().no_panic();
    let vars = run.json()["variables"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        vars.iter()
            .any(|x| x["name"] == "RATE_LIMIT" && x["value"] == "200"),
        "{vars:?}"
    );
    assert!(
        vars.iter()
            .any(|x| x["name"] == "DATABASE_URL" && x["secret"] == true)
    );
}

#[test]
fn params_lists_every_parameter_with_version_and_users_but_no_value() {
    let f = fleet();
    let run = stamp(&f, &["params", "globex", "--output", "json"]);
    run.success().no_panic();
    assert_no_secret_value(&run);
    let j = run.json();
    let rows = j["tenants"][0]["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let row = |name: &str| {
        rows.iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name}: {rows:?}"))
    };
    let used_by = |pairs: &[(&str, &str)]| -> serde_json::Value {
        pairs
            .iter()
            .map(|(s, v)| serde_json::json!({"service": s, "variable": v}))
            .collect()
    };
    // Each field holds one kind of value (issue 13, item 8): the name without the pin, the
    // version read, the pin, the type as stored, how the files reference it.
    let api_base = row("/shop/globex/api_base");
    assert_eq!(api_base["version"], 2);
    assert_eq!(api_base["pinned_version"], 2);
    assert_eq!(api_base["type"], "String");
    assert_eq!(api_base["reference"], "ssm");
    assert_eq!(api_base["source"], "tenants/globex.toml:15");
    assert_eq!(
        api_base["used_by"],
        used_by(&[("api", "API_BASE"), ("worker", "API_BASE")])
    );
    assert_eq!(row("/shop/globex/database_url")["type"], "SecureString");
    assert_eq!(row("/shop/globex/database_url")["reference"], "secret");
    assert_eq!(
        row("/shop/globex/worker/batch-size")["used_by"],
        used_by(&[("worker", "BATCH_SIZE")])
    );
    let jwt = row("/shop/api/jwt-signing-key");
    assert_eq!(jwt["type"], "SecureString");
    assert_eq!(jwt["reference"], "env_from");
    assert_eq!(jwt["ssm_path"], "/shop/api/");
    assert_eq!(jwt["pinned_version"], serde_json::Value::Null);
    assert!(
        rows.iter().all(|r| r.get("value").is_none()),
        "params must not carry values"
    );
    assert!(
        !run.stdout.contains("https://api.globex.example"),
        "params must not show values"
    );
}

#[test]
fn params_reports_a_missing_parameter_and_exits_1() {
    let f = fleet();
    edit(
        &f,
        "tenants/umbrella.toml",
        "{ ssm = \"/shop/umbrella/api_base\" }",
        "{ ssm = \"/shop/umbrella/gone\" }",
    );
    let run = stamp(&f, &["params", "umbrella", "--output", "json"]);
    run.code(1).no_panic();
    let j = run.json();
    let t = &j["tenants"][0];
    let missing: Vec<_> = t["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["status"] == "missing")
        .collect();
    assert_eq!(missing.len(), 1, "{j}");
    assert_eq!(missing[0]["name"], "/shop/umbrella/gone");
    assert_eq!(missing[0]["type"], serde_json::Value::Null);
    let problem = &t["problems"][0];
    assert_eq!(problem["file"], "tenants/umbrella.toml", "{j}");
    assert_eq!(problem["line"], 13, "{j}");
    assert_eq!(
        problem["tenants"][0]["account_id"],
        f.account("umbrella"),
        "{j}"
    );
}

/// An endpoint that answers GetCallerIdentity with another account (a mis-wired role, a
/// proxy, a copy-pasted account id): stamp refuses that tenant before any other call, naming
/// both accounts, and still serves the others.
#[test]
fn a_tenant_whose_role_lands_in_another_account_is_refused() {
    use std::sync::Arc;

    use crate::support::proxy::Proxy;

    let f = fleet();
    let acme = f.account("acme").to_owned();
    let wrong = "999999999999";
    let rewrite_acme = acme.clone();
    // Only the assumed-role identity of acme is falsified; the base identity stays true.
    let proxy = Proxy::start(
        Emulator::shared().endpoint(),
        Arc::new(move |_req: &str, body: String| {
            if body.contains("GetCallerIdentityResponse")
                && body.contains(&format!("<Account>{rewrite_acme}</Account>"))
            {
                body.replace(
                    &format!("<Account>{rewrite_acme}</Account>"),
                    &format!("<Account>{wrong}</Account>"),
                )
            } else {
                body
            }
        }),
    );
    let out = f.root().join("out");
    let mut cmd = Emulator::shared().command(env!("CARGO_BIN_EXE_stamp"));
    cmd.env("AWS_ENDPOINT_URL", proxy.endpoint());
    cmd.arg("--root").arg(f.root()).args([
        "render",
        "--all",
        "--out-dir",
        out.to_str().expect("utf-8"),
    ]);
    let run = run_command(cmd);
    run.code(1).no_panic().stderr_has(&[
        &format!("affects tenant acme (account {acme})"),
        &format!("account {wrong}"),
        &format!("account_id is {acme}"),
        "refusing",
    ]);
    // The other tenants were rendered; acme was not.
    assert!(out.join("globex/api.json").is_file());
    assert!(!out.join("acme").exists());
}
