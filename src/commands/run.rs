//! `stamp run T… | --all -s S -- CMD…`: a one-off task (a migration) in each tenant, from the
//! revision a deploy of the service would run (registered first if it changed), through the
//! rollout engine (refusals, windows, `--reason`, waves, `--concurrency`, `--shard`, the
//! service's lock). What runs is said here; the task step itself is `rollout::task`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::audit::Audit;
use crate::aws::Session;
use crate::aws::deploy::{LockHolder, TenantDeployer};
use crate::cli::RunArgs;
use crate::dsl::{Fleet, Service, Tenant};
use crate::error::{Failure, Result};
use crate::fleet::{self, Outcome, Row};
use crate::plan::{self, DesiredService};
use crate::preflight::Values;
use crate::render::{Templates, render_service};
use crate::rollout::task::{Ended, OneOff, TaskEnd};
use crate::rollout::{self, Control, Exit, Settings, Start, Unit, note};

/// The exit code of a one-tenant run whose task `--timeout` stopped (as `timeout(1)` does).
const TIMED_OUT: u8 = 124;

/// What every tenant task shares.
struct Job {
    fleet: Fleet,
    templates: Templates,
    session: Session,
    settings: Settings,
    holder: LockHolder,
    commit: String,
    service: String,
    container: Option<String>,
    command: Vec<String>,
    release: Option<String>,
    timeout: std::time::Duration,
    poll: std::time::Duration,
    /// Per tenant, the code a one-tenant run exits with.
    codes: Mutex<BTreeMap<String, u8>>,
    /// Each tenant's parameters, secrets and stack outputs as the preflight read them: the task
    /// runs what was checked, and the run reads them once (set once the preflight passed).
    checked: std::sync::OnceLock<crate::preflight::Reads>,
}

pub(super) fn run(ctx: &super::Ctx, args: &RunArgs) -> Result<()> {
    let fleet = ctx.load_fleet()?;
    let templates = Templates::load(&fleet)?;
    let tenants = select(args, &fleet)?;
    let settings = settings(args);
    let commit = rollout::refuse(&settings, &ctx.root, &fleet)?;
    refuse_without_release(args, &tenants)?;
    ask(ctx, args, &settings, &tenants)?;
    let service = args.service.clone();
    let units = move |_: &Tenant| vec![service.clone()];
    let (skipped, waves) = rollout::schedule(
        &fleet,
        &tenants,
        &settings,
        jiff::Timestamp::now(),
        &units,
        &ctx.printer,
    );
    let single = tenants.len() == 1;
    let (ended, job, notify) = super::runtime()?.block_on(async {
        let session = ctx.session().await?;
        let job = Arc::new(Job {
            holder: super::deploy::holder(&session, String::new()),
            fleet,
            templates,
            session,
            settings,
            commit,
            service: args.service.clone(),
            container: args.container.clone(),
            command: args.command.clone(),
            release: args.release.clone(),
            timeout: args.timeout,
            poll: args.poll_interval,
            codes: Mutex::default(),
            checked: std::sync::OnceLock::new(),
        });
        engine(ctx, job, waves, units).await
    })??;
    let finished = rollout::finish(
        &ctx.printer,
        rollout::Ending {
            skipped,
            ended,
            stats: args.stats,
            api_calls: true,
            rule: Exit::of,
            notify,
        },
    );
    // One tenant: the container's own exit code, as if the command had run here.
    let code = job
        .codes
        .lock()
        .ok()
        .and_then(|c| c.values().next().copied());
    match (finished, code) {
        (Err(Failure::Reported(1)), Some(c)) if single && c != 0 => Err(Failure::Reported(c)),
        (r, _) => r,
    }
}

