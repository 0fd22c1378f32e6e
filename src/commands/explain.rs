//! `stamp explain`: every variable of a service with its value, kind, layer and source.

use std::io::{self, Write};

use serde::Serialize;

use crate::cli::ExplainArgs;
use crate::dsl::{Diagnostics, Layer};
use crate::error::{Failure, Result};
use crate::output::escape::Shown;
use crate::output::{Report, style, table};
use crate::render::{Templates, render_service};
use crate::resolve::{Import, Kind, Removed, Resolved, Shadowed};

/// The JSON shape is documented in the README; keep it stable.
#[derive(Serialize)]
struct Explanation {
    tenant: String,
    service: String,
    release: crate::dsl::ReleaseChoice,
    variables: Vec<Variable>,
    removed: Vec<Removed>,
    imports: Vec<Import>,
    #[serde(skip)]
    detail: bool,
    #[serde(skip)]
    styled: bool,
}

#[derive(Serialize)]
struct Variable {
    name: String,
    /// `null` for secrets.
    value: Option<String>,
    kind: Kind,
    layer: Layer,
    source: String,
    secret: bool,
    value_from: Option<String>,
    reference: Option<String>,
    overrides: Vec<Shadowed>,
}

impl From<Resolved> for Variable {
    fn from(r: Resolved) -> Self {
        let secret = r.value_from.is_some();
        Self {
            name: r.name,
            value: if secret { None } else { r.value },
            kind: r.kind,
            layer: r.layer,
            source: r.source,
            secret,
            value_from: r.value_from,
            reference: r.reference,
            overrides: r.overrides,
        }
    }
}

fn shown(value: Option<&str>, value_from: Option<&str>) -> String {
    match (value, value_from) {
        (_, Some(arn)) => format!("(secret) {}", Shown(arn)),
        (Some(v), None) => Shown(v).to_string(),
        (None, None) => "(secret)".to_owned(),
    }
}

impl Report for Explanation {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let b = style::BOLD;
        writeln!(
            out,
            "{}{}/{}{} (release {}, {})",
            b.render(),
            self.tenant,
            self.service,
            b.render_reset(),
            self.release.release,
            self.release.source
        )?;
        if self.detail {
            for v in &self.variables {
                writeln!(
                    out,
                    "{}{}{} = {}",
                    b.render(),
                    v.name,
                    b.render_reset(),
                    shown(v.value.as_deref(), v.value_from.as_deref())
                )?;
                writeln!(
                    out,
                    "  from  layer {} {} at {}",
                    v.layer.number(),
                    v.layer.describe(&self.service),
                    Shown(&v.source)
                )?;
                if let Some(r) = &v.reference {
                    writeln!(out, "  via   {}", Shown(r))?;
                }
                for o in &v.overrides {
                    writeln!(
                        out,
                        "  {}over  {} (layer {} {} at {}){}",
                        style::DIM.render(),
                        shown(o.value.as_deref(), None),
                        o.layer.number(),
                        o.layer.describe(&self.service),
                        Shown(&o.source),
                        style::DIM.render_reset()
                    )?;
                }
            }
            for r in &self.removed {
                writeln!(
                    out,
                    "{}{}{} is removed",
                    b.render(),
                    r.name,
                    b.render_reset()
                )?;
                writeln!(
                    out,
                    "  by    `unset` in layer {} {} at {}",
                    r.layer.number(),
                    r.layer.describe(&self.service),
                    Shown(&r.source)
                )?;
                for o in &r.overrides {
                    writeln!(
                        out,
                        "  was   {} (layer {} at {})",
                        shown(o.value.as_deref(), None),
                        o.layer.number(),
                        Shown(&o.source)
                    )?;
                }
            }
            return Ok(());
        }
        let mut t = table::new(&["NAME", "VALUE", "KIND", "LAYER", "SOURCE"], self.styled);
        for v in &self.variables {
            let kind = serde_json::to_value(v.kind)
                .ok()
                .and_then(|k| k.as_str().map(str::to_owned))
                .unwrap_or_default();
            let value = if v.secret {
                "(secret)".to_owned()
            } else {
                v.value.clone().unwrap_or_default()
            };
            t.add_row(table::row([
                v.name.clone(),
                value,
                kind,
                format!("{} {}", v.layer.number(), v.layer.describe(&self.service)),
                v.source.clone(),
            ]));
        }
        for r in &self.removed {
            t.add_row(table::row([
                r.name.clone(),
                "(removed)".to_owned(),
                "unset".to_owned(),
                format!("{} {}", r.layer.number(), r.layer.describe(&self.service)),
                r.source.clone(),
            ]));
        }
        out.write_all(table::render(&t).as_bytes())?;
        for i in &self.imports {
            let state = if i.resolved {
                ""
            } else {
                " (names under the path are read from the account; shown at plan time)"
            };
            writeln!(
                out,
                "imports {} at layer {} ({}){state}",
                Shown(&i.ssm_path),
                i.layer.number(),
                Shown(&i.source)
            )?;
        }
        Ok(())
    }
}

pub(super) fn run(ctx: &super::Ctx, args: &ExplainArgs) -> Result<()> {
    let fleet = ctx.load_fleet()?;
    let tenant = super::tenant(&fleet, &args.tenant)?;
    let Some(service) = &args.service else {
        let stack = args.stack.as_deref().unwrap_or_default();
        return super::infra::explain(ctx, tenant, stack, args.offline);
    };
    let service = super::service(tenant, service)?;
    let templates = Templates::load(&fleet)?;
    let (lookups, _) = super::tenant_lookups(ctx, &[tenant], args.offline, 1)?;
    let Some((_, lookups)) = lookups.into_iter().next() else {
        return Err(Failure::Reported(1));
    };
    let rendered = match render_service(
        &templates,
        &fleet,
        tenant,
        service,
        args.release.as_deref(),
        &lookups,
    ) {
        Ok(r) => r,
        Err(e) => {
            return Err(Failure::Input(Diagnostics(e.into_diagnostics(tenant))));
        }
    };
    let mut variables: Vec<Variable> = rendered.variables.into_iter().map(Variable::from).collect();
    let mut removed = rendered.removed;
    if let Some(var) = &args.var {
        let all: Vec<String> = variables
            .iter()
            .map(|v| v.name.clone())
            .chain(removed.iter().map(|r| r.name.clone()))
            .collect();
        variables.retain(|v| &v.name == var);
        removed.retain(|r| &r.name == var);
        if variables.is_empty() && removed.is_empty() {
            let names = all.iter().map(String::as_str);
            let hint = match crate::dsl::diag::did_you_mean(var, names) {
                Some(m) => format!("did you mean `{m}`?"),
                None => format!(
                    "`stamp explain {} -s {}` lists them all",
                    tenant.name, service.name
                ),
            };
            return Err(Failure::usage(
                format!("{}/{} has no variable `{var}`", tenant.name, service.name),
                Some(hint),
            ));
        }
    }
    ctx.printer.data(&Explanation {
        tenant: tenant.name.clone(),
        service: service.name.clone(),
        release: rendered.release,
        variables,
        removed,
        imports: rendered.imports,
        detail: args.var.is_some(),
        styled: ctx.printer.stdout_styled(),
    })?;
    Ok(())
}
