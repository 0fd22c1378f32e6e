//! Precedence and provenance: merges a service's environment layers and vars into one
//! resolved set, each value carrying where it came from and what it overrode.
//!
//! Pure: values from SSM and CloudFormation arrive in a [`Lookups`] filled beforehand (by the
//! AWS edge, or with placeholders offline). A secret's value is never here — only its ARN.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::dsl::model::{EnvBlock, SmRef, VarBlock};
use crate::dsl::{Layer, Loc, Service, Tenant, ValueSpec, VarValue};

/// Where a resolved value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Literal,
    Ssm,
    Secret,
    /// A Secrets Manager secret (by ARN, perhaps one JSON key of it).
    #[serde(rename = "secretsmanager")]
    SecretsManager,
    CfnOutput,
    Template,
}

/// One environment variable after precedence: either a plain value or a secret reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolved {
    pub name: String,
    pub kind: Kind,
    /// `None` for secrets: stamp never has a secret's value.
    pub value: Option<String>,
    /// For secrets: the parameter ARN that ECS reads at task start.
    pub value_from: Option<String>,
    pub layer: Layer,
    /// `file:line` for DSL values, the template file for template values.
    pub source: String,
    /// `ssm:/name@version`, `secret:/name`, `cfn_output:stack.Key`, `ssm_path:/p/ → /p/x@3`.
    pub reference: Option<String>,
    /// What this value replaced, nearest layer first.
    pub overrides: Vec<Shadowed>,
    /// The SSM parameter (or Secrets Manager secret, as written) the value or secret reference
    /// comes from, for `stamp params`.
    #[serde(skip)]
    pub parameter: Option<String>,
}

impl Resolved {
    pub fn is_secret(&self) -> bool {
        matches!(self.kind, Kind::Secret | Kind::SecretsManager)
    }
}

/// A value that lost to a higher layer (secrets still show no value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shadowed {
    pub kind: Kind,
    pub value: Option<String>,
    pub layer: Layer,
    pub source: String,
}

/// A variable removed with `{ unset = true }`, with what it removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Removed {
    pub name: String,
    pub layer: Layer,
    pub source: String,
    pub overrides: Vec<Shadowed>,
}

/// An `env_from` import, listed so `explain` can show it even when offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Import {
    pub ssm_path: String,
    pub layer: Layer,
    pub source: String,
    /// `false` offline: the names under the path are only known to the account.
    pub resolved: bool,
}

/// A parameter read from SSM (never a SecureString's value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub value: String,
    pub version: u64,
    /// A StringList rather than a String (what `stamp params` shows as its type).
    pub list: bool,
}

/// One parameter found under an `env_from` path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathParam {
    pub name: String,
    pub version: u64,
    /// `None` for a SecureString: it becomes a `secrets` entry by ARN.
    pub value: Option<String>,
}

/// A Secrets Manager secret as DescribeSecret describes it (never its value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmSecret {
    pub arn: String,
    pub name: String,
    /// The version ids carrying `AWSCURRENT`, for `stamp params` (not in the digest: ECS reads
    /// the secret at task start, so a rotation changes no task definition).
    pub current_version: Option<String>,
}

/// What the outside world answered, for one tenant. Offline, everything is a placeholder.
#[derive(Debug, Clone, Default)]
pub struct Lookups {
    pub offline: bool,
    /// Keyed by (name, pinned version).
    pub ssm: HashMap<(String, Option<u64>), Param>,
    pub paths: HashMap<String, Vec<PathParam>>,
    /// Current version of each secret, from DescribeParameters (never the value).
    pub secret_versions: HashMap<String, u64>,
    /// Secrets Manager secrets, keyed by the name or ARN as written (DescribeSecret only).
    pub secretsmanager: HashMap<String, SmSecret>,
    pub stack_outputs: HashMap<String, BTreeMap<String, String>>,
}

impl Lookups {
    pub fn offline() -> Self {
        Self {
            offline: true,
            ..Self::default()
        }
    }
}

