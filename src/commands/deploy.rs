//! `stamp deploy`: arguments → settings → the rollout engine → the summary. What is deployed
//! per service (render or the saved plan, register only what changed) is said here; the order,
//! windows, locks, waits and rollbacks are the engine's (`crate::rollout`).
//!
//! The only command (with `rollback`) that builds the deploying client set.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::audit::Audit;
use crate::aws::deploy::{LockHolder, LockInfo, Newest, TenantDeployer, WaitLimits};
use crate::aws::{LiveEcsService, LiveTaskDefinition, Session, TenantReader};
use crate::cli::DeployArgs;
use crate::dsl::{Fleet, Service, Tenant};
use crate::error::{Failure, Result};
use crate::fleet::{self, Outcome, Row};
use crate::output::Printer;
use crate::plan::{self, Action, DesiredService, SavedPlan};
use crate::preflight::Values;
use crate::render::{Templates, render_service};
use crate::rollout::task::OneOff;
use crate::rollout::{
    self, Baked, Control, Exit, Gate, Health, Roll, Settings, Start, Target, Unit, Watch, note,
};

/// Everything a tenant task needs, shared read-only between tasks.
pub(super) struct Run {
    pub(super) fleet: Fleet,
    pub(super) templates: Templates,
    pub(super) session: Session,
    pub(super) release: Option<String>,
    pub(super) limits: WaitLimits,
    pub(super) settings: Settings,
    pub(super) holder: LockHolder,
    pub(super) commit: String,
    /// `-s S` (repeatable): only these services; empty for all.
    pub(super) services: Vec<String>,
    /// With `--plan`: the saved desired state per tenant and service.
    pub(super) saved: Option<SavedPlan>,
    /// The health gates: alarms watched per service, the bake after each ring.
    pub(super) health: Health,
    /// Each tenant's parameters, secrets and stack outputs as the preflight read them: a tenant
    /// renders from these, so what it deploys is what the preflight checked, and a run reads
    /// them once (a tenant the preflight could not read reads them again itself).
    pub(super) checked: crate::preflight::Reads,
}

impl Run {
    /// The audit tags of deploying `desired` (whose digest is `digest`) for `start`'s tenant.
    fn audit(
        &self,
        desired: &DesiredService,
        start: &Start,
        digest: String,
        forced_unlock: Option<String>,
    ) -> Audit {
        Audit {
            commit: Some(self.commit.clone()),
            digest: Some(digest),
            release: Some(desired.release.clone()),
            deployer: Some(self.holder.who.clone()),
            r#override: start.r#override.clone(),
            forced_unlock,
        }
    }
}

pub(super) fn run(ctx: &super::Ctx, args: &DeployArgs) -> Result<()> {
    let fleet = ctx.load_fleet()?;
    let templates = Templates::load(&fleet)?;
    let saved = load_saved(args, &fleet)?;
    let tenants = select(args, &fleet, saved.as_ref())?;
    let mut settings = settings(args);
    // A lock outlives the longest before_deploy task as well as the rollout's wait.
    settings.lock_ttl += longest_hook(&tenants);
    let commit = rollout::refuse(&settings, &ctx.root, &fleet)?;
    refuse_plan_or_release(args, saved.as_ref(), &tenants, &commit)?;
    // On a terminal, the same read-only plan as `stamp plan` (diffs and digests) before y/N.
    rollout::confirm(
        &settings,
        &format!("deploy {} tenant(s) as planned above?", tenants.len()),
        || match &args.plan {
            Some(_) => Ok(()),
            None => super::plan::run(ctx, &plan_args(args, &tenants)),
        },
    )?;
    let services = args.services.clone();
    let units = move |t: &Tenant| selected_services(t, &services);
    let (skipped, waves) = rollout::schedule(
        &fleet,
        &tenants,
        &settings,
        jiff::Timestamp::now(),
        &units,
        &ctx.printer,
    );
    let rt = super::runtime()?;
    let printer = ctx.printer.clone().with_live_status();
    let (ended, notify) = rt
        .block_on(async {
            let session = ctx.session().await?;
            let limits = WaitLimits {
                timeout: args.timeout,
                poll: args.poll_interval,
            };
            let holder = holder(&session, String::new());
            let health = Health::new(
                fleet.project.bake,
                limits,
                holder.clone(),
                settings.lock_ttl,
                printer.clone(),
            );
            let run = Run {
                holder,
                health,
                fleet,
                templates,
                session,
                release: args.release.clone(),
                limits,
                settings,
                commit,
                services: args.services.clone(),
                saved,
                checked: BTreeMap::new(),
            };
            engine(run, waves, units, printer).await
        })
        .map_err(refusal)?;
    rollout::finish(
        &ctx.printer,
        rollout::Ending {
            skipped,
            ended,
            stats: args.stats,
            api_calls: true,
            rule: Exit::of,
            notify,
        },
    )
}

