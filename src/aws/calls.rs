//! Counts every AWS request stamp sends, per service and operation, and every retry.
//!
//! An SDK interceptor shared by all clients of a run: the plan's `api_calls` and `--stats`
//! come from here, so the call budget of DESIGN §3 is measured, not assumed. A [`child`]
//! counter counts into its own totals and its parent's: deploy gives each tenant one, so the
//! summary can say which tenant's calls were retried. [`scoped`] counts the calls one future
//! makes (a service rolling out next to its tenant's other services, on the same clients):
//! the rollout engine's per-unit retry attribution.
//!
//! [`child`]: CallCounter::child

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
    /// Counters this one also counts into (its parent, the parent's parent…).
    parents: Vec<Arc<Mutex<Counts>>>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// `"ssm:GetParameters" -> n`, one per SDK call.
    pub operations: BTreeMap<String, u64>,
    /// Attempts beyond the first of each call: the SDK's retries, and the attempts stamp makes
    /// itself for writes it keeps out of SDK retries (RegisterTaskDefinition).
    pub retries: BTreeMap<String, u64>,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.operations.values().sum()
    }

    pub fn get(&self, op: &str) -> u64 {
        self.operations.get(op).copied().unwrap_or(0)
    }

    pub fn total_retries(&self) -> u64 {
        self.retries.values().sum()
    }

    /// What happened since `before` (an earlier snapshot of the same counter).
    pub fn since(&self, before: &Counts) -> Counts {
        let diff = |now: &BTreeMap<String, u64>, then: &BTreeMap<String, u64>| {
            now.iter()
                .filter_map(|(k, n)| {
                    let d = n.saturating_sub(then.get(k).copied().unwrap_or(0));
                    (d > 0).then(|| (k.clone(), d))
                })
                .collect()
        };
        Counts {
            operations: diff(&self.operations, &before.operations),
            retries: diff(&self.retries, &before.retries),
        }
    }
}

/// The `--stats` text: every operation with its count, the total and the retries.
impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AWS calls ({} in all, {} retries):",
            self.total(),
            self.total_retries()
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

    /// A counter of its own whose counts also reach this one's.
    pub fn child(&self) -> Self {
        let mut parents = vec![self.inner.clone()];
        parents.extend(self.parents.iter().cloned());
        Self {
            inner: Arc::default(),
            parents,
        }
    }

    /// An attempt stamp makes itself after a failed call of `op` (`"ecs:RegisterTaskDefinition"`).
    pub fn record_retry(&self, op: &str) {
        self.add(op, true);
    }

    fn bump(&self, cfg: &ConfigBag, retry: bool) {
        let Some(meta) = cfg.load::<Metadata>() else {
            return;
        };
        let key = format!("{}:{}", short_service(meta.service()), meta.name());
        self.add(&key, retry);
    }

    fn add(&self, key: &str, retry: bool) {
        let unit = UNIT.try_with(Clone::clone).ok();
        for counts in std::iter::once(&self.inner)
            .chain(&self.parents)
            .chain(unit.as_ref())
        {
            if let Ok(mut c) = counts.lock() {
                let map = if retry {
                    &mut c.retries
                } else {
                    &mut c.operations
                };
                *map.entry(key.to_owned()).or_insert(0) += 1;
            }
        }
    }
}

tokio::task_local! {
    /// The counter of the unit whose future is being polled, if any (see [`scoped`]).
    static UNIT: Arc<Mutex<Counts>>;
}

/// Runs `fut` and returns what it returned with the calls it made: counted while it is polled,
/// so units running side by side on one tenant's clients each get their own.
pub async fn scoped<F: std::future::Future>(fut: F) -> (F::Output, Counts) {
    let counts: Arc<Mutex<Counts>> = Arc::default();
    let out = UNIT.scope(counts.clone(), fut).await;
    let counted = counts.lock().map(|c| c.clone()).unwrap_or_default();
    (out, counted)
}

/// `"ecs"` rather than the SDK's `"ECS"`, `"ssm"` rather than `"SSM"`.
fn short_service(s: &str) -> String {
    match s {
        "CloudFormation" => "cloudformation".to_owned(),
        // The IAM action prefixes, as the policies name them.
        "Application Auto Scaling" => "application-autoscaling".to_owned(),
        "CloudWatch Logs" => "logs".to_owned(),
        "Secrets Manager" => "secretsmanager".to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_counts_into_itself_and_its_parents_only() {
        let run = CallCounter::default();
        let a = run.child();
        let b = run.child();
        let a1 = a.child();
        a1.add("ecs:UpdateService", false);
        a1.record_retry("ecs:UpdateService");
        b.add("ssm:GetParameters", false);
        assert_eq!(a1.snapshot().get("ecs:UpdateService"), 1);
        assert_eq!(a.snapshot().total_retries(), 1);
        assert_eq!(b.snapshot().total_retries(), 0);
        assert_eq!(run.snapshot().total(), 2);
        assert_eq!(run.snapshot().total_retries(), 1);
    }

    #[test]
    fn since_keeps_only_what_grew() {
        let c = CallCounter::default();
        c.add("ecs:DescribeServices", false);
        let before = c.snapshot();
        c.add("ecs:DescribeServices", false);
        c.record_retry("ecs:DescribeServices");
        let d = c.snapshot().since(&before);
        assert_eq!(d.get("ecs:DescribeServices"), 1);
        assert_eq!(d.retries.get("ecs:DescribeServices"), Some(&1));
        assert_eq!(c.snapshot().since(&c.snapshot()), Counts::default());
    }
}
