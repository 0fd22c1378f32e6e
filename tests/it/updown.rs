//! `stamp up` and `stamp down` (issue 16 items 5–6): a tenant built from an account holding only
//! its roles (stacks, then services), removed again down to nothing of its own; `down` refused
//! for a tenant its own file does not mark ephemeral; two `--instance` copies in one account,
//! one torn down, the other intact.

use serde_json::Value;

use crate::support::emulator::{Emulator, Fleet, SeedOptions, example_fleet};
use crate::support::{Fixture, Run, rt, run_command, stamp_command};

const GO: &[&str] = &["--yes", "--allow-dirty", "--output", "json"];

/// The example fleet with only umbrella (always inside its window), its account seeded with
/// the `stamp-bootstrap` stack (its roles) and its parameters and nothing else, its own file
/// saying `ephemeral = true`.
fn sandbox(emu: &Emulator) -> Fleet {
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
    let p = f.root().join("tenants/umbrella.toml");
    let text = std::fs::read_to_string(&p).expect("read");
    std::fs::write(
        &p,
        text.replacen("[tenant]\n", "[tenant]\nephemeral = true\n", 1),
    )
    .expect("write");
    f
}

fn stamp(emu: &Emulator, f: &Fleet, args: &[&str]) -> Run {
    let mut cmd = emu.stamp(f.root());
    cmd.args(args);
    let run = run_command(cmd);
    run.no_panic();
    run
}

/// The summary, and the units in the order they finished (the engine's progress lines on
/// stderr, `umbrella/UNIT: …`; the summary itself is sorted by unit name).
fn up(emu: &Emulator, f: &Fleet, instance: Option<&str>) -> (Value, Vec<String>) {
    updown(emu, f, "up", instance)
}

fn down(emu: &Emulator, f: &Fleet, instance: Option<&str>) -> (Value, Vec<String>) {
    updown(emu, f, "down", instance)
}

fn updown(emu: &Emulator, f: &Fleet, cmd: &str, instance: Option<&str>) -> (Value, Vec<String>) {
    let mut args = vec![cmd, "umbrella", "--poll-interval", "20ms"];
    if let Some(i) = instance {
        args.extend(["--instance", i]);
    }
    let run = stamp(emu, f, &[&args[..], GO].concat());
    run.success();
    let finished = run
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("umbrella/"))
        .filter_map(|l| l.split_once(": "))
        .filter(|(_, said)| {
            ["deployed", "unchanged", "failed"]
                .iter()
                .any(|w| said.starts_with(w))
        })
        .map(|(unit, _)| unit.to_owned())
        .collect();
    (run.json(), finished)
}

/// What an account holds, read with the emulator's own clients (not stamp's): stacks not
/// deleted, ACTIVE services of every cluster, task definition revisions ACTIVE and INACTIVE,
/// and `/stamp/` parameters.
#[derive(Debug, Default)]
struct Holdings {
    stacks: Vec<String>,
    services: Vec<String>,
    revisions: Vec<String>,
    families: Vec<String>,
    parameters: Vec<String>,
}

