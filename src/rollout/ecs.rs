//! The change → wait → verify step of one ECS service, shared by `deploy` (to a revision it
//! registered) and `rollback` (to an earlier one): journal the rollout in the lock, point the
//! service at the target, tag it, wait for the rollout, and on failure or timeout return to
//! what ran before and wait for that too. With a health gate, an alarm that moves into ALARM
//! while the rollout runs (or as it settles) is a failure like any other. A rollout ECS's
//! circuit breaker rolled back itself is waited for, not rolled back again. The service's stamp
//! tags always end up describing the revision that runs.

use crate::aws::deploy::{
    LockInfo, Rollout, RolloutOutcome, RolloutStatus, TenantDeployer, WaitLimits,
};
use crate::aws::{LiveEcsService, LiveTaskDefinition};
use crate::fleet::{Outcome, Row};
use crate::output::Printer;

use super::health::Gate;

/// One service's roll: where it is and how to wait.
pub struct Roll<'a> {
    pub deployer: &'a TenantDeployer,
    pub cluster: &'a str,
    /// The ECS service name.
    pub service: &'a str,
    /// `tenant/service`, for progress lines.
    pub who: String,
    pub limits: WaitLimits,
    pub printer: &'a Printer,
}

/// The revision to run and its task count.
pub struct Target {
    pub arn: String,
    pub revision: i32,
    /// The count UpdateService sets; `None` leaves it to whoever owns it (an autoscaler, or
    /// the count that runs when rolling back).
    pub desired_count: Option<u32>,
}

/// Adds `note` to the row's detail (after what is there).
pub fn note(out: &mut Row, note: String) {
    out.detail = Some(match out.detail.take() {
        Some(d) if !d.is_empty() => format!("{d}; {note}"),
        _ => note,
    });
}

