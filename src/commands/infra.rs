//! `stamp infra plan|apply` and `stamp explain --stack`: per-tenant CloudFormation stacks
//! whose templates and parameters live in the repository.

use std::io::{self, Write};

use serde::Serialize;

use crate::aws::TenantReader;
use crate::dsl::{Diagnostics, Stack, Tenant, diag::did_you_mean};
use crate::error::{Failure, Result};
use crate::infra::{StackParam, parameters, references};
use crate::output::{Report, style, table};
use crate::resolve::Lookups;

/// A stack key of the tenant, or a usage error with a suggestion.
pub(super) fn stack<'t>(tenant: &'t Tenant, key: &str) -> Result<&'t Stack> {
    tenant.stack(key).ok_or_else(|| {
        let keys: Vec<&str> = tenant.infra.iter().map(|s| s.key.as_str()).collect();
        let hint = match did_you_mean(key, keys.iter().copied()) {
            Some(m) => format!("did you mean `{m}`?"),
            None if keys.is_empty() => "stacks are declared as `[infra.NAME]` tables".to_owned(),
            None => format!("{} has the stacks: {}", tenant.name, keys.join(", ")),
        };
        Failure::usage(
            format!("tenant `{}` has no stack `{key}`", tenant.name),
            Some(hint),
        )
    })
}

/// Values the stacks' parameters reference, read through the tenant's inspect_role (or
/// placeholders offline). Bad references are input errors at the lines that wrote them.
fn stack_lookups(
    ctx: &super::Ctx,
    tenant: &Tenant,
    stacks: &[&Stack],
    offline: bool,
) -> Result<Lookups> {
    if offline {
        return Ok(Lookups::offline());
    }
    let refs = references(tenant, stacks);
    let rt = super::runtime()?;
    let (lookups, missing) = rt.block_on(async {
        let session = ctx.session().await?;
        let reader = TenantReader::connect(&session, tenant).await?;
        anyhow::Ok(reader.lookups(&refs).await?)
    })?;
    if !missing.is_empty() {
        let mut d = Diagnostics(missing.iter().map(|m| m.diagnostic(tenant)).collect());
        d.attach_snippets(&ctx.root);
        return Err(Failure::Input(d.sorted()));
    }
    Ok(lookups)
}

#[derive(Serialize)]
struct StackExplanation {
    tenant: String,
    stack: String,
    stack_name: String,
    template: String,
    capabilities: Vec<String>,
    tags: std::collections::BTreeMap<String, String>,
    parameters: Vec<StackParam>,
    #[serde(skip)]
    styled: bool,
}

impl Report for StackExplanation {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let b = style::BOLD;
        writeln!(
            out,
            "{}{}/{}{} (stack {}, templates/{})",
            b.render(),
            self.tenant,
            self.stack,
            b.render_reset(),
            self.stack_name,
            self.template
        )?;
        let mut t = table::new(
            &["PARAMETER", "VALUE", "KIND", "LAYER", "SOURCE"],
            self.styled,
        );
        for p in &self.parameters {
            let kind = serde_json::to_value(p.kind)
                .ok()
                .and_then(|k| k.as_str().map(str::to_owned))
                .unwrap_or_default();
            let mut source = p.source.clone();
            for o in &p.overrides {
                source.push_str(&format!(" (over {o})"));
            }
            t.add_row(vec![
                p.name.clone(),
                p.value.clone(),
                kind,
                p.layer.describe(&self.stack),
                source,
            ]);
        }
        out.write_all(table::render(&t).as_bytes())
    }
}

/// `stamp explain T --stack S`: every parameter, its value (secrets as dynamic references)
/// and where it was written.
pub(super) fn explain(ctx: &super::Ctx, tenant: &Tenant, key: &str, offline: bool) -> Result<()> {
    let s = stack(tenant, key)?;
    let lookups = stack_lookups(ctx, tenant, &[s], offline)?;
    let mut missing = Vec::new();
    let params = parameters(s, &lookups, &mut missing);
    ctx.printer.data(&StackExplanation {
        tenant: tenant.name.clone(),
        stack: s.key.clone(),
        stack_name: s.stack_name.clone(),
        template: s.template.value.clone(),
        capabilities: s.capabilities.clone(),
        tags: s.tags.clone(),
        parameters: params,
        styled: ctx.printer.stdout_styled(),
    })?;
    Ok(())
}

