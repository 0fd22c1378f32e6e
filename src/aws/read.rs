//! The read-only client set of one tenant: built from its `inspect_role`, after the account
//! guard, with read operations only.
//!
//! # Read-only by construction
//!
//! The separation is made by the type system, not by discipline:
//!
//! - only this module and [`super::deploy`] hold SDK clients, as private fields; no command
//!   ever sees an `aws_sdk_*` client, so it can only call what these two types expose;
//! - [`TenantReader`] exposes reads alone (`lookups`, `describe_services`,
//!   `describe_task_definition`, `list_revisions`, `describe_stack`, `get_template`) and is
//!   built by [`TenantReader::connect`]
//!   from the tenant's `inspect_role`; the constructor that takes another role is
//!   `pub(super)`, used only by the deploying set;
//! - every write (`lock`, `register`, `update_service`, tags) is a method of
//!   [`super::deploy::TenantDeployer`], which only `deploy`/`rollback` construct, from
//!   `deploy_role`. The read-only commands (`status`, `plan`, `history`, `params`, `render`,
//!   `explain`) go through [`super::read_tenants`] or `TenantReader::connect` and never name
//!   the deployer.
//!
//! So a read-only command that tried to write would not compile:
//!
//! ```compile_fail
//! # async fn f(reader: &stamp::aws::TenantReader) {
//! // error[E0599]: no method named `update_service` on the read-only set
//! reader.update_service("cluster", "api", "arn:…:task-definition/shop-api:3", None).await;
//! # }
//! ```
//!
//! ```compile_fail
//! # fn f(reader: &stamp::aws::TenantReader) {
//! // error[E0616]: the SDK clients are private; there is no way round the methods above
//! let _ = reader.ecs.register_task_definition();
//! # }
//! ```
//!
//! And at run time, the emulator's IAM enforcement proves the role is enough: the tests run
//! `status`, `plan`, `history` and `params` with an `inspect_role` allowed only `Describe*`,
//! `List*` and `Get*` (tests/it/status.rs).

use std::collections::{BTreeMap, HashMap};

use aws_sdk_ssm::types::{ParameterStringFilter, ParameterType};

use super::errors::describe;
use super::session::Session;
use crate::dsl::Tenant;
use crate::resolve::{Lookups, Missing, Param, PathParam, References, SmSecret, Unmet};

/// Why a tenant's account could not be used. Each names the tenant; the wording lives in
/// [`TenantError::message`] and [`TenantError::hint`].
#[derive(Debug)]
pub enum TenantError {
    WrongAccount {
        tenant: String,
        expected: String,
        actual: String,
    },
    /// The account answered with a resource of another account: an endpoint (or proxy)
    /// that does not serve the account the role is in.
    ForeignResource {
        tenant: String,
        operation: &'static str,
        arn: String,
        expected: String,
        actual: String,
    },
    /// A call failed; `detail` is [`describe`]'s line (with its hint, if any).
    Call { tenant: String, detail: String },
}

/// The account guard: the account a role landed in must be the tenant's own.
pub(super) fn guard(tenant: &Tenant, actual: String) -> Result<(), TenantError> {
    if actual == tenant.account_id {
        return Ok(());
    }
    Err(TenantError::WrongAccount {
        tenant: tenant.name.clone(),
        expected: tenant.account_id.clone(),
        actual,
    })
}

impl TenantError {
    pub fn tenant(&self) -> &str {
        match self {
            Self::WrongAccount { tenant, .. }
            | Self::ForeignResource { tenant, .. }
            | Self::Call { tenant, .. } => tenant,
        }
    }

    /// What went wrong, without the tenant (a report shows it apart) and without the hint.
    pub fn message(&self) -> String {
        match self {
            Self::WrongAccount {
                expected, actual, ..
            } => format!(
                "the role landed in account {actual}, but the tenant's account_id is {expected}; refusing to act"
            ),
            Self::ForeignResource {
                operation,
                arn,
                expected,
                actual,
                ..
            } => format!(
                "{operation} answered with {arn}, which is in account {actual}, but the tenant's account_id is {expected}; refusing to act"
            ),
            Self::Call { detail, .. } => super::errors::split_hint(detail).0.to_owned(),
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::WrongAccount { tenant, .. } => Some(format!(
                "check `account_id` and the role ARN in tenants/{tenant}.toml"
            )),
            Self::ForeignResource { .. } => Some(
                "the endpoint answers for another account: check AWS_ENDPOINT_URL and any proxy in between".to_owned(),
            ),
            Self::Call { detail, .. } => super::errors::split_hint(detail).1.map(str::to_owned),
        }
    }

