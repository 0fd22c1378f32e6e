//! Issue 13: errors and reports that tell the truth, once, at the right place. One test per
//! item, named after what was wrong; the corpus (`tests/corpus/`) holds a case per item too.

use crate::support::emulator::{Emulator, Fleet, example_fleet};
use crate::support::{Fixture, Run, genfleet, on_a_terminal, run_command, stamp_command};

fn seeded() -> Fleet {
    let (root, params) = example_fleet();
    Emulator::shared().fresh_fleet(&root, &params)
}

fn edit(root: &std::path::Path, rel: &str, from: &str, to: &str) {
    let path = root.join(rel);
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains(from), "{rel} lacks {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
}

fn stamp(f: &Fleet, args: &[&str]) -> Run {
    let mut cmd = Emulator::shared().command(env!("CARGO_BIN_EXE_stamp"));
    cmd.arg("--root").arg(f.root()).args(args);
    run_command(cmd)
}

/// stdout and stderr in one stream, in the order a terminal shows them.
fn merged(f: &Fleet, args: &[&str]) -> Run {
    let mut cmd = Emulator::shared().command("sh");
    cmd.args(["-c", "exec \"$0\" \"$@\" 2>&1", env!("CARGO_BIN_EXE_stamp")])
        .arg("--root")
        .arg(f.root())
        .args(args);
    run_command(cmd)
}

#[test]
fn item_1_a_missing_parameter_names_the_account_it_is_missing_from() {
    let f = seeded();
    edit(
        f.root(),
        "tenants/acme.toml",
        "{ ssm = \"/shop/acme/api_base\" }",
        "{ ssm = \"/shop/acme/api_bse\" }",
    );
    let account = format!("affects tenant acme (account {})", f.account("acme"));
    for args in [
        &["explain", "acme", "-s", "api"][..],
        &["plan", "acme"],
        &["params", "acme"],
    ] {
        let run = stamp(&f, args);
        run.code(1)
            .no_panic()
            .stderr_has(&[
                "SSM parameter `/shop/acme/api_bse` does not exist in the tenant's account",
                &account,
            ])
            .stderr_lacks(&["account the tenant's"]);
    }
}

#[test]
fn item_2_plan_says_each_problem_once_before_the_summary_and_in_its_json() {
    let f = seeded();
    edit(
        f.root(),
        "tenants/acme.toml",
        "{ ssm = \"/shop/acme/api_base\" }",
        "{ ssm = \"/shop/acme/api_bse\" }",
    );
    let run = merged(&f, &["plan", "acme"]);
    run.code(1).no_panic();
    let out = &run.stdout;
    let detail = out
        .find("SSM parameter `/shop/acme/api_bse` does not exist")
        .unwrap_or_else(|| panic!("no detail:\n{out}"));
    let summary = out
        .find("not planned: 1 reference the tenant's account does not satisfy")
        .unwrap_or_else(|| panic!("no summary:\n{out}"));
    assert!(detail < summary, "the details come first:\n{out}");
    assert_eq!(out.matches("does not exist").count(), 1, "once:\n{out}");
    for wrong in ["see above", "service(s)", "tenant(s)", "plan digest e3b0"] {
        assert!(!out.contains(wrong), "says {wrong:?}:\n{out}");
    }
    assert!(out.contains("0 services; 1 tenant not planned"), "{out}");

    let j = stamp(&f, &["plan", "acme", "--output", "json"]).json();
    assert_eq!(j["digest"], serde_json::Value::Null, "{j:#}");
    let acme = &j["tenants"][0];
    assert_eq!(
        acme["error"],
        "1 reference the tenant's account does not satisfy"
    );
    let p = &acme["problems"][0];
    assert_eq!(p["file"], "tenants/acme.toml", "{j:#}");
    assert_eq!(p["line"], 15, "{j:#}");
    assert!(
        p["message"]
            .as_str()
            .is_some_and(|m| m.contains("/shop/acme/api_bse")),
        "{j:#}"
    );
    assert_eq!(
        p["hint"],
        "create it in the tenant's account, or correct the name"
    );
    assert_eq!(p["tenants"][0]["account_id"], f.account("acme"), "{j:#}");
}

#[test]
fn item_3_no_credentials_offers_offline_only_to_commands_that_have_it() {
    let f = Fixture::example();
    for (args, offline) in [
        (&["plan", "acme"][..], false),
        (&["status", "--all"], false),
        (&["params", "acme"], false),
        (&["render", "acme", "-s", "api"], true),
        (&["explain", "acme", "-s", "api"], true),
    ] {
        let run = f.stamp(args);
        run.code(1)
            .no_panic()
            .stderr_has(&["cannot identify the base credentials", "= hint: configure"]);
        assert_eq!(
            run.stderr.contains("--offline"),
            offline,
            "{args:?}:\n{}",
            run.stderr
        );
    }
}