// ---- infra plan / apply ----------------------------------------------------------------------

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::audit::Audit;
use crate::aws::deploy::{LockHolder, WaitLimits};
use crate::aws::stacks::{ChangeSet, ResourceChange, StackDeployer, StackOutcome};
use crate::cli::{InfraApplyArgs, InfraPlanArgs, InfraSelect};
use crate::fleet::{Outcome, Row};
use crate::infra::template::{self as cfn_template, StackTemplate};
use crate::resolve::Kind;
use crate::rollout::{self, Control, Exit, Settings, Start, Unit};

/// One parameter, old → new.
#[derive(Debug, Clone, Serialize)]
struct ParamChange {
    name: String,
    /// `None` when the stack does not exist or did not have it.
    old: Option<String>,
    new: String,
    kind: Kind,
    source: String,
    changed: bool,
}

/// What `infra plan` found for one tenant stack (and what `apply` acts on).
#[derive(Debug, Clone, Serialize)]
struct StackPlan {
    tenant: String,
    stack: String,
    stack_name: String,
    /// `create`, `update`, `no-change` or `error`.
    action: &'static str,
    status: Option<String>,
    parameters: Vec<ParamChange>,
    template_diff: Option<String>,
    /// From the change set (AWS lists them; moto lists none), or the template's resources for
    /// a create.
    changes: Vec<ResourceChange>,
    error: Option<String>,
    #[serde(skip)]
    change_set: Option<String>,
}

struct PlanReport {
    stacks: Vec<StackPlan>,
}

impl Serialize for PlanReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("PlanReport", 1)?;
        st.serialize_field("stacks", &self.stacks)?;
        st.end()
    }
}

impl Report for PlanReport {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let b = style::BOLD;
        for p in &self.stacks {
            writeln!(
                out,
                "{}{}/{}{} ({}): {}",
                b.render(),
                p.tenant,
                p.stack,
                b.render_reset(),
                p.stack_name,
                p.action
            )?;
            if let Some(e) = &p.error {
                writeln!(out, "  error: {e}")?;
                continue;
            }
            for c in p.parameters.iter().filter(|c| c.changed) {
                writeln!(
                    out,
                    "  parameter {}: {} → {}  ({})",
                    c.name,
                    c.old.as_deref().unwrap_or("(none)"),
                    c.new,
                    c.source
                )?;
            }
            if let Some(d) = &p.template_diff {
                for line in d.lines() {
                    writeln!(out, "  {line}")?;
                }
            }
            for c in &p.changes {
                writeln!(
                    out,
                    "  {} {} {}{}",
                    c.action,
                    c.logical_id,
                    c.resource_type,
                    c.replacement
                        .as_deref()
                        .map(|r| format!(" (replacement: {r})"))
                        .unwrap_or_default()
                )?;
            }
        }
        Ok(())
    }
}

/// Statuses a stack cannot be updated from, with the step that gets it moving.
fn stuck(stack: &str, status: &str) -> Option<String> {
    match status {
        "UPDATE_ROLLBACK_FAILED" => Some(format!(
            "stack `{stack}` is UPDATE_ROLLBACK_FAILED: a rollback could not finish. Fix what the stack events name, then run `aws cloudformation continue-update-rollback --stack-name {stack}` (with --resources-to-skip for resources that cannot roll back); apply again once it is UPDATE_ROLLBACK_COMPLETE"
        )),
        "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" => Some(format!(
            "stack `{stack}` is {status}: its creation failed and it cannot be updated. Delete it (`aws cloudformation delete-stack --stack-name {stack}`) and run `stamp infra apply` again to re-create it"
        )),
        "DELETE_FAILED" => Some(format!(
            "stack `{stack}` is DELETE_FAILED: delete it again, retaining the resources that block it, before stamp can re-create it"
        )),
        s if s.ends_with("_IN_PROGRESS") && s != "REVIEW_IN_PROGRESS" => Some(format!(
            "stack `{stack}` is {s}: another operation is running; wait for it to finish"
        )),
        _ => None,
    }
}