    /// The problem as reported: no file, in the tenant's account.
    pub fn diagnostic(&self, tenant: &Tenant) -> crate::dsl::Diagnostic {
        crate::dsl::Diagnostic::general(None, self.message(), self.hint())
            .account(&tenant.name, &tenant.account_id)
    }
}

impl std::fmt::Display for TenantError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tenant `{}`: {}", self.tenant(), self.message())?;
        match self.hint() {
            Some(h) => write!(f, "{}{h}", super::errors::HINT),
            None => Ok(()),
        }
    }
}

impl std::error::Error for TenantError {}

/// A stack as it exists now.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LiveStack {
    pub name: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub parameters: BTreeMap<String, String>,
    pub outputs: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

pub struct TenantReader {
    tenant: String,
    /// The account the guard checked; every ARN read back must be in it.
    account_id: String,
    role: String,
    ssm: aws_sdk_ssm::Client,
    ecs: aws_sdk_ecs::Client,
    cfn: aws_sdk_cloudformation::Client,
    /// DescribeSecret only: the read-only role has no `secretsmanager:GetSecretValue`.
    sm: aws_sdk_secretsmanager::Client,
    /// The role's configuration and the run's call counter, for the clients built on demand
    /// (ECR in the registry's region, IAM, CloudWatch Logs: `aws::preflight`).
    pub(super) cfg: aws_config::SdkConfig,
    pub(super) calls: super::CallCounter,
}

/// An ECS service as it runs now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LiveEcsService {
    pub name: String,
    pub arn: String,
    pub status: String,
    pub task_definition_arn: String,
    pub desired_count: u32,
    pub running_count: u32,
    pub pending_count: u32,
    /// Of the PRIMARY deployment: IN_PROGRESS, COMPLETED or FAILED.
    pub rollout_state: Option<String>,
    pub rollout_reason: Option<String>,
    /// When the PRIMARY deployment started (RFC 3339): the last deploy or rollback, whoever
    /// made it.
    pub deployed_at: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// Its Application Auto Scaling target on `ecs:service:DesiredCount`, if any.
    pub scaling: Option<crate::plan::Scaling>,
    /// Where its tasks run: what a one-off task of the service copies.
    #[serde(skip)]
    pub launch: Launch,
}

/// How and where a service's tasks run (launch type or capacity provider strategy, platform
/// version, subnets and security groups): read from the live service, so a one-off task lands
/// where the service's own tasks do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Launch {
    pub launch_type: Option<String>,
    /// (capacity provider, weight, base).
    pub capacity_providers: Vec<(String, i32, i32)>,
    pub platform_version: Option<String>,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    /// ENABLED or DISABLED.
    pub assign_public_ip: Option<String>,
}

impl Launch {
    fn of(s: &aws_sdk_ecs::types::Service) -> Self {
        let vpc = s
            .network_configuration
            .as_ref()
            .and_then(|n| n.awsvpc_configuration.as_ref());
        Self {
            launch_type: s.launch_type.as_ref().map(|l| l.as_str().to_owned()),
            capacity_providers: s
                .capacity_provider_strategy
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|c| (c.capacity_provider.clone(), c.weight, c.base))
                .collect(),
            platform_version: s.platform_version.clone(),
            subnets: vpc.map(|v| v.subnets.clone()).unwrap_or_default(),
            security_groups: vpc
                .and_then(|v| v.security_groups.clone())
                .unwrap_or_default(),
            assign_public_ip: vpc
                .and_then(|v| v.assign_public_ip.as_ref())
                .map(|a| a.as_str().to_owned()),
        }
    }
}

/// A task definition as registered, in stamp's model, with its tags.
#[derive(Debug, Clone)]
pub struct LiveTaskDefinition {
    pub arn: String,
    pub revision: i32,
    /// RFC 3339, as ECS recorded the registration.
    pub registered_at: Option<String>,
    pub task_definition: crate::render::TaskDefinition,
    pub tags: BTreeMap<String, String>,
}

