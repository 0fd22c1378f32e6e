//! One-off ECS tasks with the deploying client set: RunTask (where the service's tasks run,
//! one container's command overridden, `startedBy = "stamp"`, audit tags), DescribeTasks to
//! follow it, StopTask when it outlives its timeout. Nothing here waits or decides; the
//! rollout engine's task step does (`crate::rollout::task`).
//!
//! RunTask is not idempotent (every call starts a task), so it is sent once, SDK retries off:
//! a failed or lost answer is reported, never retried into a second migration running beside
//! the first.

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, CapacityProviderStrategyItem, ContainerOverride,
    LaunchType, NetworkConfiguration, Tag, TaskOverride,
};

use aws_smithy_types::retry::RetryConfig;

use super::deploy::TenantDeployer;
use super::errors::describe;
use super::read::{Launch, TenantError};

/// What `startedBy` says on every task stamp starts: ECS shows it, and a person can list them.
pub const STARTED_BY: &str = "stamp";

/// One task to start.
pub struct TaskRequest<'a> {
    pub cluster: &'a str,
    pub task_definition_arn: &'a str,
    pub container: &'a str,
    pub command: &'a [String],
    pub launch: &'a Launch,
    pub tags: &'a [(String, String)],
}

/// What a task is doing, as one DescribeTasks saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskState {
    /// PROVISIONING, PENDING, RUNNING, … STOPPED.
    pub last_status: String,
    /// The chosen container's exit code, once it has one.
    pub exit_code: Option<i32>,
    /// ECS's reason for stopping (`Essential container in task exited`, a pull error …).
    pub stopped_reason: Option<String>,
    /// The container's own reason, when ECS gives one (e.g. `CannotPullContainerError`).
    pub container_reason: Option<String>,
}

impl TaskState {
    pub fn stopped(&self) -> bool {
        self.last_status == "STOPPED"
    }
}

impl TenantDeployer {
    /// RunTask; `Ok(Err(reason))` when ECS answered with a failure instead of a task (no
    /// capacity, a bad subnet): the reason as ECS gave it.
    pub async fn run_task(
        &self,
        r: &TaskRequest<'_>,
    ) -> Result<Result<String, String>, TenantError> {
        let over = ContainerOverride::builder()
            .name(r.container)
            .set_command(Some(r.command.to_vec()))
            .build();
        let tags: Vec<Tag> = r
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let mut req = self
            .ecs
            .run_task()
            .cluster(r.cluster)
            .task_definition(r.task_definition_arn)
            .count(1)
            .started_by(STARTED_BY)
            .overrides(TaskOverride::builder().container_overrides(over).build())
            .set_tags((!tags.is_empty()).then_some(tags))
            .set_platform_version(r.launch.platform_version.clone())
            .set_network_configuration(self.network(r)?);
        if r.launch.capacity_providers.is_empty() {
            req = req.set_launch_type(r.launch.launch_type.as_deref().map(LaunchType::from));
        } else {
            req = req.set_capacity_provider_strategy(Some(self.strategy(r)?));
        }
        let out = req
            .customize()
            .config_override(
                aws_sdk_ecs::config::Builder::default().retry_config(RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(|e| self.fail(describe("ecs:RunTask", self.role(), &e)))?;
        if let Some(arn) = out
            .tasks
            .unwrap_or_default()
            .into_iter()
            .find_map(|t| t.task_arn)
        {
            return Ok(Ok(arn));
        }
        let why: Vec<String> = out
            .failures
            .unwrap_or_default()
            .into_iter()
            .map(|f| match (f.reason, f.detail) {
                (Some(r), Some(d)) => format!("{r} ({d})"),
                (Some(r), None) => r,
                (None, Some(d)) => d,
                (None, None) => "no reason given".to_owned(),
            })
            .collect();
        Ok(Err(if why.is_empty() {
            "ecs:RunTask started no task and gave no reason".to_owned()
        } else {
            why.join("; ")
        }))
    }

    /// The service's subnets and security groups, when it has them (awsvpc).
    fn network(&self, r: &TaskRequest<'_>) -> Result<Option<NetworkConfiguration>, TenantError> {
        if r.launch.subnets.is_empty() {
            return Ok(None);
        }
        let vpc = AwsVpcConfiguration::builder()
            .set_subnets(Some(r.launch.subnets.clone()))
            .set_security_groups(
                (!r.launch.security_groups.is_empty()).then(|| r.launch.security_groups.clone()),
            )
            .set_assign_public_ip(
                r.launch
                    .assign_public_ip
                    .as_deref()
                    .map(AssignPublicIp::from),
            )
            .build()
            .map_err(|e| self.fail(format!("ecs:RunTask: network configuration: {e}")))?;
        Ok(Some(
            NetworkConfiguration::builder()
                .awsvpc_configuration(vpc)
                .build(),
        ))
    }

    fn strategy(
        &self,
        r: &TaskRequest<'_>,
    ) -> Result<Vec<CapacityProviderStrategyItem>, TenantError> {
        r.launch
            .capacity_providers
            .iter()
            .map(|(name, weight, base)| {
                CapacityProviderStrategyItem::builder()
                    .capacity_provider(name)
                    .weight(*weight)
                    .base(*base)
                    .build()
                    .map_err(|e| self.fail(format!("ecs:RunTask: capacity provider: {e}")))
            })
            .collect()
    }

    /// DescribeTasks for one task; `container` is the one whose exit code counts.
    pub async fn describe_task(
        &self,
        cluster: &str,
        task_arn: &str,
        container: &str,
    ) -> Result<TaskState, TenantError> {
        let out = self
            .ecs
            .describe_tasks()
            .cluster(cluster)
            .tasks(task_arn)
            .send()
            .await
            .map_err(|e| self.fail(describe("ecs:DescribeTasks", self.role(), &e)))?;
        let Some(task) = out.tasks.unwrap_or_default().into_iter().next() else {
            return Err(self.fail(format!(
                "ecs:DescribeTasks does not know task {task_arn} in cluster `{cluster}`"
            )));
        };
        let mine = task
            .containers
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.name.as_deref() == Some(container));
        Ok(TaskState {
            last_status: task.last_status.unwrap_or_default(),
            exit_code: mine.as_ref().and_then(|c| c.exit_code),
            stopped_reason: task.stopped_reason,
            container_reason: mine.and_then(|c| c.reason),
        })
    }

    /// StopTask (idempotent: stopping a stopped task changes nothing).
    pub async fn stop_task(
        &self,
        cluster: &str,
        task_arn: &str,
        reason: &str,
    ) -> Result<(), TenantError> {
        self.ecs
            .stop_task()
            .cluster(cluster)
            .task(task_arn)
            .reason(reason)
            .send()
            .await
            .map_err(|e| self.fail(describe("ecs:StopTask", self.role(), &e)))?;
        Ok(())
    }
}
