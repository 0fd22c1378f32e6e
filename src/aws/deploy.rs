//! The deploying client set: the only type with write methods (RegisterTaskDefinition,
//! UpdateService, TagResource, PutParameter/DeleteParameter for locks). Read-only commands
//! never build one.
//!
//! A [`TenantDeployer`] is built from the tenant's `deploy_role`, through the same account guard
//! as the read-only set ([`TenantReader::connect_as`]); its reads go through the
//! [`TenantReader`] it holds, so the write methods below are the only additions.
//!
//! # Writes under retries
//!
//! A call can fail after the server acted on it: the connection drops or the response is late
//! (past the attempt timeout) once the request was processed. The SDK then sends it again. Each
//! write is made safe against that on its own terms:
//!
//! * **RegisterTaskDefinition** is not idempotent (every call adds a revision), so it is sent
//!   with SDK retries off and retried here. Before the first attempt, and after any failure
//!   that may have been applied ([`WriteFailure::Unknown`]), the family's newest revision is
//!   read (one DescribeTaskDefinition); if it has the desired content (compared normalized, as
//!   the plan does) and the same `stamp:digest` tag, it is used instead of registering again.
//!   The service lock is held throughout, so no other stamp run registers into the family at
//!   the same time. The check before the first attempt also covers a run that was killed (or
//!   failed) between registering and UpdateService: the next run uses that revision.
//!
//!   Before the first attempt the caller may hand in the newest revision it read itself
//!   ([`Newest::Known`]: deploy's first look reads it, and the service runs it after every
//!   finished deploy) when nothing moved since: the service still runs what the first look saw
//!   and its lock was free, not taken from a holder that died. What that read can miss is a
//!   revision another run registered and failed to roll out in the moment between the first
//!   look and the lock: the same content is then registered once more, which changes nothing
//!   that runs. A known revision is used only when it has the desired content and digest, so a
//!   stale one never puts anything else in service.
//! * **UpdateService** sets the task definition and desired count: sending the same request
//!   twice starts no second deployment, so SDK retries stay on.
//! * **TagResource** and **DeleteParameter** are idempotent (a delete retried after it was
//!   applied gets ParameterNotFound, which is what was wanted).
//! * **PutParameter** of a lock uses `Overwrite=false`; retried after it was applied, it gets
//!   ParameterAlreadyExists. The lock's value names the run (`run_id`), so a lock holding our
//!   own run id is recognised as ours, not reported as held by someone else.
//!
//! # The run journal
//!
//! Once the new revision is registered and before UpdateService, the lock's value is rewritten
//! with what the holder is rolling out ([`Rollout`]: from which revision to which). A run that
//! finds the lock of a holder that died (killed CI job) can then report what that run had
//! started, roll back to what ran before it, and resume the rollout it left.

use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState, Tag};
use aws_sdk_ssm::types::ParameterType;
use aws_smithy_types::retry::RetryConfig;
use serde::{Deserialize, Serialize};

use super::calls::CallCounter;
use super::convert;
use super::errors::{WriteFailure, describe, write_failure};
use super::read::{LiveTaskDefinition, TenantError, TenantReader};
use super::session::Session;
use crate::dsl::Tenant;
use crate::render::TaskDefinition;

/// Where a service's lock lives, in the tenant's own account.
pub const LOCK_PREFIX: &str = "/stamp/locks";

/// Polls faster than this would only hammer DescribeServices (and its throttling budget).
const MIN_POLL: Duration = Duration::from_millis(10);

/// A lock that vanishes or reappears between our calls (another holder unlocking or taking
/// over at the same moment) is retried this many times before giving up.
const LOCK_ATTEMPTS: usize = 3;

/// The first pause of stamp's own retries (RegisterTaskDefinition); it doubles per attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

pub struct TenantDeployer {
    tenant: String,
    pub(super) role: String,
    reader: TenantReader,
    // Shared with `aws::teardown`, the removals of `stamp down`.
    pub(super) ssm: aws_sdk_ssm::Client,
    pub(super) ecs: aws_sdk_ecs::Client,
    calls: CallCounter,
    /// Attempts for the writes retried here rather than by the SDK.
    max_attempts: u32,
}

/// Who asks for a lock: the base caller (not the assumed role, which is the same for
/// everyone), the run, and the digest it deploys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LockHolder {
    /// The base caller's ARN.
    pub who: String,
    /// Unique per stamp run: tells two runs of the same person apart.
    pub run_id: String,
    pub digest: String,
}

