//! Per-tenant CloudFormation stacks: their parameters resolved with provenance, checked
//! against the templates' declared `Parameters`, and secrets turned into dynamic references.
//!
//! Pure, like `resolve`: values from SSM and CloudFormation arrive in a [`Lookups`]. A secret's
//! value is never here; CloudFormation resolves `{{resolve:ssm-secure:NAME:VERSION}}` itself.

pub mod template;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use crate::dsl::{Diagnostic, Diagnostics, Fleet, InfraLayer, Stack, Tenant, ValueSpec};
use crate::resolve::{Kind, Lookups, Missing, References, cfn_value, ssm_value};

/// One stack parameter after layering: the exact string CloudFormation receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackParam {
    pub name: String,
    /// For a secret, the dynamic reference (never the value).
    pub value: String,
    pub kind: Kind,
    pub layer: InfraLayer,
    /// `file:line` where the winning value is written.
    pub source: String,
    /// `ssm:/name@3`, `secret:/name@2`, `cfn_output:stack.Key`.
    pub reference: Option<String>,
    /// What this value replaced: the lower layer's source.
    pub overrides: Vec<String>,
}

/// The CloudFormation dynamic reference for a SecureString. The version pins it, so a
/// rotated secret shows as a parameter change in `infra plan` instead of drifting silently.
pub fn secure_reference(name: &str, version: Option<u64>) -> String {
    match version {
        Some(v) => format!("{{{{resolve:ssm-secure:{name}:{v}}}}}"),
        None => format!("{{{{resolve:ssm-secure:{name}}}}}"),
    }
}

/// CloudFormation's dynamic reference to a Secrets Manager secret: CloudFormation reads it when
/// it applies the stack, so the value never passes through stamp.
pub fn sm_dynamic_reference(sm: &crate::dsl::model::SmRef) -> String {
    match sm.value_from_tail().trim_end_matches(':') {
        "" => format!("{{{{resolve:secretsmanager:{}}}}}", sm.secret),
        tail => format!(
            "{{{{resolve:secretsmanager:{}:SecretString{tail}}}}}",
            sm.secret
        ),
    }
}

/// Layers a stack's parameters (defaults, then tenant; `unset` removes an inherited one).
pub fn parameters(stack: &Stack, lookups: &Lookups, missing: &mut Vec<Missing>) -> Vec<StackParam> {
    let mut out: BTreeMap<String, StackParam> = BTreeMap::new();
    for (layer, entries) in &stack.parameters {
        for e in entries.iter() {
            let source = e.at.to_string();
            let (kind, value, reference) = match &e.spec {
                ValueSpec::Unset => {
                    out.remove(&e.name);
                    continue;
                }
                ValueSpec::Literal { value } => (Kind::Literal, value.clone(), None),
                ValueSpec::Ssm { name, version } => {
                    let (v, r) = ssm_value(name, *version, lookups, &e.at, missing);
                    (Kind::Ssm, v, Some(r))
                }
                ValueSpec::Secret { name } => {
                    let version = lookups.secret_versions.get(name).copied();
                    let reference = match version {
                        Some(v) => format!("secret:{name}@{v}"),
                        None => format!("secret:{name}"),
                    };
                    (
                        Kind::Secret,
                        secure_reference(name, version),
                        Some(reference),
                    )
                }
                ValueSpec::SecretsManager(sm) => (
                    Kind::SecretsManager,
                    sm_dynamic_reference(sm),
                    Some(sm.reference()),
                ),
                ValueSpec::CfnOutput { stack, output } => (
                    Kind::CfnOutput,
                    cfn_value(stack, output, lookups, &e.at, missing),
                    Some(format!("cfn_output:{stack}.{output}")),
                ),
            };
            let mut overrides = Vec::new();
            if let Some(prev) = out.remove(&e.name) {
                overrides.push(prev.source);
                overrides.extend(prev.overrides);
            }
            out.insert(
                e.name.clone(),
                StackParam {
                    name: e.name.clone(),
                    value,
                    kind,
                    layer: *layer,
                    source,
                    reference,
                    overrides,
                },
            );
        }
    }
    out.into_values().collect()
}

