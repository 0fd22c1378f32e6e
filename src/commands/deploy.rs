//! `stamp deploy`: applies the plan tenant by tenant — waves, windows, locks, register only
//! what changed, wait for the rollout, roll back on failure — and ends with a summary.
//!
//! The only command (with `rollback`) that builds the deploying client set.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::audit::Audit;
use crate::aws::deploy::{
    LockHolder, LockInfo, LockOutcome, Rollout, RolloutOutcome, TenantDeployer, WaitLimits,
};
use crate::aws::{LiveEcsService, LiveTaskDefinition, Session};
use crate::cli::DeployArgs;
use crate::dsl::diag::did_you_mean;
use crate::dsl::{Fleet, Tenant};
use crate::error::{Failure, Result};
use crate::fleet::{self, Gate, Outcome, Overrides, Row, Summary, Tolerance};
use crate::output::{Printer, Report};
use crate::plan::{self, Action, DesiredService, SavedPlan};
use crate::render::{Templates, render_service};
use crate::resolve::references;

/// Everything a tenant task needs, shared read-only between tasks.
struct Run {
    fleet: Fleet,
    templates: Templates,
    session: Session,
    args: RunArgs,
    holder: LockHolder,
    commit: String,
    stop: AtomicBool,
    tolerance: Mutex<Tolerance>,
    /// With `--plan`: the saved desired state per tenant and service.
    saved: Option<SavedPlan>,
    printer: Printer,
}

struct RunArgs {
    release: Option<String>,
    timeout: Duration,
    poll: Duration,
    force_unlock: bool,
    lock_ttl: Duration,
}

/// The summary as a report: the table for people; for CI the summary's JSON plus the AWS
/// calls the run made (`api_calls`, as `plan` reports them).
struct SummaryReport {
    summary: Summary,
    calls: Option<crate::aws::Counts>,
    styled: bool,
}

impl serde::Serialize for SummaryReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let mut v = serde_json::to_value(&self.summary).map_err(S::Error::custom)?;
        if let (Some(obj), Some(calls)) = (v.as_object_mut(), &self.calls) {
            obj.insert(
                "api_calls".to_owned(),
                serde_json::to_value(calls).map_err(S::Error::custom)?,
            );
        }
        v.serialize(s)
    }
}

impl Report for SummaryReport {
    fn text(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        out.write_all(self.summary.table(self.styled).as_bytes())
    }
}

