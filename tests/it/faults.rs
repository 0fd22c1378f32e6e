//! Reliability under faults, kills and rollouts that never finish (issue 8, items 1–3): a
//! generated fleet deployed through the fault-injecting proxy (`support::faults`), a deploy
//! killed with SIGKILL and run again, and rollbacks that time out or fail.
//!
//! Every outcome is read back from the emulator directly (not through the proxy): what each
//! service runs, every revision of its family, the lock parameters left, and `stamp plan`
//! against the direct endpoint.
//!
//! The 10% run here uses 6 tenants × 3 services to keep CI short; `scripts/fault-run` runs the
//! same test with 20 × 3 (`twenty_by_three_at_ten_percent_faults`, ignored by default) and
//! prints its table.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::Run;
use crate::support::emulator::{Emulator, Fleet};
use crate::support::faults::{Config, Fault, FaultProxy, Report};
use crate::support::genfleet::{self, GenFleet};
use crate::support::{detail, result, rows, rt};

/// The seed CI uses; `STAMP_FAULT_SEED` picks another for the ignored full-size run.
const SEED: u64 = 0x5EED_0008;
/// `STAMP_FAULT_SEED` (decimal or 0x-hex) if set, else [`SEED`]: CI always runs the same
/// faults, and another seed is one variable away when a failure needs reproducing or the
/// assertions need trying against other luck.
fn seed() -> u64 {
    match std::env::var("STAMP_FAULT_SEED") {
        Ok(v) if !v.trim().is_empty() => {
            let v = v.trim();
            match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            }
            .unwrap_or_else(|e| panic!("STAMP_FAULT_SEED={v}: {e}"))
        }
        _ => SEED,
    }
}

/// Attempt timeout given to stamp (`STAMP_ATTEMPT_TIMEOUT_MS`) and how long the proxy holds a
/// delayed response: past it, so a delayed response is one the client gave up on.
const ATTEMPT_TIMEOUT_MS: u64 = 2000;
const DELAY: Duration = Duration::from_millis(3000);

fn emu() -> &'static Emulator {
    Emulator::shared()
}

/// A generated fleet, seeded in fresh accounts.
struct Setup {
    generated: GenFleet,
    fleet: Fleet,
}

fn setup(tenants: usize, services: usize) -> Setup {
    seeded(genfleet::generate(tenants, services))
}

fn seeded(generated: GenFleet) -> Setup {
    let fleet = emu().fresh_fleet(generated.root(), &generated.params);
    Setup { generated, fleet }
}

impl Setup {
    /// `tenant/service` for every service of the fleet.
    fn keys(&self) -> BTreeSet<String> {
        self.generated
            .tenants
            .iter()
            .flat_map(|t| {
                self.generated
                    .services
                    .iter()
                    .map(move |s| format!("{t}/{s}"))
            })
            .collect()
    }
}

/// `stamp --root FLEET ARGS` against `endpoint` (the proxy's) or the emulator itself.
fn command(f: &Fleet, endpoint: Option<&str>, env: &[(&str, String)], args: &[&str]) -> Command {
    let mut cmd = emu().command(env!("CARGO_BIN_EXE_stamp"));
    if let Some(e) = endpoint {
        cmd.env("AWS_ENDPOINT_URL", e);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.arg("--root")
        .arg(f.root())
        .args(args)
        .stdin(Stdio::null());
    cmd
}

fn run(cmd: Command) -> Run {
    let r = crate::support::run_command(cmd);
    r.no_panic();
    r
}

/// A non-interactive JSON deploy of every tenant; polls every 20 ms unless `extra` says.
fn deploy_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "deploy",
        "--all",
        "--yes",
        "--allow-dirty",
        "--output",
        "json",
    ];
    if !extra.contains(&"--poll-interval") {
        args.extend(["--poll-interval", "20ms"]);
    }
    args.extend_from_slice(extra);
    args
}

// ---- the emulator's side --------------------------------------------------------------------

/// One tenant service as ECS holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Live {
    /// The running task definition's revision.
    revision: i32,
    /// Every revision of its family, ascending.
    revisions: Vec<i32>,
    rollout: Option<String>,
}

