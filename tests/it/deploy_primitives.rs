//! The deploying client set (`stamp::aws::deploy::TenantDeployer`) against the real moto server,
//! through stamp's library API: locks (exclusive, owner-only unlock, expiry takeover, force),
//! register/update/wait, the failed rollout and its rollback, the timeout, `on_change`
//! de-duplication, and that the deploy role (not the read-only one) is what writes.
//!
//! `Session::connect` reads `AWS_ENDPOINT_URL` and the credentials from the process
//! environment, and this crate forbids `unsafe` (which `std::env::set_var` needs in edition
//! 2024); mutating the environment of a test binary whose tests run in parallel would be wrong
//! anyway. So each test seeds its fleet in this process, then re-runs itself (`--exact`) in a
//! child process started with the emulator's scrubbed environment, where the scenario runs.

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use stamp::aws::Session;
use stamp::aws::deploy::{
    LockHolder, LockInfo, LockOutcome, Newest, RolloutOutcome, RolloutStatus, TenantDeployer,
    WaitLimits,
};
use stamp::aws::{LiveEcsService, LiveTaskDefinition};
use stamp::dsl::Tenant;
use stamp::render::TaskDefinition;

use crate::support::emulator::{Emulator, Fleet, SeedOptions, example_fleet};

/// Set in the child process only: the root of the fleet the parent seeded.
const CHILD_FLEET: &str = "STAMP_DEPLOY_PRIMITIVES_FLEET";
const HOUR: Duration = Duration::from_secs(3600);
/// Moto answers in milliseconds; polling fast keeps the rollout tests short.
const FAST: WaitLimits = WaitLimits {
    timeout: Duration::from_secs(60),
    poll: Duration::from_millis(20),
};

/// What the child process works with.
struct Ctx {
    session: Session,
    fleet: stamp::dsl::Fleet,
}

impl Ctx {
    fn tenant(&self, name: &str) -> &Tenant {
        self.fleet
            .tenants
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no tenant {name}"))
    }

    async fn deployer(&self, tenant: &str) -> TenantDeployer {
        TenantDeployer::connect(&self.session, self.tenant(tenant))
            .await
            .unwrap_or_else(|e| panic!("connect {tenant}: {e}"))
    }

    /// (cluster, ECS service name, desired count) of a tenant's `api`.
    fn api(&self, tenant: &str) -> (String, String, u32) {
        let t = self.tenant(tenant);
        let s = t.service("api").expect("api service");
        (
            t.cluster.clone(),
            s.ecs_service.clone(),
            s.desired_count.fixed().unwrap_or(1),
        )
    }
}

/// What the parent keeps alive while the child runs.
struct Setup {
    fleet: Fleet,
    /// `None`: the shared server.
    dedicated: Option<Emulator>,
}

impl Setup {
    fn emulator(&self) -> &Emulator {
        match &self.dedicated {
            Some(e) => e,
            None => Emulator::shared(),
        }
    }
}

/// Acme alone, on the shared server, in fresh accounts.
fn acme() -> Setup {
    let (root, params) = example_fleet();
    let fleet = Emulator::shared().fresh_fleet_with(
        &root,
        &params,
        &SeedOptions {
            tenants: Some(vec!["acme".into()]),
            services: true,
        },
    );
    Setup {
        fleet,
        dedicated: None,
    }
}

/// In the parent: `setup`, then this same test in a child process with the emulator's
/// environment. In the child: `body`.
fn scenario<B, Fut>(test: &str, setup: impl FnOnce() -> Setup, body: B)
where
    B: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()>,
{
    let rt = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    };
    if let Ok(root) = std::env::var(CHILD_FLEET) {
        rt().block_on(async {
            let session = Session::connect(None).await.expect("session");
            let fleet =
                stamp::dsl::load(Path::new(&root)).unwrap_or_else(|d| panic!("load fleet: {d:?}"));
            body(Ctx { session, fleet }).await;
        });
        return;
    }
    let s = setup();
    // `it::deploy_primitives` → the harness's test path `deploy_primitives::<test>`.
    let module = module_path!()
        .split_once("::")
        .map_or(module_path!(), |(_, m)| m);
    let exe = std::env::current_exe().expect("test binary");
    let mut cmd = s.emulator().command(exe);
    cmd.args([
        &format!("{module}::{test}"),
        "--exact",
        "--nocapture",
        "--test-threads",
        "1",
    ])
    .env(CHILD_FLEET, s.fleet.root());
    let out = cmd.output().expect("run the child test");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child run of {test} failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- emulator log\n{}",
        out.status,
        s.emulator().log_tail()
    );
}

