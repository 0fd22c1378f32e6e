//! `stamp params [T…|--all]`: every SSM parameter and Secrets Manager secret the tenants use —
//! name, type, version, how the files reference it, which variables use it, whether it is
//! missing — never a value.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use serde::Serialize;

use crate::aws::read_tenants;
use crate::cli::ParamsArgs;
use crate::dsl::{Diagnostic, Tenant};
use crate::error::{Failure, Result};
use crate::output::Report;
use crate::output::table::{self, Tone};
use crate::resolve::{Lookups, Missing, Unmet, service_env};

#[derive(Serialize)]
struct Params {
    tenants: Vec<TenantParams>,
    #[serde(skip)]
    styled: bool,
}

#[derive(Serialize)]
struct TenantParams {
    tenant: String,
    account_id: String,
    parameters: Vec<Row>,
    /// Every reference the account does not satisfy, or why it could not be read, in full.
    problems: Vec<Diagnostic>,
}

/// One parameter; each field holds one kind of value.
#[derive(Serialize)]
struct Row {
    /// The parameter's name, as SSM has it.
    name: String,
    /// `String`, `StringList` or `SecureString`, as stored, or `secretsmanager` for a Secrets
    /// Manager secret; null when it does not exist.
    r#type: Option<&'static str>,
    /// The version read (the pinned one for a pin); null when it does not exist.
    version: Option<u64>,
    /// `version = N` in the tenant files, if pinned.
    pinned_version: Option<u64>,
    /// How the tenant files reference it: `ssm`, `secret`, `secretsmanager` or `env_from`.
    reference: &'static str,
    /// For `env_from`: the path it was imported from.
    ssm_path: Option<String>,
    /// Every variable whose winning value comes from it.
    used_by: Vec<UsedBy>,
    /// The tenant file line that references it (`file:line`).
    source: String,
    /// `ok`, `missing`, or `wrong-type` (a SecureString as `ssm`, a String as `secret`).
    status: &'static str,
}

#[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
struct UsedBy {
    service: String,
    variable: String,
}

impl Report for Params {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        for (i, t) in self.tenants.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            writeln!(out, "{} (account {})", t.tenant, t.account_id)?;
            if t.parameters.is_empty() {
                let why = if t.problems.is_empty() {
                    "  no SSM parameters referenced"
                } else {
                    "  not read (the problem is on stderr)"
                };
                writeln!(out, "{why}")?;
                continue;
            }
            out.write_all(table::render(&rows_table(&t.parameters, self.styled)).as_bytes())?;
        }
        Ok(())
    }
}