pub(super) fn run(ctx: &super::Ctx, args: &DeployArgs) -> Result<()> {
    let fleet = ctx.load_fleet()?;
    let templates = Templates::load(&fleet)?;

    let saved = match &args.plan {
        Some(path) => {
            let text =
                crate::input::read_argument(path, "a saved plan", crate::plan::SAVED_PLAN_LIMIT)
                    .map_err(|e| {
                        Failure::usage(
                            format!("cannot read --plan {}: {e}", path.display()),
                            Some("write a plan with `stamp plan --all --out FILE`".to_owned()),
                        )
                    })?;
            let plan = SavedPlan::from_json(&text).map_err(|e| {
                Failure::usage(
                    format!("--plan {}: {e}", path.display()),
                    Some("write a plan with `stamp plan --all --out FILE`".to_owned()),
                )
            })?;
            plan_matches_fleet(&plan, &fleet).map_err(|what| {
                Failure::usage(
                    format!("--plan {}: {what}", path.display()),
                    Some("the fleet changed since the plan was made: make a new plan with `stamp plan --out FILE`".to_owned()),
                )
            })?;
            Some(plan)
        }
        None => None,
    };
    let names: Vec<String> = match &saved {
        Some(p) => p.tenants.iter().map(|t| t.tenant.clone()).collect(),
        None => {
            if !args.all && args.tenants.is_empty() {
                return Err(Failure::usage(
                    "name the tenants to deploy, or pass --all",
                    Some("e.g. `stamp deploy acme` or `stamp deploy --all --yes`".to_owned()),
                ));
            }
            args.tenants.clone()
        }
    };
    let mut tenants = super::select_tenants(&fleet, &names)?;
    if let Some(shard) = args.shard {
        tenants = fleet::shard(&tenants, shard);
    }

    // Refusals that must come before any write.
    let commit = crate::vcs::commit(&ctx.root);
    let commit_label = match &commit {
        Some(c) if c.dirty && !args.allow_dirty => {
            return Err(Failure::usage(
                "tenants/ or templates/ have uncommitted changes: a deploy must be reproducible from a commit",
                Some(
                    "commit them, or pass --allow-dirty (the commit tag then ends in -dirty)"
                        .to_owned(),
                ),
            ));
        }
        Some(c) => c.label(),
        None if args.allow_dirty => crate::vcs::UNCOMMITTED.to_owned(),
        None => {
            return Err(Failure::usage(
                format!(
                    "{} is not in a git repository: stamp records the commit of every deploy",
                    ctx.root.display()
                ),
                Some(
                    "deploy from a clone of the fleet repository, or pass --allow-dirty".to_owned(),
                ),
            ));
        }
    };
    if let (Some(p), Some(path)) = (&saved, &args.plan)
        && p.commit != commit_label
    {
        return Err(Failure::usage(
            format!(
                "--plan {}: the plan was made at commit {}, but the repository is at {commit_label}",
                path.display(),
                p.commit
            ),
            Some("check out the plan's commit, or make a new plan".to_owned()),
        ));
    }
    let no_release: Vec<&str> = tenants
        .iter()
        // A saved plan carries each service's release; only a fresh deploy needs one here.
        .filter(|t| saved.is_none() && t.release(args.release.as_deref()).is_none())
        .map(|t| t.name.as_str())
        .collect();
    if !no_release.is_empty() {
        return Err(Failure::usage(
            format!(
                "no release for {}: not pinned, no --release, none in _defaults.toml",
                no_release.join(", ")
            ),
            Some("pass --release X".to_owned()),
        ));
    }
    if (args.ignore_window || args.ignore_freeze)
        && args.reason.as_deref().is_none_or(|r| r.trim().is_empty())
    {
        return Err(Failure::usage(
            "--ignore-window and --ignore-freeze need --reason TEXT",
            Some("the reason is recorded in the tags of everything deployed".to_owned()),
        ));
    }
    if !args.yes {
        if let Err(why) = crate::output::confirm::can_confirm() {
            return Err(Failure::usage(
                why.to_string(),
                Some("pass --yes to deploy without confirmation (as CI does)".to_owned()),
            ));
        }
        // Show what would change (the same read-only plan as `stamp plan`, diffs and
        // digests) before asking. A tenant that cannot be planned stops here.
        let plan_args = crate::cli::PlanArgs {
            tenants: tenants.iter().map(|t| t.name.clone()).collect(),
            all: false,
            service: None,
            release: args.release.clone(),
            concurrency: args.concurrency,
            out: None,
            stats: false,
            aws: crate::cli::AwsArgs {
                profile: args.aws.profile.clone(),
            },
        };
        if args.plan.is_none() {
            super::plan::run(ctx, &plan_args)?;
        }
        eprint!(
            "\ndeploy {} tenant(s) as planned above? [y/N] ",
            tenants.len()
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            ctx.printer.info("nothing deployed");
            return Ok(());
        }
    }

    // Windows and freezes decide who deploys now; the others are skipped, not failed.
    let now = jiff::Timestamp::now();
    let overrides = Overrides {
        ignore_window: args.ignore_window,
        ignore_freeze: args.ignore_freeze,
        reason: args.reason.clone(),
    };
    if let Some(r) = &args.ring {
        if !fleet.project.rings.contains(r) {
            let rings = fleet.project.rings.iter().map(String::as_str);
            return Err(Failure::usage(
                format!("--ring `{r}` is not in [project] rings"),
                Some(match did_you_mean(r, rings) {
                    Some(m) => format!("did you mean `{m}`?"),
                    None => format!("the rings are: {}", fleet.project.rings.join(", ")),
                }),
            ));
        }
        // --ring R deploys (and reports) ring R only.
        tenants.retain(|t| &t.ring == r);
    }
    let mut rows: Vec<Row> = Vec::new();
    let mut eligible: Vec<(&Tenant, Option<String>)> = Vec::new();
    for t in &tenants {
        let gate = fleet::gate(t, now, &overrides);
        if let Some(why) = gate.detail().filter(|_| !gate.allows()) {
            ctx.printer.info(format_args!("{}: skipped, {why}", t.name));
        }
        match gate {
            Gate::Open => eligible.push((t, None)),
            Gate::Overridden { what, reason } => {
                eligible.push((t, Some(format!("{what}: {reason}"))))
            }
            Gate::Closed { next_open } => rows.extend(skip_all(
                t,
                &match next_open {
                    Some(n) => format!("outside window, next opens at {n}"),
                    None => "outside window, never opens".to_owned(),
                },
            )),
            Gate::Frozen { reason, until } => rows.extend(skip_all(
                t,
                &format!(
                    "frozen until {until}: {reason} (override with --ignore-freeze --reason TEXT)"
                ),
            )),
        }
    }
    let eligible_tenants: Vec<&Tenant> = eligible.iter().map(|(t, _)| *t).collect();
    let eligible_names: Vec<String> = eligible_tenants.iter().map(|t| t.name.clone()).collect();
    let overrides_by_tenant: BTreeMap<String, Option<String>> = eligible
        .iter()
        .map(|(t, o)| (t.name.clone(), o.clone()))
        .collect();
    let waves: Vec<(String, Vec<String>)> = fleet::waves(
        &fleet.project.rings,
        &eligible_tenants,
        args.ring.as_deref(),
    )
    .into_iter()
    .map(|w| (w.ring, w.tenants.iter().map(|t| t.name.clone()).collect()))
    .collect();

    let rt = super::runtime()?;
    let printer = ctx.printer.clone().with_live_status();
    let summary = rt.block_on(async {
        let session = ctx.session().await?;
        let holder = LockHolder {
            who: session.caller.arn.clone(),
            run_id: format!("{}-{}", std::process::id(), now.as_nanosecond()),
            digest: String::new(),
        };
        let run = Arc::new(Run {
            fleet,
            templates,
            session,
            args: RunArgs {
                release: args.release.clone(),
                timeout: args.timeout,
                poll: args.poll_interval,
                force_unlock: args.force_unlock,
                lock_ttl: args.timeout + Duration::from_secs(300),
            },
            holder,
            commit: commit_label,
            stop: AtomicBool::new(false),
            tolerance: Mutex::new(Tolerance::new(args.failure_tolerance)),
            saved,
            printer,
        });
        // SIGINT/SIGTERM: no new tenant or service starts; what runs finishes its step.
        let stopper = run.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            stopper
                .printer
                .error("interrupted: finishing what is in flight, starting nothing new (interrupt again to exit now)");
            stopper.stop.store(true, Ordering::SeqCst);
            // A second interrupt means now: in-flight locks are left to expire (their expiry is
            // the wait timeout plus five minutes) and the summary is not printed.
            wait_for_signal().await;
            stopper.printer.error("interrupted again: exiting now; locks still held will expire by themselves");
            std::process::exit(130);
        });
        if run.saved.is_some() {
            let eligible: Vec<&Tenant> = run
                .fleet
                .tenants
                .iter()
                .filter(|t| eligible_names.contains(&t.name))
                .collect();
            verify_saved_plan(&run, &eligible).await?;
        }
        // The last refusal before the first write in any tenant (the rollout engine's refusal
        // phase, once deploy runs on it).
        preflight_gate(&run, &eligible_names, args.concurrency).await?;
        let mut out = rows;
        for (ring, names) in waves {
            run.printer
                .info(format_args!("wave {ring}: {} tenant(s)", names.len()));
            let sem = Arc::new(tokio::sync::Semaphore::new(args.concurrency.max(1)));
            let mut set = tokio::task::JoinSet::new();
            for name in names {
                let (run, sem, ring) = (run.clone(), sem.clone(), ring.clone());
                let over = overrides_by_tenant.get(&name).cloned().flatten();
                set.spawn(async move {
                    let _permit = sem.acquire().await;
                    let Some(t) = run.fleet.tenants.iter().find(|t| t.name == name) else {
                        return Vec::new();
                    };
                    let may_start = run.tolerance.lock().map(|t| t.may_start()).unwrap_or(false);
                    if run.stop.load(Ordering::SeqCst) {
                        return skip_all(t, "interrupted before it started");
                    }
                    if !may_start {
                        return skip_all(t, "not started: failure tolerance reached");
                    }
                    let rows = deploy_tenant(&run, t, &ring, over).await;
                    if rows.iter().any(|r| {
                        matches!(
                            r.result,
                            Outcome::Failed | Outcome::RolledBack | Outcome::NeedsHuman
                        )
                    })
                        && let Ok(mut tol) = run.tolerance.lock() {
                            tol.record_failure();
                        }
                    rows
                });
            }
            while let Some(r) = set.join_next().await {
                out.extend(r.unwrap_or_default());
            }
        }
        // Rows in ring order, then tenant and service, whatever order tenants finished in.
        let ring_index = |r: &str| run.fleet.project.rings.iter().position(|x| x == r).unwrap_or(usize::MAX);
        out.sort_by(|a, b| (ring_index(&a.ring), &a.tenant, &a.service).cmp(&(ring_index(&b.ring), &b.tenant, &b.service)));
        anyhow::Ok((Summary { rows: out }, run.session.calls().snapshot()))
    })
    .map_err(|e| match e.downcast::<StalePlan>() {
        Ok(stale) => Failure::usage(stale.0, Some("make a new plan with `stamp plan --out FILE`".to_owned())),
        Err(e) => match e.downcast::<PreflightFailed>() {
            Ok(p) => Failure::usage(p.0, Some("push the image, or create what is missing (`stamp infra apply`); `stamp verify` checks again without deploying".to_owned())),
            Err(e) => Failure::Failed(e),
        },
    })?;
    let (summary, calls) = summary;
    if args.stats {
        ctx.printer.info(&calls);
    }
    let code = summary.exit_code();
    ctx.printer.data(&SummaryReport {
        summary,
        calls: Some(calls),
        styled: ctx.printer.stdout_styled(),
    })?;
    match code {
        0 => Ok(()),
        code => Err(Failure::Reported(code)),
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn skip_all(t: &Tenant, why: &str) -> Vec<Row> {
    t.services
        .iter()
        .map(|s| row(t, &t.ring, &s.name, Outcome::Skipped, Some(why.to_owned())))
        .collect()
}

fn row(t: &Tenant, ring: &str, service: &str, result: Outcome, detail: Option<String>) -> Row {
    Row {
        tenant: t.name.clone(),
        ring: ring.to_owned(),
        service: service.to_owned(),
        result,
        revision: None,
        previous_revision: None,
        release: None,
        duration_ms: 0,
        detail,
        retries: 0,
        retried: BTreeMap::new(),
    }
}

/// Every tenant and service a saved plan deploys is still in the tenant files: checked
/// before any account is read, so a plan from an older fleet is refused at once.
fn plan_matches_fleet(plan: &SavedPlan, fleet: &Fleet) -> std::result::Result<(), String> {
    for st in &plan.tenants {
        let Some(t) = fleet.tenants.iter().find(|t| t.name == st.tenant) else {
            return Err(format!(
                "the plan deploys tenant `{}`, which has no file in tenants/",
                st.tenant
            ));
        };
        if let Some(ss) = st
            .services
            .iter()
            .find(|ss| t.service(&ss.service).is_none())
        {
            return Err(format!(
                "the plan deploys {}/{}, but the tenant files give {} no service `{}`",
                st.tenant, ss.service, st.tenant, ss.service
            ));
        }
    }
    Ok(())
}

/// A saved plan whose inputs moved: a refusal before any write (exit 2), not a failed deploy.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct StalePlan(String);

/// `--plan FILE`: before any write anywhere, every input the plan used must still read the
/// same version, and rendering now must give the plan's digests.
async fn verify_saved_plan(run: &Run, tenants: &[&Tenant]) -> anyhow::Result<()> {
    let Some(saved) = &run.saved else {
        return Ok(());
    };
    let mut moved = Vec::new();
    for t in tenants {
        let Some(st) = saved.tenants.iter().find(|s| s.tenant == t.name) else {
            continue;
        };
        let reader = crate::aws::TenantReader::connect(&run.session, t).await?;
        let (lookups, missing) = reader.lookups(&references(t)).await?;
        if !missing.is_empty() {
            moved.push(format!(
                "{}: {} reference(s) no longer resolve",
                t.name,
                missing.len()
            ));
            continue;
        }
        moved.extend(
            st.inputs
                .moved(&crate::plan::Inputs::from_lookups(&lookups))
                .into_iter()
                .map(|m| format!("{}: {m}", t.name)),
        );
        for ss in &st.services {
            let Some(s) = t.service(&ss.service) else {
                moved.push(format!(
                    "{}: service {} is no longer in the tenant files",
                    t.name, ss.service
                ));
                continue;
            };
            // The plan's own release: a pinned tenant ignores it, an unpinned one got it from
            // --release when the plan was made.
            match render_service(
                &run.templates,
                &run.fleet,
                t,
                s,
                Some(&ss.release),
                &lookups,
            ) {
                Ok(r) => {
                    let d = DesiredService::from_rendered(&r, &t.account_id, &t.region).digest();
                    if d != ss.digest {
                        moved.push(format!(
                            "{}/{}: renders to digest {} now, the plan has {}",
                            t.name,
                            s.name,
                            &d[..12],
                            &ss.digest[..12.min(ss.digest.len())]
                        ));
                    }
                }
                Err(_) => moved.push(format!("{}/{}: no longer renders", t.name, s.name)),
            }
        }
    }
    if moved.is_empty() {
        Ok(())
    } else {
        Err(StalePlan(format!(
            "the plan is stale; nothing was deployed:\n  {}",
            moved.join("\n  ")
        ))
        .into())
    }
}

/// A preflight problem in any tenant about to deploy: a refusal before any write (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct PreflightFailed(String);

/// `stamp verify`'s checks for every tenant about to deploy, with the release each deploys;
/// an image, role or log group missing anywhere refuses the whole run, each listed per tenant.
async fn preflight_gate(run: &Run, names: &[String], concurrency: usize) -> anyhow::Result<()> {
    let tenants: Vec<&Tenant> = run
        .fleet
        .tenants
        .iter()
        .filter(|t| names.contains(&t.name))
        .collect();
    // A saved plan carries the release of each tenant's services; they share one.
    let release_for = |t: &Tenant| match &run.saved {
        Some(p) => p
            .tenants
            .iter()
            .find(|st| st.tenant == t.name)
            .and_then(|st| st.services.first())
            .map(|ss| ss.release.clone()),
        None => run.args.release.clone(),
    };
    let checks = crate::preflight::check(
        &run.session,
        &run.fleet,
        &run.templates,
        &tenants,
        &release_for,
        concurrency,
    )
    .await;
    let failed: Vec<_> = checks.iter().filter(|c| c.refuses_deploy()).collect();
    if failed.is_empty() {
        return Ok(());
    }
    let mut lines = Vec::new();
    for c in &failed {
        for p in c.problems.iter().filter(|p| p.missing) {
            let services = if p.services.is_empty() {
                String::new()
            } else {
                format!(" [{}]", p.services.join(", "))
            };
            lines.push(format!("{}: {}{services}", c.tenant, p.detail));
        }
    }
    Err(PreflightFailed(format!(
        "preflight failed in {} of {}; nothing was deployed:\n  {}",
        failed.len(),
        crate::output::count(checks.len(), "tenant"),
        lines.join("\n  ")
    ))
    .into())
}

/// Deploys one tenant's services with a call counter of the tenant's own, and puts its retries
/// in the rows: each service's own on its row, the tenant's shared calls (AssumeRole, the
/// account guard, lookups, the first DescribeServices) on its first row, so that the rows of a
/// tenant add up to every retry its calls needed.
async fn deploy_tenant(
    run: &Run,
    t: &Tenant,
    ring: &str,
    window_override: Option<String>,
) -> Vec<Row> {
    let session = run.session.for_tenant();
    let mut rows = deploy_tenant_services(run, &session, t, ring, window_override).await;
    let mut shared = session.calls().snapshot().retries;
    for r in &rows {
        for (op, n) in &r.retried {
            if let Some(total) = shared.get_mut(op) {
                *total = total.saturating_sub(*n);
            }
        }
    }
    shared.retain(|_, n| *n > 0);
    if let Some(first) = rows.first_mut() {
        for (op, n) in shared {
            *first.retried.entry(op).or_insert(0) += n;
        }
        first.retries = first.retried.values().sum();
    }
    rows
}

async fn deploy_tenant_services(
    run: &Run,
    session: &Session,
    t: &Tenant,
    ring: &str,
    window_override: Option<String>,
) -> Vec<Row> {
    let started = Instant::now();
    let fail_all = |why: String| -> Vec<Row> {
        t.services
            .iter()
            .map(|s| {
                let mut r = row(t, ring, &s.name, Outcome::Failed, Some(why.clone()));
                r.duration_ms = elapsed_ms(started);
                r
            })
            .collect()
    };
    let deployer = match TenantDeployer::connect(session, t).await {
        Ok(d) => d,
        Err(e) => return fail_all(e.to_string()),
    };
    let (lookups, missing) = match deployer.reader().lookups(&references(t)).await {
        Ok(x) => x,
        Err(e) => return fail_all(e.to_string()),
    };
    if !missing.is_empty() {
        return fail_all(
            missing
                .iter()
                .map(|m| format!("{m} ({})", m.at))
                .collect::<Vec<_>>()
                .join("; "),
        );
    }
    let names: Vec<String> = t.services.iter().map(|s| s.ecs_service.clone()).collect();
    let live = match deployer
        .reader()
        .describe_services(&t.cluster, &names)
        .await
    {
        Ok(l) => l,
        Err(e) => return fail_all(e.to_string()),
    };
    // Locks other runs hold or left (a killed CI job's): one read for the tenant.
    let mut held = match deployer.locks(&t.cluster).await {
        Ok(l) => l,
        Err(e) => return fail_all(e.to_string()),
    };
    let mut rows = Vec::new();
    let saved_tenant = run
        .saved
        .as_ref()
        .and_then(|p| p.tenants.iter().find(|st| st.tenant == t.name));
    for s in &t.services {
        // With --plan, exactly the plan's services: a plan made with -s api deploys only api.
        if run.saved.is_some()
            && !saved_tenant.is_some_and(|st| st.services.iter().any(|ss| ss.service == s.name))
        {
            continue;
        }
        if run.stop.load(Ordering::SeqCst) {
            rows.push(row(
                t,
                ring,
                &s.name,
                Outcome::Skipped,
                Some("interrupted before it started".to_owned()),
            ));
            continue;
        }
        let started = Instant::now();
        let before = session.calls().snapshot();
        let mut r = deploy_service(
            run,
            &deployer,
            t,
            s,
            ring,
            &lookups,
            live.get(&s.ecs_service).cloned().flatten(),
            held.remove(&s.ecs_service),
            window_override.clone(),
        )
        .await;
        r.duration_ms = elapsed_ms(started);
        r.retried = session.calls().snapshot().since(&before).retries;
        r.retries = r.retried.values().sum();
        run.printer.status_done(
            &format!("{}/{}", t.name, s.name),
            format_args!(
                "{}{}",
                outcome_word(r.result),
                r.detail
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ),
        );
        rows.push(r);
    }
    rows
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Deployed => "deployed",
        Outcome::Unchanged => "unchanged",
        Outcome::RolledBack => "rolled back",
        Outcome::Failed => "failed",
        Outcome::NeedsHuman => "NEEDS A HUMAN",
        Outcome::Skipped => "skipped",
    }
}