#[test]
fn item_5_a_template_mistake_in_a_thousand_tenants_is_one_error_naming_the_count() {
    let g = genfleet::generate(1000, 1);
    let template = g.root().join("templates/app.json.j2");
    let text = std::fs::read_to_string(&template).expect("read template");
    assert!(text.contains("service.vars.port"), "{text}");
    std::fs::write(
        &template,
        text.replace("service.vars.port", "service.vars.prot"),
    )
    .expect("write");
    let mut cmd = stamp_command();
    cmd.arg("--root").arg(g.root()).arg("validate");
    let run = run_command(cmd);
    run.code(2).no_panic();
    assert_eq!(errors(&run.stderr), 1, "one error:\n{}", run.stderr);
    run.stderr_has(&[
        "template error: `service.vars.prot` is undefined",
        "affects 1000 tenants: ",
        " and 995 more",
        "did you mean `service.vars.port`?",
    ]);
    let mut cmd = stamp_command();
    cmd.arg("--root")
        .arg(g.root())
        .args(["validate", "--output", "json"]);
    let j = run_command(cmd).json();
    let d = j["diagnostics"].as_array().expect("diagnostics");
    assert_eq!(d.len(), 1, "{j:#}");
    assert_eq!(d[0]["tenants"].as_array().map(Vec::len), Some(1000));
}

#[test]
fn item_5_an_unknown_field_is_said_once_without_the_list_of_every_field() {
    let f = Fixture::example();
    f.replace(
        "templates/worker.json.j2",
        "\"stopTimeout\"",
        "\"stopTimout\"",
    );
    let run = f.stamp(&["validate"]);
    run.code(2).no_panic().stderr_has(&[
        "unknown field `stopTimout`",
        "affects 4 tenants: acme, globex, initech, umbrella",
        "= hint: did you mean `stopTimeout`?",
    ]);
    assert_eq!(errors(&run.stderr), 1, "{}", run.stderr);
    run.stderr_lacks(&["credentialSpecs"]);
}

#[test]
fn item_5_explain_suggests_the_variable_meant() {
    let f = Fixture::example();
    f.stamp(&["explain", "acme", "-s", "api", "LOG_LEVLE", "--offline"])
        .code(2)
        .no_panic()
        .stderr_has(&["= hint: did you mean `LOG_LEVEL`?"]);
}

#[test]
fn item_6_a_copied_account_is_reported_with_the_new_files_other_mistakes_at_the_new_file() {
    let f = Fixture::example();
    commit_all(f.root());
    // `aaa` sorts before `globex`, whose account it copies; it is the new file.
    f.write(
        "tenants/aaa.toml",
        "[tenant]\naccount_id = \"222222222222\"\nregion = \"nowhere\"\n",
    );
    let run = f.stamp(&["validate"]);
    run.code(2).no_panic().stderr_has(&[
        "error: account 222222222222 is already tenant `globex`'s (tenants/globex.toml:4)\n --> tenants/aaa.toml:2:14",
        "error: `nowhere` is not an AWS region name\n --> tenants/aaa.toml:3:10",
    ]);
    run.stderr_lacks(&["--> tenants/globex.toml"]);
}

/// The fixture as one commit of a fresh repository.
fn commit_all(root: &std::path::Path) {
    for args in [
        &["init", "-q"][..],
        &["add", "-A"],
        &["commit", "-qm", "fleet"],
    ] {
        git(root, args);
    }
}

/// How many problems stderr reports (`error:` lines; "template error:" inside one is not one).
fn errors(stderr: &str) -> usize {
    stderr.lines().filter(|l| l.starts_with("error:")).count()
}