/// The value of a lock parameter (JSON). Never holds a secret: an identity, ids, a digest and
/// times.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LockInfo {
    pub who: String,
    pub run_id: String,
    pub digest: String,
    pub since: jiff::Timestamp,
    pub expires: jiff::Timestamp,
    /// Who held the lock when `--force-unlock` took it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forced_from: Option<String>,
    /// The journal: what the holder has started rolling out, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
}

/// A rollout the lock's holder started: written before UpdateService, so that whoever finds
/// the lock after its holder died knows what it left behind.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rollout {
    /// What the service ran before: what a rollback returns to.
    pub from_revision: i32,
    pub from_arn: String,
    /// What the holder deploys.
    pub to_revision: i32,
    pub to_arn: String,
    pub started: jiff::Timestamp,
}

impl LockInfo {
    /// `arn:…:user/alice (run 123-456, since …)`, and what it was rolling out if it had started.
    pub fn describe(&self) -> String {
        let mut s = format!("{} (run {}, since {})", self.who, self.run_id, self.since);
        if let Some(r) = &self.rollout {
            s.push_str(&format!(
                "; it had started rolling out revision {} over {} at {}",
                r.to_revision, r.from_revision, r.started
            ));
        }
        s
    }
}

// One per lock taken, moved once and never stored in bulk: boxing would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockOutcome {
    Acquired {
        /// An expired lock we replaced.
        took_over: Option<LockInfo>,
        /// A live lock removed by force.
        forced: Option<LockInfo>,
        /// The lock as we hold it (its value in SSM).
        mine: LockInfo,
    },
    /// Someone else holds a live lock.
    Held(LockInfo),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub arn: String,
    pub revision: i32,
    /// An existing revision with the desired content and digest was used: an interrupted run,
    /// or an attempt whose response was lost, had registered it already.
    pub reused: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitLimits {
    pub timeout: Duration,
    /// Time between DescribeServices calls (at least 10 ms).
    pub poll: Duration,
}

/// The rollout of one task definition, as one poll saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RolloutStatus {
    /// IN_PROGRESS, COMPLETED or FAILED (empty if ECS reported none).
    pub rollout_state: String,
    pub running: u32,
    pub desired: u32,
    pub pending: u32,
    pub failed_tasks: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutOutcome {
    Completed,
    Failed {
        reason: String,
    },
    /// ECS's deployment circuit breaker failed the rollout and, with its rollback option on,
    /// started a deployment of `to` (the task definition ARN of the last completed deployment)
    /// itself: nobody else may roll the service back now.
    EcsRolledBack {
        reason: String,
        to: String,
    },
    TimedOut,
}

/// The SSM parameter holding a service's lock.
pub fn lock_name(cluster: &str, service: &str) -> String {
    format!("{LOCK_PREFIX}/{cluster}/{service}")
}

/// What a lock parameter holds right now.
enum Current {
    Missing,
    Lock(LockInfo),
}

impl TenantDeployer {
    /// Assumes the tenant's `deploy_role` and checks the account before any other call.
    pub async fn connect(session: &Session, tenant: &Tenant) -> Result<Self, TenantError> {
        Ok(Self::connect_with_config(session, tenant).await?.0)
    }

    /// The deployer and its configuration, so `aws::stacks` can add CloudFormation write
    /// clients on the same assumed session.
    pub(super) async fn connect_with_config(
        session: &Session,
        tenant: &Tenant,
    ) -> Result<(Self, aws_config::SdkConfig), TenantError> {
        let (reader, cfg) = TenantReader::connect_as(session, tenant, &tenant.deploy_role).await?;
        let calls = session.calls().clone();
        let me = Self {
            calls: calls.clone(),
            max_attempts: session.retries.max_attempts,
            tenant: tenant.name.clone(),
            role: tenant.deploy_role.clone(),
            reader,
            // Same configuration, hence the same cached credentials: one AssumeRole per tenant.
            ssm: aws_sdk_ssm::Client::from_conf(
                aws_sdk_ssm::config::Builder::from(&cfg)
                    .interceptor(calls.clone())
                    .build(),
            ),
            ecs: aws_sdk_ecs::Client::from_conf(
                aws_sdk_ecs::config::Builder::from(&cfg)
                    .interceptor(calls)
                    .build(),
            ),
        };
        Ok((me, cfg))
    }