fn holder(who: &str) -> LockHolder {
    static RUN: AtomicU64 = AtomicU64::new(0);
    LockHolder {
        who: format!("arn:aws:iam::123456789012:user/{who}"),
        run_id: format!(
            "run-{who}-{}-{}",
            std::process::id(),
            RUN.fetch_add(1, Ordering::Relaxed)
        ),
        digest: format!("sha256:{who}"),
    }
}

fn acquired(o: LockOutcome) -> (Option<LockInfo>, Option<LockInfo>) {
    match o {
        LockOutcome::Acquired {
            took_over, forced, ..
        } => (took_over, forced),
        LockOutcome::Held(info) => panic!("expected to acquire, held by {info:?}"),
    }
}

fn held(o: LockOutcome) -> LockInfo {
    match o {
        LockOutcome::Held(info) => info,
        other => panic!("expected Held, got {other:?}"),
    }
}

/// The service and the task definition it runs now (DescribeServices advances a simulated
/// rollout by one step; harmless once settled).
async fn live(
    d: &TenantDeployer,
    cluster: &str,
    service: &str,
) -> (LiveEcsService, LiveTaskDefinition) {
    let svc = d
        .reader()
        .describe_services(cluster, &[service.to_owned()])
        .await
        .expect("describe services")
        .remove(service)
        .flatten()
        .unwrap_or_else(|| panic!("no service {service}"));
    let td = d
        .reader()
        .describe_task_definition(&svc.task_definition_arn)
        .await
        .expect("describe task definition");
    (svc, td)
}

/// The live definition with its first container's image replaced.
fn with_image(td: &TaskDefinition, image: &str) -> TaskDefinition {
    let mut td = td.clone();
    td.container_definitions[0].image = Some(image.to_owned());
    td
}

/// `repo:tag` → `repo:<tag>`.
fn retag(image: Option<&str>, tag: &str) -> String {
    let image = image.expect("container image");
    let repo = image.rsplit_once(':').map_or(image, |(r, _)| r);
    format!("{repo}:{tag}")
}

/// Registers the live api definition with a new image tag and points the service at it.
async fn deploy_image(d: &TenantDeployer, ctx: &Ctx, tag: &str) -> (String, String) {
    let (cluster, service, desired) = ctx.api("acme");
    let (svc, td) = live(d, &cluster, &service).await;
    let image = retag(
        td.task_definition.container_definitions[0].image.as_deref(),
        tag,
    );
    let new = d
        .register(&with_image(&td.task_definition, &image), &[], Newest::Ask)
        .await
        .expect("register");
    d.update_service(&cluster, &service, &new.arn, Some(desired))
        .await
        .expect("update service");
    (svc.task_definition_arn, new.arn)
}

// ---- locks ----------------------------------------------------------------------------------

#[test]
fn a_second_holder_gets_held_with_the_first_holders_who_and_since() {
    scenario(
        "a_second_holder_gets_held_with_the_first_holders_who_and_since",
        acme,
        |ctx| async move {
            let d = ctx.deployer("acme").await;
            let (cluster, service, _) = ctx.api("acme");
            let (alice, bob) = (holder("alice"), holder("bob"));

            let before = jiff::Timestamp::now();
            let got = acquired(
                d.lock(&cluster, &service, &alice, HOUR, false)
                    .await
                    .expect("lock"),
            );
            let after = jiff::Timestamp::now();
            assert_eq!(got, (None, None), "a free lock is simply acquired");

            let info = held(
                d.lock(&cluster, &service, &bob, HOUR, false)
                    .await
                    .expect("lock"),
            );
            assert_eq!(
                (&info.who, &info.run_id, &info.digest),
                (&alice.who, &alice.run_id, &alice.digest)
            );
            assert!(
                before <= info.since && info.since <= after,
                "since {} is when alice locked ({before}..{after})",
                info.since
            );
            assert_eq!(
                info.expires.duration_since(info.since),
                jiff::SignedDuration::from_hours(1)
            );
            assert_eq!(info.forced_from, None);
            // Asking again changes nothing: the stored lock is alice's, as she wrote it.
            let again = held(
                d.lock(&cluster, &service, &bob, HOUR, false)
                    .await
                    .expect("lock"),
            );
            assert_eq!(again, info);
        },
    );
}

