//! `stamp infra plan|apply` and `stamp explain --stack`: per-tenant CloudFormation stacks
//! whose templates and parameters live in the repository.

use std::io::{self, Write};

use serde::Serialize;

use crate::aws::TenantReader;
use crate::dsl::{Diagnostics, Stack, Tenant, diag::did_you_mean};
use crate::error::{Failure, Result};
use crate::infra::{StackParam, parameters, references};
use crate::output::{Report, style, table};
use crate::resolve::Lookups;

/// A stack key of the tenant, or a usage error with a suggestion.
pub(super) fn stack<'t>(tenant: &'t Tenant, key: &str) -> Result<&'t Stack> {
    tenant.stack(key).ok_or_else(|| {
        let keys: Vec<&str> = tenant.infra.iter().map(|s| s.key.as_str()).collect();
        let hint = match did_you_mean(key, keys.iter().copied()) {
            Some(m) => format!("did you mean `{m}`?"),
            None if keys.is_empty() => "stacks are declared as `[infra.NAME]` tables".to_owned(),
            None => format!("{} has the stacks: {}", tenant.name, keys.join(", ")),
        };
        Failure::usage(
            format!("tenant `{}` has no stack `{key}`", tenant.name),
            Some(hint),
        )
    })
}

/// Values the stacks' parameters reference, read through the tenant's inspect_role (or
/// placeholders offline). Bad references are input errors at the lines that wrote them.
fn stack_lookups(
    ctx: &super::Ctx,
    tenant: &Tenant,
    stacks: &[&Stack],
    offline: bool,
) -> Result<Lookups> {
    if offline {
        return Ok(Lookups::offline());
    }
    let refs = references(tenant, stacks);
    let rt = super::runtime()?;
    let (lookups, missing) = rt.block_on(async {
        let session = ctx.session().await?;
        let reader = TenantReader::connect(&session, tenant).await?;
        anyhow::Ok(reader.lookups(&refs).await?)
    })?;
    if !missing.is_empty() {
        let mut d = Diagnostics(super::missing_diagnostics(tenant, missing).collect());
        d.attach_snippets(&ctx.root);
        return Err(Failure::Input(d.sorted()));
    }
    Ok(lookups)
}

#[derive(Serialize)]
struct StackExplanation {
    tenant: String,
    stack: String,
    stack_name: String,
    template: String,
    capabilities: Vec<String>,
    tags: std::collections::BTreeMap<String, String>,
    parameters: Vec<StackParam>,
    #[serde(skip)]
    styled: bool,
}

impl Report for StackExplanation {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let b = style::BOLD;
        writeln!(
            out,
            "{}{}/{}{} (stack {}, templates/{})",
            b.render(),
            self.tenant,
            self.stack,
            b.render_reset(),
            self.stack_name,
            self.template
        )?;
        let mut t = table::new(
            &["PARAMETER", "VALUE", "KIND", "LAYER", "SOURCE"],
            self.styled,
        );
        for p in &self.parameters {
            let kind = serde_json::to_value(p.kind)
                .ok()
                .and_then(|k| k.as_str().map(str::to_owned))
                .unwrap_or_default();
            let mut source = p.source.clone();
            for o in &p.overrides {
                source.push_str(&format!(" (over {o})"));
            }
            t.add_row(vec![
                p.name.clone(),
                p.value.clone(),
                kind,
                p.layer.describe(&self.stack),
                source,
            ]);
        }
        out.write_all(table::render(&t).as_bytes())
    }
}

/// `stamp explain T --stack S`: every parameter, its value (secrets as dynamic references)
/// and where it was written.
pub(super) fn explain(ctx: &super::Ctx, tenant: &Tenant, key: &str, offline: bool) -> Result<()> {
    let s = stack(tenant, key)?;
    let lookups = stack_lookups(ctx, tenant, &[s], offline)?;
    let mut missing = Vec::new();
    let params = parameters(s, &lookups, &mut missing);
    ctx.printer.data(&StackExplanation {
        tenant: tenant.name.clone(),
        stack: s.key.clone(),
        stack_name: s.stack_name.clone(),
        template: s.template.value.clone(),
        capabilities: s.capabilities.clone(),
        tags: s.tags.clone(),
        parameters: params,
        styled: ctx.printer.stdout_styled(),
    })?;
    Ok(())
}
