//! `stamp history T -s S`: a service's task definition revisions, newest first, with the
//! commit, digest, release and deployer that stamp tagged them with. Read-only.

use std::io::{self, Write};

use serde::Serialize;

use crate::audit::Audit;
use crate::aws::TenantReader;
use crate::aws::read::family_of;
use crate::cli::HistoryArgs;
use crate::error::{Failure, Result};
use crate::output::Report;
use crate::output::table::{self, Tone};

#[derive(Serialize)]
struct History {
    tenant: String,
    service: String,
    family: String,
    current_revision: Option<i32>,
    revisions: Vec<Revision>,
    #[serde(skip)]
    styled: bool,
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

impl Report for History {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "{}/{} (family {})",
            self.tenant, self.service, self.family
        )?;
        let mut t = table::new(
            &[
                "REVISION",
                "REGISTERED",
                "RELEASE",
                "COMMIT",
                "DIGEST",
                "DEPLOYER",
                "NOTE",
            ],
            self.styled,
        );
        for r in &self.revisions {
            let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
            let rev = if r.current {
                table::state(&format!("{} (running)", r.revision), Tone::Good)
            } else {
                table::cell(r.revision.to_string())
            };
            t.add_row(vec![
                rev,
                table::cell(dash(&r.registered_at)),
                table::cell(dash(&r.audit.release)),
                table::cell(
                    r.audit
                        .commit
                        .as_deref()
                        .map_or("-".to_owned(), |c| c.chars().take(12).collect()),
                ),
                table::cell(
                    r.audit
                        .digest
                        .as_deref()
                        .map_or("-".to_owned(), |d| d.chars().take(12).collect()),
                ),
                table::cell(dash(&r.audit.deployer)),
                table::cell(
                    r.audit
                        .r#override
                        .clone()
                        .or_else(|| {
                            r.audit
                                .forced_unlock
                                .as_ref()
                                .map(|f| format!("forced unlock of {f}"))
                        })
                        .unwrap_or_default(),
                ),
            ]);
        }
        out.write_all(table::render(&t).as_bytes())
    }
}

pub(super) fn run(ctx: &super::Ctx, args: &HistoryArgs) -> Result<()> {
    let fleet = ctx.load_fleet()?;
    let tenant = super::tenant(&fleet, &args.tenant)?;
    let service = super::service(tenant, &args.service)?;
    let rt = super::runtime()?;
    let history = rt.block_on(async {
        let session = ctx.session().await?;
        let reader = TenantReader::connect(&session, tenant).await?;
        let live = reader.describe_services(&tenant.cluster, std::slice::from_ref(&service.ecs_service)).await?;
        let current = live.get(&service.ecs_service).and_then(Option::as_ref).map(|s| s.task_definition_arn.clone());
        let Some(family) = current.as_deref().and_then(family_of).map(str::to_owned) else {
            return Err(anyhow::anyhow!(
                "{}/{}: ECS service `{}` does not exist in cluster `{}`, so it has no history yet",
                tenant.name,
                service.name,
                service.ecs_service,
                tenant.cluster
            ));
        };
        let mut revisions = Vec::new();
        for arn in reader.list_revisions(&family, args.limit).await? {
            let td = reader.describe_task_definition(&arn).await?;
            revisions.push(Revision {
                revision: td.revision,
                current: current.as_deref() == Some(td.arn.as_str()),
                arn: td.arn,
                registered_at: td.registered_at,
                audit: Audit::from_tags(&td.tags),
            });
        }
        let current_revision = revisions.iter().find(|r| r.current).map(|r| r.revision);
        anyhow::Ok(History {
            tenant: tenant.name.clone(),
            service: service.name.clone(),
            family,
            current_revision,
            revisions,
            styled: ctx.printer.stdout_styled(),
        })
    })
    .map_err(Failure::Failed)?;
    ctx.printer.data(&history)?;
    Ok(())
}
