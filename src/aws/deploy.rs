//! The deploying client set: the only type with write methods (RegisterTaskDefinition,
//! UpdateService, TagResource, PutParameter/DeleteParameter for locks). Read-only commands
//! never build one.
//!
//! A [`TenantDeployer`] is built from the tenant's `deploy_role`, through the same account guard
//! as the read-only set ([`TenantReader::connect_as`]); its reads go through the
//! [`TenantReader`] it holds, so the write methods below are the only additions.

use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState, Tag};
use aws_sdk_ssm::types::ParameterType;
use serde::{Deserialize, Serialize};

use super::convert;
use super::errors::describe;
use super::read::{TenantError, TenantReader};
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

pub struct TenantDeployer {
    tenant: String,
    role: String,
    reader: TenantReader,
    ssm: aws_sdk_ssm::Client,
    ecs: aws_sdk_ecs::Client,
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockOutcome {
    Acquired {
        /// An expired lock we replaced.
        took_over: Option<LockInfo>,
        /// A live lock removed by force.
        forced: Option<LockInfo>,
    },
    /// Someone else holds a live lock.
    Held(LockInfo),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub arn: String,
    pub revision: i32,
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
    Failed { reason: String },
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

    fn fail(&self, detail: String) -> TenantError {
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
            if self.create_lock(&name, me, ttl, forced_from).await? {
                return Ok(LockOutcome::Acquired { took_over, forced });
            }
            let held = match self.read_lock(&name).await? {
                // Released between our create and our read: try to create it again.
                Current::Missing => continue,
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

    /// PutParameter with `Overwrite=false`: `true` if we created it, `false` if it exists.
    async fn create_lock(
        &self,
        name: &str,
        me: &LockHolder,
        ttl: Duration,
        forced_from: Option<String>,
    ) -> Result<bool, TenantError> {
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
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_parameter_already_exists()) =>
            {
                Ok(false)
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

    /// Registers a task definition with stamp's bookkeeping `tags` appended to its own.
    pub async fn register(
        &self,
        td: &TaskDefinition,
        tags: &[(String, String)],
    ) -> Result<Registered, TenantError> {
        let req =
            convert::fill_register(self.ecs.register_task_definition(), td, tags).map_err(|e| {
                // The error's message starts with its JSON path (`containerDefinitions[0]…`).
                self.fail(format!(
                    "ecs:RegisterTaskDefinition: task definition `{}` cannot be sent: {e}",
                    td.family
                ))
            })?;
        let out = req
            .send()
            .await
            .map_err(|e| self.fail(describe("ecs:RegisterTaskDefinition", &self.role, &e)))?;
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
        })
    }

    /// Points the service at `task_definition_arn` with `desired_count` tasks; ECS starts a new
    /// deployment (see [`Self::wait_rollout`]).
    pub async fn update_service(
        &self,
        cluster: &str,
        service: &str,
        task_definition_arn: &str,
        desired_count: u32,
    ) -> Result<(), TenantError> {
        let desired = i32::try_from(desired_count).map_err(|_| {
            self.fail(format!(
                "ecs:UpdateService: desired count {desired_count} for `{service}` is too large"
            ))
        })?;
        self.ecs
            .update_service()
            .cluster(cluster)
            .service(service)
            .task_definition(task_definition_arn)
            .desired_count(desired)
            .send()
            .await
            .map_err(|e| self.fail(describe("ecs:UpdateService", &self.role, &e)))?;
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
            // A rollback re-deploys a revision an older (ACTIVE, still running) deployment also
            // runs: the new PRIMARY is the one being waited for.
            let matching = |d: &&Deployment| {
                same_task_definition(d.task_definition.as_deref(), task_definition_arn)
            };
            let Some(ours) = deployments
                .iter()
                .filter(matching)
                .find(|d| d.status.as_deref() == Some("PRIMARY"))
                .or_else(|| deployments.iter().find(matching))
            else {
                // Our deployment is gone while we waited: someone else deployed over it.
                let primary = deployments
                    .iter()
                    .find(|d| d.status.as_deref() == Some("PRIMARY"))
                    .and_then(|d| d.task_definition.clone())
                    .or(svc.task_definition)
                    .unwrap_or_default();
                return Ok(RolloutOutcome::Failed {
                    reason: format!(
                        "the service no longer deploys {task_definition_arn}: it now runs {primary} (another deploy replaced this one)"
                    ),
                });
            };
            let status = status_of(ours);
            if last.as_ref() != Some(&status) {
                on_change(&status);
            }
            match ours.rollout_state {
                Some(DeploymentRolloutState::Completed) if status.running == status.desired => {
                    return Ok(RolloutOutcome::Completed);
                }
                Some(DeploymentRolloutState::Failed) => {
                    return Ok(RolloutOutcome::Failed {
                        reason: ours
                            .rollout_state_reason
                            .clone()
                            .unwrap_or_else(|| "ECS reported the rollout as FAILED".into()),
                    });
                }
                // Services on a deployment controller without rollout states: settled when our
                // deployment is the only one left and every task runs.
                None if deployments.len() == 1 && status.running == status.desired => {
                    return Ok(RolloutOutcome::Completed);
                }
                _ => {}
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
        };
        let json = serde_json::to_string(&info).expect("encode");
        assert!(!json.contains("forced_from"), "{json}");
        assert_eq!(
            serde_json::from_str::<LockInfo>(&json).expect("decode"),
            info
        );
    }
}
