//! The tenant DSL as written: one typed [`FileLayer`] per TOML file, every value with its [`Loc`].
//!
//! Nothing here is layered or defaulted yet; `fleet.rs` combines `_defaults.toml` with each
//! tenant file. Keeping the as-written form lets every resolved value name the exact line it
//! came from.

use std::collections::BTreeMap;

use serde::Serialize;

use super::diag::{Loc, Located};

/// Which of the two kinds of tenant file a layer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Defaults,
    Tenant,
}

/// One parsed file of `tenants/`.
#[derive(Debug, Clone)]
pub struct FileLayer {
    pub kind: FileKind,
    /// Tenant name (file stem), or `_defaults`.
    pub name: String,
    pub path: std::sync::Arc<str>,
    pub project: Option<ProjectSection>,
    /// `[notify]`, `_defaults.toml` only.
    pub notify: Option<NotifySection>,
    pub tenant: TenantSection,
    pub schedule: ScheduleSection,
    /// The file's `[env]` table plus its top-level `env_from`.
    pub env: EnvBlock,
    pub services: BTreeMap<String, ServiceSection>,
    /// `[infra.STACK]` tables: per-tenant CloudFormation stacks.
    pub infra: BTreeMap<String, InfraSection>,
    /// Where the file starts: the location for "missing key" problems that have no line.
    pub top: Loc,
}

#[derive(Debug, Clone, Default)]
pub struct ProjectSection {
    pub name: Option<Located<String>>,
    pub image: Option<Located<String>>,
    pub rings: Option<Located<Vec<String>>>,
    pub bake: Option<Located<std::time::Duration>>,
    /// Keys an unknown key most likely misspells: reported as unknown, never again as missing.
    pub misspelt: std::collections::BTreeSet<String>,
}

#[derive(Debug, Clone, Default)]
pub struct NotifySection {
    /// The name of the environment variable that holds the webhook URL at run time.
    pub webhook_env: Option<Located<String>>,
    /// Whether any key was written (a wrong one included): then a missing `webhook_env` is
    /// not reported again.
    pub written: bool,
}

#[derive(Debug, Clone, Default)]
pub struct TenantSection {
    pub account_id: Option<Located<String>>,
    pub region: Option<Located<String>>,
    pub cluster: Option<Located<String>>,
    pub deploy_role: Option<Located<String>>,
    pub inspect_role: Option<Located<String>>,
    pub external_id: Option<Located<String>>,
    pub ring: Option<Located<String>>,
    pub release: Option<Located<String>>,
    /// `ephemeral = true`: only `true` is accepted, so `Some` means the file says so.
    pub ephemeral: Option<Loc>,
    pub vars: VarBlock,
    /// Keys written in the file, valid or not: a key that is there but wrong is reported
    /// once, as wrong, never again as missing.
    pub written: std::collections::BTreeSet<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ScheduleSection {
    pub timezone: Option<Located<String>>,
    /// `Some(empty)` is meaningful: "no windows, always open".
    pub windows: Option<Vec<Located<String>>>,
    pub freezes: Vec<Located<FreezeSpec>>,
}

#[derive(Debug, Clone)]
pub struct FreezeSpec {
    pub from: Located<String>,
    pub to: Located<String>,
    pub reason: String,
}

/// One layer of environment variables: an optional `env_from` import plus explicit keys.
#[derive(Debug, Clone, Default)]
pub struct EnvBlock {
    pub import: Option<Located<String>>,
    pub vars: Vec<EnvEntry>,
}

#[derive(Debug, Clone)]
pub struct EnvEntry {
    pub name: String,
    pub spec: ValueSpec,
    pub at: Loc,
}

/// The value forms of DESIGN §2.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ValueSpec {
    Literal {
        value: String,
    },
    Ssm {
        name: String,
        version: Option<u64>,
    },
    Secret {
        name: String,
    },
    /// `{ secret = "arn:aws:secretsmanager:…" }` or `{ secretsmanager = "name" [, key, version_stage | version_id] }`.
    /// `secret` is the name or ARN as written; DescribeSecret takes either.
    SecretsManager(SmRef),
    CfnOutput {
        stack: String,
        output: String,
    },
    Unset,
}

/// A Secrets Manager reference: the secret, and optionally one JSON key of it and a version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct SmRef {
    pub secret: String,
    pub key: Option<String>,
    pub version_stage: Option<String>,
    pub version_id: Option<String>,
}