#[test]
fn unlock_by_a_different_run_leaves_the_lock() {
    scenario(
        "unlock_by_a_different_run_leaves_the_lock",
        acme,
        |ctx| async move {
            let d = ctx.deployer("acme").await;
            let (cluster, service, _) = ctx.api("acme");
            let alice = holder("alice");
            // Same person, another run: still not the holder.
            let alice_again = LockHolder {
                run_id: format!("{}-other", alice.run_id),
                ..alice.clone()
            };
            acquired(
                d.lock(&cluster, &service, &alice, HOUR, false)
                    .await
                    .expect("lock"),
            );

            d.unlock(&cluster, &service, &alice_again)
                .await
                .expect("unlock is not an error");
            let info = held(
                d.lock(&cluster, &service, &holder("bob"), HOUR, false)
                    .await
                    .expect("lock"),
            );
            assert_eq!(
                info.run_id, alice.run_id,
                "the lock survived another run's unlock"
            );

            d.unlock(&cluster, &service, &alice).await.expect("unlock");
            acquired(
                d.lock(&cluster, &service, &holder("carol"), HOUR, false)
                    .await
                    .expect("lock"),
            );
            // A missing lock is fine to unlock.
            d.unlock(&cluster, "no-such-service", &alice)
                .await
                .expect("unlock of nothing");
        },
    );
}

#[test]
fn an_expired_lock_is_taken_over_and_its_old_holder_cannot_release_it() {
    scenario(
        "an_expired_lock_is_taken_over_and_its_old_holder_cannot_release_it",
        acme,
        |ctx| async move {
            let d = ctx.deployer("acme").await;
            let (cluster, service, _) = ctx.api("acme");
            let (alice, bob) = (holder("alice"), holder("bob"));
            acquired(
                d.lock(&cluster, &service, &alice, Duration::ZERO, false)
                    .await
                    .expect("lock"),
            );
            tokio::time::sleep(Duration::from_millis(20)).await;

            let (took_over, forced) = acquired(
                d.lock(&cluster, &service, &bob, HOUR, false)
                    .await
                    .expect("lock"),
            );
            let old = took_over.expect("took_over names the expired lock");
            assert_eq!(
                (old.who, old.run_id),
                (alice.who.clone(), alice.run_id.clone())
            );
            assert_eq!(forced, None, "expiry is not force");

            // Alice's run ends late and releases "its" lock: bob's must survive.
            d.unlock(&cluster, &service, &alice).await.expect("unlock");
            let now = held(
                d.lock(&cluster, &service, &holder("carol"), HOUR, false)
                    .await
                    .expect("lock"),
            );
            assert_eq!(now.run_id, bob.run_id);
            assert_eq!(now.forced_from, None);
        },
    );
}

#[test]
fn force_takes_a_live_lock_and_records_whom_from() {
    scenario(
        "force_takes_a_live_lock_and_records_whom_from",
        acme,
        |ctx| async move {
            let d = ctx.deployer("acme").await;
            let (cluster, service, _) = ctx.api("acme");
            let (alice, bob) = (holder("alice"), holder("bob"));
            acquired(
                d.lock(&cluster, &service, &alice, HOUR, false)
                    .await
                    .expect("lock"),
            );

            let (took_over, forced) = acquired(
                d.lock(&cluster, &service, &bob, HOUR, true)
                    .await
                    .expect("lock"),
            );
            assert_eq!(took_over, None, "alice's lock was live");
            let was = forced.expect("forced names the live lock");
            assert_eq!(
                (was.who, was.run_id),
                (alice.who.clone(), alice.run_id.clone())
            );

            let now = held(
                d.lock(&cluster, &service, &holder("carol"), HOUR, false)
                    .await
                    .expect("lock"),
            );
            assert_eq!(now.run_id, bob.run_id);
            assert_eq!(now.forced_from.as_deref(), Some(alice.who.as_str()));
        },
    );
}

