//! `stamp verify [T…|--all]`: the preflight `deploy` runs before its first write, on its own
//! and read-only — images in ECR, roles, log groups, every problem listed per tenant.

use std::io::{self, Write};

use serde::Serialize;

use crate::cli::VerifyArgs;
use crate::dsl::Tenant;
use crate::error::{Failure, Result};
use crate::output::{Report, count, style};
use crate::preflight::{self, TenantCheck};
use crate::render::Templates;

/// The JSON shape: `{"ok", "tenants": [{"tenant", "account_id", "checked", "problems"}]}`.
#[derive(Serialize)]
pub(super) struct VerifyReport {
    pub(super) ok: bool,
    pub(super) tenants: Vec<TenantCheck>,
}

impl Report for VerifyReport {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        for t in &self.tenants {
            write_tenant(out, t)?;
        }
        let bad = self
            .tenants
            .iter()
            .filter(|t| !t.problems.is_empty())
            .count();
        if bad == 0 {
            writeln!(out, "\n{} ready", count(self.tenants.len(), "tenant"))
        } else {
            writeln!(
                out,
                "\n{} of {} not ready",
                bad,
                count(self.tenants.len(), "tenant")
            )
        }
    }
}

/// `acme (111111111111): ok (1 image, 3 roles, 2 log groups)`, or the problems one a line.
pub(super) fn write_tenant(out: &mut dyn Write, t: &TenantCheck) -> io::Result<()> {
    let c = &t.checked;
    let mut what = format!(
        "{}, {}, {}",
        count(c.images, "image"),
        count(c.roles, "role"),
        count(c.log_groups, "log group")
    );
    if c.alarms > 0 {
        what.push_str(&format!(", {}", count(c.alarms, "alarm")));
    }
    if t.problems.is_empty() {
        let ok = style::OK;
        return writeln!(
            out,
            "{} ({}): {}ok{} ({what})",
            t.tenant,
            t.account_id,
            ok.render(),
            ok.render_reset()
        );
    }
    let bad = style::BAD;
    writeln!(
        out,
        "{} ({}): {}{}{} ({what} checked)",
        t.tenant,
        t.account_id,
        bad.render(),
        count(t.problems.len(), "problem"),
        bad.render_reset()
    )?;
    for p in &t.problems {
        let services = if p.services.is_empty() {
            String::new()
        } else {
            format!(" [{}]", p.services.join(", "))
        };
        writeln!(out, "  {:<9} {}{services}", p.kind, p.detail)?;
    }
    Ok(())
}

pub(super) fn run(ctx: &super::Ctx, args: &VerifyArgs) -> Result<()> {
    let fleet = ctx.load_fleet()?;
    let templates = Templates::load(&fleet)?;
    if !args.all && args.tenants.is_empty() {
        return Err(Failure::usage(
            "name the tenants to verify, or pass --all",
            Some("e.g. `stamp verify acme` or `stamp verify --all --release v1.43.0`".to_owned()),
        ));
    }
    let tenants = super::select_tenants(&fleet, &args.tenants)?;
    let release = args.release.clone();
    let release_for = move |_: &Tenant| release.clone();
    let rt = super::runtime()?;
    let checks = rt.block_on(async {
        let session = ctx.session().await?;
        let checks = preflight::check(
            &session,
            &fleet,
            &templates,
            &tenants,
            &release_for,
            args.concurrency,
        )
        .await;
        anyhow::Ok(checks)
    })?;
    let ok = checks.iter().all(|t| t.problems.is_empty());
    ctx.printer.data(&VerifyReport {
        ok,
        tenants: checks,
    })?;
    if ok {
        Ok(())
    } else {
        Err(Failure::Reported(2))
    }
}