fn holdings(emu: &Emulator, f: &Fleet) -> Holdings {
    let t = f.tenant("umbrella").clone();
    rt().block_on(async {
        let cfg = emu
            .sdk_config_for(&t.account_id, &t.region, "stamp-deploy")
            .await;
        let cfn = aws_sdk_cloudformation::Client::new(&cfg);
        let ecs = aws_sdk_ecs::Client::new(&cfg);
        let ssm = aws_sdk_ssm::Client::new(&cfg);
        let mut h = Holdings::default();
        let stacks = cfn.list_stacks().send().await.expect("ListStacks");
        h.stacks = stacks
            .stack_summaries
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s.stack_status.as_ref().map(|x| x.as_str()) != Some("DELETE_COMPLETE"))
            .filter_map(|s| s.stack_name)
            .collect();
        let clusters = ecs.list_clusters().send().await.expect("ListClusters");
        for c in clusters.cluster_arns.unwrap_or_default() {
            let arns = ecs
                .list_services()
                .cluster(&c)
                .send()
                .await
                .expect("ListServices")
                .service_arns
                .unwrap_or_default();
            if arns.is_empty() {
                continue;
            }
            let described = ecs
                .describe_services()
                .cluster(&c)
                .set_services(Some(arns))
                .send()
                .await
                .expect("DescribeServices");
            h.services.extend(
                described
                    .services
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|s| s.status.as_deref() == Some("ACTIVE"))
                    .filter_map(|s| s.service_name),
            );
        }
        for status in [
            aws_sdk_ecs::types::TaskDefinitionStatus::Active,
            aws_sdk_ecs::types::TaskDefinitionStatus::Inactive,
        ] {
            let out = ecs
                .list_task_definitions()
                .status(status)
                .send()
                .await
                .expect("ListTaskDefinitions");
            h.revisions
                .extend(out.task_definition_arns.unwrap_or_default());
        }
        for status in [
            aws_sdk_ecs::types::TaskDefinitionFamilyStatus::Active,
            aws_sdk_ecs::types::TaskDefinitionFamilyStatus::Inactive,
        ] {
            let out = ecs
                .list_task_definition_families()
                .status(status)
                .send()
                .await
                .expect("ListTaskDefinitionFamilies");
            h.families.extend(out.families.unwrap_or_default());
        }
        let params = ssm
            .get_parameters_by_path()
            .path("/stamp/")
            .recursive(true)
            .send()
            .await
            .expect("GetParametersByPath");
        h.parameters = params
            .parameters
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| p.name)
            .collect();
        h
    })
}