/// Every tenant service of the fleet, keyed `tenant/service`, read directly.
fn live(f: &Fleet) -> BTreeMap<String, Live> {
    rt().block_on(async {
        let mut out = BTreeMap::new();
        for (tenant, t) in &f.tenants {
            let cfg = emu()
                .sdk_config_for(&t.account_id, &t.region, "stamp-deploy")
                .await;
            let ecs = aws_sdk_ecs::Client::new(&cfg);
            for (service, s) in &t.services {
                // DescribeServices advances a simulated rollout; ListServices-free readback
                // through the harness would too, and a settled service is not affected.
                let svc = ecs
                    .describe_services()
                    .cluster(&t.cluster)
                    .services(&s.ecs_service)
                    .send()
                    .await
                    .expect("DescribeServices");
                let svc = svc.services().first().expect("the service exists").clone();
                let arn = svc.task_definition().expect("a task definition").to_owned();
                let (family, rev) = arn
                    .rsplit('/')
                    .next()
                    .and_then(|s| s.rsplit_once(':'))
                    .expect("task definition ARN");
                let rollout = svc
                    .deployments()
                    .iter()
                    .find(|d| d.status() == Some("PRIMARY"))
                    .and_then(|d| d.rollout_state())
                    .map(|r| r.as_str().to_owned());
                out.insert(
                    format!("{tenant}/{service}"),
                    Live {
                        revision: rev.parse().expect("revision"),
                        revisions: emu().task_definition_revisions(&cfg, family).await,
                        rollout,
                    },
                );
            }
        }
        out
    })
}

/// Every lock parameter left in the fleet's accounts: `tenant: name -> value`.
fn locks_left(f: &Fleet) -> BTreeMap<String, String> {
    rt().block_on(async {
        let mut left = BTreeMap::new();
        for (tenant, t) in &f.tenants {
            let cfg = emu()
                .sdk_config_for(&t.account_id, &t.region, "stamp-deploy")
                .await;
            let ssm = aws_sdk_ssm::Client::new(&cfg);
            let mut next = None;
            loop {
                let out = ssm
                    .get_parameters_by_path()
                    .path("/stamp/locks")
                    .recursive(true)
                    .set_next_token(next)
                    .send()
                    .await
                    .expect("GetParametersByPath /stamp/locks");
                for p in out.parameters() {
                    left.insert(
                        format!("{tenant}: {}", p.name().unwrap_or_default()),
                        p.value().unwrap_or_default().to_owned(),
                    );
                }
                next = out.next_token().map(str::to_owned);
                if next.is_none() {
                    break;
                }
            }
        }
        left
    })
}

/// The lock of `tenant/service` as JSON, if there is one.
fn lock_of(f: &Fleet, tenant: &str, service: &str) -> Option<Value> {
    let t = f.tenant(tenant);
    let name = format!(
        "/stamp/locks/{}/{}",
        t.cluster, t.services[service].ecs_service
    );
    locks_left(f)
        .get(&format!("{tenant}: {name}"))
        .map(|v| serde_json::from_str(v).expect("a lock holds JSON"))
}

/// `stamp plan --all` against the emulator directly: `tenant/service -> action`.
fn plan_actions(f: &Fleet) -> BTreeMap<String, String> {
    let plan = run(command(
        f,
        None,
        &[],
        &["plan", "--all", "--output", "json"],
    ));
    plan.success();
    let j = plan.json();
    let mut out = BTreeMap::new();
    for t in j["tenants"].as_array().expect("tenants") {
        assert!(
            t["error"].is_null(),
            "plan of {}: {}",
            t["tenant"],
            t["error"]
        );
        for s in t["services"].as_array().expect("services") {
            out.insert(
                format!(
                    "{}/{}",
                    t["tenant"].as_str().unwrap_or(""),
                    s["service"].as_str().unwrap_or("")
                ),
                s["action"].as_str().unwrap_or("").to_owned(),
            );
        }
    }
    out
}

/// Occurrences of any of the fleet's secret values in `texts`.
fn leaks(generated: &GenFleet, texts: &[&str]) -> usize {
    generated
        .canaries
        .iter()
        .map(|c| {
            texts
                .iter()
                .map(|t| t.matches(c.as_str()).count())
                .sum::<usize>()
        })
        .sum()
}

fn panics(runs: &[&Run]) -> usize {
    runs.iter()
        .filter(|r| r.code == 101 || r.stderr.contains("panicked at"))
        .count()
}