impl Roll<'_> {
    /// Journal, update, tag, wait; on failure back to `back`. `done` is the outcome when the
    /// target's rollout completes (`Deployed`, or `RolledBack` for a requested rollback).
    #[allow(clippy::too_many_arguments)]
    pub async fn run(
        &self,
        mine: LockInfo,
        to: &Target,
        back: &LiveTaskDefinition,
        live: &LiveEcsService,
        tags: &[(String, String)],
        done: Outcome,
        out: &mut Row,
    ) {
        self.run_gated(mine, to, back, live, tags, done, None, out)
            .await;
    }

    /// [`Self::run`] with the service's health gate watched while the rollout runs.
    #[allow(clippy::too_many_arguments)]
    pub async fn run_gated(
        &self,
        mut mine: LockInfo,
        to: &Target,
        back: &LiveTaskDefinition,
        live: &LiveEcsService,
        tags: &[(String, String)],
        done: Outcome,
        gate: Option<&Gate<'_>>,
        out: &mut Row,
    ) {
        // The run journal: if this run dies from here on, whoever finds the lock can tell what
        // was rolling out and what to return to. Bookkeeping: a failure is said, not fatal.
        mine.rollout = Some(Rollout {
            from_revision: back.revision,
            from_arn: back.arn.clone(),
            to_revision: to.revision,
            to_arn: to.arn.clone(),
            started: jiff::Timestamp::now(),
        });
        if let Err(e) = self
            .deployer
            .journal(self.cluster, self.service, &mine)
            .await
        {
            self.printer.error(format_args!(
                "{}: the lock's journal could not be written: {e}",
                self.who
            ));
        }
        if let Err(e) = self
            .deployer
            .update_service(self.cluster, self.service, &to.arn, to.desired_count)
            .await
        {
            note(out, e.to_string());
            return;
        }
        // Tags are the audit trail, but a service that deployed must not be reported failed
        // because tagging it did not work: say so on stderr instead.
        if let Err(e) = self.tag(live, tags).await {
            self.printer.error(format_args!(
                "{}: the service could not be tagged: {e}",
                self.who
            ));
        }
        let reason = match self.wait_gated(&to.arn, gate).await {
            Ok(RolloutOutcome::Completed) => {
                out.result = done;
                out.revision = Some(to.revision);
                return;
            }
            Ok(RolloutOutcome::EcsRolledBack { reason, to: arn }) => {
                self.rolled_back_by_ecs(to.revision, &reason, &arn, back, live, out)
                    .await;
                return;
            }
            Ok(RolloutOutcome::Failed { reason }) => reason,
            Ok(RolloutOutcome::TimedOut) => {
                format!("rollout did not complete within {:?}", self.limits.timeout)
            }
            Err(e) => e,
        };
        self.back(to.revision, &reason, back, live, out).await;
    }

    /// The wait, with the gate's alarms polled beside it and looked at once more when the
    /// rollout completes; `Err` says why the rollout is not good (an alarm, an unreadable one,
    /// or the wait's own error).
    async fn wait_gated(
        &self,
        arn: &str,
        gate: Option<&Gate<'_>>,
    ) -> Result<RolloutOutcome, String> {
        let Some(g) = gate else {
            return self.wait(arn).await.map_err(|e| e.to_string());
        };
        let waited = tokio::select! {
            w = self.wait(arn) => w.map_err(|e| e.to_string())?,
            why = g.until_tripped(self.limits.poll) => return Err(why),
        };
        if waited == RolloutOutcome::Completed
            && let Some(why) = g.tripped().await
        {
            return Err(why);
        }
        Ok(waited)
    }

    /// ECS's circuit breaker failed revision `revision` and rolled the service back to `arn`
    /// itself: wait for that rollout (a second one of stamp's would race it), then make the tags
    /// describe what runs. A failed deploy either way.
    async fn rolled_back_by_ecs(
        &self,
        revision: i32,
        reason: &str,
        arn: &str,
        back: &LiveTaskDefinition,
        live: &LiveEcsService,
        out: &mut Row,
    ) {
        let to_revision = arn
            .rsplit(':')
            .next()
            .and_then(|r| r.parse::<i32>().ok())
            .unwrap_or(back.revision);
        let said = format!(
            "ECS deployment circuit breaker rolled back to revision {to_revision} (revision {revision}: {reason})"
        );
        self.printer
            .error(format_args!("{}: {said}; waiting for it", self.who));
        match self.wait(arn).await {
            Ok(RolloutOutcome::Completed) => {
                out.result = Outcome::RolledBack;
                out.revision = Some(to_revision);
                note(out, said);
                let td = if arn == back.arn {
                    Ok(back.clone())
                } else {
                    self.deployer.reader().describe_task_definition(arn).await
                };
                if let (Ok(td), false) = (td, live.arn.is_empty()) {
                    let _ = retag(self.deployer, &live.arn, &td, Vec::new()).await;
                }
            }
            other => {
                let why = match other {
                    Ok(RolloutOutcome::TimedOut) => "it did not complete in time".to_owned(),
                    Ok(
                        RolloutOutcome::Failed { reason }
                        | RolloutOutcome::EcsRolledBack { reason, .. },
                    ) => reason,
                    Err(e) => e.to_string(),
                    Ok(RolloutOutcome::Completed) => String::new(),
                };
                out.result = Outcome::NeedsHuman;
                out.revision = Some(revision);
                note(
                    out,
                    format!(
                        "{said}, but that rollout did not complete: {why}; a person must check the service"
                    ),
                );
            }
        }
    }

    async fn tag(
        &self,
        live: &LiveEcsService,
        tags: &[(String, String)],
    ) -> Result<(), crate::aws::TenantError> {
        if live.arn.is_empty() {
            self.deployer
                .tag_service(self.cluster, self.service, tags)
                .await
        } else {
            self.deployer.tag_service_arn(&live.arn, tags).await
        }
    }

    async fn wait(&self, arn: &str) -> Result<RolloutOutcome, crate::aws::TenantError> {
        let mut log = |st: &RolloutStatus| {
            self.printer.status(
                &self.who,
                format_args!(
                    "{} {}/{} running, {} pending{}",
                    st.rollout_state,
                    st.running,
                    st.desired,
                    st.pending,
                    if st.failed_tasks > 0 {
                        format!(", {} failed", st.failed_tasks)
                    } else {
                        String::new()
                    }
                ),
            );
        };
        self.deployer
            .wait_rollout(self.cluster, self.service, arn, self.limits, &mut log)
            .await
    }

    /// Back to what ran before, and wait for that too (also after a bake whose alarm fired).
    pub async fn back(
        &self,
        revision: i32,
        reason: &str,
        back: &LiveTaskDefinition,
        live: &LiveEcsService,
        out: &mut Row,
    ) {
        self.printer.error(format_args!(
            "{}: {reason}; rolling back to revision {}",
            self.who, back.revision
        ));
        let result = async {
            self.deployer
                .update_service(
                    self.cluster,
                    self.service,
                    &back.arn,
                    // The count it had, unless an autoscaler owns it.
                    live.scaling.is_none().then_some(live.desired_count),
                )
                .await?;
            self.wait(&back.arn).await
        }
        .await;
        if matches!(result, Ok(RolloutOutcome::Completed)) {
            out.result = Outcome::RolledBack;
            out.revision = Some(back.revision);
            note(
                out,
                format!(
                    "revision {revision} failed: {reason}; revision {} runs again",
                    back.revision
                ),
            );
            if !live.arn.is_empty() {
                let _ = retag(self.deployer, &live.arn, back, Vec::new()).await;
            }
            return;
        }
        let why = match result {
            Ok(
                RolloutOutcome::Failed { reason } | RolloutOutcome::EcsRolledBack { reason, .. },
            ) => reason,
            Ok(RolloutOutcome::TimedOut) => "the rollback timed out too".to_owned(),
            Err(e) => e.to_string(),
            Ok(RolloutOutcome::Completed) => String::new(),
        };
        out.result = Outcome::NeedsHuman;
        out.revision = Some(revision);
        // Both revisions, so whoever looks knows what to compare and what to return to.
        note(
            out,
            format!(
                "revision {revision} failed: {reason}; the rollback to revision {} failed too: {why}; a person must check the service: it was running revision {}, revision {revision} is registered",
                back.revision, back.revision
            ),
        );
        self.printer.error(format_args!(
            "{}: NEEDS A HUMAN: neither revision {revision} nor the rollback to revision {} completed",
            self.who, back.revision
        ));
    }
}

