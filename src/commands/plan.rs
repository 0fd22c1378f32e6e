//! `stamp plan`: resolve, render, compare with what runs, and a digest that proves the result
//! does not depend on who runs it. Read-only: it holds only the read-only client set.

use crate::output::escape::Shown;
use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::aws::{Counts, TenantRead, read_tenants};
use crate::cli::PlanArgs;
use crate::dsl::{Diagnostic, Diagnostics, Fleet, Tenant};
use crate::error::{Failure, Result};
use crate::output::{Report, count, style};
use crate::plan::{
    self, Action, DesiredService, Inputs, SavedPlan, SavedService, SavedTenant, ServicePlan,
};
use crate::render::{Templates, render_service};

/// The documented JSON shape: `{"digest", "tenants": [...], "api_calls": {...}}`.
#[derive(Serialize)]
struct PlanReport {
    /// Null when a tenant could not be planned: a partial plan cannot be applied.
    digest: Option<String>,
    commit: Option<String>,
    tenants: Vec<TenantPlan>,
    api_calls: Counts,
    #[serde(skip)]
    styled: bool,
}

#[derive(Serialize)]
struct TenantPlan {
    tenant: String,
    account_id: String,
    services: Vec<ServicePlan>,
    /// Why the tenant could not be planned, in one line (access denied, missing parameters,
    /// guard); null when it was planned.
    error: Option<String>,
    /// Every problem that stopped it, in full: where, what, the hint.
    problems: Vec<Diagnostic>,
}

impl Report for PlanReport {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let (b, bad, ok, warn, dim) = (style::BOLD, style::BAD, style::OK, style::WARN, style::DIM);
        for t in &self.tenants {
            writeln!(
                out,
                "{}{}{} ({})",
                b.render(),
                Shown(&t.tenant),
                b.render_reset(),
                Shown(&t.account_id)
            )?;
            if let Some(e) = &t.error {
                writeln!(
                    out,
                    "  {}not planned{}: {}",
                    bad.render(),
                    bad.render_reset(),
                    Shown(e)
                )?;
                continue;
            }
            for s in &t.services {
                let (word, st) = match s.action {
                    Action::Create => ("create", warn),
                    Action::Update => ("update", warn),
                    Action::Unchanged => ("unchanged", ok),
                };
                writeln!(
                    out,
                    "  {:<10} {}{word}{}  {}digest {}{}",
                    Shown(&s.service).to_string(),
                    st.render(),
                    st.render_reset(),
                    dim.render(),
                    short(&s.digest),
                    dim.render_reset()
                )?;
                if let Some(count) = &s.count {
                    writeln!(out, "    count: {count}")?;
                }
                if let Some(h) = &s.before_deploy {
                    let when = if s.action == Action::Unchanged {
                        "not run: nothing to deploy"
                    } else {
                        "runs first, with the new revision"
                    };
                    writeln!(
                        out,
                        "    before_deploy: {} in {} (timeout {}; {when})",
                        Shown(&crate::rollout::shell_words(&h.command)),
                        Shown(
                            h.container
                                .as_deref()
                                .unwrap_or("the first essential container")
                        ),
                        crate::rollout::task::duration_text(h.timeout_secs)
                    )?;
                }
                for c in &s.changes {
                    let field = Shown(&c.field);
                    match (c.from.as_deref().map(Shown), c.to.as_deref().map(Shown)) {
                        (Some(f), Some(to)) => writeln!(out, "    ~ {field}: {f} → {to}")?,
                        (None, Some(to)) => writeln!(out, "    + {field}: {to}")?,
                        (Some(f), None) => writeln!(out, "    - {field}: {f}")?,
                        (None, None) => writeln!(out, "    ~ {field}")?,
                    }
                }
                if !s.diff.is_empty() && self.styled {
                    for line in s.diff.lines() {
                        let st = if line.starts_with('+') {
                            ok
                        } else if line.starts_with('-') {
                            bad
                        } else {
                            dim
                        };
                        let line = Shown(line);
                        writeln!(out, "    {}{line}{}", st.render(), st.render_reset())?;
                    }
                } else {
                    for line in s.diff.lines() {
                        writeln!(out, "    {}", Shown(line))?;
                    }
                }
            }
        }
        let counts = self.tenants.iter().flat_map(|t| &t.services).fold(
            BTreeMap::<&str, usize>::new(),
            |mut m, s| {
                *m.entry(match s.action {
                    Action::Create => "create",
                    Action::Update => "update",
                    Action::Unchanged => "unchanged",
                })
                .or_default() += 1;
                m
            },
        );
        let failed = self.tenants.iter().filter(|t| t.error.is_some()).count();
        let mut summary = vec![count(counts.values().sum(), "service")];
        if !counts.is_empty() {
            let by_action: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
            summary[0] = format!("{}: {}", summary[0], by_action.join(", "));
        }
        if failed > 0 {
            summary.push(format!("{} not planned", count(failed, "tenant")));
        }
        writeln!(out, "\n{}", summary.join("; "))?;
        match &self.digest {
            Some(d) => writeln!(out, "plan digest {d}"),
            None => writeln!(
                out,
                "no plan digest: a plan without every selected tenant cannot be applied"
            ),
        }
    }
}

fn short(d: &str) -> &str {
    d.get(..12).unwrap_or(d)
}