/// Polls until `cond` holds (or panics after `limit`, showing `context()`).
fn wait_until(
    what: &str,
    limit: Duration,
    context: impl Fn() -> String,
    mut cond: impl FnMut() -> bool,
) {
    let started = Instant::now();
    while !cond() {
        assert!(
            started.elapsed() < limit,
            "{what}: not within {limit:?}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A deploy started in the background, its stderr in a file the test can watch.
struct Background {
    child: Child,
    stderr: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Background {
    fn start(mut cmd: Command) -> Self {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
        let stderr = dir.path().join("stderr");
        let file = std::fs::File::create(&stderr).expect("stderr file");
        let child = cmd
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start stamp");
        Self {
            child,
            stderr,
            _dir: dir,
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// SIGKILL: no handler runs, nothing is released.
    fn kill9(mut self) -> String {
        let status = Command::new("kill")
            .args(["-KILL", &self.child.id().to_string()])
            .status()
            .expect("kill -KILL");
        assert!(status.success());
        let exit = self.child.wait().expect("wait for the killed stamp");
        assert!(!exit.success(), "killed, not finished: {exit:?}");
        self.stderr()
    }
}

// ---- 1: a fleet deploy through 10% faults ---------------------------------------------------

/// The operations that change something: where a lost response could mean doing it twice.
const WRITES: [&str; 5] = [
    "ecs:RegisterTaskDefinition",
    "ecs:UpdateService",
    "ecs:TagResource",
    "ssm:PutParameter",
    "ssm:DeleteParameter",
];

/// What a run through the proxy gave, for the assertions and the table.
struct FaultRunFigures {
    tenants: usize,
    services: usize,
    seed: u64,
    rate: f64,
    report: Report,
    stamp_calls: u64,
    stamp_retries: u64,
    summary_retries: u64,
    exit: i32,
    tenants_deployed: usize,
    changed: usize,
    registered: usize,
    locks_left: usize,
    leaked: usize,
    panics: usize,
    seconds: f64,
}

impl FaultRunFigures {
    fn table(&self) -> String {
        let kinds = self
            .report
            .faults
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = [
            (
                "fleet".to_owned(),
                format!(
                    "{} tenants × {} services, all changed; seed {:#x}, {:.0}% of calls faulted",
                    self.tenants,
                    self.services,
                    self.seed,
                    self.rate * 100.0
                ),
            ),
            (
                "calls made".to_owned(),
                format!(
                    "{} HTTP requests through the proxy; {} SDK operations, {} retries by stamp's count",
                    self.report.calls, self.stamp_calls, self.stamp_retries
                ),
            ),
            (
                "faults injected".to_owned(),
                format!("{} ({kinds})", self.report.total_faults()),
            ),
            ("of which on writes".to_owned(), {
                let writes: Vec<String> = self
                    .report
                    .faults_by_op
                    .iter()
                    .filter(|(k, _)| WRITES.iter().any(|w| k.split(' ').next() == Some(*w)))
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect();
                if writes.is_empty() {
                    "none".to_owned()
                } else {
                    writes.join(", ")
                }
            }),
            (
                "retries in the summary rows".to_owned(),
                self.summary_retries.to_string(),
            ),
            ("stamp exit code".to_owned(), self.exit.to_string()),
            (
                "tenants deployed".to_owned(),
                format!("{} / {}", self.tenants_deployed, self.tenants),
            ),
            (
                "revisions registered vs changed services".to_owned(),
                format!(
                    "{} vs {} ({} extra)",
                    self.registered,
                    self.changed,
                    self.registered.saturating_sub(self.changed)
                ),
            ),
            ("locks left".to_owned(), self.locks_left.to_string()),
            ("secrets leaked".to_owned(), self.leaked.to_string()),
            ("panics".to_owned(), self.panics.to_string()),
            ("wall time".to_owned(), format!("{:.1}s", self.seconds)),
        ];
        let mut t = String::from("| measure | value |\n|---|---|\n");
        for (k, v) in rows {
            t.push_str(&format!("| {k} | {v} |\n"));
        }
        t
    }
}

/// Deploys a generated fleet through `rate` faults and checks the outcome; the table of figures
/// goes to stderr and, before any check can fail, to `report_to` if given.
fn deploy_through_faults(
    tenants: usize,
    services: usize,
    seed: u64,
    rate: f64,
    report_to: Option<&std::path::Path>,
) -> FaultRunFigures {
    let s = setup(tenants, services);
    let f = &s.fleet;
    let before = plan_actions(f);
    assert_eq!(before.keys().cloned().collect::<BTreeSet<_>>(), s.keys());
    let changed = before.values().filter(|a| *a != "unchanged").count();
    assert_eq!(
        changed,
        s.generated.size(),
        "every service changes: {before:?}"
    );

    let proxy = FaultProxy::start(emu().endpoint(), Config::mix(seed, rate, DELAY));
    let env = [("STAMP_ATTEMPT_TIMEOUT_MS", ATTEMPT_TIMEOUT_MS.to_string())];
    let started = Instant::now();
    let deploy = run(command(f, Some(&proxy.endpoint()), &env, &deploy_args(&[])));
    let seconds = started.elapsed().as_secs_f64();
    let report = proxy.report();
    eprintln!("{}", deploy.stderr);

    // Afterwards, read directly: every service runs what the repo says.
    let plan = plan_actions(f);
    let after = live(f);
    let left = locks_left(f);
    let rows = rows(&deploy);
    let j = deploy.json();
    let summary_retries: u64 = rows.values().filter_map(|r| r["retries"].as_u64()).sum();
    let figures = FaultRunFigures {
        tenants,
        services,
        seed,
        rate,
        stamp_calls: j["api_calls"]["operations"]
            .as_object()
            .map_or(0, |o| o.values().filter_map(Value::as_u64).sum()),
        stamp_retries: j["api_calls"]["retries"]
            .as_object()
            .map_or(0, |o| o.values().filter_map(Value::as_u64).sum()),
        summary_retries,
        exit: deploy.code,
        tenants_deployed: s
            .generated
            .tenants
            .iter()
            .filter(|t| {
                s.generated
                    .services
                    .iter()
                    .all(|sv| rows.get(&format!("{t}/{sv}")).map(result) == Some("deployed"))
            })
            .count(),
        changed,
        registered: after
            .values()
            .map(|l| l.revisions.len().saturating_sub(1))
            .sum(),
        locks_left: left.len(),
        leaked: leaks(&s.generated, &[&deploy.stdout, &deploy.stderr]),
        panics: panics(&[&deploy]),
        report,
        seconds,
    };
    eprintln!("{}", figures.table());
    if let Some(path) = report_to {
        std::fs::write(path, figures.table()).expect("write the report");
    }

    deploy.success();
    assert!(
        figures.report.total_faults() > 0,
        "the proxy injected nothing: {:?}",
        figures.report
    );
    assert_eq!(rows.keys().cloned().collect::<BTreeSet<_>>(), s.keys());
    for (key, row) in &rows {
        assert_eq!(result(row), "deployed", "{key}: {row}");
        assert_eq!(row["revision"], 2, "{key}: {row}");
        assert_eq!(row["previous_revision"], 1, "{key}: {row}");
        // A row's retries are the sum of what it names.
        let named: u64 = row["retried"]
            .as_object()
            .map_or(0, |o| o.values().filter_map(Value::as_u64).sum());
        assert_eq!(row["retries"].as_u64(), Some(named), "{key}: {row}");
    }
    for (key, action) in &plan {
        assert_eq!(action, "unchanged", "{key} after the deploy");
    }
    for (key, l) in &after {
        assert_eq!(
            l.revisions,
            vec![1, 2],
            "{key}: exactly one new revision, and it runs"
        );
        assert_eq!(l.revision, 2, "{key}");
    }
    assert_eq!(left, BTreeMap::new(), "no lock left");
    // Every fault made stamp retry (or, for a registration whose response was lost, find the
    // revision it had made); the summary says so.
    assert!(
        figures.summary_retries > 0,
        "faults were injected but no row reports a retry:\n{}",
        deploy.stdout
    );
    assert!(figures.stamp_retries >= figures.summary_retries);
    assert_eq!(figures.leaked, 0, "a secret value in stamp's output");
    figures
}

#[test]
fn a_fleet_deploys_exactly_once_through_ten_percent_faults() {
    deploy_through_faults(6, 3, seed(), 0.10, None);
}

/// The full-size run of issue 8: `scripts/fault-run` (seed, rate and size from the
/// environment) runs it and prints the table it writes.
#[test]
#[ignore = "minutes long; run by scripts/fault-run"]
fn twenty_by_three_at_ten_percent_faults() {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let seed = seed();
    let rate = get("STAMP_FAULT_RATE").map_or(0.10, |v| v.parse().expect("STAMP_FAULT_RATE"));
    let tenants = get("STAMP_FAULT_TENANTS").map_or(20, |v| v.parse().expect("tenants"));
    let services = get("STAMP_FAULT_SERVICES").map_or(3, |v| v.parse().expect("services"));
    let report = get("STAMP_FAULT_REPORT").map(std::path::PathBuf::from);
    deploy_through_faults(tenants, services, seed, rate, report.as_deref());
}

// ---- 1: writes whose response is lost --------------------------------------------------------

#[test]
fn a_write_whose_response_is_lost_is_not_done_twice() {
    let s = setup(1, 1);
    let f = &s.fleet;
    // The first request of each write reaches the emulator and is applied, then the
    // connection is reset: the lock is created and revision 2 registered, and stamp cannot
    // know. Retries (the SDK's for the lock, stamp's for RegisterTaskDefinition) must see that.
    let mut config = Config::mix(SEED, 1.0, DELAY);
    config.kinds = vec![Fault::ResetAfter];
    config.only = vec![
        "ssm:PutParameter".into(),
        "ecs:RegisterTaskDefinition".into(),
    ];
    config.per_op_limit = Some(1);
    let proxy = FaultProxy::start(emu().endpoint(), config);
    let deploy = run(command(f, Some(&proxy.endpoint()), &[], &deploy_args(&[])));
    deploy.success();
    let report = proxy.report();
    assert_eq!(report.faults_on("ssm:PutParameter"), 1, "{report:?}");
    assert_eq!(
        report.faults_on("ecs:RegisterTaskDefinition"),
        1,
        "{report:?}"
    );
    // One RegisterTaskDefinition went out: the lost one was found, not sent again.
    assert_eq!(
        report.calls_by_op.get("ecs:RegisterTaskDefinition"),
        Some(&1),
        "{report:?}"
    );
    let rows = rows(&deploy);
    let r = &rows["f00/svc0"];
    assert_eq!(result(r), "deployed", "{r}");
    assert_eq!(r["revision"], 2, "{r}");
    assert!(
        detail(r).contains("revision 2 was already registered; used it"),
        "{r}"
    );
    // The lock's create was retried by the SDK and recognised as ours.
    assert_eq!(r["retried"]["ssm:PutParameter"], 1, "{r}");
    let after = live(f);
    assert_eq!(after["f00/svc0"].revisions, vec![1, 2], "registered once");
    assert_eq!(after["f00/svc0"].revision, 2);
    assert_eq!(locks_left(f), BTreeMap::new());
}

/// A lock's create can take effect though every answer to it is lost; stamp then releases
/// what may be its lock. When that release fails too, the row says the lock may be left behind
/// (the randomized run below once found such a lock named nowhere), and a rerun with
/// `--force-unlock` takes it over.
#[test]
fn a_lock_left_by_a_failed_create_and_release_is_named_in_its_row() {
    let s = setup(1, 1);
    let f = &s.fleet;
    // Two attempts per call: both of the create reach the emulator (the first creates the
    // lock) and lose their answers, and so do both reads of the release.
    let mut config = Config::mix(SEED, 1.0, DELAY);
    config.kinds = vec![Fault::ResetAfter];
    config.only = vec!["ssm:PutParameter".into(), "ssm:GetParameter".into()];
    config.per_op_limit = Some(2);
    let proxy = FaultProxy::start(emu().endpoint(), config);
    let env = [("STAMP_MAX_ATTEMPTS", "2".to_owned())];
    let deploy = run(command(f, Some(&proxy.endpoint()), &env, &deploy_args(&[])));
    deploy.code(1);
    let report = proxy.report();
    assert_eq!(report.faults_on("ssm:PutParameter"), 2, "{report:?}");
    assert_eq!(report.faults_on("ssm:GetParameter"), 2, "{report:?}");
    let r = &rows(&deploy)["f00/svc0"];
    assert_eq!(result(r), "failed", "{r}");
    assert!(detail(r).contains("ssm:PutParameter"), "{r}");
    assert!(detail(r).contains("the lock may be left behind"), "{r}");
    assert!(
        lock_of(f, "f00", "svc0").is_some(),
        "the lock the row names is there"
    );

    let again = run(command(f, None, &[], &deploy_args(&["--force-unlock"])));
    again.success();
    assert_eq!(result(&rows(&again)["f00/svc0"]), "deployed");
    assert_eq!(locks_left(f), BTreeMap::new());
}

// ---- 1: faults that exhaust the retries -----------------------------------------------------

#[test]
fn when_faults_exhaust_the_retries_every_tenant_is_reported_with_its_reason_and_a_rerun_converges()
{
    let s = setup(6, 3);
    let f = &s.fleet;
    // 30% of all calls faulted and two attempts per call: a call fails for good one time in
    // eleven, so nearly every tenant fails somewhere, each at whatever step its luck runs out
    // (assuming its role, a lookup, the lock, registering, updating, waiting, rolling back).
    // The base identity call (the first) is spared, so the run starts and the failures are
    // the tenants'.
    let mut config = Config::mix(seed() ^ 0xE4, 0.3, DELAY);
    config.spare_first = 1;
    let proxy = FaultProxy::start(emu().endpoint(), config);
    let env = [
        ("STAMP_ATTEMPT_TIMEOUT_MS", ATTEMPT_TIMEOUT_MS.to_string()),
        ("STAMP_MAX_ATTEMPTS", "2".to_owned()),
    ];
    let deploy = run(command(
        f,
        Some(&proxy.endpoint()),
        &env,
        &deploy_args(&["--failure-tolerance", "100"]),
    ));
    eprintln!("{}\n{}", deploy.stdout, deploy.stderr);
    deploy.code(1);
    assert!(proxy.report().total_faults() > 0);
    let rows = rows(&deploy);
    assert_eq!(
        rows.keys().cloned().collect::<BTreeSet<_>>(),
        s.keys(),
        "every tenant service is in the summary"
    );
    let j = deploy.json();
    assert_eq!(j["ok"], false);
    let failed: Vec<&String> = rows
        .iter()
        .filter(|(_, r)| matches!(result(r), "failed" | "rolled-back" | "needs-human"))
        .map(|(k, _)| k)
        .collect();
    assert!(!failed.is_empty(), "{}", deploy.stdout);
    for key in &failed {
        let row = &rows[*key];
        let tenant = row["tenant"].as_str().unwrap_or("");
        let account = f.account(tenant);
        let d = detail(row);
        // Precise: the AWS operation, the tenant's role, and what went wrong.
        assert!(
            ["sts:", "ssm:", "ecs:", "application-autoscaling:"]
                .iter()
                .any(|op| d.contains(op)),
            "{key}: no operation in {d:?}"
        );
        assert!(
            d.contains(&format!("arn:aws:iam::{account}:role/stamp-deploy")),
            "{key}: no role in {d:?}"
        );
        assert!(
            [
                "Throttling",
                "HTTP 500",
                "HTTP 503",
                "ServerException",
                "InternalServerError",
                "InternalFailure",
                "ServiceUnavailable",
                "timed out",
                "connection",
                "could not be read",
            ]
            .iter()
            .any(|why| d.contains(why)),
            "{key}: no cause in {d:?}"
        );
    }
    // Nothing unreported: a service that runs the new revision says deployed (or says it may
    // be rolling out), a lock left behind is named in its row.
    let after = live(f);
    for (key, l) in &after {
        let row = &rows[key];
        if l.revision == 2 && result(row) != "deployed" {
            assert!(
                detail(row).contains("may have reached ECS")
                    || matches!(result(row), "needs-human" | "failed"),
                "{key} runs revision 2 but its row says {row}"
            );
        }
        assert!(l.revisions.len() <= 2, "{key}: {:?}", l.revisions);
    }
    for (lock, _) in locks_left(f) {
        let (tenant, name) = lock.split_once(": ").expect("tenant: name");
        let service = name.rsplit('/').next().unwrap_or("");
        let key = format!("{tenant}/{service}");
        assert!(
            detail(&rows[&key]).contains("lock"),
            "{lock} is left but its row does not say so: {}",
            rows[&key]
        );
    }
    assert_eq!(leaks(&s.generated, &[&deploy.stdout, &deploy.stderr]), 0);

    // Without faults, a re-run (taking whatever locks the failed run could not release)
    // converges, and registers nothing a failed attempt had registered already.
    let again = run(command(f, None, &[], &deploy_args(&["--force-unlock"])));
    again.success();
    for (key, row) in self::rows(&again) {
        assert!(
            matches!(result(&row), "deployed" | "unchanged"),
            "{key}: {row}"
        );
    }
    for (key, l) in live(f) {
        assert_eq!(l.revisions, vec![1, 2], "{key}: no duplicate revision");
        assert_eq!(l.revision, 2, "{key}");
    }
    assert!(plan_actions(f).values().all(|a| a == "unchanged"));
    assert_eq!(locks_left(f), BTreeMap::new());
}

// ---- 2: killed mid-deploy -------------------------------------------------------------------

#[test]
fn a_deploy_killed_while_waiting_on_rollouts_is_converged_by_a_rerun_that_names_its_locks() {
    // One wave: every tenant is mid-rollout when the run dies.
    let s = seeded(genfleet::generate_one_wave(3, 2));
    let f = &s.fleet;
    // A long poll interval: after its first poll every rollout waits, and the run with it.
    let bg = Background::start(command(
        f,
        None,
        &[],
        // One service at a time, so that svc1 has not started when the run dies.
        &deploy_args(&[
            "--poll-interval",
            "60s",
            "--failure-tolerance",
            "10",
            "--service-concurrency",
            "1",
        ]),
    ));
    let first: Vec<String> = s
        .generated
        .tenants
        .iter()
        .map(|t| format!("{t}/svc0"))
        .collect();
    wait_until(
        "every tenant's svc0 is waiting on its rollout",
        Duration::from_secs(60),
        || bg.stderr(),
        || {
            let err = bg.stderr();
            first
                .iter()
                .all(|k| err.contains(&format!("{k}: IN_PROGRESS")))
        },
    );
    let stderr = bg.kill9();
    assert!(!stderr.contains("panicked"), "{stderr}");

    // What the killed run left: svc0 locked, its journal saying 1 → 2; svc1 never started.
    let mut killed_run = String::new();
    for t in &s.generated.tenants {
        let lock = lock_of(f, t, "svc0").unwrap_or_else(|| panic!("{t}/svc0 is still locked"));
        assert_eq!(lock["rollout"]["from_revision"], 1, "{lock}");
        assert_eq!(lock["rollout"]["to_revision"], 2, "{lock}");
        killed_run = lock["run_id"].as_str().expect("run_id").to_owned();
        assert!(lock_of(f, t, "svc1").is_none());
    }

    // Re-run without --force-unlock: the killed run's live locks stop svc0, with who held them
    // and what they had started; svc1 deploys.
    let blocked = run(command(
        f,
        None,
        &[],
        &deploy_args(&["--failure-tolerance", "10"]),
    ));
    blocked.code(1);
    let rows1 = rows(&blocked);
    for t in &s.generated.tenants {
        let r = &rows1[&format!("{t}/svc0")];
        assert_eq!(result(r), "failed", "{r}");
        for needle in [
            "locked by",
            killed_run.as_str(),
            "started rolling out revision 2 over 1",
            "--force-unlock",
        ] {
            assert!(detail(r).contains(needle), "{needle:?} not in {r}");
        }
        assert_eq!(result(&rows1[&format!("{t}/svc1")]), "deployed");
    }

    // With --force-unlock: the killed run's rollouts have completed meanwhile, so svc0 is
    // unchanged, and its lock is removed and named.
    let forced = run(command(f, None, &[], &deploy_args(&["--force-unlock"])));
    forced.success();
    let rows2 = rows(&forced);
    for t in &s.generated.tenants {
        let r = &rows2[&format!("{t}/svc0")];
        assert_eq!(result(r), "unchanged", "{r}");
        assert_eq!(r["revision"], 2, "{r}");
        for needle in [
            "removed the forced lock of",
            killed_run.as_str(),
            "started rolling out revision 2 over 1",
        ] {
            assert!(detail(r).contains(needle), "{needle:?} not in {r}");
        }
        assert_eq!(result(&rows2[&format!("{t}/svc1")]), "unchanged");
    }
    for (key, l) in live(f) {
        assert_eq!(l.revisions, vec![1, 2], "{key}: no duplicate revision");
        assert_eq!(l.revision, 2, "{key}");
    }
    assert!(plan_actions(f).values().all(|a| a == "unchanged"));
    assert_eq!(locks_left(f), BTreeMap::new());
}

#[test]
fn a_deploy_killed_between_register_and_update_is_resumed_with_the_revision_it_registered() {
    let s = setup(1, 1);
    let f = &s.fleet;
    // UpdateService goes nowhere: stamp has registered revision 2 and journaled it, and waits.
    let mut config = Config::mix(SEED, 1.0, Duration::from_secs(60));
    config.kinds = vec![Fault::Blackhole];
    config.only = vec!["ecs:UpdateService".into()];
    let proxy = FaultProxy::start(emu().endpoint(), config);
    let bg = Background::start(command(
        f,
        Some(&proxy.endpoint()),
        &[("STAMP_ATTEMPT_TIMEOUT_MS", "60000".to_owned())],
        &deploy_args(&[]),
    ));
    wait_until(
        "UpdateService was sent",
        Duration::from_secs(60),
        || bg.stderr(),
        || {
            proxy
                .report()
                .calls_by_op
                .get("ecs:UpdateService")
                .is_some_and(|n| *n > 0)
        },
    );
    bg.kill9();
    let before = live(f);
    let key = "f00/svc0";
    assert_eq!(before[key].revisions, vec![1, 2], "registered");
    assert_eq!(before[key].revision, 1, "not deployed");
    let lock = lock_of(f, "f00", "svc0").expect("the killed run's lock");
    assert_eq!(lock["rollout"]["to_revision"], 2, "{lock}");
    let killed_run = lock["run_id"].as_str().expect("run_id").to_owned();

    let again = run(command(f, None, &[], &deploy_args(&["--force-unlock"])));
    again.success();
    let rows = rows(&again);
    let r = &rows[key];
    assert_eq!(result(r), "deployed", "{r}");
    assert_eq!(r["revision"], 2, "{r}");
    assert_eq!(r["previous_revision"], 1, "{r}");
    for needle in [
        "forced the lock of",
        killed_run.as_str(),
        "started rolling out revision 2 over 1",
        "revision 2 was already registered; used it",
    ] {
        assert!(detail(r).contains(needle), "{needle:?} not in {r}");
    }
    let after = live(f);
    assert_eq!(after[key].revisions, vec![1, 2], "no second registration");
    assert_eq!(after[key].revision, 2);
    assert_eq!(locks_left(f), BTreeMap::new());
}

// ---- 3: rollouts that never finish, rollbacks that fail -------------------------------------

#[test]
fn a_rollout_that_never_finishes_times_out_and_is_rolled_back() {
    let s = setup(1, 1);
    let f = &s.fleet;
    let t = f.tenant("f00").clone();
    emu().hang_next_rollout(&t.account_id, &t.region, &t.cluster, "svc0");
    let started = Instant::now();
    let deploy = run(command(
        f,
        None,
        &[],
        &[
            "deploy",
            "--all",
            "--yes",
            "--allow-dirty",
            "--poll-interval",
            "100ms",
            "--timeout",
            "2s",
        ],
    ));
    let elapsed = started.elapsed();
    deploy.code(1);
    assert!(
        elapsed < Duration::from_secs(30),
        "ended {elapsed:?} after a 2s timeout"
    );
    // The text summary: one row, rolled back, saying why.
    let line = deploy
        .stdout
        .lines()
        .find(|l| l.starts_with("f00"))
        .unwrap_or_else(|| panic!("no f00 row:\n{}", deploy.stdout));
    for needle in [
        "svc0",
        "rolled-back",
        "revision 2 failed: rollout did not complete within 2s",
        "revision 1 runs again",
    ] {
        assert!(line.contains(needle), "{needle:?} not in {line:?}");
    }
    deploy.stderr_has(&["rolling back to revision 1"]);
    let after = live(f);
    assert_eq!(after["f00/svc0"].revision, 1, "revision 1 runs again");
    assert_eq!(after["f00/svc0"].revisions, vec![1, 2]);
    assert_eq!(locks_left(f), BTreeMap::new());
}

#[test]
fn a_rollback_that_fails_too_needs_a_human_with_tenant_service_and_both_revisions() {
    let s = setup(1, 1);
    let f = &s.fleet;
    let t = f.tenant("f00").clone();
    // The deploy's rollout fails, and so does the rollback's.
    emu().fail_next_rollouts(&t.account_id, &t.region, &t.cluster, "svc0", 2);
    let deploy = run(command(f, None, &[], &deploy_args(&[])));
    deploy.code(1);
    deploy.stderr_has(&["f00/svc0: NEEDS A HUMAN"]);
    let j = deploy.json();
    assert_eq!(j["ok"], false);
    assert_eq!(j["counts"]["needs-human"], 1);
    let rows = rows(&deploy);
    let r = &rows["f00/svc0"];
    assert_eq!(result(r), "needs-human", "{r}");
    assert_eq!(r["tenant"], "f00");
    assert_eq!(r["service"], "svc0");
    assert_eq!(r["revision"], 2, "{r}");
    assert_eq!(r["previous_revision"], 1, "{r}");
    for needle in [
        "revision 2 failed",
        "the rollback to revision 1 failed too",
        "circuit breaker",
        "a person must check",
    ] {
        assert!(detail(r).contains(needle), "{needle:?} not in {r}");
    }
    assert_eq!(locks_left(f), BTreeMap::new());
}