/// The plan before y/N: what runs where, in which release.
fn ask(ctx: &super::Ctx, args: &RunArgs, settings: &Settings, tenants: &[&Tenant]) -> Result<()> {
    let words = rollout::shell_words(&args.command);
    rollout::confirm(
        settings,
        &format!(
            "run `{words}` in {} of {} tenant(s)?",
            args.service,
            tenants.len()
        ),
        || {
            for t in tenants {
                ctx.printer.info(format_args!(
                    "{}/{}: `{words}` in a one-off task of release {}",
                    t.name,
                    args.service,
                    t.release(args.release.as_deref())
                        .map_or_else(|| "?".to_owned(), |r| r.release)
                ));
            }
            Ok(())
        },
    )
}

/// What the engine's run ended with, the job (for the exit codes) and the notifications.
type Ran = (
    Option<(Vec<Row>, crate::aws::Counts)>,
    Arc<Job>,
    rollout::Notify,
);

/// The preflight, then the engine over the waves; `Ok(Err(_))` is a refusal before any task.
async fn engine(
    ctx: &super::Ctx,
    job: Arc<Job>,
    waves: Vec<(String, Vec<Start>)>,
    units: impl Fn(&Tenant) -> Vec<String> + Send + Sync + 'static,
) -> anyhow::Result<Result<Ran>> {
    // The last refusal before the first task anywhere: deploy's preflight (images, roles,
    // log groups), for the release each tenant's task runs.
    match preflight(&job, &rollout::starting(&waves)).await {
        Ok(checked) => {
            let _ = job.checked.set(checked);
        }
        Err(refusal) => return Ok(Err(refusal)),
    }
    let about = rollout::About {
        verb: job.settings.verb,
        who: job.holder.who.clone(),
        commit: job.commit.clone(),
        release: Some(format!(
            "{} (`{}` in {})",
            job.release.as_deref().unwrap_or("each tenant's release"),
            rollout::shell_words(&job.command),
            job.service
        )),
    };
    let printer = ctx.printer.clone().with_live_status();
    let notify = rollout::Notify::new(&job.fleet, about, &printer);
    let ctl = Control::new(&job.settings, printer, notify.clone());
    let j = job.clone();
    let rows = rollout::run(
        ctl.clone(),
        &job.fleet.project.rings.clone(),
        waves,
        job.settings.concurrency,
        Arc::new(units),
        move |start| run_tenant(j.clone(), ctl.clone(), start),
    )
    .await;
    let ended = rows.map(|rows| (rows, job.session.calls().snapshot()));
    Ok(Ok((ended, job, notify)))
}

/// Deploy's preflight for the tenants about to run a task: a missing image, role or log group
/// anywhere refuses the whole run (exit 2), each listed per tenant. What it read of each
/// tenant, by tenant.
async fn preflight(
    job: &Job,
    tenants: &[&Tenant],
) -> std::result::Result<crate::preflight::Reads, Failure> {
    let release_for = |_: &Tenant| job.release.clone();
    let checks = crate::preflight::check(
        &job.session,
        &job.fleet,
        &job.templates,
        tenants,
        &release_for,
        job.settings.concurrency,
    )
    .await;
    let lines: Vec<String> = checks
        .iter()
        .filter(|c| c.refuses_deploy())
        .flat_map(|c| {
            c.problems
                .iter()
                .filter(|p| p.missing)
                .map(move |p| format!("{}: {}", c.tenant, p.detail))
        })
        .collect();
    if lines.is_empty() {
        return Ok(crate::preflight::reads(checks));
    }
    Err(Failure::usage(
        format!(
            "preflight failed; no task was started:\n  {}",
            lines.join("\n  ")
        ),
        Some("push the image, or create what is missing (`stamp infra apply`); `stamp verify` checks again".to_owned()),
    ))
}

fn settings(args: &RunArgs) -> Settings {
    Settings {
        concurrency: args.concurrency,
        failure_tolerance: args.failure_tolerance,
        ring: args.ring.clone(),
        ..Settings::from_flags("run", &args.write, args.timeout)
    }
}

