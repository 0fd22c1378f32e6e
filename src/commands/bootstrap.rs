//! `stamp bootstrap template T` (print a tenant's roles as a CloudFormation template) and
//! `stamp bootstrap T… --apply` (create or update that stack with the caller's own
//! credentials for each tenant's account, refusing before any write when one is wrong).

use std::collections::BTreeSet;
use std::io::{self, Write};

use serde::Serialize;

use crate::aws::bootstrap::{Applied, apply_stack};
use crate::bootstrap::{Inputs, STACK_NAME, template};
use crate::cli::{BootstrapArgs, BootstrapCommand, TrustArgs};
use crate::dsl::{Fleet, Tenant};
use crate::error::{Failure, Result};
use crate::output::Report;
use crate::render::{Templates, render_service};
use crate::resolve::Lookups;

/// The template document, printed as JSON in both output formats.
#[derive(Serialize)]
#[serde(transparent)]
struct Template(serde_json::Value);

impl Report for Template {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&self.0).map_err(io::Error::other)?
        )
    }
}

#[derive(Serialize)]
struct Row {
    tenant: String,
    account_id: String,
    stack: &'static str,
    result: Option<Applied>,
    error: Option<String>,
}

#[derive(Serialize)]
struct Applies {
    rows: Vec<Row>,
    ok: bool,
}

impl Report for Applies {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        for r in &self.rows {
            let what = match (&r.result, &r.error) {
                (Some(a), _) => serde_json::to_value(a)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                (None, Some(e)) => format!("failed: {}", crate::output::escape::terminal(e)),
                (None, None) => "-".into(),
            };
            writeln!(
                out,
                "{} (account {}): stack {} {what}",
                r.tenant, r.account_id, r.stack
            )?;
        }
        Ok(())
    }
}

pub(super) fn run(ctx: &super::Ctx, args: &BootstrapArgs) -> Result<()> {
    let fleet = ctx.load_fleet()?;
    if let Some(BootstrapCommand::Template(t)) = &args.command {
        let tenant = super::tenant(&fleet, &t.tenant)?;
        let doc = template(&inputs(&fleet, tenant, &t.trust)?);
        ctx.printer.data(&Template(doc))?;
        return Ok(());
    }
    apply(ctx, &fleet, args)
}

/// What the template of `tenant` needs: its families (rendered offline), its stacks.
fn inputs<'f>(fleet: &Fleet, tenant: &'f Tenant, trust: &TrustArgs) -> Result<Inputs<'f>> {
    let templates = Templates::load(fleet)?;
    let lookups = Lookups::offline();
    let mut families = BTreeSet::new();
    for s in &tenant.services {
        match render_service(&templates, fleet, tenant, s, None, &lookups) {
            Ok(r) => {
                families.insert(r.task_definition.family.clone());
            }
            Err(e) => {
                return Err(Failure::usage(
                    format!("{}/{}: cannot render: {}", tenant.name, s.name, e.summary()),
                    Some("run `stamp validate` and fix what it reports".to_owned()),
                ));
            }
        }
    }
    let refs = crate::resolve::references(tenant);
    let stacks: BTreeSet<String> = tenant
        .infra
        .iter()
        .map(|s| s.stack_name.clone())
        .chain(refs.stacks.keys().map(|k| refs.stack_name(k).to_owned()))
        .collect();
    Ok(Inputs {
        tenant,
        families,
        stacks,
        trust: trust.trust.clone(),
        external_id: trust
            .external_id
            .clone()
            .or_else(|| tenant.external_id.clone()),
    })
}

fn apply(ctx: &super::Ctx, fleet: &Fleet, args: &BootstrapArgs) -> Result<()> {
    let tenants = super::select_tenants(fleet, &args.tenants)?;
    let bodies = tenants
        .iter()
        .map(|t| {
            let doc = template(&inputs(fleet, t, &args.trust)?);
            Ok(serde_json::to_string_pretty(&doc).map_err(anyhow::Error::from)?)
        })
        .collect::<Result<Vec<String>>>()?;
    let rt = super::runtime()?;
    let report = rt.block_on(async {
        let session = ctx.session().await?;
        // Refused before the first write: every tenant's account must be the caller's.
        let wrong: Vec<String> = tenants
            .iter()
            .filter(|t| t.account_id != session.caller.account)
            .map(|t| format!("{} (account {})", t.name, t.account_id))
            .collect();
        if !wrong.is_empty() {
            return Err(Failure::usage(
                format!(
                    "your credentials ({}) are in account {}, not in the account of {}; nothing was written",
                    session.caller.arn,
                    session.caller.account,
                    wrong.join(", ")
                ),
                Some(
                    "bootstrap one account at a time with credentials for it: --profile NAME or the environment"
                        .to_owned(),
                ),
            ));
        }
        let mut rows = Vec::new();
        for (t, body) in tenants.iter().zip(&bodies) {
            ctx.printer.info(format_args!(
                "{}: applying stack {STACK_NAME} in account {} ({})",
                t.name, t.account_id, t.region
            ));
            let r = apply_stack(&session, &t.region, STACK_NAME, body).await;
            rows.push(Row {
                tenant: t.name.clone(),
                account_id: t.account_id.clone(),
                stack: STACK_NAME,
                result: r.as_ref().ok().copied(),
                error: r.err(),
            });
        }
        Ok(Applies {
            ok: rows.iter().all(|r| r.error.is_none()),
            rows,
        })
    })?;
    ctx.printer.data(&report)?;
    if report.ok {
        Ok(())
    } else {
        Err(Failure::Reported(1))
    }
}
