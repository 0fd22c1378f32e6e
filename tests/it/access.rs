//! Into any tenant's account as a person: `exec`, `creds` and `profiles` used by boto3 (the
//! AWS SDK moto itself depends on), `login` against the emulator's federation endpoint, which
//! checks the session it receives against the credentials moto issued, `whoami`, the account
//! guard for each, and the read-only default under IAM enforcement.

use std::path::Path;
use std::process::Stdio;

use crate::identity::{WRONG, lying_about};
use crate::support::emulator::{Emulator, Fleet, SeedOptions, example_fleet};
use crate::support::{Run, rt, run_command};

/// Prints what a tool running under `stamp exec` sees: the identity boto3 finds, and the
/// environment stamp set or cleared.
const WHO: &str = "import boto3, os
i = boto3.client('sts').get_caller_identity()
print(i['Account'], i['Arn'])
for k in ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE', 'STAMP_TENANT', 'STAMP_ROLE', 'AWS_ENDPOINT_URL']:
    print(k, os.environ.get(k))";

/// Writes a parameter with whatever credentials the environment holds.
const WRITE: &str = "import boto3
boto3.client('ssm').put_parameter(Name='/stamp-test/written', Value='x', Type='String')
print('written')";

/// A fleet whose `tenants` (only) are seeded with roles and parameters, no services.
fn seeded(emu: &Emulator, tenants: &[&str]) -> Fleet {
    let (root, params) = example_fleet();
    emu.fresh_fleet_with(
        &root,
        &params,
        &SeedOptions {
            tenants: Some(tenants.iter().map(|t| (*t).to_owned()).collect()),
            services: false,
        },
    )
}

/// `stamp --root FLEET ARGS` against `endpoint` (the emulator, or a proxy in front of it), with
/// the emulator's federation endpoint.
fn stamp_via(
    emu: &Emulator,
    f: &Fleet,
    endpoint: &str,
    env: &[(&str, &str)],
    args: &[&str],
) -> Run {
    let mut cmd = emu.stamp(f.root());
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env("STAMP_SIGNIN_ENDPOINT", emu.signin_endpoint())
        .envs(env.iter().copied())
        .args(args);
    let run = run_command(cmd);
    run.no_panic();
    run
}

fn stamp(emu: &Emulator, f: &Fleet, env: &[(&str, &str)], args: &[&str]) -> Run {
    stamp_via(emu, f, emu.endpoint(), env, args)
}

fn python(emu: &Emulator) -> &str {
    emu.python().to_str().expect("venv path is UTF-8")
}

/// `exec acme --role deploy --reason REASON -- COMMAND…`.
fn as_deploy<'a>(reason: &'a str, command: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["exec", "acme", "--role", "deploy", "--reason", reason, "--"];
    args.extend(command);
    args
}

/// `KEY value` lines of `WHO`'s output.
fn seen_env<'a>(stdout: &'a str, key: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{key} not printed:\n{stdout}"))
}

#[test]
fn exec_runs_a_command_as_the_tenants_inspect_role_and_exits_with_its_code() {
    let emu = Emulator::shared();
    let f = seeded(emu, &["acme"]);
    let acme = f.account("acme");
    let py = python(emu);

    // A profile in the caller's shell must not reach the child: it would compete with the keys.
    let run = stamp(
        emu,
        &f,
        &[("AWS_PROFILE", "someone-else")],
        &["exec", "acme", "--", py, "-c", WHO],
    );
    run.success();
    let first = run.stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!(
            "{acme} arn:aws:sts::{acme}:assumed-role/stamp-readonly/stamp-"
        )),
        "acme's account and inspect role:\n{}",
        run.stdout
    );
    assert_eq!(seen_env(&run.stdout, "AWS_REGION"), "ap-northeast-1");
    assert_eq!(
        seen_env(&run.stdout, "AWS_DEFAULT_REGION"),
        "ap-northeast-1"
    );
    assert_eq!(seen_env(&run.stdout, "AWS_PROFILE"), "None");
    assert_eq!(seen_env(&run.stdout, "STAMP_TENANT"), "acme");
    assert_eq!(seen_env(&run.stdout, "STAMP_ROLE"), "inspect");
    assert_eq!(seen_env(&run.stdout, "AWS_ENDPOINT_URL"), emu.endpoint());
    run.stderr_has(&["acme: running", "assumed-role/stamp-readonly/"]);

    // The command's exit code is stamp's; a command that cannot start is 127, as in a shell.
    stamp(
        emu,
        &f,
        &[],
        &["exec", "acme", "--", py, "-c", "import sys; sys.exit(7)"],
    )
    .code(7);
    stamp(
        emu,
        &f,
        &[],
        &["exec", "acme", "--", "no-such-command-here"],
    )
    .code(127)
    .stderr_has(&["cannot run `no-such-command-here`", "hint:"]);

    // The deploy role needs a reason, which goes into the session name CloudTrail shows.
    stamp(
        emu,
        &f,
        &[],
        &["exec", "acme", "--role", "deploy", "--", py, "-c", WHO],
    )
    .code(2)
    .stderr_has(&["--role deploy needs --reason"]);
    let run = stamp(
        emu,
        &f,
        &[],
        &as_deploy("INC-42: restart api", &[py, "-c", WHO]),
    );
    run.success()
        .stderr_has(&["acme: deploy_role", "for: INC-42: restart api"]);
    assert!(
        run.stdout.contains(&format!(
            "arn:aws:sts::{acme}:assumed-role/stamp-deploy/stamp-"
        )) && run.stdout.contains(",INC-42-restart-api"),
        "{}",
        run.stdout
    );
    assert_eq!(seen_env(&run.stdout, "STAMP_ROLE"), "deploy");

    // Inside `stamp exec`, the credentials are the tenant's: stamp says so instead of failing
    // later on a trust policy.
    stamp(
        emu,
        &f,
        &[("STAMP_TENANT", "acme")],
        &["exec", "acme", "--", "true"],
    )
    .code(2)
    .stderr_has(&["inside `stamp exec acme`"]);
}