/// The rows and API calls of the run (`None`: a second interrupt abandoned it) and the
/// notifications.
type Ended = (Option<(Vec<Row>, crate::aws::Counts)>, rollout::Notify);

/// The refusals left before the first write (the preflight, a stale saved plan), then the
/// engine over the waves.
async fn engine(
    mut run: Run,
    waves: Vec<(String, Vec<Start>)>,
    units: impl Fn(&Tenant) -> Vec<String> + Send + Sync + 'static,
    printer: Printer,
) -> anyhow::Result<Ended> {
    let starts = rollout::starting(&waves);
    run.checked = preflight_gate(&run, &starts).await?;
    // The last refusal before the first write in any tenant, from what the preflight read.
    verify_saved_plan(&run, &starts).await?;
    let run = Arc::new(run);
    let notify = rollout::Notify::new(&run.fleet, about(&run, &starts), &printer);
    let ctl = Control::new(&run.settings, printer, notify.clone());
    let r = run.clone();
    let rows = rollout::run_gated(
        ctl.clone(),
        &run.fleet.project.rings.clone(),
        waves,
        run.settings.concurrency,
        Arc::new(units),
        move |start| deploy_tenant(r.clone(), ctl.clone(), start),
        &run.health,
    )
    .await;
    Ok((
        rows.map(|rows| (rows, run.session.calls().snapshot())),
        notify,
    ))
}

/// A refusal before the first write is a usage error (exit 2) with what to do; anything else
/// failed the run.
fn refusal(e: anyhow::Error) -> Failure {
    match e.downcast::<StalePlan>() {
        Ok(stale) => Failure::usage(
            stale.0,
            Some("make a new plan with `stamp plan --out FILE`".to_owned()),
        ),
        Err(e) => match e.downcast::<PreflightFailed>() {
            Ok(p) => Failure::usage(
                p.0,
                Some("push the image, or create what is missing (`stamp infra apply`); `stamp verify` checks again without deploying".to_owned()),
            ),
            Err(e) => Failure::Failed(e),
        },
    }
}

/// What the notifications say this deploy is: the releases its tenants get (a saved plan's,
/// a pin, `--release`, the default), each once.
fn about(run: &Run, tenants: &[&Tenant]) -> rollout::About {
    let mut releases: Vec<String> = Vec::new();
    for t in tenants {
        let r = match &run.saved {
            Some(p) => p
                .tenants
                .iter()
                .find(|st| st.tenant == t.name)
                .and_then(|st| st.services.first())
                .map(|ss| ss.release.clone()),
            None => t.release(run.release.as_deref()).map(|c| c.release),
        };
        if let Some(r) = r
            && !releases.contains(&r)
        {
            releases.push(r);
        }
    }
    rollout::About {
        verb: run.settings.verb,
        who: run.holder.who.clone(),
        commit: run.commit.clone(),
        release: (!releases.is_empty()).then(|| releases.join(" + ")),
    }
}

/// A preflight problem in any tenant about to deploy: a refusal before any write (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct PreflightFailed(String);