/// What a tenant's stacks read from SSM and other stacks, for the read edge.
pub fn references(tenant: &Tenant, stacks: &[&Stack]) -> References {
    let mut r = References {
        stack_names: tenant.stack_names(),
        ..References::default()
    };
    for s in stacks {
        for (_, entries) in &s.parameters {
            for e in entries.iter() {
                r.note(&e.spec, &e.at);
            }
        }
    }
    r
}

/// The stacks of a tenant, or only `--stack KEY`.
pub fn select<'t>(tenant: &'t Tenant, only: Option<&str>) -> Vec<&'t Stack> {
    tenant
        .infra
        .iter()
        .filter(|s| only.is_none_or(|k| s.key == k))
        .collect()
}

/// The tenant's stacks in the order they can be applied: a stack after every stack whose
/// outputs its parameters read (`cfn_output = "KEY.Output"`), otherwise in declaration order.
/// `Err` names the stacks that read each other in a cycle (a `validate` error).
pub fn order(tenant: &Tenant) -> Result<Vec<&Stack>, Vec<String>> {
    let keys: BTreeSet<&str> = tenant.infra.iter().map(|s| s.key.as_str()).collect();
    let needs = |s: &Stack| -> BTreeSet<String> {
        s.parameters
            .iter()
            .flat_map(|(_, entries)| entries.iter())
            .filter_map(|e| match &e.spec {
                ValueSpec::CfnOutput { stack, .. } if keys.contains(stack.as_str()) => {
                    Some(stack.clone())
                }
                _ => None,
            })
            .collect()
    };
    let mut left: Vec<(&Stack, BTreeSet<String>)> =
        tenant.infra.iter().map(|s| (s, needs(s))).collect();
    let mut done: Vec<&Stack> = Vec::new();
    while !left.is_empty() {
        let applied: BTreeSet<&str> = done.iter().map(|s| s.key.as_str()).collect();
        let Some(i) = left
            .iter()
            .position(|(_, n)| n.iter().all(|k| applied.contains(k.as_str())))
        else {
            return Err(left.iter().map(|(s, _)| s.key.clone()).collect());
        };
        done.push(left.remove(i).0);
    }
    Ok(done)
}

/// The digest of what a stack is made from (template, parameter values, tags): the
/// `stamp:digest` tag `infra apply` leaves on the stack. Secrets are in it as their dynamic
/// references, never as values.
pub fn inputs_digest(body: &str, params: &[StackParam], tags: &BTreeMap<String, String>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(body.as_bytes());
    for p in params {
        h.update(format!("\0param\0{}\0{}", p.name, p.value).as_bytes());
    }
    for (k, v) in tags {
        h.update(format!("\0tag\0{k}\0{v}").as_bytes());
    }
    format!("sha256:{:x}", h.finalize())
}

/// `validate`'s check of every stack against its template: a parameter given but not declared
/// is an error at the line giving it; one declared without a `Default` but not given is an
/// error at the stack's table.
pub fn check(fleet: &Fleet) -> Diagnostics {
    check_root(&fleet.root, &fleet.tenants)
}

/// The parameters a tenant's stacks must be given and are not (no Default in the template,
/// none in the files): `(stack key, parameter, template)`. `stamp tenant new` writes them.
pub fn required_unset(root: &Path, tenant: &Tenant) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for s in &tenant.infra {
        let Ok(tpl) = template::load(root, &s.template.value) else {
            continue;
        };
        let given: std::collections::BTreeSet<&str> = s
            .parameters
            .iter()
            .flat_map(|(_, e)| e.iter())
            .filter(|e| e.spec != ValueSpec::Unset)
            .map(|e| e.name.as_str())
            .collect();
        for (name, decl) in &tpl.parameters {
            if !decl.has_default && !given.contains(name.as_str()) {
                out.push((s.key.clone(), name.clone(), s.template.value.clone()));
            }
        }
    }
    out
}

