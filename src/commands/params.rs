//! `stamp params T`: every SSM parameter a tenant uses — name, type, version, which variables
//! use it, whether it is missing — never a value.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::aws::TenantReader;
use crate::cli::ParamsArgs;
use crate::error::{Failure, Result};
use crate::output::Report;
use crate::output::table::{self, Tone};
use crate::resolve::{references, service_env};

#[derive(Serialize)]
struct Params {
    tenant: String,
    account_id: String,
    parameters: Vec<Row>,
    problems: Vec<Problem>,
    #[serde(skip)]
    styled: bool,
}

#[derive(Serialize)]
struct Row {
    name: String,
    /// `String` (a plain `ssm` value), `SecureString` (a secret), or how it was imported.
    r#type: &'static str,
    version: Option<u64>,
    /// `service:VARIABLE` for every variable whose winning value comes from it.
    used_by: Vec<String>,
    /// Where the tenant files reference it.
    source: String,
    status: &'static str,
}

#[derive(Serialize)]
struct Problem {
    message: String,
    at: String,
}

impl Report for Params {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut t = table::new(
            &[
                "PARAMETER",
                "TYPE",
                "VERSION",
                "STATUS",
                "USED BY",
                "SOURCE",
            ],
            self.styled,
        );
        for r in &self.parameters {
            let tone = if r.status == "ok" {
                Tone::Plain
            } else {
                Tone::Bad
            };
            let used = if r.used_by.is_empty() {
                "(overridden everywhere)".to_owned()
            } else {
                r.used_by.join(", ")
            };
            t.add_row(vec![
                table::cell(&r.name),
                table::cell(r.r#type),
                table::cell(r.version.map_or_else(|| "-".to_owned(), |v| v.to_string())),
                table::state(r.status, tone),
                table::cell(used),
                table::cell(&r.source),
            ]);
        }
        out.write_all(table::render(&t).as_bytes())?;
        for p in &self.problems {
            writeln!(out, "problem: {} ({})", p.message, p.at)?;
        }
        Ok(())
    }
}

pub(super) fn run(ctx: &super::Ctx, args: &ParamsArgs) -> Result<()> {
    let fleet = ctx.load_fleet()?;
    let tenant = super::tenant(&fleet, &args.tenant)?;
    let refs = references(tenant);
    let rt = super::runtime()?;
    let (lookups, missing) = rt.block_on(async {
        let session = ctx.session().await?;
        let reader = TenantReader::connect(&session, tenant).await?;
        anyhow::Ok(reader.lookups(&refs).await?)
    })?;

    let mut used: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in &tenant.services {
        let env = service_env(tenant, s, &lookups, &mut Vec::new());
        for v in env.vars.values() {
            if let Some(p) = &v.parameter {
                used.entry(p.clone())
                    .or_default()
                    .push(format!("{}:{}", s.name, v.name));
            }
        }
    }
    let mut used_by = |name: &str| used.remove(name).unwrap_or_default();
    let mut rows = Vec::new();
    for ((name, pin), at) in &refs.ssm {
        let found = lookups.ssm.get(&(name.clone(), *pin));
        let shown = pin.map_or_else(|| name.clone(), |v| format!("{name}:{v}"));
        rows.push(Row {
            name: shown,
            r#type: "String",
            version: found.map(|p| p.version),
            used_by: used_by(name),
            source: at.to_string(),
            status: if found.is_some() { "ok" } else { "missing" },
        });
    }
    for (name, at) in &refs.secrets {
        let version = lookups.secret_versions.get(name).copied();
        rows.push(Row {
            name: name.clone(),
            r#type: "SecureString",
            version,
            used_by: used_by(name),
            source: at.to_string(),
            status: if version.is_some() { "ok" } else { "missing" },
        });
    }
    for (path, at) in &refs.paths {
        for p in lookups.paths.get(path).into_iter().flatten() {
            rows.push(Row {
                name: p.name.clone(),
                r#type: if p.value.is_some() {
                    "String (env_from)"
                } else {
                    "SecureString (env_from)"
                },
                version: Some(p.version),
                used_by: used_by(&p.name),
                source: format!("{at} env_from {path}"),
                status: "ok",
            });
        }
    }
    let problems: Vec<Problem> = missing
        .iter()
        .map(|m| Problem {
            message: m.what.clone(),
            at: m.at.to_string(),
        })
        .collect();
    let failed = !problems.is_empty();
    ctx.printer.data(&Params {
        tenant: tenant.name.clone(),
        account_id: tenant.account_id.clone(),
        parameters: rows,
        problems,
        styled: ctx.printer.stdout_styled(),
    })?;
    if failed {
        Err(Failure::Reported(1))
    } else {
        Ok(())
    }
}