    /// Reads with the deploy role's session (lookups, describe_services,
    /// describe_task_definition).
    pub fn reader(&self) -> &TenantReader {
        &self.reader
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    pub fn role(&self) -> &str {
        &self.role
    }

    pub(super) fn fail(&self, detail: String) -> TenantError {
        TenantError::Call {
            tenant: self.tenant.clone(),
            detail,
        }
    }

    // ---- locks ------------------------------------------------------------------------------

    /// Takes the lock of `cluster`/`service` for `ttl`.
    ///
    /// The lock is created with `Overwrite=false`, which SSM performs atomically: of two
    /// concurrent runs exactly one creates it. A held lock is replaced only when it has expired
    /// (`took_over`) or with `force` (`forced`, and the new value records `forced_from`).
    /// Replacing is delete-then-create, so if another run creates it in between, that run won
    /// and we get `Held` with its info.
    ///
    /// SSM has no conditional delete: two runs that both read the same expired lock can both
    /// delete "it", the second deleting the first one's fresh lock. Expiry is for holders that
    /// crashed; a TTL far above a deploy's duration keeps that window theoretical.
    pub async fn lock(
        &self,
        cluster: &str,
        service: &str,
        me: &LockHolder,
        ttl: Duration,
        force: bool,
    ) -> Result<LockOutcome, TenantError> {
        let name = lock_name(cluster, service);
        let mut took_over = None;
        let mut forced = None;
        for _ in 0..LOCK_ATTEMPTS {
            let forced_from = forced.as_ref().map(|f: &LockInfo| f.who.clone());
            if let Some(mine) = self.create_lock(&name, me, ttl, forced_from).await? {
                return Ok(LockOutcome::Acquired {
                    took_over,
                    forced,
                    mine,
                });
            }
            let held = match self.read_lock(&name).await? {
                // Released between our create and our read: try to create it again.
                Current::Missing => continue,
                // Our own create, applied although its response was lost (the SDK retried it
                // and got ParameterAlreadyExists): the run id is unique to this run.
                Current::Lock(info) if info.run_id == me.run_id => {
                    return Ok(LockOutcome::Acquired {
                        took_over,
                        forced,
                        mine: info,
                    });
                }
                Current::Lock(info) => info,
            };
            // A lock we already replaced once and find again is someone else's new one.
            if took_over.is_some() || forced.is_some() {
                return Ok(LockOutcome::Held(held));
            }
            // The clock is read here, at the edge, and nowhere in the deploy logic.
            let now = jiff::Timestamp::now();
            if held.expires < now {
                self.delete_lock(&name).await?;
                took_over = Some(held);
            } else if force {
                self.delete_lock(&name).await?;
                forced = Some(held);
            } else {
                return Ok(LockOutcome::Held(held));
            }
        }
        Err(self.fail(format!(
            "the lock `{name}` kept changing while stamp tried to take it ({LOCK_ATTEMPTS} attempts); another run is taking and releasing it, try again"
        )))
    }

    /// Releases our lock: deleted only if its `run_id` is ours, so a holder whose expired lock
    /// was taken over cannot delete the new holder's lock. A missing lock is fine.
    pub async fn unlock(
        &self,
        cluster: &str,
        service: &str,
        me: &LockHolder,
    ) -> Result<(), TenantError> {
        let name = lock_name(cluster, service);
        match self.read_lock(&name).await? {
            Current::Lock(info) if info.run_id == me.run_id => self.delete_lock(&name).await,
            Current::Lock(_) | Current::Missing => Ok(()),
        }
    }

    /// Records in our lock what we are about to roll out (the run journal, see the module
    /// docs). The lock must be ours: `mine` as [`Self::lock`] returned it. Overwriting cannot
    /// check that nobody took the lock over in between, but take-over needs the lock to have
    /// expired, and its time to live is far above a deploy's.
    pub async fn journal(
        &self,
        cluster: &str,
        service: &str,
        mine: &LockInfo,
    ) -> Result<(), TenantError> {
        let name = lock_name(cluster, service);
        let value = serde_json::to_string(mine)
            .map_err(|e| self.fail(format!("lock `{name}`: cannot encode the lock: {e}")))?;
        self.ssm
            .put_parameter()
            .name(&name)
            .value(value)
            .r#type(ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| self.fail(describe("ssm:PutParameter", &self.role, &e)))?;
        Ok(())
    }

    /// Every stamp lock of `cluster`, by ECS service name: one GetParametersByPath (a page per
    /// ten locks). Deploy reads them once per tenant so that a lock a killed run left on a
    /// service that has since converged is found and reported, not left to block the next
    /// deploy silently. Values that are not stamp locks are left out (taking the lock reports
    /// them).
    pub async fn locks(
        &self,
        cluster: &str,
    ) -> Result<std::collections::BTreeMap<String, LockInfo>, TenantError> {
        let path = format!("{LOCK_PREFIX}/{cluster}");
        let mut out = std::collections::BTreeMap::new();
        let mut pages = self
            .ssm
            .get_parameters_by_path()
            .path(&path)
            .recursive(false)
            .with_decryption(false)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| self.fail(describe("ssm:GetParametersByPath", &self.role, &e)))?;
            for p in page.parameters.unwrap_or_default() {
                let (Some(name), Some(value)) = (p.name, p.value) else {
                    continue;
                };
                let Some(service) = name.strip_prefix(&format!("{path}/")) else {
                    continue;
                };
                if let Ok(info) = serde_json::from_str::<LockInfo>(&value) {
                    out.insert(service.to_owned(), info);
                }
            }
        }
        Ok(out)
    }

    /// Deletes the lock of `cluster`/`service` if it still belongs to run `run_id` (a lock
    /// another run left, found by [`Self::locks`]); `true` if it was deleted.
    pub async fn remove_lock_of(
        &self,
        cluster: &str,
        service: &str,
        run_id: &str,
    ) -> Result<bool, TenantError> {
        let name = lock_name(cluster, service);
        match self.read_lock(&name).await? {
            Current::Lock(info) if info.run_id == run_id => {
                self.delete_lock(&name).await?;
                Ok(true)
            }
            Current::Lock(_) | Current::Missing => Ok(false),
        }
    }

    /// PutParameter with `Overwrite=false`: the lock if we created it, `None` if it exists.
    async fn create_lock(
        &self,
        name: &str,
        me: &LockHolder,
        ttl: Duration,
        forced_from: Option<String>,
    ) -> Result<Option<LockInfo>, TenantError> {
        let since = jiff::Timestamp::now();
        let expires = since.checked_add(ttl).map_err(|e| {
            self.fail(format!(
                "lock `{name}`: a lock time of {ttl:?} is out of range: {e}"
            ))
        })?;
        let info = LockInfo {
            who: me.who.clone(),
            run_id: me.run_id.clone(),
            digest: me.digest.clone(),
            since,
            expires,
            forced_from,
            rollout: None,
        };
        let value = serde_json::to_string(&info)
            .map_err(|e| self.fail(format!("lock `{name}`: cannot encode the lock: {e}")))?;
        let put = self
            .ssm
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(ParameterType::String)
            .overwrite(false)
            .description("stamp deploy lock: one deploy at a time for this service")
            .send()
            .await;
        match put {
            Ok(_) => Ok(Some(info)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_parameter_already_exists()) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.fail(describe("ssm:PutParameter", &self.role, &e))),
        }
    }

    async fn read_lock(&self, name: &str) -> Result<Current, TenantError> {
        let got = self
            .ssm
            .get_parameter()
            .name(name)
            .with_decryption(false)
            .send()
            .await;
        let out = match got {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_parameter_not_found()) =>
            {
                return Ok(Current::Missing);
            }
            Err(e) => return Err(self.fail(describe("ssm:GetParameter", &self.role, &e))),
        };
        let value = out.parameter.and_then(|p| p.value).unwrap_or_default();
        serde_json::from_str(&value).map(Current::Lock).map_err(|e| {
            // Not ours to interpret (hand-written or from another tool): say how to clear it
            // rather than guess who holds it.
            self.fail(format!(
                "the lock parameter `{name}` does not hold a stamp lock ({e}); hint: if no deploy is running, delete it with `aws ssm delete-parameter --name {name}`"
            ))
        })
    }

    async fn delete_lock(&self, name: &str) -> Result<(), TenantError> {
        match self.ssm.delete_parameter().name(name).send().await {
            Ok(_) => Ok(()),
            // Already gone (its holder released it): what we wanted.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_parameter_not_found()) =>
            {
                Ok(())
            }
            Err(e) => Err(self.fail(describe("ssm:DeleteParameter", &self.role, &e))),
        }
    }

    // ---- ECS writes -------------------------------------------------------------------------

    /// Registers a task definition with stamp's bookkeeping `tags` appended to its own, exactly
    /// once: the family's newest revision is used instead when it already has this content and
    /// the `stamp:digest` of `tags` (see the module docs). The caller holds the service's lock.
    pub async fn register(
        &self,
        td: &TaskDefinition,
        tags: &[(String, String)],
        newest: Newest<'_>,
    ) -> Result<Registered, TenantError> {
        const OP: &str = "ecs:RegisterTaskDefinition";
        let digest = tags
            .iter()
            .find(|(k, _)| k == crate::audit::DIGEST)
            .map(|(_, v)| v.as_str());
        let found = match newest {
            Newest::Ask => self.newest_if_same(td, digest).await?,
            Newest::Known(newest) => newest.and_then(|n| same_registration(n, td, digest)),
        };
        if let Some(found) = found {
            return Ok(found);
        }
        let attempts = self.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let req = convert::fill_register(self.ecs.register_task_definition(), td, tags)
                .map_err(|e| {
                    // The error's message starts with its JSON path (`containerDefinitions[0]…`).
                    self.fail(format!(
                        "{OP}: task definition `{}` cannot be sent: {e}",
                        td.family
                    ))
                })?;
            let sent = req
                .customize()
                .config_override(
                    aws_sdk_ecs::config::Builder::default().retry_config(RetryConfig::disabled()),
                )
                .send()
                .await;
            let err = match sent {
                Ok(out) => return self.registered(out, td),
                Err(e) => e,
            };
            let why = describe(OP, &self.role, &err);
            match write_failure(&err) {
                WriteFailure::Final => return Err(self.fail(why)),
                WriteFailure::Unknown => {
                    if let Some(found) = self.newest_if_same(td, digest).await? {
                        return Ok(found);
                    }
                }
                WriteFailure::NotApplied => {}
            }
            if attempt >= attempts {
                return Err(self.fail(format!("{why} (gave up after {attempts} attempts)")));
            }
            self.calls.record_retry(OP);
            tokio::time::sleep(backoff(attempt)).await;
            attempt += 1;
        }
    }

    /// The family's newest revision, if it is `td` (normalized, as the plan compares) with
    /// the same `stamp:digest` tag.
    async fn newest_if_same(
        &self,
        td: &TaskDefinition,
        digest: Option<&str>,
    ) -> Result<Option<Registered>, TenantError> {
        let newest = self.reader.latest_revision(&td.family).await?;
        Ok(newest.and_then(|n| same_registration(&n, td, digest)))
    }

    fn registered(
        &self,
        out: aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionOutput,
        td: &TaskDefinition,
    ) -> Result<Registered, TenantError> {
        let registered = out.task_definition.ok_or_else(|| {
            self.fail(format!(
                "ecs:RegisterTaskDefinition returned no task definition for `{}`",
                td.family
            ))
        })?;
        let arn = registered.task_definition_arn.ok_or_else(|| {
            self.fail(format!(
                "ecs:RegisterTaskDefinition returned no ARN for `{}`",
                td.family
            ))
        })?;
        Ok(Registered {
            arn,
            revision: registered.revision,
            reused: false,
        })
    }

    /// Points the service at `task_definition_arn`, with `desired_count` tasks when given (none:
    /// the count stays whatever it is, for a service whose count stamp does not own); ECS
    /// starts a new deployment (see [`Self::wait_rollout`]).
    pub async fn update_service(
        &self,
        cluster: &str,
        service: &str,
        task_definition_arn: &str,
        desired_count: Option<u32>,
    ) -> Result<(), TenantError> {
        let desired = desired_count
            .map(|n| {
                i32::try_from(n).map_err(|_| {
                    self.fail(format!(
                        "ecs:UpdateService: desired count {n} for `{service}` is too large"
                    ))
                })
            })
            .transpose()?;
        self.ecs
            .update_service()
            .cluster(cluster)
            .service(service)
            .task_definition(task_definition_arn)
            .set_desired_count(desired)
            .send()
            .await
            .map_err(|e| {
                let mut why = describe("ecs:UpdateService", &self.role, &e);
                // Said, because the summary must not call a service untouched that may be
                // rolling out: a re-run finds out and converges either way.
                if write_failure(&e) == WriteFailure::Unknown {
                    why.push_str(&format!(
                        "; the update may have reached ECS: `{service}` may be rolling out {task_definition_arn}"
                    ));
                }
                self.fail(why)
            })?;
        Ok(())
    }

    /// Adds (or overwrites) tags on the service: TagResource needs its ARN, which
    /// DescribeServices gives (the ARN format depends on when the service was created, so it is
    /// read, not built). No tags, no call: ECS rejects an empty tag list.
    pub async fn tag_service(
        &self,
        cluster: &str,
        service: &str,
        tags: &[(String, String)],
    ) -> Result<(), TenantError> {
        if tags.is_empty() {
            return Ok(());
        }
        let found = self.describe_one(cluster, service).await?;
        let arn = found.service_arn.ok_or_else(|| {
            self.fail(format!(
                "ecs:DescribeServices returned no ARN for `{cluster}/{service}`"
            ))
        })?;
        self.tag_service_arn(&arn, tags).await
    }

    /// TagResource on a service whose ARN is known already (from the DescribeServices a
    /// deploy starts with), saving the lookup `tag_service` makes.
    pub async fn tag_service_arn(
        &self,
        arn: &str,
        tags: &[(String, String)],
    ) -> Result<(), TenantError> {
        if tags.is_empty() {
            return Ok(());
        }
        let tags: Vec<Tag> = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        self.ecs
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| self.fail(describe("ecs:TagResource", &self.role, &e)))?;
        Ok(())
    }

    /// Removes tags from the service (idempotent): after a rollback, the stamp tags the
    /// revision that runs again does not carry, so they describe what runs, not the last deploy.
    pub async fn untag_service_arn(&self, arn: &str, keys: &[String]) -> Result<(), TenantError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.ecs
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| self.fail(describe("ecs:UntagResource", &self.role, &e)))?;
        Ok(())
    }

    /// Polls DescribeServices every `limits.poll` until the deployment of `task_definition_arn`
    /// completes (COMPLETED with every task running), fails (FAILED, with ECS's reason), or
    /// `limits.timeout` passes. `on_change` sees each status that differs from the previous
    /// poll's, so CI logs get one line per change, not one per poll.
    pub async fn wait_rollout(
        &self,
        cluster: &str,
        service: &str,
        task_definition_arn: &str,
        limits: WaitLimits,
        on_change: &mut (dyn FnMut(&RolloutStatus) + Send),
    ) -> Result<RolloutOutcome, TenantError> {
        let deadline = Instant::now() + limits.timeout;
        let poll = limits.poll.max(MIN_POLL);
        let mut last: Option<RolloutStatus> = None;
        loop {
            let svc = self.describe_one(cluster, service).await?;
            let deployments = svc.deployments.unwrap_or_default();
            let Some(ours) = deployment_of(&deployments, task_definition_arn) else {
                return Ok(gone(&deployments, svc.task_definition, task_definition_arn));
            };
            let status = status_of(ours);
            if last.as_ref() != Some(&status) {
                on_change(&status);
            }
            if let Some(outcome) = settled(ours, &status, &deployments, task_definition_arn) {
                return Ok(outcome);
            }
            last = Some(status);
            let now = Instant::now();
            if now >= deadline {
                return Ok(RolloutOutcome::TimedOut);
            }
            // The last sleep ends at the deadline, so the final poll happens right there.
            tokio::time::sleep(poll.min(deadline - now)).await;
        }
    }

    /// DescribeServices for one service; a missing or deleted service is an error.
    async fn describe_one(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<aws_sdk_ecs::types::Service, TenantError> {
        let out = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await
            .map_err(|e| self.fail(describe("ecs:DescribeServices", &self.role, &e)))?;
        let found = out
            .services
            .unwrap_or_default()
            .into_iter()
            .find(|s| s.status.as_deref() != Some("INACTIVE"));
        found.ok_or_else(|| {
            let why = out
                .failures
                .unwrap_or_default()
                .into_iter()
                .filter_map(|f| f.reason)
                .next()
                .unwrap_or_else(|| "INACTIVE".into());
            self.fail(format!(
                "ECS service `{service}` in cluster `{cluster}` cannot be used ({why})"
            ))
        })
    }
}

