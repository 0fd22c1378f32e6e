//! One lock per unit, held as a guard: [`Guard::release`] is the normal end of every path, and a
//! guard dropped without it (a panic, a cancelled task) still sends the unlock on the runtime.
//! Only a second interrupt, which abandons the run, leaves locks to expire by themselves.

use std::sync::Arc;
use std::time::Duration;

use crate::aws::TenantError;
use crate::aws::deploy::{LockHolder, LockInfo, LockOutcome, TenantDeployer};

/// A lock this run holds on `scope`/`name` (cluster/service, or `cloudformation`/stack).
pub struct Guard {
    deployer: Arc<TenantDeployer>,
    scope: String,
    name: String,
    holder: LockHolder,
    released: bool,
    /// The lock as held (its value in SSM): what the run journal rewrites.
    pub mine: LockInfo,
}

/// A lock taken, with what a unit reports about it.
pub struct Acquired {
    pub guard: Guard,
    /// The holder replaced (expired, or forced) and what to say about it.
    pub replaced: Option<(LockInfo, String)>,
    /// Who held the lock `--force-unlock` removed (for the audit tags).
    pub forced: Option<String>,
}

/// Takes the lock, or says why not (held by someone else, or the call failed): the detail of
/// the unit's row, worded once for every command. An error may mean the lock was created
/// although the answer was lost, so it is released (only if ours) first.
pub async fn acquire(
    deployer: &Arc<TenantDeployer>,
    scope: &str,
    name: &str,
    holder: &LockHolder,
    ttl: Duration,
    force: bool,
) -> Result<Acquired, String> {
    let (took_over, forced, mine) = match deployer.lock(scope, name, holder, ttl, force).await {
        Ok(LockOutcome::Acquired {
            took_over,
            forced,
            mine,
        }) => (took_over, forced, mine),
        Ok(LockOutcome::Held(info)) => {
            return Err(format!(
                "locked by {} until {}; wait, or pass --force-unlock",
                info.describe(),
                info.expires
            ));
        }
        Err(e) => {
            // The write may have taken effect though its answer was lost: take back what may be
            // ours, and when even that fails, say the lock may be left (a rerun's
            // --force-unlock, or its expiry, clears it).
            return Err(match deployer.unlock(scope, name, holder).await {
                Ok(()) => e.to_string(),
                Err(u) => {
                    format!("{e}; the lock may be left behind: releasing it failed too ({u})")
                }
            });
        }
    };
    let note = match (&took_over, &forced) {
        (Some(old), _) => Some(format!("took over an expired lock of {}", old.describe())),
        (None, Some(old)) => Some(format!("forced the lock of {}", old.describe())),
        (None, None) => None,
    };
    let forced_who = forced.as_ref().map(|f| f.who.clone());
    Ok(Acquired {
        guard: Guard {
            deployer: deployer.clone(),
            scope: scope.to_owned(),
            name: name.to_owned(),
            holder: holder.clone(),
            released: false,
            mine,
        },
        replaced: took_over.or(forced).zip(note),
        forced: forced_who,
    })
}

impl Guard {
    /// Releases the lock; the error says why it could not be (the caller notes it on its row).
    pub async fn release(mut self) -> Result<(), TenantError> {
        self.released = true;
        self.deployer
            .unlock(&self.scope, &self.name, &self.holder)
            .await
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (d, scope, name, holder) = (
                self.deployer.clone(),
                self.scope.clone(),
                self.name.clone(),
                self.holder.clone(),
            );
            rt.spawn(async move {
                let _ = d.unlock(&scope, &name, &holder).await;
            });
        }
    }
}