fn git(root: &std::path::Path, args: &[&str]) {
    let ok = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args([
            "-c",
            "user.email=t@example.com",
            "-c",
            "user.name=t",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .map(|o| o.status.success());
    assert_eq!(ok.ok(), Some(true), "git {args:?}");
}

#[test]
fn item_7_carets_go_under_the_part_that_is_wrong_and_nothing_is_said_twice() {
    let f = Fixture::example();
    f.replace("tenants/initech.toml", "Sat 22:00-02:00", "Sat 22:00-26:00")
        .replace(
            "tenants/acme.toml",
            "release    = \"v1.42.0\"",
            "release    = \"v1.43.0 beta\"",
        )
        .replace(
            "tenants/umbrella.toml",
            "timezone = \"UTC\"",
            "timezone = \"Europe/Pariss\"",
        )
        .replace("tenants/globex.toml", "account_id = \"222222222222\"\n", "");
    let run = f.stamp(&["validate"]);
    run.code(2).no_panic().stderr_has(&[
        "--> tenants/initech.toml:9:24\n  |\n9 | windows  = [\"Sat 22:00-26:00\"]\n  |                        ^^^^^\n",
        "--> tenants/acme.toml:6:22\n  |\n6 | release    = \"v1.43.0 beta\"",
        "\n  |                      ^\n",
        "error: unknown timezone `Europe/Pariss`\n",
        "tenant `globex` has no `account_id`",
    ]);
    run.stderr_lacks(&["timezone `Europe/Pariss`: unknown"]);
    // The hint's example is no tenant's account.
    for account in ["111111111111", "333333333333", "444444444444"] {
        run.stderr_lacks(&[account]);
    }
}

#[test]
fn item_8_params_json_holds_one_kind_of_value_per_field_for_every_tenant() {
    let f = seeded();
    let j = stamp(&f, &["params", "--all", "--output", "json"])
        .success()
        .json();
    let tenants = j["tenants"].as_array().expect("tenants");
    assert_eq!(tenants.len(), 4, "{j:#}");
    for t in tenants {
        for row in t["parameters"].as_array().expect("parameters") {
            let name = row["name"].as_str().expect("name");
            assert!(!name.contains(':'), "a name holds only the name: {row}");
            let kind = row["type"].as_str().expect("type");
            assert!(
                ["String", "StringList", "SecureString"].contains(&kind),
                "a type is SSM's: {row}"
            );
            assert!(row["version"].is_u64(), "{row}");
            for u in row["used_by"].as_array().expect("used_by") {
                assert!(
                    u["service"].is_string() && u["variable"].is_string(),
                    "{row}"
                );
            }
        }
    }
    let globex = tenants
        .iter()
        .find(|t| t["tenant"] == "globex")
        .expect("globex");
    let pinned = globex["parameters"]
        .as_array()
        .and_then(|p| p.iter().find(|r| r["name"] == "/shop/globex/api_base"))
        .expect("globex api_base");
    assert_eq!(pinned["pinned_version"], 2);
}

#[test]
fn item_8_history_takes_every_tenant() {
    let f = seeded();
    let j = stamp(&f, &["history", "--all", "-s", "api", "--output", "json"])
        .success()
        .json();
    let services = j["services"].as_array().expect("services");
    let tenants: Vec<&str> = services
        .iter()
        .filter_map(|s| s["tenant"].as_str())
        .collect();
    assert_eq!(tenants, ["acme", "globex", "initech", "umbrella"], "{j:#}");
    for s in services {
        assert!(s["family"].is_string(), "{s}");
        assert!(
            !s["revisions"].as_array().expect("revisions").is_empty(),
            "{s}"
        );
    }
}

#[test]
fn item_9_ci_on_a_terminal_is_the_reason_given_not_a_missing_terminal() {
    let f = Fixture::example();
    commit_all(f.root());
    let deploy = |ci: Option<&str>| {
        let mut cmd = stamp_command();
        cmd.env_remove("CI");
        if let Some(ci) = ci {
            cmd.env("CI", ci);
        }
        cmd.arg("--root").arg(f.root()).args(["deploy", "--all"]);
        on_a_terminal(cmd)
    };
    let run = deploy(Some("true"));
    run.code(2).no_panic().stderr_has(&[
        "no confirmation can be asked: CI is set (CI=true)",
        "pass --yes",
    ]);
    run.stderr_lacks(&["not a terminal"]);
    // The same terminal without CI is asked (and answers nothing: stdin is /dev/null), so
    // stamp goes as far as the plan, which needs credentials.
    let run = deploy(None);
    run.stderr_lacks(&["no confirmation can be asked"]);
}

#[test]
fn item_10_help_says_what_stamp_does_and_keeps_aws_options_off_offline_commands() {
    let help = |args: &[&str]| {
        let mut c = stamp_command();
        c.args(args);
        let run = run_command(c);
        run.success();
        run.stdout
    };
    let top = help(&["--help"]);
    for says in [
        "deploys one containerised application",
        "plans",
        "status",
        "stacks",
    ] {
        assert!(top.contains(says), "--help lacks {says:?}:\n{top}");
    }
    assert!(!top.contains("stamp renders ECS task definitions"), "{top}");
    let global = top
        .find("Global options:")
        .expect("a Global options heading");
    assert!(top[global..].contains("--root"), "{top}");
    assert!(
        !top[..global].contains("--root <DIR>"),
        "global options apart:\n{top}"
    );
    for offline in ["validate", "schedule"] {
        let h = help(&[offline, "--help"]);
        assert!(
            !h.contains("--profile"),
            "{offline} never reaches AWS:\n{h}"
        );
    }
    for aws in ["plan", "status", "deploy", "params", "history"] {
        assert!(help(&[aws, "--help"]).contains("--profile <NAME>"), "{aws}");
    }
    let infra = help(&["infra", "--help"]);
    assert!(
        infra.contains("Examples:") && infra.contains("stamp infra apply"),
        "{infra}"
    );
    assert!(help(&["deploy", "--help"]).contains("--poll-interval"));
}