// ---- rollouts -------------------------------------------------------------------------------

#[test]
fn register_update_and_wait_completes_on_the_new_task_definition() {
    scenario(
        "register_update_and_wait_completes_on_the_new_task_definition",
        acme,
        |ctx| async move {
            let d = ctx.deployer("acme").await;
            let (cluster, service, desired) = ctx.api("acme");
            let (old_arn, new_arn) = deploy_image(&d, &ctx, "v2").await;
            assert_ne!(old_arn, new_arn);

            let mut seen: Vec<RolloutStatus> = Vec::new();
            let outcome = d
                .wait_rollout(&cluster, &service, &new_arn, FAST, &mut |s| {
                    seen.push(s.clone())
                })
                .await
                .expect("wait");
            assert_eq!(outcome, RolloutOutcome::Completed, "statuses: {seen:?}");
            let last = seen.last().expect("at least one status");
            assert_eq!(
                (last.rollout_state.as_str(), last.running, last.desired),
                ("COMPLETED", desired, desired)
            );

            let (svc, td) = live(&d, &cluster, &service).await;
            assert_eq!(svc.task_definition_arn, new_arn);
            assert_eq!(
                (svc.running_count, svc.rollout_state.as_deref()),
                (desired, Some("COMPLETED"))
            );
            assert!(
                td.task_definition.container_definitions[0]
                    .image
                    .as_deref()
                    .is_some_and(|i| i.ends_with(":v2")),
                "{:?}",
                td.task_definition.container_definitions[0].image
            );
        },
    );
}

#[test]
fn register_and_tag_service_record_bookkeeping_tags() {
    scenario(
        "register_and_tag_service_record_bookkeeping_tags",
        acme,
        |ctx| async move {
            let d = ctx.deployer("acme").await;
            let (cluster, service, _) = ctx.api("acme");
            let (svc, td) = live(&d, &cluster, &service).await;
            let tags = vec![
                ("stamp:digest".to_owned(), "sha256:abc".to_owned()),
                (
                    "stamp:deployer".to_owned(),
                    "arn:aws:iam::123456789012:user/alice".to_owned(),
                ),
            ];
            let reg = d
                .register(&td.task_definition, &tags, Newest::Ask)
                .await
                .expect("register");
            assert_eq!(reg.revision, td.revision + 1);
            assert!(
                reg.arn.ends_with(&format!(":{}", reg.revision)),
                "{}",
                reg.arn
            );
            let registered = d
                .reader()
                .describe_task_definition(&reg.arn)
                .await
                .expect("describe");
            assert_eq!(
                registered.tags.get("stamp:digest").map(String::as_str),
                Some("sha256:abc")
            );

            d.tag_service(&cluster, &service, &tags)
                .await
                .expect("tag service");
            let (after, _) = live(&d, &cluster, &service).await;
            assert_eq!(
                after.tags.get("stamp:digest").map(String::as_str),
                Some("sha256:abc")
            );
            assert_eq!(
                after.tags.get("stamp:deployer").map(String::as_str),
                Some("arn:aws:iam::123456789012:user/alice")
            );
            // Tags seeded earlier stay: TagResource adds, it does not replace.
            for (k, v) in &svc.tags {
                assert_eq!(after.tags.get(k), Some(v), "tag {k} was lost");
            }
        },
    );
}