/// The tenants named (or all), sharded; the service must be one of theirs.
fn select<'f>(args: &RunArgs, fleet: &'f Fleet) -> Result<Vec<&'f Tenant>> {
    if !args.all && args.tenants.is_empty() {
        return Err(Failure::usage(
            "name the tenants to run the task in, or pass --all",
            Some("e.g. `stamp run acme -s api -- ./migrate up`".to_owned()),
        ));
    }
    let mut tenants = super::select_tenants(fleet, &args.tenants)?;
    if let Some(shard) = args.shard {
        tenants = fleet::shard(&tenants, shard);
    }
    super::service_of_any(&tenants, &args.service)?;
    // A tenant without the service has nothing to run: named, it is a mistake; with --all,
    // it is left out.
    if !args.all {
        for t in &tenants {
            super::service(t, &args.service)?;
        }
    }
    tenants.retain(|t| t.service(&args.service).is_some());
    Ok(tenants)
}

fn refuse_without_release(args: &RunArgs, tenants: &[&Tenant]) -> Result<()> {
    let none: Vec<&str> = tenants
        .iter()
        .filter(|t| t.release(args.release.as_deref()).is_none())
        .map(|t| t.name.as_str())
        .collect();
    if none.is_empty() {
        return Ok(());
    }
    Err(Failure::usage(
        format!(
            "no release for {}: not pinned, no --release, none in _defaults.toml",
            none.join(", ")
        ),
        Some("pass --release X".to_owned()),
    ))
}

async fn run_tenant(job: Arc<Job>, ctl: Arc<Control>, start: Start) -> Vec<Row> {
    let session = job.session.for_tenant();
    let t = &start.tenant;
    let Some(s) = t.service(&job.service).cloned() else {
        return Vec::new();
    };
    let mut rows = match TenantDeployer::connect(&session, t).await {
        Err(e) => vec![rollout::row(
            t,
            &start.ring,
            &s.name,
            Outcome::Failed,
            Some(e.to_string()),
        )],
        Ok(d) => {
            let d = Arc::new(d);
            let unit = Unit {
                name: s.name.clone(),
                item: s,
            };
            let (job, start2, ctl2) = (job.clone(), start.clone(), ctl.clone());
            rollout::each(&ctl, t, &start.ring, vec![unit], 1, move |s| {
                run_one(job.clone(), d.clone(), start2.clone(), s, ctl2.clone())
            })
            .await
        }
    };
    rollout::shared_retries_on_first(&mut rows, session.calls().snapshot().retries);
    rows
}

/// One tenant's task: render, read the live service, then under the service's lock register
/// if changed and run.
async fn run_one(
    job: Arc<Job>,
    d: Arc<TenantDeployer>,
    start: Start,
    s: Service,
    ctl: Arc<Control>,
) -> Row {
    let t = &start.tenant;
    let mut out = rollout::row(t, &start.ring, &s.name, Outcome::Failed, None);
    let (desired, live) = match prepare(&job, &d, t, &s).await {
        Ok(x) => x,
        Err(why) => {
            out.detail = Some(why);
            return out;
        }
    };
    out.release = Some(desired.release.clone());
    let holder = LockHolder {
        digest: desired.digest(),
        ..job.holder.clone()
    };
    let settings = &job.settings;
    let acquired = rollout::acquire(
        &d,
        &t.cluster,
        &s.ecs_service,
        &holder,
        settings.lock_ttl,
        settings.force_unlock,
    )
    .await;
    let (guard, forced) = match acquired {
        Ok(a) => (a.guard, a.forced),
        Err(why) => {
            out.detail = Some(why);
            return out;
        }
    };
    let audit = Audit {
        commit: Some(job.commit.clone()),
        digest: Some(holder.digest.clone()),
        release: Some(desired.release.clone()),
        deployer: Some(job.holder.who.clone()),
        r#override: start.r#override.clone(),
        forced_unlock: forced,
    };
    let end = locked(&job, &d, &ctl, t, &s, &desired, &live, &audit, &mut out).await;
    if let Err(e) = guard.release().await {
        note(&mut out, format!("the lock could not be released: {e}"));
    }
    if let Some(end) = end {
        if let Ok(mut codes) = job.codes.lock() {
            codes.insert(t.name.clone(), exit_code(&end));
        }
        if end.succeeded() {
            out.result = Outcome::Succeeded;
        }
        end.fill(&mut out);
    }
    out
}