/// The template's resources as "Add" changes: what a create makes.
fn template_resources(body: &str) -> Vec<ResourceChange> {
    let Ok(serde_yaml_ng::Value::Mapping(top)) =
        serde_yaml_ng::from_str::<serde_yaml_ng::Value>(body)
    else {
        return Vec::new();
    };
    let Some(serde_yaml_ng::Value::Mapping(res)) = top.get("Resources") else {
        return Vec::new();
    };
    res.iter()
        .map(|(k, v)| ResourceChange {
            action: "Add".into(),
            logical_id: k.as_str().unwrap_or_default().to_owned(),
            resource_type: v
                .get("Type")
                .and_then(|t| t.as_str())
                .unwrap_or_default()
                .to_owned(),
            replacement: None,
        })
        .collect()
}

fn unified(old: &str, new: &str, stack: &str, template: &str) -> Option<String> {
    if old.trim_end() == new.trim_end() {
        return None;
    }
    let diff = similar::TextDiff::from_lines(old, new);
    Some(
        diff.unified_diff()
            .context_radius(3)
            .header(
                &format!("deployed {stack}"),
                &format!("templates/{template}"),
            )
            .to_string(),
    )
}

/// Plans one stack: reads it, resolves its parameters, and (with `apply`'s audit) leaves the
/// change set for `apply` to execute; otherwise deletes it.
async fn plan_stack(
    sd: &StackDeployer,
    tenant: &Tenant,
    s: &Stack,
    tpl: &StackTemplate,
    audit: Option<&Audit>,
) -> StackPlan {
    let mut p = StackPlan {
        tenant: tenant.name.clone(),
        stack: s.key.clone(),
        stack_name: s.stack_name.clone(),
        action: "error",
        status: None,
        parameters: Vec::new(),
        template_diff: None,
        changes: Vec::new(),
        error: None,
        change_set: None,
    };
    if let Err(e) = fill_plan(sd, tenant, s, tpl, audit, &mut p).await {
        p.action = "error";
        p.error = Some(e.to_string());
    }
    p
}

/// `plan_stack`'s reads and decision: a create, a no-change (no change set made), or a
/// change set.
async fn fill_plan(
    sd: &StackDeployer,
    tenant: &Tenant,
    s: &Stack,
    tpl: &StackTemplate,
    audit: Option<&Audit>,
    p: &mut StackPlan,
) -> anyhow::Result<()> {
    // Read just before the stack, so an output of a stack applied a moment ago is seen.
    let (lookups, missing) = sd
        .deployer()
        .reader()
        .lookups(&references(tenant, &[s]))
        .await?;
    if let Some(m) = missing.first() {
        return Err(anyhow::anyhow!("{m} (at {})", m.at));
    }
    // What did not resolve was refused just above: nothing is left to collect here.
    let params = parameters(s, &lookups, &mut Vec::new());
    let live = sd.describe_stack(&s.stack_name).await?;
    p.status = live.as_ref().map(|l| l.status.clone());
    if let Some(why) = live.as_ref().and_then(|l| stuck(&s.stack_name, &l.status)) {
        return Err(anyhow::anyhow!(why));
    }
    let create = live
        .as_ref()
        .is_none_or(|l| l.status == "REVIEW_IN_PROGRESS");
    p.parameters = param_changes(&params, live.as_ref());
    if create {
        p.action = "create";
        p.changes = template_resources(&tpl.body);
        // A CREATE change set would leave a REVIEW_IN_PROGRESS stack behind: without `apply`'s
        // audit, a create is shown from the template instead.
        if audit.is_none() {
            return Ok(());
        }
    } else {
        let deployed = sd.get_template(&s.stack_name).await?;
        p.template_diff = unified(&deployed, &tpl.body, &s.stack_name, &s.template.value);
        // Same template, same parameter set and values, same tags: nothing to change, and
        // no change set (a no-op makes no write call). AWS would also answer a no-op change
        // set as FAILED "didn't contain changes" (handled in `change_set`); moto, after an
        // executed update, lists a change even then (docs/cloudformation.md). A parameter
        // AWS masks (NoEcho) cannot be compared here: the change set decides.
        if let Some(l) = &live {
            let c = crate::infra::compare(tpl, &params, &s.tags, &deployed, &l.parameters, &l.tags);
            if c.drift.is_empty() && c.unverified.is_empty() {
                p.action = "no-change";
                return Ok(());
            }
        }
    }
    propose(sd, s, tpl, &params, audit, create, p).await
}