/// `stamp verify`'s checks for every tenant about to deploy, with the release each deploys;
/// an image, role or log group missing anywhere refuses the whole run, each listed per tenant.
/// What it read of each tenant, by tenant.
async fn preflight_gate(run: &Run, tenants: &[&Tenant]) -> anyhow::Result<crate::preflight::Reads> {
    // A saved plan carries the release of each tenant's services; they share one.
    let release_for = |t: &Tenant| match &run.saved {
        Some(p) => p
            .tenants
            .iter()
            .find(|st| st.tenant == t.name)
            .and_then(|st| st.services.first())
            .map(|ss| ss.release.clone()),
        None => run.release.clone(),
    };
    let checks = crate::preflight::check(
        &run.session,
        &run.fleet,
        &run.templates,
        tenants,
        &release_for,
        run.settings.concurrency,
    )
    .await;
    let failed: Vec<_> = checks.iter().filter(|c| c.refuses_deploy()).collect();
    if failed.is_empty() {
        return Ok(crate::preflight::reads(checks));
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

/// The tenants a deploy names (the saved plan's, or the arguments'), sharded, with every `-s`
/// service checked to exist in one of them.
fn select<'f>(
    args: &DeployArgs,
    fleet: &'f Fleet,
    saved: Option<&SavedPlan>,
) -> Result<Vec<&'f Tenant>> {
    let names: Vec<String> = match saved {
        Some(p) => p.tenants.iter().map(|t| t.tenant.clone()).collect(),
        None if !args.all && args.tenants.is_empty() => {
            return Err(Failure::usage(
                "name the tenants to deploy, or pass --all",
                Some("e.g. `stamp deploy acme` or `stamp deploy --all --yes`".to_owned()),
            ));
        }
        None => args.tenants.clone(),
    };
    let mut tenants = super::select_tenants(fleet, &names)?;
    if let Some(shard) = args.shard {
        tenants = fleet::shard(&tenants, shard);
    }
    for s in &args.services {
        super::service_of_any(&tenants, s)?;
    }
    Ok(tenants)
}