/// What [`TenantDeployer::register`] knows of the family's newest revision before it registers.
#[derive(Debug, Clone, Copy)]
pub enum Newest<'a> {
    /// Nothing it may rely on: read it (one DescribeTaskDefinition).
    Ask,
    /// Read by the caller with nothing moved since (see the module docs); `None`: the family
    /// had no active revision.
    Known(Option<&'a LiveTaskDefinition>),
}

/// `newest` as the revision to use, when it is `td` with the same digest.
fn same_registration(
    newest: &LiveTaskDefinition,
    td: &TaskDefinition,
    digest: Option<&str>,
) -> Option<Registered> {
    is_same_registration(newest, td, digest).then(|| Registered {
        arn: newest.arn.clone(),
        revision: newest.revision,
        reused: true,
    })
}

/// Whether `live` is what registering `td` with `digest` would have made.
fn is_same_registration(
    live: &LiveTaskDefinition,
    td: &TaskDefinition,
    digest: Option<&str>,
) -> bool {
    let same_digest =
        digest.is_none_or(|d| live.tags.get(crate::audit::DIGEST).map(String::as_str) == Some(d));
    same_digest && crate::plan::normalize(&live.task_definition) == crate::plan::normalize(td)
}

/// The pause before attempt `attempt + 1`: doubling from [`FIRST_BACKOFF`], capped, with up to
/// half of it added at random so that tenants throttled together do not retry together.
fn backoff(attempt: u32) -> Duration {
    let base = FIRST_BACKOFF
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    base + base.mul_f64(f64::from(nanos % 1000) / 2000.0)
}