/// Everything a tenant's files reference outside git, with the first place each is written.
#[derive(Debug, Clone, Default)]
pub struct References {
    pub ssm: BTreeMap<(String, Option<u64>), Loc>,
    pub secrets: BTreeMap<String, Loc>,
    /// Secrets Manager secrets by the name or ARN as written.
    pub secretsmanager: BTreeMap<String, Loc>,
    pub paths: BTreeMap<String, Loc>,
    /// Keyed by the name written in `cfn_output = "STACK.Key"`.
    pub stacks: BTreeMap<String, Loc>,
    /// `[infra.STACK]` keys to real stack names; a STACK not here is a stack's own name.
    pub stack_names: BTreeMap<String, String>,
}

impl References {
    /// Records what one value reads (the first place it is written wins, for the errors).
    pub fn note(&mut self, spec: &ValueSpec, at: &Loc) {
        let at = || at.clone();
        match spec {
            ValueSpec::Ssm { name, version } => {
                self.ssm.entry((name.clone(), *version)).or_insert_with(at);
            }
            ValueSpec::Secret { name } => {
                self.secrets.entry(name.clone()).or_insert_with(at);
            }
            ValueSpec::SecretsManager(sm) => {
                self.secretsmanager
                    .entry(sm.secret.clone())
                    .or_insert_with(at);
            }
            ValueSpec::CfnOutput { stack, .. } => {
                self.stacks.entry(stack.clone()).or_insert_with(at);
            }
            ValueSpec::Literal { .. } | ValueSpec::Unset => {}
        }
    }

    /// The CloudFormation stack that `cfn_output = "STACK.Key"` reads.
    pub fn stack_name<'a>(&'a self, stack: &'a str) -> &'a str {
        self.stack_names.get(stack).map_or(stack, String::as_str)
    }
}

/// Lists what a tenant reads from SSM and CloudFormation, so the edge can fetch it in batches.
pub fn references(tenant: &Tenant) -> References {
    let mut r = References {
        stack_names: tenant.stack_names(),
        ..References::default()
    };
    let mut seen_blocks: BTreeSet<*const EnvBlock> = BTreeSet::new();
    let mut seen_vars: BTreeSet<*const VarBlock> = BTreeSet::new();
    for s in &tenant.services {
        for l in &s.env {
            if !seen_blocks.insert(std::sync::Arc::as_ptr(&l.block)) {
                continue;
            }
            if let Some(p) = &l.block.import {
                r.paths
                    .entry(p.value.clone())
                    .or_insert_with(|| p.at.clone());
            }
            for e in &l.block.vars {
                r.note(&e.spec, &e.at);
            }
        }
        for v in s.vars.iter().chain(&tenant.vars) {
            if !seen_vars.insert(std::sync::Arc::as_ptr(v)) {
                continue;
            }
            for e in &v.0 {
                match &e.value {
                    VarValue::Ssm { name, version } => {
                        r.ssm
                            .entry((name.clone(), *version))
                            .or_insert_with(|| e.at.clone());
                    }
                    VarValue::CfnOutput { stack, .. } => {
                        r.stacks
                            .entry(stack.clone())
                            .or_insert_with(|| e.at.clone());
                    }
                    VarValue::Json(_) => {}
                }
            }
        }
    }
    r
}

/// A reference the account could not satisfy, and the tenant file line that wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub unmet: Unmet,
    pub at: Loc,
}

