//! No secret value and no credential ever leaves stamp. Every SecureString of the test fleet
//! gets a unique canary value; every command then runs in text and JSON mode with `-vv`, on
//! success and on failure paths (a missing parameter, a SecureString referenced as a plain
//! value, a failed rollout, a rollout that times out, an access denied), and the canaries are
//! looked for in everything stamp writes or leaves behind: stdout, stderr, `--out-dir` files,
//! the saved plan, service and task definition tags, every registered task definition as
//! DescribeTaskDefinition returns it, and lock parameters (read while held). Two Secrets
//! Manager secrets (one read by JSON key, one by ARN) carry canaries too.
//!
//! The emulator stores a SecureString "encrypted" as `kms:<key>:<plaintext>`, so a value read
//! without decryption still carries its canary: reading one by mistake cannot hide.
//!
//! Credentials: moto's own record of every AssumeRole it answered (`/moto-api/data.json`)
//! gives exactly the keys and session tokens stamp received; none of them, and not the base
//! secret key, may appear in any `-vv` output. That includes the sessions handed to a person
//! (`whoami`, `login`'s sign-in URL, `exec`, `creds`' stderr): their credentials belong on
//! `creds`' stdout and in `exec`'s child, nowhere else.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;

use crate::support::emulator::{Emulator, Fleet, SeedOptions, example_fleet, unique_account};
use crate::support::rt;
use crate::support::{Run, run_command};

/// Everything stamp printed, wrote or left in an account, labelled for the failure message.
#[derive(Default)]
pub(crate) struct Seen(Vec<(String, String)>);

impl Seen {
    pub(crate) fn add(&mut self, label: impl Into<String>, text: impl Into<String>) {
        self.0.push((label.into(), text.into()));
    }

    pub(crate) fn run(&mut self, label: &str, run: &Run) {
        self.add(format!("{label}: stdout"), run.stdout.clone());
        self.add(format!("{label}: stderr"), run.stderr.clone());
    }

    /// Every needle that occurs anywhere, with where.
    pub(crate) fn find(&self, needles: &[String]) -> Vec<String> {
        let mut hits = Vec::new();
        for (label, text) in &self.0 {
            for n in needles {
                if let Some(i) = text.find(n.as_str()) {
                    let from = text[..i].char_indices().rev().nth(60).map_or(0, |(j, _)| j);
                    hits.push(format!("{label}: …{}…", &text[from..i]));
                }
            }
        }
        hits
    }

    fn bytes(&self) -> usize {
        self.0.iter().map(|(_, t)| t.len()).sum()
    }
}

/// The example params with every SecureString value (and past value) replaced by a canary
/// unique to it; returns the params file and the canaries.
pub(crate) fn canary_params(dir: &Path) -> (PathBuf, Vec<String>) {
    let (_, example) = example_fleet();
    let text = std::fs::read_to_string(example).expect("read params");
    let mut params: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).expect("params JSON");
    // A fresh number per run: no earlier run's output can match by accident.
    let run = unique_account();
    let mut canaries = Vec::new();
    for (account, ps) in &mut params {
        for (name, p) in ps.as_object_mut().expect("params of an account") {
            if p["type"] != "SecureString" {
                continue;
            }
            let slug: String = name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            let mut make = |n: usize| {
                let c = format!("CANARY{run}x{account}{slug}x{n}");
                canaries.push(c.clone());
                serde_json::Value::String(c)
            };
            p["value"] = make(0);
            if let Some(h) = p.get_mut("history").and_then(|h| h.as_array_mut()) {
                for (i, v) in h.iter_mut().enumerate() {
                    *v = make(i + 1);
                }
            }
        }
    }
    assert!(
        canaries.len() >= 8,
        "the example fleet has secrets: {canaries:?}"
    );
    let path = dir.join("canary-params.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&params).expect("JSON")).expect("write");
    (path, canaries)
}

struct Ctx<'e> {
    emu: &'e Emulator,
    fleet: Fleet,
    seen: Seen,
}