/// Each parameter's value against the deployed stack's.
fn param_changes(params: &[StackParam], live: Option<&crate::aws::LiveStack>) -> Vec<ParamChange> {
    params
        .iter()
        .map(|x| {
            let old = live.and_then(|l| l.parameters.get(&x.name).cloned());
            ParamChange {
                changed: old.as_deref() != Some(x.value.as_str()),
                name: x.name.clone(),
                old,
                new: x.value.clone(),
                kind: x.kind,
                source: x.source.clone(),
            }
        })
        .collect()
}

/// Makes the change set: kept for `apply` (with the audit), deleted after reading it for `plan`.
async fn propose(
    sd: &StackDeployer,
    s: &Stack,
    tpl: &StackTemplate,
    params: &[StackParam],
    audit: Option<&Audit>,
    create: bool,
    p: &mut StackPlan,
) -> anyhow::Result<()> {
    let values: Vec<(String, String)> = params
        .iter()
        .map(|x| (x.name.clone(), x.value.clone()))
        .collect();
    let name = format!("stamp-{}", jiff::Timestamp::now().as_millisecond());
    // The stack's own tags, and with `apply` the audit: commit, deployer, the digest of the
    // stack's inputs, the override reason (not drift: `infra::compare` skips them).
    let mut tags = s.tags.clone();
    if let Some(a) = audit {
        let a = Audit {
            digest: Some(crate::infra::inputs_digest(&tpl.body, params, &s.tags)),
            ..a.clone()
        };
        tags.extend(a.to_tags());
    }
    let made = sd
        .change_set(
            &s.stack_name,
            create,
            &tpl.body,
            &values,
            &s.capabilities,
            &tags,
            &name,
        )
        .await?;
    match made {
        ChangeSet::NoChanges => p.action = "no-change",
        ChangeSet::Ready { id, changes } => {
            if !create {
                p.action = "update";
                p.changes = changes;
            }
            match audit {
                Some(_) => p.change_set = Some(id),
                None => sd.delete_change_set(&s.stack_name, &id).await?,
            }
        }
    }
    Ok(())
}

fn selected<'f>(fleet: &'f crate::dsl::Fleet, a: &InfraSelect) -> Result<Vec<&'f Tenant>> {
    if a.tenants.is_empty() && !a.all {
        return Err(Failure::usage(
            "name the tenants, or pass --all",
            Some("e.g. `stamp infra plan acme` or `stamp infra apply --all --yes`".to_owned()),
        ));
    }
    let tenants = super::select_tenants(fleet, &a.tenants)?;
    if let Some(k) = &a.stack
        && !fleet.tenants.iter().any(|t| t.stack(k).is_some())
    {
        let first = tenants.first().copied().or(fleet.tenants.first());
        if let Some(t) = first {
            stack(t, k)?;
        }
    }
    Ok(tenants)
}

pub(super) fn load_templates(
    ctx: &super::Ctx,
    fleet: &crate::dsl::Fleet,
) -> Result<Arc<BTreeMap<String, StackTemplate>>> {
    let d = crate::infra::check(fleet);
    if !d.is_empty() {
        let mut d = d;
        d.attach_snippets(&ctx.root);
        return Err(Failure::Input(d.sorted()));
    }
    let mut out = BTreeMap::new();
    for t in &fleet.tenants {
        for s in &t.infra {
            if !out.contains_key(&s.template.value) {
                let tpl = cfn_template::load(&fleet.root, &s.template.value)
                    .map_err(|d| Failure::Input(Diagnostics(vec![d])))?;
                out.insert(s.template.value.clone(), tpl);
            }
        }
    }
    Ok(Arc::new(out))
}

/// `stamp infra plan`.
pub(super) fn plan(ctx: &super::Ctx, args: &InfraPlanArgs) -> Result<()> {
    show_plan(ctx, &args.select, args.concurrency)
}

