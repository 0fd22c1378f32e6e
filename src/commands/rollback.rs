//! `stamp rollback T -s S [--to N]`: one service back to an earlier revision, through the same
//! engine as a deploy (refusals, window rules, `--reason`, lock, wait, tags, summary).
//!
//! The default target is the newest earlier revision stamp itself registered (it carries
//! `stamp:digest`); a revision stamp did not register (the CloudFormation bootstrap placeholder,
//! one registered by hand) is never chosen silently.

use std::sync::Arc;

use crate::audit::Audit;
use crate::aws::deploy::{TenantDeployer, WaitLimits};
use crate::aws::{LiveTaskDefinition, Session, TenantReader};
use crate::cli::RollbackArgs;
use crate::dsl::{Service, Tenant};
use crate::error::{Failure, Result};
use crate::fleet::{Outcome, Row};
use crate::rollout::{self, Control, Exit, Roll, Settings, Start, Target, Unit, note};

/// What the rollback goes from and to, read before anything is written.
struct Choice {
    current: LiveTaskDefinition,
    target: LiveTaskDefinition,
    /// Earlier revisions passed over because stamp did not register them.
    passed: Vec<i32>,
}

impl Choice {
    fn by_stamp(td: &LiveTaskDefinition) -> bool {
        td.tags.contains_key(crate::audit::DIGEST)
    }

    /// The plan line shown before y/N and on stderr.
    fn describe(&self, t: &Tenant, s: &Service) -> String {
        let release = |td: &LiveTaskDefinition| {
            td.tags
                .get(crate::audit::RELEASE)
                .map_or_else(|| "release unknown".to_owned(), |r| format!("release {r}"))
        };
        let mut line = format!(
            "{}/{}: revision {} ({}) → revision {} ({})",
            t.name,
            s.name,
            self.current.revision,
            release(&self.current),
            self.target.revision,
            release(&self.target)
        );
        if !self.passed.is_empty() {
            line.push_str(&format!(
                "; passed over revision(s) {} (not deployed by stamp)",
                join(&self.passed)
            ));
        }
        if !Self::by_stamp(&self.target) {
            line.push_str(&format!(
                "; revision {} was not deployed by stamp (no stamp:digest tag): its release, commit and deployer are unknown",
                self.target.revision
            ));
        }
        line
    }
}

