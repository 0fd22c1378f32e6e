//! The account guard and identity, through `plan` and `deploy`: a tenant whose role lands in
//! another account, an endpoint that answers for the wrong account, a base identity that
//! cannot assume the roles, and a deploy role that may not write. Each is refused with a
//! clear message before any write: afterwards every service runs the revision it ran, no
//! revision was registered and no lock exists, read back through the SDK.
//!
//! (`live_resolve` covers the guard for `render`; `deploy_primitives` covers a read-only
//! deploy role at the library level.)

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;

use crate::secrets::{Seen, canary_params, credential_shapes, open_all};
use crate::support::emulator::{BaseCredentials, Emulator, Fleet, SeedOptions, example_fleet};
use crate::support::proxy::Proxy;
use crate::support::rt;
use crate::support::{Run, run_command};

pub(crate) const WRONG: &str = "999999999999";

/// One tenant service as the account holds it: every revision of its family, the running
/// task definition, whether its lock parameter exists.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    revisions: Vec<i32>,
    running: String,
    locked: bool,
}

/// `tenant/service` → what its account holds, read with the (real) deploy role.
fn held(emu: &Emulator, fleet: &Fleet) -> BTreeMap<String, Held> {
    rt().block_on(async {
        let mut out = BTreeMap::new();
        for (tenant, t) in &fleet.tenants {
            let cfg = emu
                .sdk_config_for(&t.account_id, &t.region, "stamp-deploy")
                .await;
            let ecs = aws_sdk_ecs::Client::new(&cfg);
            for (service, s) in &t.services {
                let svc = ecs
                    .describe_services()
                    .cluster(&t.cluster)
                    .services(&s.ecs_service)
                    .send()
                    .await
                    .expect("DescribeServices");
                let running = svc.services()[0]
                    .task_definition()
                    .unwrap_or_default()
                    .to_owned();
                let family = running
                    .rsplit('/')
                    .next()
                    .and_then(|x| x.rsplit_once(':'))
                    .map(|(f, _)| f.to_owned())
                    .unwrap_or_default();
                let lock = format!("/stamp/locks/{}/{}", t.cluster, s.ecs_service);
                out.insert(
                    format!("{tenant}/{service}"),
                    Held {
                        revisions: emu.task_definition_revisions(&cfg, &family).await,
                        running,
                        locked: emu.parameter(&cfg, &lock).await.is_some(),
                    },
                );
            }
        }
        out
    })
}

fn stamp(emu: &Emulator, fleet: &Fleet, endpoint: Option<&str>, args: &[&str]) -> Run {
    let mut cmd: Command = emu.command(env!("CARGO_BIN_EXE_stamp"));
    if let Some(e) = endpoint {
        cmd.env("AWS_ENDPOINT_URL", e);
    }
    cmd.arg("--root")
        .arg(fleet.root())
        .arg("-vv")
        .args(args)
        .stdin(Stdio::null());
    let run = run_command(cmd);
    run.no_panic();
    run
}

/// Every tenant is attempted whatever the others do, so each refusal shows in its own row.
const DEPLOY: [&str; 8] = [
    "deploy",
    "--all",
    "--yes",
    "--allow-dirty",
    "--poll-interval",
    "20ms",
    "--failure-tolerance",
    "10",
];

fn rows(run: &Run) -> BTreeMap<String, serde_json::Value> {
    run.json()["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                format!(
                    "{}/{}",
                    r["tenant"].as_str().unwrap_or(""),
                    r["service"].as_str().unwrap_or("")
                ),
                r.clone(),
            )
        })
        .collect()
}

/// A proxy that makes every GetCallerIdentity answer naming one of `accounts` say `WRONG`.
pub(crate) fn lying_about(emu: &Emulator, accounts: Vec<String>) -> Proxy {
    Proxy::start(
        emu.endpoint(),
        Arc::new(move |_req: &str, body: String| {
            if !body.contains("GetCallerIdentityResponse") {
                return body;
            }
            accounts.iter().fold(body, |b, a| {
                b.replace(
                    &format!("<Account>{a}</Account>"),
                    &format!("<Account>{WRONG}</Account>"),
                )
            })
        }),
    )
}

