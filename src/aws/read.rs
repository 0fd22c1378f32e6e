//! The read-only client set of one tenant: built from its `inspect_role`, after the account
//! guard, with read operations only.
//!
//! The SDK clients are private fields and this type exposes no method that writes, so a
//! command holding a `TenantReader` has no code path to a write API; the write calls live on
//! the deploying client set alone.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_ssm::types::{ParameterStringFilter, ParameterType};

use super::errors::describe;
use super::session::Session;
use crate::dsl::Tenant;
use crate::resolve::{Lookups, Missing, Param, PathParam, References};

/// Why a tenant's account could not be used. Each names the tenant.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error(
        "tenant `{tenant}`: the role landed in account {actual}, but the tenant's account_id is {expected}; refusing to act (hint: check `account_id` and the role ARN in tenants/{tenant}.toml)"
    )]
    WrongAccount {
        tenant: String,
        expected: String,
        actual: String,
    },
    #[error("tenant `{tenant}`: {detail}")]
    Call { tenant: String, detail: String },
}

pub struct TenantReader {
    tenant: String,
    role: String,
    ssm: aws_sdk_ssm::Client,
    cfn: aws_sdk_cloudformation::Client,
}

/// SSM's batch limits: GetParameters takes 10 names, DescribeParameters filters 50 values.
const GET_PARAMETERS_BATCH: usize = 10;
const DESCRIBE_PARAMETERS_BATCH: usize = 50;

impl TenantReader {
    /// Assumes the tenant's `inspect_role` and checks the account before any other call.
    pub async fn connect(session: &Session, tenant: &Tenant) -> Result<Self, TenantError> {
        let cfg = session.tenant_config(
            &tenant.region,
            &tenant.inspect_role,
            tenant.external_id.as_deref(),
        );
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
            .map_err(|e| err(describe("sts:GetCallerIdentity", &tenant.inspect_role, &e)))?;
        let actual = who.account.unwrap_or_default();
        if actual != tenant.account_id {
            return Err(TenantError::WrongAccount {
                tenant: tenant.name.clone(),
                expected: tenant.account_id.clone(),
                actual,
            });
        }
        let calls = session.calls().clone();
        Ok(Self {
            tenant: tenant.name.clone(),
            role: tenant.inspect_role.clone(),
            ssm: aws_sdk_ssm::Client::from_conf(
                aws_sdk_ssm::config::Builder::from(&cfg)
                    .interceptor(calls.clone())
                    .build(),
            ),
            cfn: aws_sdk_cloudformation::Client::from_conf(
                aws_sdk_cloudformation::config::Builder::from(&cfg)
                    .interceptor(calls)
                    .build(),
            ),
        })
    }

    fn fail(&self, detail: String) -> TenantError {
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
                        missing.push(Missing { what: format!("`{name}` is a SecureString; write `{{ secret = \"{name}\" }}` so ECS reads it at task start"), at: at.clone() });
                    }
                    continue;
                }
                l.ssm.insert(
                    key,
                    Param {
                        name,
                        value: p.value.unwrap_or_default(),
                        version,
                    },
                );
            }
            for bad in out.invalid_parameters.unwrap_or_default() {
                let (name, version) = match bad.rsplit_once(':') {
                    Some((n, v)) if v.parse::<u64>().is_ok() => (n.to_owned(), v.parse().ok()),
                    _ => (bad.clone(), None),
                };
                if let Some(at) = refs.ssm.get(&(name, version)) {
                    missing.push(Missing {
                        what: format!(
                            "SSM parameter `{bad}` does not exist in account {}",
                            "the tenant's"
                        ),
                        at: at.clone(),
                    });
                }
            }
        }

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
                    what: format!("no parameters exist under `{path}`"),
                    at: at.clone(),
                });
            }
            l.paths.insert(path.clone(), found);
        }

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
                        what: format!("`{name}` is not a SecureString; a plain parameter is written `{{ ssm = \"{name}\" }}`"),
                        at: (*at).clone(),
                    }),
                    None => missing.push(Missing { what: format!("secret `{name}` does not exist"), at: (*at).clone() }),
                }
            }
        }

        for (stack, at) in &refs.stacks {
            match self.cfn.describe_stacks().stack_name(stack).send().await {
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
                        what: format!("stack `{stack}` does not exist"),
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
        Ok((l, missing))
    }
}