/// What an account lacks. The wording (what, and what to do) lives in [`Missing`]'s `Display`
/// and [`Missing::hint`], and nowhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unmet {
    /// `{ ssm = NAME }`, pinned to `version` or not: no such parameter (or version).
    Parameter { name: String, version: Option<u64> },
    /// `{ ssm = NAME }` naming a SecureString, whose value would land in plain text.
    SecretAsPlain { name: String },
    /// `{ secret = NAME }` naming a plain parameter.
    PlainAsSecret { name: String },
    /// `{ secret = NAME }`: no such parameter.
    Secret { name: String },
    /// `{ secretsmanager = NAME }` or `{ secret = ARN }`: no such secret (or it is being deleted).
    SmSecret { secret: String, deleted: bool },
    /// `env_from = { ssm_path = PATH }`: nothing under the path.
    EmptyPath { path: String },
    /// `cfn_output = "STACK.Key"`: no such stack; `infra` when STACK is an `[infra.KEY]`.
    Stack { name: String, infra: Option<String> },
    /// `cfn_output = "STACK.Key"`: the stack has no such output.
    Output { stack: String, output: String },
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.unmet {
            Unmet::Parameter {
                name,
                version: None,
            } => write!(
                f,
                "SSM parameter `{name}` does not exist in the tenant's account"
            ),
            Unmet::Parameter {
                name,
                version: Some(v),
            } => write!(
                f,
                "SSM parameter `{name}` has no version {v} in the tenant's account"
            ),
            Unmet::SecretAsPlain { name } => write!(
                f,
                "`{name}` is a SecureString, but `ssm` would put its value in plain text"
            ),
            Unmet::PlainAsSecret { name } => write!(f, "`{name}` is not a SecureString"),
            Unmet::Secret { name } => {
                write!(f, "secret `{name}` does not exist in the tenant's account")
            }
            Unmet::SmSecret {
                secret,
                deleted: false,
            } => write!(
                f,
                "Secrets Manager secret `{secret}` does not exist in the tenant's account"
            ),
            Unmet::SmSecret {
                secret,
                deleted: true,
            } => write!(
                f,
                "Secrets Manager secret `{secret}` is scheduled for deletion in the tenant's account"
            ),
            Unmet::EmptyPath { path } => write!(
                f,
                "no parameters exist under `{path}` in the tenant's account"
            ),
            Unmet::Stack { name, infra: None } => {
                write!(f, "stack `{name}` does not exist in the tenant's account")
            }
            Unmet::Stack {
                name,
                infra: Some(key),
            } => write!(
                f,
                "stack `{name}` ([infra.{key}]) does not exist in the tenant's account"
            ),
            Unmet::Output { stack, output } => {
                write!(f, "stack `{stack}` has no output `{output}`")
            }
        }
    }
}

/// Every reference that did not resolve, with where it is written, as one line (a summary row,
/// a tenant's error).
pub fn missing_line(missing: &[Missing]) -> String {
    missing
        .iter()
        .map(|m| format!("{m} ({})", m.at))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Missing {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match &self.unmet {
            Unmet::Parameter { version: None, .. }
            | Unmet::Secret { .. }
            | Unmet::SmSecret { deleted: false, .. } => {
                "create it in the tenant's account, or correct the name".to_owned()
            }
            Unmet::SmSecret { secret, deleted: true } => format!(
                "restore it (`aws secretsmanager restore-secret --secret-id {secret}`), or reference another secret"
            ),
            Unmet::Parameter {
                name,
                version: Some(_),
            } => format!("pin a version that exists (`aws ssm get-parameter-history --name {name}` lists them), or drop `version`"),
            Unmet::SecretAsPlain { name } => {
                format!("write `{{ secret = \"{name}\" }}` so ECS reads it at task start")
            }
            Unmet::PlainAsSecret { name } => format!(
                "a plain parameter is written `{{ ssm = \"{name}\" }}`; a secret must be stored as a SecureString"
            ),
            Unmet::EmptyPath { .. } => {
                "create parameters under the path in the tenant's account, or remove this `env_from`".to_owned()
            }
            Unmet::Stack { infra: Some(_), .. } => {
                "`stamp infra apply` creates it".to_owned()
            }
            Unmet::Stack { infra: None, .. } => {
                "create the stack in the tenant's account, or correct the name".to_owned()
            }
            Unmet::Output { .. } => {
                "a stack's outputs are the `Outputs` of its template; add it there, or correct the name".to_owned()
            }
        }
    }

    /// The written text the problem is about: where the caret goes.
    fn focus(&self) -> &str {
        match &self.unmet {
            Unmet::Parameter { name, .. }
            | Unmet::SecretAsPlain { name }
            | Unmet::PlainAsSecret { name }
            | Unmet::Secret { name }
            | Unmet::SmSecret { secret: name, .. } => name,
            Unmet::EmptyPath { path } => path,
            Unmet::Stack { name, infra } => infra.as_deref().unwrap_or(name),
            Unmet::Output { output, .. } => output,
        }
    }

    /// The problem as reported: at the line that wrote the reference, in the tenant's account.
    pub fn diagnostic(&self, tenant: &Tenant) -> crate::dsl::Diagnostic {
        crate::dsl::Diagnostic::at(&self.at, self.to_string(), Some(self.hint()))
            .focus(self.focus())
            .account(&tenant.name, &tenant.account_id)
    }
}

