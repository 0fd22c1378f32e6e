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

/// What taking a lock gave.
pub enum Taken {
    /// Ours; with the holder we replaced (expired, or forced) and what to say about it.
    Ours {
        guard: Guard,
        replaced: Option<(LockInfo, String)>,
        forced: Option<String>,
    },
    /// Someone else holds a live lock.
    Held(LockInfo),
}

/// Takes the lock; an error may mean the lock was created although the answer was lost, so it
/// is released (only if ours) before the error is returned.
pub async fn take(
    deployer: &Arc<TenantDeployer>,
    scope: &str,
    name: &str,
    holder: &LockHolder,
    ttl: Duration,
    force: bool,
) -> Result<Taken, TenantError> {
    match deployer.lock(scope, name, holder, ttl, force).await {
        Ok(LockOutcome::Acquired {
            took_over,
            forced,
            mine,
        }) => {
            let note = match (&took_over, &forced) {
                (Some(old), _) => Some(format!("took over an expired lock of {}", old.describe())),
                (None, Some(old)) => Some(format!("forced the lock of {}", old.describe())),
                (None, None) => None,
            };
            let forced_who = forced.as_ref().map(|f| f.who.clone());
            let replaced = took_over.or(forced).zip(note);
            Ok(Taken::Ours {
                guard: Guard {
                    deployer: deployer.clone(),
                    scope: scope.to_owned(),
                    name: name.to_owned(),
                    holder: holder.clone(),
                    released: false,
                    mine,
                },
                replaced,
                forced: forced_who,
            })
        }
        Ok(LockOutcome::Held(info)) => Ok(Taken::Held(info)),
        Err(e) => {
            let _ = deployer.unlock(scope, name, holder).await;
            Err(e)
        }
    }
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
