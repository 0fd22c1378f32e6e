//! The local AWS harness for tests: moto server processes (shared or dedicated), fresh tenant
//! accounts per test, the scrubbed environment for child processes, and SDK readback helpers.
//!
//! Isolation model: one shared server per test binary, and every test seeds its own fleet into
//! brand-new 12-digit accounts (`fresh_fleet`), so tests run in parallel without seeing each
//! other and nothing is ever reset. `POST /moto-api/reset` wipes the whole server, so it is
//! only offered on dedicated instances (`Emulator::reset`). IAM enforcement is global to a
//! server process too, hence `Emulator::dedicated()` for those tests.

#![allow(dead_code)] // each test module uses a different subset of the harness

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::config::{Credentials, SharedCredentialsProvider};

/// The account moto puts requests in when the access key is unknown; the seeded roles trust it.
pub const BASE_ACCOUNT: &str = "123456789012";
/// Region of the base credentials; tenant regions come from the fleet.
pub const BASE_REGION: &str = "us-east-1";
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Access keys for the base account (throwaway, or the enforced IAM user's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// One moto server process with stamp's extensions (`emulator/stamp_moto`).
pub struct Emulator {
    endpoint: String,
    port: u16,
    base: RwLock<BaseCredentials>,
    python: PathBuf,
    log: PathBuf,
    dedicated: bool,
    /// Held, never written: when this process dies the pipe closes and the server exits.
    stdin: Mutex<Option<ChildStdin>>,
    child: Mutex<Option<Child>>,
    _state: tempfile::TempDir,
}

/// A seeded copy of a fleet living in fresh accounts; the copy is deleted on drop.
pub struct Fleet {
    dir: tempfile::TempDir,
    /// tenant name -> account id (the fresh one)
    pub accounts: BTreeMap<String, String>,
    /// tenant name -> what the seeding created
    pub tenants: BTreeMap<String, SeededTenant>,
    /// the params file with rewritten account keys
    pub params: PathBuf,
}

#[derive(Clone, Debug, serde::Deserialize)]
pub struct SeededTenant {
    pub account_id: String,
    pub region: String,
    pub cluster: String,
    pub parameters: usize,
    pub services: BTreeMap<String, SeededService>,
}

#[derive(Clone, Debug, serde::Deserialize)]
pub struct SeededService {
    pub ecs_service: String,
    pub task_definition: String,
}

/// The releases the tests deploy with `--release`, pushed to the fleet's ECR repository by
/// every seed (besides the seed's own and those the tenant files name): deploy's preflight
/// refuses a release whose image is not there. A release missing from the registry is
/// `MISSING_RELEASE`.
pub const PUSHED_RELEASES: [&str; 12] = [
    "v1.43.0", "v1.50.0", "v1.51.0", "v1.52.0", "v1.53.0", "v1.54.0", "v1.55.0", "v1.56.0",
    "v1.57.0", "v1.58.0", "v1.59.0", "v1.60.0",
];
pub const MISSING_RELEASE: &str = "v9.9.9-never-pushed";

/// What to seed in `fresh_fleet_with`.
#[derive(Clone, Debug)]
pub struct SeedOptions {
    /// `None` = every tenant of the fleet.
    pub tenants: Option<Vec<String>>,
    /// Create clusters' services (and their first task definition revision).
    pub services: bool,
}

impl Default for SeedOptions {
    fn default() -> Self {
        Self {
            tenants: None,
            services: true,
        }
    }
}

/// A service as DescribeServices reports it, reduced to what tests assert on.
#[derive(Clone, Debug)]
pub struct ServiceView {
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub deployments: Vec<DeploymentView>,
    /// rolloutState of the PRIMARY deployment
    pub rollout_state: Option<String>,
    pub rollout_reason: Option<String>,
    /// newest first
    pub events: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct DeploymentView {
    pub id: String,
    pub status: String,
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    pub failed_tasks: i32,
    pub rollout_state: Option<String>,
    pub rollout_reason: Option<String>,
}

/// Credentials the emulator issued for an assumed role.
#[derive(Clone, Debug)]
pub struct IssuedCredential {
    pub role_arn: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

/// An SSM parameter's metadata; the value only for plaintext types (never SecureString).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamView {
    pub name: String,
    pub kind: String,
    pub version: i64,
    pub value: Option<String>,
}

impl Emulator {
    /// The server shared by every test of this binary, started on first use.
    pub fn shared() -> &'static Emulator {
        static SHARED: OnceLock<Emulator> = OnceLock::new();
        SHARED.get_or_init(|| Emulator::start(false))
    }

    /// A server of its own (for IAM enforcement or reset), stopped when dropped.
    pub fn dedicated() -> Emulator {
        Emulator::start(true)
    }

    fn start(dedicated: bool) -> Emulator {
        let root = repo_root();
        let script = root.join("scripts/emulator");
        // Installs moto on a fresh machine; a no-op (marker check) afterwards.
        run_checked(
            Command::new(&script).arg("install"),
            "scripts/emulator install",
        );
        let venv = run_checked(Command::new(&script).arg("venv"), "scripts/emulator venv");
        let python = PathBuf::from(venv.trim()).join("bin/python");

        let state = tempfile::Builder::new()
            .prefix("stamp-emulator-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("create emulator state dir");
        let port_file = state.path().join("port");
        let log = state.path().join("server.log");
        let log_file = std::fs::File::create(&log).expect("create emulator log");
        let mut cmd = Command::new(&python);
        cmd.args([
            "-m",
            "stamp_moto.server",
            "--port",
            "0",
            "--watch-stdin",
            "--port-file",
        ])
        .arg(&port_file)
        .stdin(Stdio::piped())
        .stdout(log_file.try_clone().expect("clone log handle"))
        .stderr(log_file);
        if !dedicated {
            // Never dropped (it lives in a static): the server deletes the dir when it exits.
            cmd.arg("--cleanup-dir").arg(state.path());
        }
        scrub_aws_env(&mut cmd);
        cmd.env("PYTHONPATH", root.join("emulator"));
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", python.display()));
        let stdin = child.stdin.take();

        let port = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file)
                && let Ok(port) = text.trim().parse::<u16>()
            {
                break port;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "emulator exited during start ({status}); log tail:\n{}",
                    tail(&log)
                );
            }
            if started.elapsed() > START_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "emulator did not answer within {}s; log tail:\n{}",
                    START_TIMEOUT.as_secs(),
                    tail(&log)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Emulator {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            base: RwLock::new(throwaway_credentials()),
            python,
            log,
            dedicated,
            stdin: Mutex::new(stdin),
            child: Mutex::new(Some(child)),
            _state: state,
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The console federation endpoint this server stands in for (`STAMP_SIGNIN_ENDPOINT`).
    pub fn signin_endpoint(&self) -> String {
        format!("{}/federation", self.endpoint)
    }

    /// The venv's Python, which has boto3 (moto depends on it): the AWS SDK a tool would use.
    pub fn python(&self) -> &Path {
        &self.python
    }

    /// Turns the emulator's answer check on or off (`POST /stamp-control/check-answers`): while
    /// on, every answer is written both by `speed.py`'s JSON writer and by moto's.
    pub fn check_answers(&self, on: bool) {
        let body = serde_json::json!({ "on": on }).to_string();
        let (status, text) =
            self.http_post("/stamp-control/check-answers", "application/json", &body);
        assert_eq!(status, 200, "POST /stamp-control/check-answers: {text}");
    }

    /// What the answer check found since it was turned on: `{"operations", "total", "different"}`.
    pub fn checked_answers(&self) -> serde_json::Value {
        self.get_json("/stamp-control/check-answers")
    }

    /// What the federation endpoint accepted (`GET /stamp-control/signins`): per sign-in token,
    /// the access key id, role ARN, session ARN and SessionDuration (never a secret).
    pub fn signins(&self) -> Vec<serde_json::Value> {
        let v = self.get_json("/stamp-control/signins");
        v["signins"].as_array().cloned().unwrap_or_default()
    }

    /// `GET` a URL of this server (path and query), returning the raw response (head and body).
    pub fn get(&self, path_and_query: &str) -> (u16, String) {
        self.http("GET", path_and_query, "text/plain", "")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The credentials child processes and `sdk_config_for` start from.
    pub fn base_credentials(&self) -> BaseCredentials {
        self.base.read().expect("base credentials lock").clone()
    }

    /// The environment every child process gets. Together with `command`, which removes every
    /// inherited `AWS_*` variable first, nothing started by the harness can reach real AWS.
    pub fn env(&self) -> Vec<(String, String)> {
        let base = self.base_credentials();
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_REGION", BASE_REGION),
            ("AWS_DEFAULT_REGION", BASE_REGION),
            ("AWS_ACCESS_KEY_ID", base.access_key_id.as_str()),
            ("AWS_SECRET_ACCESS_KEY", base.secret_access_key.as_str()),
            ("AWS_CONFIG_FILE", "/dev/null"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// `bin` with the scrubbed AWS environment of `env()`.
    pub fn command(&self, bin: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(bin);
        scrub_aws_env(&mut cmd);
        cmd.envs(self.env());
        cmd
    }

    /// `stamp --root ROOT` with this server's environment and no stdin: the way a person runs
    /// it against the emulator. Arguments and more environment are the caller's.
    pub fn stamp(&self, root: &Path) -> Command {
        let mut cmd = self.command(env!("CARGO_BIN_EXE_stamp"));
        cmd.arg("--root").arg(root).stdin(Stdio::null());
        cmd
    }

    /// Copy `template_fleet_dir` (its `tenants/` and `templates/`) to a temp dir, move every
    /// tenant to a new unique account, and seed it with `params_json` (accounts rewritten too).
    pub fn fresh_fleet(&self, template_fleet_dir: &Path, params_json: &Path) -> Fleet {
        self.fresh_fleet_with(template_fleet_dir, params_json, &SeedOptions::default())
    }

    pub fn fresh_fleet_with(
        &self,
        template_fleet_dir: &Path,
        params_json: &Path,
        opts: &SeedOptions,
    ) -> Fleet {
        let dir = tempfile::Builder::new()
            .prefix("stamp-fleet-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("create fleet dir");
        copy_dir(
            &template_fleet_dir.join("templates"),
            &dir.path().join("templates"),
        );
        std::fs::create_dir_all(dir.path().join("tenants")).expect("create tenants dir");

        let mut old_to_new: BTreeMap<String, String> = BTreeMap::new();
        let mut accounts = BTreeMap::new();
        let tenants_dir = template_fleet_dir.join("tenants");
        let mut entries: Vec<_> = std::fs::read_dir(&tenants_dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", tenants_dir.display()))
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        entries.sort();
        for path in entries {
            let text = std::fs::read_to_string(&path).expect("read tenant file");
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let stem = name.trim_end_matches(".toml").to_owned();
            let out = if stem.starts_with('_') {
                text
            } else {
                let doc: toml::Table = toml::from_str(&text)
                    .unwrap_or_else(|e| panic!("parse {}: {e}", path.display()));
                let old = doc
                    .get("tenant")
                    .and_then(|t| t.get("account_id"))
                    .and_then(|a| a.as_str())
                    .unwrap_or_else(|| panic!("{} has no [tenant] account_id", path.display()))
                    .to_owned();
                let new = old_to_new
                    .entry(old.clone())
                    .or_insert_with(unique_account)
                    .clone();
                accounts.insert(stem, new.clone());
                // Text replacement keeps comments and layout; the quoted id appears once.
                text.replace(&format!("\"{old}\""), &format!("\"{new}\""))
            };
            std::fs::write(dir.path().join("tenants").join(&name), out).expect("write tenant file");
        }

        let params_text = std::fs::read_to_string(params_json)
            .unwrap_or_else(|e| panic!("read {}: {e}", params_json.display()));
        let params: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&params_text).expect("params file is a JSON object");
        // Accounts no tenant uses are dropped: they would land in accounts other tests may see.
        let rewritten: serde_json::Map<_, _> = params
            .into_iter()
            .filter_map(|(acct, v)| old_to_new.get(&acct).map(|new| (new.clone(), v)))
            .collect();
        let params_path = dir.path().join("params.json");
        std::fs::write(
            &params_path,
            serde_json::to_vec_pretty(&rewritten).expect("serialise params"),
        )
        .expect("write params");

        let tenants = self.seed(dir.path(), &params_path, opts);
        Fleet {
            dir,
            accounts,
            tenants,
            params: params_path,
        }
    }

    /// Seed `fleet_dir` as it is (no account rewriting); returns the seeding summary.
    pub fn seed(
        &self,
        fleet_dir: &Path,
        params: &Path,
        opts: &SeedOptions,
    ) -> BTreeMap<String, SeededTenant> {
        let mut cmd = self.python_command();
        cmd.args([
            "-m",
            "stamp_moto.seed",
            "--endpoint",
            &self.endpoint,
            "--fleet",
        ])
        .arg(fleet_dir)
        .arg("--params")
        .arg(params);
        if let Some(t) = &opts.tenants {
            cmd.arg("--tenants").arg(t.join(","));
        }
        if !opts.services {
            cmd.arg("--no-services");
        }
        cmd.arg("--image-tags").arg(PUSHED_RELEASES.join(","));
        let out = run_checked(&mut cmd, "stamp_moto.seed");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("seed summary: {e}\n{out}"))
    }

    fn python_command(&self) -> Command {
        let mut cmd = self.command(&self.python);
        cmd.env("PYTHONPATH", repo_root().join("emulator"));
        cmd
    }

    /// Client config for `role` in `account`, reached by AssumeRole from the base credentials.
    pub async fn sdk_config_for(&self, account: &str, region: &str, role: &str) -> SdkConfig {
        self.sdk_config_with(account, region, role, 3).await
    }

    /// As `sdk_config_for`, with `max_attempts` (1 = no retries, for call-counting tests).
    pub async fn sdk_config_with(
        &self,
        account: &str,
        region: &str,
        role: &str,
        max_attempts: u32,
    ) -> SdkConfig {
        let sts = aws_sdk_sts::Client::new(&self.base_config(BASE_REGION));
        let arn = format!("arn:aws:iam::{account}:role/{role}");
        let out = sts
            .assume_role()
            .role_arn(&arn)
            .role_session_name("stamp-test")
            .send()
            .await
            .unwrap_or_else(|e| panic!("assume {arn}: {e:?}"));
        let c = out.credentials().expect("AssumeRole returns credentials");
        let creds = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "stamp-emulator-assumed",
        );
        self.config(creds, region, max_attempts)
    }

    /// Client config with the base credentials themselves (base account 123456789012).
    pub fn base_config(&self, region: &str) -> SdkConfig {
        let b = self.base_credentials();
        let creds = Credentials::new(
            b.access_key_id,
            b.secret_access_key,
            None,
            None,
            "stamp-emulator-base",
        );
        self.config(creds, region, 1)
    }

    fn config(&self, creds: Credentials, region: &str, max_attempts: u32) -> SdkConfig {
        // Built by hand, not with aws_config::defaults: nothing from the environment, profiles
        // or IMDS may leak in, and the endpoint is always this server.
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(SharedCredentialsProvider::new(creds))
            .retry_config(RetryConfig::standard().with_max_attempts(max_attempts))
            .build()
    }

    /// The next rollout of that service fails (circuit breaker), whatever its images.
    pub fn fail_next_rollout(&self, account: &str, region: &str, cluster: &str, service: &str) {
        self.control("fail-next-rollout", account, region, cluster, service, 1);
    }

    /// The next `times` rollouts of that service fail: with 2, a rollback fails too.
    pub fn fail_next_rollouts(
        &self,
        account: &str,
        region: &str,
        cluster: &str,
        service: &str,
        times: u32,
    ) {
        self.control(
            "fail-next-rollout",
            account,
            region,
            cluster,
            service,
            times,
        );
    }

    /// The CloudWatch alarm `alarm` of that account and region goes to ALARM when the service's
    /// next rollout starts (the emulator's rollout hook: no race with the client's polls).
    pub fn alarm_on_next_rollout(
        &self,
        account: &str,
        region: &str,
        cluster: &str,
        service: &str,
        alarm: &str,
    ) {
        let body = serde_json::json!({
            "account_id": account, "region": region, "cluster": cluster, "service": service,
            "alarm": alarm,
        })
        .to_string();
        let (status, text) = self.http_post(
            "/stamp-control/alarm-on-next-rollout",
            "application/json",
            &body,
        );
        assert_eq!(
            status, 200,
            "POST /stamp-control/alarm-on-next-rollout: {text}"
        );
    }

    /// The next rollout of that service stays IN_PROGRESS forever.
    pub fn hang_next_rollout(&self, account: &str, region: &str, cluster: &str, service: &str) {
        self.control("hang-next-rollout", account, region, cluster, service, 1);
    }

    /// The next RunTask in that cluster starts no task and answers `failures: [{reason}]`.
    pub fn fail_next_run_task(&self, account: &str, region: &str, cluster: &str, reason: &str) {
        let body = serde_json::json!({
            "account_id": account, "region": region, "cluster": cluster, "reason": reason,
        })
        .to_string();
        let (status, text) = self.http_post(
            "/stamp-control/fail-next-run-task",
            "application/json",
            &body,
        );
        assert_eq!(
            status, 200,
            "POST /stamp-control/fail-next-run-task: {text}"
        );
    }

    fn control(
        &self,
        what: &str,
        account: &str,
        region: &str,
        cluster: &str,
        service: &str,
        times: u32,
    ) {
        let body = serde_json::json!({
            "account_id": account, "region": region, "cluster": cluster, "service": service,
            "times": times,
        })
        .to_string();
        let (status, text) =
            self.http_post(&format!("/stamp-control/{what}"), "application/json", &body);
        assert_eq!(status, 200, "POST /stamp-control/{what}: {text}");
    }

    /// Create the base IAM user, switch enforcement on, and make its keys the base credentials
    /// (so `env()`/`command()`/`sdk_config_for` use them). Dedicated instances only: enforcement
    /// is global to the server process.
    pub fn enforce_iam(&self) -> BaseCredentials {
        self.enforce_iam_with(false).0
    }

    /// As `enforce_iam`, and also a second base-account user allowed only
    /// sts:GetCallerIdentity: a base identity that cannot assume any role. Returns both.
    pub fn enforce_iam_with_a_user_that_cannot_assume(&self) -> (BaseCredentials, BaseCredentials) {
        let (base, no_assume) = self.enforce_iam_with(true);
        (
            base,
            no_assume.expect("enforce --no-assume-user prints NoAssume"),
        )
    }

    fn enforce_iam_with(&self, no_assume: bool) -> (BaseCredentials, Option<BaseCredentials>) {
        assert!(
            self.dedicated,
            "enforce_iam() needs Emulator::dedicated(): it is server-wide"
        );
        let mut cmd = self.python_command();
        cmd.args([
            "-m",
            "stamp_moto.iam",
            "enforce",
            "--endpoint",
            &self.endpoint,
        ]);
        if no_assume {
            cmd.arg("--no-assume-user");
        }
        let out = run_checked(&mut cmd, "stamp_moto.iam enforce");
        let v: serde_json::Value = serde_json::from_str(&out).expect("enforce prints JSON");
        let keys = |v: &serde_json::Value| BaseCredentials {
            access_key_id: v["AccessKeyId"].as_str().expect("AccessKeyId").to_owned(),
            secret_access_key: v["SecretAccessKey"]
                .as_str()
                .expect("SecretAccessKey")
                .to_owned(),
        };
        let creds = keys(&v);
        *self.base.write().expect("base credentials lock") = creds.clone();
        (creds, v.get("NoAssume").map(keys))
    }

    /// Creates, before enforcement, a role `name` in `account` that the base identity may
    /// assume, allowed exactly `actions` (e.g. a role that may not read).
    pub fn create_role(&self, account: &str, name: &str, actions: &[&str]) {
        let mut cmd = self.python_command();
        cmd.args(["-m", "stamp_moto.iam", "role", "--endpoint", &self.endpoint])
            .args(["--account", account, "--name", name, "--actions"])
            .arg(actions.join(","));
        run_checked(&mut cmd, "stamp_moto.iam role");
    }

    /// Replaces role `name`'s policy in `account` with exactly `actions` (on `"*"`), acting as
    /// the role `admin` (made with `create_role(account, admin, &["*"])` before enforcement):
    /// works while IAM is enforced.
    pub fn set_role_policy(&self, account: &str, name: &str, actions: &[&str], admin: &str) {
        let mut cmd = self.python_command();
        cmd.args([
            "-m",
            "stamp_moto.iam",
            "policy",
            "--endpoint",
            &self.endpoint,
        ])
        .args([
            "--account",
            account,
            "--name",
            name,
            "--admin",
            admin,
            "--actions",
        ])
        .arg(actions.join(","));
        run_checked(&mut cmd, "stamp_moto.iam policy");
    }

    /// Wipe every account of the server. Dedicated instances only: on the shared server it
    /// would delete other tests' fleets mid-run.
    pub fn reset(&self) {
        assert!(
            self.dedicated,
            "reset() needs Emulator::dedicated(): it wipes the whole server"
        );
        let (status, text) = self.http_post("/moto-api/reset", "application/json", "");
        assert_eq!(status, 200, "POST /moto-api/reset: {text}");
    }

    /// The server's log so far (stdout and stderr), for failure messages.
    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }

    /// Every credential the server has handed out through AssumeRole, from moto's own record
    /// (`GET /moto-api/data.json`): exactly what stamp received, for tests that check none
    /// of it is ever printed.
    pub fn issued_credentials(&self) -> Vec<IssuedCredential> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to emulator");
        // moto serialises every model of every account: slow on a busy server.
        s.set_read_timeout(Some(Duration::from_secs(180)))
            .expect("set timeout");
        write!(
            s,
            "GET /moto-api/data.json HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.port
        )
        .expect("write request");
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).expect("read response");
        let resp = String::from_utf8_lossy(&resp);
        let body = resp
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or_else(|| panic!("malformed HTTP response: {resp}"));
        let data: serde_json::Value =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("moto-api data: {e}"));
        data["sts"]["AssumedRole"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let field = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
                IssuedCredential {
                    role_arn: field("role_arn"),
                    access_key_id: field("access_key_id"),
                    secret_access_key: field("secret_access_key"),
                    session_token: field("session_token"),
                }
            })
            .collect()
    }

    /// Minimal HTTP/1.1 POST: enough for the control endpoints without an HTTP client crate.
    /// The AWS requests the server received since the last reset, by `service:Operation`.
    /// Server-wide: only meaningful on a dedicated instance.
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        self.get_json("/stamp-control/requests")["operations"]
            .as_object()
            .expect("operations")
            .iter()
            .map(|(k, n)| (k.clone(), n.as_u64().expect("count")))
            .collect()
    }

    /// The most AWS requests that waited out the simulated latency at once since the last
    /// reset: 2 or more shows the server handles requests side by side.
    pub fn waiting_max(&self) -> u64 {
        self.get_json("/stamp-control/requests")["waiting_max"]
            .as_u64()
            .expect("waiting_max")
    }

    /// TCP connections clients opened since the last reset (not counting the one this asks on).
    pub fn connections(&self) -> u64 {
        let opened = self.get_json("/stamp-control/requests")["connections"]
            .as_u64()
            .expect("connections");
        opened - 1
    }

    /// The JSON body of `GET path` on this server's control endpoints (asserting a 200).
    fn get_json(&self, path: &str) -> serde_json::Value {
        let (status, text) = self.http("GET", path, "application/json", "");
        assert_eq!(status, 200, "GET {path}: {text}");
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
        serde_json::from_str(body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {text}"))
    }

    pub fn reset_request_counts(&self) {
        let (status, text) =
            self.http_post("/stamp-control/requests/reset", "application/json", "{}");
        assert_eq!(status, 200, "POST /stamp-control/requests/reset: {text}");
    }

    /// Simulated latency added to every AWS request (server-wide: dedicated instances only).
    pub fn set_latency_ms(&self, ms: u64) {
        assert!(
            self.dedicated,
            "set_latency_ms() needs Emulator::dedicated(): it is server-wide"
        );
        let body = format!("{{\"ms\": {ms}}}");
        let (status, text) = self.http_post("/stamp-control/latency", "application/json", &body);
        assert_eq!(status, 200, "POST /stamp-control/latency: {text}");
    }

    fn http_post(&self, path: &str, content_type: &str, body: &str) -> (u16, String) {
        self.http("POST", path, content_type, body)
    }

    fn http(&self, method: &str, path: &str, content_type: &str, body: &str) -> (u16, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to emulator");
        // Generous: a loaded 2-core CI machine can starve the server's threads for a while.
        s.set_read_timeout(Some(Duration::from_secs(120)))
            .expect("set timeout");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        )
        .expect("write request");
        let resp = read_response(&mut s)
            .unwrap_or_else(|e| panic!("{method} {path}: no answer from the emulator: {e}"));
        let status = resp
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("malformed HTTP response: {resp}"));
        (status, resp)
    }

    // ---- readback -------------------------------------------------------------------------

    /// Revision numbers of a task definition family, ascending.
    pub async fn task_definition_revisions(&self, cfg: &SdkConfig, family: &str) -> Vec<i32> {
        let ecs = aws_sdk_ecs::Client::new(cfg);
        let mut revs = Vec::new();
        let mut next = None;
        loop {
            let out = ecs
                .list_task_definitions()
                .family_prefix(family)
                .set_next_token(next)
                .send()
                .await
                .unwrap_or_else(|e| panic!("ListTaskDefinitions {family}: {e:?}"));
            for arn in out.task_definition_arns() {
                let (fam, rev) = arn
                    .rsplit('/')
                    .next()
                    .and_then(|s| s.rsplit_once(':'))
                    .expect("td arn");
                if fam == family {
                    revs.push(rev.parse().expect("revision number"));
                }
            }
            next = out.next_token().map(str::to_owned);
            if next.is_none() {
                break;
            }
        }
        revs.sort_unstable();
        revs
    }

    /// DescribeServices for one service (note: every call advances a simulated rollout).
    pub async fn describe_service(
        &self,
        cfg: &SdkConfig,
        cluster: &str,
        service: &str,
    ) -> ServiceView {
        let ecs = aws_sdk_ecs::Client::new(cfg);
        let out = ecs
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeServices {cluster}/{service}: {e:?}"));
        let s = out
            .services()
            .first()
            .unwrap_or_else(|| panic!("no service {cluster}/{service}: {:?}", out.failures()));
        let deployments: Vec<DeploymentView> = s
            .deployments()
            .iter()
            .map(|d| DeploymentView {
                id: d.id().unwrap_or_default().to_owned(),
                status: d.status().unwrap_or_default().to_owned(),
                task_definition: d.task_definition().unwrap_or_default().to_owned(),
                desired: d.desired_count(),
                running: d.running_count(),
                failed_tasks: d.failed_tasks(),
                rollout_state: d.rollout_state().map(|r| r.as_str().to_owned()),
                rollout_reason: d.rollout_state_reason().map(str::to_owned),
            })
            .collect();
        let primary = deployments.iter().find(|d| d.status == "PRIMARY");
        ServiceView {
            task_definition: s.task_definition().unwrap_or_default().to_owned(),
            desired: s.desired_count(),
            running: s.running_count(),
            pending: s.pending_count(),
            rollout_state: primary.and_then(|d| d.rollout_state.clone()),
            rollout_reason: primary.and_then(|d| d.rollout_reason.clone()),
            events: s
                .events()
                .iter()
                .filter_map(|e| e.message().map(str::to_owned))
                .collect(),
            deployments,
        }
    }

    /// Poll DescribeServices until the PRIMARY deployment leaves IN_PROGRESS (or `max_polls`).
    pub async fn poll_rollout(
        &self,
        cfg: &SdkConfig,
        cluster: &str,
        service: &str,
        max_polls: usize,
    ) -> ServiceView {
        let mut view = self.describe_service(cfg, cluster, service).await;
        for _ in 1..max_polls {
            if view.rollout_state.as_deref() != Some("IN_PROGRESS") {
                break;
            }
            view = self.describe_service(cfg, cluster, service).await;
        }
        view
    }

    /// Tags of an ECS resource (task definition, service, cluster) as a map.
    pub async fn ecs_tags(&self, cfg: &SdkConfig, arn: &str) -> BTreeMap<String, String> {
        let ecs = aws_sdk_ecs::Client::new(cfg);
        let out = ecs
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListTagsForResource {arn}: {e:?}"));
        out.tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
            .collect()
    }

    /// An SSM parameter's name, type and version; the value only if it is not a SecureString
    /// (read without decryption, as stamp itself does).
    pub async fn parameter(&self, cfg: &SdkConfig, name: &str) -> Option<ParamView> {
        let ssm = aws_sdk_ssm::Client::new(cfg);
        let out = match ssm
            .get_parameter()
            .name(name)
            .with_decryption(false)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_parameter_not_found()) =>
            {
                return None;
            }
            Err(e) => panic!("GetParameter {name}: {e:?}"),
        };
        let p = out.parameter().expect("GetParameter returns a parameter");
        let kind = p
            .r#type()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default();
        Some(ParamView {
            name: p.name().unwrap_or_default().to_owned(),
            value: (kind != "SecureString").then(|| p.value().unwrap_or_default().to_owned()),
            kind,
            version: p.version(),
        })
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // Only dedicated instances are ever dropped (the shared one lives in a static); closing
        // stdin alone would also stop it, kill makes it immediate.
        drop(self.stdin.lock().map(|mut s| s.take()));
        if let Ok(mut guard) = self.child.lock()
            && let Some(mut child) = guard.take()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Fleet {
    /// The fleet root (holds `tenants/` and `templates/`).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn account(&self, tenant: &str) -> &str {
        self.accounts
            .get(tenant)
            .unwrap_or_else(|| panic!("no tenant {tenant} in fleet"))
    }

    pub fn tenant(&self, tenant: &str) -> &SeededTenant {
        self.tenants
            .get(tenant)
            .unwrap_or_else(|| panic!("tenant {tenant} was not seeded"))
    }
}