impl SmRef {
    /// The tail ECS appends to the ARN in `valueFrom`: `:json-key:version-stage:version-id`,
    /// empty when the whole current secret is meant.
    pub fn value_from_tail(&self) -> String {
        if self.key.is_none() && self.version_stage.is_none() && self.version_id.is_none() {
            return String::new();
        }
        let f = |o: &Option<String>| o.clone().unwrap_or_default();
        format!(
            ":{}:{}:{}",
            f(&self.key),
            f(&self.version_stage),
            f(&self.version_id)
        )
    }

    /// How `explain` and `params` name it: `secretsmanager:NAME#key@stage`.
    pub fn reference(&self) -> String {
        let mut s = format!("secretsmanager:{}", self.secret);
        if let Some(k) = &self.key {
            s.push('#');
            s.push_str(k);
        }
        if let Some(v) = self.version_stage.as_ref().or(self.version_id.as_ref()) {
            s.push('@');
            s.push_str(v);
        }
        s
    }
}

/// Free-form template values (`vars`), layered like `env`.
#[derive(Debug, Clone, Default)]
pub struct VarBlock(pub Vec<VarEntry>);

#[derive(Debug, Clone)]
pub struct VarEntry {
    pub name: String,
    pub value: VarValue,
    pub at: Loc,
}

#[derive(Debug, Clone, PartialEq)]
pub enum VarValue {
    Json(serde_json::Value),
    Ssm { name: String, version: Option<u64> },
    CfnOutput { stack: String, output: String },
}

#[derive(Debug, Clone)]
pub struct ServiceSection {
    pub at: Loc,
    pub template: Option<Located<String>>,
    pub desired_count: Option<Located<DesiredCount>>,
    pub cpu: Option<Located<u32>>,
    pub memory: Option<Located<u32>>,
    pub inject_into: Option<Located<Vec<String>>>,
    pub ecs_service: Option<Located<String>>,
    pub alarms: Option<Located<Vec<String>>>,
    pub before_deploy: Option<Located<HookSpec>>,
    pub env: EnvBlock,
    pub vars: VarBlock,
}

/// `before_deploy` as written: a hook, or `{ unset = true }` removing an inherited one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookSpec {
    Unset,
    Run(Hook),
}

/// A one-off task deploy runs in each tenant with the new revision before the service is
/// updated (a schema migration). Part of the desired state: it is in the digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    /// The container's command override.
    pub command: Vec<String>,
    /// The container it runs in; `None`: the first essential container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// How long it may run before stamp stops it.
    pub timeout_secs: u64,
}

impl Hook {
    /// What `before_deploy` waits when the files give no `timeout`.
    pub const DEFAULT_TIMEOUT_SECS: u64 = 15 * 60;
}

/// One `[infra.STACK]` table as written: a CloudFormation stack of the tenant.
#[derive(Debug, Clone)]
pub struct InfraSection {
    pub at: Loc,
    pub template: Option<Located<String>>,
    /// A pattern such as `"{tenant}-{stack}"`.
    pub stack_name: Option<Located<String>>,
    /// Same value forms as `env`; `unset` removes an inherited parameter.
    pub parameters: Vec<EnvEntry>,
    pub tags: BTreeMap<String, Located<String>>,
    pub capabilities: Option<Located<Vec<String>>>,
}

/// `desired_count`: a number stamp sets on every deploy, or `"auto"`: the count belongs to
/// someone else (Application Auto Scaling, a person) and stamp never sets it. Serialised as the
/// number or the string `"auto"`, so digests of fixed counts are what they were before `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DesiredCount {
    Fixed(u32),
    Auto,
}

impl DesiredCount {
    /// The count stamp sets, if it sets one.
    pub fn fixed(self) -> Option<u32> {
        match self {
            Self::Fixed(n) => Some(n),
            Self::Auto => None,
        }
    }
}

impl std::fmt::Display for DesiredCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fixed(n) => write!(f, "{n}"),
            Self::Auto => f.write_str("auto"),
        }
    }
}

impl serde::Serialize for DesiredCount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Fixed(n) => s.serialize_u32(*n),
            Self::Auto => s.serialize_str("auto"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for DesiredCount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u32),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Self::Fixed(n)),
            Raw::S(s) if s == "auto" => Ok(Self::Auto),
            Raw::S(s) => Err(serde::de::Error::custom(format!(
                "desired_count must be a number or \"auto\", found \"{s}\""
            ))),
        }
    }
}