#[allow(clippy::too_many_arguments)]
async fn deploy_service(
    run: &Run,
    deployer: &TenantDeployer,
    t: &Tenant,
    s: &crate::dsl::Service,
    ring: &str,
    lookups: &crate::resolve::Lookups,
    live_svc: Option<LiveEcsService>,
    held: Option<LockInfo>,
    window_override: Option<String>,
) -> Row {
    let mut out = row(t, ring, &s.name, Outcome::Failed, None);
    let desired = match desired_state(run, t, s, lookups) {
        Ok(d) => d,
        Err(why) => {
            out.detail = Some(why);
            return out;
        }
    };
    out.release = Some(desired.release.clone());
    let Some(live_svc) = live_svc else {
        out.detail = Some(format!(
            "ECS service `{}` does not exist in cluster `{}`: create it first (stamp deploys into existing services)",
            s.ecs_service, t.cluster
        ));
        return out;
    };
    // A first look, without the lock: a service that already runs what the repo says, with
    // its rollout settled, needs nothing — not even a lock.
    let (live_td, action) =
        match current(deployer, &run.fleet.project.image, &live_svc, &desired).await {
            Ok(x) => x,
            Err(e) => {
                out.detail = Some(e.to_string());
                return out;
            }
        };
    if action == Action::Unchanged && settled(&live_svc) {
        out.result = Outcome::Unchanged;
        out.revision = Some(live_td.revision);
        out.previous_revision = Some(live_td.revision);
        if let Some(old) = held {
            out.detail = Some(leftover_lock(run, deployer, t, s, &old).await);
        }
        return out;
    }
    let digest = desired.digest();
    let holder = LockHolder {
        digest: digest.clone(),
        ..run.holder.clone()
    };
    // A lock taken from another holder (expired, or by force) is named in the summary, with
    // what its journal says that holder had started.
    let (forced, mine, left) = match deployer
        .lock(
            &t.cluster,
            &s.ecs_service,
            &holder,
            run.args.lock_ttl,
            run.args.force_unlock,
        )
        .await
    {
        Ok(LockOutcome::Acquired {
            took_over,
            forced,
            mine,
        }) => {
            let note = match (&took_over, &forced) {
                (Some(old), _) => Some(format!("took over an expired lock of {}", old.describe())),
                (None, Some(old)) => Some(format!("forced the lock of {}", old.describe())),
                (None, None) => None,
            };
            if let Some(note) = &note {
                run.printer
                    .info(format_args!("{}/{}: {note}", t.name, s.name));
            }
            let left = took_over
                .or(forced.clone())
                .map(|old| (old, note.unwrap_or_default()));
            (forced.map(|f| f.who), mine, left)
        }
        Ok(LockOutcome::Held(info)) => {
            out.detail = Some(format!(
                "locked by {} until {}; wait, or pass --force-unlock",
                info.describe(),
                info.expires
            ));
            return out;
        }
        Err(e) => {
            out.detail = Some(e.to_string());
            // The create may have reached SSM although its answer did not reach us: a lock of
            // ours may exist. Release it (only if it is ours), or say that it could not be.
            release(run, deployer, t, s, &holder, &mut out).await;
            return out;
        }
    };
    // Under the lock, read the service again: another run may have deployed it since the
    // first look, and what runs now is what a rollback must return to.
    let fresh = async {
        let svc = deployer
            .reader()
            .describe_services(&t.cluster, std::slice::from_ref(&s.ecs_service))
            .await?
            .remove(&s.ecs_service)
            .flatten();
        let Some(svc) = svc else {
            return Ok(None);
        };
        let (td, action) = current(deployer, &run.fleet.project.image, &svc, &desired).await?;
        Ok::<_, crate::aws::TenantError>(Some((svc, td, action)))
    }
    .await;
    let lock_note = left.as_ref().map(|(_, note)| note.clone());
    let (live_svc, live_td) = match fresh {
        Ok(Some((svc, td, action))) if action == Action::Unchanged && settled(&svc) => {
            out.result = Outcome::Unchanged;
            out.revision = Some(td.revision);
            out.previous_revision = Some(td.revision);
            out.detail = lock_note;
            release(run, deployer, t, s, &holder, &mut out).await;
            return out;
        }
        Ok(Some((svc, td, _))) => (svc, td),
        Ok(None) => {
            out.detail = Some(format!(
                "ECS service `{}` disappeared while stamp held its lock",
                s.ecs_service
            ));
            release(run, deployer, t, s, &holder, &mut out).await;
            return out;
        }
        Err(e) => {
            out.detail = Some(e.to_string());
            release(run, deployer, t, s, &holder, &mut out).await;
            return out;
        }
    };
    // What a rollback returns to: what runs now, unless it is what a dead holder was rolling
    // out (its journal says so), in which case what ran before that run started.
    let back_td = match left.as_ref().and_then(|(old, _)| old.rollout.as_ref()) {
        Some(r) if r.to_revision == live_td.revision && r.from_arn != live_td.arn => match deployer
            .reader()
            .describe_task_definition(&r.from_arn)
            .await
        {
            Ok(td) => td,
            Err(e) => {
                run.printer.error(format_args!(
                        "{}/{}: revision {} (what ran before the interrupted rollout) cannot be read, a rollback would return to revision {}: {e}",
                        t.name, s.name, r.from_revision, live_td.revision
                    ));
                live_td.clone()
            }
        },
        _ => live_td.clone(),
    };
    out.previous_revision = Some(back_td.revision);
    out.detail = lock_note;
    let audit = Audit {
        commit: Some(run.commit.clone()),
        digest: Some(digest),
        release: Some(desired.release.clone()),
        deployer: Some(run.holder.who.clone()),
        r#override: window_override,
        forced_unlock: forced,
    };
    apply(
        run, deployer, t, s, &desired, &live_td, &back_td, &live_svc, &audit, mine, &mut out,
    )
    .await;
    release(run, deployer, t, s, &holder, &mut out).await;
    out
}

