//! Counts every AWS request stamp sends, per service and operation, and every retry.
//!
//! An SDK interceptor shared by all clients of a run: the plan's `api_calls` and `--stats`
//! come from here, so the call budget of DESIGN §3 is measured, not assumed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde::Serialize;

/// Operations (one per SDK call) and attempts (one per HTTP request, retries included).
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    inner: Arc<Mutex<Counts>>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// `"ssm:GetParameters" -> n`, one per SDK call.
    pub operations: BTreeMap<String, u64>,
    /// HTTP requests beyond the first of each call: the SDK's retries.
    pub retries: BTreeMap<String, u64>,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.operations.values().sum()
    }

    pub fn get(&self, op: &str) -> u64 {
        self.operations.get(op).copied().unwrap_or(0)
    }
}

/// The `--stats` text: every operation with its count, the total and the retries.
impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AWS calls ({} in all, {} retries):",
            self.total(),
            self.retries.values().sum::<u64>()
        )?;
        for (op, n) in &self.operations {
            write!(f, "\n  {op:<36} {n}")?;
            if let Some(r) = self.retries.get(op) {
                write!(f, " (+{r} retried)")?;
            }
        }
        Ok(())
    }
}

impl CallCounter {
    pub fn snapshot(&self) -> Counts {
        self.inner.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn bump(&self, cfg: &ConfigBag, retry: bool) {
        let Some(meta) = cfg.load::<Metadata>() else {
            return;
        };
        let key = format!("{}:{}", short_service(meta.service()), meta.name());
        if let Ok(mut c) = self.inner.lock() {
            let map = if retry {
                &mut c.retries
            } else {
                &mut c.operations
            };
            *map.entry(key).or_insert(0) += 1;
        }
    }
}

/// `"ecs"` rather than the SDK's `"ECS"`, `"ssm"` rather than `"SSM"`.
fn short_service(s: &str) -> String {
    match s {
        "CloudFormation" => "cloudformation".to_owned(),
        other => other.to_ascii_lowercase(),
    }
}

/// Marks an execution whose first attempt has been counted, so later attempts count as retries.
#[derive(Debug, Clone)]
struct Attempted;

impl aws_smithy_types::config_bag::Storable for Attempted {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "stamp::CallCounter"
    }

    // Not `read_before_execution`: for client-level interceptors it runs before the operation's
    // configuration (which names the operation) is in the bag. Serialization happens once per
    // call, after it.
    fn read_before_serialization(
        &self,
        _ctx: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.bump(cfg, false);
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<Attempted>().is_some() {
            self.bump(cfg, true);
        } else {
            cfg.interceptor_state().store_put(Attempted);
        }
        Ok(())
    }
}
