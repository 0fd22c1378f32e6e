//! The CloudFormation client set of `stamp infra`: change sets, execution, waiting and failure
//! reasons from stack events. Built from the tenant's `deploy_role`.
//!
//! `infra plan` uses it too: a change set changes no resource, but CreateChangeSet is a write
//! API, so it needs the deploy role. The plain stack reads (DescribeStacks, GetTemplate) are
//! [`super::TenantReader`]'s, which `status` uses with the read-only role; this set reaches
//! them through the deploy role's reader. Nothing here is reachable from a `TenantReader`:
//! every read-only command keeps its read-only role and has no path to these calls.
//!
//! The code follows AWS's documented behaviour; what moto does differently is handled
//! beside it and listed in docs/cloudformation.md.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, ChangeSetType, Parameter, Tag};

use super::deploy::TenantDeployer;
use super::errors::describe;
use super::read::TenantError;
use super::session::Session;
use crate::dsl::Tenant;

pub struct StackDeployer {
    /// Shared, so a lock guard can hold it (`crate::rollout::Guard`).
    deployer: std::sync::Arc<TenantDeployer>,
    cfn: aws_sdk_cloudformation::Client,
}

pub use super::read::LiveStack;

/// One resource change of a change set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ResourceChange {
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// `True`, `False` or `Conditional` for modifications.
    pub replacement: Option<String>,
}

/// What a change set came to.
#[derive(Debug, Clone)]
pub enum ChangeSet {
    /// Ready to execute: its id and the resource changes AWS listed (moto lists none).
    Ready {
        id: String,
        changes: Vec<ResourceChange>,
    },
    /// The stack already matches: nothing to execute.
    NoChanges,
}

/// A failing resource, from DescribeStackEvents.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FailedResource {
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: String,
}

/// How a stack operation ended.
#[derive(Debug, Clone)]
pub enum StackOutcome {
    Complete {
        status: String,
    },
    Failed {
        status: String,
        failures: Vec<FailedResource>,
    },
    TimedOut {
        status: String,
    },
}

/// Status words that end an operation successfully.
const SUCCESS: &[&str] = &["CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"];

/// AWS's words for a change set with nothing in it (FAILED status reason), and for an update
/// that changes nothing (the ValidationError moto answers CreateChangeSet with).
fn means_no_changes(text: &str) -> bool {
    text.contains("didn't contain changes")
        || text.contains("No updates are to be performed")
        || text.contains("does not contain changes")
}

impl StackDeployer {
    /// Assumes the tenant's `deploy_role` (through the account guard) once for both sets.
    pub async fn connect(session: &Session, tenant: &Tenant) -> Result<Self, TenantError> {
        let (deployer, cfg) = TenantDeployer::connect_with_config(session, tenant).await?;
        let cfn = aws_sdk_cloudformation::Client::from_conf(
            aws_sdk_cloudformation::config::Builder::from(&cfg)
                .interceptor(session.calls().clone())
                .build(),
        );
        Ok(Self {
            deployer: std::sync::Arc::new(deployer),
            cfn,
        })
    }

    /// Locks and the reads of the deploy role's session.
    pub fn deployer(&self) -> &std::sync::Arc<TenantDeployer> {
        &self.deployer
    }

    fn fail(&self, detail: String) -> TenantError {
        TenantError::Call {
            tenant: self.deployer.tenant().to_owned(),
            detail,
        }
    }

    /// The stack, or `None` when it does not exist (read with the deploy role's session).
    pub async fn describe_stack(&self, name: &str) -> Result<Option<LiveStack>, TenantError> {
        self.deployer.reader().describe_stack(name).await
    }

    /// The template the stack was last deployed with, as submitted.
    pub async fn get_template(&self, name: &str) -> Result<String, TenantError> {
        self.deployer.reader().get_template(name).await
    }