/// A lock another run holds or left on a service that already runs what the repo says (a
/// killed run's rollout that completed without it): removed when it has expired or with
/// `--force-unlock`, else left alone; either way the row says so, naming its holder and what
/// its journal says it had started.
async fn leftover_lock(
    run: &Run,
    deployer: &TenantDeployer,
    t: &Tenant,
    s: &crate::dsl::Service,
    old: &LockInfo,
) -> String {
    let expired = old.expires < jiff::Timestamp::now();
    if !expired && !run.args.force_unlock {
        return format!(
            "the lock of {} is held until {}; left alone (--force-unlock removes it)",
            old.describe(),
            old.expires
        );
    }
    let how = if expired { "expired" } else { "forced" };
    let said = match deployer
        .remove_lock_of(&t.cluster, &s.ecs_service, &old.run_id)
        .await
    {
        Ok(true) => format!("removed the {how} lock of {}", old.describe()),
        Ok(false) => format!(
            "the lock of {} changed while stamp removed it; left alone",
            old.describe()
        ),
        Err(e) => format!("the lock of {} could not be removed: {e}", old.describe()),
    };
    run.printer
        .info(format_args!("{}/{}: {said}", t.name, s.name));
    said
}

/// Whether a service's current rollout has finished: an in-progress rollout (someone else's
/// deploy, or one a killed run left) is not "unchanged" even when its target matches ours.
fn settled(svc: &LiveEcsService) -> bool {
    svc.rollout_state
        .as_deref()
        .is_none_or(|s| s == "COMPLETED")
        && svc.running_count == svc.desired_count
}