#[test]
fn plan_and_deploy_refuse_a_tenant_whose_role_lands_in_another_account() {
    let emu = Emulator::shared();
    let (root, params) = example_fleet();
    let f = emu.fresh_fleet(&root, &params);
    open_all(f.root());
    let acme = f.account("acme").to_owned();
    let proxy = lying_about(emu, vec![acme.clone()]);
    let before = held(emu, &f);

    let plan = stamp(
        emu,
        &f,
        Some(&proxy.endpoint()),
        &["plan", "--all", "--output", "json"],
    );
    plan.code(1).stderr_has(&[
        &format!("affects tenant acme (account {acme})"),
        &format!("the role landed in account {WRONG}"),
        &format!("the tenant's account_id is {acme}"),
        "refusing to act",
    ]);
    let j = plan.json();
    for t in j["tenants"].as_array().expect("tenants") {
        let planned = t["services"].as_array().is_some_and(|s| !s.is_empty());
        if t["tenant"] == "acme" {
            assert!(
                t["error"].as_str().is_some_and(|e| e.contains("refusing")) && !planned,
                "{t}"
            );
        } else {
            assert!(
                t["error"].is_null() && planned,
                "the others are planned: {t}"
            );
        }
    }

    let run = stamp(
        emu,
        &f,
        Some(&proxy.endpoint()),
        &[&DEPLOY[..], &["--output", "json"]].concat(),
    );
    run.code(1);
    let rows = rows(&run);
    for s in ["api", "worker"] {
        let row = &rows[&format!("acme/{s}")];
        assert_eq!(row["result"], "failed", "{row}");
        let detail = row["detail"].as_str().unwrap_or("");
        assert!(
            detail.contains(&format!("the role landed in account {WRONG}"))
                && detail.contains("refusing"),
            "{row}"
        );
    }
    let after = held(emu, &f);
    for (key, h) in &after {
        if key.starts_with("acme/") {
            assert_eq!(h, &before[key], "{key}: something was written");
        } else {
            assert_eq!(rows[key]["result"], "deployed", "{key}: {}", rows[key]);
            assert_eq!(h.revisions.len(), before[key].revisions.len() + 1, "{key}");
            assert!(!h.locked, "{key}");
        }
    }
}

/// An endpoint that answers for another account: every identity it reports, the base one
/// included, is in `WRONG`. Every tenant is refused and nothing is written anywhere.
#[test]
fn plan_and_deploy_refuse_every_tenant_when_every_identity_the_endpoint_reports_is_elsewhere() {
    let emu = Emulator::shared();
    let (root, params) = example_fleet();
    let f = emu.fresh_fleet(&root, &params);
    open_all(f.root());
    let mut accounts: Vec<String> = f.accounts.values().cloned().collect();
    accounts.push(crate::support::emulator::BASE_ACCOUNT.to_owned());
    let proxy = lying_about(emu, accounts);
    let before = held(emu, &f);

    let plan = stamp(emu, &f, Some(&proxy.endpoint()), &["plan", "--all"]);
    plan.code(1);
    for (tenant, account) in &f.accounts {
        plan.stderr_has(&[
            &format!("error: the role landed in account {WRONG}, but the tenant's account_id is {account}; refusing to act"),
            &format!("affects tenant {tenant} (account {account})"),
        ]);
    }
    let run = stamp(
        emu,
        &f,
        Some(&proxy.endpoint()),
        &[&DEPLOY[..], &["--output", "json"]].concat(),
    );
    run.code(1);
    for (key, row) in rows(&run) {
        assert_eq!(row["result"], "failed", "{key}: {row}");
    }
    assert_eq!(held(emu, &f), before, "something was written");
}

