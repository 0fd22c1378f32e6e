//! `stamp down`: removes everything stamp made for an ephemeral tenant, as one run of the
//! rollout engine — its services (scaled to zero, deleted), its stacks in reverse dependency
//! order, every revision of its task definition families (deregistered, deleted), and the lock
//! parameters runs left. It never touches the account's bootstrap stack: `down` leaves the
//! account as `up` found it.
//!
//! A tenant is removed only if its own file says `ephemeral = true`: checked before anything
//! else, whatever the flags, so a production tenant can never be torn down by stamp.

use std::sync::Arc;
use std::time::Duration;

use crate::aws::Session;
use crate::aws::deploy::LockHolder;
use crate::aws::stacks::{StackDeployer, StackOutcome};
use crate::cli::DownArgs;
use crate::dsl::{Fleet, Service, Stack, Tenant};
use crate::error::{Failure, Result};
use crate::fleet::{Outcome, Row};
use crate::render::{Templates, render_service};
use crate::resolve::Lookups;
use crate::rollout::{self, Control, Exit, Settings, Start, Unit};

use super::infra;

/// One removal, in the order they run.
#[derive(Clone)]
enum Removal {
    Service(Service),
    Stack(Stack),
    /// The task definition families the tenant's templates render.
    Families(Vec<String>),
    /// Lock parameters left under the tenant's cluster and stacks.
    Locks,
}

impl Removal {
    fn name(&self) -> String {
        match self {
            Removal::Service(s) => s.name.clone(),
            Removal::Stack(s) => infra::unit_name(s),
            Removal::Families(_) => "task-definitions".to_owned(),
            Removal::Locks => "locks".to_owned(),
        }
    }
}

/// What every tenant of the run shares.
struct Job {
    session: Session,
    holder: LockHolder,
    settings: Settings,
    timeout: Duration,
    poll: Duration,
    /// Families per tenant, rendered before the run.
    families: std::collections::BTreeMap<String, Vec<String>>,
}

pub(super) fn run(ctx: &super::Ctx, a: &DownArgs) -> Result<()> {
    let fleet = ctx.load_instance(&a.instance)?;
    let tenants = super::select_tenants(&fleet, &a.tenants)?;
    refuse_not_ephemeral(&tenants)?;
    let families = families(&fleet, &tenants)?;
    let settings = settings(a);
    let commit = rollout::refuse(&settings, &ctx.root, &fleet)?;
    let names: Vec<&str> = tenants.iter().map(|t| t.name.as_str()).collect();
    rollout::confirm_typed(&settings, &names, || {
        show(ctx, &tenants, &families);
        Ok(())
    })?;
    let (skipped, waves) = rollout::schedule(
        &fleet,
        &tenants,
        &settings,
        jiff::Timestamp::now(),
        &unit_names_of(&families),
        &ctx.printer,
    );
    let rt = super::runtime()?;
    let printer = ctx.printer.clone().with_live_status();
    let ended = rt.block_on(async {
        let session = ctx.session().await?;
        let job = Arc::new(Job {
            holder: super::deploy::holder(&session, String::new()),
            session,
            settings: settings.clone(),
            timeout: a.timeout,
            poll: a.poll_interval,
            families: families.clone(),
        });
        let about = rollout::About {
            verb: settings.verb,
            who: job.holder.who.clone(),
            commit: commit.clone(),
            release: None,
        };
        let notify = rollout::Notify::new(&fleet, about, &printer);
        let ctl = Control::new(&settings, printer, notify.clone());
        let (c, j) = (ctl.clone(), job.clone());
        let rows = rollout::run(
            ctl,
            &fleet.project.rings,
            waves,
            settings.concurrency,
            Arc::new(unit_names_of(&families)),
            move |start| down_tenant(j.clone(), c.clone(), start),
        )
        .await;
        anyhow::Ok((rows.map(|r| (r, job.session.calls().snapshot())), notify))
    })?;
    let (ended, notify) = ended;
    rollout::finish(
        &ctx.printer,
        rollout::Ending {
            skipped,
            ended,
            stats: a.stats,
            api_calls: true,
            rule: Exit::of,
            notify,
        },
    )
}

fn settings(a: &DownArgs) -> Settings {
    Settings {
        concurrency: a.concurrency,
        ..Settings::from_flags("remove", &a.write, a.timeout)
    }
}