/// The task definition a service runs and how the desired state compares with it.
async fn current(
    deployer: &TenantDeployer,
    image: &str,
    svc: &LiveEcsService,
    desired: &DesiredService,
) -> Result<(LiveTaskDefinition, Action), crate::aws::TenantError> {
    let td = deployer
        .reader()
        .describe_task_definition(&svc.task_definition_arn)
        .await?;
    let live = super::live_service(image, Some((svc, &td)));
    let action = plan::compare(desired, &live).action;
    Ok((td, action))
}

async fn release(
    run: &Run,
    deployer: &TenantDeployer,
    t: &Tenant,
    s: &crate::dsl::Service,
    holder: &LockHolder,
    out: &mut Row,
) {
    if let Err(e) = deployer.unlock(&t.cluster, &s.ecs_service, holder).await {
        let note = format!("the lock could not be released: {e}");
        run.printer
            .error(format_args!("{}/{}: {note}", t.name, s.name));
        out.detail = Some(
            out.detail
                .take()
                .map_or(note.clone(), |d| format!("{d}; {note}")),
        );
    }
}

/// Adds `note` to the row's detail (after what is there).
fn note(out: &mut Row, note: String) {
    out.detail = Some(match out.detail.take() {
        Some(d) if !d.is_empty() => format!("{d}; {note}"),
        _ => note,
    });
}

