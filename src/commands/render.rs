//! `stamp render`: task definition JSON for one tenant's services, or the whole fleet to files.

use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

use crate::cli::{OutputFormat, RenderArgs};
use crate::dsl::{Diagnostic, Diagnostics, Fleet, Service, Tenant};
use crate::error::{Failure, Result};
use crate::output::Report;
use crate::render::{RenderError, Rendered, Templates, render_service};
use crate::resolve::Lookups;

pub(super) fn run(ctx: &super::Ctx, args: &RenderArgs) -> Result<()> {
    super::require_offline(args.offline)?;
    let fleet = ctx.load_fleet()?;
    let templates = Templates::load(&fleet)?;
    let lookups = Lookups::offline();
    let tenants: Vec<&Tenant> = match &args.tenant {
        Some(t) => vec![super::tenant(&fleet, t)?],
        None => fleet.tenants.iter().collect(),
    };
    let jobs: Vec<(&Tenant, &Service)> = tenants
        .iter()
        .flat_map(|t| match &args.service {
            Some(s) => vec![super::service(t, s).map(|s| (*t, s))],
            None => t.services.iter().map(|s| Ok((*t, s))).collect(),
        })
        .collect::<Result<_>>()?;
    let rendered = render_all(&templates, &fleet, &jobs, args.release.as_deref(), &lookups)?;
    match &args.out_dir {
        Some(dir) => write_files(ctx, dir, &rendered),
        None => print(ctx, &rendered),
    }
}

/// Renders in parallel (rendering is pure and a big fleet has thousands of services);
/// results come back in input order.
fn render_all(
    templates: &Templates,
    fleet: &Fleet,
    jobs: &[(&Tenant, &Service)],
    release: Option<&str>,
    lookups: &Lookups,
) -> Result<Vec<Rendered>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(8);
    let chunk = jobs.len().div_ceil(workers).max(32);
    let results: Vec<Vec<Result<Rendered, (String, RenderError)>>> = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .chunks(chunk.max(1))
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|(t, svc)| {
                            render_service(templates, fleet, t, svc, release, lookups)
                                .map_err(|e| (t.name.clone(), e))
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut out = Vec::with_capacity(jobs.len());
    let mut diags = Diagnostics::default();
    for r in results.into_iter().flatten() {
        match r {
            Ok(x) => out.push(x),
            Err((_, RenderError::Invalid(d))) => diags.0.extend(d),
            Err((tenant, RenderError::NoRelease)) => diags.push(Diagnostic::general(
                None,
                format!("tenant `{tenant}` has no release"),
                Some("pass --release X, pin `release` in the tenant file, or set it in _defaults.toml".into()),
            )),
            Err((_, RenderError::Missing(m))) => {
                diags.0.extend(m.into_iter().map(|m| Diagnostic::at(&m.at, m.what, None)));
            }
        }
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(Failure::Input(diags.sorted()))
    }
}

#[derive(Serialize)]
struct RenderedJson<'a> {
    tenant: &'a str,
    service: &'a str,
    release: &'a crate::dsl::ReleaseChoice,
    task_definition: &'a crate::render::TaskDefinition,
}

fn print(ctx: &super::Ctx, rendered: &[Rendered]) -> Result<()> {
    match ctx.printer.format() {
        OutputFormat::Text => {
            for r in rendered {
                if rendered.len() > 1 {
                    ctx.printer.info(format_args!(
                        "# {}/{} (release {})",
                        r.tenant, r.service, r.release.release
                    ));
                }
                ctx.printer.raw(&r.json)?;
            }
        }
        OutputFormat::Json => {
            let docs: Vec<RenderedJson<'_>> = rendered
                .iter()
                .map(|r| RenderedJson {
                    tenant: &r.tenant,
                    service: &r.service,
                    release: &r.release,
                    task_definition: &r.task_definition,
                })
                .collect();
            ctx.printer.data(&Docs(docs))?;
        }
    }
    Ok(())
}

#[derive(Serialize)]
#[serde(transparent)]
struct Docs<'a>(Vec<RenderedJson<'a>>);

impl Report for Docs<'_> {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, &self.0).map_err(io::Error::from)
    }
}

#[derive(Serialize)]
struct Written {
    out_dir: String,
    files: Vec<String>,
}

impl Report for Written {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "wrote {} task definitions under {}",
            self.files.len(),
            self.out_dir
        )
    }
}

fn write_files(ctx: &super::Ctx, dir: &Path, rendered: &[Rendered]) -> Result<()> {
    let mut files = Vec::with_capacity(rendered.len());
    let mut made = std::collections::BTreeSet::new();
    for r in rendered {
        let tdir = dir.join(&r.tenant);
        if made.insert(r.tenant.as_str()) {
            std::fs::create_dir_all(&tdir)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", tdir.display()))?;
        }
        let path = tdir.join(format!("{}.json", r.service));
        std::fs::write(&path, &r.json)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        files.push(format!("{}/{}.json", r.tenant, r.service));
    }
    ctx.printer.data(&Written {
        out_dir: dir.display().to_string(),
        files,
    })?;
    Ok(())
}