fn join(revs: &[i32]) -> String {
    revs.iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn run(ctx: &super::Ctx, args: &RollbackArgs) -> Result<()> {
    let fleet = ctx.load_fleet()?;
    let tenant = super::tenant(&fleet, &args.tenant)?;
    let service = super::service(tenant, &args.service)?.clone();
    let settings = settings(args);
    // The rollback's tags are those of the revision that runs again; the commit check is the
    // same refusal as a deploy's.
    let commit = rollout::refuse(&settings, &ctx.root, &fleet)?;
    let rt = super::runtime()?;
    let (session, choice) = rt.block_on(async {
        let session = ctx.session().await?;
        let reader = TenantReader::connect(&session, tenant).await?;
        let choice = choose(&reader, tenant, &service, args.to).await?;
        anyhow::Ok((session, choice))
    })?;
    let choice = choice?;
    let plan = choice.describe(tenant, &service);
    ctx.printer.info(&plan);
    rollout::confirm(&settings, "roll back as shown above?", || Ok(()))?;
    let name = service.name.clone();
    let units = move |_: &Tenant| vec![name.clone()];
    let (skipped, waves) = rollout::schedule(
        &fleet,
        &[tenant],
        &settings,
        jiff::Timestamp::now(),
        &units,
        &ctx.printer,
    );
    let about = rollout::About {
        verb: settings.verb,
        who: session.caller.arn.clone(),
        commit,
        release: Some(format!(
            "{} → revision {}",
            choice
                .target
                .tags
                .get(crate::audit::RELEASE)
                .map_or("release unknown", String::as_str),
            choice.target.revision
        )),
    };
    let notify = rollout::Notify::new(&fleet, about, &ctx.printer);
    let ctl = Control::new(&settings, ctx.printer.clone(), notify.clone());
    let calls = session.calls().clone();
    let job = Arc::new(Job {
        holder: super::deploy::holder(&session, String::new()),
        session,
        service,
        choice,
        settings,
        limits: WaitLimits {
            timeout: args.timeout,
            poll: args.poll_interval,
        },
    });
    let ended = rt.block_on(async {
        let rows = rollout::run(
            ctl.clone(),
            &fleet.project.rings,
            waves,
            1,
            Arc::new(units),
            move |start| roll_back_tenant(job.clone(), ctl.clone(), start),
        )
        .await;
        rows.map(|r| (r, calls.snapshot()))
    });
    rollout::finish(
        &ctx.printer,
        rollout::Ending {
            skipped,
            ended,
            stats: false,
            api_calls: false,
            rule: Exit::of_rollback,
            notify,
        },
    )
}

fn settings(args: &RollbackArgs) -> Settings {
    Settings::from_flags("roll back", &args.write, args.timeout)
}

/// The target: `--to N`, or the newest earlier revision stamp registered. A missing target is
/// a refusal (exit 2): nothing was written.
async fn choose(
    reader: &TenantReader,
    t: &Tenant,
    s: &Service,
    to: Option<i32>,
) -> anyhow::Result<Result<Choice>> {
    let live = reader
        .describe_services(&t.cluster, std::slice::from_ref(&s.ecs_service))
        .await?;
    let Some(svc) = live.get(&s.ecs_service).cloned().flatten() else {
        return Ok(Err(Failure::usage(
            format!(
                "ECS service `{}` does not exist in cluster `{}`",
                s.ecs_service, t.cluster
            ),
            None,
        )));
    };
    let current = reader
        .describe_task_definition(&svc.task_definition_arn)
        .await?;
    let family = crate::aws::read::family_of(&current.arn)
        .unwrap_or_default()
        .to_owned();
    // Newest first.
    let revisions = reader.list_revisions(&family, 100).await?;
    let number = |a: &String| a.rsplit(':').next().and_then(|r| r.parse::<i32>().ok());
    let history = format!("`stamp history {} -s {}` lists them", t.name, s.name);
    if to == Some(current.revision) {
        return Ok(Err(Failure::usage(
            format!(
                "`{}` already runs {family}:{}; nothing to roll back to",
                s.ecs_service, current.revision
            ),
            Some(history),
        )));
    }
    if let Some(n) = to {
        let Some(arn) = revisions.iter().find(|a| number(a) == Some(n)) else {
            return Ok(Err(Failure::usage(
                format!("{family} has no active revision {n}"),
                Some(history),
            )));
        };
        let target = reader.describe_task_definition(arn).await?;
        return Ok(Ok(Choice {
            current,
            target,
            passed: Vec::new(),
        }));
    }
    let mut passed = Vec::new();
    for arn in revisions
        .iter()
        .filter(|a| number(a).is_some_and(|r| r < current.revision))
    {
        let td = reader.describe_task_definition(arn).await?;
        if Choice::by_stamp(&td) {
            return Ok(Ok(Choice {
                current,
                target: td,
                passed,
            }));
        }
        passed.push(td.revision);
    }
    let also = if passed.is_empty() {
        String::new()
    } else {
        format!(
            " (revision(s) {} were not deployed by stamp, e.g. the stack's bootstrap placeholder)",
            join(&passed)
        )
    };
    Ok(Err(Failure::usage(
        format!(
            "{family}:{} has no earlier revision deployed by stamp{also}; nothing to roll back to",
            current.revision
        ),
        Some(format!("name one with --to N if you mean it; {history}")),
    )))
}

/// What the rollback's one unit needs.
struct Job {
    session: Session,
    holder: crate::aws::deploy::LockHolder,
    service: Service,
    choice: Choice,
    settings: Settings,
    limits: WaitLimits,
}

async fn roll_back_tenant(job: Arc<Job>, ctl: Arc<Control>, start: Start) -> Vec<Row> {
    let t = &start.tenant;
    let session = job.session.for_tenant();
    let mut rows = match TenantDeployer::connect(&session, t).await {
        Err(e) => vec![rollout::row(
            t,
            &start.ring,
            &job.service.name,
            Outcome::Failed,
            Some(e.to_string()),
        )],
        Ok(d) => {
            let d = Arc::new(d);
            let unit = Unit {
                name: job.service.name.clone(),
                item: (),
            };
            let (job, start2, ctl2) = (job.clone(), start.clone(), ctl.clone());
            rollout::each(&ctl, t, &start.ring, vec![unit], 1, move |()| {
                roll_back(job.clone(), d.clone(), start2.clone(), ctl2.clone())
            })
            .await
        }
    };
    rollout::shared_retries_on_first(&mut rows, session.calls().snapshot().retries);
    rows
}

async fn roll_back(job: Arc<Job>, d: Arc<TenantDeployer>, start: Start, ctl: Arc<Control>) -> Row {
    let (t, s, c) = (&start.tenant, &job.service, &job.choice);
    let mut out = rollout::row(t, &start.ring, &s.name, Outcome::Failed, None);
    out.previous_revision = Some(c.current.revision);
    out.release = c.target.tags.get(crate::audit::RELEASE).cloned();
    let holder = crate::aws::deploy::LockHolder {
        digest: c
            .target
            .tags
            .get(crate::audit::DIGEST)
            .cloned()
            .unwrap_or_default(),
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
    let why = match &start.r#override {
        Some(o) => format!(
            "rollback from revision {} by {} ({o})",
            c.current.revision, job.holder.who
        ),
        None => format!(
            "rollback from revision {} by {}",
            c.current.revision, job.holder.who
        ),
    };
    let extra = Audit {
        r#override: Some(why),
        forced_unlock: forced,
        ..Audit::default()
    }
    .to_tags();
    under_lock(&job, &d, &ctl, t, guard.mine.clone(), extra, &mut out).await;
    if let Err(e) = guard.release().await {
        note(&mut out, format!("the lock could not be released: {e}"));
    }
    out
}

/// Under the lock: the service must still run what the rollback was planned from; then the
/// engine's change → wait → verify, and the service's tags become those of what runs.
async fn under_lock(
    job: &Job,
    d: &TenantDeployer,
    ctl: &Control,
    t: &Tenant,
    mine: crate::aws::deploy::LockInfo,
    extra: Vec<(String, String)>,
    out: &mut Row,
) {
    let (s, c) = (&job.service, &job.choice);
    let svc = match d
        .reader()
        .describe_services(&t.cluster, std::slice::from_ref(&s.ecs_service))
        .await
        .map(|mut m| m.remove(&s.ecs_service).flatten())
    {
        Ok(Some(svc)) => svc,
        Ok(None) => {
            out.detail = Some(format!("ECS service `{}` disappeared", s.ecs_service));
            return;
        }
        Err(e) => {
            out.detail = Some(e.to_string());
            return;
        }
    };
    if svc.task_definition_arn != c.current.arn {
        out.detail = Some(format!(
            "the service no longer runs revision {} (another deploy changed it since the rollback was planned); nothing was changed, run the rollback again",
            c.current.revision
        ));
        return;
    }
    let target = Target {
        arn: c.target.arn.clone(),
        revision: c.target.revision,
        // A rollback changes the revision only; the count stays what runs (or the autoscaler's).
        desired_count: None,
    };
    let roll = Roll {
        deployer: d,
        cluster: &t.cluster,
        service: &s.ecs_service,
        who: format!("{}/{}", t.name, s.name),
        limits: job.limits,
        printer: &ctl.printer,
    };
    roll.run(
        mine,
        &target,
        &c.current,
        &svc,
        &[],
        Outcome::RolledBack,
        out,
    )
    .await;
    if out.revision != Some(c.target.revision) {
        // The rollout to the target failed and the service went back to where it was.
        out.result = Outcome::Failed;
        return;
    }
    note(
        out,
        format!("on request, from revision {}", c.current.revision),
    );
    if !Choice::by_stamp(&c.target) {
        note(
            out,
            format!("revision {} was not deployed by stamp", c.target.revision),
        );
    }
    if let Err(e) = rollout::retag(d, &svc.arn, &c.target, extra).await {
        ctl.printer.error(format_args!(
            "{}/{}: the service's tags could not be updated: {e}",
            t.name, s.name
        ));
    }
}