impl Ctx<'_> {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.emu.command(env!("CARGO_BIN_EXE_stamp"));
        cmd.env("STAMP_SIGNIN_ENDPOINT", self.emu.signin_endpoint())
            .arg("--root")
            .arg(self.fleet.root())
            .arg("-vv")
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `args` in text and in JSON mode; each must exit with `code` and not panic.
    fn both(&mut self, args: &[&str], code: i32) {
        for json in [false, true] {
            self.one(args, json, code);
        }
    }

    /// Runs `args` once, in JSON mode or as text; it must exit with `code` and not panic.
    fn one(&mut self, args: &[&str], json: bool, code: i32) {
        let mut a = args.to_vec();
        if json {
            a.extend(["--output", "json"]);
        }
        let run = run_command(self.command(&a));
        run.no_panic();
        assert_eq!(
            run.code,
            code,
            "stamp {}\n--- stdout\n{}\n--- stderr\n{}",
            a.join(" "),
            run.stdout,
            run.stderr
        );
        self.seen.run(&a.join(" "), &run);
    }

    fn edit(&self, tenant: &str, from: &str, to: &str) -> String {
        let path = self.fleet.root().join(format!("tenants/{tenant}.toml"));
        let text = std::fs::read_to_string(&path).expect("read tenant");
        assert!(text.contains(from), "{tenant}.toml lacks {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).expect("write tenant");
        text
    }

    fn restore(&self, tenant: &str, text: &str) {
        std::fs::write(
            self.fleet.root().join(format!("tenants/{tenant}.toml")),
            text,
        )
        .expect("write tenant");
    }

    fn files_under(&mut self, dir: &Path) -> usize {
        let mut n = 0;
        for e in std::fs::read_dir(dir).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                n += self.files_under(&p);
            } else {
                self.seen.add(
                    p.display().to_string(),
                    std::fs::read_to_string(&p).expect("read written file"),
                );
                n += 1;
            }
        }
        n
    }

    async fn cfg(&self, tenant: &str) -> SdkConfig {
        let t = self.fleet.tenant(tenant);
        self.emu
            .sdk_config_for(&t.account_id, &t.region, "stamp-deploy")
            .await
    }

    /// Every task definition revision of every seeded service as DescribeTaskDefinition
    /// gives it (with its tags), the services' tags, and every parameter under `/stamp/`.
    fn read_back(&mut self) -> usize {
        let fleet_tenants = self.fleet.tenants.clone();
        let found = rt().block_on(async {
            let mut found = Vec::new();
            for (tenant, t) in &fleet_tenants {
                let cfg = self.cfg(tenant).await;
                let ecs = aws_sdk_ecs::Client::new(&cfg);
                for (service, s) in &t.services {
                    let family_of = |arn: &str| {
                        arn.rsplit('/')
                            .next()
                            .and_then(|x| x.rsplit_once(':'))
                            .map(|(f, _)| f.to_owned())
                            .unwrap_or_default()
                    };
                    let svc = ecs
                        .describe_services()
                        .cluster(&t.cluster)
                        .services(&s.ecs_service)
                        .include(aws_sdk_ecs::types::ServiceField::Tags)
                        .send()
                        .await
                        .expect("DescribeServices");
                    found.push((format!("{tenant}/{service}: service"), format!("{svc:?}")));
                    let running = svc.services()[0].task_definition().unwrap_or_default();
                    let family = family_of(running);
                    for rev in self.emu.task_definition_revisions(&cfg, &family).await {
                        let td = ecs
                            .describe_task_definition()
                            .task_definition(format!("{family}:{rev}"))
                            .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
                            .send()
                            .await
                            .expect("DescribeTaskDefinition");
                        found.push((
                            format!("{tenant}/{service}: {family}:{rev}"),
                            format!("{td:?}"),
                        ));
                    }
                }
                let ssm = aws_sdk_ssm::Client::new(&cfg);
                let params = ssm
                    .get_parameters_by_path()
                    .path("/stamp/")
                    .recursive(true)
                    .send()
                    .await
                    .expect("GetParametersByPath /stamp/");
                found.push((
                    format!("{tenant}: /stamp/ parameters"),
                    format!("{params:?}"),
                ));
            }
            found
        });
        let n = found.len();
        for (label, text) in found {
            self.seen.add(label, text);
        }
        n
    }
}

/// Every tenant always open, so deploys happen whatever the day.
pub(crate) fn open_all(root: &Path) {
    for t in ["acme", "globex", "initech", "umbrella"] {
        let path = root.join(format!("tenants/{t}.toml"));
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read tenant");
        let mut out = Vec::new();
        let mut skipping = false;
        for line in text.lines() {
            if line.trim_start().starts_with('[') {
                skipping = line.trim() == "[schedule]";
                if skipping {
                    out.push("[schedule]\ntimezone = \"UTC\"\nwindows = []\n".to_owned());
                    continue;
                }
            }
            if !skipping {
                out.push(line.to_owned());
            }
        }
        std::fs::write(&path, out.join("\n") + "\n").expect("write tenant");
    }
}