fn results(doc: &Value) -> Vec<(String, String)> {
    doc["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|r| {
            (
                r["service"].as_str().unwrap_or_default().to_owned(),
                r["result"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Issue 16 item 5: from an account holding only the roles to a running tenant, and back.
#[test]
fn up_builds_stacks_then_services_and_down_leaves_nothing_of_the_tenant() {
    let emu = Emulator::shared();
    let f = sandbox(emu);
    let (doc, order) = up(emu, &f, None);
    let mut rows = results(&doc);
    rows.sort();
    assert_eq!(
        rows,
        [
            ("api".to_owned(), "deployed".to_owned()),
            ("stack:app".to_owned(), "deployed".to_owned()),
            ("worker".to_owned(), "deployed".to_owned()),
        ],
        "{doc:#}"
    );
    assert_eq!(
        order.first().map(String::as_str),
        Some("stack:app"),
        "{order:?}"
    );
    let built = holdings(emu, &f);
    assert!(
        built.stacks.contains(&"umbrella-app".to_owned()),
        "{built:?}"
    );
    assert!(built.services.contains(&"api".to_owned()), "{built:?}");
    // stamp's own revisions beside the stack's bootstrap ones.
    assert!(
        built.revisions.iter().any(|r| r.ends_with("/shop-api:2")),
        "{built:?}"
    );

    let (doc, order) = down(emu, &f, None);
    // Every lock was released with what it guarded: none is left for the last step.
    assert!(
        results(&doc).iter().all(|(u, r)| r
            == if u == "locks" {
                "unchanged"
            } else {
                "deployed"
            }),
        "{doc:#}"
    );
    assert_eq!(
        order,
        ["api", "worker", "stack:app", "task-definitions", "locks"],
        "services first, then stacks, then families, then locks: {doc:#}"
    );
    let after = holdings(emu, &f);
    // The account's roles are not the tenant's: their stack stays, as `up` found it.
    assert_eq!(after.stacks, ["stamp-bootstrap"], "{after:?}");
    assert!(after.services.is_empty(), "{after:?}");
    assert!(
        !after
            .revisions
            .iter()
            .any(|r| r.contains("/shop-api:") || r.contains("/shop-worker:")),
        "{after:?}"
    );
    assert!(
        !after.families.iter().any(|f| f.starts_with("shop-")),
        "{after:?}"
    );
    assert!(after.parameters.is_empty(), "{after:?}");

    // Idempotent: nothing left to remove is not an error.
    let (again, _) = down(emu, &f, None);
    assert!(
        results(&again).iter().all(|(_, r)| r == "unchanged"),
        "{again:#}"
    );
}

/// Issue 16 item 6: two copies in one account, each under its own names; removing one leaves
/// the other running, and `status --instance` reads the one left.
#[test]
fn two_instances_in_one_account_one_torn_down_the_other_intact() {
    let emu = Emulator::shared();
    let f = sandbox(emu);
    up(emu, &f, Some("wf-a"));
    up(emu, &f, Some("wf-b"));
    let both = holdings(emu, &f);
    for name in ["umbrella-app-wf-a", "umbrella-app-wf-b"] {
        assert!(both.stacks.contains(&name.to_owned()), "{both:?}");
    }
    for name in ["api-wf-a", "worker-wf-a", "api-wf-b", "worker-wf-b"] {
        assert!(both.services.contains(&name.to_owned()), "{both:?}");
    }

    down(emu, &f, Some("wf-a"));
    let left = holdings(emu, &f);
    let mut stacks = left.stacks.clone();
    stacks.sort();
    assert_eq!(stacks, ["stamp-bootstrap", "umbrella-app-wf-b"], "{left:?}");
    let mut services = left.services.clone();
    services.sort();
    assert_eq!(services, ["api-wf-b", "worker-wf-b"], "{left:?}");
    assert!(
        !left.revisions.iter().any(|r| r.contains("-wf-a:")),
        "{left:?}"
    );
    assert!(
        left.revisions
            .iter()
            .any(|r| r.contains("/shop-api-wf-b:2")),
        "{left:?}"
    );
    let mut families = left.families.clone();
    families.sort();
    assert_eq!(families, ["shop-api-wf-b", "shop-worker-wf-b"], "{left:?}");
    let status = stamp(
        emu,
        &f,
        &[
            "status",
            "umbrella",
            "--instance",
            "wf-b",
            "--output",
            "json",
        ],
    );
    status.success();
    let s = status.json().to_string();
    assert!(s.contains("in-sync") && !s.contains("not-deployed"), "{s}");

    down(emu, &f, Some("wf-b"));
    let none = holdings(emu, &f);
    assert_eq!(none.stacks, ["stamp-bootstrap"], "{none:?}");
    assert!(none.services.is_empty(), "{none:?}");
    assert!(none.parameters.is_empty(), "{none:?}");
}

fn offline(f: &Fixture, args: &[&str]) -> Run {
    let mut cmd = stamp_command();
    cmd.arg("--root").arg(f.root()).args(args);
    run_command(cmd)
}

/// A tenant its own file does not mark ephemeral is refused before any call, whatever the
/// flags; `ephemeral` cannot be inherited; off a terminal `down` needs `--yes`.
#[test]
fn down_is_refused_unless_the_tenants_own_file_says_ephemeral() {
    let f = Fixture::example();
    offline(
        &f,
        &[
            "down",
            "umbrella",
            "--yes",
            "--allow-dirty",
            "--force-unlock",
            "--ignore-window",
            "--reason",
            "x",
        ],
    )
    .code(2)
    .stderr_has(&[
        "refusing to remove umbrella: not marked `ephemeral = true` in its own file",
        "nothing was removed",
    ]);
    let defaults = f.read("tenants/_defaults.toml");
    f.write(
        "tenants/_defaults.toml",
        &defaults.replacen("[tenant]", "[tenant]\nephemeral = true", 1),
    );
    offline(&f, &["validate"])
        .code(2)
        .stderr_has(&["`ephemeral` does not belong in _defaults.toml"]);
    f.write("tenants/_defaults.toml", &defaults);
    let own = f.read("tenants/umbrella.toml");
    f.write(
        "tenants/umbrella.toml",
        &own.replacen("[tenant]", "[tenant]\nephemeral = false", 1),
    );
    offline(&f, &["validate"])
        .code(2)
        .stderr_has(&["`ephemeral` only takes `true`"]);
    f.write(
        "tenants/umbrella.toml",
        &own.replacen("[tenant]", "[tenant]\nephemeral = true", 1),
    );
    offline(&f, &["validate"]).success();
    // Off a terminal, without --yes: refused before any call (stdin is not a terminal here).
    offline(&f, &["down", "umbrella", "--allow-dirty"])
        .code(2)
        .stderr_has(&["--yes"]);
}

#[test]
fn an_instance_id_that_would_break_a_name_is_refused_before_any_call() {
    let f = Fixture::example();
    for bad in ["Bad_ID", "-x", &"a".repeat(37)] {
        offline(&f, &["status", "umbrella", &format!("--instance={bad}")])
            .code(2)
            .stderr_has(&[&format!("--instance `{bad}`")]);
    }
    // A template that cannot carry the instance in its names is refused for `up --instance`.
    let tpl = f.read("templates/app.cfn.yaml");
    f.write(
        "templates/app.cfn.yaml",
        &tpl.replace("StampInstance", "Suffix"),
    );
    offline(
        &f,
        &[
            "up",
            "umbrella",
            "--instance",
            "ci1",
            "--yes",
            "--allow-dirty",
        ],
    )
    .code(2)
    .stderr_has(&["does not declare the parameter `StampInstance`"]);
}

/// The CircleCI example's ephemeral job removes its copy even when the tests failed.
#[test]
fn the_circleci_example_tears_its_copy_down_even_when_tests_fail() {
    let text =
        std::fs::read_to_string(crate::support::repo_root().join("examples/circleci/config.yml"))
            .expect("read");
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("YAML");
    let steps = doc["jobs"]["ephemeral"]["steps"]
        .as_sequence()
        .cloned()
        .expect("the ephemeral job's steps");
    let runs: Vec<&serde_yaml_ng::Value> = steps.iter().filter_map(|s| s.get("run")).collect();
    let up = runs
        .iter()
        .position(|r| {
            r["command"]
                .as_str()
                .is_some_and(|c| c.contains("stamp up "))
        })
        .expect("an up step");
    let down = runs
        .iter()
        .position(|r| {
            r["command"]
                .as_str()
                .is_some_and(|c| c.contains("stamp down "))
        })
        .expect("a down step");
    assert!(up < down);
    assert_eq!(runs[down]["when"].as_str(), Some("always"));
    for r in [runs[up], runs[down]] {
        let c = r["command"].as_str().unwrap_or_default();
        assert!(c.contains("--instance \"$CIRCLE_WORKFLOW_ID\""), "{c}");
    }
}

/// An ephemeral tenant's roles also reach its copies: every name granted with `-*` after it.
#[test]
fn the_bootstrap_template_of_an_ephemeral_tenant_covers_its_instances() {
    let f = Fixture::example();
    let own = f.read("tenants/umbrella.toml");
    f.write(
        "tenants/umbrella.toml",
        &own.replacen("[tenant]", "[tenant]\nephemeral = true", 1),
    );
    let run = offline(&f, &["bootstrap", "template", "umbrella"]);
    run.success();
    for want in [
        "cluster/umbrella-shop-*",
        "service/umbrella-shop-*/*",
        "stack/umbrella-app-*/*",
        "parameter/stamp/locks/umbrella-shop-*/*",
        "parameter/stamp/locks/cloudformation/umbrella-app-*",
    ] {
        assert!(run.stdout.contains(want), "{want} in\n{}", run.stdout);
    }
    let run = offline(&f, &["bootstrap", "template", "acme"]);
    assert!(!run.stdout.contains("acme-shop-*"), "{}", run.stdout);
}