/// Only a tenant whose own file says `ephemeral = true` (the loader never inherits it).
fn refuse_not_ephemeral(tenants: &[&Tenant]) -> Result<()> {
    let kept: Vec<&str> = tenants
        .iter()
        .filter(|t| !t.ephemeral)
        .map(|t| t.name.as_str())
        .collect();
    if kept.is_empty() {
        return Ok(());
    }
    Err(Failure::usage(
        format!(
            "refusing to remove {}: not marked `ephemeral = true` in {} own file; nothing was removed",
            kept.join(", "),
            if kept.len() == 1 { "its" } else { "their" }
        ),
        Some(
            "stamp tears down only disposable tenants: add `ephemeral = true` under [tenant] in the tenant's file (never for a customer's production tenant)"
                .to_owned(),
        ),
    ))
}

/// Each tenant's task definition families, as its templates render them (with placeholders:
/// a family is a name, not a value read from the account).
fn families(
    fleet: &Fleet,
    tenants: &[&Tenant],
) -> Result<std::collections::BTreeMap<String, Vec<String>>> {
    let templates = Templates::load(fleet)?;
    let offline = Lookups::offline();
    let mut out = std::collections::BTreeMap::new();
    for t in tenants {
        let mut fams = std::collections::BTreeSet::new();
        for s in &t.services {
            // Any release names the same family: a placeholder for a tenant without one.
            let release = t.release(None).is_none().then_some("release");
            let r = render_service(&templates, fleet, t, s, release, &offline).map_err(|e| {
                Failure::usage(
                    format!(
                        "{}/{}: cannot render its task definition to find its family: {}",
                        t.name,
                        s.name,
                        e.summary()
                    ),
                    Some("`stamp render --offline` shows the problem".to_owned()),
                )
            })?;
            fams.insert(r.task_definition.family.clone());
        }
        out.insert(t.name.clone(), fams.into_iter().collect());
    }
    Ok(out)
}

/// The removals of a tenant, in order: services, stacks (reverse dependency order), the
/// families' revisions, the locks left.
fn removals(t: &Tenant, families: Vec<String>) -> Vec<Removal> {
    let mut stacks = infra::ordered(t, None);
    stacks.reverse();
    t.services
        .iter()
        .cloned()
        .map(Removal::Service)
        .chain(stacks.into_iter().map(Removal::Stack))
        .chain([Removal::Families(families), Removal::Locks])
        .collect()
}

fn unit_names_of(
    families: &std::collections::BTreeMap<String, Vec<String>>,
) -> impl Fn(&Tenant) -> Vec<String> + Send + Sync + 'static {
    let families = families.clone();
    move |t: &Tenant| {
        let f = families.get(&t.name).cloned().unwrap_or_default();
        removals(t, f).iter().map(Removal::name).collect()
    }
}

fn show(
    ctx: &super::Ctx,
    tenants: &[&Tenant],
    families: &std::collections::BTreeMap<String, Vec<String>>,
) {
    for t in tenants {
        let mut stacks = infra::ordered(t, None);
        stacks.reverse();
        let services: Vec<&str> = t.services.iter().map(|s| s.ecs_service.as_str()).collect();
        let stacks: Vec<&str> = stacks.iter().map(|s| s.stack_name.as_str()).collect();
        ctx.printer.info(format_args!(
            "{} (account {}): removes services {} of cluster {}, stacks {}, every revision of {}, and the locks under /stamp/locks",
            t.name,
            t.account_id,
            services.join(", "),
            t.cluster,
            stacks.join(" → "),
            families.get(&t.name).map(|f| f.join(", ")).unwrap_or_default()
        ));
    }
}

/// One tenant: connect with its deploy role, then its removals one after the other.
async fn down_tenant(job: Arc<Job>, ctl: Arc<Control>, start: Start) -> Vec<Row> {
    let session = job.session.for_tenant();
    let t = &start.tenant;
    let families = job.families.get(&t.name).cloned().unwrap_or_default();
    let steps = removals(t, families);
    let mut rows = match StackDeployer::connect(&session, t).await {
        Err(e) => steps
            .iter()
            .map(|r| {
                rollout::row(
                    t,
                    &start.ring,
                    &r.name(),
                    Outcome::Failed,
                    Some(e.to_string()),
                )
            })
            .collect(),
        Ok(sd) => {
            let sd = Arc::new(sd);
            let units = steps
                .into_iter()
                .map(|r| Unit {
                    name: r.name(),
                    item: r,
                })
                .collect();
            let (job, start2, ctl2) = (job.clone(), start.clone(), ctl.clone());
            rollout::each(&ctl, t, &start.ring, units, 1, move |r| {
                remove(job.clone(), sd.clone(), start2.clone(), r, ctl2.clone())
            })
            .await
        }
    };
    rollout::shared_retries_on_first(&mut rows, session.calls().snapshot().retries);
    rows
}