/// The deployment of `wanted` among a service's deployments: the PRIMARY one when a rollback
/// re-deploys a revision an older (ACTIVE, still running) deployment also runs.
fn deployment_of<'d>(deployments: &'d [Deployment], wanted: &str) -> Option<&'d Deployment> {
    let matching = |d: &&Deployment| same_task_definition(d.task_definition.as_deref(), wanted);
    deployments
        .iter()
        .filter(matching)
        .find(|d| is_primary(d))
        .or_else(|| deployments.iter().find(matching))
}

/// Why the deployment of `wanted` is no longer listed: ECS rolled it back and drained it
/// between two polls, or another deploy replaced it.
fn gone(deployments: &[Deployment], service_td: Option<String>, wanted: &str) -> RolloutOutcome {
    let primary_deployment = deployments.iter().find(|d| is_primary(d));
    let primary = primary_deployment
        .and_then(|d| d.task_definition.clone())
        .or(service_td)
        .unwrap_or_default();
    match primary_deployment.filter(|d| by_circuit_breaker(d)) {
        Some(d) => RolloutOutcome::EcsRolledBack {
            reason: d.rollout_state_reason.clone().unwrap_or_default(),
            to: primary,
        },
        None => RolloutOutcome::Failed {
            reason: format!(
                "the service no longer deploys {wanted}: it now runs {primary} (another deploy replaced this one)"
            ),
        },
    }
}