/// DescribeScalableTargets takes at most 50 resource ids per call.
const SCALABLE_TARGETS_BATCH: usize = 50;

/// DescribeServices takes at most 10 services per call.
const DESCRIBE_SERVICES_BATCH: usize = 10;

/// SSM's batch limits: GetParameters takes 10 names, DescribeParameters filters 50 values.
const GET_PARAMETERS_BATCH: usize = 10;
const DESCRIBE_PARAMETERS_BATCH: usize = 50;

impl TenantReader {
    /// Assumes the tenant's `inspect_role` and checks the account before any other call.
    pub async fn connect(session: &Session, tenant: &Tenant) -> Result<Self, TenantError> {
        Ok(Self::connect_as(session, tenant, &tenant.inspect_role)
            .await?
            .0)
    }

    /// Assumes `role` in the tenant's account and runs the account guard; returns the reader and
    /// the configuration (with its cached credentials) so the deploying set can build its write
    /// clients on the same session. Only `aws::deploy` calls it with the deploy role.
    pub(super) async fn connect_as(
        session: &Session,
        tenant: &Tenant,
        role: &str,
    ) -> Result<(Self, aws_config::SdkConfig), TenantError> {
        let cfg = session.tenant_config(&tenant.region, role, tenant.external_id.as_deref());
        let err = |detail: String| TenantError::Call {
            tenant: tenant.name.clone(),
            detail,
        };
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&cfg)
                .interceptor(session.calls().clone())
                .build(),
        );
        let who = sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| err(describe("sts:GetCallerIdentity", role, &e)))?;
        guard(tenant, who.account.unwrap_or_default())?;
        let calls = session.calls().clone();
        let reader = Self {
            tenant: tenant.name.clone(),
            account_id: tenant.account_id.clone(),
            role: role.to_owned(),
            ssm: aws_sdk_ssm::Client::from_conf(
                aws_sdk_ssm::config::Builder::from(&cfg)
                    .interceptor(calls.clone())
                    .build(),
            ),
            ecs: aws_sdk_ecs::Client::from_conf(
                aws_sdk_ecs::config::Builder::from(&cfg)
                    .interceptor(calls.clone())
                    .build(),
            ),
            cfn: aws_sdk_cloudformation::Client::from_conf(
                aws_sdk_cloudformation::config::Builder::from(&cfg)
                    .interceptor(calls.clone())
                    .build(),
            ),
            sm: aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::config::Builder::from(&cfg)
                    .interceptor(calls.clone())
                    .build(),
            ),
            cfg: cfg.clone(),
            calls,
        };
        Ok((reader, cfg))
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    pub fn role(&self) -> &str {
        &self.role
    }

    /// The account the guard checked.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// Refuses an ARN of another account (an ARN without an account, or not an ARN, passes).
    fn own(&self, operation: &'static str, arn: &str) -> Result<(), TenantError> {
        match arn.split(':').nth(4) {
            Some(actual)
                if arn.starts_with("arn:") && !actual.is_empty() && actual != self.account_id =>
            {
                Err(TenantError::ForeignResource {
                    tenant: self.tenant.clone(),
                    operation,
                    arn: arn.to_owned(),
                    expected: self.account_id.clone(),
                    actual: actual.to_owned(),
                })
            }
            _ => Ok(()),
        }
    }

    /// One DescribeSecret (there is no batch form that takes names): the ARN ECS needs, and
    /// whether the secret exists. Never GetSecretValue.
    async fn describe_secret(
        &self,
        secret: &str,
        at: &crate::dsl::Loc,
        l: &mut Lookups,
        missing: &mut Vec<Missing>,
    ) -> Result<(), TenantError> {
        let out = match self.sm.describe_secret().secret_id(secret).send().await {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                missing.push(Missing {
                    unmet: Unmet::SmSecret {
                        secret: secret.to_owned(),
                        deleted: false,
                    },
                    at: at.clone(),
                });
                return Ok(());
            }
            Err(e) => {
                return Err(self.fail(describe("secretsmanager:DescribeSecret", &self.role, &e)));
            }
        };
        if out.deleted_date.is_some() {
            missing.push(Missing {
                unmet: Unmet::SmSecret {
                    secret: secret.to_owned(),
                    deleted: true,
                },
                at: at.clone(),
            });
            return Ok(());
        }
        let arn = out.arn.unwrap_or_default();
        if !secret.starts_with("arn:") {
            // Named, the secret must be the tenant's own; an ARN written out may be shared from
            // another account, which ECS allows.
            self.own("secretsmanager:DescribeSecret", &arn)?;
        }
        let current_version = out
            .version_ids_to_stages
            .unwrap_or_default()
            .into_iter()
            .find_map(|(id, stages)| stages.iter().any(|s| s == "AWSCURRENT").then_some(id));
        l.secretsmanager.insert(
            secret.to_owned(),
            SmSecret {
                arn,
                name: out.name.unwrap_or_default(),
                current_version,
            },
        );
        Ok(())
    }

    pub(super) fn fail(&self, detail: String) -> TenantError {
        TenantError::Call {
            tenant: self.tenant.clone(),
            detail,
        }
    }

    /// Reads everything the tenant's files reference, with the fewest calls the APIs allow.
    /// Problems with individual references come back as `Missing`, all of them together.
    pub async fn lookups(&self, refs: &References) -> Result<(Lookups, Vec<Missing>), TenantError> {
        let mut l = Lookups::default();
        let mut missing = Vec::new();

        self.read_parameters(refs, &mut l, &mut missing).await?;
        self.read_paths(refs, &mut l, &mut missing).await?;
        self.read_ssm_secrets(refs, &mut l, &mut missing).await?;
        for (secret, at) in &refs.secretsmanager {
            self.describe_secret(secret, at, &mut l, &mut missing)
                .await?;
        }
        self.read_stack_outputs(refs, &mut l, &mut missing).await?;
        Ok((l, missing))
    }

    /// `{ ssm = … }` values, in GetParameters batches; a SecureString asked for as a value is a
    /// problem, its value dropped unread.
    async fn read_parameters(
        &self,
        refs: &References,
        l: &mut Lookups,
        missing: &mut Vec<Missing>,
    ) -> Result<(), TenantError> {
        let wanted: Vec<(&(String, Option<u64>), &crate::dsl::Loc)> = refs.ssm.iter().collect();
        for batch in wanted.chunks(GET_PARAMETERS_BATCH) {
            let selectors: Vec<String> = batch
                .iter()
                .map(|((n, v), _)| v.map_or_else(|| n.clone(), |v| format!("{n}:{v}")))
                .collect();
            let out = self
                .ssm
                .get_parameters()
                .set_names(Some(selectors))
                .with_decryption(false)
                .send()
                .await
                .map_err(|e| self.fail(describe("ssm:GetParameters", &self.role, &e)))?;
            for p in out.parameters.unwrap_or_default() {
                let name = p.name.unwrap_or_default();
                let version = u64::try_from(p.version).unwrap_or(0);
                // SSM echoes a versioned request's selector (":2"); moto does not, so a result
                // without one is matched to the pinned request for its version, if there is one
                // still unfilled, and otherwise to the unpinned request.
                let pinned = match p.selector.as_deref() {
                    Some(sel) => sel.trim_start_matches(':').parse::<u64>().ok(),
                    None => {
                        let pin = (name.clone(), Some(version));
                        (refs.ssm.contains_key(&pin) && !l.ssm.contains_key(&pin))
                            .then_some(version)
                    }
                };
                let key = (name.clone(), pinned);
                if p.r#type == Some(ParameterType::SecureString) {
                    // The value (encrypted) is dropped here, unread: a secret never lands in
                    // plaintext `environment`.
                    if let Some(at) = refs.ssm.get(&key) {
                        missing.push(Missing {
                            unmet: Unmet::SecretAsPlain { name: name.clone() },
                            at: at.clone(),
                        });
                    }
                    continue;
                }
                l.ssm.insert(
                    key,
                    Param {
                        name,
                        value: p.value.unwrap_or_default(),
                        version,
                        list: p.r#type == Some(ParameterType::StringList),
                    },
                );
            }
            for bad in out.invalid_parameters.unwrap_or_default() {
                let (name, version) = match bad.rsplit_once(':') {
                    Some((n, v)) if v.parse::<u64>().is_ok() => (n.to_owned(), v.parse().ok()),
                    _ => (bad.clone(), None),
                };
                if let Some(at) = refs.ssm.get(&(name.clone(), version)) {
                    missing.push(Missing {
                        unmet: Unmet::Parameter { name, version },
                        at: at.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// `env_from` imports, one GetParametersByPath walk per path; a SecureString's value is dropped.
    async fn read_paths(
        &self,
        refs: &References,
        l: &mut Lookups,
        missing: &mut Vec<Missing>,
    ) -> Result<(), TenantError> {
        for (path, at) in &refs.paths {
            let mut found = Vec::new();
            let mut pages = self
                .ssm
                .get_parameters_by_path()
                .path(path)
                .recursive(true)
                .with_decryption(false)
                .max_results(10)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page
                    .map_err(|e| self.fail(describe("ssm:GetParametersByPath", &self.role, &e)))?;
                for p in page.parameters.unwrap_or_default() {
                    let secure = p.r#type == Some(ParameterType::SecureString);
                    found.push(PathParam {
                        name: p.name.unwrap_or_default(),
                        version: u64::try_from(p.version).unwrap_or(0),
                        // A SecureString under an imported path becomes a `secrets` entry by ARN;
                        // its (encrypted) value is dropped here.
                        value: if secure {
                            None
                        } else {
                            Some(p.value.unwrap_or_default())
                        },
                    });
                }
            }
            if found.is_empty() {
                missing.push(Missing {
                    unmet: Unmet::EmptyPath { path: path.clone() },
                    at: at.clone(),
                });
            }
            l.paths.insert(path.clone(), found);
        }
        Ok(())
    }

    /// `{ secret = "/ssm/…" }` references: type and version by DescribeParameters, never the value.
    async fn read_ssm_secrets(
        &self,
        refs: &References,
        l: &mut Lookups,
        missing: &mut Vec<Missing>,
    ) -> Result<(), TenantError> {
        let secrets: Vec<(&String, &crate::dsl::Loc)> = refs.secrets.iter().collect();
        for batch in secrets.chunks(DESCRIBE_PARAMETERS_BATCH) {
            let filter = ParameterStringFilter::builder()
                .key("Name")
                .option("Equals")
                .set_values(Some(batch.iter().map(|(n, _)| (*n).clone()).collect()))
                .build()
                .map_err(|e| self.fail(format!("ssm:DescribeParameters: {e}")))?;
            let mut seen: HashMap<String, (Option<ParameterType>, u64)> = HashMap::new();
            let mut pages = self
                .ssm
                .describe_parameters()
                .parameter_filters(filter)
                .max_results(50)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page
                    .map_err(|e| self.fail(describe("ssm:DescribeParameters", &self.role, &e)))?;
                for p in page.parameters.unwrap_or_default() {
                    seen.insert(
                        p.name.unwrap_or_default(),
                        (p.r#type, u64::try_from(p.version).unwrap_or(0)),
                    );
                }
            }
            for (name, at) in batch {
                match seen.get(*name) {
                    Some((Some(ParameterType::SecureString), v)) => {
                        l.secret_versions.insert((*name).clone(), *v);
                    }
                    Some(_) => missing.push(Missing {
                        unmet: Unmet::PlainAsSecret {
                            name: (*name).clone(),
                        },
                        at: (*at).clone(),
                    }),
                    None => missing.push(Missing {
                        unmet: Unmet::Secret {
                            name: (*name).clone(),
                        },
                        at: (*at).clone(),
                    }),
                }
            }
        }
        Ok(())
    }

    /// `{ cfn_output = … }` values: each named stack's outputs; a stack that does not exist is a
    /// problem.
    async fn read_stack_outputs(
        &self,
        refs: &References,
        l: &mut Lookups,
        missing: &mut Vec<Missing>,
    ) -> Result<(), TenantError> {
        for (stack, at) in &refs.stacks {
            let real = refs.stack_name(stack);
            match self.cfn.describe_stacks().stack_name(real).send().await {
                Ok(out) => {
                    let outputs: BTreeMap<String, String> = out
                        .stacks
                        .unwrap_or_default()
                        .into_iter()
                        .flat_map(|s| s.outputs.unwrap_or_default())
                        .filter_map(|o| Some((o.output_key?, o.output_value?)))
                        .collect();
                    l.stack_outputs.insert(stack.clone(), outputs);
                }
                Err(e)
                    if e.as_service_error()
                        .and_then(aws_sdk_cloudformation::error::ProvideErrorMetadata::code)
                        == Some("ValidationError") =>
                {
                    missing.push(Missing {
                        unmet: Unmet::Stack {
                            name: real.to_owned(),
                            infra: (real != stack).then(|| stack.clone()),
                        },
                        at: at.clone(),
                    });
                }
                Err(e) => {
                    return Err(self.fail(describe(
                        "cloudformation:DescribeStacks",
                        &self.role,
                        &e,
                    )));
                }
            }
        }
        Ok(())
    }

    /// The stack, or `None` when it does not exist (AWS answers a ValidationError).
    /// Whether the tenant's cluster exists and is ACTIVE (`stamp check`): its status, or
    /// `None` when ECS does not know it.
    pub async fn cluster_status(&self, cluster: &str) -> Result<Option<String>, TenantError> {
        let out = self
            .ecs
            .describe_clusters()
            .clusters(cluster)
            .send()
            .await
            .map_err(|e| self.fail(describe("ecs:DescribeClusters", &self.role, &e)))?;
        Ok(out
            .clusters()
            .iter()
            .find(|c| c.cluster_name() == Some(cluster))
            .map(|c| c.status().unwrap_or_default().to_owned()))
    }

    pub async fn describe_stack(&self, name: &str) -> Result<Option<LiveStack>, TenantError> {
        use aws_sdk_cloudformation::error::ProvideErrorMetadata;
        let out = match self.cfn.describe_stacks().stack_name(name).send().await {
            Ok(out) => out,
            Err(e)
                if e.as_service_error().and_then(ProvideErrorMetadata::code)
                    == Some("ValidationError") =>
            {
                return Ok(None);
            }
            Err(e) => {
                return Err(self.fail(describe("cloudformation:DescribeStacks", &self.role, &e)));
            }
        };
        let Some(s) = out.stacks.unwrap_or_default().into_iter().next() else {
            return Ok(None);
        };
        let status = s
            .stack_status
            .as_ref()
            .map(|x| x.as_str().to_owned())
            .unwrap_or_default();
        // A stack deleted earlier can still be listed by id; by name AWS does not return it.
        if status == "DELETE_COMPLETE" {
            return Ok(None);
        }
        Ok(Some(LiveStack {
            name: s.stack_name.unwrap_or_else(|| name.to_owned()),
            status,
            status_reason: s.stack_status_reason,
            parameters: s
                .parameters
                .unwrap_or_default()
                .into_iter()
                .filter_map(|p| Some((p.parameter_key?, p.parameter_value.unwrap_or_default())))
                .collect(),
            outputs: s
                .outputs
                .unwrap_or_default()
                .into_iter()
                .filter_map(|o| Some((o.output_key?, o.output_value.unwrap_or_default())))
                .collect(),
            tags: s
                .tags
                .unwrap_or_default()
                .into_iter()
                .filter_map(|t| Some((t.key?, t.value.unwrap_or_default())))
                .collect(),
        }))
    }

    /// The template the stack was last deployed with, as submitted (GetTemplate is a read).
    pub async fn get_template(&self, name: &str) -> Result<String, TenantError> {
        let out = self
            .cfn
            .get_template()
            .stack_name(name)
            .template_stage(aws_sdk_cloudformation::types::TemplateStage::Original)
            .send()
            .await
            .map_err(|e| self.fail(describe("cloudformation:GetTemplate", &self.role, &e)))?;
        Ok(out.template_body.unwrap_or_default())
    }

    /// The named services of a cluster, 10 per call, with their autoscaling; a service that
    /// does not exist (or was deleted) maps to `None`.
    pub async fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<BTreeMap<String, Option<LiveEcsService>>, TenantError> {
        let mut out = self.describe_services_only(cluster, names).await?;
        let found: Vec<String> = out
            .iter()
            .filter_map(|(name, s)| s.as_ref().map(|_| name.clone()))
            .collect();
        for (name, scaling) in self.scalable_targets(cluster, &found).await? {
            if let Some(Some(svc)) = out.get_mut(&name) {
                svc.scaling = Some(scaling);
            }
        }
        Ok(out)
    }

    /// [`Self::describe_services`] without their autoscaling (`scaling` is `None`): one call
    /// per 10 services, for a caller that already knows whether an autoscaler owns the count.
    pub async fn describe_services_only(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<BTreeMap<String, Option<LiveEcsService>>, TenantError> {
        let mut out: BTreeMap<String, Option<LiveEcsService>> =
            names.iter().map(|n| (n.clone(), None)).collect();
        for batch in names.chunks(DESCRIBE_SERVICES_BATCH) {
            let resp = self
                .ecs
                .describe_services()
                .cluster(cluster)
                .set_services(Some(batch.to_vec()))
                .include(aws_sdk_ecs::types::ServiceField::Tags)
                .send()
                .await;
            let resp = match resp {
                Ok(r) => r,
                // A cluster that does not exist means none of its services do.
                Err(e) if e.as_service_error().is_some_and(aws_sdk_ecs::operation::describe_services::DescribeServicesError::is_cluster_not_found_exception) => continue,
                Err(e) => return Err(self.fail(describe("ecs:DescribeServices", &self.role, &e))),
            };
            for s in resp.services.unwrap_or_default() {
                let name = s.service_name.clone().unwrap_or_default();
                if s.status.as_deref() != Some("ACTIVE") && s.status.as_deref() != Some("DRAINING")
                {
                    continue;
                }
                let primary = s
                    .deployments
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .find(|d| d.status.as_deref() == Some("PRIMARY"));
                for arn in [&s.service_arn, &s.task_definition] {
                    self.own("ecs:DescribeServices", arn.as_deref().unwrap_or_default())?;
                }
                let live = LiveEcsService {
                    name: name.clone(),
                    arn: s.service_arn.clone().unwrap_or_default(),
                    status: s.status.clone().unwrap_or_default(),
                    task_definition_arn: s.task_definition.clone().unwrap_or_default(),
                    desired_count: u32::try_from(s.desired_count).unwrap_or(0),
                    running_count: u32::try_from(s.running_count).unwrap_or(0),
                    pending_count: u32::try_from(s.pending_count).unwrap_or(0),
                    rollout_state: primary
                        .and_then(|d| d.rollout_state.as_ref())
                        .map(|r| r.as_str().to_owned()),
                    rollout_reason: primary.and_then(|d| d.rollout_state_reason.clone()),
                    deployed_at: primary
                        .and_then(|d| d.created_at)
                        .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
                    tags: tags(s.tags.as_deref().unwrap_or_default()),
                    scaling: None,
                    launch: Launch::of(&s),
                };
                out.insert(name, Some(live));
            }
        }
        Ok(out)
    }

    /// DescribeScalableTargets for the services (50 resource ids a call), by service name:
    /// a service with a target has its count owned by the autoscaler. No call without services.
    async fn scalable_targets(
        &self,
        cluster: &str,
        services: &[String],
    ) -> Result<BTreeMap<String, crate::plan::Scaling>, TenantError> {
        use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
        let mut out = BTreeMap::new();
        if services.is_empty() {
            return Ok(out);
        }
        let client = aws_sdk_applicationautoscaling::Client::from_conf(
            aws_sdk_applicationautoscaling::config::Builder::from(&self.cfg)
                .interceptor(self.calls.clone())
                .build(),
        );
        let prefix = format!("service/{cluster}/");
        for batch in services.chunks(SCALABLE_TARGETS_BATCH) {
            let ids: Vec<String> = batch.iter().map(|s| format!("{prefix}{s}")).collect();
            let resp = client
                .describe_scalable_targets()
                .service_namespace(ServiceNamespace::Ecs)
                .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                .set_resource_ids(Some(ids))
                .send()
                .await
                .map_err(|e| {
                    self.fail(describe(
                        "application-autoscaling:DescribeScalableTargets",
                        &self.role,
                        &e,
                    ))
                })?;
            for t in resp.scalable_targets.unwrap_or_default() {
                if let Some(name) = t.resource_id.strip_prefix(&prefix) {
                    let scaling = crate::plan::Scaling {
                        min: u32::try_from(t.min_capacity).unwrap_or(0),
                        max: u32::try_from(t.max_capacity).unwrap_or(0),
                    };
                    out.insert(name.to_owned(), scaling);
                }
            }
        }
        Ok(out)
    }

    /// One registered task definition, converted to stamp's model for comparison.
    pub async fn describe_task_definition(
        &self,
        arn: &str,
    ) -> Result<LiveTaskDefinition, TenantError> {
        let out = self
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(|e| self.fail(describe("ecs:DescribeTaskDefinition", &self.role, &e)))?;
        let mut td = self.live_task_definition(out)?.ok_or_else(|| {
            self.fail(format!(
                "ecs:DescribeTaskDefinition returned no task definition for {arn}"
            ))
        })?;
        if td.arn.is_empty() {
            arn.clone_into(&mut td.arn);
        }
        Ok(td)
    }

    /// The newest active revision of `family` (DescribeTaskDefinition given the family alone),
    /// `None` if the family has none. One call: deploy's first look asks it, so that a revision
    /// an interrupted run registered is used rather than registered again, and it is what the
    /// service runs after every finished deploy.
    pub async fn latest_revision(
        &self,
        family: &str,
    ) -> Result<Option<LiveTaskDefinition>, TenantError> {
        let out = self
            .ecs
            .describe_task_definition()
            .task_definition(family)
            .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
            .send()
            .await;
        match out {
            Ok(out) => self.live_task_definition(out),
            // ECS answers a family without active revisions with a ClientException; for a
            // family name stamp rendered itself that is the only cause it can have.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_client_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.fail(describe("ecs:DescribeTaskDefinition", &self.role, &e))),
        }
    }

    /// A DescribeTaskDefinition answer in stamp's model, once its ARN is known to be in the
    /// tenant's account.
    fn live_task_definition(
        &self,
        out: aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput,
    ) -> Result<Option<LiveTaskDefinition>, TenantError> {
        let Some(td) = out.task_definition else {
            return Ok(None);
        };
        let arn = td.task_definition_arn.clone().unwrap_or_default();
        self.own("ecs:DescribeTaskDefinition", &arn)?;
        let tag_list = out.tags.unwrap_or_default();
        Ok(Some(LiveTaskDefinition {
            arn,
            revision: td.revision,
            registered_at: td
                .registered_at
                .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
            task_definition: super::convert::from_sdk(&td, &tag_list),
            tags: tags(&tag_list),
        }))
    }

    /// ARNs of a family's active revisions, newest first, at most `limit`. `familyPrefix` is a
    /// prefix match, so other families are filtered out; the order is made here from the
    /// revision numbers rather than trusted to `sort=DESC` (which moto ignores).
    pub async fn list_revisions(
        &self,
        family: &str,
        limit: usize,
    ) -> Result<Vec<String>, TenantError> {
        let mut found: Vec<(i32, String)> = Vec::new();
        let mut pages = self
            .ecs
            .list_task_definitions()
            .family_prefix(family)
            .sort(aws_sdk_ecs::types::SortOrder::Desc)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| self.fail(describe("ecs:ListTaskDefinitions", &self.role, &e)))?;
            for arn in page.task_definition_arns.unwrap_or_default() {
                self.own("ecs:ListTaskDefinitions", &arn)?;
                if family_of(&arn) == Some(family) {
                    let rev = arn
                        .rsplit(':')
                        .next()
                        .and_then(|r| r.parse().ok())
                        .unwrap_or(0);
                    found.push((rev, arn));
                }
            }
        }
        found.sort_by_key(|(rev, _)| std::cmp::Reverse(*rev));
        Ok(found.into_iter().take(limit).map(|(_, arn)| arn).collect())
    }
}

fn tags(list: &[aws_sdk_ecs::types::Tag]) -> BTreeMap<String, String> {
    list.iter()
        .filter_map(|t| Some((t.key.clone()?, t.value.clone().unwrap_or_default())))
        .collect()
}

/// `shop-api` from `arn:aws:ecs:…:task-definition/shop-api:7` (or from `shop-api:7`).
pub fn family_of(task_definition: &str) -> Option<&str> {
    let last = task_definition.rsplit('/').next()?;
    last.rsplit_once(':').map(|(f, _)| f)
}
