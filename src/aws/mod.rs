//! The only place that imports `aws_sdk_*`: base and per-tenant credentials, the account
//! guard, call counting, and the client sets (read-only here; deploying later).
//!
//! Commands never see an SDK client: they get a [`read::TenantReader`] (no write method
//! exists on it) or, for deploys, the deploying set.

pub mod calls;
pub mod convert;
pub mod errors;
pub mod read;
pub mod session;

pub use calls::{CallCounter, Counts};
pub use read::{TenantError, TenantReader};
pub use session::{Caller, Session};

use crate::dsl::Tenant;
use crate::resolve::{Lookups, Missing, references};

/// What reading one tenant's account gave: its values, or why it could not be read.
pub enum TenantLookups {
    Ready(Lookups),
    /// References the account does not satisfy, each with the tenant file line.
    Missing(Vec<Missing>),
    Failed(TenantError),
}

/// Reads the SSM parameters and stack outputs of several tenants, `concurrency` accounts at
/// a time; one tenant's failure does not stop the others. Results are in input order.
pub async fn read_lookups(
    session: &Session,
    tenants: &[&Tenant],
    concurrency: usize,
) -> Vec<TenantLookups> {
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (i, t) in tenants.iter().enumerate() {
        let (session, tenant, sem) = (session.clone(), (*t).clone(), sem.clone());
        set.spawn(async move {
            let _permit = sem.acquire().await;
            let r = async {
                let reader = TenantReader::connect(&session, &tenant).await?;
                reader.lookups(&references(&tenant)).await
            }
            .await;
            let out = match r {
                Ok((l, m)) if m.is_empty() => TenantLookups::Ready(l),
                Ok((_, m)) => TenantLookups::Missing(m),
                Err(e) => TenantLookups::Failed(e),
            };
            (i, out)
        });
    }
    let mut out: Vec<Option<TenantLookups>> = (0..tenants.len()).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        if let Ok((i, r)) = joined {
            out[i] = Some(r);
        }
    }
    out.into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                TenantLookups::Failed(TenantError::Call {
                    tenant: String::new(),
                    detail: "the lookup task stopped unexpectedly".into(),
                })
            })
        })
        .collect()
}