/// The code a one-tenant run exits with: the container's (1 for one outside 1..=255), 124 for
/// a timeout, 1 for a task that did not start or could not be followed.
fn exit_code(end: &TaskEnd) -> u8 {
    match end.ended {
        Ended::Exited(0) => 0,
        Ended::Exited(c) => u8::try_from(c).ok().filter(|c| *c != 0).unwrap_or(1),
        Ended::TimedOut { .. } => TIMED_OUT,
        _ => 1,
    }
}

/// What the task runs (the desired state, as deploy renders it) and where (the live service).
async fn prepare(
    job: &Job,
    d: &TenantDeployer,
    t: &Tenant,
    s: &Service,
) -> std::result::Result<(DesiredService, crate::aws::LiveEcsService), String> {
    let checked = job.checked.get().and_then(|m| m.get(&t.name));
    let values = Values::checked_or_read(checked, d.reader(), t)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(why) = values.unresolved() {
        return Err(why);
    }
    let r = render_service(
        &job.templates,
        &job.fleet,
        t,
        s,
        job.release.as_deref(),
        &values.lookups,
    )
    .map_err(|e| e.summary())?;
    let desired = DesiredService::from_rendered(&r, &t.account_id, &t.region);
    let live = d
        .reader()
        .describe_services(&t.cluster, std::slice::from_ref(&s.ecs_service))
        .await
        .map_err(|e| e.to_string())?
        .remove(&s.ecs_service)
        .flatten()
        .ok_or_else(|| {
            format!(
                "ECS service `{}` does not exist in cluster `{}`: a one-off task runs where the service's tasks run",
                s.ecs_service, t.cluster
            )
        })?;
    Ok((desired, live))
}

/// Under the lock: the revision (the live one if it is what the repo renders, else registered
/// or reused as deploy does), then the task. `None` when no task was started for a reason the
/// row already says.
#[allow(clippy::too_many_arguments)]
async fn locked(
    job: &Job,
    d: &TenantDeployer,
    ctl: &Control,
    t: &Tenant,
    s: &Service,
    desired: &DesiredService,
    live: &crate::aws::LiveEcsService,
    audit: &Audit,
    out: &mut Row,
) -> Option<TaskEnd> {
    let tags = audit.to_tags();
    let (arn, revision) = match revision(d, desired, live, &tags).await {
        Ok(x) => x,
        Err(why) => {
            out.detail = Some(why);
            return None;
        }
    };
    out.revision = Some(revision);
    let task = OneOff {
        deployer: d,
        cluster: &t.cluster,
        who: format!("{}/{}", t.name, s.name),
        poll: job.poll,
        timeout: job.timeout,
        printer: &ctl.printer,
    };
    match task
        .run_in(
            &arn,
            &desired.task_definition,
            job.container.as_deref(),
            &job.command,
            &live.launch,
            &tags,
        )
        .await
    {
        Ok(end) => Some(end),
        Err(why) => {
            out.detail = Some(why);
            None
        }
    }
}

/// The revision to run: what the service runs when that is what the repo renders; otherwise a
/// registration (an identical newest revision with the same digest is reused).
async fn revision(
    d: &TenantDeployer,
    desired: &DesiredService,
    live: &crate::aws::LiveEcsService,
    tags: &[(String, String)],
) -> std::result::Result<(String, i32), String> {
    let live_td = d
        .reader()
        .describe_task_definition(&live.task_definition_arn)
        .await
        .map_err(|e| e.to_string())?;
    if plan::normalize(&desired.task_definition) == plan::normalize(&live_td.task_definition) {
        return Ok((live_td.arn, live_td.revision));
    }
    let r = d
        .register(
            &desired.task_definition,
            tags,
            crate::aws::deploy::Newest::Ask,
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok((r.arn, r.revision))
}
