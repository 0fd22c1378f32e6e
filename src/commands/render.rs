//! `stamp render`: task definition JSON for one tenant's services, or the whole fleet to files.

use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use super::out_dir::OutDir;
use crate::cli::{OutputFormat, RenderArgs};
use crate::dsl::{Diagnostic, Diagnostics, Fleet, Service, Tenant};
use crate::error::{Failure, Result};
use crate::output::Report;
use crate::render::{Rendered, Templates, render_service};
use crate::resolve::Lookups;

pub(super) fn run(ctx: &super::Ctx, args: &RenderArgs) -> Result<()> {
    let fleet = ctx.load_fleet()?;
    let templates = Templates::load(&fleet)?;
    let tenants: Vec<&Tenant> = match &args.tenant {
        Some(t) => vec![super::tenant(&fleet, t)?],
        None => fleet.tenants.iter().collect(),
    };
    if let (Some(s), Some(t)) = (&args.service, tenants.first()) {
        super::service(t, s)?;
    }
    let (lookups, some_failed) =
        super::tenant_lookups(ctx, &tenants, args.offline, args.concurrency)?;
    let jobs: Vec<Job<'_>> = lookups
        .iter()
        .flat_map(|(t, l)| {
            t.services
                .iter()
                .filter(|s| args.service.as_ref().is_none_or(|n| &s.name == n))
                .map(move |s| (*t, s, l))
        })
        .collect();
    let result = render_jobs(ctx, args, &templates, &fleet, &jobs);
    if some_failed && result.is_ok() {
        return Err(Failure::Reported(1));
    }
    result
}

type Job<'a> = (&'a Tenant, &'a Service, &'a Lookups);

fn render_jobs(
    ctx: &super::Ctx,
    args: &RenderArgs,
    templates: &Templates,
    fleet: &Fleet,
    jobs: &[Job<'_>],
) -> Result<()> {
    match &args.out_dir {
        Some(dir) => write_files(ctx, dir, templates, fleet, jobs, args.release.as_deref()),
        None => {
            let rendered = render_all(templates, fleet, jobs, args.release.as_deref(), None)?;
            let rendered: Vec<Rendered> = rendered.into_iter().filter_map(Done::kept).collect();
            print(ctx, &rendered)
        }
    }
}

/// One finished job: kept in memory for printing, or already written to disk (so a fleet of
/// thousands of services never sits in memory at once).
enum Done {
    Kept(Box<Rendered>),
    Written(String),
}

impl Done {
    fn kept(self) -> Option<Rendered> {
        match self {
            Done::Kept(r) => Some(*r),
            Done::Written(_) => None,
        }
    }
}

/// Where workers write their files, and the flag that stops them starting another job.
type WriteTo<'a> = (&'a Path, &'a AtomicBool);

/// Renders in parallel (rendering is pure and a big fleet has thousands of services);
/// results come back in input order. With `write_to`, each worker writes its files there.
fn render_all(
    templates: &Templates,
    fleet: &Fleet,
    jobs: &[Job<'_>],
    release: Option<&str>,
    write_to: Option<WriteTo<'_>>,
) -> Result<Vec<Done>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(8);
    let chunk = jobs.len().div_ceil(workers).max(32);
    let one = |t: &Tenant, svc: &Service, lookups: &Lookups| -> Result<Done, Vec<Diagnostic>> {
        let r = render_service(templates, fleet, t, svc, release, lookups)
            .map_err(|e| e.into_diagnostics(t))?;
        let Some((dir, _)) = write_to else {
            return Ok(Done::Kept(Box::new(r)));
        };
        let rel = format!("{}/{}.json", r.tenant, r.service);
        let path = dir.join(&rel);
        // Tenant folders exist already (made once in `write_files`): on a slow disk a
        // redundant mkdir per service costs more than rendering the service.
        let written = std::fs::write(&path, &r.json);
        written.map_err(|e| {
            vec![Diagnostic::general(
                None,
                format!("cannot write {}: {e}", path.display()),
                None,
            )]
        })?;
        Ok(Done::Written(rel))
    };
    let results: Vec<Vec<Result<Done, Vec<Diagnostic>>>> = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .chunks(chunk.max(1))
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .take_while(|_| {
                            write_to.is_none_or(|(_, stop)| !stop.load(Ordering::SeqCst))
                        })
                        .map(|(t, svc, l)| one(t, svc, l))
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
            Err(d) => diags.0.extend(d),
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

/// Writes every task definition under `dir`, all or nothing, touching nothing stamp did not
/// write there (`out_dir` owns the rules).
fn write_files(
    ctx: &super::Ctx,
    dir: &Path,
    templates: &Templates,
    fleet: &Fleet,
    jobs: &[Job<'_>],
    release: Option<&str>,
) -> Result<()> {
    let out = OutDir::check(&ctx.root, dir)?;
    let interrupted = super::out_dir::interrupted_flag();
    let staging = out.stage()?;
    let mut tenants: Vec<&str> = jobs.iter().map(|(t, _, _)| t.name.as_str()).collect();
    tenants.dedup();
    for t in &tenants {
        let d = staging.path.join(t);
        std::fs::create_dir(&d)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", d.display()))?;
    }
    let done = render_all(
        templates,
        fleet,
        jobs,
        release,
        Some((&staging.path, &interrupted)),
    )?;
    if interrupted.load(Ordering::SeqCst) {
        return Err(
            anyhow::anyhow!("interrupted: nothing was written under {}", dir.display()).into(),
        );
    }
    let files: Vec<String> = done
        .into_iter()
        .filter_map(|d| match d {
            Done::Written(f) => Some(f),
            Done::Kept(_) => None,
        })
        .collect();
    out.commit(staging, &tenants, &files)?;
    ctx.printer.data(&Written {
        out_dir: dir.display().to_string(),
        files,
    })?;
    Ok(())
}
