//! `stamp history [T…|--all] -s S`: a service's task definition revisions, newest first, with
//! the commit, digest, release and deployer that stamp tagged them with. Read-only.

use crate::output::escape::Shown;
use std::io::{self, Write};

use serde::Serialize;

use crate::audit::Audit;
use crate::aws::TenantReader;
use crate::aws::read::family_of;
use crate::cli::HistoryArgs;
use crate::dsl::{Diagnostic, Diagnostics, Service, Tenant};
use crate::error::{Failure, Result};
use crate::output::Report;
use crate::output::table::{self, Tone};

#[derive(Serialize)]
struct Histories {
    services: Vec<History>,
    #[serde(skip)]
    styled: bool,
}

#[derive(Serialize)]
struct History {
    tenant: String,
    account_id: String,
    service: String,
    /// Null when the service could not be read (see `problems`).
    family: Option<String>,
    current_revision: Option<i32>,
    revisions: Vec<Revision>,
    /// Why the history could not be read, in full.
    problems: Vec<Diagnostic>,
}

#[derive(Serialize)]
struct Revision {
    revision: i32,
    arn: String,
    registered_at: Option<String>,
    current: bool,
    #[serde(flatten)]
    audit: Audit,
}

impl Report for Histories {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        for (i, h) in self.services.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            match &h.family {
                Some(family) => {
                    writeln!(
                        out,
                        "{}/{} (family {})",
                        Shown(&h.tenant),
                        Shown(&h.service),
                        crate::output::escape::terminal(family)
                    )?;
                    out.write_all(table::render(&revisions(&h.revisions, self.styled)).as_bytes())?;
                }
                None => writeln!(
                    out,
                    "{}/{}: not read (the problem is on stderr)",
                    Shown(&h.tenant),
                    Shown(&h.service)
                )?,
            }
        }
        Ok(())
    }
}

fn revisions(revisions: &[Revision], styled: bool) -> comfy_table::Table {
    let header = [
        "REVISION",
        "REGISTERED",
        "RELEASE",
        "COMMIT",
        "DIGEST",
        "DEPLOYER",
        "NOTE",
    ];
    let mut t = table::new(&header, styled);
    let dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    for r in revisions {
        let rev = if r.current {
            table::state(&format!("{} (running)", r.revision), Tone::Good)
        } else {
            table::cell(r.revision.to_string())
        };
        let note = r.audit.r#override.clone().or_else(|| {
            r.audit
                .forced_unlock
                .as_ref()
                .map(|f| format!("forced unlock of {f}"))
        });
        t.add_row(vec![
            rev,
            table::cell(dash(r.registered_at.clone())),
            table::cell(dash(r.audit.release.clone())),
            table::cell(dash(r.audit.commit.as_deref().map(crate::vcs::short_label))),
            table::cell(dash(
                r.audit
                    .digest
                    .as_deref()
                    .map(|d| d.chars().take(12).collect()),
            )),
            table::cell(dash(r.audit.deployer.clone())),
            table::cell(note.unwrap_or_default()),
        ]);
    }
    t
}

pub(super) fn run(ctx: &super::Ctx, args: &HistoryArgs) -> Result<()> {
    let fleet = ctx.load_fleet()?;
    if !args.all && args.tenants.is_empty() {
        return Err(Failure::usage(
            "name the tenants whose history to show, or pass --all",
            Some("e.g. `stamp history acme -s api` or `stamp history --all -s api`".to_owned()),
        ));
    }
    let tenants = super::select_tenants(&fleet, &args.tenants)?;
    let services = tenants
        .iter()
        .map(|t| Ok((*t, super::service(t, &args.service)?)))
        .collect::<Result<Vec<_>>>()?;
    let rt = super::runtime()?;
    let histories = rt.block_on(async {
        let session = ctx.session().await?;
        let mut out = Vec::with_capacity(services.len());
        for (t, s) in &services {
            out.push(match history(&session, t, s, args.limit).await {
                Ok(h) => h,
                Err(problem) => History {
                    tenant: t.name.clone(),
                    account_id: t.account_id.clone(),
                    service: s.name.clone(),
                    family: None,
                    current_revision: None,
                    revisions: Vec::new(),
                    problems: vec![problem],
                },
            });
        }
        anyhow::Ok(out)
    })?;
    let problems = Diagnostics(histories.iter().flat_map(|h| h.problems.clone()).collect());
    ctx.conclude(
        problems,
        &Histories {
            services: histories,
            styled: ctx.printer.stdout_styled(),
        },
    )
}

/// One tenant's service: its family's newest revisions and which one runs.
async fn history(
    session: &crate::aws::Session,
    t: &Tenant,
    s: &Service,
    limit: usize,
) -> std::result::Result<History, Diagnostic> {
    let reader = TenantReader::connect(session, t)
        .await
        .map_err(|e| e.diagnostic(t))?;
    let live = reader
        .describe_services(&t.cluster, std::slice::from_ref(&s.ecs_service))
        .await
        .map_err(|e| e.diagnostic(t))?;
    let current = live
        .get(&s.ecs_service)
        .and_then(Option::as_ref)
        .map(|svc| svc.task_definition_arn.clone());
    let Some(family) = current.as_deref().and_then(family_of).map(str::to_owned) else {
        return Err(Diagnostic::general(
            None,
            format!(
                "ECS service `{}` does not exist in cluster `{}`, so it has no history yet",
                s.ecs_service, t.cluster
            ),
            Some(
                "check `ecs_service` and `cluster` in the tenant files, or create the service first (a stack of `stamp infra apply` may)"
                    .to_owned(),
            ),
        )
        .account(&t.name, &t.account_id));
    };
    let mut revisions = Vec::new();
    let arns = reader
        .list_revisions(&family, limit)
        .await
        .map_err(|e| e.diagnostic(t))?;
    for arn in arns {
        let td = reader
            .describe_task_definition(&arn)
            .await
            .map_err(|e| e.diagnostic(t))?;
        revisions.push(Revision {
            revision: td.revision,
            current: current.as_deref() == Some(td.arn.as_str()),
            arn: td.arn,
            registered_at: td.registered_at,
            audit: Audit::from_tags(&td.tags),
        });
    }
    Ok(History {
        tenant: t.name.clone(),
        account_id: t.account_id.clone(),
        service: s.name.clone(),
        family: Some(family),
        current_revision: revisions.iter().find(|r| r.current).map(|r| r.revision),
        revisions,
        problems: Vec::new(),
    })
}