/// One removal; its row says what went (`deployed` = done, `unchanged` = nothing was there).
async fn remove(
    job: Arc<Job>,
    sd: Arc<StackDeployer>,
    start: Start,
    r: Removal,
    ctl: Arc<Control>,
) -> Row {
    let t = &start.tenant;
    let mut row = rollout::row(t, &start.ring, &r.name(), Outcome::Failed, None);
    let said = match &r {
        Removal::Service(s) => {
            let scope = (t.cluster.as_str(), s.ecs_service.as_str());
            locked(&job, &sd, scope, remove_service(&job, &sd, t, s)).await
        }
        Removal::Stack(s) => {
            let scope = ("cloudformation", s.stack_name.as_str());
            locked(&job, &sd, scope, remove_stack(&job, &sd, t, s, &ctl)).await
        }
        Removal::Families(f) => remove_families(&sd, f).await,
        Removal::Locks => remove_locks(&sd, t).await,
    };
    match said {
        Ok(Some(what)) => {
            row.result = Outcome::Deployed;
            row.detail = Some(what);
        }
        Ok(None) => {
            row.result = Outcome::Unchanged;
            row.detail = Some("nothing to remove".to_owned());
        }
        Err(why) => row.detail = Some(why),
    }
    row
}

/// Runs `work` under the lock of `scope`, so a deploy or apply in flight is never pulled from
/// under: a held lock fails the removal (and the tenant's later ones) unless `--force-unlock`.
async fn locked(
    job: &Job,
    sd: &Arc<StackDeployer>,
    (scope, name): (&str, &str),
    work: impl Future<Output = std::result::Result<Option<String>, String>>,
) -> std::result::Result<Option<String>, String> {
    let acquired = rollout::acquire(
        sd.deployer(),
        scope,
        name,
        &job.holder,
        job.settings.lock_ttl,
        job.settings.force_unlock,
    )
    .await?;
    let out = work.await;
    // The lock goes with what it guarded: released (deleted) here either way.
    let released = acquired.guard.release().await;
    match (out, released) {
        (Ok(said), Ok(())) => Ok(said),
        (Ok(_), Err(e)) => Err(format!("removed, but its lock could not be released: {e}")),
        (Err(why), _) => Err(why),
    }
}

async fn remove_service(
    job: &Job,
    sd: &StackDeployer,
    t: &Tenant,
    s: &Service,
) -> std::result::Result<Option<String>, String> {
    match sd
        .deployer()
        .delete_service(&t.cluster, &s.ecs_service, job.timeout, job.poll)
        .await
    {
        Ok(true) => Ok(Some(format!(
            "scaled to 0 and deleted {}/{}",
            t.cluster, s.ecs_service
        ))),
        Ok(false) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

async fn remove_stack(
    job: &Job,
    sd: &StackDeployer,
    t: &Tenant,
    s: &Stack,
    ctl: &Control,
) -> std::result::Result<Option<String>, String> {
    let key = format!("{}/{}", t.name, s.key);
    let pr = ctl.printer.clone();
    let progress = move |st: &str| pr.info(format_args!("{key}: {st}"));
    match sd
        .delete_and_wait(&s.stack_name, job.timeout, &progress)
        .await
    {
        Ok(None) => Ok(None),
        Ok(Some(StackOutcome::Complete { .. })) => Ok(Some(format!("deleted {}", s.stack_name))),
        Ok(Some(StackOutcome::Failed { status, failures })) => Err(format!(
            "{status}: {}",
            failures.first().map_or_else(
                || "no failed resource in the stack events".to_owned(),
                |f| format!("{} ({}): {}", f.logical_id, f.resource_type, f.reason)
            )
        )),
        Ok(Some(StackOutcome::TimedOut { status })) => {
            Err(format!("still {status} after {:?}", job.timeout))
        }
        Err(e) => Err(e.to_string()),
    }
}

async fn remove_families(
    sd: &StackDeployer,
    families: &[String],
) -> std::result::Result<Option<String>, String> {
    let mut said = Vec::new();
    for f in families {
        let n = sd
            .deployer()
            .delete_family(f)
            .await
            .map_err(|e| e.to_string())?;
        if n > 0 {
            said.push(format!("{f} ({n} revision(s))"));
        }
    }
    Ok((!said.is_empty()).then(|| format!("deregistered and deleted {}", said.join(", "))))
}

async fn remove_locks(
    sd: &StackDeployer,
    t: &Tenant,
) -> std::result::Result<Option<String>, String> {
    let scopes = std::iter::once(t.cluster.clone()).chain(
        t.infra
            .iter()
            .map(|s| format!("cloudformation/{}", s.stack_name)),
    );
    let mut gone = Vec::new();
    for scope in scopes {
        gone.extend(
            sd.deployer()
                .delete_locks_under(&scope)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    Ok((!gone.is_empty()).then(|| format!("deleted {}", gone.join(", "))))
}