/// How one poll ends the wait for `ours`, the deployment of `wanted`; `None` while it runs.
fn settled(
    ours: &Deployment,
    status: &RolloutStatus,
    deployments: &[Deployment],
    wanted: &str,
) -> Option<RolloutOutcome> {
    match ours.rollout_state {
        Some(DeploymentRolloutState::Completed) if status.running == status.desired => {
            Some(RolloutOutcome::Completed)
        }
        Some(DeploymentRolloutState::Failed) => {
            let reason = ours.rollout_state_reason.clone();
            // With the circuit breaker's rollback on, ECS makes the last completed
            // deployment's revision PRIMARY again in the same breath.
            let rolled_back_to = deployments
                .iter()
                .find(|d| is_primary(d))
                .filter(|d| !same_task_definition(d.task_definition.as_deref(), wanted))
                .and_then(|d| d.task_definition.clone());
            Some(match rolled_back_to {
                Some(to) => RolloutOutcome::EcsRolledBack {
                    reason: reason.unwrap_or_default(),
                    to,
                },
                None => RolloutOutcome::Failed {
                    reason: reason.unwrap_or_else(|| "ECS reported the rollout as FAILED".into()),
                },
            })
        }
        // Services on a deployment controller without rollout states: settled when our
        // deployment is the only one left and every task runs.
        None if deployments.len() == 1 && status.running == status.desired => {
            Some(RolloutOutcome::Completed)
        }
        _ => None,
    }
}

