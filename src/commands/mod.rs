//! One file per command, dispatched from one match. Each command gets resolved settings and
//! the printer, never raw clap structs beyond its own arguments.

use std::path::PathBuf;

use crate::cli::{Cli, Command};
use crate::dsl::{self, Fleet, Service, Tenant, diag::did_you_mean};
use crate::error::{Failure, Result};
use crate::output::Printer;

mod explain;
mod render;
mod schedule;
mod validate;

/// Settings resolved once from global flags, shared by every command.
pub struct Ctx {
    pub printer: Printer,
    pub root: PathBuf,
}

impl Ctx {
    pub fn load_fleet(&self) -> Result<Fleet> {
        Ok(dsl::load(&self.root)?)
    }
}

pub fn run(cli: Cli) -> Result<()> {
    let g = &cli.global;
    let printer = Printer::new(g.output, g.color, g.quiet, g.verbose);
    let cwd = std::env::current_dir()?;
    let root = dsl::find_root(g.root.as_deref(), &cwd)
        .map_err(|d| Failure::Input(dsl::Diagnostics(vec![d])))?;
    let ctx = Ctx { printer, root };
    match cli.command {
        Command::Validate(a) => validate::run(&ctx, &a),
        Command::Render(a) => render::run(&ctx, &a),
        Command::Explain(a) => explain::run(&ctx, &a),
        Command::Schedule(a) => schedule::run(&ctx, &a),
    }
}

/// Tenants by name, in the order given; unknown names are a usage error with a suggestion.
pub fn select_tenants<'f>(fleet: &'f Fleet, names: &[String]) -> Result<Vec<&'f Tenant>> {
    if names.is_empty() {
        return Ok(fleet.tenants.iter().collect());
    }
    names.iter().map(|n| tenant(fleet, n)).collect()
}

pub fn tenant<'f>(fleet: &'f Fleet, name: &str) -> Result<&'f Tenant> {
    fleet
        .tenants
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| {
            let hint = match did_you_mean(name, fleet.tenants.iter().map(|t| t.name.as_str())) {
                Some(m) => format!("did you mean `{m}`?"),
                None => {
                    "tenants are the file stems in tenants/; `stamp schedule` lists them".to_owned()
                }
            };
            Failure::usage(format!("unknown tenant `{name}`"), Some(hint))
        })
}

pub fn service<'t>(tenant: &'t Tenant, name: &str) -> Result<&'t Service> {
    tenant.service(name).ok_or_else(|| {
        let names: Vec<&str> = tenant.services.iter().map(|s| s.name.as_str()).collect();
        let hint = match did_you_mean(name, names.iter().copied()) {
            Some(m) => format!("did you mean `{m}`?"),
            None => format!("{} has the services: {}", tenant.name, names.join(", ")),
        };
        Failure::usage(
            format!("tenant `{}` has no service `{name}`", tenant.name),
            Some(hint),
        )
    })
}

/// Until stamp reads tenant accounts, values from SSM and CloudFormation need `--offline`.
pub fn require_offline(offline: bool) -> Result<()> {
    if offline {
        Ok(())
    } else {
        Err(Failure::usage(
            "reading SSM and CloudFormation values from the tenant accounts is not available in this version",
            Some(
                "pass --offline to render with placeholders such as <ssm:/shop/acme/api_base>"
                    .to_owned(),
            ),
        ))
    }
}