/// The repository root (the crate's manifest dir).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The example fleet and its params, shipped in the repository.
pub fn example_fleet() -> (PathBuf, PathBuf) {
    let root = repo_root();
    let params = root.join("emulator/example-params.json");
    (root, params)
}

/// Remove every inherited `AWS_*` variable: real credentials, profiles, config files, and
/// per-service endpoint overrides must never reach a process started by the harness.
fn scrub_aws_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
}

fn process_seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        // RandomState is randomly keyed per process; pid and time make collisions between two
        // test binaries on one server (or a restarted one) vanishingly unlikely.
        let mut h = RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.finish()
    })
}

/// A 12-digit account id unique to this process and call, never the base account.
pub fn unique_account() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // 500000000000..=999999999998: above the example fleet's (111111111111..444444444444),
    // gen_fleet's (100000000000 + n) and the base account's ids.
    const SPAN: u64 = 499_999_999_999;
    format!("{}", 500_000_000_000 + (process_seed() % SPAN + n) % SPAN)
}

fn throwaway_credentials() -> BaseCredentials {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // New per server start: moto maps unknown keys to the base account, and keys must never be
    // ones an earlier server issued for an assumed role or user.
    let id = process_seed().wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    BaseCredentials {
        access_key_id: format!("AKIASTAMP{:011X}", id % (1 << 44)),
        secret_access_key: format!("stamp-emulator-{id:016x}-{n}"),
    }
}

fn run_checked(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {what}: {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display()))
    {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Reads one HTTP response: the head, then the body by Content-Length when the server sends
/// one (so a server that keeps the connection open does not hold us until the timeout), else
/// to the end of the stream.
fn read_response(s: &mut TcpStream) -> std::io::Result<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if length.is_some_and(|len| buf.len() >= head_end + 4 + len) {
                break;
            }
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}