/// Makes the service's stamp tags those of `td` (the revision that runs again) plus `extra`,
/// removing the stamp tags `td` does not carry: `status` then shows the release, commit and
/// deployer of what runs, not of the deploy that was undone.
pub async fn retag(
    deployer: &TenantDeployer,
    service_arn: &str,
    td: &LiveTaskDefinition,
    extra: Vec<(String, String)>,
) -> Result<(), crate::aws::TenantError> {
    let mut tags: Vec<(String, String)> = td
        .tags
        .iter()
        .filter(|(k, _)| k.starts_with(crate::plan::BOOKKEEPING_TAG_PREFIX))
        .filter(|(k, _)| !extra.iter().any(|(e, _)| e == *k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    tags.extend(extra);
    let stale: Vec<String> = [
        crate::audit::COMMIT,
        crate::audit::DIGEST,
        crate::audit::RELEASE,
        crate::audit::DEPLOYER,
        crate::audit::OVERRIDE,
        crate::audit::FORCED_UNLOCK,
    ]
    .into_iter()
    .filter(|k| !tags.iter().any(|(t, _)| t == k))
    .map(str::to_owned)
    .collect();
    deployer.untag_service_arn(service_arn, &stale).await?;
    deployer.tag_service_arn(service_arn, &tags).await
}

/// What deploy owns of a tenant's existing services: the revision each runs and its task
/// count, by ECS service name. Read before a stack change so that [`restore`] can put back what
/// the stack undid (a stack that owns the services would otherwise return them to its
/// bootstrap revision and task count on any update that touches them).
pub async fn owned(
    deployer: &TenantDeployer,
    t: &crate::dsl::Tenant,
) -> Result<std::collections::BTreeMap<String, (String, u32)>, crate::aws::TenantError> {
    let names: Vec<String> = t.services.iter().map(|s| s.ecs_service.clone()).collect();
    let live = deployer
        .reader()
        .describe_services(&t.cluster, &names)
        .await?;
    Ok(live
        .into_iter()
        .filter_map(|(name, svc)| svc.map(|s| (name, (s.task_definition_arn, s.desired_count))))
        .collect())
}

/// After a stack change: every service whose revision or task count moved is put back as
/// deploy left it, and waited for. Returns what was said (empty when nothing moved); `Err`
/// when a service could not be put back.
pub async fn restore(
    deployer: &TenantDeployer,
    t: &crate::dsl::Tenant,
    before: &std::collections::BTreeMap<String, (String, u32)>,
    limits: WaitLimits,
) -> Result<Vec<String>, String> {
    let after = owned(deployer, t).await.map_err(|e| e.to_string())?;
    let mut said = Vec::new();
    for (name, (arn, count)) in before {
        let Some((now_arn, now_count)) = after.get(name) else {
            continue;
        };
        if now_arn == arn && now_count == count {
            continue;
        }
        let what = format!(
            "the stack changed service {name} ({} → {}, {count} → {now_count} tasks)",
            short(arn),
            short(now_arn)
        );
        deployer
            .update_service(&t.cluster, name, arn, Some(*count))
            .await
            .map_err(|e| format!("{what} and it could not be put back: {e}"))?;
        let mut quiet = |_: &RolloutStatus| {};
        match deployer
            .wait_rollout(&t.cluster, name, arn, limits, &mut quiet)
            .await
        {
            Ok(RolloutOutcome::Completed) => said.push(format!("{what}; put back what deploy set")),
            Ok(
                RolloutOutcome::Failed { reason } | RolloutOutcome::EcsRolledBack { reason, .. },
            ) => {
                return Err(format!("{what}; putting it back failed: {reason}"));
            }
            Ok(RolloutOutcome::TimedOut) => {
                return Err(format!("{what}; putting it back did not complete in time"));
            }
            Err(e) => return Err(format!("{what}; putting it back failed: {e}")),
        }
    }
    Ok(said)
}

/// `family:revision` of a task definition ARN.
fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}