pub(super) fn run(ctx: &super::Ctx, args: &PlanArgs) -> Result<()> {
    let fleet = ctx.load_fleet()?;
    let templates = Templates::load(&fleet)?;
    if !args.all && args.tenants.is_empty() {
        return Err(Failure::usage(
            "name the tenants to plan, or pass --all",
            Some("e.g. `stamp plan acme globex` or `stamp plan --all`".to_owned()),
        ));
    }
    let tenants = super::select_tenants(&fleet, &args.tenants)?;
    if let Some(s) = &args.service {
        for t in &tenants {
            super::service(t, s)?;
        }
    }
    let rt = super::runtime()?;
    let (reads, calls) = rt.block_on(async {
        let session = ctx.session().await?;
        let reads = read_tenants(&session, &tenants, args.concurrency, true, false).await;
        anyhow::Ok((reads, session.calls().snapshot()))
    })?;

    let mut report_tenants = Vec::with_capacity(tenants.len());
    let mut saved_tenants = Vec::new();
    let mut digests: Vec<(String, String, String)> = Vec::new();
    let mut all_problems = Diagnostics::default();
    for (t, read) in tenants.iter().zip(reads) {
        let (entry, saved) = tenant_entry(ctx, &fleet, &templates, t, read, args);
        for s in &entry.services {
            digests.push((t.name.clone(), s.service.clone(), s.digest.clone()));
        }
        saved_tenants.extend(saved);
        all_problems.0.extend(entry.problems.iter().cloned());
        report_tenants.push(entry);
    }
    // Each problem once, in full, before the report that sums it up.
    ctx.report(all_problems);
    let refs: Vec<(&str, &str, &str)> = digests
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    let digest = plan::plan_digest(&refs);
    let commit = crate::vcs::commit(&ctx.root);
    let failed = report_tenants.iter().any(|t| t.error.is_some());
    if let Some(path) = &args.out {
        // The report is still printed below; only the file, which deploy would apply
        // whole, is refused.
        if failed {
            ctx.printer.error(format_args!(
                "error: not writing {}: some tenants could not be planned",
                path.display()
            ));
        }
    }
    if let Some(path) = args.out.as_ref().filter(|_| !failed) {
        let saved = SavedPlan {
            format: 1,
            commit: crate::vcs::label(&ctx.root),
            digest: digest.clone(),
            tenants: saved_tenants,
        };
        std::fs::write(path, saved.to_json())
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        ctx.printer
            .info(format_args!("plan saved to {}", path.display()));
    }
    if args.stats {
        ctx.printer.info(&calls);
    }
    ctx.printer.data(&PlanReport {
        digest: (!failed).then_some(digest),
        commit: commit.map(|c| c.label()),
        tenants: report_tenants,
        api_calls: calls,
        styled: ctx.printer.stdout_styled(),
    })?;
    if failed {
        Err(Failure::Reported(1))
    } else {
        Ok(())
    }
}

/// One tenant's entry of the report, and what a saved plan keeps of it: planned, or why not
/// (one line, and every problem in full).
fn tenant_entry(
    ctx: &super::Ctx,
    fleet: &Fleet,
    templates: &Templates,
    t: &Tenant,
    read: std::result::Result<TenantRead, crate::aws::TenantError>,
    args: &PlanArgs,
) -> (TenantPlan, Option<SavedTenant>) {
    let planned = match read {
        Err(e) => Err((e.message(), vec![e.diagnostic(t)])),
        Ok(read) if !read.missing.is_empty() => Err((
            format!(
                "{} the tenant's account does not satisfy",
                count(read.missing.len(), "reference")
            ),
            read.missing.iter().map(|m| m.diagnostic(t)).collect(),
        )),
        Ok(read) => plan_tenant(fleet, templates, t, &read, args)
            .map_err(|p| (format!("does not render: {}", count(p.len(), "problem")), p)),
    };
    let mut entry = TenantPlan {
        tenant: t.name.clone(),
        account_id: t.account_id.clone(),
        services: Vec::new(),
        error: None,
        problems: Vec::new(),
    };
    match planned {
        Ok((services, saved)) => {
            entry.services = services;
            (entry, Some(saved))
        }
        Err((error, problems)) => {
            let mut problems = Diagnostics(problems);
            problems.attach_snippets(&ctx.root);
            entry.error = Some(error);
            entry.problems = problems.sorted().0;
            (entry, None)
        }
    }
}

fn plan_tenant(
    fleet: &Fleet,
    templates: &Templates,
    t: &Tenant,
    read: &TenantRead,
    args: &PlanArgs,
) -> Result<(Vec<ServicePlan>, SavedTenant), Vec<Diagnostic>> {
    let mut services = Vec::new();
    let mut saved = Vec::new();
    for s in t
        .services
        .iter()
        .filter(|s| args.service.as_ref().is_none_or(|n| &s.name == n))
    {
        let r = render_service(
            templates,
            fleet,
            t,
            s,
            args.release.as_deref(),
            &read.lookups,
        )
        .map_err(|e| e.into_diagnostics(t))?;
        let desired = DesiredService::from_rendered(&r, &t.account_id, &t.region);
        let live = super::live_service(
            &fleet.project.image,
            read.services
                .get(&s.ecs_service)
                .and_then(Option::as_ref)
                .map(|(svc, td)| (svc, td)),
        );
        let p = plan::compare(&desired, &live);
        saved.push(SavedService {
            service: s.name.clone(),
            ecs_service: s.ecs_service.clone(),
            cluster: t.cluster.clone(),
            desired_count: s.desired_count,
            release: r.release.release.clone(),
            digest: p.digest.clone(),
            task_definition: serde_json::from_str(&r.json).unwrap_or(serde_json::Value::Null),
            before_deploy: desired.before_deploy.clone(),
        });
        services.push(p);
    }
    let inputs = Inputs::from_lookups(&read.lookups);
    Ok((
        services,
        SavedTenant {
            tenant: t.name.clone(),
            account_id: t.account_id.clone(),
            region: t.region.clone(),
            inputs,
            services: saved,
        },
    ))
}