/// The deployment ECS is rolling the service towards (the others drain).
fn is_primary(d: &Deployment) -> bool {
    d.status.as_deref() == Some("PRIMARY")
}

/// A deployment ECS started to roll a failed one back (its reason names the circuit breaker).
fn by_circuit_breaker(d: &Deployment) -> bool {
    d.rollout_state_reason
        .as_deref()
        .is_some_and(|r| r.contains("circuit breaker"))
}

/// Whether a deployment's task definition is `wanted`: equal, or `wanted` given as
/// `family:revision` (ECS reports full ARNs).
fn same_task_definition(deployed: Option<&str>, wanted: &str) -> bool {
    deployed.is_some_and(|d| {
        d == wanted
            || d.rsplit_once('/')
                .is_some_and(|(_, family_rev)| family_rev == wanted)
    })
}

fn status_of(d: &Deployment) -> RolloutStatus {
    let count = |n: i32| u32::try_from(n).unwrap_or(0);
    RolloutStatus {
        rollout_state: d
            .rollout_state
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        running: count(d.running_count),
        desired: count(d.desired_count),
        pending: count(d.pending_count),
        failed_tasks: count(d.failed_tasks),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_names_live_under_the_stamp_prefix() {
        assert_eq!(lock_name("acme-shop", "api"), "/stamp/locks/acme-shop/api");
    }

    #[test]
    fn task_definitions_match_by_arn_or_family_revision() {
        let arn = "arn:aws:ecs:ap-northeast-1:111111111111:task-definition/shop-api:7";
        assert!(same_task_definition(Some(arn), arn));
        assert!(same_task_definition(Some(arn), "shop-api:7"));
        assert!(!same_task_definition(Some(arn), "shop-api:70"));
        assert!(!same_task_definition(Some(arn), "api:7"));
        assert!(!same_task_definition(None, arn));
    }

    #[test]
    fn a_lock_value_round_trips_and_omits_an_absent_forced_from() {
        let info = LockInfo {
            who: "arn:aws:iam::1:user/alice".into(),
            run_id: "r1".into(),
            digest: "sha256:ab".into(),
            since: jiff::Timestamp::UNIX_EPOCH,
            expires: jiff::Timestamp::UNIX_EPOCH,
            forced_from: None,
            rollout: None,
        };
        let json = serde_json::to_string(&info).expect("encode");
        assert!(!json.contains("forced_from"), "{json}");
        assert!(!json.contains("rollout"), "{json}");
        assert_eq!(
            serde_json::from_str::<LockInfo>(&json).expect("decode"),
            info
        );
    }

    #[test]
    fn a_lock_from_before_the_journal_still_reads_and_a_journal_round_trips() {
        let old = r#"{"who":"w","run_id":"r","digest":"d","since":"2026-01-01T00:00:00Z","expires":"2026-01-01T00:10:00Z"}"#;
        let info: LockInfo = serde_json::from_str(old).expect("decode");
        assert_eq!(info.rollout, None);
        let with = LockInfo {
            rollout: Some(Rollout {
                from_revision: 3,
                from_arn: "arn:…:task-definition/f:3".into(),
                to_revision: 4,
                to_arn: "arn:…:task-definition/f:4".into(),
                started: jiff::Timestamp::UNIX_EPOCH,
            }),
            ..info
        };
        let json = serde_json::to_string(&with).expect("encode");
        assert_eq!(
            serde_json::from_str::<LockInfo>(&json).expect("decode"),
            with
        );
        assert!(
            with.describe()
                .contains("started rolling out revision 4 over 3"),
            "{}",
            with.describe()
        );
    }

    fn deployment(td: &str, status: &str, state: &str, reason: Option<&str>) -> Deployment {
        Deployment::builder()
            .task_definition(format!(
                "arn:aws:ecs:us-east-1:111111111111:task-definition/{td}"
            ))
            .status(status)
            .rollout_state(DeploymentRolloutState::from(state))
            .set_rollout_state_reason(reason.map(str::to_owned))
            .running_count(2)
            .desired_count(2)
            .build()
    }

    #[test]
    fn a_poll_ends_the_wait_only_when_the_rollout_settles() {
        let ours = deployment("api:8", "PRIMARY", "IN_PROGRESS", None);
        let both = [
            ours.clone(),
            deployment("api:7", "ACTIVE", "COMPLETED", None),
        ];
        let found = deployment_of(&both, "api:8").expect("ours is listed");
        assert_eq!(settled(found, &status_of(found), &both, "api:8"), None);

        let done = [deployment("api:8", "PRIMARY", "COMPLETED", None)];
        assert_eq!(
            settled(&done[0], &status_of(&done[0]), &done, "api:8"),
            Some(RolloutOutcome::Completed)
        );

        let failed = [
            deployment(
                "api:8",
                "ACTIVE",
                "FAILED",
                Some("circuit breaker: tasks failed"),
            ),
            deployment("api:7", "PRIMARY", "IN_PROGRESS", None),
        ];
        let ours = deployment_of(&failed, "api:8").expect("still listed");
        assert_eq!(
            settled(ours, &status_of(ours), &failed, "api:8"),
            Some(RolloutOutcome::EcsRolledBack {
                reason: "circuit breaker: tasks failed".into(),
                to: "arn:aws:ecs:us-east-1:111111111111:task-definition/api:7".into(),
            }),
            "ECS's own rollback is told apart from a plain failure"
        );
        let alone = [deployment("api:8", "PRIMARY", "FAILED", None)];
        assert_eq!(
            settled(&alone[0], &status_of(&alone[0]), &alone, "api:8"),
            Some(RolloutOutcome::Failed {
                reason: "ECS reported the rollout as FAILED".into()
            })
        );
    }

    #[test]
    fn a_deployment_no_longer_listed_was_rolled_back_by_ecs_or_replaced() {
        let breaker = [deployment(
            "api:7",
            "PRIMARY",
            "IN_PROGRESS",
            Some("ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/1."),
        )];
        assert!(deployment_of(&breaker, "api:8").is_none());
        assert!(matches!(
            gone(&breaker, None, "api:8"),
            RolloutOutcome::EcsRolledBack { to, .. } if to.ends_with("/api:7")
        ));
        let replaced = [deployment("api:9", "PRIMARY", "IN_PROGRESS", None)];
        let RolloutOutcome::Failed { reason } = gone(&replaced, None, "api:8") else {
            panic!("another deploy replaced ours")
        };
        assert!(
            reason.contains("another deploy replaced this one"),
            "{reason}"
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert!(backoff(1) >= FIRST_BACKOFF && backoff(1) <= FIRST_BACKOFF * 3 / 2);
        assert!(backoff(3) >= FIRST_BACKOFF * 4);
        assert!(backoff(40) <= MAX_BACKOFF * 3 / 2);
    }
}