/// Register (if the definition changed), journal, update, tag, wait; on failure roll back to
/// `back_td` (what ran before: `live_td`, or what ran before an interrupted run's rollout).
#[allow(clippy::too_many_arguments)]
async fn apply(
    run: &Run,
    deployer: &TenantDeployer,
    t: &Tenant,
    s: &crate::dsl::Service,
    desired: &DesiredService,
    live_td: &LiveTaskDefinition,
    back_td: &LiveTaskDefinition,
    live_svc: &LiveEcsService,
    audit: &Audit,
    mut mine: LockInfo,
    out: &mut Row,
) {
    let tags = audit.to_tags();
    let td_changed =
        plan::normalize(&desired.task_definition) != plan::normalize(&live_td.task_definition);
    // Only a changed definition gets a new revision: re-running a finished deploy registers
    // nothing, and a revision an interrupted run registered is used, not registered again.
    let (arn, revision) = if td_changed {
        match deployer.register(&desired.task_definition, &tags).await {
            Ok(r) => {
                if r.reused {
                    note(
                        out,
                        format!("revision {} was already registered; used it", r.revision),
                    );
                }
                (r.arn, r.revision)
            }
            Err(e) => {
                note(out, e.to_string());
                return;
            }
        }
    } else {
        (live_td.arn.clone(), live_td.revision)
    };
    // The run journal: if this run dies from here on, whoever finds the lock can tell what
    // was rolling out and what to return to. Bookkeeping: a failure is said, not fatal.
    mine.rollout = Some(Rollout {
        from_revision: back_td.revision,
        from_arn: back_td.arn.clone(),
        to_revision: revision,
        to_arn: arn.clone(),
        started: jiff::Timestamp::now(),
    });
    if let Err(e) = deployer.journal(&t.cluster, &s.ecs_service, &mine).await {
        run.printer.error(format_args!(
            "{}/{}: the lock's journal could not be written: {e}",
            t.name, s.name
        ));
    }
    if let Err(e) = deployer
        .update_service(
            &t.cluster,
            &s.ecs_service,
            &arn,
            plan::count_to_set(s.desired_count, live_svc.scaling),
        )
        .await
    {
        note(out, e.to_string());
        return;
    }
    // Tags are the audit trail, but a service that deployed must not be reported failed
    // because tagging it did not work: say so on stderr instead.
    let tagged = if live_svc.arn.is_empty() {
        deployer
            .tag_service(&t.cluster, &s.ecs_service, &tags)
            .await
    } else {
        deployer.tag_service_arn(&live_svc.arn, &tags).await
    };
    if let Err(e) = tagged {
        run.printer.error(format_args!(
            "{}/{}: the service could not be tagged: {e}",
            t.name, s.name
        ));
    }
    let who = format!("{}/{}", t.name, s.name);
    let limits = WaitLimits {
        timeout: run.args.timeout,
        poll: run.args.poll,
    };
    let mut log = |st: &crate::aws::deploy::RolloutStatus| {
        run.printer.status(
            &who,
            format_args!(
                "{} {}/{} running, {} pending{}",
                st.rollout_state,
                st.running,
                st.desired,
                st.pending,
                if st.failed_tasks > 0 {
                    format!(", {} failed", st.failed_tasks)
                } else {
                    String::new()
                }
            ),
        );
    };
    let outcome = deployer
        .wait_rollout(&t.cluster, &s.ecs_service, &arn, limits, &mut log)
        .await;
    let reason = match outcome {
        Ok(RolloutOutcome::Completed) => {
            out.result = Outcome::Deployed;
            out.revision = Some(revision);
            return;
        }
        Ok(RolloutOutcome::Failed { reason }) => reason,
        Ok(RolloutOutcome::TimedOut) => {
            format!("rollout did not complete within {:?}", run.args.timeout)
        }
        Err(e) => e.to_string(),
    };
    // Roll back to what ran before, and wait for that too.
    run.printer.error(format_args!(
        "{who}: {reason}; rolling back to revision {}",
        back_td.revision
    ));
    let back = async {
        deployer
            .update_service(
                &t.cluster,
                &s.ecs_service,
                &back_td.arn,
                // The count it had, if stamp set one; an autoscaled count is left alone.
                plan::count_to_set(s.desired_count, live_svc.scaling)
                    .map(|_| live_svc.desired_count),
            )
            .await?;
        deployer
            .wait_rollout(&t.cluster, &s.ecs_service, &back_td.arn, limits, &mut log)
            .await
    }
    .await;
    match back {
        Ok(RolloutOutcome::Completed) => {
            out.result = Outcome::RolledBack;
            out.revision = Some(back_td.revision);
            note(
                out,
                format!(
                    "revision {revision} failed: {reason}; revision {} runs again",
                    back_td.revision
                ),
            );
            // The service's audit tags should describe what runs again, not the failed attempt.
            let previous: Vec<(String, String)> = back_td
                .tags
                .iter()
                .filter(|(k, _)| k.starts_with(crate::plan::BOOKKEEPING_TAG_PREFIX))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !previous.is_empty() && !live_svc.arn.is_empty() {
                let _ = deployer.tag_service_arn(&live_svc.arn, &previous).await;
            }
        }
        other => {
            out.result = Outcome::NeedsHuman;
            out.revision = Some(revision);
            let why = match other {
                Ok(RolloutOutcome::Failed { reason }) => reason,
                Ok(RolloutOutcome::TimedOut) => "the rollback timed out too".to_owned(),
                Err(e) => e.to_string(),
                Ok(RolloutOutcome::Completed) => String::new(),
            };
            // Both revisions, so whoever looks knows what to compare and what to return to.
            note(
                out,
                format!(
                    "revision {revision} failed: {reason}; the rollback to revision {} failed too: {why}; a person must check the service: it was running revision {}, revision {revision} is registered",
                    back_td.revision, back_td.revision
                ),
            );
            run.printer.error(format_args!(
                "{who}: NEEDS A HUMAN: neither revision {revision} nor the rollback to revision {} completed",
                back_td.revision
            ));
        }
    }
}