fn check_root(root: &Path, tenants: &[Tenant]) -> Diagnostics {
    let mut diags = Diagnostics::default();
    let mut templates: BTreeMap<String, Option<template::StackTemplate>> = BTreeMap::new();
    for t in tenants {
        // Every tenant inheriting a mistake adds itself to it: `Diagnostics::sorted` makes it
        // one problem naming them all.
        let push = |diags: &mut Diagnostics, d: Diagnostic| diags.push(d.tenant(&t.name));
        if let (Err(cycle), Some(first)) = (order(t), t.infra.first()) {
            let at = t
                .infra
                .iter()
                .find(|s| cycle.contains(&s.key))
                .map_or(&first.at, |s| &s.at);
            push(
                &mut diags,
                Diagnostic::at(
                    at,
                    format!(
                        "stacks {} read each other's outputs (cfn_output): no order can apply them",
                        cycle.join(", ")
                    ),
                    Some(
                        "one of them must not take its parameter from the other's outputs"
                            .to_owned(),
                    ),
                ),
            );
        }
        for s in &t.infra {
            let tpl = templates
                .entry(s.template.value.clone())
                .or_insert_with(|| match template::load(root, &s.template.value) {
                    Ok(tpl) => Some(tpl),
                    Err(d) => {
                        diags.push(d);
                        None
                    }
                });
            let Some(tpl) = tpl else { continue };
            let mut given: BTreeMap<&str, &crate::dsl::Loc> = BTreeMap::new();
            for (_, entries) in &s.parameters {
                for e in entries.iter() {
                    if e.spec == ValueSpec::Unset {
                        given.remove(e.name.as_str());
                    } else {
                        given.insert(&e.name, &e.at);
                    }
                }
            }
            for (name, at) in &given {
                if !tpl.parameters.contains_key(*name) {
                    let declared: Vec<&str> = tpl.parameters.keys().map(String::as_str).collect();
                    let hint = match crate::dsl::diag::did_you_mean(name, declared.iter().copied())
                    {
                        Some(m) => format!("did you mean `{m}`?"),
                        None if declared.is_empty() => {
                            format!("templates/{} declares no Parameters", s.template.value)
                        }
                        None => format!(
                            "templates/{} declares: {}",
                            s.template.value,
                            declared.join(", ")
                        ),
                    };
                    push(
                        &mut diags,
                        Diagnostic::at(
                            at,
                            format!(
                                "parameter `{name}` is not declared by templates/{}",
                                s.template.value
                            ),
                            Some(hint),
                        ),
                    );
                }
            }
            for (name, decl) in &tpl.parameters {
                if !decl.has_default && !given.contains_key(name.as_str()) {
                    push(
                        &mut diags,
                        Diagnostic::at(
                            &s.at,
                            format!(
                                "stack `{}` does not give parameter `{name}`, which templates/{} declares without a Default",
                                s.key, s.template.value
                            ),
                            Some(format!(
                                "add `{name} = \"...\"` under [infra.{}.parameters] (in _defaults.toml for every tenant)",
                                s.key
                            )),
                        ),
                    );
                }
            }
        }
    }
    diags
}

/// How a deployed stack compares with the repo, by name only (no value is ever in it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// `template`, `parameter:NAME`, `tag:KEY`.
    pub drift: Vec<String>,
    /// Parameters whose deployed value AWS masks (`NoEcho`): `parameter:NAME`. Only a change
    /// set (which `infra plan` makes) can tell whether they changed.
    pub unverified: Vec<String>,
}

/// A parameter value AWS masks in DescribeStacks (`NoEcho`).
fn masked(value: &str) -> bool {
    !value.is_empty() && value.chars().all(|c| c == '*')
}