fn rows_table(rows: &[Row], styled: bool) -> comfy_table::Table {
    let header = [
        "PARAMETER",
        "TYPE",
        "VERSION",
        "REFERENCE",
        "STATUS",
        "USED BY",
        "SOURCE",
    ];
    let mut t = table::new(&header, styled);
    for r in rows {
        let tone = if r.status == "ok" {
            Tone::Plain
        } else {
            Tone::Bad
        };
        let used = if r.used_by.is_empty() {
            "(overridden everywhere)".to_owned()
        } else {
            let names: Vec<String> = r
                .used_by
                .iter()
                .map(|u| format!("{}:{}", u.service, u.variable))
                .collect();
            names.join(", ")
        };
        let reference = match (&r.ssm_path, r.pinned_version) {
            (Some(path), _) => format!("env_from {path}"),
            (None, Some(v)) => format!("{} version {v}", r.reference),
            (None, None) => r.reference.to_owned(),
        };
        t.add_row(vec![
            table::cell(&r.name),
            table::cell(r.r#type.unwrap_or("-")),
            table::cell(r.version.map_or_else(|| "-".to_owned(), |v| v.to_string())),
            table::cell(reference),
            table::state(r.status, tone),
            table::cell(used),
            table::cell(&r.source),
        ]);
    }
    t
}

pub(super) fn run(ctx: &super::Ctx, args: &ParamsArgs) -> Result<()> {
    let fleet = ctx.load_fleet()?;
    if !args.all && args.tenants.is_empty() {
        return Err(Failure::usage(
            "name the tenants whose parameters to list, or pass --all",
            Some("e.g. `stamp params acme` or `stamp params --all`".to_owned()),
        ));
    }
    let tenants = super::select_tenants(&fleet, &args.tenants)?;
    let rt = super::runtime()?;
    let reads = rt.block_on(async {
        let session = ctx.session().await?;
        anyhow::Ok(read_tenants(&session, &tenants, args.concurrency, false, false).await)
    })?;
    let mut report = Vec::with_capacity(tenants.len());
    let mut all_problems = crate::dsl::Diagnostics::default();
    for (t, read) in tenants.iter().zip(reads) {
        let (parameters, problems) = match read {
            Ok(read) => (
                rows(t, &read.lookups, &read.missing),
                read.missing.iter().map(|m| m.diagnostic(t)).collect(),
            ),
            Err(e) => (Vec::new(), vec![e.diagnostic(t)]),
        };
        let mut problems = crate::dsl::Diagnostics(problems);
        problems.attach_snippets(&ctx.root);
        all_problems.0.extend(problems.0.iter().cloned());
        report.push(TenantParams {
            tenant: t.name.clone(),
            account_id: t.account_id.clone(),
            parameters,
            problems: problems.sorted().0,
        });
    }
    ctx.conclude(
        all_problems,
        &Params {
            tenants: report,
            styled: ctx.printer.stdout_styled(),
        },
    )
}

/// The tenant's parameters: `ssm` references, secrets, then what `env_from` paths imported.
fn rows(tenant: &Tenant, lookups: &Lookups, missing: &[Missing]) -> Vec<Row> {
    let refs = crate::resolve::references(tenant);
    let mut used = users(tenant, lookups);
    let mut used_by = |name: &str| used.remove(name).unwrap_or_default();
    let status = |name: &str, found: bool| {
        let wrong_type = missing.iter().any(|m| {
            matches!(&m.unmet, Unmet::SecretAsPlain { name: n } | Unmet::PlainAsSecret { name: n } if n == name)
        });
        match (wrong_type, found) {
            (true, _) => "wrong-type",
            (false, true) => "ok",
            (false, false) => "missing",
        }
    };
    let mut rows = Vec::new();
    for ((name, pin), at) in &refs.ssm {
        let found = lookups.ssm.get(&(name.clone(), *pin));
        rows.push(Row {
            name: name.clone(),
            r#type: found.map(|p| if p.list { "StringList" } else { "String" }),
            version: found.map(|p| p.version),
            pinned_version: *pin,
            reference: "ssm",
            ssm_path: None,
            used_by: used_by(name),
            source: at.to_string(),
            status: status(name, found.is_some()),
        });
    }
    for (name, at) in &refs.secrets {
        let version = lookups.secret_versions.get(name).copied();
        rows.push(Row {
            name: name.clone(),
            r#type: version.map(|_| "SecureString"),
            version,
            pinned_version: None,
            reference: "secret",
            ssm_path: None,
            used_by: used_by(name),
            source: at.to_string(),
            status: status(name, version.is_some()),
        });
    }
    for (secret, at) in &refs.secretsmanager {
        let found = lookups.secretsmanager.contains_key(secret);
        rows.push(Row {
            name: secret.clone(),
            r#type: found.then_some("secretsmanager"),
            version: None,
            pinned_version: None,
            reference: "secretsmanager",
            ssm_path: None,
            used_by: used_by(secret),
            source: at.to_string(),
            status: status(secret, found),
        });
    }
    for (path, at) in &refs.paths {
        for p in lookups.paths.get(path).into_iter().flatten() {
            rows.push(Row {
                name: p.name.clone(),
                r#type: Some(if p.value.is_some() {
                    "String"
                } else {
                    "SecureString"
                }),
                version: Some(p.version),
                pinned_version: None,
                reference: "env_from",
                ssm_path: Some(path.clone()),
                used_by: used_by(&p.name),
                source: at.to_string(),
                status: "ok",
            });
        }
    }
    rows
}

/// Parameter name → every variable whose winning value comes from it.
fn users(tenant: &Tenant, lookups: &Lookups) -> BTreeMap<String, Vec<UsedBy>> {
    let mut used: BTreeMap<String, BTreeSet<UsedBy>> = BTreeMap::new();
    for s in &tenant.services {
        let env = service_env(tenant, s, lookups, &mut Vec::new());
        for v in env.vars.values() {
            if let Some(p) = &v.parameter {
                used.entry(p.clone()).or_default().insert(UsedBy {
                    service: s.name.clone(),
                    variable: v.name.clone(),
                });
            }
        }
    }
    used.into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect()
}
