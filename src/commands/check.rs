//! `stamp check [T…|--all]`: is each tenant ready for its first deploy? Both roles assumable
//! (through the account guard), then, with `inspect_role` only: the cluster, the parameters
//! and stacks the files reference, the stacks they name. One line per problem. Read-only.

use std::io::{self, Write};

use serde::Serialize;

use super::whoami::check_all;
use crate::aws::{Session, TenantReader};
use crate::cli::CheckArgs;
use crate::dsl::Tenant;
use crate::error::{Failure, Result};
use crate::output::Report;

#[derive(Serialize)]
struct Checks {
    tenants: Vec<TenantCheck>,
    ok: bool,
}

#[derive(Serialize)]
struct TenantCheck {
    tenant: String,
    account_id: String,
    problems: Vec<String>,
}

impl Report for Checks {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        for t in &self.tenants {
            if t.problems.is_empty() {
                writeln!(out, "{}: ready", t.tenant)?;
            }
            for p in &t.problems {
                writeln!(out, "{}: {}", t.tenant, crate::output::escape::terminal(p))?;
            }
        }
        let bad = self
            .tenants
            .iter()
            .filter(|t| !t.problems.is_empty())
            .count();
        writeln!(
            out,
            "\n{} checked: {} ready, {bad} with problems",
            crate::output::count(self.tenants.len(), "tenant"),
            self.tenants.len() - bad
        )
    }
}

pub(super) fn run(ctx: &super::Ctx, args: &CheckArgs) -> Result<()> {
    let fleet = ctx.load_fleet()?;
    let tenants = super::select_tenants(&fleet, &args.tenants)?;
    let rt = super::runtime()?;
    let report = rt.block_on(async {
        let session = ctx.session().await?;
        let roles = check_all(&session, &tenants, args.concurrency).await;
        let mut out = Vec::new();
        for (t, r) in tenants.iter().zip(roles) {
            let mut problems: Vec<String> = r
                .roles
                .iter()
                .filter(|c| !c.ok)
                .map(|c| {
                    format!(
                        "{} {}: {}",
                        c.role.as_str(),
                        c.arn,
                        c.error.as_deref().unwrap_or("cannot be assumed")
                    )
                })
                .collect();
            // The account is read only through a role that passed the guard.
            if r.roles.first().is_some_and(|c| c.ok) {
                problems.extend(account_problems(&session, t).await);
            }
            out.push(TenantCheck {
                tenant: t.name.clone(),
                account_id: t.account_id.clone(),
                problems,
            });
        }
        anyhow::Ok(Checks {
            ok: out.iter().all(|t| t.problems.is_empty()),
            tenants: out,
        })
    })?;
    ctx.printer.data(&report)?;
    if report.ok {
        Ok(())
    } else {
        Err(Failure::Reported(1))
    }
}

/// With `inspect_role`: the cluster, every reference of services and stacks, every stack.
async fn account_problems(session: &Session, t: &Tenant) -> Vec<String> {
    let reader = match TenantReader::connect(session, t).await {
        Ok(r) => r,
        Err(e) => return vec![e.message()],
    };
    let mut problems = Vec::new();
    match reader.cluster_status(&t.cluster).await {
        Ok(Some(s)) if s == "ACTIVE" => {}
        Ok(Some(s)) => problems.push(format!("cluster {} is {s}, not ACTIVE", t.cluster)),
        Ok(None) if t.infra.is_empty() => {
            problems.push(format!("cluster {} does not exist", t.cluster));
        }
        Ok(None) => problems.push(format!(
            "cluster {} does not exist; if the tenant's stacks make it, `stamp infra apply {}` creates it",
            t.cluster, t.name
        )),
        Err(e) => problems.push(e.message()),
    }
    let stacks: Vec<&crate::dsl::Stack> = t.infra.iter().collect();
    for refs in [
        crate::resolve::references(t),
        crate::infra::references(t, &stacks),
    ] {
        match reader.lookups(&refs).await {
            Ok((_, missing)) => problems.extend(
                missing
                    .iter()
                    .map(|m| format!("{} ({}:{})", m, m.at.file, m.at.line)),
            ),
            Err(e) => problems.push(e.message()),
        }
    }
    for s in &t.infra {
        match reader.describe_stack(&s.stack_name).await {
            Ok(Some(_)) => {}
            Ok(None) => problems.push(format!(
                "stack {} ([infra.{}]) does not exist; `stamp infra apply {}` creates it",
                s.stack_name, s.key, t.name
            )),
            Err(e) => problems.push(e.message()),
        }
    }
    problems.sort();
    problems.dedup();
    problems
}