#[test]
fn a_broken_image_fails_with_the_circuit_breaker_reason_and_updating_back_completes() {
    scenario(
        "a_broken_image_fails_with_the_circuit_breaker_reason_and_updating_back_completes",
        acme,
        |ctx| async move {
            let d = ctx.deployer("acme").await;
            let (cluster, service, desired) = ctx.api("acme");
            let (previous, broken) = deploy_image(&d, &ctx, "v2-broken").await;

            let outcome = d
                .wait_rollout(&cluster, &service, &broken, FAST, &mut |_| {})
                .await
                .expect("wait");
            match outcome {
                RolloutOutcome::Failed { reason } => assert!(
                    reason.contains("circuit breaker"),
                    "reason names the circuit breaker: {reason}"
                ),
                other => panic!("expected Failed, got {other:?}"),
            }

            // The rollback primitive: the previous revision again, and wait for it.
            d.update_service(&cluster, &service, &previous, Some(desired))
                .await
                .expect("update back");
            let mut seen = Vec::new();
            let back = d
                .wait_rollout(&cluster, &service, &previous, FAST, &mut |s| {
                    seen.push(s.clone())
                })
                .await
                .expect("wait");
            assert_eq!(back, RolloutOutcome::Completed);
            // It waited for the new deployment (which starts at 0 running), not for the old
            // one that kept running the same revision.
            assert_eq!(
                seen.first().map(|s| s.rollout_state.as_str()),
                Some("IN_PROGRESS"),
                "{seen:?}"
            );
            let (svc, _) = live(&d, &cluster, &service).await;
            assert_eq!(svc.task_definition_arn, previous);
            assert_eq!(
                (svc.running_count, svc.rollout_state.as_deref()),
                (desired, Some("COMPLETED"))
            );
        },
    );
}

/// Acme with its api's next rollout armed to hang.
fn acme_hanging() -> Setup {
    let s = acme();
    let t = s.fleet.tenant("acme");
    s.emulator()
        .hang_next_rollout(&t.account_id, &t.region, &t.cluster, "api");
    s
}

#[test]
fn a_hanging_rollout_times_out() {
    scenario(
        "a_hanging_rollout_times_out",
        acme_hanging,
        |ctx| async move {
            let d = ctx.deployer("acme").await;
            let (cluster, service, _) = ctx.api("acme");
            let (_, new_arn) = deploy_image(&d, &ctx, "v2").await;
            let limits = WaitLimits {
                timeout: Duration::from_millis(500),
                poll: Duration::from_millis(50),
            };
            let started = Instant::now();
            let outcome = d
                .wait_rollout(&cluster, &service, &new_arn, limits, &mut |_| {})
                .await
                .expect("wait");
            let took = started.elapsed();
            assert_eq!(outcome, RolloutOutcome::TimedOut);
            assert!(
                took >= limits.timeout,
                "gave up after {took:?}, before the timeout"
            );
            assert!(
                took < Duration::from_secs(10),
                "overshot the timeout: {took:?}"
            );
        },
    );
}

#[test]
fn on_change_is_called_once_per_distinct_status_not_once_per_poll() {
    scenario(
        "on_change_is_called_once_per_distinct_status_not_once_per_poll",
        acme_hanging,
        |ctx| async move {
            let d = ctx.deployer("acme").await;
            let (cluster, service, desired) = ctx.api("acme");
            let (_, new_arn) = deploy_image(&d, &ctx, "v2").await;
            // Long enough for several polls while the rest of the suite keeps the emulator
            // busy (400 ms once gave only 3).
            let limits = WaitLimits {
                timeout: Duration::from_millis(1500),
                poll: Duration::from_millis(20),
            };
            let polls_before = ctx.session.calls().snapshot().get("ecs:DescribeServices");
            let mut seen = Vec::new();
            let outcome = d
                .wait_rollout(&cluster, &service, &new_arn, limits, &mut |s| {
                    seen.push(s.clone())
                })
                .await
                .expect("wait");
            let polls = ctx.session.calls().snapshot().get("ecs:DescribeServices") - polls_before;
            assert_eq!(outcome, RolloutOutcome::TimedOut);
            // The hung rollout looks the same on every poll: one call for many polls.
            assert!(polls >= 5, "only {polls} polls");
            assert_eq!(seen.len(), 1, "after {polls} polls: {seen:?}");
            assert_eq!(
                (
                    seen[0].rollout_state.as_str(),
                    seen[0].running,
                    seen[0].desired
                ),
                ("IN_PROGRESS", 0, desired)
            );
        },
    );
}