/// The profiles as `stamp profiles --profile base` writes them, after a `base` profile holding
/// the emulator's base keys: what a person's ~/.aws/config would look like.
fn aws_config(emu: &Emulator, f: &Fleet, dir: &Path) -> std::path::PathBuf {
    let run = stamp(emu, f, &[], &["profiles", "--profile", "base"]);
    run.success();
    let base = emu.base_credentials();
    let path = dir.join("config");
    std::fs::write(
        &path,
        format!(
            "[profile base]\naws_access_key_id = {}\naws_secret_access_key = {}\n\n{}",
            base.access_key_id, base.secret_access_key, run.stdout
        ),
    )
    .expect("write config");
    path
}

#[test]
fn creds_prints_the_credential_process_document_and_boto3_reaches_tenants_through_profiles() {
    let emu = Emulator::shared();
    let f = seeded(emu, &["acme", "globex"]);

    for args in [
        &["creds", "acme"][..],
        &["creds", "acme", "--output", "json"][..],
    ] {
        let run = stamp(emu, &f, &[], args);
        run.success();
        assert_eq!(
            run.stdout.lines().count(),
            1,
            "one document:\n{}",
            run.stdout
        );
        let doc = run.json();
        let keys: Vec<&str> = doc
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "Version",
                "AccessKeyId",
                "SecretAccessKey",
                "SessionToken",
                "Expiration"
            ]
        );
        assert_eq!(doc["Version"], 1);
        let expires: jiff::Timestamp = doc["Expiration"]
            .as_str()
            .expect("time")
            .parse()
            .expect("RFC 3339");
        let left = expires.duration_since(jiff::Timestamp::now()).as_secs();
        assert!((3300..=3600).contains(&left), "an hour: {left}s");
        let secret = doc["SecretAccessKey"].as_str().expect("secret");
        assert!(!run.stderr.contains(secret), "{}", run.stderr);
    }

    let dir = tempfile::tempdir().expect("temp dir");
    let config = aws_config(emu, &f, dir.path());
    let text = std::fs::read_to_string(&config).expect("read config");
    let me = std::fs::canonicalize(env!("CARGO_BIN_EXE_stamp")).expect("stamp path");
    let root = std::fs::canonicalize(f.root()).expect("root");
    let line = format!(
        "credential_process = {} --root {} creds --profile base acme",
        me.display(),
        root.display()
    );
    assert!(
        text.contains(&format!(
            "[profile shop-acme]\n{line}\nregion = ap-northeast-1"
        )),
        "{text}"
    );
    assert!(text.contains("[profile shop-globex]"), "{text}");

    // boto3, with no keys of its own: AWS_PROFILE selects acme's profile, whose
    // credential_process is run with that same AWS_PROFILE in its environment; its
    // `--profile base` keeps it from calling itself.
    let script = "import boto3