/// The stacks' plan of the selected tenants, `concurrency` accounts read at once.
fn show_plan(ctx: &super::Ctx, a: &InfraSelect, concurrency: usize) -> Result<()> {
    let fleet = ctx.load_fleet()?;
    let tenants = selected(&fleet, a)?;
    let templates = load_templates(ctx, &fleet)?;
    let rt = super::runtime()?;
    let stacks = rt.block_on(async {
        let session = ctx.session().await?;
        let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
        let mut set = tokio::task::JoinSet::new();
        for (i, t) in tenants.iter().enumerate() {
            let (session, t, sem, templates, only) = (
                session.clone(),
                (*t).clone(),
                sem.clone(),
                templates.clone(),
                a.stack.clone(),
            );
            set.spawn(async move {
                let _permit = sem.acquire().await;
                let mut out = Vec::new();
                let sd = match StackDeployer::connect(&session, &t).await {
                    Ok(sd) => sd,
                    Err(e) => {
                        for s in select(&t, only.as_deref()) {
                            out.push(failed_plan(&t, s, e.to_string()));
                        }
                        return (i, out);
                    }
                };
                for s in select(&t, only.as_deref()) {
                    if let Some(tpl) = templates.get(&s.template.value) {
                        out.push(plan_stack(&sd, &t, &s, tpl, None).await);
                    }
                }
                (i, out)
            });
        }
        let mut all: Vec<(usize, Vec<StackPlan>)> = Vec::new();
        while let Some(j) = set.join_next().await {
            if let Ok(x) = j {
                all.push(x);
            }
        }
        all.sort_by_key(|(i, _)| *i);
        anyhow::Ok(all.into_iter().flat_map(|(_, v)| v).collect::<Vec<_>>())
    })?;
    let failed = stacks.iter().any(|p| p.error.is_some());
    ctx.printer.data(&PlanReport { stacks })?;
    if failed {
        Err(Failure::Reported(1))
    } else {
        Ok(())
    }
}

fn select(t: &Tenant, only: Option<&str>) -> Vec<Stack> {
    crate::infra::select(t, only).into_iter().cloned().collect()
}

fn failed_plan(t: &Tenant, s: Stack, e: String) -> StackPlan {
    StackPlan {
        tenant: t.name.clone(),
        stack: s.key,
        stack_name: s.stack_name,
        action: "error",
        status: None,
        parameters: Vec::new(),
        template_diff: None,
        changes: Vec::new(),
        error: Some(e),
        change_set: None,
    }
}

/// What every stack of the run shares.
pub(super) struct Job {
    pub(super) session: crate::aws::Session,
    pub(super) templates: Arc<BTreeMap<String, StackTemplate>>,
    pub(super) holder: LockHolder,
    pub(super) commit: String,
    pub(super) settings: Settings,
    pub(super) timeout: Duration,
    pub(super) only: Option<String>,
}

/// The stacks `infra apply` touches for a tenant: in `cfn_output` dependency order (a cycle is
/// refused by `validate` before this runs), or only `--stack KEY`.
pub(super) fn ordered(t: &Tenant, only: Option<&str>) -> Vec<Stack> {
    crate::infra::order(t)
        .unwrap_or_else(|_| t.infra.iter().collect())
        .into_iter()
        .filter(|s| only.is_none_or(|k| s.key == k))
        .cloned()
        .collect()
}

pub(super) fn unit_name(s: &Stack) -> String {
    format!("stack:{}", s.key)
}

/// `stamp infra apply`: arguments → settings → the rollout engine → the summary.
pub(super) fn apply(ctx: &super::Ctx, a: &InfraApplyArgs) -> Result<()> {
    let fleet = ctx.load_fleet()?;
    let tenants = selected(&fleet, &a.select)?;
    let templates = load_templates(ctx, &fleet)?;
    let settings = Settings {
        concurrency: a.concurrency,
        // One stack after the other (the default): a later stack may read an earlier one's
        // outputs.
        failure_tolerance: a.failure_tolerance,
        ring: a.ring.clone(),
        ..Settings::from_flags("apply", &a.write, a.timeout)
    };
    let commit = rollout::refuse(&settings, &ctx.root, &fleet)?;
    let count: usize = tenants
        .iter()
        .map(|t| ordered(t, a.select.stack.as_deref()).len())
        .sum();
    rollout::confirm(
        &settings,
        &format!(
            "apply {count} stack(s) of {} tenant(s) as planned above?",
            tenants.len()
        ),
        || show_plan(ctx, &a.select, a.concurrency),
    )?;
    let only = a.select.stack.clone();
    let units = move |t: &Tenant| ordered(t, only.as_deref()).iter().map(unit_name).collect();
    let (skipped, waves) = rollout::schedule(
        &fleet,
        &tenants,
        &settings,
        jiff::Timestamp::now(),
        &units,
        &ctx.printer,
    );
    let rt = super::runtime()?;
    let (ended, notify) = rt.block_on(async {
        let session = ctx.session().await?;
        let about = rollout::About {
            verb: settings.verb,
            who: session.caller.arn.clone(),
            commit: commit.clone(),
            release: None,
        };
        let notify = rollout::Notify::new(&fleet, about, &ctx.printer);
        let ctl = Control::new(&settings, ctx.printer.clone(), notify.clone());
        let job = Arc::new(Job {
            holder: super::deploy::holder(&session, String::new()),
            session,
            templates,
            commit,
            settings: settings.clone(),
            timeout: a.timeout,
            only: a.select.stack.clone(),
        });
        let c = ctl.clone();
        let j = job.clone();
        let rows = rollout::run(
            ctl,
            &fleet.project.rings,
            waves,
            settings.concurrency,
            Arc::new(units),
            move |start| apply_tenant(j.clone(), c.clone(), start),
        )
        .await;
        anyhow::Ok((rows.map(|r| (r, job.session.calls().snapshot())), notify))
    })?;
    rollout::finish(
        &ctx.printer,
        rollout::Ending {
            skipped,
            ended,
            stats: a.stats,
            api_calls: false,
            rule: Exit::of,
            notify,
        },
    )
}

