//! The only place that imports `aws_sdk_*`: base and per-tenant credentials, the account
//! guard, call counting, and the client sets (read-only here; deploying later).
//!
//! Commands never see an SDK client: they get a [`read::TenantReader`] (no write method
//! exists on it) or, for deploys, the deploying set.

pub mod calls;
pub mod convert;
pub mod deploy;
pub mod errors;
pub mod read;
pub mod session;
pub mod stacks;

pub use calls::{CallCounter, Counts};
pub use read::{TenantError, TenantReader};
pub use session::{Caller, Session};

use std::collections::BTreeMap;

use crate::dsl::Tenant;
use crate::resolve::{Lookups, Missing, references};
pub use read::{LiveEcsService, LiveTaskDefinition};

/// What reading one tenant's account gave.
pub struct TenantRead {
    pub lookups: Lookups,
    /// References the account does not satisfy, each with the tenant file line.
    pub missing: Vec<Missing>,
    /// With `live`: every service of the tenant by ECS service name, `None` if it does not
    /// exist, with the task definition it runs.
    pub services: BTreeMap<String, Option<(LiveEcsService, LiveTaskDefinition)>>,
}

/// Reads several tenants, `concurrency` accounts at a time; one tenant's failure does not stop
/// the others. Results are in input order. `live` adds the running ECS state (for plan/status).
pub async fn read_tenants(
    session: &Session,
    tenants: &[&Tenant],
    concurrency: usize,
    live: bool,
) -> Vec<Result<TenantRead, TenantError>> {
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (i, t) in tenants.iter().enumerate() {
        let (session, tenant, sem) = (session.clone(), (*t).clone(), sem.clone());
        set.spawn(async move {
            let _permit = sem.acquire().await;
            (i, read_one(&session, &tenant, live).await)
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
    Ok(TenantRead {
        lookups,
        missing,
        services,
    })
}