for s in [boto3.Session(), boto3.Session(profile_name='shop-globex')]:
    i = s.client('sts').get_caller_identity()
    print(i['Account'], i['Arn'], s.region_name)";
    let mut cmd = emu.command(python(emu));
    for k in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    ] {
        cmd.env_remove(k);
    }
    cmd.env("AWS_CONFIG_FILE", &config)
        .env("AWS_PROFILE", "shop-acme")
        .args(["-c", script])
        .stdin(Stdio::null());
    let run = run_command(cmd);
    run.success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    let (acme, globex) = (f.account("acme"), f.account("globex"));
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(
        lines[0].starts_with(&format!(
            "{acme} arn:aws:sts::{acme}:assumed-role/stamp-readonly/"
        )) && lines[0].ends_with(" ap-northeast-1"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with(&format!(
            "{globex} arn:aws:sts::{globex}:assumed-role/stamp-readonly/"
        )) && lines[1].ends_with(" us-east-1"),
        "{}",
        lines[1]
    );

    // A base profile that is one of stamp's own would be its own credential_process.
    stamp(emu, &f, &[("AWS_PROFILE", "shop-acme")], &["profiles"])
        .code(2)
        .stderr_has(&["the base profile `shop-acme` is one of the profiles stamp writes"]);
    let deploy = stamp(
        emu,
        &f,
        &[],
        &["profiles", "acme", "--role", "deploy", "--output", "json"],
    );
    deploy.success();
    let p = &deploy.json()["profiles"][0];
    assert_eq!(p["name"], "shop-acme-deploy");
    assert!(
        p["credential_process"]
            .as_str()
            .is_some_and(|c| c.ends_with("creds --profile default acme --role deploy")),
        "{p}"
    );
}

/// The `Destination` of acme's default page: its ECS cluster, percent-encoded.
const ACME_CLUSTER_PAGE: &str = "https%3A%2F%2Fap-northeast-1.console.aws.amazon.com%2Fecs%2Fv2%2Fclusters%2Facme-shop%2Fservices%3Fregion%3Dap-northeast-1";

