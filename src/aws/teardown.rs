//! The removals of `stamp down`, on the deploying client set: a service scaled to zero and
//! deleted, a stack deleted, the revisions of a task definition family deregistered and
//! deleted, the lock parameters left under a path. Each is idempotent: what is already gone
//! is not an error, so a `down` that stopped half-way can simply run again.
//!
//! Nothing here decides what belongs to a tenant: `commands::down` names it.

use std::time::{Duration, Instant};

use aws_sdk_ecs::types::TaskDefinitionStatus;

use super::deploy::{LOCK_PREFIX, TenantDeployer};
use super::errors::describe;
use super::read::TenantError;
use super::stacks::{StackDeployer, StackOutcome};

/// DeleteTaskDefinitions takes at most ten revisions per call.
const DELETE_BATCH: usize = 10;

impl TenantDeployer {
    /// Scales `service` to zero, deletes it and waits until ECS no longer lists it as active
    /// (DRAINING → INACTIVE). `false` when there was no such service.
    pub async fn delete_service(
        &self,
        cluster: &str,
        service: &str,
        timeout: Duration,
        poll: Duration,
    ) -> Result<bool, TenantError> {
        let live = self
            .reader()
            .describe_services(cluster, &[service.to_owned()])
            .await?;
        if live.get(service).and_then(Option::as_ref).is_none() {
            return Ok(false);
        }
        self.ecs
            .update_service()
            .cluster(cluster)
            .service(service)
            .desired_count(0)
            .send()
            .await
            .map_err(|e| self.fail(describe("ecs:UpdateService", &self.role, &e)))?;
        self.ecs
            .delete_service()
            .cluster(cluster)
            .service(service)
            .send()
            .await
            .map_err(|e| self.fail(describe("ecs:DeleteService", &self.role, &e)))?;
        let started = Instant::now();
        loop {
            let live = self
                .reader()
                .describe_services(cluster, &[service.to_owned()])
                .await?;
            if live.get(service).and_then(Option::as_ref).is_none() {
                return Ok(true);
            }
            if started.elapsed() > timeout {
                return Err(self.fail(format!(
                    "ECS service `{service}` was still draining after {timeout:?}; run `stamp down` again later"
                )));
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// Every revision of `family`, ACTIVE and INACTIVE (ListTaskDefinitions matches the family
    /// name exactly, so `shop-api` never reaches `shop-api-ci7`).
    pub async fn family_revisions(&self, family: &str) -> Result<Vec<(String, bool)>, TenantError> {
        let mut out = Vec::new();
        for status in [TaskDefinitionStatus::Active, TaskDefinitionStatus::Inactive] {
            let active = status == TaskDefinitionStatus::Active;
            let mut pages = self
                .ecs
                .list_task_definitions()
                .family_prefix(family)
                .status(status)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page
                    .map_err(|e| self.fail(describe("ecs:ListTaskDefinitions", &self.role, &e)))?;
                out.extend(
                    page.task_definition_arns
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|arn| family_of(arn) == Some(family))
                        .map(|arn| (arn, active)),
                );
            }
        }
        Ok(out)
    }

    /// Deregisters the ACTIVE revisions of `family`, then deletes them all (ECS deletes only
    /// INACTIVE ones). Returns how many revisions were deleted.
    pub async fn delete_family(&self, family: &str) -> Result<usize, TenantError> {
        let revisions = self.family_revisions(family).await?;
        for (arn, _) in revisions.iter().filter(|(_, active)| *active) {
            self.ecs
                .deregister_task_definition()
                .task_definition(arn)
                .send()
                .await
                .map_err(|e| self.fail(describe("ecs:DeregisterTaskDefinition", &self.role, &e)))?;
        }
        let arns: Vec<String> = revisions.into_iter().map(|(arn, _)| arn).collect();
        for batch in arns.chunks(DELETE_BATCH) {
            let out = self
                .ecs
                .delete_task_definitions()
                .set_task_definitions(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|e| self.fail(describe("ecs:DeleteTaskDefinitions", &self.role, &e)))?;
            if let Some(f) = out.failures.unwrap_or_default().into_iter().next() {
                return Err(self.fail(format!(
                    "ecs:DeleteTaskDefinitions: {}: {}",
                    f.arn.unwrap_or_default(),
                    f.reason.unwrap_or_default()
                )));
            }
        }
        Ok(arns.len())
    }

    /// Deletes every parameter under `/stamp/locks/<scope>/` (`scope` a cluster, or
    /// `cloudformation/<stack>`): the locks killed runs left. Returns their names.
    pub async fn delete_locks_under(&self, scope: &str) -> Result<Vec<String>, TenantError> {
        let path = format!("{LOCK_PREFIX}/{scope}");
        let mut names = Vec::new();
        let mut pages = self
            .ssm
            .get_parameters_by_path()
            .path(&path)
            .recursive(true)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| self.fail(describe("ssm:GetParametersByPath", &self.role, &e)))?;
            names.extend(
                page.parameters
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|p| p.name),
            );
        }
        // The lock of the scope itself (a stack's lock is `/stamp/locks/cloudformation/<stack>`).
        names.push(path);
        let mut deleted = Vec::new();
        for name in names {
            match self.ssm.delete_parameter().name(&name).send().await {
                Ok(_) => deleted.push(name),
                Err(e)
                    if e.as_service_error().is_some_and(
                        aws_sdk_ssm::operation::delete_parameter::DeleteParameterError::is_parameter_not_found,
                    ) => {}
                Err(e) => return Err(self.fail(describe("ssm:DeleteParameter", &self.role, &e))),
            }
        }
        Ok(deleted)
    }
}

/// `shop-api` from `arn:aws:ecs:…:task-definition/shop-api:3`.
fn family_of(arn: &str) -> Option<&str> {
    arn.rsplit_once('/')?.1.rsplit_once(':').map(|(f, _)| f)
}

impl StackDeployer {
    /// Deletes `stack` and waits until it is gone; `None` when there was no such stack. Gone
    /// is DescribeStacks not finding it (AWS, by name) or listing it DELETE_COMPLETE (moto).
    pub async fn delete_and_wait(
        &self,
        stack: &str,
        timeout: Duration,
        progress: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<Option<StackOutcome>, TenantError> {
        if self
            .describe_stack(stack)
            .await?
            .is_none_or(|s| s.status == "DELETE_COMPLETE")
        {
            return Ok(None);
        }
        let since = aws_smithy_types::DateTime::from_secs(jiff::Timestamp::now().as_second() - 1);
        self.delete_stack(stack).await?;
        let started = Instant::now();
        let mut last = String::new();
        loop {
            let status = self
                .describe_stack(stack)
                .await?
                .map_or_else(|| "DELETE_COMPLETE".to_owned(), |s| s.status);
            if status != last {
                progress(&status);
                last.clone_from(&status);
            }
            if status == "DELETE_COMPLETE" {
                return Ok(Some(StackOutcome::Complete { status }));
            }
            if !status.ends_with("_IN_PROGRESS") {
                let failures = self.failures(stack, since).await?;
                return Ok(Some(StackOutcome::Failed { status, failures }));
            }
            if started.elapsed() > timeout {
                return Ok(Some(StackOutcome::TimedOut { status }));
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::family_of;

    #[test]
    fn the_family_of_a_revision_arn_is_exact() {
        assert_eq!(
            family_of("arn:aws:ecs:eu-west-1:111111111111:task-definition/shop-api-ci7:12"),
            Some("shop-api-ci7")
        );
        assert_eq!(family_of("shop-api"), None);
    }
}
