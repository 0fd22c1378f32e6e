//! `stamp whoami [T…|--all]`: per tenant its account, region, cluster and both roles, and
//! whether each role can be assumed now and lands in the tenant's account. Writes nothing; the
//! sessions it takes are the shortest STS grants and are thrown away.

use std::io::{self, Write};
use std::sync::Arc;

use serde::Serialize;

use super::access::refuse_nested;
use crate::aws::access::{self, Role, RoleCheck};
use crate::aws::{Caller, Session};
use crate::cli::WhoamiArgs;
use crate::dsl::Tenant;
use crate::error::{Failure, Result};
use crate::output::Report;
use crate::output::table::{self, Tone};

#[derive(Debug, Serialize)]
struct Whoami {
    /// The base identity the roles were assumed from.
    caller: Caller,
    tenants: Vec<TenantRoles>,
    /// Every role of every tenant assumable, in its account.
    ok: bool,
    #[serde(skip)]
    styled: bool,
}

#[derive(Debug, Serialize)]
pub(super) struct TenantRoles {
    tenant: String,
    account_id: String,
    region: String,
    cluster: String,
    pub(super) roles: Vec<RoleCheck>,
}

impl Report for Whoami {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "base identity {} (account {})",
            self.caller.arn, self.caller.account
        )?;
        let mut t = table::new(
            &[
                "TENANT",
                "ACCOUNT",
                "REGION",
                "CLUSTER",
                "ROLE",
                "ROLE ARN",
                "ASSUMABLE",
            ],
            self.styled,
        );
        for tr in &self.tenants {
            for (i, r) in tr.roles.iter().enumerate() {
                let first = |s: &str| table::cell(if i == 0 { s } else { "" });
                t.add_row(vec![
                    first(&tr.tenant),
                    first(&tr.account_id),
                    first(&tr.region),
                    first(&tr.cluster),
                    table::cell(r.role.as_str()),
                    table::cell(&r.arn),
                    if r.ok {
                        table::state("yes", Tone::Good)
                    } else {
                        table::state("no", Tone::Bad)
                    },
                ]);
            }
        }
        out.write_all(table::render(&t).as_bytes())?;
        let failed: Vec<(&TenantRoles, &RoleCheck)> = self
            .tenants
            .iter()
            .flat_map(|t| t.roles.iter().map(move |r| (t, r)))
            .filter(|(_, r)| !r.ok)
            .collect();
        let roles: usize = self.tenants.iter().map(|t| t.roles.len()).sum();
        if !failed.is_empty() {
            writeln!(out, "\nnot assumable:")?;
            for (t, r) in &failed {
                writeln!(
                    out,
                    "  {} {}: {}",
                    t.tenant,
                    r.role.as_str(),
                    // An endpoint's answer: escaped like every value a person reads.
                    crate::output::escape::terminal(r.error.as_deref().unwrap_or("-"))
                )?;
            }
        }
        let n = self.tenants.len();
        writeln!(
            out,
            "\n{n} tenant{}, {roles} roles: {} assumable",
            if n == 1 { "" } else { "s" },
            roles - failed.len()
        )
    }
}

pub(super) fn run(ctx: &super::Ctx, args: &WhoamiArgs) -> Result<()> {
    refuse_nested()?;
    let fleet = ctx.load_fleet()?;
    let tenants = super::select_tenants(&fleet, &args.tenants)?;
    let rt = super::runtime()?;
    let report = rt
        .block_on(async {
            let session = ctx.session().await?;
            let tenants = check_all(&session, &tenants, args.concurrency).await;
            anyhow::Ok(Whoami {
                ok: tenants.iter().all(|t| t.roles.iter().all(|r| r.ok)),
                caller: session.caller.clone(),
                tenants,
                styled: ctx.printer.stdout_styled(),
            })
        })
        .map_err(Failure::Failed)?;
    ctx.printer.data(&report)?;
    if report.ok {
        Ok(())
    } else {
        Err(Failure::Reported(1))
    }
}

/// Both roles of every tenant, `concurrency` accounts at a time, in the order given.
pub(super) async fn check_all(
    session: &Session,
    tenants: &[&Tenant],
    concurrency: usize,
) -> Vec<TenantRoles> {
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (i, t) in tenants.iter().enumerate() {
        let (session, tenant, sem) = (session.clone(), (*t).clone(), sem.clone());
        set.spawn(async move {
            let _permit = sem.acquire().await;
            (i, access::check(&session, &tenant, &Role::BOTH).await)
        });
    }
    let mut checks: Vec<Option<Vec<RoleCheck>>> = vec![None; tenants.len()];
    while let Some(joined) = set.join_next().await {
        if let Ok((i, c)) = joined {
            checks[i] = Some(c);
        }
    }
    tenants
        .iter()
        .zip(checks)
        .map(|(t, roles)| TenantRoles {
            tenant: t.name.clone(),
            account_id: t.account_id.clone(),
            region: t.region.clone(),
            cluster: t.cluster.clone(),
            roles: roles.unwrap_or_else(|| {
                Role::BOTH
                    .iter()
                    .map(|&role| RoleCheck {
                        role,
                        arn: role.arn(t).to_owned(),
                        ok: false,
                        account: None,
                        assumed_as: None,
                        error: Some("the check stopped unexpectedly".to_owned()),
                    })
                    .collect()
            }),
        })
        .collect()
}