/// Credentials that must never be printed: every secret key and session token the emulator
/// issued for this fleet's accounts, the keys' ids, and the base secret key.
fn credentials(emu: &Emulator, fleet: &Fleet) -> Vec<String> {
    let accounts: Vec<&String> = fleet.accounts.values().collect();
    let issued: Vec<_> = emu
        .issued_credentials()
        .into_iter()
        .filter(|c| accounts.iter().any(|a| c.role_arn.contains(a.as_str())))
        .collect();
    assert!(
        issued.len() >= fleet.accounts.len(),
        "stamp assumed a role in every account: {} issued",
        issued.len()
    );
    let mut out = vec![emu.base_credentials().secret_access_key];
    for c in issued {
        out.extend([c.access_key_id, c.secret_access_key, c.session_token]);
    }
    out.retain(|c| c.len() >= 16);
    out
}

/// Shapes any leaked credential would have: moto's session token prefix and temporary key ids.
pub(crate) fn credential_shapes(seen: &Seen) -> Vec<String> {
    let mut hits = Vec::new();
    for (label, text) in &seen.0 {
        if text.contains("FQoGZXIvYXdzEBYaD") {
            hits.push(format!("{label}: a session token"));
        }
        for (i, _) in text.match_indices("ASIA") {
            let id: String = text[i..].chars().take(20).collect();
            if id.len() == 20
                && id
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            {
                hits.push(format!("{label}: temporary access key id {id}"));
            }
        }
    }
    hits
}