/// Compares a deployed stack (its template as submitted, parameters and tags from
/// DescribeStacks) with what the repo gives. A parameter the repo does not give is compared with
/// the template's `Default`, which is what CloudFormation lists for it.
pub fn compare(
    repo: &template::StackTemplate,
    params: &[StackParam],
    tags: &BTreeMap<String, String>,
    deployed_body: &str,
    live_params: &BTreeMap<String, String>,
    live_tags: &BTreeMap<String, String>,
) -> Comparison {
    let mut c = Comparison::default();
    if deployed_body.trim_end() != repo.body.trim_end() {
        c.drift.push("template".to_owned());
    }
    let mut names: BTreeSet<&str> = params.iter().map(|p| p.name.as_str()).collect();
    names.extend(live_params.keys().map(String::as_str));
    for name in names {
        let want = params
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.as_str())
            .or_else(|| repo.parameters.get(name).and_then(|d| d.default.as_deref()));
        match (live_params.get(name), want) {
            (Some(live), Some(_)) if masked(live) => c.unverified.push(format!("parameter:{name}")),
            (Some(live), Some(want)) if live == want => {}
            (None, None) => {}
            _ => c.drift.push(format!("parameter:{name}")),
        }
    }
    let mut keys: BTreeSet<&str> = tags.keys().map(String::as_str).collect();
    // The audit tags `infra apply` adds (commit, deployer, digest, override) are not drift.
    keys.extend(
        live_tags
            .keys()
            .map(String::as_str)
            .filter(|k| !k.starts_with(crate::audit::PREFIX)),
    );
    for k in keys {
        if tags.get(k) != live_tags.get(k) {
            c.drift.push(format!("tag:{k}"));
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_references_pin_the_version_when_known() {
        assert_eq!(
            secure_reference("/shop/acme/db", Some(3)),
            "{{resolve:ssm-secure:/shop/acme/db:3}}"
        );
        assert_eq!(
            secure_reference("/shop/acme/db", None),
            "{{resolve:ssm-secure:/shop/acme/db}}"
        );
    }

    #[test]
    fn secrets_manager_references_follow_ecs_and_cloudformation_syntax() {
        let mut sm = crate::dsl::model::SmRef {
            secret: "acme/db".into(),
            key: None,
            version_stage: None,
            version_id: None,
        };
        assert_eq!(sm.value_from_tail(), "");
        assert_eq!(
            sm_dynamic_reference(&sm),
            "{{resolve:secretsmanager:acme/db}}"
        );
        sm.key = Some("password".into());
        assert_eq!(sm.value_from_tail(), ":password::");
        assert_eq!(
            sm_dynamic_reference(&sm),
            "{{resolve:secretsmanager:acme/db:SecretString:password}}"
        );
        assert_eq!(sm.reference(), "secretsmanager:acme/db#password");
        sm.key = None;
        sm.version_id = Some("v-1".into());
        assert_eq!(sm.value_from_tail(), ":::v-1");
        assert_eq!(
            sm_dynamic_reference(&sm),
            "{{resolve:secretsmanager:acme/db:SecretString:::v-1}}"
        );
        assert_eq!(sm.reference(), "secretsmanager:acme/db@v-1");
    }

    fn param(name: &str, value: &str) -> StackParam {
        StackParam {
            name: name.into(),
            value: value.into(),
            kind: Kind::Literal,
            layer: InfraLayer::Tenant,
            source: "tenants/acme.toml:3".into(),
            reference: None,
            overrides: Vec::new(),
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const BODY: &str = "Parameters:\n  Tenant:\n    Type: String\n  Days:\n    Type: Number\n    Default: 14\n  Db:\n    Type: String\n    NoEcho: true\nResources: {}\n";

    fn repo() -> template::StackTemplate {
        template::StackTemplate {
            body: BODY.into(),
            parameters: template::parameters(BODY).expect("parameters"),
        }
    }

    #[test]
    fn a_stack_as_the_repo_says_is_in_sync_defaults_and_masked_values_included() {
        let c = compare(
            &repo(),
            &[
                param("Tenant", "acme"),
                param("Db", "{{resolve:ssm-secure:/db:2}}"),
            ],
            &map(&[("team", "platform")]),
            &format!("{BODY}\n\n"),
            // CloudFormation lists the defaulted parameter and masks the NoEcho one.
            &map(&[("Tenant", "acme"), ("Days", "14"), ("Db", "****")]),
            &map(&[("team", "platform")]),
        );
        assert_eq!(c.drift, Vec::<String>::new());
        assert_eq!(c.unverified, vec!["parameter:Db".to_owned()]);
    }

    #[test]
    fn drift_names_the_template_each_parameter_and_each_tag() {
        let c = compare(
            &repo(),
            &[param("Tenant", "acme"), param("Extra", "x")],
            &map(&[("team", "platform")]),
            "Resources: {}\n",
            &map(&[("Tenant", "globex"), ("Days", "30"), ("Gone", "1")]),
            &map(&[("team", "ops"), ("owner", "me")]),
        );
        assert_eq!(
            c.drift,
            [
                "template",
                "parameter:Days",
                "parameter:Extra",
                "parameter:Gone",
                "parameter:Tenant",
                "tag:owner",
                "tag:team"
            ]
            .map(str::to_owned)
            .to_vec()
        );
        assert!(c.unverified.is_empty());
    }
}