/// `stamp rollback T -s S [--to N]`: the service back to the revision before the running one
/// (or revision N of its family), with the same lock, wait and tags as a deploy.
pub(super) fn rollback(ctx: &super::Ctx, args: &crate::cli::RollbackArgs) -> Result<()> {
    let fleet = ctx.load_fleet()?;
    let tenant = super::tenant(&fleet, &args.tenant)?;
    let service = super::service(tenant, &args.service)?;
    let commit = crate::vcs::label(&ctx.root);
    let rt = super::runtime()?;
    let printer = ctx.printer.clone();
    let row = rt.block_on(async {
        let session = ctx.session().await?;
        let deployer = TenantDeployer::connect(&session, tenant).await?;
        let reader = deployer.reader();
        let live = reader.describe_services(&tenant.cluster, std::slice::from_ref(&service.ecs_service)).await?;
        let Some(svc) = live.get(&service.ecs_service).cloned().flatten() else {
            anyhow::bail!("ECS service `{}` does not exist in cluster `{}`", service.ecs_service, tenant.cluster);
        };
        let current = reader.describe_task_definition(&svc.task_definition_arn).await?;
        let family = crate::aws::read::family_of(&current.arn).unwrap_or_default().to_owned();
        let revisions = reader.list_revisions(&family, 100).await?;
        let target = match args.to {
            Some(n) => revisions
                .iter()
                .find(|a| a.rsplit(':').next() == Some(&n.to_string()))
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("{family} has no active revision {n}; `stamp history {} -s {}` lists them", tenant.name, service.name))?,
            None => revisions
                .iter()
                .find(|a| a.rsplit(':').next().and_then(|r| r.parse::<i32>().ok()).is_some_and(|r| r < current.revision))
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("{family}:{} is the oldest active revision; there is nothing to roll back to", current.revision))?,
        };
        let target_td = reader.describe_task_definition(&target).await?;
        let holder = LockHolder {
            who: session.caller.arn.clone(),
            run_id: format!("{}-{}", std::process::id(), jiff::Timestamp::now().as_nanosecond()),
            digest: target_td.tags.get(crate::audit::DIGEST).cloned().unwrap_or_default(),
        };
        let forced = match deployer.lock(&tenant.cluster, &service.ecs_service, &holder, args.timeout + Duration::from_secs(300), args.force_unlock).await? {
            LockOutcome::Held(info) => anyhow::bail!("locked by {} since {}; wait, or pass --force-unlock", info.who, info.since),
            LockOutcome::Acquired { forced, .. } => forced.map(|f| f.who),
        };
        let mut r = row(tenant, &tenant.ring, &service.name, Outcome::Failed, None);
        r.previous_revision = Some(current.revision);
        r.release = target_td.tags.get(crate::audit::RELEASE).cloned();
        let started = Instant::now();
        let result = async {
            deployer.update_service(&tenant.cluster, &service.ecs_service, &target_td.arn, None).await?;
            let audit = Audit {
                commit: Some(commit.clone()),
                digest: target_td.tags.get(crate::audit::DIGEST).cloned(),
                release: target_td.tags.get(crate::audit::RELEASE).cloned(),
                deployer: Some(session.caller.arn.clone()),
                r#override: Some(format!("rollback from revision {}", current.revision)),
                forced_unlock: forced,
            };
            let _ = deployer.tag_service(&tenant.cluster, &service.ecs_service, &audit.to_tags()).await;
            let who = format!("{}/{}", tenant.name, service.name);
            let mut log = |st: &crate::aws::deploy::RolloutStatus| printer.info(format_args!("{who}: {} {}/{} running", st.rollout_state, st.running, st.desired));
            deployer
                .wait_rollout(&tenant.cluster, &service.ecs_service, &target_td.arn, WaitLimits { timeout: args.timeout, poll: args.poll_interval }, &mut log)
                .await
        }
        .await;
        let unlocked = deployer.unlock(&tenant.cluster, &service.ecs_service, &holder).await;
        r.duration_ms = elapsed_ms(started);
        match result {
            Ok(RolloutOutcome::Completed) => {
                r.result = Outcome::RolledBack;
                r.revision = Some(target_td.revision);
                r.detail = Some(format!("on request, from revision {}", current.revision));
            }
            Ok(RolloutOutcome::Failed { reason }) => r.detail = Some(reason),
            Ok(RolloutOutcome::TimedOut) => r.detail = Some(format!("did not complete within {:?}", args.timeout)),
            Err(e) => r.detail = Some(e.to_string()),
        }
        if let Err(e) = unlocked {
            r.detail = Some(format!("{}; the lock could not be released: {e}", r.detail.unwrap_or_default()));
        }
        anyhow::Ok(r)
    })?;
    let summary = Summary { rows: vec![row] };
    let ok = summary.rows.iter().all(|r| r.result == Outcome::RolledBack);
    ctx.printer.data(&SummaryReport {
        summary,
        calls: None,
        styled: ctx.printer.stdout_styled(),
    })?;
    // A requested rollback that completed is a success.
    if ok {
        Ok(())
    } else {
        Err(Failure::Reported(1))
    }
}

/// What a service should run: with `--plan`, exactly the plan's saved desired state (verified
/// against every input before the first write); otherwise what the repo renders now.
fn desired_state(
    run: &Run,
    t: &Tenant,
    s: &crate::dsl::Service,
    lookups: &crate::resolve::Lookups,
) -> std::result::Result<DesiredService, String> {
    if let Some(saved) = &run.saved {
        let st = saved
            .tenants
            .iter()
            .find(|st| st.tenant == t.name)
            .ok_or_else(|| format!("{} is not in the plan", t.name))?;
        let ss = st
            .services
            .iter()
            .find(|ss| ss.service == s.name)
            .ok_or_else(|| format!("{}/{} is not in the plan", t.name, s.name))?;
        return ss
            .desired(st)
            .map_err(|e| format!("the plan's desired state: {e}"));
    }
    match render_service(
        &run.templates,
        &run.fleet,
        t,
        s,
        run.args.release.as_deref(),
        lookups,
    ) {
        Ok(r) => Ok(DesiredService::from_rendered(&r, &t.account_id, &t.region)),
        Err(e) => Err(e.summary()),
    }
}
