//! `stamp verify` and deploy's preflight against the emulator: the fleet's image lives in the
//! base account's ECR registry (another account than every tenant's), the roles and log groups
//! in each tenant's account, as the seed creates them.

use std::process::Stdio;

use serde_json::Value;

use crate::support::emulator::{Emulator, Fleet, MISSING_RELEASE, example_fleet};
use crate::support::{Run, rt, run_command};

fn emu() -> &'static Emulator {
    Emulator::shared()
}

fn fleet() -> Fleet {
    let (root, params) = example_fleet();
    emu().fresh_fleet(&root, &params)
}

fn stamp(f: &Fleet, args: &[&str]) -> Run {
    let mut cmd = emu().command(env!("CARGO_BIN_EXE_stamp"));
    cmd.arg("--root")
        .arg(f.root())
        .args(args)
        .stdin(Stdio::null());
    let run = run_command(cmd);
    run.no_panic();
    run
}

fn tenant<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["tenants"]
        .as_array()
        .expect("tenants")
        .iter()
        .find(|t| t["tenant"] == name)
        .unwrap_or_else(|| panic!("no {name} in {doc}"))
}

fn problems(doc: &Value, name: &str) -> Vec<(String, String, String)> {
    tenant(doc, name)["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
            (s("kind"), s("name"), s("detail"))
        })
        .collect()
}

#[test]
fn verify_passes_when_images_roles_and_log_groups_exist() {
    let f = fleet();
    let run = stamp(&f, &["verify", "--all", "--output", "json"]);
    run.success();
    let doc = run.json();
    assert_eq!(doc["ok"], true, "{doc}");
    for t in ["acme", "globex", "initech", "umbrella"] {
        let checked = &tenant(&doc, t)["checked"];
        // One ECR image (the otel sidecar is on public.ecr.aws: not checked); the execution
        // role and each service's task role; each service's log group.
        assert_eq!(checked["images"], 1, "{t}: {checked}");
        assert_eq!(checked["roles"], 3, "{t}: {checked}");
        assert_eq!(checked["log_groups"], 2, "{t}: {checked}");
        assert!(problems(&doc, t).is_empty(), "{t}: {doc}");
    }
    let text = stamp(&f, &["verify", "acme"]);
    text.success().stdout_has(&[
        "acme (",
        "ok (1 image, 3 roles, 2 log groups)",
        "1 tenant ready",
    ]);
}

#[test]
fn verify_lists_every_problem_of_every_tenant_and_exits_2() {
    let f = fleet();
    let globex = f.tenant("globex").clone();
    let umbrella = f.tenant("umbrella").clone();
    rt().block_on(async {
        let cfg = emu()
            .sdk_config_for(&globex.account_id, &globex.region, "stamp-deploy")
            .await;
        aws_sdk_iam::Client::new(&cfg)
            .delete_role()
            .role_name("shop-worker-task")
            .send()
            .await
            .expect("delete role");
        let cfg = emu()
            .sdk_config_for(&umbrella.account_id, &umbrella.region, "stamp-deploy")
            .await;
        aws_sdk_cloudwatchlogs::Client::new(&cfg)
            .delete_log_group()
            .log_group_name("/ecs/umbrella/api")
            .send()
            .await
            .expect("delete log group");
    });
    let run = stamp(
        &f,
        &[
            "verify",
            "--all",
            "--release",
            MISSING_RELEASE,
            "--output",
            "json",
        ],
    );
    run.code(2);
    let doc = run.json();
    assert_eq!(doc["ok"], false);
    // acme pins a release that was pushed: only the unpinned tenants miss the image.
    assert!(problems(&doc, "acme").is_empty(), "{doc}");
    let missing_image = |t: &str| {
        problems(&doc, t).iter().any(|(kind, name, detail)| {
            kind == "image"
                && name.ends_with(&format!("/shop:{MISSING_RELEASE}"))
                && detail.contains(&format!(
                    "shop:{MISSING_RELEASE} is not in repository shop (registry 123456789012"
                ))
        })
    };
    for t in ["globex", "initech", "umbrella"] {
        assert!(missing_image(t), "{t}: {doc}");
    }
    assert!(
        problems(&doc, "globex").contains(&(
            "role".into(),
            "shop-worker-task".into(),
            format!(
                "role shop-worker-task does not exist in account {}",
                globex.account_id
            )
        )),
        "{doc}"
    );
    assert_eq!(problems(&doc, "globex").len(), 2, "{doc}");
    assert!(
        problems(&doc, "umbrella")
            .iter()
            .any(|(k, n, d)| k == "log-group"
                && n == "/ecs/umbrella/api"
                && d.contains("does not exist")),
        "{doc}"
    );
    assert_eq!(problems(&doc, "initech").len(), 1, "{doc}");
    let text = stamp(&f, &["verify", "--all", "--release", MISSING_RELEASE]);
    text.code(2).stdout_has(&[
        "globex (",
        "2 problems",
        "role      role shop-worker-task does not exist",
        "[worker]",
        "3 of 4 tenants not ready",
    ]);
}

#[test]
fn deploy_with_a_missing_image_is_refused_before_any_write_in_any_tenant() {
    let f = fleet();
    for t in ["acme", "globex", "initech", "umbrella"] {
        let path = f.root().join(format!("tenants/{t}.toml"));
        let text = std::fs::read_to_string(&path).expect("read tenant");
        let start = text.find("[schedule]").expect("schedule");
        let end = text[start + 1..]
            .find("\n[")
            .map_or(text.len(), |i| start + 1 + i);
        let body = "[schedule]\ntimezone = \"UTC\"\nwindows = []\n";
        std::fs::write(&path, format!("{}{body}{}", &text[..start], &text[end..]))
            .expect("write tenant");
    }
    let run = stamp(
        &f,
        &[
            "deploy",
            "--all",
            "--yes",
            "--allow-dirty",
            "--release",
            MISSING_RELEASE,
        ],
    );
    run.code(2).stderr_has(&[
        "preflight failed in 3 of 4 tenants; nothing was deployed",
        &format!("globex: shop:{MISSING_RELEASE} is not in repository shop"),
        "stamp verify",
    ]);
    // acme's own image exists, and acme is in the first ring: still nothing anywhere.
    rt().block_on(async {
        for t in ["acme", "globex", "initech", "umbrella"] {
            let s = f.tenant(t).clone();
            let cfg = emu()
                .sdk_config_for(&s.account_id, &s.region, "stamp-deploy")
                .await;
            for family in ["shop-api", "shop-worker"] {
                assert_eq!(
                    emu().task_definition_revisions(&cfg, family).await,
                    vec![1],
                    "{t} {family}"
                );
            }
        }
    });
}