/// One tenant: connect, then its stacks one after the other through the engine.
pub(super) async fn apply_tenant(job: Arc<Job>, ctl: Arc<Control>, start: Start) -> Vec<Row> {
    // A counter of the tenant's own, so its rows can say what was retried.
    let session = job.session.for_tenant();
    let t = &start.tenant;
    let stacks = ordered(t, job.only.as_deref());
    let mut rows = match StackDeployer::connect(&session, t).await {
        Err(e) => stacks
            .iter()
            .map(|s| {
                rollout::row(
                    t,
                    &start.ring,
                    &unit_name(s),
                    Outcome::Failed,
                    Some(e.to_string()),
                )
            })
            .collect(),
        Ok(sd) => {
            let sd = Arc::new(sd);
            let units = stacks
                .into_iter()
                .map(|s| Unit {
                    name: unit_name(&s),
                    item: s,
                })
                .collect();
            let (job, start2, ctl2) = (job.clone(), start.clone(), ctl.clone());
            rollout::each(&ctl, t, &start.ring, units, 1, move |s| {
                apply_stack(job.clone(), sd.clone(), start2.clone(), s, ctl2.clone())
            })
            .await
        }
    };
    rollout::shared_retries_on_first(&mut rows, session.calls().snapshot().retries);
    rows
}

/// One stack under its lock: change set (with the audit tags), execute, wait.
async fn apply_stack(
    job: Arc<Job>,
    sd: Arc<StackDeployer>,
    start: Start,
    s: Stack,
    ctl: Arc<Control>,
) -> Row {
    let t = &start.tenant;
    let mut row = rollout::row(t, &start.ring, &unit_name(&s), Outcome::Failed, None);
    let Some(tpl) = job.templates.get(&s.template.value) else {
        row.detail = Some(format!("templates/{} is not loaded", s.template.value));
        return row;
    };
    let acquired = rollout::acquire(
        sd.deployer(),
        "cloudformation",
        &s.stack_name,
        &job.holder,
        job.settings.lock_ttl,
        job.settings.force_unlock,
    )
    .await;
    let (guard, forced) = match acquired {
        Ok(a) => (a.guard, a.forced),
        Err(why) => {
            row.detail = Some(why);
            return row;
        }
    };
    let audit = Audit {
        commit: Some(job.commit.clone()),
        digest: None,
        release: None,
        deployer: Some(job.holder.who.clone()),
        r#override: start.r#override.clone(),
        forced_unlock: forced,
    };
    change_and_wait(&job, &sd, (t, &s, tpl), &audit, &ctl.printer, &mut row).await;
    if let Err(e) = guard.release().await {
        rollout::note(&mut row, format!("the lock could not be released: {e}"));
    }
    row
}

