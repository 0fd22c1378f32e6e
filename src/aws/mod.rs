//! The only place that imports `aws_sdk_*`: base and per-tenant credentials, the account
//! guard, call counting, and the client sets (read-only here; deploying later).
//!
//! Commands never see an SDK client: they get a [`read::TenantReader`] (no write method
//! exists on it) or, for deploys, the deploying set. A person's session in a tenant account
//! (`login`, `exec`, `creds`) is an [`access::HandedSession`], whose credentials leave it only
//! where they are meant to go.

pub mod access;
pub mod actions;
pub mod alarms;
pub mod bootstrap;
pub mod calls;
pub mod console;
pub mod convert;
pub mod deploy;
pub mod errors;
pub mod preflight;
pub mod read;
pub mod session;
pub mod stacks;
pub mod task;
pub mod teardown;

pub use calls::{CallCounter, Counts};
pub use read::{TenantError, TenantReader};
pub use session::{Caller, Session};

use std::collections::BTreeMap;

use crate::dsl::Tenant;
use crate::resolve::{Lookups, Missing, references};
pub use read::{Launch, LiveEcsService, LiveStack, LiveTaskDefinition};

/// What reading one tenant's account gave.
pub struct TenantRead {
    pub lookups: Lookups,
    /// References the account does not satisfy, each with the tenant file line.
    pub missing: Vec<Missing>,
    /// With `live`: every service of the tenant by ECS service name, `None` if it does not
    /// exist, with the task definition it runs.
    pub services: BTreeMap<String, Option<(LiveEcsService, LiveTaskDefinition)>>,
    /// With `stacks`: every `[infra.KEY]` stack of the tenant by KEY, read with the same
    /// (read-only) role: DescribeStacks, and GetTemplate for one that exists.
    pub stacks: BTreeMap<String, StackRead>,
    /// With `stacks`: what the stacks' parameters reference (SSM values, secret versions,
    /// other stacks' outputs), and the references the account does not satisfy.
    pub stack_lookups: Lookups,
    pub stack_missing: Vec<Missing>,
}

/// One stack as read for `status`.
pub enum StackRead {
    /// No such stack (or only a change set's `REVIEW_IN_PROGRESS` placeholder).
    Missing,
    Found {
        live: LiveStack,
        /// The template as last submitted (GetTemplate, `Original`).
        template: String,
    },
    /// The read failed; the error names the operation and the role.
    Failed(String),
}

/// Reads several tenants, `concurrency` accounts at a time; one tenant's failure does not stop
/// the others. Results are in input order. `live` adds the running ECS state (for plan/status),
/// `stacks` the tenant's CloudFormation stacks (for status).
pub async fn read_tenants(
    session: &Session,
    tenants: &[&Tenant],
    concurrency: usize,
    live: bool,
    stacks: bool,
) -> Vec<Result<TenantRead, TenantError>> {
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (i, t) in tenants.iter().enumerate() {
        let (session, tenant, sem) = (session.clone(), (*t).clone(), sem.clone());
        set.spawn(async move {
            let _permit = sem.acquire().await;
            (i, read_one(&session, &tenant, live, stacks).await)
        });
    }
    let mut out: Vec<Option<Result<TenantRead, TenantError>>> =
        (0..tenants.len()).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        if let Ok((i, r)) = joined {
            out[i] = Some(r);
        }
    }
    out.into_iter()
        .zip(tenants)
        .map(|(r, t)| {
            r.unwrap_or_else(|| {
                Err(TenantError::Call {
                    tenant: t.name.clone(),
                    detail: "reading the account stopped unexpectedly".into(),
                })
            })
        })
        .collect()
}

async fn read_one(
    session: &Session,
    tenant: &Tenant,
    live: bool,
    with_stacks: bool,
) -> Result<TenantRead, TenantError> {
    let reader = TenantReader::connect(session, tenant).await?;
    let (lookups, missing) = reader.lookups(&references(tenant)).await?;
    let mut services = BTreeMap::new();
    if live {
        let names: Vec<String> = tenant
            .services
            .iter()
            .map(|s| s.ecs_service.clone())
            .collect();
        let found = reader.describe_services(&tenant.cluster, &names).await?;
        // Services of one tenant often run the same revision only by accident; still, read
        // each distinct task definition once.
        let mut tds: BTreeMap<String, LiveTaskDefinition> = BTreeMap::new();
        for (name, svc) in found {
            let entry = match svc {
                None => None,
                Some(svc) => {
                    let td = match tds.get(&svc.task_definition_arn) {
                        Some(td) => td.clone(),
                        None => {
                            let td = reader
                                .describe_task_definition(&svc.task_definition_arn)
                                .await?;
                            tds.insert(svc.task_definition_arn.clone(), td.clone());
                            td
                        }
                    };
                    Some((svc, td))
                }
            };
            services.insert(name, entry);
        }
    }
    let mut stacks = BTreeMap::new();
    let (mut stack_lookups, mut stack_missing) = (Lookups::default(), Vec::new());
    if with_stacks && !tenant.infra.is_empty() {
        let all = crate::infra::select(tenant, None);
        // Literal parameters make no call here; SSM, secrets and outputs as few as lookups needs.
        (stack_lookups, stack_missing) = reader
            .lookups(&crate::infra::references(tenant, &all))
            .await?;
        for s in all {
            let read = match reader.describe_stack(&s.stack_name).await {
                Ok(None) => StackRead::Missing,
                Ok(Some(l)) if l.status == "REVIEW_IN_PROGRESS" => StackRead::Missing,
                Ok(Some(live)) => match reader.get_template(&s.stack_name).await {
                    Ok(template) => StackRead::Found { live, template },
                    Err(e) => StackRead::Failed(e.to_string()),
                },
                Err(e) => StackRead::Failed(e.to_string()),
            };
            stacks.insert(s.key.clone(), read);
        }
    }
    Ok(TenantRead {
        lookups,
        missing,
        services,
        stacks,
        stack_lookups,
        stack_missing,
    })
}