/// With IAM enforced: a base identity that may not call sts:AssumeRole gets a clear
/// refusal for every tenant, and a deploy role that may only read fails at its first write
/// (the lock) before anything is registered. Neither shows a secret or a credential.
#[test]
fn with_iam_enforced_no_assume_and_a_read_only_deploy_role_are_refused_before_any_write() {
    let emu = Emulator::dedicated();
    let seed_dir = tempfile::tempdir().expect("temp dir");
    let (params, canaries) = canary_params(seed_dir.path());
    let (root, _) = example_fleet();
    let f = emu.fresh_fleet_with(
        &root,
        &params,
        &SeedOptions {
            tenants: Some(vec!["acme".into(), "umbrella".into()]),
            services: true,
        },
    );
    for t in ["globex", "initech"] {
        std::fs::remove_file(f.root().join(format!("tenants/{t}.toml"))).expect("remove");
    }
    open_all(f.root());
    let (base, no_assume): (BaseCredentials, BaseCredentials) =
        emu.enforce_iam_with_a_user_that_cannot_assume();
    let before = held(&emu, &f);
    let mut seen = Seen::default();

    // The base identity cannot assume: every tenant names the role and the denial.
    let as_no_assume = |args: &[&str]| {
        let mut cmd = emu.command(env!("CARGO_BIN_EXE_stamp"));
        cmd.env("AWS_ACCESS_KEY_ID", &no_assume.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &no_assume.secret_access_key)
            .arg("--root")
            .arg(f.root())
            .arg("-vv")
            .args(args)
            .stdin(Stdio::null());
        let run = run_command(cmd);
        run.no_panic();
        run
    };
    for args in [
        &["plan", "--all"][..],
        &["plan", "--all", "--output", "json"][..],
    ] {
        let run = as_no_assume(args);
        run.code(1);
        for (tenant, t) in &f.tenants {
            run.stderr_has(&[
                &format!(
                    "error: sts:GetCallerIdentity as arn:aws:iam::{0}:role/stamp-readonly: no credentials to send it with: sts:AssumeRole as arn:aws:iam::{0}:role/stamp-readonly: access denied",
                    t.account_id
                ),
                &format!("affects tenant {tenant} (account {})", t.account_id),
            ]);
        }
        run.stderr_has(&["the base identity must be allowed `sts:AssumeRole`"]);
        seen.run(&args.join(" "), &run);
    }
    let run = as_no_assume(&[&DEPLOY[..], &["--output", "json"]].concat());
    run.code(1);
    for (key, row) in rows(&run) {
        assert_eq!(row["result"], "failed", "{key}: {row}");
        let detail = row["detail"].as_str().unwrap_or("");
        assert!(
            detail.contains("sts:AssumeRole") && detail.contains("stamp-deploy"),
            "{key}: {row}"
        );
    }
    seen.run("deploy as a user that cannot assume", &run);
    assert_eq!(held(&emu, &f), before, "something was written");

    // acme's deploy role may only read: the lock is refused, nothing is registered; umbrella,
    // on the same server, deploys.
    let file = f.root().join("tenants/acme.toml");
    let text = std::fs::read_to_string(&file).expect("read acme");
    std::fs::write(
        &file,
        text.replacen(
            "[tenant]\n",
            &format!(
                "[tenant]\ndeploy_role = \"arn:aws:iam::{}:role/stamp-readonly\"\n",
                f.account("acme")
            ),
            1,
        ),
    )
    .expect("write acme");
    let plan = stamp(&emu, &f, None, &["plan", "acme"]);
    plan.success();
    seen.run("plan acme (read-only deploy role)", &plan);
    for json in [false, true] {
        let mut args = DEPLOY.to_vec();
        if json {
            args.extend(["--output", "json"]);
        }
        let run = stamp(&emu, &f, None, &args);
        run.code(1);
        let out = format!("{}{}", run.stdout, run.stderr);
        assert!(
            out.contains("ssm:PutParameter")
                && out.contains("access denied")
                && out.contains("role/stamp-readonly"),
            "{out}"
        );
        seen.run(&args.join(" "), &run);
    }
    let after = held(&emu, &f);
    for (key, h) in &after {
        if key.starts_with("acme/") {
            assert_eq!(h, &before[key], "{key}: something was written");
        } else {
            assert_ne!(h.running, before[key].running, "{key} deployed");
            assert!(!h.locked, "{key}");
        }
    }

    let leaked = seen.find(&canaries);
    assert!(
        leaked.is_empty(),
        "secret values shown:\n{}",
        leaked.join("\n")
    );
    let mut creds = vec![base.secret_access_key, no_assume.secret_access_key];
    creds.extend(
        emu.issued_credentials()
            .into_iter()
            .flat_map(|c| [c.secret_access_key, c.session_token]),
    );
    let mut shown = seen.find(&creds);
    shown.extend(credential_shapes(&seen));
    assert!(shown.is_empty(), "credentials shown:\n{}", shown.join("\n"));
}

/// The endpoint reports the right identity but answers ECS calls with another account's
/// resources (a misrouted endpoint or proxy): the first such ARN stops the tenant, before
/// any write, naming the ARN and both accounts.
#[test]
fn plan_and_deploy_refuse_a_tenant_whose_endpoint_answers_with_another_accounts_resources() {
    let emu = Emulator::shared();
    let (root, params) = example_fleet();
    let f = emu.fresh_fleet(&root, &params);
    open_all(f.root());
    let acme = f.account("acme").to_owned();
    let rewrite = acme.clone();
    let proxy = Proxy::start(
        emu.endpoint(),
        Arc::new(move |_req: &str, body: String| {
            if body.contains("GetCallerIdentityResponse") {
                body
            } else {
                body.replace(&format!(":{rewrite}:"), &format!(":{WRONG}:"))
            }
        }),
    );
    let before = held(emu, &f);
    let refusal = format!(
        "which is in account {WRONG}, but the tenant's account_id is {acme}; refusing to act"
    );

    let plan = stamp(emu, &f, Some(&proxy.endpoint()), &["plan", "--all"]);
    plan.code(1).stderr_has(&[
        "error: ecs:DescribeServices answered with arn:aws:ecs:",
        &refusal,
        &format!("affects tenant acme (account {acme})"),
    ]);
    let run = stamp(
        emu,
        &f,
        Some(&proxy.endpoint()),
        &[&DEPLOY[..], &["--output", "json"]].concat(),
    );
    run.code(1);
    let rows = rows(&run);
    let after = held(emu, &f);
    for (key, h) in &after {
        let row = &rows[key];
        if key.starts_with("acme/") {
            assert_eq!(row["result"], "failed", "{key}: {row}");
            assert!(
                row["detail"].as_str().unwrap_or("").contains(&refusal),
                "{key}: {row}"
            );
            assert_eq!(h, &before[key], "{key}: something was written");
        } else {
            assert_eq!(row["result"], "deployed", "{key}: {row}");
        }
    }
}