/// Plans the stack keeping its change set, executes it and waits; the row says how it ended.
async fn change_and_wait(
    job: &Job,
    sd: &StackDeployer,
    (t, s, tpl): (&Tenant, &Stack, &StackTemplate),
    audit: &Audit,
    printer: &crate::output::Printer,
    row: &mut Row,
) {
    let timeout = job.timeout;
    let since = aws_smithy_types::DateTime::from_secs(jiff::Timestamp::now().as_second() - 1);
    let p = plan_stack(sd, t, s, tpl, Some(audit)).await;
    let id = match (p.action, p.change_set) {
        (_, _) if p.error.is_some() => {
            row.detail = p.error;
            return;
        }
        ("no-change", _) => {
            row.result = Outcome::Unchanged;
            return;
        }
        (_, None) => {
            row.detail = Some("no change set was created".into());
            return;
        }
        (action, Some(id)) => {
            printer.info(format_args!(
                "{}/{}: {action} {} (change set {id})",
                t.name, s.key, s.stack_name
            ));
            id
        }
    };
    // The services' locks are held from reading what deploy set until it is put back: a
    // deploy running meanwhile would otherwise be undone by the put-back.
    let guards = match lock_services(job, sd, t).await {
        Ok(g) => g,
        Err(why) => {
            row.detail = Some(format!("{why}; the stack was not changed"));
            return;
        }
    };
    execute_and_wait(sd, (t, s), (&id, since), timeout, printer, row).await;
    for g in guards {
        if let Err(e) = g.release().await {
            rollout::note(row, format!("a service lock could not be released: {e}"));
        }
    }
}

/// The locks of the tenant's services, as deploy takes them, or why one is not to be had
/// (the ones already taken are released).
async fn lock_services(
    job: &Job,
    sd: &StackDeployer,
    t: &Tenant,
) -> Result<Vec<rollout::Guard>, String> {
    let mut guards = Vec::new();
    for svc in &t.services {
        let acquired = rollout::acquire(
            sd.deployer(),
            &t.cluster,
            &svc.ecs_service,
            &job.holder,
            job.settings.lock_ttl,
            job.settings.force_unlock,
        )
        .await;
        match acquired {
            Ok(a) => guards.push(a.guard),
            Err(why) => {
                for g in guards {
                    let _ = g.release().await;
                }
                return Err(format!("service {}: {why}", svc.name));
            }
        }
    }
    Ok(guards)
}

/// Executes the change set and waits, putting back what deploy set on the services when the
/// stack changed it.
async fn execute_and_wait(
    sd: &StackDeployer,
    (t, s): (&Tenant, &Stack),
    (id, since): (&str, aws_smithy_types::DateTime),
    timeout: Duration,
    printer: &crate::output::Printer,
    row: &mut Row,
) {
    // What deploy set on the tenant's services, to verify (and put back) after the change.
    let before = match rollout::owned(sd.deployer(), t).await {
        Ok(b) => b,
        Err(e) => {
            row.detail = Some(e.to_string());
            return;
        }
    };
    if let Err(e) = sd.execute_change_set(&s.stack_name, id).await {
        row.detail = Some(e.to_string());
        return;
    }
    let key = format!("{}/{}", t.name, s.key);
    let pr = printer.clone();
    let progress = move |st: &str| pr.info(format_args!("{key}: {st}"));
    match sd.wait(&s.stack_name, since, timeout, &progress).await {
        Ok(StackOutcome::Complete { status }) => {
            row.result = Outcome::Deployed;
            row.detail = Some(status);
            let limits = WaitLimits {
                timeout,
                poll: Duration::from_secs(1),
            };
            match rollout::restore(sd.deployer(), t, &before, limits).await {
                Ok(said) => said.into_iter().for_each(|n| rollout::note(row, n)),
                Err(why) => {
                    row.result = Outcome::Failed;
                    rollout::note(row, why);
                }
            }
        }
        Ok(StackOutcome::Failed { status, failures }) => {
            let cause = failures.first().map_or_else(
                || "no failed resource in the stack events".to_owned(),
                |f| {
                    format!(
                        "{} ({}) {}: {}",
                        f.logical_id, f.resource_type, f.status, f.reason
                    )
                },
            );
            let next = stuck(&s.stack_name, &status)
                .map(|n| format!("; {n}"))
                .unwrap_or_default();
            row.detail = Some(format!("{status}: {cause}{next}"));
        }
        Ok(StackOutcome::TimedOut { status }) => {
            row.detail = Some(format!("still {status} after {timeout:?}"));
        }
        Err(e) => row.detail = Some(e.to_string()),
    }
}