#[test]
fn login_exchanges_the_inspect_session_moto_issued_for_a_sign_in_url() {
    // A server of its own: moto's record of issued credentials is then quick to read.
    let emu = Emulator::dedicated();
    let f = seeded(&emu, &["acme"]);
    let acme = f.account("acme");
    let inspect = format!("arn:aws:iam::{acme}:role/stamp-readonly");

    // Off a terminal (the test's pipe), the URL goes to stdout, alone.
    let run = stamp(&emu, &f, &[], &["login", "acme"]);
    run.success();
    let url = run.stdout.trim_end();
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    let prefix = format!(
        "{}?Action=login&Destination={ACME_CLUSTER_PAGE}&SigninToken=",
        emu.signin_endpoint()
    );
    let token = url.strip_prefix(&prefix).unwrap_or_else(|| panic!("{url}"));
    assert!(
        !run.stderr.contains(token),
        "the URL is on stdout only:\n{}",
        run.stderr
    );
    run.stderr_has(&[
        "acme: sign-in URL",
        "assumed-role/stamp-readonly/",
        "within 15 minutes",
    ]);

    // The endpoint took the session only because its keys and token are the ones moto issued
    // (it checks them); the one it took is acme's inspect role session.
    let signin = emu
        .signins()
        .into_iter()
        .find(|s| s["signin_token"] == token)
        .expect("the endpoint issued this token");
    assert_eq!(signin["role_arn"], inspect.as_str(), "{signin}");
    assert_eq!(signin["session_duration"], 3600, "{signin}");
    let issued = emu.issued_credentials();
    let handed = issued
        .iter()
        .find(|c| signin["access_key_id"] == c.access_key_id.as_str())
        .expect("moto issued the session's key");
    assert_eq!(handed.role_arn, inspect);
    for secret in [&handed.secret_access_key, &handed.session_token] {
        assert!(!run.stdout.contains(secret.as_str()) && !run.stderr.contains(secret.as_str()));
    }
    // The URL signs its holder in to acme's cluster page as that session.
    let (status, resp) = emu.get(url.trim_start_matches(emu.endpoint()));
    assert_eq!(status, 302, "{resp}");
    assert!(
        resp.contains(&format!("X-Stamp-Signed-In-As: arn:aws:sts::{acme}:assumed-role/stamp-readonly/"))
            && resp.contains("Location: https://ap-northeast-1.console.aws.amazon.com/ecs/v2/clusters/acme-shop/services?region=ap-northeast-1"),
        "{resp}"
    );

    // A longer session for an IAM user: the role session and the console session are 8h.
    let run = stamp(
        &emu,
        &f,
        &[],
        &[
            "login",
            "acme",
            "--print",
            "--duration",
            "8h",
            "--destination",
            "logs",
            "--output",
            "json",
        ],
    );
    run.success();
    let j = run.json();
    assert_eq!(j["opened"], false);
    assert_eq!(
        j["assumed_as"]
            .as_str()
            .map(|a| a.contains(":assumed-role/stamp-readonly/")),
        Some(true),
        "{j}"
    );
    assert_eq!(hours_left(&j["expires"]), 8, "{j}");
    let url = j["url"].as_str().expect("url");
    assert!(
        url.contains(
            "Destination=https%3A%2F%2Fap-northeast-1.console.aws.amazon.com%2Fcloudwatch%2Fhome"
        ),
        "{url}"
    );
    let token = url.rsplit("SigninToken=").next().unwrap_or_default();
    let signin = emu
        .signins()
        .into_iter()
        .find(|s| s["signin_token"] == token)
        .expect("token");
    assert_eq!(signin["session_duration"], 8 * 3600, "{signin}");

    // A base identity that is itself an assumed role: AWS would refuse more than an hour and a
    // console session length, so stamp asks for neither and says so.
    let chained = rt().block_on(async {
        let out = aws_sdk_sts::Client::new(&emu.base_config("us-east-1"))
            .assume_role()
            .role_arn("arn:aws:iam::123456789012:role/developer")
            .role_session_name("alice")
            .send()
            .await
            .expect("AssumeRole");
        out.credentials.expect("credentials")
    });
    let run = stamp(
        &emu,
        &f,
        &[
            ("AWS_ACCESS_KEY_ID", chained.access_key_id()),
            ("AWS_SECRET_ACCESS_KEY", chained.secret_access_key()),
            ("AWS_SESSION_TOKEN", chained.session_token()),
        ],
        &[
            "login",
            "acme",
            "--print",
            "--duration",
            "8h",
            "--output",
            "json",
        ],
    );
    run.success().stderr_has(&[
        "note: acme: your identity arn:aws:sts::123456789012:assumed-role/developer/alice is itself an assumed role",
        "the session lasts 1h, not 8h",
    ]);
    let j = run.json();
    assert_eq!(hours_left(&j["expires"]), 1, "{j}");
    let token = j["url"]
        .as_str()
        .and_then(|u| u.rsplit("SigninToken=").next())
        .expect("url");
    let signin = emu
        .signins()
        .into_iter()
        .find(|s| s["signin_token"] == token)
        .expect("token");
    assert!(
        signin["session_duration"].is_null(),
        "no SessionDuration for a chained session: {signin}"
    );

    // An endpoint that refuses says so, with no credential in the message; a plain-http remote
    // endpoint is refused before anything is sent.
    let bad = format!("{}/not-federation", emu.endpoint());
    let run = stamp(
        &emu,
        &f,
        &[("STAMP_SIGNIN_ENDPOINT", &bad)],
        &["login", "acme", "--print"],
    );
    run.code(1).stderr_has(&[
        "tenant `acme`: the federation endpoint",
        "/not-federation refused the session (HTTP 404)",
    ]);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(!run.stderr.contains("Session="), "{}", run.stderr);
    stamp(
        &emu,
        &f,
        &[("STAMP_SIGNIN_ENDPOINT", "http://signin.example/federation")],
        &["login", "acme"],
    )
    .code(2)
    .stderr_has(&["is not https"]);
    stamp(
        &emu,
        &f,
        &[],
        &["login", "acme", "--destination", "https://evil.example/"],
    )
    .code(2)
    .stderr_has(&["not a page of the AWS console"]);
}

/// Whole hours from now to an RFC 3339 time, rounded.
fn hours_left(t: &serde_json::Value) -> i64 {
    let t: jiff::Timestamp = t.as_str().expect("a time").parse().expect("RFC 3339");
    (t.duration_since(jiff::Timestamp::now()).as_secs() + 1800) / 3600
}