/// Refusals that need the commit: a saved plan made at another commit, and a tenant with no
/// release to deploy.
fn refuse_plan_or_release(
    args: &DeployArgs,
    saved: Option<&SavedPlan>,
    tenants: &[&Tenant],
    commit: &str,
) -> Result<()> {
    if let (Some(p), Some(path)) = (saved, &args.plan)
        && p.commit != commit
    {
        return Err(Failure::usage(
            format!(
                "--plan {}: the plan was made at commit {}, but the repository is at {commit}",
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
    Ok(())
}

fn settings(args: &DeployArgs) -> Settings {
    Settings {
        concurrency: args.concurrency,
        unit_concurrency: args.service_concurrency,
        failure_tolerance: args.failure_tolerance,
        ring: args.ring.clone(),
        ..Settings::from_flags("deploy", &args.write, args.timeout)
    }
}

/// The longest `before_deploy` timeout among the tenants' services.
fn longest_hook(tenants: &[&Tenant]) -> std::time::Duration {
    let secs = tenants
        .iter()
        .flat_map(|t| &t.services)
        .filter_map(|s| s.before_deploy.as_ref().map(|h| h.value.timeout_secs))
        .max()
        .unwrap_or(0);
    std::time::Duration::from_secs(secs)
}

/// Who takes the locks of this run, and the run's id.
pub(super) fn holder(session: &Session, digest: String) -> LockHolder {
    LockHolder {
        who: session.caller.arn.clone(),
        run_id: format!(
            "{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        ),
        digest,
    }
}

/// The plan shown before the question: the same selection as the deploy.
fn plan_args(args: &DeployArgs, tenants: &[&Tenant]) -> crate::cli::PlanArgs {
    crate::cli::PlanArgs {
        tenants: tenants.iter().map(|t| t.name.clone()).collect(),
        all: false,
        service: match args.services.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        },
        release: args.release.clone(),
        concurrency: args.concurrency,
        out: None,
        stats: false,
        aws: crate::cli::AwsArgs {
            profile: args.aws.profile.clone(),
        },
    }
}

/// The tenant's services `-s` selects (all without it), as their summary names.
fn selected_services(t: &Tenant, only: &[String]) -> Vec<String> {
    t.services
        .iter()
        .filter(|s| only.is_empty() || only.contains(&s.name))
        .map(|s| s.name.clone())
        .collect()
}

fn load_saved(args: &DeployArgs, fleet: &Fleet) -> Result<Option<SavedPlan>> {
    let Some(path) = &args.plan else {
        return Ok(None);
    };
    let hint = || Some("write a plan with `stamp plan --all --out FILE`".to_owned());
    let text = crate::input::read_argument(path, "a saved plan", crate::plan::SAVED_PLAN_LIMIT)
        .map_err(|e| {
            Failure::usage(
                format!("cannot read --plan {}: {e}", path.display()),
                hint(),
            )
        })?;
    let plan = SavedPlan::from_json(&text)
        .map_err(|e| Failure::usage(format!("--plan {}: {e}", path.display()), hint()))?;
    plan_matches_fleet(&plan, fleet).map_err(|what| {
        Failure::usage(
            format!("--plan {}: {what}", path.display()),
            Some("the fleet changed since the plan was made: make a new plan with `stamp plan --out FILE`".to_owned()),
        )
    })?;
    Ok(Some(plan))
}

/// One tenant: connect, read what its services need once, then its services side by side
/// through the engine.
pub(super) async fn deploy_tenant(run: Arc<Run>, ctl: Arc<Control>, start: Start) -> Vec<Row> {
    // A counter of the tenant's own, so its rows can say what was retried.
    let session = run.session.for_tenant();
    let t = &start.tenant;
    let wanted: Vec<&Service> = t
        .services
        .iter()
        .filter(|s| run.services.is_empty() || run.services.contains(&s.name))
        // With --plan, exactly the plan's services: a plan made with -s api deploys only api.
        .filter(|s| {
            run.saved
                .as_ref()
                .is_none_or(|p| in_plan(p, &t.name, &s.name))
        })
        .collect();
    let watched = wanted.iter().any(|s| s.alarms.is_some());
    let checked = run.checked.get(&t.name);
    let mut rows = match read_tenant(&session, t, watched, checked).await {
        Err(why) => wanted
            .iter()
            .map(|s| rollout::row(t, &start.ring, &s.name, Outcome::Failed, Some(why.clone())))
            .collect(),
        Ok(read) => {
            let read = Arc::new(read);
            let units = wanted
                .iter()
                .map(|s| Unit {
                    name: s.name.clone(),
                    item: (*s).clone(),
                })
                .collect();
            let (run, start2, ctl2) = (run.clone(), start.clone(), ctl.clone());
            rollout::each(
                &ctl,
                t,
                &start.ring,
                units,
                run.settings.unit_concurrency,
                move |s| deploy_service(run.clone(), read.clone(), start2.clone(), s, ctl2.clone()),
            )
            .await
        }
    };
    rollout::shared_retries_on_first(&mut rows, session.calls().snapshot().retries);
    rows
}

/// What a tenant's services share, read once before any of them starts.
struct TenantRead {
    deployer: Arc<TenantDeployer>,
    values: Arc<Values>,
    live: BTreeMap<String, Option<LiveEcsService>>,
    /// Locks other runs hold or left (a killed CI job's), by ECS service.
    held: BTreeMap<String, LockInfo>,
    /// The inspect role, when a service has `alarms` (the health gates read with it).
    inspect: Option<Arc<TenantReader>>,
}

async fn read_tenant(
    session: &Session,
    t: &Tenant,
    watched: bool,
    checked: Option<&Arc<Values>>,
) -> std::result::Result<TenantRead, String> {
    let deployer = TenantDeployer::connect(session, t)
        .await
        .map_err(|e| e.to_string())?;
    let names: Vec<String> = t.services.iter().map(|s| s.ecs_service.clone()).collect();
    let reader = deployer.reader();
    // Independent reads, side by side: at a wave's start every tenant waits for the slowest
    // of them, not for their sum.
    let (values, live, held, inspect) = tokio::join!(
        Values::checked_or_read(checked, reader, t),
        reader.describe_services(&t.cluster, &names),
        deployer.locks(&t.cluster),
        async {
            match watched {
                true => TenantReader::connect(session, t).await.map(Some),
                false => Ok(None),
            }
        },
    );
    let values = values.map_err(|e| e.to_string())?;
    if let Some(why) = values.unresolved() {
        return Err(why);
    }
    let live = live.map_err(|e| e.to_string())?;
    let held = held.map_err(|e| e.to_string())?;
    let inspect = inspect.map_err(|e| e.to_string())?.map(Arc::new);
    Ok(TenantRead {
        deployer: Arc::new(deployer),
        values,
        live,
        held,
        inspect,
    })
}

/// One service: the desired state, a first look without the lock, then under its lock the
/// engine's change → wait → verify.
async fn deploy_service(
    run: Arc<Run>,
    read: Arc<TenantRead>,
    start: Start,
    s: Service,
    ctl: Arc<Control>,
) -> Row {
    let t = &start.tenant;
    let mut out = rollout::row(t, &start.ring, &s.name, Outcome::Failed, None);
    let desired = match desired_state(&run, t, &s, &read.values.lookups) {
        Ok(d) => d,
        Err(why) => {
            out.detail = Some(why);
            return out;
        }
    };
    out.release = Some(desired.release.clone());
    let Some(live_svc) = read.live.get(&s.ecs_service).cloned().flatten() else {
        out.detail = Some(format!(
            "ECS service `{}` does not exist in cluster `{}`: create it first (stamp deploys into existing services)",
            s.ecs_service, t.cluster
        ));
        return out;
    };
    let deployer = &read.deployer;
    let image = &run.fleet.project.image;
    // A first look, without the lock: a service that already runs what the repo says, with
    // its rollout settled, needs nothing — not even a lock.
    let first = match current(deployer, image, &live_svc, &desired).await {
        Ok(look) if look.action == Action::Unchanged && settled(&live_svc) => {
            unchanged(&run, &read, &ctl.printer, t, &s, look.td.revision, &mut out).await;
            return out;
        }
        Ok(look) => look,
        Err(e) => {
            out.detail = Some(e.to_string());
            return out;
        }
    };
    let digest = desired.digest();
    let (guard, replaced, forced) =
        match lock_service(&run, deployer, &ctl.printer, t, &s, &digest).await {
            Ok(a) => (a.guard, a.replaced, a.forced),
            Err(why) => {
                out.detail = Some(why);
                return out;
            }
        };
    let audit = run.audit(&desired, &start, digest, forced);
    let locked = Locked {
        run: &run,
        deployer,
        printer: &ctl.printer,
        t,
        s: &s,
        ring: &start.ring,
        inspect: read.inspect.as_ref(),
    };
    locked
        .deploy(
            &desired,
            (&live_svc, &first),
            guard.mine.clone(),
            replaced,
            &audit,
            &mut out,
        )
        .await;
    if let Err(e) = guard.release().await {
        let why = format!("the lock could not be released: {e}");
        ctl.printer
            .error(format_args!("{}/{}: {why}", t.name, s.name));
        note(&mut out, why);
    }
    out
}

/// A service that already runs what the repo says, settled: nothing is written. A lock another
/// run left on it (a killed run whose rollout completed anyway) is named in the row.
async fn unchanged(
    run: &Run,
    read: &TenantRead,
    printer: &Printer,
    t: &Tenant,
    s: &Service,
    revision: i32,
    out: &mut Row,
) {
    out.result = Outcome::Unchanged;
    out.revision = Some(revision);
    out.previous_revision = Some(revision);
    if let Some(old) = read.held.get(&s.ecs_service) {
        out.detail = Some(leftover_lock(run, printer, &read.deployer, t, s, old).await);
    }
}

/// Takes the service's lock for a deploy of `digest`, saying so when it replaced another's.
async fn lock_service(
    run: &Run,
    deployer: &Arc<TenantDeployer>,
    printer: &Printer,
    t: &Tenant,
    s: &Service,
    digest: &str,
) -> std::result::Result<rollout::Acquired, String> {
    let holder = LockHolder {
        digest: digest.to_owned(),
        ..run.holder.clone()
    };
    let acquired = rollout::acquire(
        deployer,
        &t.cluster,
        &s.ecs_service,
        &holder,
        run.settings.lock_ttl,
        run.settings.force_unlock,
    )
    .await?;
    if let Some((_, note)) = &acquired.replaced {
        printer.info(format_args!("{}/{}: {note}", t.name, s.name));
    }
    Ok(acquired)
}

/// A service whose lock this run holds.
struct Locked<'a> {
    run: &'a Run,
    deployer: &'a Arc<TenantDeployer>,
    printer: &'a Printer,
    t: &'a Tenant,
    s: &'a Service,
    ring: &'a str,
    inspect: Option<&'a Arc<TenantReader>>,
}

impl Locked<'_> {
    /// Reads the service again (another run may have deployed it since the first look, and
    /// what runs now is what a rollback returns to), registers if the definition changed, and
    /// hands the rest to the engine.
    async fn deploy(
        &self,
        desired: &DesiredService,
        (first_svc, first): (&LiveEcsService, &FirstLook),
        mine: LockInfo,
        replaced: Option<(LockInfo, String)>,
        audit: &Audit,
        out: &mut Row,
    ) {
        let (t, s, deployer) = (self.t, self.s, self.deployer);
        out.detail = replaced.as_ref().map(|(_, note)| note.clone());
        let Some((live_svc, live_td)) = self
            .still_to_change(desired, (first_svc, &first.td), out)
            .await
        else {
            return;
        };
        let newest = first.newest_unless_moved(&live_td, replaced.is_none());
        let back_td = self
            .back_to(&live_td, replaced.as_ref().map(|(old, _)| old))
            .await;
        out.previous_revision = Some(back_td.revision);
        // The alarms before the first write: what a move into ALARM is measured from.
        let watch = match self.baseline().await {
            Ok(w) => w,
            Err(why) => {
                out.detail = Some(why);
                return;
            }
        };
        let tags = audit.to_tags();
        let count = plan::count_to_set(s.desired_count, live_svc.scaling);
        let Some(target) = self
            .register(desired, &live_td, newest, count, &tags, out)
            .await
        else {
            return;
        };
        if let Some(hook) = &desired.before_deploy
            && !self
                .before_deploy(hook, &target, desired, &live_svc, &tags, out)
                .await
        {
            return;
        }
        let roll = Roll {
            deployer,
            cluster: &t.cluster,
            service: &s.ecs_service,
            who: format!("{}/{}", t.name, s.name),
            limits: self.run.limits,
            printer: self.printer,
        };
        let gate = watch.as_ref().map(|(w, base)| Gate {
            watch: w,
            base,
            health: &self.run.health,
            ring: self.ring,
            who: roll.who.clone(),
        });
        roll.run_gated(
            mine,
            &target,
            &back_td,
            &live_svc,
            &tags,
            Outcome::Deployed,
            gate.as_ref(),
            out,
        )
        .await;
        if out.result == Outcome::Deployed {
            self.bake(target.revision, back_td, live_svc, watch);
        }
    }

    /// A deployed service, handed to the ring's health gate: watched through the bake, and
    /// rolled back to `back` if an alarm fires.
    fn bake(
        &self,
        revision: i32,
        back: LiveTaskDefinition,
        live: LiveEcsService,
        watch: Option<(Arc<Watch>, rollout::Baseline)>,
    ) {
        let (t, s) = (self.t, self.s);
        self.run.health.deployed(
            self.ring,
            Baked {
                tenant: t.name.clone(),
                service: s.name.clone(),
                deployer: self.deployer.clone(),
                cluster: t.cluster.clone(),
                ecs_service: s.ecs_service.clone(),
                revision,
                back,
                live,
                watch,
            },
        );
    }

    /// What runs, read again under the lock: `None` when there is nothing left to do (the
    /// service already runs what is desired, settled: `unchanged`) or it cannot be read (the
    /// row says why).
    ///
    /// Only the service is read again. What the lock guards against is another run's deploy,
    /// which changes the service's task definition and rollout, not whether an autoscaler owns
    /// its count (`infra apply`, which could, holds these locks while it runs): the first
    /// look's scaling is kept. A task definition is immutable, so the one the first look read
    /// is read again only when the service now runs another.
    async fn still_to_change(
        &self,
        desired: &DesiredService,
        (first_svc, first_td): (&LiveEcsService, &LiveTaskDefinition),
        out: &mut Row,
    ) -> Option<(LiveEcsService, LiveTaskDefinition)> {
        let (t, s, deployer) = (self.t, self.s, self.deployer);
        let fresh = async {
            let svc = deployer
                .reader()
                .describe_services_only(&t.cluster, std::slice::from_ref(&s.ecs_service))
                .await?
                .remove(&s.ecs_service)
                .flatten();
            let Some(mut svc) = svc else {
                return Ok(None);
            };
            svc.scaling = first_svc.scaling;
            let td = match svc.task_definition_arn == first_td.arn {
                true => first_td.clone(),
                false => {
                    deployer
                        .reader()
                        .describe_task_definition(&svc.task_definition_arn)
                        .await?
                }
            };
            let action = compare(&self.run.fleet.project.image, &svc, &td, desired);
            Ok::<_, crate::aws::TenantError>(Some((svc, td, action)))
        }
        .await;
        match fresh {
            Ok(Some((svc, td, action))) if action == Action::Unchanged && settled(&svc) => {
                out.result = Outcome::Unchanged;
                out.revision = Some(td.revision);
                out.previous_revision = Some(td.revision);
                None
            }
            Ok(Some((svc, td, _))) => Some((svc, td)),
            Ok(None) => {
                out.detail = Some(format!(
                    "ECS service `{}` disappeared while stamp held its lock",
                    s.ecs_service
                ));
                None
            }
            Err(e) => {
                out.detail = Some(e.to_string());
                None
            }
        }
    }

    /// The service's alarms as they are before its first write (`None` without `alarms`); an
    /// alarm already in ALARM is said, not held against this deploy.
    async fn baseline(
        &self,
    ) -> std::result::Result<Option<(Arc<Watch>, rollout::Baseline)>, String> {
        let (Some(names), Some(reader)) = (&self.s.alarms, self.inspect) else {
            return Ok(None);
        };
        let watch = Watch::new(reader.clone(), names.value.clone());
        let (base, firing) = watch.baseline().await.map_err(|e| {
            format!("the alarms could not be read before the deploy, nothing was changed: {e}")
        })?;
        for name in firing {
            self.printer.info(format_args!(
                "{}/{}: alarm {name} is in ALARM already; only a move into ALARM from now on fails this rollout",
                self.t.name, self.s.name
            ));
        }
        Ok(Some((Arc::new(watch), base)))
    }

    /// The service's `before_deploy` task with the revision about to roll out, before the
    /// service is touched; `false` when it did not exit 0 (the row says how, with the exit code
    /// and where the logs are, and the service stays as it was).
    async fn before_deploy(
        &self,
        hook: &crate::dsl::Hook,
        target: &Target,
        desired: &DesiredService,
        live_svc: &LiveEcsService,
        tags: &[(String, String)],
        out: &mut Row,
    ) -> bool {
        let task = OneOff {
            deployer: self.deployer,
            cluster: &self.t.cluster,
            who: format!("{}/{} before_deploy", self.t.name, self.s.name),
            poll: self.run.limits.poll,
            timeout: std::time::Duration::from_secs(hook.timeout_secs),
            printer: self.printer,
        };
        let ran = task
            .run_in(
                &target.arn,
                &desired.task_definition,
                hook.container.as_deref(),
                &hook.command,
                &live_svc.launch,
                tags,
            )
            .await;
        let end = match ran {
            Ok(end) if end.succeeded() => {
                out.logs.clone_from(&end.logs);
                note(
                    out,
                    format!(
                        "before_deploy `{}` exited 0",
                        rollout::shell_words(&hook.command)
                    ),
                );
                return true;
            }
            Ok(end) => end,
            Err(why) => {
                out.result = Outcome::BeforeDeployFailed;
                note(out, format!("before_deploy: {why}"));
                return false;
            }
        };
        out.result = Outcome::BeforeDeployFailed;
        note(
            out,
            format!("before_deploy `{}`", rollout::shell_words(&hook.command)),
        );
        end.fill(out);
        self.printer.error(format_args!(
            "{}/{}: before_deploy failed ({}); the service was not updated",
            self.t.name,
            self.s.name,
            end.describe()
        ));
        false
    }

    /// What a rollback returns to: what runs now, unless it is what a dead holder was rolling
    /// out (its journal says so), in which case what ran before that run started.
    async fn back_to(
        &self,
        live_td: &LiveTaskDefinition,
        old: Option<&LockInfo>,
    ) -> LiveTaskDefinition {
        let Some(r) = old.and_then(|o| o.rollout.as_ref()) else {
            return live_td.clone();
        };
        if r.to_revision != live_td.revision || r.from_arn == live_td.arn {
            return live_td.clone();
        }
        match self
            .deployer
            .reader()
            .describe_task_definition(&r.from_arn)
            .await
        {
            Ok(td) => td,
            Err(e) => {
                self.printer.error(format_args!(
                    "{}/{}: revision {} (what ran before the interrupted rollout) cannot be read, a rollback would return to revision {}: {e}",
                    self.t.name, self.s.name, r.from_revision, live_td.revision
                ));
                live_td.clone()
            }
        }
    }

    /// Only a changed definition gets a new revision: re-running a finished deploy registers
    /// nothing, and a revision an interrupted run registered is used, not registered again.
    async fn register(
        &self,
        desired: &DesiredService,
        live_td: &LiveTaskDefinition,
        newest: Newest<'_>,
        desired_count: Option<u32>,
        tags: &[(String, String)],
        out: &mut Row,
    ) -> Option<Target> {
        if plan::normalize(&desired.task_definition) == plan::normalize(&live_td.task_definition) {
            return Some(Target {
                arn: live_td.arn.clone(),
                revision: live_td.revision,
                desired_count,
            });
        }
        match self
            .deployer
            .register(&desired.task_definition, tags, newest)
            .await
        {
            Ok(r) => {
                if r.reused {
                    note(
                        out,
                        format!("revision {} was already registered; used it", r.revision),
                    );
                }
                Some(Target {
                    arn: r.arn,
                    revision: r.revision,
                    desired_count,
                })
            }
            Err(e) => {
                note(out, e.to_string());
                None
            }
        }
    }
}

/// Whether a saved plan deploys `tenant`/`service`.
fn in_plan(plan: &SavedPlan, tenant: &str, service: &str) -> bool {
    plan.tenants
        .iter()
        .any(|t| t.tenant == tenant && t.services.iter().any(|s| s.service == service))
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
/// same version, and rendering now must give the plan's digests. It checks what the preflight
/// read (a tenant the preflight could not read is read here), so the run reads each tenant once.
async fn verify_saved_plan(run: &Run, tenants: &[&Tenant]) -> anyhow::Result<()> {
    let Some(saved) = &run.saved else {
        return Ok(());
    };
    let mut moved = Vec::new();
    for t in tenants {
        let Some(st) = saved.tenants.iter().find(|s| s.tenant == t.name) else {
            continue;
        };
        let values = match run.checked.get(&t.name) {
            Some(values) => values.clone(),
            None => {
                let reader = TenantReader::connect(&run.session, t).await?;
                Arc::new(Values::read(&reader, t).await?)
            }
        };
        moved.extend(moved_since(run, t, st, &values));
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

/// What changed in one tenant since its plan was made, a line each.
fn moved_since(
    run: &Run,
    t: &Tenant,
    st: &crate::plan::SavedTenant,
    values: &Values,
) -> Vec<String> {
    if !values.missing.is_empty() {
        return vec![format!(
            "{}: {} reference(s) no longer resolve",
            t.name,
            values.missing.len()
        )];
    }
    let mut moved: Vec<String> = st
        .inputs
        .moved(&crate::plan::Inputs::from_lookups(&values.lookups))
        .into_iter()
        .map(|m| format!("{}: {m}", t.name))
        .collect();
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
            &values.lookups,
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
    moved
}

/// A lock another run holds or left on a service that already runs what the repo says (a
/// killed run's rollout that completed without it): removed when it has expired or with
/// `--force-unlock`, else left alone; either way the row says so, naming its holder and what
/// its journal says it had started.
async fn leftover_lock(
    run: &Run,
    printer: &Printer,
    deployer: &TenantDeployer,
    t: &Tenant,
    s: &crate::dsl::Service,
    old: &LockInfo,
) -> String {
    let expired = old.expires < jiff::Timestamp::now();
    if !expired && !run.settings.force_unlock {
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
    printer.info(format_args!("{}/{}: {said}", t.name, s.name));
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

/// A service's first look: the task definition it runs, the desired family's newest revision
/// (what registering would use instead, read here so that the lock's holder need not ask
/// again), and how the desired state compares. One call when the service runs its family's
/// newest revision, as after every finished deploy.
struct FirstLook {
    td: LiveTaskDefinition,
    newest: Option<LiveTaskDefinition>,
    action: Action,
}

impl FirstLook {
    /// What registering may rely on of the family's newest revision: this look's, when nothing
    /// moved since (the service still runs `live` as it saw it and the lock was `free`, not
    /// taken from a holder that died; aws::deploy's module docs), else nothing.
    fn newest_unless_moved(&self, live: &LiveTaskDefinition, free: bool) -> Newest<'_> {
        if free && live.arn == self.td.arn {
            Newest::Known(self.newest.as_ref())
        } else {
            Newest::Ask
        }
    }
}

async fn current(
    deployer: &TenantDeployer,
    image: &str,
    svc: &LiveEcsService,
    desired: &DesiredService,
) -> Result<FirstLook, crate::aws::TenantError> {
    let reader = deployer.reader();
    let newest = reader
        .latest_revision(&desired.task_definition.family)
        .await?;
    let td = match &newest {
        Some(n) if n.arn == svc.task_definition_arn => n.clone(),
        _ => {
            reader
                .describe_task_definition(&svc.task_definition_arn)
                .await?
        }
    };
    let action = compare(image, svc, &td, desired);
    Ok(FirstLook { td, newest, action })
}

/// How the desired state compares with a service running `td`.
fn compare(
    image: &str,
    svc: &LiveEcsService,
    td: &LiveTaskDefinition,
    desired: &DesiredService,
) -> Action {
    let live = super::live_service(image, Some((svc, td)));
    plan::compare(desired, &live).action
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
        run.release.as_deref(),
        lookups,
    ) {
        Ok(r) => Ok(DesiredService::from_rendered(&r, &t.account_id, &t.region)),
        Err(e) => Err(e.summary()),
    }
}