#[test]
fn a_completing_rollout_reports_each_change_once() {
    scenario(
        "a_completing_rollout_reports_each_change_once",
        acme,
        |ctx| async move {
            let d = ctx.deployer("acme").await;
            let (cluster, service, desired) = ctx.api("acme");
            let (_, new_arn) = deploy_image(&d, &ctx, "v2").await;
            let polls_before = ctx.session.calls().snapshot().get("ecs:DescribeServices");
            let mut seen: Vec<RolloutStatus> = Vec::new();
            let outcome = d
                .wait_rollout(&cluster, &service, &new_arn, FAST, &mut |s| {
                    seen.push(s.clone())
                })
                .await
                .expect("wait");
            let polls = ctx.session.calls().snapshot().get("ecs:DescribeServices") - polls_before;
            assert_eq!(outcome, RolloutOutcome::Completed);
            // Every poll of this simulated rollout moves it, so each one is reported, once.
            assert_eq!(seen.len() as u64, polls, "{seen:?}");
            assert!(
                seen.windows(2).all(|w| w[0] != w[1]),
                "a status repeated: {seen:?}"
            );
            assert!(
                seen.windows(2).all(|w| w[0].running <= w[1].running),
                "{seen:?}"
            );
            assert_eq!(
                seen.first().map(|s| (s.rollout_state.as_str(), s.desired)),
                Some(("IN_PROGRESS", desired))
            );
        },
    );
}

// ---- roles ----------------------------------------------------------------------------------

/// A dedicated server (IAM enforcement is server-wide) with acme and globex, enforcing IAM,
/// and acme's `deploy_role` set to its read-only role.
fn enforced_with_acme_deploying_as_readonly() -> Setup {
    let emu = Emulator::dedicated();
    let (root, params) = example_fleet();
    let fleet = emu.fresh_fleet_with(
        &root,
        &params,
        &SeedOptions {
            tenants: Some(vec!["acme".into(), "globex".into()]),
            services: true,
        },
    );
    emu.enforce_iam();
    let file = fleet.root().join("tenants/acme.toml");
    let text = std::fs::read_to_string(&file).expect("read acme.toml");
    let role = format!(
        "deploy_role = \"arn:aws:iam::{}:role/stamp-readonly\"\n",
        fleet.account("acme")
    );
    assert!(
        text.contains("[tenant]\n"),
        "acme.toml has a [tenant] table"
    );
    std::fs::write(
        &file,
        text.replacen("[tenant]\n", &format!("[tenant]\n{role}"), 1),
    )
    .expect("write acme.toml");
    Setup {
        fleet,
        dedicated: Some(emu),
    }
}

#[test]
fn the_deployer_writes_with_the_deploy_role_so_a_read_only_deploy_role_cannot_lock() {
    scenario(
        "the_deployer_writes_with_the_deploy_role_so_a_read_only_deploy_role_cannot_lock",
        enforced_with_acme_deploying_as_readonly,
        |ctx| async move {
            let readonly = ctx.tenant("acme").deploy_role.clone();
            assert!(readonly.ends_with(":role/stamp-readonly"), "{readonly}");
            let (cluster, service, _) = ctx.api("acme");
            let d = ctx.deployer("acme").await;
            assert_eq!(d.role(), readonly, "connect assumed the deploy_role");
            let err = d
                .lock(&cluster, &service, &holder("alice"), HOUR, false)
                .await
                .expect_err("the read-only role must not create a lock")
                .to_string();
            assert!(err.contains("ssm:PutParameter"), "{err}");
            assert!(err.contains(&readonly), "{err}");
            assert!(err.contains("access denied"), "{err}");

            // Same server, same enforcement: globex's real deploy role may lock.
            let (cluster, service, _) = ctx.api("globex");
            let g = ctx.deployer("globex").await;
            assert!(g.role().ends_with(":role/stamp-deploy"), "{}", g.role());
            acquired(
                g.lock(&cluster, &service, &holder("alice"), HOUR, false)
                    .await
                    .expect("lock"),
            );
        },
    );
}