#[test]
fn whoami_checks_both_roles_and_every_access_command_refuses_a_tenant_in_another_account() {
    let emu = Emulator::shared();
    let f = seeded(emu, &["acme", "globex"]);
    for t in ["initech", "umbrella"] {
        std::fs::remove_file(f.root().join(format!("tenants/{t}.toml"))).expect("remove");
    }
    let (acme, globex) = (f.account("acme").to_owned(), f.account("globex").to_owned());

    let run = stamp(emu, &f, &[], &["whoami"]);
    run.success().stdout_has(&[
        "base identity arn:aws:sts::123456789012:",
        &format!("acme    {acme}  ap-northeast-1  acme-shop    inspect  arn:aws:iam::{acme}:role/stamp-readonly  yes"),
        &format!("deploy   arn:aws:iam::{acme}:role/stamp-deploy    yes"),
        "2 tenants, 4 roles: 4 assumable",
    ]);
    let j = stamp(emu, &f, &[], &["whoami", "globex", "--output", "json"]).json();
    assert_eq!(j["ok"], true);
    let roles = &j["tenants"][0]["roles"];
    assert_eq!(roles[0]["role"], "inspect");
    assert_eq!(roles[1]["role"], "deploy");
    for r in roles.as_array().expect("roles") {
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["account"], globex.as_str(), "{r}");
    }

    // Every role of acme lands in another account (an endpoint that answers for WRONG): each
    // command refuses acme, whoami shows where it landed; globex is unaffected.
    let proxy = lying_about(emu, vec![acme.clone()]);
    let via =
        |env: &[(&str, &str)], args: &[&str]| stamp_via(emu, &f, &proxy.endpoint(), env, args);
    let refusal = format!(
        "tenant `acme`: the role landed in account {WRONG}, but the tenant's account_id is {acme}; refusing to act"
    );

    let run = via(&[], &["whoami", "--output", "json"]);
    run.code(1);
    let j = run.json();
    assert_eq!(j["ok"], false);
    for r in j["tenants"][0]["roles"].as_array().expect("roles") {
        assert_eq!(
            (r["ok"].clone(), r["account"].clone()),
            (false.into(), WRONG.into()),
            "{r}"
        );
        assert!(
            r["error"].as_str().is_some_and(|e| e.contains(&refusal)),
            "{r}"
        );
    }
    assert!(
        j["tenants"][1]["roles"]
            .as_array()
            .expect("roles")
            .iter()
            .all(|r| r["ok"] == true),
        "{j}"
    );
    via(&[], &["whoami"])
        .code(1)
        .stdout_has(&["not assumable:", &format!("acme inspect: {refusal}")]);

    let marker = f.root().join("the-command-ran");
    let touch = format!("open('{}', 'w').close()", marker.display());
    via(&[], &["exec", "acme", "--", python(emu), "-c", &touch])
        .code(1)
        .stderr_has(&[&refusal]);
    assert!(!marker.exists(), "the command ran");
    for args in [&["creds", "acme"][..], &["login", "acme", "--print"][..]] {
        let run = via(&[], args);
        run.code(1).stderr_has(&[&refusal]);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
    }
    via(&[], &["exec", "globex", "--", python(emu), "-c", &touch]).success();
    assert!(marker.exists(), "globex is not refused");
}

#[test]
fn under_iam_enforcement_exec_with_the_inspect_role_cannot_write() {
    let emu = Emulator::dedicated();
    let f = seeded(&emu, &["acme"]);
    for t in ["globex", "initech", "umbrella"] {
        std::fs::remove_file(f.root().join(format!("tenants/{t}.toml"))).expect("remove");
    }
    let (_, no_assume) = emu.enforce_iam_with_a_user_that_cannot_assume();
    let acme = f.tenant("acme").clone();
    let written = || {
        rt().block_on(async {
            let cfg = emu
                .sdk_config_for(&acme.account_id, &acme.region, "stamp-deploy")
                .await;
            emu.parameter(&cfg, "/stamp-test/written").await
        })
    };
    let py = python(&emu);

    // The default role is read-only: the write is denied, and the command's failure is stamp's.
    let run = stamp(&emu, &f, &[], &["exec", "acme", "--", py, "-c", WRITE]);
    run.code(1).stderr_has(&["PutParameter", "AccessDenied"]);
    assert!(!run.stdout.contains("written"), "{}", run.stdout);
    assert_eq!(written(), None, "the inspect role wrote");

    // The deploy role, with a reason, may.
    stamp(&emu, &f, &[], &as_deploy("INC-7 flag", &[py, "-c", WRITE]))
        .success()
        .stdout_has(&["written"]);
    assert!(written().is_some(), "the deploy role could not write");

    // whoami as a base identity that may not assume any role: every role says why.
    let run = stamp(
        &emu,
        &f,
        &[
            ("AWS_ACCESS_KEY_ID", &no_assume.access_key_id),
            ("AWS_SECRET_ACCESS_KEY", &no_assume.secret_access_key),
        ],
        &["whoami", "--output", "json"],
    );
    run.code(1);
    for r in run.json()["tenants"][0]["roles"].as_array().expect("roles") {
        assert_eq!(r["ok"], false, "{r}");
        let e = r["error"].as_str().unwrap_or_default();
        assert!(
            e.contains("sts:AssumeRole") && e.contains("access denied") && e.contains("hint"),
            "{r}"
        );
    }
    stamp(&emu, &f, &[], &["whoami"])
        .success()
        .stdout_has(&["1 tenant, 2 roles: 2 assumable"]);
}
