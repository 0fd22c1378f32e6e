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
    let stopped = || write_to.is_some_and(|(_, stop)| stop.load(Ordering::SeqCst));
    let results = in_parallel(
        jobs,
        chunk,
        stopped,
        |(t, svc, l)| one(t, svc, l),
        |(t, svc, _), why| panicked(t, svc, why),
    );
    let mut out = Vec::with_capacity(jobs.len());
    let mut diags = Diagnostics::default();
    for r in results {
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

/// Runs `one` over `jobs` on threads of `chunk` jobs each, results in input order, until
/// `stopped` says so. A job that panics is an error of that job (`on_panic` words it), never
/// a missing result: a fleet must not come out of `render --all` one tenant short.
fn in_parallel<J: Sync, R: Send>(
    jobs: &[J],
    chunk: usize,
    stopped: impl Fn() -> bool + Sync,
    one: impl Fn(&J) -> Result<R, Vec<Diagnostic>> + Sync,
    on_panic: impl Fn(&J, &str) -> Diagnostic + Sync,
) -> Vec<Result<R, Vec<Diagnostic>>> {
    let run = |job: &J| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| one(job))).unwrap_or_else(
            |payload| {
                Err(vec![on_panic(
                    job,
                    &crate::error::panic_text(payload.as_ref()),
                )])
            },
        )
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .chunks(chunk.max(1))
            .map(|part| {
                let work = s.spawn(|| {
                    part.iter()
                        .take_while(|_| !stopped())
                        .map(run)
                        .collect::<Vec<_>>()
                });
                (part, work)
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|(part, work)| {
                // Each job's panic is caught above; should the thread itself die anyway, every
                // job of its part is reported, not dropped.
                work.join().unwrap_or_else(|payload| {
                    let why = crate::error::panic_text(payload.as_ref());
                    part.iter().map(|j| Err(vec![on_panic(j, &why)])).collect()
                })
            })
            .collect()
    })
}

/// A service whose rendering panicked: stamp's fault (or a library's), reported against the
/// tenant and template like any other problem so that nothing goes missing silently.
fn panicked(t: &Tenant, svc: &Service, why: &str) -> Diagnostic {
    let template = format!(
        "{}/{}",
        crate::dsl::fleet::TEMPLATES_DIR,
        svc.template.value
    );
    Diagnostic::general(
        Some(&template),
        format!(
            "internal error: stamp panicked rendering service {}: {why}",
            svc.name
        ),
        Some(
            "this is a bug in stamp: please report it with the template and the tenant's files; nothing was written".to_owned(),
        ),
    )
    .tenant(&t.name)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_that_panics_is_an_error_of_that_job_and_no_result_goes_missing() {
        let jobs: Vec<u32> = (0..100).collect();
        let results = in_parallel(
            &jobs,
            32,
            || false,
            |&j| {
                assert!(j != 37, "job {j} broke");
                Ok(j * 2)
            },
            |&j, why| Diagnostic::general(None, format!("job {j}: {why}"), None),
        );
        assert_eq!(results.len(), jobs.len());
        for (j, r) in jobs.iter().zip(&results) {
            match r {
                Ok(v) => assert_eq!(*v, j * 2),
                Err(d) => {
                    assert_eq!(*j, 37);
                    assert_eq!(d[0].message, "job 37: job 37 broke");
                }
            }
        }
        assert!(results[37].is_err());
    }
}