    /// Creates a change set and waits until AWS has computed it.
    #[allow(clippy::too_many_arguments)]
    pub async fn change_set(
        &self,
        stack: &str,
        create: bool,
        body: &str,
        parameters: &[(String, String)],
        capabilities: &[String],
        tags: &BTreeMap<String, String>,
        name: &str,
    ) -> Result<ChangeSet, TenantError> {
        let role = self.deployer.role();
        let tag_list: Vec<Tag> = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let created = self
            .cfn
            .create_change_set()
            .stack_name(stack)
            .change_set_name(name)
            .change_set_type(if create {
                ChangeSetType::Create
            } else {
                ChangeSetType::Update
            })
            .template_body(body)
            .set_parameters(Some(
                parameters
                    .iter()
                    .map(|(k, v)| {
                        Parameter::builder()
                            .parameter_key(k)
                            .parameter_value(v)
                            .build()
                    })
                    .collect(),
            ))
            .set_capabilities(Some(
                capabilities
                    .iter()
                    .map(|c| Capability::from(c.as_str()))
                    .collect(),
            ))
            .set_tags(Some(tag_list))
            .send()
            .await;
        let id = match created {
            Ok(out) => out.id.unwrap_or_else(|| name.to_owned()),
            // moto refuses a no-op update at creation; AWS creates the change set and marks it
            // FAILED with a reason (handled below).
            Err(e)
                if e.as_service_error()
                    .and_then(ProvideErrorMetadata::message)
                    .is_some_and(means_no_changes) =>
            {
                return Ok(ChangeSet::NoChanges);
            }
            Err(e) => {
                return Err(self.fail(describe("cloudformation:CreateChangeSet", role, &e)));
            }
        };
        // AWS computes change sets asynchronously (seconds); moto answers CREATE_COMPLETE at once.
        let started = Instant::now();
        loop {
            let out = self
                .cfn
                .describe_change_set()
                .change_set_name(&id)
                .stack_name(stack)
                .send()
                .await
                .map_err(|e| self.fail(describe("cloudformation:DescribeChangeSet", role, &e)))?;
            match out.status {
                Some(ChangeSetStatus::CreateComplete) => {
                    let changes = out
                        .changes
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|c| c.resource_change)
                        .map(|r| ResourceChange {
                            action: r.action.map(|a| a.as_str().to_owned()).unwrap_or_default(),
                            logical_id: r.logical_resource_id.unwrap_or_default(),
                            resource_type: r.resource_type.unwrap_or_default(),
                            replacement: r.replacement.map(|x| x.as_str().to_owned()),
                        })
                        .collect();
                    return Ok(ChangeSet::Ready { id, changes });
                }
                Some(ChangeSetStatus::Failed) => {
                    let reason = out.status_reason.unwrap_or_default();
                    // The failed change set stays listed on the stack; remove it either way.
                    let _ = self.delete_change_set(stack, &id).await;
                    if means_no_changes(&reason) {
                        return Ok(ChangeSet::NoChanges);
                    }
                    return Err(self.fail(format!(
                        "the change set for stack `{stack}` failed: {reason}"
                    )));
                }
                _ if started.elapsed() > Duration::from_secs(300) => {
                    return Err(self.fail(format!(
                        "the change set for stack `{stack}` was not ready after 5 minutes"
                    )));
                }
                _ => tokio::time::sleep(Duration::from_secs(2)).await,
            }
        }
    }

    pub async fn delete_change_set(&self, stack: &str, id: &str) -> Result<(), TenantError> {
        self.cfn
            .delete_change_set()
            .change_set_name(id)
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| {
                self.fail(describe(
                    "cloudformation:DeleteChangeSet",
                    self.deployer.role(),
                    &e,
                ))
            })?;
        Ok(())
    }

    /// Deletes a stack that never got created (REVIEW_IN_PROGRESS after a CREATE change set
    /// that was only planned).
    pub async fn delete_stack(&self, stack: &str) -> Result<(), TenantError> {
        self.cfn
            .delete_stack()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| {
                self.fail(describe(
                    "cloudformation:DeleteStack",
                    self.deployer.role(),
                    &e,
                ))
            })?;
        Ok(())
    }

    pub async fn execute_change_set(&self, stack: &str, id: &str) -> Result<(), TenantError> {
        self.cfn
            .execute_change_set()
            .change_set_name(id)
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| {
                self.fail(describe(
                    "cloudformation:ExecuteChangeSet",
                    self.deployer.role(),
                    &e,
                ))
            })?;
        Ok(())
    }

    /// Polls the stack until it leaves `*_IN_PROGRESS`; `progress` hears each new status. On
    /// failure, the failing resources and their reasons from the events since `since`.
    pub async fn wait(
        &self,
        stack: &str,
        since: aws_smithy_types::DateTime,
        timeout: Duration,
        progress: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<StackOutcome, TenantError> {
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
            if !status.ends_with("_IN_PROGRESS") {
                if SUCCESS.contains(&status.as_str()) {
                    return Ok(StackOutcome::Complete { status });
                }
                let failures = self.failures(stack, since).await?;
                return Ok(StackOutcome::Failed { status, failures });
            }
            if started.elapsed() > timeout {
                return Ok(StackOutcome::TimedOut { status });
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
    }

    /// `*_FAILED` events since `since`, oldest first: the first is usually the cause, the
    /// rest are cancellations it triggered.
    pub async fn failures(
        &self,
        stack: &str,
        since: aws_smithy_types::DateTime,
    ) -> Result<Vec<FailedResource>, TenantError> {
        let out = self
            .cfn
            .describe_stack_events()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| {
                self.fail(describe(
                    "cloudformation:DescribeStackEvents",
                    self.deployer.role(),
                    &e,
                ))
            })?;
        let mut failed: Vec<FailedResource> = out
            .stack_events
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.timestamp.is_none_or(|t| t.secs() >= since.secs()))
            .filter_map(|e| {
                let status = e.resource_status.as_ref()?.as_str().to_owned();
                if !status.ends_with("_FAILED") {
                    return None;
                }
                let reason = e.resource_status_reason.unwrap_or_default();
                // The stack's own event repeats the cause in general words.
                if e.resource_type.as_deref() == Some("AWS::CloudFormation::Stack")
                    && reason.is_empty()
                {
                    return None;
                }
                Some(FailedResource {
                    logical_id: e.logical_resource_id.unwrap_or_default(),
                    resource_type: e.resource_type.unwrap_or_default(),
                    status,
                    reason,
                })
            })
            .collect();
        // Events come newest first.
        failed.reverse();
        Ok(failed)
    }
}