/// The DSL side of a service's environment (layers 2..=5), merged, before the template's own
/// entries (layer 1) are put underneath by the renderer.
#[derive(Debug, Clone, Default)]
pub struct ServiceEnv {
    pub vars: BTreeMap<String, Resolved>,
    pub removed: BTreeMap<String, Removed>,
    pub imports: Vec<Import>,
}

impl ServiceEnv {
    /// Puts template entries underneath: a DSL value or an `unset` wins over them.
    pub fn with_template(
        &self,
        template: impl IntoIterator<Item = Resolved>,
    ) -> (Vec<Resolved>, Vec<Removed>) {
        let mut merged: BTreeMap<String, Resolved> = BTreeMap::new();
        let mut removed: BTreeMap<String, Removed> = self.removed.clone();
        for t in template {
            merged.insert(t.name.clone(), t);
        }
        for (name, r) in &mut removed {
            if let Some(lost) = merged.remove(name) {
                r.overrides.push(shadow(&lost));
            }
        }
        for (name, v) in &self.vars {
            let mut v = v.clone();
            if let Some(lost) = merged.remove(name) {
                v.overrides.push(shadow(&lost));
            }
            merged.insert(name.clone(), v);
        }
        (
            merged.into_values().collect(),
            removed.into_values().collect(),
        )
    }
}

fn shadow(r: &Resolved) -> Shadowed {
    Shadowed {
        kind: r.kind,
        value: r.value.clone(),
        layer: r.layer,
        source: r.source.clone(),
    }
}

/// The ARN ECS needs in `valueFrom`; built, not fetched, so the offline render matches the live one.
pub fn parameter_arn(region: &str, account_id: &str, name: &str) -> String {
    let partition = partition(region);
    format!(
        "arn:{partition}:ssm:{region}:{account_id}:parameter/{}",
        name.trim_start_matches('/')
    )
}

/// A Secrets Manager secret's ARN: as written, as DescribeSecret answered, or (offline, for a
/// name) the partial ARN without the random suffix, which ECS accepts in the same region.
pub fn sm_arn(tenant: &Tenant, sm: &SmRef, lookups: &Lookups) -> String {
    if let Some(found) = lookups.secretsmanager.get(&sm.secret) {
        return found.arn.clone();
    }
    if sm.secret.starts_with("arn:") {
        return sm.secret.clone();
    }
    format!(
        "arn:{}:secretsmanager:{}:{}:secret:{}",
        partition(&tenant.region),
        tenant.region,
        tenant.account_id,
        sm.secret
    )
}

fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// `env_from` naming: the last path segment, upper-cased, `-` and `.` as `_`.
pub fn import_name(parameter: &str) -> String {
    parameter
        .rsplit('/')
        .next()
        .unwrap_or(parameter)
        .chars()
        .map(|c| {
            if c == '-' || c == '.' {
                '_'
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}

/// Merges layers 2..=5 of one service, in the one fixed order of DESIGN §2.
pub fn service_env(
    tenant: &Tenant,
    service: &Service,
    lookups: &Lookups,
    missing: &mut Vec<Missing>,
) -> ServiceEnv {
    let mut out = ServiceEnv::default();
    for layer in &service.env {
        let block = &layer.block;
        if let Some(path) = &block.import {
            out.imports.push(Import {
                ssm_path: path.value.clone(),
                layer: layer.layer,
                source: path.at.to_string(),
                resolved: !lookups.offline,
            });
            if let Some(params) = lookups.paths.get(&path.value) {
                let mut params: Vec<&PathParam> = params.iter().collect();
                params.sort_by(|a, b| a.name.cmp(&b.name));
                for p in params {
                    let name = import_name(&p.name);
                    let (kind, value, value_from) = match &p.value {
                        Some(v) => (Kind::Ssm, Some(v.clone()), None),
                        None => (
                            Kind::Secret,
                            None,
                            Some(parameter_arn(&tenant.region, &tenant.account_id, &p.name)),
                        ),
                    };
                    let r = Resolved {
                        name: name.clone(),
                        kind,
                        value,
                        value_from,
                        layer: layer.layer,
                        source: path.at.to_string(),
                        reference: Some(format!(
                            "ssm_path:{} → {}@{}",
                            path.value, p.name, p.version
                        )),
                        overrides: Vec::new(),
                        parameter: Some(p.name.clone()),
                    };
                    set(&mut out, r);
                }
            } else if !lookups.offline {
                missing.push(Missing {
                    unmet: Unmet::EmptyPath {
                        path: path.value.clone(),
                    },
                    at: path.at.clone(),
                });
            }
        }
        for e in &block.vars {
            let source = e.at.to_string();
            let (kind, value, value_from, reference) = match &e.spec {
                ValueSpec::Unset => {
                    let mut rem = Removed {
                        name: e.name.clone(),
                        layer: layer.layer,
                        source,
                        overrides: Vec::new(),
                    };
                    if let Some(prev) = out.vars.remove(&e.name) {
                        rem.overrides.push(shadow(&prev));
                        rem.overrides.extend(prev.overrides);
                    } else if let Some(earlier) = out.removed.remove(&e.name) {
                        // An unset above an unset keeps the earlier one, and what that one
                        // removed, in the history, as a value set above an unset does.
                        rem.overrides.push(unset_marker(&earlier));
                        rem.overrides.extend(earlier.overrides);
                    }
                    out.removed.insert(e.name.clone(), rem);
                    continue;
                }
                ValueSpec::Literal { value } => (Kind::Literal, Some(value.clone()), None, None),
                ValueSpec::Ssm { name, version } => {
                    let (value, reference) = ssm_value(name, *version, lookups, &e.at, missing);
                    (Kind::Ssm, Some(value), None, Some(reference))
                }
                ValueSpec::Secret { name } => {
                    let arn = parameter_arn(&tenant.region, &tenant.account_id, name);
                    let reference = match lookups.secret_versions.get(name) {
                        Some(v) => format!("secret:{name}@{v}"),
                        None => format!("secret:{name}"),
                    };
                    (Kind::Secret, None, Some(arn), Some(reference))
                }
                ValueSpec::SecretsManager(sm) => {
                    let arn = sm_arn(tenant, sm, lookups);
                    let value_from = format!("{arn}{}", sm.value_from_tail());
                    (
                        Kind::SecretsManager,
                        None,
                        Some(value_from),
                        Some(sm.reference()),
                    )
                }
                ValueSpec::CfnOutput { stack, output } => {
                    let value = cfn_value(stack, output, lookups, &e.at, missing);
                    (
                        Kind::CfnOutput,
                        Some(value),
                        None,
                        Some(format!("cfn_output:{stack}.{output}")),
                    )
                }
            };
            let parameter = match &e.spec {
                ValueSpec::Ssm { name, .. } | ValueSpec::Secret { name } => Some(name.clone()),
                ValueSpec::SecretsManager(sm) => Some(sm.secret.clone()),
                _ => None,
            };
            set(
                &mut out,
                Resolved {
                    name: e.name.clone(),
                    kind,
                    value,
                    value_from,
                    layer: layer.layer,
                    source,
                    reference,
                    overrides: Vec::new(),
                    parameter,
                },
            );
        }
    }
    out
}

fn set(out: &mut ServiceEnv, mut r: Resolved) {
    if let Some(prev) = out.vars.remove(&r.name) {
        r.overrides.push(shadow(&prev));
        r.overrides.extend(prev.overrides);
    } else if let Some(rem) = out.removed.remove(&r.name) {
        // A value set above an `unset` brings the variable back; the removal is history.
        r.overrides.push(unset_marker(&rem));
        r.overrides.extend(rem.overrides);
    }
    out.vars.insert(r.name.clone(), r);
}

/// An `unset` as an entry of a later definition's history.
fn unset_marker(rem: &Removed) -> Shadowed {
    Shadowed {
        kind: Kind::Literal,
        value: None,
        layer: rem.layer,
        source: format!("{} (unset)", rem.source),
    }
}

pub(crate) fn ssm_value(
    name: &str,
    version: Option<u64>,
    lookups: &Lookups,
    at: &Loc,
    missing: &mut Vec<Missing>,
) -> (String, String) {
    let selector = version.map_or_else(|| name.to_owned(), |v| format!("{name}:{v}"));
    if lookups.offline {
        return (format!("<ssm:{selector}>"), format!("ssm:{selector}"));
    }
    match lookups.ssm.get(&(name.to_owned(), version)) {
        Some(p) => (p.value.clone(), format!("ssm:{}@{}", p.name, p.version)),
        None => {
            missing.push(Missing {
                unmet: Unmet::Parameter {
                    name: name.to_owned(),
                    version,
                },
                at: at.clone(),
            });
            (String::new(), format!("ssm:{selector}"))
        }
    }
}

pub(crate) fn cfn_value(
    stack: &str,
    output: &str,
    lookups: &Lookups,
    at: &Loc,
    missing: &mut Vec<Missing>,
) -> String {
    if lookups.offline {
        return format!("<cfn_output:{stack}.{output}>");
    }
    match lookups.stack_outputs.get(stack).and_then(|o| o.get(output)) {
        Some(v) => v.clone(),
        None => {
            missing.push(Missing {
                unmet: Unmet::Output {
                    stack: stack.to_owned(),
                    output: output.to_owned(),
                },
                at: at.clone(),
            });
            String::new()
        }
    }
}

/// A template value with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedVar {
    pub value: serde_json::Value,
    pub source: String,
}

/// Merges `vars` blocks (lowest first) into one map; later blocks replace whole top-level keys.
pub fn merge_vars<'a>(
    blocks: impl IntoIterator<Item = &'a VarBlock>,
    lookups: &Lookups,
    missing: &mut Vec<Missing>,
) -> BTreeMap<String, ResolvedVar> {
    let mut out = BTreeMap::new();
    for b in blocks {
        for e in &b.0 {
            let value = match &e.value {
                VarValue::Json(j) => j.clone(),
                VarValue::Ssm { name, version } => {
                    serde_json::Value::String(ssm_value(name, *version, lookups, &e.at, missing).0)
                }
                VarValue::CfnOutput { stack, output } => {
                    serde_json::Value::String(cfn_value(stack, output, lookups, &e.at, missing))
                }
            };
            out.insert(
                e.name.clone(),
                ResolvedVar {
                    value,
                    source: e.at.to_string(),
                },
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_names_follow_the_design_rule() {
        assert_eq!(import_name("/shop/api/rate-limit"), "RATE_LIMIT");
        assert_eq!(import_name("/shop/common/otel.endpoint"), "OTEL_ENDPOINT");
        assert_eq!(import_name("/shop/api/Session_TTL"), "SESSION_TTL");
    }

    #[test]
    fn parameter_arns_use_the_partition_of_the_region() {
        assert_eq!(
            parameter_arn("ap-northeast-1", "111111111111", "/shop/acme/db"),
            "arn:aws:ssm:ap-northeast-1:111111111111:parameter/shop/acme/db"
        );
        assert_eq!(
            parameter_arn("cn-north-1", "111111111111", "/x"),
            "arn:aws-cn:ssm:cn-north-1:111111111111:parameter/x"
        );
        assert_eq!(
            parameter_arn("us-gov-west-1", "111111111111", "/x"),
            "arn:aws-us-gov:ssm:us-gov-west-1:111111111111:parameter/x"
        );
    }
}