#[test]
fn no_command_in_any_mode_shows_a_secret_or_a_credential() {
    // A server of its own: moto's record of issued credentials (read at the end) is then
    // this test's alone, and small enough to dump quickly while other tests run.
    let dedicated = Emulator::dedicated();
    let emu = &dedicated;
    // The params (which hold the canaries) apart from what stamp writes, which is scanned.
    let seed_dir = tempfile::tempdir().expect("temp dir");
    let (params, mut canaries) = canary_params(seed_dir.path());
    let scratch = tempfile::tempdir().expect("temp dir");
    let (root, _) = example_fleet();
    let fleet = emu.fresh_fleet_with(&root, &params, &SeedOptions::default());
    open_all(fleet.root());
    let mut c = Ctx {
        emu,
        fleet,
        seen: Seen::default(),
    };
    // Secrets Manager: a JSON secret read by key and a whole secret by ARN, canaries both.
    let sm_canaries = [
        format!("CANARYSMPW{}", unique_account()),
        format!("CANARYSMTOKEN{}", unique_account()),
    ];
    let token_arn = rt().block_on(async {
        let sm = aws_sdk_secretsmanager::Client::new(&c.cfg("acme").await);
        sm.create_secret()
            .name("shop/acme/db")
            .secret_string(format!(r#"{{"password":"{}"}}"#, sm_canaries[0]))
            .send()
            .await
            .expect("CreateSecret");
        sm.create_secret()
            .name("shop/acme/token")
            .secret_string(&sm_canaries[1])
            .send()
            .await
            .expect("CreateSecret")
            .arn
            .expect("an ARN")
    });
    canaries.extend(sm_canaries.iter().cloned());
    c.edit(
        "acme",
        "NEW_CHECKOUT = \"true\"",
        &format!(
            "NEW_CHECKOUT = \"true\"\nSM_PASSWORD = {{ secretsmanager = \"shop/acme/db\", key = \"password\" }}\nSM_TOKEN = {{ secret = \"{token_arn}\" }}"
        ),
    );
    let written = scratch.path();
    let dir = |name: &str| written.join(name).to_string_lossy().into_owned();
    let deploy = [
        "deploy",
        "--yes",
        "--allow-dirty",
        "--poll-interval",
        "20ms",
    ];
    fn with<'a>(base: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
        base.iter().chain(more).copied().collect()
    }

    // ---- success paths, every command ------------------------------------------------------
    c.both(&["validate"], 0);
    c.both(&["schedule"], 0);
    c.both(&["schedule", "acme", "--at", "2026-12-02T03:00:00Z"], 0);
    c.both(&["render", "acme", "--offline"], 0);
    c.both(&["render", "acme"], 0);
    c.both(&["render", "globex", "-s", "worker"], 0);
    for (i, mode) in ["text", "json"].into_iter().enumerate() {
        let live = dir(&format!("render-live-{i}"));
        let run =
            run_command(c.command(&["render", "--all", "--out-dir", &live, "--output", mode]));
        run.no_panic().success();
        c.seen
            .run(&format!("render --all --out-dir ({mode})"), &run);
    }
    for t in ["acme", "globex", "initech", "umbrella"] {
        c.both(&["explain", t, "-s", "api"], 0);
        c.both(&["explain", t, "-s", "worker", "--offline"], 0);
        c.both(&["params", t], 0);
    }
    c.both(&["explain", "acme", "-s", "api", "DATABASE_URL"], 0);
    c.both(&["explain", "acme", "-s", "api", "JWT_SIGNING_KEY"], 0);
    c.both(&["explain", "acme", "-s", "worker", "PAYMENT_KEY"], 0);
    c.both(&["explain", "acme", "-s", "api", "SM_PASSWORD"], 0);
    c.both(&["plan", "--all", "--stats"], 0);
    let plan_file = dir("plan.json");
    c.both(&["plan", "--all", "--out", &plan_file], 0);
    c.both(&with(&deploy, &["--all", "--stats"]), 0);
    c.both(&with(&deploy, &["--all", "--release", "v1.43.0"]), 0);
    c.both(&with(&deploy, &["--plan", &plan_file]), 0);
    c.both(&["history", "acme", "-s", "api"], 0);
    c.both(&["history", "globex", "-s", "worker", "--limit", "5"], 0);
    // Text, then JSON, each to another revision stamp deployed: a rollback to the revision
    // that already runs is refused before any write.
    for (json, to) in [(false, "2"), (true, "3")] {
        c.one(
            &[
                "rollback",
                "umbrella",
                "-s",
                "api",
                "--to",
                to,
                "--yes",
                "--allow-dirty",
                "--poll-interval",
                "20ms",
            ],
            json,
            0,
        );
    }
    // `stamp status` is being added on main; once this build has it, it is checked too.
    let has_status = run_command(c.command(&["status", "--help"])).code == 0;
    if has_status {
        for args in [&["status"][..], &["status", "acme"][..]] {
            for json in [false, true] {
                let mut a = args.to_vec();
                if json {
                    a.extend(["--output", "json"]);
                }
                let run = run_command(c.command(&a));
                run.no_panic();
                c.seen.run(&a.join(" "), &run);
            }
        }
    }

    // ---- a person's access: credentials go to `creds`' stdout and `exec`'s child only -----
    c.both(&["whoami"], 0);
    c.both(&["profiles"], 0);
    // The sign-in URL is on stdout and scanned: it must carry a token, not the session's keys.
    c.both(&["login", "acme", "--print", "--destination", "logs"], 0);
    for (i, json) in [false, true].into_iter().enumerate() {
        let mut args = vec!["exec", "globex"];
        if json {
            args.extend(["--output", "json"]);
        }
        if i == 1 {
            args.extend(["--role", "deploy", "--reason", "canary check"]);
        }
        args.extend(["--", "true"]);
        let run = run_command(c.command(&args));
        run.no_panic().success();
        c.seen.run(&args.join(" "), &run);
    }
    let creds = run_command(c.command(&["creds", "umbrella"]));
    creds.no_panic().success();
    // Its stdout is the one place credentials are meant to be: kept apart, as the control below.
    c.seen.add("creds umbrella: stderr", creds.stderr.clone());
    let handed_secret = creds.json()["SecretAccessKey"]
        .as_str()
        .expect("creds prints a secret key")
        .to_owned();

    // ---- failure paths -------------------------------------------------------------------
    // A SecureString referenced as a plain value: reading it is refused, and its value,
    // which the emulator returns undecrypted as `kms:…:<plaintext>`, is not shown.
    let acme = c.edit(
        "acme",
        "NEW_CHECKOUT = \"true\"",
        "NEW_CHECKOUT = \"true\"\nPAY = { ssm = \"/shop/acme/payment_key\" }",
    );
    c.both(&["explain", "acme", "-s", "api"], 1);
    c.both(&["explain", "acme", "-s", "api", "PAY"], 1);
    c.both(&["render", "acme"], 1);
    c.both(&["params", "acme"], 1);
    c.both(&["plan", "acme"], 1);
    c.both(&with(&deploy, &["acme"]), 1);
    c.restore("acme", &acme);

    // A Secrets Manager secret that does not exist.
    let acme = c.edit("acme", "\"shop/acme/db\"", "\"shop/acme/gone\"");
    c.both(&["explain", "acme", "-s", "api"], 1);
    c.both(&["params", "acme"], 1);
    c.both(&["plan", "acme"], 1);
    c.both(&with(&deploy, &["acme"]), 1);
    c.restore("acme", &acme);

    // A parameter that does not exist.
    let umbrella = c.edit(
        "umbrella",
        "{ ssm = \"/shop/umbrella/api_base\" }",
        "{ ssm = \"/shop/umbrella/gone\" }",
    );
    c.both(&["explain", "umbrella", "-s", "api"], 1);
    c.both(&["params", "umbrella"], 1);
    c.both(&["plan", "umbrella"], 1);
    c.both(&with(&deploy, &["umbrella"]), 1);
    c.restore("umbrella", &umbrella);

    // A rollout that fails and is rolled back.
    for (i, json) in [false, true].into_iter().enumerate() {
        let u = c.fleet.tenant("umbrella").clone();
        c.emu
            .fail_next_rollout(&u.account_id, &u.region, &u.cluster, "worker");
        let release = format!("v1.5{i}.0");
        let mut args = with(&deploy, &["umbrella", "--release"]);
        args.push(&release);
        if json {
            args.extend(["--output", "json"]);
        }
        let run = run_command(c.command(&args));
        run.no_panic().code(1);
        assert!(
            run.stdout.contains("rolled-back") || run.stdout.contains("rolled back"),
            "{}",
            run.stdout
        );
        c.seen.run(&args.join(" "), &run);
    }

    // A rollout that never finishes: its lock is read while held, then --timeout rolls back.
    let g = c.fleet.tenant("globex").clone();
    c.emu
        .hang_next_rollout(&g.account_id, &g.region, &g.cluster, "api");
    let child = c
        .command(&with(
            &deploy,
            &["globex", "--release", "v1.60.0", "--timeout", "4s"],
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn stamp");
    let lock_name = format!(
        "/stamp/locks/{}/{}",
        g.cluster, g.services["api"].ecs_service
    );
    let started = Instant::now();
    let mut lock = None;
    while lock.is_none() && started.elapsed() < Duration::from_secs(30) {
        lock = rt().block_on(async {
            let cfg = c.cfg("globex").await;
            c.emu.parameter(&cfg, &lock_name).await
        });
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("wait for stamp");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    run.no_panic();
    c.seen.run("deploy globex (rollout hangs)", &run);
    let lock = lock.unwrap_or_else(|| panic!("the lock was never seen held\n{}", run.stderr));
    c.seen.add("lock parameter while held", format!("{lock:?}"));

    // ---- what was written and what the accounts hold ------------------------------------
    let files = c.files_under(written);
    assert!(
        files >= 17,
        "render --all twice (16 files) and the plan: {files}"
    );
    let read = c.read_back();
    assert!(read >= 8 * 3 + 4, "read back {read} resources");

    // Controls: the accounts hold the canaries, and the scan finds one where there is one.
    let held = rt().block_on(async {
        let cfg = c.cfg("acme").await;
        aws_sdk_ssm::Client::new(&cfg)
            .get_parameter()
            .name("/shop/acme/database_url")
            .with_decryption(true)
            .send()
            .await
            .expect("GetParameter")
            .parameter
            .and_then(|p| p.value)
            .unwrap_or_default()
    });
    assert!(canaries.contains(&held), "the account holds {held:?}");
    let mut control = Seen::default();
    control.add("control", format!("kms:alias/aws/ssm:{held}"));
    assert_eq!(control.find(&canaries).len(), 1);
    // The Secrets Manager canaries are in the account too, where only GetSecretValue reads them.
    let held_sm = rt().block_on(async {
        aws_sdk_secretsmanager::Client::new(&c.cfg("acme").await)
            .get_secret_value()
            .secret_id("shop/acme/db")
            .send()
            .await
            .expect("GetSecretValue")
            .secret_string
            .unwrap_or_default()
    });
    assert!(
        held_sm.contains(&sm_canaries[0]),
        "the account holds {held_sm:?}"
    );

    let leaked = c.seen.find(&canaries);
    assert!(
        leaked.is_empty(),
        "a secret value appears in {} place(s):\n{}",
        leaked.len(),
        leaked.join("\n")
    );
    let creds = credentials(c.emu, &c.fleet);
    // Control: the scan knows the secret `creds` handed out, so it would find it anywhere else.
    assert!(
        creds.contains(&handed_secret),
        "moto's record lacks the handed-out key"
    );
    let mut shown = c.seen.find(&creds);
    shown.extend(credential_shapes(&c.seen));
    assert!(
        shown.is_empty(),
        "a credential appears in {} place(s):\n{}",
        shown.len(),
        shown.join("\n")
    );
    // The scan looked at something: runs, files and read-back, not empty strings.
    assert!(c.seen.0.len() > 150, "{} texts", c.seen.0.len());
    assert!(c.seen.bytes() > 200_000, "{} bytes", c.seen.bytes());
}
