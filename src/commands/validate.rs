//! `stamp validate`: every tenant file and template, every service rendered offline.

use std::io::{self, Write};

use serde::Serialize;

use crate::cli::ValidateArgs;
use crate::dsl::fleet::{DEFAULTS_FILE, TENANTS_DIR};
use crate::dsl::{self, Diagnostic, Diagnostics};
use crate::error::{Failure, Result};
use crate::output::{Report, style};
use crate::render::{RenderError, Templates, render_service};
use crate::resolve::Lookups;

#[derive(Serialize)]
struct Validation {
    ok: bool,
    diagnostics: Vec<Diagnostic>,
    #[serde(skip)]
    tenants: usize,
    #[serde(skip)]
    services: usize,
}

impl Report for Validation {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.ok {
            writeln!(
                out,
                "{}ok{}: {} tenants, {} services rendered",
                style::OK.render(),
                style::OK.render_reset(),
                self.tenants,
                self.services
            )
        } else {
            Ok(())
        }
    }
}

pub(super) fn run(ctx: &super::Ctx, _args: &ValidateArgs) -> Result<()> {
    let (fleet, load_diags) = dsl::load_partial(&ctx.root);
    let (diags, tenants, services) = match fleet {
        None => (load_diags, 0, 0),
        Some(fleet) => match Templates::load(&fleet) {
            Err(d) => (
                Diagnostics(load_diags.0.into_iter().chain(d.0).collect()),
                fleet.tenants.len(),
                0,
            ),
            Ok(templates) => {
                let lookups = Lookups::offline();
                let mut diags = load_diags;
                diags.0.extend(crate::infra::check(&fleet).0);
                let mut services = 0;
                for t in &fleet.tenants {
                    for s in &t.services {
                        match render_service(&templates, &fleet, t, s, None, &lookups) {
                            Ok(_) => services += 1,
                            Err(RenderError::Invalid(d)) => diags.0.extend(d),
                            Err(RenderError::NoRelease) => diags.push(Diagnostic::general(
                                Some(&format!("{TENANTS_DIR}/{DEFAULTS_FILE}")),
                                "no release: the tenant pins none and _defaults.toml has no `release`",
                                Some("add `release = \"v1.0.0\"` under [tenant] in _defaults.toml, or pin one in the tenant file".into()),
                            ).tenant(&t.name)),
                            // Offline lookups never miss: every reference is a placeholder.
                            Err(RenderError::Missing(_)) => {}
                        }
                    }
                }
                diags.attach_snippets(&fleet.root);
                (diags.sorted(), fleet.tenants.len(), services)
            }
        },
    };
    let report = Validation {
        ok: diags.is_empty(),
        diagnostics: diags.0.clone(),
        tenants,
        services,
    };
    if !report.ok && ctx.printer.format() == crate::cli::OutputFormat::Text {
        ctx.printer.error(&diags);
    }
    ctx.printer.data(&report)?;
    if report.ok {
        Ok(())
    } else {
        Err(Failure::Reported(2))
    }
}
