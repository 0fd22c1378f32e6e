//! `stamp up`: a tenant from an account holding only its roles — its stacks (`infra apply`, in
//! `cfn_output` dependency order, waiting for each), then its services (`deploy`), as one run
//! of the rollout engine. What a stack or a service becomes is said by `infra` and `deploy`;
//! this file only puts them in order and skips the services of a tenant whose stack failed.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::aws::Counts;
use crate::aws::deploy::WaitLimits;
use crate::cli::UpArgs;
use crate::dsl::{Fleet, Tenant, instance::STACK_PARAMETER};
use crate::error::{Failure, Result};
use crate::fleet::{Outcome, Row};
use crate::infra::template::StackTemplate;
use crate::render::Templates;
use crate::rollout::{self, Control, Exit, Health, Settings, Start};

use super::{deploy, infra};

/// What the refusals left to build: the fleet, both kinds of templates, the run's settings.
struct Prepared {
    fleet: Fleet,
    stack_templates: Arc<BTreeMap<String, StackTemplate>>,
    templates: Templates,
    settings: Settings,
    commit: String,
}

pub(super) fn run(ctx: &super::Ctx, a: &UpArgs) -> Result<()> {
    let fleet = ctx.load_instance(&a.instance)?;
    let tenants: Vec<Tenant> = super::select_tenants(&fleet, &a.tenants)?
        .into_iter()
        .cloned()
        .collect();
    refuse_instance_templates(&fleet, &tenants, a.instance.instance.as_deref())?;
    let stack_templates = infra::load_templates(ctx, &fleet)?;
    let templates = Templates::load(&fleet)?;
    let settings = settings(a);
    let commit = rollout::refuse(&settings, &ctx.root, &fleet)?;
    refuse_no_release(&tenants, a.release.as_deref())?;
    rollout::confirm(
        &settings,
        &format!("build {} tenant(s) as listed above?", tenants.len()),
        || show(ctx, &tenants),
    )?;
    let refs: Vec<&Tenant> = tenants.iter().collect();
    let (skipped, waves) = rollout::schedule(
        &fleet,
        &refs,
        &settings,
        jiff::Timestamp::now(),
        &unit_names,
        &ctx.printer,
    );
    let p = Prepared {
        fleet,
        stack_templates,
        templates,
        settings,
        commit,
    };
    let (ended, notify) = super::runtime()?.block_on(engine(ctx, a, p, waves))?;
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

/// The engine's run over the waves: each tenant's stacks, then its services.
async fn engine(
    ctx: &super::Ctx,
    a: &UpArgs,
    p: Prepared,
    waves: Vec<(String, Vec<Start>)>,
) -> anyhow::Result<(Option<(Vec<Row>, Counts)>, rollout::Notify)> {
    let session = ctx.session().await?;
    let holder = deploy::holder(&session, String::new());
    let job = Arc::new(infra::Job {
        session: session.clone(),
        templates: p.stack_templates,
        holder: holder.clone(),
        commit: p.commit.clone(),
        settings: p.settings.clone(),
        timeout: a.timeout,
        only: None,
    });
    let rings = p.fleet.project.rings.clone();
    let printer = ctx.printer.clone().with_live_status();
    let about = rollout::About {
        verb: p.settings.verb,
        who: holder.who.clone(),
        commit: p.commit.clone(),
        release: a.release.clone(),
    };
    let notify = rollout::Notify::new(&p.fleet, about, &printer);
    let run = Arc::new(deploy_run(
        a,
        p.fleet,
        p.templates,
        session.clone(),
        holder,
        p.commit,
        printer.clone(),
    ));
    let ctl = Control::new(&p.settings, printer.clone(), notify.clone());
    let c = ctl.clone();
    let rows = rollout::run(
        ctl,
        &rings,
        waves,
        p.settings.concurrency,
        Arc::new(unit_names),
        move |start| up_tenant(job.clone(), run.clone(), c.clone(), start),
    )
    .await;
    Ok((rows.map(|r| (r, session.calls().snapshot())), notify))
}

fn settings(a: &UpArgs) -> Settings {
    Settings {
        concurrency: a.concurrency,
        ..Settings::from_flags("build", &a.write, a.timeout)
    }
}

/// The deploy half's settings: every service of the tenant, no saved plan.
fn deploy_run(
    a: &UpArgs,
    fleet: Fleet,
    templates: Templates,
    session: crate::aws::Session,
    holder: crate::aws::deploy::LockHolder,
    commit: String,
    printer: crate::output::Printer,
) -> deploy::Run {
    let mut settings = settings(a);
    settings.verb = "deploy";
    settings.unit_concurrency = 4;
    let limits = WaitLimits {
        timeout: a.timeout,
        poll: a.poll_interval,
    };
    // Alarms are watched during each rollout as deploy does; no bake: `up` builds one tenant's
    // copy, not a fleet ring by ring.
    let health = Health::new(None, limits, holder.clone(), settings.lock_ttl, printer);
    deploy::Run {
        health,
        fleet,
        templates,
        session,
        release: a.release.clone(),
        limits,
        settings,
        holder,
        commit,
        services: Vec::new(),
        saved: None,
        // No preflight: each tenant reads its values after its stacks are built (their outputs
        // are among them).
        checked: Default::default(),
    }
}

/// A tenant's rows: one per stack (`stack:KEY`), then one per service.
fn unit_names(t: &Tenant) -> Vec<String> {
    infra::ordered(t, None)
        .iter()
        .map(infra::unit_name)
        .chain(t.services.iter().map(|s| s.name.clone()))
        .collect()
}

/// Stacks first; the services only once every stack is there.
async fn up_tenant(
    job: Arc<infra::Job>,
    run: Arc<deploy::Run>,
    ctl: Arc<Control>,
    start: Start,
) -> Vec<Row> {
    let mut rows = infra::apply_tenant(job, ctl.clone(), start.clone()).await;
    if let Some(failed) = rows.iter().find(|r| r.result.is_failure()) {
        let why = format!(
            "not started: {} failed, and the services come from the stacks",
            failed.service
        );
        let t = &start.tenant;
        rows.extend(
            t.services.iter().map(|s| {
                rollout::row(t, &start.ring, &s.name, Outcome::Skipped, Some(why.clone()))
            }),
        );
        return rows;
    }
    rows.extend(deploy::deploy_tenant(run, ctl, start).await);
    rows
}

/// With `--instance`, a stack template that cannot name its resources after the instance would
/// collide with the other copies in the account: refused before anything is read or written.
fn refuse_instance_templates(
    fleet: &Fleet,
    tenants: &[Tenant],
    instance: Option<&str>,
) -> Result<()> {
    if instance.is_none() {
        return Ok(());
    }
    let names: std::collections::BTreeSet<&str> = tenants
        .iter()
        .flat_map(|t| &t.infra)
        .map(|s| s.template.value.as_str())
        .collect();
    // A template that cannot be read is reported by the load that follows, with its reason.
    let lacking: Vec<&str> = names
        .into_iter()
        .filter(|name| {
            crate::infra::template::load(&fleet.root, name)
                .is_ok_and(|tpl| !tpl.parameters.contains_key(STACK_PARAMETER))
        })
        .collect();
    if lacking.is_empty() {
        return Ok(());
    }
    let (which, verb) = match lacking.as_slice() {
        [one] => (format!("templates/{one}"), "does"),
        many => (format!("templates/{}", many.join(", templates/")), "do"),
    };
    Err(Failure::usage(
        format!(
            "--instance: {which} {verb} not declare the parameter `{STACK_PARAMETER}`, so the resources named there would collide with the other copies in the account"
        ),
        Some(format!(
            "declare `{STACK_PARAMETER}: {{ Type: String, Default: \"\" }}` and end every name the template gives (cluster, services, families, roles, log groups) with `${{{STACK_PARAMETER}}}`"
        )),
    ))
}

fn refuse_no_release(tenants: &[Tenant], release: Option<&str>) -> Result<()> {
    let none: Vec<&str> = tenants
        .iter()
        .filter(|t| t.release(release).is_none())
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

/// What the question is about, on stderr: per tenant, its stacks in order, then its services.
fn show(ctx: &super::Ctx, tenants: &[Tenant]) -> Result<()> {
    for t in tenants {
        let stacks: Vec<String> = infra::ordered(t, None)
            .iter()
            .map(|s| s.stack_name.clone())
            .collect();
        let services: Vec<&str> = t.services.iter().map(|s| s.ecs_service.as_str()).collect();
        ctx.printer.info(format_args!(
            "{} (account {}, cluster {}): stacks {}, then services {}",
            t.name,
            t.account_id,
            t.cluster,
            stacks.join(" → "),
            services.join(", ")
        ));
    }
    Ok(())
}
