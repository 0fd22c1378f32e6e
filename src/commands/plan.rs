//! `stamp plan`: resolve, render, compare with what runs, and a digest that proves the result
//! does not depend on who runs it. Read-only: it holds only the read-only client set.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::aws::{Counts, TenantRead, read_tenants};
use crate::cli::PlanArgs;
use crate::dsl::{Diagnostics, Fleet, Tenant};
use crate::error::{Failure, Result};
use crate::output::{Report, style};
use crate::plan::{
    self, Action, DesiredService, Inputs, SavedPlan, SavedService, SavedTenant, ServicePlan,
};
use crate::render::{RenderError, Templates, render_service};

/// The documented JSON shape: `{"digest", "tenants": [...], "api_calls": {...}}`.
#[derive(Serialize)]
struct PlanReport {
    digest: String,
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
    /// Why the tenant could not be planned (access denied, missing parameters, guard).
    error: Option<String>,
}

impl Report for PlanReport {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let (b, bad, ok, warn, dim) = (style::BOLD, style::BAD, style::OK, style::WARN, style::DIM);
        for t in &self.tenants {
            writeln!(
                out,
                "{}{}{} ({})",
                b.render(),
                t.tenant,
                b.render_reset(),
                t.account_id
            )?;
            if let Some(e) = &t.error {
                writeln!(out, "  {}error{}: {e}", bad.render(), bad.render_reset())?;
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
                    s.service,
                    st.render(),
                    st.render_reset(),
                    dim.render(),
                    short(&s.digest),
                    dim.render_reset()
                )?;
                for c in &s.changes {
                    match (&c.from, &c.to) {
                        (Some(f), Some(to)) => writeln!(out, "    ~ {}: {f} → {to}", c.field)?,
                        (None, Some(to)) => writeln!(out, "    + {}: {to}", c.field)?,
                        (Some(f), None) => writeln!(out, "    - {}: {f}", c.field)?,
                        (None, None) => writeln!(out, "    ~ {}", c.field)?,
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
                        writeln!(out, "    {}{line}{}", st.render(), st.render_reset())?;
                    }
                } else {
                    for line in s.diff.lines() {
                        writeln!(out, "    {line}")?;
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
        let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
        writeln!(
            out,
            "\n{} service(s): {}{}",
            counts.values().sum::<usize>(),
            summary.join(", "),
            if failed > 0 {
                format!("; {failed} tenant(s) failed")
            } else {
                String::new()
            }
        )?;
        writeln!(out, "plan digest {}", self.digest)
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
    let mut diags = Diagnostics::default();
    for (t, read) in tenants.iter().zip(reads) {
        let result = read.map_err(|e| e.to_string()).and_then(|read| {
            if read.missing.is_empty() {
                plan_tenant(&fleet, &templates, t, &read, args).map_err(|e| match e {
                    TenantFailure::Message(m) => m,
                    TenantFailure::Diagnostics(d) => {
                        diags.0.extend(d);
                        format!("tenant `{}` could not be rendered (see above)", t.name)
                    }
                })
            } else {
                let n = read.missing.len();
                diags.0.extend(super::missing_diagnostics(t, read.missing));
                Err(format!(
                    "{n} referenced parameter(s) missing or of the wrong type (see above)"
                ))
            }
        });
        match result {
            Ok((services, saved)) => {
                for s in &services {
                    digests.push((t.name.clone(), s.service.clone(), s.digest.clone()));
                }
                saved_tenants.push(saved);
                report_tenants.push(TenantPlan {
                    tenant: t.name.clone(),
                    account_id: t.account_id.clone(),
                    services,
                    error: None,
                });
            }
            Err(e) => {
                // Errors from the account already name the tenant; the others do not.
                if e.starts_with(&format!("tenant `{}`", t.name)) {
                    ctx.printer.error(format_args!("error: {e}"));
                } else {
                    ctx.printer
                        .error(format_args!("error: tenant `{}`: {e}", t.name));
                }
                report_tenants.push(TenantPlan {
                    tenant: t.name.clone(),
                    account_id: t.account_id.clone(),
                    services: Vec::new(),
                    error: Some(e),
                });
            }
        }
    }
    if !diags.is_empty() {
        diags.attach_snippets(&ctx.root);
        ctx.printer.error(diags.sorted());
    }
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
        digest,
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

enum TenantFailure {
    Message(String),
    Diagnostics(Vec<crate::dsl::Diagnostic>),
}

fn plan_tenant(
    fleet: &Fleet,
    templates: &Templates,
    t: &Tenant,
    read: &TenantRead,
    args: &PlanArgs,
) -> Result<(Vec<ServicePlan>, SavedTenant), TenantFailure> {
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
        .map_err(|e| match e {
            RenderError::Invalid(d) => TenantFailure::Diagnostics(d),
            other => TenantFailure::Message(other.summary()),
        })?;
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
